"""pyproject.toml, environment.yml, README and .ci/run agree with each other."""
import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _conda_pip_requirements():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    reqs = []
    for line in lines[start + 1:]:
        m = re.match(r"^\s+- (.+)$", line)
        if not m:
            break
        reqs.append(m.group(1).strip())
    return reqs


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement)[0].lower()


def _expanded(extra: str) -> set[str]:
    """Requirement strings of one extra with the kit's own extras (course-utils[...]) expanded."""
    extras = _pyproject()["project"]["optional-dependencies"]
    out = set()
    for req in extras[extra]:
        if _name(req) == "course-utils":
            for inner in re.search(r"\[(.*)\]", req).group(1).split(","):
                out |= _expanded(inner.strip())
        else:
            out.add(req)
    return out


def test_environment_yml_installs_the_same_requirements_as_pyproject():
    project = _pyproject()["project"]
    expected = set(project["dependencies"]) | _expanded("dev")
    conda = _conda_pip_requirements()
    assert "-e ." in conda, "environment.yml must install the kit itself (- -e .)"
    assert len(conda) == len(set(conda)), "environment.yml lists a requirement twice"
    assert set(conda) - {"-e ."} == expected, (
        "environment.yml's pip list and pyproject.toml's dependencies + [dev] (every extra expanded) differ: "
        f"only in environment.yml {sorted(set(conda) - {'-e .'} - expected)}, "
        f"only in pyproject.toml {sorted(expected - set(conda))}"
    )


def test_dependency_tiers():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    runtime = {_name(d) for d in project["dependencies"]}
    # what a notebook imports, all of it pre-installed on Colab; never Jupyter, papermill or optuna
    assert runtime == {"torch", "torchvision", "numpy", "pandas", "matplotlib", "seaborn", "scikit-learn", "scipy",
                       "ipywidgets", "tqdm", "pillow", "opencv-python-headless", "pyyaml"}
    assert {_name(d) for d in extras["course"]} == {"jupyterlab", "ipykernel", "papermill"}
    assert {_name(d) for d in extras["tune"]} == {"optuna"}
    assert {_name(d) for d in extras["yolo"]} == {"ultralytics", "onnx", "onnxslim", "onnxruntime"}
    assert "opencv-python-headless>=4.8" in project["dependencies"]
    assert "pycocotools>=2.0.7" in extras["dev"] and "pytest>=7.4" in extras["dev"]
    # the README's `pip install -e ".[dev]"` installs every tier an instructor needs
    assert {_name(d) for d in _expanded("dev")} >= set().union(
        *({_name(d) for d in extras[e]} for e in ("course", "tune", "yolo")))
    assert {_name(d) for d in extras["seg"]} == {"segmentation-models-pytorch"}
    assert {_name(d) for d in extras["label"]} == {"jupyter-bbox-widget"}
    assert _expanded("all") == (set(extras["course"]) | set(extras["tune"]) | set(extras["yolo"]) | set(extras["seg"])
                                | set(extras["label"]))


def test_env_package_check_is_in_step_with_the_tiers():
    from course_utils.core import env

    project = _pyproject()["project"]
    assert {pip for pip, _ in env.REQUIRED_PACKAGES.values()} == {_name(d) for d in project["dependencies"]}
    for extra, packages in env.EXTRA_PACKAGES.items():
        assert {pip for pip, _ in packages.values()} == {_name(d) for d in project["optional-dependencies"][extra]}


def test_no_pin_to_the_local_torch_wheel():
    deps = _pyproject()["project"]["dependencies"]
    assert not any(d.replace(" ", "").startswith("torch==") for d in deps)
    assert any(d.startswith("torchvision") for d in deps)


def test_ci_runs_the_readme_blocks_verbatim():
    readme = (ROOT / "README.md").read_text()
    for step in ("setup", "main", "test"):
        assert f"<!-- ci:{step} -->\n```bash\n" in readme, f"README lacks the ci:{step} command block"
    script = ROOT / ".ci" / "run"
    out = subprocess.run(["bash", "-c", f"source <(sed -n '/^block()/,/^}}/p' {script}); block setup; block test"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert 'python -m pip install -e ".[dev]"' in out
    assert "python -m pytest" in out


def _files_containing(value: str, suffixes: set[str]) -> list[str]:
    return sorted(path.relative_to(ROOT).as_posix() for path in ROOT.rglob("*")
                  if path.is_file() and path.suffix in suffixes and ".git" not in path.parts
                  and value in path.read_text(errors="ignore"))


def test_repository_url_configured_in_one_place():
    from course_utils.core import config

    assert _files_containing(config.REPO_URL, {".py", ".toml", ".yml", ".md", ".cfg"}) == ["course_utils/core/config.py"]


def test_colab_drive_folder_configured_in_one_place():
    """Code takes the Drive folder from config (the docs may name it)."""
    from course_utils.core import config

    assert _files_containing(config.COLAB_DRIVE_DIR, {".py", ".toml", ".yml", ".cfg"}) == ["course_utils/core/config.py"]


def test_layout():
    for name in ["notebooks", "course_utils", "datasets", "tests", "benchmarks", "environment.yml",
                 "schedule.md", "README.md", "pyproject.toml", ".ci/run", "datasets/README.md"]:
        assert (ROOT / name).exists(), name
