"""Where the developers' real samples are (``../shared/data`` beside the clone; one level further up for a
git worktree), and the skip mark for tests that need them. The kit never needs ``../shared``."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: ../shared beside the clone (CI); ../../shared for a git worktree one level deeper (developers).
DEEPPCB_SAMPLE = next((p / "shared" / "data" / "deeppcb_sample" for p in (REPO.parent, REPO.parent.parent)
                       if (p / "shared" / "data" / "deeppcb_sample").is_dir()),
                      REPO.parent / "shared" / "data" / "deeppcb_sample")
needs_deeppcb_sample = pytest.mark.skipif(not (DEEPPCB_SAMPLE / "PCBData" / "trainval.txt").is_file(),
                                          reason="../shared/data/deeppcb_sample is not available")
