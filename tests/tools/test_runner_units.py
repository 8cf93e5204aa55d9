"""Fast unit tests of the instructor runner (course_utils.tools.runner): no Jupyter kernel is started.

papermill, the worker process and the per-notebook run are replaced by fakes, so each function's own logic
(arguments, messages, retries, summaries, environment) is checked in milliseconds. Issue 30 (mutation testing).
"""
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from course_utils import __main__ as cli
from course_utils.core import config
from course_utils.tools import nbtools, runner
from nbfiles import write_notebook

PARAMS = 'SMOKE = True\nDEVICE = "auto"\nOUTPUT_DIR = None\nSEED = 42\nEPOCHS = 1\n'


# ---------------------------------------------------------------------------
# Arguments and their checks
# ---------------------------------------------------------------------------
def test_parse_parameter_splits_at_the_first_equals_sign_and_strips_the_name():
    assert runner.parse_parameter(" LR =3e-3") == ("LR", 3e-3)
    assert runner.parse_parameter("EXPR=a=b") == ("EXPR", "a=b")  # only the first '=' separates
    assert runner.parse_parameter("TEXT=two words") == ("TEXT", "two words")  # SyntaxError: kept as text
    assert runner.parse_parameter("OPEN=[1,") == ("OPEN", "[1,")


@pytest.mark.parametrize("text, message", [
    ("EPOCHS", "parameter 'EPOCHS' must look like NAME=VALUE, e.g. -p EPOCHS=5"),
    ("1X=3", "parameter name '1X' is not a valid Python identifier"),
    ("=3", "parameter name '' is not a valid Python identifier"),
])
def test_parse_parameter_messages_in_full(text, message):
    with pytest.raises(runner.RunnerError) as err:
        runner.parse_parameter(text)
    assert str(err.value) == message


def test_check_kernel_names_the_install_command():
    runner.check_kernel("python3")  # installed: no error
    with pytest.raises(runner.RunnerError) as err:
        runner.check_kernel("no-such-kernel")
    assert str(err.value) == ("Jupyter kernel 'no-such-kernel' is not installed; install it with "
                              f"`{Path(sys.executable).name} -m ipykernel install --user --name no-such-kernel`")


@pytest.mark.parametrize("value, default", [
    (3, None), ("x", nbtools.ANY_VALUE), (True, False), (4, 1), (2, 0.5), (2.5, 0.5), ("b", "a"),
    ([1], [0, 2]), ((1,), (0,)), ({"a": 1}, {}),
])
def test_values_that_fit_the_default(value, default):
    runner.check_parameter_type("P", value, default, "70_nb")


@pytest.mark.parametrize("value, default", [
    (1, True), (True, 1), (1.5, 1), (True, 0.5), ("1", 1), (3, "a"), ((1,), [0]), ([1], (0,)), ([1], {}),
])
def test_values_that_do_not_fit_the_default(value, default):
    with pytest.raises(runner.RunnerError) as err:
        runner.check_parameter_type("P", value, default, "70_nb")
    kind, got = type(default).__name__, type(value).__name__
    assert str(err.value) == (f"-p P={value!r}: 70_nb declares P = {default!r} ({kind}), so {value!r} ({got}) cannot "
                              f"work there; pass a value of type {kind}, e.g. -p P={default!r}")


def test_resolve_notebooks_errors(monkeypatch):
    with pytest.raises(runner.RunnerError) as err:
        runner.resolve_notebooks(["99_nope"])
    assert str(err.value).startswith("unknown notebook '99_nope'; available: 00_setup_cuda")
    monkeypatch.setattr(nbtools, "notebook_paths", lambda names, solutions: [])
    with pytest.raises(runner.RunnerError) as err:
        runner.resolve_notebooks(None)
    assert str(err.value) == f"no notebooks found in {config.notebooks_dir()}"


def test_build_parameters_keeps_the_declared_names_and_lets_extras_win():
    got = runner.build_parameters({"SMOKE", "EPOCHS"}, {"SMOKE": True, "DEVICE": "cpu"}, {"EPOCHS": 3, "LR": 1})
    assert got == {"SMOKE": True, "EPOCHS": 3}
    assert runner.build_parameters({"SMOKE"}, {"SMOKE": True}, {"SMOKE": False}) == {"SMOKE": False}


@pytest.mark.parametrize("kwargs, message", [
    (dict(device="gpu"), "--device 'gpu' must be one of auto, cpu, cuda, mps or cuda:N"),
    (dict(data_source="kaggle"), "--data-source 'kaggle' must be one of synthetic, wm811k, deeppcb"),
    (dict(jobs=0), "--jobs must be at least 1, got 0"),
    (dict(timeout=-0.5), "--timeout -0.5 must be a number of seconds > 0, or 0 for no limit"),
])
def test_option_messages_in_full(kwargs, message):
    options = dict(device="auto", data_source="synthetic", jobs=1, timeout=None) | kwargs
    with pytest.raises(runner.RunnerError) as err:
        runner._check_options(**options)
    assert str(err.value) == message


def test_options_at_their_limits_are_accepted():
    for device in ("auto", "cpu", "cuda", "mps", "cuda:1"):
        runner._check_options(device=device, data_source="deeppcb", jobs=1, timeout=0)
    runner._check_options(device="cpu", data_source="wm811k", jobs=3, timeout=None)


