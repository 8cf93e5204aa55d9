"""Tests of course_utils.data: resizing, the WM-811K loader and its cache, splits, datasets."""
import hashlib
import os
import pickle
import pickletools

import numpy as np
import pandas as pd
import pytest
import torch

from course_utils import config, data
from course_utils.config import CLASS_NAMES


# ---------------------------------------------------------------------------
# A tiny file in the format of the real LSWMD.pkl
# ---------------------------------------------------------------------------
def _nested(text, dtype=object):
    """WM-811K label cell: [['text']] or, for an unlabeled wafer, an empty (0, 0) array."""
    return np.array([[text]], dtype=dtype) if text else np.zeros((0, 0))


def make_frame(n=60, seed=0, unlabeled_every=4):
    """A WM-811K-like DataFrame: varying grid shapes, nested labels, latin-1 lot names."""
    rng = np.random.default_rng(seed)
    shapes = [(32, 29), (25, 27), (6, 21), (45, 48)]
    maps, types, splits, lots = [], [], [], []
    for i in range(n):
        h, w = shapes[i % len(shapes)]
        maps.append(rng.integers(0, 3, size=(h, w)).astype(np.uint8))
        labeled = i % unlabeled_every != 0
        types.append(_nested(CLASS_NAMES[i % len(CLASS_NAMES)] if labeled else ""))
        splits.append(_nested(("Training" if i % 3 else "Test") if labeled else "", dtype="<U8"))
        lots.append(f"lot{i // 5}" + ("\u00c4" if i % 10 == 0 else ""))  # a latin-1 character
    frame = pd.DataFrame({
        "waferMap": pd.Series(maps, dtype=object),
        "dieSize": np.linspace(500, 1700, n),
        "lotName": pd.Series(lots, dtype=object),
        "waferIndex": (np.arange(n) % 25 + 1).astype(float),
        "trianTestLabel": pd.Series(splits, dtype=object),
        "failureType": pd.Series(types, dtype=object),
    })
    return frame


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """An empty config.data_dir() for the test."""
    home = tmp_path / "datasets"
    monkeypatch.setenv("COURSE_DATA_DIR", str(home))
    return home


@pytest.fixture
def legacy_file(tmp_path):
    frame = make_frame()
    path = data.write_wm811k_pickle(frame, tmp_path / "LSWMD_small.pkl")
    return path, frame


def _expected_label(cell):
    return CLASS_NAMES.index(cell[0, 0]) if cell.size else -1


# ---------------------------------------------------------------------------
# resize_maps
# ---------------------------------------------------------------------------
def test_resize_maps_hand_example_upscale_and_downscale():
    m = np.array([[0, 1], [2, 1], [0, 2]], dtype=np.uint8)  # 3 x 2
    up = data.resize_maps([m], size=(6, 4))[0]
    expected = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 1, 1], [2, 2, 1, 1], [0, 0, 2, 2], [0, 0, 2, 2]])
    np.testing.assert_array_equal(up, expected)
    big = np.arange(16).reshape(4, 4) % 3
    down = data.resize_maps(big[None].astype(np.uint8), size=2)[0]
    np.testing.assert_array_equal(down, big[[1, 3]][:, [1, 3]])  # centres of the 2x2 blocks: rows/cols 1 and 3


def test_resize_maps_mixed_shapes_match_torch_nearest_exact():
    rng = np.random.default_rng(1)
    shapes = [(32, 29), (25, 27), (300, 202), (6, 7), (32, 29), (64, 64)]
    maps = [rng.integers(0, 3, size=s).astype(np.uint8) for s in shapes]
    out = data.resize_maps(np.array(maps, dtype=object), size=64)
    assert out.shape == (len(maps), 64, 64) and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 1, 2}
    for m, o in zip(maps, out):
        ref = torch.nn.functional.interpolate(torch.tensor(m)[None, None].float(), size=(64, 64), mode="nearest-exact")
        np.testing.assert_array_equal(o, ref[0, 0].byte().numpy())
    np.testing.assert_array_equal(out[-1], maps[-1])  # same size: unchanged


