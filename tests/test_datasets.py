"""Keras 1's datasets: fetching (cache, mirror, hash, offline), the loaders' arrays and arguments,
and TensorFlow 1's MNIST reader (the offline stand-in, `sample.mnist_standin`, is in test_sample.py)."""
import functools
import hashlib
import http.server
import importlib
import io
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from vggcourse import datasets, keras1
from vggcourse.errors import UserInputError
from vggcourse.port import port_source
from vggcourse.download import DownloadError


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        self.server.requests.append(self.path)


@pytest.fixture
def mirror(monkeypatch, tmp_path):
    """A folder served on 127.0.0.1 as `$VGGCOURSE_DATASETS_URL`; `.requests` lists what was asked."""
    folder = tmp_path / "served"
    folder.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    httpd.requests = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv(datasets.MIRROR_ENV, f"http://127.0.0.1:{httpd.server_address[1]}/")
    httpd.folder, httpd.open = folder, True
    yield httpd
    _close(httpd)


def _close(httpd):
    if httpd.open:
        httpd.shutdown()
        httpd.server_close()
        httpd.open = False


def _serve_mnist(mirror, monkeypatch, n=12):
    """A small file in mnist.npz's layout on the mirror, with the table's hash set to its own."""
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, n, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, 3, dtype=np.uint8)}
    path = mirror.folder / "mnist.npz"
    np.savez(path, **arrays)
    entry = datasets.DATASET_FILES["mnist"]
    monkeypatch.setitem(datasets.DATASET_FILES, "mnist",
                        entry._replace(hash=hashlib.sha256(path.read_bytes()).hexdigest()))
    return arrays


def test_table_has_keras_published_files_and_hashes(monkeypatch, tmp_path):
    entry = datasets.DATASET_FILES["mnist"]
    assert entry.url == "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
    assert entry.hash == "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
    monkeypatch.delenv(datasets.MIRROR_ENV, raising=False)
    assert datasets.dataset_url("imdb") == datasets.DATASET_FILES["imdb"].url
    monkeypatch.setenv(datasets.MIRROR_ENV, "http://example.test/m/")
    assert datasets.dataset_url("imdb") == "http://example.test/m/imdb.npz"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert datasets.cache_dir() == tmp_path / "datasets"  # Keras' own dataset cache


def test_mnist_downloads_from_the_mirror_is_verified_cached_and_reused(mirror, monkeypatch):
    arrays = _serve_mnist(mirror, monkeypatch)
    (x_train, y_train), (x_test, y_test) = keras1.mnist.load_data()
    assert np.array_equal(x_train, arrays["x_train"]) and np.array_equal(y_test, arrays["y_test"])
    assert x_train.dtype == np.uint8 and x_train.shape == (12, 28, 28) and y_train.shape == (12,)
    assert mirror.requests == ["/mnist.npz"]
    assert datasets.fetch_dataset("mnist") == datasets.cache_dir() / "mnist.npz"
    assert len(mirror.requests) == 1  # the cached, verified file is reused
    assert sorted(p.name for p in datasets.cache_dir().iterdir()) == ["mnist.npz"]  # no temporary file


def test_bad_hash_is_refused_and_nothing_kept(mirror, monkeypatch):
    _serve_mnist(mirror, monkeypatch)
    entry = datasets.DATASET_FILES["mnist"]
    monkeypatch.setitem(datasets.DATASET_FILES, "mnist", entry._replace(hash="0" * 64))
    with pytest.raises(DownloadError, match=r"mnist\.npz failed its hash check \(expected 0{64}\)"):
        datasets.mnist.load_data()
    assert list(datasets.cache_dir().iterdir()) == []


def test_a_cached_file_that_fails_its_hash_is_downloaded_again(mirror, monkeypatch, capsys):
    arrays = _serve_mnist(mirror, monkeypatch)
    datasets.cache_dir().mkdir(parents=True)
    (datasets.cache_dir() / "mnist.npz").write_bytes(b"half a file")
    (x_train, _), _ = datasets.mnist.load_data()
    assert np.array_equal(x_train, arrays["x_train"]) and mirror.requests == ["/mnist.npz"]
    assert "does not match its published hash" in capsys.readouterr().err


