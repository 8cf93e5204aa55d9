"""Detection metrics: matching, AP (COCO 101-point and VOC all-point), mAP50 / mAP50-95, the DeepPCB protocol.

Inputs are the kit's detection convention (see ``detection/__init__``): one dict per
image, in image order -- a target ``dict(boxes=float (k, 4), labels=int (k,))``, a
prediction the same plus ``scores=float (k,)``; boxes ``x1, y1, x2, y2`` in pixels;
class ids 1..K (``class_names[id - 1]``; 0 = background, never a label).

>>> from course_utils.detection import metrics
>>> report = metrics.evaluate_detections(predictions, targets, score_threshold=0.5)
>>> report.summary        # mAP50, mAP75, mAP50-95 (COCO), DeepPCB mAP and F-score
>>> report.ap             # AP per class x IoU threshold, plus the mAP row
>>> metrics.deeppcb_table(predictions, targets, score_threshold=0.5)

Matching (COCO's rule, checked against ``pycocotools`` in the tests): per image and
class, predictions are visited in order of decreasing score; each takes the
still-unmatched ground-truth box with the highest IoU if that IoU is at least the
threshold (``strict=True``: greater than, the DeepPCB rule "IoU > 0.33"): a true
positive (TP); otherwise a false positive (FP). AP is the area under the PR curve
made monotone, sampled at the 101 recall points 0, 0.01, ..., 1 (``"101"``, COCO)
or integrated at every recall step (``"all"``, Pascal VOC 2010+). A class without
ground-truth boxes has AP NaN and is left out of the mean. Not modelled: COCO's crowd
boxes, area ranges and the 100-detections-per-image cap.

The DeepPCB protocol (the data set's README): a detection counts if its IoU with a
box of the same class is > 0.33; mAP and F-score = 2PR / (P + R) at a chosen
confidence threshold. The kit matches greedily by score and reports VOC all-point
AP; the data set's own script (adapted from ICDAR 2015) matches in list order and
sums precision at each TP, which can differ by a little.

Notebook 07's tables (``image_id, x1, y1, x2, y2, score, label`` with 0-based labels)
go through :func:`match_detections`, :func:`average_precision_at_iou` and
:func:`detection_ap_table`, which convert them to these lists.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from course_utils.detection.boxes import as_boxes
from course_utils.detection.matching import check_detections, label_names, match_all, prf, threshold_array
from course_utils.detection.pcb import PCB_CLASSES

__all__ = [
    "COCO_IOU_THRESHOLDS", "DEEPPCB_IOU",
    "match_predictions", "precision_recall_from_matches",
    "interpolated_average_precision", "average_precision", "ap_table", "map_summary",
    "pr_curves", "precision_recall_table", "deeppcb_table",
    "tables_to_lists", "match_detections", "average_precision_at_iou", "detection_ap_table",
]

#: COCO's IoU thresholds 0.50, 0.55, ..., 0.95 (the "50-95" of mAP50-95).
COCO_IOU_THRESHOLDS = tuple(np.round(np.linspace(0.5, 0.95, 10), 2).tolist())
_AP_METHODS = ("101", "all")
#: DeepPCB's rule: a detection counts if IoU > 0.33 with a box of the same class.
DEEPPCB_IOU = 0.33


def _check_method(method: str) -> None:
    if method not in _AP_METHODS:
        raise ValueError(f"method={method!r} is not one of {_AP_METHODS} ('101' = COCO, 'all' = VOC all-point).")


def match_predictions(predictions, targets, *, iou_threshold: float = 0.5, strict: bool = False) -> pd.DataFrame:
    """Every prediction with its match, sorted by decreasing score.

    Columns: ``image`` (index in the lists), ``det`` (index in that image's
    prediction), ``label``, ``score``, ``iou`` (best IoU with a same-class box),
    ``tp`` (bool) and ``gt_index`` (matched box in that image's target, -1 for a FP).

    Used by: tests/detection/test_detection_metrics.py"""
    preds, gts = check_detections(predictions, targets)
    m = match_all(preds, gts, threshold_array(iou_threshold), strict)
    table = pd.DataFrame({k: m[k] for k in ("image", "det", "label", "score", "iou")})
    table["tp"], table["gt_index"] = m["tp"][:, 0], m["gt_index"][:, 0]
    return table.sort_values("score", ascending=False, kind="mergesort").reset_index(drop=True)


# ---------------------------------------------------------------------------
# Average precision
# ---------------------------------------------------------------------------
def precision_recall_from_matches(tp, n_ground_truths: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each detection (detections sorted by score).

    ``precision[k] = TP_k / (k + 1)`` and ``recall[k] = TP_k / n_ground_truths``
    with ``TP_k`` the true positives among the first ``k + 1`` detections.

    Taught in: 07_metrics_evaluation"""
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

    Taught in: 16_detection_evaluation"""
    _check_method(method)
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


def _class_ap(m: dict, label: int, k: int, method: str) -> float:
    n_gt = int((m["gt_labels"] == label).sum())
    if n_gt == 0:
        return float("nan")
    sel = np.flatnonzero(m["label"] == label)
    sel = sel[np.argsort(-m["score"][sel], kind="mergesort")]  # COCO: image order, then score, stable
    precision, recall = precision_recall_from_matches(m["tp"][sel, k], n_gt)
    return interpolated_average_precision(precision, recall, method)


def average_precision(predictions, targets, *, label: int, iou_threshold: float = 0.5, method: str = "101",
                      strict: bool = False) -> float:
    """AP of class ``label`` at one IoU threshold; NaN if the class has no ground-truth box.

    Used by: tests/detection/test_detection_metrics.py"""
    _check_method(method)
    preds, gts = check_detections(predictions, targets)
    m = match_all(preds, gts, threshold_array(iou_threshold), strict)
    return _class_ap(m, int(label), 0, method)


def ap_table(predictions, targets, *, iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS, method: str = "101",
             class_names: Sequence[str] | None = PCB_CLASSES, strict: bool = False) -> pd.DataFrame:
    """AP of every class at every IoU threshold, plus the mean over classes (``mAP`` row).

    Rows: the classes that have ground-truth boxes (named ``class_names[id - 1]``,
    or by id when ``class_names`` is None) and ``mAP``; columns: the thresholds.
    COCO's "AP" (mAP50-95) is the mean of the ``mAP`` row (:func:`map_summary`).

    Taught in: 16_detection_evaluation"""
    _check_method(method)
    preds, gts = check_detections(predictions, targets)
    thresholds = threshold_array(iou_thresholds)
    m = match_all(preds, gts, thresholds, strict)
    labels = sorted(int(c) for c in np.unique(m["gt_labels"]))
    rows = {name: [_class_ap(m, c, k, method) for k in range(len(thresholds))]
            for name, c in zip(label_names(class_names, labels), labels)}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=[float(t) for t in thresholds])
    table.loc["mAP"] = table.mean(axis=0)
    table.columns.name = "IoU threshold"
    return table


def map_summary(table: pd.DataFrame) -> pd.Series:
    """``mAP50``, ``mAP75`` and ``mAP50-95`` (mean over 0.50, 0.55, ..., 0.95) from :func:`ap_table`.

    Taught in: 07_metrics_evaluation"""
    if not isinstance(table, pd.DataFrame) or "mAP" not in table.index:
        raise ValueError("ap_table must be the table returned by ap_table/detection_ap_table (it has an 'mAP' row).")
    row = table.loc["mAP"]
    out = {}
    for key, t in (("mAP50", 0.5), ("mAP75", 0.75)):
        hit = [c for c in row.index if abs(float(c) - t) < 1e-9]
        out[key] = float(row[hit[0]]) if hit else float("nan")
    coco = [c for c in row.index if any(abs(float(c) - t) < 1e-9 for t in COCO_IOU_THRESHOLDS)]
    out["mAP50-95"] = float(row[coco].mean()) if len(coco) == len(COCO_IOU_THRESHOLDS) else float("nan")
    return pd.Series(out, name="mAP")


# ---------------------------------------------------------------------------
# PR curves, scores at a confidence threshold, the DeepPCB protocol
# ---------------------------------------------------------------------------
def pr_curves(predictions, targets, *, iou_threshold: float = 0.5, class_names: Sequence[str] = PCB_CLASSES,
              strict: bool = False) -> dict[str, pd.DataFrame]:
    """PR curve of every class with ground-truth boxes: ``{name: DataFrame(score, precision, recall)}``.

    Row k is the curve after keeping the k + 1 highest-scoring predictions of the
    class, i.e. at confidence threshold ``score``.

    Taught in: 16_detection_evaluation"""
    preds, gts = check_detections(predictions, targets)
    m = match_all(preds, gts, threshold_array(iou_threshold), strict)
    curves = {}
    labels = sorted(int(c) for c in np.unique(m["gt_labels"]))
    for name, c in zip(label_names(class_names, labels), labels):
        sel = np.flatnonzero(m["label"] == c)
        sel = sel[np.argsort(-m["score"][sel], kind="mergesort")]
        precision, recall = precision_recall_from_matches(m["tp"][sel, 0], int((m["gt_labels"] == c).sum()))
        curves[name] = pd.DataFrame({"score": m["score"][sel], "precision": precision, "recall": recall})
    return curves


def precision_recall_table(predictions, targets, *, score_threshold: float = 0.5, iou_threshold: float = 0.5,
                           strict: bool = False, method: str = "all",
                           class_names: Sequence[str] = PCB_CLASSES) -> pd.DataFrame:
    """Per class: AP (all predictions), and TP, FP, FN, precision, recall, F-score at ``score_threshold``.

    Rows: every class with boxes or predictions, and ``all`` (AP column = mAP over the
    classes with boxes; P/R/F from the pooled counts, i.e. micro-averaged).

    Used by: course_utils.detection.evaluate, course_utils.detection.widgets, tests/detection/test_detection_metrics.py"""
    if not isinstance(score_threshold, (int, float, np.floating)):
        raise TypeError(f"score_threshold must be a number (a confidence), got {score_threshold!r}.")
    _check_method(method)
    preds, gts = check_detections(predictions, targets)
    m = match_all(preds, gts, threshold_array(iou_threshold), strict)
    kept = m["score"] >= score_threshold
    labels = sorted(int(c) for c in np.unique(np.r_[m["gt_labels"], m["label"]]))
    rows = {}
    for name, c in zip(label_names(class_names, labels), labels):
        tp = int((m["tp"][:, 0] & kept & (m["label"] == c)).sum())
        fp = int((~m["tp"][:, 0] & kept & (m["label"] == c)).sum())
        fn = int((m["gt_labels"] == c).sum()) - tp
        rows[name] = {"AP": _class_ap(m, c, 0, method), "TP": tp, "FP": fp, "FN": fn,
                      **dict(zip(("precision", "recall", "F-score"), prf(tp, fp, fn)))}
    table = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["AP", "precision", "recall", "F-score", "TP", "FP", "FN"])
    tp, fp, fn = (int(table[k].sum()) for k in ("TP", "FP", "FN"))
    table.loc["all"] = [table["AP"].mean(), *prf(tp, fp, fn), tp, fp, fn]
    return table.astype({"TP": np.int64, "FP": np.int64, "FN": np.int64})


def deeppcb_table(predictions, targets, *, score_threshold: float = 0.5,
                  class_names: Sequence[str] = PCB_CLASSES) -> pd.DataFrame:
    """The data set's protocol: same class and IoU > 0.33; AP (all-point) and F-score at a threshold.

    :func:`precision_recall_table` with ``iou_threshold=0.33, strict=True``; the
    ``all`` row holds the data set's two numbers: mAP (``AP``) and ``F-score``.

    Taught in: 14_classical_detection"""
    return precision_recall_table(predictions, targets, score_threshold=score_threshold,
                                  iou_threshold=DEEPPCB_IOU, strict=True, method="all", class_names=class_names)


# ---------------------------------------------------------------------------
# Everything at once
# ---------------------------------------------------------------------------
# ---------------------------------------------------------------------------
# Tables (notebook 07): image_id, x1, y1, x2, y2, [label], [score] with 0-based labels
# ---------------------------------------------------------------------------
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
    as_boxes(df[["x1", "y1", "x2", "y2"]].to_numpy(), name)  # validates the corners
    return df.reset_index(drop=True)


def tables_to_lists(detections, ground_truths) -> tuple[list, list, list]:
    """Tables of boxes (one row per box, 0-based ``label``) -> ``(predictions, targets, image_ids)``.

    Labels become ids ``label + 1`` (the lists reserve 0 for the background);
    the images are those of either table, in sorted order.

    Used by: tests/detection/test_detection_metrics.py"""
    dets = _box_table(detections, "detections", needs_score=True)
    gts = _box_table(ground_truths, "ground_truths", needs_score=False)
    image_ids = sorted(set(dets["image_id"]) | set(gts["image_id"]), key=str)
    cols = ["x1", "y1", "x2", "y2"]
    d_by, g_by = dets.groupby("image_id", sort=False), gts.groupby("image_id", sort=False)
    preds, targets = [], []
    for image in image_ids:
        d = d_by.get_group(image) if image in d_by.groups else dets.iloc[:0]
        g = g_by.get_group(image) if image in g_by.groups else gts.iloc[:0]
        preds.append({"boxes": d[cols].to_numpy(np.float64), "labels": d["label"].to_numpy(np.int64) + 1,
                      "scores": d["score"].to_numpy(np.float64), "rows": d.index.to_numpy()})
        targets.append({"boxes": g[cols].to_numpy(np.float64), "labels": g["label"].to_numpy(np.int64) + 1,
                        "rows": g.index.to_numpy()})
    return preds, targets, image_ids


def match_detections(detections, ground_truths, iou_threshold: float = 0.5) -> pd.DataFrame:
    """Greedy COCO matching of a detections table to a ground-truth table (all classes).

    Returns the detections sorted by score (descending) with three new columns:
    ``iou`` (best IoU with any box of the same image and label), ``tp`` (bool)
    and ``gt_index`` (row of the matched ground truth, -1 for a FP).

    Taught in: 07_metrics_evaluation"""
    if not 0 <= iou_threshold <= 1:
        raise ValueError(f"iou_threshold={iou_threshold!r} must lie in [0, 1], e.g. 0.5.")
    dets = _box_table(detections, "detections", needs_score=True)
    preds, targets, _ = tables_to_lists(dets, ground_truths)
    table = match_predictions(preds, targets, iou_threshold=iou_threshold)
    det_rows = np.array([preds[i]["rows"][d] for i, d in zip(table["image"], table["det"])], dtype=np.int64)
    gt_rows = np.array([targets[i]["rows"][g] if g >= 0 else -1 for i, g in zip(table["image"], table["gt_index"])],
                       dtype=np.int64)
    out = dets.loc[det_rows].assign(iou=table["iou"].to_numpy(), tp=table["tp"].to_numpy(), gt_index=gt_rows)
    return out.sort_values("score", ascending=False, kind="mergesort").reset_index(drop=True)


def average_precision_at_iou(detections, ground_truths, iou_threshold: float = 0.5, *, label=None,
                             method: str = "101") -> float:
    """AP of one class (table ``label``; None: all boxes one class) at one IoU threshold, from tables.

    NaN when the class has no ground-truth boxes, 0.0 when it has boxes but no detections.

    Taught in: 07_metrics_evaluation"""
    _check_method(method)
    dets = _box_table(detections, "detections", needs_score=True)
    gts = _box_table(ground_truths, "ground_truths", needs_score=False)
    if label is None:
        dets, gts, label = dets.assign(label=0), gts.assign(label=0), 0
    preds, targets, _ = tables_to_lists(dets, gts)
    return average_precision(preds, targets, label=int(label) + 1, iou_threshold=iou_threshold, method=method)


def detection_ap_table(detections, ground_truths, *, iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS,
                       method: str = "101", class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`ap_table` from tables; rows named ``class_names[label]`` (0-based) or by the label.

    Taught in: 07_metrics_evaluation"""
    preds, targets, _ = tables_to_lists(detections, ground_truths)
    table = ap_table(preds, targets, iou_thresholds=iou_thresholds, method=method, class_names=class_names)
    if class_names is None:  # name rows by the table's own 0-based labels
        table.index = [r - 1 if r != "mAP" else r for r in table.index]
    return table
