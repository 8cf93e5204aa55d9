"""Evaluation beyond one report: run comparisons, balanced test sets, PR/ROC curves.

Classification (notebooks 06 and 07)
------------------------------------
>>> runs = {"CE": (y_true, y_pred_ce), "focal": (y_true, y_pred_focal)}   # e.g. from engine.predict
>>> evaluation.compare_runs(runs)                 # per-class P/R/F1, columns (run, metric)
>>> plots.plot_f1_bars(evaluation.compare_runs(runs))   # the plots live in course_utils.training.plots
>>> plots.plot_confusion_grid(runs)                  # confusion matrices normalised by actual label
>>> evaluation.imbalanced_vs_balanced(y_true, y_pred, seed=0)
>>> evaluation.ranking_report(y_true, probs)      # average precision and ROC-AUC per class
>>> evaluation.check_collapse(y_pred)             # did the run predict (almost) one class only?

Every per-class number is scikit-learn's (through ``metrics.classification_report_df``).

Detection (IoU, matching, AP/mAP) lives in ``course_utils.detection``: ``boxes.box_iou`` and
``detection.metrics`` (which also reads the tables of boxes notebook 07 uses).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from course_utils.training import metrics
from course_utils.core.checks import as_numpy, check_labels

__all__ = ["run_predictions", "compare_runs", "balanced_indices", "imbalanced_vs_balanced", "check_collapse", "collapse_table", "pr_curves", "ranking_report"]

_SCORE_COLUMNS = ("precision", "recall", "f1-score")


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def _run_pair(name, run) -> tuple:
    """``(y_true, y_pred)`` from a run given as ``(y_true, y_pred)`` or ``(y_true, y_pred, probs)``."""
    if isinstance(run, (tuple, list)) and len(run) in (2, 3):
        return run[0], run[1]
    raise TypeError(
        f"run {name!r} must be a tuple (y_true, y_pred) or (y_true, y_pred, probs) as returned by "
        f"engine.predict, or a report DataFrame; got {type(run).__name__}."
    )


def _check_runs(runs) -> Mapping:
    if not isinstance(runs, Mapping) or len(runs) == 0:
        raise TypeError("runs must be a non-empty dict {run name: (y_true, y_pred)}, "
                        f"got {type(runs).__name__}.")
    return runs


# ---------------------------------------------------------------------------
# Comparing runs
# ---------------------------------------------------------------------------
def run_predictions(runs: Mapping) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{run name: (y_true, y_pred)}`` from ``runs``, each pair checked (same length, integer labels).

    Used by: course_utils.training.plots"""
    return {str(name): _run_pair(name, run) for name, run in _check_runs(runs).items()}


def compare_runs(runs: Mapping, class_names: Sequence[str] | None = None, *,
                 columns: Sequence[str] = _SCORE_COLUMNS, digits: int | None = 4) -> pd.DataFrame:
    """Side-by-side classification reports of several runs.

    Parameters
    ----------
    runs : dict ``{run name: (y_true, y_pred)}``
        Each value may also be ``(y_true, y_pred, probs)`` (what ``engine.predict``
        returns) or a report from ``metrics.classification_report_df``.
    class_names : sequence of str
    columns : metrics to keep, from ``precision, recall, f1-score, support``.
    digits : int or None
        Rounding of the scores.

    Returns
    -------
    DataFrame: rows = classes, ``accuracy``, ``macro avg``, ``weighted avg``;
    columns = ``MultiIndex`` ``(run, metric)`` in the order of ``runs``.

    Taught in: 05_transfer_learning"""
    runs = _check_runs(runs)
    bad = [c for c in columns if c not in (*_SCORE_COLUMNS, "support")]
    if bad or not columns:
        raise ValueError(f"columns must be chosen from {(*_SCORE_COLUMNS, 'support')}; got {list(columns)}.")
    tables = {}
    for name, run in runs.items():
        if isinstance(run, pd.DataFrame):
            report = run
        else:
            y_true, y_pred = _run_pair(name, run)
            report = metrics.classification_report_df(y_true, y_pred, class_names, digits=digits)
        tables[str(name)] = report[list(columns)]
    return pd.concat(tables, axis=1, names=["run", "metric"])


