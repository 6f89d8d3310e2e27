"""The project's own exceptions: user errors are still the built-ins callers catch, bugs are not."""
import errno

import pytest

from vggcourse.errors import (InputFileNotFoundError, InputIsADirectoryError, InputNotADirectoryError,
                              UserInputError, UserTypeError, VggcourseError, is_user_error)

pytestmark = pytest.mark.backend_free  # never imports Keras: .ci/run's JAX run leaves it out


@pytest.mark.parametrize("cls, builtin", [
    (UserInputError, ValueError), (UserTypeError, TypeError), (InputFileNotFoundError, FileNotFoundError),
    (InputNotADirectoryError, NotADirectoryError), (InputIsADirectoryError, IsADirectoryError),
])
def test_user_errors_are_the_builtins_callers_catch(cls, builtin):
    with pytest.raises(builtin, match="named"):
        raise cls("named")
    assert issubclass(cls, VggcourseError) and is_user_error(cls("named"))


@pytest.mark.parametrize("error, expected", [
    (ValueError("invalid literal for int() with base 10: '\u00b23'"), False),  # a bug, not a mistake
    (KeyError("x"), False),
    (VggcourseError("a failure"), False),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/cache/f.npy"), False),  # from the OS
    (FileNotFoundError("data folder 'x' does not exist"), True),  # raised on purpose, with a message
    (NotADirectoryError("'x' is a file; expected a folder"), True),
])
def test_only_deliberate_errors_are_user_errors(error, expected):
    assert is_user_error(error) is expected
