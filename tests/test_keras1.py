"""Keras 1's calls on Keras 3 (vggcourse/keras1.py, and the model methods of _keras1_methods.py it
exports): each adapter against the Keras 3 call it stands for. Layer signatures: test_keras1_layers.py."""
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from vggcourse import keras1, optimizers, weights
from vggcourse.keras1 import (K, BatchNormalization, Convolution2D, Dense, Flatten, Input, Model, RMSprop, SGD,
                              Sequential, get_file, image, output_shape_of, to_categorical)

RNG = np.random.default_rng(0)
X = RNG.random((12, 8, 8, 3)).astype("float32")
Y = to_categorical(np.arange(12) % 2)


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = Sequential([Flatten(input_shape=(8, 8, 3)), Dense(4, activation="relu"), Dense(2, activation="softmax")])
    model.compile(SGD(lr=0.1), "categorical_crossentropy", metrics=["accuracy"])
    return model


def _twins():
    a, b = _model(), _model()
    b.set_weights(a.get_weights())
    return a, b


def _assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_fit_nb_epoch_is_fit_epochs():
    a, b = _twins()
    a.fit(X, Y, nb_epoch=2, batch_size=4, shuffle=False, verbose=0)
    b.fit(X, Y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    _assert_same_weights(a, b)
    with pytest.raises(TypeError, match="nb_epoch.*epochs"):
        a.fit(X, Y, nb_epoch=1, epochs=1)


def test_plain_lists_of_numbers_are_arrays_as_keras1_read_them():
    """Lesson 5's labels are a list of ints: Keras 1 took it as one array, Keras 3's fit refuses it."""
    a, b = _twins()
    labels = [list(row) for row in Y.tolist()]  # lists of numbers, as a pickle gives them
    a.fit(X, labels, nb_epoch=1, batch_size=4, shuffle=False, verbose=0, validation_data=(X, labels))
    b.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0, validation_data=(X, Y))
    _assert_same_weights(a, b)
    assert a.evaluate(X, labels, verbose=0) == pytest.approx(b.evaluate(X, Y, verbose=0))
    assert a.train_on_batch(X, labels) == pytest.approx(b.train_on_batch(X, Y))
    flat = Sequential([Dense(1, input_dim=3)])
    np.testing.assert_allclose(flat.predict([[1.0, 2.0, 3.0]], verbose=0),
                               flat.predict(np.array([[1.0, 2.0, 3.0]]), verbose=0))


def _flow(shuffle=False, batch_size=4):
    return image.ImageDataGenerator().flow(X, Y, batch_size=batch_size, shuffle=shuffle)


def test_fit_generator_is_fit():
    a, b = _twins()
    ha = a.fit_generator(_flow(), samples_per_epoch=12, nb_epoch=2, validation_data=_flow(),
                         nb_val_samples=12, verbose=0)
    hb = b.fit(_flow(), epochs=2, validation_data=_flow(), shuffle=False, verbose=0)
    _assert_same_weights(a, b)
    np.testing.assert_allclose(ha.history["val_loss"], hb.history["val_loss"], rtol=1e-5)


def test_fit_generator_counts_samples_of_a_python_generator():
    a, b = _twins()

    def batches():
        while True:
            for i in range(0, 12, 4):
                yield X[i:i + 4], Y[i:i + 4]

    a.fit_generator(batches(), samples_per_epoch=8, nb_epoch=1, verbose=0)  # 2 batches of 4
    b.fit(X[:8], Y[:8], batch_size=4, epochs=1, shuffle=False, verbose=0)
    _assert_same_weights(a, b)


