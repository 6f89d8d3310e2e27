"""Fine-tuning as practitioners do it today (vggcourse/training.py, tta.py, and Vgg16's methods):
callbacks that see the whole model, unfreezing, layer-wise rates, lr_find, one-cycle, TTA.

Real images from the shared sample (6 + 3 per class, copied), Vgg16 at 32x32 with random weights.
"""
import csv

import keras
import numpy as np
import pytest

from helpers import copy_sample, finetuned_vgg
from vggcourse import features, training
from vggcourse.errors import UserInputError
from vggcourse.image import ImageDataGenerator
from vggcourse.model import Vgg16

SIZE = (32, 32)


pytestmark = pytest.mark.usefixtures("private_cache")  # an empty cache for every test (conftest)






@pytest.fixture(scope="module")
def small(small_shared):
    return small_shared


def _finetuned(small, seed=0, dropout=None):
    return finetuned_vgg(small, seed, dropout, shuffle=False, size=SIZE)


def _probs(model, batches):
    return features.predict_in_order(model, batches, cache=False)


# -- callbacks see vgg.model -----------------------------------------------------------------------

def test_checkpoint_of_a_cached_fit_is_the_whole_model(small, tmp_path, computed):
    vgg, batches, val_batches = _finetuned(small)
    path = tmp_path / "best.keras"
    log = tmp_path / "log.csv"
    vgg.fit(batches, val_batches, nb_epoch=2, verbose=0, callbacks=[
        keras.callbacks.ModelCheckpoint(path), keras.callbacks.CSVLogger(log),
        # 'val_accuracy': Keras finds it should be maximised in vgg.model's metrics
        keras.callbacks.ModelCheckpoint(tmp_path / "top.keras", monitor="val_accuracy", save_best_only=True)])
    assert (tmp_path / "top.keras").is_file()
    assert computed == [12, 6]  # the cached path ran
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in vgg.model.layers]
    np.testing.assert_array_equal(_probs(loaded, val_batches), _probs(vgg.model, val_batches))
    again = Vgg16.load(path)
    assert again.classes == ["cats", "dogs"]  # the class names travel in the model's config
    np.testing.assert_array_equal(_probs(again.model, val_batches), _probs(vgg.model, val_batches))
    rows = list(csv.DictReader(log.open()))
    assert [row["epoch"] for row in rows] == ["0", "1"] and "val_accuracy" in rows[0]


class _WorseEachEpoch(keras.callbacks.Callback):
    """Reports a rising val_loss, so that EarlyStopping must stop, and notes the weights."""

    def __init__(self):
        super().__init__()
        self.kernels = []

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = float(epoch)
        self.kernels.append(self.model.get_layer("predictions").get_weights()[0].copy())


def test_early_stopping_stops_and_restores_the_whole_model(small):
    vgg, batches, val_batches = _finetuned(small)
    worse = _WorseEachEpoch()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = vgg.fit(batches, val_batches, nb_epoch=10, verbose=0, callbacks=[worse, stop])
    assert len(history.history["loss"]) == 3  # best at epoch 0, then two worse: stop
    np.testing.assert_array_equal(vgg.model.get_layer("predictions").get_weights()[0], worse.kernels[0])
    assert not np.array_equal(worse.kernels[0], worse.kernels[-1])


def test_rate_callbacks_and_backup_act_on_the_whole_model(small, tmp_path):
    vgg, batches, val_batches = _finetuned(small)
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 1e-4 * (epoch + 1))
    history = vgg.fit(batches, val_batches, nb_epoch=2, verbose=0, callbacks=[
        schedule, keras.callbacks.BackupAndRestore(tmp_path / "backup"),
        keras.callbacks.TerminateOnNaN()])
    np.testing.assert_allclose(history.history["learning_rate"], [1e-4, 2e-4], rtol=1e-6)
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=1e9, factor=0.5)
    vgg.fit(batches, nb_epoch=2, lr=1e-3, verbose=0, callbacks=[plateau])  # epoch 2 is no better
    assert float(keras.ops.convert_to_numpy(vgg.model.optimizer.learning_rate)) == pytest.approx(5e-4)


