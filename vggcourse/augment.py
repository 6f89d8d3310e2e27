"""Random image transforms for data augmentation: Keras 2's, and the course's Keras 1 ones.

Keras 2's `keras.preprocessing.image` functions, with its conventions and axis arguments
(keras-preprocessing's final version): rotation and shear in degrees, shifts in pixels (`tx`
along the width, `ty` along the height), zoom factors `zx` (width) and `zy` (height), the matrix
turned about the image centre, points outside filled by scipy's mode of the same name.

    x = np.random.random((32, 32, 3))
    turned = apply_affine_transform(x, theta=30, row_axis=0, col_axis=1, channel_axis=2)
    params = draw_parameters(x.shape, np.random.default_rng(0), rotation_range=10)

`keras1_random_transform` is the course's Keras 1 augmentation, as `vggcourse.keras1.image`'s
generator makes it: shear in radians, shifts always a fraction of the size, the rotation
matrix applied to (row, col) coordinates (Keras 1 turned the other way from Keras 2), a random
offset per channel for the channel shift.

    rng = np.random.default_rng(0)
    out = keras1_random_transform(image, rng, rotation_range=10, shear_range=0.15)

`rng` is anything with numpy's `uniform` / `random` / `choice` (a `numpy.random.Generator`, a
`RandomState`, or the `numpy.random` module itself, which Keras' module functions use).
"""
import numbers

import numpy as np
from scipy import ndimage

from vggcourse.image_utils import stretched

__all__ = [
    "FILL_MODES",
    "affine_matrix",
    "apply_affine",
    "apply_affine_transform",
    "apply_brightness_shift",
    "apply_channel_shift",
    "apply_parameters",
    "draw_parameters",
    "flip_axis",
    "keras1_random_transform",
    "random_brightness",
    "random_channel_shift",
    "random_rotation",
    "random_shear",
    "random_shift",
    "random_zoom",
    "shift_choices",
    "transform_matrix_offset_center",
    "zoom_bounds",
]

# Keras' fill modes: scipy.ndimage's modes of the same names (as Keras 1 and 2 passed them).
FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def zoom_bounds(zoom_range):
    """`(low, high)` zoom factors from `zoom_range`: a number z means `(1 - z, 1 + z)`.

        zoom_bounds(0.1)         # (0.9, 1.1)
        zoom_bounds((0.8, 1.0))  # (0.8, 1.0)
    """
    if np.ndim(zoom_range) == 0:
        return 1.0 - float(zoom_range), 1.0 + float(zoom_range)
    low, high = zoom_range
    return float(low), float(high)


def shift_choices(shift_range):
    """The values a Keras 2 shift range draws from: None for a number in [0, 1) or a float (a
    uniform draw in +-range), else the whole numbers to choose from (an int n: 0 .. n-1 with a
    random sign; a list: its values with a random sign).

        shift_choices(0.1), shift_choices(3), shift_choices([2, 4])   # None, 3, [2, 4]
    """
    if isinstance(shift_range, (list, tuple, np.ndarray)):
        return list(shift_range)
    if isinstance(shift_range, numbers.Integral) and not isinstance(shift_range, bool):
        return int(shift_range)
    return None


def _draw_shift(rng, shift_range, size):
    """One shift in pixels: Keras 2's rule (a fraction of `size` when every value is below 1)."""
    choices = shift_choices(shift_range)
    if choices is None:
        shift = rng.uniform(-shift_range, shift_range)
    else:
        shift = rng.choice(choices) * rng.choice([-1, 1])
    return shift * size if np.max(shift_range) < 1 else shift


