"""vggcourse.export: a saved model written as ONNX and a TensorFlow SavedModel, run by onnxruntime and
TensorFlow, gives what Keras gives; the class names beside them; every bad input named in one line."""
import importlib.util
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from helpers import finetuned_vgg
from vggcourse import export
from vggcourse._atomic import write_folder_atomically
from vggcourse.errors import InputFileNotFoundError, InputIsADirectoryError, UserInputError
from vggcourse.image import load_image

SIZE = (32, 32)
HAS_TF = importlib.util.find_spec("tensorflow") is not None
# ONNX needs the backend's converter (requirements.txt installs tf2onnx; JAX users add jax2onnx)
CONVERTER = {"tensorflow": "tf2onnx", "jax": "jax2onnx"}.get(keras.backend.backend())
HAS_CONVERTER = CONVERTER is None or importlib.util.find_spec(CONVERTER) is not None
# SavedModel needs TensorFlow installed, whatever the backend (the JAX test venv has none)
FORMATS = tuple(name for name in export.FORMATS
                if (name != "savedmodel" or HAS_TF) and (name != "onnx" or HAS_CONVERTER))


def _images(dogscats, n=4):
    files = sorted((dogscats / "valid" / "dogs").glob("*.jpg"))[:n // 2] + sorted((dogscats / "valid" / "cats").glob("*.jpg"))[:n // 2]
    return np.stack([load_image(f, SIZE).astype("float32") for f in files])


@pytest.fixture(scope="module")
def exported(small_shared, dogscats, tmp_path_factory):
    """(vgg, expected probabilities, images, paths): a fine-tuned 2-class Vgg16 saved and exported once."""
    if not FORMATS:
        pytest.skip(f"neither format can be written here: no TensorFlow, no {CONVERTER} (pip install {CONVERTER})")
    vgg, _, _ = finetuned_vgg(small_shared, size=SIZE)
    root = tmp_path_factory.mktemp("export")
    vgg.save(root / "model.keras")
    paths = export.export_model(root / "model.keras", root / "dogscats", formats=FORMATS)
    images = _images(dogscats)
    return vgg, vgg.model.predict(images, verbose=0), images, paths


def test_writes_each_file_and_nothing_else(exported):
    _, _, _, paths = exported
    assert paths == export.exported_paths(paths["classes"].parent / "dogscats", FORMATS)
    assert sorted(p.name for p in paths["classes"].parent.iterdir()) == sorted(
        ["model.keras", *(p.name for p in paths.values())])  # no temporary file left


@pytest.mark.skipif(not HAS_CONVERTER, reason=f"ONNX on this backend needs {CONVERTER}: pip install {CONVERTER}")
def test_onnx_matches_keras(exported):
    import onnxruntime

    vgg, expected, images, paths = exported
    session = onnxruntime.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [export.INPUT_NAME]
    got = session.run(None, {export.INPUT_NAME: images})[0]
    assert got.shape == (len(images), len(vgg.classes))
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.skipif(not HAS_TF, reason="a SavedModel needs TensorFlow, which this environment lacks")
def test_savedmodel_matches_keras(exported):
    import tensorflow as tf

    _, expected, images, paths = exported
    serve = tf.saved_model.load(str(paths["savedmodel"])).signatures["serving_default"]
    got = serve(**{export.INPUT_NAME: tf.constant(images)})["output_0"].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_classes_file_lists_the_classes_in_output_order(exported):
    vgg, _, _, paths = exported
    assert json.loads(paths["classes"].read_text()) == list(vgg.classes) == ["cats", "dogs"]


def _one_line(error):
    message = str(error.value)
    assert "\n" not in message
    return message


def test_bad_model_paths(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(UserInputError) as error:
        export.export_model(tmp_path / "notes.txt", tmp_path / "out", formats=FORMATS)
    assert "notes.txt" in _one_line(error) and "not a .keras model file" in _one_line(error)
    with pytest.raises(UserInputError) as error:
        export.export_model(tmp_path, tmp_path / "out", formats=FORMATS)
    assert "is a folder" in _one_line(error)
    with pytest.raises(InputFileNotFoundError) as error:
        export.export_model(tmp_path / "missing.keras", tmp_path / "out", formats=FORMATS)
    assert "missing.keras" in _one_line(error)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("formats, words", [
    (("tflite",), "`formats` must be one of 'onnx', 'savedmodel'. Received: formats='tflite'"),
    ((), "`formats` must name at least one"),
    (3, "`formats` must name at least one"),
])
def test_bad_formats(tmp_path, formats, words):
    with pytest.raises(UserInputError) as error:
        export.export_model(tmp_path / "model.keras", tmp_path / "out", formats=formats)
    assert words in _one_line(error)


def test_bad_out(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"")
    with pytest.raises(InputFileNotFoundError) as error:
        export.export_model(tmp_path / "model.keras", tmp_path / "nowhere" / "out")
    assert "nowhere" in _one_line(error) and "does not exist" in _one_line(error)
    with pytest.raises(InputIsADirectoryError) as error:
        export.export_model(tmp_path / "model.keras", tmp_path)
    assert "is a folder" in _one_line(error)
    with pytest.raises(UserInputError) as error:
        export.export_model(tmp_path / "model.keras", tmp_path / "out.onnx")
    assert "without an ending" in _one_line(error)


@pytest.mark.skipif(HAS_CONVERTER, reason=f"only where {CONVERTER} is not installed")
def test_onnx_without_the_converter_is_named(tmp_path):
    with pytest.raises(UserInputError) as error:
        export.export_model(tmp_path / "model.keras", tmp_path / "out", formats=("onnx",))
    assert f"pip install {CONVERTER}" in _one_line(error)


@pytest.mark.skipif(HAS_TF, reason="only where TensorFlow is not installed")
def test_savedmodel_without_tensorflow_is_named(tmp_path):
    with pytest.raises(UserInputError) as error:
        export.export_model(tmp_path / "model.keras", tmp_path / "out", formats=("savedmodel",))
    assert "pip install tensorflow" in _one_line(error)


def test_folder_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "model_savedmodel"
    target.mkdir()
    (target / "old.pb").write_text("old")

    def fail(tmp):
        (Path(tmp) / "half.pb").write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_folder_atomically(target, fail)
    assert [p.name for p in tmp_path.iterdir()] == ["model_savedmodel"]
    assert [p.name for p in target.iterdir()] == ["old.pb"]
    write_folder_atomically(target, lambda tmp: (Path(tmp) / "new.pb").write_text("new"))
    assert [p.name for p in tmp_path.iterdir()] == ["model_savedmodel"]
    assert [p.name for p in target.iterdir()] == ["new.pb"]