def test_tensorboard_sees_the_whole_model(small, tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("tensorflow", reason="Keras' TensorBoard callback writes through tf.summary")
    vgg, batches, val_batches = _finetuned(small)
    vgg.fit(batches, val_batches, nb_epoch=1, verbose=0,
            callbacks=[keras.callbacks.TensorBoard(tmp_path / "tb", write_graph=False)])
    assert list((tmp_path / "tb").rglob("events.out.tfevents.*"))


def test_fit_keywords_are_honoured_or_named(small, computed, capsys):
    vgg, batches, val_batches = _finetuned(small, dropout=0.0)
    assert "Found 12 images belonging to 2 classes." in capsys.readouterr().out  # the batches, as Keras says
    history = vgg.fit(batches, val_batches, nb_epoch=2, verbose=0, class_weight={0: 1.0, 1: 3.0},
                      steps_per_epoch=1, validation_freq=2)
    assert computed == [12, 6] and capsys.readouterr().out == ""  # verbose=0: silent
    assert len(history.history["loss"]) == 2 and len(history.history["val_loss"]) == 1
    x = np.zeros((2, *SIZE, 3), "float32")
    vgg.fit(batches, nb_epoch=1, verbose=1, validation_data=(x, np.eye(2, dtype="float32")))
    out = capsys.readouterr().out
    assert "validation_data is not labelled folder batches" in out and "whole model" in out


def test_class_weight_cached_matches_plain(small):
    results = []
    for cache in (True, False):
        vgg, batches, val_batches = _finetuned(small, dropout=0.0)
        vgg.fit(batches, nb_epoch=2, verbose=0, cache=cache, class_weight={0: 0.2, 1: 5.0})
        results.append(vgg.model.get_layer("predictions").get_weights()[0])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-4, atol=1e-6)


def test_model_fit_itself_uses_the_cache(small, computed):
    vgg, batches, val_batches = _finetuned(small)
    history = vgg.model.fit(batches, validation_data=val_batches, epochs=2, verbose=0)
    assert computed == [12, 6] and len(history.history["val_loss"]) == 2
    loss = vgg.model.evaluate(val_batches, verbose=0)
    assert computed == [12, 6] and np.isfinite(loss).all()  # evaluate reused the valid features


def test_keras1_fit_generator_on_vgg_model_uses_the_cache(small, computed):
    vgg, batches, val_batches = _finetuned(small)
    history = vgg.model.fit_generator(batches, samples_per_epoch=batches.nb_sample, nb_epoch=2,
                                      validation_data=val_batches, nb_val_samples=val_batches.nb_sample,
                                      verbose=0)
    assert computed == [12, 6] and len(history.history["val_loss"]) == 2
    preds = vgg.model.predict_generator(val_batches, val_batches.nb_sample)
    assert computed == [12, 6] and preds.shape == (6, 2)  # the valid features again


# -- unfreezing and layer-wise rates ------------------------------------------------------------------

def test_unfreeze_moves_the_cache_boundary_and_keeps_the_rate(small, computed):
    vgg, batches, _ = _finetuned(small)
    vgg.set_lr(3e-4)
    vgg.unfreeze("fc1")
    assert [l.name for l in vgg.model.layers if l.trainable_weights] == ["fc1", "fc2", "predictions"]
    assert vgg.model.layers[features.cache_boundary(vgg.model)].name == "fc1"
    assert float(keras.ops.convert_to_numpy(vgg.model.optimizer.learning_rate)) == pytest.approx(3e-4)
    vgg.fit(batches, nb_epoch=1, verbose=0)
    assert computed == [12]  # the conv output (flatten) was cached
    vgg.unfreeze(-3)  # an index: fc2 and above
    assert [l.name for l in vgg.model.layers if l.trainable_weights] == ["fc2", "predictions"]


def test_cached_and_plain_agree_after_unfreeze(small):
    results = []
    for cache in (True, False):
        vgg, batches, val_batches = _finetuned(small, dropout=0.0)
        vgg.unfreeze("fc1")
        history = vgg.fit(batches, val_batches, nb_epoch=2, verbose=0, cache=cache)
        results.append((history.history, [w for name in ("fc1", "predictions")
                                           for w in vgg.model.get_layer(name).get_weights()]))
    for key in results[0][0]:
        np.testing.assert_allclose(results[0][0][key], results[1][0][key], rtol=1e-4, atol=1e-5)
    for cached, plain in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(cached, plain, rtol=1e-4, atol=1e-5)


def test_unfreeze_keeps_batch_norm_in_inference_mode(small):
    from vggcourse.model import Vgg16BN

    vgg = Vgg16BN(weights=None, size=SIZE)
    vgg.finetune(vgg.get_batches(small / "train", batch_size=4))
    vgg.unfreeze("fc1")
    assert not vgg.model.get_layer("fc1_bn").trainable and vgg.model.get_layer("fc1").trainable
    vgg.unfreeze("fc1", train_bn=True)
    assert vgg.model.get_layer("fc1_bn").trainable


def _mean_step(before, model, name):
    after = model.get_layer(name).get_weights()[0]
    return float(np.abs(after - before[name]).mean())


