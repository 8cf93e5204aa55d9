"""Environment helpers every notebook needs: device, seeds, reports, package checks.

>>> from course_utils.core import env
>>> device = env.get_device("auto")      # cuda -> mps -> cpu
>>> env.seed_everything(42)
>>> env.environment_report()             # a pandas table
"""
from __future__ import annotations

import importlib
import importlib.metadata as metadata
import importlib.util
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from course_utils.core import config
from course_utils.core.config import DEVICE_CHOICES  # one list of device names, shared with the runner

__all__ = ["mps_available", "nvidia_gpu_present", "get_device", "seed_everything", "in_notebook",
           "default_num_workers", "keep_freed_memory", "environment_report", "REQUIRED_PACKAGES", "EXTRA_PACKAGES", "check_packages",
           "require_extra", "required_distributions", "torch_build_advice", "CONSTRAINTS_FILE", "write_constraints",
           "read_constraints", "version_drift"]


def mps_available() -> bool:
    """True when Apple's Metal Performance Shaders backend can be used."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def nvidia_gpu_present() -> bool:
    """True when an NVIDIA driver is visible (``nvidia-smi`` or ``/proc/driver/nvidia/version``),
    even if this torch cannot use it."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def cuda_unavailable_reason() -> str:
    """Why ``torch.cuda.is_available()`` is False here, and the fix, in one or two sentences."""
    if torch.version.cuda is None:
        return (f"this PyTorch ({torch.__version__}) is a CPU-only build. Install a CUDA build: "
                "pip install torch torchvision --index-url https://download.pytorch.org/whl/cu126 "
                "(see the README's set-up section).")
    if not nvidia_gpu_present():
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
        the fix, instead of failing later inside torch; another type (e.g. the
        number 0 from a notebook parameter) raises ``TypeError``.
    Taught in: 00_setup_cuda"""
    if preference is not None and not isinstance(preference, (str, torch.device)):
        raise TypeError(f"device must be 'auto', 'cpu', 'cuda', 'mps' or a torch.device, got {preference!r}.")
    if isinstance(preference, torch.device):
        preference = str(preference)
    pref = (preference or "auto").strip().lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, _, index = pref.partition(":")
    if kind not in DEVICE_CHOICES:
        raise ValueError(f"device={preference!r} is not one of {DEVICE_CHOICES} (or 'cuda:N').")
    if ":" in pref and not index.isdigit():
        raise ValueError(f"device={preference!r}: a device number is written 'cuda:N' with N = 0, 1, ... "
                         "(e.g. 'cuda:0').")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device={preference!r} was requested but CUDA is not available: "
                               f"{cuda_unavailable_reason()} Or use device='auto' / 'cpu'.")
        if index and int(index) >= torch.cuda.device_count():
            raise RuntimeError(f"device={preference!r}: only {torch.cuda.device_count()} CUDA device(s) are visible.")
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
    Taught in: 00_setup_cuda"""
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
    Taught in: 00_setup_cuda"""
    cpus = os.cpu_count() or 1
    if sys.platform in ("win32", "darwin") and in_notebook():
        return 0
    if config.in_colab() or cpus <= 2:
        return 0
    return max(0, min(max_workers, cpus - 1))


_MALLOC_TUNED = False


def keep_freed_memory() -> bool:
    """Let glibc's allocator keep freed memory for the next batch instead of returning it to the system.

    By default glibc serves every allocation above 128 KiB-32 MiB (its adaptive mmap threshold)
    with a fresh ``mmap`` and gives it back on ``free``; a CPU training step allocates and frees
    activations of that size hundreds of times, and every new mapping costs page faults that the
    kernel zeroes page by page. Measured on the course CNN (2 threads, batch 128, 2,048 images):
    3.3 million minor page faults and 6.3 s of kernel time for 17.2 s of user time; with freed
    memory kept, 0.17 million faults and 0.3 s. ``fit`` calls this on CPU. It raises glibc's mmap
    and trim thresholds (``mallopt``), once per process; returns whether it could (``False`` off
    Linux/glibc, or when ``MALLOC_MMAP_THRESHOLD_`` is already set in the environment).
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return True
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # musl and other C libraries
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameter numbers
    limit = 1 << 30  # 1 GiB; glibc caps the mmap threshold at HEAP_MAX/2 (32 MiB on 64-bit) anyway
    _MALLOC_TUNED = bool(libc.mallopt(m_mmap_threshold, limit)) and bool(libc.mallopt(m_trim_threshold, limit))
    return _MALLOC_TUNED


