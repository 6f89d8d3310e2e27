"""Keras 1, as the course's notebooks call it, on Keras 3: the one module that owns that translation.

    from vggcourse.keras1 import Sequential, Dense, RMSprop, K
    lm = Sequential([Dense(2, activation="softmax", input_shape=(1000,))])
    opt = RMSprop(lr=0.1)
    lm.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
    lm.fit(features, labels, nb_epoch=3, batch_size=64)
    K.set_value(opt.lr, 0.01)                        # really changes the step
    model.fit_generator(batches, samples_per_epoch=batches.nb_sample, nb_epoch=1,
                        validation_data=val_batches, nb_val_samples=val_batches.nb_sample)
    probs = model.predict_generator(test_batches, test_batches.nb_sample)

What is here:
- `Keras1Methods`, a mixin for any `keras.Model`: `fit_generator`, `predict_generator`,
  `evaluate_generator` with Keras 1's arguments (and Keras 2's), `predict_classes`,
  `predict_proba`, `fit(nb_epoch=)`, `compile('adam')` with `vggcourse.optimizers` (so
  `model.optimizer.lr = x` works), and `save_weights` / `load_weights` on plain '.h5' names.
  It calls `self.fit` / `self.predict` / `self.evaluate` with Keras 3 arguments, so a model that
  overrides those (`vgg.model`'s feature cache) keeps its behaviour.
- `Sequential` and `Model`: Keras 3's, with the mixin; `Model(input=, output=)`.
- the layers with Keras 1 signatures (`vggcourse._keras1_layers`: `Convolution2D(64, 3, 3)`, ...),
  `Input`, `merge`, the optimizers (`vggcourse.optimizers`), regularizers `l1`, `l2`, `activity_l2`.
- `K`, the backend functions the notebooks use (`set_value`, `get_value`, `eval`, ...);
  `get_file`, `to_categorical`, `image` (Keras 1's `keras.preprocessing.image` names) and
  `output_shape_of` (Keras 3 layers have no `output_shape`; `vggcourse port` rewrites
  `layer.output_shape` to it).

Everything is channels-last; see `vggcourse._keras1_layers` for how the course's channels-first
shapes are read.
"""
import inspect
import math
import os
import shutil
import tempfile
import types
import warnings
from pathlib import Path

import keras
import numpy as np

from vggcourse import features, optimizers
from vggcourse import _keras1_layers
from vggcourse._keras1_layers import *  # noqa: F401,F403 (the layer signatures)
from vggcourse._keras1_layers import __all__ as _LAYER_NAMES
from vggcourse.errors import UserInputError, UserTypeError
from vggcourse.optimizers import SGD, Adam, RMSprop

__all__ = [
    "Keras1Methods", "Sequential", "Model", "K", "get_file", "to_categorical", "np_utils", "image",
    "sequence",
    "output_shape_of", "translate_fit_kwargs", "SGD", "RMSprop", "Adam", "l1", "l2", "activity_l1",
    "activity_l2", "categorical_crossentropy", "categorical_accuracy", "layer_from_config",
    *_LAYER_NAMES,
]

# Keras 1 / Keras 2 worker and queue settings: the batches read ahead on their own threads.
_QUEUE_ARGS = ("max_q_size", "nb_worker", "pickle_safe", "max_queue_size", "workers",
               "use_multiprocessing")


# ---------------------------------------------------------------- argument translation

def _one_of(method, kwargs, keras1, keras3, default=None):
    """Pop Keras 1's `keras1` or Keras 3's `keras3` from `kwargs` (one of them at most)."""
    if keras1 in kwargs and keras3 in kwargs:
        raise UserTypeError(f"{method}: pass `{keras1}` (Keras 1) or `{keras3}` (Keras 2/3), not both.")
    return kwargs.pop(keras1, kwargs.pop(keras3, default))