def draw_parameters(img_shape, rng, rotation_range=0.0, width_shift_range=0.0, height_shift_range=0.0,
                    shear_range=0.0, zoom_range=0.0, channel_shift_range=0.0, horizontal_flip=False,
                    vertical_flip=False, brightness_range=None, row_axis=0, col_axis=1):
    """Keras 2's `get_random_transform` dictionary for an image of `img_shape`, drawn from `rng`
    in Keras' order (rotation, height shift, width shift, shear, zoom, flips, channel shift,
    brightness); a transform that is off draws nothing.

    Keys: theta (degrees), tx (pixels along the width), ty (pixels along the height), shear
    (degrees), zx, zy, flip_horizontal, flip_vertical, channel_shift_intensity, brightness (None
    when off). keras-preprocessing's last version drew tx from `height_shift_range` and applied it
    along the width; here each range moves the image along its own axis, as Keras documents.

        draw_parameters((32, 32, 3), np.random.default_rng(0), rotation_range=10)["theta"]
    """
    theta = rng.uniform(-rotation_range, rotation_range) if rotation_range else 0
    ty = _draw_shift(rng, height_shift_range, img_shape[row_axis]) if np.any(height_shift_range) else 0
    tx = _draw_shift(rng, width_shift_range, img_shape[col_axis]) if np.any(width_shift_range) else 0
    shear = rng.uniform(-shear_range, shear_range) if shear_range else 0
    low, high = zoom_bounds(zoom_range)
    zx, zy = (1, 1) if low == high == 1 else rng.uniform(low, high, 2)
    flip_horizontal = bool(rng.random() < 0.5) and bool(horizontal_flip)
    flip_vertical = bool(rng.random() < 0.5) and bool(vertical_flip)
    channel_shift = rng.uniform(-channel_shift_range, channel_shift_range) if channel_shift_range else None
    brightness = rng.uniform(*brightness_range) if brightness_range is not None else None
    return {"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
            "flip_horizontal": flip_horizontal, "flip_vertical": flip_vertical,
            "channel_shift_intensity": channel_shift, "brightness": brightness}


def apply_parameters(x, params, row_axis=0, col_axis=1, channel_axis=2, fill_mode="nearest", cval=0.0, order=1):
    """Keras 2's `apply_transform`: the affine part, the channel shift, the flips, then the
    brightness (Pillow's, values kept in their range). Missing keys mean "off".

        apply_parameters(x, {"theta": 90, "flip_horizontal": True})
    """
    x = apply_affine_transform(x, params.get("theta", 0), params.get("tx", 0), params.get("ty", 0),
                               params.get("shear", 0), params.get("zx", 1), params.get("zy", 1),
                               row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis,
                               fill_mode=fill_mode, cval=cval, order=order)
    if params.get("channel_shift_intensity") is not None:
        x = apply_channel_shift(x, params["channel_shift_intensity"], channel_axis)
    if params.get("flip_horizontal", False):
        x = flip_axis(x, col_axis)
    if params.get("flip_vertical", False):
        x = flip_axis(x, row_axis)
    if params.get("brightness") is not None:
        x = apply_brightness_shift(x, params["brightness"], scale=False)
    return x


# ---------------------------------------------------------------- Keras 2's module functions

def flip_axis(x, axis):
    """`x` reversed along `axis` (Keras' `flip_axis`).

        flip_axis(image, 1)   # left-right, for a channels-last image
    """
    return np.flip(np.asarray(x), axis)


def transform_matrix_offset_center(matrix, x, y):
    """`matrix` made to turn about the centre of an image `x` rows by `y` columns.

        transform_matrix_offset_center(np.eye(3), 32, 32)
    """
    o_x, o_y = float(x) / 2 - 0.5, float(y) / 2 - 0.5
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return offset @ matrix @ reset


def _check_axes(x, row_axis, col_axis, channel_axis):
    axes = {row_axis, col_axis, channel_axis}
    if len(axes) != 3 or axes != {0, 1, 2}:
        raise ValueError("apply_affine_transform: `row_axis`, `col_axis` and `channel_axis` must be 0, 1 and 2 in "
                         f"some order. Received: {row_axis}, {col_axis}, {channel_axis}")
    if np.ndim(x) != 3:
        raise ValueError("apply_affine_transform: `x` must be one image with channels (3 dimensions). "
                         f"Received: shape {np.shape(x)}")
    if channel_axis not in (0, 2):
        raise ValueError(f"apply_affine_transform: channels must be the first or last axis. Received: "
                         f"channel_axis={channel_axis}")


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=1, col_axis=2, channel_axis=0,
                           fill_mode="nearest", cval=0.0, order=1):
    """One image `x` (3 dimensions) turned by `theta` degrees, shifted by `tx` (width) and `ty`
    (height) pixels, sheared by `shear` degrees and zoomed by `zx` (width) / `zy` (height), about
    its centre (Keras 2's; the default axes are channels-first, as Keras'). `order` is the spline
    order (0: nearest, 1: bilinear); points outside take `fill_mode` ('constant' with `cval`).

        apply_affine_transform(x, theta=45, row_axis=0, col_axis=1, channel_axis=2, fill_mode="constant")
    """
    _check_axes(x, row_axis, col_axis, channel_axis)
    matrix = np.eye(3)
    if theta:
        turn = np.deg2rad(theta)
        matrix = matrix @ np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]])
    if tx or ty:
        matrix = matrix @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    if shear:
        slant = np.deg2rad(shear)
        matrix = matrix @ np.array([[1, -np.sin(slant), 0], [0, np.cos(slant), 0], [0, 0, 1]])
    if zx != 1 or zy != 1:
        matrix = matrix @ np.diag([zx, zy, 1.0])
    if np.array_equal(matrix, np.eye(3)):
        return x
    x = np.asarray(x)
    matrix = transform_matrix_offset_center(matrix, x.shape[row_axis], x.shape[col_axis])
    if col_axis > row_axis:  # the matrix is in (x, y) = (col, row) terms; arrays index (row, col)
        matrix = matrix[[1, 0, 2]][:, [1, 0, 2]]
    channels = np.moveaxis(x, channel_axis, 0)
    out = np.stack([ndimage.affine_transform(channel, matrix[:2, :2], matrix[:2, 2], order=order, mode=fill_mode,
                                             cval=cval) for channel in channels])
    return np.moveaxis(out, 0, channel_axis)


