import pytest
import torch

from course_utils import config, env


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
    assert env.is_colab() is False
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20260101")
    assert env.is_colab() is True


def test_num_workers_is_safe(monkeypatch):
    n = env.default_num_workers()
    assert isinstance(n, int) and n >= 0
    monkeypatch.setattr(env.sys, "platform", "win32")
    monkeypatch.setattr(env, "in_notebook", lambda: True)
    assert env.default_num_workers() == 0
    monkeypatch.setattr(env, "is_colab", lambda: True)
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
    from course_utils import env

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
