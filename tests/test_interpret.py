"""Interpretation picks against a hand-made prediction table on real images."""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vggcourse.interpret import Interpretation  # noqa: E402

# file, true class (0 cats, 1 dogs), p(dogs)
TABLE = [
    ("cats/cat.101.jpg", 0, 0.02),  # correct, very sure
    ("cats/cat.102.jpg", 0, 0.30),  # correct
    ("cats/cat.105.jpg", 0, 0.55),  # wrong, uncertain
    ("cats/cat.108.jpg", 0, 0.97),  # wrong, very sure: the worst
    ("dogs/dog.101.jpg", 1, 0.99),  # correct, very sure
    ("dogs/dog.102.jpg", 1, 0.80),  # correct
    ("dogs/dog.103.jpg", 1, 0.48),  # wrong, uncertain
    ("dogs/dog.104.jpg", 1, 0.10),  # wrong, sure
]


@pytest.fixture
def interp(dogscats):
    files = [f for f, _, _ in TABLE]
    missing = [f for f in files if not (dogscats / "valid" / f).exists()]
    assert not missing, missing
    p = np.array([q for _, _, q in TABLE])
    return Interpretation(np.stack([1 - p, p], 1), [c for _, c, _ in TABLE], files, ["cats", "dogs"],
                          directory=dogscats / "valid")


def test_numbers(interp):
    assert interp.accuracy() == 0.5
    assert interp.confusion_matrix().tolist() == [[2, 2], [2, 2]]
    assert interp.confusion_matrix(normalize=True).tolist() == [[0.5, 0.5], [0.5, 0.5]]
    assert interp.most_confused() == [("cats", "dogs", 2), ("dogs", "cats", 2)]
    losses, idx = interp.top_losses(3)
    assert idx.tolist() == [3, 7, 2]
    np.testing.assert_allclose(losses, -np.log([0.03, 0.10, 0.45]))


def test_picks(interp):
    assert interp.most_confident_correct("cats").tolist() == [0, 1]
    assert interp.most_confident_correct("dogs", n=1).tolist() == [4]
    assert interp.most_confident_incorrect("dogs").tolist() == [3, 2]  # predicted dogs, were cats
    assert interp.most_confident_incorrect(0).tolist() == [7, 6]
    assert interp.most_uncertain(2).tolist() == [6, 2]
    assert set(interp.random_correct(3, seed=1)) <= {0, 1, 4, 5}
    assert interp.random_incorrect(10).tolist() == [2, 3, 6, 7]
    assert interp.random_correct(2, seed=5).tolist() == interp.random_correct(2, seed=5).tolist()
    with pytest.raises(ValueError, match="class name"):
        interp.most_confident_correct("birds")


def test_one_column_and_one_hot_inputs(interp):
    p = interp.probs[:, 1]
    same = Interpretation.from_predictions(p, np.eye(2)[interp.labels], interp.filenames, ["cats", "dogs"])
    assert same.most_uncertain(2).tolist() == [6, 2]
    with pytest.raises(ValueError, match="one label and one file name"):
        Interpretation(p, interp.labels[:3], interp.filenames, ["cats", "dogs"])
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        Interpretation(interp.probs, interp.labels, interp.filenames, ["a", "b", "c"])


def test_plots_save_as_png(interp, tmp_path):
    figs = {
        "random_correct": interp.plot_random_correct(),
        "random_incorrect": interp.plot_random_incorrect(),
        "confident_correct_cats": interp.plot_most_confident_correct("cats"),
        "confident_wrong_dogs": interp.plot_most_confident_incorrect("dogs"),
        "uncertain": interp.plot_most_uncertain(),
        "top_losses": interp.plot_top_losses(6),
        "cm": interp.plot_confusion_matrix(),
        "cm_norm": interp.plot_confusion_matrix(normalize=True),
    }
    titles = [ax.get_title() for ax in figs["confident_wrong_dogs"].axes]
    assert titles == ["dogs 0.97\ntrue: cats", "dogs 0.55\ntrue: cats"]
    for name, fig in figs.items():
        path = tmp_path / f"{name}.png"
        fig.savefig(path)
        plt.close(fig)
        assert path.stat().st_size > 5000, name


def test_save_pngs(interp, tmp_path):
    open_before = len(plt.get_fignums())
    paths = interp.save_pngs(tmp_path / "analysis", n=2)
    names = sorted(os.path.basename(p) for p in paths)
    assert "confusion_matrix.png" in names and "most_confident_incorrect_dogs.png" in names
    assert sorted(os.listdir(tmp_path / "analysis")) == names  # no temp files left
    assert all(os.path.getsize(p) > 5000 for p in paths)
    assert len(plt.get_fignums()) == open_before  # figures closed after saving


