"""Box formats of detection data sets: DeepPCB txt, YOLO txt and COCO json.

All conversions start from the kit's convention (``float32 (k, 4)`` boxes
``x1, y1, x2, y2`` in pixels, ``int64`` class ids 1..6) and come back to it
exactly:

* **DeepPCB txt** - one box per line, ``x1 y1 x2 y2 type`` in integer pixels.
  The real files separate the fields with spaces although the data set's
  README shows commas; the reader accepts both.
* **YOLO txt** - one box per line, ``class cx cy w h`` with the centre and the
  size normalised by the image width and height, and ``class = id - 1``
  (YOLO counts classes from 0). Numbers are written with Python's shortest
  round-trip representation, so reading gives back the same boxes.
* **COCO json** - one dict with ``images``, ``annotations`` (``bbox`` as
  ``[x, y, w, h]``, a rectangle ``segmentation`` polygon and its ``area``) and
  ``categories`` (ids 1..6 with their names); loads with ``pycocotools``.

``box_table`` and ``dataset_summary`` describe a data set (boxes per class,
sizes, aspect ratios).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from course_utils.core.config import atomic_write
from course_utils.detection.boxes import as_boxes, cxcywh_to_xyxy, xyxy_to_cxcywh

__all__ = [
    "xyxy_to_yolo", "yolo_to_xyxy", "read_deeppcb_annotation", "write_deeppcb_annotation",
    "write_yolo_labels", "read_yolo_labels", "to_coco", "from_coco", "box_table", "dataset_summary",
    "check_boxes", "image_size",
]

_FIELDS = re.compile(r"[,\s]+")


def _as_labels(labels, n: int, name: str = "labels") -> np.ndarray:
    arr = np.asarray(labels).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries for {n} boxes; give one class id per box.")
    if arr.size and not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ValueError(f"{name} must hold integer class ids; got {arr!r}.")
    return arr.astype(np.int64)


def check_boxes(boxes, labels, *, width: int, height: int, n_classes: int = 6, where: str = "boxes") -> None:
    """Raise ``ValueError`` unless every box lies inside a ``width`` x ``height`` image
    (``0 <= x1 < x2 <= width``, ``0 <= y1 < y2 <= height``, so a box has positive area)
    and every label is a class id in ``1..n_classes``. ``where`` names the source in the message.

    Used by: course_utils.detection.yolo_data, tests/detection/test_detection_data.py"""
    b = as_boxes(boxes, where, corners=False)   # the shape here; the values below, with the box's number
    lab = _as_labels(labels, len(b))
    for i, (x1, y1, x2, y2) in enumerate(b):
        if not (x2 > x1 and y2 > y1):
            raise ValueError(f"{where}: box {i} ({x1:g}, {y1:g}, {x2:g}, {y2:g}) has zero area "
                             "(need x2 > x1 and y2 > y1).")
        if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
            raise ValueError(f"{where}: box {i} ({x1:g}, {y1:g}, {x2:g}, {y2:g}) lies outside the "
                             f"{width}x{height} image.")
    bad = np.flatnonzero((lab < 1) | (lab > n_classes))
    if bad.size:
        raise ValueError(f"{where}: box {bad[0]} has unknown class id {lab[bad[0]]} "
                         f"(valid ids: 1..{n_classes}; 0 is the unused background).")


# ---------------------------------------------------------------------------
# YOLO (normalised centre, size)
# ---------------------------------------------------------------------------
def xyxy_to_yolo(boxes, width: float, height: float) -> np.ndarray:
    """Pixel boxes ``(k, 4)`` ``x1, y1, x2, y2`` -> ``float64 (k, 4)`` ``cx, cy, w, h``
    normalised by the image ``width`` and ``height`` (pixels): ``boxes.xyxy_to_cxcywh`` scaled.
    Corners in the wrong order (``x2 < x1``) or NaN raise ``ValueError`` (no negative sizes in a label file).

    Used by: solutions/13_pcb_detection_data_solutions, tests/detection/test_detection_data.py"""
    b = as_boxes(boxes)
    return xyxy_to_cxcywh(b) / _image_scale(width, height)


def yolo_to_xyxy(boxes, width: float, height: float) -> np.ndarray:
    """Inverse of :func:`xyxy_to_yolo`: normalised ``cx, cy, w, h`` -> ``float32 (k, 4)`` pixels
    (``boxes.cxcywh_to_xyxy`` of the boxes scaled to pixels).

    Used by: tests/detection/test_detection_data.py"""
    b = as_boxes(boxes, corners=False)
    return cxcywh_to_xyxy(b * _image_scale(width, height)).astype(np.float32)


def _image_scale(width: float, height: float) -> np.ndarray:
    """``float64 [width, height, width, height]``; raises ``ValueError`` unless both are positive pixels."""
    scale = np.array([width, height, width, height], dtype=np.float64)
    if np.any(scale <= 0):
        raise ValueError(f"width={width!r} and height={height!r} must be positive (pixels).")
    return scale


def _read_rows(path, parse, expected: str) -> list[tuple[int, list]]:
    """``(line number, parse(fields))`` for the non-blank lines of ``path`` (fields split at spaces
    and commas); a line with other than 5 fields, or that ``parse`` rejects with ``ValueError``,
    raises ``ValueError`` naming the file, the line number and the ``expected`` form."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Annotation file {path} does not exist.")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = [f for f in _FIELDS.split(line.strip()) if f]
        if not fields:
            continue
        try:
            if len(fields) != 5:
                raise ValueError
            rows.append((number, parse(fields)))
        except ValueError:
            raise ValueError(f"{path}, line {number}: expected {expected}, got {' '.join(fields)!r}.") from None
    return rows


