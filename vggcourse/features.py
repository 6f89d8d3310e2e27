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

When it applies: the model is a `keras.Sequential` (on `vgg.model`, `CachedSequential.fit`,
`evaluate` and `predict` call this module) with a frozen part at the bottom and a trained part on
top, the batches come from a folder (`DirectoryIterator`: `filepaths`, `for_inference()`), and
they do not augment (random images can't be cached, so `fit` then prints one line and runs the
full model; so does a `fit` keyword the cache cannot honour). Callbacks see the whole model:
`ModelCheckpoint` saves all of it, `EarlyStopping` stops the head's loop. `predict_in_order` is
the one function that predicts a folder in file order; `vgg.test(...)` after `fit` reuses the
validation or test features.

Where the features live: in memory for the session, and in `$VGGCOURSE_CACHE` (default
`~/.cache/vggcourse/features`) as one `.npz` file per set of files, whose CRC-32 is checked on
every read. The file's name is a hash of every input that changes the features: each file's
path, size and modification time, the image size, interpolation and rescale, the backend, and
each frozen layer's class, config and weights. Any change gives a new name, so an outdated file
is never read again; past 10 GB (`DISK_LIMIT`) the least recently used files are deleted, and
`clear_cache()` deletes them all. Files are written to a temporary name and renamed; a file that
is damaged anyway is named in one printed line, computed again and replaced. A file that fails
to decode after the scan gets a row of NaN: left out of training, NaN in predictions.

Stored as float32, so that the cached fit matches the plain one to float rounding (float16 halves
the disk and moves the trained weights measurably: bench/RESULTS.md). The body runs with Keras'
default `jit_compile='auto'`, and as many images per forward pass as
`vggcourse.devices.inference_batch_size` chooses for the device.
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

from vggcourse import devices
from vggcourse.arrays import host_array
from vggcourse._atomic import write_atomically
from vggcourse.errors import UserInputError, UserTypeError

__all__ = [
    "cache_boundary",
    "cache_dir",
    "clear_cache",
    "CachedSequential",
    "callback_items",
    "compile_like",
    "compute_features",
    "enable_mixed_precision",
    "evaluate",
    "fit",
    "frozen_deterministic",
    "predict",
    "predict_in_order",
    "training_head",
]

STORE_DTYPE = np.float32
DISK_LIMIT = 10 << 30  # bytes of cache files kept on disk; the least recently used go first
_FORMAT = "vggcourse-features-2"  # an .npz whose members carry a CRC-32 each  # part of every key: bump it when the stored format changes
_MEMORY_LIMIT = 2 << 30  # bytes of features kept in memory between calls
_memory = collections.OrderedDict()  # key -> features array, least recently used first
_splits = weakref.WeakKeyDictionary()  # model -> (layer ids, boundary, body, head); see _split
_fitting = weakref.WeakSet()  # models whose head (in _splits) is training in a cached fit right now


def cache_dir():
    """The folder of cached features: `$VGGCOURSE_CACHE`, or `~/.cache/vggcourse/features`."""
    folder = os.environ.get("VGGCOURSE_CACHE")
    return Path(folder).expanduser() if folder else Path.home() / ".cache" / "vggcourse" / "features"


def clear_cache():
    """Forget every cached feature array, in memory and on disk."""
    _memory.clear()
    for path in cache_dir().glob("*.np[yz]"):
        path.unlink(missing_ok=True)


def enable_mixed_precision():
    """`vggcourse.devices.enable_mixed_precision()`, kept here for code written against 0.1.

    bfloat16 where the accelerator has it, else float16, nothing on CPU; returns the policy name
    or None. The feature cache keys include the layers' dtype policy.
    """
    return devices.enable_mixed_precision()


def _is_random(layer):
    """Dropout, noise and random augmentation layers: they act differently in training."""
    return hasattr(layer, "seed_generator") or isinstance(
        layer, (keras.layers.Dropout, keras.layers.GaussianNoise, keras.layers.GaussianDropout)
    )


def frozen_deterministic(layer):
    """True when the layer has nothing to train and gives the same output in training."""
    if isinstance(layer, keras.Model):
        return all(frozen_deterministic(inner) for inner in layer.layers)
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
        if not frozen_deterministic(layer):
            return index
    return len(model.layers)


