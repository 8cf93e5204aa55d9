"""Evaluation beyond one report: run comparisons, balanced test sets, PR/ROC, IoU and detection mAP.

Classification (notebooks 06 and 07)
------------------------------------
>>> runs = {"CE": (y_true, y_pred_ce), "focal": (y_true, y_pred_focal)}   # e.g. from engine.predict
>>> evaluation.compare_runs(runs)                 # per-class P/R/F1, columns (run, metric)
>>> viz.plot_f1_bars(evaluation.compare_runs(runs))   # the plots live in course_utils.viz
>>> viz.plot_confusion_grid(runs)                  # confusion matrices normalised by actual label
>>> evaluation.imbalanced_vs_balanced(y_true, y_pred, seed=0)
>>> evaluation.ranking_report(y_true, probs)      # average precision and ROC-AUC per class
>>> evaluation.check_collapse(y_pred)             # did the run predict (almost) one class only?

Every per-class number is scikit-learn's (through ``metrics.classification_report_df``).

Detection (the bridge to Project #2)
------------------------------------
Boxes are ``(x1, y1, x2, y2)`` in pixels with ``x2 >= x1`` and ``y2 >= y1``.
Detections and ground truths are tables (DataFrames, or lists of dicts) with
columns ``image_id, x1, y1, x2, y2`` and optionally ``label``; detections also
have ``score``. :func:`average_precision_at_iou` implements COCO-style AP:
detections are matched greedily in order of decreasing score, each to the
unmatched ground-truth box of the same image and class with the highest IoU
(if that IoU >= the threshold); precision is made monotone and averaged at the
101 recall points 0, 0.01, ..., 1 (COCO, ``method="101"``) or integrated over
every recall step (Pascal VOC 2010+, ``method="all"``). Not modelled: COCO's
"crowd" boxes, area ranges and the 100-detections-per-image cap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn import metrics as skm

from . import metrics
from .checks import check_labels
from .config import CLASS_NAMES

__all__ = ["COCO_IOU_THRESHOLDS", "SCORE_COLUMNS", "AP_METHODS", "run_predictions", "compare_runs",
           "balanced_indices", "imbalanced_vs_balanced", "CollapseCheck", "check_collapse", "collapse_table",
           "pr_curves", "ranking_report", "box_iou", "match_detections", "precision_recall_from_matches",
           "average_precision_at_iou", "detection_ap_table", "map_summary"]

#: COCO's IoU thresholds 0.50, 0.55, ..., 0.95 (the "50-95" of mAP50-95).
COCO_IOU_THRESHOLDS = tuple(np.round(np.linspace(0.5, 0.95, 10), 2).tolist())
SCORE_COLUMNS = ("precision", "recall", "f1-score")
AP_METHODS = ("101", "all")


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def _as_numpy(values, name: str) -> np.ndarray:
    if torch.is_tensor(values):
        values = values.detach().cpu().numpy()
    try:
        return np.asarray(values)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like; could not convert it ({exc}).") from None


def _labels(values, name: str, n_classes: int | None = None) -> np.ndarray:
    """1-D int64 class indices, checked against ``n_classes`` (:func:`course_utils.checks.check_labels`)."""
    return check_labels(values, name, n_classes=n_classes)


def _run_pair(name, run) -> tuple:
    """``(y_true, y_pred)`` from a run given as ``(y_true, y_pred)`` or ``(y_true, y_pred, probs)``."""
    if isinstance(run, (tuple, list)) and len(run) in (2, 3):
        return run[0], run[1]
    raise TypeError(
        f"run {name!r} must be a tuple (y_true, y_pred) or (y_true, y_pred, probs) as returned by "
        f"engine.predict, or a report DataFrame; got {type(run).__name__}."
    )


def _check_runs(runs) -> Mapping:
    if not isinstance(runs, Mapping) or len(runs) == 0:
        raise TypeError("runs must be a non-empty dict {run name: (y_true, y_pred)}, "
                        f"got {type(runs).__name__}.")
    return runs


# ---------------------------------------------------------------------------
# Comparing runs
# ---------------------------------------------------------------------------
def run_predictions(runs: Mapping) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{run name: (y_true, y_pred)}`` from ``runs``, each pair checked (same length, integer labels)."""
    return {str(name): _run_pair(name, run) for name, run in _check_runs(runs).items()}


