"""YOLO (ultralytics) for PCB defects: offline-safe models, training, predictions, validation.

``ultralytics`` is an optional extra (``pip install -e ".[yolo]"``, AGPL-3.0); this module
imports it only inside its functions, so the rest of the kit works without it and
:func:`require_ultralytics` names the install command when it is missing.

>>> from course_utils.detection import yolo, yolo_data
>>> data_yaml = yolo_data.write_yolo_dataset({"train": train_set, "val": val_set}, root)
>>> model = yolo.build_yolo("yolov8n", weights=None)        # from scratch; "DEFAULT": COCO weights
>>> run = yolo.train_yolo(model, data_yaml, project=out, epochs=1, imgsz=160)
>>> val = yolo.validate_yolo(model, data_yaml, imgsz=160)    # its mAP and the predictions it scored
>>> preds = yolo.predict_yolo(model, val_set.images, imgsz=160)   # the kit's prediction dicts

Nothing is fetched at run time: :func:`offline_environment` sets ``YOLO_OFFLINE`` when
github.com does not answer (downloads then fail at once instead of retrying for
35 s), ``YOLO_AUTOINSTALL=False`` (ultralytics never pip-installs a missing package)
and switches its analytics off. COCO-pretrained weights (``weights="DEFAULT"``) come
from a local file, a download when online, or else random initialisation with one
:class:`~course_utils.training.transfer.PretrainedWeightsWarning` line (the pattern of notebook 05).

Checked against ultralytics 8.4 (``validate_yolo`` records the validator's own
predictions through a subclass of ``DetectionValidator``).
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from course_utils.core import config
from course_utils.detection.pcb import PCB_CLASSES

__all__ = ["MAP_TOLERANCE", "INSTALL_HINT", "COURSE_YOLOV8_TABLE", "require_ultralytics",
           "build_yolo", "ultralytics_device", "train_yolo",
           "results_to_predictions", "predict_yolo", "validate_yolo", "ultralytics_map",
           "read_results_csv", "plot_yolo_history", "model_info", "save_run"]

#: Largest |kit - ultralytics| accepted for mAP50 and mAP50-95 on the same predictions. The matching
#: rule is the same (by score, the best still-unclaimed box of the class); the AP integral is not: COCO
#: (the kit) takes 101 step samples of the monotone PR envelope, ultralytics integrates a linear
#: interpolation of it (trapezoid at 101 points) whose last step drops to precision 0 at recall 1, so
#: a perfect detector scores 0.995 there. Measured on noisy detectors: <= 0.0022.
MAP_TOLERANCE = 0.01
INSTALL_HINT = 'pip install -e ".[yolo]"   (or: pip install ultralytics onnx onnxslim onnxruntime)'
WEIGHTS_URL = "https://github.com/ultralytics/assets/releases/download/v8.4.0/{name}.pt"

#: The course's YOLOv8 table (ultralytics' COCO val2017 numbers at 640 px, 80 classes), with its two
#: speed columns: ms per image on a CPU with ONNX and on an A100 GPU with TensorRT.
COURSE_YOLOV8_TABLE = pd.DataFrame({
    "model": ["YOLOv8n", "YOLOv8s", "YOLOv8m", "YOLOv8l", "YOLOv8x"],
    "COCO mAP50-95": [37.3, 44.9, 50.2, 52.9, 53.9],
    "CPU ONNX (ms)": [80.4, 128.4, 234.7, 375.2, 479.1],
    "A100 TensorRT (ms)": [0.99, 1.20, 1.83, 2.39, 3.53],
    "params (M)": [3.2, 11.2, 25.9, 43.7, 68.2],
    "GFLOPs (640)": [8.7, 28.6, 78.9, 165.2, 257.8],
}).set_index("model")


def require_ultralytics():
    """Import and return ``ultralytics`` (after :func:`offline_environment`), or raise
    ``ImportError`` with the one install command.

    Taught in: 17_yolo_training"""
    offline_environment()
    try:
        import ultralytics
    except ImportError:
        raise ImportError(f"This part of the course needs the optional YOLO packages: {INSTALL_HINT}") from None
    from ultralytics.utils import events

    events.events.enabled = False  # no analytics from course runs
    return ultralytics


def offline_environment(offline: bool | None = None) -> bool:
    """Set ultralytics' environment so that nothing is downloaded or installed behind the user's back.

    ``offline=None`` probes github.com (~2 s at most, through the HTTPS proxy if one is
    set) unless ``YOLO_OFFLINE`` is already set. Sets ``YOLO_OFFLINE=1`` when offline
    and ``YOLO_AUTOINSTALL=False`` always (keeps a value the user set). Returns ``offline``.
    """
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    if offline is None:
        if "YOLO_OFFLINE" in os.environ:
            return os.environ["YOLO_OFFLINE"].strip().lower() in ("1", "true", "yes", "on", "y", "t")
        from course_utils.core.pretrained import host_reachable as _host_reachable

        offline = not _host_reachable("https://github.com")
    os.environ["YOLO_OFFLINE"] = "1" if offline else "0"
    return offline


# ---------------------------------------------------------------------------
# Models and weights
# ---------------------------------------------------------------------------
def _weights_candidates(name: str) -> list[Path]:
    from ultralytics.utils import SETTINGS

    return [Path(f"{name}.pt"), config.data_dir() / "weights" / f"{name}.pt", Path(SETTINGS["weights_dir"]) / f"{name}.pt"]


def resolve_yolo_weights(name: str = "yolov8n", weights=None, *, allow_download: bool = True) -> tuple[str, str]:
    """``(what to pass to YOLO(...), where the weights came from)``.

    ``weights``: ``None`` -> ``"<name>.yaml"`` (random initialisation, ``"random"``);
    a path to a ``.pt`` file -> that file (``"file:<path>"``); ``"DEFAULT"`` -> the COCO
    checkpoint ``<name>.pt`` from the working folder, ``datasets/weights/`` or ultralytics'
    weights folder, else downloaded into ``datasets/weights/`` when github.com answers,
    else ``"<name>.yaml"`` with one ``PretrainedWeightsWarning`` (``"random (pretrained
    weights unavailable)"``).
    """
    from course_utils.training.transfer import PretrainedWeightsWarning

    require_ultralytics()
    if not isinstance(name, str) or not name.startswith(("yolov8", "yolo11", "yolov5", "yolo26")):
        raise ValueError(f"name={name!r} must name an ultralytics detection model such as 'yolov8n' or 'yolov8s'.")
    if weights is None:
        return f"{name}.yaml", "random"
    if weights != "DEFAULT":
        path = Path(weights).expanduser()
        if path.suffix != ".pt" or not path.is_file():
            raise FileNotFoundError(f"weights={weights!r} is neither 'DEFAULT', None nor an existing .pt file.")
        return str(path), f"file:{path}"
    for path in _weights_candidates(name):
        if path.is_file():
            return str(path), f"coco:{path}"
    reason = "allow_download=False"
    if allow_download and not offline_environment():
        from ultralytics.utils.downloads import attempt_download_asset

        dest = config.data_dir() / "weights" / f"{name}.pt"
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            return attempt_download_asset(str(dest)), f"coco:{dest}"
        except Exception as exc:  # ConnectionError, HTTP errors, a broken partial file
            reason = f"download failed ({type(exc).__name__})"
    elif allow_download:
        reason = "github.com is unreachable"
    warnings.warn(f"{name}: COCO weights unavailable ({reason}); training from scratch. Put "
                  f"{WEIGHTS_URL.format(name=name)} into {config.data_dir() / 'weights'} or pass weights='file.pt'.",
                  PretrainedWeightsWarning, stacklevel=3)
    return f"{name}.yaml", "random (pretrained weights unavailable)"


def build_yolo(name: str = "yolov8n", weights=None, *, allow_download: bool = True):
    """An ultralytics ``YOLO`` model (see :func:`resolve_yolo_weights`); ``model.weights_source``
    says where its weights came from.

    Taught in: 17_yolo_training"""
    require_ultralytics()
    from ultralytics import YOLO

    source, origin = resolve_yolo_weights(name, weights, allow_download=allow_download)
    model = YOLO(source, task="detect", verbose=False)
    model.weights_source = origin
    return model


def ultralytics_device(device="auto") -> str:
    """The kit's device (``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"`` or a ``torch.device``) as
    ultralytics writes it: ``"cpu"``, ``"0"`` (CUDA index) or ``"mps"``.

    Taught in: 19_defect_segmentation"""
    from course_utils.core.env import get_device

    dev = get_device(device)
    if dev.type == "cuda":
        return str(dev.index or 0)
    return dev.type


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------
@dataclass
class YoloRun:
    """One training run: its folder, best/last checkpoints, ``results.csv`` as a DataFrame
    (:func:`read_results_csv`), the wall time in seconds and the final validation metrics."""

    run_dir: Path
    best: Path
    last: Path
    history: pd.DataFrame
    seconds: float
    metrics: dict = field(default_factory=dict)
    weights_source: str = ""


def train_yolo(model, data_yaml, *, project, name: str = "train", epochs: int = 1, imgsz: int = 640,
               batch: int = 16, optimizer: str = "auto", lr0: float = 0.01, mosaic: float = 1.0,
               mixup: float = 0.0, hsv_h: float = 0.015, hsv_s: float = 0.7, hsv_v: float = 0.4,
               close_mosaic: int = 10, patience: int = 100, device="auto", seed: int = 0, workers: int = 0,
               plots: bool = False, verbose: bool = False, **overrides) -> YoloRun:
    """Train ``model`` (from :func:`build_yolo`) on ``data_yaml``; the run lands in ``project/name``.

    ``imgsz`` (pixels, multiple of 32), ``epochs``, ``batch`` and the augmentation
    strengths (``mosaic``/``mixup`` probabilities, ``hsv_*`` ranges) are ultralytics'
    own arguments; ``lr0`` is used only with an explicit ``optimizer`` ("SGD",
    "AdamW", ...): ``"auto"`` picks the optimizer and its learning rate itself.
    ``plots=False`` skips ultralytics' figures (they need a font download);
    AMP runs only on CUDA. Any other ultralytics argument passes through ``overrides``.

    Taught in: 17_yolo_training"""
    require_ultralytics()
    from course_utils.core.checks import check_int

    check_int(epochs, "epochs", minimum=1)
    check_int(imgsz, "imgsz", minimum=32)
    dev = ultralytics_device(device)
    start = time.perf_counter()
    model.train(data=str(data_yaml), project=str(Path(project).resolve()), name=name, exist_ok=True,
                epochs=epochs, imgsz=imgsz, batch=batch, optimizer=optimizer, lr0=lr0, mosaic=mosaic,
                mixup=mixup, hsv_h=hsv_h, hsv_s=hsv_s, hsv_v=hsv_v, close_mosaic=close_mosaic, patience=patience,
                device=dev, seed=seed, deterministic=True, workers=workers, plots=plots, verbose=verbose,
                amp=dev not in ("cpu", "mps"), pretrained=bool(getattr(model, "ckpt", None)), **overrides)
    seconds = time.perf_counter() - start
    trainer = model.trainer
    run_dir = Path(trainer.save_dir)
    metrics = {k.removeprefix("metrics/").removesuffix("(B)"): float(v) for k, v in (trainer.metrics or {}).items()
               if k.startswith("metrics/")}
    return YoloRun(run_dir=run_dir, best=Path(trainer.best), last=Path(trainer.last),
                   history=read_results_csv(run_dir), seconds=seconds, metrics=metrics,
                   weights_source=getattr(model, "weights_source", ""))


# ---------------------------------------------------------------------------
# Predictions in the kit's convention
# ---------------------------------------------------------------------------
def results_to_predictions(results) -> list[dict]:
    """ultralytics ``Results`` (one per image) -> ``[dict(boxes float32 (k, 4) x1 y1 x2 y2 pixels of
    the original image, labels int64 (k,) ids 1..K, scores float32 (k,))]``.

    Used by: tests/detection/test_yolo.py"""
    out = []
    for r in results:
        b = r.boxes
        out.append({"boxes": b.xyxy.cpu().numpy().astype(np.float32).reshape(-1, 4),
                    "labels": b.cls.cpu().numpy().astype(np.int64) + 1,
                    "scores": b.conf.cpu().numpy().astype(np.float32)})
    return out


def _as_bgr_list(images) -> list:
    """Paths stay paths; ``uint8 (N, H, W)`` / ``(N, H, W, 3)`` arrays become a list of ``(H, W, 3)``."""
    if isinstance(images, (str, os.PathLike)):
        return [str(images)]
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            raise ValueError(f"images must be uint8 (N, H, W) or (N, H, W, 3); got {images.dtype} {images.shape}.")
        return [np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im for im in images]
    return [str(im) if isinstance(im, (str, os.PathLike)) else np.asarray(im) for im in images]


def predict_yolo(model, images, *, imgsz: int = 640, conf: float = 0.001, iou: float = 0.7, max_det: int = 300,
                 device="auto", batch: int = 16) -> list[dict]:
    """Predictions of ``model`` for ``images`` (paths, or ``uint8 (N, H, W)`` grayscale /
    ``(N, H, W, 3)`` BGR arrays) as the kit's prediction dicts, one per image, in order.

    ``conf=0.001`` and ``iou=0.7`` (NMS) are ultralytics' validation settings: keep the
    low-score boxes for AP; raise ``conf`` (e.g. 0.25) for what a user should see.

    Taught in: 18_yolo_comparison_export"""
    require_ultralytics()
    items, dev, out = _as_bgr_list(images), ultralytics_device(device), []
    for start in range(0, len(items), batch):
        res = model.predict(items[start:start + batch], imgsz=imgsz, conf=conf, iou=iou, max_det=max_det,
                            device=dev, verbose=False)
        out += results_to_predictions(res)
    return out


# ---------------------------------------------------------------------------
# Validation: ultralytics' numbers and the predictions they were computed from
# ---------------------------------------------------------------------------
@dataclass
class ValidationResult:
    """``summary`` (ultralytics' precision, recall, mAP50, mAP50-95), ``per_class`` (its AP50 and
    AP50-95 per class), ``predictions`` ``{image id: prediction dict}`` (the boxes it scored, in
    original-image pixels) and ``speed`` (ms per image: preprocess, inference, postprocess)."""

    summary: pd.Series
    per_class: pd.DataFrame
    predictions: dict
    speed: dict


def _recording_validator(store: dict):
    """A ``DetectionValidator`` subclass that writes each image's post-NMS predictions into ``store``."""
    from ultralytics.models.yolo.detect import DetectionValidator

    class RecordingValidator(DetectionValidator):
        """DetectionValidator that also keeps every image's post-NMS predictions."""

        def update_metrics(self, preds, batch):
            for si, pred in enumerate(preds):
                pbatch = self._prepare_batch(si, batch)
                predn = self.scale_preds(self._prepare_pred(dict(pred)), pbatch)
                store[Path(pbatch["im_file"]).stem] = {
                    "boxes": predn["bboxes"].detach().cpu().numpy().astype(np.float32).reshape(-1, 4),
                    "labels": predn["cls"].detach().cpu().numpy().astype(np.int64) + 1,
                    "scores": predn["conf"].detach().cpu().numpy().astype(np.float32)}
            super().update_metrics(preds, batch)

        def init_metrics(self, model):
            store.clear()
            super().init_metrics(model)

    return RecordingValidator


