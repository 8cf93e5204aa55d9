"""Paper parts of a run folder: ``python -m course_utils report RUN_DIR --paper``.

From the same results table the report renders (one row per configuration and
seed, see :mod:`course_utils.tools.report`), :func:`write_paper` writes what a
team pastes into a paper:

* ``results.md`` / ``results.tex`` -- mean ± std over seeds per configuration
  (the LaTeX one a ``booktabs`` table, special characters escaped);
* ``significance.md`` -- a paired comparison of two configurations over the
  same seeds: paired t-test and Wilcoxon signed-rank (``scipy.stats``), the
  effect size d_z and a plain-language verdict;
* ``figures/*.pdf`` + ``figures/*.svg`` (vector) and ``figures.md`` /
  ``figures.tex`` with their captions;
* ``settings.md`` -- the run's settings and environment (Python, torch, device:
  :func:`course_utils.core.env.environment_report` as saved in run.json);
* ``paper_outline.md`` -- one page: the parts of a CNN paper and what goes in each.

A *configuration* is one combination of the results' text columns (for a
classification run: protocol, train_set, model, test_set); its label joins the
columns that vary, e.g. ``"cnn lr=1e-3"``. Values of a classification run are
fractions and are shown in percent.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from course_utils.core.config import atomic_write
from course_utils.core.runs import RunFolderError
from course_utils.tools.report import KIND_BUILDERS, kv_table, to_markdown, load_run

__all__ = ["PaperResult", "CLASSIFICATION_METRICS", "configurations", "seed_summary", "paired_test",
           "latex_escape", "latex_table", "write_paper", "add_paper_arguments", "main_paper"]

#: The columns a classification run's paper table shows (results.csv of the report), in this order.
CLASSIFICATION_METRICS = ("accuracy", "macro_precision", "macro_recall", "macro_f1")
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_ENV_KEYS = ("Python", "torch", "Selected device")
_PM_TEX = r"$\pm$"


@dataclass
class PaperResult:
    """What :func:`write_paper` wrote: file name -> path, the summary table, the paired test (or None)
    and the results it used (one row per configuration and seed, with a ``configuration`` column)."""

    files: dict[str, Path]
    summary: pd.DataFrame
    test: dict | None = None
    results: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Configurations and statistics
# ---------------------------------------------------------------------------
def configurations(results: pd.DataFrame) -> pd.Series:
    """Label of each row's configuration: its text columns (not ``seed``) that vary, joined by " / ".

    A ``configuration`` column, when the results have one, is the label itself.

    Raises :class:`RunFolderError` when ``results`` has no ``seed`` column or a row without a seed.

    Used by: write_paper, paired_test"""
    if "seed" not in results.columns:
        raise RunFolderError(f"the results have no 'seed' column (columns: {list(results.columns)}): mean ± std "
                             "and the paired test need one row per configuration and seed. Save the seed of "
                             "every fit in the run folder.")
    if results["seed"].isna().any():
        raise RunFolderError(f"{int(results['seed'].isna().sum())} result row(s) have no seed (e.g. row "
                             f"{int(np.flatnonzero(results['seed'].isna())[0])}): every fit needs its seed. Fill "
                             "them in or drop those rows.")
    if "configuration" in results.columns:
        return results["configuration"].astype(str)
    text = [c for c in results.columns if c != "seed" and not pd.api.types.is_numeric_dtype(results[c])]
    varying = [c for c in text if results[c].nunique() > 1] or text[:1]
    if not varying:
        return pd.Series("all", index=results.index, name="configuration")
    return results[varying].astype(str).agg(" / ".join, axis=1).rename("configuration")


def seed_summary(results: pd.DataFrame, metrics, *, scale: float = 1.0) -> pd.DataFrame:
    """Mean, sample std (ddof=1; NaN for one seed) and number of seeds per configuration and metric.

    Returns a frame indexed by configuration (first-seen order) with columns
    ``(metric, "mean" | "std")`` and ``("n_seeds", "")``; values times ``scale`` (100: percent).
    Raises :class:`RunFolderError` when a configuration lists a seed twice.

    Used by: write_paper (report --paper)"""
    config = configurations(results)
    twice = results.assign(configuration=config).duplicated(["configuration", "seed"])
    if twice.any():
        row = results.assign(configuration=config)[twice].iloc[0]
        raise RunFolderError(f"configuration {row['configuration']!r} has seed {row['seed']} more than once: "
                             "one row per configuration and seed is needed (filter the results first).")
    absent = [m for m in metrics if m not in results.columns]
    if absent:
        raise ValueError(f"metrics {absent} are not columns of the results; choose from "
                         f"{[c for c in results.columns if pd.api.types.is_numeric_dtype(results[c])]}.")
    grouped = (results[list(metrics)].astype(float) * scale).groupby(config, sort=False)
    table = pd.concat({"mean": grouped.mean(), "std": grouped.std(ddof=1)}, axis=1).swaplevel(0, 1, axis=1)
    table = table[[(m, s) for m in metrics for s in ("mean", "std")]]
    table[("n_seeds", "")] = results.groupby(config, sort=False)["seed"].nunique()
    return table


def _verdict(res: dict, metric: str, alpha: float) -> str:
    a, b, n, diff = res["a"], res["b"], res["n"], res["mean_diff"]
    floor = 2 / 2 ** n  # smallest two-sided exact Wilcoxon p with n seeds (all differences of one sign)
    lines = []
    if not np.isfinite(res["t"]):
        lines.append(f"모든 시드에서 차이가 같아({diff:+.3g}) t 통계량을 정의할 수 없습니다. 시드를 늘려 변동을 재십시오.")
    elif res["p_t"] < alpha:
        word = "높습니다" if diff > 0 else "낮습니다"
        lines.append(f"같은 {n}개 시드에서 {a}의 {metric}이(가) {b}보다 평균 {abs(diff):.3g} {word} "
                     f"(paired t-test p = {res['p_t']:.3g} < {alpha}, d_z = {res['d_z']:.2f}). 이 결론은 이 데이터와 "
                     "이 시드들에 대한 것이며, 다른 데이터 세트에서도 그렇다고 말해 주지는 않습니다.")
    else:
        lines.append(f"{a}와(과) {b}의 {metric} 차이(평균 {diff:+.3g})는 시드 간 변동과 구별되지 않습니다 "
                     f"(paired t-test p = {res['p_t']:.3g} ≥ {alpha}). 차이가 없다는 증거는 아닙니다: 시드를 늘리면 "
                     "작은 차이도 드러날 수 있습니다.")
    if floor > alpha:
        lines.append(f"시드가 {n}개이면 Wilcoxon 부호 순위 검정의 p는 {floor:.3g}보다 작아질 수 없습니다: 이 검정으로 "
                     f"p < {alpha}를 보이려면 시드가 {math.floor(math.log2(2 / alpha)) + 1}개 이상 필요합니다.")
    return " ".join(lines)


def paired_test(results: pd.DataFrame, *, metric: str, a: str, b: str, alpha: float = 0.05,
                scale: float = 1.0) -> dict:
    """Paired comparison of configurations ``a`` and ``b`` on ``metric`` over their common seeds.

    Pairs the rows by seed (both configurations must have the same seeds) and
    returns ``n``, the means, ``mean_diff`` (a − b), ``sd_diff``, the paired
    t statistic ``t`` with its two-sided ``p_t`` (``scipy.stats.ttest_rel``), the
    Wilcoxon signed-rank ``w`` / ``p_w`` (``scipy.stats.wilcoxon``, NaN when every
    difference is 0), the effect size ``d_z`` = mean_diff / sd_diff and a Korean ``verdict``.
    Values times ``scale`` (100: percent points).

    Raises :class:`RunFolderError` for an unknown configuration, different seed
    sets or fewer than 2 paired seeds.

    Taught in: 21_writing_up_experiments"""
    from scipy import stats

    config = configurations(results)
    known = list(dict.fromkeys(config))
    for name, label in (("a", a), ("b", b)):
        if label not in known:
            raise RunFolderError(f"{name}={label!r} is not a configuration of the run; the run has {known}.")
    if a == b:
        raise ValueError(f"a and b are both {a!r}: compare two different configurations.")
    if metric not in results.columns:
        raise ValueError(f"metric {metric!r} is not a column of the results; choose from "
                         f"{[c for c in results.columns if pd.api.types.is_numeric_dtype(results[c])]}.")
    series = {label: (results.loc[config == label].set_index("seed")[metric].astype(float) * scale)
              for label in (a, b)}
    seeds_a, seeds_b = set(series[a].index), set(series[b].index)
    if seeds_a != seeds_b:
        raise RunFolderError(f"configurations {a!r} and {b!r} have different seed sets: seeds only in {a!r}: "
                             f"{sorted(seeds_a - seeds_b)}, only in {b!r}: {sorted(seeds_b - seeds_a)}. A paired "
                             "test compares the same seeds; run the missing seeds or drop them.")
    seeds = sorted(seeds_a)
    if len(seeds) < 2:
        raise RunFolderError(f"configurations {a!r} and {b!r} share {len(seeds)} seed(s) {seeds}; a paired test "
                             "needs at least 2 paired seeds (3 or more to say anything). Run more seeds.")
    xa, xb = series[a].loc[seeds].to_numpy(), series[b].loc[seeds].to_numpy()
    d = xa - xb
    sd = float(d.std(ddof=1))
    t_res = stats.ttest_rel(xa, xb) if sd > 0 else None
    w, p_w = float("nan"), float("nan")  # undefined when every difference is zero
    if np.any(d != 0):
        w_res = stats.wilcoxon(xa, xb)
        w, p_w = float(w_res.statistic), float(w_res.pvalue)
    res = {"metric": metric, "a": a, "b": b, "n": len(seeds), "seeds": seeds, "mean_a": float(xa.mean()),
           "mean_b": float(xb.mean()), "mean_diff": float(d.mean()), "sd_diff": sd,
           "t": float(t_res.statistic) if t_res else float("nan"),
           "p_t": float(t_res.pvalue) if t_res else float("nan"),
           "w": w, "p_w": p_w, "d_z": float(d.mean()) / sd if sd > 0 else float("nan"), "alpha": alpha}
    res["verdict"] = _verdict(res, metric, alpha)
    return res


# ---------------------------------------------------------------------------
# LaTeX
# ---------------------------------------------------------------------------
def latex_escape(text) -> str:
    r"""``text`` with LaTeX's special characters escaped (``&`` -> ``\&``, ``_`` -> ``\_``,
    ``\`` -> ``\textbackslash{}``, ``~`` -> ``\textasciitilde{}``, ...).

    Used by: write_paper (report --paper)"""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_table(header: list[str], rows: list[list[str]], *, caption: str, label: str, align: str) -> str:
    """A ``booktabs`` table (``\\toprule``/``\\midrule``/``\\bottomrule``) as LaTeX source.

    ``header``, the cells of ``rows`` and ``caption`` are plain text, escaped here;
    one given as ``("raw", text)`` is written unchanged (e.g. ``"1.0 $\\pm$ 0.2"``).
    ``align`` is the tabular column spec (``"lrr"``).

    Used by: write_paper (report --paper)"""
    cell = lambda c: c[1] if isinstance(c, tuple) else latex_escape(c)  # noqa: E731
    lines = ["% needs \\usepackage{booktabs} in the preamble (and kotex for Korean text)",
             "\\begin{table}[t]", "\\centering",
             f"\\caption{{{cell(caption)}}}", f"\\label{{{label}}}", f"\\begin{{tabular}}{{{align}}}",
             "\\toprule", " & ".join(cell(h) for h in header) + r" \\", "\\midrule"]
    lines += [" & ".join(cell(c) for c in row) + r" \\" for row in rows]
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# The files
# ---------------------------------------------------------------------------
def _pm(mean: float, std: float, digits: int, tex: bool) -> str:
    if not np.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} {_PM_TEX if tex else '±'} {std:.{digits}f}"


def _results_files(summary: pd.DataFrame, metrics, unit: str, digits: int, n_label: str) -> tuple[str, str]:
    caption = (f"Results per configuration: mean {{pm}} sample standard deviation over seeds{unit}; "
               "highest mean in bold.")
    header = ["configuration", *metrics, n_label]
    best = {m: summary[(m, "mean")].idxmax() for m in metrics}
    md_rows, tex_rows = [], []
    for config, row in summary.iterrows():
        cells = [(_pm(row[(m, "mean")], row[(m, "std")], digits, False),
                  _pm(row[(m, "mean")], row[(m, "std")], digits, True), best[m] == config) for m in metrics]
        md_rows.append([config, *[f"**{c[0]}**" if c[2] else c[0] for c in cells], str(int(row[("n_seeds", "")]))])
        tex_rows.append([config, *[("raw", f"\\textbf{{{c[1]}}}" if c[2] else c[1]) for c in cells],
                         str(int(row[("n_seeds", "")]))])
    md = to_markdown([("h", 1, "결과 표 (Results table)"), ("p", caption.format(pm="±")),
                       ("table", "", pd.DataFrame(md_rows, columns=header))])
    tex = latex_table(header, tex_rows, caption=("raw", _PM_TEX.join(map(latex_escape, caption.split("{pm}")))),
                      label="tab:results", align="l" + "r" * (len(metrics) + 1))
    return md, tex


def _significance_md(test: dict | None, note: str, digits: int) -> str:
    if test is None:
        return to_markdown([("h", 1, "유의성 검정 (Significance test)"), ("p", note)])
    f = lambda v: "–" if not np.isfinite(v) else f"{v:.4g}"  # noqa: E731
    table = pd.DataFrame({"항목 (Item)": ["metric", "A", "B", "paired seeds", "mean A", "mean B", "mean A − B",
                                          "sd of A − B", "paired t", "p (t-test, two-sided)", "Wilcoxon W",
                                          "p (Wilcoxon, two-sided)", "effect size d_z"],
                          "값 (Value)": [test["metric"], test["a"], test["b"], f"{test['n']} {test['seeds']}",
                                        f"{test['mean_a']:.{digits}f}", f"{test['mean_b']:.{digits}f}",
                                        f"{test['mean_diff']:+.{digits}f}", f"{test['sd_diff']:.{digits}f}",
                                        f(test["t"]), f(test["p_t"]), f(test["w"]), f(test["p_w"]), f(test["d_z"])]})
    text = ("시드(Seed)마다 두 구성을 짝지어 차이 A − B를 봅니다: 같은 시드는 같은 데이터 순서와 초기값을 공유하므로, "
            "짝지은 검정(Paired test)이 두 구성의 평균을 따로 비교하는 것보다 대개 민감합니다. d_z = (A − B의 평균) / "
            "(A − B의 표준편차)입니다.")
    return to_markdown([("h", 1, "유의성 검정 (Significance test)"), ("p", text), ("table", "", table),
                         ("h", 2, "판정 (Verdict)"), ("p", test["verdict"])])


def _figures(summary: pd.DataFrame, results: pd.DataFrame, metric: str, test: dict | None, scale: float,
             unit: str) -> list[tuple[str, str, object]]:
    from matplotlib.figure import Figure

    config = configurations(results)
    fig = Figure(figsize=(4.5, 3.0))
    ax = fig.add_subplot()
    names = list(summary.index)
    ax.bar(range(len(names)), summary[(metric, "mean")], yerr=summary[(metric, "std")].fillna(0), capsize=4,
           color="#9ecae1", edgecolor="black")
    for k, name in enumerate(names):
        values = results.loc[config == name, metric].astype(float) * scale
        ax.plot(k + np.linspace(0.12, 0.3, len(values)), values, "o", color="black", ms=3)  # beside the error bar
    ax.set_xticks(range(len(names)), names, rotation=15 if len(names) > 3 else 0, fontsize=8)
    ax.set_ylabel(metric + unit)
    fig.tight_layout()
    figs = [("results", f"{metric}{unit} per configuration: bars show the mean over seeds, error bars one sample "
             "standard deviation, dots the single seeds.", fig)]
    if test is not None:
        fig2 = Figure(figsize=(3.5, 3.0))
        ax2 = fig2.add_subplot()
        for seed in test["seeds"]:
            pair = [float(results.loc[(config == c) & (results["seed"] == seed), metric].iloc[0]) * scale
                    for c in (test["a"], test["b"])]
            ax2.plot([0, 1], pair, "o-", color="gray")
        ax2.set_xticks([0, 1], [test["a"], test["b"]], fontsize=8)
        ax2.set_xlim(-0.3, 1.3)
        ax2.set_ylabel(metric + unit)
        fig2.tight_layout()
        figs.append(("paired", f"Paired comparison on {metric}: each line joins the two configurations trained "
                     f"with the same seed ({test['n']} seeds).", fig2))
    return figs


def _write_figures(out: Path, figs) -> tuple[str, str, list[str]]:
    md_lines, tex, names = ["# 그림 (Figures)", ""], ["% needs \\usepackage{graphicx} in the preamble"], []
    for k, (name, caption, fig) in enumerate(figs, start=1):
        for ext, meta in (("pdf", {"CreationDate": None}), ("svg", {"Date": None})):
            atomic_write(out / "figures" / f"{name}.{ext}",
                         lambda f, fg=fig, e=ext, m=meta: fg.savefig(f, format=e, metadata=m))
            names.append(f"figures/{name}.{ext}")
        md_lines += [f"![{caption}](figures/{name}.svg)", "", f"**그림 {k} (Figure {k}).** {caption} "
                     f"(PDF: `figures/{name}.pdf`)", ""]
        tex += ["\\begin{figure}[t]", "\\centering", f"\\includegraphics[width=0.8\\linewidth]{{figures/{name}.pdf}}",
                f"\\caption{{{latex_escape(caption)}}}", f"\\label{{fig:{name}}}", "\\end{figure}", ""]
    return "\n".join(md_lines), "\n".join(tex), names


def _settings_md(run: dict, run_dir: Path, configs: list[str], seeds: list) -> str:
    env = run.get("environment", {})
    missing = [k for k in _ENV_KEYS if k not in env]
    blocks = [("h", 1, "실행 설정과 환경 (Settings and environment)"),
              ("ul", [f"실행 폴더 (Run folder): {run_dir.name}", f"생성 (Created): {run.get('created', '?')}",
                      f"구성 (Configurations): {', '.join(configs)}", f"시드 (Seeds): {seeds}"]),
              ("h", 2, "실행 설정 (Settings)"), ("table", "", kv_table(run.get("settings", {}))),
              ("h", 2, "실행 환경 (Environment)"), ("table", "", kv_table(env))]
    if missing:
        blocks.append(("p", f"run.json에 {missing} 항목이 없습니다: 논문에 쓰려면 실행한 기계에서 "
                            "`python -m course_utils env`로 확인해 적으십시오."))
    return to_markdown(blocks)


_OUTLINE = [
    ("초록 (Abstract)", "문제, 방법, 가장 중요한 숫자 하나(평균 ± 표준편차, 시드 수), 결론을 4–6문장으로."),
    ("서론 (Introduction)", "검사 라인의 문제와 왜 어려운지(불균형, 작은 결함), 기여(Contribution) 2–3개를 목록으로."),
    ("관련 연구 (Related work)", "같은 데이터 세트의 선행 결과와 쓰는 모델 계열(CNN, 전이 학습), 출처를 반드시 적습니다."),
    ("데이터 (Data)", "데이터 세트, 클래스 분포, 분할(Split)과 누수 방지, 증강: 숫자는 표로."),
    ("방법 (Method)", "모델 구조(층, 파라미터 수, FLOPs), 손실 함수, 최적화와 하이퍼파라미터 → `settings.md`."),
    ("실험 설정 (Experiments)", "비교하는 구성, 시드 수, 지표(macro-F1 등), 하드웨어와 소프트웨어 → `settings.md`."),
    ("결과 (Results)", "주 결과 표 → `results.md` / `results.tex`, 그림 → `figures.md` / `figures.tex`."),
    ("절제 연구 (Ablation)", "한 번에 한 요소만 바꾼 비교와 그 유의성 → `significance.md`(짝지은 검정, 효과 크기)."),
    ("한계 (Limitations)", "시드 수, 데이터 세트 하나, 합성 데이터 여부, 재현하지 못한 값: 숨기지 않고 적습니다."),
    ("결론 (Conclusion)", "기여를 숫자와 함께 다시 한 번, 다음 연구 한두 가지."),
]


def _outline_md(run: dict) -> str:
    rows = pd.DataFrame(_OUTLINE, columns=["부분 (Part)", "무엇을 쓰는가 (What goes in it)"])
    return to_markdown([("h", 1, "CNN 논문의 구조 (Structure of a CNN paper)"),
                         ("p", f"실행 '{run['title']}'에서 만든 파일이 들어갈 자리를 함께 적었습니다. 한 쪽 분량의 뼈대입니다."),
                         ("table", "", rows)])


def write_paper(run_dir, out_dir=None, *, metric: str | None = None, compare=None, metrics=None,
                alpha: float = 0.05) -> PaperResult:
    """Write the paper parts of the run folder ``run_dir`` into ``out_dir`` (default ``run_dir/paper``).

    Parameters
    ----------
    metric : the column tested and plotted (default ``macro_f1`` for a classification run, else the first metric)
    compare : two configuration labels ``(a, b)`` for the paired test (default: the first two configurations;
        no test when the run has one configuration)
    metrics : the columns of the results table (default :data:`CLASSIFICATION_METRICS` or every numeric column)
    alpha : significance level of the verdict

    Raises :class:`RunFolderError` for a missing/unusable folder, results without
    seeds, fewer than 2 paired seeds or configurations with different seed sets.

    The command line ``python -m course_utils report RUN_DIR --paper`` calls it.

    Taught in: 21_writing_up_experiments"""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "paper"
    _, results, _ = KIND_BUILDERS[run["kind"]](run, run_dir)
    if results.empty:
        raise RunFolderError(f"{run_dir} has no results (no rows): nothing to put in a paper. "
                             "Run the experiment first.")
    if "seed" in results and pd.to_numeric(results["seed"], errors="coerce").notna().all():
        results = results.assign(seed=pd.to_numeric(results["seed"]))  # "0" read back as text -> 0
    classification = run["kind"] == "classification"
    scale, unit, digits = (100.0, " (%)", 2) if classification else (1.0, "", 3)
    config = configurations(results)
    if metrics is None:
        metrics = [m for m in CLASSIFICATION_METRICS if m in results] if classification else \
            [c for c in results.columns if c != "seed" and pd.api.types.is_numeric_dtype(results[c])]
    metrics = list(metrics)
    metric = metric or ("macro_f1" if "macro_f1" in metrics else metrics[0])
    summary = seed_summary(results, list(dict.fromkeys([*metrics, metric])), scale=scale)
    names = list(summary.index)
    test, note = None, ""
    if compare is not None or len(names) >= 2:
        a, b = compare if compare is not None else names[:2]
        test = paired_test(results, metric=metric, a=a, b=b, alpha=alpha, scale=scale)
    else:
        note = f"구성이 하나뿐이라({names[0]}) 비교할 짝이 없습니다."
    results_md, results_tex = _results_files(summary, metrics, unit, digits, "seeds")
    fig_md, fig_tex, fig_files = _write_figures(out, _figures(summary, results, metric, test, scale, unit))
    texts = {"results.md": results_md, "results.tex": results_tex,
             "significance.md": _significance_md(test, note, digits),
             "figures.md": fig_md, "figures.tex": fig_tex,
             "settings.md": _settings_md(run, run_dir, names, sorted(results["seed"].unique().tolist())),
             "paper_outline.md": _outline_md(run)}
    files = {name: atomic_write(out / name, lambda f, t=text: f.write(t.encode("utf-8")))
             for name, text in texts.items()}
    files.update({name: out / name for name in fig_files})
    return PaperResult(files, summary, test, results.assign(configuration=config), [note] if note else [])


# ---------------------------------------------------------------------------
# Command line: the options of ``report`` that ask for the paper parts
# ---------------------------------------------------------------------------
def add_paper_arguments(parser: argparse.ArgumentParser) -> None:
    """``--paper``, ``--metric`` and ``--compare`` of ``python -m course_utils report``.

    Used by: course_utils/__main__.py (report)"""
    parser.add_argument("--paper", action="store_true",
                        help="also write the paper parts (results.md/.tex, figures PDF/SVG, settings.md, "
                             "significance.md, paper_outline.md) into OUT/paper")
    parser.add_argument("--metric", default=None, help="--paper: the metric tested and plotted (default macro_f1)")
    parser.add_argument("--compare", nargs=2, default=None, metavar=("A", "B"),
                        help="--paper: the two configurations of the paired test (default: the first two)")


def main_paper(args: argparse.Namespace) -> int:
    """Write the paper parts into ``OUT/paper`` (OUT = ``--out`` or RUN_DIR); 0 written, 2 error (message on stderr).

    Used by: course_utils/__main__.py (report --paper)"""
    out = Path(args.out if args.out is not None else args.run_dir) / "paper"
    try:
        parts = write_paper(args.run_dir, out, metric=args.metric, compare=args.compare)
    except (RunFolderError, ValueError) as exc:
        print(f"error: --paper: {exc}", file=sys.stderr)
        return 2
    print(f"wrote the paper parts into {out}: {', '.join(sorted(parts.files))}")
    if parts.test is not None:
        print(parts.test["verdict"])
    return 0
