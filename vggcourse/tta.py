"""Test-time augmentation's policy: which random changes the augmented passes make.

    probs = features.predict_in_order(vgg, val_batches, tta=4)   # plain + 4 passes of default_generator()
    test_batches, probs = vgg.test("data/dogscats/test", tta=4)

`vggcourse.features.predict_in_order(..., tta=n)` averages the plain pass (cached features where
they apply) with n augmented passes, which run the whole model (random images cannot be cached),
so `tta=n` costs about n full forward passes.
"""

__all__ = ["default_generator"]


def default_generator(like=None):
    """Flips, shifts and zooms of up to 10%: mild changes that keep a photo's class. The images
    are standardized as `like`'s are (a generator: its rescale, `fit` statistics, function), so
    the augmented passes see what the plain pass sees.

        gen = default_generator(like=batches.image_data_generator)
    """
    from vggcourse.augment import zoom_bounds
    from vggcourse.image import ImageDataGenerator

    gen = ImageDataGenerator() if like is None else like.without_augmentation()
    gen.horizontal_flip, gen.width_shift_range, gen.height_shift_range = True, 0.1, 0.1
    gen.zoom_range = list(zoom_bounds(0.1))  # as the constructor keeps zoom_range=0.1: [0.9, 1.1]
    return gen
