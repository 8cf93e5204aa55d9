"""Training plots both projects use: learning curves, confusion matrices, F1 bars, PR curves.

Wafer maps and class distributions are drawn by :mod:`course_utils.classification.wafer_plots`.

Every function draws into a given matplotlib ``ax`` (or makes a new figure) and
returns the axes/figure, so a notebook can add titles or save the figure.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from course_utils.training import evaluation, metrics

__all__ = ["plot_history", "plot_learning_curves", "plot_confusion_matrix", "plot_f1_bars", "plot_confusion_grid", "plot_pr_curves"]

def plot_learning_curves(epoch, losses: Sequence[tuple], scores: Sequence[tuple], *, title: str | None = None,
                         legend_fontsize=None):
    """The two panels of every learning-curve figure: losses (left) and scores in [0, 1] (right).

    ``epoch``: the x values, one per epoch. ``losses`` and ``scores``: curves
    ``(label, values, fmt)`` or ``(label, values, fmt, color)``, ``values`` one per epoch,
    ``fmt`` a matplotlib format such as ``"o-"`` (train) or ``"s--"``. The right panel's
    y axis runs from 0 to 1.02. Used by :func:`plot_history` and ``yolo.plot_yolo_history``.
    Returns the figure.

    Used by: course_utils.training.plots, course_utils.detection.yolo
    """
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, curves in ((ax_loss, losses), (ax_score, scores)):
        for label, values, fmt, *color in curves:
            ax.plot(epoch, values, fmt, label=label, **({"color": color[0]} if color else {}))
        ax.set_xlabel("epoch")
        ax.legend(fontsize=legend_fontsize)
        ax.grid(alpha=0.3)
    ax_loss.set_ylabel("loss")
    ax_score.set_ylim(0, 1.02)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history: pd.DataFrame, title: str | None = None):
    """Learning curves from ``engine.fit``'s history: loss (left) and accuracy/macro-F1 (right).

    Expects the columns ``epoch, train_loss, val_loss, train_acc, val_acc`` and,
    if present, ``val_macro_f1``. Returns the figure.

    Taught in: 03_cnn_design"""
    needed = {"epoch", "train_loss", "val_loss", "train_acc", "val_acc"}
    missing = needed - set(history.columns)
    if missing:
        raise ValueError(f"history is missing the columns {sorted(missing)} (expected engine.fit's history).")
    losses = [("train", history["train_loss"], "o-"), ("validation", history["val_loss"], "o-")]
    scores = [("train accuracy", history["train_acc"], "o-"), ("val accuracy", history["val_acc"], "o-")]
    if "val_macro_f1" in history:
        scores.append(("val macro-F1", history["val_macro_f1"], "s--"))
    return plot_learning_curves(history["epoch"], losses, scores, title=title)


def plot_confusion_matrix(cm: pd.DataFrame, ax=None, title: str | None = None, fmt: str = ".2f",
                          cmap: str = "Blues"):
    """Seaborn heatmap of a confusion matrix DataFrame (rows: actual, columns: predicted).

    Taught in: 01_dataset_exploration"""
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

    Taught in: 05_transfer_learning"""
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


def plot_confusion_grid(runs: Mapping, class_names: Sequence[str] | None = None, *, normalize: str | None = "true",
                        ncols: int = 3, size: float = 4.2):
    """Confusion matrices of several runs side by side (rows = actual label).

    ``normalize="true"`` divides each row by the number of wafers of that class,
    so the diagonal is each class's recall. Returns the figure.

    Taught in: 06_loss_comparison"""
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


def plot_pr_curves(y_true, probs, class_names: Sequence[str] | None = None, ax=None, title: str | None = None):
    """Draw the one-vs-rest PR curve of every class with its AP in the legend; returns the axes.

    Taught in: 07_metrics_evaluation"""
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
