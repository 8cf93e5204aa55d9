"""Benchmark of the synthetic WM-811K twin (course_utils.synthetic).

1. Speed: time to generate a WM-811K-sized set (172,950 maps, 64x64) -> seconds and maps/s.
   Target: <= 10 s on a 2-core CPU.
2. Realism: train a small CNN on balanced synthetic maps only, then classify the
   270 real WM-811K maps of ``../shared/data/wm811k_sample.npz`` (30 per class,
   resized to 64x64 with nearest neighbour) and print scikit-learn's per-class
   report and the macro-F1 (chance: ~0.11). Skipped with a message when the
   sample file is absent; the kit itself never needs it.

The model is ``models.WaferCNN`` (narrow widths) behind a 2x2 max-pool, so a few
epochs on 20k maps fit in a few minutes on a CPU; the real maps are still fed at 64x64.

    python benchmarks/bench_synthetic.py            # full: 172,950 maps; train on 24,000 maps, 4 epochs
    python benchmarks/bench_synthetic.py --quick    # small sizes, for CI
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix, f1_score
from torch import nn

from course_utils.config import CLASS_NAMES, WM811K_LABELED_COUNTS
from course_utils.data import encode_maps
from course_utils.wafers import resize_maps
from course_utils.synthetic import make_synthetic_wafers

_REPO = Path(__file__).resolve().parents[1]
#: Where the real sample is looked for: ``../shared`` beside the checkout (CI), or two levels up (a worktree).
SAMPLE_CANDIDATES = tuple(base / "shared" / "data" / "wm811k_sample.npz" for base in (_REPO.parent, _REPO.parent.parent))
SAMPLE = next((p for p in SAMPLE_CANDIDATES if p.is_file()), SAMPLE_CANDIDATES[0])


def bench_speed(n_samples: int, repeats: int) -> None:
    """Print the best-of-``repeats`` time to generate ``n_samples`` 64x64 maps."""
    make_synthetic_wafers(2000, seed=0)  # warm-up (imports, allocator)
    times, cpu = [], []
    for k in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        ws = make_synthetic_wafers(n_samples, size=64, seed=k)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    best = min(times)
    print(f"[speed] {n_samples:,} maps of 64x64 ({ws.maps.nbytes / 1e6:.0f} MB): best {best:.2f} s "
          f"of {repeats} ({', '.join(f'{t:.2f}' for t in times)} s wall; "
          f"{', '.join(f'{t:.1f}' for t in cpu)} s CPU) -> {n_samples / best:,.0f} maps/s")
    print(f"[speed] class counts: {dict(zip(CLASS_NAMES, ws.class_counts().tolist()))}")


def load_real_sample(path: Path, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The real maps resized to ``size`` (``uint8 (N, size, size)``) and their labels (``int64 (N,)``)."""
    z = np.load(path)
    flat, shapes, offsets = z["maps_flat"], z["shapes"], z["offsets"]
    maps = [flat[o:o + h * w].reshape(h, w) for o, (h, w) in zip(offsets, shapes)]
    labels = np.array([CLASS_NAMES.index(str(name)) for name in z["label"]], dtype=np.int64)
    return resize_maps(maps, size), labels


def make_model() -> tuple[nn.Module, str]:
    try:
        from course_utils.models import WaferCNN
        body, name = WaferCNN(in_channels=3, num_classes=9, widths=(24, 48, 96), dropout=0.2), "WaferCNN(24-48-96)"
    except ImportError:
        body = nn.Sequential(
            nn.Conv2d(3, 24, 3, padding=1), nn.BatchNorm2d(24), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(24, 48, 3, padding=1), nn.BatchNorm2d(48), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(48, 96, 3, padding=1), nn.BatchNorm2d(96), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
            nn.Flatten(), nn.Dropout(0.2), nn.Linear(96, 9))
        name = "fallback CNN(24-48-96)"
    # a 2x2 max-pool first: 4x fewer FLOPs, and a defective die anywhere in the window survives
    return nn.Sequential(nn.MaxPool2d(2), body), f"MaxPool2d(2) -> {name}"


def predict(model: nn.Module, maps: np.ndarray, batch_size: int = 512) -> np.ndarray:
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(maps), batch_size):
            x = encode_maps(torch.from_numpy(maps[start:start + batch_size]))
            out.append(model(x).argmax(1).numpy())
    return np.concatenate(out)


def bench_realism(n_train: int, epochs: int, seed: int, batch_size: int = 128) -> float | None:
    """Train on balanced synthetic maps, evaluate on the real sample; returns the macro-F1."""
    if not SAMPLE.is_file():
        print(f"[realism] skipped: the real sample {SAMPLE} is absent (it lives in ../shared, outside the kit).")
        return None
    real_maps, real_labels = load_real_sample(SAMPLE)
    torch.manual_seed(seed)
    start = time.perf_counter()
    train = make_synthetic_wafers(n_train, proportions="balanced", seed=seed)
    val = make_synthetic_wafers(1800, proportions="balanced", seed=seed + 1000)
    print(f"[realism] generated {n_train:,} + 1,800 synthetic maps in {time.perf_counter() - start:.1f} s")
    model, name = make_model()
    maps, labels = torch.from_numpy(train.maps), torch.from_numpy(train.labels)
    steps = epochs * (-(-len(labels) // batch_size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.2)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    generator = torch.Generator().manual_seed(seed)
    print(f"[realism] model {name}; {epochs} epochs x {len(labels):,} maps, batch {batch_size}")
    for epoch in range(epochs):
        model.train()
        t0, total = time.perf_counter(), 0.0
        for batch in torch.randperm(len(labels), generator=generator).split(batch_size):
            x = encode_maps(maps[batch])
            loss = loss_fn(model(x), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(batch)
        syn_f1 = f1_score(val.labels, predict(model, val.maps), average="macro")
        real_f1 = f1_score(real_labels, predict(model, real_maps), average="macro")
        print(f"[realism] epoch {epoch + 1}/{epochs}: loss {total / len(labels):.3f}, "
              f"synthetic val macro-F1 {syn_f1:.3f}, real macro-F1 {real_f1:.3f} "
              f"({time.perf_counter() - t0:.0f} s)")
    pred = predict(model, real_maps)
    print("[realism] per-class report on the 270 real maps (model trained on synthetic maps only):")
    print(classification_report(real_labels, pred, labels=range(len(CLASS_NAMES)), target_names=CLASS_NAMES,
                                digits=3, zero_division=0))
    short = [name[:8] for name in CLASS_NAMES]
    print("[realism] confusion matrix (rows: true class, columns: predicted):")
    print(pd.DataFrame(confusion_matrix(real_labels, pred, labels=range(len(CLASS_NAMES))), index=CLASS_NAMES,
                       columns=short).to_string())
    macro = f1_score(real_labels, pred, average="macro")
    print(f"[realism] macro-F1 on real maps: {macro:.3f} (chance ~{1 / len(CLASS_NAMES):.2f})")
    return macro


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--n-train", type=int, default=None, help="synthetic training maps (default 24,000)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-realism", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if not args.skip_speed:
        n = 20_000 if args.quick else sum(WM811K_LABELED_COUNTS.values())
        bench_speed(n, repeats=1 if args.quick else 3)
    if not args.skip_realism:
        n_train = args.n_train or (3000 if args.quick else 24_000)
        epochs = args.epochs or (1 if args.quick else 4)
        bench_realism(n_train, epochs, args.seed)


if __name__ == "__main__":
    main()
