"""Augmentation for wafer maps: torchvision presets, the exact D4 preset, batch augmentation.

Wafer maps are *state* images: every pixel is one of three die states
(0 off-wafer, 1 good die, 2 defective die), not a brightness. That decides which
augmentations make sense:

* **Geometric, exact** (:func:`wafer_d4_transform`, :class:`BatchAugment`): the 8
  rotations/flips of the square (the dihedral group D4) only move pixels, so
  every state stays in {0, 1, 2} and the defect pattern keeps its class. Small
  integer shifts fill the uncovered border with *off-wafer*.
* **Geometric, interpolating** (:func:`course_transform`, the course's 224-px
  pipeline for transfer models): arbitrary angles, scales and shears resample the
  grid. Nearest neighbour keeps states exact but drops/duplicates dies; bilinear
  invents values between states (between 0 and 2 lies 1 = a *good die*).
* **Photometric** (:func:`photometric_transform`): brightness, contrast, blur and
  noise have no physical meaning for die states; the preset exists so the
  notebook can show that.

Presets by name: :func:`get_transform` (``available_transforms()`` lists them).

About ``fill=1`` in the course pipeline
---------------------------------------
Rotation and affine transforms uncover the corners of the image and paint them
with ``fill``. The course used ``fill=1``. What that value *means* depends on the
input encoding:

===============  ==================================  ==========================
encoding         ``fill=1`` paints the corners as     off-wafer fill instead
===============  ==================================  ==========================
state (0/1/2)    good dies (1) -- the wafer grows     ``0``
                 square corners of good dies
``"single"``     defective dies (1.0 = state 2 / 2)   ``0.0``
                 -- a fabricated edge defect
``"onehot"``     all three channels 1: "off, good     ``[1.0, 0.0, 0.0]``
                 and defective at once", an input
                 that never occurs in real data
===============  ==================================  ==========================

``course_transform()`` keeps ``fill=1`` so the course's results can be
reproduced; ``course_transform(fill="off_wafer")`` (preset ``"course224_exact"``)
paints the corners as off-wafer for the given encoding. :func:`off_wafer_fill`
returns that value.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn
from torchvision.transforms import v2

from course_utils.core.checks import is_int

__all__ = ["off_wafer_fill", "d4_transform", "d4_orbit", "BatchAugment", "RandomD4", "wafer_d4_transform",
           "course_transform", "PerSample", "invalid_state_fraction", "available_transforms", "get_transform"]

#: Names of the 8 elements of D4 in the order used by :func:`d4_transform`
#: (element ``e``: bit 0 flips rows, bit 1 flips columns, bit 2 transposes).
D4_ELEMENTS: tuple[str, ...] = (
    "identity",
    "flip_ud",         # torch.flip(x, dims=(-2,))
    "flip_lr",         # torch.flip(x, dims=(-1,))
    "rot180",          # torch.rot90(x, 2)
    "transpose",       # x.transpose(-2, -1)
    "rot90",           # torch.rot90(x, 1): 90 degrees counter-clockwise
    "rot270",          # torch.rot90(x, -1): 90 degrees clockwise
    "anti_transpose",  # transpose about the other diagonal
)

#: Off-wafer value of each encoding (state maps, ``data.encode_maps`` encodings).
_OFF_WAFER = {"state": 0, "single": 0.0, "onehot": [1.0, 0.0, 0.0]}


def off_wafer_fill(encoding: str = "onehot"):
    """The ``fill`` value that paints uncovered pixels as *off-wafer*.

    Parameters
    ----------
    encoding : {"onehot", "single", "state"}
        ``"state"`` means raw ``uint8`` maps with values 0/1/2.

    Returns
    -------
    ``[1.0, 0.0, 0.0]`` for ``"onehot"`` (a per-channel fill), ``0.0`` for
    ``"single"``, ``0`` for ``"state"``.

    Used by: tests/classification/test_augment.py"""
    if encoding not in _OFF_WAFER:
        raise ValueError(f"encoding={encoding!r} is not one of {sorted(_OFF_WAFER)}.")
    value = _OFF_WAFER[encoding]
    return list(value) if isinstance(value, list) else value


# ---------------------------------------------------------------------------
# Exact D4 + shift: one vectorised gather for a whole batch
# ---------------------------------------------------------------------------
def _default_fill(x: torch.Tensor):
    """Off-wafer value for a batch: state maps (B, H, W) -> 0, one-hot (B, 3, H, W) -> (1, 0, 0),
    single (B, 1, H, W) -> 0."""
    if x.dim() == 3 or x.shape[1] == 1:
        return 0
    if x.shape[1] == 3:
        return off_wafer_fill("onehot")
    raise ValueError(
        f"Cannot guess the off-wafer fill for {x.shape[1]} channels (expected 1 = 'single' or "
        "3 = 'onehot'); pass fill=<value or one value per channel>."
    )


def _fill_tensor(fill, x: torch.Tensor) -> torch.Tensor:
    """``fill`` as a tensor that broadcasts against ``x`` viewed as (B, C, H*W)."""
    channels = 1 if x.dim() == 3 else x.shape[1]
    value = torch.as_tensor(_default_fill(x) if fill is None else fill, dtype=x.dtype, device=x.device)
    if value.dim() == 0:
        return value.view(1, 1, 1)
    if value.shape != (channels,):
        raise ValueError(f"fill must be a number or one value per channel ({channels}); got {fill!r}.")
    return value.view(1, channels, 1)


def _check_batch(x, name: str = "x") -> None:
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}. Use torch.as_tensor(...) first.")
    if x.dim() not in (3, 4):
        raise ValueError(
            f"{name} must be a batch: state maps (B, H, W) or encoded inputs (B, C, H, W); "
            f"got shape {tuple(x.shape)}. Add a batch dimension with x.unsqueeze(0)."
        )


def d4_transform(x: torch.Tensor, element, shift=None, *, fill=None) -> torch.Tensor:
    """Apply one D4 element (and an optional integer shift) to each sample of a batch.

    Pixels are only moved, never interpolated, so die states stay exact.

    Parameters
    ----------
    x : torch.Tensor
        State maps ``(B, H, W)`` (any dtype, e.g. ``uint8``) or encoded inputs
        ``(B, C, H, W)``. D4 elements 4-7 (transpose, rot90, rot270,
        anti_transpose) need square maps (``H == W``).
    element : int or int tensor ``(B,)``
        Index into :data:`D4_ELEMENTS` (0..7) for every sample, on any device.
    shift : None, (dy, dx) or int tensor ``(B, 2)``
        Pixels to move the content down (``dy``) and right (``dx``) after the
        D4 element; uncovered pixels get ``fill``.
    fill : None, number or one value per channel
        ``None`` = off-wafer (0 for state maps and ``"single"``, ``(1, 0, 0)``
        for one-hot inputs with 3 channels).

    Returns
    -------
    torch.Tensor, same shape, dtype and device as ``x``.

    Taught in: 02_augmentation"""
    _check_batch(x)
    b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    dev = x.device
    element = torch.as_tensor(element, dtype=torch.long, device=dev)
    if element.dim() > 1 or (element.dim() == 1 and len(element) != b):
        raise ValueError(f"element must be one int or one per sample ({b}); got shape {tuple(element.shape)}.")
    element = element.expand(b)
    if b == 0:
        return x.clone()
    if b and (element.min() < 0 or element.max() > 7):
        raise ValueError(f"element must lie in 0..7 (see augment.D4_ELEMENTS); got {element.tolist()}.")
    transpose = element >= 4
    if h != w and bool(transpose.any()):
        raise ValueError(
            f"D4 rotations/transposes need square maps; got {h}x{w}. Resize the maps to a square size "
            "(wafers.resize_maps) or use only the flips (elements 0-3)."
        )
    rows = torch.arange(h, device=dev).view(1, h, 1)
    cols = torch.arange(w, device=dev).view(1, 1, w)
    valid = None
    if shift is not None:
        shift = torch.as_tensor(shift, dtype=torch.long, device=dev)
        if shift.shape not in ((2,), (b, 2)):
            raise ValueError(f"shift must be (dy, dx) or one (dy, dx) per sample ({b}, 2); got shape "
                             f"{tuple(shift.shape)}.")
        shift = shift.expand(b, 2)
        rows, cols = rows - shift[:, 0].view(b, 1, 1), cols - shift[:, 1].view(b, 1, 1)
        valid = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)  # (B, H, W)
        rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    flip_rows = (element & 1).bool().view(b, 1, 1)
    flip_cols = (element & 2).bool().view(b, 1, 1)
    a = torch.where(flip_rows, h - 1 - rows, rows)
    c = torch.where(flip_cols, w - 1 - cols, cols)
    transpose = transpose.view(b, 1, 1)
    src = torch.where(transpose, c, a) * w + torch.where(transpose, a, c)  # (B, H, W) flat source pixel
    flat = x.reshape(b, -1, h * w)
    out = flat.gather(2, src.view(b, 1, h * w).expand(b, flat.shape[1], h * w))
    if valid is not None:
        out = torch.where(valid.view(b, 1, h * w), out, _fill_tensor(fill, x))
    return out.view(x.shape)


def d4_orbit(wafer_map: torch.Tensor) -> torch.Tensor:
    """All 8 D4 images of one map: ``(H, W)`` -> ``(8, H, W)``, ``(C, H, W)`` -> ``(8, C, H, W)``,
    in the order of :data:`D4_ELEMENTS`.

    Taught in: 02_augmentation"""
    wafer_map = torch.as_tensor(wafer_map)
    if wafer_map.dim() not in (2, 3):
        raise ValueError(f"wafer_map must be (H, W) or (C, H, W); got shape {tuple(wafer_map.shape)}.")
    batch = wafer_map.unsqueeze(0).expand(8, *wafer_map.shape)
    return d4_transform(batch, torch.arange(8))


class BatchAugment(nn.Module):
    """Random exact D4 element (and shift) per sample, for a whole batch at once.

    Made for ``engine.fit(..., batch_transform=BatchAugment(seed=0))``: it runs
    on the training device after the batch was moved there, so augmentation
    costs one gather per batch instead of per-sample Python.

    Parameters
    ----------
    d4 : bool
        Draw one of the 8 rotations/flips per sample (``False``: identity).
    max_shift : int
        Also move each sample by a random integer ``dy, dx`` in
        ``[-max_shift, max_shift]`` pixels; the uncovered border becomes
        off-wafer. Keep it small (1-3 px at 64x64): the position of a defect
        relative to the wafer centre is what separates Center, Loc and Edge-Loc.
    fill : None, number or one value per channel
        ``None`` = off-wafer for the input (see :func:`d4_transform`).
    seed : int or None
        Seeds a private CPU ``torch.Generator``; the same seed gives the same
        augmentation on CPU and GPU. ``None`` uses torch's global generator.

    Input/output
    ------------
    ``(B, C, H, W)`` float encoded batches (or ``(B, H, W)`` state maps) on any
    device; the output has the same shape, dtype and device.
    """

    def __init__(self, *, d4: bool = True, max_shift: int = 0, fill=None, seed: int | None = None):
        super().__init__()
        if not is_int(max_shift) or max_shift < 0:
            raise ValueError(f"max_shift must be a non-negative integer (pixels); got {max_shift!r}.")
        self.d4 = bool(d4)
        self.max_shift = max_shift
        self.fill = fill
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def sample_params(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Draw ``(element (B,), shift (B, 2) or None)`` on the CPU generator."""
        element = torch.randint(8 if self.d4 else 1, (batch_size,), generator=self.generator)
        shift = None
        if self.max_shift:
            shift = torch.randint(-self.max_shift, self.max_shift + 1, (batch_size, 2), generator=self.generator)
        return element, shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_batch(x)
        element, shift = self.sample_params(x.shape[0])
        if not self.d4 and shift is None:
            return x
        non_blocking = x.device.type == "cuda"
        element = element.to(x.device, non_blocking=non_blocking)
        if shift is not None:
            shift = shift.to(x.device, non_blocking=non_blocking)
        return d4_transform(x, element, shift, fill=self.fill)

    def extra_repr(self) -> str:
        return f"d4={self.d4}, max_shift={self.max_shift}, fill={self.fill}, seed={self.seed}"


