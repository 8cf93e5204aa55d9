"""PCB image pairs in memory: the six defect classes and the :class:`DetectionSet` container.

The Project #1 counterpart is :mod:`course_utils.classification.wafers`. The real
DeepPCB reader is :mod:`course_utils.detection.deeppcb`, the synthetic twin
:mod:`course_utils.detection.twin`, the notebooks' entry point
:func:`course_utils.detection.data.load_pcb_data`.

Both sources give a :class:`DetectionSet` with the images in memory::

    from course_utils.detection import data as det_data
    ds = det_data.load_pcb_data("synthetic", n_images=200)     # offline twin
    ds = det_data.load_pcb_data("deeppcb", split="test")       # the real folder
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["PCB_CLASSES", "DetectionSet"]

#: The six DeepPCB defect classes; class id ``k`` (1..6) is ``PCB_CLASSES[k - 1]``.
PCB_CLASSES: tuple[str, ...] = ("open", "short", "mousebite", "spur", "copper", "pin-hole")


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
