"""Benchmark of YOLOv8 on this CPU (course_utils.detection.yolo, needs the [yolo] extra).

1. Training throughput: YOLOv8n from scratch, one epoch on synthetic PCB pairs at imgsz 640
   and 320 -> training images/s (time of the batch loop only, from ultralytics' epoch
   callbacks; validation excluded) and the achieved GFLOP/s (3 x forward FLOPs per image:
   forward + backward).
2. Inference latency per image (batch 1): the PyTorch network vs the exported ONNX model in
   onnxruntime on the same input, at imgsz 640 and 320 (minimum and median of N calls
   after a warm-up) -> speed-up.
3. Estimated full training time on one GPU from FLOPs: DeepPCB (900 training + 100
   validation images, 100 epochs, imgsz 640) for YOLOv8n and YOLOv8s, at an assumed
   sustained throughput (printed: peak FP16 tensor TFLOPS x utilisation).

The machine's load average is printed before and after: on a shared machine (the course
server, CI) the figures are inflated by other jobs.

    python benchmarks/bench_yolo.py            # 64 images per epoch, 30 timed calls
    python benchmarks/bench_yolo.py --quick    # 16 images, 5 calls (CI)
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from course_utils.detection import yolo, yolo_data, yolo_export
from course_utils.training import lightweight
from course_utils.detection import twin as det_twin

#: Assumed GPUs: (peak dense FP16 tensor TFLOPS, sustained fraction for a small detector with AMP).
GPUS = {"T4 (Colab)": (65.0, 0.05), "A100": (312.0, 0.03)}
DEEPPCB = {"train": 900, "val": 100, "epochs": 100, "imgsz": 640}


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"


def train_throughput(data_yaml: Path, root: Path, imgsz: int, n_train: int) -> tuple[float, float]:
    """(images/s, achieved GFLOP/s) of one training epoch of YOLOv8n at ``imgsz``."""
    model = yolo.build_yolo("yolov8n", weights=None)
    marks = {}
    model.add_callback("on_train_epoch_start", lambda trainer: marks.setdefault("start", time.perf_counter()))
    model.add_callback("on_train_epoch_end", lambda trainer: marks.setdefault("end", time.perf_counter()))
    yolo.train_yolo(model, data_yaml, project=root / "runs", name=f"t{imgsz}", epochs=1, imgsz=imgsz, batch=16,
                    device="cpu", plots=False)
    rate = n_train / (marks["end"] - marks["start"])
    gflops = yolo.model_info(model, imgsz=imgsz)["GFLOPs"]
    return rate, 3 * gflops * rate


def latency(root: Path, imgsz: int, repeats: int) -> dict:
    """PyTorch vs onnxruntime per image for an untrained YOLOv8n (the weights do not change the speed)."""
    import torch

    model = yolo.build_yolo("yolov8n", weights=None)
    onnx_path = yolo_export.export_onnx(model, imgsz=imgsz, path=root / f"yolov8n_{imgsz}.onnx")
    x, _, _ = yolo_export.letterbox(np.full((640, 640), 255, np.uint8), imgsz)
    net = model.model.float().eval()
    session = yolo_export.OnnxDetector(onnx_path, device="cpu")
    with torch.no_grad():
        pt = lightweight.time_per_call(lambda: net(torch.from_numpy(x)), warmup=3, repeats=repeats)
    ort = lightweight.time_per_call(lambda: session.raw(x), warmup=3, repeats=repeats)
    return {"torch": pt, "onnx": ort}


def gpu_estimate() -> None:
    images = DEEPPCB["epochs"] * (3 * DEEPPCB["train"] + DEEPPCB["val"])  # forward-equivalents
    print(f"\n[estimate] DeepPCB full training: {DEEPPCB['train']} train + {DEEPPCB['val']} val images, "
          f"{DEEPPCB['epochs']} epochs, imgsz {DEEPPCB['imgsz']}; training = 3 x forward FLOPs")
    for name in ("yolov8n", "yolov8s"):
        gflops = yolo.model_info(yolo.build_yolo(name, weights=None), imgsz=DEEPPCB["imgsz"])["GFLOPs"]
        total = gflops * images / 1e3  # TFLOP
        parts = []
        for gpu, (peak, util) in GPUS.items():
            parts.append(f"{gpu} ({peak:g} TFLOPS x {util:.0%}): {total / (peak * util) / 60:.1f} min")
        print(f"[estimate] {name}: {gflops:.1f} GFLOPs/image -> {total:.0f} TFLOP in all; " + "; ".join(parts))
    print("[estimate] assumptions: FP16 AMP, no early stop, data loading keeps up (workers >= 4); a model as "
          "small as YOLOv8n/s sustains only a few % of a GPU's peak (small kernels, augmentation on the CPU, "
          "NMS in validation), hence 5 % (T4) and 3 % (A100): rough figures, within a factor of 2.")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 images, 5 timed calls (CI)")
    args = parser.parse_args(argv)
    n_train, repeats = (16, 5) if args.quick else (64, 30)
    print(f"[machine] load average before: {load()}")
    with tempfile.TemporaryDirectory(prefix="bench_yolo_") as tmp:
        root = Path(tmp)
        ds = det_twin.make_synthetic_pcb(n_train + 4, seed=0)
        data_yaml = yolo_data.write_yolo_dataset({"train": ds.subset(slice(0, n_train)),
                                                  "val": ds.subset(slice(n_train, None))}, root / "ds")
        for imgsz in (640, 320):
            rate, achieved = train_throughput(data_yaml, root, imgsz, n_train)
            print(f"[train] YOLOv8n imgsz {imgsz}: {rate:.2f} images/s on the CPU ({n_train} images, batch 16) "
                  f"-> {achieved:.0f} GFLOP/s achieved")
        for imgsz in (640, 320):
            t = latency(root, imgsz, repeats)
            print(f"[latency] YOLOv8n imgsz {imgsz}, batch 1: PyTorch {t['torch']['min_ms']:.1f} ms "
                  f"(median {t['torch']['median_ms']:.1f}), onnxruntime {t['onnx']['min_ms']:.1f} ms "
                  f"(median {t['onnx']['median_ms']:.1f}) -> x{t['torch']['min_ms'] / t['onnx']['min_ms']:.2f}")
    gpu_estimate()
    print(f"[machine] load average after: {load()}")


if __name__ == "__main__":
    main()
