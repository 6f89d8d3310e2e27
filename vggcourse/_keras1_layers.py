"""Keras 1 layer signatures that build Keras 3 layers (re-exported by `vggcourse.keras1`).

    Convolution2D(64, 3, 3, border_mode="same", subsample=(2, 2), activation="relu")
        # -> keras.layers.Conv2D(64, (3, 3), padding="same", strides=(2, 2), activation="relu")
    Dense(2, input_dim=1000)        # -> keras.layers.Dense(2, input_shape=(1000,))

Calling one of these classes returns the plain Keras 3 layer, so models save, load and clone as
Keras models; `isinstance(layer, Convolution2D)` is `isinstance(layer, keras.layers.Conv2D)`.
Keras 3's own argument names are accepted too. An argument neither Keras knows raises TypeError
naming it; a value with no Keras 3 meaning (border_mode='full', BatchNormalization(mode=1))
raises ValueError naming the replacement. Values are checked when the layer is made, under the
name the user wrote: `Dense(-1)` is refused as `output_dim`, `subsample=(0, 0)` as `subsample`,
`init='nonexistent'` with the list of initializer names (`vggcourse.errors` user errors).

Channels-last translation (vggcourse's images are (height, width, channels)):
- a 3-d `input_shape` / `shape` whose first entry is 1 or 3 and last is not, such as the
  course's `(3, 224, 224)`, is read as channels-first and becomes `(224, 224, 3)`;
- a `Lambda` given such a shape runs its function on a channels-first view of its input
  (transposed in and back out), so the course's `vgg_preprocess` (`x - mean` with a (3, 1, 1)
  mean, `x[:, ::-1]` for RGB -> BGR) works unchanged;
- `BatchNormalization(axis=1)` (Keras 1 + Theano: the channel axis, or the feature axis of a
  dense output) becomes `axis=-1`;
- image arrays in that order, such as MNIST's `np.expand_dims(X, 1)` `(n, 1, 28, 28)`, are
  transposed by `channels_last_images` where Keras 1's methods and `image.ImageDataGenerator.flow`
  take them.
"""
import functools
import inspect
import numbers
import warnings

import keras
import numpy as np
from keras import ops

from vggcourse import checks
from vggcourse.errors import UserInputError, UserTypeError

__all__ = [
    "Dense", "Convolution1D", "Convolution2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling2D",
    "ZeroPadding2D", "UpSampling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
    "BatchNormalization", "Dropout", "Flatten", "Activation", "Reshape", "Lambda", "Embedding",
    "LSTM", "GRU", "SimpleRNN", "TimeDistributed", "Bidirectional", "Input", "merge", "Merge",
    "channels_last_shape", "WordDropoutEmbedding",
]

# Keras 1 argument -> Keras 3 argument, shared by every layer.
_COMMON_RENAMES = {
    "init": "kernel_initializer", "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer", "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint", "bias": "use_bias", "border_mode": "padding",
    "subsample": "strides", "subsample_length": "strides", "pool_length": "pool_size",
    "filter_length": "kernel_size", "nb_filter": "filters", "output_dim": "units", "p": "rate",
}
# Arguments (Keras 1 and Keras 3 names) that are a whole number >= 1; those in _MAY_BE_NONE may be None.
_COUNTS = ("output_dim", "units", "nb_filter", "filters", "input_dim", "input_length")
# Arguments that are a whole number >= 1 or a tuple of them, one per spatial axis of the layer.
_SIZES = ("nb_row", "nb_col", "filter_length", "kernel_size", "subsample", "subsample_length", "strides",
          "stride", "pool_size", "pool_length")
_MAY_BE_NONE = {"input_dim", "input_length", "strides", "stride"}  # None: the Keras default
_SPATIAL_RANK = {keras.layers.Conv1D: 1, keras.layers.MaxPooling1D: 1, keras.layers.Conv2D: 2,
                 keras.layers.MaxPooling2D: 2, keras.layers.AveragePooling2D: 2}