def _split(model, boundary):
    """(body, head): two Sequential models over the very layer objects of `model`."""
    layer_ids = tuple(id(layer) for layer in model.layers)
    known = _splits.get(model)
    if known and known[0] == layer_ids and known[1] == boundary:
        return known[2], known[3]
    layers = model.layers
    with devices.model_scope():  # the same devices as the model (devices.use_all_devices)
        body = keras.Sequential([keras.Input(shape=model.input_shape[1:]), *layers[:boundary]])
        body.compile(jit_compile=_jit_for_body())
        head = keras.Sequential([keras.Input(shape=body.output_shape[1:]), *layers[boundary:]])
    _splits[model] = (layer_ids, boundary, body, head)
    return body, head


def training_head(model):
    """The head that trains in `model`'s cached `fit` right now (from the split cache), else None.

        head = training_head(vgg.model)    # inside a callback of vgg.fit; None after it
    """
    known = _splits.get(model) if model in _fitting else None
    return known[3] if known else None


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
        try:
            stat = os.stat(path)
            about = f"{stat.st_size}\0{stat.st_mtime_ns}"
        except FileNotFoundError:  # deleted after the scan: it fails in the pass and gets a NaN row
            about = "missing"
        hasher.update(f"{os.path.abspath(path)}\0{about}\n".encode())


def _layers_digest(layers):
    """Hash of each layer's class, config (name and trainable aside) and weights."""
    hasher = hashlib.sha256()
    for layer in layers:
        config = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable")}
        hasher.update(type(layer).__name__.encode())
        hasher.update(json.dumps(config, sort_keys=True, default=str).encode())
        for weight in layer.weights:
            array = np.ascontiguousarray(host_array(weight))
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


def _load(key, count, row_shape=None):
    """The cached features of `key`, or None. A damaged file is reported in one line, and deleted
    so that it is computed again and replaced.

    Each file is an uncompressed `.npz`: the zip format keeps a CRC-32 of the array's bytes, which
    is checked as the array is read, so a file damaged after its header is caught too.
    """
    path = cache_dir() / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            features = archive["features"]
        if features.shape[:1] != (count,) or (row_shape is not None and features.shape[1:] != tuple(row_shape)):
            raise ValueError(f"holds {features.shape[0]} rows of shape {features.shape[1:]}, expected "
                             f"{count} of {tuple(row_shape) if row_shape is not None else '?'}")
        os.utime(path)  # recently used: pruned last
        return features
    except Exception as error:  # noqa: BLE001 - any damage: truncation, bad CRC, wrong array
        print(f"vggcourse: the feature cache file {path} is unreadable ({type(error).__name__}: "
              f"{error}); computing the features again and replacing it")
        path.unlink(missing_ok=True)
        return None


