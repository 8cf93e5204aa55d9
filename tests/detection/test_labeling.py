"""The box labeller's session, headless: file round trips, reload, quality check, errors, widget format."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from course_utils.detection import labeling
from course_utils.detection.pcb import PCB_CLASSES
from shared_data import DEEPPCB_SAMPLE as SAMPLE, needs_deeppcb_sample

def make_images(folder, sizes=((100, 80), (64, 64), (50, 40))):
    """Gray PNG images of the given (width, height); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (w, h) in enumerate(sizes):
        paths.append(folder / f"img{k}.png")
        Image.fromarray(np.full((h, w), 200 - 40 * k, np.uint8)).save(paths[-1])
    return paths


@pytest.fixture
def session(tmp_path):
    s = labeling.LabelSession.from_folder(make_images(tmp_path / "images")[0].parent)
    s.set_boxes(0, [[10, 20, 30, 60], [50.5, 10.25, 90, 70.75]], [2, 6])
    s.set_boxes(1, [[0, 0, 64, 64]], [1])
    return s   # image 2 has no box


def test_folder_session_reads_sizes_in_name_order(tmp_path):
    make_images(tmp_path / "images")
    Image.new("L", (8, 8)).save(tmp_path / "images" / "not_this.gif")   # suffix not picked up
    s = labeling.LabelSession.from_folder(tmp_path / "images")
    assert [p.name for p in s.paths] == ["img0.png", "img1.png", "img2.png"]
    assert s.sizes == [(100, 80), (64, 64), (50, 40)]
    assert len(s) == 3 and not s.reviewed.any()
    with pytest.raises(ValueError, match=r"No image files .* '\*\.jpg'"):
        labeling.LabelSession.from_folder(tmp_path / "images", pattern="*.jpg")


def test_yolo_file_matches_a_hand_computation_and_round_trips(session, tmp_path):
    paths = session.save(tmp_path / "labels", label_format="yolo")
    assert [p.name for p in paths] == ["img0.txt", "img1.txt", "img2.txt"]
    first = paths[0].read_text().splitlines()[0].split()
    # box (10, 20)-(30, 60) of class 2 in a 100 x 80 image: class 1, centre (20/100, 40/80), size (20/100, 40/80)
    assert first[0] == "1"
    np.testing.assert_allclose([float(v) for v in first[1:]], [0.2, 0.5, 0.2, 0.5], atol=1e-12)
    assert paths[2].read_text() == ""           # an image without boxes: an empty file (background)
    again = labeling.LabelSession.from_folder(tmp_path / "images")
    assert again.load(tmp_path / "labels", label_format="yolo") == 3
    for i in range(3):
        np.testing.assert_allclose(again.boxes[i], session.boxes[i], atol=1e-4)
        np.testing.assert_array_equal(again.labels[i], session.labels[i])
    assert again.reviewed.all()


def test_deeppcb_file_holds_rounded_integers_and_round_trips(session, tmp_path):
    paths = session.save(tmp_path / "deeppcb", label_format="deeppcb")
    # np.round: 50.5 -> 50 (half to even), 10.25 -> 10, 70.75 -> 71
    assert paths[0].read_text().splitlines() == ["10 20 30 60 2", "50 10 90 71 6"]
    again = labeling.LabelSession.from_folder(tmp_path / "images")
    again.load(tmp_path / "deeppcb", label_format="deeppcb")
    np.testing.assert_array_equal(again.boxes[0], [[10, 20, 30, 60], [50, 10, 90, 71]])
    np.testing.assert_array_equal(again.labels[0], [2, 6])
    with pytest.raises(ValueError, match="label_format='coco'"):
        session.save(tmp_path / "x", label_format="coco")