def test_undeclared_parameter_message_in_full():
    declared = {Path("70_a.ipynb"): {"EPOCHS": 1, "SEED": 0}, Path("71_b.ipynb"): {"LR": 0.1}}
    with pytest.raises(runner.RunnerError) as err:
        runner._check_extra_parameters({"ZED": 1, "EPOCHZ": 2, "LR": 0.2}, declared)
    assert str(err.value) == ("parameter(s) EPOCHZ, ZED not declared by any selected notebook; "
                              "declared: EPOCHS, LR, SEED")
    with pytest.raises(runner.RunnerError, match=r"^-p LR='x': 71_b declares LR = 0.1 \(float\)"):
        runner._check_extra_parameters({"LR": "x"}, declared)
    runner._check_extra_parameters({"LR": 1, "EPOCHS": 5}, declared)


def test_output_folder_default_relative_and_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default = runner._output_folder(None)
    assert default.parent == config.repo_root() / "runs" and default.name.replace("-", "").isdigit()
    assert len(default.name) == len("20261205-163000")
    assert runner._output_folder("runs/a") == tmp_path / "runs" / "a"  # relative: under the working folder
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert runner._output_folder("~/r") == tmp_path / "home" / "r"
    afile = tmp_path / "f.txt"
    afile.write_text("x")
    with pytest.raises(runner.RunnerError) as err:
        runner._output_folder(afile)
    assert str(err.value) == (f"--output-dir {str(afile)!r} is a file, not a folder; pass a folder name (it is "
                              "created if missing), e.g. --output-dir runs/smoke")
    with pytest.raises(runner.RunnerError) as err:
        runner._output_folder(config.notebooks_dir())
    assert str(err.value) == "--output-dir must not be the notebooks folder (sources are never overwritten)"


