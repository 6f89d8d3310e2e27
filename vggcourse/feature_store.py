"""The feature store: arrays of features by key, in memory for the session and on disk.

    key = feature_key(batches, layers_digest(body.layers))
    features = lookup(key, len(batches.filepaths), body.output_shape[1:])   # None on a miss
    keep(key, features)

On disk, in `$VGGCOURSE_CACHE` (default `~/.cache/vggcourse/features`): one uncompressed `.npz`
per key, whose CRC-32 is checked on every read. The key is a hash of every input that changes
the features: each file's path, size and modification time, the image size, interpolation,
colour mode and standardization (rescale, dtype, fit statistics), the backend, and each frozen
layer's class, config and weights. Any change gives a new
key, so an outdated file is never read again; past `DISK_LIMIT` the least recently used files
are deleted, and `clear_cache()` deletes them all. A damaged file is named in one printed line,
deleted, and computed again by the caller. Stored as float32, so that the cached fit matches the
plain one to float rounding (float16 moves the trained weights measurably: bench/RESULTS.md).
"""
import collections
import hashlib
import json
import os
from pathlib import Path

import keras
import numpy as np

from vggcourse._atomic import remove_stale_temporaries, write_atomically
from vggcourse.arrays import host_array

__all__ = ["DISK_LIMIT", "STORE_DTYPE", "cache_dir", "clear_cache", "clear_memory", "feature_key", "keep",
           "layers_digest", "lookup"]

STORE_DTYPE = np.float32
DISK_LIMIT = 10 << 30  # bytes of cache files kept on disk; the least recently used go first
_FORMAT = "vggcourse-features-2"  # an .npz whose members carry a CRC-32 each; part of every key
_MEMORY_LIMIT = 2 << 30  # bytes of features kept in memory between calls
_memory = collections.OrderedDict()  # key -> features array, least recently used first


def cache_dir():
    """The folder of cached features: `$VGGCOURSE_CACHE`, or `~/.cache/vggcourse/features`.

        cache_dir()   # PosixPath('/home/me/.cache/vggcourse/features')
    """
    folder = os.environ.get("VGGCOURSE_CACHE")
    return Path(folder).expanduser() if folder else Path.home() / ".cache" / "vggcourse" / "features"


def clear_memory():
    """Forget the feature arrays kept in memory (the files on disk stay): the next use reads them
    back, as a new process would.

        clear_memory()
    """
    _memory.clear()


def clear_cache():
    """Forget every cached feature array, in memory and on disk.

        clear_cache()
    """
    clear_memory()
    for path in cache_dir().glob("*.npz"):
        path.unlink(missing_ok=True)


def layers_digest(layers):
    """Hash of each layer's class, config (name and trainable aside) and weights.

        digest = layers_digest(body.layers)   # ~0.5 s for VGG16's frozen weights: compute once
    """
    hasher = hashlib.sha256()
    for layer in layers:
        config = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable")}
        hasher.update(type(layer).__name__.encode())
        hasher.update(json.dumps(config, sort_keys=True, default=str).encode())
        for weight in layer.weights:
            array = np.ascontiguousarray(host_array(weight))
            hasher.update(f"{array.dtype}{array.shape}".encode())
            hasher.update(memoryview(array).cast("B"))
    return hasher.hexdigest()


def feature_key(batches, digest):
    """The cache file's name: a hash of the files of `batches`, how they are read, and `digest`
    (`layers_digest` of the frozen layers). The batch size and order do not change it.

        feature_key(batches, layers_digest(body.layers))   # 40 hex digits
    """
    hasher = hashlib.sha256(_FORMAT.encode())
    generator = getattr(batches, "image_data_generator", None)
    about = {
        "size": list(batches.target_size),
        "interpolation": getattr(batches, "interpolation", None),
        "backend": keras.backend.backend(),
        **(generator.standardization_key() if generator is not None else {"rescale": None}),
    }
    # how the files are read, where it is not the default (so that older keys stay valid)
    for name, default in (("color_mode", "rgb"), ("keep_aspect_ratio", False), ("data_format", "channels_last")):
        if getattr(batches, name, default) != default:
            about[name] = getattr(batches, name)
    hasher.update(json.dumps(about, sort_keys=True).encode())
    for path in batches.filepaths:
        try:
            stat = os.stat(path)
            about = f"{stat.st_size}\0{stat.st_mtime_ns}"
        except FileNotFoundError:  # deleted after the scan: it fails in the pass and gets a NaN row
            about = "missing"
        # os.fsencode: the bytes the OS gave, also for a name that is not UTF-8 (b'cat\xff.jpg')
        hasher.update(os.fsencode(os.path.abspath(path)) + f"\0{about}\n".encode())
    hasher.update(digest.encode())
    return hasher.hexdigest()[:40]


def lookup(key, count, row_shape, cache=True):
    """The features stored under `key` (memory, then disk unless `cache='memory'`), or None.

    A disk file must hold `count` rows of `row_shape`; one that does not, or is damaged, is named
    in one printed line and deleted.

        lookup(key, 12, (4096,))
    """
    features = _memory.get(key)
    if features is None and cache != "memory":
        features = _load(key, count, row_shape)
    if features is not None:
        _remember(key, features)
    return features


def keep(key, features, cache=True):
    """Store `features` under `key`: in memory, and on disk unless `cache='memory'`.

        keep(key, features)
    """
    if cache != "memory":
        _save(key, features)
    _remember(key, features)


def _remember(key, features):
    _memory[key] = features
    _memory.move_to_end(key)
    while sum(a.nbytes for a in _memory.values()) > _MEMORY_LIMIT and len(_memory) > 1:
        _memory.popitem(last=False)


def _load(key, count, row_shape):
    """The features in `key`'s file, or None. Each file is an uncompressed `.npz`: the zip format
    keeps a CRC-32 of the array's bytes, checked as it is read, so damage after the header is
    caught too."""
    path = cache_dir() / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            features = archive["features"]
        if features.shape[:1] != (count,) or features.shape[1:] != tuple(row_shape):
            raise ValueError(f"holds {features.shape[0]} rows of shape {features.shape[1:]}, expected "
                             f"{count} of {tuple(row_shape)}")
        os.utime(path)  # recently used: pruned last
        return features
    except Exception as error:  # noqa: BLE001 - any damage: truncation, bad CRC, wrong array
        print(f"vggcourse: the feature cache file {path} is unreadable ({type(error).__name__}: "
              f"{error}); computing the features again and replacing it")
        path.unlink(missing_ok=True)
        return None


def _save(key, features):
    """Write through `write_atomically`: never a half-written cache file."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(folder)  # every key's: this folder is the store's alone
        write_atomically(folder / f"{key}.npz", lambda tmp: _save_npz(tmp, features))
        _prune(folder)
    except OSError as error:
        print(f"vggcourse: features kept in memory only, could not write {folder}: {error}")


def _save_npz(path, array):
    with open(path, "wb") as file:  # np.savez(path) would append ".npz" to the temporary name
        np.savez(file, features=array)


def _prune(folder, limit=DISK_LIMIT):
    """Delete the least recently used cache files while the folder holds more than `limit` bytes."""
    files = sorted(folder.glob("*.npz"), key=lambda path: path.stat().st_mtime)
    total = sum(path.stat().st_size for path in files)
    for path in files[:-1]:  # never the newest: the one just written
        if total <= limit:
            break
        total -= path.stat().st_size
        path.unlink(missing_ok=True)
