"""Vgg16 / Vgg16BN: architecture, equivalence with keras.applications.VGG16, the course workflow."""
import ast
import inspect
import json
import re
import zipfile

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

from vggcourse.image import load_image
from vggcourse import model as model_module
from vggcourse import optimizers
from vggcourse._keras1_methods import Keras1Methods
from vggcourse.errors import UserInputError
from vggcourse.model import ModelCore, Vgg16, Vgg16BN, VggSequential, build_vgg16
from vggcourse.preprocessing import VggPreprocess, imagenet_class_names

SIZE = (32, 32)

TOP_NAMES = [
    "block4_pool", "block5_conv1", "block5_conv2", "block5_conv3", "block5_pool",
    "flatten", "fc1", "fc1_dropout", "fc2", "fc2_dropout", "predictions",
]


def sample_images(dogscats, size, n=4):
    files = sorted((dogscats / "valid" / "dogs").glob("*.jpg"))[: n // 2]
    files += sorted((dogscats / "valid" / "cats").glob("*.jpg"))[: n // 2]
    return np.stack([np.asarray(Image.open(f).convert("RGB").resize(size[::-1], Image.BILINEAR), "float32") for f in files])


def write_keras2_layout(model, path):
    """The layout of Keras' published vgg16 files: `layer_names`, per-layer `weight_names`."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in model.layers])
        for layer in model.layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}_{'W' if len(w.shape) > 1 else 'b'}_1:0" for w in layer.weights]
            group.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S") if names else np.array([], "S1")
            for name, w in zip(names, layer.weights):
                group.create_dataset(name, data=keras.ops.convert_to_numpy(w))


# -- architecture ---------------------------------------------------------------------------------


def test_full_size_architecture():
    vgg = Vgg16(weights=None)
    model = vgg.model
    assert isinstance(model, keras.Sequential)
    assert model.count_params() == 138_357_544
    assert model.input_shape == (None, 224, 224, 3)
    assert isinstance(model.layers[0], VggPreprocess) and model.layers[0].name == "preprocess"
    assert [layer.name for layer in model.layers][-len(TOP_NAMES):] == TOP_NAMES
    assert model.get_layer("fc1_dropout").rate == 0.5
    assert vgg.classes == imagenet_class_names()


def test_bn_variant_layers():
    names = [layer.name for layer in build_vgg16(SIZE, batch_norm=True).layers]
    assert names[-9:] == ["block5_pool", "flatten", "fc1", "fc1_bn", "fc1_dropout", "fc2", "fc2_bn", "fc2_dropout", "predictions"]
    assert [n for n in names if n.startswith("block")] == [n for n in (layer.name for layer in build_vgg16(SIZE, include_top=False).layers) if n.startswith("block")]


def test_same_probabilities_as_keras_vgg16(dogscats, tmp_path):
    reference = keras.applications.VGG16(weights=None, include_top=True, input_shape=SIZE + (3,))
    path = tmp_path / "keras_layout.h5"
    write_keras2_layout(reference, path)
    reference.load_weights(path)  # Keras' own loader accepts the file

    x = sample_images(dogscats, SIZE)
    expected = reference.predict(keras.applications.vgg16.preprocess_input(x.copy()), verbose=0)
    vgg = Vgg16(weights=path, size=SIZE)
    np.testing.assert_allclose(vgg.model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4)
    preds, idxs, names = vgg.predict(x)
    np.testing.assert_array_equal(idxs, expected.argmax(axis=1))
    assert names == [imagenet_class_names()[i] for i in idxs]

    # the same file into a model without the top: the dense layers in the file are ignored
    body = keras.Model(reference.inputs, reference.get_layer("block5_pool").output)
    notop = Vgg16(weights=path, size=SIZE, include_top=False)
    feats = notop.model.predict(x, verbose=0)
    ref_feats = body.predict(keras.applications.vgg16.preprocess_input(x.copy()), verbose=0)
    np.testing.assert_allclose(feats, ref_feats, rtol=1e-4, atol=1e-4 * np.abs(ref_feats).max())


# -- arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [3, ["imagenet"], True])
def test_bad_weights_value(weights):
    with pytest.raises(ValueError, match="`weights` must be 'imagenet', None or the path"):
        Vgg16(weights=weights, size=SIZE)


def test_weights_path_that_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="`weights` must be 'imagenet', None or the path.*nope.h5"):
        Vgg16(weights=tmp_path / "nope.h5", size=SIZE, include_top=False)
    with pytest.raises(FileNotFoundError, match="imagenett"):
        Vgg16(weights="imagenett", size=SIZE)


@pytest.mark.parametrize("size", [(16, 224), (224,), "224", (32.0, 32), 224])
def test_bad_size(size):
    with pytest.raises(ValueError, match="`size` must be"):
        Vgg16(weights=None, size=size)


def test_imagenet_top_needs_224():
    with pytest.raises(ValueError, match=r"needs size=\(224, 224\).*include_top=False"):
        Vgg16(size=(64, 64), include_top=True)


def test_imagenet_weights_at_another_size_leave_the_top_out_as_the_course(monkeypatch):
    """lesson 7's `Vgg16BN((360, 640)).model`: conv layers only, ImageNet's no-top file."""
    asked = []

    def fetch_weights(key):
        asked.append(key)
        return None  # no weights to load: only which file and which layers are checked

    monkeypatch.setattr(model_module.weights_lib, "fetch_weights", fetch_weights)
    vgg = Vgg16BN((64, 96))
    assert not vgg.include_top and vgg.model.output_shape == (None, 2, 3, 512)
    assert asked == [model_module.weights_lib.weights_key(True, False)]
    assert Vgg16(SIZE, weights=None).include_top  # random weights fit any size


def test_ft_needs_top():
    vgg = Vgg16(weights=None, size=SIZE, include_top=False)
    with pytest.raises(ValueError, match="include_top=True"):
        vgg.ft(2)


@pytest.mark.parametrize("num", [True, 2.0, 0, "2"])
def test_ft_num_must_be_a_whole_number_of_classes(num):
    vgg = Vgg16(weights=None, size=SIZE)
    with pytest.raises(UserInputError, match=rf"ft: `num` must be a whole number of classes, at least 1\. "
                                             rf"Received: num={re.escape(repr(num))}"):
        vgg.ft(num)
    assert vgg.model.output_shape == (None, 1000)  # refused before anything changed


def test_ft_names_the_new_classes_and_saves_loadably(tmp_path):
    """After `ft(n)` ImageNet's 1000 names no longer fit: the classes are '0'..'n-1', and the
    file `save` writes loads back (it was refused: 1000 names for 3 outputs)."""
    vgg = Vgg16(weights=None, size=SIZE)
    vgg.ft(3)
    assert vgg.classes == ["0", "1", "2"] and vgg.model.class_names is None
    x = np.random.default_rng(0).uniform(0, 255, (2, *SIZE, 3)).astype("float32")
    assert set(vgg.predict(x)[2]) <= {"0", "1", "2"}  # not ImageNet's 'tench', 'goldfish', ...
    loaded = Vgg16.load(vgg.save(tmp_path / "three.keras", include_optimizer=False))
    assert loaded.classes == ["0", "1", "2"] and loaded.model.output_shape == (None, 3)


# -- the model core: compile, weight files, the registered classes ---------------------------------


def _small(cls=VggSequential, seed=0):
    keras.utils.set_random_seed(seed)
    return cls([keras.Input((4,)), keras.layers.Dense(3, activation="relu", name="hidden"),
                keras.layers.Dense(2, activation="softmax", name="predictions")])


def test_one_core_owns_compile_and_weight_files():
    """`vgg.model`, keras1's Sequential and Model share one core; model.py does not import keras1."""
    from vggcourse import keras1

    assert isinstance(Vgg16(weights=None, size=SIZE, include_top=False).model, ModelCore)
    assert issubclass(keras1.Sequential, VggSequential) and issubclass(keras1.Model, ModelCore)
    owned = ("compile", "compile_from_config", "save_weights", "load_weights")
    for cls in (VggSequential, keras1.Sequential, keras1.Model):
        assert [c for c in cls.__mro__ if any(name in vars(c) for name in owned)][:2] == [Keras1Methods, ModelCore]
    imports = [node for node in ast.walk(ast.parse(inspect.getsource(model_module)))
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    named = [getattr(node, "module", None) or "" for node in imports] + [a.name for n in imports for a in n.names]
    assert not [name for name in named if "keras1" in name.replace("_keras1_methods", "")]


def test_compile_takes_course_names_and_scales_the_loss_under_mixed_float16():
    model = _small()
    model.compile("adam", "categorical_crossentropy", sample_weight_mode=None)
    assert isinstance(model.optimizer, optimizers.Adam)
    with pytest.raises(UserInputError, match="sample_weight_mode"):
        model.compile("adam", "categorical_crossentropy", sample_weight_mode="temporal")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        scaled = _small()
    finally:
        keras.config.set_dtype_policy(previous)
    scaled.compile("sgd", "categorical_crossentropy")
    assert isinstance(scaled.optimizer, optimizers.LossScaleOptimizer)
    assert isinstance(optimizers.unwrap(scaled.optimizer), optimizers.SGD)


def test_course_h5_names_load_all_or_nothing(tmp_path):
    model = _small()
    model.save_weights(tmp_path / "ft1.h5")
    with h5py.File(tmp_path / "ft1.h5") as f:  # the course's plain layout, by layer name
        assert [n.decode() for n in f.attrs["layer_names"]] == ["hidden", "predictions"]
    other = _small(seed=1)
    other.load_weights(tmp_path / "ft1.h5")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    wider = VggSequential([keras.Input((4,)), keras.layers.Dense(3, name="hidden"),
                           keras.layers.Dense(5, name="predictions")])
    before = wider.get_weights()
    with pytest.raises(UserInputError, match=r"'predictions'.*\(3, 2\).*expects \(3, 5\)"):
        wider.load_weights(tmp_path / "ft1.h5")
    for a, b in zip(before, wider.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError, match="no weight file"):
        other.load_weights(tmp_path / "nope.h5")


@pytest.mark.parametrize("cls_name", ["VggSequential", "Sequential"])
def test_files_saved_under_either_registered_name_load(cls_name, tmp_path):
    """Files written by the previous version name `vggcourse>VggSequential` (vgg.model) or
    `vggcourse>Sequential` (the course's Sequential); both load, recompiled."""
    from vggcourse import keras1

    cls = VggSequential if cls_name == "VggSequential" else keras1.Sequential
    model = _small(cls)
    model.compile("adam", "categorical_crossentropy")
    x = np.random.default_rng(0).random((3, 4)).astype("float32")
    model.fit(x, np.eye(2, dtype="float32")[[0, 1, 0]], epochs=1, verbose=0)  # the optimizer has state
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert json.loads(archive.read("config.json"))["registered_name"] == f"vggcourse>{cls_name}"
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert type(again) is cls and isinstance(again.optimizer, optimizers.Adam)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_a_save_after_changing_layers_loads_back(tmp_path):
    """Issue 18, item 4: after `pop(); add(...)` without a recompile, the optimizer's state belongs
    to the old head; the file is written without it (one warning) and loads, with Keras too."""
    model = _small()
    model.compile("adam", "categorical_crossentropy")
    x = np.random.default_rng(0).random((3, 4)).astype("float32")
    model.fit(x, np.eye(2, dtype="float32")[[0, 1, 0]], epochs=1, verbose=0)  # the optimizer has state
    model.pop()
    model.add(keras.layers.Dense(3, activation="softmax", name="predictions"))
    with pytest.warns(UserWarning, match=r"without its optimizer's state.*call compile\(\)") as caught:
        model.save(tmp_path / "changed.keras")
    assert len([w for w in caught if "optimizer" in str(w.message)]) == 1
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):  # Keras' note
        again = keras.saving.load_model(tmp_path / "changed.keras", safe_mode=True)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert model.optimizer.variables, "the model keeps its optimizer"

    model.compile("adam", "categorical_crossentropy")  # recompiled: the state is saved again
    model.fit(x, np.eye(3, dtype="float32")[[0, 1, 2]], epochs=1, verbose=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.save(tmp_path / "recompiled.keras")
    again = keras.saving.load_model(tmp_path / "recompiled.keras", safe_mode=True)
    assert int(again.optimizer.iterations) == int(model.optimizer.iterations) == 1


def test_vgg_save_after_replacing_the_head_loads_back(dogscats, tmp_path):
    """The issue's lines: `Vgg16.save` after `pop(); add(Dense(3))` writes a file both loaders read."""
    vgg = Vgg16(weights=None, size=SIZE)
    vgg.ft(2)
    x = sample_images(dogscats, SIZE)
    vgg.fit_data(x, np.eye(2)[[0, 1, 0, 1]], x, np.eye(2)[[0, 1, 0, 1]], batch_size=4)
    vgg.model.pop()
    vgg.model.add(keras.layers.Dense(3, activation="softmax"))
    vgg.classes = ["a", "b", "c"]
    with pytest.warns(UserWarning, match="without its optimizer's state"):
        path = vgg.save(tmp_path / "three.keras")
    loaded = Vgg16.load(path)
    assert loaded.classes == ["a", "b", "c"]
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0), vgg.model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-7)
    assert keras.saving.load_model(path, safe_mode=True).output_shape == (None, 3)


# -- the course's workflow -----------------------------------------------------------------------


class _Count(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.train = self.val = 0

    def on_train_batch_end(self, batch, logs=None):
        self.train += 1

    def on_test_batch_end(self, batch, logs=None):
        self.val += 1


@pytest.fixture(scope="module", params=[Vgg16, Vgg16BN], ids=["vgg16", "vgg16_bn"])
def tuned(request, dogscats):
    """The course's seven lines, at 32x32 from random weights."""
    vgg = request.param(weights=None, size=SIZE)
    rng = np.random.default_rng(1)
    for layer in vgg.model.layers:  # give BN non-trivial statistics to check they stay frozen
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.weights[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(size=n), rng.normal(size=n), rng.uniform(0.5, 2, n)])
    batches = vgg.get_batches(dogscats / "train", batch_size=8)
    val_batches = vgg.get_batches(dogscats / "valid", batch_size=8)
    vgg.finetune(batches)
    bn_before = {l.name: l.get_weights() for l in vgg.model.layers if isinstance(l, keras.layers.BatchNormalization)}
    count = _Count()
    history = vgg.fit(batches, val_batches, nb_epoch=1, callbacks=[count])
    return vgg, batches, val_batches, history, count, bn_before


def test_finetune_and_fit(tuned):
    vgg, batches, val_batches, history, count, _ = tuned
    assert vgg.classes == ["cats", "dogs"]
    assert vgg.model.layers[-1].name == "predictions" and vgg.model.output_shape == (None, 2)
    assert [l.name for l in vgg.model.layers if l.trainable] == ["predictions"]
    assert count.train == len(batches) == 25 and count.val == len(val_batches) == 13
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}


