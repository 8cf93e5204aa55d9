"""schedule.md: every week's reading fits an hour, and every notebook names the weeks the table gives it."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MD_CHARS_PER_MIN = 500      # Korean technical prose
CODE_CHARS_PER_MIN = 1500   # code skimmed before it runs
MAX_WEEK_MIN = 60
WEEK_LINE = re.compile(r"^\*\*주차 \(Week\)\*\*: ([0-9–, ]+)주차", re.M)


def schedule_weeks(text: str) -> dict[int, list[str]]:
    """Week number -> notebook stems linked in that row of the table, in order."""
    weeks = {}
    for line in text.splitlines():
        match = re.match(r"\|\s*(\d+)\s*\|", line)
        if match:
            weeks[int(match.group(1))] = list(dict.fromkeys(re.findall(r"\]\(notebooks/(\w+)\.ipynb\)", line)))
    return weeks


def reading_minutes(notebook: dict) -> float:
    """Markdown at 500 characters a minute (link targets not counted) plus code at 1,500 (not the set-up cell)."""
    markdown = sum(len(re.sub(r"\(https?://[^)]*\)", "", "".join(c["source"])))
                   for c in notebook["cells"] if c["cell_type"] == "markdown")
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    code_chars = sum(len("".join(c["source"])) for i, c in enumerate(code) if i != 1)  # code cell 1: bootstrap
    return markdown / MD_CHARS_PER_MIN + code_chars / CODE_CHARS_PER_MIN


def week_minutes(weeks: dict[int, list[str]], minutes: dict[str, float]) -> dict[int, float]:
    """A notebook listed in k weeks counts minutes / k in each."""
    listed = {}
    for stems in weeks.values():
        for stem in stems:
            listed[stem] = listed.get(stem, 0) + 1
    return {week: sum(minutes[s] / listed[s] for s in stems) for week, stems in weeks.items()}


def parse_weeks(text: str) -> set[int]:
    """'7–8' -> {7, 8}; '7, 9' -> {7, 9}."""
    weeks = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("–")
        weeks.update(range(int(lo), int(hi or lo) + 1))
    return weeks


def test_reading_rule_on_a_hand_made_notebook():
    book = {"cells": [{"cell_type": "markdown", "source": ["a" * 1000, "[x](https://example.org/long)"]},
                      {"cell_type": "code", "source": ["p = 1\n"]}, {"cell_type": "code", "source": ["b" * 9999]},
                      {"cell_type": "code", "source": ["c" * 3000]}]}
    assert reading_minutes(book) == pytest.approx((1000 + 3) / 500 + (6 + 3000) / 1500)
    weeks = {1: ["a", "b"], 2: ["b"]}
    assert week_minutes(weeks, {"a": 10, "b": 30}) == {1: 25, 2: 15}
    assert parse_weeks("7–8") == {7, 8} and parse_weeks("7, 9") == {7, 9} and parse_weeks("11–13") == {11, 12, 13}


@pytest.fixture(scope="module")
def weeks():
    return schedule_weeks((ROOT / "schedule.md").read_text(encoding="utf-8"))


def test_every_notebook_is_scheduled_and_weeks_are_1_to_15(weeks):
    assert sorted(weeks) == list(range(1, 16))
    listed = {s for stems in weeks.values() for s in stems}
    assert listed == {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}


def test_each_week_reads_in_an_hour(weeks):
    minutes = {stem: reading_minutes(json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8")))
               for stems in weeks.values() for stem in stems}
    load = week_minutes(weeks, minutes)
    heavy = {w: round(m, 1) for w, m in load.items() if m > MAX_WEEK_MIN}
    assert not heavy, f"weeks over {MAX_WEEK_MIN} min of reading: {heavy}; move a notebook in schedule.md"


def test_each_notebook_names_its_weeks_as_the_schedule_does(weeks):
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        first = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])
        found = WEEK_LINE.findall(first)
        assert len(found) == 1, f"{path.name}: the first cell needs one line '**주차 (Week)**: N주차'"
        expected = {w for w, stems in weeks.items() if path.stem in stems}
        assert parse_weeks(found[0]) == expected, (path.name, found[0], sorted(expected))
