"""The transforms of vggcourse.augment, alone, on small arrays and one real image: Keras 2's
(each compared with the affine map it should apply, in (row, col) terms written out here) and
the course's Keras 1 augmentation."""
import numpy as np
import pytest
from PIL import Image, ImageEnhance
from scipy import ndimage

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


# ---------------------------------------------------------------- Keras 2

def keras2(x, **params):
    """Keras 2's transform of a channels-last image, nearest-neighbour, by its own function."""
    return augment.apply_affine_transform(x, row_axis=0, col_axis=1, channel_axis=2, order=0, **params)


def expected(x, matrix, offset):
    """What an affine map (output (row, col) -> input) gives, straight from scipy."""
    return np.stack([ndimage.affine_transform(x[..., c], matrix, offset, order=0, mode="nearest")
                     for c in range(x.shape[-1])], axis=-1)


def about_centre(x, matrix):
    """`matrix` (2x2, (row, col) terms) turned about the image centre: its offset."""
    centre = (np.array(x.shape[:2]) - 1) / 2
    return centre - matrix @ centre


def test_keras2_rotation_turns_counter_clockwise_about_the_centre():
    x = squares(5)
    assert np.array_equal(keras2(x, theta=90), np.rot90(x))  # Keras 2's direction: np.rot90's
    assert np.array_equal(keras2(x, theta=-90), np.rot90(x, k=-1))
    corner = np.zeros((2, 2, 1))
    corner[0, 1] = 1  # keras-preprocessing's own check that the centre is (h - 1) / 2
    assert np.array_equal(augment.apply_affine_transform(corner, theta=90, row_axis=0, col_axis=1, channel_axis=2)[..., 0],
                          [[1, 0], [0, 0]])


def test_keras2_shifts_move_tx_along_the_width_and_ty_along_the_height():
    x = squares(6)
    assert np.array_equal(keras2(x, tx=2)[:, :4], x[:, 2:])   # content moves left by tx columns
    assert np.array_equal(keras2(x, ty=-1)[1:], x[:-1])       # and down by -ty rows
    channels_first = np.moveaxis(x, -1, 0)                    # Keras' default axes
    assert np.array_equal(augment.apply_affine_transform(channels_first, tx=2, order=0)[:, :, :4],
                          channels_first[:, :, 2:])


def test_keras2_transform_with_a_fixed_seed_applies_the_matrix_it_should():
    settings = dict(rotation_range=30, width_shift_range=0.2, height_shift_range=3, shear_range=20, zoom_range=0.3)
    x = squares(9)
    params = augment.draw_parameters(x.shape, np.random.RandomState(5), **settings)
    draws = np.random.RandomState(5)  # Keras' order of draws from np.random.seed(5)
    theta = draws.uniform(-30, 30)
    ty = draws.choice(3) * draws.choice([-1, 1])
    tx = draws.uniform(-0.2, 0.2) * 9
    shear = draws.uniform(-20, 20)
    zx, zy = draws.uniform(0.7, 1.3, 2)
    assert np.allclose([params[k] for k in ("theta", "tx", "ty", "shear", "zx", "zy")], [theta, tx, ty, shear, zx, zy])
    t, s = np.deg2rad(theta), np.deg2rad(shear)
    # in (row, col) terms: rotation, then the shift (ty rows, tx cols), shear, zoom (zy rows, zx cols)
    rotate = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    slant = np.array([[np.cos(s), 0], [-np.sin(s), 1]])
    zoom = np.diag([zy, zx])
    matrix = rotate @ slant @ zoom
    offset = about_centre(x, matrix) + rotate @ np.array([ty, tx])
    assert np.array_equal(augment.apply_parameters(x, params, order=0), expected(x, matrix, offset))


def test_keras2_shift_ranges_are_fractions_below_one_else_pixels():
    shape, rng = (10, 20, 3), np.random.default_rng(0)
    fractions = [augment.draw_parameters(shape, rng, width_shift_range=0.1)["tx"] for _ in range(200)]
    assert max(np.abs(fractions)) <= 2 and len(set(fractions)) > 100
    pixels = {augment.draw_parameters(shape, rng, width_shift_range=2)["tx"] for _ in range(200)}
    assert pixels == {-1, 0, 1}  # an int n: 0 .. n-1 with a random sign (Keras 2's rule)
    listed = {augment.draw_parameters(shape, rng, height_shift_range=[2, 4])["ty"] for _ in range(200)}
    assert listed == {-4, -2, 2, 4}
    floats = [augment.draw_parameters(shape, rng, height_shift_range=2.5)["ty"] for _ in range(200)]
    assert 1.5 < max(np.abs(floats)) <= 2.5  # a float from 1 on: pixels


def test_keras2_fill_mode_constant_fills_outside_with_cval_without_blending_the_edge():
    x = np.ones((8, 8, 1), np.float32)
    out = augment.apply_affine_transform(x, tx=2.5, row_axis=0, col_axis=1, channel_axis=2, fill_mode="constant",
                                         cval=-1.0)
    assert np.allclose(out[:, :5], 1.0) and np.allclose(out[:, 6:], -1.0)  # scipy's 'constant', as Keras


