"""The held-out protocol of calibration.py (issue #27): real maps split by lot into tuning and reporting parts.

The pinned counts below were read off the split once (seed 27, report fraction 0.5) and are checked here
against the npz files themselves with plain NumPy, so that a change of the split, the files or the loader shows.
"""

import numpy as np
import pytest

from course_utils.classification import calibration
from course_utils.classification.wafers import CLASS_NAMES
from shared_data import WM811K_DATA as DATA, needs_wm811k_data as needs_data

# class counts per side, in CLASS_NAMES order (Center, Donut, Edge-Loc, Edge-Ring, Loc, Near-full, Random, Scratch, none)
TUNING_COUNTS = [108, 94, 105, 109, 106, 30, 89, 107, 534]
REPORTING_COUNTS = [72, 36, 75, 71, 74, 0, 41, 73, 496]


@pytest.fixture(scope="module")
def npz():
    """Labels and lots of both files, read with NumPy only (not with the code under test)."""
    out = {}
    for name in calibration.REAL_FILES:
        with np.load(DATA / name, allow_pickle=False) as z:
            out[name] = {"label": z["label"].astype(str), "lot": z["lotName"].astype(str)}
    return out


@pytest.fixture(scope="module")
def real():
    return calibration.load_real_maps(DATA)


@pytest.fixture(scope="module")
def split(real):
    return calibration.holdout_split(real)


def _counts(labels) -> list[int]:
    return [int(np.sum(np.asarray(labels) == c)) for c in CLASS_NAMES]


@needs_data
def test_loader_reads_both_files_sample_first(real, npz):
    sample, calib = (npz[name] for name in calibration.REAL_FILES)
    assert len(real.labels) == len(real.maps) == len(sample["label"]) + len(calib["label"]) == 2220
    assert np.array_equal(np.asarray(CLASS_NAMES)[real.labels], np.concatenate([sample["label"], calib["label"]]))
    assert np.array_equal(real.lots, np.concatenate([sample["lot"], calib["lot"]]))
    assert list(real.source[:270]) == [calibration.REAL_FILES[0]] * 270
    assert set(real.source[270:]) == {calibration.REAL_FILES[1]}
    assert all(m.dtype == np.uint8 and m.ndim == 2 and set(np.unique(m)) <= {0, 1, 2} for m in real.maps[:20])
    resized = calibration.load_real_maps(DATA, size=32)
    assert resized.maps.shape == (2220, 32, 32)


@needs_data
def test_split_is_deterministic_and_seeded(real, split):
    again = calibration.holdout_split(real)
    assert all(np.array_equal(a, b) for a, b in zip(split, again))
    other = calibration.holdout_split(real, seed=calibration.HOLDOUT_SEED + 1)
    assert not np.array_equal(split[1], other[1])


@needs_data
def test_split_is_by_lot_and_covers_every_map_once(real, split):
    tune, report = split
    assert np.array_equal(np.sort(np.concatenate([tune, report])), np.arange(len(real.labels)))
    assert np.intersect1d(real.lots[tune], real.lots[report]).size == 0
    assert tune.dtype == report.dtype == np.int64


@needs_data
def test_every_sample_map_and_its_lot_siblings_are_on_the_tuning_side(real, split, npz):
    tune, report = split
    sample, calib = (npz[name] for name in calibration.REAL_FILES)
    assert set(range(270)) <= set(tune.tolist())
    siblings = 270 + np.flatnonzero(np.isin(calib["lot"], sample["lot"]))
    assert len(siblings) == 72                       # calibration maps that share a lot with a sample map
    assert set(siblings.tolist()) <= set(tune.tolist())
    assert set(real.source[report]) == {calibration.REAL_FILES[1]}


@needs_data
def test_class_counts_of_each_side_are_pinned(split, npz):
    tune, report = split
    sample, calib = (npz[name] for name in calibration.REAL_FILES)
    labels = np.concatenate([sample["label"], calib["label"]])          # read with NumPy, not the loader
    totals = _counts(labels)
    assert totals == [180, 130, 180, 180, 180, 30, 130, 180, 1030]
    assert [t + r for t, r in zip(TUNING_COUNTS, REPORTING_COUNTS)] == totals
    assert _counts(labels[tune]) == TUNING_COUNTS
    assert _counts(labels[report]) == REPORTING_COUNTS
    assert len(report) == 938 and len(np.unique(np.concatenate([sample["lot"], calib["lot"]])[report])) == 840
    # every class of the calibration file has maps on both sides; Near-full (sample only) is on the tuning side only
    present = sorted(set(calib["label"]))
    assert all(TUNING_COUNTS[CLASS_NAMES.index(c)] > 0 and REPORTING_COUNTS[CLASS_NAMES.index(c)] > 0 for c in present)
    assert "Near-full" not in present and REPORTING_COUNTS[CLASS_NAMES.index("Near-full")] == 0


@needs_data
def test_check_held_out_refuses_maps_that_share_a_lot_with_the_reporting_part(real, split):
    tune, report = split
    calibration.check_held_out(real.lots[tune], real.lots[report])          # the tuning part passes
    calibration.check_held_out(real.lots[:270], real.lots[report])          # so do the 270 sample maps
    with pytest.raises(ValueError, match="share 1 lot"):
        calibration.check_held_out(np.append(real.lots[:270], real.lots[report[0]]), real.lots[report])
    with pytest.raises(ValueError, match="reporting part"):
        calibration.check_held_out(real.lots[report[:10]], real.lots[report], "the tuned maps")


def test_loader_names_the_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="wm811k_sample.npz, wm811k_calibration.npz not found"):
        calibration.load_real_maps(tmp_path)


def test_split_on_a_small_set_keeps_the_sample_lots_on_the_tuning_side():
    # 4 sample maps (lots a, b) and 16 calibration maps of 8 lots, two classes; lot "a" also in the calibration file
    lots = np.array(["a", "b", "a", "b"] + ["a", "a"] + [f"l{k}" for k in range(7) for _ in range(2)])
    labels = np.array([0, 1, 0, 1] + [0, 1] + [0, 0, 1, 1] * 3 + [0, 1], dtype=np.int64)
    source = np.array([calibration.REAL_FILES[0]] * 4 + [calibration.REAL_FILES[1]] * 16)
    real = calibration.RealMaps([np.ones((3, 3), np.uint8)] * 20, labels, lots, source)
    tune, report = calibration.holdout_split(real, seed=0)
    assert set(tune.tolist()) >= {0, 1, 2, 3, 4, 5}
    assert np.intersect1d(lots[tune], lots[report]).size == 0
    assert set(labels[report]) == {0, 1}
    with pytest.raises(ValueError, match="report_fraction"):
        calibration.holdout_split(real, report_fraction=1.0)
