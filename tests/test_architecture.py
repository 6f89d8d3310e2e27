"""The one VGG16 builder: layer names, the batch-norm variant, the top, the size and class checks."""
import keras
import pytest

from vggcourse.architecture import IMAGENET_SIZE, MIN_SIDE, VGG16_BLOCKS, build_vgg16
from vggcourse.errors import UserInputError
from vggcourse.preprocessing import VggPreprocess

BODY = ["preprocess"] + [name for b, block in enumerate(VGG16_BLOCKS, start=1)
                         for name in [f"block{b}_conv{c}" for c in range(1, len(block) + 1)] + [f"block{b}_pool"]]
TOP = ["flatten", "fc1", "fc1_dropout", "fc2", "fc2_dropout", "predictions"]
BN_TOP = ["flatten", "fc1", "fc1_bn", "fc1_dropout", "fc2", "fc2_bn", "fc2_dropout", "predictions"]


def _names(model):
    return [layer.name for layer in model.layers]


def test_layer_names_follow_keras_applications():
    model = build_vgg16((MIN_SIDE, MIN_SIDE))
    assert type(model) is keras.Sequential and model.name == "vgg16"
    assert _names(model) == BODY + TOP
    assert isinstance(model.layers[0], VggPreprocess)
    assert model.input_shape == (None, MIN_SIDE, MIN_SIDE, 3) and model.output_shape == (None, 1000)
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    # the same names and shapes as keras.applications.VGG16, so its published file loads by name
    keras_vgg = keras.applications.VGG16(weights=None, input_shape=(MIN_SIDE, MIN_SIDE, 3), include_top=False)
    ours = {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers if layer.weights}
    theirs = {layer.name: [tuple(w.shape) for w in layer.weights] for layer in keras_vgg.layers if layer.weights}
    assert {name: ours[name] for name in theirs} == theirs


def test_batch_norm_variant_and_no_top():
    bn = build_vgg16((MIN_SIDE, 48), batch_norm=True, classes=3)
    assert bn.name == "vgg16_bn" and _names(bn) == BODY + BN_TOP
    assert isinstance(bn.get_layer("fc1_bn"), keras.layers.BatchNormalization)
    assert bn.output_shape == (None, 3)
    body = build_vgg16((64, MIN_SIDE), include_top=False, batch_norm=True)
    assert _names(body) == BODY and body.output_shape == (None, 2, 1, 512)


def test_builds_the_sequential_class_it_is_given():
    class Mine(keras.Sequential):
        pass

    assert type(build_vgg16((MIN_SIDE, MIN_SIDE), include_top=False, sequential=Mine)) is Mine
    assert IMAGENET_SIZE == (224, 224)


@pytest.mark.parametrize("size", [(MIN_SIDE - 1, 224), (224,), "224", (32.0, 32), (True, 32), 224])
def test_size_must_be_two_whole_numbers_of_at_least_32(size):
    with pytest.raises(UserInputError, match=rf"`size` must be \(height, width\), two whole numbers of at "
                                             rf"least {MIN_SIDE}\. Received: size="):
        build_vgg16(size)


@pytest.mark.parametrize("classes", [0, 2.0, True, "2"])
def test_classes_must_be_a_whole_number(classes):
    with pytest.raises(UserInputError, match=r"`classes` must be a whole number >= 1\. Received: classes="):
        build_vgg16((MIN_SIDE, MIN_SIDE), classes=classes)
