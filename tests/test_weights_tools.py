"""The weights cache tools behind `vggcourse weights`: status, import with verification, conversion."""
import hashlib

import numpy as np
import pytest

from helpers import sample_images, write_keras1_theano_file
from vggcourse import weights
from vggcourse.model import Vgg16BN, build_vgg16


@pytest.fixture
def cache(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras" / "models"


def _fake_published(monkeypatch, tmp_path, key="vgg16"):
    """A small file standing in for a published one, with the table's md5 set to its own."""
    path = tmp_path / "download.h5"
    path.write_bytes(b"\x89HDF\r\n" + bytes(range(256)) * 64)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    monkeypatch.setitem(weights.WEIGHT_FILES, key, weights.WEIGHT_FILES[key]._replace(md5=md5))
    return path


def test_cache_status_names_every_file_and_its_state(cache, monkeypatch, tmp_path):
    lines = weights.cache_status()
    assert len(lines) == len(weights.WEIGHT_FILES)
    assert all("missing" in line for line in lines)
    source = _fake_published(monkeypatch, tmp_path)
    weights.import_weights(source, "vgg16")
    (cache / weights.WEIGHT_FILES["vgg16_notop"].fname).write_bytes(b"not the published file")
    status = {line.split()[0]: line for line in weights.cache_status()}
    assert "md5 verified" in status["vgg16"]
    assert "FAILS its md5 check" in status["vgg16_notop"]


def test_import_verifies_the_hash_before_copying(cache, monkeypatch, tmp_path):
    source = _fake_published(monkeypatch, tmp_path)
    dest = weights.import_weights(source, "vgg16")
    assert dest == cache / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    assert dest.read_bytes() == source.read_bytes()
    wrong = tmp_path / "wrong.h5"
    wrong.write_bytes(b"something else")
    with pytest.raises(ValueError, match=r"wrong\.h5 is not vgg16_weights_tf_dim_ordering_tf_kernels_notop\.h5"):
        weights.import_weights(wrong, "vgg16_notop")
    assert not (cache / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5").exists()
    assert sorted(p.name for p in cache.iterdir()) == [dest.name], "no partial file may stay"
    with pytest.raises(ValueError, match="`key` must be one of"):
        weights.import_weights(source, "resnet152")  # resnet50 is known since issue 19
    with pytest.raises(FileNotFoundError, match="nowhere.h5"):
        weights.import_weights(tmp_path / "nowhere.h5")


def test_convert_course_bn_file_to_channels_last(dogscats, tmp_path):
    size = (64, 32)
    original = Vgg16BN(weights=None, size=size)
    rng = np.random.default_rng(0)
    for name in ("fc1_bn", "fc2_bn"):
        layer = original.model.get_layer(name)
        n = layer.weights[0].shape[0]
        layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(size=n), rng.normal(size=n), rng.uniform(0.5, 2, n)])
    theano = tmp_path / "vgg16_bn.h5"
    write_keras1_theano_file(original.model, theano)
    converted = weights.convert_course_file(theano, tmp_path / "vgg16_bn_tf.h5", size=size)
    groups = dict(weights.read_weight_groups(converted))
    assert groups["block1_conv1"][0].shape == (3, 3, 3, 64), "channels-last kernels, our layer names"
    loaded = Vgg16BN(weights=converted, size=size)
    x = sample_images(dogscats, size)
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0), original.model.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-6)


def test_convert_refuses_a_file_that_is_not_vgg(tmp_path):
    small = build_vgg16((32, 32), include_top=False)
    path = weights.save_weights(small, tmp_path / "partial.h5")
    import h5py

    with h5py.File(path, "a") as f:  # drop the last conv layer: 12 layers with weights
        names = [n for n in f.attrs["layer_names"] if n != b"block5_conv3"]
        f.attrs["layer_names"] = np.array(names)
    with pytest.raises(ValueError, match="partial.h5 is not a VGG16 or VGG16-BN weights file"):
        weights.convert_course_file(path, tmp_path / "out.h5", size=(32, 32))
