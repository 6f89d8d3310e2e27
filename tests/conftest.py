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


def copy_sample(source, root, counts=(("train", 6), ("valid", 3))):
    """`root/train` and `root/valid` with the first few images per class of `source`, copied."""
    for split, count in counts:
        for name in ("cats", "dogs"):
            (root / split / name).mkdir(parents=True)
            for path in sorted((source / split / name).iterdir())[:count]:
                shutil.copy2(path, root / split / name / path.name)
    return root


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """An empty feature-cache folder (returned) and an empty memory cache, for one test.

    Modules that need it for every test: `pytestmark = pytest.mark.usefixtures("private_cache")`.
    """
    from vggcourse import features

    folder = tmp_path / "feature-cache"
    monkeypatch.setenv("VGGCOURSE_CACHE", str(folder))
    features._memory.clear()
    yield folder
    features._memory.clear()


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


def finetuned_vgg(root, seed=0, dropout=None, shuffle=True, size=(32, 32)):
    """(vgg, batches, val_batches): `Vgg16(weights=None)` after `finetune` on `root`'s train/,
    batches of 4; `dropout` overrides every Dropout rate (0.0 makes runs comparable)."""
    import keras

    from vggcourse.model import Vgg16

    keras.utils.set_random_seed(seed)
    vgg = Vgg16(weights=None, size=size)
    batches = vgg.get_batches(root / "train", batch_size=4, shuffle=shuffle, seed=seed)
    val_batches = vgg.get_batches(root / "valid", batch_size=4, shuffle=False)
    vgg.finetune(batches)
    if dropout is not None:
        for layer in vgg.model.layers:
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = dropout
    return vgg, batches, val_batches
