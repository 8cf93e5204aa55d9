"""Google Colab without a public repository: the course bundle and the bootstrap cell.

The simulated Colab is a fresh virtual environment (no system site packages) that
sees only a Colab-like pre-installed set of distributions, exposed through a folder
of symbolic links to the global site-packages (nothing is copied or downloaded), with
``COLAB_RELEASE_TAG`` set and the network blocked (no package index, a dead proxy).
"""
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch
import torchvision

from course_utils.core import config, env
from course_utils.tools import bundle, nbtools

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "00_setup_cuda.ipynb"  # the cheapest course notebook (about 10 s of smoke run)
#: What Colab has pre-installed that the kit's notebooks use (its runtime dependencies are
#: all there), plus papermill and ipykernel to drive the notebook, and pip.
COLAB_PREINSTALLED = ("torch", "torchvision", "numpy", "pandas", "matplotlib", "seaborn", "scikit-learn",
                      "ipywidgets", "tqdm", "pillow", "opencv-python-headless", "pyyaml", "ipykernel",
                      "papermill", "pip")
# no index, no local wheel folders, a dead proxy for git and pip
OFFLINE = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "", "http_proxy": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "GIT_TERMINAL_PROMPT": "0"}


def _link_distributions(dists, folder: Path) -> None:
    """Symlink each distribution's top-level files and folders (and its metadata) into ``folder``."""
    folder.mkdir(parents=True)
    for dist in dists:
        base = Path(dist.locate_file(""))
        tops = {f.parts[0] for f in dist.files or [] if f.parts and f.parts[0] not in ("..", "__pycache__")}
        for top in tops:
            src, dst = base / top, folder / top
            if (src.exists() or src.is_symlink()) and not (dst.exists() or dst.is_symlink()):
                dst.symlink_to(src)


@pytest.fixture(scope="module")
def course_bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    start = time.perf_counter()
    path = bundle.build_bundle(out)
    print(f"bundle built in {time.perf_counter() - start:.2f} s")
    return path


