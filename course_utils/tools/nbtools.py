"""Notebook hygiene: the Colab bootstrap cell, badges, output stripping, checks.

Command line::

    python -m course_utils notebooks --check        # list problems, exit 1 if any
    python -m course_utils notebooks --fix          # strip outputs, re-sync bootstrap cell, its note + badge

The bootstrap cell (with the Markdown note before it, ``BOOTSTRAP_NOTE``) and the "Open in Colab" badge are generated from
``config.REPO_URL`` and ``config.COLAB_DRIVE_DIR``, so the repository URL and the
course's Drive folder are configured in one place.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

from course_utils.core import config
from course_utils.tools import glossary
from course_utils.tools.bundle import BUNDLE_NAME

__all__ = ["BOOTSTRAP_NOTE", "bootstrap_cell_source", "colab_badge", "check_notebook", "fix_notebook",
           "notebook_paths", "ANY_VALUE", "notebook_parameters", "reads_data_source"]

_BOOTSTRAP_MARKER = "# Colab bootstrap"
#: The Markdown cell just before the bootstrap cell, the same in every notebook: what the cell does, when to touch it.
BOOTSTRAP_NOTE = ("아래 셀은 키트(`course_utils`)를 준비합니다: Colab에서는 키트가 없을 때만 설치하고, "
                  "자기 컴퓨터에서는 아무것도 설치하지 않은 채 키트가 어디서 왔는지만 출력합니다.\n"
                  "고칠 것은 없고, 키트를 다른 저장소나 Drive 폴더에서 받을 때만 `KIT_REPO_URL`, `KIT_DRIVE_DIR`을 바꿉니다.")
_BADGE_RE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
_HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")


_BOOTSTRAP_TEMPLATE = """\
__MARKER__: makes the course kit (course_utils) importable and prints where it came from.
# Tries in order: kit already installed; on Colab a kit wheel or the course bundle (.zip) in this
# notebook's folder, /content or the Drive folder KIT_DRIVE_DIR; then pip install from KIT_REPO_URL.
# On your own machine it installs nothing: run `pip install -e .` in the repository root once.
import glob, importlib, importlib.metadata as md, importlib.util, os, subprocess, sys, tempfile, zipfile
KIT_REPO_URL = "__REPO_URL__"
KIT_DRIVE_DIR = "__DRIVE_DIR__"
IN_COLAB = "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ

class KitSetupError(Exception):  # shown as its message only, without a traceback
    def _render_traceback_(self):
        return [f"KitSetupError: {self}"]

def _kit_pip(target):  # torch and torchvision are pinned as installed: pip never replaces them
    pins = [f"{d}=={md.version(d)}" for d in ("torch", "torchvision") if importlib.util.find_spec(d)]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\\n".join(pins))
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-color", "--disable-pip-version-check", "-c", f.name, target]
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, GIT_TERMINAL_PROMPT="0"))
    lines = [line.strip() for line in out.stderr.splitlines() if line.strip()] or ["(no output)"]
    return out.returncode == 0, next((x for x in lines if x.startswith(("fatal:", "ERROR:"))), lines[-1])

def _kit_wheel(path):  # a kit wheel, or the kit wheel inside a course bundle zip (else None)
    if path.endswith(".whl"):
        return path
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.startswith("course_utils-") and n.endswith(".whl")]
            return zf.extract(sorted(names)[-1], tempfile.mkdtemp()) if names else None
    except zipfile.BadZipFile:
        return None

def _kit_bootstrap():
    spec = importlib.util.find_spec("course_utils")
    if spec is not None:
        return f"already installed ({os.path.dirname(spec.origin)})"
    if not IN_COLAB:
        raise KitSetupError(f"the course kit (course_utils) is not installed in this Python ({sys.executable}).\\n"
                            "Fix: run `pip install -e .` in the repository root, then restart the kernel.")
    folders = list(dict.fromkeys([os.getcwd(), "/content", KIT_DRIVE_DIR]))
    found = [p for d in folders for pat in ("course_utils-*.whl", "*.zip") for p in sorted(glob.glob(f"{d}/{pat}"))]
    source, wheel = next(((p, w) for p in found if (w := _kit_wheel(p))), (None, None))
    before = {d.metadata["Name"]: d.version for d in md.distributions()}
    ok, error = _kit_pip(wheel or f"git+{KIT_REPO_URL}")
    if not ok and source:
        raise KitSetupError(f"installing the course kit from {source} failed: {error}\\n"
                            "Fix: check the session's internet connection (missing packages are downloaded), then rerun.")
    if not ok:
        drive = "" if os.path.isdir(os.path.dirname(KIT_DRIVE_DIR)) else " (Google Drive is not mounted)"
        raise KitSetupError(f"no course bundle in {', '.join(folders)}{drive}, and pip cannot install from {KIT_REPO_URL}: "
                            f"{error}\\nFix: upload the course bundle (wafer-course-bundle.zip) in the Files panel, or put it "
                            "in KIT_DRIVE_DIR on Google Drive and mount Drive, or set KIT_REPO_URL; then rerun this cell.")
    importlib.invalidate_caches()
    changed = {d.metadata["Name"] for d in md.distributions() if before.get(d.metadata["Name"], d.version) != d.version}
    if any(m in sys.modules and changed & set(ds) for m, ds in md.packages_distributions().items()):
        raise KitSetupError(f"kit installed, but pip upgraded {', '.join(sorted(changed))}, already loaded here.\\n"
                            "Restart the runtime (Runtime > Restart session), then run the notebook from the top.")
    return f"installed from {source or KIT_REPO_URL}"

