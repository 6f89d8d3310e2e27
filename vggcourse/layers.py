"""Model surgery from the course's utils, for Keras 3 `Sequential` and functional models.

Every model these functions return has the course's Keras 1 methods and signatures
(`compile(opt, loss, ['accuracy'])`, `fit_generator`, `save_weights('ft1.h5')`): it is of the
input's class when that has them (`vggcourse.keras1.Sequential` stays one), else a
`model.VggSequential` or, for a functional model, a `model.VggModel`.

`copy_model` clones any model with its weights. The layer-list helpers (`copy_layers`,
`insert_layer`, `split_at`) work on models that are a single chain of layers, which is what the
course builds (a functional model with branches raises a `UserInputError`, a ValueError, naming
the layer).
"""

import keras
import numpy as np

from vggcourse import checks
from vggcourse._keras1_methods import Keras1Methods
from vggcourse.errors import UserInputError
from vggcourse.model import Vgg16, Vgg16BN, VggModel, VggSequential

__all__ = [
    "layer_calls", "copy_layer", "copy_layers", "copy_weights", "copy_model", "insert_layer", "split_at",
    "adjust_dropout", "vgg_ft", "vgg_ft_bn",
]


def copy_layer(layer):
    """A new, unbuilt layer with the same class and config as `layer` (no weights)."""
    return layer.__class__.from_config(layer.get_config())


def copy_layers(layers):
    """`copy_layer` of each layer: fresh layers with the same configs (copy weights with `copy_weights`)."""
    return [copy_layer(layer) for layer in layers]


def copy_weights(from_layers, to_layers):
    """Set each layer of `to_layers` to the weights of the matching layer of `from_layers`."""
    from_layers, to_layers = list(from_layers), list(to_layers)
    if len(from_layers) != len(to_layers):
        raise UserInputError(f"copy_weights: `to_layers` must have one layer per layer of `from_layers`: "
                             f"{len(from_layers)} source layers but {len(to_layers)} targets. "
                             f"Received: {len(to_layers)} to_layers")
    for src, dst in zip(from_layers, to_layers):
        dst.set_weights(src.get_weights())


def _sequential_class(model):
    """The class of a Sequential model made from `model`: its own if it has the course's methods."""
    return type(model) if isinstance(model, VggSequential) else VggSequential


def copy_model(model):
    """An independent copy of `model` (Sequential or functional) with the same weights, uncompiled,
    with the course's methods (see the module).

        copy = copy_model(vgg.model); copy.compile(Adam(lr=1e-4), "categorical_crossentropy", ["accuracy"])
    """
    if isinstance(model, keras.Sequential):
        start = [keras.Input(shape=_input_shape(model))] if getattr(model, "inputs", None) else []
        clone = _sequential_class(model)([*start, *copy_layers(model.layers)], name=model.name)
        copy_weights(model.layers, clone.layers)
        return clone
    clone = keras.models.clone_model(model)  # keeps a functional model's class (keras1.Model stays one)
    if not isinstance(clone, Keras1Methods):
        clone = VggModel(clone.inputs, clone.outputs, name=clone.name)
    clone.set_weights(model.get_weights())
    return clone


def layer_calls(layer):
    """[(input tensors, output tensors), ...]: each call of `layer` on a model's symbolic tensors,
    the first first ([] for a layer not used in a model yet).

    Keras keeps these in the private `_inbound_nodes`: this is the one place that reads it
    (tests/test_layers.py pins that Keras behaviour).

        inputs, outputs = layer_calls(vgg.model.layers[-1])[0]
    """
    return [(tuple(node.input_tensors), tuple(node.output_tensors))
            for node in getattr(layer, "_inbound_nodes", None) or []]


def _chain(model):
    """The layers of `model` after its input, checking that each one feeds only the next."""
    if isinstance(model, keras.Sequential):
        return list(model.layers)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    previous = model.inputs[0] if len(model.inputs) == 1 else None
    for layer in layers:
        if previous is None or len(layer_calls(layer)) != 1 or layer.input is not previous:
            raise UserInputError(f"`model` must be a Sequential model or a chain-shaped functional model. "
                                 f"Received: model {model.name!r}, which is not a single chain of layers "
                                 f"at {layer.name!r}")
        previous = layer.output
    return layers


def _input_shape(model):
    shape = model.inputs[0].shape if getattr(model, "inputs", None) else None
    if shape is None:
        raise UserInputError(f"`model` must have an input shape: build it (or give it a keras.Input) "
                             f"first. Received: model {model.name!r}, without one")
    return tuple(shape[1:])


def insert_layer(model, new_layer, index):
    """A new Sequential with the course's methods (`model`'s class if it is a `VggSequential`, else
    one): the layers of `model` (copied, with weights) and `new_layer` at position `index`.

    `index` counts the layers of `model.layers` (without the input); len(model.layers) appends.

        bn_model = insert_layer(bn_model, BatchNormalization(), 3); bn_model.save_weights("bn.h5")
    """
    layers = _chain(model)
    index = checks.whole_number_in("index", index, 0, len(layers), caller="insert_layer")
    res = _sequential_class(model)(name=f"{model.name}_inserted")
    res.add(keras.Input(shape=_input_shape(model)))
    copies = []
    for i, layer in enumerate(layers):
        if i == index:
            res.add(new_layer)
        copy = copy_layer(layer)
        res.add(copy)
        copies.append(copy)
    if index == len(layers):
        res.add(new_layer)
    copy_weights(layers, copies)
    return res


def split_at(model, layer_type):
    """(layers up to and including the last layer of `layer_type`, the layers after it).

    layer_type: a layer class (e.g. `keras.layers.Conv2D`) or a class name ("Conv2D").
    """
    layers = _chain(model)

    def matches(layer):
        if isinstance(layer_type, str):
            return type(layer).__name__ == layer_type
        return isinstance(layer, layer_type)

    found = [i for i, layer in enumerate(layers) if matches(layer)]
    if not found:
        name = getattr(layer_type, "__name__", layer_type)
        raise UserInputError(f"split_at: `layer_type` must be the type of a layer of the model. Received: "
                             f"layer_type={name!r}, but model {model.name!r} has no layer of type {name}")
    last = found[-1]
    return layers[:last + 1], layers[last + 1:]


def adjust_dropout(weights, prev_p, new_p):
    """Scale `weights` (a list of arrays) by (1 - prev_p) / (1 - new_p), as the course did when
    changing the dropout before a dense layer from `prev_p` to `new_p`.

    Keras' dropout already rescales during training, so weights trained in Keras keep their meaning
    when p changes; this scaling is for weights trained with unscaled dropout.
    """
    prev_p = checks.fraction("prev_p", prev_p, caller="adjust_dropout")
    new_p = checks.fraction("new_p", new_p, caller="adjust_dropout")
    scale = (1.0 - prev_p) / (1.0 - new_p)
    return [np.asarray(w) * scale for w in weights]


def vgg_ft(out_dim, **kwargs):
    """The model of `Vgg16(**kwargs)` with its top replaced by an `out_dim`-way softmax (`ft`)."""
    out_dim = checks.whole_number("out_dim", out_dim, least=1, caller="vgg_ft")  # ft(True) refused
    vgg = Vgg16(**kwargs)
    vgg.ft(out_dim)
    return vgg.model


def vgg_ft_bn(out_dim, **kwargs):
    """The same as `vgg_ft` with the batch-norm VGG16 (`Vgg16BN`)."""
    out_dim = checks.whole_number("out_dim", out_dim, least=1, caller="vgg_ft_bn")
    vgg = Vgg16BN(**kwargs)
    vgg.ft(out_dim)
    return vgg.model
