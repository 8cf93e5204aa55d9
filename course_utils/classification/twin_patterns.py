"""Class patterns and background noise of the synthetic WM-811K twin (used by :mod:`course_utils.classification.twin`).

Every function here turns die coordinates into defect probabilities; nothing is drawn at die level
(that happens in :func:`course_utils.classification.twin.make_synthetic_wafers`).
"""
from __future__ import annotations

import numpy as np

__all__ = ["PATTERNS", "NOISE_AT", "NOISE_QUANTILES", "NOISE_REF_DIES", "NOISE_AREA_EXPONENT", "RIM_NOISE_HIGH", "RIM_NOISE_DECAY", "add_background_extras", "col"]

_TWO_PI = np.float32(2 * np.pi)


# ---------------------------------------------------------------------------
# Class patterns: defect probability of every die, vectorised over wafers
#
# Each _pattern_<class>(g, rng, m) gets the geometry ``g`` of m wafers of one
# class (die-centre coordinates "x", "y", radius "r" as float32 (m, rows, cols)
# arrays or broadcastable views; per-wafer "rim" radius, die "pitch" and the
# "outer" die mask) and returns the pattern's defect probability, float32
# (m, rows, cols) in [0, 1]. Per-wafer random parameters are (m, 1, 1) columns.
# ---------------------------------------------------------------------------
def col(values) -> np.ndarray:
    """Per-wafer parameters ``(m,)`` as ``float32 (m, 1, 1)`` for broadcasting over dies.

    Used by: course_utils.classification.twin"""
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
    cx, cy = col(rng.normal(0, 0.035, m)), col(rng.normal(0, 0.035, m))
    radius = col(rng.uniform(0.15, 0.5, m))
    stretch = col(np.exp(rng.normal(0, 0.1, m)))
    return col(rng.uniform(0.7, 1.0, m)) * _blob(
        g["x"], g["y"], cx, cy, radius * stretch, radius / stretch, col(rng.uniform(0, np.pi, m)),
        col(rng.uniform(0.2, 0.8, m)))


def _pattern_donut(g, rng, m):
    """A ring at mid radius around a cleaner hole; sometimes only an arc of it."""
    mid = col(rng.uniform(0.28, 0.58, m))
    half = col(rng.uniform(0.1, 0.22, m))
    ring = _ramp((1.0 - np.abs(g["r"] - mid) / half) / col(rng.uniform(0.3, 0.8, m)))
    # about a third of the donuts are open: only an arc of the ring is defective
    span = col(np.where(rng.random(m) < 0.35, rng.uniform(0.45, 0.85, m), 1.2) * np.pi)
    arc = _ramp((span - _angle_gap(_theta(g), col(rng.uniform(0, 2 * np.pi, m)))) / 0.4)
    return col(rng.uniform(0.7, 1.0, m)) * ring * arc


def _pattern_edge_loc(g, rng, m):
    """A cluster that hugs the rim: mostly a few to a hundred dies along the edge (real Edge-Loc: median 5 %
    of the wafer), one in ten a large sector reaching deep."""
    large = rng.random(m) < 0.1
    depth = np.where(large, rng.uniform(0.5, 1.0, m), np.exp(rng.uniform(np.log(0.08), np.log(0.45), m)))
    arc = np.where(large, rng.uniform(1.0, 2.2, m), np.exp(rng.uniform(np.log(0.2), np.log(1.5), m)))
    return col(rng.uniform(0.8, 1.0, m)) * _polar_blob(
        g["r"], _theta(g), g["rim"], col(rng.uniform(0, 2 * np.pi, m)), col(depth), col(arc),
        col(rng.uniform(0.2, 0.6, m)))


def _pattern_edge_ring(g, rng, m):
    """The outermost dies, nearly all defective, sometimes a die or two deeper; a few gaps."""
    depth = col(rng.uniform(0.0, 1.3, m)) * g["pitch"]
    inner = _ramp((g["r"] - (g["rim"] - g["pitch"] - depth)) / (0.5 * g["pitch"]))
    ring = np.maximum(g["outer"], col(rng.uniform(0.3, 0.9, m)) * inner)
    keep = np.ones_like(ring)
    for _ in range(2):
        gap = col(np.where(rng.random(m) < 0.35, rng.uniform(0.1, 0.9, m), 0.0))
        keep *= 1.0 - _ramp((gap - _angle_gap(_theta(g), col(rng.uniform(0, 2 * np.pi, m)))) / 0.15)
    return col(rng.uniform(0.92, 1.0, m)) * ring * keep