def test_kernel_environment(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 8)
    env = runner._kernel_env(1)
    assert env["MPLBACKEND"] == "module://matplotlib_inline.backend_inline" and env["PYTHONUNBUFFERED"] == "1"
    assert "OMP_NUM_THREADS" not in env and env["HOME"] == os.environ["HOME"]
    assert runner._kernel_env(2)["OMP_NUM_THREADS"] == "4"  # 8 cores shared by 2 notebooks
    assert runner._kernel_env(3)["OMP_NUM_THREADS"] == "2"  # 8 // 3
    assert runner._kernel_env(16)["OMP_NUM_THREADS"] == "1"  # never 0
    monkeypatch.setattr(runner.os, "cpu_count", lambda: None)
    assert runner._kernel_env(2)["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert runner._kernel_env(2)["OMP_NUM_THREADS"] == "7"  # the user's choice is kept


# ---------------------------------------------------------------------------
# run_notebooks with the per-notebook run replaced
# ---------------------------------------------------------------------------
@pytest.fixture
def two_notebooks(tmp_path):
    return [write_notebook(tmp_path / f"7{i}_nb{i}.ipynb", "x = 1", params=PARAMS) for i in range(2)]


def _record_runs(monkeypatch, status="ok"):
    calls = []

    def fake(path, out, params, **kwargs):
        calls.append({"path": path, "out": out, "params": params, **kwargs})
        return runner.NotebookResult(path.stem, status, 1.25, None, None, "", "", str(out / path.name))

    monkeypatch.setattr(runner, "_run_with_retry", fake)
    return calls


@pytest.mark.parametrize("smoke, timeout, cell_timeout, want_timeout, want_cell", [
    (True, None, None, 600, 60), (False, None, None, None, None), (True, 0, 7, None, 7), (False, 30, None, 30, None),
])
def test_limits_of_smoke_and_full_runs(two_notebooks, tmp_path, monkeypatch, smoke, timeout, cell_timeout,
                                       want_timeout, want_cell):
    calls = _record_runs(monkeypatch)
    runner.run_notebooks([str(two_notebooks[0])], smoke=smoke, timeout=timeout, cell_timeout=cell_timeout,
                         output_dir=tmp_path / "o", echo=False)
    (call,) = calls
    assert (call["timeout"], call["cell_timeout"], call["echo"], call["kernel"]) == (want_timeout, want_cell,
                                                                                      False, "python3")
    assert call["env"]["PYTHONUNBUFFERED"] == "1"


def test_standard_parameters_and_results_in_order(two_notebooks, tmp_path, monkeypatch):
    calls = _record_runs(monkeypatch)
    out = tmp_path / "o"
    results, folder = runner.run_notebooks([str(p) for p in two_notebooks], smoke=False, device="cpu", seed=5,
                                           extra={"EPOCHS": 2}, output_dir=out, jobs=2)
    assert folder == out and [r.notebook for r in results] == ["70_nb0", "71_nb1"]
    by_name = {c["path"].stem: c for c in calls}
    assert by_name["70_nb0"]["params"] == {"SMOKE": False, "DEVICE": "cpu", "OUTPUT_DIR": str(out / "70_nb0"),
                                           "SEED": 5, "EPOCHS": 2}
    assert by_name["71_nb1"]["out"] == out and by_name["71_nb1"]["echo"] is True
    table = json.loads((out / "summary.json").read_text())
    assert [row["notebook"] for row in table] == ["70_nb0", "71_nb1"]
    calls.clear()
    runner.run_notebooks([str(two_notebooks[0])], output_dir=out, echo=False)
    assert "SEED" not in calls[0]["params"] and calls[0]["params"]["SMOKE"] is True  # no --seed: the notebook's


def test_dry_run_prints_and_runs_nothing(two_notebooks, tmp_path, monkeypatch, capsys):
    calls = _record_runs(monkeypatch)
    out = tmp_path / "o"
    results, folder = runner.run_notebooks([str(p) for p in two_notebooks], extra={"EPOCHS": 2}, output_dir=out,
                                           dry_run=True)
    assert (results, folder, calls) == ([], out, [])
    assert capsys.readouterr().out == "[dry-run] 70_nb0: ['EPOCHS']\n[dry-run] 71_nb1: ['EPOCHS']\n"
    runner.run_notebooks([str(two_notebooks[0])], output_dir=out, dry_run=True)
    assert capsys.readouterr().out == "[dry-run] 70_nb0: standard parameters\n"
    assert not out.exists()


# ---------------------------------------------------------------------------
# One notebook: retries, messages, the worker process
# ---------------------------------------------------------------------------
def _fake_subprocess_runs(monkeypatch, *results):
    calls, queue = [], list(results)

    def fake(path, out, params, kernel, timeout, env, cell_timeout=None):
        calls.append((path, out, params, kernel, timeout, env, cell_timeout))
        return queue.pop(0)

    monkeypatch.setattr(runner, "_run_in_subprocess", fake)
    return calls


def _result(status="ok", seconds=1.5, cell=None, error_type="", error=""):
    return runner.NotebookResult("80_x", status, seconds, cell, None if cell is None else cell + 1, error_type, error)


@pytest.mark.parametrize("first, line", [
    (_result(), "[     ok] 80_x (1.5 s)"),
    (_result("failed", 2.0, 5, "ValueError", "boom"), "[ failed] 80_x (2.0 s) at cell 5: ValueError: boom"),
    (_result("failed", 2.0, None, "RunnerError", "worker exited"), "[ failed] 80_x (2.0 s): RunnerError: worker exited"),
    (_result("timeout", 9.0, 3, "TimeoutError", "late"), "[timeout] 80_x (9.0 s) at cell 3: TimeoutError: late"),
])
def test_run_with_retry_prints_start_and_result(tmp_path, monkeypatch, capsys, first, line):
    calls = _fake_subprocess_runs(monkeypatch, first)
    path = tmp_path / "80_x.ipynb"
    got = runner._run_with_retry(path, tmp_path, {"A": 1}, kernel="k", timeout=5, env={"E": "1"}, cell_timeout=2,
                                 echo=True)
    assert got is first and calls == [(path, tmp_path, {"A": 1}, "k", 5, {"E": "1"}, 2)]
    assert capsys.readouterr().out == f"[start] 80_x\n{line}\n"


def test_a_cell_timeout_is_retried_once(tmp_path, monkeypatch, capsys):
    late = _result("failed", 3.0, 4, "CellTimeoutError", "cell timed out")
    calls = _fake_subprocess_runs(monkeypatch, late, _result("failed", 3.0, 4, "CellTimeoutError", "again"))
    got = runner._run_with_retry(tmp_path / "80_x.ipynb", tmp_path, {}, kernel="k", timeout=5, env={},
                                 cell_timeout=60, echo=True)
    assert len(calls) == 2 and calls[0] == calls[1] and calls[1][4] == 5  # the same run, notebook limit included
    assert (got.status, got.error) == ("failed", "again (after one retry)")
    assert capsys.readouterr().out == ("[start] 80_x\n[  retry] 80_x: cell 4 ran past 60 s; running it again\n"
                                       "[ failed] 80_x (3.0 s) at cell 4: CellTimeoutError: again (after one retry)\n")
    _fake_subprocess_runs(monkeypatch, late, _result())
    got = runner._run_with_retry(tmp_path / "80_x.ipynb", tmp_path, {}, kernel="k", timeout=None, env={},
                                 cell_timeout=1.5, echo=False)
    assert (got.status, got.error) == ("ok", "")  # the second run passed: nothing to add
    assert capsys.readouterr().out == ""
    calls = _fake_subprocess_runs(monkeypatch, _result("failed", 1.0, 2, "ValueError", "x"))
    runner._run_with_retry(tmp_path / "80_x.ipynb", tmp_path, {}, kernel="k", timeout=None, env={},
                           cell_timeout=1, echo=False)
    assert len(calls) == 1  # any other failure is not retried


def _fake_python(tmp_path, body):
    """A stand-in for sys.executable: a shell script run as `python -m course_utils.tools.runner SPEC RESULT`."""
    fake = tmp_path / "fake_python"
    fake.write_text("#!/bin/sh\n" + body)
    os.chmod(fake, 0o755)
    return fake


def test_worker_is_started_with_the_spec_and_its_result_is_read(tmp_path, monkeypatch):
    result = {"status": "failed", "cell": 4, "cell_index": 5, "error_type": "KeyError", "error": "'x'", "seconds": 1}
    (tmp_path / "canned.json").write_text(json.dumps(result))
    body = (f'printf "%s\\n" "$@" > {tmp_path}/argv; cp "$3" {tmp_path}/spec.json; echo "$MY_FLAG" > {tmp_path}/flag\n'
            f'cp {tmp_path}/canned.json "$4"\n')
    monkeypatch.setattr(sys, "executable", str(_fake_python(tmp_path, body)))
    nb = tmp_path / "nbs" / "81_w.ipynb"
    got = runner._run_in_subprocess(nb, tmp_path / "o", {"EPOCHS": 2}, "python3", 60, {"MY_FLAG": "on"}, 7)
    assert got.seconds >= 0
    assert got == runner.NotebookResult("81_w", "failed", got.seconds, 4, 5, "KeyError", "'x'",
                                        str(tmp_path / "o" / "81_w.ipynb"))
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[:2] == ["-c", runner._WORKER_START] and argv[2].endswith("spec.json")
    assert argv[3].endswith("result.json") and len(argv) == 4
    assert json.loads((tmp_path / "spec.json").read_text()) == {
        "input": str(nb), "output": str(tmp_path / "o" / "81_w.ipynb"), "cwd": str(tmp_path / "nbs"),
        "parameters": {"EPOCHS": 2}, "kernel": "python3", "cell_timeout": 7}
    assert (tmp_path / "flag").read_text() == "on\n"  # the environment given, not the test's


def test_a_worker_past_the_time_limit_is_stopped_with_its_children(tmp_path, monkeypatch):
    _saved_copy(tmp_path / "canned.ipynb", ["completed", "completed", "running"], [None, 1, 2])
    body = (f'cp {tmp_path}/canned.ipynb {tmp_path}/out/82_slow.ipynb\n'
            f'(sleep 30; echo done > {tmp_path}/finished) &\necho $! > {tmp_path}/child\nwait\n')
    (tmp_path / "out").mkdir()
    monkeypatch.setattr(sys, "executable", str(_fake_python(tmp_path, body)))
    clock = iter([100.0, 101.23456])
    monkeypatch.setattr(runner, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    got = runner._run_in_subprocess(tmp_path / "82_slow.ipynb", tmp_path / "out", {}, "python3", 1, dict(os.environ))
    assert not (tmp_path / "finished").exists()  # the 30 s child was stopped, not waited for (no clock involved)
    assert got == runner.NotebookResult("82_slow", "timeout", 1.23, 2, 2, "TimeoutError",
                                        "notebook exceeded the 1 s limit (--timeout)",
                                        str(tmp_path / "out" / "82_slow.ipynb"))  # the cell that was running
    child = int((tmp_path / "child").read_text())
    for _ in range(50):  # the kill is asynchronous: wait until the child is gone (or a zombie)
        try:
            state = Path(f"/proc/{child}/stat").read_text().split()[2]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the worker's child survived the time limit")


def test_a_silent_worker_without_result(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(_fake_python(tmp_path, "exit 4\n")))
    clock = iter([100.0, 101.23456])
    monkeypatch.setattr(runner, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    got = runner._run_in_subprocess(tmp_path / "83_q.ipynb", tmp_path, {}, "python3", None, dict(os.environ))
    assert got == runner.NotebookResult("83_q", "failed", 1.23, None, None, "RunnerError",
                                        "worker exited with code 4: ", str(tmp_path / "83_q.ipynb"))


def test_a_crashed_worker_reports_its_last_line_from_stdout_or_stderr(tmp_path, monkeypatch):
    body = "echo one\necho two\nprintf 'Fatal \\377 error\\n' >&2\nexit 5\n"  # \377: not UTF-8
    monkeypatch.setattr(sys, "executable", str(_fake_python(tmp_path, body)))
    got = runner._run_in_subprocess(tmp_path / "84_c.ipynb", tmp_path, {}, "python3", None, dict(os.environ))
    assert got.error == "worker exited with code 5: Fatal \ufffd error"  # the undecodable byte replaced


def test_kill_tree_of_a_finished_process_is_quiet():
    import subprocess

    proc = subprocess.Popen(["true"], start_new_session=True)
    proc.wait()
    runner._kill_tree(proc)  # no ProcessLookupError


# ---------------------------------------------------------------------------
# execute_one with papermill replaced; the saved copy's cell marks
# ---------------------------------------------------------------------------
def _saved_copy(path, statuses, counts):
    cells = [{"cell_type": "code", "execution_count": c, "metadata": {"papermill": {"status": s}} if s else {},
              "source": "", "outputs": []} for s, c in zip(statuses, counts)]
    path.write_text(json.dumps({"cells": cells}), encoding="utf-8")
    return path


def test_failing_cell_and_cells_started_read_the_saved_copy(tmp_path):
    nb = _saved_copy(tmp_path / "a.ipynb", ["completed", "completed", "failed", "pending"], [1, 2, 3, None])
    assert runner._failing_cell(nb) == (3, 2) and runner._cells_started(nb)
    nb = _saved_copy(tmp_path / "b.ipynb", ["completed", "running", "failed"], [1, 2, None])
    assert runner._failing_cell(nb) == (2, 1)  # the first marked cell
    nb = _saved_copy(tmp_path / "c.ipynb", ["completed", None], [None, None])
    assert runner._failing_cell(nb) == (None, None) and not runner._cells_started(nb)
    bare = tmp_path / "f.ipynb"  # a cell without metadata (nbformat allows it) before the failed one
    bare.write_text(json.dumps({"cells": [{"cell_type": "code", "execution_count": 1},
                                          {"execution_count": 2, "metadata": {"papermill": {"status": "failed"}}}]}))
    assert runner._failing_cell(bare) == (2, 1)
    bad = tmp_path / "d.ipynb"
    bad.write_text("{not json")
    missing = tmp_path / "none.ipynb"
    empty = tmp_path / "e.ipynb"
    empty.write_text("{}")  # papermill had not written a cell yet
    for path in (bad, missing, empty):
        assert runner._failing_cell(path) == (None, None) and not runner._cells_started(path)


@pytest.fixture
def ascii_locale():
    """The C locale's ASCII as the default text encoding (as cp949 or cp1252 is on Windows): UTF-8 only if asked for."""
    import locale

    old = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "C")
    except locale.Error:
        pytest.skip("no C locale")
    probe = Path(__file__)
    with probe.open() as f:
        default = f.encoding
    if default.replace("-", "").lower() == "utf8":  # UTF-8 mode, or a platform whose C locale is UTF-8
        locale.setlocale(locale.LC_CTYPE, old)
        pytest.skip("the default text encoding stays UTF-8 here")
    yield
    locale.setlocale(locale.LC_CTYPE, old)


def test_a_saved_copy_with_korean_text_is_read_as_utf8_in_any_locale(tmp_path, ascii_locale):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    cells = [new_code_cell("print('데이터 준비')  # Korean, as in the course notebooks", execution_count=1,
                           metadata={"papermill": {"status": "completed"}}),
             new_code_cell("1/0", execution_count=2, metadata={"papermill": {"status": "failed"}})]
    saved = tmp_path / "k.ipynb"
    nbformat.write(new_notebook(cells=cells), saved)  # UTF-8 bytes, not \u escapes (as papermill saves it)
    assert "데이터".encode("utf-8") in saved.read_bytes()
    assert runner._failing_cell(saved) == (2, 1)  # the second cell (index 1), In [2]
    assert runner._cells_started(saved)  # a cell ran: the kernel is not started again

def _spec(tmp_path, **extra):
    return {"input": str(tmp_path / "in.ipynb"), "output": str(tmp_path / "out.ipynb"), "cwd": str(tmp_path),
            "parameters": {"EPOCHS": 2}, "kernel": "python3", **extra}


def test_execute_one_passes_the_spec_to_papermill(tmp_path, monkeypatch):
    import papermill

    seen = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: seen.append((a, k)))
    result = runner.execute_one(_spec(tmp_path, cell_timeout=7))
    assert result == {"status": "ok", "cell": None, "cell_index": None, "error_type": "", "error": "",
                      "seconds": result["seconds"]} and 0 <= result["seconds"] < 60
    assert seen == [((str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb")), {
        "parameters": {"EPOCHS": 2}, "kernel_name": "python3", "execution_timeout": 7, "cwd": str(tmp_path),
        "progress_bar": False, "log_output": False, "request_save_on_cell_execute": True, "engine_name": "course_utils"})]
    seen.clear()
    runner.execute_one(_spec(tmp_path))
    assert seen[0][1]["execution_timeout"] is None  # no cell limit given: none


def test_the_runners_engine_runs_nbclient_without_the_output_widget_imitation(monkeypatch):
    """The engine named by execute_one is registered with papermill and builds a client that imitates no widget
    model (nbclient's own client imitates the Output widget, whose shell-channel sends race with the wait for
    the cell's reply); papermill's arguments reach the client under nbclient's names."""
    from nbclient import NotebookClient
    from papermill.engines import papermill_engines

    from course_utils.tools import papermill_engine

    engine = papermill_engines.get_engine(papermill_engine.ENGINE_NAME)
    assert "OutputModel" in NotebookClient(nbformat.v4.new_notebook()).widget_registry["@jupyter-widgets/output"]
    built = {}
    monkeypatch.setattr(papermill_engine.KitNotebookClient, "execute",
                        lambda self: built.update(client=self) or "executed")
    nb_man = SimpleNamespace(nb=nbformat.v4.new_notebook())
    assert engine.execute_managed_notebook(nb_man, "python3", execution_timeout=7, start_timeout=9,
                                           input_path="in.ipynb", timeout=3, allow_errors=True) == "executed"
    client = built["client"]
    assert client.widget_registry == {} and client.kernel_name == "python3" and client.allow_errors is True
    assert client.shutdown_kernel == "immediate"                 # nbclient's default is "graceful"
    assert NotebookClient(nbformat.v4.new_notebook()).shutdown_kernel == "graceful"
    assert (client.timeout, client.startup_timeout) == (7, 9)   # the cell limit wins over papermill's timeout
    engine.execute_managed_notebook(nb_man, "python3", timeout=3)
    assert built["client"].timeout == 3                          # no cell limit: papermill's own timeout
    engine.execute_managed_notebook(nb_man, "python3", shutdown_kernel="graceful")
    assert built["client"].shutdown_kernel == "graceful"         # asked for: kept


def test_the_runners_engine_hands_papermills_logging_files_and_kernel_manager_to_the_client(monkeypatch):
    import io
    import logging
    import warnings

    from jupyter_client.manager import KernelManager
    from papermill.engines import papermill_engines

    from course_utils.tools import papermill_engine

    engine = papermill_engines.get_engine(papermill_engine.ENGINE_NAME)
    built = {}
    monkeypatch.setattr(papermill_engine.KitNotebookClient, "execute", lambda self: built.update(client=self))
    nb_man = SimpleNamespace(nb=nbformat.v4.new_notebook())
    engine.execute_managed_notebook(nb_man, "python3")
    client = built["client"]                                     # papermill's defaults
    assert (client.log_output, client.stdout_file, client.stderr_file, client.startup_timeout) == (False, None, None, 60)
    assert client.log is logging.getLogger("papermill") and client.km is None
    km, out, err = KernelManager(kernel_name="python3"), io.StringIO(), io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                           # an argument nbclient does not know would warn
        engine.execute_managed_notebook(nb_man, "python3", log_output=True, stdout_file=out, stderr_file=err, km=km,
                                        start_timeout=9, startup_timeout=99, input_path="in.ipynb")
    client = built["client"]
    assert client.log_output is True and client.stdout_file is out and client.stderr_file is err and client.km is km
    assert client.startup_timeout == 9                           # papermill's start_timeout, not its other name


def test_execute_one_reports_a_failing_cell(tmp_path, monkeypatch):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    def fails(*args, **kwargs):
        _saved_copy(tmp_path / "out.ipynb", ["completed", "completed", "completed", "failed"], [None, 1, 2, 3])
        raise PapermillExecutionError(2, 3, "1/0", "ZeroDivisionError", "division\n   by zero" + " x" * 300, [])

    monkeypatch.setattr(papermill, "execute_notebook", fails)
    result = runner.execute_one(_spec(tmp_path))
    assert {k: v for k, v in result.items() if k != "seconds"} == {
        "status": "failed", "cell": 3, "cell_index": 3, "error_type": "ZeroDivisionError",
        "error": ("division by zero" + " x" * 300)[:500]}  # whitespace collapsed, cut at 500 characters

    def fails_unsaved(*args, **kwargs):
        raise PapermillExecutionError(2, 3, "1/0", "ZeroDivisionError", "division by zero", [])

    (tmp_path / "out.ipynb").unlink()
    monkeypatch.setattr(papermill, "execute_notebook", fails_unsaved)
    result = runner.execute_one(_spec(tmp_path))
    assert (result["cell"], result["cell_index"]) == (3, 2)  # no saved copy: papermill's own index


def test_execute_one_does_not_restart_a_kernel_that_ran_cells(tmp_path, monkeypatch):
    import papermill

    calls = []

    def dies(*args, **kwargs):
        calls.append(1)
        _saved_copy(tmp_path / "out.ipynb", ["completed", "running"], [1, 2])
        raise RuntimeError("Kernel died\n  while running" + " x" * 300)

    monkeypatch.setattr(papermill, "execute_notebook", dies)
    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    result = runner.execute_one(_spec(tmp_path))
    assert len(calls) == 1
    assert {k: v for k, v in result.items() if k != "seconds"} == {
        "status": "failed", "cell": 2, "cell_index": 1, "error_type": "RuntimeError",
        "error": ("Kernel died while running" + " x" * 300)[:500]}


def test_execute_one_restarts_a_kernel_that_died_at_start(tmp_path, monkeypatch):
    import papermill

    calls, sleeps = [], []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    monkeypatch.setattr(runner.time, "sleep", sleeps.append)
    assert runner.execute_one(_spec(tmp_path))["status"] == "ok"
    assert len(calls) == 3 and sleeps == [1.0, 2.0]  # 1 s, then 2 s between the three attempts


def test_worker_writes_the_result_of_its_spec(tmp_path, monkeypatch):
    spec_file, result_file = tmp_path / "spec.json", tmp_path / "result.json"
    spec_file.write_text(json.dumps(_spec(tmp_path)), encoding="utf-8")
    seen = []
    monkeypatch.setattr(runner, "execute_one", lambda spec: seen.append(spec) or {"status": "ok", "seconds": 0.5})
    assert runner._worker([str(spec_file), str(result_file)]) == 0
    assert seen == [_spec(tmp_path)]
    assert json.loads(result_file.read_text(encoding="utf-8")) == {"status": "ok", "seconds": 0.5}


def test_the_worker_starts_without_the_grammar_no_notebook_needs(tmp_path):
    """The real worker start, run on a notebook that does not exist: it imports papermill (and so nbformat and
    jsonschema) but not rfc3987_syntax's grammar (about 1 s of every worker's start), and still writes its result."""
    import subprocess

    spec = dict(_spec(tmp_path), input=str(tmp_path / "missing.ipynb"))
    spec_file, result_file = tmp_path / "spec.json", tmp_path / "result.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", runner._WORKER_START, str(spec_file),
                           str(result_file)], capture_output=True, text=True, timeout=120)
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert done.returncode == 0, done.stderr[-2000:]
    # (importtime lists the refused import of rfc3987_syntax itself, in microseconds; its grammar module is the 1 s)
    assert {"papermill", "jsonschema", "nbformat"} <= imported and "rfc3987_syntax.syntax_helpers" not in imported
    result = json.loads(result_file.read_text(encoding="utf-8"))
    assert result["status"] == "failed" and "missing.ipynb" in result["error"]


