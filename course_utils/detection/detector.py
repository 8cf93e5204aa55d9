"""A small one-stage detector written as the lesson: centre heat-maps (CenterNet-style) on a small CNN.

Idea (Zhou et al. 2019, "Objects as Points"): instead of anchors, every object is
the peak of a heat-map at its centre, one heat-map per class, on a grid ``stride``
times coarser than the input. At the centre cell the network also predicts the
box's width and height and the sub-cell offset of the centre.

1. **Targets** (:func:`centre_targets`): a Gaussian bump at each box centre in the
   heat-map of its class, ``wh`` and ``offset`` at the centre cell, a mask of those cells.
2. **Network** (:class:`CentreNet`): conv-BN-ReLU blocks down to stride 8, one
   upsampling step back to stride 4 (with a skip connection), three 3x3 heads.
3. **Loss** (:func:`centre_loss`): the penalty-reduced focal loss on the heat-map
   (few positives among ~4,000 cells), L1 on ``wh`` and ``offset`` at the centres.
4. **Decoding** (:func:`decode`): a cell is a detection if it is the maximum of its
   3x3 neighbourhood (a cheap NMS), top-k by score, boxes scaled back to the
   image; then the hand-written :func:`boxes.batched_nms` removes overlapping boxes.

The input is the test image and, by default, the aligned template as a second
channel (``use_template``), downscaled from 640 to ``input_size`` (e.g. 256; 160
for CPU smoke runs). Boxes stay in the 640x640 pixels of the data set.

>>> model = CentreNet(in_channels=2)
>>> history = train_detector(model, train_ds, input_size=256, epochs=30, device=device)
>>> predictions = predict(model, test_ds, input_size=256)          # the kit's prediction dicts
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.training.models import conv_block
from course_utils.detection.boxes import batched_nms, cxcywh_to_xyxy, xyxy_to_cxcywh
from course_utils.detection.pcb import PCB_CLASSES

__all__ = ["CentreNet", "prepare_inputs", "centre_targets", "centre_loss", "decode", "train_detector", "predict",
           "run_epochs"]


class CentreNet(nn.Module):
    """Input ``float32 (B, in_channels, S, S)`` (S divisible by 8); output dict of maps at ``S / 4``.

    ``heatmap``: ``(B, num_classes, S/4, S/4)`` logits; ``wh``: ``(B, 2, ...)`` box width and
    height in output cells; ``offset``: ``(B, 2, ...)`` centre offset within the cell, in [0, 1).
    """

    stride = 4

    def __init__(self, in_channels: int = 2, num_classes: int = len(PCB_CLASSES), widths=(24, 48, 96),
                 head_width: int = 48):
        super().__init__()
        if len(widths) != 3:
            raise ValueError(f"widths must give 3 block widths (strides 2, 4, 8); got {widths!r}.")
        self.in_channels, self.num_classes = in_channels, num_classes
        self.block1 = conv_block(in_channels, widths[0], convs=1)            # stride 2
        self.block2 = conv_block(widths[0], widths[1], convs=2)              # stride 4
        self.block3 = conv_block(widths[1], widths[2], convs=2)              # stride 8
        self.lateral = nn.Conv2d(widths[1], widths[2], 1)
        self.fuse = conv_block(widths[2], head_width, convs=1, pool=False)

        def head(out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(head_width, head_width, 3, padding=1), nn.ReLU(inplace=True),
                                 nn.Conv2d(head_width, out, 1))

        self.heatmap, self.wh, self.offset = head(num_classes), head(2), head(2)
        nn.init.constant_(self.heatmap[-1].bias, -2.19)   # start at p = 0.1: the focal loss starts stable

    def forward(self, x: torch.Tensor) -> dict:
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"CentreNet expects (B, {self.in_channels}, S, S) with S divisible by 8; got "
                             f"{tuple(x.shape)} (use_template must match in_channels: 2 with, 1 without).")
        c2 = self.block2(self.block1(x))
        c3 = self.block3(c2)
        f = self.fuse(F.interpolate(c3, size=c2.shape[-2:], mode="nearest") + self.lateral(c2))
        return {"heatmap": self.heatmap(f), "wh": self.wh(f), "offset": self.offset(f)}


def prepare_inputs(ds, *, input_size: int | None = 256, use_template: bool = True) -> torch.Tensor:
    """``float32 (N, C, input_size, input_size)`` in [0, 1]: test image (and template), area-downscaled.

    ``C`` is 2 with ``use_template`` (channel 0 the test image, 1 the template), else 1;
    ``input_size=None`` keeps the data set's size ``(N, C, H, W)``.

    Used by: course_utils.detection.classical, course_utils.detection.detector
    """
    if input_size is not None and input_size % 8:
        raise ValueError(f"input_size={input_size} must be divisible by 8 (the network's coarsest stride).")
    if use_template and ds.templates is None:
        raise ValueError("use_template=True but the data set has no templates; pass use_template=False.")
    planes = [ds.images] + ([ds.templates] if use_template else [])
    x = torch.from_numpy(np.stack(planes, axis=1)).float().div_(255.0)
    if input_size is None:
        return x
    return F.interpolate(x, size=(input_size, input_size), mode="area")


def centre_targets(targets, *, image_size: int, out_size: int, num_classes: int = len(PCB_CLASSES)) -> dict:
    """Training targets at ``out_size x out_size`` for target dicts with boxes in ``image_size`` pixels.

    Returns ``heatmap float32 (N, K, o, o)`` (Gaussian of sigma = box size / 6 cells at
    each centre, 1 at the centre cell), ``wh`` and ``offset float32 (N, 2, o, o)`` and
    ``mask bool (N, o, o)`` (the centre cells).

    Taught in: 15_detector_from_scratch"""
    n, scale = len(targets), out_size / image_size
    heat = np.zeros((n, num_classes, out_size, out_size), np.float32)
    wh = np.zeros((n, 2, out_size, out_size), np.float32)
    off = np.zeros((n, 2, out_size, out_size), np.float32)
    mask = np.zeros((n, out_size, out_size), bool)
    grid = np.arange(out_size, dtype=np.float32)
    for i, t in enumerate(targets):
        b = xyxy_to_cxcywh(np.asarray(t["boxes"], np.float32).reshape(-1, 4) * scale)   # output cells
        for (cx, cy, bw, bh), lab in zip(b, np.asarray(t["labels"])):
            ix, iy = min(int(cx), out_size - 1), min(int(cy), out_size - 1)
            sx, sy = max(bw / 6, 0.5), max(bh / 6, 0.5)
            g = np.exp(-((grid[None, :] - ix) ** 2) / (2 * sx ** 2) - ((grid[:, None] - iy) ** 2) / (2 * sy ** 2))
            heat[i, lab - 1] = np.maximum(heat[i, lab - 1], g)
            wh[i, :, iy, ix] = (bw, bh)
            off[i, :, iy, ix] = (cx - ix, cy - iy)
            mask[i, iy, ix] = True
    return {k: torch.from_numpy(v) for k, v in (("heatmap", heat), ("wh", wh), ("offset", off), ("mask", mask))}


def centre_loss(out: dict, target: dict, *, wh_weight: float = 0.1, alpha: float = 2.0, beta: float = 4.0):
    """Penalty-reduced focal loss on the heat-map + L1 on size and offset at the centres (mean per object).

    Returns ``(total, parts)`` with ``parts = dict(heatmap, wh, offset)`` as floats.

    Used by: course_utils.detection.detector"""
    p = torch.sigmoid(out["heatmap"].float()).clamp(1e-4, 1 - 1e-4)
    gt = target["heatmap"]
    pos = gt.eq(1).float()
    pos_loss = torch.log(p) * (1 - p) ** alpha * pos
    neg_loss = torch.log(1 - p) * p ** alpha * (1 - gt) ** beta * (1 - pos)   # near a centre: small penalty
    n_obj = pos.sum().clamp(min=1.0)
    heat = -(pos_loss.sum() + neg_loss.sum()) / n_obj
    m = target["mask"].unsqueeze(1).float()
    wh = (F.l1_loss(out["wh"].float(), target["wh"], reduction="none") * m).sum() / n_obj
    off = (F.l1_loss(out["offset"].float(), target["offset"], reduction="none") * m).sum() / n_obj
    total = heat + wh_weight * wh + off
    return total, {"heatmap": float(heat.detach()), "wh": float(wh.detach()), "offset": float(off.detach())}


@torch.no_grad()
def decode(out: dict, *, image_size: int = 640, top_k: int = 100, score_threshold: float = 0.01,
           nms_iou: float | None = 0.5) -> list[dict]:
    """Network maps -> one prediction dict per image (boxes in ``image_size`` pixels, ids 1..K).

    Used by: tests/detection/test_detection_models.py"""
    heat = torch.sigmoid(out["heatmap"].float())
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)   # keep local maxima only
    b, k, h, w = heat.shape
    scale = image_size / w
    scores, idx = peaks.view(b, -1).topk(min(top_k, k * h * w))
    cls, cell = idx // (h * w), idx % (h * w)
    ys, xs = (cell // w).float(), (cell % w).float()
    results = []
    for i in range(b):
        off = out["offset"][i].float().view(2, -1)[:, cell[i]]
        wh = out["wh"][i].float().view(2, -1)[:, cell[i]].clamp(min=0)
        boxes = cxcywh_to_xyxy(torch.stack([xs[i] + off[0], ys[i] + off[1], wh[0], wh[1]], 1)) * scale
        boxes = boxes.clamp(0, image_size).cpu().numpy()
        s, lab = scores[i].cpu().numpy(), (cls[i] + 1).cpu().numpy().astype(np.int64)
        keep = (s >= score_threshold) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, s, lab = boxes[keep], s[keep], lab[keep]
        if nms_iou is not None and len(s):
            sel = batched_nms(boxes, s, lab, nms_iou)
            boxes, s, lab = boxes[sel], s[sel], lab[sel]
        results.append({"boxes": boxes.astype(np.float32).reshape(-1, 4), "labels": lab, "scores": s.astype(np.float32)})
    return results


def train_detector(model: CentreNet, ds, *, input_size: int = 256, epochs: int = 10, batch_size: int = 8,
                   lr: float = 2e-3, device="cpu", seed: int = 0, max_steps: int | None = None,
                   verbose: bool = True) -> pd.DataFrame:
    """Train on a DetectionSet with AdamW and a cosine schedule; returns the history (one row per epoch).

    ``max_steps`` stops early after that many optimizer steps in total (smoke runs).

    Taught in: 15_detector_from_scratch"""
    torch.manual_seed(seed)
    device = torch.device(device)
    x = prepare_inputs(ds, input_size=input_size, use_template=model.in_channels == 2)
    tg = centre_targets(ds.targets(), image_size=ds.images.shape[-1], out_size=input_size // model.stride,
                        num_classes=model.num_classes)
    model.to(device).train()
    steps_per_epoch = -(-len(x) // batch_size)
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total, 1), pct_start=0.15)

    def train_step(batch: torch.Tensor) -> dict:
        out = model(x[batch].to(device))
        loss, parts = centre_loss(out, {k: v[batch].to(device) for k, v in tg.items()})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        sched.step()
        return {"loss": float(loss.detach()), **parts}

    def describe(row: dict) -> str:
        return (f"epoch {row['epoch']:3d}  loss {row['loss']:.3f}  (heatmap {row['heatmap']:.3f}, "
                f"wh {row['wh']:.2f}, offset {row['offset']:.3f})  {row['time_s']:.1f} s")

    return run_epochs(train_step, len(x), epochs=epochs, batch_size=batch_size, seed=seed, max_steps=total,
                      columns=("loss", "heatmap", "wh", "offset"), describe=describe if verbose else None)


def run_epochs(train_step: Callable[[torch.Tensor], dict], n: int, *, epochs: int, batch_size: int, seed: int = 0,
               max_steps: int | None = None, columns: Sequence[str] = ("loss",),
               describe: Callable[[dict], str] | None = None) -> pd.DataFrame:
    """The epoch loop that :func:`train_detector` and ``tv_detectors.fit_detector`` share.

    Every epoch visits the ``n`` samples in a new random order (``torch.randperm`` with a
    generator seeded by ``seed``) in batches of ``batch_size``; ``train_step(batch)`` gets
    the ``int64 (b,)`` sample indices, takes one optimizer step and returns the batch's
    values as floats (``{"loss": ...}`` and any parts). The epoch's value is their mean
    weighted by the batch sizes (``columns`` start at 0.0, in that order). Training stops
    after ``max_steps`` steps in total (``None``: all epochs). ``describe(row)`` gives a line
    to print after each epoch (``None``: silent).

    Returns the history, one row per epoch: ``epoch`` (from 1), the ``columns`` and
    ``time_s`` (seconds since the start, rounded to 0.01).

    Used by: course_utils.detection.detector, course_utils.detection.tv_detectors
    """
    g = torch.Generator().manual_seed(seed)
    rows, step, start = [], 0, time.perf_counter()
    for epoch in range(epochs):
        sums = dict.fromkeys(columns, 0.0)
        for batch in torch.randperm(n, generator=g).split(batch_size):
            for key, value in train_step(batch).items():
                sums[key] = sums.get(key, 0.0) + value * len(batch) / n
            step += 1
            if max_steps is not None and step >= max_steps:
                break
        rows.append({"epoch": epoch + 1, **sums, "time_s": round(time.perf_counter() - start, 2)})
        if describe is not None:
            print(describe(rows[-1]))
        if max_steps is not None and step >= max_steps:
            break
    return pd.DataFrame(rows)


@torch.no_grad()
def predict(model: CentreNet, ds, *, input_size: int = 256, device="cpu", batch_size: int = 16,
            **decode_kwargs) -> list[dict]:
    """Prediction dicts (boxes in the data set's pixels) for every image of ``ds``; see :func:`decode`.

    Taught in: 15_detector_from_scratch"""
    model.to(device).eval()
    x = prepare_inputs(ds, input_size=input_size, use_template=model.in_channels == 2)
    results = []
    for chunk in x.split(batch_size):
        results += decode(model(chunk.to(device)), image_size=ds.images.shape[-1], **decode_kwargs)
    return results
