"""The course's `utils` namespace, on Keras 3 and Python 3.

`from vggcourse.utils import *` gives a notebook what `from utils import *` gave it in 2016: the
course's own helpers, the modules and functions `utils.py` imported for the notebooks (`np`,
`plt`, `glob`, `permutation`, `ndimage`, `confusion_matrix`, ...), Keras 1's names
(`vggcourse.keras1`: `Sequential`, `Dense`, `Convolution2D`, `RMSprop`, `K`, `image`,
`get_file`, ...), and `vgg16.py` / `vgg16bn.py`'s (`Vgg16`, `Vgg16BN`, `vgg_preprocess`).

    from vggcourse.utils import *
    val_data = get_data(path + "valid")
    lm = Sequential([Dense(2, activation="softmax", input_shape=(1000,))])

Each helper lives in the module that owns its concept:

| names | module |
| --- | --- |
| `save_array`, `load_array`, `onehot`, `MixIterator` | `vggcourse.arrays` |
| `copy_model`, `copy_layer(s)`, `copy_weights`, `insert_layer`, `split_at`, `adjust_dropout`, `vgg_ft`, `vgg_ft_bn` | `vggcourse.layers` |
| `plots`, `plot`, `plot_confusion_matrix`, `gray`, `to_plot`, `mk_square`, `mk_size` | `vggcourse.plotting` |
| `do_clip` | `vggcourse.kaggle` |
| Keras 1 names | `vggcourse.keras1` |

Names with no modern meaning are objects that raise, naming the replacement, when used: `bcolz`
(`save_array` / `load_array`), `misc` (`imread`, `imresize` here), and Theano's `conv2d` and `pool`, which PyTensor dropped
(`keras.ops`). Imported on first use: `pd` (pandas) and Theano's names on PyTensor, Theano's
maintained successor: `theano` (`pytensor`), `T` (`pytensor.tensor`), `shared` (`pytensor.shared`)
and `nnet` (Theano's functions, on PyTensor); see `vggcourse.course_theano`. Unlike the course's file, importing this changes no global setting (the
course set numpy's print options; call `np.set_printoptions(precision=4, linewidth=100)` for that).
"""
import importlib
import itertools
import json
import math
import os
import pickle
import re
import sys
from collections import OrderedDict
from glob import glob
from itertools import chain
from operator import attrgetter, itemgetter, methodcaller

import keras
import matplotlib.pyplot as plt
import numpy as np
import PIL
import scipy
from numpy import newaxis
from numpy.random import choice, normal, permutation, randn, random, uniform
from PIL import Image
from scipy import ndimage
from scipy.ndimage import zoom
from sklearn.manifold import TSNE
from sklearn.metrics import confusion_matrix
from sklearn.preprocessing import OneHotEncoder

from vggcourse import checks, keras1
from vggcourse.arrays import MixIterator, load_array, onehot, save_array
from vggcourse.decode import INTERPOLATIONS
from vggcourse.errors import UserInputError, UserTypeError
from vggcourse.image import unlabelled_image_files
from vggcourse.kaggle import do_clip
from vggcourse.keras1 import *  # noqa: F401,F403 (Keras 1's names, listed in keras1.__all__)
from vggcourse.layers import (adjust_dropout, copy_layer, copy_layers, copy_model, copy_weights,
                              insert_layer, split_at, vgg_ft, vgg_ft_bn)
from vggcourse.model import Vgg16, Vgg16BN
from vggcourse.preprocessing import VGG_MEAN
from vggcourse import plotting
from vggcourse.plotting import gray, mk_size, mk_square, plot, plot_confusion_matrix, to_plot

_COURSE_HELPERS = [
    "plots", "plot", "plot_confusion_matrix", "gray", "to_plot", "to_bw", "mk_square", "mk_size",
    "floor", "ceil", "save_array", "load_array", "onehot", "MixIterator", "do_clip",
    "wrap_config", "copy_layer", "copy_layers", "copy_weights", "copy_model", "insert_layer",
    "split_at", "adjust_dropout", "vgg_ft", "vgg_ft_bn", "get_batches", "get_data", "get_classes",
    "Vgg16", "Vgg16BN", "vgg_mean", "vgg_preprocess", "imread", "imresize",
]
_IMPORTED = [
    "math", "os", "json", "sys", "re", "pickle", "glob", "itertools", "chain", "OrderedDict",
    "itemgetter", "attrgetter", "methodcaller", "np", "plt", "pd", "PIL", "Image", "scipy",
    "ndimage", "zoom", "misc", "random", "permutation", "randn", "normal", "uniform", "choice",
    "newaxis", "confusion_matrix", "OneHotEncoder", "TSNE", "FileLink", "keras",
    "bcolz", "theano", "shared", "T", "conv2d", "nnet", "pool",
]
__all__ = _COURSE_HELPERS + _IMPORTED + list(keras1.__all__)


