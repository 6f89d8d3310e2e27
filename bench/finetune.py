"""Time the course's fine-tune with vggcourse against the same job in plain Keras 3, and inference.

    .venv/bin/python bench/finetune.py                     # the shared sample, 224x224, batch 64
    .venv/bin/python bench/finetune.py path/to/dogscats --size 224 --batch-size 64 --epochs 3
    .venv/bin/python bench/finetune.py --weights vgg16_weights_tf_dim_ordering_tf_kernels.h5
    .venv/bin/python bench/finetune.py --skip-finetune --sweep   # inference only: batch size, XLA

The directory holds `train/` and `valid/` class folders. The jobs, each timed from building the
model to the end of the last epoch, in one process (the files are read once beforehand so both
find them in the page cache):

- vggcourse, the course's lines: `Vgg16(weights)`, `get_batches` for train and valid, `finetune`,
  `fit(batches, val_batches, nb_epoch=3)`, with an empty feature cache folder.
- the same with a `ModelCheckpoint` (the whole model, every epoch) and a `CSVLogger`; the time
  the checkpoint spends writing its files is also taken out, to tell the files' cost from the rest.
- with `--mixed-precision`: the course's lines after `devices.enable_mixed_precision()` (bfloat16
  on accelerators and on CPUs with bfloat16 instructions, where the backend uses them).
- the expert peer: the frozen body run once by hand over train and valid (`tf.data`,
  `predict_on_batch`), a new softmax trained on the stored features.
- plain Keras, as its documentation teaches transfer learning: `keras.applications.VGG16`
  (include_top=True) frozen up to `fc2`, `vgg16.preprocess_input` in the model, a new 2-way
  softmax on top, `keras.utils.image_dataset_from_directory(...).prefetch(AUTOTUNE)`, one `fit`.

Both use the same weight file: `--weights PATH`, or, because ImageNet weights cannot be downloaded
here, random weights generated once (`keras.applications.VGG16(weights=None)`, seed 0) and loaded
into both. Then inference: the float32 matmul rate of this machine (`keras.ops.matmul`, see
bench/flops.py), and VGG16 forward passes per second as a fraction of it.
"""
import argparse
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import data_folder  # noqa: E402  (bench/_data.py)



def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def random_weights(size, folder):
    """A `.weights.h5` file of `keras.applications.VGG16(weights=None)` at `size`, seed 0."""
    import keras

    keras.utils.set_random_seed(0)
    path = Path(folder) / f"vgg16_random_{size}.weights.h5"
    keras.applications.VGG16(weights=None, input_shape=(size, size, 3)).save_weights(path)
    return str(path)


def read_files(directory):
    """Read every file once, so that neither job pays for the first read from disk."""
    return sum(len(p.read_bytes()) for p in Path(directory).rglob("*") if p.is_file())


def vggcourse_job(data, size, batch_size, epochs, weights, verbose, callbacks=None):
    """The course's lines. Returns (seconds, History)."""
    from vggcourse import feature_store
    from vggcourse.model import Vgg16

    feature_store.clear_memory()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["VGGCOURSE_CACHE"] = cache  # empty: the first epoch computes the features
        start = time.perf_counter()
        vgg = Vgg16(weights=weights, size=(size, size))
        batches = vgg.get_batches(data / "train", batch_size=batch_size)
        val_batches = vgg.get_batches(data / "valid", batch_size=batch_size * 2, shuffle=False)
        vgg.finetune(batches)
        history = vgg.fit(batches, val_batches, nb_epoch=epochs, verbose=verbose, callbacks=callbacks)
        seconds = time.perf_counter() - start
    return seconds, history, vgg


