"""Fetching (cache, mirror, md5, cut-off downloads), reading and writing weight files."""
import hashlib
import socket

import h5py
import keras
import numpy as np
import pytest

from helpers import WeightServer as _Server
from vggcourse import weights
from vggcourse.download import DownloadError
from vggcourse.errors import UserInputError
from vggcourse.model import Vgg16, Vgg16BN, build_vgg16


@pytest.fixture
def server(monkeypatch, tmp_path):
    srv = _Server()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv(weights.MIRROR_ENV, srv.url)
    yield srv
    srv.close()


def _h5_bytes(tmp_path):
    path = tmp_path / "small.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(50000, dtype="float32"))
    return path.read_bytes()


def _expect_md5(monkeypatch, key, md5):
    monkeypatch.setitem(weights.WEIGHT_FILES, key, weights.WEIGHT_FILES[key]._replace(md5=md5))


def _cache_files():
    folder = weights.cache_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_table_has_keras_published_files_and_hashes():
    entry = weights.WEIGHT_FILES["vgg16"]
    assert entry.fname == "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    assert entry.url == "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + entry.fname
    assert entry.md5 == "64373286793e3c8b2b4e3219cbf3544b"
    assert weights.WEIGHT_FILES["vgg16_notop"].md5 == "6d6bbae143d832006294945121d1f1fc"
    assert weights.weights_key(True, False) == "vgg16_bn_notop"


def test_cache_dir_follows_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert weights.cache_dir() == tmp_path / "models"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", "~/kh")
    assert weights.cache_dir() == tmp_path / "kh" / "models"


def test_download_is_verified_cached_and_reused(server, monkeypatch, tmp_path):
    body = _h5_bytes(tmp_path)
    name = weights.WEIGHT_FILES["vgg16_notop"].fname
    server.files[name] = (body, None)
    _expect_md5(monkeypatch, "vgg16_notop", hashlib.md5(body).hexdigest())

    path = weights.fetch_weights("vgg16_notop")
    assert path == weights.cache_dir() / name
    assert path.read_bytes() == body
    assert server.requests == [f"/mirror/{name}"]
    assert weights.fetch_weights("vgg16_notop") == path
    assert len(server.requests) == 1  # the cached, verified file is reused
    assert _cache_files() == [name]  # no temporary file left behind


def test_hash_mismatch_keeps_nothing(server, monkeypatch, tmp_path):
    name = weights.WEIGHT_FILES["vgg16_notop"].fname
    server.files[name] = (_h5_bytes(tmp_path), None)
    _expect_md5(monkeypatch, "vgg16_notop", "0" * 32)
    with pytest.raises(DownloadError, match="failed its hash check.*expected 0{32}"):
        weights.fetch_weights("vgg16_notop")
    assert _cache_files() == []


def test_cut_off_download_keeps_nothing(server, monkeypatch, tmp_path):
    body = _h5_bytes(tmp_path)
    name = weights.WEIGHT_FILES["vgg16_notop"].fname
    server.files[name] = (body[:1000], len(body))  # Content-Length promises more than is sent
    _expect_md5(monkeypatch, "vgg16_notop", hashlib.md5(body).hexdigest())
    with pytest.raises(DownloadError, match=f"cut off after 1000 of {len(body)} bytes"):
        weights.fetch_weights("vgg16_notop")
    assert _cache_files() == []