def write_yolo_labels(path, boxes, labels, width: int, height: int) -> Path:
    """Write one YOLO label file: ``class cx cy w h`` per line, ``class = id - 1``.
    An image without boxes gets an empty file (YOLO's convention for background images).

    Taught in: 13_pcb_detection_data"""
    b = xyxy_to_yolo(boxes, width, height)
    lab = _as_labels(labels, len(b))
    if np.any(lab < 1):
        raise ValueError(f"labels must be class ids >= 1 (id 0 is the unused background); got {lab.tolist()}.")
    text = "".join(f"{c - 1} " + " ".join(repr(float(v)) for v in row) + "\n" for c, row in zip(lab, b))
    return atomic_write(path, lambda f: f.write(text.encode()))


def read_yolo_labels(path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Read a YOLO label file -> ``(boxes float32 (k, 4) x1 y1 x2 y2 pixels, labels int64 (k,) ids 1..)``.

    Taught in: 13_pcb_detection_data"""
    rows = _read_rows(path, lambda f: [int(f[0]) + 1] + [float(v) for v in f[1:]],
                      "'class cx cy w h' (5 numbers, integer class)")
    data = [values for _, values in rows]
    arr = np.asarray(data, dtype=np.float64).reshape(-1, 5)
    return yolo_to_xyxy(arr[:, 1:], width, height), arr[:, 0].astype(np.int64)


# ---------------------------------------------------------------------------
# DeepPCB txt
# ---------------------------------------------------------------------------
def read_deeppcb_annotation(path, *, width: int | None = None, height: int | None = None,
                            n_classes: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Read one DeepPCB annotation file (``x1 y1 x2 y2 type`` per line, space or comma separated).

    Returns ``(boxes float32 (k, 4), labels int64 (k,))``. A line that is not five
    integers raises ``ValueError`` naming the file and line number; so does a box of
    zero area, a class id outside ``1..n_classes`` and, when ``width`` and ``height``
    are given, a box outside the image.

    Used by: course_utils.detection.deeppcb, tests/detection/test_detection_data.py"""
    rows = _read_rows(path, lambda f: [int(v) for v in f],
                      "'x1 y1 x2 y2 type' (5 integers separated by spaces or commas)")
    for number, (x1, y1, x2, y2, cls) in rows:
        check_boxes([[x1, y1, x2, y2]], [cls], width=width if width is not None else np.inf,
                    height=height if height is not None else np.inf, n_classes=n_classes,
                    where=f"{path}, line {number}")
    data = [values for _, values in rows]
    arr = np.asarray(data, dtype=np.int64).reshape(-1, 5)
    return arr[:, :4].astype(np.float32), arr[:, 4].copy()


def write_deeppcb_annotation(path, boxes, labels, *, sep: str = " ") -> Path:
    """Write one DeepPCB annotation file, ``x1 y1 x2 y2 type`` per line (``sep=","`` for the
    README's comma style). DeepPCB stores integer pixels: non-integer boxes, and corners in the wrong order
    (a file the reader would refuse), raise ``ValueError``.

    Taught in: 13_pcb_detection_data"""
    b = as_boxes(boxes)
    lab = _as_labels(labels, len(b))
    if not np.all(b == np.round(b)):
        raise ValueError("DeepPCB annotations hold integer pixel coordinates; round the boxes first "
                         "(e.g. np.round(boxes)).")
    if sep not in (" ", ","):
        raise ValueError(f"sep={sep!r} must be ' ' (the real files) or ',' (the data set's README).")
    text = "".join(sep.join(str(int(v)) for v in (*row, c)) + "\n" for row, c in zip(b, lab))
    return atomic_write(path, lambda f: f.write(text.encode()))


# ---------------------------------------------------------------------------
# COCO json
# ---------------------------------------------------------------------------
def to_coco(dataset) -> dict:
    """A ``DetectionSet`` -> a COCO detection dict (``images``, ``annotations``, ``categories``).

    Image ids are ``1..N`` in data-set order with ``file_name`` ``"<image_id>.jpg"``;
    annotation ids run ``1..K``; ``bbox`` is ``[x1, y1, w, h]`` (pixels), ``area = w * h``,
    ``segmentation`` the box as one polygon, ``iscrowd = 0``.

    Taught in: 13_pcb_detection_data"""
    height, width = dataset.images.shape[1:3]
    images, annotations = [], []
    for i, (name, boxes, labels) in enumerate(zip(dataset.image_ids, dataset.boxes, dataset.labels), start=1):
        images.append({"id": i, "file_name": f"{name}.jpg", "width": int(width), "height": int(height)})
        for (x1, y1, x2, y2), c in zip(np.asarray(boxes, dtype=np.float64), labels):
            w, h = x2 - x1, y2 - y1
            annotations.append({
                "id": len(annotations) + 1, "image_id": i, "category_id": int(c),
                "bbox": [float(x1), float(y1), float(w), float(h)], "area": float(w * h), "iscrowd": 0,
                "segmentation": [[float(x1), float(y1), float(x2), float(y1), float(x2), float(y2),
                                  float(x1), float(y2)]],
            })
    categories = [{"id": k + 1, "name": name, "supercategory": "defect"}
                  for k, name in enumerate(dataset.class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def from_coco(coco: dict) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """A COCO detection dict -> ``(image_ids, boxes, labels)`` in the order of ``coco["images"]``.

    ``image_ids`` are the file stems; ``boxes[i]`` is ``float32 (k, 4)`` ``x1 y1 x2 y2``,
    ``labels[i]`` ``int64 (k,)`` category ids. Inverse of :func:`to_coco`.

    Taught in: 13_pcb_detection_data"""
    for key in ("images", "annotations"):
        if key not in coco:
            raise ValueError(f"coco has no {key!r} list; expected a COCO detection dict "
                             "with 'images', 'annotations' and 'categories'.")
    order = {img["id"]: k for k, img in enumerate(coco["images"])}
    per_image: list[list] = [[] for _ in order]
    for ann in coco["annotations"]:
        if ann["image_id"] not in order:
            raise ValueError(f"annotation {ann.get('id')} refers to image_id {ann['image_id']}, "
                             "which is not in coco['images'].")
        per_image[order[ann["image_id"]]].append(ann)
    ids, boxes, labels = [], [], []
    for img, anns in zip(coco["images"], per_image):
        ids.append(Path(img["file_name"]).stem)
        xywh = np.asarray([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        boxes.append(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1).astype(np.float32))
        labels.append(np.asarray([a["category_id"] for a in anns], dtype=np.int64))
    return ids, boxes, labels


# ---------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------
def box_table(dataset) -> pd.DataFrame:
    """One row per box: ``image`` (index), ``image_id``, ``label`` (id), ``class``,
    ``x1 y1 x2 y2``, ``width``, ``height``, ``area`` (pixels) and ``aspect`` (width / height).

    Taught in: 13_pcb_detection_data"""
    counts = np.array([len(b) for b in dataset.boxes], dtype=np.int64)
    boxes = np.concatenate([np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in dataset.boxes]
                           or [np.zeros((0, 4))])
    labels = np.concatenate([np.asarray(lab, dtype=np.int64) for lab in dataset.labels] or [np.zeros(0, int)])
    image = np.repeat(np.arange(len(counts)), counts)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    names = np.asarray(dataset.class_names, dtype=object)
    return pd.DataFrame({
        "image": image, "image_id": np.asarray(dataset.image_ids, dtype=object)[image], "label": labels,
        "class": names[labels - 1] if labels.size else np.zeros(0, object),
        "x1": boxes[:, 0], "y1": boxes[:, 1], "x2": boxes[:, 2], "y2": boxes[:, 3],
        "width": w, "height": h, "area": w * h, "aspect": w / np.where(h > 0, h, np.nan),
    })


def dataset_summary(dataset) -> pd.DataFrame:
    """Per-class summary of a data set, one row per class plus ``"all"``.

    Columns: ``boxes``, ``images`` (images holding the class), ``width`` / ``height``
    (median, pixels), ``area_median`` and ``area_p10`` / ``area_p90`` (pixels),
    ``aspect_median`` (width / height) and ``share`` (fraction of all boxes).

    Taught in: 13_pcb_detection_data"""
    table = box_table(dataset)
    rows = {}
    groups: Sequence = [(name, table[table["class"] == name]) for name in dataset.class_names]
    for name, part in [*groups, ("all", table)]:
        rows[name] = {
            "boxes": len(part), "images": part["image"].nunique(),
            "width": part["width"].median(), "height": part["height"].median(),
            "area_median": part["area"].median(), "area_p10": part["area"].quantile(0.1),
            "area_p90": part["area"].quantile(0.9), "aspect_median": part["aspect"].median(),
            "share": len(part) / max(len(table), 1),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "class"
    return out


def image_size(path, *, decode: bool = False) -> tuple[int, int]:
    """``(width, height)`` in pixels of the image file ``path``, read from its header (``decode=True``: the
    whole file is decoded, so a truncated file fails here rather than later in a widget or a loader).

    Raises ``FileNotFoundError`` if there is no such file and ``ValueError`` naming the file if it cannot be
    read as an image.

    Used by: course_utils.detection.yolo_data, course_utils.detection.labeling"""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image {path} does not exist.")
    try:
        with Image.open(path) as im:
            if decode:
                im.load()
            return int(im.width), int(im.height)
    # ImportError: once ultralytics is imported it patches Image.open, which then tries an optional HEIF
    # decoder (pi_heif) on a file PIL cannot identify; the file is unreadable all the same.
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, ImportError) as exc:
        raise ValueError(f"Cannot read image {path}: {exc}. Give a PNG or JPEG file, or move it out of "
                         "the folder.") from None
