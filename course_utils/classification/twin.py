"""Synthetic WM-811K twin: wafer maps that look and behave like the real ones.

The course needs a data set that works offline, in CI and in a smoke run, so
every notebook can start with ``DATA_SOURCE = "synthetic"``. This module draws
wafer maps for the 9 WM-811K failure types with the same class mix, the same
die-grid shapes and the same background noise as the real file.

How a map is made
-----------------
1. Lots of 25 wafers each make one product, drawn from a catalogue of 632
   products (die grids ``grid_h x grid_w``, 24 to ~200 dies across, often not
   square) with Zipf-like popularity, so many lots share an outline as in the real
   fab. The wafer is the ellipse inscribed in the grid. Classes come in runs of
   consecutive wafers (failures are lot-wide episodes), and each run is made on a
   product its failure type favours, as in the real file (most real Center, Near-full
   and ``none`` wafers are 25 x 27 dies, most Donuts 41 x 42, Edge-Rings 53 x 52;
   some 27 x 25 wafers miss a few untested dies). Siblings of one class in one lot
   repeat part of their first wafer's pattern parameters (the lot's likeness), so lot
   siblings look alike, but not too alike: calibrated with
   :func:`course_utils.classification.calibration.lot_leakage` against the real file.
2. Every die gets a defect probability ``p(x, y)``: a per-wafer background
   noise level (drawn from the real per-class quantiles and lower for smaller dies,
   plus a dirtier rim, small clusters and short runs; see
   :mod:`course_utils.classification.twin_patterns` and :func:`calibration_table`) combined with
   the class pattern (a centre blob, a ring, a scratch ...), written in wafer
   coordinates where the rim is at radius 1. A pattern too faint to stand out of its
   wafer's noise is drawn again: a labeller names only what shows.
3. A die is defective when a uniform random number is below ``p``.
4. The die grid is resized to ``size x size`` pixels with nearest neighbour,
   exactly as :func:`course_utils.classification.wafers.resize_maps` resizes the real maps, so the
   blockiness of coarse grids shows in the same way.

Everything is vectorised over chunks of wafers (NumPy broadcasting over
``(chunk, rows, cols)`` die arrays); there is no Python loop over dies or pixels.

>>> from course_utils.classification.twin import make_synthetic_wafers
>>> ws = make_synthetic_wafers(2000, seed=0)
>>> ws.maps.shape, ws.maps.dtype
((2000, 64, 64), dtype('uint8'))
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence

import numpy as np

from course_utils.core.checks import check_size, is_int, largest_remainder
from course_utils.classification.wafers import CLASS_NAMES, NUM_CLASSES, wm811k_class_counts
from course_utils.classification.twin_patterns import (NOISE_AREA_EXPONENT, NOISE_AT, NOISE_QUANTILES, NOISE_REF_DIES, PATTERNS,
                                                       RIM_NOISE_DECAY, RIM_NOISE_HIGH, add_background_extras, col)
from course_utils.classification.twin_lots import plan_lots
from course_utils.classification.wafers import WaferSet, nearest_index

__all__ = ["make_synthetic_wafers", "class_allocation"]

#: Smallest map side accepted: below 16 pixels the patterns are unreadable.
_MIN_SIZE = 16
#: Named class mixes accepted by ``proportions``.
_PROPORTION_PRESETS = ("wm811k", "balanced")

_CHUNK = 512  # wafers generated together: (512, 64, 64) float32 intermediates of 8 MB stay in cache


# ---------------------------------------------------------------------------
# Argument checking and class allocation
# ---------------------------------------------------------------------------
def _per_class_vector(value, name: str) -> np.ndarray:
    """A dict ``{class name: number}`` or a length-9 sequence as a ``float64`` vector."""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(CLASS_NAMES), key=str)
        if unknown:
            raise ValueError(f"{name} has unknown class names {unknown}; valid names are {list(CLASS_NAMES)}.")
        vec = [value.get(c, 0) for c in CLASS_NAMES]
    elif isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(
            f"{name}={value!r} must be a dict {{class name: value}} or a sequence of {NUM_CLASSES} numbers "
            f"in the order of wafers.CLASS_NAMES."
        )
    else:
        vec = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else list(value)
        if len(vec) != NUM_CLASSES:
            raise ValueError(
                f"{name} has {len(vec)} entries; it needs one per class ({NUM_CLASSES}, in the order "
                f"{list(CLASS_NAMES)}), or pass a dict {{class name: value}}."
            )
    try:
        arr = np.array(vec, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must hold numbers; got {vec!r}.") from None
    if not np.all(np.isfinite(arr)) or (arr < 0).any():
        raise ValueError(f"{name} must hold finite non-negative numbers; got {arr.tolist()}.")
    if arr.sum() <= 0:
        raise ValueError(f"{name} is all zeros; at least one class needs a positive value.")
    return arr


def _proportions_vector(proportions) -> np.ndarray:
    """Class fractions (``float64``, sums to 1) from a preset name, dict or sequence."""
    if isinstance(proportions, str):
        key = proportions.strip().lower().replace("-", "").replace("_", "")
        if key == "wm811k":
            vec = wm811k_class_counts()
        elif key == "balanced":
            vec = np.ones(NUM_CLASSES)
        else:
            raise ValueError(
                f"proportions={proportions!r} is not a known preset; use one of {_PROPORTION_PRESETS}, "
                "a dict {class name: fraction} or a sequence of 9 fractions."
            )
    else:
        vec = _per_class_vector(proportions, "proportions")
    return vec / vec.sum()


def class_allocation(n_samples: int = 2000, *, proportions="wm811k", class_counts=None,
                     min_per_class: int = 5) -> np.ndarray:
    """Wafers per class that :func:`make_synthetic_wafers` will generate.

    Parameters
    ----------
    n_samples : int
        Total number of wafers (ignored when ``class_counts`` is given).
    proportions : "wm811k", "balanced", dict or sequence
        ``"wm811k"``: the mix of the 172,950 labeled real wafers (85 % ``none``);
        ``"balanced"``: equal shares; or fractions per class (they are normalised).
    class_counts : dict or sequence of int, optional
        Exact wafers per class; overrides ``n_samples``, ``proportions`` and ``min_per_class``.
    min_per_class : int
        Every class with a positive share gets at least this many wafers (taken
        from the larger classes), capped at ``n_samples // n_classes_used`` so a
        tiny set still has every class.

    Returns
    -------
    np.ndarray
        ``int64`` ``(9,)`` counts in the order of ``wafers.CLASS_NAMES``.

    Used by: solutions/12_project1_capstone_solutions, tests/classification/test_synthetic.py"""
    if class_counts is not None:
        counts = _per_class_vector(class_counts, "class_counts")
        if not np.all(counts == np.round(counts)):
            raise ValueError(f"class_counts must hold whole numbers; got {counts.tolist()}.")
        return counts.astype(np.int64)
    if not is_int(n_samples):
        raise TypeError(f"n_samples={n_samples!r} must be a positive integer.")
    if n_samples <= 0:
        raise ValueError(f"n_samples={n_samples} must be a positive integer (the number of wafers to generate).")
    if not is_int(min_per_class) or min_per_class < 0:
        raise ValueError(f"min_per_class={min_per_class!r} must be a non-negative integer.")
    fractions = _proportions_vector(proportions)
    counts = largest_remainder(fractions, int(n_samples))
    used = fractions > 0
    floor = min(int(min_per_class), int(n_samples) // int(used.sum()))
    deficit = np.where(used, np.maximum(floor - counts, 0), 0)
    if deficit.sum():
        # take the missing wafers from the classes above the floor, in proportion to their surplus
        surplus = np.where(used, np.maximum(counts - floor, 0), 0)
        counts = counts + deficit - largest_remainder(surplus.astype(np.float64), int(deficit.sum()))
    return counts


# ---------------------------------------------------------------------------
# Die grids (one per lot, like one product) and wafer outlines
# ---------------------------------------------------------------------------
def _axis_layout(n_dies: np.ndarray, n_out: int):
    """Die coordinates along one axis, and which die row/column each pixel shows.

    Only the dies that the nearest-neighbour resize can show are generated: all
    of them when the grid is coarser than the output, else the ``n_out`` sampled ones.

    Returns
    -------
    coord : float32 ``(m, L)``: die-centre coordinate in [-1, 1] (wafer rim at +-1),
        ``L = min(max(n_dies), n_out)``; padding beyond a wafer's grid is 4.0 (off wafer).
    pixel_to_slot : int64 ``(m, n_out)``: slot (index into ``coord``) shown by each pixel.
    """
    shown = np.minimum(n_dies, n_out)
    length = int(shown.max())
    slot = np.arange(length)[None, :]
    sampled = nearest_index(n_dies, n_out)                            # (m, n_out) die index per pixel
    die = np.where(n_dies[:, None] <= n_out, slot, sampled[:, :length])  # die index per slot
    coord = ((die + 0.5) / n_dies[:, None] * 2.0 - 1.0).astype(np.float32)
    coord[slot >= shown[:, None]] = 4.0
    pixel_to_slot = np.where(n_dies[:, None] <= n_out, sampled, np.arange(n_out)[None, :])
    return coord, pixel_to_slot


# ---------------------------------------------------------------------------
# Lots: products, failure runs, siblings that look alike
# ---------------------------------------------------------------------------
#: Fewest shown dies a class pattern must cover (defect probability >= 0.3) for its wafer to carry the
#: label: a + b * background level (a clean wafer shows a 6-die cluster; one at 20 % noise needs 14).
_MIN_PATTERN_DIES = (6.0, 40.0)
#: Products whose maps miss a few dies inside the wafer (state 0, as off the wafer; untested dies): in the
#: tuning part of the real maps (``calibration.holdout_split``), 25 of the 59 maps of 27 x 25 dies miss 7 to 40
#: dies at random places, 17 of 30 maps of 35 x 31 dies miss 1 to 6, and 8 of 29 maps of 38 x 38 dies 1 to 8;
#: other products hardly ever do (11 maps of 1,164, 1 to 10 dies). Per product: the share of its wafers
#: with holes, and the range of their number.
_HOLEY_GRIDS = {(27, 25): (0.4, (7, 40)), (35, 31): (0.55, (1, 6)), (38, 38): (0.3, (1, 8))}
#: Range of a lot's likeness: the chance that a sibling repeats a pattern parameter of its family's first wafer.
_LIKENESS = (0.0, 0.7)


class _SiblingDraws:
    """Per-wafer random draws in which lot siblings partly repeat their family's first wafer.

    A family is the wafers of one class in one lot. Each draw (``random``, ``uniform``, ``normal``,
    ``choice``: the calls the pattern functions make, with ``m`` values) is taken fresh, then every
    wafer copies its family leader's value with probability ``likeness`` (its lot's, ``(m,)``).
    """

    def __init__(self, rng: np.random.Generator, family: np.ndarray, likeness: np.ndarray):
        self.rng, self.likeness = rng, likeness
        _, first, inverse = np.unique(family, return_index=True, return_inverse=True)
        self.leader = first[inverse.ravel()]

    def subset(self, idx: np.ndarray) -> "_SiblingDraws":
        out = object.__new__(_SiblingDraws)
        out.rng, out.likeness = self.rng, self.likeness[idx]
        position = np.full(len(self.leader), -1)
        position[idx] = np.arange(len(idx))
        leader = position[self.leader[idx]]
        out.leader = np.where(leader >= 0, leader, np.arange(len(idx)))   # a leader outside idx: lead itself
        return out

    def _share(self, values: np.ndarray) -> np.ndarray:
        return np.where(self.rng.random(len(values)) < self.likeness, values[self.leader], values)

    def random(self, m):
        return self._share(self.rng.random(m))

    def uniform(self, low, high, m):
        return self._share(self.rng.uniform(low, high, m))

    def normal(self, loc, scale, m):
        return self._share(self.rng.normal(loc, scale, m))

    def choice(self, options, m, p=None):
        return self._share(self.rng.choice(options, m, p=p))

    def integers(self, low, high, m):
        return self._share(self.rng.integers(low, high, m))


# ---------------------------------------------------------------------------
# One chunk of wafers
# ---------------------------------------------------------------------------
def _generate_chunk(labels, grid_h, grid_w, rim, dies_on_wafer, family, likeness, size, seed_seq,
                    with_pattern: bool = False):
    """Maps ``uint8 (m, size_h, size_w)`` for one chunk of wafers (all per-wafer inputs are ``(m,)``); with
    ``with_pattern`` also ``bool (m, size_h, size_w)``: the defective dies the class pattern made."""
    rng = np.random.default_rng(seed_seq)
    draws = _SiblingDraws(rng, family, likeness)
    m = len(labels)
    ys, row_of_pixel = _axis_layout(grid_h, size[0])
    xs, col_of_pixel = _axis_layout(grid_w, size[1])
    y, x = ys[:, :, None], xs[:, None, :]
    r2 = y * y + x * x                                       # (m, L_h, L_w) squared radius of each die centre
    rim2 = col(rim * rim)
    on_wafer = r2 <= rim2
    # outermost dies: the neighbour one die pitch further out is off the wafer
    ax, ay = np.abs(x) + col(2.0 / grid_w), np.abs(y) + col(2.0 / grid_h)
    outer = on_wafer & ((ax * ax + y * y > rim2) | (x * x + ay * ay > rim2))
    geometry = {"x": x, "y": y, "r": np.sqrt(r2), "rim": col(rim), "outer": outer.astype(np.float32),
                "pitch": col(2.0 / np.sqrt(grid_h * grid_w))}
    # background noise: a per-wafer level drawn from the class's real quantiles (lower for smaller dies),
    # extra near the rim, and now and then a small cluster or a short run
    u = draws.random(m)
    level = _interp_rows(u, NOISE_QUANTILES[labels])
    level = (1.0 - (1.0 - level) ** ((NOISE_REF_DIES / dies_on_wafer) ** NOISE_AREA_EXPONENT[labels])).astype(np.float32)
    # extra noise near the edge, fading inwards with the die's distance from the rim in die pitches (real
    # rims are dirtiest on the partial dies at the very edge, and dirty 2-3 dies deep)
    inward = np.maximum(col(rim) - geometry["r"], 0.0) / geometry["pitch"]
    near_rim = np.where(on_wafer, np.exp(-inward / RIM_NOISE_DECAY), 0.0).astype(np.float32)
    extra = draws.uniform(0.3, 1.0, m).astype(np.float32) * RIM_NOISE_HIGH[labels]
    p = col(level) + near_rim * col(extra * (1.0 - level))
    add_background_extras(p, np.minimum(grid_h, size[0]), np.minimum(grid_w, size[1]), draws)
    q = np.zeros_like(p) if with_pattern else None       # the pattern's own probability (opt-in, draws nothing)
    for cls in np.unique(labels):
        if cls == NUM_CLASSES - 1:                           # 'none': background only
            continue
        idx = np.flatnonzero(labels == cls)
        pattern = _visible_pattern(cls, geometry, on_wafer, level, draws, idx)
        # a die is defective if the pattern OR the background noise hits it
        p[idx] = 1.0 - (1.0 - p[idx]) * (1.0 - pattern)
        if with_pattern:
            q[idx] = pattern
    u = rng.random(p.shape, dtype=np.float32)
    defect = u < p
    # die states: OFF_WAFER (0) off the wafer, GOOD_DIE (1) on it, DEFECT_DIE (2) where also defective
    dies = on_wafer.view(np.uint8) + (on_wafer & defect).view(np.uint8)
    _punch_holes(dies, grid_h, grid_w, size, rng)
    # nearest-neighbour resize of every die grid to size x size pixels, in one gather
    rows, cols = dies.shape[1:]
    flat = (np.arange(m)[:, None, None] * (rows * cols) + row_of_pixel[:, :, None] * cols + col_of_pixel[:, None, :])
    if with_pattern:  # the same uniform: u < q <= p, a pattern die; q <= u < p, a die only the noise hit
        return dies.reshape(-1)[flat], ((dies == 2) & (u < q)).reshape(-1)[flat]
    return dies.reshape(-1)[flat]


def _visible_pattern(cls: int, geometry: dict, on_wafer: np.ndarray, level: np.ndarray,
                     draws: "_SiblingDraws", idx: np.ndarray) -> np.ndarray:
    """The class pattern of the wafers ``idx`` (``float32 (len(idx), rows, cols)``), drawn again (up to
    3 times) for a wafer where too few shown dies get a defect probability of at least 0.3:
    ``_MIN_PATTERN_DIES[0] + _MIN_PATTERN_DIES[1] * level`` (``level``: the wafer's background noise
    level), since a labeller names a failure type only when its pattern stands out of the noise."""
    pattern = np.empty((len(idx), *on_wafer.shape[1:]), dtype=np.float32)
    todo = np.arange(len(idx))
    for attempt in range(4):
        sub = idx[todo]
        g = {key: value[sub] for key, value in geometry.items()}
        pattern[todo] = PATTERNS[cls](g, draws.subset(sub), len(sub))
        strong = ((pattern[todo] >= 0.3) & on_wafer[sub]).sum(axis=(1, 2))
        todo = todo[strong < _MIN_PATTERN_DIES[0] + _MIN_PATTERN_DIES[1] * level[sub]]
        if len(todo) == 0:
            break
    return pattern


def _punch_holes(dies: np.ndarray, grid_h, grid_w, size: tuple[int, int], rng) -> None:
    """Mark a few random dies of the wafers of :data:`_HOLEY_GRIDS` products as untested (state 0, in place).

    ``dies``: ``uint8 (m, rows, cols)`` die slots of one chunk; ``grid_h/w``: ``(m,)`` die grids."""
    for (h, w), (share, (low, high)) in _HOLEY_GRIDS.items():
        holey = np.flatnonzero((grid_h == h) & (grid_w == w) & (rng.random(len(dies)) < share))
        if len(holey) == 0:
            continue
        count = rng.integers(low, high + 1, len(holey))
        rows = rng.integers(0, min(h, size[0]), (len(holey), high))
        cols = rng.integers(0, min(w, size[1]), (len(holey), high))
        use = np.arange(high)[None, :] < count[:, None]
        dies[np.broadcast_to(holey[:, None], use.shape)[use], rows[use], cols[use]] = 0


def _interp_rows(u: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Piecewise-linear quantile function per row: ``u (m,)`` in [0, 1], ``quantiles (m, len(NOISE_AT))``."""
    seg = np.clip(np.searchsorted(NOISE_AT, u, side="right") - 1, 0, len(NOISE_AT) - 2)
    lo, hi = NOISE_AT[seg], NOISE_AT[seg + 1]
    rows = np.arange(len(u))
    q0, q1 = quantiles[rows, seg], quantiles[rows, seg + 1]
    return q0 + (q1 - q0) * (u - lo) / (hi - lo)


