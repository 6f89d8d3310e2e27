"""Batches of images from class-per-folder directories or arrays: the course's ImageDataGenerator.

    gen = ImageDataGenerator(rotation_range=10, horizontal_flip=True)
    batches = gen.flow_from_directory("data/dogscats/train", target_size=(224, 224), batch_size=64)
    x, y = next(batches)          # x: float32 (64, 224, 224, 3), RGB 0-255; y: one-hot labels
    model.fit(batches, epochs=1)  # a keras.utils.PyDataset: no step counts needed

Decoding and resizing run on a shared pool of threads, two per core (PIL releases the GIL;
$VGGCOURSE_DECODE_THREADS overrides the count). A JPEG at least twice the target size in both
dimensions is decoded at a reduced scale (`Image.draft`: libjpeg's DCT scaling by 1/2, 1/4 or
1/8, never below the target) and then resized: several times faster, and within a few grey
levels of a full decode. When indices are read in order (`next()`,
`predict`, `for` loops, `fit(..., shuffle=False)`) the next batch is prepared in the background.
"""
import math
import os
import threading
import warnings
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO

import keras
import numpy as np
from PIL import Image

from vggcourse import augment

__all__ = ["ArrayIterator", "DirectoryIterator", "ImageDataGenerator", "find_unreadable_images",
           "load_image"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".pbm", ".gif", ".tif",
                    ".tiff", ".webp")
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "hamming": Image.Resampling.HAMMING,
    "box": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}
CLASS_MODES = ("categorical", "binary", "sparse", "input", None)
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


# ---------------------------------------------------------------- decoding one image

def load_image(path, target_size=None, interpolation="nearest"):
    """An image file as a uint8 RGB array `(h, w, 3)`, resized to `target_size=(h, w)` if given.

    Grayscale, palette, CMYK, RGBA and 16-bit images are converted to RGB. A truncated JPEG is
    decoded as far as it goes (the rest is grey) with a warning naming the file.

        pixels = load_image("data/dogscats/train/cats/cat.1.jpg", target_size=(224, 224))
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"`interpolation` must be one of {sorted(INTERPOLATIONS)}. "
                         f"Received: interpolation={interpolation!r}")
    size = None if target_size is None else _check_target_size(target_size)[::-1]
    return np.asarray(_open_rgb(os.fspath(path), size, INTERPOLATIONS[interpolation]))


def _open_rgb(path, size, resample):
    """PIL RGB image of `path` resized to `size=(w, h)` (None: keep), JPEG drafts when 2x larger."""
    try:
        image = _decode(Image.open(path), size)
    except OSError as error:
        with open(path, "rb") as stream:
            data = stream.read()
        if "truncated" not in str(error) or not data.startswith(b"\xff\xd8"):
            raise
        # What PIL does under LOAD_TRUNCATED_IMAGES, for this file only: end the JPEG stream early.
        image = _decode(Image.open(BytesIO(data + b"\xff\xd9")), size)
        warnings.warn(f"{path} is truncated; decoded as far as it goes (the rest is grey).",
                      stacklevel=2)
    image = _to_rgb(image)
    if size is not None and image.size != size:
        image = image.resize(size, resample)
    return image


def _decode(image, size):
    """Load `image` (reduced by JPEG draft when it is at least twice `size` in both dimensions)."""
    with image:
        if size is not None and image.format == "JPEG":
            if image.width >= 2 * size[0] and image.height >= 2 * size[1]:
                image.draft("RGB", size)
        image.load()
    return image


def _to_rgb(image):
    """`image` as mode RGB: 16-bit scaled to 8 bits, transparency dropped, CMYK converted."""
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        if image.mode != "F" and pixels.max() > 255:
            pixels = pixels / 257.0
        gray = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    return image.convert("RGB")


def _load_or_blank(path, size, resample):
    """uint8 array of `path`, or zeros with a warning when it cannot be decoded at all."""
    try:
        return np.asarray(_open_rgb(path, size, resample))
    except Exception as error:  # a bad file must not stop an epoch
        warnings.warn(f"{path} could not be decoded ({error}); using a black image instead.",
                      stacklevel=2)
        return np.zeros((size[1], size[0], 3), np.uint8)


# ---------------------------------------------------------------- thread pools

_POOLS = {}
_POOLS_LOCK = threading.Lock()


def _pool(kind):
    """The process's shared thread pool: 'decode' (one thread per core) or 'ahead' (read-ahead)."""
    key = (os.getpid(), kind)  # pools do not survive fork: a worker process makes its own
    with _POOLS_LOCK:
        if key not in _POOLS:
            threads = _decode_threads() if kind == "decode" else 2
            _POOLS[key] = ThreadPoolExecutor(threads, thread_name_prefix=f"vggcourse-{kind}")
        return _POOLS[key]


