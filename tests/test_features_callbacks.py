"""Callbacks on `vgg.model` while the cached `fit` trains the head (vggcourse/features.py).

The callbacks see the whole model; the head shares its layers and optimizer. What a callback does
to the whole model mid-epoch (set the rate, read or save the weights) must reach the head's loop,
on every backend (on JAX the loop keeps the training state off the variables during an epoch).
Real images (6 + 3 per class), Vgg16 at 32x32 with random weights.
"""
import keras
import numpy as np
import pytest

from helpers import finetuned_vgg
from vggcourse import feature_store, features
from vggcourse.model import Vgg16
from vggcourse.split import split


pytestmark = pytest.mark.usefixtures("private_cache")  # an empty cache for every test (conftest)


def _kernel(vgg):
    return np.array(vgg.model.get_layer("predictions").get_weights()[0])


class _ZeroThenHigh(keras.callbacks.Callback):
    """Rate 0 for batch 0 and 1e-2 after (what OneCycle and lr_find do: a rate per batch); records
    the trained kernel after every batch, read through the whole model."""

    def __init__(self):
        super().__init__()
        self.kernels = []

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = 0.0 if batch == 0 else 1e-2

    def on_train_batch_end(self, batch, logs=None):
        self.kernels.append(np.array(self.model.get_layer("predictions").get_weights()[0]))


def test_a_rate_set_per_batch_by_a_callback_is_used_on_the_cache(small):
    kernels, seen = [], []
    for cache in (True, False):
        vgg, batches, _ = finetuned_vgg(small, dropout=0.0, shuffle=False)
        before = _kernel(vgg)
        callback = _ZeroThenHigh()
        vgg.fit(batches, nb_epoch=1, cache=cache, verbose=0, callbacks=[callback])
        assert len(callback.kernels) == 3  # 12 images, batches of 4
        np.testing.assert_array_equal(callback.kernels[0], before)  # batch 0 trained at rate 0
        assert np.abs(_kernel(vgg) - before).mean() > 1e-4  # batches 1 and 2 at 1e-2
        kernels.append(_kernel(vgg))
        seen.append(callback.kernels)
        if cache:  # the head trains with vgg.model's optimizer itself: the rate set is the one used
            head = split(vgg.model)[1]
            assert head.optimizer is vgg.model.optimizer
    np.testing.assert_allclose(kernels[0], kernels[1], rtol=1e-4, atol=1e-6)
    for cached, plain in zip(*seen):  # mid-epoch reads see the weights of that step
        np.testing.assert_allclose(cached, plain, rtol=1e-4, atol=1e-6)


def test_a_checkpoint_every_few_batches_saves_that_step(small, tmp_path):
    vgg, batches, val_batches = finetuned_vgg(small, dropout=0.0, shuffle=False)
    path = tmp_path / "step.keras"
    recorder = _ZeroThenHigh()
    vgg.fit(batches, val_batches, nb_epoch=1, verbose=0, callbacks=[
        recorder, keras.callbacks.ModelCheckpoint(str(path), save_freq=2)])
    assert features.cache_boundary(vgg.model) > 0 and feature_store._memory  # it ran on the cache
    saved = Vgg16.load(path)
    np.testing.assert_allclose(_kernel(saved), recorder.kernels[1], rtol=1e-6)  # after batch 2 of 3
    assert not np.allclose(_kernel(saved), _kernel(vgg))  # not the end of the epoch


def test_a_single_callback_is_accepted_as_keras_accepts_it(small):
    vgg, batches, val_batches = finetuned_vgg(small)
    for cache in (True, False):
        recorder = _ZeroThenHigh()
        history = vgg.fit(batches, val_batches, nb_epoch=1, verbose=0, cache=cache, callbacks=recorder)
        assert len(recorder.kernels) == 3 and history.epoch == [0]


class _StopAtEpoch1(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt  # the learner stops the notebook


@pytest.mark.parametrize("cache", [True, False])
def test_a_resumed_fit_does_not_make_the_next_fit_skip_epochs(small, tmp_path, cache):
    vgg, batches, val_batches = finetuned_vgg(small)
    backup = str(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        vgg.fit(batches, val_batches, nb_epoch=2, verbose=0, cache=cache,
                callbacks=[keras.callbacks.BackupAndRestore(backup), _StopAtEpoch1()])
    resumed = vgg.fit(batches, val_batches, nb_epoch=2, verbose=0, cache=cache,
                      callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert resumed.epoch == [1]  # BackupAndRestore carried on where the first fit stopped
    # Keras 3 leaves the resumed epoch on the model: the next fit started there too
    assert vgg.fit(batches, val_batches, nb_epoch=2, verbose=0, cache=cache).epoch == [0, 1]
