"""YOLO data sets on disk: ``images/``, ``labels/`` and ``data.yaml`` (no ultralytics needed).

Layout written by :func:`write_yolo_dataset` and :func:`write_yolo_dataset_from_files`
(the layout ultralytics reads; each label file sits where its image is, with
``images`` replaced by ``labels`` and the suffix by ``.txt``)::

    ROOT/data.yaml               path (absolute), train/val/test folders, nc, names
    ROOT/images/<split>/<id>.png  one image per file (png: lossless; team images keep their format)
    ROOT/labels/<split>/<id>.txt  'class cx cy w h' per box, normalised, class = id - 1
                                  (an empty file: an image without defects)

Sources:

* a :class:`~course_utils.detection.pcb.DetectionSet` per split (the DeepPCB loader
  or its synthetic twin) -> :func:`write_yolo_dataset`;
* a team's own annotations -> :func:`write_yolo_dataset_from_files`: a folder of
  images plus either a folder of YOLO label files or one COCO json file per split.

Every box is checked on the way (``formats.check_boxes``: inside the image,
positive area, a known class id), so a bad annotation stops the writer with the
file named instead of reaching the training loop. :func:`read_yolo_split` reads a
split back into the kit's convention (``float32 x1 y1 x2 y2`` pixels, ids 1..K).
"""
from __future__ import annotations

import io
import json
import os
import random
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from course_utils.core.config import atomic_write
from course_utils.detection.formats import (check_boxes, from_coco, image_size, read_yolo_labels, write_yolo_labels,
                                            yolo_to_xyxy)
from course_utils.core.checks import check_int, check_real
from course_utils.detection.pcb import PCB_CLASSES, DetectionSet

__all__ = ["data_yaml_text", "write_yolo_dataset", "write_yolo_dataset_from_files",
           "read_yolo_split", "augmented_samples", "plot_augmented", "fresh_split_dirs", "png_writer", "defect_crops"]

#: Split names ultralytics reads from data.yaml (``test`` is optional).
SPLITS = ("train", "val", "test")
#: Image files a team folder may hold (what ultralytics reads).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def data_yaml_text(root, splits: Sequence[str], class_names: Sequence[str], *, source: str = "") -> str:
    """The text of ``data.yaml``: ``path`` (absolute, JSON-quoted so any path is valid YAML),
    one ``<split>: images/<split>`` line per split, ``nc`` and ``names`` (index: name).

    Used by: course_utils.detection.masks"""
    head = f"# YOLO data set written by course_utils.detection.yolo_data{f' from {source}' if source else ''}\n"
    lines = [f"path: {json.dumps(str(Path(root).resolve()))}"]
    lines += [f"{split}: images/{split}" for split in splits]
    lines += [f"nc: {len(class_names)}", "names:"]
    lines += [f"  {k}: {json.dumps(str(name))}" for k, name in enumerate(class_names)]
    return head + "\n".join(lines) + "\n"


