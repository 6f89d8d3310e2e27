"""`vggcourse.Resnet50` (the course's `resnet50.py`): Keras' ResNet50 as a chain of blocks, its
published weights, and `Vgg16`'s helpers through the shared base `CourseModel`.

ResNet50 at 32x32 with random weights, the shared sample's few images per class (conftest).
"""
import hashlib

import keras
import numpy as np
import pytest

import vggcourse
from helpers import WeightServer
from vggcourse import features, weights
from vggcourse.download import DownloadError
from vggcourse.errors import InputFileNotFoundError, UserInputError
from vggcourse.model import CourseModel, Resnet50, Vgg16, build_resnet50
from vggcourse.port import port_source
from vggcourse.preprocessing import VggPreprocess, imagenet_class_names
from vggcourse.resnet_architecture import resnet50_block_names
from vggcourse.split import split

SIZE = (32, 32)

pytestmark = pytest.mark.usefixtures("private_cache")  # an empty feature cache for every test


def _leaves(model):
    return {layer.name: [tuple(w.shape) for w in layer.weights] for layer in weights.weighted_layers(model)}


@pytest.fixture(scope="module")
def keras_resnet():
    """keras.applications.ResNet50 at 32x32, random weights (seeded)."""
    keras.utils.set_random_seed(1)
    return keras.applications.ResNet50(weights=None, input_shape=(*SIZE, 3))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 255, (3, *SIZE, 3)).astype("float32")


# -- the architecture ---------------------------------------------------------------------------

def test_a_chain_of_keras_resnet50_blocks(keras_resnet):
    model = build_resnet50(SIZE)
    names = [layer.name for layer in model.layers]
    assert names == ["preprocess", *resnet50_block_names(), "avg_pool", "predictions"]
    assert len(resnet50_block_names()) == 1 + 3 + 4 + 6 + 3
    assert isinstance(model.layers[0], VggPreprocess) and isinstance(model, keras.Sequential)
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    assert _leaves(model) == _leaves(keras_resnet)  # every layer of Keras' ResNet50, by name and shape
    assert model.count_params() == keras_resnet.count_params()


def test_same_probabilities_as_keras_resnet50_with_its_preprocessing(keras_resnet, images, tmp_path):
    """Keras' weights, saved in the layout of its published file, load by name into the blocks;
    `preprocess` is `keras.applications.resnet50.preprocess_input` (Caffe: BGR, mean subtracted)."""
    path = weights.save_weights(keras_resnet, tmp_path / "resnet50_keras.h5")
    resnet = Resnet50(size=SIZE, weights=path)
    expected = keras_resnet.predict(keras.applications.resnet50.preprocess_input(images.copy()), verbose=0)
    np.testing.assert_allclose(resnet.model.predict(images, verbose=0), expected, rtol=1e-4, atol=1e-6)


def test_include_top_false_stops_after_the_last_block():
    resnet = Resnet50((64, 64), False, None)  # the course's order: size, include_top
    assert resnet.model.layers[-1].name == "conv5_block3"
    assert resnet.model.output_shape == (None, 2, 2, 2048) and resnet.classes == []
    with pytest.raises(UserInputError, match="include_top=True"):
        resnet.ft(2)
    top = Resnet50(size=SIZE, weights=None)
    assert top.model.output_shape == (None, 1000) and top.classes == imagenet_class_names()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"size": (16, 32)}, UserInputError, r"`size`.*Received"),
    ({"size": 32}, UserInputError, r"`size`.*32"),
    ({"weights": 3}, UserInputError, r"`weights` must be 'imagenet', None or the path.*Received: weights=3"),
    ({"weights": "missing.h5"}, InputFileNotFoundError, r"`weights`.*no file at 'missing.h5'"),
])
def test_bad_input_names_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        Resnet50(**{"size": SIZE, "weights": None, **kwargs})


def test_exported_and_ported():
    assert vggcourse.Resnet50 is Resnet50 and "Resnet50" in dir(vggcourse)
    assert issubclass(Resnet50, CourseModel) and issubclass(Vgg16, CourseModel)
    assert port_source("from resnet50 import Resnet50\n")[0] == "from vggcourse import Resnet50\n"


# -- published weights: the table, the mirror, the hash --------------------------------------------

