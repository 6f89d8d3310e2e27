"""The frozen-body feature cache behind `Vgg16.fit`, `predict` and `test` (vggcourse/features.py:
the cached model and its `plan`; the split and the store have tests of their own).

Real images from the shared sample (a few per class, copied), Vgg16 at 32x32 with random weights.
"""
import os
import shutil
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from helpers import finetuned_vgg, write_broken_png
from vggcourse import feature_store, features
from vggcourse.image import ImageDataGenerator
from vggcourse.model import Vgg16
from vggcourse.split import split

SIZE = (32, 32)


pytestmark = pytest.mark.usefixtures("private_cache")  # an empty cache for every test (conftest)

def _finetuned(small, seed=0, dropout=None, shuffle=True):
    return finetuned_vgg(small, seed, dropout, shuffle, SIZE)


@pytest.fixture(scope="module")
def shared(small_shared):
    """(vgg, batches, val_batches) on the module's copy, built once: for the tests that only check
    what is cached and when. Fitting moves the head, never the frozen body, so the cache key (body
    weights, files) is the same in every test; each test still starts with an empty cache."""
    return finetuned_vgg(small_shared, 0, None, True, SIZE)


def test_boundary_is_the_first_dropout_after_finetune(shared):
    vgg, batches, _ = shared
    boundary = features.cache_boundary(vgg.model)
    assert vgg.model.layers[boundary].name == "fc1_dropout"
    body, head = split(vgg.model)
    assert [layer.name for layer in head.layers] == ["fc1_dropout", "fc2", "fc2_dropout",
                                                     "predictions"]
    assert all(a is b for a, b in zip(head.layers, vgg.model.layers[boundary:]))  # shared, no copy
    assert body.layers[-1] is vgg.model.get_layer("fc1")


def test_untrained_or_unfrozen_models_are_not_cached(small):
    vgg = Vgg16(weights=None, size=SIZE)  # every conv layer trainable: nothing frozen to cache
    assert split(vgg.model) is None
    vgg.model.compile(optimizer="adam", loss="categorical_crossentropy")
    batches = vgg.get_batches(small / "train", batch_size=4)
    assert features.fit(vgg.model, batches) is None


def test_cached_fit_matches_the_plain_fit(small, computed):
    histories, heads = [], []
    for cache in (True, False):
        vgg, batches, val_batches = _finetuned(small, dropout=0.0, shuffle=False)
        histories.append(vgg.fit(batches, val_batches, nb_epoch=2, cache=cache, verbose=0).history)
        heads.append(vgg.model.get_layer("predictions").get_weights())
    assert computed == [12, 6]  # only the cached run computed features: train, then valid
    assert set(histories[0]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key in histories[0]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-4, atol=1e-5)
    for cached, plain in zip(*heads):
        np.testing.assert_allclose(cached, plain, rtol=1e-4, atol=1e-5)


def test_second_fit_and_disk_cache_reuse_features(small, computed, private_cache):
    vgg, batches, val_batches = _finetuned(small)
    history = vgg.fit(batches, val_batches, nb_epoch=2, verbose=0)
    assert len(history.history["val_loss"]) == 2
    vgg.fit(batches, val_batches, verbose=0)
    feature_store.clear_memory()  # a new session: only the disk is left
    vgg.fit(batches, val_batches, verbose=0)
    assert computed == [12, 6]
    assert len(list(private_cache.glob("*.npz"))) == 2
    assert not list(private_cache.glob("*.tmp"))


def test_touching_or_rewriting_a_file_invalidates(small, computed):
    vgg, batches, val_batches = _finetuned(small)
    vgg.fit(batches, verbose=0)
    path = batches.filepaths[0]
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touch
    vgg.fit(batches, verbose=0)
    Image.open(batches.filepaths[1]).transpose(Image.FLIP_LEFT_RIGHT).save(batches.filepaths[1])
    batches = vgg.get_batches(small / "train", batch_size=4)
    vgg.fit(batches, verbose=0)
    assert computed == [12, 12, 12]


