"""Plots used across the notebooks: wafer maps, class distributions, curves, confusion matrices.

Every function draws into a given matplotlib ``ax`` (or makes a new figure) and
returns the axes/figure, so a notebook can add titles or save the figure.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap

from course_utils.training import evaluation, metrics
from course_utils.core.config import CLASS_NAMES

__all__ = ["WAFER_COLORS", "WAFER_CMAP", "plot_wafer", "plot_wafers", "wafer_gallery", "plot_class_distribution",
           "plot_history", "plot_confusion_matrix", "plot_f1_bars", "plot_confusion_grid", "plot_pr_curves"]

#: Colours of the three die states: off-wafer, good die, defective die.
WAFER_COLORS = ("#f2f2f2", "#7fb7d9", "#b2182b")
WAFER_CMAP = ListedColormap(WAFER_COLORS, name="wafer")


def plot_wafer(wafer_map, ax=None, title: str | None = None):
    """Draw one wafer map (2-D array with values 0/1/2) with the course colours.

    Also accepts an encoded model input: ``(3, H, W)`` one-hot or ``(1, H, W)``
    single-channel tensors/arrays are decoded back to die states.
    """
    m = np.asarray(wafer_map.detach().cpu() if hasattr(wafer_map, "detach") else wafer_map)
    if m.ndim == 3 and m.shape[0] == 3:
        m = m.argmax(axis=0)
    elif m.ndim == 3 and m.shape[0] == 1:
        m = np.rint(m[0] * 2)
    if m.ndim != 2:
        raise ValueError(f"wafer_map must be 2-D (H, W) or encoded (C, H, W); got shape {m.shape}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(2.5, 2.5))
    ax.imshow(m, cmap=WAFER_CMAP, vmin=0, vmax=2, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_wafers(maps: Sequence, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.6):
    """Draw several wafer maps in a grid; returns the figure."""
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
    """
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
    """Bar chart of samples per class with the percentage written on each bar."""
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


def plot_history(history: pd.DataFrame, title: str | None = None):
    """Learning curves from ``engine.fit``'s history: loss (left) and accuracy/macro-F1 (right).

    Expects the columns ``epoch, train_loss, val_loss, train_acc, val_acc`` and,
    if present, ``val_macro_f1``. Returns the figure.
    """
    needed = {"epoch", "train_loss", "val_loss", "train_acc", "val_acc"}
    missing = needed - set(history.columns)
    if missing:
        raise ValueError(f"history is missing the columns {sorted(missing)} (expected engine.fit's history).")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_loss.plot(history["epoch"], history["train_loss"], "o-", label="train")
    ax_loss.plot(history["epoch"], history["val_loss"], "o-", label="validation")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_acc.plot(history["epoch"], history["train_acc"], "o-", label="train accuracy")
    ax_acc.plot(history["epoch"], history["val_acc"], "o-", label="val accuracy")
    if "val_macro_f1" in history:
        ax_acc.plot(history["epoch"], history["val_macro_f1"], "s--", label="val macro-F1")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylim(0, 1.02)
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm: pd.DataFrame, ax=None, title: str | None = None, fmt: str = ".2f",
                          cmap: str = "Blues"):
    """Seaborn heatmap of a confusion matrix DataFrame (rows: actual, columns: predicted)."""
    import seaborn as sns

    if not isinstance(cm, pd.DataFrame):
        raise TypeError("cm must be a DataFrame as returned by metrics.confusion_matrix_df.")
    if ax is None:
        size = 0.55 * len(cm) + 2.5
        _, ax = plt.subplots(figsize=(size + 1, size))
    is_int = np.issubdtype(cm.values.dtype, np.integer)
    sns.heatmap(cm, annot=True, fmt="d" if is_int else fmt, cmap=cmap, cbar=False, ax=ax,
                vmin=0, vmax=None if is_int else 1, annot_kws={"fontsize": 8})
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------------------
# Comparing runs (the numbers come from course_utils.training.evaluation)
# ---------------------------------------------------------------------------
def plot_f1_bars(comparison: pd.DataFrame, *, metric: str = "f1-score", include_macro: bool = True,
                 ax=None, title: str | None = None):
    """Grouped bar chart of one metric per class (one bar colour per run).

    ``comparison`` is the table of :func:`compare_runs`. The ``macro avg`` group
    is drawn last when ``include_macro``. Returns the axes.
    """
    import seaborn as sns

    if not isinstance(comparison, pd.DataFrame) or comparison.columns.nlevels != 2:
        raise TypeError("comparison must be the (run, metric) table returned by compare_runs.")
    if metric not in comparison.columns.get_level_values(1):
        raise ValueError(f"metric={metric!r} is not in the table; it has "
                         f"{sorted(set(comparison.columns.get_level_values(1)))}.")
    skip = {"accuracy", "weighted avg"} | (set() if include_macro else {"macro avg"})
    rows = [r for r in comparison.index if r not in skip]
    long = (comparison.loc[rows].xs(metric, axis=1, level=1)
            .rename_axis(index="class").reset_index()
            .melt(id_vars="class", var_name="run", value_name=metric))
    if ax is None:
        _, ax = plt.subplots(figsize=(max(8.0, 1.1 * len(rows)), 3.8))
    sns.barplot(data=long, x="class", y=metric, hue="run", ax=ax)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(fontsize=8, ncol=min(3, long["run"].nunique()), loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def plot_confusion_grid(runs: Mapping, class_names: Sequence[str] = CLASS_NAMES, *, normalize: str | None = "true",
                        ncols: int = 3, size: float = 4.2):
    """Confusion matrices of several runs side by side (rows = actual label).

    ``normalize="true"`` divides each row by the number of wafers of that class,
    so the diagonal is each class's recall. Returns the figure.
    """
    runs = evaluation.run_predictions(runs)
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer; got {ncols!r}.")
    ncols = min(ncols, len(runs))
    nrows = -(-len(runs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    panels = axes.flat[:len(runs)]
    for ax, (name, (y_true, y_pred)) in zip(panels, runs.items()):
        cm = metrics.confusion_matrix_df(y_true, y_pred, class_names, normalize=normalize)
        # seaborn draws the whole figure once per heatmap (to decide on rotating tick labels);
        # hiding the other panels meanwhile keeps the cost linear in the number of runs
        for other in axes.flat:
            other.set_visible(other is ax)
        plot_confusion_matrix(cm, ax=ax, title=str(name))
    for ax in axes.flat:
        ax.set_visible(True)
    for ax in axes.flat[len(runs):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_pr_curves(y_true, probs, class_names: Sequence[str] = CLASS_NAMES, ax=None, title: str | None = None):
    """Draw the one-vs-rest PR curve of every class with its AP in the legend; returns the axes."""
    curves = evaluation.pr_curves(y_true, probs, class_names)
    report = evaluation.ranking_report(y_true, probs, class_names)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5))
    for name, curve in curves.items():
        ax.step(curve["recall"], curve["precision"], where="post",
                label=f"{name} (AP={report.loc[name, 'average precision']:.2f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(title or f"PR curves (macro AP = {report.loc['macro avg', 'average precision']:.3f})")
    return ax
