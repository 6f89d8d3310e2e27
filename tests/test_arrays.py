"""save_array / load_array round trips, onehot, MixIterator."""
import os

import numpy as np
import pytest

from vggcourse.arrays import MixIterator, load_array, onehot, save_array
from vggcourse.errors import UserInputError


def test_float_array_round_trip_larger_than_one_chunk(tmp_path):
    arr = np.random.default_rng(0).standard_normal((257, 7, 5)).astype(np.float32)
    path = tmp_path / "feat.dat"
    save_array(path, arr, chunk_bytes=1000)  # 140 bytes a row: 7 rows a chunk, 37 chunks
    loaded = load_array(path)
    assert loaded.dtype == np.float32 and np.array_equal(loaded, arr)
    mapped = load_array(path, mmap=True)
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped[100:110], arr[100:110])
    assert [p.name for p in tmp_path.iterdir()] == ["feat.dat"]  # no temp file left


def test_save_and_mmap_load_do_not_copy_the_array(tmp_path):
    import tracemalloc

    arr = np.ones((512, 16384), dtype=np.float32)  # 32 MiB
    tracemalloc.start()
    try:
        save_array(tmp_path / "big.dat", arr, chunk_bytes=2**20)
        mapped = load_array(tmp_path / "big.dat", mmap=True)
        assert mapped[511, 16383] == 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB while saving a 32 MiB array"


def test_memmapped_source_is_copied_in_chunks(tmp_path):
    src = np.lib.format.open_memmap(tmp_path / "src.npy", mode="w+", dtype=np.float64, shape=(50, 3))
    src[:] = np.arange(150).reshape(50, 3)
    save_array(tmp_path / "dst", src, chunk_bytes=24)
    assert np.array_equal(load_array(tmp_path / "dst"), np.arange(150).reshape(50, 3))


def test_h5py_dataset_source(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["x"] = np.arange(60, dtype=np.int32).reshape(20, 3)
        save_array(tmp_path / "x.npy", f["x"], chunk_bytes=30)
    assert np.array_equal(load_array(tmp_path / "x.npy"), np.arange(60).reshape(20, 3))


@pytest.mark.parametrize("names", [
    ["cats/cat.1.jpg", "dogs/dog.2.jpg", "unknown/été.jpg"],
    np.array(["a", "bb", "ccc"], dtype=object),
    np.array(["x.jpg", "y.jpg"]),
])
def test_string_arrays_round_trip(tmp_path, names):
    save_array(tmp_path / "names.dat", names)
    loaded = load_array(tmp_path / "names.dat")
    assert loaded.dtype.kind == "U" and list(loaded) == list(names)


def test_scalar_and_empty_arrays(tmp_path):
    save_array(tmp_path / "s", np.float32(3.5))
    save_array(tmp_path / "e", np.zeros((0, 4), dtype=np.int16))
    assert load_array(tmp_path / "s") == 3.5
    assert load_array(tmp_path / "e").shape == (0, 4)


def test_overwrite_is_atomic_and_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "a.dat"
    save_array(path, np.arange(3))
    with pytest.raises(TypeError, match="object array"):
        save_array(path, np.array([1, "a", None], dtype=object))
    assert np.array_equal(load_array(path), np.arange(3))
    assert os.listdir(tmp_path) == ["a.dat"]


def test_missing_file_and_directory_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.dat"):
        load_array(tmp_path / "nothere.dat")
    (tmp_path / "old_bcolz").mkdir()
    with pytest.raises(ValueError, match="bcolz"):
        load_array(tmp_path / "old_bcolz")


@pytest.mark.parametrize("damage", ["empty", "cut", "text"])
def test_a_damaged_array_file_is_named(tmp_path, damage):
    path = tmp_path / "feat.npy"
    save_array(path, np.arange(1000, dtype=np.float32))
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "cut": data[:200], "text": b"not an array"}[damage])
    with pytest.raises(UserInputError, match="feat.npy.*not a complete array file"):
        load_array(path)


