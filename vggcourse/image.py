"""Keras 2's `keras.preprocessing.image`: batches of images from class-per-folder directories,
tables of file names and arrays, with Keras 2's ImageDataGenerator.

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
one warning naming it (`.failed`). The rest of Keras 2's names are here too: the transforms of
`vggcourse.augment` (`apply_affine_transform`, `random_rotation`, ...) and the one-image
functions of `vggcourse.image_utils` (`load_img`, `img_to_array`, `array_to_img`, `save_img`,
`list_pictures`, `validate_filename`).
"""
import copy
import hashlib
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

from vggcourse import augment, checks, decode
from vggcourse.arrays import onehot
from vggcourse.augment import (apply_affine_transform, apply_brightness_shift, apply_channel_shift, flip_axis,
                               random_brightness, random_channel_shift, random_rotation, random_shear, random_shift,
                               random_zoom, transform_matrix_offset_center)
from vggcourse.decode import IMAGE_EXTENSIONS
from vggcourse.errors import BatchIndexError, InputFileNotFoundError, UserInputError, UserTypeError
from vggcourse.image_utils import (array_to_img, check_data_format, img_to_array, list_pictures, load_img, save_img,
                                   validate_filename)

__all__ = ["ArrayIterator", "DataFrameIterator", "DirectoryIterator", "ImageDataGenerator", "Iterator",
           "NumpyArrayIterator", "apply_affine_transform", "apply_brightness_shift", "apply_channel_shift",
           "array_to_img", "find_problems", "find_unreadable_images", "flip_axis", "image_files", "img_to_array",
           "list_pictures", "load_image", "load_img", "random_brightness", "random_channel_shift", "random_rotation",
           "random_shear", "random_shift", "random_zoom", "save_img", "subset_slice", "transform_matrix_offset_center",
           "unlabelled_image_files", "validate_filename"]

CLASS_MODES = ("categorical", "binary", "sparse", "input", None)
UNLABELLED_FOLDER = "unknown"  # the course's name for the one folder of unlabelled test images


# ---------------------------------------------------------------- one image

def load_image(path, target_size=None, interpolation="nearest"):
    """An image file as a uint8 RGB array `(h, w, 3)`, resized to `target_size=(h, w)` if given.

    Exactly what the batches hold for that file (see `vggcourse.decode`).

        pixels = load_image("data/dogscats/train/cats/cat.1.jpg", target_size=(224, 224))
    """
    size = None if target_size is None else checks.size_pair("target_size", target_size)
    return decode.decode_image(path, size, interpolation)


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


def _image_files(directory, folder, recursive=True, follow_links=False):
    """Sorted paths (relative to `directory`) of image files in `folder`, hidden ones left out.

    Sub-folders are searched when `recursive` (links to folders only with `follow_links`, each
    real folder once); a folder that cannot be listed is an error naming it.
    """
    found, pending = [], [os.path.join(directory, folder)]
    seen = {os.path.realpath(pending[0])}
    prefix = len(os.path.join(directory, ""))  # entry.path[prefix:] is the path relative to `directory`
    while pending:
        for entry in _entries(pending.pop()):
            if entry.is_dir():
                if not recursive or (entry.is_symlink() and not follow_links):
                    continue
                real = os.path.realpath(entry.path)
                if real not in seen:
                    seen.add(real)
                    pending.append(entry.path)
            elif decode.is_image_name(entry.name):
                found.append(entry.path[prefix:])
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


def image_files(directory, recursive=True):
    """Sorted paths (relative to `directory`) of the image files in it, and in its sub-folders
    when `recursive`; hidden files and folders left out, files not decoded.

        image_files("data/redux/train", recursive=False)   # ['cat.0.jpg', 'cat.1.jpg', ...]
    """
    return _image_files(_check_directory(directory), "", recursive)


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


def _pairs(directory, class_names, class_mode, loose, part=None, follow_links=False):
    """([(relative path, label)], class names). Unlabelled (class_mode=None), the loose files of
    `directory` are listed too when `loose` (no `classes=` chosen) or when the class folders hold
    no image (a flat folder of images, e.g. test/unknown; then there are no class names).
    `part(n)` (a slice, `subset_slice`'s) takes part of each class folder's sorted files, and of
    the loose files."""
    def taken(files):
        return files if part is None else files[part(len(files))]

    pairs = [(path, label) for label, name in enumerate(class_names)
             for path in taken(_image_files(directory, name, follow_links=follow_links))]
    if class_mode is None and (loose or not pairs):
        if not pairs:
            class_names = []
        pairs += [(path, 0) for path in taken(_image_files(directory, "", recursive=False))]
    return pairs, class_names


def _list_files(directory, class_names, class_mode, loose=True, part=None, follow_links=False):
    """(relative paths, labels, class names) of `_pairs`; an error naming the folder when empty."""
    if class_mode is not None and not class_names:
        raise UserInputError(f"No class folders in {directory}, and class_mode={class_mode!r} "
                             f"needs labels. {_layout_hint(directory)} For unlabelled images in "
                             "one folder, use class_mode=None.")
    pairs, class_names = _pairs(directory, class_names, class_mode, loose, part, follow_links)
    if not pairs:
        raise UserInputError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found in {directory}. "
                             f"{_layout_hint(directory)}")
    return [path for path, _ in pairs], [label for _, label in pairs], class_names


def _scan_directory(directory, classes, class_mode, part=None, follow_links=False):
    """Files, labels, class names of `directory` (`part` of each class folder, as `_pairs`);
    unreadable files are `skipped`, one warning."""
    class_names = _choose_classes(directory, classes, class_mode)
    _check_binary(class_mode, class_names, directory)
    files, labels, class_names = _list_files(directory, class_names, class_mode, loose=classes is None, part=part,
                                             follow_links=follow_links)
    return _readable_scan(directory, files, labels, class_names, class_mode)


def _check_binary(class_mode, class_names, where):
    if class_mode == "binary" and len(class_names) != 2:
        raise UserInputError(f"class_mode='binary' needs exactly 2 classes, but {where} has "
                             f"{len(class_names)}: {class_names}. Use 'categorical' or 'sparse'.")


def _readable_scan(directory, files, labels, class_names, class_mode, check=True):
    """The `_Scan` of `files` (relative to `directory`) with their `labels` (one per file, any
    type): with `check`, files that cannot be decoded are `skipped`, named in one warning."""
    paths = [os.path.join(directory, name) for name in files]
    readable = [True] * len(paths)
    if check:  # a task per core: a task per file costs the pool more than the check itself
        parts = _split(list(range(len(paths))), _cores())
        for part, results in zip(parts, _pool().map(lambda part: [decode.readable(paths[i]) for i in part], parts)):
            for i, ok in zip(part, results):
                readable[i] = ok
    skipped = [name for name, ok in zip(files, readable) if not ok]
    if skipped:
        more = f" and {len(skipped) - 50} more" if len(skipped) > 50 else ""
        listed = ", ".join(skipped[:50]) + more
        warnings.warn(f"Skipped {len(skipped)} file(s) in {directory} that are not readable "
                      f"images: {listed}. They are listed in `.skipped`.", stacklevel=4)
    if files and len(skipped) == len(files):
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


