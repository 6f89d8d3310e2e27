"""Keras 1's layer signatures on Keras 3 (vggcourse/_keras1_layers.py, exported by vggcourse.keras1):
each against the Keras 3 layer it stands for, and the course's channels-first shapes read as
channels-last."""
import keras
import numpy as np
import pytest

from vggcourse.errors import UserInputError, is_user_error
from vggcourse.keras1 import (LSTM, BatchNormalization, Convolution1D, Convolution2D, Dense, Dropout, Embedding,
                              Flatten, Input, Lambda, MaxPooling1D, MaxPooling2D, Sequential, ZeroPadding2D, l2)

X = np.random.default_rng(0).random((12, 8, 8, 3)).astype("float32")


def _same_output(old, new, x):
    """Build both layers on `x`, give `new` the weights of `old`, compare their outputs."""
    out_old = keras.ops.convert_to_numpy(old(x))
    new(x)
    new.set_weights(old.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(new(x)), out_old, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("old, new", [
    (lambda: Convolution2D(4, 3, 3, border_mode="same", subsample=(2, 2), activation="relu"),
     lambda: keras.layers.Conv2D(4, (3, 3), padding="same", strides=(2, 2), activation="relu")),
    (lambda: Convolution2D(4, 3, 3, init="he_normal", bias=False),
     lambda: keras.layers.Conv2D(4, (3, 3), use_bias=False)),
    (lambda: MaxPooling2D((2, 2), strides=(2, 2)), lambda: keras.layers.MaxPooling2D(2, 2)),
    (lambda: ZeroPadding2D((1, 1)), lambda: keras.layers.ZeroPadding2D(1)),
    (lambda: BatchNormalization(axis=1, mode=0), lambda: keras.layers.BatchNormalization(axis=-1)),
])
def test_layer_signatures_match_keras3(old, new):
    _same_output(old(), new(), X)


def test_dense_output_dim_and_input_dim():
    layer = Dense(output_dim=3, input_dim=5, activation="relu")
    model = Sequential([layer])
    assert model.input_shape == (None, 5) and model.output_shape == (None, 3)
    _same_output(Dense(3, activation="relu"), keras.layers.Dense(3, activation="relu"), X[:, 0, 0, :])
    assert isinstance(layer, Dense) and type(layer) is keras.layers.Dense
    assert Dropout(0.3).rate == 0.3


def test_channels_first_shapes_become_channels_last():
    model = Sequential([Convolution2D(4, 3, 3, input_shape=(3, 16, 16))])
    assert model.input_shape == (None, 16, 16, 3)
    assert Input((3, 224, 224)).shape == (None, 224, 224, 3)
    assert Input((4096,)).shape == (None, 4096)


def test_channels_first_image_arrays_are_transposed_by_one_rule():
    from vggcourse._keras1_layers import channels_last_images

    first = np.arange(2 * 1 * 6 * 5, dtype="float32").reshape(2, 1, 6, 5)
    np.testing.assert_array_equal(channels_last_images(first), first.transpose(0, 2, 3, 1))
    last = first.transpose(0, 2, 3, 1)
    assert channels_last_images(last) is last
    assert channels_last_images(first, expected=(None, 5, 6, 1)) is first  # not the model's shape
    one = first[0]
    assert channels_last_images(one) is one  # not a batch


def _mnist_like_model():
    """The course's MNIST convnet, small: declared channels-first as the notebook does."""
    keras.utils.set_random_seed(1)
    model = Sequential([
        Lambda(lambda x: x / 255.0, input_shape=(1, 10, 10)),
        Convolution2D(4, 3, 3, activation="relu"),
        BatchNormalization(axis=1),
        Flatten(),
        Dense(3, activation="softmax"),
    ])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_channels_first_model_takes_the_courses_channels_first_arrays():
    """mnist.ipynb: `np.expand_dims(X, 1)` (n, 1, 28, 28) arrays into a model declared (1, 28, 28):
    every Keras 1 method gives what the channels-last arrays give."""
    rng = np.random.default_rng(0)
    last = (rng.random((16, 10, 10, 1)) * 255).astype("float32")
    first = last.transpose(0, 3, 1, 2)
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 16)]
    model = _mnist_like_model()
    assert model.input_shape == (None, 10, 10, 1)
    np.testing.assert_allclose(model.predict(first, verbose=0), model.predict(last, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(first), model.predict_on_batch(last), rtol=1e-6)
    np.testing.assert_allclose(model.evaluate(first, y, verbose=0), model.evaluate(last, y, verbose=0),
                               rtol=1e-6)
    np.testing.assert_allclose(model.test_on_batch(first, y), model.test_on_batch(last, y), rtol=1e-6)
    other = _mnist_like_model()
    h_first = model.fit(first, y, nb_epoch=2, batch_size=8, shuffle=False, verbose=0,
                        validation_data=(first, y)).history
    h_last = other.fit(last, y, nb_epoch=2, batch_size=8, shuffle=False, verbose=0,
                       validation_data=(last, y)).history
    for key in h_last:
        np.testing.assert_allclose(h_first[key], h_last[key], rtol=1e-4, atol=1e-6)
    model.train_on_batch(first, y)
    other.train_on_batch(last, y)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_flow_reads_channels_first_arrays_as_the_course_did():
    from vggcourse.keras1 import image

    first = np.arange(4 * 1 * 6 * 5, dtype="float32").reshape(4, 1, 6, 5)
    batches = image.ImageDataGenerator().flow(first, np.arange(4), batch_size=4, shuffle=False)
    x, y = batches[0]
    np.testing.assert_array_equal(x, first.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y, np.arange(4))
    rotated = image.ImageDataGenerator(rotation_range=90).flow(first, batch_size=4, seed=0)[0]
    assert rotated.shape == (4, 6, 5, 1)


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="PyTorch tensors have no negative-step slices: the course's x[:, ::-1] "
                           "needs keras.ops.flip(x, axis=1) on that backend")
