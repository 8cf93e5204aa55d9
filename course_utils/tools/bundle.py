"""The course bundle: one zip an instructor puts on Google Drive or an LMS.

Command line::

    python -m course_utils bundle --output DIR

writes ``DIR/wafer-course-bundle.zip`` without any network access:

* ``course_utils-<version>-py3-none-any.whl``: the kit, built from this checkout with
  setuptools (no dependencies inside: on Colab they are all pre-installed);
* ``notebooks/NN_*.ipynb``: the course notebooks, and ``solutions/*.ipynb`` when the
  checkout has solution notebooks;
* ``datasets/README.md``: how to get the real data (also on Colab);
* ``README.md``: how to use the bundle on Colab and on a local machine.

A notebook uploaded to Colab next to the zip (or with the zip in the Drive folder
``config.COLAB_DRIVE_DIR``) installs the kit from it in its bootstrap cell
(``nbtools.bootstrap_cell_source``).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from course_utils.core import config

__all__ = ["BUNDLE_NAME", "build_wheel", "build_bundle", "main_bundle"]

#: File name of the bundle (fixed, so a newer bundle simply replaces the old one).
BUNDLE_NAME = "wafer-course-bundle.zip"
_WHEEL_SOURCES = ("pyproject.toml", "README.md")


def _checkout() -> Path:
    root = config.repo_root()
    if root is None:
        raise FileNotFoundError(
            "The bundle is built from the course repository, but course_utils was installed without it. "
            "Clone the repository, run `pip install -e .` in it and run the command there."
        )
    return root


def build_wheel(output_dir: str | Path, *, root: Path | None = None) -> Path:
    """Build the kit's wheel offline into ``output_dir``; returns the wheel's path.

    The package sources (``pyproject.toml``, ``README.md``, ``course_utils/*.py``) are
    copied to a temporary folder first, so the checkout gets no ``build/`` or
    ``*.egg-info`` folders. Needs setuptools in this Python (no download, no
    build isolation).
    """
    root = root or _checkout()
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="course-wheel-") as tmp:
        src = Path(tmp) / "src"
        # the package with its sub-packages (course_utils.detection), sources only
        shutil.copytree(root / "course_utils", src / "course_utils",
                        ignore=lambda folder, names: [n for n in names if n == "__pycache__" or n.endswith(".pyc")])
        for name in _WHEEL_SOURCES:
            shutil.copy2(root / name, src / name)
        code = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
        proc = subprocess.run([sys.executable, "-c", code, str(output_dir)], cwd=src,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(
                f"Building the kit wheel failed: {last}. It needs setuptools>=77 in this Python "
                "(`pip install setuptools`); no network is used."
            )
    wheel = output_dir / proc.stdout.strip().splitlines()[-1]
    if not wheel.is_file():
        raise RuntimeError(f"setuptools reported {wheel.name} but did not write it to {output_dir}.")
    return wheel


def _bundle_readme(wheel_name: str, notebooks: list[str]) -> str:
    """Text of the bundle's ``README.md`` (how to use it on Colab and locally)."""
    listing = "\n".join(f"- {name}" for name in notebooks)
    drive = config.COLAB_DRIVE_DIR
    return f"""# Wafer-map defect course: course bundle

Contents: the course kit `{wheel_name}`, the notebooks (`notebooks/`, and `solutions/` when
present) and `datasets/README.md` (how to get the real WM-811K file).

## Google Colab (Colab에서 사용하기)

1. Upload a notebook from `notebooks/` to Colab (File > Upload notebook).
2. Give it the kit, either way:
   - upload this zip to the session (Files panel, into `/content`), or
   - once: put this zip on Google Drive in `My Drive/{drive.rsplit("/", 1)[-1]}/` ({drive});
     every session: mount Drive (Files panel > Mount Drive).
3. Run the notebook from the top. Its second cell finds the zip, installs the kit from it
   (torch and torchvision stay as Colab installed them) and prints where the kit came from.

노트북 하나를 Colab에 올리고, 이 zip 파일을 세션(`/content`)에 올리거나 Google Drive의
`{drive}` 폴더에 둔 뒤 Drive를 마운트(Mount)하세요. 노트북의 두 번째 셀이 zip에서 키트를 설치합니다.

## Local machine

`pip install {wheel_name}` in a Python 3.10+ environment, or better clone the repository and run
`pip install -e ".[dev]"` in it. Open the notebooks with JupyterLab.

## Notebooks

{listing}
"""


def build_bundle(output_dir: str | Path = "dist", *, root: Path | None = None) -> Path:
    """Write ``output_dir/wafer-course-bundle.zip`` (see the module docstring); returns its path.

    Raises ``FileNotFoundError`` when run without the repository (the notebooks are
    not part of an installed kit).
    """
    root = root or _checkout()
    notebooks = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    solutions = sorted((root / "solutions").glob("*.ipynb")) if (root / "solutions").is_dir() else []
    if not notebooks:
        raise FileNotFoundError(f"No course notebooks in {root / 'notebooks'}; nothing to bundle.")
    output_dir = Path(output_dir).expanduser().resolve()
    with tempfile.TemporaryDirectory(prefix="course-bundle-") as tmp:
        wheel = build_wheel(tmp, root=root)
        members = [(wheel, wheel.name)]
        members += [(p, f"notebooks/{p.name}") for p in notebooks]
        members += [(p, f"solutions/{p.name}") for p in solutions]
        if (root / "datasets" / "README.md").is_file():
            members.append((root / "datasets" / "README.md", "datasets/README.md"))
        readme = _bundle_readme(wheel.name, [p.name for p in notebooks])

        def write(f) -> None:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("README.md", readme)
                for path, arcname in members:
                    zf.write(path, arcname)

        return config.atomic_write(output_dir / BUNDLE_NAME, write)


def main_bundle(args: argparse.Namespace) -> int:
    """``python -m course_utils bundle --output DIR``: build the bundle, print what it holds."""
    start = time.perf_counter()
    try:
        path = build_bundle(args.output)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    wheel = next(n for n in names if n.endswith(".whl"))
    n_nb = sum(n.startswith("notebooks/") for n in names)
    n_sol = sum(n.startswith("solutions/") for n in names)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {time.perf_counter() - start:.1f} s): "
          f"{wheel}, {n_nb} notebooks, {n_sol} solution notebooks")
    print(f"Put it next to a notebook on Colab (/content) or on Google Drive in {config.COLAB_DRIVE_DIR}.")
    return 0
