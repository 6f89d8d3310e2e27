"""vggcourse._console: verbose levels, progress lines in logs, and a quiet TensorFlow start."""
import importlib.util
import io
import os
import subprocess
import sys

import pytest

from vggcourse import _console


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def no_kernel(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)


def test_keras_verbose(monkeypatch, no_kernel):
    assert _console.keras_verbose(0) == 0 and _console.keras_verbose(1) == 1
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert _console.keras_verbose() == 2 and not _console.interactive()
    monkeypatch.setattr(sys, "stdout", _Terminal())
    assert _console.keras_verbose("auto") == 1 and _console.interactive()


def test_a_notebook_counts_as_interactive(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setitem(sys.modules, "ipykernel", object())
    assert _console.keras_verbose() == 1


def test_progress_in_a_log_is_one_plain_line(capsys, no_kernel):
    bar = _console.progress(3, "vggcourse: frozen layers")
    for step in range(3):
        bar.update(step + 1)
    bar.close()  # a second close prints nothing more
    out = capsys.readouterr().out
    assert out.startswith("vggcourse: frozen layers: 3/3 in ") and out.endswith(" s\n")
    assert out.count("\n") == 1 and "\r" not in out and "\x1b" not in out


def test_progress_on_a_terminal_is_a_keras_bar(monkeypatch):
    screen = _Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    with _console.progress(2, "stage") as bar:
        bar.update(1)
        bar.update(2)
    assert "2/2" in screen.getvalue()


def test_progress_silent_and_as_context_manager(capsys):
    with _console.progress(4, "stage", verbose=0) as bar:
        bar.update(2)
    with _console.progress(4, "partial", verbose=2) as bar:
        bar.update(2)  # leaving the block early still prints the line
    assert capsys.readouterr().out.startswith("partial: 2/4 in ")


@pytest.mark.parametrize("total, verbose", [(-1, "auto"), (2.5, "auto"), ("3", "auto"), (3, 5)])
def test_progress_rejects(total, verbose):
    from vggcourse.errors import UserInputError

    name = "verbose" if total == 3 else "total"
    with pytest.raises(UserInputError, match=rf"`{name}` must be .* Received: {name}="):
        _console.progress(total, "x", verbose=verbose)


@pytest.mark.parametrize(
    "line",
    [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
        "I0000 00:00:1795382319.239578    7424 port.cc:153] oneDNN custom operations are on.\n",
        "I0000 00:00:1795382319.239906    7424 cudart_stub.cc:31] Could not find cuda drivers\n",
        "W0000 00:00:1795382319.572639    7424 cpu_feature_guard.cc:227] This TensorFlow binary\n",
        "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild\n",
        "E0000 00:00:1795382324.116835    7424 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n",
    ],
)
def test_startup_noise_is_recognised(line):
    assert _console._STARTUP_NOISE.match(line)


@pytest.mark.parametrize(
    "line",
    ["Traceback (most recent call last):\n", "E0000 00:00:1.2 7424 gpu.cc:1] out of memory\n", "my warning\n"],
)
def test_other_lines_are_kept(line):
    assert not _console._STARTUP_NOISE.match(line)


def _python(code, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "VGGCOURSE_DEBUG")}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=300)


_RETRACE = """
from vggcourse._console import quiet_tensorflow
print(quiet_tensorflow())
import tensorflow as tf
tf.config.list_logical_devices()
f = tf.function(lambda x: x * 2)
for n in range(1, 9):
    f(tf.ones([n]))
print("done")
"""


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="tensorflow is not installed")
def test_quiet_tensorflow_start(tmp_path):
    quiet = _python(_RETRACE, KERAS_BACKEND="tensorflow")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.split() == ["True", "done"]
    assert quiet.stderr == ""  # no start-up lines, no retracing warning
    loud = _python(_RETRACE, KERAS_BACKEND="tensorflow", VGGCOURSE_DEBUG="1")
    assert loud.stdout.split() == ["False", "done"]
    assert "retracing" in loud.stderr


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="tensorflow is not installed")
def test_quiet_tensorflow_after_import_hides_retracing_only():
    code = "import tensorflow\n" + _RETRACE
    late = _python(code, KERAS_BACKEND="tensorflow")
    assert late.stdout.split() == ["False", "done"]
    assert "retracing" not in late.stderr


def test_quiet_tensorflow_on_another_backend_imports_nothing():
    code = (
        "import sys\nfrom vggcourse._console import quiet_tensorflow\n"
        "print(quiet_tensorflow(), 'keras' in sys.modules, 'tensorflow' in sys.modules)"
    )
    out = _python(code, KERAS_BACKEND="jax")
    assert out.stdout.split() == ["True", "False", "False"], out.stderr


_FIT_IN_A_LOG = """
import numpy as np, keras
from vggcourse._console import keras_verbose, progress
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
x = np.ones((40, 3), "float32"); y = keras.utils.to_categorical(np.arange(40) % 2, 2)
model.fit(x, y, epochs=2, batch_size=8, verbose=keras_verbose())
bar = progress(5, "stage")
for step in range(5):
    bar.update(step + 1)
"""


def test_a_log_gets_no_carriage_returns_or_colours():
    out = _python(_FIT_IN_A_LOG)
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stdout and "\x1b" not in out.stdout
    lines = out.stdout.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and lines[-1].startswith("stage: 5/5 in ")
    assert len(lines) == 5  # two epoch headers, one line per epoch, one line for the stage


def test_keras_home_expands_the_user_folder_and_holds_keras_json(monkeypatch, tmp_path):
    """The one owner of Keras' folder: weights.cache_dir, keras1.get_file and the backend reading use it."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", "~/kh")
    assert _console.keras_home() == tmp_path / "kh"
    monkeypatch.delenv("KERAS_HOME")
    assert _console.keras_home() == tmp_path / ".keras"
    (tmp_path / ".keras").mkdir()
    (tmp_path / ".keras" / "keras.json").write_text('{"backend": "jax"}')
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert _console._configured_backend() == "jax"
