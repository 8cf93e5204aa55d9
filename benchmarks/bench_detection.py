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

3. ``--heldout`` (issue #27): the held-out protocol. ``calibration.holdout_split`` splits the 200 real
   pairs (sample + ``deeppcb_calibration``) by DeepPCB group (seed 27) into a tuning part (the 40 sample
   pairs, which the twin was tuned on, and every calibration pair of their groups: 176 pairs) and a
   reporting part (group77000, the only group with no board in the sample: 24 pairs, 123 boxes). Prints
   the twin-vs-real statistics table on the tuning part, then trains the same CentreNet (same input size,
   epochs, seed) on N twin pairs (``scan_noise=True``: real pairs differ along every edge) and on N real
   pairs drawn from the tuning part, and scores both on the
   reporting part only (AP50 per class, mAP50, DeepPCB F-score; a bootstrap over the reporting pairs for
   the sim-to-real ratio). ``calibration.check_held_out`` refuses to score if the reporting part shares a
   group with the sample, the tuning part or the training pairs.
4. ``--tune``: the twin-trained detector of step 3 scored on the tuning part only, the figure on which a
   change to the twin is decided (the reporting part is read only for a change decided that way).

The real parts are skipped with a message when ``../shared`` is absent; the kit
itself never needs it.

    python benchmarks/bench_detection.py            # 400 synthetic pairs, input 256, 12 epochs (GPU: minutes)
    python benchmarks/bench_detection.py --quick    # small sizes, for CI
    python benchmarks/bench_detection.py --heldout --seeds 0,1,2   # sim-to-real ratio, 3 x ~4-9 min on 2 CPU cores
    python benchmarks/bench_detection.py --tune --seeds 0,1,2      # twin-trained, scored on the tuning part only
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from course_utils.core import env
from course_utils.detection import analysis, calibration, classical, detector, masks
from course_utils.detection import twin as det_twin
from course_utils.detection import deeppcb
from course_utils.detection import metrics as dm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeds import seed_list  # noqa: E402  the benchmarks' one --seeds parser

#: ``../shared`` next to the checkout (CI), or one level further up (a git worktree under ``wt/``).
SAMPLE = next((p / "shared" / "data" / "deeppcb_sample" for p in Path(__file__).resolve().parents[1].parents[:2]
               if (p / "shared" / "data" / "deeppcb_sample").is_dir()),
              Path(__file__).resolve().parents[2] / "shared" / "data" / "deeppcb_sample")


DATA = SAMPLE.parent


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


def heldout_parts(data_dir=DATA):
    """The real pairs and their split: ``(real, tune_idx, report_idx)``, checked to share no group."""
    real = calibration.load_real_pairs(data_dir)
    tune, report = calibration.holdout_split(real)
    ids = np.array(real.pairs.image_ids)
    calibration.check_held_out(ids[real.source == calibration.REAL_FOLDERS[0]], ids[report],
                               "the 40 sample pairs the twin was tuned on")
    calibration.check_held_out(ids[tune], ids[report], "the tuning part")
    return real, tune, report


def score_heldout(predictions, report, read_ids) -> dict:
    """AP50 per class, mAP50, mAP50-95 and the DeepPCB F-score of ``predictions`` on the reporting set
    ``report``; raises (``calibration.check_held_out``) if ``read_ids`` (pairs a tuning or training step
    read) share a group with it."""
    calibration.check_held_out(read_ids, report.image_ids, "the pairs tuning or training read")
    table = dm.ap_table(predictions, report.targets())
    curve = analysis.f_score_curve(predictions, report.targets())
    best = curve.loc[curve["F-score"].idxmax()] if len(curve) else {"F-score": 0.0, "score": float("nan")}
    return {"ap50": {name: float(table.loc[name, 0.5]) if name in table.index else float("nan")
                     for name in report.class_names},
            "mAP50": float(table.loc["mAP", 0.5]), "mAP50-95": dm.map_summary(table)["mAP50-95"],
            "F@0.3": float(dm.deeppcb_table(predictions, report.targets(), score_threshold=0.3).loc["all", "F-score"]),
            "best F": float(best["F-score"]), "best F score": float(best["score"])}


def bootstrap_ratio(pred_twin, pred_real, report, *, resamples: int = 200, seed: int = 0) -> np.ndarray:
    """``float (resamples, 3)``: mAP50 of the twin-trained and the real-trained model and their ratio on
    reporting pairs resampled with replacement (the same pairs for both)."""
    rng = np.random.default_rng(seed)
    targets, out = report.targets(), []
    for _ in range(resamples):
        idx = rng.integers(0, len(report), len(report))
        a, b = (float(dm.ap_table([p[i] for i in idx], [targets[i] for i in idx], iou_thresholds=(0.5,))
                      .loc["mAP", 0.5]) for p in (pred_twin, pred_real))
        out.append((a, b, a / b if b > 0 else np.nan))
    return np.array(out)


def run_heldout(args, device) -> None:
    """Statistics table on the tuning part, then the sim-to-real ratio on the reporting part for each seed of
    ``args.seeds``, and their mean when there are several (one seed's ratio swings by 0.1 or more)."""
    real, tune, report_idx = heldout_parts(args.data)
    ids = np.array(real.pairs.image_ids)
    print(f"[heldout] split by DeepPCB group (calibration.holdout_split, seed {calibration.HOLDOUT_SEED}):")
    for name, idx in (("tuning part", tune), ("reporting part", report_idx)):
        groups, counts = np.unique(real.groups[idx], return_counts=True)
        print(f"[heldout]   {name}: {len(idx)} pairs, {real.pairs.subset(idx).class_counts().sum()} boxes; "
              + ", ".join(f"{g} {c}" for g, c in zip(groups, counts)))
    tuning = real.pairs.subset(tune)
    table_twin = det_twin.make_synthetic_pcb(len(tuning), seed=2, scan_noise=True)
    print(f"[heldout] statistics of the {len(tuning)} real tuning pairs vs {len(table_twin)} twin pairs (seed 2, "
          "scan_noise=True):")
    print(calibration.calibration_table(tuning, table_twin).round(3).to_string())
    defect = {tag: masks.mask_summary(masks.mask_statistics(ds, masks.derive_masks(ds)))
              for tag, ds in (("real", tuning), ("twin", table_twin))}
    print("[heldout] changed pixels inside each box (masks.derive_masks: |test - template|, opened), median per class:")
    print(pd.DataFrame({"real pixels": defect["real"]["median_pixels"], "twin pixels": defect["twin"]["median_pixels"],
                        "ratio": defect["twin"]["median_pixels"] / defect["real"]["median_pixels"],
                        "real fill": defect["real"]["median_fill"], "twin fill": defect["twin"]["median_fill"]})
          .round(3).to_string())
    report = real.pairs.subset(report_idx)
    means = [m for seed in args.seeds if (m := heldout_models(args, device, seed, tuning, report, ids[tune]))]
    if len(means) > 1:
        twin_map, real_map = np.mean(means, axis=0)
        print(f"[heldout] over seeds {', '.join(map(str, args.seeds))}: mAP50 twin {twin_map:.3f}, real {real_map:.3f}, "
              f"ratio of the means {twin_map / max(real_map, 1e-9):.2f} (per seed: "
              + ", ".join(f"{t / max(r, 1e-9):.2f}" for t, r in means) + "); goal >= 0.8")


def protocol_twin(n_pairs: int):
    """The held-out protocol's twin training set: ``n_pairs`` pairs of seed 1 with the scan noise (the default twin),
    the same for every model seed, for ``--heldout`` and ``--tune`` alike."""
    return det_twin.make_synthetic_pcb(n_pairs, seed=1, scan_noise=True)


def train_centrenet(args, device, seed: int, train):
    """The held-out protocol's detector: ``detector.CentreNet`` (test and template as two channels) trained on
    ``train`` with ``args.size``, ``args.epochs``, batch 16, lr 3e-3 and ``seed``. Returns
    ``(model, history, seconds)``."""
    torch.manual_seed(seed)
    model = detector.CentreNet(in_channels=2)
    t = time.perf_counter()
    history = detector.train_detector(model, train, input_size=args.size, epochs=args.epochs, batch_size=16,
                                      lr=3e-3, device=device, seed=seed, verbose=False)
    return model, history, time.perf_counter() - t


def run_tuning(args, device) -> list[float]:
    """``--tune``: the twin-trained detector of ``--heldout`` (the same N twin pairs, input, epochs and seeds)
    scored on the 176 pairs of the **tuning part**, the figure a change to the twin is decided on; the reporting
    part is never scored. Prints AP50 per class and mAP50 per seed and their mean; returns the mAP50s.
    One seed's figure moves by 0.02-0.04, and the draw of the 96 twin pairs moves the mean of three seeds by about
    0.03: compare means over several seeds, and judge a change to one class by that class's AP50 too (the twin's
    classes draw from streams of their own, so the other classes change only where their sites do)."""
    real, tune, _ = heldout_parts(args.data)
    tuning = real.pairs.subset(tune)
    train = protocol_twin(min(args.pairs, len(tuning)))   # N as in --heldout
    maps = []
    for seed in args.seeds:
        model, _, elapsed = train_centrenet(args, device, seed, train)
        table = dm.ap_table(detector.predict(model, tuning, input_size=args.size, device=device), tuning.targets())
        maps.append(float(table.loc["mAP", 0.5]))
        print(f"[tune] CentreNet trained on {len(train)} twin pairs (seed {seed}, {elapsed:.0f} s), on the "
              f"{len(tuning)} tuning pairs: mAP50 {maps[-1]:.3f}; AP50 " + ", ".join(
                  f"{name} {table.loc[name, 0.5]:.3f}" for name in tuning.class_names if name in table.index),
              flush=True)
    if len(maps) > 1:
        print(f"[tune] mean over seeds {', '.join(map(str, args.seeds))}: mAP50 {np.mean(maps):.3f} on the tuning "
              "part (the reporting part was not read)")
    return maps


def heldout_models(args, device, seed: int, tuning, report, tune_ids) -> tuple[float, float] | None:
    """Train CentreNet on N twin and N real tuning pairs with ``seed`` (model and the draw of real pairs) and
    score both on ``report``; print the sim-to-real ratio. Returns ``(twin mAP50, real mAP50)``, or None when
    ``args.models`` leaves one out."""
    rng = np.random.default_rng(seed)
    train_real = tuning.subset(np.sort(rng.choice(len(tuning), min(args.pairs, len(tuning)), replace=False)))
    train_twin = protocol_twin(len(train_real))
    read = np.concatenate([tune_ids, train_real.image_ids])
    results = {}
    for tag, train in (("twin", train_twin), ("real", train_real)):
        if tag not in args.models:
            continue
        model, history, elapsed = train_centrenet(args, device, seed, train)
        preds = detector.predict(model, report, input_size=args.size, device=device)
        results[tag] = (preds, score_heldout(preds, report, read))
        r = results[tag][1]
        print(f"[heldout] CentreNet trained on {len(train)} {tag} pairs (input {args.size}, {args.epochs} epochs, "
              f"batch 16, lr 3e-3, seed {seed}, {device}): {elapsed:.0f} s, final loss "
              f"{history['loss'].iloc[-1]:.3f}; on the {len(report)} reporting pairs: mAP50 {r['mAP50']:.3f}, "
              f"mAP50-95 {r['mAP50-95']:.3f}, F@0.3 {r['F@0.3']:.3f}, best F {r['best F']:.3f} at score "
              f"{r['best F score']:.2f}; AP50 " + ", ".join(f"{k} {v:.3f}" for k, v in r["ap50"].items()), flush=True)
    if len(results) < 2:
        return None
    twin, real_r = results["twin"][1], results["real"][1]
    boot = bootstrap_ratio(results["twin"][0], results["real"][0], report, seed=seed)
    lo, hi = np.nanpercentile(boot[:, 2], [2.5, 97.5])
    print(f"[heldout] sim-to-real ratio (mAP50 twin / real) on the reporting part, seed {seed}: "
          f"{twin['mAP50']:.3f} / {real_r['mAP50']:.3f} = {twin['mAP50'] / max(real_r['mAP50'], 1e-9):.2f} "
          f"(95 % bootstrap interval over the {len(report)} pairs, 200 resamples: {lo:.2f}-{hi:.2f}); goal >= 0.8")
    return twin["mAP50"], real_r["mAP50"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--pairs", type=int, default=None, help="synthetic training pairs")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--input-size", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--heldout", action="store_true", help="held-out protocol: statistics table and sim-to-real ratio")
    parser.add_argument("--seeds", type=seed_list, default=[0],
                        help="--heldout: comma-separated seeds, each the model seed and the draw of real pairs; "
                        "with several, also their mean (the README's figure: 0,1,2)")
    parser.add_argument("--tune", action="store_true", help="the --heldout twin-trained detector scored on the "
                        "tuning part only (to decide a change to the twin); the reporting part is not read")
    parser.add_argument("--models", default="twin,real", help="--heldout: which of twin,real to train (default both)")
    parser.add_argument("--data", type=Path, default=DATA, help=f"--heldout: folder with "
                        f"{' and '.join(calibration.REAL_FOLDERS)} (default {DATA})")
    args = parser.parse_args()
    pairs = args.pairs or (48 if args.quick else 400)
    epochs = args.epochs or (2 if args.quick else 12)
    size = args.input_size or (160 if args.quick else 256)
    device = env.get_device(args.device)
    torch.manual_seed(0)
    if args.heldout or args.tune:
        args.pairs, args.epochs, args.size = (args.pairs or (16 if args.quick else 96)), epochs, size
        if args.tune:
            run_tuning(args, device)
        else:
            run_heldout(args, device)
        return

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
