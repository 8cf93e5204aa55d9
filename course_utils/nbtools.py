"""Notebook hygiene: the Colab bootstrap cell, badges, output stripping, checks.

Command line::

    python -m course_utils notebooks --check        # list problems, exit 1 if any
    python -m course_utils notebooks --fix          # strip outputs, re-sync bootstrap + badge

The bootstrap cell and the "Open in Colab" badge are generated from
``config.REPO_URL``, so the repository URL is configured in one place.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from . import config, glossary

BOOTSTRAP_MARKER = "# Colab bootstrap"
_BADGE_RE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
_HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")


def bootstrap_cell_source(repo_url: str | None = None) -> str:
    """Source of the Colab bootstrap cell (second code cell of every notebook).

    On Google Colab, when ``course_utils`` is not importable, it pip-installs the
    kit from the repository; everywhere else it does nothing.
    """
    url = repo_url or config.REPO_URL
    return (
        f"{BOOTSTRAP_MARKER}: a notebook uploaded alone to Google Colab installs the course kit.\n"
        "# Locally (kit installed with `pip install -e .`) this cell does nothing.\n"
        "import importlib, importlib.util, os, subprocess, sys\n"
        f'KIT_REPO_URL = "{url}"\n'
        'IN_COLAB = "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ\n'
        'if IN_COLAB and importlib.util.find_spec("course_utils") is None:\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{KIT_REPO_URL}"], check=True)\n'
        "    importlib.invalidate_caches()"
    )


def colab_badge(notebook_name: str, repo_url: str | None = None, branch: str | None = None) -> str:
    """Markdown for the "Open in Colab" badge of ``notebooks/<notebook_name>``."""
    url = (repo_url or config.REPO_URL).rstrip("/")
    path = url.split("github.com/", 1)[-1]
    branch = branch or config.REPO_BRANCH
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{path}/blob/{branch}/notebooks/{notebook_name})"
    )


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def parameter_names(nb) -> list[str]:
    """Names assigned at top level in the ``parameters`` cell."""
    code = _code_cells(nb)
    if not code:
        return []
    names = []
    for line in code[0].source.splitlines():
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=]*)?=(?!=)", line)
        if m:
            names.append(m.group(1))
    return names


def check_notebook(path: str | Path) -> list[str]:
    """Problems with one notebook, as readable strings (empty list = clean)."""
    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # unreadable JSON, wrong format
        return [f"{path.name}: cannot be read as a notebook ({exc})"]
    problems = []
    name = path.name
    if not re.match(r"^\d\d_[a-z0-9_]+\.ipynb$", name):
        problems.append(f"{name}: name must be NN_lower_snake_case.ipynb")
    code = _code_cells(nb)
    if not code or "parameters" not in code[0].metadata.get("tags", []):
        problems.append(f"{name}: first code cell must be tagged 'parameters'")
    else:
        missing = [p for p in config.STANDARD_PARAMETERS if p not in parameter_names(nb)]
        if missing:
            problems.append(f"{name}: parameters cell must define {', '.join(missing)}")
        derived = [line.split("=", 1)[0].strip() for line in code[0].source.splitlines()
                   if re.search(r"\bSMOKE\b", line.split("#", 1)[0]) and not re.match(r"^SMOKE\s*=", line)]
        if derived:
            problems.append(
                f"{name}: parameters cell derives {', '.join(derived)} from SMOKE, but papermill injects SMOKE "
                "after that cell, so --full would not change them; set them to None there and derive them "
                "after the bootstrap cell"
            )
    if len(code) < 2 or code[1].source.strip() != bootstrap_cell_source().strip():
        problems.append(f"{name}: second code cell must be the Colab bootstrap cell (run notebooks --fix)")
    first = nb.cells[0] if nb.cells else None
    if first is None or first.cell_type != "markdown":
        problems.append(f"{name}: first cell must be markdown with title, Colab badge and learning objectives")
    else:
        if colab_badge(name) not in first.source:
            problems.append(f"{name}: first cell must contain the Colab badge (run notebooks --fix)")
        if "학습 목표" not in first.source:
            problems.append(f"{name}: first cell must list the learning objectives ('학습 목표')")
    last = nb.cells[-1] if nb.cells else None
    if last is None or last.cell_type != "markdown" or "요약" not in last.source or "연습" not in last.source:
        problems.append(f"{name}: last cell must be markdown with '요약 (Summary)' and '연습 문제 (Exercises)'")
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    if len(_HANGUL_RE.findall(markdown)) < 200:
        problems.append(f"{name}: prose must be Korean with English technical terms")
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
    if dirty:
        problems.append(f"{name}: outputs committed in cells {dirty} (run notebooks --fix)")
    problems.extend(glossary.notebook_problems(nb, name=name))
    return problems


def fix_notebook(path: str | Path) -> bool:
    """Strip outputs and re-sync bootstrap cell and badge. Returns True if the file changed."""
    path = Path(path)
    original = path.read_text(encoding="utf-8")
    nb = nbformat.reads(original, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            for key in ("execution", "collapsed", "scrolled"):
                cell.metadata.pop(key, None)
        cell.metadata.pop("papermill", None)
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    code = _code_cells(nb)
    if len(code) >= 2 and code[1].source.lstrip().startswith(BOOTSTRAP_MARKER):
        code[1].source = bootstrap_cell_source()
    if nb.cells and nb.cells[0].cell_type == "markdown":
        badge = colab_badge(path.name)
        src = nb.cells[0].source
        nb.cells[0].source = _BADGE_RE.sub(badge, src) if _BADGE_RE.search(src) else src
    text = nbformat.writes(nb) + "\n"
    if text != original:
        path.write_text(text, encoding="utf-8")
        return True
    return False


def notebook_paths(names: list[str] | None = None) -> list[Path]:
    """The course notebooks, sorted, or the ones named.

    A name may be the number (``03``), the stem (``03_cnn_design``), the file
    name or a path to an ``.ipynb`` file. An unknown name raises
    ``FileNotFoundError`` listing the available notebooks.
    """
    available = sorted(config.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return available
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.is_file():
            chosen.append(path.resolve())
            continue
        stem = path.stem if path.suffix == ".ipynb" else str(name)
        matches = [p for p in available if p.stem == stem or p.stem.split("_", 1)[0] == stem]
        if len(matches) != 1:
            listing = ", ".join(p.stem for p in available) or "(none)"
            raise FileNotFoundError(f"unknown notebook {name!r}; available: {listing}")
        chosen.append(matches[0])
    return list(dict.fromkeys(chosen))