def _draw_chunks(order: np.ndarray, per_wafer: tuple, out_size: tuple[int, int], chunk_seqs: list,
                 n_jobs: int | None, pattern: np.ndarray | None = None) -> np.ndarray:
    """``uint8 (N, H, W)`` maps, drawn ``_CHUNK`` wafers at a time (in ``order``), one seed sequence per chunk,
    on up to ``n_jobs`` threads; the result does not depend on the number of threads."""
    maps = np.empty((len(order), *out_size), dtype=np.uint8)

    def work(k: int) -> None:
        idx = order[k * _CHUNK:(k + 1) * _CHUNK]
        if pattern is None:
            maps[idx] = _generate_chunk(*(a[idx] for a in per_wafer), out_size, chunk_seqs[k])
        else:  # fills the caller's bool (N, H, W) array too
            maps[idx], pattern[idx] = _generate_chunk(*(a[idx] for a in per_wafer), out_size, chunk_seqs[k], True)

    jobs = n_jobs or min(4, os.cpu_count() or 1)
    if jobs == 1 or len(chunk_seqs) == 1:
        for k in range(len(chunk_seqs)):
            work(k)
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(work, range(len(chunk_seqs))))
    return maps


def make_synthetic_wafers(n_samples: int = 2000, *, size=64, proportions="wm811k", class_counts=None,
                          min_per_class: int = 5, seed: int = 0, n_jobs: int | None = None, pattern_mask: bool = False):
    """Generate a synthetic WM-811K-like set of fixed-size wafer maps.

    Parameters
    ----------
    n_samples : int, default 2000
        Number of wafers (ignored when ``class_counts`` is given).
    size : int or (int, int), default 64
        Map height and width in pixels (at least 16). Maps are drawn at die
        level and resized with nearest neighbour, like the real maps.
    proportions : "wm811k", "balanced", dict or sequence, default "wm811k"
        Class mix: the real labeled WM-811K mix (85 % ``none``), equal shares, or
        fractions per class (a dict ``{name: fraction}`` or 9 numbers in the order
        of ``wafers.CLASS_NAMES``; normalised to sum to 1).
    class_counts : dict or sequence of int, optional
        Exact number of wafers per class; overrides ``n_samples``, ``proportions``
        and ``min_per_class``.
    min_per_class : int, default 5
        Every class with a positive share gets at least this many wafers
        (capped at ``n_samples // classes``), so small smoke sets hold every class.
    seed : int, default 0
        The same seed (and arguments) gives identical arrays on every machine.
    n_jobs : int or None
        Threads used to generate chunks (``None``: up to 4, at most the CPU count).
        The result does not depend on it.
    pattern_mask : bool, default False
        Also return ``bool (N, H, W)``: True at the defective dies the class pattern made,
        False at those only the background noise hit (and off the defects); the maps are
        the same as without it. Returns ``(WaferSet, mask)`` then.

    Returns
    -------
    WaferSet
        ``maps`` ``uint8 (N, H, W)`` in {0 off wafer, 1 good die, 2 defective die};
        ``labels`` ``int64 (N,)`` in 0..8, shuffled; ``grid_shape`` ``int32 (N, 2)``
        (die-grid height, width); ``die_size`` ``float32 (N,)`` (dies on the wafer);
        ``lot`` (``"syn-lot-00001"``, ... 25 wafers each; a lot shares one die grid)
        and ``wafer_index`` ``int16`` 1..25; ``source="synthetic"``;
        ``info`` records the arguments.

    Examples
    --------
    >>> ws = make_synthetic_wafers(500, proportions="balanced", seed=1)
    >>> ws.class_counts()
    array([56, 56, 56, 56, 56, 55, 55, 55, 55])

    Taught in: 10_cnn_interpretability"""
    out_size = check_size(size, min_size=_MIN_SIZE)
    _check_seed_and_jobs(seed, n_jobs)
    counts = class_allocation(n_samples, proportions=proportions, class_counts=class_counts,
                              min_per_class=min_per_class)
    info = {"generator": "course_utils.classification.twin.make_synthetic_wafers", "seed": int(seed),
            "proportions": proportions if isinstance(proportions, str) else "custom",
            "class_counts": counts.tolist(), "size": out_size}
    ws, pattern = _draw_wafer_set(counts, out_size, seed=seed, n_jobs=n_jobs, pattern_mask=pattern_mask, info=info)
    return (ws, pattern) if pattern_mask else ws


