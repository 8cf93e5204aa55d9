"""The CUDA paths of ``fit``, ``predict`` and ``evaluate`` on a GPU: AMP and channels-last.

Run ``python benchmarks/check_cuda.py`` on a machine with an NVIDIA GPU (CI has none). For the
course CNN (64x64 maps) and EfficientNet-B0 (224x224, random weights) it trains with ``fit`` in
each memory format (AMP on), reports training img/s of ``fit`` next to a bare AMP loop in the same
format, and checks that the two formats give the same predictions up to AMP's float16 rounding.
Exits non-zero when a check fails.
"""
from __future__ import annotations

import contextlib
import io
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak import describe, measure_peak  # noqa: E402

from course_utils.core import env
from course_utils.training import engine, models, transfer
from course_utils.classification import data  # noqa: E402
from course_utils.classification.twin import make_synthetic_wafers  # noqa: E402

SETUPS = {"cnn_64": (lambda: models.WaferCNN(), 64, 8192, 256, 3),
          "effnet_b0_224": (lambda: transfer.build_transfer_model("efficientnet_b0", num_classes=9, weights=None, input_size=224,
                                                                   mode="fine_tuning"), 224, 1024, 64, 2)}


def loaders(size: int, n: int, batch: int):
    ws = make_synthetic_wafers(n + 512, size=64, seed=0)
    maps = ws.maps if size == 64 else torch.nn.functional.interpolate(
        torch.from_numpy(ws.maps)[:, None].float(), size=(size, size), mode="nearest")[:, 0].to(torch.uint8).numpy()
    return (data.make_loader(data.WaferDataset(maps[:n], ws.labels[:n]), batch, shuffle=True, seed=0),
            data.make_loader(data.WaferDataset(maps[n:], ws.labels[n:]), 2 * batch))


def bare_amp(model, loader, epochs: int, channels_last: bool) -> float:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.cuda().to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda")
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            x, y = x.cuda(non_blocking=True).contiguous(memory_format=fmt), y.cuda(non_blocking=True)
            with torch.autocast("cuda", dtype=torch.float16):
                loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check (" + env.cuda_unavailable_reason() + ")")
        return 0
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}; {describe(measure_peak(device='cuda'))}")
    failures = 0
    for name, (build, size, n, batch, epochs) in SETUPS.items():
        train, val = loaders(size, n, batch)
        results = {}
        for fmt in ("auto", False):
            torch.manual_seed(0)
            model = build()
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                engine.fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=opt, epochs=1, device="cuda",
                           channels_last=fmt, verbose=False)  # warm-up (cuDNN autotuning, allocator)
                start = time.perf_counter()
                result = engine.fit(model, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=opt, epochs=epochs,
                                    device="cuda", channels_last=fmt, verbose=False)
                seconds = time.perf_counter() - start
            conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
            probs = engine.predict(result.model, val, "cuda", amp=True, channels_last=fmt)[2]
            results[fmt] = (n * epochs / seconds, probs, conv.weight.is_contiguous(memory_format=torch.channels_last))
        torch.manual_seed(0)
        bare = n * epochs / bare_amp(build(), train, epochs, True)
        (ips_cl, probs_cl, is_cl), (ips_c, probs_c, _) = results["auto"], results[False]
        print(f"{name}: fit AMP channels-last {ips_cl:,.0f} img/s (weights NHWC: {is_cl}), fit AMP contiguous "
              f"{ips_c:,.0f} img/s (x{ips_cl / ips_c:.2f}); bare AMP channels-last loop {bare:,.0f} img/s "
              f"(fit / bare {ips_cl / bare:.2f}; fit includes validation)")
        if not is_cl:
            print(f"  FAIL: {name}: fit did not use channels-last on CUDA")
            failures += 1
        finite = np.isfinite(probs_cl).all() and np.isfinite(probs_c).all()
        rows_ok = np.allclose(probs_cl.sum(1), 1, atol=1e-3)
        print(f"  predictions finite: {finite}, probabilities sum to 1: {rows_ok}")
        failures += (not finite) + (not rows_ok)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
