"""Synthetic photos of inspected surfaces: brushed metal with scratches, spots and cracks.

The group projects of the course train on their own photo folders. So that a
notebook can show the whole workflow offline, this module draws photo-like RGB
images of a surface with one kind of defect each:

* ``"clean"``: only the surface (brushed texture, uneven lighting, grain),
* ``"scratch"``: one or two thin, straight, bright lines,
* ``"spot"``: one to three round, dark, soft-edged stains,
* ``"crack"``: a dark, jagged line (a random walk) with an optional branch.

Every image gets its own background (grey level, tint, brushing direction,
lighting gradient), so the defect is the only thing that tells the classes apart.

>>> from course_utils.classification.surface_photos import render_surface_photo
>>> img = render_surface_photo("scratch", size=128, seed=0)    # uint8 (128, 128, 3)

Everything is vectorised over the pixels (NumPy broadcasting); the same
``(kind, size, seed)`` gives the same image on every machine.
"""
from __future__ import annotations

import numpy as np

from course_utils.core.checks import check_seed, check_size

__all__ = ["PHOTO_CLASSES", "render_surface_photo", "defect_mask"]

#: Defect classes :func:`render_surface_photo` can draw, in alphabetical (ImageFolder) order.
PHOTO_CLASSES: tuple[str, ...] = ("clean", "crack", "scratch", "spot")


def _box_blur_1d(a: np.ndarray, width: int, axis: int) -> np.ndarray:
    """Moving average of ``width`` pixels along ``axis`` (edge-padded), via a cumulative sum."""
    pad = [(0, 0)] * a.ndim
    pad[axis] = (width // 2 + 1, width - width // 2 - 1)
    c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis)
    n = a.shape[axis]
    hi = np.take(c, np.arange(width, width + n), axis=axis)
    lo = np.take(c, np.arange(0, n), axis=axis)
    return (hi - lo) / width


