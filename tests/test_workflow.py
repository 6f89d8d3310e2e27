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






@pytest.mark.slow
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
    for name in ("best.keras", "last.keras", "history.png", "lr_find.png"):
        assert (tmp_path / "run" / name).is_file(), name
    assert result.lr_suggestion is not None and 1e-7 <= result.lr_suggestion <= 10
    assert len(found) == 1 and result.lr_suggestion == found[0].suggestion
    assert any("lr_find: suggested learning rate" in line for line in lines)
    last = Vgg16.load(result.last_model)
    assert last.classes == ["cats", "dogs"]
    assert [l.name for l in last.model.layers if l.trainable_weights] == ["fc2", "predictions"]
    assert "training fc2 and every layer above it" in lines
    assert not list((tmp_path / "run").glob(".*tmp*"))  # every write renamed into place


@pytest.mark.slow
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


def _refusals(small, tmp_path):
    """(call, message) for the argument checks of the public functions: each refuses before any work."""
    import keras

    from vggcourse import demo, layers, optimizers, training
    from vggcourse.arrays import onehot, save_array
    from vggcourse.decode import decode_image
    from vggcourse.image import ImageDataGenerator, load_image
    from vggcourse.plotting import plots

    model_file = tmp_path / "model.keras"
    model_file.write_bytes(b"")
    photo = next((small / "valid" / "cats").iterdir())
    gen = ImageDataGenerator()
    return {
        "flow_from_directory batch_size=True": (lambda: gen.flow_from_directory(small / "valid", batch_size=True),
                                                "`batch_size` must be a whole number >= 1. Received: batch_size=True"),
        "flow batch_size=2.0": (lambda: gen.flow(np.zeros((2, 4, 4, 3)), batch_size=2.0), "Received: batch_size=2.0"),
        "flow_from_directory seed=True": (lambda: gen.flow_from_directory(small / "valid", seed=True),
                                          "`seed` must be a whole number >= 0, or None. Received: seed=True"),
        "finetune_directory epochs=2.5": (lambda: finetune_directory(small, epochs=2.5, out=tmp_path / "r"),
                                          "`epochs` must be a whole number >= 1. Received: epochs=2.5"),
        "finetune_directory batch_size=True": (lambda: finetune_directory(small, batch_size=True, out=tmp_path / "r"),
                                               "`batch_size` must be a whole number >= 1. Received: batch_size=True"),
        "finetune_directory size=16": (lambda: finetune_directory(small, size=16, out=tmp_path / "r"),
                                       "`size` must be a whole number from 32 to 1024. Received: size=16"),
        "predict_directory batch_size=True": (lambda: predict_directory(model_file, small / "valid", batch_size=True),
                                              "`batch_size` must be a whole number >= 1. Received: batch_size=True"),
        "run_demo epochs=2.5": (lambda: demo.run_demo(tmp_path / "demo", epochs=2.5),
                                "run_demo: `epochs` must be a whole number >= 1. Received: epochs=2.5"),
        "vgg_ft(True)": (lambda: layers.vgg_ft(True), "vgg_ft: `out_dim` must be a whole number >= 1. Received: out_dim=True"),
        "insert_layer index=True": (lambda: layers.insert_layer(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]),
                                                                keras.layers.Identity(), True), "Received: index=True"),
        "lr_find num_it=2.5": (lambda: training.lr_find(None, None, num_it=2.5), "`num_it` must be a whole number .*Received: num_it=2.5"),
        "OneCycle total_steps=True": (lambda: training.OneCycle(1e-3, True), "`total_steps` must be .*Received: total_steps=True"),
        "ParamScheduler steps_per_epoch=2.5": (lambda: training.ParamScheduler({}, steps_per_epoch=2.5),
                                               "`steps_per_epoch` must be .*Received: steps_per_epoch=2.5"),
        "set_learning_rate lr=True": (lambda: training.set_learning_rate(layers.vgg_ft(2, weights=None, size=(32, 32)), True),
                                      "`lr` must be a positive number. Received: lr=True"),
        "Adam decay=True": (lambda: optimizers.Adam(decay=True), "`decay` must be a number >= 0. Received: decay=True"),
        "save_array chunk_bytes=True": (lambda: save_array(tmp_path / "a.npy", np.zeros(3), chunk_bytes=True),
                                        "save_array: `chunk_bytes` must be .*Received: chunk_bytes=True"),
        "onehot num_classes=2.5": (lambda: onehot([0, 1], num_classes=2.5), "Received: num_classes=2.5"),
        "plots rows=True": (lambda: plots([np.zeros((2, 2, 3))], rows=True), "plots: `rows` must be .*Received: rows=True"),
        "load_image target_size=(True, 32)": (lambda: load_image(photo, target_size=(True, 32)),
                                              r"`target_size` must be \(height, width\).*Received: target_size=\(True, 32\)"),
        "decode_image target_size=(2.5, 3)": (lambda: decode_image(photo, target_size=(2.5, 3)),
                                              r"Received: target_size=\(2.5, 3\)"),
        "ImageDataGenerator rotation_range=True": (lambda: ImageDataGenerator(rotation_range=True),
                                                   "`rotation_range` must be a number >= 0. Received: rotation_range=True"),
    }