def translate_fit_kwargs(kwargs):
    """Keras 1 keywords of `fit` / `evaluate` / `predict` -> Keras 3's, as a new dict.

    `nb_epoch` -> `epochs`; `show_accuracy` (Keras 0) raises, naming `metrics=['accuracy']`.

        translate_fit_kwargs({"nb_epoch": 3, "batch_size": 64}) == {"epochs": 3, "batch_size": 64}
    """
    kwargs = dict(kwargs)
    if "nb_epoch" in kwargs:
        kwargs["epochs"] = _one_of("fit", kwargs, "nb_epoch", "epochs")
    if "show_accuracy" in kwargs:
        raise UserTypeError("fit: `show_accuracy` is gone; compile with metrics=['accuracy'] instead.")
    return kwargs


def _check_count(method, name, value):
    if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1):
        raise UserInputError(f"{method}: `{name}` must be a positive number of samples. "
                             f"Received: {name}={value!r}")


def _peek(generator):
    """(the generator with its first batch put back, that batch's size) for a plain Python generator."""
    first = next(generator)
    x = first[0] if isinstance(first, (tuple, list)) else first
    size = len(x[0] if isinstance(x, (tuple, list)) else x)

    def chained():
        yield first
        yield from generator

    return chained(), size


def _steps(method, name, data, samples):
    """(data, Keras 3 steps) for Keras 1's sample count `samples` of `data`.

    None steps when `samples` is one pass over a sized dataset (a `PyDataset` such as the
    course's batches), so Keras uses its length.
    """
    _check_count(method, name, samples)
    if samples is None:
        return data, None
    sized = hasattr(data, "__len__") and hasattr(data, "__getitem__")
    if sized and getattr(data, "n", None) == samples:
        return data, None
    batch_size = getattr(data, "batch_size", None)
    if batch_size is None:
        if sized or isinstance(data, (tuple, list, np.ndarray)):
            raise UserTypeError(f"{method}: `{name}` counts samples of a generator of batches; "
                                f"received {type(data).__name__}. Pass arrays to fit/predict/evaluate.")
        data, batch_size = _peek(data)
    return data, math.ceil(samples / batch_size)


def _take(method, kwargs, names):
    """The Keras 2/3 arguments `names` from `kwargs`; anything else but queue settings raises."""
    unknown = sorted(set(kwargs) - set(names) - set(_QUEUE_ARGS))
    if unknown:
        keras1 = [p for p in inspect.signature(getattr(Keras1Methods, method)).parameters
                  if p not in ("self", "kwargs")]
        raise UserTypeError(f"{method}: unknown argument `{unknown[0]}`. It takes "
                            f"{', '.join([*keras1, *names, *_QUEUE_ARGS])}.")
    return {name: kwargs[name] for name in names if kwargs.get(name) is not None}


