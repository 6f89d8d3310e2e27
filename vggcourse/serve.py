"""A web page and an HTTP API for a trained model (Starlette + uvicorn, as fastai's deployment template).

    from vggcourse.serve import app, run
    run("ft.keras", port=8000)             # or: vggcourse serve ft.keras --port 8000
    api = app("ft.keras", max_batch=8)     # the ASGI app, for another server or Starlette's TestClient

    curl -F file=@cat.jpg http://127.0.0.1:8000/predict
    curl -H 'Content-Type: image/jpeg' --data-binary @cat.jpg http://127.0.0.1:8000/predict

Routes:
- `GET /`: one page (no outside assets) to choose or drop an image and see every class's probability.
- `POST /predict`: a multipart form with the image in the field `file`, or the image's bytes with an
  `image/*` content type. Answers `{"top": name, "probabilities": {name: p, ...}}`, the classes in
  the model's order (`vgg.classes`). Bad input is a 4xx `{"error": "..."}` saying what was wrong
  and what to send: 400 (not an image, truncated, empty, no field `file`), 413 (over `max_bytes`,
  or more pixels than Pillow's `Image.MAX_IMAGE_PIXELS`), 415 (another content type).
- `GET /health`: `{"model": "Vgg16", "file": ..., "classes": [...], "input_size": [h, w], "max_batch": ...,
  "max_bytes": ..., "max_wait_ms": ..., "forward_passes": n, "images_predicted": n}`.

The model is loaded once (`model.load_course_model`: a Vgg16, Vgg16BN or Resnet50). Images are
decoded in a thread pool by the batches' own decoder (`decode.decode_image` on the bytes, resized to
the model's input size with 'nearest'), so a file gets what `vgg.test` gives it; images that arrive together share one forward pass (`_Batcher`: up to `max_batch`
images, waiting at most `max_wait_ms` for more), run in one thread off the event loop; on JAX each
batch is padded to a power of two (or `max_batch`), every such size compiled at start-up.
`api.state.forward_passes` and `api.state.images_predicted` count them.
"""
import asyncio
import collections
import contextlib
import io
import ipaddress
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from vggcourse import checks
from vggcourse.errors import UserInputError

try:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError("vggcourse.serve needs Starlette, uvicorn and python-multipart: "
                      "pip install starlette uvicorn python-multipart") from error

__all__ = ["DEFAULT_MAX_BYTES", "app", "run"]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_BATCH = 8
DEFAULT_MAX_WAIT_MS = 5.0
_PAGE = Path(__file__).with_name("static") / "serve.html"
_HOW_TO_SEND = ("send a multipart form with the image in the field 'file' (curl -F file=@cat.jpg URL), or the "
                "image's bytes with an image/* content type (curl -H 'Content-Type: image/jpeg' "
                "--data-binary @cat.jpg URL)")
_HEADER_LOCK = threading.Lock()  # `warnings.catch_warnings` changes process-wide state