def environment_report() -> pd.DataFrame:
    """Table of the software and hardware the notebook runs on.

    Columns ``item`` and ``value``: Python, OS, CPU count, torch, torchvision,
    CUDA (build and availability), cuDNN, each GPU's name and memory, MPS.
    Taught in: 00_setup_cuda"""
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
    rows.append(("Google Colab", str(config.in_colab())))
    rows.append(("Selected device", str(get_device("auto"))))
    return pd.DataFrame(rows, columns=["item", "value"])


#: The kit's runtime dependencies (pyproject.toml ``dependencies``: what notebooks import,
#: all pre-installed on Google Colab): import name -> (pip package, why the course needs it).
REQUIRED_PACKAGES = {
    "torch": ("torch", "tensors, models, training"),
    "torchvision": ("torchvision", "transforms and pretrained models"),
    "numpy": ("numpy", "arrays"),
    "pandas": ("pandas", "tables"),
    "matplotlib": ("matplotlib", "plots"),
    "seaborn": ("seaborn", "heatmaps"),
    "sklearn": ("scikit-learn", "metrics and class weights"),
    "scipy": ("scipy", "image statistics (ndimage)"),
    "ipywidgets": ("ipywidgets", "interactive widgets"),
    "tqdm": ("tqdm", "progress bars"),
    "PIL": ("pillow", "image files"),
    "cv2": ("opencv-python-headless", "image processing (project #2)"),
    "yaml": ("pyyaml", "data set descriptions (YOLO data.yaml)"),
}

#: The kit's optional tiers (pyproject.toml extras): extra -> {import name: (pip package, why)}.
EXTRA_PACKAGES = {
    "course": {
        "jupyterlab": ("jupyterlab", "the notebook editor (instructors, local machines; never on Colab)"),
        "ipykernel": ("ipykernel", "the Python kernel the runner starts"),
        "papermill": ("papermill", "running notebooks with parameters (python -m course_utils run)"),
    },
    "tune": {"optuna": ("optuna", "hyper-parameter search (notebook 04)")},
    "site": {
        "sphinx": ("sphinx", "the course website's builder (python -m course_utils site)"),
        "myst_nb": ("myst-nb", "notebooks and MyST Markdown as Sphinx pages"),
        "furo": ("furo", "the website's theme (responsive, no remote assets)"),
        "mathjax": ("django-static-mathjax", "MathJax 3 files, served from the site (offline)"),
        "websocket": ("websocket-client", "the browser test's DevTools connection to headless Chromium"),
    },
    "yolo": {
        "ultralytics": ("ultralytics", "YOLO detection models (project #2; AGPL-3.0)"),
        "onnx": ("onnx", "model export"),
        "onnxslim": ("onnxslim", "slimming exported models"),
        "onnxruntime": ("onnxruntime", "running exported models"),
    },
    "seg": {"segmentation_models_pytorch": ("segmentation-models-pytorch", "library U-Net (notebook 19)")},
    "label": {"jupyter_bbox_widget": ("jupyter-bbox-widget", "the box labeller widget (notebook 22)")},
}


def _import_status(module: str, *, import_it: bool = True, distribution: str | None = None) -> tuple[bool, str]:
    """(importable, version or the error) for one module.

    ``import_it=False`` only looks the module up (``find_spec``) and reads the installed
    version of ``distribution`` (its pip name; default ``module``): optional heavy stacks such as
    ultralytics patch other libraries when imported.
    """
    if not import_it:
        if importlib.util.find_spec(module) is None:
            return False, f"ModuleNotFoundError: No module named {module!r}"
        try:
            return True, metadata.version(distribution or module)
        except metadata.PackageNotFoundError:
            return True, "?"
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken install raising something else
        return False, f"{type(exc).__name__}: {exc}"
    return True, str(getattr(mod, "__version__", "?"))


