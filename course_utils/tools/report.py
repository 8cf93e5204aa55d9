"""Presentation report of a run folder: ``python -m course_utils report RUN_DIR``.

A notebook that runs an experiment (the Project #1 capstone, later Project #2)
writes a **run folder**; this module checks it and turns it into three files a
team can put straight into slides:

* ``report.md`` -- tables, figures, settings and environment (no code),
  Korean headings with English terms;
* ``report.html`` -- the same, self-contained apart from the figure files
  (``embed_images=True`` puts the figures inside the HTML);
* ``results.csv`` -- one row per (protocol, training set, model, seed, test set).

The run folder's layout and its readers are in :mod:`course_utils.core.runs`.
``--paper`` adds the parts of a paper (LaTeX/Markdown results table, vector
figures, settings, mean ± std over seeds, a paired test between two
configurations, the outline of a CNN paper): :mod:`course_utils.tools.paper`.

The renderer is generic over *sections* of tables and figures: a ``kind``
(:data:`KIND_BUILDERS`, the table of every kind) turns its own result files
into sections and ``results.csv``. Kind ``"generic"`` renders only the sections
of run.json; kind ``"classification"`` lives in :mod:`course_utils.classification.run_report`.
"""
from __future__ import annotations

import argparse
import base64
import html
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from course_utils.classification import run_report
from course_utils.core.config import atomic_write
from course_utils.core.runs import RESULTS_FILE, RunFolderError, read_run

__all__ = ["KIND_BUILDERS", "REPORT_MD", "load_run", "write_report", "add_report_arguments", "main_report",
           "kv_table", "to_markdown"]

REPORT_MD, _REPORT_HTML = "report.md", "report.html"


@dataclass
class ReportResult:
    """What :func:`write_report` wrote: the three paths, the HTML renderer used and any problems found."""

    markdown: Path
    html: Path
    results: Path
    renderer: str
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------------------
# Reading and checking a run folder
# ---------------------------------------------------------------------------
def _file_problems(run: dict, run_dir: Path) -> list[str]:
    """Files named by the sections that are not in the folder."""
    problems = []
    for section in run["sections"]:
        for item in [*section.get("tables", []), *section.get("figures", [])]:
            if not (run_dir / item["file"]).is_file():
                problems.append(f"missing file {item['file']} (section {section.get('title', '?')!r})")
    return problems


# ---------------------------------------------------------------------------
# Document model: a list of blocks, rendered to Markdown or HTML
# ---------------------------------------------------------------------------
# ("h", level, text) | ("p", text) | ("ul", [items]) | ("table", caption, DataFrame) | ("img", caption, file)
Block = tuple


def kv_table(mapping: dict, key: str = "항목 (Item)", value: str = "값 (Value)") -> pd.DataFrame:
    """Two-column table of ``mapping`` (dicts and lists as JSON), e.g. the settings of a run.

    Used by: report.py, paper.py"""
    return pd.DataFrame({key: list(mapping), value: [json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list))
                                                     else str(v) for v in mapping.values()]})


def _section_blocks(section: dict, run_dir: Path, level: int = 2) -> list[Block]:
    blocks: list[Block] = [("h", level, section.get("title", ""))]
    if section.get("text"):
        blocks.append(("p", section["text"]))
    for item in section.get("tables", []):
        path = run_dir / item["file"]
        if path.is_file():
            blocks.append(("table", item.get("caption", ""), pd.read_csv(path)))
    for item in section.get("figures", []):
        if (run_dir / item["file"]).is_file():
            blocks.append(("img", item.get("caption", ""), item["file"]))
    return blocks


def _frame_cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    frame = table.reset_index() if not isinstance(table.index, pd.RangeIndex) else table
    header = [" · ".join(str(x) for x in c if str(x)) if isinstance(c, tuple) else str(c) for c in frame.columns]
    body = [["" if (isinstance(v, float) and np.isnan(v)) else str(v) for v in row]
            for row in frame.itertuples(index=False, name=None)]
    return header, body


