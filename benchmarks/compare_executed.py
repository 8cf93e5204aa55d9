"""Compare the printed numbers of two runs of the course (same seeds): did a change alter any result?

    python -m course_utils run --output-dir runs/before     # on the old code
    python -m course_utils run --output-dir runs/after      # on the new code
    python benchmarks/compare_executed.py runs/before runs/after

For every notebook present in both folders, the text each code cell printed
(stream output and plain-text results) is compared line by line after dropping
what legitimately changes between runs: wall times, throughputs, ETAs, dates,
temporary paths and memory addresses; a pandas table is compared cell by cell from its
HTML form, without the columns whose header names a timing (``time_per_epoch_s``,
``CPU ONNX (ms)``, ``duration`` ...). Every other difference is listed, and the
exit code is 1 when there is one. Cells are matched by their source, so a cell
added or removed on one side is reported as such, not as a shifted difference.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from html import unescape
from pathlib import Path

# Lines whose numbers depend on the machine or the clock, not on the seed.
VOLATILE = re.compile(
    r"(\d+(\.\d+)?\s*(ms|s|sec|seconds|min|h)\b|img/s|images/s|maps/s|it/s|GFLOP|ETA|elapsed|took|\bin \d|\d{4}-\d\d-\d\d|"
    r"\d\d:\d\d|/tmp/|0x[0-9a-f]+|MiB|MB\b|GB\b|peak|throughput|time_s|per epoch|warm)", re.IGNORECASE)


# An absolute path into a run folder (runs/NAME) or the kit: the two runs may live in different checkouts.
PATH_RE = re.compile(r"(/[\w.-]+)+/(runs/[\w.-]+|course_utils\b)")


CELL_RE = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)
# Table columns that hold timings: time_per_epoch_s, s_per_seed, est_total_min, duration, "CPU ONNX (ms)", ...
VOLATILE_COLUMN = re.compile(r"duration|time|seconds|_s$|_s_|^s_|_ms_|\bms\b|ms/|\((ms|s|min)\)|_min$", re.IGNORECASE)


def table_rows(html: str) -> list[str]:
    """Rows of every HTML table in ``html`` as ``a | b | c`` lines, minus the columns whose header is volatile
    (a wrapped text table would split such a column from its header, so the text form cannot be filtered)."""
    lines = []
    for table in re.findall(r"<table.*?</table>", html, re.S):
        rows = [[unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in CELL_RE.findall(r)]
                for r in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)]
        header = rows[0] if rows else []
        keep = [i for i, name in enumerate(header)
                if not (name and (VOLATILE.search(name) or VOLATILE_COLUMN.search(name)))]
        lines += [" | ".join(row[i] for i in keep if i < len(row)) for row in rows]
    return lines


def cell_texts(executed: Path) -> dict[str, list[str]]:
    """Source of each code cell -> the stable lines it printed (the run folder's path written as <run>)."""
    nb = json.loads(executed.read_text(encoding="utf-8"))
    texts: dict[str, list[str]] = {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        lines = []
        for out in cell.get("outputs", []):
            html = out.get("data", {}).get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            if "<table" in html:   # a pandas table: compare its cells, without the columns that are timings
                lines += table_rows(html)
                continue
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            text = PATH_RE.sub("<run>", text)
            lines += [line.rstrip() for line in text.splitlines() if line.strip() and not VOLATILE.search(line)]
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        texts[source] = lines
    return texts


def compare(before: Path, after: Path) -> tuple[list[str], list[str]]:
    problems = []
    names = sorted({p.name for p in before.glob("*.ipynb")} & {p.name for p in after.glob("*.ipynb")})
    for name in names:
        a, b = cell_texts(before / name), cell_texts(after / name)
        only_a, only_b = [s for s in a if s not in b], [s for s in b if s not in a]
        for sa, sb in zip(only_a, only_b):  # cells whose code changed: compare in order
            a[sb] = a.pop(sa)
        for source in only_a[len(only_b):]:
            problems.append(f"{name}: cell removed: {source.splitlines()[0][:70]!r}")
        for source, lines in b.items():
            if source not in a:
                problems.append(f"{name}: cell added: {source.splitlines()[0][:70]!r}")
            elif lines != a[source]:
                diff = [f"    - {x}\n    + {y}" for x, y in zip(a[source], lines) if x != y][:3]
                if len(lines) != len(a[source]):
                    diff.append(f"    ({len(a[source])} vs {len(lines)} lines)")
                problems.append(f"{name}: cell {source.splitlines()[0][:60]!r} printed other numbers:\n"
                                + "\n".join(diff))
    return problems, names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    problems, names = compare(args.before, args.after)
    for line in problems:
        print(line)
    print(f"{len(names)} notebook(s) compared; {len(problems)} difference(s).")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
