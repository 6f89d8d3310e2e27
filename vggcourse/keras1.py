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
- `Keras1Methods` (from `vggcourse._keras1_methods`), a mixin for any `keras.Model`:
  `fit_generator`, `predict_generator`, `evaluate_generator` with Keras 1's arguments (and
  Keras 2's), `predict_classes`, `predict_proba`, `fit(nb_epoch=)`, `compile(sample_weight_mode=None)`.
- `Sequential`: `vgg.model`'s class (`model.VggSequential`) under Keras 1's name, built at once
  from layers of another model; `Model`: `model.VggModel` (`keras.Model` with the mixin) under
  Keras 1's name, `Model(input=, output=)`.
  Both have `model.ModelCore`'s `compile('adam')` with `vggcourse.optimizers` (so
  `model.optimizer.lr = x` works) and `save_weights` / `load_weights` on plain '.h5' names.
- the layers with Keras 1 signatures (`vggcourse._keras1_layers`: `Convolution2D(64, 3, 3)`, ...),
  `Input`, `merge`, the optimizers (`vggcourse.optimizers`), regularizers `l1`, `l2`, `activity_l2`.
- `K`, the backend functions the notebooks use (`set_value`, `get_value`, `eval`, ...);
  `get_file`, `to_categorical`, `image` (Keras 1's `keras.preprocessing.image` names) and
  `output_shape_of` (Keras 3 layers have no `output_shape`; `vggcourse port` rewrites
  `layer.output_shape` to it).
- `mnist`, `imdb`, `reuters`, `cifar10`, `cifar100`: Keras 1's `keras.datasets` modules (from `vggcourse.datasets`), for
  `from keras.datasets import mnist` as `vggcourse port` rewrites it; not in `__all__`, so
  `from vggcourse.utils import *` stays the course's namespace.

Everything is channels-last; see `vggcourse._keras1_layers` for how the course's channels-first
shapes are read.
"""
import os
import shutil
import types
import warnings
from pathlib import Path

import keras
import numpy as np

from vggcourse._keras1_layers import *  # noqa: F401,F403 (the layer signatures)
from vggcourse._keras1_layers import __all__ as _LAYER_NAMES
from vggcourse._keras1_layers import channels_last_images
from vggcourse._keras1_methods import Keras1Methods, translate_fit_kwargs
from vggcourse import augment, checks, download, text  # noqa: F401 (keras.preprocessing.text; not in __all__)
from vggcourse.datasets import cifar10, cifar100, imdb, mnist, reuters  # noqa: F401 (keras.datasets; not in __all__)
from vggcourse.errors import UserInputError, UserTypeError
from vggcourse.layers import layer_calls
from vggcourse.model import VggModel, VggSequential
from vggcourse.optimizers import SGD, Adam, RMSprop
from vggcourse.text import Tokenizer
from vggcourse._console import keras_home

__all__ = [
    "Keras1Methods", "Sequential", "Model", "K", "get_file", "to_categorical", "np_utils", "image",
    "sequence", "Tokenizer",
    "output_shape_of", "translate_fit_kwargs", "SGD", "RMSprop", "Adam", "l1", "l2", "activity_l1",
    "activity_l2", "categorical_crossentropy", "categorical_accuracy", "layer_from_config",
    *_LAYER_NAMES,
]


def _input_shape_of_used_layer(layer):
    """The batch input shape of a layer that already belongs to a model, else None."""
    for inputs, _ in layer_calls(layer):
        if len(inputs) == 1:
            return tuple(inputs[0].shape)
    return None


@keras.saving.register_keras_serializable(package="vggcourse")
class Sequential(VggSequential):
    """`vgg.model`'s class (`model.VggSequential`: Keras 1's methods, the model core, the feature
    cache) with Keras 1's constructor and class name (Keras 3 names a nested model's weights in a
    file after its class, so files saved with a model inside a `Sequential` keep loading).

    Built at once when its first layer already belongs to another model (the course's
    `Sequential(conv_layers)`), so its shapes can be read before it sees data, or has Keras 1's
    `batch_input_shape=(batch, ...)` (a fixed batch size, as lesson 6's stateful LSTM needs).

        conv_model = Sequential(vgg.model.layers[:last_conv_idx + 1])
    """

    def __init__(self, layers=None, trainable=True, name=None):
        layers = list(layers) if layers else []
        shape = _input_shape_of_used_layer(layers[0]) if layers else None
        if shape is None and layers:
            shape = getattr(layers[0], "keras1_batch_input_shape", None)  # Keras 1's batch_input_shape=
        if shape is not None:
            layers = [keras.Input(batch_shape=shape), *layers]
        super().__init__(layers, trainable=trainable, name=name)


@keras.saving.register_keras_serializable(package="vggcourse")
class Model(VggModel):
    """`model.VggModel` (a `keras.Model` with Keras 1's methods and `vgg.model`'s compile and weight
    files) with Keras 1's keywords (`Model(input=x, output=y)`) and class name.

    As in Keras 1, a model called on an input checks its rank and last axis, not the axes between:
    Keras 1 ran a model's layers on an input of another length (lesson 5 builds a graph on
    `Input((vocab_size, 50))` and calls it on 500 words of 50 numbers), where Keras 3 checks the
    whole shape. Keras 3's other leniency stays: `(n,)` ids go into an `Input((1,))` (lesson 4).
    """

    def __init__(self, *args, **kwargs):
        for old, new in (("input", "inputs"), ("output", "outputs")):
            if old in kwargs:
                if new in kwargs:
                    raise UserTypeError(f"Model: pass `{old}` (Keras 1) or `{new}` (Keras 3), not both.")
                kwargs[new] = kwargs.pop(old)
        super().__init__(*args, **kwargs)

    @property
    def input_spec(self):
        specs = super().input_spec
        if hasattr(self, "_manual_input_spec") or not isinstance(specs, list):
            return specs
        return [keras.InputSpec(shape=None if spec.shape is None else (*[None] * (len(spec.shape) - 1), spec.shape[-1]),
                                name=spec.name, optional=spec.optional, allow_last_axis_squeeze=True)
                for spec in specs]

    @input_spec.setter
    def input_spec(self, value):
        self._manual_input_spec = value


def output_shape_of(obj):
    """The output shape of a layer or model, batch axis first: Keras 1's `layer.output_shape`.

    For a layer used in several models, its first use (they agree for the course's layers).

        output_shape_of(conv_layers[-1])[1:]     # (14, 14, 512): channels last
    """
    if isinstance(obj, keras.Model):
        return obj.output_shape
    for _, outputs in layer_calls(obj):
        shapes = [tuple(t.shape) for t in outputs]
        return shapes[0] if len(shapes) == 1 else shapes
    raise UserInputError(f"output_shape_of: layer {getattr(obj, 'name', obj)!r} has not been used in a "
                         "model yet, so it has no output shape. Add it to a model with an input shape first.")


# ---------------------------------------------------------------- backend

class _LearningPhase:
    """What `K.learning_phase()` returns: a place in `K.function`'s inputs for Keras 1's training flag."""

    def __repr__(self):
        return "K.learning_phase()"


LEARNING_PHASE = _LearningPhase()


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
        """Keras 1's training flag, as an input of `K.function`: the value passed for it at the call
        is 0 (inference: Dropout off, BatchNormalization's moving statistics) or 1 (training)."""
        return LEARNING_PHASE

    @staticmethod
    def function(inputs, outputs, updates=None):
        """Keras 1's `K.function(inputs, outputs)` over a model's tensors: a function of a list of
        arrays, one per input, that returns a list of arrays (one array when `outputs` is one
        tensor, as Keras 1 did). `K.learning_phase()` among the inputs takes 0 or 1 at the call.

            f = K.function([model.layers[0].input, K.learning_phase()], [model.layers[2].output])
            hidden = f([x, 0])[0]        # with Dropout off; f([x, 1]) with Dropout on
        """
        if updates:
            raise UserTypeError("K.function: `updates` is gone in Keras 3; train with model.fit.")
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        phase = [i for i, x in enumerate(inputs) if x is LEARNING_PHASE]
        tensors = [x for x in inputs if x is not LEARNING_PHASE]
        if len(phase) > 1 or not tensors:
            raise UserInputError(f"K.function takes model tensors and at most one K.learning_phase() as "
                                 f"inputs. Received: {len(tensors)} tensors and {len(phase)} learning phases")
        model = keras.Model(tensors[0] if len(tensors) == 1 else tensors, outputs)

        def call(values):
            values = list(values) if isinstance(values, (list, tuple)) else [values]
            if len(values) != len(inputs):
                raise UserInputError(f"this K.function takes a list of {len(inputs)} values, one per input "
                                     f"({', '.join(map(repr, inputs))}). Received: {len(values)}")
            training = bool(checks.one_of("learning phase", values[phase[0]], (0, 1))) if phase else False
            x = [v for i, v in enumerate(values) if i not in phase]
            x = x[0] if len(x) == 1 else x
            if training:  # stop_gradient: a torch tensor that requires grad has no numpy()
                result = model(x, training=True)
                result = [keras.ops.stop_gradient(r) for r in (result if isinstance(result, (list, tuple)) else [result])]
            else:  # predict_on_batch: no gradient tape
                result = model.predict_on_batch(x)
            result = [np.asarray(keras.ops.convert_to_numpy(r))
                      for r in (result if isinstance(result, (list, tuple)) else [result])]
            return result if isinstance(outputs, (list, tuple)) else result[0]

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

    A file already in the Keras cache (`keras_home() / cache_subdir`: `$KERAS_HOME`, default
    `~/.keras`; an absolute `cache_subdir` is that folder) is used as it is, or, with `md5_hash` /
    `file_hash`, when it matches. `imagenet_class_index.json` (the course's class list) ships with
    vggcourse and is copied there rather than downloaded. Anything else is downloaded by
    `vggcourse.download.fetch` (into a temporary file, hash-checked, then renamed: a copy that
    fails its hash stays where it is until a good one replaces it). Offline, the error names the
    file, the URL and the folder to put it in.

    `untar=True` is Keras 1's: `origin` is a .tar.gz, saved as `<fname>.tar.gz` (the hash is the
    archive's), unpacked into the same folder unless `<fname>` is there already, and the path
    returned is `<folder>/<fname>` (lesson 5's GloVe files: `<fname>.dat`, `<fname>_words.pkl`
    beside it). `extract=True` is Keras 2's: `fname` is the archive, unpacked beside itself, and
    its path is returned. Both unpack with `vggcourse.download.unpack`.

        fpath = get_file("imagenet_class_index.json", "http://files.fast.ai/models/imagenet_class_index.json",
                         cache_subdir="models")
        loc = get_file("6B.50d", "http://files.fast.ai/models/glove/6B.50d.tgz", untar=True,
                       cache_subdir=os.path.abspath("data/glove/results"))
    """
    if not isinstance(fname, (str, os.PathLike)) or not str(fname):
        raise UserInputError(f"get_file: `fname` must be a file name. Received: fname={fname!r}")
    root = Path(cache_dir).expanduser() if cache_dir else keras_home()
    folder = root / cache_subdir
    target = folder / os.fspath(fname)
    packaged = _PACKAGED.get(os.fspath(fname))
    if packaged is not None and not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(packaged, target)
    digest = file_hash or md5_hash
    archive = target.with_name(target.name + ".tar.gz") if untar else target
    download.fetch(origin, archive, digest, what="requested", mirror_env=None,
                   by_hand=" (or on a machine with internet access)")
    if (untar and not target.exists()) or extract:
        download.unpack(archive, folder)
    return str(target)


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
        """`vggcourse.image.ImageDataGenerator` with Keras 1's conventions, the course's: shear in
        radians, shifts a fraction of the size (never pixels), Keras 1's direction of rotation and
        a random offset per channel for `channel_shift_range` (`augment.keras1_random_transform`).

        `dim_ordering='tf'` (channels-last) is accepted and 'th' refused; `flow` also reads
        channels-first arrays and gives channels-last batches. Keras 1 had no `brightness_range`. `get_random_transform`
        and `apply_transform` (which Keras 1 did not have) are Keras 2's.

            gen = image.ImageDataGenerator(rotation_range=10, shear_range=0.15)   # 0.15 radians
        """

        def __init__(self, *args, **kwargs):
            if "width_zoom_range" in kwargs:
                kwargs.pop("width_zoom_range")
                warnings.warn("ImageDataGenerator: `width_zoom_range` is not a Keras argument "
                              "(dogscats-ensemble passes it); it is ignored. `zoom_range` zooms "
                              "both axes.", stacklevel=2)
            if kwargs.get("dim_ordering") == "th":
                raise UserInputError("ImageDataGenerator: vggcourse's course models are channels-last, so Keras 1's "
                                     "generator is too: dim_ordering must be 'default' or 'tf'. Received: "
                                     "dim_ordering='th'. Leave it out: `flow` reads channels-first arrays as they "
                                     "are and gives channels-last batches.")
            if "brightness_range" in kwargs:
                raise UserTypeError("ImageDataGenerator: Keras 1 has no `brightness_range`; use "
                                    "vggcourse.image.ImageDataGenerator (Keras 2's) for it.")
            super().__init__(*args, **kwargs)
            for name in ("width_shift_range", "height_shift_range"):
                if isinstance(getattr(self, name), list):
                    raise UserInputError(f"ImageDataGenerator: Keras 1's `{name}` is a fraction of the size; lists "
                                         "of pixel counts are Keras 2's (vggcourse.image.ImageDataGenerator).")

        def _random_last(self, x, rng):
            return augment.keras1_random_transform(
                x, rng, self.rotation_range, self.width_shift_range, self.height_shift_range, self.shear_range,
                self.zoom_range, self.channel_shift_range, self.horizontal_flip, self.vertical_flip,
                self.fill_mode, self.cval, self.interpolation_order)

        def flow(self, x, y=None, batch_size=32, shuffle=True, seed=None, **kwargs):
            """`vggcourse.image.ImageDataGenerator.flow` in Keras 1's argument order, also taking
            the course's channels-first arrays (`np.expand_dims(X, 1)`: `(n, 1, 28, 28)`): their
            batches come channels-last, as vggcourse's models take them
            (`_keras1_layers.channels_last_images`).

                batches = image.ImageDataGenerator(rotation_range=8).flow(X_train, y_train)
            """
            return super().flow(channels_last_images(np.asarray(x)), y, batch_size=batch_size, shuffle=shuffle,
                                seed=seed, **kwargs)

    module = types.ModuleType("vggcourse.keras1.image", "Keras 1's keras.preprocessing.image names.")
    module.ImageDataGenerator = ImageDataGenerator
    for name in ("load_img", "img_to_array", "array_to_img", "DirectoryIterator", "ArrayIterator",
                 "NumpyArrayIterator", "Iterator", "flip_axis", "list_pictures"):
        setattr(module, name, getattr(image_lib, name))
    return module


image = _image_namespace()