def test_table_has_keras_published_files_and_hashes():
    from keras.src.applications import resnet

    for key, top in (("resnet50", True), ("resnet50_notop", False)):
        entry = weights.WEIGHT_FILES[key]
        assert entry.fname == "resnet50_weights_tf_dim_ordering_tf_kernels" + ("" if top else "_notop") + ".h5"
        assert entry.url == resnet.BASE_WEIGHTS_PATH + entry.fname
        assert entry.md5 == resnet.WEIGHTS_HASHES["resnet50"][0 if top else 1]


@pytest.fixture
def mirror(monkeypatch, tmp_path):
    """A local mirror in $VGGCOURSE_WEIGHTS_URL and an empty Keras cache."""
    server = WeightServer()
    monkeypatch.setenv(weights.MIRROR_ENV, server.url)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    yield server
    server.close()


def _notop_file(tmp_path, monkeypatch, md5=None):
    """A notop ResNet50 weights file (Keras' layout) at 32x32 and its bytes; the table's md5 set to it."""
    source = Resnet50(size=SIZE, include_top=False, weights=None)
    path = source.save_weights(tmp_path / "source.h5")
    body = path.read_bytes()
    entry = weights.WEIGHT_FILES["resnet50_notop"]
    monkeypatch.setitem(weights.WEIGHT_FILES, "resnet50_notop",
                        entry._replace(md5=md5 or hashlib.md5(body).hexdigest()))
    return source, body


