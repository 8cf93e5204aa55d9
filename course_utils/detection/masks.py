"""Defect masks: derived from DeepPCB pairs, exact from the twin, checked, and in the usual formats.

DeepPCB pairs are binarised and aligned, so a defect's pixels are where the test image
differs from its template *inside the defect's box*; no hand labelling is needed.
:func:`derive_masks` does this for every pair of a :class:`~course_utils.detection.pcb.DetectionSet`
and :func:`mask_statistics` says how well each mask is defined (pixels per box, boxes with no
differing pixel). :func:`synthetic_pcb_masks` returns the twin's exact masks (the pixels each
drawn defect changed, before the scan noise that the twin's test images get by default).

Conventions: an *instance image* is ``uint8 (H, W)`` with 0 = background and ``j`` (1..k) = the
pixels of box ``j - 1``; a *label image* (semantic) is ``uint8 (H, W)`` with the class id 1..6 of
the defect (0 = background). Formats (each with a reader, tested by round trips):

* PNG label images (:func:`write_label_png`, :func:`read_label_png`; lossless, exact);
* COCO RLE (:func:`rle_encode`, :func:`rle_decode`; column-major run lengths, as pycocotools);
* polygons (:func:`mask_to_polygons`, :func:`polygons_to_mask`; OpenCV contours, exact for
  4-connected shapes without holes);
* YOLO segmentation labels (:func:`yolo_seg_lines`, :func:`read_yolo_seg_labels`,
  :func:`write_yolo_seg_dataset`): ``class x1 y1 x2 y2 ...`` normalised by the image size.

Bad input (a mask of another shape than its image, a class id out of range, an empty mask
where a polygon is needed, a polygon with fewer than 3 points) raises ``ValueError`` naming
the pair (``where``) and the fix.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
import pandas as pd

from course_utils.core.checks import check_int
from course_utils.core.config import atomic_write
from course_utils.detection import twin as det_twin
from course_utils.detection.classical import difference_mask
from course_utils.detection.pcb import PCB_CLASSES, DetectionSet

__all__ = [
    "check_mask", "derive_instance_mask", "derive_masks", "mask_statistics", "mask_summary",
    "semantic_mask", "stray_difference", "synthetic_pcb_masks", "write_label_png", "read_label_png", "rle_encode",
    "rle_decode",
    "mask_to_polygons", "polygons_to_mask", "yolo_seg_lines", "read_yolo_seg_labels",
    "write_yolo_seg_dataset",
]


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------
def check_mask(mask, shape, *, where: str = "mask") -> np.ndarray:
    """``mask`` as a 2-D ``uint8`` array of the image's ``(H, W)`` ``shape``, or ``ValueError`` naming ``where``.

    Taught in: 19_defect_segmentation"""
    arr = np.asarray(mask)
    shape = tuple(int(s) for s in shape[:2])
    if arr.ndim != 2 or arr.shape != shape:
        raise ValueError(f"{where}: the mask has shape {arr.shape} but its image is {shape}; derive or resize the "
                         "mask with the image (nearest neighbour) so that both have the same height and width.")
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer) or (arr.size and (arr.min() < 0 or arr.max() > 255)):
        raise ValueError(f"{where}: a mask holds integer ids 0..255; got dtype {arr.dtype}.")
    return arr.astype(np.uint8, copy=False)


def _check_class_ids(labels, n_classes: int = len(PCB_CLASSES), *, where: str = "labels") -> np.ndarray:
    """``int64 (k,)`` class ids, each in 1..``n_classes``, or ``ValueError`` naming ``where`` and the bad id."""
    arr = np.asarray(labels).reshape(-1)
    if arr.size and not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ValueError(f"{where}: class ids must be integers; got {arr!r}.")
    arr = arr.astype(np.int64)
    bad = arr[(arr < 1) | (arr > n_classes)]
    if bad.size:
        raise ValueError(f"{where}: class id {int(bad[0])} is out of range 1..{n_classes}; use the data set's ids "
                         f"(1 = {PCB_CLASSES[0]} ... {n_classes}), not YOLO's 0-based ones.")
    return arr


def _check_polygon(polygon, *, where: str = "polygon") -> np.ndarray:
    """``float64 (m, 2)`` x, y points (m >= 3) from a flat ``[x1, y1, ...]`` list or an ``(m, 2)`` array."""
    arr = np.asarray(polygon, dtype=np.float64)
    if arr.ndim == 1:
        if arr.size % 2:
            raise ValueError(f"{where}: a flat polygon needs an even number of values (x1, y1, x2, y2, ...); "
                             f"got {arr.size}.")
        arr = arr.reshape(-1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{where}: a polygon is (m, 2) x, y points; got shape {arr.shape}.")
    if len(arr) < 3:
        raise ValueError(f"{where}: a polygon with {len(arr)} points encloses no area; it needs at least 3 points "
                         "(drop the instance, or describe a 1-2 pixel defect by its mask or box).")
    return arr


# ---------------------------------------------------------------------------
# Derivation from pairs
# ---------------------------------------------------------------------------
def _difference(test, template, threshold: int, open_size: int) -> np.ndarray:
    """``bool (H, W)``: binarised test XOR template, opened with a ``open_size`` square. The dilation uses
    the reflected anchor, so an even kernel (2x2) opens in place instead of shifting the mask by a pixel."""
    diff = difference_mask(test, template, threshold=threshold, open_size=1)
    if not isinstance(open_size, (int, np.integer)) or open_size < 1:
        raise ValueError(f"open_size={open_size!r} must be a positive integer (kernel side in pixels; 1: no opening).")
    if open_size > 1:
        k, a = np.ones((open_size, open_size), np.uint8), open_size // 2
        diff = cv2.dilate(cv2.erode(diff, k, anchor=(a, a)), k, anchor=(open_size - 1 - a, open_size - 1 - a))
    return diff.astype(bool)


def derive_instance_mask(test, template, boxes, *, threshold: int = 128, open_size: int = 2,
                         where: str = "pair") -> np.ndarray:
    """Instance image ``uint8 (H, W)`` of one aligned pair: pixel ``j`` (1..k) where the binarised test and
    template differ inside box ``j - 1`` (``boxes`` ``(k, 4)`` x1 y1 x2 y2 pixels); 0 elsewhere.

    ``open_size``: side of an opening that drops 1-pixel alignment edges (2, the default; 1: none; on the
    real sample 75 % of the differing pixels lie outside every box at 2, 85 % at 1: edges, not defects).
    A pixel inside two boxes goes to the smaller box. A box with no differing pixel stays empty (see :func:`mask_statistics`).

    Used by: tests/detection/test_masks.py"""
    test, template = np.asarray(test), np.asarray(template)
    if test.shape != template.shape:
        raise ValueError(f"{where}: test {test.shape} and template {template.shape} differ in size; "
                         "masks are derived from aligned pairs of the same size.")
    diff = _difference(test, template, threshold, open_size)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) > 255:
        raise ValueError(f"{where}: {len(boxes)} boxes do not fit a uint8 instance image (at most 255).")
    h, w = diff.shape
    inst = np.zeros((h, w), dtype=np.uint8)
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")
    for j in order:  # largest first, so a smaller box overwrites a larger one where they overlap
        x1, y1 = int(np.floor(max(boxes[j, 0], 0))), int(np.floor(max(boxes[j, 1], 0)))
        x2, y2 = int(np.ceil(min(boxes[j, 2], w))), int(np.ceil(min(boxes[j, 3], h)))
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"{where}: box {j} {boxes[j].tolist()} is empty or outside the {w}x{h} image.")
        inst[y1:y2, x1:x2][diff[y1:y2, x1:x2]] = j + 1
    return inst


def derive_masks(ds: DetectionSet, *, threshold: int = 128, open_size: int = 2) -> np.ndarray:
    """Instance images ``uint8 (N, H, W)`` of every pair of ``ds`` (see :func:`derive_instance_mask`).

    Needs ``ds.templates`` (the real DeepPCB folder, the shared sample, the full download and the twin
    all have them).

    Taught in: 19_defect_segmentation"""
    if ds.templates is None:
        raise ValueError("derive_masks needs the templates: load the pairs with templates=True.")
    out = np.zeros(ds.images.shape, dtype=np.uint8)
    for i in range(len(ds)):
        where = f"pair {ds.image_ids[i]}"
        _check_class_ids(ds.labels[i], len(ds.class_names), where=where)
        out[i] = derive_instance_mask(ds.images[i], ds.templates[i], ds.boxes[i], threshold=threshold,
                                      open_size=open_size, where=where)
    return out


def semantic_mask(instances, labels, *, where: str = "mask") -> np.ndarray:
    """Label image ``uint8 (H, W)`` (class id 1..6, 0 background) from an instance image and its ``labels``.

    Taught in: 19_defect_segmentation"""
    inst = np.asarray(instances)
    labels = _check_class_ids(labels, where=where)
    if inst.size and inst.max() > len(labels):
        raise ValueError(f"{where}: instance id {int(inst.max())} has no label ({len(labels)} labels).")
    lut = np.concatenate([[0], labels]).astype(np.uint8)
    return lut[inst]


def mask_statistics(ds: DetectionSet, instances: np.ndarray) -> pd.DataFrame:
    """One row per box: ``image_id, box, class, box_pixels, mask_pixels, fill`` (mask / box pixels).

    Taught in: 19_defect_segmentation"""
    rows = []
    for i in range(len(ds)):
        counts = np.bincount(check_mask(instances[i], ds.images[i].shape, where=f"pair {ds.image_ids[i]}").ravel(),
                             minlength=len(ds.boxes[i]) + 1)
        for j, (b, lab) in enumerate(zip(np.asarray(ds.boxes[i]).reshape(-1, 4), ds.labels[i])):
            area = float((b[2] - b[0]) * (b[3] - b[1]))
            rows.append((ds.image_ids[i], j, ds.class_names[int(lab) - 1], area, int(counts[j + 1]),
                         counts[j + 1] / area))
    return pd.DataFrame(rows, columns=["image_id", "box", "class", "box_pixels", "mask_pixels", "fill"])


def mask_summary(stats: pd.DataFrame) -> pd.DataFrame:
    """Per class and overall: boxes, empty masks (no differing pixel), median mask pixels, median fill.

    Taught in: 19_defect_segmentation"""
    def one(g):
        return pd.Series({"boxes": len(g), "empty": int((g["mask_pixels"] == 0).sum()),
                          "median_pixels": float(g["mask_pixels"].median()), "median_fill": float(g["fill"].median())})
    table = stats.groupby("class", sort=False).apply(one, include_groups=False)
    table = table.reindex([c for c in PCB_CLASSES if c in table.index])
    table.loc["all"] = one(stats)
    table[["boxes", "empty"]] = table[["boxes", "empty"]].astype(int)
    return table


def stray_difference(ds: DetectionSet, instances: np.ndarray, *, threshold: int = 128,
                     open_size: int = 2) -> np.ndarray:
    """``float64 (N,)`` share of each pair's differing pixels that lie outside every box (alignment
    edges, unlabelled changes): how much of the difference a box-free derivation would wrongly keep.

    Taught in: 19_defect_segmentation"""
    out = np.zeros(len(ds))
    for i in range(len(ds)):
        diff = _difference(ds.images[i], ds.templates[i], threshold, open_size)
        out[i] = (diff & (instances[i] == 0)).sum() / max(int(diff.sum()), 1)
    return out


def synthetic_pcb_masks(n_pairs: int, *, size: int = 640, seed=0, n_jobs: int | None = None,
                        scan_noise: bool = True):
    """``(DetectionSet, instances uint8 (n, size, size))``: twin pairs (the same as
    ``twin.make_synthetic_pcb`` with these arguments) and the exact pixels of every drawn defect.

    With ``scan_noise=True`` (the default, as the twin) the test images carry a scan's edge noise and the
    masks are the defects as drawn before it, so a mask derived from the pair (:func:`derive_masks`) differs
    from them along the edges; with ``scan_noise=False`` test and template differ exactly at the masks' pixels.

    Taught in: 19_defect_segmentation"""
    check_int(n_pairs, "n_pairs", minimum=1)
    check_int(size, "size", minimum=128)
    *pairs, inst = det_twin.generate_pairs(int(n_pairs), size=int(size), seed=seed, n_jobs=n_jobs, masks=True,
                                           scan_noise=bool(scan_noise))
    return det_twin.pairs_to_set(*pairs, seed=seed, scan_noise=scan_noise), inst


# ---------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------
def write_label_png(path, mask) -> Path:
    """Write a ``uint8 (H, W)`` label or instance image as a lossless 8-bit PNG (atomically).

    Taught in: 19_defect_segmentation"""
    from PIL import Image

    arr = check_mask(mask, np.shape(mask), where=str(path))
    buf = io.BytesIO()
    Image.fromarray(arr, mode="L").save(buf, format="PNG")
    return atomic_write(path, lambda f: f.write(buf.getvalue()))


def read_label_png(path, shape=None) -> np.ndarray:
    """``uint8 (H, W)`` from a PNG label image; with ``shape``, checked against the image's ``(H, W)``.

    Taught in: 19_defect_segmentation"""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.array(im)
    if arr.ndim != 2:
        raise ValueError(f"{path}: a label PNG is single-channel (mode L); got shape {arr.shape}.")
    return arr if shape is None else check_mask(arr, shape, where=str(path))


def rle_encode(mask) -> dict:
    """COCO uncompressed RLE of a binary mask: ``{"size": [H, W], "counts": [...]}``, runs in column-major
    order starting with a run of zeros (pycocotools' ``frPyObjects`` reads it).

    Taught in: 19_defect_segmentation"""
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2:
        raise ValueError(f"rle_encode needs a 2-D mask; got shape {m.shape}.")
    flat = m.ravel(order="F")
    bounds = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts  # COCO RLE starts with a run of zeros
    return {"size": [int(m.shape[0]), int(m.shape[1])], "counts": [int(c) for c in counts]}


def rle_decode(rle: Mapping) -> np.ndarray:
    """``uint8 (H, W)`` 0/1 mask from an uncompressed COCO RLE (:func:`rle_encode`).

    Taught in: 19_defect_segmentation"""
    h, w = (int(v) for v in rle["size"])
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if isinstance(rle["counts"], (str, bytes)) or counts.ndim != 1 or counts.sum() != h * w or (counts < 0).any():
        raise ValueError(f"RLE counts must be non-negative run lengths summing to H*W={h * w} (uncompressed COCO RLE; "
                         "decode a compressed string with pycocotools.mask.decode).")
    values = np.arange(len(counts)) % 2
    return np.repeat(values, counts).astype(np.uint8).reshape((w, h)).T.copy()


def mask_to_polygons(mask, *, where: str = "mask", min_points: int = 3) -> list[np.ndarray]:
    """Outer contours of a binary mask: ``float64 (m, 2)`` x, y pixel points each (OpenCV, every boundary
    pixel kept). Contours with fewer than ``min_points`` points (1-2 pixel specks) are dropped; an empty
    mask raises ``ValueError`` (nothing to describe: drop the instance).

    Taught in: 19_defect_segmentation"""
    m = np.asarray(mask).astype(np.uint8)
    if not m.any():
        raise ValueError(f"{where}: the mask is empty, so it has no polygon; drop this instance (its box has no "
                         "differing pixel) or keep it as a box-only annotation.")
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    polys = [c.reshape(-1, 2).astype(np.float64) for c in contours if len(c) >= min_points]
    return polys


def polygons_to_mask(polygons: Sequence, shape, *, where: str = "polygons") -> np.ndarray:
    """``uint8 (H, W)`` 0/1: the filled polygons (each ``(m, 2)`` x, y pixel points or a flat list, m >= 3).

    Taught in: 19_defect_segmentation"""
    h, w = (int(s) for s in shape[:2])
    out = np.zeros((h, w), dtype=np.uint8)
    pts = [np.round(_check_polygon(p, where=f"{where}[{k}]")).astype(np.int32) for k, p in enumerate(polygons)]
    if pts:
        cv2.fillPoly(out, pts, 1)
        cv2.polylines(out, pts, True, 1)  # the boundary pixels themselves belong to the shape
    return out


def yolo_seg_lines(instances, labels, *, where: str = "mask") -> list[str]:
    """YOLO segmentation label lines ``"c x1 y1 x2 y2 ..."`` (``c = id - 1``, points / image size) of an
    instance image; an instance in several pieces gives one line per piece; empty instances are skipped.

    Taught in: 19_defect_segmentation"""
    inst = np.asarray(instances)
    labels = _check_class_ids(labels, where=where)
    h, w = inst.shape
    lines = []
    for j, lab in enumerate(labels):
        piece = inst == j + 1
        if not piece.any():
            continue
        for poly in mask_to_polygons(piece, where=f"{where}, instance {j}"):
            xy = (poly + 0.5) / np.array([w, h])  # pixel centres, normalised
            lines.append(f"{lab - 1} " + " ".join(f"{v:.6f}" for v in np.clip(xy, 0, 1).ravel()))
    return lines


def read_yolo_seg_labels(path, width: int, height: int, *, n_classes: int = len(PCB_CLASSES)):
    """``(labels int64 (k,) ids 1..n, polygons [float64 (m, 2) pixel points])`` from a YOLO seg label file.

    Used by: tests/detection/test_masks.py"""
    labels, polys = [], []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}, line {n}"
        cls = _check_class_ids([int(fields[0]) + 1], n_classes, where=where)[0]
        pts = _check_polygon([float(v) for v in fields[1:]], where=where)
        labels.append(cls)
        polys.append(pts * np.array([width, height]) - 0.5)
    return np.asarray(labels, dtype=np.int64), polys


def write_yolo_seg_dataset(splits: Mapping, root, *, class_names: Sequence[str] = PCB_CLASSES) -> Path:
    """Write ``{split: (DetectionSet, instances uint8 (N, H, W))}`` as an ultralytics segmentation data set
    (``images/<split>/*.png``, ``labels/<split>/*.txt``, ``data.yaml``); return ``root/data.yaml``.

    Taught in: 19_defect_segmentation"""
    from course_utils.detection.yolo_data import fresh_split_dirs, png_writer, data_yaml_text

    root = Path(root)
    for split, (ds, inst) in splits.items():
        if len(inst) != len(ds):
            raise ValueError(f"split {split!r}: {len(inst)} masks for {len(ds)} images; give one instance image each.")
        img_dir, lab_dir = fresh_split_dirs(root, split)
        for i, name in enumerate(ds.image_ids):
            where = f"split {split!r}, pair {name}"
            m = check_mask(inst[i], ds.images[i].shape, where=where)
            lines = yolo_seg_lines(m, ds.labels[i], where=where)
            atomic_write(img_dir / f"{name}.png", png_writer(ds.images[i]))
            atomic_write(lab_dir / f"{name}.txt", lambda f, t="\n".join(lines): f.write((t + "\n" if t else "").encode()))
    text = data_yaml_text(root, list(splits), tuple(class_names), source="defect masks (course_utils.detection.masks)")
    return atomic_write(root / "data.yaml", lambda f: f.write(text.encode("utf-8")))