def test_predict_and_evaluate_generators_are_predict_and_evaluate():
    model = _model()
    np.testing.assert_allclose(model.predict_generator(_flow(), 12), model.predict(X, verbose=0), rtol=1e-6)
    assert model.predict_generator(_flow(), 5).shape == (5, 2)
    np.testing.assert_allclose(model.evaluate_generator(_flow(), 12), model.evaluate(X, Y, verbose=0), rtol=1e-5)
    probs = model.predict(X, verbose=0)
    np.testing.assert_array_equal(model.predict_classes(X, verbose=0), probs.argmax(-1))
    np.testing.assert_allclose(model.predict_proba(X, verbose=0), probs, rtol=1e-6)
    np.testing.assert_array_equal(model.predict_classes(_flow(), verbose=0), probs.argmax(-1))


def _one_weight_model(opt):
    model = Sequential([Dense(1, input_dim=1, bias=False, init="zero")])
    model.compile(optimizer=opt, loss="mse")
    return model


def _step(model):
    """One SGD step on (x=1, y=1); returns the change of the single weight."""
    before = float(model.get_weights()[0][0, 0])
    model.fit(np.ones((1, 1)), np.ones((1, 1)), nb_epoch=1, batch_size=1, verbose=0)
    return float(model.get_weights()[0][0, 0]) - before, before


def test_lr_changes_the_step_taken():
    opt = SGD(lr=0.1)
    model = _one_weight_model(opt)
    for set_rate, lr in [(None, 0.1), (lambda: K.set_value(opt.lr, 0.01), 0.01),
                         (lambda: setattr(model.optimizer, "lr", 0.5), 0.5)]:
        if set_rate:
            set_rate()
        step, w = _step(model)
        assert step == pytest.approx(lr * 2 * (1 - w), rel=1e-5)  # d/dw (w - 1)^2 = 2 (w - 1)
    assert float(K.get_value(opt.lr)) == pytest.approx(0.5)


def test_compile_by_name_gives_course_optimizers():
    model = _model()
    model.compile("rmsprop", "categorical_crossentropy")
    assert isinstance(model.optimizer, optimizers.RMSprop)
    model.optimizer.lr = 0.25
    assert float(K.get_value(model.optimizer.learning_rate)) == pytest.approx(0.25)


def test_one_optimizer_trains_two_models_and_keeps_one_rate():
    """Keras 1 let one optimizer train several models (lesson 3); its lr stays shared."""
    opt = RMSprop(lr=0.01)
    first, second = _model(), _model(1)
    first.compile(opt, "categorical_crossentropy")
    first.fit(X, Y, verbose=0)
    second.compile(opt, "categorical_crossentropy")
    second.fit(X, Y, verbose=0)
    K.set_value(opt.lr, 0.003)
    assert float(K.get_value(second.optimizer.lr)) == pytest.approx(0.003)


def test_shared_layers_build_a_new_sequential():
    model = _model()
    conv = Sequential(model.layers[:2])
    assert conv.built and conv.output_shape == (None, 4)
    np.testing.assert_allclose(conv.predict(X, verbose=0),
                               keras.Model(model.inputs, model.layers[1].output).predict(X, verbose=0), rtol=1e-6)
    assert output_shape_of(model.layers[1]) == (None, 4)
    with pytest.raises(ValueError, match="not been used"):
        output_shape_of(Dense(2))


