"""The glossary check: parsing glossary.md, flagging wrong variants and detached particles, clean notebooks."""
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils import glossary, nbtools

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))


def test_glossary_parses_terms_and_variants():
    terms = {t.korean: t for t in glossary.load_glossary(ROOT / "glossary.md")}
    assert terms["테스트 세트"].english == "Test set"
    assert "시험 세트" in terms["테스트 세트"].wrong
    assert "계층화" in terms["층화"].wrong and "라벨" in terms["레이블"].wrong
    assert terms["정밀도"].wrong == ()
    assert "한국어 (Korean term)" not in terms  # header rows are not terms


def test_glossary_file_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.md"):
        glossary.load_glossary(tmp_path / "missing.md")


def test_text_problems_flags_variants_and_detached_particles():
    terms = [glossary.Term("테스트 세트", "Test set", ("시험 세트",))]
    problems = glossary.text_problems("시험 세트의 85 % 가 none이고 10 %는 결함, 5 % 이상은 드뭅니다.", terms)
    assert problems == ["uses '시험 세트'; write '테스트 세트' (glossary.md)",
                        "detached particle '% 가'; write '%가'"]
    # attached particles, words after "%" that are not particles, and code spans are fine
    assert glossary.text_problems("85 %가 `none`, 20 % 정도, `시험 세트`, ```\n5 % 가\n```", terms) == []


def _notebook(markdown: str):
    return new_notebook(cells=[new_markdown_cell(markdown), new_code_cell("x = 1")])


def test_bad_notebook_is_flagged_by_check_notebook(tmp_path):
    path = tmp_path / "01_bad.ipynb"
    nbformat.write(_notebook("# 제목\n\n시험 세트의 85 % 가 `none`입니다. 계층화 분할을 씁니다."), path)
    problems = nbtools.check_notebook(path)
    style = [p for p in problems if "glossary.md" in p or "detached" in p]
    assert "01_bad.ipynb: cell 0 uses '시험 세트'; write '테스트 세트' (glossary.md)" in style
    assert "01_bad.ipynb: cell 0 uses '계층화'; write '층화' (glossary.md)" in style
    assert "01_bad.ipynb: cell 0 detached particle '% 가'; write '%가'" in style
    assert len(style) == 3


def test_code_cells_are_not_checked():
    nb = new_notebook(cells=[new_markdown_cell("테스트 세트"), new_code_cell("# 시험 세트 85 % 가")])
    assert glossary.notebook_problems(nb, terms=glossary.load_glossary(ROOT / "glossary.md")) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_real_notebooks_are_clean(path):
    nb = nbformat.read(path, as_version=4)
    assert glossary.notebook_problems(nb, name=path.name) == []
