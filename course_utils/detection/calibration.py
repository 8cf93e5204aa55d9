"""How close the PCB twin is to real DeepPCB pairs: copper fraction, boxes per image, box shapes.

The Project #1 counterpart is :mod:`course_utils.classification.calibration`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from course_utils.detection.formats import box_table
from course_utils.detection.pcb import PCB_CLASSES, DetectionSet

__all__ = ["foreground_fraction", "calibration_table"]


def foreground_fraction(images: np.ndarray, threshold: int = 128) -> np.ndarray:
    """``float64 (N,)`` fraction of copper (dark, ``< threshold``) pixels of each image.

    Used by: solutions/13_pcb_detection_data_solutions, tests/detection/test_detection_data.py"""
    images = np.asarray(images)
    return (images.reshape(len(images), -1) < threshold).mean(axis=1)


def calibration_table(real: DetectionSet, synthetic: DetectionSet) -> pd.DataFrame:
    """Side-by-side statistics of a real and a synthetic set, one row per statistic.

    Rows: copper fraction of the templates (mean, p10, p90), boxes per image (mean, min,
    max), class shares, and per class the median box width, height and aspect ratio
    (width / height). Columns ``real``, ``synthetic`` and ``ratio`` (synthetic / real).

    Taught in: 13_pcb_detection_data"""
    rows: dict[str, tuple[float, float]] = {}

    def add(name, fn):
        rows[name] = (float(fn(real)), float(fn(synthetic)))

    def frac(ds):
        return foreground_fraction(ds.templates if ds.templates is not None else ds.images)

    add("copper fraction mean", lambda ds: frac(ds).mean())
    add("copper fraction p10", lambda ds: np.quantile(frac(ds), 0.1))
    add("copper fraction p90", lambda ds: np.quantile(frac(ds), 0.9))
    add("boxes per image mean", lambda ds: ds.boxes_per_image().mean())
    add("boxes per image min", lambda ds: ds.boxes_per_image().min())
    add("boxes per image max", lambda ds: ds.boxes_per_image().max())
    tables = {id(real): box_table(real), id(synthetic): box_table(synthetic)}
    for k, name in enumerate(PCB_CLASSES):
        add(f"share {name}", lambda ds, k=k: ds.class_counts()[k] / max(ds.class_counts().sum(), 1))
    for name in PCB_CLASSES:
        for col in ("width", "height", "aspect"):
            add(f"{name} {col} median",
                lambda ds, name=name, col=col: tables[id(ds)].loc[tables[id(ds)]["class"] == name, col].median())
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["real", "synthetic"])
    out["ratio"] = out["synthetic"] / out["real"].where(out["real"] != 0)
    out.index.name = "statistic"
    return out
