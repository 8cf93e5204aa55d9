"""YOLO on PCB defects: data sets on disk, ultralytics runs (offline), metrics agreement, ONNX."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_utils.detection import formats, metrics, pcb, yolo, yolo_data
from course_utils.detection import twin as det_twin
from offline import dead_proxy_env

REPO = Path(__file__).resolve().parents[2]


def _sets(n_train=3, n_val=2, size=128, seed=3):
    ds = det_twin.make_synthetic_pcb(n_train + n_val, size=size, seed=seed)
    return ds.subset(slice(0, n_train)), ds.subset(slice(n_train, n_train + n_val))


# ---------------------------------------------------------------------------
# Data sets on disk (no ultralytics needed)
# ---------------------------------------------------------------------------
def test_dataset_files_and_data_yaml_are_exact(tmp_path):
    train, val = _sets()
    path = yolo_data.write_yolo_dataset({"train": train, "val": val}, tmp_path / "ds")
    root = (tmp_path / "ds").resolve()
    assert path == tmp_path / "ds" / "data.yaml"
    names = "".join(f'  {k}: "{n}"\n' for k, n in enumerate(pcb.PCB_CLASSES))
    assert path.read_text() == (
        "# YOLO data set written by course_utils.detection.yolo_data from DetectionSet (synthetic)\n"
        f'path: "{root}"\ntrain: images/train\nval: images/val\nnc: 6\nnames:\n{names}')
    for split, ds in (("train", train), ("val", val)):
        assert sorted(p.stem for p in (root / "images" / split).iterdir()) == sorted(ds.image_ids)
        for k, name in enumerate(ds.image_ids):
            np.testing.assert_array_equal(np.asarray(Image.open(root / "images" / split / f"{name}.png")), ds.images[k])
            rows = np.loadtxt(root / "labels" / split / f"{name}.txt", ndmin=2)
            b = ds.boxes[k].astype(np.float64)
            expected = np.c_[ds.labels[k] - 1, (b[:, 0] + b[:, 2]) / 2 / 128, (b[:, 1] + b[:, 3]) / 2 / 128,
                             (b[:, 2] - b[:, 0]) / 128, (b[:, 3] - b[:, 1]) / 128]
            np.testing.assert_array_equal(rows, expected)  # shortest round-trip reprs: exact
    ids, _, targets = yolo_data.read_yolo_split(path, "val")
    assert ids == sorted(val.image_ids)
    for name, target in zip(ids, targets):
        k = val.image_ids.index(name)
        np.testing.assert_allclose(target["boxes"], val.boxes[k], atol=1e-4)
        np.testing.assert_array_equal(target["labels"], val.labels[k])


def test_rewriting_a_split_drops_stale_files_and_bad_boxes_are_named(tmp_path):
    train, val = _sets()
    yolo_data.write_yolo_dataset({"train": train, "val": val}, tmp_path)
    (tmp_path / "images" / "val" / "stale.png").write_bytes(b"x")
    yolo_data.write_yolo_dataset({"train": train, "val": val.subset([0])}, tmp_path)
    assert [p.stem for p in (tmp_path / "images" / "val").iterdir()] == [val.image_ids[0]]
    bad = val.subset([0])
    bad.boxes[0] = bad.boxes[0].copy()
    bad.boxes[0][0] = [100, 100, 140, 120]  # x2 beyond the 128-pixel image
    with pytest.raises(ValueError, match=rf"split 'val', image {bad.image_ids[0]}: box 0 .* outside the 128x128"):
        yolo_data.write_yolo_dataset({"train": train, "val": bad}, tmp_path / "bad")
    with pytest.raises(ValueError, match="needs a 'train' and a 'val'"):
        yolo_data.write_yolo_dataset({"train": train}, tmp_path / "bad")


def _team_images(folder: Path) -> dict:
    """Three RGB images of different sizes; returns {stem: (width, height)}."""
    folder.mkdir(parents=True)
    sizes = {"a": (300, 200), "b": (128, 256), "c": (64, 64)}
    for stem, (w, h) in sizes.items():
        Image.fromarray(np.full((h, w, 3), 200, np.uint8)).save(folder / f"{stem}.jpg")
    return sizes


def test_team_yolo_and_coco_annotations_round_trip(tmp_path):
    sizes = _team_images(tmp_path / "imgs")
    boxes = {"a": (np.array([[10, 20, 60, 80], [250, 150, 300, 200]], np.float32), np.array([1, 6])),
             "b": (np.array([[0, 0, 128, 30]], np.float32), np.array([4]))}  # "c": no boxes; 4 = spur
    (tmp_path / "labs").mkdir()
    for stem, (b, lab) in boxes.items():
        formats.write_yolo_labels(tmp_path / "labs" / f"{stem}.txt", b, lab, *sizes[stem])
    coco = {"images": [{"id": 7, "file_name": "a.jpg"}, {"id": 8, "file_name": "b.jpg"}],
            "categories": [{"id": 10, "name": "pin-hole"}, {"id": 11, "name": "open"}, {"id": 12, "name": "spur"}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 11, "bbox": [10, 20, 50, 60]},
                            {"id": 2, "image_id": 7, "category_id": 10, "bbox": [250, 150, 50, 50]},
                            {"id": 3, "image_id": 8, "category_id": 12, "bbox": [0, 0, 128, 30]}]}
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    for spec in ({"images": tmp_path / "imgs", "labels": tmp_path / "labs"},
                 {"images": tmp_path / "imgs", "coco": tmp_path / "coco.json"}):
        out = tmp_path / ("from_" + ("coco" if "coco" in spec else "yolo"))
        data_yaml = yolo_data.write_yolo_dataset_from_files({"train": spec, "val": spec}, out)
        ids, paths, targets = yolo_data.read_yolo_split(data_yaml, "train")
        assert ids == ["a", "b", "c"] and [p.suffix for p in paths] == [".jpg"] * 3
        assert (paths[0].read_bytes() == (tmp_path / "imgs" / "a.jpg").read_bytes())
        for stem, target in zip(ids, targets):
            b, lab = boxes.get(stem, (np.zeros((0, 4)), np.zeros(0, int)))
            np.testing.assert_allclose(target["boxes"], b, atol=1e-3)
            np.testing.assert_array_equal(target["labels"], lab)


def test_team_annotation_errors_name_the_file(tmp_path):
    sizes = _team_images(tmp_path / "imgs")
    (tmp_path / "labs").mkdir()
    (tmp_path / "labs" / "a.txt").write_text("6 0.5 0.5 0.1 0.1\n")  # class index 6 -> id 7 of 6 classes
    spec = {"images": tmp_path / "imgs", "labels": tmp_path / "labs"}
    with pytest.raises(ValueError, match=r"split 'train', image a.jpg: box 0 has unknown class id 7"):
        yolo_data.write_yolo_dataset_from_files({"train": spec, "val": spec}, tmp_path / "out")
    coco = {"images": [{"id": 1, "file_name": "zz.jpg"}], "categories": [{"id": 1, "name": "open"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    spec = {"images": tmp_path / "imgs", "coco": tmp_path / "c.json"}
    with pytest.raises(ValueError, match=r"annotates images \['zz'\]"):
        yolo_data.write_yolo_dataset_from_files({"train": spec, "val": spec}, tmp_path / "out")
    coco["categories"] = [{"id": 1, "name": "scratch"}]
    (tmp_path / "c.json").write_text(json.dumps(coco))
    with pytest.raises(ValueError, match=r"categories \['scratch'\] that are not in class_names"):
        yolo_data.write_yolo_dataset_from_files({"train": spec, "val": spec}, tmp_path / "out")
    assert sizes  # the images were written


def test_results_csv_becomes_learning_curves(tmp_path):
    header = ("                  epoch,         train/box_loss,         train/cls_loss,         train/dfl_loss,"
              "   metrics/precision(B),      metrics/recall(B),       metrics/mAP50(B),    metrics/mAP50-95(B),"
              "           val/box_loss,           val/cls_loss,           val/dfl_loss\n")
    rows = "1,3.0,4.0,1.5,0.1,0.2,0.05,0.02,2.5,3.5,1.2\n2,2.0,3.0,1.25,0.3,0.4,0.25,0.1,2.0,2.5,1.1\n"
    (tmp_path / "results.csv").write_text(header + rows)
    h = yolo.read_results_csv(tmp_path)
    assert list(h["epoch"]) == [1, 2]
    np.testing.assert_allclose(h["train_loss"], [8.5, 6.25])
    np.testing.assert_allclose(h["val_loss"], [7.2, 5.6])
    np.testing.assert_allclose(h["mAP50-95"], [0.02, 0.1])
    fig = yolo.plot_yolo_history(h, title="t")
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 6 and len(fig.axes[1].lines) == 4
    with pytest.raises(FileNotFoundError, match="results.csv after the first epoch"):
        yolo.read_results_csv(tmp_path / "nothing")


def test_the_kit_imports_without_ultralytics():
    code = ("import sys; sys.modules['ultralytics'] = None\n"
            "from course_utils.detection import yolo, yolo_data, yolo_export\n"
            "try:\n    yolo.require_ultralytics()\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
                         env={**os.environ, "PYTHONPATH": str(REPO), "YOLO_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert 'pip install -e ".[yolo]"' in out.stdout


# ---------------------------------------------------------------------------
# ultralytics: metrics, predictions, training offline, ONNX
# ---------------------------------------------------------------------------
def _noisy_predictions(ds, seed: int, jitter: float) -> list[dict]:
    """Ground truth moved by ``jitter`` px, 15 % missed, 10 % wrong class, 3 false alarms per image."""
    rng, out = np.random.default_rng(seed), []
    for b, lab in zip(ds.boxes, ds.labels):
        keep = rng.random(len(b)) < 0.85
        moved, labels = b[keep] + rng.normal(0, jitter, (keep.sum(), 4)), lab[keep].copy()
        wrong = rng.random(len(labels)) < 0.1
        labels[wrong] = rng.integers(1, 7, wrong.sum())
        corner = rng.uniform(0, 600, (3, 2))
        boxes = np.r_[moved, np.c_[corner, corner + rng.uniform(10, 40, (3, 2))]].astype(np.float32)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        out.append({"boxes": boxes, "labels": np.r_[labels, rng.integers(1, 7, 3)].astype(np.int64),
                    "scores": np.r_[rng.uniform(0.3, 1, len(moved)), rng.uniform(0, 0.6, 3)].astype(np.float32)})
    return out


MAP_TOLERANCE = yolo.MAP_TOLERANCE  # 0.01: same matching, another AP integral (see yolo.py)


@pytest.mark.parametrize("jitter", [1.0, 4.0])
def test_kit_map_agrees_with_ultralytics_on_the_same_predictions(jitter):
    pytest.importorskip("ultralytics")
    ds = det_twin.make_synthetic_pcb(30, seed=11)
    preds = _noisy_predictions(ds, seed=int(jitter), jitter=jitter)
    kit = metrics.map_summary(metrics.ap_table(preds, ds.targets()))
    ultra = yolo.ultralytics_map(preds, ds.targets())
    assert 0.2 < ultra["mAP50-95"] < ultra["mAP50"] < 0.95  # a non-trivial detector
    assert abs(kit["mAP50"] - ultra["mAP50"]) <= MAP_TOLERANCE
    assert abs(kit["mAP50-95"] - ultra["mAP50-95"]) <= MAP_TOLERANCE
    perfect = [{**t, "scores": np.ones(len(t["labels"]), np.float32)} for t in ds.targets()]
    assert metrics.map_summary(metrics.ap_table(perfect, ds.targets()))["mAP50-95"] == pytest.approx(1.0)
    assert yolo.ultralytics_map(perfect, ds.targets())["mAP50-95"] == pytest.approx(0.995, abs=1e-9)


def test_results_become_prediction_dicts():
    pytest.importorskip("ultralytics")
    import torch
    from ultralytics.engine.results import Results

    data = torch.tensor([[10.0, 20.0, 50.0, 60.0, 0.9, 0.0], [5.0, 5.0, 9.0, 30.0, 0.4, 5.0]])
    res = Results(np.zeros((64, 64, 3), np.uint8), path="x.png", names=dict(enumerate(pcb.PCB_CLASSES)), boxes=data)
    (pred,) = yolo.results_to_predictions([res])
    np.testing.assert_array_equal(pred["boxes"], data[:, :4].numpy())
    np.testing.assert_array_equal(pred["labels"], [1, 6])
    np.testing.assert_allclose(pred["scores"], [0.9, 0.4])
    assert pred["boxes"].dtype == np.float32 and pred["labels"].dtype == np.int64


_TRAIN_SCRIPT = textwrap.dedent("""
    import json, os, sys, time, warnings
    network = []  # every address the process looks up or connects to (Python's audit events)
    sys.addaudithook(lambda event, args: network.append(list(args[1] if event == "socket.connect" else args[:2]))
                     if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname") else None)
    start = time.perf_counter()
    from course_utils.detection import yolo
    from course_utils.training.transfer import PretrainedWeightsWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = yolo.build_yolo("yolov8n", weights="DEFAULT")
    run = yolo.train_yolo(model, sys.argv[1], project=sys.argv[2], name="t", epochs=1, imgsz=64, batch=4,
                          device="cpu")
    print(json.dumps({"offline": os.environ.get("YOLO_OFFLINE"), "source": model.weights_source,
                      "warnings": [str(w.message) for w in caught if issubclass(w.category, PretrainedWeightsWarning)],
                      "best": str(run.best), "epochs": len(run.history), "seconds": time.perf_counter() - start,
                      "network": network}))
""")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One epoch of YOLOv8n from scratch on 8 twin images at imgsz 64, network blocked (a subprocess
    with proxies pointing at a closed local port and no YOLO_OFFLINE set in advance)."""
    pytest.importorskip("ultralytics")
    tmp = tmp_path_factory.mktemp("yolo")
    train, val = _sets(n_train=8, n_val=4)
    data_yaml = yolo_data.write_yolo_dataset({"train": train, "val": val}, tmp / "ds")
    env = dict(dead_proxy_env(os.environ, tmp / "ultralytics_config"), PYTHONPATH=str(REPO), MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, "-c", _TRAIN_SCRIPT, str(data_yaml), str(tmp / "runs")], env=env,
                         capture_output=True, text=True, timeout=300, cwd=tmp, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    return {"report": report, "data_yaml": data_yaml, "val": val}


def test_training_runs_with_the_network_blocked(trained):
    report = trained["report"]
    assert report["offline"] == "1"  # the probe saw the blocked proxy and set YOLO_OFFLINE
    assert report["source"] == "random (pretrained weights unavailable)"
    assert len(report["warnings"]) == 1 and "COCO weights unavailable" in report["warnings"][0]
    assert report["epochs"] == 1 and Path(report["best"]).is_file()
    # nothing went around the dead proxy (no lookup of a remote host, no direct connection): nothing could wait
    assert report["network"] and all(address == ["127.0.0.1", 9] for address in report["network"]), report["network"]


def test_validation_keeps_the_predictions_it_scored(trained):
    model = yolo.build_yolo("yolov8n", weights=trained["report"]["best"])
    assert model.weights_source.startswith("file:")
    val = yolo.validate_yolo(model, trained["data_yaml"], imgsz=64, batch=4, device="cpu")
    ids = trained["val"].image_ids
    assert sorted(val.predictions) == sorted(ids)
    preds = [val.predictions[i] for i in ids]
    assert all(p["boxes"].shape == (len(p["scores"]), 4) for p in preds) and sum(len(p["scores"]) for p in preds)
    again = yolo.ultralytics_map(preds, trained["val"].targets())
    assert again["mAP50"] == pytest.approx(val.summary["mAP50"], abs=1e-6)
    assert again["mAP50-95"] == pytest.approx(val.summary["mAP50-95"], abs=1e-6)


def test_onnx_export_agrees_with_pytorch(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    from course_utils.detection import yolo_export

    model = yolo.build_yolo("yolov8n", weights=trained["report"]["best"])
    onnx_path = yolo_export.export_onnx(model, imgsz=64, path=tmp_path / "m.onnx")
    assert onnx_path == tmp_path / "m.onnx" and onnx_path.stat().st_size > 1e6
    images = trained["val"].images
    agreement = yolo_export.onnx_agreement(model, onnx_path, images, conf=0.001)
    print(f"ONNX vs PyTorch: max |diff| {agreement['max_abs_diff']:.2e} (outputs up to {agreement['output_scale']:.0f})")
    # Raw outputs relative to their scale; detections only where the score is clearly above conf (2x):
    # box counts at the threshold itself depend on the CPU's rounding and are not compared.
    assert agreement["max_rel_diff"] <= 1e-5 and agreement["max_abs_score_diff"] <= 1e-4
    assert agreement["min_score"] == pytest.approx(0.002)
    assert agreement["n_confident_torch"] > 0 and agreement["unmatched"] == 0
    assert agreement["matched"] + agreement["near_ties"] >= max(agreement["n_confident_torch"],
                                                                 agreement["n_confident_onnx"])
    Image.fromarray(images[0]).save(tmp_path / "board.png")
    found = yolo_export.detect(tmp_path / "board.png", onnx_path, conf=0.001)
    (ref,) = yolo.predict_yolo(model, images[:1], imgsz=64, conf=0.001, device="cpu")
    check = yolo_export.compare_predictions(found, ref, min_score=0.002)
    assert check["n_confident_reference"] > 0 and check["unmatched"] == 0
    assert check["max_box_diff"] <= 1e-4 * max(images[0].shape)
    with pytest.raises(FileNotFoundError, match="export_onnx"):
        yolo_export.detect(tmp_path / "board.png", tmp_path / "none.onnx")


def _pred(boxes, labels, scores):
    return {"boxes": np.asarray(boxes, np.float32).reshape(-1, 4), "labels": np.asarray(labels, np.int64),
            "scores": np.asarray(scores, np.float32)}


def test_compare_predictions_tells_threshold_and_tie_effects_from_disagreement():
    from course_utils.detection import yolo_export

    a = _pred([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], [1, 2, 3], [0.9, 0.5, 0.0021])
    # Same boxes, one coordinate 0.01 px off; the third sits at the threshold and was dropped by the other runtime.
    b = _pred([[0, 0, 10, 10.01], [20, 20, 30, 30]], [1, 2], [0.9, 0.5])
    c = yolo_export.compare_predictions(a, b, min_score=0.01)
    assert (c["matched"], c["near_ties"], c["unmatched"]) == (2, 0, 0)
    assert c["max_box_diff"] == pytest.approx(0.01, abs=1e-4) and c["max_score_diff"] == 0.0
    # ... but with min_score below that score it must have a partner: a real disagreement.
    assert yolo_export.compare_predictions(a, b, min_score=0.002)["unmatched"] == 1
    # NMS near tie: two boxes overlapping by IoU 0.8 with scores 0.6 and 0.6000001; each runtime kept the other one.
    t1 = _pred([[0, 0, 10, 10]], [1], [0.6])
    t2 = _pred([[0, 0, 10, 12.5]], [1], [0.6000001])  # IoU = 100 / 125 = 0.8
    c = yolo_export.compare_predictions(t1, t2, min_score=0.1)
    assert (c["matched"], c["near_ties"], c["unmatched"]) == (0, 2, 0)
    # The same overlap with clearly different scores, or another class, is a disagreement.
    far = _pred([[0, 0, 10, 12.5]], [1], [0.9])
    assert yolo_export.compare_predictions(t1, far, min_score=0.1)["unmatched"] == 2
    other = _pred([[0, 0, 10, 10]], [2], [0.6])
    assert yolo_export.compare_predictions(t1, other, min_score=0.1)["unmatched"] == 2
    # Matching is one to one: two found boxes cannot share one reference box.
    twice = _pred([[0, 0, 10, 10], [0, 0, 10, 10]], [1, 1], [0.7, 0.7])
    c = yolo_export.compare_predictions(twice, t1, min_score=0.1)
    assert c["matched"] == 1 and c["unmatched"] + c["near_ties"] == 1
    with pytest.raises(ValueError, match="3 boxes, 2 labels"):
        yolo_export.compare_predictions({"boxes": np.zeros((3, 4)), "labels": [1, 2], "scores": [1, 1, 1]}, b,
                                        min_score=0.1)


def test_postprocess_converts_centres_to_corners_like_torchvision():
    import torch
    import torchvision

    from course_utils.detection import yolo_export

    rng = np.random.default_rng(0)
    a, k = 50, 3
    cxcywh = np.concatenate([rng.uniform(8, 56, (a, 2)), rng.uniform(2, 16, (a, 2))], axis=1)
    scores = rng.uniform(0, 1, (a, k))
    out = np.concatenate([cxcywh, scores], axis=1).T.astype(np.float32)            # (4 + K, A)
    scale, pad, shape = 0.5, (0.0, 8.0), (96, 128)
    pred = yolo_export.postprocess(out, scale=scale, pad=pad, shape=shape, conf=0.3, iou=0.5)
    # the same steps written with torchvision: threshold, box_convert, batched NMS, undo the letterbox
    t = torch.from_numpy(out.T)
    best, labels = t[:, 4:].max(1)
    keep = best > 0.3
    xyxy = torchvision.ops.box_convert(t[keep, :4], "cxcywh", "xyxy")
    idx = torchvision.ops.batched_nms(xyxy, best[keep], labels[keep], 0.5)
    expected = ((xyxy[idx] - torch.tensor([0.0, 8.0, 0.0, 8.0])) / scale).clamp(min=0)
    expected = torch.minimum(expected, torch.tensor([128.0, 96.0, 128.0, 96.0]))
    assert pred["boxes"].dtype == np.float32 and len(pred["boxes"]) == len(idx) > 0
    np.testing.assert_allclose(pred["boxes"], expected.numpy(), rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(pred["labels"], labels[keep][idx].numpy() + 1)


def test_augmented_samples_show_mosaics(trained):
    plain = yolo_data.augmented_samples(trained["data_yaml"], imgsz=64, n=2, mosaic=0.0, hsv_v=0.0, fliplr=0.0,
                                   translate=0.0, scale=0.0)
    mosaic = yolo_data.augmented_samples(trained["data_yaml"], imgsz=64, n=2, mosaic=1.0)
    for img, boxes, labels in plain + mosaic:
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8 and len(boxes) == len(labels)
        assert np.all(boxes >= -1e-3) and np.all(boxes <= 64 + 1e-3) and np.all((labels >= 1) & (labels <= 6))
    assert len(yolo_data.plot_augmented(mosaic).axes) == 2
