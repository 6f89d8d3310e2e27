"""Keras 1's layer signatures on Keras 3 (vggcourse/_keras1_layers.py, exported by vggcourse.keras1):
each against the Keras 3 layer it stands for, and the course's channels-first shapes read as
channels-last."""
import keras
import numpy as np
import pytest

from vggcourse.keras1 import (BatchNormalization, Convolution2D, Dense, Dropout, Input, Lambda, MaxPooling2D,
                              Sequential, ZeroPadding2D)

X = np.random.default_rng(0).random((12, 8, 8, 3)).astype("float32")


def _same_output(old, new, x):
    """Build both layers on `x`, give `new` the weights of `old`, compare their outputs."""
    out_old = keras.ops.convert_to_numpy(old(x))
    new(x)
    new.set_weights(old.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(new(x)), out_old, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("old, new", [
    (lambda: Convolution2D(4, 3, 3, border_mode="same", subsample=(2, 2), activation="relu"),
     lambda: keras.layers.Conv2D(4, (3, 3), padding="same", strides=(2, 2), activation="relu")),
    (lambda: Convolution2D(4, 3, 3, init="he_normal", bias=False),
     lambda: keras.layers.Conv2D(4, (3, 3), use_bias=False)),
    (lambda: MaxPooling2D((2, 2), strides=(2, 2)), lambda: keras.layers.MaxPooling2D(2, 2)),
    (lambda: ZeroPadding2D((1, 1)), lambda: keras.layers.ZeroPadding2D(1)),
    (lambda: BatchNormalization(axis=1, mode=0), lambda: keras.layers.BatchNormalization(axis=-1)),
])
def test_layer_signatures_match_keras3(old, new):
    _same_output(old(), new(), X)


def test_dense_output_dim_and_input_dim():
    layer = Dense(output_dim=3, input_dim=5, activation="relu")
    model = Sequential([layer])
    assert model.input_shape == (None, 5) and model.output_shape == (None, 3)
    _same_output(Dense(3, activation="relu"), keras.layers.Dense(3, activation="relu"), X[:, 0, 0, :])
    assert isinstance(layer, Dense) and type(layer) is keras.layers.Dense
    assert Dropout(0.3).rate == 0.3


def test_channels_first_shapes_become_channels_last():
    model = Sequential([Convolution2D(4, 3, 3, input_shape=(3, 16, 16))])
    assert model.input_shape == (None, 16, 16, 3)
    assert Input((3, 224, 224)).shape == (None, 224, 224, 3)
    assert Input((4096,)).shape == (None, 4096)


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="PyTorch tensors have no negative-step slices: the course's x[:, ::-1] "
                           "needs keras.ops.flip(x, axis=1) on that backend")
def test_course_lambda_preprocess_equals_vggpreprocess():
    """The course's channels-first vgg_preprocess, in a Lambda with (3, h, w), equals VggPreprocess."""
    from vggcourse.preprocessing import VggPreprocess

    vgg_mean = np.array([123.68, 116.779, 103.939]).reshape((3, 1, 1))

    def vgg_preprocess(x):
        return (x - vgg_mean)[:, ::-1]

    model = Sequential([Lambda(vgg_preprocess, input_shape=(3, 8, 8), output_shape=(3, 8, 8))])
    assert model.output_shape == (None, 8, 8, 3)
    pixels = X * 255
    expected = keras.ops.convert_to_numpy(VggPreprocess()(pixels))
    np.testing.assert_allclose(model.predict(pixels, verbose=0), expected, rtol=1e-5, atol=1e-3)