class _Gone:
    """A name the course imported that has no modern meaning: using it raises, naming the replacement."""

    def __init__(self, name, replacement):
        self._name, self._replacement = name, replacement

    def _raise(self, *args, **kwargs):
        raise UserTypeError(f"`{self._name}` has no modern meaning in vggcourse: {self._replacement}")

    __call__ = _raise

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._raise()

    def __repr__(self):
        return f"<{self._name}: gone; {self._replacement}>"


class _Lazy:
    """A module, or a name in one, imported on first use: pandas (half a second of import time that
    few notebooks need) and PyTensor (for the one lesson that writes Theano).

    >>> pd.DataFrame({"a": [1]}).shape    # pandas imported here
    (1, 1)
    >>> shared(np.zeros(2)).get_value()   # pytensor imported here
    array([0., 0.])
    """

    def __init__(self, module, install, name=None):
        self._module, self._install, self._name = module, install, name

    def _target(self):
        try:
            module = importlib.import_module(self._module)
        except ImportError as err:
            missing = err.name or self._module
            raise ImportError(f"{missing} is not installed: {self._install}") from err
        return module if self._name is None else getattr(module, self._name)

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self._target(), attr)

    def __call__(self, *args, **kwargs):
        return self._target()(*args, **kwargs)

    def __repr__(self):
        what = self._module if self._name is None else f"{self._module}.{self._name}"
        return f"<lazy {what!r}>"


_COURSE_EXTRA = 'pip install "vggcourse[course]"'
pd = _Lazy("pandas", _COURSE_EXTRA)
theano, T, shared, nnet = (_Lazy("vggcourse.course_theano", _COURSE_EXTRA, name=name)
                           for name in ("theano", "T", "shared", "nnet"))
conv2d = _Gone("conv2d", "Theano's conv2d is gone and PyTensor has none; use keras.ops.conv (or "
                         "keras.layers.Conv2D).")
pool = _Gone("pool", "Theano's pool is gone and PyTensor has none; use keras.ops.max_pool / "
                     "keras.ops.average_pool (or keras.layers.MaxPooling2D).")
bcolz = _Gone("bcolz", "use save_array(fname, arr) / load_array(fname), which keep the course's "
                       "'.bc' / '.dat' names (one .npy file each).")
misc = _Gone("scipy.misc", "scipy.misc's image functions are gone; use imread(path) and "
                           "imresize(img, size) from vggcourse.utils.")


def FileLink(path, *args, **kwargs):
    """IPython's `FileLink(path)`: a link to a file in the notebook's output."""
    from IPython.display import FileLink as _FileLink

    return _FileLink(path, *args, **kwargs)


to_bw = np.array([0.299, 0.587, 0.114])


def floor(x):
    """`int(math.floor(x))`."""
    return int(math.floor(x))


def ceil(x):
    """`int(math.ceil(x))`."""
    return int(math.ceil(x))


def imread(path):
    """The image file at `path` as a numpy array (h, w, 3) uint8: `scipy.ndimage.imread`, which is gone."""
    from vggcourse.image import img_to_array, load_img

    return img_to_array(load_img(path), dtype="uint8")


def imresize(img, size, interp="bilinear"):
    """`img` (h, w[, c]) resized to `size` (h, w) (a float scales): `scipy.misc.imresize`, which is gone."""
    arr = np.asarray(img)
    if np.isscalar(size):
        size = (int(arr.shape[0] * size), int(arr.shape[1] * size))
    checks.one_of("interp", interp, tuple(INTERPOLATIONS), caller="imresize")
    out = Image.fromarray(arr.astype(np.uint8)).resize((size[1], size[0]), INTERPOLATIONS[interp])
    return np.asarray(out)


# The ImageNet mean, RGB, shaped to broadcast over channels-last images (the course's was (3, 1, 1)).
vgg_mean = np.array(VGG_MEAN, dtype=np.float32)


