"""The synthetic PCB twin: layouts, the six defect types, their boxes, and `make_synthetic_pcb`.

How a pair is made (all lengths for a 640x640 image, scaled with ``size / 640``):

1. **Layout** (the template): the image is cut into horizontal bands, each one
   of: a *bundle* of parallel traces (1-13 traces, width 4-18 px, gap 5-14 px)
   running across with 45-degree jogs; a *plane* (a copper area with chamfered
   corners, sometimes with clearance rings around vias); a row of *pads*
   (round pads with drill holes, or rectangular pads, each with a trace stub);
   or *sparse* thin traces with vias. Bands never overlap, so conductors never
   cross; the whole layout is then rotated by a multiple of 90 degrees and
   maybe mirrored, so traces run at 0, 45 and 90 degrees. Copper is 0, the
   background 255.
2. **Defects** (the test image = template + defects), at sites drawn from the
   layout's own geometry: *open* - a cut across a trace; *short* - a stroke
   bridging a trace and its neighbour; *mousebite* - bites out of a trace edge;
   *spur* - a protrusion from a trace edge into the gap; *copper* - a spurious
   blob or stroke in a free area; *pin-hole* - a small hole inside copper.
3. **Boxes**: the exact bounding box of the pixels a defect changed, widened to
   a box size drawn from the real annotations (DeepPCB's boxes are about 33 px,
   larger than most defects), kept inside the image and apart from the others.

Every pair has its own random stream (``SeedSequence(seed).spawn``), so the
result does not depend on the number of threads.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from course_utils.detection.deeppcb import DEEPPCB_COUNTS
from course_utils.detection.pcb import PCB_CLASSES, DetectionSet

__all__ = ["make_synthetic_pcb", "generate_pairs"]

#: Class shares of the DeepPCB trainval boxes (open, short, mousebite, spur, copper, pin-hole).
_CLASS_SHARES = np.array(DEEPPCB_COUNTS["trainval"]["per_class"], dtype=np.float64) / DEEPPCB_COUNTS["trainval"]["boxes"]
#: Median box width and height per class (pixels at 640x640), measured on the 40 real sample pairs.
_BOX_SIZE_MEDIAN = np.array([[35, 33.5], [44, 35], [33, 30], [32, 33], [36, 34], [35, 32]], dtype=np.float64)
#: Log-normal spread of the box sizes.
_BOX_SIZE_SIGMA = 0.18
#: Boxes per image: 1 + Binomial(14, p) gives 1..15 with DeepPCB's mean of 6.9.
_BOXES_PER_IMAGE = (14, 5.873 / 14)

_OPEN, _SHORT, _MOUSEBITE, _SPUR, _COPPER, _PINHOLE = range(6)


def _cv2():
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


class _Layout:
    """A template being drawn plus the trace segments defects may be put on."""

    def __init__(self, size, rng, style):
        self.size, self.rng, self.s, self.style = size, rng, size / 640, style
        self.img = np.full((size, size), 255, dtype=np.uint8)
        self.segments = []  # rows: x0, y0, x1, y1, width, gap_minus, gap_plus, neighbour_plus

    def add_traces(self, paths, width, gaps_minus, gaps_plus, neighbours):
        cv2 = _cv2()
        cv2.polylines(self.img, [np.round(p).astype(np.int32) for p in paths], False, 0, int(round(width)),
                      cv2.LINE_8)
        for p, gm, gp, nb in zip(paths, gaps_minus, gaps_plus, neighbours):
            for a, b in zip(p[:-1], p[1:]):
                self.segments.append((a[0], a[1], b[0], b[1], width, gm, gp, nb))

    def bundle(self, y0, y1):
        rng, s = self.rng, self.s
        width = max(2.0, rng.choice(self.style["widths"]) * s)
        gap = max(3.0, rng.uniform(5, 14) * s)
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
        cv2 = _cv2()
        radius = max(min(radius, (pitch - 3 * self.s) / 2), 1.0)
        hole = radius * self.rng.uniform(0.3, 0.5)
        for cx, cy in centres:
            cv2.circle(self.img, (int(round(cx)), int(round(cy))), int(round(radius)), 0, -1)
        for cx, cy in centres:
            cv2.circle(self.img, (int(round(cx)), int(round(cy))), max(1, int(round(hole))), 255, -1)

    def plane(self, y0, y1):
        cv2, rng, s = _cv2(), self.rng, self.s
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
        cv2, rng, s = _cv2(), self.rng, self.s
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
        width = max(2.0, rng.uniform(3, 6) * s)
        for _ in range(rng.integers(1, 4)):
            path = _jog_path(rng, rng.uniform(-40, 0.6 * self.size), rng.uniform(0.5, 1.1) * self.size,
                             y0 + width, y1 - width, min_run=30 * s)
            big = 8 * s
            self.add_traces([path], width, [big], [big], [False])
            self._pads(path[[0, -1]], width / 2 + rng.uniform(3, 6) * s, 40 * s)


#: Layout styles: trace widths of bundles (px), band-kind weights (bundle, plane, pads, sparse),
#: band heights per kind and the spacing between bands. Their mix spreads the copper fraction
#: from almost empty crops to crops dominated by copper planes, as in the real set.
_STYLES = (
    {"p": 0.3, "widths": [3, 4, 5, 6, 8], "kinds": [0.35, 0.04, 0.21, 0.4], "gap": (25, 90)},
    {"p": 0.45, "widths": [4, 6, 8, 10, 12, 14], "kinds": [0.5, 0.17, 0.15, 0.18], "gap": (10, 45)},
    {"p": 0.25, "widths": [8, 10, 12, 14, 18, 22], "kinds": [0.45, 0.45, 0.07, 0.03], "gap": (6, 22)},
)
_HEIGHTS = ((40, 260), (60, 320), (30, 60), (30, 120))


def _draw_layout(size, rng) -> _Layout:
    style = _STYLES[rng.choice(len(_STYLES), p=[st["p"] for st in _STYLES])]
    layout = _Layout(size, rng, style)
    kinds = (layout.bundle, layout.plane, layout.pad_row, layout.sparse)
    y = rng.uniform(-20, 30) * layout.s
    while y < size:
        k = rng.choice(4, p=style["kinds"])
        height = rng.uniform(*_HEIGHTS[k]) * layout.s
        kinds[k](y, y + height)
        y += height + rng.uniform(*style["gap"]) * layout.s
    return layout


# ---------------------------------------------------------------------------
# Defects
# ---------------------------------------------------------------------------
def _unit(angle):
    return np.array([np.cos(angle), np.sin(angle)])


def _rotate(v, angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def _pt(c):
    return int(round(c[0])), int(round(c[1]))


def _pts(*points):
    return np.round(np.asarray(points)).astype(np.int32)


class _Defects:
    """Draws defects into a copy of a layout and records their boxes."""

    def __init__(self, layout: _Layout):
        self.layout, self.rng, self.s, self.size = layout, layout.rng, layout.s, layout.size
        self.img = layout.img.copy()
        self.segments = np.asarray(layout.segments, dtype=np.float64).reshape(-1, 8)
        self.boxes: list = []
        self.labels: list = []
        self.changed: list = []  # per defect: (x0, y0, ys, xs) the pixels it changed (window offset + indices)
        self._free = {}
        self.margin = 14 * self.s

    # -- sites ------------------------------------------------------------
    def _trace_site(self, need):
        """A point on a trace segment: ``(p, u, n, row)`` or None. ``need(row) -> bool`` filters rows."""
        seg = self.segments
        if not len(seg):
            return None
        length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
        usable = np.clip(length - 2 * (seg[:, 4] + 10 * self.s), 0, None)
        usable *= np.array([need(row) for row in seg], dtype=bool)
        if usable.sum() <= 0:
            return None
        k = self.rng.choice(len(seg), p=usable / usable.sum())
        row = seg[k]
        u = (row[2:4] - row[0:2]) / length[k]
        t = seg[k, 4] + 10 * self.s + self.rng.uniform(0, usable[k])
        p = row[0:2] + u * t
        return p, u, np.array([-u[1], u[0]]), row

    def _area_site(self, copper: bool, clearance: float):
        """A point at least ``clearance`` px (Chebyshev) inside copper (``copper``) or inside free
        background, taken from a 3-pixel grid."""
        cv2 = _cv2()
        key = (copper, clearance)
        if key not in self._free:
            src = (self.layout.img == 0) if copper else (self.layout.img == 255)
            k = 2 * int(np.ceil(clearance)) + 1
            inner = cv2.erode(src.astype(np.uint8), np.ones((k, k), np.uint8), borderValue=0)[::3, ::3]
            self._free[key] = (np.flatnonzero(inner), inner.shape[1])
        flat, cols = self._free[key]
        if not flat.size:
            return None
        k = flat[self.rng.integers(flat.size)]
        return np.array([(k % cols) * 3, (k // cols) * 3], dtype=np.float64)

    # -- one defect -------------------------------------------------------
    def _draw(self, cls):
        rng, s = self.rng, self.s
        cv2 = _cv2()
        img = self.img
        if cls in (_OPEN, _SHORT, _MOUSEBITE, _SPUR):
            need = {_OPEN: lambda r: True, _SHORT: lambda r: r[7] > 0,
                    _MOUSEBITE: lambda r: r[4] >= 4 * s, _SPUR: lambda r: True}[cls]
            site = self._trace_site(need)
            if site is None:
                return None
            p, u, n, row = site
            w = row[4]
            if cls == _OPEN:
                theta = rng.uniform(-0.45, 0.45)
                across, along = _rotate(n, theta), _rotate(u, theta)
                half = (w / 2) / np.cos(theta) + 1.5 * s
                gap = rng.uniform(2, 9) * s / 2
                cv2.fillConvexPoly(img, _pts(p - across * half - along * gap, p + across * half - along * gap,
                                             p + across * half + along * gap, p - across * half + along * gap), 255)
            elif cls == _SHORT:
                g = row[6]
                a = p + n * (w / 2 - s)
                b = p + n * (w / 2 + g + s) + u * rng.uniform(-0.5, 0.5) * g
                mid = (a + b) / 2 + u * rng.uniform(-4, 4) * s
                cv2.polylines(img, [_pts(a, mid, b)], False, 0, max(1, int(round(rng.uniform(2, 5) * s))))
            elif cls == _MOUSEBITE:
                side = rng.choice([-1.0, 1.0])
                r = rng.uniform(1.5 * s, max(1.6 * s, min(4.5 * s, 0.45 * w)))
                for i in range(rng.integers(1, 4)):
                    c = p + side * n * (w / 2 + 0.2 * r) + u * i * r * rng.uniform(1.2, 2.0)
                    cv2.circle(img, _pt(c), max(1, int(round(r))), 255, -1)
            else:
                side = rng.choice([-1.0, 1.0])
                gap = row[5] if side < 0 else row[6]
                phi = rng.uniform(-0.6, 0.6)
                v = _rotate(side * n, phi)
                length = min(rng.uniform(3, 12) * s, (gap - 2 * s) / max(np.cos(phi), 0.5))
                if length < 2 * s:
                    return None
                e = p + side * n * (w / 2 - s)
                base = rng.uniform(3, 9) * s / 2
                cv2.fillConvexPoly(img, _pts(e - u * base, e + u * base, e + v * length), 0)
        else:
            radius = rng.uniform(4, 10) * s if cls == _COPPER else rng.uniform(2, 6) * s
            c = self._area_site(copper=cls == _PINHOLE, clearance=(12 * s if cls == _COPPER else 8 * s))
            if c is None:
                return None
            value = 0 if cls == _COPPER else 255
            if rng.random() < 0.5:
                axes = (max(1, int(round(radius))), max(1, int(round(radius * rng.uniform(0.4, 1.0)))))
                cv2.ellipse(img, _pt(c), axes, rng.uniform(0, 180), 0, 360, value, -1)
            else:
                a = c + _unit(rng.uniform(0, 2 * np.pi)) * radius
                b = c + _unit(rng.uniform(0, 2 * np.pi)) * radius
                cv2.polylines(img, [_pts(a, c, b)], False, value, max(1, int(round(rng.uniform(2, 4) * s))))
            p = c
        return p

    def add(self, cls) -> bool:
        """Try to draw one defect of class index ``cls`` (0..5); record its box. True on success."""
        rng, s, size = self.rng, self.s, self.size
        win = int(40 * s)
        state = self.img.copy()
        p = self._draw(cls)
        if p is None:
            return False
        x0, y0 = (np.clip(np.floor(p - win), 0, size)).astype(int)
        x1, y1 = (np.clip(np.ceil(p + win), 0, size)).astype(int)
        # every defect shape reaches less than 40 px from its site, so the window holds all changes
        ys, xs = np.nonzero(self.img[y0:y1, x0:x1] != state[y0:y1, x0:x1])
        if not ys.size:
            self.img = state
            return False
        dx0, dy0, dx1, dy1 = xs.min() + x0, ys.min() + y0, xs.max() + x0 + 1, ys.max() + y0 + 1
        target = _BOX_SIZE_MEDIAN[cls] * s * np.exp(rng.normal(0, _BOX_SIZE_SIGMA, 2))
        if rng.random() < 0.5:
            target = target[::-1]
        pad = rng.uniform(2, 6) * s
        bw, bh = max(dx1 - dx0 + 2 * pad, target[0]), max(dy1 - dy0 + 2 * pad, target[1])
        cx = (dx0 + dx1) / 2 + rng.uniform(-0.3, 0.3) * (bw - (dx1 - dx0)) / 2
        cy = (dy0 + dy1) / 2 + rng.uniform(-0.3, 0.3) * (bh - (dy1 - dy0)) / 2
        box = np.round([max(0, cx - bw / 2), max(0, cy - bh / 2), min(size, cx + bw / 2), min(size, cy + bh / 2)])
        box[:2] = np.minimum(box[:2], [dx0, dy0])
        box[2:] = np.maximum(box[2:], [dx1, dy1])
        if self.boxes:
            other = np.asarray(self.boxes)
            hit = ((other[:, 0] < box[2] + 2) & (other[:, 2] > box[0] - 2)
                   & (other[:, 1] < box[3] + 2) & (other[:, 3] > box[1] - 2))
            if hit.any():
                self.img = state
                return False
        self.boxes.append(box)
        self.labels.append(cls + 1)
        self.changed.append((x0, y0, ys, xs))
        return True


# ---------------------------------------------------------------------------
# Pairs
# ---------------------------------------------------------------------------
def _orient(img, boxes, k, flip):
    """Rotate ``img`` by ``k`` quarter turns (counter-clockwise, as ``np.rot90``), then mirror
    left-right when ``flip``; boxes ``(m, 4)`` follow."""
    size = img.shape[0]
    b = boxes.copy()
    for _ in range(k):  # (x, y) -> (y, size - x)
        b = np.stack([b[:, 1], size - b[:, 2], b[:, 3], size - b[:, 0]], axis=1)
    img = np.rot90(img, k)
    if flip:
        img = img[:, ::-1]
        b = np.stack([size - b[:, 2], b[:, 1], size - b[:, 0], b[:, 3]], axis=1)
    return img, b


def _instance_image(size, changed) -> np.ndarray:
    """``uint8 (size, size)``: 0 where no defect changed a pixel, ``i + 1`` at the pixels defect ``i`` changed."""
    inst = np.zeros((size, size), dtype=np.uint8)
    for i, (x0, y0, ys, xs) in enumerate(changed):
        inst[ys + y0, xs + x0] = i + 1
    return inst


def _one_pair(size, seed_seq, masks=False):
    rng = np.random.default_rng(seed_seq)
    layout = _draw_layout(size, rng)
    defects = _Defects(layout)
    n_target = 1 + rng.binomial(*_BOXES_PER_IMAGE)
    for cls in rng.choice(6, size=3 * n_target, p=_CLASS_SHARES):
        # a class keeps its share: up to 8 sites are tried before the next class is drawn
        if any(defects.add(int(cls)) for _ in range(8)) and len(defects.boxes) == n_target:
            break
    boxes = np.asarray(defects.boxes, dtype=np.float64).reshape(-1, 4)
    k, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
    test, boxes = _orient(defects.img, boxes, k, flip)
    temp, _ = _orient(layout.img, boxes[:0], k, flip)
    out = (test, temp, boxes.astype(np.float32), np.asarray(defects.labels, dtype=np.int64))
    if masks:  # the exact pixels each defect changed, oriented like the images (opt-in: draws nothing)
        out += (_orient(_instance_image(size, defects.changed), boxes[:0], k, flip)[0],)
    return out


def generate_pairs(n: int, *, size: int = 640, seed=0, n_jobs: int | None = None, masks: bool = False):
    """Draw ``n`` synthetic pairs.

    Returns ``(images, templates, boxes, labels)``: ``uint8 (n, size, size)`` test images
    and templates in {0 copper, 255 background}; per image ``float32 (k, 4)`` boxes
    ``x1, y1, x2, y2`` (pixels) and ``int64 (k,)`` class ids 1..6. With ``masks=True`` a
    fifth item, ``uint8 (n, size, size)`` instance images: ``j`` (1..k) at the exact pixels
    defect ``j - 1`` changed, 0 elsewhere (the other outputs are the same as without it).

    Used by: course_utils.detection.masks, tests/detection/test_masks.py"""
    children = np.random.SeedSequence(seed).spawn(n)
    images = np.empty((n, size, size), dtype=np.uint8)
    temps = np.empty((n, size, size), dtype=np.uint8)
    boxes: list = [None] * n
    labels: list = [None] * n
    inst = np.empty((n, size, size), dtype=np.uint8) if masks else None

    def work(chunk):
        for i in chunk:
            images[i], temps[i], boxes[i], labels[i], *extra = _one_pair(size, children[i], masks)
            if masks:
                inst[i] = extra[0]

    jobs = n_jobs or min(4, os.cpu_count() or 1)
    chunks = np.array_split(np.arange(n), max(1, min(n, jobs * 4)))
    if jobs == 1:
        for c in chunks:
            work(c)
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(work, chunks))
    return (images, temps, boxes, labels, inst) if masks else (images, temps, boxes, labels)


def make_synthetic_pcb(n_pairs: int, *, size: int = 640, seed=0, n_jobs: int | None = None) -> DetectionSet:
    """Generate ``n_pairs`` synthetic DeepPCB-like pairs .

    Returns a :class:`DetectionSet` with ``images`` (defects drawn) and ``templates``
    (defect-free) ``uint8 (n_pairs, size, size)`` in {0 copper, 255 background}, 1..15
    boxes per image at the exact extent of each drawn defect plus a margin, ids
    ``"syn-000001"``..., ``source="synthetic"``. The same ``seed`` (an int or a
    sequence of ints) gives identical arrays; ``n_jobs`` threads do not change them.

    Taught in: 13_pcb_detection_data"""
    if not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise ValueError(f"n_pairs={n_pairs!r} must be a positive integer.")
    if not isinstance(size, (int, np.integer)) or size < 128:
        raise ValueError(f"size={size!r} must be an integer >= 128 (pixels; DeepPCB images are 640).")
    images, temps, boxes, labels = generate_pairs(int(n_pairs), size=int(size), seed=seed, n_jobs=n_jobs)
    return DetectionSet(images=images, templates=temps, boxes=boxes, labels=labels,
                        image_ids=[f"syn-{i + 1:06d}" for i in range(n_pairs)], class_names=PCB_CLASSES,
                        source="synthetic", info={"n_pairs": int(n_pairs), "size": int(size), "seed": seed})
