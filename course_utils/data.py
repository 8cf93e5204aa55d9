"""Wafer-map data: the in-memory container shared by every loader.

A :class:`WaferSet` holds wafer maps and their metadata as NumPy arrays. The
real WM-811K loader and the synthetic generator both return one, so a notebook
can switch ``DATA_SOURCE`` without touching anything else.

>>> ws = load_wafer_data("synthetic", n_samples=3000, size=64, seed=42)   # or "wm811k"
>>> train_idx, val_idx, test_idx = stratified_split(ws.labels, (0.65, 0.20, 0.15), seed=42)
>>> train_ds = WaferDataset.from_waferset(ws, train_idx, encoding="onehot")
>>> loader = make_loader(train_ds, batch_size=128, shuffle=True, seed=42)

Sections: fixed-size conversion (:func:`resize_maps`), the real file
(:func:`load_wm811k`, SHA-256 check, legacy unpickling), the pickle-free cache,
:func:`load_wafer_data`, writing the original format (:func:`write_wm811k_pickle`),
splits (:func:`stratified_split`, :func:`lot_split`, :func:`official_split`,
:func:`save_splits`) and model inputs (:func:`encode_maps`, :class:`WaferDataset`,
:func:`make_loader`).
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from . import config
from .config import CLASS_NAMES, atomic_write  # noqa: F401  (atomic_write is part of this module's API)


@dataclass
class WaferSet:
    """Wafer maps with labels and per-wafer metadata.

    Attributes
    ----------
    maps : np.ndarray
        Either a fixed-size ``uint8`` array of shape ``(N, H, W)`` or, for raw
        WM-811K maps of varying size, an object array of ``N`` 2-D ``uint8``
        arrays. Values: 0 off-wafer, 1 good die, 2 defective die.
    labels : np.ndarray
        ``int64`` array of shape ``(N,)``: index into ``class_names``, ``-1`` for
        an unlabeled wafer.
    class_names : tuple of str
        Names of the label indices (default: the 9 WM-811K classes).
    lot : np.ndarray or None
        ``str`` array ``(N,)``, lot name of each wafer.
    wafer_index : np.ndarray or None
        ``int16`` array ``(N,)``, position of the wafer in its lot (1-25).
    die_size : np.ndarray or None
        ``float32`` array ``(N,)``, number of dies on the wafer as given by WM-811K.
    official_split : np.ndarray or None
        ``str`` array ``(N,)``: ``"Training"``, ``"Test"`` or ``""`` (unlabeled).
    grid_shape : np.ndarray or None
        ``int32`` array ``(N, 2)``: height and width of the original die grid
        (kept when maps are resized to a fixed size).
    source : str
        ``"synthetic"`` or ``"wm811k"``.
    """

    maps: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...] = CLASS_NAMES
    lot: np.ndarray | None = None
    wafer_index: np.ndarray | None = None
    die_size: np.ndarray | None = None
    official_split: np.ndarray | None = None
    grid_shape: np.ndarray | None = None
    source: str = "synthetic"
    info: dict = field(default_factory=dict)

    _PER_WAFER = ("maps", "labels", "lot", "wafer_index", "die_size", "official_split", "grid_shape")

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.class_names = tuple(self.class_names)
        n = len(self.labels)
        for name in self._PER_WAFER:
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(
                    f"WaferSet.{name} has {len(value)} entries but labels has {n}; "
                    "every per-wafer array must have one entry per wafer."
                )
        if n and (self.labels.max() >= len(self.class_names) or self.labels.min() < -1):
            raise ValueError(
                f"WaferSet.labels must lie in [-1, {len(self.class_names) - 1}] "
                f"(-1 = unlabeled); got range [{self.labels.min()}, {self.labels.max()}]."
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def is_fixed_size(self) -> bool:
        """True when ``maps`` is one ``(N, H, W)`` array (ready for a model)."""
        return self.maps.dtype != object and self.maps.ndim == 3

    def subset(self, index: Sequence[int] | np.ndarray) -> "WaferSet":
        """A new WaferSet with the wafers at ``index`` (integer or boolean mask).

        Per-wafer arrays kept in ``info`` (NumPy arrays with one entry per wafer,
        e.g. ``source_index`` written by the balancing functions) are subset too.
        """
        index = np.asarray(index)
        n = len(self)
        kwargs = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in self._PER_WAFER and value is not None:
                value = value[index]
            kwargs[f.name] = value
        kwargs["info"] = {key: (value[index] if isinstance(value, np.ndarray) and value.ndim >= 1
                                and len(value) == n else value)
                          for key, value in self.info.items()}
        return WaferSet(**kwargs)

    def class_counts(self) -> np.ndarray:
        """``int64`` array ``(n_classes,)``: labeled wafers per class."""
        labeled = self.labels[self.labels >= 0]
        return np.bincount(labeled, minlength=len(self.class_names)).astype(np.int64)



# ---------------------------------------------------------------------------
# Fixed-size conversion (nearest neighbour, vectorised per grid shape)
# ---------------------------------------------------------------------------
def _check_size(size) -> tuple[int, int]:
    """``size`` as ``(height, width)``; an int means a square."""
    pair = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else size
    try:
        h, w = pair
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in (h, w))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"size={size!r} must be a positive integer (e.g. 64 for 64x64 maps) "
            "or a pair of positive integers (height, width)."
        )
    return int(h), int(w)


def nearest_index(n_in, n_out: int) -> np.ndarray:
    """Source index of every output pixel when ``n_in`` pixels are resampled to ``n_out``.

    Pixel centres are matched (``floor((i + 0.5) * n_in / n_out)``), the rule of
    PIL's NEAREST filter and of ``torch.nn.functional.interpolate(mode="nearest-exact")``.
    ``n_in`` may be an int (result ``(n_out,)``) or an array of lengths ``(m,)``
    (result ``(m, n_out)``, one row per length; the synthetic generator uses it so
    that its die grids are resized exactly like real maps).
    """
    n_in = np.asarray(n_in, dtype=np.int64)[..., None]
    return np.minimum(((np.arange(n_out) + 0.5) * n_in / n_out).astype(np.int64), n_in - 1)


def map_shapes(maps) -> np.ndarray:
    """``int32`` array ``(N, 2)``: height and width of every map in ``maps``.

    ``maps`` is a fixed-size array ``(N, H, W)`` or a sequence / object array of 2-D maps.
    """
    if isinstance(maps, np.ndarray) and maps.dtype != object:
        if maps.ndim != 3:
            raise ValueError(f"maps must have shape (N, H, W); got {maps.shape}.")
        return np.tile(np.array(maps.shape[1:], dtype=np.int32), (len(maps), 1))
    shapes = [np.shape(m) for m in maps]
    bad = [i for i, s in enumerate(shapes) if len(s) != 2 or 0 in s]
    if bad:
        raise ValueError(
            f"maps[{bad[0]}] has shape {shapes[bad[0]]}; every wafer map must be a non-empty 2-D array "
            f"({len(bad)} bad map(s) in total)."
        )
    return np.array(shapes, dtype=np.int32).reshape(-1, 2)


def resize_maps(maps, size=64) -> np.ndarray:
    """Resize wafer maps of any grid size to one fixed size with nearest neighbour.

    Nearest neighbour copies die states, so the values stay in {0, 1, 2}
    (no blending of "good" and "defective" into a meaningless 1.5).

    Parameters
    ----------
    maps : np.ndarray ``(N, H, W)`` or sequence / object array of ``N`` 2-D arrays
        Die states 0 (off wafer), 1 (good die), 2 (defective die); the maps may
        have different shapes (WM-811K has 632 distinct die grids).
    size : int or (int, int)
        Output height and width in pixels (an int means a square), default 64.

    Returns
    -------
    np.ndarray
        ``uint8`` array ``(N, height, width)``.

    Notes
    -----
    Maps are grouped by shape; each group is stacked and resampled with one
    fancy-indexing call using precomputed source rows and columns, so the cost
    is one NumPy operation per distinct shape, not per map.
    """
    out_h, out_w = _check_size(size)
    if isinstance(maps, np.ndarray) and maps.dtype != object:
        if maps.ndim != 3:
            raise ValueError(f"maps must have shape (N, H, W) or be a sequence of 2-D maps; got {maps.shape}.")
        return _resize_block(maps, out_h, out_w)
    maps = maps if isinstance(maps, np.ndarray) else _object_array(maps)
    shapes = map_shapes(maps)
    uniq, group_of = np.unique(shapes, axis=0, return_inverse=True)
    order = np.argsort(group_of.ravel(), kind="stable")  # wafer indices, grouped by shape
    bounds = np.cumsum(np.bincount(group_of.ravel(), minlength=len(uniq)))[:-1]
    out = np.empty((len(maps), out_h, out_w), dtype=np.uint8)
    for idx in np.split(order, bounds):
        out[idx] = _resize_block(np.stack(maps[idx]), out_h, out_w)
    return out


def _resize_block(stack: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Resize a block of same-shape maps ``(k, h, w)`` to ``uint8 (k, out_h, out_w)`` in one indexing call."""
    h, w = stack.shape[1:]
    if 0 in (h, w):
        raise ValueError(f"maps have shape {(h, w)}; every wafer map must be a non-empty 2-D array.")
    resized = stack[:, nearest_index(h, out_h)[:, None], nearest_index(w, out_w)[None, :]]
    if resized.size and (resized.min() < 0 or resized.max() > 2):
        raise ValueError(
            f"maps of shape {(h, w)} hold values outside {{0, 1, 2}} (range [{resized.min()}, {resized.max()}]); "
            "wafer maps store die states 0 (off wafer), 1 (good die), 2 (defective die)."
        )
    return resized.astype(np.uint8, copy=False)


