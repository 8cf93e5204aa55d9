"""Benchmark of the detection lessons (course_utils.detection): realism of the synthetic PCB twin.

1. Classical baseline (no learning): template difference + morphology + connected
   components, scored class-agnostically with the DeepPCB rule (IoU > 0.33), on the
   twin and on the 40 real pairs of ``../shared/data/deeppcb_sample``; with and
   without the template.
2. Realism: the hand-written one-stage detector (``detector.CentreNet``, test and
   template as two channels) trained on synthetic pairs only, then scored on the
   40 real pairs: COCO mAP50, mAP50-95 and the data set's own mAP and F-score
   (IoU > 0.33) at the best confidence threshold and at 0.3. The same detector is
   scored on fresh synthetic pairs for comparison.

The real part is skipped with a message when ``../shared`` is absent; the kit
itself never needs it.

    python benchmarks/bench_detection.py            # 400 synthetic pairs, input 256, 12 epochs (GPU: minutes)
    python benchmarks/bench_detection.py --quick    # small sizes, for CI
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from course_utils.core import env
from course_utils.detection import analysis, classical, detector
from course_utils.detection import twin as det_twin
from course_utils.detection import deeppcb
from course_utils.detection import metrics as dm

#: ``../shared`` next to the checkout (CI), or one level further up (a git worktree under ``wt/``).
SAMPLE = next((p / "shared" / "data" / "deeppcb_sample" for p in Path(__file__).resolve().parents[1].parents[:2]
               if (p / "shared" / "data" / "deeppcb_sample").is_dir()),
              Path(__file__).resolve().parents[2] / "shared" / "data" / "deeppcb_sample")


def scores(predictions, targets, name: str) -> None:
    """Print mAP50, mAP50-95 and the DeepPCB mAP / F-score (at 0.3 and at the best threshold)."""
    summary = dm.map_summary(dm.ap_table(predictions, targets))
    deeppcb = dm.deeppcb_table(predictions, targets, score_threshold=0.3).loc["all"]
    curve = analysis.f_score_curve(predictions, targets)
    best = curve.loc[curve["F-score"].idxmax()] if len(curve) else None
    best_txt = f"{best['F-score']:.3f} at score {best['score']:.2f}" if best is not None else "n/a"
    print(f"{name:<34} mAP50 {summary['mAP50']:.3f}  mAP50-95 {summary['mAP50-95']:.3f}  "
          f"DeepPCB mAP {deeppcb['AP']:.3f}  F@0.3 {deeppcb['F-score']:.3f}  best F {best_txt}")


def bench_classical(sets: dict) -> None:
    for name, ds in sets.items():
        for use_template in (True, False):
            t = time.perf_counter()
            preds = classical.detect(ds.images, ds.templates if use_template else None)
            elapsed = time.perf_counter() - t
            table = dm.deeppcb_table(classical.class_agnostic(preds), classical.class_agnostic(ds.targets()),
                                     score_threshold=0.0, class_names=("defect",)).loc["all"]
            print(f"classical {name:<10} template={use_template!s:<5}  AP {table['AP']:.3f}  P {table['precision']:.3f}"
                  f"  R {table['recall']:.3f}  F {table['F-score']:.3f}  ({elapsed / len(ds) * 1000:.1f} ms/pair)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--pairs", type=int, default=None, help="synthetic training pairs")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--input-size", type=int, default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    pairs = args.pairs or (48 if args.quick else 400)
    epochs = args.epochs or (2 if args.quick else 12)
    size = args.input_size or (160 if args.quick else 256)
    device = env.get_device(args.device)
    torch.manual_seed(0)

    real = deeppcb.load_deeppcb(SAMPLE) if SAMPLE.is_dir() else None
    if real is None:
        print(f"(real part skipped: {SAMPLE} not found)")
    synthetic_test = det_twin.make_synthetic_pcb(40, seed=12345)
    bench_classical({"synthetic": synthetic_test, **({"real": real} if real is not None else {})})

    train = det_twin.make_synthetic_pcb(pairs, seed=1)
    model = detector.CentreNet(in_channels=2)
    t = time.perf_counter()
    history = detector.train_detector(model, train, input_size=size, epochs=epochs, batch_size=16, lr=3e-3,
                                      device=device, verbose=False)
    print(f"CentreNet: {pairs} synthetic pairs, input {size}, {epochs} epochs on {device}: "
          f"{time.perf_counter() - t:.0f} s, final loss {history['loss'].iloc[-1]:.3f}")
    scores(detector.predict(model, synthetic_test, input_size=size, device=device), synthetic_test.targets(),
           "detector on 40 synthetic pairs")
    if real is not None:
        scores(detector.predict(model, real, input_size=size, device=device), real.targets(),
               "detector (synthetic-trained) on 40 real")


if __name__ == "__main__":
    main()
