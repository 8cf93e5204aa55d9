"""Box labelling in the notebook: auto-label with a detector, correct by hand, save as YOLO or DeepPCB txt.

A :class:`LabelSession` holds the boxes of a folder of images (``float32 (k, 4)`` ``x1, y1, x2, y2``
pixels and ``int64`` class ids 1..K per image, the kit's convention). Everything but the widget
runs without a browser:

* ``prefill(predictions)`` copies a detector's prediction dicts (``classical.detect``, a trained
  model's ``{"boxes", "labels", "scores"}``) above a score threshold: the auto-labels to correct;
* ``widget_boxes(i)`` / ``apply_widget_boxes(i, bboxes)`` convert to and from the ``bboxes`` trait of
  ``jupyter_bbox_widget.BBoxWidget`` (``{"x", "y", "width", "height", "label"}`` in image pixels,
  ``label`` a class name);
* ``save`` / ``load`` write and read one label file per image through :mod:`~course_utils.detection.formats`
  (``write_yolo_labels`` / ``read_yolo_labels``, ``write_deeppcb_annotation`` / ``read_deeppcb_annotation``,
  whose errors name the file and line), so a session reloads and continues;
* ``quality_check`` counts empty images, tiny boxes, boxes outside the image and boxes per class;
  :func:`label_changes` measures what a correction changed (the kit's matching, ``matching.match_image``).

:func:`labeller_widget` is the thin browser part (the optional ``[label]`` extra)::

    session = labeling.LabelSession.from_dataset(ds, out / "images")
    session.prefill(classical.detect(ds.images, ds.templates), score_threshold=0.0)
    labeling.labeller_widget(session, 0, label_dir=out / "labels")   # draw, move, delete; Submit saves
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from course_utils.core.checks import check_int, check_real
from course_utils.detection.boxes import as_boxes, box_iou
from course_utils.detection.formats import (image_size, read_deeppcb_annotation, read_yolo_labels,
                                            write_deeppcb_annotation, write_yolo_labels)
from course_utils.detection.matching import check_detections, match_image
from course_utils.detection.pcb import PCB_CLASSES

__all__ = ["IMAGE_SUFFIXES", "LABEL_FORMATS", "LabelSession", "label_changes", "labeller_widget"]

#: Image files a folder session picks up.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Label file formats: one ``<image stem>.txt`` per image.
LABEL_FORMATS = ("yolo", "deeppcb")


def _check_format(label_format: str) -> str:
    if label_format not in LABEL_FORMATS:
        raise ValueError(f"label_format={label_format!r} must be one of {LABEL_FORMATS}.")
    return label_format


class LabelSession:
    """The boxes of a list of image files, kept per image in the kit's convention.

    Parameters
    ----------
    image_paths : sequence of paths
        The images, in labelling order; each is opened once (size, and a clear error if unreadable).
    class_names : sequence of str
        Class id ``k`` (1..K) is ``class_names[k - 1]``; the widget shows these names.

    Attributes: ``paths`` (list of Path), ``sizes`` (list of ``(width, height)`` pixels),
    ``boxes`` (per image ``float32 (k, 4)`` ``x1 y1 x2 y2`` pixels), ``labels`` (per image ``int64 (k,)``),
    ``reviewed`` (``bool (N,)``: set by a hand edit or a loaded label file, cleared by ``prefill``).

    Taught in: 22_annotation_tool"""

    def __init__(self, image_paths: Sequence, *, class_names: Sequence[str] = PCB_CLASSES):
        self.paths = [Path(p) for p in image_paths]
        if not self.paths:
            raise ValueError("image_paths is empty; give at least one image file.")
        stems = [p.stem for p in self.paths]
        if len(set(stems)) != len(stems):
            raise ValueError("two images share a file stem; label files are named <stem>.txt, so stems must differ.")
        self.class_names = tuple(class_names)
        self.sizes = [image_size(p, decode=True) for p in self.paths]  # decoded: a broken file fails now
        self.boxes = [np.zeros((0, 4), np.float32) for _ in self.paths]
        self.labels = [np.zeros(0, np.int64) for _ in self.paths]
        self.reviewed = np.zeros(len(self.paths), bool)

    @classmethod
    def from_folder(cls, folder, *, pattern: str = "*", class_names: Sequence[str] = PCB_CLASSES) -> "LabelSession":
        """A session over the image files in ``folder`` that match ``pattern`` (sorted by name;
        suffixes :data:`IMAGE_SUFFIXES`), e.g. ``pattern="*_test.jpg"`` for a DeepPCB group.

        Taught in: 22_annotation_tool"""
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"Image folder {folder} does not exist.")
        paths = sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise ValueError(f"No image files ({', '.join(IMAGE_SUFFIXES)}) match {pattern!r} in {folder}.")
        return cls(paths, class_names=class_names)

    @classmethod
    def from_dataset(cls, dataset, folder) -> "LabelSession":
        """Write the test images of a ``DetectionSet`` as ``<image_id>.png`` into ``folder`` and open a
        session over them (no boxes yet: the data set's own boxes are not copied).

        Taught in: 22_annotation_tool"""
        from PIL import Image

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for image_id, image in zip(dataset.image_ids, dataset.images):
            paths.append(folder / f"{image_id}.png")
            Image.fromarray(np.asarray(image, np.uint8)).save(paths[-1])
        return cls(paths, class_names=dataset.class_names)

    def __len__(self) -> int:
        return len(self.paths)

    def _index(self, index) -> int:
        return check_int(index, "index", minimum=0, maximum=len(self) - 1)

    # -- boxes ------------------------------------------------------------------------------------
    def set_boxes(self, index: int, boxes, labels, *, reviewed: bool = True) -> None:
        """Replace the boxes of image ``index``: ``boxes (k, 4)`` ``x1 y1 x2 y2`` pixels, ``labels (k,)`` ids 1..K.

        Taught in: 22_annotation_tool"""
        i = self._index(index)
        b = as_boxes(boxes, f"boxes of image {i} ({self.paths[i].name})").astype(np.float32)
        lab = np.asarray(labels).reshape(-1)
        if len(lab) != len(b):
            raise ValueError(f"image {i} ({self.paths[i].name}): {len(b)} boxes but {len(lab)} labels.")
        lab = lab.astype(np.int64)
        bad = np.flatnonzero((lab < 1) | (lab > len(self.class_names)))
        if bad.size:
            raise ValueError(f"image {i} ({self.paths[i].name}), box {bad[0]}: class id {lab[bad[0]]} is not in "
                             f"1..{len(self.class_names)} ({', '.join(self.class_names)}).")
        self.boxes[i], self.labels[i] = b.reshape(-1, 4), lab
        self.reviewed[i] = reviewed

    def targets(self) -> list[dict]:
        """One ``dict(boxes=float32 (k, 4), labels=int64 (k,))`` per image (a copy), as ``DetectionSet.targets``.

        Taught in: 22_annotation_tool"""
        return [{"boxes": b.copy(), "labels": lab.copy()} for b, lab in zip(self.boxes, self.labels)]

    def prefill(self, predictions: Sequence[dict], *, score_threshold: float = 0.5, class_id: int | None = None,
                overwrite: bool = False) -> int:
        """Auto-label: copy each image's predicted boxes with ``score >= score_threshold``.

        ``predictions``: one dict per image (``boxes (k, 4)`` pixels, ``labels (k,)``, ``scores (k,)``), e.g.
        ``classical.detect(...)`` or a detector's output. ``class_id`` gives every box that class (a
        class-agnostic detector such as the classical baseline has no defect type). Images already
        ``reviewed`` keep their boxes unless ``overwrite``. Returns the number of boxes copied.

        Taught in: 22_annotation_tool"""
        if len(predictions) != len(self):
            raise ValueError(f"predictions has {len(predictions)} entries for {len(self)} images; give one per image.")
        threshold = check_real(score_threshold, "score_threshold", minimum=0.0, maximum=1.0)
        copied = 0
        for i, p in enumerate(predictions):
            if self.reviewed[i] and not overwrite:
                continue
            keep = np.asarray(p["scores"], np.float64).reshape(-1) >= threshold
            labels = np.asarray(p["labels"]).reshape(-1)[keep] if class_id is None else np.full(keep.sum(), class_id)
            self.set_boxes(i, np.asarray(p["boxes"], np.float32).reshape(-1, 4)[keep], labels, reviewed=False)
            copied += int(keep.sum())
        return copied

    # -- the widget's format ----------------------------------------------------------------------
    def widget_boxes(self, index: int) -> list[dict]:
        """Image ``index``'s boxes as ``BBoxWidget.bboxes``: ``{"x", "y", "width", "height", "label"}`` dicts
        (top-left corner and size in pixels, ``label`` the class name).

        Taught in: 22_annotation_tool"""
        i = self._index(index)
        return [{"x": float(x1), "y": float(y1), "width": float(x2 - x1), "height": float(y2 - y1),
                 "label": self.class_names[c - 1]} for (x1, y1, x2, y2), c in zip(self.boxes[i], self.labels[i])]

    def apply_widget_boxes(self, index: int, bboxes: Sequence[dict]) -> None:
        """Set image ``index``'s boxes from a ``BBoxWidget.bboxes`` list (what the widget sends after an edit).

        A box drawn right-to-left (negative width or height) is turned into corners; a box of zero width
        or height (a click without a drag: the widget creates it on mouse-down) is dropped; an unknown class
        name or a missing key raises ``ValueError`` naming the image and the box. Marks the image reviewed.

        Taught in: 22_annotation_tool"""
        i = self._index(index)
        boxes, labels = [], []
        for k, box in enumerate(bboxes):
            where = f"image {i} ({self.paths[i].name}), widget box {k}"
            try:
                x, y, w, h = (float(box[key]) for key in ("x", "y", "width", "height"))
                name = box["label"]
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{where}: expected a dict with numbers x, y, width, height and a label; "
                                 f"got {box!r}.") from None
            if name not in self.class_names:
                raise ValueError(f"{where}: label {name!r} is not a class ({', '.join(self.class_names)}); "
                                 "pick a class in the widget before drawing.")
            if w == 0 or h == 0:
                continue
            boxes.append([min(x, x + w), min(y, y + h), max(x, x + w), max(y, y + h)])
            labels.append(self.class_names.index(name) + 1)
        self.set_boxes(i, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64))

    # -- files ------------------------------------------------------------------------------------
    def label_path(self, index: int, label_dir) -> Path:
        """``label_dir / "<image stem>.txt"``, the label file of image ``index``.

        Used by: course_utils.detection.labeling"""
        return Path(label_dir) / f"{self.paths[self._index(index)].stem}.txt"

    def save_image(self, index: int, label_dir, *, label_format: str = "yolo") -> Path:
        """Write image ``index``'s label file (YOLO: normalised ``class cx cy w h``; DeepPCB: integer
        ``x1 y1 x2 y2 type``, boxes rounded to whole pixels). Returns the path.

        Taught in: 22_annotation_tool"""
        i, path = self._index(index), self.label_path(index, label_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        if _check_format(label_format) == "yolo":
            width, height = self.sizes[i]
            return write_yolo_labels(path, self.boxes[i], self.labels[i], width, height)
        return write_deeppcb_annotation(path, np.round(self.boxes[i]), self.labels[i])

    def save(self, label_dir, *, label_format: str = "yolo") -> list[Path]:
        """Write one label file per image (an image without boxes gets an empty file). Returns the paths.

        Taught in: 22_annotation_tool"""
        return [self.save_image(i, label_dir, label_format=label_format) for i in range(len(self))]

    def load(self, label_dir, *, label_format: str = "yolo") -> int:
        """Read the label files in ``label_dir`` back (to continue a session); images without a file keep
        their boxes. A bad line raises ``ValueError`` naming the file and the line. Returns the files read.

        Taught in: 22_annotation_tool"""
        _check_format(label_format)
        read = 0
        for i in range(len(self)):
            path = self.label_path(i, label_dir)
            if not path.is_file():
                continue
            if label_format == "yolo":
                boxes, labels = read_yolo_labels(path, *self.sizes[i])
            else:
                boxes, labels = read_deeppcb_annotation(path, n_classes=len(self.class_names))
            bad = np.flatnonzero((labels < 1) | (labels > len(self.class_names)))
            if bad.size:
                raise ValueError(f"{path}: box {bad[0]} has class id {labels[bad[0]]}, outside 1..{len(self.class_names)} "
                                 f"({', '.join(self.class_names)}); is this the right class list?")
            self.set_boxes(i, boxes, labels, reviewed=True)
            read += 1
        return read

    # -- checks -----------------------------------------------------------------------------------
    def quality_check(self, *, min_size: float = 4.0, max_examples: int = 5) -> pd.DataFrame:
        """A table of label problems and class counts, one row per check.

        Rows: ``images``, ``empty images`` (no box), ``boxes``, ``boxes < min_size px`` (the shorter side
        below ``min_size`` pixels), ``boxes outside the image`` (any corner beyond the image),
        then ``class <name>`` for every class. Columns: ``count`` and ``examples`` (up to
        ``max_examples`` image stems, ``stem#box`` for boxes).

        Taught in: 22_annotation_tool"""
        check_real(min_size, "min_size", minimum=0.0)
        empty, tiny, outside = [], [], []
        for i, (b, (width, height)) in enumerate(zip(self.boxes, self.sizes)):
            stem = self.paths[i].stem
            if not len(b):
                empty.append(stem)
            side = np.minimum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
            tiny += [f"{stem}#{k}" for k in np.flatnonzero(side < min_size)]
            out = (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > width) | (b[:, 3] > height)
            outside += [f"{stem}#{k}" for k in np.flatnonzero(out)]
        labels = np.concatenate(self.labels)
        rows = {"images": (len(self), []), "empty images": (len(empty), empty),
                "boxes": (len(labels), []), f"boxes < {min_size:g} px": (len(tiny), tiny),
                "boxes outside the image": (len(outside), outside)}
        for k, name in enumerate(self.class_names, start=1):
            rows[f"class {name}"] = (int((labels == k).sum()), [])
        table = pd.DataFrame({"count": [c for c, _ in rows.values()],
                              "examples": [", ".join(e[:max_examples]) + (" ..." if len(e) > max_examples else "")
                                           for _, e in rows.values()]}, index=list(rows))
        table.index.name = "check"
        return table


def label_changes(before: Sequence[dict], after: Sequence[dict], *, iou_threshold: float = 0.5,
                  image_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """What a correction changed, per image and in total (row ``"all"``).

    ``before`` (e.g. the auto-labels) and ``after`` (the corrected labels) are lists of target dicts
    (``boxes``, ``labels``), one per image. Boxes are paired class-agnostically by the kit's greedy
    matching (``matching.match_image``, IoU ``>= iou_threshold``). Columns: ``before``, ``after``,
    ``unchanged`` (paired, same class, same corners), ``moved`` (paired, same class, corners changed),
    ``relabelled`` (paired, class changed), ``removed`` (unpaired in ``before``), ``added`` (unpaired in
    ``after``), and ``precision`` / ``recall`` of the auto-labels: unchanged / before and unchanged / after.

    Taught in: 22_annotation_tool"""
    threshold = check_real(iou_threshold, "iou_threshold", minimum=0.0, maximum=1.0)
    as_pred = [{"boxes": d["boxes"], "labels": np.ones(len(d["labels"]), np.int64),
                "scores": np.ones(len(d["labels"]))} for d in before]
    agnostic = [{"boxes": d["boxes"], "labels": np.ones(len(d["labels"]), np.int64)} for d in after]
    preds, gts = check_detections(as_pred, agnostic)
    rows = []
    for p, g, old, new in zip(preds, gts, before, after):
        order, _, gt_index, _ = match_image(p, g, np.array([threshold]), False)
        pairs = [(d, int(j)) for d, j in zip(order, gt_index[:, 0]) if j >= 0]
        old_lab, new_lab = np.asarray(old["labels"]).reshape(-1), np.asarray(new["labels"]).reshape(-1)
        same_class = [old_lab[d] == new_lab[j] for d, j in pairs]
        same_box = [bool(np.allclose(p[0][d], g[0][j])) for d, j in pairs]
        unchanged = sum(c and s for c, s in zip(same_class, same_box))
        rows.append({"before": len(p[0]), "after": len(g[0]), "unchanged": unchanged,
                     "moved": sum(c and not s for c, s in zip(same_class, same_box)),
                     "relabelled": len(pairs) - sum(same_class),
                     "removed": len(p[0]) - len(pairs), "added": len(g[0]) - len(pairs)})
    table = pd.DataFrame(rows, index=list(image_ids) if image_ids is not None else None, dtype=np.int64)
    table.loc["all"] = table.sum()
    table["precision"] = table["unchanged"] / table["before"].where(table["before"] > 0)
    table["recall"] = table["unchanged"] / table["after"].where(table["after"] > 0)
    table.index.name = "image"
    return table


def labeller_widget(session: LabelSession, index: int = 0, *, label_dir=None, label_format: str = "yolo",
                    autosave: bool = True):
    """A ``jupyter_bbox_widget.BBoxWidget`` showing image ``index`` with its boxes (the ``[label]`` extra).

    Every edit in the browser (draw, move, resize, delete, relabel) arrives as a new ``bboxes`` list and
    is applied to ``session`` (:meth:`LabelSession.apply_widget_boxes`); with ``label_dir`` and
    ``autosave`` the image's label file is rewritten too. Submit saves and moves to the next image,
    Skip moves on without saving. The widget's ``index`` attribute is the image shown.
    Raises ``ImportError`` with the install command when the package is missing.

    Taught in: 22_annotation_tool"""
    try:
        from jupyter_bbox_widget import BBoxWidget
    except ImportError as exc:
        raise ImportError(f"the box labeller needs jupyter-bbox-widget ({exc}); install it with "
                          "pip install -e \".[label]\" (or pip install jupyter-bbox-widget).") from None
    _check_format(label_format)
    i = session._index(index)
    widget = BBoxWidget(image=str(session.paths[i]), classes=list(session.class_names),
                        label=session.class_names[0], bboxes=session.widget_boxes(i))
    widget.index = i

    def save() -> None:
        if label_dir is not None:
            session.save_image(widget.index, label_dir, label_format=label_format)

    def on_edit(change) -> None:
        if change["new"] != session.widget_boxes(widget.index):   # not the echo of a programmatic show
            session.apply_widget_boxes(widget.index, change["new"])
            if autosave:
                save()

    def show(k: int) -> None:
        widget.index = k % len(session)
        widget.image = str(session.paths[widget.index])
        widget.bboxes = session.widget_boxes(widget.index)

    def on_submit() -> None:
        session.reviewed[widget.index] = True
        save()
        show(widget.index + 1)

    widget.observe(on_edit, names="bboxes")
    widget.on_submit(on_submit)
    widget.on_skip(lambda: show(widget.index + 1))
    return widget
