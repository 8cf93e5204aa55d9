"""Instructor runner: execute the course notebooks with papermill and summarise.

Command line (also installed as the ``course-utils`` console script)::

    python -m course_utils run                       # all notebooks and solutions, smoke parameters
    python -m course_utils run 03 05 --full --device cuda --jobs 2
    python -m course_utils run --data-source wm811k --data-path datasets/LSWMD.pkl
    python -m course_utils run 04 -p MAX_EPOCHS=5 -p GRID_BATCH_SIZES="[32, 128]"
    python -m course_utils run 3 --dry-run           # check names and parameters, run nothing

(``tests/tools/test_runner.py`` checks that these examples and the README's are valid.)
Every notebook runs in its own process (kernel ``python3``, working directory =
the notebook's folder). Executed copies go to ``<output-dir>/<notebook>.ipynb``
and the notebook's own files to ``<output-dir>/<notebook>/``; the sources are
never touched. The summary (notebook, status, seconds, failing cell, error) is
printed and written as ``summary.csv`` and ``summary.json``; the exit code is 1
if any notebook failed or timed out.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from course_utils.core import config
from course_utils.tools import nbtools

__all__ = ["RunnerError", "NotebookResult", "resolve_notebooks", "parse_parameter", "execute_one", "run_notebooks",
           "format_summary", "add_run_arguments", "main_run"]

#: Default per-notebook time limit in seconds (smoke runs); full runs have none.
_SMOKE_TIMEOUT_S = 600
#: Tries to start a notebook's kernel before the notebook counts as failed.
KERNEL_START_ATTEMPTS = 3
#: Seconds one cell may run in a smoke run (every smoke cell takes under 20 s on 2 cores, so this is
#: 3x headroom). A cell past it is almost always a lost kernel message (the kernel idles while the
#: client waits for its reply; seen twice in about 190 smoke notebooks, both in notebook 08): the
#: notebook is then run once more, and a hang costs one minute of the course's 5-minute budget.
SMOKE_CELL_TIMEOUT_S = 60
#: How the worker process of one notebook starts (``python -c _WORKER_START SPEC RESULT``, see ``_worker``).
#: nbformat imports jsonschema, which imports ``rfc3987_syntax`` when it is installed (jupyter-events needs it)
#: and builds a grammar for about 1 s of the worker's start, only to check "iri" strings, which no notebook
#: schema has; the worker starts without it.
_WORKER_START = ("import sys; sys.modules.setdefault('rfc3987_syntax', None); "
                 "from course_utils.tools.runner import _worker; sys.exit(_worker(sys.argv[1:]))")


class RunnerError(Exception):
    """A problem with the runner's arguments or set-up, reported as one line."""


@dataclass
class NotebookResult:
    notebook: str
    status: str  # "ok", "failed" or "timeout"
    seconds: float
    cell: int | None = None  # execution count ("In [N]") of the failing cell
    cell_index: int | None = None  # 0-based index of the failing cell in the executed notebook
    error_type: str = ""
    error: str = ""
    output: str = ""  # path of the executed copy


def resolve_notebooks(names: list[str] | None, *, solutions: bool = True) -> list[Path]:
    """Map names such as ``03``, ``3``, ``03_cnn_design`` or a path to notebook files.

    Without names: every course notebook, then (``solutions=True``) every solution notebook.
    Raises :class:`RunnerError` listing the available notebooks for an unknown name.
    """
    from course_utils.tools.nbtools import notebook_paths

    try:
        paths = notebook_paths(names, solutions=solutions)
    except FileNotFoundError as exc:
        raise RunnerError(str(exc)) from None
    if not paths:
        raise RunnerError(f"no notebooks found in {config.notebooks_dir()}")
    return paths


def parse_parameter(text: str) -> tuple[str, object]:
    """Parse ``NAME=VALUE``; VALUE is a Python literal if it parses as one, else a string."""
    if "=" not in text:
        raise RunnerError(f"parameter {text!r} must look like NAME=VALUE, e.g. -p EPOCHS=5")
    name, raw = text.split("=", 1)
    name = name.strip()
    if not name.isidentifier():
        raise RunnerError(f"parameter name {name!r} is not a valid Python identifier")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name, value


