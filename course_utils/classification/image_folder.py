"""Photo folders for group projects, checked once so one bad file never stops a run.

Layout (the torchvision ``ImageFolder`` convention)::

    root/
        scratch/  img_001.png  img_002.jpg ...
        dent/     ...
        ok/       ...

>>> from course_utils.classification.image_folder import load_image_folder
>>> dataset, report = load_image_folder("my_photos", transform=my_transform)
>>> report.summary          # per class: files found, kept, skipped
>>> report.skipped          # every skipped file with its reason (also written to report.log_path)

Every file is opened once with PIL (``verify`` for the file structure, then a
full ``load`` to catch truncated data). Empty, truncated, unreadable and
non-image files are skipped and recorded; the returned dataset holds the good
files only and trains like any torchvision dataset.

A practice folder with known content (and a few deliberately broken files)::

>>> from course_utils.classification.image_folder import make_photo_folder
>>> manifest = make_photo_folder("outputs/photos", n_per_class=[40, 20, 20, 10], n_broken=3, seed=0)
>>> manifest.groupby("kind").size()      # image / empty / truncated / not an image

Small photo sets fit in memory: :func:`images_in_memory` decodes every good
file once into one ``uint8`` tensor and :class:`ImageTensorDataset` serves
whole batches of it to ``data.make_loader`` (no per-sample decoding per epoch).
"""
from __future__ import annotations

import io
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageFile, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from course_utils.core import config
from course_utils.core.checks import check_int, check_seed, check_size, is_int
from course_utils.core.config import atomic_write
from course_utils.classification.surface_photos import PHOTO_CLASSES, render_surface_photo

__all__ = ["BROKEN_KINDS", "check_image_file",
           "load_image_folder", "make_photo_folder", "images_in_memory", "ImageTensorDataset"]

_SKIPPED_COLUMNS = ("path", "class", "reason")
#: Kinds of broken file :func:`make_photo_folder` writes, in this order, cycling.
BROKEN_KINDS = ("empty", "truncated", "not an image")


def check_image_file(path, extensions=IMG_EXTENSIONS) -> str | None:
    """Why ``path`` cannot be used as an image, or ``None`` when it is a good image.

    Parameters
    ----------
    path : path-like
    extensions : tuple of str
        Accepted lower-case file endings, e.g. ``(".png", ".jpg")``.

    Returns
    -------
    str or None
        A short reason (``"empty file (0 bytes)"``, ``"truncated or corrupt image: ..."``,
        ``"not an image: ..."``, ``"unreadable: ..."``, ``"extension ... is not an image extension"``).

    Used by: tests/classification/test_image_folder.py"""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in extensions:
        return f"extension {suffix or '(none)'!r} is not an image extension {tuple(extensions)}"
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as img:  # reads the header: is it an image at all?
            img.verify()  # checks the file structure (chunk checksums for PNG)
        with Image.open(path) as img:  # verify() leaves the image unusable: open again
            img.load()  # decodes every pixel: finds truncated data
    except UnidentifiedImageError:
        return "not an image: PIL cannot identify the file format"
    except (PermissionError, FileNotFoundError, IsADirectoryError) as err:
        return f"unreadable: {err.strerror or type(err).__name__}"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        return f"truncated or corrupt image: {err}"
    return None


class CheckedImageFolder(ImageFolder):
    """``torchvision.datasets.ImageFolder`` that skips bad files and records why.

    Hidden folders (``.ipynb_checkpoints``, ``.git``) are not classes. Use
    :func:`load_image_folder`, which also builds the report and the log file.
    """

    def __init__(self, root, transform=None, target_transform=None, extensions=IMG_EXTENSIONS):
        self.skipped: list[tuple[str, str, str]] = []
        self._extensions = tuple(e.lower() for e in extensions)
        super().__init__(root, transform=transform, target_transform=target_transform,
                         is_valid_file=self._is_valid, allow_empty=True)

    def find_classes(self, directory):
        classes = sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))
        if not classes:
            raise ValueError(
                f"root={str(directory)!r} has no class folders. Put the images in one sub-folder per class, "
                "e.g. root/scratch/img_001.png, root/ok/img_002.png."
            )
        return classes, {name: i for i, name in enumerate(classes)}

    def _is_valid(self, path: str) -> bool:
        reason = check_image_file(path, self._extensions)
        if reason is not None:
            rel = Path(path).relative_to(self.root)
            self.skipped.append((str(path), rel.parts[0], reason))
        return reason is None


