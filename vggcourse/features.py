"""The frozen-body feature cache: what makes `Vgg16.fit` epochs after the first cheap.

After `vgg.finetune(batches)` every layer below the new softmax is frozen, so each epoch of a plain
`model.fit` recomputes the same convolutions on the same images. Here `fit` runs the frozen body
once per image, keeps its outputs (*features*), and trains the layers above them on the features:

    vgg.finetune(batches)
    vgg.fit(batches, val_batches, nb_epoch=3)      # epoch 1 computes features, 2 and 3 reuse them
    vgg.fit(batches, val_batches, cache=False)     # the plain path: the whole model every epoch
    probs = predict_in_order(vgg, val_batches)     # row i is val_batches.filenames[i]

The pieces: `vggcourse.split` cuts the model (`cache_boundary`, DESIGN.md "Contract: the one
split"), `vggcourse.feature_store` keeps the features (memory and disk, `cache_dir`,
`clear_cache`), and this module is the cached model: `plan` decides, for every call of `fit`,
`evaluate`, `predict` and `predict_in_order`, whether the cache serves it, and the adapters run
the head on the features. `vgg.model` is a `CachedSequential`, whose methods call them.

When it applies: a built `keras.Sequential` with a frozen part at the bottom and a trained part on
top, batches from a folder (`DirectoryIterator`) that do not augment (random images can't be
cached: `fit` then prints one line and runs the full model; so does a `fit` keyword the cache
cannot honour). Callbacks see the whole model: `ModelCheckpoint` saves all of it,
`EarlyStopping` stops the head's loop. A file that fails to decode after the scan gets a row of
NaN: left out of training, NaN in predictions. The body runs as many images per forward pass as
`vggcourse.devices.inference_batch_size` chooses for the device.
"""
import dataclasses
import math
import weakref

import keras
import numpy as np

from vggcourse import checks, devices, feature_store
from vggcourse import tta as tta_lib
from vggcourse._keras_fit import (build_compiled_metrics, callback_items, compile_like, listed_callbacks,
                                  resume_epoch, set_resume_epoch)
from vggcourse.errors import UserInputError, UserTypeError
from vggcourse.image import epoch_order, shuffle_seed
from vggcourse.feature_store import cache_dir, clear_cache  # noqa: F401 - re-exported, see __all__
from vggcourse.split import cache_boundary, split

__all__ = [
    "cache_boundary",
    "cache_dir",
    "clear_cache",
    "CachedSequential",
    "compute_features",
    "evaluate",
    "fit",
    "NoCache",
    "Plan",
    "plan",
    "predict",
    "predict_in_order",
    "training_head",
]

# Keywords each cached path honours (`fit`'s are passed on to the head's fit as they are).
# `shuffle` (default True) makes Keras visit the batches of an epoch in a random order, in both
# paths; rows are also reshuffled each epoch when batches.shuffle.
_KEYWORDS = {
    "fit": ("verbose", "callbacks", "initial_epoch", "shuffle", "class_weight", "steps_per_epoch",
            "validation_steps", "validation_freq", "validation_batch_size"),
    "evaluate": ("verbose", "callbacks", "steps", "return_dict"),
    "predict": ("verbose",),
}
_training = weakref.WeakKeyDictionary()  # model -> its head, while a cached fit trains it


@dataclasses.dataclass(frozen=True)
class Plan:
    """How the cache serves a call: `body` runs once per image, `head` on its cached output."""

    body: keras.Sequential
    head: keras.Sequential


@dataclasses.dataclass(frozen=True)
class NoCache:
    """Why the cache cannot serve a call: `reason` (a short name, one per rule of `plan`) and
    `line`, what `fit` prints about it ('' when it is not worth saying)."""

    reason: str
    line: str = ""


