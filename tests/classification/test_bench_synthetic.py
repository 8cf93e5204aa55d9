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


def test_predict_logits_is_the_mean_log_probability_over_the_8_symmetries_and_so_does_not_depend_on_them(bench):
    torch.manual_seed(0)
    model, _ = bench.make_model()
    model.eval()
    maps = np.random.default_rng(0).integers(0, 3, (5, 64, 64)).astype(np.uint8)
    out = bench.predict_logits(model, maps, batch_size=2)            # batches of 2 maps (16 copies) and 1
    # the 8 copies written with torch.rot90 and torch.flip, not with augment.d4_transform
    x = torch.from_numpy(maps)
    copies = [torch.rot90(m, k, dims=(1, 2)) for m in (x, x.flip(2)) for k in range(4)]
    with torch.no_grad():
        expected = torch.stack([torch.log_softmax(model(bench.encode_maps(c)), dim=1) for c in copies]).mean(0)
    assert out.shape == (5, 9) and out.dtype == torch.float32
    assert torch.allclose(out, expected, atol=1e-5)
    assert (out.exp().sum(1) <= 1 + 1e-5).all()         # a geometric mean of probabilities sums to at most 1
    for copy in copies[1:]:                                             # any turned or mirrored map: the same answer
        assert torch.allclose(bench.predict_logits(model, copy.numpy()), out, atol=1e-5)


@needs_data
def test_bench_realism_chooses_tau_on_the_tuning_part_and_scores_the_reporting_part_once(bench, monkeypatch, capsys):
    real = calibration.load_real_maps(DATA, size=64)
    tune, report = calibration.holdout_split(real)
    seen_maps, seen_labels = [], []
    predict_logits, choose = bench.predict_logits, bench.choose_prior_tau

    def spy_logits(model, maps, batch_size=256, symmetries=True):
        seen_maps.append(maps)
        return predict_logits(model, maps, batch_size, symmetries)

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


@needs_data
def test_real_reference_trains_on_balanced_draws_of_the_tuning_part_and_scores_the_reporting_part_once(
        bench, monkeypatch, capsys):
    real = calibration.load_real_maps(DATA, size=64)
    tune, report = calibration.holdout_split(real)
    trained, fed = [], []
    predict_logits = bench.predict_logits

    def spy_step(model, recipe, maps, labels):      # record what training sees, skip the optimiser (fast)
        trained.append((maps.numpy(), labels.numpy()))
        return 0.0

    def spy_logits(model, maps, batch_size=256, symmetries=True):
        fed.append(maps)
        return predict_logits(model, maps, batch_size, symmetries)

    monkeypatch.setattr(bench, "train_step", spy_step)
    monkeypatch.setattr(bench, "predict_logits", spy_logits)
    figures = bench.bench_real_reference(real, tune, report, steps=40, seed=0, batch_size=90)
    assert set(figures) == {"balanced", "imbalanced", "prior"} and all(0 <= v <= 1 for v in figures.values())
    assert len(trained) == 40
    labels = np.concatenate([lab for _, lab in trained])
    # class-balanced draws: every class of the tuning part near 1/9 of 3,600 draws (none is 46 % of the part)
    shares = np.bincount(labels, minlength=9) / len(labels)
    assert np.all(np.abs(shares - 1 / 9) < 0.04), shares
    # every map trained on is a (turned or mirrored) map of the tuning part, never one of the reporting part
    tuning_maps = {m.tobytes() for m in real.maps[tune]}
    symmetries = lambda m: [np.rot90(m, k) for k in range(4)] + [np.rot90(m, k)[:, ::-1] for k in range(4)]
    for maps, _ in trained[:3]:
        for m in maps:
            assert any(np.ascontiguousarray(s).tobytes() in tuning_maps for s in symmetries(m))
    # the reporting part is fed to the model once; tau is chosen on the tuning part
    assert [len(m) for m in fed] == [len(tune), len(report)] and np.array_equal(fed[1], real.maps[report])
    assert "scored on the reporting part only" in capsys.readouterr().out
    with pytest.raises(ValueError, match="reporting part"):
        bench.bench_real_reference(real, np.append(tune, report[0]), report, steps=2, seed=0)


