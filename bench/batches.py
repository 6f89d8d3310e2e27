"""Time one epoch of batches: vggcourse's DirectoryIterator against keras' tf.data pipeline.

    .venv/bin/python bench/batches.py                    # the shared sample's train/
    .venv/bin/python bench/batches.py path/to/train --size 224 --batch-size 64 --repeats 5

Both pipelines decode and resize every image of the directory to `size` and batch them; tf.data
is `keras.utils.image_dataset_from_directory(...).prefetch(AUTOTUNE)`. Each is warmed up with one
epoch first, then timed over `--repeats` epochs, alternating between the two so that load from
other processes hits both alike. Prints the best and median images/s of each and their ratio.
"""
import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "dogscats" / "train"


def vggcourse_epoch(batches):
    """Images in one epoch of a DirectoryIterator, read in order as a training loop would."""
    return sum(len(next(batches)[0]) for _ in range(len(batches)))


def tf_epoch(dataset):
    """Images in one epoch of a tf.data dataset of (images, labels)."""
    return sum(int(images.shape[0]) for images, _ in dataset)


def timed(epoch, source):
    start = time.perf_counter()
    count = epoch(source)
    return count, count / (time.perf_counter() - start)


def build(directory, size, batch_size):
    """(vggcourse batches, tf.data dataset) over `directory`, both shuffled, both `size` RGB."""
    import tensorflow as tf
    from keras.utils import image_dataset_from_directory

    from vggcourse.image import ImageDataGenerator

    ours = ImageDataGenerator().flow_from_directory(
        directory, target_size=(size, size), batch_size=batch_size, seed=0)
    theirs = image_dataset_from_directory(
        directory, image_size=(size, size), batch_size=batch_size, seed=0, verbose=False)
    return ours, theirs.prefetch(tf.data.AUTOTUNE)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default=str(DEFAULT_DIR))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    ours, theirs = build(args.directory, args.size, args.batch_size)
    timed(vggcourse_epoch, ours), timed(tf_epoch, theirs)  # warm-up: caches, threads, tracing
    rates = {"vggcourse": [], "tf.data": []}
    for _ in range(args.repeats):
        count, rate = timed(vggcourse_epoch, ours)
        rates["vggcourse"].append(rate)
        count_tf, rate = timed(tf_epoch, theirs)
        rates["tf.data"].append(rate)
    assert count == count_tf == ours.samples, (count, count_tf, ours.samples)

    print(f"{count} images from {args.directory} at {args.size}x{args.size}, batch "
          f"{args.batch_size}, {os.cpu_count()} CPUs, {args.repeats} epochs each after warm-up")
    for name, values in rates.items():
        print(f"{name:>10}: best {max(values):7.1f} images/s, median "
              f"{statistics.median(values):7.1f} images/s")
    best = max(rates["vggcourse"]) / max(rates["tf.data"])
    median = statistics.median(rates["vggcourse"]) / statistics.median(rates["tf.data"])
    print(f"     ratio: vggcourse / tf.data = {best:.2f} (best), {median:.2f} (median)")


if __name__ == "__main__":
    main()
