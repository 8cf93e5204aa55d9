"""Benchmark of the synthetic WM-811K twin (course_utils.classification.twin).

1. Speed: time to generate a WM-811K-sized set (172,950 maps, 64x64) -> seconds and maps/s.
   Target: <= 10 s on a 2-core CPU.
2. Lots: the lot protocol of ``calibration.lot_leakage`` (900 whole lots, 32x32, 1-NN, 20 % test by
   random wafer vs by whole lot, 3 seeds) on the twin, beside the real file's figures.
The real maps are those of ``--data`` (default ``../shared/data`` beside the repository: the 270-map
sample and the 1,950-map calibration file), split by ``calibration.holdout_split`` (by lot, seed
``calibration.HOLDOUT_SEED``) into a tuning part (every sample map, which the twin was tuned on, and
their lot siblings, plus half of the other calibration lots) and a reporting part (the other half:
938 maps, 840 lots, no Near-full).

3. Calibration: ``calibration.calibration_table`` of the real maps of the tuning part against
   synthetic maps (defect density, background noise, clusters, largest cluster, longest run;
   10/50/90 % quantiles per class).
4. Realism, on the reporting part only: train a small CNN on balanced synthetic maps only, then
   classify the real maps (resized to 64x64 with nearest neighbour): class-balanced macro-F1 (mean
   and std over resamples of the same number of maps per class, drawn with replacement), the
   estimated macro-F1 on the imbalanced real mix (each confusion row re-weighted by the real class
   count, wafers.WM811K_LABELED_COUNTS), per-class recall and precision. The imbalanced estimate is given
   twice: with the plain argmax (the balanced training set's uniform prior) and with the real class prior
   (``argmax(logits + tau * log pi)``, ``tau`` chosen on the tuning part only). Every real map is classified
   by the mean log-probability over its 8 turns and mirrors (:func:`predict_logits`), in steps 4 and 5 alike.
   The benchmark refuses to report if the maps the twin was tuned on share a lot with the reporting part.
5. Reference, on the reporting part only: the same model, recipe and number of steps trained on the real maps of
   the tuning part instead (class-balanced draws, random turns and mirrors), and the ratio twin / real of each
   figure: what the real maps at hand give with this protocol (``--skip-reference`` skips it).
   Steps 3-5 fail with a message when the files are absent (``--skip-realism`` runs without them).

``--tune`` runs step 4's training alone and scores the tuning part only (all of it, and its maps of the calibration
file apart): the figure a change to the twin is decided on, before the reporting part is read once for it.

The model is ``models.WaferCNN`` (narrow widths, global average + maximum pooling) behind a learned stride-2
stem, so a dozen epochs on 24k maps (2,256 steps of 128) take about 4 minutes on a 2-core CPU (AMD EPYC); the
real maps are fed at 64x64. Seed 0 is the reported figure; ``--seed`` gives the spread, ``--seeds 0,1,2`` the
mean over seeds.

    python benchmarks/bench_synthetic.py            # full: 172,950 maps; train on 24,000 maps, 12 epochs; reference
    python benchmarks/bench_synthetic.py --quick    # small sizes, for CI
    python benchmarks/bench_synthetic.py --skip-speed --skip-lots --seed 1   # the realism figure, another seed
    python benchmarks/bench_synthetic.py --skip-speed --skip-lots --seeds 0,1,2   # three seeds and their means
    python benchmarks/bench_synthetic.py --tune --seeds 0,1,2   # judge a change to the twin: tuning part only
    python benchmarks/bench_synthetic.py --data PATH   # the real files elsewhere
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix, f1_score
from torch import nn

from course_utils.classification import augment, balance, splits
from course_utils.classification import calibration
from course_utils.classification.calibration import REAL_LOT_LEAKAGE, calibration_table, lot_leakage, reweighted_f1
from course_utils.classification.wafers import CLASS_NAMES, WM811K_LABELED_COUNTS, wm811k_class_counts
from course_utils.classification.data import encode_maps
from course_utils.classification.twin import make_synthetic_wafers
from course_utils.training.models import WaferCNN

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeds import seed_list  # noqa: E402  the benchmarks' one --seeds parser

_REPO = Path(__file__).resolve().parents[1]
#: Where the real maps are looked for by default: ``../shared/data`` beside the repository.
DATA = _REPO.parent / "shared" / "data"


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


def bench_lots(n_lots: int, seeds=(0, 1, 2)) -> None:
    """Print the lot protocol on ``n_lots`` whole synthetic lots beside the real figures."""
    start = time.perf_counter()
    pool = make_synthetic_wafers(sum(WM811K_LABELED_COUNTS.values()) // 4, size=32, seed=0)
    ws = pool.subset(splits.sample_lots(pool, n_lots=min(n_lots, len(np.unique(pool.lot))), seed=0))
    runs = lot_leakage(ws, seeds=seeds)
    summary = runs.groupby("split", sort=False)[["same-lot NN", "macro-F1"]].agg(["mean", "std"])
    real = REAL_LOT_LEAKAGE
    print(f"[lots] {n_lots} whole synthetic lots ({len(ws):,} wafers), 32x32, 1-NN, 20 % test, "
          f"{len(seeds)} seeds ({time.perf_counter() - start:.0f} s):")
    print(f"[lots]   same-lot nearest neighbour (random split): twin {summary.loc['random', ('same-lot NN', 'mean')]:.1%}"
          f"  real {real['same_lot_nn_random']:.1%}")
    for name in ("random", "lot"):
        mean, std = summary.loc[name, ("macro-F1", "mean")], summary.loc[name, ("macro-F1", "std")]
        print(f"[lots]   macro-F1 {name:6s}: twin {mean:.3f} +- {std:.3f}  real {real['f1_' + name][0]:.3f} "
              f"+- {real['f1_' + name][1]:.3f}")
    gap = summary.loc["random", ("macro-F1", "mean")] - summary.loc["lot", ("macro-F1", "mean")]
    print(f"[lots]   random - lot gap: twin {gap:.3f}  real {real['f1_random'][0] - real['f1_lot'][0]:.3f}")


def bench_calibration(real_maps: np.ndarray, real_labels: np.ndarray, per_class: int, seed: int) -> None:
    """Print the calibration table: the real maps of the tuning part against ``per_class`` synthetic maps per class."""
    synth = make_synthetic_wafers(class_counts=[per_class] * len(CLASS_NAMES), seed=seed + 500)
    table = calibration_table(real_maps, real_labels, synth.maps, synth.labels)
    print(f"[calibration] {len(real_labels)} real maps (tuning part) vs {len(synth):,} synthetic maps (64x64; quantiles per class; "
          "gap = median difference / real 10-90 % spread):")
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(table.round(3).to_string())


def describe(real: calibration.RealMaps, index: np.ndarray, part: str) -> str:
    """One line: which real maps a part holds (file, count, lots, classes)."""
    files = ", ".join(f"{name} {int(n)}" for name, n in zip(*np.unique(real.source[index], return_counts=True)))
    counts = np.bincount(real.labels[index], minlength=len(CLASS_NAMES))
    return (f"{part}: {len(index)} real maps ({files}), {len(np.unique(real.lots[index]))} lots; "
            + ", ".join(f"{c} {n}" for c, n in zip(CLASS_NAMES, counts)))


def balanced_f1(labels: np.ndarray, pred: np.ndarray, n_resamples: int = 20, seed: int = 0) -> tuple[float, float, int]:
    """Class-balanced macro-F1: mean and std over ``n_resamples`` draws (with replacement) of the same number
    of maps from every class present, that number being the smallest class count. Returns (mean, std, per class)."""
    present = np.unique(labels)
    per_class = int(np.bincount(labels)[present].min())
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(n_resamples):
        idx = np.concatenate([rng.choice(np.flatnonzero(labels == k), per_class) for k in present])
        scores.append(f1_score(labels[idx], pred[idx], labels=present, average="macro", zero_division=0))
    return float(np.mean(scores)), float(np.std(scores)), per_class


def imbalanced_estimate(confusion: np.ndarray, present: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Macro-F1, per-class F1 and precision on the real WM-811K mix, from the confusion on the reporting part,
    averaged over the ``present`` classes (a class absent from the reporting part gets weight 0)."""
    counts = wm811k_class_counts()
    counts[np.setdiff1d(np.arange(len(CLASS_NAMES)), present)] = 0
    _, f1 = reweighted_f1(confusion, counts)
    scaled = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1) * counts[:, None]
    column = scaled.sum(axis=0)
    precision = np.divide(np.diag(scaled), column, out=np.zeros(len(counts)), where=column > 0)
    return float(f1[present].mean()), f1, precision