def vgg_preprocess(x):
    """Subtract the ImageNet mean and reverse RGB to BGR, channels-last (the course's function).

    `Vgg16`'s model does this itself (its `VggPreprocess` layer); this is for models built by hand.
    """
    return (x - vgg_mean)[..., ::-1]


def plots(ims, figsize=(12, 6), rows=1, interp=False, titles=None, **kwargs):
    """`vggcourse.plotting.plots`, where `titles` may be longer than `ims`, as the course's allowed.

    The course's notebooks pass every probability as titles and the first few images
    (`plots_idx(most_uncertain[:n_view], probs[most_uncertain])`); the first titles are used.
    """
    if titles is not None and len(titles) > len(ims):
        titles = titles[:len(ims)]
    return plotting.plots(ims, figsize=figsize, rows=rows, interp=interp, titles=titles, **kwargs)


def wrap_config(layer):
    """`{'class_name': ..., 'config': ...}` of `layer`: what `layer_from_config` takes."""
    return {"class_name": layer.__class__.__name__, "config": layer.get_config()}


def get_batches(dirname, gen=None, shuffle=True, batch_size=4, class_mode="categorical",
                target_size=(224, 224)):
    """`gen.flow_from_directory(dirname, ...)`, with a plain `ImageDataGenerator()` when `gen` is None."""
    gen = keras1.image.ImageDataGenerator() if gen is None else gen
    return gen.flow_from_directory(dirname, target_size=target_size, class_mode=class_mode,
                                   shuffle=shuffle, batch_size=batch_size)


def get_data(path, target_size=(224, 224), dtype=np.uint8, batch_size=32):
    """Every image under `path` (class folders, `filenames` order) as one (n, h, w, 3) array.

    uint8 by default: a quarter of the memory of float32, and exact for RGB 0-255 pixels; pass
    dtype=np.float32 for the course's float array. Row i is always file i (the course pairs these
    rows with `get_classes`' labels): a file whose pixels fail to decode is a NaN row with a float
    dtype, and with an integer dtype, which has no NaN, a `UserInputError` naming the files.
    """
    batches = get_batches(path, shuffle=False, batch_size=batch_size, class_mode=None,
                          target_size=target_size)
    integer = np.issubdtype(np.dtype(dtype), np.integer)
    out = np.empty((batches.samples, *target_size, 3), dtype=dtype)
    for i in range(len(batches)):
        x = np.asarray(batches[i])  # the batch's files that decoded, in order
        span = range(i * batch_size, min((i + 1) * batch_size, batches.samples))
        failed = set(batches.failed)
        lost = [row for row in span if batches.filenames[row] in failed]
        if lost and integer:
            raise UserInputError(
                f"get_data: {len(lost)} file(s) of {path} could not be decoded "
                f"({', '.join(batches.filenames[row] for row in lost[:3])}); remove them (`vggcourse "
                f"verify` lists them) or pass dtype=np.float32 to get NaN rows in their place")
        out[[row for row in span if row not in lost]] = (
            np.clip(np.rint(x), 0, np.iinfo(out.dtype).max) if integer else x)
        if lost:
            out[lost] = np.nan
    return out


def get_classes(path):
    """(val_classes, trn_classes, val_labels, trn_labels, val_filenames, filenames, test_filenames)
    for `path`/train, `path`/valid and `path`/test (labels one-hot). An empty train or valid
    folder is an error naming it; test may be absent or hold no image (State Farm's notebook makes
    an empty `sample/test`): then `test_filenames` is [], with one line saying so, as Keras 1 did.

        val_classes, trn_classes, *_, test_filenames = get_classes("data/state/sample/")
    """
    trn = get_batches(os.path.join(path, "train"), shuffle=False, batch_size=1)
    val = get_batches(os.path.join(path, "valid"), shuffle=False, batch_size=1)
    test_dir = os.path.join(path, "test")
    test_filenames = []
    if os.path.isdir(test_dir) and not unlabelled_image_files(test_dir):
        print(f"Found 0 images belonging to 0 classes in {test_dir}: no test filenames.")
    elif os.path.isdir(test_dir):
        test_filenames = get_batches(test_dir, shuffle=False, batch_size=1, class_mode=None).filenames
    k = trn.num_classes
    return (val.classes, trn.classes, onehot(val.classes, k), onehot(trn.classes, k),
            val.filenames, trn.filenames, test_filenames)
