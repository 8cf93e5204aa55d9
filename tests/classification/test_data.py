"""Tests of course_utils.classification.wafers / splits / data: resizing, splits, load_wafer_data, datasets."""

import numpy as np
import pytest
import torch

from course_utils.classification import data, splits, wafers, wm811k
from course_utils.classification.wafers import CLASS_NAMES




# ---------------------------------------------------------------------------
# resize_maps
# ---------------------------------------------------------------------------
def test_resize_maps_hand_example_upscale_and_downscale():
    m = np.array([[0, 1], [2, 1], [0, 2]], dtype=np.uint8)  # 3 x 2
    up = wafers.resize_maps([m], size=(6, 4))[0]
    expected = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 1, 1], [2, 2, 1, 1], [0, 0, 2, 2], [0, 0, 2, 2]])
    np.testing.assert_array_equal(up, expected)
    big = np.arange(16).reshape(4, 4) % 3
    down = wafers.resize_maps(big[None].astype(np.uint8), size=2)[0]
    np.testing.assert_array_equal(down, big[[1, 3]][:, [1, 3]])  # centres of the 2x2 blocks: rows/cols 1 and 3


def test_resize_maps_mixed_shapes_match_torch_nearest_exact():
    rng = np.random.default_rng(1)
    shapes = [(32, 29), (25, 27), (300, 202), (6, 7), (32, 29), (64, 64)]
    maps = [rng.integers(0, 3, size=s).astype(np.uint8) for s in shapes]
    out = wafers.resize_maps(np.array(maps, dtype=object), size=64)
    assert out.shape == (len(maps), 64, 64) and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 1, 2}
    for m, o in zip(maps, out):
        ref = torch.nn.functional.interpolate(torch.tensor(m)[None, None].float(), size=(64, 64), mode="nearest-exact")
        np.testing.assert_array_equal(o, ref[0, 0].byte().numpy())
    np.testing.assert_array_equal(out[-1], maps[-1])  # same size: unchanged


@pytest.mark.parametrize("size, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), ((0, 4), ValueError),
                                         ((4,), TypeError), (True, TypeError), ("64", TypeError)])
def test_resize_maps_rejects_bad_size(size, error):
    with pytest.raises(error, match="size="):
        wafers.resize_maps([np.zeros((3, 3), np.uint8)], size=size)


def test_resize_maps_rejects_bad_maps():
    with pytest.raises(ValueError, match=r"maps\[1\] has shape \(5,\)"):
        wafers.resize_maps([np.zeros((3, 3)), np.zeros(5)], size=4)
    with pytest.raises(ValueError, match="outside"):
        wafers.resize_maps([np.full((3, 3), 7)], size=4)


def test_stratified_subsample_counts():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)
    idx = splits.stratified_subsample(labels, 100, seed=0)
    assert len(idx) == len(set(idx)) == 100
    np.testing.assert_array_equal(np.bincount(labels[idx]), [90, 9, 1])
    assert np.bincount(labels[splits.stratified_subsample(labels, 3, seed=0)]).tolist() == [1, 1, 1]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"source": "kaggle"}, ValueError, "source='kaggle' is not one of"),
        ({"size": 0}, ValueError, "size=0"),
        ({"n_samples": 0}, ValueError, "n_samples=0"),
        ({"source": "wm811k", "proportions": "balanced"}, ValueError, "proportions='balanced' only applies"),
    ],
)
def test_load_wafer_data_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.load_wafer_data(**kwargs)