@needs_data
def test_tune_scores_the_tuning_part_and_its_calibration_file_maps_never_the_reporting_part(bench, monkeypatch, capsys):
    real = calibration.load_real_maps(DATA, size=64)
    tune, report = calibration.holdout_split(real)
    fed, outputs = [], []
    predict_logits = bench.predict_logits

    def spy_logits(model, maps, batch_size=256, symmetries=True):
        fed.append((maps, symmetries))
        outputs.append(predict_logits(model, maps, batch_size, symmetries))
        return outputs[-1]

    monkeypatch.setattr(bench, "predict_logits", spy_logits)
    runs = bench.run_tuning(real, tune, n_train=270, epochs=2, seeds=[0, 1])
    out = capsys.readouterr().out
    real_fed = [k for k, (maps, _) in enumerate(fed) if len(maps) != 1800]   # the synthetic validation maps aside
    assert all(np.array_equal(fed[k][0], real.maps[tune]) for k in real_fed)  # only ever the tuning part
    # per seed: one quick progress figure per epoch (the map as it is), then the 8 symmetries once, scored
    assert [fed[k][1] for k in real_fed] == [False, False, True] * 2
    real_fed = [k for k in real_fed if fed[k][1]]
    fresh = real.source[tune] == calibration.REAL_FILES[1]
    assert fresh.sum() == 1012                                               # the tuning part less the 270 sample maps
    for (whole, calib), k in zip(runs, real_fed):
        logits = outputs[k]
        for figures, keep in ((whole, np.ones(len(tune), dtype=bool)), (calib, fresh)):
            labels, pred = real.labels[tune][keep], logits[keep].argmax(1).numpy()
            assert figures["macro"] == pytest.approx(f1_score(labels, pred, labels=np.unique(labels), average="macro"))
            assert set(figures["per_class"]) == set(np.unique(labels).tolist())
            assert 0 <= figures["balanced"] <= 1 and 0 <= figures["imbalanced"] <= 1
        assert 5 not in calib["per_class"] and 5 in whole["per_class"]      # Near-full: only among the sample maps
    assert out.count("[tune] seed 0,") == 2 and "mean over seeds 0, 1, tuning part" in out
    assert "the reporting part was not read" in out


def test_run_seeds_prints_the_mean_of_every_figure_and_the_ratio_of_the_means(bench, monkeypatch, capsys):
    twin = {0: {"balanced": 0.70, "imbalanced": 0.60, "prior": 0.66}, 1: {"balanced": 0.74, "imbalanced": 0.62, "prior": 0.64}}
    real = {0: {"balanced": 0.80, "imbalanced": 0.70, "prior": 0.72}, 1: {"balanced": 0.76, "imbalanced": 0.66, "prior": 0.74}}
    monkeypatch.setattr(bench, "bench_realism", lambda real_maps, tune, report, n_train, epochs, seed: twin[seed])
    monkeypatch.setattr(bench, "bench_real_reference", lambda real_maps, tune, report, steps, seed: real[seed])
    bench.run_seeds(None, None, None, n_train=256, epochs=2, seeds=[0, 1])
    out = capsys.readouterr().out
    assert "(seed 1): balanced 0.740 / 0.760 = 0.97" in out
    assert "twin-trained, mean over seeds 0, 1: balanced 0.720, imbalanced 0.610, prior 0.650" in out
    assert "real-trained, mean over seeds 0, 1: balanced 0.780, imbalanced 0.680, prior 0.730" in out
    # 0.720 / 0.780, 0.610 / 0.680, 0.650 / 0.730
    assert "ratio of the means (twin / real): balanced 0.92, imbalanced 0.90, prior 0.89" in out
    # without the reference: the twin's means only
    bench.run_seeds(None, None, None, n_train=256, epochs=2, seeds=[0, 1], reference=False)
    out = capsys.readouterr().out
    assert "twin-trained, mean over seeds" in out and "real-trained" not in out and "ratio" not in out


def test_seed_list_parses_a_comma_separated_list_and_says_the_form_otherwise(bench):
    assert bench.seed_list("0,1,2") == [0, 1, 2] and bench.seed_list("7") == [7]
    with pytest.raises(bench.argparse.ArgumentTypeError, match="comma-separated integers such as 0,1,2"):
        bench.seed_list("0;1")


def test_protocol_steps_is_epochs_times_the_batches_per_epoch(bench):
    # the defaults: 24,000 twin maps x 12 epochs in batches of 128 -> 188 batches per epoch; --quick: 3,000 x 1
    assert bench.protocol_steps(24_000, 12) == 12 * 188 == 2256
    assert bench.protocol_steps(3000, 1) == 24 and bench.protocol_steps(256, 2) == 4 and bench.protocol_steps(257, 2) == 6