def test_bn_layers_frozen_in_inference_mode(tuned):
    vgg, _, _, _, _, bn_before = tuned
    assert set(bn_before) == ({"fc1_bn", "fc2_bn"} if vgg.batch_norm else set())
    x = np.random.default_rng(2).normal(size=(4, 4096)).astype("float32")
    for name, before in bn_before.items():
        bn = vgg.model.get_layer(name)
        assert not bn.trainable
        for a, b in zip(bn.get_weights(), before):  # training did not move the statistics
            np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(bn(x, training=True)), keras.ops.convert_to_numpy(bn(x, training=False)), rtol=1e-6
        )


def test_predict(tuned, dogscats):
    vgg = tuned[0]
    x = sample_images(dogscats, SIZE)
    preds, idxs, names = vgg.predict(x, True)  # the course's call: three values, details or not
    probs = vgg.model.predict(x, verbose=0)
    assert probs.shape == (4, 2)
    np.testing.assert_allclose(preds, probs.max(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(idxs, probs.argmax(axis=1))
    assert names == [vgg.classes[i] for i in idxs]
    assert len(vgg.predict(x)) == 3


def test_test_predictions_line_up_with_files(tuned, dogscats, tmp_path):
    vgg = tuned[0]
    batches, preds = vgg.test(dogscats / "test", batch_size=8)
    assert len(preds) == len(batches.filenames) == 100 and preds.shape == (100, 2)
    assert batches.filenames[0].startswith("unknown/")
    for j in (0, 37, 99):
        one = vgg.model.predict(load_image(batches.filepaths[j], SIZE)[None], verbose=0)[0]
        np.testing.assert_allclose(preds[j], one, rtol=1e-4, atol=1e-6)

    flat = tmp_path / "flat"
    flat.mkdir()
    for name in batches.filenames[:5]:
        (flat / name.split("/")[-1]).write_bytes((dogscats / "test" / name).read_bytes())
    flat_batches, flat_preds = vgg.test(flat)
    lookup = {name.split("/")[-1]: p for name, p in zip(batches.filenames, preds)}
    assert len(flat_preds) == 5
    for name, p in zip(flat_batches.filenames, flat_preds):
        np.testing.assert_allclose(p, lookup[name.split("/")[-1]], rtol=1e-4, atol=1e-6)


def test_save_and_load_keras_file(tuned, dogscats, tmp_path):
    vgg = tuned[0]
    path = vgg.save(tmp_path / "ft.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ft.keras"]
    loaded = Vgg16.load(path)
    assert type(loaded) is type(vgg) and loaded.classes == ["cats", "dogs"] and loaded.size == SIZE
    x = sample_images(dogscats, SIZE)
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0), vgg.model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)
    assert keras.saving.load_model(path, safe_mode=True).layers[0].name == "preprocess"
    with pytest.raises(ValueError, match=r"end in '\.keras'"):
        vgg.save(tmp_path / "ft.h5")