def test_course_lambda_preprocess_equals_vggpreprocess():
    """The course's channels-first vgg_preprocess, in a Lambda with (3, h, w), equals VggPreprocess."""
    from vggcourse.preprocessing import VggPreprocess

    vgg_mean = np.array([123.68, 116.779, 103.939]).reshape((3, 1, 1))

    def vgg_preprocess(x):
        return (x - vgg_mean)[:, ::-1]

    model = Sequential([Lambda(vgg_preprocess, input_shape=(3, 8, 8), output_shape=(3, 8, 8))])
    assert model.output_shape == (None, 8, 8, 3)
    pixels = X * 255
    expected = keras.ops.convert_to_numpy(VggPreprocess()(pixels))
    np.testing.assert_allclose(model.predict(pixels, verbose=0), expected, rtol=1e-5, atol=1e-3)


def test_embedding_in_the_course_spelling_builds_and_trains():
    """Lessons 4-6: Embedding(vocab, dims, input_length=, W_regularizer=, init=, mask_zero=)."""
    embedding = Embedding(50, 4, input_length=6, W_regularizer=l2(1e-4), init="uniform", mask_zero=False)
    model = Sequential([embedding, Flatten(), Dense(1, activation="sigmoid")])
    assert tuple(embedding.output.shape) == (None, 6, 4) and model.output_shape == (None, 1)
    assert Sequential([Embedding(50, 4, input_shape=(6,))]).output_shape == (None, 6, 4)
    assert embedding.embeddings_regularizer is not None and embedding.embeddings_initializer.maxval == 0.05
    model.compile(optimizer="adam", loss="binary_crossentropy")
    before = embedding.get_weights()[0].copy()
    words = np.random.default_rng(0).integers(0, 50, (8, 6))
    loss = model.train_on_batch(words, np.ones((8, 1), "float32"))
    assert np.isfinite(loss) and not np.allclose(embedding.get_weights()[0], before)


def test_embedding_takes_the_course_weights_and_mask_zero():
    vectors = np.random.default_rng(1).random((10, 3)).astype("float32")
    layer = Embedding(10, 3, input_length=2, weights=[vectors], mask_zero=True, trainable=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(np.array([[1, 0]]))), vectors[[[1, 0]]])
    assert layer.mask_zero and not layer.trainable


def test_embedding_dropout_drops_whole_words_in_training_only(tmp_path):
    """Keras 1's `Embedding(..., dropout=p)` (lesson 5): in training each word of the vocabulary is
    dropped for the batch (every occurrence zeroed) with probability p, the others scaled by
    1 / (1 - p); in inference it is keras.layers.Embedding on the same weights."""
    from vggcourse.keras1 import WordDropoutEmbedding

    vectors = np.random.default_rng(2).random((1000, 3)).astype("float32") + 0.5
    layer = Embedding(1000, 3, dropout=0.25, weights=[vectors], seed=7)
    assert isinstance(layer, WordDropoutEmbedding) and isinstance(layer, keras.layers.Embedding)
    words = np.tile(np.arange(1000), (2, 1))  # every word twice, in two samples
    plain = keras.layers.Embedding(1000, 3)
    _same_output(layer, plain, words)  # inference: the Keras 3 layer's output
    out = keras.ops.convert_to_numpy(layer(words, training=True))
    ratio = out / vectors[words]
    kept = np.isclose(ratio, 1 / 0.75).all(axis=-1)
    assert (kept | np.isclose(ratio, 0).all(axis=-1)).all()  # a vector is all dropped or all scaled
    assert (kept[0] == kept[1]).all()  # a word is dropped everywhere in the batch, as its row was
    assert 0.2 < 1 - kept[0].mean() < 0.3
    assert Embedding(50, 4, dropout=0).__class__ is keras.layers.Embedding  # Keras 1's default: nothing to drop
    model = keras.Sequential([keras.Input((4,)), Embedding(1000, 3, dropout=0.25)])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].dropout == 0.25
    np.testing.assert_allclose(loaded.predict(words[:, :4], verbose=0), model.predict(words[:, :4], verbose=0))
    with pytest.raises(UserInputError, match=r"Embedding: `dropout` must be a number in \[0, 1\)\. Received: dropout=1"):
        Embedding(50, 4, dropout=1)