def compare_runs(runs: Mapping, class_names: Sequence[str] = CLASS_NAMES, *,
                 columns: Sequence[str] = SCORE_COLUMNS, digits: int | None = 4) -> pd.DataFrame:
    """Side-by-side classification reports of several runs.

    Parameters
    ----------
    runs : dict ``{run name: (y_true, y_pred)}``
        Each value may also be ``(y_true, y_pred, probs)`` (what ``engine.predict``
        returns) or a report from ``metrics.classification_report_df``.
    class_names : sequence of str
    columns : metrics to keep, from ``precision, recall, f1-score, support``.
    digits : int or None
        Rounding of the scores.

    Returns
    -------
    DataFrame: rows = classes, ``accuracy``, ``macro avg``, ``weighted avg``;
    columns = ``MultiIndex`` ``(run, metric)`` in the order of ``runs``.
    """
    runs = _check_runs(runs)
    bad = [c for c in columns if c not in (*SCORE_COLUMNS, "support")]
    if bad or not columns:
        raise ValueError(f"columns must be chosen from {(*SCORE_COLUMNS, 'support')}; got {list(columns)}.")
    tables = {}
    for name, run in runs.items():
        if isinstance(run, pd.DataFrame):
            report = run
        else:
            y_true, y_pred = _run_pair(name, run)
            report = metrics.classification_report_df(y_true, y_pred, class_names, digits=digits)
        tables[str(name)] = report[list(columns)]
    return pd.concat(tables, axis=1, names=["run", "metric"])


# ---------------------------------------------------------------------------
# Imbalanced vs balanced test sets
# ---------------------------------------------------------------------------
def balanced_indices(labels, *, n_per_class: int | None = None, seed: int = 0) -> np.ndarray:
    """Indices of a class-balanced subset: the same number of samples from every present class.

    Parameters
    ----------
    labels : array-like ``(N,)`` of class indices
    n_per_class : int or None
        Samples per class; default the size of the smallest present class.
    seed : int
        Which samples are kept (reproducible).

    Returns
    -------
    ``int64`` array of ``n_per_class * (number of present classes)`` sorted indices.
    """
    y = _labels(labels, "labels")
    if y.size == 0:
        raise ValueError("labels is empty: there is nothing to subsample.")
    classes, counts = np.unique(y, return_counts=True)
    smallest = int(counts.min())
    n = smallest if n_per_class is None else n_per_class
    if not isinstance(n, (int, np.integer)) or not 1 <= n <= smallest:
        raise ValueError(f"n_per_class={n_per_class!r} must be an integer in [1, {smallest}] "
                         f"(the smallest class, index {classes[counts.argmin()]}, has {smallest} samples).")
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(y == c), size=int(n), replace=False) for c in classes]
    return np.sort(np.concatenate(picks)).astype(np.int64)


def imbalanced_vs_balanced(y_true, y_pred, class_names: Sequence[str] = CLASS_NAMES, *,
                           n_per_class: int | None = None, seed: int = 0, digits: int | None = 4) -> pd.DataFrame:
    """Report on the full (imbalanced) test set beside a class-balanced subsample of it.

    The model's prediction for a wafer does not depend on the other wafers, so
    evaluating on a balanced test set is the same as keeping the balanced subset
    of the predictions (:func:`balanced_indices`). Recall per class stays the
    same in expectation; precision and accuracy change, because they depend on
    how many wafers of *other* classes there are to be confused with.

    Returns the :func:`compare_runs` table with runs ``"imbalanced test"`` and
    ``"balanced test"``; ``support`` is included.
    """
    y_true = _labels(y_true, "y_true", len(class_names))
    y_pred = _labels(y_pred, "y_pred", len(class_names))
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred must have the same length; got {len(y_true)} and {len(y_pred)}.")
    idx = balanced_indices(y_true, n_per_class=n_per_class, seed=seed)
    runs = {"imbalanced test": (y_true, y_pred), "balanced test": (y_true[idx], y_pred[idx])}
    return compare_runs(runs, class_names, columns=(*SCORE_COLUMNS, "support"), digits=digits)