# ---------------------------------------------------------------------------
# Imbalanced vs balanced test sets
# ---------------------------------------------------------------------------
def balanced_indices(labels, *, n_per_class: int | None = None, seed: int = 0) -> np.ndarray:
    """Indices of a class-balanced subset: the same number of samples from every present class.

    Parameters
    ----------
    labels : array-like ``(N,)`` of class indices
    n_per_class : int or None
        Samples per class; default the size of the smallest present class.
    seed : int
        Which samples are kept (reproducible).

    Returns
    -------
    ``int64`` array of ``n_per_class * (number of present classes)`` sorted indices.

    Taught in: 06_loss_comparison"""
    y = check_labels(labels, "labels")
    if y.size == 0:
        raise ValueError("labels is empty: there is nothing to subsample.")
    classes, counts = np.unique(y, return_counts=True)
    smallest = int(counts.min())
    n = smallest if n_per_class is None else n_per_class
    if not isinstance(n, (int, np.integer)) or not 1 <= n <= smallest:
        raise ValueError(f"n_per_class={n_per_class!r} must be an integer in [1, {smallest}] "
                         f"(the smallest class, index {classes[counts.argmin()]}, has {smallest} samples).")
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(y == c), size=int(n), replace=False) for c in classes]
    return np.sort(np.concatenate(picks)).astype(np.int64)


def imbalanced_vs_balanced(y_true, y_pred, class_names: Sequence[str] | None = None, *,
                           n_per_class: int | None = None, seed: int = 0, digits: int | None = 4) -> pd.DataFrame:
    """Report on the full (imbalanced) test set beside a class-balanced subsample of it.

    The model's prediction for a wafer does not depend on the other wafers, so
    evaluating on a balanced test set is the same as keeping the balanced subset
    of the predictions (:func:`balanced_indices`). Recall per class stays the
    same in expectation; precision and accuracy change, because they depend on
    how many wafers of *other* classes there are to be confused with.

    Returns the :func:`compare_runs` table with runs ``"imbalanced test"`` and
    ``"balanced test"``; ``support`` is included.

    Taught in: 06_loss_comparison"""
    n_classes = None if class_names is None else len(class_names)
    y_true = check_labels(y_true, "y_true", n_classes=n_classes)
    y_pred = check_labels(y_pred, "y_pred", n_classes=n_classes)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred must have the same length; got {len(y_true)} and {len(y_pred)}.")
    idx = balanced_indices(y_true, n_per_class=n_per_class, seed=seed)
    runs = {"imbalanced test": (y_true, y_pred), "balanced test": (y_true[idx], y_pred[idx])}
    return compare_runs(runs, class_names, columns=(*_SCORE_COLUMNS, "support"), digits=digits)


# ---------------------------------------------------------------------------
# Collapse detection
# ---------------------------------------------------------------------------
@dataclass
class CollapseCheck:
    """Result of :func:`check_collapse`."""

    collapsed: bool
    dominant_class: str
    share: float               # fraction of predictions that are the dominant class
    true_share: float | None   # fraction of actual labels of that class (if y_true was given)
    n_predicted_classes: int   # how many different classes were predicted at all
    n_classes: int
    message: str

    def __str__(self) -> str:
        return self.message


def check_collapse(y_pred, *, y_true=None, class_names: Sequence[str] | None = None,
                   threshold: float = 0.95) -> CollapseCheck:
    """Flag a run whose predictions are (almost) all one class.

    A collapsed classifier answers the same class for (nearly) every input --
    the majority class after a too-short or badly weighted run, or any class
    after a diverged run (learning rate too high, LDAM margins or scale ``s``
    too large for the head). Accuracy can still look fine; macro-F1 cannot.

    Parameters
    ----------
    y_pred : array-like ``(N,)`` of predicted class indices
    y_true : array-like ``(N,)`` or None
        If given, the message compares with how common the class really is.
    class_names : sequence of str or None (None: class indices; K = the largest label + 1)
    threshold : float in (0, 1]
        Collapsed when the most frequent predicted class has at least this
        share of the predictions (default 0.95).

    Taught in: 06_loss_comparison"""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold={threshold!r} must lie in (0, 1], e.g. 0.95.")
    n_classes = None if class_names is None else len(class_names)
    y_pred = check_labels(y_pred, "y_pred", n_classes=n_classes)
    if y_pred.size == 0:
        raise ValueError("y_pred is empty: there is nothing to check.")
    if y_true is not None:
        y_true = check_labels(y_true, "y_true", n_classes=n_classes)
    if class_names is None:
        n_classes = 1 + max(int(y_pred.max()), int(y_true.max()) if y_true is not None and len(y_true) else 0)
    class_names = metrics.class_names_or_ids(class_names, n_classes)
    counts = np.bincount(y_pred, minlength=len(class_names))
    dominant = int(counts.argmax())
    share = float(counts[dominant] / counts.sum())
    true_share = None
    if y_true is not None:
        if len(y_true) != len(y_pred):
            raise ValueError(f"y_true and y_pred must have the same length; got {len(y_true)} and {len(y_pred)}.")
        true_share = float(np.mean(y_true == dominant))
    collapsed = share >= threshold
    n_pred = int((counts > 0).sum())
    name = class_names[dominant]
    context = f" ('{name}' is {true_share:.1%} of the actual labels)" if true_share is not None else ""
    if collapsed:
        message = (f"COLLAPSED: {share:.1%} of the predictions are '{name}'{context}; only {n_pred} of "
                   f"{len(class_names)} classes are ever predicted. Check the learning rate, the loss "
                   "(LDAM: normalised head, margins, scale s) and macro-F1 over the epochs.")
    else:
        message = (f"ok: the most frequent prediction, '{name}', is {share:.1%} of the predictions{context}; "
                   f"{n_pred} of {len(class_names)} classes are predicted.")
    return CollapseCheck(collapsed, name, share, true_share, n_pred, len(class_names), message)