@pytest.mark.parametrize("call, text", [
    (lambda: Dense(3, init="nonexistent"),
     r"Dense: `init` must be one of .*'glorot_uniform', .*'he_normal', .*'uniform'.*Received: init='nonexistent'"),
    (lambda: LSTM(3, inner_init="nonexistent"), r"LSTM: `inner_init` must be one of .*Received: inner_init="),
    (lambda: BatchNormalization(gamma_init="nonexistent"), r"`gamma_init` must be one of .*'ones'"),
    (lambda: Embedding(5, 2, init="nonexistent"), r"Embedding: `init` must be one of"),
    (lambda: Convolution2D(4, 3, 3, subsample=(0, 0)),
     r"Convolution2D: `subsample` must be a whole number >= 1 or a tuple of 2 of them\. Received: subsample=\(0, 0\)"),
    (lambda: Convolution2D(4, 3, 3, subsample=(2, 2, 2)), r"`subsample` .*Received: subsample=\(2, 2, 2\)"),
    (lambda: Convolution2D(4, 0, 3), r"`nb_row` must be a whole number >= 1.*Received: nb_row=0"),
    (lambda: Convolution2D(4, (3, 0)), r"`nb_row` .*Received: nb_row=\(3, 0\)"),
    (lambda: Convolution2D(0, 3, 3), r"`nb_filter` must be a whole number >= 1\. Received: nb_filter=0"),
    (lambda: Convolution1D(4, 3, subsample_length=0), r"`subsample_length` .*a tuple of one.*subsample_length=0"),
    (lambda: Dense(-1), r"Dense: `output_dim` must be a whole number >= 1\. Received: output_dim=-1"),
    (lambda: Dense(output_dim=2.5), r"`output_dim` must be a whole number >= 1\. Received: output_dim=2\.5"),
    (lambda: Dense(units=0), r"`units` must be a whole number >= 1\. Received: units=0"),
    (lambda: Dense(2, input_dim=0), r"`input_dim` .*Received: input_dim=0"),
    (lambda: Embedding(0, 3), r"Embedding: `input_dim` .*Received: input_dim=0"),
    (lambda: Embedding(5, 3, input_length=-2), r"`input_length` .*Received: input_length=-2"),
    (lambda: LSTM(0), r"LSTM: `output_dim` .*Received: output_dim=0"),
    (lambda: MaxPooling2D(strides=(0, 0)), r"MaxPooling2D: `strides` must be .*Received: strides=\(0, 0\)"),
    (lambda: MaxPooling2D((0, 0)), r"MaxPooling2D: `pool_size` must be .*Received: pool_size=\(0, 0\)"),
    (lambda: MaxPooling1D(pool_length=0), r"`pool_length` .*Received: pool_length=0"),
    (lambda: MaxPooling1D(stride=0), r"`stride` .*Received: stride=0"),
    (lambda: Convolution2D(4, 3, 3, border_mode="nope"), r"`border_mode` must be one of 'same', 'valid'"),
    (lambda: BatchNormalization(axis=0), r"`axis` must be a whole number other than 0 .*Received: axis=0"),
    (lambda: BatchNormalization(axis="x"), r"`axis` .*Received: axis='x'"),
])
def test_bad_values_are_refused_at_construction_under_the_keras1_name(call, text):
    with pytest.raises(UserInputError, match=text) as raised:
        call()
    assert is_user_error(raised.value)


def test_good_values_still_build():
    assert MaxPooling2D((2, 2), strides=None).strides == (2, 2)
    assert MaxPooling1D(2, stride=1).strides == (1,)
    assert Convolution2D(4, 3, 3, subsample=2).strides == (2, 2)
    assert Dense(2, init="GlorotUniform").units == 2  # Keras 3's class names too
    assert Dense(2, input_dim=None).units == 2


@pytest.mark.parametrize("build", [
    lambda: Sequential([BatchNormalization(axis=5, input_shape=(4, 4, 3))]),
    lambda: BatchNormalization(axis=5)(X),
    lambda: Sequential([Dense(3, input_dim=2), BatchNormalization(axis=-3)]),
])
def test_batch_norm_axis_outside_the_input_is_refused_at_build(build):
    with pytest.raises(UserInputError, match=r"BatchNormalization: `axis` must be from 1 to \d or from -\d to -1 "
                                             r"for an input of rank \d \(shape \(.*\)\)\. Received: axis=-?[35]"):
        build()


