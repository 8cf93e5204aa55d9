"""Detection metrics: hand examples, pycocotools' COCOeval as the reference, the DeepPCB protocol, error analysis."""
import contextlib
import io

import numpy as np
import pandas as pd
import pytest

from course_utils.detection import analysis
from course_utils.detection.boxes import box_iou
from course_utils.detection import metrics as dm
from course_utils.detection import evaluate

# Hand example: one class, 3 objects in 2 images, 5 detections.
GTS = pd.DataFrame([
    {"image_id": 0, "label": 0, "x1": 0, "y1": 0, "x2": 10, "y2": 10},    # A
    {"image_id": 0, "label": 0, "x1": 20, "y1": 20, "x2": 30, "y2": 30},  # B
    {"image_id": 1, "label": 0, "x1": 0, "y1": 0, "x2": 10, "y2": 10},    # C
    {"image_id": 1, "label": 1, "x1": 50, "y1": 50, "x2": 60, "y2": 60},  # D (class 1)
])
DETS = pd.DataFrame([
    {"image_id": 0, "label": 0, "score": 0.95, "x1": 0, "y1": 0, "x2": 10, "y2": 10},     # A, IoU 1
    {"image_id": 1, "label": 0, "score": 0.90, "x1": 30, "y1": 30, "x2": 40, "y2": 40},   # nothing there
    {"image_id": 0, "label": 0, "score": 0.80, "x1": 0, "y1": 0, "x2": 10, "y2": 9},      # A again: duplicate
    {"image_id": 1, "label": 0, "score": 0.70, "x1": 0, "y1": 0, "x2": 10, "y2": 7.8},    # C, IoU 0.78
    {"image_id": 0, "label": 0, "score": 0.60, "x1": 20, "y1": 20, "x2": 30, "y2": 36},   # B, IoU 100/160
    {"image_id": 1, "label": 1, "score": 0.50, "x1": 50, "y1": 50, "x2": 60, "y2": 60},   # D, IoU 1
    {"image_id": 1, "label": 2, "score": 0.40, "x1": 0, "y1": 0, "x2": 10, "y2": 10},     # class without objects
])


def test_greedy_matching_by_hand():
    m = dm.match_detections(DETS, GTS, iou_threshold=0.5)
    assert m["score"].tolist() == sorted(DETS["score"], reverse=True)
    assert m["tp"].tolist() == [True, False, False, True, True, True, False]
    assert m["gt_index"].tolist() == [0, -1, -1, 2, 1, 3, -1]
    np.testing.assert_allclose(m["iou"], [1.0, 0.0, 0.9, 0.78, 0.625, 1.0, 0.0])


def test_average_precision_by_hand():
    # IoU 0.5: TP F F TP TP -> precision 1, .5, .33, .5, .6; recall 1/3, 1/3, 1/3, 2/3, 1
    # monotone envelope 1, .6, .6, .6, .6
    # all-point: 1/3 * 1 + 1/3 * .6 + 1/3 * .6 = 0.7333
    # 101-point: recall 0.00..0.33 (34 points) -> 1, 0.34..1.00 (67 points) -> .6: (34 + 40.2) / 101
    ap_all = dm.average_precision_at_iou(DETS, GTS, 0.5, label=0, method="all")
    ap_101 = dm.average_precision_at_iou(DETS, GTS, 0.5, label=0, method="101")
    assert np.isclose(ap_all, 2.2 / 3) and np.isclose(ap_101, 74.2 / 101)
    # IoU 0.75: TP F F TP F -> envelope 1, .5, .5, .5, .4 -> all-point 1/3 + 1/3 * .5; 101: (34 + 33 * .5) / 101
    assert np.isclose(dm.average_precision_at_iou(DETS, GTS, 0.75, label=0, method="all"), 0.5)
    assert np.isclose(dm.average_precision_at_iou(DETS, GTS, 0.75, label=0), 50.5 / 101)
    assert dm.average_precision_at_iou(DETS, GTS, 0.5, label=1) == 1.0
    assert np.isnan(dm.average_precision_at_iou(DETS, GTS, 0.5, label=2))  # no objects: undefined
    assert dm.average_precision_at_iou(DETS.iloc[:0], GTS, 0.5, label=0) == 0.0


