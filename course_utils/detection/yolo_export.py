"""Deploying a YOLO model: ONNX export, onnxruntime inference, agreement with PyTorch, latency.

>>> from course_utils.detection import yolo_export
>>> onnx_path = yolo_export.export_onnx(model, imgsz=640)                 # best.pt -> best.onnx
>>> yolo_export.detect("board.png", onnx_path, conf=0.25)                 # -> dict(boxes, labels, scores)
>>> yolo_export.onnx_agreement(model, onnx_path, images)                  # max |PyTorch - ONNX| of raw outputs

:func:`detect` needs only ``onnxruntime``, ``numpy``, ``opencv`` and ``torchvision`` (for
NMS), not ultralytics: it re-implements the three steps around the network that
ultralytics' predictor does --

1. **letterbox**: resize the image so its longer side is the model's input size
   (aspect ratio kept, bilinear), pad the rest with grey 114 to a square, RGB, ``/255``;
2. **the network**: output ``(1, 4 + K, A)`` -- per anchor point a box ``cx, cy, w, h``
   (input pixels) and K class scores (already sigmoid);
3. **post-processing**: best class per anchor, drop scores ``< conf``, per-class NMS
   (``iou``), keep ``max_det``, undo the letterbox (subtract the pad, divide by the scale).

The export itself goes through ultralytics (``format="onnx"``); ``onnx`` and
``onnxslim`` must be installed with the extra, or ultralytics would try to
pip-install them at run time (this module refuses instead, naming the command).
"""
from __future__ import annotations

import functools
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .yolo import INSTALL_HINT, require_ultralytics

__all__ = ["letterbox", "export_onnx", "OnnxDetector", "postprocess", "detect", "onnx_agreement", "time_per_call",
           "onnx_providers"]


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise ImportError(f"{module} is not installed; it comes with the YOLO extra: {INSTALL_HINT}") from None


def letterbox(image: np.ndarray, size: int, *, pad_value: int = 114) -> tuple[np.ndarray, float, tuple[float, float]]:
    """ultralytics' letterbox: ``image`` ``uint8 (H, W)`` or ``(H, W, 3)`` BGR -> ``(float32 (1, 3, size, size)
    RGB in [0, 1], scale, (pad_x, pad_y))``; a box in the input maps back as ``(xy - pad) / scale``."""
    import cv2

    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    h, w = image.shape[:2]
    r = min(size / h, size / w)
    new_w, new_h = int(round(w * r)), int(round(h * r))
    if (new_w, new_h) != (w, h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(pad_value,) * 3)
    x = np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1))[None].astype(np.float32) / 255.0
    return x, r, (float(left), float(top))


def export_onnx(model, *, imgsz: int = 640, path=None, opset: int | None = None, simplify: bool = True) -> Path:
    """Export an ultralytics ``YOLO`` model to ONNX (static batch 1, ``imgsz`` x ``imgsz``, float32, CPU).

    Written next to the model's checkpoint (``best.pt`` -> ``best.onnx``) or, with ``path``,
    moved there. Returns the ``.onnx`` path.
    """
    require_ultralytics()
    for module in ("onnx", "onnxslim") if simplify else ("onnx",):
        _require(module)
    kwargs = {"opset": opset} if opset else {}
    out = Path(model.export(format="onnx", imgsz=imgsz, simplify=simplify, dynamic=False,
                            device="cpu", verbose=False, **kwargs))
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(out), str(path))  # a rename on the same disk
        out = path
    return out


def onnx_providers(device: str = "auto") -> list[str]:
    """onnxruntime execution providers for ``device``: ``"cpu"``, ``"cuda"`` (CUDA, then CPU as
    fallback) or ``"auto"`` (CUDA when this onnxruntime build has it)."""
    ort = _require("onnxruntime")
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ValueError(f"device='cuda' but this onnxruntime has only {available}; pip install onnxruntime-gpu.")
    if device in ("cuda", "auto") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device={device!r} must be 'auto', 'cpu' or 'cuda'.")
    return ["CPUExecutionProvider"]


