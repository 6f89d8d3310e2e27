"""Time one epoch of batches: vggcourse's DirectoryIterator against keras' tf.data pipeline.

    .venv/bin/python bench/batches.py                    # 1,000 real JPEGs: dogscats-1k/train
    .venv/bin/python bench/batches.py path/to/train --size 224 --batch-size 64 --repeats 5
    .venv/bin/python bench/batches.py --interpolation bilinear  # one filter for both pipelines
    .venv/bin/python bench/batches.py --first-epoch      # a fresh pipeline each time: scan + one epoch
    .venv/bin/python bench/batches.py --dataframe        # first epochs: flow_from_dataframe / _directory

Both pipelines decode and resize every image of the directory to `size` and batch them:
vggcourse with libjpeg-turbo (`simplejpeg`, see vggcourse/decode.py) on its thread pool, tf.data
as `keras.utils.image_dataset_from_directory(...).prefetch(AUTOTUNE)`. By default each uses its
own library's default filter (vggcourse: 'nearest', as Keras' ImageDataGenerator and the course
did; tf.data: 'bilinear' without antialiasing); `--interpolation` gives both the same one. Each
is warmed up with one epoch first, then timed over `--repeats` epochs, alternating between the
two (and which of them goes first) so that load from other processes hits both alike. Prints
the best and median images/s of each, their ratio, and the process CPU time per image (steadier
than wall time on a shared machine).

`--first-epoch` times what `predict`, `test` and the feature cache pay: each repeat makes a fresh
pipeline (listing the folder, and vggcourse's check that each file is an image) and reads one
epoch, by index in order as Keras' fit / predict and the feature cache read it (`next()` would
also start the next epoch's first batches ahead). `--dataframe` compares, the same way, `flow_from_dataframe` over a table of the folder's
files with `flow_from_directory` over the folder.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import data_folder  # noqa: E402  (bench/_data.py)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def vggcourse_epoch(batches):
    """Images in one epoch of a DirectoryIterator, read in order as a training loop would."""
    return sum(len(next(batches)[0]) for _ in range(len(batches)))


def vggcourse_indexed_epoch(batches):
    """Images in one epoch read by index in order, as Keras' fit / predict and the feature cache read."""
    return sum(len(batches[i][0]) for i in range(len(batches)))


def tf_epoch(dataset):
    """Images in one epoch of a tf.data dataset of (images, labels)."""
    return sum(int(images.shape[0]) for images, _ in dataset)


def timed(epoch, source):
    """(images, images per second, CPU milliseconds per image) for one epoch."""
    start, cpu = time.perf_counter(), time.process_time()
    count = epoch(source)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return count, count / elapsed, 1000 * cpu / count


def build_ours(directory, size, batch_size, interpolation=None):
    from vggcourse.image import ImageDataGenerator

    return ImageDataGenerator().flow_from_directory(
        directory, target_size=(size, size), batch_size=batch_size, seed=0,
        interpolation=interpolation or "nearest")


def build_theirs(directory, size, batch_size, interpolation=None):
    import tensorflow as tf
    from keras.utils import image_dataset_from_directory

    return image_dataset_from_directory(
        directory, image_size=(size, size), batch_size=batch_size, seed=0,
        interpolation=interpolation or "bilinear", verbose=False).prefetch(tf.data.AUTOTUNE)


def build_table(directory, size, batch_size, interpolation=None):
    """flow_from_dataframe over a table of the folder's files (class = sub-folder)."""
    import pandas as pd

    from vggcourse.image import ImageDataGenerator, unlabelled_image_files

    names = unlabelled_image_files(directory)
    table = pd.DataFrame({"filename": names, "class": [name.split(os.sep)[0] for name in names]})
    return ImageDataGenerator().flow_from_dataframe(
        table, directory, target_size=(size, size), batch_size=batch_size, seed=0,
        interpolation=interpolation or "nearest")


def build(directory, size, batch_size, interpolation=None):
    """(vggcourse batches, tf.data dataset) over `directory`, both shuffled, both `size` RGB."""
    return (build_ours(directory, size, batch_size, interpolation),
            build_theirs(directory, size, batch_size, interpolation))