def test_reload_continues_a_session(session, tmp_path):
    session.save_image(0, tmp_path / "labels")           # only image 0 was finished and saved
    fresh = labeling.LabelSession.from_folder(tmp_path / "images")
    fresh.set_boxes(2, [[1, 1, 9, 9]], [3], reviewed=False)
    assert fresh.load(tmp_path / "labels") == 1
    np.testing.assert_allclose(fresh.boxes[0], session.boxes[0], atol=1e-4)
    assert len(fresh.boxes[1]) == 0                       # no file: unchanged
    np.testing.assert_array_equal(fresh.boxes[2], [[1, 1, 9, 9]])
    assert fresh.reviewed.tolist() == [True, False, False]


def test_unreadable_image_is_named(tmp_path):
    paths = make_images(tmp_path / "images")
    (tmp_path / "images" / "broken.png").write_text("not a picture")
    with pytest.raises(ValueError, match=r"Cannot read image .*broken\.png"):
        labeling.LabelSession.from_folder(tmp_path / "images")
    truncated = tmp_path / "images" / "cut.png"
    truncated.write_bytes(paths[0].read_bytes()[:60])
    with pytest.raises(ValueError, match=r"cut\.png"):
        labeling.LabelSession([truncated])
    with pytest.raises(FileNotFoundError, match="missing.png"):
        labeling.LabelSession([tmp_path / "missing.png"])


def test_bad_label_line_names_file_and_line(session, tmp_path):
    labels = tmp_path / "labels"
    session.save(labels)
    (labels / "img1.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 abc 0.2\n")
    with pytest.raises(ValueError, match=r"img1\.txt, line 2: expected 'class cx cy w h'"):
        session.load(labels)
    (labels / "img1.txt").write_text("\n8 0.5 0.5 0.2 0.2\n")       # YOLO class 8 -> id 9, not a PCB class
    with pytest.raises(ValueError, match=r"img1\.txt: box 0 has class id 9"):
        session.load(labels)
    session.save(tmp_path / "d", label_format="deeppcb")
    (tmp_path / "d" / "img0.txt").write_text("1 2 3 4 1\n5,5,9,9\n")
    with pytest.raises(ValueError, match=r"img0\.txt, line 2: expected 'x1 y1 x2 y2 type'"):
        session.load(tmp_path / "d", label_format="deeppcb")


def test_quality_check_counts_every_problem(tmp_path):
    s = labeling.LabelSession.from_folder(make_images(tmp_path / "images")[0].parent)
    s.set_boxes(0, [[10, 10, 12, 40], [90, 70, 110, 79], [5, 5, 25, 25]], [1, 4, 4])   # tiny; outside (x2 > 100)
    s.set_boxes(1, [[-3, 0, 20, 20]], [6])                                               # outside (x1 < 0)
    table = s.quality_check(min_size=4)
    assert table.loc["images", "count"] == 3 and table.loc["boxes", "count"] == 4
    assert table.loc["empty images", "count"] == 1 and table.loc["empty images", "examples"] == "img2"
    assert table.loc["boxes < 4 px", "count"] == 1 and table.loc["boxes < 4 px", "examples"] == "img0#0"
    assert table.loc["boxes outside the image", "examples"] == "img0#1, img1#0"
    counts = np.bincount(np.concatenate(s.labels) - 1, minlength=6)
    assert [table.loc[f"class {n}", "count"] for n in PCB_CLASSES] == counts.tolist() == [1, 0, 0, 2, 0, 1]
    # shorter sides 2, 9, 20 and 20 px: strictly below 20 are two
    assert s.quality_check(min_size=20).loc["boxes < 20 px", "count"] == 2


