"""VGG16's input preprocessing as a saveable Keras layer, and the ImageNet class names.

The course's `vgg16.py` put the preprocessing in a `Lambda` layer, which a Keras 3 `.keras` file
only reloads with `safe_mode=False`. `VggPreprocess` is a registered layer instead, so a saved
model loads with the default `safe_mode=True`.
"""
import functools
import importlib.resources
import json

import keras
from keras import ops

__all__ = ["VGG_MEAN", "VggPreprocess", "imagenet_class_names"]

# Per-channel ImageNet mean in RGB order, as in the course (and Caffe's VGG16).
VGG_MEAN = (123.68, 116.779, 103.939)


@keras.saving.register_keras_serializable(package="vggcourse")
class VggPreprocess(keras.layers.Layer):
    """RGB images with values 0-255 -> mean-subtracted BGR, what VGG16's weights expect.

    Works on any channels-last tensor: `(..., 3)`. Equivalent to
    `keras.applications.vgg16.preprocess_input` (Caffe mode) on RGB input.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        x = x - ops.convert_to_tensor(VGG_MEAN, dtype=self.compute_dtype)
        return ops.flip(x, axis=-1)  # RGB -> BGR

    def compute_output_shape(self, input_shape):
        return input_shape


@functools.lru_cache(maxsize=1)
def _class_index():
    text = importlib.resources.files("vggcourse").joinpath("data", "imagenet_class_index.json").read_text()
    index = json.loads(text)
    return tuple(index[str(i)][1] for i in range(len(index)))


def imagenet_class_names():
    """The 1000 ImageNet class names in index order: `['tench', 'goldfish', ...]` (a new list)."""
    return list(_class_index())
