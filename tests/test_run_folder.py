"""`vggcourse.run_folder` through `finetune_directory`: a run's folder is held by one run at a time,
checked before training, and a run killed mid-epoch resumes as the same run.

Real images (6 + 3 per class), 32x32, random weights.
"""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import pytest

from vggcourse import run_folder
from vggcourse.cli import main
from vggcourse.errors import OutputFolderError, UserInputError
from vggcourse.model import Vgg16
from vggcourse.run_folder import RunFolder, read_record
from vggcourse.workflow import finetune_directory

REPO = Path(__file__).resolve().parents[1]
QUICK = dict(batch_size=4, size=32, weights=None, cache="memory")

# A run of 3 one-cycle epochs that logs the optimizer's step count and every batch's rate; with
# "kill" it hangs mid-way through the second epoch (for the test to kill it), "resume" continues.
RUN_SCRIPT = textwrap.dedent('''
    import json, sys, time
    from pathlib import Path

    import keras

    from vggcourse import workflow
    from vggcourse.workflow import finetune_directory

    data, out, mode, log = sys.argv[1:5]
    workflow.write_analysis = lambda *args, **kwargs: []  # the plots take seconds and are not checked here
    keras.utils.set_random_seed(0)


    class Record(keras.callbacks.Callback):
        def _write(self, **entry):
            with open(log, "a") as f:
                f.write(json.dumps(entry) + "\\n")

        def on_train_begin(self, logs=None):
            self._write(begin=int(self.model.optimizer.iterations))

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            self._write(lr=float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

        def on_train_batch_end(self, batch, logs=None):
            if mode == "kill" and self.epoch == 1 and batch == 1:
                Path(out + ".hung").write_text("")
                time.sleep(600)

        def on_train_end(self, logs=None):
            self._write(end=int(self.model.optimizer.iterations))


    kwargs = {"resume": True} if mode == "resume" else {
        "epochs": 3, "batch_size": 4, "size": 32, "weights": None, "one_cycle": True, "lr": 0.01}
    finetune_directory(data, out=out, cache="memory", callbacks=[Record()], **kwargs)
''')