def to_markdown(blocks: list[Block]) -> str:
    """Markdown of the blocks (pipe tables, ``![caption](file)`` images).

    Used by: report.py, paper.py"""
    out = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append("#" * block[1] + " " + block[2])
        elif kind == "p":
            out.append(block[1])
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "table":
            header, body = _frame_cells(block[2])
            esc = lambda s: s.replace("|", "\\|").replace("\n", " ")  # noqa: E731
            lines = ([f"**{block[1]}**", ""] if block[1] else [])
            lines += ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(map(esc, row)) + " |" for row in body]
            out.append("\n".join(lines))
        elif kind == "img":
            out.append(f"![{block[1]}]({block[2]})" + (f"\n\n*{block[1]}*" if block[1] else ""))
    return "\n\n".join(out) + "\n"


_CSS = ("body{font-family:'Noto Sans KR','Malgun Gothic',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}"
        "th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}figcaption{color:#555}")


def _img_src(run_dir: Path, file: str, embed: bool) -> str:
    if not embed:
        return html.escape(file)
    data = base64.b64encode((run_dir / file).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _to_html(blocks: list[Block], title: str, *, run_dir=".", embed_images: bool = False) -> str:
    """A standalone HTML page of the blocks (the kit's own renderer: no package needed)."""
    run_dir, e = Path(run_dir), html.escape
    parts = [f"<!DOCTYPE html><html lang='ko'><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{_CSS}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind == "h":
            parts.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
        elif kind == "p":
            parts.append(f"<p>{e(block[1])}</p>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{e(str(i))}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            header, body = _frame_cells(block[2])
            caption = f"<caption><b>{e(block[1])}</b></caption>" if block[1] else ""
            rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in body)
            parts.append(f"<table>{caption}<thead><tr>{''.join(f'<th>{e(h)}</th>' for h in header)}</tr></thead>"
                         f"<tbody>{rows}</tbody></table>")
        elif kind == "img":
            parts.append(f"<figure><img src='{_img_src(run_dir, block[2], embed_images)}' alt='{e(block[1])}'>"
                         f"<figcaption>{e(block[1])}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------
# Kinds: what a run's result files become (sections + results.csv)
# ---------------------------------------------------------------------------
def _generic(run: dict, run_dir: Path):
    """Only the sections of run.json; results.csv copies ``run["results_file"]`` if given."""
    name = run.get("results_file")
    results = pd.read_csv(run_dir / name) if name and (run_dir / name).is_file() else pd.DataFrame()
    return [], results, []


#: Every kind of run this kit renders: kind -> builder(run, run_dir) returning (blocks, results DataFrame,
#: problems). A new kind (Project #2's detection runs) is one more entry here.
KIND_BUILDERS: dict[str, Callable] = {"generic": _generic, "classification": run_report.build_classification}


def load_run(run_dir) -> dict:
    """:func:`course_utils.core.runs.read_run` plus the check that this kit renders the run's kind."""
    run = read_run(run_dir)
    if run.get("kind") not in KIND_BUILDERS:
        raise RunFolderError(f"{Path(run_dir) / 'run.json'} has kind {run.get('kind')!r}; this kit renders "
                             f"{sorted(KIND_BUILDERS)}.")
    return run


def _header_blocks(run: dict, run_dir: Path) -> list[Block]:
    blocks: list[Block] = [("h", 1, run["title"])]
    meta = [f"생성 (Created): {run.get('created', '?')}", f"상태 (Status): {run.get('status', '?')}",
            f"실행 폴더 (Run folder): {run_dir.name}"]
    blocks.append(("ul", meta))
    return blocks


def build_blocks(run: dict, run_dir) -> tuple[list[Block], pd.DataFrame, list[str]]:
    """All blocks of the report of ``run`` (already checked by :func:`load_run`), results and problems."""
    run_dir = Path(run_dir)
    kind_blocks, results, problems = KIND_BUILDERS[run["kind"]](run, run_dir)
    problems = [*problems, *_file_problems(run, run_dir)]
    if run.get("status") != "complete":
        problems.insert(0, f"run.json says status={run.get('status')!r}: the run did not finish")
    blocks = _header_blocks(run, run_dir)
    if problems:
        blocks += [("h", 2, "⚠ 불완전한 실행 (Incomplete run)"), ("ul", problems)]
    blocks += kind_blocks
    for section in run["sections"]:
        blocks += _section_blocks(section, run_dir)
    blocks += [("h", 2, "실행 설정 (Settings)"), ("table", "", kv_table(run["settings"])),
               ("h", 2, "실행 환경 (Environment)"), ("table", "", kv_table(run["environment"]))]
    return blocks, results, problems


def _markdown_package():
    try:
        import markdown  # optional: a richer renderer when installed
    except ImportError:
        return None
    return markdown


def write_report(run_dir, out_dir=None, *, renderer: str = "auto", embed_images: bool = False) -> ReportResult:
    """Write ``report.md``, ``report.html`` and ``results.csv`` for the run folder ``run_dir``.

    Parameters
    ----------
    run_dir : the run folder (see the module docstring)
    out_dir : where to write the three files (default ``run_dir``; figures stay in ``run_dir``)
    renderer : "auto" (the ``markdown`` package if installed, else the built-in one), "builtin" or "markdown"
    embed_images : put the figures into the HTML as base64 (one file to send around)

    Raises :class:`RunFolderError` when the folder is unusable; a usable but
    incomplete folder (missing figures, missing grid cells, unfinished run) is
    rendered with the problems listed at the top (``ReportResult.problems``).
    """
    if renderer not in ("auto", "builtin", "markdown"):
        raise ValueError(f"renderer must be 'auto', 'builtin' or 'markdown'; got {renderer!r}.")
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    blocks, results, problems = build_blocks(run, run_dir)
    md_text = to_markdown(blocks)
    package = _markdown_package() if renderer != "builtin" else None
    if renderer == "markdown" and package is None:
        raise ValueError("renderer='markdown' needs the markdown package (pip install markdown); use 'auto'.")
    if package is not None and not embed_images:
        body = package.markdown(md_text, extensions=["tables"])
        html_text = (f"<!DOCTYPE html><html lang='ko'><head><meta charset='utf-8'><title>{html.escape(run['title'])}"
                     f"</title><style>{_CSS}</style></head><body>{body}</body></html>")
        used = f"markdown {getattr(package, '__version__', '?')}"
    else:
        html_text = _to_html(blocks, run["title"], run_dir=run_dir, embed_images=embed_images)
        used = "built-in"
    paths = {}
    for name, text in ((REPORT_MD, md_text), (_REPORT_HTML, html_text),
                       (RESULTS_FILE, results.to_csv(index=False))):
        paths[name] = atomic_write(out / name, lambda f, t=text: f.write(t.encode("utf-8")))
    return ReportResult(paths[REPORT_MD], paths[_REPORT_HTML], paths[RESULTS_FILE], used, problems)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------
def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run folder written by a notebook (holds run.json)")
    parser.add_argument("-o", "--out", default=None, help="folder for report.md/html and results.csv (default: RUN_DIR)")
    parser.add_argument("--renderer", default="auto", choices=["auto", "builtin", "markdown"],
                        help="HTML renderer (default: markdown package if installed, else built-in)")
    parser.add_argument("--embed-images", action="store_true", help="put the figures into report.html")


def main_report(args: argparse.Namespace) -> int:
    """Exit codes: 0 complete report, 1 report written but the run is incomplete, 2 no report (bad folder)."""
    try:
        result = write_report(args.run_dir, args.out, renderer=args.renderer, embed_images=args.embed_images)
    except (RunFolderError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in result.problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"wrote {result.markdown}, {result.html} (HTML renderer: {result.renderer}) and {result.results}")
    return 0 if result.complete else 1

