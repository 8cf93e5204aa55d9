"""Evaluation helpers: numbers against scikit-learn and hand computations, plots, clear errors."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn import metrics as skm

from course_utils.training import evaluation as ev
from course_utils.training import plots

NAMES = ("a", "b", "c")


@pytest.fixture
def preds():
    rng = np.random.default_rng(0)
    y_true = np.repeat([0, 1, 2], [60, 25, 15])
    y_good = np.where(rng.random(100) < 0.8, y_true, rng.integers(0, 3, 100))
    y_bad = np.where(rng.random(100) < 0.97, 0, 1)
    return y_true, y_good, y_bad


# --- comparing runs ---------------------------------------------------------------------------
def test_compare_runs_matches_scikit_learn(preds):
    y_true, y_good, y_bad = preds
    table = ev.compare_runs({"good": (y_true, y_good, None), "bad": (y_true, y_bad)}, NAMES, digits=None)
    assert list(table.columns.names) == ["run", "metric"]
    assert list(table.columns.get_level_values(0).unique()) == ["good", "bad"]
    assert list(table.index) == [*NAMES, "accuracy", "macro avg", "weighted avg"]
    for run, y_pred in (("good", y_good), ("bad", y_bad)):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2], zero_division=0)
        np.testing.assert_allclose(table[(run, "precision")].iloc[:3], p)
        np.testing.assert_allclose(table[(run, "recall")].iloc[:3], r)
        np.testing.assert_allclose(table[(run, "f1-score")].iloc[:3], f)
        assert np.isclose(table.loc["macro avg", (run, "f1-score")], skm.f1_score(y_true, y_pred, average="macro"))
        assert np.isclose(table.loc["accuracy", (run, "f1-score")], skm.accuracy_score(y_true, y_pred))


def test_compare_runs_accepts_reports_and_rejects_bad_runs(preds):
    from course_utils.training import metrics

    y_true, y_good, _ = preds
    report = metrics.classification_report_df(y_true, y_good, NAMES)
    table = ev.compare_runs({"from report": report, "from labels": (y_true, y_good)}, NAMES)
    assert table["from report"].equals(table["from labels"])
    with pytest.raises(TypeError, match="must be a tuple \\(y_true, y_pred\\)"):
        ev.compare_runs({"x": y_good}, NAMES)
    with pytest.raises(TypeError, match="non-empty dict"):
        ev.compare_runs({}, NAMES)
    with pytest.raises(ValueError, match="columns must be chosen from"):
        ev.compare_runs({"x": (y_true, y_good)}, NAMES, columns=("auc",))


def test_plots_draw_every_run(preds):
    y_true, y_good, y_bad = preds
    runs = {"good": (y_true, y_good), "bad": (y_true, y_bad), "perfect": (y_true, y_true)}
    ax = plots.plot_f1_bars(ev.compare_runs(runs, NAMES))
    assert len(ax.patches) >= 3 * 4  # 3 runs x (3 classes + macro avg)
    heights = sorted(round(p.get_height(), 4) for p in ax.patches if p.get_height() > 0)
    assert heights[-1] == 1.0  # the perfect run
    with pytest.raises(ValueError, match="metric='auc' is not in the table"):
        plots.plot_f1_bars(ev.compare_runs(runs, NAMES), metric="auc")
    fig = plots.plot_confusion_grid(runs, NAMES, ncols=2)
    titles = [a.get_title() for a in fig.axes]
    assert titles[:3] == ["good", "bad", "perfect"] and not fig.axes[3].axison
    plt.close("all")


# --- balanced test set ------------------------------------------------------------------------
def test_balanced_indices_equal_counts_and_seeded(preds):
    y_true = preds[0]
    idx = ev.balanced_indices(y_true, seed=1)
    assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)
    assert np.bincount(y_true[idx]).tolist() == [15, 15, 15]
    assert np.array_equal(idx, ev.balanced_indices(y_true, seed=1))
    assert not np.array_equal(idx, ev.balanced_indices(y_true, seed=2))
    assert np.bincount(y_true[ev.balanced_indices(y_true, n_per_class=4)]).tolist() == [4, 4, 4]
    with pytest.raises(ValueError, match=r"n_per_class=16 must be an integer in \[1, 15\]"):
        ev.balanced_indices(y_true, n_per_class=16)


def test_imbalanced_vs_balanced_numbers(preds):
    y_true, y_good, _ = preds
    table = ev.imbalanced_vs_balanced(y_true, y_good, NAMES, seed=3, digits=None)
    idx = ev.balanced_indices(y_true, seed=3)
    assert table[("balanced test", "support")].iloc[:3].tolist() == [15, 15, 15]
    assert table[("imbalanced test", "support")].iloc[:3].tolist() == [60, 25, 15]
    p = skm.precision_score(y_true[idx], y_good[idx], average=None)
    np.testing.assert_allclose(table[("balanced test", "precision")].iloc[:3], p)
    with pytest.raises(ValueError, match="same length"):
        ev.imbalanced_vs_balanced(y_true, y_good[:-1], NAMES)


# --- collapse ---------------------------------------------------------------------------------
def test_check_collapse(preds):
    y_true, y_good, y_bad = preds
    bad = ev.check_collapse(y_bad, y_true=y_true, class_names=NAMES)
    assert bad.collapsed and bad.dominant_class == "a" and bad.n_predicted_classes == 2
    assert np.isclose(bad.share, np.mean(y_bad == 0)) and np.isclose(bad.true_share, 0.6)
    assert "COLLAPSED" in str(bad) and "60.0% of the actual labels" in str(bad)
    good = ev.check_collapse(y_good, class_names=NAMES)
    assert not good.collapsed and good.n_predicted_classes == 3 and good.true_share is None
    assert ev.check_collapse(np.full(10, 2), class_names=NAMES).share == 1.0
    table = ev.collapse_table({"good": (y_true, y_good), "bad": (y_true, y_bad)}, NAMES)
    assert table["collapsed"].tolist() == [False, True]
    with pytest.raises(ValueError, match="threshold=1.5 must lie in"):
        ev.check_collapse(y_good, class_names=NAMES, threshold=1.5)
    with pytest.raises(ValueError, match="labels from 0 to 5, but the valid labels are 0..2 for 3 classes"):
        ev.check_collapse([0, 5], class_names=NAMES)


# --- PR curves, AP, ROC-AUC -----------------------------------------------------------------------
def test_ranking_report_matches_scikit_learn():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [50, 30, 20])
    probs = rng.dirichlet(np.ones(3), size=100)
    probs[np.arange(100), y] += 0.3
    probs /= probs.sum(1, keepdims=True)
    table = ev.ranking_report(y, probs, NAMES, digits=None)
    for c in range(3):
        assert np.isclose(table.iloc[c]["average precision"], skm.average_precision_score(y == c, probs[:, c]))
        assert np.isclose(table.iloc[c]["ROC-AUC"], skm.roc_auc_score(y == c, probs[:, c]))
    assert np.isclose(table.loc["macro avg", "ROC-AUC"], skm.roc_auc_score(y, probs, multi_class="ovr"))
    assert table["support"].tolist() == [50, 30, 20, 100]
    curves = ev.pr_curves(y, probs, NAMES)
    assert set(curves) == set(NAMES) and list(curves["a"].columns) == ["threshold", "precision", "recall"]
    ax = plots.plot_pr_curves(y, probs, NAMES)
    assert len(ax.get_lines()) == 3
    plt.close("all")


def test_ranking_report_absent_class_and_errors():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.3, 0.7, 0.0], [0.5, 0.5, 0.0]])
    table = ev.ranking_report(y, probs, NAMES)
    assert np.isnan(table.loc["c", "average precision"]) and np.isnan(table.loc["c", "ROC-AUC"])
    assert table.loc["macro avg", "average precision"] == table.loc[["a", "b"], "average precision"].mean()
    with pytest.raises(ValueError, match=r"probs must have shape \(N, 3\)"):
        ev.ranking_report(y, probs[:, :2], NAMES)
    with pytest.raises(ValueError, match="4 entries but probs has 3 rows"):
        ev.ranking_report(y, probs[:3], NAMES)
    with pytest.raises(TypeError, match="^probs must be array-like"):
        ev.ranking_report(y, [[0.9, 0.1], [0.5]], NAMES)


def test_as_numpy_one_conversion_for_lists_arrays_and_tensors():
    import torch

    from course_utils.core.checks import as_numpy

    values = [[1, 2], [3, 4]]
    expected = np.array(values)
    for given in (values, expected, torch.tensor(values)):
        out = as_numpy(given, "x")
        assert isinstance(out, np.ndarray) and np.array_equal(out, expected)
    grad = torch.ones(2, 2, requires_grad=True)
    assert np.array_equal(as_numpy(grad * 2, "x"), np.full((2, 2), 2.0))       # detached, no error
    assert as_numpy([1, 2], "x", dtype=np.float64).dtype == np.float64
    assert as_numpy(torch.tensor([1, 2]), "x", dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match=r"^x must be array-like; could not convert"):
        as_numpy([[1, 2], [3]], "x")
    with pytest.raises(TypeError, match=r"^x must hold numbers; could not convert"):
        as_numpy(["a"], "x", dtype=np.float64, expected="hold numbers")
