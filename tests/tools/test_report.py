"""report.py: run folder -> report.md, report.html, results.csv; old/partial folders get a clear message."""
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import accuracy_score, f1_score, precision_score

from course_utils.training import metrics
from course_utils.tools import report
from course_utils.core import runs
from course_utils.__main__ import main

CLASSES = ("A", "B", "C")
PROTOCOLS = {"course": ("balanced",), "leakage-free": ("original", "balanced")}
MODELS = ("cnn", "effnet")
SEEDS = (0, 1)
TEST_SETS = ("imbalanced", "balanced")


def _predictions(seed: int, n: int = 60, accuracy: float = 0.7):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)
    wrong = rng.random(n) > accuracy
    pred = np.where(wrong, (y + 1) % len(CLASSES), y)
    return y, pred


def make_run(path, *, figure=True, grid_extra=()):
    """A tiny but complete classification run folder; returns the predictions used for each key."""
    rows, fits, truth = [], [], {}
    k = 0
    for protocol, sets in PROTOCOLS.items():
        for train_set in sets:
            for model in MODELS:
                for seed in SEEDS:
                    fits.append({"protocol": protocol, "train_set": train_set, "model": model, "seed": seed,
                                 "n_train": 100, "epochs": 1, "best_epoch": 1, "time_per_epoch_s": 0.5 + seed,
                                 "params": 1000})
                    for test_set in TEST_SETS:
                        k += 1
                        y, p = _predictions(k, accuracy=0.9 if protocol == "course" else 0.6)
                        key = (protocol, train_set, model, seed, test_set)
                        truth[key] = (y, p)
                        rep = metrics.classification_report_df(y, p, CLASSES, digits=None)
                        rows.append(runs.score_rows(rep, **dict(zip(runs.SCORE_KEYS, key))))
    pd.concat(rows).to_csv(path / runs.SCORES_FILE, index=False)
    pd.DataFrame(fits).to_csv(path / runs.FITS_FILE, index=False)
    if figure:
        Image.new("RGB", (4, 4)).save(path / "curves.png")
    grid = [{"protocol": p, "train_set": s, "model": m, "test_sets": list(TEST_SETS)}
            for p, sets in PROTOCOLS.items() for s in sets for m in MODELS] + list(grid_extra)
    runs.write_run_json(
        path, kind="classification", title="캡스톤 (Capstone) test", settings={"EPOCHS": 1, "SEEDS": [0, 1]},
        environment={"torch": "x"}, grid=grid, seeds=list(SEEDS), test_sets=list(TEST_SETS),
        reference={"caption": "course", "test_sets": ["balanced"],
                   "rows": [{"train_set": "balanced", "model": "cnn", "precision": 93.65, "recall": 93.57,
                             "f1-score": 93.57}]},
        comparisons=[{"title": "누수 (Leakage)", "a": {"protocol": "course", "test_set": "balanced"},
                      "b": {"protocol": "leakage-free", "test_set": "balanced"}, "metrics": ["recall"]}],
        sections=[{"title": "학습 곡선 (Learning curves)", "text": "curves",
                   "figures": [{"file": "curves.png", "caption": "val macro-F1"}]}])
    return truth


def test_report_writes_three_files_with_rows_per_key(tmp_path):
    truth = make_run(tmp_path)
    result = report.write_report(tmp_path, renderer="builtin")
    assert result.complete and result.renderer == "built-in"
    results = pd.read_csv(result.results)
    n_cells = sum(len(s) for s in PROTOCOLS.values()) * len(MODELS)
    assert len(results) == n_cells * len(SEEDS) * len(TEST_SETS)
    assert not results.duplicated(list(runs.SCORE_KEYS)).any()
    for key, (y, p) in truth.items():
        row = results[(results[list(runs.SCORE_KEYS)].astype(str) == [str(v) for v in key]).all(axis=1)]
        assert len(row) == 1
        assert row["macro_f1"].item() == pytest.approx(f1_score(y, p, average="macro"), abs=1e-9)
        assert row["macro_precision"].item() == pytest.approx(precision_score(y, p, average="macro"), abs=1e-9)
        assert row["accuracy"].item() == pytest.approx(accuracy_score(y, p), abs=1e-9)
        assert row["f1:B"].item() == pytest.approx(f1_score(y, p, average=None)[1], abs=1e-9)
        assert row["time_per_epoch_s"].item() == 0.5 + key[3]
    md = result.markdown.read_text(encoding="utf-8")
    for heading in ("# 캡스톤 (Capstone) test", "## 결과 요약 (Summary)", "## 클래스별 결과 (Per-class results)",
                    "## 실행 설정 (Settings)", "## 실행 환경 (Environment)", "## 강의 보고값과 비교",
                    "## 누수 (Leakage)", "## 학습 곡선 (Learning curves)", "## 학습 비용 (Training cost)"):
        assert heading in md
    assert "![val macro-F1](curves.png)" in md
    # mean ± std over the two seeds, checked against numpy
    key0 = [truth[("leakage-free", "original", "cnn", s, "imbalanced")] for s in SEEDS]
    f1s = 100 * np.array([f1_score(y, p, average="macro") for y, p in key0])
    assert f"{f1s.mean():.2f} ± {f1s.std(ddof=1):.2f}" in md
    page = result.html.read_text(encoding="utf-8")
    assert page.count("<table>") >= 5 and "<img src='curves.png'" in page
    assert "결과 요약 (Summary)" in page and "import " not in page