def validate_yolo(model, data_yaml, *, split: str = "val", imgsz: int = 640, batch: int = 16, conf: float = 0.001,
                  iou: float = 0.7, device="auto", class_names: Sequence[str] = PCB_CLASSES) -> ValidationResult:
    """Run ultralytics' validation on ``split`` and keep the predictions it scored (see :class:`ValidationResult`).

    Taught in: 17_yolo_training"""
    require_ultralytics()
    recorded: dict = {}
    validator = _recording_validator(recorded)
    metrics = model.val(data=str(data_yaml), split=split, imgsz=imgsz, batch=batch, conf=conf, iou=iou,
                        device=ultralytics_device(device), plots=False, save_json=False, verbose=False,
                        workers=0, validator=validator)
    box = metrics.box
    summary = pd.Series({"precision": box.mp, "recall": box.mr, "mAP50": box.map50, "mAP50-95": box.map},
                        name="ultralytics")
    names = list(class_names)
    per_class = pd.DataFrame({"AP50": np.asarray(box.all_ap)[:, 0] if len(box.all_ap) else [],
                              "AP50-95": np.asarray(box.maps)[box.ap_class_index] if len(box.all_ap) else []},
                             index=pd.Index([names[int(c)] for c in box.ap_class_index], name="class"))
    return ValidationResult(summary=summary, per_class=per_class, predictions=dict(recorded),
                            speed=dict(getattr(metrics, "speed", {})))


