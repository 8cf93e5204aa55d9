"""torchvision's detectors for the PCB defects, through the offline-safe weights path of ``transfer``.

``build_detector(name, weights="DEFAULT")`` builds one of :data:`DETECTORS` with a
head for the six defect classes (+ background) and loads COCO weights for the rest:
from the torch hub cache, a short-timeout download, or a local ``.pth``; offline a
one-line :class:`transfer.PretrainedWeightsWarning` and random initialisation --
never a hang (the same helpers as notebook 05's ``transfer.build_transfer_model``).

The models take a list of ``float32 (3, H, W)`` images in [0, 1] and, in training
mode, the kit's target dicts (torch tensors); :func:`fit_detector` and
:func:`predict` wrap that for a ``DetectionSet``. ``min_size``/``max_size`` set the
internal resize (torchvision's default 800 is slow on a CPU; 320 for smoke runs).
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import torch
import torchvision

from course_utils.core.pretrained import (PretrainedWeightsWarning, cached_weights_path, load_imagenet_state_dict, load_into,
                          read_weights_file, resolve_weights)
from course_utils.detection.detector import run_epochs
from course_utils.detection.pcb import PCB_CLASSES

__all__ = ["DETECTORS", "build_detector", "fit_detector", "predict"]

#: Supported models and the attribute path of the part of the head that depends on the class count.
DETECTORS = {
    "fasterrcnn_mobilenet_v3_large_fpn": "roi_heads.box_predictor",
    "fasterrcnn_resnet50_fpn": "roi_heads.box_predictor",
    "fcos_resnet50_fpn": "head.classification_head.cls_logits",
    "retinanet_resnet50_fpn": "head.classification_head.cls_logits",
}


def build_detector(name: str = "fasterrcnn_mobilenet_v3_large_fpn", *, weights="DEFAULT",
                   num_classes: int = len(PCB_CLASSES), min_size: int = 640, max_size: int = 640,
                   allow_download: bool = True, **kwargs) -> torch.nn.Module:
    """A torchvision detector for ``num_classes`` defect types; ``model.weights_source`` says where weights came from.

    ``weights``: ``"DEFAULT"`` or a weights name (COCO), a path to a ``.pth`` state
    dict, or ``None`` (random init). The class-dependent head is always new.
    The head has ``num_classes + 1`` outputs: label ids 1..K index them directly.

    Taught in: 15_detector_from_scratch"""
    if name not in DETECTORS:
        raise ValueError(f"name={name!r} is not supported; choose one of {sorted(DETECTORS)}.")
    head = DETECTORS[name]
    n_out = num_classes + 1  # class 0 = background (an unused column for FCOS/RetinaNet, as in COCO's 91)
    model = torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=n_out,
                                         min_size=min_size, max_size=max_size, **kwargs)
    if weights is None:
        model.weights_source = "random"
        return model
    if isinstance(weights, os.PathLike) or (isinstance(weights, str) and weights.endswith((".pt", ".pth"))):
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"weights file {path} does not exist; pass an existing .pth, 'DEFAULT' or None.")
        load_into(model, read_weights_file(path), head_name=head, name=name, origin=f"weights file {path}")
        model.weights_source = f"file:{path}"
        return model
    enum = resolve_weights(name, weights)
    state, reason = load_imagenet_state_dict(enum, allow_download=allow_download)
    if state is None:
        warnings.warn(f"{name}: COCO weights {enum} unavailable ({reason}); using random initialisation. "
                      f"Download {enum.url} into {cached_weights_path(enum).parent} or pass weights='file.pth'.",
                      PretrainedWeightsWarning, stacklevel=2)
        model.weights_source = "random (pretrained weights unavailable)"
        return model
    load_into(model, state, head_name=head, name=name, origin=f"COCO weights {enum}")
    model.weights_source = f"coco:{enum}"
    return model


def to_model_inputs(ds, index, device) -> tuple[list, list]:
    """Images ``index`` of a DetectionSet as torchvision inputs (3 channels, [0, 1]) and target tensors."""
    images = [torch.from_numpy(ds.images[i]).float().div(255).expand(3, -1, -1).to(device) for i in index]
    targets = [{"boxes": torch.as_tensor(ds.boxes[i], dtype=torch.float32, device=device).reshape(-1, 4),
                "labels": torch.as_tensor(ds.labels[i], dtype=torch.int64, device=device)} for i in index]
    return images, targets


def fit_detector(model, ds, *, epochs: int = 1, batch_size: int = 4, lr: float = 1e-3, device="cpu",
                 max_steps: int | None = None, seed: int = 0, verbose: bool = True) -> pd.DataFrame:
    """Train with AdamW (torchvision returns the loss dict itself in training mode).

    Returns the history, one row per epoch: ``epoch``, ``loss`` (mean over the epoch's
    images, the sum of torchvision's loss parts) and ``time_s``; the loop is
    ``detector.run_epochs``, shared with the hand-written detector.

    Taught in: 15_detector_from_scratch
    """
    torch.manual_seed(seed)
    model.to(device).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4)

    def train_step(batch: torch.Tensor) -> dict:
        images, targets = to_model_inputs(ds, batch.tolist(), device)
        loss = sum(model(images, targets).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": float(loss.detach())}

    return run_epochs(train_step, len(ds), epochs=epochs, batch_size=batch_size, seed=seed, max_steps=max_steps,
                      describe=(lambda row: f"epoch {row['epoch']}: loss {row['loss']:.3f}") if verbose else None)


@torch.no_grad()
def predict(model, ds, *, device="cpu", batch_size: int = 4) -> list[dict]:
    """The kit's prediction dicts (NumPy, ids 1..K) for every image of ``ds``.

    Taught in: 15_detector_from_scratch"""
    model.to(device).eval()
    out = []
    for start in range(0, len(ds), batch_size):
        images, _ = to_model_inputs(ds, range(start, min(start + batch_size, len(ds))), device)
        for r in model(images):
            out.append({"boxes": r["boxes"].cpu().numpy().astype(np.float32),
                        "labels": r["labels"].cpu().numpy().astype(np.int64),
                        "scores": r["scores"].cpu().numpy().astype(np.float32)})
    return out
