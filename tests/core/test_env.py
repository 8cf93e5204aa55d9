import pytest
import torch

from course_utils.core import config, env


def test_auto_device_is_available_and_cpu_is_always_accepted():
    dev = env.get_device("auto")
    assert dev.type in {"cpu", "cuda", "mps"}
    assert env.get_device("cpu") == torch.device("cpu")
    assert env.get_device(None) == dev
    assert env.get_device(torch.device("cpu")).type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_explicit_cuda_without_cuda_explains_the_fix():
    with pytest.raises(RuntimeError, match="CUDA is not available: this PyTorch"):
        env.get_device("cuda")


@pytest.mark.skipif(env.mps_available(), reason="MPS present")
def test_explicit_mps_without_mps_explains():
    with pytest.raises(RuntimeError, match="MPS is not available"):
        env.get_device("mps")


def test_unknown_device_names_the_choices():
    with pytest.raises(ValueError, match="'tpu' is not one of"):
        env.get_device("tpu")


def test_a_device_of_another_type_or_a_bad_number_is_refused_with_the_fix():
    # a notebook parameter given as a number (papermill -p DEVICE 0) is not read as "auto" or a GPU index
    for wrong in (0, 1, 1.5, ["cpu"]):
        with pytest.raises(TypeError) as info:
            env.get_device(wrong)
        assert str(info.value) == f"device must be 'auto', 'cpu', 'cuda', 'mps' or a torch.device, got {wrong!r}."
    for wrong in ("cuda:x", "cuda:", "cpu:first"):
        with pytest.raises(ValueError, match=rf"^device='{wrong}': a device number is written 'cuda:N'"):
            env.get_device(wrong)
    assert env.get_device(torch.device("cpu", 0)) == torch.device("cpu", 0)   # "cpu:0" stays accepted


def test_seed_everything_reproduces_python_numpy_and_torch():
    import random

    import numpy as np

    env.seed_everything(7)
    a = (random.random(), np.random.rand(), torch.rand(3), torch.nn.Linear(4, 2).weight.detach().clone())
    gen = env.seed_everything(7)
    b = (random.random(), np.random.rand(), torch.rand(3), torch.nn.Linear(4, 2).weight.detach().clone())
    assert a[0] == b[0] and a[1] == b[1]
    assert torch.equal(a[2], b[2]) and torch.equal(a[3], b[3])
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert isinstance(gen, torch.Generator)
    env.seed_everything(8)
    assert not torch.equal(torch.rand(3), b[2])


@pytest.mark.parametrize("bad", [-1, 1.5, "42"])
def test_seed_must_be_a_non_negative_integer(bad):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        env.seed_everything(bad)


def test_environment_report_lists_the_essentials():
    report = env.environment_report()
    assert list(report.columns) == ["item", "value"]
    items = set(report["item"])
    for needed in ["Python", "OS", "CPU count", "torch", "torchvision", "CUDA build", "CUDA available",
                   "cuDNN", "MPS available", "Selected device"]:
        assert needed in items
    assert report.set_index("item").loc["torch", "value"] == torch.__version__


def test_check_packages_reports_ok_and_fail_with_fix(capsys):
    table = env.check_packages({"json": ("json", "std lib"), "no_such_module_xyz": ("no-such-pkg", "demo")})
    assert list(table["status"]) == ["OK", "FAIL"]
    assert 'pip install "no-such-pkg"' in table.loc[1, "fix"]
    printed = capsys.readouterr().out
    assert "[OK  ] json" in printed and "[FAIL] no-such-pkg" in printed


def test_course_packages_all_import():
    assert (env.check_packages(verbose=False)["status"] == "OK").all()