# Keras 1 initializer names that Keras 3 spells differently (Keras 1 scaled 'uniform'/'normal' by 0.05).
_INITIALIZERS = {
    "zero": "zeros", "one": "ones",
    "uniform": keras.initializers.RandomUniform(-0.05, 0.05),
    "normal": keras.initializers.RandomNormal(stddev=0.05),
}
_LAYER_ARGS = {"name", "trainable", "dtype", "input_shape", "activity_regularizer"}


def channels_last_shape(shape):
    """`shape` with a leading channel axis moved last: (3, 224, 224) -> (224, 224, 3).

    Only a 3-d shape whose first entry is 1 or 3 and whose last entry is not is treated as
    channels-first (the course's image shapes); any other shape is returned as it is.
    """
    if shape is None:
        return None
    shape = tuple(shape)
    if len(shape) == 3 and shape[0] in (1, 3) and shape[-1] not in (1, 3):
        return shape[1:] + shape[:1]
    return shape


def channels_last_images(x, expected=None):
    """`x` transposed to channels-last when it is a numpy batch of channels-first images.

    A 4-d array whose image shape `x.shape[1:]` is channels-first by `channels_last_shape`'s rule
    (`(n, 1, 28, 28)`, `(n, 3, 224, 224)`) becomes `(n, 28, 28, 1)` / `(n, 224, 224, 3)`; with
    `expected` (a model's channels-last input shape, batch axis first or not) only when the
    transposed shape is that one. Anything else is returned unchanged.

        channels_last_images(np.zeros((5, 1, 28, 28))).shape   # -> (5, 28, 28, 1)
    """
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        return x
    image_shape = tuple(x.shape[1:])
    if not _is_channels_first(image_shape):
        return x
    if expected is not None and channels_last_shape(image_shape) != tuple(expected)[-3:]:
        return x
    return x.transpose(0, 2, 3, 1)


def _is_channels_first(shape):
    return shape is not None and channels_last_shape(shape) != tuple(shape)


def _check_choice(layer, name, value, allowed, hint=""):
    """`checks.one_of`, followed by `hint` (what to write in Keras 3 instead)."""
    try:
        checks.one_of(name, value, sorted(allowed), caller=layer)
    except UserInputError as error:
        raise UserInputError(f"{error}.{hint}") from None


def _initializer_names():
    """The initializer names a layer accepts: Keras 3's snake_case ones and Keras 1's own."""
    names = {n for n in dir(keras.initializers) if n.islower() and not n.startswith("_")}
    return sorted(names - {"get", "serialize", "deserialize"} | set(_INITIALIZERS))


def _check_initializer(layer, name, value):
    if value in _INITIALIZERS:
        return
    try:
        keras.initializers.get(value)
    except ValueError:
        checks.one_of(name, value, _initializer_names(), caller=layer)