def _unused_optimizer(optimizer):
    """`optimizer`, or a fresh copy sharing its learning-rate variable if it already trained a model.

    Keras 1 let one optimizer object train several models in turn (lesson 3 compiles three models
    with one `opt`); a Keras 3 optimizer only updates the variables it first trained. The copy
    shares `lr`, so `K.set_value(opt.lr, x)` on the original still sets the rate of every model.
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer) or not optimizer.built:
        return optimizer
    fresh = type(optimizer).from_config(optimizer.get_config())
    if isinstance(optimizer._learning_rate, keras.Variable):
        fresh._learning_rate = optimizer._learning_rate
    return fresh


def _is_sized_batches(x):
    return isinstance(x, keras.utils.PyDataset) or (hasattr(x, "__next__") and not hasattr(x, "shape"))


def _course_h5(filepath):
    name = os.fspath(filepath)
    return name.endswith(".h5") and not name.endswith(".weights.h5")


def _nested(model):
    return any(isinstance(layer, keras.Model) for layer in model.layers)


# ---------------------------------------------------------------- the mixin

class Keras1Methods:
    """Keras 1's model methods, for a class that also derives from `keras.Model`.

        class MyModel(Keras1Methods, keras.Sequential): ...
    """

    def fit(self, *args, **kwargs):
        """Keras 3's `fit`, also taking Keras 1's `nb_epoch=`."""
        return super().fit(*args, **translate_fit_kwargs(kwargs))

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        """Keras 3's `compile`; an optimizer given by name ('adam', 'rmsprop', 'sgd') is
        `vggcourse.optimizers`' (its `lr` reads and sets the rate). Keras 1's
        `sample_weight_mode=None` is accepted."""
        if kwargs.pop("sample_weight_mode", None) is not None:
            raise UserInputError("compile: `sample_weight_mode` has no Keras 3 meaning; pass "
                                 "sample_weight with the same shape as the labels to fit().")
        if isinstance(optimizer, str):
            optimizer = optimizers.get(optimizer)
        optimizer = optimizers.loss_scaled(_unused_optimizer(optimizer), self.dtype_policy)
        return super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        """Recompile a loaded model (Keras skips models whose `compile` is overridden, as here)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def fit_generator(self, generator, samples_per_epoch=None, nb_epoch=None, verbose=1,
                      callbacks=None, validation_data=None, nb_val_samples=None, class_weight=None,
                      initial_epoch=0, **kwargs):
        """Keras 1's `fit_generator`: `self.fit(generator, epochs=nb_epoch, shuffle=False, ...)`.

        `samples_per_epoch` / `nb_val_samples` count images; equal to the batches' size they mean
        one pass (Keras uses `len(batches)`); otherwise they become `steps_per_epoch` /
        `validation_steps`. Keras 2's `steps_per_epoch`, `epochs`, `validation_steps` work too;
        queue and worker settings are accepted and ignored (the batches read ahead themselves).
        """
        method = "fit_generator"
        if nb_epoch is not None and "epochs" in kwargs:
            raise UserTypeError(f"{method}: pass `nb_epoch` (Keras 1) or `epochs` (Keras 2/3), not both.")
        epochs = kwargs.pop("epochs", 1) if nb_epoch is None else nb_epoch
        keras3 = _take(method, kwargs, ("steps_per_epoch", "validation_steps"))
        if samples_per_epoch is not None:
            if "steps_per_epoch" in keras3:
                raise UserTypeError(f"{method}: pass `samples_per_epoch` (Keras 1) or `steps_per_epoch`, not both.")
            generator, keras3["steps_per_epoch"] = _steps(method, "samples_per_epoch", generator, samples_per_epoch)
        if nb_val_samples is not None and validation_data is not None and not isinstance(validation_data, tuple):
            if "validation_steps" in keras3:
                raise UserTypeError(f"{method}: pass `nb_val_samples` (Keras 1) or `validation_steps`, not both.")
            validation_data, keras3["validation_steps"] = _steps(method, "nb_val_samples", validation_data,
                                                                 nb_val_samples)
        keras3 = {k: v for k, v in keras3.items() if v is not None}
        for name, value in (("callbacks", callbacks), ("validation_data", validation_data),
                            ("class_weight", class_weight)):
            if value is not None:
                keras3[name] = value
        if initial_epoch:  # Keras 1 and 3 agree: train epochs initial_epoch .. nb_epoch - 1
            keras3["initial_epoch"] = initial_epoch
        # The generator owns the order of its batches, as in Keras 1: Keras must not shuffle them.
        return self.fit(generator, epochs=epochs, verbose=verbose, shuffle=False, **keras3)

    def predict_generator(self, generator, val_samples=None, verbose=0, **kwargs):
        """Keras 1's `predict_generator(batches, batches.nb_sample)`: `self.predict(batches)`.

        Returns `val_samples` rows (all of one pass when it is the batches' size).
        """
        method = "predict_generator"
        steps = _take(method, kwargs, ("steps",)).get("steps")
        generator, samples_steps = _steps(method, "val_samples", generator, val_samples)
        steps = steps or samples_steps
        # `steps` only when needed: without it a model's own predict (vgg.model's cache) applies
        out = self.predict(generator, verbose=verbose, **({"steps": steps} if steps else {}))
        if val_samples is not None:
            out = [o[:val_samples] for o in out] if isinstance(out, list) else out[:val_samples]
        return out

    def evaluate_generator(self, generator, val_samples=None, verbose=0, **kwargs):
        """Keras 1's `evaluate_generator(batches, batches.nb_sample)`: `self.evaluate(batches)`.

        Returns the loss, or [loss, metric, ...] when compiled with metrics, as Keras 1 did.
        """
        method = "evaluate_generator"
        steps = _take(method, kwargs, ("steps",)).get("steps")
        generator, samples_steps = _steps(method, "val_samples", generator, val_samples)
        steps = steps or samples_steps
        return self.evaluate(generator, verbose=verbose, **({"steps": steps} if steps else {}))

    def predict_proba(self, x, batch_size=32, verbose=1):
        """Keras 1's `predict_proba`: the model's outputs (probabilities for a softmax model)."""
        if _is_sized_batches(x):
            return self.predict(x, verbose=verbose)
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    def predict_classes(self, x, batch_size=32, verbose=1):
        """Keras 1's `predict_classes`: argmax of the outputs, or output > 0.5 for one output."""
        probs = np.asarray(self.predict_proba(x, batch_size=batch_size, verbose=verbose))
        if probs.shape[-1] > 1:
            return probs.argmax(axis=-1)
        return (probs > 0.5).astype("int32")

    def save_weights(self, filepath, overwrite=True, **kwargs):
        """Keras 3's `save_weights`, also to the course's plain '.h5' names ('finetune1.h5').

        A chain of layers is written layer by layer, by name (`vggcourse.weights`); a model
        holding other models in Keras 3's own layout. Both load with `load_weights`.
        """
        if not _course_h5(filepath):
            return super().save_weights(filepath, overwrite=overwrite, **kwargs)
        from vggcourse import weights as weights_lib

        if not _nested(self):
            weights_lib.save_weights(self, filepath)
            return None
        path = Path(filepath)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            staged = Path(tmp) / "model.weights.h5"
            super().save_weights(staged, overwrite=True, **kwargs)
            os.replace(staged, path)
        return None

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Keras 3's `load_weights` (all or nothing), also from plain '.h5' names (see
        `save_weights`), and the course's Keras 1 files (`vggcourse.weights.load_weights`)."""
        from vggcourse import weights as weights_lib

        if not _course_h5(filepath):  # Keras' own file: all or nothing, the model unchanged on failure
            weights_lib.load_weights_atomically(self, filepath, lambda p: super(Keras1Methods, self).load_weights(
                p, skip_mismatch=skip_mismatch, **kwargs))
            return None

        path = Path(filepath)
        if not path.is_file():
            raise FileNotFoundError(f"load_weights: no weight file at {str(path)!r}")
        if not weights_lib._is_keras3_weights_file(path):
            if not _load_in_order(self, path):
                weights_lib.load_weights(self, path)
            return None
        with tempfile.TemporaryDirectory() as tmp:
            staged = Path(tmp) / "model.weights.h5"
            shutil.copyfile(path, staged)
            return super().load_weights(staged, skip_mismatch=skip_mismatch, **kwargs)


