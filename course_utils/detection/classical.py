"""The classical baseline: difference with the template, morphology, connected components -> boxes.

No learning finds the defects: the aligned defect-free template says what the board
should look like, so every pixel where the binarised test image differs from it is
a candidate defect (the OpenCV lesson of Project #2)::

    test, template --binarise--> XOR --opening (drop 1-px alignment edges)-->
    --dilation (merge the pieces of one defect)--> connected components --> boxes

Without a template, the board can only be compared with a smoothed copy of itself
(:func:`self_reference_mask`: morphological opening + closing removes small bumps and
holes); fine traces and corners then look like defects too -- that is what the
template buys.

The boxes have no defect type. A small CNN then learns only the type of each found
region (:func:`region_crops` + :func:`train_region_classifier`): crops of the test
and template images around each region, labelled by the ground-truth box the region
overlaps (IoU > 0.33) or ``background`` (id 0) for a false alarm, so the classifier
also learns to reject them.

>>> from course_utils.detection import classical
>>> preds = classical.detect(ds.images, ds.templates)          # class-agnostic (label 1)
>>> crops, y = classical.region_crops(ds, preds, labelled=True)
>>> model = classical.train_region_classifier(crops, y, epochs=5)
>>> typed = classical.classify_regions(model, ds, preds)       # labels 1..6, score = 1 - P(background)
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from course_utils.detection.boxes import box_iou, xyxy_to_cxcywh
from course_utils.detection.detector import prepare_inputs
from course_utils.detection.pcb import PCB_CLASSES

__all__ = ["difference_mask", "self_reference_mask", "mask_boxes", "template_boxes", "detect",
           "class_agnostic", "region_crops", "build_region_classifier", "train_region_classifier",
           "classify_regions"]


def _check_image(image, name: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 2 or arr.dtype != np.uint8:
        raise ValueError(f"{name} must be a uint8 grayscale image (H, W); got {arr.dtype} {arr.shape}.")
    return arr


def _kernel(size: int, name: str) -> np.ndarray:
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{name} must be a positive integer (kernel side in pixels); got {size!r}.")
    return cv2.getStructuringElement(cv2.MORPH_RECT, (int(size), int(size)))


def binarize(image, threshold: int = 128) -> np.ndarray:
    """``uint8 (H, W)`` of 0/1: 1 where ``image >= threshold`` (DeepPCB: the light background, copper dark)."""
    return (_check_image(image, "image") >= threshold).astype(np.uint8)


def difference_mask(test, template, *, threshold: int = 128, open_size: int = 3) -> np.ndarray:
    """Pixels where test and template disagree, after an opening that drops thin alignment edges.

    Returns ``uint8 (H, W)`` 0/1. ``open_size`` is the side of the square opening
    kernel (1: no opening).

    Taught in: 14_classical_detection"""
    t, r = _check_image(test, "test"), _check_image(template, "template")
    if t.shape != r.shape:
        raise ValueError(f"test {t.shape} and template {r.shape} must have the same size (aligned pairs).")
    diff = cv2.bitwise_xor(binarize(t, threshold), binarize(r, threshold))
    return cv2.morphologyEx(diff, cv2.MORPH_OPEN, _kernel(open_size, "open_size"))


def self_reference_mask(test, *, threshold: int = 128, size: int = 9, open_size: int = 3) -> np.ndarray:
    """No template: pixels that a smoothing opening + closing of the test image itself changes.

    Small bumps (spur, spurious copper) vanish in the opening, small holes (pin-hole,
    mousebite) in the closing -- and so do fine traces and sharp corners, the false alarms.

    Used by: tests/detection/test_detection_models.py"""
    b = binarize(test, threshold)
    k = _kernel(size, "size")
    smooth = cv2.morphologyEx(cv2.morphologyEx(b, cv2.MORPH_OPEN, k), cv2.MORPH_CLOSE, k)
    return cv2.morphologyEx(cv2.bitwise_xor(b, smooth), cv2.MORPH_OPEN, _kernel(open_size, "open_size"))


def mask_boxes(mask, *, merge_size: int = 9, min_area: int = 12, pad: int = 10) -> dict:
    """Connected components of a 0/1 mask -> a prediction dict (label 1, score from the component size).

    ``merge_size`` dilates the mask first so that the pieces of one defect join;
    components with fewer than ``min_area`` mask pixels are dropped; boxes grow by
    ``pad`` pixels (annotated boxes frame the defect with a margin) and are clipped
    to the image. Score = ``1 - exp(-pixels / 40)`` (bigger differences first).

    Taught in: 14_classical_detection"""
    m = _check_image(mask, "mask")
    h, w = m.shape
    merged = cv2.dilate(m, _kernel(merge_size, "merge_size"))
    n, comp, stats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    pixels = np.bincount(comp[m > 0], minlength=n)[1:]          # mask pixels (before dilation) per component
    x, y, bw, bh = (stats[1:, i].astype(np.float32) for i in range(4))
    grow = (merge_size // 2) - pad                              # undo the dilation, then add the margin
    boxes = np.stack([x + grow, y + grow, x + bw - grow, y + bh - grow], axis=1)
    boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
    keep = (pixels >= min_area) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return {"boxes": boxes[keep].reshape(-1, 4), "labels": np.ones(int(keep.sum()), np.int64),
            "scores": (1.0 - np.exp(-pixels[keep] / 40.0)).astype(np.float32)}


def template_boxes(test, template, *, threshold: int = 128, open_size: int = 3, merge_size: int = 9,
                   min_area: int = 12, pad: int = 10) -> dict:
    """Boxes of one pair (see the module docstring); ``template=None`` uses :func:`self_reference_mask`.

    Used by: tests/detection/test_detection_models.py"""
    if template is None:
        mask = self_reference_mask(test, threshold=threshold, open_size=open_size)
    else:
        mask = difference_mask(test, template, threshold=threshold, open_size=open_size)
    return mask_boxes(mask, merge_size=merge_size, min_area=min_area, pad=pad)


def detect(images, templates=None, **kwargs) -> list[dict]:
    """:func:`template_boxes` for every image of ``uint8 (N, H, W)`` (templates ``(N, H, W)`` or None).

    Taught in: 14_classical_detection"""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be uint8 (N, H, W); got shape {images.shape}.")
    if templates is not None and np.shape(templates) != images.shape:
        raise ValueError(f"templates {np.shape(templates)} must match images {images.shape}.")
    return [template_boxes(img, None if templates is None else templates[i], **kwargs)
            for i, img in enumerate(images)]


def class_agnostic(items: Sequence[dict]) -> list[dict]:
    """Copies of prediction or target dicts with every label set to 1 (score localisation only).

    Taught in: 14_classical_detection"""
    return [{**d, "labels": np.ones(len(d["labels"]), np.int64)} for d in items]


# ---------------------------------------------------------------------------
# The defect type of each region, learned
# ---------------------------------------------------------------------------
def region_crops(ds, predictions: Sequence[dict], *, size: int = 32, context: float = 1.5,
                 use_template: bool = True, labelled: bool = False, iou_threshold: float = 0.33):
    """Crops around every predicted box, ``float32 (M, C, size, size)`` in [0, 1] (C = 2 with the template).

    ``context`` widens each (square) crop around the box centre. With ``labelled``,
    also returns ``int64 (M,)`` labels: the id of the same-image ground-truth box with
    the highest IoU if it is > ``iou_threshold``, else 0 (background). Crops are cut
    by ``torchvision.ops.roi_align`` over the whole batch at once.

    Taught in: 14_classical_detection"""
    from torchvision.ops import roi_align

    if len(predictions) != len(ds):
        raise ValueError(f"predictions has {len(predictions)} images but the data set has {len(ds)}.")
    x = prepare_inputs(ds, input_size=None, use_template=use_template)   # (N, C, H, W) in [0, 1]
    rois = []
    for i, p in enumerate(predictions):
        b = np.asarray(p["boxes"], np.float32).reshape(-1, 4)
        cwh = xyxy_to_cxcywh(b)
        c, half = cwh[:, :2], cwh[:, 2:].max(axis=1, initial=0)[:, None] * context / 2
        half = np.maximum(half, 8.0)
        rois.append(np.c_[np.full(len(b), i, np.float32), c - half, c + half])
    rois = torch.from_numpy(np.concatenate(rois + [np.zeros((0, 5), np.float32)]))
    crops = roi_align(x, rois, output_size=size, spatial_scale=1.0, sampling_ratio=2, aligned=True)
    if not labelled:
        return crops
    labels = []
    for p, t in zip(predictions, ds.targets()):
        iou = box_iou(p["boxes"], t["boxes"])
        best = iou.argmax(axis=1) if iou.shape[1] else np.zeros(len(iou), np.int64)
        hit = iou.max(axis=1, initial=0.0) > iou_threshold
        labels.append(np.where(hit, np.asarray(t["labels"])[best] if iou.shape[1] else 0, 0))
    return crops, torch.from_numpy(np.concatenate(labels + [np.zeros(0, np.int64)]).astype(np.int64))


def build_region_classifier(in_channels: int = 2, n_classes: int = len(PCB_CLASSES), *, seed: int = 0):
    """``models.WaferCNN`` with ``n_classes + 1`` outputs (0 = background) for ``(M, C, 32, 32)`` crops.

    Used by: tests/detection/test_detection_models.py"""
    from course_utils.training import models

    torch.manual_seed(seed)
    return models.WaferCNN(in_channels=in_channels, num_classes=n_classes + 1, widths=(16, 32, 64), dropout=0.2)


def train_region_classifier(crops, labels, *, val_crops=None, val_labels=None, epochs: int = 5, lr: float = 3e-3,
                            batch_size: int = 64, device="cpu", seed: int = 0, class_names=PCB_CLASSES,
                            verbose: bool = False):
    """Train :func:`build_region_classifier` with ``engine.fit`` (cross-entropy, AdamW); returns the FitResult.

    Without validation crops, the training crops are used for validation (the best
    epoch is then the best fit, not the best generalisation).

    Taught in: 14_classical_detection"""
    from course_utils.training import engine

    if len(crops) != len(labels) or len(crops) == 0:
        raise ValueError(f"crops ({len(crops)}) and labels ({len(labels)}) must be non-empty and of equal length.")
    model = build_region_classifier(crops.shape[1], len(class_names), seed=seed)
    g = torch.Generator().manual_seed(seed)
    train = DataLoader(TensorDataset(crops, labels), batch_size=batch_size, shuffle=True, generator=g)
    vx, vy = (crops, labels) if val_crops is None else (val_crops, val_labels)
    val = DataLoader(TensorDataset(vx, vy), batch_size=256)
    return engine.fit(model, train, val, loss_fn=torch.nn.CrossEntropyLoss(),
                      optimizer=torch.optim.AdamW(model.parameters(), lr=lr), epochs=epochs, device=device,
                      class_names=("background", *class_names), verbose=verbose)


@torch.no_grad()
def classify_regions(model, ds, predictions: Sequence[dict], *, use_template: bool = True,
                     device="cpu") -> list[dict]:
    """Predictions with learned types: label = most likely defect id, score = 1 - P(background).

    Taught in: 14_classical_detection"""
    crops = region_crops(ds, predictions, use_template=use_template)
    model = model.to(device).eval()
    probs = torch.cat([torch.softmax(model(c.to(device)), 1).cpu() for c in crops.split(512)]
                      + [torch.zeros(0, model.num_classes)]).numpy()
    out, start = [], 0
    for p in predictions:
        q = probs[start:start + len(p["boxes"])]
        start += len(q)
        out.append({"boxes": np.asarray(p["boxes"], np.float32).reshape(-1, 4),
                    "labels": (q[:, 1:].argmax(axis=1) + 1).astype(np.int64),
                    "scores": (1.0 - q[:, 0]).astype(np.float32)})
    return out
