"""Random image transforms for data augmentation, as pure functions of (image, rng).

Images are float arrays `(h, w, channels)`, channels-last; `rng` is a `numpy.random.Generator`, so
the same seed gives the same transform.

    rng = np.random.default_rng(0)
    out = random_transform(image, rng, rotation_range=10, zoom_range=0.1, horizontal_flip=True)

The conventions are those of Keras 1's `ImageDataGenerator`, which the course used: rotation in
degrees, shifts as a fraction of the image size, shear in radians, zoom as `1 +- zoom_range` drawn
separately for rows and columns, channel shift in pixel units (0-255), each flip with chance 1/2.
"""
import numpy as np
from scipy import ndimage

__all__ = [
    "FILL_MODES",
    "affine_matrix",
    "apply_affine",
    "channel_shift",
    "random_affine_matrix",
    "random_flip",
    "random_transform",
    "zoom_bounds",
]

# Keras' fill modes -> scipy.ndimage modes ("grid-" modes treat the image as a tiled grid).
FILL_MODES = {
    "nearest": "nearest",
    "reflect": "reflect",
    "wrap": "grid-wrap",
    "constant": "grid-constant",
}


def zoom_bounds(zoom_range):
    """`(low, high)` zoom factors from `zoom_range`: a float z means `(1 - z, 1 + z)`.

        zoom_bounds(0.1)         # (0.9, 1.1)
        zoom_bounds((0.8, 1.0))  # (0.8, 1.0)
    """
    if np.ndim(zoom_range) == 0:
        return 1.0 - float(zoom_range), 1.0 + float(zoom_range)
    low, high = zoom_range
    return float(low), float(high)


def affine_matrix(shape, rotation=0.0, shift=(0.0, 0.0), shear=0.0, zoom=(1.0, 1.0)):
    """3x3 matrix mapping output `(row, col, 1)` to input coordinates, about the image centre.

    rotation: degrees; shift: `(rows, cols)` in pixels; shear: radians; zoom: `(rows, cols)`.

        m = affine_matrix((32, 32), rotation=90)
    """
    theta = np.deg2rad(rotation)
    cos, sin = np.cos(theta), np.sin(theta)
    rotate = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
    move = np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1]], dtype=float)
    slant = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
    scale = np.diag([zoom[0], zoom[1], 1.0])
    centre_row, centre_col = (shape[0] - 1) / 2, (shape[1] - 1) / 2
    to_centre = np.array([[1, 0, centre_row], [0, 1, centre_col], [0, 0, 1]], dtype=float)
    from_centre = np.array([[1, 0, -centre_row], [0, 1, -centre_col], [0, 0, 1]], dtype=float)
    return to_centre @ rotate @ move @ slant @ scale @ from_centre


def random_affine_matrix(shape, rng, rotation_range=0.0, width_shift_range=0.0,
                         height_shift_range=0.0, shear_range=0.0, zoom_range=0.0):
    """A random `affine_matrix` for an image of `shape`; only enabled transforms draw from `rng`.

        m = random_affine_matrix((224, 224, 3), np.random.default_rng(0), rotation_range=15)
    """
    def draw(bound):
        return rng.uniform(-bound, bound) if bound else 0.0

    rotation = draw(rotation_range)
    shift = (draw(height_shift_range) * shape[0], draw(width_shift_range) * shape[1])
    shear = draw(shear_range)
    low, high = zoom_bounds(zoom_range)
    zoom = (1.0, 1.0) if low == high == 1.0 else tuple(rng.uniform(low, high, 2))
    return affine_matrix(shape, rotation, shift, shear, zoom)


def apply_affine(image, matrix, fill_mode="nearest", cval=0.0, order=1):
    """`image` resampled through `matrix` (output -> input coordinates), float32, same shape.

    Points that fall outside the image are filled by `fill_mode` (nearest, reflect, wrap,
    constant with `cval`).

        rotated = apply_affine(image, affine_matrix(image.shape, rotation=90))
    """
    image = np.asarray(image, dtype=np.float32)
    if np.allclose(matrix, np.eye(3)):
        return image
    out = np.empty_like(image)
    for channel in range(image.shape[-1]):
        ndimage.affine_transform(
            image[..., channel], matrix[:2, :2], offset=matrix[:2, 2], output=out[..., channel],
            order=order, mode=FILL_MODES[fill_mode], cval=cval,
        )
    return out


def channel_shift(image, rng, intensity):
    """Add a random offset in `[-intensity, intensity]` to each channel, clipped to the image range.

        shifted = channel_shift(image, np.random.default_rng(0), intensity=10.0)
    """
    image = np.asarray(image, dtype=np.float32)
    if not intensity:
        return image
    offsets = rng.uniform(-intensity, intensity, image.shape[-1]).astype(np.float32)
    return np.clip(image + offsets, image.min(), image.max())


def random_flip(image, rng, horizontal=False, vertical=False):
    """Flip left-right and/or top-bottom, each with chance 1/2 when enabled.

        flipped = random_flip(image, np.random.default_rng(0), horizontal=True)
    """
    if horizontal and rng.random() < 0.5:
        image = image[:, ::-1]
    if vertical and rng.random() < 0.5:
        image = image[::-1]
    return image


def random_transform(image, rng, rotation_range=0.0, width_shift_range=0.0,
                     height_shift_range=0.0, shear_range=0.0, zoom_range=0.0,
                     channel_shift_range=0.0, horizontal_flip=False, vertical_flip=False,
                     fill_mode="nearest", cval=0.0):
    """One random augmentation of `image`: affine (one matrix), channel shift, then flips.

        rng = np.random.default_rng(42)
        out = random_transform(image, rng, rotation_range=15, width_shift_range=0.1)
    """
    matrix = random_affine_matrix(image.shape, rng, rotation_range, width_shift_range,
                                  height_shift_range, shear_range, zoom_range)
    image = apply_affine(image, matrix, fill_mode, cval)
    image = channel_shift(image, rng, channel_shift_range)
    image = random_flip(image, rng, horizontal_flip, vertical_flip)
    return np.ascontiguousarray(image, dtype=np.float32)