def _load_in_order(model, path):
    """Keras 1's rule: weights go to the model's weighted layers in order, whatever their names.

    Used when some layer names differ from the file's (lesson 2 saves a model whose new top is
    `dense`, lesson 3 loads it into one whose top is `predictions`) but every shape matches.
    Returns False (nothing loaded) otherwise, so `vggcourse.weights` can explain the mismatch.
    """
    from vggcourse import weights as weights_lib

    groups = weights_lib.read_weight_groups(path)
    targets = [layer for layer in model.layers if layer.weights]
    stored = {name for name, _ in groups}
    if all(layer.name in stored for layer in targets) or len(groups) != len(targets):
        return False
    for layer, (_, arrays) in zip(targets, groups):
        if [tuple(v.shape) for v in layer.weights] != [a.shape for a in arrays]:
            return False
    for layer, (_, arrays) in zip(targets, groups):
        layer.set_weights(arrays)
    return True


def _input_shape_of_used_layer(layer):
    """The batch input shape of a layer that already belongs to a model, else None."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    for node in nodes:
        tensors = node.input_tensors
        if len(tensors) == 1:
            return tuple(tensors[0].shape)
    return None


@keras.saving.register_keras_serializable(package="vggcourse")
class Sequential(Keras1Methods, features.CachedSequential):
    """`keras.Sequential` with Keras 1's methods (`Keras1Methods`) and the feature cache
    (`features.CachedSequential`: a frozen bottom runs once per image of folder batches).

    Built at once when its first layer already belongs to another model (the course's
    `Sequential(conv_layers)`), so its shapes can be read before it sees data.

        conv_model = Sequential(vgg.model.layers[:last_conv_idx + 1])
    """

    def __init__(self, layers=None, trainable=True, name=None):
        layers = list(layers) if layers else []
        shape = _input_shape_of_used_layer(layers[0]) if layers else None
        if shape is not None:
            layers = [keras.Input(batch_shape=shape), *layers]
        super().__init__(layers, trainable=trainable, name=name)


@keras.saving.register_keras_serializable(package="vggcourse")
class Model(Keras1Methods, keras.Model):
    """`keras.Model` with Keras 1's methods and keywords: `Model(input=x, output=y)`."""

    def __init__(self, *args, **kwargs):
        for old, new in (("input", "inputs"), ("output", "outputs")):
            if old in kwargs:
                if new in kwargs:
                    raise UserTypeError(f"Model: pass `{old}` (Keras 1) or `{new}` (Keras 3), not both.")
                kwargs[new] = kwargs.pop(old)
        super().__init__(*args, **kwargs)


