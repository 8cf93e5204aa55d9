"""Presentation report of a run folder: ``python -m course_utils report RUN_DIR``.

A notebook that runs an experiment (the Project #1 capstone, later Project #2)
writes a **run folder**; this module checks it and turns it into three files a
team can put straight into slides:

* ``report.md`` -- tables, figures, settings and environment (no code),
  Korean headings with English terms;
* ``report.html`` -- the same, self-contained apart from the figure files
  (``embed_images=True`` puts the figures inside the HTML);
* ``results.csv`` -- one row per (protocol, training set, model, seed, test set).

Run folder layout (``RUN_FORMAT = 1``)
--------------------------------------
::

    RUN_DIR/run.json        {"format": 1, "kind": "classification", "title": ..., "created": ...,
                             "status": "complete" | "running", "settings": {...}, "environment": {...},
                             "grid": [{"protocol", "train_set", "model"}, ...],   # planned cells
                             "seeds": [...], "test_sets": [...],
                             "reference": {"caption": ..., "rows": [...]},        # optional
                             "comparisons": [{"title", "a": {...}, "b": {...}, "metrics": [...]}],  # optional
                             "sections": [{"title", "text", "tables": [{"file", "caption"}],
                                           "figures": [{"file", "caption"}]}]}
    RUN_DIR/scores.csv      classification: one row per (protocol, train_set, model, seed, test_set, class)
                            with precision, recall, f1-score, support (fractions; classes plus
                            "macro avg", "weighted avg", "accuracy")
    RUN_DIR/fits.csv        one row per fit: protocol, train_set, model, seed, n_train, epochs,
                            best_epoch, time_per_epoch_s, ...
    RUN_DIR/*.png, tables/*.csv, histories/*.csv   files named by the sections

The renderer is generic over *sections* of tables and figures: a ``kind``
(:data:`KIND_BUILDERS`) turns its own result files into sections and
``results.csv``; :func:`register_kind` adds another kind (detection) without
touching the renderers. Kind ``"generic"`` renders only the sections of run.json;
kind ``"classification"`` lives in :mod:`course_utils.report_classification`.
"""
from __future__ import annotations

import argparse
import base64
import datetime as _dt
import html
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .config import atomic_write

__all__ = ["RUN_FORMAT", "RUN_FILE", "SCORES_FILE", "FITS_FILE", "RESULTS_FILE", "REPORT_MD", "REPORT_HTML",
           "SCORE_KEYS", "SCORE_COLUMNS", "FIT_COLUMNS", "RunFolderError", "ReportResult", "environment_info",
           "write_run_json", "score_rows", "load_run", "register_kind", "KIND_BUILDERS", "to_markdown",
           "to_html", "write_report", "add_report_arguments", "main_report"]

RUN_FORMAT = 1
RUN_FILE, SCORES_FILE, FITS_FILE = "run.json", "scores.csv", "fits.csv"
RESULTS_FILE, REPORT_MD, REPORT_HTML = "results.csv", "report.md", "report.html"
#: Columns that identify one evaluation (one row of results.csv).
SCORE_KEYS = ("protocol", "train_set", "model", "seed", "test_set")
SCORE_COLUMNS = (*SCORE_KEYS, "class", "precision", "recall", "f1-score", "support")
FIT_COLUMNS = ("protocol", "train_set", "model", "seed", "n_train", "epochs", "best_epoch", "time_per_epoch_s")
_HOW_TO_FIX = ("Run the notebook that made this folder again (e.g. `python -m course_utils run 12`) "
               "to write a complete run folder, or pass the folder that holds it.")


class RunFolderError(ValueError):
    """The run folder is missing, from an older format, or incomplete; the message says what and how to fix."""


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
# Writing a run folder (called by the notebooks)
# ---------------------------------------------------------------------------
def environment_info() -> dict:
    """``{item: value}`` of :func:`course_utils.env.environment_report` plus the package versions used here."""
    from . import env

    info = dict(env.environment_report().itertuples(index=False, name=None))
    info["numpy"], info["pandas"] = np.__version__, pd.__version__
    return info


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def write_run_json(run_dir, *, kind: str, title: str, settings: dict, environment: dict | None = None,
                   status: str = "complete", **extra) -> Path:
    """Write ``run_dir/run.json`` atomically (settings, environment and the keys in ``extra``).

    ``extra`` may hold ``grid``, ``seeds``, ``test_sets``, ``reference``,
    ``comparisons`` and ``sections`` (see the module docstring). Values that
    JSON cannot hold (paths, devices) are written as strings. Returns the path.
    """
    if status not in ("complete", "running"):
        raise ValueError(f"status must be 'complete' or 'running'; got {status!r}.")
    doc = {"format": RUN_FORMAT, "kind": kind, "title": title, "status": status,
           "created": _dt.datetime.now().isoformat(timespec="seconds"), "settings": settings,
           "environment": environment if environment is not None else environment_info(), **extra}
    text = json.dumps(_jsonable(doc), ensure_ascii=False, indent=1)
    return atomic_write(Path(run_dir) / RUN_FILE, lambda f: f.write(text.encode("utf-8")))


