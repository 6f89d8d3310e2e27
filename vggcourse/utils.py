"""The names of the course's `utils.py`, on Keras 3 and Python 3.

`from vggcourse.utils import *` gives a course notebook what it imported from `utils`. Each name
lives in the module that owns its concept; only the three directory loaders are written here, as
thin calls into `vggcourse.image`:

| names | module |
| --- | --- |
| `save_array`, `load_array`, `onehot`, `MixIterator` | `vggcourse.arrays` |
| `copy_model`, `copy_layers`, `copy_weights`, `insert_layer`, `split_at`, `adjust_dropout`, `vgg_ft`, `vgg_ft_bn` | `vggcourse.layers` |
| `plots`, `plot`, `plot_confusion_matrix`, `gray`, `to_plot`, `mk_square`, `mk_size` | `vggcourse.plotting` |
| `do_clip` | `vggcourse.kaggle` |
"""
import os

import numpy as np

from vggcourse.arrays import MixIterator, load_array, onehot, save_array
from vggcourse.kaggle import do_clip
from vggcourse.layers import (adjust_dropout, copy_layer, copy_layers, copy_model, copy_weights,
                              insert_layer, split_at, vgg_ft, vgg_ft_bn)
from vggcourse.plotting import gray, mk_size, mk_square, plot, plot_confusion_matrix, plots, to_plot

__all__ = [
    "plots", "plot", "plot_confusion_matrix", "gray", "to_plot", "mk_square", "mk_size",
    "save_array", "load_array", "onehot", "MixIterator", "do_clip",
    "copy_layer", "copy_layers", "copy_weights", "copy_model", "insert_layer", "split_at",
    "adjust_dropout", "vgg_ft", "vgg_ft_bn",
    "get_batches", "get_data", "get_classes",
]


def get_batches(dirname, gen=None, shuffle=True, batch_size=4, class_mode="categorical",
                target_size=(224, 224)):
    """`gen.flow_from_directory(dirname, ...)`, with a plain `ImageDataGenerator()` when `gen` is None."""
    from vggcourse.image import ImageDataGenerator

    gen = ImageDataGenerator() if gen is None else gen
    return gen.flow_from_directory(dirname, target_size=target_size, class_mode=class_mode,
                                   shuffle=shuffle, batch_size=batch_size)


def get_data(path, target_size=(224, 224), dtype=np.uint8, batch_size=32):
    """Every image under `path` (class folders, `filenames` order) as one (n, h, w, 3) array.

    uint8 by default: a quarter of the memory of float32, and exact for RGB 0-255 pixels; pass
    dtype=np.float32 for the course's float array.
    """
    batches = get_batches(path, shuffle=False, batch_size=batch_size, class_mode=None,
                          target_size=target_size)
    out = np.empty((batches.samples, *target_size, 3), dtype=dtype)
    start = 0
    for i in range(len(batches)):
        x = np.asarray(batches[i])
        if np.issubdtype(out.dtype, np.integer):
            x = np.clip(np.rint(x), 0, np.iinfo(out.dtype).max)
        out[start:start + len(x)] = x
        start += len(x)
    return out


def get_classes(path):
    """(val_classes, trn_classes, val_labels, trn_labels, val_filenames, filenames, test_filenames)
    for `path`/train, `path`/valid and `path`/test (labels one-hot; test may be absent: [])."""
    trn = get_batches(os.path.join(path, "train"), shuffle=False, batch_size=1)
    val = get_batches(os.path.join(path, "valid"), shuffle=False, batch_size=1)
    test_dir = os.path.join(path, "test")
    test_filenames = (get_batches(test_dir, shuffle=False, batch_size=1, class_mode=None).filenames
                      if os.path.isdir(test_dir) else [])
    k = trn.num_classes
    return (val.classes, trn.classes, onehot(val.classes, k), onehot(trn.classes, k),
            val.filenames, trn.filenames, test_filenames)
