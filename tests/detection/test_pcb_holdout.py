"""The PCB held-out protocol of detection/calibration.py (issue #27): real pairs split by DeepPCB group.

The expected groups and counts below were read off the split list files once and are checked against the
``trainval.txt`` lists themselves with plain Python, so that a change of the split, the folders or the
loader shows. The benchmark test fails if ``bench_detection --heldout`` would report on a pair of a group
that the twin's tuning (the 40 sample pairs) or the tuning part read.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from course_utils.detection import calibration
from course_utils.detection.pcb import DetectionSet
from shared_data import DEEPPCB_DATA as DATA, REPO, needs_deeppcb_data as needs_data



def _list_ids(folder: str) -> list[str]:
    """8-digit pair ids of a folder's trainval.txt, read with plain Python (not with the code under test)."""
    lines = (DATA / folder / "PCBData" / "trainval.txt").read_text().split("\n")
    return [Path(line.split()[0]).stem for line in lines if line.strip()]


def _fake(groups_sample, groups_calib) -> calibration.RealPairs:
    """RealPairs with 4x4 blank images: ``groups_*`` are 5-digit group numbers, one per pair."""
    ids = [f"{g}{k:03d}" for k, g in enumerate(list(groups_sample) + list(groups_calib))]
    n = len(ids)
    ds = DetectionSet(images=np.full((n, 4, 4), 255, np.uint8), templates=np.full((n, 4, 4), 255, np.uint8),
                      boxes=[np.zeros((0, 4), np.float32)] * n, labels=[np.zeros(0, np.int64)] * n, image_ids=ids)
    source = np.array([calibration.REAL_FOLDERS[0]] * len(groups_sample) + [calibration.REAL_FOLDERS[1]] * len(groups_calib))
    return calibration.RealPairs(ds, calibration.pair_groups(ids), source)


def test_pair_groups_reads_the_first_five_digits():
    assert calibration.pair_groups(["00041006", "77000123"]).tolist() == ["group00041", "group77000"]
    with pytest.raises(ValueError, match=r"8-digit DeepPCB ids such as '00041006'; got \['syn-000001'\]"):
        calibration.pair_groups(["00041006", "syn-000001"])


def test_split_keeps_sample_groups_on_the_tuning_side_and_draws_free_groups_whole():
    # sample: groups 11111, 22222; calibration: 11111 x2, free groups 33333 x4, 44444 x2, 55555 x2 (8 free pairs)
    real = _fake(["11111", "22222"], ["11111"] * 2 + ["33333"] * 4 + ["44444"] * 2 + ["55555"] * 2)
    tune, report = calibration.holdout_split(real, seed=0)
    assert np.array_equal(np.sort(np.concatenate([tune, report])), np.arange(12))
    assert tune.dtype == report.dtype == np.int64
    assert {0, 1, 2, 3} <= set(tune.tolist())                      # the sample and its group sibling
    assert np.intersect1d(real.groups[tune], real.groups[report]).size == 0
    assert set(real.groups[report]) <= {"group33333", "group44444", "group55555"}
    # whole groups until >= half of the 8 free pairs: 4, 6 or 8 pairs whatever the order drawn
    assert len(report) >= 4
    draws = {tuple(calibration.holdout_split(real, seed=s)[1]) for s in range(20)}
    assert len(draws) > 1                                            # the seed matters
    assert all(np.array_equal(a, b) for a, b in zip(calibration.holdout_split(real, seed=3),
                                                    calibration.holdout_split(real, seed=3)))


def test_split_refuses_bad_fractions_and_data_with_no_free_group():
    real = _fake(["11111"], ["11111", "22222"])
    with pytest.raises(ValueError, match=r"report_fraction=1\.0 must lie strictly between 0 and 1"):
        calibration.holdout_split(real, report_fraction=1.0)
    with pytest.raises(ValueError, match="no group is free to report on"):
        calibration.holdout_split(_fake(["11111", "22222"], ["22222"]))


def test_check_held_out_refuses_a_shared_group():
    calibration.check_held_out(["00041006", "13000010"], ["77000001", "77000002"])
    with pytest.raises(ValueError, match=r"^the tuned pairs share 1 DeepPCB group\(s\) with the reporting part "
                                         r"\(group77000\); a figure measured on them is not a held-out measurement\.$"):
        calibration.check_held_out(["00041006", "77000999"], ["77000001"], "the tuned pairs")


def test_loader_names_the_missing_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="deeppcb_sample, deeppcb_calibration not found"):
        calibration.load_real_pairs(tmp_path)


@needs_data
def test_split_of_the_shared_pairs_reports_on_group77000_only():
    real = calibration.load_real_pairs(DATA)
    sample_ids, calib_ids = _list_ids("deeppcb_sample"), _list_ids("deeppcb_calibration")
    assert real.pairs.image_ids == sample_ids + calib_ids and len(sample_ids) == 40 and len(calib_ids) == 160
    tune, report = calibration.holdout_split(real)
    expected = sorted(40 + k for k, i in enumerate(calib_ids) if i.startswith("77000"))
    assert report.tolist() == expected and len(report) == 24
    assert len(tune) == 176 and set(range(40)) <= set(tune.tolist())
    assert real.pairs.subset(report).class_counts().tolist() == [19, 16, 26, 17, 18, 27]   # 123 boxes


