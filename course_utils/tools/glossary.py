"""The course glossary (``glossary.md``) and the style check of notebook prose.

``glossary.md`` at the repository root lists one Korean term per concept, its
English term and the variants that must not be used (``| 한국어 | English | wrong,
variants |``). :func:`notebook_problems` reads a notebook's Markdown cells and
reports

* every wrong variant the glossary lists (e.g. "시험 세트" instead of "테스트 세트"), where a word
  starts (so "지도" is flagged but not "지지도"); a variant equal to the row's English term is fine in the
  parentheses right after the Korean term ("F-점수(F-score)");
* a particle written apart from a percentage ("85 % 가" instead of "85 %가") or from an English term,
  a number or a closing parenthesis ("mAP 를" instead of "mAP를", "0.75 에서는" instead of "0.75에서는").

Inline code (```...```) and fenced code blocks are not checked. ``nbtools.check_notebook``
appends these problems to its own.

>>> from course_utils.tools import glossary
>>> glossary.text_problems("테스트셋의 85 % 가 none")
["uses '테스트셋'; write '테스트 세트' (glossary.md)", "detached particle '% 가'; write '%가'"]
>>> glossary.text_problems("mAP 를 구합니다")
["detached particle 'mAP 를'; write 'mAP를'"]
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from course_utils.core import config

__all__ = ["Term", "load_glossary", "text_problems", "notebook_problems"]

#: File name of the glossary at the repository root.
_GLOSSARY_NAME = "glossary.md"
#: Particles that must be attached to the preceding "%" (longest first, so "이며" wins over "이").
_PARTICLES = sorted("이 가 은 는 을 를 의 에 에서 에는 로 으로 와 과 도 만 보다 까지 부터 처럼 이고 이며 이면 인 입니다 이므로 이지만 이나".split(),
                    key=len, reverse=True)
_DETACHED_RE = re.compile(r"%[ \t]+(" + "|".join(_PARTICLES) + r")(?=[\s.,:;)!?]|$)")
#: Particles that must be attached to an English word, a number or ")" ("이" is left out: it is also "this",
#: "도" and "만" are left out after numbers: "45 도" is an angle, "5 만" a count).
_WORD_PARTICLES = sorted((set(_PARTICLES) | {"에서는", "으로는", "로는", "와는", "과는", "이라는", "라는"}) - {"이"},
                         key=len, reverse=True)
_NUMBER_PARTICLES = [p for p in _WORD_PARTICLES if p not in ("도", "만")]
_WORD_DETACHED_RE = re.compile(
    r"((?:(?<![\w.])(?:[A-Za-z][A-Za-z0-9_\-]*|[0-9][0-9.,]*)|\))[ \t]+)(" + "|".join(_WORD_PARTICLES) + r")(?=[\s.,:;)!?]|$)")
_HANGUL = "\uac00-\ud7a3"
_FENCE_RE = re.compile(r"```.*?```", re.DOTALL)
_INLINE_CODE_RE = re.compile(r"`[^`\n]*`")


@dataclass(frozen=True)
class Term:
    """One glossary row: the Korean term to use, its English term, the variants not to use."""

    korean: str
    english: str
    wrong: tuple[str, ...]


def _glossary_path() -> Path | None:
    """``<repository>/glossary.md``, or ``None`` outside a checkout (e.g. a pip-installed kit on Colab)."""
    root = config.repo_root()
    return root / _GLOSSARY_NAME if root is not None else None


def load_glossary(path: str | Path | None = None) -> list[Term]:
    """Parse the glossary's Markdown tables into :class:`Term` rows.

    Every table row with three cells counts; header and separator rows are skipped
    (a header is a row followed by a ``|---|`` separator). ``path=None`` reads
    :func:`_glossary_path`; outside a checkout that gives an empty list.

    Raises ``FileNotFoundError`` when an explicit ``path`` does not exist.
    """
    if path is None:
        path = _glossary_path()
        if path is None or not path.is_file():
            return []
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No glossary at {path}; pass the path of glossary.md (repository root).")
    rows = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip().startswith("|")]
    terms = []
    for i, row in enumerate(rows):
        cells = [c.strip() for c in row.strip("|").split("|")]
        is_separator = all(set(c) <= set("-: ") for c in cells)
        is_header = i + 1 < len(rows) and all(set(c) <= set("-: ") for c in rows[i + 1].strip("|").split("|"))
        if len(cells) != 3 or is_separator or is_header:
            continue
        wrong = tuple(w.strip() for w in cells[2].split(",") if w.strip())
        terms.append(Term(korean=cells[0], english=cells[1], wrong=wrong))
    return terms


def _prose(text: str) -> str:
    """Markdown without fenced code blocks and inline code spans."""
    return _INLINE_CODE_RE.sub(" ", _FENCE_RE.sub(" ", text))


def text_problems(text: str, terms: list[Term] | None = None) -> list[str]:
    """Style problems of one Markdown text: glossary variants, particles detached from "%".

    ``terms=None`` loads the repository's glossary.
    """
    terms = load_glossary() if terms is None else terms
    prose = _prose(text)
    problems = [f"uses {w!r}; write {t.korean!r} ({_GLOSSARY_NAME})" for t in terms for w in t.wrong
                if _uses_variant(prose, t, w)]
    problems += [f"detached particle {m.group(0)!r}; write '%{m.group(1)}'" for m in _DETACHED_RE.finditer(prose)]
    for m in _WORD_DETACHED_RE.finditer(_INLINE_CODE_RE.sub("CODE", _FENCE_RE.sub(" ", text))):
        word, particle = m.group(1).rstrip(), m.group(2)
        if word[0].isdigit() and particle not in _NUMBER_PARTICLES:
            continue
        problems.append(f"detached particle {m.group(0)!r}; write '{word}{particle}'")
    return problems


def _uses_variant(prose: str, term: Term, variant: str) -> bool:
    """True if ``variant`` starts a word of ``prose`` (not after a Hangul syllable), except as the
    English gloss of the term in parentheses ("F-점수(F-score)" when the row's English term is "F-score")."""
    for m in re.finditer(rf"(?<![{_HANGUL}]){re.escape(variant)}", prose):
        before = prose[:m.start()].rstrip(" ")
        if variant == term.english and before.endswith("(") and before[:-1].rstrip().endswith(term.korean):
            continue
        return True
    return False


def notebook_problems(nb, name: str = "notebook", terms: list[Term] | None = None) -> list[str]:
    """Style problems of every Markdown cell of ``nb`` (an ``nbformat`` notebook), as ``"<name>: cell <i> ..."``."""
    terms = load_glossary() if terms is None else terms
    return [f"{name}: cell {i} {problem}" for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
            for problem in text_problems(cell.source, terms)]