def _save(key, features):
    """Write to a temporary file beside the cache file, then rename: never a half-written cache."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(folder)
        write_atomically(folder / f"{key}.npz", lambda tmp: _save_npz(tmp, features))
        _prune(folder)
    except OSError as error:
        print(f"vggcourse: features kept in memory only, could not write {folder}: {error}")


def _save_npz(path, array):
    with open(path, "wb") as file:  # np.savez(path) would append ".npz" to the temporary name
        np.savez(file, features=array)


def _prune(folder, limit=DISK_LIMIT):
    """Delete the least recently used cache files while the folder holds more than `limit` bytes."""
    files = sorted(folder.glob("*.npz"), key=lambda path: path.stat().st_mtime)
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
    """Images per forward pass of the body (`vggcourse.devices.inference_batch_size`)."""
    return devices.inference_batch_size(int(batches.batch_size))


def compute_features(body, batches, verbose=1):
    """The body's output for every file of `batches`, in `batches.filenames` order.

    Reading batches in order lets the iterator decode the next one while the body runs.
    """
    chunk = _inference_batch_size(batches)
    images = batches.for_inference(batch_size=chunk)
    from vggcourse._console import progress as console_progress

    progress = console_progress(len(images), f"vggcourse: frozen layers over {batches.directory}",
                                verbose) if verbose else None
    out, start = None, 0
    for step in range(len(images)):
        x = images[step]
        # A short last chunk runs eagerly: tracing the compiled step again for its shape costs
        # more than it saves, and each new shape counts towards TensorFlow's retracing warning.
        y = body.predict_on_batch(x) if len(x) == chunk else body(x, training=False)
        y = keras.ops.convert_to_numpy(y)
        if out is None:
            out = np.empty((len(images.filepaths), *y.shape[1:]), STORE_DTYPE)
        if not len(y):
            continue  # every file of this chunk failed to decode (image.py warned)
        out[start:start + len(y)] = y
        start += len(y)
        if progress:
            progress.update(step + 1)
    return _with_failed_rows(out, start, batches.filenames, getattr(images, "failed", ()))


def _with_failed_rows(rows, count, filenames, failed):
    """`rows[:count]` were made from `filenames` minus `failed`, in order: put them in place and
    give each failed file a row of NaN, so that row i stays filenames[i] (`_usable` drops them)."""
    if not failed:
        return rows
    failed = set(failed)
    kept = [i for i, name in enumerate(filenames) if name not in failed]
    full = np.full((len(filenames), *rows.shape[1:]), np.nan, dtype=rows.dtype)
    full[kept] = rows[:count]
    return full


def _usable(features, labels):
    """Leave out the rows of files that failed to decode (NaN rows), and their labels."""
    flat = features.reshape(len(features), -1)
    keep = ~np.isnan(flat[:, 0]) if flat.shape[1] else np.ones(len(features), bool)
    if keep.all():
        return features, labels
    return features[keep], None if labels is None else labels[keep]


def _features(body, batches, cache, verbose, layers_digest=None):
    """Cached features of `batches` (memory, then disk), computing them on a miss."""
    key = _key(body, batches, layers_digest)
    features = _memory.get(key)
    if features is None and cache != "memory":
        features = _load(key, len(batches.filepaths), body.output_shape[1:])
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
        from vggcourse.arrays import onehot

        return onehot(classes, batches.num_classes)
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


def compile_like(head, model, optimizer=None):
    """Compile `head` with `model`'s loss and metrics, and `optimizer` or `model`'s own (its state carries on)."""
    config = model.get_compile_config() or {}
    optimizer = model.optimizer if optimizer is None else optimizer
    # A head compiled the same way keeps its traced train function: no retracing on the next fit.
    signature = (id(optimizer), repr(model.loss), json.dumps(config, sort_keys=True, default=str))
    if head is not model and head.compiled and getattr(head, "_compiled_like", None) == signature:
        return

    def user(spec):
        if isinstance(spec, dict) and "class_name" in spec:
            return keras.metrics.deserialize(spec)
        if isinstance(spec, (list, tuple)):
            return [user(item) for item in spec]
        return spec

    with devices.model_scope():  # the same devices as the model (devices.use_all_devices)
        head.compile(
            optimizer=optimizer,
            loss=model.loss,
            metrics=user(config.get("metrics")),
            weighted_metrics=user(config.get("weighted_metrics")),
            loss_weights=config.get("loss_weights"),
            run_eagerly=config.get("run_eagerly", False),
        )
    head._compiled_like = signature


def _trained_split(model):
    """(boundary, body, head) when `model` has a frozen bottom and a trained top, else None."""
    boundary = cache_boundary(model)
    if not 0 < boundary < len(model.layers) or not model.built:
        return None
    if not any(layer.weights for layer in model.layers[:boundary]):
        return None  # nothing below the boundary is worth caching (e.g. only preprocessing)
    return (boundary, *_split(model, boundary))


# `keras.Model.fit` keywords the cached path honours (passed on to the head's fit as they are).
# `shuffle` (default True) makes Keras visit the batches of an epoch in a random order, in both
# paths; rows are also reshuffled each epoch when batches.shuffle.
_FIT_ARGUMENTS = ("verbose", "callbacks", "initial_epoch", "shuffle", "class_weight",
                  "steps_per_epoch", "validation_steps", "validation_freq", "validation_batch_size")
_EVALUATE_ARGUMENTS = ("verbose", "callbacks", "steps", "return_dict")


class _FollowWholeModel(keras.callbacks.Callback):
    """Carries what callbacks do to the whole model over to the head that actually trains.

    `EarlyStopping` sets `model.stop_training`, `BackupAndRestore` sets `model._initial_epoch`:
    the callbacks see `vgg.model`, the training loop reads the head.
    """

    def __init__(self, whole, head):
        super().__init__()
        self.whole, self.head = whole, head

    def on_train_begin(self, logs=None):
        self.head._initial_epoch = getattr(self.whole, "_initial_epoch", None)

    def on_train_batch_end(self, batch, logs=None):
        if getattr(self.whole, "stop_training", False):
            self.head.stop_training = True

    on_epoch_end = on_train_batch_end


def _build_metrics(model, labels):
    """Build the whole model's compiled metrics, which only the head uses, so that callbacks that
    read `model.metrics` (ModelCheckpoint / EarlyStopping choosing max or min for 'val_accuracy')
    find them."""
    metrics = getattr(model, "_compile_metrics", None)
    if metrics is None or getattr(metrics, "built", True) or labels is None or not len(labels):
        return
    y_true = keras.ops.convert_to_tensor(labels[:1])
    y_pred = keras.ops.zeros((1, *model.output_shape[1:]), dtype="float32")
    metrics.build(y_true, y_pred)


def callback_items(callbacks):
    """`fit(callbacks=...)` as a list, read as Keras reads it: None, one callback or a list.

        callback_items(keras.callbacks.EarlyStopping())   # [EarlyStopping]
    """
    return keras.tree.flatten(callbacks) if callbacks else []


def _callbacks_on_whole_model(model, head, callbacks, verbose, epochs, steps):
    """A CallbackList whose callbacks see `model` (vgg.model), plus the History it fills."""
    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*callback_items(callbacks), history, _FollowWholeModel(model, head)],
        add_history=False, add_progbar=verbose != 0, verbose=verbose, epochs=epochs, steps=steps,
        model=model)
    return callback_list, history


def _why_not_cached(x, validation_data, fit_kwargs):
    """None when the cached path applies; else the one line to print ('' when nothing to say)."""
    if not _from_folder(x) or _labels(x) is None:
        return ""  # arrays, generators, unlabelled batches: nothing to key a cache on
    if _augments(x) or (validation_data is not None and _augments(validation_data)):
        return ("vggcourse: the batches augment images, so every epoch runs the whole model "
                "(no feature cache)")
    unknown = sorted(set(fit_kwargs) - set(_FIT_ARGUMENTS))
    if unknown:
        return (f"vggcourse: fit({unknown[0]}=...) is not supported on the feature cache, so every "
                f"epoch runs the frozen layers again (a full forward pass over every image); "
                f"pass cache=False to run that way without this line")
    if validation_data is not None and (not _from_folder(validation_data)
                                        or _labels(validation_data) is None):
        return ("vggcourse: validation_data is not labelled folder batches, so every epoch runs the "
                "whole model, frozen layers included (cache=False: the same, without this line)")
    return None


def fit(model, x, validation_data=None, epochs=1, cache=True, **fit_kwargs):
    """`model.fit(x, validation_data=..., epochs=...)` on cached features, when that applies.

    Returns the Keras `History`, or None when the cache does not apply and the caller should run
    the plain fit (a printed line says why, where the reason is worth knowing). Callbacks see the
    whole `model` (a ModelCheckpoint saves it all); every keyword in `_FIT_ARGUMENTS` is honoured.
    `cache='memory'` keeps the features in memory only.

        history = features.fit(vgg.model, batches, val_batches, epochs=3)
    """
    _check_fit_arguments(x, fit_kwargs)
    split = _trained_split(model) if cache else None
    if split is None or getattr(model, "optimizer", None) is None:
        return None
    reason = _why_not_cached(x, validation_data, fit_kwargs)
    if reason is not None:
        if reason and fit_kwargs.get("verbose", "auto"):
            print(reason)
        return None
    _, body, head = split
    fit_kwargs = dict(fit_kwargs)
    verbose = _console_verbose(fit_kwargs.pop("verbose", "auto"))
    digest = _layers_digest(body.layers)  # once: hashing VGG16's frozen weights takes ~0.5 s
    train = _FeatureBatches(*_usable(_features(body, x, cache, verbose, digest), _labels(x)),
                            x.batch_size, x.shuffle, getattr(x, "seed", None))
    validation = None
    if validation_data is not None:
        validation = _FeatureBatches(
            *_usable(_features(body, validation_data, cache, verbose, digest), _labels(validation_data)),
            validation_data.batch_size)
    compile_like(head, model)
    _build_metrics(model, train.y)
    steps = fit_kwargs.get("steps_per_epoch") or len(train)
    callbacks, history = _callbacks_on_whole_model(
        model, head, fit_kwargs.pop("callbacks", None), verbose, epochs, steps)
    model.stop_training = False
    head.history = history  # Keras' fit returns `self.history`; the History lives in our list
    _fitting.add(model)  # callbacks reading `model` mid-epoch sync the head (CachedSequential)
    try:
        head.fit(train, validation_data=validation, epochs=epochs, callbacks=callbacks, verbose=verbose,
                 **fit_kwargs)
    finally:
        _fitting.discard(model)
        head.history = None  # history.model is `model`: kept here, `_splits` would never free it
        head._initial_epoch = None  # BackupAndRestore's resume epoch is for this fit only
    return history


def _check_fit_arguments(x, fit_kwargs):
    """Refuse what Keras would refuse anyway, before any line about the cache is printed."""
    if fit_kwargs.get("validation_split") and isinstance(x, keras.utils.PyDataset):
        raise UserInputError(
            f"`validation_split` works on arrays only, not on batches ({type(x).__name__}). Validate "
            f"on a folder of its own: fit(batches, validation_data=val_batches), with val_batches = "
            f"vgg.get_batches('.../valid', shuffle=False). Received: validation_split="
            f"{fit_kwargs['validation_split']!r}")
    if fit_kwargs.get("sample_weight") is not None and isinstance(x, keras.utils.PyDataset):
        raise UserInputError(
            f"`sample_weight` cannot be passed with batches ({type(x).__name__}, a keras.utils.PyDataset "
            f"gives its own x and y). Weight classes with class_weight={{0: 1.0, 1: 2.0}}, or pass "
            f"arrays: fit(x, y, sample_weight=...). Received: sample_weight of type "
            f"{type(fit_kwargs['sample_weight']).__name__}")


def evaluate(model, x, cache=True, **evaluate_kwargs):
    """`model.evaluate(x)` for labelled folder batches, from cached features; None when n/a."""
    split = _trained_split(model) if cache else None
    if (split is None or getattr(model, "optimizer", None) is None or not _from_folder(x)
            or _labels(x) is None or _augments(x)
            or set(evaluate_kwargs) - set(_EVALUATE_ARGUMENTS)):
        return None
    _, body, head = split
    evaluate_kwargs = dict(evaluate_kwargs)
    verbose = _console_verbose(evaluate_kwargs.pop("verbose", "auto"))
    data = _FeatureBatches(*_usable(_features(body, x, cache, verbose), _labels(x)), x.batch_size)
    compile_like(head, model)
    callbacks = evaluate_kwargs.pop("callbacks", None)
    if callbacks:
        callbacks = keras.callbacks.CallbackList(callbacks, add_progbar=verbose != 0,
                                                 verbose=verbose, steps=len(data), model=model)
    return head.evaluate(data, verbose=verbose, callbacks=callbacks, **evaluate_kwargs)


def predict(model, batches, verbose="auto", cache=True):
    """`model.predict(batches)` for unshuffled folder batches, from cached features.

    Returns the predictions in `batches.filenames` order, or None when the cache does not apply.
    """
    split = _trained_split(model) if cache else None
    if split is None or not _from_folder(batches) or batches.shuffle or _augments(batches):
        return None
    _, body, head = split
    features = _features(body, batches, cache, _console_verbose(verbose))
    preds = head.predict(_FeatureBatches(features, None, max(batches.batch_size, 64)), verbose=0)
    failed = np.isnan(features.reshape(len(features), -1)[:, :1]).any(axis=1)
    if failed.any():  # files that failed to decode have no prediction
        preds = np.asarray(keras.ops.convert_to_numpy(preds)).astype("float32")
        preds[failed] = np.nan
    return preds


def predict_in_order(model, batches, batch_size=None, cache=True, verbose=0, gen=None, seed=None):
    """Predictions of `model` (a Keras model or a `Vgg16`) for every file of `batches`, in
    `batches.filenames` order, whatever `batches.shuffle` is; from cached features where they apply.

    The one function that predicts a folder in file order: `Vgg16.test`, `Interpretation.from_vgg`,
    test-time augmentation, the Kaggle helpers and the command line call it. With `gen` (an
    `ImageDataGenerator`) the images are augmented by it, reproducibly for `seed`, and the whole
    model runs.

        probs = predict_in_order(vgg, val_batches)     # row i is val_batches.filenames[i]
    """
    model = getattr(model, "model", model)
    if not _from_folder(batches):
        raise UserTypeError(f"`batches` must be folder batches (vgg.get_batches / flow_from_directory), "
                        f"whose `filenames` give the order. Received: {type(batches).__name__}")
    ordered = batches.for_inference(batch_size, gen=gen, seed=seed)
    preds = predict(model, ordered, verbose=verbose, cache=cache)
    if preds is None:
        options = {"cache": cache} if isinstance(model, CachedSequential) else {}
        preds = np.asarray(keras.ops.convert_to_numpy(model.predict(ordered, verbose=verbose, **options)))
        if len(preds) != len(batches.filenames):  # files that failed to decode: NaN rows
            preds = _with_failed_rows(preds.astype("float32"), len(preds), ordered.filenames,
                                      getattr(ordered, "failed", ()))
    preds = np.asarray(keras.ops.convert_to_numpy(preds))
    if len(preds) != len(batches.filenames):
        raise RuntimeError(f"predict_in_order: {len(preds)} predictions for {len(batches.filenames)} "
                           f"files in {batches.directory}")
    return preds


def _console_verbose(verbose):
    """Keras' `verbose`: 'auto' is a progress bar on a terminal and one line per epoch otherwise."""
    from vggcourse._console import keras_verbose

    return keras_verbose(verbose)