def _decode_threads():
    """Threads that decode images: $VGGCOURSE_DECODE_THREADS, else 2 per usable core."""
    if os.environ.get("VGGCOURSE_DECODE_THREADS"):
        return max(1, int(os.environ["VGGCOURSE_DECODE_THREADS"]))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return 2 * max(1, cores)


# ---------------------------------------------------------------- scanning directories

_Scan = namedtuple("_Scan", "filenames classes class_names skipped")


def _layout_hint(directory):
    name = os.path.basename(os.path.normpath(directory)) or "train"
    return (f"Expected one sub-folder per class with the images inside: {name}/cats/*.jpg, "
            f"{name}/dogs/*.jpg, ...")


def _check_directory(directory):
    directory = os.path.abspath(os.fspath(directory))
    if not os.path.exists(directory):
        raise FileNotFoundError(f"Image directory not found: {directory}. "
                                f"{_layout_hint(directory)}")
    if not os.path.isdir(directory):
        raise ValueError(f"`directory` must be a folder, but {directory} is a file. "
                         f"{_layout_hint(directory)}")
    return directory


def _class_folders(directory):
    """Sorted names of the non-hidden sub-folders of `directory`."""
    return sorted(entry.name for entry in os.scandir(directory)
                  if entry.is_dir() and not entry.name.startswith("."))


def _image_files(directory, folder, recursive=True):
    """Sorted paths (relative to `directory`) of image files in `folder`, hidden ones left out."""
    found = []
    for root, dirs, files in os.walk(os.path.join(directory, folder)):
        dirs[:] = [name for name in dirs if not name.startswith(".")] if recursive else []
        found += [os.path.relpath(os.path.join(root, name), directory) for name in files
                  if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found)


def _readable(path):
    """True when PIL can read the file's header."""
    try:
        with Image.open(path) as image:
            return image.width > 0 and image.height > 0
    except Exception:
        return False


def _decode_problem(path):
    """None when the whole file decodes, else why not ('truncated', 'not an image: ...')."""
    try:
        with Image.open(path) as image:
            image.load()
    except OSError as error:
        return "truncated" if "truncated" in str(error) else f"not a readable image ({error})"
    except Exception as error:  # PIL raises several types for corrupt data
        return f"not a readable image ({type(error).__name__}: {error})"
    return None


def find_unreadable_images(directory):
    """`[(path, reason)]` for every image file under `directory` that does not fully decode.

    Looks at every file with an image extension (hidden files and folders left out), decoding
    each completely, in parallel. `vggcourse verify PATH` prints this list.

        for path, reason in find_unreadable_images("data/dogscats"): print(path, reason)
    """
    directory = _check_directory(directory)
    paths = [os.path.join(directory, name) for name in _image_files(directory, "")]
    problems = _pool("decode").map(_decode_problem, paths)
    return [(path, reason) for path, reason in zip(paths, problems) if reason is not None]


def _choose_classes(directory, classes, class_mode):
    """Class names in label order: `classes` as given (each must be a folder) or sorted folders."""
    found = _class_folders(directory)
    if classes is None:
        return found
    if isinstance(classes, str) or len(set(classes)) != len(classes):
        raise ValueError("`classes` must be a list of distinct folder names. "
                         f"Received: classes={classes!r}")
    missing = [name for name in classes if name not in found]
    if missing:
        raise ValueError(f"`classes` names folders that are not in {directory}: {missing}. "
                         f"Folders found: {found}. {_layout_hint(directory)}")
    return list(classes)


