"""Every public function says where the course teaches it (issue 23, item 5).

The last docstring line of each function in the ``__all__`` of a ``training``, ``classification``
or ``detection`` module reads ``Taught in: NN_notebook`` (notebooks of ``notebooks/`` whose code
cells call it through its module, e.g. ``engine.fit(...)`` after ``from course_utils.training import
engine``) or, when no notebook calls it, ``Used by: <module, file or command>``. A ``core`` function
that a notebook calls says ``Taught in:`` as well. Notebooks and modules are read with ``ast``, once.
"""
import ast
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_utils"
LAYERS = ("training", "classification", "detection")  # every public function says it
CORE = "core"  # only the functions notebooks call
MAGIC = re.compile(r"^\s*[%!]")


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _is_module(name: str) -> bool:
    return (ROOT / (name.replace(".", "/") + ".py")).is_file()


def public_functions(path: Path) -> dict[str, str]:
    """``{name: docstring}`` of the module-level functions listed in the module's ``__all__``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == "__all__":
            names = ast.literal_eval(node.value)
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return {name: ast.get_docstring(defs[name]) or "" for name in names if name in defs}


def notebook_calls(sources: list[str]) -> set[tuple[str, str]]:
    """``(module, function)`` pairs that code cells call through a ``course_utils`` import.

    ``from course_utils.training import engine as eng`` makes ``eng.fit(...)`` a call of
    ``("course_utils.training.engine", "fit")``; ``from course_utils.core.checks import
    largest_remainder`` makes ``largest_remainder(...)`` one too. IPython magics are skipped."""
    trees = [ast.parse("\n".join("" if MAGIC.match(line) else line for line in src.splitlines()))
             for src in sources]
    modules: dict[str, str] = {}
    functions: dict[str, tuple[str, str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_utils"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if _is_module(full):
                        modules[alias.asname or alias.name] = full
                    else:
                        functions[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import):
                modules.update({a.asname: a.name for a in node.names if a.asname and _is_module(a.name)})
    calls = set()
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules:
                calls.add((modules[func.value.id], func.attr))
            elif isinstance(func, ast.Name) and func.id in functions:
                calls.add(functions[func.id])
    return calls


@lru_cache(maxsize=None)
def course_calls() -> dict[str, frozenset]:
    """``{notebook stem: calls}`` over ``notebooks/NN_*.ipynb``, each notebook parsed once."""
    out = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                   for c in cells if c["cell_type"] == "code"]
        out[path.stem] = frozenset(notebook_calls(sources))
    return out


def _used_by_problems(module: str, name: str, users: list[str]) -> list[str]:
    problems = []
    for user in users:
        if user.startswith("python -m course_utils "):
            command = user.split()[3]
            if f'"{command}"' not in (PACKAGE / "__main__.py").read_text(encoding="utf-8"):
                problems.append(f"{module}.{name}: Used by '{user}', which is not a command of the kit")
            continue
        if user.startswith("course_utils."):
            path = ROOT / (user.replace(".", "/") + ".py")
        elif user.startswith("solutions/"):
            path = ROOT / f"{user}.ipynb"
        else:
            path = ROOT / user
        if not path.is_file():
            problems.append(f"{module}.{name}: Used by {user}, which does not exist")
        elif not re.search(rf"\b{name}\b", path.read_text(encoding="utf-8")):
            problems.append(f"{module}.{name}: Used by {user}, which never names {name}")
    return problems


def where_problems(module: str, name: str, doc: str, calls: dict, required: bool = True) -> list[str]:
    """What is wrong with the ``Taught in:`` / ``Used by:`` line of ``module.name``'s docstring.

    ``calls`` maps notebook stems to the ``(module, function)`` pairs their code calls."""
    lines = doc.strip().splitlines()
    last = lines[-1].strip() if lines else ""
    callers = [nb for nb, used in calls.items() if (module, name) in used]
    short = module.rsplit(".", 1)[-1]
    if last.startswith("Taught in:"):
        named = [n.strip() for n in last[len("Taught in:"):].split(",") if n.strip()]
        if not named:
            return [f"{module}.{name}: 'Taught in:' names no notebook"]
        problems = []
        for nb in named:
            if nb not in calls:
                problems.append(f"{module}.{name}: Taught in {nb}, which is not a notebook in notebooks/")
            elif (module, name) not in calls[nb]:
                problems.append(f"{module}.{name}: Taught in {nb}, whose code never calls {short}.{name}(...)")
        return problems
    if last.startswith("Used by:"):
        if callers:
            return [f"{module}.{name}: {callers[0]} calls it; the last line should be 'Taught in: {callers[0]}'"]
        users = [u.strip() for u in last[len("Used by:"):].split(",") if u.strip()]
        return _used_by_problems(module, name, users) if users else [f"{module}.{name}: 'Used by:' names nothing"]
    if callers or required:
        hint = f"'Taught in: {callers[0]}'" if callers else "'Used by: <module, file or command>'"
        return [f"{module}.{name}: the docstring's last line should be {hint}"]
    return []


MODULES = sorted(p for layer in (*LAYERS, CORE) for p in (PACKAGE / layer).glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_public_functions_say_where_they_are_taught(path):
    module = _module_name(path)
    required = module.split(".")[1] in LAYERS
    problems = [p for name, doc in public_functions(path).items()
                for p in where_problems(module, name, doc, course_calls(), required)]
    assert problems == [], "\n".join(problems)


def test_the_checker_catches_wrong_lines():
    calls = {"04_training_hyperparameters": frozenset({("course_utils.training.engine", "fit")}),
             "05_transfer_learning": frozenset()}
    m = "course_utils.training.engine"
    doc = "Train a model.\n\n{}"
    assert where_problems(m, "fit", doc.format("Taught in: 04_training_hyperparameters"), calls) == []
    assert where_problems(m, "fit", doc.format("Taught in: 99_no_such_notebook"), calls) == [
        f"{m}.fit: Taught in 99_no_such_notebook, which is not a notebook in notebooks/"]
    assert where_problems(m, "fit", doc.format("Taught in: 04_training_hyperparameters, 05_transfer_learning"),
                          calls) == [f"{m}.fit: Taught in 05_transfer_learning, whose code never calls engine.fit(...)"]
    assert where_problems(m, "fit", "Train a model.", calls) == [
        f"{m}.fit: the docstring's last line should be 'Taught in: 04_training_hyperparameters'"]
    assert where_problems(m, "fit", doc.format("Used by: tests/training/test_engine.py"), calls) == [
        f"{m}.fit: 04_training_hyperparameters calls it; the last line should be "
        "'Taught in: 04_training_hyperparameters'"]
    assert where_problems(m, "predict", doc.format("Used by: course_utils.training.evaluation"), calls) == []
    assert where_problems(m, "predict", doc.format("Used by: course_utils.training.nowhere"), calls) == [
        f"{m}.predict: Used by course_utils.training.nowhere, which does not exist"]
    assert where_problems(m, "predict", "", calls, required=False) == []


def test_notebook_calls_resolve_aliases_and_skip_magics():
    cells = ["%matplotlib inline\nfrom course_utils.detection import (metrics as det_metrics,\n    boxes)",
             "from course_utils.core.checks import largest_remainder as lr\n!pip list",
             "det_metrics.ap_table(p, t)\nboxes.box_iou\nlr([1], 2)\nengine.fit(m)"]
    assert notebook_calls(cells) == {("course_utils.detection.metrics", "ap_table"),
                                     ("course_utils.core.checks", "largest_remainder")}