@dataclass
class ImageFolderReport:
    """What :func:`load_image_folder` found.

    Attributes
    ----------
    summary : DataFrame, one row per class: ``found``, ``kept``, ``skipped``
    skipped : DataFrame with columns ``path``, ``class``, ``reason``
    log_path : Path of the CSV file holding ``skipped``
    """

    summary: pd.DataFrame
    skipped: pd.DataFrame
    log_path: Path

    def __repr__(self) -> str:
        kept, skipped = int(self.summary["kept"].sum()), len(self.skipped)
        return f"ImageFolderReport(kept={kept}, skipped={skipped}, log_path='{self.log_path}')"


def load_image_folder(root, *, transform=None, target_transform=None, extensions=IMG_EXTENSIONS,
                      log_path=None, allow_empty_classes: bool = False, verbose: bool = True):
    """Load a ``root/<class>/<image>`` folder, skipping (and logging) every bad file.

    Parameters
    ----------
    root : path-like
        Folder with one sub-folder per class (hidden folders are ignored).
    transform, target_transform : callables, as for ``torchvision.datasets.ImageFolder``
        ``transform`` receives a PIL image (RGB).
    extensions : tuple of str
        Accepted file endings (default: torchvision's ``IMG_EXTENSIONS``).
    log_path : path-like or None
        CSV file for the skipped files; default
        ``config.output_dir("image_folder") / "<root name>_skipped.csv"``.
    allow_empty_classes : bool
        Keep a class folder without any good image (it gets an index but no samples)
        instead of raising ``ValueError``.
    verbose : bool
        Print a one-line summary.

    Returns
    -------
    dataset : CheckedImageFolder
        A torchvision ``ImageFolder`` over the good files only: ``dataset[i]`` is
        ``(image, class_index)``; ``dataset.classes``, ``dataset.targets`` as usual.
    report : ImageFolderReport
        ``summary`` (per class), ``skipped`` (path, class, reason), ``log_path``.

    Taught in: 11_photo_folder_project"""
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path (str or pathlib.Path); got {type(root).__name__}.")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"root={str(root)!r} is not a folder. Expected root/<class name>/<image files>, "
            "e.g. root/scratch/img_001.png."
        )
    extensions = tuple(extensions)
    if not extensions or not all(isinstance(e, str) and e.startswith(".") for e in extensions):
        raise ValueError(f"extensions={extensions!r} must be file endings such as ('.png', '.jpg').")
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must fail the check, not load half grey
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            dataset = CheckedImageFolder(root, transform=transform, target_transform=target_transform,
                                         extensions=extensions)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous

    skipped = pd.DataFrame(dataset.skipped, columns=list(_SKIPPED_COLUMNS))
    kept = pd.Series(dataset.targets, dtype="int64").value_counts().reindex(range(len(dataset.classes)), fill_value=0)
    summary = pd.DataFrame({"class": dataset.classes, "kept": kept.to_numpy()})
    summary["skipped"] = summary["class"].map(skipped["class"].value_counts()).fillna(0).astype("int64")
    summary["found"] = summary["kept"] + summary["skipped"]
    summary = summary[["class", "found", "kept", "skipped"]].set_index("class")

    if log_path is None:
        log_path = config.output_dir("image_folder") / f"{root.name}_skipped.csv"
    log_path = Path(log_path)
    atomic_write(log_path, lambda f: f.write(skipped.to_csv(index=False).encode("utf-8")))
    report = ImageFolderReport(summary=summary, skipped=skipped, log_path=log_path)
    if verbose:
        print(f"{root}: kept {len(dataset)} images in {len(dataset.classes)} classes, "
              f"skipped {len(skipped)} file(s) (reasons in {log_path}).")
    empty = summary.index[summary["kept"] == 0].tolist()
    if empty and not allow_empty_classes:
        raise ValueError(
            f"class folder(s) {empty} under root={str(root)!r} hold no usable image "
            f"(skipped files and reasons: {log_path}). Add images, remove the folder, "
            "or pass allow_empty_classes=True."
        )
    return dataset, report


