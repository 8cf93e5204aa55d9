"""The course website, built offline from an executed run (``python -m course_utils site``).

Sphinx + MyST-NB (the ``[site]`` extra) turn the repository into static HTML pages:

- home page: README.md up to its set-up section (the notebook table), then the solutions and the run;
- ``schedule.md`` (each week links to its notebooks), ``glossary.md``, ``datasets/README.md``;
- one page per notebook and per solution, made from the **executed copy** in a run folder (the
  runner's ``--output-dir``, default ``runs/smoke``; ``summary.json`` says which failed). Each page
  starts with a run box: the parameters papermill injected and the defaults, the data source, links
  to Colab, the ``.ipynb``, the solution (or the exercise notebook) and the previous / next week.

A notebook with no executed copy in the run folder, or one that failed, is listed at the top of the
build summary, on the home page and on its own page (a missing one shows the notebook without
outputs; a failed one its outputs up to the failing cell, never a traceback). Nothing is fetched
from the internet: MathJax 3 comes from the ``django-static-mathjax`` package, remote images in
notebook Markdown (the Colab badge) become links, and widget outputs show their text form.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from course_utils.core import config
from course_utils.tools import nbtools

__all__ = ["inspect_run", "schedule_weeks", "build_site", "format_site_summary",
           "add_site_arguments", "main_site", "DEFAULT_RUN_DIR"]

#: Run folder the README's main command writes (``python -m course_utils run --output-dir runs/smoke``).
DEFAULT_RUN_DIR = "runs/smoke"
#: Folder the site is written to (git-ignored, like every run output).
_DEFAULT_SITE_DIR = "runs/site"
#: Fonts with Hangul first (Linux Noto CJK / Nanum, macOS, Windows), then the theme's Latin stack.
_FONT_STACK = ('"Noto Sans CJK KR", "Noto Sans KR", "NanumGothic", "Apple SD Gothic Neo", "Malgun Gothic", '
              '-apple-system, "Segoe UI", Helvetica, Arial, sans-serif')
#: MathJax 3 component (CommonHTML output, its woff fonts beside it) and the folders it loads from.
MATHJAX_FILES = ("tex-chtml.js", "input", "output", "ui", "a11y", "adaptors", "sre")
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_DATA_WORDS = {"synthetic": "the kit's synthetic twin (generated, no download)",
               "wm811k": "the real WM-811K file (LSWMD.pkl)", "deeppcb": "the real DeepPCB folder"}


@dataclass
class PageInfo:
    """One notebook page: where its source and executed copy are and how its run went."""

    stem: str
    folder: str  # "notebooks" or "solutions"
    source: str
    executed: str | None  # executed copy in the run folder, None when missing
    status: str  # "ok", "missing", "failed" or "timeout"
    detail: str = ""  # what went wrong, one line
    seconds: float | None = None


@dataclass
class SiteResult:
    out: str
    pages: int  # HTML pages written (genindex and search included)
    seconds: float
    problems: list  # PageInfo dicts whose status is not "ok"
    warnings: list  # Sphinx warnings, one line each
    run_dir: str | None


# ---------------------------------------------------------------------------
# The run folder
# ---------------------------------------------------------------------------
def _summary_records(run_dir: Path | None) -> dict:
    path = run_dir / "summary.json" if run_dir else None
    if path is None or not path.is_file():
        return {}
    try:
        return {r["notebook"]: r for r in json.loads(path.read_text(encoding="utf-8"))}
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--run-dir {run_dir}: summary.json is not the runner's summary ({exc}); "
                         "rerun `python -m course_utils run --output-dir DIR` or remove the file.") from exc


def _first_error(nb: dict) -> str:
    """``"cell In [N]: Type: message"`` of the first error output of an executed notebook, or ``""``."""
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                message = str(out.get("evalue", "")).strip().splitlines()
                return (f"cell In [{cell.get('execution_count')}]: {out.get('ename', 'Error')}: "
                        f"{message[0] if message else '(no message)'}")
    return "papermill recorded an exception" if nb.get("metadata", {}).get("papermill", {}).get("exception") else ""


def inspect_run(run_dir: str | Path | None, sources: list[Path]) -> list[PageInfo]:
    """Status of each source notebook in ``run_dir`` (``None``: no run, every page is "missing").

    A notebook is "missing" without ``run_dir/<name>.ipynb``, "failed"/"timeout" when the
    runner's ``summary.json`` says so or the executed copy holds an error output, else "ok".
    """
    run_dir = Path(run_dir) if run_dir is not None else None
    records = _summary_records(run_dir)
    pages = []
    for src in sources:
        src = Path(src)
        folder = "solutions" if src.parent.name == "solutions" else "notebooks"
        executed = run_dir / src.name if run_dir else None
        rec = records.get(src.stem)
        info = PageInfo(src.stem, folder, str(src), None, "missing", seconds=rec and rec.get("seconds"))
        if executed is None or not executed.is_file():
            where = f"no executed copy {executed}" if executed else "no run folder given"
            info.detail = f"{where}: run `python -m course_utils run {src.stem} --output-dir DIR`"
        else:
            info.executed = str(executed)
            error = _first_error(json.loads(executed.read_text(encoding="utf-8")))
            if rec and rec.get("status", "ok") != "ok":
                message = str(rec.get("error") or "").strip().splitlines()
                info.status = rec["status"]
                info.detail = (f"cell In [{rec.get('cell')}]: {rec.get('error_type') or 'error'}: "
                               f"{message[0] if message else '(no message)'}")
            elif error:
                info.status, info.detail = "failed", error
            else:
                info.status = "ok"
        pages.append(info)
    return pages


def schedule_weeks(text: str) -> dict[int, list[str]]:
    """Week number -> notebook stems linked in that row of schedule.md's table, in order."""
    weeks = {}
    for line in text.splitlines():
        match = re.match(r"\|\s*(\d+)\s*\|", line)
        if match:
            stems = re.findall(r"notebooks/(\w+)\.ipynb", line)
            weeks[int(match.group(1))] = list(dict.fromkeys(stems))
    return weeks