def test_layerwise_rates_move_low_layers_less(small):
    steps = {}
    for lr in (slice(1e-6, 1e-3), 1e-3):
        vgg, batches, _ = _finetuned(small, dropout=0.0)
        vgg.unfreeze("fc1")
        before = {name: vgg.model.get_layer(name).get_weights()[0].copy() for name in ("fc1", "predictions")}
        vgg.fit(batches, nb_epoch=1, lr=lr, verbose=0)
        steps[str(lr)] = {name: _mean_step(before, vgg.model, name) for name in before}
    layerwise, uniform = steps[str(slice(1e-6, 1e-3))], steps["0.001"]
    assert layerwise["fc1"] < layerwise["predictions"] / 100  # 1e-6 against 1e-3, with Adam
    assert layerwise["predictions"] == pytest.approx(uniform["predictions"], rel=0.2)
    assert uniform["fc1"] > 100 * layerwise["fc1"]


# -- lr_find and one-cycle ---------------------------------------------------------------------------

def test_lr_find_restores_everything_and_suggests_a_rate(small):
    vgg, batches, _ = _finetuned(small)
    vgg.fit(batches, nb_epoch=1, verbose=0)  # the optimizer has state worth keeping
    weights = [np.array(keras.ops.convert_to_numpy(v)) for v in vgg.model.variables]
    state = [np.array(keras.ops.convert_to_numpy(v)) for v in vgg.model.optimizer.variables]
    found = vgg.lr_find(batches, start_lr=1e-6, end_lr=1.0, num_it=20)
    for variable, value in zip(vgg.model.variables, weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
    for variable, value in zip(vgg.model.optimizer.variables, state):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
    assert 5 <= len(found.lrs) <= 20 and np.all(np.diff(found.lrs) > 0)
    assert found.lrs[0] == pytest.approx(1e-6) and np.isfinite(found.suggestion)
    assert 1e-6 <= found.suggestion <= 1.0
    figure = found.plot()
    assert figure.axes[0].get_xscale() == "log"


def test_one_cycle_rate_trace(small):
    vgg, batches, val_batches = _finetuned(small)
    vgg.set_lr(1e-4)
    history = vgg.fit_one_cycle(batches, val_batches, nb_epoch=2, max_lr=1e-2, verbose=0)
    lrs, betas = np.array(history.one_cycle.lrs), np.array(history.one_cycle.betas)
    assert len(lrs) == 2 * len(batches) == 6
    top = int(np.argmax(lrs))
    assert lrs[top] <= 1e-2 and lrs[0] == pytest.approx(1e-2 / 25) and lrs[-1] < lrs[0]
    assert np.all(np.diff(lrs[:top + 1]) > 0) and np.all(np.diff(lrs[top:]) < 0)
    assert int(np.argmin(betas)) == top and betas[0] == pytest.approx(0.95)
    full = [training.one_cycle_schedule(i, 100, 1.0)[0] for i in range(100)]
    assert int(np.argmax(full)) in (24, 25) and full[-1] == pytest.approx(1e-5)
    assert float(keras.ops.convert_to_numpy(vgg.model.optimizer.learning_rate)) == pytest.approx(1e-4)
    assert vgg.model.optimizer.get_config()["beta_1"] == pytest.approx(0.9)


def _rate(vgg):
    return float(keras.ops.convert_to_numpy(vgg.model.optimizer.learning_rate))


def test_one_cycle_spans_the_epochs_given_either_way_and_resumes_mid_cycle(small):
    vgg, batches, _ = _finetuned(small)
    steps = len(batches)
    full = [training.one_cycle_schedule(i, 3 * steps, 1e-3)[0] for i in range(3 * steps)]
    keras_spelling = vgg.fit_one_cycle(batches, epochs=3, max_lr=1e-3, verbose=0)
    np.testing.assert_allclose(keras_spelling.one_cycle.lrs, full)  # not one epoch's cycle, then 1e-8
    resumed = vgg.fit_one_cycle(batches, nb_epoch=3, initial_epoch=2, max_lr=1e-3, verbose=0)
    np.testing.assert_allclose(resumed.one_cycle.lrs, full[2 * steps:])  # the annealing, not a warm-up


def test_one_cycle_on_arrays_counts_steps_of_batch_size(small):
    vgg, batches, _ = _finetuned(small)
    x = np.concatenate([batches[i][0] for i in range(len(batches))])
    y = np.concatenate([batches[i][1] for i in range(len(batches))])
    history = vgg.fit_one_cycle(x, y=y, batch_size=5, nb_epoch=2, max_lr=1e-3, verbose=0)
    steps = 2 * int(np.ceil(len(x) / 5))
    np.testing.assert_allclose(history.one_cycle.lrs,  # the whole cycle, annealed to its end
                               [training.one_cycle_schedule(i, steps, 1e-3)[0] for i in range(steps)])


class _FailAt(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step, self.seen = step, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            raise RuntimeError("stopped mid-cycle")


def _scales(vgg):
    from vggcourse.optimizers import unwrap

    optimizer = unwrap(vgg.model.optimizer)
    return [round(optimizer.rate_scale(layer.kernel), 6) for layer in vgg.model.layers
            if layer.trainable and layer.trainable_weights]


def test_one_cycle_puts_your_rates_back_in_checkpoints_and_after_an_error(small, tmp_path):
    vgg, batches, val_batches = _finetuned(small)
    vgg.unfreeze("fc1")
    vgg.set_lr(4.2e-3)
    path = tmp_path / "cycle.keras"
    history = vgg.fit_one_cycle(batches, val_batches, nb_epoch=2, max_lr=slice(1e-5, 1e-3), verbose=0,
                                callbacks=keras.callbacks.ModelCheckpoint(path))  # one callback, as Keras
    steps = 2 * len(batches)
    np.testing.assert_allclose(history.one_cycle.lrs,
                               [training.one_cycle_schedule(i, steps, 1e-3)[0] for i in range(steps)])
    for model in (vgg, Vgg16.load(path)):  # the file holds your settings, not the cycle's last step
        assert _rate(model) == pytest.approx(4.2e-3)
        assert model.model.optimizer.get_config()["beta_1"] == pytest.approx(0.9)
        assert _scales(model) == [1.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="stopped mid-cycle"):
        vgg.fit_one_cycle(batches, nb_epoch=2, max_lr=slice(1e-5, 1e-3), verbose=0, callbacks=[_FailAt(2)])
    assert _rate(vgg) == pytest.approx(4.2e-3) and _scales(vgg) == [1.0, 1.0, 1.0]
    assert float(keras.ops.convert_to_numpy(vgg.model.optimizer.beta_1)) == pytest.approx(0.9)


def test_layerwise_rates_survive_unfreeze_and_saving(small, tmp_path):
    from vggcourse.optimizers import unwrap

    vgg, batches, _ = _finetuned(small)
    vgg.unfreeze("fc2")
    assert "layerwise_range" not in unwrap(vgg.model.optimizer).get_config()  # older versions load it
    vgg.set_lr(slice(1e-5, 1e-3))
    assert unwrap(vgg.model.optimizer).get_config()["layerwise_range"] == pytest.approx([1e-5, 1e-3])
    assert _scales(vgg) == [0.01, 1.0]
    vgg.unfreeze("fc1")  # spread again over the three layers that now train
    assert _scales(vgg) == [0.01, 0.1, 1.0] and _rate(vgg) == pytest.approx(1e-3)
    vgg.save(tmp_path / "m.keras")
    loaded = Vgg16.load(tmp_path / "m.keras")
    loaded.unfreeze("block5_conv3")
    # block5_conv3, fc1, fc2, predictions: 1e-5 .. 1e-3, geometric
    assert _scales(loaded) == pytest.approx([0.01 ** (1 - i / 3) for i in range(4)], rel=1e-4)
    vgg.set_lr(1e-4)  # a plain rate ends the layer-wise ones
    vgg.unfreeze("fc1")
    assert _scales(vgg) == [1.0, 1.0, 1.0] and _rate(vgg) == pytest.approx(1e-4)


@pytest.fixture
def mixed_float16():
    keras.config.set_dtype_policy("mixed_float16")  # what enable_mixed_precision picks on a T4
    yield
    keras.config.set_dtype_policy("float32")


def test_course_rate_lines_work_under_mixed_float16(small, mixed_float16):
    vgg, batches, val_batches = _finetuned(small)
    assert isinstance(vgg.model.optimizer, keras.optimizers.LossScaleOptimizer)
    vgg.model.optimizer.lr = 0.01  # the course's line
    assert _rate(vgg) == pytest.approx(0.01)
    vgg.unfreeze("fc1")
    assert _rate(vgg) == pytest.approx(0.01)
    vgg.fit(batches, nb_epoch=1, lr=slice(1e-5, 1e-3), verbose=0)
    assert _scales(vgg) == [0.01, 0.1, 1.0]
    history = vgg.fit_one_cycle(batches, nb_epoch=1, max_lr=1e-3, verbose=0)
    assert history.one_cycle.betas[0] == pytest.approx(0.95)  # beta_1 cycles inside the wrapper


# -- the shared parameter scheduler ------------------------------------------------------------------

def _dense_model():
    from vggcourse import optimizers

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="low"),
                              keras.layers.Dense(2, activation="softmax", name="top")])
    model.compile(optimizer=optimizers.Adam(lr=4.2e-3), loss="categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(10, 4)).astype("float32")
    y = np.eye(2, dtype="float32")[np.arange(10) % 2]
    return model, x, y


def _settings(model):
    from vggcourse import optimizers

    optimizer = optimizers.unwrap(model.optimizer)
    return optimizer.get_config(), [optimizer.rate_scale(v) for v in model.trainable_variables]


class _SeesSettings(keras.callbacks.Callback):
    """Notes the optimizer's settings at every epoch end (after the scheduler's restore)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(_settings(self.model))


@pytest.mark.parametrize("make", [
    lambda: training.LRFinder(1e-5, 1.0, 5),
    lambda: training.OneCycle(slice(1e-4, 1e-2), 6, steps_per_epoch=3),
    lambda: training.ParamScheduler({"learning_rate": lambda step: 0.1 * step, "beta_1": lambda step: 0.5}),
], ids=["LRFinder", "OneCycle", "ParamScheduler"])
def test_schedulers_restore_exactly_through_the_shared_scheduler(make):
    model, x, y = _dense_model()
    training.set_learning_rate(model, slice(1e-4, 4.2e-3))  # layer-wise scales worth keeping
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)      # a built optimizer with state
    before = _settings(model)
    scheduler, sees = make(), _SeesSettings()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[scheduler, sees])
    assert scheduler.hps["learning_rate"] and all(lr is not None for lr in scheduler.hps["learning_rate"])
    assert _settings(model) == before and sees.seen and all(seen == before for seen in sees.seen)
    with pytest.raises(RuntimeError, match="stopped mid-cycle"):  # Keras skips the epoch end
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[scheduler, _FailAt(1)])
    assert _settings(model) != before  # the schedule's values are still on ...
    scheduler.restore()                # ... until the restore a `finally` calls
    assert _settings(model) == before


def test_param_scheduler_counts_steps_by_epoch_and_skips_what_cannot_change():
    model, x, y = _dense_model()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy")
    scheduler = training.ParamScheduler({"learning_rate": lambda step: 0.01 * (step + 1),
                                         "beta_1": lambda step: 0.5}, steps_per_epoch=3)
    model.fit(x, y, batch_size=4, epochs=3, initial_epoch=1, verbose=0, callbacks=[scheduler])
    np.testing.assert_allclose(scheduler.hps["learning_rate"], [0.04, 0.05, 0.06, 0.07, 0.08, 0.09])
    assert scheduler.hps["beta_1"] == [None] * 6  # SGD has no beta_1 to set
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.1)
    with pytest.raises(TypeError, match=r"`schedules` must be a dict .* Received: schedules=0.1"):
        training.ParamScheduler(0.1)
    with pytest.raises(UserInputError, match=r"^ParamScheduler: `schedules` must map hyper-parameter names, of "
                                             r"\['learning_rate', 'beta_1'\].*Received: 'lr' in schedules="):
        training.ParamScheduler({"lr": float})  # a misspelt name is refused, not silently never set
    with pytest.raises(TypeError):
        training.LRFinder(1e-7, 10, 100, [4, 4])  # the old positional batch sizes: refused at once
    decaying = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=decaying), loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="the optimizer's is a LearningRateSchedule"):
        model.fit(x, y, batch_size=4, verbose=0, callbacks=[training.ParamScheduler({"learning_rate": float})])


def test_lr_finder_takes_batch_sizes_from_the_batches_fed():
    """Each batch's own loss comes back from Keras' running mean with the size of the batch fed:
    pins that `model.metrics[0]` is the loss Mean and counts samples (10 rows: 4, 4, 2)."""
    model, x, y = _dense_model()
    finder = training.LRFinder(1e-12, 2e-12, 3)  # rates too small to move the weights
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[finder])
    assert model.metrics[0].name == "loss" and finder.batch_sizes == [4, 4, 2]
    own = [model.evaluate(x[i:i + 4], y[i:i + 4], verbose=0) for i in (0, 4, 8)]
    np.testing.assert_allclose(finder.raw_losses, own, rtol=1e-4)


def test_lr_finder_losses_are_never_negative_after_large_ones():
    """A batch of one with a tiny loss after large ones (the short batch of a failed file): its
    loss is recovered from Keras' own sum, not from the rounded mean times the count (-6e-05)."""
    tracker = keras.metrics.Mean(name="loss")

    class Trained:
        metrics = [tracker]

    finder = training.LRFinder(1e-6, 1e-2, 10)
    finder.set_model(Trained())
    finder.hps = {"learning_rate": [1e-3]}
    finder._seen, finder._total = 0, 0.0
    batches = [(943.8014526367188, 4), (126.81710052490234, 4), (864.7783203125, 3), (0.0005946415160033847, 1)]
    for step, (loss, size) in enumerate(batches):
        tracker.update_state(loss, sample_weight=size)
        finder.on_train_batch_end(step, {"loss": tracker.result()})
    assert finder.batch_sizes == [4, 4, 3, 1]
    assert all(loss >= 0 and np.isfinite(loss) for loss in finder.raw_losses), finder.raw_losses
    np.testing.assert_allclose(finder.raw_losses, [loss for loss, _ in batches], rtol=1e-4, atol=1e-3)  # float32 sums


@pytest.mark.parametrize("cache, sizes", [(True, [4, 4, 3]), (False, [3, 4, 4])])
def test_lr_finder_with_a_file_broken_after_the_scan(small, tmp_path, cache, sizes):
    vgg, _, _ = _finetuned(small)
    folder = copy_sample(small, tmp_path / "damaged", counts=(("train", 6),)) / "train"
    batches = vgg.get_batches(folder, batch_size=4, shuffle=False)
    with open(batches.filepaths[1], "wb") as file:  # garbage after the scan: 11 images fed, not 12
        file.write(b"not a jpeg at all" * 10)
    finder = training.LRFinder(1e-6, 1e-2, 6)
    with pytest.warns(UserWarning, match="could not be decoded"):
        vgg.model.fit(batches, epochs=2, shuffle=False, callbacks=[finder], verbose=0, cache=cache)
    # the cache leaves the failed row out and refills the batches; the plain path feeds a smaller one
    assert finder.batch_sizes == sizes * 2 and np.isfinite(finder.raw_losses).all()
    assert (np.asarray(finder.raw_losses) >= 0).all()
    found = vgg.lr_find(batches, start_lr=1e-6, end_lr=1e-2, num_it=6)
    assert len(found.lrs) >= 5 and np.isfinite(found.suggestion)
    assert np.isfinite(found.raw_losses).all() and (found.raw_losses >= 0).all()


def test_a_batch_whose_only_file_failed_trains_on_a_stand_in(small, tmp_path):
    """A batch of one image that breaks after the scan would be empty, which no backend but
    TensorFlow can train on: the next readable file stands in, and LRFinder sees its one row."""
    vgg, _, _ = _finetuned(small)
    folder = copy_sample(small, tmp_path / "damaged", counts=(("train", 2),)) / "train"
    batches = vgg.get_batches(folder, batch_size=1, shuffle=False)
    with open(batches.filepaths[1], "wb") as file:
        file.write(b"not a jpeg at all" * 10)
    finder = training.LRFinder(1e-6, 1e-2, 4)
    with pytest.warns(UserWarning, match="could not be decoded"):
        vgg.model.fit(batches, epochs=1, shuffle=False, callbacks=[finder], verbose=0, cache=False)
    assert finder.batch_sizes == [1, 1, 1, 1] and len(finder.raw_losses) == 4
    assert np.isfinite(finder.raw_losses).all()


# -- test-time augmentation --------------------------------------------------------------------------

def test_tta_zero_is_plain_test_and_rows_stay_in_file_order(small):
    vgg, batches, val_batches = _finetuned(small)
    plain_batches, plain = vgg.test(small / "valid", batch_size=4)
    _, zero = vgg.test(small / "valid", batch_size=4, tta=0)
    np.testing.assert_array_equal(plain, zero)
    _, identity = vgg.test(small / "valid", batch_size=4, tta=2, gen=ImageDataGenerator())
    np.testing.assert_allclose(identity, plain, rtol=1e-5, atol=1e-6)  # row i is still file i
    batches_tta, augmented = vgg.test(small / "valid", batch_size=4, tta=2)
    assert batches_tta.filenames == plain_batches.filenames and augmented.shape == plain.shape
    np.testing.assert_allclose(augmented.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(augmented, plain, atol=1e-7)


def test_tta_with_a_file_broken_after_the_scan_keeps_its_row_empty(small, tmp_path):
    vgg, _, _ = _finetuned(small)
    folder = copy_sample(small, tmp_path / "damaged", counts=(("valid", 3),)) / "valid"
    batches = vgg.get_batches(folder, batch_size=4, shuffle=False)
    broken = batches.filepaths[1]
    with open(broken, "wb") as file:  # overwritten with garbage after the scan
        file.write(b"not a jpeg at all" * 10)
    with pytest.warns(UserWarning, match="could not be decoded"):
        probs = features.predict_in_order(vgg, batches, tta=2)
    assert probs.shape == (len(batches.filenames), 2) == (6, 2)
    assert np.isnan(probs[1]).all() and np.isfinite(np.delete(probs, 1, axis=0)).all()


def test_for_inference_augments_reproducibly_without_a_new_scan(small):
    batches = ImageDataGenerator().flow_from_directory(small / "valid", target_size=SIZE, batch_size=4)
    gen = ImageDataGenerator(horizontal_flip=True, width_shift_range=0.2)
    first, again, other = (batches.for_inference(gen=gen, seed=seed)[0] for seed in (3, 3, 4))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert batches.for_inference(gen=gen, seed=3).filenames == batches.filenames
    with pytest.raises(TypeError, match=r"`gen` must be an ImageDataGenerator.*Received: gen='flip'"):
        batches.for_inference(gen="flip")


# -- bad input -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def finetuned_once(small_shared):
    return _finetuned(small_shared)


@pytest.mark.parametrize("call, message", [
    (lambda vgg, b: vgg.unfreeze("nope"), r"`from_layer` must name a layer.*'fc1'.*Received: from_layer='nope'"),
    (lambda vgg, b: vgg.unfreeze(99), r"`from_layer` must be a layer index from -\d+ to \d+.*Received: from_layer=99"),
    (lambda vgg, b: vgg.fit(b, lr=slice(1e-3, 1e-5)), r"`lr` as a slice must be slice\(low, high\) with low <= high.*Received: lr=slice\(0.001, 1e-05"),
    (lambda vgg, b: vgg.test(b.directory, tta=-1), r"`tta` must be a whole number >= 0.*Received: tta=-1"),
    (lambda vgg, b: vgg.lr_find(b, num_it=1), r"`num_it` must be a whole number of at least 5.*Received: num_it=1"),
    (lambda vgg, b: vgg.lr_find(b, start_lr=1e-2, end_lr=1e-4), r"`end_lr` must be above `start_lr`.*Received: start_lr=0.01, end_lr=0.0001"),
    (lambda vgg, b: vgg.fit_one_cycle(b, max_lr=-1), r"`max_lr` must be a positive number. Received: max_lr=-1"),
    # issue 18: slice(x) alone says what a slice means; initial_epoch outside 0 .. epochs - 1
    (lambda vgg, b: vgg.fit(b, lr=slice(1e-3)), r"`lr` as a slice must be slice\(low, high\): layer-wise rates, "
     r"`low` at the lowest trainable layer.*slice\(x / 10, x\), or x for one rate.*Received: lr=slice\(None, 0\.001"),
    (lambda vgg, b: vgg.set_lr(slice(1e-3)), r"`lr` as a slice must be slice\(low, high\).*Received: lr=slice\(None"),
    (lambda vgg, b: vgg.fit_one_cycle(b, max_lr=slice(1e-3)), r"`max_lr` as a slice must be slice\(low, high\).*"
     r"Received: max_lr=slice\(None, 0\.001"),
    (lambda vgg, b: vgg.fit_one_cycle(b, initial_epoch=-1), r"^fit_one_cycle: `initial_epoch` must be a whole number "
     r"from 0 to 0 .*Received: initial_epoch=-1$"),
    (lambda vgg, b: vgg.fit_one_cycle(b, nb_epoch=2, initial_epoch=2), r"^fit_one_cycle: `initial_epoch` must be a "
     r"whole number from 0 to 1 .*below epochs=2.*Received: initial_epoch=2$"),
    (lambda vgg, b: vgg.fit(b, nb_epoch=2, initial_epoch=2), r"^fit: `initial_epoch` must be a whole number from 0 "
     r"to 1 .*Received: initial_epoch=2$"),
    (lambda vgg, b: vgg.fit(b, nb_epoch=2, initial_epoch=1.0), r"^fit: `initial_epoch` must be.*Received: initial_epoch=1\.0$"),
    (lambda vgg, b: training.fit_one_cycle(vgg.model, b, epochs=3, initial_epoch=3),
     r"^fit_one_cycle: `initial_epoch` must be a whole number from 0 to 2 .*Received: initial_epoch=3$"),
])
def test_bad_input_names_the_argument(finetuned_once, call, message):
    vgg, batches, _ = finetuned_once  # every call fails at its argument check, changing nothing
    with pytest.raises(ValueError, match=message):
        call(vgg, batches)


def test_batches_that_cannot_train_are_refused_in_one_line(finetuned_once, small, tmp_path):
    import shutil

    vgg, batches, _ = finetuned_once
    unlabelled = vgg.get_batches(small / "valid", class_mode=None, shuffle=False)
    three = tmp_path / "three"
    for name in ("cats", "dogs", "birds"):
        shutil.copytree(small / "valid" / ("cats" if name == "birds" else name), three / name)
    renamed = tmp_path / "renamed"  # valid/dogs renamed zdogs: same count, the other order (issue 18, 3)
    for name in ("cats", "dogs"):
        shutil.copytree(small / "valid" / name, renamed / ("zdogs" if name == "dogs" else name))
    cases = [
        (lambda: vgg.fit(None), TypeError, r"fit: `batches` must be labelled batches.*Received: None"),
        (lambda: vgg.fit(str(small / "train")), TypeError, r"Make them first: batches = vgg.get_batches\("),
        (lambda: vgg.finetune("data/train"), TypeError, r"finetune: `batches` must be the training batches"),
        (lambda: vgg.fit_one_cycle(None), TypeError, r"fit_one_cycle: `batches` must be labelled"),
        (lambda: vgg.fit(unlabelled), ValueError, r"fit: `batches` \(.*valid\) has no labels \(class_mode=None\)"),
        (lambda: vgg.fit(batches, unlabelled), ValueError, r"fit: `val_batches` \(.*\) has no labels"),
        (lambda: vgg.lr_find(unlabelled), ValueError, r"lr_find: `batches` .* has no labels"),
        (lambda: vgg.fit(vgg.get_batches(three)), ValueError,
         r"has 3 classes but the model predicts 2: call vgg.finetune\(batches\)"),
        (lambda: vgg.fit(batches, vgg.get_batches(renamed)), ValueError,
         r"^fit: `val_batches` \(.*renamed\) has the classes \['cats', 'zdogs'\], the model was fine-tuned on "
         r"\['cats', 'dogs'\]: labels are matched by position"),
        (lambda: vgg.fit(vgg.get_batches(renamed)), ValueError, r"pass classes=\['cats', 'dogs'\] to get_batches"),
        (lambda: vgg.fit(batches, nb_epoch=1.5), ValueError, r"`nb_epoch` must be a whole number.*Received: nb_epoch=1.5"),
        (lambda: vgg.fit_one_cycle(batches, nb_epoch=0), ValueError, r"`nb_epoch` must be .* at least 1.*nb_epoch=0"),
        (lambda: vgg.fit_one_cycle(batches, epochs=2.5), ValueError, r"Received: epochs=2.5"),
    ]
    before = [keras.ops.convert_to_numpy(v).copy() for v in vgg.model.trainable_variables]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    for variable, value in zip(vgg.model.trainable_variables, before):  # nothing trained
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)


@pytest.mark.parametrize("max_lr, total_steps, message", [
    (0, 10, r"`max_lr` must be a positive number. Received: max_lr=0"),
    (1e-3, 0, r"`total_steps` must be a whole number >= 1.*Received: total_steps=0"),
    (1e-3, 2.5, r"`total_steps` must be a whole number >= 1.*Received: total_steps=2.5"),
])
def test_one_cycle_callback_checks_its_arguments(max_lr, total_steps, message):
    with pytest.raises(ValueError, match=message):
        training.OneCycle(max_lr, total_steps)


def test_plot_history_figure(small):
    figure = training.plot_history([{"loss": 1.0, "accuracy": 0.5, "val_loss": 1.2, "val_accuracy": 0.4},
                                    {"loss": 0.8, "accuracy": 0.6, "val_loss": 1.0, "val_accuracy": 0.5}])
    assert [ax.get_ylabel() for ax in figure.axes] == ["loss", "accuracy"]
    assert len(figure.axes[0].lines) == 2
    with pytest.raises(ValueError, match="at least one epoch"):
        training.plot_history({})


def test_unfreeze_takes_negative_indices_and_names_its_first_layer(small):
    """Issue 18: `unfreeze(-3)` counts from the top as Python does and returns the name of the
    first layer that trains (what the workflow logs); numpy rates set the rate."""
    vgg, _, _ = _finetuned(small)
    names = [layer.name for layer in vgg.model.layers]
    assert vgg.unfreeze(-3) == names[-3] == "fc2"
    assert [layer.name for layer in vgg.model.layers if layer.trainable] == names[-3:]
    assert vgg.unfreeze("fc1") == "fc1" and vgg.unfreeze(len(names) - 1) == "predictions"
    assert training.unfreeze(vgg.model, -1) == len(names) - 1
    vgg.set_lr(np.int64(1))
    assert float(keras.ops.convert_to_numpy(vgg.model.optimizer.learning_rate)) == 1.0
    vgg.set_lr(slice(np.float32(0.25), np.int64(1)))
    assert float(keras.ops.convert_to_numpy(vgg.model.optimizer.learning_rate)) == 1.0


def test_lr_find_says_when_it_has_too_few_steps_to_find_a_fall():
    """Issue 18: with too few falling steps there is no steepest fall; the result says so in one
    warning instead of handing back the start rate silently."""
    import warnings

    lrs = np.geomspace(1e-7, 10, 5)
    with pytest.warns(UserWarning, match=r"^lr_find: the smoothed loss fell over 0 of the 5 steps used, too few "
                                         r"to find its steepest fall; the suggestion 1\.00e-07 .*num_it=100"):
        found = training.LRFinderResult(lrs, [1.0, 1.1, 1.3, 1.6, 2.0])
    assert found.suggestion == pytest.approx(1e-7)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        found = training.LRFinderResult(lrs, [2.0, 1.9, 1.5, 1.0, 1.2])  # a fall over 3 steps: measured
    assert found.suggestion == pytest.approx(lrs[3])
