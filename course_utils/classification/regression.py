"""CNN regression on wafer maps: continuous targets the maps define, a regression head, metrics, residuals.

A classifier answers "which failure type?"; a regressor answers "how much?". The targets here come
from the maps themselves, so every map (real or twin) has one without any labelling:

* :func:`defect_fraction`: the share of the wafer's dies that are defective (die state 2 among states 1, 2);
* :func:`pattern_radius`: where the twin's failure pattern lies, the mean radius of its dies (0 at the
  centre, 1 at the rim); it needs the twin's ``pattern_mask`` (real maps have none).

>>> from course_utils.classification import regression
>>> y = regression.defect_fraction(ws.maps)                       # float32 (N,)
>>> model = regression.as_regressor(models.WaferCNN(widths=(16, 32, 64)), n_outputs=1, bias=y.mean())
>>> regression.regression_scores(y_test, y_pred)                  # MAE, RMSE, R^2 per target
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from torch import nn

from course_utils.core.checks import as_numpy, check_int
from course_utils.classification.wafers import DEFECT_DIE, OFF_WAFER, check_die_states
from course_utils.training.transfer import replace_head

__all__ = ["defect_fraction", "pattern_radius", "as_regressor", "regression_scores", "plot_residuals"]


def _check_map(m: np.ndarray, where: str) -> None:
    if m.ndim != 2:
        raise ValueError(f"{where} must be a 2-D wafer map (H, W), got shape {m.shape}.")
    check_die_states(m, where)


def defect_fraction(maps) -> np.ndarray:
    """Share of each wafer's dies that are defective: ``(#state 2) / (#state 1 + #state 2)``.

    Parameters
    ----------
    maps : ``uint8 (N, H, W)`` fixed-size maps, or a sequence of 2-D maps of any size (the raw WM-811K
        die grids). Values in {0 off wafer, 1 good die, 2 defective die}.

    Returns
    -------
    ``float32 (N,)`` in [0, 1] (a fraction, no unit). On a resized map it counts pixels, so a die that the
    nearest-neighbour resize repeats counts more than once; on the raw grid it counts dies.

    Raises ``ValueError`` naming the map that is not 2-D, holds values outside {0, 1, 2} or has no die.

    Taught in: 20_cnn_regression"""
    maps = as_numpy(maps, "maps") if hasattr(maps, "detach") else maps       # a torch tensor (N, H, W)
    arr = maps if isinstance(maps, np.ndarray) and maps.dtype != object else None
    if arr is not None and arr.ndim == 3:
        _check_map(arr.reshape(-1, arr.shape[-1]), "maps")
        defective = (arr == DEFECT_DIE).sum(axis=(1, 2))
        dies = (arr != OFF_WAFER).sum(axis=(1, 2))
    else:
        if arr is not None and arr.ndim != 1:
            raise ValueError(f"maps must be (N, H, W) or a sequence of 2-D maps, got shape {arr.shape}.")
        items = [as_numpy(m, f"maps[{i}]") for i, m in enumerate(maps)]
        for i, m in enumerate(items):
            _check_map(m, f"maps[{i}]")
        defective = np.array([(m == DEFECT_DIE).sum() for m in items], dtype=np.int64)
        dies = np.array([(m != OFF_WAFER).sum() for m in items], dtype=np.int64)
    empty = np.flatnonzero(dies == 0)
    if len(empty):
        raise ValueError(f"maps[{int(empty[0])}] has no die on the wafer ({len(empty)} such map(s)); "
                         "its defect fraction is undefined: drop it first.")
    return (defective / dies).astype(np.float32)


def pattern_radius(pattern) -> np.ndarray:
    """Mean radius of each map's pattern pixels, ``float32 (N,)``: 0 at the centre, 1 at the rim.

    Parameters
    ----------
    pattern : ``bool (N, H, W)``, True where the failure pattern made a defective die: the mask that
        ``twin.make_synthetic_wafers(..., pattern_mask=True)`` returns. The wafer is the ellipse inscribed in
        the map, so a pixel centre at ``(x, y)`` in ``[-1, 1]`` (map coordinates) has radius ``sqrt(x^2 + y^2)``.

    Returns
    -------
    ``float32 (N,)`` in about [0, 1.4]; ``NaN`` for a map without pattern pixels (``none`` wafers):
    drop those before training (``np.isfinite``).

    Taught in: 20_cnn_regression"""
    mask = as_numpy(pattern, "pattern")
    if mask.ndim != 3 or mask.dtype != bool:
        raise ValueError(f"pattern must be a bool (N, H, W) mask (twin.make_synthetic_wafers(..., pattern_mask=True)), "
                         f"got dtype {mask.dtype} and shape {mask.shape}.")
    h, w = mask.shape[1:]
    y = (np.arange(h) + 0.5) / h * 2 - 1
    x = (np.arange(w) + 0.5) / w * 2 - 1
    r = np.sqrt(y[:, None] ** 2 + x[None, :] ** 2)
    count = mask.sum(axis=(1, 2))
    total = (mask * r).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).astype(np.float32)


def as_regressor(model: nn.Module, n_outputs: int = 1, *, bias=None) -> nn.Module:
    """Turn a classifier into a regressor: its last ``nn.Linear`` becomes ``nn.Linear(in_features, n_outputs)``.

    The rest of the network (convolutions, pooling, dropout) stays as it is; only the head changes
    (the swap is :func:`course_utils.training.transfer.replace_head`). The new head has no activation, so
    it outputs any real number, ``float32 (N, n_outputs)``. Its weights start small (normal, std 0.01)
    and its bias at ``bias`` (e.g. the training targets' mean, one value or one per output; default 0),
    so the first predictions are the mean and the first MSE is the targets' variance.

    Returns ``model`` itself (changed in place). ``model.num_classes`` is set to ``n_outputs`` when present.

    Taught in: 20_cnn_regression"""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    n_outputs = check_int(n_outputs, "n_outputs", minimum=1)
    name = replace_head(model, n_outputs)
    head = model.get_submodule(name)
    nn.init.normal_(head.weight, std=0.01)
    start = np.zeros(1) if bias is None else as_numpy(bias, "bias", dtype=np.float64).ravel()
    if bias is not None:
        if start.size not in (1, n_outputs) or not np.all(np.isfinite(start)):
            raise ValueError(f"bias must be one finite number or {n_outputs} (one per output), got {start.tolist()}.")
    head.bias.data.copy_(head.bias.new_tensor(np.broadcast_to(start, (n_outputs,)).copy()))
    if hasattr(model, "num_classes"):
        model.num_classes = n_outputs
    return model


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = as_numpy(y_true, "y_true", dtype=np.float64)
    p = as_numpy(y_pred, "y_pred", dtype=np.float64)
    t, p = (t[:, None] if t.ndim == 1 else t), (p[:, None] if p.ndim == 1 else p)
    if t.ndim != 2 or t.shape != p.shape:
        raise ValueError(f"y_true {as_numpy(y_true, 'y_true').shape} and y_pred {as_numpy(y_pred, 'y_pred').shape} "
                         "must have the same shape, (N,) or (N, n_outputs) ((N,) and (N, 1) count as the same).")
    if len(t) < 2:
        raise ValueError(f"need at least 2 samples to score a regression, got {len(t)}.")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise ValueError("y_true and y_pred must be finite (drop NaN targets first, e.g. with np.isfinite).")
    return t, p


def regression_scores(y_true, y_pred, names: Sequence[str] | None = None) -> pd.DataFrame:
    """MAE, RMSE and R^2 of each target: one row per output column.

    ``y_true``, ``y_pred``: ``(N,)`` or ``(N, K)`` arrays (or tensors), same shape, finite.
    MAE = mean |e| and RMSE = sqrt(mean e^2) are in the target's unit (``e = y_pred - y_true``);
    R^2 = 1 - sum e^2 / sum (y_true - mean y_true)^2 has none: 1 is perfect, 0 is "always predict the mean",
    below 0 is worse than that. Columns ``MAE, RMSE, R2, n``; index ``names`` (default ``target 0..K-1``).

    Taught in: 20_cnn_regression"""
    t, p = _pair(y_true, y_pred)
    names = [f"target {k}" for k in range(t.shape[1])] if names is None else list(names)
    if len(names) != t.shape[1]:
        raise ValueError(f"names has {len(names)} entries for {t.shape[1]} target column(s).")
    e = p - t
    spread = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(spread > 0, 1 - (e ** 2).sum(axis=0) / spread, np.nan)
    return pd.DataFrame({"MAE": np.abs(e).mean(axis=0), "RMSE": np.sqrt((e ** 2).mean(axis=0)), "R2": r2,
                         "n": len(t)}, index=pd.Index(names, name="target"))


def plot_residuals(y_true, y_pred, *, name: str = "target", axes=None, **scatter):
    """Two panels: predicted vs true (with the line y = x) and residual ``y_pred - y_true`` vs true (with 0).

    ``y_true``, ``y_pred``: ``(N,)``, same shape. A good regressor sits on the diagonal, and its residuals
    scatter around 0 with no trend; a slope in the right panel means it pulls predictions towards the mean.
    ``axes``: two matplotlib axes to draw into (default: a new 1 x 2 figure); ``scatter``: passed to
    ``ax.scatter`` (e.g. ``c=labels``). Returns the two axes.

    Taught in: 20_cnn_regression"""
    t, p = _pair(y_true, y_pred)
    if t.shape[1] != 1:
        raise ValueError(f"plot_residuals draws one target at a time; got {t.shape[1]} columns (pass y[:, k]).")
    t, p = t[:, 0], p[:, 0]
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(8, 3.4))[1]
    style = {"s": 10, "alpha": 0.6, **scatter}
    lo, hi = min(t.min(), p.min()), max(t.max(), p.max())
    axes[0].scatter(t, p, **style)
    axes[0].plot([lo, hi], [lo, hi], "k--", lw=1)
    axes[0].set(xlabel=f"true {name}", ylabel=f"predicted {name}", title="predicted vs true")
    axes[1].scatter(t, p - t, **style)
    axes[1].axhline(0, color="k", ls="--", lw=1)
    axes[1].set(xlabel=f"true {name}", ylabel="residual (pred - true)", title="residual vs true")
    for ax in axes:
        ax.grid(alpha=0.3)
    return axes