def test_offline_without_file_says_where_to_put_it(monkeypatch, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv(weights.MIRROR_ENV, f"http://127.0.0.1:{port}/m")
    name = weights.WEIGHT_FILES["vgg16"].fname
    with pytest.raises(FileNotFoundError) as info:
        weights.fetch_weights("vgg16")
    message = str(info.value)
    assert name in message and f"http://127.0.0.1:{port}/m/{name}" in message
    assert str(tmp_path / "keras" / "models") in message
    with pytest.raises(FileNotFoundError, match=name):  # never a silent fallback to random weights
        Vgg16(weights="imagenet")


def test_missing_file_on_server_is_not_found(server):
    with pytest.raises(FileNotFoundError, match="404"):
        weights.fetch_weights("vgg16_bn")


def test_imagenet_notop_end_to_end_through_mirror(server, monkeypatch, tmp_path):
    source = build_vgg16((32, 32), include_top=False)
    weights.save_weights(source, tmp_path / "notop.h5")
    body = (tmp_path / "notop.h5").read_bytes()
    server.files[weights.WEIGHT_FILES["vgg16_notop"].fname] = (body, None)
    _expect_md5(monkeypatch, "vgg16_notop", hashlib.md5(body).hexdigest())

    vgg = Vgg16(weights="imagenet", size=(48, 48), include_top=False)
    for a, b in zip(vgg.model.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert vgg.classes == []


def test_bn_imagenet_file_without_hash_is_checked_structurally(server, tmp_path):
    """vgg16_bn_conv.h5 has no published hash: a file of the wrong structure is refused."""
    wrong = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, name="block1_conv1")])
    weights.save_weights(wrong, tmp_path / "wrong.h5")
    server.files["vgg16_bn_conv.h5"] = ((tmp_path / "wrong.h5").read_bytes(), None)
    with pytest.raises(ValueError, match="no weights for the model's layers"):
        Vgg16BN(weights="imagenet", size=(32, 32), include_top=False)


def test_shape_mismatch_names_layer_and_both_shapes_and_changes_nothing(tmp_path):
    model = build_vgg16((32, 32), include_top=False)
    path = weights.save_weights(model, tmp_path / "w.h5")
    with h5py.File(path, "a") as f:
        del f["block3_conv2"]["kernel"]
        f["block3_conv2"].create_dataset("kernel", data=np.zeros((3, 3, 256, 128), "float32"))
    target = build_vgg16((32, 32), include_top=False)
    before = target.get_weights()
    with pytest.raises(ValueError, match=r"'block3_conv2'.*\(3, 3, 256, 128\).*expects \(3, 3, 256, 256\)"):
        weights.load_weights(target, path)
    for a, b in zip(target.get_weights(), before):  # checked before anything is assigned
        np.testing.assert_array_equal(a, b)


def test_save_weights_any_name_round_trip_and_atomic(tmp_path):
    model = build_vgg16((32, 32), include_top=False)
    path = weights.save_weights(model, tmp_path / "ft1.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ft1.h5"]
    with h5py.File(path, "r") as f:
        assert "block1_conv1" in [n.decode() for n in f.attrs["layer_names"]]
    other = build_vgg16((32, 32), include_top=False)
    weights.load_weights(other, path)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Keras' own legacy loader reads the same layout
    keras_copy = build_vgg16((32, 32), include_top=False)
    keras_copy.load_weights(path)
    np.testing.assert_array_equal(keras_copy.get_weights()[-1], model.get_weights()[-1])


