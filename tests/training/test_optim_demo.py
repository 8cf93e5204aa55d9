"""optim_demo: surfaces against autograd, the NumPy update rules against torch.optim step by step."""
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_utils.training import optim_demo

SURFACES = {"quadratic": optim_demo.quadratic(condition=20.0), "rotated": optim_demo.quadratic(8.0, angle=30.0),
            "rosenbrock": optim_demo.rosenbrock(), "beale": optim_demo.beale()}


def _torch_f(surface_key, z):
    x, y = z[..., 0], z[..., 1]
    if surface_key == "rosenbrock":
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2
    if surface_key == "beale":
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2 + (2.625 - x + x * y ** 3) ** 2
    condition, angle = (20.0, 0.0) if surface_key == "quadratic" else (8.0, 30.0)
    phi = np.deg2rad(angle)
    u = torch.stack([torch.cos(torch.tensor(phi, dtype=z.dtype)), torch.sin(torch.tensor(phi, dtype=z.dtype))])
    w = torch.stack([-u[1], u[0]])
    return 0.5 * ((z @ u) ** 2 + condition * (z @ w) ** 2)


@pytest.mark.parametrize("key", list(SURFACES))
def test_surface_values_and_gradients_match_autograd(key):
    surface = SURFACES[key]
    points = np.random.default_rng(0).uniform(-1.8, 1.8, size=(16, 2))
    z = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    value = _torch_f(key, z)
    value.sum().backward()
    np.testing.assert_allclose(surface.f(points), value.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(surface.grad(points), z.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(surface.grad(np.array(surface.minimum)), 0.0, atol=1e-12)
    assert surface.f_min == pytest.approx(0.0, abs=1e-12)
    assert surface.f_min <= surface.f(points).min()


def _torch_path(surface, name, lr, steps, **kwargs):
    theta = torch.tensor(surface.start, dtype=torch.float64)
    optimizer = optim_demo.make_optimizer(name, [theta], lr=lr, **kwargs)
    points = [theta.numpy().copy()]
    for _ in range(steps):
        theta.grad = torch.from_numpy(surface.grad(theta.numpy()))
        optimizer.step()
        points.append(theta.numpy().copy())
    return np.stack(points)


@pytest.mark.parametrize("name", optim_demo.OPTIMIZERS)
@pytest.mark.parametrize("key", ["rosenbrock", "rotated", "beale"])
@pytest.mark.parametrize("weight_decay", [None, 0.05])
def test_rules_match_torch_optim_step_by_step(name, key, weight_decay):
    surface = SURFACES[key]
    lrs = [1e-4, 1e-3] if key != "rotated" and name in ("sgd", "momentum") else [3e-3, 3e-2]
    paths = optim_demo.optimize(surface, name, lrs=lrs, steps=40, weight_decay=weight_decay)
    assert paths.xy.shape == (41, 2, 2) and paths.loss.shape == (41, 2)
    for j, lr in enumerate(lrs):
        expected = _torch_path(surface, name, lr, 40, weight_decay=weight_decay)
        np.testing.assert_allclose(paths.xy[:, j], expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(paths.loss, surface.f(paths.xy))


def test_momentum_and_betas_are_passed_through():
    surface = SURFACES["beale"]
    for name, kwargs in [("momentum", {"momentum": 0.5}), ("adam", {"betas": (0.8, 0.99), "eps": 1e-3})]:
        paths = optim_demo.optimize(surface, name, lrs=1e-2, steps=30, **kwargs)
        np.testing.assert_allclose(paths.xy[:, 0], _torch_path(surface, name, 1e-2, 30, **kwargs), rtol=1e-10)


def test_sgd_on_a_quadratic_is_the_closed_form_contraction():
    surface = optim_demo.quadratic(condition=10.0, angle=20.0)
    lr, steps = 0.05, 25
    phi = np.deg2rad(20.0)
    rot = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
    hessian = rot @ np.diag([1.0, 10.0]) @ rot.T
    expected = np.linalg.matrix_power(np.eye(2) - lr * hessian, steps) @ np.array(surface.start)
    paths = optim_demo.optimize(surface, "sgd", lrs=[lr], steps=steps)
    np.testing.assert_allclose(paths.xy[-1, 0], expected, rtol=1e-12)


def test_rotation_moves_sgd_and_momentum_paths_rigidly_but_not_adam():
    flat, turned = optim_demo.quadratic(20.0), optim_demo.quadratic(20.0, angle=30.0)
    phi = np.deg2rad(30.0)
    rot = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
    np.testing.assert_allclose(turned.start, rot @ np.array(flat.start))
    for name in ("sgd", "momentum"):
        a = optim_demo.optimize(flat, name, lrs=[0.03], steps=100)
        b = optim_demo.optimize(turned, name, lrs=[0.03], steps=100)
        np.testing.assert_allclose(b.xy[:, 0], a.xy[:, 0] @ rot.T, atol=1e-12)
    a = optim_demo.optimize(flat, "adam", lrs=[0.1], steps=100)
    b = optim_demo.optimize(turned, "adam", lrs=[0.1], steps=100)
    assert np.abs(b.xy[:, 0] - a.xy[:, 0] @ rot.T).max() > 0.1   # Adam's per-coordinate scaling sees the axes


def test_first_adam_step_has_size_lr_whatever_the_gradient_scale():
    # bias correction makes the first step lr * sign(g) (up to eps) in every coordinate
    surface = optim_demo.quadratic(condition=1000.0)
    paths = optim_demo.optimize(surface, "adam", lrs=[0.01, 0.1], steps=1, start=(2.0, -0.003))
    step = paths.xy[1] - paths.xy[0]
    np.testing.assert_allclose(step, [[-0.01, 0.01], [-0.1, 0.1]], rtol=1e-5)


def test_adamw_decay_shrinks_by_one_minus_lr_wd_when_the_gradient_is_zero():
    flat = optim_demo.Surface("flat", lambda z: np.zeros(np.shape(z)[:-1]), lambda z: np.zeros(np.shape(z)),
                              minimum=(0.0, 0.0), start=(2.0, -1.0), xlim=(-1, 1), ylim=(-1, 1))
    paths = optim_demo.optimize(flat, "adamw", lrs=[0.1], steps=7, weight_decay=0.5)
    np.testing.assert_allclose(paths.xy[-1, 0], np.array([2.0, -1.0]) * (1 - 0.05) ** 7, rtol=1e-12)
    # Adam's coupled L2 term is normalised like a gradient: each step moves about lr, whatever theta is
    l2 = optim_demo.optimize(flat, "adam", lrs=[0.1], steps=1, weight_decay=0.5)
    np.testing.assert_allclose(np.abs(l2.xy[1, 0] - l2.xy[0, 0]), [0.1, 0.1], rtol=1e-6)


def test_steps_to_best_and_table():
    paths = optim_demo.Paths(name="x", lrs=np.array([0.1, 0.2, 0.3, 0.4]), f_min=1.0, xy=np.zeros((4, 4, 2)),
                             loss=np.array([[5.0, 5.0, 5.0, 5.0], [3.0, 1.05, 9.0, 1.0], [1.05, 1.001, np.nan, 2.0],
                                            [1.002, 1.00001, np.nan, 1.0]]))
    np.testing.assert_array_equal(paths.steps_to(0.1), [2, 1, -1, 3])           # path 3 leaves and comes back
    np.testing.assert_array_equal(paths.steps_to(0.1, stay=False), [2, 1, -1, 1])
    np.testing.assert_array_equal(paths.steps_to(1e-2), [3, 2, -1, 3])
    np.testing.assert_array_equal(paths.steps_to(1e-4), [-1, 3, -1, 3])
    np.testing.assert_array_equal(paths.diverged, [False, False, True, False])
    assert paths.best(0.1) == 1 and paths.best(1e-2) == 1 and paths.best(1e-4) == 1
    paths.loss[-1, 3] = 1.5                                                   # path 3 now ends outside 0.1
    np.testing.assert_array_equal(paths.steps_to(0.1), [2, 1, -1, -1])
    assert paths.best(1e-7) == 1  # nobody reached 1e-7: the smallest final gap wins, the NaN path never
    paths.loss[-1, 1] = 1.01
    assert paths.best(1e-7) == 0
    table = paths.table(0.1)
    assert list(table.columns) == ["optimizer", "lr", "first_reach", "steps_to_tol", "final_gap", "diverged"]
    assert table["first_reach"].tolist()[:2] == [2, 1] and table["first_reach"].isna().tolist() == [
        False, False, True, False]
    assert table["steps_to_tol"].isna().tolist() == [False, False, True, True]
    with pytest.raises(ValueError, match="tol"):
        paths.steps_to(0.0)


def test_divergence_is_reported_without_warnings():
    surface = optim_demo.quadratic(condition=20.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = optim_demo.optimize(surface, "sgd", lrs=[0.05, 0.11, 50.0], steps=400)
    np.testing.assert_array_equal(paths.diverged, [False, True, True])  # stable iff lr < 2 / 20
    assert np.isnan(paths.loss[-1, 2]) and np.isfinite(paths.loss[-1, 0])


def test_errors_name_the_argument():
    surface = SURFACES["rosenbrock"]
    with pytest.raises(ValueError, match="optimizer name='rmsprop' is not one of"):
        optim_demo.optimize(surface, "rmsprop", lrs=[0.1], steps=3)
    with pytest.raises(ValueError, match="lrs must be"):
        optim_demo.optimize(surface, "sgd", lrs=[0.1, -1.0], steps=3)
    with pytest.raises(ValueError, match="steps=0"):
        optim_demo.optimize(surface, "sgd", lrs=0.1, steps=0)
    with pytest.raises(ValueError, match="start must be"):
        optim_demo.optimize(surface, "sgd", lrs=0.1, steps=3, start=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="weight_decay"):
        optim_demo.make_optimizer("adamw", [torch.zeros(2)], lr=0.1, weight_decay=-1.0)
    with pytest.raises(ValueError, match="condition"):
        optim_demo.quadratic(condition=0.5)


def test_make_optimizer_classes_and_pytorch_defaults():
    params = [torch.nn.Parameter(torch.zeros(3))]
    expected = {"sgd": (torch.optim.SGD, 0.0, 0.0), "momentum": (torch.optim.SGD, 0.9, 0.0),
                "adam": (torch.optim.Adam, None, 0.0), "adamw": (torch.optim.AdamW, None, 1e-2)}
    for name, (cls, momentum, wd) in expected.items():
        optimizer = optim_demo.make_optimizer(name, params, lr=0.01)
        assert type(optimizer) is cls
        group = optimizer.param_groups[0]
        assert group["lr"] == 0.01 and group["weight_decay"] == wd
        if momentum is not None:
            assert group["momentum"] == momentum
    assert torch.optim.AdamW(params).defaults["weight_decay"] == optim_demo.DEFAULT_WEIGHT_DECAY["adamw"]


def test_plot_paths_draws_every_path():
    surface = SURFACES["rosenbrock"]
    paths = {name: optim_demo.optimize(surface, name, lrs=[1e-3], steps=20).xy[:, 0]
             for name in ("sgd", "adam")}
    ax = optim_demo.plot_paths(surface, paths, title="two paths")
    labels = [line.get_label() for line in ax.get_lines()]
    assert "sgd" in labels and "adam" in labels and "minimum" in labels
    assert ax.get_title() == "two paths"
    with pytest.raises(ValueError, match=r"paths\['bad'\] must be \(T, 2\)"):
        optim_demo.plot_paths(surface, {"bad": np.zeros((3, 3))}, ax=ax)
    plt.close("all")
