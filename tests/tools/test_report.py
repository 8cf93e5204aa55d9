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


# ---------------------------------------------------------------------------
# --paper: the parts of a paper (course_utils.tools.paper)
# ---------------------------------------------------------------------------
from scipy import stats  # noqa: E402

from course_utils.tools import paper  # noqa: E402

A_SCORES, B_SCORES = [0.81, 0.78, 0.86, 0.80], [0.75, 0.77, 0.79, 0.70]


def make_generic_run(path, *, a=A_SCORES, b=B_SCORES, seeds_b=None, with_seed=True):
    """A generic run: two configurations (names with LaTeX specials) scored over paired seeds."""
    seeds_b = list(range(len(b))) if seeds_b is None else seeds_b
    table = pd.DataFrame({"config": ["lr=1e-3 & aug_50%"] * len(a) + ["base #1"] * len(b),
                          "seed": list(range(len(a))) + seeds_b, "val_f1": a + b,
                          "time_s": [1.0] * (len(a) + len(b))})
    if not with_seed:
        table = table.drop(columns="seed")
    table.to_csv(path / "scores.csv", index=False)
    runs.write_run_json(path, kind="generic", title="lr study", settings={"lr": [1e-3, 1e-2], "epochs": 2},
                        environment={"Python": "3.11", "torch": "2.x", "Selected device": "cpu"},
                        results_file="scores.csv")


def test_latex_escape_every_special_character():
    assert paper.latex_escape(r"a_b & 50% $x$ #1 {y} ~z ^2 \n") == (
        r"a\_b \& 50\% \$x\$ \#1 \{y\} \textasciitilde{}z \textasciicircum{}2 \textbackslash{}n")
    table = paper.latex_table(["a_b", "c"], [["x&y", ("raw", r"1 $\pm$ 2")]], caption="50% of #", label="tab:t",
                              align="lr")
    assert r"a\_b & c \\" in table and r"x\&y & 1 $\pm$ 2 \\" in table and r"\caption{50\% of \#}" in table
    assert table.index(r"\toprule") < table.index(r"\midrule") < table.index(r"\bottomrule")


def test_paper_files_of_a_classification_run(tmp_path):
    truth = make_run(tmp_path)
    result = paper.write_paper(tmp_path, metric="macro_f1",
                               compare=("course / balanced / cnn / balanced", "course / balanced / effnet / balanced"))
    out = tmp_path / "paper"
    for name in ("results.md", "results.tex", "significance.md", "figures.md", "figures.tex", "settings.md",
                 "paper_outline.md", "figures/results.pdf", "figures/results.svg", "figures/paired.pdf",
                 "figures/paired.svg"):
        assert (out / name).is_file() and result.files[name] == out / name, name
    assert (out / "figures/results.pdf").read_bytes().startswith(b"%PDF")
    assert "<svg" in (out / "figures/paired.svg").read_text(encoding="utf-8")
    # mean ± std (percent, sample std) of every configuration against numpy on sklearn's macro-F1
    for protocol, sets in PROTOCOLS.items():
        for train_set in sets:
            for model in MODELS:
                for test_set in TEST_SETS:
                    f1s = 100 * np.array([f1_score(*truth[(protocol, train_set, model, s, test_set)], average="macro")
                                          for s in SEEDS])
                    row = result.summary.loc[f"{protocol} / {train_set} / {model} / {test_set}"]
                    assert row[("macro_f1", "mean")] == pytest.approx(f1s.mean(), abs=1e-9)
                    assert row[("macro_f1", "std")] == pytest.approx(f1s.std(ddof=1), abs=1e-9)
    tex = (out / "results.tex").read_text(encoding="utf-8")
    assert r"macro\_f1" in tex and "macro_f1" not in tex.replace(r"macro\_f1", "")
    f1s = result.summary.loc["course / balanced / cnn / balanced"]
    assert f"{f1s[('macro_f1', 'mean')]:.2f} $\\pm$ {f1s[('macro_f1', 'std')]:.2f}" in tex
    md = (out / "results.md").read_text(encoding="utf-8")
    assert f"{f1s[('macro_f1', 'mean')]:.2f} ± {f1s[('macro_f1', 'std')]:.2f}" in md
    assert r"\includegraphics[width=0.8\linewidth]{figures/results.pdf}" in (out / "figures.tex").read_text("utf-8")
    assert "![" in (out / "figures.md").read_text(encoding="utf-8")
    settings = (out / "settings.md").read_text(encoding="utf-8")
    assert "| EPOCHS | 1 |" in settings and "| torch | x |" in settings and "'Python'" in settings  # Python missing
    outline = (out / "paper_outline.md").read_text(encoding="utf-8")
    for part in ("초록 (Abstract)", "서론 (Introduction)", "관련 연구", "데이터 (Data)", "방법 (Method)", "실험",
                 "결과 (Results)", "절제 연구 (Ablation)", "한계 (Limitations)", "결론 (Conclusion)", "results.tex"):
        assert part in outline