def test_widget_format_round_trips_and_rejects_bad_boxes(session):
    bboxes = session.widget_boxes(0)
    assert bboxes[0] == {"x": 10.0, "y": 20.0, "width": 20.0, "height": 40.0, "label": "short"}
    before = session.targets()[0]
    session.apply_widget_boxes(0, bboxes)
    np.testing.assert_array_equal(session.boxes[0], before["boxes"])
    np.testing.assert_array_equal(session.labels[0], before["labels"])
    # a box dragged up and to the left arrives with a negative width and height
    session.apply_widget_boxes(2, [{"x": 30, "y": 25, "width": -20, "height": -15, "label": "spur"}])
    np.testing.assert_array_equal(session.boxes[2], [[10, 10, 30, 25]])
    assert session.labels[2].tolist() == [4] and session.reviewed[2]
    # a click without a drag: the widget adds a box of zero size on mouse-down; it is not a label
    session.apply_widget_boxes(2, [{"x": 7, "y": 8, "width": 0, "height": 0, "label": "open"}, bboxes[0]])
    np.testing.assert_array_equal(session.boxes[2], [[10, 20, 30, 60]])
    with pytest.raises(ValueError, match=r"image 2 \(img2.png\), widget box 0: label '' is not a class"):
        session.apply_widget_boxes(2, [{"x": 1, "y": 1, "width": 5, "height": 5, "label": ""}])
    with pytest.raises(ValueError, match=r"widget box 1: expected a dict with numbers x, y, width, height"):
        session.apply_widget_boxes(2, [bboxes[0], {"x": 1, "y": 1, "label": "open"}])
    with pytest.raises(ValueError, match=r"index=3 must be an integer >= 0 and <= 2"):
        session.widget_boxes(3)


def test_set_boxes_checks_classes_and_shapes(session):
    with pytest.raises(ValueError, match=r"image 1 \(img1.png\), box 0: class id 7 is not in 1..6"):
        session.set_boxes(1, [[0, 0, 5, 5]], [7])
    with pytest.raises(ValueError, match="1 boxes but 2 labels"):
        session.set_boxes(1, [[0, 0, 5, 5]], [1, 2])
    with pytest.raises(ValueError, match="x2 < x1"):
        session.set_boxes(1, [[5, 0, 0, 5]], [1])


def test_prefill_keeps_confident_boxes_and_reviewed_images(session):
    session.reviewed[:] = [True, False, False]
    preds = [{"boxes": np.array([[0, 0, 5, 5]], np.float32), "labels": np.array([1]), "scores": np.array([0.9])},
             {"boxes": np.array([[1, 1, 9, 9], [2, 2, 8, 8], [3, 3, 7, 7]], np.float32),
              "labels": np.array([1, 1, 1]), "scores": np.array([0.2, 0.6, 0.5])},
             {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, int), "scores": np.zeros(0)}]
    assert session.prefill(preds, score_threshold=0.5, class_id=5) == 2      # image 0 is reviewed: kept
    assert len(session.boxes[0]) == 2
    np.testing.assert_array_equal(session.boxes[1], [[2, 2, 8, 8], [3, 3, 7, 7]])   # scores >= 0.5
    assert session.labels[1].tolist() == [5, 5] and not session.reviewed[1]
    assert session.prefill(preds, score_threshold=0.0, overwrite=True) == 4
    assert session.labels[1].tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="predictions has 2 entries for 3 images"):
        session.prefill(preds[:2])


def test_label_changes_counts_each_kind_of_edit():
    before = [{"boxes": np.array([[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60], [70, 0, 90, 20]], np.float32),
               "labels": np.array([1, 2, 3, 4])},
              {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64)}]
    after = [{"boxes": np.array([[0, 0, 10, 10], [22, 20, 42, 40], [70, 0, 90, 20], [100, 100, 110, 120]],
                                np.float32), "labels": np.array([1, 2, 6, 5])},   # kept, moved, relabelled, added
             {"boxes": np.array([[1, 1, 5, 5]], np.float32), "labels": np.array([3])}]
    # the moved box still pairs: IoU of (20,20,40,40) and (22,20,42,40) = 360 / 440, by torchvision too
    iou = torchvision.ops.box_iou(torch.tensor([[20., 20, 40, 40]]), torch.tensor([[22., 20, 42, 40]]))
    assert float(iou) == pytest.approx(360 / 440)
    table = labeling.label_changes(before, after, image_ids=["a", "b"])
    assert table.loc["a", ["before", "after", "unchanged", "moved", "relabelled", "removed", "added"]].tolist() == \
        [4, 4, 1, 1, 1, 1, 1]
    assert table.loc["b", ["removed", "added"]].tolist() == [0, 1]
    assert table.loc["all", "added"] == 2 and table.loc["all", "precision"] == pytest.approx(1 / 4)
    assert table.loc["all", "recall"] == pytest.approx(1 / 5) and np.isnan(table.loc["b", "precision"])
    # at IoU 0.9 the moved box no longer pairs: one more removed and one more added
    strict = labeling.label_changes(before, after, iou_threshold=0.9)
    assert strict.loc["all", ["moved", "removed", "added"]].tolist() == [0, 2, 3]


