"""Run folders: what an experiment notebook writes and every reader checks (``"format": 1``).

A notebook that runs an experiment (the Project #1 capstone, YOLO training in
Project #2) writes a **run folder**; :mod:`course_utils.tools.report` turns it
into a report. The layout::

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
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from course_utils.core.config import atomic_write

__all__ = ["SCORES_FILE", "FITS_FILE", "RESULTS_FILE", "SCORE_KEYS", "SCORE_COLUMNS",
           "FIT_COLUMNS", "RunFolderError", "write_run_json", "score_rows",
           "read_csv", "read_run"]

_RUN_FORMAT = 1
_RUN_FILE, SCORES_FILE, FITS_FILE = "run.json", "scores.csv", "fits.csv"
RESULTS_FILE = "results.csv"
#: Columns that identify one evaluation (one row of results.csv).
SCORE_KEYS = ("protocol", "train_set", "model", "seed", "test_set")
SCORE_COLUMNS = (*SCORE_KEYS, "class", "precision", "recall", "f1-score", "support")
FIT_COLUMNS = ("protocol", "train_set", "model", "seed", "n_train", "epochs", "best_epoch", "time_per_epoch_s")
_HOW_TO_FIX = ("Run the notebook that made this folder again (e.g. `python -m course_utils run 12`) "
               "to write a complete run folder, or pass the folder that holds it.")



class RunFolderError(ValueError):
    """The run folder is missing, from an older format, or incomplete; the message says what and how to fix."""


# ---------------------------------------------------------------------------
def _environment_info() -> dict:
    """``{item: value}`` of :func:`course_utils.core.env.environment_report` plus the package versions used here."""
    from course_utils.core import env

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

    Taught in: 12_project1_capstone"""
    if status not in ("complete", "running"):
        raise ValueError(f"status must be 'complete' or 'running'; got {status!r}.")
    doc = {"format": _RUN_FORMAT, "kind": kind, "title": title, "status": status,
           "created": _dt.datetime.now().isoformat(timespec="seconds"), "settings": settings,
           "environment": environment if environment is not None else _environment_info(), **extra}
    text = json.dumps(_jsonable(doc), ensure_ascii=False, indent=1)
    return atomic_write(Path(run_dir) / _RUN_FILE, lambda f: f.write(text.encode("utf-8")))


def score_rows(report: pd.DataFrame, **keys) -> pd.DataFrame:
    """Long rows of :data:`SCORE_COLUMNS` from one ``metrics.classification_report_df(..., digits=None)``.

    ``keys`` are the values of :data:`SCORE_KEYS` (protocol, train_set, model,
    seed, test_set). The report's accuracy row keeps sklearn's layout
    (accuracy in every score column).

    Taught in: 12_project1_capstone"""
    missing = [k for k in SCORE_KEYS if k not in keys]
    if missing:
        raise ValueError(f"score_rows needs the keys {list(SCORE_KEYS)}; missing {missing}.")
    rows = report.rename_axis("class").reset_index()[["class", "precision", "recall", "f1-score", "support"]]
    for k in reversed(SCORE_KEYS):
        rows.insert(0, k, keys[k])
    return rows


def read_csv(run_dir: Path, name: str, columns: tuple[str, ...], why: str) -> pd.DataFrame:
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


def read_run(run_dir) -> dict:
    """Read and check ``run_dir/run.json`` (its kind is checked by the reader); raise :class:`RunFolderError` with a fix."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is not a folder. Pass the run folder the notebook printed at its end "
                             "(e.g. outputs/12_project1_capstone/run).")
    path = run_dir / _RUN_FILE
    if not path.is_file():
        found = sorted(p.name for p in run_dir.iterdir())[:8]
        raise RunFolderError(f"{run_dir} has no {_RUN_FILE}, so it is not a run folder of this kit (it holds "
                             f"{found or 'nothing'}). Older runs wrote only histories and figures. {_HOW_TO_FIX}")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path} is not valid JSON ({exc}); the run was interrupted while writing it. "
                             f"{_HOW_TO_FIX}") from None
    if not isinstance(run, dict) or "format" not in run:
        raise RunFolderError(f"{path} has no 'format' entry: it comes from an older kit. {_HOW_TO_FIX}")
    if run["format"] != _RUN_FORMAT:
        raise RunFolderError(f"{path} has format {run['format']!r} but this kit reads format {_RUN_FORMAT}. "
                             "Update the kit (git pull) or re-run the notebook with this kit.")
    for key, default in (("title", "실행 보고서 (Run report)"), ("settings", {}), ("environment", {}),
                         ("sections", [])):
        run.setdefault(key, default)
    return run


