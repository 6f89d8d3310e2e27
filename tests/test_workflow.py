"""`vggcourse.workflow`: what `vggcourse finetune / predict / submit` and scripts/ run.

One `fit` with the checkpoint callback; lr_find, one-cycle, unfreeze and TTA reach their calls.
Real images (6 + 3 per class), 32x32, random weights.
"""
import json

import numpy as np
import pytest

from vggcourse import feature_store
from vggcourse.model import Vgg16
from vggcourse.workflow import finetune_directory, predict_directory


@pytest.fixture(scope="module")
def small(small_shared):
    return small_shared






def test_one_fit_with_checkpoints_lr_find_and_unfreeze(small, tmp_path, computed, monkeypatch):
    feature_store.clear_memory()
    found = []
    original_lr_find = Vgg16.lr_find

    def lr_find(self, batches, **kwargs):  # 20 steps, not the default 100: the same run, quicker
        found.append(original_lr_find(self, batches, **{"num_it": 20, **kwargs}))
        return found[-1]

    monkeypatch.setattr(Vgg16, "lr_find", lr_find)
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
    assert len(found) == 1 and result.lr_suggestion == found[0].suggestion
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


def test_a_single_class_tree_is_refused_naming_it(small_shared, tmp_path):
    import shutil

    from vggcourse.model import Vgg16 as Model

    only = tmp_path / "one" / "train"
    shutil.copytree(small_shared / "train" / "cats", only / "cats")
    vgg = Model(weights=None, size=(32, 32))
    with pytest.raises(ValueError, match=r"has 1 class folder\(s\) \(cats\); a classifier needs at least two"):
        vgg.finetune(vgg.get_batches(only))


@pytest.mark.parametrize("bad", [{"unfreeze": "nope"}, {"size": 16}, {"weights": "missing.h5"}])
def test_an_input_error_leaves_no_output_folder(small, tmp_path, bad):
    kwargs = {"size": 32, "weights": None, **bad}
    with pytest.raises(ValueError if "weights" not in bad else FileNotFoundError):
        finetune_directory(small, out=tmp_path / "run", **kwargs)
    assert not (tmp_path / "run").exists()


def test_an_output_path_that_is_a_file_is_refused_before_the_model_is_built(small, tmp_path, monkeypatch):
    import vggcourse.workflow as workflow

    monkeypatch.setattr(workflow, "_build_vgg", lambda *a: pytest.fail("built a model first"))
    (tmp_path / "run").write_text("notes")
    with pytest.raises(ValueError, match=r"`out` .*run' is a file"):
        finetune_directory(small, size=32, weights=None, out=tmp_path / "run")
    assert (tmp_path / "run").read_text() == "notes"