def test_onehot():
    out = onehot(np.array([0, 2, 1]))
    assert out.dtype == np.float32
    assert np.array_equal(out, np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert onehot(np.array([0, 0]), num_classes=2).shape == (2, 2)
    with pytest.raises(ValueError, match="integer labels"):
        onehot(np.array([0.5, 1.0]))
    # what Keras 1's to_categorical took, so that it can call this one encoder
    assert np.array_equal(onehot(np.array([[1.0], [0.0]]), 3), [[0, 1, 0], [1, 0, 0]])
    with pytest.raises(UserInputError, match=r"lie in \[0, 2\)"):
        onehot([0, 2], num_classes=2)


class _Batches:
    """A tiny indexable batch source, like a DirectoryIterator."""

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size, self.n = x, y, batch_size, len(x)
        self._next = 0

    def __len__(self):
        return -(-self.n // self.batch_size)

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]

    def __next__(self):
        batch = self[self._next % len(self)]
        self._next += 1
        return batch


def test_mix_iterator_concatenates_batches():
    a = _Batches(np.zeros((6, 2), np.float32), np.zeros((6, 1), np.float32), 3)
    b = _Batches(np.ones((2, 2), np.float32), np.ones((2, 1), np.float32), 1)
    mix = MixIterator([a, b])
    assert mix.N == mix.n == 8 and len(mix) == 2  # longest: a has 2 batches, b wraps
    x, y = next(mix)
    assert x.shape == (4, 2) and y[:, 0].tolist() == [0, 0, 0, 1]
    x, y = mix[1]
    assert x.shape == (4, 2)
    assert iter(mix) is mix


def test_mix_iterator_trains_a_keras_model():
    import keras

    rng = np.random.default_rng(0)
    a = _Batches(rng.random((8, 3)).astype("float32"), rng.random((8, 1)).astype("float32"), 4)
    b = _Batches(rng.random((4, 3)).astype("float32"), rng.random((4, 1)).astype("float32"), 2)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(MixIterator([a, b]), epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1


def test_host_array_reads_variables_and_tensors_on_every_backend():
    import keras

    from vggcourse.arrays import host_array

    values = np.arange(12, dtype="float32").reshape(3, 4)
    for value in (keras.Variable(values, trainable=True), keras.Variable(values, trainable=False),
                  keras.ops.convert_to_tensor(values), values):
        out = host_array(value)
        assert isinstance(out, np.ndarray) and out.dtype == np.float32
        np.testing.assert_array_equal(out, values)


def _write_bcolz(path, arr, chunklen=None):
    """A bcolz folder as the course's save_array made one (`bcolz.carray(arr, rootdir=..., mode='w')`)."""
    import bcolz

    bcolz.carray(arr, rootdir=os.fspath(path), mode="w", chunklen=chunklen).flush()


@pytest.mark.backend_free
@pytest.mark.parametrize("arr", [
    np.random.default_rng(0).standard_normal((1000, 50)).astype(np.float32),  # GloVe's 6B.50d.dat
    np.random.default_rng(1).standard_normal((37, 3, 3, 512)).astype(np.float32),  # conv features
    np.array(["cats/cat.1.jpg", "dogs/dog.2.jpg", "unknown/été.jpg"]),
    np.array([b"cat.1.jpg", b"dog.22.jpg"]),  # Python 2's file names
], ids=["float32-2d", "float32-4d", "str", "bytes"])
def test_a_bcolz_folder_from_the_course_reads_back(tmp_path, arr):
    _write_bcolz(tmp_path / "feat.dat", arr, chunklen=8)  # several chunks and a part-filled last one
    loaded = load_array(tmp_path / "feat.dat")
    assert type(loaded) is np.ndarray and loaded.dtype == arr.dtype and loaded.shape == arr.shape
    assert np.array_equal(loaded, arr)


@pytest.mark.backend_free
def test_the_same_name_loads_an_old_bcolz_folder_then_a_new_npy_file(tmp_path, monkeypatch):
    import shutil

    monkeypatch.chdir(tmp_path)
    old, new = np.arange(12, dtype=np.float32).reshape(3, 4), np.ones((2, 2), dtype=np.int16)
    (tmp_path / "results").mkdir()
    _write_bcolz("results/conv_feat.dat", old)
    assert np.array_equal(load_array("results/conv_feat.dat"), old)
    shutil.rmtree("results/conv_feat.dat")
    save_array("results/conv_feat.dat", new)
    loaded = load_array("results/conv_feat.dat")
    assert loaded.dtype == np.int16 and np.array_equal(loaded, new)


@pytest.mark.backend_free
def test_a_folder_that_is_not_a_bcolz_array_is_named(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"")
    with pytest.raises(UserInputError, match=r"photos'? is a directory but not a bcolz array .*meta/"):
        load_array(tmp_path / "photos")


@pytest.mark.backend_free
@pytest.mark.parametrize("mmap", [True, "r", "c"])
def test_a_bcolz_folder_is_not_memory_mapped_but_converts(tmp_path, mmap):
    arr = np.arange(40, dtype=np.float32).reshape(10, 4)
    _write_bcolz(tmp_path / "feat.dat", arr)
    with pytest.raises(UserInputError, match=r"cannot be memory-mapped \(received mmap=.*save_array\(new_name"):
        load_array(tmp_path / "feat.dat", mmap=mmap)
    save_array(tmp_path / "feat.npy", load_array(tmp_path / "feat.dat"))  # what the message says
    mapped = load_array(tmp_path / "feat.npy", mmap=True)
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped, arr)


@pytest.mark.backend_free
def test_a_bcolz_folder_without_the_reader_names_the_package(tmp_path, monkeypatch):
    import sys

    _write_bcolz(tmp_path / "feat.dat", np.zeros(3))
    monkeypatch.setitem(sys.modules, "bcolz", None)  # `import bcolz` raises ImportError
    with pytest.raises(ImportError, match="feat.dat.*pip install bcolz-zipline"):
        load_array(tmp_path / "feat.dat")


@pytest.mark.backend_free
def test_a_damaged_or_pickled_bcolz_folder_is_refused(tmp_path):
    _write_bcolz(tmp_path / "cut.dat", np.arange(100.0), chunklen=10)
    (tmp_path / "cut.dat" / "data" / "__3.blp").unlink()
    with pytest.raises(UserInputError, match=r"cut.dat'? is not a complete bcolz array folder"):
        load_array(tmp_path / "cut.dat")
    _write_bcolz(tmp_path / "objects.dat", np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(UserInputError, match="dtype object.*does not unpickle"):
        load_array(tmp_path / "objects.dat")
