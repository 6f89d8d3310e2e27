"""Model surgery on Sequential and functional Keras 3 models."""
import keras
import numpy as np
import pytest

from vggcourse.layers import (adjust_dropout, copy_layers, copy_model, copy_weights, insert_layer,
                              split_at, vgg_ft, vgg_ft_bn)

X = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")


def _sequential():
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv1"),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv2"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dropout(0.5, name="drop"),
        keras.layers.Dense(2, activation="softmax", name="out"),
    ], name="seq")


def _functional():
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv1")(inp)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inp, keras.layers.Dense(2, name="out")(x), name="func")


@pytest.mark.parametrize("build", [_sequential, _functional])
def test_copy_model_is_independent_with_same_outputs(build):
    model = build()
    clone = copy_model(model)
    np.testing.assert_allclose(clone.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)
    clone.layers[-1].set_weights([w * 0 for w in clone.layers[-1].get_weights()])
    assert not np.allclose(model.layers[-1].get_weights()[0], 0)


def test_copy_layers_and_weights_rebuild_a_sequential():
    model = _sequential()
    new = keras.Sequential([keras.Input((8, 8, 3)), *copy_layers(model.layers)])
    copy_weights(model.layers, new.layers)
    np.testing.assert_allclose(new.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="2 source layers but 1"):
        copy_weights(model.layers[:2], new.layers[:1])


@pytest.mark.parametrize("build", [_sequential, _functional])
def test_insert_layer_keeps_weights(build):
    model = build()
    new = insert_layer(model, keras.layers.Identity(name="ident"), 1)
    assert [l.name for l in new.layers][:3] == ["conv1", "ident", model.layers[-2 if build is _functional else 1].name]
    np.testing.assert_allclose(new.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)
    appended = insert_layer(model, keras.layers.Activation("linear", name="last"), len(split_at(model, "Dense")[0]))
    assert appended.layers[-1].name == "last"
    with pytest.raises(ValueError, match="index"):
        insert_layer(model, keras.layers.Identity(), 99)


def test_split_at_last_layer_of_type():
    model = _sequential()
    convs, rest = split_at(model, keras.layers.Conv2D)
    assert [l.name for l in convs] == ["conv1", "conv2"]
    assert [l.name for l in rest] == ["flatten", "drop", "out"]
    assert [l.name for l in split_at(_functional(), "Flatten")[1]] == ["out"]
    with pytest.raises(ValueError, match="no layer of type MaxPooling2D"):
        split_at(model, keras.layers.MaxPooling2D)


def test_branching_model_is_refused():
    inp = keras.Input((4,))
    a, b = keras.layers.Dense(2, name="a")(inp), keras.layers.Dense(2, name="b")(inp)
    model = keras.Model(inp, keras.layers.Add(name="add")([a, b]))
    with pytest.raises(ValueError, match="not a single chain"):
        split_at(model, "Dense")


def test_adjust_dropout():
    w = [np.ones((2, 2)), np.ones(2)]
    out = adjust_dropout(w, 0.5, 0.0)
    assert np.allclose(out[0], 0.5) and np.allclose(out[1], 0.5)
    assert np.allclose(adjust_dropout(w, 0.5, 0.75)[0], 2.0)
    with pytest.raises(ValueError, match=r"^adjust_dropout: `new_p` must be a number in \[0, 1\)\. Received: new_p=1\.0$"):
        adjust_dropout(w, 0.5, 1.0)
    with pytest.raises(ValueError, match=r"`prev_p` must be a number in \[0, 1\)\. Received: prev_p=True"):
        adjust_dropout(w, True, 0.0)


@pytest.mark.parametrize("fn", [vgg_ft, vgg_ft_bn])
def test_vgg_ft_builds_an_untrained_top(fn):
    pytest.importorskip("vggcourse.model")
    model = fn(3, weights=None, size=(32, 32))
    assert model.output_shape[-1] == 3
    assert model.layers[-1].trainable and not model.layers[-3].trainable


