"""The one peak every benchmark's "% of peak" divides by.

``python benchmarks/peak.py`` prints it; ``bench_engine.py`` and ``bench_capstone.py`` import
:func:`measure_peak`. Two references, both float32 on this process's torch CPU threads (or the
GPU with ``device="cuda"``), FLOPs counted by formula, not by a profiler:

* **GEMM**: ``C = A @ B`` with ``A, B`` of ``2048 x 2048`` (``2 * 2048**3`` = 17.2 GFLOP a call);
* **convolution**: a 3x3 convolution, 64 -> 64 channels, padding 1, on ``32 x 64 x 64 x 64``
  inputs in channels-last format (``2 * 32 * 64 * 64 * 64 * 64 * 9`` = 9.7 GFLOP a call), the
  kind of layer the course CNN is made of.

Each is timed after at least ``warmup`` untimed calls lasting at least a second (cores reach their
sustained clock; measured on an idle 2-thread Xeon: without it, the first of two runs read 278 and the
second 324 GFLOP/s), ``repeats`` times; the **best** call is the peak
(the least disturbed by other work on a shared machine) and the median says how steady it was.
Two consecutive runs on an idle machine agree within 10 % (the test of this module's stability is
this script run twice: it prints both).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

GEMM_N = 2048
CONV = {"batch": 32, "channels": 64, "size": 64, "kernel": 3}


def _time(fn, *, warmup: int, repeats: int, sync, warmup_s: float = 1.0) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn``, after at least ``warmup`` calls and ``warmup_s`` seconds
    of untimed calls (a CPU core needs some time at full load to reach its sustained clock)."""
    start = time.perf_counter()
    done = 0
    while done < warmup or time.perf_counter() - start < warmup_s:
        fn()
        sync()
        done += 1
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return times


def measure_peak(*, device: str = "cpu", warmup: int = 3, repeats: int = 10) -> dict:
    """GFLOP/s of the GEMM and the convolution reference: ``{"threads", "device", "gemm_best",
    "gemm_median", "conv_best", "conv_median", "peak"}``; ``peak`` is the larger best (GFLOP/s)."""
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.rand(GEMM_N, GEMM_N, generator=g).to(dev)
    b = torch.rand(GEMM_N, GEMM_N, generator=g).to(dev)
    gemm_flops = 2 * GEMM_N ** 3
    with torch.no_grad():
        gemm = _time(lambda: a @ b, warmup=warmup, repeats=repeats, sync=sync)
        c, s, k = CONV["channels"], CONV["size"], CONV["kernel"]
        x = torch.rand(CONV["batch"], c, s, s, generator=g).to(dev).contiguous(memory_format=torch.channels_last)
        conv = torch.nn.Conv2d(c, c, k, padding=k // 2, bias=False).to(dev).to(memory_format=torch.channels_last)
        conv_flops = 2 * CONV["batch"] * c * s * s * c * k * k
        conv_t = _time(lambda: conv(x), warmup=warmup, repeats=repeats, sync=sync)
    result = {"device": str(dev), "threads": torch.get_num_threads(),
              "gemm_best": gemm_flops / min(gemm) / 1e9, "gemm_median": gemm_flops / statistics.median(gemm) / 1e9,
              "conv_best": conv_flops / min(conv_t) / 1e9, "conv_median": conv_flops / statistics.median(conv_t) / 1e9}
    result["peak"] = max(result["gemm_best"], result["conv_best"])
    return result


def describe(p: dict) -> str:
    """One line for a benchmark's header."""
    return (f"peak {p['peak']:.1f} GFLOP/s on {p['device']} with {p['threads']} threads (float32; GEMM {GEMM_N}^3 "
            f"best {p['gemm_best']:.1f} / median {p['gemm_median']:.1f}, 3x3 conv 64->64 channels-last "
            f"best {p['conv_best']:.1f} / median {p['conv_median']:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    first, second = measure_peak(device=args.device), measure_peak(device=args.device)
    print("run 1:", describe(first))
    print("run 2:", describe(second))
    print(f"run 2 / run 1: {second['peak'] / first['peak']:.3f} (stable if within 0.90-1.10)")


if __name__ == "__main__":
    main()