def test_from_vgg_predicts_in_file_order(dogscats):
    keras = pytest.importorskip("keras")
    from vggcourse.image import ImageDataGenerator

    batches = ImageDataGenerator().flow_from_directory(dogscats / "valid", target_size=(16, 16),
                                                       batch_size=7, shuffle=True, seed=3)
    # p(dogs) from the image's mean red value: a fixed function of each image
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    model.layers[-1].set_weights([np.array([[0.02, -0.02], [0, 0], [0, 0]], "float32"), np.zeros(2, "float32")])

    class Vgg:
        pass

    vgg = Vgg()
    vgg.model = model
    interp = Interpretation.from_vgg(vgg, batches)
    assert interp.filenames == list(batches.filenames) and len(interp) == 100
    x = np.stack([batches.for_inference()[0][i] for i in range(3)])
    np.testing.assert_allclose(interp.probs[:3], model.predict(x, verbose=0), rtol=1e-5)
    assert interp.labels.tolist() == list(batches.classes)


def test_user_mistakes_are_user_errors_naming_the_argument(interp, tmp_path):
    from vggcourse.errors import InputFileNotFoundError, UserInputError

    cases = [
        (lambda: interp.most_confident_correct("birds"), r"`cls` must be a class name .*Received: cls='birds'"),
        (lambda: interp.most_confident_correct(True), r"`cls` must be .*index from 0 to 1. Received: cls=True"),
        (lambda: Interpretation(interp.probs, interp.labels, interp.filenames, ["a", "b", "c"]),
         r"`probs` must be \(n, 3\).*Received: probs of shape \(8, 2\)"),
        (lambda: Interpretation(interp.probs, interp.labels + 5, interp.filenames, ["cats", "dogs"]),
         r"`labels` must be class indices in \[0, 2\). Received: labels from 5 to 6"),
        (lambda: interp.most_uncertain(2.5), r"`n` must be a whole number >= 0. Received: n=2.5"),
        (lambda: interp.random_correct(True), r"`n` must be a whole number >= 0. Received: n=True"),
        (lambda: interp.most_confident_correct("cats", n=-1), r"Received: n=-1"),
        (lambda: interp.top_losses(n=1.0), r"`n` must be a whole number >= 0, or None for all. Received: n=1.0"),
    ]
    for call, message in cases:
        with pytest.raises(UserInputError, match=message):
            call()
    lost = Interpretation(interp.probs, interp.labels, interp.filenames, ["cats", "dogs"], directory=tmp_path)
    with pytest.raises(InputFileNotFoundError, match="not found; pass `directory=`"):
        lost.image(0)


def test_a_file_that_failed_to_decode_is_left_out_and_named_once(dogscats, tmp_path):
    keras = pytest.importorskip("keras")
    from helpers import copy_sample, write_broken_png
    from vggcourse.image import ImageDataGenerator

    root = copy_sample(dogscats, tmp_path, counts=(("valid", 6),))
    write_broken_png(root / "valid" / "cats" / "a.png")  # its header reads: the scan keeps it
    batches = ImageDataGenerator().flow_from_directory(root / "valid", target_size=(16, 16), batch_size=4,
                                                       shuffle=False)
    assert len(batches.filenames) == 13
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])

    class Vgg:
        pass

    vgg = Vgg()
    vgg.model = model
    with pytest.warns(UserWarning) as caught:
        interp = Interpretation.from_vgg(vgg, batches)
    named = [str(w.message) for w in caught if "left out of the analysis" in str(w.message)]
    assert len(named) == 1 and "cats/a.png" in named[0]
    assert interp.left_out == ["cats/a.png"] and len(interp) == 12 and "cats/a.png" not in interp.filenames
    assert interp.confusion_matrix().sum() == 12 and np.isfinite(interp.probs).all()
    assert interp.labels.tolist() == [0] * 6 + [1] * 6
    assert len(interp.save_pngs(tmp_path / "pngs")) == 10


def test_a_class_name_that_is_not_utf8_is_drawn_escaped(interp, tmp_path):
    odd = os.fsdecode(b"dog\xfe")  # a class folder's name as the OS gives it: 'dog\udcfe'
    renamed = Interpretation(interp.probs, interp.labels, interp.filenames, ["cats", odd], interp.directory)
    assert renamed.title(4).endswith("true: dog\\xfe") and renamed.class_names[1] == odd
    paths = renamed.save_pngs(tmp_path)
    assert len(paths) == 10 and all(os.path.getsize(p) > 1000 for p in paths)