def check_kernel(kernel: str) -> None:
    """Raise :class:`RunnerError` with the fix when the Jupyter kernel is missing."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        raise RunnerError(
            f"Jupyter kernel {kernel!r} is not installed; install it with "
            f"`{Path(sys.executable).name} -m ipykernel install --user --name {kernel}`"
        ) from None


def check_parameter_type(name: str, value, default, notebook: str) -> None:
    """Raise :class:`RunnerError` when ``value`` cannot stand where the parameters cell has ``default``.

    ``None`` and non-literal defaults accept anything; ``bool`` needs a bool; ``int`` an integer;
    ``float`` any number; ``str`` a string; lists, tuples and dicts the same container.
    """
    if default is None or default is nbtools.ANY_VALUE:
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise RunnerError(
            f"-p {name}={value!r}: {notebook} declares {name} = {default!r} ({type(default).__name__}), "
            f"so {value!r} ({type(value).__name__}) cannot work there; pass a value of type {type(default).__name__}, "
            f"e.g. -p {name}={default!r}"
        )


def build_parameters(declared: set[str], standard: dict, extra: dict) -> dict:
    """Parameters for one notebook that declares ``declared``: the standard ones plus the extras."""
    params = {k: v for k, v in standard.items() if k in declared}
    params.update({k: v for k, v in extra.items() if k in declared})
    return params


def _failing_cell(executed: Path) -> tuple[int | None, int | None]:
    """(execution count, cell index) of the cell papermill marked running/failed."""
    try:
        nb = json.loads(executed.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    for i, cell in enumerate(nb.get("cells", [])):
        status = cell.get("metadata", {}).get("papermill", {}).get("status")
        if status in ("running", "failed"):
            return cell.get("execution_count"), i
    return None, None


def _cells_started(executed: Path) -> bool:
    """True if any code cell of ``executed`` ran (papermill marks every cell "completed"
    when the kernel never starts, so the execution counts are what tells)."""
    try:
        nb = json.loads(executed.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return any(cell.get("execution_count") is not None for cell in nb.get("cells", []))


def execute_one(spec: dict) -> dict:
    """Run one notebook with papermill in this process; return a result dict.

    ``spec`` keys: ``input``, ``output``, ``cwd``, ``parameters``, ``kernel``.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from course_utils.tools.papermill_engine import ENGINE_NAME  # registers the engine (see its docstring)

    start = time.perf_counter()
    result = {"status": "ok", "cell": None, "cell_index": None, "error_type": "", "error": ""}
    try:
        for attempt in range(KERNEL_START_ATTEMPTS):
            try:
                pm.execute_notebook(
                    spec["input"], spec["output"], parameters=spec["parameters"], kernel_name=spec["kernel"],
                    execution_timeout=spec.get("cell_timeout"), engine_name=ENGINE_NAME,
                    cwd=spec["cwd"], progress_bar=False, log_output=False, request_save_on_cell_execute=True,
                )
                break
            except PapermillExecutionError:
                raise
            except Exception:
                # A kernel that dies while starting (e.g. a port clash between kernels
                # launched at the same moment) has run nothing yet: start it again.
                if attempt + 1 == KERNEL_START_ATTEMPTS or _cells_started(Path(spec["output"])):
                    raise
                time.sleep(1.0 + attempt)
    except PapermillExecutionError as exc:
        _, index = _failing_cell(Path(spec["output"]))  # index in the saved copy (papermill adds a banner cell)
        result.update(status="failed", cell=exc.exec_count, cell_index=index if index is not None else exc.cell_index,
                      error_type=exc.ename, error=" ".join(str(exc.evalue).split())[:500])
    except Exception as exc:  # kernel died, unreadable notebook, ...
        cell, index = _failing_cell(Path(spec["output"]))
        result.update(status="failed", cell=cell, cell_index=index, error_type=type(exc).__name__,
                      error=" ".join(str(exc).split())[:500])
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