def _pattern_loc(g, rng, m):
    """One to three clusters inside the wafer, away from the centre: from a few dies to ~15 % of the wafer
    (log-uniform sizes, as real Loc), round, elongated at any angle or boxy (following the die rows),
    often with a second lobe, dense or a loose cloud."""
    x, y, p = g["x"], g["y"], np.zeros_like(g["r"])
    for k in range(3):
        on = rng.random(m) < (1.0, 0.3, 0.12)[k]
        radius, phi = rng.uniform(0.15, 0.85, m), rng.uniform(0, 2 * np.pi, m)
        cx, cy = radius * np.cos(phi), radius * np.sin(phi)
        extent = np.exp(rng.uniform(np.log(0.07), np.log(0.35), m))
        aspect = np.exp(rng.uniform(0.0, np.log(3.5), m))
        rx, ry, angle = col(extent * np.sqrt(aspect)), col(extent / np.sqrt(aspect)), col(rng.uniform(0, np.pi, m))
        soft = col(rng.uniform(0.1, 0.6, m))
        boxy = col(rng.random(m) < 0.3)
        u, v = np.abs(x - col(cx)) / rx, np.abs(y - col(cy)) / ry
        blob = boxy * _ramp((1.0 - np.maximum(u, v)) / soft) + (1.0 - boxy) * _blob(x, y, col(cx), col(cy), rx, ry, angle, soft)
        # a second lobe beside the first makes the cluster irregular
        lobe_at = rng.uniform(0, 2 * np.pi, m)
        reach = extent * rng.uniform(0.6, 1.3, m)
        scale = col(np.where(rng.random(m) < 0.5, rng.uniform(0.4, 0.9, m), 0.0))
        lobe = _blob(x, y, col(cx + reach * np.cos(lobe_at)), col(cy + reach * np.sin(lobe_at)),
                     np.maximum(rx * scale, 1e-3), np.maximum(ry * scale, 1e-3), angle, soft)
        level = np.where(rng.random(m) < 0.15, rng.uniform(0.5, 0.75, m), rng.uniform(0.8, 1.0, m))
        p = np.maximum(p, col(on * level) * np.maximum(blob, (scale > 0) * lobe))
    return p


def _pattern_near_full(g, rng, m):
    """Almost every die defective, with one or two patches of good dies (mostly at the edge)."""
    good = np.zeros_like(g["r"])
    for k in range(2):
        on = rng.random(m) < (0.75 if k == 0 else 0.35)
        patch = _polar_blob(g["r"], _theta(g), g["rim"], col(rng.uniform(0, 2 * np.pi, m)),
                            col(rng.uniform(0.15, 0.7, m)), col(rng.uniform(0.3, 1.5, m)),
                            col(rng.uniform(0.3, 1.0, m)))
        good = np.maximum(good, col(on * rng.uniform(0.6, 0.95, m)) * patch)
    return col(rng.uniform(0.85, 1.0, m)) * (1.0 - good)


def _pattern_random(g, rng, m):
    """Defects scattered everywhere at high density (33-58 %), no spatial structure."""
    return np.broadcast_to(col(rng.uniform(0.33, 0.58, m)), g["r"].shape)


def _pattern_scratch(g, rng, m):
    """1-3 thin arcs: pieces of circles of random curvature, about one die wide."""
    x, y, p = g["x"], g["y"], np.zeros_like(g["r"])
    for k in range(3):
        on = rng.random(m) < (1.0, 0.45, 0.25)[k]
        start_r = np.sqrt(rng.random(m)) * 0.9
        start_phi = rng.uniform(0, 2 * np.pi, m)
        heading = rng.uniform(0, 2 * np.pi, m)
        bend = rng.choice([-1.0, 1.0], m) * rng.uniform(0.05, 1.0, m)   # curvature 1/R
        length = rng.uniform(0.6, 2.4, m)
        big_r = 1.0 / bend                                                # signed arc radius
        px, py = start_r * np.cos(start_phi), start_r * np.sin(start_phi)
        cx, cy = px - big_r * np.sin(heading), py + big_r * np.cos(heading)   # arc centre
        dx, dy = x - col(cx), y - col(cy)
        dist = np.abs(np.sqrt(dx * dx + dy * dy) - col(np.abs(big_r)))
        along = _angle_gap(np.arctan2(dy, dx), col(np.arctan2(py - cy, px - cx))) * col(np.abs(big_r))
        half_width = col(rng.uniform(0.6, 0.9, m)) * g["pitch"]
        line = _ramp((half_width - dist) / (0.15 * g["pitch"])) * _ramp((col(length / 2) - along) / 0.05)
        p = np.maximum(p, col(on * rng.uniform(0.85, 1.0, m)) * line)
    return p