def ultralytics_map(predictions, targets, *, n_classes: int = len(PCB_CLASSES)) -> pd.Series:
    """mAP50 and mAP50-95 of the kit's ``predictions``/``targets`` computed by ultralytics' own
    code (its matching ``DetectionValidator.match_predictions`` and ``ap_per_class``).

    Used by: solutions/17_yolo_training_solutions, tests/detection/test_yolo.py"""
    require_ultralytics()
    import torch
    from ultralytics.models.yolo.detect import DetectionValidator
    from ultralytics.utils.metrics import ap_per_class, box_iou

    validator = DetectionValidator(args={"task": "detect"})
    tps, confs, pred_cls, target_cls = [], [], [], []
    for pred, gt in zip(predictions, targets):
        order = np.argsort(-np.asarray(pred["scores"]), kind="stable")
        pb = torch.as_tensor(np.asarray(pred["boxes"], np.float32).reshape(-1, 4)[order])
        pc = torch.as_tensor(np.asarray(pred["labels"], np.int64)[order] - 1)
        gb = torch.as_tensor(np.asarray(gt["boxes"], np.float32).reshape(-1, 4))
        gc = torch.as_tensor(np.asarray(gt["labels"], np.int64) - 1)
        if len(gc) and len(pc):
            tps.append(validator.match_predictions(pc, gc, box_iou(gb, pb)).numpy())
        else:
            tps.append(np.zeros((len(pc), 10), dtype=bool))
        confs.append(np.asarray(pred["scores"], np.float64)[order])
        pred_cls.append(pc.numpy())
        target_cls.append(gc.numpy())
    ap = ap_per_class(np.concatenate(tps), np.concatenate(confs), np.concatenate(pred_cls),
                      np.concatenate(target_cls), names={k: str(k) for k in range(n_classes)})[5]
    return pd.Series({"mAP50": float(ap[:, 0].mean()) if len(ap) else 0.0,
                      "mAP50-95": float(ap.mean()) if len(ap) else 0.0}, name="ultralytics")


