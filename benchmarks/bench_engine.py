"""How much does engine.fit cost on top of a bare PyTorch loop, and how close is it to the peak?

Run ``python benchmarks/bench_engine.py`` (``--quick`` for a short check, ``--threads 2`` for a
student's 2-core laptop).

For two models -- the course CNN on 64x64 one-hot maps and EfficientNet-B0 (fine-tuned, random
weights) on 224x224 inputs -- both contenders train on the same in-memory batches with the same
optimizer and then predict the validation set once per epoch, which is the work ``fit`` does;
``fit`` additionally accumulates loss/accuracy on the device, computes macro-F1, prints its epoch
table and shows tqdm bars. ``fit`` runs with its default memory format (``channels_last="auto"``:
channels-last for convolutions on CPU); the bare loop is timed in both formats. Runs alternate
(fit, bare, ...) so background load hits all alike; the best run of each is compared. Reported:

* img/s of each (training images per second of wall time, validation included), fit / bare in
  the same format (target >= 0.95) and channels-last / contiguous of the bare loop;
* achieved GFLOP/s of ``fit`` (training = 3x the forward FLOPs of ``models.model_summary``,
  validation = 1x) as a % of the one peak of ``peak.py`` and of its convolution reference
  (target >= 50 % for the CNN on 2 threads);
* kernel (system) vs user CPU seconds of the whole benchmark, and the time to write one checkpoint.
"""
from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path
import resource
import statistics
import sys
import tempfile
import time

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak import describe, measure_peak  # noqa: E402  the one peak of every benchmark

from course_utils.core import env
from course_utils.training import checkpoints, engine, models, transfer
from course_utils.classification import data  # noqa: E402
from course_utils.classification.twin import make_synthetic_wafers  # noqa: E402