def test_colab_detection(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert config.in_colab() is False
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20260101")
    assert config.in_colab() is True


def test_num_workers_is_safe(monkeypatch):
    n = env.default_num_workers()
    assert isinstance(n, int) and n >= 0
    monkeypatch.setattr(env.sys, "platform", "win32")
    monkeypatch.setattr(env, "in_notebook", lambda: True)
    assert env.default_num_workers() == 0
    monkeypatch.setattr(env.config, "in_colab", lambda: True)
    monkeypatch.setattr(env.sys, "platform", "linux")
    assert env.default_num_workers() == 0


def test_paths(tmp_path, monkeypatch):
    assert config.repo_root() is not None
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    assert config.data_dir() == tmp_path / "data" and (tmp_path / "data").is_dir()
    assert config.output_dir("x", tmp_path / "o") == tmp_path / "o"
    default = config.output_dir("zz_test_dir")
    assert default == config.repo_root() / "outputs" / "zz_test_dir"
    default.rmdir()


def test_cuda_unavailable_message_says_what_is_missing(monkeypatch):
    from course_utils.core import env

    monkeypatch.setattr(env.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(env.torch.version, "cuda", "12.6")
    monkeypatch.setattr(env.shutil, "which", lambda name: None)
    monkeypatch.setattr(env.Path, "exists", lambda self: False)
    with pytest.raises(RuntimeError) as err:
        env.get_device("cuda")
    text = str(err.value)
    assert "CUDA 12.6 build" in text and "no NVIDIA driver or GPU is visible" in text
    assert "Install a CUDA build" not in text and "notebook 00" not in text
    monkeypatch.setattr(env.torch.version, "cuda", None)
    with pytest.raises(RuntimeError, match="CPU-only build. Install a CUDA build"):
        env.get_device("cuda")
    monkeypatch.setattr(env.torch.version, "cuda", "12.6")
    monkeypatch.setattr(env.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    with pytest.raises(RuntimeError, match="driver is installed, but no GPU is usable"):
        env.get_device("cuda")


def test_check_packages_reports_missing_extras_without_failing(monkeypatch, capsys):
    monkeypatch.setitem(env.EXTRA_PACKAGES, "zz_demo", {"no_such_module_xyz": ("no-such-pkg", "demo")})
    table = env.check_packages({"json": ("json", "std lib")}, extras=("zz_demo",))
    assert list(table["status"]) == ["OK", "MISSING"]
    assert table.loc[1, "fix"] == 'pip install -e ".[zz_demo]"  # optional: demo'
    with pytest.raises(ValueError, match=r"extras=\['nope'\]: unknown extra"):
        env.check_packages(extras=("nope",))


def test_an_extras_version_is_read_from_its_distribution_not_its_module_name(monkeypatch):
    # yaml is installed by the distribution "PyYAML", sklearn by "scikit-learn": the module names are not theirs
    from importlib import metadata

    monkeypatch.setitem(env.EXTRA_PACKAGES, "zz_demo", {"yaml": ("PyYAML", "demo"), "sklearn": ("scikit-learn", "demo"),
                                                        "json": ("no-such-distribution-xyz", "demo")})
    table = env.check_packages({"os": ("os", "std lib")}, extras=("zz_demo",), verbose=False)
    assert list(table["status"]) == ["OK"] * 4
    assert list(table["version"])[1:] == [metadata.version("PyYAML"), metadata.version("scikit-learn"), "?"]


def test_require_extra_outside_colab_names_the_install_command(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setitem(env.EXTRA_PACKAGES, "zz_demo", {"no_such_module_xyz": ("no-such-pkg", "demo")})
    with pytest.raises(ImportError, match=r'no_such_module_xyz not installed: .*\[zz_demo\] extra\. '
                                          r'Run `pip install -e "\.\[zz_demo\]"`.*pip install no-such-pkg'):
        env.require_extra("zz_demo")
    monkeypatch.setitem(env.EXTRA_PACKAGES, "zz_ok", {"json": ("json", "std lib")})
    assert env.require_extra("zz_ok") is None  # everything importable: nothing to do
    with pytest.raises(ValueError, match="extra='nope': unknown extra"):
        env.require_extra("nope")


def _fake_cuda_build(monkeypatch, *, cuda: str | None, available: bool, driver: bool):
    monkeypatch.setattr(env.torch.version, "cuda", cuda)
    monkeypatch.setattr(env.torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(env, "nvidia_gpu_present", lambda: driver)


def test_cuda_build_without_gpu_is_flagged_with_the_cpu_wheel_fix(monkeypatch):
    _fake_cuda_build(monkeypatch, cuda="12.6", available=False, driver=False)
    advice = env.torch_build_advice()
    first, fix = advice.splitlines()
    assert first.startswith(f"torch {torch.__version__} is a CUDA 12.6 build, but this machine has no NVIDIA GPU")
    assert "GB) are wasted disk" in first
    assert fix.startswith("Fix (CPU build): pip uninstall -y torch torchvision")
    assert fix.endswith(f"&& pip install torch=={env.read_constraints()['torch']} "
                           f"torchvision=={env.read_constraints()['torchvision']} --index-url https://download.pytorch.org/whl/cpu")
    # the size is the sum of the installed CUDA-only distributions' file records
    dists = env._torch_cuda_distributions()
    gb = sum((f.size or 0) for d in dists for f in (d.files or [])) / 1e9
    assert f"({len(dists)} packages, {gb:.1f} GB)" in first
    assert all(d.metadata["Name"].lower().startswith(("nvidia-", "cuda-", "triton")) for d in dists)
    assert all(d.metadata["Name"] in fix for d in dists)


@pytest.mark.parametrize("cuda, available, driver", [(None, False, False), ("12.6", True, True), ("12.6", False, True)])
def test_no_cuda_advice_for_cpu_builds_or_machines_with_a_gpu(monkeypatch, cuda, available, driver):
    _fake_cuda_build(monkeypatch, cuda=cuda, available=available, driver=driver)
    assert env.torch_build_advice() is None


def test_env_command_prints_the_advice(monkeypatch, capsys):
    from course_utils.__main__ import main

    _fake_cuda_build(monkeypatch, cuda="12.6", available=False, driver=False)
    main(["env"])
    out = capsys.readouterr().out
    assert "is a CUDA 12.6 build, but this machine has no NVIDIA GPU" in out
    assert "--index-url https://download.pytorch.org/whl/cpu" in out
    assert "[OK  ] torch" in out


def test_colab_data_dir_prefers_the_drive_folder_holding_lswmd(tmp_path, monkeypatch):
    drive = tmp_path / "MyDrive" / "wafer-course"
    monkeypatch.setattr(config, "COLAB_DRIVE_DIR", str(drive))
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_test")
    assert config.data_dir() == config.repo_root() / "datasets"  # Drive folder without the file
    drive.mkdir(parents=True)
    (drive / config.WM811K_FILENAME).write_bytes(b"\x80")
    assert config.data_dir() == drive
    assert config.cache_dir() == drive / "cache" and (drive / "cache").is_dir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "explicit"))
    assert config.data_dir() == tmp_path / "explicit"
    monkeypatch.delenv("COURSE_DATA_DIR")
    monkeypatch.delenv("COLAB_RELEASE_TAG")
    assert config.data_dir() == config.repo_root() / "datasets"  # not on Colab: the Drive folder is not used


def test_cache_dir_falls_back_to_a_writable_folder(tmp_path, monkeypatch):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(read_only))
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setattr(config.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    real = config._is_writable
    monkeypatch.setattr(config, "_is_writable", lambda folder: not str(folder).startswith(str(read_only)) and real(folder))
    assert config.cache_dir() == tmp_path / "tmp" / "wafer-course-cache"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "mine"))
    assert config.cache_dir() == tmp_path / "mine" and (tmp_path / "mine").is_dir()


def test_wm811k_download_help_gives_kaggle_colab_and_data_path(tmp_path):
    text = config.wm811k_download_help(tmp_path / "LSWMD.pkl")
    assert "https://www.kaggle.com/datasets/qingyi/wm811k-wafer-map" in text
    assert f"put LSWMD.pkl (2.1 GB) at {tmp_path / 'LSWMD.pkl'}" in text
    assert "DATA_PATH" in text
    assert f"upload LSWMD.pkl once to the Google Drive folder {config.COLAB_DRIVE_DIR}" in text
    assert "drive.mount('/content/drive')" in text
    assert "!kaggle datasets download -d qingyi/wm811k-wafer-map -p /content/datasets --unzip" in text
    assert "DATA_SOURCE='synthetic'" in text


# ---------------------------------------------------------------------------
# The tested versions (course_utils/constraints.txt) and the drift check
# ---------------------------------------------------------------------------
def test_constraints_pin_the_dev_closure_as_installed(tmp_path):
    from importlib import metadata

    path = env.write_constraints(tmp_path / "c.txt")
    pins = env.read_constraints(path)
    for name in ("torch", "torchvision", "ultralytics", "onnxruntime", "onnx", "papermill", "pytest", "numpy",
                 "pycocotools", "optuna", "jupyterlab", "packaging"):  # direct and transitive requirements of [dev]
        assert pins[name] == metadata.version(name).split("+")[0], name
    assert "course-utils" not in pins and "# Written by: python -m course_utils env --write-constraints" in path.read_text()
    assert env.version_drift(path).empty


def test_shipped_constraints_cover_the_kit_and_match_what_ci_installs():
    pins = env.read_constraints()
    assert env.CONSTRAINTS_FILE.name == "constraints.txt" and env.CONSTRAINTS_FILE.parent.name == "course_utils"
    for name in ("torch", "torchvision", "ultralytics", "onnxruntime", "onnx", "onnxslim", "papermill", "pytest",
                 "pycocotools", "optuna", "scikit-learn", "opencv-python-headless"):
        assert name in pins, f"{name} is not pinned: run `python -m course_utils env --write-constraints`"
    # The README's set-up command installs with these constraints, so CI tests exactly these versions.
    readme = (config.repo_root() / "README.md").read_text()
    assert 'python -m pip install -e ".[dev]" -c course_utils/constraints.txt' in readme


def test_version_drift_names_the_package_and_the_fix(tmp_path, capsys, monkeypatch):
    from importlib import metadata

    real = metadata.version("numpy")
    path = tmp_path / "c.txt"
    path.write_text(f"# comment\nnumpy==0.0.1\ntorch=={metadata.version('torch').split('+')[0]}\n"
                    "not-a-real-package-xyz==1.0\n")
    drift = env.version_drift(path)
    assert drift.to_dict("records") == [{"package": "numpy", "tested": "0.0.1", "installed": real,
                                         "fix": 'pip install "numpy==0.0.1"'}]
    monkeypatch.setattr(env, "CONSTRAINTS_FILE", path)
    from course_utils.__main__ import main

    main(["env"])
    out = capsys.readouterr().out
    assert "1 package(s) differ from the versions the kit was tested with" in out and "0.0.1" in out
    assert '-c ' in out and "keep Colab's torch" in out


def test_bad_constraints_line_names_file_line_and_fix(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("torch==2.0\nnumpy>=1.2\n")
    with pytest.raises(ValueError, match=r"c.txt, line 2: 'numpy>=1.2' is not 'name==version'.*--write-constraints"):
        env.read_constraints(path)
    assert env.read_constraints(tmp_path / "absent.txt") == {}


def test_colab_extra_install_pins_only_what_colab_lacks(monkeypatch, tmp_path):
    """On Colab, require_extra pins torch/torchvision as installed and the missing packages to the tested
    versions; packages Colab already has are left to pip (no downgrade fights)."""
    import subprocess as sp

    seen = {}

    def fake_run(cmd, capture_output, text):
        seen["pins"] = open(cmd[cmd.index("-c") + 1]).read().split()
        return sp.CompletedProcess(cmd, 0, "", "")

    pins = tmp_path / "c.txt"
    pins.write_text("torch==0.0.1\noptuna==3.6.1\nnumpy==0.0.2\nsome-new-dependency==9.9\n")
    monkeypatch.setattr(env, "CONSTRAINTS_FILE", pins)
    monkeypatch.setattr(env.config, "in_colab", lambda: True)
    monkeypatch.setattr(env.importlib.util, "find_spec",
                        lambda name, *a: None if name == "optuna" else object())
    monkeypatch.setattr(env.subprocess, "run", fake_run)
    monkeypatch.setattr(env, "read_constraints", lambda path=pins: {"torch": "0.0.1", "optuna": "3.6.1",
                                                                     "numpy": "0.0.2", "some-new-dependency": "9.9"})
    from importlib import metadata

    real_dists = list(metadata.distributions())
    monkeypatch.setattr(env.metadata, "distributions",
                        lambda: [d for d in real_dists if d.metadata["Name"].lower() != "optuna"])
    env.require_extra("tune")
    torch_pin = f"torch=={metadata.version('torch')}"
    assert torch_pin in seen["pins"] and "optuna==3.6.1" in seen["pins"] and "some-new-dependency==9.9" in seen["pins"]
    assert not any(p.startswith("numpy==") for p in seen["pins"])  # Colab's numpy stays Colab's