# ---------------------------------------------------------------------------
# Summaries and the command line
# ---------------------------------------------------------------------------
RESULTS = [runner.NotebookResult("01_a", "ok", 1.25, output="o/01_a.ipynb"),
           runner.NotebookResult("02_longer_name", "failed", 2.5, 5, 6, "KeyError", "'x'", "o/02.ipynb"),
           runner.NotebookResult("03_c", "timeout", 10.0, None, None, "TimeoutError", "late")]


def test_format_summary_text():
    assert runner.format_summary(RESULTS, 12.34).splitlines() == [
        "notebook        status    seconds  error",
        "01_a            ok            1.2  ",  # 1.25 rounds half to even
        "02_longer_name  failed        2.5  cell 5: KeyError: 'x'",
        "03_c            timeout      10.0  cell ?: TimeoutError: late",
        "1/3 notebooks ok, 13.8 s of notebook time, 12.3 s wall",  # 1.25 + 2.5 + 10.0 = 13.75
    ]
    short = runner.format_summary([runner.NotebookResult("a", "ok", 1.0)])
    assert short.splitlines() == ["notebook  status    seconds  error", "a         ok            1.0  ",
                                  "1/1 notebooks ok, 1.0 s of notebook time"]  # names under 8: width 8


def test_summary_files(tmp_path):
    runner.write_summary(RESULTS, tmp_path)
    assert (tmp_path / "summary.csv").read_text(encoding="utf-8").splitlines() == [
        "notebook,status,seconds,cell,cell_index,error_type,error,output",
        "01_a,ok,1.25,,,,,o/01_a.ipynb",
        "02_longer_name,failed,2.5,5.0,6.0,KeyError,'x',o/02.ipynb",
        "03_c,timeout,10.0,,,TimeoutError,late,",
    ]
    text = (tmp_path / "summary.json").read_text(encoding="utf-8")
    assert text.splitlines()[:3] == ["[", "  {", '    "notebook": "01_a",']  # indented for people to read
    assert json.loads(text)[1] == {
        "notebook": "02_longer_name", "status": "failed", "seconds": 2.5, "cell": 5, "cell_index": 6,
        "error_type": "KeyError", "error": "'x'", "output": "o/02.ipynb"}
    assert list(runner.summary_table([]).columns) == ["notebook", "status", "seconds", "cell", "cell_index",
                                                      "error_type", "error", "output"]


