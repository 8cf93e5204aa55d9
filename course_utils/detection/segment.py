"""Segmentation for week 12: a small U-Net, Dice / CE losses, mask metrics, crop training, YOLOv8-seg glue.

The notebook writes its own U-Net, losses and metrics in cells and checks them against these
(and these against scikit-learn in the tests). Conventions: a *label image* is ``uint8 / int64
(H, W)`` of class ids (0 = background, 1..K-1 the defect classes, or 0/1 for the wafer's
noise / pattern dies); logits are ``float32 (B, K, H, W)``.

>>> model = UNet(in_channels=2, n_classes=7, width=16, depth=3)
>>> sampler = crop_sampler(ds.images, ds.templates, labels, crop=96, batch=16, seed=0)
>>> history = train_segmenter(model, sampler, steps=200, lr=3e-3)
>>> pred = predict_segmenter(model, pair_inputs(test.images, test.templates))
>>> segmentation_scores(pred, truth, n_classes=7)
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.core.checks import check_int
from course_utils.core.env import get_device
from course_utils.detection.pcb import PCB_CLASSES

__all__ = ["UNet", "pair_inputs", "dice_loss", "CEDiceLoss", "segmentation_scores",
           "binary_iou", "threshold_labels", "crop_sampler", "array_sampler", "train_segmenter", "predict_segmenter", "SEG_CLASSES",
           "yolo_seg_label_images", "build_yolo_seg"]

#: Class names of the PCB label images: 0 background, then the six DeepPCB classes.
SEG_CLASSES: tuple[str, ...] = ("background", *PCB_CLASSES)


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------
def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015), small: ``depth`` 2x2 poolings, ``width * 2**d`` channels at level d.

    Input ``float32 (B, in_channels, H, W)`` with H and W multiples of ``2**depth``; output logits
    ``(B, n_classes, H, W)``. Encoder: double 3x3 conv + max-pool per level; decoder: 2x2 transposed
    conv, concatenation with the encoder's map of the same size (the skip connection), double conv.
    """

    def __init__(self, in_channels: int = 2, n_classes: int = 7, *, width: int = 16, depth: int = 3):
        super().__init__()
        check_int(depth, "depth", minimum=1, maximum=6)
        check_int(width, "width", minimum=1)
        chans = [width * 2 ** d for d in range(depth + 1)]
        self.depth = depth
        self.down = nn.ModuleList([_double_conv(in_channels if d == 0 else chans[d - 1], chans[d]) for d in range(depth)])
        self.bottom = _double_conv(chans[depth - 1], chans[depth])
        self.up = nn.ModuleList([nn.ConvTranspose2d(chans[d + 1], chans[d], 2, stride=2) for d in reversed(range(depth))])
        self.merge = nn.ModuleList([_double_conv(2 * chans[d], chans[d]) for d in reversed(range(depth))])
        self.head = nn.Conv2d(chans[0], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = 2 ** self.depth
        if x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(f"UNet input height and width must be multiples of 2**depth = {m}; got {tuple(x.shape[-2:])}"
                             " (pad the image, as predict_segmenter does).")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            x = merge(torch.cat([skip, up(x)], dim=1))
        return self.head(x)


def pair_inputs(images, templates=None) -> torch.Tensor:
    """``float32 (N, C, H, W)`` in [0, 1]: test images (C=1), or test and template (C=2), from ``uint8 (N, H, W)``.

    Taught in: 19_defect_segmentation"""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)[:, None] / 255.0
    if templates is not None:
        x = torch.cat([x, torch.as_tensor(np.asarray(templates), dtype=torch.float32)[:, None] / 255.0], dim=1)
    return x


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------
def dice_loss(logits: torch.Tensor, target: torch.Tensor, *, include_background: bool = False,
              eps: float = 1.0, skip_absent: bool = True) -> torch.Tensor:
    """Soft Dice loss over the batch's pixels: ``1 - mean_{k in C} d_k`` with
    ``d_k = (2 sum p_k t_k + eps) / (sum p_k + sum t_k + eps)``.

    ``logits (B, K, H, W)``, ``target int64 (B, H, W)`` in 0..K-1; ``p`` = softmax, ``t`` = one-hot.
    ``C`` is classes 1..K-1 (``include_background=False``) or 0..K-1. With ``skip_absent`` (default) ``C``
    keeps only the classes present in the batch's target or its hard prediction (argmax): a class absent
    from both would have ``d_k = eps / (sum p_k + eps)``, near 1 and pulling the loss without teaching
    anything (a batch of crops rarely holds all six defects). If no class of ``C`` is present the loss is
    ``0`` (still attached to the graph).

    Taught in: 19_defect_segmentation"""
    k = logits.shape[1]
    if target.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(f"target {tuple(target.shape)} must be logits {tuple(logits.shape)} without the class axis.")
    p = logits.float().softmax(1)
    t = F.one_hot(target.long(), k).permute(0, 3, 1, 2).float()
    dims = (0, 2, 3)
    dice = (2 * (p * t).sum(dims) + eps) / (p.sum(dims) + t.sum(dims) + eps)
    keep = torch.ones(k, dtype=torch.bool, device=dice.device)
    if not include_background:
        keep[0] = False
    if skip_absent:
        present = torch.zeros(k, dtype=torch.bool, device=dice.device)
        present[target.long().unique()] = True
        present[logits.detach().argmax(1).unique()] = True
        keep &= present
    if not keep.any():
        return (dice * 0).sum()
    return 1 - dice[keep].mean()


