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

__all__ = ["REPO_URL", "REPO_BRANCH", "COLAB_DRIVE_DIR", "WM811K_FILENAME", "WM811K_KAGGLE", "CLASS_NAMES",
           "NUM_CLASSES", "WM811K_LABELED_COUNTS", "DATA_SOURCES", "DETECTION_SOURCES", "DEVICE_CHOICES",
           "STANDARD_PARAMETERS", "CAPSTONE_SETS", "CAPSTONE_PRESETS", "CAPSTONE_BATCH", "repo_root", "notebooks_dir", "solutions_dir", "in_colab", "data_dir",
           "cache_dir", "wm811k_download_help", "output_dir", "atomic_write"]

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
WM811K_KAGGLE = "qingyi/wm811k-wafer-map"

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
#: Where PCB image pairs come from (Project #2): the embedded twin or the real DeepPCB folder.
DETECTION_SOURCES: tuple[str, ...] = ("synthetic", "deeppcb")
#: Device preferences every notebook and the runner accept (``env.get_device``).
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")

#: Parameters every notebook declares in its ``parameters`` cell; the instructor
#: runner sets them (see ``course_utils.tools.runner``).
STANDARD_PARAMETERS = ("SMOKE", "DEVICE", "DATA_SOURCE", "DATA_PATH", "OUTPUT_DIR", "SEED")

#: The Project #1 capstone's set sizes on the real data (source 001): (train, validation) wafers per
#: training set, and the wafers of the three test sets every fit is scored on.
CAPSTONE_SETS = {"original": (112_421, 32_085), "augmented": (123_197, 32_085), "balanced": (18_000, 5_535),
                 "test": 28_444 + 4_158 + 4_158}

#: Notebook 12's presets (``PRESET``): "smoke" checks the code in seconds on a CPU; "team" fits one
#: Colab T4 in an evening (about 1.5 h estimated, see notebook 12 and tests/test_capstone_plan.py):
#: every comparison of the report with fewer epochs and seeds, EfficientNet-B0 at 128 px, the full
#: balanced test set, and no EfficientNet-B0 on the 112k-wafer original/augmented sets; "full" is the
#: course's grid (50 epochs, 3 seeds, 224 px, batch 112 for the CNN and 24 for EfficientNet-B0). ``n_samples`` None = all wafers (real data)
#: or 40,000 (synthetic twin). Grid cells are (protocol, training set, model).
_MODELS = ("cnn", "effnet_b0_frozen", "effnet_b0_ft")
#: The course's batch size per model (source 001): the proposed CNN at 112, EfficientNet-B0 at 24.
CAPSTONE_BATCH = {"cnn": 112, "effnet_b0_frozen": 24, "effnet_b0_ft": 24}
CAPSTONE_PRESETS = {
    "smoke": {"n_samples": 600, "map_size": 32, "input_size": 32, "balanced_sizes": (12, 5, 5), "seeds": 2,
              "epochs": 1, "batch_size": 64, "probe_batches": 1,
              "grid": [("leakage-free", s, "cnn") for s in ("original", "augmented", "balanced")]
              + [("leakage-free", "balanced", m) for m in _MODELS[1:]] + [("course", "balanced", "cnn")]},
    "team": {"n_samples": None, "map_size": 64, "input_size": 128, "balanced_sizes": (2000, 615, 462), "seeds": 2,
             "epochs": 12, "batch_size": 64, "probe_batches": 20,
             "grid": [("leakage-free", s, "cnn") for s in ("original", "augmented", "balanced")]
             + [("leakage-free", "balanced", m) for m in _MODELS[1:]] + [("course", "balanced", m) for m in _MODELS]},
    "full": {"n_samples": None, "map_size": 64, "input_size": 224, "balanced_sizes": (2000, 615, 462), "seeds": 3,
             "epochs": 50, "batch_size": None, "probe_batches": 20,  # None: the course's batch per model
             "grid": [("leakage-free", s, m) for s in ("original", "augmented", "balanced") for m in _MODELS]
             + [("course", "balanced", m) for m in _MODELS]},
}


def package_dir() -> Path:
    """Folder of the installed ``course_utils`` package."""
    return Path(__file__).resolve().parents[1]


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
        f"Download the Kaggle data set 'WM-811K wafer map' (https://www.kaggle.com/datasets/{WM811K_KAGGLE}), "
        f"unzip it and put {WM811K_FILENAME} (2.1 GB) at {where}, or give its location as DATA_PATH "
        "(path=... in Python). "
        f"On Google Colab: upload {WM811K_FILENAME} once to the Google Drive folder {COLAB_DRIVE_DIR} "
        "(\"My Drive/" + COLAB_DRIVE_DIR.rsplit("/", 1)[-1] + "\"), then in every session mount Drive "
        "(Files panel > Mount Drive, or `from google.colab import drive; drive.mount('/content/drive')`) "
        "and the kit finds it there; or download it into the session with the Kaggle CLI "
        f"(`!kaggle datasets download -d {WM811K_KAGGLE} -p /content/datasets --unzip`, after putting "
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