def test_dataset_session_writes_the_images(tmp_path):
    from course_utils.detection import data as det_data

    ds = det_data.load_pcb_data("synthetic", n_images=2, size=128, seed=3)
    s = labeling.LabelSession.from_dataset(ds, tmp_path / "img")
    assert [p.name for p in s.paths] == [f"{i}.png" for i in ds.image_ids]
    np.testing.assert_array_equal(np.asarray(Image.open(s.paths[1])), ds.images[1])
    assert s.sizes == [(128, 128)] * 2 and all(len(b) == 0 for b in s.boxes)


def test_core_kit_imports_without_the_widget(session, monkeypatch):
    monkeypatch.setitem(sys.modules, "jupyter_bbox_widget", None)   # as if the [label] extra were missing
    with pytest.raises(ImportError, match=r'pip install -e "\.\[label\]"'):
        labeling.labeller_widget(session, 0)


def test_widget_edits_reach_the_session_and_the_file(session, tmp_path):
    pytest.importorskip("jupyter_bbox_widget", reason="the [label] extra (jupyter-bbox-widget) is not installed")
    labels = tmp_path / "labels"
    w = labeling.labeller_widget(session, 0, label_dir=labels)
    assert w.classes == list(PCB_CLASSES) and w.bboxes == session.widget_boxes(0) and w.index == 0
    assert not labels.exists()                       # showing the image writes nothing
    edited = w.bboxes[1:] + [{"x": 5, "y": 6, "width": 7, "height": 8, "label": "copper"}]   # delete one, add one
    w.bboxes = edited                                # as the browser sends an edit
    np.testing.assert_array_equal(session.boxes[0], [[50.5, 10.25, 90, 70.75], [5, 6, 12, 14]])
    assert session.labels[0].tolist() == [6, 5] and session.reviewed[0]
    assert len((labels / "img0.txt").read_text().splitlines()) == 2
    w._handle_custom_msg({"type": "submit"}, [])     # the Submit button: save, next image
    assert w.index == 1 and w.bboxes == session.widget_boxes(1) and w.image.endswith("img1.png")
    w._handle_custom_msg({"type": "skip"}, [])
    assert w.index == 2 and not (labels / "img1.txt").exists()


@needs_deeppcb_sample
def test_baseline_auto_labels_on_the_real_sample_match_notebook_22():
    """Notebook 22, section 4, quotes these counts: 567 auto-labels for 290 boxes, 287 false, 10 missed."""
    from course_utils.detection import boxes as bx, classical, data as det_data

    ds = det_data.load_pcb_data("deeppcb", path=SAMPLE)
    preds = classical.detect(ds.images, ds.templates)
    false = missed = 0
    for p, truth in zip(preds, ds.boxes):
        iou = bx.box_iou(p["boxes"], truth)                     # (auto, truth)
        false += int((iou.max(axis=1, initial=0) < 0.1).sum())
        missed += int((iou.max(axis=0, initial=0) < 0.1).sum())
    assert (sum(len(p["boxes"]) for p in preds), sum(map(len, ds.boxes)), false, missed) == (567, 290, 287, 10)
