"""Looking at a detector's errors: PR and F-score curves, a confusion matrix with background, error types.

>>> from course_utils.detection import analysis
>>> analysis.plot_pr_curves(predictions, targets)                    # one curve per class, AP in the legend
>>> analysis.f_score_curve(predictions, targets)                     # P, R, F at every confidence threshold
>>> analysis.detection_confusion_matrix(predictions, targets, score_threshold=0.5)
>>> analysis.error_summary(predictions, targets, score_threshold=0.5)
>>> analysis.image_outcomes(predictions[0], targets[0], score_threshold=0.5, iou_threshold=0.5)

Error types of a kept prediction (score >= threshold), in this order:

* ``TP``: matched (same class, IoU >= ``iou_threshold``, greedy by score);
* ``duplicate``: same class and IoU >= threshold, but that box was already found
  by a higher-scoring prediction;
* ``wrong class``: IoU >= threshold with a box of another class;
* ``mislocated``: it overlaps a box (IoU >= ``background_iou``, default 0.1) but
  not enough -- the right place found badly (of any class);
* ``background``: it overlaps nothing (a false alarm on clean copper).

A ground-truth box no TP found is ``missed``.

The confusion matrix (rows: actual class, columns: predicted class, each with a
``background`` entry) pairs kept predictions and boxes one to one, largest IoU
first, whatever the class, if IoU >= ``iou_threshold``: a pair counts in
(actual, predicted); a box left over counts in (actual, background) (missed), a
prediction left over in (background, predicted) (false alarm).
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from course_utils.detection.boxes import box_iou
from course_utils.detection.matching import check_detections, label_names, match_all, match_image, prf, threshold_array
from course_utils.detection.metrics import (DEEPPCB_IOU, interpolated_average_precision, pr_curves,
                                            precision_recall_from_matches)
from course_utils.detection.pcb import PCB_CLASSES

__all__ = ["OUTCOMES", "plot_pr_curves", "f_score_curve", "detection_confusion_matrix", "error_table",
           "error_summary", "image_outcomes", "simulate_predictions"]

#: Outcome of every kept prediction and every ground-truth box, see the module docstring.
OUTCOMES = ("TP", "duplicate", "wrong class", "mislocated", "background", "missed")

def plot_pr_curves(predictions, targets, *, iou_threshold: float = 0.5, class_names: Sequence[str] = PCB_CLASSES,
                   method: str = "101", ax=None, title: str | None = None):
    """One PR step curve per class, its AP in the legend; returns the axes.

    Taught in: 16_detection_evaluation"""
    curves = pr_curves(predictions, targets, iou_threshold=iou_threshold, class_names=class_names)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5))
    aps = []
    for name, c in curves.items():
        ap = interpolated_average_precision(c["precision"].to_numpy(), c["recall"].to_numpy(), method)
        aps.append(ap)
        ax.step(np.r_[0, c["recall"]], np.r_[1, c["precision"]], where="post", label=f"{name} (AP={ap:.2f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.05))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(title or f"PR curves at IoU {iou_threshold:g} (mAP = {np.nanmean(aps) if aps else float('nan'):.3f})")
    return ax




def f_score_curve(predictions, targets, *, iou_threshold: float = DEEPPCB_IOU, strict: bool = True) -> pd.DataFrame:
    """Pooled precision, recall and F-score at every confidence threshold (all classes together).

    Returns ``DataFrame(score, precision, recall, F-score)`` sorted by decreasing
    score; ``table.loc[table['F-score'].idxmax()]`` is the best threshold.
    Default: the DeepPCB rule (IoU > 0.33).

    Taught in: 16_detection_evaluation"""
    preds, gts = check_detections(predictions, targets)
    m = match_all(preds, gts, threshold_array(iou_threshold), strict)
    order = np.argsort(-m["score"], kind="mergesort")
    n_gt = max(len(m["gt_labels"]), 1)
    precision, recall = precision_recall_from_matches(m["tp"][order, 0], n_gt)
    f = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(precision),
                  where=precision + recall > 0)
    return pd.DataFrame({"score": m["score"][order], "precision": precision, "recall": recall, "F-score": f})




def _check_score_threshold(score_threshold) -> float:
    if not isinstance(score_threshold, (int, float, np.floating)) or isinstance(score_threshold, bool):
        raise TypeError(f"score_threshold must be a number (a confidence), got {score_threshold!r}.")
    return float(score_threshold)


def _kept(preds, score_threshold: float) -> list:
    return [(b[s >= score_threshold], lab[s >= score_threshold], s[s >= score_threshold]) for b, lab, s in preds]


def detection_confusion_matrix(predictions, targets, *, score_threshold: float = 0.5, iou_threshold: float = 0.5,
                               class_names: Sequence[str] = PCB_CLASSES) -> pd.DataFrame:
    """Counts ``(K + 1, K + 1)``: rows actual class + ``background``, columns predicted class + ``background``.

    See the module docstring for the pairing rule. ``(background, background)`` is always 0.

    Taught in: 16_detection_evaluation"""
    t = float(threshold_array(iou_threshold)[0])
    preds, gts = check_detections(predictions, targets)
    preds = _kept(preds, _check_score_threshold(score_threshold))
    k = len(class_names)
    top = max([0] + [int(lab.max()) for _, lab, _ in preds if len(lab)] + [int(lab.max()) for _, lab in gts if len(lab)])
    if top > k:
        raise ValueError(f"labels go up to {top} but class_names has {k} names (ids 1..K).")
    cm = np.zeros((k + 1, k + 1), dtype=np.int64)   # index 0..k-1 = ids 1..k, index k = background
    for (pb, pl, _), (gb, gl) in zip(preds, gts):
        iou = box_iou(pb, gb)
        pairs = np.argwhere(iou >= t)
        pairs = pairs[np.argsort(-iou[pairs[:, 0], pairs[:, 1]], kind="stable")]
        used_p, used_g = np.zeros(len(pb), bool), np.zeros(len(gb), bool)
        for p, g in pairs:
            if not used_p[p] and not used_g[g]:
                used_p[p] = used_g[g] = True
                cm[gl[g] - 1, pl[p] - 1] += 1
        np.add.at(cm, (gl[~used_g] - 1, k), 1)
        np.add.at(cm, (k, pl[~used_p] - 1), 1)
    names = [*class_names, "background"]
    return pd.DataFrame(cm, index=pd.Index(names, name="actual"), columns=pd.Index(names, name="predicted"))


def error_table(predictions, targets, *, score_threshold: float = 0.5, iou_threshold: float = 0.5,
                background_iou: float = 0.1, class_names: Sequence[str] = PCB_CLASSES) -> pd.DataFrame:
    """One row per kept prediction and per missed box: ``image, source, label, class, score, iou, outcome, x1..y2``.

    ``source`` is ``"prediction"`` or ``"target"`` (missed boxes); ``iou`` is the
    prediction's best IoU with any box (of any class).

    Used by: tests/detection/test_detection_metrics.py"""
    t = float(threshold_array(iou_threshold)[0])
    if not 0 <= background_iou <= t:
        raise ValueError(f"background_iou={background_iou!r} must lie in [0, iou_threshold={t}].")
    preds, gts = check_detections(predictions, targets)
    preds = _kept(preds, _check_score_threshold(score_threshold))
    rows = []
    for i, (pred, (gb, gl)) in enumerate(zip(preds, gts)):
        order, tp, gt_index, best_same = match_image(pred, (gb, gl), np.array([t]), False)
        pb, pl, ps = (a[order] for a in pred)
        iou = box_iou(pb, gb)
        other = np.where(pl[:, None] != gl[None, :], iou, 0.0).max(axis=1) if len(gb) else np.zeros(len(pb))
        best_any = iou.max(axis=1) if len(gb) else np.zeros(len(pb))
        outcome = np.select([tp[:, 0], best_same >= t, other >= t, best_any >= background_iou],
                            ["TP", "duplicate", "wrong class", "mislocated"], "background")
        for box, lab, s, o, b in zip(pb, pl, ps, outcome, best_any):
            rows.append((i, "prediction", int(lab), float(s), float(b), str(o), *box))
        found = np.zeros(len(gb), bool)
        found[gt_index[tp[:, 0], 0]] = True
        for box, lab in zip(gb[~found], gl[~found]):
            rows.append((i, "target", int(lab), np.nan, np.nan, "missed", *box))
    table = pd.DataFrame(rows, columns=["image", "source", "label", "score", "iou", "outcome",
                                        "x1", "y1", "x2", "y2"])
    table.insert(3, "class", label_names(class_names, table["label"].tolist()))
    return table


def error_summary(predictions, targets, *, score_threshold: float = 0.5, iou_threshold: float = 0.5,
                  background_iou: float = 0.1, class_names: Sequence[str] = PCB_CLASSES) -> pd.DataFrame:
    """Counts of every outcome (columns :data:`OUTCOMES`) per class, plus an ``all`` row.

    Taught in: 16_detection_evaluation"""
    table = error_table(predictions, targets, score_threshold=score_threshold, iou_threshold=iou_threshold,
                        background_iou=background_iou, class_names=class_names)
    counts = pd.crosstab(pd.Categorical(table["class"], categories=list(class_names)),
                         pd.Categorical(table["outcome"], categories=list(OUTCOMES)), dropna=False)
    counts.loc["all"] = counts.sum(axis=0)
    counts.index.name, counts.columns.name = "class", "outcome"
    return counts.astype(np.int64)


def image_outcomes(prediction: dict, target: dict, *, score_threshold: float = 0.5, iou_threshold: float = 0.5,
                   strict: bool = False) -> dict:
    """TP / FP / FN of one image at one confidence and IoU threshold (what the threshold widget draws).

    Returns ``dict(tp=int64 indices into the prediction, fp=..., fn=int64 indices
    into the target, precision, recall, f1)``; predictions below the threshold are
    in neither ``tp`` nor ``fp``.

    Used by: course_utils.detection.widgets, tests/detection/test_detection_metrics.py"""
    (pred,), (gt,) = check_detections([prediction], [target])
    s = _check_score_threshold(score_threshold)
    kept = np.flatnonzero(pred[2] >= s)
    order, tp, gt_index, _ = match_image(tuple(a[kept] for a in pred), gt, threshold_array(iou_threshold), strict)
    found = np.zeros(len(gt[0]), bool)
    found[gt_index[tp[:, 0], 0]] = True
    n_tp, n_fp, n_fn = int(tp.sum()), int((~tp).sum()), int((~found).sum())
    precision, recall, f1 = prf(n_tp, n_fp, n_fn)
    return {"tp": np.sort(kept[order[tp[:, 0]]]), "fp": np.sort(kept[order[~tp[:, 0]]]),
            "fn": np.flatnonzero(~found), "precision": precision, "recall": recall, "f1": f1}


def simulate_predictions(targets, *, seed: int = 0, miss: float = 0.1, jitter: float = 0.1,
                         wrong_class: float = 0.1, duplicates: float = 0.1, false_alarms: float = 1.0,
                         n_classes: int = len(PCB_CLASSES), image_size: int = 640) -> list[dict]:
    """A pretend detector with known errors, to see how each metric reacts to each kind of error.

    For every box: missed with probability ``miss``; otherwise a copy whose corners move by
    ``N(0, jitter * box size)`` and whose class is wrong with probability ``wrong_class``,
    plus a near-duplicate with probability ``duplicates``; ``false_alarms`` random boxes
    per image on average (Poisson). Found objects score higher (Beta(5, 2)) than false
    alarms and duplicates (Beta(2, 4)). Seeded; boxes in ``image_size`` pixels.

    Taught in: 16_detection_evaluation"""
    rng = np.random.default_rng(seed)
    out = []
    for t in targets:
        gb, gl = np.asarray(t["boxes"], np.float64).reshape(-1, 4), np.asarray(t["labels"], np.int64)
        found = rng.random(len(gb)) >= miss
        size = np.repeat(gb[:, 2:] - gb[:, :2], 2, axis=1)
        pb = (gb + rng.normal(0, jitter, gb.shape) * size)[found]
        pl = np.where(rng.random(len(gl)) < wrong_class, rng.integers(1, n_classes + 1, len(gl)), gl)[found]
        dup = rng.random(len(pb)) < duplicates
        n_false = rng.poisson(false_alarms)
        xy = rng.uniform(0, image_size - 40, (n_false, 2))
        fb = np.c_[xy, xy + rng.uniform(15, 40, (n_false, 2))]
        boxes = np.r_[pb, pb[dup] + rng.normal(0, 2.0, (int(dup.sum()), 4)), fb]
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1.0)
        scores = np.r_[rng.beta(5, 2, len(pb)), rng.beta(2, 4, int(dup.sum()) + n_false)]
        labels = np.r_[pl, pl[dup], rng.integers(1, n_classes + 1, n_false)].astype(np.int64)
        out.append({"boxes": np.clip(boxes, 0, image_size).astype(np.float32), "labels": labels,
                    "scores": scores.astype(np.float32)})
    return out
