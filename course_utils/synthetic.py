"""Synthetic WM-811K twin: wafer maps that look and behave like the real ones.

The course needs a data set that works offline, in CI and in a smoke run, so
every notebook can start with ``DATA_SOURCE = "synthetic"``. This module draws
wafer maps for the 9 WM-811K failure types with the same class mix, the same
die-grid shapes and the same background noise as the real file.

How a map is made
-----------------
1. Each lot of 25 wafers gets one die grid (``grid_h x grid_w`` dies, 24 to
   ~200 across, often not square, like one product in the real fab). The wafer
   is the ellipse inscribed in that grid.
2. Every die gets a defect probability ``p(x, y)``: a per-wafer background
   noise level combined with the class pattern (a centre blob, a ring, a
   scratch ...), written in wafer coordinates where the rim is at radius 1.
3. A die is defective when a uniform random number is below ``p``.
4. The die grid is resized to ``size x size`` pixels with nearest neighbour,
   exactly as :func:`course_utils.data.resize_maps` resizes the real maps, so the
   blockiness of coarse grids shows in the same way.

Everything is vectorised over chunks of wafers (NumPy broadcasting over
``(chunk, rows, cols)`` die arrays); there is no Python loop over dies or pixels.

>>> from course_utils.synthetic import make_synthetic_wafers
>>> ws = make_synthetic_wafers(2000, seed=0)
>>> ws.maps.shape, ws.maps.dtype
((2000, 64, 64), dtype('uint8'))
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence

import numpy as np

from .config import CLASS_NAMES, NUM_CLASSES, WM811K_LABELED_COUNTS
from .checks import check_size, is_int, largest_remainder
from .wafers import WaferSet, nearest_index

__all__ = ["make_synthetic_wafers", "class_allocation", "PROPORTION_PRESETS", "WAFERS_PER_LOT", "MIN_SIZE"]

#: Wafers per lot, as in the real fab data (wafer_index runs 1..25).
WAFERS_PER_LOT = 25
#: Smallest map side accepted: below 16 pixels the patterns are unreadable.
MIN_SIZE = 16
#: Named class mixes accepted by ``proportions``.
PROPORTION_PRESETS = ("wm811k", "balanced")

_CHUNK = 512  # wafers generated together: (512, 64, 64) float32 intermediates of 8 MB stay in cache
_TWO_PI = np.float32(2 * np.pi)


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
            f"in the order of config.CLASS_NAMES."
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
            vec = np.array([WM811K_LABELED_COUNTS[c] for c in CLASS_NAMES], dtype=np.float64)
        elif key == "balanced":
            vec = np.ones(NUM_CLASSES)
        else:
            raise ValueError(
                f"proportions={proportions!r} is not a known preset; use one of {PROPORTION_PRESETS}, "
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
        ``int64`` ``(9,)`` counts in the order of ``config.CLASS_NAMES``.
    """
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


