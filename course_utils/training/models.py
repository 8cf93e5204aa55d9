"""The course's proposed wafer CNN and a summary helper.

>>> from course_utils.training import models
>>> model = models.WaferCNN(in_channels=3, num_classes=9, widths=(32, 64, 128), dropout=0.3)
>>> models.model_summary(model, input_size=(1, 3, 64, 64))   # shapes, parameters, FLOPs, receptive field

Architecture (each block halves the map)::

    [Conv3x3 -> BatchNorm -> ReLU] x convs_per_block -> MaxPool2x2     (one block per entry of widths)
    -> global pool (average; or maximum, or both summed) -> Dropout -> Linear(widths[-1], num_classes)

The classifier is the last ``nn.Linear`` of the model (``losses.use_normed_head``
replaces exactly that layer for LDAM).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils.core.checks import is_int

__all__ = ["conv_block", "GLOBAL_POOLS", "GlobalPool", "WaferCNN", "model_summary", "GPU_PEAK_TFLOPS",
           "GPU_UTILISATION", "STEP_OVERHEAD_S", "estimate_fit_seconds", "NormedLinear", "classifier_head"]


def conv_block(in_channels: int, out_channels: int, *, convs: int = 1, kernel_size: int = 3,
               batch_norm: bool = True, pool: bool = True) -> nn.Sequential:
    """``[Conv -> BatchNorm -> ReLU] x convs -> MaxPool(2)``; "same" padding keeps H, W until the pool.

    A convolution followed by batch norm needs no bias (BN's shift replaces it).

    Taught in: 03_cnn_design"""
    layers: list[nn.Module] = []
    for i in range(convs):
        layers.append(nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, kernel_size,
                                padding=kernel_size // 2, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


#: The global poolings WaferCNN offers (``global_pool``).
GLOBAL_POOLS = ("avg", "max", "avgmax")


class GlobalPool(nn.Module):
    """Global pooling of ``(N, C, H, W)`` features to ``(N, C, 1, 1)``: the mean over H, W (``"avg"``), the
    maximum (``"max"``) or their sum (``"avgmax"``).

    The average reads how much of the map shows a feature, the maximum whether any part does: a defect of a
    few dies (a Loc cluster, a thin Scratch) lights a feature on 1-2 % of the positions, which the average
    dilutes into the noise of the rest of the wafer and the maximum keeps.

    Used by: benchmarks/bench_synthetic (the twin's realism model)"""

    def __init__(self, mode: str = "avg"):
        super().__init__()
        if mode not in GLOBAL_POOLS:
            raise ValueError(f"global_pool (the GlobalPool mode) must be one of {GLOBAL_POOLS}, got {mode!r}.")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "avg":
            return x.mean(dim=(2, 3), keepdim=True)
        if self.mode == "max":
            return x.amax(dim=(2, 3), keepdim=True)
        return x.mean(dim=(2, 3), keepdim=True) + x.amax(dim=(2, 3), keepdim=True)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class WaferCNN(nn.Module):
    """Configurable conv-BN-ReLU-pool CNN for wafer maps.

    Parameters
    ----------
    in_channels : int
        3 for the one-hot encoding (off/good/defect), 1 for ``encoding="single"``.
    num_classes : int
        Number of outputs (logits).
    widths : sequence of int
        Output channels of each block; the depth is ``len(widths)``. Each block
        halves height and width, so a 64x64 map with 3 blocks ends at 8x8.
    dropout : float in [0, 1)
        Dropout probability before the classifier.
    convs_per_block : int
        Convolutions per block (2 gives a VGG-style block).
    kernel_size : int
        Odd kernel size of the convolutions.
    batch_norm : bool
        Use BatchNorm after each convolution.
    global_pool : {"avg", "max", "avgmax"}, default "avg"
        How the last block's features become one value per channel (:class:`GlobalPool`): ``"avgmax"``
        (average plus maximum) keeps small local defects visible in a noisy wafer.

    Input ``float32 (N, in_channels, H, W)`` with ``H, W >= 2**len(widths)``;
    output ``float32 (N, num_classes)`` logits.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 9, widths: Sequence[int] = (32, 64, 128),
                 dropout: float = 0.3, *, convs_per_block: int = 1, kernel_size: int = 3,
                 batch_norm: bool = True, global_pool: str = "avg"):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes),
                            ("convs_per_block", convs_per_block), ("kernel_size", kernel_size)):
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that padding keeps the map size, got {kernel_size}.")
        if isinstance(widths, int) or len(widths) == 0 or any(
                not is_int(w) or w < 1 for w in widths):
            raise ValueError(f"widths must be a non-empty sequence of positive integers, e.g. (32, 64, 128); "
                             f"got {widths!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        self.in_channels, self.num_classes, self.widths = in_channels, num_classes, tuple(widths)
        blocks, previous = [], in_channels
        for width in self.widths:
            blocks.append(conv_block(previous, width, convs=convs_per_block, kernel_size=kernel_size,
                                     batch_norm=batch_norm))
            previous = width
        self.features = nn.Sequential(*blocks)
        # "avg" keeps the layer the course teaches; any other name goes to GlobalPool, which refuses a bad one
        self.pool = nn.AdaptiveAvgPool2d(1) if global_pool == "avg" else GlobalPool(global_pool)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(float(dropout)),
                                        nn.Linear(previous, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        """He (Kaiming) initialisation for ReLU networks; BN starts as the identity."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"WaferCNN expects input of shape (N, {self.in_channels}, H, W), got "
                             f"{tuple(x.shape)}. Check the dataset encoding ('onehot' = 3 channels, "
                             "'single' = 1) against in_channels.")
        min_size = 2 ** len(self.widths)
        if x.shape[-1] < min_size or x.shape[-2] < min_size:
            raise ValueError(f"WaferCNN with {len(self.widths)} blocks needs maps of at least "
                             f"{min_size}x{min_size}, got {tuple(x.shape[-2:])}; use fewer blocks or larger maps.")
        return self.classifier(self.pool(self.features(x)))


@dataclass
class ModelSummary:
    """Result of :func:`model_summary`.

    ``table`` has one row per layer with columns ``layer``, ``type``,
    ``output_shape``, ``params`` and ``receptive_field`` (pixels of the input
    that one output value sees, for the convolution/pooling layers of a plain
    sequential CNN).
    """

    table: pd.DataFrame
    total_params: int
    trainable_params: int
    flops: int
    input_size: tuple[int, ...]
    receptive_field: int | None

    @property
    def gflops_per_image(self) -> float:
        """Forward-pass GFLOPs for one image (1 multiply-add = 2 FLOPs)."""
        return self.flops / self.input_size[0] / 1e9

    def __str__(self) -> str:
        lines = [self.table.to_string(index=False), "-" * 60,
                 f"total parameters:     {self.total_params:,}",
                 f"trainable parameters: {self.trainable_params:,}",
                 f"forward FLOPs:        {self.flops:,} for input {self.input_size} "
                 f"({self.gflops_per_image * 1e3:.2f} MFLOPs per image)",
                 f"receptive field:      {self.receptive_field} x {self.receptive_field} input pixels"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # shown by Jupyter
        return "<pre>" + str(self) + "</pre>"

    __repr__ = __str__


def _pair(value) -> int:
    return value[0] if isinstance(value, tuple) else int(value)


def model_summary(model: nn.Module, input_size: Sequence[int] = (1, 3, 64, 64), *,
                  device: str | torch.device | None = None) -> ModelSummary:
    """Layer output shapes, parameter counts, FLOPs and receptive field of ``model``.

    Parameters
    ----------
    model : nn.Module
    input_size : (N, C, H, W)
        Shape of the dummy ``float32`` input pushed through the model once (in
        eval mode, without gradients; the model's train/eval mode is restored).
    device : device of the dummy input; default: the model's parameters' device.

    FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (convolutions
    and matrix multiplications, 2 FLOPs per multiply-add) for the whole batch.
    The receptive field grows as ``r += (k - 1) * jump; jump *= stride`` over the
    Conv/Pool layers in order, which is exact for a plain sequential CNN.

    Taught in: 03_cnn_design"""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    input_size = tuple(int(s) for s in input_size)
    if len(input_size) != 4 or min(input_size) < 1:
        raise ValueError(f"input_size must be (N, C, H, W) with positive entries, got {input_size}.")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")

    rows: list[dict] = []
    state = {"rf": 1, "jump": 1}

    def hook(module: nn.Module, inputs, output) -> None:
        name = module_names[module]
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s = _pair(module.kernel_size), _pair(module.stride)
            d = _pair(getattr(module, "dilation", 1))
            state["rf"] += (k - 1) * d * state["jump"]
            state["jump"] *= s
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else "?"
        rows.append({"layer": name, "type": type(module).__name__, "output_shape": shape,
                     "params": sum(p.numel() for p in module.parameters(recurse=False)),
                     "receptive_field": state["rf"]})

    module_names = {m: n for n, m in model.named_modules() if n and not list(m.children())}
    handles = [m.register_forward_hook(hook) for m in module_names]
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(input_size, device=device)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    has_conv = any(isinstance(m, nn.Conv2d) for m in module_names)
    return ModelSummary(table=pd.DataFrame(rows), total_params=total, trainable_params=trainable,
                        flops=int(counter.get_total_flops()), input_size=input_size,
                        receptive_field=state["rf"] if has_conv else None)


#: Dense fp16 tensor-core peak TFLOP/s (vendor data sheets) of GPUs students get.
GPU_PEAK_TFLOPS = {"T4": 65.0, "A100": 312.0, "H100/H200 SXM": 989.0}
#: Share of that peak a training step of the capstone's models reaches with AMP + channels-last.
#: Measured on an H200 (2026-12-04, torch 2.11, batch 256): EfficientNet-B0 fine-tuning 1.0 %, frozen
#: 1.2 %, WaferCNN 0.9 %. An H200 and a T4 have the same ratio of peak FLOP/s to memory bandwidth
#: (989 / 4.8 TB/s and 65 / 0.32 TB/s: about 205 FLOP per byte), so memory-bound layers (depthwise
#: convolutions, batch norm) reach a similar share on both.
GPU_UTILISATION = 0.01
#: Seconds per training step that are not arithmetic (kernel launches, optimizer, AMP scaler):
#: measured on the same H200 at batch 24, where the arithmetic takes almost nothing. A lower bound
#: for a slower host CPU such as Colab's.
STEP_OVERHEAD_S = {"cnn": 0.004, "effnet_b0_frozen": 0.014, "effnet_b0_ft": 0.043}


def estimate_fit_seconds(fwd_gflops: float, *, n_train: int, n_val: int, n_test: int, epochs: int,
                         batch_size: int, train_factor: float = 3.0, tflops: float = GPU_PEAK_TFLOPS["T4"],
                         utilisation: float = GPU_UTILISATION, step_overhead_s: float = 0.0) -> dict:
    """Seconds one fit (training, validation every epoch, then the test sets once) takes on a GPU.

    ``fwd_gflops``: forward GFLOPs per image (``ModelSummary.gflops_per_image``). A training image
    costs ``train_factor`` x forward (3: backward = 2 x forward when every layer trains; 1 with a
    frozen backbone) plus ``step_overhead_s / batch_size``; an evaluated image costs 1 x forward.
    Throughput is ``tflops x utilisation`` (TFLOP/s). Returns ``train_s_per_epoch``,
    ``val_s_per_epoch``, ``s_per_epoch``, ``test_s`` and ``total_s`` (seconds, data loading excluded).

    Taught in: 12_project1_capstone"""
    for name, value in (("fwd_gflops", fwd_gflops), ("train_factor", train_factor), ("tflops", tflops),
                        ("utilisation", utilisation)):
        if not value > 0:
            raise ValueError(f"estimate_fit_seconds: {name}={value!r} must be > 0")
    if not 0 < utilisation <= 1:
        raise ValueError(f"estimate_fit_seconds: utilisation={utilisation!r} is a share of the peak, in (0, 1]")
    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test), ("epochs", epochs)):
        if not is_int(value) or value < 0:
            raise ValueError(f"estimate_fit_seconds: {name}={value!r} must be an integer >= 0")
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"estimate_fit_seconds: batch_size={batch_size!r} must be an integer >= 1")
    if step_overhead_s < 0:
        raise ValueError(f"estimate_fit_seconds: step_overhead_s={step_overhead_s!r} must be >= 0")
    s_per_fwd = fwd_gflops * 1e9 / (tflops * 1e12 * utilisation)
    train = n_train * train_factor * s_per_fwd + math.ceil(n_train / batch_size) * step_overhead_s
    val = n_val * s_per_fwd
    test = n_test * s_per_fwd
    return {"train_s_per_epoch": train, "val_s_per_epoch": val, "s_per_epoch": train + val, "test_s": test,
            "total_s": epochs * (train + val) + test}


