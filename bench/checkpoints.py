"""What a run's checkpoint costs per epoch: vggcourse's files today against the earlier layout.

    .venv/bin/python bench/checkpoints.py                  # VGG16 at 224x224 with its top, 5 rounds
    .venv/bin/python bench/checkpoints.py --unfreeze fc1   # Adam's state for the dense layers too

Both sides write into the same folder, in turns (earlier, today, earlier, ...), after one epoch's
worth of training state exists (a `fit` of one step on random data, so Adam's slots are built):

- today (`run_folder.EpochCheckpoints`): `last.keras` with the optimizer's state and the run's
  record, in one rename, and `best.keras` (no optimizer);
- earlier (vggcourse before the run folder): `last.keras` without the optimizer, `last.weights.h5`
  (`Vgg16.save_weights`, the course's names), and `best.keras`.

Prints the median seconds and bytes of each, and their ratio. The bytes depend only on the model; the
seconds mostly on the disk and the page cache (write them on the disk you train on).
"""
import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--unfreeze", default=None, help="a layer to unfreeze from (fc1): more optimizer state")
    parser.add_argument("--dir", default=None, help="folder to write in (default: a temporary one)")
    args = parser.parse_args()

    import keras
    import numpy as np

    from vggcourse.model import Vgg16
    from vggcourse.run_folder import BEST, CHECKPOINT, RunRecord, write_best, write_checkpoint

    keras.utils.set_random_seed(0)
    vgg = Vgg16(weights=None, size=(args.size, args.size))
    vgg.ft(2)
    if args.unfreeze:
        vgg.unfreeze(args.unfreeze)
    x = np.random.default_rng(0).uniform(0, 255, (2, args.size, args.size, 3)).astype("float32")
    vgg.model.fit(x, np.eye(2, dtype="float32"), epochs=1, verbose=0, cache=False)  # Adam's slots exist
    record = RunRecord(settings={"epochs": 3}, epochs_done=1, history=[{"loss": 0.5, "val_accuracy": 0.9}],
                       best_epoch=0, best_val_accuracy=0.9)

    def today(folder):
        write_checkpoint(vgg, folder / CHECKPOINT, record.to_json(), include_optimizer=True)
        write_best(vgg, folder, record)
        return [folder / CHECKPOINT, folder / BEST]

    def earlier(folder):
        vgg.save(folder / "last.keras", include_optimizer=False)
        vgg.save_weights(folder / "last.weights.h5")
        vgg.save(folder / "best.keras", include_optimizer=False)
        return [folder / "last.keras", folder / "last.weights.h5", folder / "best.keras"]

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        times, sizes = {"earlier": [], "today": []}, {}
        for _ in range(args.rounds):
            for name, write in (("earlier", earlier), ("today", today)):
                folder = Path(tmp) / name
                folder.mkdir(exist_ok=True)
                start = time.perf_counter()
                files = write(folder)
                times[name].append(time.perf_counter() - start)
                sizes[name] = sum(f.stat().st_size for f in files)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}; "
          f"Keras {keras.__version__} on {keras.backend.backend()}")
    print(f"VGG16 {args.size}x{args.size} with its top, {args.unfreeze or 'predictions'} and above trained; "
          f"{args.rounds} rounds, alternated")
    for name in ("earlier", "today"):
        print(f"  {name:8s} median {statistics.median(times[name]):6.2f} s  "
              f"(min {min(times[name]):.2f}, max {max(times[name]):.2f}), {sizes[name] / 2 ** 20:7.0f} MB per epoch")
    ratio = statistics.median(times["today"]) / statistics.median(times["earlier"])
    print(f"today / earlier: {ratio:.2f} of the time, {sizes['today'] / sizes['earlier']:.2f} of the bytes")


if __name__ == "__main__":
    main()