def bare_loop(model, train_loader, val_loader, optimizer, loss_fn, epochs: int, channels_last: bool) -> None:
    """The reference: the fewest lines that train and validate (in the given memory format)."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    for _ in range(epochs):
        model.train()
        for x, y in train_loader:
            loss = loss_fn(model(x.contiguous(memory_format=fmt)), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            preds = torch.cat([model(x.contiguous(memory_format=fmt)).argmax(1) for x, _ in val_loader])
        preds.numpy()


#: The two models: builder, input side (pixels), images (train, val), batch size, epochs, alternating repeats.
SETUPS = {
    "cnn_64": (lambda: models.WaferCNN(), 64, (2048, 512), 128, 2, 5),
    "effnet_b0_224": (lambda: transfer.build_transfer_model("efficientnet_b0", num_classes=9, weights=None, input_size=224,
                                                             mode="fine_tuning"), 224, (96, 32), 16, 1, 3),
}


def bench_model(name: str, quick: bool, peak: dict) -> None:
    build, size, (n_train, n_val), batch_size, epochs, repeats = SETUPS[name]
    if quick:
        n_train, n_val, epochs, repeats = n_train // 4, n_val // 4, 1, 2
    env.seed_everything(0)
    ws = make_synthetic_wafers(n_train + n_val, size=64, seed=0)
    maps = ws.maps if size == 64 else torch.nn.functional.interpolate(
        torch.from_numpy(ws.maps)[:, None].float(), size=(size, size), mode="nearest")[:, 0].to(torch.uint8).numpy()
    train_ds = data.WaferDataset(maps[:n_train], ws.labels[:n_train])
    val_ds = data.WaferDataset(maps[n_train:], ws.labels[n_train:])
    loss_fn = nn.CrossEntropyLoss()

    def fresh():
        torch.manual_seed(0)
        model = build()
        return (model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
                data.make_loader(train_ds, batch_size, shuffle=True, seed=0), data.make_loader(val_ds, 2 * batch_size))

    def run_fit() -> float:
        model, opt, train_loader, val_loader = fresh()
        start = time.perf_counter()
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            engine.fit(model, train_loader, val_loader, loss_fn=loss_fn, optimizer=opt, epochs=epochs,
                       device="cpu", verbose=True)
        return time.perf_counter() - start

    def run_bare(channels_last: bool) -> float:
        model, opt, train_loader, val_loader = fresh()
        start = time.perf_counter()
        bare_loop(model, train_loader, val_loader, opt, loss_fn, epochs, channels_last)
        return time.perf_counter() - start

    env.keep_freed_memory()  # what fit does on CPU: the bare loop gets the same allocator
    run_bare(True)  # warm-up (first-call costs of torch, allocator)
    times = {"fit": [], "bare channels-last": [], "bare contiguous": []}
    for _ in range(repeats):
        times["fit"].append(run_fit())
        times["bare channels-last"].append(run_bare(True))
        times["bare contiguous"].append(run_bare(False))
    images = n_train * epochs
    ips = {k: images / min(v) for k, v in times.items()}
    model, _, train_loader, _ = fresh()
    model.to(memory_format=torch.channels_last)
    forward_per_image = models.model_summary(model, input_size=(1, 3, size, size)).flops
    # Training = forward + backward ~ 3x forward (the backward computes gradients of inputs and weights).
    # FlopCounterMode agrees for the CNN (2.9x) but counts EfficientNet's depthwise backward as dense (42x).
    flops_per_image = 3 * forward_per_image
    total_flops = epochs * (n_train * flops_per_image + n_val * forward_per_image)
    fit_gflops = total_flops / min(times["fit"]) / 1e9
    print(f"\n{name}: {n_train} train + {n_val} val images {size}x{size}, batch {batch_size}, {epochs} epoch(s), "
          f"best of {repeats} alternating runs; {flops_per_image / 1e9:.3f} GFLOP per training image "
          f"(3x forward), {forward_per_image / 1e9:.3f} per validation image")
    for k, v in times.items():
        print(f"  {k:<19} {ips[k]:8.1f} img/s (median {images / statistics.median(v):.1f})")
    print(f"  fit / bare (same format)     = {ips['fit'] / ips['bare channels-last']:.3f} (target >= 0.95)")
    print(f"  channels-last / contiguous   = {ips['bare channels-last'] / ips['bare contiguous']:.2f} (bare loop)")
    print(f"  fit: {fit_gflops:.1f} GFLOP/s = {100 * fit_gflops / peak['peak']:.0f} % of the peak "
          f"({100 * fit_gflops / peak['conv_best']:.0f} % of the convolution reference; target >= 50 % for cnn_64)")


def checkpoint_time() -> None:
    torch.manual_seed(0)
    model = models.WaferCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    ws = make_synthetic_wafers(256, size=64, seed=0)
    loader = data.make_loader(data.WaferDataset(ws.maps, ws.labels), 128, shuffle=True, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            engine.fit(model, loader, loader, loss_fn=nn.CrossEntropyLoss(), optimizer=opt, epochs=1, device="cpu",
                       checkpoint_dir=tmp)
        checkpoint = checkpoints.load_checkpoint(f"{tmp}/last.pt")
        save_times = []
        for i in range(5):
            start = time.perf_counter()
            checkpoints.save_checkpoint(checkpoint, f"{tmp}/copy{i}.pt")
            save_times.append(time.perf_counter() - start)
        size_mb = (Path(tmp) / "copy0.pt").stat().st_size / 1e6
    print(f"\none checkpoint ({size_mb:.2f} MB: model, optimizer, RNG states, history) is written atomically in "
          f"{statistics.median(save_times) * 1e3:.1f} ms (median of 5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a quarter of the data, 1 epoch, 2 repeats")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--models", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    peak = measure_peak()
    print(f"torch {torch.__version__}; {describe(peak)}")
    for name in args.models:
        bench_model(name, args.quick, peak)
    checkpoint_time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"CPU time of this benchmark: user {usage.ru_utime:.1f} s, kernel {usage.ru_stime:.1f} s "
          f"({usage.ru_minflt / 1e6:.2f} million minor page faults)")


if __name__ == "__main__":
    main()