class _Refused(Exception):
    """A request the server answers with `status` and `{"error": message}`."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _size_text(n):
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def _image_array(data, size):
    """float32 (h, w, 3) RGB of the image file `data` (bytes) at `size=(h, w)`, decoded as the
    batches decode files; a `_Refused` saying what is wrong with a bad file."""
    from PIL import Image, UnidentifiedImageError

    from vggcourse.decode import decode_image

    limit = Image.MAX_IMAGE_PIXELS
    try:
        with _HEADER_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below instead
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError as error:
        raise _Refused(413, f"the image is too large to decode safely ({error}); send an image of at most "
                            f"{limit:,} pixels (Pillow's Image.MAX_IMAGE_PIXELS)") from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as error:
        raise _Refused(400, f"the body is not an image Pillow can read ({type(error).__name__}); send a JPEG, "
                            f"PNG or another image file") from error
    if limit and width * height > limit:
        raise _Refused(413, f"the image is {width}x{height}, over {limit:,} pixels (Pillow's MAX_IMAGE_PIXELS); "
                            f"send a smaller image")
    try:
        return decode_image(data, size, "nearest", strict=True).astype(np.float32)
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        if isinstance(error, OSError) and "truncated" in str(error):
            raise _Refused(400, "the image is truncated; send the complete image file") from error
        raise _Refused(400, f"the image could not be decoded ({type(error).__name__}: {error}); send a "
                            f"JPEG, PNG or another image file") from error


class _Batcher:
    """Images submitted together share one forward pass of `predict` (numpy batch -> probabilities):
    up to `max_batch`, waiting at most `max_wait` seconds after the first for more. `predict` runs in
    one thread off the event loop; `state.forward_passes` / `state.images_predicted` count.

        batcher = _Batcher(model.predict_on_batch, 8, 0.005, app.state); await batcher.start()
        probabilities = await batcher.submit(x)      # x: one image, (h, w, 3)
    """

    def __init__(self, predict, max_batch, max_wait, state, sizes=None):
        self.predict, self.max_batch, self.max_wait, self.state = predict, max_batch, max_wait, state
        self.sizes = sizes  # None: any batch size; else each batch is padded to the first that holds it
        self.state.forward_passes = self.state.images_predicted = 0
        self._pending = collections.deque()  # (image, future)
        self._arrived = None
        self._task = None
        self._executor = None

    async def start(self, example):
        """Start the thread and the batching task; a forward pass of `example` at each of `sizes`
        (or alone) warms the model up: no request waits for a compilation."""
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vggcourse-serve-model")
        for size in self.sizes or (1,):
            await asyncio.get_running_loop().run_in_executor(
                self._executor, self.predict, np.repeat(example[None], size, axis=0))
        self._task = asyncio.create_task(self._run(), name="vggcourse-serve-batcher")

    async def stop(self):
        """Stop batching; requests still waiting get an error (after uvicorn's graceful shutdown
        there are none). Never waits for a forward pass."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._pending:
            _, future = self._pending.popleft()
            if not future.done():
                future.set_exception(_Refused(503, "the server is shutting down; send the image again later"))
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, image):
        """The model's probabilities for one image, computed in a batch with others."""
        if self._task is None or self._task.done():
            raise _Refused(503, "the server is not running its model (starting or stopping); try again")
        future = asyncio.get_running_loop().create_future()
        self._pending.append((image, future))
        self._arrived.set()
        return await future

    async def _run(self):
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            deadline = loop.time() + self.max_wait
            while len(self._pending) < self.max_batch and deadline > loop.time():
                self._arrived.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), deadline - loop.time())
            batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
            batch = [(image, future) for image, future in batch if not future.done()]  # client gone
            if batch:
                await self._forward(loop, batch)

    async def _forward(self, loop, batch):
        try:
            x = np.stack([image for image, _ in batch])
            size = next((n for n in self.sizes if n >= len(x)), len(x)) if self.sizes else len(x)
            if size > len(x):  # padded with zero images, whose answers are dropped
                x = np.concatenate([x, np.zeros((size - len(x), *x.shape[1:]), x.dtype)])
            probabilities = await loop.run_in_executor(self._executor, self.predict, x)
        except Exception as error:  # the model failed: every waiting request answers 500
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        self.state.forward_passes += 1
        self.state.images_predicted += len(batch)
        for (_, future), p in zip(batch, probabilities):
            if not future.done():
                future.set_result(p)


async def _read_body(request, max_bytes):
    """The request's body, refused (413) as soon as it is known to be over `max_bytes`: from its
    Content-Length, else while it streams in."""
    too_large = (f"the request body is over {_size_text(max_bytes)} (max_bytes={max_bytes}); send a smaller "
                 f"image, or start the server with a larger max_bytes (--max-bytes)")
    length = request.headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise _Refused(400, f"the Content-Length header is not a number: {length!r}")
        if int(length) > max_bytes:
            raise _Refused(413, too_large)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > max_bytes:
            raise _Refused(413, too_large)
        chunks.append(chunk)
    return b"".join(chunks)