# ---------------------------------------------------------------------------
# Learning curves
# ---------------------------------------------------------------------------
def read_results_csv(path) -> pd.DataFrame:
    """ultralytics' ``results.csv`` (a run folder or the file) as a DataFrame.

    Keeps its columns (names stripped: ``train/box_loss``, ``metrics/mAP50(B)``, ...) and
    adds ``train_loss`` / ``val_loss`` (box + cls + dfl), ``precision``, ``recall``,
    ``mAP50`` and ``mAP50-95``, one row per epoch (``epoch`` from 1).

    Used by: tests/detection/test_yolo.py"""
    path = Path(path)
    path = path / "results.csv" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: ultralytics writes results.csv after the first epoch.")
    df = pd.read_csv(path)
    df.columns = [c.strip() for c in df.columns]
    for split in ("train", "val"):
        parts = [f"{split}/{k}_loss" for k in ("box", "cls", "dfl") if f"{split}/{k}_loss" in df]
        df[f"{split}_loss"] = df[parts].sum(axis=1) if parts else np.nan
    for new, old in (("precision", "metrics/precision(B)"), ("recall", "metrics/recall(B)"),
                     ("mAP50", "metrics/mAP50(B)"), ("mAP50-95", "metrics/mAP50-95(B)")):
        df[new] = df[old] if old in df else np.nan
    return df


