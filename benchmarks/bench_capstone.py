"""What does the Project #1 capstone grid cost? (notebook 12)

Run ``python benchmarks/bench_capstone.py`` (or ``--quick`` for a short check).

For the two models of the capstone -- the proposed CNN (``models.WaferCNN``) on
64x64 maps and EfficientNet-B0 (``transfer.build_transfer_model``, random
initialisation, the input adapter upsamples 64-px maps to 224 px) -- in both
memory formats (contiguous NCHW and channels-last NHWC) it measures on this CPU:

* img/s of a training step (forward + backward + Adam step) and of inference;
* achieved GFLOP/s as a % of the peak of a large float32 matmul measured in the
  same run (``peak.measure_peak``, the one peak of every benchmark). Forward FLOPs are counted by
  ``torch.utils.flop_counter.FlopCounterMode`` (``models.model_summary``); a
  training step is taken as 3 x forward when every layer trains (backward = 2 x
  forward) and 1 x forward with a frozen backbone (only the head's backward).
  ``FlopCounterMode``'s own backward count is not used: it overcounts the
  depthwise convolutions of EfficientNet (x40 here);

and estimates the wall time of the notebook's full grid on one GPU from the
FLOP counts: 12 cells (4 training sets/protocols x 3 models: CNN, EfficientNet-B0
frozen and fine-tuned) x seeds x epochs over the course's set sizes (train
112,421 original, 123,197 augmented, 18,000 balanced; validation 32,085 or 5,535;
three test sets of 28,444 + 4,158 + 4,158 per fit). The GPU's dense fp16
throughput and the utilisation reached are assumptions (printed); the estimate
is ``FLOPs / (throughput x utilisation)``, data loading not included. Notebook 12 prints the same
estimate per grid cell for its ``PRESET`` (``models.estimate_fit_seconds``, with the per-step overhead).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak import describe, measure_peak  # noqa: E402  the one peak of every benchmark

from course_utils.training import models, transfer  # noqa: E402

#: Dense fp16 tensor-core TFLOP/s (vendor data sheets) of GPUs students get: one home, models.GPU_PEAK_TFLOPS.
GPUS = models.GPU_PEAK_TFLOPS
#: The course's set sizes (train, val) per training set, and the test images scored after every fit.
SETS = {"original": (112_421, 32_085), "augmented": (123_197, 32_085), "balanced (leakage-free)": (18_000, 5_535),
        "balanced (course)": (18_000, 5_535)}
TEST_IMAGES = 28_444 + 4_158 + 4_158


def build(kind: str) -> tuple[nn.Module, tuple[int, int, int]]:
    """The model and its input ``(C, H, W)``: maps are 64x64 one-hot for both."""
    if kind == "cnn":
        return models.WaferCNN(in_channels=3, num_classes=9), (3, 64, 64)
    mode = "feature_extraction" if kind == "effnet_b0_frozen" else "fine_tuning"
    return transfer.build_transfer_model("efficientnet_b0", num_classes=9, weights=None, input_size=224, mode=mode), (3, 64, 64)


def time_steps(fn, repeats: int) -> float:
    """Best-of-``repeats`` seconds of ``fn()`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(kind: str, batch: int, repeats: int, channels_last: bool) -> dict:
    torch.manual_seed(0)
    model, shape = build(kind)
    x, y = torch.rand(batch, *shape), torch.randint(0, 9, (batch,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss()
    summary = models.model_summary(model, (batch, *shape))
    train_flops = summary.flops * (1 if kind == "effnet_b0_frozen" else 3)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)

    def train_step():
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def infer():
        with torch.no_grad():
            model(x)

    model.train()
    t_train = time_steps(train_step, repeats)
    model.eval()
    t_infer = time_steps(infer, repeats)
    return {"model": kind, "format": "channels_last" if channels_last else "contiguous", "batch": batch,
            "train img/s": batch / t_train, "train GFLOP/s": train_flops / t_train / 1e9,
            "infer img/s": batch / t_infer, "infer GFLOP/s": summary.flops / t_infer / 1e9,
            "train GFLOPs/img": train_flops / batch / 1e9, "fwd GFLOPs/img": summary.flops / batch / 1e9}


def grid_flops(per_img: dict, seeds: int, epochs: int) -> float:
    """Total FLOPs of the full grid from per-image training and forward FLOPs of each model."""
    total = 0.0
    for n_train, n_val in SETS.values():
        for kind, (train, fwd) in per_img.items():
            total += seeds * (epochs * (n_train * train + n_val * fwd) + TEST_IMAGES * fwd)
    return total * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small batches, 2 repeats (about a minute on 2 cores)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per grid cell for the GPU estimate (default 3)")
    parser.add_argument("--epochs", type=int, default=50, help="epochs per fit for the GPU estimate (default 50)")
    parser.add_argument("--utilisation", type=float, default=models.GPU_UTILISATION,
                        help="share of the GPU's fp16 peak reached (default models.GPU_UTILISATION, measured on an H200)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 2 if args.quick else 5
    batches = {"cnn": 64 if args.quick else 256, "effnet_b0_ft": 8 if args.quick else 24,
               "effnet_b0_frozen": 8 if args.quick else 24}
    measured = measure_peak()
    peak = measured["peak"]
    print(f"torch {torch.__version__}; {describe(measured)}")
    rows = []
    for kind in ("cnn", "effnet_b0_ft", "effnet_b0_frozen"):
        for channels_last in (False, True):
            r = measure(kind, batches[kind], repeats, channels_last)
            rows.append(r)
            print(f"{kind:>17} {r['format']:>13} batch {r['batch']:>3}: train {r['train img/s']:8.1f} img/s "
                  f"({r['train GFLOP/s']:6.1f} GFLOP/s = {100 * r['train GFLOP/s'] / peak:5.1f} % of peak), "
                  f"inference {r['infer img/s']:8.1f} img/s ({100 * r['infer GFLOP/s'] / peak:5.1f} %)", flush=True)
    for kind in ("cnn", "effnet_b0_ft", "effnet_b0_frozen"):
        a, b = [r for r in rows if r["model"] == kind]
        print(f"channels_last / contiguous, {kind}: training x{b['train img/s'] / a['train img/s']:.2f}, "
              f"inference x{b['infer img/s'] / a['infer img/s']:.2f}")
    per_img = {r["model"]: (r["train GFLOPs/img"], r["fwd GFLOPs/img"]) for r in rows if r["format"] == "contiguous"}
    total = grid_flops(per_img, args.seeds, args.epochs)
    print(f"\nfull grid: 12 cells x {args.seeds} seeds x {args.epochs} epochs = {total / 1e15:,.1f} PFLOP "
          f"(per image: " + ", ".join(f"{k} {t:.3f}/{f:.3f} GFLOPs train/forward" for k, (t, f) in per_img.items())
          + ")")
    for gpu, tflops in GPUS.items():
        hours = total / (tflops * 1e12 * args.utilisation) / 3600
        print(f"  {gpu:>14}: {tflops:5.0f} TFLOP/s fp16 x {args.utilisation:.0%} utilisation -> {hours:6.1f} h")
    cpu_hours = total / (statistics.mean(r["train GFLOP/s"] for r in rows if r["format"] == "contiguous") * 1e9) / 3600
    print(f"  {'this CPU':>14}: at the measured mean training GFLOP/s -> {cpu_hours:,.0f} h")


if __name__ == "__main__":
    main()
