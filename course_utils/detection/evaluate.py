"""The kit's evaluation of one detector on one test set: every table of notebook 16 in one call.

>>> from course_utils.detection import evaluate
>>> report = evaluate.evaluate_detections(predictions, targets)   # lists of dicts, one per image
>>> report.summary                                                # mAP50, mAP50-95, P/R at 0.5, DeepPCB F-score

It sits above :mod:`course_utils.detection.metrics` (AP and P/R tables) and
:mod:`course_utils.detection.analysis` (confusion matrix, error types), which both
build on :mod:`course_utils.detection.matching`.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from course_utils.detection import analysis, metrics
from course_utils.detection.metrics import COCO_IOU_THRESHOLDS
from course_utils.detection.pcb import PCB_CLASSES

__all__ = ["evaluate_detections"]


class DetectionReport:
    """Result of :func:`evaluate_detections` (tables as pandas objects).

    Attributes: ``summary`` (Series: mAP50, mAP75, mAP50-95 with COCO's 101 points,
    mAP50 all-point, DeepPCB mAP and F-score, P and R at the threshold), ``ap``
    (:func:`ap_table`), ``at_threshold`` (:func:`precision_recall_table` at IoU 0.5),
    ``deeppcb`` (:func:`deeppcb_table`), ``confusion`` and ``errors`` (``analysis``).
    """

    def __init__(self, **tables):
        self.__dict__.update(tables)

    def __repr__(self) -> str:
        return f"DetectionReport(score_threshold={self.score_threshold})\n{self.summary.round(4).to_string()}"


def evaluate_detections(predictions, targets, *, class_names: Sequence[str] = PCB_CLASSES,
                        score_threshold: float = 0.5, iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS,
                        method: str = "101") -> DetectionReport:
    """The kit's evaluation of one detector on one test set (see :class:`DetectionReport`).

    Taught in: 15_detector_from_scratch"""
    ap = metrics.ap_table(predictions, targets, iou_thresholds=iou_thresholds, method=method, class_names=class_names)
    at_threshold = metrics.precision_recall_table(predictions, targets, score_threshold=score_threshold,
                                          class_names=class_names)
    deeppcb = metrics.deeppcb_table(predictions, targets, score_threshold=score_threshold, class_names=class_names)
    summary = pd.concat([metrics.map_summary(ap), pd.Series({
        "mAP50 (all-point)": at_threshold.loc["all", "AP"],
        "precision@0.5": at_threshold.loc["all", "precision"], "recall@0.5": at_threshold.loc["all", "recall"],
        "DeepPCB mAP": deeppcb.loc["all", "AP"], "DeepPCB F-score": deeppcb.loc["all", "F-score"]})])
    return DetectionReport(
        summary=summary.rename("value"), ap=ap, at_threshold=at_threshold, deeppcb=deeppcb,
        confusion=analysis.detection_confusion_matrix(predictions, targets, score_threshold=score_threshold,
                                                      class_names=class_names),
        errors=analysis.error_summary(predictions, targets, score_threshold=score_threshold,
                                      class_names=class_names),
        score_threshold=score_threshold)