def first_epochs(args, sides):
    """Median seconds for a fresh pipeline's first epoch, per side, alternating the sides."""
    times = {name: [] for name in sides}
    for name, (make, epoch) in sides.items():  # warm-up: imports, page cache, tracing
        epoch(make(args.directory, args.size, args.batch_size, args.interpolation))
    for repeat in range(args.repeats):  # A B, B A, A B, ...: neither side always runs first
        for name, (make, epoch) in list(sides.items())[::-1 if repeat % 2 else 1]:
            start = time.perf_counter()
            epoch(make(args.directory, args.size, args.batch_size, args.interpolation))
            times[name].append(time.perf_counter() - start)
    names = list(sides)
    print(f"first epochs of a fresh pipeline over {args.directory} at {args.size}x{args.size}, batch "
          f"{args.batch_size}, {os.cpu_count()} CPUs, {args.repeats} each, alternating (which side goes first too)")
    for name in names:
        print(f"{name:>20}: median {statistics.median(times[name]):.3f} s, best {min(times[name]):.3f} s, "
              f"all {', '.join(f'{t:.3f}' for t in times[name])}")
    ratio = statistics.median(times[names[1]]) / statistics.median(times[names[0]])
    best = min(times[names[1]]) / min(times[names[0]])
    print(f"     speed ratio: {names[0]} / {names[1]} = {ratio:.2f} (median times), {best:.2f} (best times); "
          f"above 1: {names[0]} is faster")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", help="class folders of JPEGs (default: ../shared/data/dogscats-1k/train)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--interpolation", default=None,
                        help="one resize filter for both pipelines (nearest, bilinear, ...); "
                             "default: each library's default")
    parser.add_argument("--first-epoch", action="store_true", help="time fresh pipelines' first epochs")
    parser.add_argument("--dataframe", action="store_true",
                        help="first epochs of flow_from_dataframe against flow_from_directory")
    args = parser.parse_args(argv)
    args.directory = str(data_folder(args.directory, "dogscats-1k", "bench/batches.py", below="train"))
    if args.dataframe:
        return first_epochs(args, {"flow_from_dataframe": (build_table, vggcourse_indexed_epoch),
                                   "flow_from_directory": (build_ours, vggcourse_indexed_epoch)})
    if args.first_epoch:
        return first_epochs(args, {"vggcourse": (build_ours, vggcourse_indexed_epoch),
                                   "tf.data": (build_theirs, tf_epoch)})

    ours, theirs = build(args.directory, args.size, args.batch_size, args.interpolation)
    timed(vggcourse_epoch, ours), timed(tf_epoch, theirs)  # warm-up: caches, threads, tracing
    rates, cpus = {"vggcourse": [], "tf.data": []}, {"vggcourse": [], "tf.data": []}
    sides = (("vggcourse", vggcourse_epoch, ours), ("tf.data", tf_epoch, theirs))
    for repeat in range(args.repeats):  # A B, B A, ...: neither side always runs first
        for name, epoch, source in sides[::-1 if repeat % 2 else 1]:
            count, rate, cpu = timed(epoch, source)
            assert count == ours.samples, (name, count, ours.samples)
            rates[name].append(rate)
            cpus[name].append(cpu)

    from vggcourse import decode, image

    filters = args.interpolation or "each library's default: nearest / bilinear"
    print(f"{count} images from {args.directory} at {args.size}x{args.size} ({filters}), "
          f"batch {args.batch_size}, {os.cpu_count()} CPUs, {args.repeats} epochs each after "
          f"warm-up; vggcourse: {decode.JPEG_DECODER}, {image._decode_threads()} threads, "
          f"{image._read_ahead()} batches ahead")
    for name, values in rates.items():
        print(f"{name:>10}: best {max(values):7.1f} images/s, median "
              f"{statistics.median(values):7.1f} images/s, "
              f"{statistics.median(cpus[name]):.2f} CPU ms/image")
    best = max(rates["vggcourse"]) / max(rates["tf.data"])
    median = statistics.median(rates["vggcourse"]) / statistics.median(rates["tf.data"])
    print(f"     ratio: vggcourse / tf.data = {best:.2f} (best), {median:.2f} (median)")


if __name__ == "__main__":
    main()