def test_user_mistakes_are_user_errors_naming_the_argument():
    from vggcourse.errors import UserInputError

    model = _sequential()
    inp = keras.Input((4,))
    branching = keras.Model(inp, keras.layers.Add()([keras.layers.Dense(2)(inp), keras.layers.Dense(2)(inp)]))
    cases = [
        (lambda: copy_weights(model.layers[:2], model.layers[:1]), r"`to_layers` must have one layer per .*Received: 1 to_layers"),
        (lambda: insert_layer(model, keras.layers.Identity(), 99), r"`index` must be a whole number from 0 to 5. Received: index=99"),
        (lambda: insert_layer(model, keras.layers.Identity(), True), r"`index` must be a whole number .*Received: index=True"),
        (lambda: split_at(model, "MaxPooling2D"), r"`layer_type` must be the type of a layer .*Received: layer_type='MaxPooling2D'"),
        (lambda: split_at(branching, "Dense"), r"`model` must be a Sequential model or a chain-shaped .*Received: model"),
        (lambda: adjust_dropout([np.ones(2)], True, 0.5), r"`prev_p` must be a number in \[0, 1\). Received: prev_p=True"),
    ]
    for call, message in cases:
        with pytest.raises(UserInputError, match=message):
            call()


def test_layer_calls_lists_each_use_in_a_model_and_pins_keras():
    """Keras keeps a layer's calls on symbolic tensors in `_inbound_nodes` (the behaviour relied on)."""
    from vggcourse.layers import layer_calls

    dense = keras.layers.Dense(2)
    assert layer_calls(dense) == []
    first = keras.Input((3,))
    second = keras.Input((3,))
    out = dense(first)
    dense(second)
    assert len(dense._inbound_nodes) == 2
    (inputs, outputs), (inputs2, _) = layer_calls(dense)
    assert inputs == (first,) and outputs == (out,) and inputs2 == (second,)


def _two_outputs():
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Flatten(name="flatten")(inp)
    return keras.Model(inp, [keras.layers.Dense(2, activation="softmax", name="cls")(x),
                             keras.layers.Dense(4, name="box")(x)], name="two")


def _course_model_checks(new, tmp_path, n_outputs=1):
    """`new` has the course's methods: Keras 1's positional `compile(opt, loss, metrics)` and the
    course's plain '.h5' weight files (refused by a plain Keras model)."""
    from vggcourse._keras1_methods import Keras1Methods
    from vggcourse.model import ModelCore

    assert isinstance(new, Keras1Methods) and isinstance(new, ModelCore)
    new.compile("adam", "categorical_crossentropy" if n_outputs == 1 else ["categorical_crossentropy", "mse"],
                ["accuracy"] if n_outputs == 1 else None)
    config = new.get_compile_config()
    assert config["loss_weights"] is None and config["metrics"] == (["accuracy"] if n_outputs == 1 else None)
    new.save_weights(tmp_path / "course.h5")
    new.load_weights(tmp_path / "course.h5")


@pytest.mark.parametrize("build", [_sequential, _functional, _two_outputs])
def test_copy_model_has_the_course_methods(build, tmp_path):
    from vggcourse.model import VggModel, VggSequential

    model = build()
    clone = copy_model(model)
    assert type(clone) is (VggSequential if build is _sequential else VggModel)
    _course_model_checks(clone, tmp_path, n_outputs=len(model.outputs))
    np.testing.assert_allclose(np.concatenate(clone.predict(X, verbose=0), axis=-1) if build is _two_outputs
                               else clone.predict(X, verbose=0),
                               np.concatenate(model.predict(X, verbose=0), axis=-1) if build is _two_outputs
                               else model.predict(X, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("build", [_sequential, _functional])
def test_insert_layer_has_the_course_methods(build, tmp_path):
    from vggcourse.model import VggSequential

    new = insert_layer(build(), keras.layers.BatchNormalization(name="bn"), 1)
    assert type(new) is VggSequential
    _course_model_checks(new, tmp_path)


def test_surgery_keeps_keras1_classes(tmp_path):
    from vggcourse.keras1 import Model, Sequential

    seq = Sequential(_sequential().layers)
    assert type(insert_layer(seq, keras.layers.Identity(name="ident"), 1)) is Sequential
    assert type(copy_model(seq)) is Sequential
    func = _functional()
    assert type(copy_model(Model(func.inputs, func.outputs))) is Model


@pytest.mark.parametrize("fn", [vgg_ft, vgg_ft_bn])
def test_vgg_ft_has_the_course_methods(fn, tmp_path):
    _course_model_checks(fn(2, weights=None, size=(32, 32)), tmp_path)
