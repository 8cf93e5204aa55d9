"""The realism step of benchmarks/bench_synthetic.py (issue #27): the prior weight for the imbalanced real mix is
chosen on the tuning part only, and it is Bayes' rule for the WM-811K prior, checked with plain NumPy and
scikit-learn (not with the code under test)."""
import importlib.util

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from course_utils.classification import calibration
from course_utils.classification.wafers import CLASS_NAMES, WM811K_LABELED_COUNTS
from shared_data import REPO, WM811K_DATA as DATA, needs_wm811k_data as needs_data

COUNTS = np.array([WM811K_LABELED_COUNTS[c] for c in CLASS_NAMES], dtype=np.float64)


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_synthetic", REPO / "benchmarks" / "bench_synthetic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _logits(n=400, seed=0):
    """Labels drawn with every class, and noisy logits that favour the true class."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.arange(9), rng.integers(0, 9, n - 9)])
    logits = rng.normal(0, 1.0, (n, 9)) + 1.5 * np.eye(9)[labels]
    return torch.tensor(logits, dtype=torch.float32), labels


def test_prior_shift_is_the_plain_argmax_at_tau_0_and_bayes_rule_at_tau_1(bench):
    logits, _ = _logits()
    assert np.array_equal(bench.prior_shifted(logits, 0.0), logits.argmax(1).numpy())
    # Bayes: the balanced posterior softmax(z) times the real prior, renormalised, has its largest entry at ...
    z = logits.double().numpy()
    posterior = np.exp(z - z.max(axis=1, keepdims=True)) * (COUNTS / COUNTS.sum())
    assert np.array_equal(bench.prior_shifted(logits, 1.0), posterior.argmax(axis=1))
    # `none` (85 % of WM-811K) is predicted more often as tau grows, never less
    counts = [(bench.prior_shifted(logits, tau) == 8).sum() for tau in (0.0, 0.3, 0.6, 1.0)]
    assert counts == sorted(counts) and counts[-1] > counts[0]


def test_choose_prior_tau_maximises_the_imbalanced_estimate_computed_with_sklearn(bench):
    logits, labels = _logits(seed=1)
    tau, scores = bench.choose_prior_tau(logits, labels)
    assert len(scores) == len(bench.PRIOR_TAUS) == 11
    # the estimate: sklearn's macro-F1 with each map weighted by its class's real count / its count here
    weight = COUNTS[labels] / np.bincount(labels, minlength=9)[labels]
    for t, score in zip(bench.PRIOR_TAUS, scores):
        pred = bench.prior_shifted(logits, t)
        expected = f1_score(labels, pred, labels=range(9), average="macro", sample_weight=weight, zero_division=0)
        assert score == pytest.approx(expected, abs=1e-9)
    assert tau == bench.PRIOR_TAUS[int(np.argmax(scores))] and scores[bench.PRIOR_TAUS.index(tau)] == max(scores)
    # a tie goes to the smallest tau: logits so sure of the truth that no shift changes a prediction
    sure = torch.tensor(np.eye(9)[labels] * 100.0, dtype=torch.float32)
    assert bench.choose_prior_tau(sure, labels)[0] == 0.0


@needs_data
def test_bench_realism_chooses_tau_on_the_tuning_part_and_scores_the_reporting_part_once(bench, monkeypatch, capsys):
    real = calibration.load_real_maps(DATA, size=64)
    tune, report = calibration.holdout_split(real)
    seen_maps, seen_labels = [], []
    predict_logits, choose = bench.predict_logits, bench.choose_prior_tau

    def spy_logits(model, maps, batch_size=512):
        seen_maps.append(maps)
        return predict_logits(model, maps, batch_size)

    def spy_choose(logits, labels, taus=bench.PRIOR_TAUS):
        seen_labels.append(labels)
        return choose(logits, labels, taus)

    monkeypatch.setattr(bench, "predict_logits", spy_logits)
    monkeypatch.setattr(bench, "choose_prior_tau", spy_choose)
    bench.bench_realism(real, tune, report, n_train=270, epochs=1, seed=0, batch_size=90)
    out = capsys.readouterr().out
    # tau is chosen once, on the 1,282 tuning maps; the reporting part's 938 maps are fed to the model once
    assert len(seen_labels) == 1 and np.array_equal(seen_labels[0], real.labels[tune])
    reporting = [m for m in seen_maps if len(m) == len(report)]
    assert len(reporting) == 1 and np.array_equal(reporting[0], real.maps[report])
    assert not any(len(m) == len(report) and m is not reporting[0] for m in seen_maps)
    assert "chosen on the tuning part only" in out and "with the real prior, tau" in out and "plain argmax" in out
    # a tuning part that shares a lot with the reporting part is refused before any training
    with pytest.raises(ValueError, match="reporting part"):
        bench.bench_realism(real, np.append(tune, report[0]), report, n_train=270, epochs=1, seed=0)
