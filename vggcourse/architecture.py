"""The VGG16 architecture: one builder, `build_vgg16`, and its configuration.

    model = build_vgg16((224, 224))                       # keras.Sequential, 138,357,544 weights
    model = build_vgg16((64, 64), include_top=False)      # the conv body only
    model = build_vgg16(batch_norm=True, sequential=VggSequential)

The builder imports nothing of the package but the preprocessing layer and `checks`, so
`weights.py` (which checks weight files against it) and `model.py` (which wraps it) both use it,
and `weights.py` never imports `model.py`. Layer names follow `keras.applications.VGG16`, so Keras' published weights load by name.
"""
import keras
from keras import layers

from vggcourse import checks
from vggcourse.preprocessing import VggPreprocess

__all__ = ["IMAGENET_SIZE", "MIN_SIDE", "VGG16_BLOCKS", "build_vgg16"]

# Filters of each conv layer, block by block (VGG "configuration D").
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
_HIDDEN_UNITS = 4096
_DROPOUT = 0.5
MIN_SIDE = 32  # five 2x2 poolings
IMAGENET_SIZE = (224, 224)


def build_vgg16(size=IMAGENET_SIZE, include_top=True, batch_norm=False, classes=1000,
                sequential=keras.Sequential):
    """A `sequential` (a `keras.Sequential` class) VGG16 taking RGB 0-255 images of `size` (height, width).

    Layers: `preprocess`, `block1_conv1` ... `block5_pool`, and with the top `flatten`, `fc1`,
    [`fc1_bn`], `fc1_dropout`, `fc2`, [`fc2_bn`], `fc2_dropout`, `predictions`. `batch_norm`
    adds BatchNormalization after each hidden dense layer (Dense -> BN -> Dropout, as the course's
    `vgg16bn.py`). `size` must be two whole numbers of at least `MIN_SIDE` (32: five 2x2 poolings).
    """
    height, width = checks.size_pair("size", size, least=MIN_SIDE)
    classes = checks.whole_number("classes", classes, least=1)
    model = sequential(name="vgg16_bn" if batch_norm else "vgg16")
    model.add(keras.Input(shape=(height, width, 3)))
    model.add(VggPreprocess(name="preprocess"))
    for b, block in enumerate(VGG16_BLOCKS, start=1):
        for c, filters in enumerate(block, start=1):
            model.add(layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{b}_conv{c}"))
        model.add(layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool"))
    if include_top:
        model.add(layers.Flatten(name="flatten"))
        for i in (1, 2):
            model.add(layers.Dense(_HIDDEN_UNITS, activation="relu", name=f"fc{i}"))
            if batch_norm:
                model.add(layers.BatchNormalization(name=f"fc{i}_bn"))
            model.add(layers.Dropout(_DROPOUT, name=f"fc{i}_dropout"))
        # float32 probabilities under mixed precision too (submissions print them to 5 digits)
        model.add(layers.Dense(classes, activation="softmax", name="predictions", dtype="float32"))
    return model
