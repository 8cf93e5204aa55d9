"""course_utils.classification.balance: re-sampling reports, no leakage across splits, samplers, class weights."""
import numpy as np
import pytest
import torch

from course_utils.training import losses
from course_utils.classification import augment, balance, data, splits, wafers
from course_utils.classification.wafers import CLASS_NAMES

COUNTS = [40, 5, 50, 90, 35, 3, 8, 12, 300]  # imbalanced like WM-811K, small


def make_set(counts=COUNTS, size=10, seed=0):
    """Random maps: every map and its 8 D4 images are distinct, so copies are easy to trace."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(counts)), counts)
    maps = rng.integers(0, 3, (len(labels), size, size)).astype(np.uint8)
    lots = np.array([f"lot{i}" for i in range(len(labels))])
    return wafers.WaferSet(maps, labels, lot=lots)


def canonical(m) -> bytes:
    """The same key for a map and all its rotations/flips."""
    return min(o.numpy().tobytes() for o in augment.d4_orbit(torch.as_tensor(m)))


def test_undersample_to_smallest_class_and_caps():
    ws = make_set()
    out, report = balance.undersample(ws, seed=0)
    assert isinstance(out, wafers.WaferSet)
    assert (out.class_counts() == 3).all()
    assert list(report.index) == list(CLASS_NAMES)
    assert report["before"].tolist() == COUNTS and (report["after"] == 3).all()
    assert (report["removed"] == np.array(COUNTS) - 3).all() and (report["generated"] == 0).all()
    src = out.info["source_index"]
    assert len(np.unique(src)) == len(src) and np.array_equal(out.maps, ws.maps[src])
    assert np.array_equal(out.lot, ws.lot[src]) and not out.info["augmented"].any()

    out, report = balance.undersample(ws, caps={"none": 0.6, "Edge-Ring": 0.8}, seed=0)
    assert report.loc["none", "after"] == 180 and report.loc["Edge-Ring", "after"] == 72
    assert report.loc["Center", "after"] == 40
    out, _ = balance.undersample(ws, n_per_class={"none": 100, 0: 20})
    assert out.class_counts()[8] == 100 and out.class_counts()[0] == 20 and out.class_counts()[2] == 50


def test_oversample_spreads_exact_copies_evenly():
    ws = make_set()
    out, report = balance.oversample(ws, seed=1)
    assert (out.class_counts() == 300).all()
    assert report.loc["Near-full", "generated"] == 297 and report.loc["none", "generated"] == 0
    src = out.info["source_index"]
    assert np.array_equal(out.maps, ws.maps[src]) and np.array_equal(out.labels, ws.labels[src])
    times = np.bincount(src[ws.labels[src] == 5])  # the 3 Near-full wafers: 100 each
    assert sorted(times[times > 0]) == [100, 100, 100]
    # 35 Loc wafers -> 300: each one 8 or 9 times
    times = np.bincount(src[ws.labels[src] == 4], minlength=len(ws))[ws.labels == 4]
    assert times.min() >= 8 and times.max() <= 9


def test_augment_offline_grows_with_distinct_d4_variants():
    ws = make_set()
    out, report = balance.augment_offline(ws, 7, caps={"none": 0.5}, seed=0)
    expected = [7 * n for n in COUNTS[:-1]] + [150]
    assert out.class_counts().tolist() == expected
    assert report["ratio"].round(3).tolist() == [7.0] * 8 + [0.5]
    assert report.loc["Donut", "generated"] == 30 and report.loc["none", "removed"] == 150
    src, aug = out.info["source_index"], out.info["augmented"]
    assert aug.sum() == sum(6 * n for n in COUNTS[:-1])
    assert np.array_equal(out.maps[~aug], ws.maps[src[~aug]])
    assert set(np.unique(out.maps)) <= {0, 1, 2}
    for i in np.flatnonzero(aug)[:200]:
        orbit = [o.numpy().tobytes() for o in augment.d4_orbit(torch.from_numpy(ws.maps[src[i]]))]
        assert orbit.index(out.maps[i].tobytes()) != 0  # a D4 image of its source, never the identity
    # the 6 variants of one wafer are 6 different elements
    first = np.flatnonzero(src == np.flatnonzero(ws.labels == 1)[0])
    assert len({out.maps[i].tobytes() for i in first}) == 7
    # per-class factors; unnamed classes stay x1
    out, report = balance.augment_offline(ws, {"Near-full": 12, "Donut": 2.4}, max_shift=1, seed=0)
    assert report.loc["Near-full", "after"] == 36 and report.loc["Donut", "after"] == 12
    assert report.loc["none", "after"] == 300


def test_balance_to_target_and_reachability():
    ws = make_set()
    out, report = balance.balance_to_target(ws, 30, max_factor=10, max_shift=1, seed=0)
    assert (out.class_counts() == 30).all() and (report["after"] == 30).all()
    assert report.loc["Near-full", "generated"] == 27 and report.loc["none", "removed"] == 270
    with pytest.raises(ValueError, match=r"more than x12 can reach for: Donut \(5 wafers, needs x16.0\), "
                                         r"Near-full \(3 wafers, needs x26.7\).*at most 36"):
        balance.balance_to_target(ws, 80)
    empty = make_set([5, 0, 5, 5, 5, 5, 5, 5, 5])
    with pytest.raises(ValueError, match="'Donut' has no wafers"):
        balance.balance_to_target(empty, 10)
    with pytest.warns(UserWarning, match="only 8 D4 variants"):
        balance.balance_to_target(ws, 30, max_factor=20)
    out, _ = balance.balance_to_target(ws, 30, max_factor=20, max_shift=2, seed=0)
    assert set(np.unique(out.maps)) <= {0, 1, 2}


def test_augmenting_the_training_part_never_leaks_val_or_test():
    ws = make_set(seed=3)
    train_idx, val_idx, test_idx = splits.stratified_split(ws.labels, seed=0)
    out, _ = balance.balance_to_target(ws.subset(train_idx), 30, max_factor=30, max_shift=1, seed=0)
    origin = train_idx[out.info["source_index"]]          # back to indices of the full set
    assert np.isin(origin, train_idx).all()
    assert not np.isin(origin, np.concatenate([val_idx, test_idx])).any()
    # by content: no map in the balanced training set is a rotation/flip of a val/test map
    held_out = {canonical(ws.maps[i]) for i in np.concatenate([val_idx, test_idx])}
    d4_only, _ = balance.augment_offline(ws.subset(train_idx), 8, seed=0)
    assert d4_only.info["augmented"].sum() == 7 * len(train_idx)
    assert not any(canonical(m) in held_out for m in d4_only.maps)
    # the check above can fail: augmenting BEFORE the split leaks rotated copies into the test part
    leaky, _ = balance.augment_offline(ws, 8, seed=0)
    tr, _, te = splits.stratified_split(leaky.labels, seed=0)
    train_keys = {canonical(m) for m in leaky.maps[tr]}
    leaked = np.mean([canonical(m) in train_keys for m in leaky.maps[te]])
    assert leaked > 0.9


def test_dataset_in_dataset_out_and_reproducible():
    ws = make_set()
    ds = data.WaferDataset.from_waferset(ws, encoding="single")
    out, report = balance.augment_offline(ds, 3, caps={"none": 0.2}, seed=5)
    assert isinstance(out, data.WaferDataset) and out.encoding == "single"
    assert out.class_counts().tolist() == report["after"].tolist()
    again, _ = balance.augment_offline(ds, 3, caps={"none": 0.2}, seed=5)
    assert torch.equal(out.maps, again.maps) and np.array_equal(out.info["source_index"], again.info["source_index"])
    other, _ = balance.augment_offline(ds, 3, caps={"none": 0.2}, seed=6)
    assert not torch.equal(out.maps, other.maps)
    x, y = out[np.arange(4)]
    assert x.shape == (4, 1, 10, 10) and y.dtype == torch.int64


def test_resampling_bad_input():
    ws = make_set()
    for bad in (0, 1.5, -0.2):
        with pytest.raises(ValueError, match=r"must lie in \(0, 1\]"):
            balance.undersample(ws, caps={"none": bad})
    with pytest.raises(ValueError, match="unknown class 'Ring'; valid names: Center"):
        balance.augment_offline(ws, caps={"Ring": 0.5})
    with pytest.raises(ValueError, match="must be >= 1"):
        balance.augment_offline(ws, 0.5)
    with pytest.raises(ValueError, match="both factor"):
        balance.augment_offline(ws, {"none": 2}, caps={"none": 0.5})
    with pytest.raises(TypeError, match="factor"):
        balance.augment_offline(ws, "x7")
    with pytest.raises(ValueError, match="positive integer"):
        balance.balance_to_target(ws, 0)
    with pytest.raises(TypeError, match="WaferSet or WaferDataset"):
        balance.oversample(ws.labels)
    with pytest.raises(ValueError, match="no wafers, so it cannot be oversampled"):
        balance.oversample(make_set([5, 0, 5, 5, 5, 5, 5, 5, 5]), n_per_class={"Donut": 5})
    with pytest.raises(ValueError, match="unlabeled"):
        balance.undersample(wafers.WaferSet(np.zeros((3, 4, 4), np.uint8), [0, -1, 1]))
    raw = wafers.WaferSet(np.array([np.zeros((3, 4), np.uint8)] * 2 + [np.zeros((5, 5), np.uint8)], dtype=object),
                        [0, 1, 1])
    with pytest.raises(ValueError, match="resize_maps"):
        balance.augment_offline(raw, 2)
    assert len(balance.undersample(raw, n_per_class=1)[0]) == 2  # plain re-sampling works on raw maps


def test_sample_and_class_weights_against_formulas():
    labels = np.repeat(np.arange(9), COUNTS)
    counts = np.array(COUNTS, dtype=float)
    w = balance.sample_weights(labels)
    assert w.shape == (len(labels),) and np.allclose(w, 1 / counts[labels])
    cw = losses.class_weights(np.bincount(labels))
    assert cw.dtype == torch.float32 and np.allclose(cw.numpy(), len(labels) / (9 * counts))
    from sklearn.utils.class_weight import compute_class_weight
    np.testing.assert_allclose(balance.sample_weights(labels, scheme="balanced"),
                               compute_class_weight("balanced", classes=np.arange(9), y=labels)[labels], rtol=1e-12)
    beta = 0.99
    eff = (1 - beta) / (1 - beta ** counts)
    eff = eff / eff.sum() * 9
    assert np.allclose(losses.class_weights(counts, scheme="effective", beta=beta).numpy(), eff, rtol=1e-6)
    np.testing.assert_allclose(balance.sample_weights(labels, scheme="effective", beta=beta), eff[labels], rtol=1e-12)
    # beta = 0: no re-weighting; beta -> 1: proportional to inverse frequency
    assert np.allclose(losses.class_weights(counts, scheme="effective", beta=0.0).numpy(), 1.0)
    near = losses.class_weights(counts, scheme="effective", beta=1 - 1e-9).numpy()
    assert np.allclose(near / near.sum(), (1 / counts) / (1 / counts).sum(), rtol=1e-4)
    assert torch.equal(losses.class_weights(make_set().class_counts()), cw)


def test_weighted_sampler_draws_classes_evenly_and_reproducibly():
    ws = make_set()
    sampler = balance.make_weighted_sampler(ws, num_samples=18000, seed=0)
    drawn = np.bincount(ws.labels[list(sampler)], minlength=9) / 18000
    assert np.allclose(drawn, 1 / 9, atol=0.015)
    assert list(balance.make_weighted_sampler(ws, seed=0)) == list(balance.make_weighted_sampler(ws, seed=0))
    eff = balance.make_weighted_sampler(ws.labels, scheme="effective", beta=0.9, num_samples=18000, seed=0)
    expected = np.array(COUNTS) * losses.class_weights(ws.class_counts(), scheme="effective", beta=0.9).double().numpy()
    drawn = np.bincount(ws.labels[list(eff)], minlength=9) / 18000
    assert np.allclose(drawn, expected / expected.sum(), atol=0.015)
    loader = data.make_loader(data.WaferDataset.from_waferset(ws), 64, sampler=balance.make_weighted_sampler(ws))
    x, y = next(iter(loader))
    assert x.shape == (64, 3, 10, 10)


def test_sampler_and_weights_bad_input():
    labels = np.array([0, 0, 1, 2, 3, 4, 5, 6, 7])  # no "none" wafer
    with pytest.raises(ValueError, match=r"class 'none' \(index 8\) has no samples"):
        balance.make_weighted_sampler(labels)
    assert len(balance.make_weighted_sampler(labels, num_classes=8)) == 9
    with pytest.raises(ValueError, match="has no samples"):
        balance.sample_weights(labels)
    with pytest.raises(ValueError, match="scheme"):
        balance.sample_weights(np.repeat(np.arange(9), 2), scheme="sqrt")
    with pytest.raises(ValueError, match=r"beta=1.0 must be a number in \[0, 1\)"):
        balance.sample_weights(np.repeat(np.arange(9), 2), scheme="effective", beta=1.0)
    with pytest.raises(ValueError, match="empty"):
        balance.make_weighted_sampler(np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="num_classes"):
        balance.sample_weights(np.array([0, 9]))