def test_paired_test_matches_scipy_and_a_hand_computed_t(tmp_path):
    make_generic_run(tmp_path)
    result = paper.write_paper(tmp_path, metric="val_f1")
    test = result.test
    assert (test["a"], test["b"], test["n"]) == ("lr=1e-3 & aug_50%", "base #1", 4)
    d = np.array(A_SCORES) - np.array(B_SCORES)
    t_hand = d.mean() / (d.std(ddof=1) / np.sqrt(len(d)))  # t = mean(d) / (s_d / sqrt(n))
    assert test["t"] == pytest.approx(t_hand, rel=1e-12)
    assert test["t"] == pytest.approx(stats.ttest_rel(A_SCORES, B_SCORES).statistic, rel=1e-12)
    assert test["p_t"] == pytest.approx(stats.ttest_rel(A_SCORES, B_SCORES).pvalue, rel=1e-12)
    assert test["p_w"] == pytest.approx(stats.wilcoxon(A_SCORES, B_SCORES).pvalue, rel=1e-12)
    assert test["p_w"] == pytest.approx(2 / 2 ** 4)  # all 4 differences positive: exact two-sided p = 2/2^n
    assert test["d_z"] == pytest.approx(d.mean() / d.std(ddof=1))
    assert test["p_t"] < 0.05 and "높습니다" in test["verdict"] and "Wilcoxon" in test["verdict"]
    tex = (tmp_path / "paper/results.tex").read_text(encoding="utf-8")
    assert r"lr=1e-3 \& aug\_50\%" in tex and r"base \#1" in tex and r"val\_f1" in tex
    assert "| mean A − B | +0.060 |" in (tmp_path / "paper/significance.md").read_text(encoding="utf-8")


def test_no_difference_is_not_called_a_difference(tmp_path):
    make_generic_run(tmp_path, a=[0.80, 0.70, 0.90], b=[0.78, 0.73, 0.88])
    test = paper.write_paper(tmp_path, metric="val_f1").test
    assert test["p_t"] > 0.05 and "구별되지 않습니다" in test["verdict"] and "6개" in test["verdict"]


@pytest.mark.parametrize("kwargs, call, fragment", [
    ({"with_seed": False}, {}, "no 'seed' column"),
    ({"a": [0.8], "b": [0.7]}, {}, "at least 2 paired seeds"),
    ({"seeds_b": [0, 1, 2, 5]}, {},
     "different seed sets: seeds only in 'lr=1e-3 & aug_50%': [3], only in 'base #1': [5]"),
    ({}, {"compare": ("base #1", "nope")}, "b='nope' is not a configuration"),
])
def test_paper_errors_name_the_problem(tmp_path, capsys, kwargs, call, fragment):
    make_generic_run(tmp_path, **kwargs)
    with pytest.raises(runs.RunFolderError) as info:
        paper.write_paper(tmp_path, **call)
    assert fragment in str(info.value)
    argv = ["report", str(tmp_path), "--paper", *(["--compare", *call["compare"]] if call else [])]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error: --paper: " in err and fragment in err and "Traceback" not in err


def test_paper_of_a_missing_folder_and_the_cli(tmp_path, capsys):
    with pytest.raises(runs.RunFolderError, match="is not a folder"):
        paper.write_paper(tmp_path / "nope")
    make_generic_run(tmp_path)
    out = tmp_path / "slides"
    assert main(["report", str(tmp_path), "-o", str(out), "--paper", "--metric", "val_f1"]) == 0
    printed = capsys.readouterr().out
    assert "wrote the paper parts into" in printed and "paired t-test" in printed
    assert (out / "paper" / "results.tex").is_file() and (out / "report.md").is_file()


def test_seed_problems_and_unknown_metric_are_named(tmp_path):
    make_generic_run(tmp_path)
    table = pd.read_csv(tmp_path / "scores.csv")
    with pytest.raises(runs.RunFolderError, match=r"'base #1' has seed 0 more than once"):
        paper.seed_summary(pd.concat([table, table.tail(4)]), ["val_f1"])
    with pytest.raises(runs.RunFolderError, match=r"1 result row\(s\) have no seed \(e.g. row 2\)"):
        paper.seed_summary(table.assign(seed=table["seed"].where(table.index != 2)), ["val_f1"])
    with pytest.raises(ValueError, match=r"metrics \['acc'\] are not columns.*'val_f1'"):
        paper.write_paper(tmp_path, metric="acc")


def test_one_configuration_gets_a_table_and_no_test(tmp_path):
    make_generic_run(tmp_path)
    table = pd.read_csv(tmp_path / "scores.csv")
    table[table["config"] == "base #1"].to_csv(tmp_path / "scores.csv", index=False)
    result = paper.write_paper(tmp_path)
    assert result.test is None and list(result.summary.index) == ["base #1"]
    assert result.summary.loc["base #1", ("val_f1", "mean")] == pytest.approx(np.mean(B_SCORES))
    assert "구성이 하나뿐" in (tmp_path / "paper/significance.md").read_text(encoding="utf-8")
    assert not (tmp_path / "paper/figures/paired.pdf").exists()


@pytest.mark.skipif(__import__("shutil").which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_parts_compile(tmp_path):
    import subprocess

    make_generic_run(tmp_path)
    paper.write_paper(tmp_path, metric="val_f1")
    (tmp_path / "paper/main.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs,graphicx}\n"
                                             "\\begin{document}\n\\input{results.tex}\n\\input{figures.tex}\n"
                                             "\\end{document}\n", encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "main.tex"],
                          cwd=tmp_path / "paper", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "paper/main.pdf").read_bytes().startswith(b"%PDF")


def test_paired_test_called_directly_checks_its_arguments(tmp_path):
    make_generic_run(tmp_path)
    table = pd.read_csv(tmp_path / "scores.csv")
    with pytest.raises(ValueError, match=r"metric 'f1' is not a column.*'val_f1'"):
        paper.paired_test(table, metric="f1", a="base #1", b="lr=1e-3 & aug_50%")
    with pytest.raises(ValueError, match="both 'base #1'"):
        paper.paired_test(table, metric="val_f1", a="base #1", b="base #1")
    same = paper.paired_test(table.assign(val_f1=0.5), metric="val_f1", a="base #1", b="lr=1e-3 & aug_50%")
    assert np.isnan(same["t"]) and np.isnan(same["p_w"]) and "t 통계량을 정의할 수 없습니다" in same["verdict"]
