"""What vggcourse prints: progress a person can read on a terminal, in a notebook and in a log.

On a terminal or in a notebook, Keras' progress bars redraw one line (carriage returns, colours).
Sent to a file (CI, `> log`, nohup) the same bars become thousands of `\\r` and ANSI codes, so
there vggcourse asks for one plain line per epoch or stage:

    model.fit(batches, epochs=3, verbose=keras_verbose())    # 1 on a terminal, 2 in a log
    bar = progress(len(images), "frozen layers")             # Keras' Progbar, or one line at the end
    for step in range(len(images)):
        ...
        bar.update(step + 1)

`quiet_tensorflow()`, called before Keras is imported, keeps TensorFlow's start-up lines (oneDNN,
CUDA drivers, CPU instructions) and its retracing warnings out of the command line and notebooks;
`VGGCOURSE_DEBUG=1` shows everything.
"""
import importlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from vggcourse import checks

__all__ = ["interactive", "keras_home", "keras_verbose", "progress", "quiet_tensorflow"]

# Lines TensorFlow's C++ side writes to stderr while it is imported: absl's notice, glog-style
# INFO/WARNING lines ("I0000 00:00:1795382319.239578  7424 port.cc:153] oneDNN ..."), the
# continuation of the CPU-instructions note, and the errors of a machine without CUDA.
_STARTUP_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\]"
    r"|E\d{4} .*(cuInit|Unable to register cu\w+ factory|computation placer already registered)"
    r"|To enable the following instructions:"
    r"|WARNING: Logging before InitGoogleLogging"
)


def interactive():
    """True when stdout redraws lines: a terminal or a Jupyter kernel (not a pipe or a file)."""
    stream = sys.stdout
    if stream is not None and hasattr(stream, "isatty"):
        try:
            if stream.isatty():
                return True
        except ValueError:  # a closed stream
            return False
    return "ipykernel" in sys.modules


def keras_verbose(verbose="auto"):
    """Keras' `verbose=` for `fit` / `predict`: 1 (a live bar) when `interactive()`, 2 (a line per epoch) otherwise.

    Anything but 'auto' is returned as it is, so a caller's own choice wins:

        model.fit(x, y, verbose=keras_verbose())       # 2 under `python train.py > log`
    """
    if verbose != "auto":
        return verbose
    return 1 if interactive() else 2


class _Progress:
    """A progress display over `total` steps; see `progress`."""

    def __init__(self, total, label, verbose):
        self.total, self.label, self.verbose = int(total), label, verbose
        self.current = 0
        self._start = time.perf_counter()
        self._bar = None
        self._done = False
        if verbose == 1 and self.total > 0:
            import keras

            self._bar = keras.utils.Progbar(self.total)

    def update(self, current):
        """Record that `current` of `total` steps are done; the last one prints the summary line."""
        self.current = int(current)
        if self._bar is not None:
            self._bar.update(self.current)
        if self.current >= self.total:
            self.close()

    def close(self):
        """Finish the display (called by the last `update`, or by leaving a `with` block)."""
        if self._done:
            return
        self._done = True
        if self.verbose == 2:
            seconds = time.perf_counter() - self._start
            print(f"{self.label}: {self.current}/{self.total} in {seconds:.1f} s", flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if exc_info[0] is None:
            self.close()
        return False


def progress(total, label, verbose="auto"):
    """A progress display for `total` steps: `.update(done)`; also a context manager.

    `verbose` as Keras': 'auto' (see `keras_verbose`), 1 a Keras Progbar that redraws its line,
    2 one plain line when the last step is done (`"frozen layers: 13/13 in 4.2 s"`), 0 nothing.

        bar = progress(len(images), "vggcourse: frozen layers")
        for step in range(len(images)):
            bar.update(step + 1)
    """
    total = checks.whole_number("total", total, what="of steps, 0 or more")
    checks.one_of("verbose", verbose, ("auto", 0, 1, 2))
    verbose = keras_verbose(verbose)
    return _Progress(total, label, verbose)


def _debug():
    return os.environ.get("VGGCOURSE_DEBUG", "") not in ("", "0")


def keras_home():
    """Keras' folder (its `keras.json`, its caches): `$KERAS_HOME` (a leading `~` expanded),
    default `~/.keras`. Here, with the other readings of Keras' settings made without importing it.

        keras_home() / "models"          # where Keras keeps downloaded weight files
    """
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def _configured_backend():
    """The backend Keras will pick, read as Keras reads it, without importing Keras."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    try:
        with open(keras_home() / "keras.json") as file:
            return json.load(file).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def _import_filtered(module):
    """Import `module` with file descriptor 2 sent to a temporary file; replay all but the noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            importlib.import_module(module)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(keepends=True) if not _STARTUP_NOISE.match(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def quiet_tensorflow():
    """Keep TensorFlow's start-up lines and retracing warnings out of the output; True if it could.

    Call it first, before anything imports Keras: on the TensorFlow backend it imports Keras (and
    so TensorFlow) at once, with the C++ start-up lines written during the import filtered out, and
    sets `TF_CPP_MIN_LOG_LEVEL=3` (unless you set it) for the lines of later start-up stages.
    TensorFlow's Python warnings (retracing) are hidden in any case. Called after TensorFlow was
    imported it can only do the latter, and returns False; with `VGGCOURSE_DEBUG=1` it does
    nothing and returns False. Other backends need nothing: it returns True.

        from vggcourse._console import quiet_tensorflow
        quiet_tensorflow()
        import keras
    """
    if _debug():
        return False
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if "tensorflow" in sys.modules:
        return False
    if _configured_backend() == "tensorflow":
        _import_filtered("keras")
        # TensorFlow's logger sets its own level on import when Python runs interactively.
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return True
