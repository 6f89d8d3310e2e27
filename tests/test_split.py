"""The one body/head split (vggcourse/split.py): the boundary rule and the two models over the
very layers of the whole one. Tiny Dense models; the fine-tuned VGG16 case is in test_features.py."""
import keras
import pytest

from vggcourse.split import cache_boundary, frozen_deterministic, split


def _model(*layers, trainable=(), build=True):
    """A Sequential over `layers` (Dense(4) by default); only the layers named in `trainable` train."""
    model = keras.Sequential([keras.Input((3,))] if build else [])
    for layer in layers:
        model.add(layer)
    for layer in model.layers:
        layer.trainable = layer.name in trainable
    return model


def _dense(name):
    return keras.layers.Dense(4, name=name)


def test_the_boundary_is_the_first_layer_that_trains_or_is_random():
    model = _model(_dense("a"), _dense("b"), keras.layers.Dropout(0.5, name="drop"), _dense("c"),
                   trainable=("c",))
    assert cache_boundary(model) == 2  # the frozen dropout still drops in training: not cached
    model.get_layer("b").trainable = True
    assert cache_boundary(model) == 1


def test_a_frozen_batch_norm_is_deterministic_a_trainable_one_is_not():
    frozen = keras.layers.BatchNormalization(name="bn")
    model = _model(_dense("a"), frozen, _dense("c"), trainable=("c",))
    assert frozen_deterministic(frozen) and cache_boundary(model) == 2
    frozen.trainable = True
    assert not frozen_deterministic(frozen) and cache_boundary(model) == 1


@pytest.mark.parametrize("model", [
    lambda: _model(_dense("a"), _dense("b"), trainable=("a", "b")),        # the first layer trains
    lambda: _model(keras.layers.Rescaling(2.0, name="scale"), _dense("b"), trainable=("b",)),  # no weights below
    lambda: _model(_dense("a"), _dense("b"), trainable=("b",), build=False),  # not built
    lambda: keras.Model(*(lambda i: (i, keras.layers.Dense(2)(i)))(keras.Input((3,)))),  # not a Sequential
])
def test_zero_means_nothing_can_be_cached(model):
    model = model()
    assert cache_boundary(model) == 0 and split(model) is None


def test_a_model_that_trains_nothing_has_its_boundary_at_the_end():
    model = _model(_dense("a"), _dense("b"))
    assert cache_boundary(model) == len(model.layers) and split(model) is None


def test_split_shares_the_layers_and_is_made_once_per_boundary():
    model = _model(_dense("a"), _dense("b"), _dense("c"), trainable=("c",))
    body, head = split(model)
    assert body.layers == model.layers[:2] and head.layers == model.layers[2:]
    assert all(a is b for a, b in zip(body.layers + head.layers, model.layers))
    assert split(model) == (body, head)  # the same two models
    model.get_layer("b").trainable = True
    body, head = split(model)
    assert [layer.name for layer in body.layers] == ["a"] and len(head.layers) == 2