class OnnxDetector:
    """An exported YOLO detector in onnxruntime, returning the kit's prediction dicts.

    ``OnnxDetector(path)(image, conf=0.25, iou=0.7)`` -> ``dict(boxes float32 (k, 4) x1 y1 x2 y2
    pixels of the input image, labels int64 ids 1..K, scores float32)``; ``image`` is a path or
    a ``uint8`` array (grayscale or BGR, as OpenCV reads it). ``raw(x)`` runs the network alone.
    """

    def __init__(self, model_path, *, device: str = "auto"):
        ort = _require("onnxruntime")
        model_path = Path(model_path)
        if not model_path.is_file():
            raise FileNotFoundError(f"ONNX model {model_path} does not exist; write it with export_onnx(model).")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(model_path), options, providers=onnx_providers(device))
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.imgsz = int(inp.shape[-1])
        self.path = model_path

    def raw(self, x: np.ndarray) -> np.ndarray:
        """``float32 (1, 3, imgsz, imgsz)`` -> the network's output ``float32 (1, 4 + K, A)``."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]

    def __call__(self, image, *, conf: float = 0.25, iou: float = 0.7, max_det: int = 300) -> dict:
        if isinstance(image, (str, os.PathLike)):
            image = _read_image(Path(image))
        x, scale, pad = letterbox(np.asarray(image), self.imgsz)
        return postprocess(self.raw(x)[0], scale=scale, pad=pad, shape=np.asarray(image).shape[:2], conf=conf,
                           iou=iou, max_det=max_det)


def _read_image(path: Path) -> np.ndarray:
    import cv2

    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist.")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path} cannot be read as an image by OpenCV.")
    return image


def postprocess(out: np.ndarray, *, scale: float, pad: tuple[float, float], shape: tuple[int, int],
                conf: float = 0.25, iou: float = 0.7, max_det: int = 300) -> dict:
    """One image's raw output ``(4 + K, A)`` -> prediction dict in original pixels (see the module docstring)."""
    import torch
    from torchvision.ops import batched_nms

    pred = out.T  # (A, 4 + K)
    cls_scores = pred[:, 4:]
    labels = cls_scores.argmax(1)
    scores = cls_scores[np.arange(len(pred)), labels]
    keep = scores > conf
    cxcywh, labels, scores = pred[keep, :4], labels[keep], scores[keep]
    boxes = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
    if len(boxes) > 30000:  # ultralytics' max_nms: the highest scores only
        top = np.argsort(-scores, kind="stable")[:30000]
        boxes, labels, scores = boxes[top], labels[top], scores[top]
    idx = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels), iou)[:max_det]
    idx = idx.numpy()
    boxes = (boxes[idx] - np.array([pad[0], pad[1], pad[0], pad[1]], dtype=np.float32)) / scale
    h, w = shape
    boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
    return {"boxes": boxes.reshape(-1, 4), "labels": labels[idx].astype(np.int64) + 1,
            "scores": scores[idx].astype(np.float32)}


@functools.lru_cache(maxsize=4)
def _cached_detector(path: str, mtime: float, device: str) -> OnnxDetector:
    return OnnxDetector(path, device=device)


def detect(image_path, model_path, *, conf: float = 0.25, iou: float = 0.7, max_det: int = 300,
           device: str = "auto") -> dict:
    """Boxes found in one image file by an exported ONNX model: ``dict(boxes float32 (k, 4)
    x1 y1 x2 y2 pixels, labels int64 ids 1..K, scores float32 (k,))``. The onnxruntime
    session is cached per model file (reloaded when the file changes)."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"ONNX model {model_path} does not exist; write it with export_onnx(model).")
    detector = _cached_detector(str(model_path.resolve()), model_path.stat().st_mtime, device)
    return detector(image_path, conf=conf, iou=iou, max_det=max_det)


def onnx_agreement(model, onnx_path, images, *, conf: float = 0.25, iou: float = 0.7) -> dict:
    """PyTorch vs onnxruntime on the same letterboxed inputs of ``images`` (``uint8 (N, H, W)`` or a list).

    Returns ``max_abs_diff`` (largest ``|PyTorch - ONNX|`` over all raw outputs: box
    coordinates in input pixels and class scores), ``max_abs_score_diff`` (scores only),
    ``output_scale`` (largest ``|output|``) and ``n_boxes_torch`` / ``n_boxes_onnx``
    (boxes kept at ``conf``, after NMS, summed over images).
    """
    import torch

    detector = OnnxDetector(onnx_path, device="cpu")
    net = model.model.float().eval()
    device = next(net.parameters()).device
    worst = worst_score = scale = 0.0
    n_torch = n_onnx = 0
    for image in images:
        x, r, pad = letterbox(np.asarray(image), detector.imgsz)
        with torch.no_grad():
            y = net(torch.from_numpy(x).to(device))
        y = (y[0] if isinstance(y, (list, tuple)) else y).cpu().numpy()
        z = detector.raw(x)
        if y.shape != z.shape:
            raise ValueError(f"PyTorch output {y.shape} and ONNX output {z.shape} differ: was {onnx_path} "
                             "exported from this model at this image size?")
        worst = max(worst, float(np.abs(y - z).max()))
        worst_score = max(worst_score, float(np.abs(y[:, 4:] - z[:, 4:]).max()))
        scale = max(scale, float(np.abs(y).max()))
        shape = np.asarray(image).shape[:2]
        n_torch += len(postprocess(y[0], scale=r, pad=pad, shape=shape, conf=conf, iou=iou)["boxes"])
        n_onnx += len(postprocess(z[0], scale=r, pad=pad, shape=shape, conf=conf, iou=iou)["boxes"])
    return {"max_abs_diff": worst, "max_abs_score_diff": worst_score, "output_scale": scale,
            "n_boxes_torch": n_torch, "n_boxes_onnx": n_onnx}


def time_per_call(fn: Callable[[], object], *, warmup: int = 2, repeats: int = 10) -> dict:
    """Run ``fn()`` ``warmup`` times untimed, then ``repeats`` times: ``{"median_ms", "min_ms", "repeats"}``
    (wall time; on a shared machine the minimum is the least disturbed figure)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "repeats": repeats}
