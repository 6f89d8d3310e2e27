"""vggcourse.serve: the page, /health, /predict (equal to the model's own predict), every bad input
answered with a 4xx while the server keeps serving, micro-batching, and the real server stopping
gracefully on SIGTERM with requests in flight."""
import io
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from helpers import saved_small_vgg
from vggcourse import serve
from vggcourse.errors import UserInputError
from vggcourse.image import load_image

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 1_000_000


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A small saved Vgg16 (32x32, random weights, two classes 'cats' and 'dogs')."""
    return saved_small_vgg(tmp_path_factory.mktemp("serve") / "small.keras")


@pytest.fixture(scope="module")
def client(model_file):
    with TestClient(serve.app(model_file, max_batch=8, max_bytes=MAX_BYTES, max_wait_ms=50)) as client:
        yield client


@pytest.fixture(scope="module")
def jpeg(dogscats):
    return sorted((dogscats / "valid" / "cats").glob("*.jpg"))[0]


def _post_file(client, data, name="cat.jpg", field="file", kind="image/jpeg"):
    return client.post("/predict", files={field: (name, data, kind)})


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bomb_png(width=20000, height=20000):
    """A 1-bit grayscale PNG of `width` x `height`, all black: 20000 x 20000 takes about 50 KB."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row = zlib.compressobj(9), b"\0" * (1 + (width + 7) // 8)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _truncated_png():
    """The first half of a PNG of random pixels."""
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


def test_health_and_page(client):
    health = client.get("/health")
    assert health.status_code == 200
    counters = {"forward_passes": client.app.state.forward_passes, "images_predicted": client.app.state.images_predicted}
    assert health.json() == {"model": "Vgg16", "file": "small.keras", "classes": ["cats", "dogs"],
                             "input_size": [32, 32], "max_batch": 8, "max_bytes": MAX_BYTES, "max_wait_ms": 50.0,
                             **counters}
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for needed in ('id="file"', 'id="results"', 'id="preview"', 'fetch("predict"'):
        assert needed in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no outside assets


def test_prediction_equals_the_models_on_what_the_batches_read(client, jpeg):
    answer = _post_file(client, jpeg.read_bytes())
    assert answer.status_code == 200
    body = answer.json()
    x = load_image(jpeg, target_size=(32, 32)).astype(np.float32)[None]  # the pixels vgg.test reads
    expected = client.app.state.vgg.model.predict(x, verbose=0)[0]
    assert list(body["probabilities"]) == ["cats", "dogs"]  # the model's order
    np.testing.assert_allclose(list(body["probabilities"].values()), expected, atol=1e-5)
    assert body["top"] == ["cats", "dogs"][int(np.argmax(expected))]
    raw = client.post("/predict", content=jpeg.read_bytes(), headers={"content-type": "image/jpeg"})
    assert raw.status_code == 200 and raw.json() == body


