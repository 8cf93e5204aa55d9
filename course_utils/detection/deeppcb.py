"""The real DeepPCB set: facts of the public files, download, and the reader.

DeepPCB (Tang et al. 2019, MIT licence, ``github.com/tangsanli5201/DeepPCB``)
holds 1,500 pairs of 640x640 grayscale images of binarised PCB crops: a test
image with defects (``XXXXXXXX_test.jpg``) and the aligned defect-free
template (``XXXXXXXX_temp.jpg``). Copper is black (0) on white (255). Six
defect classes, ids 1..6 (:data:`PCB_CLASSES`). The official split lists
``PCBData/trainval.txt`` (1,000 pairs) and ``PCBData/test.txt`` (500) name
``groupN/N/XXXXXXXX.jpg groupN/N_not/XXXXXXXX.txt``; note that the listed image
name lacks the ``_test`` / ``_temp`` suffix of the files on disk.

The Project #1 counterpart is :mod:`course_utils.classification.wm811k`.

>>> from course_utils.detection import deeppcb
>>> root = deeppcb.download_deeppcb()                       # online: git clone or zip
>>> ds = deeppcb.load_deeppcb(root, "test", n_images=100)   # a DetectionSet
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from course_utils.core import config
from course_utils.detection.formats import read_deeppcb_annotation
from course_utils.detection.pcb import PCB_CLASSES, DetectionSet

__all__ = ["DEEPPCB_COUNTS", "DEEPPCB_URL", "DEEPPCB_ZIP_URL", "SPLITS", "load_deeppcb", "download_deeppcb"]

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
        f"No DeepPCB split list '{split}.txt' under {root} (looked in {root}/PCBData, {root}, "
        f"{root}/DeepPCB/PCBData and {root}/DeepPCB-master/PCBData). "
        "Point root at a DeepPCB clone (it holds PCBData/trainval.txt and PCBData/test.txt); online, "
        "deeppcb.download_deeppcb(dest) fetches it, offline use DATA_SOURCE = 'synthetic'."
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

    Taught in: 13_pcb_detection_data"""
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

    Used by: tests/detection/test_deeppcb.py"""
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
