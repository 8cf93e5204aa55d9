"""Board layouts of the synthetic PCB twin (:mod:`course_utils.detection.twin`): bands of trace bundles,
copper planes, pad rows and sparse traces, some turned by 45 degrees.

Used by: course_utils.detection.twin
"""
from __future__ import annotations

import numpy as np

__all__ = ["Layout", "draw_layout", "opencv"]


def opencv():
    """The ``cv2`` module, or an ``ImportError`` that says how to install it.

    Used by: course_utils.detection.twin"""
    try:
        import cv2
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError("The synthetic PCB twin draws with OpenCV: pip install opencv-python-headless") from None
    return cv2


# ---------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------
def _jog_path(rng, x_start, x_end, y_lo, y_hi, min_run):
    """Centre line from ``x_start`` to ``x_end`` with horizontal runs and 45-degree jogs
    staying in ``[y_lo, y_hi]``: ``float64 (V, 2)`` vertices."""
    y = rng.uniform(y_lo, y_hi)
    pts, x = [(x_start, y)], x_start
    while x < x_end:
        x += rng.uniform(min_run, min_run + 220)
        pts.append((x, y))
        if y_hi - y_lo > 1 and rng.random() < 0.65:
            new = rng.uniform(y_lo, y_hi)
            if abs(new - y) >= min_run * 0.7:
                x += abs(new - y)
                y = new
                pts.append((x, y))
    return np.asarray(pts, dtype=np.float64)


def _offset_paths(path, offsets):
    """Parallel copies of ``path`` at perpendicular ``offsets`` (miter joins): ``(m, V, 2)``."""
    u = np.diff(path, axis=0)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    n = np.stack([-u[:, 1], u[:, 0]], axis=1)
    n_in = np.vstack([n[:1], n])
    n_out = np.vstack([n, n[-1:]])
    miter = (n_in + n_out) / (1 + np.sum(n_in * n_out, axis=1, keepdims=True))
    return path[None] + offsets[:, None, None] * miter[None]


