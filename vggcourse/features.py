"""The frozen-body feature cache: what makes `Vgg16.fit` epochs after the first cheap.

After `vgg.finetune(batches)` every layer below the new softmax is frozen, so each epoch of a plain
`model.fit` recomputes the same convolutions on the same images. Here `fit` runs the frozen body
once per image, keeps its outputs (*features*), and trains the layers above them on the features:

    vgg.finetune(batches)
    vgg.fit(batches, val_batches, nb_epoch=3)      # epoch 1 computes features, 2 and 3 reuse them
    vgg.fit(batches, val_batches, cache=False)     # the plain path: the whole model every epoch

Where the model is cut (DESIGN.md, "Contract: feature cache"): at the first layer that is trainable
or random (Dropout, noise, a trainable BatchNormalization). For a fine-tuned VGG16 that is
`fc1_dropout`: the cache holds `fc1`'s output, and `fc1_dropout`, `fc2`, `fc2_dropout` and the new
`predictions` run on it every step. The frozen dropout layers therefore still drop during training,
exactly as in the uncached path, and the trained weights are those of `vgg.model` itself: the
small models here share its layer objects, nothing is copied.

When it applies: the model is a `keras.Sequential` with a frozen part at the bottom and a trained
part on top, the batches come from a folder (`DirectoryIterator`: `filepaths`, `for_inference()`),
and they do not augment (`batches.image_data_generator.augments`; random images can't be cached,
so `fit` then prints one line and runs the full model). `predict` uses the same cache for
`shuffle=False` batches, so `vgg.test(...)` after `fit` reuses validation or test features.

Where the features live: in memory for the session, and in `$VGGCOURSE_CACHE` (default
`~/.cache/vggcourse/features`) as one `.npy` file per set of files. The file's name is a hash of
every input that changes the features: each file's path, size and modification time, the image
size, interpolation and rescale, the backend, and each frozen layer's class, config and weights.
Any change gives a new name, so an outdated file is simply never read again; past 10 GB
(`DISK_LIMIT`) the least recently used files are deleted, and `clear_cache()` deletes them all. Files are written to a temporary name in the same
folder and renamed, so a run that dies mid-write leaves no file that can be read as a cache.

Stored as float32, so that the cached fit matches the plain one to float rounding: with float16
features, 3 epochs of a VGG16 head (random weights, 64x64, same seed, no shuffle) ended with
weights up to 1.3% apart (metrics equal to 4 digits), for half the disk (16 KB per image in float32;
bench/RESULTS.md, "Fine-tune and inference").

Speed options measured on a 2-core CPU (bench/finetune.py): the body runs with Keras' default
`jit_compile='auto'` (no XLA on CPUs: XLA was as fast at 224x224 and 6x slower at 32x32), 16 images
per forward pass on CPUs, 64 or the batch size on GPUs. `enable_mixed_precision()` opts in to
float16 compute on GPUs only.
"""
import collections
import hashlib
import json
import math
import os
import time
import weakref
from pathlib import Path

import keras
import numpy as np

from vggcourse._atomic import write_atomically

__all__ = [
    "cache_boundary",
    "cache_dir",
    "clear_cache",
    "compute_features",
    "enable_mixed_precision",
    "fit",
    "predict",
]

STORE_DTYPE = np.float32
DISK_LIMIT = 10 << 30  # bytes of cache files kept on disk; the least recently used go first
_FORMAT = "vggcourse-features-1"  # part of every key: bump it when the stored format changes
_MEMORY_LIMIT = 2 << 30  # bytes of features kept in memory between calls
_memory = collections.OrderedDict()  # key -> features array, least recently used first
_splits = weakref.WeakKeyDictionary()  # model -> (layer ids, boundary, body, head); see _split


def cache_dir():
    """The folder of cached features: `$VGGCOURSE_CACHE`, or `~/.cache/vggcourse/features`."""
    folder = os.environ.get("VGGCOURSE_CACHE")
    return Path(folder).expanduser() if folder else Path.home() / ".cache" / "vggcourse" / "features"