def threshold_labels(probs, threshold: float = 0.5) -> np.ndarray:
    """``uint8 (N, H, W)`` labels from class probabilities ``(N, K, H, W)`` (class 0 = background):
    a pixel is a defect when ``1 - p_0 >= threshold``, and then gets its most probable defect class
    ``1 + argmax_{k>=1} p_k``; otherwise 0. ``threshold = 0.5`` is close to argmax; a lower threshold
    lets a pixel be a defect before the 99 %-of-pixels background wins the argmax.

    Taught in: 19_defect_segmentation"""
    p = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    if p.ndim != 4 or p.shape[1] < 2:
        raise ValueError(f"probs {p.shape} must be (N, K, H, W) with K >= 2 (background first); "
                         "use predict_segmenter(..., probabilities=True).")
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold={threshold} must lie in (0, 1].")
    defect = (1.0 - p[:, 0]) >= threshold
    return np.where(defect, 1 + p[:, 1:].argmax(1), 0).astype(np.uint8)


class CEDiceLoss(nn.Module):
    """``ce_weight * cross-entropy + dice_weight * dice_loss``; CE learns every pixel, Dice keeps the rare
    defect classes from being drowned by the background (about 99 % of the pixels)."""

    def __init__(self, ce_weight: float = 1.0, dice_weight: float = 1.0, class_weights=None):
        super().__init__()
        self.ce_weight, self.dice_weight = float(ce_weight), float(dice_weight)
        self.register_buffer("class_weights", None if class_weights is None else torch.as_tensor(class_weights).float())

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = logits.new_zeros(())
        if self.ce_weight:
            loss = loss + self.ce_weight * F.cross_entropy(logits.float(), target.long(), weight=self.class_weights)
        if self.dice_weight:
            loss = loss + self.dice_weight * dice_loss(logits, target)
        return loss


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------
def _labels(a, name: str) -> np.ndarray:
    arr = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return arr.astype(np.int64, copy=False)