def _check_size(layer, name, value, rank):
    """`value` is a whole number >= 1, or a tuple/list of `rank` of them (any length if rank is None)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if ((isinstance(value, (tuple, list)) and (not items or rank not in (None, len(items))))
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in items)):
        tuple_of = {None: "a tuple of them", 1: "a tuple of one"}.get(rank, f"a tuple of {rank} of them")
        raise UserInputError(f"{layer}: `{name}` must be a whole number >= 1 or {tuple_of}. "
                             f"Received: {name}={value!r}")


def _check_values(layer, kwargs, rank):
    """Check the values of `kwargs` under the names the user wrote (before any renaming)."""
    for name, value in kwargs.items():
        if value is None and name in _MAY_BE_NONE:
            continue
        if name in _COUNTS:
            checks.whole_number(name, value, 1, caller=layer)
        elif name in _SIZES:
            _check_size(layer, name, value, rank)
        elif isinstance(value, str) and (name == "init" or name.endswith(("_init", "_initializer"))):
            _check_initializer(layer, name, value)
        elif name == "consume_less":
            _check_choice(layer, name, value, {"cpu", "mem", "gpu"})
        elif name == "border_mode":
            _check_choice(layer, name, value, {"valid", "same"},
                          " Keras 1's 'full' has no Keras 3 equivalent: add ZeroPadding2D(k - 1) "
                          "before a 'valid' convolution." if value == "full" else "")


def _check_dim_ordering(layer, kwargs):
    ordering = kwargs.pop("dim_ordering", "default")
    _check_choice(layer, "dim_ordering", ordering, {"default", "tf"},
                  " vggcourse is channels-last ('tf') throughout: leave dim_ordering out.")


def _translate_common(layer, kwargs, renames, input_dim_is_shape=True, takes_weights=False):
    """Rename Keras 1 arguments in `kwargs` (in place, `renames`: old -> new) and translate their values."""
    for old, new in renames.items():
        if old in kwargs and new != old:
            if new in kwargs:
                raise UserTypeError(f"{layer}: pass `{old}` (Keras 1) or `{new}` (Keras 3), not both.")
            kwargs[new] = kwargs.pop(old)
    for name, value in kwargs.items():
        if name.endswith("_initializer") and isinstance(value, str) and value in _INITIALIZERS:
            kwargs[name] = _INITIALIZERS[value]
    if "weights" in kwargs and not takes_weights:
        raise UserTypeError(f"{layer}: `weights=` is not a Keras 3 argument. Build the model, then "
                            f"call layer.set_weights([...]) with the same arrays.")
    if input_dim_is_shape and "input_dim" in kwargs:
        kwargs["input_shape"] = (kwargs.pop("input_dim"),)
    if "batch_input_shape" in kwargs:
        shape = tuple(kwargs.pop("batch_input_shape"))
        kwargs["input_shape"] = shape[1:]
        if shape[0] is not None:
            kwargs["batch_size"] = shape[0]  # taken off again in _Keras1Layer.__call__ (see there)
    if "input_shape" in kwargs:
        kwargs["input_shape"] = channels_last_shape(kwargs["input_shape"])


def _allowed(keras_class):
    """The keyword arguments `keras_class` takes: its own, and its Keras base's for one of ours
    (`WordDropoutEmbedding` passes the others on to keras.layers.Embedding)."""
    params = inspect.signature(keras_class.__init__).parameters
    own = {n for n, p in params.items() if n != "self" and p.kind != p.VAR_KEYWORD} | _LAYER_ARGS
    if keras_class.__module__ == __name__:
        own |= _allowed(keras_class.__base__)
    return own


def _build(keras_class, layer, kwargs):
    unknown = sorted(set(kwargs) - _allowed(keras_class))
    if unknown:
        raise UserTypeError(
            f"{layer}: unknown argument `{unknown[0]}`. It is neither a Keras 1 argument of {layer} "
            f"nor a Keras 3 argument of keras.layers.{keras_class.__name__} "
            f"({', '.join(sorted(_allowed(keras_class)))}). Check its spelling.")
    with warnings.catch_warnings():  # Keras 3 asks for keras.Input instead of input_shape=
        warnings.filterwarnings("ignore", message=".*input_shape.*")
        return keras_class(**kwargs)


def _positional(layer, names, args, kwargs):
    """Put positional `args` into `kwargs` under Keras 1's `names`."""
    if len(args) > len(names):
        raise UserTypeError(f"{layer} takes at most {len(names)} positional arguments ({', '.join(names)}); "
                            f"received {len(args)}. Pass the others by name.")
    for name, value in zip(names, args):
        if name in kwargs:
            raise UserTypeError(f"{layer}: `{name}` given twice (by position and by name).")
        kwargs[name] = value


