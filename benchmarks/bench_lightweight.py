"""Benchmark of model lightweighting (course_utils.training.lightweight, detection.yolo_lightweight; needs [yolo]).

1. The course CNN (``models.WaferCNN``, widths 32-64-128, 64x64 one-hot maps) trained on balanced
   synthetic wafer maps (the twin), then written as FP32 (PyTorch, ONNX), FP16 (ONNX), INT8 dynamic
   and static (onnxruntime; static calibrated on 512 synthetic training maps), INT8 dynamic Linear
   (torch.ao) and two pruned copies fine-tuned for one epoch (global L1 unstructured 50 %; L2
   structured 25 % of the output channels). Scored on the 270 real maps of ``wm811k_sample.npz``
   (30 per class; read with ``calibration.load_real_maps``, resized to 64x64): macro-F1 of each
   variant, file size, CPU latency (batch 1, median of N calls after a warm-up, 1 thread).
2. YOLOv8n trained from scratch on the PCB twin (offline; on 160 px native-resolution windows around the
   defects, ``yolo_data.defect_crops``), exported to ONNX at 640 px, then FP16, INT8
   dynamic, INT8 static (calibrated on training images) and pruned (L1 30 % of all convolution
   weights, fine-tuned with the zeros kept): mAP50 of onnxruntime's detections on twin test images
   (the kit's evaluation), file size and CPU latency of the network (batch 1, 1 thread).

The machine's load average is printed: on a shared machine the latencies are inflated.

    python benchmarks/bench_lightweight.py            # CNN: 9,000 maps x 3 epochs; YOLO: 64 images' windows x 40 epochs
    python benchmarks/bench_lightweight.py --quick    # small sizes (CI): the tables' shape, not their values
    python benchmarks/bench_lightweight.py --skip-yolo
"""
from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_utils.classification import calibration
from course_utils.classification.data import WaferDataset, encode_maps, make_loader
from course_utils.classification.twin import make_synthetic_wafers
from course_utils.training import engine, lightweight as lw, models

_REPO = Path(__file__).resolve().parents[1]
DATA = _REPO.parent / "shared" / "data"


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"


def show(table: pd.DataFrame, title: str) -> None:
    print(f"\n[{title}] {table.attrs.get('note', '')}")
    with pd.option_context("display.width", 220, "display.max_columns", 20):
        print(table.round(3).to_string())


def bench_cnn(args, out: Path) -> None:
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    train = make_synthetic_wafers(args.n_train, proportions="balanced", seed=args.seed)
    val = make_synthetic_wafers(900, proportions="balanced", seed=args.seed + 1000)
    train_loader = make_loader(WaferDataset.from_waferset(train), batch_size=128, shuffle=True, seed=args.seed)
    val_loader = make_loader(WaferDataset.from_waferset(val), batch_size=256)
    model = models.WaferCNN(3, 9, (32, 64, 128), dropout=0.2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=args.epochs * len(train_loader),
                                                    pct_start=0.2)
    fit = engine.fit(model, train_loader, val_loader, loss_fn=nn.CrossEntropyLoss(label_smoothing=0.05),
                     optimizer=optimizer, epochs=args.epochs, device="cpu", scheduler=scheduler, amp=False,
                     verbose=False)
    model = fit.model.cpu().eval()
    print(f"[cnn] WaferCNN(32-64-128) trained on {len(train):,} balanced twin maps, {args.epochs} epoch(s) "
          f"({time.perf_counter() - start:.0f} s); best twin val macro-F1 {max(fit.history['val_macro_f1']):.3f}")
    real = calibration.load_real_maps(args.data, size=64)
    keep = real.source == calibration.REAL_FILES[0]
    x_real = encode_maps(torch.from_numpy(real.maps[keep])).numpy()
    y_real = real.labels[keep]
    print(f"[cnn] scored on {len(y_real)} real maps of {calibration.REAL_FILES[0]} "
          f"({np.bincount(y_real).tolist()} per class), resized to 64x64")
    calib = encode_maps(torch.from_numpy(train.maps[:512])).numpy()
    pruned = {}
    for name, kwargs in (("pruned L1 50 % + fine-tune", {"amount": 0.5}),
                         ("pruned structured 25 % + fine-tune", {"amount": 0.25, "structured": True})):
        p = lw.prune_model(copy.deepcopy(model), **kwargs)
        lw.finetune_pruned(p, train_loader, epochs=1, lr=5e-4)
        pruned[name] = (p, lw.sparsity(p))
        print(f"[cnn] {name}: sparsity {pruned[name][1]:.3f} of the Conv/Linear weights")
    variants = lw.classifier_variants(model, calib, out / "cnn", pruned={name: p for name, (p, _) in pruned.items()})
    print(f"[cnn] load before timing: {load()}")
    show(lw.measure_variants(variants, x_real, y_real, repeats=args.repeats, warmup=5, threads=1),
         "cnn: course CNN on 270 real WM-811K maps")