# ---------------------------------------------------------------------------
# Collapse detection
# ---------------------------------------------------------------------------
@dataclass
class CollapseCheck:
    """Result of :func:`check_collapse`."""

    collapsed: bool
    dominant_class: str
    share: float               # fraction of predictions that are the dominant class
    true_share: float | None   # fraction of actual labels of that class (if y_true was given)
    n_predicted_classes: int   # how many different classes were predicted at all
    n_classes: int
    message: str

    def __str__(self) -> str:
        return self.message


def check_collapse(y_pred, *, y_true=None, class_names: Sequence[str] = CLASS_NAMES,
                   threshold: float = 0.95) -> CollapseCheck:
    """Flag a run whose predictions are (almost) all one class.

    A collapsed classifier answers the same class for (nearly) every input --
    the majority class after a too-short or badly weighted run, or any class
    after a diverged run (learning rate too high, LDAM margins or scale ``s``
    too large for the head). Accuracy can still look fine; macro-F1 cannot.

    Parameters
    ----------
    y_pred : array-like ``(N,)`` of predicted class indices
    y_true : array-like ``(N,)`` or None
        If given, the message compares with how common the class really is.
    class_names : sequence of str
    threshold : float in (0, 1]
        Collapsed when the most frequent predicted class has at least this
        share of the predictions (default 0.95).
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold={threshold!r} must lie in (0, 1], e.g. 0.95.")
    y_pred = _labels(y_pred, "y_pred", len(class_names))
    if y_pred.size == 0:
        raise ValueError("y_pred is empty: there is nothing to check.")
    counts = np.bincount(y_pred, minlength=len(class_names))
    dominant = int(counts.argmax())
    share = float(counts[dominant] / counts.sum())
    true_share = None
    if y_true is not None:
        y_true = _labels(y_true, "y_true", len(class_names))
        if len(y_true) != len(y_pred):
            raise ValueError(f"y_true and y_pred must have the same length; got {len(y_true)} and {len(y_pred)}.")
        true_share = float(np.mean(y_true == dominant))
    collapsed = share >= threshold
    n_pred = int((counts > 0).sum())
    name = class_names[dominant]
    context = f" ('{name}' is {true_share:.1%} of the actual labels)" if true_share is not None else ""
    if collapsed:
        message = (f"COLLAPSED: {share:.1%} of the predictions are '{name}'{context}; only {n_pred} of "
                   f"{len(class_names)} classes are ever predicted. Check the learning rate, the loss "
                   "(LDAM: normalised head, margins, scale s) and macro-F1 over the epochs.")
    else:
        message = (f"ok: the most frequent prediction, '{name}', is {share:.1%} of the predictions{context}; "
                   f"{n_pred} of {len(class_names)} classes are predicted.")
    return CollapseCheck(collapsed, name, share, true_share, n_pred, len(class_names), message)


def collapse_table(runs: Mapping, class_names: Sequence[str] = CLASS_NAMES, *, threshold: float = 0.95) -> pd.DataFrame:
    """:func:`check_collapse` for every run of ``{name: (y_true, y_pred)}``: one row per run."""
    rows = {}
    for name, run in _check_runs(runs).items():
        y_true, y_pred = _run_pair(name, run)
        c = check_collapse(y_pred, y_true=y_true, class_names=class_names, threshold=threshold)
        rows[str(name)] = {"collapsed": c.collapsed, "dominant class": c.dominant_class,
                           "share of predictions": round(c.share, 4),
                           "share of actual labels": None if c.true_share is None else round(c.true_share, 4),
                           "classes predicted": c.n_predicted_classes}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("run")


# ---------------------------------------------------------------------------
# Ranking metrics: PR curves, average precision, ROC-AUC (one-vs-rest)
# ---------------------------------------------------------------------------
def _scores(y_true, probs, class_names) -> tuple[np.ndarray, np.ndarray]:
    p = _as_numpy(probs, "probs").astype(np.float64)
    if p.ndim != 2 or p.shape[1] != len(class_names):
        raise ValueError(f"probs must have shape (N, {len(class_names)}) = (samples, classes); got {p.shape}.")
    y = _labels(y_true, "y_true", len(class_names))
    if len(y) != len(p):
        raise ValueError(f"y_true has {len(y)} entries but probs has {len(p)} rows.")
    if not np.isfinite(p).all():
        raise ValueError("probs contains NaN or inf: the model's outputs diverged (check the run for collapse).")
    return y, p


def pr_curves(y_true, probs, class_names: Sequence[str] = CLASS_NAMES) -> dict[str, pd.DataFrame]:
    """One-vs-rest precision-recall curve of every class that occurs in ``y_true``.

    Parameters
    ----------
    y_true : array-like ``(N,)`` of class indices
    probs : array-like ``(N, C)`` of class scores (softmax probabilities or logits)

    Returns
    -------
    dict ``{class name: DataFrame(threshold, precision, recall)}`` from
    ``sklearn.metrics.precision_recall_curve`` (the last point, recall 0 and
    precision 1, has threshold NaN).
    """
    y, p = _scores(y_true, probs, class_names)
    curves = {}
    for c, name in enumerate(class_names):
        if not (y == c).any():
            continue
        precision, recall, thresholds = skm.precision_recall_curve(y == c, p[:, c])
        curves[name] = pd.DataFrame({"threshold": np.append(thresholds, np.nan),
                                     "precision": precision, "recall": recall})
    return curves


def ranking_report(y_true, probs, class_names: Sequence[str] = CLASS_NAMES, digits: int | None = 4) -> pd.DataFrame:
    """Average precision and ROC-AUC of every class, one-vs-rest.

    Returns a DataFrame with one row per class and a ``macro avg`` row; columns
    ``average precision`` (area under the PR curve, ``sklearn.metrics.
    average_precision_score``), ``ROC-AUC`` (``roc_auc_score``), ``support``
    and ``prevalence`` (the AP of a random classifier). A class absent from
    ``y_true`` gets NaN (undefined) and is left out of the macro average.
    """
    y, p = _scores(y_true, probs, class_names)
    rows = {}
    for c, name in enumerate(class_names):
        positive = y == c
        defined = 0 < positive.sum() < len(y)
        rows[name] = {
            "average precision": skm.average_precision_score(positive, p[:, c]) if positive.any() else np.nan,
            "ROC-AUC": skm.roc_auc_score(positive, p[:, c]) if defined else np.nan,
            "support": int(positive.sum()),
            "prevalence": float(positive.mean()),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.loc["macro avg"] = [table["average precision"].mean(), table["ROC-AUC"].mean(), len(y), np.nan]
    table["support"] = table["support"].astype(np.int64)
    return table.round(digits) if digits is not None else table


# ---------------------------------------------------------------------------
# Boxes: IoU and COCO-style average precision
# ---------------------------------------------------------------------------
def _boxes(values, name: str) -> torch.Tensor:
    """``float64 (N, 4)`` tensor of ``x1, y1, x2, y2`` boxes, checked."""
    try:
        arr = _as_numpy(values, name).astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must hold numbers (x1, y1, x2, y2); {exc}") from None
    if arr.ndim == 1 and arr.size == 4:
        arr = arr[None, :]
    if arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) with columns x1, y1, x2, y2; got {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf coordinates.")
    if ((arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])).any():
        raise ValueError(f"{name} has boxes with x2 < x1 or y2 < y1; boxes must be (x1, y1, x2, y2) corners, "
                         "not (x, y, width, height) -- convert with torchvision.ops.box_convert(b, 'xywh', 'xyxy').")
    return torch.from_numpy(arr)


def box_iou(boxes1, boxes2) -> np.ndarray:
    """Intersection over union of every pair of boxes.

    Parameters
    ----------
    boxes1 : array-like ``(N, 4)`` (or one box ``(4,)``), corners ``x1, y1, x2, y2``
    boxes2 : array-like ``(M, 4)`` (or ``(4,)``)

    Returns
    -------
    ``float64`` array ``(N, M)``: ``area(A & B) / area(A | B)``, computed by
    ``torchvision.ops.box_iou``; 0 for disjoint boxes.
    """
    from torchvision.ops import (
        box_iou as torchvision_box_iou,  # imported here: torchvision is slow to import
    )

    return torchvision_box_iou(_boxes(boxes1, "boxes1"), _boxes(boxes2, "boxes2")).numpy()


def _box_table(table, name: str, needs_score: bool) -> pd.DataFrame:
    df = table.copy() if isinstance(table, pd.DataFrame) else pd.DataFrame(list(table))
    needed = ["image_id", "x1", "y1", "x2", "y2"] + (["score"] if needs_score else [])
    missing = [c for c in needed if c not in df.columns]
    if missing and len(df):
        raise ValueError(f"{name} is missing the columns {missing}; it needs {needed} (and optionally 'label').")
    for col in needed:
        if col not in df.columns:
            df[col] = pd.Series(dtype=float)
    if "label" not in df.columns:
        df["label"] = 0
    _boxes(df[["x1", "y1", "x2", "y2"]].to_numpy(), name)  # validates the corners
    return df.reset_index(drop=True)


def match_detections(detections, ground_truths, iou_threshold: float = 0.5) -> pd.DataFrame:
    """Greedy COCO matching of detections to ground-truth boxes (all classes).

    Detections are visited in order of decreasing score. Each one takes the
    still-unmatched ground-truth box of the same image and label with the
    highest IoU, if that IoU is at least ``iou_threshold``: a true positive
    (TP). Otherwise -- wrong place, or the object was already found by a
    higher-scoring box (a duplicate) -- it is a false positive (FP).

    Returns the detections sorted by score (descending) with three new columns:
    ``iou`` (best IoU with any box of the same image and label), ``tp`` (bool)
    and ``gt_index`` (row of the matched ground truth, -1 for a FP).
    """
    if not 0 <= iou_threshold <= 1:
        raise ValueError(f"iou_threshold={iou_threshold!r} must lie in [0, 1], e.g. 0.5.")
    dets = _box_table(detections, "detections", needs_score=True)
    gts = _box_table(ground_truths, "ground_truths", needs_score=False)
    dets = dets.sort_values("score", ascending=False, kind="mergesort").reset_index(drop=True)
    matched = np.zeros(len(gts), dtype=bool)
    best_ious, tps, gt_rows = [], [], []
    for det in dets.itertuples(index=False):
        candidates = np.flatnonzero(((gts["image_id"] == det.image_id) & (gts["label"] == det.label)).to_numpy())
        ious = box_iou([det.x1, det.y1, det.x2, det.y2], gts.loc[candidates, ["x1", "y1", "x2", "y2"]].to_numpy())[0]
        best_ious.append(float(ious.max()) if len(ious) else 0.0)
        ious[matched[candidates]] = -1.0  # a ground-truth box can be found only once
        best = int(ious.argmax()) if len(ious) else -1
        if best >= 0 and ious[best] >= iou_threshold:
            matched[candidates[best]] = True
            tps.append(True)
            gt_rows.append(int(candidates[best]))
        else:
            tps.append(False)
            gt_rows.append(-1)
    return dets.assign(iou=best_ious, tp=np.array(tps, dtype=bool), gt_index=np.array(gt_rows, dtype=np.int64))


def precision_recall_from_matches(tp, n_ground_truths: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each detection (detections sorted by score).

    ``precision[k] = TP_k / (k + 1)`` and ``recall[k] = TP_k / n_ground_truths``
    with ``TP_k`` the true positives among the first ``k + 1`` detections.
    """
    tp = np.asarray(tp, dtype=bool)
    if n_ground_truths < 1:
        raise ValueError(f"n_ground_truths={n_ground_truths} must be >= 1: recall is undefined without objects.")
    cum_tp = np.cumsum(tp)
    return cum_tp / np.arange(1, len(tp) + 1), cum_tp / n_ground_truths


