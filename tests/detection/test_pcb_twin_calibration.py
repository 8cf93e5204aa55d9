"""The PCB twin matched to the real DeepPCB pairs of the tuning part (issue #27 item 3).

The real figures are computed here, with plain NumPy / OpenCV, on the tuning part of
``calibration.holdout_split`` only (never on the reporting part, group77000), and the twin must land
within a tolerance of them. Before the calibration the twin's defects changed 2-7x fewer pixels
than real ones (median per box: mousebite 12 vs 73.5, spur 11 vs 83) and only 17 % of its edge pixels
were diagonal (real 37 %); these tests fail on that twin.
"""
import cv2
import numpy as np
import pytest

from course_utils.detection import calibration
from course_utils.detection import twin as det_twin
from course_utils.detection.pcb import PCB_CLASSES

from shared_data import DEEPPCB_DATA as DATA, needs_deeppcb_data as needs_data


def _opened_diff(img, tmp) -> np.ndarray:
    """``uint8 (H, W)``: 1 where the binarised test and template differ, after a 2x2 opening (drops 1-pixel edge
    noise): the same recipe for real and twin pairs."""
    diff = ((img < 128) != (tmp < 128)).astype(np.uint8)
    return cv2.morphologyEx(diff, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))


def _changed_pixels_per_box(ds) -> dict[int, list[int]]:
    """Per class id: the pixels of :func:`_opened_diff` inside each box."""
    out = {c: [] for c in range(1, 7)}
    for img, tmp, boxes, labels in zip(ds.images, ds.templates, ds.boxes, ds.labels):
        diff = _opened_diff(img, tmp)
        for (x1, y1, x2, y2), c in zip(np.asarray(boxes).astype(int), labels):
            out[int(c)].append(int(diff[y1:y2, x1:x2].sum()))
    return out


def _diagonal_edge_share(templates) -> float:
    """Share of copper edge pixels whose gradient lies 20-70 degrees off the axes (Sobel on the copper mask)."""
    diagonal = total = 0
    for t in templates:
        f = (t < 128).astype(np.float32)
        gx, gy = cv2.Sobel(f, cv2.CV_32F, 1, 0), cv2.Sobel(f, cv2.CV_32F, 0, 1)
        edge = np.hypot(gx, gy) > 0.5
        angle = np.degrees(np.arctan2(gy[edge], gx[edge])) % 90   # 0 / 90: axis-parallel, 45: diagonal
        diagonal += int(np.sum((angle >= 20) & (angle <= 70)))
        total += int(edge.sum())
    return diagonal / total


