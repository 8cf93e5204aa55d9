"""Course-wide constants, path resolution and atomic file writes.

Everything that more than one module or notebook needs to agree on lives here:
the WM-811K class names and counts, the repository URL used by the Colab
bootstrap cell, and where data, caches and outputs are written.

Paths
-----
* ``repo_root()`` is the checkout that holds ``course_utils`` (editable install)
  or ``None`` when the kit was installed from a wheel (e.g. on Colab).
* ``data_dir()`` is ``$COURSE_DATA_DIR`` if set, else ``<repo>/datasets``, else
  ``./datasets`` in the current working directory.
* ``output_dir(name)`` is where a notebook writes figures, checkpoints and
  tables: ``<repo>/outputs/<name>`` (or ``./outputs/<name>``) unless an explicit
  folder is given (the instructor runner passes one).
* ``atomic_write(path, write)`` writes caches, checkpoints and summaries
  all-or-nothing (temporary file + ``os.replace``).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

#: The one place the repository URL is configured. The Colab bootstrap cell and
#: the "Open in Colab" badges of every notebook are generated from it
#: (``python -m course_utils notebooks --fix`` rewrites them after a change).
REPO_URL = "https://github.com/industrial-ai-course/wafer-defect-kit"
#: Branch used by the Colab badge links.
REPO_BRANCH = "main"

#: The 9 WM-811K failure types, in the order used for label indices 0..8.
CLASS_NAMES: tuple[str, ...] = (
    "Center",
    "Donut",
    "Edge-Loc",
    "Edge-Ring",
    "Loc",
    "Near-full",
    "Random",
    "Scratch",
    "none",
)
NUM_CLASSES = len(CLASS_NAMES)

#: Labeled wafers per class in the real ``LSWMD.pkl`` (172,950 labeled maps).
WM811K_LABELED_COUNTS: dict[str, int] = {
    "Center": 4294,
    "Donut": 555,
    "Edge-Loc": 5189,
    "Edge-Ring": 9680,
    "Loc": 3593,
    "Near-full": 149,
    "Random": 866,
    "Scratch": 1193,
    "none": 147431,
}

#: Die states stored in every wafer map.
OFF_WAFER, GOOD_DIE, DEFECT_DIE = 0, 1, 2

#: Where wafer maps come from: the embedded synthetic twin or the real Kaggle file.
DATA_SOURCES: tuple[str, ...] = ("synthetic", "wm811k")
#: Device preferences every notebook and the runner accept (``env.get_device``).
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")

#: Parameters every notebook declares in its ``parameters`` cell; the instructor
#: runner sets them (see ``course_utils.runner``).
STANDARD_PARAMETERS = ("SMOKE", "DEVICE", "DATA_SOURCE", "DATA_PATH", "OUTPUT_DIR", "SEED")


def package_dir() -> Path:
    """Folder of the installed ``course_utils`` package."""
    return Path(__file__).resolve().parent


def repo_root() -> Path | None:
    """Root of the course checkout, or ``None`` when not running from one.

    A checkout is recognised by ``pyproject.toml`` and ``notebooks/`` beside the
    package folder (true for ``pip install -e .`` and for a plain clone).
    """
    root = package_dir().parent
    if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir():
        return root
    return None


def notebooks_dir() -> Path:
    """Folder that holds the numbered course notebooks.

    Raises ``FileNotFoundError`` with a fix when the kit was installed without
    its repository (the notebooks are not part of the wheel).
    """
    root = repo_root()
    if root is None:
        raise FileNotFoundError(
            "The course notebooks are not available: course_utils was installed without "
            "its repository. Clone the repository and run `pip install -e .` in it."
        )
    return root / "notebooks"


def solutions_dir() -> Path:
    """Folder with the worked solutions (``solutions/NN_<stem>_solutions.ipynb``), beside ``notebooks/``."""
    return notebooks_dir().parent / "solutions"


def data_dir() -> Path:
    """Folder for downloaded data and caches (created if missing)."""
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        path = Path(env).expanduser()
    else:
        root = repo_root()
        path = (root / "datasets") if root is not None else Path.cwd() / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def output_dir(name: str, base: str | os.PathLike | None = None) -> Path:
    """Folder where notebook ``name`` writes its outputs (created if missing).

    Parameters
    ----------
    name : str
        Usually the notebook stem, e.g. ``"03_cnn_design"``.
    base : path-like or None
        An explicit folder (the runner passes one). Relative paths are resolved
        against the repository root when there is one, else the working directory.
        ``None`` means ``<repo>/outputs/<name>``.
    """
    root = repo_root() or Path.cwd()
    if base is None or str(base) == "":
        path = root / "outputs" / name
    else:
        path = Path(base).expanduser()
        if not path.is_absolute():
            path = root / path
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Write a file all-or-nothing: ``write(f)`` fills a temporary file in the same
    folder, which then replaces ``path`` (``os.replace``), so a crash never leaves
    a half-written file behind. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