def test_changed_weights_or_size_invalidate(small, computed):
    vgg, batches, _ = _finetuned(small)
    vgg.fit(batches, verbose=0)
    conv = vgg.model.get_layer("block1_conv1")
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel * 1.01, bias])
    vgg.fit(batches, verbose=0)
    keras.utils.set_random_seed(0)
    bigger = Vgg16(weights=None, size=(48, 48))
    big_batches = bigger.get_batches(small / "train", batch_size=4)
    bigger.finetune(big_batches)
    bigger.fit(big_batches, verbose=0)
    assert computed == [12, 12, 12]


def test_interpolation_changes_the_key(shared, small_shared):
    vgg, batches, _ = shared
    body, _ = split(vgg.model)
    digest = feature_store.layers_digest(body.layers)

    def key(**kwargs):
        return feature_store.feature_key(vgg.get_batches(small_shared / "train", **kwargs), digest)

    assert key(interpolation="nearest") != key(interpolation="bilinear")
    assert key(interpolation="nearest", batch_size=4) == key(interpolation="nearest", batch_size=8)
    assert feature_store.feature_key(batches, digest) == key(interpolation=batches.interpolation)


def test_a_leftover_temporary_file_is_never_read(shared, computed, private_cache):
    vgg, batches, _ = shared
    body, _ = split(vgg.model)
    key = feature_store.feature_key(batches, feature_store.layers_digest(body.layers))
    private_cache.mkdir(parents=True)
    good = np.zeros((12, 4096), np.float32)
    np.save(private_cache / f"{key}.abc123.tmp", good)  # what a killed run leaves behind
    vgg.fit(batches, verbose=0)
    assert computed == [12]
    cached = np.load(private_cache / f"{key}.npz")["features"]
    assert np.abs(cached).sum() > 0  # the real features, not the leftover zeros