def test_map_table_and_summary_by_hand():
    table = dm.detection_ap_table(DETS, GTS, class_names=("wafer", "die", "other"))
    assert list(table.index) == ["wafer", "die", "mAP"]
    assert list(table.columns) == list(dm.COCO_IOU_THRESHOLDS)
    # class 0: thresholds .50-.60 -> 74.2/101, .65-.75 -> 50.5/101, .80-.95 -> 34/101 (only A found)
    expected0 = np.array([74.2] * 3 + [50.5] * 3 + [34] * 4) / 101
    np.testing.assert_allclose(table.loc["wafer"], expected0)
    np.testing.assert_allclose(table.loc["die"], 1.0)
    summary = dm.map_summary(table)
    assert np.isclose(summary["mAP50"], (74.2 / 101 + 1) / 2)
    assert np.isclose(summary["mAP75"], (50.5 / 101 + 1) / 2)
    assert np.isclose(summary["mAP50-95"], (expected0.mean() + 1) / 2)


def test_detection_input_errors():
    with pytest.raises(ValueError, match=r"detections is missing the columns \['score'\]"):
        dm.match_detections(DETS.drop(columns="score"), GTS)
    with pytest.raises(ValueError, match="iou_threshold=1.5"):
        dm.match_detections(DETS, GTS, iou_threshold=1.5)
    with pytest.raises(ValueError, match="method='voc'"):
        dm.average_precision_at_iou(DETS, GTS, method="voc")
    with pytest.raises(ValueError, match="'mAP' row"):
        dm.map_summary(pd.DataFrame({0.5: [1.0]}))


# --- the same hand example as lists of dicts (ids = table label + 1) ---------------------------------------
def as_lists():
    preds, targets, image_ids = dm.tables_to_lists(DETS, GTS)
    assert image_ids == [0, 1]
    return ([{k: p[k] for k in ("boxes", "labels", "scores")} for p in preds],
            [{k: t[k] for k in ("boxes", "labels")} for t in targets])


def test_lists_give_the_table_numbers():
    preds, targets = as_lists()
    names = ("wafer", "die", "other")
    table = dm.ap_table(preds, targets, class_names=names)
    pd.testing.assert_frame_equal(table, dm.detection_ap_table(DETS, GTS, class_names=names))
    assert np.isclose(dm.average_precision(preds, targets, label=1, method="all"), 2.2 / 3)
    m = dm.match_predictions(preds, targets)
    assert m["tp"].tolist() == [True, False, False, True, True, True, False]
    assert m[["image", "det"]].values.tolist() == [[0, 0], [1, 0], [0, 1], [1, 1], [0, 2], [1, 2], [1, 3]]
    # mAP50-95 of the hand example: class 0 mean of expected0, class 1 = 1
    expected0 = np.array([74.2] * 3 + [50.5] * 3 + [34] * 4) / 101
    assert np.isclose(dm.map_summary(table)["mAP50-95"], (expected0.mean() + 1) / 2)
    assert round(table.loc["wafer"].mean(), 4) == 0.5050   # class 0 alone: (3 * 74.2 + 3 * 50.5 + 4 * 34) / 1010
    assert round(dm.average_precision(preds, targets, label=1, method="all"), 4) == 0.7333


# --- COCOeval as the reference ----------------------------------------------------------------------------
def random_case(seed, n_images=8, n_classes=6, empty_class=None):
    """Ground truths and noisy predictions: jittered copies (some of the wrong class), duplicates, false alarms."""
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(n_images):
        k = int(rng.integers(0, 9))
        xy = rng.uniform(0, 500, (k, 2))
        gb = np.c_[xy, xy + rng.uniform(8, 120, (k, 2))]
        gl = rng.integers(1, n_classes + 1, k)
        if empty_class is not None:
            gl[gl == empty_class] = 1
        keep = rng.random(k) < 0.8
        jitter = rng.normal(0, 0.12, (k, 4)) * np.repeat(gb[:, 2:] - gb[:, :2], 2, axis=1)
        pb = gb + jitter
        pl = np.where(rng.random(k) < 0.85, gl, rng.integers(1, n_classes + 1, k))
        n_false = int(rng.integers(0, 6))
        fxy = rng.uniform(0, 500, (n_false, 2))
        fb = np.c_[fxy, fxy + rng.uniform(8, 80, (n_false, 2))]
        pb = np.r_[pb[keep], pb[keep][: 2] + 3.0, fb]          # two near-duplicates
        pl = np.r_[pl[keep], pl[keep][: 2], rng.integers(1, n_classes + 1, n_false)]
        pb[:, 2:] = np.maximum(pb[:, 2:], pb[:, :2] + 1.0)
        preds.append({"boxes": pb.astype(np.float32), "labels": pl, "scores": rng.random(len(pb)).astype(np.float32)})
        targets.append({"boxes": gb.astype(np.float32), "labels": gl})
    return preds, targets


