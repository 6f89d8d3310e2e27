"""The feature store (vggcourse/feature_store.py): memory and disk by key, damaged files, pruning,
clearing. Small arrays under made-up keys; keys of real batches are tested in test_features.py."""
import os

import numpy as np
import pytest

from vggcourse import feature_store

pytestmark = pytest.mark.usefixtures("private_cache")  # an empty cache for every test (conftest)


def test_kept_features_are_found_in_memory_then_on_disk(private_cache):
    rows = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert feature_store.lookup("k", 3, (2,)) is None
    feature_store.keep("k", rows)
    assert feature_store.lookup("k", 3, (2,)) is rows
    feature_store.clear_memory()  # a new session
    np.testing.assert_array_equal(feature_store.lookup("k", 3, (2,)), rows)
    assert [p.name for p in private_cache.iterdir()] == ["k.npz"]


def test_memory_only_writes_no_file_and_reads_none(private_cache):
    feature_store.keep("k", np.zeros((3, 2), np.float32), cache="memory")
    assert not private_cache.exists()
    feature_store.keep("d", np.zeros((3, 2), np.float32))
    feature_store.clear_memory()
    assert feature_store.lookup("d", 3, (2,), cache="memory") is None


def test_a_file_of_the_wrong_shape_is_named_and_deleted(private_cache, capsys):
    feature_store.keep("k", np.zeros((3, 2), np.float32))
    feature_store.clear_memory()
    assert feature_store.lookup("k", 4, (2,)) is None
    assert f"{private_cache / 'k.npz'} is unreadable" in capsys.readouterr().out
    assert not (private_cache / "k.npz").exists()


def test_clear_cache_forgets_memory_and_disk(private_cache):
    feature_store.keep("k", np.zeros((3, 2), np.float32))
    (private_cache / "notes.txt").write_text("not ours")
    feature_store.clear_cache()
    assert not feature_store._memory and [p.name for p in private_cache.iterdir()] == ["notes.txt"]


def test_the_store_cleans_every_dead_writers_temporary_in_its_folder(private_cache):
    private_cache.mkdir(parents=True)
    dead = private_cache / ".other.npz.999999999.0badf00d.tmp"  # another key, its writer killed
    dead.write_text("half")
    os.utime(dead, (1e9, 1e9))
    feature_store.keep("k", np.zeros((3, 2), np.float32))
    assert [p.name for p in private_cache.iterdir()] == ["k.npz"]


def test_disk_cache_keeps_the_most_recently_used_files(tmp_path):
    for age, name in enumerate(("new", "middle", "old")):
        with open(tmp_path / f"{name}.npz", "wb") as file:
            np.savez(file, features=np.zeros(1000, np.float32))
        os.utime(tmp_path / f"{name}.npz", (1e9 - age * 100, 1e9 - age * 100))
    size = (tmp_path / "new.npz").stat().st_size
    feature_store._prune(tmp_path, limit=2 * size + 10)  # room for two files
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["middle.npz", "new.npz"]


def test_a_file_name_that_is_not_utf8_has_a_key(tmp_path):
    folder = os.fsencode(tmp_path)
    for name in (b"cat\xff.jpg", b"cat.jpg"):
        os.close(os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT, 0o644))

    class Batches:
        target_size = (32, 32)
        filepaths = [os.fsdecode(os.path.join(folder, b"cat\xff.jpg"))]

    odd = feature_store.feature_key(Batches, "digest")
    Batches.filepaths = [os.path.join(tmp_path, "cat.jpg")]
    assert len(odd) == 40 and feature_store.feature_key(Batches, "digest") != odd