def test_run_arguments_and_their_defaults():
    parser = cli.build_parser()
    args = parser.parse_args(["run"])
    assert (args.notebooks, args.smoke, args.device, args.data_source, args.data_path, args.seed, args.parameter,
            args.output_dir, args.jobs, args.timeout, args.kernel, args.solutions, args.dry_run) == (
        [], True, "auto", "synthetic", None, None, [], None, 1, None, "python3", True, False)
    args = parser.parse_args(["run", "03", "5", "--full", "--device", "cuda:1", "--data-source", "deeppcb",
                              "--data-path", "d", "--seed", "3", "-p", "A=1", "--parameter", "B=2", "-o", "out",
                              "-j", "2", "--timeout", "1.5", "--kernel", "k", "--no-solutions", "--dry-run"])
    assert (args.notebooks, args.smoke, args.device, args.data_source, args.data_path, args.seed, args.parameter,
            args.output_dir, args.jobs, args.timeout, args.kernel, args.solutions, args.dry_run) == (
        ["03", "5"], False, "cuda:1", "deeppcb", "d", 3, ["A=1", "B=2"], "out", 2, 1.5, "k", False, True)
    assert parser.parse_args(["run", "--smoke"]).smoke is True
    assert sorted(vars(args)) == sorted(["command", "notebooks", "smoke", "device", "data_source", "data_path", "seed",
                                         "parameter", "output_dir", "jobs", "timeout", "kernel", "solutions",
                                         "dry_run"])  # what main_run reads, nothing else
    for bad in (["--full", "--smoke"], ["--data-source", "kaggle"]):  # exclusive; not a source
        with pytest.raises(SystemExit):
            parser.parse_args(["run", *bad])


