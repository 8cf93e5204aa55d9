"""Kind ``"classification"`` of the run report (:mod:`course_utils.tools.report`): scores of a classification grid as report sections.

Reads ``scores.csv`` (one row per protocol, training set, model, seed, test set
and class) and ``fits.csv`` (one row per training run) and builds

* the summary: macro P/R/F1 and accuracy, mean ± std over seeds, the test sets side by side;
* the comparison with the course's reported numbers (``run["reference"]``);
* every ``run["comparisons"]`` entry: per-class A vs B with Δ = A − B and whether
  ``|Δ|`` exceeds the spread ``s_A + s_B`` (sample standard deviations over seeds);
* the course's per-class table (P/R/F1 per test set) of every grid cell;
* the training cost per cell (time per epoch, parameters, FLOPs: whatever fits.csv holds);

and ``results.csv``: one row per (protocol, train_set, model, seed, test_set)
with accuracy, macro precision/recall/F1, ``n_test``, ``f1:<class>`` columns and
the fit's columns (n_train, epochs, best_epoch, time_per_epoch_s, ...).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from course_utils.core.runs import FIT_COLUMNS, FITS_FILE, SCORE_COLUMNS, SCORE_KEYS, SCORES_FILE, read_csv

__all__ = ["build_classification", "results_table", "summary_table", "course_layout", "comparison_tables", "reference_table"]

Block = tuple
_SUMMARY_ROWS = ("macro avg", "weighted avg", "accuracy")


def _pm(values: pd.Series) -> str:
    """``mean ± std`` in percent (sample std over seeds; a single seed shows the mean only)."""
    v = 100 * values.astype(float)
    return f"{v.mean():.2f}" if len(v) < 2 else f"{v.mean():.2f} ± {v.std(ddof=1):.2f}"


def results_table(scores: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    """One row per (protocol, train_set, model, seed, test_set): macro scores, accuracy, F1 per class, fit info.

    Taught in: 12_project1_capstone"""
    keyed = scores.set_index([*SCORE_KEYS, "class"])
    macro = keyed.xs("macro avg", level="class")
    out = pd.DataFrame({"accuracy": keyed.xs("accuracy", level="class")["f1-score"],
                        "macro_precision": macro["precision"], "macro_recall": macro["recall"],
                        "macro_f1": macro["f1-score"], "n_test": macro["support"].astype(int)})
    per_class = scores[~scores["class"].isin(_SUMMARY_ROWS)]
    f1 = per_class.pivot_table(index=list(SCORE_KEYS), columns="class", values="f1-score", sort=False)
    out = out.join(f1.add_prefix("f1:")).reset_index()
    fit_keys = [k for k in SCORE_KEYS if k != "test_set"]
    return out.merge(fits.drop_duplicates(fit_keys), on=fit_keys, how="left")


def _grid_problems(run: dict, results: pd.DataFrame) -> list[str]:
    have = set(map(tuple, results[list(SCORE_KEYS)].astype(str).to_numpy()))
    problems = []
    for cell in run.get("grid", []):
        for seed in run.get("seeds", []):
            for test_set in cell.get("test_sets", run.get("test_sets", [])):
                key = (cell["protocol"], cell["train_set"], cell["model"], str(seed), test_set)
                if key not in have:
                    problems.append("missing result: " + ", ".join(f"{k}={v}" for k, v in zip(SCORE_KEYS, key)))
    return problems


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Macro P/R/F1 and accuracy, mean ± std over seeds; both test sets side by side.

    Taught in: 12_project1_capstone"""
    cells = ["protocol", "train_set", "model"]
    grouped = results.groupby([*cells, "test_set"], sort=False)
    table = grouped.agg(P=("macro_precision", _pm), R=("macro_recall", _pm), F1=("macro_f1", _pm),
                        Acc=("accuracy", _pm), seeds=("seed", "nunique"))
    table = table.unstack("test_set").swaplevel(0, 1, axis=1)
    order = list(dict.fromkeys(results["test_set"]))
    return table[[(t, m) for t in order for m in ("P", "R", "F1", "Acc", "seeds")]]


def course_layout(scores: pd.DataFrame, cell: tuple) -> pd.DataFrame:
    """The course's table for one cell: per class P/R/F1 (mean ± std %), test sets side by side.

    Taught in: 12_project1_capstone"""
    part = scores[(scores["protocol"] == cell[0]) & (scores["train_set"] == cell[1]) & (scores["model"] == cell[2])]
    part = part[part["class"] != "weighted avg"]
    table = part.groupby(["class", "test_set"], sort=False).agg(
        P=("precision", _pm), R=("recall", _pm), F1=("f1-score", _pm)).unstack("test_set")
    table = table.swaplevel(0, 1, axis=1)
    order = list(dict.fromkeys(part["test_set"]))
    table = table[[(t, m) for t in order for m in ("P", "R", "F1")]]
    if "accuracy" in table.index:  # sklearn's layout: accuracy only in the F1 column
        table.loc["accuracy", [(t, m) for t in order for m in ("P", "R")]] = ""
    return table.loc[list(dict.fromkeys(part["class"]))]


