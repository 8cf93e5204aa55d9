"""PCB defect detection data: the real DeepPCB set and its synthetic twin.

DeepPCB (Tang et al. 2019, MIT licence, ``github.com/tangsanli5201/DeepPCB``)
holds 1,500 pairs of 640x640 grayscale images of binarised PCB crops: a test
image with defects (``XXXXXXXX_test.jpg``) and the aligned defect-free
template (``XXXXXXXX_temp.jpg``). Copper is black (0) on white (255). Six
defect classes, ids 1..6 (:data:`PCB_CLASSES`). The official split lists
``PCBData/trainval.txt`` (1,000 pairs) and ``PCBData/test.txt`` (500) name
``groupN/N/XXXXXXXX.jpg groupN/N_not/XXXXXXXX.txt``; note that the listed image
name lacks the ``_test`` / ``_temp`` suffix of the files on disk.

Entry point for the notebooks::

    from course_utils.detection import pcb
    ds = pcb.load_pcb_data("synthetic", n_images=200)          # offline twin
    ds = pcb.load_pcb_data("deeppcb", split="test")            # the real folder

Both return a :class:`DetectionSet` with the images in memory.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from course_utils.core import config
from course_utils.detection import twin as det_twin
from course_utils.detection.formats import box_table, read_deeppcb_annotation

__all__ = [
    "PCB_CLASSES", "DEEPPCB_COUNTS", "DEEPPCB_URL", "DEEPPCB_ZIP_URL", "SPLITS", "DetectionSet",
    "load_deeppcb", "make_synthetic_pcb", "load_pcb_data", "download_deeppcb", "calibration_table",
    "foreground_fraction",
]

#: The six DeepPCB defect classes; class id ``k`` (1..6) is ``PCB_CLASSES[k - 1]``.
PCB_CLASSES: tuple[str, ...] = ("open", "short", "mousebite", "spur", "copper", "pin-hole")
#: Official split lists of DeepPCB.
SPLITS = ("trainval", "test")
#: Facts of the full public DeepPCB set: pairs, boxes and boxes per class (in PCB_CLASSES order)
#: of each official split, and the range of boxes per image.
DEEPPCB_COUNTS: dict = {
    "trainval": {"pairs": 1000, "boxes": 6873, "per_class": (1283, 1028, 1379, 1142, 1010, 1031)},
    "test": {"pairs": 500, "boxes": 3140, "per_class": (659, 478, 586, 483, 464, 470)},
    "pairs": 1500,
    "boxes_per_image": (1, 15),
    "image_size": (640, 640),
}
DEEPPCB_URL = "https://github.com/tangsanli5201/DeepPCB.git"
DEEPPCB_ZIP_URL = "https://github.com/tangsanli5201/DeepPCB/archive/refs/heads/master.zip"


@dataclass
class DetectionSet:
    """Images with their boxes, in memory.

    Attributes
    ----------
    images : np.ndarray
        ``uint8 (N, H, W)`` test images (copper dark ~0, background light ~255).
    templates : np.ndarray or None
        ``uint8 (N, H, W)`` aligned defect-free templates, or ``None``.
    boxes : list of np.ndarray
        Per image ``float32 (k, 4)`` boxes ``x1, y1, x2, y2`` in pixels.
    labels : list of np.ndarray
        Per image ``int64 (k,)`` class ids 1..6 (``class_names[id - 1]``).
    image_ids : list of str
        E.g. ``"00041030"`` (DeepPCB) or ``"syn-000001"`` (twin).
    class_names : tuple of str
    source : str
        ``"deeppcb"`` or ``"synthetic"``.
    info : dict
        How the set was made (root folder, split, seed, ...).
    """

    images: np.ndarray
    templates: np.ndarray | None
    boxes: list
    labels: list
    image_ids: list
    class_names: tuple = PCB_CLASSES
    source: str = "synthetic"
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 3:
            raise ValueError(f"images must have shape (N, H, W); got {self.images.shape}.")
        if self.templates is not None and self.templates.shape != self.images.shape:
            raise ValueError(f"templates shape {self.templates.shape} differs from images {self.images.shape}.")
        for name in ("boxes", "labels", "image_ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} images.")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index) -> "DetectionSet":
        """A new set with the images selected by ``index`` (integer array, boolean mask or slice)."""
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        return DetectionSet(
            images=self.images[idx], templates=None if self.templates is None else self.templates[idx],
            boxes=[self.boxes[i] for i in idx], labels=[self.labels[i] for i in idx],
            image_ids=[self.image_ids[i] for i in idx], class_names=self.class_names,
            source=self.source, info=dict(self.info),
        )

    def targets(self) -> list[dict]:
        """One ``dict(boxes=float32 (k, 4), labels=int64 (k,))`` per image, in image order."""
        return [{"boxes": b, "labels": lab} for b, lab in zip(self.boxes, self.labels)]

    def class_counts(self) -> np.ndarray:
        """Boxes per class, ``int64 (n_classes,)`` in ``class_names`` order."""
        labels = np.concatenate([np.asarray(lab, dtype=np.int64) for lab in self.labels] or [np.zeros(0, int)])
        return np.bincount(labels - 1, minlength=len(self.class_names)).astype(np.int64)

    def boxes_per_image(self) -> np.ndarray:
        """``int64 (N,)`` number of boxes of each image."""
        return np.array([len(b) for b in self.boxes], dtype=np.int64)


# ---------------------------------------------------------------------------
# The real DeepPCB folder
# ---------------------------------------------------------------------------
def _pcbdata_dir(root: Path, split: str) -> Path:
    """The ``PCBData`` folder under ``root`` (``root`` may be the repository clone,
    the folder holding ``PCBData`` or ``PCBData`` itself)."""
    for candidate in (root / "PCBData", root, root / "DeepPCB" / "PCBData", root / "DeepPCB-master" / "PCBData"):
        if (candidate / f"{split}.txt").is_file():
            return candidate
    raise FileNotFoundError(
        f"No DeepPCB split list '{split}.txt' under {root} (looked in {root}/PCBData and {root}). "
        "Point root at a DeepPCB clone (it holds PCBData/trainval.txt and PCBData/test.txt); online, "
        "pcb.download_deeppcb(dest) fetches it, offline use DATA_SOURCE = 'synthetic'."
    )


def _read_split_list(list_file: Path) -> list[tuple[str, str, str]]:
    """``(image_id, image path, annotation path)`` per line of a split list (paths relative to PCBData)."""
    pairs = []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[0].endswith(".jpg") or not fields[1].endswith(".txt"):
            raise ValueError(f"{list_file}, line {number}: expected 'groupN/N/XXXXXXXX.jpg "
                             f"groupN/N_not/XXXXXXXX.txt', got {line.strip()!r}.")
        pairs.append((Path(fields[0]).stem, fields[0], fields[1]))
    return pairs


def _read_gray(path: Path) -> np.ndarray:
    from PIL import Image

    if not path.is_file():
        raise FileNotFoundError(f"DeepPCB image {path} is missing (named by the split list; the files on disk "
                                "are XXXXXXXX_test.jpg and XXXXXXXX_temp.jpg beside each other).")
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def _stack_images(paths: list[Path], jobs: int) -> np.ndarray:
    """Read grayscale images of one common size into ``uint8 (N, H, W)`` (threads decode in parallel)."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        arrays = list(pool.map(_read_gray, paths))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        sizes = {}
        for p, a in zip(paths, arrays):
            sizes.setdefault(a.shape, p)
        raise ValueError(f"DeepPCB images differ in size: {sizes}; every image must be 640x640.")
    return np.stack(arrays) if arrays else np.zeros((0, *DEEPPCB_COUNTS["image_size"]), np.uint8)