def _list_files(directory, class_names, class_mode):
    """(relative paths, labels, class names); a flat folder of images when unlabelled."""
    if class_mode is not None and not class_names:
        raise ValueError(f"No class folders in {directory}, and class_mode={class_mode!r} needs "
                         f"labels. {_layout_hint(directory)} For unlabelled images in one folder, "
                         "use class_mode=None.")
    pairs = [(path, label) for label, name in enumerate(class_names)
             for path in _image_files(directory, name)]
    if not pairs and class_mode is None:  # a flat folder of images, e.g. test/unknown
        class_names = []
        pairs = [(path, 0) for path in _image_files(directory, "", recursive=False)]
    if not pairs:
        raise ValueError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found in {directory}. "
                         f"{_layout_hint(directory)}")
    return [path for path, _ in pairs], [label for _, label in pairs], class_names


def _scan_directory(directory, classes, class_mode):
    """Files, labels, class names of `directory`; unreadable files are `skipped`, one warning."""
    class_names = _choose_classes(directory, classes, class_mode)
    if class_mode == "binary" and len(class_names) != 2:
        raise ValueError(f"class_mode='binary' needs exactly 2 classes, but {directory} has "
                         f"{len(class_names)}: {class_names}. Use 'categorical' or 'sparse'.")
    files, labels, class_names = _list_files(directory, class_names, class_mode)
    paths = [os.path.join(directory, name) for name in files]
    readable = list(_pool("decode").map(_readable, paths))
    skipped = [name for name, ok in zip(files, readable) if not ok]
    if skipped:
        more = f" and {len(skipped) - 50} more" if len(skipped) > 50 else ""
        listed = ", ".join(skipped[:50]) + more
        warnings.warn(f"Skipped {len(skipped)} file(s) in {directory} that are not readable "
                      f"images: {listed}. They are listed in `.skipped`.", stacklevel=4)
    if len(skipped) == len(files):
        raise ValueError(f"None of the {len(files)} image files in {directory} can be read.")
    kept = [(name, label) for name, label, ok in zip(files, labels, readable) if ok]
    return _Scan([name for name, _ in kept], np.array([label for _, label in kept], np.int32),
                 class_names, skipped)


# ---------------------------------------------------------------- argument checks

def _check_target_size(target_size):
    if (not isinstance(target_size, (tuple, list)) or len(target_size) != 2
            or not all(isinstance(v, (int, np.integer)) and v > 0 for v in target_size)):
        raise ValueError("`target_size` must be (height, width), two positive integers. "
                         f"Received: target_size={target_size!r}")
    return int(target_size[0]), int(target_size[1])


def _check_batching(batch_size, seed):
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError("`batch_size` must be a positive integer. "
                         f"Received: batch_size={batch_size!r}")
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"`seed` must be None or a non-negative integer. Received: seed={seed!r}")


def _check_range(name, value):
    if not isinstance(value, (int, float, np.number)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"`{name}` must be a number >= 0. Received: {name}={value!r}")


def _check_zoom(zoom_range):
    try:
        low, high = augment.zoom_bounds(zoom_range)
    except (TypeError, ValueError):
        low = high = None
    if low is None or not 0 < low <= high:
        raise ValueError("`zoom_range` must be a float in [0, 1) or a pair (low, high) with "
                         f"0 < low <= high. Received: zoom_range={zoom_range!r}")


# ---------------------------------------------------------------- the generator