# ---------------------------------------------------------------------------
# Markdown pages
# ---------------------------------------------------------------------------
_LINK = re.compile(r"(?<!!)\[([^\[\]]*)\]\(([^()\s]+)\)")
_REMOTE_IMAGE = re.compile(r"!\[([^\[\]]*)\]\((?:https?:)?//[^()\s]+\)")


def _rewrite_links(text: str, origin: str, staged: str, docs: dict[str, str]) -> str:
    """Point repository-relative links of a Markdown file at the staged pages; unlink the rest.

    ``origin`` and ``staged`` are the file's repository path and its staged path; ``docs`` maps a
    repository path to its staged path. A remote image becomes its alt text (the site stays offline).
    """
    text = _REMOTE_IMAGE.sub(lambda m: m.group(1), text)

    def one(match):
        label, target = match.groups()
        if re.match(r"[a-z]+:|#", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        repo_path = os.path.normpath(os.path.join(os.path.dirname(origin), path))
        if repo_path not in docs:
            return label
        rel = os.path.relpath(docs[repo_path], os.path.dirname(staged) or ".")
        return f"[{label}]({rel}{'#' + anchor if anchor else ''})"

    return _LINK.sub(one, text)


def _problem_lines(problems: list[PageInfo], prefix: str = "") -> str:
    return "\n".join(f"- {prefix}`{p.stem}`: **{p.status}**: {p.detail}" for p in problems)


def _home_page(readme: str, pages: list[PageInfo], run_dir: Path | None, docs: dict) -> str:
    head = readme.split("\n## Set-up", 1)[0]
    problems = [p for p in pages if p.status != "ok"]
    parts = [_rewrite_links(head, "README.md", "index.md", docs)]
    if problems:  # right under the title: the reader must see what this site lacks
        title, _, rest = parts[0].partition("\n")
        parts[0] = (f"{title}\n\n```{{warning}}\n실행 결과가 없거나 실패한 노트북 (missing or failed notebooks, "
                    f"{len(problems)}):\n\n{_problem_lines(problems)}\n```\n{rest}")
    solutions = [p for p in pages if p.folder == "solutions"]
    if solutions:
        parts.append("## 풀이 (Solutions)\n\n" + "\n".join(
            f"- [{p.stem}](solutions/{p.stem}.ipynb)" for p in solutions))
    source = f"`{run_dir.name}` ({run_dir})" if run_dir else "none (notebooks shown without outputs)"
    parts.append(f"## 실행 (Run)\n\nResults on these pages come from the run folder {source}; each notebook page "
                 "lists the parameters and the data its run used.")
    sections = [("과정 (Course)", ["schedule", "glossary", "datasets"]),
                ("노트북 (Notebooks)", [f"notebooks/{p.stem}" for p in pages if p.folder == "notebooks"]),
                ("풀이 (Solutions)", [f"solutions/{p.stem}" for p in solutions])]
    for caption, entries in sections:
        if entries:
            parts.append("```{toctree}\n:hidden:\n:caption: " + caption + "\n\n" + "\n".join(entries) + "\n```")
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------------------
# Notebook pages
# ---------------------------------------------------------------------------
def _colab_url(page: PageInfo) -> str:
    badge = nbtools.colab_badge(Path(page.source).name, folder=page.folder)
    return re.search(r"\]\((https://colab[^()\s]+)\)$", badge).group(1)


def _week_links(page: PageInfo, weeks: dict[int, list[str]], known: set[str]) -> list[tuple[str, str]]:
    """(label, stem) of the first notebook of the previous and of the next week."""
    base = page.stem.removesuffix("_solutions")
    mine = [w for w, stems in weeks.items() if base in stems]
    links = []
    if mine:
        for label, week in (("← 이전 주 (previous week)", min(mine) - 1), ("다음 주 (next week) →", max(mine) + 1)):
            stems = [s for s in weeks.get(week, []) if s in known]
            if stems:
                links.append((f"{label}: {week}주차 {stems[0]}", stems[0]))
    return links


def _run_box(page: PageInfo, nb: dict, defaults: dict, weeks: dict, known: set[str], run_name: str) -> str:
    """Raw-HTML box under the title: status, parameters, data, links out (one HTML block: no blank line)."""
    esc = html.escape
    injected = nb.get("metadata", {}).get("papermill", {}).get("parameters", {}) if page.executed else {}
    params = {k: v for k, v in defaults.items() if v is not nbtools.ANY_VALUE}
    params.update(injected)
    rows = "".join(
        f"<tr><td><code>{esc(k)}</code></td><td><code>{esc(repr(v))}</code></td>"
        f"<td>{'injected by the run' if k in injected else 'notebook default'}</td></tr>"
        for k, v in sorted(params.items()) if k != "OUTPUT_DIR")
    source = str(params.get("DATA_SOURCE", "synthetic"))
    data = f"<code>DATA_SOURCE = {esc(repr(source))}</code>: {esc(_DATA_WORDS.get(source, source))}"
    if params.get("DATA_PATH"):
        data += f" from <code>{esc(str(params['DATA_PATH']))}</code>"
    if page.status == "ok":
        took = f", {page.seconds:.1f} s" if page.seconds else ""
        state = f"<p class='site-ok'>실행 결과 (executed): run <code>{esc(run_name)}</code>{took}</p>"
    elif page.status == "missing":
        state = (f"<p class='site-problem'>⚠ 실행 결과 없음 (missing output): {esc(page.detail)}. "
                 "This page shows the notebook without outputs.</p>")
    else:
        state = (f"<p class='site-problem'>⚠ 실행 실패 ({esc(page.status)}): {esc(page.detail)}. "
                 "Outputs stop at that cell; run the notebook to see the error.</p>")
    up = "../"
    links = [f"<a class='site-colab' href='{esc(_colab_url(page))}'>Open in Colab</a>",
             f"<a href='{up}ipynb/{page.folder}/{esc(Path(page.source).name)}' download>"
             "노트북 내려받기 (download .ipynb)</a>"]
    if page.folder == "notebooks" and f"{page.stem}_solutions" in known:
        links.append(f"<a href='{up}solutions/{page.stem}_solutions.html'>풀이 (solution)</a>")
    elif page.folder == "solutions" and page.stem.removesuffix("_solutions") in known:
        links.append(f"<a href='{up}notebooks/{page.stem.removesuffix('_solutions')}.html'>"
                     "문제 노트북 (exercise notebook)</a>")
    links += [f"<a href='{up}notebooks/{stem}.html'>{esc(label)}</a>" for label, stem in _week_links(
        page, weeks, known)]
    return ("<div class='site-run admonition'>" + state
            + f"<p>데이터 (data): {data}</p>"
            + (f"<details><summary>매개변수 (parameters)</summary><table>{rows}</table></details>" if rows else "")
            + "<p class='site-links'>" + " · ".join(links) + "</p></div>")


def _clean_outputs(nb: dict) -> None:
    """Drop what must not reach a page: tracebacks, papermill's error banner, widget models."""
    nb.get("metadata", {}).pop("widgets", None)
    nb["cells"] = [c for c in nb["cells"] if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = _REMOTE_IMAGE.sub(lambda m: m.group(1), "".join(cell["source"]))
        outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
        for out in outputs:
            if _WIDGET_MIME in out.get("data", {}):
                out["data"].pop(_WIDGET_MIME)
                out["data"]["text/plain"] = "(대화형 위젯 (interactive widget): 노트북을 실행하면 움직일 수 있습니다)"
        if "outputs" in cell:
            cell["outputs"] = outputs


def _stage_notebook(page: PageInfo, stage: Path, weeks: dict, known: set[str], run_name: str) -> None:
    source = Path(page.source)
    nb = json.loads(Path(page.executed or source).read_text(encoding="utf-8"))
    _clean_outputs(nb)
    box = _run_box(page, nb, nbtools.notebook_parameters(source), weeks, known, run_name)
    nb["cells"].insert(1 if nb["cells"] else 0, {"cell_type": "markdown", "metadata": {}, "source": box})
    target = stage / page.folder / source.name
    config.atomic_write(target, lambda f: f.write(json.dumps(nb, ensure_ascii=False).encode("utf-8")))
    download = stage / "extra" / "ipynb" / page.folder / source.name
    download.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, download)


# ---------------------------------------------------------------------------
# Sphinx
# ---------------------------------------------------------------------------
_CONF = """# Generated by course_utils.tools.site: Sphinx + MyST-NB settings of the course website.
project = {title!r}
language = "ko"
extensions = ["myst_nb"]
nb_execution_mode = "off"          # pages show the run folder's outputs; nothing is executed here
nb_output_stderr = "remove"        # warnings and logs are not results
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
html_theme = "furo"
html_title = {title!r}
html_theme_options = {{"light_css_variables": {{"font-stack": {fonts!r}}},
                       "dark_css_variables": {{"font-stack": {fonts!r}}}}}
html_static_path = ["_static"]
html_css_files = ["site.css"]
html_extra_path = ["extra"]
html_copy_source = False
html_show_sourcelink = False
html_show_search_summary = False   # snippets fetch pages, which browsers refuse for file:// sites
mathjax_path = "mathjax/{mathjax}"  # MathJax 3 from the django-static-mathjax package, served by the site
html_favicon = "_static/favicon.svg"
exclude_patterns = ["_build", "extra", "_static", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "toc.not_included", "misc.highlighting_failure"]
"""
_CSS = """/* course site: Hangul-capable fonts first, run box */
body {{ font-family: {fonts}; }}
.site-run {{ padding: .6em 1em; border-left: 4px solid #3b82f6; }}
.site-run .site-problem {{ color: #b91c1c; font-weight: bold; }}
.site-run table td {{ padding: 0 .6em; }}
"""

_FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#3b82f6"/>'
            '<circle cx="8" cy="8" r="3" fill="#fff"/></svg>')

