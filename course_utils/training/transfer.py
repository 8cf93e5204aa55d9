"""Transfer learning with torchvision classification models, safe to use offline.

One builder, :func:`build_transfer_model`, turns an ImageNet model from
torchvision into a wafer-map classifier:

1. **Input adapter** (:class:`WaferInputAdapter`): wafer inputs are 64x64 one-hot
   (3 channels) or single-channel maps, while ImageNet models were trained on
   224x224 RGB photos. The adapter repeats a single channel to three, upsamples
   to ``input_size`` and applies the ImageNet normalisation when pretrained
   weights are used.
2. **New head**: the model's last ``nn.Linear`` (ImageNet's 1000 classes) is
   replaced by a fresh ``nn.Linear(in_features, num_classes)``.
3. **Weights**: torchvision's weights enums (``"DEFAULT"``, ``"IMAGENET1K_V1"``),
   a local ``.pth`` file, or ``None``. Without network access and without a
   cached copy, the model falls back to random initialisation with a one-line
   :class:`PretrainedWeightsWarning` instead of hanging or failing.
4. **Mode**: ``"feature_extraction"`` freezes the backbone
   (``requires_grad=False``, BatchNorm statistics kept fixed) so only the head
   trains; ``"fine_tuning"`` trains every layer, optionally with a smaller
   learning rate for the backbone via :func:`param_groups`.

Example::

    model = build_transfer_model("resnet18", num_classes=9, weights="DEFAULT", input_size=224,
                                 mode="fine_tuning")
    optimizer = torch.optim.AdamW(param_groups(model, lr=1e-3, backbone_lr=1e-4))
    print(model.weights_source)          # where the weights came from
    parameter_report({"resnet18": model})
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models import WeightsEnum

from course_utils.core.checks import is_int
from course_utils.core import pretrained
from course_utils.core.pretrained import PretrainedWeightsWarning  # noqa: F401  (raised by build_transfer_model; notebooks filter it)
from course_utils.training.models import classifier_head

__all__ = ["SUPPORTED_MODELS", "PretrainedWeightsWarning",
           "WaferInputAdapter", "TransferModel", "replace_head", "build_transfer_model", "param_groups",
           "count_parameters", "parameter_report"]

#: Models the course supports (any torchvision classifier whose head is its last nn.Linear works).
SUPPORTED_MODELS = (
    "efficientnet_b0",
    "efficientnet_b3",
    "efficientnet_v2_s",
    "resnet18",
    "resnet50",
    "vgg16",
    "mobilenet_v3_small",
)
_MODES = ("feature_extraction", "fine_tuning")

#: ImageNet channel statistics (RGB) used by every torchvision classification weight.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

# ---------------------------------------------------------------------------
# Input adapter
# ---------------------------------------------------------------------------
class WaferInputAdapter(nn.Module):
    """Turn wafer-model inputs into what an ImageNet backbone expects.

    Parameters
    ----------
    in_channels : {1, 3}
        Channels of the incoming batch: 3 for the ``"onehot"`` encoding, 1 for
        ``"single"`` (repeated to 3 channels).
    input_size : int or None
        Side in pixels the batch is resized to (bilinear interpolation);
        ``None`` keeps the incoming size.
    normalize : bool
        Subtract the ImageNet mean and divide by its std per channel (use it when
        the backbone carries ImageNet weights).
    interpolation : {"bilinear", "nearest"}
        ``"nearest"`` keeps the three die states crisp; ``"bilinear"`` gives the
        smooth images ImageNet filters are used to.

    Shapes: ``(N, in_channels, H, W)`` float32 -> ``(N, 3, input_size, input_size)`` float32.
    """

    def __init__(self, in_channels: int = 3, input_size: int | None = None, normalize: bool = False,
                 interpolation: str = "bilinear"):
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 (encoding='single') or 3 (encoding='onehot'); got {in_channels!r}.")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"interpolation must be 'bilinear' or 'nearest'; got {interpolation!r}.")
        self.in_channels = in_channels
        self.input_size = input_size
        self.normalize = bool(normalize)
        self.interpolation = interpolation
        # non-persistent: the statistics are constants, not part of a checkpoint
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected a batch of shape (N, {self.in_channels}, H, W) because in_channels={self.in_channels}; "
                f"got {tuple(x.shape)}. Build the model with in_channels matching the dataset encoding "
                "('onehot' -> 3, 'single' -> 1)."
            )
        if self.in_channels == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.input_size is not None and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            align = False if self.interpolation == "bilinear" else None
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode=self.interpolation, align_corners=align)
        if self.normalize:
            x = (x - self.mean) / self.std
        return x

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, input_size={self.input_size}, "
                f"normalize={self.normalize}, interpolation={self.interpolation!r}")


# ---------------------------------------------------------------------------
# The model: adapter + backbone with a new head
# ---------------------------------------------------------------------------
class TransferModel(nn.Module):
    """A torchvision backbone with a new head behind a :class:`WaferInputAdapter`.

    Built by :func:`build_transfer_model`. The final layer is the last
    ``nn.Linear`` of the model (``model.head``), as for the course CNN.

    Attributes
    ----------
    name : str
        torchvision model name, e.g. ``"resnet18"``.
    head_name : str
        Attribute path of the head inside ``backbone``, e.g. ``"fc"`` or ``"classifier.1"``.
    weights_source : str
        ``"imagenet:<Weights enum>"``, ``"file:<path>"``, ``"random"`` or
        ``"random (pretrained weights unavailable)"``.
    mode : {"feature_extraction", "fine_tuning"}
    """

    def __init__(self, backbone: nn.Module, adapter: WaferInputAdapter, *, name: str, head_name: str,
                 weights_source: str, mode: str = "fine_tuning"):
        super().__init__()
        self.adapter = adapter
        self.backbone = backbone
        self.name = name
        self.head_name = head_name
        self.weights_source = weights_source
        self.mode = "fine_tuning"
        self.set_mode(mode)

    @property
    def head(self) -> nn.Module:
        """The final (new) layer that maps features to class logits."""
        return self.backbone.get_submodule(self.head_name)

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())

    def backbone_parameters(self) -> list[nn.Parameter]:
        """All parameters except the head's."""
        head_ids = {id(p) for p in self.head.parameters()}
        return [p for p in self.backbone.parameters() if id(p) not in head_ids]

    def set_mode(self, mode: str) -> "TransferModel":
        """Freeze the backbone (``"feature_extraction"``) or train all layers (``"fine_tuning"``)."""
        if mode not in _MODES:
            raise ValueError(f"mode={mode!r} is not one of {_MODES}.")
        self.mode = mode
        for p in self.backbone_parameters():
            p.requires_grad_(mode == "fine_tuning")
        for p in self.head_parameters():
            p.requires_grad_(True)
        return self.train(self.training)

    def train(self, mode: bool = True) -> "TransferModel":
        """Like ``nn.Module.train``; a frozen backbone keeps its BatchNorm layers in eval mode.

        ``requires_grad=False`` alone would still let BatchNorm update its
        running mean/variance in training, so the "frozen" features would drift.
        """
        super().train(mode)
        if mode and self.mode == "feature_extraction":
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` float32 -> logits ``(N, num_classes)``."""
        return self.backbone(self.adapter(x))


def replace_head(model: nn.Module, num_classes: int) -> str:
    """Swap the model's last ``nn.Linear`` for a fresh ``nn.Linear(in_features, num_classes)``.

    Returns the attribute path of the new head inside ``model`` (``"fc"``, ``"classifier.1"``, ...).

    Taught in: 12_project1_capstone"""
    head_name = classifier_head(model)[0]
    old_head = model.get_submodule(head_name)
    parent_name, _, attr = head_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, nn.Linear(old_head.in_features, int(num_classes)))
    return head_name


def _load_weights(backbone: nn.Module, weights, *, name: str, head_name: str, allow_download: bool) -> str:
    """Load ``weights`` (see :func:`build_transfer_model`) into ``backbone``; return where they came from."""
    if weights is None:
        return "random"
    is_path = isinstance(weights, os.PathLike) or (isinstance(weights, str) and (
        os.path.exists(weights) or weights.endswith((".pt", ".pth", ".bin")) or "/" in weights or os.sep in weights))
    if is_path:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} does not exist; pass an existing .pth file, 'DEFAULT' or None.")
        pretrained.load_into(backbone, pretrained.read_weights_file(path), head_name=head_name, name=name, origin=f"weights file {path}")
        return f"file:{path}"
    enum = pretrained.resolve_weights(name, weights)
    state, reason = pretrained.load_imagenet_state_dict(enum, allow_download=allow_download)
    if state is None:
        warnings.warn(
            f"{name}: ImageNet weights {enum} unavailable ({reason}); using random initialisation. "
            f"Download {enum.url} into {pretrained.cached_weights_path(enum).parent} or pass weights='file.pth'.",
            pretrained.PretrainedWeightsWarning, stacklevel=3)  # points at the caller of build_transfer_model
        return "random (pretrained weights unavailable)"
    pretrained.load_into(backbone, state, head_name=head_name, name=name, origin=f"ImageNet weights {enum}")
    return f"imagenet:{enum}"


# ---------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------
def build_transfer_model(
    name: str,
    *,
    num_classes: int,
    weights: str | os.PathLike | WeightsEnum | None = "DEFAULT",
    in_channels: int = 3,
    input_size: int | None = None,
    mode: str = "fine_tuning",
    normalize: bool | str = "auto",
    interpolation: str = "bilinear",
    allow_download: bool = True,
) -> TransferModel:
    """A torchvision classifier adapted to wafer maps.

    Parameters
    ----------
    name : str
        One of :data:`SUPPORTED_MODELS` (e.g. ``"efficientnet_b0"``, ``"resnet18"``).
    num_classes : int
        Outputs of the new head (9 for WM-811K).
    weights : "DEFAULT", a weights name such as "IMAGENET1K_V1", a torchvision weights enum, a path, or None
        ImageNet weights come from the torch hub cache or are downloaded (when
        ``allow_download`` and the server answers within ~2 s); otherwise the
        model keeps its random initialisation and a one-line
        :class:`PretrainedWeightsWarning` says so. A path loads a local state
        dict (ImageNet file or a saved ``TransferModel``); its head is used only
        if it has ``num_classes`` outputs. ``None``: random initialisation.
    in_channels : {1, 3}
        Channels of the inputs (``"single"`` -> 1, ``"onehot"`` -> 3).
    input_size : int or None
        Side the inputs are upsampled to. ``None`` uses the resolution the
        ImageNet weights were trained at (224 for ResNet/EfficientNet-B0, 300
        for B3, 384 for V2-S). Must be at least the model's minimum size.
    mode : {"fine_tuning", "feature_extraction"}
        See :meth:`TransferModel.set_mode`; can be changed later.
    normalize : "auto" or bool
        ImageNet normalisation in the adapter; ``"auto"`` = only when pretrained
        weights were actually loaded.
    interpolation : {"bilinear", "nearest"}
    allow_download : bool
        ``False`` never touches the network (cache or random initialisation).

    Returns
    -------
    TransferModel
        Maps float32 ``(N, in_channels, H, W)`` to logits ``(N, num_classes)``.
        ``model.weights_source`` says where the weights came from.

    Taught in: 05_transfer_learning"""
    if name not in SUPPORTED_MODELS:
        raise ValueError(f"unknown model name {name!r}; valid names: {', '.join(SUPPORTED_MODELS)}.")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2; got {num_classes!r}.")
    if mode not in _MODES:
        raise ValueError(f"mode={mode!r} is not one of {_MODES}.")
    if normalize not in ("auto", True, False):
        raise ValueError(f"normalize must be 'auto', True or False; got {normalize!r}.")

    enum_cls = torchvision.models.get_model_weights(name)
    reference = enum_cls.DEFAULT  # meta data (sizes) even when no weights are loaded
    min_size = max(reference.meta.get("min_size", (1, 1)))
    if input_size is None:
        input_size = int(getattr(reference.transforms, "keywords", {}).get("crop_size", 224))
    if not is_int(input_size) or input_size < min_size:
        raise ValueError(f"input_size must be an integer >= {min_size} for {name} (its minimum input size); got {input_size!r}.")

    adapter = WaferInputAdapter(in_channels, int(input_size), interpolation=interpolation)  # checks its arguments
    backbone = torchvision.models.get_model(name, weights=None)
    head_name = replace_head(backbone, num_classes)
    source = _load_weights(backbone, weights, name=name, head_name=head_name, allow_download=allow_download)
    adapter.normalize = (not source.startswith("random")) if normalize == "auto" else normalize
    return TransferModel(backbone, adapter, name=name, head_name=head_name, weights_source=source, mode=mode)


# ---------------------------------------------------------------------------
# Optimiser parameter groups and reports
# ---------------------------------------------------------------------------
def param_groups(model: TransferModel, *, lr: float, backbone_lr: float | None = None,
                 weight_decay: float | None = None) -> list[dict]:
    """Parameter groups for a ``torch.optim`` optimiser: the head at ``lr``, the backbone at ``backbone_lr``.

    Only trainable parameters are included (a frozen backbone gives one group).
    ``backbone_lr=None`` uses ``lr`` for every layer; a smaller value (e.g.
    ``lr / 10``) changes the pretrained filters more gently during fine-tuning.
    ``weight_decay=None`` leaves it to the optimiser's own setting. Each group
    carries a ``"name"`` (``"head"`` / ``"backbone"``).

    Taught in: 05_transfer_learning"""
    if not isinstance(model, TransferModel):
        raise TypeError(f"param_groups expects a TransferModel from build_transfer_model; got {type(model).__name__}.")
    for arg, value in (("lr", lr), ("backbone_lr", lr if backbone_lr is None else backbone_lr)):
        if not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{arg} must be a positive number; got {value!r}.")
    groups = [
        {"name": "head", "params": [p for p in model.head_parameters() if p.requires_grad], "lr": lr},
        {"name": "backbone", "params": [p for p in model.backbone_parameters() if p.requires_grad],
         "lr": lr if backbone_lr is None else backbone_lr},
    ]
    groups = [g for g in groups if g["params"]]
    if weight_decay is not None:
        groups = [dict(g, weight_decay=weight_decay) for g in groups]
    if not groups:
        raise ValueError(
            f"{model.name} has no trainable parameters (everything has requires_grad=False). "
            "Call model.set_mode('feature_extraction') to train the head or 'fine_tuning' to train all layers."
        )
    return groups


def count_parameters(model: nn.Module) -> dict[str, int]:
    """``{"total": ..., "trainable": ..., "frozen": ...}`` numbers of parameters (elements, not tensors).

    Used by: tests/training/test_transfer.py"""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}


def parameter_report(models: nn.Module | Mapping[str, nn.Module], histories: Mapping | None = None) -> pd.DataFrame:
    """Table of trainable vs frozen parameters and the time per training epoch.

    Parameters
    ----------
    models : nn.Module or dict name -> nn.Module
        Any models (transfer models, the course CNN).
    histories : dict name -> history, optional
        ``engine.fit`` results or their ``.history`` DataFrames (column
        ``time_s`` = seconds per epoch); missing names get NaN.

    Returns
    -------
    DataFrame indexed by model name with columns ``total_params``,
    ``trainable_params``, ``frozen_params`` (int), ``trainable_pct`` (%),
    ``size_mb`` (float32 parameter memory in MiB), ``weights`` (source) and,
    with histories, ``epochs`` and ``time_per_epoch_s`` (mean of ``time_s``).

    Taught in: 05_transfer_learning"""
    if isinstance(models, nn.Module):
        models = {getattr(models, "name", type(models).__name__): models}
    if not isinstance(models, Mapping) or not models:
        raise TypeError("models must be an nn.Module or a non-empty dict of name -> nn.Module.")
    rows = {}
    for name, model in models.items():
        if not isinstance(model, nn.Module):
            raise TypeError(f"models[{name!r}] must be an nn.Module; got {type(model).__name__}.")
        n = count_parameters(model)
        rows[name] = {
            "total_params": n["total"],
            "trainable_params": n["trainable"],
            "frozen_params": n["frozen"],
            "trainable_pct": 100.0 * n["trainable"] / max(n["total"], 1),
            "size_mb": n["total"] * 4 / 2**20,
            "weights": getattr(model, "weights_source", "random"),
        }
        if histories is not None:
            history = histories.get(name)
            history = getattr(history, "history", history)
            if history is not None and "time_s" not in getattr(history, "columns", ()):
                raise ValueError(f"histories[{name!r}] needs a 'time_s' column (the engine.fit history); "
                                 f"got columns {list(getattr(history, 'columns', []))}.")
            rows[name]["epochs"] = len(history) if history is not None else 0
            rows[name]["time_per_epoch_s"] = float(history["time_s"].mean()) if history is not None else float("nan")
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table