def test_offline_without_the_file_says_where_to_put_it(mirror, tmp_path):
    _close(mirror)  # nothing listens on the mirror's port now
    url = f"http://127.0.0.1:{mirror.server_address[1]}/mnist.npz"
    with pytest.raises(FileNotFoundError) as info:
        datasets.mnist.load_data()
    message = str(info.value)
    assert "\n" not in message and message.startswith("The dataset file mnist.npz is not in ")
    assert url in message and "Connection refused" in message
    assert f"put it at {tmp_path / 'keras' / 'datasets' / 'mnist.npz'}" in message


def test_unknown_key_is_named():
    with pytest.raises(UserInputError, match=r"^fetch_dataset: `key` must be one of .*Received: key='svhn'"):
        datasets.fetch_dataset("svhn")


def test_read_data_sets_is_tensorflow_1s_mnist_reader(mirror, monkeypatch):
    arrays = _serve_mnist(mirror, monkeypatch)
    data = datasets.input_data.read_data_sets("MNIST_data/", validation_size=2)
    assert data.train.images.shape == (10, 784) and data.train.images.dtype == np.float32
    np.testing.assert_allclose(data.train.images[0], arrays["x_train"][2].ravel() / 255.0)
    assert np.array_equal(data.validation.labels, arrays["y_train"][:2]) and data.test.num_examples == 3
    one_hot = datasets.input_data.read_data_sets("MNIST_data/", one_hot=True, reshape=False, validation_size=0)
    assert one_hot.train.images.shape == (12, 28, 28, 1)
    assert np.array_equal(one_hot.train.labels.argmax(1), arrays["y_train"])
    with pytest.raises(UserInputError, match=r"`validation_size` must be .*Received: validation_size=13"):
        datasets.input_data.read_data_sets("MNIST_data/", validation_size=13)


@pytest.mark.parametrize("name, keras1_kwargs, keras3_kwargs", [
    ("imdb", dict(nb_words=5000), dict(num_words=5000, skip_top=0, maxlen=None, seed=113, start_char=1,
                                       oov_char=2, index_from=3)),
    ("reuters", dict(nb_words=1000, test_split=0.1, maxlen=50),
     dict(num_words=1000, skip_top=0, maxlen=50, test_split=0.1, seed=113, start_char=1, oov_char=2,
          index_from=3)),
    ("imdb", dict(num_words=7), dict(num_words=7, skip_top=0, maxlen=None, seed=113, start_char=1,
                                     oov_char=2, index_from=3)),
])
def test_keras1_arguments_reach_keras3s_loader_after_the_fetch(monkeypatch, name, keras1_kwargs, keras3_kwargs):
    import keras

    calls = []
    monkeypatch.setattr(datasets, "fetch_dataset", lambda key: calls.append(("fetch", key)))
    monkeypatch.setattr(getattr(keras.datasets, name), "load_data",
                        lambda **kwargs: calls.append(("load", kwargs)) or "arrays")
    assert getattr(keras1, name).load_data(**keras1_kwargs) == "arrays"
    assert calls == [("fetch", name), ("load", keras3_kwargs)]


@pytest.mark.parametrize("name", ["imdb", "reuters"])
def test_get_word_index_is_checked_by_keras_published_md5(mirror, monkeypatch, name):
    body = b'{"the": 1, "and": 2}'
    (mirror.folder / f"{name}_word_index.json").write_bytes(body)
    key = f"{name}_word_index"
    assert len(datasets.DATASET_FILES[key].hash) == 32  # Keras publishes an md5 for these
    monkeypatch.setitem(datasets.DATASET_FILES, key,
                        datasets.DATASET_FILES[key]._replace(hash=hashlib.md5(body).hexdigest()))
    assert getattr(keras1, name).get_word_index() == {"the": 1, "and": 2}
    monkeypatch.setitem(datasets.DATASET_FILES, key, datasets.DATASET_FILES[key]._replace(hash="f" * 32))
    with pytest.raises(DownloadError, match="failed its hash check"):
        getattr(keras1, name).get_word_index()