def clear_cache():
    """Forget every cached feature array, in memory and on disk."""
    _memory.clear()
    for path in cache_dir().glob("*.npy"):
        path.unlink(missing_ok=True)


def enable_mixed_precision():
    """Compute in float16 (weights kept in float32) if a GPU is present; return whether it did.

    Call it before building the model (`Vgg16()`): it sets Keras' global dtype policy to
    `mixed_float16`, which speeds up GPUs with tensor cores and slows CPUs down, so on a machine
    without a GPU it changes nothing. The feature cache keys include the layers' dtype policy.
    """
    try:
        gpus = keras.distribution.list_devices("gpu")
    except (RuntimeError, ValueError):
        gpus = []
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
    return bool(gpus)


def _is_random(layer):
    """Dropout, noise and random augmentation layers: they act differently in training."""
    return hasattr(layer, "seed_generator") or isinstance(
        layer, (keras.layers.Dropout, keras.layers.GaussianNoise, keras.layers.GaussianDropout)
    )


def _frozen_deterministic(layer):
    """True when the layer has nothing to train and gives the same output in training."""
    if isinstance(layer, keras.Model):
        return all(_frozen_deterministic(inner) for inner in layer.layers)
    if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable:
        return False  # uses batch statistics in training, even with center=scale=False
    return not layer.trainable_weights and not _is_random(layer)


def cache_boundary(model):
    """Index in `model.layers` of the first layer that is trainable or random.

    0 means nothing can be cached (the model is not a `keras.Sequential`, or its first layer
    trains); `len(model.layers)` means nothing is trained.
    """
    if not isinstance(model, keras.Sequential):
        return 0
    for index, layer in enumerate(model.layers):
        if not _frozen_deterministic(layer):
            return index
    return len(model.layers)


def _split(model, boundary):
    """(body, head): two Sequential models over the very layer objects of `model`."""
    layer_ids = tuple(id(layer) for layer in model.layers)
    known = _splits.get(model)
    if known and known[0] == layer_ids and known[1] == boundary:
        return known[2], known[3]
    layers = model.layers
    body = keras.Sequential([keras.Input(shape=model.input_shape[1:]), *layers[:boundary]])
    body.compile(jit_compile=_jit_for_body())
    head = keras.Sequential([keras.Input(shape=body.output_shape[1:]), *layers[boundary:]])
    _splits[model] = (layer_ids, boundary, body, head)
    return body, head


def _jit_for_body():
    """Keras' own choice ('auto': XLA on GPUs, not on CPUs, where it measured slower)."""
    return "auto"


def _augments(batches):
    generator = getattr(batches, "image_data_generator", None)
    return bool(getattr(generator, "augments", False))


def _from_folder(batches):
    return all(hasattr(batches, name) for name in ("filepaths", "for_inference", "class_mode"))


def _files_key(batches, hasher):
    generator = getattr(batches, "image_data_generator", None)
    about = {
        "size": list(batches.target_size),
        "interpolation": getattr(batches, "interpolation", None),
        "rescale": getattr(generator, "rescale", None),
        "backend": keras.backend.backend(),
    }
    hasher.update(json.dumps(about, sort_keys=True).encode())
    for path in batches.filepaths:
        stat = os.stat(path)
        hasher.update(f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())


def _layers_digest(layers):
    """Hash of each layer's class, config (name and trainable aside) and weights."""
    hasher = hashlib.sha256()
    for layer in layers:
        config = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable")}
        hasher.update(type(layer).__name__.encode())
        hasher.update(json.dumps(config, sort_keys=True, default=str).encode())
        for weight in layer.weights:
            array = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
            hasher.update(f"{array.dtype}{array.shape}".encode())
            hasher.update(memoryview(array).cast("B"))
    return hasher.hexdigest()


def _key(body, batches, layers_digest=None):
    """The cache file's name: a hash of the files, how they are read, and the frozen layers."""
    hasher = hashlib.sha256(_FORMAT.encode())
    _files_key(batches, hasher)
    hasher.update((layers_digest or _layers_digest(body.layers)).encode())
    return hasher.hexdigest()[:40]