class _Keras1Layer(type):
    """Metaclass: calling the class builds its Keras 3 layer; isinstance checks the Keras 3 class."""

    def __call__(cls, *args, **kwargs):
        kwargs = dict(kwargs)
        _positional(cls.__name__, cls.keras1_args, args, kwargs)
        _check_dim_ordering(cls.__name__, kwargs)
        _check_values(cls.__name__, kwargs, _SPATIAL_RANK.get(cls.keras_class))
        cls.translate(kwargs)
        _translate_common(cls.__name__, kwargs, {**_COMMON_RENAMES, **cls.renames}, cls.input_dim_is_shape,
                          "weights" in _allowed(cls.keras_class))
        # A Keras 3 layer takes no batch size; a Sequential made of these layers reads the whole
        # batch input shape back (`keras1.Sequential`: a fixed batch, as a stateful RNN needs).
        batch_size = kwargs.pop("batch_size", None)
        layer = cls.finish(_build(cls.layer_class(kwargs), cls.__name__, kwargs))
        has_shape = batch_size is not None and "input_shape" in kwargs
        layer.keras1_batch_input_shape = (batch_size, *kwargs["input_shape"]) if has_shape else None
        return layer

    def __instancecheck__(cls, obj):
        return isinstance(obj, cls.keras_class)

    def __subclasscheck__(cls, sub):
        return isinstance(sub, type) and issubclass(sub, cls.keras_class)


class _Layer(metaclass=_Keras1Layer):
    keras_class = None
    keras1_args = ()
    input_dim_is_shape = True
    renames = {}  # this layer's Keras 1 -> Keras 3 names; they win over _COMMON_RENAMES

    @staticmethod
    def translate(kwargs):
        """Layer-specific Keras 1 -> Keras 3 changes to `kwargs` (in place), after the value checks."""

    @classmethod
    def layer_class(cls, kwargs):
        """The Keras class to build from the translated `kwargs`: `keras_class`, unless a Keras 1
        argument needs a subclass of it (Embedding's `dropout`)."""
        return cls.keras_class

    @staticmethod
    def finish(layer):
        """The built Keras 3 `layer`, with any check that needs its input's shape."""
        return layer


def _declare(name, keras_class, keras1_args=(), base=None):
    """A Keras 1 signature whose only changes are the shared ones (renames, shapes, checks)."""
    doc = f"`{name}({', '.join(keras1_args)})`: keras.layers.{keras_class.__name__}."
    return _Keras1Layer(name, (base or _Layer,), {"keras_class": keras_class, "keras1_args": keras1_args,
                                                  "__doc__": doc, "__module__": __name__})


class _Pooling2D(_Layer):
    keras1_args = ("pool_size", "strides", "border_mode")


# Keras 1 name, Keras 3 class, Keras 1's positional arguments (keyword renames are in _COMMON_RENAMES).
Dense = _declare("Dense", keras.layers.Dense, ("output_dim", "init", "activation"))
Convolution1D = _declare("Convolution1D", keras.layers.Conv1D, ("nb_filter", "filter_length"))
MaxPooling2D = _declare("MaxPooling2D", keras.layers.MaxPooling2D, _Pooling2D.keras1_args)
AveragePooling2D = _declare("AveragePooling2D", keras.layers.AveragePooling2D, _Pooling2D.keras1_args)
ZeroPadding2D = _declare("ZeroPadding2D", keras.layers.ZeroPadding2D, ("padding",))
UpSampling2D = _declare("UpSampling2D", keras.layers.UpSampling2D, ("size",))
GlobalAveragePooling2D = _declare("GlobalAveragePooling2D", keras.layers.GlobalAveragePooling2D)
GlobalMaxPooling2D = _declare("GlobalMaxPooling2D", keras.layers.GlobalMaxPooling2D)
Dropout = _declare("Dropout", keras.layers.Dropout, ("p",))
Flatten = _declare("Flatten", keras.layers.Flatten)
Activation = _declare("Activation", keras.layers.Activation, ("activation",))
Reshape = _declare("Reshape", keras.layers.Reshape, ("target_shape",))
TimeDistributed = _declare("TimeDistributed", keras.layers.TimeDistributed, ("layer",))
Bidirectional = _declare("Bidirectional", keras.layers.Bidirectional, ("layer", "merge_mode"))


