"""Batches of images from class-per-folder directories or arrays: the course's ImageDataGenerator.

    gen = ImageDataGenerator(rotation_range=10, horizontal_flip=True)
    batches = gen.flow_from_directory("data/dogscats/train", target_size=(224, 224), batch_size=64)
    x, y = next(batches)          # x: float32 (64, 224, 224, 3), RGB 0-255; y: one-hot labels
    model.fit(batches, epochs=1)  # a keras.utils.PyDataset: no step counts needed

Each image is decoded by `vggcourse.decode` (libjpeg-turbo for JPEGs, Pillow for the rest) on a
shared pool of threads that release the GIL while they decode: two per core, or
$VGGCOURSE_DECODE_THREADS. When batches are read in order (`next()`, `predict`, the feature
cache, `for` loops) the next ones are decoded in the background while the model works: a quarter
as many batches as there are cores, at least two, or $VGGCOURSE_READ_AHEAD.

A file that cannot be read at scan time is skipped (`.skipped`); one that fails later (deleted or
overwritten) is left out of its batch, which comes out smaller, and of every later batch, with
one warning naming it (`.failed`). Also Keras' `load_img`, `img_to_array` and `array_to_img`.
"""
import math
import numbers
import os
import sys
import threading
import warnings
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
from PIL import Image

from vggcourse import augment, checks, decode
from vggcourse.arrays import onehot
from vggcourse.decode import IMAGE_EXTENSIONS, INTERPOLATIONS
from vggcourse.errors import BatchIndexError, InputFileNotFoundError, UserInputError, UserTypeError

__all__ = ["ArrayIterator", "DataFrameIterator", "DirectoryIterator", "ImageDataGenerator", "array_to_img",
           "find_problems", "find_unreadable_images", "img_to_array", "load_image", "load_img",
           "subset_slice", "unlabelled_image_files"]

CLASS_MODES = ("categorical", "binary", "sparse", "input", None)
COLOR_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}
DATA_FORMATS = (None, "channels_last", "channels_first")
UNLABELLED_FOLDER = "unknown"  # the course's name for the one folder of unlabelled test images


# ---------------------------------------------------------------- one image

def load_image(path, target_size=None, interpolation="nearest"):
    """An image file as a uint8 RGB array `(h, w, 3)`, resized to `target_size=(h, w)` if given.

    Exactly what the batches hold for that file (see `vggcourse.decode`).

        pixels = load_image("data/dogscats/train/cats/cat.1.jpg", target_size=(224, 224))
    """
    size = None if target_size is None else checks.size_pair("target_size", target_size)
    return decode.decode_image(path, size, interpolation)


def load_img(path, grayscale=False, color_mode="rgb", target_size=None, interpolation="nearest"):
    """A PIL image of `path` in `color_mode` ('rgb', 'grayscale', 'rgba'), as Keras' `load_img`.

    The whole file is decoded, then resized to `target_size=(h, w)` with `interpolation`;
    `grayscale=True` is Keras 1's spelling of `color_mode='grayscale'`.

        img = load_img("data/dogscats/train/cats/cat.1.jpg", target_size=(224, 224))
        x = img_to_array(img)   # float32 (224, 224, 3)
    """
    checks.one_of("color_mode", color_mode, sorted(COLOR_MODES))
    resample = INTERPOLATIONS[decode.check_interpolation(interpolation)]
    size = None if target_size is None else checks.size_pair("target_size", target_size)[::-1]
    image = decode.open_image(path, "L" if grayscale else COLOR_MODES[color_mode])
    if size is not None and image.size != size:
        image = image.resize(size, resample)
    return image


def _check_data_format(data_format):
    return checks.one_of("data_format", data_format, DATA_FORMATS) or "channels_last"


def img_to_array(img, data_format=None, dtype="float32"):
    """A PIL image as a numpy array `(h, w, channels)` (`(channels, h, w)` for 'channels_first').

        x = img_to_array(load_img(path, target_size=(224, 224)))[None]   # a batch of one
    """
    data_format = _check_data_format(data_format)
    x = np.asarray(img, dtype=dtype)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3:
        raise UserInputError("`img` must be an image (height, width[, channels]). "
                             f"Received: an array of shape {x.shape}")
    return x.transpose(2, 0, 1) if data_format == "channels_first" else x


