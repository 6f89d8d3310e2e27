"""Test-time augmentation: `features.predict_in_order(..., tta=n)` averages the plain pass with seeded
augmented passes of `tta.default_generator()` (vggcourse/tta.py),
rows in `filenames` order. A tiny Keras model on real images (3 per class); `Vgg16.test(tta=...)`
and a file broken after the scan are tested in test_training.py."""
import keras
import numpy as np
import pytest

from vggcourse import features, tta
from vggcourse.image import ImageDataGenerator

SIZE = (16, 16)


@pytest.fixture(scope="module")
def model_and_batches(small_shared):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((*SIZE, 3)), keras.layers.Rescaling(1 / 2550), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    batches = ImageDataGenerator().flow_from_directory(small_shared / "valid", target_size=SIZE,
                                                       batch_size=4, shuffle=True, seed=1)
    return model, batches


def test_the_default_generator_augments_mildly_and_standardizes_like_the_batches():
    like = ImageDataGenerator(rescale=0.5, featurewise_center=True, rotation_range=30)
    like.mean = np.array([1.0, 2.0, 3.0]).reshape(1, 1, 3)
    gen = tta.default_generator(like=like)
    assert gen.augments and gen.rescale == 0.5 and gen.horizontal_flip and not gen.vertical_flip
    assert gen.rotation_range == 0 and np.array_equal(gen.mean, like.mean) and not like.horizontal_flip


def test_zero_passes_is_the_plain_prediction_in_file_order(model_and_batches):
    model, batches = model_and_batches
    probs = features.predict_in_order(model, batches, tta=0)
    np.testing.assert_array_equal(probs, features.predict_in_order(model, batches))
    assert probs.shape == (len(batches.filenames), 2)


def test_passes_are_averaged_and_repeat(model_and_batches):
    model, batches = model_and_batches
    plain = features.predict_in_order(model, batches)
    identity = features.predict_in_order(model, batches, tta=2, gen=ImageDataGenerator())
    np.testing.assert_allclose(identity, plain, rtol=1e-5, atol=1e-6)  # nothing changes: same rows
    augmented = features.predict_in_order(model, batches, tta=2)
    np.testing.assert_array_equal(augmented, features.predict_in_order(model, batches, tta=2))  # seeded passes
    assert not np.allclose(augmented, plain, atol=1e-7)
    flip = ImageDataGenerator(horizontal_flip=True)
    passes = [features.predict_in_order(model, batches, batch_size=32, gen=flip, seed=seed) for seed in (0, 1)]
    np.testing.assert_allclose(features.predict_in_order(model, batches, tta=2, gen=flip), (plain + sum(passes)) / 3,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_tta_must_be_a_whole_number(model_and_batches, bad):
    model, batches = model_and_batches
    with pytest.raises(ValueError, match=rf"`tta` must be a whole number >= 0: the number of augmented "
                                         rf"passes.*Received: tta={bad!r}"):
        features.predict_in_order(model, batches, tta=bad)
