"""Image helpers and plots, saved to PNG."""
import matplotlib

matplotlib.use("Agg")  # tests only: the package never picks a backend
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vggcourse.plotting import (gray, load_thumbnail, mk_size, mk_square, plot, plot_confusion_matrix,  # noqa: E402
                                plots, to_plot)

pytestmark = pytest.mark.backend_free  # never imports Keras: .ci/run's JAX run leaves it out


@pytest.fixture
def cat(dogscats):
    return load_thumbnail(dogscats / "valid" / "cats" / "cat.101.jpg", (64, 64))


def test_thumbnails_take_height_then_width_like_every_size_in_vggcourse(dogscats):
    from PIL import Image

    path = dogscats / "valid" / "cats" / "cat.101.jpg"
    with Image.open(path) as im:
        width, height = im.size
    tall = load_thumbnail(path, (64, 16))
    assert tall.dtype == np.uint8 and tall.shape[0] <= 64 and tall.shape[1] == 16
    assert abs(tall.shape[0] / tall.shape[1] - height / width) < 0.1
    assert load_thumbnail(path).shape == (height, width, 3)


def _save(fig, path):
    fig.savefig(path)
    plt.close(fig)
    assert path.stat().st_size > 1000
    return path


def test_to_plot_and_gray_are_channels_last(cat):
    assert cat.dtype == np.uint8 and cat.shape[-1] == 3 and max(cat.shape[:2]) == 64
    as_float = cat.astype(np.float32)
    assert np.array_equal(to_plot(as_float), cat)
    assert np.array_equal(to_plot(np.moveaxis(as_float, -1, 0)), cat)  # channels-first accepted
    assert to_plot(np.array([[[-5.0, 300.0, 7.4]]])).tolist() == [[[0, 255, 7]]]
    g = gray(cat)
    assert g.shape == cat.shape[:2]
    assert gray(np.stack([cat, cat])).shape == (2, *cat.shape[:2])
    np.testing.assert_allclose(gray(np.full((1, 1, 3), 100.0)), 100.0, rtol=1e-5)
    with pytest.raises(ValueError, match="channels-last"):
        gray(np.zeros((3, 4, 4)))


def test_mk_square_and_mk_size_pad_centred():
    img = np.ones((2, 4, 3), dtype=np.uint8)
    sq = mk_square(img)
    assert sq.shape == (4, 4, 3) and sq.dtype == np.uint8
    assert sq[1:3].all() and not sq[0].any() and not sq[3].any()
    tall = mk_size(img, 2.0)  # rows / cols = 2: 8 rows
    assert tall.shape == (8, 4, 3) and tall[3:5].all() and tall.sum() == img.sum()
    wide = mk_size(img, 0.25)  # 16 columns
    assert wide.shape == (2, 8, 3) and wide[:, 2:6].all()


@pytest.mark.parametrize("n, rows", [(5, 2), (7, 3), (1, 1), (3, 1)])
def test_plots_any_count_and_rows(cat, tmp_path, n, rows):
    fig = plots([cat] * n, rows=rows, titles=[f"cat {i}" for i in range(n)])
    assert sum(ax.has_data() for ax in fig.axes) == n
    _save(fig, tmp_path / "plots.png")


def test_plots_array_and_mismatched_titles(cat, tmp_path):
    batch = np.stack([cat, cat]).astype(np.float32)
    _save(plots(batch, figsize=(6, 3)), tmp_path / "batch.png")
    with pytest.raises(ValueError, match="one entry per image"):
        plots(batch, titles=["only one"])
    _save(plot(cat, title="a cat"), tmp_path / "one.png")


@pytest.mark.parametrize("normalize", [False, True])
def test_confusion_matrix_has_counts_and_colour_bar(tmp_path, normalize):
    cm = np.array([[979, 11], [24, 986]])
    fig = plot_confusion_matrix(cm, ["cats", "dogs"], normalize=normalize)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == (["0.99", "0.01", "0.02", "0.98"] if normalize else ["979", "11", "24", "986"])
    assert len(fig.axes) == 2  # the matrix and its colour bar
    _save(fig, tmp_path / "cm.png")
    with pytest.raises(ValueError, match="one row per class"):
        plot_confusion_matrix(cm, ["a", "b", "c"])


def test_plot_lr_find_marks_the_suggestion_on_a_log_axis(tmp_path):
    from vggcourse.plotting import plot_lr_find

    lrs = np.geomspace(1e-6, 1.0, 20)
    losses = np.concatenate([np.linspace(2.0, 0.5, 15), [0.6, 1.0, 2.0, 4.0, 8.0]])
    fig = plot_lr_find(lrs, losses, suggestion=lrs[7])
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.lines[0].get_xdata()) == 17  # the last 3 left out
    marker = ax.lines[1]
    assert marker.get_xdata()[0] == lrs[7] and marker.get_ydata()[0] == losses[7]
    _save(fig, tmp_path / "lr_find.png")


def test_plot_history_draws_train_against_valid():
    from vggcourse.plotting import plot_history

    class History:  # what Keras' fit returns, as far as the plot reads it
        history = {"loss": [1.0, 0.8, 0.7], "val_loss": [1.1, 0.9, 0.95], "auc": [0.5, 0.6, 0.7]}

    fig = plot_history(History(), title="three epochs")
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss"]
    assert [line.get_label() for line in fig.axes[0].lines] == ["train loss", "valid loss"]
    assert fig._suptitle.get_text() == "three epochs"


@pytest.mark.parametrize("call, message", [
    (lambda: load_thumbnail("any.jpg", (True, 64)), r"load_thumbnail: `max_size` must be \(height, width\).*Received: max_size=\(True, 64\)"),
    (lambda: gray(np.zeros((3, 4, 4))), r"gray: `img` must be channels-last RGB.*Received: img of shape \(3, 4, 4\)"),
    (lambda: mk_size(np.zeros((2, 2, 3)), 0), r"mk_size: `r2c` must be a positive number. Received: r2c=0"),
    (lambda: plots([np.zeros((2, 2, 3))], rows=True), r"plots: `rows` must be a whole number >= 1. Received: rows=True"),
    (lambda: plots([np.zeros((2, 2, 3))], rows=0), r"plots: `rows` must be a whole number >= 1. Received: rows=0"),
    (lambda: plots([np.zeros((2, 2, 3))], titles=["a", "b"]), r"`titles` must have one entry per image \(1 images\).*Received: 2 titles"),
    (lambda: plot_confusion_matrix(np.eye(2), ["a"]), r"`cm` must be square.*\(1 classes\). Received: cm of shape \(2, 2\)"),
    (lambda: __import__("vggcourse.plotting").plotting.plot_lr_find([1e-3], [1.0], 1e-3),
     r"`lrs` and `losses` must be two lists of the same length, at least 2. Received: 1 rates and 1 losses"),
    (lambda: __import__("vggcourse.plotting").plotting.plot_history({}), r"`history` must be .*Received: dict"),
])
def test_user_mistakes_are_user_errors_naming_the_argument(call, message):
    from vggcourse.errors import UserInputError

    with pytest.raises(UserInputError, match=message):
        call()