def check_packages(packages: dict[str, tuple[str, str]] | None = None, verbose: bool = True,
                   extras: tuple[str, ...] = ()) -> pd.DataFrame:
    """Check that the course's packages import; print OK/FAIL with the fix.

    ``packages`` defaults to the runtime set (``REQUIRED_PACKAGES``); a missing one is
    ``FAIL``. Each name in ``extras`` (keys of ``EXTRA_PACKAGES``) adds that optional
    tier; its missing packages are ``MISSING`` with the extra's install command.
    Returns a table with columns ``package``, ``status``, ``version``, ``fix``.
    Taught in: 00_setup_cuda"""
    unknown = [e for e in extras if e not in EXTRA_PACKAGES]
    if unknown:
        raise ValueError(f"extras={unknown!r}: unknown extra; choose from {sorted(EXTRA_PACKAGES)}.")
    groups = [(None, packages or REQUIRED_PACKAGES)] + [(e, EXTRA_PACKAGES[e]) for e in extras]
    rows = []
    for extra, group in groups:
        for module, (pip_name, purpose) in group.items():
            ok, detail = _import_status(module, import_it=extra is None, distribution=pip_name)
            if ok:
                rows.append((pip_name, "OK", detail, ""))
            elif extra is None:
                rows.append((pip_name, "FAIL", "", f'pip install "{pip_name}"  # {purpose}; error: {detail}'))
            else:
                rows.append((pip_name, "MISSING", "", f'pip install -e ".[{extra}]"  # optional: {purpose}'))
    table = pd.DataFrame(rows, columns=["package", "status", "version", "fix"])
    if verbose:
        for name, status, version, fix in rows:
            print(f"[{status:4}] {name:<22} {version:<12} {fix}")
    return table


def _kit_requirements(extra: str) -> list[str]:
    """Requirement strings of kit extra ``extra`` from the installed metadata (pip names
    from ``EXTRA_PACKAGES`` when the kit runs from a checkout without metadata)."""
    try:
        declared = metadata.requires("course-utils") or []
    except metadata.PackageNotFoundError:
        declared = []
    marker = f'extra == "{extra}"'
    found = [r.split(";", 1)[0].strip() for r in declared if marker in r.replace("'", '"')]
    return found or [pip for pip, _ in EXTRA_PACKAGES[extra].values()]


def require_extra(extra: str) -> None:
    """Make sure the packages of the kit's optional tier ``extra`` import.

    On Google Colab the missing ones are pip-installed (torch and torchvision stay as
    installed). Elsewhere a missing package raises ``ImportError`` naming the install
    command (``pip install -e ".[extra]"``). Call it before importing e.g. ``optuna``.
    Taught in: 04_training_hyperparameters"""
    if extra not in EXTRA_PACKAGES:
        raise ValueError(f"extra={extra!r}: unknown extra; choose from {sorted(EXTRA_PACKAGES)}.")
    missing = [m for m in EXTRA_PACKAGES[extra] if importlib.util.find_spec(m) is None]
    if not missing:
        return
    if not config.in_colab():
        raise ImportError(
            f"{', '.join(missing)} not installed: this notebook needs the kit's [{extra}] extra. "
            f'Run `pip install -e ".[{extra}]"` in the repository root (or `pip install {" ".join(_kit_requirements(extra))}`), '
            "then restart the kernel."
        )
    # Colab keeps its own torch and torchvision (pinned as installed); what it lacks is pinned to the
    # versions the kit was tested with; what it has is left to pip, as Colab installed it.
    installed = {d.metadata["Name"].lower().replace("_", "-") for d in metadata.distributions()}
    pins = [f"{d}=={metadata.version(d)}" for d in ("torch", "torchvision") if importlib.util.find_spec(d) is not None]
    pins += [f"{name}=={version}" for name, version in read_constraints().items()
             if name not in installed and name not in ("torch", "torchvision")]
    pins = "\n".join(pins)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(pins)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-color", "--disable-pip-version-check",
           "-c", f.name, *_kit_requirements(extra)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()] or ["(no output)"]
        error = next((line for line in lines if line.startswith("ERROR:")), lines[-1])
        raise ImportError(f"Installing the [{extra}] extra on Colab failed: {error} "
                          "Check the session's internet connection and run this cell again.")
    importlib.invalidate_caches()
    print(f"installed the kit's [{extra}] extra: {' '.join(_kit_requirements(extra))}")


def required_distributions(names) -> list[metadata.Distribution]:
    """The installed distributions ``names`` (pip names, extras allowed: ``"course-utils[dev]"``)
    need, themselves included, recursively; environment markers and requested extras are
    evaluated. A requirement that is not installed is skipped."""
    from packaging.requirements import Requirement

    seen, found = set(), {}
    todo = [(req.name, frozenset(req.extras)) for req in map(Requirement, names)]
    while todo:
        name, extras = todo.pop()
        key = name.lower().replace("_", "-")
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            envs = [{"extra": e} for e in extras] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(e) for e in envs):
                todo.append((req.name, frozenset(req.extras)))
    return list(found.values())


def _torch_cuda_distributions() -> list[metadata.Distribution]:
    """Installed distributions that torch pulls in only for CUDA (nvidia-*, cuda-*, triton)."""
    return [d for d in required_distributions(["torch"])
            if d.metadata["Name"].lower().startswith(("nvidia-", "cuda-", "triton"))]


