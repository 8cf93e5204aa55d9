"""Course-wide constants, path resolution and atomic file writes.

Everything that more than one module or notebook needs to agree on lives here:
the WM-811K class names and counts, the repository URL used by the Colab
bootstrap cell, and where data, caches and outputs are written.

Paths
-----
* ``repo_root()`` is the checkout that holds ``course_utils`` (editable install)
  or ``None`` when the kit was installed from a wheel (e.g. on Colab).
* ``data_dir()`` is ``$COURSE_DATA_DIR`` if set; else, on Google Colab, the Drive
  folder ``COLAB_DRIVE_DIR`` when it holds ``LSWMD.pkl`` (or a cache); else
  ``<repo>/datasets``, else ``./datasets`` in the current working directory.
* ``cache_dir()`` is where converted data are cached: ``$COURSE_CACHE_DIR``, else
  ``data_dir()/cache`` when that is writable, else a local writable folder
  (``/content/wafer-course-cache`` on Colab, the temporary folder elsewhere).
* ``output_dir(name)`` is where a notebook writes figures, checkpoints and
  tables: ``<repo>/outputs/<name>`` (or ``./outputs/<name>``) unless an explicit
  folder is given (the instructor runner passes one).
* ``atomic_write(path, write)`` writes caches, checkpoints and summaries
  all-or-nothing (temporary file + ``os.replace``).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["REPO_URL", "REPO_BRANCH", "COLAB_DRIVE_DIR", "WM811K_FILENAME", "DATA_SOURCES", "DETECTION_SOURCES",
           "DEVICE_CHOICES", "STANDARD_PARAMETERS", "repo_root", "notebooks_dir", "solutions_dir", "in_colab",
           "data_dir", "cache_dir", "wm811k_download_help", "output_dir", "atomic_write"]

#: The one place the repository URL is configured. The Colab bootstrap cell and
#: the "Open in Colab" badges of every notebook are generated from it
#: (``python -m course_utils notebooks --fix`` rewrites them after a change).
REPO_URL = "https://github.com/industrial-ai-course/wafer-defect-kit"
#: Branch used by the Colab badge links.
REPO_BRANCH = "main"
#: The one place the course's Google Drive folder is configured (as seen from Colab
#: after mounting Drive). The bootstrap cell looks there for the course bundle or kit
#: wheel, and ``data_dir()`` for ``LSWMD.pkl``. ``notebooks --fix`` re-syncs the cell.
COLAB_DRIVE_DIR = "/content/drive/MyDrive/wafer-course"
#: Name of the real WM-811K file (Kaggle "WM-811K wafer map").
WM811K_FILENAME = "LSWMD.pkl"
#: Kaggle data set of the real file.
_WM811K_KAGGLE = "qingyi/wm811k-wafer-map"

#: Where wafer maps come from: the embedded synthetic twin or the real Kaggle file.
DATA_SOURCES: tuple[str, ...] = ("synthetic", "wm811k")
#: Where PCB image pairs come from (Project #2): the embedded twin or the real DeepPCB folder.
DETECTION_SOURCES: tuple[str, ...] = ("synthetic", "deeppcb")
#: Device preferences every notebook and the runner accept (``env.get_device``).
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")

#: Parameters every notebook declares in its ``parameters`` cell; the instructor
#: runner sets them (see ``course_utils.tools.runner``).
STANDARD_PARAMETERS = ("SMOKE", "DEVICE", "DATA_SOURCE", "DATA_PATH", "OUTPUT_DIR", "SEED")

def package_dir() -> Path:
    """Folder of the installed ``course_utils`` package."""
    return Path(__file__).resolve().parents[1]


def repo_root() -> Path | None:
    """Root of the course checkout, or ``None`` when not running from one.

    A checkout is recognised by ``pyproject.toml`` and ``notebooks/`` beside the
    package folder (true for ``pip install -e .`` and for a plain clone).

    Taught in: 13_pcb_detection_data"""
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


def in_colab() -> bool:
    """True when running inside Google Colab (its module is loaded or its release tag is set)."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def colab_drive_data_dir() -> Path | None:
    """``COLAB_DRIVE_DIR`` when running on Colab with Drive mounted and the folder holding
    ``LSWMD.pkl`` or a ``cache/`` folder; otherwise ``None``."""
    if not in_colab():
        return None
    folder = Path(COLAB_DRIVE_DIR)
    if (folder / WM811K_FILENAME).is_file() or (folder / "cache").is_dir():
        return folder
    return None


def data_dir() -> Path:
    """Folder for downloaded data (created if missing).

    ``$COURSE_DATA_DIR``; else on Colab the Drive folder ``COLAB_DRIVE_DIR`` when it
    holds the WM-811K file; else ``<repo>/datasets``; else ``./datasets``.
    """
    env = os.environ.get("COURSE_DATA_DIR")
    drive = None if env else colab_drive_data_dir()
    if env:
        path = Path(env).expanduser()
    elif drive is not None:
        path = drive
    else:
        root = repo_root()
        path = (root / "datasets") if root is not None else Path.cwd() / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _is_writable(folder: Path) -> bool:
    """True when ``folder`` exists (or can be created) and a file can be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def cache_dir() -> Path:
    """Writable folder for caches of converted data (created if missing).

    ``$COURSE_CACHE_DIR``; else ``data_dir()/cache`` when it can be written (a Drive
    folder shared read-only, or a read-only data disk, cannot); else
    ``/content/wafer-course-cache`` on Colab or ``<tmp>/wafer-course-cache`` elsewhere.
    """
    env = os.environ.get("COURSE_CACHE_DIR")
    if env:
        path = Path(env).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path
    local = Path("/content") if in_colab() else Path(tempfile.gettempdir())
    for path in (data_dir() / "cache", local / "wafer-course-cache"):
        if _is_writable(path):
            return path
    raise PermissionError(
        f"No writable cache folder: {data_dir() / 'cache'} and {local / 'wafer-course-cache'} are read-only. "
        "Set the environment variable COURSE_CACHE_DIR to a folder you can write."
    )


def wm811k_download_help(expected: str | os.PathLike | None = None) -> str:
    """What to do when the WM-811K file is missing: the Kaggle download, the Google
    Drive route on Colab and the ``DATA_PATH`` override, as one paragraph.

    ``expected`` is where the loader looked (default ``data_dir()/LSWMD.pkl``).
    """
    where = Path(expected) if expected is not None else data_dir() / WM811K_FILENAME
    return (
        f"Download the Kaggle data set 'WM-811K wafer map' (https://www.kaggle.com/datasets/{_WM811K_KAGGLE}), "
        f"unzip it and put {WM811K_FILENAME} (2.1 GB) at {where}, or give its location as DATA_PATH "
        "(path=... in Python). "
        f"On Google Colab: upload {WM811K_FILENAME} once to the Google Drive folder {COLAB_DRIVE_DIR} "
        "(\"My Drive/" + COLAB_DRIVE_DIR.rsplit("/", 1)[-1] + "\"), then in every session mount Drive "
        "(Files panel > Mount Drive, or `from google.colab import drive; drive.mount('/content/drive')`) "
        "and the kit finds it there; or download it into the session with the Kaggle CLI "
        f"(`!kaggle datasets download -d {_WM811K_KAGGLE} -p /content/datasets --unzip`, after putting "
        "your kaggle.json API token in ~/.kaggle/). "
        "Without the file, use DATA_SOURCE='synthetic'."
    )


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

    Taught in: 00_setup_cuda"""
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
    a half-written file behind. Returns ``path``.

    Taught in: 13_pcb_detection_data"""
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