def test_a_crash_mid_write_leaves_no_cache(small, computed, private_cache, monkeypatch):
    vgg, batches, _ = _finetuned(small)
    real_save = np.savez

    def dies_halfway(file, **arrays):
        file.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt  # the user stops the notebook while the cache is written

    monkeypatch.setattr(feature_store.np, "savez", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        vgg.fit(batches, verbose=0)
    assert not list(private_cache.iterdir())  # no .npz, and the temporary file is gone
    monkeypatch.setattr(feature_store.np, "savez", real_save)
    feature_store.clear_memory()
    vgg.fit(batches, verbose=0)
    assert computed == [12, 12]
    assert len(list(private_cache.glob("*.npz"))) == 1


def test_a_truncated_cache_file_is_recomputed(shared, computed, private_cache):
    vgg, batches, _ = shared
    vgg.fit(batches, verbose=0)
    (path,) = private_cache.glob("*.npz")
    path.write_bytes(path.read_bytes()[:1000])
    feature_store.clear_memory()
    vgg.fit(batches, verbose=0)
    assert computed == [12, 12]


def test_cache_false_runs_the_whole_model(small, computed, monkeypatch):
    vgg, batches, val_batches = _finetuned(small)
    calls = []
    monkeypatch.setattr(keras.Sequential, "fit", lambda *a, **k: calls.append(k) or "plain")  # Keras' own fit
    assert vgg.fit(batches, val_batches, nb_epoch=3, cache=False) == "plain"
    assert calls[0]["epochs"] == 3 and calls[0]["validation_data"] is val_batches
    assert computed == []


def test_augmentation_turns_the_cache_off_with_one_line(small, computed, capsys, monkeypatch):
    vgg = Vgg16(weights=None, size=SIZE)
    gen = ImageDataGenerator(horizontal_flip=True)
    batches = vgg.get_batches(small / "train", gen=gen, batch_size=4)
    vgg.finetune(batches)
    monkeypatch.setattr(keras.Sequential, "fit", lambda *a, **k: "plain")  # Keras' own fit
    assert vgg.fit(batches, verbose=1) == "plain"
    assert computed == []
    lines = [line for line in capsys.readouterr().out.splitlines() if "augment" in line]
    assert len(lines) == 1


def test_shuffled_epochs_see_a_fresh_order(small):
    x = np.arange(10, dtype=np.float32)[:, None]
    batches = features._FeatureBatches(x, x, batch_size=4, shuffle=True, seed=1)
    orders = []
    for _ in range(3):
        orders.append(np.concatenate([batches[i][0][:, 0] for i in range(len(batches))]))
        batches.on_epoch_end()
    assert all(sorted(order) == list(range(10)) for order in orders)
    assert not np.array_equal(orders[0], orders[1]) or not np.array_equal(orders[1], orders[2])
    assert [len(batches[i][0]) for i in range(len(batches))] == [4, 4, 2]


def test_test_and_predict_reuse_the_cache(small, computed):
    vgg, batches, val_batches = _finetuned(small)
    vgg.fit(batches, val_batches, verbose=0)
    test_batches, predictions = vgg.test(small / "valid", batch_size=4)
    assert computed == [12, 6]  # valid features came from fit
    plain = vgg.model.predict(test_batches, verbose=0)
    np.testing.assert_allclose(predictions, plain, rtol=1e-4, atol=1e-6)
    assert predictions.shape == (6, 2)
    again = features.predict(vgg.model, val_batches)
    np.testing.assert_allclose(again, plain, rtol=1e-4, atol=1e-6)
    assert computed == [12, 6]
    assert features.predict(vgg.model, batches) is None  # shuffled batches: order would not match


def test_cached_then_plain_fit_share_the_optimizer(small):
    vgg, batches, val_batches = _finetuned(small)
    vgg.fit(batches, val_batches, verbose=0)
    steps = int(vgg.model.optimizer.iterations)
    vgg.fit(batches, val_batches, cache=False, verbose=0)
    assert steps == 3 and int(vgg.model.optimizer.iterations) == 6  # one Adam, state carried on


def test_a_cached_fit_keeps_no_reference_to_the_model(small):
    import gc
    import weakref

    vgg, batches, val_batches = finetuned_vgg(small)
    vgg.fit(batches, val_batches, nb_epoch=1, verbose=0)
    assert features.cache_boundary(vgg.model) > 0  # the fit above ran on the cache
    gone = weakref.ref(vgg.model)
    del vgg
    gc.collect()
    assert gone() is None, "the feature cache's split kept the fitted model alive"


# -- damaged cache files and files that break after the scan (issue 12: 1, 2, 8) -------------------

def _cache_files(folder):
    return sorted(folder.glob("*.npz"))


@pytest.mark.parametrize("damage", ["empty", "zeros", "random", "wrong_width"])
def test_a_damaged_cache_file_is_named_recomputed_and_replaced(shared, computed, private_cache,
                                                               capsys, damage):
    vgg, batches, _ = shared
    vgg.fit(batches, verbose=0)
    [path] = _cache_files(private_cache)
    good = np.load(path)["features"]
    raw = path.read_bytes()
    if damage == "empty":
        path.write_bytes(b"")
    elif damage in ("zeros", "random"):  # header intact, payload overwritten
        body = np.zeros(len(raw) - 200, np.uint8) if damage == "zeros" else \
            np.random.default_rng(0).integers(0, 256, len(raw) - 200, dtype=np.uint8)
        path.write_bytes(raw[:100] + body.tobytes() + raw[-100:])
    else:
        with open(path, "wb") as file:
            np.savez(file, features=np.zeros((good.shape[0], good.shape[1] + 1), np.float32))
    feature_store.clear_memory()
    vgg.fit(batches, verbose=0)
    assert computed == [12, 12]  # computed again, not trained on the damaged rows
    out = capsys.readouterr().out
    assert f"the feature cache file {path} is unreadable" in out and "replacing it" in out
    np.testing.assert_array_equal(np.load(path)["features"], good)  # replaced by a good file


def test_a_file_broken_after_the_scan_is_left_out_not_trained_black(small, computed):
    vgg, batches, val_batches = _finetuned(small)
    broken = batches.filepaths[3]
    with open(broken, "wb") as file:  # overwritten with garbage after the scan
        file.write(b"not a jpeg at all" * 10)
    with pytest.warns(UserWarning, match=os.path.basename(broken)):
        history = vgg.fit(batches, val_batches, verbose=0)
    stored = feature_store._memory[next(iter(feature_store._memory))]
    assert np.isnan(stored[3]).all() and np.isfinite(np.delete(stored, 3, axis=0)).all()
    assert np.isfinite(history.history["loss"]).all()
    probs = features.predict_in_order(vgg.model, batches)
    assert np.isnan(probs[3]).all() and np.isfinite(np.delete(probs, 3, axis=0)).all()
    plain = features.predict_in_order(vgg.model, batches, cache=False)
    np.testing.assert_allclose(plain, probs, rtol=1e-4, atol=1e-6, equal_nan=True)


def test_a_warm_cache_still_knows_which_files_failed(small, computed):
    broken = write_broken_png(small / "train" / "cats" / "a.png")  # the scan keeps it, decoding fails
    vgg, batches, _ = _finetuned(small, shuffle=False)
    assert batches.filenames[0] == "cats/a.png"
    with pytest.warns(UserWarning, match=os.path.basename(broken)):
        features.predict_in_order(vgg.model, batches)
    again = vgg.get_batches(small / "train", batch_size=4, shuffle=False)  # a new scan, the same files
    for memory in (True, False):
        if not memory:
            feature_store.clear_memory()
            again = vgg.get_batches(small / "train", batch_size=4, shuffle=False)
        with pytest.warns(UserWarning, match=os.path.basename(broken)):
            probs = features.predict_in_order(vgg.model, again)
        assert again.failed == ["cats/a.png"] and np.isnan(probs[0]).all()
    assert computed == [13]  # both from the cache


def test_a_file_deleted_after_the_scan_does_not_break_the_key(small, computed, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(small, copy)
    keras.utils.set_random_seed(0)
    vgg = Vgg16(weights=None, size=SIZE)
    batches = vgg.get_batches(copy / "train", batch_size=4, shuffle=False)
    vgg.finetune(batches)
    os.remove(batches.filepaths[0])
    with pytest.warns(UserWarning):
        vgg.fit(batches, verbose=0)
    assert computed == [12]


# -- what the fallback paths print, and fit keywords that cannot go with batches -------------------

def test_the_plain_paths_print_one_line_per_epoch_into_a_pipe(shared, capsys, monkeypatch):
    """Output that is not a terminal (capsys here, `> log` for a learner) gets no progress bars,
    on the paths that run the whole model too: cache=False, arrays, evaluate."""
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)  # not a notebook
    vgg, batches, val_batches = shared
    vgg.fit(batches, val_batches, nb_epoch=2, cache=False)
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.strip()][::2] == ["Epoch 1/2", "Epoch 2/2"]
    assert len(lines) == 4 and all("val_loss" in line for line in lines[1::2]), lines
    x, _ = batches[0]
    vgg.model.predict(x)
    vgg.model.evaluate(val_batches, cache=False)
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 2, out
    assert "\r" not in out + "".join(lines) and "\x1b" not in out + "".join(lines)