def _run_in_subprocess(path: Path, out_dir: Path, params: dict, kernel: str, timeout: float | None,
                       env: dict, cell_timeout: float | None = None) -> NotebookResult:
    executed = out_dir / path.name
    spec = {"input": str(path), "output": str(executed), "cwd": str(path.parent),
            "parameters": params, "kernel": kernel, "cell_timeout": cell_timeout}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        spec_file, result_file = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        cmd = [sys.executable, "-c", _WORKER_START, str(spec_file), str(result_file)]
        popen_kw = {"start_new_session": True} if os.name == "posix" else {}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen_kw)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            proc.communicate()
            cell, index = _failing_cell(executed)
            return NotebookResult(path.stem, "timeout", round(time.perf_counter() - start, 2), cell, index,
                                  "TimeoutError", f"notebook exceeded the {timeout:.0f} s limit (--timeout)",
                                  str(executed))
        seconds = round(time.perf_counter() - start, 2)
        if result_file.is_file():
            r = json.loads(result_file.read_text(encoding="utf-8"))
            return NotebookResult(path.stem, r["status"], seconds, r["cell"], r["cell_index"],
                                  r["error_type"], r["error"], str(executed))
        tail = log.decode(errors="replace").strip().splitlines()[-1:] if log else []
        return NotebookResult(path.stem, "failed", seconds, None, None, "RunnerError",
                              f"worker exited with code {proc.returncode}: {' '.join(tail)}", str(executed))


def _kill_tree(proc: subprocess.Popen) -> None:
    """Stop the worker and the kernel it started."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def run_notebooks(
    notebooks: list[str] | None = None,
    *,
    smoke: bool = True,
    device: str = "auto",
    data_source: str = "synthetic",
    data_path: str | None = None,
    seed: int | None = None,
    extra: dict | None = None,
    output_dir: str | Path | None = None,
    jobs: int = 1,
    timeout: float | None = None,
    kernel: str = "python3",
    echo: bool = True,
    solutions: bool = True,
    dry_run: bool = False,
    cell_timeout: float | None = None,
) -> tuple[list[NotebookResult], Path]:
    """Execute notebooks and return their results and the output folder.

    Raises :class:`RunnerError` (before running anything) for unknown notebooks,
    unknown parameters or values of the wrong type, a missing kernel or bad
    option values. ``dry_run=True`` checks all of that, prints what would run and
    returns no results. In smoke runs a cell may run ``cell_timeout`` seconds (default
    ``SMOKE_CELL_TIMEOUT_S``); a notebook whose cell runs past it is run once more.
    """
    _check_options(device=device, data_source=data_source, jobs=jobs, timeout=timeout)
    paths = resolve_notebooks(notebooks, solutions=solutions)
    extra = dict(extra or {})
    declared = {p: nbtools.notebook_parameters(p) for p in paths}
    _check_extra_parameters(extra, declared)
    check_kernel(kernel)
    if timeout is None:
        timeout = _SMOKE_TIMEOUT_S if smoke else None
    elif timeout == 0:
        timeout = None
    if cell_timeout is None and smoke:
        cell_timeout = SMOKE_CELL_TIMEOUT_S
    out = _output_folder(output_dir)
    if dry_run:
        for path in paths:
            print(f"[dry-run] {path.stem}: {sorted(set(extra) & set(declared[path])) or 'standard parameters'}")
        return [], out
    out.mkdir(parents=True, exist_ok=True)

    env = _kernel_env(jobs)

    def one(path: Path) -> NotebookResult:
        standard = {"SMOKE": smoke, "DEVICE": device, "OUTPUT_DIR": str(out / path.stem)}
        if nbtools.reads_data_source(path, data_source):  # wm811k: wafer notebooks; deeppcb: detection ones
            standard["DATA_SOURCE"] = data_source
            if data_path is not None:
                standard["DATA_PATH"] = str(Path(data_path).expanduser().resolve())
        if seed is not None:
            standard["SEED"] = seed
        params = build_parameters(declared[path], standard, extra)
        return _run_with_retry(path, out, params, kernel=kernel, timeout=timeout, env=env,
                               cell_timeout=cell_timeout, echo=echo)

    if jobs == 1 or len(paths) == 1:
        results = [one(p) for p in paths]
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, paths))
    write_summary(results, out)
    return results, out


def _kernel_env(jobs: int) -> dict:
    """The environment of every notebook's worker and kernel."""
    env = dict(os.environ)
    # Figures must land in the executed notebooks: an inherited MPLBACKEND=Agg would swallow them.
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env["PYTHONUNBUFFERED"] = "1"
    if jobs > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return env