def test_functional_model_keras1_keywords_and_save(tmp_path):
    inp = Input((4,))
    model = Model(input=inp, output=Dense(2, activation="softmax")(inp))
    model.compile("adam", "categorical_crossentropy")
    x = RNG.random((6, 4)).astype("float32")
    assert model.predict_classes(x, verbose=0).shape == (6,)
    model.fit(x, to_categorical(np.arange(6) % 2), nb_epoch=1, verbose=0)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(again, Model) and hasattr(again, "fit_generator")
    assert isinstance(again.optimizer, optimizers.Adam)  # recompiled on load
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_a_model_runs_on_inputs_of_another_length_as_in_keras1(tmp_path):
    """Lesson 5 builds its multi-size convolution graph on Input((vocab_size, 50)) and calls it, in a
    Sequential, on 500 words of 50 numbers: Keras 1 ran it, Keras 3 alone refuses the shape."""
    from vggcourse.keras1 import Convolution1D, Embedding, Merge

    def graph(length):
        inp = Input((length, 8))
        convs = [Flatten()(Convolution1D(4, size, border_mode="same")(inp)) for size in (3, 5)]
        return Model(inp, Merge(mode="concat")(convs))

    wide = graph(100)
    model = Sequential([Embedding(50, 8, input_length=10), wide, Dense(1)])
    assert model.output_shape == (None, 1) and model.layers[-1].kernel.shape == (2 * 10 * 4, 1)
    exact = graph(10)
    exact.set_weights(wide.get_weights())
    words = RNG.integers(0, 50, (3, 10))
    embedded = model.layers[0](words)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(wide(embedded)), keras.ops.convert_to_numpy(exact(embedded)),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="incompatible shape"):
        wide(np.zeros((3, 8), "float32"))  # the rank is still checked
    with pytest.raises(ValueError, match="incompatible"):
        wide(np.zeros((3, 10, 5), "float32"))  # and the channels
    ids = Input((1,), dtype="int64")
    lookup = Model(ids, Flatten()(Embedding(5, 2, input_length=1)(ids)))
    assert lookup.predict(np.array([0, 3, 4]), verbose=0).shape == (3, 2)  # lesson 4: (n,) ids into Input((1,))
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras").predict(words, verbose=0),
                               model.predict(words, verbose=0), rtol=1e-5)


def test_course_h5_names_save_and_load(tmp_path):
    model = _model()
    model.save_weights(tmp_path / "ft1.h5")
    other = _model(5)
    other.load_weights(tmp_path / "ft1.h5")
    _assert_same_weights(model, other)
    # Keras 1 loaded by order: a model whose new top has another name still loads
    renamed = Sequential([Flatten(input_shape=(8, 8, 3)), Dense(4, activation="relu", name="fc"),
                          Dense(2, activation="softmax", name="predictions")])
    renamed.load_weights(tmp_path / "ft1.h5")
    _assert_same_weights(model, renamed)
    nested = Sequential([Flatten(input_shape=(8, 8, 3))])
    nested.add(Sequential([Dense(2, input_shape=(192,))]))
    nested.save_weights(tmp_path / "nested.h5")
    copy = Sequential([Flatten(input_shape=(8, 8, 3))])
    copy.add(Sequential([Dense(2, input_shape=(192,))]))
    copy.load_weights(tmp_path / "nested.h5")
    _assert_same_weights(nested, copy)


def test_weights_under_any_name_are_hdf5_as_in_keras1(tmp_path):
    """mnist.ipynb saves its models as 'cnn-mnist23-0.pkl': Keras 1 wrote HDF5 whatever the name."""
    import h5py

    model = _model()
    model.save_weights(tmp_path / "cnn-mnist23-0.pkl")
    assert h5py.is_hdf5(tmp_path / "cnn-mnist23-0.pkl")
    other = _model(5)
    other.load_weights(tmp_path / "cnn-mnist23-0.pkl")
    _assert_same_weights(model, other)
    model.save_weights(tmp_path / "keras3.weights.h5")  # Keras 3's own name: Keras 3's layout
    other.load_weights(tmp_path / "keras3.weights.h5")
    _assert_same_weights(model, other)


def test_image_generator_keras1_arguments():
    batches = image.ImageDataGenerator(dim_ordering="tf", featurewise_center=False).flow(X, Y, batch_size=5)
    assert batches.N == 12
    with pytest.raises(ValueError, match="channels-last"):
        image.ImageDataGenerator(dim_ordering="th")
    with pytest.warns(UserWarning, match="width_zoom_range"):
        image.ImageDataGenerator(width_zoom_range=0.05)