def array_to_img(x, data_format=None, scale=True):
    """An array `(h, w, 1|3|4)` (channels first with 'channels_first') as a PIL image.

    `scale=True` stretches the values to 0-255 (min to 0, max to 255) as Keras does; otherwise
    they are rounded and clipped to 0-255.

        array_to_img(batch[0]).save("first.png")
    """
    data_format = _check_data_format(data_format)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise UserInputError(f"`x` must be one image (3 dimensions). Received: shape {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if x.shape[-1] not in (1, 3, 4):
        raise UserInputError(f"`x` must have 1, 3 or 4 channels. Received: shape {x.shape}")
    if scale:
        x = x - x.min()
        x = x * (255.0 / x.max()) if x.max() > 0 else x
    pixels = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    if x.shape[-1] == 1:
        return Image.fromarray(pixels[..., 0], "L")
    return Image.fromarray(pixels, "RGB" if x.shape[-1] == 3 else "RGBA")


# ---------------------------------------------------------------- threads

_POOLS = {}
_POOLS_LOCK = threading.Lock()


def _cores():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _setting(name, default):
    """A positive integer from the environment variable `name`, else `default`."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdecimal() or int(value) < 1:
        raise UserInputError(f"${name} must be a positive integer. Received: {value!r}")
    return int(value)


def _decode_threads():
    """Threads that decode images: $VGGCOURSE_DECODE_THREADS, else 2 per usable core."""
    return _setting("VGGCOURSE_DECODE_THREADS", 2 * _cores())


def _read_ahead():
    """Batches decoded ahead of the one asked for: $VGGCOURSE_READ_AHEAD, else cores / 4, >= 2."""
    return _setting("VGGCOURSE_READ_AHEAD", max(2, _cores() // 4))


def _pool():
    """The process's shared decoding pool (pools do not survive fork: a worker makes its own)."""
    key = os.getpid()
    with _POOLS_LOCK:
        if key not in _POOLS:
            _POOLS[key] = ThreadPoolExecutor(_decode_threads(), thread_name_prefix="vggcourse")
        return _POOLS[key]


def _split(items, parts):
    """`items` dealt into at most `parts` non-empty lists."""
    return [items[start::parts] for start in range(min(parts, len(items)))]


# ---------------------------------------------------------------- scanning directories

_Scan = namedtuple("_Scan", "filenames classes class_names skipped failed")


def _layout_hint(directory):
    name = os.path.basename(os.path.normpath(directory)) or "train"
    return (f"Expected one sub-folder per class with the images inside: {name}/cats/*.jpg, "
            f"{name}/dogs/*.jpg, ...")


def _check_directory(directory):
    directory = os.path.abspath(os.fspath(directory))
    if not os.path.exists(directory):
        raise InputFileNotFoundError(f"Image directory not found: {directory}. "
                                     f"{_layout_hint(directory)}")
    if not os.path.isdir(directory):
        raise UserInputError(f"`directory` must be a folder, but {directory} is a file. "
                             f"{_layout_hint(directory)}")
    return directory


def _entries(folder):
    """The non-hidden entries of `folder`; a `UserInputError` naming it when it cannot be listed."""
    try:
        with os.scandir(folder) as found:
            return [entry for entry in found if not entry.name.startswith(".")]
    except OSError as error:
        raise UserInputError(f"Cannot list the folder {folder} ({error.strerror or error}): "
                             "its images would be left out. Fix its permissions, or move it "
                             "out of the data folder.") from error


def _class_folders(directory):
    """Sorted names of the non-hidden sub-folders of `directory`."""
    return sorted(entry.name for entry in _entries(directory) if entry.is_dir())


def _image_files(directory, folder, recursive=True):
    """Sorted paths (relative to `directory`) of image files in `folder`, hidden ones left out.

    Sub-folders are searched when `recursive` (links to folders are not followed); a folder that
    cannot be listed is an error naming it.
    """
    found, pending = [], [os.path.join(directory, folder)]
    while pending:
        for entry in _entries(pending.pop()):
            if entry.is_dir():
                if recursive and not entry.is_symlink():
                    pending.append(entry.path)
            elif decode.is_image_name(entry.name):
                found.append(os.path.relpath(entry.path, directory))
    return sorted(found)


def find_unreadable_images(directory):
    """`[(path, reason)]` for every image file under `directory` that does not fully decode.

    Looks at every file with an image extension (hidden files and folders left out), decoding
    each completely, in parallel.

        for path, reason in find_unreadable_images("data/dogscats"): print(path, reason)
    """
    directory = _check_directory(directory)
    paths = [os.path.join(directory, name) for name in _image_files(directory, "")]
    problems = _pool().map(decode.decode_problem, paths)
    return [(path, reason) for path, reason in zip(paths, problems) if reason is not None]


def find_problems(directory):
    """`[(path, reason)]`: everything under `directory` that batches would lose or misread.

    In this order: folders that cannot be listed; empty class folders; trees with a single class
    folder (other than `unknown/`, the course's unlabelled test folder); then every image file
    that does not fully decode. A *tree* is a folder with a sub-folder that holds images itself
    (`train/` with `cats/` and `dogs/`); its sub-folders are its class folders. `vggcourse verify
    PATH` prints these, one `path: reason` a line.

        for path, reason in find_problems("data/dogscats"): print(f"{path}: {reason}")
    """
    directory = _check_directory(directory)
    unlistable, listing, pending = [], {}, [directory]
    while pending:  # listing[folder] = (sub-folders, image paths directly inside)
        folder = pending.pop()
        try:
            entries = _entries(folder)
        except UserInputError as error:
            unlistable.append((folder, f"folder cannot be listed ({error.__cause__.strerror})"))
            continue
        subfolders = sorted(e.path for e in entries if e.is_dir() and not e.is_symlink())
        images = [e.path for e in entries if not e.is_dir() and decode.is_image_name(e.name)]
        listing[folder] = (subfolders, images)
        pending += subfolders

    def has_images(folder):
        subfolders, images = listing.get(folder, ([], []))
        return bool(images) or any(has_images(sub) for sub in subfolders)

    empty, single = [], []
    for folder, (subfolders, _) in sorted(listing.items()):
        if not any(listing.get(sub, ((), ()))[1] for sub in subfolders):
            continue  # not a tree of class folders
        empty += [(sub, "empty class folder: no images") for sub in subfolders
                  if sub in listing and not has_images(sub)]
        names = [os.path.basename(sub) for sub in subfolders]
        if len(names) == 1 and names[0] != UNLABELLED_FOLDER:
            single.append((folder, f"only one class folder ({names[0]}/): a classifier needs "
                                   "two or more (name a folder of unlabelled images unknown/)"))
    paths = sorted(path for _, images in listing.values() for path in images)
    reasons = _pool().map(decode.decode_problem, paths)
    unreadable = [(path, reason) for path, reason in zip(paths, reasons) if reason is not None]
    return sorted(unlistable) + empty + single + unreadable


def _choose_classes(directory, classes, class_mode):
    """Class names in label order: `classes` as given (each must be a folder) or sorted folders."""
    found = _class_folders(directory)
    if classes is None:
        return found
    if isinstance(classes, str) or len(set(classes)) != len(classes):
        raise UserInputError("`classes` must be a list of distinct folder names. "
                             f"Received: classes={classes!r}")
    missing = [name for name in classes if name not in found]
    if missing:
        raise UserInputError(f"`classes` names folders that are not in {directory}: {missing}. "
                             f"Folders found: {found}. {_layout_hint(directory)}")
    return list(classes)


def unlabelled_image_files(directory):
    """The image files that `flow_from_directory(directory, class_mode=None)` lists, relative to
    `directory`, in its order: those in every sub-folder (searched to any depth; a linked
    sub-folder is followed, links to folders deeper down are not), then the loose files directly
    in `directory`. Hidden files and folders are left out; files are not decoded (an unreadable
    one is listed here and `skipped` by the batches). The one rule for "the images of a test
    folder": `kaggle` counts a submission's rows against it.

        len(unlabelled_image_files("data/dogscats/test"))   # 12500
    """
    directory = _check_directory(directory)
    return [path for path, _ in _pairs(directory, _class_folders(directory), None, loose=True)[0]]


def _pairs(directory, class_names, class_mode, loose, part=None):
    """([(relative path, label)], class names). Unlabelled (class_mode=None), the loose files of
    `directory` are listed too when `loose` (no `classes=` chosen) or when the class folders hold
    no image (a flat folder of images, e.g. test/unknown; then there are no class names).
    `part(n)` (a slice, `subset_slice`'s) takes part of each class folder's sorted files, and of
    the loose files."""
    def taken(files):
        return files if part is None else files[part(len(files))]

    pairs = [(path, label) for label, name in enumerate(class_names)
             for path in taken(_image_files(directory, name))]
    if class_mode is None and (loose or not pairs):
        if not pairs:
            class_names = []
        pairs += [(path, 0) for path in taken(_image_files(directory, "", recursive=False))]
    return pairs, class_names


def _list_files(directory, class_names, class_mode, loose=True, part=None):
    """(relative paths, labels, class names) of `_pairs`; an error naming the folder when empty."""
    if class_mode is not None and not class_names:
        raise UserInputError(f"No class folders in {directory}, and class_mode={class_mode!r} "
                             f"needs labels. {_layout_hint(directory)} For unlabelled images in "
                             "one folder, use class_mode=None.")
    pairs, class_names = _pairs(directory, class_names, class_mode, loose, part)
    if not pairs:
        raise UserInputError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found in {directory}. "
                             f"{_layout_hint(directory)}")
    return [path for path, _ in pairs], [label for _, label in pairs], class_names


