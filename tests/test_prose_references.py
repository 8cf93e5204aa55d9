"""Every `module.name` that notebook and solution prose names exists in the kit (issue 24, item 2).

A dotted name in a Markdown cell whose first part is a module of ``course_utils`` (any layer),
or an alias the notebook imports (``det_metrics`` for ``course_utils.detection.metrics``), must
resolve to an attribute of that module. File names
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
LAYERS = ("core", "training", "classification", "detection", "tools")
REFERENCE_RE = re.compile(r"(?<![\w./])(?:course_utils\.)?(?:(core|training|classification|detection|tools)\.)?"
                          r"([a-z_][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)")
IMPORT_RE = re.compile(r"^from (course_utils\.[a-z_.]+) import (\([^)]*\)|[^\n]*)", re.M)


def module_aliases(code: str) -> dict[str, str]:
    """``{alias: full module name}`` of the kit modules that ``code`` imports."""
    aliases = {}
    for package, names in IMPORT_RE.findall(code):
        for item in names.strip("()").replace("\n", " ").split(","):
            name, _, alias = re.sub(r"#.*", "", item).strip().partition(" as ")
            if name and f"{package}.{name}" in FULL_NAMES:
                aliases[alias.strip() or name.strip()] = f"{package}.{name.strip()}"
    return aliases


FULL_NAMES = {full for fulls in MODULES.values() for full in fulls}


def _candidates(module: str, layer: str | None, aliases: dict[str, str]) -> list[str]:
    if module in aliases:
        return [aliases[module]]
    return [m for m in MODULES.get(module, []) if layer is None or f".{layer}." in m]


def unresolved(markdown: str, code: str = "") -> list[str]:
    """Dotted kit names in ``markdown`` that no kit module defines and ``code`` does not use."""
    missing = []
    aliases = module_aliases(code)
    for match in REFERENCE_RE.finditer(markdown):
        layer, module, name = match.groups()
        if name in FILE_SUFFIXES:
            continue
        if layer is None and module in LAYERS:  # course_utils.<layer>.<module>
            if f"course_utils.{module}.{name}" not in FULL_NAMES:
                missing.append(match.group(0))
            continue
        if module not in MODULES and module not in aliases:
            continue
        found = False
        for full in _candidates(module, layer, aliases):
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
    assert unresolved("`report.md`, `data.yaml`, `evaluate.evaluate_detections`, `model.weights_source`") == []
    assert unresolved("`metrics.evaluate_detections`") == ["metrics.evaluate_detections"]
    code = "from course_utils.detection import data as det_data, metrics as det_metrics\n"
    assert unresolved("`det_metrics.ap_table`, `det_data.load_pcb_data`", code) == []
    assert unresolved("`det_metrics.evaluate_detections`", code) == ["det_metrics.evaluate_detections"]
    assert unresolved("`course_utils.classification.surface_photos`, `course_utils.training.nothing`") == [
        "course_utils.training.nothing"]
    assert unresolved("`report.skipped`") == ["report.skipped"]
    assert unresolved("`report.skipped`", code="print(report.skipped)") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_prose_names_only_what_exists(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    missing = {i: unresolved(c.source, code) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"}
    assert {i: m for i, m in missing.items() if m} == {}, f"{path.name}: prose names what the kit does not define"