def load_deeppcb(root, split: str = "trainval", *, n_images: int | None = None, seed: int = 0,
                 templates: bool = True) -> DetectionSet:
    """Load an official DeepPCB split into memory.

    Parameters
    ----------
    root : path-like
        A DeepPCB clone, the folder holding ``PCBData``, or ``PCBData`` itself.
    split : "trainval" or "test"
    n_images : int, optional
        Load a random subset of this many pairs (drawn with ``seed``, kept in list order).
    seed : int
    templates : bool, default True
        Also load the defect-free templates (``False`` halves the memory).

    Returns
    -------
    DetectionSet
        ``images`` / ``templates`` ``uint8 (N, 640, 640)`` as stored (grayscale JPEG,
        values near 0 and 255), boxes and labels from the annotation files,
        ``image_ids`` the 8-digit names, ``source="deeppcb"``.

    Raises ``FileNotFoundError`` for a missing folder, list, image or annotation and
    ``ValueError`` naming the file and line for a malformed annotation line, a box of
    zero area or outside the image and an unknown class id.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r} must be one of {SPLITS}.")
    root = Path(root).expanduser()
    data_dir = _pcbdata_dir(root, split)
    pairs = _read_split_list(data_dir / f"{split}.txt")
    if n_images is not None:
        if not isinstance(n_images, (int, np.integer)) or n_images < 1:
            raise ValueError(f"n_images={n_images!r} must be a positive integer or None.")
        keep = np.sort(np.random.default_rng(seed).choice(len(pairs), min(n_images, len(pairs)), replace=False))
        pairs = [pairs[i] for i in keep]
    jobs = min(8, os.cpu_count() or 1)
    test_paths = [data_dir / img.replace(".jpg", "_test.jpg") for _, img, _ in pairs]
    images = _stack_images(test_paths, jobs)
    temps = _stack_images([data_dir / img.replace(".jpg", "_temp.jpg") for _, img, _ in pairs], jobs) \
        if templates else None
    height, width = images.shape[1:]
    boxes, labels = [], []
    for _, _, ann in pairs:
        b, lab = read_deeppcb_annotation(data_dir / ann, width=width, height=height, n_classes=len(PCB_CLASSES))
        boxes.append(b)
        labels.append(lab)
    return DetectionSet(images=images, templates=temps, boxes=boxes, labels=labels,
                        image_ids=[name for name, _, _ in pairs], class_names=PCB_CLASSES, source="deeppcb",
                        info={"root": str(data_dir), "split": split, "n_images": n_images, "seed": seed})


def download_deeppcb(dest=None, *, timeout: float = 10.0, probe_url: str = "https://github.com") -> Path:
    """Fetch the public DeepPCB repository (about 130 MB) into ``dest`` and return it.

    ``dest`` defaults to ``config.data_dir() / "DeepPCB"``; an existing copy is reused.
    First checks that ``probe_url`` answers within ``timeout`` seconds (offline: a
    ``ConnectionError`` saying what to do, never a hang), then ``git clone --depth 1``
    (or, without git, the repository zip with a per-read ``timeout``).
    """
    dest = Path(dest).expanduser() if dest is not None else config.data_dir() / "DeepPCB"
    if (dest / "PCBData" / "trainval.txt").is_file():
        return dest
    from course_utils.core.pretrained import host_reachable  # the kit's one reachability probe (proxy-aware, never hangs)

    if not host_reachable(probe_url, timeout=timeout):
        raise ConnectionError(
            f"Cannot reach {probe_url} within {timeout:g} s; DeepPCB cannot be downloaded here. "
            f"Offline, use DATA_SOURCE = 'synthetic' (the twin), or copy a clone of {DEEPPCB_URL} to {dest} "
            "by hand and set DATA_PATH to it."
        ) from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("git"):
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_HTTP_LOW_SPEED_LIMIT": "1000",
               "GIT_HTTP_LOW_SPEED_TIME": str(int(max(timeout, 5)))}
        result = subprocess.run(["git", "clone", "--depth", "1", DEEPPCB_URL, str(dest)], env=env,
                                capture_output=True, text=True, timeout=1800, check=False)
        if result.returncode != 0:
            raise ConnectionError(f"git clone {DEEPPCB_URL} failed: {result.stderr.strip()[-500:]}")
        return dest
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        archive = Path(tmp) / "deeppcb.zip"
        with urllib.request.urlopen(DEEPPCB_ZIP_URL, timeout=timeout) as response, open(archive, "wb") as f:
            shutil.copyfileobj(response, f)
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp)
        (top,) = [p for p in Path(tmp).iterdir() if p.is_dir()]
        shutil.move(str(top), str(dest))
    return dest


# ---------------------------------------------------------------------------
# The synthetic twin and the notebooks' entry point
# ---------------------------------------------------------------------------
def make_synthetic_pcb(n_pairs: int, *, size: int = 640, seed=0, n_jobs: int | None = None) -> DetectionSet:
    """Generate ``n_pairs`` synthetic DeepPCB-like pairs (see :mod:`.pcb_twin`).

    Returns a :class:`DetectionSet` with ``images`` (defects drawn) and ``templates``
    (defect-free) ``uint8 (n_pairs, size, size)`` in {0 copper, 255 background}, 1..15
    boxes per image at the exact extent of each drawn defect plus a margin, ids
    ``"syn-000001"``..., ``source="synthetic"``. The same ``seed`` (an int or a
    sequence of ints) gives identical arrays; ``n_jobs`` threads do not change them.
    """
    if not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise ValueError(f"n_pairs={n_pairs!r} must be a positive integer.")
    if not isinstance(size, (int, np.integer)) or size < 128:
        raise ValueError(f"size={size!r} must be an integer >= 128 (pixels; DeepPCB images are 640).")
    images, temps, boxes, labels = det_twin.generate_pairs(int(n_pairs), size=int(size), seed=seed, n_jobs=n_jobs)
    return DetectionSet(images=images, templates=temps, boxes=boxes, labels=labels,
                        image_ids=[f"syn-{i + 1:06d}" for i in range(n_pairs)], class_names=PCB_CLASSES,
                        source="synthetic", info={"n_pairs": int(n_pairs), "size": int(size), "seed": seed})


def load_pcb_data(source: str = "synthetic", *, n_images: int | None = None, split: str = "trainval",
                  path=None, size: int = 640, seed: int = 0) -> DetectionSet:
    """The notebooks' one entry point: ``source="synthetic"`` (default, offline) or ``"deeppcb"``.

    * synthetic: ``n_images`` pairs (default: the split's DeepPCB size, 1,000 or 500);
      ``split="test"`` draws from another random stream than ``"trainval"``.
    * deeppcb: the official ``split`` from ``path`` (default ``config.data_dir() / "DeepPCB"``),
      all pairs or a random ``n_images`` of them; ``size`` must be 640.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r} must be one of {SPLITS}.")
    if source == "synthetic":
        n = DEEPPCB_COUNTS[split]["pairs"] if n_images is None else n_images
        return make_synthetic_pcb(n, size=size, seed=seed if split == "trainval" else (seed, 1))
    if source == "deeppcb":
        if size != 640:
            raise ValueError(f"size={size!r}: the real DeepPCB images are 640x640; resize after loading.")
        root = Path(path).expanduser() if path else config.data_dir() / "DeepPCB"
        return load_deeppcb(root, split, n_images=n_images, seed=seed)
    raise ValueError(f"source={source!r} must be 'synthetic' or 'deeppcb'.")


