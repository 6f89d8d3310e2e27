"""Test-time augmentation: average the plain predictions with predictions on augmented copies.

    probs = predict(vgg.model, val_batches, tta=4)   # plain + 4 augmented passes, filenames order
    test_batches, probs = vgg.test("data/dogscats/test", tta=4)

The plain pass uses the feature cache where it applies; augmented passes run the whole model
(random images cannot be cached), so `tta=n` costs about n full forward passes.
"""
from vggcourse import features
from vggcourse.checks import whole_number

__all__ = ["default_generator", "predict"]


def default_generator(rescale=None):
    """Flips, shifts and zooms of up to 10%: mild changes that keep a photo's class.

        gen = default_generator(rescale=1 / 255)
    """
    from vggcourse.image import ImageDataGenerator

    return ImageDataGenerator(horizontal_flip=True, width_shift_range=0.1, height_shift_range=0.1,
                              zoom_range=0.1, rescale=rescale)


def predict(model, batches, tta=0, gen=None):
    """Probabilities for every file of `batches`, in `batches.filenames` order, with `tta` passes.

    `model` is a Keras model or a `Vgg16`; `gen` an `ImageDataGenerator` for the augmented passes
    (default: `default_generator()`, with the batches' `rescale`). Pass i is seeded with i, so
    results repeat.

        probs = predict(vgg, val_batches, tta=4)   # row i is val_batches.filenames[i]
    """
    tta = whole_number("tta", tta, what=">= 0: the number of augmented passes averaged with the plain "
                                        "one (0: none)")
    probs = features.predict_in_order(model, batches)
    if tta == 0:
        return probs
    if gen is None:
        gen = default_generator(rescale=getattr(batches.image_data_generator, "rescale", None))
    total = probs.astype("float64")
    for seed in range(tta):
        total += features.predict_in_order(model, batches, batch_size=max(batches.batch_size, 32),
                                           gen=gen, seed=seed)
    return (total / (tta + 1)).astype(probs.dtype)
