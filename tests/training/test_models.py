import pytest
import torch
from torch import nn

from course_utils.training import models


def test_forward_shapes_and_depth():
    model = models.WaferCNN(in_channels=1, num_classes=5, widths=(4, 8, 16), dropout=0.1)
    out = model(torch.zeros(2, 1, 32, 32))
    assert out.shape == (2, 5) and out.dtype == torch.float32
    assert len(model.features) == 3
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 16]
    double = models.WaferCNN(widths=(4, 8), convs_per_block=2, kernel_size=5)
    convs = [m for m in double.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and convs[0].kernel_size == (5, 5) and convs[0].padding == (2, 2)


def test_last_linear_is_the_classifier():
    model = models.WaferCNN(widths=(4, 8), num_classes=9)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears[-1] is model.classifier[-1]
    assert linears[-1].in_features == 8 and linears[-1].out_features == 9


def test_seeded_init_is_reproducible():
    torch.manual_seed(0)
    a = models.WaferCNN(widths=(4, 8))
    torch.manual_seed(0)
    b = models.WaferCNN(widths=(4, 8))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_summary_counts_params_flops_and_receptive_field():
    model = models.WaferCNN(in_channels=3, num_classes=9, widths=(8, 16), dropout=0.0)
    summary = models.model_summary(model, input_size=(2, 3, 16, 16))
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    assert summary.trainable_params == summary.total_params
    assert summary.table["params"].sum() == summary.total_params
    # independent count: conv FLOPs = 2 * out_ch * in_ch * k*k * H_out * W_out, linear = 2 * in * out, per image
    per_image = 2 * 8 * 3 * 9 * 16 * 16 + 2 * 16 * 8 * 9 * 8 * 8 + 2 * 16 * 9
    assert summary.flops == 2 * per_image
    assert summary.gflops_per_image == pytest.approx(per_image / 1e9)
    # conv3 -> 3, pool2 -> 4, conv3 (jump 2) -> 8, pool2 -> 10
    assert summary.receptive_field == 10
    shapes = dict(zip(summary.table["layer"], summary.table["output_shape"]))
    assert shapes["features.0.3"] == (2, 8, 8, 8) and shapes["classifier.2"] == (2, 9)
    assert "receptive field" in str(summary) and model.training  # mode restored


def test_summary_restores_eval_mode_and_rejects_bad_input():
    model = models.WaferCNN(widths=(4,)).eval()
    models.model_summary(model, input_size=(1, 3, 8, 8))
    assert not model.training
    with pytest.raises(ValueError, match="input_size must be"):
        models.model_summary(model, input_size=(3, 8, 8))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        models.model_summary("resnet")


@pytest.mark.parametrize("kwargs, match", [
    ({"widths": ()}, "widths must be a non-empty"),
    ({"widths": (8, 0)}, "widths must be a non-empty"),
    ({"kernel_size": 4}, "kernel_size must be odd"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"num_classes": 0}, "num_classes must be a positive integer"),
    ({"global_pool": "mean"}, "global_pool .* must be one of"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.WaferCNN(**kwargs)


@pytest.mark.parametrize("mode", ["avg", "max", "avgmax"])
def test_global_pool_is_the_mean_the_maximum_or_their_sum_over_the_map(mode):
    torch.manual_seed(0)
    model = models.WaferCNN(widths=(4, 8), global_pool=mode, dropout=0.0).eval()
    x = torch.randn(3, 3, 16, 16)
    features = model.features(x)
    mean, top = features.flatten(2).mean(-1), features.flatten(2).max(-1).values   # computed apart
    expected = {"avg": mean, "max": top, "avgmax": mean + top}[mode]
    pooled = model.pool(features)
    assert pooled.shape == (3, 8, 1, 1)
    torch.testing.assert_close(pooled.flatten(1), expected)
    torch.testing.assert_close(model(x), model.classifier(expected[:, :, None, None]))
    assert isinstance(model.pool, nn.AdaptiveAvgPool2d) == (mode == "avg")   # the default layer is unchanged


def test_max_pooling_keeps_a_small_spot_that_the_average_dilutes():
    # one hot position in an 8x8 feature map: 1/64 of it under the average, all of it under the maximum
    features = torch.zeros(1, 2, 8, 8)
    features[0, 0, 3, 5] = 1.0
    assert models.GlobalPool("avg")(features)[0, 0].item() == pytest.approx(1 / 64)
    assert models.GlobalPool("max")(features)[0, 0].item() == 1.0
    assert models.GlobalPool("avgmax")(features)[0, :, 0, 0].tolist() == pytest.approx([1 + 1 / 64, 0.0])
    with pytest.raises(ValueError, match=r"global_pool .* must be one of \('avg', 'max', 'avgmax'\), got 'sum'"):
        models.GlobalPool("sum")


def test_bad_input_shape():
    model = models.WaferCNN(in_channels=3, widths=(4, 8, 16))
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3, H, W\)"):
        model(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="at least 8x8"):
        model(torch.zeros(1, 3, 4, 4))