def test_get_file_uses_cache_packaged_file_and_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    path = get_file("imagenet_class_index.json", "http://files.fast.ai/models/imagenet_class_index.json",
                    cache_subdir="models")
    assert path == str(tmp_path / "keras" / "models" / "imagenet_class_index.json")
    src = tmp_path / "weights.bin"
    src.write_bytes(b"abc")
    got = get_file("weights.bin", src.as_uri(), cache_subdir="models")
    assert open(got, "rb").read() == b"abc"
    with pytest.raises(OSError, match="could not be downloaded .*nope.bin"):
        get_file("missing.bin", (tmp_path / "nope.bin").as_uri(), cache_subdir="models")


def test_get_file_checks_md5_and_never_deletes_a_copy_it_cannot_replace(tmp_path, monkeypatch):
    """lesson 7's get_annotations: files put in annos/ by hand, md5s from 2016, no internet."""
    import hashlib

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    annos = tmp_path / "annos"
    annos.mkdir()
    mine = annos / "bet_labels.json"
    mine.write_text("[1]")
    good = hashlib.md5(b"[1]").hexdigest()
    nowhere = (tmp_path / "offline" / "bet_labels.json").as_uri()
    assert get_file("bet_labels.json", nowhere, md5_hash=good, cache_subdir=str(annos)) == str(mine)
    with pytest.raises(OSError, match="failed its hash check"):
        get_file("bet_labels.json", nowhere, md5_hash="0" * 32, cache_subdir=str(annos))
    assert mine.read_text() == "[1]"  # kept: Keras' own get_file deletes it here
    server = tmp_path / "server.json"
    server.write_text("[2]")
    got = get_file("bet_labels.json", server.as_uri(), md5_hash=hashlib.md5(b"[2]").hexdigest(),
                   cache_subdir=str(annos))
    assert got == str(mine) and mine.read_text() == "[2]"
    with pytest.raises(OSError, match="hash check"):
        get_file("other.json", server.as_uri(), md5_hash="0" * 32, cache_subdir=str(annos))
    assert not (annos / "other.json").exists()


def test_get_file_uses_the_one_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", "~/kh")  # expanded, as weights.cache_dir() does
    monkeypatch.chdir(tmp_path)
    path = get_file("imagenet_class_index.json", "http://files.fast.ai/models/imagenet_class_index.json",
                    cache_subdir="models")
    assert path == str(weights.cache_dir() / "imagenet_class_index.json")
    assert path == str(tmp_path / "kh" / "models" / "imagenet_class_index.json")


def test_sequential_is_vgg_models_class_under_keras1s_name(tmp_path):
    """One class family: the course's Sequential is `vgg.model`'s class; its own class name keeps the
    paths Keras 3 gives a nested model's weights (`layers/sequential/...`), so earlier files load."""
    from vggcourse.model import VggSequential

    assert issubclass(Sequential, VggSequential) and keras1.Keras1Methods in Sequential.__mro__
    outer = Sequential([Flatten(input_shape=(8, 8, 3))])
    outer.add(Sequential([Dense(2, input_shape=(192,))]))
    outer.save_weights(tmp_path / "nested.h5")
    with h5py.File(tmp_path / "nested.h5") as f:
        assert "sequential" in f["layers"]


def test_backend_namespace():
    v = K.variable(np.ones(2))
    K.set_value(v, [3, 4])
    np.testing.assert_array_equal(K.get_value(v), [3, 4])
    assert K.eval(v).tolist() == [3, 4] and K.image_dim_ordering() == "tf"
    assert float(K.get_value(K.mean(v))) == 3.5  # falls back to keras.ops
    K.set_image_dim_ordering("tf")
    model = _model()
    hidden = K.function([model.inputs[0]], [model.layers[1].output])([X])[0]
    np.testing.assert_allclose(hidden, keras.Model(model.inputs, model.layers[1].output).predict(X, verbose=0),
                               rtol=1e-5)