def plot_yolo_history(history: pd.DataFrame, title: str | None = None):
    """Learning curves of :func:`read_results_csv`: the three loss terms (train solid, validation
    dashed) and validation precision, recall, mAP50, mAP50-95, drawn by ``plots.plot_learning_curves``
    (the panels of ``plots.plot_history``). Returns the figure.

    Taught in: 17_yolo_training"""
    from course_utils.training.plots import plot_learning_curves

    losses = [(f"{split} {k}", history[f"{split}/{k}_loss"], style, color)
              for k, color in zip(("box", "cls", "dfl"), ("C0", "C1", "C2"))
              for split, style in (("train", "o-"), ("val", "s--")) if f"{split}/{k}_loss" in history]
    scores = [(col, history[col], "o-") for col in ("precision", "recall", "mAP50", "mAP50-95")]
    return plot_learning_curves(history["epoch"], losses, scores, title=title, legend_fontsize=7)


# ---------------------------------------------------------------------------
# Model size and the run folder of a notebook
# ---------------------------------------------------------------------------
def model_info(model, *, imgsz: int = 640) -> dict:
    """``params`` (count), ``params (M)``, ``GFLOPs`` at ``imgsz`` x ``imgsz`` (one image) and the
    checkpoint's ``file (MB)`` if the model came from a file, of an ultralytics ``YOLO``.

    Taught in: 18_yolo_comparison_export"""
    require_ultralytics()
    from ultralytics.utils.torch_utils import get_flops

    net = model.model
    n = sum(p.numel() for p in net.parameters())
    ckpt = getattr(model, "ckpt_path", None)
    size = Path(ckpt).stat().st_size / 1e6 if ckpt and Path(ckpt).is_file() else np.nan
    return {"params": int(n), "params (M)": n / 1e6, "GFLOPs": float(get_flops(net, imgsz)), "file (MB)": size}