def _remember(key, features):
    _memory[key] = features
    _memory.move_to_end(key)
    while sum(a.nbytes for a in _memory.values()) > _MEMORY_LIMIT and len(_memory) > 1:
        _memory.popitem(last=False)


def _load(key, count):
    path = cache_dir() / f"{key}.npy"
    try:
        features = np.load(path)
        os.utime(path)  # recently used: pruned last
    except (OSError, ValueError):  # missing, unreadable or not a complete .npy file
        return None
    return features if features.shape[:1] == (count,) else None


def _save(key, features):
    """Write to a temporary file beside the cache file, then rename: never a half-written cache."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(folder)
        write_atomically(folder / f"{key}.npy", lambda tmp: _save_npy(tmp, features))
        _prune(folder)
    except OSError as error:
        print(f"vggcourse: features kept in memory only, could not write {folder}: {error}")


def _save_npy(path, array):
    with open(path, "wb") as file:  # np.save(path) would append ".npy" to the temporary name
        np.save(file, array)


def _prune(folder, limit=DISK_LIMIT):
    """Delete the least recently used cache files while the folder holds more than `limit` bytes."""
    files = sorted(folder.glob("*.npy"), key=lambda path: path.stat().st_mtime)
    total = sum(path.stat().st_size for path in files)
    for path in files[:-1]:  # never the newest: the one just written
        if total <= limit:
            break
        total -= path.stat().st_size
        path.unlink(missing_ok=True)


def _remove_stale_temporaries(folder, age=3600):
    for path in folder.glob("*.tmp"):
        try:
            if time.time() - path.stat().st_mtime > age:
                path.unlink()
        except OSError:
            pass


def _inference_batch_size(batches):
    """Images per forward pass of the body: measured best on this backend and device."""
    try:
        on_gpu = bool(keras.distribution.list_devices("gpu"))
    except (RuntimeError, ValueError):
        on_gpu = False
    return max(batches.batch_size, 64) if on_gpu else 16


def compute_features(body, batches, verbose=1):
    """The body's output for every file of `batches`, in `batches.filenames` order.

    Reading batches in order lets the iterator decode the next one while the body runs.
    """
    chunk = _inference_batch_size(batches)
    images = batches.for_inference(batch_size=chunk)
    progress = keras.utils.Progbar(len(images)) if verbose else None
    out, start = None, 0
    for step in range(len(images)):
        x = images[step]
        # A short last chunk runs eagerly: tracing the compiled step again for its shape costs
        # more than it saves, and each new shape counts towards TensorFlow's retracing warning.
        y = body.predict_on_batch(x) if len(x) == chunk else body(x, training=False)
        y = keras.ops.convert_to_numpy(y)
        if out is None:
            out = np.empty((len(images.filepaths), *y.shape[1:]), STORE_DTYPE)
        out[start:start + len(y)] = y
        start += len(y)
        if progress:
            progress.update(step + 1)
    return out


def _features(body, batches, cache, verbose, layers_digest=None):
    """Cached features of `batches` (memory, then disk), computing them on a miss."""
    key = _key(body, batches, layers_digest)
    features = _memory.get(key)
    if features is None and cache != "memory":
        features = _load(key, len(batches.filepaths))
    if features is None:
        if verbose:
            print(f"vggcourse: running the frozen layers once over {len(batches.filepaths)} images "
                  f"in {batches.directory}; the result is cached for later epochs and predictions")
        features = compute_features(body, batches, verbose=verbose)
        if cache != "memory":
            _save(key, features)
    _remember(key, features)
    return features


def _labels(batches):
    """What the batches would yield as y, for every file in `filenames` order."""
    classes = np.asarray(batches.classes)
    if batches.class_mode == "categorical":
        return keras.utils.to_categorical(classes, batches.num_classes).astype("float32")
    if batches.class_mode == "binary":
        return classes.astype("float32")
    if batches.class_mode == "sparse":
        return classes.astype("int32")
    return None


class _FeatureBatches(keras.utils.PyDataset):
    """Batches of cached features (and labels), in a fresh order each epoch when shuffling."""

    def __init__(self, x, y, batch_size, shuffle=False, seed=None):
        super().__init__()
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(x))
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.x[rows].astype("float32", copy=False)
        return x if self.y is None else (x, self.y[rows])

    def on_epoch_end(self):
        if self.shuffle:
            self._rng.shuffle(self._order)


def _compile_like(head, model):
    """Compile `head` with `model`'s optimizer object (its state carries on), loss and metrics."""
    config = model.get_compile_config() or {}

    def user(spec):
        if isinstance(spec, dict) and "class_name" in spec:
            return keras.metrics.deserialize(spec)
        if isinstance(spec, (list, tuple)):
            return [user(item) for item in spec]
        return spec

    head.compile(
        optimizer=model.optimizer,
        loss=model.loss,
        metrics=user(config.get("metrics")),
        weighted_metrics=user(config.get("weighted_metrics")),
        loss_weights=config.get("loss_weights"),
        run_eagerly=config.get("run_eagerly", False),
    )