def test_keras2_channel_shift_adds_one_offset_to_every_channel_within_the_image_range(photo):
    out = augment.apply_channel_shift(photo, 20.0, channel_axis=2)
    assert np.allclose(out, np.clip(photo + 20.0, photo.min(), photo.max()))


def test_keras2_brightness_is_pillows_enhancement(photo):
    pixels = photo.astype(np.uint8)
    for factor in (0.3, 1.0, 1.7):
        pil = np.asarray(ImageEnhance.Brightness(Image.fromarray(pixels)).enhance(factor), np.float32)
        assert np.array_equal(augment.apply_brightness_shift(pixels.astype(np.float32), factor, scale=False), pil)
    wide = np.linspace(-100, 1000, 48, dtype=np.float32).reshape(4, 4, 3)  # outside 0-255: kept in its range
    out = augment.apply_brightness_shift(wide, 1.0, scale=False)
    assert np.isclose(out.min(), -100) and np.isclose(out.max(), 1000)
    assert augment.apply_brightness_shift(np.full((1, 1, 3), 128.0), 1.0, scale=True).max() == 0  # Keras' rule


def test_keras2_flip_axis_and_zoom_checks():
    x = squares()
    assert np.array_equal(augment.flip_axis(x, 1), x[:, ::-1])
    with pytest.raises(ValueError, match="zoom_range"):
        augment.random_zoom(x, (0.9,))
    with pytest.raises(ValueError, match="row_axis"):
        augment.apply_affine_transform(x, theta=1, row_axis=0, col_axis=0, channel_axis=2)


# ---------------------------------------------------------------- Keras 1 (the course's)

def test_default_matrix_is_identity_and_leaves_image_alone():
    image = squares()
    assert np.allclose(augment.affine_matrix(image.shape), np.eye(3))
    assert np.array_equal(augment.apply_affine(image, np.eye(3)), image)


def test_keras1_rotation_by_90_degrees_turns_the_image_clockwise():
    image = squares()
    rotated = augment.apply_affine(image, augment.affine_matrix(image.shape, rotation=90))
    assert np.allclose(rotated, np.rot90(image, k=-1), atol=1e-3)


def test_shift_moves_content_by_whole_pixels():
    image = squares()
    shifted = augment.apply_affine(image, augment.affine_matrix(image.shape, shift=(2, 0)))
    assert np.allclose(shifted[:4], image[2:], atol=1e-3)
    assert np.allclose(shifted[4:], image[-1:], atol=1e-3)  # fill_mode='nearest' repeats the edge


@pytest.mark.parametrize("fill_mode", augment.FILL_MODES)
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


def test_keras1_channel_shift_draws_an_offset_per_channel_within_the_image_limits(photo):
    out = augment.keras1_random_transform(photo, np.random.default_rng(0), channel_shift_range=20.0)
    offsets = (out - photo).reshape(-1, 3)
    assert out.min() >= photo.min() and out.max() <= photo.max()
    assert np.abs(offsets).max() <= 20.0 + 1e-4 and not np.allclose(out, photo)
    unclipped = (out > photo.min()) & (out < photo.max())
    per_channel = [np.median((out - photo)[..., c][unclipped[..., c]]) for c in range(3)]
    assert len({round(float(v), 3) for v in per_channel}) == 3


def test_keras1_flip_gives_both_outcomes_and_nothing_else():
    image, rng = squares(), np.random.default_rng(1)
    outcomes = set()
    for _ in range(20):
        out = augment.keras1_random_transform(image, rng, horizontal_flip=True)
        outcomes.add("same" if np.array_equal(out, image) else "flipped")
        assert np.array_equal(out, image) or np.array_equal(out, image[:, ::-1])
    assert outcomes == {"same", "flipped"}


AUGMENTATION = dict(rotation_range=20, width_shift_range=0.1, height_shift_range=0.1,
                    shear_range=0.1, zoom_range=0.1, channel_shift_range=10.0,
                    horizontal_flip=True, vertical_flip=True)


def test_keras1_transform_changes_pixels_keeps_shape_and_is_reproducible(photo):
    first = augment.keras1_random_transform(photo, np.random.default_rng(3), **AUGMENTATION)
    again = augment.keras1_random_transform(photo, np.random.default_rng(3), **AUGMENTATION)
    other = augment.keras1_random_transform(photo, np.random.default_rng(4), **AUGMENTATION)
    assert first.shape == photo.shape and first.dtype == np.float32
    assert np.array_equal(first, again)
    assert not np.allclose(first, photo) and not np.allclose(first, other)


def test_keras1_shear_is_radians_where_keras2_takes_degrees():
    x = squares(9)
    radians = augment.apply_affine(x, augment.affine_matrix(x.shape, shear=np.deg2rad(20)), order=0)
    degrees = augment.apply_affine_transform(np.swapaxes(x, 0, 1), shear=20, row_axis=0, col_axis=1, channel_axis=2,
                                             order=0)
    assert not np.array_equal(radians, x)
    assert np.array_equal(radians, np.swapaxes(degrees, 0, 1))  # Keras 1 applied it to (row, col), Keras 2 to (x, y)


def test_keras1_transform_with_nothing_on_returns_the_image(photo):
    assert np.array_equal(augment.keras1_random_transform(photo, np.random.default_rng(0)), photo)