def test_save_without_optimizer_is_smaller_and_loads_cleanly(tuned, dogscats, tmp_path):
    import warnings

    vgg = tuned[0]
    full = vgg.save(tmp_path / "full.keras")
    lean = vgg.save(tmp_path / "lean.keras", include_optimizer=False)
    assert lean.stat().st_size < full.stat().st_size
    assert vgg.model.optimizer is not None and vgg.model.optimizer.variables, "the optimizer stays"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = Vgg16.load(lean)
    assert not [w for w in caught if "optimizer" in str(w.message)]
    x = sample_images(dogscats, SIZE)
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0), vgg.model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-7)
    assert loaded.classes == vgg.classes


def test_save_weights_course_name_round_trip(tuned, dogscats, tmp_path, monkeypatch):
    vgg = tuned[0]
    monkeypatch.chdir(tmp_path)
    vgg.save_weights("ft1.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ft1.h5"]
    other = type(vgg)(weights=None, size=SIZE)
    other.ft(2)
    other.load_weights("ft1.h5")
    x = sample_images(dogscats, SIZE)
    np.testing.assert_allclose(other.model.predict(x, verbose=0), vgg.model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)

    untuned = type(vgg)(weights=None, size=SIZE)  # still 1000-way: the file does not fit
    with pytest.raises(ValueError, match=r"'predictions'.*\(4096, 2\).*expects \(4096, 1000\)"):
        untuned.load_weights("ft1.h5")


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # Keras' own format
def test_course_spelling_on_the_keras_model_saves_and_loads_h5(tuned, dogscats, tmp_path):
    vgg = tuned[0]
    vgg.model.save_weights(tmp_path / "ft1.h5")  # the redux notebook's call; Keras 3 alone refuses it
    other = type(vgg)(weights=None, size=SIZE)
    other.ft(2)
    other.model.load_weights(tmp_path / "ft1.h5")
    x = sample_images(dogscats, SIZE)
    np.testing.assert_allclose(other.model.predict(x, verbose=0), vgg.model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-7)
    vgg.model.save_weights(tmp_path / "ft1.weights.h5")  # Keras' own format still goes to Keras
    other.model.load_weights(tmp_path / "ft1.weights.h5")