def _object_array(items) -> np.ndarray:
    """A 1-D object array holding ``items`` as they are (no broadcasting into one block)."""
    items = list(items)
    arr = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        arr[i] = item
    return arr


# ---------------------------------------------------------------------------
# The real WM-811K file (LSWMD.pkl): verified, legacy-aware unpickling
# ---------------------------------------------------------------------------
#: SHA-256 of the Kaggle ``LSWMD.pkl`` (2,095,505,977 bytes, 811,457 wafers).
WM811K_SHA256 = "1d04fccb3dd3176b276878b926b20fead7e077c5751e4d353ea9741a5e7b5c65"
WM811K_FILENAME = "LSWMD.pkl"
WM811K_COLUMNS = ("waferMap", "dieSize", "lotName", "waferIndex", "trianTestLabel", "failureType")
_DOWNLOAD_HELP = (
    "Download the Kaggle data set 'WM-811K wafer map' (https://www.kaggle.com/datasets/qingyi/wm811k-wafer-map), "
    "unzip it and put the file {name} at {where} (or pass path=...). "
    "Without it, use DATA_SOURCE='synthetic'."
)

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


class _LegacyUnpickler(pickle.Unpickler):
    """The fast C unpickler with the two fixes a pandas-0.x / Python-2 pickle needs.

    * ``find_class`` maps moved modules (``pandas.indexes.base`` ->
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
    """Hex SHA-256 of a file, read in chunks of ``chunk_size`` bytes (never whole)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _resolve_wm811k_path(path) -> Path:
    default = config.data_dir() / WM811K_FILENAME
    if path is None:
        path = default
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or pathlib.Path) or None; got {type(path).__name__}.")
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / WM811K_FILENAME
    if not path.is_file():
        raise FileNotFoundError(
            f"path={str(path)!r}: WM-811K file not found. "
            + _DOWNLOAD_HELP.format(name=WM811K_FILENAME, where=str(default))
        )
    return path


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
    """
    if not isinstance(trust, bool) or not isinstance(keep_unlabeled, bool):
        raise TypeError("trust and keep_unlabeled must be True or False.")
    path = _resolve_wm811k_path(path)
    sha = _check_wm811k_file(path, trust)
    try:
        with open(path, "rb") as f:
            frame = _LegacyUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as err:
        raise ValueError(
            f"path={str(path)!r} could not be read as a WM-811K pickle ({type(err).__name__}: {err}). "
            f"Re-download {WM811K_FILENAME} from Kaggle ('WM-811K wafer map')."
        ) from err
    missing = [c for c in WM811K_COLUMNS if not isinstance(frame, pd.DataFrame) or c not in frame.columns]
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
    unknown = sorted(set(np.unique(names)) - set(lookup) - {""})
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


def cache_path(size=64, keep_unlabeled: bool = False, cache_dir=None) -> Path:
    """Where the fixed-size WM-811K set is cached: ``config.data_dir()/cache/wm811k_<H>x<W>[_all].npz``."""
    h, w = _check_size(size)
    folder = Path(cache_dir) if cache_dir is not None else config.data_dir() / "cache"
    return folder / f"wm811k_{h}x{w}{'_all' if keep_unlabeled else ''}.npz"


def _source_stamp(path: Path) -> dict:
    st = path.stat()
    return {"source_bytes": int(st.st_size), "source_mtime_ns": int(st.st_mtime_ns)}


def save_cache(ws: WaferSet, file, *, meta: dict) -> Path:
    """Write a fixed-size WaferSet to ``file`` (.npz, no pickles) atomically.

    Strings are stored as fixed-width unicode arrays; ``meta`` (JSON-serialisable)
    is stored beside them and returned by :func:`read_cache`.
    """
    if not ws.is_fixed_size:
        raise ValueError("Only fixed-size WaferSets can be cached; resize the maps first (data.resize_maps).")
    arrays = {name: getattr(ws, name) for name in _CACHE_ARRAYS if getattr(ws, name) is not None}
    arrays["class_names"] = np.array(ws.class_names, dtype=str)
    arrays["meta"] = np.array(json.dumps({**meta, "format_version": CACHE_FORMAT_VERSION, "info": ws.info}))
    return atomic_write(file, lambda f: np.savez(f, **arrays))


def read_cache(file) -> tuple[WaferSet, dict]:
    """Load a cache written by :func:`save_cache`: ``(WaferSet, meta)`` (``allow_pickle=False``)."""
    with np.load(file, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        arrays = {name: npz[name] for name in _CACHE_ARRAYS if name in npz.files}
        class_names = tuple(str(c) for c in npz["class_names"])
    ws = WaferSet(**arrays, class_names=class_names, source="wm811k", info=meta.get("info", {}))
    return ws, meta


def _cache_is_valid(meta: dict, *, stamp: dict | None, size, keep_unlabeled: bool, path: Path, trust: bool) -> bool:
    """True when the cache was made by this format version, at this size, from this source file."""
    if meta.get("format_version") != CACHE_FORMAT_VERSION or meta.get("size") != list(_check_size(size)):
        return False
    if meta.get("keep_unlabeled") != keep_unlabeled:
        return False
    if stamp is None:  # the source file is gone: the converted copy of the Kaggle file is all there is
        return meta.get("sha256") == WM811K_SHA256 or trust
    if all(meta.get(k) == v for k, v in stamp.items()):
        return True  # same size and modification time: same file (as git and make assume)
    # the file was touched or replaced: only its content decides
    return meta.get("source_bytes") == stamp["source_bytes"] and meta.get("sha256") == file_sha256(path)


def _load_wm811k_fixed(path, *, size, trust: bool, keep_unlabeled: bool, cache: bool, verbose: bool) -> WaferSet:
    """The fixed-size WM-811K set, from the cache when it is valid, else converted (and cached)."""
    src = None if path is None else Path(path).expanduser()
    if src is not None and src.is_dir():
        src = src / WM811K_FILENAME
    default_src = config.data_dir() / WM811K_FILENAME
    src = src or default_src
    file = cache_path(size, keep_unlabeled)
    stamp = _source_stamp(src) if src.is_file() else None
    if cache and file.is_file() and (stamp is not None or path is None):
        try:
            ws, meta = read_cache(file)
        except (OSError, ValueError, KeyError) as err:  # a broken cache is rebuilt, never trusted
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
        meta = {"sha256": raw.info["sha256"], "size": list(_check_size(size)), "keep_unlabeled": keep_unlabeled,
                **_source_stamp(src)}
        save_cache(ws, file, meta=meta)
        ws.info["cache"] = str(file)
        if verbose:
            print(f"Converted {len(ws):,} WM-811K wafers to {ws.maps.shape[1]}x{ws.maps.shape[2]}; cached in {file}")
    return ws


# ---------------------------------------------------------------------------
# One entry point for notebooks
# ---------------------------------------------------------------------------
DATA_SOURCES = ("synthetic", "wm811k")


def load_wafer_data(
    source: str = "synthetic",
    *,
    n_samples: int | None = None,
    size=64,
    seed: int = 0,
    path=None,
    proportions="wm811k",
    trust: bool = False,
    keep_unlabeled: bool = False,
    cache: bool = True,
    verbose: bool = False,
) -> WaferSet:
    """Fixed-size wafer maps from the synthetic generator or the real WM-811K file.

    Parameters
    ----------
    source : {"synthetic", "wm811k"}
        ``"synthetic"``: :func:`course_utils.synthetic.make_synthetic_wafers`
        (no download, WM-811K class proportions by default).
        ``"wm811k"``: the Kaggle ``LSWMD.pkl``; converted once, then read from a
        pickle-free cache under ``config.data_dir()/cache/``.
    n_samples : int or None
        Number of wafers. Synthetic: how many to generate (``None``: the
        generator's default). WM-811K: a stratified random subset of this size
        (every class keeps its share, at least one wafer each); ``None``: all.
    size : int or (int, int)
        Map height and width in pixels (nearest-neighbour resize), default 64.
    seed : int
        Seeds the generator / the subset, so the result is reproducible.
    path : path-like or None
        WM-811K file or its folder (default ``config.data_dir()/LSWMD.pkl``).
    proportions : "wm811k", "balanced", dict or sequence
        Class mix of the synthetic set. The real file has its own mix, so for
        ``"wm811k"`` only the default is accepted (re-balance with ``course_utils.balance``).
    trust : bool
        Accept a WM-811K file with an unknown SHA-256 (see :func:`load_wm811k`).
    keep_unlabeled : bool
        WM-811K only: keep the unlabeled wafers (label -1).
    cache : bool
        WM-811K only: read/write the converted cache.
    verbose : bool
        Print a line when the real file is converted.

    Returns
    -------
    WaferSet
        ``maps`` ``uint8 (N, H, W)`` in {0, 1, 2}, ``labels`` ``int64 (N,)``.
    """
    if not isinstance(source, str) or source.strip().lower().replace("-", "") not in DATA_SOURCES:
        raise ValueError(f"source={source!r} is not one of {DATA_SOURCES}.")
    source = source.strip().lower().replace("-", "")
    _check_size(size)
    if n_samples is not None and (
        not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool) or n_samples < 1
    ):
        raise ValueError(f"n_samples={n_samples!r} must be a positive integer or None (all / the default).")
    if source == "synthetic":
        from . import synthetic

        kwargs = {} if n_samples is None else {"n_samples": int(n_samples)}
        ws = synthetic.make_synthetic_wafers(**kwargs, size=size, proportions=proportions, seed=seed)
        if ws.maps.shape[1:] != _check_size(size):
            ws.maps = resize_maps(ws.maps, size)
        return ws
    if not (isinstance(proportions, str) and proportions == "wm811k"):
        raise ValueError(
            f"proportions={proportions!r} only applies to source='synthetic'; the real WM-811K file has its own "
            "class mix. Load it with proportions='wm811k' and re-balance with course_utils.balance."
        )
    ws = _load_wm811k_fixed(path, size=size, trust=trust, keep_unlabeled=keep_unlabeled, cache=cache,
                            verbose=verbose)
    if n_samples is not None and n_samples < len(ws):
        ws = ws.subset(stratified_subsample(ws.labels, n_samples, seed=seed))
    return ws


def stratified_subsample(labels, n_samples: int, seed: int = 0) -> np.ndarray:
    """Sorted ``int64`` indices of ``n_samples`` wafers drawn per class in proportion.

    Each class (``-1`` = unlabeled counts as one more group) gets its share by
    largest-remainder rounding, and at least one wafer while ``n_samples`` allows.
    """
    labels = np.asarray(labels)
    if not 1 <= n_samples <= len(labels):
        raise ValueError(f"n_samples={n_samples} must lie between 1 and the number of wafers ({len(labels)}).")
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n_samples / counts.sum()
    take = np.floor(exact).astype(np.int64)
    for k in np.argsort(-(exact - take), kind="stable")[: n_samples - take.sum()]:
        take[k] += 1
    # give empty-handed classes one wafer each, taken from the largest shares
    for k in np.flatnonzero(take == 0):
        donor = int(np.argmax(take))
        if take[donor] <= 1:
            break
        take[donor] -= 1
        take[k] = 1
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(labels == c), size=t, replace=False) for c, t in zip(classes, take)]
    return np.sort(np.concatenate(picked)).astype(np.int64)


# ---------------------------------------------------------------------------
# Writing a file in the original format (tests, benchmarks, small class subsets)
# ---------------------------------------------------------------------------
class _Global:
    """A reference to ``module.name`` that is written into a pickle without being imported."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle requires reduce functions to be callable
        raise TypeError(f"{self.module}.{self.name} is only a name written into a pickle.")


class _Reduced:
    """An object that pickles as the given ``__reduce__`` tuple (see ``_Py2Pickler``)."""

    def __init__(self, reduced: tuple):
        self.reduced = reduced


# Where today's classes lived in pandas 0.19 / NumPy 1.x / Python 2.
_PY2_NAMES = {
    ("pandas", "DataFrame"): ("pandas.core.frame", "DataFrame"),
    ("pandas.core.frame", "DataFrame"): ("pandas.core.frame", "DataFrame"),
    ("pandas.core.internals.managers", "BlockManager"): ("pandas.core.internals", "BlockManager"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"): ("numpy.core.multiarray", "scalar"),
    ("builtins", "object"): ("__builtin__", "object"),
}


class _Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes what pandas 0.19 under Python 2 wrote.

    ``str`` and ``bytes`` become Python-2 byte strings (``BINSTRING``, latin-1),
    globals get their old module paths, and DataFrames / indexes are reduced the
    way pandas 0.19 reduced them (``pandas.indexes.base._new_Index`` ...).
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_string(self, obj) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + len(data).to_bytes(4, "little") + data)
        if isinstance(obj, str) and len(data) < 256:
            self.memoize(obj)

    def save_global(self, obj, name=None) -> None:
        if isinstance(obj, _Global):
            module, name = obj.module, obj.name
        else:
            module, name = _PY2_NAMES.get((obj.__module__, obj.__qualname__), (obj.__module__, obj.__qualname__))
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii"))
        self.memoize(obj)

    dispatch[str] = save_py2_string
    dispatch[bytes] = save_py2_string
    dispatch[_Global] = save_global
    dispatch[type] = save_global
    dispatch[type(len)] = save_global  # builtin functions such as numpy's _reconstruct

    def save_reduced(self, obj) -> None:
        self.save_reduce(*obj.reduced, obj=None)  # obj=None: NEWOBJ of another class is intended

    dispatch[_Reduced] = save_reduced

    def reducer_override(self, obj):
        if isinstance(obj, pd.DataFrame):
            return _reduce_frame_py2(obj)
        return NotImplemented


def _reduce_frame_py2(frame: pd.DataFrame):
    """``DataFrame.__reduce__`` of pandas 0.19: NEWOBJ + ``{'_data': BlockManager, ...}``."""
    import copyreg

    from pandas.core.internals import BlockManager

    columns = list(frame.columns)
    n = len(frame)
    blocks = []
    for kind in ("f", "i", "O"):  # one consolidated block per dtype, as pandas 0.19 kept them
        locs = [i for i, c in enumerate(columns) if frame[c].to_numpy().dtype.kind == kind
                or (kind == "O" and frame[c].to_numpy().dtype.kind not in "fi")]
        if locs:
            values = np.empty((len(locs), n), dtype={"f": np.float64, "i": np.int64, "O": object}[kind])
            for row, i in enumerate(locs):
                values[row] = frame[columns[i]].to_numpy(dtype=values.dtype)
            blocks.append({"values": values, "mgr_locs": np.array(locs, dtype=np.int64)})
    new_index = _Global("pandas.indexes.base", "_new_Index")
    items = _Reduced((new_index, (_Global("pandas.indexes.base", "Index"),
                                  {"data": np.array(columns, dtype=object), "name": None})))
    rows = _Reduced((new_index, (_Global("pandas.indexes.range", "RangeIndex"),
                                 {"name": None, "start": 0, "stop": n, "step": 1})))
    axes = [items, rows]
    state = (axes, [b["values"] for b in blocks],
             [_Reduced((new_index, (_Global("pandas.indexes.base", "Index"),
                                    {"data": np.array([columns[i] for i in b["mgr_locs"]], dtype=object),
                                     "name": None}))) for b in blocks],
             {"0.14.1": {"axes": axes, "blocks": blocks}})
    manager = _Reduced((copyreg.__newobj__, (BlockManager,), state))
    return copyreg.__newobj__, (pd.DataFrame,), {"_data": manager, "_typ": "dataframe", "_metadata": []}


def write_wm811k_pickle(frame: pd.DataFrame, path) -> Path:
    """Write ``frame`` in the format of the Kaggle ``LSWMD.pkl`` (pandas 0.19 under Python 2).

    Used by the tests and the benchmark to make faithful stand-ins of the real
    file, and handy to share a small subset that :func:`load_wm811k` reads with
    ``trust=True``. ``frame`` should have the WM-811K columns with object dtype
    for ``waferMap``, ``lotName``, ``trianTestLabel`` and ``failureType``
    (labels as nested arrays, e.g. ``np.array([['Loc']])``). Written atomically.
    """
    return atomic_write(path, lambda f: _Py2Pickler(f, protocol=2).dump(frame))


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------
def _check_fractions(fractions) -> tuple[float, float, float]:
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(f < 0 for f in fr) or fr[0] <= 0 or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(
            f"fractions={fractions!r} must be three non-negative numbers (train, val, test) "
            "with train > 0 that add up to 1, e.g. (0.65, 0.20, 0.15)."
        )
    return fr


def stratified_split(labels, fractions=(0.65, 0.20, 0.15), seed: int = 0):
    """Split indices into train/val/test with the same class proportions in each.

    Parameters
    ----------
    labels : array-like ``(N,)`` of class indices (unlabeled wafers, -1, are not allowed)
    fractions : (train, val, test), adding up to 1 (the course uses 65/20/15)
    seed : int

    Returns
    -------
    train_idx, val_idx, test_idx : ``int64`` arrays, disjoint, covering ``range(N)``.
        Every class is split on its own (largest-remainder rounding), so a class
        with at least 3 wafers has at least one in each part when its fractions are > 0.
    """
    fr = _check_fractions(fractions)
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array; got shape {labels.shape}.")
    if (labels < 0).any():
        raise ValueError("labels contain -1 (unlabeled wafers); drop them before splitting.")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n = len(idx)
        sizes = np.floor(np.array(fr) * n).astype(int)
        # hand the remainder out by largest fractional part, but give every
        # non-empty part at least one wafer when the class is large enough
        for k in np.argsort(-(np.array(fr) * n - sizes))[: n - sizes.sum()]:
            sizes[k] += 1
        for k in range(3):
            if fr[k] > 0 and sizes[k] == 0 and n >= 3:
                donor = int(np.argmax(sizes))
                sizes[donor] -= 1
                sizes[k] += 1
        bounds = np.cumsum(sizes)[:-1]
        for k, chunk in enumerate(np.split(idx, bounds)):
            parts[k].append(chunk)
    return tuple(np.sort(np.concatenate(p)).astype(np.int64) for p in parts)


def _split_labels(labels, name: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array; got shape {labels.shape}.")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class indices; got dtype {labels.dtype}.")
    if (labels < 0).any():
        raise ValueError(f"{name} contain -1 (unlabeled wafers); drop them before splitting.")
    return labels


def lot_split(lots, labels=None, fractions=(0.65, 0.20, 0.15), seed: int = 0):
    """Split wafers into train/val/test so that no lot is on two sides.

    Wafers of one lot share a process history, so they look alike; if a lot's
    wafers land in both train and test, the test score partly measures memory of
    that lot and overestimates how the model does on a new lot.

    Parameters
    ----------
    lots : WaferSet, or array-like ``(N,)`` of lot names / ids
        A WaferSet supplies both ``lot`` and ``labels``.
    labels : array-like ``(N,)`` of class indices (not needed with a WaferSet)
    fractions : (train, val, test), adding up to 1
    seed : int

    Returns
    -------
    train_idx, val_idx, test_idx : sorted ``int64`` arrays, disjoint, covering ``range(N)``.

    Notes
    -----
    Whole lots are assigned greedily: lots holding the rarest classes first
    (random order among equals), each to the part whose class counts are
    furthest below their targets ``fraction * class total`` (relative to the target). Class proportions
    therefore match the fractions roughly, not exactly (a lot is indivisible).
    """
    if isinstance(lots, WaferSet):
        if labels is not None:
            raise TypeError("lot_split(ws) takes its labels from the WaferSet; do not pass labels as well.")
        if lots.lot is None:
            raise ValueError("This WaferSet has no lot names (ws.lot is None), so it cannot be split by lot.")
        lots, labels = lots.lot, lots.labels
    if labels is None:
        raise TypeError("lot_split(lots, labels): pass the class labels of the wafers (or a WaferSet).")
    fr = np.array(_check_fractions(fractions))
    labels = _split_labels(labels)
    lots = np.asarray(lots)
    if lots.shape != labels.shape:
        raise ValueError(f"lots has shape {lots.shape} but labels has shape {labels.shape}; one lot per wafer.")
    lot_names, lot_of = np.unique(lots, return_inverse=True)
    lot_of = lot_of.ravel()
    n_parts = int((fr > 0).sum())
    if len(lot_names) < n_parts:
        raise ValueError(
            f"Only {len(lot_names)} distinct lot(s) for {n_parts} non-empty parts; a lot split needs at least "
            "one lot per part. Use stratified_split instead, or fewer parts (e.g. fractions=(0.8, 0.2, 0.0))."
        )
    n_classes = int(labels.max()) + 1
    counts = np.bincount(lot_of * n_classes + labels, minlength=len(lot_names) * n_classes)
    counts = counts.reshape(len(lot_names), n_classes).astype(np.float64)
    totals = counts.sum(axis=0)
    rng = np.random.default_rng(seed)
    rarest = np.where(counts > 0, totals, np.inf).min(axis=1)  # size of the rarest class in each lot
    order = np.lexsort((rng.random(len(lot_names)), rarest))
    relative = counts / np.maximum(totals, 1)  # share of each class's wafers that a lot holds
    open_parts = fr > 0  # parts with fraction 0 never receive a lot
    # deficit[p, k]: part of the target "fraction_p * total_k" still missing (1 = empty, 0 = reached)
    deficit = np.ones((3, n_classes))
    step = np.where(open_parts, 1 / np.where(open_parts, fr, 1), 0)[:, None]  # 1 wafer-share in target units
    part_of_lot = np.empty(len(lot_names), dtype=np.int64)
    for lot in order:
        score = np.where(open_parts, deficit @ relative[lot], -np.inf)
        part = int(np.argmax(score))
        part_of_lot[lot] = part
        deficit[part] -= step[part, 0] * relative[lot]
    part = part_of_lot[lot_of]
    return tuple(np.flatnonzero(part == k).astype(np.int64) for k in range(3))


def official_split(ws: WaferSet, *, val_fraction: float = 0.2, seed: int = 0):
    """The WM-811K authors' Training/Test split, with a validation part taken from Training.

    Parameters
    ----------
    ws : WaferSet with ``official_split`` (``"Training"`` / ``"Test"``), i.e. loaded from the real file
    val_fraction : float in [0, 1)
        Share of the Training wafers held out (stratified) for validation; 0 gives an empty val part.
    seed : int

    Returns
    -------
    train_idx, val_idx, test_idx : sorted ``int64`` arrays into ``ws``. Unlabeled wafers are left out.
    """
    if not isinstance(ws, WaferSet):
        raise TypeError(f"official_split needs a WaferSet; got {type(ws).__name__}.")
    if ws.official_split is None or not np.isin(ws.official_split, ("Training", "Test")).any():
        raise ValueError(
            f"This WaferSet (source={ws.source!r}) has no official Training/Test labels; only the real "
            "WM-811K file does. Use stratified_split or lot_split instead."
        )
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction!r} must lie in [0, 1), e.g. 0.2.")
    labeled = ws.labels >= 0
    pool = np.flatnonzero((ws.official_split == "Training") & labeled)
    test = np.flatnonzero((ws.official_split == "Test") & labeled).astype(np.int64)
    if val_fraction == 0:
        return pool.astype(np.int64), np.empty(0, dtype=np.int64), test
    train_part, val_part, _ = stratified_split(ws.labels[pool], (1 - val_fraction, val_fraction, 0.0), seed=seed)
    return pool[train_part].astype(np.int64), pool[val_part].astype(np.int64), test