def test_load_wafer_data_synthetic():
    from course_utils.classification import twin  # the kit's own module: an import error must fail, not skip

    ws = data.load_wafer_data("synthetic", n_samples=300, size=32, seed=5)
    assert isinstance(ws, wafers.WaferSet) and ws.maps.shape == (300, 32, 32) and ws.maps.dtype == np.uint8
    assert set(np.unique(ws.maps)) <= {0, 1, 2} and ws.source == "synthetic"
    ref = twin.make_synthetic_wafers(300, size=32, seed=5)
    np.testing.assert_array_equal(ws.labels, ref.labels)
    np.testing.assert_array_equal(ws.maps, ref.maps)


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------
def _lots_and_labels(n=3000, n_lots=150, seed=0):
    rng = np.random.default_rng(seed)
    p = np.array([wafers.WM811K_LABELED_COUNTS[c] for c in CLASS_NAMES], dtype=float)
    p = np.maximum(p / p.sum(), 0.01)
    labels = rng.choice(len(CLASS_NAMES), size=n, p=p / p.sum())
    lots = np.array([f"lot{i}" for i in rng.integers(0, n_lots, size=n)])
    return lots, labels


def test_stratified_split_keeps_proportions():
    _, labels = _lots_and_labels()
    tr, va, te = splits.stratified_split(labels, (0.65, 0.2, 0.15), seed=0)
    assert len(np.intersect1d(tr, va)) == len(np.intersect1d(tr, te)) == 0
    assert len(tr) + len(va) + len(te) == len(labels)
    for c in np.unique(labels):
        n = (labels == c).sum()
        assert abs((labels[tr] == c).sum() - 0.65 * n) <= 1.5 and abs((labels[te] == c).sum() - 0.15 * n) <= 1.5


def test_lot_split_is_lot_disjoint_and_roughly_stratified():
    lots, labels = _lots_and_labels()
    tr, va, te = splits.lot_split(lots, labels, fractions=(0.65, 0.2, 0.15), seed=0)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(len(labels)))
    parts = [set(lots[tr]), set(lots[va]), set(lots[te])]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert abs(len(tr) / len(labels) - 0.65) < 0.03 and abs(len(te) / len(labels) - 0.15) < 0.03
    big = np.flatnonzero(np.bincount(labels) >= 100)
    for c in big:  # class shares follow the fractions within a few points
        share = (labels[tr] == c).sum() / (labels == c).sum()
        assert abs(share - 0.65) < 0.08
    again = splits.lot_split(lots, labels, seed=0)
    other = splits.lot_split(lots, labels, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again))
    assert not np.array_equal(tr, other[0])


def test_lot_split_from_waferset_and_errors():
    lots, labels = _lots_and_labels(200, 20)
    ws = wafers.WaferSet(maps=np.zeros((200, 2, 2), np.uint8), labels=labels, lot=lots)
    tr, va, te = splits.lot_split(ws, seed=0)
    assert not set(lots[tr]) & set(lots[te])
    with pytest.raises(ValueError, match="fractions="):
        splits.lot_split(lots, labels, fractions=(0.7, 0.2, 0.2))
    with pytest.raises(ValueError, match="at least one lot per part"):
        splits.lot_split(["a", "a", "b"], [0, 1, 0])
    with pytest.raises(ValueError, match="unlabeled"):
        splits.lot_split(["a", "b", "c"], [0, -1, 1])
    with pytest.raises(ValueError, match="no lot names"):
        splits.lot_split(wafers.WaferSet(maps=np.zeros((3, 2, 2), np.uint8), labels=[0, 1, 2]))
    with pytest.raises(TypeError, match="pass the class labels"):
        splits.lot_split(lots)


def test_official_split(legacy_file):
    path, _ = legacy_file
    ws = wm811k.load_wm811k(path, trust=True, keep_unlabeled=True)
    tr, va, te = splits.official_split(ws, val_fraction=0.25, seed=0)
    np.testing.assert_array_equal(te, np.flatnonzero((ws.official_split == "Test") & (ws.labels >= 0)))
    pool = np.flatnonzero(ws.official_split == "Training")
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va])), pool)
    assert len(va) == pytest.approx(0.25 * len(pool), abs=len(CLASS_NAMES))
    tr0, va0, _ = splits.official_split(ws, val_fraction=0)
    assert len(va0) == 0 and np.array_equal(tr0, pool)
    with pytest.raises(ValueError, match="no official Training/Test"):
        splits.official_split(wafers.WaferSet(maps=np.zeros((2, 2, 2), np.uint8), labels=[0, 1]))
    with pytest.raises(ValueError, match="val_fraction"):
        splits.official_split(ws, val_fraction=1.0)


