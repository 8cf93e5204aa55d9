"""Photo folders for group projects, checked once so one bad file never stops a run.

Layout (the torchvision ``ImageFolder`` convention)::

    root/
        scratch/  img_001.png  img_002.jpg ...
        dent/     ...
        ok/       ...

>>> from course_utils.image_folder import load_image_folder
>>> dataset, report = load_image_folder("my_photos", transform=my_transform)
>>> report.summary          # per class: files found, kept, skipped
>>> report.skipped          # every skipped file with its reason (also written to report.log_path)

Every file is opened once with PIL (``verify`` for the file structure, then a
full ``load`` to catch truncated data). Empty, truncated, unreadable and
non-image files are skipped and recorded; the returned dataset holds the good
files only and trains like any torchvision dataset.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, ImageFile, UnidentifiedImageError
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from . import config
from .config import atomic_write

SKIPPED_COLUMNS = ("path", "class", "reason")


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
    """
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
    """
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

    skipped = pd.DataFrame(dataset.skipped, columns=list(SKIPPED_COLUMNS))
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