def vggcourse_callbacks_job(data, size, batch_size, epochs, weights, verbose):
    """The course's lines with a ModelCheckpoint (whole model, every epoch) and a CSVLogger.

    The time the checkpoint spends in `on_epoch_end` (writing the .keras file) is recorded in the
    History as `checkpoint_write_s`, so the cost of the files can be told from any other cost.
    """
    import keras

    class TimedModelCheckpoint(keras.callbacks.ModelCheckpoint):
        seconds = 0.0

        def on_epoch_end(self, epoch, logs=None):
            start = time.perf_counter()
            super().on_epoch_end(epoch, logs)
            self.seconds += time.perf_counter() - start

    with tempfile.TemporaryDirectory() as out:
        checkpoint = TimedModelCheckpoint(os.path.join(out, "ck.keras"))
        callbacks = [checkpoint, keras.callbacks.CSVLogger(os.path.join(out, "log.csv"))]
        seconds, history, vgg = vggcourse_job(data, size, batch_size, epochs, weights, verbose, callbacks)
    history.history["checkpoint_write_s"] = [checkpoint.seconds]
    return seconds, history, vgg


def vggcourse_mixed_job(data, size, batch_size, epochs, weights, verbose):
    """The course's lines after `devices.enable_mixed_precision()`: bfloat16 where the machine
    computes it natively (bench/RESULTS.md says where); the global policy is float32 again after."""
    import keras

    from vggcourse import devices

    policy = devices.enable_mixed_precision()
    try:
        seconds, history, vgg = vggcourse_job(data, size, batch_size, epochs, weights, verbose)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    print(f"  enable_mixed_precision() set {policy or 'nothing (float32 stays)'}", flush=True)
    return seconds, history, vgg


def expert_job(data, size, batch_size, epochs, weights, verbose):
    """What an expert writes by hand: the frozen body run once over train and valid (tf.data,
    `predict_on_batch`), then a new softmax trained on the stored 4096-wide fc2 features."""
    import keras
    import numpy as np
    import tensorflow as tf

    start = time.perf_counter()
    base = keras.applications.VGG16(weights=weights, input_shape=(size, size, 3))
    inputs = keras.Input((size, size, 3))
    body = keras.Model(inputs, keras.Model(base.input, base.get_layer("fc2").output)(
        keras.applications.vgg16.preprocess_input(inputs), training=False))

    def extract(split, shuffle):
        dataset = keras.utils.image_dataset_from_directory(
            data / split, image_size=(size, size), batch_size=batch_size,
            label_mode="categorical", shuffle=shuffle, seed=0, verbose=False).prefetch(tf.data.AUTOTUNE)
        feats, labels = zip(*((body.predict_on_batch(x), y.numpy()) for x, y in dataset))
        return np.concatenate(feats), np.concatenate(labels)

    train, valid = extract("train", True), extract("valid", False)
    head = keras.Sequential([keras.Input((train[0].shape[1],)), keras.layers.Dense(2, activation="softmax")])
    head.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                 metrics=["accuracy"])
    history = head.fit(*train, batch_size=batch_size, epochs=epochs, validation_data=valid,
                       verbose=verbose)
    return time.perf_counter() - start, history, head


def plain_keras_job(data, size, batch_size, epochs, weights, verbose):
    """The same job as the Keras 3 documentation teaches it. Returns (seconds, History)."""
    import keras
    import tensorflow as tf

    start = time.perf_counter()
    base = keras.applications.VGG16(weights=weights, input_shape=(size, size, 3))
    body = keras.Model(base.input, base.get_layer("fc2").output)
    body.trainable = False
    inputs = keras.Input((size, size, 3))
    x = keras.applications.vgg16.preprocess_input(inputs)
    x = body(x, training=False)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    train = keras.utils.image_dataset_from_directory(
        data / "train", image_size=(size, size), batch_size=batch_size, label_mode="categorical",
        seed=0, verbose=False).prefetch(tf.data.AUTOTUNE)
    valid = keras.utils.image_dataset_from_directory(
        data / "valid", image_size=(size, size), batch_size=batch_size * 2,
        label_mode="categorical", shuffle=False, verbose=False).prefetch(tf.data.AUTOTUNE)
    history = model.fit(train, validation_data=valid, epochs=epochs, verbose=verbose)
    return time.perf_counter() - start, history, model