def save_run(run_dir, *, title: str, settings: dict, sections: Sequence[dict], results: pd.DataFrame) -> Path:
    """Write a run folder that ``python -m course_utils report RUN_DIR`` renders (kind ``"generic"``).

    ``sections``: ``[dict(title=..., text=..., tables={caption: DataFrame}, figures={caption: Figure})]``;
    tables go to ``tables/<nn>_<k>.csv``, figures to ``figures/<nn>_<k>.png`` (150 dpi),
    ``results`` to ``results_table.csv`` (copied to ``results.csv`` by the report). Returns run.json's path.

    Taught in: 17_yolo_training"""
    from course_utils.core import runs

    run_dir = Path(run_dir)
    (run_dir / "tables").mkdir(parents=True, exist_ok=True)
    (run_dir / "figures").mkdir(parents=True, exist_ok=True)
    entries = []
    for n, sec in enumerate(sections, start=1):
        entry = {"title": sec["title"], "text": sec.get("text", ""), "tables": [], "figures": []}
        for k, (caption, table) in enumerate(sec.get("tables", {}).items(), start=1):
            name = f"tables/{n:02d}_{k}.csv"
            if table.index.nlevels == 1 and not isinstance(table.index, pd.RangeIndex):
                table = table.rename_axis(table.index.name or "name")
            text = table.to_csv(index=not isinstance(table.index, pd.RangeIndex))
            config.atomic_write(run_dir / name, lambda f, t=text: f.write(t.encode("utf-8")))
            entry["tables"].append({"file": name, "caption": caption})
        for k, (caption, fig) in enumerate(sec.get("figures", {}).items(), start=1):
            name = f"figures/{n:02d}_{k}.png"
            config.atomic_write(run_dir / name, lambda f, fg=fig: fg.savefig(f, format="png", dpi=150,
                                                                             bbox_inches="tight"))
            entry["figures"].append({"file": name, "caption": caption})
        entries.append(entry)
    text = results.to_csv(index=False)
    config.atomic_write(run_dir / "results_table.csv", lambda f: f.write(text.encode("utf-8")))
    return runs.write_run_json(run_dir, kind="generic", title=title, settings=settings, sections=entries,
                                 results_file="results_table.csv")