def test_comparison_marks_differences_beyond_the_spread(tmp_path):
    make_run(tmp_path)
    blocks, _, _ = report.build_blocks(report.load_run(tmp_path), tmp_path)
    tables = [b for b in blocks if b[0] == "table" and "recall Δ" in b[2].columns]
    assert tables, "the comparison table is missing"
    scores = pd.read_csv(tmp_path / runs.SCORES_FILE)
    for _, caption, table in tables:
        train_set, model = caption.split(" · ")
        for cls in CLASSES:
            def stats(protocol):
                s = scores[(scores.protocol == protocol) & (scores.train_set == train_set) & (scores.model == model)
                           & (scores.test_set == "balanced") & (scores["class"] == cls)]["recall"] * 100
                return s.mean(), s.std(ddof=1)
            (ma, sa), (mb, sb) = stats("course"), stats("leakage-free")
            assert table.loc[cls, "recall Δ"] == f"{ma - mb:+.2f}"
            assert table.loc[cls, "recall 유의 (beyond spread)"] == ("예" if abs(ma - mb) > sa + sb else "아니오")


def test_embedded_images_and_output_folder(tmp_path):
    make_run(tmp_path)
    out = tmp_path / "slides"
    result = report.write_report(tmp_path, out, embed_images=True)
    assert result.html.parent == out and "data:image/png;base64," in result.html.read_text(encoding="utf-8")


@pytest.mark.parametrize("damage, fragment", [
    (lambda p: (p / "run.json").unlink(), "has no run.json"),
    (lambda p: (p / "run.json").write_text("{", encoding="utf-8"), "not valid JSON"),
    (lambda p: (p / "run.json").write_text(json.dumps({"title": "old"}), encoding="utf-8"), "older kit"),
    (lambda p: (p / "run.json").write_text(json.dumps({"format": 99, "kind": "classification"}), encoding="utf-8"),
     "format 99"),
    (lambda p: (p / "scores.csv").unlink(), "has no scores.csv"),
    (lambda p: pd.read_csv(p / "fits.csv").drop(columns="best_epoch").to_csv(p / "fits.csv", index=False),
     "lacks the columns ['best_epoch']"),
])
def test_old_or_broken_folder_gives_a_clear_message(tmp_path, capsys, damage, fragment):
    make_run(tmp_path)
    damage(tmp_path)
    with pytest.raises(runs.RunFolderError) as info:
        report.write_report(tmp_path)
    assert fragment in str(info.value)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err and "Traceback" not in err
    assert not (tmp_path / report.REPORT_MD).exists()


def test_partial_run_is_reported_with_what_is_missing(tmp_path, capsys):
    extra = [{"protocol": "course", "train_set": "augmented", "model": "cnn", "test_sets": ["balanced"]}]
    make_run(tmp_path, figure=False, grid_extra=extra)
    assert main(["report", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "missing file curves.png" in captured.err
    assert "missing result: protocol=course, train_set=augmented, model=cnn, seed=0, test_set=balanced" in captured.err
    md = (tmp_path / report.REPORT_MD).read_text(encoding="utf-8")
    assert "불완전한 실행 (Incomplete run)" in md and "missing result" in md


def test_cli_ok_and_not_a_folder(tmp_path, capsys):
    make_run(tmp_path)
    assert main(["report", str(tmp_path), "--renderer", "builtin"]) == 0
    assert "HTML renderer: built-in" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_generic_kind_renders_sections_only(tmp_path):
    pd.DataFrame({"class": ["open"], "AP50": [0.5]}).to_csv(tmp_path / "ap.csv", index=False)
    runs.write_run_json(tmp_path, kind="generic", title="Project #2", settings={}, environment={},
                          results_file="ap.csv",
                          sections=[{"title": "검출 (Detection)", "tables": [{"file": "ap.csv", "caption": "AP"}]}])
    result = report.write_report(tmp_path, renderer="builtin")
    assert "## 검출 (Detection)" in result.markdown.read_text(encoding="utf-8")
    assert pd.read_csv(result.results).equals(pd.read_csv(tmp_path / "ap.csv"))
    assert sorted(report.KIND_BUILDERS) == ["classification", "generic"]  # the explicit table of kinds


def test_a_run_of_an_unknown_kind_names_the_kinds_the_kit_renders(tmp_path):
    runs.write_run_json(tmp_path, kind="segmentation", title="?", settings={}, environment={})
    with pytest.raises(runs.RunFolderError, match=r"kind 'segmentation'.*\['classification', 'generic'\]"):
        report.load_run(tmp_path)
    assert runs.read_run(tmp_path)["kind"] == "segmentation"  # core reads any kind; the report checks it
