"""Shared fixtures: the real dogs-vs-cats sample that sits beside the repository."""
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = Path(os.environ.get("VGGCOURSE_SAMPLE", REPO.parent / "shared" / "data" / "dogscats"))


@pytest.fixture(scope="session")
def dogscats():
    """The shared sample, read-only: train/{cats,dogs}, valid/{cats,dogs}, test/unknown."""
    if not (SAMPLE / "train").is_dir():
        pytest.fail(f"the shared sample is missing at {SAMPLE}; set VGGCOURSE_SAMPLE to its folder")
    return SAMPLE


@pytest.fixture
def dogscats_copy(dogscats, tmp_path):
    """A private copy of the sample that a test may write into."""
    dest = tmp_path / "dogscats"
    shutil.copytree(dogscats, dest)
    return dest