def coco_stats(preds, targets, n_classes=6):
    # a [dev] dependency and the only independent mAP50-95 reference: a missing install fails, never skips
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, dets = [], [], []
    for i, (p, t) in enumerate(zip(preds, targets)):
        images.append({"id": i + 1, "width": 640, "height": 640})
        for b, lab in zip(t["boxes"].astype(float), t["labels"]):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(lab), "bbox": [b[0], b[1], w, h],
                         "area": w * h, "iscrowd": 0})
        for b, lab, s in zip(p["boxes"].astype(float), p["labels"], p["scores"].astype(float)):
            dets.append({"image_id": i + 1, "category_id": int(lab), "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                         "score": s})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": c, "name": str(c)} for c in range(1, n_classes + 1)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


@pytest.mark.parametrize("seed,empty_class", [(0, None), (1, None), (2, 6), (3, None), (4, 3)])
def test_map_matches_pycocotools(seed, empty_class):
    preds, targets = random_case(seed, empty_class=empty_class)
    stats = coco_stats(preds, targets)
    summary = dm.map_summary(dm.ap_table(preds, targets))
    assert abs(summary["mAP50-95"] - stats[0]) < 1e-6
    assert abs(summary["mAP50"] - stats[1]) < 1e-6
    assert abs(summary["mAP75"] - stats[2]) < 1e-6
    if empty_class is not None:  # a class without boxes is left out of the mean, as in COCO
        assert dm.PCB_CLASSES[empty_class - 1] not in dm.ap_table(preds, targets).index


# --- the DeepPCB protocol and scores at a threshold --------------------------------------------------------
def test_deeppcb_rule_is_strictly_greater_than_033():
    # IoU exactly 1/3: 2x1 box vs a 1x1 box inside a 3x1 region -> area 2 and 2 overlapping by 1: 1/3
    target = [{"boxes": np.array([[0, 0, 2, 1]], float), "labels": np.array([4])}]
    pred = [{"boxes": np.array([[1, 0, 3, 1]], float), "labels": np.array([4]), "scores": np.array([0.9])}]
    assert np.isclose(box_iou(pred[0]["boxes"], target[0]["boxes"])[0, 0], 1 / 3)
    at_033 = dm.precision_recall_table(pred, target, iou_threshold=1 / 3, score_threshold=0.5)
    assert at_033.loc["spur", "TP"] == 1                      # >= 1/3 counts
    table = dm.deeppcb_table(pred, target, score_threshold=0.5)
    assert table.loc["spur", "TP"] == 1                       # 1/3 > 0.33
    strict = dm.precision_recall_table(pred, target, iou_threshold=1 / 3, strict=True)
    assert strict.loc["spur", "TP"] == 0                      # "> 1/3" rejects IoU exactly 1/3
    pred[0]["boxes"] = np.array([[1.02, 0, 3, 1]])            # IoU 0.98 / 3.0 = 0.327 -> FP and FN
    row = dm.deeppcb_table(pred, target).loc["all"]
    assert (row["TP"], row["FP"], row["FN"], row["F-score"]) == (0, 1, 1, 0.0)
    assert dm.precision_recall_table(pred, target, iou_threshold=0.3).loc["all", "F-score"] == 1.0


def test_precision_recall_table_counts_by_hand():
    preds, targets = as_lists()
    table = dm.precision_recall_table(preds, targets, score_threshold=0.65, class_names=("wafer", "die", "other"))
    # kept (>= 0.65): 0.95 TP, 0.90 FP, 0.80 duplicate FP, 0.70 TP (class wafer); B and D missed
    assert table.loc["wafer", ["TP", "FP", "FN"]].tolist() == [2, 2, 1]
    assert table.loc["die", ["TP", "FP", "FN"]].tolist() == [0, 0, 1]
    assert table.loc["other", ["TP", "FP", "FN"]].tolist() == [0, 0, 0]   # predicted below threshold only
    assert table.loc["all", ["TP", "FP", "FN"]].tolist() == [2, 2, 2]
    p, r = 2 / 4, 2 / 4
    assert np.isclose(table.loc["all", "F-score"], 2 * p * r / (p + r))
    assert np.isclose(table.loc["wafer", "AP"], 2.2 / 3) and np.isnan(table.loc["other", "AP"])
    curve = analysis.f_score_curve(preds, targets, iou_threshold=0.5, strict=False)
    assert curve["score"].is_monotonic_decreasing and len(curve) == 7
    assert np.isclose(curve["F-score"].max(), 2 * (4 / 6) * (4 / 4) / (4 / 6 + 1))  # after the 0.5 detection


def test_report_collects_everything():
    preds, targets = random_case(7)
    report = evaluate.evaluate_detections(preds, targets, score_threshold=0.3)
    stats = coco_stats(preds, targets)
    assert abs(report.summary["mAP50-95"] - stats[0]) < 1e-6 and abs(report.summary["mAP50"] - stats[1]) < 1e-6
    for key in ("DeepPCB mAP", "DeepPCB F-score"):
        assert 0.0 <= report.summary[key] <= 1.0
    hand = evaluate.evaluate_detections(*as_lists(), score_threshold=0.55, class_names=NAMES3)
    # at score >= 0.55 (IoU 0.5): TP 3 (A, C, B), FP 2 (.90, duplicate .80), FN 1 (D) -> precision 3/5, recall 3/4
    assert np.isclose(hand.summary["precision@0.5"], 3 / 5) and np.isclose(hand.summary["recall@0.5"], 3 / 4)
    assert np.isclose(hand.summary["mAP50 (all-point)"], (2.2 / 3 + 1.0) / 2)  # wafer 2.2/3, die 1 (see above)
    assert report.summary["DeepPCB mAP"] >= report.summary["mAP50 (all-point)"]   # looser IoU rule
    assert report.confusion.shape == (7, 7) and report.errors.loc["all"].sum() > 0
    assert "mAP50-95" in repr(report)


def test_report_takes_its_deeppcb_numbers_from_the_deeppcb_rule():
    # One object (0,0,10,10). Detection .9 at (0,0,10,25): IoU 100/250 = 0.4, a TP for DeepPCB (IoU > 0.33)
    # but a FP at IoU 0.5; detection .6 at (50,50,60,60) hits nothing. By hand, at score >= 0.5:
    #   IoU 0.5:  TP 0, FP 2, FN 1 -> precision 0, recall 0, all-point AP 0
    #   DeepPCB:  TP 1, FP 1, FN 0 -> precision 1/2, recall 1, F-score 2 * 0.5 * 1 / 1.5 = 2/3;
    #             PR points (P 1, R 1), (P 1/2, R 1) -> all-point AP 1
    preds = [{"boxes": np.array([[0, 0, 10, 25], [50, 50, 60, 60]], float), "labels": np.array([1, 1]),
              "scores": np.array([0.9, 0.6])}]
    targets = [{"boxes": np.array([[0, 0, 10, 10]], float), "labels": np.array([1])}]
    s = evaluate.evaluate_detections(preds, targets, score_threshold=0.5, class_names=NAMES3).summary
    assert s["DeepPCB mAP"] == pytest.approx(1.0) and s["DeepPCB F-score"] == pytest.approx(2 / 3)
    assert s["mAP50 (all-point)"] == 0.0 and s["precision@0.5"] == 0.0 and s["recall@0.5"] == 0.0
    assert s["mAP50-95"] == 0.0


# --- confusion matrix and error analysis ------------------------------------------------------------------
def hand_image():
    target = {"boxes": np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60], [80, 80, 90, 90]], float),
              "labels": np.array([1, 2, 3, 3])}
    pred = {"boxes": np.array([[0, 0, 10, 10],      # TP open
                               [0, 0, 10, 9.5],     # duplicate of it
                               [20, 20, 30, 30],    # short box predicted as spur: wrong class
                               [50, 50, 60, 75],    # mousebite, IoU 10x10 / 10x25 = 0.4: mislocated
                               [200, 200, 210, 210],  # nothing there: background
                               [80, 80, 90, 90]],   # below the threshold
                              float),
            "labels": np.array([1, 1, 4, 3, 6, 3]), "scores": np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.1])}
    return pred, target


