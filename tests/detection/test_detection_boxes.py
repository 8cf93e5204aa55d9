"""Boxes: IoU, areas and NMS written by hand, checked against torchvision.ops on random boxes (ties included)."""
import numpy as np
import pytest
import torch
import torchvision

from course_utils.detection import boxes as bx


def random_boxes(n, seed, size=100.0, integer=False):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(1, size / 3, (n, 2))
    b = np.concatenate([xy, xy + wh], axis=1)
    return np.round(b) if integer else b


def test_box_iou_by_hand():
    iou = bx.box_iou([0, 0, 2, 2], [[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6], [0, 0, 1, 2]])
    # overlap 1x1 of two 2x2 boxes: 1 / (4 + 4 - 1); identical: 1; disjoint: 0; half: 2 / 4
    np.testing.assert_allclose(iou, [[1 / 7, 1.0, 0.0, 0.5]])
    assert iou.dtype == np.float64 and bx.box_iou(np.zeros((0, 4)), [0, 0, 1, 1]).shape == (0, 1)
    assert bx.box_iou([1, 1, 1, 1], [1, 1, 1, 1])[0, 0] == 0.0  # zero-area boxes: 0, not NaN
    with pytest.raises(ValueError, match="x2 < x1 or y2 < y1.*box_convert"):
        bx.box_iou([5, 5, 2, 2], [0, 0, 1, 1])
    with pytest.raises(ValueError, match=r"boxes1 must have shape \(N, 4\)"):
        bx.box_iou([[0, 0, 1]], [0, 0, 1, 1])
    with pytest.raises(ValueError, match="boxes2 contains NaN"):
        bx.box_iou([0, 0, 1, 1], [0, 0, np.nan, 1])
    with pytest.raises(TypeError, match="must hold numbers"):
        bx.box_iou([["a", 0, 1, 1]], [0, 0, 1, 1])


@pytest.mark.parametrize("seed", range(4))
def test_box_iou_and_area_match_torchvision(seed):
    a, b = random_boxes(40, seed), random_boxes(30, seed + 100)
    np.testing.assert_allclose(bx.box_iou(a, b), torchvision.ops.box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy(),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bx.box_area(a), torchvision.ops.box_area(torch.from_numpy(a)).numpy())
    # tensors in, float32 included
    t = torch.from_numpy(a).float()
    np.testing.assert_allclose(bx.box_iou(t, t).diagonal(), 1.0, rtol=1e-6)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7])
def test_nms_matches_torchvision(seed, threshold):
    b = random_boxes(200, seed, integer=seed % 2 == 1)  # integer boxes give exactly equal IoUs
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 20, 200) / 20 if seed >= 3 else rng.random(200)  # many tied scores when seed >= 3
    expected = torchvision.ops.nms(torch.from_numpy(b), torch.from_numpy(scores), threshold).numpy()
    keep = bx.nms(b, scores, threshold)
    assert keep.dtype == np.int64
    np.testing.assert_array_equal(keep, expected)


@pytest.mark.parametrize("seed", range(4))
def test_batched_nms_matches_torchvision(seed):
    b = random_boxes(300, seed, integer=True)
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 10, 300) / 10            # ties
    idxs = rng.integers(1, 7, 300)
    expected = torchvision.ops.batched_nms(torch.from_numpy(b), torch.from_numpy(scores),
                                           torch.from_numpy(idxs), 0.5).numpy()
    np.testing.assert_array_equal(bx.batched_nms(b, scores, idxs, 0.5), expected)
    # boxes of different classes never suppress each other
    same = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    assert bx.batched_nms(same, [0.9, 0.8], [1, 2], 0.5).tolist() == [0, 1]
    assert bx.nms(same, [0.8, 0.9], 0.5).tolist() == [1]


def test_nms_errors_and_empty():
    assert bx.nms(np.zeros((0, 4)), [], 0.5).shape == (0,)
    with pytest.raises(ValueError, match=r"scores must have one value per box, shape \(2,\)"):
        bx.nms([[0, 0, 1, 1], [0, 0, 2, 2]], [0.5], 0.5)
    with pytest.raises(ValueError, match="iou_threshold=1.5 must be a number in"):
        bx.nms([[0, 0, 1, 1]], [0.5], 1.5)
    with pytest.raises(ValueError, match=r"idxs must have one category per box"):
        bx.batched_nms([[0, 0, 1, 1]], [0.5], [1, 2], 0.5)
    with pytest.raises(TypeError, match="idxs must hold integer"):
        bx.batched_nms([[0, 0, 1, 1]], [0.5], [1.5], 0.5)


