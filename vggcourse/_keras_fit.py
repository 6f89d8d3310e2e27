"""What vggcourse relies on in Keras' training API: callbacks as Keras reads them, compiling a
model like another, and the two private attributes it cannot avoid, each behind one function.

    callbacks = [my_callback, *callback_items(callbacks)]   # None, one callback or a list
    compile_like(head, vgg.model)                            # same loss, metrics and optimizer

A Keras upgrade that changes `_initial_epoch` or `_compile_metrics` fails `tests/test_keras_fit.py`,
which pins what these functions rely on.
"""
import json

import keras

from vggcourse import devices

__all__ = ["build_compiled_metrics", "callback_items", "compile_like", "listed_callbacks",
           "resume_epoch", "set_resume_epoch"]


def callback_items(callbacks):
    """`fit(callbacks=...)` as a list, read as Keras reads it: None, one callback or a list.

        callback_items(keras.callbacks.EarlyStopping())   # [EarlyStopping]
    """
    return keras.tree.flatten(callbacks) if callbacks else []


def listed_callbacks(callbacks):
    """A user's `callbacks` as a list: Keras runs a lone callback on a thread without checking
    that it may (on JAX one that reads the weights mid-epoch then finds them deleted). None, and
    the CallbackList of Keras' fit validating through `evaluate`, are passed on as they are.

        listed_callbacks(keras.callbacks.EarlyStopping())   # [EarlyStopping]
    """
    if callbacks is None or isinstance(callbacks, keras.callbacks.CallbackList):
        return callbacks
    return callback_items(callbacks)


def compile_like(head, model, optimizer=None):
    """Compile `head` with `model`'s loss and metrics, and `optimizer` or `model`'s own (its state
    carries on).

        compile_like(head, vgg.model)   # the head trains with vgg.model's Adam
    """
    config = model.get_compile_config() or {}
    optimizer = model.optimizer if optimizer is None else optimizer
    # A head compiled the same way keeps its traced train function: no retracing on the next fit.
    signature = (id(optimizer), repr(model.loss), json.dumps(config, sort_keys=True, default=str))
    if head is not model and head.compiled and getattr(head, "_compiled_like", None) == signature:
        return

    def user(spec):
        if isinstance(spec, dict) and "class_name" in spec:
            return keras.metrics.deserialize(spec)
        if isinstance(spec, (list, tuple)):
            return [user(item) for item in spec]
        return spec

    with devices.model_scope():  # the same devices as the model (devices.use_all_devices)
        head.compile(
            optimizer=optimizer,
            loss=model.loss,
            metrics=user(config.get("metrics")),
            weighted_metrics=user(config.get("weighted_metrics")),
            loss_weights=config.get("loss_weights"),
            run_eagerly=config.get("run_eagerly", False),
        )
    head._compiled_like = signature


def resume_epoch(model):
    """The epoch `model`'s next `fit` starts from, as `BackupAndRestore` set it (Keras'
    `model._initial_epoch`, which `fit` prefers to its `initial_epoch` argument), or None.

        resume_epoch(vgg.model)   # 1 after BackupAndRestore restored a backup of epoch 0
    """
    return getattr(model, "_initial_epoch", None)


def set_resume_epoch(model, epoch):
    """Make `model`'s next `fit` start at `epoch` (None: at its `initial_epoch` argument).

    Keras 3 never clears it after a fit, so a fit that resumed makes the next one skip epochs
    unless it is set back to None.

        set_resume_epoch(vgg.model, None)
    """
    model._initial_epoch = epoch


def build_compiled_metrics(model, labels):
    """Build `model`'s compiled metrics (Keras' `model._compile_metrics`, built by its first
    train step) from one row of `labels`, so that callbacks reading `model.metrics`
    (`ModelCheckpoint` / `EarlyStopping` choosing max or min for 'val_accuracy') find them
    when another model (the head) does the training. Nothing to do when already built.

        build_compiled_metrics(vgg.model, np.eye(2, dtype="float32"))
    """
    metrics = getattr(model, "_compile_metrics", None)
    if metrics is None or getattr(metrics, "built", True) or labels is None or not len(labels):
        return
    y_true = keras.ops.convert_to_tensor(labels[:1])
    y_pred = keras.ops.zeros((1, *model.output_shape[1:]), dtype="float32")
    metrics.build(y_true, y_pred)