@pytest.mark.parametrize("size", [0, -3, 2.5, (0, 4), (4,), True, "64"])
def test_resize_maps_rejects_bad_size(size):
    with pytest.raises(ValueError, match="size="):
        data.resize_maps([np.zeros((3, 3), np.uint8)], size=size)


def test_resize_maps_rejects_bad_maps():
    with pytest.raises(ValueError, match=r"maps\[1\] has shape \(5,\)"):
        data.resize_maps([np.zeros((3, 3)), np.zeros(5)], size=4)
    with pytest.raises(ValueError, match="outside"):
        data.resize_maps([np.full((3, 3), 7)], size=4)


# ---------------------------------------------------------------------------
# The legacy pickle format and load_wm811k
# ---------------------------------------------------------------------------
def test_written_file_has_the_real_files_legacy_format(legacy_file):
    path, _ = legacy_file
    raw = path.read_bytes()
    assert raw[:2] == b"\x80\x02"  # protocol 2, as Python 2 wrote it
    opcodes = {op.name for op, _, _ in pickletools.genops(raw)}
    assert {"BINSTRING", "SHORT_BINSTRING"} & opcodes and not {"BINUNICODE", "SHORT_BINUNICODE"} & opcodes
    assert b"pandas.indexes.base" in raw and b"numpy.core.multiarray" in raw
    with pytest.raises(ModuleNotFoundError, match="pandas.indexes"):  # why the custom loader exists
        pd.read_pickle(path)


def test_load_wm811k_unwraps_labels_and_metadata(legacy_file):
    path, frame = legacy_file
    ws = data.load_wm811k(path, trust=True, keep_unlabeled=True)
    assert len(ws) == len(frame) and ws.source == "wm811k" and not ws.is_fixed_size
    np.testing.assert_array_equal(ws.labels, [_expected_label(c) for c in frame.failureType])
    np.testing.assert_array_equal(ws.lot, frame.lotName.to_numpy().astype(str))
    assert ws.lot[0] == "lot0\u00c4"  # latin-1 byte string decoded
    np.testing.assert_array_equal(ws.official_split, [c[0, 0] if c.size else "" for c in frame.trianTestLabel])
    np.testing.assert_array_equal(ws.wafer_index, frame.waferIndex.astype(np.int16))
    np.testing.assert_allclose(ws.die_size, frame.dieSize, rtol=1e-6)
    assert ws.wafer_index.dtype == np.int16 and ws.die_size.dtype == np.float32
    np.testing.assert_array_equal(ws.grid_shape, [m.shape for m in frame.waferMap])
    for got, want in zip(ws.maps, frame.waferMap):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
    assert ws.info["n_rows"] == len(frame)


def test_load_wm811k_drops_unlabeled_by_default(legacy_file):
    path, frame = legacy_file
    ws = data.load_wm811k(path, trust=True)
    labeled = [c.size > 0 for c in frame.failureType]
    assert len(ws) == sum(labeled) and (ws.labels >= 0).all()
    np.testing.assert_array_equal(ws.lot, frame.lotName[labeled].to_numpy().astype(str))