async def _form_file(request, body):
    """The bytes of the form field `file` of a multipart `body` already read from `request`."""
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, receive).form(max_files=4, max_fields=16)
    except HTTPException as error:  # python-multipart could not parse it
        raise _Refused(400, f"the multipart form could not be read ({error.detail}); {_HOW_TO_SEND}") from error
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            fields = ", ".join(repr(key) for key in form.keys()) or "none"
            what = "is text, not a file" if "file" in form else f"is missing (fields received: {fields})"
            raise _Refused(400, f"the form field 'file' {what}; {_HOW_TO_SEND}")
        return await upload.read()
    finally:
        await form.close()


async def _image_bytes(request, max_bytes):
    """The image's bytes of a `POST /predict`: a multipart field `file`, or an `image/*` body."""
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if kind != "multipart/form-data" and not kind.startswith("image/"):
        raise _Refused(415, f"the content type is {content_type or 'missing'}; {_HOW_TO_SEND}")
    body = await _read_body(request, max_bytes)
    data = await _form_file(request, body) if kind == "multipart/form-data" else body
    if not data:
        raise _Refused(400, f"the image is empty (0 bytes); {_HOW_TO_SEND}")
    return data


def _error(status, message):
    return JSONResponse({"error": message}, status_code=status)


def _routes(vgg, size, path, batcher, max_bytes, limits):
    """The three routes' handlers over the loaded model `vgg`, whose input is `size` = (h, w)."""
    classes = [str(name) for name in vgg.classes]
    health = {"model": type(vgg).__name__, "file": Path(path).name, "classes": classes, "input_size": list(size),
              **limits}

    html = _PAGE.read_text(encoding="utf-8")  # read once: a missing file fails here, not on a request

    async def page(request):
        return HTMLResponse(html)

    async def get_health(request):
        state = request.app.state
        return JSONResponse({**health, "forward_passes": state.forward_passes,
                             "images_predicted": state.images_predicted})

    async def predict(request):
        try:
            data = await _image_bytes(request, max_bytes)
            image = await run_in_threadpool(_image_array, data, size)
            probabilities = await batcher.submit(image)
        except _Refused as refused:
            return _error(refused.status, str(refused))
        top = int(np.argmax(probabilities))
        return JSONResponse({"top": classes[top],
                             "probabilities": {name: float(p) for name, p in zip(classes, probabilities)}})

    return [Route("/", page), Route("/health", get_health), Route("/predict", predict, methods=["POST"])]


def _checked_limits(max_batch, max_bytes, max_wait_ms, caller):
    return dict(max_batch=checks.whole_number("max_batch", max_batch, least=1, caller=caller),
                max_bytes=checks.whole_number("max_bytes", max_bytes, least=1, caller=caller),
                max_wait_ms=checks.non_negative_number("max_wait_ms", max_wait_ms, caller=caller))


def _batch_sizes(max_batch, backend=None):
    """The batch sizes a forward pass is padded to: on JAX, which compiles one program per input
    shape, the powers of two below `max_batch` and `max_batch` itself (each compiled once, at
    start-up); None (any size, unpadded) on TensorFlow, whose function generalises the batch
    dimension, and PyTorch, which compiles nothing.

        _batch_sizes(12, "jax")   # (1, 2, 4, 8, 12)
    """
    import keras

    if (backend or keras.backend.backend()) != "jax":
        return None
    return tuple(1 << k for k in range(max_batch.bit_length()) if 1 << k < max_batch) + (max_batch,)


