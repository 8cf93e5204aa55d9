"""How close the PCB twin is to real DeepPCB pairs: copper fraction, boxes per image, box shapes.

Held-out protocol (issue #27): :func:`load_real_pairs` reads the real pairs of ``../shared/data`` (the
40-pair sample, which the twin was tuned on, and the 160-pair calibration folder), :func:`holdout_split`
splits them by DeepPCB group (one board per group) into a tuning part and a reporting part, and
:func:`check_held_out` refuses a set of pairs that shares a group with the reporting part.

The Project #1 counterpart is :mod:`course_utils.classification.calibration`.
"""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np
import pandas as pd

from course_utils.core.checks import require_real_data
from course_utils.detection.deeppcb import load_deeppcb
from course_utils.detection.formats import box_table
from course_utils.detection.pcb import PCB_CLASSES, DetectionSet

__all__ = ["foreground_fraction", "stroke_widths", "calibration_table", "REAL_FOLDERS", "HOLDOUT_SEED",
           "REPORT_FRACTION", "RealPairs", "pair_groups", "load_real_pairs", "holdout_split", "check_held_out"]


def foreground_fraction(images: np.ndarray, threshold: int = 128) -> np.ndarray:
    """``float64 (N,)`` fraction of copper (dark, ``< threshold``) pixels of each image.

    Used by: solutions/13_pcb_detection_data_solutions, tests/detection/test_detection_data.py"""
    images = np.asarray(images)
    return (images.reshape(len(images), -1) < threshold).mean(axis=1)


def stroke_widths(images: np.ndarray, *, copper: bool = True, threshold: int = 128) -> np.ndarray:
    """``float64 (M,)`` local widths in pixels of the copper strokes (``copper=True``: conductor widths) or of
    the background between them (``copper=False``: clearances), pooled over all ``images`` ``uint8 (N, H, W)``.

    A width is read at each ridge pixel of the distance transform (a pixel at least as far from the other
    value as its 8 neighbours): ``2 * distance - 1``, exact for odd widths and 1 px short for even ones. Each
    ridge pixel counts once, so a long trace weighs more than a round pad. The image border counts as an
    edge (a crop cuts the copper there), so a plane wider than the crop reads as the crop's width.

    Used by: course_utils.detection.calibration, tests/detection/test_pcb_twin_calibration.py"""
    out = []
    for img in np.asarray(images):
        inside = ((img < threshold) if copper else (img >= threshold)).astype(np.uint8)
        dist = cv2.distanceTransform(np.pad(inside, 1), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        ridge = (dist > 0) & (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8)))
        out.append(2.0 * dist[ridge] - 1.0)
    return np.concatenate(out) if out else np.zeros(0)


def calibration_table(real: DetectionSet, synthetic: DetectionSet) -> pd.DataFrame:
    """Side-by-side statistics of a real and a synthetic set, one row per statistic.

    Rows: copper fraction of the templates (mean, p10, p90), boxes per image (mean, min,
    max), class shares, and per class the median box width, height and aspect ratio
    (width / height). Columns ``real``, ``synthetic`` and ``ratio`` (synthetic / real).

    Taught in: 13_pcb_detection_data"""
    rows: dict[str, tuple[float, float]] = {}

    def add(name, fn):
        rows[name] = (float(fn(real)), float(fn(synthetic)))

    def board(ds):  # the defect-free layout when the set has templates
        return ds.templates if ds.templates is not None else ds.images

    fracs = {id(ds): foreground_fraction(board(ds)) for ds in (real, synthetic)}
    add("copper fraction mean", lambda ds: fracs[id(ds)].mean())
    add("copper fraction p10", lambda ds: np.quantile(fracs[id(ds)], 0.1))
    add("copper fraction p90", lambda ds: np.quantile(fracs[id(ds)], 0.9))
    widths = {(id(ds), c): stroke_widths(board(ds), copper=c)
              for ds in (real, synthetic) for c in (True, False)}
    for c, what in ((True, "conductor width"), (False, "clearance")):
        for q in (50, 90):
            add(f"{what} p{q} (px)", lambda ds, c=c, q=q: np.percentile(widths[(id(ds), c)], q))
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


# ---------------------------------------------------------------------------
# Held-out protocol (issue #27): tune on one part of the real pairs, report on the other
# ---------------------------------------------------------------------------
#: The real folders of ``../shared/data`` (outside the kit), in the order :func:`load_real_pairs` reads them.
REAL_FOLDERS = ("deeppcb_sample", "deeppcb_calibration")
#: Seed of :func:`holdout_split`; fixed once, before any figure was read on either part.
HOLDOUT_SEED = 27
#: Share of the free calibration pairs (groups with no board in the sample) that goes to the reporting part.
REPORT_FRACTION = 0.5


