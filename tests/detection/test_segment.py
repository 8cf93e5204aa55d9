"""Segmentation: U-Net shapes, losses and mask metrics against independent computations (scikit-learn, numpy)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score, jaccard_score

from course_utils.detection import segment as sg


def test_unet_shapes_and_padding():
    model = sg.UNet(2, 7, width=4, depth=3)
    assert model(torch.rand(2, 2, 64, 48)).shape == (2, 7, 64, 48)
    with pytest.raises(ValueError, match="multiples of 2\\*\\*depth = 8"):
        model(torch.rand(1, 2, 60, 64))
    pred = sg.predict_segmenter(model, torch.rand(3, 2, 50, 37), batch=2, device="cpu")
    assert pred.shape == (3, 50, 37) and pred.dtype == np.uint8


def test_scores_match_sklearn():
    rng = np.random.default_rng(0)
    target = rng.choice(4, size=(3, 20, 20), p=[0.9, 0.05, 0.03, 0.02])
    pred = np.where(rng.random(target.shape) < 0.7, target, rng.integers(0, 4, target.shape))
    table = sg.segmentation_scores(pred, target, 4)
    labels = [0, 1, 2, 3]
    np.testing.assert_allclose(table["IoU"], jaccard_score(target.ravel(), pred.ravel(), labels=labels, average=None))
    np.testing.assert_allclose(table["Dice"], f1_score(target.ravel(), pred.ravel(), labels=labels, average=None))
    np.testing.assert_allclose(table.attrs["mean_iou"],
                               jaccard_score(target.ravel(), pred.ravel(), labels=[1, 2, 3], average="macro"))
    np.testing.assert_allclose(table.attrs["pixel_accuracy"], (pred == target).mean())


def test_pixel_accuracy_trap_and_absent_classes():
    target = np.zeros((100, 100), int)
    target[:10, :10] = 1                                 # 1 % defect pixels
    table = sg.segmentation_scores(np.zeros_like(target), target, 3)
    assert table.attrs["pixel_accuracy"] == pytest.approx(0.99)
    assert table.attrs["mean_iou"] == 0.0                # class 2 absent from both: skipped, not counted as 1 or 0
    assert np.isnan(table.loc["2", "IoU"])
    with pytest.raises(ValueError, match="class id 5, outside 0..2"):
        sg.segmentation_scores(np.full_like(target, 5), target, 3)
    assert sg.binary_iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0


def test_dice_loss_against_numpy():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5, 6)
    target = torch.randint(0, 3, (2, 5, 6))
    p = logits.softmax(1).numpy()
    t = np.eye(3)[target.numpy()].transpose(0, 3, 1, 2)
    dice = [(2 * (p[:, k] * t[:, k]).sum() + 1) / (p[:, k].sum() + t[:, k].sum() + 1) for k in range(3)]
    assert float(sg.dice_loss(logits, target)) == pytest.approx(1 - np.mean(dice[1:]), rel=1e-5)
    assert float(sg.dice_loss(logits, target, include_background=True)) == pytest.approx(1 - np.mean(dice), rel=1e-5)
    both = sg.CEDiceLoss()(logits, target)
    assert float(both) == pytest.approx(float(F.cross_entropy(logits, target)) + 1 - np.mean(dice[1:]), rel=1e-5)


def _hand_dice(p, t, classes, eps=1.0):
    """1 - mean over ``classes`` of (2 sum p t + eps) / (sum p + sum t + eps), in plain Python loops."""
    terms = []
    for k in classes:
        inter = sum(float(a) * float(b) for a, b in zip(p[:, k].ravel(), t[:, k].ravel()))
        terms.append((2 * inter + eps) / (float(p[:, k].sum()) + float(t[:, k].sum()) + eps))
    return 1 - sum(terms) / len(terms)


def test_dice_loss_skips_classes_absent_from_prediction_and_target():
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    target[0, :2, :2] = 1                                   # class 1 in the target only
    logits = torch.full((2, 4, 4, 4), -2.0)                 # 4 classes; background wins everywhere ...
    logits[:, 0] = 2.0
    logits[1, 2, 3, 3] = 5.0                                # ... except one pixel predicted as class 2
    p = logits.softmax(1).numpy()
    t = np.eye(4)[target.numpy()].transpose(0, 3, 1, 2)
    # class 3 is absent from both target and argmax prediction: skipped; classes 1 (target) and 2 (prediction) stay
    assert float(sg.dice_loss(logits, target)) == pytest.approx(_hand_dice(p, t, [1, 2]), rel=1e-6)
    assert float(sg.dice_loss(logits, target, skip_absent=False)) == pytest.approx(_hand_dice(p, t, [1, 2, 3]), rel=1e-6)
    assert float(sg.dice_loss(logits, target, include_background=True)) == pytest.approx(
        _hand_dice(p, t, [0, 1, 2]), rel=1e-6)
    # an absent class's Dice is eps / (sum p + eps), close to 1: without skipping it lowers the loss for nothing
    assert float(sg.dice_loss(logits, target, skip_absent=False)) < float(sg.dice_loss(logits, target))
    # nothing but background anywhere: the defect-class loss is 0 and still has a gradient path
    only_bg = torch.zeros(1, 4, 4, dtype=torch.long)
    lg = torch.full((1, 4, 4, 4), -2.0, requires_grad=True)
    with torch.no_grad():
        lg[:, 0] = 2.0
    loss = sg.dice_loss(lg, only_bg)
    loss.backward()
    assert float(loss.detach()) == 0.0 and lg.grad is not None


def test_threshold_labels():
    probs = np.zeros((1, 3, 1, 4), np.float32)
    probs[0, :, 0, 0] = [0.9, 0.06, 0.04]   # defect prob 0.10: class 1 if threshold <= 0.1
    probs[0, :, 0, 1] = [0.6, 0.1, 0.3]     # defect prob 0.40: class 2
    probs[0, :, 0, 2] = [0.2, 0.5, 0.3]     # defect prob 0.80: class 1
    probs[0, :, 0, 3] = [1.0, 0.0, 0.0]     # background
    np.testing.assert_array_equal(sg.threshold_labels(probs, 0.5), [[[0, 0, 1, 0]]])
    np.testing.assert_array_equal(sg.threshold_labels(probs, 0.3), [[[0, 2, 1, 0]]])
    np.testing.assert_array_equal(sg.threshold_labels(torch.as_tensor(probs), 0.1), [[[1, 2, 1, 0]]])
    assert sg.threshold_labels(probs, 0.3).dtype == np.uint8
    argmax = probs.argmax(1)
    np.testing.assert_array_equal(argmax, [[[0, 0, 1, 0]]])  # argmax keeps the 0.40-defect pixel as background
    with pytest.raises(ValueError, match="threshold=0 must lie in"):
        sg.threshold_labels(probs, 0)
    with pytest.raises(ValueError, match="must be \\(N, K, H, W\\)"):
        sg.threshold_labels(probs[0], 0.5)


def test_training_learns_a_square():
    torch.manual_seed(0)
    x = torch.zeros(16, 1, 16, 16)
    y = torch.zeros(16, 16, 16, dtype=torch.long)
    for i in range(16):
        r, c = divmod(i, 4)
        x[i, 0, 2 * r:2 * r + 6, 2 * c:2 * c + 6] = 1.0
        y[i, 2 * r:2 * r + 6, 2 * c:2 * c + 6] = 1
    model = sg.UNet(1, 2, width=4, depth=2)
    hist = sg.train_segmenter(model, sg.array_sampler(x, y, batch=8), steps=40, lr=1e-2, device="cpu",
                              log_every=20, verbose=False)
    assert hist["loss"].iloc[-1] < hist["loss"].iloc[0]
    pred = sg.predict_segmenter(model, x, device="cpu")
    assert sg.binary_iou(pred, y.numpy()) > 0.8


def test_crop_sampler_focuses_on_defects():
    images = np.full((2, 64, 64), 255, np.uint8)
    labels = np.zeros((2, 64, 64), np.uint8)
    labels[1, 40:44, 50:54] = 3
    sample = sg.crop_sampler(images, images, labels, crop=16, batch=64, focus=1.0, seed=0)
    xb, yb = sample()
    assert xb.shape == (64, 2, 16, 16) and yb.shape == (64, 16, 16)
    assert ((yb == 3).flatten(1).any(1)).all()
    with pytest.raises(ValueError, match="labels .* must have the images' shape"):
        sg.crop_sampler(images, images, labels[:1])
