"""Arrays on disk and in batches: `save_array` / `load_array`, `onehot`, `MixIterator`.

An array is one `.npy` file (NumPy's own format: a small header, then the raw data), whatever name
it is given:

    save_array("results/conv_feat.dat", conv_feat)     # written in chunks, atomically
    conv_feat = load_array("results/conv_feat.dat", mmap=True)   # opened without reading

`save_array` writes through a memory map in chunks of about `chunk_bytes`, so an array that is itself
memory-mapped (or an `h5py` dataset) of several GB is never held in memory twice. `load_array` reads
the file once into memory, or with `mmap=True` maps it read-only: nothing is read until the values
are used, which is what a feature array larger than memory needs. String arrays (file names) are
stored as fixed-width unicode, never pickled.

The course saved arrays as bcolz folders (`meta/` and `data/` inside, the data in compressed chunks;
its GloVe downloads such as `6B.50d.dat` are in that format too). `load_array` reads those through
bcolz-zipline, the maintained fork of bcolz, under the same names; `save_array` writes `.npy` only.
"""
import os

import numpy as np
from keras.utils import PyDataset

from vggcourse import checks
from vggcourse._atomic import write_atomically
from vggcourse.errors import InputFileNotFoundError, UserInputError, UserTypeError

__all__ = ["save_array", "load_array", "onehot", "MixIterator", "host_array"]

DEFAULT_CHUNK_BYTES = 64 * 2**20


def host_array(value):
    """A tensor's or variable's values as a NumPy array, to read (hash, write to a file), not to keep.

    No copy where the backend allows it (JAX, PyTorch on CPU), one on TensorFlow;
    `keras.ops.convert_to_numpy` makes two there, which for VGG16's 537 MB of weights costs about
    a second. The result may share memory with `value`: copy it to keep a snapshot.

        digest = hashlib.sha256(host_array(layer.kernel)).hexdigest()
    """
    try:
        return np.asarray(value)
    except (TypeError, RuntimeError, ValueError):  # e.g. a GPU tensor that needs an explicit copy
        import keras

        return np.asarray(keras.ops.convert_to_numpy(value))


def _as_storable(arr):
    """`arr` itself when it has a plain dtype (so memmaps and h5py datasets are not read here);
    otherwise a NumPy array, with object arrays of str / bytes turned into fixed-width arrays."""
    if hasattr(arr, "dtype") and hasattr(arr, "shape") and arr.dtype != object:
        return arr
    arr = np.asarray(arr)
    if arr.dtype == object:
        kinds = {type(v) for v in arr.flat}
        if kinds <= {str}:
            return arr.astype(str)
        if kinds <= {bytes}:
            return arr.astype(bytes)
        raise UserTypeError(
            "save_array stores numeric and string arrays; received an object array holding "
            f"{sorted(k.__name__ for k in kinds)}. Convert it to a numeric or str dtype first."
        )
    return arr


def save_array(fname, arr, chunk_bytes=DEFAULT_CHUNK_BYTES):
    """Write `arr` to the single file `fname` (`.npy` format, any file name), atomically.

    `arr` may be a NumPy array, a memory-mapped array, an `h5py` dataset or a list (of strings, say).
    Rows are copied `chunk_bytes` at a time into a temporary file in the same folder, which then
    replaces `fname`, so a crash never leaves a half-written array under the final name.
    """
    fname = os.fspath(fname)
    if os.path.isdir(fname):
        raise UserInputError(
            f"save_array: `fname` is a directory ({fname!r}), perhaps an old bcolz array. "
            "Give a file name; remove or rename the directory first."
        )
    checks.whole_number("chunk_bytes", chunk_bytes, least=1, caller="save_array")
    arr = _as_storable(arr)
    folder = os.path.dirname(os.path.abspath(fname))
    os.makedirs(folder, exist_ok=True)

    def write(tmp):
        if arr.ndim == 0 or arr.size == 0:
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(arr), allow_pickle=False)
        else:
            _write_chunked(tmp, arr, chunk_bytes)

    write_atomically(fname, write)