def _check_batching(batch_size, seed, empty=False):
    """`batch_size` a whole number >= 1 (>= 0 for an `empty` iterator, as Keras 2's), `seed` >= 0 or None."""
    checks.whole_number("batch_size", batch_size, least=0 if empty else 1)  # True refused, though Python counts it as 1
    if seed is not None:
        checks.whole_number("seed", seed, least=0, what=">= 0, or None")


def _check_zoom(zoom_range):
    try:
        low, high = augment.zoom_bounds(zoom_range)
    except (TypeError, ValueError):
        low = high = None
    if low is None or not 0 < low <= high:
        raise UserInputError("`zoom_range` must be a number in [0, 1) or a pair (low, high) with "
                             f"0 < low <= high. Received: zoom_range={zoom_range!r}")


def _check_shift(name, value):
    """A Keras 2 shift range: a non-negative number (< 1: a fraction of the size; >= 1: pixels), or
    a list of pixel counts."""
    if augment.shift_choices(value) is not None and not isinstance(value, numbers.Integral):
        if not len(value) or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
            raise UserInputError(f"`{name}` must be a number or a list of numbers. Received: {name}={value!r}")
        return list(value)
    checks.non_negative_number(name, value)
    return value


def _check_pair(name, value):
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
        raise UserInputError(f"`{name}` must be a pair of numbers (low, high). Received: {name}={value!r}")
    return tuple(float(v) for v in value)


# ---------------------------------------------------------------- the generator

def _generator_data_format(data_format, dim_ordering):
    """Keras 2's `data_format` ('channels_last', the default, or 'channels_first': arrays and
    batches in that order, converted at the edge) or Keras 1's `dim_ordering` ('tf' / 'th')."""
    checks.one_of("dim_ordering", dim_ordering, (None, "default", "tf", "th"), caller="ImageDataGenerator")
    if dim_ordering == "th" and data_format is None:
        return "channels_first"
    return check_data_format(data_format)


_OFF = "off"  # a setting that changes no pixel, left out of `standardization_key`


