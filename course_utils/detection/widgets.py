"""An ipywidgets threshold tool: confidence and IoU sliders redraw TP / FP / FN boxes and P, R, F.

It plays the role of the course's PyQt threshold tool. The drawing function
:func:`threshold_view` is plain matplotlib (testable without a browser); the widget
only wires sliders to it.

>>> from course_utils.detection import widgets
>>> widgets.threshold_view(ds.images[0], predictions[0], targets[0], score_threshold=0.5, iou_threshold=0.5)
>>> widgets.threshold_tool(ds.images, predictions, targets)      # in Jupyter
>>> index, low, high = widgets.contrasting_thresholds(predictions)  # an image whose two views differ
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from course_utils.detection.analysis import image_outcomes
from course_utils.detection.draw import draw_boxes
from course_utils.detection.metrics import precision_recall_table
from course_utils.detection.pcb import PCB_CLASSES

__all__ = ["threshold_view", "threshold_tool", "contrasting_thresholds"]

#: Box colours: true positive, false positive, missed ground truth (false negative).
COLOURS = {"TP": "tab:green", "FP": "tab:red", "FN": "tab:orange"}


def threshold_view(image, prediction: dict, target: dict, *, score_threshold: float = 0.5,
                   iou_threshold: float = 0.5, class_names: Sequence[str] = PCB_CLASSES, ax=None) -> dict:
    """Draw one image with its TP (green), FP (red) and missed (orange, dashed) boxes; return the outcomes.

    ``image``: ``uint8 (H, W)``. Returns :func:`analysis.image_outcomes`'s dict plus
    ``ax``; the title shows P, R and F of this image. The boxes are drawn by
    ``draw.draw_boxes``, one colour per outcome (:data:`COLOURS`), with the class
    name (and the score of a prediction).

    Taught in: 16_detection_evaluation
    """
    out = image_outcomes(prediction, target, score_threshold=score_threshold, iou_threshold=iou_threshold)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    groups = (("TP", prediction, out["tp"], "-"), ("FP", prediction, out["fp"], "-"), ("FN", target, out["fn"], "--"))
    for k, (kind, source, idx, style) in enumerate(groups):
        idx = np.asarray(idx, dtype=np.int64)
        scores = None if kind == "FN" else np.asarray(prediction["scores"]).reshape(-1)[idx]
        draw_boxes(image if k == 0 else None, np.asarray(source["boxes"]).reshape(-1, 4)[idx],
                   np.asarray(source["labels"]).reshape(-1)[idx], scores, class_names=class_names, ax=ax,
                   color=COLOURS[kind], linewidth=1.6, linestyle=style)
    ax.set_title(f"conf >= {score_threshold:.2f}, IoU >= {iou_threshold:.2f}: TP {len(out['tp'])}, "
                 f"FP {len(out['fp'])}, FN {len(out['fn'])} | P {out['precision']:.2f} R {out['recall']:.2f} "
                 f"F {out['f1']:.2f}", fontsize=9)
    ax.axis("off")
    return {**out, "ax": ax}


def threshold_tool(images, predictions: Sequence[dict], targets: Sequence[dict], *,
                   class_names: Sequence[str] = PCB_CLASSES):
    """Jupyter widget: image index, confidence and IoU sliders; also prints the whole set's P, R, F.

    Taught in: 16_detection_evaluation"""
    import ipywidgets as w

    if not (len(images) == len(predictions) == len(targets)):
        raise ValueError(f"images ({len(images)}), predictions ({len(predictions)}) and targets ({len(targets)}) "
                         "must have one entry per image.")

    def show(index: int, score_threshold: float, iou_threshold: float) -> None:
        fig, ax = plt.subplots(figsize=(6.5, 6.5))
        threshold_view(images[index], predictions[index], targets[index], score_threshold=score_threshold,
                       iou_threshold=iou_threshold, class_names=class_names, ax=ax)
        plt.show()
        row = precision_recall_table(predictions, targets, score_threshold=score_threshold,
                                     iou_threshold=iou_threshold, class_names=class_names).loc["all"]
        print(f"whole set: P {row['precision']:.3f}  R {row['recall']:.3f}  F {row['F-score']:.3f}  "
              f"(TP {int(row['TP'])}, FP {int(row['FP'])}, FN {int(row['FN'])})")

    return w.interactive(show, index=w.IntSlider(0, 0, len(images) - 1, description="image"),
                         score_threshold=w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="conf"),
                         iou_threshold=w.FloatSlider(value=0.5, min=0.05, max=0.95, step=0.05, description="IoU"))


def contrasting_thresholds(predictions: Sequence[dict], low: float = 0.2, high: float = 0.7) -> tuple[int, float, float]:
    """An image and two confidence thresholds whose :func:`threshold_view` pictures differ: ``(index, low, high)``.

    Two views of one image differ only if a predicted box of that image scores in ``[low, high)``: the
    higher threshold drops it. The image with the most such boxes is chosen. When no image has one,
    ``low`` and ``high`` move to the 25th and 75th percentile of all scores and the image is chosen again.
    Raises ``ValueError`` when no box scores in between (no predictions, or every score the same).

    Taught in: 16_detection_evaluation"""
    if not low < high:
        raise ValueError(f"low ({low}) must be below high ({high}); e.g. low=0.2, high=0.7.")
    scores = [np.asarray(p["scores"], dtype=float).reshape(-1) for p in predictions]

    def between(lo: float, hi: float) -> np.ndarray:
        return np.array([int(((s >= lo) & (s < hi)).sum()) for s in scores], dtype=int)

    counts = between(low, high) if scores else np.zeros(0, dtype=int)
    if counts.size and counts.max() == 0 and sum(s.size for s in scores):
        low, high = (float(q) for q in np.quantile(np.concatenate(scores), [0.25, 0.75]))
        counts = between(low, high)
    if not counts.size or counts.max() == 0:
        raise ValueError("no predicted box scores between two thresholds, so every threshold shows the same picture; "
                         "pass predictions with boxes of different scores (e.g. the detector's raw output).")
    return int(counts.argmax()), low, high