def app(model_path, max_batch=DEFAULT_MAX_BATCH, max_bytes=DEFAULT_MAX_BYTES, max_wait_ms=DEFAULT_MAX_WAIT_MS):
    """A Starlette ASGI app serving the model saved at `model_path` (a `.keras` file `vgg.save` or
    `vggcourse finetune` wrote): the page `/`, `POST /predict` and `GET /health` (see the module's docstring).

    At most `max_batch` images share a forward pass, waiting at most `max_wait_ms` for each other;
    a body over `max_bytes` is refused (413). The batching starts with the app's lifespan (uvicorn,
    or `with TestClient(api)`).

        api = app("ft.keras", max_batch=16)
        with TestClient(api) as client: client.post("/predict", files={"file": open("cat.jpg", "rb")})
    """
    from vggcourse.model import load_course_model

    limits = _checked_limits(max_batch, max_bytes, max_wait_ms, "serve.app")
    vgg = load_course_model(model_path)
    size = tuple(int(n) for n in vgg.model.input_shape[1:3])
    batcher = None

    @contextlib.asynccontextmanager
    async def lifespan(api):
        await batcher.start(np.zeros(size + (3,), dtype="float32"))
        try:
            yield
        finally:
            await batcher.stop()

    def not_routed(request, error):  # 404, 405 as JSON too
        return _error(error.status_code, f"{error.detail}: {request.method} {request.url.path}; the routes are "
                                         f"GET /, GET /health and POST /predict")

    def failed(request, error):  # a bug or the model failing: this request fails, the server keeps serving
        return _error(500, f"the server failed on this request ({type(error).__name__}: {error})")

    api = Starlette(lifespan=lifespan, exception_handlers={HTTPException: not_routed, Exception: failed})
    batcher = _Batcher(lambda x: np.asarray(vgg.model.predict_on_batch(x)), limits["max_batch"],
                       limits["max_wait_ms"] / 1000, api.state, sizes=_batch_sizes(limits["max_batch"]))
    api.router.routes.extend(_routes(vgg, size, model_path, batcher, limits["max_bytes"], limits))
    api.state.vgg, api.state.input_size = vgg, size
    return api


def _is_local(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(model_path, host="127.0.0.1", port=8000, max_batch=DEFAULT_MAX_BATCH, max_bytes=DEFAULT_MAX_BYTES,
        max_wait_ms=DEFAULT_MAX_WAIT_MS):
    """Serve the model at `model_path` with uvicorn on `host`:`port` until Ctrl-C or SIGTERM (requests
    in flight are answered first). Prints one start-up line; `host='0.0.0.0'` makes the model
    reachable from other machines, and the line says so.

        run("ft.keras")                       # http://127.0.0.1:8000/
        run("ft.keras", host="0.0.0.0", port=8080, max_batch=16)
    """
    import uvicorn

    if not isinstance(host, str) or not host:
        raise UserInputError(f"serve.run: `host` must be a host name or address such as '127.0.0.1'. "
                             f"Received: host={host!r}")
    port = checks.whole_number_in("port", port, 1, 65535, what="a port number from 1 to 65535", caller="serve.run")
    api = app(model_path, max_batch=max_batch, max_bytes=max_bytes, max_wait_ms=max_wait_ms)
    vgg = api.state.vgg
    shown = f"[{host}]" if ":" in host else host
    where = ("only from this machine" if _is_local(host) else
             f"on {host}: the model is reachable from other machines on the network")
    print(f"vggcourse serve: {type(vgg).__name__} from {model_path} ({len(vgg.classes)} classes, "
          f"{'x'.join(map(str, api.state.input_size))} input) at http://{shown}:{port}/ ({where}); "
          f"Ctrl-C stops", flush=True)
    # log_config=None: uvicorn leaves the process's logging as it is; its warnings and errors still
    # reach stderr through Python's last-resort handler.
    config = uvicorn.Config(api, host=host, port=port, log_level="warning", log_config=None, access_log=False,
                            lifespan="on", timeout_graceful_shutdown=10)
    uvicorn.Server(config).run()
