"""The ResNet50 architecture as a chain of residual blocks: one builder, `build_resnet50`.

    model = build_resnet50((224, 224))                     # keras.Sequential, 25,636,712 weights
    model = build_resnet50((64, 64), include_top=False)    # the body only, (None, 2, 2, 2048)

`keras.applications.ResNet50`'s layers with its names (`conv1_conv`, `conv2_block1_0_conv`, ...
`predictions`), so Keras' published weights load by name; but grouped, so that a model of them is a
`keras.Sequential`: the stem `conv1` and each residual block (`conv2_block1` ... `conv5_block3`) is a
small functional model, one layer of the chain. That is what the feature cache (`vggcourse.split`)
cuts and `unfreeze('conv5_block1')` names. Imports only keras, `preprocessing` and `checks`.
"""
import keras
from keras import layers

from vggcourse import checks
from vggcourse.preprocessing import VggPreprocess

__all__ = ["RESNET50_STAGES", "RESNET_MIN_SIDE", "build_resnet50", "resnet50_block_names"]

# (stage, bottleneck filters, blocks, stride of the first block): ResNet50's conv2 ... conv5.
RESNET50_STAGES = ((2, 64, 3, 1), (3, 128, 4, 2), (4, 256, 6, 2), (5, 512, 3, 2))
RESNET_MIN_SIDE = 32  # the body halves the image five times
_BN_EPSILON = 1.001e-5  # as keras.applications (the published statistics were trained with it)


def resnet50_block_names():
    """The chained blocks' names, bottom to top: `['conv1', 'conv2_block1', ..., 'conv5_block3']`."""
    return ["conv1"] + [f"conv{stage}_block{b}" for stage, _, blocks, _ in RESNET50_STAGES
                        for b in range(1, blocks + 1)]


def _bn(name):
    return layers.BatchNormalization(axis=-1, epsilon=_BN_EPSILON, name=name)


def _stem(shape):
    inputs = keras.Input(shape=shape)
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = layers.Activation("relu", name="conv1_relu")(_bn("conv1_bn")(x))
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    return keras.Model(inputs, x, name="conv1")


def _residual_block(shape, filters, stride, projection, name):
    """Keras' `residual_block_v1`: 1x1, 3x3, 1x1 convolutions added to the input (or its 1x1
    projection when the block changes the shape), as one functional model named `name`."""
    inputs = keras.Input(shape=shape)
    shortcut = inputs
    if projection:
        shortcut = _bn(f"{name}_0_bn")(layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(inputs))
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(inputs)
    x = layers.Activation("relu", name=f"{name}_1_relu")(_bn(f"{name}_1_bn")(x))
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(_bn(f"{name}_2_bn")(x))
    x = _bn(f"{name}_3_bn")(layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x))
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.Model(inputs, layers.Activation("relu", name=f"{name}_out")(x), name=name)


def build_resnet50(size=(224, 224), include_top=True, classes=1000, sequential=keras.Sequential):
    """A `sequential` (a `keras.Sequential` class) ResNet50 taking RGB 0-255 images of `size`.

    Layers: `preprocess` (`VggPreprocess`: ResNet50's weights expect the same Caffe-style input as
    VGG16's: BGR, ImageNet mean subtracted), `conv1`, `conv2_block1` ... `conv5_block3`, and with
    the top `avg_pool` (global average) and `predictions` (a `classes`-way softmax). `size` must
    be two whole numbers of at least 32.
    """
    height, width = checks.size_pair("size", size, least=RESNET_MIN_SIDE)
    classes = checks.whole_number("classes", classes, least=1)
    model = sequential(name="resnet50")
    model.add(keras.Input(shape=(height, width, 3)))
    model.add(VggPreprocess(name="preprocess"))
    model.add(_stem((height, width, 3)))
    for stage, filters, blocks, stride in RESNET50_STAGES:
        for b in range(1, blocks + 1):
            shape = model.output_shape[1:]
            model.add(_residual_block(shape, filters, stride if b == 1 else 1, b == 1, f"conv{stage}_block{b}"))
    if include_top:
        model.add(layers.GlobalAveragePooling2D(name="avg_pool"))
        # float32 probabilities under mixed precision too, as VGG16's
        model.add(layers.Dense(classes, activation="softmax", name="predictions", dtype="float32"))
    return model
