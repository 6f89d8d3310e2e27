"""Keras 1's `keras.datasets`, as the course's notebooks call them, on Keras 3's published files.

    from vggcourse.keras1 import mnist        # `vggcourse port` writes this for `from keras.datasets import mnist`
    (X_train, y_train), (X_test, y_test) = mnist.load_data()    # uint8 (60000, 28, 28), (60000,)
    (x, y), _ = imdb.load_data(nb_words=5000)                   # Keras 1's nb_words: Keras 3's num_words

`DATASET_FILES` is the one table of the files: Keras 3's own URLs and hashes, and the names its
loaders look for in Keras' dataset cache (`$KERAS_HOME/datasets`, default `~/.keras/datasets`, so
a file that `keras.datasets` already downloaded is reused). `fetch_dataset(key)` returns that
file, downloading it first when needed with `vggcourse.download.fetch` (streamed beside the
cache, a cut-off download kept nowhere), from the table's URL or, when `$VGGCOURSE_DATASETS_URL`
names a mirror, from there with the URL's file name appended. The hash is checked on every
fetch: a download that fails it is kept nowhere and raises `download.DownloadError`. Offline and
without the file, a `FileNotFoundError` names the file, the URL and where to put it by hand.

- `mnist.load_data()`: Keras 3's MNIST arrays (`vggcourse.sample.mnist_standin()` gives the same
  shapes and dtypes offline, from scikit-learn's digits).
- `imdb.load_data(...)` / `reuters.load_data(...)`: Keras 1's arguments (`nb_words` is Keras 3's
  `num_words`) handed to Keras 3's loader after the fetch; `get_word_index()` for both (lesson5).
- `cifar10.load_data()` / `cifar100.load_data(label_mode='fine')`: Keras 3's loaders after the
  fetch, channels-last as Keras 1 gave them with TensorFlow's dimension ordering.
- `input_data.read_data_sets(folder)`: TensorFlow 1's MNIST tutorial reader (convolution-intro),
  on the same MNIST file: `.train` / `.validation` / `.test` with `.images` (float32 in [0, 1],
  flat 784 pixels) and `.labels`.
"""
import collections
import json
import types

import numpy as np

from vggcourse import checks, download
from vggcourse._console import keras_home
from vggcourse.errors import UserInputError

__all__ = ["DatasetFile", "DATASET_FILES", "MIRROR_ENV", "cache_dir", "dataset_url", "fetch_dataset", "mnist", "imdb",
           "reuters", "cifar10", "cifar100", "input_data"]

MIRROR_ENV = "VGGCOURSE_DATASETS_URL"

_KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

DatasetFile = collections.namedtuple("DatasetFile", ["fname", "url", "hash"])

