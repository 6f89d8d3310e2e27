"""The one downloader (`vggcourse.download`): digests, the mirror rule, and `fetch`'s cache,
stream and errors on a local HTTP server (the weights and datasets tests cover their own tables)."""
import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import WeightServer
from vggcourse import download
from vggcourse.errors import InputFileNotFoundError, UserInputError, VggcourseError

BODY = bytes(range(256)) * 40


@pytest.fixture
def server():
    srv = WeightServer()
    yield srv
    srv.close()


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_downloader_and_datasets_import_without_keras():
    code = "import sys, vggcourse.download, vggcourse.datasets; print('keras' in sys.modules)"
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["False"]  # Keras starts only for a download's progress bar


def test_download_error_is_a_vggcourse_error_and_an_os_error():
    assert issubclass(download.DownloadError, VggcourseError)
    assert issubclass(download.DownloadError, OSError)


def test_digests_md5_and_sha256_told_apart_by_length(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(BODY)
    md5, sha256 = hashlib.md5(BODY).hexdigest(), hashlib.sha256(BODY).hexdigest()
    assert download.file_digest(path, "md5") == md5 and download.file_digest(path, "sha256") == sha256
    assert download.hash_algorithm(md5) == "md5" and download.hash_algorithm(sha256) == "sha256"
    assert download.matches(path, md5) and download.matches(path, sha256)
    assert not download.matches(path, "0" * 32) and not download.matches(path, "0" * 64)


@pytest.mark.parametrize("digest", ["abc", "0" * 40, None, 5])
def test_a_digest_of_another_length_is_named(digest):
    with pytest.raises(UserInputError, match=r"`digest` must be an md5 \(32 hex digits\) or a sha256 "
                                             rf"\(64 hex digits\)\. Received: digest={digest!r}"):
        download.hash_algorithm(digest)


def test_mirrored_url_appends_the_name_to_the_mirror(monkeypatch):
    monkeypatch.delenv("VGGCOURSE_TEST_MIRROR", raising=False)
    assert download.mirrored_url("https://a.test/x/f.npz", "VGGCOURSE_TEST_MIRROR", "f.npz") == "https://a.test/x/f.npz"
    monkeypatch.setenv("VGGCOURSE_TEST_MIRROR", "http://m.test/folder/")
    assert download.mirrored_url("https://a.test/x/f.npz", "VGGCOURSE_TEST_MIRROR", "g.npz") == "http://m.test/folder/g.npz"


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_fetch_checks_the_hash_on_the_stream_caches_and_reuses(server, tmp_path, algorithm):
    server.files["f.bin"] = (BODY, None)
    path = tmp_path / "cache" / "f.bin"
    digest = hashlib.new(algorithm, BODY).hexdigest()
    got = download.fetch(f"{server.url}/f.bin", path, digest, what="test", mirror_env="M")
    assert got == path and path.read_bytes() == BODY and server.requests == ["/mirror/f.bin"]
    assert download.fetch(f"{server.url}/f.bin", path, digest, what="test", mirror_env="M") == path
    assert len(server.requests) == 1 and _files(path.parent) == ["f.bin"]


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_a_download_that_fails_its_hash_keeps_nothing(server, tmp_path, algorithm):
    server.files["f.bin"] = (BODY, None)
    expected = "0" * len(hashlib.new(algorithm).hexdigest())
    actual = hashlib.new(algorithm, BODY).hexdigest()
    with pytest.raises(download.DownloadError,
                       match=rf"f\.bin failed its hash check \(expected {expected}\): its {algorithm} is {actual}\. "
                             r".*Check the URL or mirror \(M\)\.$"):
        download.fetch(f"{server.url}/f.bin", tmp_path / "f.bin", expected, what="test", mirror_env="M")
    assert _files(tmp_path) == []


def test_a_cut_off_download_keeps_nothing(server, tmp_path):
    server.files["f.bin"] = (BODY[:1000], len(BODY))
    with pytest.raises(download.DownloadError, match=f"cut off after 1000 of {len(BODY)} bytes"):
        download.fetch(f"{server.url}/f.bin", tmp_path / "f.bin", None, what="test", mirror_env="M")
    assert _files(tmp_path) == []


def test_a_stale_copy_is_named_and_replaced(server, tmp_path, capsys):
    server.files["f.bin"] = (BODY, None)
    path = tmp_path / "f.bin"
    path.write_bytes(b"half a file")
    digest = hashlib.md5(BODY).hexdigest()
    download.fetch(f"{server.url}/f.bin", path, digest, what="test", mirror_env="M")
    assert path.read_bytes() == BODY
    assert f"{path} does not match its published hash (md5 {digest}); downloading it again." in capsys.readouterr().err


def test_without_a_digest_any_cached_copy_is_kept(server, tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"whatever is there")
    assert download.fetch(f"{server.url}/f.bin", path, None, what="test", mirror_env="M") == path
    assert server.requests == [] and path.read_bytes() == b"whatever is there"


def test_offline_is_one_line_naming_the_file_url_place_mirror_and_way_out(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/f.bin"
    path = tmp_path / "cache" / "f.bin"
    with pytest.raises(InputFileNotFoundError) as info:
        download.fetch(url, path, "0" * 64, what="test", mirror_env="M", by_hand=", or ask a friend")
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"The test file f.bin is not in {path.parent} and ")
    assert url in message and message.endswith(
        f"put it at {path}, or set M to a folder URL that serves it, or ask a friend.")


def test_a_missing_file_on_the_server_is_not_found_with_its_status(server, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"\(HTTP 404 Not Found\)"):
        download.fetch(f"{server.url}/none.bin", tmp_path / "none.bin", None, what="test", mirror_env="M")
    assert _files(tmp_path) == []