def _randomly(x, settings, **params):
    """`apply_affine_transform(x, **params)` with the module functions' shared `settings`:
    (row_axis, col_axis, channel_axis, fill_mode, cval, interpolation_order)."""
    row_axis, col_axis, channel_axis, fill_mode, cval, order = settings
    return apply_affine_transform(x, row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=order, **params)


def random_rotation(x, rg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                    interpolation_order=1):
    """`x` turned by a random angle in +-`rg` degrees (numpy's global random state, as Keras).

        random_rotation(x, 20, row_axis=0, col_axis=1, channel_axis=2)
    """
    return _randomly(x, (row_axis, col_axis, channel_axis, fill_mode, cval, interpolation_order),
                     theta=np.random.uniform(-rg, rg))


def random_shift(x, wrg, hrg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                 interpolation_order=1):
    """`x` shifted by random fractions of its width (+-`wrg`) and height (+-`hrg`).

        random_shift(x, 0.1, 0.1, row_axis=0, col_axis=1, channel_axis=2)
    """
    ty = np.random.uniform(-hrg, hrg) * np.shape(x)[row_axis]
    tx = np.random.uniform(-wrg, wrg) * np.shape(x)[col_axis]
    return _randomly(x, (row_axis, col_axis, channel_axis, fill_mode, cval, interpolation_order), tx=tx, ty=ty)


def random_shear(x, intensity, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                 interpolation_order=1):
    """`x` sheared by a random angle in +-`intensity` degrees.

        random_shear(x, 10, row_axis=0, col_axis=1, channel_axis=2)
    """
    return _randomly(x, (row_axis, col_axis, channel_axis, fill_mode, cval, interpolation_order),
                     shear=np.random.uniform(-intensity, intensity))


def random_zoom(x, zoom_range, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                interpolation_order=1):
    """`x` zoomed by random factors in `zoom_range` = (low, high), drawn for width and height.

        random_zoom(x, (0.9, 1.1), row_axis=0, col_axis=1, channel_axis=2)
    """
    if np.ndim(zoom_range) != 1 or len(zoom_range) != 2:
        raise ValueError(f"random_zoom: `zoom_range` must be a pair (low, high). Received: {zoom_range!r}")
    zx, zy = (1, 1) if zoom_range[0] == zoom_range[1] == 1 else np.random.uniform(zoom_range[0], zoom_range[1], 2)
    return _randomly(x, (row_axis, col_axis, channel_axis, fill_mode, cval, interpolation_order), zx=zx, zy=zy)


def apply_channel_shift(x, intensity, channel_axis=0):
    """`intensity` added to every channel of `x`, clipped to the image's own range (Keras 2's).

        apply_channel_shift(x, 10.0, channel_axis=2)
    """
    x = np.asarray(x)
    low, high = np.min(x), np.max(x)
    return np.clip(x + intensity, low, high).astype(x.dtype, copy=False)


def random_channel_shift(x, intensity_range, channel_axis=0):
    """`apply_channel_shift` by a random intensity in +-`intensity_range`.

        random_channel_shift(x, 20.0, channel_axis=2)
    """
    return apply_channel_shift(x, np.random.uniform(-intensity_range, intensity_range), channel_axis)


