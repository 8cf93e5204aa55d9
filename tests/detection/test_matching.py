"""detection.matching: input checks, greedy matching and counts, with hand-computed values."""
import re

import numpy as np
import pytest
import torch

from course_utils.detection import matching

BOX = [0.0, 0.0, 10.0, 10.0]


def one(boxes, labels, scores=None):
    entry = {"boxes": np.asarray(boxes, dtype=float).reshape(-1, 4), "labels": labels}
    return entry if scores is None else {**entry, "scores": scores}


def check(pred, target):
    preds, gts = matching.check_detections([pred], [target])
    return preds[0], gts[0]


def test_tensors_and_whole_float_labels_are_converted():
    scores = torch.tensor([0.9, 0.4], requires_grad=True)  # np.asarray refuses a tensor that needs grad
    (b, lab, s), (gb, gl) = check({"boxes": torch.tensor([BOX, BOX]), "labels": torch.tensor([1, 2]), "scores": scores},
                                  one([BOX], [2.0]))
    assert lab.dtype == np.int64 and lab.tolist() == [1, 2]
    assert s.dtype == np.float64 and s.tolist() == pytest.approx([0.9, 0.4])
    assert gl.dtype == np.int64 and gl.tolist() == [2]   # 2.0 is a whole number: accepted as id 2
    (_, lab, _), (_, gl) = check(one([BOX], [1.0], [0.5]), one([BOX, BOX], np.array([1.0, 3.0])))
    assert lab.tolist() == [1] and gl.tolist() == [1, 3]
    (_, lab, _), _ = check(one([BOX], torch.tensor([2.0]), [0.5]), one([BOX], np.array([1.0], np.float32)))
    assert lab.tolist() == [2]   # float32 (a float tensor's dtype) whole numbers too


def test_empty_labels_become_an_empty_int_vector():
    (_, lab, s), (_, gl) = check(one([], np.zeros((0, 1)), np.zeros((1, 0))), one([], []))
    assert lab.shape == (0,) and lab.dtype == np.int64 and gl.dtype == np.int64
    assert s.shape == (0,) and s.dtype == np.float64


@pytest.mark.parametrize("labels", [[1.5], ["a"], [True]])
def test_labels_that_are_not_whole_numbers_are_refused(labels):
    with pytest.raises(ValueError, match=r"^targets\[0\]\['labels'\] must hold integer class ids; got dtype "):
        check(one([BOX], [1], [0.5]), one([BOX], np.asarray(labels)))


def test_errors_name_the_image_the_key_and_the_fix():
    good_p, good_t = one([BOX], [1], [0.5]), one([BOX], [1])
    cases = [
        (({"boxes": good_p["boxes"], "scores": [0.5]}, good_t), TypeError,
         "predictions[0] must be a dict with keys boxes, labels, scores; got dict with keys ['boxes', 'scores']."),
        ((good_p, {"labels": [1]}), TypeError,
         "targets[0] must be a dict with keys boxes, labels; got dict with keys ['labels']."),
        ((good_p, ("boxes", "labels")), TypeError, "targets[0] must be a dict with keys boxes, labels; got tuple."),
        ((one([BOX], [[1]], [0.5]), good_t), ValueError,
         "predictions[0]['labels'] must be 1-D (one value per box); got shape (1, 1)."),
        ((one([BOX], [1], [[0.5]]), good_t), ValueError,
         "predictions[0]['scores'] must be 1-D (one value per box); got shape (1, 1)."),
        ((one([BOX], [1], [0.5, 0.4]), good_t), ValueError,
         "predictions[0]['scores'] must hold 1 finite numbers (one per box); got 2."),
        ((one([BOX], [1], [np.nan]), good_t), ValueError,
         "predictions[0]['scores'] must hold 1 finite numbers (one per box); got 1."),
        ((good_p, one([BOX], [0])), ValueError,
         "targets[0]['labels'] holds 0: class ids start at 1 (0 is the background, never a label); "
         "shift 0-based class indices by +1."),
    ]
    for (pred, target), error, message in cases:
        with pytest.raises(error, match="^" + re.escape(message) + "$"):
            check(pred, target)
    with pytest.raises(ValueError, match=r"^predictions\[0\]\['boxes'\] has boxes with x2 < x1"):
        check(one([[10, 0, 0, 10]], [1], [0.5]), good_t)
    with pytest.raises(TypeError, match=r"^targets must be a list with one dict per image; got str\.$"):
        matching.check_detections([good_p], "abc")
    with pytest.raises(ValueError, match=re.escape("give one entry per image, in the same order (an image without "
                                                   "boxes gets empty arrays).") + "$"):
        matching.check_detections([good_p], [good_t, good_t])


def test_thresholds_are_floats_in_the_closed_unit_interval():
    t = matching.threshold_array([0, 1])
    assert t.dtype == np.float64 and t.tolist() == [0.0, 1.0]
    assert matching.threshold_array(0.5).tolist() == [0.5]
    for bad in ([], [-0.1], [1.5], [[0.5]], [0.5, 2.5]):
        with pytest.raises(ValueError, match=r"must be numbers in \[0, 1\], e\.g\. COCO_IOU_THRESHOLDS\.$"):
            matching.threshold_array(bad)


