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