class ImageDataGenerator:
    """Random augmentation settings, and batches from a directory or from arrays.

    A default-constructed generator does no augmentation. Conventions (Keras 1, as the course):
    rotation in degrees, shifts as a fraction of width/height, shear in radians, zoom `1 +- z`,
    channel shift in pixel units; `rescale` multiplies pixels after augmentation.

        gen = ImageDataGenerator(rotation_range=15, width_shift_range=0.1, horizontal_flip=True)
        batches = gen.flow_from_directory("data/dogscats/train", target_size=(224, 224))
    """

    def __init__(self, rotation_range=0.0, width_shift_range=0.0, height_shift_range=0.0,
                 shear_range=0.0, zoom_range=0.0, channel_shift_range=0.0,
                 horizontal_flip=False, vertical_flip=False, rescale=None,
                 fill_mode="nearest", cval=0.0):
        ranges = dict(rotation_range=rotation_range, width_shift_range=width_shift_range,
                      height_shift_range=height_shift_range, shear_range=shear_range,
                      channel_shift_range=channel_shift_range)
        for name, value in ranges.items():
            _check_range(name, value)
        _check_zoom(zoom_range)
        if fill_mode not in augment.FILL_MODES:
            raise ValueError(f"`fill_mode` must be one of {sorted(augment.FILL_MODES)}. "
                             f"Received: fill_mode={fill_mode!r}")
        if rescale is not None and not isinstance(rescale, (int, float, np.number)):
            raise ValueError(f"`rescale` must be None or a number. Received: rescale={rescale!r}")
        if not isinstance(cval, (int, float, np.number)):
            raise ValueError(f"`cval` must be a number. Received: cval={cval!r}")
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

    def random_transform(self, image, rng=None):
        """One random augmentation of a float image `(h, w, c)`; `rng` a numpy Generator or seed."""
        if not self.augments:
            return np.asarray(image, np.float32)
        return augment.random_transform(
            image, np.random.default_rng(rng), self.rotation_range, self.width_shift_range,
            self.height_shift_range, self.shear_range, self.zoom_range, self.channel_shift_range,
            self.horizontal_flip, self.vertical_flip, self.fill_mode, self.cval)

    def standardize(self, images):
        """`images` times `rescale` (unchanged when rescale is None)."""
        return images if self.rescale is None else images * np.float32(self.rescale)

    def flow_from_directory(self, directory, target_size=(256, 256), class_mode="categorical",
                            batch_size=32, shuffle=True, seed=None, classes=None,
                            interpolation="nearest", **pydataset_kwargs):
        """A `DirectoryIterator` over `directory/<class>/*.jpg`.

        `interpolation` is the resize filter: 'nearest' (the default of Keras' ImageDataGenerator,
        and what the course's Keras 1 did), or 'bilinear', 'bicubic', 'lanczos', ... (Pillow's
        antialiased filters: smoother when shrinking a lot, about twice the CPU per image).

            batches = ImageDataGenerator().flow_from_directory("train", target_size=(224, 224))
        """
        return DirectoryIterator(directory, self, target_size, class_mode, batch_size, shuffle,
                                 seed, classes, interpolation, **pydataset_kwargs)

    def flow(self, x, y=None, batch_size=32, shuffle=True, seed=None, **pydataset_kwargs):
        """An `ArrayIterator` over images `x` `(n, h, w, c)` and optional labels `y`.

            batches = ImageDataGenerator(horizontal_flip=True).flow(images, labels, batch_size=64)
        """
        return ArrayIterator(x, y, self, batch_size, shuffle, seed, **pydataset_kwargs)


# ---------------------------------------------------------------- iterators

