"""Deploying a YOLO model: ONNX export, onnxruntime inference, agreement with PyTorch, latency.

>>> from course_utils.detection import yolo_export
>>> onnx_path = yolo_export.export_onnx(model, imgsz=640)                 # best.pt -> best.onnx
>>> yolo_export.detect("board.png", onnx_path, conf=0.25)                 # -> dict(boxes, labels, scores)
>>> yolo_export.onnx_agreement(model, onnx_path, images)                  # raw outputs and confident boxes agree?
>>> yolo_export.compare_predictions(found, reference, min_score=0.05)     # two predictions of one image, matched

:func:`detect` needs only ``onnxruntime``, ``numpy``, ``opencv`` and ``torchvision`` (for
NMS), not ultralytics: it re-implements the three steps around the network that
ultralytics' predictor does --

1. **letterbox**: resize the image so its longer side is the model's input size
   (aspect ratio kept, bilinear), pad the rest with grey 114 to a square, RGB, ``/255``;
2. **the network**: output ``(1, 4 + K, A)`` -- per anchor point a box ``cx, cy, w, h``
   (input pixels) and K class scores (already sigmoid);
3. **post-processing**: best class per anchor, drop scores ``< conf``, per-class NMS
   (``iou``), keep ``max_det``, undo the letterbox (subtract the pad, divide by the scale).

Two runtimes never agree to the last bit (another order of floating-point additions gives
another rounding), so agreement is checked where it means something: raw outputs within a
tolerance relative to their scale, and detections matched one to one among those whose
score is clearly above the threshold. A box whose score sits at the threshold (``conf``) can
be kept by one runtime and dropped by the other, and two overlapping boxes of almost equal
score can swap places in NMS: neither says anything about the export, and
:func:`compare_predictions` counts them apart instead of failing on them.

The export itself goes through ultralytics (``format="onnx"``); ``onnx`` and
``onnxslim`` must be installed with the extra, or ultralytics would try to
pip-install them at run time (this module refuses instead, naming the command).
"""
from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
import numpy as np

from course_utils.detection.boxes import cxcywh_to_xyxy
from course_utils.detection.yolo import INSTALL_HINT, require_ultralytics
from course_utils.training.lightweight import onnx_session, require_module

__all__ = ["letterbox", "export_onnx", "OnnxDetector", "postprocess", "detect", "compare_predictions",
           "onnx_agreement"]


def _require(module: str):
    return require_module(module, INSTALL_HINT)


def letterbox(image: np.ndarray, size: int, *, pad_value: int = 114) -> tuple[np.ndarray, float, tuple[float, float]]:
    """ultralytics' letterbox: ``image`` ``uint8 (H, W)`` or ``(H, W, 3)`` BGR -> ``(float32 (1, 3, size, size)
    RGB in [0, 1], scale, (pad_x, pad_y))``; a box in the input maps back as ``(xy - pad) / scale``.

    Taught in: 18_yolo_comparison_export"""
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

    Taught in: 18_yolo_comparison_export"""
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

    def __init__(self, model_path, *, device: str = "auto", threads: int | None = None):
        model_path = Path(model_path)
        # threads: CPU threads; None: onnxruntime's default (all cores)
        self.session = onnx_session(model_path, threads=threads, providers=onnx_providers(device))
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
    """One image's raw output ``(4 + K, A)`` -> prediction dict in original pixels (see the module docstring).

    Used by: course_utils.detection.yolo_export"""
    import torch
    from torchvision.ops import batched_nms

    pred = out.T  # (A, 4 + K)
    cls_scores = pred[:, 4:]
    labels = cls_scores.argmax(1)
    scores = cls_scores[np.arange(len(pred)), labels]
    keep = scores > conf
    cxcywh, labels, scores = pred[keep, :4], labels[keep], scores[keep]
    boxes = cxcywh_to_xyxy(cxcywh)
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
    session is cached per model file (reloaded when the file changes).

    Taught in: 18_yolo_comparison_export"""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"ONNX model {model_path} does not exist; write it with export_onnx(model).")
    detector = _cached_detector(str(model_path.resolve()), model_path.stat().st_mtime, device)
    return detector(image_path, conf=conf, iou=iou, max_det=max_det)


