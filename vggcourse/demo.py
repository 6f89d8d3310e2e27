"""The main job: the course workflow end to end, offline, on a real dataset that ships with scikit-learn.

    vggcourse demo                       # or: python -m vggcourse demo
    from vggcourse.demo import run_demo; run_demo()

scikit-learn's handwritten digits (1,797 scanned 8x8 images, classes 0-9) are written out as the
course's folders, `train/0..9`, `valid/0..9` and `test/unknown` (PNGs), and then the notebook's
steps run on them with this package: `get_batches`, `Vgg16BN`, `finetune`, `fit`, `test`, a
submission file and the analysis plots. It needs no network and finishes in a few minutes on a CPU.

ImageNet weights cannot be downloaded offline, so the model starts from random weights. The recipe
(`RECIPE`) keeps the random convolutional body frozen, as `finetune` leaves it, and trains the dense
layers from scratch on top: random convolutions of 32x32 digits already separate the classes well,
and with the body frozen `fit` computes its output once and reuses it (`vggcourse.features`), so
each epoch after the first costs only the dense layers. Batch norm follows the batches faster than
Keras' default (momentum 0.9: an epoch is only ~40 steps), and the rate drops tenfold half way.
How the recipe was chosen, with measured accuracies and times: bench/RESULTS.md.

The submission is scored as any other: `kaggle.score_submission` against `test_labels.csv`.
"""
import csv
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vggcourse import checks
from vggcourse.errors import UserInputError

__all__ = ["RECIPE", "DemoResult", "run_demo", "write_digits"]

# The measured recipe (bench/RESULTS.md). `epochs` counts both stages: the first half (rounded up)
# at `lr`, the rest at `lr / 10`.
RECIPE = dict(size=32, epochs=6, batch_size=32, lr=1e-3, bn_momentum=0.9, unfreeze="fc1")

WEIGHTS_NOTE = (
    "Training from scratch: ImageNet weights are not available offline. To fine-tune from ImageNet "
    "instead, put vgg16_weights_tf_dim_ordering_tf_kernels.h5 in the Keras cache folder "
    "~/.keras/models, or set VGGCOURSE_WEIGHTS_URL to a mirror that serves it, or pass the "
    "course's vgg16.h5 with Vgg16(weights=PATH).")

_DATA_RECORD = "digits.json"


@dataclass
class DemoResult:
    """What `run_demo` wrote and measured."""

    out_dir: Path
    data_dir: Path
    model: Path = None
    submission: Path = None
    pngs: list = field(default_factory=list)
    val_accuracy: float = float("nan")
    test_accuracy: float = float("nan")
    seconds: float = float("nan")


def run_demo(out_dir="vggcourse-demo", epochs=RECIPE["epochs"], size=RECIPE["size"],
             batch_size=RECIPE["batch_size"], lr=RECIPE["lr"], seed=0, limit=None, log=print):
    """Write the digits as course folders under `out_dir/data`, train, predict, save; returns a `DemoResult`.

    `seed` fixes the split and the random weights (it seeds Python, NumPy and the backend, like
    `keras.utils.set_random_seed`); `limit` keeps only that many images in all (for quick tests).
    """
    import keras

    from vggcourse.architecture import MIN_SIDE

    epochs = checks.whole_number("epochs", epochs, least=1, caller="run_demo")
    size = checks.whole_number("size", size, least=MIN_SIDE, caller="run_demo")
    batch_size = checks.whole_number("batch_size", batch_size, least=1, caller="run_demo")
    lr = checks.positive_number("lr", lr, caller="run_demo")
    seed = checks.whole_number("seed", seed, least=0, caller="run_demo")
    if limit is not None:
        limit = checks.whole_number("limit", limit, least=1, what=">= 1, or None", caller="run_demo")
    start = time.time()
    keras.utils.set_random_seed(seed)
    out = Path(out_dir)
    result = DemoResult(out_dir=out, data_dir=out / "data")
    write_digits(result.data_dir, size=size, seed=seed, limit=limit, log=log)
    log(WEIGHTS_NOTE)
    run = _train(result.data_dir, out, epochs, size, batch_size, lr, log)
    _write_outputs(result, run, log)
    result.seconds = time.time() - start
    log(f"Validation accuracy {result.val_accuracy:.1%}, test accuracy {result.test_accuracy:.1%} "
        f"({_count(result.data_dir / 'valid')} and {_count(result.data_dir / 'test')} images), "
        f"{result.seconds / 60:.1f} minutes. Everything is in {out.resolve()}")
    return result


# --- the dataset ---------------------------------------------------------------------------------