class _BatchIterator(keras.utils.PyDataset):
    """Shared batching: a per-epoch permutation from (seed, epoch), `next()`, read-ahead.

    Batch `i` of epoch `e` is a pure function of (seed, e, i), so Keras worker threads or
    processes fetching batches in any order see one consistent shuffle; `on_epoch_end` moves to
    the next permutation. `next()` keeps its own position and wraps (and reshuffles) at the end.
    """

    def __init__(self, n, batch_size, shuffle, seed, **pydataset_kwargs):
        super().__init__(**pydataset_kwargs)
        _check_batching(batch_size, seed)
        self.n = self.samples = self.nb_sample = n
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), seed
        self._seed = int(np.random.SeedSequence().entropy) if seed is None else int(seed)
        self._epoch = 0
        self._next_position = (0, 0)  # (epoch, batch) that next() returns
        self._last_key = None
        self._orders, self._ahead = {}, {}
        self._lock = threading.Lock()

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        return self._batch(self._epoch, int(index) % len(self))

    def __iter__(self):
        return self

    def __next__(self):
        with self._lock:
            epoch, index = self._next_position
            self._next_position = (epoch, index + 1) if index + 1 < len(self) else (epoch + 1, 0)
        return self._batch(epoch, index)

    def on_epoch_end(self):
        with self._lock:
            self._epoch += 1

    def _index_array(self, epoch, index):
        """File indices of batch `index` in `epoch`: a seeded permutation, or in order."""
        if not self.shuffle:
            order = np.arange(self.n)
        else:
            with self._lock:
                order = self._orders.get(epoch)
                if order is None:
                    order = np.random.default_rng([self._seed, 0, epoch]).permutation(self.n)
                    self._orders = {**dict(list(self._orders.items())[-3:]), epoch: order}
        return order[index * self.batch_size:(index + 1) * self.batch_size]

    def _augment_rng(self, epoch, sample):
        """The random generator for one image in one epoch (reproducible with `seed`)."""
        return np.random.default_rng([self._seed, 1, epoch, int(sample)])

    def _batch(self, epoch, index):
        """Batch (epoch, index), prepared ahead if it was; reading in order starts the next one."""
        key = (epoch, index)
        with self._lock:
            future = self._ahead.pop(key, None)
            in_order = index == 0 or self._last_key == (epoch, index - 1)
            self._last_key = key
            if future is None:  # out of order: what was read ahead will not be asked for
                for stale in self._ahead.values():
                    stale.cancel()
                self._ahead = {}
            ahead = (epoch, index + 1)
            if (in_order and index + 1 < len(self) and ahead not in self._ahead
                    and self._reads_ahead()):
                self._ahead[ahead] = _pool("ahead").submit(self._make_batch, *ahead)
        return future.result() if future is not None else self._make_batch(epoch, index)

    def _reads_ahead(self):
        """Keras workers fetch ahead themselves; otherwise we do."""
        return self.workers <= 1 and not self.use_multiprocessing

    def _make_batch(self, epoch, index):
        raise NotImplementedError

    def __getstate__(self):  # for worker processes: leave locks and futures behind
        state = self.__dict__.copy()
        state.update(_lock=None, _ahead={}, _orders={})
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


