"""Write a DataFrame exactly as the Kaggle ``LSWMD.pkl`` was written (pandas 0.19 under Python 2).

A test helper, not part of the kit: the tests and ``benchmarks/bench_data.py`` use
it to make faithful stand-ins of the real file. ``tests/classification/test_wm811k.py`` checks that
the pickle stream it writes asks for exactly the globals measured on the real file (issue #10),
and that ``wm811k.PICKLE_GLOBALS`` lists the same.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from course_utils.core.config import atomic_write
from course_utils.classification.wafers import CLASS_NAMES

__all__ = ["write_wm811k_pickle", "make_frame", "nested_label"]


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
    ("builtins", "slice"): ("__builtin__", "slice"),
}


def _placement(locs: list[int]):
    """A block's ``mgr_locs`` as pandas 0.19 pickled it: a ``slice`` when the column positions form an
    arithmetic progression (``BlockPlacement`` stores them so), else an ``int64`` array."""
    steps = np.diff(locs)
    if len(locs) == 1 or (len(steps) and (steps == steps[0]).all() and steps[0] > 0):
        step = int(steps[0]) if len(steps) else 1
        return slice(locs[0], locs[-1] + step, step)
    return np.array(locs, dtype=np.int64)


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
            blocks.append((values, locs))
    new_index = _Global("pandas.indexes.base", "_new_Index")
    items = _Reduced((new_index, (_Global("pandas.indexes.base", "Index"),
                                  {"data": np.array(columns, dtype=object), "name": None})))
    # the row count is a NumPy integer (a numpy.core.multiarray.scalar in the stream, as in the real file)
    rows = _Reduced((new_index, (_Global("pandas.indexes.range", "RangeIndex"),
                                 {"name": None, "start": 0, "stop": np.int64(n), "step": 1})))
    axes = [items, rows]
    state = (axes, [values for values, _ in blocks],
             [_Reduced((new_index, (_Global("pandas.indexes.base", "Index"),
                                    {"data": np.array([columns[i] for i in locs], dtype=object),
                                     "name": None}))) for _, locs in blocks],
             {"0.14.1": {"axes": axes, "blocks": [{"values": values, "mgr_locs": _placement(locs)}
                                                 for values, locs in blocks]}})
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
# A tiny table with the real file's columns and cell types
# ---------------------------------------------------------------------------
def nested_label(text, dtype=object):
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
        types.append(nested_label(CLASS_NAMES[i % len(CLASS_NAMES)] if labeled else ""))
        splits.append(nested_label(("Training" if i % 3 else "Test") if labeled else "", dtype="<U8"))
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