def _confusion(pred, target, n_classes: int) -> np.ndarray:
    """``int64 (K, K)`` pixel confusion matrix, rows = true class, columns = predicted class."""
    p, t = _labels(pred, "pred"), _labels(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and target {t.shape} must have the same shape (one class per pixel).")
    for name, a in (("pred", p), ("target", t)):
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            raise ValueError(f"{name} holds class id {int(a.max() if a.max() >= n_classes else a.min())}, outside "
                             f"0..{n_classes - 1}; give n_classes including the background.")
    return np.bincount(t.ravel() * n_classes + p.ravel(), minlength=n_classes ** 2).reshape(n_classes, n_classes)


def segmentation_scores(pred, target, n_classes: int, class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Per class: ``pixels`` (true), ``predicted``, ``IoU = TP / (TP + FP + FN)``, ``Dice = 2 TP / (2 TP + FP + FN)``
    (NaN for a class absent from both). ``df.attrs`` holds ``mean_iou`` (defect classes 1..K-1, NaN skipped),
    ``mean_dice`` and ``pixel_accuracy`` (all pixels: high even when every defect is missed).

    Taught in: 19_defect_segmentation"""
    cm = _confusion(pred, target, n_classes)
    tp = np.diag(cm).astype(np.float64)
    fp, fn = cm.sum(0) - tp, cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)
        dice = np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    names = list(class_names) if class_names is not None else [str(k) for k in range(n_classes)]
    df = pd.DataFrame({"pixels": cm.sum(1), "predicted": cm.sum(0), "IoU": iou, "Dice": dice}, index=names)
    df.attrs.update(mean_iou=float(np.nanmean(iou[1:])) if np.isfinite(iou[1:]).any() else float("nan"),
                    mean_dice=float(np.nanmean(dice[1:])) if np.isfinite(dice[1:]).any() else float("nan"),
                    pixel_accuracy=float(tp.sum() / max(cm.sum(), 1)))
    return df


def binary_iou(pred, target) -> float:
    """IoU of two boolean masks (defect vs background); 1.0 when both are empty.

    Taught in: 19_defect_segmentation"""
    p, t = np.asarray(pred).astype(bool), np.asarray(target).astype(bool)
    union = (p | t).sum()
    return float((p & t).sum() / union) if union else 1.0


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------
def crop_sampler(images, templates, labels, *, crop: int = 96, batch: int = 16, focus: float = 0.75,
                 seed: int = 0) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    """A function that returns one training batch ``(x float32 (B, C, crop, crop), y int64 (B, crop, crop))``.

    ``focus`` of the crops contain a random defect pixel (jittered position), the rest lie anywhere:
    defects cover about 0.1-0.3 % of a DeepPCB image, so uniform crops would teach mostly background.
    ``templates=None`` gives 1-channel inputs (the test image only).

    Taught in: 19_defect_segmentation"""
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.shape != images.shape:
        raise ValueError(f"labels {labels.shape} must have the images' shape {images.shape}.")
    n, h, w = images.shape
    crop = check_int(crop, "crop", minimum=8, maximum=min(h, w))
    rng = np.random.default_rng(seed)
    where = np.argwhere(labels > 0)
    x = pair_inputs(images, templates)

    def sample():
        ii, yy, xx = rng.integers(0, n, batch), rng.integers(0, h - crop + 1, batch), rng.integers(0, w - crop + 1, batch)
        aim = rng.random(batch) < focus if len(where) else np.zeros(batch, bool)
        if aim.any():
            k = where[rng.integers(0, len(where), aim.sum())]
            ii[aim] = k[:, 0]
            yy[aim] = np.clip(k[:, 1] - rng.integers(0, crop, aim.sum()), 0, h - crop)
            xx[aim] = np.clip(k[:, 2] - rng.integers(0, crop, aim.sum()), 0, w - crop)
        xb = torch.stack([x[i, :, a:a + crop, b:b + crop] for i, a, b in zip(ii, yy, xx)])
        yb = torch.as_tensor(np.stack([labels[i, a:a + crop, b:b + crop] for i, a, b in zip(ii, yy, xx)])).long()
        return xb, yb
    return sample


def array_sampler(x: torch.Tensor, y, *, batch: int = 32, seed: int = 0) -> Callable:
    """Random mini-batches ``(x[idx], y[idx])`` of whole inputs (e.g. 64x64 wafer maps and their masks).

    Taught in: 19_defect_segmentation"""
    y = torch.as_tensor(np.asarray(y)).long()
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples and y {len(y)}; give one mask per input.")
    gen = torch.Generator().manual_seed(seed)

    def sample():
        idx = torch.randint(0, len(x), (min(batch, len(x)),), generator=gen)
        return x[idx], y[idx]
    return sample


def train_segmenter(model: nn.Module, sampler: Callable, *, steps: int, lr: float = 3e-3, loss_fn=None,
                    device="auto", log_every: int = 50, weight_decay: float = 1e-4, verbose: bool = True) -> pd.DataFrame:
    """Train ``model`` for ``steps`` AdamW steps (learning rate ``lr`` decayed to 0 on a cosine) on batches
    from ``sampler()``.

    Returns a history DataFrame (one row per ``log_every`` steps): ``step, loss`` (mean since the last row),
    ``lr``, ``img_s`` (training images per second), ``elapsed_s``.

    Taught in: 19_defect_segmentation"""
    check_int(steps, "steps", minimum=1)
    dev = get_device(device)
    model.to(dev).train()
    loss_fn = CEDiceLoss() if loss_fn is None else loss_fn
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    rows, total, seen, start, mark = [], 0.0, 0, time.perf_counter(), time.perf_counter()
    for step in range(1, steps + 1):
        xb, yb = sampler()
        xb, yb = xb.to(dev), yb.to(dev)
        loss = loss_fn(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total, seen = total + float(loss.detach()), seen + len(xb)
        if step % log_every == 0 or step == steps:
            now = time.perf_counter()
            n_steps = step - (rows[-1]["step"] if rows else 0)
            rows.append({"step": step, "loss": total / n_steps, "lr": sched.get_last_lr()[0],
                         "img_s": seen / max(now - mark, 1e-9), "elapsed_s": now - start})
            if verbose:
                print(f"step {step:5d}  loss {rows[-1]['loss']:.4f}  {rows[-1]['img_s']:.0f} img/s")
            total, seen, mark = 0.0, 0, now
    model.eval()
    return pd.DataFrame(rows)


@torch.no_grad()
def predict_segmenter(model: nn.Module, x: torch.Tensor, *, batch: int = 4, device="auto",
                      probabilities: bool = False) -> np.ndarray:
    """``uint8 (N, H, W)`` argmax classes (or ``float32 (N, K, H, W)`` softmax with ``probabilities``) of
    inputs ``x (N, C, H, W)``, padded to a multiple of ``2**model.depth`` and cropped back.

    Taught in: 19_defect_segmentation"""
    dev = get_device(device)
    model.to(dev).eval()
    m = 2 ** getattr(model, "depth", 0)
    h, w = x.shape[-2:]
    ph, pw = -h % m, -w % m
    out = []
    for i in range(0, len(x), batch):
        xb = F.pad(x[i:i + batch].to(dev), (0, pw, 0, ph), mode="replicate")
        logits = model(xb)[..., :h, :w].float()
        out.append(logits.softmax(1).cpu().numpy() if probabilities else logits.argmax(1).to(torch.uint8).cpu().numpy())
    return np.concatenate(out)


# ---------------------------------------------------------------------------
# YOLOv8-seg (the [yolo] extra)
# ---------------------------------------------------------------------------
def build_yolo_seg(name: str = "yolov8n-seg", weights=None):
    """An ultralytics segmentation model: ``weights=None`` builds ``<name>.yaml`` from scratch (no download);
    a path to a local ``.pt`` file loads it. ``model.weights_source`` says which.

    Taught in: 19_defect_segmentation"""
    from pathlib import Path

    from course_utils.detection.yolo import require_ultralytics

    require_ultralytics()
    from ultralytics import YOLO

    if not isinstance(name, str) or not name.endswith("-seg"):
        raise ValueError(f"name={name!r} must name a segmentation model such as 'yolov8n-seg'.")
    if weights is None:
        model, origin = YOLO(f"{name}.yaml", task="segment", verbose=False), "random"
    else:
        path = Path(weights).expanduser()
        if path.suffix != ".pt" or not path.is_file():
            raise FileNotFoundError(f"weights={weights!r} is not an existing .pt file (or None for a fresh model).")
        model, origin = YOLO(str(path), task="segment", verbose=False), f"file:{path}"
    model.weights_source = origin
    return model


def yolo_seg_label_images(results, shape, *, conf: float = 0.25) -> np.ndarray:
    """``uint8 (N, H, W)`` label images (class id = ultralytics class + 1) from segmentation ``Results``:
    each instance with score >= ``conf`` is filled from its polygon (original pixels), most confident last.

    Taught in: 19_defect_segmentation"""
    from course_utils.detection.masks import polygons_to_mask

    h, w = shape[:2]
    out = np.zeros((len(results), h, w), dtype=np.uint8)
    for i, r in enumerate(results):
        if r.masks is None or r.boxes is None:
            continue
        scores, classes = r.boxes.conf.cpu().numpy(), r.boxes.cls.cpu().numpy().astype(int)
        for k in np.argsort(scores):
            poly = r.masks.xy[k]
            if scores[k] < conf or len(poly) < 3:
                continue
            out[i][polygons_to_mask([poly], (h, w)).astype(bool)] = classes[k] + 1
    return out
