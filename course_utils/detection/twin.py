"""The synthetic PCB twin: layouts, the six defect types, their boxes, and `make_synthetic_pcb`.

How a pair is made (all lengths for a 640x640 image, scaled with ``size / 640``):

1. **Layout** (the template, :mod:`course_utils.detection.twin_layout`): the image is cut into
   horizontal bands, each one of: a *bundle* of parallel traces (1-13 traces, width 5-80 px, gap 8-50 px)
   running across with 45-degree jogs; a *plane* (a copper area with chamfered corners, sometimes with
   clearance rings around vias); a row of *pads*; or *sparse* thin traces with vias. Bands never overlap,
   so conductors never cross. 22 % of the layouts are drawn on a larger canvas turned by 45 degrees (the
   real crops have 37 % diagonal edge pixels); the whole layout is then rotated by a multiple of 90 degrees
   (vertical traces slightly favoured, as in the real crops) and maybe mirrored. Copper is 0, background 255.
2. **Defects** (the test image = template + defects), sized to match the changed pixels per box of the
   real tuning pairs (``calibration.holdout_split``): *open* - a thin wavy crack (3-7 px) right across a trace
   up to 50 px wide, or a clean cut 5-20 px long with ragged ends across a trace up to 30 px wide; *short* - a
   thick stroke bridging 8-30 px from a copper edge to another copper piece;
   *mousebite* - 1-3 bites out of a copper edge, less than half the copper deep; *spur* - a rounded tongue
   out of a copper edge into the free side; *copper* - a spurious ragged blob, or a stroke of two or three bent
   pieces, in a free area; *pin-hole* - the same as a hole inside copper (lengths log-normal with the real
   tails, extent p50 / p90 about 19 / 33 px for copper and 16 / 30 for pin-holes; kept 2-3 px inside their area).
3. **Boxes**: the exact bounding box of the pixels a defect changed, widened to a box size drawn from the
   real annotations (long side along the defect's longer extent; DeepPCB's boxes are about 33 px, larger
   than most defects), kept inside the image and apart from the others. Copper and pin-hole boxes follow the
   rule every real one of the tuning part follows: the extent plus 19 px in width and in height, centred.
4. **Scan noise** (``scan_noise=True``, the default): the test image gets a binarised scan's edge noise, so
   that test and template differ along the copper outlines outside the boxes too, as real pairs do (the twin
   of the held-out benchmark, ``benchmarks/bench_detection.py --heldout``). ``scan_noise=False`` keeps the clean
   construction, where test and template differ exactly at the pixels the defects changed.

Every pair has its own random stream (``SeedSequence(seed).spawn``), so the
result does not depend on the number of threads; inside a pair the layout, the list of defects, each defect
class and the scan draw from streams of their own, so a change to how one class is drawn leaves the boards
and the other classes' draws as they were (their sites can still differ where boxes would overlap).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from course_utils.detection.deeppcb import DEEPPCB_COUNTS
from course_utils.detection.pcb import PCB_CLASSES, DetectionSet
from course_utils.detection.twin_layout import Layout, draw_layout, opencv

__all__ = ["make_synthetic_pcb", "generate_pairs", "pairs_to_set"]

#: Class shares of the DeepPCB trainval boxes (open, short, mousebite, spur, copper, pin-hole).
_CLASS_SHARES = np.array(DEEPPCB_COUNTS["trainval"]["per_class"], dtype=np.float64) / DEEPPCB_COUNTS["trainval"]["boxes"]
#: Median long and short box side per class (pixels at 640x640), measured on the 176 real pairs of the
#: tuning part (``calibration.holdout_split``); the long side follows the defect's longer extent. The copper and
#: pin-hole rows are the real medians only: those boxes follow their defect's extent (``_AREA_BOX_MARGIN``).
_BOX_SIZE_MEDIAN = np.array([[41.5, 33], [49, 29.5], [35, 28], [35, 30], [38, 33], [36, 29]], dtype=np.float64)
#: Log-normal spread of the box sides (0.13-0.34 per class and side on the tuning part).
_BOX_SIZE_SIGMA = 0.2
#: Boxes per image: 1 + Binomial(14, p) gives 1..15 with DeepPCB's mean of 6.9.
_BOXES_PER_IMAGE = (14, 5.873 / 14)

_OPEN, _SHORT, _MOUSEBITE, _SPUR, _COPPER, _PINHOLE = range(6)
#: Opens on the real tuning pairs: most are thin cracks, slanted or wavy, right across the trace (the cut 7 px thick
#: at the median, 10 px at p90; the trace it cuts 12 px wide at the median, 26 px at p75, 50 px at p90), a few are
#: clean gaps across thin traces. The twin cracks traces up to ``_OPEN_CRACK_MAX_WIDTH`` px (at 640); on traces up to
#: ``_OPEN_MAX_WIDTH`` px it draws a clean cut instead in ``1 - _OPEN_CRACK_SHARE`` of the opens.
_OPEN_MAX_WIDTH = 30
_OPEN_CRACK_MAX_WIDTH = 50
_OPEN_CRACK_SHARE = 0.6
#: Spurious copper and pin-hole boxes: the defect's extent plus 19 px (at 640) in width and in height, centred; every
#: such box of the real tuning pairs is (quartiles of box side minus extent: 19 / 19 / 19 px).
_AREA_BOX_MARGIN = 19


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

    def __init__(self, layout: Layout, class_rngs=None):
        self.layout, self.rng, self.s, self.size = layout, layout.rng, layout.s, layout.size
        self.class_rngs = class_rngs  # one generator per class (0..5), or None: the layout's
        self.img = layout.img.copy()
        self.segments = np.asarray(layout.segments, dtype=np.float64).reshape(-1, 8)
        self.boxes: list = []
        self.labels: list = []
        self.changed: list = []  # per defect: (x0, y0, ys, xs) the pixels it changed (window offset + indices)
        self._free = {}
        self.margin = 14 * self.s

    # -- sites ------------------------------------------------------------
    def _trace_site(self):
        """A point on a trace segment no wider than ``_OPEN_CRACK_MAX_WIDTH`` (the site of an open), drawn in
        proportion to the segments' usable lengths: ``(p, u, n, row)`` or None."""
        seg = self.segments
        if not len(seg):
            return None
        length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
        usable = np.clip(length - 2 * (seg[:, 4] + 10 * self.s), 0, None)
        usable[seg[:, 4] > _OPEN_CRACK_MAX_WIDTH * self.s] = 0  # real opens cut traces, not planes
        if usable.sum() <= 0:
            return None
        k = self.rng.choice(len(seg), p=usable / usable.sum())
        row = seg[k]
        u = (row[2:4] - row[0:2]) / length[k]
        t = seg[k, 4] + 10 * self.s + self.rng.uniform(0, usable[k])
        p = row[0:2] + u * t
        if np.any(p < self.margin) or np.any(p > self.size - self.margin):  # off the image (45-degree layouts)
            return None
        return p, u, np.array([-u[1], u[0]]), row

    def _area_site(self, copper: bool, clearance: float):
        """A point at least ``clearance`` px (Chebyshev) inside copper (``copper``) or inside free
        background, taken from a 3-pixel grid."""
        cv2 = opencv()
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

    def _clear(self, p, v, limit, copper=False):
        """Run (px, up to ``limit``) from point ``p`` along unit vector ``v`` in the template through
        background (through copper with ``copper=True``) before the other value or the image border."""
        t = np.arange(1.0, limit + 1)
        xy = np.round(p[None] + t[:, None] * v[None]).astype(int)
        inside = np.all((xy >= 0) & (xy < self.size), axis=1)
        stop = ~inside
        stop[inside] = (self.layout.img[xy[inside, 1], xy[inside, 0]] == 0) != copper
        return float(t[np.argmax(stop)] - 1) if stop.any() else float(limit)

    def _separate(self, a, b, half):
        """True if template points ``a`` and ``b`` lie on copper pieces that are not joined within the
        square of side ``2 * half`` around their midpoint (a short must join two pieces)."""
        cv2 = opencv()
        m = (a + b) / 2
        x0, y0 = np.clip(np.floor(m - half), 0, self.size).astype(int)
        x1, y1 = np.clip(np.ceil(m + half), 0, self.size).astype(int)
        lab = cv2.connectedComponents((self.layout.img[y0:y1, x0:x1] == 0).astype(np.uint8), connectivity=8)[1]
        hi = [x1 - x0 - 1, y1 - y0 - 1]
        (ax, ay), (bx, by) = (np.clip(np.round(q - [x0, y0]).astype(int), 0, hi) for q in (a, b))
        return lab[ay, ax] > 0 and lab[by, bx] > 0 and lab[ay, ax] != lab[by, bx]

    def _edge_site(self):
        """A pixel on the copper outline of the template (trace, pad or plane): ``(p, u, n)`` with ``n``
        the outward normal (towards the background), ``u`` along the edge; None if there is no copper."""
        cv2 = opencv()
        if "edge" not in self._free:
            copper = (self.layout.img == 0).astype(np.uint8)
            edge = copper & ~cv2.erode(copper, np.ones((3, 3), np.uint8), borderValue=1)
            self._free["edge"] = (np.flatnonzero(edge), cv2.blur(copper.astype(np.float32), (7, 7)))
        flat, blur = self._free["edge"]
        if not flat.size:
            return None
        k = flat[self.rng.integers(flat.size)]
        y, x = divmod(int(k), self.size)
        y0, x0 = min(max(y, 1), self.size - 2), min(max(x, 1), self.size - 2)
        g = np.array([blur[y0, x0 + 1] - blur[y0, x0 - 1], blur[y0 + 1, x0] - blur[y0 - 1, x0]], dtype=np.float64)
        if np.hypot(*g) < 1e-3:
            return None
        n = -g / np.hypot(*g)
        return np.array([x, y], dtype=np.float64), np.array([-n[1], n[0]]), n

    # -- one defect -------------------------------------------------------
    def _blob(self, c, radius, value):
        """An irregular blob around ``c``: an ellipse of semi-axes ``radius`` x 0.45-0.9 ``radius`` and one or
        two smaller overlapping ellipses (real spurious copper and pin-holes are ragged, not round)."""
        cv2, rng = opencv(), self.rng
        for k in range(rng.integers(1, 4)):
            a = radius * (1.0 if k == 0 else rng.uniform(0.4, 0.7))
            b = a * rng.uniform(0.45, 0.9)
            off = c + (_unit(rng.uniform(0, 2 * np.pi)) * radius * rng.uniform(0.2, 0.5) if k else 0)
            cv2.ellipse(self.img, _pt(off), (max(1, int(round(a))), max(1, int(round(b)))), rng.uniform(0, 180),
                        0, 360, value, -1)

    def _trace_defect(self, cls, p, u, n, row):
        """Draw open or short at trace point ``p`` (direction ``u``, normal ``n``, ``row`` its segment), or
        mousebite or spur at copper edge point ``p`` (``n`` outward); sizes match the changed pixels per box
        of the real tuning pairs. False if the site has no room."""
        rng, s, img, cv2 = self.rng, self.s, self.img, opencv()
        w = row[4] if row is not None else 0.0
        if cls == _OPEN and (w > _OPEN_MAX_WIDTH * s or rng.random() < _OPEN_CRACK_SHARE):
            # a crack: a wavy line 3-7 px thick right across the trace, slanted up to 0.5 rad
            theta = rng.uniform(-0.5, 0.5)
            across = _rotate(n, theta)
            half = (w / 2) / np.cos(theta) + 2 * s
            t = np.linspace(-1, 1, rng.integers(4, 7))[:, None]
            wobble = np.clip(rng.normal(0, 0.12, t.shape), -0.25, 0.25) * max(w, 8 * s)
            path = p + across * half * t + u * wobble
            cv2.polylines(img, [_pts(*path)], False, 255, max(1, int(round(rng.uniform(3, 7) * s))))
        elif cls == _OPEN:  # a cut 5-20 px long, its two edges ragged
            theta = rng.uniform(-0.45, 0.45)
            across, along = _rotate(n, theta), _rotate(u, theta)
            half = (w / 2) / np.cos(theta) + 1.5 * s
            gap = rng.uniform(5, 20) * s / 2
            t = np.linspace(-1, 1, 4)[:, None]
            jit = rng.uniform(-0.3, 0.3, (2, 4, 1)) * gap
            edge_a = p + across * half * t - along * (gap + jit[0])
            edge_b = p + across * half * t[::-1] + along * (gap + jit[1])
            cv2.fillPoly(img, [_pts(*edge_a, *edge_b)], 255)
        elif cls == _SHORT:  # a thick bridge 8-30 px long to another copper piece (the longest of 8 tries)
            best = None
            for _ in range(8):
                v = _rotate(n, rng.uniform(-0.4, 0.4))
                e = p + n * s
                g = self._clear(e, v, 30 * s)
                if 8 * s <= g < 30 * s and (best is None or g > best[0]) and self._separate(p, e + v * (g + 1), 22 * s):
                    best = (g, v)
            if best is None:
                return False
            g, v = best
            a, b = p - n * s, p + n * s + v * (g + 2 * s)
            mid = (a + b) / 2 + u * rng.uniform(-4, 4) * s
            cv2.polylines(img, [_pts(a, mid, b)], False, 0, max(1, int(round(rng.uniform(5, 11) * s))))
        elif cls == _MOUSEBITE:  # 1-3 bites out of a copper edge, less than half the copper deep
            depth = self._clear(p - n, -n, 40 * s, copper=True)
            r0 = min(rng.uniform(5, 10) * s, depth / 2.1)
            if r0 < 3 * s:
                return False
            for i in range(rng.integers(1, 4)):
                r = r0 * rng.uniform(0.7, 1.0)
                c = p + n * 0.1 * r0 + u * i * r0 * rng.uniform(0.9, 1.5)
                cv2.circle(img, _pt(c), max(1, int(round(r))), 255, -1)
        else:  # spur: a rounded tongue 12-22 px wide out of a copper edge, stopping short of other copper
            phi = rng.uniform(-0.5, 0.5)
            v = _rotate(n, phi)
            length = min(rng.uniform(7, 18) * s, (self._clear(p, n, 30 * s) - 4 * s) / max(np.cos(phi), 0.5))
            if length < 5 * s:
                return False
            e = p - n * s
            base = rng.uniform(12, 22) * s / 2
            tip = rng.uniform(0.25, 0.6) * base
            end = e + v * (length - tip)
            cv2.fillConvexPoly(img, _pts(e - u * base, e + u * base, end + u * tip, end - u * tip), 0)
            cv2.circle(img, _pt(end), max(1, int(round(tip))), 0, -1)
        return True

    def _area_defect(self, cls):
        """Draw spurious copper (in a free area) or a pin-hole (inside copper): a ragged blob or a stroke of two or
        three bent pieces, kept 2-3 px inside its area. Returns its centre, or None if there is no room."""
        rng, s, cv2 = self.rng, self.s, opencv()
        in_copper = cls == _PINHOLE
        c = self._area_site(copper=in_copper, clearance=(14 * s if cls == _COPPER else 9 * s))
        if c is None:
            return None
        value = 0 if cls == _COPPER else 255
        if rng.random() < 0.55:  # a ragged blob (it reaches 1.2 radius), kept 2 px inside its area
            radius = np.clip(rng.lognormal(np.log(8 if cls == _COPPER else 6), 0.3), 4, 16) * s
            room = min(self._clear(c, _unit(a), 40 * s, copper=in_copper) for a in np.arange(8) * np.pi / 4)
            radius = min(radius, (room - 2 * s) / 1.2)
            if radius < 2.5 * s:
                return None
            self._blob(c, radius, value)
        else:  # a stroke of two or three bent pieces, kept inside its area (free space or copper)
            length = np.clip(rng.lognormal(np.log(20 if cls == _COPPER else 17), 0.35), 8, 45) * s
            width = rng.uniform(4, 9) * s if cls == _COPPER else rng.uniform(3, 7) * s
            v = _unit(rng.uniform(0, 2 * np.pi))
            room = min(self._clear(c, v, length, copper=in_copper),
                       self._clear(c, -v, length, copper=in_copper)) - width / 2 - 3 * s
            half = min(length / 2, room)
            if half < 3 * s:
                return None
            k = rng.integers(2, 4)
            t = np.linspace(-half, half, k + 1)[:, None]
            bend = _rotate(v, np.pi / 2) * rng.normal(0, 0.15, (k + 1, 1)) * half
            bend[[0, -1]] *= 0.5
            cv2.polylines(self.img, [_pts(*(c + v * t + bend))], False, value, max(1, int(round(width))))
        return c

    def _draw(self, cls):
        """Draw one defect of class index ``cls``; its site (a point), or None if it found no room."""
        if cls in (_COPPER, _PINHOLE):
            return self._area_defect(cls)
        # opens on traces; shorts, mousebites and spurs on any copper edge (traces, pads, planes)
        site = self._trace_site() if cls == _OPEN else self._edge_site()
        if site is None or not self._trace_defect(cls, *site[:3], site[3] if len(site) > 3 else None):
            return None
        return site[0]

    def add(self, cls) -> bool:
        """Try to draw one defect of class index ``cls`` (0..5); record its box. True on success."""
        if self.class_rngs is not None:
            self.rng = self.class_rngs[cls]
        rng, s, size = self.rng, self.s, self.size
        win = int(40 * s)
        state = self.img.copy()
        p = self._draw(cls)
        if p is None:
            return False
        x0, y0 = (np.clip(np.floor(p - win), 0, size)).astype(int)
        x1, y1 = (np.clip(np.ceil(p + win), 0, size)).astype(int)
        # the defect shapes reach less than 40 px from their sites; if a change touches the window's inner
        # border all the same, the whole image is searched, so that no changed pixel is left outside the box
        ys, xs = np.nonzero(self.img[y0:y1, x0:x1] != state[y0:y1, x0:x1])
        if ys.size and ((y0 > 0 and ys.min() == 0) or (x0 > 0 and xs.min() == 0)
                        or (y1 < size and ys.max() == y1 - y0 - 1) or (x1 < size and xs.max() == x1 - x0 - 1)):
            x0 = y0 = 0
            ys, xs = np.nonzero(self.img != state)
        if not ys.size:
            self.img = state
            return False
        dx0, dy0, dx1, dy1 = xs.min() + x0, ys.min() + y0, xs.max() + x0 + 1, ys.max() + y0 + 1
        if cls in (_COPPER, _PINHOLE):  # real boxes: the extent plus 19 px, centred (IQR 0 on the tuning part)
            bw, bh = dx1 - dx0 + _AREA_BOX_MARGIN * s, dy1 - dy0 + _AREA_BOX_MARGIN * s
            cx, cy = (dx0 + dx1) / 2 + rng.normal(0, 0.7 * s), (dy0 + dy1) / 2 + rng.normal(0, 0.7 * s)
        else:
            target = _BOX_SIZE_MEDIAN[cls] * s * np.exp(rng.normal(0, _BOX_SIZE_SIGMA, 2))
            if dx1 - dx0 < dy1 - dy0 or (dx1 - dx0 == dy1 - dy0 and rng.random() < 0.5):
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


