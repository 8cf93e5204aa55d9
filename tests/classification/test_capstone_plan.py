"""Notebook 12's presets: the time estimate, the `team` budget on a T4, the runner and the report."""
import numpy as np
import pandas as pd
import pytest

from course_utils.classification import capstone
from course_utils.classification import wafers
from course_utils.training import metrics, models, transfer
from course_utils.tools import report
from course_utils.core import runs
from course_utils.__main__ import main as cli_main

T4_BUDGET_H = 3.0
COMPARISONS = [  # the three comparisons of notebook 12, section 6
    {"title": "leakage", "a": {"protocol": "course", "test_set": "course-balanced"},
     "b": {"protocol": "leakage-free", "test_set": "balanced"}, "metrics": ["recall", "f1-score"]},
    {"title": "balanced vs original", "a": {"protocol": "leakage-free", "train_set": "balanced", "test_set": "balanced"},
     "b": {"protocol": "leakage-free", "train_set": "original", "test_set": "balanced"}, "metrics": ["f1-score"]},
    {"title": "b0 vs cnn", "a": {"protocol": "leakage-free", "train_set": "balanced", "model": "effnet_b0_ft",
                                 "test_set": "balanced"},
     "b": {"protocol": "leakage-free", "train_set": "balanced", "model": "cnn", "test_set": "balanced"},
     "metrics": ["f1-score"]},
]


def test_estimate_matches_a_hand_computation():
    # 1 GFLOP forward at 10 TFLOP/s x 50 % = 2e-4 s per forward image
    est = models.estimate_fit_seconds(1.0, n_train=1000, n_val=100, n_test=50, epochs=2, batch_size=10,
                                      train_factor=3, tflops=10, utilisation=0.5, step_overhead_s=0.01)
    assert est["train_s_per_epoch"] == pytest.approx(1000 * 3 * 2e-4 + 100 * 0.01)   # 0.6 s + 100 steps
    assert est["val_s_per_epoch"] == pytest.approx(0.02)
    assert est["test_s"] == pytest.approx(0.01)
    assert est["total_s"] == pytest.approx(2 * (1.6 + 0.02) + 0.01)
    # a partial last batch is one more step; a frozen backbone costs 1 x forward
    frozen = models.estimate_fit_seconds(1.0, n_train=1001, n_val=0, n_test=0, epochs=1, batch_size=10,
                                         train_factor=1, tflops=10, utilisation=0.5, step_overhead_s=0.01)
    assert frozen["total_s"] == pytest.approx(1001 * 2e-4 + 101 * 0.01)


@pytest.mark.parametrize("kwargs, fragment", [({"utilisation": 0.0}, "utilisation=0.0 must be > 0"),
                                              ({"utilisation": 15}, "share of the peak, in (0, 1]"),
                                              ({"batch_size": 0}, "batch_size=0 must be an integer >= 1"),
                                              ({"epochs": -1}, "epochs=-1 must be an integer >= 0")])
def test_estimate_rejects_bad_input_by_name(kwargs, fragment):
    args = dict(n_train=10, n_val=10, n_test=10, epochs=1, batch_size=4) | kwargs
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
        models.estimate_fit_seconds(0.1, **args)


def _t4_hours(name: str) -> pd.DataFrame:
    """The preset's grid on the course's set sizes, estimated per cell on one T4 (as notebook 12 does)."""
    preset = capstone.PRESETS[name]
    rows = []
    for protocol, train_set, kind in preset["grid"]:
        if kind == "cnn":
            model = models.WaferCNN(in_channels=3, num_classes=9)
        else:
            model = transfer.build_transfer_model("efficientnet_b0", num_classes=9, weights=None, input_size=preset["input_size"],
                                                  mode="feature_extraction" if kind.endswith("frozen") else "fine_tuning")
        gflops = models.model_summary(model, (1, 3, preset["map_size"], preset["map_size"])).gflops_per_image
        n_train, n_val = capstone.SET_SIZES[train_set]
        est = models.estimate_fit_seconds(gflops, n_train=n_train, n_val=n_val, n_test=capstone.SET_SIZES["test"],
                                          epochs=preset["epochs"],
                                          batch_size=preset["batch_size"] or capstone.BATCH_SIZE[kind],
                                          train_factor=1 if kind.endswith("frozen") else 3,
                                          step_overhead_s=models.STEP_OVERHEAD_S[kind])
        rows.append({"cell": (protocol, train_set, kind), "hours": preset["seeds"] * est["total_s"] / 3600})
    return pd.DataFrame(rows)


