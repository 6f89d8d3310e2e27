"""The exceptions vggcourse raises on purpose for a user's mistake, so they can be told from bugs.

    from vggcourse.errors import UserInputError
    raise UserInputError(f"`batch_size` must be a positive integer. Received: batch_size={n!r}")

Every class here is a `VggcourseError`. The user-error classes also subclass the built-in exception
a caller would catch for that mistake (`ValueError`, `FileNotFoundError`, ...), so code written
against the built-ins keeps working. The `vggcourse` command reports these (and only these) as a
one-line message with exit code 2; any other exception is a failure (exit 1), and with
`VGGCOURSE_DEBUG=1` every traceback is shown.
"""

__all__ = [
    "VggcourseError",
    "UserInputError",
    "UserTypeError",
    "BatchIndexError",
    "InputFileNotFoundError",
    "InputNotADirectoryError",
    "InputIsADirectoryError",
    "OutputFolderError",
    "is_user_error",
]


class VggcourseError(Exception):
    """Base class of every exception that vggcourse raises on purpose."""


class UserInputError(VggcourseError, ValueError):
    """A bad argument or a bad input file: the message names it, what was received, what to do."""


class UserTypeError(VggcourseError, TypeError):
    """An argument of the wrong type (a list where a dict of class indices was needed, ...)."""


class BatchIndexError(UserInputError, IndexError):
    """`batches[i]` out of range: a ValueError as Keras' PyDataset raises, and an IndexError."""


class InputFileNotFoundError(VggcourseError, FileNotFoundError):
    """A file or folder the user named does not exist (the message names it)."""


class InputNotADirectoryError(VggcourseError, NotADirectoryError):
    """A path the user named is a file where a folder is needed."""


class InputIsADirectoryError(VggcourseError, IsADirectoryError):
    """A path the user named is a folder where a file is needed."""


class OutputFolderError(VggcourseError, OSError):
    """An output folder that cannot take a run's files: read-only, full, or in use by another run."""


_USER_ERRORS = (UserInputError, UserTypeError, InputFileNotFoundError, InputNotADirectoryError,
                InputIsADirectoryError, OutputFolderError)
_PATH_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


def is_user_error(error):
    """True when `error` is a user's mistake that vggcourse raised on purpose (exit code 2).

    That is one of the user-error classes above, or a `FileNotFoundError` / `NotADirectoryError` /
    `IsADirectoryError` built with a message only (`raise FileNotFoundError(f"no folder {p}")`):
    one that the operating system raised carries an `errno` and is a failure like any other.
    A built-in `ValueError` is never a user error: it may come from a bug (`int("²3")`).

        is_user_error(UserInputError("bad")), is_user_error(ValueError("bad"))   # True, False
    """
    if isinstance(error, _USER_ERRORS):
        return True
    return isinstance(error, _PATH_ERRORS) and error.errno is None