def make_model() -> tuple[nn.Module, str]:
    """The realism model: a learned stride-2 stem (64 -> 32 px) before ``models.WaferCNN`` (narrow widths,
    global average + maximum pooling).

    The stem sees every die of a fine grid before the resolution halves, so a one-die-wide scratch in
    scattered noise is still found (a 2x2 max-pool in its place merges noise specks into lines). The global
    maximum keeps a defect of a few dies (Loc, Scratch, a small Edge-Loc) that the average over the wafer
    dilutes into its noise (``models.GlobalPool``): on the tuning part it raised the twin-trained model's
    Loc F1 from 0.69 to 0.81 and Scratch's from 0.77 to 0.86 (seed 0)."""
    stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
    body = WaferCNN(in_channels=16, num_classes=9, widths=(24, 48, 96), dropout=0.2, global_pool="avgmax")
    return nn.Sequential(stem, body), "stride-2 conv stem (16) -> WaferCNN(24-48-96, global average + max pool)"


def predict_logits(model: nn.Module, maps: np.ndarray, batch_size: int = 256, symmetries: bool = True) -> torch.Tensor:
    """``float32 (N, 9)`` class log-probabilities of ``uint8 (N, 64, 64)`` maps, each the mean over the map's 8
    turns and mirrors (test-time augmentation: ``augment.d4_orbit`` of 02_augmentation, for a batch): no
    symmetry of the square changes a wafer map's failure type, so the answer must not depend on which copy the
    model sees. A log-probability is a logit less one constant per map, so the argmax and :func:`prior_shifted`
    treat them alike. ``symmetries=False``: the map as it is only (8 times faster; the progress figures printed
    during training)."""
    model.eval()
    copies = torch.arange(len(augment.D4_ELEMENTS) if symmetries else 1)
    out = []
    with torch.inference_mode():
        for start in range(0, len(maps), batch_size):
            batch = torch.from_numpy(maps[start:start + batch_size])
            turned = augment.d4_transform(batch.repeat(len(copies), 1, 1), copies.repeat_interleave(len(batch)))
            log_p = torch.log_softmax(model(encode_maps(turned)), dim=1)
            out.append(log_p.view(len(copies), len(batch), -1).mean(0))
    return torch.cat(out)