def test_team_preset_fits_an_evening_on_one_t4_and_full_does_not():
    team, full = _t4_hours("team"), _t4_hours("full")
    assert team["hours"].sum() <= T4_BUDGET_H
    assert full["hours"].sum() > 10 * T4_BUDGET_H
    # the course's own B0 fine-tuning (18,000 wafers, 50 epochs) is within a factor 3 of its 3 h (source 001)
    b0 = full[full["cell"] == ("course", "balanced", "effnet_b0_ft")]["hours"].item() / 3
    assert 1 / 3 < b0 / 3.0 < 3


def test_team_preset_keeps_every_comparison_and_the_course_test_set():
    team, full = capstone.PRESETS["team"], capstone.PRESETS["full"]
    assert team["balanced_sizes"] == full["balanced_sizes"] == (2000, 615, 462)
    assert team["epochs"] < full["epochs"] and team["seeds"] < full["seeds"] and team["input_size"] < full["input_size"]
    assert set(team["grid"]) <= set(full["grid"])
    for comp in COMPARISONS:
        for side in ("a", "b"):
            want = {k: v for k, v in comp[side].items() if k != "test_set"}
            assert any(all(dict(zip(("protocol", "train_set", "model"), cell))[k] == v for k, v in want.items())
                       for cell in team["grid"]), (comp["title"], side)


@pytest.mark.parametrize("name", sorted(capstone.PRESETS))
def test_runner_accepts_every_preset(name, capsys):
    assert cli_main(["run", "12", "-p", f"PRESET={name}", "--dry-run"]) == 0
    assert "PRESET" in capsys.readouterr().out


def test_runner_refuses_a_preset_of_the_wrong_type(capsys):
    assert cli_main(["run", "12", "-p", "PRESET=3"]) == 2
    assert "declares PRESET" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(capstone.PRESETS))
def test_report_reads_a_run_folder_of_every_preset(name, tmp_path):
    preset = capstone.PRESETS[name]
    classes = list(wafers.CLASS_NAMES)
    test_sets = ["imbalanced", "balanced", "course-balanced"]
    seeds = list(range(preset["seeds"]))
    rng = np.random.default_rng(0)
    scores, fits = [], []
    for protocol, train_set, kind in preset["grid"]:
        for seed in seeds:
            key = dict(protocol=protocol, train_set=train_set, model=kind, seed=seed)
            fits.append({**key, "n_train": 100, "epochs": preset["epochs"], "best_epoch": 1, "time_per_epoch_s": 1.0})
            for test_set in test_sets:
                y = rng.integers(0, len(classes), 90)
                pred = np.where(rng.random(90) < 0.7, y, (y + 1) % len(classes))
                rep = metrics.classification_report_df(y, pred, classes, digits=None)
                scores.append(runs.score_rows(rep, **key, test_set=test_set))
    pd.concat(scores).to_csv(tmp_path / runs.SCORES_FILE, index=False)
    pd.DataFrame(fits).to_csv(tmp_path / runs.FITS_FILE, index=False)
    runs.write_run_json(tmp_path, kind="classification", title=f"capstone {name}",
                          settings={"PRESET": name, **{k: v for k, v in preset.items() if k != "grid"}},
                          grid=[{"protocol": p, "train_set": s, "model": m, "test_sets": test_sets}
                                for p, s, m in preset["grid"]],
                          seeds=seeds, test_sets=test_sets, comparisons=COMPARISONS, sections=[])
    result = report.write_report(tmp_path, renderer="builtin")
    assert result.complete and not result.problems
    results = pd.read_csv(result.results)
    assert len(results) == len(preset["grid"]) * len(seeds) * len(test_sets)
    assert f"| PRESET | {name} |" in result.markdown.read_text(encoding="utf-8")
