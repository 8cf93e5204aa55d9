"""What a CNN looks at: layer outputs, Grad-CAM, and wafers whose evidence is known.

Notebook 10 writes Grad-CAM by hand (the lesson) and checks it against
:func:`grad_cam`; its solution notebook reuses the functions here.

>>> from course_utils.classification import interpret
>>> cam, logits = interpret.grad_cam(model, model.features[-1], x, class_idx=pred)   # (N, H, W) in [0, 1]
>>> maps, labels, masks = interpret.blob_wafers(clean_maps, seed=0)   # the blob is the only evidence
>>> interpret.cam_mass_inside(cam, masks, maps > 0)                   # fraction of heat on the blob

Grad-CAM (Selvaraju et al., 2017): for the score ``y_c`` of class ``c`` and the
activations ``A`` ``(K, h, w)`` of a convolutional layer, the channel weights are
the spatially averaged gradients ``alpha_k = mean_ij dy_c / dA_kij`` and the map
is ``ReLU(sum_k alpha_k A_k)``, upsampled (bilinear) to the input size.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.core.checks import check_real, check_seed
from course_utils.classification.wafers import DEFECT_DIE, GOOD_DIE, OFF_WAFER

__all__ = ["layer_outputs", "grad_cam", "blob_wafers", "cam_mass_inside"]


def _check_model_layer(model, layer) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    if not isinstance(layer, nn.Module) or not any(m is layer for m in model.modules()):
        raise ValueError("layer must be a sub-module of model, e.g. model.features[-1] for WaferCNN; "
                         f"got {type(layer).__name__}.")


def layer_outputs(model: nn.Module, layers: Mapping[str, nn.Module], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Outputs of the named sub-modules for input ``x`` (eval mode, no gradients).

    Returns ``{name: tensor}`` detached, on the model's device; e.g.
    ``layer_outputs(model, {"block1": model.features[0], "pooled": model.pool}, x)``.

    Taught in: 10_cnn_interpretability"""
    store: dict[str, torch.Tensor] = {}
    for name, layer in layers.items():
        _check_model_layer(model, layer)
    handles = [layer.register_forward_hook(lambda m, i, o, name=name: store.__setitem__(name, o.detach()))
               for name, layer in layers.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return store


def grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, class_idx) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM heat maps of ``class_idx`` at ``layer``.

    Parameters
    ----------
    model : classifier mapping ``float32 (N, C, H, W)`` to logits ``(N, K)``; run in eval mode.
    layer : a sub-module whose output is ``(N, k, h, w)`` (e.g. ``model.features[-1]``).
    x : ``float32 (N, C, H, W)`` on the model's device.
    class_idx : int or int tensor ``(N,)``: the class explained for each sample.

    Returns
    -------
    cam : ``float32 (N, H, W)``, each map divided by its maximum (all zeros if the map is 0).
    logits : ``float32 (N, K)``, detached.

    Taught in: 10_cnn_interpretability"""
    _check_model_layer(model, layer)
    store: dict[str, torch.Tensor] = {}

    def hook(module, inputs, output):
        store["act"] = output
        output.register_hook(lambda grad: store.__setitem__("grad", grad))

    handle = layer.register_forward_hook(hook)
    was_training = model.training
    try:
        model.eval()
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)  # so the hook sees a graph even with a frozen model
            logits = model(x)
            if "act" not in store or store["act"].dim() != 4:
                raise ValueError("layer must produce a 4-D feature map (N, k, h, w); pick a convolutional block.")
            index = torch.as_tensor(class_idx, device=logits.device).long().expand(len(x))
            model.zero_grad(set_to_none=True)
            logits.gather(1, index[:, None]).sum().backward()
    finally:
        handle.remove()
        model.train(was_training)
    act, grad = store["act"].detach(), store["grad"]
    weights = grad.mean(dim=(2, 3), keepdim=True)                 # alpha_k: (N, k, 1, 1)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True))         # (N, 1, h, w)
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).max(dim=1).values.clamp_min(1e-12)
    return cam / peak[:, None, None], logits.detach()


def blob_wafers(clean_maps, *, radius=(0.08, 0.12), noise: float = 0.03, placement: float = 0.32,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A two-class set whose evidence is known: wafers with one Loc-style blob vs none.

    Parameters
    ----------
    clean_maps : ``uint8 (N, H, W)`` wafer maps; every defective die is first made good.
    radius : (low, high) blob radius as a fraction of the map side.
    noise : fraction of good dies made defective at random on *every* wafer, so
        "has a defective die" does not give the class away; only the blob does.
    placement : the blob centre lies within ``placement * side`` of the map centre.
    seed : int

    Returns
    -------
    maps : ``uint8 (N, H, W)``; labels : ``int64 (N,)``, 1 = blob (every second wafer);
    masks : ``bool (N, H, W)``, the blob's dies (all False for label 0).

    Taught in: 10_cnn_interpretability"""
    maps = np.asarray(clean_maps)
    if maps.ndim != 3 or maps.dtype != np.uint8:
        raise ValueError(f"clean_maps must be a uint8 array (N, H, W); got {maps.dtype} {maps.shape}.")
    lo, hi = (check_real(r, "radius", minimum=0.0) for r in radius)
    noise = check_real(noise, "noise", minimum=0.0, maximum=1.0)
    rng = np.random.default_rng(check_seed(seed))
    n, h, w = maps.shape
    on = maps != OFF_WAFER
    out = np.where(on, GOOD_DIE, OFF_WAFER).astype(np.uint8)
    out[on & (rng.random(maps.shape) < noise)] = DEFECT_DIE
    labels = (np.arange(n) % 2).astype(np.int64)
    yy, xx = np.mgrid[0:h, 0:w]
    allowed = on & (np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2) < placement * min(h, w))
    # one centre per blob wafer, drawn uniformly among its allowed pixels (vectorised via random keys)
    keys = np.where(allowed, rng.random(maps.shape), -1.0).reshape(n, -1)
    centre = keys.argmax(axis=1)
    cy, cx = np.divmod(centre, w)
    r = rng.uniform(lo, hi, n) * min(h, w)
    masks = (np.hypot(yy - cy[:, None, None], xx - cx[:, None, None]) <= r[:, None, None]) & on
    masks &= (labels == 1)[:, None, None] & (keys.max(axis=1) >= 0)[:, None, None]
    out[masks] = DEFECT_DIE
    return out, labels, masks


