"""`vggcourse.workflow`: what `vggcourse finetune / predict / submit` and scripts/ run.

One `fit` with the checkpoint callback; lr_find, one-cycle, unfreeze and TTA reach their calls.
Real images (6 + 3 per class), 32x32, random weights.
"""
import json
import shutil

import keras
import numpy as np
import pytest

from vggcourse import features
from vggcourse.model import Vgg16
from vggcourse.workflow import finetune_directory, predict_directory


@pytest.fixture(scope="module")
def small(dogscats, tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    for split, count in (("train", 6), ("valid", 3)):
        for name in ("cats", "dogs"):
            (root / split / name).mkdir(parents=True)
            for path in sorted((dogscats / split / name).iterdir())[:count]:
                shutil.copy2(path, root / split / name / path.name)
    return root


@pytest.fixture
def computed(monkeypatch):
    counts = []
    original = features.compute_features

    def counting(body, batches, verbose=1):
        counts.append(len(batches.filepaths))
        return original(body, batches, verbose)

    monkeypatch.setattr(features, "compute_features", counting)
    return counts


def test_one_fit_with_checkpoints_lr_find_and_unfreeze(small, tmp_path, computed):
    features._memory.clear()
    lines = []
    result = finetune_directory(small, epochs=2, batch_size=4, size=32, weights=None,
                                out=tmp_path / "run", unfreeze="fc2", lr_find=True, log=lines.append,
                                cache="memory")
    assert computed == [12, 6]  # one feature pass over train and valid for finder, fit and analysis
    assert len(result.history) == 2 and {"loss", "val_accuracy"} <= set(result.history[0])
    assert json.loads((tmp_path / "run" / "history.json").read_text()) == result.history
    for name in ("best.keras", "last.keras", "last.weights.h5", "history.png", "lr_find.png"):
        assert (tmp_path / "run" / name).is_file(), name
    assert result.lr_suggestion is not None and 1e-7 <= result.lr_suggestion <= 10
    assert any("lr_find: suggested learning rate" in line for line in lines)
    last = Vgg16.load(result.last_model)
    assert last.classes == ["cats", "dogs"]
    assert [l.name for l in last.model.layers if l.trainable_weights] == ["fc2", "predictions"]
    assert not list((tmp_path / "run").glob(".*tmp*"))  # every write renamed into place


def test_one_cycle_and_tta_reach_their_calls(small, tmp_path, monkeypatch):
    seen = {}
    original_cycle, original_test = Vgg16.fit_one_cycle, Vgg16.test

    def fit_one_cycle(self, *args, **kwargs):
        seen["max_lr"] = kwargs["max_lr"]
        return original_cycle(self, *args, **kwargs)

    def test(self, path, batch_size=8, tta=0, gen=None):
        seen["tta"] = tta
        return original_test(self, path, batch_size=batch_size, tta=tta, gen=gen)

    monkeypatch.setattr(Vgg16, "fit_one_cycle", fit_one_cycle)
    monkeypatch.setattr(Vgg16, "test", test)
    result = finetune_directory(small, epochs=1, batch_size=4, size=32, weights=None, lr=0.003,
                                out=tmp_path / "run", one_cycle=True, cache="memory")
    assert seen == {"max_lr": 0.003}
    batches, probs, vgg = predict_directory(result.best_model, small / "valid", batch_size=4, tta=2)
    assert seen["tta"] == 2 and probs.shape == (6, 2) and batches.filenames[0].startswith("cats/")
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_bad_values_are_named(small, tmp_path):
    with pytest.raises(ValueError, match="`lr` must be a positive number. Received: lr=-1"):
        finetune_directory(small, lr=-1, size=32, weights=None, out=tmp_path / "run")
    with pytest.raises(ValueError, match="`from_layer` must name a layer"):
        finetune_directory(small, unfreeze="nope", size=32, weights=None, out=tmp_path / "run")
