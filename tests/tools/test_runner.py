"""The instructor runner: summaries, failures with cell and error, parameters, errors."""
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from course_utils import __main__ as cli
from nbfiles import write_notebook
from course_utils.tools import runner

PARAMS = (
    'SMOKE = True\nDEVICE = "auto"\nDATA_SOURCE = "synthetic"\nDATA_PATH = None\n'
    "OUTPUT_DIR = None\nSEED = 42\nEPOCHS = 1\n"
)
RECORD = (
    "import json, pathlib\n"
    "out = pathlib.Path(OUTPUT_DIR); out.mkdir(parents=True, exist_ok=True)\n"
    "(out / 'params.json').write_text(json.dumps(dict(SMOKE=SMOKE, DEVICE=DEVICE, DATA_SOURCE=DATA_SOURCE,\n"
    "    DATA_PATH=DATA_PATH, SEED=SEED, EPOCHS=EPOCHS, cwd=str(pathlib.Path.cwd()))))\n"
)

#: A widget that draws a figure into its Output widget, as notebooks 01, 02, 07 and 08 do.
WIDGET = (
    "import ipywidgets as widgets, matplotlib.pyplot as plt\n"
    "def draw(k=2):\n    plt.plot([0, k]); plt.show()\n"
    "display(widgets.interactive(draw, k=widgets.IntSlider(2, 1, 5)))\n"
)


def _write(path, *sources, params=PARAMS):
    return write_notebook(path, *sources, params=params)


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    """Run a good, a failing and another good notebook in parallel, once for the module."""
    src = tmp_path_factory.mktemp("nbs")
    good = _write(src / "10_good.ipynb", RECORD, "x = 1 + 1",
                  "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()")
    bad = _write(src / "11_bad.ipynb", RECORD, "y = 2", "raise ValueError('deliberate failure in cell 3')", "z = 3")
    other = _write(src / "12_other.ipynb", RECORD, WIDGET)
    out = tmp_path_factory.mktemp("out")
    results, folder = runner.run_notebooks([str(good), str(bad), str(other)], smoke=False, device="cpu",
                                           seed=3, extra={"EPOCHS": 4}, output_dir=out, jobs=2, echo=False)
    return {r.notebook: r for r in results}, folder, src


@pytest.mark.kernel
def test_failure_reported_with_cell_and_error_while_others_complete(fixture_run):
    results, _, _ = fixture_run
    assert results["10_good"].status == "ok" and results["12_other"].status == "ok"
    bad = results["11_bad"]
    assert bad.status == "failed"
    assert bad.error_type == "ValueError"
    assert "deliberate failure in cell 3" in bad.error
    # In [5]: parameters In [1], injected parameters In [2], RECORD In [3], y = 2 In [4]
    assert bad.cell == 5
    executed = nbformat.read(bad.output, as_version=4)
    assert "raise ValueError" in executed.cells[bad.cell_index].source
    assert bad.seconds > 0