def test_error_table_by_hand():
    pred, target = hand_image()
    table = analysis.error_table([pred], [target], score_threshold=0.3)
    preds_rows = table[table["source"] == "prediction"]
    assert preds_rows["outcome"].tolist() == ["TP", "duplicate", "wrong class", "mislocated", "background"]
    missed = table[table["source"] == "target"]
    assert missed["class"].tolist() == ["short", "mousebite", "mousebite"]
    summary = analysis.error_summary([pred], [target], score_threshold=0.3)
    assert list(summary.columns) == list(analysis.OUTCOMES)
    assert summary.loc["all"].tolist() == [1, 1, 1, 1, 1, 3]
    assert summary.loc["mousebite", "missed"] == 2 and summary.loc["spur", "wrong class"] == 1


def test_confusion_matrix_by_hand():
    pred, target = hand_image()
    cm = analysis.detection_confusion_matrix([pred], [target], score_threshold=0.3)
    assert list(cm.index)[-1] == "background" and cm.index.name == "actual"
    assert cm.loc["open", "open"] == 1 and cm.loc["background", "open"] == 1      # the duplicate is a false alarm
    assert cm.loc["short", "spur"] == 1                                             # wrong class
    assert cm.loc["mousebite", "background"] == 2                                   # IoU 0.4 < 0.5 and the low one
    assert cm.loc["background", "mousebite"] == 1 and cm.loc["background", "pin-hole"] == 1
    assert cm.to_numpy().sum() == 7 and cm.loc["background", "background"] == 0
    loose = analysis.detection_confusion_matrix([pred], [target], score_threshold=0.3, iou_threshold=0.3)
    assert loose.loc["mousebite", "mousebite"] == 1