def test_main_run_exit_codes_and_output(tmp_path, monkeypatch, capsys):
    seen = []

    def fake_run(notebooks, **kwargs):
        seen.append((notebooks, kwargs))
        return RESULTS[:1], tmp_path

    monkeypatch.setattr(runner, "run_notebooks", fake_run)
    args = cli.build_parser().parse_args(["run", "01", "-p", "EPOCHS=2", "--seed", "4", "-j", "2", "--full",
                                          "--data-path", "d.pkl"])
    clock = iter([50.0, 52.5])
    monkeypatch.setattr(runner, "time", SimpleNamespace(perf_counter=lambda: next(clock)))  # the runner's clock only
    assert runner.main_run(args) == 0
    monkeypatch.setattr(runner, "time", time)
    assert seen == [(["01"], dict(smoke=False, device="auto", data_source="synthetic", data_path="d.pkl", seed=4,
                                  extra={"EPOCHS": 2}, output_dir=None, jobs=2, timeout=None, kernel="python3",
                                  solutions=True, dry_run=False))]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "" and out[1].startswith("notebook")
    assert out[3] == "1/1 notebooks ok, 1.2 s of notebook time, 2.5 s wall"  # 52.5 - 50.0 on the clock
    assert out[-1] == f"executed notebooks and summary.csv/json in {tmp_path}"
    monkeypatch.setattr(runner, "run_notebooks", lambda *a, **k: (RESULTS, tmp_path))
    assert runner.main_run(args) == 1  # one failed
    capsys.readouterr()
    monkeypatch.setattr(runner, "run_notebooks", lambda *a, **k: ([], tmp_path))
    assert runner.main_run(cli.build_parser().parse_args(["run", "--dry-run"])) == 0
    assert capsys.readouterr().out == ""  # a dry run prints only its own lines

    def missing(*args, **kwargs):
        raise FileNotFoundError("no notebooks here")

    monkeypatch.setattr(runner, "run_notebooks", missing)
    assert runner.main_run(args) == 2
    assert capsys.readouterr().err == "error: no notebooks here\n"
    assert runner.main_run(cli.build_parser().parse_args(["run", "-p", "1X=2"])) == 2
    assert capsys.readouterr().err == "error: parameter name '1X' is not a valid Python identifier\n"


