"""VggPreprocess matches Keras' VGG16 preprocessing and survives a safe_mode .keras round trip."""
import json
from importlib import resources

import keras
import numpy as np

from vggcourse.preprocessing import VGG_MEAN, VggPreprocess, imagenet_class_names


def test_matches_keras_vgg16_preprocess_input():
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 5, 4, 3)).astype("float32")
    expected = keras.applications.vgg16.preprocess_input(x.copy())
    got = keras.ops.convert_to_numpy(VggPreprocess()(x))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_is_mean_subtraction_then_rgb_to_bgr():
    x = np.zeros((1, 1, 1, 3), "float32") + np.array([10.0, 20.0, 30.0], "float32")
    got = keras.ops.convert_to_numpy(VggPreprocess()(x))[0, 0, 0]
    np.testing.assert_allclose(got, [30 - VGG_MEAN[2], 20 - VGG_MEAN[1], 10 - VGG_MEAN[0]], rtol=1e-6)


def test_saved_model_loads_with_safe_mode(tmp_path):
    model = keras.Sequential([keras.Input((4, 4, 3)), VggPreprocess(name="preprocess")])
    path = tmp_path / "pre.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.layers[0], VggPreprocess)
    x = np.full((1, 4, 4, 3), 128.0, "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_imagenet_class_names():
    names = imagenet_class_names()
    assert len(names) == 1000
    assert names[0] == "tench" and names[1] == "goldfish" and names[999] == "toilet_tissue"
    names.append("changed")  # callers get their own copy
    assert len(imagenet_class_names()) == 1000


def test_class_index_file_is_keras_layout():
    text = resources.files("vggcourse").joinpath("data", "imagenet_class_index.json").read_text()
    index = json.loads(text)
    assert sorted(index, key=int) == [str(i) for i in range(1000)]
    wnids = [index[str(i)][0] for i in range(1000)]
    assert wnids == sorted(wnids) and len(set(wnids)) == 1000  # Keras' order: sorted WordNet ids
    assert index["0"] == ["n01440764", "tench"]