# ---------------------------------------------------------------------------
# Calibration of the twin against real pairs
# ---------------------------------------------------------------------------
def foreground_fraction(images: np.ndarray, threshold: int = 128) -> np.ndarray:
    """``float64 (N,)`` fraction of copper (dark, ``< threshold``) pixels of each image."""
    images = np.asarray(images)
    return (images.reshape(len(images), -1) < threshold).mean(axis=1)


def calibration_table(real: DetectionSet, synthetic: DetectionSet) -> pd.DataFrame:
    """Side-by-side statistics of a real and a synthetic set, one row per statistic.

    Rows: copper fraction of the templates (mean, p10, p90), boxes per image (mean, min,
    max), class shares, and per class the median box width, height and aspect ratio
    (width / height). Columns ``real``, ``synthetic`` and ``ratio`` (synthetic / real).
    """
    rows: dict[str, tuple[float, float]] = {}

    def add(name, fn):
        rows[name] = (float(fn(real)), float(fn(synthetic)))

    def frac(ds):
        return foreground_fraction(ds.templates if ds.templates is not None else ds.images)

    add("copper fraction mean", lambda ds: frac(ds).mean())
    add("copper fraction p10", lambda ds: np.quantile(frac(ds), 0.1))
    add("copper fraction p90", lambda ds: np.quantile(frac(ds), 0.9))
    add("boxes per image mean", lambda ds: ds.boxes_per_image().mean())
    add("boxes per image min", lambda ds: ds.boxes_per_image().min())
    add("boxes per image max", lambda ds: ds.boxes_per_image().max())
    tables = {id(real): box_table(real), id(synthetic): box_table(synthetic)}
    for k, name in enumerate(PCB_CLASSES):
        add(f"share {name}", lambda ds, k=k: ds.class_counts()[k] / max(ds.class_counts().sum(), 1))
    for name in PCB_CLASSES:
        for col in ("width", "height", "aspect"):
            add(f"{name} {col} median",
                lambda ds, name=name, col=col: tables[id(ds)].loc[tables[id(ds)]["class"] == name, col].median())
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["real", "synthetic"])
    out["ratio"] = out["synthetic"] / out["real"].where(out["real"] != 0)
    out.index.name = "statistic"
    return out