def test_predict_generator_with_k_times_the_samples_returns_k_passes_in_order():
    from vggcourse.image import ImageDataGenerator

    model = _model()
    once = model.predict(X, verbose=0)
    plain = ImageDataGenerator().flow(X, batch_size=5, shuffle=False)
    np.testing.assert_allclose(model.predict_generator(plain, plain.nb_sample * 3),
                               np.concatenate([once] * 3), rtol=1e-5)
    assert model.predict_generator(plain, plain.nb_sample * 2 + 1).shape == (25, 2)
    augmented = ImageDataGenerator(width_shift_range=0.3, horizontal_flip=True).flow(
        X, batch_size=5, shuffle=False, seed=1)
    passes = model.predict_generator(augmented, augmented.nb_sample * 2).reshape(2, 12, 2)
    assert not np.allclose(passes[0], passes[1])  # each pass has augmentations of its own


def test_learning_phase_in_k_function_switches_dropout():
    from vggcourse.keras1 import Dropout

    model = Sequential([Flatten(input_shape=(8, 8, 3)), Dense(64, activation="relu"), Dropout(0.5), Dense(3)])
    f = K.function([model.layers[0].input, K.learning_phase()], model.layers[2].output)
    off = f([X, 0])  # one tensor in `outputs`: one array back, as Keras 1 gave
    dense = keras.Model(model.inputs, model.layers[1].output).predict(X, verbose=0)
    np.testing.assert_allclose(off, dense, rtol=1e-5)
    on = f([X, 1])
    dropped = (on == 0) & (dense != 0)
    assert 0.3 < dropped.sum() / (dense != 0).sum() < 0.7  # about half of the units dropped
    np.testing.assert_allclose(on[~dropped & (dense != 0)], 2 * dense[~dropped & (dense != 0)], rtol=1e-5)
    with pytest.raises(ValueError, match="learning phase.*Received: learning phase=2"):
        f([X, 2])
    with pytest.raises(ValueError, match="takes a list of 2 values"):
        f([X])


@pytest.mark.parametrize("call, error, text", [
    (lambda: Convolution2D(4, 3, 3, border_mode="nope"), ValueError, "border_mode.*'same', 'valid'.*nope"),
    (lambda: Convolution2D(4, 3, 3, border_mode="full"), ValueError, "ZeroPadding2D"),
    (lambda: Dense(2, outputdim=3), TypeError, "unknown argument `outputdim`"),
    (lambda: Convolution2D(4, 3, 3, dim_ordering="th"), ValueError, "channels-last"),
    (lambda: BatchNormalization(mode=1), ValueError, "LayerNormalization"),
    (lambda: Dense(2, weights=[np.ones((2, 2))]), TypeError, "set_weights"),
    (lambda: K.set_image_dim_ordering("th"), ValueError, "channels-last"),
    (lambda: K.set_value(0.1, 0.2), TypeError, "variable"),
    (lambda: K.no_such_function, AttributeError, "keras.ops"),
    (lambda: _model().fit_generator(_flow(), 12, 1, nb_wroker=2), TypeError, "unknown argument `nb_wroker`"),
    (lambda: _model().fit_generator(_flow(), samples_per_epoch=0), ValueError, "samples_per_epoch"),
    (lambda: _model().predict_generator(X, 12), TypeError, "generator of batches"),
    (lambda: keras1.merge([], mode="x"), ValueError,
     r"merge: `mode` must be one of 'ave', .*Received: mode='x'\. For another function use keras.layers.Lambda"),
    (lambda: _model().fit_generator(_flow(), samples_per_epoch=True), ValueError,
     r"fit_generator: `samples_per_epoch` must be a whole number of samples, at least 1\. Received: "
     r"samples_per_epoch=True"),
])
def test_bad_input_names_the_argument(call, error, text):
    with pytest.raises(error, match=text):
        call()


def test_module_exports():
    assert not [name for name in keras1.__all__ if not hasattr(keras1, name)]