def test_keras3_weights_file_is_accepted(tmp_path):
    model = build_vgg16((32, 32), include_top=False)
    model.save_weights(tmp_path / "m.weights.h5")
    other = build_vgg16((32, 32), include_top=False)
    weights.load_weights(other, tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(other.get_weights()[0], model.get_weights()[0])


def _same(model, values):
    return all(np.array_equal(a, b) for a, b in zip(model.get_weights(), values))


def test_failed_keras3_load_leaves_the_model_unchanged(tmp_path):
    source = build_vgg16((32, 32), include_top=False)
    path = tmp_path / "m.weights.h5"
    source.save_weights(path)
    with h5py.File(path, "a") as f:  # the last conv layer no longer fits: Keras fails half way
        group = f["layers"]["conv2d_12"]["vars"]  # Keras 3 names groups by class: the 13th conv
        del group["0"]
        group.create_dataset("0", data=np.zeros((3, 3, 512, 7), "float32"))
    target = build_vgg16((32, 32), include_top=False)
    before = target.get_weights()
    with pytest.raises(UserInputError, match="m.weights.h5 does not fit the model"):
        weights.load_weights(target, path)
    assert _same(target, before), "a failed load must change nothing"


def test_keras3_file_with_a_course_name_loads(tmp_path):
    source = build_vgg16((32, 32), include_top=False)
    source.save_weights(tmp_path / "m.weights.h5")
    (tmp_path / "m.weights.h5").rename(tmp_path / "ft1.h5")
    target = build_vgg16((32, 32), include_top=False)
    weights.load_weights(target, tmp_path / "ft1.h5")
    assert _same(target, source.get_weights())


def test_load_keras3_file_reads_any_name_through_a_link(tmp_path):
    source = build_vgg16((32, 32), include_top=False)
    source.save_weights(tmp_path / "m.weights.h5")
    (tmp_path / "m.weights.h5").rename(tmp_path / "ft1.h5")
    assert weights.is_keras3_weights_file(tmp_path / "ft1.h5")
    target = build_vgg16((32, 32), include_top=False)
    weights.load_keras3_file(target, tmp_path / "ft1.h5")
    assert _same(target, source.get_weights())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ft1.h5"]  # no copy, no link left beside it


def _dense_chain(top, units=2, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="hidden"),
                             keras.layers.Dense(units, name=top)])


def test_one_layer_matcher_by_name_or_by_order(tmp_path):
    """Keras 1's rule, for every load: a file whose top has another name loads by order when every
    shape fits (lesson 2 saves `dense`, lesson 3 loads into `predictions`); otherwise the missing
    layers are named and nothing changes."""
    source = _dense_chain("dense")
    path = weights.save_weights(source, tmp_path / "ft1.h5")
    renamed = _dense_chain("predictions", seed=1)
    weights.load_weights(renamed, path)
    assert _same(renamed, source.get_weights())
    wider = _dense_chain("predictions", units=5, seed=2)
    before = wider.get_weights()
    with pytest.raises(UserInputError, match=r"has no weights for the model's layers \['predictions'\]"):
        weights.load_weights(wider, path)
    assert _same(wider, before)


def test_a_new_vgg_loads_without_the_undo_copy(tmp_path, monkeypatch):
    """Vgg16(weights=...) loads into a model just built: a failure raises out of the constructor,
    so the copy of every weight that undoes a failed load is skipped (2 s for VGG16 at 224)."""
    source = build_vgg16((32, 32), include_top=True)
    source.save_weights(tmp_path / "m.weights.h5")
    weights.save_weights(source, tmp_path / "course.h5")

    def refuse(*args, **kwargs):
        raise AssertionError("load_weights_atomically was called for a new model")

    monkeypatch.setattr(weights, "load_weights_atomically", refuse)
    for name in ("m.weights.h5", "course.h5"):
        assert _same(Vgg16(weights=tmp_path / name, size=(32, 32)).model, source.get_weights())
    with pytest.raises(AssertionError, match="was called"):  # any other load still can be undone
        weights.load_weights(build_vgg16((32, 32), include_top=True), tmp_path / "course.h5")
    with pytest.raises(UserInputError, match="does not fit the model"):
        Vgg16(weights=tmp_path / "m.weights.h5", size=(64, 64))


