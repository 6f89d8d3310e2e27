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
