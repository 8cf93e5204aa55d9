"""The package's shape: layers that import only downward, no import circle, no private name shared.

Layers, top to bottom: the command line (``course_utils/__main__.py``) -> instructor tooling
(``tools``) -> the two projects side by side (``classification``, ``detection``) -> the shared
``training`` layer -> ``core``. Imports inside functions count as much as those at the top.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"
RANK = {"core": 0, "training": 1, "classification": 2, "detection": 2, "tools": 3}
TOP_RANK = 4  # course_utils/__init__.py and __main__.py


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import of a course_utils module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_utils"):
            assert node.level == 0, f"{path}: relative import at line {node.lineno}; write it absolute"
            found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}:{node.lineno}: relative import; the package uses absolute imports")
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("course_utils")]
    return found


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, names: list[str]) -> list[str]:
    """Modules an import statement reaches: ``from course_utils.training import engine`` -> the engine."""
    subs = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
    return subs or [module]


def _layer(module: str) -> int:
    parts = module.split(".")
    return RANK[parts[1]] if len(parts) > 1 and parts[1] in RANK else TOP_RANK


def _graph() -> dict[str, set[str]]:
    return {m: {t for mod, names, _ in _imports(p) for t in _resolve(mod, names) if t != m} for m, p in MODULES.items()}


def test_the_top_level_holds_only_the_package_face_and_the_command_line():
    files = sorted(p.name for p in PACKAGE.iterdir() if p.is_file() and p.suffix == ".py")
    assert files == ["__init__.py", "__main__.py"]
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()) == \
        sorted(RANK)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_only_downward(module):
    for mod, names, line in _imports(MODULES[module]):
        for target in _resolve(mod, names):
            assert target in MODULES, f"{module}:{line} imports {target}, which does not exist"
            if target == "course_utils":
                continue
            own, other = _layer(module), _layer(target)
            same_package = module.split(".")[:2] == target.split(".")[:2]
            assert other < own or same_package, (
                f"{module}:{line} imports {target}: a layer may import only the layers below it "
                "(core <- training <- classification | detection <- tools <- command line)")


def test_there_is_no_import_circle():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_is_imported_from_another_module(module):
    for mod, names, line in _imports(MODULES[module]):
        private = [n for n in names if n.startswith("_") and f"{mod}.{n}" not in MODULES]
        assert not private, f"{module}:{line} imports private names {private} from {mod}: make them public"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_reads_in_one_sitting(module):
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= 500, f"{module} has {lines} lines; split it by role (the guide's limit is 500)"


def test_the_two_projects_line_up_file_by_file():
    """Wafer maps <-> PCB pairs, readers, twins, data entry points, plots <-> drawing, calibration."""
    pairs = {"wafers": "pcb", "wm811k": "deeppcb", "twin": "twin", "data": "data", "wafer_plots": "draw",
             "calibration": "calibration"}
    for wafer_side, pcb_side in pairs.items():
        assert f"course_utils.classification.{wafer_side}" in MODULES
        assert f"course_utils.detection.{pcb_side}" in MODULES


def test_the_training_layer_names_no_wafer_class():
    for module, path in MODULES.items():
        if _layer(module) <= RANK["training"]:
            text = path.read_text(encoding="utf-8")
            assert "CLASS_NAMES" not in text and "NUM_CLASSES" not in text, (
                f"{module} uses the wafer class list; class names come from the data (or 0..K-1)")