def test_load_weights_atomically_restores_weights_and_optimizer_state(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    before = [keras.ops.convert_to_numpy(v) for v in [*model.weights, *model.optimizer.variables]]

    def half_way(path):
        model.layers[0].kernel.assign(np.zeros((3, 2)))
        model.optimizer.variables[-1].assign(np.full(model.optimizer.variables[-1].shape, 7.0))
        raise OSError(f"{path}: read error")

    with pytest.raises(OSError, match="read error"):
        weights.load_weights_atomically(model, tmp_path / "x.h5", half_way)
    after = [keras.ops.convert_to_numpy(v) for v in [*model.weights, *model.optimizer.variables]]
    assert all(np.array_equal(a, b) for a, b in zip(after, before))


def test_a_cut_off_weights_file_is_named(tmp_path):
    model = build_vgg16((32, 32), include_top=False)
    path = weights.save_weights(model, tmp_path / "w.h5")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = model.get_weights()
    with pytest.raises(UserInputError, match="w.h5"):
        weights.load_weights(model, path)
    assert _same(model, before)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.h5"):
        weights.load_weights(build_vgg16((32, 32), include_top=False), tmp_path / "nowhere.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5"):
        weights.load_weights(build_vgg16((32, 32), include_top=False), tmp_path / "text.h5")
    with pytest.raises(ValueError, match="key"):
        weights.fetch_weights("vgg19")


def test_reads_chunked_names_and_keras0_layout(tmp_path):
    chunked = tmp_path / "chunked.h5"
    with h5py.File(chunked, "w") as f:  # Keras splits long attributes into name0, name1, ...
        f.attrs["layer_names0"] = np.array([b"a"])
        f.attrs["layer_names1"] = np.array([b"b"])
        for name in "ab":
            f.create_group(name).attrs["weight_names"] = np.array([f"{name}_W".encode()])
            f[name].create_dataset(f"{name}_W", data=np.ones(2))
    assert [name for name, _ in weights.read_weight_groups(chunked)] == ["a", "b"]

    old = tmp_path / "keras0.h5"
    with h5py.File(old, "w") as f:
        f.attrs["nb_layers"] = 2
        f.create_group("layer_0").attrs["nb_params"] = 0
        group = f.create_group("layer_1")
        group.attrs["nb_params"] = 2
        group.create_dataset("param_0", data=np.zeros((3, 2)))
        group.create_dataset("param_1", data=np.zeros(2))
    assert [(n, [a.shape for a in arrays]) for n, arrays in weights.read_weight_groups(old)] == [("layer_1", [(3, 2), (2,)])]


def _lesson1_chain(names):
    """lesson 1's hand-built `VGG_16()` in small: a first layer without weights, convs, Flatten and
    three Dense layers, named `names` (conv, conv, pool, flatten, dense, dropout, dense, dropout, dense)."""
    kinds = [lambda n: keras.layers.Conv2D(4, 3, padding="same", activation="relu", name=n),
             lambda n: keras.layers.Conv2D(4, 3, padding="same", activation="relu", name=n),
             lambda n: keras.layers.MaxPooling2D(name=n), lambda n: keras.layers.Flatten(name=n),
             lambda n: keras.layers.Dense(16, activation="relu", name=n), lambda n: keras.layers.Dropout(.5, name=n),
             lambda n: keras.layers.Dense(8, activation="relu", name=n), lambda n: keras.layers.Dropout(.5, name=n),
             lambda n: keras.layers.Dense(3, activation="softmax", name=n)]
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Identity(name="pre"),
                             *[make(name) for make, name in zip(kinds, names)]])


def test_names_that_match_by_accident_load_by_order_as_keras1(tmp_path):
    """Keras 3 names lesson 1's Dense layers dense, dense_1, dense_2; the course's vgg16.h5 (Keras 1,
    Theano) names them dense_1..3, so dense_1 and dense_2 are other layers there: by order, as Keras 1."""
    from helpers import write_keras1_theano_file

    keras.utils.set_random_seed(0)
    source = _lesson1_chain(["c1", "c2", "p", "f", "fc1", "d1", "fc2", "d2", "out"])
    path = tmp_path / "vgg16.h5"
    write_keras1_theano_file(source, path)
    keras.utils.set_random_seed(1)
    hand_built = _lesson1_chain(["conv2d", "conv2d_1", "max_pooling2d", "flatten", "dense", "dropout",
                                 "dense_1", "dropout_1", "dense_2"])
    weights.load_weights(hand_built, path)
    assert _same(hand_built, source.get_weights())
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(hand_built.predict(x, verbose=0), source.predict(x, verbose=0), rtol=1e-5)
