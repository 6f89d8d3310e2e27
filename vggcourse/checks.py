"""Argument checks: the one place that decides whether a number, size or choice is acceptable.

    from vggcourse import checks
    epochs = checks.whole_number("epochs", epochs, least=1)          # 2.5, True, "3" refused
    lr = checks.positive_number("lr", lr)                            # 0, -1, inf, nan, True refused
    size = checks.size_pair("size", size, least=32)                  # (h, w) as two ints

Every check returns the value in its plain Python form (`int`, `float`, a tuple of ints) or raises a
`vggcourse.errors` user error (exit code 2 on the command line) that names the argument, says what
is allowed and what was received: "`epochs` must be a whole number >= 1. Received: epochs=2.5".
`caller` (optional, keyword-only like `what`) prefixes the message with the function the user
called ("fit: ...").
Booleans are never numbers here (`batch_size=True` is refused), although Python counts them as ints.
"""
import math
import numbers

from vggcourse.errors import UserInputError

__all__ = ["epochs", "finite_number", "fraction", "whole_number", "whole_number_in", "positive_number", "non_negative_number", "size_pair", "one_of"]


def _refuse(name, value, allowed, caller):
    prefix = f"{caller}: " if caller else ""
    raise UserInputError(f"{prefix}`{name}` must be {allowed}. Received: {name}={value!r}")


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def whole_number(name, value, least=0, *, what=None, caller=None):
    """`value` as an int when it is a whole number (an `int` or numpy integer, never a bool or a
    float such as 2.0 or 2.5) of at least `least`.

    `what` replaces the default description (">= least") in the message, e.g. "of epochs, at least 1".

        whole_number("batch_size", 64, least=1) == 64
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        _refuse(name, value, f"a whole number {what or f'>= {least}'}", caller)
    return int(value)


def whole_number_in(name, value, least, most, *, what=None, caller=None):
    """`value` as an int when it is a whole number from `least` to `most`, both included (an
    index), never a bool. `what` replaces the default description ("a whole number from 0 to 5").

        whole_number_in("index", 3, 0, 5) == 3
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not least <= value <= most:
        _refuse(name, value, what or f"a whole number from {least} to {most}", caller)
    return int(value)


def epochs(name, value, least=0, *, caller=None):
    """`value` as an int: a whole number of epochs, at least `least` (`nb_epoch=2.5` refused, not
    truncated).

        epochs("nb_epoch", 3, least=1) == 3
    """
    return whole_number(name, value, least, what=f"of epochs, at least {least}", caller=caller)


def positive_number(name, value, *, what="a positive number", caller=None):
    """`value` as a float when it is a finite number > 0 (a rate, a scale): a Python or numpy
    integer or float scalar (`np.int64(1)`, `np.float32(0.1)`), never a bool or `np.bool_`.

        positive_number("lr", 1e-3) == 0.001
    """
    if not _is_real(value) or not 0 < value < math.inf:
        _refuse(name, value, what, caller)
    return float(value)


def finite_number(name, value, *, what="a finite number", caller=None):
    """`value` as a float when it is a finite number (a fill value, a factor that may be negative).

        finite_number("cval", 0) == 0.0
    """
    if not _is_real(value) or not math.isfinite(value):
        _refuse(name, value, what, caller)
    return float(value)


def fraction(name, value, *, caller=None):
    """`value` as a float when it is a number in [0, 1) (a dropout rate).

        fraction("p", 0.5) == 0.5
    """
    if not _is_real(value) or not 0 <= value < 1:
        _refuse(name, value, "a number in [0, 1)", caller)
    return float(value)


def non_negative_number(name, value, *, caller=None):
    """`value` as a float when it is a finite number >= 0 (an augmentation range, a margin).

        non_negative_number("rotation_range", 15) == 15.0
    """
    if not _is_real(value) or not 0 <= value < math.inf:
        _refuse(name, value, "a number >= 0", caller)
    return float(value)


def size_pair(name, value, least=1, *, caller=None):
    """(height, width) as two ints of at least `least`, from a tuple or list of two whole numbers.

        size_pair("target_size", [224, 224]) == (224, 224)
    """
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= least
                       for v in value)):
        _refuse(name, value, f"(height, width), two whole numbers of at least {least}", caller)
    return int(value[0]), int(value[1])


def one_of(name, value, allowed, *, caller=None):
    """`value` when it is one of `allowed` (compared with ==; an unhashable value is refused).

        one_of("class_mode", "binary", ("categorical", "binary", "sparse", "input", None))
    """
    try:
        ok = value in allowed
    except TypeError:
        ok = False
    if not ok:
        _refuse(name, value, "one of " + ", ".join(repr(a) for a in allowed), caller)
    return value
