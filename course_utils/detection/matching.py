"""Matching detections to ground-truth boxes: the one step every detection metric shares.

Inputs are one dict per image (``{"boxes": (k, 4) x1 y1 x2 y2 pixels, "labels": (k,) ids 1..K,
"scores": (k,)}`` for predictions; no ``scores`` for targets). In each image and class,
predictions are visited in order of decreasing score; each takes the unmatched
ground-truth box of its class with the highest IoU if that IoU reaches the threshold
(``>=``; ``strict=True`` uses ``>`` as DeepPCB's script does); otherwise it is a
false positive. :mod:`course_utils.detection.metrics` (AP, mAP, P/R/F tables) and
:mod:`course_utils.detection.analysis` (confusion matrix, error types) build on it.

Taught in: 16_detection_evaluation
"""
from __future__ import annotations

import numpy as np
import torch

from course_utils.detection.boxes import as_boxes, box_iou

__all__ = ["check_detections", "threshold_array", "match_image", "match_all", "label_names", "prf"]


def _array(value, name: str, dtype) -> np.ndarray:
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.size == 0:
        return arr.reshape(0).astype(dtype)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per box); got shape {arr.shape}.")
    if dtype is np.int64 and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.mod(arr, 1) == 0):
            raise ValueError(f"{name} must hold integer class ids; got dtype {arr.dtype}.")
    return arr.astype(dtype)


def _one_image(entry, name: str, needs_scores: bool) -> tuple:
    if not isinstance(entry, dict) or "boxes" not in entry or "labels" not in entry:
        keys = "boxes, labels" + (", scores" if needs_scores else "")
        raise TypeError(f"{name} must be a dict with keys {keys}; got "
                        f"{type(entry).__name__}{' with keys ' + str(sorted(entry)) if isinstance(entry, dict) else ''}.")
    b = as_boxes(entry["boxes"], f"{name}['boxes']")
    lab = _array(entry["labels"], f"{name}['labels']", np.int64)
    if len(lab) != len(b):
        raise ValueError(f"{name} has {len(b)} boxes but {len(lab)} labels.")
    if len(lab) and lab.min() < 1:
        raise ValueError(f"{name}['labels'] holds {lab.min()}: class ids start at 1 (0 is the background, "
                         "never a label); shift 0-based class indices by +1.")
    if not needs_scores:
        return b, lab
    if "scores" not in entry:
        raise TypeError(f"{name} has no 'scores': a prediction needs one confidence per box.")
    s = _array(entry["scores"], f"{name}['scores']", np.float64)
    if len(s) != len(b) or not np.isfinite(s).all():
        raise ValueError(f"{name}['scores'] must hold {len(b)} finite numbers (one per box); got {len(s)}.")
    return b, lab, s


def check_detections(predictions, targets) -> tuple[list, list]:
    """Validate and convert the lists: ``([(boxes, labels, scores)], [(boxes, labels)])`` as NumPy.

    Raises ``TypeError``/``ValueError`` naming the image and key that is wrong.

    Used by: course_utils.detection.analysis, course_utils.detection.metrics"""
    for name, value in (("predictions", predictions), ("targets", targets)):
        if isinstance(value, dict) or not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list with one dict per image; got {type(value).__name__}.")
    if len(predictions) != len(targets):
        raise ValueError(f"predictions has {len(predictions)} images but targets has {len(targets)}; "
                         "give one entry per image, in the same order (an image without boxes gets empty arrays).")
    preds = [_one_image(p, f"predictions[{i}]", True) for i, p in enumerate(predictions)]
    gts = [_one_image(t, f"targets[{i}]", False) for i, t in enumerate(targets)]
    return preds, gts


def threshold_array(iou_thresholds) -> np.ndarray:
    """IoU thresholds as a 1-D float array, checked to lie in [0, 1].

    Used by: course_utils.detection.analysis, course_utils.detection.metrics"""
    t = np.atleast_1d(np.asarray(iou_thresholds, dtype=np.float64))
    if t.size == 0 or t.ndim != 1 or (t < 0).any() or (t > 1).any():
        raise ValueError(f"iou_thresholds={iou_thresholds!r} must be numbers in [0, 1], e.g. COCO_IOU_THRESHOLDS.")
    return t


def match_image(pred, gt, thresholds: np.ndarray, strict: bool) -> tuple:
    """Greedy matching in one image at every threshold.

    Returns ``order`` (prediction indices by decreasing score), ``tp (D, T)``,
    ``gt_index (D, T)`` (-1 for a FP) and ``best_iou (D,)`` with a same-class box.

    Used by: course_utils.detection.analysis"""
    (pb, pl, ps), (gb, gl) = pred, gt
    order = np.argsort(-ps, kind="stable")
    iou = box_iou(pb[order], gb)
    iou[pl[order][:, None] != gl[None, :]] = -1.0   # only boxes of the same class can match
    n_det, n_gt = iou.shape
    tp = np.zeros((n_det, len(thresholds)), dtype=bool)
    gt_index = np.full((n_det, len(thresholds)), -1, dtype=np.int64)
    best = iou.max(axis=1).clip(0.0) if n_gt else np.zeros(n_det)
    for k, t in enumerate(thresholds):
        taken = np.zeros(n_gt, dtype=bool)
        for d in np.flatnonzero(best > t if strict else best >= t):   # others cannot match at all
            cand = np.where(taken, -1.0, iou[d])
            g = int(cand.argmax())
            if (cand[g] > t) if strict else (cand[g] >= t):
                taken[g], tp[d, k], gt_index[d, k] = True, True, g
    return order, tp, gt_index, best


def match_all(preds, gts, thresholds, strict: bool) -> dict:
    """Flat arrays over all predictions (image order, then decreasing score) and all ground truths.

    Used by: course_utils.detection.analysis, course_utils.detection.metrics"""
    parts = [match_image(p, g, thresholds, strict) for p, g in zip(preds, gts)]
    n_t = len(thresholds)
    return {
        "image": np.concatenate([np.full(len(o), i, np.int64) for i, (o, *_) in enumerate(parts)] + [np.zeros(0, np.int64)]),
        "det": np.concatenate([o for o, *_ in parts] + [np.zeros(0, np.int64)]),
        "label": np.concatenate([p[1][o] for p, (o, *_) in zip(preds, parts)] + [np.zeros(0, np.int64)]),
        "score": np.concatenate([p[2][o] for p, (o, *_) in zip(preds, parts)] + [np.zeros(0)]),
        "tp": np.concatenate([tp for _, tp, _, _ in parts] + [np.zeros((0, n_t), bool)]),
        "gt_index": np.concatenate([g for _, _, g, _ in parts] + [np.zeros((0, n_t), np.int64)]),
        "iou": np.concatenate([b for *_, b in parts] + [np.zeros(0)]),
        "gt_labels": np.concatenate([g[1] for g in gts] + [np.zeros(0, np.int64)]),
    }


def label_names(class_names, labels) -> list:
    """Names of class ids 1..K (``class_names[id - 1]``), or the ids themselves when ``class_names`` is None.

    Used by: course_utils.detection.analysis, course_utils.detection.metrics"""
    if class_names is None:
        return [int(c) for c in labels]
    if max(labels, default=0) > len(class_names):
        raise ValueError(f"labels go up to {max(labels)} but class_names has {len(class_names)} names "
                         "(ids 1..K name class_names[id - 1]).")
    return [class_names[c - 1] for c in labels]


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F-score from counts (0.0 where a denominator is 0).

    Used by: course_utils.detection.analysis, course_utils.detection.metrics"""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)
