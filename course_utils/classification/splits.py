"""Train / validation / test splits of wafer sets, and saving them.

* :func:`stratified_split` keeps every class's share in every part (the course's 65/20/15).
* :func:`lot_split` keeps whole lots on one side (wafers of a lot look alike: a
  random split leaks them into the test set).
* :func:`official_split` is the WM-811K authors' Training/Test split (real file only).
* :func:`stratified_subsample` draws a smaller set with the same class mix.
* :func:`split_table` counts classes per part; :func:`save_splits` / :func:`load_splits`
  store index triples in one ``.npz``.

All functions return sorted ``int64`` index arrays into the set they were given.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from course_utils.core.checks import check_labels, largest_remainder
from course_utils.core.config import atomic_write
from course_utils.classification.wafers import CLASS_NAMES
from course_utils.classification.wafers import WaferSet

__all__ = ["stratified_split", "lot_split", "official_split", "stratified_subsample", "sample_lots",
           "split_table", "save_splits", "load_splits"]


def stratified_subsample(labels, n_samples: int, seed: int = 0) -> np.ndarray:
    """Sorted ``int64`` indices of ``n_samples`` wafers drawn per class in proportion.

    Each class (``-1`` = unlabeled counts as one more group) gets its share by
    largest-remainder rounding, and at least one wafer while ``n_samples`` allows.

    Used by: course_utils.classification.data, solutions/01_dataset_exploration_solutions"""
    labels = np.asarray(labels)
    if not 1 <= n_samples <= len(labels):
        raise ValueError(f"n_samples={n_samples} must lie between 1 and the number of wafers ({len(labels)}).")
    classes, counts = np.unique(labels, return_counts=True)
    take = largest_remainder(counts, n_samples)
    # give empty-handed classes one wafer each, taken from the largest shares
    for k in np.flatnonzero(take == 0):
        donor = int(np.argmax(take))
        if take[donor] <= 1:
            break
        take[donor] -= 1
        take[k] = 1
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(labels == c), size=t, replace=False) for c, t in zip(classes, take)]
    return np.sort(np.concatenate(picked)).astype(np.int64)


def sample_lots(lots, *, n_lots: int | None = None, n_wafers: int | None = None, seed: int = 0) -> np.ndarray:
    """Sorted ``int64`` indices of all the wafers of randomly chosen whole lots.

    A leakage experiment needs lot siblings together: drawing single wafers from a big set
    almost never keeps two wafers of one lot. Give exactly one of

    n_lots : int
        Number of lots to draw (all their wafers are kept).
    n_wafers : int
        Lots are drawn in random order until adding the next one would pass ``n_wafers``
        wafers (at least one lot is always kept).

    ``lots`` is a WaferSet (its ``lot``) or an array ``(N,)`` of lot names.

    Taught in: 01_dataset_exploration"""
    if isinstance(lots, WaferSet):
        if lots.lot is None:
            raise ValueError("This WaferSet has no lot names (ws.lot is None), so whole lots cannot be sampled.")
        lots = lots.lot
    if (n_lots is None) == (n_wafers is None):
        raise TypeError("sample_lots: give exactly one of n_lots or n_wafers.")
    names, lot_of, sizes = np.unique(np.asarray(lots), return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    if n_lots is not None:
        if not 1 <= n_lots <= len(names):
            raise ValueError(f"n_lots={n_lots} must lie between 1 and the number of lots ({len(names)}).")
        chosen = order[:n_lots]
    else:
        if n_wafers < 1:
            raise ValueError(f"n_wafers={n_wafers} must be a positive number of wafers.")
        chosen = order[:max(1, int(np.searchsorted(np.cumsum(sizes[order]), n_wafers, side="right")))]
    return np.flatnonzero(np.isin(lot_of.ravel(), chosen)).astype(np.int64)


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------
def _check_fractions(fractions) -> tuple[float, float, float]:
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(f < 0 for f in fr) or fr[0] <= 0 or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(
            f"fractions={fractions!r} must be three non-negative numbers (train, val, test) "
            "with train > 0 that add up to 1, e.g. (0.65, 0.20, 0.15)."
        )
    return fr


def stratified_split(labels, fractions=(0.65, 0.20, 0.15), seed: int = 0):
    """Split indices into train/val/test with the same class proportions in each.

    Parameters
    ----------
    labels : array-like ``(N,)`` of class indices (unlabeled wafers, -1, are not allowed)
    fractions : (train, val, test), adding up to 1 (the course uses 65/20/15)
    seed : int

    Returns
    -------
    train_idx, val_idx, test_idx : ``int64`` arrays, disjoint, covering ``range(N)``.
        Every class is split on its own (largest-remainder rounding), so a class
        with at least 3 wafers has at least one in each part when its fractions are > 0.

    Taught in: 01_dataset_exploration"""
    fr = _check_fractions(fractions)
    labels = _split_labels(labels)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n = len(idx)
        # largest-remainder rounding, but every non-empty part gets at least one
        # wafer when the class is large enough
        sizes = largest_remainder(fr, n)
        for k in range(3):
            if fr[k] > 0 and sizes[k] == 0 and n >= 3:
                donor = int(np.argmax(sizes))
                sizes[donor] -= 1
                sizes[k] += 1
        bounds = np.cumsum(sizes)[:-1]
        for k, chunk in enumerate(np.split(idx, bounds)):
            parts[k].append(chunk)
    return tuple(np.sort(np.concatenate(p)).astype(np.int64) for p in parts)


def _split_labels(labels, name: str = "labels") -> np.ndarray:
    """Class indices to split: a non-empty 1-D integer array without unlabeled wafers."""
    if np.ndim(labels) == 1 and len(labels) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array; got an empty one (check the filters).")
    return check_labels(labels, name)


def lot_split(lots, labels=None, fractions=(0.65, 0.20, 0.15), seed: int = 0):
    """Split wafers into train/val/test so that no lot is on two sides.

    Wafers of one lot share a process history, so they look alike; if a lot's
    wafers land in both train and test, the test score partly measures memory of
    that lot and overestimates how the model does on a new lot.

    Parameters
    ----------
    lots : WaferSet, or array-like ``(N,)`` of lot names / ids
        A WaferSet supplies both ``lot`` and ``labels``.
    labels : array-like ``(N,)`` of class indices (not needed with a WaferSet)
    fractions : (train, val, test), adding up to 1
    seed : int

    Returns
    -------
    train_idx, val_idx, test_idx : sorted ``int64`` arrays, disjoint, covering ``range(N)``.

    Notes
    -----
    Whole lots are assigned greedily: lots holding the rarest classes first
    (random order among equals), each to the part whose class counts are
    furthest below their targets ``fraction * class total`` (relative to the target). Class proportions
    therefore match the fractions roughly, not exactly (a lot is indivisible).

    Taught in: 01_dataset_exploration"""
    if isinstance(lots, WaferSet):
        if labels is not None:
            raise TypeError("lot_split(ws) takes its labels from the WaferSet; do not pass labels as well.")
        if lots.lot is None:
            raise ValueError("This WaferSet has no lot names (ws.lot is None), so it cannot be split by lot.")
        lots, labels = lots.lot, lots.labels
    if labels is None:
        raise TypeError("lot_split(lots, labels): pass the class labels of the wafers (or a WaferSet).")
    fr = np.array(_check_fractions(fractions))
    labels = _split_labels(labels)
    lots = np.asarray(lots)
    if lots.shape != labels.shape:
        raise ValueError(f"lots has shape {lots.shape} but labels has shape {labels.shape}; one lot per wafer.")
    lot_names, lot_of = np.unique(lots, return_inverse=True)
    lot_of = lot_of.ravel()
    n_parts = int((fr > 0).sum())
    if len(lot_names) < n_parts:
        raise ValueError(
            f"Only {len(lot_names)} distinct lot(s) for {n_parts} non-empty parts; a lot split needs at least "
            "one lot per part. Use stratified_split instead, or fewer parts (e.g. fractions=(0.8, 0.2, 0.0))."
        )
    n_classes = int(labels.max()) + 1
    counts = np.bincount(lot_of * n_classes + labels, minlength=len(lot_names) * n_classes)
    counts = counts.reshape(len(lot_names), n_classes).astype(np.float64)
    totals = counts.sum(axis=0)
    rng = np.random.default_rng(seed)
    rarest = np.where(counts > 0, totals, np.inf).min(axis=1)  # size of the rarest class in each lot
    order = np.lexsort((rng.random(len(lot_names)), rarest))
    relative = counts / np.maximum(totals, 1)  # share of each class's wafers that a lot holds
    open_parts = fr > 0  # parts with fraction 0 never receive a lot
    # deficit[p, k]: part of the target "fraction_p * total_k" still missing (1 = empty, 0 = reached)
    deficit = np.ones((3, n_classes))
    step = np.where(open_parts, 1 / np.where(open_parts, fr, 1), 0)[:, None]  # 1 wafer-share in target units
    part_of_lot = np.empty(len(lot_names), dtype=np.int64)
    for lot in order:
        score = np.where(open_parts, deficit @ relative[lot], -np.inf)
        part = int(np.argmax(score))
        part_of_lot[lot] = part
        deficit[part] -= step[part, 0] * relative[lot]
    part = part_of_lot[lot_of]
    return tuple(np.flatnonzero(part == k).astype(np.int64) for k in range(3))


def official_split(ws: WaferSet, *, val_fraction: float = 0.2, seed: int = 0):
    """The WM-811K authors' Training/Test split, with a validation part taken from Training.

    Parameters
    ----------
    ws : WaferSet with ``official_split`` (``"Training"`` / ``"Test"``), i.e. loaded from the real file
    val_fraction : float in [0, 1)
        Share of the Training wafers held out (stratified) for validation; 0 gives an empty val part.
    seed : int

    Returns
    -------
    train_idx, val_idx, test_idx : sorted ``int64`` arrays into ``ws``. Unlabeled wafers are left out.

    Taught in: 01_dataset_exploration"""
    if not isinstance(ws, WaferSet):
        raise TypeError(f"official_split needs a WaferSet; got {type(ws).__name__}.")
    if ws.official_split is None or not np.isin(ws.official_split, ("Training", "Test")).any():
        raise ValueError(
            f"This WaferSet (source={ws.source!r}) has no official Training/Test labels; only the real "
            "WM-811K file does. Use stratified_split or lot_split instead."
        )
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction!r} must lie in [0, 1), e.g. 0.2.")
    labeled = ws.labels >= 0
    pool = np.flatnonzero((ws.official_split == "Training") & labeled)
    test = np.flatnonzero((ws.official_split == "Test") & labeled).astype(np.int64)
    if val_fraction == 0:
        return pool.astype(np.int64), np.empty(0, dtype=np.int64), test
    train_part, val_part, _ = stratified_split(ws.labels[pool], (1 - val_fraction, val_fraction, 0.0), seed=seed)
    return pool[train_part].astype(np.int64), pool[val_part].astype(np.int64), test


def split_table(labels, splits: dict, class_names=CLASS_NAMES) -> pd.DataFrame:
    """Class counts and shares per split, one row per class (plus ``total``).

    Parameters
    ----------
    labels : array-like ``(N,)`` of class indices
    splits : dict name -> index array, e.g. ``{"train": tr, "val": va, "test": te}``

    Returns
    -------
    DataFrame with columns ``<name>`` (counts) and ``<name> %`` (share of that split).

    Taught in: 01_dataset_exploration"""
    labels = np.asarray(labels)
    table = {}
    for name, idx in splits.items():
        counts = np.bincount(labels[np.asarray(idx, dtype=np.int64)], minlength=len(class_names))
        table[name] = counts
        table[f"{name} %"] = np.round(100 * counts / max(counts.sum(), 1), 2)
    frame = pd.DataFrame(table, index=list(class_names))
    frame.loc["total"] = [frame[c].sum() if not c.endswith("%") else 100.0 for c in frame.columns]
    return frame


def save_splits(path, splits: dict) -> Path:
    """Save named train/val/test index triples to one ``.npz`` file (atomically, no pickles).

    Parameters
    ----------
    path : path-like, e.g. ``out / "splits.npz"``
    splits : dict name -> (train_idx, val_idx, test_idx), e.g. ``{"lot": splits.lot_split(ws)}``

    The file holds arrays ``<name>_train``, ``<name>_val``, ``<name>_test``;
    :func:`load_splits` reads them back.

    Taught in: 01_dataset_exploration"""
    arrays = {}
    for name, parts in splits.items():
        if not isinstance(name, str) or not name.isidentifier() or len(parts) != 3:
            raise ValueError(
                f"splits must map a name (letters, digits, _) to (train_idx, val_idx, test_idx); got {name!r}."
            )
        for part, idx in zip(("train", "val", "test"), parts):
            arrays[f"{name}_{part}"] = np.asarray(idx, dtype=np.int64)
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def load_splits(path) -> dict:
    """Read a file written by :func:`save_splits`: dict name -> (train_idx, val_idx, test_idx).

    Taught in: 01_dataset_exploration"""
    with np.load(path, allow_pickle=False) as npz:
        names = sorted({key.rsplit("_", 1)[0] for key in npz.files})
        return {name: tuple(npz[f"{name}_{part}"] for part in ("train", "val", "test")) for name in names}