def interpolated_average_precision(precision, recall, method: str = "101") -> float:
    """Area under a PR curve made monotone ("interpolated"), COCO or VOC style.

    First every precision is replaced by the best precision at the same or a
    higher recall (the curve's upper envelope). Then

    * ``method="101"`` (COCO): mean of that envelope at recall 0, 0.01, ..., 1.00
      (0 where the recall is never reached);
    * ``method="all"`` (Pascal VOC 2010+, "all-point"): sum of the envelope
      times the recall step at every point where recall increases.
    """
    if method not in AP_METHODS:
        raise ValueError(f"method={method!r} is not one of {AP_METHODS} ('101' = COCO, 'all' = VOC all-point).")
    precision = np.asarray(precision, dtype=np.float64)
    recall = np.asarray(recall, dtype=np.float64)
    if precision.shape != recall.shape or precision.ndim != 1:
        raise ValueError(f"precision and recall must be 1-D arrays of equal length; got {precision.shape} "
                         f"and {recall.shape}.")
    if len(recall) == 0:
        return 0.0
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    if method == "101":
        points = np.linspace(0.0, 1.0, 101)
        idx = np.searchsorted(recall, points, side="left")  # first detection reaching each recall point
        sampled = np.where(idx < len(recall), envelope[np.minimum(idx, len(recall) - 1)], 0.0)
        return float(sampled.mean())
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(steps * envelope))


