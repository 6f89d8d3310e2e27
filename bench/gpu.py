"""VGG16 on an accelerator with JAX: inference images/s, the share of the device's peak, and a fine-tune.

    KERAS_BACKEND=jax .venv-jax/bin/python bench/gpu.py                 # 224x224, dogscats-1k
    KERAS_BACKEND=jax .venv-jax/bin/python bench/gpu.py --batch-sizes 64 128 256 --all-devices
    KERAS_BACKEND=jax .venv-jax/bin/python bench/gpu.py --size 32 --images 64   # a CPU check, seconds

Runs on JAX (the default here) without TensorFlow. Mixed precision as `vggcourse.devices` picks it
(bfloat16 on A100/H100/H200, float16 on older GPUs, float32 on a CPU); random weights (the speed
is the same as ImageNet's, and nothing is downloaded).

1. Inference: VGG16 (with its top) on images already in device memory, `predict_on_batch` per
   batch size after one warm-up call; images/s, TFLOP/s (30.94 GFLOP per image at 224: a
   multiply-add counts 2, see bench/flops.py) and that rate as a share of the device's dense
   bf16 peak (`PEAK_TFLOPS`, by device name; `--peak` for another device).
2. Fine-tune: the course's lines on real JPEGs (`--data`, default ../shared/data/dogscats-1k,
   `--images N` takes the first N of train and N/4 of valid), `Vgg16(weights=None)`,
   `finetune`, then `fit(nb_epoch=3)` with a clock at each epoch's end: the first epoch (timed
   from the call) decodes every image and runs the frozen body (feature cache), the later ones
   train the head on the cached features. images/s = training images / wall seconds of that
   epoch (validation included).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import data_folder  # noqa: E402  (bench/_data.py)


# Dense (not sparse) bfloat16 tensor TFLOP/s per device, from the vendors' data sheets; float16
# for devices without bfloat16 (T4, V100). First match on the device name wins, so the more
# specific names come first.
PEAK_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("GH200", 989.4),
    ("H200", 989.4),
    ("H100", 989.4),  # SXM: "NVIDIA H100 80GB HBM3"
    ("H800", 989.4),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("RTX 4090", 165.2),
    ("V100", 125.0),
    ("T4", 65.0),
    ("TPU v6", 918.0),
    ("TPU v5p", 459.0),
    ("TPU v5", 197.0),  # v5e ("TPU v5 lite")
    ("TPU v4", 275.0),
)


def peak_tflops(kind):
    """Dense bf16 TFLOP/s of one device called `kind` ("NVIDIA H100 80GB HBM3"), or None if unknown."""
    for name, peak in PEAK_TFLOPS:
        if name.lower() in kind.lower():
            return peak
    return None


def device_kind():
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.local_devices()[0].device_kind
    return keras.backend.backend()


def inference(size, batch_sizes, repeats, seconds):
    """{batch size: images/s} of VGG16 forward passes on images held by the device."""
    import keras
    import numpy as np

    from flops import model_flops
    from vggcourse import devices
    from vggcourse.model import build_vgg16

    with devices.model_scope():
        model = build_vgg16((size, size))
    flops = model_flops(model)
    rates = {}
    rng = np.random.default_rng(0)
    for batch in batch_sizes:
        x = keras.ops.convert_to_tensor(rng.uniform(0, 255, (batch, size, size, 3)).astype("float32"))
        model.predict_on_batch(x)  # compile
        times = []
        deadline = time.perf_counter() + seconds
        while len(times) < repeats or time.perf_counter() < deadline:
            start = time.perf_counter()
            model.predict_on_batch(x)  # returns numpy: waits for the device
            times.append(time.perf_counter() - start)
            if len(times) >= 10 * repeats:
                break
        rates[batch] = batch / statistics.median(times)
    return rates, flops


def sample_folder(data, images, dest):
    """`dest` with train/ (first `images` files) and valid/ (`images` // 4), as symlinks, by class."""
    for split, count in (("train", images), ("valid", max(images // 4, 2))):
        classes = sorted(p for p in (Path(data) / split).iterdir() if p.is_dir())
        if not classes:
            raise FileNotFoundError(f"no class folders in {Path(data) / split}: pass --data DIR with train/ and valid/")
        for index, folder in enumerate(classes):
            share = count // len(classes) + (index < count % len(classes))
            target = dest / split / folder.name
            target.mkdir(parents=True)
            for path in sorted(folder.iterdir())[:share]:
                (target / path.name).symlink_to(path.resolve())
    return dest


def finetune(data, size, batch_size, epochs, images):
    """Seconds of each epoch of one `vgg.fit(nb_epoch=epochs)` (the first from the call), and the image count."""
    import keras

    from vggcourse import devices, features
    from vggcourse.model import Vgg16

    ends = []
    clock = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VGGCOURSE_CACHE"] = str(Path(tmp) / "cache")
        if images:
            data = sample_folder(data, images, Path(tmp) / "data")
        with devices.model_scope():
            vgg = Vgg16(weights=None, size=(size, size))
            batches = vgg.get_batches(str(Path(data) / "train"), batch_size=batch_size)
            val_batches = vgg.get_batches(str(Path(data) / "valid"), batch_size=batch_size * 2, shuffle=False)
            vgg.finetune(batches)
        start = time.perf_counter()
        vgg.fit(batches, val_batches, nb_epoch=epochs, verbose=0, callbacks=[clock])
        features.clear_cache()
    return [end - begin for begin, end in zip([start, *ends], ends)], batches.samples


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--repeats", type=int, default=10, help="timed batches per batch size, at least")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per batch size, at least")
    parser.add_argument("--data", help="a folder with train/ and valid/ class folders (default: ../shared/data/dogscats-1k)")
    parser.add_argument("--images", type=int, default=0, help="use only the first N training images (0: all)")
    parser.add_argument("--batch-size", type=int, default=64, help="fine-tune batch size (the course's 64)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--peak", type=float, help="the device's dense bf16 TFLOP/s, if not in the table")
    parser.add_argument("--all-devices", action="store_true", help="vggcourse.devices.use_all_devices()")
    parser.add_argument("--skip-finetune", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_finetune:
        args.data = data_folder(args.data, "dogscats-1k", "bench/gpu.py", option="--data")

    import keras

    from vggcourse import devices

    policy = devices.enable_mixed_precision()
    count = devices.use_all_devices() if args.all_devices else 1
    kind = device_kind()
    peak = args.peak or peak_tflops(kind)
    print(f"backend {keras.backend.backend()}, keras {keras.__version__}, device {kind!r} x {count}, "
          f"dtype policy {policy or 'float32'}, accelerators {devices.accelerators()}")

    rates, flops = inference(args.size, args.batch_sizes, args.repeats, args.seconds)
    print(f"inference at {args.size}x{args.size}: {flops / 1e9:.2f} GFLOP per image")
    for batch, rate in rates.items():
        tflops = rate * flops / 1e12
        share = f"{tflops / (peak * count):.1%} of {peak * count:.0f} TFLOP/s peak" if peak else "peak unknown (--peak)"
        print(f"  batch {batch:4d}: {rate:10.1f} images/s  {tflops:8.2f} TFLOP/s  {share}")

    if not args.skip_finetune:
        times, samples = finetune(args.data, args.size, args.batch_size, args.epochs, args.images)
        print(f"fine-tune, {samples} training images at {args.size}x{args.size}, batch {args.batch_size}:")
        for epoch, seconds in enumerate(times, start=1):
            print(f"  epoch {epoch}: {seconds:8.2f} s  {samples / seconds:10.1f} images/s")
    print(f"tensorflow imported: {'tensorflow' in sys.modules}")


if __name__ == "__main__":
    main()