def _start(script, *args, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_HOME": str(tmp_path / "keras"),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def _finish(process):
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0, out[-3000:]
    return out


def _log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_as_the_same_run(small, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(RUN_SCRIPT)
    killed, whole = tmp_path / "killed", tmp_path / "whole"

    process = _start(script, small, killed, "kill", tmp_path / "killed.log", tmp_path=tmp_path)
    deadline = time.time() + 300
    while not Path(f"{killed}.hung").exists():
        assert process.poll() is None and time.time() < deadline, process.communicate()[0][-3000:]
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    record = read_record(killed / "last.keras")
    assert record.epochs_done == 1  # the first epoch's checkpoint; the second was cut off
    assert json.loads((killed / "history.json").read_text()) == record.history  # written per epoch

    resumed = _finish(_start(script, small, killed, "resume", tmp_path / "killed.log", tmp_path=tmp_path))
    assert "Epoch 2/3" in resumed and "Epoch 1/3" not in resumed
    _finish(_start(script, small, whole, "full", tmp_path / "whole.log", tmp_path=tmp_path))

    # The same run: history, best epoch and score, optimizer steps and one-cycle rates.
    history = json.loads((killed / "history.json").read_text())
    expected = json.loads((whole / "history.json").read_text())
    assert len(history) == 3 and history[0] == record.history[0]
    assert history[0] == pytest.approx(expected[0], rel=1e-5)  # the same seed: the same first epoch
    if keras.backend.backend() == "torch":  # Dropout draws from torch's global generator (run_folder)
        expected = expected[:1]
    for got, want in zip(history, expected):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), (key, history, expected)
    final = read_record(killed / "last.keras")
    scores = [epoch["val_accuracy"] for epoch in history]
    assert final.best_epoch == scores.index(max(scores)) and final.best_val_accuracy == max(scores)
    assert run_folder.best_epoch_on_disk(killed) == final.best_epoch
    killed_log, whole_log = _log(tmp_path / "killed.log"), _log(tmp_path / "whole.log")
    steps = (len(whole_log) - 2) // 3
    begins = [entry["begin"] for entry in killed_log if "begin" in entry]
    assert begins == [0, steps]  # Adam's step count carried on
    assert killed_log[-1] == whole_log[-1] == {"end": 3 * steps}
    resumed_rates = [e["lr"] for e in killed_log[killed_log.index({"begin": steps}):] if "lr" in e]
    whole_rates = [e["lr"] for e in whole_log if "lr" in e]
    assert resumed_rates == whole_rates[steps:]  # the cycle went on from its position


@pytest.fixture(autouse=True)
def no_analysis_plots(monkeypatch):
    """The validation plots take seconds and are not what these tests check (test_workflow does)."""
    monkeypatch.setattr("vggcourse.workflow.write_analysis", lambda *args, **kwargs: [])


@pytest.fixture(scope="module")
def finished(small_shared, tmp_path_factory):
    """A finished one-epoch run."""
    out = tmp_path_factory.mktemp("finished") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("vggcourse.workflow.write_analysis", lambda *args, **kwargs: [])
        finetune_directory(small_shared, epochs=1, out=out, **QUICK)
    return out


@pytest.fixture
def finished_copy(finished, tmp_path):
    return Path(shutil.copytree(finished, tmp_path / "run"))


def test_resume_trains_a_finished_run_longer_and_rewrites_a_missing_best(small_shared, finished_copy):
    (finished_copy / "best.keras").unlink()  # as if killed between last.keras and best.keras
    lines = []
    result = finetune_directory(small_shared, out=finished_copy, resume=True, epochs=2, log=lines.append,
                                cache="memory")
    assert result.resumed_at == 1 and len(result.history) == 2
    assert any("after epoch 1 of 2" in line for line in lines)
    assert run_folder.best_epoch_on_disk(finished_copy) == result.best_epoch
    assert Vgg16.load(finished_copy / "best.keras").classes == ["cats", "dogs"]


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": 0.5}, r"leave out lr=0.5 \(the run has 0.001\)"),
    ({"epochs": 1}, "has finished its 1 epochs"),
    ({"size": 64}, r"size=64 \(the run has 32\)"),
    ({"vgg": "a model"}, "leave `vgg` and `lr_find` out"),
])
def test_resume_refuses_another_run(small_shared, finished, kwargs, message, monkeypatch):
    monkeypatch.setattr(Vgg16, "load", lambda *a: pytest.fail("loaded the model first"))
    with pytest.raises(UserInputError, match=message):
        finetune_directory(small_shared, out=finished, resume=True, **kwargs)


def test_resume_names_what_to_pass(small_shared, finished, tmp_path):
    with pytest.raises(UserInputError, match="was written by an earlier vggcourse.*--weights"):
        finetune_directory(small_shared, resume=finished / "last.weights.h5")
    with pytest.raises(UserInputError, match="is not a run's checkpoint.*best.keras is the best model"):
        finetune_directory(small_shared, resume=finished / "best.keras")
    with pytest.raises(UserInputError, match="continues in its own folder"):
        finetune_directory(small_shared, resume=finished, out=tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match="no run to resume in .*the folder does not exist"):
        finetune_directory(small_shared, resume=True, out=tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="it has no last.keras"):
        finetune_directory(small_shared, resume=tmp_path / "empty")
    other = Vgg16(weights=None, size=(32, 32))
    other.compile()
    other.save(tmp_path / "empty" / "last.keras")
    with pytest.raises(UserInputError, match="holds no run record"):
        finetune_directory(small_shared, resume=tmp_path / "empty")
    other = shutil.copytree(small_shared, tmp_path / "other_data")
    with pytest.raises(UserInputError, match="trains on .*, not"):
        finetune_directory(other, resume=finished)


def test_an_earlier_run_is_kept_unless_overwrite_which_removes_all_its_files(small_shared, finished_copy):
    stale = finished_copy / "most_confident_correct_zebras.png"  # a class of the earlier run only
    stale.write_bytes(b"png")
    record = json.loads((finished_copy / "run.json").read_text())
    record["files"].append(stale.name)
    (finished_copy / "run.json").write_text(json.dumps(record))
    notes = finished_copy / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(UserInputError, match="holds an earlier run .*--resume.*--overwrite"):
        finetune_directory(small_shared, epochs=1, out=finished_copy, **QUICK)
    lines = []
    finetune_directory(small_shared, epochs=1, out=finished_copy, overwrite=True, log=lines.append, **QUICK)
    assert not stale.exists() and notes.read_text() == "mine"
    assert any("removed" in line and "earlier run" in line for line in lines)


