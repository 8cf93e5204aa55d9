import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from course_utils.training import metrics
from course_utils.classification.wafers import CLASS_NAMES

NAMES = ["a", "b", "c", "d"]


@pytest.fixture
def labels():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 200)  # class "d" never occurs
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, 3, 200))
    return y_true, y_pred


def test_report_matches_sklearn(labels):
    y_true, y_pred = labels
    table = metrics.classification_report_df(y_true, y_pred, NAMES, digits=None)
    assert list(table.index) == NAMES + ["accuracy", "macro avg", "weighted avg"]
    assert list(table.columns) == ["precision", "recall", "f1-score", "support"]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2], zero_division=0)
    np.testing.assert_allclose(table.loc[["a", "b", "c"], "precision"], p)
    np.testing.assert_allclose(table.loc[["a", "b", "c"], "recall"], r)
    np.testing.assert_allclose(table.loc[["a", "b", "c"], "f1-score"], f)
    assert table["support"].dtype == np.int64
    assert table.loc[["a", "b", "c"], "support"].tolist() == s.tolist()
    assert table.loc["accuracy", "f1-score"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert table.loc["accuracy", "support"] == 200
    assert table.loc["macro avg", "f1-score"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert table.loc["weighted avg", "f1-score"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    # a class absent from y_true and y_pred is undefined, not 0, and not in the macro average
    assert table.loc["d"].drop("support").isna().all() and table.loc["d", "support"] == 0
    assert metrics.macro_f1(y_true, y_pred) == pytest.approx(table.loc["macro avg", "f1-score"])


def test_report_rounds_and_accepts_tensors(labels):
    y_true, y_pred = labels
    table = metrics.classification_report_df(torch.as_tensor(y_true), torch.as_tensor(y_pred), NAMES, digits=2)
    values = table[["precision", "recall", "f1-score"]].dropna().to_numpy()
    np.testing.assert_allclose(values, np.round(values, 2))


def test_confusion_matrix_normalised_by_actual(labels):
    y_true, y_pred = labels
    cm = metrics.confusion_matrix_df(y_true, y_pred, NAMES)
    assert cm.shape == (4, 4) and cm.index.name == "actual" and cm.columns.name == "predicted"
    np.testing.assert_allclose(cm.iloc[:3].sum(axis=1), 1.0)
    assert (cm.loc["d"] == 0).all()  # no wafers of class d: a zero row, not NaN
    counts = metrics.confusion_matrix_df(y_true, y_pred, NAMES, normalize=None)
    assert counts.to_numpy().dtype.kind == "i" and counts.to_numpy().sum() == 200
    expected = np.zeros((4, 4), int)
    np.add.at(expected, (y_true, y_pred), 1)
    np.testing.assert_array_equal(counts.to_numpy(), expected)
    np.testing.assert_allclose(cm.loc["b", "c"], expected[1, 2] / expected[1].sum())


def test_without_class_names_the_classes_are_their_indices():
    """The training layer knows no data set: without names, K = the largest label + 1, named "0".."K-1"."""
    cm = metrics.confusion_matrix_df([0, 8], [0, 8])
    assert list(cm.index) == [str(i) for i in range(9)] and cm.loc["8", "8"] == 1.0
    report = metrics.classification_report_df([0, 2, 2], [0, 2, 1])
    assert list(report.index[:3]) == ["0", "1", "2"]
    assert metrics.class_names_or_ids(None, 3) == ["0", "1", "2"]
    assert metrics.class_names_or_ids(CLASS_NAMES, 9) == list(CLASS_NAMES)
    with pytest.raises(ValueError, match="9 names but there are 3 classes"):
        metrics.class_names_or_ids(CLASS_NAMES, 3)


@pytest.mark.parametrize("y_true, y_pred, match", [
    ([0, 1], [0], "same length"),
    ([0, 9], [0, 1], "labels from 0 to 9"),
    ([-1, 1], [0, 1], "unlabeled"),
    ([], [], "empty"),
    ([[0.1, 0.9]], [1], "1-D array"),
])
def test_bad_labels(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        metrics.classification_report_df(y_true, y_pred, CLASS_NAMES)


def test_bad_normalize_and_names():
    with pytest.raises(ValueError, match="normalize must be one of"):
        metrics.confusion_matrix_df([0], [0], NAMES, normalize="rows")
    with pytest.raises(TypeError, match="class_names"):
        metrics.confusion_matrix_df([0], [0], "abc")


def test_class_that_is_never_predicted_scores_zero_without_warnings():
    # y_true = [0, 0, 1, 2], y_pred = [0, 0, 0, 2], by hand:
    #   class 0: TP 2, FP 1 -> precision 2/3, recall 1, F1 0.8; class 1: never predicted -> precision 0 (not 1,
    #   not a warning), recall 0, F1 0; class 2: 1, 1, 1. Accuracy 3/4; macro F1 (0.8 + 0 + 1) / 3 = 0.6.
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = metrics.classification_report_df([0, 0, 1, 2], [0, 0, 0, 2], ["a", "b", "c"], digits=None)
        assert metrics.macro_f1([0, 0, 1, 2], [0, 0, 0, 2]) == pytest.approx(0.6)
    assert table.loc["a", "precision"] == pytest.approx(2 / 3) and table.loc["a", "f1-score"] == pytest.approx(0.8)
    assert table.loc["b", ["precision", "recall", "f1-score"]].tolist() == [0.0, 0.0, 0.0]
    assert table.loc["macro avg", "f1-score"] == pytest.approx(0.6)
    assert table.loc["accuracy", ["precision", "recall", "f1-score"]].tolist() == [0.75, 0.75, 0.75]


def test_default_rounding_is_four_decimals():
    # class 0: precision 2/3 -> 0.6667 (4 decimals, not 0.66667); class 1: recall 1/2 stays 0.5
    table = metrics.classification_report_df([0, 0, 1, 1], [0, 0, 0, 1], ["a", "b"])
    assert table.loc["a", "precision"] == 0.6667


def test_single_sample_is_a_valid_input():
    table = metrics.classification_report_df([1], [1], ["a", "b"])
    assert table.loc["b", "recall"] == 1.0 and table.loc["accuracy", "support"] == 1
    assert metrics.confusion_matrix_df([1], [1], ["a", "b"]).loc["b", "b"] == 1.0


def test_errors_name_the_argument_and_the_fix():
    with pytest.raises(ValueError, match=r"^y_true and y_pred are empty: there is nothing to evaluate\.$"):
        metrics.classification_report_df([], [])  # no class names: also no largest label to count classes by
    with pytest.raises(ValueError, match=r"^y_true must be a 1-D array"):
        metrics.classification_report_df([[0]], [0], NAMES)
    with pytest.raises(ValueError, match=r"^y_pred must be a 1-D array"):
        metrics.classification_report_df([0], [[0]], NAMES)
    with pytest.raises(ValueError, match=r"^class_names is None and the number of classes is unknown; "
                                         r"pass class_names\.$"):
        metrics.class_names_or_ids(None, None)
    with pytest.raises(ValueError, match=r"pass one name per class\.$"):
        metrics.class_names_or_ids(["a"], 2)
    for bad in ([], {"a", "b"}, "ab"):  # empty, not a sequence, a string
        with pytest.raises(TypeError, match="non-empty sequence of class names"):
            metrics.class_names_or_ids(bad, None)
