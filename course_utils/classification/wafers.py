"""Wafer maps in memory: the 9 classes, the die states, the :class:`WaferSet` container, resizing.

The Project #2 counterpart is :mod:`course_utils.detection.pcb` (PCB image pairs and their boxes).

A :class:`WaferSet` holds wafer maps and their metadata as NumPy arrays. The
real WM-811K reader (:mod:`course_utils.classification.wm811k`) and the synthetic generator
(:mod:`course_utils.classification.twin`) both return one, so a notebook can switch
``DATA_SOURCE`` without touching anything else.

>>> ws = data.load_wafer_data("synthetic", n_samples=3000, size=64, seed=42)
>>> ws.maps.shape, ws.class_counts()
((3000, 64, 64), array([...]))

Resizing (:func:`resize_maps`) uses nearest neighbour (:func:`nearest_index`), so
die states stay in {0, 1, 2}.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Sequence

import numpy as np

from course_utils.core.checks import check_size

__all__ = ["CLASS_NAMES", "NUM_CLASSES", "WM811K_LABELED_COUNTS", "wm811k_class_counts", "OFF_WAFER", "GOOD_DIE",
           "DEFECT_DIE", "WaferSet", "nearest_index", "map_shapes", "resize_maps", "check_die_states"]


#: The 9 WM-811K failure types, in the order used for label indices 0..8.
CLASS_NAMES: tuple[str, ...] = (
    "Center",
    "Donut",
    "Edge-Loc",
    "Edge-Ring",
    "Loc",
    "Near-full",
    "Random",
    "Scratch",
    "none",
)
NUM_CLASSES = len(CLASS_NAMES)

#: Labeled wafers per class in the real ``LSWMD.pkl`` (172,950 labeled maps).
WM811K_LABELED_COUNTS: dict[str, int] = {
    "Center": 4294,
    "Donut": 555,
    "Edge-Loc": 5189,
    "Edge-Ring": 9680,
    "Loc": 3593,
    "Near-full": 149,
    "Random": 866,
    "Scratch": 1193,
    "none": 147431,
}


def wm811k_class_counts() -> np.ndarray:
    """Labeled WM-811K wafers per class as a fresh ``float64`` array of shape ``(9,)`` in ``CLASS_NAMES`` order.

    The one place the dict above becomes a vector (class prior, proportions preset, benchmark mixes);
    divide by its sum for the class shares.

    Used by: course_utils.classification.twin, benchmarks/bench_synthetic.py, benchmarks/bench_data.py"""
    return np.array([WM811K_LABELED_COUNTS[c] for c in CLASS_NAMES], dtype=np.float64)


#: Die states stored in every wafer map.
OFF_WAFER, GOOD_DIE, DEFECT_DIE = 0, 1, 2


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
def nearest_index(n_in, n_out: int) -> np.ndarray:
    """Source index of every output pixel when ``n_in`` pixels are resampled to ``n_out``.

    Pixel centres are matched (``floor((i + 0.5) * n_in / n_out)``), the rule of
    PIL's NEAREST filter and of ``torch.nn.functional.interpolate(mode="nearest-exact")``.
    ``n_in`` may be an int (result ``(n_out,)``) or an array of lengths ``(m,)``
    (result ``(m, n_out)``, one row per length; the synthetic generator uses it so
    that its die grids are resized exactly like real maps).

    Used by: course_utils.classification.twin"""
    n_in = np.asarray(n_in, dtype=np.int64)[..., None]
    return np.minimum(((np.arange(n_out) + 0.5) * n_in / n_out).astype(np.int64), n_in - 1)


def map_shapes(maps) -> np.ndarray:
    """``int32`` array ``(N, 2)``: height and width of every map in ``maps``.

    ``maps`` is a fixed-size array ``(N, H, W)`` or a sequence / object array of 2-D maps.

    Used by: course_utils.classification.wm811k"""
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

    Also used by course_utils.classification.data and course_utils.classification.wm811k.

    Taught in: 20_cnn_regression"""
    out_h, out_w = check_size(size)
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
    check_die_states(resized, f"maps of shape {(h, w)}")
    return resized.astype(np.uint8, copy=False)


def check_die_states(maps: np.ndarray, where: str = "maps") -> None:
    """Raise ``ValueError`` naming ``where`` if ``maps`` (any shape) holds a value other than the die states
    0 (off wafer), 1 (good die) and 2 (defective die).

    Used by: course_utils.classification.wafers, course_utils.classification.regression"""
    if maps.size and (maps.min() < OFF_WAFER or maps.max() > DEFECT_DIE):
        raise ValueError(f"{where} hold values outside {{0, 1, 2}} (range [{maps.min()}, {maps.max()}]); wafer maps "
                         "store die states 0 (off wafer), 1 (good die) and 2 (defective die).")


def _object_array(items) -> np.ndarray:
    """A 1-D object array holding ``items`` as they are (no broadcasting into one block)."""
    items = list(items)
    arr = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        arr[i] = item
    return arr