# key -> (file name in the cache, URL, hash), as keras/src/datasets/*.py publish them: sha256, or
# md5 for the word indexes (Keras publishes no sha256 for them; the length tells which).
DATASET_FILES = {
    "mnist": DatasetFile("mnist.npz", _KERAS_DATASETS + "mnist.npz",
                         "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),
    "imdb": DatasetFile("imdb.npz", _KERAS_DATASETS + "imdb.npz",
                        "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"),
    "imdb_word_index": DatasetFile("imdb_word_index.json", _KERAS_DATASETS + "imdb_word_index.json",
                                   "bfafd718b763782e994055a2d397834f"),
    "reuters": DatasetFile("reuters.npz", _KERAS_DATASETS + "reuters.npz",
                           "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"),
    "reuters_word_index": DatasetFile("reuters_word_index.json",
                                      _KERAS_DATASETS + "reuters_word_index.json",
                                      "4d44cc38712099c9e383dc6e5f11a921"),
    # Keras' cifar loaders ask `get_file` for a folder; it keeps the archive as "<folder>_archive"
    "cifar10": DatasetFile("cifar-10-batches-py-target_archive",
                           "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                           "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    "cifar100": DatasetFile("cifar-100-python-target_archive",
                            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                            "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),
}


def cache_dir():
    """Keras' cache folder for datasets: `$KERAS_HOME/datasets`, default `~/.keras/datasets`."""
    return keras_home() / "datasets"


def dataset_url(key):
    """Where `key` downloads from: the table's URL, or the mirror in `$VGGCOURSE_DATASETS_URL` if
    set, with the URL's file name appended (`mnist.npz`, `cifar-10-python.tar.gz`)."""
    url = DATASET_FILES[key].url
    return download.mirrored_url(url, MIRROR_ENV, url.rsplit("/", 1)[-1])


def fetch_dataset(key):
    """Path of the cached dataset file `key` (see `DATASET_FILES`), downloaded and checked if needed.

        path = fetch_dataset("mnist")      # ~/.keras/datasets/mnist.npz
    """
    checks.one_of("key", key, sorted(DATASET_FILES), caller="fetch_dataset")
    entry = DATASET_FILES[key]
    return download.fetch(dataset_url(key), cache_dir() / entry.fname, entry.hash, what="dataset",
                          mirror_env=MIRROR_ENV)


# ---------------------------------------------------------------- MNIST

def _load_mnist():
    """Keras 1's `mnist.load_data()`: ((x_train, y_train), (x_test, y_test)), uint8 (n, 28, 28) and (n,).

        (X_train, y_train), (X_test, y_test) = mnist.load_data()
    """
    with np.load(fetch_dataset("mnist"), allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


mnist = types.SimpleNamespace(load_data=_load_mnist)


# ---------------------------------------------------------------- IMDB and Reuters

def _num_words(nb_words, num_words, caller):
    """Keras 1's `nb_words` or Keras 3's `num_words` (one of them, or both equal)."""
    if nb_words is not None and num_words is not None and nb_words != num_words:
        raise UserInputError(f"{caller}: `nb_words` (Keras 1) and `num_words` (Keras 3) are the same "
                             f"setting; pass one. Received: nb_words={nb_words!r}, num_words={num_words!r}")
    words = num_words if num_words is not None else nb_words
    if words is not None:
        checks.whole_number("nb_words", words, least=1, caller=caller)
    return words


def _keras_loader(key, **kwargs):
    """Keras 3's `keras.datasets.<key>.load_data(**kwargs)` on the file `fetch_dataset(key)` put in
    its cache (Keras finds it there, checks the same hash, and downloads nothing)."""
    import keras

    fetch_dataset(key)
    return getattr(keras.datasets, key).load_data(**kwargs)


def _word_index(key):
    """Keras' `get_word_index()`: the dict word -> index of the file `key` (a JSON object)."""
    with open(fetch_dataset(key), encoding="utf-8") as f:
        return json.load(f)


def _load_imdb(nb_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
               index_from=3, num_words=None):
    """Keras 1's `imdb.load_data(nb_words=None, skip_top=0, maxlen=None, seed=113, ...)`.

        (x_train, y_train), (x_test, y_test) = imdb.load_data(nb_words=5000)
    """
    return _keras_loader("imdb", num_words=_num_words(nb_words, num_words, "imdb.load_data"),
                         skip_top=skip_top, maxlen=maxlen, seed=seed, start_char=start_char,
                         oov_char=oov_char, index_from=index_from)


def _load_reuters(nb_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113, start_char=1,
                  oov_char=2, index_from=3, num_words=None):
    """Keras 1's `reuters.load_data(nb_words=None, skip_top=0, maxlen=None, test_split=0.2, ...)`.

        (x_train, y_train), (x_test, y_test) = reuters.load_data(nb_words=1000)
    """
    return _keras_loader("reuters", num_words=_num_words(nb_words, num_words, "reuters.load_data"),
                         skip_top=skip_top, maxlen=maxlen, test_split=test_split, seed=seed,
                         start_char=start_char, oov_char=oov_char, index_from=index_from)


imdb = types.SimpleNamespace(load_data=_load_imdb, get_word_index=lambda: _word_index("imdb_word_index"))
reuters = types.SimpleNamespace(load_data=_load_reuters, get_word_index=lambda: _word_index("reuters_word_index"))


# ---------------------------------------------------------------- CIFAR

def _load_cifar10():
    """Keras 1's `cifar10.load_data()`: uint8 (50000, 32, 32, 3) / (10000, ...), labels uint8 (n, 1).

        (X_train, y_train), (X_test, y_test) = cifar10.load_data()
    """
    return _keras_loader("cifar10")


def _load_cifar100(label_mode="fine"):
    """Keras 1's `cifar100.load_data(label_mode='fine')` ('fine': 100 classes, 'coarse': 20).

        (X_train, y_train), (X_test, y_test) = cifar100.load_data(label_mode="coarse")
    """
    checks.one_of("label_mode", label_mode, ("fine", "coarse"), caller="cifar100.load_data")
    return _keras_loader("cifar100", label_mode=label_mode)


cifar10 = types.SimpleNamespace(load_data=_load_cifar10)
cifar100 = types.SimpleNamespace(load_data=_load_cifar100)


# ---------------------------------------------------------------- TensorFlow 1's MNIST tutorial reader

def _part(images, labels, one_hot, reshape):
    """One part of `read_data_sets`: `.images` float32 in [0, 1], `.labels`, `.num_examples`."""
    shape = (len(images), -1) if reshape else (*images.shape, 1)
    scaled = images.reshape(shape).astype(np.float32) / 255.0
    labels = np.eye(10, dtype=np.float64)[labels] if one_hot else labels
    return types.SimpleNamespace(images=scaled, labels=labels, num_examples=len(scaled))


def _read_data_sets(train_dir=None, one_hot=False, reshape=True, validation_size=5000):
    """TensorFlow 1's `input_data.read_data_sets(train_dir, one_hot=False, reshape=True,
    validation_size=5000)`: MNIST as `.train` (all but the first `validation_size` training
    images), `.validation` (those) and `.test`, each with `.images` (float32 in [0, 1]; flat 784
    pixels, or (28, 28, 1) with reshape=False) and `.labels` (digits, or one-hot rows). The file is
    `mnist.load_data()`'s, in Keras' cache; `train_dir` (TensorFlow 1's own copy) is not used.

        data = input_data.read_data_sets("MNIST_data/")
        images, labels = data.train.images, data.train.labels
    """
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    validation_size = checks.whole_number_in("validation_size", validation_size, 0, len(x_train),
                                             caller="read_data_sets")
    return types.SimpleNamespace(
        train=_part(x_train[validation_size:], y_train[validation_size:], one_hot, reshape),
        validation=_part(x_train[:validation_size], y_train[:validation_size], one_hot, reshape),
        test=_part(x_test, y_test, one_hot, reshape))


input_data = types.SimpleNamespace(read_data_sets=_read_data_sets)