CASES = ["flow_from_directory batch_size=True", "flow batch_size=2.0", "flow_from_directory seed=True",
         "finetune_directory epochs=2.5", "finetune_directory batch_size=True", "finetune_directory size=16",
         "predict_directory batch_size=True", "run_demo epochs=2.5", "vgg_ft(True)", "insert_layer index=True",
         "lr_find num_it=2.5", "OneCycle total_steps=True", "ParamScheduler steps_per_epoch=2.5",
         "set_learning_rate lr=True", "Adam decay=True", "save_array chunk_bytes=True", "onehot num_classes=2.5",
         "plots rows=True", "load_image target_size=(True, 32)", "decode_image target_size=(2.5, 3)",
         "ImageDataGenerator rotation_range=True"]


@pytest.mark.parametrize("case", CASES)
def test_every_argument_check_is_a_user_error_naming_the_argument(small, tmp_path, case):
    from vggcourse.errors import UserInputError

    call, message = _refusals(small, tmp_path)[case]
    with pytest.raises(UserInputError, match=message):
        call()
    assert not (tmp_path / "r").exists() and not (tmp_path / "demo").exists()  # refused before any work


def test_a_flat_folder_labelled_by_file_names_trains_and_resumes_on_the_same_split(dogscats, tmp_path):
    """Kaggle's flat train/ folder (cat.0.jpg, dog.0.jpg, ...): `labels_re` labels it, `valid_pct`
    splits it with the run's seed, recorded in the run, so a resumed run validates on the same images
    (`split_valid` is a function of the table, the fraction and the seed)."""
    import os

    from vggcourse.errors import UserInputError

    flat = tmp_path / "train"
    flat.mkdir()
    for cls, prefix in (("cats", "cat"), ("dogs", "dog")):
        for k, f in enumerate(sorted((dogscats / "train" / cls).glob("*.jpg"))[:8]):
            os.symlink(f, flat / f"{prefix}.{k}.jpg")
    run = dict(batch_size=4, size=32, weights=None, out=tmp_path / "run", labels_re=r"^(cat|dog)\.", valid_pct=0.25,
               log=lambda line: None, cache="memory")
    first = finetune_directory(flat, epochs=1, **run)
    assert Vgg16.load(first.last_model).classes == ["cat", "dog"]
    settings = json.loads((tmp_path / "run" / "run.json").read_text())["settings"]
    assert settings["labels_re"] == r"^(cat|dog)\." and settings["valid_pct"] == 0.25 and isinstance(settings["seed"], int)
    again = finetune_directory(flat, epochs=2, resume=True, **run)
    assert again.resumed_at == 1 and len(again.history) == 2
    # a split whose validation part has one class: it is still labelled in the training classes' order
    from vggcourse import labels, workflow

    table = labels.from_name_re(flat, r"^(cat|dog)\.")
    seed = next(k for k in range(1000) if labels.split_valid(table, 0.25, k)[1]["class"].nunique() == 1)
    settings = dict(batch_size=4, seed=seed, labels_re=r"^(cat|dog)\.", valid_pct=0.25)
    batches, val_batches = workflow._batches(Vgg16(weights=None, size=(32, 32)), flat, settings)
    assert val_batches.class_indices == batches.class_indices == {"cat": 0, "dog": 1}
    with pytest.raises(UserInputError, match="`valid_pct` splits a folder labelled by `labels_re`"):
        finetune_directory(flat, valid_pct=0.2, out=tmp_path / "other", weights=None)
