"""The Project #2 notebooks' one entry point to PCB pairs: the synthetic twin or the real DeepPCB folder.

The Project #1 counterpart is :mod:`course_utils.classification.data`.

>>> from course_utils.detection import data as det_data
>>> ds = det_data.load_pcb_data("synthetic", n_images=200)     # offline twin
>>> ds = det_data.load_pcb_data("deeppcb", split="test")       # the real folder
"""
from __future__ import annotations

from pathlib import Path

from course_utils.core import config
from course_utils.detection.deeppcb import DEEPPCB_COUNTS, SPLITS, load_deeppcb
from course_utils.detection.pcb import DetectionSet
from course_utils.detection.twin import make_synthetic_pcb

__all__ = ["load_pcb_data"]


def load_pcb_data(source: str = "synthetic", *, n_images: int | None = None, split: str = "trainval",
                  path=None, size: int = 640, seed: int = 0, scan_noise: bool = True) -> DetectionSet:
    """The notebooks' one entry point: ``source="synthetic"`` (default, offline) or ``"deeppcb"``.

    * synthetic: ``n_images`` pairs (default: the split's DeepPCB size, 1,000 or 500);
      ``split="test"`` draws from another random stream than ``"trainval"``; the test images carry a
      binarised scan's edge noise like the real pairs (``scan_noise=False``: the clean twin, test and template
      differ only inside the boxes; see ``twin.make_synthetic_pcb``).
    * deeppcb: the official ``split`` from ``path`` (default ``config.data_dir() / "DeepPCB"``),
      all pairs or a random ``n_images`` of them; ``size`` must be 640.

    Taught in: 13_pcb_detection_data"""
    if split not in SPLITS:
        raise ValueError(f"split={split!r} must be one of {SPLITS}.")
    if source == "synthetic":
        n = DEEPPCB_COUNTS[split]["pairs"] if n_images is None else n_images
        return make_synthetic_pcb(n, size=size, seed=seed if split == "trainval" else (seed, 1),
                                  scan_noise=scan_noise)
    if source == "deeppcb":
        if size != 640:
            raise ValueError(f"size={size!r}: the real DeepPCB images are 640x640; resize after loading.")
        root = Path(path).expanduser() if path else config.data_dir() / "DeepPCB"
        return load_deeppcb(root, split, n_images=n_images, seed=seed)
    raise ValueError(f"source={source!r} must be 'synthetic' or 'deeppcb'.")