def _trained_split(model):
    """(boundary, body, head) when `model` has a frozen bottom and a trained top, else None."""
    boundary = cache_boundary(model)
    if not 0 < boundary < len(model.layers) or not model.built:
        return None
    if not any(layer.weights for layer in model.layers[:boundary]):
        return None  # nothing below the boundary is worth caching (e.g. only preprocessing)
    return (boundary, *_split(model, boundary))


# What fit() passes on to Keras. `shuffle` (default True) makes Keras visit the batches of an
# epoch in a random order, in both paths; rows are also reshuffled each epoch when batches.shuffle.
_FIT_ARGUMENTS = ("verbose", "callbacks", "initial_epoch", "shuffle")


def fit(model, batches, val_batches=None, epochs=1, cache=True, **fit_kwargs):
    """`model.fit(batches, validation_data=val_batches, epochs=epochs)` on cached features.

    Returns the Keras `History` (loss, metrics, val_loss, val_metrics per epoch), or None when the
    cache does not apply (see the module docstring) and the caller should run the plain fit.
    `fit_kwargs` may be `verbose`, `callbacks` (they see the head model), `initial_epoch` and
    `shuffle`; any other `keras.Model.fit` argument returns None. `cache='memory'` skips the disk.
    """
    split = _trained_split(model) if cache else None
    if split is None or getattr(model, "optimizer", None) is None:
        return None
    if set(fit_kwargs) - set(_FIT_ARGUMENTS):
        return None
    if not _from_folder(batches) or _labels(batches) is None:
        return None
    if val_batches is not None and (not _from_folder(val_batches) or _labels(val_batches) is None):
        return None
    verbose = fit_kwargs.get("verbose", "auto")
    if _augments(batches) or (val_batches is not None and _augments(val_batches)):
        if verbose:
            print("vggcourse: the batches augment images, so every epoch runs the whole model "
                  "(no feature cache)")
        return None
    _, body, head = split
    shows = 1 if verbose == "auto" else verbose
    digest = _layers_digest(body.layers)  # once: hashing VGG16's frozen weights takes ~0.5 s
    train = _FeatureBatches(_features(body, batches, cache, shows, digest), _labels(batches),
                            batches.batch_size, batches.shuffle, getattr(batches, "seed", None))
    validation = None
    if val_batches is not None:
        validation = _FeatureBatches(_features(body, val_batches, cache, shows, digest),
                                     _labels(val_batches), val_batches.batch_size)
    _compile_like(head, model)
    return head.fit(train, validation_data=validation, epochs=epochs, **fit_kwargs)


def predict(model, batches, verbose="auto", cache=True):
    """`model.predict(batches)` for unshuffled folder batches, from cached features.

    Returns the predictions in `batches.filenames` order, or None when the cache does not apply.
    """
    split = _trained_split(model) if cache else None
    if split is None or not _from_folder(batches) or batches.shuffle or _augments(batches):
        return None
    _, body, head = split
    features = _features(body, batches, cache, 1 if verbose == "auto" else verbose)
    return head.predict(_FeatureBatches(features, None, max(batches.batch_size, 64)), verbose=0)