def test_array_only_fit_keywords_with_batches_are_refused_before_any_fallback_line(shared, capsys, computed):
    vgg, batches, val_batches = shared
    for cache in (True, False):
        with pytest.raises(ValueError, match=r"`sample_weight` cannot be passed with batches.*class_weight"):
            vgg.model.fit(batches, validation_data=val_batches, sample_weight=np.ones(12), cache=cache)
        with pytest.raises(ValueError, match=r"`validation_split` works on arrays only.*validation_data=val_batches"
                                             r".*Received: validation_split=0.2"):
            vgg.model.fit(batches, validation_split=0.2, cache=cache)
    assert capsys.readouterr().out == "" and computed == []


# -- plan: the one decision behind every cached path (a test per reason) --------------------------

def _tiny(first_trainable=False, top_trainable=True, compiled=True):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="bottom"),
                              keras.layers.Dense(2, name="top")])
    model.get_layer("bottom").trainable = first_trainable
    model.get_layer("top").trainable = top_trainable
    if compiled:
        model.compile(optimizer="adam", loss="mse")
    return model


def test_plan_serves_labelled_folder_batches_that_do_not_augment(shared):
    vgg, batches, val_batches = shared
    how = features.plan(vgg.model, batches, "fit", validation_data=val_batches,
                        keywords={"verbose": 0, "callbacks": []})
    assert isinstance(how, features.Plan) and (how.body, how.head) == split(vgg.model)
    assert isinstance(features.plan(vgg.model, val_batches, "predict"), features.Plan)
    assert isinstance(features.plan(vgg.model, val_batches, "evaluate", keywords={"steps": 1}), features.Plan)


