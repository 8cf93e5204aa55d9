"""yolo_data.defect_crops: native-resolution windows around boxes (benchmarks' from-scratch YOLO training)."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils.detection import pcb, yolo_data


def _one_image_set():
    # 100x100 image; box A (10..30, 10..30) class 1, box B (60..90, 70..80) class 3
    images = np.random.default_rng(0).integers(0, 256, size=(1, 100, 100), dtype=np.uint8)  # every window unique
    boxes = [np.array([[10, 10, 30, 30], [60, 70, 90, 80]], dtype=np.float32)]
    labels = [np.array([1, 3], dtype=np.int64)]
    ds = pcb.DetectionSet(images=images, templates=255 - images, boxes=boxes, labels=labels, image_ids=["img"])
    inst = np.zeros((1, 100, 100), dtype=np.uint8)
    inst[0, 12:28, 12:28] = 1
    inst[0, 72:78, 62:88] = 2
    return ds, inst


def test_windows_cut_images_templates_boxes_and_instances_consistently():
    ds, inst = _one_image_set()
    crops, cut = yolo_data.defect_crops(ds, crop=40, per_image=2, seed=0, instances=inst)
    assert crops.images.shape == (2, 40, 40) and cut.shape == (2, 40, 40)
    assert sorted(crops.image_ids) == ["img_00", "img_01"]
    for k in range(len(crops)):
        # recover the window's offset by searching the random image for it
        hits = [(y, x) for y in range(61) for x in range(61)
                if np.array_equal(ds.images[0, y:y + 40, x:x + 40], crops.images[k])]
        assert len(hits) == 1
        y0, x0 = hits[0]
        assert np.array_equal(crops.templates[k], 255 - crops.images[k])
        # every kept box is the original box shifted by the window and clipped to [0, 40]
        for box, lab in zip(crops.boxes[k], crops.labels[k]):
            src = ds.boxes[0][ds.labels[0] == lab][0]
            expect = np.clip(src - [x0, y0, x0, y0], 0, 40)
            np.testing.assert_allclose(box, expect)
        # instance ids index the kept boxes; pixels of dropped boxes are background
        assert set(np.unique(cut[k])) <= set(range(len(crops.labels[k]) + 1))
        for new_id, lab in enumerate(crops.labels[k], start=1):
            old_id = int(np.flatnonzero(ds.labels[0] == lab)[0]) + 1
            np.testing.assert_array_equal(cut[k] == new_id, inst[0, y0:y0 + 40, x0:x0 + 40] == old_id)


def test_a_box_mostly_outside_the_window_is_dropped():
    ds, _ = _one_image_set()
    crops, none = yolo_data.defect_crops(ds, crop=40, per_image=2, seed=1, min_visible=1.0)
    assert none is None
    for boxes in crops.boxes:  # min_visible=1: only boxes entirely inside survive, so none is clipped
        assert np.all((boxes[:, 2:] - boxes[:, :2]) > 0)
        sizes = sorted(map(tuple, (boxes[:, 2:] - boxes[:, :2]).tolist()))
        assert all(s in [(20.0, 20.0), (30.0, 10.0)] for s in sizes)


def test_seeded_and_checked():
    ds, _ = _one_image_set()
    a, _ = yolo_data.defect_crops(ds, crop=40, seed=3)
    b, _ = yolo_data.defect_crops(ds, crop=40, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    with pytest.raises(ValueError, match="crop=200 is larger than the 100x100 images"):
        yolo_data.defect_crops(ds, crop=200)
    empty = pcb.DetectionSet(images=ds.images, templates=None, boxes=[np.zeros((0, 4), np.float32)],
                             labels=[np.zeros(0, np.int64)], image_ids=["e"])
    with pytest.raises(ValueError, match="hold no boxes"):
        yolo_data.defect_crops(empty, crop=40)
