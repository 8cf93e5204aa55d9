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
    """Three images: a (open [0,1,10,6], short [10,12,30,22]), b (open [5,4,9,12]), c (no box)."""
    return DetectionSet(images=np.zeros((3, H, W), np.uint8), templates=None,
                        boxes=[np.array([[0, 1, 10, 6], [10, 12, 30, 22]], np.float32),
                               np.array([[5, 4, 9, 12]], np.float32), np.zeros((0, 4), np.float32)],
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
    formats.check_boxes([0, 0, 1, 1], 3, width=W, height=H)  # one box (4,) with one class id (a scalar)


def test_labels_given_as_a_column_are_flattened(tmp_path):
    path = formats.write_yolo_labels(tmp_path / "a.txt", [[10, 6, 30, 24], [0, 0, 5, 3]], [[1], [6]], W, H)
    assert [line.split()[0] for line in path.read_text().splitlines()] == ["0", "5"]
    path = formats.write_deeppcb_annotation(tmp_path / "b.txt", [10, 6, 30, 24], np.int64(4))
    assert path.read_text() == "10 6 30 24 4\n"


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
    # a one-pixel image is a valid size: the pixel is centred at 0.5
    np.testing.assert_allclose(formats.xyxy_to_yolo([[0, 0, 1, 1]], 1, 1), [[0.5, 0.5, 1, 1]])
    np.testing.assert_allclose(formats.yolo_to_xyxy([[0.5, 0.5, 1, 1]], 1, 1), [[0, 0, 1, 1]])


CORNERS = ("boxes has boxes with x2 < x1 or y2 < y1; boxes must be (x1, y1, x2, y2) corners, not "
           "(x, y, width, height) -- convert with torchvision.ops.box_convert(b, 'xywh', 'xyxy').")


def test_writers_refuse_corners_in_the_wrong_order(tmp_path):
    # a YOLO line with a negative size, or a DeepPCB line the reader refuses, is never written
    for box in ([30, 6, 10, 24], [10, 24, 30, 6]):
        with pytest.raises(ValueError) as err:
            formats.xyxy_to_yolo([box], W, H)
        assert _message(err) == CORNERS
        with pytest.raises(ValueError) as err:
            formats.write_yolo_labels(tmp_path / "a.txt", [box], [1], W, H)
        assert _message(err) == CORNERS
        with pytest.raises(ValueError) as err:
            formats.write_deeppcb_annotation(tmp_path / "b.txt", [box], [1])
        assert _message(err) == CORNERS
    with pytest.raises(ValueError) as err:
        formats.xyxy_to_yolo([[0, 0, np.nan, 3]], W, H)
    assert _message(err) == "boxes contains NaN or inf coordinates."
    assert list(tmp_path.iterdir()) == []


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
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0.0, 1.0, 10.0, 5.0], "area": 50.0, "iscrowd": 0,
         "segmentation": [[0.0, 1.0, 10.0, 1.0, 10.0, 6.0, 0.0, 6.0]]},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [10.0, 12.0, 20.0, 10.0], "area": 200.0, "iscrowd": 0,
         "segmentation": [[10.0, 12.0, 30.0, 12.0, 30.0, 22.0, 10.0, 22.0]]},
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [5.0, 4.0, 4.0, 8.0], "area": 32.0, "iscrowd": 0,
         "segmentation": [[5.0, 4.0, 9.0, 4.0, 9.0, 12.0, 5.0, 12.0]]},
    ]
    assert coco["categories"] == [{"id": k, "name": n, "supercategory": "defect"}
                                  for k, n in enumerate(PCB_CLASSES, start=1)]
    json.dumps(coco)  # plain Python numbers only


def test_to_coco_sizes_are_float64_differences_of_the_stored_corners():
    corners = np.array([[0.1, 0.2, 0.7, 0.9]], np.float32)
    one = DetectionSet(images=np.zeros((1, H, W), np.uint8), templates=None, boxes=[corners], labels=[np.array([3])],
                       image_ids=["f"])
    (ann,) = formats.to_coco(one)["annotations"]
    x1, y1, x2, y2 = (float(v) for v in corners[0])  # exact float64 values of the float32 corners
    assert ann["bbox"] == [x1, y1, x2 - x1, y2 - y1]  # subtracted in float64 (float32 would round: 0.59999996)
    assert ann["area"] == (x2 - x1) * (y2 - y1)


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
        "x1": [0.0, 10, 5], "y1": [1.0, 12, 4], "x2": [10.0, 30, 9], "y2": [6.0, 22, 12],
        "width": [10.0, 20, 4], "height": [5.0, 10, 8], "area": [50.0, 200, 32], "aspect": [2.0, 2.0, 0.5]})
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    assert_table_dtypes(table)
    # height 0: no aspect; height 1: width / 1; labels of any integer type come out int64
    flat = DetectionSet(images=np.zeros((1, H, W), np.uint8), templates=None,
                        boxes=[np.array([[0, 3, 4, 3], [0, 3, 4, 4]])], labels=[np.array([4, 5], np.int32)],
                        image_ids=["f"])
    table = formats.box_table(flat)
    assert list(table["class"]) == ["spur", "copper"] and list(table["area"]) == [0, 4]
    assert np.isnan(table["aspect"][0]) and table["aspect"][1] == 4
    assert_table_dtypes(table)


def assert_table_dtypes(table: pd.DataFrame) -> None:
    """int64 indices and ids, float64 geometry, text names (object or pandas' str, by pandas version)."""
    assert list(table.columns) == ["image", "image_id", "label", "class", "x1", "y1", "x2", "y2", "width", "height",
                                   "area", "aspect"]
    assert table["image"].dtype == table["label"].dtype == np.int64
    assert all(table[c].dtype == np.float64 for c in table.columns[4:])
    assert all(not pd.api.types.is_numeric_dtype(table[c]) for c in ("image_id", "class"))


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
    # no images at all: an empty table with the same columns and dtypes as a full one
    none = DetectionSet(images=np.zeros((0, H, W), np.uint8), templates=None, boxes=[], labels=[], image_ids=[])
    table = formats.box_table(none)
    assert len(table) == 0
    assert_table_dtypes(table)
    assert (formats.dataset_summary(none)["boxes"] == 0).all()


def test_summary_of_one_box_gives_it_the_whole_share():
    one = DetectionSet(images=np.zeros((1, H, W), np.uint8), templates=None, boxes=[np.array([[1, 2, 4, 8]])],
                       labels=[np.array([6])], image_ids=["f"])
    s = formats.dataset_summary(one)
    assert s.loc["pin-hole", "share"] == 1 and s.loc["all", "share"] == 1 and s.loc["open", "share"] == 0
    assert s.loc["all", "area_p10"] == s.loc["all", "area_p90"] == 18  # 3 x 6


def test_image_size_message_for_a_file_that_is_no_image(tmp_path):
    path = tmp_path / "note.png"
    path.write_text("not a picture")
    with pytest.raises(ValueError) as err:
        formats.image_size(path)
    # the middle is the imaging library's own reason
    assert _message(err).startswith(f"Cannot read image {path}: ")
    assert _message(err).endswith(". Give a PNG or JPEG file, or move it out of the folder.")
    assert err.value.__cause__ is None
