"""`vggcourse.checks`: every argument check names the argument, what is allowed and what was received."""
import numpy as np
import pytest

from vggcourse import checks
from vggcourse.errors import UserInputError

pytestmark = pytest.mark.backend_free


@pytest.mark.parametrize("value", [True, False, 2.5, 2.0, "3", None, -1, np.float32(3)])
def test_whole_number_refuses_bools_floats_strings_and_small_values(value):
    with pytest.raises(UserInputError, match=r"`epochs` must be a whole number >= 0\. Received: epochs="):
        checks.whole_number("epochs", value)


def test_whole_number_returns_plain_ints_and_uses_what_and_caller():
    assert checks.whole_number("batch_size", np.int64(64), least=1) == 64
    assert type(checks.whole_number("batch_size", np.int64(64), least=1)) is int
    with pytest.raises(UserInputError, match=r"^fit: `nb_epoch` must be a whole number of epochs, at least 1\. "
                                             r"Received: nb_epoch=0$"):
        checks.whole_number("nb_epoch", 0, least=1, what="of epochs, at least 1", caller="fit")


@pytest.mark.parametrize("value", [0, -1e-3, float("inf"), float("nan"), True, np.True_, "0.1", None, 1j])
def test_positive_number_refuses(value):
    with pytest.raises(UserInputError, match=r"`lr` must be a positive number\. Received: lr="):
        checks.positive_number("lr", value)


def test_positive_number_accepts_numpy_numbers():
    assert checks.positive_number("lr", np.float32(0.5)) == 0.5
    assert checks.positive_number("lr", np.int64(1)) == 1.0


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), False, "15"])
def test_non_negative_number_refuses(value):
    with pytest.raises(UserInputError, match=r"`rotation_range` must be a number >= 0"):
        checks.non_negative_number("rotation_range", value)
    assert checks.non_negative_number("rotation_range", 0) == 0.0


@pytest.mark.parametrize("value", [(224,), (224, 224, 3), "224", (True, 224), (31, 64), (64.0, 64), None])
def test_size_pair_refuses(value):
    with pytest.raises(UserInputError, match=r"`size` must be \(height, width\), two whole numbers of at least 32"):
        checks.size_pair("size", value, least=32)
    assert checks.size_pair("size", [np.int32(64), 32], least=32) == (64, 32)


def test_one_of_lists_the_choices():
    assert checks.one_of("class_mode", None, ("categorical", None)) is None
    with pytest.raises(UserInputError, match=r"`class_mode` must be one of 'categorical', None\. "
                                             r"Received: class_mode=\['x'\]"):
        checks.one_of("class_mode", ["x"], ("categorical", None))


@pytest.mark.parametrize("value", [-1, 6, True, 2.0, "3", None])
def test_whole_number_in_refuses_what_lies_outside_or_is_no_whole_number(value):
    with pytest.raises(UserInputError, match=r"^insert_layer: `index` must be a whole number from 0 to 5\. "
                                             r"Received: index="):
        checks.whole_number_in("index", value, 0, 5, caller="insert_layer")


def test_whole_number_in_takes_both_ends_and_what():
    assert checks.whole_number_in("index", np.int64(5), 0, 5) == 5 and checks.whole_number_in("index", -3, -3, 2) == -3
    with pytest.raises(UserInputError, match=r"`from_layer` must be a layer index from -3 to 2. Received: from_layer=7"):
        checks.whole_number_in("from_layer", 7, -3, 2, what="a layer index from -3 to 2")


def test_epochs_names_the_argument_and_refuses_fractions():
    assert checks.epochs("nb_epoch", np.int32(3), least=1) == 3
    with pytest.raises(UserInputError, match=r"^fit: `epochs` must be a whole number of epochs, at least 1\. "
                                             r"Received: epochs=2\.5$"):
        checks.epochs("epochs", 2.5, least=1, caller="fit")


def test_finite_number_and_fraction():
    assert checks.finite_number("cval", -3) == -3.0
    for bad in (float("nan"), float("inf"), True, "1"):
        with pytest.raises(UserInputError, match=r"`rescale` must be None or a finite number\. Received"):
            checks.finite_number("rescale", bad, what="None or a finite number")
    assert checks.fraction("p", 0) == 0.0
    for bad in (1, 1.0, -0.1, False, float("nan")):
        with pytest.raises(UserInputError, match=r"^adjust_dropout: `p` must be a number in \[0, 1\)"):
            checks.fraction("p", bad, caller="adjust_dropout")


def test_image_generator_and_interpretation_use_the_checks():
    from vggcourse.image import ImageDataGenerator
    from vggcourse.interpret import Interpretation

    for bad in (True, float("inf")):
        with pytest.raises(UserInputError, match=r"`rescale` must be None or a finite number"):
            ImageDataGenerator(rescale=bad)
    interp = Interpretation(np.array([[0.9, 0.1], [0.2, 0.8]]), [0, 1], ["a.jpg", "b.jpg"], ["cats", "dogs"])
    assert interp._class_index("dogs") == interp._class_index(1) == 1
    for bad in (True, 2, "birds", 1.0):
        with pytest.raises(UserInputError, match=r"`cls` must be "):
            interp._class_index(bad)