@pytest.mark.parametrize("call", ["fit_nb_epoch", "fit_epochs", "fit_generator"])
def test_a_fractional_number_of_epochs_is_refused_not_truncated(call):
    from vggcourse.errors import UserInputError
    from vggcourse.keras1 import Dense, Sequential

    model = Sequential([Dense(2, activation="softmax", input_shape=(3,))])
    model.compile("sgd", "categorical_crossentropy")
    x, y = np.zeros((4, 3), "float32"), np.eye(2, dtype="float32")[[0, 1, 0, 1]]
    name = "epochs" if call == "fit_epochs" else "nb_epoch"
    with pytest.raises(UserInputError, match=rf"`{name}` must be a whole number of epochs, at least 0\. "
                                             rf"Received: {name}=2\.5"):
        if call == "fit_generator":
            model.fit_generator(iter([(x, y)] * 8), samples_per_epoch=4, nb_epoch=2.5)
        else:
            model.fit(x, y, verbose=0, **{name: 2.5})


def test_get_file_untar_unpacks_beside_the_archive_and_returns_the_courses_path(tmp_path):
    """lesson 5's get_glove_dataset: `<name>.tgz` holding `<name>.dat/`, `<name>_words.pkl`; the
    course's path is `<folder>/<name>`, which itself need not exist."""
    import hashlib
    import tarfile

    content = tmp_path / "content"
    (content / "6B.50d.dat").mkdir(parents=True)
    (content / "6B.50d.dat" / "meta").write_text("m")
    (content / "6B.50d_words.pkl").write_bytes(b"w")
    tgz = tmp_path / "served" / "6B.50d.tgz"
    tgz.parent.mkdir()
    with tarfile.open(tgz, "w:gz") as tar:
        for entry in ("6B.50d.dat", "6B.50d_words.pkl"):
            tar.add(content / entry, arcname=entry)
    results = tmp_path / "glove" / "results"
    loc = get_file("6B.50d", tgz.as_uri(), cache_subdir=str(results), untar=True,
                   md5_hash=hashlib.md5(tgz.read_bytes()).hexdigest())
    assert loc == str(results / "6B.50d")
    assert (results / "6B.50d.dat" / "meta").read_text() == "m" and Path(loc + "_words.pkl").read_bytes() == b"w"
    assert (results / "6B.50d.tar.gz").is_file() and not list(results.glob(".unpack-*"))
    (results / "6B.50d_words.pkl").write_bytes(b"mine")
    assert get_file("6B.50d", tgz.as_uri(), cache_subdir=str(results), untar=True) == loc
    assert (results / "6B.50d_words.pkl").read_bytes() == b"mine"  # unpacking again keeps what is there
    archive = get_file("data.tgz", tgz.as_uri(), cache_subdir=str(tmp_path / "k2"), extract=True)  # Keras 2's
    assert archive == str(tmp_path / "k2" / "data.tgz") and (tmp_path / "k2" / "6B.50d_words.pkl").is_file()
    import zipfile

    zipped = tmp_path / "served" / "words.zip"
    with zipfile.ZipFile(zipped, "w") as archive_file:
        archive_file.write(content / "6B.50d_words.pkl", "6B.50d_words.pkl")
    archive = get_file("words.zip", zipped.as_uri(), cache_subdir=str(tmp_path / "k3"), extract=True)
    assert archive == str(tmp_path / "k3" / "words.zip") and (tmp_path / "k3" / "6B.50d_words.pkl").read_bytes() == b"w"


def test_get_file_refuses_to_unpack_what_is_not_an_archive_or_leaves_its_folder(tmp_path):
    import io
    import tarfile

    from vggcourse.errors import UserInputError

    text = tmp_path / "notes.txt"
    text.write_text("not an archive")
    with pytest.raises(UserInputError, match=r"neither a tar nor a zip archive.*download it again"):
        get_file("notes", text.as_uri(), cache_subdir=str(tmp_path / "a"), untar=True)
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(UserInputError, match="could not be unpacked"):
        get_file("evil", evil.as_uri(), cache_subdir=str(tmp_path / "b"), untar=True)
    assert not (tmp_path / "outside.txt").exists()
