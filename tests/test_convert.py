"""Theano / Keras 1 -> channels-last conversions: pure round trips, semantics, and a whole file."""
import h5py
import keras
import numpy as np
import pytest
from scipy import signal

from helpers import sample_images, write_keras1_theano_file
from vggcourse import convert
from vggcourse.model import Vgg16, Vgg16BN

RNG = np.random.default_rng(0)


def test_kernel_round_trip_and_layout():
    kernel = RNG.normal(size=(3, 3, 5, 7)).astype("float32")  # (kh, kw, in, out)
    theano = convert.channels_last_kernel_to_theano(kernel)
    assert theano.shape == (7, 5, 3, 3)
    assert convert.is_theano_kernel(theano.shape, kernel.shape)
    assert not convert.is_theano_kernel(kernel.shape, kernel.shape)
    np.testing.assert_array_equal(convert.theano_kernel_to_channels_last(theano), kernel)


def test_theano_convolution_equals_converted_correlation():
    """A Theano conv (true convolution, channels-first) == Keras Conv2D with the converted kernel."""
    x_chw = RNG.normal(size=(2, 6, 5)).astype("float32")  # (in, h, w)
    k_th = RNG.normal(size=(3, 2, 3, 3)).astype("float32")  # (out, in, kh, kw)
    expected = np.stack(
        [sum(signal.convolve2d(x_chw[i], k_th[o, i], mode="same") for i in range(2)) for o in range(3)]
    )  # (out, h, w)
    conv = keras.layers.Conv2D(3, 3, padding="same", use_bias=False)
    conv.build((None, 6, 5, 2))
    conv.set_weights([convert.theano_kernel_to_channels_last(k_th)])
    got = keras.ops.convert_to_numpy(conv(x_chw.transpose(1, 2, 0)[None]))[0]
    np.testing.assert_allclose(got, expected.transpose(1, 2, 0), rtol=1e-4, atol=1e-4)


def test_dense_rows_reordered_from_chw_to_hwc():
    hwc = (2, 3, 4)
    x_hwc = RNG.normal(size=hwc).astype("float32")
    w_chw = RNG.normal(size=(24, 5)).astype("float32")
    expected = x_hwc.transpose(2, 0, 1).reshape(-1) @ w_chw  # what the channels-first model computed
    w_hwc = convert.dense_rows_chw_to_hwc(w_chw, hwc)
    np.testing.assert_allclose(x_hwc.reshape(-1) @ w_hwc, expected, rtol=1e-5)
    np.testing.assert_array_equal(convert.dense_rows_hwc_to_chw(w_hwc, hwc), w_chw)
    with pytest.raises(ValueError, match="rows"):
        convert.dense_rows_chw_to_hwc(w_chw[:-1], hwc)


def test_kernel_conversion_rejects_other_ranks():
    with pytest.raises(ValueError, match="4-D"):
        convert.theano_kernel_to_channels_last(np.zeros((3, 3)))


@pytest.mark.parametrize("cls", [Vgg16, Vgg16BN], ids=["vgg16", "vgg16_bn"])
def test_course_theano_file_loads_to_same_outputs(cls, dogscats, tmp_path):
    size = (64, 32)  # flatten sees (2, 1, 512): the dense-row reorder is exercised
    original = cls(weights=None, size=size)
    for layer in original.model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):  # non-trivial statistics
            n = layer.weights[0].shape[0]
            layer.set_weights([RNG.uniform(0.5, 1.5, n), RNG.normal(size=n), RNG.normal(size=n), RNG.uniform(0.5, 2, n)])
    path = tmp_path / ("vgg16_bn.h5" if cls.batch_norm else "vgg16.h5")
    write_keras1_theano_file(original.model, path)
    with h5py.File(path, "r") as f:
        assert f["convolution2d_1"]["convolution2d_1_W"].shape == (64, 3, 3, 3)

    loaded = cls(weights=path, size=size)
    x = sample_images(dogscats, size)
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0), original.model.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
    for a, b in zip(loaded.model.get_layer("fc1").get_weights(), original.model.get_layer("fc1").get_weights()):
        np.testing.assert_array_equal(a, b)