def test_learning_rate_and_fit_data(dogscats):
    vgg = Vgg16(weights=None, size=SIZE)
    with pytest.raises(ValueError, match="compile"):
        vgg.set_lr(0.01)
    vgg.ft(2)
    vgg.model.optimizer.lr = 0.5  # the course's spelling works (vggcourse.optimizers.Adam) ...
    assert float(vgg.model.optimizer.learning_rate) == pytest.approx(0.5)
    vgg.set_lr(0.01)  # ... and so does this
    assert float(vgg.model.optimizer.learning_rate) == pytest.approx(0.01)
    x = sample_images(dogscats, SIZE)
    y = keras.utils.to_categorical([1, 1, 0, 0], 2)
    history = vgg.fit_data(x, y, x, y, nb_epoch=1, batch_size=2)
    assert "val_accuracy" in history.history
    from vggcourse.errors import UserInputError

    with pytest.raises(UserInputError, match=r"^fit_data: `nb_epoch` must be a whole number of epochs"):
        vgg.fit_data(x, y, x, y, nb_epoch=2.5)
    with pytest.raises(UserInputError, match=r"^fit_data: `batch_size` must be a whole number >= 1\. "
                                             r"Received: batch_size=True$"):
        vgg.fit_data(x, y, x, y, batch_size=True)
    vgg.fit(vgg.get_batches(dogscats / "valid", batch_size=50), lr=0.002, verbose=0)
    assert float(vgg.model.optimizer.learning_rate) == pytest.approx(0.002)