def torch_build_advice() -> str | None:
    """Advice when torch is a CUDA build on a machine without an NVIDIA GPU, else ``None``.

    Such a build carries several GB of CUDA libraries that can never be used (wasted
    disk, slower installs). The advice names their size (GB, from the installed file
    records) and the one-line fix: the CPU build from PyTorch's CPU wheel index.
    """
    if not torch.version.cuda or torch.cuda.is_available() or nvidia_gpu_present():
        return None
    dists = _torch_cuda_distributions()
    size = sum((f.size or 0) for d in dists for f in (d.files or []))
    names = sorted(d.metadata["Name"] for d in dists)
    uninstall = " ".join(["torch", "torchvision", *names])
    return (
        f"torch {torch.__version__} is a CUDA {torch.version.cuda} build, but this machine has no NVIDIA GPU: "
        f"its CUDA libraries ({len(names)} packages, {size / 1e9:.1f} GB) are wasted disk.\n"
        f"Fix (CPU build): pip uninstall -y {uninstall} && "
        f"pip install {_tested('torch')} {_tested('torchvision')} --index-url https://download.pytorch.org/whl/cpu"
    )


def _tested(name: str) -> str:
    """``name==version`` as pinned in the constraints file (plain ``name`` without it)."""
    version = read_constraints().get(name)
    return f"{name}=={version}" if version else name


#: The versions the kit was tested with (CI's set-up): ``name==version`` lines, written by
#: ``python -m course_utils env --write-constraints`` and used by the README's set-up command
#: (``pip install -e ".[dev]" -c course_utils/constraints.txt``).
CONSTRAINTS_FILE = Path(__file__).resolve().parents[1] / "constraints.txt"


def _public_version(version: str) -> str:
    """``2.14.1+cpu`` -> ``2.14.1``: a pin without the local label matches every build of that release."""
    return version.split("+", 1)[0]


def write_constraints(path: str | Path | None = None) -> Path:
    """Pin every installed distribution that ``course-utils[dev]`` needs (recursively) to its version.

    One ``name==version`` line per distribution, sorted, local labels dropped (``+cpu``, ``+cu126``),
    the kit itself left out; a header says how the file was made. Run it in the environment whose
    course run and tests passed. Returns the path (written atomically).
    """
    dists = {d.metadata["Name"].lower().replace("_", "-"): _public_version(d.version)
             for d in required_distributions(["course-utils[dev]"])}
    dists.pop("course-utils", None)
    if "torch" not in dists:
        raise RuntimeError("course-utils[dev] is not installed here (its requirements were not found): "
                           'run `pip install -e ".[dev]"` first, then write the constraints.')
    header = ("# Versions the course kit was tested with (CI set-up, the course run and the tests passed).\n"
              "# Written by: python -m course_utils env --write-constraints\n"
              f"# on Python {platform.python_version()}, {platform.system()} {platform.machine()}.\n"
              '# Used by: python -m pip install -e ".[dev]" -c course_utils/constraints.txt\n')
    text = header + "".join(f"{name}=={version}\n" for name, version in sorted(dists.items()))
    path = Path(path or CONSTRAINTS_FILE)
    config.atomic_write(path, lambda f: f.write(text.encode()))
    return path


def read_constraints(path: str | Path | None = None) -> dict[str, str]:
    """``{distribution name (lower case, dashes): tested version}`` from a constraints file
    (empty when the file is absent, e.g. a kit installed without it). Default: ``CONSTRAINTS_FILE``."""
    path = Path(path or CONSTRAINTS_FILE)
    if not path.is_file():
        return {}
    pins = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not name.strip() or not version.strip():
            raise ValueError(f"{path}, line {number}: {line!r} is not 'name==version'; "
                             "rewrite the file with `python -m course_utils env --write-constraints`.")
        pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def version_drift(path: str | Path | None = None) -> pd.DataFrame:
    """Installed packages whose version differs from the tested one.

    Columns ``package``, ``tested``, ``installed`` (``"not installed"`` is not listed: the package
    check reports missing packages) and ``fix``. Empty when everything matches the tested set
    (local build labels such as ``+cpu`` are ignored).
    """
    rows = []
    for name, tested in read_constraints(path).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        if _public_version(installed) != tested:
            rows.append((name, tested, installed, f'pip install "{name}=={tested}"'))
    return pd.DataFrame(rows, columns=["package", "tested", "installed", "fix"])