def _scan_directory(directory, classes, class_mode, part=None):
    """Files, labels, class names of `directory` (`part` of each class folder, as `_pairs`);
    unreadable files are `skipped`, one warning."""
    class_names = _choose_classes(directory, classes, class_mode)
    _check_binary(class_mode, class_names, directory)
    files, labels, class_names = _list_files(directory, class_names, class_mode, loose=classes is None, part=part)
    return _readable_scan(directory, files, labels, class_names, class_mode)


def _check_binary(class_mode, class_names, where):
    if class_mode == "binary" and len(class_names) != 2:
        raise UserInputError(f"class_mode='binary' needs exactly 2 classes, but {where} has "
                             f"{len(class_names)}: {class_names}. Use 'categorical' or 'sparse'.")


def _readable_scan(directory, files, labels, class_names, class_mode):
    """The `_Scan` of `files` (relative to `directory`) with their `labels` (one per file, any
    type): files that cannot be decoded are `skipped`, named in one warning."""
    paths = [os.path.join(directory, name) for name in files]
    readable = list(_pool().map(decode.readable, paths))
    skipped = [name for name, ok in zip(files, readable) if not ok]
    if skipped:
        more = f" and {len(skipped) - 50} more" if len(skipped) > 50 else ""
        listed = ", ".join(skipped[:50]) + more
        warnings.warn(f"Skipped {len(skipped)} file(s) in {directory} that are not readable "
                      f"images: {listed}. They are listed in `.skipped`.", stacklevel=4)
    if len(skipped) == len(files):
        raise UserInputError(f"None of the {len(files)} image files in {directory} can be read.")
    kept = [(name, label) for name, label, ok in zip(files, labels, readable) if ok]
    kept_labels = [label for _, label in kept]
    if all(isinstance(label, numbers.Integral) for label in kept_labels):  # a class index each
        _warn_empty_classes(directory, class_names if class_mode is not None else [], kept_labels)
        kept_labels = np.array(kept_labels, np.int32)
    return _Scan([name for name, _ in kept], kept_labels, class_names, skipped, {})