@pytest.mark.kernel
def test_summary_files_and_executed_copies(fixture_run):
    results, folder, src = fixture_run
    table = json.loads((folder / "summary.json").read_text())
    assert [row["notebook"] for row in table] == ["10_good", "11_bad", "12_other"]
    csv = (folder / "summary.csv").read_text().splitlines()
    assert csv[0].startswith("notebook,status,seconds,cell")
    assert len(csv) == 4
    assert (folder / "10_good.ipynb").is_file() and (folder / "11_bad.ipynb").is_file()
    # sources untouched: no outputs written back
    nb = nbformat.read(src / "10_good.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.kernel
def test_figures_are_kept_in_executed_copies(fixture_run):
    # the test process runs with MPLBACKEND=Agg (conftest); kernels must still plot inline
    results, _, _ = fixture_run
    executed = nbformat.read(results["10_good"].output, as_version=4)
    assert any("image/png" in o.get("data", {}) for c in executed.cells for o in c.get("outputs", []))


@pytest.mark.kernel
def test_a_widgets_figure_is_an_output_of_its_cell(fixture_run):
    # the runner's engine imitates no Output widget (course_utils.tools.papermill_engine): the figure the widget
    # drew is an ordinary output of its cell, beside the widget's view
    results, _, _ = fixture_run
    executed = nbformat.read(results["12_other"].output, as_version=4)
    cell = next(c for c in executed.cells if "widgets.interactive" in c.source)
    kinds = [set(o.get("data", {})) for o in cell.outputs]
    assert any("image/png" in k for k in kinds) and any("application/vnd.jupyter.widget-view+json" in k for k in kinds)


@pytest.mark.kernel
def test_parameters_reach_the_notebook_and_cwd_is_its_folder(fixture_run):
    _, folder, src = fixture_run
    params = json.loads((folder / "10_good" / "params.json").read_text())
    assert params["SMOKE"] is False and params["DEVICE"] == "cpu" and params["SEED"] == 3
    assert params["EPOCHS"] == 4 and params["DATA_PATH"] is None
    assert params["cwd"] == str(src)


@pytest.mark.kernel
def test_timeout_is_reported_and_stops_the_notebook(tmp_path):
    nb = _write(tmp_path / "20_slow.ipynb", "import pathlib, time\ntime.sleep(60)\npathlib.Path('finished').write_text('x')")
    results, _ = runner.run_notebooks([str(nb)], output_dir=tmp_path / "o", timeout=6, echo=False)
    assert results[0].status == "timeout"
    assert results[0].error_type == "TimeoutError"
    assert not (tmp_path / "finished").exists()  # the kernel was stopped before the cell could end (no clock)


def test_format_summary_lists_failures():
    results = [runner.NotebookResult("a", "ok", 1.0), runner.NotebookResult("b", "failed", 2.0, 5, 6, "KeyError", "'x'")]
    text = runner.format_summary(results, 3.5)
    assert "b" in text and "cell 5: KeyError: 'x'" in text and "1/2 notebooks ok" in text


@pytest.mark.kernel
def test_cli_exit_code_is_1_when_a_notebook_fails(tmp_path, capsys):
    bad = _write(tmp_path / "30_bad.ipynb", "1/0")
    code = cli.main(["run", str(bad), "-o", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert code == 1
    assert "ZeroDivisionError" in out and "0/1 notebooks ok" in out


def test_unknown_notebook_is_one_clear_line(capsys):
    assert cli.main(["run", "99_nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown notebook '99_nope'; available: 00_setup_cuda")
    assert len(err.splitlines()) == 1


def test_unknown_parameter_is_rejected_before_running(tmp_path, capsys):
    nb = _write(tmp_path / "40_p.ipynb", "pass")
    assert cli.main(["run", str(nb), "-p", "EPOCHZ=3"]) == 2
    err = capsys.readouterr().err
    assert "EPOCHZ not declared by any selected notebook" in err and "EPOCHS" in err
    assert not (tmp_path / "40_p").exists()


def test_malformed_parameter(capsys):
    assert cli.main(["run", "00", "-p", "EPOCHS"]) == 2
    assert "must look like NAME=VALUE" in capsys.readouterr().err


def test_missing_kernel_names_the_fix(tmp_path, capsys):
    nb = _write(tmp_path / "50_k.ipynb", "pass")
    assert cli.main(["run", str(nb), "--kernel", "no-such-kernel"]) == 2
    err = capsys.readouterr().err
    assert "kernel 'no-such-kernel' is not installed" in err and "ipykernel install" in err


def test_bad_option_values(capsys):
    with pytest.raises(runner.RunnerError, match="--jobs must be at least 1"):
        runner.run_notebooks(["00"], jobs=0)
    with pytest.raises(runner.RunnerError, match="--device 'gpu'"):
        runner.run_notebooks(["00"], device="gpu")


def test_parse_parameter_literals():
    assert runner.parse_parameter("A=3") == ("A", 3)
    assert runner.parse_parameter("B=[1e-3, 3e-3]") == ("B", [1e-3, 3e-3])
    assert runner.parse_parameter("C=hello") == ("C", "hello")
    assert runner.parse_parameter("D=False") == ("D", False)


@pytest.mark.kernel
def test_kernel_that_dies_at_start_is_retried(tmp_path, monkeypatch):
    import papermill

    nb = _write(tmp_path / "60_flaky.ipynb", "x = 1")
    real = papermill.execute_notebook
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return real(*args, **kwargs)

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    spec = {"input": str(nb), "output": str(tmp_path / "out.ipynb"), "cwd": str(tmp_path),
            "parameters": {}, "kernel": "python3"}
    assert runner.execute_one(spec)["status"] == "ok"
    assert len(calls) == 2


@pytest.mark.kernel
def test_errors_after_cells_ran_are_not_retried(tmp_path, monkeypatch):
    import papermill

    nb = _write(tmp_path / "61_dies.ipynb", "import os\nos._exit(1)")
    calls = []
    real = papermill.execute_notebook
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    spec = {"input": str(nb), "output": str(tmp_path / "out.ipynb"), "cwd": str(tmp_path),
            "parameters": {}, "kernel": "python3"}
    result = runner.execute_one(spec)
    assert result["status"] == "failed" and len(calls) == 1


# ---------------------------------------------------------------------------
# Faults found with the real data set (each is refused before any kernel starts)
# ---------------------------------------------------------------------------
def test_output_dir_that_is_a_file_is_one_clear_line(tmp_path, capsys):
    afile = tmp_path / "results.txt"
    afile.write_text("not a folder")
    assert cli.main(["run", "00", "--output-dir", str(afile)]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "Traceback" not in err


def test_negative_timeout_is_refused(capsys):
    assert cli.main(["run", "00", "--timeout", "-5", "--dry-run"]) == 2
    assert "--timeout -5 must be a number of seconds > 0, or 0 for no limit" in capsys.readouterr().err


def test_parameter_of_the_wrong_type_is_refused_before_running(tmp_path, capsys):
    nb = _write(tmp_path / "41_t.ipynb", "pass", params=PARAMS + "BATCH = None\nNAME = 'x'\nRATE = 0.1\n")
    derive = new_code_cell("BATCH = (16 if SMOKE else 128) if BATCH is None else BATCH")
    book = nbformat.read(nb, as_version=4)
    book.cells.append(derive)
    nbformat.write(book, nb)
    for bad, fragment in [("EPOCHS=abc", "declares EPOCHS = 1 (int)"), ("BATCH=abc", "declares BATCH = 16 (int)"),
                          ("RATE=fast", "declares RATE = 0.1 (float)"), ("EPOCHS=True", "(bool) cannot work")]:
        assert cli.main(["run", str(nb), "-p", bad]) == 2
        assert fragment in capsys.readouterr().err
    assert not (tmp_path / "41_t").exists()
    assert cli.main(["run", str(nb), "-p", "RATE=1", "-p", "BATCH=8", "-p", "NAME=y", "--dry-run"]) == 0


def test_bare_number_names_the_notebook(capsys):
    assert [p.stem for p in runner.resolve_notebooks(["3"])] == ["03_cnn_design"]
    assert runner.resolve_notebooks(["3"]) == runner.resolve_notebooks(["03"])


def test_worker_command_is_not_in_the_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "_execute" not in capsys.readouterr().out


def _documented_run_commands():
    """Every `python -m course_utils run ...` line in the runner's docstring and the README."""
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    commands = []
    for text in (runner.__doc__, readme):
        for line in text.splitlines():
            match = re.search(r"python -m course_utils (run\b[^`#|]*)", line)
            if match and "--help" not in match.group(1):
                commands.append(shlex.split(match.group(1).strip()))
    return commands


def test_documented_examples_are_valid(capsys):
    commands = _documented_run_commands()
    assert len(commands) >= 5
    for argv in commands:
        argv = [a for a in argv if a != "--full"]  # --full changes nothing that is checked
        data_path = [i for i, a in enumerate(argv) if a == "--data-path"]
        for i in data_path:
            argv[i + 1] = "/tmp/not-needed-for-a-dry-run.pkl"
        assert cli.main(argv + ["--dry-run"]) == 0, (argv, capsys.readouterr().err)


@pytest.mark.kernel
def test_a_cell_past_the_cell_timeout_is_retried_once_then_reported(tmp_path, capsys):
    slow = _write(tmp_path / "42_slow.ipynb", "import time\ntime.sleep(6)")
    results, _ = runner.run_notebooks([str(slow)], output_dir=tmp_path / "o", cell_timeout=1)
    out = capsys.readouterr().out
    assert out.count("[  retry] 42_slow: cell") == 1 and "ran past 1 s" in out
    (result,) = results
    assert result.status == "failed" and result.error_type == "CellTimeoutError"
    assert result.error.endswith("(after one retry)")


# ---------------------------------------------------------------------------
# Issue 30: data source forwarding, a worker without a result, refused output folder, kernel-start attempts
# ---------------------------------------------------------------------------
def _capture_parameters(monkeypatch):
    """Replace the kernel run by a recorder of the parameters each notebook would get."""
    seen = {}

    def fake_run(path, out, params, **kwargs):
        seen[path.stem] = params
        return runner.NotebookResult(path.stem, "ok", 0.0, None, None, "", "", str(out / path.name))

    monkeypatch.setattr(runner, "_run_with_retry", fake_run)
    return seen


def test_data_source_and_path_reach_only_the_notebooks_that_read_them(tmp_path, monkeypatch):
    wafer = _write(tmp_path / "70_wafer.ipynb", params=PARAMS.replace(
        'DATA_SOURCE = "synthetic"', 'DATA_SOURCE = "synthetic"  # or "wm811k"'))
    pcb = _write(tmp_path / "71_pcb.ipynb", params=PARAMS.replace(
        'DATA_SOURCE = "synthetic"', 'DATA_SOURCE = "synthetic"  # or "deeppcb"'))
    seen = _capture_parameters(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path))
    runner.run_notebooks([str(wafer), str(pcb)], data_source="wm811k", data_path="~/data/LSWMD.pkl",
                         output_dir=tmp_path / "out", echo=False)
    assert seen["70_wafer"]["DATA_SOURCE"] == "wm811k"
    assert seen["70_wafer"]["DATA_PATH"] == str((tmp_path / "data" / "LSWMD.pkl").resolve())  # ~ expanded, absolute
    assert "DATA_SOURCE" not in seen["71_pcb"] and "DATA_PATH" not in seen["71_pcb"]  # keeps its own default
    seen.clear()
    runner.run_notebooks([str(wafer), str(pcb)], data_source="deeppcb", output_dir=tmp_path / "out", echo=False)
    assert "DATA_SOURCE" not in seen["70_wafer"] and seen["71_pcb"]["DATA_SOURCE"] == "deeppcb"
    assert "DATA_PATH" not in seen["71_pcb"]  # no --data-path: the notebook's default stays


def test_worker_that_exits_without_a_result_is_a_failure_with_its_last_line(tmp_path, monkeypatch):
    import os
    import sys

    fake = tmp_path / "fake_python"
    fake.write_text("#!/bin/sh\necho 'first line'\necho 'worker crashed: no memory'\nexit 3\n")
    os.chmod(fake, 0o755)
    nb = _write(tmp_path / "72_any.ipynb", "x = 1")
    monkeypatch.setattr(sys, "executable", str(fake))
    result = runner._run_in_subprocess(nb, tmp_path, {}, "python3", 60, dict(os.environ))
    assert (result.status, result.error_type) == ("failed", "RunnerError")
    assert result.error == "worker exited with code 3: worker crashed: no memory"


def test_output_dir_that_is_the_notebooks_folder_is_refused(capsys):
    from course_utils.core import config

    with pytest.raises(runner.RunnerError, match="must not be the notebooks folder"):
        runner.run_notebooks(["00"], output_dir=config.notebooks_dir(), dry_run=True)
    assert cli.main(["run", "00", "--output-dir", str(config.notebooks_dir()), "--dry-run"]) == 2
    assert "must not be the notebooks folder" in capsys.readouterr().err


def test_kernel_that_never_starts_fails_after_the_last_attempt(tmp_path, monkeypatch):
    import papermill

    nb = _write(tmp_path / "73_dead.ipynb", "x = 1")
    calls, sleeps = [], []

    def dead(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(papermill, "execute_notebook", dead)
    monkeypatch.setattr(runner.time, "sleep", sleeps.append)
    spec = {"input": str(nb), "output": str(tmp_path / "out.ipynb"), "cwd": str(tmp_path),
            "parameters": {}, "kernel": "python3"}
    result = runner.execute_one(spec)
    assert result["status"] == "failed" and result["error_type"] == "RuntimeError"
    assert "Kernel died" in result["error"]
    assert len(calls) == runner.KERNEL_START_ATTEMPTS >= 2
    assert sleeps == [1.0 + a for a in range(runner.KERNEL_START_ATTEMPTS - 1)]  # waits between tries, not after