def test_unknown_hash_is_refused_unless_trusted(legacy_file, monkeypatch):
    path, _ = legacy_file
    with pytest.raises(ValueError, match=r"SHA-256 .*trust=True"):
        data.load_wm811k(path)
    assert len(data.load_wm811k(path, trust=True)) > 0
    monkeypatch.setattr(data, "WM811K_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(data.load_wm811k(path)) > 0  # the known hash needs no trust


def test_file_sha256_streams_in_chunks(tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(os.urandom(10_000))
    assert data.file_sha256(f, chunk_size=333) == hashlib.sha256(f.read_bytes()).hexdigest()


def test_missing_file_says_where_to_get_it(data_home):
    with pytest.raises(FileNotFoundError, match=r"Kaggle.*WM-811K.*LSWMD\.pkl"):
        data.load_wm811k()
    with pytest.raises(FileNotFoundError, match=str(data_home / "LSWMD.pkl")):
        data.load_wafer_data("wm811k")
    with pytest.raises(TypeError, match="path must be a file path"):
        data.load_wm811k(123)


def test_wrong_files_are_rejected_clearly(tmp_path):
    text = tmp_path / "notes.pkl"
    text.write_text("wafer,label\n")
    with pytest.raises(ValueError, match="not a pickle file"):
        data.load_wm811k(text, trust=True)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(ValueError, match="not the WM-811K table"):
        data.load_wm811k(other, trust=True)
    wrong_columns = tmp_path / "wrong.pkl"
    data.write_wm811k_pickle(pd.DataFrame({"x": [1.0, 2.0]}), wrong_columns)
    with pytest.raises(ValueError, match=r"missing \['waferMap'"):
        data.load_wm811k(wrong_columns, trust=True)
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(data.write_wm811k_pickle(make_frame(8), tmp_path / "ok.pkl").read_bytes()[:500])
    with pytest.raises(ValueError, match="could not be read as a WM-811K pickle"):
        data.load_wm811k(truncated, trust=True)


def test_trusted_file_still_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(ValueError, match="refusing"):
        data.load_wm811k(evil, trust=True)
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------------------
# load_wafer_data("wm811k"): conversion and cache
# ---------------------------------------------------------------------------
def test_cache_round_trip_and_reuse(legacy_file, data_home, monkeypatch):
    path, _ = legacy_file
    first = data.load_wafer_data("wm811k", path=path, size=16, trust=True)
    cache = data_home / "cache" / "wm811k_16x16.npz"
    assert first.is_fixed_size and first.maps.shape[1:] == (16, 16) and first.maps.dtype == np.uint8
    assert cache.is_file() and not list(cache.parent.glob("*.tmp"))
    with np.load(cache, allow_pickle=False) as npz:  # pickle-free on disk
        assert npz["lot"].dtype.kind == "U" and npz["official_split"].dtype.kind == "U"
    raw = data.load_wm811k(path, trust=True)
    np.testing.assert_array_equal(first.maps, data.resize_maps(raw.maps, 16))

    def no_conversion(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(data, "load_wm811k", no_conversion)
    again = data.load_wafer_data("wm811k", path=path, size=16)
    assert again.info["cache"] == str(cache)
    for name in ("maps", "labels", "lot", "wafer_index", "die_size", "official_split", "grid_shape"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
        assert getattr(again, name).dtype == getattr(first, name).dtype
    os.utime(path, ns=(1, 1))  # touched, same content: the hash decides, still valid
    data.load_wafer_data("wm811k", path=path, size=16)


def test_cache_is_rebuilt_when_source_size_or_version_change(tmp_path, data_home, monkeypatch):
    path = data.write_wm811k_pickle(make_frame(40, seed=0), tmp_path / "LSWMD.pkl")
    a = data.load_wafer_data("wm811k", path=path, size=8, trust=True)
    data.write_wm811k_pickle(make_frame(48, seed=1), path)  # new content
    b = data.load_wafer_data("wm811k", path=path, size=8, trust=True)
    assert len(b) != len(a) and b.info["sha256"] != a.info["sha256"]
    c = data.load_wafer_data("wm811k", path=path, size=12, trust=True)
    assert c.maps.shape[1:] == (12, 12) and (data_home / "cache" / "wm811k_8x8.npz").is_file()
    monkeypatch.setattr(data, "CACHE_FORMAT_VERSION", data.CACHE_FORMAT_VERSION + 1)
    calls = []
    real = data.load_wm811k
    monkeypatch.setattr(data, "load_wm811k", lambda *a, **k: calls.append(1) or real(*a, **k))
    data.load_wafer_data("wm811k", path=path, size=8, trust=True)
    assert calls == [1]


def test_wm811k_subsample_is_stratified(legacy_file, data_home):
    path, _ = legacy_file
    full = data.load_wafer_data("wm811k", path=path, size=8, trust=True)
    sub = data.load_wafer_data("wm811k", path=path, size=8, trust=True, n_samples=20, seed=3)
    assert len(sub) == 20
    assert set(sub.labels) == set(full.labels)  # every class keeps at least one wafer
    again = data.load_wafer_data("wm811k", path=path, size=8, trust=True, n_samples=20, seed=3)
    np.testing.assert_array_equal(sub.lot, again.lot)


def test_stratified_subsample_counts():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)
    idx = data.stratified_subsample(labels, 100, seed=0)
    assert len(idx) == len(set(idx)) == 100
    np.testing.assert_array_equal(np.bincount(labels[idx]), [90, 9, 1])
    assert np.bincount(labels[data.stratified_subsample(labels, 3, seed=0)]).tolist() == [1, 1, 1]


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
    synthetic = pytest.importorskip("course_utils.synthetic")
    ws = data.load_wafer_data("synthetic", n_samples=300, size=32, seed=5)
    assert isinstance(ws, data.WaferSet) and ws.maps.shape == (300, 32, 32) and ws.maps.dtype == np.uint8
    assert set(np.unique(ws.maps)) <= {0, 1, 2} and ws.source == "synthetic"
    ref = synthetic.make_synthetic_wafers(300, size=32, seed=5)
    np.testing.assert_array_equal(ws.labels, ref.labels)
    np.testing.assert_array_equal(ws.maps, ref.maps)


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------
def _lots_and_labels(n=3000, n_lots=150, seed=0):
    rng = np.random.default_rng(seed)
    p = np.array([config.WM811K_LABELED_COUNTS[c] for c in CLASS_NAMES], dtype=float)
    p = np.maximum(p / p.sum(), 0.01)
    labels = rng.choice(len(CLASS_NAMES), size=n, p=p / p.sum())
    lots = np.array([f"lot{i}" for i in rng.integers(0, n_lots, size=n)])
    return lots, labels


def test_stratified_split_keeps_proportions():
    _, labels = _lots_and_labels()
    tr, va, te = data.stratified_split(labels, (0.65, 0.2, 0.15), seed=0)
    assert len(np.intersect1d(tr, va)) == len(np.intersect1d(tr, te)) == 0
    assert len(tr) + len(va) + len(te) == len(labels)
    for c in np.unique(labels):
        n = (labels == c).sum()
        assert abs((labels[tr] == c).sum() - 0.65 * n) <= 1.5 and abs((labels[te] == c).sum() - 0.15 * n) <= 1.5


def test_lot_split_is_lot_disjoint_and_roughly_stratified():
    lots, labels = _lots_and_labels()
    tr, va, te = data.lot_split(lots, labels, fractions=(0.65, 0.2, 0.15), seed=0)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(len(labels)))
    parts = [set(lots[tr]), set(lots[va]), set(lots[te])]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert abs(len(tr) / len(labels) - 0.65) < 0.03 and abs(len(te) / len(labels) - 0.15) < 0.03
    big = np.flatnonzero(np.bincount(labels) >= 100)
    for c in big:  # class shares follow the fractions within a few points
        share = (labels[tr] == c).sum() / (labels == c).sum()
        assert abs(share - 0.65) < 0.08
    again = data.lot_split(lots, labels, seed=0)
    other = data.lot_split(lots, labels, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again))
    assert not np.array_equal(tr, other[0])


def test_lot_split_from_waferset_and_errors():
    lots, labels = _lots_and_labels(200, 20)
    ws = data.WaferSet(maps=np.zeros((200, 2, 2), np.uint8), labels=labels, lot=lots)
    tr, va, te = data.lot_split(ws, seed=0)
    assert not set(lots[tr]) & set(lots[te])
    with pytest.raises(ValueError, match="fractions="):
        data.lot_split(lots, labels, fractions=(0.7, 0.2, 0.2))
    with pytest.raises(ValueError, match="at least one lot per part"):
        data.lot_split(["a", "a", "b"], [0, 1, 0])
    with pytest.raises(ValueError, match="unlabeled"):
        data.lot_split(["a", "b", "c"], [0, -1, 1])
    with pytest.raises(ValueError, match="no lot names"):
        data.lot_split(data.WaferSet(maps=np.zeros((3, 2, 2), np.uint8), labels=[0, 1, 2]))
    with pytest.raises(TypeError, match="pass the class labels"):
        data.lot_split(lots)


def test_official_split(legacy_file):
    path, _ = legacy_file
    ws = data.load_wm811k(path, trust=True, keep_unlabeled=True)
    tr, va, te = data.official_split(ws, val_fraction=0.25, seed=0)
    np.testing.assert_array_equal(te, np.flatnonzero((ws.official_split == "Test") & (ws.labels >= 0)))
    pool = np.flatnonzero(ws.official_split == "Training")
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va])), pool)
    assert len(va) == pytest.approx(0.25 * len(pool), abs=len(CLASS_NAMES))
    tr0, va0, _ = data.official_split(ws, val_fraction=0)
    assert len(va0) == 0 and np.array_equal(tr0, pool)
    with pytest.raises(ValueError, match="no official Training/Test"):
        data.official_split(data.WaferSet(maps=np.zeros((2, 2, 2), np.uint8), labels=[0, 1]))
    with pytest.raises(ValueError, match="val_fraction"):
        data.official_split(ws, val_fraction=1.0)


