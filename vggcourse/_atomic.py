"""Writing a file so that it is either the old one or the complete new one, never half-written.

The new content goes to a hidden temporary file beside the target (`.NAME.<pid>.<random>.tmp`),
which is renamed over the target once complete. The result has the permissions any other program
would give it: a new file follows the umask (0644 under the usual 022), an overwritten file keeps
its mode. A temporary file left by a killed process is removed by the next write to the same
target once its process is gone (`remove_stale_temporaries`). `write_folder_atomically` does the
same for a folder (an exported SavedModel).
"""
import errno
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from pathlib import Path

from vggcourse.errors import InputFileNotFoundError, InputIsADirectoryError, OutputFolderError, UserInputError

__all__ = ["remove_stale_temporaries", "write_atomically", "write_folder_atomically"]

STALE_SECONDS = 60  # a dead process's temporary file older than this is removed


def write_atomically(path, write, suffix=".tmp"):
    """Call `write(tmp)` for a temporary file beside `path`, then rename it to `path`; returns `path`.

    If `write` raises (or the process is interrupted), the temporary file is removed and `path` is
    untouched; an error that names the temporary file names `path` instead. A `path` that is a
    folder, or whose folder does not exist or is read-only, is a user error naming it. `suffix` is the
    temporary file's ending, for writers that insist on one (`.keras`).

        write_atomically("history.json", lambda tmp: Path(tmp).write_text(text))
    """
    path = Path(path)
    if path.is_dir():
        raise InputIsADirectoryError(f"{path} is a folder; give the name of the file to write")
    if not path.parent.is_dir():
        raise InputFileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    remove_stale_temporaries(path.parent, path.name, suffix)
    tmp, mode = _create_temporary(path, suffix)
    try:
        try:
            write(tmp)
            os.chmod(tmp, _existing_mode(path, mode))
            os.replace(tmp, path)
        except Exception as error:
            _name_the_target(error, tmp, path)
            raise
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def _create_temporary(path, suffix):
    """A new empty file beside `path`, created with mode 0666 so that the umask applies, and that
    mode (what a new `path` should get)."""
    prefix = f".{path.name}.{os.getpid()}."
    for _ in range(100):
        tmp = str(path.parent / f"{prefix}{secrets.token_hex(4)}{suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise OutputFolderError(f"cannot write {path}: the folder {path.parent} is not writable "
                                        f"({os.strerror(error.errno)}); write somewhere else") from None
            _name_the_target(error, tmp, path)
            raise
        try:
            return tmp, stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
    raise FileExistsError(f"could not create a temporary file beside {path}")


def _existing_mode(path, default):
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return default


def _name_the_target(error, tmp, path):
    """Make `error` speak of `path`, the file the user asked for, not of the hidden `tmp`."""
    if isinstance(error, OSError) and error.filename is not None:
        if os.fspath(error.filename) == tmp:
            error.filename = str(path)
        return
    if any(isinstance(arg, str) and tmp in arg for arg in error.args):
        error.args = tuple(arg.replace(tmp, str(path)) if isinstance(arg, str) else arg
                           for arg in error.args)


def remove_stale_temporaries(folder, name=None, suffix=".tmp"):
    """Remove the temporary files in `folder` that `write_atomically` made for `name` (every
    target when None) and whose process no longer runs, once older than `STALE_SECONDS`.

        remove_stale_temporaries(cache_dir())   # a folder that one writer owns: every target's
    """
    target = re.escape(name) if name is not None else ".+"
    pattern = re.compile(rf"\.{target}\.([0-9]+)\.[0-9a-f]{{8}}{re.escape(suffix)}")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                os.unlink(entry.path)
        except OSError:
            pass  # gone already, or not ours to remove


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def write_folder_atomically(path, write):
    """Call `write(tmp)` for a new hidden folder beside `path`, then put it in `path`'s place (an
    old folder there is replaced); on any error nothing is left but the old `path`.

        write_folder_atomically("exported/model_savedmodel", lambda tmp: model.export(tmp))
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserInputError(f"cannot write the folder {path}: a file has that name; remove it or choose "
                             f"another `out`")
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    old = None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 would stay on the renamed folder
        write(str(staging))
        if path.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(staging, path)
    except BaseException:
        if old is not None and (old / path.name).is_dir() and not path.exists():
            os.replace(old / path.name, path)  # put the previous export back
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return path
