"""The real WM-811K file (``LSWMD.pkl``): verified, legacy-aware reading and a pickle-free cache.

The Kaggle file is a pandas 0.x DataFrame pickled under Python 2. It is checked
(streamed SHA-256) before it is unpickled, read by a restricted unpickler that
maps the Python-2 and old pandas/NumPy names and refuses anything else, then
converted to fixed-size maps and cached as a ``.npz`` (no pickles) that later
runs read in well under a second.

Notebooks use :func:`course_utils.classification.data.load_wafer_data` (``source="wm811k"``),
which calls :func:`load_wm811k_fixed` here.
"""
from __future__ import annotations

import _compat_pickle
import hashlib
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from course_utils.core import config
from course_utils.core.checks import check_size
from course_utils.core.config import atomic_write
from course_utils.classification.wafers import CLASS_NAMES
from course_utils.classification.wafers import WaferSet, map_shapes, resize_maps

__all__ = ["WM811K_SHA256", "WM811K_FILENAME", "PICKLE_GLOBALS", "file_sha256",
           "load_wm811k", "save_cache", "load_wm811k_fixed"]

# ---------------------------------------------------------------------------
# The real WM-811K file (LSWMD.pkl): verified, legacy-aware unpickling
# ---------------------------------------------------------------------------
#: SHA-256 of the Kaggle ``LSWMD.pkl`` (2,095,505,977 bytes, 811,457 wafers).
WM811K_SHA256 = "1d04fccb3dd3176b276878b926b20fead7e077c5751e4d353ea9741a5e7b5c65"
WM811K_FILENAME = config.WM811K_FILENAME
_WM811K_COLUMNS = ("waferMap", "dieSize", "lotName", "waferIndex", "trianTestLabel", "failureType")
#: Every global the real ``LSWMD.pkl`` asks for, as ``(module, name)`` written in the file (Python 2
#: names, before any renaming). Measured on the Kaggle file; ``tests/py2pickle.py`` writes exactly these.
PICKLE_GLOBALS = frozenset({
    ("__builtin__", "slice"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("pandas.core.frame", "DataFrame"),
    ("pandas.core.internals", "BlockManager"),
    ("pandas.indexes.base", "Index"),
    ("pandas.indexes.base", "_new_Index"),
    ("pandas.indexes.range", "RangeIndex"),
})

# Old pandas (0.x, Python 2) pickles refer to modules that have moved since.
_MODULE_RENAMES = (
    ("pandas.indexes", "pandas.core.indexes"),
    ("pandas.tslib", "pandas._libs.tslibs"),
    ("pandas._libs.tslib", "pandas._libs.tslibs"),
)
# Globals a WM-811K DataFrame pickle may use. Anything else is refused, even for a
# trusted file: a DataFrame of arrays never needs e.g. os.system or eval.
_ALLOWED_GLOBALS = {
    "numpy": {"ndarray", "dtype"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.numeric": {"_frombuffer"},
    "copyreg": {"_reconstructor", "__newobj__"},
    "builtins": {"object", "slice", "list", "dict", "tuple", "set", "frozenset", "int", "float",
                 "complex", "str", "bytes", "bytearray", "range"},
    "_codecs": {"encode"},
}
_ALLOWED_MODULE_PREFIXES = ("numpy.dtypes", "pandas.core.frame", "pandas.core.series", "pandas.core.internals",
                            "pandas.core.indexes", "pandas._libs.internals", "pandas.core.arrays",
                            "pandas.core.dtypes.dtypes", "pandas._libs.tslibs")


def _legacy_class_map() -> dict:
    """pandas' own table of moved classes (``pandas.compat.pickle_compat``), if this pandas has one."""
    try:
        from pandas.compat import pickle_compat
    except ImportError:  # pragma: no cover - pandas always ships it today
        return {}
    return dict(getattr(pickle_compat, "_class_locations_map", {}))


def _python3_name(module: str, name: str) -> tuple[str, str]:
    """Python 3's name for a global a Python-2 pickle refers to (``__builtin__.slice`` -> ``builtins.slice``).

    The default ``find_class`` applies the standard library's tables
    (``_compat_pickle.NAME_MAPPING`` / ``IMPORT_MAPPING``) itself; an overriding
    ``find_class`` receives the raw Python-2 names and must apply them first.
    """
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class _LegacyUnpickler(pickle.Unpickler):
    """The fast C unpickler with the two fixes a pandas-0.x / Python-2 pickle needs.

    * ``find_class`` maps Python-2 names (``__builtin__`` -> ``builtins``, the
      standard library's own tables), moved modules (``pandas.indexes.base`` ->
      ``pandas.core.indexes.base``, pandas' own ``pickle_compat`` table,
      ``numpy.core`` -> ``numpy._core``) and refuses globals outside a short
      allow-list of NumPy / pandas internals.
    * Python-2 byte strings are decoded with ``encoding="latin1"`` (set by the
      caller), which is also what NumPy needs for arrays pickled under Python 2.
    pandas' own ``pickle_compat.Unpickler`` builds on the pure-Python unpickler
    (about 3x slower on a 40,000-row stand-in of the file, see
    ``benchmarks/bench_data.py``), so only its table of moved classes is reused here.
    """

    _class_map = _legacy_class_map()

    def find_class(self, module: str, name: str):
        module, name = _python3_name(module, name)
        for old, new in _MODULE_RENAMES:
            if module == old or module.startswith(old + "."):
                module = new + module[len(old):]
        module, name = self._class_map.get((module, name), (module, name))
        if module.startswith("numpy.core") and np.lib.NumpyVersion(np.__version__) >= "2.0.0":
            module = "numpy._core" + module[len("numpy.core"):]
        allowed = name in _ALLOWED_GLOBALS.get(module, ()) or module.startswith(_ALLOWED_MODULE_PREFIXES)
        if not allowed:
            raise pickle.UnpicklingError(
                f"the pickle refers to {module}.{name}, which a WM-811K DataFrame never contains; "
                "refusing to load it"
            )
        if (module, name) in (("pandas.core.internals", "BlockManager"),
                              ("pandas.core.internals.managers", "BlockManager")):
            return _EmptyBlockManager  # pandas 0.x wrote BlockManager() with no arguments
        return super().find_class(module, name)


class _EmptyBlockManager:
    """Stands in for ``BlockManager`` in ``NEWOBJ``: today's class needs arguments to be created.

    The empty manager it returns is filled by ``BlockManager.__setstate__``,
    which still reads the pandas 0.14.1+ state layout (as ``pickle_compat`` does).
    """

    def __new__(cls, *args):
        from pandas.core.internals import BlockManager

        return BlockManager.__new__(BlockManager, (), [], False)


def file_sha256(path, chunk_size: int = 1 << 24) -> str:
    """Hex SHA-256 of a file, read in chunks of ``chunk_size`` bytes (never whole).

    Used by: benchmarks/bench_data.py, tests/classification/test_wm811k.py"""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _resolve_wm811k_path(path) -> Path:
    """The file to read: ``path`` (a file or its folder) or the default ``config.data_dir()/LSWMD.pkl``."""
    default = config.data_dir() / WM811K_FILENAME
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or pathlib.Path) or None; got {type(path).__name__}.")
    file = default if path is None else Path(path).expanduser()
    if file.is_dir():
        file = file / WM811K_FILENAME
    if not file.is_file():
        if path is None:
            where = f"WM-811K file not found at the default location {str(default)!r}. "
        else:
            where = (f"path={str(path)!r}: no WM-811K file there (looked for {str(file)!r}); check the path you "
                     "passed (path=..., DATA_PATH or --data-path). ")
        raise FileNotFoundError(where + config.wm811k_download_help(file))
    return file


def _check_wm811k_file(path: Path, trust: bool) -> str:
    """Check ``path`` looks like a pickle and has the known hash; returns its SHA-256."""
    with open(path, "rb") as f:
        head = f.read(2)
    if not head or head[:1] not in (b"\x80", b"(", b"c", b"}", b"]"):
        raise ValueError(
            f"path={str(path)!r} is not a pickle file (it starts with {head!r}). "
            f"Pass the Kaggle WM-811K file {WM811K_FILENAME} (about 2.1 GB), not an extracted or converted copy."
        )
    sha = file_sha256(path)
    if sha != WM811K_SHA256 and not trust:
        raise ValueError(
            f"path={str(path)!r} has SHA-256 {sha}, not the one of the Kaggle {WM811K_FILENAME} "
            f"({WM811K_SHA256}). Unpickling a file runs code stored in it, so an unknown file is refused. "
            "Re-download the original file, or pass trust=True if you made this file yourself and trust it."
        )
    return sha


def _unreadable_advice(path: Path, sha: str, err: Exception) -> str:
    """What to tell a user whose file could not be unpickled: the fix depends on whether it is the Kaggle file."""
    what = f"path={str(path)!r} could not be read as a WM-811K pickle ({type(err).__name__}: {err})."
    if sha == WM811K_SHA256:
        import sys

        return (f"{what} The file is the genuine Kaggle {WM811K_FILENAME} (its SHA-256 matches), so it is fine "
                "and re-downloading will not help: this is a bug of the course kit with your versions "
                f"(Python {sys.version.split()[0]}, NumPy {np.__version__}, pandas {pd.__version__}). Please report "
                "it with this message; meanwhile use DATA_SOURCE='synthetic'.")
    return (f"{what} It is not the Kaggle file (SHA-256 {sha}, expected {WM811K_SHA256}) and you passed "
            f"trust=True: check that it is a WM-811K DataFrame pickle, or re-download {WM811K_FILENAME} from Kaggle "
            "('WM-811K wafer map').")


def _unwrap_labels(column) -> np.ndarray:
    """WM-811K stores labels as nested arrays ``[['Loc']]`` (or empty ``(0, 0)``); return plain strings.

    Returns a unicode array ``(N,)``; an empty label becomes ``""``.
    """
    def one(value):
        if isinstance(value, (str, bytes)):
            text = value
        else:
            flat = np.ravel(np.asarray(value, dtype=object))
            text = flat[0] if len(flat) else ""
        return text.decode("latin1") if isinstance(text, bytes) else str(text)

    return np.array([one(v) for v in column], dtype=str)


def load_wm811k(path=None, *, trust: bool = False, keep_unlabeled: bool = False) -> WaferSet:
    """Load the original WM-811K pickle (``LSWMD.pkl``) with its maps at their own sizes.

    The file is a pandas 0.x DataFrame pickled under Python 2, which plain
    ``pd.read_pickle`` can no longer read; it is checked (streamed SHA-256)
    before it is unpickled, because unpickling runs code stored in the file.

    Parameters
    ----------
    path : path-like or None
        The pickle (or the folder holding ``LSWMD.pkl``); ``None`` means
        ``config.data_dir() / "LSWMD.pkl"``.
    trust : bool
        Accept a file whose SHA-256 is not the Kaggle file's (e.g. a subset you
        wrote yourself). The unpickler still refuses globals outside NumPy/pandas.
    keep_unlabeled : bool
        Keep the 638,507 wafers without a failure type (label ``-1``).

    Returns
    -------
    WaferSet
        ``maps`` is an object array of 2-D ``uint8`` maps of varying size;
        ``labels`` ``int64`` (-1 = unlabeled); ``lot`` and ``official_split``
        unicode arrays; ``wafer_index`` ``int16``; ``die_size`` ``float32``;
        ``grid_shape`` ``int32 (N, 2)``; ``info`` holds ``sha256``, ``path``
        and ``n_rows`` (rows in the file).

    Used by: tests/classification/test_data.py, tests/classification/test_wm811k.py"""
    if not isinstance(trust, bool) or not isinstance(keep_unlabeled, bool):
        raise TypeError("trust and keep_unlabeled must be True or False.")
    path = _resolve_wm811k_path(path)
    sha = _check_wm811k_file(path, trust)
    try:
        with open(path, "rb") as f:
            frame = _LegacyUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as err:
        raise ValueError(_unreadable_advice(path, sha, err)) from err
    missing = [c for c in _WM811K_COLUMNS if not isinstance(frame, pd.DataFrame) or c not in frame.columns]
    if missing:
        what = f"columns {list(frame.columns)}" if isinstance(frame, pd.DataFrame) else type(frame).__name__
        raise ValueError(
            f"path={str(path)!r} holds {what}, not the WM-811K table (missing {missing}). "
            f"Pass the Kaggle file {WM811K_FILENAME}."
        )
    return _waferset_from_frame(frame, sha=sha, path=path, keep_unlabeled=keep_unlabeled)


def _waferset_from_frame(frame: pd.DataFrame, *, sha: str, path: Path, keep_unlabeled: bool) -> WaferSet:
    names = _unwrap_labels(frame["failureType"].to_numpy())
    lookup = {name: i for i, name in enumerate(CLASS_NAMES)}
    unknown = sorted({str(n) for n in np.unique(names)} - set(lookup) - {""})  # str: no np.str_ repr
    if unknown:
        raise ValueError(f"failureType holds unknown classes {unknown}; expected {list(CLASS_NAMES)}.")
    labels = np.full(len(names), -1, dtype=np.int64)
    for name, i in lookup.items():
        labels[names == name] = i
    keep = slice(None) if keep_unlabeled else np.flatnonzero(labels >= 0)
    maps = np.asarray(frame["waferMap"].to_numpy(), dtype=object)[keep]
    return WaferSet(
        maps=maps,
        labels=labels[keep],
        lot=frame["lotName"].to_numpy()[keep].astype(str),
        wafer_index=frame["waferIndex"].to_numpy()[keep].astype(np.int16),
        die_size=frame["dieSize"].to_numpy()[keep].astype(np.float32),
        official_split=_unwrap_labels(frame["trianTestLabel"].to_numpy()[keep]),
        grid_shape=map_shapes(maps),
        source="wm811k",
        info={"sha256": sha, "path": str(path), "n_rows": len(frame)},
    )


# ---------------------------------------------------------------------------
# Pickle-free cache of the converted (fixed-size) set
# ---------------------------------------------------------------------------
#: Bump when the cache layout or the conversion changes; old caches are rebuilt.
CACHE_FORMAT_VERSION = 1
_CACHE_ARRAYS = ("maps", "labels", "lot", "wafer_index", "die_size", "official_split", "grid_shape")


def _cache_path(size=64, keep_unlabeled: bool = False, cache_dir=None) -> Path:
    """Where the fixed-size WM-811K set is cached: ``config.data_dir()/cache/wm811k_<H>x<W>[_all].npz``."""
    h, w = check_size(size)
    folder = Path(cache_dir) if cache_dir is not None else config.cache_dir()
    return folder / f"wm811k_{h}x{w}{'_all' if keep_unlabeled else ''}.npz"


def _source_stamp(path: Path) -> dict:
    st = path.stat()
    return {"source_bytes": int(st.st_size), "source_mtime_ns": int(st.st_mtime_ns)}


def save_cache(ws: WaferSet, file, *, meta: dict) -> Path:
    """Write a fixed-size WaferSet to ``file`` (.npz, no pickles) atomically.

    Strings are stored as fixed-width unicode arrays; ``meta`` (JSON-serialisable)
    is stored beside them and returned by :func:`_read_cache`.

    Used by: benchmarks/bench_data.py"""
    if not ws.is_fixed_size:
        raise ValueError("Only fixed-size WaferSets can be cached; resize the maps first (wafers.resize_maps).")
    arrays = {name: getattr(ws, name) for name in _CACHE_ARRAYS if getattr(ws, name) is not None}
    arrays["class_names"] = np.array(ws.class_names, dtype=str)
    arrays["meta"] = np.array(json.dumps({**meta, "format_version": CACHE_FORMAT_VERSION, "info": ws.info}))
    return atomic_write(file, lambda f: np.savez(f, **arrays))


def _read_cache(file) -> tuple[WaferSet, dict]:
    """Load a cache written by :func:`save_cache`: ``(WaferSet, meta)`` (``allow_pickle=False``)."""
    with np.load(file, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        arrays = {name: npz[name] for name in _CACHE_ARRAYS if name in npz.files}
        class_names = tuple(str(c) for c in npz["class_names"])
    ws = WaferSet(**arrays, class_names=class_names, source="wm811k", info=meta.get("info", {}))
    return ws, meta


def _cache_is_valid(meta: dict, *, stamp: dict | None, size, keep_unlabeled: bool, path: Path, trust: bool) -> bool:
    """True when the cache was made by this format version, at this size, from this source file."""
    if meta.get("format_version") != CACHE_FORMAT_VERSION or meta.get("size") != list(check_size(size)):
        return False
    if meta.get("keep_unlabeled") != keep_unlabeled:
        return False
    if stamp is None:  # the source file is gone: the converted copy of the Kaggle file is all there is
        return meta.get("sha256") == WM811K_SHA256 or trust
    if all(meta.get(k) == v for k, v in stamp.items()):
        return True  # same size and modification time: same file (as git and make assume)
    # the file was touched or replaced: only its content decides
    return meta.get("source_bytes") == stamp["source_bytes"] and meta.get("sha256") == file_sha256(path)


def load_wm811k_fixed(path, *, size, trust: bool, keep_unlabeled: bool, cache: bool, verbose: bool) -> WaferSet:
    """The fixed-size WM-811K set, from the cache when it is valid, else converted (and cached).

    Used by: course_utils.classification.data"""
    src = None if path is None else Path(path).expanduser()
    if src is not None and src.is_dir():
        src = src / WM811K_FILENAME
    default_src = config.data_dir() / WM811K_FILENAME
    src = src or default_src
    file = _cache_path(size, keep_unlabeled)
    stamp = _source_stamp(src) if src.is_file() else None
    if cache and file.is_file() and (stamp is not None or path is None):
        try:
            ws, meta = _read_cache(file)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:  # rebuilt, never trusted
            if verbose:
                print(f"Ignoring unreadable cache {file} ({err}); converting again.")
        else:
            if _cache_is_valid(meta, stamp=stamp, size=size, keep_unlabeled=keep_unlabeled, path=src,
                               trust=trust):
                ws.info["cache"] = str(file)
                return ws
    raw = load_wm811k(src, trust=trust, keep_unlabeled=keep_unlabeled)
    ws = WaferSet(
        maps=resize_maps(raw.maps, size),
        labels=raw.labels, lot=raw.lot, wafer_index=raw.wafer_index, die_size=raw.die_size,
        official_split=raw.official_split, grid_shape=raw.grid_shape, source="wm811k", info=dict(raw.info),
    )
    if cache:
        # the stamp taken before reading: a file replaced while it was converted is hashed again next time
        meta = {"sha256": raw.info["sha256"], "size": list(check_size(size)), "keep_unlabeled": keep_unlabeled,
                **(stamp or _source_stamp(src))}
        save_cache(ws, file, meta=meta)
        ws.info["cache"] = str(file)
        if verbose:
            print(f"Converted {len(ws):,} WM-811K wafers to {ws.maps.shape[1]}x{ws.maps.shape[2]}; cached in {file}")
    return ws

