"""Shared test set-up: headless matplotlib, quiet threads."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")


import pytest  # noqa: E402

from course_utils.classification.wafers import CLASS_NAMES
from py2pickle import make_frame, write_wm811k_pickle  # noqa: E402


@pytest.fixture
def one_thread():
    """Torch on one CPU thread for the test: tiny tensors gain nothing from threads, and idle OpenMP threads
    thrash on a loaded 2-core machine. The previous thread count is restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """An empty config.data_dir() for the test."""
    home = tmp_path / "datasets"
    monkeypatch.setenv("COURSE_DATA_DIR", str(home))
    return home


@pytest.fixture
def legacy_file(tmp_path):
    """A small file in the format of the real LSWMD.pkl, and the table written into it."""
    frame = make_frame()
    path = write_wm811k_pickle(frame, tmp_path / "LSWMD_small.pkl")
    return path, frame


def expected_label(cell) -> int:
    """Label index of a WM-811K label cell ([['Loc']] or an empty array for an unlabeled wafer)."""
    return CLASS_NAMES.index(cell[0, 0]) if cell.size else -1