# -- Vgg16.load refuses what is not a Vgg16 file, naming it (issue 12: 5, 15) ----------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory, dogscats):
    vgg = Vgg16(weights=None, size=SIZE)
    vgg.finetune(vgg.get_batches(dogscats / "train", batch_size=8))
    path = tmp_path_factory.mktemp("saved") / "ft.keras"
    vgg.save(path, include_optimizer=False)
    return path


def _edited_copy(saved, path, member, edit):
    """A copy of the .keras file `saved` at `path` whose JSON `member` went through `edit` (in place)."""
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == member:
                content = json.loads(data)
                edit(content)
                data = json.dumps(content)
            target.writestr(item, data)
    return path


def test_load_names_a_damaged_or_foreign_file(saved, tmp_path, dogscats):
    cut = tmp_path / "cut.keras"
    cut.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    jpeg = tmp_path / "photo.keras"
    jpeg.write_bytes(next((dogscats / "train" / "cats").iterdir()).read_bytes())
    for path in (cut, jpeg):
        with pytest.raises(ValueError, match=rf"{path.name} is not a \.keras model file"):
            Vgg16.load(path)
    with pytest.raises(ValueError, match="is a folder; pass a .keras file"):
        Vgg16.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no model file at"):
        Vgg16.load(tmp_path / "missing.keras")