def defect_crops(ds: DetectionSet, *, crop: int = 160, per_image: int = 8, seed: int = 0, instances=None,
                 min_visible: float = 0.4):
    """Native-resolution ``crop x crop`` windows around up to ``per_image`` random boxes of each image.

    Why: DeepPCB's defects are 10-30 px on a 640 px image; a from-scratch YOLO trained on whole images
    shrunk to 256-320 px (what a CPU affords) sees 4-15 px objects and learnt nothing in 30-60 epochs,
    while windows keep the defects at their own size for a fraction of the cost of 640 px training. A
    model trained on windows runs on whole 640 px images (the network is convolutional).

    Each window is centred on a box, shifted by up to ``crop / 4`` at random, and kept inside the image.
    A box keeps its part inside the window if at least ``min_visible`` of its area is inside (else it is
    dropped). ``instances`` (``uint8 (N, H, W)`` instance images, :mod:`~course_utils.detection.masks`:
    pixel ``j`` belongs to box ``j - 1``) are cut the same way and renumbered to the kept boxes; the pixels
    of a dropped box become background, as its box does.

    Returns
    -------
    (DetectionSet of the windows, ids ``<image_id>_<box>``, templates cut too if present;
    instance windows ``uint8 (M, crop, crop)`` or None)

    Also used by benchmarks/bench_segmentation.py and benchmarks/bench_lightweight.py.

    Taught in: 23_model_lightweighting"""
    crop, per_image = check_int(crop, "crop", minimum=8), check_int(per_image, "per_image", minimum=1)
    min_visible = check_real(min_visible, "min_visible", minimum=0.0, maximum=1.0)
    h, w = ds.images.shape[1:]
    if crop > min(h, w):
        raise ValueError(f"crop={crop} is larger than the {w}x{h} images; choose crop <= {min(h, w)}.")
    rng = np.random.default_rng(seed)
    keep = {"images": [], "templates": [], "boxes": [], "labels": [], "image_ids": [], "instances": []}
    for i in range(len(ds)):
        boxes = np.asarray(ds.boxes[i], dtype=np.float32).reshape(-1, 4)
        labels = np.asarray(ds.labels[i], dtype=np.int64)
        for j in rng.permutation(len(boxes))[:per_image]:
            centre = (boxes[j, :2] + boxes[j, 2:]) / 2 - crop / 2 + rng.uniform(-crop / 4, crop / 4, size=2)
            x0, y0 = (int(v) for v in np.clip(centre, 0, [w - crop, h - crop]))
            clipped = np.clip(boxes - [x0, y0, x0, y0], 0, crop)
            area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
            inside = np.prod(np.maximum(clipped[:, 2:] - clipped[:, :2], 0), axis=1)
            sel = inside >= min_visible * np.maximum(area, 1e-9)
            win = np.s_[y0:y0 + crop, x0:x0 + crop]
            keep["images"].append(ds.images[i][win])
            if ds.templates is not None:
                keep["templates"].append(ds.templates[i][win])
            if instances is not None:
                lut = np.zeros(256, dtype=np.uint8)  # old instance id -> new id (0: background)
                lut[np.flatnonzero(sel) + 1] = np.arange(1, sel.sum() + 1)
                keep["instances"].append(lut[np.asarray(instances[i])[win]])
            keep["boxes"].append(clipped[sel].astype(np.float32))
            keep["labels"].append(labels[sel])
            keep["image_ids"].append(f"{ds.image_ids[i]}_{j:02d}")
    if not keep["images"]:
        raise ValueError("defect_crops: the images hold no boxes, so there is nothing to crop around.")
    out = DetectionSet(images=np.stack(keep["images"]),
                       templates=np.stack(keep["templates"]) if ds.templates is not None else None,
                       boxes=keep["boxes"],
                       labels=keep["labels"], image_ids=keep["image_ids"], class_names=ds.class_names,
                       source=ds.source, info={**ds.info, "crop": crop, "per_image": per_image, "seed": seed})
    return out, (np.stack(keep["instances"]) if instances is not None else None)


def _check_splits(splits: Mapping, kind: str) -> None:
    if not isinstance(splits, Mapping) or not splits:
        raise ValueError(f"splits must be a dict {{split name: {kind}}} with at least 'train' and 'val'; "
                         f"got {type(splits).__name__}.")
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown split names {unknown}; use {SPLITS} ('test' optional).")
    missing = [s for s in ("train", "val") if s not in splits]
    if missing:
        raise ValueError(f"splits lacks {missing}: ultralytics needs a 'train' and a 'val' split.")


def fresh_split_dirs(root: Path, split: str) -> tuple[Path, Path]:
    """Empty ``images/<split>`` and ``labels/<split>`` (stale files would silently join the split).

    Used by: course_utils.detection.masks"""
    dirs = root / "images" / split, root / "labels" / split
    for d in dirs:
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    cache = root / "labels" / f"{split}.cache"  # ultralytics' label cache of an older version of the split
    if cache.exists():
        cache.unlink()
    return dirs


