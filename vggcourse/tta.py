"""Test-time augmentation's policy: which random changes the augmented passes make.

    probs = features.predict_in_order(vgg, val_batches, tta=4)   # plain + 4 passes of default_generator()
    test_batches, probs = vgg.test("data/dogscats/test", tta=4)

`vggcourse.features.predict_in_order(..., tta=n)` averages the plain pass (cached features where
they apply) with n augmented passes, which run the whole model (random images cannot be cached),
so `tta=n` costs about n full forward passes.
"""

__all__ = ["default_generator"]


def default_generator(rescale=None):
    """Flips, shifts and zooms of up to 10%: mild changes that keep a photo's class.

        gen = default_generator(rescale=1 / 255)
    """
    from vggcourse.image import ImageDataGenerator

    return ImageDataGenerator(horizontal_flip=True, width_shift_range=0.1, height_shift_range=0.1,
                              zoom_range=0.1, rescale=rescale)