def plan(model, x, purpose, cache=True, validation_data=None, keywords=()):
    """A `Plan` when the cache can serve `model.<purpose>(x, ...)`, else the `NoCache` saying why.

    `purpose` is 'fit', 'evaluate' or 'predict' (`predict_in_order` predicts); `keywords` names
    the call's other arguments that are given (`y`, `batch_size`, `callbacks`, ...).

        plan(vgg.model, batches, "fit", validation_data=val_batches)   # Plan(body=..., head=...)
        plan(vgg.model, batches, "fit", cache=False).reason            # 'cache=False'
    """
    if not cache:
        return NoCache("cache=False")
    boundary = cache_boundary(model)
    if boundary == 0:
        return NoCache("nothing frozen")  # or not a built Sequential, or only preprocessing frozen
    if boundary == len(model.layers):
        return NoCache("nothing trains")
    trains = purpose in ("fit", "evaluate")
    if trains and getattr(model, "optimizer", None) is None:
        return NoCache("not compiled")
    if not _from_folder(x) or set(keywords) & {"y", "batch_size"}:
        return NoCache("not folder batches")  # arrays, generators: nothing to key a cache on
    if trains and x.targets() is None:
        return NoCache("unlabelled")
    if purpose == "predict" and x.shuffle:
        return NoCache("shuffled")  # predictions would not be in the order of the batches
    if _unkeyable(x) or (validation_data is not None and _unkeyable(validation_data)):
        return NoCache("preprocessing_function", _fit_line(
            purpose, "vggcourse: the batches' preprocessing_function cannot be part of a cache key, so every "
                     "epoch runs the whole model (no feature cache)"))
    if _augments(x) or (validation_data is not None and _augments(validation_data)):
        return NoCache("augments", _fit_line(purpose, "vggcourse: the batches augment images, so every epoch "
                                                      "runs the whole model (no feature cache)"))
    unknown = sorted(set(keywords) - set(_KEYWORDS[purpose]))
    if unknown:
        return NoCache("keyword", _fit_line(
            purpose, f"vggcourse: fit({unknown[0]}=...) is not supported on the feature cache, so every "
                     f"epoch runs the frozen layers again (a full forward pass over every image); "
                     f"pass cache=False to run that way without this line"))
    if validation_data is not None and (not _from_folder(validation_data)
                                        or validation_data.targets() is None):
        return NoCache("validation_data", _fit_line(
            purpose, "vggcourse: validation_data is not labelled folder batches, so every epoch runs "
                     "the whole model, frozen layers included (cache=False: the same, without this line)"))
    body, head = split(model)
    return Plan(body, head)


def _fit_line(purpose, line):
    return line if purpose == "fit" else ""


def _augments(batches):
    generator = getattr(batches, "image_data_generator", None)
    return bool(getattr(generator, "augments", False))


def _unkeyable(batches):
    """True when the batches' generator standardizes in a way no cache key can hold."""
    generator = getattr(batches, "image_data_generator", None)
    return generator is not None and generator.standardization_key() is None


def _from_folder(batches):
    return all(hasattr(batches, name) for name in ("filepaths", "for_inference", "targets", "shuffle"))


def training_head(model):
    """The head that trains in `model`'s cached `fit` right now, else None.

        head = training_head(vgg.model)    # inside a callback of vgg.fit; None after it
    """
    return _training.get(model)


# -- running the body: the features --------------------------------------------------------------

def compute_features(body, batches, verbose=1):
    """The body's output for every file of `batches`, in `batches.filenames` order.

    Reading batches in order lets the iterator decode the next one while the body runs.

        features = compute_features(body, val_batches, verbose=0)   # (n, 4096) after finetune
    """
    chunk = devices.inference_batch_size(batches.batch_size)  # images per forward pass of the body
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
            out = np.empty((len(images.filepaths), *y.shape[1:]), feature_store.STORE_DTYPE)
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


def _failed_rows(features):
    """A boolean mask of the rows of files that failed to decode: the NaN rows `_with_failed_rows`
    gave them (the body's output of a decoded image is finite)."""
    flat = features.reshape(len(features), -1)
    return np.isnan(flat[:, 0]) if flat.shape[1] else np.zeros(len(features), bool)