def test_image_outcomes_by_hand():
    pred, target = hand_image()
    out = analysis.image_outcomes(pred, target, score_threshold=0.3, iou_threshold=0.5)
    assert out["tp"].tolist() == [0] and out["fp"].tolist() == [1, 2, 3, 4] and out["fn"].tolist() == [1, 2, 3]
    assert np.isclose(out["precision"], 1 / 5) and np.isclose(out["recall"], 1 / 4)
    low = analysis.image_outcomes(pred, target, score_threshold=0.0, iou_threshold=0.3)
    assert low["tp"].tolist() == [0, 3, 5] and low["fn"].tolist() == [1]


def test_bad_inputs_have_clear_errors():
    pred, target = hand_image()
    with pytest.raises(ValueError, match="predictions has 1 images but targets has 2"):
        dm.ap_table([pred], [target, target])
    with pytest.raises(TypeError, match="predictions must be a list with one dict per image"):
        dm.ap_table(pred, [target])
    with pytest.raises(TypeError, match=r"predictions\[0\] has no 'scores'"):
        dm.ap_table([target], [target])
    with pytest.raises(ValueError, match=r"targets\[0\]\['labels'\] holds 0: class ids start at 1"):
        dm.ap_table([pred], [{"boxes": target["boxes"], "labels": target["labels"] - 1}])
    with pytest.raises(ValueError, match=r"targets\[0\] has 4 boxes but 3 labels"):
        dm.ap_table([pred], [{"boxes": target["boxes"], "labels": target["labels"][:3]}])
    with pytest.raises(ValueError, match="labels go up to 3 but class_names has 2 names"):
        dm.ap_table([pred], [target], class_names=("a", "b"))
    with pytest.raises(ValueError, match="method='voc'"):
        dm.ap_table([pred], [target], method="voc")
    with pytest.raises(ValueError, match="x2 < x1"):
        dm.ap_table([{**pred, "boxes": pred["boxes"][:, [2, 3, 0, 1]]}], [target])
    with pytest.raises(TypeError, match="score_threshold must be a number"):
        analysis.error_table([pred], [target], score_threshold="high")