def _count_dies(grid_h: np.ndarray, grid_w: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Number of dies whose centre lies on the wafer (``float32 (n,)``), per grid and rim radius."""
    out = np.empty(len(grid_h), dtype=np.float32)
    for k, (h, w, r) in enumerate(zip(grid_h, grid_w, radius)):
        y = (np.arange(h) + 0.5) / h * 2 - 1
        x = (np.arange(w) + 0.5) / w * 2 - 1
        out[k] = np.count_nonzero(y[:, None] ** 2 + x[None, :] ** 2 <= r * r)
    return out


# ---------------------------------------------------------------------------
# Class patterns: defect probability of every die, vectorised over wafers
#
# Each _pattern_<class>(g, rng, m) gets the geometry ``g`` of m wafers of one
# class (die-centre coordinates "x", "y", radius "r" as float32 (m, rows, cols)
# arrays or broadcastable views; per-wafer "rim" radius, die "pitch" and the
# "outer" die mask) and returns the pattern's defect probability, float32
# (m, rows, cols) in [0, 1]. Per-wafer random parameters are (m, 1, 1) columns.
# ---------------------------------------------------------------------------
def _col(values) -> np.ndarray:
    """Per-wafer parameters ``(m,)`` as ``float32 (m, 1, 1)`` for broadcasting over dies."""
    return np.asarray(values, dtype=np.float32)[:, None, None]


def _ramp(z: np.ndarray) -> np.ndarray:
    """Soft step: 0 for ``z <= 0``, 1 for ``z >= 1``, linear between (cheaper than a sigmoid)."""
    return np.clip(z, 0.0, 1.0)


def _theta(g: dict) -> np.ndarray:
    """Polar angle of every die centre (radians), computed once per class on demand."""
    if "theta" not in g:
        g["theta"] = np.arctan2(g["y"], g["x"])
    return g["theta"]


def _angle_gap(theta: np.ndarray, theta0: np.ndarray) -> np.ndarray:
    """Absolute angular distance in [0, pi] between ``theta`` and ``theta0`` (radians)."""
    return np.abs((theta - theta0 + np.float32(np.pi)) % _TWO_PI - np.float32(np.pi))


def _blob(x, y, cx, cy, rx, ry, angle, soft):
    """Elliptic blob centred at (cx, cy), radii (rx, ry), rotated by ``angle``: 1 inside, fading to 0."""
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = x - cx, y - cy
    u = (dx * c + dy * s) / rx
    v = (dy * c - dx * s) / ry
    return _ramp((1.0 - np.sqrt(u * u + v * v)) / soft)


def _polar_blob(r, theta, r0, theta0, half_depth, half_arc, soft):
    """Blob that follows the rim: centred at radius ``r0``, angle ``theta0``; extents along r and along the arc."""
    dr = (r - r0) / half_depth
    dt = _angle_gap(theta, theta0) * np.maximum(r0, 0.3) / half_arc
    return _ramp((1.0 - np.sqrt(dr * dr + dt * dt)) / soft)


def _pattern_center(g, rng, m):
    """A blob around the wafer centre, slightly off-centre and elliptic, with a soft edge."""
    cx, cy = _col(rng.normal(0, 0.06, m)), _col(rng.normal(0, 0.06, m))
    radius = _col(rng.uniform(0.15, 0.5, m))
    stretch = _col(np.exp(rng.normal(0, 0.15, m)))
    return _col(rng.uniform(0.7, 1.0, m)) * _blob(
        g["x"], g["y"], cx, cy, radius * stretch, radius / stretch, _col(rng.uniform(0, np.pi, m)),
        _col(rng.uniform(0.2, 0.8, m)))


def _pattern_donut(g, rng, m):
    """A ring at mid radius around a cleaner hole; sometimes only an arc of it."""
    mid = _col(rng.uniform(0.28, 0.58, m))
    half = _col(rng.uniform(0.1, 0.22, m))
    ring = _ramp((1.0 - np.abs(g["r"] - mid) / half) / _col(rng.uniform(0.3, 0.8, m)))
    # about a third of the donuts are open: only an arc of the ring is defective
    span = _col(np.where(rng.random(m) < 0.35, rng.uniform(0.45, 0.85, m), 1.2) * np.pi)
    arc = _ramp((span - _angle_gap(_theta(g), _col(rng.uniform(0, 2 * np.pi, m)))) / 0.4)
    return _col(rng.uniform(0.7, 1.0, m)) * ring * arc


def _pattern_edge_loc(g, rng, m):
    """A cluster that hugs the rim: from a few dies to a large sector of the edge."""
    return _col(rng.uniform(0.8, 1.0, m)) * _polar_blob(
        g["r"], _theta(g), g["rim"], _col(rng.uniform(0, 2 * np.pi, m)),
        _col(rng.uniform(0.12, 0.7, m)), _col(rng.uniform(0.25, 1.6, m)), _col(rng.uniform(0.2, 0.6, m)))


def _pattern_edge_ring(g, rng, m):
    """The outermost dies, nearly all defective, sometimes a die or two deeper; a few gaps."""
    depth = _col(rng.uniform(0.0, 1.3, m)) * g["pitch"]
    inner = _ramp((g["r"] - (g["rim"] - g["pitch"] - depth)) / (0.5 * g["pitch"]))
    ring = np.maximum(g["outer"], _col(rng.uniform(0.3, 0.9, m)) * inner)
    keep = np.ones_like(ring)
    for _ in range(2):
        gap = _col(np.where(rng.random(m) < 0.35, rng.uniform(0.1, 0.9, m), 0.0))
        keep *= 1.0 - _ramp((gap - _angle_gap(_theta(g), _col(rng.uniform(0, 2 * np.pi, m)))) / 0.15)
    return _col(rng.uniform(0.8, 1.0, m)) * ring * keep


def _pattern_loc(g, rng, m):
    """One to three clusters of a few to ~100 dies inside the wafer, away from the centre (sizes as real Loc).

    Clusters are round or boxy (real Loc clusters often follow the die rows)."""
    p = np.zeros_like(g["r"])
    for k in range(3):
        on = rng.random(m) < (1.0, 0.35, 0.15)[k]
        radius = rng.uniform(0.15, 0.85, m)
        phi = rng.uniform(0, 2 * np.pi, m)
        dx, dy = g["x"] - _col(radius * np.cos(phi)), g["y"] - _col(radius * np.sin(phi))
        u, v = np.abs(dx) / _col(rng.uniform(0.06, 0.4, m)), np.abs(dy) / _col(rng.uniform(0.06, 0.4, m))
        boxy = _col(rng.random(m) < 0.4)
        dist = boxy * np.maximum(u, v) + (1.0 - boxy) * np.sqrt(u * u + v * v)
        blob = _ramp((1.0 - dist) / _col(rng.uniform(0.1, 0.6, m)))
        p = np.maximum(p, _col(on * rng.uniform(0.75, 1.0, m)) * blob)
    return p


def _pattern_near_full(g, rng, m):
    """Almost every die defective, with one or two patches of good dies (mostly at the edge)."""
    good = np.zeros_like(g["r"])
    for k in range(2):
        on = rng.random(m) < (0.75 if k == 0 else 0.35)
        patch = _polar_blob(g["r"], _theta(g), g["rim"], _col(rng.uniform(0, 2 * np.pi, m)),
                            _col(rng.uniform(0.15, 0.7, m)), _col(rng.uniform(0.3, 1.5, m)),
                            _col(rng.uniform(0.3, 1.0, m)))
        good = np.maximum(good, _col(on * rng.uniform(0.6, 0.95, m)) * patch)
    return _col(rng.uniform(0.85, 1.0, m)) * (1.0 - good)


def _pattern_random(g, rng, m):
    """Defects scattered everywhere at high density (33-58 %), no spatial structure."""
    return np.broadcast_to(_col(rng.uniform(0.33, 0.58, m)), g["r"].shape)


def _pattern_scratch(g, rng, m):
    """1-3 thin arcs: pieces of circles of random curvature, about one die wide."""
    x, y, p = g["x"], g["y"], np.zeros_like(g["r"])
    for k in range(3):
        on = rng.random(m) < (1.0, 0.45, 0.25)[k]
        start_r = np.sqrt(rng.random(m)) * 0.75
        start_phi = rng.uniform(0, 2 * np.pi, m)
        heading = rng.uniform(0, 2 * np.pi, m)
        bend = rng.choice([-1.0, 1.0], m) * rng.uniform(0.05, 1.6, m)   # curvature 1/R
        length = rng.uniform(0.6, 2.4, m)
        big_r = 1.0 / bend                                                # signed arc radius
        px, py = start_r * np.cos(start_phi), start_r * np.sin(start_phi)
        cx, cy = px - big_r * np.sin(heading), py + big_r * np.cos(heading)   # arc centre
        dx, dy = x - _col(cx), y - _col(cy)
        dist = np.abs(np.sqrt(dx * dx + dy * dy) - _col(np.abs(big_r)))
        along = _angle_gap(np.arctan2(dy, dx), _col(np.arctan2(py - cy, px - cx))) * _col(np.abs(big_r))
        half_width = _col(rng.uniform(0.4, 1.0, m)) * g["pitch"]
        line = _ramp((half_width - dist) / (0.3 * g["pitch"])) * _ramp((_col(length / 2) - along) / 0.05)
        p = np.maximum(p, _col(on * rng.uniform(0.6, 1.0, m)) * line)
    return p


def _pattern_none(g, rng, m):
    """No pattern: only the background noise (kept for symmetry; the chunk loop skips it)."""
    return np.zeros_like(g["r"])


_PATTERNS = (_pattern_center, _pattern_donut, _pattern_edge_loc, _pattern_edge_ring, _pattern_loc,
             _pattern_near_full, _pattern_random, _pattern_scratch, _pattern_none)

#: Per-wafer background noise level (defect probability of a die outside the pattern), per class, as
#: quantiles at _NOISE_AT: the percentiles of the background density (defective dies outside the largest
#: cluster / dies on the wafer) of the even-indexed half of the 270 shared real maps, rounded and widened
#: a little at the ends. Real 'none' wafers are rarely clean (median 14 %), Edge-Ring wafers are (3 %).
_NOISE_AT = np.array([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0], dtype=np.float32)
_NOISE_QUANTILES = np.array([
    [0.010, 0.040, 0.090, 0.170, 0.190, 0.210, 0.235],   # Center
    [0.010, 0.040, 0.060, 0.090, 0.110, 0.130, 0.190],   # Donut
    [0.010, 0.030, 0.060, 0.120, 0.150, 0.190, 0.240],   # Edge-Loc
    [0.005, 0.020, 0.025, 0.030, 0.040, 0.055, 0.090],   # Edge-Ring
    [0.010, 0.020, 0.030, 0.075, 0.090, 0.100, 0.140],   # Loc
    [0.005, 0.040, 0.080, 0.120, 0.160, 0.180, 0.200],   # Near-full (hidden under the pattern)
    [0.005, 0.010, 0.015, 0.025, 0.035, 0.045, 0.050],   # Random (hidden under the pattern)
    [0.005, 0.012, 0.030, 0.050, 0.090, 0.120, 0.160],   # Scratch
    [0.010, 0.025, 0.085, 0.140, 0.165, 0.185, 0.210],   # none
], dtype=np.float32)
#: Upper end of the extra noise on the outermost dies (real rims are dirtier than the interior).
_RIM_NOISE_HIGH = np.array([0.6, 0.3, 0.3, 0.0, 0.3, 0.3, 0.3, 0.3, 0.32], dtype=np.float32)
#: Chance that a wafer's background carries a small cluster / a short scratch-like run (real 'none'
#: wafers do), and how many dies long such a run is (pitch units).
_SPECK_CHANCE, _RUN_CHANCE, _RUN_DIES = 0.55, 0.45, (3, 9)


def _add_background_extras(p: np.ndarray, shown_h: np.ndarray, shown_w: np.ndarray, rng) -> None:
    """Put small clusters (a die and some of its 8 neighbours) and short straight runs of defective dies
    into the defect probabilities ``p`` (float32 ``(m, rows, cols)``, in place), in die slots, so that a
    speck or a short line alone does not make a Loc or a Scratch. ``shown_h/w``: used slots per wafer."""
    m = len(p)
    rows, cols, values = [], [], []
    for k in range(2):                                     # up to two specks per wafer
        on = rng.random(m) < _SPECK_CHANCE / (k + 1)
        r0, c0 = (rng.random(m) * shown_h).astype(np.int64), (rng.random(m) * shown_w).astype(np.int64)
        keep = rng.uniform(0.2, 0.7, m)
        for dr, dc in np.ndindex(3, 3):
            hit = on & ((dr == 1) & (dc == 1) | (rng.random(m) < keep))
            rows.append(r0 + dr - 1), cols.append(c0 + dc - 1), values.append(np.where(hit, 0.9, 0.0))
    on = rng.random(m) < _RUN_CHANCE                        # one short run, mostly along a row or column
    step = np.array([[0, 1], [1, 0], [1, 1], [1, -1]])[rng.choice(4, m, p=[0.35, 0.35, 0.15, 0.15])]
    length = rng.integers(int(_RUN_DIES[0]), int(_RUN_DIES[1]) + 1, m)
    r0, c0 = (rng.random(m) * shown_h).astype(np.int64), (rng.random(m) * shown_w).astype(np.int64)
    level = rng.uniform(0.6, 0.95, m)
    for t in range(int(_RUN_DIES[1])):
        rows.append(r0 + t * step[:, 0]), cols.append(c0 + t * step[:, 1])
        values.append(np.where(on & (t < length), level, 0.0))
    wafer = np.tile(np.arange(m), len(rows))
    rows, cols, values = np.concatenate(rows), np.concatenate(cols), np.concatenate(values)
    ok = (values > 0) & (rows >= 0) & (cols >= 0) & (rows < p.shape[1]) & (cols < p.shape[2])
    wafer, rows, cols = wafer[ok], rows[ok], cols[ok]
    p[wafer, rows, cols] = np.maximum(p[wafer, rows, cols], values[ok].astype(np.float32))


# ---------------------------------------------------------------------------
# Lots: products, failure runs, siblings that look alike
# ---------------------------------------------------------------------------
#: Distinct products (die grids) the lots are drawn from, with Zipf-like popularity: real WM-811K has
#: 632 grid shapes, and many lots share one, so a wafer's outline rarely gives its lot away.
_N_PRODUCTS, _PRODUCT_ZIPF = 632, 1.0
#: Mean length of a run of consecutive wafers of one class (runs are cut into lots of 25): real
#: failures come in lot-wide episodes, so a defect class gathers in a few lots.
_RUN_MEAN = np.array([6.0, 4.0, 6.0, 8.0, 5.0, 4.0, 5.0, 4.0, 1.0])
#: Range of a lot's likeness: the chance that a sibling repeats a pattern parameter of its family's first wafer.
_LIKENESS = (0.0, 0.7)


def _run_labels(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Labels ``int64 (sum(counts),)`` in shuffled runs of one class; exactly ``counts`` per class."""
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
    run_class, run_len = np.concatenate(run_class), np.concatenate(run_len)
    order = rng.permutation(len(run_len))
    return np.repeat(run_class[order], run_len[order]).astype(np.int64)


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
def _generate_chunk(labels, grid_h, grid_w, rim, family, likeness, size, seed_seq) -> np.ndarray:
    """Maps ``uint8 (m, size_h, size_w)`` for one chunk of wafers (all per-wafer inputs are ``(m,)``)."""
    rng = np.random.default_rng(seed_seq)
    draws = _SiblingDraws(rng, family, likeness)
    m = len(labels)
    ys, row_of_pixel = _axis_layout(grid_h, size[0])
    xs, col_of_pixel = _axis_layout(grid_w, size[1])
    y, x = ys[:, :, None], xs[:, None, :]
    r2 = y * y + x * x                                       # (m, L_h, L_w) squared radius of each die centre
    rim2 = _col(rim * rim)
    on_wafer = r2 <= rim2
    # outermost dies: the neighbour one die pitch further out is off the wafer
    ax, ay = np.abs(x) + _col(2.0 / grid_w), np.abs(y) + _col(2.0 / grid_h)
    outer = on_wafer & ((ax * ax + y * y > rim2) | (x * x + ay * ay > rim2))
    geometry = {"x": x, "y": y, "r": np.sqrt(r2), "rim": _col(rim), "outer": outer.astype(np.float32),
                "pitch": _col(2.0 / np.sqrt(grid_h * grid_w))}
    # background noise: a per-wafer level drawn from the class's real quantiles, extra on the outermost
    # dies, and now and then a small cluster or a short run
    u = draws.random(m)
    level = _interp_rows(u, _NOISE_QUANTILES[labels]).astype(np.float32)
    extra = draws.uniform(0.0, 1.0, m).astype(np.float32) * _RIM_NOISE_HIGH[labels]
    p = _col(level) + outer * _col(extra * (1.0 - level))
    _add_background_extras(p, np.minimum(grid_h, size[0]), np.minimum(grid_w, size[1]), draws)
    for cls in np.unique(labels):
        if cls == NUM_CLASSES - 1:                           # 'none': background only
            continue
        idx = np.flatnonzero(labels == cls)
        g = {key: value[idx] for key, value in geometry.items()}
        pattern = _PATTERNS[cls](g, draws.subset(idx), len(idx))
        # a die is defective if the pattern OR the background noise hits it
        p[idx] = 1.0 - (1.0 - p[idx]) * (1.0 - pattern)
    defect = rng.random(p.shape, dtype=np.float32) < p
    # die states: OFF_WAFER (0) off the wafer, GOOD_DIE (1) on it, DEFECT_DIE (2) where also defective
    dies = on_wafer.view(np.uint8) + (on_wafer & defect).view(np.uint8)
    # nearest-neighbour resize of every die grid to size x size pixels, in one gather
    rows, cols = dies.shape[1:]
    flat = (np.arange(m)[:, None, None] * (rows * cols) + row_of_pixel[:, :, None] * cols + col_of_pixel[:, None, :])
    return dies.reshape(-1)[flat]


def _interp_rows(u: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Piecewise-linear quantile function per row: ``u (m,)`` in [0, 1], ``quantiles (m, len(_NOISE_AT))``."""
    seg = np.clip(np.searchsorted(_NOISE_AT, u, side="right") - 1, 0, len(_NOISE_AT) - 2)
    lo, hi = _NOISE_AT[seg], _NOISE_AT[seg + 1]
    rows = np.arange(len(u))
    q0, q1 = quantiles[rows, seg], quantiles[rows, seg + 1]
    return q0 + (q1 - q0) * (u - lo) / (hi - lo)


def make_synthetic_wafers(
    n_samples: int = 2000,
    *,
    size=64,
    proportions="wm811k",
    class_counts=None,
    min_per_class: int = 5,
    seed: int = 0,
    n_jobs: int | None = None,
) -> WaferSet:
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
        of ``config.CLASS_NAMES``; normalised to sum to 1).
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
    """
    out_size = check_size(size, min_size=MIN_SIZE)
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer.")
    if n_jobs is not None and (not is_int(n_jobs) or n_jobs < 1):
        raise ValueError(f"n_jobs={n_jobs!r} must be a positive integer or None.")
    counts = class_allocation(n_samples, proportions=proportions, class_counts=class_counts,
                              min_per_class=min_per_class)
    n = int(counts.sum())
    root = np.random.SeedSequence(seed)
    plan_seq, *chunk_seqs = root.spawn(1 + -(-n // _CHUNK))
    rng = np.random.default_rng(plan_seq)

    labels = _run_labels(counts, rng)
    n_lots = -(-n // WAFERS_PER_LOT)
    lot_of = np.arange(n) // WAFERS_PER_LOT
    # products: die grid and outline radius (1 = the wafer touches the grid); each lot makes one product
    prod_h, prod_w = _sample_grids(_N_PRODUCTS, rng)
    prod_rim = rng.uniform(0.975, 1.0, _N_PRODUCTS)
    popularity = rng.permutation(1.0 / np.arange(1, _N_PRODUCTS + 1) ** _PRODUCT_ZIPF)
    product = rng.choice(_N_PRODUCTS, n_lots, p=popularity / popularity.sum())[lot_of]
    grid_h, grid_w, rim = prod_h[product], prod_w[product], prod_rim[product]
    used = np.unique(product)
    die_size = np.zeros(_N_PRODUCTS, dtype=np.float32)
    die_size[used] = _count_dies(prod_h[used], prod_w[used], prod_rim[used])
    family = lot_of * NUM_CLASSES + labels
    likeness = rng.uniform(*_LIKENESS, n_lots)[lot_of]

    # wafers with similar grids go into the same chunk (little padding), lots kept together
    order = np.lexsort((lot_of, grid_w, grid_h))
    maps = np.empty((n, *out_size), dtype=np.uint8)

    def work(k: int) -> None:
        idx = order[k * _CHUNK:(k + 1) * _CHUNK]
        maps[idx] = _generate_chunk(labels[idx], grid_h[idx], grid_w[idx], rim[idx], family[idx], likeness[idx],
                                    out_size, chunk_seqs[k])

    jobs = n_jobs or min(4, os.cpu_count() or 1)
    if jobs == 1 or len(chunk_seqs) == 1:
        for k in range(len(chunk_seqs)):
            work(k)
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(work, range(len(chunk_seqs))))

    return WaferSet(
        maps=maps,
        labels=labels,
        class_names=CLASS_NAMES,
        lot=np.array([f"syn-lot-{i + 1:05d}" for i in range(n_lots)])[lot_of],
        wafer_index=(np.arange(n) % WAFERS_PER_LOT + 1).astype(np.int16),
        die_size=die_size[product],
        grid_shape=np.stack([grid_h, grid_w], axis=1).astype(np.int32),
        source="synthetic",
        info={"generator": "course_utils.synthetic.make_synthetic_wafers", "seed": int(seed),
              "proportions": proportions if isinstance(proportions, str) else "custom",
              "class_counts": counts.tolist(), "size": out_size},
    )