# ---------------------------------------------------------------------------
# A practice photo folder with known content
# ---------------------------------------------------------------------------
def _class_counts(n_per_class, classes: tuple[str, ...]) -> list[int]:
    if is_int(n_per_class):
        return [check_int(n_per_class, "n_per_class", minimum=1)] * len(classes)
    if isinstance(n_per_class, dict):
        unknown = sorted(set(n_per_class) - set(classes))
        if unknown or set(n_per_class) != set(classes):
            raise ValueError(f"n_per_class must give a count for every class {classes}; "
                             f"got keys {sorted(n_per_class)}.")
        n_per_class = [n_per_class[c] for c in classes]
    n_per_class = list(n_per_class)
    if len(n_per_class) != len(classes):
        raise ValueError(f"n_per_class has {len(n_per_class)} counts for {len(classes)} classes {classes}.")
    return [check_int(n, f"n_per_class[{c!r}]", minimum=1) for n, c in zip(n_per_class, classes)]


def _encode(image: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG" if fmt == "jpg" else "PNG", **(
        {"quality": 90} if fmt == "jpg" else {}))
    return buf.getvalue()


def _broken_bytes(kind: str, image: np.ndarray, fmt: str) -> bytes:
    if kind == "empty":
        return b""
    if kind == "truncated":  # a real image whose second half never arrived (interrupted copy)
        good = _encode(image, fmt)
        return good[: len(good) // 2]
    return b"exported from the line camera's spreadsheet; this is text, not an image\n"


def make_photo_folder(root, *, classes=PHOTO_CLASSES, n_per_class=20, size=64, n_broken=3,
                      formats=("png", "jpg"), seed: int = 0, overwrite: bool = False) -> pd.DataFrame:
    """Write a ``root/<class>/<image>`` folder of synthetic surface photos plus broken files.

    Parameters
    ----------
    root : path-like
        Folder to create. If it already holds files, ``overwrite=True`` is needed;
        then only the class sub-folders named in ``classes`` are replaced.
    classes : sequence of str, subset of ``surface_photos.PHOTO_CLASSES``
        ``"clean"``, ``"crack"``, ``"scratch"``, ``"spot"``.
    n_per_class : int, sequence of int (one per class) or dict class -> int
        Good images per class; unequal counts give an imbalanced set.
    size : int or (height, width)
        Pixels of every image (at least 16).
    n_broken : int
        Extra broken files, cycling through :data:`BROKEN_KINDS` (0 bytes,
        truncated to half its bytes, text with an image file ending) and through the classes.
    formats : sequence of {"png", "jpg"}
        File formats, drawn at random per file.
    seed : int
        The same arguments and seed give byte-identical files.

    Returns
    -------
    DataFrame, one row per file written: ``path`` (str), ``class``, ``kind``
    (``"image"`` or one of :data:`BROKEN_KINDS`), ``format``. Broken files carry
    ordinary names (``spot_0021.png``), as they would in a real folder.

    Taught in: 11_photo_folder_project"""
    root = Path(root).expanduser()
    classes = tuple(classes)
    unknown = [c for c in classes if c not in PHOTO_CLASSES]
    if not classes or unknown or len(set(classes)) != len(classes):
        raise ValueError(f"classes={classes!r} must be distinct names from {PHOTO_CLASSES}.")
    counts = _class_counts(n_per_class, classes)
    check_size(size, "size", min_size=16)
    n_broken = check_int(n_broken, "n_broken", minimum=0)
    formats = tuple(formats)
    if not formats or any(f not in ("png", "jpg") for f in formats):
        raise ValueError(f"formats={formats!r} must be a non-empty sequence of 'png' and 'jpg'.")
    seed = check_seed(seed)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"root={str(root)!r} already holds files; pass overwrite=True to replace "
                                  f"its class folders {list(classes)}, or choose an empty folder.")
        for name in classes:
            shutil.rmtree(root / name, ignore_errors=True)

    rng = np.random.default_rng(seed)
    jobs = [(c, i, "image") for c, n in zip(classes, counts) for i in range(n)]
    jobs += [(classes[k % len(classes)], counts[k % len(classes)] + k // len(classes), BROKEN_KINDS[k % 3])
             for k in range(n_broken)]
    image_seeds = rng.integers(0, 2**31 - 1, size=len(jobs))
    file_formats = rng.choice(list(formats), size=len(jobs))
    rows = []
    for (name, i, kind), image_seed, fmt in zip(jobs, image_seeds, file_formats):
        image = render_surface_photo(name, size=size, seed=int(image_seed))
        payload = _encode(image, fmt) if kind == "image" else _broken_bytes(kind, image, fmt)
        path = root / name / f"{name}_{i:04d}.{fmt}"
        atomic_write(path, lambda f, b=payload: f.write(b))
        rows.append({"path": str(path), "class": name, "kind": kind, "format": str(fmt)})
    return pd.DataFrame(rows, columns=["path", "class", "kind", "format"])


# ---------------------------------------------------------------------------
# Small photo sets in memory
# ---------------------------------------------------------------------------
def images_in_memory(dataset: ImageFolder, *, size=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode every image of ``dataset`` once: ``(uint8 (N, 3, H, W), int64 (N,))``.

    Parameters
    ----------
    dataset : an ``ImageFolder`` (e.g. from :func:`load_image_folder`); its
        ``samples`` are read directly, its ``transform`` is not used.
    size : int, (height, width) or None
        Resize every image to this size (bilinear with antialiasing, PIL);
        ``None`` keeps the size, which must then be the same for all images.

    Memory: ``N * 3 * H * W`` bytes (1,000 photos of 224 x 224 take 150 MB).

    Taught in: 11_photo_folder_project"""
    if not isinstance(dataset, ImageFolder):
        raise TypeError(f"dataset must be a torchvision ImageFolder (load_image_folder); got {type(dataset).__name__}.")
    if len(dataset) == 0:
        raise ValueError("dataset holds no images; check the folder and the skip log (report.skipped).")
    target = None if size is None else check_size(size, "size")
    arrays = []
    for path, _ in dataset.samples:
        with Image.open(path) as img:
            img = img.convert("RGB")
            if target is not None and img.size != (target[1], target[0]):
                img = img.resize((target[1], target[0]), Image.BILINEAR, reducing_gap=None)
            arrays.append(np.asarray(img))
    shapes = sorted({a.shape for a in arrays})
    if len(shapes) > 1:
        raise ValueError(f"images have different sizes {shapes[:3]}...; pass size=(height, width) to resize them.")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return images, torch.as_tensor(dataset.targets, dtype=torch.int64)


class ImageTensorDataset(Dataset):
    """Images held as one ``uint8 (N, 3, H, W)`` tensor, served as ``float32`` in [0, 1].

    ``dataset[i]`` gives one ``(x (3, H, W), y)``; ``dataset[indices]`` a whole
    batch ``(x (B, 3, H, W), y (B,))``, which ``data.make_loader`` uses.
    ``class_names`` as in the folder (``ImageFolder.classes``).
    """

    def __init__(self, images: torch.Tensor, labels, class_names):
        if not torch.is_tensor(images) or images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError("images must be a uint8 tensor (N, 3, H, W), e.g. from images_in_memory(dataset); got "
                             f"{getattr(images, 'dtype', type(images).__name__)} {tuple(getattr(images, 'shape', ()))}.")
        labels = torch.as_tensor(labels, dtype=torch.int64)
        if labels.shape != (len(images),):
            raise ValueError(f"labels must have shape ({len(images)},) like images; got {tuple(labels.shape)}.")
        self.images, self.labels, self.class_names = images, labels, tuple(class_names)
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.class_names)):
            raise ValueError(f"labels must lie in [0, {len(self.class_names) - 1}] for classes {self.class_names}.")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        index = index if isinstance(index, (int, np.integer)) else torch.as_tensor(index, dtype=torch.long)
        return self.images[index].float() / 255.0, self.labels[index]

    def class_counts(self) -> np.ndarray:
        """``int64 (n_classes,)``: images per class."""
        return np.bincount(self.labels.numpy(), minlength=len(self.class_names)).astype(np.int64)
