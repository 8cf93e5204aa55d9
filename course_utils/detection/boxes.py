"""Boxes: area, intersection over union (IoU) and non-maximum suppression (NMS), written by hand.

Boxes are ``(x1, y1, x2, y2)`` corners in pixels with ``x2 >= x1`` and ``y2 >= y1``
(torchvision's convention, and DeepPCB's own); area = ``(x2 - x1) * (y2 - y1)``.

>>> from course_utils.detection import boxes
>>> boxes.box_iou([0, 0, 2, 2], [[1, 1, 3, 3], [0, 0, 2, 2]])      # -> [[1/7, 1.0]]
>>> keep = boxes.nms(b, scores, iou_threshold=0.5)                  # same as torchvision.ops.nms
>>> keep = boxes.batched_nms(b, scores, labels, iou_threshold=0.5)  # NMS within each class
>>> boxes.xyxy_to_cxcywh([[0, 0, 4, 2]])                            # -> [[2, 1, 4, 2]] centre, size
>>> boxes.cxcywh_to_xyxy([[2, 1, 4, 2]])                            # -> [[0, 0, 4, 2]] corners

Every function here is a few lines of NumPy so that the lesson can read it; the
tests check each one against ``torchvision.ops`` (``box_iou``, ``box_area``,
``nms``, ``batched_nms``) on random boxes, ties included. The two conversions
between corners and centre + size (YOLO's ``cx, cy, w, h``, and what a centre-based
detector predicts) are written here once and called by every other module.
"""
from __future__ import annotations

import numpy as np
import torch

from course_utils.core.checks import as_numpy

__all__ = ["as_boxes", "box_area", "box_iou", "nms", "batched_nms", "xyxy_to_cxcywh", "cxcywh_to_xyxy"]


def as_boxes(values, name: str = "boxes", *, corners: bool = True) -> np.ndarray:
    """``float64 (N, 4)`` array of ``x1, y1, x2, y2`` boxes, checked.

    Accepts a list, array or tensor of shape ``(N, 4)``, one box ``(4,)``, or an
    empty input (shape ``(0, 4)``). Raises ``ValueError`` naming ``name`` for
    another shape, NaN/inf coordinates, or corners in the wrong order.
    ``corners=False`` checks the shape only: for ``cx, cy, w, h`` boxes, and for
    callers that check the values with their own message.

    Used by: course_utils.detection.matching, course_utils.detection.metrics, tests/detection/test_detection_boxes.py
    """
    arr = as_numpy(values, name, dtype=np.float64, expected="hold numbers (x1, y1, x2, y2)")
    if arr.ndim == 1 and arr.size == 4:
        arr = arr[None, :]
    if arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        columns = "x1, y1, x2, y2" if corners else "x1, y1, x2, y2 (or cx, cy, w, h)"
        raise ValueError(f"{name} must have shape (N, 4) with columns {columns}; got {arr.shape}.")
    if not corners:
        return arr
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf coordinates.")
    if ((arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])).any():
        raise ValueError(f"{name} has boxes with x2 < x1 or y2 < y1; boxes must be (x1, y1, x2, y2) corners, "
                         "not (x, y, width, height) -- convert with torchvision.ops.box_convert(b, 'xywh', 'xyxy').")
    return arr


def _four_columns(boxes, name: str):
    """``boxes`` as a float tensor or NumPy array of shape ``(..., 4)`` (lists become ``float64``)."""
    if not torch.is_tensor(boxes):
        boxes = as_numpy(boxes, name, expected="hold numbers")
        if not np.issubdtype(boxes.dtype, np.floating):   # integers, and strings that must fail here
            boxes = as_numpy(boxes, name, dtype=np.float64, expected="hold numbers")
    elif not boxes.is_floating_point():
        boxes = boxes.double()
    if boxes.ndim == 0 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (..., 4), four numbers per box; got {tuple(boxes.shape)}.")
    return boxes


def _join(halves, like):
    return torch.cat(halves, dim=-1) if torch.is_tensor(like) else np.concatenate(halves, axis=-1)


def xyxy_to_cxcywh(boxes):
    """Corners ``x1, y1, x2, y2`` -> centre and size ``cx, cy, w, h`` (same units, e.g. pixels).

    ``boxes``: NumPy array, torch tensor or list of shape ``(..., 4)``. Returns the
    same kind (a tensor stays on its device; a list becomes ``float64``) and the
    same float dtype (integers become ``float64``). Only the shape is checked:
    ``cx = (x1 + x2) / 2``, ``w = x2 - x1`` (negative if the corners are swapped).
    Same as ``torchvision.ops.box_convert(boxes, "xyxy", "cxcywh")``. Normalised
    YOLO coordinates are this divided by ``(width, height, width, height)``.

    Used by: course_utils.detection.formats, course_utils.detection.detector, course_utils.detection.classical
    """
    b = _four_columns(boxes, "boxes")
    return _join([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], b)


