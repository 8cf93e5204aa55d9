"""The Markdown note before the Colab bootstrap cell: the same two sentences everywhere, checked and fixed."""
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils.tools import nbtools

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))


def _notebook(*middle):
    return new_notebook(cells=[new_markdown_cell("# t\n학습 목표"),
                               new_code_cell("SMOKE = True", metadata={"tags": ["parameters"]}),
                               *middle, new_code_cell(nbtools.bootstrap_cell_source()),
                               new_markdown_cell("요약 연습")])


def test_note_is_two_korean_sentences_naming_what_to_touch():
    sentences = [s for s in nbtools.BOOTSTRAP_NOTE.replace("\n", " ").split(". ") if s.strip()]
    assert len(sentences) == 2
    assert "KIT_REPO_URL" in nbtools.BOOTSTRAP_NOTE and "KIT_DRIVE_DIR" in nbtools.BOOTSTRAP_NOTE
    assert "KIT_REPO_URL" in nbtools.bootstrap_cell_source() and "KIT_DRIVE_DIR" in nbtools.bootstrap_cell_source()


@pytest.mark.parametrize("middle, expected", [((), "must be the Markdown note"),
                                              ((new_markdown_cell("다른 설명"),), "must be the Markdown note"),
                                              ((new_markdown_cell(nbtools.BOOTSTRAP_NOTE),), None)])
def test_check_requires_the_note(tmp_path, middle, expected):
    path = tmp_path / "01_x.ipynb"
    nbformat.write(_notebook(*middle), path)
    problems = [p for p in nbtools.check_notebook(path) if "bootstrap" in p]
    assert (problems == []) if expected is None else any(expected in p for p in problems)


def test_fix_inserts_the_note_once_and_resyncs_an_old_wording(tmp_path):
    path = tmp_path / "01_x.ipynb"
    nbformat.write(_notebook(), path)
    assert nbtools.fix_notebook(path) is True
    cells = nbformat.read(path, as_version=4).cells
    assert [c.cell_type for c in cells] == ["markdown", "code", "markdown", "code", "markdown"]
    assert cells[2].source == nbtools.BOOTSTRAP_NOTE and cells[3].source == nbtools.bootstrap_cell_source()
    assert nbtools.fix_notebook(path) is False  # idempotent: no second note
    nbformat.write(_notebook(new_markdown_cell("옛 설명: `KIT_REPO_URL`을 바꾸세요.")), path)
    assert nbtools.fix_notebook(path) is True
    cells = nbformat.read(path, as_version=4).cells
    assert len(cells) == 5 and cells[2].source == nbtools.BOOTSTRAP_NOTE


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_has_the_note_before_its_bootstrap_cell(path):
    cells = nbformat.read(path, as_version=4).cells
    i = next(k for k, c in enumerate(cells) if c.cell_type == "code" and c.source == nbtools.bootstrap_cell_source())
    assert cells[i - 1].cell_type == "markdown" and cells[i - 1].source == nbtools.BOOTSTRAP_NOTE
