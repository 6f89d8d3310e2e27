"""Time today's fine-tuning calls: `lr_find` once the features exist, and epochs after `unfreeze`.

    .venv/bin/python bench/modern.py                              # ../shared/data/dogscats-1k, 224
    .venv/bin/python bench/modern.py DATA --size 224 --epochs 3 --weights PATH

Two measurements, each against a baseline in the same process:
- `vgg.lr_find(batches, num_it=100)` on the training folder after `finetune`, once the frozen
  layers' output is cached: its wall time, against the time of the feature pass it reuses.
- `vgg.unfreeze('fc1')` then `vgg.fit(batches, val_batches, nb_epoch=3)`: the wall time of each
  epoch (the first includes running the conv layers once over train and valid), and each later
  epoch as a fraction of the first.

Random weights (ImageNet weights cannot be downloaded here) unless `--weights PATH`.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
from _data import data_folder  # noqa: E402  (bench/_data.py)
from finetune import cpu_model  # noqa: E402  (bench/finetune.py: the machine line)



class EpochTimer(keras.callbacks.Callback):
    """A Keras callback noting the wall time of each epoch; the first counts from `start()`, before
    `fit` is called, so that it includes the feature pass that runs before Keras' loop begins."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def start(self):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.seconds.append(now - self._start)
        self._start = now


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, help="train/ and valid/ class folders (default: ../shared/data/dogscats-1k)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--num-it", type=int, default=100)
    parser.add_argument("--weights", help="a VGG16 weight file (default: random)")
    parser.add_argument("--skip-unfreeze", action="store_true", help="time lr_find only")
    args = parser.parse_args(argv)
    args.data = data_folder(args.data, "dogscats-1k", "bench/modern.py")

    from vggcourse import feature_store, features
    from vggcourse.model import Vgg16

    print(f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), backend {keras.backend.backend()}, "
          f"Keras {keras.__version__}; load average {os.getloadavg()[0]:.1f}")
    print(f"Data: {args.data}, {args.size}x{args.size}, batch {args.batch_size}; weights: "
          f"{args.weights or 'random (seed 0)'}")
    keras.utils.set_random_seed(0)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["VGGCOURSE_CACHE"] = cache
        feature_store.clear_memory()
        vgg = Vgg16(weights=args.weights, size=(args.size, args.size))
        batches = vgg.get_batches(args.data / "train", batch_size=args.batch_size)
        val_batches = vgg.get_batches(args.data / "valid", batch_size=args.batch_size * 2, shuffle=False)
        vgg.finetune(batches)

        # lr_find: the first call computes the features (timed: the baseline), the second reuses them.
        start = time.perf_counter()
        features.predict_in_order(vgg.model, batches)  # the feature pass over train, cached
        feature_pass = time.perf_counter() - start
        start = time.perf_counter()
        found = vgg.lr_find(batches, num_it=args.num_it)
        finder = time.perf_counter() - start
        print(f"\nlr_find, {len(found.lrs)} iterations over {batches.samples} images, features cached: "
              f"{finder:.2f} s (goal: under 5 s); the feature pass it reuses took {feature_pass:.1f} s "
              f"(ratio {finder / feature_pass:.3f}); suggestion {found.suggestion:.2e}")
        start = time.perf_counter()
        again = vgg.lr_find(batches, num_it=args.num_it)
        print(f"  a second lr_find in the same process (train step already traced): "
              f"{time.perf_counter() - start:.2f} s, {len(again.lrs)} iterations")

        if args.skip_unfreeze:
            return
        # unfreeze('fc1'): the first epoch runs the conv layers once over train and valid.
        vgg.unfreeze("fc1")
        timer = EpochTimer()
        timer.start()
        vgg.fit(batches, val_batches, nb_epoch=args.epochs, callbacks=[timer], verbose=0)
        first, later = timer.seconds[0], timer.seconds[1:]
        print(f"\nunfreeze('fc1') then fit, {args.epochs} epochs over {batches.samples} + "
              f"{val_batches.samples} images: " + ", ".join(f"epoch {i + 1} {s:.1f} s"
                                                            for i, s in enumerate(timer.seconds)))
        for i, seconds in enumerate(later, start=2):
            print(f"  epoch {i} / epoch 1: {seconds / first:.3f} (goal: at most 0.10)")


if __name__ == "__main__":
    main()