def _usable(features, labels):
    """Leave out the rows of files that failed to decode (NaN rows), and their labels."""
    keep = ~_failed_rows(features)
    if keep.all():
        return features, labels
    return features[keep], None if labels is None else labels[keep]


def _features(body, batches, cache, verbose, digest=None):
    """Cached features of `batches` (memory, then disk), computing and keeping them on a miss.

    On a hit, the files whose rows are NaN are recorded in `batches.failed` (with the warning
    naming each), as the pass that computed them did: a warm cache loses no failed file.
    """
    key = feature_store.feature_key(batches, digest or feature_store.layers_digest(body.layers))
    features = feature_store.lookup(key, len(batches.filepaths), body.output_shape[1:], cache)
    if features is not None:
        batches.record_failed(np.flatnonzero(_failed_rows(features)),
                              "it failed when its features were cached")
    if features is None:
        if verbose:
            print(f"vggcourse: running the frozen layers once over {len(batches.filepaths)} images "
                  f"in {batches.directory}; the result is cached for later epochs and predictions")
        features = compute_features(body, batches, verbose=verbose)
        feature_store.keep(key, features, cache)
    return features


class _FeatureBatches(keras.utils.PyDataset):
    """Batches of cached features (and labels). Shuffled, epoch e's order is `image.epoch_order`,
    the image batches' own: a fit resumed at `initial_epoch` = e sees the orders an uninterrupted
    one would."""

    def __init__(self, x, y, batch_size, shuffle=False, seed=None, epoch=0):
        super().__init__()
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self._seed = shuffle_seed(seed)
        self._epoch = epoch - 1
        self._order = np.arange(len(x))
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.x[rows].astype("float32", copy=False)
        return x if self.y is None else (x, self.y[rows])

    def on_epoch_end(self):
        self._epoch += 1
        if self.shuffle:
            self._order = epoch_order(self._seed, self._epoch, len(self.x))


# -- the cached paths ----------------------------------------------------------------------------

class _FollowWholeModel(keras.callbacks.Callback):
    """Carries what callbacks do to the whole model over to the head that actually trains.

    `EarlyStopping` sets `model.stop_training`, `BackupAndRestore` the epoch to resume from:
    the callbacks see `vgg.model`, the training loop reads the head.
    """

    def __init__(self, whole, head):
        super().__init__()
        self.whole, self.head = whole, head

    def on_train_begin(self, logs=None):
        set_resume_epoch(self.head, resume_epoch(self.whole))

    def on_train_batch_end(self, batch, logs=None):
        if getattr(self.whole, "stop_training", False):
            self.head.stop_training = True

    on_epoch_end = on_train_batch_end


def _callbacks_on_whole_model(model, head, callbacks, verbose, epochs, steps):
    """A CallbackList whose callbacks see `model` (vgg.model), plus the History it fills."""
    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*callback_items(callbacks), history, _FollowWholeModel(model, head)],
        add_history=False, add_progbar=verbose != 0, verbose=verbose, epochs=epochs, steps=steps,
        model=model)
    return callback_list, history


