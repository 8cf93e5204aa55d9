"""Lots and products of the synthetic WM-811K twin (used by :mod:`course_utils.classification.twin`).

A lot of 25 wafers makes one product (a die grid). Failure types come in runs of consecutive
wafers, and each run is made on a product its type favours, as in the real file. Nothing here
draws a die; :func:`plan_lots` returns the labels and die grids of every wafer.
"""
from __future__ import annotations

import numpy as np

from course_utils.classification.wafers import CLASS_NAMES, NUM_CLASSES

__all__ = ["plan_lots"]

#: Wafers per lot, as in the real fab data (wafer_index runs 1..25).
_WAFERS_PER_LOT = 25
#: Distinct products (die grids) the lots are drawn from, with Zipf-like popularity: real WM-811K has
#: 632 grid shapes, and many lots share one, so a wafer's outline rarely gives its lot away.
_N_PRODUCTS, _PRODUCT_ZIPF = 632, 1.0
#: Mean length of a run of consecutive wafers of one class (runs are cut into lots of 25): real
#: failures come in lot-wide episodes, so a defect class gathers in a few lots.
_RUN_MEAN = np.array([6.0, 4.0, 6.0, 8.0, 5.0, 4.0, 5.0, 4.0, 1.0])
#: The real file's common products (die grids), and the share of each class's wafers made on them, read
#: from the tuning part of the real maps (``calibration.holdout_split``: 1,282 maps, never the reporting part):
#: every grid that holds at least 4.5 % of a class's maps, its share rounded to 0.05. Failure types are not
#: spread evenly over products (58 % of the tuning Center maps are 25 x 27, 47 % of Donut maps 41 x 42), and
#: real 'none' wafers sit on many products (only 30 % on the three small 25-27 die grids). A class's other
#: wafers come from the catalogue.
_HOME_GRIDS = ((25, 27), (27, 25), (26, 26), (39, 37), (41, 42), (35, 40), (35, 31), (45, 50), (56, 41), (44, 41),
               (53, 52), (38, 36), (69, 73), (63, 62), (46, 46), (107, 150), (43, 42), (39, 31), (50, 43),
               (38, 38), (41, 41), (41, 51), (52, 59), (30, 34), (29, 26), (33, 29), (42, 44))
_HOME_SHARE = {
    "Center": {(25, 27): 0.6, (39, 37): 0.05},
    "Donut": {(41, 42): 0.45, (35, 40): 0.1, (35, 31): 0.05, (45, 50): 0.05},
    "Edge-Loc": {(39, 37): 0.1, (25, 27): 0.1, (56, 41): 0.05, (26, 26): 0.05, (44, 41): 0.05},
    "Edge-Ring": {(53, 52): 0.2, (38, 36): 0.15, (69, 73): 0.1, (63, 62): 0.1, (46, 46): 0.05, (107, 150): 0.05,
                  (43, 42): 0.05},
    "Loc": {(39, 37): 0.1, (26, 26): 0.1, (35, 31): 0.1, (39, 31): 0.05, (25, 27): 0.05},
    "Near-full": {(25, 27): 0.45, (27, 25): 0.2, (26, 26): 0.05, (50, 43): 0.05, (38, 38): 0.05},
    "Random": {(41, 41): 0.15, (41, 51): 0.15, (26, 26): 0.1, (38, 38): 0.05, (25, 27): 0.05},
    "Scratch": {(26, 26): 0.1, (52, 59): 0.05, (50, 43): 0.05, (30, 34): 0.05, (29, 26): 0.05},
    "none": {(25, 27): 0.15, (26, 26): 0.1, (27, 25): 0.1, (30, 34): 0.05, (33, 29): 0.05, (39, 37): 0.05,
             (29, 26): 0.05, (42, 44): 0.05},
}
#: Classes whose catalogue wafers lean to finer grids (dies across; in the tuning part the median Scratch map
#: has 43.5 dies across, Edge-Ring 52.5, the others 26-41.5).
_CLASS_ACROSS = {"Scratch": 60.0, "Edge-Ring": 60.0}