def predict(model: nn.Module, maps: np.ndarray, batch_size: int = 256, symmetries: bool = True) -> np.ndarray:
    """``int64 (N,)`` predicted classes: the largest of :func:`predict_logits`, i.e. every class equally likely a
    priori."""
    return predict_logits(model, maps, batch_size, symmetries).argmax(1).numpy()


#: Weights tried for the real class prior: ``tau`` in ``argmax(logits + tau * log pi)``.
PRIOR_TAUS = tuple(round(0.1 * k, 1) for k in range(11))


def prior_shifted(logits: torch.Tensor, tau: float) -> np.ndarray:
    """``int64 (N,)`` classes predicted for the real WM-811K mix: ``argmax(logits + tau * log pi)``, ``pi`` the
    real class shares (``WM811K_LABELED_COUNTS``). A model trained on balanced maps scores every class as equally
    likely a priori; on the real mix `none` is 85 % of the wafers, and ``tau = 1`` is Bayes' rule for that prior
    (post-hoc logit adjustment, Menon et al. 2021; the same ``log pi`` ``losses.BalancedSoftmaxLoss`` adds in
    training). ``tau = 0``: the plain argmax."""
    counts = wm811k_class_counts()
    log_prior = torch.as_tensor(np.log(counts / counts.sum()), dtype=logits.dtype)
    return (logits + tau * log_prior).argmax(1).numpy()


def choose_prior_tau(logits: torch.Tensor, labels: np.ndarray, taus=PRIOR_TAUS) -> tuple[float, list[float]]:
    """The ``tau`` of :func:`prior_shifted` (from ``taus``) with the highest estimated macro-F1 on the imbalanced
    real mix (:func:`imbalanced_estimate`) of these maps, and the estimate for every ``tau`` (the smallest ``tau``
    wins a tie). Call it with the tuning part only: the reporting part must not choose it."""
    present = np.unique(labels)
    scores = [imbalanced_estimate(confusion_matrix(labels, prior_shifted(logits, tau), labels=range(len(CLASS_NAMES))),
                                  present)[0] for tau in taus]
    return float(taus[int(np.argmax(scores))]), scores