def _check_seed_and_jobs(seed, n_jobs) -> None:
    """Raise ``ValueError`` unless ``seed`` is a non-negative integer and ``n_jobs`` None or a positive one."""
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer.")
    if n_jobs is not None and (not is_int(n_jobs) or n_jobs < 1):
        raise ValueError(f"n_jobs={n_jobs!r} must be a positive integer or None.")


def _draw_wafer_set(counts: np.ndarray, out_size: tuple[int, int], *, seed: int, n_jobs: int | None,
                    pattern_mask: bool, info: dict):
    """Plan the lots for ``counts`` (``int64 (9,)`` wafers per class) and draw their maps: ``(WaferSet, pattern)``,
    ``pattern`` the ``bool (N, H, W)`` pattern mask with ``pattern_mask``, else None. One seed sequence plans the
    lots and the lots' likeness, one more per chunk of ``_CHUNK`` wafers draws the maps."""
    n = int(counts.sum())
    root = np.random.SeedSequence(seed)
    plan_seq, *chunk_seqs = root.spawn(1 + -(-n // _CHUNK))
    rng = np.random.default_rng(plan_seq)

    labels, grid_h, grid_w, rim, die_size, lot_of, wafer_index = plan_lots(counts, rng)
    n_lots = int(lot_of[-1]) + 1 if n else 0
    family = lot_of * NUM_CLASSES + labels
    likeness = rng.uniform(*_LIKENESS, n_lots)[lot_of]

    # wafers with similar grids go into the same chunk (little padding), lots kept together
    order = np.lexsort((lot_of, grid_w, grid_h))
    pattern = np.zeros((n, *out_size), dtype=bool) if pattern_mask else None
    maps = _draw_chunks(order, (labels, grid_h, grid_w, rim, die_size, family, likeness), out_size, chunk_seqs, n_jobs,
                        pattern)

    ws = WaferSet(
        maps=maps,
        labels=labels,
        class_names=CLASS_NAMES,
        lot=np.array([f"syn-lot-{i + 1:05d}" for i in range(n_lots)])[lot_of],
        wafer_index=wafer_index,
        die_size=die_size,
        grid_shape=np.stack([grid_h, grid_w], axis=1).astype(np.int32),
        source="synthetic",
        info=info,
    )
    return ws, pattern
