"""vggcourse: the 2016 fast.ai course's VGG16 helpers, on Keras 3 and Python 3.

    from vggcourse import Vgg16
    vgg = Vgg16()
    batches = vgg.get_batches("data/dogscats/train", batch_size=64)
    vgg.finetune(batches)
    vgg.fit(batches, vgg.get_batches("data/dogscats/valid"), nb_epoch=1)

Names are imported on first use, so `import vggcourse` does not start Keras.
"""
import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Vgg16": "vggcourse.model",
    "Vgg16BN": "vggcourse.model",
    "Resnet50": "vggcourse.model",
    "ImageDataGenerator": "vggcourse.image",
    "DirectoryIterator": "vggcourse.image",
    "ArrayIterator": "vggcourse.image",
    "VggPreprocess": "vggcourse.preprocessing",
    "imagenet_class_names": "vggcourse.preprocessing",
    "Interpretation": "vggcourse.interpret",
    "save_array": "vggcourse.arrays",
    "load_array": "vggcourse.arrays",
    "write_submission": "vggcourse.kaggle",
    "score_submission": "vggcourse.kaggle",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vggcourse' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