def _pattern_none(g, rng, m):
    """No pattern: only the background noise (kept for symmetry; the chunk loop skips it)."""
    return np.zeros_like(g["r"])


PATTERNS = (_pattern_center, _pattern_donut, _pattern_edge_loc, _pattern_edge_ring, _pattern_loc,
             _pattern_near_full, _pattern_random, _pattern_scratch, _pattern_none)

#: Per-wafer background noise level (defect probability of a die outside the pattern), per class, as
#: quantiles at NOISE_AT, for a wafer of NOISE_REF_DIES dies (the common 25 x 27 grid). A larger die
#: catches more particles, so the level falls with the die count ``n`` (yield model fitted on the shared
#: real maps: the log defect rate -ln(1 - level) falls as n ** -gamma, gamma per class in
#: NOISE_AREA_EXPONENT: 1.0 for 'none', as for random particles; flatter where real rims or large grids
#: stay noisy): a wafer's level is ``1 - (1 - q) ** ((NOISE_REF_DIES / n) ** gamma)``. The quantiles are
#: those of the real background density (defective dies outside the largest cluster / dies on the wafer),
#: brought to NOISE_REF_DIES, of the even-indexed half of the 270 shared real maps, rounded and widened a
#: little at the ends (Near-full and Random: their noise is hidden under the pattern). Real 'none' wafers
#: are rarely clean: 9 to 25 % of the dies of a 25 x 27 wafer, 2 to 3 % of a 60 x 60 one.
NOISE_AT = np.array([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0], dtype=np.float32)
NOISE_REF_DIES = 530.0
NOISE_AREA_EXPONENT = np.array([0.9, 0.7, 0.7, 0.3, 0.7, 0.7, 0.7, 0.75, 1.0], dtype=np.float32)
NOISE_QUANTILES = np.array([
    [0.030, 0.120, 0.155, 0.178, 0.192, 0.205, 0.230],   # Center
    [0.020, 0.080, 0.110, 0.145, 0.190, 0.250, 0.350],   # Donut
    [0.030, 0.060, 0.090, 0.150, 0.190, 0.220, 0.300],   # Edge-Loc
    [0.015, 0.035, 0.043, 0.056, 0.075, 0.085, 0.150],   # Edge-Ring
    [0.030, 0.060, 0.085, 0.120, 0.140, 0.180, 0.230],   # Loc
    [0.005, 0.040, 0.080, 0.120, 0.160, 0.180, 0.200],   # Near-full (hidden under the pattern)
    [0.005, 0.010, 0.015, 0.025, 0.035, 0.045, 0.050],   # Random (hidden under the pattern)
    [0.010, 0.035, 0.060, 0.090, 0.120, 0.160, 0.220],   # Scratch
    [0.027, 0.072, 0.090, 0.131, 0.149, 0.158, 0.180],   # none (x 0.9: the tuning part's interior)
], dtype=np.float32)
#: Extra noise near the edge: a die whose centre lies ``d`` die pitches inside the rim gets up to
#: ``RIM_NOISE_HIGH[class] * exp(-d / RIM_NOISE_DECAY)`` more defect probability (each wafer draws 30-100 % of
#: it). Real rims are always dirtier than the interior, most of all on the partial dies at the very edge: in the
#: tuning part of the real maps (64 x 64, mean over maps) 'none' wafers are 8 % defective inside r < 0.8 of the
#: outermost pixel's radius, 15 % at 0.88-0.93, 26 % at 0.93-0.96 and 41 % beyond 0.98 (Edge-Loc 13 % to 54 %,
#: Center 15 % to 56 %); the values below give the twin the same profile within 0.01-0.03 for 'none', Edge-Loc,
#: Center, Donut, Loc and Scratch (Edge-Ring's rim is its pattern).
RIM_NOISE_HIGH = np.array([0.9, 0.65, 0.8, 0.3, 0.6, 0.4, 0.8, 0.5, 0.65], dtype=np.float32)
RIM_NOISE_DECAY = 0.6
#: Chance that a wafer's background carries a small cluster / a short scratch-like run (real 'none'
#: wafers do), and how many dies long such a run is (pitch units).
_SPECK_CHANCE, _RUN_CHANCE, _RUN_DIES = 0.55, 0.45, (3, 7)


def add_background_extras(p: np.ndarray, shown_h: np.ndarray, shown_w: np.ndarray, rng) -> None:
    """Put small clusters (a die and some of its 8 neighbours) and short straight runs of defective dies
    into the defect probabilities ``p`` (float32 ``(m, rows, cols)``, in place), in die slots, so that a
    speck or a short line alone does not make a Loc or a Scratch. ``shown_h/w``: used slots per wafer.

    Used by: course_utils.classification.twin"""
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