def _bench():
    spec = importlib.util.spec_from_file_location("bench_detection", REPO / "benchmarks" / "bench_detection.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_data
def test_bench_detection_reports_only_on_pairs_no_tuning_step_read():
    bench = _bench()
    real, tune, report = bench.heldout_parts(DATA)
    ids = np.array(real.pairs.image_ids)
    read_groups = {i[:5] for i in _list_ids("deeppcb_sample")} | {i[:5] for i in ids[tune]}
    assert not {i[:5] for i in ids[report]} & read_groups
    # scoring refuses a reporting set that holds a pair the twin was tuned on (a sample pair)
    leaky = real.pairs.subset(np.append(report, 0))
    preds = [{"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros(0, np.float32),
              "labels": np.zeros(0, np.int64)} for _ in range(len(leaky))]
    with pytest.raises(ValueError, match="share 1 DeepPCB group"):
        bench.score_heldout(preds, leaky, ids[:40])


@needs_data
def test_bench_detection_refuses_a_split_that_reports_on_the_sample(monkeypatch):
    bench = _bench()
    monkeypatch.setattr(bench.calibration, "holdout_split", lambda real: (np.arange(40, 200), np.arange(40)))
    with pytest.raises(ValueError, match="the 40 sample pairs the twin was tuned on share 6 DeepPCB group"):
        bench.heldout_parts(DATA)


@needs_data
def test_bench_detection_averages_the_ratio_over_seeds(monkeypatch, capsys):
    bench = _bench()
    results = {0: (0.5, 0.6), 1: (0.4, 0.8), 2: None}  # seed 2: one model left out, not averaged
    seen = []

    def fake_models(args, device, seed, tuning, report, tune_ids):
        seen.append((seed, len(tuning), len(report)))
        return results[seed]

    monkeypatch.setattr(bench, "heldout_models", fake_models)
    monkeypatch.setattr(bench.calibration, "calibration_table", lambda real, twin: bench.pd.DataFrame({"real": [1.0]}))
    monkeypatch.setattr(bench.masks, "derive_masks", lambda ds: np.zeros(ds.images.shape, np.uint8))
    args = bench.argparse.Namespace(seeds=[0, 1, 2], pairs=8, epochs=1, size=64, models="twin,real", data=DATA)
    bench.run_heldout(args, "cpu")
    out = capsys.readouterr().out
    # the reporting part is group77000 (24 pairs), the tuning part the other 176 pairs
    assert seen == [(0, 176, 24), (1, 176, 24), (2, 176, 24)]
    # means: twin (0.5 + 0.4) / 2 = 0.45, real (0.6 + 0.8) / 2 = 0.70; 0.45 / 0.70 = 0.643; per seed 0.83, 0.50
    assert "mAP50 twin 0.450, real 0.700, ratio of the means 0.64 (per seed: 0.83, 0.50)" in out


@needs_data
def test_bench_detection_tune_scores_the_tuning_part_only(monkeypatch, capsys):
    bench = _bench()
    trained, scored = [], []

    def fake_train(args, device, seed, train):
        trained.append((seed, len(train)))
        return None, None, 0.0

    monkeypatch.setattr(bench, "train_centrenet", fake_train)

    def fake_predict(model, ds, **kwargs):
        scored.append(list(ds.image_ids))
        # seed 0 finds every box, seed 1 nothing: mAP50 1 and 0, mean 0.5
        perfect = len(scored) == 1
        return [{"boxes": t["boxes"] if perfect else np.zeros((0, 4), np.float32),
                 "scores": np.ones(len(t["boxes"]) if perfect else 0, np.float32),
                 "labels": t["labels"] if perfect else np.zeros(0, np.int64)} for t in ds.targets()]

    monkeypatch.setattr(bench.detector, "predict", fake_predict)
    args = bench.argparse.Namespace(seeds=[0, 1], pairs=4, epochs=1, size=64, data=DATA)
    assert bench.run_tuning(args, "cpu") == pytest.approx([1.0, 0.0])
    assert trained == [(0, 4), (1, 4)]                       # the twin pairs, one model per seed
    assert len(scored) == 2 and all(len(ids) == 176 for ids in scored)
    assert not any(i.startswith("77000") for ids in scored for i in ids)   # group77000 is the reporting part
    assert "mean over seeds 0, 1: mAP50 0.500 on the tuning part" in capsys.readouterr().out
    # N is capped at the tuning part's 176 pairs, as --heldout caps its real (and so its twin) training pairs
    bench.run_tuning(bench.argparse.Namespace(seeds=[2], pairs=500, epochs=1, size=64, data=DATA), "cpu")
    assert trained[-1] == (2, 176)