class ImageDataGenerator:
    """Keras 2's `ImageDataGenerator`: random augmentation and standardization settings, and
    batches from a folder (`flow_from_directory`), a table of file names (`flow_from_dataframe`)
    or arrays (`flow`).

    Keras 2's arguments, defaults and conventions: rotation and shear in degrees; shifts as a
    fraction of the size below 1, in pixels from 1, or a list of pixel counts; zoom `1 +- z` or a
    pair; `brightness_range` a pair of factors; `channel_shift_range` in pixel units; each flip
    with chance 1/2. Each image is then standardized (`standardize`): `preprocessing_function`,
    `rescale`, samplewise and featurewise centring and scaling, ZCA whitening (these three from
    `fit(x)`). `validation_split` keeps a fraction of each flow's images for `subset='validation'`
    (`subset_slice`). `data_format='channels_first'` takes and gives arrays channels-first; the
    work is done channels-last. `dim_ordering='tf'` / 'th' is Keras 1's spelling of it.

    The course's Keras 1 conventions (shear in radians, shifts always a fraction) are
    `vggcourse.keras1.image.ImageDataGenerator`'s; here `shear_range=np.degrees(0.15)` is the
    course's `shear_range=0.15`.

        gen = ImageDataGenerator(rotation_range=15, width_shift_range=0.1, horizontal_flip=True)
        batches = gen.flow_from_directory("data/dogscats/train", target_size=(224, 224))
    """

    def __init__(self, featurewise_center=False, samplewise_center=False, featurewise_std_normalization=False,
                 samplewise_std_normalization=False, zca_whitening=False, zca_epsilon=1e-6, rotation_range=0.0,
                 width_shift_range=0.0, height_shift_range=0.0, brightness_range=None, shear_range=0.0,
                 zoom_range=0.0, channel_shift_range=0.0, fill_mode="nearest", cval=0.0, horizontal_flip=False,
                 vertical_flip=False, rescale=None, preprocessing_function=None, data_format=None,
                 validation_split=0.0, interpolation_order=1, dtype="float32", dim_ordering=None):
        for name, value in dict(rotation_range=rotation_range, shear_range=shear_range,
                                channel_shift_range=channel_shift_range).items():
            checks.non_negative_number(name, value)
        self.width_shift_range = _check_shift("width_shift_range", width_shift_range)
        self.height_shift_range = _check_shift("height_shift_range", height_shift_range)
        _check_zoom(zoom_range)
        self.brightness_range = None if brightness_range is None else _check_pair("brightness_range", brightness_range)
        checks.one_of("fill_mode", fill_mode, augment.FILL_MODES)
        if rescale is not None:
            checks.finite_number("rescale", rescale, what="None or a finite number")
        checks.finite_number("cval", cval)
        if preprocessing_function is not None and not callable(preprocessing_function):
            raise UserTypeError("`preprocessing_function` must be a function of one image (height, width, "
                                f"channels) that returns an image of the same shape. Received: {preprocessing_function!r}")
        checks.whole_number_in("interpolation_order", interpolation_order, 0, 5)
        self.dtype = np.dtype(dtype).name
        self.validation_split = checks.fraction("validation_split", validation_split)
        self.data_format = _generator_data_format(data_format, dim_ordering)
        self.rotation_range, self.shear_range = rotation_range, shear_range
        self.zoom_range = list(augment.zoom_bounds(zoom_range))  # Keras 2's [low, high]
        self.channel_shift_range = channel_shift_range
        self.horizontal_flip, self.vertical_flip = bool(horizontal_flip), bool(vertical_flip)
        self.rescale, self.fill_mode, self.cval = rescale, fill_mode, float(cval)
        self.preprocessing_function, self.interpolation_order = preprocessing_function, interpolation_order
        self.zca_epsilon = checks.positive_number("zca_epsilon", zca_epsilon)
        self.zca_whitening = bool(zca_whitening)
        self.featurewise_center = bool(featurewise_center or zca_whitening or featurewise_std_normalization)
        self.featurewise_std_normalization = bool(featurewise_std_normalization and not zca_whitening)
        self.samplewise_center = bool(samplewise_center or samplewise_std_normalization)
        self.samplewise_std_normalization = bool(samplewise_std_normalization)
        for setting, implied in (("zca_whitening", featurewise_center), ("featurewise_std_normalization",
                                                                          featurewise_center or zca_whitening),
                                 ("samplewise_std_normalization", samplewise_center)):
            if locals()[setting] and not implied:
                warnings.warn(f"ImageDataGenerator: `{setting}` also centres (featurewise_center / samplewise_center "
                              "turned on), as in Keras.", stacklevel=2)
        if zca_whitening and featurewise_std_normalization:
            warnings.warn("ImageDataGenerator: `zca_whitening` replaces `featurewise_std_normalization` (turned "
                          "off), as in Keras.", stacklevel=2)
        self._mean = self._std = None  # channels-last (1, 1, c), from fit() or set by hand
        self.zca_whitening_matrix = None

    # ---------------------------------------------------------------- settings

    @property
    def augments(self):
        """True when any random transform is on."""
        return bool(self.rotation_range or np.any(self.width_shift_range) or np.any(self.height_shift_range)
                    or self.shear_range or augment.zoom_bounds(self.zoom_range) != (1.0, 1.0)
                    or self.channel_shift_range or self.horizontal_flip or self.vertical_flip
                    or self.brightness_range is not None)

    @property
    def standardizes(self):
        """True when `standardize` changes images (a function, rescale, centring, scaling, whitening)."""
        return bool(self.preprocessing_function is not None or self.rescale or self.samplewise_center
                    or self.featurewise_center or self.zca_whitening)

    @property
    def channel_axis(self):
        """The channel axis of a batch (Keras 2's: 3 channels-last, 1 channels-first)."""
        return 3 if self.data_format == "channels_last" else 1

    @property
    def row_axis(self):
        return 1 if self.data_format == "channels_last" else 2

    @property
    def col_axis(self):
        return 2 if self.data_format == "channels_last" else 3

    def _in_format(self, stat):
        """A channels-last (1, 1, c) statistic in this generator's data format."""
        return stat if stat is None or self.data_format == "channels_last" else np.moveaxis(stat, -1, 0)

    def _from_format(self, stat):
        stat = None if stat is None else np.asarray(stat)
        return stat if stat is None or self.data_format == "channels_last" or stat.ndim != 3 else np.moveaxis(stat, 0, -1)

    mean = property(lambda self: self._in_format(self._mean), lambda self, value: setattr(self, "_mean", self._from_format(value)),
                    doc="The featurewise mean (`fit`, or set by hand: `(1, 1, 3)` channels-last), or None.")
    std = property(lambda self: self._in_format(self._std), lambda self, value: setattr(self, "_std", self._from_format(value)),
                   doc="The featurewise standard deviation (`fit`, or set by hand), or None.")
    principal_components = property(lambda self: self.zca_whitening_matrix,
                                    lambda self, value: setattr(self, "zca_whitening_matrix", value),
                                    doc="Keras 2.0's name for `zca_whitening_matrix` (channels-last order).")

    def standardization_key(self):
        """What `standardize` does, as JSON-able values, for the feature cache's key: settings that
        are off are left out (a plain generator keys as it always did); None when it cannot be
        keyed (a `preprocessing_function`).

            gen.standardization_key()   # {'rescale': 0.00392...}
        """
        if self.preprocessing_function is not None:
            return None
        digest = lambda a: None if a is None else hashlib.sha256(np.ascontiguousarray(a, np.float64)).hexdigest()
        about = {"rescale": self.rescale, "dtype": self.dtype if self.dtype != "float32" else _OFF,
                 "samplewise": [self.samplewise_center, self.samplewise_std_normalization]
                 if self.samplewise_center else _OFF,
                 "mean": digest(self._mean) if self.featurewise_center else _OFF,
                 "std": digest(self._std) if self.featurewise_std_normalization else _OFF,
                 "zca": digest(self.zca_whitening_matrix) if self.zca_whitening else _OFF}
        return {key: value for key, value in about.items() if value != _OFF}

    def without_augmentation(self):
        """A copy that standardizes as this one does and transforms nothing (for predictions).

            plain = gen.without_augmentation()
        """
        plain = copy.copy(self)
        plain.rotation_range = plain.width_shift_range = plain.height_shift_range = 0.0
        plain.shear_range = plain.channel_shift_range = 0.0
        plain.zoom_range = list(augment.zoom_bounds(0.0))  # as the constructor keeps it: [1.0, 1.0]
        plain.horizontal_flip = plain.vertical_flip = False
        plain.brightness_range = None
        return plain

    # ---------------------------------------------------------------- one image, channels-last inside

    def _last(self, x):
        """`x` (one image, or a batch) channels-last."""
        x = np.asarray(x)
        return np.moveaxis(x, -3, -1) if self.data_format == "channels_first" else x

    def _out(self, x):
        """A channels-last image or batch in this generator's data format."""
        return np.moveaxis(x, -1, -3) if self.data_format == "channels_first" else x

    def _draw(self, shape, rng):
        """Keras 2's transform parameters for a channels-last image of `shape`, drawn from `rng`."""
        return augment.draw_parameters(
            shape, rng, self.rotation_range, self.width_shift_range, self.height_shift_range, self.shear_range,
            self.zoom_range, self.channel_shift_range, self.horizontal_flip, self.vertical_flip,
            self.brightness_range)

    def _random_last(self, x, rng):
        """One random augmentation of a channels-last image, drawn from `rng`."""
        return augment.apply_parameters(x, self._draw(x.shape, rng), 0, 1, 2, self.fill_mode, self.cval,
                                        self.interpolation_order)

    def _process(self, x, rng):
        """Augment (when on) and standardize one channels-last float image: what the batches hold."""
        if self.augments:
            x = self._random_last(x, rng)
        return self._standardize_last(x)

    def _standardize_last(self, x):
        if self.preprocessing_function is not None:
            shape, x = x.shape, self.preprocessing_function(x)
            if np.shape(x) != shape:
                raise UserInputError(f"preprocessing_function must return an image of the shape it was given, "
                                     f"{shape}. Received: {np.shape(x)}")
        if self.rescale:
            x = x * np.asarray(self.rescale, dtype=x.dtype)
        if self.samplewise_center:
            x = x - np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x = x / (np.std(x, keepdims=True) + 1e-6)
        if self.featurewise_center:
            if self._mean is None:
                self._warn_not_fit("featurewise_center")
            else:
                x = x - self._mean
        if self.featurewise_std_normalization:
            if self._std is None:
                self._warn_not_fit("featurewise_std_normalization")
            else:
                x = x / (self._std + 1e-6)
        if self.zca_whitening:
            if self.zca_whitening_matrix is None:
                self._warn_not_fit("zca_whitening")
            else:
                x = (x.reshape(-1, np.prod(x.shape[-3:])) @ self.zca_whitening_matrix).reshape(x.shape)
        return x

    def _warn_not_fit(self, setting):
        warnings.warn(f"This ImageDataGenerator has `{setting}` on but has not been fit: images are left as they "
                      "are. Call `gen.fit(x_train)` with sample images first.", stacklevel=4)

    # ---------------------------------------------------------------- Keras 2's methods

    def standardize(self, x):
        """`x` (one image or a batch, in this generator's data format) standardized: the
        `preprocessing_function`, `rescale`, then samplewise and featurewise settings.

            x = gen.standardize(x.astype("float32"))
        """
        return self._out(self._standardize_last(self._last(x)))

    def get_random_transform(self, img_shape, seed=None):
        """A random transform's parameters for an image of `img_shape` (Keras 2's dictionary:
        theta, tx, ty, shear, zx, zy, flip_horizontal, flip_vertical, channel_shift_intensity,
        brightness). `seed`: an int (the numbers Keras draws after `np.random.seed(seed)`), a
        numpy Generator, or None (numpy's global random state, as Keras).

            params = gen.get_random_transform((224, 224, 3), seed=0)
        """
        shape = tuple(img_shape)
        if self.data_format == "channels_first" and len(shape) == 3:
            shape = shape[1:] + shape[:1]
        return self._draw(shape, _random_source(seed))

    def apply_transform(self, x, transform_parameters):
        """One image `x` transformed by `transform_parameters` (`get_random_transform`'s keys;
        missing ones are off).

            flipped = gen.apply_transform(x, {"flip_horizontal": True})
        """
        x = self._last(x)
        if x.ndim != 3:
            raise UserInputError(f"apply_transform: `x` must be one image (3 dimensions). Received: shape {x.shape}")
        return self._out(augment.apply_parameters(x, transform_parameters, 0, 1, 2, self.fill_mode, self.cval,
                                                  self.interpolation_order))

    def random_transform(self, x, seed=None):
        """One random augmentation of one image `x` (Keras' signature); `seed` as in
        `get_random_transform`.

            out = ImageDataGenerator(rotation_range=10).random_transform(x, seed=0)
        """
        x = self._last(x)
        if x.ndim != 3:
            raise UserInputError(f"random_transform: `x` must be one image (3 dimensions). Received: shape {x.shape}")
        return self._out(self._random_last(x, _random_source(seed)) if self.augments else x)

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Compute the featurewise statistics that `standardize` uses from sample images `x`
        (n, h, w, c): the per-channel mean and standard deviation, and the ZCA whitening matrix,
        after `rescale`, and with `augment` over `rounds` random augmentations of every image.

            gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True)
            gen.fit(x_train)
        """
        x = np.array(x, dtype=self.dtype)
        if x.ndim != 4:
            raise UserInputError(f"ImageDataGenerator.fit: `x` must be a batch of images (n, height, width, "
                                 f"channels), rank 4. Received: an array of shape {x.shape}")
        _warn_channels(x.shape, self.channel_axis, self.data_format, "ImageDataGenerator.fit")
        checks.whole_number("rounds", rounds, least=1)
        x = self._last(x)
        if self.rescale:
            x *= self.rescale
        if augment:
            source = _random_source(seed)
            x = np.stack([self._random_last(image, source) for _ in range(rounds) for image in x]).astype(self.dtype)
        if self.featurewise_center:
            self._mean = np.mean(x, axis=(0, 1, 2)).reshape(1, 1, -1)
            x = x - self._mean
        if self.featurewise_std_normalization:
            self._std = np.std(x, axis=(0, 1, 2)).reshape(1, 1, -1)
            x = x / (self._std + 1e-6)
        if self.zca_whitening:
            flat = x.reshape(len(x), -1)
            u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
            self.zca_whitening_matrix = (u * (np.sqrt(len(x)) / (s + self.zca_epsilon))) @ u.T
        return self

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb", classes=None,
                            class_mode="categorical", batch_size=32, shuffle=True, seed=None, save_to_dir=None,
                            save_prefix="", save_format="png", follow_links=False, subset=None,
                            interpolation="nearest", keep_aspect_ratio=False, **pydataset_kwargs):
        """A `DirectoryIterator` over `directory/<class>/*.jpg` (Keras 2's arguments, in its order).

        `interpolation` is the resize filter: 'nearest' (the default of Keras' ImageDataGenerator,
        and what the course's Keras 1 did), or 'bilinear', 'bicubic', 'lanczos', ... (Pillow's
        antialiased filters: smoother when shrinking a lot, and slower). Whichever decoder
        reads the file (`vggcourse.decode`), this filter makes the final resize.

            batches = ImageDataGenerator().flow_from_directory("train", target_size=(224, 224))
        """
        return DirectoryIterator(directory, self, target_size=target_size, color_mode=color_mode, classes=classes,
                                 class_mode=class_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 save_to_dir=save_to_dir, save_prefix=save_prefix, save_format=save_format,
                                 follow_links=follow_links, subset=subset, interpolation=interpolation,
                                 keep_aspect_ratio=keep_aspect_ratio, **pydataset_kwargs)

    def flow_from_dataframe(self, dataframe, directory=None, x_col="filename", y_col="class", weight_col=None,
                            target_size=(256, 256), color_mode="rgb", classes=None, class_mode="categorical",
                            batch_size=32, shuffle=True, seed=None, save_to_dir=None, save_prefix="",
                            save_format="png", subset=None, interpolation="nearest", validate_filenames=True,
                            **kwargs):
        """A `DataFrameIterator` over the files named in `dataframe[x_col]` (relative to `directory`,
        or paths when it is None), labelled by `dataframe[y_col]` (Keras 2's).

            batches = ImageDataGenerator().flow_from_dataframe(df, "data/redux/train", target_size=(224, 224))
        """
        for name, why in (("has_ext", "file names must match the files on disk exactly"),
                          ("sort", "with shuffle=False, batches follow the table's order"),
                          ("drop_duplicates", "use DataFrame.drop_duplicates")):
            if name in kwargs:
                kwargs.pop(name)
                warnings.warn(f"flow_from_dataframe: `{name}` is deprecated in Keras 2 and ignored: {why}.",
                              DeprecationWarning, stacklevel=2)
        if class_mode == "other":
            warnings.warn("flow_from_dataframe: class_mode 'other' is Keras 2's old name of 'raw'.",
                          DeprecationWarning, stacklevel=2)
            class_mode = "raw"
        return DataFrameIterator(dataframe, directory, self, x_col=x_col, y_col=y_col, weight_col=weight_col,
                                 target_size=target_size, color_mode=color_mode, classes=classes,
                                 class_mode=class_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 save_to_dir=save_to_dir, save_prefix=save_prefix, save_format=save_format,
                                 subset=subset, interpolation=interpolation, validate_filenames=validate_filenames,
                                 **kwargs)

    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None, save_to_dir=None,
             save_prefix="", save_format="png", ignore_class_split=False, subset=None, **pydataset_kwargs):
        """A `NumpyArrayIterator` over images `x` `(n, h, w, c)` (or `(x, extra arrays)`), optional
        labels `y` and `sample_weight` (Keras 2's).

            batches = ImageDataGenerator(horizontal_flip=True).flow(images, labels, batch_size=64)
        """
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
                                  seed=seed, save_to_dir=save_to_dir, save_prefix=save_prefix,
                                  save_format=save_format, subset=subset, ignore_class_split=ignore_class_split,
                                  **pydataset_kwargs)


def _random_source(seed):
    """What random draws come from: numpy's global state (None, as Keras), a `RandomState` seeded
    as `np.random.seed(seed)` would (an int), or the numpy Generator given."""
    if seed is None:
        return np.random
    if isinstance(seed, (np.random.Generator, np.random.RandomState)):
        return seed
    return np.random.RandomState(checks.whole_number("seed", seed, least=0))


def _warn_channels(shape, axis, data_format, where):
    if shape[axis] not in (1, 3, 4):
        warnings.warn(f"{where}: expected images with 1, 3 or 4 channels on axis {axis} ({data_format}); "
                      f"received an array of shape {shape} ({shape[axis]} channels).", stacklevel=3)


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


class _Done:
    """A batch made already."""

    def __init__(self, batch):
        self._batch = batch

    def result(self):
        return self._batch

    def cancel(self):
        pass


PYDATASET_KEYWORDS = ("workers", "use_multiprocessing", "max_queue_size")


def _check_keywords(caller, pydataset_kwargs):
    """A `UserTypeError` for a keyword that is neither Keras 2's nor `keras.utils.PyDataset`'s."""
    unknown = sorted(set(pydataset_kwargs) - set(PYDATASET_KEYWORDS))
    if unknown:
        raise UserTypeError(f"{caller} got an unexpected keyword argument {unknown[0]!r}. Beside Keras 2's "
                            f"arguments it takes keras.utils.PyDataset's: {', '.join(PYDATASET_KEYWORDS)}.")


_BUFFERS, _BUFFERS_LOCK = [], threading.Lock()


def _buffer(shape, dtype=np.float32):
    """An array of `shape` and `dtype` to fill: one handed out earlier that nobody holds any more.

    A fresh array of a batch's size costs the kernel a page fault per page, several times the
    work of decoding into it when the decoding threads fault at once; so arrays are kept for the
    whole process, and a fresh iterator (predict after fit, the feature cache's passes) reuses
    what a finished one left. An array is reused only when its reference count is that of a
    probe held by this list alone, so no array a caller still holds (or a view of it, or a tensor
    sharing its memory) is ever overwritten. At most `2 * (read-ahead + 2)` arrays are kept.
    """
    with _BUFFERS_LOCK:
        arrays = _BUFFERS.copy()
        _BUFFERS.clear()  # each array now referred to by `arrays` alone, unless someone holds it
        arrays.append(np.empty(0, np.float32))  # the probe: nothing else refers to it
        counts = [sys.getrefcount(array) for array in arrays]
        arrays.pop()
        free = [i for i, array in enumerate(arrays)
                if array.shape == shape and array.dtype == dtype and counts[i] <= counts[-1]]
        if free:
            array = arrays.pop(free[0])
        else:  # touched here, in one thread: decoding threads faulting its pages in at once are slower
            array = np.empty(shape, dtype)
            array.fill(0)
        _BUFFERS.extend([array, *arrays[:2 * (_read_ahead() + 2) - 1]])
        return array


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


class Iterator(keras.utils.PyDataset):
    """Keras 2's `Iterator`, the base of the batches: a per-epoch permutation from (seed, epoch),
    `next()`, read-ahead. A subclass (as in Keras 2) calls `super().__init__(n, batch_size,
    shuffle, seed)` and defines `_get_batches_of_transformed_samples(index_array)`; vggcourse's
    own iterators define `_start_batch` instead, to decode on the shared pool.

    Batch `i` of epoch `e` is a pure function of (seed, e, i), so Keras worker threads or
    processes fetching batches in any order see one consistent shuffle; `on_epoch_end` moves to
    the next permutation. `next()` keeps its own position and wraps (and reshuffles) at the end.
    Read in order, the next `_read_ahead()` batches are started on the decoding pool (by
    `next()` across the end of an epoch too); read out of order, nothing is.
    """

    white_list_formats = tuple(extension[1:] for extension in IMAGE_EXTENSIONS)

    def __init__(self, n, batch_size, shuffle, seed, **pydataset_kwargs):
        _check_keywords(type(self).__name__, pydataset_kwargs)
        super().__init__(**pydataset_kwargs)
        _check_batching(batch_size, seed, empty=n == 0)
        self.n = self.N = self.samples = self.nb_sample = n  # N: Keras 1's spelling
        self.total_batches_seen = 0
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), seed
        self._seed = shuffle_seed(seed)
        self._epoch = 0
        self._next_position = (0, 0)  # (epoch, batch) that next() returns
        self._last_key = None
        self._orders, self._ahead = {}, {}
        self._lock = threading.RLock()

    def __len__(self):
        return math.ceil(self.n / self.batch_size) if self.n else 0

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise BatchIndexError(f"Asked for batch {index}, but there are {len(self)} batches "
                                  f"(0 to {len(self) - 1}).")
        self.total_batches_seen += 1
        return self._batch(self._epoch, int(index) % len(self), wrap=False)

    def __iter__(self):
        return self

    def __next__(self):
        with self._lock:
            key = self._next_position
            self._next_position = self._following(key, wrap=True)
            self.total_batches_seen += 1
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
    def index_generator(self):
        """Keras 2's generator of the index arrays that `next()` reads, sharing its position."""
        if getattr(self, "_index_generator", None) is None:
            self._index_generator = self._flow_index()
        return self._index_generator

    def _flow_index(self):
        while True:
            with self._lock:
                key = self._next_position
                self._next_position = self._following(key, wrap=True)
                self.total_batches_seen += 1
            yield self._index_array(*key)

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

    def _reads_ahead(self):
        """Keras workers fetch ahead themselves; otherwise we do."""
        return self.workers <= 1 and not self.use_multiprocessing

    def _start_batch(self, epoch, index):
        """A `_Pending` batch (epoch, index), its work submitted to the decoding pool; here (a
        Keras 2 subclass), made at once by `_get_batches_of_transformed_samples`."""
        return _Done(self._get_batches_of_transformed_samples(self._index_array(epoch, index)))

    def _get_batches_of_transformed_samples(self, index_array):
        """The batch of the samples at `index_array` (Keras 2's hook for subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} must define _get_batches_of_transformed_samples(index_array)"
                                  ", as a Keras 2 Iterator subclass does.")

    def __getstate__(self):  # for worker processes: leave locks and pending batches behind
        state = self.__dict__.copy()
        state.update(_lock=None, _ahead={}, _orders={}, _index_generator=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.RLock()


_FAILED_LOCK = threading.Lock()


CHANNELS = {"rgb": 3, "grayscale": 1, "rgba": 4}


class _BatchOutput:
    """How an iterator's batches of images come out: in `dtype` and `data_format` (the generator's
    unless given), and with Keras 2's `save_to_dir` each image also written there as the batch
    holds it (`array_to_img(..., scale=True)`), named `{prefix}_{index}_{random}.{format}`."""

    def _set_output(self, image_data_generator, data_format, dtype, save_to_dir, save_prefix, save_format):
        if save_to_dir is not None and not os.path.isdir(save_to_dir):
            raise InputFileNotFoundError(f"save_to_dir={save_to_dir!r} is not a folder: make it first, or leave "
                                         "save_to_dir out.")
        self.data_format = check_data_format(data_format or image_data_generator.data_format)
        self.dtype = np.dtype(dtype or image_data_generator.dtype).name
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format

    def _finished(self, images, samples):
        """A channels-last batch of the files or rows `samples`, saved when asked, in `data_format`."""
        if self.save_to_dir:
            for image, sample in zip(images, samples):
                name = f"{self.save_prefix}_{sample}_{np.random.randint(10 ** 7)}.{self.save_format}"
                save_img(os.path.join(self.save_to_dir, name), image, data_format="channels_last", scale=True)
        return np.moveaxis(images, -1, 1) if self.data_format == "channels_first" else images


class DirectoryIterator(_BatchOutput, Iterator):
    """Batches from a class-per-folder directory (Keras 2's), as a `keras.utils.PyDataset`.

    `it[i]` is `(x, y)` (or `x` when `class_mode=None`); `next(it)` never ends and reshuffles each
    epoch; `len(it)` batches cover every image once (the last one may be smaller). A file that
    cannot be decoded when its batch is made is left out of that batch (and every later one) and
    named in `failed`.

        it = DirectoryIterator("data/dogscats/valid", target_size=(224, 224), shuffle=False)
        it.filenames[:2], it.class_indices  # ['cats/cat.1001.jpg', ...], {'cats': 0, 'dogs': 1}
    """

    allowed_class_modes = frozenset(CLASS_MODES)  # Keras 2's class attributes
    sample_weight = None  # files in folders carry no weights (a table's may: DataFrameIterator)

    def __init__(self, directory, image_data_generator=None, target_size=(256, 256), color_mode="rgb",
                 classes=None, class_mode="categorical", batch_size=32, shuffle=True, seed=None, data_format=None,
                 save_to_dir=None, save_prefix="", save_format="png", follow_links=False, subset=None,
                 interpolation="nearest", keep_aspect_ratio=False, dtype=None, _scan=None, **pydataset_kwargs):
        self.target_size = checks.size_pair("target_size", target_size)
        checks.one_of("class_mode", class_mode, CLASS_MODES)
        checks.one_of("color_mode", color_mode, sorted(CHANNELS))
        decode.check_interpolation(interpolation)
        _check_batching(batch_size, seed)
        _check_keywords(type(self).__name__, pydataset_kwargs)  # before the folder is scanned
        self.directory = _check_directory(directory)
        image_data_generator = image_data_generator or ImageDataGenerator()
        self._set_output(image_data_generator, data_format, dtype, save_to_dir, save_prefix, save_format)
        split = image_data_generator.validation_split
        subset_slice(0, split, subset)  # the argument checked before the folder is scanned
        scan = _scan or _scan_directory(self.directory, classes, class_mode, lambda n: subset_slice(n, split, subset),
                                        follow_links)
        super().__init__(len(scan.filenames), batch_size, shuffle, seed, **pydataset_kwargs)
        self._scan = scan
        self.image_data_generator, self.subset = image_data_generator, subset
        self.class_mode, self.interpolation, self.color_mode = class_mode, interpolation, color_mode
        self.keep_aspect_ratio, self.follow_links = bool(keep_aspect_ratio), bool(follow_links)
        channels = CHANNELS[color_mode]
        self.image_shape = ((*self.target_size, channels) if self.data_format == "channels_last"
                            else (channels, *self.target_size))
        self.filenames, self.skipped = list(scan.filenames), list(scan.skipped)
        self.filepaths = [os.path.join(self.directory, name) for name in self.filenames]
        self.classes, self.class_names = scan.classes, list(scan.class_names)
        self.class_indices = {name: i for i, name in enumerate(self.class_names)}
        self.num_classes = self.nb_class = len(self.class_names)
        if _scan is None:  # a new scan, as Keras 1 and 2 say (not the copies for_inference makes)
            print(f"Found {self.samples} images belonging to {self.num_classes} classes.")

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

        The images are standardized as these batches' are (`rescale`, `fit` statistics, ...). With
        `gen` (an `ImageDataGenerator`), they are transformed and standardized by it instead,
        reproducibly for a given `seed` (test-time augmentation). The folder is not scanned again.

            predictions = model.predict(batches.for_inference())  # row i is batches.filenames[i]
            flipped = batches.for_inference(gen=ImageDataGenerator(horizontal_flip=True), seed=1)
        """
        if gen is not None and not isinstance(gen, ImageDataGenerator):
            raise UserTypeError(f"`gen` must be an ImageDataGenerator (or None: no augmentation). "
                                f"Received: gen={gen!r}")
        return DirectoryIterator(
            self.directory, gen or self.image_data_generator.without_augmentation(), self.target_size,
            self.color_mode, class_mode=None, batch_size=batch_size or self.batch_size, shuffle=False,
            seed=self.seed if seed is None else seed, data_format=self.data_format, interpolation=self.interpolation,
            keep_aspect_ratio=self.keep_aspect_ratio, dtype=self.dtype, _scan=self._scan, workers=self.workers,
            use_multiprocessing=self.use_multiprocessing, max_queue_size=self.max_queue_size)

    def _start_batch(self, epoch, index):
        samples = self._index_array(epoch, index)
        images = _buffer((len(samples), *self.target_size, CHANNELS[self.color_mode]), self.dtype)
        jobs = [_pool().submit(self._load_into, images, part, epoch)
                for part in _split(list(enumerate(samples)), _decode_threads())]
        return _Pending(jobs, lambda lost: self._assemble(images, samples, lost, epoch, index))

    def _load_into(self, images, slots, epoch):
        """Decode, resize, augment, standardize `(slot, file index)` pairs into `images` (channels-
        last; a thread). Returns the slots whose file could not be decoded.
        """
        gen, lost = self.image_data_generator, []
        processes = gen.augments or gen.standardizes
        for slot, sample in slots:
            try:
                if self.filenames[sample] in self._scan.failed:
                    raise _AlreadyFailed
                images[slot] = self._decode(self.filepaths[sample])
            except _AlreadyFailed:
                lost.append(slot)
                continue
            except Exception as error:  # a file that broke after the scan must not stop an epoch
                self._record_failure(sample, error)
                lost.append(slot)
                continue
            if processes:
                images[slot] = gen._process(images[slot], self._augment_rng(epoch, sample))
        return lost

    def _decode(self, path):
        """One file as the batches take it, channels-last, before augmentation."""
        if self.color_mode == "rgb" and not self.keep_aspect_ratio:
            return decode.decode_image(path, self.target_size, self.interpolation)
        return img_to_array(load_img(path, color_mode=self.color_mode, target_size=self.target_size,
                                     interpolation=self.interpolation, keep_aspect_ratio=self.keep_aspect_ratio),
                            dtype=self.dtype)

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
                    images = _buffer((1, *self.target_size, CHANNELS[self.color_mode]), self.dtype)
                    if not self._load_into(images, [(0, sample)], epoch):
                        return images, np.array([sample])
        raise UserInputError(f"every file of {self.directory} failed to decode (listed in `.failed`): there "
                             "is nothing to train on. `vggcourse verify` lists unreadable images.")

    def _with_labels(self, images, samples):
        images = self._finished(images, samples)
        if self.class_mode == "input":
            return images, images.copy()
        labels = self.targets(samples)
        return images if labels is None else (images, labels)

    @property
    def split(self):
        """Keras 2's `split`: the fractions (start, end) of each class folder (or of the table's
        rows) that `subset` takes, as `subset_slice` cuts them; None without a subset."""
        if self.subset is None:
            return None
        fraction = self.image_data_generator.validation_split
        return (0, fraction) if self.subset == "validation" else (fraction, 1)

    @property
    def labels(self):
        """Keras 2's `labels`: the class index of every file, in `filenames` order (`classes`); for
        a table's class_mode 'raw' or 'multi_output', its values. `targets()` gives what the batches
        yield as y."""
        return self.classes

    def targets(self, samples=None):
        """What the batches yield as y for the files at `samples` (all, in `filenames` order, by
        default); None for `class_mode` None or 'input'.

            y = batches.targets()   # one-hot rows for class_mode='categorical'
        """
        if self.class_mode in (None, "input"):
            return None
        labels = self.classes if samples is None else self.classes[samples]
        if self.class_mode == "sparse":
            return labels.astype(np.int32)
        if self.class_mode == "binary":
            return labels.astype(np.float32)
        return onehot(labels, self.num_classes)


DATAFRAME_CLASS_MODES = ("categorical", "binary", "sparse", "raw", "multi_output", "input", None)


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
    lists, as they are), 'multi_output' (a list of arrays, one per column of `y_col`), 'input'
    (the image), None (no labels). With `weight_col`, labelled
    batches are (x, y, sample weights). With `validate_filenames`, rows naming a file that is not
    there or not an image are left out, named in one warning (Keras 2's); files that cannot be
    decoded are `skipped`, as in a folder. `subset` takes part of the rows in their order
    (`subset_slice`).

        it = DataFrameIterator(df, "data/redux/train", target_size=(224, 224))
        it.filenames[:2], it.class_indices   # ['cat.0.jpg', 'cat.1.jpg'], {'cat': 0, 'dog': 1}
    """

    allowed_class_modes = frozenset(DATAFRAME_CLASS_MODES)

    def __init__(self, dataframe, directory=None, image_data_generator=None, x_col="filename", y_col="class",
                 weight_col=None, target_size=(256, 256), color_mode="rgb", classes=None, class_mode="categorical",
                 batch_size=32, shuffle=True, seed=None, data_format=None, save_to_dir=None, save_prefix="",
                 save_format="png", subset=None, interpolation="nearest", keep_aspect_ratio=False, dtype=None,
                 validate_filenames=True, **pydataset_kwargs):
        if not hasattr(dataframe, "columns") or not hasattr(dataframe, "iloc"):
            raise UserTypeError("flow_from_dataframe: `dataframe` must be a pandas DataFrame (a table of file "
                                f"names and labels: vggcourse.labels makes them). Received: {type(dataframe).__name__}")
        checks.one_of("class_mode", class_mode, DATAFRAME_CLASS_MODES, caller="flow_from_dataframe")
        _check_keywords(type(self).__name__, pydataset_kwargs)
        image_data_generator = image_data_generator or ImageDataGenerator()
        subset_slice(0, image_data_generator.validation_split, subset)
        directory = os.getcwd() if directory is None else _check_directory(directory)
        x_col = _columns(dataframe, x_col, "x_col")[0]
        labelled = class_mode not in ("input", None)
        y_cols = _columns(dataframe, y_col, "y_col") if labelled else []
        if weight_col is not None:
            _columns(dataframe, weight_col, "weight_col")
            if getattr(dataframe[weight_col].dtype, "kind", "O") not in "iuf":
                raise UserTypeError(f"flow_from_dataframe: weight_col={weight_col!r} must hold numbers. Received: a "
                                    f"column of {dataframe[weight_col].dtype}.")
        if class_mode == "multi_output" and isinstance(y_col, str):
            raise UserTypeError("flow_from_dataframe: class_mode='multi_output' needs y_col as a list of columns, one "
                                f"per output. Received: y_col={y_col!r}")
        names = dataframe[x_col].astype(str).tolist()
        rows = self._valid_rows(names, directory, x_col, validate_filenames)
        class_names, labels = [], None
        if class_mode in ("categorical", "binary", "sparse"):
            rows, class_names, labels = self._class_labels(dataframe, rows, y_cols, classes, class_mode)
        rows = rows[subset_slice(len(rows), image_data_generator.validation_split, subset)]
        if not rows:
            warnings.warn(f"flow_from_dataframe: no rows left to read ({len(dataframe)} in the table, subset="
                          f"{subset!r}): these batches are empty.", stacklevel=3)
        # each file's label is its row for now: the rows kept after the decode check pick the labels
        scan = _readable_scan(directory, [names[row] for row in rows], [(row,) for row in rows], class_names,
                              class_mode, check=validate_filenames)
        kept = [row for (row,) in scan.classes]
        self._raw = None
        if class_mode == "raw":
            self._raw = dataframe[y_cols].iloc[kept].to_numpy()
            self._raw = self._raw[:, 0] if len(y_cols) == 1 else self._raw
        elif class_mode == "multi_output":
            self._raw = [np.array(dataframe[column].iloc[kept].tolist()) for column in y_cols]
        self.sample_weight = dataframe[weight_col].iloc[kept].to_numpy(np.float32) if weight_col is not None else None
        if labels is None:
            classes_of = np.zeros(len(kept), np.int32)
        else:
            classes_of = [labels[row] for row in kept]  # a list of lists when a file has several classes
            if not any(isinstance(label, list) for label in classes_of):
                classes_of = np.array(classes_of, np.int32)
        scan = scan._replace(classes=classes_of)
        super().__init__(directory, image_data_generator, target_size, color_mode,
                         class_mode=class_mode if class_mode not in ("raw", "multi_output") else "sparse",
                         batch_size=batch_size, shuffle=shuffle, seed=seed, data_format=data_format,
                         save_to_dir=save_to_dir, save_prefix=save_prefix, save_format=save_format,
                         interpolation=interpolation, keep_aspect_ratio=keep_aspect_ratio, dtype=dtype, _scan=scan,
                         **pydataset_kwargs)
        self.class_mode, self.subset, self.x_col, self.y_col, self.weight_col = class_mode, subset, x_col, y_col, weight_col
        self.dataframe = dataframe
        classes = f" belonging to {self.num_classes} classes" if class_mode in ("categorical", "binary", "sparse") else ""
        checked = "validated" if validate_filenames else "non-validated"
        print(f"Found {self.samples} {checked} image filenames{classes}.")  # as Keras 2 says

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

    @property
    def labels(self):
        """Keras 2's `labels`: the table's values for class_mode 'raw' (a list of columns for
        'multi_output'), else the class index (or indices) of every file (`classes`)."""
        if self.class_mode in ("raw", "multi_output"):
            return self._raw
        return self.classes

    def targets(self, samples=None):
        """What the batches yield as y for the files at `samples` (all by default): as
        `DirectoryIterator.targets`, multi-hot rows for several classes a file, the table's values
        for class_mode 'raw'."""
        picked = slice(None) if samples is None else samples
        if self.class_mode == "raw":
            return self._raw[picked]
        if self.class_mode == "multi_output":
            return [column[picked] for column in self._raw]
        if self.class_mode == "categorical" and isinstance(self.classes, list):
            rows = range(len(self.classes)) if samples is None else samples
            hot = np.zeros((len(rows), self.num_classes), np.float32)
            for i, row in enumerate(rows):
                hot[i, self.classes[row]] = 1.0
            return hot
        return super().targets(samples)

    def _with_labels(self, images, samples):
        out = super()._with_labels(images, samples)
        if self.sample_weight is None or self.class_mode is None:
            return out
        return (*out, self.sample_weight[samples])


class _AlreadyFailed(Exception):
    """A file recorded in `failed` earlier: left out without trying again."""


class NumpyArrayIterator(_BatchOutput, Iterator):
    """Batches from in-memory images `x` `(n, h, w, c)` (Keras 2's): `it[i]` is `(x, y)`,
    `(x, y, sample_weight)` with `sample_weight`, or `x` alone when `y` is None. `x` may be a
    pair `(images, extra)` (`extra` an array or a list of arrays, one row per image): the batch's
    x is then the list `[images, *extra rows]`, the extra ones passed on untouched. Images come
    back augmented and standardized by the generator, as `dtype` (the generator's by default),
    in its data format.

        it = NumpyArrayIterator(images, labels, ImageDataGenerator(horizontal_flip=True), batch_size=64)
    """

    def __init__(self, x, y=None, image_data_generator=None, batch_size=32, shuffle=False, sample_weight=None,
                 seed=None, data_format=None, save_to_dir=None, save_prefix="", save_format="png", subset=None,
                 ignore_class_split=False, dtype=None, **pydataset_kwargs):
        image_data_generator = image_data_generator or ImageDataGenerator()
        self._set_output(image_data_generator, data_format, dtype, save_to_dir, save_prefix, save_format)
        extra = []
        if isinstance(x, (tuple, list)):
            if len(x) != 2:
                raise UserInputError("`x` must be an array of images, or a pair (images, extra arrays). Received: a "
                                     f"{type(x).__name__} of {len(x)} items")
            x, extra = x[0], x[1]
            extra = [np.asarray(a) for a in extra] if isinstance(extra, list) else [np.asarray(extra)]
            for array in extra:
                if len(array) != len(x):
                    raise UserInputError(f"All of the arrays in `x` must have the same length: the images have "
                                         f"{len(x)} rows, an extra array {len(array)}.")
        x = np.asarray(x)
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(x):
                raise UserInputError(f"`x` (images tensor) and `y` (labels) must have the same length. Found: x.shape "
                                     f"= {x.shape}, y.shape = {y.shape}")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
            if len(sample_weight) != len(x):
                raise UserInputError(f"`x` (images tensor) and `sample_weight` must have the same length. Found: "
                                     f"x.shape = {x.shape}, sample_weight.shape = {sample_weight.shape}")
        if x.ndim != 4 or len(x) == 0:
            raise UserInputError("`x` must be a non-empty array of images (n, height, width, channels), rank 4. "
                                 f"Received: an array of shape {x.shape}")
        _warn_channels(x.shape, 3 if self.data_format == "channels_last" else 1, self.data_format,
                       "NumpyArrayIterator")
        total = len(x)
        part = subset_slice(total, image_data_generator.validation_split, subset)
        if subset is not None and y is not None and not ignore_class_split:
            held, kept = (subset_slice(total, image_data_generator.validation_split, name) for name in SUBSETS[::-1])
            if not np.array_equal(np.unique(y[held]), np.unique(y[kept])):
                raise UserInputError("Training and validation subsets have different number of classes after the "
                                     "split (the first int(validation_split * n) rows validate). If the arrays "
                                     "are sorted by label, shuffle them first; or pass ignore_class_split=True.")
        x, extra = x[part], [array[part] for array in extra]
        y = None if y is None else y[part]
        sample_weight = None if sample_weight is None else sample_weight[part]
        if not len(x):
            raise UserInputError(f"subset={subset!r} of {total} images is empty: raise validation_split "
                                 f"({image_data_generator.validation_split}).")
        super().__init__(len(x), batch_size, shuffle, seed, **pydataset_kwargs)
        self.x = x.astype(self.dtype, copy=False)
        self._x_last = np.moveaxis(self.x, 1, -1) if self.data_format == "channels_first" else self.x
        self.x_misc, self.y, self.sample_weight, self.subset = extra, y, sample_weight, subset
        self.image_data_generator = image_data_generator

    def _start_batch(self, epoch, index):
        samples = self._index_array(epoch, index)
        images = self._x_last[samples]  # a copy in self.dtype: integer indexing always copies
        gen, jobs = self.image_data_generator, []
        if gen.augments or gen.standardizes:
            jobs = [_pool().submit(self._process_into, images, part, epoch)
                    for part in _split(list(enumerate(samples)), _decode_threads())]
        return _Pending(jobs, lambda _: self._assemble(images, samples))

    def _process_into(self, images, slots, epoch):
        for slot, sample in slots:
            images[slot] = self.image_data_generator._process(images[slot], self._augment_rng(epoch, sample))

    def _assemble(self, images, samples):
        images = self._finished(images, samples)
        x = [images, *(array[samples] for array in self.x_misc)] if self.x_misc else images
        if self.y is None:
            return x
        return (x, self.y[samples]) if self.sample_weight is None else (x, self.y[samples], self.sample_weight[samples])


ArrayIterator = NumpyArrayIterator  # vggcourse's earlier name