class Convolution2D(_Layer):
    """`Convolution2D(nb_filter, nb_row, nb_col, border_mode='valid', subsample=(1, 1), activation=)`.

    `Convolution2D(64, 3, 3)` is `keras.layers.Conv2D(64, (3, 3))`; Keras 3's own
    `Convolution2D(64, (3, 3), strides=2)` also works.
    """
    keras_class = keras.layers.Conv2D
    keras1_args = ("nb_filter", "nb_row", "nb_col")

    @staticmethod
    def translate(kwargs):
        if "nb_row" in kwargs or "nb_col" in kwargs:
            row, col = kwargs.pop("nb_row", None), kwargs.pop("nb_col", None)
            if isinstance(row, (tuple, list)) and col is None:  # Keras 3 style: (filters, kernel_size)
                kwargs["kernel_size"] = tuple(row)
            elif row is None or col is None:
                raise UserTypeError("Convolution2D needs both `nb_row` and `nb_col` (Keras 1: "
                                    "Convolution2D(64, 3, 3)), or `kernel_size` (Keras 3).")
            else:
                kwargs["kernel_size"] = (row, col)


class MaxPooling1D(_Layer):
    """`MaxPooling1D(pool_length=2, stride=None, border_mode='valid')`."""
    keras_class = keras.layers.MaxPooling1D
    keras1_args = ("pool_length", "stride", "border_mode")
    renames = {"stride": "strides"}


class BatchNormalization(_Layer):
    """`BatchNormalization(epsilon=1e-3, mode=0, axis=-1, momentum=0.99, beta_init=, gamma_init=)`.

    `axis=1` (Keras 1 + Theano's channel axis) becomes -1; only `mode=0` exists in Keras 3.
    `axis` must be a whole number other than 0 (the batch axis); one outside the input's rank
    (`axis=5` for an image batch of rank 4) is refused when the layer is built.
    """
    keras_class = keras.layers.BatchNormalization
    keras1_args = ("epsilon", "mode", "axis", "momentum")
    renames = {"beta_init": "beta_initializer", "gamma_init": "gamma_initializer"}

    @staticmethod
    def translate(kwargs):
        mode = kwargs.pop("mode", 0)
        if mode != 0:
            raise UserInputError(
                f"BatchNormalization: `mode` must be 0 (feature-wise, the only mode of Keras 3). "
                f"Received: mode={mode!r}. For mode=1 (per sample) use keras.layers.LayerNormalization.")
        axis = kwargs.get("axis", -1)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or axis == 0:
            raise UserInputError(f"BatchNormalization: `axis` must be a whole number other than 0 (the "
                                 f"batch axis), such as -1 (the channels). Received: axis={axis!r}")
        if axis == 1:
            kwargs["axis"] = -1

    @staticmethod
    def finish(layer):
        build = layer.build  # Keras' wrapper of BatchNormalization.build, kept on the instance

        @functools.wraps(build)
        def build_with_axis_check(input_shape):
            rank = len(input_shape)
            if not 0 < abs(layer.axis) < rank:
                raise UserInputError(
                    f"BatchNormalization: `axis` must be from 1 to {rank - 1} or from -{rank - 1} to -1 "
                    f"for an input of rank {rank} (shape {tuple(input_shape)}). Received: axis={layer.axis}")
            build(input_shape)

        layer.build = build_with_axis_check
        return layer


def _channels_first_view(function):
    def channels_first_view(x, **kwargs):
        out = function(ops.transpose(x, (0, 3, 1, 2)), **kwargs)
        return ops.transpose(out, (0, 2, 3, 1))

    channels_first_view.__name__ = f"channels_first_{getattr(function, '__name__', 'function')}"
    return channels_first_view


class Lambda(_Layer):
    """`Lambda(function, output_shape=None, arguments=None)`.

    Given a channels-first `input_shape` such as the course's (3, 224, 224), the function sees a
    channels-first view of its input and the layer works channels-last (see the module docstring).
    """
    keras_class = keras.layers.Lambda
    keras1_args = ("function", "output_shape", "arguments")

    @staticmethod
    def translate(kwargs):
        if _is_channels_first(kwargs.get("input_shape")):
            kwargs["function"] = _channels_first_view(kwargs["function"])
        if isinstance(kwargs.get("output_shape"), (tuple, list)):
            kwargs["output_shape"] = channels_last_shape(kwargs["output_shape"])