def fit(model, x, validation_data=None, epochs=1, cache=True, **fit_kwargs):
    """`model.fit(x, validation_data=..., epochs=...)` on cached features, when `plan` allows.

    Returns the Keras `History`, or None when the cache does not serve the call and the caller
    should run the plain fit (a printed line says why, where the reason is worth knowing).
    Callbacks see the whole `model` (a ModelCheckpoint saves it all). `cache='memory'` keeps the
    features in memory only.

        history = features.fit(vgg.model, batches, val_batches, epochs=3)
    """
    _check_fit_arguments(x, fit_kwargs)
    how = plan(model, x, "fit", cache, validation_data, fit_kwargs)
    if isinstance(how, NoCache):
        if how.line and fit_kwargs.get("verbose", "auto"):
            print(how.line)
        return None
    body, head = how.body, how.head
    fit_kwargs = dict(fit_kwargs)
    verbose = _console_verbose(fit_kwargs.pop("verbose", "auto"))
    digest = feature_store.layers_digest(body.layers)  # once: VGG16's frozen weights take ~0.5 s
    train = _FeatureBatches(*_usable(_features(body, x, cache, verbose, digest), x.targets()),
                            x.batch_size, x.shuffle, getattr(x, "seed", None), fit_kwargs.get("initial_epoch", 0))
    validation = None
    if validation_data is not None:
        validation = _FeatureBatches(
            *_usable(_features(body, validation_data, cache, verbose, digest), validation_data.targets()),
            validation_data.batch_size)
    compile_like(head, model)
    build_compiled_metrics(model, train.y)
    steps = fit_kwargs.get("steps_per_epoch") or len(train)
    callbacks, history = _callbacks_on_whole_model(
        model, head, fit_kwargs.pop("callbacks", None), verbose, epochs, steps)
    model.stop_training = False
    head.history = history  # Keras' fit returns `self.history`; the History lives in our list
    _training[model] = head  # callbacks reading `model` mid-epoch sync the head (CachedSequential)
    try:
        head.fit(train, validation_data=validation, epochs=epochs, callbacks=callbacks, verbose=verbose,
                 **fit_kwargs)
    finally:
        _training.pop(model, None)
        head.history = None  # history.model is `model`: kept here, the split would never free it
        set_resume_epoch(head, None)  # BackupAndRestore's resume epoch is for this fit only
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
    """`model.evaluate(x)` for labelled folder batches, from cached features; None when `plan`
    says the cache cannot serve it.

        loss, accuracy = features.evaluate(vgg.model, val_batches)
    """
    how = plan(model, x, "evaluate", cache, keywords=evaluate_kwargs)
    if isinstance(how, NoCache):
        return None
    evaluate_kwargs = dict(evaluate_kwargs)
    verbose = _console_verbose(evaluate_kwargs.pop("verbose", "auto"))
    data = _FeatureBatches(*_usable(_features(how.body, x, cache, verbose), x.targets()), x.batch_size)
    compile_like(how.head, model)
    callbacks = evaluate_kwargs.pop("callbacks", None)
    if callbacks:
        callbacks = keras.callbacks.CallbackList(callbacks, add_progbar=verbose != 0,
                                                 verbose=verbose, steps=len(data), model=model)
    return how.head.evaluate(data, verbose=verbose, callbacks=callbacks, **evaluate_kwargs)


def predict(model, batches, verbose="auto", cache=True):
    """`model.predict(batches)` for unshuffled folder batches, from cached features.

    Returns the predictions in `batches.filenames` order, or None when `plan` says the cache
    cannot serve it.

        probs = features.predict(vgg.model, val_batches)
    """
    how = plan(model, batches, "predict", cache)
    return None if isinstance(how, NoCache) else _predict_planned(how, batches, verbose, cache)


def _predict_planned(how, batches, verbose, cache):
    features = _features(how.body, batches, cache, _console_verbose(verbose))
    preds = how.head.predict(_FeatureBatches(features, None, max(batches.batch_size, 64)), verbose=0)
    failed = _failed_rows(features)
    if failed.any():  # files that failed to decode have no prediction
        preds = np.asarray(keras.ops.convert_to_numpy(preds)).astype("float32")
        preds[failed] = np.nan
    return preds