class RealPairs(NamedTuple):
    """Real pairs read by :func:`load_real_pairs`, sample first; ``groups`` and ``source`` have one entry a pair."""
    pairs: DetectionSet   # images, templates, boxes, labels, image_ids of both folders
    groups: np.ndarray    # ``str (N,)`` DeepPCB group, e.g. "group00041" (:func:`pair_groups`)
    source: np.ndarray    # ``str (N,)`` the folder each pair came from (an entry of REAL_FOLDERS)


def pair_groups(image_ids) -> np.ndarray:
    """``str (N,)`` DeepPCB group of each 8-digit pair id: ``"00041006"`` -> ``"group00041"``.

    A DeepPCB group holds the crops of one board image, so pairs of one group share a layout.

    Used by: tests/detection/test_pcb_holdout.py"""
    ids = [str(i) for i in image_ids]
    bad = [i for i in ids if len(i) != 8 or not i.isdigit()]
    if bad:
        raise ValueError(f"image_ids must be 8-digit DeepPCB ids such as '00041006'; got {bad[:3]}.")
    return np.array(["group" + i[:5] for i in ids], dtype=str)


def load_real_pairs(data_dir) -> RealPairs:
    """Read the real pairs of both folders of ``data_dir`` (e.g. ``../shared/data``), sample first.

    Raises ``FileNotFoundError`` naming the missing folder(s); the kit never needs them (the benchmarks do).

    Used by: benchmarks/bench_detection.py, tests/detection/test_pcb_holdout.py"""
    data_dir = require_real_data(data_dir, REAL_FOLDERS, what="the real DeepPCB pairs", folders=True)
    parts = [load_deeppcb(data_dir / name) for name in REAL_FOLDERS]
    pairs = DetectionSet(images=np.concatenate([p.images for p in parts]),
                         templates=np.concatenate([p.templates for p in parts]),
                         boxes=[b for p in parts for b in p.boxes], labels=[lab for p in parts for lab in p.labels],
                         image_ids=[i for p in parts for i in p.image_ids], source="deeppcb",
                         info={"root": str(data_dir), "folders": REAL_FOLDERS})
    source = np.array([name for name, p in zip(REAL_FOLDERS, parts) for _ in range(len(p))], dtype=str)
    return RealPairs(pairs, pair_groups(pairs.image_ids), source)


def holdout_split(real: RealPairs, *, seed: int = HOLDOUT_SEED,
                  report_fraction: float = REPORT_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Split the real pairs by DeepPCB group into a tuning part and a reporting part.

    The twin was tuned on the sample, so every sample pair, and every calibration pair of a group that has a
    board in the sample, is on the tuning side. The free groups (calibration only) are shuffled with ``seed``
    and moved whole to the reporting part until it holds ``report_fraction`` of the free pairs (at least one
    group). On the shared data only group77000 (24 pairs) is free: the reporting part is that group.

    Returns
    -------
    tune_idx, report_idx : sorted ``int64`` indices into ``real``, disjoint, covering it, no group on both sides.

    Raises ``ValueError`` for a fraction outside (0, 1) or when no group is free of the sample.

    Used by: benchmarks/bench_detection.py, tests/detection/test_pcb_holdout.py"""
    if not 0 < report_fraction < 1:
        raise ValueError(f"report_fraction={report_fraction!r} must lie strictly between 0 and 1, e.g. 0.5.")
    sample = real.source == REAL_FOLDERS[0]
    free = np.unique(real.groups[~np.isin(real.groups, real.groups[sample])])
    if not len(free):
        raise ValueError("every group of the calibration pairs also has a board in the sample: no group is free "
                         "to report on; add pairs of another DeepPCB group.")
    order = np.random.default_rng(seed).permutation(free)
    sizes = np.array([np.sum(real.groups == g) for g in order])
    n_groups = max(1, int(np.searchsorted(np.cumsum(sizes), report_fraction * sizes.sum()) + 1))
    report_idx = np.flatnonzero(np.isin(real.groups, order[:min(n_groups, len(order))])).astype(np.int64)
    tune_idx = np.setdiff1d(np.arange(len(real.groups)), report_idx).astype(np.int64)
    return tune_idx, report_idx


def check_held_out(image_ids, report_ids, what: str = "these pairs") -> None:
    """Raise ``ValueError`` if ``image_ids`` (pairs that a tuning step read) share a DeepPCB group with
    ``report_ids`` (the pairs a figure is reported on).

    A benchmark calls it on the pairs the twin was tuned on and on the pairs it trains on, before it
    scores the reporting part, so that no figure is reported on pairs (or group siblings of pairs) that
    tuning has seen.

    Used by: benchmarks/bench_detection.py, tests/detection/test_pcb_holdout.py"""
    shared = np.intersect1d(pair_groups(image_ids), pair_groups(report_ids))
    if len(shared):
        raise ValueError(f"{what} share {len(shared)} DeepPCB group(s) with the reporting part "
                         f"({', '.join(shared[:5])}); a figure measured on them is not a held-out measurement.")
