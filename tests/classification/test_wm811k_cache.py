"""Tests of the WM-811K cache (course_utils.classification.wm811k): what is stored, when it is trusted, when it is
rebuilt; and the loader on real WM-811K maps (../shared, skipped when absent). Issue 30 (mutation testing)."""
import hashlib
import json
import os

import numpy as np
import pandas as pd
import pytest

from course_utils.classification import data, wafers, wm811k
from course_utils.classification.wafers import CLASS_NAMES
from py2pickle import make_frame, nested_label, write_wm811k_pickle
from shared_data import WM811K_DATA, needs_wm811k_data

def _fail(*args, **kwargs):
    raise AssertionError("not expected to be called")


@pytest.fixture
def source(tmp_path):
    """A 60-row file in the real format: rows 0, 4, 8, ... are unlabeled, so 45 are labeled."""
    return write_wm811k_pickle(make_frame(60, seed=0), tmp_path / "LSWMD.pkl")


def test_the_cache_stores_what_it_was_made_from(source, data_home, capsys):
    ws = data.load_wafer_data("wm811k", path=source, size=(16, 8), trust=True, verbose=True)
    cache = data_home / "cache" / "wm811k_16x8.npz"
    assert capsys.readouterr().out == f"Converted 45 WM-811K wafers to 16x8; cached in {cache}\n"
    sha, st = hashlib.sha256(source.read_bytes()).hexdigest(), os.stat(source)
    info = {"sha256": sha, "path": str(source), "n_rows": 60}
    assert ws.source == "wm811k" and ws.info == {**info, "cache": str(cache)}
    with np.load(cache, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        assert tuple(npz["class_names"]) == CLASS_NAMES
    assert meta == {"sha256": sha, "size": [16, 8], "keep_unlabeled": False, "source_bytes": st.st_size,
                    "source_mtime_ns": st.st_mtime_ns, "format_version": 1, "info": info}
    again = data.load_wafer_data("wm811k", path=source, size=(16, 8))  # from the cache (trusted by its stamp)
    assert again.source == "wm811k" and again.class_names == CLASS_NAMES
    assert again.info == {**info, "cache": str(cache)}


def test_unlabeled_wafers_have_their_own_cache(source, data_home):
    labeled = data.load_wafer_data("wm811k", path=source, size=8, trust=True)
    every = data.load_wafer_data("wm811k", path=source, size=8, trust=True, keep_unlabeled=True)
    assert len(labeled) == 45 and len(every) == 60 and (every.labels == -1).sum() == 15
    assert every.info["cache"] == str(data_home / "cache" / "wm811k_8x8_all.npz")
    assert labeled.info["cache"] == str(data_home / "cache" / "wm811k_8x8.npz")
    again = data.load_wafer_data("wm811k", path=source, size=8, keep_unlabeled=True)
    np.testing.assert_array_equal(again.labels, every.labels)


def test_a_cache_made_with_the_other_keep_unlabeled_is_not_valid(source, data_home):
    data.load_wafer_data("wm811k", path=source, size=8, trust=True)
    _, meta = wm811k._read_cache(data_home / "cache" / "wm811k_8x8.npz")
    stamp = wm811k._source_stamp(source)
    assert wm811k._cache_is_valid(meta, stamp=stamp, size=8, keep_unlabeled=False, path=source, trust=False)
    assert not wm811k._cache_is_valid(meta, stamp=stamp, size=8, keep_unlabeled=True, path=source, trust=False)
    assert not wm811k._cache_is_valid(meta, stamp=stamp, size=(8, 9), keep_unlabeled=False, path=source, trust=False)


def test_an_untouched_source_is_not_hashed_again(source, data_home, monkeypatch):
    data.load_wafer_data("wm811k", path=source, size=8, trust=True)
    monkeypatch.setattr(wm811k, "file_sha256", _fail)  # same size and mtime: 2.1 GB need not be read
    monkeypatch.setattr(wm811k, "load_wm811k", _fail)
    assert len(data.load_wafer_data("wm811k", path=source, size=8)) == 45


def test_a_source_replaced_by_other_content_of_the_same_size_is_converted_again(tmp_path, data_home):
    path = write_wm811k_pickle(make_frame(40, seed=0), tmp_path / "LSWMD.pkl")
    first = data.load_wafer_data("wm811k", path=path, size=8, trust=True)
    size = path.stat().st_size
    write_wm811k_pickle(make_frame(40, seed=1), path)  # other maps, same shapes and texts
    os.utime(path, ns=(10**18, 10**18))
    assert path.stat().st_size == size  # precondition: only the content tells the files apart
    second = data.load_wafer_data("wm811k", path=path, size=8, trust=True)
    raw = wm811k.load_wm811k(path, trust=True)
    np.testing.assert_array_equal(second.maps, wafers.resize_maps(raw.maps, 8))
    assert not np.array_equal(second.maps, first.maps)


def test_a_source_replaced_while_it_is_converted_is_converted_again(tmp_path, data_home, monkeypatch):
    """The cache records the file as it was when reading began; a stamp taken afterwards would vouch for the new
    file with the old file's maps (a bug fixed with issue 30)."""
    path = write_wm811k_pickle(make_frame(40, seed=0), tmp_path / "LSWMD.pkl")
    real = wm811k.load_wm811k

    def replaced_meanwhile(*args, **kwargs):
        ws = real(*args, **kwargs)
        write_wm811k_pickle(make_frame(48, seed=1), path)
        return ws

    monkeypatch.setattr(wm811k, "load_wm811k", replaced_meanwhile)
    assert len(data.load_wafer_data("wm811k", path=path, size=8, trust=True)) == 30  # 40 rows, 10 unlabeled
    monkeypatch.setattr(wm811k, "load_wm811k", real)
    assert len(data.load_wafer_data("wm811k", path=path, size=8, trust=True)) == 36  # 48 rows, 12 unlabeled


def test_cache_false_neither_reads_nor_writes_the_cache(source, data_home, monkeypatch):
    data.load_wafer_data("wm811k", path=source, size=8, trust=True)
    cache = data_home / "cache" / "wm811k_8x8.npz"
    before = cache.read_bytes()
    monkeypatch.setattr(wm811k, "_read_cache", _fail)
    monkeypatch.setattr(wm811k, "save_cache", _fail)
    ws = data.load_wafer_data("wm811k", path=source, size=8, trust=True, cache=False)
    assert len(ws) == 45 and "cache" not in ws.info and cache.read_bytes() == before


def test_a_folder_holding_the_file_is_read_and_cached(source, data_home):
    ws = data.load_wafer_data("wm811k", path=source.parent, size=8, trust=True)
    assert len(ws) == 45 and ws.info["path"] == str(source)
    assert len(data.load_wafer_data("wm811k", path=source.parent, size=8)) == 45  # cache found for the folder


def test_a_cache_holding_a_pickle_is_rebuilt_never_unpickled(source, data_home, tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(marker),))

    first = data.load_wafer_data("wm811k", path=source, size=8, trust=True)
    cache = data_home / "cache" / "wm811k_8x8.npz"
    with np.load(cache, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["maps"] = np.array([Evil()], dtype=object)  # np.savez pickles object arrays
    with open(cache, "wb") as f:
        np.savez(f, **arrays)
    again = data.load_wafer_data("wm811k", path=source, size=8, trust=True, verbose=True)
    out = capsys.readouterr().out
    assert out.startswith(f"Ignoring unreadable cache {cache} (") and "allow_pickle=False" in out
    assert out.endswith(f"converting again.\nConverted 45 WM-811K wafers to 8x8; cached in {cache}\n")
    assert not marker.exists()
    np.testing.assert_array_equal(again.maps, first.maps)


def test_save_cache_refuses_maps_of_varying_size_and_keeps_class_names(tmp_path):
    ragged = wafers.WaferSet(maps=np.array([np.zeros((2, 3)), np.zeros((4, 4))], dtype=object),
                             labels=np.array([0, 1]))
    with pytest.raises(ValueError) as err:
        wm811k.save_cache(ragged, tmp_path / "c.npz", meta={})
    assert str(err.value) == ("Only fixed-size WaferSets can be cached; resize the maps first "
                              "(wafers.resize_maps).")
    two = wafers.WaferSet(maps=np.zeros((2, 4, 4), dtype=np.uint8), labels=np.array([0, 1]),
                          class_names=("good", "bad"), info={"note": "x"})
    file = wm811k.save_cache(two, tmp_path / "c.npz", meta={"size": [4, 4]})
    back, meta = wm811k._read_cache(file)
    assert back.class_names == ("good", "bad") and back.info == {"note": "x"} and back.source == "wm811k"
    assert meta == {"size": [4, 4], "format_version": 1, "info": {"note": "x"}}


def test_cache_path_names_size_and_unlabeled(data_home, tmp_path):
    from course_utils.core import config

    assert wm811k._cache_path() == config.cache_dir() / "wm811k_64x64.npz"
    assert wm811k._cache_path((16, 8), True, cache_dir=tmp_path) == tmp_path / "wm811k_16x8_all.npz"


# ---------------------------------------------------------------------------
# Real WM-811K maps (../shared): the loader reads them back exactly, with the real class names
# ---------------------------------------------------------------------------
@needs_wm811k_data
def test_real_maps_written_in_the_real_format_load_exactly(tmp_path, data_home):
    z = dict(np.load(WM811K_DATA / "wm811k_sample.npz"))
    rows = [int(np.flatnonzero(z["label"] == name)[k]) for name in sorted(set(z["label"])) for k in (0, 1)]
    maps = []
    for i in rows:
        h, w = z["shapes"][i]
        maps.append(z["maps_flat"][z["offsets"][i]:z["offsets"][i] + h * w].reshape(h, w))
    # the sample's labels are the real file's nine failure types, the names the loader maps to 0..8
    assert set(z["label"]) == set(CLASS_NAMES)
    frame = pd.DataFrame({
        "waferMap": pd.Series(maps, dtype=object),
        "dieSize": z["dieSize"][rows].astype(float),
        "lotName": pd.Series([str(s) for s in z["lotName"][rows]], dtype=object),
        "waferIndex": z["waferIndex"][rows].astype(float),
        "trianTestLabel": pd.Series([nested_label("Training", dtype="<U8") for _ in rows], dtype=object),
        "failureType": pd.Series([nested_label(str(z["label"][i])) for i in rows], dtype=object),
    })  # the sample was drawn from the official Training split (shared/README.md)
    path = write_wm811k_pickle(frame, tmp_path / "LSWMD.pkl")
    ws = wm811k.load_wm811k(path, trust=True)
    assert [CLASS_NAMES[k] for k in ws.labels] == [str(z["label"][i]) for i in rows]
    assert ws.lot.tolist() == [str(s) for s in z["lotName"][rows]]
    np.testing.assert_array_equal(ws.wafer_index, z["waferIndex"][rows])
    np.testing.assert_allclose(ws.die_size, z["dieSize"][rows], rtol=1e-6)
    assert ws.official_split.tolist() == ["Training"] * len(rows)
    np.testing.assert_array_equal(ws.grid_shape, z["shapes"][rows])
    for got, want in zip(ws.maps, maps):
        assert got.dtype == np.uint8 and set(np.unique(got)) <= {0, 1, 2}
        np.testing.assert_array_equal(got, want)
    fixed = data.load_wafer_data("wm811k", path=path, size=32, trust=True)
    np.testing.assert_array_equal(fixed.maps, wafers.resize_maps(np.array(maps, dtype=object), 32))