def output_shape_of(obj):
    """The output shape of a layer or model, batch axis first: Keras 1's `layer.output_shape`.

    For a layer used in several models, its first use (they agree for the course's layers).

        output_shape_of(conv_layers[-1])[1:]     # (14, 14, 512): channels last
    """
    if isinstance(obj, keras.Model):
        return obj.output_shape
    for node in getattr(obj, "_inbound_nodes", None) or []:
        shapes = [tuple(t.shape) for t in node.output_tensors]
        return shapes[0] if len(shapes) == 1 else shapes
    raise UserInputError(f"output_shape_of: layer {getattr(obj, 'name', obj)!r} has not been used in a "
                         "model yet, so it has no output shape. Add it to a model with an input shape first.")


# ---------------------------------------------------------------- backend

class _Backend:
    """Keras 1's `K` (`keras.backend`): the functions the course calls, on Keras 3.

        K.set_value(opt.lr, 0.01); K.get_value(opt.lr)
    Other names fall back to `keras.ops` (`K.mean`, `K.sum`, ...) and then `keras.backend`.
    """

    @staticmethod
    def get_value(x):
        """A variable's (or tensor's) value as a numpy array."""
        return keras.ops.convert_to_numpy(x)

    @staticmethod
    def set_value(x, value):
        """Set a variable such as `opt.lr` to `value`."""
        if not hasattr(x, "assign"):
            raise UserTypeError(
                f"K.set_value needs a variable, such as the `lr` of a vggcourse optimizer. Received: "
                f"{type(x).__name__} {x!r}. With a Keras optimizer use vggcourse.optimizers.get(opt), "
                f"or set opt.learning_rate = value.")
        x.assign(np.asarray(value, dtype=keras.backend.standardize_dtype(x.dtype)))

    @staticmethod
    def batch_get_value(xs):
        return [keras.ops.convert_to_numpy(x) for x in xs]

    @classmethod
    def batch_set_value(cls, pairs):
        for x, value in pairs:
            cls.set_value(x, value)

    eval = get_value

    @staticmethod
    def variable(value, dtype=None, name=None):
        return keras.Variable(value, dtype=dtype, name=name)

    @staticmethod
    def image_dim_ordering():
        """'tf': vggcourse is channels-last."""
        return "tf"

    @staticmethod
    def image_data_format():
        return "channels_last"

    @staticmethod
    def set_image_dim_ordering(ordering):
        """'tf' is accepted (channels-last, always); 'th' raises: vggcourse has no channels-first mode."""
        if ordering != "tf":
            raise UserInputError(
                f"K.set_image_dim_ordering: vggcourse is channels-last ('tf') throughout; images are "
                f"(height, width, channels) and the course's channels-first shapes are translated. "
                f"Remove this call (`vggcourse port` does). Received: {ordering!r}")

    set_image_data_format = staticmethod(
        lambda data_format: _Backend.set_image_dim_ordering("tf" if data_format == "channels_last" else data_format))

    @staticmethod
    def learning_phase():
        raise UserTypeError("K.learning_phase() is gone in Keras 3: call the model with training=True "
                            "or training=False instead.")

    @staticmethod
    def function(inputs, outputs, updates=None):
        """Keras 1's `K.function([inputs], [outputs])` over a model's tensors: list of arrays in,
        list of arrays out (inference mode)."""
        if updates:
            raise UserTypeError("K.function: `updates` is gone in Keras 3; train with model.fit.")
        model = keras.Model(inputs, outputs)

        def call(values):
            # predict_on_batch: no gradient tape (a torch tensor that requires grad has no numpy())
            result = model.predict_on_batch(values[0] if len(values) == 1 else list(values))
            return [np.asarray(keras.ops.convert_to_numpy(r))
                    for r in (result if isinstance(result, (list, tuple)) else [result])]

        return call

    def __getattr__(self, name):
        for namespace in (keras.ops, keras.backend):
            if hasattr(namespace, name):
                return getattr(namespace, name)
        raise AttributeError(f"K.{name}: Keras 3 has no backend function {name!r}; look for it in "
                             f"keras.ops (https://keras.io/api/ops/).")

    def __dir__(self):
        return sorted(set(dir(type(self))) | set(dir(keras.ops)) | set(dir(keras.backend)))

    def __repr__(self):
        return "<vggcourse.keras1.K: Keras 1's backend functions on Keras 3>"