#: Batch size of both realism runs.
BATCH_SIZE = 128


def protocol_steps(n_train: int, epochs: int, batch_size: int = BATCH_SIZE) -> int:
    """Optimiser steps of the twin run, ``epochs x ceil(n_train / batch_size)``; the reference takes as many."""
    return epochs * -(-n_train // batch_size)


def training_recipe(model: nn.Module, steps: int):
    """The realism protocol's training recipe, the same for the twin and the real reference: AdamW (lr 3e-3,
    weight decay 1e-4) under a one-cycle schedule over ``steps`` optimiser steps, label-smoothed (0.05) cross-entropy.
    Returns ``(optimizer, scheduler, loss_fn)``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.2)
    return optimizer, scheduler, nn.CrossEntropyLoss(label_smoothing=0.05)


def train_step(model: nn.Module, recipe, maps: torch.Tensor, labels: torch.Tensor) -> float:
    """One optimiser step on ``uint8 (B, 64, 64)`` maps and ``int64 (B,)`` labels; returns the batch loss."""
    optimizer, scheduler, loss_fn = recipe
    loss = loss_fn(model(encode_maps(maps)), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss.item()


def score_reporting_part(real: calibration.RealMaps, report: np.ndarray, logits: torch.Tensor, tau: float,
                         seed: int, who: str) -> dict:
    """Print and return the held-out figures of one model from its ``float32 (N, 9)`` logits on the reporting part
    ``report``: per-class report, confusion matrix, class-balanced macro-F1 (:func:`balanced_f1`) and the
    estimated macro-F1 on the imbalanced real mix, with the plain argmax and with the real prior at ``tau``.
    Returns ``{"balanced": ..., "imbalanced": ..., "prior": ...}``."""
    labels = real.labels[report]
    pred, pred_mix = logits.argmax(1).numpy(), prior_shifted(logits, tau)
    present = np.unique(labels)
    print(f"[{who}] scored on the reporting part only:")
    print(f"[{who}]   " + describe(real, report, "reporting part"))
    print(f"[{who}]   lots: " + " ".join(np.unique(real.lots[report])))
    print(classification_report(labels, pred, labels=present, target_names=[CLASS_NAMES[k] for k in present],
                                digits=3, zero_division=0))
    short = [name[:8] for name in CLASS_NAMES]
    confusion = confusion_matrix(labels, pred, labels=range(len(CLASS_NAMES)))
    print(f"[{who}] confusion matrix on the reporting part (rows: true class, columns: predicted):")
    print(pd.DataFrame(confusion, index=CLASS_NAMES, columns=short).loc[[CLASS_NAMES[k] for k in present]].to_string())
    mean, std, per_class = balanced_f1(labels, pred, seed=seed)
    print(f"[{who}] held-out class-balanced macro-F1 over the {len(present)} classes present: {mean:.3f} +- {std:.3f} "
          f"(20 resamples, {per_class} maps per class, with replacement; chance ~{1 / len(present):.2f}; plain argmax, "
          "every class equally likely as in these resamples)")
    imb = {}
    for name, matrix in (("plain argmax", confusion), (f"with the real prior, tau {tau:.1f}",
                                                       confusion_matrix(labels, pred_mix, labels=range(len(CLASS_NAMES))))):
        imb[name], imb_f1, imb_precision = imbalanced_estimate(matrix, present)
        recall = np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)
        print(f"[{who}] held-out estimated macro-F1 on the imbalanced real mix (WM811K_LABELED_COUNTS without the "
              f"classes absent here, {len(present)} classes), {name}: {imb[name]:.3f}")
        print(f"[{who}]   per class, recall / precision on the imbalanced real mix / F1 on it: " + ", ".join(
            f"{CLASS_NAMES[k]} {recall[k]:.2f}/{imb_precision[k]:.2f}/{imb_f1[k]:.2f}" for k in present))
    return {"balanced": mean, "imbalanced": imb["plain argmax"], "prior": imb[f"with the real prior, tau {tau:.1f}"]}


def train_twin_model(real: calibration.RealMaps, tune: np.ndarray, n_train: int, epochs: int, seed: int,
                     batch_size: int = BATCH_SIZE) -> tuple[nn.Module, torch.Tensor]:
    """The realism model trained on ``n_train`` balanced synthetic maps for ``epochs`` (:func:`training_recipe`).
    Each epoch prints the macro-F1 on synthetic validation maps and on the tuning part (each map as it is, without
    its 7 symmetric copies: a quick progress figure). Returns the model and its ``float32 (len(tune), 9)``
    :func:`predict_logits` on the tuning part after the last epoch; the reporting part is not read."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    train = make_synthetic_wafers(n_train, proportions="balanced", seed=seed)
    val = make_synthetic_wafers(1800, proportions="balanced", seed=seed + 1000)
    print(f"[realism] generated {n_train:,} + 1,800 synthetic maps in {time.perf_counter() - start:.1f} s")
    model, name = make_model()
    maps, labels = torch.from_numpy(train.maps), torch.from_numpy(train.labels)
    recipe = training_recipe(model, protocol_steps(len(labels), epochs, batch_size))
    generator = torch.Generator().manual_seed(seed)
    print(f"[realism] model {name}; {epochs} epochs x {len(labels):,} maps, batch {batch_size}")
    for epoch in range(epochs):
        model.train()
        t0, total = time.perf_counter(), 0.0
        for batch in torch.randperm(len(labels), generator=generator).split(batch_size):
            total += train_step(model, recipe, maps[batch], labels[batch]) * len(batch)
        syn_f1 = f1_score(val.labels, predict(model, val.maps, symmetries=False), average="macro")
        tune_f1 = f1_score(real.labels[tune], predict(model, real.maps[tune], symmetries=False), average="macro")
        print(f"[realism] epoch {epoch + 1}/{epochs}: loss {total / len(labels):.3f}, "
              f"synthetic val macro-F1 {syn_f1:.3f}, real tuning-part macro-F1 {tune_f1:.3f} (one copy per map; "
              f"{time.perf_counter() - t0:.0f} s)")
    tune_logits = predict_logits(model, real.maps[tune])
    tune_f1 = f1_score(real.labels[tune], tune_logits.argmax(1).numpy(), average="macro")
    print(f"[realism] real tuning-part macro-F1 {tune_f1:.3f} (mean over the 8 turns and mirrors of each map)")
    return model, tune_logits


def bench_realism(real: calibration.RealMaps, tune: np.ndarray, report: np.ndarray, n_train: int, epochs: int,
                  seed: int, batch_size: int = BATCH_SIZE) -> dict:
    """Train on balanced synthetic maps (:func:`train_twin_model`), score on the reporting part of the real maps
    (64x64); returns the figures of :func:`score_reporting_part`. ``tau`` is chosen on the tuning part, and the
    reporting part is scored once, at the end."""
    calibration.check_held_out(real.lots[real.source == calibration.REAL_FILES[0]], real.lots[report],
                               "the 270 sample maps the twin was tuned on")
    calibration.check_held_out(real.lots[tune], real.lots[report], "the tuning part")
    model, tune_logits = train_twin_model(real, tune, n_train, epochs, seed, batch_size)
    tau, curve = choose_prior_tau(tune_logits, real.labels[tune])
    print("[realism] prior weight tau for the imbalanced real mix, chosen on the tuning part only (its estimated "
          "macro-F1 per tau): " + ", ".join(f"{t:.1f} {f:.3f}" for t, f in zip(PRIOR_TAUS, curve)) + f" -> tau {tau:.1f}")
    print("[realism] the model was trained on synthetic maps only.")
    figures = score_reporting_part(real, report, predict_logits(model, real.maps[report]), tau, seed, "realism")
    print(f"[realism] goal (class-balanced >= 0.85, imbalanced >= 0.70): class-balanced "
          f"{'met' if figures['balanced'] >= 0.85 else 'not met'}; imbalanced "
          f"{'met' if figures['prior'] >= 0.70 else 'not met'} with the real prior ({figures['prior']:.3f}), "
          f"{'met' if figures['imbalanced'] >= 0.70 else 'not met'} with the plain argmax ({figures['imbalanced']:.3f})")
    return figures


def tuning_figures(logits: torch.Tensor, labels: np.ndarray, seed: int) -> dict:
    """Figures of one model on maps of the tuning part: macro-F1, class-balanced macro-F1 (:func:`balanced_f1`),
    the best estimated macro-F1 on the imbalanced real mix over ``tau`` (:func:`choose_prior_tau`) and F1 per class."""
    pred = logits.argmax(1).numpy()
    present = np.unique(labels)
    return {"macro": f1_score(labels, pred, labels=present, average="macro"),
            "balanced": balanced_f1(labels, pred, seed=seed)[0],
            "imbalanced": max(choose_prior_tau(logits, labels)[1]),
            "per_class": dict(zip(present.tolist(), f1_score(labels, pred, labels=present, average=None)))}


def run_tuning(real: calibration.RealMaps, tune: np.ndarray, n_train: int, epochs: int, seeds: list[int]) -> list:
    """``--tune``: the twin-trained model of step 4 (the same maps, epochs and seeds) scored on the **tuning part**
    only, the figure a change to the twin is decided on; the reporting part is never read. Prints, per seed and as the
    mean over seeds, :func:`tuning_figures` on the whole tuning part and on its maps of the calibration file alone
    (the real maps the twin was tuned on least: the 270 sample maps were tuned on for many rounds, and the landed
    twin's figures on these maps are close to its held-out ones). One seed's macro-F1 moves by up to 0.03: compare
    means over several seeds. Returns ``[(whole, calibration file)]``, one pair of figure dicts per seed."""
    fresh = real.source[tune] == calibration.REAL_FILES[1]                 # masks over the tuning part
    parts = (("tuning part", np.ones(len(tune), dtype=bool)), (f"its {fresh.sum()} {calibration.REAL_FILES[1]} maps", fresh))
    runs = []
    for seed in seeds:
        _, logits = train_twin_model(real, tune, n_train, epochs, seed)
        figures = tuple(tuning_figures(logits[part], real.labels[tune][part], seed) for _, part in parts)
        for (name, _), fig in zip(parts, figures):
            print(f"[tune] seed {seed}, {name}: macro-F1 {fig['macro']:.3f}, class-balanced {fig['balanced']:.3f}, "
                  f"imbalanced (best tau) {fig['imbalanced']:.3f}; F1 " + ", ".join(
                      f"{CLASS_NAMES[k]} {v:.2f}" for k, v in fig["per_class"].items()), flush=True)
        runs.append(figures)
    if len(seeds) > 1:
        for k, (name, _) in enumerate(parts):
            print(f"[tune] mean over seeds {', '.join(map(str, seeds))}, {name}: " + ", ".join(
                f"{key} {np.mean([run[k][key] for run in runs]):.3f}" for key in ("macro", "balanced", "imbalanced"))
                + " (the reporting part was not read)")
    return runs


def bench_real_reference(real: calibration.RealMaps, tune: np.ndarray, report: np.ndarray, steps: int, seed: int,
                         batch_size: int = BATCH_SIZE) -> dict:
    """The same model and budget trained on real maps: the tuning part's maps, drawn class-balanced with
    replacement (each batch like the twin's balanced set) and turned / mirrored at random (one of the 8
    symmetries of the square per map, ``augment.d4_transform``: none changes a wafer map's failure type),
    for ``steps`` optimiser steps of :func:`training_recipe`; ``tau`` chosen on the tuning part, scored once on the
    reporting part. It is what the real maps at hand give with this protocol, the yardstick of the twin's figure
    (the wafer counterpart of ``bench_detection.py --heldout``'s real-trained detector). Returns the figures of
    :func:`score_reporting_part`."""
    calibration.check_held_out(real.lots[tune], real.lots[report], "the real maps the reference trains on")
    torch.manual_seed(seed)
    model, name = make_model()
    maps, labels = torch.from_numpy(real.maps[tune]), torch.from_numpy(real.labels[tune])
    weight = torch.from_numpy(balance.sample_weights(real.labels[tune], scheme="inverse"))   # 1 / n_c per map
    recipe = training_recipe(model, steps)
    generator = torch.Generator().manual_seed(seed)
    print(f"[reference] model {name}; {steps} steps x batch {batch_size} on the {len(labels):,} real maps of the "
          "tuning part (class-balanced draws, random 90-degree turns and mirrors)")
    start, total = time.perf_counter(), 0.0
    model.train()
    for _ in range(steps):
        batch = torch.multinomial(weight, batch_size, replacement=True, generator=generator)
        turned = augment.d4_transform(maps[batch], torch.randint(8, (batch_size,), generator=generator))
        total += train_step(model, recipe, turned, labels[batch])
    tau, _ = choose_prior_tau(predict_logits(model, real.maps[tune]), real.labels[tune])
    print(f"[reference] trained in {time.perf_counter() - start:.0f} s (mean loss {total / steps:.3f}); prior weight "
          f"tau {tau:.1f}, chosen on the tuning part (the maps it trained on)")
    print("[reference] the model was trained on real maps of the tuning part.")
    return score_reporting_part(real, report, predict_logits(model, real.maps[report]), tau, seed, "reference")


FIGURES = ("balanced", "imbalanced", "prior")


def run_seeds(real: calibration.RealMaps, tune: np.ndarray, report: np.ndarray, n_train: int, epochs: int,
              seeds: list[int], reference: bool = True) -> None:
    """Steps 4 and 5 for every seed; with several seeds, the mean of each figure over them (one seed's
    class-balanced macro-F1 moves by about 0.02) and, with the reference, the ratio of the means."""
    runs = []
    for seed in seeds:
        twin = bench_realism(real, tune, report, n_train, epochs, seed)
        ref = bench_real_reference(real, tune, report, protocol_steps(n_train, epochs), seed) if reference else None
        if ref:
            print(f"[reference] twin-trained / real-trained, on the reporting part (seed {seed}): " + ", ".join(
                f"{key} {twin[key]:.3f} / {ref[key]:.3f} = {twin[key] / max(ref[key], 1e-9):.2f}" for key in FIGURES))
        runs.append((twin, ref))
    if len(seeds) > 1:
        for who, k in (("twin-trained", 0), ("real-trained", 1)):
            if runs[0][k]:
                print(f"[summary] {who}, mean over seeds {', '.join(map(str, seeds))}: " + ", ".join(
                    f"{key} {np.mean([run[k][key] for run in runs]):.3f}" for key in FIGURES))
        if reference:
            print("[summary] ratio of the means (twin / real): " + ", ".join(
                f"{key} {np.mean([t[key] for t, _ in runs]) / max(np.mean([r[key] for _, r in runs]), 1e-9):.2f}"
                for key in FIGURES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--n-train", type=int, default=None, help="synthetic training maps (default 24,000)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 12: on the tuning part the twin-trained model "
                        "gains from 4 to 12, not beyond)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=seed_list, default=None,
                        help="steps 4-5 for each of these seeds (e.g. 0,1,2) and their means; overrides --seed")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-realism", action="store_true")
    parser.add_argument("--skip-lots", action="store_true")
    parser.add_argument("--skip-reference", action="store_true", help="skip step 5 (the real-trained reference)")
    parser.add_argument("--tune", action="store_true", help="step 4's twin-trained model scored on the tuning part "
                        "only (the figure a change to the twin is decided on; the reporting part is not read)")
    parser.add_argument("--data", type=Path, default=DATA,
                        help=f"folder with {' and '.join(calibration.REAL_FILES)} (default {DATA})")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    seeds = args.seeds or [args.seed]
    missing = [name for name in calibration.REAL_FILES if not (args.data / name).is_file()]
    if missing and not args.skip_realism:
        parser.error(f"{', '.join(missing)} not found in {args.data}: the real maps live in ../shared/data beside the "
                     "repository (outside the kit). Pass --data DIR, or --skip-realism to run the other parts.")
    if not (args.skip_speed or args.tune):
        n = 20_000 if args.quick else sum(WM811K_LABELED_COUNTS.values())
        bench_speed(n, repeats=1 if args.quick else 3)
    if not (args.skip_lots or args.tune):
        bench_lots(150 if args.quick else 900, seeds=(0,) if args.quick else (0, 1, 2))
    if missing:
        print(f"[calibration] skipped: {', '.join(missing)} not found in {args.data} (pass --data DIR).")
        return
    real = calibration.load_real_maps(args.data, size=64)
    tune, report = calibration.holdout_split(real)
    n_train = args.n_train or (3000 if args.quick else 24_000)
    epochs = args.epochs or (1 if args.quick else 12)
    print(f"[holdout] split by lot, seed {calibration.HOLDOUT_SEED}: " + describe(real, tune, "tuning part"))
    if args.tune:
        run_tuning(real, tune, n_train, epochs, seeds)
        return
    print(f"[holdout] split by lot, seed {calibration.HOLDOUT_SEED}: " + describe(real, report, "reporting part"))
    bench_calibration(real.maps[tune], real.labels[tune], per_class=100 if args.quick else 300, seed=seeds[0])
    if not args.skip_realism:
        run_seeds(real, tune, report, n_train, epochs, seeds, reference=not args.skip_reference)


if __name__ == "__main__":
    main()
