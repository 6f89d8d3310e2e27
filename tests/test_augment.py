"""The random transforms of vggcourse.augment, alone, on small arrays and one real image."""
import numpy as np
import pytest
from PIL import Image

from vggcourse import augment

pytestmark = pytest.mark.backend_free  # never imports Keras: .ci/run's JAX run leaves it out


@pytest.fixture(scope="module")
def photo(dogscats):
    """A real 32x32 RGB image as float32."""
    with Image.open(dogscats / "train" / "cats" / "cat.1.jpg") as image:
        return np.asarray(image.convert("RGB").resize((32, 32)), dtype=np.float32)


def squares(n=6, channels=3):
    """An asymmetric test image whose pixels all differ."""
    return np.arange(n * n * channels, dtype=np.float32).reshape(n, n, channels)


def test_default_matrix_is_identity_and_leaves_image_alone():
    image = squares()
    assert np.allclose(augment.affine_matrix(image.shape), np.eye(3))
    assert np.array_equal(augment.apply_affine(image, np.eye(3)), image)


def test_rotation_by_90_degrees_turns_the_image_clockwise():
    image = squares()
    rotated = augment.apply_affine(image, augment.affine_matrix(image.shape, rotation=90))
    assert np.allclose(rotated, np.rot90(image, k=-1), atol=1e-3)


def test_shift_moves_content_by_whole_pixels():
    image = squares()
    shifted = augment.apply_affine(image, augment.affine_matrix(image.shape, shift=(2, 0)))
    assert np.allclose(shifted[:4], image[2:], atol=1e-3)
    assert np.allclose(shifted[4:], image[-1:], atol=1e-3)  # fill_mode='nearest' repeats the edge


@pytest.mark.parametrize("fill_mode", sorted(augment.FILL_MODES))
def test_fill_modes_keep_shape_and_constant_uses_cval(fill_mode):
    image = squares() + 1
    matrix = augment.affine_matrix(image.shape, rotation=45)
    out = augment.apply_affine(image, matrix, fill_mode=fill_mode, cval=-7.0)
    assert out.shape == image.shape and out.dtype == np.float32
    assert (out[0, 0] == -7.0).all() == (fill_mode == "constant")


def test_zoom_bounds():
    assert augment.zoom_bounds(0.1) == (0.9, 1.1)
    assert augment.zoom_bounds((0.8, 1.0)) == (0.8, 1.0)
    assert augment.zoom_bounds(0) == (1.0, 1.0)


def test_channel_shift_stays_within_range_and_image_limits(photo):
    out = augment.channel_shift(photo, np.random.default_rng(0), intensity=20.0)
    offsets = (out - photo).reshape(-1, 3)
    assert out.min() >= photo.min() and out.max() <= photo.max()
    assert np.abs(offsets).max() <= 20.0 + 1e-4 and not np.allclose(out, photo)


def test_random_flip_gives_both_outcomes_and_nothing_else():
    image, rng = squares(), np.random.default_rng(1)
    outcomes = set()
    for _ in range(20):
        out = augment.random_flip(image, rng, horizontal=True)
        outcomes.add("same" if np.array_equal(out, image) else "flipped")
        assert np.array_equal(out, image) or np.array_equal(out, image[:, ::-1])
    assert outcomes == {"same", "flipped"}


AUGMENTATION = dict(rotation_range=20, width_shift_range=0.1, height_shift_range=0.1,
                    shear_range=0.1, zoom_range=0.1, channel_shift_range=10.0,
                    horizontal_flip=True, vertical_flip=True)


def test_random_transform_changes_pixels_keeps_shape_and_is_reproducible(photo):
    first = augment.random_transform(photo, np.random.default_rng(3), **AUGMENTATION)
    again = augment.random_transform(photo, np.random.default_rng(3), **AUGMENTATION)
    other = augment.random_transform(photo, np.random.default_rng(4), **AUGMENTATION)
    assert first.shape == photo.shape and first.dtype == np.float32
    assert np.array_equal(first, again)
    assert not np.allclose(first, photo) and not np.allclose(first, other)


def test_random_transform_with_nothing_on_returns_the_image(photo):
    assert np.array_equal(augment.random_transform(photo, np.random.default_rng(0)), photo)
