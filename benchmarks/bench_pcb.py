"""Benchmark of the synthetic PCB twin (course_utils.detection.pcb).

1. Speed: time to generate a DeepPCB-sized set (1,500 pairs of 640x640 test images and
   templates) -> seconds and pairs/s. Target: <= 20 s on a 2-core CPU.
2. Calibration: the twin's statistics (copper fraction, boxes per image, class shares,
   box sizes and aspect ratios per class) next to the 40 real pairs of
   ``../shared/data/deeppcb_sample`` (``det_calibration.calibration_table``). Skipped with a message
   when the sample is absent; the kit itself never needs it.

    python benchmarks/bench_pcb.py            # 1,500 pairs, best of 2; calibration on 1,000 pairs
    python benchmarks/bench_pcb.py --quick    # 150 pairs, for CI
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from course_utils.detection import pcb
from course_utils.detection import calibration as det_calibration
from course_utils.detection import twin as det_twin
from course_utils.detection import deeppcb

_REPO = Path(__file__).resolve().parents[1]
#: ../shared beside the clone (CI) or ../../shared beside a worktree folder.
SAMPLE = next((p / "shared" / "data" / "deeppcb_sample" for p in (_REPO.parent, _REPO.parent.parent)
               if (p / "shared" / "data" / "deeppcb_sample" / "PCBData").is_dir()), None)


def bench_speed(n_pairs: int, repeats: int, n_jobs: int | None) -> pcb.DetectionSet:
    """Print the best-of-``repeats`` time to generate ``n_pairs`` pairs; return the last set."""
    det_twin.make_synthetic_pcb(8, seed=0)  # warm-up (imports, OpenCV)
    times, cpu = [], []
    for k in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        ds = det_twin.make_synthetic_pcb(n_pairs, seed=k, n_jobs=n_jobs)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    best = min(times)
    mb = (ds.images.nbytes + ds.templates.nbytes) / 1e6
    print(f"[speed] {n_pairs:,} pairs of 640x640 ({mb:.0f} MB): best {best:.2f} s of {repeats} "
          f"({', '.join(f'{t:.2f}' for t in times)} s wall; {', '.join(f'{t:.1f}' for t in cpu)} s CPU; "
          f"n_jobs={n_jobs}) -> {n_pairs / best:,.0f} pairs/s")
    counts = ds.class_counts()
    print(f"[speed] boxes: {counts.sum():,} ({dict(zip(pcb.PCB_CLASSES, counts.tolist()))}); "
          f"per image {ds.boxes_per_image().min()}..{ds.boxes_per_image().max()}, "
          f"mean {ds.boxes_per_image().mean():.2f}")
    return ds


def bench_calibration(synthetic: pcb.DetectionSet) -> None:
    """Print the calibration table against the real sample (or say why it is skipped)."""
    if SAMPLE is None:
        print("[calibration] ../shared/data/deeppcb_sample not found: real comparison skipped.")
        return
    start = time.perf_counter()
    real = deeppcb.load_deeppcb(SAMPLE, "trainval")
    print(f"[calibration] real sample: {len(real)} pairs, {real.class_counts().sum()} boxes "
          f"(loaded in {time.perf_counter() - start:.2f} s); synthetic: {len(synthetic)} pairs")
    with pd.option_context("display.width", 120, "display.max_rows", 100):
        print(det_calibration.calibration_table(real, synthetic).round(3).to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--n-jobs", type=int, default=None, help="threads (default: the generator's choice)")
    args = parser.parse_args()
    n_pairs, repeats = (150, 1) if args.quick else (deeppcb.DEEPPCB_COUNTS["pairs"], 2)
    synthetic = bench_speed(n_pairs, repeats, args.n_jobs)
    bench_calibration(synthetic.subset(np.arange(min(len(synthetic), 1000))))


if __name__ == "__main__":
    main()
