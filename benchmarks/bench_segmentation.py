"""Week 12 segmentation benchmark: masks derived from real DeepPCB pairs, a U-Net and YOLOv8-seg.

Reports (and writes to ``--out`` as JSON):

* the derived masks' statistics on the shared real sample (pixels per box, empty boxes, the share of
  differing pixels that lie outside every box);
* the kit U-Net's CPU training speed (img/s at the training crop) and inference latency (one 640x640 pair);
* mean IoU over the six defect classes on the real sample's derived masks (the report set) of
  - the U-Net trained on the synthetic twin's exact masks;
  - the U-Net trained on real pairs: ``../shared/data/deeppcb_calibration`` minus every DeepPCB group that
    also occurs in the sample (split by group, so no board is on both sides);
  - YOLOv8-seg (``[yolo]`` extra, from scratch, offline) trained on the twin and on the same real pairs,
    on native-resolution 160 px crops around defects (``--yolo-crop``; whole images shrunk to 320 px halve
    the 10-30 px defects and from-scratch training found none), then run on the whole 640 px sample images;
  - the classical template difference (class-agnostic: its defect-vs-background IoU).

    python benchmarks/bench_segmentation.py --part unet    # U-Net, masks, classical (about 9 min on a busy 2-core CPU)
    python benchmarks/bench_segmentation.py --part yolo    # YOLOv8-seg (50 epochs: about 15 min on a busy 2-core CPU)
    python benchmarks/bench_segmentation.py --part heldout # tuned on calibration only, reported on the sample
    python benchmarks/bench_segmentation.py --quick        # a few steps, checks the paths

``--part heldout`` never reports on what it tuned. The calibration pairs are split by DeepPCB group: train =
the groups that do not occur in the sample (group77000, 24 pairs: no board on both sides), validation =
``--val-pairs`` pairs drawn from the other calibration groups (never trained on). The training steps
(``--tune-steps``) and the defect-probability threshold (``segment.threshold_labels``) are chosen on
validation by mean IoU, for each model separately; the 40 sample pairs are read only for the final report
of the chosen model: the U-Net (a) trained on the twin and (b) trained on
the real train groups, each with argmax and with its tuned threshold, and the classical baseline.

Needs ``../shared/data`` (the sample and the calibration pairs).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course_utils.training import models  # noqa: E402
from course_utils.core.config import atomic_write  # noqa: E402
from course_utils.detection import classical, masks  # noqa: E402
from course_utils.detection import deeppcb  # noqa: E402
from course_utils.detection import segment as sg  # noqa: E402

SHARED = next((p / "shared" / "data" for p in (REPO.parent, REPO.parent.parent) if (p / "shared" / "data").is_dir()),
              REPO.parent / "shared" / "data")


def labels_of(ds, inst):
    return np.stack([masks.semantic_mask(inst[i], ds.labels[i]) for i in range(len(ds))])


def real_sets():
    sample = deeppcb.load_deeppcb(SHARED / "deeppcb_sample")
    calib = deeppcb.load_deeppcb(SHARED / "deeppcb_calibration")
    held_groups = {name[:5] for name in sample.image_ids}  # DeepPCB ids start with their group number
    keep = np.array([name[:5] not in held_groups for name in calib.image_ids])
    return sample, calib.subset(np.flatnonzero(keep)), sorted(held_groups), int((~keep).sum())


def score(pred, truth) -> dict:
    table = sg.segmentation_scores(pred, truth, len(sg.SEG_CLASSES), sg.SEG_CLASSES)
    return {"mean_iou": table.attrs["mean_iou"], "mean_dice": table.attrs["mean_dice"],
            "pixel_accuracy": table.attrs["pixel_accuracy"], "binary_iou": sg.binary_iou(pred > 0, truth > 0),
            "per_class_iou": {k: (None if np.isnan(v) else float(v)) for k, v in table["IoU"].items()}}


def run_unet(args, sample, real_train, truth, results):
    def train(images, temps, labels, tag):
        torch.manual_seed(args.seed)
        model = sg.UNet(2, len(sg.SEG_CLASSES), width=args.width, depth=3)
        sampler = sg.crop_sampler(images, temps, labels, crop=args.crop, batch=args.batch, seed=args.seed)
        hist = sg.train_segmenter(model, sampler, steps=args.steps, lr=3e-3, device="cpu", log_every=50)
        start = time.perf_counter()
        pred = sg.predict_segmenter(model, sg.pair_inputs(sample.images, sample.templates), batch=2, device="cpu")
        latency = (time.perf_counter() - start) / len(sample)
        out = score(pred, truth)
        out.update(train_img_s=float(hist["img_s"].iloc[1:].mean() if len(hist) > 1 else hist["img_s"].iloc[0]),
                   train_seconds=float(hist["elapsed_s"].iloc[-1]), latency_s_per_640_pair=latency,
                   steps=args.steps, batch=args.batch, crop=args.crop, train_pairs=len(images))
        results[f"unet_{tag}"] = out
        print(f"U-Net trained on {tag}: mean IoU {out['mean_iou']:.3f}, binary IoU {out['binary_iou']:.3f}, "
              f"{out['train_img_s']:.1f} img/s, {latency:.2f} s per 640x640 pair", flush=True)
        save(args, results)

    twin, twin_inst = masks.synthetic_pcb_masks(args.twin_pairs, seed=args.seed)
    summary = models.model_summary(sg.UNet(2, len(sg.SEG_CLASSES), width=args.width, depth=3), (1, 2, 640, 640))
    results["unet_gflops_per_640_pair"] = summary.gflops_per_image
    results["unet_params"] = summary.total_params
    train(twin.images, twin.templates, labels_of(twin, twin_inst), "twin")
    train(real_train.images, real_train.templates, labels_of(real_train, masks.derive_masks(real_train)), "real")


def run_yolo(args, sample, real_train, truth, results):
    from course_utils.detection import yolo, yolo_data

    yolo.require_ultralytics()
    work = Path(args.work)
    twin, twin_inst = masks.synthetic_pcb_masks(args.yolo_pairs, seed=args.seed)
    real_inst = masks.derive_masks(real_train)
    sample_inst = masks.derive_masks(sample)
    for tag, (ds, inst) in {"twin": (twin, twin_inst), "real": (real_train, real_inst)}.items():
        train_set, train_inst, imgsz = ds, inst, args.imgsz
        if args.yolo_crop:
            train_set, train_inst = yolo_data.defect_crops(ds, crop=args.yolo_crop, per_image=args.yolo_crops_per_image,
                                                           seed=args.seed, instances=inst)
            imgsz = args.yolo_crop
        data_yaml = masks.write_yolo_seg_dataset({"train": (train_set, train_inst), "val": (sample, sample_inst)},
                                                 work / f"yolo_{tag}")
        model = sg.build_yolo_seg("yolov8n-seg")
        run = yolo.train_yolo(model, data_yaml, project=work / "runs", name=tag, epochs=args.yolo_epochs,
                              imgsz=imgsz, batch=8, optimizer="AdamW", lr0=2e-3, mosaic=0.0, close_mosaic=0,
                              device="cpu", seed=args.seed, val=False)
        trained = sg.build_yolo_seg("yolov8n-seg", weights=run.last)
        # crops: predict whole 640 images at their own size (the network is convolutional, defects keep their scale)
        pred_size = sample.images.shape[-1] if args.yolo_crop else args.imgsz  # 640 for DeepPCB
        val = trained.val(data=str(data_yaml), split="val", imgsz=pred_size, batch=8, device="cpu", plots=False,
                          verbose=False)
        preds = trained.predict([np.repeat(im[..., None], 3, axis=2) for im in sample.images], imgsz=pred_size,
                                conf=0.25, device="cpu", verbose=False)
        out = score(sg.yolo_seg_label_images(preds, sample.images.shape[1:]), truth)
        out.update(mask_map50=float(val.seg.map50), mask_map50_95=float(val.seg.map), box_map50=float(val.box.map50),
                   epochs=args.yolo_epochs, train_imgsz=imgsz, predict_imgsz=pred_size, train_pairs=len(ds),
                   train_images=len(train_set), crop=args.yolo_crop, train_seconds=run.seconds)
        results[f"yolov8n_seg_{tag}"] = out
        print(f"YOLOv8n-seg trained on {tag} ({len(train_set)} images at {imgsz} px from {len(ds)} pairs): mean IoU "
              f"{out['mean_iou']:.3f}, binary IoU {out['binary_iou']:.3f}, mask mAP50 {out['mask_map50']:.3f}, "
              f"mAP50-95 {out['mask_map50_95']:.3f}, box mAP50 {out['box_map50']:.3f} ({run.seconds:.0f} s)", flush=True)
        save(args, results)


THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


def reduced_probs(model, ds, chunk=4):
    """``(P(background), max defect probability) float16 (N, H, W)`` and the best defect class ``uint8``: what
    argmax and threshold_labels need, without keeping the (N, 7, 640, 640) float32 probabilities."""
    bg, top, cls = [], [], []
    x = sg.pair_inputs(ds.images, ds.templates)
    for i in range(0, len(x), chunk):
        p = sg.predict_segmenter(model, x[i:i + chunk], batch=2, device="cpu", probabilities=True)
        bg.append(p[:, 0].astype(np.float16))
        top.append(p[:, 1:].max(1).astype(np.float16))
        cls.append((1 + p[:, 1:].argmax(1)).astype(np.uint8))
    return np.concatenate(bg), np.concatenate(top), np.concatenate(cls)


def labels_at(reduced, threshold=None):
    """Threshold labels (``1 - P(background) >= threshold``), or argmax labels with ``threshold=None``."""
    bg, top, cls = reduced
    keep = top.astype(np.float32) > bg.astype(np.float32) if threshold is None else 1 - bg.astype(np.float32) >= threshold
    return np.where(keep, cls, 0).astype(np.uint8)


def run_heldout(args, sample, truth, results):
    calib = deeppcb.load_deeppcb(SHARED / "deeppcb_calibration")
    groups = np.array([name[:5] for name in calib.image_ids])
    sample_groups = {name[:5] for name in sample.image_ids}
    train_idx = np.flatnonzero([g not in sample_groups for g in groups])
    rest = np.flatnonzero([g in sample_groups for g in groups])
    val_idx = np.sort(np.random.default_rng(args.seed).choice(rest, min(args.val_pairs, len(rest)), replace=False))
    train, val = calib.subset(train_idx), calib.subset(val_idx)
    val_truth = labels_of(val, masks.derive_masks(val))
    steps_grid = sorted({int(v) for v in args.tune_steps.split(",")})
    results["heldout_protocol"] = (
        f"tune on calibration (train groups {sorted(map(str, set(groups[train_idx])))}: {len(train)} pairs; validation "
        f"{len(val)} pairs drawn from groups {sorted(map(str, set(groups[val_idx])))}); steps {steps_grid} x threshold "
        f"{list(THRESHOLDS)} (and argmax) chosen by validation mean IoU; report on deeppcb_sample ({len(sample)} pairs, "
        "read only for the report, with the chosen model only)")
    results["heldout_settings"] = dict(steps_grid=steps_grid, batch=args.batch, crop=args.crop, width=args.width, lr=3e-3,
                                       twin_pairs=args.twin_pairs, threads=args.threads, seed=args.seed,
                                       date=time.strftime("%Y-%m-%d", time.gmtime()))
    diff = np.stack([classical.difference_mask(t, r, open_size=3) for t, r in zip(sample.images, sample.templates)])
    results["heldout_classical_binary_iou"] = sg.binary_iou(diff > 0, truth > 0)
    print(results["heldout_protocol"], flush=True)
    twin, twin_inst = masks.synthetic_pcb_masks(args.twin_pairs, seed=args.seed)
    for tag, ds, inst in (("twin", twin, twin_inst), ("real", train, masks.derive_masks(train))):
        labels = labels_of(ds, inst)
        val_miou, best = {}, None
        for steps in steps_grid:
            torch.manual_seed(args.seed)
            model = sg.UNet(2, len(sg.SEG_CLASSES), width=args.width, depth=3)
            sampler = sg.crop_sampler(ds.images, ds.templates, labels, crop=args.crop, batch=args.batch, seed=args.seed)
            hist = sg.train_segmenter(model, sampler, steps=steps, lr=3e-3, device="cpu", log_every=200)
            on_val = reduced_probs(model, val)
            for t in (None, *THRESHOLDS):
                miou = score(labels_at(on_val, t), val_truth)["mean_iou"]
                val_miou[f"steps {steps}, {'argmax' if t is None else f'threshold {t}'}"] = float(miou)
                if t is not None and (best is None or np.nan_to_num(miou, nan=-1) > best[0]):
                    best = (float(miou), steps, t, model, float(hist["elapsed_s"].iloc[-1]))
            print(f"  {tag}, {steps} steps: validation mIoU argmax "
                  f"{val_miou[f'steps {steps}, argmax']:.3f}, by threshold "
                  f"{ {t: round(val_miou[f'steps {steps}, threshold {t}'], 3) for t in THRESHOLDS} }", flush=True)
        _, steps, threshold, model, seconds = best
        on_sample = reduced_probs(model, sample)
        out = {"train_pairs": len(ds), "chosen_steps": steps, "chosen_threshold": threshold, "train_seconds": seconds,
               "val_mean_iou": val_miou, "argmax": score(labels_at(on_sample), truth),
               "tuned_threshold": score(labels_at(on_sample, threshold), truth)}
        results[f"heldout_unet_{tag}"] = out
        print(f"U-Net trained on {tag} ({len(ds)} pairs): chosen on validation {steps} steps, threshold {threshold}; "
              f"on the sample: argmax mIoU {out['argmax']['mean_iou']:.3f} / binary {out['argmax']['binary_iou']:.3f}, "
              f"threshold {threshold} mIoU {out['tuned_threshold']['mean_iou']:.3f} / binary "
              f"{out['tuned_threshold']['binary_iou']:.3f}", flush=True)
        save(args, results)
    print(f"classical template difference (open 3) on the sample: binary IoU {results['heldout_classical_binary_iou']:.3f}")


def save(args, results):
    path = Path(args.out)
    old = json.loads(path.read_text()) if path.is_file() else {}
    old.update(results)
    atomic_write(path, lambda f: f.write(json.dumps(old, indent=1).encode()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["unet", "yolo", "heldout", "all"], default="all")
    ap.add_argument("--quick", action="store_true", help="a few steps: checks the code paths, not a measurement")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--twin-pairs", type=int, default=160)
    ap.add_argument("--yolo-pairs", type=int, default=48)
    ap.add_argument("--yolo-epochs", type=int, default=50)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--yolo-crop", type=int, default=160,
                    help="YOLOv8-seg trains on native-resolution crops of this size around defects (0: whole images "
                         "resized to --imgsz) and predicts whole images at 640")
    ap.add_argument("--yolo-crops-per-image", type=int, default=8)
    ap.add_argument("--tune-steps", default="400,1200", help="--part heldout: training steps tried on validation")
    ap.add_argument("--val-pairs", type=int, default=24, help="--part heldout: calibration validation pairs")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy machine)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "outputs" / "bench_segmentation.json"))
    ap.add_argument("--work", default=str(REPO / "outputs" / "bench_segmentation"))
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.twin_pairs, args.yolo_pairs, args.yolo_epochs, args.val_pairs = 4, 4, 4, 1, 4
        args.tune_steps = "2,4"
    torch.set_num_threads(args.threads)
    if not (SHARED / "deeppcb_sample").is_dir():
        sys.exit(f"{SHARED / 'deeppcb_sample'} not found: this benchmark measures on the shared real sample.")
    sample, real_train, held_groups, dropped = real_sets()
    sample_inst = masks.derive_masks(sample)
    truth = labels_of(sample, sample_inst)
    stats = masks.mask_statistics(sample, sample_inst)
    results = {"report_set": f"deeppcb_sample: {len(sample)} pairs, {len(stats)} boxes, groups {held_groups}",
               "real_train_set": f"deeppcb_calibration minus those groups: {len(real_train)} pairs ({dropped} dropped)",
               "mask_summary": masks.mask_summary(stats).reset_index().to_dict(orient="records"),
               "defect_pixel_share": float((truth > 0).mean()),
               "stray_difference_median": float(np.median(masks.stray_difference(sample, sample_inst)))}
    print(masks.mask_summary(stats).to_string())
    print(f"defect pixels {results['defect_pixel_share']:.4%} of the sample; median share of differing pixels "
          f"outside every box {results['stray_difference_median']:.3f}")
    diff = np.stack([classical.difference_mask(t, r, open_size=3) for t, r in zip(sample.images, sample.templates)])
    results["classical_binary_iou"] = sg.binary_iou(diff > 0, truth > 0)
    print(f"classical template difference (open 3): defect-vs-background IoU {results['classical_binary_iou']:.3f}")
    print(results["report_set"], "|", results["real_train_set"], flush=True)
    save(args, results)
    if args.part in ("unet", "all"):
        run_unet(args, sample, real_train, truth, {})
    if args.part == "heldout":
        run_heldout(args, sample, truth, {})
    if args.part in ("yolo", "all"):
        run_yolo(args, sample, real_train, truth, {})


if __name__ == "__main__":
    main()