# ---------------------------------------------------------------------------
# Classifier heads
# ---------------------------------------------------------------------------
class NormedLinear(nn.Module):
    """Linear layer on unit vectors: outputs cosine similarities in ``[-1, 1]``.

    ``out[i, c] = <x_i / |x_i|, w_c / |w_c|>`` for input ``x`` of shape
    ``(N, in_features)`` and output ``(N, out_features)``. No bias. This is the
    head LDAM expects (Cao et al. 2019); the loss's scale ``s`` turns the
    cosines back into confident logits.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"in_features and out_features must be >= 1; got {in_features}, {out_features}.")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # same start as nn.Linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def classifier_head(model: nn.Module) -> tuple[str, nn.Module]:
    """``(name, layer)`` of the model's classifier: its last ``nn.Linear`` or :class:`NormedLinear`.

    "Last" is the last in ``model.named_modules()`` order, which for the course
    CNN and the torchvision models is the layer that outputs the class scores
    (``fc``, ``classifier.1``, ``classifier.6``, ``head.fc`` ...). The one place
    the kit looks for it: ``engine.fit`` checks its size, ``transfer`` replaces it,
    ``losses.use_normed_head`` swaps it for a normed one.

    Used by: course_utils.training.engine, course_utils.training.losses, course_utils.training.transfer"""
    found = None
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, NormedLinear)):
            found = (name, module)
    if found is None:
        raise ValueError(f"{type(model).__name__} has no nn.Linear (or NormedLinear) classifier layer.")
    return found
