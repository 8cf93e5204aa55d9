"""How much does engine.fit cost on top of a bare PyTorch loop?

Run ``python benchmarks/bench_engine.py`` (or ``--quick`` for a short check).

Both contenders train the same WaferCNN on the same in-memory batches with the
same optimizer and then predict the validation set once per epoch, which is the
work ``fit`` does; ``fit`` additionally accumulates loss/accuracy on the device,
computes macro-F1, prints its epoch table and shows tqdm bars. Runs alternate
(fit, bare, fit, bare, ...) so background load hits both alike; the best run of
each is compared. Reported:

* img/s of each (training images per second of wall time, validation included),
  and the ratio fit / bare (target >= 0.95 on CPU);
* achieved GFLOP/s of training (forward + backward FLOPs counted by
  ``torch.utils.flop_counter.FlopCounterMode``) against the peak of a large
  float32 matmul measured in the same run;
* the time to write one checkpoint (``fit`` writes last.pt every epoch and
  best.pt when the score improved).
"""
from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path
import statistics
import tempfile
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils import checkpoints, data, engine, env, models
from course_utils.synthetic import make_synthetic_wafers


def bare_loop(model, train_loader, val_loader, optimizer, loss_fn, epochs: int) -> None:
    """The reference: the fewest lines that train and validate."""
    for _ in range(epochs):
        model.train()
        for x, y in train_loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            preds = torch.cat([model(x).argmax(1) for x, _ in val_loader])
        preds.numpy()


def train_step_flops(model, loss_fn, x, y) -> int:
    """FLOPs of one forward + backward pass on batch ``(x, y)``."""
    with FlopCounterMode(display=False) as counter:
        loss_fn(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of an ``n x n`` matrix product on the CPU."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small data, 1 epoch (about a minute on 2 cores)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n_train, n_val, epochs, repeats = (512, 128, 1, 3) if args.quick else (2048, 512, 2, 5)
    batch_size, size = 128, 64

    env.seed_everything(0)
    ws = make_synthetic_wafers(n_train + n_val, size=size, seed=0)
    train_ds = data.WaferDataset(ws.maps[:n_train], ws.labels[:n_train])
    val_ds = data.WaferDataset(ws.maps[n_train:], ws.labels[n_train:])
    loss_fn = nn.CrossEntropyLoss()

    def fresh():
        torch.manual_seed(0)
        model = models.WaferCNN()
        return (model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
                data.make_loader(train_ds, batch_size, shuffle=True, seed=0), data.make_loader(val_ds, 256))

    def run_fit(checkpoint_dir=None) -> float:
        model, opt, train_loader, val_loader = fresh()
        start = time.perf_counter()
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            engine.fit(model, train_loader, val_loader, loss_fn=loss_fn, optimizer=opt, epochs=epochs,
                       device="cpu", checkpoint_dir=checkpoint_dir, verbose=True)
        return time.perf_counter() - start

    def run_bare() -> float:
        model, opt, train_loader, val_loader = fresh()
        start = time.perf_counter()
        bare_loop(model, train_loader, val_loader, opt, loss_fn, epochs)
        return time.perf_counter() - start

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; WaferCNN (defaults), "
          f"{n_train} train + {n_val} val maps {size}x{size}, batch {batch_size}, {epochs} epochs, "
          f"{repeats} alternating repeats")
    run_bare()  # warm-up (first-call costs of torch, allocator)
    fit_times, bare_times = [], []
    for _ in range(repeats):
        fit_times.append(run_fit())
        bare_times.append(run_bare())
    images = n_train * epochs
    fit_ips, bare_ips = images / min(fit_times), images / min(bare_times)
    print(f"bare loop: {bare_ips:8.1f} img/s (best of {repeats}; median {images / statistics.median(bare_times):.1f})")
    print(f"engine.fit:{fit_ips:8.1f} img/s (best of {repeats}; median {images / statistics.median(fit_times):.1f})")
    print(f"ratio fit / bare = {fit_ips / bare_ips:.3f} (target >= 0.95)")

    with tempfile.TemporaryDirectory() as tmp:
        run_fit(checkpoint_dir=tmp)
        checkpoint = checkpoints.load_checkpoint(f"{tmp}/last.pt")
        save_times = []
        for i in range(5):
            start = time.perf_counter()
            checkpoints.save_checkpoint(checkpoint, f"{tmp}/copy{i}.pt")
            save_times.append(time.perf_counter() - start)
        size_mb = (Path(tmp) / "copy0.pt").stat().st_size / 1e6
    print(f"one checkpoint ({size_mb:.2f} MB: model, optimizer, RNG states, history) is written atomically in "
          f"{statistics.median(save_times) * 1e3:.1f} ms (median of 5)")

    model, _, train_loader, _ = fresh()
    x, y = next(iter(train_loader))
    flops_per_image = train_step_flops(model, loss_fn, x, y) / len(x)
    forward_per_image = models.model_summary(model, input_size=(1, 3, size, size)).flops
    total_flops = epochs * (n_train * flops_per_image + n_val * forward_per_image)
    train_gflops = total_flops / min(fit_times) / 1e9
    peak = matmul_peak_gflops()
    print(f"FLOPs: {flops_per_image / 1e6:.1f} MFLOP per training image (forward + backward), "
          f"{forward_per_image / 1e6:.1f} MFLOP per validation image")
    print(f"achieved: {train_gflops:.1f} GFLOP/s in fit (train + validation) vs matmul peak {peak:.1f} GFLOP/s "
          f"({100 * train_gflops / peak:.0f} % of peak)")


if __name__ == "__main__":
    main()
