"""Where the developers' real samples are (``../shared/data`` beside the clone; one level further up for a
git worktree), and the skip mark for tests that need them. The kit never needs ``../shared``."""
from pathlib import Path

import pytest

from course_utils.classification.calibration import REAL_FILES
from course_utils.detection.calibration import REAL_FOLDERS

REPO = Path(__file__).resolve().parents[1]
#: ../shared beside the clone (CI); ../../shared for a git worktree one level deeper (developers).
DEEPPCB_SAMPLE = next((p / "shared" / "data" / "deeppcb_sample" for p in (REPO.parent, REPO.parent.parent)
                       if (p / "shared" / "data" / "deeppcb_sample").is_dir()),
                      REPO.parent / "shared" / "data" / "deeppcb_sample")
needs_deeppcb_sample = pytest.mark.skipif(not (DEEPPCB_SAMPLE / "PCBData" / "trainval.txt").is_file(),
                                          reason="../shared/data/deeppcb_sample is not available")
#: The folder holding both real WM-811K files (calibration.REAL_FILES: the 270-map sample and the 1,950-map
#: calibration file), or None.
WM811K_DATA = next((p / "shared" / "data" for p in (REPO.parent, REPO.parent.parent)
                    if all((p / "shared" / "data" / name).is_file() for name in REAL_FILES)), None)
needs_wm811k_data = pytest.mark.skipif(WM811K_DATA is None, reason="../shared/data (wm811k_sample.npz, "
                                       "wm811k_calibration.npz) is not available; the kit does not ship real maps")
#: The folder holding both real DeepPCB folders (detection.calibration.REAL_FOLDERS: the 40-pair sample and the
#: 160-pair calibration folder), or None.
DEEPPCB_DATA = next((p / "shared" / "data" for p in (REPO.parent, REPO.parent.parent)
                     if all((p / "shared" / "data" / name / "PCBData" / "trainval.txt").is_file()
                            for name in REAL_FOLDERS)), None)
needs_deeppcb_data = pytest.mark.skipif(DEEPPCB_DATA is None, reason="../shared/data (deeppcb_sample, "
                                        "deeppcb_calibration) is not available; the kit does not ship real pairs")
