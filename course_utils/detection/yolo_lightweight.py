"""Lightweighting a YOLO detector, measured: FP32 vs FP16 vs INT8 (dynamic, static) vs pruning, scored by mAP50.

>>> from course_utils.detection import yolo_lightweight as ylw
>>> fp32 = yolo_export.export_onnx(model, imgsz=320, path=out / "fp32.onnx")
>>> paths = ylw.yolo_onnx_variants(fp32, calib_set.images, out)            # FP16, INT8 dynamic, INT8 static
>>> masks = ylw.prune_yolo(model, amount=0.3)                                # L1 pruning of every convolution
>>> ylw.finetune_pruned_yolo(model, data_yaml, masks, project=out, epochs=2) # the zeros stay zero while it trains
>>> ylw.measure_yolo_variants(paths, test_set, repeats=10)                   # file size, latency, mAP50

The quantization itself is the classifier's (:mod:`course_utils.training.lightweight`); here the
calibration inputs are letterboxed images (:func:`course_utils.detection.yolo_export.letterbox`) and
the score is the kit's mAP50 of onnxruntime's detections (:class:`~course_utils.detection.yolo_export.OnnxDetector`
with the kit's post-processing), so every variant goes through the same pre- and post-processing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from course_utils.core.checks import check_int, check_real
from course_utils.detection import evaluate, yolo, yolo_export
from course_utils.training import lightweight

__all__ = ["letterboxed_batch", "yolo_onnx_variants", "prune_yolo", "apply_masks", "finetune_pruned_yolo",
           "measure_yolo_variants"]


def letterboxed_batch(images, imgsz: int) -> np.ndarray:
    """``uint8`` images (a list or ``(N, H, W)``) -> the network's inputs ``float32 (N, 3, imgsz, imgsz)`` in [0, 1].

    Used by: course_utils.detection.yolo_lightweight"""
    images = list(images)
    if not images:
        raise ValueError("images is empty: calibration needs a few real training images.")
    return np.concatenate([yolo_export.letterbox(np.asarray(image), imgsz)[0] for image in images])


def yolo_onnx_variants(fp32_onnx, calib_images, out_dir, *, pruned_onnx=None) -> dict[str, Path]:
    """From an exported FP32 YOLO ONNX file, write FP16, ORT INT8 dynamic and ORT INT8 static (QDQ, per channel,
    calibrated on ``calib_images``: training images, never the test set) into ``out_dir``.

    Returns ``{name: path}``, FP32 first, then the others, then ``pruned_onnx`` when given.

    Taught in: 23_model_lightweighting"""
    fp32 = Path(fp32_onnx)
    out = Path(out_dir)
    imgsz = int(lightweight.onnx_session(fp32).get_inputs()[0].shape[-1])
    calibration = letterboxed_batch(calib_images, imgsz)
    paths = {"FP32 (ONNX)": fp32,
             "FP16 (ONNX)": lightweight.to_fp16(fp32, out / "yolo_fp16.onnx"),
             "INT8 dynamic (ORT)": lightweight.quantize_dynamic_int8(fp32, out / "yolo_int8_dynamic.onnx"),
             "INT8 static QDQ (ORT)": lightweight.quantize_static_int8(fp32, out / "yolo_int8_static.onnx",
                                                                       calibration, batch_size=4)}
    if pruned_onnx is not None:
        paths["pruned + fine-tune (ONNX)"] = Path(pruned_onnx)
    return paths


def prune_yolo(model, *, amount: float) -> dict:
    """Global L1 unstructured pruning of every ``Conv2d`` weight of an ultralytics ``YOLO`` ``model``, in place.

    The ``amount`` share of all convolution weights with the smallest ``|w|`` becomes 0 and the
    pruning is made permanent (``prune.remove``). Returns the masks ``{module name: bool tensor}``
    that :func:`finetune_pruned_yolo` keeps applied while it trains.

    Taught in: 23_model_lightweighting"""
    import torch
    from torch.nn.utils import prune

    check_real(amount, "amount", minimum=0.0, maximum=1.0)
    convs = {name: m for name, m in model.model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    prune.global_unstructured([(m, "weight") for m in convs.values()], pruning_method=prune.L1Unstructured,
                              amount=amount)
    masks = {}
    for name, m in convs.items():
        masks[name] = m.weight_mask.detach().bool().clone()
        prune.remove(m, "weight")
    return masks


def apply_masks(net, masks: Mapping) -> None:
    """Zero the pruned weights (``masks`` from :func:`prune_yolo`) of the ``torch.nn.Module`` ``net`` in place.

    Used by: course_utils.detection.yolo_lightweight"""
    import torch

    modules = dict(net.named_modules())
    with torch.no_grad():
        for name, mask in masks.items():
            if name not in modules:
                raise KeyError(f"module {name!r} of the masks is not in this network: were they made from it?")
            weight = modules[name].weight
            weight.mul_(mask.to(weight.device, weight.dtype))


def finetune_pruned_yolo(model, data_yaml, masks: Mapping, *, project, name: str = "pruned", epochs: int = 2,
                         imgsz: int = 640, device="auto", seed: int = 0, **train_args):
    """Fine-tune a pruned ultralytics ``YOLO`` ``model`` (already trained once) with :func:`course_utils.detection.yolo.train_yolo`,
    re-applying ``masks`` after every batch (to the model and its EMA copy), so the pruned weights stay 0.

    Returns the :class:`~course_utils.detection.yolo.YoloRun`; ``model`` holds the fine-tuned weights with
    the masks applied once more.

    Taught in: 23_model_lightweighting"""
    if not getattr(model, "ckpt", None):
        raise ValueError("model has no trained checkpoint: ultralytics would start from fresh weights and drop the "
                         "pruning. Train it (yolo.train_yolo) before pruning.")

    def keep_zeros(trainer):
        apply_masks(trainer.model, masks)
        if getattr(trainer, "ema", None) is not None:
            apply_masks(trainer.ema.ema, masks)

    model.add_callback("on_train_batch_end", keep_zeros)
    try:
        run = yolo.train_yolo(model, data_yaml, project=project, name=name, epochs=check_int(epochs, "epochs", minimum=1),
                              imgsz=imgsz, device=device, seed=seed, **train_args)
    finally:
        model.callbacks["on_train_batch_end"].remove(keep_zeros)
    apply_masks(model.model, masks)
    return run


def measure_yolo_variants(paths: Mapping[str, Path], dataset, *, conf: float = 0.001, repeats: int = 10,
                          warmup: int = 2, threads: int = 1) -> pd.DataFrame:
    """One table: per ONNX variant its file size, CPU latency of the network and mAP50, each relative to the first.

    ``dataset`` (a :class:`~course_utils.detection.pcb.DetectionSet`, e.g. the test split) is detected by
    every variant through :class:`~course_utils.detection.yolo_export.OnnxDetector` at ``conf`` and scored by
    :func:`course_utils.detection.evaluate.evaluate_detections` (mAP50, COCO 101 points). Latency: the
    median of ``repeats`` calls of the network alone on one letterboxed image (batch 1) after ``warmup``,
    with ``threads`` onnxruntime threads. ``df.attrs["note"]`` states the settings.

    Taught in: 23_model_lightweighting"""
    if not paths:
        raise ValueError("paths is empty: build them with yolo_onnx_variants(...).")
    targets = dataset.targets()
    rows = []
    for name, path in paths.items():
        detector = yolo_export.OnnxDetector(path, device="cpu", threads=check_int(threads, "threads", minimum=1))
        preds = [detector(image, conf=conf) for image in dataset.images]
        x_one = yolo_export.letterbox(np.asarray(dataset.images[0]), detector.imgsz)[0]
        timing = lightweight.time_per_call(lambda: detector.raw(x_one), warmup=warmup, repeats=repeats)
        summary = evaluate.evaluate_detections(preds, targets).summary
        rows.append({"variant": name, "runtime": "onnxruntime", "file (MB)": lightweight.file_mb(path),
                     "latency median (ms)": timing["median_ms"], "mAP50": float(summary["mAP50"]),
                     "mAP50-95": float(summary["mAP50-95"])})
    table = pd.DataFrame(rows).set_index("variant")
    first = table.iloc[0]
    table.insert(2, "size vs FP32", table["file (MB)"] / first["file (MB)"])
    table.insert(4, "speed-up vs FP32", first["latency median (ms)"] / table["latency median (ms)"])
    table.insert(6, "Δ mAP50", table["mAP50"] - first["mAP50"])
    imgsz = yolo_export.OnnxDetector(next(iter(paths.values())), device="cpu").imgsz
    table.attrs["note"] = (f"CPU onnxruntime, batch 1 ({imgsz}x{imgsz}), median of {repeats} calls after {warmup} "
                           f"warm-up calls, {threads} thread(s); mAP50 on {len(dataset.images)} images at conf {conf}")
    return table

