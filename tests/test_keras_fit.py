"""What vggcourse relies on in Keras' training API (vggcourse/_keras_fit.py). The tests marked
"pins" check Keras' own behaviour behind a private attribute: a Keras upgrade that changes it
fails here, not in a learner's notebook."""
import keras
import numpy as np
import pytest

from vggcourse._keras_fit import (build_compiled_metrics, callback_items, compile_like, listed_callbacks,
                                  resume_epoch, set_resume_epoch)


def _model(metrics=("accuracy",)):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=list(metrics))
    return model


def _data():
    return np.ones((4, 3), np.float32), np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]


def test_callbacks_are_read_as_keras_reads_them():
    stop = keras.callbacks.EarlyStopping()
    assert callback_items(None) == [] and callback_items(stop) == [stop]
    assert callback_items([stop, [stop]]) == [stop, stop]
    assert listed_callbacks(None) is None and listed_callbacks(stop) == [stop]
    callback_list = keras.callbacks.CallbackList([stop])
    assert listed_callbacks(callback_list) is callback_list


def test_compile_like_gives_the_same_loss_metrics_and_optimizer_once():
    model, head = _model(), keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    compile_like(head, model)
    assert head.optimizer is model.optimizer and head.loss == model.loss
    assert head.get_compile_config()["metrics"] == model.get_compile_config()["metrics"]
    head.make_train_function()
    train_function = head.train_function
    assert train_function is not None
    compile_like(head, model)  # compiled the same way: kept, no retracing
    assert head.train_function is train_function


def test_pins_fit_starts_at_the_resume_epoch_and_keras_never_clears_it():
    model, (x, y) = _model(), _data()
    set_resume_epoch(model, 1)
    assert model.fit(x, y, epochs=3, verbose=0).epoch == [1, 2]  # what BackupAndRestore relies on
    assert resume_epoch(model) == 1  # Keras leaves it: the caller must set it back to None
    set_resume_epoch(model, None)
    assert model.fit(x, y, epochs=2, verbose=0).epoch == [0, 1]


def test_pins_backup_and_restore_sets_the_resume_epoch(tmp_path):
    model, (x, y) = _model(), _data()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(
        str(tmp_path), delete_checkpoint=False)])
    restoring = keras.callbacks.BackupAndRestore(str(tmp_path))
    restoring.set_model(model)
    restoring.on_train_begin()
    assert resume_epoch(model) == 1


def test_pins_callbacks_find_the_compiled_metrics_once_built():
    model = _model()
    model.build((None, 3))

    def epoch_end():
        early = keras.callbacks.EarlyStopping(monitor="val_accuracy")
        early.set_model(model)
        early.on_train_begin()
        early.on_epoch_end(0, {"val_accuracy": 0.5})
        return early

    with pytest.raises(ValueError, match="val_accuracy"):  # unbuilt: Keras cannot tell max from min
        epoch_end()
    build_compiled_metrics(model, _data()[1])
    assert epoch_end().monitor_op is keras.ops.greater