def count_images(data):
    from vggcourse.image import DirectoryIterator

    return sum(DirectoryIterator(data / split, target_size=(32, 32)).samples
               for split in ("train", "valid"))


def finetune(args, weights):
    """Run both jobs `--repeats` times, alternating; print wall times, images/s and the ratio."""
    images = count_images(args.data) * args.epochs
    jobs = [("vggcourse", vggcourse_job), ("vggcourse + ModelCheckpoint + CSVLogger", vggcourse_callbacks_job),
            ("expert peer", expert_job)]
    if args.mixed_precision:
        jobs.insert(1, ("vggcourse + enable_mixed_precision()", vggcourse_mixed_job))
    if not args.skip_naive:
        jobs.append(("plain Keras", plain_keras_job))
    times = {name: [] for name, _ in jobs}
    for repeat in range(args.repeats):
        for name, job in jobs if repeat % 2 == 0 else jobs[::-1]:
            gc.collect()
            seconds, history, _ = job(args.data, args.size, args.batch_size, args.epochs,
                                      weights, args.verbose)
            times[name].append(seconds)
            if "checkpoint_write_s" in history.history:
                times.setdefault(f"{name}, minus the file writes", []).append(
                    seconds - history.history["checkpoint_write_s"][-1])
            last = {k: round(v[-1], 4) for k, v in history.history.items()}
            print(f"  {name:>40} run {repeat + 1}: {seconds:7.1f} s  last epoch {last}",
                  flush=True)
    print(f"\nFine-tune, {args.epochs} epochs at {args.size}x{args.size}, batch {args.batch_size}"
          f" (valid {args.batch_size * 2}), {images // args.epochs} images per epoch "
          f"(train + valid), best of {args.repeats}:")
    for name, values in times.items():
        print(f"  {name:>40}: {min(values):7.1f} s wall, {images / min(values):6.2f} images/s"
              + (f"  (all runs: {', '.join(f'{v:.1f}' for v in values)})" if len(values) > 1
                 else ""))

    def ratio(a, b):
        best = min(times[a]) / min(times[b])
        median = statistics.median(times[a]) / statistics.median(times[b])
        print(f"  ratio {a} / {b}: {best:.2f} (best), {median:.2f} (median)")

    for peer in ("plain Keras", "expert peer"):
        if peer in times:
            ratio("vggcourse", peer)
    if "vggcourse + enable_mixed_precision()" in times:
        for peer in ("vggcourse", "expert peer", "plain Keras"):
            if peer in times:
                ratio("vggcourse + enable_mixed_precision()", peer)
    ratio("vggcourse + ModelCheckpoint + CSVLogger", "vggcourse")
    ratio("vggcourse + ModelCheckpoint + CSVLogger, minus the file writes", "vggcourse")
    ratio("vggcourse + ModelCheckpoint + CSVLogger", "expert peer")


def forward_timer(model, batch_size, jit="auto"):
    """A function timing one `predict_on_batch` of random images; returns images/s."""
    import numpy as np

    model.compile(jit_compile=jit)
    x = np.random.default_rng(0).uniform(0, 255, (batch_size, *model.input_shape[1:]))
    x = x.astype("float32")
    model.predict_on_batch(x)  # warm-up: tracing

    def timed():
        start = time.perf_counter()
        model.predict_on_batch(x)
        return batch_size / (time.perf_counter() - start)

    return timed