def compare_predictions(found: dict, reference: dict, *, min_score: float, iou: float = 0.99,
                        nms_iou: float = 0.7, score_tol: float = 1e-3) -> dict:
    """Match two predictions of the same image one to one, where the match means something.

    ``found`` and ``reference`` are prediction dicts (``boxes float (k, 4)`` x1 y1 x2 y2 pixels,
    ``labels``, ``scores``), e.g. onnxruntime's and PyTorch's. Only *confident* detections must
    agree: score ``>= min_score`` (choose it well above the ``conf`` both were made with, e.g.
    2x, so that rounding cannot move a box across it). Each confident detection on either side
    needs a partner on the other side (any score) of the same class with IoU ``>= iou``.

    A confident detection without a partner is a *near tie* when the other side kept, in its
    place, a box of the same class overlapping it by ``>= nms_iou`` (the NMS threshold) with a
    score within ``score_tol``: NMS kept the other of two almost equally scored boxes, which a
    difference in the last bits of the scores decides. Anything else is a real disagreement.

    Returns ``matched`` (pairs), ``near_ties``, ``unmatched`` (real disagreements: should be 0),
    ``n_confident_found`` / ``n_confident_reference``, ``max_box_diff`` (largest coordinate
    difference of a matched pair, pixels) and ``max_score_diff`` (of matched pairs).

    Taught in: 18_yolo_comparison_export"""
    from course_utils.detection.boxes import box_iou

    sides = []
    for name, pred in (("found", found), ("reference", reference)):
        b = np.asarray(pred["boxes"], dtype=np.float64).reshape(-1, 4)
        lab = np.asarray(pred["labels"]).reshape(-1)
        sc = np.asarray(pred["scores"], dtype=np.float64).reshape(-1)
        if not len(b) == len(lab) == len(sc):
            raise ValueError(f"{name} has {len(b)} boxes, {len(lab)} labels and {len(sc)} scores; they must agree.")
        sides.append((b, lab, sc))
    (b1, l1, s1), (b2, l2, s2) = sides
    same = (l1[:, None] == l2[None, :]) if len(b1) and len(b2) else np.zeros((len(b1), len(b2)), bool)
    overlap = box_iou(b1, b2) if len(b1) and len(b2) else np.zeros((len(b1), len(b2)))
    candidate = same & (overlap >= iou)
    # Greedy one-to-one matching, the most confident detections first.
    taken1, taken2, pairs = set(), set(), []
    for i, j in sorted(zip(*np.nonzero(candidate)), key=lambda ij: (-max(s1[ij[0]], s2[ij[1]]), -overlap[ij])):
        if i not in taken1 and j not in taken2 and max(s1[i], s2[j]) >= min_score:
            taken1.add(i), taken2.add(j), pairs.append((i, j))
    near = same & (overlap >= nms_iou)
    ties1, real1 = _unpaired(np.nonzero(s1 >= min_score)[0], taken1, near, s1, s2, score_tol)
    ties2, real2 = _unpaired(np.nonzero(s2 >= min_score)[0], taken2, near.T, s2, s1, score_tol)
    near_ties, unmatched = ties1 + ties2, real1 + real2
    pi = np.array([p[0] for p in pairs], dtype=int)
    pj = np.array([p[1] for p in pairs], dtype=int)
    return {"matched": len(pairs), "near_ties": near_ties, "unmatched": unmatched,
            "n_confident_found": int((s1 >= min_score).sum()), "n_confident_reference": int((s2 >= min_score).sum()),
            "max_box_diff": float(np.abs(b1[pi] - b2[pj]).max()) if len(pairs) else 0.0,
            "max_score_diff": float(np.abs(s1[pi] - s2[pj]).max()) if len(pairs) else 0.0}


def _unpaired(confident, taken, near, own_scores, other_scores, score_tol: float) -> tuple[int, int]:
    """(near ties, real disagreements) among the ``confident`` detections of one side left without a partner."""
    ties = real = 0
    for i in confident:
        if i in taken:
            continue
        if np.any(near[i] & (np.abs(other_scores - own_scores[i]) <= score_tol)):
            ties += 1
        else:
            real += 1
    return ties, real


def onnx_agreement(model, onnx_path, images, *, conf: float = 0.25, iou: float = 0.7,
                   min_score: float | None = None) -> dict:
    """PyTorch vs onnxruntime on the same letterboxed inputs of ``images`` (``uint8 (N, H, W)`` or a list).

    Raw outputs: ``max_abs_diff`` (largest ``|PyTorch - ONNX|`` over all outputs: box
    coordinates in input pixels and class scores), ``output_scale`` (largest ``|output|``),
    ``max_rel_diff`` (``max_abs_diff / output_scale``) and ``max_abs_score_diff`` (scores only).
    Detections: both outputs are post-processed at ``conf`` and ``iou`` and compared with
    :func:`compare_predictions` among scores ``>= min_score`` (default ``2 * conf``); the counts
    ``matched``, ``near_ties``, ``unmatched``, ``n_confident_torch`` / ``n_confident_onnx`` are
    summed over the images, ``max_box_diff`` is the largest over them. ``n_boxes_torch`` /
    ``n_boxes_onnx`` count every box kept at ``conf``: those may differ at the threshold.

    Taught in: 18_yolo_comparison_export"""
    import torch

    min_score = 2 * conf if min_score is None else min_score
    detector = OnnxDetector(onnx_path, device="cpu")
    net = model.model.float().eval()
    device = next(net.parameters()).device
    worst = worst_score = scale = box_diff = 0.0
    totals = dict.fromkeys(("matched", "near_ties", "unmatched", "n_confident_torch", "n_confident_onnx",
                            "n_boxes_torch", "n_boxes_onnx"), 0)
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
        p_torch = postprocess(y[0], scale=r, pad=pad, shape=shape, conf=conf, iou=iou)
        p_onnx = postprocess(z[0], scale=r, pad=pad, shape=shape, conf=conf, iou=iou)
        c = compare_predictions(p_onnx, p_torch, min_score=min_score, nms_iou=iou)
        for key in ("matched", "near_ties", "unmatched"):
            totals[key] += c[key]
        totals["n_confident_torch"] += c["n_confident_reference"]
        totals["n_confident_onnx"] += c["n_confident_found"]
        totals["n_boxes_torch"] += len(p_torch["boxes"])
        totals["n_boxes_onnx"] += len(p_onnx["boxes"])
        box_diff = max(box_diff, c["max_box_diff"])
    return {"max_abs_diff": worst, "max_abs_score_diff": worst_score, "output_scale": scale,
            "max_rel_diff": worst / scale if scale else 0.0, "min_score": min_score, "max_box_diff": box_diff,
            **totals}