def _run_with_retry(path: Path, out: Path, params: dict, *, kernel: str, timeout: float | None, env: dict,
                    cell_timeout: float | None, echo: bool) -> NotebookResult:
    """Run one notebook (once more if a cell ran past ``cell_timeout``) and print its start and result lines."""
    if echo:
        print(f"[start] {path.stem}", flush=True)
    result = _run_in_subprocess(path, out, params, kernel, timeout, env, cell_timeout)
    if result.status == "failed" and result.error_type == "CellTimeoutError":
        if echo:
            print(f"[  retry] {path.stem}: cell {result.cell} ran past {cell_timeout:g} s; running it again",
                  flush=True)
        result = _run_in_subprocess(path, out, params, kernel, timeout, env, cell_timeout)
        result.error = (result.error + " (after one retry)").strip() if result.status != "ok" else result.error
    if echo:
        where = f" at cell {result.cell}" if result.cell is not None else ""
        detail = f"{where}: {result.error_type}: {result.error}" if result.status != "ok" else ""
        print(f"[{result.status:>7}] {path.stem} ({result.seconds:.1f} s){detail}", flush=True)
    return result


def _check_options(*, device: str, data_source: str, jobs: int, timeout: float | None) -> None:
    """Raise :class:`RunnerError` for an option value the runner cannot use."""
    if device not in config.DEVICE_CHOICES and not device.startswith("cuda:"):
        raise RunnerError(f"--device {device!r} must be one of {', '.join(config.DEVICE_CHOICES)} or cuda:N")
    sources = dict.fromkeys(config.DATA_SOURCES + config.DETECTION_SOURCES)
    if data_source not in sources:
        raise RunnerError(f"--data-source {data_source!r} must be one of {', '.join(sources)}")
    if jobs < 1:
        raise RunnerError(f"--jobs must be at least 1, got {jobs}")
    if timeout is not None and timeout < 0:
        raise RunnerError(f"--timeout {timeout:g} must be a number of seconds > 0, or 0 for no limit")


def _check_extra_parameters(extra: dict, declared: dict) -> None:
    """Every ``-p`` name must be declared by a selected notebook, with a value its default's type allows."""
    all_declared = set().union(*declared.values())
    unknown = sorted(set(extra) - all_declared)
    if unknown:
        raise RunnerError(
            f"parameter(s) {', '.join(unknown)} not declared by any selected notebook; "
            f"declared: {', '.join(sorted(all_declared))}"
        )
    for path, defaults in declared.items():
        for name, value in extra.items():
            if name in defaults:
                check_parameter_type(name, value, defaults[name], path.stem)


def _output_folder(output_dir) -> Path:
    """The run's output folder (absolute), checked: not a file, not the notebooks folder."""
    root = config.repo_root() or Path.cwd()
    out = Path(output_dir).expanduser() if output_dir else root / "runs" / datetime.now().strftime("%Y%m%d-%H%M%S")
    out = out if out.is_absolute() else (Path.cwd() / out)
    if out.exists() and not out.is_dir():
        raise RunnerError(f"--output-dir {str(out)!r} is a file, not a folder; pass a folder name "
                          "(it is created if missing), e.g. --output-dir runs/smoke")
    if out.resolve() == config.notebooks_dir().resolve():
        raise RunnerError("--output-dir must not be the notebooks folder (sources are never overwritten)")
    return out


def summary_table(results: list[NotebookResult]):
    """The results as a pandas DataFrame (one row per notebook)."""
    import pandas as pd

    return pd.DataFrame([asdict(r) for r in results],
                        columns=["notebook", "status", "seconds", "cell", "cell_index", "error_type", "error", "output"])