def test_nb_words_and_num_words_disagreeing_or_bad_are_named():
    with pytest.raises(UserInputError, match=r"^imdb.load_data: .*Received: nb_words=10, num_words=20$"):
        datasets.imdb.load_data(nb_words=10, num_words=20)
    with pytest.raises(UserInputError, match=r"`nb_words` must be .*Received: nb_words=2\.5"):
        datasets.reuters.load_data(nb_words=2.5)


def test_port_rewrites_the_notebooks_dataset_imports():
    assert port_source("from keras.datasets import mnist")[0] == "from vggcourse.keras1 import mnist"
    assert (port_source("from tensorflow.examples.tutorials.mnist import input_data")[0]
            == "from vggcourse.datasets import input_data")



def _tar_gz(members):
    """A .tar.gz archive's bytes holding `members` ({name: bytes})."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


class _Asked(Exception):
    pass


@pytest.mark.parametrize("key", ["cifar10", "cifar100"])
def test_keras_loader_finds_the_fetched_archive_without_a_download(mirror, monkeypatch, key):
    """Pins Keras' cache naming that DATASET_FILES relies on: its loader asks `get_file` for a folder
    name, and `get_file` keeps the archive as "<name>_archive" and uses it when its hash matches."""
    import keras
    from keras.src.utils import file_utils

    asked = {}

    def record(**kwargs):
        asked.update(kwargs)
        raise _Asked

    entry = datasets.DATASET_FILES[key]
    with monkeypatch.context() as patch:
        patch.setattr(importlib.import_module(f"keras.src.datasets.{key}"), "get_file", record)
        with pytest.raises(_Asked):
            getattr(keras.datasets, key).load_data()
    assert asked["origin"] == entry.url and asked["file_hash"] == entry.hash and asked["extract"]
    assert entry.fname == asked["fname"] + "_archive"

    body = _tar_gz({"inside/a.txt": b"a"})
    (mirror.folder / entry.url.rsplit("/", 1)[-1]).write_bytes(body)  # the mirror serves Keras' URL's name
    monkeypatch.setitem(datasets.DATASET_FILES, key, entry._replace(hash=hashlib.sha256(body).hexdigest()))
    assert datasets.fetch_dataset(key) == datasets.cache_dir() / entry.fname
    out = file_utils.get_file(fname=asked["fname"], origin=f"{datasets.dataset_url(key)}.nowhere", extract=True,
                              file_hash=hashlib.sha256(body).hexdigest(), cache_dir=str(datasets.cache_dir().parent))
    assert (Path(out) / "inside" / "a.txt").read_bytes() == b"a"
    assert mirror.requests == [f"/{entry.url.rsplit('/', 1)[-1]}"]  # Keras downloaded nothing


def test_cifar_loaders_fetch_then_call_keras(monkeypatch):
    import keras

    calls = []
    monkeypatch.setattr(datasets, "fetch_dataset", lambda key: calls.append(("fetch", key)))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: calls.append(("cifar10",)) or "c10")
    monkeypatch.setattr(keras.datasets.cifar100, "load_data",
                        lambda label_mode: calls.append(("cifar100", label_mode)) or "c100")
    assert keras1.cifar10.load_data() == "c10"
    assert keras1.cifar100.load_data(label_mode="coarse") == "c100"
    assert calls == [("fetch", "cifar10"), ("cifar10",), ("fetch", "cifar100"), ("cifar100", "coarse")]
    with pytest.raises(UserInputError, match=r"`label_mode` must be one of 'fine', 'coarse'.*Received: label_mode='x'"):
        keras1.cifar100.load_data(label_mode="x")