print("course kit:", _kit_bootstrap())"""


def bootstrap_cell_source(repo_url: str | None = None, drive_dir: str | None = None) -> str:
    """Source of the bootstrap cell (second code cell of every notebook).

    The cell makes ``course_utils`` importable and prints one line saying how:

    1. already importable (a local ``pip install -e .``): nothing is installed;
    2. outside Colab and missing: stops with the fix (``pip install -e .``);
    3. on Colab: installs the kit from a kit wheel or the course bundle zip
       (``python -m course_utils bundle``) found in the notebook's folder,
       ``/content`` or ``drive_dir`` (default ``config.COLAB_DRIVE_DIR``), else
       from ``git+repo_url`` (default ``config.REPO_URL``). torch and torchvision
       are pinned to the installed versions, so pip never replaces them, and
       nothing from the instructor tiers (Jupyter, papermill) is installed.

    Every failure raises ``KitSetupError`` whose message (shown without a
    traceback) says what happened and what to do, including a runtime restart
    when pip upgraded a package the session had already imported.
    """
    return (_BOOTSTRAP_TEMPLATE.replace("__MARKER__", _BOOTSTRAP_MARKER)
            .replace("__REPO_URL__", repo_url or config.REPO_URL)
            .replace("__DRIVE_DIR__", drive_dir or config.COLAB_DRIVE_DIR)
            .replace("__BUNDLE_NAME__", BUNDLE_NAME))


def colab_badge(notebook_name: str, repo_url: str | None = None, branch: str | None = None, *,
                folder: str = "notebooks") -> str:
    """Markdown for the "Open in Colab" badge of ``<folder>/<notebook_name>`` (``notebooks`` or ``solutions``)."""
    url = (repo_url or config.REPO_URL).rstrip("/")
    path = url.split("github.com/", 1)[-1]
    branch = branch or config.REPO_BRANCH
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{path}/blob/{branch}/{folder}/{notebook_name})"
    )


def _folder(path: Path) -> str:
    """Repository folder of a notebook for its badge: ``solutions`` for worked solutions, else ``notebooks``."""
    return "solutions" if Path(path).resolve().parent.name == "solutions" else "notebooks"


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


def _cell_before(nb, cell):
    """The Markdown cell right before ``cell`` in ``nb``, or ``None`` (first cell, or a code cell before it)."""
    i = next(k for k, c in enumerate(nb.cells) if c is cell)
    return nb.cells[i - 1] if i > 0 and nb.cells[i - 1].cell_type == "markdown" else None


def _sync_bootstrap_note(nb, bootstrap) -> None:
    """Make the cell before the bootstrap cell ``BOOTSTRAP_NOTE``: re-sync an older note, else insert one."""
    before = _cell_before(nb, bootstrap)
    if before is not None and before.source.strip() == BOOTSTRAP_NOTE:
        return
    if before is not None and "KIT_REPO_URL" in before.source and before is not nb.cells[0]:
        before.source = BOOTSTRAP_NOTE  # an older wording of the note
        return
    i = next(k for k, c in enumerate(nb.cells) if c is bootstrap)
    nb.cells.insert(i, nbformat.v4.new_markdown_cell(BOOTSTRAP_NOTE))


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
    elif _cell_before(nb, code[1]) is None or _cell_before(nb, code[1]).source.strip() != BOOTSTRAP_NOTE:
        problems.append(f"{name}: the cell before the Colab bootstrap cell must be the Markdown note "
                        "nbtools.BOOTSTRAP_NOTE (run notebooks --fix)")
    first = nb.cells[0] if nb.cells else None
    if first is None or first.cell_type != "markdown":
        problems.append(f"{name}: first cell must be markdown with title, Colab badge and learning objectives")
    else:
        if colab_badge(name, folder=_folder(path)) not in first.source:
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
    if len(code) >= 2 and code[1].source.lstrip().startswith(_BOOTSTRAP_MARKER):
        code[1].source = bootstrap_cell_source()
        _sync_bootstrap_note(nb, code[1])
    if nb.cells and nb.cells[0].cell_type == "markdown":
        badge = colab_badge(path.name, folder=_folder(path))
        src = nb.cells[0].source
        nb.cells[0].source = _BADGE_RE.sub(badge, src) if _BADGE_RE.search(src) else src
    text = nbformat.writes(nb) + "\n"
    if text != original:
        path.write_text(text, encoding="utf-8")
        return True
    return False


def notebook_paths(names: list[str] | None = None, *, solutions: bool = False) -> list[Path]:
    """The course notebooks, sorted (then the solutions when ``solutions=True``), or the ones named.

    A name may be the number (``03`` or ``3``), the stem (``03_cnn_design``,
    ``03_cnn_design_solutions``), the file name or a path to an ``.ipynb`` file.
    A number names the course notebook, never its solutions. An unknown name
    raises ``FileNotFoundError`` listing the available notebooks.
    """
    available = sorted(config.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    solved = sorted(config.solutions_dir().glob("[0-9][0-9]_*.ipynb")) if config.solutions_dir().is_dir() else []
    if not names:
        return available + (solved if solutions else [])
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.is_file():
            chosen.append(path.resolve())
            continue
        stem = path.stem if path.suffix == ".ipynb" else str(name).strip()
        matches = [p for p in available + solved if p.stem == stem]
        if not matches and stem.isdigit():
            matches = [p for p in available if int(p.stem.split("_", 1)[0]) == int(stem)]
        if len(matches) != 1:
            listing = ", ".join(p.stem for p in available + solved) or "(none)"
            raise FileNotFoundError(f"unknown notebook {name!r}; available: {listing}")
        chosen.append(matches[0])
    return list(dict.fromkeys(chosen))


# ---------------------------------------------------------------------------
# What a notebook declares (the runner checks -p values against it)
# ---------------------------------------------------------------------------
#: Default of a parameter whose value is not a literal (e.g. ``Path(...)``): any value is accepted.
ANY_VALUE = object()


def notebook_parameters(path) -> dict:
    """Names declared in the notebook's ``parameters`` cell, mapped to their literal defaults.

    A default that is not a Python literal maps to ``ANY_VALUE`` (its type is not checked).
    """
    nb = nbformat.read(path, as_version=4)
    defaults = dict.fromkeys(parameter_names(nb), ANY_VALUE)
    code = [c for c in nb.cells if c.cell_type == "code"]
    try:
        tree = ast.parse(code[0].source) if code else ast.Module(body=[], type_ignores=[])
    except SyntaxError:
        return defaults
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else getattr(
            node, "target", None)
        if isinstance(target, ast.Name) and target.id in defaults and getattr(node, "value", None) is not None:
            try:
                defaults[target.id] = ast.literal_eval(node.value)
            except (ValueError, SyntaxError, TypeError):
                pass
    for name, value in _derived_defaults(code[1:]).items():  # `X = None` in the cell, derived later
        if defaults.get(name, ANY_VALUE) is None:
            defaults[name] = value
    return defaults


def _derived_defaults(cells) -> dict:
    """Values of parameters derived after the bootstrap cell, ``X = (2 if SMOKE else 30) if X is None else X``.

    Returns name -> the smoke value (a literal), so a ``None`` default still has a type to check against.
    """
    found = {}
    for cell in cells:
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.IfExp)):
                continue
            test, chosen = node.value.test, node.value.body
            if (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
                    and test.left.id == node.targets[0].id and isinstance(test.ops[0], ast.Is)):
                if isinstance(chosen, ast.IfExp):  # (smoke value if SMOKE else full value)
                    chosen = chosen.body
                try:
                    found[node.targets[0].id] = ast.literal_eval(chosen)
                except (ValueError, SyntaxError, TypeError):
                    pass
    return found


def reads_data_source(path, data_source: str) -> bool:
    """True if the notebook's ``DATA_SOURCE`` can be ``data_source``: its parameters cell names that source.

    ``--data-source wm811k`` therefore reaches the wafer notebooks and ``--data-source deeppcb`` the
    detection notebooks; every other notebook keeps its own default (the embedded synthetic data).
    """
    if data_source == "synthetic":
        return True
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    line = next((ln for ln in (code[0].source.splitlines() if code else []) if ln.startswith("DATA_SOURCE")), "")
    return f'"{data_source}"' in line or f"'{data_source}'" in line
