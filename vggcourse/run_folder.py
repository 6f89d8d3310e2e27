"""The output folder of a fine-tuning run: one run at a time, checked before training, and a
checkpoint from which the run resumes as the same run.

    with RunFolder.open("runs/dc") as run:            # locked; refused if another process holds it
        run.check_space(vgg.model)                     # room for two checkpoints, before training
        vgg.fit(batches, val_batches, nb_epoch=3, callbacks=[EpochCheckpoints(vgg, record, run)])

`last.keras` is the run's checkpoint: the model, its optimizer state and the run's record (the
archive member `vggcourse/run.json`: settings, epochs done, history, best epoch and score), one
file renamed into place after every epoch, so weights, optimizer state and record always belong to
the same epoch. `best.keras` (no optimizer) is replaced only by a model with a higher
val_accuracy. `history.json` follows every epoch. The lock is the operating system's (`flock`;
`msvcrt.locking` on Windows): a process that dies, even by kill -9, holds it no longer.
"""
import contextlib
import errno
import json
import math
import os
import shutil
import socket
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from vggcourse._atomic import write_atomically
from vggcourse.errors import InputFileNotFoundError, OutputFolderError, UserInputError

__all__ = ["RECORD_MEMBER", "EpochCheckpoints", "RunFolder", "RunRecord", "find_run", "read_record"]

RECORD_MEMBER = "vggcourse/run.json"  # inside last.keras and best.keras
LOCK_NAME = ".vggcourse.lock"
CHECKPOINT, BEST, HISTORY, RECORD = "last.keras", "best.keras", "history.json", "run.json"
_MARGIN = 16 * 2 ** 20  # bytes: the JSON, the plots and the file system's own overhead


@dataclass
class RunRecord:
    """What a run has done so far; the settings it was started with (`finetune_directory`'s)."""

    settings: dict
    epochs_done: int = 0
    history: list = field(default_factory=list)  # one dict of metrics per epoch
    best_epoch: int = -1  # 0-based, -1 before the first epoch ends
    best_val_accuracy: float = float("nan")
    random_state: list = field(default_factory=list)  # `random_state(model)` at the last epoch's end
    format: int = 1

    def observe(self, epoch, logs):
        """Count epoch `epoch` (0-based) with its `logs`; True when it is the best so far."""
        metrics = {k: float(v) for k, v in (logs or {}).items()}
        self.history.append(metrics)
        self.epochs_done = epoch + 1
        score = metrics.get("val_accuracy", float("nan"))
        if self.best_epoch < 0 or score > self.best_val_accuracy:
            self.best_epoch, self.best_val_accuracy = epoch, score
            return True
        return False

    def to_json(self):
        data = asdict(self)
        data["best_val_accuracy"] = _finite_or_none(self.best_val_accuracy)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text, source):
        try:
            data = json.loads(text)
            if data.pop("format") != 1:
                raise ValueError("format")
            score = data.pop("best_val_accuracy")
            return cls(**data, best_val_accuracy=float("nan") if score is None else float(score))
        except (ValueError, KeyError, TypeError) as error:
            raise UserInputError(f"{source} holds a run record this version of vggcourse cannot read "
                                 f"({type(error).__name__}: {error}); start a new run with another "
                                 f"--out") from None


def _finite_or_none(value):
    return value if value is not None and math.isfinite(value) else None


def read_record(path):
    """The `RunRecord` inside a checkpoint `path` (`last.keras`), or None when it holds none
    (a file that `Vgg16.save` or an earlier vggcourse wrote).

        read_record("runs/dc/last.keras").epochs_done
    """
    try:
        text = _record_text(path)
    except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError) as error:
        raise UserInputError(f"{path} is a damaged checkpoint ({type(error).__name__}: {error}); the "
                             f"run cannot be resumed from it: start it again") from None
    return None if text is None else RunRecord.from_json(text, path)


def _record_text(path):
    """The text of `RECORD_MEMBER` in the archive `path`, or None when it has none."""
    with zipfile.ZipFile(path) as archive:
        if RECORD_MEMBER not in archive.namelist():
            return None
        return archive.read(RECORD_MEMBER).decode("utf-8")


