"""Tests of course_utils.classification.interpret: Grad-CAM against a model whose answer is known by construction."""
import numpy as np
import pytest
import torch
from torch import nn

from course_utils.training import models
from course_utils.classification import interpret, twin
from course_utils.classification.data import encode_maps


class DefectCounter(nn.Module):
    """logit_1 = mean of the defect channel, logit_0 = -that: the evidence is every defective die."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1))
        self.relu = nn.ReLU()
        self.head = nn.Linear(1, 2, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[-1.0], [1.0]]))

    def forward(self, x):
        return self.head(self.relu(self.conv(x)).mean(dim=(2, 3)))


def _maps(n=6, size=32, seed=0):
    clean = twin.make_synthetic_wafers(n, size=size, proportions={"none": 1.0}, seed=seed).maps
    return interpret.blob_wafers(clean, noise=0.0, seed=seed)


def test_grad_cam_equals_the_evidence_of_a_known_model():
    maps, labels, masks = _maps()
    x = encode_maps(torch.as_tensor(maps), "onehot")
    model = DefectCounter()
    cam, logits = interpret.grad_cam(model, model.relu, x, class_idx=1)
    assert cam.shape == (6, 32, 32) and cam.dtype == torch.float32
    # alpha = 1/(h w) > 0, A = defect channel: the CAM is the defect mask itself (max-normalised)
    expected = x[:, 2]
    blob = labels == 1
    torch.testing.assert_close(cam[blob], expected[blob])
    assert torch.all(cam[~blob] == 0)  # no defects, no heat
    torch.testing.assert_close(logits, model(x).detach())
    # the other class has a negative weight: ReLU removes everything
    cam0, _ = interpret.grad_cam(model, model.relu, x, class_idx=torch.zeros(6, dtype=torch.long))
    assert torch.all(cam0 == 0)
    inside, chance = interpret.cam_mass_inside(cam[blob], masks[blob], maps[blob] > 0)
    np.testing.assert_allclose(inside, 1.0)
    np.testing.assert_allclose(chance, masks[blob].sum((1, 2)) / (maps[blob] > 0).sum((1, 2)))
    inside0, _ = interpret.cam_mass_inside(cam0[blob], masks[blob], maps[blob] > 0)
    assert np.array_equal(inside0, np.zeros(blob.sum()))  # no heat at all: none on the evidence


def test_grad_cam_matches_autograd_on_wafercnn():
    torch.manual_seed(0)
    model = models.WaferCNN(widths=(4, 8), dropout=0.0).train()
    x = torch.rand(3, 3, 16, 16)
    target = torch.tensor([0, 4, 8])
    cam, _ = interpret.grad_cam(model, model.features[-1], x, target)
    assert model.training  # mode restored
    model.eval()
    act = model.features(x)
    grad = torch.autograd.grad(model.classifier(model.pool(act)).gather(1, target[:, None]).sum(), act)[0]
    raw = torch.relu((grad.mean((2, 3), keepdim=True) * act).sum(1, keepdim=True))
    raw = nn.functional.interpolate(raw, size=(16, 16), mode="bilinear", align_corners=False)[:, 0]
    expected = raw / raw.flatten(1).max(1).values.clamp_min(1e-12)[:, None, None]
    torch.testing.assert_close(cam, expected.detach())


def test_layer_outputs_and_errors():
    model = models.WaferCNN(widths=(4, 8), dropout=0.0)
    out = interpret.layer_outputs(model, {"b1": model.features[0], "pooled": model.pool}, torch.rand(2, 3, 16, 16))
    assert out["b1"].shape == (2, 4, 8, 8) and out["pooled"].shape == (2, 8, 1, 1)
    with pytest.raises(ValueError, match="sub-module of model"):
        interpret.grad_cam(model, nn.ReLU(), torch.rand(1, 3, 16, 16), 0)
    with pytest.raises(ValueError, match="4-D feature map"):
        interpret.grad_cam(model, model.classifier, torch.rand(1, 3, 16, 16), 0)
    with pytest.raises(ValueError, match="one shape"):
        interpret.cam_mass_inside(np.ones((1, 4, 4)), np.ones((1, 4, 5), bool))
    with pytest.raises(ValueError, match="non-negative"):
        interpret.cam_mass_inside(-np.ones((1, 4, 4)), np.ones((1, 4, 4), bool))


def test_blob_wafers():
    clean = twin.make_synthetic_wafers(20, size=32, proportions={"none": 1.0}, seed=1).maps
    maps, labels, masks = interpret.blob_wafers(clean, noise=0.05, seed=3)
    assert maps.dtype == np.uint8 and set(np.unique(maps)) <= {0, 1, 2}
    assert labels.tolist() == [0, 1] * 10
    assert np.array_equal(maps > 0, clean > 0)  # the wafer outline is kept
    assert not masks[labels == 0].any() and masks[labels == 1].any(axis=(1, 2)).all()
    assert np.all(maps[masks] == 2)
    noise = ((maps == 2) & ~masks).sum() / (maps > 0).sum()
    assert 0.03 < noise < 0.07
    again = interpret.blob_wafers(clean, noise=0.05, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((maps, labels, masks), again))
    with pytest.raises(ValueError, match="uint8 array"):
        interpret.blob_wafers(clean.astype(float))