def test_split_table_counts_and_shares():
    labels = np.array([0, 0, 1, 8, 8, 8])
    table = splits.split_table(labels, {"a": [0, 1, 2], "b": [3, 4, 5]})
    assert table.loc["Center", "a"] == 2 and table.loc["none", "b"] == 3
    assert table.loc["total", "a"] == 3 and table.loc["Center", "a %"] == pytest.approx(66.67)


# ---------------------------------------------------------------------------
# Model inputs (existing API, used by every notebook)
# ---------------------------------------------------------------------------
def test_encodings_and_batched_dataset():
    maps = torch.tensor([[[0, 1], [2, 1]]], dtype=torch.uint8)
    onehot = data.encode_maps(maps, "onehot")
    assert onehot.shape == (1, 3, 2, 2) and onehot.dtype == torch.float32
    torch.testing.assert_close(onehot.argmax(1), maps.long())
    torch.testing.assert_close(data.encode_maps(maps, "single")[0, 0], torch.tensor([[0, 0.5], [1, 0.5]]))
    ds = data.WaferDataset(np.random.default_rng(0).integers(0, 3, (10, 4, 4)), np.arange(10) % 3)
    x, y = ds[[1, 4, 7]]
    assert x.shape == (3, 3, 4, 4) and y.tolist() == [1, 1, 1]
    order = [b[1].tolist() for b in data.make_loader(ds, 4, shuffle=True, seed=1)]
    assert order == [b[1].tolist() for b in data.make_loader(ds, 4, shuffle=True, seed=1)]
    with pytest.raises(ValueError, match="varying size"):
        data.WaferDataset.from_waferset(wafers.WaferSet(maps=np.array([np.zeros((2, 2)), np.zeros((3, 3))],
                                                                    dtype=object), labels=[0, 1]))


def test_save_and_load_splits(tmp_path):
    saved = {"stratified": ([0, 2], [1], [3]), "lot": ([3, 1], [], [0, 2])}
    path = splits.save_splits(tmp_path / "out" / "splits.npz", saved)
    back = splits.load_splits(path)
    assert set(back) == {"stratified", "lot"}
    for name, parts in saved.items():
        for got, want in zip(back[name], parts):
            np.testing.assert_array_equal(got, want)
            assert got.dtype == np.int64
    with pytest.raises(ValueError, match="splits must map a name"):
        splits.save_splits(tmp_path / "x.npz", {"bad name": ([0], [1], [2])})


def test_subset_reindexes_per_wafer_info_arrays():
    ws = wafers.WaferSet(maps=np.zeros((4, 8, 8), np.uint8), labels=np.array([0, 1, 2, 3]),
                  info={"source_index": np.array([10, 11, 12, 13]), "note": "kept", "pair": np.array([1, 2])})
    sub = ws.subset([3, 1])
    assert sub.info["source_index"].tolist() == [13, 11]
    assert sub.info["note"] == "kept" and sub.info["pair"].tolist() == [1, 2]


def test_dataset_view_keeps_source_index_and_lots():
    ws = data.load_wafer_data("synthetic", n_samples=200, size=16, seed=0)
    _, _, test = splits.stratified_split(ws.labels, (0.6, 0.2, 0.2), seed=0)
    ds = data.WaferDataset.from_waferset(ws, test)
    np.testing.assert_array_equal(ds.source_index, test)
    np.testing.assert_array_equal(ds.lot, ws.lot[test])
    np.testing.assert_array_equal(ds.maps.numpy(), ws.maps[test])
    mask = ws.labels == 0
    by_mask = data.WaferDataset.from_waferset(ws, mask)
    np.testing.assert_array_equal(by_mask.source_index, np.flatnonzero(mask))
    with pytest.raises(ValueError, match="source_index has 3 entries"):
        data.WaferDataset(ws.maps[:2], ws.labels[:2], source_index=[0, 1, 2])