def test_load_checks_inputs_outputs_and_class_names(saved, tmp_path):
    gray = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(2, activation="softmax")])
    gray.save(tmp_path / "gray.keras")
    with pytest.raises(ValueError, match=r"inputs of shape \(None, 8, 8, 1\).*RGB images"):
        Vgg16.load(tmp_path / "gray.keras")
    regression = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    regression.save(tmp_path / "regression.keras")
    with pytest.raises(ValueError, match="does not output probabilities"):
        Vgg16.load(tmp_path / "regression.keras")
    edited = _edited_copy(saved, tmp_path / "edited.keras", "vggcourse.json",
                          lambda meta: meta.update(classes=["cats", "dogs", "birds"]))
    with pytest.raises(ValueError, match="names 3 classes but its model has 2 outputs"):
        Vgg16.load(edited)
    assert Vgg16.load(saved).classes == ["cats", "dogs"]


def test_load_takes_a_keras_applications_vgg16_and_names_other_functional_models(tmp_path, dogscats):
    """Issue 18, item 14: a `keras.applications.VGG16` file (functional) loads as the course's
    model, preprocessing included; another functional model is refused naming its class."""
    keras.utils.set_random_seed(0)
    app = keras.applications.VGG16(weights=None, input_shape=(*SIZE, 3), classes=2)
    app.save(tmp_path / "app.keras")
    vgg = Vgg16.load(tmp_path / "app.keras")
    assert isinstance(vgg.model, VggSequential) and vgg.size == SIZE and vgg.include_top
    assert vgg.model.layers[0].name == "preprocess" and vgg.classes == ["0", "1"]
    x = sample_images(dogscats, SIZE)
    np.testing.assert_allclose(vgg.model.predict(x, verbose=0),
                               app.predict(keras.applications.vgg16.preprocess_input(x.copy()), verbose=0),
                               rtol=1e-4, atol=1e-6)
    inputs = keras.Input((*SIZE, 3))
    other = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs)))
    other.save(tmp_path / "other.keras")
    with pytest.raises(UserInputError, match=r"other\.keras holds a Functional .*not a Sequential model whose "
                                             r"layers are VGG16's.*keras\.saving\.load_model"):
        Vgg16.load(tmp_path / "other.keras")


