"""Shared fixtures: the real dogs-vs-cats sample that sits beside the repository."""
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = Path(os.environ.get("VGGCOURSE_SAMPLE", REPO.parent / "shared" / "data" / "dogscats"))


@pytest.fixture(scope="session", autouse=True)
def private_caches(tmp_path_factory):
    """Feature cache and Keras cache in a temporary folder: tests never touch ~/.cache or ~/.keras.

    Set in os.environ, so subprocesses and notebook kernels started by tests inherit them.
    """
    root = tmp_path_factory.mktemp("caches")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VGGCOURSE_CACHE", str(root / "features"))
        patch.setenv("KERAS_HOME", str(root / "keras"))
        yield root


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