def split_table(labels, splits: dict, class_names=CLASS_NAMES) -> pd.DataFrame:
    """Class counts and shares per split, one row per class (plus ``total``).

    Parameters
    ----------
    labels : array-like ``(N,)`` of class indices
    splits : dict name -> index array, e.g. ``{"train": tr, "val": va, "test": te}``

    Returns
    -------
    DataFrame with columns ``<name>`` (counts) and ``<name> %`` (share of that split).
    """
    labels = np.asarray(labels)
    table = {}
    for name, idx in splits.items():
        counts = np.bincount(labels[np.asarray(idx, dtype=np.int64)], minlength=len(class_names))
        table[name] = counts
        table[f"{name} %"] = np.round(100 * counts / max(counts.sum(), 1), 2)
    frame = pd.DataFrame(table, index=list(class_names))
    frame.loc["total"] = [frame[c].sum() if not c.endswith("%") else 100.0 for c in frame.columns]
    return frame


def save_splits(path, splits: dict) -> Path:
    """Save named train/val/test index triples to one ``.npz`` file (atomically, no pickles).

    Parameters
    ----------
    path : path-like, e.g. ``out / "splits.npz"``
    splits : dict name -> (train_idx, val_idx, test_idx), e.g. ``{"lot": data.lot_split(ws)}``

    The file holds arrays ``<name>_train``, ``<name>_val``, ``<name>_test``;
    :func:`load_splits` reads them back.
    """
    arrays = {}
    for name, parts in splits.items():
        if not isinstance(name, str) or not name.isidentifier() or len(parts) != 3:
            raise ValueError(
                f"splits must map a name (letters, digits, _) to (train_idx, val_idx, test_idx); got {name!r}."
            )
        for part, idx in zip(("train", "val", "test"), parts):
            arrays[f"{name}_{part}"] = np.asarray(idx, dtype=np.int64)
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def load_splits(path) -> dict:
    """Read a file written by :func:`save_splits`: dict name -> (train_idx, val_idx, test_idx)."""
    with np.load(path, allow_pickle=False) as npz:
        names = sorted({key.rsplit("_", 1)[0] for key in npz.files})
        return {name: tuple(npz[f"{name}_{part}"] for part in ("train", "val", "test")) for name in names}