@pytest.mark.parametrize("model, reason", [
    (lambda: _tiny(first_trainable=True), "nothing frozen"),
    (lambda: _tiny(top_trainable=False), "nothing trains"),
    (lambda: _tiny(compiled=False), "not compiled"),
])
def test_plan_refuses_a_model_without_a_frozen_bottom_and_a_trained_top(shared, model, reason):
    _, batches, _ = shared
    how = features.plan(model(), batches, "fit")
    assert how == features.NoCache(reason)  # nothing worth a line: the whole model runs quietly


def test_plan_refuses_when_cache_is_false(shared):
    vgg, batches, _ = shared
    assert features.plan(vgg.model, batches, "fit", cache=False) == features.NoCache("cache=False")


def test_plan_refuses_what_is_not_folder_batches(shared, small_shared):
    vgg, _, _ = shared
    x = np.zeros((2, *SIZE, 3), np.float32)
    assert features.plan(vgg.model, x, "predict") == features.NoCache("not folder batches")
    for keyword in ("y", "batch_size"):  # an array-style call, whatever x is
        how = features.plan(vgg.model, vgg.get_batches(small_shared / "valid", shuffle=False), "fit",
                            keywords={keyword: 1})
        assert how == features.NoCache("not folder batches")


def test_plan_refuses_unlabelled_batches_for_fit_and_evaluate_not_for_predict(shared, small_shared):
    vgg, _, _ = shared
    unlabelled = vgg.get_batches(small_shared / "valid", shuffle=False, class_mode=None)
    for purpose in ("fit", "evaluate"):
        assert features.plan(vgg.model, unlabelled, purpose) == features.NoCache("unlabelled")
    assert isinstance(features.plan(vgg.model, unlabelled, "predict"), features.Plan)


def test_plan_refuses_to_predict_shuffled_batches(shared):
    vgg, batches, _ = shared
    assert batches.shuffle and features.plan(vgg.model, batches, "predict") == features.NoCache("shuffled")


def test_plan_refuses_augmenting_batches_with_a_line_for_fit(shared, small_shared):
    vgg, batches, _ = shared
    augmenting = vgg.get_batches(small_shared / "valid", gen=ImageDataGenerator(horizontal_flip=True),
                                 shuffle=False)
    for x, validation in ((augmenting, None), (batches, augmenting)):
        how = features.plan(vgg.model, x, "fit", validation_data=validation)
        assert how.reason == "augments" and "augment images" in how.line
    assert features.plan(vgg.model, augmenting, "predict") == features.NoCache("augments")


def test_plan_refuses_a_keyword_the_cache_cannot_honour_naming_it(shared):
    vgg, batches, val_batches = shared
    how = features.plan(vgg.model, batches, "fit", keywords={"sample_weight_mode": "x"})
    assert how.reason == "keyword" and "fit(sample_weight_mode=...)" in how.line
    assert features.plan(vgg.model, val_batches, "predict", keywords={"steps": 1}) == features.NoCache("keyword")


def test_plan_refuses_validation_data_that_is_not_labelled_folder_batches(shared):
    vgg, batches, _ = shared
    arrays = (np.zeros((2, *SIZE, 3), np.float32), np.zeros((2, 2), np.float32))
    how = features.plan(vgg.model, batches, "fit", validation_data=arrays)
    assert how.reason == "validation_data" and "validation_data is not labelled folder batches" in how.line


def test_training_head_is_the_head_only_while_a_cached_fit_trains(small):
    vgg, batches, _ = _finetuned(small)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(features.training_head(self.model))

    vgg.fit(batches, verbose=0, callbacks=[Record()])
    assert seen and all(head is split(vgg.model)[1] for head in seen)
    assert features.training_head(vgg.model) is None
