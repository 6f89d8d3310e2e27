"""Pure array -> array conversions from the course's Keras 1 / Theano weight files to channels-last.

The course's `vgg16.h5` and `vgg16_bn.h5` were saved by Keras 1 on Theano with channels-first
images. Three things differ from a channels-last TensorFlow model:

1. Conv kernels are stored `(out, in, kh, kw)`; Keras 3 wants `(kh, kw, in, out)`.
2. Theano *convolves* (the kernel is flipped in both spatial axes) where TensorFlow *correlates*,
   so the kernel must also be flipped spatially.
3. The first dense layer after `Flatten` sees the features flattened in `(C, H, W)` order; a
   channels-last model flattens `(H, W, C)`, so that layer's rows must be reordered.

Keras 1 BatchNormalization stored `[gamma, beta, running_mean, running_std]`; despite its name,
`running_std` holds the moving *variance* (Keras 1.x passed it to `K.batch_normalization` as the
variance), so it maps unchanged onto Keras 3's `moving_variance`.

Each function has an inverse (`*_to_theano`, `*_to_chw`) so the conversions are tested as round
trips.
"""
import numpy as np

from vggcourse.errors import UserInputError

__all__ = [
    "theano_kernel_to_channels_last",
    "channels_last_kernel_to_theano",
    "dense_rows_chw_to_hwc",
    "dense_rows_hwc_to_chw",
    "is_theano_kernel",
    "keras1_batchnorm_to_keras3",
]


def theano_kernel_to_channels_last(kernel):
    """`(out, in, kh, kw)` Theano convolution kernel -> `(kh, kw, in, out)` correlation kernel."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise UserInputError(f"`kernel` must be 4-D (out, in, kh, kw). Received shape {kernel.shape}.")
    return np.ascontiguousarray(kernel.transpose(2, 3, 1, 0)[::-1, ::-1])


def channels_last_kernel_to_theano(kernel):
    """Inverse of `theano_kernel_to_channels_last`: `(kh, kw, in, out)` -> `(out, in, kh, kw)`."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise UserInputError(f"`kernel` must be 4-D (kh, kw, in, out). Received shape {kernel.shape}.")
    return np.ascontiguousarray(kernel[::-1, ::-1].transpose(3, 2, 0, 1))


def is_theano_kernel(stored_shape, model_shape):
    """True when a stored 4-D kernel is the channels-first layout of a model's `(kh, kw, in, out)`."""
    kh, kw, n_in, n_out = model_shape
    return tuple(stored_shape) == (n_out, n_in, kh, kw) and tuple(stored_shape) != tuple(model_shape)


def _flatten_kernel(kernel, hwc):
    """`kernel` as an array, checked to be the `(H*W*C, units)` kernel of a dense layer after Flatten."""
    h, w, c = hwc
    kernel = np.asarray(kernel)
    if kernel.ndim != 2 or kernel.shape[0] != h * w * c:
        raise UserInputError(
            f"`kernel` must have {h}*{w}*{c}={h * w * c} rows for a flatten of {tuple(hwc)}. "
            f"Received shape {kernel.shape}."
        )
    return kernel


def dense_rows_chw_to_hwc(kernel, hwc):
    """Reorder a dense kernel's rows from a `(C, H, W)` flatten to a `(H, W, C)` flatten.

    `kernel` is `(C*H*W, units)`; `hwc` is the `(H, W, C)` shape that `Flatten` receives in the
    channels-last model.
    """
    h, w, c = hwc
    kernel = _flatten_kernel(kernel, hwc)
    units = kernel.shape[1]
    return np.ascontiguousarray(kernel.reshape(c, h, w, units).transpose(1, 2, 0, 3).reshape(-1, units))


def dense_rows_hwc_to_chw(kernel, hwc):
    """Inverse of `dense_rows_chw_to_hwc`."""
    h, w, c = hwc
    kernel = _flatten_kernel(kernel, hwc)
    units = kernel.shape[1]
    return np.ascontiguousarray(kernel.reshape(h, w, c, units).transpose(2, 0, 1, 3).reshape(-1, units))


def keras1_batchnorm_to_keras3(gamma, beta, running_mean, running_std):
    """Keras 1 BN arrays -> Keras 3 `[gamma, beta, moving_mean, moving_variance]`.

    Keras 1.x's `running_std` already holds the variance, so the arrays pass through unchanged;
    the function exists to make that decision explicit and testable.
    """
    return [np.asarray(a) for a in (gamma, beta, running_mean, running_std)]
