"""The one body/head split: where a model's frozen, deterministic bottom ends.

    boundary = cache_boundary(vgg.model)    # after finetune: the index of fc1_dropout
    body, head = split(vgg.model)           # two Sequential models over vgg.model's own layers

The body is what the feature cache runs once per image; the head trains on its output. Both
share `model`'s layer objects: nothing is copied, so training the head trains `model`.
"""
import weakref

import keras

from vggcourse import devices

__all__ = ["cache_boundary", "frozen_deterministic", "split"]

_splits = weakref.WeakKeyDictionary()  # model -> (layer ids, boundary, body, head); see split


def _is_random(layer):
    """Dropout, noise and random augmentation layers: they act differently in training."""
    return hasattr(layer, "seed_generator") or isinstance(
        layer, (keras.layers.Dropout, keras.layers.GaussianNoise, keras.layers.GaussianDropout)
    )


def frozen_deterministic(layer):
    """True when the layer has nothing to train and gives the same output in training.

        frozen_deterministic(vgg.model.get_layer("fc1"))   # True after vgg.finetune
    """
    if isinstance(layer, keras.Model):
        return all(frozen_deterministic(inner) for inner in layer.layers)
    if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable:
        return False  # uses batch statistics in training, even with center=scale=False
    return not layer.trainable_weights and not _is_random(layer)


def cache_boundary(model):
    """Index in `model.layers` of the first layer that is trainable or random, where the body ends.

    0 means nothing can be cached: `model` is not a built `keras.Sequential`, its first layer
    trains, or no layer below the boundary has weights (only preprocessing: nothing worth
    caching). `len(model.layers)` means nothing trains.

        vgg.model.layers[cache_boundary(vgg.model)].name   # 'fc1_dropout' after finetune
    """
    if not isinstance(model, keras.Sequential) or not model.built:
        return 0
    boundary = next((index for index, layer in enumerate(model.layers)
                     if not frozen_deterministic(layer)), len(model.layers))
    if not any(layer.weights for layer in model.layers[:boundary]):
        return 0
    return boundary


def split(model):
    """(body, head) at `cache_boundary(model)`, or None when the boundary leaves either empty.

    Made once per model and boundary, and kept while the model lives.

        body, head = split(vgg.model)
    """
    boundary = cache_boundary(model)
    if not 0 < boundary < len(model.layers):
        return None
    layer_ids = tuple(id(layer) for layer in model.layers)
    known = _splits.get(model)
    if known and known[0] == layer_ids and known[1] == boundary:
        return known[2], known[3]
    layers = model.layers
    with devices.model_scope():  # the same devices as the model (devices.use_all_devices)
        body = keras.Sequential([keras.Input(shape=model.input_shape[1:]), *layers[:boundary]])
        body.compile(jit_compile="auto")  # XLA on GPUs, not on CPUs, where it measured slower
        head = keras.Sequential([keras.Input(shape=body.output_shape[1:]), *layers[boundary:]])
    _splits[model] = (layer_ids, boundary, body, head)
    return body, head