def _scan(img, rng) -> np.ndarray:
    """Imitate the binarised scan of a real test board on ``img`` (``uint8`` 0/255): the copper outline
    moves by a drifting amount (up to 1 px thinner or thicker in places: traces of 3 px survive, gaps of
    3 px stay open) and, in half the pairs, by a one-pixel misalignment, so that test and template differ
    along the edges outside the boxes as in the real tuning pairs (differing pixels per template edge
    pixel, median: real 0.56, twin 0.59; after a 2x2 opening real 0.15; half of them added copper)."""
    cv2, size = opencv(), img.shape[0]
    copper = (img == 0).astype(np.uint8)
    signed = (cv2.distanceTransform(1 - copper, cv2.DIST_L2, 3)
              - cv2.distanceTransform(copper, cv2.DIST_L2, 3))  # > 0 outside copper, < 0 inside
    drift = cv2.resize(rng.uniform(-1, 1, (8, 8)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    out = np.where(signed < np.clip(rng.uniform(2, 4) * drift, -1.9, 1.9), 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        d = rng.choice([-1, 0, 1], 2)
        out = cv2.warpAffine(out, np.float32([[1, 0, d[0]], [0, 1, d[1]]]), (size, size), flags=cv2.INTER_NEAREST,
                             borderMode=cv2.BORDER_REPLICATE)
    return out


def _one_pair(size, seed_seq, masks=False, scan_noise=True):
    # separate streams for the layout, the list of defects, each defect class and the scan: a change to how one
    # class is drawn leaves the layouts and the other classes' draws as they were
    streams = [np.random.default_rng(s) for s in seed_seq.spawn(9)]
    rng = streams[1]
    layout = draw_layout(size, streams[0])
    defects = _Defects(layout, class_rngs=streams[2:8])
    n_target = 1 + rng.binomial(*_BOXES_PER_IMAGE)
    for cls in rng.choice(6, size=3 * n_target, p=_CLASS_SHARES):
        # a class keeps its share: up to 8 sites are tried before the next class is drawn
        if any(defects.add(int(cls)) for _ in range(8)) and len(defects.boxes) == n_target:
            break
    boxes = np.asarray(defects.boxes, dtype=np.float64).reshape(-1, 4)
    # real crops have more vertical than horizontal edges (36 % vs 27 % of the tuning pairs' edge pixels)
    k, flip = int(rng.choice(4, p=[0.2, 0.3, 0.2, 0.3])), bool(rng.random() < 0.5)
    test, boxes = _orient(_scan(defects.img, streams[8]) if scan_noise else defects.img, boxes, k, flip)
    temp, _ = _orient(layout.img, boxes[:0], k, flip)
    out = (test, temp, boxes.astype(np.float32), np.asarray(defects.labels, dtype=np.int64))
    if masks:  # the exact pixels each defect changed, oriented like the images (opt-in: draws nothing)
        out += (_orient(_instance_image(size, defects.changed), boxes[:0], k, flip)[0],)
    return out


def generate_pairs(n: int, *, size: int = 640, seed=0, n_jobs: int | None = None, masks: bool = False,
                   scan_noise: bool = True):
    """Draw ``n`` synthetic pairs.

    Returns ``(images, templates, boxes, labels)``: ``uint8 (n, size, size)`` test images
    and templates in {0 copper, 255 background}; per image ``float32 (k, 4)`` boxes
    ``x1, y1, x2, y2`` (pixels) and ``int64 (k,)`` class ids 1..6. With ``masks=True`` a
    fifth item, ``uint8 (n, size, size)`` instance images: ``j`` (1..k) at the exact pixels
    defect ``j - 1`` changed, 0 elsewhere (the other outputs are the same as without it). With
    ``scan_noise=True`` (the default) the test images look like binarised scans (see ``_scan``): their edges
    differ from the templates' by 0-2 px everywhere, as in real pairs, and the masks are the defects as drawn
    before it; boxes, labels and templates are the same as with ``scan_noise=False``, the clean construction
    (test and template differ exactly at the masks' pixels).

    Used by: course_utils.detection.masks, tests/detection/test_masks.py"""
    children = np.random.SeedSequence(seed).spawn(n)
    images = np.empty((n, size, size), dtype=np.uint8)
    temps = np.empty((n, size, size), dtype=np.uint8)
    boxes: list = [None] * n
    labels: list = [None] * n
    inst = np.empty((n, size, size), dtype=np.uint8) if masks else None

    def work(chunk):
        for i in chunk:
            images[i], temps[i], boxes[i], labels[i], *extra = _one_pair(size, children[i], masks, scan_noise)
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


def make_synthetic_pcb(n_pairs: int, *, size: int = 640, seed=0, n_jobs: int | None = None,
                       scan_noise: bool = True) -> DetectionSet:
    """Generate ``n_pairs`` synthetic DeepPCB-like pairs.

    Returns a :class:`DetectionSet` with ``images`` (defects drawn) and ``templates``
    (defect-free) ``uint8 (n_pairs, size, size)`` in {0 copper, 255 background}, 1..15
    boxes per image at the exact extent of each drawn defect plus a margin, ids
    ``"syn-000001"``..., ``source="synthetic"``. The same ``seed`` (an int or a
    sequence of ints) gives identical arrays; ``n_jobs`` threads do not change them.
    ``scan_noise=True`` (the default): the test images get a binarised scan's edge noise (misalignment of up
    to a pixel, drifting threshold), so that test and template also differ along every edge outside the
    boxes, as real DeepPCB pairs do. ``scan_noise=False``: the clean construction, test and template differ
    only where the defects were drawn (inside the boxes); boxes, labels and templates are the same either way.

    Taught in: 13_pcb_detection_data"""
    if not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise ValueError(f"n_pairs={n_pairs!r} must be a positive integer.")
    if not isinstance(size, (int, np.integer)) or size < 128:
        raise ValueError(f"size={size!r} must be an integer >= 128 (pixels; DeepPCB images are 640).")
    pairs = generate_pairs(int(n_pairs), size=int(size), seed=seed, n_jobs=n_jobs, scan_noise=bool(scan_noise))
    return pairs_to_set(*pairs, seed=seed, scan_noise=scan_noise)


def pairs_to_set(images, templates, boxes, labels, *, seed, scan_noise: bool) -> DetectionSet:
    """The twin's pairs (the first four items of :func:`generate_pairs`) as a :class:`DetectionSet`: ids
    ``"syn-000001"``..., ``source="synthetic"``, ``info`` recording the number of pairs, size, seed and
    ``scan_noise``.

    Used by: course_utils.detection.masks"""
    n, size = images.shape[:2]
    return DetectionSet(images=images, templates=templates, boxes=boxes, labels=labels,
                        image_ids=[f"syn-{i + 1:06d}" for i in range(n)], class_names=PCB_CLASSES,
                        source="synthetic", info={"n_pairs": int(n), "size": int(size), "seed": seed,
                                                  "scan_noise": bool(scan_noise)})