def _warn_empty_classes(directory, class_names, labels):
    """One warning naming the class folders of `directory` with no readable image: batches of
    them hold no example of that class (a `valid/dogs/` left empty validates nothing on dogs)."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=len(class_names))
    empty = [os.path.join(directory, name) for name, count in zip(class_names, counts) if not count]
    if empty:
        warnings.warn(f"{len(empty)} class folder(s) hold no readable image, so these batches have no example "
                      f"of that class: {', '.join(empty)}. Put its images there, or leave the folder out "
                      "(`vggcourse verify` lists such folders).", stacklevel=5)


# ---------------------------------------------------------------- argument checks

SUBSETS = ("training", "validation")


def subset_slice(n, validation_split, subset):
    """The part of `n` ordered items that `subset` takes (Keras 2's deterministic split): 'validation'
    the first `int(validation_split * n)`, 'training' the rest; None all of them.

        subset_slice(10, 0.2, "validation")   # slice(0, 2)
    """
    if subset is None:
        return slice(0, n)
    checks.one_of("subset", subset, SUBSETS)
    if not validation_split:
        raise UserInputError(f"subset={subset!r} needs ImageDataGenerator(validation_split=...), the "
                             "fraction of the images kept for validation; this generator's is 0.")
    k = int(validation_split * n)
    return slice(0, k) if subset == "validation" else slice(k, n)


def _check_batching(batch_size, seed):
    checks.whole_number("batch_size", batch_size, least=1)  # True refused, though Python counts it as 1
    if seed is not None:
        checks.whole_number("seed", seed, least=0, what=">= 0, or None")


def _check_zoom(zoom_range):
    try:
        low, high = augment.zoom_bounds(zoom_range)
    except (TypeError, ValueError):
        low = high = None
    if low is None or not 0 < low <= high:
        raise UserInputError("`zoom_range` must be a float in [0, 1) or a pair (low, high) with "
                         f"0 < low <= high. Received: zoom_range={zoom_range!r}")


# ---------------------------------------------------------------- the generator

def _generator_data_format(data_format, dim_ordering):
    """'channels_last', the only order of vggcourse's batches: Keras 2's `data_format` and Keras 1's
    `dim_ordering` (the course's lesson 3 passes 'tf') may say so; channels-first is refused."""
    if dim_ordering not in (None, "default", "tf"):
        raise UserInputError("ImageDataGenerator: `dim_ordering` must be 'default' or 'tf': vggcourse's batches are "
                             f"channels-last. Received: dim_ordering={dim_ordering!r}. Leave it out.")
    if data_format == "channels_first":
        raise UserInputError("ImageDataGenerator: vggcourse's batches are channels-last (height, width, "
                             "channels), as its models are. Received: data_format='channels_first'. Leave "
                             "data_format out, and give `flow` channels-last arrays (np.moveaxis(x, 1, -1)).")
    return _check_data_format(data_format)


class ImageDataGenerator:
    """Random augmentation settings, and batches from a directory or from arrays.

    A default-constructed generator does no augmentation. Conventions (Keras 1, as the course):
    rotation in degrees, shifts as a fraction of width/height, shear in radians, zoom `1 +- z`,
    channel shift in pixel units; `rescale` multiplies pixels after augmentation.
    `validation_split` (Keras 2) keeps a fraction of each flow's images for `subset="validation"`
    (`subset_slice`: the first ones of each class folder, of a table's rows, of an array).

        gen = ImageDataGenerator(rotation_range=15, width_shift_range=0.1, horizontal_flip=True)
        batches = gen.flow_from_directory("data/dogscats/train", target_size=(224, 224))
    """

    def __init__(self, rotation_range=0.0, width_shift_range=0.0, height_shift_range=0.0,
                 shear_range=0.0, zoom_range=0.0, channel_shift_range=0.0,
                 horizontal_flip=False, vertical_flip=False, rescale=None,
                 fill_mode="nearest", cval=0.0, validation_split=0.0, data_format=None, dim_ordering=None):
        ranges = dict(rotation_range=rotation_range, width_shift_range=width_shift_range,
                      height_shift_range=height_shift_range, shear_range=shear_range,
                      channel_shift_range=channel_shift_range)
        for name, value in ranges.items():
            checks.non_negative_number(name, value)
        _check_zoom(zoom_range)
        checks.one_of("fill_mode", fill_mode, sorted(augment.FILL_MODES))
        if rescale is not None:
            checks.finite_number("rescale", rescale, what="None or a finite number")
        checks.finite_number("cval", cval)
        self.validation_split = checks.fraction("validation_split", validation_split)
        self.data_format = _generator_data_format(data_format, dim_ordering)
        self.rotation_range, self.shear_range = rotation_range, shear_range
        self.width_shift_range, self.height_shift_range = width_shift_range, height_shift_range
        self.zoom_range, self.channel_shift_range = zoom_range, channel_shift_range
        self.horizontal_flip, self.vertical_flip = bool(horizontal_flip), bool(vertical_flip)
        self.rescale, self.fill_mode, self.cval = rescale, fill_mode, float(cval)

    @property
    def augments(self):
        """True when any random transform is on."""
        return bool(self.rotation_range or self.width_shift_range or self.height_shift_range
                    or self.shear_range or augment.zoom_bounds(self.zoom_range) != (1.0, 1.0)
                    or self.channel_shift_range or self.horizontal_flip or self.vertical_flip)

    def random_transform(self, x, seed=None):
        """One random augmentation of one image `x` `(h, w, c)`, as float32 (Keras' signature).

        `seed` (an int, or a numpy Generator) makes it reproducible.

            out = ImageDataGenerator(rotation_range=10).random_transform(x, seed=0)
        """
        if not self.augments:
            return np.asarray(x, np.float32)
        source = np.random.default_rng(seed)
        return augment.random_transform(
            np.asarray(x, np.float32), source, self.rotation_range, self.width_shift_range,
            self.height_shift_range, self.shear_range, self.zoom_range, self.channel_shift_range,
            self.horizontal_flip, self.vertical_flip, self.fill_mode, self.cval)

    def standardize(self, images):
        """`images` times `rescale` (unchanged when rescale is None)."""
        return images if self.rescale is None else images * np.float32(self.rescale)

    def flow_from_directory(self, directory, target_size=(256, 256), class_mode="categorical",
                            batch_size=32, shuffle=True, seed=None, classes=None,
                            interpolation="nearest", subset=None, **pydataset_kwargs):
        """A `DirectoryIterator` over `directory/<class>/*.jpg`.

        `interpolation` is the resize filter: 'nearest' (the default of Keras' ImageDataGenerator,
        and what the course's Keras 1 did), or 'bilinear', 'bicubic', 'lanczos', ... (Pillow's
        antialiased filters: smoother when shrinking a lot, and slower). Whichever decoder
        reads the file (`vggcourse.decode`), this filter makes the final resize.

            batches = ImageDataGenerator().flow_from_directory("train", target_size=(224, 224))
        """
        return DirectoryIterator(directory, self, target_size, class_mode, batch_size, shuffle,
                                 seed, classes, interpolation, subset=subset, **pydataset_kwargs)

    def flow_from_dataframe(self, dataframe, directory=None, x_col="filename", y_col="class", weight_col=None,
                            target_size=(256, 256), classes=None, class_mode="categorical", batch_size=32,
                            shuffle=True, seed=None, subset=None, interpolation="nearest",
                            validate_filenames=True, **pydataset_kwargs):
        """A `DataFrameIterator` over the files named in `dataframe[x_col]` (relative to `directory`,
        or paths when it is None), labelled by `dataframe[y_col]` (Keras 2's).

            batches = ImageDataGenerator().flow_from_dataframe(df, "data/redux/train", target_size=(224, 224))
        """
        return DataFrameIterator(dataframe, directory, self, x_col, y_col, weight_col, target_size, classes,
                                 class_mode, batch_size, shuffle, seed, subset, interpolation, validate_filenames,
                                 **pydataset_kwargs)

    def flow(self, x, y=None, batch_size=32, shuffle=True, seed=None, subset=None, **pydataset_kwargs):
        """An `ArrayIterator` over images `x` `(n, h, w, c)` and optional labels `y`.

            batches = ImageDataGenerator(horizontal_flip=True).flow(images, labels, batch_size=64)
        """
        return ArrayIterator(x, y, self, batch_size, shuffle, seed, subset=subset, **pydataset_kwargs)


# ---------------------------------------------------------------- iterators

class _Pending:
    """A batch on its way: jobs on the decoding pool, and `finish(job results)` to assemble it."""

    def __init__(self, jobs, finish):
        self._jobs, self._finish = jobs, finish

    def result(self):
        return self._finish([job.result() for job in self._jobs])

    def cancel(self):
        for job in self._jobs:
            job.cancel()


def shuffle_seed(seed):
    """`seed` as an int, or a fresh one from the OS when None: what `epoch_order` takes."""
    return int(np.random.SeedSequence().entropy) if seed is None else int(seed)


def epoch_order(seed, epoch, n):
    """The shuffled order of `n` items in `epoch`: a pure function of (seed, epoch), so batches
    fetched in any order, and a fit resumed at any epoch, see one consistent shuffle (the image
    batches and the feature cache's batches use it alike).

        epoch_order(7, 0, 5)    # the same permutation of range(5) every time
    """
    return np.random.default_rng([seed, 0, epoch]).permutation(n)


class _BatchIterator(keras.utils.PyDataset):
    """Shared batching: a per-epoch permutation from (seed, epoch), `next()`, read-ahead.

    Batch `i` of epoch `e` is a pure function of (seed, e, i), so Keras worker threads or
    processes fetching batches in any order see one consistent shuffle; `on_epoch_end` moves to
    the next permutation. `next()` keeps its own position and wraps (and reshuffles) at the end.
    Read in order, the next `_read_ahead()` batches are started on the decoding pool (by
    `next()` across the end of an epoch too); read out of order, nothing is.
    """

    def __init__(self, n, batch_size, shuffle, seed, **pydataset_kwargs):
        super().__init__(**pydataset_kwargs)
        _check_batching(batch_size, seed)
        self.n = self.N = self.samples = self.nb_sample = n  # N: Keras 1's spelling
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), seed
        self._seed = shuffle_seed(seed)
        self._epoch = 0
        self._next_position = (0, 0)  # (epoch, batch) that next() returns
        self._last_key = None
        self._orders, self._ahead, self._buffers = {}, {}, []
        self._lock = threading.RLock()

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise BatchIndexError(f"Asked for batch {index}, but there are {len(self)} batches "
                                  f"(0 to {len(self) - 1}).")
        return self._batch(self._epoch, int(index) % len(self), wrap=False)

    def __iter__(self):
        return self

    def __next__(self):
        with self._lock:
            key = self._next_position
            self._next_position = self._following(key, wrap=True)
        return self._batch(*key, wrap=True)

    def next(self):
        """The next batch (Keras 2's `batches.next()`, the course's `get_data`): `next(batches)`."""
        return self.__next__()

    def reset(self):
        """Start `next()` at the first batch again, of a new epoch's order when it was mid-epoch
        (Keras 2's: the course's `MixIterator` resets its iterators)."""
        with self._lock:
            epoch, index = self._next_position
            self._next_position = (epoch + 1 if index else epoch, 0)

    @property
    def batch_index(self):
        """The index of the batch `next()` returns next (Keras 2's)."""
        return self._next_position[1]

    @property
    def index_array(self):
        """The sample indices in the order `next()` reads them this epoch (Keras 2's)."""
        epoch = self._next_position[0]
        return epoch_order(self._seed, epoch, self.n) if self.shuffle else np.arange(self.n)

    def on_epoch_end(self):
        with self._lock:
            self._epoch += 1

    def _following(self, key, wrap):
        """The batch after `key` = (epoch, index); after the last: (epoch + 1, 0), or None."""
        epoch, index = key
        if index + 1 < len(self):
            return epoch, index + 1
        return (epoch + 1, 0) if wrap else None

    def _index_array(self, epoch, index):
        """File indices of batch `index` in `epoch`: a seeded permutation, or in order."""
        if not self.shuffle:
            order = np.arange(self.n)
        else:
            with self._lock:
                order = self._orders.get(epoch)
                if order is None:
                    order = epoch_order(self._seed, epoch, self.n)
                    self._orders = {**dict(list(self._orders.items())[-3:]), epoch: order}
        return order[index * self.batch_size:(index + 1) * self.batch_size]

    def _augment_rng(self, epoch, sample):
        """The random generator for one image in one epoch (reproducible with `seed`)."""
        return np.random.default_rng([self._seed, 1, epoch, int(sample)])

    def _batch(self, epoch, index, wrap):
        """Batch (epoch, index), started ahead if it was; reading in order starts the next ones."""
        key = (epoch, index)
        with self._lock:
            pending = self._ahead.pop(key, None)
            in_order = index == 0 or self._last_key is None or (
                self._following(self._last_key, wrap) == key)
            self._last_key = key
            if pending is None:
                for stale in self._ahead.values():  # out of order: they will not be asked for
                    stale.cancel()
                self._ahead = {}
                pending = self._start_batch(epoch, index)
            ahead = key
            for _ in range(_read_ahead() if in_order and self._reads_ahead() else 0):
                ahead = self._following(ahead, wrap)
                if ahead is None:
                    break
                if ahead not in self._ahead:
                    self._ahead[ahead] = self._start_batch(*ahead)
        return pending.result()

    def _buffer(self, shape):
        """A float32 array of `shape` to fill: one returned earlier that nobody holds any more.

        A fresh array of a batch's size costs the kernel a page fault per 4 KiB, about a tenth
        of the work of decoding into it. An array is reused only when its reference count is
        that of a probe held by this list alone, so no array a caller still holds (or a view of
        it, or a tensor sharing its memory) is ever overwritten.
        """
        with self._lock:
            arrays, self._buffers = self._buffers, []
            arrays.append(np.empty(0, np.float32))  # the probe: nothing else refers to it
            counts = [sys.getrefcount(array) for array in arrays]
            arrays.pop()
            free = [i for i, array in enumerate(arrays)
                    if array.shape == shape and counts[i] <= counts[-1]]
            array = arrays.pop(free[0]) if free else np.empty(shape, np.float32)
            self._buffers = [array, *arrays[:_read_ahead() + 1]]
            return array

    def _reads_ahead(self):
        """Keras workers fetch ahead themselves; otherwise we do."""
        return self.workers <= 1 and not self.use_multiprocessing

    def _start_batch(self, epoch, index):
        """A `_Pending` batch (epoch, index), its work submitted to the decoding pool."""
        raise NotImplementedError

    def __getstate__(self):  # for worker processes: leave locks and pending batches behind
        state = self.__dict__.copy()
        state.update(_lock=None, _ahead={}, _orders={}, _buffers=[])
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.RLock()


_FAILED_LOCK = threading.Lock()


class DirectoryIterator(_BatchIterator):
    """Batches from a class-per-folder directory, as a `keras.utils.PyDataset`.

    `it[i]` is `(x, y)` (or `x` when `class_mode=None`); `next(it)` never ends and reshuffles each
    epoch; `len(it)` batches cover every image once (the last one may be smaller). A file that
    cannot be decoded when its batch is made is left out of that batch (and every later one) and
    named in `failed`.

        it = DirectoryIterator("data/dogscats/valid", target_size=(224, 224), shuffle=False)
        it.filenames[:2], it.class_indices  # ['cats/cat.1001.jpg', ...], {'cats': 0, 'dogs': 1}
    """

    def __init__(self, directory, image_data_generator=None, target_size=(256, 256),
                 class_mode="categorical", batch_size=32, shuffle=True, seed=None, classes=None,
                 interpolation="nearest", _scan=None, subset=None, **pydataset_kwargs):
        self.target_size = checks.size_pair("target_size", target_size)
        checks.one_of("class_mode", class_mode, CLASS_MODES)
        decode.check_interpolation(interpolation)
        _check_batching(batch_size, seed)
        self.directory = _check_directory(directory)
        image_data_generator = image_data_generator or ImageDataGenerator()
        split = image_data_generator.validation_split
        subset_slice(0, split, subset)  # the argument checked before the folder is scanned
        scan = _scan or _scan_directory(self.directory, classes, class_mode, lambda n: subset_slice(n, split, subset))
        super().__init__(len(scan.filenames), batch_size, shuffle, seed, **pydataset_kwargs)
        self._scan = scan
        self.image_data_generator, self.subset = image_data_generator, subset
        self.class_mode, self.interpolation = class_mode, interpolation
        self.filenames, self.skipped = list(scan.filenames), list(scan.skipped)
        self.filepaths = [os.path.join(self.directory, name) for name in self.filenames]
        self.classes, self.class_names = scan.classes, list(scan.class_names)
        self.class_indices = {name: i for i, name in enumerate(self.class_names)}
        self.num_classes = self.nb_class = len(self.class_names)

    @property
    def failed(self):
        """Files (spelled as in `filenames`) that could not be decoded after the scan, sorted.

        Each is left out of every batch since its failure, by this iterator and by every one
        `for_inference()` made from it or from the same scan (they share this list). Rows of a
        `shuffle=False` pass are therefore the `filenames` not in `failed`, in order.
        """
        with _FAILED_LOCK:
            return sorted(self._scan.failed)

    def for_inference(self, batch_size=None, gen=None, seed=None):
        """The same files in `filenames` order: no shuffle, no labels, no random augmentation.

        With `gen` (an `ImageDataGenerator`), the images are transformed by it instead, reproducibly
        for a given `seed` (test-time augmentation). The folder is not scanned again.

            predictions = model.predict(batches.for_inference())  # row i is batches.filenames[i]
            flipped = batches.for_inference(gen=ImageDataGenerator(horizontal_flip=True), seed=1)
        """
        if gen is not None and not isinstance(gen, ImageDataGenerator):
            raise UserTypeError(f"`gen` must be an ImageDataGenerator (or None: no augmentation). "
                                f"Received: gen={gen!r}")
        return DirectoryIterator(
            self.directory, gen or ImageDataGenerator(rescale=self.image_data_generator.rescale),
            self.target_size, None, batch_size or self.batch_size, False,
            self.seed if seed is None else seed,
            interpolation=self.interpolation, _scan=self._scan, workers=self.workers,
            use_multiprocessing=self.use_multiprocessing, max_queue_size=self.max_queue_size)

    def _start_batch(self, epoch, index):
        samples = self._index_array(epoch, index)
        images = self._buffer((len(samples), *self.target_size, 3))
        jobs = [_pool().submit(self._load_into, images, part, epoch)
                for part in _split(list(enumerate(samples)), _decode_threads())]
        return _Pending(jobs, lambda lost: self._assemble(images, samples, lost, epoch, index))

    def _load_into(self, images, slots, epoch):
        """Decode, resize, augment, rescale `(slot, file index)` pairs into `images` (a thread).

        Returns the slots whose file could not be decoded.
        """
        gen, lost = self.image_data_generator, []
        for slot, sample in slots:
            try:
                if self.filenames[sample] in self._scan.failed:
                    raise _AlreadyFailed
                images[slot] = decode.decode_image(self.filepaths[sample], self.target_size,
                                                   self.interpolation)
            except _AlreadyFailed:
                lost.append(slot)
                continue
            except Exception as error:  # a file that broke after the scan must not stop an epoch
                self._record_failure(sample, error)
                lost.append(slot)
                continue
            if gen.augments:
                images[slot] = gen.random_transform(images[slot], self._augment_rng(epoch, sample))
            if gen.rescale is not None:
                images[slot] *= np.float32(gen.rescale)
        return lost

    def _record_failure(self, sample, error):
        """Remember that file `sample` failed; the first time, one warning naming it."""
        self.record_failed([sample], f"{type(error).__name__}: {error}")

    def record_failed(self, samples, reason):
        """Remember that the files at indices `samples` failed to decode, for `reason`; each one
        the first time, one warning naming it. The feature cache calls it for the NaN rows of a
        cached entry, so a warm cache fills `failed` as the pass that stored it did.

            batches.record_failed([3], "failed when its features were cached")
        """
        for sample in samples:
            name = self.filenames[sample]
            with _FAILED_LOCK:
                first = name not in self._scan.failed
                self._scan.failed.setdefault(name, reason)
            if first:
                warnings.warn(f"{self.filepaths[sample]} could not be decoded ({reason}); it is left "
                              "out of its batch and of every later one (listed in `.failed`).",
                              stacklevel=3)

    def _assemble(self, images, samples, lost, epoch, index):
        lost = [slot for part in lost for slot in part]
        if lost:
            keep = np.ones(len(samples), bool)
            keep[lost] = False
            images, samples = images[keep], samples[keep]
            if not len(samples) and self.class_mode is not None:
                images, samples = self._stand_in(epoch, index)
        return self._with_labels(images, samples)

    def _stand_in(self, epoch, index):
        """A batch of one: the first readable file after batch `index` in the epoch's order, for a
        labelled batch whose every file failed. Keras cannot train on an empty batch (JAX and
        PyTorch raise from inside the training step), so that file is seen twice this epoch."""
        for step in range(1, len(self) + 1):
            for sample in self._index_array(epoch, (index + step) % len(self)):
                if self.filenames[sample] not in self._scan.failed:
                    images = self._buffer((1, *self.target_size, 3))
                    if not self._load_into(images, [(0, sample)], epoch):
                        return images, np.array([sample])
        raise UserInputError(f"every file of {self.directory} failed to decode (listed in `.failed`): there "
                             "is nothing to train on. `vggcourse verify` lists unreadable images.")

    def _with_labels(self, images, samples):
        if self.class_mode == "input":
            return images, images.copy()
        labels = self.labels(samples)
        return images if labels is None else (images, labels)

    def labels(self, samples=None):
        """What the batches yield as y for the files at `samples` (all, in `filenames` order, by
        default); None for `class_mode` None or 'input'.

            y = batches.labels()   # one-hot rows for class_mode='categorical'
        """
        if self.class_mode in (None, "input"):
            return None
        labels = self.classes if samples is None else self.classes[samples]
        if self.class_mode == "sparse":
            return labels.astype(np.int32)
        if self.class_mode == "binary":
            return labels.astype(np.float32)
        return onehot(labels, self.num_classes)


DATAFRAME_CLASS_MODES = ("categorical", "binary", "sparse", "raw", "input", None)


def _columns(dataframe, names, what):
    """`names` (a column name or a list of them) checked against the table's columns."""
    listed = [names] if isinstance(names, str) else list(names) if isinstance(names, (list, tuple)) else None
    if not listed or any(name not in dataframe.columns for name in listed):
        raise UserInputError(f"flow_from_dataframe: `{what}` must name column(s) of the table "
                             f"({', '.join(map(str, dataframe.columns))}). Received: {what}={names!r}")
    return listed


class DataFrameIterator(DirectoryIterator):
    """Batches of the image files a table names, labelled by its columns (Keras 2's
    `flow_from_dataframe`), as a `keras.utils.PyDataset`; `vggcourse.labels` makes such tables
    from file names and CSV files.

    `dataframe[x_col]` holds file names relative to `directory` (or paths, when it is None). By
    `class_mode`: 'categorical' (`y_col` a column of class names, or of lists of them for several
    labels a file: multi-hot rows), 'binary', 'sparse' (class names; `classes` keeps those and fixes
    their order, else every name, sorted), 'raw' (the values of `y_col`, or of the columns it
    lists, as they are), 'input' (the image), None (no labels). With `weight_col`, labelled
    batches are (x, y, sample weights). With `validate_filenames`, rows naming a file that is not
    there or not an image are left out, named in one warning (Keras 2's); files that cannot be
    decoded are `skipped`, as in a folder. `subset` takes part of the rows in their order
    (`subset_slice`).

        it = DataFrameIterator(df, "data/redux/train", target_size=(224, 224))
        it.filenames[:2], it.class_indices   # ['cat.0.jpg', 'cat.1.jpg'], {'cat': 0, 'dog': 1}
    """

    def __init__(self, dataframe, directory=None, image_data_generator=None, x_col="filename", y_col="class",
                 weight_col=None, target_size=(256, 256), classes=None, class_mode="categorical", batch_size=32,
                 shuffle=True, seed=None, subset=None, interpolation="nearest", validate_filenames=True,
                 **pydataset_kwargs):
        if not hasattr(dataframe, "columns") or not hasattr(dataframe, "iloc"):
            raise UserTypeError("flow_from_dataframe: `dataframe` must be a pandas DataFrame (a table of file "
                                f"names and labels: vggcourse.labels makes them). Received: {type(dataframe).__name__}")
        checks.one_of("class_mode", class_mode, DATAFRAME_CLASS_MODES, caller="flow_from_dataframe")
        image_data_generator = image_data_generator or ImageDataGenerator()
        subset_slice(0, image_data_generator.validation_split, subset)
        directory = os.getcwd() if directory is None else _check_directory(directory)
        x_col = _columns(dataframe, x_col, "x_col")[0]
        labelled = class_mode not in ("input", None)
        y_cols = _columns(dataframe, y_col, "y_col") if labelled else []
        if weight_col is not None:
            _columns(dataframe, weight_col, "weight_col")
        names = dataframe[x_col].astype(str).tolist()
        rows = self._valid_rows(names, directory, x_col, validate_filenames)
        class_names, labels = [], None
        if class_mode in ("categorical", "binary", "sparse"):
            rows, class_names, labels = self._class_labels(dataframe, rows, y_cols, classes, class_mode)
        rows = rows[subset_slice(len(rows), image_data_generator.validation_split, subset)]
        if not rows:
            raise UserInputError(f"flow_from_dataframe: no rows left to read ({len(dataframe)} in the table, "
                                 f"subset={subset!r}).")
        # each file's label is its row for now: the rows kept after the decode check pick the labels
        scan = _readable_scan(directory, [names[row] for row in rows], [(row,) for row in rows], class_names,
                              class_mode)
        kept = [row for (row,) in scan.classes]
        self._raw = dataframe[y_cols].iloc[kept].to_numpy() if class_mode == "raw" else None
        if self._raw is not None and len(y_cols) == 1:
            self._raw = self._raw[:, 0]
        self.weights = dataframe[weight_col].iloc[kept].to_numpy(np.float32) if weight_col is not None else None
        if labels is None:
            classes_of = np.zeros(len(kept), np.int32)
        else:
            classes_of = [labels[row] for row in kept]  # a list of lists when a file has several classes
            if not any(isinstance(label, list) for label in classes_of):
                classes_of = np.array(classes_of, np.int32)
        scan = scan._replace(classes=classes_of)
        super().__init__(directory, image_data_generator, target_size, class_mode if class_mode != "raw" else "sparse",
                         batch_size, shuffle, seed, interpolation=interpolation, _scan=scan, **pydataset_kwargs)
        self.class_mode, self.subset, self.x_col, self.y_col, self.weight_col = class_mode, subset, x_col, y_col, weight_col
        self.dataframe = dataframe

    @staticmethod
    def _valid_rows(names, directory, x_col, validate):
        """The rows whose file name (`names`, the table's x_col) is an image in `directory`: all of
        them unless `validate`; the others named in one warning."""
        if not validate:
            return list(range(len(names)))
        ok = [decode.is_image_name(name) and os.path.isfile(os.path.join(directory, name)) for name in names]
        bad = [name for name, good in zip(names, ok) if not good]
        if bad:
            more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
            warnings.warn(f"Found {len(bad)} invalid image filename(s) in x_col={x_col!r} (not in {directory}, or "
                          f"not an image): {', '.join(bad[:10])}{more}. These rows are left out.", stacklevel=4)
        return [row for row, good in enumerate(ok) if good]

    @staticmethod
    def _class_labels(dataframe, rows, y_cols, classes, class_mode):
        """(rows kept, class names, row -> class index or list of them): rows whose classes are not
        all in `classes` are left out."""
        column = dataframe[y_cols[0]].tolist()
        values = {row: column[row] for row in rows}
        for row, value in values.items():
            ok = isinstance(value, str) or (class_mode == "categorical" and isinstance(value, (list, tuple))
                                            and all(isinstance(v, str) for v in value))
            if not ok:
                allowed = "a class name (a string), or a list of them" if class_mode == "categorical" else "a class name (a string)"
                raise UserInputError(f"flow_from_dataframe: with class_mode={class_mode!r}, each value of y_col="
                                     f"{y_cols[0]!r} must be {allowed}; row {row} has {value!r}. For numbers, "
                                     "use class_mode='raw'.")
        found = sorted({v for value in values.values() for v in ([value] if isinstance(value, str) else value)})
        class_names = found if classes is None else list(classes)
        _check_binary(class_mode, class_names, f"y_col={y_cols[0]!r}")
        index = {name: i for i, name in enumerate(class_names)}
        labels = {}
        for row, value in values.items():
            names = [value] if isinstance(value, str) else list(value)
            if all(name in index for name in names):
                labels[row] = index[value] if isinstance(value, str) else [index[name] for name in names]
        return [row for row in rows if row in labels], class_names, labels

    def labels(self, samples=None):
        """What the batches yield as y for the files at `samples` (all by default): as
        `DirectoryIterator.labels`, multi-hot rows for several classes a file, the table's values
        for class_mode 'raw'."""
        picked = slice(None) if samples is None else samples
        if self.class_mode == "raw":
            return self._raw[picked]
        if self.class_mode == "categorical" and isinstance(self.classes, list):
            rows = range(len(self.classes)) if samples is None else samples
            hot = np.zeros((len(rows), self.num_classes), np.float32)
            for i, row in enumerate(rows):
                hot[i, self.classes[row]] = 1.0
            return hot
        return super().labels(samples)

    def _with_labels(self, images, samples):
        out = super()._with_labels(images, samples)
        if self.weights is None or self.class_mode in (None, "input"):
            return out
        return (*out, self.weights[samples])


class _AlreadyFailed(Exception):
    """A file recorded in `failed` earlier: left out without trying again."""


class ArrayIterator(_BatchIterator):
    """Batches from in-memory images `x` `(n, h, w, c)` and optional labels `y`.

    `it[i]` is `(x, y)`, or `x` alone when `y` is None; images come back float32, augmented and
    rescaled by the generator.

        it = ArrayIterator(images, labels, ImageDataGenerator(horizontal_flip=True), batch_size=64)
    """

    def __init__(self, x, y=None, image_data_generator=None, batch_size=32, shuffle=True,
                 seed=None, subset=None, **pydataset_kwargs):
        image_data_generator = image_data_generator or ImageDataGenerator()
        x = np.asarray(x)
        if x.ndim != 4 or len(x) == 0:
            raise UserInputError("`x` must be a non-empty array of images "
                                 "(n, height, width, channels). "
                                 f"Received: an array of shape {x.shape}")
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(x):
                raise UserInputError(f"`x` and `y` must have the same length, but x has "
                                     f"{len(x)} images and y has {len(y)} labels.")
        total = len(x)
        part = subset_slice(total, image_data_generator.validation_split, subset)
        x, y = x[part], None if y is None else y[part]
        if not len(x):
            raise UserInputError(f"subset={subset!r} of {total} images is empty: raise validation_split "
                                 f"({image_data_generator.validation_split}).")
        super().__init__(len(x), batch_size, shuffle, seed, **pydataset_kwargs)
        self.x, self.y, self.subset = x, y, subset
        self.image_data_generator = image_data_generator

    def _start_batch(self, epoch, index):
        samples = self._index_array(epoch, index)
        images = self.x[samples].astype(np.float32)
        jobs = []
        if self.image_data_generator.augments:
            jobs = [_pool().submit(self._augment_into, images, part, epoch)
                    for part in _split(list(enumerate(samples)), _decode_threads())]
        return _Pending(jobs, lambda _: self._assemble(images, samples))

    def _augment_into(self, images, slots, epoch):
        for slot, sample in slots:
            images[slot] = self.image_data_generator.random_transform(
                images[slot], self._augment_rng(epoch, sample))

    def _assemble(self, images, samples):
        images = self.image_data_generator.standardize(images)
        return images if self.y is None else (images, self.y[samples])
