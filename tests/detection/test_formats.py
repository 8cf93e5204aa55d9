"""Box formats (course_utils.detection.formats) on small hand-made boxes whose expected values are computed by
hand in the comments (issue 30: the survivors of mutation testing). Round trips on twin data, pycocotools and
image_size are in test_detection_data.py."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from course_utils.detection import formats
from course_utils.detection.pcb import PCB_CLASSES, DetectionSet

H, W = 30, 50  # a non-square image: width and height cannot be swapped unnoticed


@pytest.fixture()
def small():
    """Three images: a (open [0,0,10,5], short [10,10,30,20]), b (open [5,5,9,13]), c (no box)."""
    return DetectionSet(images=np.zeros((3, H, W), np.uint8), templates=None,
                        boxes=[np.array([[0, 0, 10, 5], [10, 10, 30, 20]], np.float32),
                               np.array([[5, 5, 9, 13]], np.float32), np.zeros((0, 4), np.float32)],
                        labels=[np.array([1, 2]), np.array([1]), np.zeros(0, np.int64)], image_ids=["a", "b", "c"])


def _message(err) -> str:
    return str(err.value)


# ---------------------------------------------------------------------------
# check_boxes
# ---------------------------------------------------------------------------
def test_check_boxes_accepts_boxes_touching_the_border_and_the_extreme_ids():
    # 0 <= x1 < x2 <= width, 0 <= y1 < y2 <= height; ids 1..n_classes
    formats.check_boxes([[0, 0, W, H], [1, 1, 2, 2]], [1, 6], width=W, height=H)
    formats.check_boxes([[0, 0, 1, 1]], [3], width=1, height=1, n_classes=3)
    formats.check_boxes(np.zeros((0, 4)), [], width=W, height=H)


@pytest.mark.parametrize("box, problem", [
    ([5, 5, 5, 9], "has zero area (need x2 > x1 and y2 > y1)."),
    ([5, 9, 8, 9], "has zero area (need x2 > x1 and y2 > y1)."),
    ([5, 9, 8, 2], "has zero area (need x2 > x1 and y2 > y1)."),
    ([-1, 0, 8, 9], "lies outside the 50x30 image."),
    ([0, -0.5, 8, 9], "lies outside the 50x30 image."),
    ([1, 0, 51, 9], "lies outside the 50x30 image."),
    ([1, 0, 8, 31], "lies outside the 50x30 image."),
])
def test_check_boxes_names_the_box_and_its_problem(box, problem):
    with pytest.raises(ValueError) as err:
        formats.check_boxes([[1, 1, 4, 4], box], [1, 1], width=W, height=H, where="f.txt, line 3")
    x1, y1, x2, y2 = box
    assert _message(err) == f"f.txt, line 3: box 1 ({x1:g}, {y1:g}, {x2:g}, {y2:g}) {problem}"


def test_check_boxes_names_the_first_unknown_class_id():
    with pytest.raises(ValueError) as err:
        formats.check_boxes([[0, 0, 1, 1]] * 4, [2, 7, 0, 9], width=W, height=H)
    assert _message(err) == "boxes: box 1 has unknown class id 7 (valid ids: 1..6; 0 is the unused background)."
    with pytest.raises(ValueError) as err:
        formats.check_boxes([[0, 0, 1, 1]] * 2, [3, 4], width=W, height=H, n_classes=3, where="x")
    assert _message(err) == "x: box 1 has unknown class id 4 (valid ids: 1..3; 0 is the unused background)."


def test_labels_must_be_one_whole_number_per_box():
    with pytest.raises(ValueError) as err:
        formats.check_boxes([[0, 0, 1, 1]] * 2, [1], width=W, height=H)
    assert _message(err) == "labels has 1 entries for 2 boxes; give one class id per box."
    with pytest.raises(ValueError) as err:
        formats.check_boxes([[0, 0, 1, 1]] * 2, [1, 2.5], width=W, height=H)
    assert _message(err) == f"labels must hold integer class ids; got {np.array([1, 2.5])!r}."
    formats.check_boxes([[0, 0, 1, 1]] * 2, [1.0, 2.0], width=W, height=H)  # whole floats are class ids


# ---------------------------------------------------------------------------
# YOLO
# ---------------------------------------------------------------------------
def test_yolo_values_on_a_non_square_image():
    # [10, 6, 30, 24] in 50x30: centre (20, 15), size (20, 18) -> (0.4, 0.5, 0.4, 0.6)
    yolo = formats.xyxy_to_yolo([[10, 6, 30, 24]], W, H)
    np.testing.assert_allclose(yolo, [[0.4, 0.5, 0.4, 0.6]], rtol=1e-12)
    assert yolo.dtype == np.float64
    back = formats.yolo_to_xyxy([[0.4, 0.5, 0.4, 0.6]], W, H)
    np.testing.assert_allclose(back, [[10, 6, 30, 24]], atol=1e-5)
    assert back.dtype == np.float32


@pytest.mark.parametrize("width, height", [(0, 30), (50, 0), (-50, 30), (50, -1)])
def test_yolo_image_size_must_be_positive(width, height):
    for convert in (formats.xyxy_to_yolo, formats.yolo_to_xyxy):
        with pytest.raises(ValueError) as err:
            convert([[0.1, 0.1, 0.2, 0.2]], width, height)
        assert _message(err) == f"width={width!r} and height={height!r} must be positive (pixels)."


def test_yolo_file_text_and_reading_it_back(tmp_path):
    # open [10, 6, 30, 24] -> class 0, (0.4, 0.5, 0.4, 0.6); pin-hole [0, 0, 5, 3] -> class 5, (0.05, 0.05, 0.1, 0.1)
    path = formats.write_yolo_labels(tmp_path / "sub" / "a.txt", [[10, 6, 30, 24], [0, 0, 5, 3]], [1, 6], W, H)
    assert path == tmp_path / "sub" / "a.txt"
    assert path.read_text() == "0 0.4 0.5 0.4 0.6\n5 0.05 0.05 0.1 0.1\n"
    boxes, labels = formats.read_yolo_labels(path, W, H)
    np.testing.assert_allclose(boxes, [[10, 6, 30, 24], [0, 0, 5, 3]], atol=1e-5)
    np.testing.assert_array_equal(labels, [1, 6])
    assert boxes.dtype == np.float32 and labels.dtype == np.int64
    with pytest.raises(ValueError) as err:
        formats.write_yolo_labels(tmp_path / "b.txt", [[0, 0, 5, 3], [1, 1, 4, 4]], [2, 0], W, H)
    assert _message(err) == "labels must be class ids >= 1 (id 0 is the unused background); got [2, 0]."
    assert not (tmp_path / "b.txt").exists()


def test_yolo_reader_skips_blank_lines_and_rejects_a_non_integer_class(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("\n  \n2 0.4 0.5 0.4 0.6\n\n")
    boxes, labels = formats.read_yolo_labels(path, W, H)
    np.testing.assert_allclose(boxes, [[10, 6, 30, 24]], atol=1e-5)
    np.testing.assert_array_equal(labels, [3])
    path.write_text("0 0.4 0.5 0.4 0.6\n\n1.0 0.4 0.5 0.4 0.6\n")
    with pytest.raises(ValueError) as err:
        formats.read_yolo_labels(path, W, H)
    assert _message(err) == (f"{path}, line 3: expected 'class cx cy w h' (5 numbers, integer class), "
                             "got '1.0 0.4 0.5 0.4 0.6'.")
    with pytest.raises(FileNotFoundError) as err:
        formats.read_yolo_labels(tmp_path / "none.txt", W, H)
    assert _message(err) == f"Annotation file {tmp_path / 'none.txt'} does not exist."


# ---------------------------------------------------------------------------
# DeepPCB txt
# ---------------------------------------------------------------------------
def test_deeppcb_reader_accepts_spaces_commas_and_blank_lines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("\n 10 6 30 24 1 \n\t\n0,0,5,3,6\n1, 2 ,3, 4  5\n\n")
    boxes, labels = formats.read_deeppcb_annotation(path)
    np.testing.assert_array_equal(boxes, [[10, 6, 30, 24], [0, 0, 5, 3], [1, 2, 3, 4]])
    np.testing.assert_array_equal(labels, [1, 6, 5])
    assert boxes.dtype == np.float32 and labels.dtype == np.int64
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    boxes, labels = formats.read_deeppcb_annotation(empty)
    assert boxes.shape == (0, 4) and labels.shape == (0,) and labels.dtype == np.int64


@pytest.mark.parametrize("line, shown", [("10 6 30 24", "10 6 30 24"), ("10,6,30,24,1,2", "10 6 30 24 1 2"),
                                         ("10 6 30.5 24 1", "10 6 30.5 24 1")])
def test_deeppcb_reader_rejects_a_line_that_is_not_five_integers(tmp_path, line, shown):
    path = tmp_path / "a.txt"
    path.write_text("1 1 4 4 1\n" + line + "\n")
    with pytest.raises(ValueError) as err:
        formats.read_deeppcb_annotation(path)
    assert _message(err) == (f"{path}, line 2: expected 'x1 y1 x2 y2 type' (5 integers separated by spaces or "
                             f"commas), got {shown!r}.")
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_deeppcb_reader_checks_the_image_size_and_classes_only_when_given(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("1 1 4 4 1\n40 20 45 29 7\n")  # inside 50x30 (not inside 30x50); class 7
    assert len(formats.read_deeppcb_annotation(path, n_classes=7)[0]) == 2  # no size given: any position
    assert len(formats.read_deeppcb_annotation(path, width=W, height=H, n_classes=7)[0]) == 2
    with pytest.raises(ValueError) as err:
        formats.read_deeppcb_annotation(path, width=H, height=W, n_classes=7)
    assert _message(err) == f"{path}, line 2: box 0 (40, 20, 45, 29) lies outside the 30x50 image."
    with pytest.raises(ValueError) as err:
        formats.read_deeppcb_annotation(path, width=W, height=20, n_classes=7)
    assert _message(err) == f"{path}, line 2: box 0 (40, 20, 45, 29) lies outside the 50x20 image."
    with pytest.raises(ValueError) as err:
        formats.read_deeppcb_annotation(path, width=W, height=H)
    assert _message(err) == (f"{path}, line 2: box 0 has unknown class id 7 (valid ids: 1..6; "
                             "0 is the unused background).")


def test_deeppcb_writer_text_and_its_errors(tmp_path):
    path = formats.write_deeppcb_annotation(tmp_path / "a.txt", [[10, 6, 30, 24], [0, 0, 5, 3]], [1, 6])
    assert path == tmp_path / "a.txt" and path.read_text() == "10 6 30 24 1\n0 0 5 3 6\n"
    formats.write_deeppcb_annotation(path, np.array([[10.0, 6, 30, 24]]), np.array([2.0]), sep=",")
    assert path.read_text() == "10,6,30,24,2\n"
    with pytest.raises(ValueError) as err:
        formats.write_deeppcb_annotation(tmp_path / "b.txt", [[10, 6, 30, 24]], [1], sep="\t")
    assert _message(err) == "sep='\\t' must be ' ' (the real files) or ',' (the data set's README)."
    with pytest.raises(ValueError) as err:
        formats.write_deeppcb_annotation(tmp_path / "b.txt", [[10, 6, 30.25, 24]], [1])
    assert _message(err) == ("DeepPCB annotations hold integer pixel coordinates; round the boxes first "
                             "(e.g. np.round(boxes)).")
    assert not (tmp_path / "b.txt").exists()


# ---------------------------------------------------------------------------
# COCO
# ---------------------------------------------------------------------------
def test_to_coco_values(small):
    coco = formats.to_coco(small)
    assert coco["images"] == [{"id": i, "file_name": f"{n}.jpg", "width": 50, "height": 30}
                              for i, n in enumerate("abc", start=1)]
    # bbox [x1, y1, x2 - x1, y2 - y1]; area w * h; the polygon (x1,y1) (x2,y1) (x2,y2) (x1,y2); ids continue over images
    assert coco["annotations"] == [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0.0, 0.0, 10.0, 5.0], "area": 50.0, "iscrowd": 0,
         "segmentation": [[0.0, 0.0, 10.0, 0.0, 10.0, 5.0, 0.0, 5.0]]},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [10.0, 10.0, 20.0, 10.0], "area": 200.0, "iscrowd": 0,
         "segmentation": [[10.0, 10.0, 30.0, 10.0, 30.0, 20.0, 10.0, 20.0]]},
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [5.0, 5.0, 4.0, 8.0], "area": 32.0, "iscrowd": 0,
         "segmentation": [[5.0, 5.0, 9.0, 5.0, 9.0, 13.0, 5.0, 13.0]]},
    ]
    assert coco["categories"] == [{"id": k, "name": n, "supercategory": "defect"}
                                  for k, n in enumerate(PCB_CLASSES, start=1)]
    json.dumps(coco)  # plain Python numbers only


def test_from_coco_follows_the_order_of_the_images():
    coco = {"images": [{"id": 7, "file_name": "x/b.jpg"}, {"id": 3, "file_name": "a.png"}, {"id": 9, "file_name": "c"}],
            "annotations": [{"id": 1, "image_id": 3, "bbox": [1, 2, 3, 4], "category_id": 2},
                            {"id": 2, "image_id": 7, "bbox": [0, 0, 5, 5], "category_id": 6},
                            {"id": 3, "image_id": 3, "bbox": [10, 10, 1, 1], "category_id": 1}]}
    ids, boxes, labels = formats.from_coco(coco)
    assert ids == ["b", "a", "c"]
    np.testing.assert_array_equal(boxes[0], [[0, 0, 5, 5]])
    np.testing.assert_array_equal(boxes[1], [[1, 2, 4, 6], [10, 10, 11, 11]])  # x + w, y + h
    assert boxes[2].shape == (0, 4) and boxes[1].dtype == np.float32
    np.testing.assert_array_equal(labels[1], [2, 1])
    assert labels[2].shape == (0,) and labels[1].dtype == labels[2].dtype == np.int64


@pytest.mark.parametrize("key", ["images", "annotations"])
def test_from_coco_errors_are_named(key):
    coco = {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": []}
    del coco[key]
    with pytest.raises(ValueError) as err:
        formats.from_coco(coco)
    assert _message(err) == (f"coco has no {key!r} list; expected a COCO detection dict with 'images', "
                             "'annotations' and 'categories'.")
    with pytest.raises(ValueError) as err:
        formats.from_coco({"images": [{"id": 1, "file_name": "a.jpg"}],
                           "annotations": [{"id": 5, "image_id": 9, "bbox": [0, 0, 1, 1], "category_id": 1}]})
    assert _message(err) == "annotation 5 refers to image_id 9, which is not in coco['images']."


# ---------------------------------------------------------------------------
# box_table and dataset_summary
# ---------------------------------------------------------------------------
def test_box_table_values(small):
    table = formats.box_table(small)
    expected = pd.DataFrame({
        "image": [0, 0, 1], "image_id": ["a", "a", "b"], "label": [1, 2, 1], "class": ["open", "short", "open"],
        "x1": [0.0, 10, 5], "y1": [0.0, 10, 5], "x2": [10.0, 30, 9], "y2": [5.0, 20, 13],
        "width": [10.0, 20, 4], "height": [5.0, 10, 8], "area": [50.0, 200, 32], "aspect": [2.0, 2.0, 0.5]})
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    flat = DetectionSet(images=np.zeros((1, H, W), np.uint8), templates=None, boxes=[np.array([[0, 3, 4, 3]])],
                        labels=[np.array([4])], image_ids=["f"])
    row = formats.box_table(flat).iloc[0]
    assert row["class"] == "spur" and row["area"] == 0 and np.isnan(row["aspect"])  # height 0: no aspect


def test_summary_values(small):
    s = formats.dataset_summary(small)
    assert list(s.index) == [*PCB_CLASSES, "all"] and s.index.name == "class"
    assert list(s.columns) == ["boxes", "images", "width", "height", "area_median", "area_p10", "area_p90",
                               "aspect_median", "share"]
    # open: widths 10, 4; heights 5, 8; areas 50, 32 (p10 = 32 + 0.1 * 18, p90 = 32 + 0.9 * 18); aspects 2, 0.5
    np.testing.assert_allclose(s.loc["open"].to_numpy(float), [2, 2, 7, 6.5, 41, 33.8, 48.2, 1.25, 2 / 3])
    np.testing.assert_allclose(s.loc["short"].to_numpy(float), [1, 1, 20, 10, 200, 200, 200, 2, 1 / 3])
    # all: areas 32, 50, 200: p10 at position 0.2 -> 32 + 0.2 * 18, p90 at 1.8 -> 50 + 0.8 * 150
    np.testing.assert_allclose(s.loc["all"].to_numpy(float), [3, 2, 10, 8, 50, 35.6, 170, 2, 1])
    assert s.loc["spur", "boxes"] == 0 and s.loc["spur", "images"] == 0 and s.loc["spur", "share"] == 0
    assert s.loc["spur", ["width", "area_p10", "aspect_median"]].isna().all()


def test_summary_of_a_set_without_boxes():
    empty = DetectionSet(images=np.zeros((2, H, W), np.uint8), templates=None, boxes=[np.zeros((0, 4))] * 2,
                         labels=[np.zeros(0, np.int64)] * 2, image_ids=["a", "b"])
    assert len(formats.box_table(empty)) == 0
    s = formats.dataset_summary(empty)
    assert (s["boxes"] == 0).all() and (s["share"] == 0).all() and (s["images"] == 0).all()