def score_rows(report: pd.DataFrame, **keys) -> pd.DataFrame:
    """Long rows of :data:`SCORE_COLUMNS` from one ``metrics.classification_report_df(..., digits=None)``.

    ``keys`` are the values of :data:`SCORE_KEYS` (protocol, train_set, model,
    seed, test_set). The report's accuracy row keeps sklearn's layout
    (accuracy in every score column).
    """
    missing = [k for k in SCORE_KEYS if k not in keys]
    if missing:
        raise ValueError(f"score_rows needs the keys {list(SCORE_KEYS)}; missing {missing}.")
    rows = report.rename_axis("class").reset_index()[["class", "precision", "recall", "f1-score", "support"]]
    for k in reversed(SCORE_KEYS):
        rows.insert(0, k, keys[k])
    return rows


# ---------------------------------------------------------------------------
# Reading and checking a run folder
# ---------------------------------------------------------------------------
def _read_csv(run_dir: Path, name: str, columns: tuple[str, ...], why: str) -> pd.DataFrame:
    path = run_dir / name
    if not path.is_file():
        raise RunFolderError(f"{run_dir} has no {name} ({why}); the run stopped before writing it or comes "
                             f"from an older kit. {_HOW_TO_FIX}")
    try:
        table = pd.read_csv(path)
    except Exception as exc:  # empty or damaged file
        raise RunFolderError(f"{path} cannot be read as CSV ({type(exc).__name__}: {exc}). {_HOW_TO_FIX}") from None
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise RunFolderError(f"{path} lacks the columns {absent} (it has {list(table.columns)}): it was written by "
                             f"an older kit. {_HOW_TO_FIX}")
    return table


def load_run(run_dir) -> dict:
    """Read and check ``run_dir/run.json``; raise :class:`RunFolderError` with a fix when it is unusable."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is not a folder. Pass the run folder the notebook printed at its end "
                             "(e.g. outputs/12_project1_capstone/run).")
    path = run_dir / RUN_FILE
    if not path.is_file():
        found = sorted(p.name for p in run_dir.iterdir())[:8]
        raise RunFolderError(f"{run_dir} has no {RUN_FILE}, so it is not a run folder of this kit (it holds "
                             f"{found or 'nothing'}). Older runs wrote only histories and figures. {_HOW_TO_FIX}")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path} is not valid JSON ({exc}); the run was interrupted while writing it. "
                             f"{_HOW_TO_FIX}") from None
    if not isinstance(run, dict) or "format" not in run:
        raise RunFolderError(f"{path} has no 'format' entry: it comes from an older kit. {_HOW_TO_FIX}")
    if run["format"] != RUN_FORMAT:
        raise RunFolderError(f"{path} has format {run['format']!r} but this kit reads format {RUN_FORMAT}. "
                             "Update the kit (git pull) or re-run the notebook with this kit.")
    kind = run.get("kind")
    _load_builtin_kinds()
    if kind not in KIND_BUILDERS:
        raise RunFolderError(f"{path} has kind {kind!r}; this kit renders {sorted(KIND_BUILDERS)}.")
    for key, default in (("title", "실행 보고서 (Run report)"), ("settings", {}), ("environment", {}),
                         ("sections", [])):
        run.setdefault(key, default)
    return run


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


def _kv_table(mapping: dict, key: str = "항목 (Item)", value: str = "값 (Value)") -> pd.DataFrame:
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
    """Markdown of the blocks (pipe tables, ``![caption](file)`` images)."""
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


def to_html(blocks: list[Block], title: str, *, run_dir=".", embed_images: bool = False) -> str:
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
#: kind -> builder(run, run_dir) returning (blocks, results DataFrame, problems)
KIND_BUILDERS: dict[str, Callable] = {}


def register_kind(name: str, builder: Callable) -> None:
    """Add a run kind: ``builder(run: dict, run_dir: Path) -> (blocks, results DataFrame, problems list)``."""
    if not callable(builder):
        raise TypeError(f"builder must be callable; got {type(builder).__name__}.")
    KIND_BUILDERS[str(name)] = builder


def _generic(run: dict, run_dir: Path):
    """Only the sections of run.json; results.csv copies ``run["results_file"]`` if given."""
    name = run.get("results_file")
    results = pd.read_csv(run_dir / name) if name and (run_dir / name).is_file() else pd.DataFrame()
    return [], results, []


register_kind("generic", _generic)


def _load_builtin_kinds() -> None:
    """Import the modules that register the kit's own kinds (they import this module, so not at the top)."""
    from . import report_classification  # noqa: F401  kind "classification" (Project #1)




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
    blocks += [("h", 2, "실행 설정 (Settings)"), ("table", "", _kv_table(run["settings"])),
               ("h", 2, "실행 환경 (Environment)"), ("table", "", _kv_table(run["environment"]))]
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
        html_text = to_html(blocks, run["title"], run_dir=run_dir, embed_images=embed_images)
        used = "built-in"
    paths = {}
    for name, text in ((REPORT_MD, md_text), (REPORT_HTML, html_text),
                       (RESULTS_FILE, results.to_csv(index=False))):
        paths[name] = atomic_write(out / name, lambda f, t=text: f.write(t.encode("utf-8")))
    return ReportResult(paths[REPORT_MD], paths[REPORT_HTML], paths[RESULTS_FILE], used, problems)


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