def average_precision_at_iou(detections, ground_truths, iou_threshold: float = 0.5, *, label=None,
                             method: str = "101") -> float:
    """AP of one class at one IoU threshold (COCO-style matching, see :func:`match_detections`).

    ``label`` selects the class (None: all boxes are one class). Returns NaN
    when the class has no ground-truth boxes (COCO leaves it out of the mean),
    0.0 when it has boxes but no detections.
    """
    if method not in AP_METHODS:
        raise ValueError(f"method={method!r} is not one of {AP_METHODS} ('101' = COCO, 'all' = VOC all-point).")
    dets = _box_table(detections, "detections", needs_score=True)
    gts = _box_table(ground_truths, "ground_truths", needs_score=False)
    if label is not None:
        dets, gts = dets[dets["label"] == label], gts[gts["label"] == label]
    else:
        dets, gts = dets.assign(label=0), gts.assign(label=0)
    if len(gts) == 0:
        return float("nan")
    matches = match_detections(dets, gts, iou_threshold)
    precision, recall = precision_recall_from_matches(matches["tp"].to_numpy(), len(gts))
    return interpolated_average_precision(precision, recall, method)


def detection_ap_table(detections, ground_truths, *, iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS,
                       method: str = "101", class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """AP of every class at every IoU threshold, plus the mean over classes (mAP).

    Returns a DataFrame: one row per label that has ground-truth boxes (named by
    ``class_names[label]`` if given) and a final ``mAP`` row; one column per
    threshold (``0.5, 0.55, ..., 0.95``). COCO's "AP" (mAP50-95) is the mean of
    the ``mAP`` row; see :func:`map_summary`.
    """
    gts = _box_table(ground_truths, "ground_truths", needs_score=False)
    thresholds = [float(t) for t in iou_thresholds]
    if not thresholds:
        raise ValueError("iou_thresholds is empty; use e.g. evaluation.COCO_IOU_THRESHOLDS.")
    labels = sorted(gts["label"].unique())
    rows = {}
    for label in labels:
        name = class_names[label] if class_names is not None else label
        rows[name] = [average_precision_at_iou(detections, gts, t, label=label, method=method) for t in thresholds]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=thresholds)
    table.loc["mAP"] = table.mean(axis=0)
    table.columns.name = "IoU threshold"
    return table


def map_summary(ap_table: pd.DataFrame) -> pd.Series:
    """The three numbers detection papers (and YOLOv8's table) report, from :func:`detection_ap_table`.

    ``mAP50`` = mAP at IoU 0.50, ``mAP75`` = at 0.75, ``mAP50-95`` = mean over
    the thresholds 0.50, 0.55, ..., 0.95 (COCO's primary "AP").
    """
    if "mAP" not in ap_table.index:
        raise ValueError("ap_table must be the table returned by detection_ap_table (it has an 'mAP' row).")
    row = ap_table.loc["mAP"]
    out = {}
    for key, t in (("mAP50", 0.5), ("mAP75", 0.75)):
        hit = [c for c in row.index if abs(float(c) - t) < 1e-9]
        out[key] = float(row[hit[0]]) if hit else float("nan")
    coco = [c for c in row.index if any(abs(float(c) - t) < 1e-9 for t in COCO_IOU_THRESHOLDS)]
    out["mAP50-95"] = float(row[coco].mean()) if len(coco) == len(COCO_IOU_THRESHOLDS) else float("nan")
    return pd.Series(out, name="mAP")