def test_iou_equal_to_the_threshold_matches_only_when_not_strict():
    # prediction (0,0,10,10) on ground truth (0,0,10,20): intersection 100, union 200, IoU exactly 0.5
    pred, gt = check(one([BOX], [1], [0.9]), one([[0, 0, 10, 20]], [1]))
    t = np.array([0.5])
    _, tp, gt_index, best = matching.match_image(pred, gt, t, strict=False)
    assert tp.tolist() == [[True]] and gt_index.tolist() == [[0]] and best.tolist() == [0.5]
    _, tp, gt_index, _ = matching.match_image(pred, gt, t, strict=True)   # DeepPCB: IoU > 0.5
    assert tp.tolist() == [[False]] and gt_index.tolist() == [[-1]]


def test_strict_compares_every_candidate_not_only_the_best():
    # A (.9) and B (.8) both lie on g0 (IoU 1) and have IoU exactly 0.5 with g1 = (0,0,10,20).
    # A takes g0; B's best IoU is 1 (> 0.5) but g0 is taken, and g1 offers exactly 0.5:
    # a match with IoU >= 0.5, none with IoU > 0.5 (strict).
    pred, gt = check(one([BOX, BOX], [1, 1], [0.9, 0.8]), one([BOX, [0, 0, 10, 20]], [1, 1]))
    t = np.array([0.5])
    _, tp, gt_index, _ = matching.match_image(pred, gt, t, strict=False)
    assert tp[:, 0].tolist() == [True, True] and gt_index[:, 0].tolist() == [0, 1]
    _, tp, gt_index, _ = matching.match_image(pred, gt, t, strict=True)
    assert tp[:, 0].tolist() == [True, False] and gt_index[:, 0].tolist() == [0, -1]


def test_a_false_positive_has_gt_index_minus_one_and_the_class_decides():
    # two predictions on one box of class 1: the higher score (0.8) takes it, the 0.3 one is a duplicate (FP);
    # a class-2 prediction on the same box cannot match it (best IoU with its own class: none -> 0)
    pred, gt = check(one([BOX, BOX, BOX], [1, 1, 2], [0.3, 0.8, 0.5]), one([BOX], [1]))
    order, tp, gt_index, best = matching.match_image(pred, gt, np.array([0.5, 0.95]), strict=False)
    assert order.tolist() == [1, 2, 0]
    assert tp.tolist() == [[True, True], [False, False], [False, False]]
    assert gt_index.tolist() == [[0, 0], [-1, -1], [-1, -1]]
    assert best.tolist() == [1.0, 0.0, 1.0]


def test_equal_scores_keep_their_input_order():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, 20) / 4           # many ties
    expected = sorted(range(20), key=lambda i: -scores[i])   # Python's sort is stable
    pred, gt = check(one([BOX] * 20, [1] * 20, scores), one([], []))
    order, tp, gt_index, best = matching.match_image(pred, gt, np.array([0.5]), strict=False)
    assert order.tolist() == expected
    assert not tp.any() and (gt_index == -1).all() and best.tolist() == [0.0] * 20


def test_match_all_flat_arrays_keep_integer_dtypes():
    preds, gts = matching.check_detections([one([BOX], [2], [0.7]), one([], [], [])], [one([BOX], [2]), one([BOX], [1])])
    m = matching.match_all(preds, gts, np.array([0.5]), strict=False)
    assert m["image"].tolist() == [0] and m["label"].tolist() == [2] and m["gt_labels"].tolist() == [2, 1]
    for key in ("image", "det", "label", "gt_index", "gt_labels"):
        assert m[key].dtype == np.int64, key
    empty = matching.match_all([], [], np.array([0.5]), strict=False)
    assert empty["label"].dtype == np.int64 and empty["gt_labels"].dtype == np.int64 and empty["tp"].shape == (0, 1)


def test_label_names():
    assert matching.label_names(None, np.array([1, 3])) == [1, 3]
    assert matching.label_names(("a", "b", "c"), [3, 1]) == ["c", "a"]
    assert matching.label_names(("a",), []) == [] and matching.label_names((), []) == []
    with pytest.raises(ValueError, match=r"^labels go up to 3 but class_names has 2 names "
                                         r"\(ids 1\.\.K name class_names\[id - 1\]\)\.$"):
        matching.label_names(("a", "b"), [1, 3])


def test_prf_by_hand():
    assert matching.prf(3, 1, 2) == pytest.approx((3 / 4, 3 / 5, 2 * 0.75 * 0.6 / 1.35))
    assert matching.prf(0, 0, 0) == (0.0, 0.0, 0.0)   # no predictions, no objects: 0, not 1
    assert matching.prf(0, 0, 3) == (0.0, 0.0, 0.0)
    assert matching.prf(0, 2, 0) == (0.0, 0.0, 0.0)
