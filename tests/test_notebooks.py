"""Every course notebook: hygiene rules, and a papermill smoke run with the instructor runner, offline."""
import os
from pathlib import Path

import pytest

from course_utils.tools import nbtools, runner
from offline import dead_proxy_env

ROOT = Path(__file__).resolve().parents[1]
COURSE = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOKS = COURSE + sorted((ROOT / "solutions").glob("[0-9][0-9]_*_solutions.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].stem == "00_setup_cuda"


def test_every_solution_belongs_to_a_course_notebook():
    stems = {p.stem for p in COURSE}
    for path in NOTEBOOKS[len(COURSE):]:
        assert path.stem.removesuffix("_solutions") in stems, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_hygiene(path):
    assert nbtools.check_notebook(path) == []


def test_check_catches_problems(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    nb = new_notebook(cells=[new_markdown_cell("# x"), new_code_cell("A = 1")])
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    nb.cells[1].execution_count = 1
    path = tmp_path / "bad name.ipynb"
    nbformat.write(nb, path)
    problems = "\n".join(nbtools.check_notebook(path))
    bad = nbformat.v4.new_notebook(cells=[new_markdown_cell("# x"), new_code_cell(
        "SMOKE = True\nEPOCHS = 2 if SMOKE else 30", metadata={"tags": ["parameters"]})])
    nbformat.write(bad, tmp_path / "02_derived.ipynb")
    assert any("derives EPOCHS from SMOKE" in m for m in nbtools.check_notebook(tmp_path / "02_derived.ipynb"))
    for fragment in ["NN_lower_snake_case", "tagged 'parameters'", "Colab bootstrap cell", "Colab badge",
                     "학습 목표", "요약", "Korean", "outputs committed"]:
        assert fragment in problems


def test_fix_strips_outputs_and_resyncs_bootstrap(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    old_badge = nbtools.colab_badge("01_x.ipynb", repo_url="https://github.com/old/repo")
    nb = new_notebook(cells=[new_markdown_cell(f"# t\n{old_badge}"),
                             new_code_cell("SMOKE = True", metadata={"tags": ["parameters"]}),
                             new_code_cell(nbtools.bootstrap_cell_source("https://github.com/old/repo"))])
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    nb.cells[1].execution_count = 3
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    assert nbtools.fix_notebook(path) is True
    fixed = nbformat.read(path, as_version=4)
    assert fixed.cells[1].outputs == [] and fixed.cells[1].execution_count is None
    assert fixed.cells[3].source == nbtools.bootstrap_cell_source()  # after the inserted note
    assert nbtools.colab_badge("01_x.ipynb") in fixed.cells[0].source
    assert nbtools.fix_notebook(path) is False  # idempotent


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    # every notebook must run without the internet, as on an offline laptop: the kernels inherit proxies that
    # point at a closed local port
    out = tmp_path_factory.mktemp("smoke")
    offline = dead_proxy_env(os.environ, tmp_path_factory.mktemp("ultralytics_config"))
    with pytest.MonkeyPatch.context() as mp:
        for key in set(os.environ) - set(offline):
            mp.delenv(key)
        for key, value in offline.items():
            mp.setenv(key, value)
        results, folder = runner.run_notebooks(None, smoke=True, output_dir=out, jobs=2, echo=True)
    print("\n" + runner.format_summary(results))
    return {r.notebook: r for r in results}


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_with_smoke_parameters(path, smoke_results):
    result = smoke_results[path.stem]
    assert result.status == "ok", f"{path.name} failed at cell {result.cell}: {result.error_type}: {result.error}"


def _printed_text(executed_path) -> str:
    import json

    nb = json.loads(Path(executed_path).read_text(encoding="utf-8"))
    return "".join("".join(out.get("text", "")) for cell in nb["cells"] if cell["cell_type"] == "code"
                   for out in cell.get("outputs", []))


@pytest.mark.notebooks
def test_wafer_browser_prints_plain_numbers_and_stays_in_the_class(smoke_results):
    import re

    text = _printed_text(smoke_results["01_dataset_exploration"].output)
    line = re.search(r"Donut #(\d+) of (\d+): lot \S+, wafer (\d+), grid (\d+)x(\d+)", text)
    assert line, "the wafer browser prints 'Donut #i of n: lot ..., grid HxW'"
    assert int(line.group(1)) < int(line.group(2))
    assert "np.int" not in text and "np.float" not in text


# Answers whose honest result needs a longer run than the smoke test: each records the instructor's
# reference numbers ("강사용 기준 결과 (Reference results)") with the settings, the date and the machine.
REFERENCE_ANSWERS = {
    "02_augmentation_solutions": ["문제 6"],
    "03_cnn_design_solutions": ["문제 3", "문제 4"],
    "04_training_hyperparameters_solutions": ["문제 5"],
    "05_transfer_learning_solutions": ["문제 1", "문제 3", "문제 4", "문제 5"],
    "06_loss_comparison_solutions": ["문제 1", "문제 3", "문제 4", "문제 5"],
    "13_pcb_detection_data_solutions": ["연습 5."],
    "14_classical_detection_solutions": ["연습 1."],
    "20_cnn_regression_solutions": ["연습 1.", "연습 2.", "연습 3.", "연습 4."],
}


def _answer_markdown(path, heading: str) -> str:
    """The Markdown of the section whose '## ' heading starts with ``heading``, up to the next '## ' heading."""
    import json

    section, inside = [], False
    for cell in json.loads(Path(path).read_text(encoding="utf-8"))["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and text.startswith("## "):
            inside = text[3:].startswith(heading)
        if inside and cell["cell_type"] == "markdown":
            section.append(text)
    assert section, f"{Path(path).name} has no section '## {heading}'"
    return "\n".join(section)


@pytest.mark.parametrize("stem", sorted(REFERENCE_ANSWERS))
def test_long_run_answers_record_reference_results(stem):
    import re

    for heading in REFERENCE_ANSWERS[stem]:
        answer = _answer_markdown(ROOT / "solutions" / f"{stem}.ipynb", heading)
        where = f"{stem}, {heading}"
        assert "강사용 기준 결과 (Reference results)" in answer, f"{where}: no reference results"
        assert re.search(r"\d{4}-\d{2}-\d{2} 측정", answer), f"{where}: the reference results carry no date"
        assert re.search(r"[CG]PU", answer), f"{where}: the reference results do not name the machine"
        assert len(re.findall(r"\d\.\d{2,}", answer)) >= 3, f"{where}: the reference results carry no measured numbers"


def test_optuna_answer_reports_its_importances():
    """Solution 04, exercise 5: the numbers behind the answer, not "run it yourself with SMOKE = False"."""
    import re

    answer = _answer_markdown(ROOT / "solutions" / "04_training_hyperparameters_solutions.ipynb", "문제 5")
    _, marker, block = answer.partition("강사용 기준 결과 (Reference results)")
    assert marker, "solution 04, exercise 5 records no reference results"
    for setting in ("N_SAMPLES", "N_TRIALS", "TRIAL_EPOCHS"):
        assert re.search(rf"{setting}\W+\d", block), f"the reference results do not state {setting}"
    for param in ("lr", "dropout", "weight_decay"):
        assert re.search(rf"`{param}`[^\n]*?\d\.\d{{2,}}", block), f"no importance of {param} in the reference results"
    assert re.search(r"macro-F1[^\n]*?\d\.\d{2,}[^\n]*?\d\.\d{2,}", block), "no range of macro-F1 over the trials"


def test_schedule_maps_every_notebook_to_a_week():
    schedule = (ROOT / "schedule.md").read_text(encoding="utf-8")
    rows = [line for line in schedule.splitlines() if line.startswith("| ") and line[2:4].strip().isdigit()]
    assert [int(r.split("|")[1]) for r in rows] == list(range(1, 16))
    assert all(r.split("|")[3].strip() not in ("", "—", "-") for r in rows)
    for path in COURSE:
        assert f"notebooks/{path.name}" in schedule, f"{path.name} is in no week of schedule.md"


#: Wafer-map notebooks numbered after the detection block (13-19): 20 (CNN regression, week 4), 21 (writing up,
#: week 5), 23 (lightweighting the course CNN, week 15; its YOLOv8n part uses the twin only).
WAFER_NOTEBOOKS_AFTER_12 = {20, 21, 23}


def test_data_source_reaches_the_notebooks_that_read_it():
    """--data-source wm811k goes to every wafer notebook, deeppcb to every detection notebook (and solution)."""
    for path in NOTEBOOKS:
        number = int(path.name[:2])
        wafer, detection = nbtools.reads_data_source(path, "wm811k"), nbtools.reads_data_source(path, "deeppcb")
        if number == 11:  # a photo folder: neither real data set
            assert not wafer and not detection, path.name
        elif number >= 13 and number not in WAFER_NOTEBOOKS_AFTER_12:
            assert detection and not wafer, path.name
        else:
            assert wafer and not detection, path.name


@pytest.mark.notebooks
def test_the_yolo_training_notebook_trains_offline_and_writes_its_run_folder(smoke_results):
    pytest.importorskip("ultralytics")
    result = smoke_results["17_yolo_training"]
    assert result.status == "ok", f"failed at cell {result.cell}: {result.error_type}: {result.error}"
    assert (Path(result.output).with_suffix("") / "run" / "report.md").is_file()