def test_imagenet_notop_downloads_verifies_caches_and_loads(mirror, monkeypatch, tmp_path):
    source, body = _notop_file(tmp_path, monkeypatch)
    mirror.files["resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"] = (body, None)
    for _ in range(2):
        resnet = Resnet50(size=SIZE, include_top=False)
        for ours, theirs in zip(resnet.model.weights, source.model.weights):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs))
    assert len(mirror.requests) == 1  # the second model reads the cache
    assert (weights.cache_dir() / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5").read_bytes() == body


def test_a_bad_hash_is_refused_and_nothing_kept(mirror, monkeypatch, tmp_path):
    _, body = _notop_file(tmp_path, monkeypatch, md5="0" * 32)
    mirror.files["resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"] = (body, None)
    with pytest.raises(DownloadError, match="failed its hash check"):
        Resnet50(size=SIZE, include_top=False)
    assert not list(weights.cache_dir().iterdir())
    with pytest.raises(UserInputError, match="is not resnet50_weights.*md5"):
        weights.import_weights(tmp_path / "source.h5", "resnet50_notop")


def test_offline_says_where_to_put_the_file(mirror):
    with pytest.raises(InputFileNotFoundError, match=r"resnet50_weights_tf_dim_ordering_tf_kernels\.h5 is not in"):
        Resnet50(size=SIZE)


def test_a_keras_applications_file_is_converted_on_load(keras_resnet, images, tmp_path):
    keras_resnet.save(tmp_path / "app.keras")
    resnet = Resnet50.load(tmp_path / "app.keras")
    assert type(resnet) is Resnet50 and resnet.model.layers[1].name == "conv1"
    expected = keras_resnet.predict(keras.applications.resnet50.preprocess_input(images.copy()), verbose=0)
    np.testing.assert_allclose(resnet.model.predict(images, verbose=0), expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(UserInputError, match=r"layers are VGG16's.*keras\.saving\.load_model"):
        Vgg16.load(tmp_path / "app.keras")


# -- fine-tuning on the feature cache, prediction, saving -------------------------------------------

@pytest.fixture(scope="module")
def tuned(small_shared):
    """(resnet, batches, val_batches): fine-tuned on the sample, fitted once (the cache computed)."""
    keras.utils.set_random_seed(0)
    resnet = Resnet50(size=SIZE, weights=None)
    batches = resnet.get_batches(small_shared / "train", batch_size=4, shuffle=False)
    val_batches = resnet.get_batches(small_shared / "valid", batch_size=4, shuffle=False)
    resnet.finetune(batches)
    return resnet, batches, val_batches


def test_finetune_and_fit_use_the_feature_cache(tuned, computed):
    resnet, batches, val_batches = tuned
    assert resnet.classes == ["cats", "dogs"] and resnet.model.output_shape == (None, 2)
    body, head = split(resnet.model)
    assert [layer.name for layer in head.layers] == ["predictions"]  # the body ends at avg_pool
    assert body.layers[-1].name == "avg_pool"
    history = resnet.fit(batches, val_batches, nb_epoch=2, verbose=0)
    assert computed == [12, 6]  # the frozen body ran once per image, not once per epoch
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    resnet.fit(batches, val_batches, nb_epoch=1, verbose=0)
    assert computed == [12, 6]


def test_predict_and_test_in_file_order_with_tta(tuned, small_shared):
    resnet, _, val_batches = tuned
    x, _ = val_batches[0]
    preds, idxs, names = resnet.predict(x)
    probs = resnet.model.predict(x, verbose=0)
    np.testing.assert_allclose(preds, probs.max(axis=1), rtol=1e-5)
    assert names == [resnet.classes[i] for i in idxs]
    test_batches, plain = resnet.test(small_shared / "valid", batch_size=4)
    assert plain.shape == (6, 2) and len(test_batches.filenames) == 6
    np.testing.assert_allclose(plain[:4], probs, rtol=1e-4, atol=1e-6)
    _, averaged = resnet.test(small_shared / "valid", batch_size=4, tta=1)
    assert averaged.shape == (6, 2) and np.allclose(averaged.sum(axis=1), 1, atol=1e-5)


def test_save_load_round_trip(tuned, tmp_path, images):
    resnet = tuned[0]
    path = resnet.save(tmp_path / "resnet.keras")
    loaded = Resnet50.load(path)
    assert type(loaded) is Resnet50 and loaded.classes == ["cats", "dogs"] and loaded.size == SIZE
    np.testing.assert_allclose(loaded.model.predict(images, verbose=0), resnet.model.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(UserInputError, match=r"holds a Resnet50.*Resnet50\.load.*Received: Vgg16\.load"):
        Vgg16.load(path)


def test_load_course_model_reads_a_resnet50_file_once(tuned, tmp_path, monkeypatch):
    """Vgg16.load refuses another class's file from its saved settings, before reading the weights."""
    from vggcourse.model import load_course_model

    path = tuned[0].save(tmp_path / "resnet.keras")
    calls, load_model = [], keras.saving.load_model
    monkeypatch.setattr(keras.saving, "load_model", lambda *a, **k: calls.append(a) or load_model(*a, **k))
    assert type(load_course_model(path)) is Resnet50 and len(calls) == 1


def test_save_weights_load_weights_round_trip(tuned, tmp_path):
    resnet = tuned[0]
    path = resnet.save_weights(tmp_path / "ft1.h5")
    other = Resnet50(size=SIZE, weights=None)
    other.finetune(tuned[1])
    other.load_weights(path)
    for ours, theirs in zip(other.model.weights, resnet.model.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs))


@pytest.mark.filterwarnings("ignore:lr_find")
def test_unfreeze_keeps_block_batch_norm_frozen_and_fit_one_cycle_runs(small, computed):
    resnet = Resnet50(size=SIZE, weights=None)
    batches = resnet.get_batches(small / "train", batch_size=4)
    resnet.finetune(batches)
    assert resnet.unfreeze("conv5_block3") == "conv5_block3"
    block = resnet.model.get_layer("conv5_block3")
    assert block.get_layer("conv5_block3_1_conv").trainable
    assert not block.get_layer("conv5_block3_1_bn").trainable  # inference mode, as the VGG's BN
    assert not resnet.model.get_layer("conv5_block2").trainable
    assert resnet.model.layers[features.cache_boundary(resnet.model)].name == "conv5_block3"
    before = resnet.model.get_layer("conv5_block3").get_layer("conv5_block3_1_conv").get_weights()[0].copy()
    history = resnet.fit_one_cycle(batches, nb_epoch=1, max_lr=1e-3, verbose=0)
    assert len(history.one_cycle.lrs) == len(batches)
    assert computed == [12]  # the body below conv5_block3, once
    assert not np.array_equal(before, block.get_layer("conv5_block3_1_conv").get_weights()[0])
    after = [w.copy() for w in block.get_weights()]
    found = resnet.lr_find(batches, num_it=5)
    assert 0 < len(found.lrs) == len(found.losses) <= 5
    for kept, now in zip(after, block.get_weights()):  # the range test leaves the weights as they were
        np.testing.assert_array_equal(kept, now)