def apply_brightness_shift(x, brightness, scale=True):
    """`x` made brighter or darker by the factor `brightness`, as Keras 2 did it through Pillow's
    `ImageEnhance.Brightness` (each value cut to a whole number in 0-255, times the factor, cut
    again), for any number of channels. Values outside 0-255 are stretched into that range first
    (all values when `scale`), and put back in their own range unless `scale`.

        brighter = apply_brightness_shift(x, 1.2, scale=False)
    """
    x = np.asarray(x, dtype=np.float64)
    x_min, x_max = np.min(x), np.max(x)
    outside = bool(x_min < 0 or x_max > 255)
    if outside or scale:
        x = stretched(x)
    pixels = np.clip(x, 0, 255).astype(np.uint8)
    out = np.clip(np.trunc(np.float32(brightness) * pixels.astype(np.float32)), 0, 255).astype(np.float32)
    if not scale and outside:
        out = out / 255 * (x_max - x_min) + x_min
    return out


def random_brightness(x, brightness_range, scale=True):
    """`apply_brightness_shift` by a random factor in `brightness_range` = (low, high).

        random_brightness(x, (0.8, 1.2))
    """
    if np.ndim(brightness_range) != 1 or len(brightness_range) != 2:
        raise ValueError(f"random_brightness: `brightness_range` must be a pair (low, high). "
                             f"Received: {brightness_range!r}")
    return apply_brightness_shift(x, np.random.uniform(brightness_range[0], brightness_range[1]), scale)


# ---------------------------------------------------------------- the course's Keras 1 augmentation

def affine_matrix(shape, rotation=0.0, shift=(0.0, 0.0), shear=0.0, zoom=(1.0, 1.0)):
    """Keras 1's 3x3 matrix mapping output `(row, col, 1)` to input coordinates, about the centre.

    rotation: degrees; shift: `(rows, cols)` in pixels; shear: radians; zoom: `(rows, cols)`.

        m = affine_matrix((32, 32), rotation=90)
    """
    theta = np.deg2rad(rotation)
    cos, sin = np.cos(theta), np.sin(theta)
    rotate = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
    move = np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1]], dtype=float)
    slant = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
    scale = np.diag([zoom[0], zoom[1], 1.0])
    return transform_matrix_offset_center(rotate @ move @ slant @ scale, shape[0], shape[1])


def apply_affine(image, matrix, fill_mode="nearest", cval=0.0, order=1):
    """A channels-last `image` resampled through `matrix` (output -> input (row, col)), float32.

        rotated = apply_affine(image, affine_matrix(image.shape, rotation=90))
    """
    image = np.asarray(image, dtype=np.float32)
    if np.allclose(matrix, np.eye(3)):
        return image
    out = np.empty_like(image)
    for channel in range(image.shape[-1]):
        ndimage.affine_transform(image[..., channel], matrix[:2, :2], offset=matrix[:2, 2],
                                 output=out[..., channel], order=order, mode=fill_mode, cval=cval)
    return out


def keras1_random_transform(image, rng, rotation_range=0.0, width_shift_range=0.0, height_shift_range=0.0,
                            shear_range=0.0, zoom_range=0.0, channel_shift_range=0.0, horizontal_flip=False,
                            vertical_flip=False, fill_mode="nearest", cval=0.0, order=1):
    """One random augmentation of a channels-last `image` as Keras 1 made it (the course's):
    one affine matrix (rotation in degrees, shifts a fraction of the size, shear in radians, zoom
    `1 +- z` per axis), a random offset per channel, then each flip with chance 1/2.

        out = keras1_random_transform(image, np.random.default_rng(42), rotation_range=15)
    """
    image = np.asarray(image, dtype=np.float32)

    def draw(bound):
        return rng.uniform(-bound, bound) if bound else 0.0

    rotation = draw(rotation_range)
    shift = (draw(height_shift_range) * image.shape[0], draw(width_shift_range) * image.shape[1])
    shear = draw(shear_range)
    low, high = zoom_bounds(zoom_range)
    zoom = (1.0, 1.0) if low == high == 1.0 else tuple(rng.uniform(low, high, 2))
    image = apply_affine(image, affine_matrix(image.shape, rotation, shift, shear, zoom), fill_mode, cval, order)
    if channel_shift_range:
        offsets = rng.uniform(-channel_shift_range, channel_shift_range, image.shape[-1]).astype(np.float32)
        image = np.clip(image + offsets, image.min(), image.max())
    if horizontal_flip and rng.random() < 0.5:
        image = image[:, ::-1]
    if vertical_flip and rng.random() < 0.5:
        image = image[::-1]
    return np.ascontiguousarray(image, dtype=np.float32)
