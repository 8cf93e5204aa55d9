"""pyproject.toml, environment.yml, README and .ci/run agree with each other."""
import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def test_environment_yml_installs_the_same_requirements_as_pyproject():
    project = _pyproject()["project"]
    expected = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    conda = _conda_pip_requirements()
    assert "-e ." in conda, "environment.yml must install the kit itself (- -e .)"
    assert set(conda) - {"-e ."} == expected, (
        "environment.yml's pip list and pyproject.toml's dependencies + dev extra differ: "
        f"only in environment.yml {sorted(set(conda) - {'-e .'} - expected)}, "
        f"only in pyproject.toml {sorted(expected - set(conda))}"
    )


def test_no_pin_to_the_local_torch_wheel():
    deps = _pyproject()["project"]["dependencies"]
    assert not any(d.replace(" ", "").startswith("torch==") for d in deps)
    assert any(d.startswith("torchvision") for d in deps)


def test_course_dependencies_declared():
    names = {re.split(r"[<>=!~\[ ]", d)[0].lower() for d in _pyproject()["project"]["dependencies"]}
    for needed in ["torch", "torchvision", "jupyterlab", "ipykernel", "ipywidgets", "matplotlib", "seaborn",
                   "pandas", "scikit-learn", "papermill", "tqdm"]:
        assert needed in names, f"{needed} missing from pyproject.toml dependencies"


def test_ci_runs_the_readme_blocks_verbatim():
    readme = (ROOT / "README.md").read_text()
    for step in ("setup", "main", "test"):
        assert f"<!-- ci:{step} -->\n```bash\n" in readme, f"README lacks the ci:{step} command block"
    script = ROOT / ".ci" / "run"
    out = subprocess.run(["bash", "-c", f"source <(sed -n '/^block()/,/^}}/p' {script}); block setup; block test"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert 'python -m pip install -e ".[dev]"' in out
    assert "python -m pytest" in out


def test_repository_url_configured_in_one_place():
    from course_utils import config

    hits = []
    for path in ROOT.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".toml", ".yml", ".md", ".cfg"} and ".git" not in path.parts:
            if config.REPO_URL in path.read_text(errors="ignore"):
                hits.append(path.relative_to(ROOT).as_posix())
    assert hits == ["course_utils/config.py"], hits


def test_layout():
    for name in ["notebooks", "course_utils", "datasets", "tests", "benchmarks", "environment.yml",
                 "schedule.md", "README.md", "pyproject.toml", ".ci/run", "datasets/README.md"]:
        assert (ROOT / name).exists(), name
