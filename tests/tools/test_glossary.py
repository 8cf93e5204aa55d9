"""The glossary check: parsing glossary.md, flagging wrong variants and detached particles, clean notebooks."""
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils.tools import glossary, nbtools

ROOT = Path(__file__).resolve().parents[2]
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


# --- issue 24, item 3: one term per concept, variants checked at word starts, particles on English terms ---

@pytest.mark.parametrize("variant, term", [("지도", "맵"), ("얼리고", "동결"), ("열기", "열림"), ("닫기", "닫힘"),
                                           ("형태학", "모폴로지"), ("머리", "헤드"), ("매개변수", "파라미터"),
                                           ("F-score", "F-점수"), ("헛경보", "오검출"), ("오탐", "오검출"),
                                           ("Overfitting", "과적합"), ("사 주는", "템플릿이 있어서 얻는 것")])
def test_glossary_lists_the_variants_of_issue_24(variant, term):
    terms = {t.korean: t for t in glossary.load_glossary(ROOT / "glossary.md")}
    assert variant in terms[term].wrong


def test_course_and_kit_replace_the_ambiguous_word():
    terms = glossary.load_glossary(ROOT / "glossary.md")
    problems = glossary.text_problems("과정의 표와 이 과정의 노트북", terms)
    assert len(problems) == 1 and "'과정'" in problems[0] and "강의" in problems[0] and "키트" in problems[0]
    assert glossary.text_problems("강의의 표와 키트의 노트북", terms) == []


def test_variants_match_only_where_a_word_starts():
    terms = [glossary.Term("맵", "Map", ("지도",))]
    assert glossary.text_problems("지지도(Support)와 비지도 학습", terms) == []
    assert glossary.text_problems("64×64 지도를 그대로", terms) == ["uses '지도'; write '맵' (glossary.md)"]


def test_english_term_is_allowed_only_as_the_gloss_of_its_korean_term():
    terms = [glossary.Term("F-점수", "F-score", ("F-score",)), glossary.Term("과적합", "Over-fitting", ("Overfitting",))]
    assert glossary.text_problems("F-점수(F-score)와 F-점수 (F-score), 과적합(Over-fitting)", terms) == []
    assert glossary.text_problems("DeepPCB F-score", terms) == ["uses 'F-score'; write 'F-점수' (glossary.md)"]
    assert glossary.text_problems("과적합(Overfitting)", terms) == ["uses 'Overfitting'; write '과적합' (glossary.md)"]


def test_particles_detached_from_english_terms_numbers_and_parentheses_are_flagged():
    problems = glossary.text_problems("mAP 를 구하고, IoU 0.75 에서는 B 의 박스가 FP 가 되며, 정밀도(Precision) 와 재현율", [])
    assert problems == ["detached particle 'mAP 를'; write 'mAP를'", "detached particle '0.75 에서는'; write '0.75에서는'",
                        "detached particle 'B 의'; write 'B의'", "detached particle 'FP 가'; write 'FP가'",
                        "detached particle ') 와'; write ')와'"]
    # attached particles, "이" (also "this"), angles and counts, list numbers before inline code, bold ends
    fine = "mAP를 구합니다. YOLO 이 모델, 45 도 회전, 5 만 장, 1. `x`를 고르세요, **위치(Box)** 를 예측"
    assert glossary.text_problems(fine, []) == []