def test_execute_one_times_the_run_to_the_hundredth(tmp_path, monkeypatch):
    import papermill

    clock = iter([100.0, 101.23456])
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: None)
    monkeypatch.setattr(runner, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    assert runner.execute_one(_spec(tmp_path))["seconds"] == 1.23  # 101.23456 - 100.0, rounded to 2 decimals


def test_progress_lines_are_flushed_as_they_are_printed(tmp_path, monkeypatch):
    """The [start] / [retry] / result lines reach a log file or CI pipe when they happen, not at exit."""
    events = []

    class Recorder:
        def write(self, text):
            events.append(("write", text))

        def flush(self):
            events.append(("flush", None))

    late = _result("failed", 3.0, 4, "CellTimeoutError", "late")
    _fake_subprocess_runs(monkeypatch, late, _result())
    monkeypatch.setattr(sys, "stdout", Recorder())
    runner._run_with_retry(tmp_path / "80_x.ipynb", tmp_path, {}, kernel="k", timeout=None, env={},
                           cell_timeout=60, echo=True)
    monkeypatch.undo()
    lines = [i for i, (kind, text) in enumerate(events) if kind == "write" and text.endswith("\n")]
    assert len(lines) == 3 and all(events[i + 1][0] == "flush" for i in lines)


def test_notebooks_run_in_parallel_only_with_jobs(two_notebooks, tmp_path, monkeypatch):
    import threading

    running, most, threads = [0], [0], []
    lock = threading.Lock()

    def fake(path, out, params, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            threads.append(threading.current_thread() is threading.main_thread())
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return runner.NotebookResult(path.stem, "ok", 0.1)

    monkeypatch.setattr(runner, "_run_with_retry", fake)
    third = write_notebook(tmp_path / "72_nb2.ipynb", "x = 1", params=PARAMS)
    names = [str(p) for p in [*two_notebooks, third]]
    runner.run_notebooks(names, output_dir=tmp_path / "o", echo=False)  # default: one at a time, here
    assert threads == [True] * 3 and most[0] == 1
    threads.clear()
    results, _ = runner.run_notebooks(names, output_dir=tmp_path / "o", jobs=2, echo=False)
    assert threads == [False] * 3 and most[0] <= 2  # in worker threads, never more than 2 at once
    assert [r.notebook for r in results] == ["70_nb0", "71_nb1", "72_nb2"]  # in the order given
    threads.clear()
    runner.run_notebooks(names[:1], output_dir=tmp_path / "o", jobs=2, echo=False)
    assert threads == [True]  # one notebook: no pool


def test_without_names_all_notebooks_then_solutions_run(tmp_path, monkeypatch, capsys):
    everything = runner.resolve_notebooks(None)
    course = runner.resolve_notebooks(None, solutions=False)
    assert [p for p in everything if "_solutions" not in p.stem] == course and len(everything) > len(course)
    runner.run_notebooks(None, output_dir=tmp_path / "a" / "b", dry_run=True)
    assert len(capsys.readouterr().out.splitlines()) == len(everything)
    runner.run_notebooks(None, output_dir=tmp_path / "a" / "b", dry_run=True, solutions=False)
    assert len(capsys.readouterr().out.splitlines()) == len(course)


def test_the_output_folder_is_created_with_its_parents(two_notebooks, tmp_path, monkeypatch):
    _record_runs(monkeypatch)
    _, out = runner.run_notebooks([str(two_notebooks[0])], output_dir=tmp_path / "a" / "b", echo=False)
    assert out.is_dir() and (out / "summary.csv").is_file()


def test_every_run_option_is_explained_in_the_help():
    import argparse

    parser = argparse.ArgumentParser()
    runner.add_run_arguments(parser)
    for action in parser._actions:
        assert action.help, action.dest
    text = parser.format_help()
    assert "-p NAME=VALUE" in text  # the form parse_parameter asks for
    assert f"default: {runner._SMOKE_TIMEOUT_S} for smoke" in text