def png_writer(image: np.ndarray):
    """A ``write(f)`` callback that stores ``image`` in the open binary file ``f`` as a PNG.

    Used by: course_utils.detection.masks"""
    from PIL import Image

    def write(f) -> None:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG", compress_level=1)
        f.write(buf.getvalue())
    return write


def _unique_ids(ids: Sequence[str], where: str) -> None:
    seen: set = set()
    dup = [name for name in ids if name in seen or seen.add(name)]
    if dup:
        raise ValueError(f"{where}: image ids {sorted(set(dup))[:5]} occur twice; file names must be unique.")


def write_yolo_dataset(splits: Mapping, root, *, class_names: Sequence[str] | None = None,
                       jobs: int | None = None) -> Path:
    """Write ``{split: DetectionSet}`` as a YOLO data set under ``root``; return ``root/data.yaml``.

    Parameters
    ----------
    splits : dict
        ``{"train": DetectionSet, "val": DetectionSet[, "test": DetectionSet]}``.
        Images ``uint8 (N, H, W)`` (grayscale) or ``(N, H, W, 3)`` are written as
        ``<image_id>.png``; boxes are checked against the image size and class ids.
    root : path-like
        The data-set folder (created; the split folders are emptied first).
    class_names : names in class-id order (default: the first set's ``class_names``).
    jobs : threads that encode images (default: up to 8).

    Taught in: 17_yolo_training"""
    _check_splits(splits, "DetectionSet")
    root = Path(root)
    names = tuple(class_names if class_names is not None else next(iter(splits.values())).class_names)
    for split, ds in splits.items():
        _unique_ids(ds.image_ids, f"split {split!r}")
        height, width = ds.images.shape[1:3]
        for name, boxes, labels in zip(ds.image_ids, ds.boxes, ds.labels):
            check_boxes(boxes, labels, width=width, height=height, n_classes=len(names),
                        where=f"split {split!r}, image {name}")
    with ThreadPoolExecutor(max_workers=jobs or min(8, os.cpu_count() or 1)) as pool:
        for split, ds in splits.items():
            img_dir, lab_dir = fresh_split_dirs(root, split)
            height, width = ds.images.shape[1:3]
            paths = [img_dir / f"{name}.png" for name in ds.image_ids]
            list(pool.map(lambda path, image: atomic_write(path, png_writer(image)), paths, ds.images))
            for name, boxes, labels in zip(ds.image_ids, ds.boxes, ds.labels):
                write_yolo_labels(lab_dir / f"{name}.txt", boxes, labels, width, height)
    sources = sorted({getattr(ds, "source", "?") for ds in splits.values()})
    text = data_yaml_text(root, list(splits), names, source=f"DetectionSet ({', '.join(sources)})")
    return atomic_write(root / "data.yaml", lambda f: f.write(text.encode("utf-8")))


