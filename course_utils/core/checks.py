"""Argument validation shared by every module: one rule, one message per idea.

Each helper raises ``TypeError`` for a value of the wrong kind and ``ValueError``
for a value of the right kind outside its range, and names the argument so the
message says what to fix, e.g.::

    >>> check_int(0, "epochs", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: epochs=0 must be an integer >= 1.

``bool`` is never accepted as a number (``True`` is an ``int`` in Python, but
``epochs=True`` is always a mistake).
"""
from __future__ import annotations

import numbers
import sys
from pathlib import Path

import numpy as np

__all__ = ["is_int", "is_real", "check_int", "check_real", "check_seed", "check_size", "check_labels", "largest_remainder",
           "as_numpy", "require_real_data"]


def is_int(value) -> bool:
    """True for Python / NumPy integers, False for ``bool`` and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    """True for Python / NumPy real numbers (ints included), False for ``bool`` and everything else."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def as_numpy(values, name: str, *, dtype=None, expected: str = "be array-like") -> np.ndarray:
    """``values`` (list, NumPy array or torch tensor, any shape) as a NumPy array, on the CPU.

    A tensor is detached and copied from its device first; ``dtype`` (e.g.
    ``np.float64``) converts the values, ``None`` keeps NumPy's choice. Raises
    ``TypeError`` naming ``name`` when the values cannot be converted (ragged
    lists, strings for a numeric ``dtype``): "<name> must <expected>; ...".
    """
    torch = sys.modules.get("torch")   # a tensor exists only once torch is imported
    if torch is not None and torch.is_tensor(values):
        values = values.detach().cpu().numpy()
    try:
        return np.asarray(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:  # ragged lists, strings and the like
        raise TypeError(f"{name} must {expected}; could not convert it ({exc}).") from None


def check_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int``; raises if it is not an integer in ``[minimum, maximum]``."""
    bounds = (f" >= {minimum}" if minimum is not None else "") + (
        f" and <= {maximum}" if maximum is not None else "")
    if not is_int(value):
        raise TypeError(f"{name}={value!r} must be an integer{bounds}.")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name}={value!r} must be an integer{bounds}.")
    return int(value)


def check_real(value, name: str, *, minimum: float | None = None, maximum: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a ``float`` in the interval given by ``minimum``/``maximum`` (open ends optional)."""
    lo = "" if minimum is None else (f" > {minimum}" if low_open else f" >= {minimum}")
    hi = "" if maximum is None else (f" < {maximum}" if high_open else f" <= {maximum}")
    text = f"{name}={value!r} must be a number{lo}{' and' if lo and hi else ''}{hi}."
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(text)
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(text)
    if minimum is not None and (v <= minimum if low_open else v < minimum):
        raise ValueError(text)
    if maximum is not None and (v >= maximum if high_open else v > maximum):
        raise ValueError(text)
    return v


def check_seed(seed, name: str = "seed") -> int:
    """A non-negative integer seed."""
    return check_int(seed, name, minimum=0)


def check_size(size, name: str = "size", *, min_size: int = 1) -> tuple[int, int]:
    """``size`` as ``(height, width)``; an int means a square of that side.

    Raises ``TypeError`` unless ``size`` is an integer or a pair of integers and
    ``ValueError`` when a side is below ``min_size`` pixels.
    """
    pair = (size, size) if is_int(size) else size
    try:
        h, w = pair
        ok = is_int(h) and is_int(w)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TypeError(f"{name}={size!r} must be an integer (e.g. 64 for 64x64 maps) or a pair (height, width).")
    if min(h, w) < min_size:
        raise ValueError(f"{name}={size!r} is too small: each side must be at least {min_size} pixel(s), "
                         "e.g. 64 (the course default).")
    return int(h), int(w)


def check_labels(values, name: str = "labels", *, n_classes: int | None = None,
                 allow_unlabeled: bool = False) -> np.ndarray:
    """``int64`` array ``(N,)`` of class indices, checked (the kit's one label check).

    Parameters
    ----------
    values : array-like ``(N,)`` of integer class indices (a torch tensor is fine;
        floats are accepted when they hold whole numbers)
    name : argument name used in the messages
    n_classes : int or None
        When given, every label must lie in ``0 .. n_classes - 1``.
    allow_unlabeled : bool
        Accept ``-1`` (an unlabeled wafer).
    """
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like; could not convert it ({exc}).") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices, got shape {arr.shape}. "
                         "Pass labels, not probabilities (use probs.argmax(1)).")
    if arr.size and arr.dtype.kind not in "iu":
        if arr.dtype.kind not in "fb" or arr.dtype.kind == "b" or not np.all(np.mod(arr, 1) == 0):
            raise TypeError(f"{name} must hold integer class indices, got dtype {arr.dtype}"
                            + (" with fractions." if arr.dtype.kind == "f" else "."))
    arr = arr.astype(np.int64)
    if not arr.size:
        return arr
    low, high = int(arr.min()), int(arr.max())
    lowest = -1 if allow_unlabeled else 0
    if low < lowest or (n_classes is not None and high >= n_classes):
        valid = f"0..{n_classes - 1}" if n_classes is not None else ">= 0"
        hint = " Remove unlabeled (-1) wafers first" if low == -1 and not allow_unlabeled else ""
        raise ValueError(f"{name} holds labels from {low} to {high}, but the valid labels are {valid}"
                         + (f" for {n_classes} classes" if n_classes is not None else "") + "."
                         + (hint + " or pass the matching class_names." if hint else ""))
    return arr


def largest_remainder(weights, total: int) -> np.ndarray:
    """``int64`` counts proportional to ``weights`` that add up to ``total`` (Hamilton rounding).

    Each entry gets ``floor(total * w / sum(w))``; the remaining units go to the
    largest fractional parts (ties: the earlier entry first).

    Taught in: 12_project1_capstone"""
    weights = np.asarray(weights, dtype=np.float64)
    exact = weights * total / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: int(total - counts.sum())]] += 1
    return counts


def require_real_data(data_dir, names, *, what: str, folders: bool = False) -> Path:
    """``data_dir`` as a ``Path`` if it holds every one of ``names`` (files; folders with ``folders=True``).

    The developers' real samples (``../shared/data``) are not part of the kit: a missing one raises
    ``FileNotFoundError`` naming every missing name, the folder looked in, and where ``what`` (e.g. "the real
    WM-811K maps") live.

    Used by: course_utils.classification.calibration, course_utils.detection.calibration"""
    data_dir = Path(data_dir)
    present = Path.is_dir if folders else Path.is_file
    missing = [name for name in names if not present(data_dir / name)]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)} not found in {data_dir}: {what} live in ../shared/data beside "
                                "the repository (not in the kit); pass the folder that holds them.")
    return data_dir
