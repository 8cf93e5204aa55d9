"""The figures the notebooks quote from the course's documents, recomputed from those documents (issue 24, item 1).

The documents live in ``../shared/sources/*.txt`` next to the repository (CI has them); the tests
skip with a reason when they are absent. Only tests read them: they are not data sets of the kit.
Each test parses the document, recomputes the corrected figure by hand (or with scikit-learn) and
checks that the notebook states it, and that the misreading is gone.
"""
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from sklearn.metrics import f1_score, recall_score
from sklearn.utils.class_weight import compute_class_weight

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT.parent / "shared" / "sources"


def source(number: str) -> str:
    found = sorted(SOURCES.glob(f"{number}_*.txt")) if SOURCES.is_dir() else []
    if not found:
        pytest.skip(f"the course's documents are not in {SOURCES} (source {number}); CI checks them out there")
    return found[0].read_text(encoding="utf-8")


def markdown(stem: str) -> list[str]:
    folder = "solutions" if stem.endswith("_solutions") else "notebooks"
    nb = nbformat.read(ROOT / folder / f"{stem}.ipynb", as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def code(stem: str) -> str:
    folder = "solutions" if stem.endswith("_solutions") else "notebooks"
    nb = nbformat.read(ROOT / folder / f"{stem}.ipynb", as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def reports_000() -> list[dict]:
    """Every classification report of source 000: model tag, per-class (P, R, F1, support), accuracy, averages."""
    lines = source("000").splitlines()
    reports, current = [], None
    for i, line in enumerate(lines):
        if "precision" in line and "recall" in line:
            tag, j = line.split("\t")[0].strip(), i - 1
            while not tag:  # the tag is on the header line or the nearest line above it
                tag, j = lines[j].strip(), j - 1
            current = {"tag": tag, "classes": {}}
            reports.append(current)
            continue
        if current is None:
            continue
        cells = [c.strip() for c in line.split("\t") if c.strip()]
        numbers = [float(c) for c in cells if re.fullmatch(r"\d+(\.\d+)?", c)]
        if cells and cells[0] == "accuracy":
            current["accuracy"] = [n for n in numbers if n <= 1][-1]
        elif cells and cells[0] in ("macro avg", "weighted avg") and len(numbers) >= 4:
            current[cells[0]] = numbers[:3]
        elif cells and re.fullmatch(r"[A-Z]+", cells[0]) and len(numbers) == 4:
            current["classes"][cells[0]] = numbers
    return reports


def is_b0(tag: str) -> bool:
    return tag.upper().startswith(("B0", "BO", "TRANSFORMNONE"))  # "BO\ntransformNone):" heads one B0 report


def test_000_test_set_is_11_classes_of_20_and_ring_of_6_and_06_says_so():
    reports = [r for r in reports_000() if len(r["classes"]) == 12]
    supports = {tuple(sorted((k, int(v[3])) for k, v in r["classes"].items())) for r in reports}
    assert len(supports) == 1  # every report scores the same test set
    support = dict(next(iter(supports)))
    n20 = sum(1 for v in support.values() if v == 20)
    assert (n20, support["RING"], sum(support.values())) == (11, 6, 226)
    assert "train, test 동일하게(6개)" in source("000")
    text = "\n".join(markdown("06_loss_comparison"))
    assert f"{n20}개 클래스 × 20장 + RING {support['RING']}장 = {sum(support.values())}장" in text
    assert "12개 클래스가 같은 수인" not in text
    # the collapsed LDAM run predicted DUST for everything: accuracy = DUST's share, macro-F1 from the formula
    y = np.repeat(np.arange(12), [20] * 11 + [6])
    pred = np.zeros_like(y)
    share = 20 / 226
    assert f"20 / 226 = {share:.3f}" in text
    assert f"{f1_score(y, pred, average='macro', zero_division=0):.4f}" in text  # 0.0136
    assert "C = 12$이면 0.083과 0.013" in text  # the balanced-set formula of the same cell


def test_000_ring_scores_one_because_its_images_are_reused():
    reports = reports_000()
    ring = [r["classes"]["RING"][2] for r in reports if "RING" in r["classes"]]
    perfect = sum(1 for f in ring if f == 1.0)
    text = "\n".join(markdown("06_loss_comparison"))
    assert (len(ring), perfect) == (18, 16)
    assert f"{len(ring)}개 실행 중 {perfect}개에서\nRING의 F1이 1.00" in text or \
        f"{len(ring)}개 실행 중 {perfect}개에서 RING의 F1이 1.00" in text
    assert "누수(Leakage)" in text


def test_000_b0_figures_are_accuracies_not_macro_f1_and_04_says_so():
    b0 = [r for r in reports_000() if is_b0(r["tag"]) and "accuracy" in r]
    assert len(b0) == 9
    acc = [r["accuracy"] for r in b0]
    f1 = [r["macro avg"][2] for r in b0]
    text = "\n".join(markdown("04_training_hyperparameters"))
    assert f"{min(acc):.2f}–{max(acc):.2f}" == "0.51–0.68" and "0.51–0.68" in text
    assert f"macro-F1은 {min(f1):.2f}–{max(f1):.2f}" in text
    assert "macro-F1 0.51–0.68" not in text
    # the 0.68 run: accuracy = sum of per-class recall x support / n must equal its weighted recall
    best = b0[int(np.argmax(acc))]
    recalls, supports = zip(*[(v[1], v[3]) for v in best["classes"].values()])
    correct = round(float(np.dot(recalls, supports)))
    recomputed = correct / sum(supports)
    assert abs(recomputed - best["weighted avg"][1]) < 0.005 and abs(recomputed - 0.68) > 0.05
    assert f"weighted 재현율은 {best['weighted avg'][1]:.2f}" in text
    assert f"{correct} / {int(sum(supports))} = {recomputed:.2f}" in text


def _table_001(title_row: str) -> dict[str, list[float]]:
    """Per-class rows (P, R, F1 twice) of the source-001 table that follows ``title_row``."""
    text = source("001")
    block = text[text.index(title_row):]
    rows = {}
    for line in block.splitlines():
        cells = line.split("\t")
        if len(cells) >= 8 and cells[0].strip().isdigit():
            rows[cells[1].strip()] = [float(c) for c in cells[2:8]]
        if line.startswith("Average"):
            rows["Average"] = [float(c) for c in cells[1:] if c.strip()][:6]
            return rows
    raise AssertionError(f"no table after {title_row!r}")


def test_001_average_f1_is_a_harmonic_mean_and_12_compares_like_with_like():
    balanced_test = _table_001("Imbalanced dataset")
    models = _table_001("Defect Class\tEfficientNetB0")
    per_class = {k: v for k, v in balanced_test.items() if k != "Average"}
    (p_imb, r_imb, f_imb, p_bal, r_bal, f_bal) = balanced_test["Average"]
    hm = lambda p, r: 2 * p * r / (p + r)  # noqa: E731
    mean_imb = np.mean([v[2] for v in per_class.values()])
    mean_bal = np.mean([v[5] for v in per_class.values()])
    mean_b0 = np.mean([v[2] for k, v in models.items() if k != "Average"])
    p_b0, r_b0, f_b0 = models["Average"][:3]
    assert abs(hm(p_imb, r_imb) - f_imb) < 0.01 and abs(mean_imb - f_imb) > 1.5      # 82.89 is the harmonic mean
    assert abs(mean_bal - f_bal) < 0.01                                                 # 93.57 is a true mean
    assert abs(hm(p_b0, r_b0) - f_b0) < 0.01 and abs(mean_b0 - f_b0) > 0.05             # 93.21 is the harmonic mean
    text = "\n".join(markdown("12_project1_capstone"))
    for figure in (f_imb, p_imb, r_imb, mean_imb, f_b0, mean_b0, f_bal):
        assert f"{figure:.2f}" in text, figure
    source_code = code("12_project1_capstone")
    course_rows = re.search(r"COURSE_F1 = \{(.*?)\n\}", source_code, re.S).group(1)
    assert '("balanced", "effnet_b0_frozen")' in course_rows and "effnet_b0_ft" not in course_rows
    for row in (["original", 2], ["balanced", 5]):
        values = [v[row[1]] for v in per_class.values()]
        assert ", ".join(f"{v:.2f}" for v in values) in course_rows


def test_001_batch_sizes_and_frozen_backbone_in_12():
    text = source("001")
    assert "batch size 112" in text and "batch size 24" in text
    assert "requires_grad = False" in text and "model.classifier[1] = nn.Linear" in text
    nb_code = code("12_project1_capstone")
    from course_utils.classification import capstone

    assert capstone.BATCH_SIZE == {"cnn": 112, "effnet_b0_frozen": 24, "effnet_b0_ft": 24}
    assert "capstone.BATCH_SIZE" in nb_code
    assert "param.requires_grad = False" in nb_code and "by_hand.classifier[1] = nn.Linear(" in nb_code


def test_002_recall_from_its_own_counts_is_the_exercise_of_07():
    text = source("002")
    counts = {k: int(v) for k, v in re.findall(r"\b(TN|FP|FN|TP) = (\d+)\b", text.split("정확도(Accuracy)")[1])}
    assert counts == {"TN": 3, "FP": 2, "FN": 1, "TP": 3}
    assert "$$Recall = 0.25$$" in text
    y_true = np.r_[np.zeros(counts["TN"] + counts["FP"]), np.ones(counts["FN"] + counts["TP"])]
    y_pred = np.r_[np.zeros(counts["TN"]), np.ones(counts["FP"]), np.zeros(counts["FN"]), np.ones(counts["TP"])]
    recall = recall_score(y_true, y_pred)
    assert recall == pytest.approx(0.75)
    exercise = "\n".join(markdown("07_metrics_evaluation"))
    assert "TN 3, FP 2, FN 1, TP 3" in exercise and "재현율 0.25" in exercise
    answer = "\n".join(markdown("07_metrics_evaluation_solutions"))
    assert f"{recall:.2f}" in answer and "1 - $ 재현율" in answer


def test_002_yolo_table_keeps_its_speed_columns():
    pytest.importorskip("pandas")
    from course_utils.detection import yolo

    rows = re.findall(r"^(YOLOv8[nsmlx])\t640\t([\d.]+)\t([\d.]+)\t([\d.]+)\t([\d.]+)\t([\d.]+)$", source("002"), re.M)
    assert len(rows) == 5
    table = yolo.COURSE_YOLOV8_TABLE
    for name, m, cpu, a100, params, flops in rows:
        assert table.loc[name, "COCO mAP50-95"] == float(m)
        assert table.loc[name, "CPU ONNX (ms)"] == float(cpu) and table.loc[name, "A100 TensorRT (ms)"] == float(a100)
        assert table.loc[name, "params (M)"] == float(params) and table.loc[name, "GFLOPs (640)"] == float(flops)
    text = "\n".join(markdown("18_yolo_comparison_export"))
    cpu = [float(r[2]) for r in rows]
    assert f"{cpu[0]} ms에서 {cpu[-1]} ms로 {cpu[-1] / cpu[0]:.0f}배" in text


def test_003_versions_and_caps_belong_to_another_data_set():
    text = source("003")
    assert "최대 원래 데이터의 7배" in text and "12배" in text and "80%까지" in text and "60%까지" in text
    assert "WM-811K" not in text and "wafer" not in text.lower()
    cell = next(c for c in markdown("02_augmentation") if "×12" in c)
    assert "WM-811K가 아닌 **다른 데이터 세트**" in cell and "80 %" in cell and "60 %" in cell


def test_no_source_describes_the_cnn_blocks_so_03_calls_them_the_kits():
    for number in ("000", "001", "002", "003", "004"):
        assert "Conv3x3" not in source(number) and "MaxPool" not in source(number)
    cell = next(c for c in markdown("03_cnn_design") if "Conv3x3 → BatchNorm" in c)
    assert "키트의 블록" in cell and "키트가 정한 것" in cell


def test_004_classes_are_nearly_balanced_so_weights_are_near_one():
    counts = [int(c.replace(",", "")) for c in re.findall(r"P[PES]-([\d,]+)장", source("004"))]
    assert len(counts) == 3
    y = np.repeat(np.arange(3), counts)
    weights = compute_class_weight("balanced", classes=np.arange(3), y=y)
    assert np.all(np.abs(weights - 1) < 0.1)
    text = markdown("11_photo_folder_project")[0]
    assert " / ".join(f"{c:,}" for c in counts) in text
    assert " / ".join(f"{w:.2f}" for w in weights) in text