# ---------------------------------------------------------------------------
# Issue 30: encode_maps, WaferDataset and make_loader, each check and branch
# ---------------------------------------------------------------------------
def test_encode_maps_single_map_and_bad_input():
    m = torch.tensor([[2, 0], [1, 2]], dtype=torch.uint8)
    onehot = data.encode_maps(m)  # one (H, W) map -> (C, H, W)
    # channel c is 1 where the state is c: off-wafer 0 at (0, 1); good die 1 at (1, 0); defect 2 at (0, 0), (1, 1)
    expected = torch.tensor([[[0, 1], [0, 0]], [[0, 0], [1, 0]], [[1, 0], [0, 1]]], dtype=torch.float32)
    assert torch.equal(onehot, expected)
    single = data.encode_maps(m, "single")
    assert single.shape == (1, 2, 2) and torch.equal(single[0], torch.tensor([[1.0, 0.0], [0.5, 1.0]]))
    with pytest.raises(ValueError) as info:
        data.encode_maps(m, "rgb")
    assert str(info.value) == "encoding='rgb' is not one of ['onehot', 'single']."
    with pytest.raises(ValueError) as info:
        data.encode_maps(torch.zeros(2, 1, 4, 4, dtype=torch.uint8))
    assert str(info.value) == "maps must have shape (N, H, W) or (H, W); got (2, 1, 4, 4)."


@pytest.mark.parametrize("maps, labels, kwargs, message", [
    (np.zeros((4, 4)), [0] * 4, {}, "maps must be a fixed-size (N, H, W) array; got shape (4, 4). "
                                    "Resize raw WM-811K maps first (wafers.resize_maps)."),
    (np.zeros((3, 4, 4)), [0, 1], {}, "maps has 3 wafers but labels has 2."),
    (np.zeros((2, 4, 4)), [0, 1], {"encoding": "binary"}, "encoding='binary' is not one of ['onehot', 'single']."),
    (np.zeros((3, 4, 4)), [0, -1, 2], {}, "labels must lie in [0, 8] for 9 classes; got [-1, 2]. "
                                          "Drop unlabeled wafers (label -1) first."),
    (np.zeros((2, 4, 4)), [0, 2], {"class_names": ("good", "bad")},
     "labels must lie in [0, 1] for 2 classes; got [0, 2]. Drop unlabeled wafers (label -1) first."),
    (np.zeros((2, 4, 4)), [0, 1], {"lot": ["a"]}, "lot has 1 entries but labels has 2."),
])
def test_wafer_dataset_refuses_bad_input_with_the_reason(maps, labels, kwargs, message):
    with pytest.raises(ValueError) as info:
        data.WaferDataset(maps, labels, **kwargs)
    assert str(info.value) == message


def test_wafer_dataset_items_and_properties():
    maps = np.zeros((4, 3, 5), np.uint8)
    maps[2, 1, 4] = 2
    ds = data.WaferDataset(maps, [0, 0, 2, 8], encoding="single")
    for index in (2, np.int64(2)):  # one sample: (C, H, W) and a 0-d label
        x, y = ds[index]
        assert x.shape == (1, 3, 5) and x[0, 1, 4] == 1.0 and x.sum() == 1.0
        assert y.dim() == 0 and int(y) == 2
    x, y = ds[torch.tensor([3, 2])]
    assert x.shape == (2, 1, 3, 5) and y.tolist() == [8, 2]
    assert ds.num_channels == 1 and data.WaferDataset(maps, [0, 0, 2, 8]).num_channels == 3
    assert ds.image_size == (3, 5) and len(ds) == 4
    assert ds.source_index is None and ds.lot is None
    counts = ds.class_counts()  # classes 0, 0, 2, 8 -> two 0s, one 2, one 8 of 9 classes
    assert counts.dtype == np.int64 and counts.tolist() == [2, 0, 1, 0, 0, 0, 0, 0, 1]


