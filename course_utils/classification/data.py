"""Wafer data for notebooks: one loader for both sources, model inputs, batch loaders.

>>> from course_utils.classification import data, splits
>>> ws = data.load_wafer_data("synthetic", n_samples=3000, size=64, seed=42)   # or "wm811k"
>>> train_idx, val_idx, test_idx = splits.stratified_split(ws.labels, (0.65, 0.20, 0.15), seed=42)
>>> train_ds = data.WaferDataset.from_waferset(ws, train_idx, encoding="onehot")
>>> loader = data.make_loader(train_ds, batch_size=128, shuffle=True, seed=42)

The container lives in :mod:`course_utils.classification.wafers`, the real file's reader in
:mod:`course_utils.classification.wm811k`, the synthetic twin in :mod:`course_utils.classification.twin`
and the splits in :mod:`course_utils.classification.splits`.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

from course_utils.core import config
from course_utils.classification import twin
from course_utils.core.checks import check_int, check_size
from course_utils.classification.wafers import CLASS_NAMES
from course_utils.classification.splits import stratified_subsample
from course_utils.classification.wafers import WaferSet
from course_utils.classification.wm811k import load_wm811k_fixed

__all__ = ["load_wafer_data", "encode_maps", "WaferDataset", "make_loader"]

# ---------------------------------------------------------------------------
# One entry point for notebooks
# ---------------------------------------------------------------------------


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
        ``"synthetic"``: :func:`course_utils.classification.twin.make_synthetic_wafers`
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
        ``"wm811k"`` only the default is accepted (re-balance with ``course_utils.classification.balance``).
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

    Taught in: 01_dataset_exploration"""
    if not isinstance(source, str) or source.strip().lower().replace("-", "") not in config.DATA_SOURCES:
        raise ValueError(f"source={source!r} is not one of {config.DATA_SOURCES}.")
    source = source.strip().lower().replace("-", "")
    check_size(size)
    if n_samples is not None:
        check_int(n_samples, "n_samples", minimum=1)
    if source == "synthetic":
        kwargs = {} if n_samples is None else {"n_samples": int(n_samples)}
        return twin.make_synthetic_wafers(**kwargs, size=size, proportions=proportions, seed=seed)
    if not (isinstance(proportions, str) and proportions == "wm811k"):
        raise ValueError(
            f"proportions={proportions!r} only applies to source='synthetic'; the real WM-811K file has its own "
            "class mix. Load it with proportions='wm811k' and re-balance with course_utils.classification.balance."
        )
    ws = load_wm811k_fixed(path, size=size, trust=trust, keep_unlabeled=keep_unlabeled, cache=cache,
                            verbose=verbose)
    if n_samples is not None and n_samples < len(ws):
        ws = ws.subset(stratified_subsample(ws.labels, n_samples, seed=seed))
    return ws



# ---------------------------------------------------------------------------
# Model inputs: encodings, an in-memory Dataset, a batch loader
# ---------------------------------------------------------------------------

_ENCODINGS = {"onehot": 3, "single": 1}


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

    Taught in: 03_cnn_design"""
    if encoding not in _ENCODINGS:
        raise ValueError(f"encoding={encoding!r} is not one of {sorted(_ENCODINGS)}.")
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
    source_index : array-like ``(N,)`` of int or None
        Where each sample comes from in the set it was taken from (set by
        :meth:`from_waferset`: indices into the WaferSet), so a notebook can go
        back from a misclassified test sample to its wafer's metadata.
    lot : array-like ``(N,)`` of str or None
        Lot name of each sample (set by :meth:`from_waferset` when the set has lots).
    """

    def __init__(self, maps, labels, encoding: str = "onehot", class_names=CLASS_NAMES, *,
                 source_index=None, lot=None):
        maps = torch.as_tensor(np.asarray(maps) if not torch.is_tensor(maps) else maps)
        labels = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels).long()
        if maps.dim() != 3:
            raise ValueError(
                f"maps must be a fixed-size (N, H, W) array; got shape {tuple(maps.shape)}. "
                "Resize raw WM-811K maps first (wafers.resize_maps)."
            )
        if len(maps) != len(labels):
            raise ValueError(f"maps has {len(maps)} wafers but labels has {len(labels)}.")
        if encoding not in _ENCODINGS:
            raise ValueError(f"encoding={encoding!r} is not one of {sorted(_ENCODINGS)}.")
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
        for name, value in (("source_index", source_index), ("lot", lot)):
            if value is not None and len(value) != len(labels):
                raise ValueError(f"{name} has {len(value)} entries but labels has {len(labels)}.")
        self.source_index = None if source_index is None else np.asarray(source_index, dtype=np.int64)
        self.lot = None if lot is None else np.asarray(lot)

    @classmethod
    def from_waferset(cls, ws: WaferSet, index=None, encoding: str = "onehot") -> "WaferDataset":
        """Dataset over ``ws`` (or the wafers at ``index``, integers or a boolean mask); ``ws`` must be fixed-size.

        Only what training and evaluation need is taken: maps, labels, and as
        metadata ``source_index`` (indices into ``ws``) and ``lot``, so one object
        per split is enough (``ws.lot[test_ds.source_index[wrong]]``).
        """
        if not ws.is_fixed_size:
            raise ValueError("WaferSet has maps of varying size; resize them first (wafers.resize_maps).")
        index = np.arange(len(ws)) if index is None else np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        lot = ws.lot[index] if ws.lot is not None else None
        return cls(ws.maps[index], ws.labels[index], encoding=encoding, class_names=ws.class_names,
                   source_index=index, lot=lot)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return encode_maps(self.maps[index], self.encoding), self.labels[index]
        index = torch.as_tensor(index, dtype=torch.long)
        return encode_maps(self.maps[index], self.encoding), self.labels[index]

    @property
    def num_channels(self) -> int:
        return _ENCODINGS[self.encoding]

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.maps.shape[1:])

    def class_counts(self) -> np.ndarray:
        """``int64`` ``(n_classes,)``: samples per class."""
        return np.bincount(self.labels.numpy(), minlength=len(self.class_names)).astype(np.int64)


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

    Returns
    -------
    DataLoader yielding whole batches ``(x, y)``; its ``rng_generators`` attribute
    lists the ``torch.Generator`` that orders the samples (``engine.fit`` stores and
    restores it in checkpoints).

    Taught in: 02_augmentation"""
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if len(dataset) == 0:
        raise ValueError("Cannot make a loader over an empty dataset: check the split and the filters.")
    if sampler is None:
        if shuffle:
            generator = torch.Generator().manual_seed(seed) if seed is not None else None
            sampler = RandomSampler(dataset, generator=generator)
        else:
            sampler = SequentialSampler(dataset)
    batches = BatchSampler(sampler, batch_size=batch_size, drop_last=drop_last)
    loader = DataLoader(dataset, sampler=batches, batch_size=None, num_workers=num_workers, pin_memory=pin_memory)
    # the generator(s) that decide the sample order, for checkpoints that resume exactly (engine.fit)
    loader.rng_generators = [g for g in [getattr(sampler, "generator", None)] if isinstance(g, torch.Generator)]
    return loader