def inference(args, weights):
    """Matmul GFLOP/s of this machine, and VGG16 forward passes against it.

    The matmul and the forward passes are timed in turns, `--rounds` times, and the best of each
    is kept: on a shared machine a quiet moment gives both their best.
    """
    import keras

    from flops import matmul_gflops, model_flops
    from vggcourse import devices, feature_store
    from vggcourse.model import Vgg16

    vgg = Vgg16(weights=weights, size=(args.size, args.size))
    flop = model_flops(vgg.model)
    batch = devices.inference_batch_size(args.batch_size)  # what the feature pass uses
    base = keras.applications.VGG16(weights=weights, input_shape=(args.size, args.size, 3))
    timers = {f"vgg.model forward, batch {batch} (vggcourse's choice), jit auto":
              forward_timer(vgg.model, batch),
              f"keras.applications.VGG16 forward, batch {batch}, jit auto":
              forward_timer(base, batch)}
    if args.sweep:
        for size in (1, 4, 8, 16, 32):
            for jit in (False, True):
                timers[f"vgg.model forward, batch {size}, jit_compile={jit}"] = forward_timer(
                    keras.Sequential(vgg.model.layers), size, jit)
    peak, rates = 0.0, {}
    for _ in range(args.rounds):
        peak = max(peak, *(matmul_gflops(n, repeats=3) for n in (1024, 2048, 4096)))
        for label, timed in timers.items():
            rates[label] = max(rates.get(label, 0.0), timed())
    print(f"\nInference: matmul {peak:.1f} GFLOP/s (float32, keras.ops, best of 1024/2048/4096,"
          f" {args.rounds} rounds); VGG16 at {args.size}x{args.size} = {flop / 1e9:.2f} GFLOP per "
          f"image ({flop / 2e9:.2f} G multiply-adds)")

    def show(label, rate):
        print(f"  {label:<58} {rate:6.2f} images/s = {rate * flop / 1e9:6.1f} GFLOP/s = "
              f"{100 * rate * flop / 1e9 / peak:5.1f}% of matmul", flush=True)

    for label, rate in rates.items():
        show(label, rate)

    # End to end from JPEG files: decoding, resizing and the forward pass.
    batches = vgg.get_batches(args.data / "train", batch_size=args.batch_size)
    vgg.finetune(batches)
    feature_store.clear_memory()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["VGGCOURSE_CACHE"] = cache
        valid = args.data / "valid"
        start = time.perf_counter()
        test_batches, _ = vgg.test(valid, batch_size=args.batch_size)
        show(f"vgg.test(valid) fine-tuned, empty cache ({test_batches.samples} JPEGs)",
             test_batches.samples / (time.perf_counter() - start))
        start = time.perf_counter()
        vgg.test(valid, batch_size=args.batch_size)
        seconds = time.perf_counter() - start
        print(f"  vgg.test(valid) again, features cached: {seconds:.2f} s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path,
                        help="a folder with train/ and valid/ class folders (default: ../shared/data/dogscats)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--weights", help="a VGG16 weight file for both (default: random)")
    parser.add_argument("--repeats", type=int, default=1, help="fine-tune runs of each job")
    parser.add_argument("--skip-finetune", action="store_true")
    parser.add_argument("--skip-naive", action="store_true", help="leave out the plain Keras job")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="also time the course's lines after devices.enable_mixed_precision()")
    parser.add_argument("--skip-inference", action="store_true")
    parser.add_argument("--rounds", type=int, default=5, help="inference timing rounds")
    parser.add_argument("--sweep", action="store_true",
                        help="inference at batch 1-32, with and without XLA")
    parser.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity")
    args = parser.parse_args(argv)
    args.data = data_folder(args.data, "dogscats", "bench/finetune.py")
    import keras
    import tensorflow as tf

    # Keras' own note that fit(shuffle=True) does not reshuffle a tf.data dataset (it shuffles
    # its file list each epoch already): noise in this comparison.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")

    print(f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), "
          f"{'GPU: ' + str(tf.config.list_physical_devices('GPU')) if tf.config.list_physical_devices('GPU') else 'no GPU'}; "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"Data: {args.data} ({read_files(args.data) / 1e6:.1f} MB read into the page cache)")
    with tempfile.TemporaryDirectory() as folder:
        weights = args.weights or random_weights(args.size, folder)
        print(f"Weights: {args.weights or 'RANDOM (ImageNet weights are not available here): '}"
              f"{'' if args.weights else 'one file from keras.applications.VGG16(weights=None), seed 0, loaded into both'}")
        if not args.skip_finetune:
            finetune(args, weights)
        if not args.skip_inference:
            inference(args, weights)


if __name__ == "__main__":
    main()
