"""Optimizers on 2-D loss surfaces: SGD, momentum, Adam and AdamW paths for notebook 09.

The four update rules are PyTorch's (``torch.optim.SGD`` without and with
momentum, ``torch.optim.Adam``, ``torch.optim.AdamW``), written in NumPy and
vectorised over a vector of learning rates, so one call traces a whole
learning-rate sweep in milliseconds (``tests/training/test_optim_demo.py`` checks every
rule against ``torch.optim`` step by step)::

    >>> from course_utils.training import optim_demo
    >>> surface = optim_demo.rosenbrock()
    >>> paths = optim_demo.optimize(surface, "adam", lrs=[1e-2, 1e-1], steps=2000)
    >>> paths.table(tol=1e-6)                # steps until f - f_min stays <= tol, per lr
    >>> optim_demo.plot_paths(surface, {"adam": paths.xy[:, paths.best(1e-6)]})

PyTorch's rules (``g`` the gradient, ``lr`` the learning rate, ``t`` the 1-based step)::

    sgd       g <- g + wd * theta;                       theta <- theta - lr * g
    momentum  g <- g + wd * theta; b <- mu * b + g (b_1 = g_1); theta <- theta - lr * b
    adam      g <- g + wd * theta (L2, coupled);  m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
              theta <- theta - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
    adamw     theta <- theta * (1 - lr * wd) (decoupled), then the Adam step without the L2 term
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from course_utils.core.checks import check_int, check_real

__all__ = ["OPTIMIZERS", "DEFAULT_WEIGHT_DECAY", "Surface", "quadratic", "rosenbrock", "beale",
           "Paths", "optimize", "make_optimizer", "plot_paths"]

#: Optimizer names understood by :func:`optimize` and :func:`make_optimizer`.
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
#: PyTorch's default ``weight_decay`` of each optimizer (used when ``weight_decay=None``).
DEFAULT_WEIGHT_DECAY = {"sgd": 0.0, "momentum": 0.0, "adam": 0.0, "adamw": 1e-2}


# ---------------------------------------------------------------------------
# Surfaces
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Surface:
    """A 2-D loss ``f(x, y)`` with its gradient, minimum and a plotting window.

    ``f`` maps ``float64 (..., 2)`` points to ``(...)`` losses, ``grad`` maps them
    to ``(..., 2)`` gradients; ``start`` is the default starting point of a path.
    """

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray], np.ndarray]
    minimum: tuple[float, float]
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]

    @property
    def f_min(self) -> float:
        """The loss at the minimum."""
        return float(self.f(np.asarray(self.minimum, dtype=np.float64)))


def quadratic(condition: float = 20.0, angle: float = 0.0) -> Surface:
    """``f(z) = 0.5 z^T H z`` with eigenvalues 1 and ``condition`` (ill-conditioned for large values).

    ``angle`` (degrees) rotates the eigenvectors away from the x/y axes (0 keeps the
    steep direction along y) and the default start ``(-4, 1.5)`` with them, so a rotated
    surface is the same problem in other coordinates. Minimum 0 at the origin; the
    largest stable SGD step is ``lr < 2 / condition``.

    Taught in: 09_optimizers"""
    condition = check_real(condition, "condition", minimum=1.0)
    phi = np.deg2rad(check_real(angle, "angle"))
    rot = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
    hessian = rot @ np.diag([1.0, condition]) @ rot.T

    def grad(z):
        return np.asarray(z, dtype=np.float64) @ hessian

    def f(z):
        z = np.asarray(z, dtype=np.float64)
        return 0.5 * np.einsum("...i,...i->...", z @ hessian, z)

    start = rot @ np.array([-4.0, 1.5])
    return Surface(f"quadratic (condition {condition:g}, angle {np.rad2deg(phi):g} deg)", f, grad,
                   minimum=(0.0, 0.0), start=(float(start[0]), float(start[1])), xlim=(-5.0, 5.0), ylim=(-3.0, 3.0))


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    """``f(x, y) = (a - x)^2 + b (y - x^2)^2``: a curved, narrow valley; minimum 0 at ``(a, a^2)``.

    Taught in: 09_optimizers"""
    a, b = check_real(a, "a"), check_real(b, "b", minimum=0.0, low_open=True)

    def f(z):
        x, y = np.asarray(z, dtype=np.float64)[..., 0], np.asarray(z, dtype=np.float64)[..., 1]
        return (a - x) ** 2 + b * (y - x * x) ** 2

    def grad(z):
        x, y = np.asarray(z, dtype=np.float64)[..., 0], np.asarray(z, dtype=np.float64)[..., 1]
        return np.stack([-2.0 * (a - x) - 4.0 * b * x * (y - x * x), 2.0 * b * (y - x * x)], axis=-1)

    return Surface(f"Rosenbrock (a={a:g}, b={b:g})", f, grad, minimum=(a, a * a), start=(-1.5, 2.0),
                   xlim=(-2.0, 2.0), ylim=(-1.0, 3.0))


def beale() -> Surface:
    """Beale's function: flat plateaus and steep walls; minimum 0 at ``(3, 0.5)``.

    Used by: tests/training/test_optim_demo.py"""
    consts = (1.5, 2.25, 2.625)

    def f(z):
        x, y = np.asarray(z, dtype=np.float64)[..., 0], np.asarray(z, dtype=np.float64)[..., 1]
        return sum((c - x + x * y ** (k + 1)) ** 2 for k, c in enumerate(consts))

    def grad(z):
        x, y = np.asarray(z, dtype=np.float64)[..., 0], np.asarray(z, dtype=np.float64)[..., 1]
        gx, gy = np.zeros_like(x), np.zeros_like(x)
        for k, c in enumerate(consts):
            r = c - x + x * y ** (k + 1)
            gx = gx + 2.0 * r * (y ** (k + 1) - 1.0)
            gy = gy + 2.0 * r * (k + 1) * x * y ** k
        return np.stack([gx, gy], axis=-1)

    return Surface("Beale", f, grad, minimum=(3.0, 0.5), start=(1.0, 1.5), xlim=(-1.0, 4.5), ylim=(-1.5, 2.0))


# ---------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------
@dataclass
class Paths:
    """What :func:`optimize` returns: one path per learning rate.

    ``lrs`` ``float64 (n,)``; ``xy`` ``float64 (steps + 1, n, 2)`` (row 0 is the start);
    ``loss`` ``float64 (steps + 1, n)``; ``f_min`` the surface's minimum loss. A
    diverged path holds NaN from the step it left the float range.
    """

    name: str
    lrs: np.ndarray
    xy: np.ndarray
    loss: np.ndarray
    f_min: float

    @property
    def diverged(self) -> np.ndarray:
        """``bool (n,)``: the path ended non-finite or above its starting loss."""
        final = self.loss[-1]
        return ~np.isfinite(final) | (final > self.loss[0])

    def steps_to(self, tol: float, *, stay: bool = True) -> np.ndarray:
        """``int64 (n,)``: first step with ``loss - f_min <= tol``; -1 where never reached.

        ``stay=True`` (default) counts only a step from which the loss stays within ``tol``
        to the end of the path, so a path that touches the tolerance and wanders off again
        (Adam with a large constant learning rate) is not counted as converged there.
        """
        tol = check_real(tol, "tol", minimum=0.0, low_open=True)
        with np.errstate(invalid="ignore"):
            reached = (self.loss - self.f_min) <= tol
        if stay:
            reached = np.flip(np.logical_and.accumulate(np.flip(reached, axis=0), axis=0), axis=0)
        return np.where(reached.any(axis=0), reached.argmax(axis=0), -1).astype(np.int64)

    def best(self, tol: float) -> int:
        """Index of the best learning rate: fewest steps to ``tol`` (and staying), else the smallest final gap."""
        steps = self.steps_to(tol)
        if (steps >= 0).any():
            return int(np.where(steps >= 0, steps, np.iinfo(np.int64).max).argmin())
        gap = np.where(np.isfinite(self.loss[-1]), self.loss[-1] - self.f_min, np.inf)
        return int(gap.argmin())

    def table(self, tol: float) -> pd.DataFrame:
        """One row per learning rate: ``lr, first_reach, steps_to_tol`` (to stay; <NA> = never),
        ``final_gap, diverged``."""
        first, steps = self.steps_to(tol, stay=False), self.steps_to(tol)
        return pd.DataFrame({
            "optimizer": self.name, "lr": self.lrs,
            "first_reach": pd.Series(first).where(first >= 0).astype("Int64"),
            "steps_to_tol": pd.Series(steps).where(steps >= 0).astype("Int64"),
            "final_gap": self.loss[-1] - self.f_min, "diverged": self.diverged})


def _sgd_step(theta, g, state, lr, *, momentum, weight_decay):
    g = g + weight_decay * theta
    if momentum:
        state["b"] = g.copy() if "b" not in state else momentum * state["b"] + g
        g = state["b"]
    return theta - lr * g


def _adam_step(theta, g, state, lr, *, betas, eps, weight_decay, decoupled):
    b1, b2 = betas
    t = state["t"] = state.get("t", 0) + 1
    if decoupled:
        theta = theta * (1.0 - lr * weight_decay)
    else:
        g = g + weight_decay * theta
    state["m"] = b1 * state.get("m", 0.0) + (1.0 - b1) * g
    state["v"] = b2 * state.get("v", 0.0) + (1.0 - b2) * g * g
    m_hat, v_hat = state["m"] / (1.0 - b1 ** t), state["v"] / (1.0 - b2 ** t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps)


def _check_name(name) -> str:
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise ValueError(f"optimizer name={name!r} is not one of {OPTIMIZERS}.")
    return name.lower()


def _check_lrs(lrs) -> np.ndarray:
    lrs = np.atleast_1d(np.asarray(lrs, dtype=np.float64))
    if lrs.ndim != 1 or lrs.size == 0 or not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError(f"lrs must be one positive learning rate or a non-empty list of them, got {lrs!r}.")
    return lrs


def optimize(surface: Surface, name: str, *, lrs, steps: int, start: Sequence[float] | None = None,
             momentum: float = 0.9, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
             weight_decay: float | None = None) -> Paths:
    """Run optimizer ``name`` on ``surface`` from ``start`` for ``steps`` steps, once per learning rate.

    Parameters
    ----------
    surface : a :class:`Surface` (``quadratic()``, ``rosenbrock()``, ``beale()``)
    name : one of ``OPTIMIZERS``; the rules are ``torch.optim``'s (see the module docstring).
    lrs : one learning rate or a sequence of them; all paths run side by side (vectorised).
    steps : number of update steps.
    start : ``(x, y)``; default ``surface.start``.
    momentum : ``mu`` of ``"momentum"`` (PyTorch's formulation, no dampening).
    betas, eps : Adam's and AdamW's averaging constants and denominator offset.
    weight_decay : ``None`` uses PyTorch's default of the optimizer (``DEFAULT_WEIGHT_DECAY``).

    Returns
    -------
    :class:`Paths` with ``xy (steps + 1, n_lrs, 2)`` and ``loss (steps + 1, n_lrs)``.

    Taught in: 09_optimizers"""
    name, lrs = _check_name(name), _check_lrs(lrs)
    steps = check_int(steps, "steps", minimum=1)
    start = np.asarray(surface.start if start is None else start, dtype=np.float64)
    if start.shape != (2,) or not np.all(np.isfinite(start)):
        raise ValueError(f"start must be a finite point (x, y), got {start!r}.")
    wd = DEFAULT_WEIGHT_DECAY[name] if weight_decay is None else check_real(weight_decay, "weight_decay",
                                                                             minimum=0.0)
    if name in ("sgd", "momentum"):
        mu = check_real(momentum, "momentum", minimum=0.0, maximum=1.0, high_open=True) if name == "momentum" else 0
        rule = lambda th, g, st, lr: _sgd_step(th, g, st, lr, momentum=mu, weight_decay=wd)  # noqa: E731
    else:
        b1, b2 = (check_real(b, "betas", minimum=0.0, maximum=1.0, high_open=True) for b in betas)
        eps = check_real(eps, "eps", minimum=0.0)
        rule = lambda th, g, st, lr: _adam_step(th, g, st, lr, betas=(b1, b2), eps=eps,  # noqa: E731
                                                weight_decay=wd, decoupled=name == "adamw")
    xy = np.empty((steps + 1, lrs.size, 2))
    xy[0] = start
    theta, state, lr = xy[0].copy(), {}, lrs[:, None]
    with np.errstate(all="ignore"):  # a diverging path turns into inf/NaN quietly; Paths.diverged reports it
        for step in range(steps):
            theta = rule(theta, surface.grad(theta), state, lr)
            xy[step + 1] = theta
        loss = surface.f(xy)
    bad = ~np.isfinite(loss)
    xy[bad], loss[bad] = np.nan, np.nan
    return Paths(name=name, lrs=lrs, xy=xy, loss=loss, f_min=surface.f_min)


def make_optimizer(name: str, params, *, lr: float, momentum: float = 0.9,
                   betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                   weight_decay: float | None = None) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer that :func:`optimize` mirrors, built on ``params``.

    ``"sgd"`` and ``"momentum"`` are ``torch.optim.SGD`` (momentum 0 / ``momentum``),
    ``"adam"`` is ``torch.optim.Adam`` (L2 ``weight_decay`` added to the gradient),
    ``"adamw"`` is ``torch.optim.AdamW`` (decoupled ``weight_decay``). ``weight_decay=None``
    keeps PyTorch's default (``DEFAULT_WEIGHT_DECAY``).

    Taught in: 09_optimizers"""
    name = _check_name(name)
    lr = check_real(lr, "lr", minimum=0.0, low_open=True)
    wd = DEFAULT_WEIGHT_DECAY[name] if weight_decay is None else check_real(weight_decay, "weight_decay",
                                                                             minimum=0.0)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=check_real(momentum, "momentum", minimum=0.0),
                               weight_decay=wd)
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=wd)