def _image_files(folder: Path, where: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{where}: image folder {folder} does not exist.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{where}: {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    by_stem: dict[str, Path] = {}
    for p in files:
        if p.stem in by_stem:
            raise ValueError(f"{where}: {by_stem[p.stem].name} and {p.name} share the name {p.stem!r}; "
                             "YOLO pairs images and labels by name, so rename one.")
        by_stem[p.stem] = p
    return by_stem


def _coco_annotations(path: Path, class_names: Sequence[str], where: str) -> dict[str, tuple]:
    """``{file stem: (boxes, ids 1..K)}`` of a COCO json; categories mapped to ``class_names`` by name."""
    try:
        coco = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where}: {path} is not a readable COCO json ({exc}).") from None
    cat_names = {c["id"]: c["name"] for c in coco.get("categories", [])}
    unknown = sorted(set(cat_names.values()) - set(class_names))
    if unknown:
        raise ValueError(f"{where}: {path} has categories {unknown} that are not in class_names {list(class_names)}.")
    remap = {cid: list(class_names).index(name) + 1 for cid, name in cat_names.items()}
    ids, boxes, labels = from_coco(coco)
    out = {}
    for name, b, lab in zip(ids, boxes, labels):
        bad = [int(c) for c in lab if int(c) not in remap]
        if bad:
            raise ValueError(f"{where}: {path}, image {name}: category_id {bad[0]} is not in 'categories'.")
        out[name] = (b, np.array([remap[int(c)] for c in lab], dtype=np.int64))
    return out


def _read_team_split(spec: Mapping, class_names: Sequence[str], where: str) -> list[tuple]:
    """``[(image path, boxes, labels, width, height)]`` of one team split (checked)."""
    if "images" not in spec or sum(k in spec for k in ("labels", "coco")) != 1:
        raise ValueError(f"{where}: give dict(images=folder, labels=YOLO label folder) or "
                         f"dict(images=folder, coco=json file); got keys {sorted(spec)}.")
    images = _image_files(Path(spec["images"]), where)
    coco = _coco_annotations(Path(spec["coco"]), class_names, where) if "coco" in spec else None
    if coco is not None:
        orphans = sorted(set(coco) - set(images))
        if orphans:
            raise ValueError(f"{where}: the COCO file annotates images {orphans[:5]} that are not in {spec['images']}.")
    items = []
    for stem, path in images.items():
        width, height = image_size(path)
        if coco is not None:
            boxes, labels = coco.get(stem, (np.zeros((0, 4), np.float32), np.zeros(0, np.int64)))
        else:
            label_file = Path(spec["labels"]) / f"{stem}.txt"
            boxes, labels = (read_yolo_labels(label_file, width, height) if label_file.is_file()
                             else (np.zeros((0, 4), np.float32), np.zeros(0, np.int64)))
            boxes = np.round(boxes, 3)  # undo float32 noise at the image border (0.9999 * W)
        check_boxes(boxes, labels, width=width, height=height, n_classes=len(class_names),
                    where=f"{where}, image {path.name}")
        items.append((path, boxes, labels, width, height))
    return items


def write_yolo_dataset_from_files(splits: Mapping, root, *, class_names: Sequence[str] = PCB_CLASSES) -> Path:
    """Write a team's own annotated images as a YOLO data set; return ``root/data.yaml``.

    ``splits`` maps split names to ``dict(images=folder, labels=folder)`` (YOLO txt,
    one file per image, a missing file = no boxes) or ``dict(images=folder, coco=file)``
    (COCO json; categories matched to ``class_names`` by name). Images are copied
    unchanged; labels are rewritten in YOLO format after the checks
    (``formats.check_boxes``), so errors name the split, the image and the box.

    Used by: solutions/17_yolo_training_solutions, tests/detection/test_yolo.py"""
    _check_splits(splits, "dict(images=..., labels=... | coco=...)")
    root = Path(root)
    read = {split: _read_team_split(spec, class_names, f"split {split!r}") for split, spec in splits.items()}
    for split, items in read.items():
        img_dir, lab_dir = fresh_split_dirs(root, split)
        for path, boxes, labels, width, height in items:
            atomic_write(img_dir / path.name, lambda f, p=path: f.write(p.read_bytes()))
            write_yolo_labels(lab_dir / f"{path.stem}.txt", boxes, labels, width, height)
    text = data_yaml_text(root, list(splits), class_names, source="a team's annotated images")
    return atomic_write(root / "data.yaml", lambda f: f.write(text.encode("utf-8")))


def read_data_yaml(path) -> dict:
    """``data.yaml`` as a dict (``path`` resolved; split entries turned into absolute folders)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data.yaml {path} does not exist; write it with write_yolo_dataset(...).")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    root = Path(doc.get("path") or path.parent)
    for split in SPLITS:
        if split in doc:
            doc[split] = str(root / doc[split])
    names = doc.get("names", {})
    doc["names"] = [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)
    return doc


def read_yolo_split(data_yaml, split: str = "val") -> tuple[list[str], list[Path], list[dict]]:
    """``(image ids, image paths, targets)`` of one split of a YOLO data set, in file-name order.

    Targets are ``dict(boxes=float32 (k, 4) x1 y1 x2 y2 pixels, labels=int64 ids 1..K)``.

    Used by: solutions/17_yolo_training_solutions, tests/detection/test_yolo.py"""
    doc = read_data_yaml(data_yaml)
    if split not in doc:
        raise ValueError(f"{data_yaml} has no {split!r} split (it has {[s for s in SPLITS if s in doc]}).")
    images = _image_files(Path(doc[split]), f"split {split!r}")
    lab_dir = Path(f"{os.sep}labels{os.sep}".join(str(doc[split]).rsplit(f"{os.sep}images{os.sep}", 1)))
    ids, paths, targets = [], [], []
    for stem, path in images.items():
        width, height = image_size(path)
        label_file = lab_dir / f"{stem}.txt"
        boxes, labels = (read_yolo_labels(label_file, width, height) if label_file.is_file()
                         else (np.zeros((0, 4), np.float32), np.zeros(0, np.int64)))
        ids.append(stem)
        paths.append(path)
        targets.append({"boxes": boxes, "labels": labels})
    return ids, paths, targets


# ---------------------------------------------------------------------------
# Augmentation: what ultralytics' training loop sees
# ---------------------------------------------------------------------------
def augmented_samples(data_yaml, *, imgsz: int = 640, n: int = 4, seed: int = 0, split: str = "train",
                      **augment) -> list[tuple]:
    """``n`` training samples as ultralytics' train dataloader builds them (mosaic, mixup, HSV, flips,
    scale/translate): ``[(image uint8 (imgsz, imgsz, 3) RGB, boxes float32 (k, 4) x1 y1 x2 y2 pixels,
    labels int64 ids 1..K)]``. ``augment`` overrides ultralytics' values, e.g. ``mosaic=0.0``.

    Taught in: 17_yolo_training"""
    from course_utils.detection.yolo import require_ultralytics

    require_ultralytics()
    import torch
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    cfg = get_cfg(overrides={"imgsz": imgsz, "task": "detect", "mode": "train", **augment})
    data = check_det_dataset(str(data_yaml))
    dataset = build_yolo_dataset(cfg, data[split], batch=n, data=data, mode="train")
    out = []
    for i in range(n):
        item = dataset[i % len(dataset)]
        img = item["img"].numpy().transpose(1, 2, 0).copy()
        h, w = img.shape[:2]
        boxes = yolo_to_xyxy(item["bboxes"].numpy().reshape(-1, 4), w, h)   # normalised cx cy w h -> pixels
        out.append((img, boxes, item["cls"].numpy().reshape(-1).astype(np.int64) + 1))
    return out


def plot_augmented(samples, *, class_names: Sequence[str] = PCB_CLASSES, title: str | None = None, axes=None):
    """A row of :func:`augmented_samples` with their boxes (``draw.draw_boxes``); returns the figure.

    Taught in: 17_yolo_training"""
    import matplotlib.pyplot as plt

    from course_utils.detection.draw import draw_boxes

    if axes is None:
        _, axes = plt.subplots(1, len(samples), figsize=(3.2 * len(samples), 3.4))
    axes = np.atleast_1d(axes)
    for ax, (img, boxes, labels) in zip(axes, samples):
        draw_boxes(img, boxes, labels, class_names=class_names, ax=ax, linewidth=1.0, show_text=False,
                   title=f"{len(boxes)} boxes")
    fig = axes[0].figure
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