def _copy_mathjax(target: Path) -> None:
    """Copy MathJax 3 (``es5/``) of the ``django-static-mathjax`` package into ``target``."""
    import mathjax

    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    target.mkdir(parents=True)
    for name in MATHJAX_FILES:
        (shutil.copytree if (es5 / name).is_dir() else shutil.copyfile)(es5 / name, target / name)


def _stage(root: Path, stage: Path, pages: list[PageInfo], run_dir: Path | None) -> None:
    """Write the Sphinx source tree of the site into ``stage``."""
    docs = {"README.md": "index.md", "schedule.md": "schedule.md", "glossary.md": "glossary.md",
            "datasets/README.md": "datasets.md"}
    docs.update({f"{p.folder}/{Path(p.source).name}": f"{p.folder}/{Path(p.source).name}" for p in pages})
    readme = (root / "README.md").read_text(encoding="utf-8")
    title = readme.splitlines()[0].lstrip("# ").strip()
    (stage / "index.md").write_text(_home_page(readme, pages, run_dir, docs), encoding="utf-8")
    for origin in ("schedule.md", "glossary.md", "datasets/README.md"):
        text = (root / origin).read_text(encoding="utf-8")
        if origin == "datasets/README.md":  # its title is the folder name
            text = re.sub(r"\A# .*", "# 데이터 (Data): datasets/README.md", text)
        (stage / docs[origin]).write_text(_rewrite_links(text, origin, docs[origin], docs), encoding="utf-8")
    weeks = schedule_weeks((root / "schedule.md").read_text(encoding="utf-8"))
    known = {p.stem for p in pages}
    for page in pages:
        _stage_notebook(page, stage, weeks, known, run_dir.name if run_dir else "")
    (stage / "extra").mkdir(exist_ok=True)
    static = stage / "_static"
    static.mkdir()
    (static / "site.css").write_text(_CSS.format(fonts=_FONT_STACK), encoding="utf-8")
    (static / "favicon.svg").write_text(_FAVICON, encoding="utf-8")
    _copy_mathjax(static / "mathjax")
    (stage / "conf.py").write_text(_CONF.format(title=title, fonts=_FONT_STACK, mathjax=MATHJAX_FILES[0]),
                                   encoding="utf-8")