def bench_yolo(args, out: Path) -> None:
    from course_utils.detection import data as det_data, yolo, yolo_data, yolo_export, yolo_lightweight as ylw

    start = time.perf_counter()
    trainval = det_data.load_pcb_data("synthetic", split="trainval", n_images=args.yolo_train + 8, seed=args.seed)
    test = det_data.load_pcb_data("synthetic", split="test", n_images=args.yolo_test, seed=args.seed)
    train, val = trainval.subset(np.arange(args.yolo_train)), trainval.subset(np.arange(args.yolo_train, len(trainval)))
    # from scratch on a CPU: train on native-resolution windows around the defects (whole images shrunk to
    # 256 px left 4-12 px defects and mAP50 0 after 60 epochs), export and score at the whole-image size
    windows = {name: yolo_data.defect_crops(part, crop=args.crop, per_image=8, seed=args.seed)[0]
               for name, part in (("train", train), ("val", val))}
    data_yaml = yolo_data.write_yolo_dataset({**windows, "test": test}, out / "yolo_data")
    model = yolo.build_yolo("yolov8n", weights=None)
    yolo.train_yolo(model, data_yaml, project=out / "runs", name="fp32", epochs=args.yolo_epochs, imgsz=args.crop,
                    batch=16, device="cpu", seed=args.seed)
    print(f"[yolo] YOLOv8n from scratch on {len(windows['train'])} windows of {args.crop} px from {len(train)} twin "
          f"images, {args.yolo_epochs} epochs ({time.perf_counter() - start:.0f} s); exported at {args.imgsz} px")
    fp32 = yolo_export.export_onnx(model, imgsz=args.imgsz, path=out / "yolo_fp32.onnx")
    paths = ylw.yolo_onnx_variants(fp32, train.images[:32], out)
    masks = ylw.prune_yolo(model, amount=0.3)
    ylw.finetune_pruned_yolo(model, data_yaml, masks, project=out / "runs", epochs=max(1, args.yolo_epochs // 5),
                             imgsz=args.crop, batch=16, device="cpu", seed=args.seed)
    zeros = sum(int((m.weight == 0).sum()) for m in model.model.modules() if isinstance(m, nn.Conv2d))
    total = sum(m.weight.numel() for m in model.model.modules() if isinstance(m, nn.Conv2d))
    print(f"[yolo] pruned L1 30 % + {max(1, args.yolo_epochs // 5)} epoch(s) fine-tune: sparsity {zeros / total:.3f} "
          "of the convolution weights")
    paths["pruned L1 30 % + fine-tune (ONNX)"] = yolo_export.export_onnx(model, imgsz=args.imgsz,
                                                                        path=out / "yolo_pruned.onnx")
    print(f"[yolo] load before timing: {load()}")
    show(ylw.measure_yolo_variants(paths, test, repeats=args.repeats, threads=1),
         f"yolo: YOLOv8n on {len(test)} twin test images")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--skip-cnn", action="store_true")
    parser.add_argument("--skip-yolo", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--yolo-train", type=int, default=None, help="twin training images for YOLOv8n (default 64)")
    parser.add_argument("--yolo-epochs", type=int, default=None, help="YOLOv8n training epochs (default 40)")
    parser.add_argument("--data", type=Path, default=DATA, help=f"folder with {calibration.REAL_FILES[0]} (default {DATA})")
    args = parser.parse_args()
    args.n_train, args.epochs = (1500, 1) if args.quick else (9000, 3)
    yolo_train, args.yolo_test, yolo_epochs, args.imgsz = (8, 4, 1, 128) if args.quick else (64, 32, 40, 640)
    args.crop = 64 if args.quick else 160  # training windows (yolo_data.defect_crops); scored on whole images
    args.yolo_train = args.yolo_train or yolo_train
    args.yolo_epochs = args.yolo_epochs or yolo_epochs
    args.repeats = 5 if args.quick else 30
    print(f"[setup] torch {torch.__version__}, CUDA {torch.cuda.is_available()}; load {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_cnn:
            bench_cnn(args, Path(tmp))
        if not args.skip_yolo:
            bench_yolo(args, Path(tmp))
    print(f"[setup] load after: {load()}")


if __name__ == "__main__":
    main()
