"""write_atomically: all or nothing, the umask's permissions, errors that name the real file,
and no hidden temporary files left behind by a killed writer."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vggcourse._atomic import STALE_SECONDS, remove_stale_temporaries, write_atomically

pytestmark = pytest.mark.backend_free  # never imports Keras: .ci/run's JAX run leaves it out


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write(text):
    return lambda tmp: Path(tmp).write_text(text)


def test_new_files_follow_the_umask_and_overwritten_files_keep_their_mode(tmp_path):
    new = write_atomically(tmp_path / "new.csv", _write("a\n"))
    assert new.stat().st_mode & 0o777 == 0o666 & ~_umask()
    kept = tmp_path / "kept.csv"
    kept.write_text("old\n")
    kept.chmod(0o644)
    write_atomically(kept, _write("new\n"))
    assert kept.stat().st_mode & 0o777 == 0o644 and kept.read_text() == "new\n"
    kept.chmod(0o640)
    write_atomically(kept, _write("newer\n"))
    assert kept.stat().st_mode & 0o777 == 0o640


def test_a_failed_write_keeps_the_old_file_and_names_it_not_the_temporary(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("old\n")

    def full_disk(tmp):
        Path(tmp).write_text("half")
        raise OSError(28, "No space left on device", tmp)

    with pytest.raises(OSError) as info:
        write_atomically(path, full_disk)
    assert str(path) in str(info.value) and ".tmp" not in str(info.value)
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["p.csv"]

    def complains(tmp):
        raise ValueError(f"cannot write {tmp}: unsupported")

    with pytest.raises(ValueError, match=f"cannot write {path}: unsupported"):
        write_atomically(path, complains)


def test_temporary_files_of_dead_writers_are_removed(tmp_path):
    path = tmp_path / "sub.csv"
    old = time.time() - STALE_SECONDS - 5
    stale = [tmp_path / ".sub.csv.999999999.0badf00d.tmp"]  # a process that is gone
    kept = [tmp_path / f".sub.csv.{os.getpid()}.0badf00d.tmp",  # a live writer
            tmp_path / ".sub.csv.k3j_x9q2.tmp",  # not a name write_atomically makes (nor made since 0.2)
            tmp_path / ".sub.csv.my-notes.tmp",  # not a name write_atomically makes
            tmp_path / ".other.csv.999999999.0badf00d.tmp"]
    for p in stale + kept:
        p.write_text("x")
        os.utime(p, (old, old))
    write_atomically(path, _write("id,label\n"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["sub.csv"] + [p.name for p in kept])


def test_a_folder_one_writer_owns_is_cleaned_of_every_targets_dead_temporaries(tmp_path):
    old = time.time() - STALE_SECONDS - 5
    dead = [tmp_path / ".a.npz.999999999.0badf00d.tmp", tmp_path / ".b.npz.999999998.12345678.tmp"]
    kept = [tmp_path / f".c.npz.{os.getpid()}.0badf00d.tmp",  # a live writer
            tmp_path / ".d.npz.999999999.0badf00d.tmp",  # dead, but too recent to be sure
            tmp_path / "a.npz"]
    for p in dead + kept:
        p.write_text("x")
        os.utime(p, (old, old))
    os.utime(kept[1])  # now
    remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept)


def test_a_killed_writer_leaves_the_old_file_and_its_temporary_is_cleaned(tmp_path):
    path = tmp_path / "submission.csv"
    path.write_text("old\n")
    code = ("import sys, time; from pathlib import Path; from vggcourse._atomic import write_atomically\n"
            "def slow(tmp):\n"
            "    Path(tmp).write_text('half'); print('writing', flush=True); time.sleep(60)\n"
            f"write_atomically({str(path)!r}, slow)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    child.send_signal(signal.SIGKILL)
    child.wait()
    leftovers = [p for p in tmp_path.iterdir() if p.name != "submission.csv"]
    assert len(leftovers) == 1 and path.read_text() == "old\n"
    old = time.time() - STALE_SECONDS - 5
    os.utime(leftovers[0], (old, old))
    write_atomically(path, _write("id,label\n"))
    assert os.listdir(tmp_path) == ["submission.csv"] and path.read_text() == "id,label\n"


def test_a_folder_or_a_missing_folder_is_a_user_error(tmp_path):
    from vggcourse.errors import is_user_error

    for path, message in ((tmp_path, "is a folder"), (tmp_path / "nope" / "s.csv", "folder .*nope does not exist")):
        with pytest.raises(OSError, match=message) as info:
            write_atomically(path, _write("x"))
        assert is_user_error(info.value)
    assert os.listdir(tmp_path) == []


def test_a_read_only_folder_is_a_user_error_naming_it(tmp_path, monkeypatch):
    import errno
    import os

    from vggcourse.errors import OutputFolderError, is_user_error

    real_open = os.open

    def read_only(path, flags, *args):  # what a read-only file system answers (root or not)
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(OutputFolderError, match=rf"cannot write {tmp_path / 'out.ipynb'}: the folder "
                                                rf"{tmp_path} is not writable \(Read-only file system\)") as info:
        write_atomically(tmp_path / "out.ipynb", _write("{}"))
    assert is_user_error(info.value)