class RandomD4(nn.Module):
    """Per-sample preset: one random D4 element (and shift) per call, torchvision style.

    Accepts one state map ``(H, W)`` or one encoded sample ``(C, H, W)`` and
    composes with ``torchvision.transforms.v2.Compose``. Parameters as in
    :class:`BatchAugment`. For training batches prefer :class:`BatchAugment`.
    """

    def __init__(self, *, max_shift: int = 0, fill=None, seed: int | None = None):
        super().__init__()
        self.batch = BatchAugment(d4=True, max_shift=max_shift, fill=fill, seed=seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(x) or x.dim() not in (2, 3):
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(
                f"RandomD4 transforms one sample: a map (H, W) or an encoded sample (C, H, W); got {shape}. "
                "For batches use augment.BatchAugment."
            )
        return self.batch(x.unsqueeze(0))[0]

    def extra_repr(self) -> str:
        return self.batch.extra_repr()


def wafer_d4_transform(max_shift: int = 0, *, fill=None, seed: int | None = None) -> RandomD4:
    """The wafer-exact preset for the custom CNN: a random rotation/flip of the square
    (8 choices, no interpolation) and an optional shift of up to ``max_shift`` pixels
    with off-wafer fill. Works on one ``(H, W)`` map or one ``(C, H, W)`` sample.

    Used by: tests/classification/test_augment.py"""
    return RandomD4(max_shift=max_shift, fill=fill, seed=seed)


# ---------------------------------------------------------------------------
# torchvision presets
# ---------------------------------------------------------------------------
class _ImageCompose(v2.Compose):
    """``v2.Compose`` that checks for a ``(C, H, W)``/``(B, C, H, W)`` tensor first
    (torchvision would fail deep inside a kernel on a 2-D map)."""

    def forward(self, *inputs):
        x = inputs[0] if len(inputs) == 1 else None
        if torch.is_tensor(x) and x.dim() < 3:
            raise ValueError(
                f"This transform needs an image tensor (C, H, W) or a batch (B, C, H, W); got shape "
                f"{tuple(x.shape)}. Encode maps first (data.encode_maps) or add a channel: x.unsqueeze(0)."
            )
        return super().forward(*inputs)


_INTERPOLATIONS = {"nearest": v2.InterpolationMode.NEAREST, "bilinear": v2.InterpolationMode.BILINEAR}


def course_transform(size: int = 224, *, fill=1.0, encoding: str = "onehot",
                     interpolation: str | None = None) -> v2.Compose:
    """The course's augmentation pipeline for transfer models at ``size`` px.

    ``Resize(size)``, ``RandomRotation(45)``, ``RandomHorizontalFlip()``,
    ``RandomVerticalFlip()``, ``RandomResizedCrop(size, scale=(0.9, 1.0),
    ratio=(0.8, 1.25))``, ``RandomAffine(0, scale=(0.8, 1.2), shear=5)``.

    Parameters
    ----------
    size : int
        Output height and width in pixels.
    fill : number, per-channel sequence or ``"off_wafer"``
        Value painted into pixels uncovered by rotation/affine. ``1.0`` is the
        course's choice (see the module docstring for what it means per
        encoding); ``"off_wafer"`` uses :func:`off_wafer_fill` of ``encoding``.
    encoding : {"onehot", "single", "state"}
        Only used for ``fill="off_wafer"``.
    interpolation : None, "nearest" or "bilinear"
        ``None`` keeps torchvision's defaults as the course did (bilinear
        Resize/RandomResizedCrop, nearest rotation/affine); ``"nearest"`` keeps
        every pixel a valid state; ``"bilinear"`` everywhere.

    Returns
    -------
    A ``v2.Compose`` for one float image ``(C, H, W)`` (each call draws new
    parameters; a ``(B, C, H, W)`` batch shares one draw -- wrap it in
    :class:`PerSample` for independent draws per sample). Output ``(C, size, size)``.

    Used by: solutions/02_augmentation_solutions, tests/classification/test_augment.py"""
    if not is_int(size) or size < 8:
        raise ValueError(f"size must be an integer >= 8 (pixels); got {size!r}.")
    if isinstance(fill, str):
        if fill != "off_wafer":
            raise ValueError(f"fill={fill!r}: pass a number, one number per channel, or 'off_wafer'.")
        fill = off_wafer_fill(encoding)
    if interpolation is None:
        resample, rotate = v2.InterpolationMode.BILINEAR, v2.InterpolationMode.NEAREST
    elif interpolation in _INTERPOLATIONS:
        resample = rotate = _INTERPOLATIONS[interpolation]
    else:
        raise ValueError(f"interpolation={interpolation!r} is not one of None, 'nearest', 'bilinear'.")
    antialias = resample != v2.InterpolationMode.NEAREST
    return _ImageCompose([
        v2.Resize(size, interpolation=resample, antialias=antialias),
        v2.RandomRotation(45, interpolation=rotate, fill=fill),
        v2.RandomHorizontalFlip(),
        v2.RandomVerticalFlip(),
        v2.RandomResizedCrop(size, scale=(0.9, 1.0), ratio=(0.8, 1.25), interpolation=resample,
                             antialias=antialias),
        v2.RandomAffine(degrees=0, scale=(0.8, 1.2), shear=5, interpolation=rotate, fill=fill),
    ])


def photometric_transform(*, brightness: float = 0.3, contrast: float = 0.3, blur_sigma: float = 1.0,
                          noise_sigma: float = 0.05) -> v2.Compose:
    """Photometric augmentation (brightness, contrast, Gaussian blur and noise), for comparison only.

    Shown in notebook 02 to make the point that these change *values*, and for
    die states a changed value is a different state (or none at all). Expects a
    float image ``(C, H, W)`` in [0, 1]; returns the same shape, clipped to [0, 1].
    """
    return _ImageCompose([
        v2.ColorJitter(brightness=brightness, contrast=contrast),
        v2.GaussianBlur(kernel_size=5, sigma=blur_sigma),
        v2.GaussianNoise(sigma=noise_sigma, clip=True),
    ])


class PerSample(nn.Module):
    """Apply a per-image transform to every sample of a batch with its own random draw.

    ``PerSample(course_transform())`` turns the 224-px pipeline into a
    ``batch_transform`` for ``engine.fit``: ``(B, C, H, W) -> (B, C, size, size)``.
    It loops over the samples in Python, which is fine next to a 224-px transfer
    model but not for the small CNN (use :class:`BatchAugment` there).
    """

    def __init__(self, transform: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        if not callable(transform):
            raise TypeError(f"transform must be callable; got {type(transform).__name__}.")
        self.transform = transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_batch(x)
        return torch.stack([self.transform(sample) for sample in x])


# ---------------------------------------------------------------------------
# Checking what a transform did to the states
# ---------------------------------------------------------------------------
def invalid_state_fraction(x, encoding: str = "state") -> float:
    """Fraction of pixels that are no longer a valid die state.

    Parameters
    ----------
    x : tensor or array
        ``"state"``: maps ``(..., H, W)``, valid values {0, 1, 2};
        ``"single"``: ``(..., 1, H, W)``, valid {0, 0.5, 1};
        ``"onehot"``: ``(..., 3, H, W)``, valid = exactly one channel is 1, the others 0.

    Returns
    -------
    float in [0, 1] (0.0 = every pixel is a die state).

    Taught in: 02_augmentation"""
    x = torch.as_tensor(x)
    if x.numel() == 0:
        raise ValueError("x is empty.")
    x = x.float()
    if encoding == "state":
        valid = (x == 0) | (x == 1) | (x == 2)
    elif encoding == "single":
        valid = (x == 0) | (x == 0.5) | (x == 1)
    elif encoding == "onehot":
        if x.dim() < 3 or x.shape[-3] != 3:
            raise ValueError(f"onehot input must have 3 channels at dim -3; got shape {tuple(x.shape)}.")
        binary = ((x == 0) | (x == 1)).all(dim=-3)
        valid = binary & (x.sum(dim=-3) == 1)
    else:
        raise ValueError(f"encoding={encoding!r} is not one of 'state', 'single', 'onehot'.")
    return 1.0 - valid.float().mean().item()


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------
_PRESETS: dict[str, tuple[Callable, str]] = {
    "course224": (course_transform,
                  "course pipeline at 224 px, fill=1 as in the course (per sample, (C,H,W) float)"),
    "course224_exact": (partial(course_transform, fill="off_wafer", interpolation="nearest"),
                        "course pipeline with off-wafer fill and nearest interpolation (states stay exact)"),
    "wafer_d4": (wafer_d4_transform, "8 rotations/flips of the square, exact (per sample)"),
    "wafer_d4_shift": (partial(wafer_d4_transform, max_shift=2),
                       "wafer_d4 + shifts of up to 2 px with off-wafer fill (per sample)"),
    "batch_d4": (BatchAugment, "wafer_d4 for whole batches on the training device (engine.fit batch_transform)"),
    "batch_d4_shift": (partial(BatchAugment, max_shift=2), "batch_d4 + shifts of up to 2 px"),
    "photometric": (photometric_transform, "brightness/contrast/blur/noise -- for comparison only"),
    "none": (nn.Identity, "no augmentation"),
}


def available_transforms() -> dict[str, str]:
    """Preset name -> one-line description.

    Used by: tests/classification/test_augment.py"""
    return {name: desc for name, (_, desc) in _PRESETS.items()}


def get_transform(name: str, **kwargs):
    """Build an augmentation preset by name; ``kwargs`` go to its factory.

    >>> get_transform("batch_d4", seed=0)       # BatchAugment(d4=True, max_shift=0, seed=0)
    >>> get_transform("course224", size=128)

    Valid names: see :func:`available_transforms`.

    Taught in: 02_augmentation"""
    if not isinstance(name, str):
        raise TypeError(f"name must be a preset name (str); got {type(name).__name__}.")
    key = name.strip().lower()
    if key not in _PRESETS:
        raise ValueError(f"Unknown transform preset {name!r}; valid names: {', '.join(_PRESETS)}.")
    factory = _PRESETS[key][0]
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise TypeError(f"get_transform({name!r}, ...): {exc}") from None