def _sample_grids(n_lots: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Die-grid height and width (``int64 (n_lots,)``) drawn like the real WM-811K grids.

    Real maps have mostly 25-65 dies across (median ~40) with a long tail up to
    ~200, and non-square dies make many wafers elliptical (height/width 0.7-1.6).
    """
    across = np.exp(rng.normal(np.log(42.0), 0.3, n_lots))
    kind = rng.random(n_lots)
    across[kind < 0.22] = rng.uniform(24.5, 28.5, (kind < 0.22).sum())  # the common 25-27 die products
    big = kind > 0.97                                                   # a few with very small dies
    across[big] = rng.uniform(65, 190, big.sum())
    aspect = np.exp(rng.normal(0.0, 0.13, n_lots))
    odd = rng.random(n_lots) < 0.06  # strongly non-square dies
    aspect[odd] = np.exp(rng.uniform(-0.45, 0.5, odd.sum()))
    grid_h = np.clip(np.round(across * np.sqrt(aspect)), 24, 220).astype(np.int64)
    grid_w = np.clip(np.round(across / np.sqrt(aspect)), 24, 220).astype(np.int64)
    return grid_h, grid_w


def _count_dies(grid_h: np.ndarray, grid_w: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Number of dies whose centre lies on the wafer (``float32 (n,)``), per grid and rim radius."""
    out = np.empty(len(grid_h), dtype=np.float32)
    for k, (h, w, r) in enumerate(zip(grid_h, grid_w, radius)):
        y = (np.arange(h) + 0.5) / h * 2 - 1
        x = (np.arange(w) + 0.5) / w * 2 - 1
        out[k] = np.count_nonzero(y[:, None] ** 2 + x[None, :] ** 2 <= r * r)
    return out



def _class_runs(counts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Runs of consecutive wafers of one class: ``(run_class, run_length)``, ``int64`` each, covering
    exactly ``counts[c]`` wafers of every class ``c`` (in class order; the caller orders them)."""
    run_class, run_len = [], []
    for cls, n_cls in enumerate(counts):
        if n_cls == 0:
            continue
        lengths = 1 + rng.poisson(_RUN_MEAN[cls] - 1.0, int(n_cls))   # more runs than needed ...
        cut = int(np.searchsorted(np.cumsum(lengths), n_cls))           # ... cut where they cover n_cls
        lengths = lengths[:cut + 1]
        lengths[-1] -= lengths.sum() - n_cls
        run_class.append(np.full(len(lengths), cls))
        run_len.append(lengths)
    return np.concatenate(run_class).astype(np.int64), np.concatenate(run_len).astype(np.int64)


def _catalogue(rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The product catalogue: die grid ``(h, w)``, outline radius (1 = the wafer touches the grid) and,
    per class, the chance of each product for a run of that class (``float64 (9, _N_PRODUCTS)``)."""
    prod_h, prod_w = _sample_grids(_N_PRODUCTS, rng)
    n_home = len(_HOME_GRIDS)
    prod_h[:n_home], prod_w[:n_home] = np.array(_HOME_GRIDS).T
    prod_rim = rng.uniform(0.975, 1.0, _N_PRODUCTS)
    popularity = 1.0 / rng.permutation(np.arange(1, _N_PRODUCTS + 1)) ** _PRODUCT_ZIPF
    popularity[:n_home] = 0.0                             # home products are drawn by their share alone
    across = np.sqrt(prod_h * prod_w)
    chance = np.zeros((NUM_CLASSES, _N_PRODUCTS))
    for cls, name in enumerate(CLASS_NAMES):
        home = np.array([_HOME_SHARE[name].get(grid, 0.0) for grid in _HOME_GRIDS])
        rest = popularity.copy()
        if name in _CLASS_ACROSS:                         # tilt towards the class's typical grid size
            rest *= np.exp(-0.5 * (np.log(across / _CLASS_ACROSS[name]) / 0.35) ** 2)
        chance[cls, :n_home] = home
        chance[cls] += (1.0 - home.sum()) * rest / rest.sum()
    return prod_h, prod_w, prod_rim, chance


def plan_lots(counts: np.ndarray, rng) -> tuple[np.ndarray, ...]:
    """Labels and products of every wafer, lot by lot (25 wafers per lot, one product per lot).

    Each run of one class is planned on a product its class favours (:data:`_HOME_SHARE`); runs are
    grouped by product, products in random order, so a lot is mostly one product's runs; it makes the
    product of one of its wafers, drawn at random. Returns per wafer ``labels`` (int64), ``grid_h``,
    ``grid_w`` (int), ``rim`` (float), ``die_size`` (``float32``, dies on the wafer), ``lot_of``
    (int64, the lot's number from 0) and ``wafer_index`` (``int16``, 1..25 within the lot).

    Used by: course_utils.classification.twin"""
    run_class, run_len = _class_runs(counts, rng)
    prod_h, prod_w, prod_rim, chance = _catalogue(rng)
    run_product = np.empty(len(run_class), dtype=np.int64)
    for cls in np.unique(run_class):
        runs = np.flatnonzero(run_class == cls)
        run_product[runs] = rng.choice(_N_PRODUCTS, len(runs), p=chance[cls])
    product_rank = rng.permutation(_N_PRODUCTS)
    order = np.lexsort((rng.random(len(run_len)), product_rank[run_product]))
    labels = np.repeat(run_class[order], run_len[order])
    planned = np.repeat(run_product[order], run_len[order])
    # each lot makes the product of one of its wafers, drawn at random: a product keeps, on average, the
    # share of wafers planned on it (a majority vote would swallow the rare products into the common ones)
    n = len(labels)
    lot_of = np.arange(n) // _WAFERS_PER_LOT
    lot_start = np.arange(0, n, _WAFERS_PER_LOT)
    lot_size = np.minimum(_WAFERS_PER_LOT, n - lot_start)
    product = planned[lot_start + (rng.random(len(lot_start)) * lot_size).astype(np.int64)][lot_of]
    used = np.unique(product)
    dies = np.zeros(_N_PRODUCTS, dtype=np.float32)
    dies[used] = _count_dies(prod_h[used], prod_w[used], prod_rim[used])
    wafer_index = (np.arange(n) % _WAFERS_PER_LOT + 1).astype(np.int16)
    return labels, prod_h[product], prod_w[product], prod_rim[product], dies[product], lot_of, wafer_index
