"""Re-sampling for imbalanced wafer data: under/over-sampling, ×k offline augmentation, samplers, class weights.

WM-811K's labeled classes range from 0.1 % (Near-full) to 85.2 % (none). This
module gives the three usual answers:

1. **Change the data** (each function returns a NEW WaferSet/WaferDataset and a
   report of counts per class):

   * :func:`undersample` -- drop wafers of the large classes;
   * :func:`oversample` -- repeat wafers of the small classes (exact copies);
   * :func:`augment_offline` -- grow classes ×k with exact D4 variants
     (rotations/flips, optional shifts), cut the largest classes with ``caps``;
   * :func:`balance_to_target` -- exactly ``N`` wafers per class (the course's
     balanced set had 2,000 / 615 / 462 per class in train / val / test).

2. **Change how batches are drawn**: :func:`make_weighted_sampler`.
3. **Change the loss**: :func:`course_utils.training.losses.class_weights` for ``nn.CrossEntropyLoss(weight=...)``.

Augment only AFTER splitting
----------------------------
Pass the training part (``ws.subset(train_idx)``). If you augment first and
split afterwards, rotated copies of the same wafer end up in train *and* test and
the test score measures memory, not generalisation (notebook 02 shows by how
much). Every result records where each sample came from:
``result.info["source_index"]`` (``int64 (M,)``, index into the input) and
``result.info["augmented"]`` (``bool (M,)``, True for generated variants).
``info`` is not re-indexed by ``WaferSet.subset``; read it right after balancing.
"""
from __future__ import annotations

import numbers
import warnings
from typing import Mapping

import numpy as np
import pandas as pd
import torch
from torch.utils.data import WeightedRandomSampler

from course_utils.classification.augment import d4_transform
from course_utils.core.checks import check_labels, is_int, is_real
from course_utils.classification.wafers import CLASS_NAMES
from course_utils.classification.data import WaferDataset
from course_utils.training.losses import WEIGHT_SCHEMES, class_weights
from course_utils.classification.wafers import WaferSet

__all__ = ["undersample", "oversample", "augment_offline", "balance_to_target", "sample_weights",
           "make_weighted_sampler"]