def _write_chunked(path, arr, chunk_bytes):
    out = np.lib.format.open_memmap(path, mode="w+", dtype=arr.dtype, shape=arr.shape)
    row_bytes = max(1, arr.dtype.itemsize * int(np.prod(arr.shape[1:], dtype=np.int64)))
    rows = max(1, chunk_bytes // row_bytes)
    for start in range(0, arr.shape[0], rows):
        out[start:start + rows] = arr[start:start + rows]
    out.flush()
    del out


def load_array(fname, mmap=False):
    """Read an array written by `save_array`, or a bcolz folder saved by the 2016 course.

    mmap: False reads the whole file into memory once. True opens it read-only as a
    `numpy.memmap`: nothing is read until values are used, so arrays larger than memory work
    (slice them, or pass them to `model.fit` in batches). `'r+'` / `'c'` are NumPy's other modes.
    A bcolz folder is compressed in chunks, so it cannot be mapped: with `mmap` set it is refused
    rather than read whole (it may not fit in memory); convert it once to a `.npy` file that can be:

        save_array("results/conv_feat.npy", load_array("results/conv_feat.dat"))
    """
    fname = os.fspath(fname)
    if os.path.isdir(fname):
        return _load_bcolz(fname, mmap)
    if not os.path.exists(fname):
        raise InputFileNotFoundError(f"load_array: no array file at {fname!r}; write it with save_array(fname, arr).")
    mode = "r" if mmap is True else (mmap or None)
    try:
        return np.load(fname, mmap_mode=mode, allow_pickle=False)
    except (EOFError, ValueError, OSError) as error:  # empty, cut off, or not a .npy file
        raise UserInputError(f"load_array: {fname!r} is not a complete array file written by save_array "
                             f"({type(error).__name__}: {error}); write it again") from error


def _load_bcolz(fname, mmap):
    """The folder `fname`, a bcolz carray (`meta/sizes`, `meta/storage` JSON; `data/__N.blp` Blosc
    chunks), read whole through bcolz-zipline."""
    if not (os.path.isdir(os.path.join(fname, "meta")) and os.path.isdir(os.path.join(fname, "data"))):
        raise UserInputError(
            f"load_array: {fname!r} is a directory but not a bcolz array (one holds `meta/` and "
            "`data/` folders). Give an array file written by save_array, or a bcolz array folder."
        )
    if mmap:
        raise UserInputError(
            f"load_array: {fname!r} is a bcolz array folder, compressed in chunks, so it cannot be "
            f"memory-mapped (received mmap={mmap!r}). Convert it once with "
            "save_array(new_name, load_array(old_name)), then load_array(new_name, mmap=True)."
        )
    try:
        import bcolz
    except ImportError as error:
        raise ImportError(
            f"load_array: {fname!r} is a bcolz array folder; reading it needs bcolz-zipline, the "
            'maintained fork of bcolz: pip install bcolz-zipline (or pip install "vggcourse[course]")'
        ) from error
    try:
        carray = bcolz.carray(rootdir=fname, mode="r")
        arr = None if carray.dtype == object else carray[:]  # objects are pickled: not read
    except (OSError, ValueError, RuntimeError) as error:  # meta missing or garbled, a chunk lost or cut
        raise UserInputError(f"load_array: {fname!r} is not a complete bcolz array folder "
                             f"({type(error).__name__}: {error})") from error
    if arr is None:
        raise UserInputError(
            f"load_array: the bcolz array {fname!r} holds Python objects (dtype object), which bcolz "
            "stores pickled; load_array does not unpickle. If you trust the file, read it with "
            "bcolz.open(fname)[:] and save it again with save_array."
        )
    return arr


def onehot(x, num_classes=None):
    """One-hot float32 rows for integer labels `x` (`num_classes` defaults to max(x) + 1).

    The package's one one-hot encoder (batches, the feature cache, `utils` and Keras 1's
    `to_categorical` call it). Like `to_categorical`, it takes a column `(n, 1)` and whole numbers
    stored as floats (`3.0`):

        onehot([0, 2, 1], 3)   # [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    """
    x = np.asarray(x)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.size and np.issubdtype(x.dtype, np.floating) and np.all(np.isfinite(x)) and np.all(x == np.round(x)):
        x = x.astype(np.int64)
    if x.ndim != 1 or (x.size and not np.issubdtype(x.dtype, np.integer)):
        raise UserInputError("onehot: `x` must be a 1-D array of integer labels. "
                             f"Received dtype {x.dtype}, shape {x.shape}")
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    num_classes = checks.whole_number("num_classes", num_classes, least=0, caller="onehot")
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise UserInputError(f"onehot: labels must lie in [0, {num_classes}). Received min {x.min()}, max {x.max()}")
    out = np.zeros((x.size, num_classes), dtype=np.float32)
    out[np.arange(x.size), x] = 1.0
    return out


def _concat_batches(batches):
    """Concatenate batches that are arrays or tuples of arrays (x, y[, sample_weight])."""
    first = batches[0]
    if isinstance(first, (tuple, list)):
        if any(len(b) != len(first) for b in batches):
            raise UserInputError("MixIterator: the iterators yield batches of different structure "
                             "(some with labels, some without).")
        return tuple(np.concatenate([np.asarray(b[i]) for b in batches]) for i in range(len(first)))
    return np.concatenate([np.asarray(b) for b in batches])


class MixIterator(PyDataset):
    """Batches made by concatenating one batch from each of several iterators.

    The course mixes training batches with pseudo-labelled test batches this way. Use it as a Python
    iterator (`next(mix)` takes `next()` of each iterator) or, when the iterators can be indexed
    (`DirectoryIterator`, `ArrayIterator`, any `PyDataset`), pass it to `model.fit` directly:
    `len(mix)` is the longest iterator's length and shorter ones wrap around.
    """

    def __init__(self, iters, **kwargs):
        super().__init__(**kwargs)
        self.iters = list(iters)
        if not self.iters:
            raise UserInputError("MixIterator: `iters` must hold at least one iterator. Received none.")
        self.N = self.n = self.samples = sum(int(getattr(it, "n", 0) or 0) for it in self.iters)

    def __len__(self):
        try:
            return max(len(it) for it in self.iters)
        except TypeError:
            raise UserTypeError("MixIterator: len() needs iterators with a length (PyDataset, "
                            "DirectoryIterator); plain generators only support next().") from None

    def __getitem__(self, index):
        if index < 0 or index >= len(self):
            raise IndexError(f"MixIterator: batch index {index} out of range [0, {len(self)})")
        return _concat_batches([it[index % len(it)] for it in self.iters])

    def __iter__(self):
        return self

    def __next__(self):
        return _concat_batches([next(it) for it in self.iters])

    next = __next__  # the course's Python 2 spelling

    def on_epoch_end(self):
        for it in self.iters:
            if hasattr(it, "on_epoch_end"):
                it.on_epoch_end()
