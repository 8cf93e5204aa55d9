"""Environment helpers every notebook needs: device, seeds, reports, package checks.

>>> from course_utils import env
>>> device = env.get_device("auto")      # cuda -> mps -> cpu
>>> env.seed_everything(42)
>>> env.environment_report()             # a pandas table
"""
from __future__ import annotations

import importlib
import os
import platform
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .config import DEVICE_CHOICES  # noqa: E402  (one list of device names, shared with the runner)


def mps_available() -> bool:
    """True when Apple's Metal Performance Shaders backend can be used."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def cuda_unavailable_reason() -> str:
    """Why ``torch.cuda.is_available()`` is False here, and the fix, in one or two sentences."""
    if torch.version.cuda is None:
        return (f"this PyTorch ({torch.__version__}) is a CPU-only build. Install a CUDA build: "
                "pip install torch torchvision --index-url https://download.pytorch.org/whl/cu126 "
                "(see the README's set-up section).")
    if not Path("/proc/driver/nvidia/version").exists() and shutil.which("nvidia-smi") is None:
        return (f"this PyTorch is a CUDA {torch.version.cuda} build, but no NVIDIA driver or GPU is visible on "
                "this machine (no nvidia-smi). Run on a machine with an NVIDIA GPU and its driver "
                "(on Colab: Runtime > Change runtime type > GPU).")
    return (f"this PyTorch is a CUDA {torch.version.cuda} build and an NVIDIA driver is installed, but no GPU "
            f"is usable: check `nvidia-smi` (a driver older than CUDA {torch.version.cuda} needs, or "
            "CUDA_VISIBLE_DEVICES hides the GPUs).")


def get_device(preference: str | torch.device | None = "auto") -> torch.device:
    """Pick the device to train on.

    Parameters
    ----------
    preference : {"auto", "cpu", "cuda", "mps"} or "cuda:N" or torch.device
        ``"auto"`` (or ``None``) takes CUDA if available, else Apple MPS, else CPU.
        An explicit choice that is not available raises ``RuntimeError`` naming
        the fix, instead of failing later inside torch.
    """
    if isinstance(preference, torch.device):
        preference = str(preference)
    pref = (preference or "auto").strip().lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = pref.split(":", 1)[0]
    if kind not in DEVICE_CHOICES:
        raise ValueError(f"device={preference!r} is not one of {DEVICE_CHOICES} (or 'cuda:N').")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device={preference!r} was requested but CUDA is not available: "
                               f"{cuda_unavailable_reason()} Or use device='auto' / 'cpu'.")
        if ":" in pref:
            index = int(pref.split(":", 1)[1])
            if index >= torch.cuda.device_count():
                raise RuntimeError(
                    f"device={preference!r}: only {torch.cuda.device_count()} CUDA device(s) are visible."
                )
    if kind == "mps" and not mps_available():
        raise RuntimeError(
            f"device={preference!r} was requested but Apple MPS is not available "
            "(needs macOS 12.3+ on Apple silicon and an arm64 PyTorch build). Use device='auto' or 'cpu'."
        )
    return torch.device(pref)


def seed_everything(seed: int = 42, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and all GPUs); return a seeded CPU generator.

    With ``deterministic=True`` cuDNN picks deterministic algorithms and stops
    benchmarking (slightly slower on GPU, same numbers on every run). On CPU the
    same seed always gives the same numbers.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    os.environ["PYTHONHASHSEED"] = str(seed)
    return torch.Generator().manual_seed(seed)


def is_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def in_notebook() -> bool:
    """True inside a Jupyter kernel (including papermill runs)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def default_num_workers(max_workers: int = 4) -> int:
    """DataLoader worker count that is safe where the code runs.

    Returns 0 (load in the main process) on Windows and macOS inside notebooks,
    where worker processes are spawned and cannot pickle functions defined in a
    notebook, and on Colab's 2-vCPU machines; elsewhere up to ``max_workers``,
    leaving one core for the training loop. The kit keeps wafer data in memory,
    so 0 workers is also the fastest choice for it.
    """
    cpus = os.cpu_count() or 1
    if sys.platform in ("win32", "darwin") and in_notebook():
        return 0
    if is_colab() or cpus <= 2:
        return 0
    return max(0, min(max_workers, cpus - 1))


def environment_report() -> pd.DataFrame:
    """Table of the software and hardware the notebook runs on.

    Columns ``item`` and ``value``: Python, OS, CPU count, torch, torchvision,
    CUDA (build and availability), cuDNN, each GPU's name and memory, MPS.
    """
    rows: list[tuple[str, str]] = [
        ("Python", sys.version.split()[0]),
        ("OS", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("CPU count", str(os.cpu_count())),
        ("torch", torch.__version__),
    ]
    try:
        import torchvision

        rows.append(("torchvision", torchvision.__version__))
    except ImportError:
        rows.append(("torchvision", "not installed"))
    rows.append(("CUDA build", str(torch.version.cuda) if torch.version.cuda else "none (CPU-only build)"))
    rows.append(("CUDA available", str(torch.cuda.is_available())))
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    rows.append(("cuDNN", str(cudnn) if cudnn else "not available"))
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            rows.append((f"GPU {i}", f"{props.name}, {props.total_memory / 2**30:.1f} GiB, "
                                     f"compute capability {props.major}.{props.minor}"))
    rows.append(("MPS available", str(mps_available())))
    rows.append(("Google Colab", str(is_colab())))
    rows.append(("Selected device", str(get_device("auto"))))
    return pd.DataFrame(rows, columns=["item", "value"])


#: import name -> (pip package, why the course needs it)
REQUIRED_PACKAGES = {
    "torch": ("torch", "tensors, models, training"),
    "torchvision": ("torchvision", "transforms and pretrained models"),
    "numpy": ("numpy", "arrays"),
    "pandas": ("pandas", "tables"),
    "sklearn": ("scikit-learn", "metrics and class weights"),
    "matplotlib": ("matplotlib", "plots"),
    "seaborn": ("seaborn", "heatmaps"),
    "tqdm": ("tqdm", "progress bars"),
    "ipywidgets": ("ipywidgets", "interactive widgets"),
    "papermill": ("papermill", "running notebooks with parameters"),
    "PIL": ("pillow", "image files"),
    "optuna": ("optuna", "hyper-parameter search (notebook 04)"),
}


def check_packages(packages: dict[str, tuple[str, str]] | None = None, verbose: bool = True) -> pd.DataFrame:
    """Check that the course's packages import; print OK/FAIL with the fix.

    Returns a table with columns ``package``, ``status``, ``version``, ``fix``.
    """
    packages = packages or REQUIRED_PACKAGES
    rows = []
    for module, (pip_name, purpose) in packages.items():
        try:
            mod = importlib.import_module(module)
            version = getattr(mod, "__version__", "?")
            rows.append((pip_name, "OK", str(version), ""))
        except Exception as exc:  # ImportError, or a broken install raising something else
            fix = f'pip install "{pip_name}"  # {purpose}; error: {type(exc).__name__}: {exc}'
            rows.append((pip_name, "FAIL", "", fix))
    table = pd.DataFrame(rows, columns=["package", "status", "version", "fix"])
    if verbose:
        for name, status, version, fix in rows:
            print(f"[{status:4}] {name:<14} {version:<12} {fix}")
    return table
