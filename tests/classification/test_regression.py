"""Regression targets, the regression head, metrics against scikit-learn, the residual plot."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from torch import nn

from course_utils.classification import regression
from course_utils.classification.twin import make_synthetic_wafers
from course_utils.classification.wafers import CLASS_NAMES
from course_utils.training import models


# ---------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------
def test_defect_fraction_counts_defective_among_wafer_dies():
    a = np.array([[0, 1, 1], [1, 2, 1], [0, 2, 0]], dtype=np.uint8)    # 6 dies on the wafer, 2 defective
    b = np.array([[2, 2], [0, 1]], dtype=np.uint8)                     # 3 dies, 2 defective
    np.testing.assert_allclose(regression.defect_fraction(np.stack([a, a[::-1]])), [2 / 6, 2 / 6])
    out = regression.defect_fraction([a, b])                           # maps of different sizes (raw die grids)
    assert out.dtype == np.float32 and out.shape == (2,)
    np.testing.assert_allclose(out, [2 / 6, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(regression.defect_fraction(torch.as_tensor(np.stack([a, a]))), [2 / 6, 2 / 6])


def test_defect_fraction_of_the_twin_matches_a_per_map_count():
    ws = make_synthetic_wafers(60, size=32, seed=3)
    expected = [np.count_nonzero(m == 2) / np.count_nonzero(m) for m in ws.maps]
    np.testing.assert_allclose(regression.defect_fraction(ws.maps), expected, rtol=1e-6)


@pytest.mark.parametrize("maps, message", [
    (np.full((2, 4, 4), 3, dtype=np.uint8), "0 \\(off wafer\\), 1 \\(good die\\) and 2"),
    (np.zeros((2, 4, 4), dtype=np.uint8), r"maps\[0\] has no die on the wafer \(2 such map"),
    ([np.ones((3, 3), np.uint8), np.ones(3, np.uint8)], r"maps\[1\] must be a 2-D wafer map"),
    (np.ones((2, 2, 3, 3), np.uint8), "maps must be \\(N, H, W\\)"),
])
def test_defect_fraction_rejects_bad_maps(maps, message):
    with pytest.raises(ValueError, match=message):
        regression.defect_fraction(maps)


def test_pattern_radius_by_hand_and_on_the_twin():
    mask = np.zeros((3, 4, 4), dtype=bool)
    mask[0, 1:3, 1:3] = True            # the 4 central pixels: centres at (+-0.25, +-0.25)
    mask[1, 0, 0] = True                # a corner pixel: centre (-0.75, -0.75)
    r = regression.pattern_radius(mask)
    np.testing.assert_allclose(r[:2], [np.hypot(0.25, 0.25), np.hypot(0.75, 0.75)], rtol=1e-6)
    assert np.isnan(r[2])               # no pattern pixel
    ws, pattern = make_synthetic_wafers(270, size=32, proportions="balanced", seed=1, pattern_mask=True)
    radius = regression.pattern_radius(pattern)
    by_class = {name: np.nanmean(radius[ws.labels == k]) for k, name in enumerate(CLASS_NAMES) if name != "none"}
    assert np.isnan(radius[ws.labels == CLASS_NAMES.index("none")]).all()
    assert by_class["Center"] < 0.3 < 0.85 < by_class["Edge-Ring"] and by_class["Center"] < by_class["Donut"]


def test_pattern_radius_needs_a_bool_mask():
    with pytest.raises(ValueError, match="pattern must be a bool \\(N, H, W\\) mask"):
        regression.pattern_radius(np.zeros((2, 4, 4), dtype=np.uint8))


# ---------------------------------------------------------------------------
# The regression head
# ---------------------------------------------------------------------------
def test_as_regressor_swaps_only_the_head():
    torch.manual_seed(0)
    model = models.WaferCNN(in_channels=3, num_classes=9, widths=(4, 8))
    features = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("classifier")}
    out = regression.as_regressor(model, n_outputs=2, bias=[0.25, 0.5])
    assert out is model and model.num_classes == 2
    head = models.classifier_head(model)[1]
    assert isinstance(head, nn.Linear) and (head.in_features, head.out_features) == (8, 2)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in features.items())   # the CNN is untouched
    model.eval()
    y = model(torch.rand(5, 3, 16, 16))
    assert y.shape == (5, 2)
    np.testing.assert_allclose(y.mean(0).detach().numpy(), [0.25, 0.5], atol=0.05)  # small weights: about the bias
    assert torch.equal(head.bias.data, torch.tensor([0.25, 0.5]))


def test_as_regressor_scalar_bias_and_bad_arguments():
    model = regression.as_regressor(models.WaferCNN(widths=(4,)), n_outputs=3, bias=0.1)
    assert torch.allclose(models.classifier_head(model)[1].bias, torch.full((3,), 0.1))
    assert torch.equal(models.classifier_head(regression.as_regressor(models.WaferCNN(widths=(4,))))[1].bias,
                       torch.zeros(1))
    with pytest.raises(ValueError, match="n_outputs=0 must be an integer >= 1"):
        regression.as_regressor(models.WaferCNN(widths=(4,)), n_outputs=0)
    with pytest.raises(ValueError, match="bias must be one finite number or 2"):
        regression.as_regressor(models.WaferCNN(widths=(4,)), n_outputs=2, bias=[1, 2, 3])
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        regression.as_regressor("cnn")


def test_a_regressor_learns_the_defect_fraction():
    """A few hundred steps on the twin: far better than always predicting the mean (R^2 = 0)."""
    ws = make_synthetic_wafers(300, size=16, proportions="balanced", seed=2)
    x = torch.nn.functional.one_hot(torch.as_tensor(ws.maps).long(), 3).permute(0, 3, 1, 2).float()
    y = torch.as_tensor(regression.defect_fraction(ws.maps))[:, None]
    torch.manual_seed(0)
    model = regression.as_regressor(models.WaferCNN(widths=(8, 16), dropout=0.0), bias=y[:240].mean())
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(15):
        model.train()
        for batch in torch.randperm(240).split(32):
            loss = nn.MSELoss()(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        pred = model(x[240:])
    assert regression.regression_scores(y[240:], pred)["R2"].iloc[0] > 0.5


# ---------------------------------------------------------------------------
# Metrics and the residual plot
# ---------------------------------------------------------------------------
def test_regression_scores_match_sklearn():
    rng = np.random.default_rng(0)
    t = rng.random((50, 2))
    p = t + rng.normal(0, [0.05, 0.3], (50, 2))
    table = regression.regression_scores(t, torch.as_tensor(p), names=["a", "b"])
    assert list(table.index) == ["a", "b"] and list(table.columns) == ["MAE", "RMSE", "R2", "n"]
    np.testing.assert_allclose(table["MAE"], mean_absolute_error(t, p, multioutput="raw_values"))
    np.testing.assert_allclose(table["RMSE"], np.sqrt(mean_squared_error(t, p, multioutput="raw_values")))
    np.testing.assert_allclose(table["R2"], r2_score(t, p, multioutput="raw_values"))
    one = regression.regression_scores(t[:, 0], p[:, :1])               # (N,) and (N, 1): the same target
    assert one.index[0] == "target 0" and one["R2"].iloc[0] == pytest.approx(r2_score(t[:, 0], p[:, 0]))
    # always the mean: R^2 = 0; MAE by hand for 3 values
    assert regression.regression_scores(t[:, 0], np.full(50, t[:, 0].mean()))["R2"].iloc[0] == pytest.approx(0, abs=1e-12)
    assert regression.regression_scores([0, 1, 2], [1, 1, 1])["MAE"].iloc[0] == pytest.approx(2 / 3)


@pytest.mark.parametrize("y_true, y_pred, message", [
    (np.zeros(4), np.zeros((4, 1, 1)), "must have the same shape"),
    (np.zeros(4), np.zeros(5), "must have the same shape"),
    (np.zeros((4, 2)), np.zeros(4), "must have the same shape"),
    ([1.0], [1.0], "at least 2 samples"),
    ([1.0, np.nan], [1.0, 2.0], "must be finite"),
])
def test_regression_scores_reject_bad_input(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        regression.regression_scores(y_true, y_pred)


def test_regression_scores_names_must_match():
    with pytest.raises(ValueError, match="names has 1 entries for 2 target column"):
        regression.regression_scores(np.zeros((3, 2)), np.ones((3, 2)), names=["a"])


def test_plot_residuals_draws_the_points_and_the_residuals():
    t, p = np.array([0.1, 0.2, 0.4]), np.array([0.15, 0.2, 0.3])
    axes = regression.plot_residuals(t, p, name="defect fraction")
    scatter_pred, scatter_res = axes[0].collections[0], axes[1].collections[0]
    np.testing.assert_allclose(scatter_pred.get_offsets(), np.c_[t, p])
    np.testing.assert_allclose(scatter_res.get_offsets(), np.c_[t, p - t])
    assert axes[1].get_ylabel() == "residual (pred - true)" and axes[0].get_xlabel() == "true defect fraction"
    plt.close(axes[0].figure)
    with pytest.raises(ValueError, match="one target at a time"):
        regression.plot_residuals(np.zeros((3, 2)), np.zeros((3, 2)))