def cxcywh_to_xyxy(boxes):
    """Centre and size ``cx, cy, w, h`` -> corners ``x1, y1, x2, y2`` (same units, e.g. pixels).

    Inverse of :func:`xyxy_to_cxcywh`, same input kinds and shapes ``(..., 4)``:
    ``x1 = cx - w / 2``, ``x2 = cx + w / 2``. Same as
    ``torchvision.ops.box_convert(boxes, "cxcywh", "xyxy")``.

    Used by: course_utils.detection.formats, course_utils.detection.yolo_export, course_utils.detection.detector
    """
    b = _four_columns(boxes, "boxes")
    half = b[..., 2:] / 2
    return _join([b[..., :2] - half, b[..., :2] + half], b)


def box_area(boxes) -> np.ndarray:
    """Area ``(x2 - x1) * (y2 - y1)`` of every box: ``float64 (N,)`` in square pixels.

    Used by: tests/detection/test_detection_boxes.py"""
    b = as_boxes(boxes, "boxes")
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(boxes1, boxes2) -> np.ndarray:
    """Intersection over union of every pair of boxes.

    Parameters
    ----------
    boxes1 : array-like ``(N, 4)`` (or one box ``(4,)``), corners ``x1, y1, x2, y2``
    boxes2 : array-like ``(M, 4)`` (or ``(4,)``)

    Returns
    -------
    ``float64`` array ``(N, M)``: ``area(A & B) / area(A | B)``; 0 for disjoint
    boxes (and for two boxes of zero area).

    Taught in: 07_metrics_evaluation"""
    a, b = as_boxes(boxes1, "boxes1"), as_boxes(boxes2, "boxes2")
    # the intersection is the box between the larger top-left and the smaller bottom-right corner
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])          # (N, M, 2)
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])      # (N, M, 2)
    wh = np.clip(bottom_right - top_left, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _scores(scores, n: int, name: str = "scores") -> np.ndarray:
    s = as_numpy(scores, name, dtype=np.float64, expected="hold numbers").reshape(-1)
    if s.shape != (n,):
        raise ValueError(f"{name} must have one value per box, shape ({n},); got {np.shape(scores)}.")
    if not np.isfinite(s).all():
        raise ValueError(f"{name} contains NaN or inf.")
    return s


def _check_threshold(iou_threshold) -> float:
    if not isinstance(iou_threshold, (int, float, np.floating)) or not 0.0 <= float(iou_threshold) <= 1.0:
        raise ValueError(f"iou_threshold={iou_threshold!r} must be a number in [0, 1], e.g. 0.5.")
    return float(iou_threshold)


def _greedy_suppression(iou: np.ndarray, order: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Visit boxes in ``order``; keep one unless a kept box overlaps it by more than the threshold."""
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold   # every box too similar to the one just kept
    return np.asarray(keep, dtype=np.int64)


def nms(boxes, scores, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression, the same rule as ``torchvision.ops.nms``.

    Take the highest-scoring box, drop every remaining box whose IoU with it is
    **greater than** ``iou_threshold``, repeat with the next box still left.
    Equal scores are visited in their input order.

    Parameters
    ----------
    boxes : array-like ``(N, 4)`` ``x1, y1, x2, y2``
    scores : array-like ``(N,)``
    iou_threshold : float in [0, 1]

    Returns
    -------
    ``int64 (K,)`` indices of the kept boxes, in decreasing order of score.

    Taught in: 15_detector_from_scratch"""
    b = as_boxes(boxes, "boxes")
    s = _scores(scores, len(b))
    threshold = _check_threshold(iou_threshold)
    order = np.argsort(-s, kind="stable")
    return _greedy_suppression(box_iou(b, b), order, threshold)


def batched_nms(boxes, scores, idxs, iou_threshold: float) -> np.ndarray:
    """NMS within each category: boxes of different ``idxs`` never suppress each other.

    Same contract as ``torchvision.ops.batched_nms``: returns ``int64 (K,)``
    indices of the kept boxes in decreasing order of score. ``idxs`` is an
    integer array ``(N,)`` (usually the class id of each box).

    Taught in: 15_detector_from_scratch"""
    b = as_boxes(boxes, "boxes")
    s = _scores(scores, len(b))
    threshold = _check_threshold(iou_threshold)
    raw = np.asarray(idxs.detach().cpu().numpy() if torch.is_tensor(idxs) else idxs)
    if raw.shape != (len(b),):
        raise ValueError(f"idxs must have one category per box, shape ({len(b)},); got {raw.shape}.")
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
        raise TypeError(f"idxs must hold integer categories (e.g. class ids); got dtype {raw.dtype}.")
    iou = box_iou(b, b)
    iou[raw[:, None] != raw[None, :]] = 0.0   # boxes of another category never overlap "enough"
    return _greedy_suppression(iou, np.argsort(-s, kind="stable"), threshold)