def test_simulated_predictions_have_the_errors_asked_for():
    _, targets = random_case(11, n_images=20)
    perfect = analysis.simulate_predictions(targets, seed=0, miss=0, jitter=0, wrong_class=0, duplicates=0,
                                            false_alarms=0)
    summary = dm.map_summary(dm.ap_table(perfect, targets))
    assert summary["mAP50"] == 1.0 and summary["mAP50-95"] == 1.0
    noisy = analysis.simulate_predictions(targets, seed=0, miss=0.5, jitter=0, wrong_class=0, duplicates=0,
                                          false_alarms=0)
    assert analysis.error_summary(noisy, targets, score_threshold=0.0).loc["all", "missed"] > 0
    again = analysis.simulate_predictions(targets, seed=0, miss=0.5, jitter=0, wrong_class=0, duplicates=0,
                                          false_alarms=0)
    assert all(np.array_equal(a["boxes"], b["boxes"]) for a, b in zip(noisy, again))


# --- issue 30: PR curves, their plot, class-agnostic AP -------------------------------------------------------
NAMES3 = ("wafer", "die", "other")


def test_pr_curves_by_hand():
    preds, targets = as_lists()
    curves = dm.pr_curves(preds, targets, iou_threshold=0.5, class_names=NAMES3)
    assert list(curves) == ["wafer", "die"]  # 'other' has no boxes: no curve
    wafer = curves["wafer"]
    # by score: .95 TP, .90 FP, .80 duplicate FP, .70 TP, .60 TP with 3 objects
    np.testing.assert_allclose(wafer["score"], [0.95, 0.90, 0.80, 0.70, 0.60])
    np.testing.assert_allclose(wafer["precision"], [1, 1 / 2, 1 / 3, 2 / 4, 3 / 5])
    np.testing.assert_allclose(wafer["recall"], [1 / 3, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(curves["die"][["score", "precision", "recall"]].to_numpy(), [[0.5, 1.0, 1.0]])
    # IoU 0.75: the .60 detection of B (IoU 0.625) becomes a FP
    strict = dm.pr_curves(preds, targets, iou_threshold=0.75, class_names=NAMES3)["wafer"]
    np.testing.assert_allclose(strict["recall"], [1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3])


def test_plot_pr_curves_draws_the_hand_curves():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    preds, targets = as_lists()
    fig, ax = plt.subplots()
    assert analysis.plot_pr_curves(preds, targets, class_names=NAMES3, ax=ax) is ax
    wafer, die = ax.lines
    np.testing.assert_allclose(wafer.get_xdata(), [0, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 1])   # recall on x
    np.testing.assert_allclose(wafer.get_ydata(), [1, 1, 1 / 2, 1 / 3, 2 / 4, 3 / 5])   # precision on y
    np.testing.assert_allclose(die.get_xdata(), [0, 1]) and np.testing.assert_allclose(die.get_ydata(), [1, 1])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["wafer (AP=0.73)", "die (AP=1.00)"]       # 101-point AP 74.2/101 (see above)
    assert "mAP = 0.867" in ax.get_title()                      # (74.2/101 + 1) / 2 = 0.8673
    plt.close(fig)


def test_class_agnostic_ap_by_hand():
    # label=None: all 7 detections and 4 objects are one class. By score: .95 A TP, .90 FP, .80 duplicate of A FP,
    # .70 C TP, .60 B TP, .50 D TP, .40 on C (already matched) FP -> precision 1, .5, .33, .5, .6, .67, .57,
    # recall .25, .25, .25, .5, .75, 1, 1; envelope 1 up to recall .25, then 4/6.
    # all-point: .25 * 1 + .75 * 4/6 = 0.75; 101-point: 26 points at 1 (recall 0-.25), 75 at 4/6 -> 76/101
    assert np.isclose(dm.average_precision_at_iou(DETS, GTS, 0.5, method="all"), 0.75)
    assert np.isclose(dm.average_precision_at_iou(DETS, GTS, 0.5), 76 / 101)
    assert np.isclose(dm.average_precision_at_iou(DETS.drop(columns="label"), GTS.drop(columns="label"), 0.5,
                                                  method="all"), 0.75)