# --- issue 30: what mutation testing (mutmut, boxes.py) found untested ------------------------------------
def test_errors_name_the_argument_of_each_function():
    backwards = [[10, 0, 0, 10]]
    for call in (lambda: bx.box_area(backwards), lambda: bx.nms(backwards, [1.0], 0.5),
                 lambda: bx.batched_nms(backwards, [1.0], [0], 0.5), lambda: bx.as_boxes(backwards)):
        with pytest.raises(ValueError, match=r"^boxes has boxes with x2 < x1 or y2 < y1"):
            call()
    with pytest.raises(ValueError, match=r"^boxes2 has boxes.*convert with torchvision\.ops\.box_convert"):
        bx.box_iou([[0, 0, 1, 1]], [[0, 5, 1, 4]])   # only y2 < y1: either corner out of order is refused
    with pytest.raises(TypeError, match=r"^boxes1 must hold numbers"):
        bx.box_iou([["a", "b", "c", "d"]], [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match=r"scores must have one value per box, shape \(2,\); got \(3,\)"):
        bx.nms([[0, 0, 1, 1]] * 2, [0.1, 0.2, 0.3], 0.5)
    with pytest.raises(ValueError, match="scores contains NaN or inf"):
        bx.nms([[0, 0, 1, 1]], [float("nan")], 0.5)
    with pytest.raises(TypeError, match=r"^scores must hold numbers"):
        bx.nms([[0, 0, 1, 1]], ["high"], 0.5)


def test_empty_tensor_and_column_inputs():
    assert bx.as_boxes([]).shape == (0, 4)                        # an empty list is zero boxes
    keep = bx.nms(np.zeros((0, 4)), [], 0.5)
    assert keep.shape == (0,) and keep.dtype == np.int64          # int64 even when nothing is kept
    grad = torch.tensor([[0.0, 0.0, 2.0, 2.0]], requires_grad=True)   # a model's output: detached, not refused
    np.testing.assert_allclose(bx.box_iou(grad, [[1, 1, 3, 3]]), [[1 / 7]])   # 1 / (4 + 4 - 1)
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], float)
    column = np.array([[0.9], [0.8], [0.7]])                      # scores (N, 1) are flattened like (N,)
    np.testing.assert_array_equal(bx.nms(boxes, column, 0.5), [0, 2])


def test_threshold_one_and_boxes_smaller_than_a_pixel():
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 1]], float)
    # threshold 1 is allowed: only IoU > 1 would suppress, so identical boxes both stay (torchvision agrees)
    np.testing.assert_array_equal(bx.nms(boxes, [0.9, 0.8], 1.0), [0, 1])
    assert torch.equal(torchvision.ops.nms(torch.as_tensor(boxes), torch.tensor([0.9, 0.8], dtype=torch.float64), 1.0),
                       torch.tensor([0, 1]))
    tiny = np.array([[0, 0, 0.5, 0.5], [0.25, 0, 0.75, 0.5]])      # areas 0.25 each, overlap 0.125
    np.testing.assert_allclose(bx.box_iou(tiny, tiny), [[1, 1 / 3], [1 / 3, 1]])
    np.testing.assert_allclose(bx.box_iou([[1, 1, 1, 1]], [[1, 1, 1, 1]]), [[0.0]])  # two points: 0, not NaN


# ---------------------------------------------------------------------------
# Corners <-> centre and size: written once in boxes, called by formats, detector, classical, yolo_*
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
def test_box_conversions_match_torchvision_for_arrays_and_tensors(seed):
    xyxy = random_boxes(50, seed)
    t = torch.from_numpy(xyxy)
    cxcywh = bx.xyxy_to_cxcywh(xyxy)
    np.testing.assert_allclose(cxcywh, torchvision.ops.box_convert(t, "xyxy", "cxcywh").numpy(), rtol=1e-12)
    np.testing.assert_allclose(bx.cxcywh_to_xyxy(cxcywh), xyxy, rtol=1e-12, atol=1e-12)     # round trip
    back = torchvision.ops.box_convert(torch.from_numpy(cxcywh), "cxcywh", "xyxy").numpy()
    np.testing.assert_allclose(bx.cxcywh_to_xyxy(cxcywh), back, rtol=1e-12, atol=1e-12)
    # the same numbers for a tensor (kind and dtype kept), a float32 array and a plain list
    out = bx.xyxy_to_cxcywh(t.float())
    assert torch.is_tensor(out) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), cxcywh, rtol=1e-5)
    assert torch.equal(bx.cxcywh_to_xyxy(out), torchvision.ops.box_convert(out, "cxcywh", "xyxy"))
    assert bx.xyxy_to_cxcywh(xyxy.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(bx.xyxy_to_cxcywh(xyxy.tolist()), cxcywh)


def test_box_conversions_by_hand_shapes_and_errors():
    np.testing.assert_array_equal(bx.xyxy_to_cxcywh([[0, 0, 4, 2]]), [[2, 1, 4, 2]])
    np.testing.assert_array_equal(bx.cxcywh_to_xyxy([2, 1, 4, 2]), [0, 0, 4, 2])          # one box (4,)
    assert bx.xyxy_to_cxcywh(np.array([[0, 0, 3, 3]])).dtype == np.float64               # ints -> float64
    assert bx.cxcywh_to_xyxy(torch.tensor([[2, 1, 4, 2]])).dtype == torch.float64
    batch = random_boxes(12, 7).reshape(3, 4, 4)                                          # any (..., 4)
    np.testing.assert_allclose(bx.xyxy_to_cxcywh(batch).reshape(-1, 4), bx.xyxy_to_cxcywh(batch.reshape(-1, 4)))
    assert bx.xyxy_to_cxcywh(np.zeros((0, 4))).shape == (0, 4)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 4\)"):
        bx.xyxy_to_cxcywh(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 4\)"):
        bx.cxcywh_to_xyxy(torch.zeros(()))
    with pytest.raises(TypeError, match="must hold numbers"):
        bx.cxcywh_to_xyxy([["a", 0, 1, 1]])


def test_as_boxes_shape_only_mode():
    # corners=False (cx cy w h, or callers with their own value checks): the shape rule, no order/NaN check
    np.testing.assert_array_equal(bx.as_boxes([[5, 5, 2, 2]], corners=False), [[5, 5, 2, 2]])
    assert np.isnan(bx.as_boxes([[0, 0, np.nan, 1]], corners=False)).any()
    assert bx.as_boxes([], corners=False).shape == (0, 4)
    with pytest.raises(ValueError, match=r"labels_file must have shape \(N, 4\)"):
        bx.as_boxes(np.zeros((2, 5)), "labels_file", corners=False)
