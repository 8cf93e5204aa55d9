"""Defect masks: derivation from pairs, the twins' exact masks, formats (round trips) and error messages."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from course_utils.detection import masks, pcb, twin as det_twin
from course_utils.detection import deeppcb
from course_utils.classification.twin import make_synthetic_wafers

from shared_data import DEEPPCB_SAMPLE, needs_deeppcb_sample

SAMPLE, needs_sample = DEEPPCB_SAMPLE, needs_deeppcb_sample


def _pair():
    """A 64x64 board (a horizontal trace) with two known defects: a 4x6 cut and a 3x3 blob, plus
    an unboxed 1-px-wide line (an alignment edge) that must not enter any mask."""
    template = np.full((64, 64), 255, np.uint8)
    template[20:30, :] = 0                       # a trace
    test = template.copy()
    test[20:30, 10:16] = 255                     # open: a cut through the trace (10 rows x 6 columns)
    test[45:48, 40:43] = 0                       # copper: a 3x3 blob
    test[5, 30:60] = 0                           # a thin stray line, outside the boxes
    boxes = np.array([[5, 15, 25, 35], [35, 40, 55, 52]], np.float32)
    return test, template, boxes, np.array([1, 5])


def test_derive_instance_mask_known_answer():
    test, template, boxes, labels = _pair()
    inst = masks.derive_instance_mask(test, template, boxes, open_size=1)
    expected = np.zeros((64, 64), np.uint8)
    expected[20:30, 10:16] = 1
    expected[45:48, 40:43] = 2
    np.testing.assert_array_equal(inst, expected)
    sem = masks.semantic_mask(inst, labels)
    assert set(np.unique(sem)) == {0, 1, 5}
    assert (sem == 5).sum() == 9 and (sem == 1).sum() == 60
    # the default 2x2 opening keeps both defects (each at least 2 px wide) and still ignores the line
    np.testing.assert_array_equal(masks.derive_instance_mask(test, template, boxes), expected)


def test_overlapping_boxes_give_pixels_to_the_smaller_box():
    test, template, _, _ = _pair()
    boxes = np.array([[0, 0, 64, 64], [8, 18, 18, 32]], np.float32)
    inst = masks.derive_instance_mask(test, template, boxes, open_size=1)
    assert (inst[20:30, 10:16] == 2).all()
    assert (inst[45:48, 40:43] == 1).all()


def test_statistics_count_pixels_and_empty_boxes():
    test, template, boxes, labels = _pair()
    boxes = np.vstack([boxes, [[2, 50, 12, 60]]]).astype(np.float32)   # a box over unchanged background
    ds = pcb.DetectionSet(images=test[None], templates=template[None], boxes=[boxes], labels=[np.array([1, 5, 6])],
                          image_ids=["p1"])
    inst = masks.derive_masks(ds, open_size=1)
    stats = masks.mask_statistics(ds, inst)
    assert stats["mask_pixels"].tolist() == [60, 9, 0]
    np.testing.assert_allclose(stats["fill"], [60 / 400, 9 / 240, 0.0])
    summary = masks.mask_summary(stats)
    assert summary.loc["all", "boxes"] == 3 and summary.loc["all", "empty"] == 1
    # the stray line (30 px) is the only difference outside the boxes
    np.testing.assert_allclose(masks.stray_difference(ds, inst, open_size=1), [30 / 99])


def test_twin_masks_are_exact_and_change_nothing():
    # the clean twin: test and template differ exactly at the drawn defects, so the masks must be that difference
    images, temps, boxes, labels = det_twin.generate_pairs(4, size=320, seed=5, scan_noise=False)
    ds, inst = masks.synthetic_pcb_masks(4, size=320, seed=5, scan_noise=False)
    np.testing.assert_array_equal(ds.images, images)           # masks=True draws the same pairs
    np.testing.assert_array_equal(ds.templates, temps)
    for b1, b2 in zip(ds.boxes, boxes):
        np.testing.assert_array_equal(b1, b2)
    changed = ds.images != ds.templates
    np.testing.assert_array_equal(inst > 0, changed)           # every changed pixel, nothing else
    for i in range(len(ds)):
        assert inst[i].max() == len(ds.labels[i])
        for j, b in enumerate(ds.boxes[i]):                     # each defect inside its own box
            ys, xs = np.nonzero(inst[i] == j + 1)
            assert ys.size and xs.min() >= b[0] and xs.max() < b[2] and ys.min() >= b[1] and ys.max() < b[3]
    # the default twin (scan noise): the same masks (the defects as drawn before the noise), noisy test images
    noisy, noisy_inst = masks.synthetic_pcb_masks(4, size=320, seed=5)
    np.testing.assert_array_equal(noisy_inst, inst)
    np.testing.assert_array_equal(noisy.images, det_twin.generate_pairs(4, size=320, seed=5)[0])
    assert noisy.info["scan_noise"] and not ds.info["scan_noise"]
    assert ((noisy.images != noisy.templates) & (noisy_inst == 0)).any()     # edge differences outside the masks


def _sha(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


@pytest.mark.parametrize("seed", [0, 3])
def test_wafer_pattern_mask_is_opt_in(seed):
    plain = make_synthetic_wafers(300, proportions="balanced", seed=seed)
    ws, pattern = make_synthetic_wafers(300, proportions="balanced", seed=seed, pattern_mask=True)
    assert _sha(ws.maps) == _sha(plain.maps) and _sha(ws.labels) == _sha(plain.labels)
    assert pattern.shape == ws.maps.shape and pattern.dtype == bool
    assert not (pattern & (ws.maps != 2)).any()                 # pattern dies are defective dies
    none = ws.labels == ws.class_names.index("none")
    assert not pattern[none].any()                              # 'none' wafers: all noise
    share = pattern[~none].sum() / (ws.maps[~none] == 2).sum()
    assert 0.3 < share < 0.99                                   # patterns carry most, noise the rest


@needs_sample
def test_real_sample_masks_are_defined():
    ds = deeppcb.load_deeppcb(SAMPLE)
    inst = masks.derive_masks(ds)
    stats = masks.mask_statistics(ds, inst)
    assert len(stats) == 290
    assert (stats["mask_pixels"] == 0).sum() <= 3                # nearly every box has differing pixels
    assert 20 < stats["mask_pixels"].median() < 1000
    assert 0 < (inst > 0).mean() < 0.01                          # defects are well under 1 % of the pixels


# ---------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------
def test_png_round_trip(tmp_path):
    test, template, boxes, labels = _pair()
    sem = masks.semantic_mask(masks.derive_instance_mask(test, template, boxes), labels)
    path = masks.write_label_png(tmp_path / "m.png", sem)
    np.testing.assert_array_equal(masks.read_label_png(path, sem.shape), sem)
    with pytest.raises(ValueError, match="shape"):
        masks.read_label_png(path, (32, 64))


def test_rle_round_trip_and_pycocotools():
    import pycocotools.mask as cm  # [dev] dependency and the independent RLE reference: missing fails, never skips
    rng = np.random.default_rng(0)
    for m in [rng.random((37, 41)) < 0.3, np.ones((5, 7), bool), np.zeros((5, 7), bool)]:
        rle = masks.rle_encode(m)
        np.testing.assert_array_equal(masks.rle_decode(rle), m)
        np.testing.assert_array_equal(cm.decode(cm.frPyObjects(rle, *rle["size"])), m)
        compressed = cm.encode(np.asfortranarray(m.astype(np.uint8)))
        assert int(cm.area(compressed)) == m.sum()


def test_polygon_round_trip_exact_for_solid_shapes():
    import cv2

    m = np.zeros((60, 80), np.uint8)
    cv2.ellipse(m, (30, 25), (15, 9), 20, 0, 360, 1, -1)
    cv2.rectangle(m, (50, 40), (70, 52), 1, -1)
    polys = masks.mask_to_polygons(m)
    assert len(polys) == 2
    np.testing.assert_array_equal(masks.polygons_to_mask(polys, m.shape), m)


def test_polygon_against_pycocotools():
    import cv2

    import pycocotools.mask as cm  # [dev] dependency and the independent RLE reference: missing fails, never skips
    m = np.zeros((60, 80), np.uint8)
    cv2.circle(m, (40, 30), 12, 1, -1)
    (poly,) = masks.mask_to_polygons(m)
    theirs = cm.decode(cm.frPyObjects([poly.ravel().tolist()], 60, 80)).squeeze()
    inter, union = (theirs & m).sum(), (theirs | m).sum()
    assert inter / union > 0.85    # pycocotools fills between pixel corners, the kit includes the boundary


def test_yolo_seg_round_trip(tmp_path):
    test, template, boxes, labels = _pair()
    inst = masks.derive_instance_mask(test, template, boxes)
    lines = masks.yolo_seg_lines(inst, labels)
    assert [int(line.split()[0]) for line in lines] == [0, 4]        # YOLO classes count from 0
    path = tmp_path / "p.txt"
    path.write_text("\n".join(lines) + "\n")
    read_labels, polys = masks.read_yolo_seg_labels(path, 64, 64)
    np.testing.assert_array_equal(read_labels, labels)
    for j, poly in enumerate(polys):
        np.testing.assert_array_equal(masks.polygons_to_mask([poly], (64, 64)), inst == j + 1)


def test_write_yolo_seg_dataset(tmp_path):
    ds, inst = masks.synthetic_pcb_masks(3, size=256, seed=1)
    data_yaml = masks.write_yolo_seg_dataset({"train": (ds, inst), "val": (ds.subset([0]), inst[:1])}, tmp_path / "y")
    assert data_yaml.is_file() and "pin-hole" in data_yaml.read_text()
    files = sorted((tmp_path / "y" / "labels" / "train").glob("*.txt"))
    assert len(files) == 3
    read_labels, _ = masks.read_yolo_seg_labels(files[0], 256, 256)
    assert set(read_labels) <= set(ds.labels[0].tolist()) and len(read_labels) >= len(ds.labels[0])


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------
def test_errors_name_the_pair_and_the_fix(tmp_path):
    test, template, boxes, labels = _pair()
    with pytest.raises(ValueError, match=r"pair 00041030.*shape \(32, 64\).*same height and width"):
        masks.check_mask(np.zeros((32, 64), np.uint8), test.shape, where="pair 00041030")
    with pytest.raises(ValueError, match=r"pair 7: class id 9 is out of range 1\.\.6"):
        masks.semantic_mask(np.zeros((64, 64), np.uint8), [9], where="pair 7")
    with pytest.raises(ValueError, match=r"pair 7: the mask is empty.*drop this instance"):
        masks.mask_to_polygons(np.zeros((8, 8)), where="pair 7")
    with pytest.raises(ValueError, match=r"2 points.*at least 3 points"):
        masks.polygons_to_mask([[1, 1, 5, 5]], (8, 8))
    with pytest.raises(ValueError, match="test .* template .* differ in size"):
        masks.derive_instance_mask(test, template[:32], boxes, where="pair x")
    bad = tmp_path / "bad.txt"
    bad.write_text("6 0.1 0.1 0.2 0.2 0.3 0.1\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 1: class id 7 is out of range"):
        masks.read_yolo_seg_labels(bad, 64, 64)
    bad.write_text("0 0.1 0.1 0.2 0.2\n")
    with pytest.raises(ValueError, match=r"line 1: a polygon with 2 points"):
        masks.read_yolo_seg_labels(bad, 64, 64)
