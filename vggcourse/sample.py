"""A small stand-in for Kaggle's Dogs vs Cats, in the course layout, made offline in a second.

    from vggcourse.sample import write_sample
    path = write_sample("data/sample")      # or, from a shell: vggcourse sample data/sample
    vgg.get_batches(path / "train")         # train/{cats,dogs}, valid/{cats,dogs}, test/unknown

Kaggle's images cannot ship with vggcourse, so the sample is cut from the two photographs that
scikit-learn ships (`sklearn.datasets.load_sample_image`: a Chinese temple, a flower; BSD licence,
CC-BY photographs). "cats" are crops of the temple, "dogs" crops of the flower: two classes a model
can tell apart, in the files Kaggle's download has. Each image is a random crop (scale, aspect,
mirror, a slight colour cast) saved as a JPEG of 80 to 500 pixels a side, as Kaggle's are; one in
six is progressive and some use 4:4:4 chroma, as photographs from the web do. The layout and names
follow the course: `train/cats/cat.0.jpg ...`, `valid/dogs/dog.100.jpg ...` (valid numbers follow
train's), `test/unknown/<id>.jpg` with ids in 1..12500, and `test_labels.csv` (`id,label`, 1 = dog)
to score a submission. The same `seed` writes the same pixels.

It is for trying the notebooks and the command line without Kaggle's download, and it is what the
test suite runs on; accuracy on it says nothing about Dogs vs Cats.

`mnist_standin()` is the same idea for MNIST (the mnist notebook's `mnist.load_data()`):
scikit-learn's 1,797 handwritten digits in MNIST's arrays.
"""
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from vggcourse import checks
from vggcourse.errors import UserInputError

__all__ = ["CLASS_PHOTOS", "write_sample", "photo", "random_crop", "mnist_standin"]

# class folder -> (file prefix, scikit-learn sample photograph)
CLASS_PHOTOS = {"cats": ("cat", "china.jpg"), "dogs": ("dog", "flower.jpg")}
_KAGGLE_TEST_IDS = 12500
_MIN_SIDE, _MAX_SIDE = 80, 500


def photo(name):
    """One of scikit-learn's bundled photographs ('china.jpg' or 'flower.jpg') as uint8 RGB (h, w, 3)."""
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)


def random_crop(image, rng, min_side=_MIN_SIDE, max_side=_MAX_SIDE):
    """A random crop of `image` (uint8 RGB), mirrored half the time, with a slight colour cast,
    resized so that its longer side is in [min(200, max_side), max_side] and its shorter at least
    `min_side` (a few are small, as in Kaggle's data): a PIL RGB image.

        crop = random_crop(photo("china.jpg"), np.random.default_rng(0))
    """
    height, width = image.shape[:2]
    scale = rng.uniform(0.35, 1.0)
    aspect = rng.uniform(0.75, 1.33)
    h = int(min(height, scale * min(height, width) / np.sqrt(aspect)))
    w = int(min(width, scale * min(height, width) * np.sqrt(aspect)))
    top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
    crop = image[top:top + h, left:left + w].astype(np.float32)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = np.clip(crop * rng.uniform(0.85, 1.15, size=3), 0, 255).astype(np.uint8)
    longest = rng.integers(min(200, max_side), max_side + 1) if rng.random() > 0.1 else min_side + 20
    ratio = longest / max(h, w)
    size = (max(min_side, round(w * ratio)), max(min_side, round(h * ratio)))
    return Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS)


def _save_jpeg(img, path, rng):
    """`img` as a JPEG the way the web serves photographs: quality 70-95, one in six progressive,
    one in four with full-resolution chroma (4:4:4, else 4:2:0)."""
    img.save(path, "JPEG", quality=int(rng.integers(70, 96)), progressive=bool(rng.random() < 1 / 6),
             subsampling=0 if rng.random() < 0.25 else 2)


def write_sample(dest, train=100, valid=50, test=100, seed=0):
    """Write the stand-in sample into the new folder `dest` and return its Path.

    `train` and `valid` images per class, `test` unlabelled images in `test/unknown/` with their
    answers in `test_labels.csv`. `dest` must not exist yet, or be an empty folder: the sample is
    written beside it and renamed into place, so an interrupted run leaves no half-sample.

        write_sample("data/sample", train=6, valid=3, test=4)
    """
    train = checks.whole_number("train", train, least=1)
    valid = checks.whole_number("valid", valid, least=1)
    test = checks.whole_number_in("test", test, 0, _KAGGLE_TEST_IDS)  # Kaggle's test ids are 1..12500
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserInputError(f"{dest} already exists and is not an empty folder; write_sample makes a new "
                             f"folder: remove it or pass another path")
    dest.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = {folder: photo(name) for folder, (_, name) in CLASS_PHOTOS.items()}
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 would stay on the renamed folder
        for split, start, count in (("train", 0, train), ("valid", train, valid)):
            for folder, (prefix, _) in CLASS_PHOTOS.items():
                (staging / split / folder).mkdir(parents=True)
                for number in range(start, start + count):
                    _save_jpeg(random_crop(photos[folder], rng), staging / split / folder / f"{prefix}.{number}.jpg", rng)
        (staging / "test" / "unknown").mkdir(parents=True)
        rows = ["id,label"]
        for image_id in sorted(rng.choice(np.arange(1, _KAGGLE_TEST_IDS + 1), size=test, replace=False)):
            label = int(rng.integers(0, 2))
            folder = "dogs" if label else "cats"
            _save_jpeg(random_crop(photos[folder], rng), staging / "test" / "unknown" / f"{image_id}.jpg", rng)
            rows.append(f"{image_id},{label}")
        (staging / "test_labels.csv").write_text("\n".join(rows) + "\n")
        if dest.is_dir():
            dest.rmdir()  # empty, checked above
        os.replace(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


_DIGITS = 1797  # scikit-learn's bundled handwritten digits


def mnist_standin(test=297):
    """`mnist.load_data()`'s arrays, offline: ((x_train, y_train), (x_test, y_test)) with x uint8
    (n, 28, 28) (white ink on black, 0-255) and y uint8 (n,) digits 0-9, as MNIST's, but only
    1,797 images: scikit-learn's 8x8 handwritten digits, each enlarged to 20x20 and centred in
    28x28 as MNIST's digits are. The last `test` images are the test part, the others train.

        (X_train, y_train), (X_test, y_test) = mnist_standin()    # (1500, 28, 28), ..., (297, 28, 28)
    """
    from sklearn.datasets import load_digits

    test = checks.whole_number_in("test", test, 1, _DIGITS - 1, caller="mnist_standin")
    digits = load_digits()
    ink = np.round(digits.images * (255 / 16)).astype(np.uint8)  # pixel values 0-16 -> 0-255
    x = np.zeros((len(ink), 28, 28), np.uint8)
    for i, image in enumerate(ink):
        x[i, 4:24, 4:24] = np.asarray(Image.fromarray(image).resize((20, 20), Image.Resampling.BICUBIC))
    y = digits.target.astype(np.uint8)
    split = len(x) - test
    return (x[:split], y[:split]), (x[split:], y[split:])