# ---------------------------------------------------------------------------
# Input helpers
# ---------------------------------------------------------------------------
def _labels_and_names(data, num_classes: int | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels as ``int64 (N,)`` and the class names, from a WaferSet, WaferDataset or array."""
    if isinstance(data, WaferSet):
        labels, names = data.labels, data.class_names
    elif isinstance(data, WaferDataset):
        labels, names = data.labels.cpu().numpy(), data.class_names
    else:
        labels = data.detach().cpu().numpy() if torch.is_tensor(data) else np.asarray(data)
        names = None
    if np.ndim(labels) == 1 and len(labels) == 0:
        raise ValueError("labels is empty: there is nothing to balance or weight. Check the split and filters.")
    labels = check_labels(labels, "labels")
    if num_classes is None:
        num_classes = len(names) if names is not None else len(CLASS_NAMES)
    if names is None:
        names = CLASS_NAMES if num_classes == len(CLASS_NAMES) else tuple(str(i) for i in range(num_classes))
    if len(names) != num_classes:
        names = tuple(str(i) for i in range(num_classes))
    if labels.max() >= num_classes:
        raise ValueError(f"labels go up to {labels.max()} but num_classes={num_classes}; pass the right num_classes.")
    return labels, tuple(names)


def _per_class(value, name: str, names: tuple[str, ...]) -> dict[int, float]:
    """A number for every class (``{index: value}``) or a mapping by class name or index."""
    if isinstance(value, Mapping):
        out = {}
        for key, v in value.items():
            if isinstance(key, str):
                if key not in names:
                    raise ValueError(f"{name}: unknown class {key!r}; valid names: {', '.join(names)}.")
                out[names.index(key)] = v
            elif isinstance(key, numbers.Integral) and 0 <= key < len(names):
                out[int(key)] = v
            else:
                raise ValueError(f"{name}: key {key!r} must be a class name or an index in 0..{len(names) - 1}.")
        return out
    return {c: value for c in range(len(names))}


def _check_number(value, name: str) -> float:
    if not is_real(value):
        raise TypeError(f"{name} must be a number; got {value!r} ({type(value).__name__}).")
    return float(value)


def _check_caps(caps, names) -> dict[int, float]:
    if caps is None:
        return {}
    if not isinstance(caps, Mapping):
        raise TypeError("caps must be a mapping {class name: fraction to keep}, e.g. {'none': 0.6, 'Edge-Ring': 0.8}.")
    out = _per_class(caps, "caps", names)
    for c, frac in out.items():
        frac = _check_number(frac, f"caps[{names[c]!r}]")
        if not 0 < frac <= 1:
            raise ValueError(
                f"caps[{names[c]!r}]={frac} must lie in (0, 1]: it is the fraction of the class to keep "
                "(e.g. 0.6 keeps 60 %)."
            )
        out[c] = frac
    return out


def _check_count(value, name: str) -> int:
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer (wafers per class); got {value!r}.")
    return int(value)


def _check_seed(seed) -> int:
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}.")
    return int(seed)


def count_report(before, after, class_names=CLASS_NAMES, *, generated=None) -> pd.DataFrame:
    """Counts per class before and after re-sampling.

    Parameters
    ----------
    before, after : label arrays ``(N,)`` / ``(M,)`` (or a WaferSet / WaferDataset)
    generated : optional label array of the samples that are copies/variants

    Returns
    -------
    DataFrame indexed by class name with ``int64`` columns ``before``, ``after``,
    ``removed`` (originals dropped), ``generated`` (copies or augmented variants
    added) and ``float64`` ``ratio`` (after / before; NaN for an empty class).
    """
    n = len(class_names)
    b = np.bincount(_labels_and_names(before, n)[0], minlength=n)
    a = np.bincount(_labels_and_names(after, n)[0], minlength=n)
    g = np.zeros(n, dtype=np.int64) if generated is None or len(generated) == 0 else \
        np.bincount(np.asarray(generated, dtype=np.int64), minlength=n)
    report = pd.DataFrame(
        {"before": b, "after": a, "removed": b - (a - g), "generated": g},
        index=pd.Index(class_names, name="class"),
    ).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        report["ratio"] = np.where(b > 0, a / np.maximum(b, 1), np.nan)
    return report


# ---------------------------------------------------------------------------
# The one re-sampling routine behind every public function
# ---------------------------------------------------------------------------
def _resample(data, targets: np.ndarray, *, augment: bool, max_shift: int, seed: int):
    """Return ``(new data, report)`` with ``targets[c]`` wafers of class ``c``.

    Classes above target keep a random subset; classes below keep every wafer
    and get ``target - n`` extra samples drawn round-robin over a random
    permutation (each wafer is repeated as evenly as possible). With
    ``augment=True`` the r-th extra copy of a wafer is D4 element
    ``1 + (r + offset) % 7`` (never the identity; 7 distinct variants before any
    repeats), plus a random shift when ``max_shift > 0``.
    """
    if not isinstance(data, (WaferSet, WaferDataset)):
        raise TypeError(
            f"data must be a WaferSet or WaferDataset (the training part); got {type(data).__name__}."
        )
    labels, names = _labels_and_names(data)
    rng = np.random.default_rng(seed)
    kept, extra, rounds, offsets_of = [], [], [], []
    for c, target in enumerate(targets):
        idx = np.flatnonzero(labels == c)
        if target <= len(idx):
            kept.append(np.sort(rng.choice(idx, size=int(target), replace=False)))
            continue
        kept.append(idx)
        perm = rng.permutation(idx)
        n_extra = int(target) - len(idx)
        position = np.arange(n_extra)
        extra.append(perm[position % len(idx)])
        rounds.append(position // len(idx))
        offsets_of.append(rng.integers(0, 7, size=len(idx))[position % len(idx)])
    kept = np.concatenate(kept)
    extra = np.concatenate(extra) if extra else np.zeros(0, dtype=np.int64)
    source_index = np.concatenate([kept, extra]).astype(np.int64)
    generated = np.zeros(len(source_index), dtype=bool)
    generated[len(kept):] = True

    if isinstance(data, WaferSet):
        if augment and not data.is_fixed_size:
            raise ValueError("augmentation needs fixed-size maps; resize them first (wafers.resize_maps).")
        out = data.subset(source_index)
        maps = torch.from_numpy(np.ascontiguousarray(out.maps)) if augment else None
    else:
        maps = data.maps[torch.from_numpy(source_index)]
    if augment and len(extra):
        gen = torch.from_numpy(np.flatnonzero(generated))
        element = torch.from_numpy(1 + (np.concatenate(rounds) + np.concatenate(offsets_of)) % 7)
        shift = None
        if max_shift:
            shift = torch.from_numpy(rng.integers(-max_shift, max_shift + 1, size=(len(extra), 2)))
        maps[gen] = d4_transform(maps[gen], element, shift)
    if isinstance(data, WaferSet):
        if maps is not None:
            out.maps = maps.numpy()
    else:
        out = WaferDataset(maps, labels[source_index], encoding=data.encoding, class_names=data.class_names)
    out.info = {**getattr(data, "info", {}), "source_index": source_index,
                "augmented": generated if augment else np.zeros(len(source_index), dtype=bool)}
    report = count_report(labels, labels[source_index], names, generated=labels[extra])
    return out, report


def _counts(data) -> tuple[np.ndarray, tuple[str, ...]]:
    labels, names = _labels_and_names(data)
    return np.bincount(labels, minlength=len(names)), names


# ---------------------------------------------------------------------------
# Public re-sampling functions
# ---------------------------------------------------------------------------
def undersample(data, *, n_per_class=None, caps=None, seed: int = 0):
    """Randomly drop wafers of the large classes.

    Parameters
    ----------
    data : WaferSet or WaferDataset (the training part)
    n_per_class : None, int or {class: int}
        Keep at most this many wafers per class. ``None`` (and no ``caps``)
        means the size of the smallest non-empty class.
    caps : None or {class name: fraction in (0, 1]}
        Keep this fraction of the named classes. The course (on another data
        set than WM-811K) built two alternative versions, both largest classes
        cut to 80 % in one and to 60 % in the other, and kept the 80 % one;
        on WM-811K that is ``{"none": 0.8, "Edge-Ring": 0.8}``.
    seed : int

    Returns
    -------
    (new data of the same type, report DataFrame from :func:`count_report`)

    Taught in: 02_augmentation"""
    counts, names = _counts(data)
    cap = _check_caps(caps, names)
    limit = counts.astype(np.int64).copy()
    if n_per_class is None and not cap:
        limit = np.minimum(limit, counts[counts > 0].min())
    elif n_per_class is not None:
        for c, v in _per_class(n_per_class, "n_per_class", names).items():
            limit[c] = min(limit[c], _check_count(v, f"n_per_class[{names[c]!r}]"))
    for c, frac in cap.items():
        limit[c] = min(limit[c], max(1, int(round(frac * counts[c]))) if counts[c] else 0)
    return _resample(data, limit, augment=False, max_shift=0, seed=_check_seed(seed))


def oversample(data, *, n_per_class=None, seed: int = 0):
    """Repeat wafers of the small classes (exact copies) until each has ``n_per_class``.

    Parameters
    ----------
    data : WaferSet or WaferDataset (the training part)
    n_per_class : None, int or {class: int}
        Target per class; classes already larger are left as they are.
        ``None`` means the size of the largest class (empty classes stay empty).
    seed : int

    Returns
    -------
    (new data, report). Copies are spread evenly over the wafers of a class.

    Taught in: 02_augmentation"""
    counts, names = _counts(data)
    target = counts.astype(np.int64).copy()
    wanted = {c: int(counts.max()) for c in np.flatnonzero(counts)} if n_per_class is None else \
        _per_class(n_per_class, "n_per_class", names)
    for c, v in wanted.items():
        v = _check_count(v, f"n_per_class[{names[c]!r}]")
        if counts[c] == 0:
            raise ValueError(f"class {names[c]!r} has no wafers, so it cannot be oversampled; "
                             "leave it out of n_per_class or merge it.")
        target[c] = max(counts[c], v)
    return _resample(data, target, augment=False, max_shift=0, seed=_check_seed(seed))


def augment_offline(data, factor=7, *, caps=None, max_shift: int = 0, seed: int = 0):
    """Grow classes ×k with exact D4 variants (rotations/flips, optional shifts); cut capped classes.

    Parameters
    ----------
    data : WaferSet or WaferDataset with fixed-size maps (the training part)
    factor : number >= 1 or {class: number >= 1}
        A class of ``n`` wafers ends with ``round(factor * n)``: its ``n``
        originals plus variants. A number applies to every class not in
        ``caps``; a mapping to the named classes only (the others keep ×1).
        The course used ×7 and ×12. Up to ×8 every variant of a wafer is a
        different D4 element; beyond that pass ``max_shift`` for more variety.
    caps : None or {class name: fraction in (0, 1]}
        Classes cut to this fraction instead of grown (e.g. ``{"none": 0.6}``).
    max_shift : int
        Also shift each variant by up to this many pixels (off-wafer fill).
    seed : int

    Returns
    -------
    (new data, report); ``result.info["augmented"]`` marks the variants.

    Taught in: 02_augmentation"""
    counts, names = _counts(data)
    cap = _check_caps(caps, names)
    if isinstance(factor, Mapping):
        factors = {c: 1.0 for c in range(len(names))}
        factors.update(_per_class(factor, "factor", names))
    else:
        factors = {c: factor for c in range(len(names)) if c not in cap}
    target = counts.astype(np.int64).copy()
    for c, k in factors.items():
        k = _check_number(k, f"factor[{names[c]!r}]")
        if k < 1:
            raise ValueError(f"factor for class {names[c]!r} is {k}; it must be >= 1 (1 keeps the class as it is, "
                             "7 makes it 7 times larger). To shrink a class use caps.")
        if c in cap and k > 1:
            raise ValueError(f"class {names[c]!r} is in both factor (x{k}) and caps; a class is either grown or cut.")
        target[c] = int(round(k * counts[c]))
    for c, frac in cap.items():
        target[c] = max(1, int(round(frac * counts[c]))) if counts[c] else 0
    _warn_repeats(counts, target, max_shift, names)
    return _resample(data, target, augment=True, max_shift=_check_shift(max_shift), seed=_check_seed(seed))


def balance_to_target(data, n_per_class: int, *, max_factor: float = 12, max_shift: int = 0, seed: int = 0):
    """Exactly ``n_per_class`` wafers in every class: cut the large ones, grow the small ones with D4 variants.

    Parameters
    ----------
    data : WaferSet or WaferDataset with fixed-size maps (the training part)
    n_per_class : int
        The course's balanced set used 2,000 (train), 615 (val), 462 (test).
    max_factor : number >= 1
        Largest growth allowed for a class (``n_per_class <= max_factor * n``);
        a target beyond it raises ``ValueError`` naming the classes, so a set
        is never made of dozens of copies of a handful of wafers by accident.
    max_shift : int
        Shift variants by up to this many pixels (more variety than the 8 D4 elements).
    seed : int

    Returns
    -------
    (new data, report)

    Taught in: 02_augmentation"""
    n_per_class = _check_count(n_per_class, "n_per_class")
    max_factor = _check_number(max_factor, "max_factor")
    if max_factor < 1:
        raise ValueError(f"max_factor must be >= 1; got {max_factor}.")
    counts, names = _counts(data)
    empty = [names[c] for c in np.flatnonzero(counts == 0)]
    if empty:
        raise ValueError(f"class {', '.join(map(repr, empty))} has no wafers, so no augmentation can grow it to "
                         f"n_per_class={n_per_class}. Check the split or drop the class.")
    short = [(names[c], int(n)) for c, n in enumerate(counts) if n_per_class > max_factor * n]
    if short:
        listing = ", ".join(f"{name} ({n} wafers, needs x{n_per_class / n:.1f})" for name, n in short)
        reachable = int(max_factor * min(n for _, n in short))
        raise ValueError(
            f"n_per_class={n_per_class} is more than x{max_factor:g} can reach for: {listing}. "
            f"Lower n_per_class (at most {reachable} for the smallest of them), raise max_factor, "
            "or combine with class weights / a weighted sampler."
        )
    target = np.full(len(names), n_per_class, dtype=np.int64)
    _warn_repeats(counts, target, max_shift, names)
    return _resample(data, target, augment=True, max_shift=_check_shift(max_shift), seed=_check_seed(seed))


def _check_shift(max_shift) -> int:
    if not is_int(max_shift) or max_shift < 0:
        raise ValueError(f"max_shift must be a non-negative integer (pixels); got {max_shift!r}.")
    return int(max_shift)


def _warn_repeats(counts, target, max_shift, names) -> None:
    over = [names[c] for c in range(len(names)) if counts[c] and target[c] > 8 * counts[c]]
    if over and not max_shift:
        warnings.warn(
            f"{', '.join(over)} grow beyond x8, but a wafer has only 8 D4 variants: some variants repeat. "
            "Pass max_shift=1 or 2 for more variety.",
            stacklevel=3,
        )


# ---------------------------------------------------------------------------
# Samplers and class weights
# ---------------------------------------------------------------------------
def _class_weight_vector(labels: np.ndarray, names: tuple[str, ...], scheme: str, beta: float) -> np.ndarray:
    """``float64 (n_classes,)`` weight of each class (:func:`course_utils.training.losses.class_weights`)."""
    if scheme not in WEIGHT_SCHEMES:
        raise ValueError(f"scheme={scheme!r} is not one of {WEIGHT_SCHEMES}.")
    counts = np.bincount(labels, minlength=len(names))
    empty = [f"{names[c]!r} (index {c})" for c in np.flatnonzero(counts == 0)]
    if empty:
        raise ValueError(
            f"class {', '.join(empty)} has no samples, so it has no weight and a sampler could never draw it. "
            "Check the split, or pass num_classes to match the classes that are present."
        )
    return class_weights(counts, scheme=scheme, beta=beta, dtype=torch.float64).numpy()


def sample_weights(labels, *, scheme: str = "inverse", beta: float = 0.9999,
                   num_classes: int | None = None) -> np.ndarray:
    """Per-sample weights ``float64 (N,)``: the weight of each sample's class.

    ``scheme="inverse"``: ``1 / n_c`` (every class equally likely to be drawn);
    ``"balanced"``: scikit-learn's ``n / (C * n_c)`` (same proportions);
    ``"effective"``: ``(1 - beta) / (1 - beta ** n_c)``, normalised to sum to
    ``C`` over classes (Cui et al. 2019, "Class-Balanced Loss Based on
    Effective Number of Samples"): between no re-weighting (``beta=0``) and
    inverse frequency (``beta -> 1``).

    Used by: tests/classification/test_balance.py, benchmarks/bench_synthetic.py"""
    labels, names = _labels_and_names(labels, num_classes)
    return _class_weight_vector(labels, names, scheme, beta)[labels]


def make_weighted_sampler(labels, *, scheme: str = "inverse", beta: float = 0.9999, num_samples: int | None = None,
                          replacement: bool = True, seed: int | None = None,
                          num_classes: int | None = None) -> WeightedRandomSampler:
    """A ``WeightedRandomSampler`` that draws classes by :func:`sample_weights`.

    Parameters
    ----------
    labels : WaferSet, WaferDataset or label array ``(N,)`` of the training set
    scheme, beta : see :func:`sample_weights`
    num_samples : int or None
        Samples per epoch (default ``N``: an epoch as long as the data set).
    replacement : bool
        Must stay ``True`` to draw small classes more often than they occur.
    seed : int or None
        Seeds the sampler's generator (reproducible epochs).
    num_classes : int or None
        Default: the data's class names (9 for plain arrays). Every class must
        have at least one sample.

    Use with ``data.make_loader(ds, batch_size, sampler=make_weighted_sampler(ds, seed=SEED))``.

    Taught in: 02_augmentation"""
    weights = sample_weights(labels, scheme=scheme, beta=beta, num_classes=num_classes)
    num_samples = len(weights) if num_samples is None else _check_count(num_samples, "num_samples")
    generator = torch.Generator().manual_seed(_check_seed(seed)) if seed is not None else None
    return WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), num_samples=num_samples,
                                 replacement=bool(replacement), generator=generator)
