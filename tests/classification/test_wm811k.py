"""Tests of course_utils.classification.wm811k: the real file's pickle format, the safe unpickler, errors, the cache."""
import hashlib
import os
import pickle
import pickletools

import numpy as np
import pandas as pd
import pytest

from course_utils.classification import data, wafers, wm811k
from conftest import expected_label
from py2pickle import make_frame, nested_label, write_wm811k_pickle


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
    ws = wm811k.load_wm811k(path, trust=True, keep_unlabeled=True)
    assert len(ws) == len(frame) and ws.source == "wm811k" and not ws.is_fixed_size
    np.testing.assert_array_equal(ws.labels, [expected_label(c) for c in frame.failureType])
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
    ws = wm811k.load_wm811k(path, trust=True)
    labeled = [c.size > 0 for c in frame.failureType]
    assert len(ws) == sum(labeled) and (ws.labels >= 0).all()
    np.testing.assert_array_equal(ws.lot, frame.lotName[labeled].to_numpy().astype(str))


def test_unknown_hash_is_refused_unless_trusted(legacy_file, monkeypatch):
    path, _ = legacy_file
    with pytest.raises(ValueError, match=r"SHA-256 .*trust=True"):
        wm811k.load_wm811k(path)
    assert len(wm811k.load_wm811k(path, trust=True)) > 0
    monkeypatch.setattr(wm811k, "WM811K_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(wm811k.load_wm811k(path)) > 0  # the known hash needs no trust


def test_file_sha256_streams_in_chunks(tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(os.urandom(10_000))
    assert wm811k.file_sha256(f, chunk_size=333) == hashlib.sha256(f.read_bytes()).hexdigest()


def test_missing_file_says_where_to_get_it(data_home):
    with pytest.raises(FileNotFoundError, match=r"Kaggle.*WM-811K.*LSWMD\.pkl"):
        wm811k.load_wm811k()
    with pytest.raises(FileNotFoundError, match=str(data_home / "LSWMD.pkl")):
        data.load_wafer_data("wm811k")
    with pytest.raises(TypeError, match="path must be a file path"):
        wm811k.load_wm811k(123)


def test_wrong_files_are_rejected_clearly(tmp_path):
    text = tmp_path / "notes.pkl"
    text.write_text("wafer,label\n")
    with pytest.raises(ValueError, match="not a pickle file"):
        wm811k.load_wm811k(text, trust=True)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(ValueError, match="not the WM-811K table"):
        wm811k.load_wm811k(other, trust=True)
    wrong_columns = tmp_path / "wrong.pkl"
    write_wm811k_pickle(pd.DataFrame({"x": [1.0, 2.0]}), wrong_columns)
    with pytest.raises(ValueError, match=r"missing \['waferMap'"):
        wm811k.load_wm811k(wrong_columns, trust=True)
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(write_wm811k_pickle(make_frame(8), tmp_path / "ok.pkl").read_bytes()[:500])
    with pytest.raises(ValueError, match="could not be read as a WM-811K pickle"):
        wm811k.load_wm811k(truncated, trust=True)


def test_trusted_file_still_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(ValueError, match="refusing"):
        wm811k.load_wm811k(evil, trust=True)
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
    raw = wm811k.load_wm811k(path, trust=True)
    np.testing.assert_array_equal(first.maps, wafers.resize_maps(raw.maps, 16))

    def no_conversion(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(wm811k, "load_wm811k", no_conversion)
    again = data.load_wafer_data("wm811k", path=path, size=16)
    assert again.info["cache"] == str(cache)
    for name in ("maps", "labels", "lot", "wafer_index", "die_size", "official_split", "grid_shape"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
        assert getattr(again, name).dtype == getattr(first, name).dtype
    os.utime(path, ns=(1, 1))  # touched, same content: the hash decides, still valid
    data.load_wafer_data("wm811k", path=path, size=16)


def test_cache_is_rebuilt_when_source_size_or_version_change(tmp_path, data_home, monkeypatch):
    path = write_wm811k_pickle(make_frame(40, seed=0), tmp_path / "LSWMD.pkl")
    a = data.load_wafer_data("wm811k", path=path, size=8, trust=True)
    write_wm811k_pickle(make_frame(48, seed=1), path)  # new content
    b = data.load_wafer_data("wm811k", path=path, size=8, trust=True)
    assert len(b) != len(a) and b.info["sha256"] != a.info["sha256"]
    c = data.load_wafer_data("wm811k", path=path, size=12, trust=True)
    assert c.maps.shape[1:] == (12, 12) and (data_home / "cache" / "wm811k_8x8.npz").is_file()
    monkeypatch.setattr(wm811k, "CACHE_FORMAT_VERSION", wm811k.CACHE_FORMAT_VERSION + 1)
    calls = []
    real = wm811k.load_wm811k
    monkeypatch.setattr(wm811k, "load_wm811k", lambda *a, **k: calls.append(1) or real(*a, **k))
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




# ---------------------------------------------------------------------------
# The replica is the real file's twin (issue: the real LSWMD.pkl was refused)
# ---------------------------------------------------------------------------
def _stream_globals(raw: bytes) -> tuple[set, set]:
    """(globals as (module, name), protocols) named in a pickle's opcode stream."""
    found, protocols = set(), set()
    for op, arg, _ in pickletools.genops(raw):
        if op.name == "GLOBAL":
            found.add(tuple(arg.split(" ", 1)))
        elif op.name == "STACK_GLOBAL":
            found.add(("<stack>", "<global>"))
        elif op.name == "PROTO":
            protocols.add(arg)
    return found, protocols


#: The globals the Kaggle LSWMD.pkl asks for, measured on the real file (issue #10, "Facts about the real
#: file"): the independent reference that both wm811k.PICKLE_GLOBALS and the replica writer are held to.
REAL_FILE_GLOBALS = {
    ("__builtin__", "slice"), ("numpy", "dtype"), ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("pandas.core.frame", "DataFrame"), ("pandas.core.internals", "BlockManager"),
    ("pandas.indexes.base", "Index"), ("pandas.indexes.base", "_new_Index"), ("pandas.indexes.range", "RangeIndex"),
}


def test_replica_asks_for_exactly_the_real_files_globals(legacy_file):
    path, _ = legacy_file
    found, protocols = _stream_globals(path.read_bytes())
    assert protocols == {2}  # the real file is protocol 2 (Python 2's highest)
    assert found == REAL_FILE_GLOBALS
    assert set(wm811k.PICKLE_GLOBALS) == REAL_FILE_GLOBALS


def test_python2_names_are_mapped_with_the_standard_tables():
    import _compat_pickle

    assert wm811k._python3_name("__builtin__", "slice") == ("builtins", "slice")
    assert wm811k._python3_name("copy_reg", "_reconstructor") == ("copyreg", "_reconstructor")
    for (old_module, old_name), new in list(_compat_pickle.NAME_MAPPING.items())[:20]:
        assert wm811k._python3_name(old_module, old_name) == new
    assert wm811k._python3_name("numpy", "ndarray") == ("numpy", "ndarray")  # untouched


def test_every_global_of_the_real_file_is_accepted(tmp_path):
    """Each (module, name) the real file asks for resolves; this failed for __builtin__.slice before."""
    unpickler = wm811k._LegacyUnpickler(open(os.devnull, "rb"), encoding="latin1")
    for module, name in sorted(wm811k.PICKLE_GLOBALS):
        assert unpickler.find_class(module, name) is not None, (module, name)
    # and to today's objects, not to look-alikes
    assert unpickler.find_class("__builtin__", "slice") is slice
    assert unpickler.find_class("numpy", "ndarray") is np.ndarray and unpickler.find_class("numpy", "dtype") is np.dtype
    assert unpickler.find_class("pandas.core.frame", "DataFrame") is pd.DataFrame
    assert unpickler.find_class("numpy.core.multiarray", "_reconstruct") is np._core.multiarray._reconstruct


def test_replica_with_slice_placements_loads_with_exact_values(legacy_file):
    """The float block's columns (1, 3) are pickled as slice(1, 5, 2), as pandas 0.19 stored them."""
    path, frame = legacy_file
    raw = path.read_bytes()
    assert b"c__builtin__\nslice\n" in raw
    ws = wm811k.load_wm811k(path, trust=True)
    labeled = np.array([c.size > 0 for c in frame.failureType])
    np.testing.assert_array_equal(ws.die_size, frame.dieSize[labeled].to_numpy().astype(np.float32))
    np.testing.assert_array_equal(ws.wafer_index, frame.waferIndex[labeled].to_numpy().astype(np.int16))
    for got, want in zip(ws.maps, frame.waferMap[labeled]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("module, name", [("__builtin__", "eval"), ("os", "system"), ("posix", "system"),
                                          ("subprocess", "Popen"), ("__builtin__", "getattr")])
def test_foreign_globals_are_refused_even_when_trusted(tmp_path, module, name):
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"U\x04echo\x85R.")
    with pytest.raises(ValueError, match="refusing to load it"):
        wm811k.load_wm811k(evil, trust=True)


def test_genuine_file_that_fails_to_load_is_reported_as_a_kit_bug(tmp_path, monkeypatch):
    broken = tmp_path / "LSWMD.pkl"
    broken.write_bytes(write_wm811k_pickle(make_frame(8), tmp_path / "ok.pkl").read_bytes()[:500])
    monkeypatch.setattr(wm811k, "WM811K_SHA256", hashlib.sha256(broken.read_bytes()).hexdigest())
    with pytest.raises(ValueError) as err:
        wm811k.load_wm811k(broken)
    text = str(err.value)
    assert "genuine Kaggle LSWMD.pkl" in text and "Please report" in text and "re-downloading will not help" in text
    assert "Re-download" not in text


def test_wrong_hash_names_both_hashes(legacy_file):
    path, _ = legacy_file
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError) as err:
        wm811k.load_wm811k(path)
    assert actual in str(err.value) and wm811k.WM811K_SHA256 in str(err.value)


def test_missing_explicit_path_names_the_path_given(data_home, tmp_path):
    given = tmp_path / "nonexistent" / "x.pkl"
    with pytest.raises(FileNotFoundError) as err:
        data.load_wafer_data("wm811k", path=given)
    text = str(err.value)
    assert text.startswith(f"path={str(given)!r}") and "check the path you passed" in text
    assert str(data_home) not in text  # the default location is not what the user asked for


# ---------------------------------------------------------------------------
# Issue 30: the cache without its source, a corrupt cache, unknown classes
# ---------------------------------------------------------------------------
def _fail_if_converted(*args, **kwargs):
    raise AssertionError("the cache should have been used")


def test_cache_without_its_source_is_trusted_only_for_the_kaggle_hash_or_trust(data_home, monkeypatch):
    data_home.mkdir(parents=True)
    source = write_wm811k_pickle(make_frame(24, seed=2), data_home / wm811k.WM811K_FILENAME)
    first = data.load_wafer_data("wm811k", size=8, trust=True)
    source.unlink()  # only the converted copy is left, made from a file that is not the Kaggle one
    with pytest.raises(FileNotFoundError):  # not trusted: the loader goes for the (missing) source
        data.load_wafer_data("wm811k", size=8)
    monkeypatch.setattr(wm811k, "load_wm811k", _fail_if_converted)
    trusted = data.load_wafer_data("wm811k", size=8, trust=True)  # trust=True vouches for it
    np.testing.assert_array_equal(trusted.maps, first.maps)
    monkeypatch.setattr(wm811k, "WM811K_SHA256", first.info["sha256"])  # as if it were the Kaggle file
    np.testing.assert_array_equal(data.load_wafer_data("wm811k", size=8).labels, first.labels)


def test_corrupt_cache_is_rebuilt_not_trusted(legacy_file, data_home, capsys):
    path, _ = legacy_file
    first = data.load_wafer_data("wm811k", path=path, size=8, trust=True)
    cache = data_home / "cache" / "wm811k_8x8.npz"
    cache.write_bytes(cache.read_bytes()[:100])  # truncated: np.load fails
    again = data.load_wafer_data("wm811k", path=path, size=8, trust=True, verbose=True)
    assert "Ignoring unreadable cache" in capsys.readouterr().out
    np.testing.assert_array_equal(again.maps, first.maps)
    with np.load(cache, allow_pickle=False) as npz:  # and the cache was written again, whole
        np.testing.assert_array_equal(npz["maps"], first.maps)


def test_unknown_failure_type_is_refused_by_name(tmp_path):
    frame = make_frame(8)
    frame.loc[1, "failureType"] = nested_label("Crack")
    path = write_wm811k_pickle(frame, tmp_path / "odd.pkl")
    with pytest.raises(ValueError, match=r"unknown classes \['Crack'\]"):
        wm811k.load_wm811k(path, trust=True)


# ---------------------------------------------------------------------------
# Issue 30, mutation testing: the unpickler's name table, messages in full, label cells
# ---------------------------------------------------------------------------
def test_names_of_other_pandas_and_numpy_versions_resolve_to_todays_objects():
    from pandas.core.internals import BlockManager

    unpickler = wm811k._LegacyUnpickler(open(os.devnull, "rb"), encoding="latin1")
    # pandas 1.x pickled Int64Index, removed in pandas 2 (pandas' own table of moved classes maps it)
    assert unpickler.find_class("pandas.core.indexes.numeric", "Int64Index") is pd.Index
    # NumPy 1.x pickled arrays (protocol 5) through numpy.core.numeric._frombuffer, now in numpy._core
    assert unpickler.find_class("numpy.core.numeric", "_frombuffer") is np._core.numeric._frombuffer
    # BlockManager, at its pandas-0.x home and at today's, is built empty (pandas 0.x wrote it without arguments)
    for module in ("pandas.core.internals", "pandas.core.internals.managers"):
        stand_in = unpickler.find_class(module, "BlockManager")
        assert stand_in is not BlockManager
        manager = stand_in()
        assert type(manager) is BlockManager and len(manager.blocks) == 0


def test_foreign_global_message_in_full(tmp_path):
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"\x80\x02cos\nsystem\nU\x04echo\x85R.")
    sha = hashlib.sha256(evil.read_bytes()).hexdigest()
    with pytest.raises(ValueError) as err:
        wm811k.load_wm811k(evil, trust=True)
    assert str(err.value) == (
        f"path={str(evil)!r} could not be read as a WM-811K pickle (UnpicklingError: the pickle refers to "
        "os.system, which a WM-811K DataFrame never contains; refusing to load it). It is not the Kaggle file "
        f"(SHA-256 {sha}, expected {wm811k.WM811K_SHA256}) and you passed trust=True: check that it is a WM-811K "
        "DataFrame pickle, or re-download LSWMD.pkl from Kaggle ('WM-811K wafer map')."
    )


def test_file_sha256_never_reads_more_than_a_chunk(tmp_path, monkeypatch):
    f = tmp_path / "blob.bin"
    f.write_bytes(os.urandom(1000))
    sizes = []

    class Recording:
        def __init__(self, *args):
            self.f = open(*args)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def read(self, size=-1):
            sizes.append(size)
            return self.f.read(size)

    monkeypatch.setattr(wm811k, "open", Recording, raising=False)
    assert wm811k.file_sha256(f, chunk_size=300) == hashlib.sha256(f.read_bytes()).hexdigest()
    assert sizes == [300] * 5  # 300 + 300 + 300 + 100, then the empty read that ends the loop


def test_path_errors_in_full(data_home, tmp_path):
    from course_utils.core import config

    with pytest.raises(TypeError) as err:
        wm811k.load_wm811k(123)
    assert str(err.value) == "path must be a file path (str or pathlib.Path) or None; got int."
    default = data_home / "LSWMD.pkl"
    with pytest.raises(FileNotFoundError) as err:
        wm811k.load_wm811k()
    assert str(err.value) == (f"WM-811K file not found at the default location {str(default)!r}. "
                              + config.wm811k_download_help(default))
    folder = tmp_path / "downloads"
    folder.mkdir()
    with pytest.raises(FileNotFoundError) as err:
        wm811k.load_wm811k(folder)
    looked = folder / "LSWMD.pkl"
    assert str(err.value) == (f"path={str(folder)!r}: no WM-811K file there (looked for {str(looked)!r}); check the "
                              "path you passed (path=..., DATA_PATH or --data-path). "
                              + config.wm811k_download_help(looked))


def test_a_folder_holding_the_file_is_read_as_the_file(tmp_path):
    write_wm811k_pickle(make_frame(8), tmp_path / "LSWMD.pkl")
    ws = wm811k.load_wm811k(tmp_path, trust=True)
    assert ws.info["path"] == str(tmp_path / "LSWMD.pkl") and len(ws) == 6  # rows 0 and 4 are unlabeled


def test_not_a_pickle_message_in_full(tmp_path):
    text = tmp_path / "notes.pkl"
    text.write_text("wafer,label\n")
    with pytest.raises(ValueError) as err:
        wm811k.load_wm811k(text, trust=True)
    assert str(err.value) == (f"path={str(text)!r} is not a pickle file (it starts with b'wa'). Pass the Kaggle "
                              "WM-811K file LSWMD.pkl (about 2.1 GB), not an extracted or converted copy.")


@pytest.mark.parametrize("obj, protocol, first, kind", [
    ({}, 0, b"(", "dict"), ({}, 1, b"}", "dict"), ([], 1, b"]", "list"), (slice, 0, b"c", "type"),
    ({}, 2, b"\x80", "dict"),
])
def test_every_pickle_opening_passes_the_header_check(tmp_path, obj, protocol, first, kind):
    """Protocols 0 and 1 start with an opcode, 2+ with PROTO (b'\\x80'): each reaches the unpickler."""
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    assert path.read_bytes()[:1] == first
    with pytest.raises(ValueError) as err:
        wm811k.load_wm811k(path, trust=True)
    assert str(err.value) == (f"path={str(path)!r} holds {kind}, not the WM-811K table (missing "
                              "['waferMap', 'dieSize', 'lotName', 'waferIndex', 'trianTestLabel', 'failureType']). "
                              "Pass the Kaggle file LSWMD.pkl.")


def test_wrong_columns_and_wrong_hash_messages_in_full(legacy_file, tmp_path):
    wrong = write_wm811k_pickle(pd.DataFrame({"x": [1.0, 2.0], "waferMap": [0.0, 1.0]}), tmp_path / "wrong.pkl")
    with pytest.raises(ValueError) as err:
        wm811k.load_wm811k(wrong, trust=True)
    assert str(err.value) == (f"path={str(wrong)!r} holds columns ['x', 'waferMap'], not the WM-811K table (missing "
                              "['dieSize', 'lotName', 'waferIndex', 'trianTestLabel', 'failureType']). "
                              "Pass the Kaggle file LSWMD.pkl.")
    path, _ = legacy_file
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError) as err:
        wm811k.load_wm811k(path)
    assert str(err.value) == (
        f"path={str(path)!r} has SHA-256 {sha}, not the one of the Kaggle LSWMD.pkl ({wm811k.WM811K_SHA256}). "
        "Unpickling a file runs code stored in it, so an unknown file is refused. Re-download the original file, "
        "or pass trust=True if you made this file yourself and trust it.")


def test_genuine_file_that_fails_to_load_message_in_full(tmp_path, monkeypatch):
    import platform

    broken = tmp_path / "LSWMD.pkl"
    broken.write_bytes(b"\x80\x02K")  # protocol 2, an int opcode, then the file ends
    monkeypatch.setattr(wm811k, "WM811K_SHA256", hashlib.sha256(broken.read_bytes()).hexdigest())
    with pytest.raises(ValueError) as err:
        wm811k.load_wm811k(broken)
    assert str(err.value) == (
        f"path={str(broken)!r} could not be read as a WM-811K pickle (UnpicklingError: pickle data was truncated). "
        "The file is the "
        "genuine Kaggle LSWMD.pkl (its SHA-256 matches), so it is fine and re-downloading will not help: this is a "
        f"bug of the course kit with your versions (Python {platform.python_version()}, NumPy {np.__version__}, "
        f"pandas {pd.__version__}). Please report it with this message; meanwhile use DATA_SOURCE='synthetic'.")


@pytest.mark.parametrize("trust, keep", [(True, "yes"), ("yes", False), (1, True)])
def test_trust_and_keep_unlabeled_must_be_bools(legacy_file, trust, keep):
    path, _ = legacy_file
    with pytest.raises(TypeError) as err:
        wm811k.load_wm811k(path, trust=trust, keep_unlabeled=keep)
    assert str(err.value) == "trust and keep_unlabeled must be True or False."


def test_info_names_the_file_its_hash_and_its_rows(legacy_file):
    path, frame = legacy_file
    ws = wm811k.load_wm811k(path, trust=True)
    assert ws.info == {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "path": str(path),
                       "n_rows": len(frame)}


def test_label_cells_of_every_kind_become_plain_strings():
    cells = np.empty(6, dtype=object)
    cells[:] = [np.array([["Loc"]], dtype=object), np.zeros((0, 0)), "Scratch", b"Donut",
                np.array([[b"Edge-Ring"]]), np.array([[b"Lot\xc4"]], dtype=object)]
    got = wm811k._unwrap_labels(cells)
    assert got.dtype.kind == "U"
    assert got.tolist() == ["Loc", "", "Scratch", "Donut", "Edge-Ring", "Lot\u00c4"]  # b"\xc4" is latin-1 Ä
    assert wm811k._unwrap_labels(np.empty(0, dtype=object)).dtype.kind == "U"  # no rows: still strings
