"""The course's `utils` names, on the real sample at small sizes."""
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vggcourse import utils  # noqa: E402

COURSE_NAMES = [
    "plots", "plot_confusion_matrix", "save_array", "load_array", "get_batches", "get_data",
    "get_classes", "onehot", "do_clip", "copy_model", "copy_layers", "copy_weights", "insert_layer",
    "adjust_dropout", "split_at", "vgg_ft", "vgg_ft_bn", "MixIterator", "mk_square", "mk_size", "gray",
    "to_plot", "plot",
]


def test_every_course_name_is_there():
    assert not [name for name in COURSE_NAMES if not callable(getattr(utils, name, None))]
    assert set(COURSE_NAMES) <= set(utils.__all__)
    namespace = {}
    exec("from vggcourse.utils import *", namespace)
    assert set(COURSE_NAMES) <= set(namespace)


def test_get_batches(dogscats):
    batches = utils.get_batches(dogscats / "valid", shuffle=False, target_size=(20, 24))
    x, y = batches[0]
    assert x.shape == (4, 20, 24, 3) and y.shape == (4, 2)
    assert batches.class_indices == {"cats": 0, "dogs": 1} and batches.n == 100


def test_get_data_is_uint8_in_file_order(dogscats):
    data = utils.get_data(dogscats / "valid", target_size=(16, 16), batch_size=32)
    assert data.shape == (100, 16, 16, 3) and data.dtype == np.uint8
    batches = utils.get_batches(dogscats / "valid", shuffle=False, batch_size=100, target_size=(16, 16))
    x, _ = batches[0]
    assert np.array_equal(data, np.clip(np.rint(x), 0, 255).astype(np.uint8))
    as_float = utils.get_data(dogscats / "valid", target_size=(16, 16), dtype=np.float32)
    assert as_float.dtype == np.float32 and np.allclose(as_float, x)


def test_get_classes(dogscats):
    val_classes, trn_classes, val_labels, trn_labels, val_files, files, test_files = utils.get_classes(dogscats)
    assert trn_classes.shape == (200,) and val_classes.shape == (100,)
    assert trn_labels.shape == (200, 2) and np.array_equal(val_labels.argmax(1), val_classes)
    assert files[0].startswith("cats/") and val_files[-1].startswith("dogs/")
    assert len(test_files) == 100 and all(f.startswith("unknown/") for f in test_files)
    assert utils.get_classes(str(dogscats) + "/")[6] == test_files  # the course's trailing slash


def test_get_classes_with_an_empty_test_folder(dogscats, tmp_path, capsys):
    import shutil

    from vggcourse.errors import UserInputError

    for part in ("train", "valid"):
        shutil.copytree(dogscats / part, tmp_path / part)
    (tmp_path / "test").mkdir()  # State Farm's notebook makes an empty sample/test
    val_classes, trn_classes, *_, test_files = utils.get_classes(tmp_path)
    assert test_files == [] and trn_classes.shape == (200,) and val_classes.shape == (100,)
    out = capsys.readouterr().out
    assert out.splitlines() == ["Found 200 images belonging to 2 classes.", "Found 100 images belonging to 2 classes.",
                                f"Found 0 images belonging to 0 classes in {tmp_path / 'test'}: no test filenames."]
    (tmp_path / "test" / "unknown").mkdir()  # an empty class folder is the same
    assert utils.get_classes(tmp_path)[6] == []
    for cls in ("cats", "dogs"):  # an empty valid folder stays an error naming it
        shutil.rmtree(tmp_path / "valid" / cls)
        (tmp_path / "valid" / cls).mkdir()
    with pytest.raises(UserInputError, match=r"^No images .* found in .*valid"):
        utils.get_classes(tmp_path)


def test_saved_filenames_and_features_round_trip(dogscats, tmp_path):
    files = utils.get_classes(dogscats)[5]
    data = utils.get_data(dogscats / "train", target_size=(8, 8))
    utils.save_array(tmp_path / "filenames.dat", files)
    utils.save_array(tmp_path / "train.dat", data, chunk_bytes=1000)
    assert list(utils.load_array(tmp_path / "filenames.dat")) == files
    assert np.array_equal(utils.load_array(tmp_path / "train.dat", mmap=True), data)


def test_mix_iterator_over_real_batches(dogscats):
    trn = utils.get_batches(dogscats / "train", batch_size=4, target_size=(8, 8))
    val = utils.get_batches(dogscats / "valid", batch_size=2, target_size=(8, 8))
    mix = utils.MixIterator([trn, val])
    x, y = next(mix)
    assert x.shape == (6, 8, 8, 3) and y.shape == (6, 2) and mix.N == 300
    assert len(mix) == 50 and mix[49][0].shape == (6, 8, 8, 3)