def write_digits(data_dir, size=32, valid_fraction=0.2, n_test=100, seed=0, limit=None, log=print):
    """scikit-learn's digits as `train/<digit>`, `valid/<digit>`, `test/unknown` PNGs of `size` pixels.

    A seeded split: `n_test` images go to `test/unknown/<id>.png` (their labels to
    `test_labels.csv`, `img,label` as `kaggle.score_submission` reads them: `17.png,3`), then
    `valid_fraction` of the rest to `valid/`. The settings are
    recorded in `digits.json`; a folder written with the same settings is reused as it is.
    """
    data_dir = Path(data_dir)
    settings = dict(size=size, valid_fraction=valid_fraction, n_test=n_test, seed=seed, limit=limit,
                    labels="img,label")
    if _reusable(data_dir, settings):
        log(f"Using the digits already written to {data_dir}")
        return data_dir
    images, labels = _load_digits(size)
    split = _split(len(labels), valid_fraction, n_test, seed, limit)
    partial = data_dir.with_name(data_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted run of this function
    _write_split(partial, images, labels, split)
    (partial / _DATA_RECORD).write_text(json.dumps(settings) + "\n")
    os.replace(partial, data_dir)
    counts = ", ".join(f"{name} {len(index)}" for name, index in split.items())
    log(f"Wrote scikit-learn's handwritten digits to {data_dir}: {counts} images of {size}x{size}")
    return data_dir


def _reusable(data_dir, settings):
    """True when `data_dir` holds digits written with `settings`; refuses any other folder there."""
    if not data_dir.exists():
        return False
    record = data_dir / _DATA_RECORD
    if record.is_file() and _read_record(record) == settings:
        return True
    raise UserInputError(f"{data_dir} already exists and does not hold the demo's digits written with "
                     f"{settings}; choose another `out_dir` or move that folder away")


def _read_record(path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserInputError(f"{path} is not valid JSON ({error}); it records how the demo wrote its "
                             f"digits: move {path.parent} away and run the demo again") from None


def _load_digits(size):
    """The 1,797 digits as uint8 RGB images of size x size (white ink on black), and their labels."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    gray = np.round(digits.images * (255 / 16)).astype(np.uint8)  # pixel values 0-16 -> 0-255
    images = [np.asarray(Image.fromarray(g).resize((size, size), Image.BICUBIC).convert("RGB"))
              for g in gray]
    return np.stack(images), digits.target


def _split(n, valid_fraction, n_test, seed, limit):
    """{'test': indices, 'valid': ..., 'train': ...}: a seeded permutation of the first `limit` images."""
    order = np.random.default_rng(seed).permutation(n)[:limit]
    n_test = min(n_test, len(order) // 5)
    rest = order[n_test:]
    n_valid = int(round(valid_fraction * len(rest)))
    return {"train": rest[n_valid:], "valid": rest[:n_valid], "test": order[:n_test]}


def _write_split(root, images, labels, split):
    from PIL import Image

    for name in ("train", "valid"):
        for digit in range(10):
            (root / name / str(digit)).mkdir(parents=True, exist_ok=True)
        for i in split[name]:
            Image.fromarray(images[i]).save(root / name / str(labels[i]) / f"digit_{i:04d}.png")
    (root / "test" / "unknown").mkdir(parents=True, exist_ok=True)
    with open(root / "test_labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["img", "label"])
        for i in sorted(split["test"]):
            Image.fromarray(images[i]).save(root / "test" / "unknown" / f"{i}.png")
            writer.writerow([f"{i}.png", labels[i]])


def _count(folder):
    return sum(len(files) for _, _, files in os.walk(folder))


# --- the course workflow ---------------------------------------------------------------------------

def _train(data_dir, out, epochs, size, batch_size, lr, log):
    """The notebook's steps on random weights, through `workflow.finetune_directory` (the trainer
    of `vggcourse finetune`); returns its `FinetuneResult`."""
    import keras

    from vggcourse.model import Vgg16BN
    from vggcourse.workflow import finetune_directory

    vgg = Vgg16BN(weights=None, size=(size, size))
    for layer in vgg.model.layers:
        if layer.name.endswith("_bn"):
            # An epoch is only ~40 steps: let the running mean and variance used at prediction
            # time follow the batches faster than Keras' default (0.99).
            layer.momentum = RECIPE["bn_momentum"]
    first = (epochs + 1) // 2
    stages = f"{first} epochs at lr={lr:g}" + (f", {epochs - first} at lr={lr / 10:g}" if epochs > first else "")
    log(f"Training the dense layers of Vgg16BN from scratch on {_count(data_dir / 'train')} images of "
        f"{size}x{size}: {stages}, batch {batch_size}")
    # From scratch the dense layers have nothing to keep: train them too (`unfreeze('fc1')`, batch
    # norm included). The conv body stays frozen (random), so its output is computed once.
    settle = keras.callbacks.LearningRateScheduler(lambda epoch, rate: lr if epoch < first else lr / 10)
    return finetune_directory(data_dir, epochs=epochs, batch_size=batch_size, lr=lr, vgg=vgg,
                              unfreeze=RECIPE["unfreeze"], train_bn=True, callbacks=[settle],
                              out=out, overwrite=True, log=log)  # a demo run starts afresh


def _write_outputs(result, run, log):
    """The submission (through `workflow.submit_directory`) and its score, into `result`."""
    from vggcourse.kaggle import score_submission
    from vggcourse.workflow import submit_directory

    result.model = run.best_model
    result.val_accuracy = run.best_val_accuracy
    result.pngs = [Path(p) for p in run.pngs]
    result.submission = submit_directory(result.data_dir, run.best_model,
                                         out=result.out_dir / "submission.csv")
    result.test_accuracy = score_submission(result.submission, result.data_dir / "test_labels.csv").accuracy
    log(f"Wrote {run.best_model.name}, {result.submission.name} and {len(result.pngs)} plots in {result.out_dir}")
