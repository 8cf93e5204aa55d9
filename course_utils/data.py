"""Wafer-map data: the in-memory container shared by every loader.

A :class:`WaferSet` holds wafer maps and their metadata as NumPy arrays. The
real WM-811K loader and the synthetic generator both return one, so a notebook
can switch ``DATA_SOURCE`` without touching anything else.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Sequence

import numpy as np

from .config import CLASS_NAMES


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
        """A new WaferSet with the wafers at ``index`` (integer or boolean mask)."""
        index = np.asarray(index)
        kwargs = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in self._PER_WAFER and value is not None:
                value = value[index]
            kwargs[f.name] = value
        kwargs["info"] = dict(self.info)
        return WaferSet(**kwargs)

    def class_counts(self) -> np.ndarray:
        """``int64`` array ``(n_classes,)``: labeled wafers per class."""
        labeled = self.labels[self.labels >= 0]
        return np.bincount(labeled, minlength=len(self.class_names)).astype(np.int64)



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
