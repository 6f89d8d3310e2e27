"""Downloading one checked file into a cache: the one downloader of `weights` and `datasets`.

`fetch(url, path, digest, ...)` returns `path` when it is there and matches `digest` (an md5, 32
hex digits, or a sha256, 64; None for a file with no published hash: any cached copy is kept).
Otherwise it downloads `url`: streamed into a hidden temporary file beside `path` (a progress
bar when the length is known), hashed on the way, and renamed into place only when the length
and the hash are right. A cut-off or mismatching download keeps nothing and raises
`DownloadError`; no network raises a one-line `InputFileNotFoundError` naming the file, the URL,
where to put the file by hand and the mirror variable.

    path = fetch(url, cache / "mnist.npz", sha256, what="dataset", mirror_env="VGGCOURSE_DATASETS_URL")
"""
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
import urllib.error
import urllib.request
from pathlib import Path

from vggcourse._atomic import write_atomically
from vggcourse.errors import InputFileNotFoundError, UserInputError, VggcourseError

__all__ = ["DownloadError", "hash_algorithm", "file_digest", "matches", "mirrored_url", "fetch", "unpack"]

_ALGORITHMS = {32: "md5", 64: "sha256"}
_CHUNK = 1 << 20


class DownloadError(VggcourseError, OSError):
    """A download that was cut off or failed its hash check (nothing was kept in the cache)."""


def hash_algorithm(digest):
    """The algorithm of a hex `digest` by its length: 'md5' (32 digits) or 'sha256' (64).

        hash_algorithm("0" * 64)   # 'sha256'
    """
    if not isinstance(digest, str) or len(digest) not in _ALGORITHMS:
        raise UserInputError("`digest` must be an md5 (32 hex digits) or a sha256 (64 hex digits). "
                             f"Received: digest={digest!r}")
    return _ALGORITHMS[len(digest)]


def file_digest(path, algorithm):
    """The hex digest of the file `path` by `algorithm` ('md5', 'sha256', any `hashlib` name).

        file_digest("vgg16.h5", "sha256")
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def matches(path, digest):
    """True when the file `path` has the md5 or sha256 `digest` (told apart by its length).

        matches(cache / "mnist.npz", DATASET_FILES["mnist"].hash)
    """
    return file_digest(path, hash_algorithm(digest)) == digest


def mirrored_url(url, mirror_env, name):
    """`url`, or `$<mirror_env>/<name>` when that environment variable names a mirror folder.

        mirrored_url(entry.url, "VGGCOURSE_WEIGHTS_URL", entry.fname)
    """
    mirror = os.environ.get(mirror_env)
    return f"{mirror.rstrip('/')}/{name}" if mirror else url


def fetch(url, path, digest, *, what, mirror_env, by_hand=""):
    """`path`, downloaded from `url` first unless it is there and matches `digest` (or `digest` is None).

    `what` names the file in messages ('weights', 'dataset'); `mirror_env` is the variable that
    names a mirror (None: no mirror is offered); `by_hand` is a further way out added to the offline error
    (', or pass weights=<path to the .h5 file>').

        fetch(weights_url("vgg16"), cache_dir() / entry.fname, entry.md5, what="weights",
              mirror_env="VGGCOURSE_WEIGHTS_URL")
    """
    path = Path(path)
    algorithm = None if digest is None else hash_algorithm(digest)
    stale = False
    if path.is_file():
        if digest is None or file_digest(path, algorithm) == digest:
            return path
        stale = True
        print(f"{path} does not match its published hash ({algorithm} {digest}); downloading it again.",
              file=sys.stderr)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _download(url, path, digest, mirror_env)
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as e:
        reason = f"HTTP {e.code} {e.reason}" if isinstance(e, urllib.error.HTTPError) else getattr(e, "reason", e)
        raise InputFileNotFoundError(
            f"The {what} file {path.name} is not in {path.parent}"
            + (" (the copy there failed its hash check)" if stale else "")
            + f" and could not be downloaded from {url} ({reason}). Download it yourself and put it "
            f"at {path}" + (f", or set {mirror_env} to a folder URL that serves it" if mirror_env else "")
            + f"{by_hand}."
        ) from e
    return path


def unpack(archive, folder):
    """Unpack the tar (any compression) or zip file `archive` into `folder`; the entries it holds.

    The archive is unpacked into a temporary folder inside `folder` first (a tar through tarfile's
    'data' filter: members that would land outside it, or links out of it, are refused; a zip's
    such members are left out by shutil's unpacker), then each top-level entry is renamed into
    place; an entry already in `folder` is kept as it is.

        unpack("data/glove/results/6B.50d.tar.gz", "data/glove/results")   # [.../6B.50d.dat, ...]
    """
    archive, folder = Path(archive), Path(folder)
    if tarfile.is_tarfile(archive):
        kind, options = "tar", {"filter": "data"}
    elif zipfile.is_zipfile(archive):
        kind, options = "zip", {}  # shutil's zip unpacker takes no filter
    else:
        raise UserInputError(f"{archive} is neither a tar nor a zip archive, so it cannot be unpacked. "
                             f"Remove it and download it again.")
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=folder) as tmp:
        try:
            shutil.unpack_archive(archive, tmp, format=kind, **options)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
            raise UserInputError(f"{archive} could not be unpacked ({type(error).__name__}: {error}): "
                                 f"it may be cut off. Remove it and download it again.") from None
        for entry in sorted(Path(tmp).iterdir()):
            dest = folder / entry.name
            if not dest.exists():
                os.replace(entry, dest)
            entries.append(dest)
    return entries


def _download(url, dest, digest, mirror_env):
    """Stream `url` to a temporary file beside `dest`, check length and `digest`, then rename to `dest`."""

    def fetch_and_check(tmp):
        hasher = hashlib.new(hash_algorithm(digest)) if digest is not None else None
        received = 0
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            print(f"Downloading {url} to {dest}", file=sys.stderr)
            progbar = _progbar(total)
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except http.client.IncompleteRead as e:
                    received += len(e.partial)
                    break
                if not chunk:
                    break
                out.write(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                received += len(chunk)
                if progbar is not None:
                    progbar.update(received)
        if total is not None and received != total:
            raise DownloadError(
                f"The download of {url} was cut off after {received} of {total} bytes; nothing was "
                f"kept in {dest.parent}. Try again."
            )
        if hasher is not None and hasher.hexdigest() != digest:
            raise DownloadError(
                f"The file downloaded from {url} failed its hash check (expected {digest}): its "
                f"{hasher.name} is {hasher.hexdigest()}. It was deleted and nothing was kept in "
                f"{dest.parent}. Check the URL" + (f" or mirror ({mirror_env})." if mirror_env else ".")
            )

    write_atomically(dest, fetch_and_check, suffix=".part")


def _progbar(total):
    """Keras' byte progress bar for a download of `total` bytes; None when the length is unknown."""
    if not total:
        return None
    import keras  # here, so that `datasets` imports without starting Keras

    return keras.utils.Progbar(total, unit_name="byte")