def write_summary(results: list[NotebookResult], out: Path) -> None:
    """Write ``summary.csv`` and ``summary.json`` into ``out`` (atomically)."""
    table = summary_table(results)
    for name, text in (("summary.csv", table.to_csv(index=False)),
                       ("summary.json", json.dumps([asdict(r) for r in results], indent=2))):
        config.atomic_write(out / name, lambda f, text=text: f.write(text.encode("utf-8")))


def format_summary(results: list[NotebookResult], wall_seconds: float | None = None) -> str:
    """Human-readable summary lines."""
    width = max([len(r.notebook) for r in results] + [8])
    lines = [f"{'notebook':<{width}}  {'status':<7}  {'seconds':>8}  error"]
    for r in results:
        err = ""
        if r.status != "ok":
            cell = f"cell {r.cell}" if r.cell is not None else "cell ?"
            err = f"{cell}: {r.error_type}: {r.error}"
        lines.append(f"{r.notebook:<{width}}  {r.status:<7}  {r.seconds:>8.1f}  {err}")
    n_ok = sum(r.status == "ok" for r in results)
    total = sum(r.seconds for r in results)
    tail = f"{n_ok}/{len(results)} notebooks ok, {total:.1f} s of notebook time"
    if wall_seconds is not None:
        tail += f", {wall_seconds:.1f} s wall"
    lines.append(tail)
    return "\n".join(lines)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (e.g. 03 or 03_cnn_design); default: all")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--smoke", dest="smoke", action="store_true", default=True,
                      help="tiny data and epochs (default; what CI runs)")
    size.add_argument("--full", dest="smoke", action="store_false", help="the full course parameters (GPU advised)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: auto)")
    parser.add_argument("--data-source", default="synthetic",
                        choices=list(dict.fromkeys(config.DATA_SOURCES + config.DETECTION_SOURCES)),
                        help="embedded synthetic data (default), the real WM-811K file (wafer notebooks) or the "
                             "real DeepPCB folder (detection notebooks); the others keep their default")
    parser.add_argument("--data-path", default=None, help="path to LSWMD.pkl (default: datasets/LSWMD.pkl)")
    parser.add_argument("--seed", type=int, default=None, help="override every notebook's SEED")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="extra papermill parameter, passed to the notebooks that declare it")
    parser.add_argument("-o", "--output-dir", default=None, help="folder for executed notebooks and the summary "
                                                                  "(default: runs/<timestamp>)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="notebooks run in parallel (default: 1)")
    parser.add_argument("--timeout", type=float, default=None,
                        help=f"seconds per notebook (default: {_SMOKE_TIMEOUT_S} for smoke, none for full; 0 = none)")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: python3)")
    parser.add_argument("--no-solutions", dest="solutions", action="store_false",
                        help="without names: run the course notebooks only, not solutions/")
    parser.add_argument("--dry-run", action="store_true",
                        help="check notebook names and parameters, print what would run, run nothing")


def main_run(args: argparse.Namespace) -> int:
    try:
        extra = dict(parse_parameter(p) for p in args.parameter)
        start = time.perf_counter()
        results, out = run_notebooks(
            args.notebooks, smoke=args.smoke, device=args.device, data_source=args.data_source,
            data_path=args.data_path, seed=args.seed, extra=extra, output_dir=args.output_dir,
            jobs=args.jobs, timeout=args.timeout, kernel=args.kernel, solutions=args.solutions,
            dry_run=args.dry_run,
        )
    except (RunnerError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        return 0
    print()
    print(format_summary(results, time.perf_counter() - start))
    print(f"executed notebooks and summary.csv/json in {out}")
    return 0 if all(r.status == "ok" for r in results) else 1


def _worker(argv: list[str]) -> int:
    """Run one notebook described by a JSON spec file; write the result JSON atomically.

    Started by :func:`_run_in_subprocess` as ``python -c _WORKER_START SPEC RESULT`` (or by hand as
    ``python -m course_utils.tools.runner SPEC RESULT``; not a user command, so it is not listed by
    ``python -m course_utils --help``).
    """
    spec_file, result_file = argv
    result = execute_one(json.loads(Path(spec_file).read_text(encoding="utf-8")))
    config.atomic_write(result_file, lambda f: f.write(json.dumps(result).encode("utf-8")))
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