def plot_paths(surface: Surface, paths: Mapping[str, np.ndarray], *, ax=None, title: str | None = None,
               resolution: int = 200):
    """Contours of ``log10(f - f_min)`` with one path per entry of ``paths`` (``label -> (T, 2)`` points).

    The start is a circle, the end a cross, the minimum a star. Returns the axes.

    Taught in: 09_optimizers"""
    import matplotlib.pyplot as plt

    resolution = check_int(resolution, "resolution", minimum=10)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.2))
    gx, gy = np.meshgrid(np.linspace(*surface.xlim, resolution), np.linspace(*surface.ylim, resolution))
    gap = surface.f(np.stack([gx, gy], axis=-1)) - surface.f_min
    ax.contourf(gx, gy, np.log10(gap + 1e-6), levels=30, cmap="Greys", alpha=0.35)
    ax.contour(gx, gy, np.log10(gap + 1e-6), levels=15, colors="grey", linewidths=0.5, alpha=0.7)
    for label, points in paths.items():
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"paths[{label!r}] must be (T, 2) points, got shape {points.shape}.")
        line, = ax.plot(points[:, 0], points[:, 1], "-", lw=1.4, label=label)
        ax.plot(*points[0], "o", color=line.get_color(), ms=5)
        finite = points[np.isfinite(points).all(axis=1)]
        ax.plot(*finite[-1], "x", color=line.get_color(), ms=7, mew=2)
    ax.plot(*surface.minimum, "*", color="gold", mec="k", ms=14, label="minimum")
    ax.set_xlim(*surface.xlim)
    ax.set_ylim(*surface.ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or surface.name, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return ax