class Embedding(_Layer):
    """`Embedding(input_dim, output_dim, init='uniform', input_length=None, W_regularizer=None,
    mask_zero=False, weights=None)`: keras.layers.Embedding.

        Embedding(5000, 32, input_length=100, W_regularizer=l2(1e-4))   # (None, 100) -> (None, 100, 32)

    `input_length=n` is `input_shape=(n,)` (Keras 3's Embedding has no input_length).
    `dropout` is Keras 1's word dropout, which Keras 3's Embedding lacks: a non-zero one builds a
    `WordDropoutEmbedding` (below), a keras.layers.Embedding that drops whole words in training.
    """
    keras_class = keras.layers.Embedding
    keras1_args = ("input_dim", "output_dim", "init")
    input_dim_is_shape = False  # Keras 1's input_dim here is the vocabulary size
    renames = {"init": "embeddings_initializer", "W_regularizer": "embeddings_regularizer",
               "W_constraint": "embeddings_constraint",
               "output_dim": "output_dim"}  # Keras 3's name too (not Dense's `units`)

    @staticmethod
    def translate(kwargs):
        if "input_length" in kwargs:
            if "input_shape" in kwargs:
                raise UserTypeError("Embedding: pass `input_length` (Keras 1) or `input_shape`, not both.")
            length = kwargs.pop("input_length")
            if length is not None:
                kwargs["input_shape"] = (length,)
        if "dropout" in kwargs:
            dropout = checks.fraction("dropout", kwargs.pop("dropout"), caller="Embedding")
            if dropout:
                kwargs["dropout"] = dropout

    @staticmethod
    def layer_class(kwargs):
        return WordDropoutEmbedding if "dropout" in kwargs else keras.layers.Embedding


@keras.saving.register_keras_serializable(package="vggcourse")
class WordDropoutEmbedding(keras.layers.Embedding):
    """keras.layers.Embedding with Keras 1's `dropout`: in training, each word of the vocabulary is
    dropped for the whole batch with probability `dropout` (every occurrence's vector zeroed, as
    Keras 1 zeroed the word's row of the matrix) and the kept words' vectors are scaled by
    1 / (1 - dropout); in inference it is keras.layers.Embedding.

        WordDropoutEmbedding(5000, 32, dropout=0.2)    # what keras1.Embedding(5000, 32, dropout=0.2) builds
    """

    def __init__(self, input_dim, output_dim, dropout=0.0, seed=None, weights=None, **kwargs):
        super().__init__(input_dim, output_dim, **kwargs)
        self.dropout = checks.fraction("dropout", dropout, caller="WordDropoutEmbedding")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        if weights is not None:  # as keras.layers.Embedding does, once the layer's state is all made
            self.build()
            self.set_weights(weights if isinstance(weights, list) and len(weights) == 1 else [weights])

    def call(self, inputs, training=False):
        outputs = super().call(inputs)
        if not training or not self.dropout:
            return outputs
        retain = 1.0 - self.dropout
        kept = keras.random.uniform((self.input_dim,), seed=self.seed_generator) < retain
        scale = ops.cast(kept, outputs.dtype) / ops.cast(retain, outputs.dtype)
        return outputs * ops.expand_dims(ops.take(scale, ops.cast(inputs, "int32")), -1)

    def compute_output_spec(self, inputs, training=False):
        return super().compute_output_spec(inputs)

    def get_config(self):
        return {**super().get_config(), "dropout": self.dropout, "seed": self.seed}