def build_site(run_dir: str | Path | None = DEFAULT_RUN_DIR, out: str | Path = _DEFAULT_SITE_DIR, *,
               notebooks: list[str | Path] | None = None, jobs: int = 2) -> SiteResult:
    """Build the site from ``run_dir`` (``None``: no run) into ``out``; returns what was built.

    ``notebooks`` limits the pages to these sources (default: every notebook and solution).
    Writes ``out/site-summary.json``. Raises ``ValueError`` for a bad ``run_dir`` or ``out``
    and ``ImportError`` (with the install command) without the ``[site]`` extra.
    """
    from course_utils.core import env

    env.require_extra("site")
    root = config.repo_root()
    if root is None:
        raise ValueError("the site is built from the repository: clone it and run `pip install -e \".[site]\"` there.")
    if run_dir is not None:
        run_dir = Path(run_dir).resolve()
        if not run_dir.is_dir():
            raise ValueError(f"--run-dir {run_dir}: no such folder. Run the course first "
                             f"(`python -m course_utils run --jobs 2 --output-dir {DEFAULT_RUN_DIR}`) "
                             "or pass the folder of an executed run.")
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()) and not (out / "site-summary.json").is_file():
        raise ValueError(f"--output {out}: the folder holds other files; choose an empty or new folder.")
    sources = ([Path(p).resolve() for p in notebooks] if notebooks is not None
               else nbtools.notebook_paths(solutions=True))
    start = time.perf_counter()
    pages = inspect_run(run_dir, sources)
    with tempfile.TemporaryDirectory(prefix="course-site-") as tmp:
        stage = Path(tmp) / "src"
        stage.mkdir()
        _stage(root, stage, pages, run_dir)
        html_dir = Path(tmp) / "html"
        cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", str(jobs), "-d", str(Path(tmp) / "doctrees"),
               str(stage), str(html_dir)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"sphinx-build failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(html_dir), str(out))
    warnings = [ln.replace(str(stage), "") for ln in proc.stderr.splitlines() if "WARNING" in ln or "ERROR" in ln]
    result = SiteResult(str(out), sum(1 for _ in out.rglob("*.html")), time.perf_counter() - start,
                        [asdict(p) for p in pages if p.status != "ok"], warnings, str(run_dir) if run_dir else None)
    config.atomic_write(out / "site-summary.json",
                        lambda f: f.write(json.dumps(asdict(result), indent=2, ensure_ascii=False).encode("utf-8")))
    return result