def test_image_helpers_and_plots_on_real_images(dogscats, tmp_path):
    imgs = utils.get_data(dogscats / "valid", target_size=(30, 40))[:5]
    assert utils.mk_square(imgs[0]).shape == (40, 40, 3)
    assert utils.mk_size(imgs[0], 1.0).shape == (40, 40, 3)
    assert utils.gray(imgs).shape == (5, 30, 40)
    assert utils.to_plot(imgs[0].astype(np.float32)).dtype == np.uint8
    for name, fig in [("plots", utils.plots(imgs, rows=2, titles=list("abcde"))),
                      ("plot", utils.plot(imgs[0])),
                      ("gray", utils.plots(utils.gray(imgs)[:, :, :, None], rows=1))]:
        fig.savefig(tmp_path / f"{name}.png")
        plt.close(fig)
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_onehot_and_do_clip():
    assert utils.onehot(np.array([1, 0])).tolist() == [[0, 1], [1, 0]]
    clipped = utils.do_clip(np.array([[1.0, 0.0, 0.0]]), 0.9)
    np.testing.assert_allclose(clipped, [[0.9, 0.05, 0.05]])


def test_vgg_ft_and_split_at_on_vgg(dogscats):
    keras = pytest.importorskip("keras")
    pytest.importorskip("vggcourse.model")
    model = utils.vgg_ft(2, weights=None, size=(32, 32))
    assert model.output_shape == (None, 2) and model.layers[-1].trainable
    convs, dense = utils.split_at(model, keras.layers.Conv2D)
    assert convs[-1].name == "block5_conv3" and dense[0].name == "block5_pool"


# Every name that the course's utils.py, vgg16.py and vgg16bn.py put into a notebook's namespace.
COURSE_NAMESPACE = [
    "math", "os", "json", "sys", "re", "pickle", "glob", "np", "plt", "itemgetter", "attrgetter",
    "methodcaller", "OrderedDict", "itertools", "chain", "pd", "PIL", "Image", "random", "permutation",
    "randn", "normal", "uniform", "choice", "newaxis", "scipy", "misc", "ndimage", "zoom", "imread",
    "confusion_matrix", "bcolz", "OneHotEncoder", "TSNE", "FileLink", "theano", "shared", "T", "conv2d",
    "nnet", "pool", "keras", "K", "get_file", "np_utils", "to_categorical", "Sequential", "Model", "Input",
    "Embedding", "Reshape", "merge", "LSTM", "Bidirectional", "TimeDistributed", "Activation", "SimpleRNN",
    "GRU", "Flatten", "Dense", "Dropout", "Lambda", "l2", "activity_l2", "l1", "activity_l1",
    "BatchNormalization", "SGD", "RMSprop", "Adam", "layer_from_config", "categorical_crossentropy",
    "categorical_accuracy", "Convolution1D", "Convolution2D", "MaxPooling1D", "MaxPooling2D",
    "ZeroPadding2D", "AveragePooling2D", "UpSampling2D", "image", "sequence", "Tokenizer",
    "GlobalAveragePooling2D", "vgg_mean", "vgg_preprocess", "Vgg16", "Vgg16BN", "to_bw", "floor", "ceil",
    "wrap_config", "copy_layer",
]


def test_the_course_namespace_is_there():
    namespace = {}
    exec("from vggcourse.utils import *", namespace)
    assert not [name for name in COURSE_NAMESPACE if name not in namespace]
    assert len(utils.__all__) == len(set(utils.__all__))


@pytest.mark.parametrize("name, replacement", [
    ("bcolz", "save_array"), ("conv2d", "keras.ops.conv"), ("pool", "keras.ops.max_pool"),
    ("misc", "imread"),
])
def test_gone_names_raise_naming_the_replacement(name, replacement):
    gone = getattr(utils, name)
    with pytest.raises(TypeError, match=replacement):
        gone.carray([1], rootdir="x")
    assert replacement in repr(gone)


def test_plots_takes_the_course_extra_titles(dogscats):
    imgs = utils.get_data(dogscats / "valid", target_size=(16, 16))[:4]
    fig = utils.plots(imgs, titles=np.linspace(0, 1, 100))  # the course passed every probability
    assert [ax.get_title() for ax in fig.axes][:2] == ["0.0", "0.010101010101010102"]
    plt.close(fig)


