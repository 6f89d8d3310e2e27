"""Writing a file so that it is either the old one or the complete new one, never half-written."""
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path, write, suffix=".tmp"):
    """Call `write(tmp)` for a temporary file beside `path`, then rename it to `path`; returns `path`.

    If `write` raises (or the process is interrupted), the temporary file is removed and `path` is
    untouched. `suffix` is the temporary file's ending, for writers that insist on one (`.keras`).

        write_atomically("history.json", lambda tmp: Path(tmp).write_text(text))
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