def test_an_out_in_use_is_refused_naming_the_process(small_shared, tmp_path, monkeypatch):
    import vggcourse.workflow as workflow

    monkeypatch.setattr(workflow, "_build_vgg", lambda *a: pytest.fail("built a model first"))
    with RunFolder.open(tmp_path / "run"):
        with pytest.raises(OutputFolderError, match=rf"run is in use by another run \(process {os.getpid()} "):
            finetune_directory(small_shared, out=tmp_path / "run", **QUICK)
        assert main(["finetune", str(small_shared), "--out", str(tmp_path / "run"), "--size", "32",
                     "--weights", "none"]) == 2


def test_a_lock_is_released_when_its_process_is_killed(tmp_path):
    code = ("import os, signal, sys; from vggcourse.run_folder import RunFolder; "
            "held = RunFolder.open(sys.argv[1]); held.__enter__(); print('held', flush=True); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.stdout.strip() == "held" and out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    assert "process" in (tmp_path / "run" / run_folder.LOCK_NAME).read_text()  # the dead holder's
    with RunFolder.open(tmp_path / "run") as run:
        assert run.folder == tmp_path / "run"


@pytest.mark.parametrize("failure", [errno.EROFS, errno.EACCES])
def test_an_unwritable_out_is_refused_before_the_model_is_built(small_shared, tmp_path, monkeypatch, failure):
    import vggcourse.workflow as workflow

    monkeypatch.setattr(workflow, "_build_vgg", lambda *a: pytest.fail("built a model first"))
    (tmp_path / "run").mkdir()

    def refuse(*args, **kwargs):  # what a read-only file system (or folder, for a non-root user) does
        raise OSError(failure, os.strerror(failure), str(tmp_path / "run" / ".probe"))

    monkeypatch.setattr(run_folder.tempfile, "NamedTemporaryFile", refuse)
    with pytest.raises(OutputFolderError, match=rf"cannot write in {tmp_path / 'run'} \({os.strerror(failure)}\)"):
        finetune_directory(small_shared, out=tmp_path / "run", **QUICK)


def test_a_full_out_is_refused_before_training(small_shared, tmp_path, monkeypatch):
    monkeypatch.setattr(run_folder, "free_bytes", lambda folder: 10 * 2 ** 20)
    monkeypatch.setattr(Vgg16, "fit", lambda *a, **k: pytest.fail("trained first"))
    with pytest.raises(OutputFolderError, match=r"run has 10 MB free; a run of this model needs about \d+ MB"):
        finetune_directory(small_shared, out=tmp_path / "run", **QUICK)
    assert not (tmp_path / "run").exists()  # nothing was written: the folder is gone again


def test_a_disk_that_fills_during_the_run_names_the_file_and_keeps_the_previous_one(small_shared, tmp_path,
                                                                                    monkeypatch):
    def full(self, path, include_optimizer=True):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Vgg16, "save", full)
    with pytest.raises(OutputFolderError, match=r"cannot write .*run/last.keras: No space left on device; "
                                                r"the previous last.keras is intact"):
        finetune_directory(small_shared, epochs=1, out=tmp_path / "run", **QUICK)
    assert not list((tmp_path / "run").glob(".*.keras"))  # no partial file left


def test_an_out_inside_the_data_and_a_data_file_are_refused(small_shared, tmp_path):
    with pytest.raises(UserInputError, match=r"is inside .*train, where every folder is a class"):
        finetune_directory(small_shared, out=small_shared / "train" / "run", **QUICK)
    assert not (small_shared / "train" / "run").exists()
    image = next((small_shared / "train" / "cats").iterdir())
    with pytest.raises(NotADirectoryError, match="is a file; pass the data folder that holds train/"):
        finetune_directory(image, out=tmp_path / "run", **QUICK)
    with pytest.raises(UserInputError, match="`size` must be a whole number from 32 to 1024. Received: size=100000"):
        finetune_directory(small_shared, out=tmp_path / "run", size=100000)