def test_split_table_counts_and_shares():
    labels = np.array([0, 0, 1, 8, 8, 8])
    table = data.split_table(labels, {"a": [0, 1, 2], "b": [3, 4, 5]})
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
    np.testing.assert_allclose(ds.class_weights()[:3], [10 / (3 * 4), 10 / (3 * 3), 10 / (3 * 3)])
    order = [b[1].tolist() for b in data.make_loader(ds, 4, shuffle=True, seed=1)]
    assert order == [b[1].tolist() for b in data.make_loader(ds, 4, shuffle=True, seed=1)]
    with pytest.raises(ValueError, match="varying size"):
        data.WaferDataset.from_waferset(data.WaferSet(maps=np.array([np.zeros((2, 2)), np.zeros((3, 3))],
                                                                    dtype=object), labels=[0, 1]))


def test_save_and_load_splits(tmp_path):
    splits = {"stratified": ([0, 2], [1], [3]), "lot": ([3, 1], [], [0, 2])}
    path = data.save_splits(tmp_path / "out" / "splits.npz", splits)
    back = data.load_splits(path)
    assert set(back) == {"stratified", "lot"}
    for name, parts in splits.items():
        for got, want in zip(back[name], parts):
            np.testing.assert_array_equal(got, want)
            assert got.dtype == np.int64
    with pytest.raises(ValueError, match="splits must map a name"):
        data.save_splits(tmp_path / "x.npz", {"bad name": ([0], [1], [2])})


def test_subset_reindexes_per_wafer_info_arrays():
    ws = data.WaferSet(maps=np.zeros((4, 8, 8), np.uint8), labels=np.array([0, 1, 2, 3]),
                  info={"source_index": np.array([10, 11, 12, 13]), "note": "kept", "pair": np.array([1, 2])})
    sub = ws.subset([3, 1])
    assert sub.info["source_index"].tolist() == [13, 11]
    assert sub.info["note"] == "kept" and sub.info["pair"].tolist() == [1, 2]