def test_imread_imresize_and_vgg_preprocess(dogscats):
    path = sorted((dogscats / "valid" / "cats").glob("*.jpg"))[0]
    img = utils.imread(path)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[-1] == 3
    assert utils.imresize(img, (10, 20)).shape == (10, 20, 3)
    x = np.full((1, 2, 2, 3), [123.68, 116.779, 103.939 + 1], dtype=np.float32)
    np.testing.assert_allclose(utils.vgg_preprocess(x)[0, 0, 0], [1, 0, 0], atol=1e-4)  # BGR, mean-free
    from vggcourse.preprocessing import VggPreprocess

    np.testing.assert_allclose(utils.vgg_preprocess(x), np.asarray(VggPreprocess()(x)), atol=1e-4)


def test_imresize_takes_the_decoders_filters_and_names_a_wrong_one():
    from vggcourse.decode import INTERPOLATIONS
    from vggcourse.errors import UserInputError
    from vggcourse.preprocessing import VGG_MEAN

    img = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    for interp in INTERPOLATIONS:  # one table of Pillow filters, decode.INTERPOLATIONS
        assert utils.imresize(img, (8, 12), interp=interp).shape == (8, 12, 3)
    with pytest.raises(UserInputError, match=r"^imresize: `interp` must be one of 'nearest', .*Received: interp='cubic'$"):
        utils.imresize(img, 2, interp="cubic")
    assert utils.vgg_mean.tolist() == pytest.approx(list(VGG_MEAN))  # one ImageNet mean


def test_get_batches_has_keras1_names(dogscats):
    batches = utils.get_batches(dogscats / "valid", target_size=(8, 8))
    assert batches.N == batches.nb_sample == 100
    assert "pandas" in repr(utils.pd)


def test_pd_is_pandas_on_first_use():
    import pandas

    assert "pandas" in repr(utils.pd)
    assert utils.pd.DataFrame is pandas.DataFrame
    assert utils.pd.read_csv is pandas.read_csv


# what the course's notebooks import besides vggcourse: pandas (utils' `pd`), skimage
# (convolution-intro), ujson (lesson7), ipywidgets (convolution-intro), pytensor (utils' `theano`)
_COURSE_IMPORTS = {"pandas": "pandas", "scikit-image": "skimage", "ujson": "ujson",
                   "ipywidgets": "ipywidgets", "pytensor": "pytensor"}


def test_the_notebooks_imports_come_with_the_install():
    import configparser
    import importlib

    repo = Path(__file__).resolve().parents[1]
    required = {re.split(r"[<>=\[ ]", line.strip())[0].lower()
                for line in (repo / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    config = configparser.ConfigParser()
    config.read(repo / "setup.cfg")
    extra = {re.split(r"[<>=\[ ]", line.strip())[0].lower()
             for line in config["options.extras_require"]["course"].splitlines() if line.strip()}
    assert set(_COURSE_IMPORTS) <= required  # the README's install command
    assert set(_COURSE_IMPORTS) <= extra     # pip install "vggcourse[course]"
    for module in _COURSE_IMPORTS.values():
        importlib.import_module(module)
    from skimage.measure import block_reduce  # convolution-intro's one use

    assert block_reduce(np.ones((4, 4)), (2, 2), np.max).shape == (2, 2)


def _break_pixels_keep_header(path):
    """`path` rewritten (same name) as a PNG whose header reads but whose pixel data is random bytes."""
    from PIL import Image

    with Image.open(path) as image:
        image.convert("RGB").save(path, "PNG")
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 4
    data[start + 20:start + 220] = np.random.default_rng(0).integers(0, 256, 200, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def test_get_data_keeps_row_i_for_file_i_when_a_file_fails_to_decode(small):
    """A failed file never shifts later rows (issue 18, item 2): NaN in float, refused in uint8."""
    from vggcourse.errors import UserInputError

    folder = small / "valid"
    reference = utils.get_data(folder, target_size=(8, 8), dtype=np.float32, batch_size=4)
    names = utils.get_batches(folder, shuffle=False, target_size=(8, 8), class_mode=None).filenames
    _break_pixels_keep_header(folder / names[1])
    with pytest.warns(UserWarning, match="could not be decoded"):
        damaged = utils.get_data(folder, target_size=(8, 8), dtype=np.float32, batch_size=4)
    assert damaged.shape == reference.shape == (6, 8, 8, 3) and np.isnan(damaged[1]).all()
    np.testing.assert_array_equal(np.delete(damaged, 1, axis=0), np.delete(reference, 1, axis=0))
    with pytest.warns(UserWarning), pytest.raises(UserInputError, match=rf"^get_data: 1 file\(s\) of .* could not "
                                                                        rf"be decoded \({names[1]}\); remove"):
        utils.get_data(folder, target_size=(8, 8), batch_size=4)
