"""Training-step throughput with and without batch augmentation (augment.BatchAugment).

One training step = forward + backward + optimizer step of the course CNN
(``models.WaferCNN`` with its default widths, 03_cnn_design's full-run model) on an
in-memory batch of 256 one-hot 64x64 wafer maps. Both variants are measured in
the same run, interleaved round by round, on the CPU and (when available) CUDA.
Target: augmentation costs <= 10 % of the step.

    python benchmarks/bench_augment.py            # full measurement
    python benchmarks/bench_augment.py --quick    # a few steps, for CI
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from course_utils.classification import augment
from course_utils.classification.data import encode_maps
from course_utils.training.models import WaferCNN


def make_model() -> tuple[nn.Module, str]:
    """The course CNN with its default widths, and its name for the printout."""
    return WaferCNN(in_channels=3, num_classes=9), "models.WaferCNN (defaults)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(model, optimizer, batches, labels, transform, steps: int, device) -> float:
    """Seconds for ``steps`` training steps (cycling over the in-memory batches)."""
    loss_fn = nn.CrossEntropyLoss()
    sync(device)
    start = time.perf_counter()
    for i in range(steps):
        x, y = batches[i % len(batches)], labels[i % len(labels)]
        if transform is not None:
            x = transform(x)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    sync(device)
    return time.perf_counter() - start


def bench_device(device: torch.device, batch_size: int, steps: int, rounds: int, max_shift: int) -> dict:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    maps = torch.randint(0, 3, (4, batch_size, 64, 64), generator=g, dtype=torch.uint8)
    batches = [encode_maps(m, "onehot").to(device) for m in maps]
    labels = [torch.randint(0, 9, (batch_size,), generator=g).to(device) for _ in maps]
    model, model_name = make_model()
    model = model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    aug = augment.BatchAugment(max_shift=max_shift, seed=0)

    time_steps(model, optimizer, batches, labels, aug, 2, device)  # warm-up (allocator, kernels)
    plain, augmented = [], []
    for r in range(rounds):  # interleave, alternating the order, so drift hits both equally
        order = [(None, plain), (aug, augmented)]
        for transform, store in (order if r % 2 == 0 else order[::-1]):
            store.append(batch_size * steps / time_steps(model, optimizer, batches, labels, transform, steps, device))

    # the augmentation alone
    reps = 20
    sync(device)
    start = time.perf_counter()
    for i in range(reps):
        aug(batches[i % len(batches)])
    sync(device)
    aug_only = batch_size * reps / (time.perf_counter() - start)
    return {
        "device": str(device), "model": model_name, "plain": statistics.median(plain),
        "augmented": statistics.median(augmented), "aug_only": aug_only,
        "plain_all": plain, "augmented_all": augmented,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few steps and rounds (a quick check, noisier)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=None, help="training steps per timed round")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per variant (median reported)")
    parser.add_argument("--max-shift", type=int, default=2, help="BatchAugment(max_shift=...) in pixels")
    parser.add_argument("--device", default="all", help="'cpu', 'cuda' or 'all' (cpu + cuda if available)")
    args = parser.parse_args()
    steps = args.steps or (3 if args.quick else 5)
    rounds = args.rounds or (2 if args.quick else 5)
    devices = [torch.device("cpu")] if args.device in ("all", "cpu") else []
    if args.device in ("all", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; batch {args.batch_size} x 3 x 64 x 64 "
          f"one-hot; BatchAugment(d4=True, max_shift={args.max_shift}); {steps} steps x {rounds} rounds per variant")
    for device in devices:
        r = bench_device(device, args.batch_size, steps, rounds, args.max_shift)
        slowdown = 100 * (r["plain"] / r["augmented"] - 1)
        print(f"\n[{r['device']}] {r['model']}")
        print(f"  training step, no augmentation   : {r['plain']:10.0f} img/s  (rounds: "
              f"{', '.join(f'{v:.0f}' for v in r['plain_all'])})")
        print(f"  training step, with BatchAugment : {r['augmented']:10.0f} img/s  (rounds: "
              f"{', '.join(f'{v:.0f}' for v in r['augmented_all'])})")
        print(f"  BatchAugment alone               : {r['aug_only']:10.0f} img/s")
        share = 100 * r["plain"] / r["aug_only"]
        print(f"  augmentation / step time (timed separately): {share:.2f} %")
        verdict = "OK" if slowdown <= 10 else "OVER TARGET"
        print(f"  step time added by augmentation  : {slowdown:+.1f} %  (target <= 10 %: {verdict})")


if __name__ == "__main__":
    main()