def find_run(resume, out):
    """The folder of the run that `resume` names: True (the run in `out`), the folder itself, or
    its `last.keras`. Refuses anything else in one line that says what to pass.

        find_run(True, "runs/dc") == find_run("runs/dc/last.keras", None) == Path("runs/dc")
    """
    if resume is True:
        folder = Path(out)
    else:
        path = Path(resume)
        if path.name == "last.weights.h5":
            raise UserInputError(f"{path} was written by an earlier vggcourse, which could not resume a "
                                 f"run; resume now takes the run's folder ({path.parent}) or its "
                                 f"last.keras. To start a new run from these weights pass --weights {path}")
        if path.is_file() and path.name != CHECKPOINT:
            raise UserInputError(f"`resume` {str(path)!r} is not a run's checkpoint; pass the run's folder "
                                 f"or its {CHECKPOINT} ({BEST} is the best model, for predicting)")
        folder = path if path.is_dir() or path.suffix != ".keras" else path.parent
        if out is not None and Path(out).resolve() != folder.resolve():
            raise UserInputError(f"`resume` names the run in {folder} but `out` is {str(out)!r}: a "
                                 f"resumed run continues in its own folder; leave `out` out")
    if not folder.is_dir():
        raise InputFileNotFoundError(f"no run to resume in {str(folder)!r}: the folder does not exist; "
                                     f"pass the --out of the run to continue")
    if not (folder / CHECKPOINT).is_file():
        raise InputFileNotFoundError(f"no run to resume in {folder}: it has no {CHECKPOINT} (a run writes "
                                     f"it after its first epoch); start the run again without resume")
    return folder


class RunFolder:
    """An output folder held by this process: created if missing, writable, locked.

    Use `RunFolder.open(folder)` in a `with`: the lock is released at the end, and a folder this
    call created is removed again when nothing but the lock was written in it.
    """

    def __init__(self, folder, fd, created):
        self.folder, self._fd, self._created = Path(folder), fd, created

    @classmethod
    @contextlib.contextmanager
    def open(cls, folder):
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise UserInputError(f"`out` {str(folder)!r} is a file; pass a folder for the models and plots "
                                 f"(it is created if missing)")
        created = not folder.exists()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise _unwritable(folder, error) from None
        run = cls(folder, fd, created)
        try:
            run._lock()
            run._check_writable()
            yield run
        finally:
            run._release()

    def _lock(self):
        try:
            _try_lock(self._fd)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            os.lseek(self._fd, 0, os.SEEK_SET)
            holder = os.read(self._fd, 400).decode("utf-8", "replace").strip() or "another process"
            os.close(self._fd)
            self._fd = None
            raise OutputFolderError(f"{self.folder} is in use by another run ({holder}); wait for it "
                                    f"to finish, or pass another --out") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"process {os.getpid()} on {socket.gethostname()}, since "
                           f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())

    def _check_writable(self):
        try:
            with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".vggcourse-probe-"):
                pass
        except OSError as error:
            raise _unwritable(self.folder, error) from None

    def _release(self):
        if self._fd is None:
            return
        os.close(self._fd)  # closing releases the lock
        self._fd = None
        if self._created and [p.name for p in self.folder.iterdir()] == [LOCK_NAME]:
            (self.folder / LOCK_NAME).unlink()
            self.folder.rmdir()  # a run that failed before writing anything leaves no folder

    def check_space(self, model):
        """Refuse a folder without room for a checkpoint of `model` and a best model beside it."""
        needed = checkpoint_bytes(model)
        free = free_bytes(self.folder)
        if free < needed:
            raise OutputFolderError(f"{self.folder} has {_size(free)} free; a run of this model needs "
                                    f"about {_size(needed)} ({CHECKPOINT} with the optimizer's state and "
                                    f"{BEST}): free some space or pass another --out")

    def previous_run_files(self):
        """The files an earlier run wrote here (those its `run.json` lists, and the fixed names)."""
        names = {CHECKPOINT, BEST, HISTORY, RECORD, "history.png", "lr_find.png", "last.weights.h5"}
        record = self.folder / RECORD
        if record.is_file():
            try:
                names.update(json.loads(record.read_text(encoding="utf-8")).get("files", []))
            except (ValueError, UnicodeDecodeError, AttributeError):
                pass  # a damaged record: the fixed names are still known
        return sorted(p for p in (self.folder / name for name in names) if p.is_file())

    def clear_previous_run(self, overwrite, log=print):
        """Remove an earlier run's files with `overwrite`; refuse to mix two runs without it."""
        files = self.previous_run_files()
        if not files:
            return
        if not overwrite:
            raise UserInputError(f"{self.folder} holds an earlier run ({', '.join(p.name for p in files[:4])}"
                                 f"{', ...' if len(files) > 4 else ''}); continue it with --resume, start "
                                 f"again over it with --overwrite, or pass another --out")
        for path in files:
            path.unlink()
        log(f"removed {len(files)} files of the earlier run in {self.folder}")

    def write_json(self, name, obj):
        """`obj` as JSON in `name`, atomically."""
        text = json.dumps(obj, indent=2)
        path = self.folder / name
        _writing(path, lambda: write_atomically(path, lambda tmp: Path(tmp).write_text(text)))
        return path


def _try_lock(fd):
    if os.name == "nt":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unwritable(folder, error):
    reason = os.strerror(error.errno) if error.errno else str(error)
    return OutputFolderError(f"cannot write in {folder} ({reason}); pass an --out you can write to")


