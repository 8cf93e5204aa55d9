"""course_utils.detection.yolo_lightweight: pruning masks kept exact, letterboxed calibration batches, errors."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.detection import yolo_lightweight as ylw


def fake_yolo():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 16, 3), nn.Conv2d(16, 4, 1))
    return SimpleNamespace(model=net, ckpt=None)


def test_prune_yolo_zeroes_the_global_share_and_apply_masks_restores_the_zeros():
    model = fake_yolo()
    convs = [m for m in model.model.modules() if isinstance(m, nn.Conv2d)]
    total = sum(m.weight.numel() for m in convs)
    weights = torch.cat([m.weight.detach().abs().flatten() for m in convs])
    masks = ylw.prune_yolo(model, amount=0.3)
    zeros = sum(int((m.weight == 0).sum()) for m in convs)
    assert zeros == round(0.3 * total)
    assert not any(hasattr(m, "weight_orig") for m in convs)  # pruning made permanent
    # the zeroed weights are the smallest |w| over all layers (global L1), checked by sorting
    kept = torch.cat([m.weight.detach().abs().flatten()[m.weight.flatten() != 0] for m in convs])
    assert kept.min() >= torch.sort(weights).values[round(0.3 * total) - 1]
    with torch.no_grad():  # a training step moves the zeros; the masks put them back
        for m in convs:
            m.weight.add_(0.1)
    ylw.apply_masks(model.model, masks)
    assert sum(int((m.weight == 0).sum()) for m in convs) == zeros


def test_apply_masks_names_a_module_that_is_not_there():
    with pytest.raises(KeyError, match="not in this network"):
        ylw.apply_masks(nn.Sequential(nn.Conv2d(1, 1, 1)), {"9": torch.ones(1, 1, 1, 1, dtype=torch.bool)})


def test_finetune_refuses_a_model_without_a_trained_checkpoint():
    model = fake_yolo()
    with pytest.raises(ValueError, match="no trained checkpoint"):
        ylw.finetune_pruned_yolo(model, "data.yaml", {}, project="runs")


def test_letterboxed_batch_shape_and_range():
    images = np.full((3, 40, 60), 255, np.uint8)
    x = ylw.letterboxed_batch(images, 64)
    assert x.shape == (3, 3, 64, 64) and x.dtype == np.float32
    assert x.max() == pytest.approx(1.0) and x.min() == pytest.approx(114 / 255)  # grey padding above and below
    with pytest.raises(ValueError, match="empty"):
        ylw.letterboxed_batch([], 64)