K = _Backend()


# ---------------------------------------------------------------- files, labels, losses

_PACKAGED = {"imagenet_class_index.json": Path(__file__).parent / "data" / "imagenet_class_index.json"}


def get_file(fname, origin, untar=False, md5_hash=None, cache_subdir="datasets", file_hash=None,
             cache_dir=None, extract=False):
    """Keras 1's `get_file(fname, origin, cache_subdir='models')`: the file's local path.

    A file already in the Keras cache (`$KERAS_HOME/<cache_subdir>`, default `~/.keras`) is used
    as it is; `imagenet_class_index.json` (the course's class list) ships with vggcourse and is
    copied there rather than downloaded; anything else is downloaded by `keras.utils.get_file`
    (`md5_hash` is checked). Offline, the error names the file, the URL and the folder to put it in.

        fpath = get_file("imagenet_class_index.json", "http://files.fast.ai/models/imagenet_class_index.json",
                         cache_subdir="models")
    """
    if not isinstance(fname, (str, os.PathLike)) or not str(fname):
        raise UserInputError(f"get_file: `fname` must be a file name. Received: fname={fname!r}")
    root = Path(cache_dir or os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    folder = root / cache_subdir
    target = folder / os.fspath(fname)
    packaged = _PACKAGED.get(os.fspath(fname))
    if packaged is not None and not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(packaged, target)
    if target.is_file() and not (md5_hash or file_hash) and not (untar or extract):
        return str(target)
    try:
        return keras.utils.get_file(os.fspath(fname), origin, file_hash=file_hash or md5_hash,
                                    cache_subdir=cache_subdir, cache_dir=str(root),
                                    extract=bool(untar or extract))
    except Exception as err:  # keras raises plain Exception for network errors
        raise OSError(f"get_file could not download {fname!r} from {origin}: {err}. Put the file in "
                      f"{folder} by hand, or download it on a machine with internet access.") from err


def to_categorical(y, nb_classes=None, num_classes=None):
    """Keras 1's `to_categorical(y, nb_classes)`: one-hot float32 rows."""
    return keras.utils.to_categorical(np.asarray(y).ravel(), num_classes=nb_classes or num_classes)


np_utils = types.SimpleNamespace(to_categorical=to_categorical)
sequence = types.SimpleNamespace(pad_sequences=keras.utils.pad_sequences)  # keras.preprocessing.sequence


def categorical_crossentropy(y_true, y_pred):
    """Keras' categorical cross-entropy per sample."""
    return keras.losses.categorical_crossentropy(y_true, y_pred)


def categorical_accuracy(y_true, y_pred):
    """1.0 where the argmax of `y_pred` matches that of `y_true`, per sample (Keras' metric)."""
    return keras.metrics.categorical_accuracy(y_true, y_pred)


def l1(l=0.01):  # noqa: E741 (Keras 1's argument name)
    """Keras 1's `l1(l)` weight regularizer."""
    return keras.regularizers.L1(l)


def l2(l=0.01):  # noqa: E741
    """Keras 1's `l2(l)` weight regularizer."""
    return keras.regularizers.L2(l)


activity_l1, activity_l2 = l1, l2  # Keras 3 passes either kind as activity_regularizer=


def layer_from_config(config):
    """Keras 1's `layer_from_config({'class_name': ..., 'config': ...})`: a new layer."""
    return keras.layers.deserialize(config)


# ---------------------------------------------------------------- keras.preprocessing.image

def _image_namespace():
    from vggcourse import image as image_lib

    class ImageDataGenerator(image_lib.ImageDataGenerator):
        """`vggcourse.image.ImageDataGenerator` taking Keras 1's extra arguments.

        `dim_ordering='tf'` (channels-last) is accepted; 'th' raises. The normalisation options
        Keras 1 had (featurewise_center, zca_whitening, ...) are accepted when False.
        """

        _OFF = ("featurewise_center", "samplewise_center", "featurewise_std_normalization",
                "samplewise_std_normalization", "zca_whitening")

        def __init__(self, *args, dim_ordering="default", data_format=None, **kwargs):
            if dim_ordering not in ("default", "tf") or data_format not in (None, "channels_last"):
                raise UserInputError(
                    f"ImageDataGenerator: vggcourse's batches are channels-last. Received: "
                    f"dim_ordering={dim_ordering!r}, data_format={data_format!r}; leave both out.")
            for name in self._OFF:
                if kwargs.pop(name, False):
                    raise UserInputError(f"ImageDataGenerator: `{name}` is not supported; the VGG "
                                         f"model normalises its own input (VggPreprocess). Leave it out.")
            if "width_zoom_range" in kwargs:
                kwargs.pop("width_zoom_range")
                warnings.warn("ImageDataGenerator: `width_zoom_range` is not a Keras argument "
                              "(dogscats-ensemble passes it); it is ignored. `zoom_range` zooms "
                              "both axes.", stacklevel=2)
            super().__init__(*args, **kwargs)

        def flow(self, *args, **kwargs):
            return _with_keras1_names(super().flow(*args, **kwargs))

        def flow_from_directory(self, *args, **kwargs):
            return _with_keras1_names(super().flow_from_directory(*args, **kwargs))

    module = types.ModuleType("vggcourse.keras1.image", "Keras 1's keras.preprocessing.image names.")
    module.ImageDataGenerator = ImageDataGenerator
    for name in ("load_img", "img_to_array", "array_to_img", "DirectoryIterator", "ArrayIterator"):
        setattr(module, name, getattr(image_lib, name))
    module.NumpyArrayIterator = image_lib.ArrayIterator
    return module


def _with_keras1_names(batches):
    """Keras 1's `N` (the number of samples) on a batch iterator."""
    if not hasattr(batches, "N"):
        batches.N = batches.n
    return batches


image = _image_namespace()