def checkpoint_bytes(model):
    """About the bytes `last.keras` (with Adam's two slots per trained weight) and `best.keras` take."""
    weights = sum(_nbytes(v) for v in model.weights)
    trained = sum(_nbytes(v) for v in model.trainable_weights)
    return 2 * weights + 2 * trained + _MARGIN


def _nbytes(variable):
    return math.prod(variable.shape) * np.dtype(keras.backend.standardize_dtype(variable.dtype)).itemsize


def free_bytes(folder):
    """Free bytes on the file system of `folder`."""
    return shutil.disk_usage(folder).free


def _size(n):
    return f"{n / 2 ** 30:.1f} GB" if n >= 2 ** 30 else f"{n / 2 ** 20:.0f} MB"


def _writing(path, write):
    """Run `write()`; a full disk is an `OutputFolderError` naming `path` (the old file is intact)."""
    try:
        return write()
    except OSError as error:
        fix = {errno.ENOSPC: "make room", errno.EDQUOT: "make room", errno.EROFS: "make it writable",
               errno.EACCES: "make it writable"}.get(error.errno)
        if fix:
            raise OutputFolderError(f"cannot write {path}: {os.strerror(error.errno)}; the previous "
                                    f"{path.name} is intact: {fix}, then continue with --resume") from error
        raise
    except Exception as error:  # h5py reports a full disk as a RuntimeError or OSError of its own
        if "No space left" in str(error):
            raise OutputFolderError(f"cannot write {path}: no space left on device; the previous "
                                    f"{path.name} is intact: make room, then continue with --resume") from error
        raise


def write_checkpoint(vgg, path, record, include_optimizer):
    """`vgg.save` to `path` with `record` (a dict) inside as `RECORD_MEMBER`, in one rename."""
    text = record if isinstance(record, str) else json.dumps(record)

    def write(tmp):
        vgg.save(tmp, include_optimizer=include_optimizer)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(RECORD_MEMBER, text)

    return _writing(Path(path), lambda: write_atomically(path, write, suffix=".keras"))


class EpochCheckpoints(keras.callbacks.Callback):
    """After every epoch: `last.keras` (model, optimizer state and `record` in one file), then
    `best.keras` when val_accuracy beat the best so far, then `history.json`. It sees the whole
    `vgg.model`, also when `fit` trains on cached features.

        vgg.fit(batches, val_batches, nb_epoch=3, callbacks=[EpochCheckpoints(vgg, record, run)])
    """

    def __init__(self, vgg, record, run):
        super().__init__()
        self.vgg, self.record, self.run = vgg, record, run

    def on_epoch_end(self, epoch, logs=None):
        record, folder = self.record, self.run.folder
        improved = record.observe(epoch, logs)
        record.random_state = random_state(self.vgg.model)
        write_checkpoint(self.vgg, folder / CHECKPOINT, record.to_json(), include_optimizer=True)
        if improved:
            write_best(self.vgg, folder, record)
        self.run.write_json(HISTORY, record.history)


def random_state(model):
    """The state of `model`'s random-number generators, which Keras does not save: Dropout's
    `SeedGenerator` variables, in `model.variables` order. A resumed run that started them afresh
    would drop other units than the uninterrupted run. (On PyTorch, Keras' unseeded Dropout draws
    from torch's global generator instead, which torch's data loading also draws from: there a
    resumed run's Dropout masks differ from an unbroken run's.)"""
    return [keras.ops.convert_to_numpy(v).tolist() for v in _seed_states(model)]


def set_random_state(model, state):
    """Put back what `random_state(model)` returned (a model of the same architecture)."""
    variables = _seed_states(model)
    if len(variables) != len(state):
        raise UserInputError(f"the checkpoint holds {len(state)} random-number states but the model has "
                             f"{len(variables)}: it was written for another model; start a new run")
    for variable, value in zip(variables, state):
        variable.assign(np.asarray(value, dtype=keras.backend.standardize_dtype(variable.dtype)))


def _seed_states(model):
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def write_best(vgg, folder, record):
    """`best.keras`: the model of `record.best_epoch`, without the optimizer, with its epoch and score."""
    best = {"epoch": record.best_epoch, "val_accuracy": _finite_or_none(record.best_val_accuracy)}
    return write_checkpoint(vgg, Path(folder) / BEST, best, include_optimizer=False)


def best_epoch_on_disk(folder):
    """The epoch whose model `folder/best.keras` holds (from its record), or None."""
    path = Path(folder) / BEST
    if not path.is_file():
        return None
    try:
        text = _record_text(path)
        return None if text is None else json.loads(text).get("epoch")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):  # UnicodeDecodeError is a ValueError
        return None
