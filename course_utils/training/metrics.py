"""Classification reports for imbalanced wafer data, as pandas tables.

>>> from course_utils.training import metrics
>>> metrics.classification_report_df(y_true, y_pred, ws.class_names)   # precision/recall/F1/support
>>> metrics.confusion_matrix_df(y_true, y_pred, ws.class_names)        # rows normalised by actual label

Why macro-F1? On WM-811K about 85 % of the labeled wafers are ``none``: a model
that always answers ``none`` has 85 % accuracy and is useless. Macro-F1 is the
plain mean of the per-class F1 scores, so every defect class counts as much as
``none``. ``engine.fit`` selects the best epoch by it.

All three functions use scikit-learn's definitions, so the numbers here are the
numbers of ``sklearn.metrics`` (classes that occur in neither ``y_true`` nor
``y_pred`` are left out of the macro average, as scikit-learn does).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from course_utils.core.checks import check_labels

__all__ = ["class_names_or_ids", "macro_f1", "classification_report_df", "confusion_matrix_df"]

_NORMALIZE_CHOICES = ("true", "pred", "all", None)


def class_names_or_ids(class_names, n_classes: int | None) -> list[str]:
    """``class_names`` as a checked list, or the class indices ``"0" .. "K-1"`` when it is None.

    The training layer knows no data set: the names come from the data (the wafer set's class list,
    ``ImageTensorDataset.class_names``, ...); without them, tables and plots show class indices.

    Used by: course_utils.training.engine, course_utils.training.evaluation"""
    if class_names is None:
        if n_classes is None:
            raise ValueError("class_names is None and the number of classes is unknown; pass class_names.")
        return [str(i) for i in range(int(n_classes))]
    if isinstance(class_names, str) or not isinstance(class_names, Sequence) or len(class_names) == 0:
        raise TypeError(f"class_names must be a non-empty sequence of class names, got {class_names!r}.")
    if n_classes is not None and len(class_names) != n_classes:
        raise ValueError(f"class_names has {len(class_names)} names but there are {n_classes} classes; "
                         "pass one name per class.")
    return list(class_names)


def _check_labels(y_true, y_pred, class_names) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validate and convert ``y_true``/``y_pred`` to int64 1-D arrays; names default to the indices."""
    names = None if class_names is None else class_names_or_ids(class_names, None)
    n = None if names is None else len(names)
    arrays = [check_labels(y, name, n_classes=n) for name, y in (("y_true", y_true), ("y_pred", y_pred))]
    if names is None:
        names = class_names_or_ids(None, 1 + max((int(a.max()) for a in arrays if len(a)), default=0))
    if len(arrays[0]) != len(arrays[1]):
        raise ValueError(f"y_true and y_pred must have the same length, got {len(arrays[0])} and {len(arrays[1])}.")
    if len(arrays[0]) == 0:
        raise ValueError("y_true and y_pred are empty: there is nothing to evaluate.")
    return arrays[0], arrays[1], names


def macro_f1(y_true, y_pred) -> float:
    """Macro-averaged F1 (unweighted mean over the classes present in ``y_true`` or ``y_pred``).

    Taught in: 06_loss_comparison"""
    return float(skm.f1_score(np.asarray(y_true), np.asarray(y_pred), average="macro", zero_division=0))


def classification_report_df(y_true, y_pred, class_names: Sequence[str] | None = None,
                             digits: int | None = 4) -> pd.DataFrame:
    """scikit-learn's classification report as a DataFrame.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        Actual and predicted class indices in ``0..len(class_names)-1``.
    class_names : sequence of str or None
        Name of each class index (None: the indices ``"0" .. "K-1"``, K = the largest label + 1).
    digits : int or None
        Round the scores to this many decimals (``None``: no rounding).

    Returns
    -------
    DataFrame with one row per class (in ``class_names`` order), then
    ``accuracy``, ``macro avg`` and ``weighted avg``; columns ``precision``,
    ``recall``, ``f1-score`` (floats) and ``support`` (int, number of actual
    samples). A class that occurs in neither ``y_true`` nor ``y_pred`` gets NaN
    scores (undefined) and is not part of the averages. The ``accuracy`` row
    holds the accuracy in all three score columns and ``N`` as support.

    Taught in: 01_dataset_exploration"""
    y_true, y_pred, names = _check_labels(y_true, y_pred, class_names)
    report = skm.classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    rows = {}
    for index, name in enumerate(names):
        entry = report.get(str(index))
        if entry is None:
            rows[name] = {"precision": np.nan, "recall": np.nan, "f1-score": np.nan, "support": 0}
        else:
            rows[name] = entry
    accuracy = float(report["accuracy"])
    rows["accuracy"] = {"precision": accuracy, "recall": accuracy, "f1-score": accuracy, "support": len(y_true)}
    rows["macro avg"] = report["macro avg"]
    rows["weighted avg"] = report["weighted avg"]
    table = pd.DataFrame.from_dict(rows, orient="index")[["precision", "recall", "f1-score", "support"]]
    table["support"] = table["support"].astype(np.int64)
    if digits is not None:
        table[["precision", "recall", "f1-score"]] = table[["precision", "recall", "f1-score"]].round(digits)
    return table


def confusion_matrix_df(y_true, y_pred, class_names: Sequence[str] | None = None,
                        normalize: str | None = "true") -> pd.DataFrame:
    """Confusion matrix with class names (rows: actual label, columns: predicted label).

    Parameters
    ----------
    normalize : {"true", "pred", "all", None}
        ``"true"`` (default) divides each row by the number of wafers of that
        actual class, so the diagonal is the per-class recall and rare classes
        are as visible as ``none``; ``"pred"`` divides columns (precision on the
        diagonal), ``"all"`` the whole matrix, ``None`` gives integer counts.
        Rows (or columns) with no samples are 0.

    Returns
    -------
    DataFrame of shape ``(K, K)``, float64 (int64 for ``normalize=None``), index
    named ``actual`` and columns named ``predicted``.

    Taught in: 01_dataset_exploration"""
    if normalize not in _NORMALIZE_CHOICES:
        raise ValueError(f"normalize must be one of {_NORMALIZE_CHOICES}, got {normalize!r}.")
    y_true, y_pred, names = _check_labels(y_true, y_pred, class_names)
    cm = skm.confusion_matrix(y_true, y_pred, labels=np.arange(len(names)), normalize=normalize)
    return pd.DataFrame(cm, index=pd.Index(names, name="actual"), columns=pd.Index(names, name="predicted"))