def test_an_optimizer_setting_from_another_keras_loads_for_prediction(saved, tmp_path, dogscats):
    """Issue 18, item 15: an optimizer setting this Keras does not know is left out, with one
    warning naming it: the model loads, predicts as saved, and trains."""
    edited = _edited_copy(saved, tmp_path / "foo.keras", "config.json",
                          lambda config: config["compile_config"]["optimizer"]["config"].update(foo=1))
    with pytest.warns(UserWarning) as caught:
        vgg = Vgg16.load(edited)
    lines = [str(w.message) for w in caught if "optimizer" in str(w.message)]
    assert len(lines) == 1 and re.search(r"optimizer's settings 'foo' are unknown to Keras .* left out", lines[0])
    assert isinstance(vgg.model.optimizer, optimizers.Adam) and vgg.classes == ["cats", "dogs"]
    x = sample_images(dogscats, SIZE)
    np.testing.assert_allclose(vgg.model.predict(x, verbose=0), Vgg16.load(saved).model.predict(x, verbose=0),
                               rtol=1e-6)
    vgg.fit_data(x, np.eye(2)[[0, 1, 0, 1]], x, np.eye(2)[[0, 1, 0, 1]], batch_size=4)


def test_a_failed_keras_weights_load_changes_nothing(saved, tmp_path, dogscats):
    vgg = Vgg16.load(saved)
    before = [w.copy() for w in vgg.model.get_weights()]
    other = Vgg16(weights=None, size=SIZE)  # 1000 outputs: its predictions layer does not fit
    other.model.save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(Exception):
        vgg.model.load_weights(tmp_path / "other.weights.h5")
    for a, b in zip(vgg.model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_course_lines_under_mixed_bfloat16(small, tmp_path):
    """What `devices.enable_mixed_precision()` sets on a GPU or a bfloat16 CPU: the seven lines,
    test and save/load work; the softmax gives float32 probabilities; the feature cache keeps
    float32 and bfloat16 features apart; loss and predictions stay near float32's."""
    keras.utils.set_random_seed(0)
    Vgg16(weights=None, size=SIZE).model.save_weights(tmp_path / "w.weights.h5")
    results = {}
    try:
        for policy in ("float32", "mixed_bfloat16"):
            keras.mixed_precision.set_global_policy(policy)
            vgg = Vgg16(weights=tmp_path / "w.weights.h5", size=SIZE)
            batches = vgg.get_batches(small / "train", batch_size=4, shuffle=False)
            keras.utils.set_random_seed(1)  # the same new softmax (float32 weights) for both
            vgg.finetune(batches)
            history = vgg.fit(batches, nb_epoch=1, verbose=0)
            _, probs = vgg.test(small / "valid", batch_size=4)
            results[policy] = (history.history["loss"][0], probs, vgg)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    loss, probs, bf16 = results["mixed_bfloat16"]
    assert bf16.model.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert bf16.model.layers[-1].compute_dtype == "float32"
    assert probs.dtype == np.float32 and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    # bfloat16 keeps 8 significant bits: the same job lands near float32's, not on it
    assert abs(loss - results["float32"][0]) < 0.1
    np.testing.assert_allclose(probs, results["float32"][1], atol=0.1)
    assert not np.array_equal(probs, results["float32"][1])  # not float32 features from the cache
    loaded = Vgg16.load(bf16.save(tmp_path / "bf16.keras"))
    assert loaded.model.get_layer("block1_conv1").dtype_policy.name == "mixed_bfloat16"
    x = sample_images(small, SIZE)
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0), bf16.model.predict(x, verbose=0), rtol=1e-6)


def test_size_is_the_first_argument_as_in_the_course():
    """The course's calls: `Vgg16BN((360, 640))`, `Vgg16(size, include_top)` positionally."""
    vgg = Vgg16BN(SIZE, False, None)
    assert vgg.size == SIZE and not vgg.include_top and vgg.model.input_shape[1:3] == SIZE
    assert Vgg16(SIZE, True, weights=None).include_top


