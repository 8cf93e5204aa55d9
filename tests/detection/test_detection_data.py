"""PCB detection data: the DeepPCB loader, the synthetic twin, box formats and drawing."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from course_utils.detection import boxes as bx
from course_utils.detection import draw, formats, pcb
from course_utils.detection import calibration as det_calibration
from course_utils.detection import twin as det_twin
from course_utils.detection import data as det_data
from course_utils.detection import deeppcb
from shared_data import DEEPPCB_SAMPLE, needs_deeppcb_sample

SAMPLE = DEEPPCB_SAMPLE
#: The developers' sample: 40 real trainval pairs; its boxes per class (PCB_CLASSES order).
#: (The sample's README says "330 boxes"; the per-class counts it lists, and the files, add up to 290.)
SAMPLE_PAIRS = 40
SAMPLE_PER_CLASS = (60, 43, 59, 49, 42, 37)
SAMPLE_BOXES = 290

needs_sample = needs_deeppcb_sample


# ---------------------------------------------------------------------------
# A faithful replica of the real layout, written by the tests
# ---------------------------------------------------------------------------
def write_replica(root: Path, pairs: int = 3, sep: str = " ", split: str = "trainval", seed: int = 5):
    """Write ``pairs`` twin pairs in DeepPCB's layout: ``PCBData/<split>.txt`` naming
    ``groupN/N/XXXXXXXX.jpg groupN/N_not/XXXXXXXX.txt``, JPEGs ``XXXXXXXX_test.jpg`` /
    ``XXXXXXXX_temp.jpg`` and ``sep``-separated annotations. Returns the source set and the ids."""
    src = det_twin.make_synthetic_pcb(pairs, seed=seed)
    data = root / "PCBData"
    lines, ids = [], []
    for k in range(pairs):
        group = f"{12000 + 100 * (k % 2):05d}"
        name = f"{group[:3]}{k:05d}"
        ids.append(name)
        img_dir, ann_dir = data / f"group{group}" / group, data / f"group{group}" / f"{group}_not"
        img_dir.mkdir(parents=True, exist_ok=True)
        ann_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(src.images[k]).save(img_dir / f"{name}_test.jpg", quality=95)
        Image.fromarray(src.templates[k]).save(img_dir / f"{name}_temp.jpg", quality=95)
        text = "".join(sep.join(str(int(v)) for v in (*b, c)) + "\n" for b, c in zip(src.boxes[k], src.labels[k]))
        (ann_dir / f"{name}.txt").write_text(text)
        lines.append(f"group{group}/{group}/{name}.jpg group{group}/{group}_not/{name}.txt")
    (data / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return src, ids


@pytest.fixture()
def replica(tmp_path):
    src, ids = write_replica(tmp_path)
    return tmp_path, src, ids


def _first_annotation(root: Path) -> Path:
    return sorted((root / "PCBData").glob("group*/*_not/*.txt"))[0]


@pytest.mark.parametrize("sep", [" ", ","])
def test_loader_reads_the_real_layout(tmp_path, sep):
    src, ids = write_replica(tmp_path, pairs=3, sep=sep)
    ds = deeppcb.load_deeppcb(tmp_path, "trainval")
    assert len(ds) == 3 and ds.source == "deeppcb" and ds.image_ids == ids
    assert ds.images.shape == (3, 640, 640) and ds.images.dtype == np.uint8
    assert ds.templates.shape == (3, 640, 640)
    for k in range(3):
        np.testing.assert_array_equal(ds.boxes[k], src.boxes[k])
        np.testing.assert_array_equal(ds.labels[k], src.labels[k])
        assert ds.boxes[k].dtype == np.float32 and ds.labels[k].dtype == np.int64
        # JPEG is lossy but a binarised image survives it: nearly every pixel on the right side of 128
        assert np.mean((ds.images[k] < 128) == (src.images[k] < 128)) > 0.995
        assert np.mean((ds.templates[k] < 128) == (src.templates[k] < 128)) > 0.995
    np.testing.assert_array_equal(ds.class_counts(), src.class_counts())
    # root may also be PCBData itself
    assert deeppcb.load_deeppcb(tmp_path / "PCBData").image_ids == ids


def test_loader_subset_and_options(replica):
    root, _, ids = replica
    sub = deeppcb.load_deeppcb(root, n_images=2, seed=1, templates=False)
    assert len(sub) == 2 and sub.templates is None
    assert [ids.index(i) for i in sub.image_ids] == sorted(ids.index(i) for i in sub.image_ids)
    assert sub.image_ids == deeppcb.load_deeppcb(root, n_images=2, seed=1).image_ids
    ds = det_data.load_pcb_data("deeppcb", path=root)
    assert ds.image_ids == ids
    with pytest.raises(ValueError, match="split"):
        deeppcb.load_deeppcb(root, "val")
    with pytest.raises(FileNotFoundError, match="test.txt"):
        deeppcb.load_deeppcb(root, "test")
    with pytest.raises(ValueError, match="n_images"):
        deeppcb.load_deeppcb(root, n_images=0)


@pytest.mark.parametrize("line, message", [
    ("10 10 40", r"line 2: expected 'x1 y1 x2 y2 type'"),
    ("10 10 40 x 1", r"line 2: expected 'x1 y1 x2 y2 type'"),
    ("600 10 660 40 1", r"line 2: .*outside the 640x640 image"),
    ("-1 10 30 40 1", r"line 2: .*outside the 640x640 image"),
    ("40 10 40 50 1", r"line 2: .*zero area"),
    ("40 50 60 20 1", r"line 2: .*zero area"),
    ("10 10 40 40 7", r"line 2: .*unknown class id 7"),
    ("10 10 40 40 0", r"line 2: .*unknown class id 0"),
])
def test_loader_rejects_bad_annotations(replica, line, message):
    root = replica[0]
    ann = _first_annotation(root)
    ann.write_text("1 1 30 30 1\n" + line + "\n")
    with pytest.raises(ValueError, match=message) as err:
        deeppcb.load_deeppcb(root)
    assert ann.name in str(err.value)


def test_loader_names_a_missing_image_and_a_bad_list_line(replica):
    root = replica[0]
    test_jpg = sorted((root / "PCBData").glob("group*/*/*_test.jpg"))[0]
    test_jpg.unlink()
    with pytest.raises(FileNotFoundError, match=test_jpg.name):
        deeppcb.load_deeppcb(root)
    lst = root / "PCBData" / "trainval.txt"
    lst.write_text("group1/1/00000001.jpg\n")
    with pytest.raises(ValueError, match=r"trainval.txt, line 1"):
        deeppcb.load_deeppcb(root)


def test_missing_folder_points_to_the_twin_and_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="synthetic"):
        det_data.load_pcb_data("deeppcb", path=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="source"):
        det_data.load_pcb_data("mnist")
    with pytest.raises(ValueError, match="640"):
        det_data.load_pcb_data("deeppcb", path=tmp_path, size=320)


def test_official_counts_are_consistent():
    c = deeppcb.DEEPPCB_COUNTS
    assert c["trainval"]["pairs"] + c["test"]["pairs"] == c["pairs"] == 1500
    for split in ("trainval", "test"):  # the per-class counts add up to the split's boxes, one per class
        assert sum(c[split]["per_class"]) == c[split]["boxes"] and len(c[split]["per_class"]) == len(pcb.PCB_CLASSES)
        lo, hi = c["boxes_per_image"]  # and the boxes fit the per-image range
        assert lo * c[split]["pairs"] <= c[split]["boxes"] <= hi * c[split]["pairs"]
    assert pcb.PCB_CLASSES == ("open", "short", "mousebite", "spur", "copper", "pin-hole")


# ---------------------------------------------------------------------------
# The developers' real sample (skipped where ../shared is absent)
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real():
    return deeppcb.load_deeppcb(SAMPLE, "trainval")


@needs_sample
def test_sample_loads_with_exact_counts(real):
    assert len(real) == SAMPLE_PAIRS
    assert tuple(real.class_counts()) == SAMPLE_PER_CLASS
    assert real.class_counts().sum() == SAMPLE_BOXES
    assert real.images.shape == real.templates.shape == (SAMPLE_PAIRS, 640, 640)
    lo, hi = deeppcb.DEEPPCB_COUNTS["boxes_per_image"]
    assert lo <= real.boxes_per_image().min() and real.boxes_per_image().max() <= hi
    assert all(len(i) == 8 and i.isdigit() for i in real.image_ids)
    # copper is black on white: the dark share is a minority on average, and both tones dominate
    frac = det_calibration.foreground_fraction(real.templates)
    assert 0.05 < frac.mean() < 0.5
    assert np.mean((real.images < 50) | (real.images > 205)) > 0.97


@needs_sample
def test_sample_boxes_mark_real_differences(real):
    inside = [np.mean(np.abs(real.images[k, y1:y2, x1:x2].astype(int) - real.templates[k, y1:y2, x1:x2]) > 100) > 0
              for k in range(len(real)) for x1, y1, x2, y2 in real.boxes[k].astype(int)]
    assert np.mean(inside) > 0.95


# ---------------------------------------------------------------------------
# The synthetic twin
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def twin():
    # the clean construction (no scan noise): test and template differ exactly where the defects were drawn,
    # which the tests of the defects below check; the default (scan noise) is checked against it
    return det_twin.make_synthetic_pcb(120, seed=0, scan_noise=False)


def test_twin_shapes_values_and_boxes(twin):
    assert twin.images.shape == twin.templates.shape == (120, 640, 640)
    assert twin.images.dtype == np.uint8 and set(np.unique(twin.images)) == {0, 255}
    assert len(twin.image_ids) == len(set(twin.image_ids)) == 120 and twin.source == "synthetic"
    counts = twin.boxes_per_image()
    assert counts.min() >= 1 and counts.max() <= 15 and 5.5 < counts.mean() < 8.5
    assert np.all(twin.class_counts() > 0)
    for b, lab in zip(twin.boxes, twin.labels):
        assert b.dtype == np.float32 and lab.dtype == np.int64 and b.shape == (len(lab), 4)
        formats.check_boxes(b, lab, width=640, height=640)
        # boxes of one image never overlap
        ix = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
        iy = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
        inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
        assert np.all(inter[~np.eye(len(b), dtype=bool)] == 0)


def test_twin_defects_are_drawn_exactly_inside_their_boxes(twin):
    for k in range(len(twin)):
        diff = twin.images[k] != twin.templates[k]
        covered = np.zeros_like(diff)
        for x1, y1, x2, y2 in twin.boxes[k].astype(int):
            assert diff[y1:y2, x1:x2].any()
            covered[y1:y2, x1:x2] = True
        assert not (diff & ~covered).any()


def test_twin_box_holds_a_defect_that_reaches_past_the_search_window(monkeypatch):
    """``_Defects.add`` looks for the changed pixels within 40 px of the defect's site; a shape reaching further
    (here a 150 px line) must still end up wholly inside its box, not be cut off at the window."""
    import cv2

    def long_line(self, cls):
        cv2.line(self.img, (100, 320), (250, 320), 0, 5)
        return np.array([120.0, 320.0])

    monkeypatch.setattr(det_twin._Defects, "_draw", long_line)
    rng = np.random.default_rng(0)
    layout = det_twin.draw_layout(640, rng)
    layout.img[300:340, 90:260] = 255                  # free room for the line
    defects = det_twin._Defects(layout)
    assert defects.add(4)
    x1, y1, x2, y2 = defects.boxes[0]
    assert x1 <= 98 and x2 >= 252 and y1 <= 318 and y2 >= 323, defects.boxes[0]


def _components(mask: np.ndarray) -> int:
    import cv2

    return cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1


def test_twin_defect_types_do_what_their_names_say(twin):
    """Copper added or removed, and the topology change each type stands for, box by box."""
    added = {2: True, 4: True, 5: True, 1: False, 3: False, 6: False}  # short, spur, copper add copper
    ok = {c: [] for c in range(1, 7)}
    for k in range(len(twin)):
        for (x1, y1, x2, y2), c in zip(twin.boxes[k].astype(int), twin.labels[k]):
            t, s = twin.templates[k, y1:y2, x1:x2] == 0, twin.images[k, y1:y2, x1:x2] == 0
            grew = (s & ~t).any() and not (t & ~s).any()
            shrank = (t & ~s).any() and not (s & ~t).any()
            good = grew if added[int(c)] else shrank
            if c == 1:    # open: the cut splits copper into more pieces
                good &= _components(s) > _components(t)
            elif c == 2:  # short: the bridge joins two pieces
                good &= _components(s) < _components(t)
            elif c == 5:  # spurious copper: a new piece
                good &= _components(s) > _components(t)
            ok[int(c)].append(good)
    for c, flags in ok.items():
        assert np.mean(flags) > 0.9, (pcb.PCB_CLASSES[c - 1], np.mean(flags))


def test_twin_is_reproducible_and_thread_independent(twin):
    again = det_twin.make_synthetic_pcb(20, seed=0, n_jobs=1, scan_noise=False)
    np.testing.assert_array_equal(again.images, twin.images[:20])
    np.testing.assert_array_equal(again.templates, twin.templates[:20])
    for a, b in zip(again.boxes, twin.boxes[:20]):
        np.testing.assert_array_equal(a, b)
    noisy = [det_twin.make_synthetic_pcb(8, seed=0, n_jobs=jobs) for jobs in (1, 3)]   # the default, scan noise
    np.testing.assert_array_equal(noisy[0].images, noisy[1].images)
    other = det_twin.make_synthetic_pcb(20, seed=1)
    assert not np.array_equal(other.templates, again.templates)
    small = det_twin.make_synthetic_pcb(4, size=320, seed=0)
    assert small.images.shape == (4, 320, 320)
    assert all(b.max() <= 320 for b in small.boxes)
    with pytest.raises(ValueError, match="n_pairs"):
        det_twin.make_synthetic_pcb(0)
    with pytest.raises(ValueError, match="size"):
        det_twin.make_synthetic_pcb(2, size=64)


def test_load_pcb_data_synthetic_splits():
    train = det_data.load_pcb_data("synthetic", n_images=6, seed=0)
    test = det_data.load_pcb_data("synthetic", n_images=6, split="test", seed=0)
    assert len(train) == len(test) == 6
    assert not np.array_equal(train.templates, test.templates)
    np.testing.assert_array_equal(train.images, det_twin.make_synthetic_pcb(6, seed=0).images)
    clean = det_data.load_pcb_data("synthetic", n_images=6, seed=0, scan_noise=False)
    np.testing.assert_array_equal(clean.images, det_twin.make_synthetic_pcb(6, seed=0, scan_noise=False).images)
    assert train.info["scan_noise"] and not clean.info["scan_noise"]


def test_detection_set_methods(twin):
    sub = twin.subset([3, 1])
    assert sub.image_ids == [twin.image_ids[3], twin.image_ids[1]]
    np.testing.assert_array_equal(sub.images[0], twin.images[3])
    assert len(twin.subset(slice(0, 5))) == 5
    assert len(twin.subset(np.arange(len(twin)) < 7)) == 7
    targets = twin.targets()
    assert len(targets) == len(twin) and set(targets[0]) == {"boxes", "labels"}
    labels = np.concatenate(twin.labels)
    np.testing.assert_array_equal(twin.class_counts(), [np.sum(labels == c) for c in range(1, 7)])
    with pytest.raises(ValueError, match="boxes"):
        pcb.DetectionSet(images=twin.images[:2], templates=None, boxes=[], labels=[], image_ids=["a", "b"])


# ---------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------
def test_yolo_conversion_values_and_exact_round_trip():
    np.testing.assert_allclose(formats.xyxy_to_yolo([[0, 0, 640, 640], [10, 20, 30, 60]], 640, 640),
                               [[0.5, 0.5, 1, 1], [20 / 640, 40 / 640, 20 / 640, 40 / 640]])
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 600, (500, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0.5, 40, (500, 2))], axis=1).astype(np.float32)
    back = formats.yolo_to_xyxy(formats.xyxy_to_yolo(boxes, 640, 480), 640, 480)
    np.testing.assert_array_equal(back, boxes)
    with pytest.raises(ValueError, match="shape"):
        formats.xyxy_to_yolo(np.zeros((3, 5)), 640, 640)
    with pytest.raises(ValueError, match="positive"):
        formats.xyxy_to_yolo(boxes, 0, 640)
    # the thin wrappers are boxes' conversions, scaled by the image size
    scale = np.array([640, 480, 640, 480])
    np.testing.assert_allclose(formats.xyxy_to_yolo(boxes, 640, 480), bx.xyxy_to_cxcywh(boxes.astype(np.float64)) / scale)
    yolo = formats.xyxy_to_yolo(boxes, 640, 480)
    np.testing.assert_allclose(formats.yolo_to_xyxy(yolo, 640, 480),
                               torchvision.ops.box_convert(torch.from_numpy(yolo * scale), "cxcywh", "xyxy").numpy(),
                               rtol=1e-6)
    assert formats.yolo_to_xyxy(np.zeros((0, 4)), 640, 480).shape == (0, 4)
    with pytest.raises(ValueError, match="bad.txt"):                     # check_boxes names the source
        formats.check_boxes(np.zeros((2, 3)), [1, 1], width=640, height=640, where="bad.txt")


def test_yolo_files_round_trip(tmp_path, twin):
    for k in range(10):
        path = formats.write_yolo_labels(tmp_path / f"{k}.txt", twin.boxes[k], twin.labels[k], 640, 640)
        first = path.read_text().splitlines()[0].split()
        assert int(first[0]) == twin.labels[k][0] - 1 and len(first) == 5
        boxes, labels = formats.read_yolo_labels(path, 640, 640)
        np.testing.assert_array_equal(boxes, twin.boxes[k])
        np.testing.assert_array_equal(labels, twin.labels[k])
    empty = formats.write_yolo_labels(tmp_path / "empty.txt", np.zeros((0, 4)), [], 640, 640)
    assert empty.read_text() == "" and formats.read_yolo_labels(empty, 640, 640)[0].shape == (0, 4)
    (tmp_path / "bad.txt").write_text("0 0.5 0.5 0.1\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 1"):
        formats.read_yolo_labels(tmp_path / "bad.txt", 640, 640)


@pytest.mark.parametrize("sep", [" ", ","])
def test_deeppcb_files_round_trip(tmp_path, twin, sep):
    path = formats.write_deeppcb_annotation(tmp_path / "a.txt", twin.boxes[0], twin.labels[0], sep=sep)
    assert path.read_text().splitlines()[0].count(sep) == 4
    boxes, labels = formats.read_deeppcb_annotation(path, width=640, height=640)
    np.testing.assert_array_equal(boxes, twin.boxes[0])
    np.testing.assert_array_equal(labels, twin.labels[0])
    with pytest.raises(ValueError, match="integer"):
        formats.write_deeppcb_annotation(tmp_path / "b.txt", [[1.5, 2, 30, 40]], [1])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_coco_round_trip_and_pycocotools(tmp_path, twin):
    from pycocotools.coco import COCO  # [dev] dependency: a missing install fails, never skips

    subset = twin.subset(np.arange(12))
    coco = formats.to_coco(subset)
    ids, boxes, labels = formats.from_coco(json.loads(json.dumps(coco)))
    assert ids == subset.image_ids
    for a, b, la, lb in zip(boxes, subset.boxes, labels, subset.labels):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(coco))
    with contextlib.redirect_stdout(io.StringIO()):
        api = COCO(str(path))
    assert sorted(api.getCatIds()) == [1, 2, 3, 4, 5, 6]
    assert [c["name"] for c in api.loadCats(api.getCatIds())] == list(pcb.PCB_CLASSES)
    assert len(api.getAnnIds()) == sum(len(b) for b in subset.boxes)
    for img_id in api.getImgIds():
        anns = api.loadAnns(api.getAnnIds(imgIds=img_id))
        assert len(anns) == len(subset.boxes[img_id - 1])
        for ann, (x1, y1, x2, y2) in zip(anns, subset.boxes[img_id - 1].astype(int)):
            mask = api.annToMask(ann)
            expected = np.zeros((640, 640), dtype=np.uint8)
            expected[y1:y2, x1:x2] = 1
            np.testing.assert_array_equal(mask, expected)
            assert mask.sum() == ann["area"]
    with pytest.raises(ValueError, match="image_id"):
        formats.from_coco({"images": [], "annotations": [{"id": 1, "image_id": 3, "bbox": [0, 0, 1, 1],
                                                          "category_id": 1}]})


def test_summary_and_calibration_table(twin):
    summary = formats.dataset_summary(twin)
    np.testing.assert_array_equal(summary.loc[list(pcb.PCB_CLASSES), "boxes"], twin.class_counts())
    assert summary.loc["all", "boxes"] == twin.class_counts().sum()
    table = formats.box_table(twin)
    widths = np.concatenate([b[:, 2] - b[:, 0] for b in twin.boxes])
    np.testing.assert_allclose(table["width"], widths)
    assert summary.loc["open", "width"] == np.median(widths[np.concatenate(twin.labels) == 1])
    other = det_twin.make_synthetic_pcb(10, seed=4)
    cal = det_calibration.calibration_table(twin, other)
    assert cal.loc["copper fraction mean", "real"] == pytest.approx(np.mean(twin.templates < 128))
    assert cal.loc["boxes per image mean", "synthetic"] == pytest.approx(other.boxes_per_image().mean())
    assert cal.loc["share open", "real"] == pytest.approx(twin.class_counts()[0] / twin.class_counts().sum())
    assert list(cal.columns) == ["real", "synthetic", "ratio"]
    assert cal.loc["conductor width p50 (px)", "synthetic"] == pytest.approx(
        np.percentile(det_calibration.stroke_widths(other.templates), 50))
    assert cal.loc["clearance p90 (px)", "real"] == pytest.approx(
        np.percentile(det_calibration.stroke_widths(twin.templates, copper=False), 90))


@pytest.mark.parametrize("width", [3, 8, 9, 21])
def test_stroke_widths_reads_drawn_trace_widths_and_clearances(width):
    img = np.full((1, 200, 200), 255, np.uint8)
    img[0, 40:40 + width, 10:190] = 0                      # a trace of `width` px
    img[0, 40 + width + 30:40 + 2 * width + 30, 10:190] = 0  # a parallel one, 30 px of clearance between
    conductor = det_calibration.stroke_widths(img)
    expected = width if width % 2 else width - 1           # 2 * distance - 1: even widths read 1 px short
    assert np.median(conductor) == pytest.approx(expected, abs=0.01)
    crop = img[:, 40:70 + 2 * width, 10:190]                # exactly the two traces and the gap between them
    clearance = det_calibration.stroke_widths(crop, copper=False)
    assert np.median(clearance) == pytest.approx(29, abs=0.01)  # a 30 px gap: even, 1 px short
    assert det_calibration.stroke_widths(img, copper=False).max() > conductor.max()  # open board around them
    both = det_calibration.stroke_widths(np.concatenate([img, img]))
    assert len(both) == 2 * len(conductor)                 # pooled over images


def test_draw_boxes_and_pairs(twin):
    import matplotlib.pyplot as plt

    ax = draw.draw_boxes(twin.images[0], twin.boxes[0], twin.labels[0], scores=np.ones(len(twin.boxes[0])))
    assert len(ax.patches) == len(twin.boxes[0]) and len(ax.texts) == len(twin.boxes[0])
    assert ax.texts[0].get_text().startswith(pcb.PCB_CLASSES[twin.labels[0][0] - 1])
    with pytest.raises(ValueError, match="labels"):
        draw.draw_boxes(twin.images[0], twin.boxes[0], twin.labels[0][:-1])
    axes = draw.plot_pair(twin, 1)
    assert len(axes) == 3
    ax = draw.plot_box_sizes(twin)
    assert len(ax.patches) == 6
    plt.close("all")


# ---------------------------------------------------------------------------
# Issue 30: mixed image sizes and image headers (the download paths: test_deeppcb.py)
# ---------------------------------------------------------------------------
def test_images_of_different_sizes_are_named(tmp_path):
    a, b = tmp_path / "a_test.jpg", tmp_path / "b_test.jpg"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(a)
    Image.fromarray(np.zeros((32, 64), np.uint8)).save(b)
    with pytest.raises(ValueError, match=r"differ in size.*b_test\.jpg.*640x640"):
        deeppcb._stack_images([a, b], jobs=1)


def test_image_size_reads_the_header_or_decodes(tmp_path):
    good = tmp_path / "board.png"
    pixels = np.random.default_rng(0).integers(0, 256, (30, 50), dtype=np.uint8)  # noise: the file is not tiny
    Image.fromarray(pixels).save(good)  # height 30, width 50
    assert formats.image_size(good) == (50, 30)
    assert formats.image_size(good, decode=True) == (50, 30)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:60])  # header intact, pixel data missing
    assert formats.image_size(cut) == (50, 30)  # the header alone is readable
    with pytest.raises(ValueError, match=r"Cannot read image .*cut\.png"):
        formats.image_size(cut, decode=True)
    (tmp_path / "note.png").write_text("not a picture")
    with pytest.raises(ValueError, match=r"Cannot read image .*note\.png"):
        formats.image_size(tmp_path / "note.png")
    with pytest.raises(FileNotFoundError, match="missing.png does not exist"):
        formats.image_size(tmp_path / "missing.png")