class DirectoryIterator(_BatchIterator):
    """Batches from a class-per-folder directory, as a `keras.utils.PyDataset`.

    `it[i]` is `(x, y)` (or `x` when `class_mode=None`); `next(it)` never ends and reshuffles each
    epoch; `len(it)` batches cover every image once (the last one may be smaller).

        it = DirectoryIterator("data/dogscats/valid", target_size=(224, 224), shuffle=False)
        it.filenames[:2], it.class_indices  # ['cats/cat.1001.jpg', ...], {'cats': 0, 'dogs': 1}
    """

    def __init__(self, directory, image_data_generator=None, target_size=(256, 256),
                 class_mode="categorical", batch_size=32, shuffle=True, seed=None, classes=None,
                 interpolation="nearest", _scan=None, **pydataset_kwargs):
        self.target_size = _check_target_size(target_size)
        if class_mode not in CLASS_MODES:
            raise ValueError(f"`class_mode` must be one of {CLASS_MODES}. "
                             f"Received: class_mode={class_mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"`interpolation` must be one of {sorted(INTERPOLATIONS)}. "
                             f"Received: interpolation={interpolation!r}")
        _check_batching(batch_size, seed)
        self.directory = _check_directory(directory)
        scan = _scan or _scan_directory(self.directory, classes, class_mode)
        super().__init__(len(scan.filenames), batch_size, shuffle, seed, **pydataset_kwargs)
        self._scan = scan
        self.image_data_generator = image_data_generator or ImageDataGenerator()
        self.class_mode, self.interpolation = class_mode, interpolation
        self.filenames, self.skipped = list(scan.filenames), list(scan.skipped)
        self.filepaths = [os.path.join(self.directory, name) for name in self.filenames]
        self.classes, self.class_names = scan.classes, list(scan.class_names)
        self.class_indices = {name: i for i, name in enumerate(self.class_names)}
        self.num_classes = self.nb_class = len(self.class_names)

    def for_inference(self, batch_size=None):
        """The same files in `filenames` order: no shuffle, no labels, no random augmentation.

            predictions = model.predict(batches.for_inference())  # row i is batches.filenames[i]
        """
        return DirectoryIterator(
            self.directory, ImageDataGenerator(rescale=self.image_data_generator.rescale),
            self.target_size, None, batch_size or self.batch_size, False, self.seed,
            interpolation=self.interpolation, _scan=self._scan, workers=self.workers,
            use_multiprocessing=self.use_multiprocessing, max_queue_size=self.max_queue_size)

    def _make_batch(self, epoch, index):
        samples = self._index_array(epoch, index)
        images = np.empty((len(samples), *self.target_size, 3), np.float32)
        slots, threads = list(enumerate(samples)), _decode_threads()
        jobs = [_pool("decode").submit(self._load_into, images, slots[start::threads], epoch)
                for start in range(min(threads, len(slots)))]
        for job in jobs:
            job.result()
        return self._with_labels(images, samples)

    def _load_into(self, images, slots, epoch):
        """Decode, resize, augment, rescale `(slot, file index)` pairs into `images` (a thread)."""
        size, resample = self.target_size[::-1], INTERPOLATIONS[self.interpolation]
        gen = self.image_data_generator
        for slot, sample in slots:
            images[slot] = _load_or_blank(self.filepaths[sample], size, resample)
            if gen.augments:
                images[slot] = gen.random_transform(images[slot], self._augment_rng(epoch, sample))
            if gen.rescale is not None:
                images[slot] *= np.float32(gen.rescale)

    def _with_labels(self, images, samples):
        if self.class_mode is None:
            return images
        if self.class_mode == "input":
            return images, images.copy()
        labels = self.classes[samples]
        if self.class_mode == "sparse":
            return images, labels.astype(np.int32)
        if self.class_mode == "binary":
            return images, labels.astype(np.float32)
        return images, np.eye(self.num_classes, dtype=np.float32)[labels]


class ArrayIterator(_BatchIterator):
    """Batches from in-memory images `x` `(n, h, w, c)` and optional labels `y`.

    `it[i]` is `(x, y)`, or `x` alone when `y` is None; images come back float32, augmented and
    rescaled by the generator.

        it = ArrayIterator(images, labels, ImageDataGenerator(horizontal_flip=True), batch_size=64)
    """

    def __init__(self, x, y=None, image_data_generator=None, batch_size=32, shuffle=True,
                 seed=None, **pydataset_kwargs):
        x = np.asarray(x)
        if x.ndim != 4 or len(x) == 0:
            raise ValueError("`x` must be a non-empty array of images "
                             "(n, height, width, channels). "
                             f"Received: an array of shape {x.shape}")
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(x):
                raise ValueError(f"`x` and `y` must have the same length, but x has {len(x)} "
                                 f"images and y has {len(y)} labels.")
        super().__init__(len(x), batch_size, shuffle, seed, **pydataset_kwargs)
        self.x, self.y = x, y
        self.image_data_generator = image_data_generator or ImageDataGenerator()

    def _make_batch(self, epoch, index):
        samples = self._index_array(epoch, index)
        images = self.x[samples].astype(np.float32)
        gen = self.image_data_generator
        if gen.augments:
            jobs = [_pool("decode").submit(gen.random_transform, image, self._augment_rng(epoch, s))
                    for image, s in zip(images, samples)]
            images = np.stack([job.result() for job in jobs])
        images = gen.standardize(images)
        return images if self.y is None else (images, self.y[samples])