def _background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Grey surface ``float32 (h, w)`` in about [0.2, 0.8]: level, brushing, lighting, grain."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / max(h - 1, 1) - 0.5, xx / max(w - 1, 1) - 0.5
    level = rng.uniform(0.38, 0.62)
    brushed = _box_blur_1d(rng.normal(size=(h, w)).astype(np.float32), max(3, w // 6), axis=1)
    if rng.random() < 0.5:  # brushing direction: along rows or along columns
        brushed = _box_blur_1d(rng.normal(size=(h, w)).astype(np.float32), max(3, h // 6), axis=0)
    gx, gy = rng.uniform(-0.18, 0.18, size=2)
    vignette = rng.uniform(0.0, 0.25) * (xx**2 + yy**2)
    grain = rng.normal(scale=0.02, size=(h, w))
    return (level + 0.09 * brushed + gx * xx + gy * yy - vignette + grain).astype(np.float32)


def _segments_distance(yy: np.ndarray, xx: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance ``(h, w)`` in pixels from every pixel to the polyline through ``points`` ``(k, 2)`` (y, x)."""
    points = np.asarray(points, dtype=np.float32)
    p0, p1 = points[:-1], points[1:]                       # (s, 2) segment ends
    d = p1 - p0
    length2 = np.maximum((d**2).sum(1), 1e-9)
    py, px = yy[..., None] - p0[:, 0], xx[..., None] - p0[:, 1]   # (h, w, s)
    t = np.clip((py * d[:, 0] + px * d[:, 1]) / length2, 0.0, 1.0)
    dist = np.hypot(py - t * d[:, 0], px - t * d[:, 1])
    return dist.min(axis=-1)


def _soft(edge: np.ndarray, softness: float) -> np.ndarray:
    """1 inside (``edge < 0``), 0 outside, with a linear ramp ``softness`` pixels wide."""
    return np.clip(0.5 - edge / max(softness, 1e-6), 0.0, 1.0)


def _defect(kind: str, h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Defect opacity ``float32 (h, w)`` in [0, 1] and its signed brightness change."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    side = min(h, w)
    if kind == "clean":
        return np.zeros((h, w), np.float32), 0.0
    if kind == "scratch":
        alpha = np.zeros((h, w), np.float32)
        for _ in range(1 + (rng.random() < 0.3)):
            centre = rng.uniform(0.25, 0.75, size=2) * (h, w)
            angle, half = rng.uniform(0, np.pi), rng.uniform(0.25, 0.45) * side
            step = half * np.array([np.sin(angle), np.cos(angle)])
            dist = _segments_distance(yy, xx, np.stack([centre - step, centre + step]))
            alpha = np.maximum(alpha, _soft(dist - rng.uniform(0.006, 0.014) * side, 0.01 * side + 0.5))
        return alpha, rng.uniform(0.22, 0.35)
    if kind == "spot":
        alpha = np.zeros((h, w), np.float32)
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0.2, 0.8, size=2) * (h, w)
            radius = rng.uniform(0.05, 0.11) * side
            edge = np.hypot(yy - cy, xx - cx) - radius
            alpha = np.maximum(alpha, _soft(edge, 0.5 * radius) * rng.uniform(0.7, 1.0))
        return alpha, -rng.uniform(0.25, 0.4)
    # crack: a random walk across the image, with an optional branch
    start = rng.uniform(0.15, 0.35, size=2) * (h, w)
    heading, n_steps = rng.uniform(0, 2 * np.pi), 10
    angles = heading + np.cumsum(rng.normal(scale=0.45, size=n_steps))
    steps = (rng.uniform(0.04, 0.07) * side) * np.stack([np.sin(angles), np.cos(angles)], 1)
    path = start + np.vstack([np.zeros((1, 2)), np.cumsum(steps, 0)])
    dist = _segments_distance(yy, xx, path)
    if rng.random() < 0.5:
        k = rng.integers(3, n_steps - 2)
        branch_angles = angles[k] + rng.choice([-1, 1]) * 0.9 + np.cumsum(rng.normal(scale=0.4, size=4))
        branch = path[k] + np.vstack([np.zeros((1, 2)), np.cumsum(
            (0.04 * side) * np.stack([np.sin(branch_angles), np.cos(branch_angles)], 1), 0)])
        dist = np.minimum(dist, _segments_distance(yy, xx, branch))
    return _soft(dist - rng.uniform(0.004, 0.01) * side, 0.008 * side + 0.5), -rng.uniform(0.3, 0.45)


def _render(kind: str, size, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if kind not in PHOTO_CLASSES:
        raise ValueError(f"kind={kind!r} is not one of {PHOTO_CLASSES}.")
    h, w = check_size(size, "size", min_size=16)
    rng = np.random.default_rng([check_seed(seed), PHOTO_CLASSES.index(kind)])
    surface = _background(h, w, rng)
    alpha, change = _defect(kind, h, w, rng)
    grey = np.clip(surface + change * alpha, 0.0, 1.0)
    tint = 1.0 + rng.uniform(-0.06, 0.06, size=3).astype(np.float32)   # warm or cold light
    rgb = np.clip(grey[..., None] * tint, 0.0, 1.0)
    return np.rint(rgb * 255).astype(np.uint8), alpha


def render_surface_photo(kind: str, *, size=64, seed: int = 0) -> np.ndarray:
    """One synthetic surface photo.

    Parameters
    ----------
    kind : one of :data:`PHOTO_CLASSES`
    size : int or (height, width)
        Pixels, at least 16.
    seed : int
        Non-negative; the same ``(kind, size, seed)`` always gives the same image.

    Returns
    -------
    ``uint8`` array ``(H, W, 3)`` (RGB).

    Taught in: 08_opencv_visualization"""
    return _render(kind, size, seed)[0]


def defect_mask(kind: str, *, size=64, seed: int = 0, level: float = 0.5) -> np.ndarray:
    """Where :func:`render_surface_photo` drew the defect: ``bool (H, W)`` (opacity > ``level``).

    All ``False`` for ``"clean"``. Useful as the ground truth for thresholding and
    segmentation exercises.

    Taught in: 08_opencv_visualization"""
    return _render(kind, size, seed)[1] > level