def cam_mass_inside(cam, mask, region=None) -> tuple[np.ndarray, np.ndarray]:
    """Share of each heat map's mass inside ``mask``, and the share a uniform map would have.

    Parameters
    ----------
    cam : ``(N, H, W)`` non-negative heat maps (tensor or array).
    mask : ``bool (N, H, W)``: where the evidence is.
    region : ``bool (N, H, W)`` or None: the pixels that count (e.g. the wafer, ``maps > 0``); None = all.

    Returns
    -------
    inside : ``float64 (N,)`` = sum(cam * mask * region) / sum(cam * region); 0 for a map
        without heat in ``region`` (no heat on the evidence either).
    chance : ``float64 (N,)`` = sum(mask * region) / sum(region), the expected share for heat spread evenly.

    Taught in: 10_cnn_interpretability"""
    cam = np.asarray(cam.detach().cpu() if torch.is_tensor(cam) else cam, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    region = np.ones_like(mask) if region is None else np.asarray(region, dtype=bool)
    if not cam.shape == mask.shape == region.shape or cam.ndim != 3:
        raise ValueError(f"cam, mask and region must share one shape (N, H, W); got {cam.shape}, {mask.shape}, "
                         f"{region.shape}.")
    if (cam < 0).any():
        raise ValueError("cam must be non-negative (Grad-CAM maps are after the ReLU).")
    total = (cam * region).sum(axis=(1, 2))
    inside = np.divide((cam * (mask & region)).sum(axis=(1, 2)), total, out=np.zeros_like(total), where=total > 0)
    chance = (mask & region).sum(axis=(1, 2)) / region.sum(axis=(1, 2))
    return inside, chance