@pytest.mark.parametrize("first", ["vgg16.h5", None])
def test_weights_given_first_are_refused_naming_size(first):
    with pytest.raises(UserInputError, match=r"^Vgg16BN: `size` must be \(height, width\).*`weights=`.*"
                                              r"Received: size="):
        Vgg16BN(first)


def test_flat_metrics_measure_every_output_as_keras1():
    """lesson7: class + bounding box outputs, `metrics=['accuracy']` for both (Keras 1's meaning)."""
    from vggcourse.model import VggModel

    inp = keras.Input((6,))
    model = VggModel(inp, [keras.layers.Dense(3, activation="softmax", name="cls")(inp),
                           keras.layers.Dense(4, name="bb")(inp)])
    auc = keras.metrics.AUC(name="auc")
    model.compile(optimizers.Adam(lr=0.001), loss=["categorical_crossentropy", "mse"], metrics=["accuracy", auc],
                  loss_weights=[.001, 1.])
    rng = np.random.default_rng(0)
    x, y_cls, y_bb = rng.random((8, 6)), np.eye(3)[rng.integers(0, 3, 8)], rng.random((8, 4))
    history = model.fit(x, [y_cls, y_bb], epochs=1, verbose=0)
    assert {"cls_accuracy", "bb_accuracy", "cls_auc", "bb_auc"} <= set(history.history)
    per_output = model.get_compile_config()["metrics"]
    assert per_output[0][0] == per_output[1][0] == "accuracy"
    model.compile("adam", loss=["categorical_crossentropy", "mse"], metrics={"cls": ["accuracy"]})  # Keras 3's form
    assert set(model.fit(x, [y_cls, y_bb], epochs=1, verbose=0).history) >= {"cls_accuracy"}


def _two_dense(cls):
    """Dense layers 'a' then 'b', as a `VggSequential` or a functional `cls`."""
    inp = keras.Input((4,))
    layers = [keras.layers.Dense(3, name="a"), keras.layers.Dense(2, activation="softmax", name="b")]
    if cls is VggSequential:
        return VggSequential([inp, *layers])
    return cls(inp, layers[1](layers[0](inp)))


@pytest.mark.parametrize("cls", ["VggSequential", "VggModel"])
@pytest.mark.parametrize("train", ["fit", "train_on_batch"])
def test_fit_trains_exactly_the_layers_trainable_now(cls, train):
    """Keras 1 trained the new trainable set after `layer.trainable = ...` without a recompile;
    Keras 3 raises "Unknown variable" (a layer unfrozen) or trains the old set (a layer frozen)."""
    model = _two_dense(getattr(model_module, cls))
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 4)).astype("float32"), np.eye(2)[rng.integers(0, 2, 16)]
    opt = optimizers.Adam(lr=0.01)
    model.get_layer("a").trainable = False
    model.compile(opt, "categorical_crossentropy", ["accuracy"])
    step = (lambda: model.fit(x, y, epochs=1, verbose=0)) if train == "fit" else (lambda: model.train_on_batch(x, y))
    step()
    for frozen in (set(), {"a"}, {"b"}):
        for layer in model.layers:
            layer.trainable = layer.name not in frozen
        before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers if layer.weights}
        with pytest.warns(UserWarning, match="trainable layers changed.*fresh optimizer state"):
            step()
        changed = {name for name, ws in before.items()
                   if any(not np.allclose(w, v) for w, v in zip(ws, model.get_layer(name).get_weights()))}
        assert changed == {"a", "b"} - frozen
    opt.lr = 0.5  # the rate is still the one of the optimizer given to compile
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.5)


def test_load_course_model_loads_either_course_model(tmp_path):
    from vggcourse.model import Resnet50, Vgg16, load_course_model

    resnet = Resnet50(size=(32, 32), weights=None)
    resnet.save(tmp_path / "resnet.keras")
    assert type(load_course_model(tmp_path / "resnet.keras")) is Resnet50
    Vgg16(size=(32, 32), weights=None).save(tmp_path / "vgg.keras")
    assert type(load_course_model(tmp_path / "vgg.keras")) is Vgg16
    (tmp_path / "notes.keras").write_text("not a model")
    with pytest.raises(ValueError, match="notes.keras is not a .keras model file"):
        load_course_model(tmp_path / "notes.keras")