def test_make_loader_order_samplers_and_checks():
    ds = data.WaferDataset(np.zeros((10, 2, 2), np.uint8), np.arange(10) % 9)
    plain = data.make_loader(ds, 4)  # no shuffle: indices 0..9 in batches of 4, 4, 2
    assert [len(y) for _, y in plain] == [4, 4, 2] and plain.rng_generators == []
    assert torch.cat([y for _, y in plain]).tolist() == (np.arange(10) % 9).tolist()
    assert [len(y) for _, y in data.make_loader(ds, 4, drop_last=True)] == [4, 4]
    shuffled = data.make_loader(ds, 3, shuffle=True, seed=0)
    assert len(shuffled.rng_generators) == 1 and len(shuffled) == 4  # ceil(10 / 3)
    ref = torch.randperm(10, generator=torch.Generator().manual_seed(0))  # RandomSampler draws one permutation
    assert torch.cat([y for _, y in shuffled]).tolist() == (ref.numpy() % 9).tolist()
    assert data.make_loader(ds, 3, shuffle=True).rng_generators == []  # no seed: torch's global generator
    only_eight = torch.utils.data.WeightedRandomSampler([0.0] * 8 + [1.0, 0.0], num_samples=5)
    weighted = data.make_loader(ds, 5, sampler=only_eight, shuffle=True)  # the sampler wins over shuffle
    assert [y.tolist() for _, y in weighted] == [[8] * 5]
    with pytest.raises(ValueError, match=r"^batch_size=0 must be an integer >= 1\.$"):
        data.make_loader(ds, 0)
    for bad in (2.0, True, "64"):
        with pytest.raises(TypeError, match=r"^batch_size=.* must be an integer >= 1\.$"):
            data.make_loader(ds, bad)
    with pytest.raises(ValueError) as info:
        data.make_loader(data.WaferDataset(np.zeros((0, 2, 2), np.uint8), []), 4)
    assert str(info.value) == "Cannot make a loader over an empty dataset: check the split and the filters."


def test_load_wafer_data_wm811k_subset_is_stratified(legacy_file, data_home):
    path, frame = legacy_file
    full = data.load_wafer_data(" WM-811K ", path=path, size=16, trust=True)  # spelling normalised
    n_full = (np.arange(len(frame)) % 4 != 0).sum()  # make_frame: every 4th wafer is unlabeled, dropped
    assert len(full) == n_full and set(np.unique(full.labels)) <= set(range(len(CLASS_NAMES)))
    sub = data.load_wafer_data("wm811k", path=path, size=16, n_samples=18, seed=3)
    assert len(sub) == 18 and sub.maps.shape == (18, 16, 16)
    share = np.bincount(full.labels, minlength=9) / n_full
    got = np.bincount(sub.labels, minlength=9)
    assert (got >= 1).all() and np.all(np.abs(got - 18 * share) < 1 + 1e-9)  # each class keeps its share
    key = {(lot, int(i)): k for k, (lot, i) in enumerate(zip(full.lot, full.wafer_index))}
    where = [key[(lot, int(i))] for lot, i in zip(sub.lot, sub.wafer_index)]
    assert len(set(where)) == 18  # distinct wafers of the full set, each with its map and label
    np.testing.assert_array_equal(sub.maps, full.maps[where])
    np.testing.assert_array_equal(sub.labels, full.labels[where])
    again = data.load_wafer_data("wm811k", path=path, size=16, n_samples=18, seed=3)
    np.testing.assert_array_equal(again.labels, sub.labels)
    everything = data.load_wafer_data("wm811k", path=path, size=16, n_samples=10_000)  # more than there are
    np.testing.assert_array_equal(everything.maps, full.maps)