def _bad_requests(jpeg):
    """{case: (send(client), status, words of the error)}; `jpeg` is read only when a case is sent."""
    data = lambda: jpeg.read_bytes()  # noqa: E731
    return {
        "not an image": (lambda c: _post_file(c, b"hello, this is text"), 400, "not an image"),
        "truncated jpeg": (lambda c: _post_file(c, data()[: len(data()) // 2]), 400, "truncated"),
        "truncated png": (lambda c: _post_file(c, _truncated_png(), "a.png", kind="image/png"), 400, "truncated"),
        "decompression bomb": (lambda c: _post_file(c, _bomb_png(), "bomb.png", kind="image/png"), 413,
                               "too large"),
        "empty multipart file": (lambda c: _post_file(c, b""), 400, "empty"),
        "empty raw body": (lambda c: c.post("/predict", content=b"", headers={"content-type": "image/jpeg"}), 400,
                           "empty"),
        "over max_bytes": (lambda c: c.post("/predict", content=b"\xff" * (MAX_BYTES + 1),
                                            headers={"content-type": "image/jpeg"}), 413, "max_bytes"),
        "over max_bytes, streamed": (lambda c: c.post("/predict", content=iter([b"\xff" * 600_000] * 2),
                                                      headers={"content-type": "image/jpeg"}), 413, "max_bytes"),
        "wrong field name": (lambda c: _post_file(c, data(), field="image"), 400, "field 'file' is missing"),
        "text field": (lambda c: c.post("/predict", data={"file": "cat.jpg"}, files={"x": ("x", b"x")}), 400,
                       "field 'file' is text"),
        "wrong content type": (lambda c: c.post("/predict", content=data(), headers={"content-type": "text/plain"}),
                               415, "content type is text/plain"),
        "no content type": (lambda c: c.post("/predict", content=data()), 415, "content type is missing"),
        "multipart without boundary": (lambda c: c.post("/predict", content=data(),
                                                        headers={"content-type": "multipart/form-data"}), 400,
                                       "multipart"),
        "GET /predict": (lambda c: c.get("/predict"), 405, "POST /predict"),
    }


@pytest.mark.parametrize("case", list(_bad_requests(Path("unused.jpg"))))
def test_bad_input_is_a_4xx_and_the_server_keeps_serving(client, jpeg, case):
    send, status, words = _bad_requests(jpeg)[case]
    answer = send(client)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    assert _post_file(client, jpeg.read_bytes()).status_code == 200


def _resident_bytes():
    """This process's resident memory now (Linux's /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads Linux's /proc/self/statm")
def test_memory_returns_to_where_it_was_after_bad_input(client, jpeg):
    cases = _bad_requests(jpeg)
    for send, _, _ in cases.values():  # once first: imports, caches and buffers that stay
        send(client)
    _post_file(client, jpeg.read_bytes())
    before = _resident_bytes()
    for _ in range(5):
        for send, _, _ in cases.values():
            send(client)
    assert _post_file(client, jpeg.read_bytes()).status_code == 200
    grown = _resident_bytes() - before
    assert grown < 30 * 2 ** 20, f"resident memory grew by {grown / 2 ** 20:.0f} MB over {5 * len(cases)} bad requests"


def test_more_pixels_than_pillows_limit_is_refused(client, jpeg, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 60_000)  # the sample images have about 97,000
    answer = _post_file(client, jpeg.read_bytes())
    assert answer.status_code == 413 and "MAX_IMAGE_PIXELS" in answer.json()["error"]


def test_requests_that_arrive_together_share_a_forward_pass(client, jpeg):
    state, data, n = client.app.state, jpeg.read_bytes(), 8
    passes, images = state.forward_passes, state.images_predicted
    start, answers = threading.Barrier(n), [None] * n

    def post(i):
        start.wait()
        answers[i] = _post_file(client, data)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200] * n
    assert len({a.text for a in answers}) == 1
    assert state.images_predicted - images == n
    assert state.forward_passes - passes < n


def test_arguments_are_checked(model_file):
    with pytest.raises(UserInputError, match="max_batch"):
        serve.app(model_file, max_batch=0)
    with pytest.raises(UserInputError, match="max_bytes"):
        serve.app(model_file, max_bytes=2.5)
    with pytest.raises(UserInputError, match="port"):
        serve.run(model_file, port=70000)
    with pytest.raises(FileNotFoundError, match="no model file"):
        serve.app(model_file.parent / "missing.keras")


def test_start_up_line_says_when_other_machines_can_reach_the_model(model_file, monkeypatch, capsys):
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    serve.run(model_file, host="0.0.0.0", port=8123)
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and "http://0.0.0.0:8123/" in line and "reachable from other machines" in line
    serve.run(model_file, port=8123)
    line = capsys.readouterr().out
    assert "http://127.0.0.1:8123/" in line and "only from this machine" in line


@pytest.mark.slow
def test_the_real_server_answers_in_flight_requests_on_sigterm(model_file, jpeg):
    import httpx

    port, data = _free_port(), jpeg.read_bytes()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    server = subprocess.Popen([sys.executable, "-m", "vggcourse", "serve", str(model_file), "--port", str(port),
                               "--max-wait-ms", "1500"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        line = server.stdout.readline()
        assert f"at {url}/" in line, line + server.stderr.read()
        for _ in range(600):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(httpx.post(
            url + "/predict", files={"file": ("cat.jpg", data, "image/jpeg")}, timeout=30))) for _ in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(0.7)  # the three wait in the batcher (1.5 s) when the signal comes
        server.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        for thread in threads:
            thread.join(timeout=30)
        code = server.wait(timeout=30)
        took = time.monotonic() - stopped
        assert [a.status_code for a in answers] == [200] * 3
        # uvicorn raises the signal again once it has shut down, so the exit status says SIGTERM
        assert code in (0, -signal.SIGTERM) and took < 5, (code, took, server.stderr.read())
        print(f"stopped {took:.2f} s after SIGTERM")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.parametrize("max_batch, backend, sizes", [
    (12, "jax", (1, 2, 4, 8, 12)), (16, "jax", (1, 2, 4, 8, 16)), (1, "jax", (1,)),
    (8, "tensorflow", None), (8, "torch", None)])
def test_jax_batches_are_padded_to_a_few_compiled_sizes(max_batch, backend, sizes):
    assert serve._batch_sizes(max_batch, backend) == sizes


def test_a_padded_batch_answers_each_request_with_its_own_image():
    import asyncio
    from types import SimpleNamespace

    shapes = []

    def predict(x):  # one "probability" per image: its mean pixel
        shapes.append(x.shape[0])
        return x.reshape(len(x), -1).mean(axis=1, keepdims=True)

    async def scenario():
        batcher = serve._Batcher(predict, 4, 0.05, SimpleNamespace(), sizes=(1, 2, 4))
        await batcher.start(np.zeros((2, 2, 3), np.float32))
        warm = list(shapes)
        answers = await asyncio.gather(*(batcher.submit(np.full((2, 2, 3), v, np.float32)) for v in (3., 5., 7.)))
        await batcher.stop()
        return warm, answers, batcher.state

    warm, answers, state = asyncio.run(scenario())
    assert warm == [1, 2, 4]  # each size compiled before the first request
    assert shapes[3:] == [4] and [float(a[0]) for a in answers] == [3., 5., 7.]  # 3 images padded to 4
    assert state.forward_passes == 1 and state.images_predicted == 3