def test_batch_norm_axis_inside_the_input_builds():
    assert BatchNormalization(axis=2)(X).shape == X.shape
    assert Sequential([Dense(3, input_dim=2), BatchNormalization(axis=1)]).output_shape == (None, 3)


# ---- issue 20: merge modes, Merge, consume_less, stateful recurrent layers

def test_merge_modes_give_the_keras3_layers_outputs():
    from vggcourse.keras1 import Merge, merge

    rng = np.random.default_rng(1)
    a, b = (rng.normal(size=(4, 5)).astype("float32") for _ in range(2))
    ta, tb = keras.Input((5,)), keras.Input((5,))
    for mode, want in [("sum", a + b), ("mul", a * b), ("ave", (a + b) / 2), ("max", np.maximum(a, b)),
                       ("concat", np.concatenate([a, b], axis=-1)),
                       ("dot", (a * b).sum(axis=1, keepdims=True)),
                       ("cos", (a * b).sum(axis=1, keepdims=True)
                        / np.linalg.norm(a, axis=1, keepdims=True) / np.linalg.norm(b, axis=1, keepdims=True))]:
        for made in (merge([ta, tb], mode=mode, dot_axes=1), Merge(mode=mode, dot_axes=1)([ta, tb])):
            got = keras.Model([ta, tb], made).predict([a, b], verbose=0)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=mode)


def test_lesson5s_merge_layer_joins_the_convolutions():
    from vggcourse.keras1 import Merge, Model

    graph_in = Input((10, 6))
    convs = [Flatten()(MaxPooling1D()(Convolution1D(4, size, border_mode="same")(graph_in))) for size in (3, 4)]
    graph = Model(graph_in, Merge(mode="concat")(convs))
    assert graph.output_shape == (None, 2 * 5 * 4)


@pytest.mark.parametrize("call, text", [
    (lambda: __import__("vggcourse.keras1", fromlist=["Merge"]).Merge(mode="bogus"),
     r"Merge: `mode` must be one of 'ave', 'concat', 'cos', 'dot', 'max', 'mul', 'sum'\. Received: mode='bogus'"),
    (lambda: LSTM(3, consume_less="bogus"),
     r"LSTM: `consume_less` must be one of 'cpu', 'gpu', 'mem'\. Received: consume_less='bogus'"),
])
def test_a_bad_merge_mode_or_consume_less_names_the_argument_and_the_choices(call, text):
    with pytest.raises(UserInputError, match=text):
        call()


def test_merging_models_in_a_sequential_is_refused_naming_the_functional_api():
    from vggcourse.keras1 import Merge

    with pytest.raises(TypeError, match=r"Merge: merging models .*Model\(\[model_a.input, model_b.input\], x\)"):
        Merge([Sequential([Dense(2, input_dim=3)]), Sequential([Dense(2, input_dim=3)])], mode="concat")


def test_the_courses_recurrent_arguments_are_keras3s():
    old = LSTM(3, return_sequences=True, dropout_W=0.2, dropout_U=0.1, consume_less="gpu", inner_init="orthogonal",
               U_regularizer=l2(1e-4))
    assert (old.return_sequences, old.dropout, old.recurrent_dropout) == (True, 0.2, 0.1)
    assert old.cell.recurrent_regularizer.l2 == pytest.approx(1e-4)
    x = np.random.default_rng(2).normal(size=(2, 4, 3)).astype("float32")
    _same_output(LSTM(3, consume_less="mem"), keras.layers.LSTM(3), x)


def test_a_stateful_lstm_keeps_its_state_and_reset_states_clears_it():
    # lesson 6's stateful model, small: Keras 1's batch_input_shape, then model.reset_states()
    model = Sequential([Embedding(6, 3, input_length=4, batch_input_shape=(2, 4)),
                        LSTM(5, return_sequences=True, stateful=True)])
    assert model.input_shape == (2, 4)
    x = np.array([[1, 2, 3, 4], [5, 4, 3, 2]])
    passes = [lambda: keras.ops.convert_to_numpy(model(x))]
    if keras.backend.backend() != "jax":  # Keras 3's JAX trainer does not carry an RNN's state from one predict to the next
        passes.append(lambda: model.predict(x, batch_size=2, verbose=0))
    for run in passes:
        model.reset_states()
        first = run()
        assert not np.allclose(run(), first)  # the second pass starts from the state the first left
        model.reset_states()
        np.testing.assert_allclose(run(), first, rtol=1e-5, atol=1e-6)