def _stray_per_edge(ds) -> np.ndarray:
    """Per pair: pixels outside every box where test and template differ, per copper edge pixel of the template."""
    out = []
    for img, tmp, boxes in zip(ds.images, ds.templates, ds.boxes):
        t, s = tmp < 128, img < 128
        outside = np.ones_like(t)
        for x1, y1, x2, y2 in np.asarray(boxes).astype(int):
            outside[y1:y2, x1:x2] = False
        edge = t & ~cv2.erode(t.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        out.append(((s != t) & outside).sum() / max(int(edge.sum()), 1))
    return np.array(out)


def _open_cuts(ds) -> tuple[np.ndarray, np.ndarray]:
    """Per open box: the width of the trace it cuts (twice the template's largest copper distance at the changed
    pixels) and the thickness of the cut (twice the largest distance inside the changed pixels), both in pixels,
    on :func:`_opened_diff`."""
    widths, thickness = [], []
    for img, tmp, boxes, labels in zip(ds.images, ds.templates, ds.boxes, ds.labels):
        copper = np.pad((tmp < 128).astype(np.uint8), 1)
        inside = cv2.distanceTransform(copper, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
        diff = _opened_diff(img, tmp)
        for (x1, y1, x2, y2), c in zip(np.asarray(boxes).astype(int), labels):
            cut = diff[y1:y2, x1:x2]
            if c != 1 or cut.sum() < 5:
                continue
            widths.append(2 * inside[y1:y2, x1:x2][cut > 0].max())
            thickness.append(2 * cv2.distanceTransform(np.pad(cut, 1), cv2.DIST_L2, cv2.DIST_MASK_PRECISE).max())
    return np.array(widths), np.array(thickness)


@pytest.fixture(scope="module")
def tuning():
    real = calibration.load_real_pairs(DATA)
    tune, report = calibration.holdout_split(real)
    assert "group77000" not in set(real.groups[tune])        # statistics never read the reporting part
    return real.pairs.subset(tune)


@pytest.fixture(scope="module")
def twin():
    # the clean construction: the defects were calibrated on it (changed pixels per box are the defect alone);
    # the scan noise, the default, is compared on its own below
    return det_twin.make_synthetic_pcb(120, seed=0, scan_noise=False)


@needs_data
def test_changed_pixels_per_box_match_the_real_tuning_part(tuning, twin):
    real, syn = _changed_pixels_per_box(tuning), _changed_pixels_per_box(twin)
    # real medians on the tuning part: open 117.5, short 155.5, mousebite 73.5, spur 84, copper 164.5,
    # pin-hole 110. Twin / real on seeds 0-2: the old twin 0.13-0.52 (median over the classes 0.3), the
    # calibrated one 0.79-1.23 (median 0.93-0.99; opens mostly thin cracks, mousebites smallest)
    ratios = np.array([np.median(syn[c]) / np.median(real[c]) for c in range(1, 7)])
    for name, ratio in zip(PCB_CLASSES, ratios):
        assert 0.5 < ratio < 1.6, (name, ratio)
    assert 0.75 < np.median(ratios) < 1.25, ratios


@needs_data
def test_short_boxes_are_as_elongated_as_real_ones(tuning, twin):
    def elongation(ds):
        b = np.concatenate([bx[lab == 2] for bx, lab in zip(ds.boxes, ds.labels)])
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        return np.median(np.maximum(w, h) / np.minimum(w, h))
    # long side / short side of the short boxes: real 1.67 on the tuning part (the old twin 1.22-1.30, now 1.59-1.65)
    assert elongation(twin) == pytest.approx(elongation(tuning), rel=0.15)


@needs_data
def test_diagonal_edges_match_the_real_tuning_part(tuning, twin):
    real = _diagonal_edge_share(tuning.templates[::4])   # 0.36 (the old twin 0.17; the calibrated one 0.38-0.42)
    assert _diagonal_edge_share(twin.templates) == pytest.approx(real, abs=0.08)


@needs_data
def test_conductor_widths_and_clearances_match_the_real_tuning_part(tuning, twin):
    # pixels, p50 / p90, on the tuning part: conductor width 11 / 51, clearance 23 / 83; the twin before its
    # widths were calibrated 9 / 15 and 9 / 61 (dense bundles of thin traces); now (seeds 0-2) 9-10 / 36-40
    # and 19-23 / 77-81
    for copper in (True, False):
        real = np.percentile(calibration.stroke_widths(tuning.templates[::2], copper=copper), [50, 90])
        syn = np.percentile(calibration.stroke_widths(twin.templates, copper=copper), [50, 90])
        assert np.all((0.65 < syn / real) & (syn / real < 1.35)), (copper, real, syn)


@needs_data
def test_opens_are_thin_cracks_across_traces_as_wide_as_real_ones(tuning, twin):
    # on the tuning part (pixels, p50 / p90): the cut trace 12 / 50 wide, the cut 6.8 / 10 thick (most real opens are
    # thin, often slanted or wavy cracks); the twin before its cracks cut traces of 10-11 / 23-26 px with cuts 10 px
    # thick (seeds 0-2), now 10-12 / 32-38 with cuts 8 px thick
    # the twin's p90 over one set of 120 pairs moves from 26 to 41 px with its seed: three seeds are pooled
    more = [_open_cuts(det_twin.make_synthetic_pcb(120, seed=seed, scan_noise=False)) for seed in (1, 2)]
    (real_w, real_t), syn = _open_cuts(tuning), [_open_cuts(twin)] + more
    syn_w, syn_t = np.concatenate([w for w, _ in syn]), np.concatenate([c for _, c in syn])
    assert 0.75 < np.median(syn_w) / np.median(real_w) < 1.33, (np.median(real_w), np.median(syn_w))
    assert np.percentile(syn_w, 90) / np.percentile(real_w, 90) > 0.6, (np.percentile(real_w, 90), np.percentile(syn_w, 90))
    assert 0.75 < np.median(syn_t) / np.median(real_t) < 1.3, (np.median(real_t), np.median(syn_t))


def _area_box_margins(ds, class_id) -> np.ndarray:
    """``(n, 2)``: box width and height minus the width and height of the :func:`_opened_diff` pixels inside it,
    for every box of ``class_id`` with at least 5 such pixels."""
    out = []
    for img, tmp, boxes, labels in zip(ds.images, ds.templates, ds.boxes, ds.labels):
        diff = _opened_diff(img, tmp)
        for (x1, y1, x2, y2), c in zip(np.asarray(boxes).astype(int), labels):
            ys, xs = np.nonzero(diff[y1:y2, x1:x2])
            if c == class_id and ys.size >= 5:
                out.append((x2 - x1 - (xs.max() - xs.min() + 1), y2 - y1 - (ys.max() - ys.min() + 1)))
    return np.array(out, dtype=np.float64)


@needs_data
@pytest.mark.parametrize("class_id", [5, 6], ids=["copper", "pin-hole"])
def test_copper_and_pin_hole_boxes_are_the_defect_extent_plus_19_px(tuning, twin, class_id):
    # every real spurious-copper and pin-hole box of the tuning part is the extent of the changed pixels plus 19 px
    # in width and in height (quartiles 19 / 19 / 19); the twin's boxes before this rule: median 19-20 but
    # quartiles 14-15 / 25-26, their shape unrelated to the defect's
    real, syn = _area_box_margins(tuning, class_id), _area_box_margins(twin, class_id)
    assert np.percentile(real, [25, 50, 75], axis=0) == pytest.approx(np.full((3, 2), 19.0), abs=0.5)
    q25, q50, q75 = np.percentile(syn, [25, 50, 75], axis=0)
    assert q50 == pytest.approx([19, 19], abs=1.5) and np.all(q75 - q25 <= 4), (q25, q50, q75)


def test_layouts_do_not_depend_on_the_defects_drawn(monkeypatch):
    # the layout, each defect class and the scan draw from their own streams: with no defect drawn at all the
    # templates are the same, so a change to one class's drawing leaves the boards as they were
    drawn = det_twin.make_synthetic_pcb(4, seed=7)
    monkeypatch.setattr(det_twin._Defects, "add", lambda self, cls: False)
    bare = det_twin.make_synthetic_pcb(4, seed=7)
    np.testing.assert_array_equal(bare.templates, drawn.templates)
    assert bare.boxes_per_image().sum() == 0 and drawn.boxes_per_image().min() >= 1


@needs_data
def test_scan_noise_matches_the_real_edge_differences(tuning):
    noisy = det_twin.make_synthetic_pcb(40, seed=0, scan_noise=True)
    real = np.median(_stray_per_edge(tuning.subset(np.arange(0, len(tuning), 2))))   # 0.56
    syn = np.median(_stray_per_edge(noisy))
    assert 0.7 < syn / real < 1.4, (real, syn)


def test_scan_noise_is_the_default_and_changes_only_the_test_images_near_edges():
    clean = det_twin.make_synthetic_pcb(6, seed=4, scan_noise=False)
    noisy = det_twin.make_synthetic_pcb(6, seed=4)                    # the default: scan noise
    np.testing.assert_array_equal(noisy.templates, clean.templates)
    for a, b in zip(noisy.boxes, clean.boxes):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(noisy.labels, clean.labels):
        np.testing.assert_array_equal(a, b)
    assert set(np.unique(noisy.images)) == {0, 255} and noisy.info["scan_noise"] and not clean.info["scan_noise"]
    assert (_stray_per_edge(clean) == 0).all() and (_stray_per_edge(noisy) > 0).all()
    for img, tmp, boxes in zip(noisy.images, noisy.templates, noisy.boxes):
        # outside the boxes no pixel moves more than 3 px from the template's copper outline
        copper = (tmp < 128).astype(np.uint8)
        near = cv2.dilate(copper, np.ones((7, 7), np.uint8)) != cv2.erode(copper, np.ones((7, 7), np.uint8))
        changed = (img < 128) != (tmp < 128)
        for x1, y1, x2, y2 in boxes.astype(int):
            changed[y1:y2, x1:x2] = False
        assert changed.any() and not (changed & ~near).any()
