"""Every `module.name` that notebook and solution prose names exists in the kit (issue 24, item 2).

A dotted name in a Markdown cell whose first part is a module of ``course_utils`` (or of
``course_utils.detection``) must resolve to an attribute of that module. File names
(``report.md``, ``data.yaml``) are not references; a dotted name that the same notebook's
code cells use (e.g. ``report.skipped`` on a variable called ``report``) is proven by running it.
"""
import importlib
import pkgutil
import re
from pathlib import Path

import nbformat
import pytest

import course_utils

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
# short module name -> full names, over every sub-package (the layout may nest modules)
MODULES: dict[str, list[str]] = {}
for info in pkgutil.walk_packages(course_utils.__path__, "course_utils."):
    MODULES.setdefault(info.name.rsplit(".", 1)[-1], []).append(info.name)
FILE_SUFFIXES = {"md", "py", "yaml", "yml", "npz", "csv", "json", "html", "pt", "pth", "png", "txt", "pkl",
                 "onnx", "zip", "whl", "ipynb", "jpg"}
REFERENCE_RE = re.compile(r"(?<![\w./])(?:course_utils\.)?(detection\.)?([a-z_][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)")


def _candidates(module: str, explicit_detection: bool) -> list[str]:
    return [m for m in MODULES.get(module, []) if not explicit_detection or ".detection." in m]


def unresolved(markdown: str, code: str = "") -> list[str]:
    """Dotted kit names in ``markdown`` that no kit module defines and ``code`` does not use."""
    missing = []
    for match in REFERENCE_RE.finditer(markdown):
        detection, module, name = match.groups()
        if name in FILE_SUFFIXES or module not in MODULES:
            continue
        found = False
        for full in _candidates(module, bool(detection)):
            try:
                found = found or hasattr(importlib.import_module(full), name)
            except ModuleNotFoundError:  # an optional extra (e.g. ultralytics) is missing: import the source only
                source = ROOT / (full.replace(".", "/") + ".py")
                found = found or (source.is_file() and re.search(rf"^(def|class) {name}\b|^{name}\s*[:=]",
                                                                 source.read_text(encoding="utf-8"), re.M) is not None)
        if not found and f"{module}.{name}" not in code:
            missing.append(match.group(0))
    return missing


def test_unresolved_names_are_found():
    assert unresolved("`data.lot_split`와 `splits.lot_split`, `losses.class_weights_from_counts`") == [
        "data.lot_split", "losses.class_weights_from_counts"]
    assert unresolved("`report.md`, `data.yaml`, `metrics.evaluate_detections`, `model.weights_source`") == []
    assert unresolved("`report.skipped`") == ["report.skipped"]
    assert unresolved("`report.skipped`", code="print(report.skipped)") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_prose_names_only_what_exists(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    missing = {i: unresolved(c.source, code) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"}
    assert {i: m for i, m in missing.items() if m} == {}, f"{path.name}: prose names what the kit does not define"