class _Recurrent(_Layer):
    keras1_args = ("output_dim",)
    renames = {"inner_init": "recurrent_initializer", "U_regularizer": "recurrent_regularizer",
               "dropout_W": "dropout", "dropout_U": "recurrent_dropout"}

    @staticmethod
    def translate(kwargs):
        # Keras 1's speed hint (how the gates' products were grouped): no effect on the numbers,
        # and Keras 3 picks its own kernels. Its value is checked in _check_values.
        kwargs.pop("consume_less", None)


LSTM = _declare("LSTM", keras.layers.LSTM, _Recurrent.keras1_args, _Recurrent)
GRU = _declare("GRU", keras.layers.GRU, _Recurrent.keras1_args, _Recurrent)
SimpleRNN = _declare("SimpleRNN", keras.layers.SimpleRNN, _Recurrent.keras1_args, _Recurrent)


def Input(shape=None, batch_shape=None, name=None, dtype=None, sparse=None, tensor=None):
    """Keras 1's `Input(shape=, batch_shape=, name=, dtype=)`: `keras.Input`, channels-last.

        x = Input((3, 224, 224))    # the course's channels-first shape: a (224, 224, 3) input
    """
    if batch_shape is not None:
        batch_shape = (batch_shape[0], *channels_last_shape(batch_shape[1:]))
    return keras.Input(shape=channels_last_shape(shape), batch_shape=batch_shape, name=name,
                       dtype=dtype, sparse=sparse, tensor=tensor)


_MERGE_MODES = {
    "sum": keras.layers.Add, "mul": keras.layers.Multiply, "ave": keras.layers.Average,
    "max": keras.layers.Maximum, "concat": keras.layers.Concatenate,
}


def _merge_layer(caller, mode, concat_axis, dot_axes, name):
    """The Keras 3 layer of Keras 1's merge `mode` ('dot' and 'cos': keras.layers.Dot, the latter
    with normalize=True, which is Keras 1's cosine of the two inputs)."""
    _check_choice(caller, "mode", mode, [*_MERGE_MODES, "dot", "cos"],
                  " For another function use keras.layers.Lambda.")
    if mode in ("dot", "cos"):
        axes = list(dot_axes) if isinstance(dot_axes, (tuple, list)) else dot_axes
        return keras.layers.Dot(axes=axes, normalize=mode == "cos", name=name)
    kwargs = {"axis": -1 if concat_axis == 1 else concat_axis} if mode == "concat" else {}
    return _MERGE_MODES[mode](name=name, **kwargs)


def merge(inputs, mode="sum", concat_axis=-1, dot_axes=-1, name=None):
    """Keras 1's functional `merge([a, b], mode='concat')`: the Keras 3 merge layer of that mode,
    called on `inputs` (modes: sum, mul, ave, max, concat, dot, cos).

        x = merge([a, b], mode="concat")      # keras.layers.Concatenate()([a, b])
        sim = merge([u, v], mode="cos", dot_axes=1)   # keras.layers.Dot(axes=1, normalize=True)
    """
    return _merge_layer("merge", mode, concat_axis, dot_axes, name)(list(inputs))


def Merge(layers=None, mode="sum", concat_axis=-1, dot_axes=-1, name=None):
    """Keras 1's `Merge(mode='concat')` layer: the Keras 3 merge layer of that mode, to call on a
    list of tensors (lesson 5's `Merge(mode="concat")(convs)`).

        out = Merge(mode="concat")(convs)     # keras.layers.Concatenate()(convs)

    Keras 1 also took `Merge([model_a, model_b])` as the first layer of a Sequential, a model with
    several inputs; Keras 3's Sequential has one input, so that form is refused, naming the
    functional API that replaces it.
    """
    if layers is not None:
        raise UserTypeError(
            "Merge: merging models (Merge([model_a, model_b], mode=...) as a Sequential's first layer) "
            "has no Keras 3 equivalent: a Sequential has one input. Use the functional API: "
            "x = merge([model_a.output, model_b.output], mode=...) and "
            "Model([model_a.input, model_b.input], x), or call Merge(mode=...) on a list of tensors.")
    return _merge_layer("Merge", mode, concat_axis, dot_axes, name)
