"""Fixtures every test module may use; shared plain functions are in helpers.py.

The images are `vggcourse.sample`'s stand-in for Kaggle's Dogs vs Cats, written once per run into a
temporary folder: the suite needs nothing beside the repository. `reads_stay_inside` makes every
test fail that opens a file outside the repository, the temporary folders and the Python install.
"""
import os
import shutil
import sys
from pathlib import Path

import pytest

from helpers import OPENED, allowed_roots, copy_sample, outside_reads, record_open

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# `pytest -n auto` runs one worker per core: on a GPU each takes memory as it needs it instead of
# all of it at start (TensorFlow and JAX), so that the workers share the card.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

REPO = Path(__file__).resolve().parents[1]


sys.addaudithook(record_open)


@pytest.fixture(autouse=True)
def reads_stay_inside():
    """Fail a test that opened a file outside the repository and the temporary folders (such as
    a data folder beside the clone, which a fresh clone does not have)."""
    roots = allowed_roots(REPO)
    del OPENED[:]
    yield
    outside = outside_reads(dict.fromkeys(OPENED), REPO, roots)
    del OPENED[:]
    if outside:
        pytest.fail(f"the test read outside the repository and its temporary folders: {outside[:5]}")


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
def dogscats(tmp_path_factory):
    """The stand-in sample (`vggcourse.sample`), written once per run; read-only by convention:
    train/{cats,dogs} 100 + 100, valid/{cats,dogs} 50 + 50, test/unknown 100, test_labels.csv."""
    from vggcourse.sample import write_sample

    return write_sample(tmp_path_factory.mktemp("sample") / "dogscats")


@pytest.fixture
def dogscats_copy(dogscats, tmp_path):
    """A private copy of the sample that a test may write into."""
    dest = tmp_path / "dogscats"
    shutil.copytree(dogscats, dest)
    return dest


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """An empty feature-cache folder (returned) and an empty memory cache, for one test.

    Modules that need it for every test: `pytestmark = pytest.mark.usefixtures("private_cache")`.
    """
    from vggcourse import feature_store

    folder = tmp_path / "feature-cache"
    monkeypatch.setenv("VGGCOURSE_CACHE", str(folder))
    feature_store.clear_memory()
    yield folder
    feature_store.clear_memory()


@pytest.fixture
def small(dogscats, tmp_path):
    """train/ and valid/ with 6 and 3 images per class, a private copy a test may damage."""
    return copy_sample(dogscats, tmp_path / "small")


@pytest.fixture(scope="module")
def small_shared(dogscats, tmp_path_factory):
    """The same, one copy per test module, for tests that only read it."""
    return copy_sample(dogscats, tmp_path_factory.mktemp("small"))


@pytest.fixture
def computed(monkeypatch):
    """The number of images whose features were computed (not found in a cache), per call."""
    from vggcourse import features

    counts = []
    original = features.compute_features

    def counting(body, batches, verbose=1):
        counts.append(len(batches.filepaths))
        return original(body, batches, verbose)

    monkeypatch.setattr(features, "compute_features", counting)
    return counts