class Layout:
    """A template being drawn (``img``, ``uint8 (size, size)``, copper 0) plus the trace segments defects may
    be put on (``segments``: rows x0, y0, x1, y1, width, gap_minus, gap_plus, neighbour_plus; pixels).

    Used by: course_utils.detection.twin"""

    def __init__(self, size, rng, style, scale=None):
        self.size, self.rng, self.s, self.style = size, rng, size / 640 if scale is None else scale, style
        self.img = np.full((size, size), 255, dtype=np.uint8)
        self.segments = []  # rows: x0, y0, x1, y1, width, gap_minus, gap_plus, neighbour_plus

    def add_traces(self, paths, width, gaps_minus, gaps_plus, neighbours):
        cv2 = opencv()
        cv2.polylines(self.img, [np.round(p).astype(np.int32) for p in paths], False, 0, int(round(width)),
                      cv2.LINE_8)
        for p, gm, gp, nb in zip(paths, gaps_minus, gaps_plus, neighbours):
            for a, b in zip(p[:-1], p[1:]):
                self.segments.append((a[0], a[1], b[0], b[1], width, gm, gp, nb))

    def bundle(self, y0, y1):
        rng, s = self.rng, self.s
        width = max(2.0, rng.choice(self.style["widths"]) * s)
        gap = max(3.0, np.exp(rng.uniform(np.log(8), np.log(50))) * s)
        pitch = width + gap
        m = int(max(1, min(rng.integers(1, 14), (y1 - y0 - width) // pitch + 1)))
        offsets = (np.arange(m) - (m - 1) / 2) * pitch
        half = offsets[-1] + width / 2
        lo, hi = y0 + half, y1 - half
        if hi < lo:
            return
        start = -40.0 if rng.random() < 0.7 else rng.uniform(0.1, 0.5) * self.size
        path = _jog_path(rng, start, self.size + 40, lo, hi, min_run=max(30 * s, 0.9 * half + 12 * s))
        paths = _offset_paths(path, offsets)
        big = 8 * s
        self.add_traces(paths, width, [big] + [gap] * (m - 1), [gap] * (m - 1) + [big], [True] * (m - 1) + [False])
        if start > 0:  # traces start inside the image at round pads with drill holes
            self._pads(paths[:, 0], width / 2 + rng.uniform(2, 6) * s, pitch)

    def _pads(self, centres, radius, pitch):
        cv2 = opencv()
        radius = max(min(radius, (pitch - 3 * self.s) / 2), 1.0)
        hole = radius * self.rng.uniform(0.3, 0.5)
        for cx, cy in centres:
            cv2.circle(self.img, (int(round(cx)), int(round(cy))), int(round(radius)), 0, -1)
        for cx, cy in centres:
            cv2.circle(self.img, (int(round(cx)), int(round(cy))), max(1, int(round(hole))), 255, -1)

    def plane(self, y0, y1):
        cv2, rng, s = opencv(), self.rng, self.s
        x0 = rng.uniform(-60, 0.5 * self.size)
        x1 = rng.uniform(x0 + 0.3 * self.size, self.size + 60)
        c = rng.uniform(0, min(60 * s, (y1 - y0) / 2, (x1 - x0) / 2))
        poly = np.array([[x0 + c, y0], [x1 - c, y0], [x1, y0 + c], [x1, y1 - c], [x1 - c, y1], [x0 + c, y1],
                         [x0, y1 - c], [x0, y0 + c]])
        cv2.fillPoly(self.img, [np.round(poly).astype(np.int32)], 0)
        for _ in range(rng.integers(0, 4)):  # vias with a clearance ring
            r = rng.uniform(7, 12) * s
            if x1 - x0 > 6 * r and y1 - y0 > 6 * r:
                cx, cy = rng.uniform(x0 + 3 * r, x1 - 3 * r), rng.uniform(y0 + 3 * r, y1 - 3 * r)
                ctr = (int(round(cx)), int(round(cy)))
                cv2.circle(self.img, ctr, int(round(r + rng.uniform(4, 8) * s)), 255, -1)
                cv2.circle(self.img, ctr, int(round(r)), 0, -1)
                cv2.circle(self.img, ctr, max(1, int(round(r * 0.4))), 255, -1)

    def pad_row(self, y0, y1):
        cv2, rng, s = opencv(), self.rng, self.s
        radius = min(rng.uniform(9, 24) * s, (y1 - y0) / 2 - 1)
        if radius < 4 * s:
            return
        spacing = 2 * radius + rng.uniform(8, 60) * s
        cy = (y0 + y1) / 2
        xs = np.arange(rng.uniform(0, spacing), self.size, spacing)
        width = max(2.0, rng.uniform(3, 10) * s)
        stub_end = y0 - 30 * s if rng.random() < 0.5 else y1 + 30 * s
        paths = [np.array([[x, cy], [x, (cy + stub_end) / 2], [x + rng.choice([-1, 1]) * abs(stub_end - cy) / 2,
                                                                stub_end]]) for x in xs]
        big = 8 * s
        self.add_traces(paths, width, [big] * len(paths), [big] * len(paths), [False] * len(paths))
        if rng.random() < 0.6:
            self._pads(np.stack([xs, np.full_like(xs, cy)], 1), radius, spacing)
        else:
            for x in xs:
                h = radius * rng.uniform(0.6, 1.0)
                cv2.rectangle(self.img, (int(x - radius), int(cy - h)), (int(x + radius), int(cy + h)), 0, -1)

    def sparse(self, y0, y1):
        rng, s = self.rng, self.s
        width = max(2.0, rng.uniform(5, 9) * s)
        for _ in range(rng.integers(1, 4)):
            path = _jog_path(rng, rng.uniform(-40, 0.6 * self.size), rng.uniform(0.5, 1.1) * self.size,
                             y0 + width, y1 - width, min_run=30 * s)
            big = 8 * s
            self.add_traces([path], width, [big], [big], [False])
            self._pads(path[[0, -1]], width / 2 + rng.uniform(3, 6) * s, 40 * s)


#: Layout styles: trace widths of bundles (px), band-kind weights (bundle, plane, pads, sparse),
#: band heights per kind and the spacing between bands. Their mix spreads the copper fraction
#: from almost empty crops to crops dominated by copper planes, as in the real set. Trace widths and
#: the gaps inside a bundle (log-uniform 8-50 px) match the real tuning pairs' conductor widths and
#: clearances (``calibration.stroke_widths``, p50 / p90: real 11 / 51 and 23 / 83 px; twin 9-10 / 36-40
#: and 19-23 / 77-81; before, with 3-22 px traces 5-14 px apart: 9 / 15 and 9 / 61).
_STYLES = (
    {"p": 0.3, "widths": [5, 6, 8, 10], "kinds": [0.35, 0.04, 0.21, 0.4], "gap": (25, 90)},
    {"p": 0.45, "widths": [6, 8, 10, 12, 16, 24, 36, 48], "kinds": [0.45, 0.22, 0.15, 0.18], "gap": (10, 45)},
    {"p": 0.25, "widths": [14, 20, 30, 40, 60, 80], "kinds": [0.45, 0.45, 0.07, 0.03], "gap": (6, 22)},
)
_HEIGHTS = ((40, 260), (60, 320), (30, 60), (30, 120))


#: Share of layouts drawn at 45 degrees: with it 36 % of the template edge pixels are diagonal (20-70 degrees),
#: as on the real tuning pairs (37 %; 17 % with axis-parallel layouts only).
_DIAGONAL_SHARE = 0.22


def draw_layout(size, rng) -> Layout:
    """A random board layout of ``size`` x ``size`` pixels drawn with the generator ``rng``.

    Used by: course_utils.detection.twin"""
    style = _STYLES[rng.choice(len(_STYLES), p=[st["p"] for st in _STYLES])]
    diagonal = rng.random() < _DIAGONAL_SHARE
    canvas = int(np.ceil(size * np.sqrt(2))) + 4 if diagonal else size
    layout = Layout(canvas, rng, style, scale=size / 640)
    kinds = (layout.bundle, layout.plane, layout.pad_row, layout.sparse)
    y = rng.uniform(-20, 30) * layout.s
    while y < canvas:
        k = rng.choice(4, p=style["kinds"])
        height = rng.uniform(*_HEIGHTS[k]) * layout.s
        kinds[k](y, y + height)
        y += height + rng.uniform(*style["gap"]) * layout.s
    if diagonal:  # turn the larger canvas by 45 degrees and keep its centre; the trace segments follow
        cv2 = opencv()
        m = cv2.getRotationMatrix2D((canvas / 2, canvas / 2), 45, 1.0)
        m[:, 2] += (size - canvas) / 2
        turned = cv2.warpAffine(layout.img, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=255)
        layout.img = np.where(turned < 128, 0, 255).astype(np.uint8)
        seg = np.asarray(layout.segments, dtype=np.float64).reshape(-1, 8)
        for c in (0, 2):
            xy = seg[:, c:c + 2] @ m[:, :2].T + m[:, 2]
            seg[:, c:c + 2] = xy
        layout.segments, layout.size = [tuple(r) for r in seg], size
    return layout