# ---------------------------------------------------------------------------
# Model inputs: encodings, an in-memory Dataset, a batch loader
# ---------------------------------------------------------------------------
import torch  # noqa: E402  (kept beside the code that needs it)
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler  # noqa: E402

ENCODINGS = {"onehot": 3, "single": 1}


def encode_maps(maps: torch.Tensor, encoding: str = "onehot") -> torch.Tensor:
    """Turn ``uint8`` wafer maps into model inputs.

    Parameters
    ----------
    maps : torch.Tensor
        ``uint8`` (or integer) tensor ``(N, H, W)`` or ``(H, W)`` with values in {0, 1, 2}.
    encoding : {"onehot", "single"}
        ``"onehot"``: 3 channels (off-wafer, good die, defective die), each 0/1.
        ``"single"``: 1 channel ``state / 2`` in {0, 0.5, 1}.

    Returns
    -------
    torch.Tensor
        ``float32`` ``(N, C, H, W)`` (or ``(C, H, W)`` for a single map).
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding={encoding!r} is not one of {sorted(ENCODINGS)}.")
    single = maps.dim() == 2
    if single:
        maps = maps.unsqueeze(0)
    if maps.dim() != 3:
        raise ValueError(f"maps must have shape (N, H, W) or (H, W); got {tuple(maps.shape)}.")
    if encoding == "onehot":
        states = torch.arange(3, device=maps.device, dtype=maps.dtype).view(1, 3, 1, 1)
        out = (maps.unsqueeze(1) == states).to(torch.float32)
    else:
        out = maps.unsqueeze(1).to(torch.float32) * 0.5
    return out[0] if single else out


class WaferDataset(Dataset):
    """Wafer maps held in memory as one ``uint8`` tensor, encoded per batch.

    ``dataset[i]`` returns one ``(x, y)`` pair; ``dataset[indices]`` (a list,
    array or tensor of indices) returns a whole batch ``(x, y)`` with ``x`` of
    shape ``(B, C, H, W)`` in one vectorised call, which :func:`make_loader`
    uses so that no per-sample Python runs per batch.

    Parameters
    ----------
    maps : array-like ``(N, H, W)`` with values in {0, 1, 2}
    labels : array-like ``(N,)`` of class indices
    encoding : {"onehot", "single"}
    class_names : sequence of str
    """

    def __init__(self, maps, labels, encoding: str = "onehot", class_names=CLASS_NAMES):
        maps = torch.as_tensor(np.asarray(maps) if not torch.is_tensor(maps) else maps)
        labels = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels).long()
        if maps.dim() != 3:
            raise ValueError(
                f"maps must be a fixed-size (N, H, W) array; got shape {tuple(maps.shape)}. "
                "Resize raw WM-811K maps first (data.resize_maps)."
            )
        if len(maps) != len(labels):
            raise ValueError(f"maps has {len(maps)} wafers but labels has {len(labels)}.")
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding={encoding!r} is not one of {sorted(ENCODINGS)}.")
        n_classes = len(class_names)
        if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(
                f"labels must lie in [0, {n_classes - 1}] for {n_classes} classes; got "
                f"[{int(labels.min())}, {int(labels.max())}]. Drop unlabeled wafers (label -1) first."
            )
        self.maps = maps.to(torch.uint8).contiguous()
        self.labels = labels.contiguous()
        self.encoding = encoding
        self.class_names = tuple(class_names)

    @classmethod
    def from_waferset(cls, ws: WaferSet, index=None, encoding: str = "onehot") -> "WaferDataset":
        """Dataset over ``ws`` (or the wafers at ``index``); ``ws`` must be fixed-size."""
        if not ws.is_fixed_size:
            raise ValueError("WaferSet has maps of varying size; resize them first (data.resize_maps).")
        sub = ws if index is None else ws.subset(index)
        return cls(sub.maps, sub.labels, encoding=encoding, class_names=ws.class_names)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return encode_maps(self.maps[index], self.encoding), self.labels[index]
        index = torch.as_tensor(index, dtype=torch.long)
        return encode_maps(self.maps[index], self.encoding), self.labels[index]

    @property
    def num_channels(self) -> int:
        return ENCODINGS[self.encoding]

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.maps.shape[1:])

    def class_counts(self) -> np.ndarray:
        """``int64`` ``(n_classes,)``: samples per class."""
        return np.bincount(self.labels.numpy(), minlength=len(self.class_names)).astype(np.int64)

    def class_weights(self) -> np.ndarray:
        """``float64`` ``(n_classes,)``: ``n_samples / (n_classes * count)`` (scikit-learn's
        ``'balanced'`` formula); classes absent from the set get weight 0."""
        counts = self.class_counts()
        weights = np.zeros(len(counts), dtype=np.float64)
        present = counts > 0
        weights[present] = counts.sum() / (present.sum() * counts[present])
        return weights


def make_loader(
    dataset: WaferDataset,
    batch_size: int = 64,
    *,
    shuffle: bool = False,
    sampler: Sampler | None = None,
    drop_last: bool = False,
    seed: int | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A ``DataLoader`` that fetches whole batches from an in-memory dataset.

    Parameters
    ----------
    dataset : WaferDataset (or any dataset whose ``__getitem__`` takes a list of indices)
    batch_size : int
    shuffle : bool
        Random order each epoch (ignored when ``sampler`` is given).
    sampler : torch Sampler of sample indices, e.g. a ``WeightedRandomSampler``.
    seed : int or None
        Seeds the shuffling generator, so the batch order is reproducible.
    """
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if len(dataset) == 0:
        raise ValueError("Cannot make a loader over an empty dataset: check the split and the filters.")
    if sampler is None:
        if shuffle:
            generator = torch.Generator().manual_seed(seed) if seed is not None else None
            sampler = RandomSampler(dataset, generator=generator)
        else:
            sampler = SequentialSampler(dataset)
    batches = BatchSampler(sampler, batch_size=int(batch_size), drop_last=drop_last)
    return DataLoader(dataset, sampler=batches, batch_size=None, num_workers=num_workers, pin_memory=pin_memory)