def _run_keywords(kwargs):
    """`fit` / `evaluate` keywords as both paths take them: `verbose` through `keras_verbose`, and
    `callbacks` as `_listed_callbacks` gives them."""
    kwargs = dict(kwargs, verbose=_console_verbose(kwargs.get("verbose", "auto")))
    if "callbacks" in kwargs:
        kwargs["callbacks"] = _listed_callbacks(kwargs["callbacks"])
    return kwargs


def _listed_callbacks(callbacks):
    """A user's `callbacks` as a list: Keras runs a lone callback on a thread without checking
    that it may (on JAX one that reads the weights mid-epoch then finds them deleted). None, and
    the CallbackList of Keras' fit validating through `evaluate`, are passed on as they are."""
    if callbacks is None or isinstance(callbacks, keras.callbacks.CallbackList):
        return callbacks
    return callback_items(callbacks)


@keras.saving.register_keras_serializable(package="vggcourse")
class CachedSequential(keras.Sequential):
    """A `keras.Sequential` whose `fit`, `evaluate` and `predict` use the feature cache.

    With a frozen bottom and folder batches that do not augment, the frozen layers run once per
    image; every other case is Keras' own method. `cache=False` turns the cache off for one call.

        model.fit(batches, validation_data=val_batches, epochs=3)   # epochs 2 and 3 are cheap
    """

    def fit(self, x=None, y=None, batch_size=None, epochs=1, *, validation_data=None, cache=True,
            **kwargs):
        kwargs = _run_keywords(kwargs)
        try:
            if y is None and batch_size is None:
                history = fit(self, x, validation_data, epochs, cache, **kwargs)
                if history is not None:
                    return history
            return super().fit(x, y, batch_size=batch_size, epochs=epochs,
                               validation_data=validation_data, **kwargs)
        finally:
            # Keras 3 never clears the epoch BackupAndRestore resumed from: the next fit would
            # start there too (`initial_epoch = self._initial_epoch or initial_epoch`).
            self._initial_epoch = None

    def evaluate(self, x=None, y=None, batch_size=None, *, cache=True, **kwargs):
        kwargs = _run_keywords(kwargs)
        if y is None and batch_size is None:
            result = evaluate(self, x, cache, **kwargs)
            if result is not None:
                return result
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, *, cache=True):
        verbose = _console_verbose(verbose)
        if batch_size is None and steps is None and callbacks is None:
            result = predict(self, x, verbose=verbose, cache=cache)
            if result is not None:
                return result
        return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps,
                               callbacks=_listed_callbacks(callbacks))

    if keras.backend.backend() == "jax":  # Keras' JAX trainer has this method; the others do not
        def jax_state_sync(self):
            """Put the training state back on the variables, for a callback that reads or sets them.

            In a cached `fit` the head trains, and Keras' JAX loop keeps its state off the shared
            variables during an epoch: the callbacks, which see this model, sync the head too.
            """
            head = training_head(self)
            if head is not None:
                head.jax_state_sync()
            super().jax_state_sync()
