"""Map statistics that compare the synthetic WM-811K twin with real wafer maps.

The twin (:mod:`course_utils.classification.twin`) is calibrated on statistics of real
maps, never on the maps themselves. :func:`map_statistics` measures, per map,
how much of the wafer is defective and how the defective dies are arranged
(connected clusters, straight runs); :func:`calibration_table` puts the
per-class quantiles of real and synthetic maps side by side.

The held-out protocol (issue #27): :func:`load_real_maps` reads the real maps of ``../shared/data``
(the 270-map sample and the 1,950-map calibration file), :func:`holdout_split` splits them by lot into a
tuning part and a reporting part, and :func:`check_held_out` refuses a set of maps that shares a lot with
the reporting part. Tune the twin on the tuning part only; report real figures on the reporting part only.

Both sets must be given at the same fixed size (e.g. both resized to 64x64 with
:func:`course_utils.classification.wafers.resize_maps`), so that die blockiness affects them alike.

>>> from course_utils.classification import twin
>>> ws = twin.make_synthetic_wafers(900, proportions="balanced", seed=0)
>>> table = calibration_table(real_maps, real_labels, ws.maps, ws.labels)   # doctest: +SKIP
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import ndimage

from course_utils.core.checks import check_labels, require_real_data
from course_utils.classification.splits import lot_split, stratified_split
from course_utils.classification.wafers import CLASS_NAMES, DEFECT_DIE, WaferSet, resize_maps

__all__ = ["STATISTICS", "map_statistics", "calibration_table", "lot_leakage", "REAL_LOT_LEAKAGE",
           "reweighted_f1", "REAL_FILES", "HOLDOUT_SEED", "REPORT_FRACTION", "RealMaps", "load_real_maps",
           "holdout_split", "check_held_out"]

#: The lot protocol of :func:`lot_leakage` on the real WM-811K file (900 random whole lots, 14,793
#: labeled wafers, 3 seeds; measured on the full file, issue #17): same-lot nearest neighbour under
#: the random split, and macro-F1 (mean, std) of both splits.
REAL_LOT_LEAKAGE = {"same_lot_nn_random": 0.110, "f1_random": (0.549, 0.007), "f1_lot": (0.431, 0.057)}

#: Column names of :func:`map_statistics`, with what they measure.
STATISTICS = {
    "density": "defective dies / dies on the wafer",
    "background": "defective dies outside the largest cluster / dies on the wafer (the noise level)",
    "clusters": "8-connected clusters of defective dies per map",
    "clusters>=16px": "clusters of at least 16 pixels (about 4 dies at 64x64) per map",
    "largest": "largest cluster / dies on the wafer",
    "run": "longest straight run of defective pixels along a row or column (pixels)",
}
#: Neighbourhood of ndimage.label over a (N, H, W) stack: 8-connected inside a map, never across maps.
_STACK_8 = np.zeros((3, 3, 3), dtype=bool)
_STACK_8[1] = True


def _as_stack(maps, name: str) -> np.ndarray:
    arr = np.asarray(maps)
    if arr.ndim != 3 or arr.dtype == object or len(arr) == 0:
        raise ValueError(
            f"{name} must be a non-empty fixed-size uint8 array (N, H, W); got shape {arr.shape}. "
            "Resize variable-size maps first with course_utils.classification.wafers.resize_maps(maps, 64)."
        )
    return arr


def _longest_run(defect: np.ndarray) -> np.ndarray:
    """Longest run of ``True`` along the last axis, per map: ``int64 (N,)`` for ``bool (N, H, W)``."""
    run = np.zeros(defect.shape[:2], dtype=np.int64)
    best = np.zeros(len(defect), dtype=np.int64)
    for j in range(defect.shape[2]):  # one vectorised step per column, over all maps and rows
        run = np.where(defect[:, :, j], run + 1, 0)
        np.maximum(best, run.max(axis=1), out=best)
    return best


def map_statistics(maps) -> pd.DataFrame:
    """Per-map defect statistics (one row per map, columns as in :data:`STATISTICS`).

    Parameters
    ----------
    maps : ``uint8 (N, H, W)`` with 0 off wafer, 1 good die, 2 defective die

    Returns
    -------
    DataFrame ``(N, 6)``: ``density``, ``background``, ``largest`` (fractions of
    the on-wafer pixels), ``clusters``, ``clusters>=16px`` (counts), ``run`` (pixels).

    Used by: tests/classification/test_synthetic.py"""
    maps = _as_stack(maps, "maps")
    n = len(maps)
    on = np.maximum((maps > 0).sum(axis=(1, 2)), 1).astype(np.float64)
    defect = maps == DEFECT_DIE
    labelled, n_clusters = ndimage.label(defect, structure=_STACK_8)   # one call for the whole stack
    sizes = np.bincount(labelled.ravel(), minlength=n_clusters + 1)[1:]
    owner = np.array([box[0].start for box in ndimage.find_objects(labelled)], dtype=np.int64)
    largest = np.zeros(n)
    if n_clusters:
        np.maximum.at(largest, owner, sizes)
    n_defect = defect.sum(axis=(1, 2))
    run = np.maximum(_longest_run(defect), _longest_run(defect.transpose(0, 2, 1)))
    return pd.DataFrame({
        "density": n_defect / on,
        "background": (n_defect - largest) / on,
        "clusters": np.bincount(owner, minlength=n),
        "clusters>=16px": np.bincount(owner[sizes >= 16], minlength=n),
        "largest": largest / on,
        "run": run,
    })


def calibration_table(real_maps, real_labels, synth_maps, synth_labels, *, class_names=CLASS_NAMES,
                      quantiles=(0.1, 0.5, 0.9)) -> pd.DataFrame:
    """Per-class quantiles of :func:`map_statistics` for real and synthetic maps, side by side.

    Parameters
    ----------
    real_maps, synth_maps : ``uint8 (N, H, W)``, both at the same size
    real_labels, synth_labels : ``int (N,)`` class indices
    class_names : names of the class indices
    quantiles : quantiles reported per statistic (default 10 %, 50 %, 90 %)

    Returns
    -------
    DataFrame indexed by (class, statistic), columns ``real q10``, ``real q50``, ...,
    ``synth q10``, ..., and ``gap``: the median difference (synthetic - real) in units
    of the real 10-90 % spread (0 = same median; about 1 = off by the whole real spread).

    Used by: benchmarks/bench_synthetic.py, tests/classification/test_synthetic.py"""
    real_maps, synth_maps = _as_stack(real_maps, "real_maps"), _as_stack(synth_maps, "synth_maps")
    if real_maps.shape[1:] != synth_maps.shape[1:]:
        raise ValueError(
            f"real_maps are {real_maps.shape[1:]} but synth_maps are {synth_maps.shape[1:]}; resize both to the "
            "same size (course_utils.classification.wafers.resize_maps) so that the statistics are comparable."
        )
    parts = {}
    for name, maps, labels in (("real", real_maps, real_labels), ("synth", synth_maps, synth_labels)):
        labels = check_labels(labels, f"{name}_labels", n_classes=len(class_names))
        if len(labels) != len(maps):
            raise ValueError(f"{name}_labels has {len(labels)} entries but {name}_maps has {len(maps)} maps.")
        stats = map_statistics(maps)
        stats["class"] = pd.Categorical(np.asarray(class_names)[labels], categories=list(class_names))
        q = stats.groupby("class", observed=False).quantile(list(quantiles))
        q = q.stack().unstack(1)                              # index (class, statistic), columns quantiles
        q.columns = [f"{name} q{round(100 * v)}" for v in quantiles]
        parts[name] = q
    table = parts["real"].join(parts["synth"])
    lo, hi = f"real q{round(100 * quantiles[0])}", f"real q{round(100 * quantiles[-1])}"
    mid = round(100 * quantiles[len(quantiles) // 2])
    spread = (table[hi] - table[lo]).where(lambda s: s > 0, np.nan)
    table["gap"] = ((table[f"synth q{mid}"] - table[f"real q{mid}"]) / spread).fillna(0.0)
    table.index.names = ["class", "statistic"]
    return table


def lot_leakage(ws: WaferSet, *, seeds=(0, 1, 2), size: int = 32, test_fraction: float = 0.2,
                min_class_size: int = 30) -> pd.DataFrame:
    """How much a random split leaks lot siblings: 1-NN scores, random wafers vs whole lots held out.

    For every seed the wafers are split into train / test twice, by random wafer (stratified) and by
    whole lot (:func:`course_utils.classification.splits.lot_split`); a 1-nearest-neighbour classifier on the maps
    resized to ``size x size`` (die states 0/1/2 as numbers, Euclidean distance) labels the test wafers.

    Parameters
    ----------
    ws : WaferSet with ``lot``, fixed-size maps; sample it by whole lots (:func:`splits.sample_lots`)
    seeds : split seeds (the real figures use 3)
    min_class_size : macro-F1 averages the classes with at least this many wafers in ``ws`` (rarer ones
        may be missing from a lot-disjoint test set, which would change what is averaged)

    Returns
    -------
    DataFrame, one row per (split, seed): ``split`` ("random" / "lot"), ``seed``, ``same-lot NN``
    (fraction of test wafers whose nearest training wafer is from their own lot), ``accuracy``, ``macro-F1``.

    Taught in: 01_dataset_exploration"""
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.neighbors import KNeighborsClassifier

    if ws.lot is None:
        raise ValueError("lot_leakage needs lot names (ws.lot is None).")
    x = resize_maps(ws.maps, size).reshape(len(ws), -1).astype(np.float32)
    scored = np.flatnonzero(np.bincount(ws.labels, minlength=len(ws.class_names)) >= min_class_size)
    fractions = (1 - test_fraction, 0.0, test_fraction)
    rows = []
    for seed in seeds:
        for name, (train, _, test) in (("random", stratified_split(ws.labels, fractions, seed=seed)),
                                       ("lot", lot_split(ws, fractions=fractions, seed=seed))):
            knn = KNeighborsClassifier(n_neighbors=1, algorithm="brute").fit(x[train], ws.labels[train])
            nearest = train[knn.kneighbors(x[test], return_distance=False)[:, 0]]
            pred = ws.labels[nearest]
            rows.append({"split": name, "seed": seed, "same-lot NN": float(np.mean(ws.lot[nearest] == ws.lot[test])),
                         "accuracy": accuracy_score(ws.labels[test], pred),
                         "macro-F1": f1_score(ws.labels[test], pred, labels=scored, average="macro", zero_division=0)})
    return pd.DataFrame(rows)


def reweighted_f1(confusion, class_counts) -> tuple[float, np.ndarray]:
    """Macro-F1 expected on another class mix, from a confusion matrix measured on a balanced set.

    Each row of ``confusion`` (``(C, C)``, rows: true class) is turned into rates and scaled to
    ``class_counts[i]`` wafers (``(C,)``, e.g. the real WM-811K counts), as if every class kept its
    recall and confusions: the same as scikit-learn's F1 with sample weight ``count / row total``.

    Returns
    -------
    macro_f1 : float
    per_class_f1 : ``float64 (C,)``

    Used by: benchmarks/bench_synthetic.py, tests/classification/test_synthetic.py"""
    confusion = np.asarray(confusion, dtype=np.float64)
    counts = np.asarray(class_counts, dtype=np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1] or counts.shape != confusion.shape[:1]:
        raise ValueError(f"confusion must be square (C, C) and class_counts (C,); got {confusion.shape} and "
                         f"{counts.shape}.")
    scaled = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1) * counts[:, None]
    tp = np.diag(scaled)
    denominator = scaled.sum(axis=0) + scaled.sum(axis=1)     # 2 TP + FP + FN
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return float(f1.mean()), f1


# ---------------------------------------------------------------------------
# Held-out protocol (issue #27): tune on one part of the real maps, report on the other
# ---------------------------------------------------------------------------
#: The real files of ``../shared/data`` (outside the kit), in the order :func:`load_real_maps` reads them.
REAL_FILES = ("wm811k_sample.npz", "wm811k_calibration.npz")
#: Seed of :func:`holdout_split`; fixed once, before any figure was read on either part.
HOLDOUT_SEED = 27
#: Share of the calibration file's free maps (those outside the sample's lots) that goes to the reporting part.
REPORT_FRACTION = 0.5


class RealMaps(NamedTuple):
    """Real maps read by :func:`load_real_maps`, one entry per map."""
    maps: object          # list of ``uint8 (H, W)`` maps, or ``uint8 (N, size, size)`` when resized
    labels: np.ndarray    # ``int64 (N,)`` indices into CLASS_NAMES
    lots: np.ndarray      # ``str (N,)`` lotName of the original file (one namespace across both files)
    source: np.ndarray    # ``str (N,)`` the file each map came from (an entry of REAL_FILES)


def load_real_maps(data_dir, size: int | None = None) -> RealMaps:
    """Read the real maps of both files of ``data_dir`` (e.g. ``../shared/data``), sample first.

    Parameters
    ----------
    data_dir : folder holding :data:`REAL_FILES`
    size : None keeps every map at its own die grid (a list); an int resizes all to ``size x size``
        (nearest neighbour, :func:`course_utils.classification.wafers.resize_maps`)

    Raises
    ------
    FileNotFoundError naming the missing file(s); the kit never needs them (the benchmarks do; notebook 20
    scores on them when they are there).

    Also used by benchmarks/bench_synthetic.py and tests/classification/test_holdout.py.

    Taught in: 20_cnn_regression, 23_model_lightweighting
    """
    data_dir = require_real_data(data_dir, REAL_FILES, what="the real WM-811K maps")
    maps, labels, lots, source = [], [], [], []
    for name in REAL_FILES:
        with np.load(data_dir / name, allow_pickle=False) as z:
            flat, shapes, offsets = z["maps_flat"], z["shapes"], z["offsets"]
            maps += [flat[o:o + h * w].reshape(h, w) for o, (h, w) in zip(offsets, shapes)]
            labels += [CLASS_NAMES.index(str(label)) for label in z["label"]]
            lots += [str(lot) for lot in z["lotName"]]
            source += [name] * len(offsets)
    return RealMaps(maps if size is None else resize_maps(maps, size), np.array(labels, dtype=np.int64),
                    np.array(lots), np.array(source))


def holdout_split(real: RealMaps, *, seed: int = HOLDOUT_SEED,
                  report_fraction: float = REPORT_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Split the real maps by lot into a tuning part and a reporting part.

    The twin was tuned on the 270 sample maps, so every sample map, and every calibration map that shares
    a lot with one, is on the tuning side. The other calibration maps are split by whole lot with
    :func:`course_utils.classification.splits.lot_split` (fractions ``(1 - report_fraction, 0,
    report_fraction)``, ``seed``), which balances every class between the two sides. The reporting
    part therefore holds no Near-full map (Near-full exists only in the sample).

    Returns
    -------
    tune_idx, report_idx : sorted ``int64`` indices into ``real``, disjoint, covering it, no lot on both sides.

    Raises
    ------
    ValueError if a class of the free calibration maps ends up on one side only.

    Also used by benchmarks/bench_synthetic.py and tests/classification/test_holdout.py.

    Taught in: 20_cnn_regression
    """
    if not 0 < report_fraction < 1:
        raise ValueError(f"report_fraction={report_fraction!r} must lie strictly between 0 and 1, e.g. 0.5.")
    sample = real.source == REAL_FILES[0]
    free = np.flatnonzero(~sample & ~np.isin(real.lots, real.lots[sample]))
    _, _, report = lot_split(real.lots[free], real.labels[free], (1 - report_fraction, 0.0, report_fraction),
                             seed=seed)
    report_idx = free[report].astype(np.int64)
    tune_idx = np.setdiff1d(np.arange(len(real.labels)), report_idx).astype(np.int64)
    tuned_free = np.setdiff1d(free, report_idx)
    one_sided = [CLASS_NAMES[k] for k in np.unique(real.labels[free])
                 if not (np.isin(k, real.labels[report_idx]) and np.isin(k, real.labels[tuned_free]))]
    if one_sided:
        raise ValueError(f"holdout_split(seed={seed}, report_fraction={report_fraction}) leaves {one_sided} on one "
                         "side only; choose a fraction that gives every class lots on both sides.")
    return tune_idx, report_idx


def check_held_out(lots, report_lots, what: str = "these maps") -> None:
    """Raise ``ValueError`` if ``lots`` (the lot names of a set of maps) shares a lot with ``report_lots``.

    A calibration step calls it on the maps it reads, and a benchmark on the maps the twin was tuned on,
    so that no figure is reported on maps (or lot siblings of maps) that tuning has seen.

    Used by: benchmarks/bench_synthetic.py, tests/classification/test_holdout.py
    """
    shared = np.intersect1d(np.asarray(lots).astype(str), np.asarray(report_lots).astype(str))
    if len(shared):
        raise ValueError(f"{what} share {len(shared)} lot(s) with the reporting part (e.g. {', '.join(shared[:5])}); "
                         "a figure measured on them is not a held-out measurement.")
