"""Load on `vggcourse.serve`: many clients at once (micro-batched) against one request at a time.

    .venv/bin/python bench/serve_load.py                       # ../shared/data/dogscats/valid, 224x224
    .venv/bin/python bench/serve_load.py path/to/images --size 112 --requests 200 --clients 16

Saves a VGG16 at `--size` with RANDOM weights (ImageNet's weights are not available offline; the
timings are the same with trained weights, the probabilities meaningless) into a temporary folder,
starts `vggcourse serve` (`python -m vggcourse serve`) on it on a free port, then POSTs `--requests`
real JPEGs (every image under the folder, in turn) from `--clients` concurrent clients, and then the same requests one
at a time. Prints, for each: errors, images/s, p50 and p99 latency; and the ratio of the two
throughputs. The server is stopped with SIGTERM at the end.
"""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import data_folder  # noqa: E402  (bench/_data.py)

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def save_model(path, size):
    """A random-weight Vgg16 at (size, size) with the 1000-way top, saved to `path`."""
    from vggcourse.model import Vgg16

    Vgg16((size, size), weights=None).save(path, include_optimizer=False)


def start_server(model, max_batch, max_wait_ms):
    """(process, url) of `python -m vggcourse serve model` on a free port, once /health answers."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "vggcourse", "serve", str(model), "--port", str(port),
                                "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms)],
                               cwd=REPO, env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                                   filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))))
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        if process.poll() is not None:
            sys.exit(f"serve_load.py: the server exited with code {process.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    sys.exit("serve_load.py: the server did not answer /health within 120 s")


def send(url, images, clients):
    """(seconds, latencies, errors) of POSTing every image of `images` from `clients` threads."""
    import httpx

    latencies, errors, lock, position = [], [], threading.Lock(), iter(range(len(images)))

    def client():
        with httpx.Client(timeout=300) as http:
            while True:
                with lock:
                    i = next(position, None)
                if i is None:
                    return
                name, data = images[i]
                start = time.perf_counter()
                try:
                    answer = http.post(url + "/predict", files={"file": (name, data, "image/jpeg")})
                    ok = answer.status_code == 200 and "top" in answer.json()
                    problem = None if ok else f"{answer.status_code} {answer.text[:200]}"
                except httpx.HTTPError as error:
                    problem = f"{type(error).__name__}: {error}"
                with lock:
                    latencies.append(time.perf_counter() - start)
                    if problem:
                        errors.append(problem)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies, errors


def _forward_passes(url):
    import httpx

    health = httpx.get(url + "/health").json()
    return health["forward_passes"], health["images_predicted"]


def report(label, seconds, latencies, errors):
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    print(f"{label:<12} {len(latencies)} requests, {len(errors)} errors, {len(latencies) / seconds:6.2f} images/s, "
          f"p50 {1000 * statistics.median(ordered):7.1f} ms, p99 {1000 * p99:7.1f} ms")
    for problem in errors[:5]:
        print(f"    {problem}")
    return len(latencies) / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", help="a folder of JPEGs (searched recursively); default: "
                                                  "../shared/data/dogscats/valid")
    parser.add_argument("--size", type=int, default=224, help="the model's input side (default 224)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    args = parser.parse_args()
    folder = data_folder(args.folder, "dogscats", "bench/serve_load.py", below="valid")
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not files:
        sys.exit(f"serve_load.py: no JPEGs under {folder}; pass a folder of .jpg files")
    images = [(files[i % len(files)].name, files[i % len(files)].read_bytes()) for i in range(args.requests)]
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / f"vgg16-{args.size}.keras"
        start = time.perf_counter()
        save_model(model, args.size)
        print(f"VGG16 {args.size}x{args.size}, random weights, {model.stat().st_size / 1e6:.0f} MB, saved in "
              f"{time.perf_counter() - start:.1f} s; {len(files)} JPEGs from {folder}; {os.cpu_count()} CPUs")
        process, url = start_server(model, args.max_batch, args.max_wait_ms)
        try:
            send(url, images[:4], 1)  # warm up: the first requests of each thread pool
            before = _forward_passes(url)
            concurrent = report(f"{args.clients} clients", *send(url, images, args.clients))
            passes = [now - then for now, then in zip(_forward_passes(url), before)]
            sequential = report("1 client", *send(url, images, 1))
            print(f"concurrent: {args.requests / passes[0]:.1f} images per forward pass on average")
            print(f"throughput ratio (concurrent / one at a time): {concurrent / sequential:.2f}x "
                  f"(max_batch={args.max_batch}, max_wait_ms={args.max_wait_ms})")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


if __name__ == "__main__":
    main()