def _make_venv(base: Path, preinstalled) -> dict:
    """A virtual environment under ``base`` that sees only ``preinstalled`` (and what they need)."""
    dists = env.required_distributions(preinstalled)
    assert "course-utils" not in {d.metadata["Name"].lower() for d in dists}
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    _link_distributions(dists, base / "preinstalled")
    (site / "colab_preinstalled.pth").write_text(str(base / "preinstalled") + "\n")
    kernels = base / "jupyter" / "kernels" / "colab"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "simulated Colab", "language": "python"}))
    run_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COURSE_DATA_DIR", "VIRTUAL_ENV")}
    run_env.update(OFFLINE, PYTHONNOUSERSITE="1", COLAB_RELEASE_TAG="release-colab_simulated",
               JUPYTER_PATH=str(base / "jupyter"), JUPYTER_DATA_DIR=str(base / "jupyter"),
               PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return {"python": python, "site": site, "env": run_env, "base": base}


@pytest.fixture(scope="module")
def colab_venv(tmp_path_factory) -> dict:
    """The simulated Colab: a virtual environment with only the Colab-like set."""
    return _make_venv(tmp_path_factory.mktemp("colab"), COLAB_PREINSTALLED)


@pytest.fixture
def kit_free(colab_venv):
    """The simulated Colab, with any kit a test installed removed afterwards."""
    yield colab_venv
    for path in colab_venv["site"].glob("course_utils*"):
        shutil.rmtree(path)


def _venv_run(colab_venv, code: str, **env) -> str:
    out = subprocess.run([str(colab_venv["python"]), "-c", code], capture_output=True, text=True,
                         cwd=colab_venv["base"], env={**colab_venv["env"], **env}, check=True)
    return out.stdout.strip()


def _run_notebook(colab_venv, folder: Path, **env) -> tuple[subprocess.CompletedProcess, nbformat.NotebookNode]:
    """Execute ``folder/NOTEBOOK`` with papermill inside the simulated Colab."""
    out = folder / "executed.ipynb"
    proc = subprocess.run([str(colab_venv["python"]), "-m", "papermill", NOTEBOOK, out.name, "-k", "colab",
                           "--cwd", str(folder), "--execution-timeout", "300"],
                          cwd=folder, capture_output=True, text=True, env={**colab_venv["env"], **env}, timeout=600)
    return proc, nbformat.read(out, as_version=4)


def _outputs(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts += [out.get("text", ""), out.get("evalue", ""), "\n".join(out.get("traceback", []))]
    return "\n".join(parts)


def _bootstrap_cell(nb):
    return [c for c in nb.cells if c.cell_type == "code"][1]


def test_bundle_holds_the_wheel_notebooks_and_readme(course_bundle):
    with zipfile.ZipFile(course_bundle) as zf:
        names = zf.namelist()
        readme = zf.read("README.md").decode()
        wheels = [n for n in names if n.endswith(".whl")]
        assert len(wheels) == 1 and wheels[0].startswith("course_utils-0.1.0-")
        with zipfile.ZipFile(zf.open(wheels[0])) as wheel:
            inner = wheel.namelist()
            meta = wheel.read(next(n for n in inner if n.endswith(".dist-info/METADATA"))).decode()
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(n.split("/", 1)[1] for n in names if n.startswith("notebooks/")) == notebooks
    solutions = sorted(p.name for p in (ROOT / "solutions").glob("*.ipynb")) if (ROOT / "solutions").is_dir() else []
    assert sorted(n.split("/", 1)[1] for n in names if n.startswith("solutions/")) == solutions
    assert "datasets/README.md" in names
    # the modules and the tested versions (package data read by `env`)
    assert sorted([p.relative_to(ROOT).as_posix() for p in (ROOT / "course_utils").rglob("*.py")]
                  + ["course_utils/constraints.txt"]) == \
        sorted(n for n in inner if n.startswith("course_utils/"))
    # the wheel's runtime requirements are the runtime tier only; Jupyter and papermill are extras
    runtime = [line.split(": ", 1)[1] for line in meta.splitlines()
               if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert runtime == __import__("tomllib").loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert config.COLAB_DRIVE_DIR in readme and wheels[0] in readme and notebooks[0] in readme


def test_bundle_build_leaves_the_checkout_clean(tmp_path):
    before = sorted(p.name for p in ROOT.iterdir())
    package = sorted(p.name for p in (ROOT / "course_utils").iterdir())
    bundle.build_bundle(tmp_path)
    assert sorted(p.name for p in ROOT.iterdir()) == before  # no build/, dist/ or *.egg-info
    assert sorted(p.name for p in (ROOT / "course_utils").iterdir()) == package


def test_bundle_command_line(tmp_path, capsys):
    from course_utils.__main__ import main

    assert main(["bundle", "--output", str(tmp_path)]) == 0
    assert (tmp_path / bundle.BUNDLE_NAME).is_file()
    count = len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    assert f"course_utils-0.1.0-py3-none-any.whl, {count} notebooks" in capsys.readouterr().out


def test_bundle_takes_the_solutions_when_the_checkout_has_them(tmp_path):
    root = tmp_path / "checkout"
    for rel in ["pyproject.toml", "README.md", "notebooks/" + NOTEBOOK,
                *(p.relative_to(ROOT).as_posix() for p in (ROOT / "course_utils").rglob("*.py"))]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, root / rel)
    (root / "solutions").mkdir()
    (root / "solutions" / "00_setup_cuda_solutions.ipynb").write_text("{}")
    with zipfile.ZipFile(bundle.build_bundle(tmp_path / "out", root=root)) as zf:
        names = set(zf.namelist())
    assert {"notebooks/" + NOTEBOOK, "solutions/00_setup_cuda_solutions.ipynb", "README.md"} <= names
    assert "datasets/README.md" not in names  # this checkout has none


def test_bundle_without_the_repository_says_what_to_do(tmp_path, monkeypatch, capsys):
    from course_utils.__main__ import main

    monkeypatch.setattr(config, "repo_root", lambda: None)
    assert main(["bundle", "--output", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "error: The bundle is built from the course repository, but course_utils was installed without it. "
        "Clone the repository, run `pip install -e .` in it and run the command there.\n")
    assert not list(tmp_path.iterdir())


def test_the_simulated_colab_has_no_kit_and_the_global_torch(colab_venv):
    code = "import importlib.util, torch; print(importlib.util.find_spec('course_utils') is None, torch.__version__)"
    assert _venv_run(colab_venv, code) == f"True {torch.__version__}"


@pytest.mark.notebooks
def test_colab_installs_the_kit_from_the_bundle_next_to_the_notebook(kit_free, course_bundle, tmp_path):
    colab_venv = kit_free
    folder = tmp_path / "content"
    folder.mkdir()
    (folder / NOTEBOOK).write_bytes((ROOT / "notebooks" / NOTEBOOK).read_bytes())
    (folder / course_bundle.name).write_bytes(course_bundle.read_bytes())
    start = time.perf_counter()
    proc, nb = _run_notebook(colab_venv, folder)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = f"course kit: installed from {folder / course_bundle.name}"
    assert line in _outputs(_bootstrap_cell(nb))
    installed = list(colab_venv["site"].glob("course_utils-*.dist-info"))
    assert len(installed) == 1 and (colab_venv["site"] / "course_utils" / "tools" / "nbtools.py").is_file()
    # torch, torchvision and Jupyter were neither reinstalled nor added to the venv
    assert not list(colab_venv["site"].glob("torch*")) and not list(colab_venv["site"].glob("jupyterlab*"))
    assert _venv_run(colab_venv, "import torch, torchvision; print(torch.__version__, torchvision.__version__)") \
        == f"{torch.__version__} {torchvision.__version__}"
    # the cell run again (as in the next notebook) finds the kit already installed
    (folder / "cell.py").write_text(nbtools.bootstrap_cell_source())
    again = subprocess.run([str(colab_venv["python"]), "-c", "exec(open('cell.py').read(), {})"], cwd=folder,
                           env=colab_venv["env"], capture_output=True, text=True, check=True).stdout
    assert again.strip() == f"course kit: already installed ({colab_venv['site'] / 'course_utils'})"
    print(f"simulated Colab: first run (install + notebook) {seconds:.1f} s")


@pytest.mark.notebooks
def test_colab_without_bundle_or_network_stops_with_the_fix(colab_venv, tmp_path):
    (tmp_path / NOTEBOOK).write_bytes((ROOT / "notebooks" / NOTEBOOK).read_bytes())
    proc, nb = _run_notebook(colab_venv, tmp_path)
    assert proc.returncode != 0
    error = next(o for o in _bootstrap_cell(nb).outputs if o.output_type == "error")
    assert error.ename == "KitSetupError"
    assert error.evalue.startswith(f"no course bundle in {tmp_path}, /content,")
    assert re.search(f"pip cannot install from {re.escape(config.REPO_URL)}: (fatal|ERROR): ", error.evalue)
    assert "(Google Drive is not mounted)" in error.evalue
    assert "Fix: upload the course bundle (wafer-course-bundle.zip)" in error.evalue
    assert "mount Drive" in error.evalue and "set KIT_REPO_URL" in error.evalue
    assert error.evalue.count("\n") == 1  # two lines
    assert error.traceback == [f"KitSetupError: {error.evalue}"]  # no traceback, no CalledProcessError
    assert "CalledProcessError" not in _outputs(_bootstrap_cell(nb))

    assert all(not c.get("outputs") for c in [c for c in nb.cells if c.cell_type == "code"][2:])


def test_outside_colab_without_the_kit_the_cell_says_how_to_install(colab_venv, tmp_path):
    code = ("src = open('cell.py').read()\ntry:\n    exec(src, {})\nexcept Exception as exc:\n"
            "    print(type(exc).__name__, exc, sep=': ')")
    (tmp_path / "cell.py").write_text(nbtools.bootstrap_cell_source())
    env = {k: v for k, v in colab_venv["env"].items() if k != "COLAB_RELEASE_TAG"}
    out = subprocess.run([str(colab_venv["python"]), "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout
    python = colab_venv["python"]
    assert out.strip() == (
        f"KitSetupError: the course kit (course_utils) is not installed in this Python ({python}).\n"
        "Fix: run `pip install -e .` in the repository root, then restart the kernel."
    )
    assert not list(colab_venv["site"].glob("course_utils*"))  # nothing was installed


def test_the_cell_finds_a_bare_wheel_in_the_drive_folder(kit_free, course_bundle, tmp_path):
    """The Drive folder named in config (here a stand-in) holding only the kit wheel."""
    colab_venv = kit_free
    drive = tmp_path / "drive" / "MyDrive" / "wafer-course"
    drive.mkdir(parents=True)
    with zipfile.ZipFile(course_bundle) as zf:
        wheel = zf.extract(next(n for n in zf.namelist() if n.endswith(".whl")), drive)
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cell.py").write_text(nbtools.bootstrap_cell_source(drive_dir=str(drive)))
    code = "exec(open('../cell.py').read(), {})"
    out = subprocess.run([str(colab_venv["python"]), "-c", code], cwd=tmp_path / "cwd", env=colab_venv["env"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == f"course kit: installed from {wheel}"
    assert (colab_venv["site"] / "course_utils" / "tools" / "bundle.py").is_file()
    assert not list(colab_venv["site"].glob("torch*"))


def test_a_missing_dependency_offline_is_named_with_the_fix(course_bundle, tmp_path):
    """A runtime without seaborn and without network: the bundle install says what failed."""
    venv = _make_venv(tmp_path / "colab", [d for d in COLAB_PREINSTALLED if d != "seaborn"])
    folder = tmp_path / "content"
    folder.mkdir()
    (folder / course_bundle.name).write_bytes(course_bundle.read_bytes())
    (folder / "cell.py").write_text(nbtools.bootstrap_cell_source())
    code = "try:\n    exec(open('cell.py').read(), {})\nexcept Exception as exc:\n    print(type(exc).__name__, exc)"
    out = subprocess.run([str(venv["python"]), "-c", code], cwd=folder, env=venv["env"],
                         capture_output=True, text=True, check=True).stdout.strip()
    first, second = out.splitlines()
    assert first.startswith(f"KitSetupError installing the course kit from {folder / course_bundle.name} failed: "
                            "ERROR: ")
    assert "seaborn" in first
    assert second == ("Fix: check the session's internet connection (missing packages are downloaded), "
                      "then rerun.")
    assert not list(venv["site"].glob("course_utils*"))


class _Dist:
    def __init__(self, name, version):
        self.metadata, self.version = {"Name": name}, version


def _cell_namespace(tmp_path, *, upgraded: str, loaded: bool) -> dict:
    """The cell's functions on a pretend Colab where pip 'upgrades' one distribution."""
    from types import SimpleNamespace

    body, last = nbtools.bootstrap_cell_source(drive_dir=str(tmp_path / "drive")).rsplit("\n", 1)
    assert last == 'print("course kit:", _kit_bootstrap())'
    ns = {}
    exec(body, ns)
    calls = []
    ns["IN_COLAB"] = True
    ns["_kit_pip"] = lambda target: (calls.append(target), (True, ""))[1]
    ns["importlib"] = SimpleNamespace(invalidate_caches=lambda: None, util=SimpleNamespace(
        find_spec=lambda name: None if name == "course_utils" else object()))
    states = iter([[_Dist(upgraded, "1.0")], [_Dist(upgraded, "2.0"), _Dist("course-utils", "0.1.0")]])
    module = "json" if loaded else "zz_not_loaded_module"
    ns["md"] = SimpleNamespace(distributions=lambda: next(states), version=md.version,
                               packages_distributions=lambda: {module: [upgraded]})
    ns["calls"] = calls
    return ns


def test_the_cell_asks_for_a_restart_when_pip_upgraded_a_loaded_package(tmp_path, monkeypatch):
    wheel = tmp_path / "course_utils-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    ns = _cell_namespace(tmp_path, upgraded="demo-dist", loaded=True)
    with pytest.raises(ns["KitSetupError"]) as err:
        ns["_kit_bootstrap"]()
    assert str(err.value) == ("kit installed, but pip upgraded demo-dist, already loaded here.\n"
                              "Restart the runtime (Runtime > Restart session), then run the notebook from the top.")
    assert ns["calls"] == [str(wheel)]
    assert err.value._render_traceback_() == [f"KitSetupError: {err.value}"]
    ns = _cell_namespace(tmp_path, upgraded="demo-dist", loaded=False)
    assert ns["_kit_bootstrap"]() == f"installed from {wheel}"


def test_require_extra_on_colab_offline_says_what_failed(colab_venv):
    code = ("from course_utils.core import env\ntry:\n    env.require_extra('tune')\n"
            "except ImportError as exc:\n    print(exc)")
    out = _venv_run(colab_venv, code, PYTHONPATH=str(ROOT))
    # offline, pip's first error names optuna (no version found, or its pinned dependencies unavailable)
    assert out.startswith("Installing the [tune] extra on Colab failed: ERROR: ") and "optuna" in out.splitlines()[0]
    assert "optuna" in out and out.endswith("Check the session's internet connection and run this cell again.")


def test_wheel_carries_the_detection_sub_package(tmp_path):
    import zipfile

    from course_utils.tools import bundle

    wheel = bundle.build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "course_utils/detection/pcb.py" in names and "course_utils/classification/wafers.py" in names
    assert not any("__pycache__" in n for n in names)