def format_site_summary(result: SiteResult) -> str:
    """The build summary: problems first, then pages, time and where the site is."""
    lines = []
    if result.problems:
        lines.append(f"MISSING OR FAILED ({len(result.problems)}): these pages show no (or partial) results")
        lines += [f"  {p['stem']}: {p['status']}: {p['detail']}" for p in result.problems]
    lines.append(f"{result.pages} HTML pages in {result.seconds:.1f} s from run folder {result.run_dir or '(none)'}")
    if result.warnings:
        lines.append(f"{len(result.warnings)} Sphinx warning(s), first: {result.warnings[0]}")
    lines.append(f"open {Path(result.out) / 'index.html'} (or serve it: python -m http.server -d {result.out})")
    return "\n".join(lines)


def add_site_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", default=DEFAULT_RUN_DIR,
                        help=f"executed run folder whose outputs the pages show (default: {DEFAULT_RUN_DIR}); "
                             "'none' builds pages without outputs")
    parser.add_argument("--output", default=_DEFAULT_SITE_DIR, help=f"site folder (default: {_DEFAULT_SITE_DIR})")
    parser.add_argument("--jobs", type=int, default=2, help="parallel Sphinx processes (default: 2)")


def main_site(args: argparse.Namespace) -> int:
    """Exit 0: built, every page has its results; 1: built, some missing or failed; 2: not built."""
    run_dir = None if str(args.run_dir).lower() == "none" else args.run_dir
    try:
        result = build_site(run_dir, args.output, jobs=args.jobs)
    except (ValueError, ImportError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_site_summary(result))
    return 1 if result.problems else 0