def collapse_table(runs: Mapping, class_names: Sequence[str] | None = None, *, threshold: float = 0.95) -> pd.DataFrame:
    """:func:`check_collapse` for every run of ``{name: (y_true, y_pred)}``: one row per run.

    Taught in: 06_loss_comparison"""
    rows = {}
    for name, run in _check_runs(runs).items():
        y_true, y_pred = _run_pair(name, run)
        c = check_collapse(y_pred, y_true=y_true, class_names=class_names, threshold=threshold)
        rows[str(name)] = {"collapsed": c.collapsed, "dominant class": c.dominant_class,
                           "share of predictions": round(c.share, 4),
                           "share of actual labels": None if c.true_share is None else round(c.true_share, 4),
                           "classes predicted": c.n_predicted_classes}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("run")


# ---------------------------------------------------------------------------
# Ranking metrics: PR curves, average precision, ROC-AUC (one-vs-rest)
# ---------------------------------------------------------------------------
def _scores(y_true, probs, class_names) -> tuple[np.ndarray, np.ndarray, list[str]]:
    p = as_numpy(probs, "probs").astype(np.float64)
    k = "K" if class_names is None else len(class_names)
    if p.ndim != 2 or (class_names is not None and p.shape[1] != len(class_names)):
        raise ValueError(f"probs must have shape (N, {k}) = (samples, classes); got {p.shape}.")
    class_names = metrics.class_names_or_ids(class_names, p.shape[1])
    y = check_labels(y_true, "y_true", n_classes=len(class_names))
    if len(y) != len(p):
        raise ValueError(f"y_true has {len(y)} entries but probs has {len(p)} rows.")
    if not np.isfinite(p).all():
        raise ValueError("probs contains NaN or inf: the model's outputs diverged (check the run for collapse).")
    return y, p, class_names


def pr_curves(y_true, probs, class_names: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """One-vs-rest precision-recall curve of every class that occurs in ``y_true``.

    Parameters
    ----------
    y_true : array-like ``(N,)`` of class indices
    probs : array-like ``(N, C)`` of class scores (softmax probabilities or logits)

    Returns
    -------
    dict ``{class name: DataFrame(threshold, precision, recall)}`` from
    ``sklearn.metrics.precision_recall_curve`` (the last point, recall 0 and
    precision 1, has threshold NaN).

    Used by: course_utils.training.plots, tests/training/test_evaluation.py"""
    y, p, class_names = _scores(y_true, probs, class_names)
    curves = {}
    for c, name in enumerate(class_names):
        if not (y == c).any():
            continue
        precision, recall, thresholds = skm.precision_recall_curve(y == c, p[:, c])
        curves[name] = pd.DataFrame({"threshold": np.append(thresholds, np.nan),
                                     "precision": precision, "recall": recall})
    return curves


def ranking_report(y_true, probs, class_names: Sequence[str] | None = None, digits: int | None = 4) -> pd.DataFrame:
    """Average precision and ROC-AUC of every class, one-vs-rest.

    Returns a DataFrame with one row per class and a ``macro avg`` row; columns
    ``average precision`` (area under the PR curve, ``sklearn.metrics.
    average_precision_score``), ``ROC-AUC`` (``roc_auc_score``), ``support``
    and ``prevalence`` (the AP of a random classifier). A class absent from
    ``y_true`` gets NaN (undefined) and is left out of the macro average.

    Taught in: 07_metrics_evaluation"""
    y, p, class_names = _scores(y_true, probs, class_names)
    rows = {}
    for c, name in enumerate(class_names):
        positive = y == c
        defined = 0 < positive.sum() < len(y)
        rows[name] = {
            "average precision": skm.average_precision_score(positive, p[:, c]) if positive.any() else np.nan,
            "ROC-AUC": skm.roc_auc_score(positive, p[:, c]) if defined else np.nan,
            "support": int(positive.sum()),
            "prevalence": float(positive.mean()),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.loc["macro avg"] = [table["average precision"].mean(), table["ROC-AUC"].mean(), len(y), np.nan]
    table["support"] = table["support"].astype(np.int64)
    return table.round(digits) if digits is not None else table
