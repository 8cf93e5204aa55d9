"""Wafer maps drawn with the course colours: one map, a grid, a gallery per class, the class mix.

The Project #2 counterpart is :mod:`course_utils.detection.draw` (boxes on PCB images).

>>> from course_utils.classification import wafer_plots
>>> wafer_plots.plot_wafer(ws.maps[0], title=wafers.CLASS_NAMES[ws.labels[0]])
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from course_utils.classification.wafers import CLASS_NAMES

__all__ = ["plot_wafer", "plot_wafers", "wafer_gallery", "plot_class_distribution"]

#: Colours of the three die states: off-wafer, good die, defective die.
_WAFER_COLORS = ("#f2f2f2", "#7fb7d9", "#b2182b")
_WAFER_CMAP = ListedColormap(_WAFER_COLORS, name="wafer")


def plot_wafer(wafer_map, ax=None, title: str | None = None):
    """Draw one wafer map (2-D array with values 0/1/2) with the course colours.

    Also accepts an encoded model input: ``(3, H, W)`` one-hot or ``(1, H, W)``
    single-channel tensors/arrays are decoded back to die states.

    Taught in: 01_dataset_exploration"""
    m = np.asarray(wafer_map.detach().cpu() if hasattr(wafer_map, "detach") else wafer_map)
    if m.ndim == 3 and m.shape[0] == 3:
        m = m.argmax(axis=0)
    elif m.ndim == 3 and m.shape[0] == 1:
        m = np.rint(m[0] * 2)
    if m.ndim != 2:
        raise ValueError(f"wafer_map must be 2-D (H, W) or encoded (C, H, W); got shape {m.shape}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(2.5, 2.5))
    ax.imshow(m, cmap=_WAFER_CMAP, vmin=0, vmax=2, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_wafers(maps: Sequence, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.6):
    """Draw several wafer maps in a grid; returns the figure.

    Taught in: 02_augmentation"""
    n = len(maps)
    if n == 0:
        raise ValueError("plot_wafers got no maps to draw.")
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < n:
            plot_wafer(maps[i], ax=ax, title=None if titles is None else titles[i])
        else:
            ax.axis("off")
    fig.tight_layout()
    return fig


def wafer_gallery(maps, labels, class_names: Sequence[str] = CLASS_NAMES, per_class: int = 4,
                  seed: int = 0, size: float = 1.4):
    """One row per class with ``per_class`` random examples; returns the figure.

    ``maps`` may be a fixed-size array ``(N, H, W)`` or an object array of maps
    of different sizes (raw WM-811K). Classes without examples show an empty row.

    Taught in: 01_dataset_exploration"""
    labels = np.asarray(labels)
    if len(maps) != len(labels):
        raise ValueError(f"maps has {len(maps)} entries but labels has {len(labels)}.")
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(class_names), per_class,
                             figsize=(size * per_class + 1.2, size * len(class_names)), squeeze=False)
    for row, name in enumerate(class_names):
        idx = np.flatnonzero(labels == row)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for col in range(per_class):
            ax = axes[row, col]
            if col < len(pick):
                plot_wafer(maps[pick[col]], ax=ax)
            else:
                ax.axis("off")
        axes[row, 0].set_ylabel(f"{name}\n(n={len(idx)})", rotation=0, ha="right", va="center", fontsize=9)
        axes[row, 0].axis("on")
        axes[row, 0].set_xticks([])
        axes[row, 0].set_yticks([])
    fig.tight_layout()
    return fig


def plot_class_distribution(counts, class_names: Sequence[str] = CLASS_NAMES, log: bool = True,
                            ax=None, title: str | None = None):
    """Bar chart of samples per class with the percentage written on each bar.

    Taught in: 01_dataset_exploration"""
    counts = np.asarray(counts, dtype=float)
    if counts.shape != (len(class_names),):
        raise ValueError(f"counts must have one entry per class ({len(class_names)}); got shape {counts.shape}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.5))
    total = counts.sum()
    bars = ax.bar(class_names, counts, color="#4c72b0")
    if log:
        ax.set_yscale("log")
    for bar, c in zip(bars, counts):
        pct = 100 * c / total if total else 0.0
        ax.annotate(f"{pct:.1f}%" if pct >= 0.1 else f"{pct:.2f}%", (bar.get_x() + bar.get_width() / 2, max(c, 1)),
                    ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("wafers" + (" (log scale)" if log else ""))
    ax.tick_params(axis="x", rotation=30)
    if title:
        ax.set_title(title)
    return ax