def predict_in_order(model, batches, batch_size=None, cache=True, verbose=0, gen=None, seed=None, tta=0):
    """Predictions of `model` (a Keras model or a `Vgg16`) for every file of `batches`, in
    `batches.filenames` order, whatever `batches.shuffle` is; from cached features where `plan`
    allows.

    The one function that predicts a folder in file order: `Vgg16.test` / `Vgg16.predict_in_order`,
    `Interpretation.from_vgg`, the Kaggle helpers and the command line call it. `tta=n` (test-time
    augmentation) averages the plain pass with n passes augmented by `gen` (default
    `tta.default_generator()`, standardized as the batches are), pass i seeded with i, so results
    repeat; augmented passes run the whole model. With `tta=0`, a `gen` augments the one pass,
    reproducibly for `seed`.

        probs = predict_in_order(vgg, val_batches)          # row i is val_batches.filenames[i]
        probs = predict_in_order(vgg, val_batches, tta=4)   # plain + 4 augmented passes
    """
    tta = checks.whole_number("tta", tta, what=">= 0: the number of augmented passes averaged with the "
                                                "plain one (0: none)")
    model = getattr(model, "model", model)
    if not _from_folder(batches):
        raise UserTypeError(f"`batches` must be folder batches (vgg.get_batches / flow_from_directory), "
                            f"whose `filenames` give the order. Received: {type(batches).__name__}")
    if tta == 0:
        return _one_pass(model, batches, batch_size, cache, verbose, gen, seed)
    plain = _one_pass(model, batches, batch_size, cache, verbose, None, None)
    if gen is None:
        gen = tta_lib.default_generator(like=batches.image_data_generator)
    total = plain.astype("float64")
    for pass_seed in range(tta):
        total += _one_pass(model, batches, max(batch_size or batches.batch_size, 32), cache, verbose, gen,
                           pass_seed)
    return (total / (tta + 1)).astype(plain.dtype)


def _one_pass(model, batches, batch_size, cache, verbose, gen, seed):
    """One prediction of every file of `batches` in file order (augmented by `gen` if given)."""
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
    `callbacks` as `listed_callbacks` gives them."""
    kwargs = dict(kwargs, verbose=_console_verbose(kwargs.get("verbose", "auto")))
    if "callbacks" in kwargs:
        kwargs["callbacks"] = listed_callbacks(kwargs["callbacks"])
    return kwargs


def _given(**arguments):
    """The names of the arguments that are not None (what `plan` calls keywords)."""
    return {name: value for name, value in arguments.items() if value is not None}


@keras.saving.register_keras_serializable(package="vggcourse")
class CachedSequential(keras.Sequential):
    """A `keras.Sequential` whose `fit`, `evaluate` and `predict` use the feature cache.

    With a frozen bottom and folder batches that do not augment, the frozen layers run once per
    image; every other case (`plan` says why) is Keras' own method. `cache=False` turns the cache
    off for one call.

        model.fit(batches, validation_data=val_batches, epochs=3)   # epochs 2 and 3 are cheap
    """

    def fit(self, x=None, y=None, batch_size=None, epochs=1, *, validation_data=None, cache=True,
            **kwargs):
        kwargs = _run_keywords(kwargs)
        try:
            history = fit(self, x, validation_data, epochs, cache, **kwargs,
                          **_given(y=y, batch_size=batch_size))
            if history is not None:
                return history
            return super().fit(x, y, batch_size=batch_size, epochs=epochs,
                               validation_data=validation_data, **kwargs)
        finally:
            # Keras 3 never clears the epoch BackupAndRestore resumed from: the next fit would
            # start there too.
            set_resume_epoch(self, None)

    def evaluate(self, x=None, y=None, batch_size=None, *, cache=True, **kwargs):
        kwargs = _run_keywords(kwargs)
        result = evaluate(self, x, cache, **kwargs, **_given(y=y, batch_size=batch_size))
        if result is not None:
            return result
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, *, cache=True):
        verbose = _console_verbose(verbose)
        how = plan(self, x, "predict", cache, keywords=_given(batch_size=batch_size, steps=steps,
                                                             callbacks=callbacks))
        if isinstance(how, Plan):
            return _predict_planned(how, x, verbose, cache)
        return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps,
                               callbacks=listed_callbacks(callbacks))

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