def reference_table(run: dict, results: pd.DataFrame) -> pd.DataFrame | None:
    """The course's reported P/R/F1 (``run["reference"]``) beside this run's macro scores; None without one.

    Taught in: 12_project1_capstone"""
    ref = run.get("reference")
    if not ref or not ref.get("rows"):
        return None
    rows = []
    for r in ref["rows"]:
        for test_set in ref.get("test_sets", [r.get("test_set")]):
            mine = results[(results["train_set"] == r["train_set"]) & (results["model"] == r["model"])
                           & (results["test_set"] == test_set)]
            for protocol, part in mine.groupby("protocol", sort=False):
                rows.append({"train_set": r["train_set"], "model": r["model"], "protocol": protocol,
                             "test_set": test_set, "강의 P/R/F1 (course)": f"{r['precision']:.2f} / "
                             f"{r['recall']:.2f} / {r['f1-score']:.2f}",
                             "P": _pm(part["macro_precision"]), "R": _pm(part["macro_recall"]),
                             "F1": _pm(part["macro_f1"]),
                             "ΔF1 (ours − course)": f"{100 * part['macro_f1'].mean() - r['f1-score']:+.2f}"})
    return pd.DataFrame(rows) if rows else None


def comparison_tables(comp: dict, scores: pd.DataFrame) -> list[Block]:
    """Per-class A vs B (mean ± std), Δ = A − B and whether |Δ| exceeds the spread s_A + s_B.

    ``comp["a"]``/``comp["b"]`` filter ``scores`` by column values; one table is made for
    every combination of the key columns that neither filter fixes (e.g. one per model).

    Taught in: 12_project1_capstone"""
    def pick(filters: dict) -> pd.DataFrame:
        mask = ~scores["class"].isin(("weighted avg", "accuracy")).to_numpy()
        for k, v in filters.items():
            mask &= (scores[k].astype(str) == str(v)).to_numpy()
        return scores[mask]

    a, b = pick(comp["a"]), pick(comp["b"])
    free = [k for k in ("protocol", "train_set", "model", "test_set") if k not in comp["a"] and k not in comp["b"]]
    groups = a.groupby(free, sort=False) if free else [((), a)]
    blocks: list[Block] = []
    for values, pa in groups:
        values = values if isinstance(values, tuple) else (values,)
        pb = b[(b[free].astype(str) == [str(v) for v in values]).all(axis=1)] if free else b
        if pb.empty:
            continue
        cols = {}
        for metric in comp.get("metrics", ["recall", "f1-score"]):
            ga, gb = pa.groupby("class", sort=False)[metric], pb.groupby("class", sort=False)[metric]
            delta = (100 * (ga.mean() - gb.mean())).dropna()
            spread = (100 * (ga.std(ddof=1) + gb.std(ddof=1))).reindex(delta.index)
            cols[f"{metric} A"] = ga.apply(_pm).reindex(delta.index)
            cols[f"{metric} B"] = gb.apply(_pm).reindex(delta.index)
            cols[f"{metric} Δ"] = delta.map(lambda d: f"{d:+.2f}")
            cols[f"{metric} 유의 (beyond spread)"] = ["?" if np.isnan(s) else ("예" if abs(d) > s else "아니오")
                                                     for d, s in zip(delta, spread)]
        blocks.append(("table", " · ".join(map(str, values)), pd.DataFrame(cols)))
    return blocks


def build_classification(run: dict, run_dir: Path):
    """Report sections, results rows and grid problems of a ``"classification"`` run folder.

    Used by: course_utils.tools.report"""
    scores = read_csv(run_dir, SCORES_FILE, SCORE_COLUMNS, "per-class scores of every evaluation")
    fits = read_csv(run_dir, FITS_FILE, FIT_COLUMNS, "one row per training run")
    scores["seed"] = scores["seed"].astype(str)
    fits["seed"] = fits["seed"].astype(str)
    results = results_table(scores, fits)
    blocks: list[Block] = [
        ("h", 2, "결과 요약 (Summary): 매크로 평균 (Macro average)"),
        ("p", "값은 % 단위, 시드(Seed)별 결과의 평균 ± 표준편차(Standard deviation)입니다. 두 값의 차이가 "
              "두 표준편차의 합보다 작으면 결과로 보지 않습니다."),
        ("table", "", summary_table(results))]
    ref = reference_table(run, results)
    if ref is not None:
        blocks += [("h", 2, "강의 보고값과 비교 (Comparison with the course's results)"),
                   ("p", run["reference"].get("caption", "")), ("table", "", ref)]
    for comp in run.get("comparisons", []):
        blocks += [("h", 2, comp.get("title", "비교 (Comparison)")),
                   ("p", f"A = {comp['a']}, B = {comp['b']}. Δ = A − B (%p); '예' = |Δ| > s_A + s_B.")]
        blocks += comparison_tables(comp, scores)
    blocks.append(("h", 2, "클래스별 결과 (Per-class results): 정밀도 (P) / 재현율 (R) / F1"))
    for cell in scores[["protocol", "train_set", "model"]].drop_duplicates().itertuples(index=False, name=None):
        blocks.append(("table", " · ".join(cell), course_layout(scores, cell)))
    cost = fits.groupby(["protocol", "train_set", "model"], sort=False).mean(numeric_only=True).round(3)
    blocks += [("h", 2, "학습 비용 (Training cost): 시드 평균 (mean over seeds)"), ("table", "", cost)]
    return blocks, results, _grid_problems(run, results)

