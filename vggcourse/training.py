"""Fine-tuning as it is done today: unfreezing, layer-wise rates, the learning-rate finder, one-cycle.

    vgg.finetune(batches)
    found = vgg.lr_find(batches)                   # Smith's range test; weights untouched
    found.plot(); print(found.suggestion)
    vgg.fit_one_cycle(batches, val_batches, nb_epoch=3, max_lr=found.suggestion)
    vgg.unfreeze("fc1")                            # the dense layers train; the conv output is cached
    vgg.fit(batches, val_batches, lr=slice(1e-5, 1e-3))   # fc1 slowest, predictions fastest

The `Vgg16` methods are thin calls into these functions, which take any compiled Keras model.
Training goes through the model's own `fit`, so on `vgg.model` it uses the feature cache and the
callbacks here see the whole model.
"""
import math
import os
import warnings

import keras
import numpy as np

from vggcourse import checks, features, optimizers
from vggcourse._keras_fit import callback_items, compile_like
from vggcourse.split import cache_boundary, frozen_deterministic
from vggcourse.errors import UserInputError, UserTypeError

__all__ = [
    "LRFinder",
    "LRFinderResult",
    "OneCycle",
    "ParamScheduler",
    "check_labelled_batches",
    "fit_one_cycle",
    "layer_index",
    "lr_find",
    "one_cycle_schedule",
    "plot_history",
    "recompile",
    "set_learning_rate",
    "unfreeze",
]


# -- unfreezing ---------------------------------------------------------------------------------

def layer_index(model, layer):
    """Index in `model.layers` of `layer`: a layer name ('fc1', 'block5_conv1') or an index."""
    names = [item.name for item in model.layers]
    if isinstance(layer, str):
        if layer not in names:
            raise UserInputError(f"`from_layer` must name a layer of the model, one of {names}. "
                             f"Received: from_layer={layer!r}")
        return names.index(layer)
    return checks.whole_number_in("from_layer", layer, -len(names), len(names) - 1, what=(
        f"a layer index from {-len(names)} to {len(names) - 1}, or a layer name such as 'fc1'")) % len(names)


def unfreeze(model, from_layer, train_bn=False):
    """Train `from_layer` and every layer above it; freeze those below; recompile.

    `from_layer` is a layer name or an index into `model.layers`, negative ones counted from
    the top as in Python (-1: the last layer). BatchNormalization layers stay frozen, in
    inference mode (their moving statistics and scale kept), as the Keras transfer-learning
    guide advises (also inside a layer that is a model, such as Resnet50's blocks), unless
    `train_bn=True`. The learning rate is kept; the optimizer's state
    starts afresh. Returns the index (from 0) of the first layer that trains.

        unfreeze(vgg.model, "block5_conv1")
    """
    start = layer_index(model, from_layer)
    for index, layer in enumerate(model.layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= start and (train_bn or not is_bn)
        if layer.trainable and not train_bn:
            for inner in _nested_batch_norms(layer):  # inside a block (Resnet50's conv2_block1 ...)
                inner.trainable = False
    recompile(model)
    return start


def _nested_batch_norms(layer):
    """The BatchNormalization layers inside `layer` when it is a model (a block of layers)."""
    found = []
    for inner in getattr(layer, "layers", []) if isinstance(layer, keras.Model) else []:
        found += [inner] if isinstance(inner, keras.layers.BatchNormalization) else _nested_batch_norms(inner)
    return found


def recompile(model, optimizer=None):
    """Compile `model` again with its loss and metrics, and `optimizer` or a fresh copy of its own.

    Needed after `trainable` changes; the copy keeps the class, the learning rate (its current
    value) and every setting, not the state. Layer-wise rates set by a slice are spread again
    over the layers that train now.
    """
    from vggcourse import devices

    with devices.model_scope():  # several devices after devices.use_all_devices()
        if optimizer is None:
            if getattr(model, "optimizer", None) is None:
                raise UserInputError("the model is not compiled: call vgg.compile() (or model.compile) first")
            old = optimizers.unwrap(model.optimizer)  # compile wraps it again under mixed_float16
            config = old.get_config()
            config.pop("name", None)  # the rate in the config is its current value (or the schedule)
            optimizer = type(old).from_config(config)
        compile_like(model, model, optimizer=optimizer)
    layerwise = getattr(optimizers.unwrap(model.optimizer), "layerwise_range", None)
    if layerwise:  # the same layer-wise rates, spread over the layers that train now
        low, high = layerwise
        top = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        set_learning_rate(model, slice(top * low / high, top))


# -- learning rates -------------------------------------------------------------------------------

def check_labelled_batches(batches, caller, model=None, name="batches"):
    """Refuse, in one line, what cannot train `model`: no batches, a folder name, unlabelled
    batches (class_mode=None), batches whose classes do not fit the model's outputs, or whose class
    names differ from those the model was fine-tuned on (`model.class_names`).

        check_labelled_batches(batches, "fit", vgg.model)
    """
    if batches is None or isinstance(batches, (str, bytes, os.PathLike)):
        hint = (f" Make them first: batches = vgg.get_batches({os.fspath(batches)!r})"
                if batches is not None else "")
        raise UserTypeError(f"{caller}: `{name}` must be labelled batches (vgg.get_batches(path)). "
                            f"Received: {batches!r}.{hint}")
    class_mode = getattr(batches, "class_mode", "categorical")
    where = f"`{name}`" + (f" ({batches.directory})" if getattr(batches, "directory", None) else "")
    if class_mode in (None, "input"):
        raise UserInputError(f"{caller}: {where} has no labels (class_mode={class_mode!r}); training needs "
                             "class folders and labels: vgg.get_batches(path) with the default class_mode")
    classes = getattr(batches, "num_classes", None)
    outputs = _output_width(model)
    if classes and outputs and ((class_mode == "categorical" and classes != outputs)
                                or (class_mode == "sparse" and classes > outputs)):
        raise UserInputError(f"{caller}: {where} has {classes} classes but the model predicts {outputs}: "
                             "call vgg.finetune(batches) with these batches first (or pass the "
                             "batches it was fine-tuned on)")
    trained_on, found = getattr(model, "class_names", None), getattr(batches, "class_names", None)
    if trained_on and found and list(found) != list(trained_on):
        raise UserInputError(f"{caller}: {where} has the classes {list(found)}, the model was fine-tuned on "
                             f"{list(trained_on)}: labels are matched by position, so they would be wrong. "
                             f"Name the class folders as the model's, or pass classes={list(trained_on)} to "
                             "get_batches when every name is there")


def _output_width(model):
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


def set_learning_rate(model, lr):
    """Set the rate of the compiled `model`'s optimizer: a number, or `slice(low, high)`.

    A slice spreads rates geometrically over the trainable layers that have weights, lowest layer
    `low`, highest `high` (fastai's discriminative rates). A number gives every layer that rate.
    The optimizer's state is kept; an optimizer without per-variable rates is swapped for
    `vggcourse.optimizers`' class of the same name (fresh state) when a slice asks for them.
    """
    if getattr(model, "optimizer", None) is None:
        raise UserInputError("setting the learning rate needs a compiled model: call vgg.compile() "
                         "or vgg.finetune() first")
    if isinstance(lr, slice):
        low, high = _check_slice("lr", lr)
        _use_layerwise_optimizer(model)
        model.optimizer.learning_rate = high
        optimizer = optimizers.unwrap(model.optimizer)
        optimizer.set_rate_scales(_layerwise_scales(model, low, high))
        optimizer.layerwise_range = (low, high)
        return
    model.optimizer.learning_rate = checks.positive_number("lr", lr)
    optimizer = optimizers.unwrap(model.optimizer)
    if hasattr(optimizer, "reset_rate_scales"):
        optimizer.reset_rate_scales()
        optimizer.layerwise_range = None


_SLICE_MEANING = ("slice(low, high): layer-wise rates, `low` at the lowest trainable layer and `high` at "
                  "the top, geometric in between")


def _check_slice(name, rates):
    """(low, high) of `rates`, a slice(low, high) of positive rates with low <= high.

    fastai's `slice(x)` alone (the top at x, lower layers at x/10) is refused with the spelling
    that says what it means: slice(x / 10, x), or x for one rate.
    """
    if rates.start is None and rates.step is None:
        raise UserInputError(f"`{name}` as a slice must be {_SLICE_MEANING}; slice(x) alone is not taken "
                             f"(fastai's top at x, the rest at x/10): write slice(x / 10, x), or x for one "
                             f"rate everywhere. Received: {name}={rates!r}")
    low = checks.positive_number(f"{name}.start", rates.start)
    high = checks.positive_number(f"{name}.stop", rates.stop)
    if low > high or rates.step is not None:
        raise UserInputError(f"`{name}` as a slice must be slice(low, high) with low <= high: the lowest "
                             f"layer trains at `low`, the top at `high`. Received: {name}={rates!r}")
    return low, high


def _use_layerwise_optimizer(model):
    """Swap an optimizer without per-variable rates for `vggcourse.optimizers`' class of the same
    name (fresh state); keep one that has them."""
    if not hasattr(optimizers.unwrap(model.optimizer), "set_rate_scales"):
        recompile(model, optimizers.get(optimizers.unwrap(model.optimizer)))


def _layerwise_scales(model, low, high):
    """(variable, rate / high) for the trainable layers with weights, rates geometric low..high."""
    trained = [layer for layer in model.layers if layer.trainable and layer.trainable_weights]
    if not trained:
        raise UserInputError("no layer of the model is trainable: call vgg.finetune() or vgg.unfreeze() first")
    scales = []
    for i, layer in enumerate(trained):
        position = i / (len(trained) - 1) if len(trained) > 1 else 1.0
        rate = low * (high / low) ** position
        scales.extend((variable, rate / high) for variable in layer.trainable_weights)
    return scales


# -- the parameter scheduler -----------------------------------------------------------------------

class ParamScheduler(keras.callbacks.Callback):
    """Sets named hyper-parameters of the optimizer at every training batch from schedules, records
    them, and puts back what it replaced at every epoch end and at train end (fastai's `ParamScheduler`).

    `schedules` maps a name ('learning_rate', 'beta_1') to a function of the step (0, 1, ...)
    giving its value. A name the optimizer cannot change between steps (`optimizers.schedulable`:
    beta_1 of anything but vggcourse's `Adam`) is left alone and recorded as None. With
    `steps_per_epoch` the step is epoch x steps_per_epoch + batch, so a fit resumed at
    `initial_epoch` carries on; without, batches are counted from the first. `hps[name]` lists the
    values set. The rate, beta_1 and layer-wise rate scales in force at the first batch are put
    back exactly at every epoch end (so later callbacks, a `ModelCheckpoint`, see your settings:
    put it first in the callbacks), at train end, and by `restore()` (call it in a `finally`).

        decay = ParamScheduler({"learning_rate": lambda step: 1e-3 / (1 + step)})
        model.fit(batches, epochs=2, callbacks=[decay]); decay.hps["learning_rate"]
    """

    def __init__(self, schedules, steps_per_epoch=None):
        super().__init__()
        if not isinstance(schedules, dict) or not all(callable(f) for f in schedules.values()):
            raise UserTypeError(f"`schedules` must be a dict of hyper-parameter name -> function of the "
                                f"step. Received: schedules={schedules!r}")
        unknown = [name for name in schedules if name not in optimizers.SCHEDULABLE]
        if unknown:
            raise UserInputError(f"{type(self).__name__}: `schedules` must map hyper-parameter names, of "
                                 f"{list(optimizers.SCHEDULABLE)}, to functions of the step. Received: "
                                 f"{unknown[0]!r} in schedules={schedules!r}")
        if steps_per_epoch is not None:
            steps_per_epoch = checks.whole_number("steps_per_epoch", steps_per_epoch, 1, what=">= 1 or None")
        self.schedules, self.steps_per_epoch = dict(schedules), steps_per_epoch
        self.hps = {name: [] for name in schedules}
        self._saved = None  # what the schedules replaced, while theirs are on
        self._epoch = self._in_epoch = self._count = 0

    def on_train_begin(self, logs=None):
        self._epoch = self._in_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._in_epoch = epoch, 0

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self.model.optimizer
        if self._saved is None:
            self._names = optimizers.schedulable(optimizer)
            if "learning_rate" in self.schedules and "learning_rate" not in self._names:
                raise UserInputError(f"{type(self).__name__} sets the learning rate at every step, but the "
                                     "optimizer's is a LearningRateSchedule: compile with a number instead")
            self._saved = optimizers.save_settings(optimizer, self.model.trainable_variables)
            self.begin_schedule()
        if self.steps_per_epoch:
            step = self._epoch * self.steps_per_epoch + self._in_epoch
        else:
            step = self._count
        self._in_epoch, self._count = self._in_epoch + 1, self._count + 1
        for name, schedule in self.schedules.items():
            value = float(schedule(step)) if name in self._names else None
            if value is not None:
                optimizers.set_hyper(optimizer, name, value)
            self.hps[name].append(value)

    def begin_schedule(self):
        """Called once the settings to restore are saved, before the first value is set (a subclass
        sets what else it changes here, such as layer-wise rate scales)."""

    def on_epoch_end(self, epoch, logs=None):
        self.restore()

    def on_train_end(self, logs=None):
        self.restore()

    def restore(self):
        """Put back, exactly, the rate, beta_1 and rate scales the schedules replaced (nothing if none)."""
        if self._saved is not None:
            optimizers.restore_settings(self.model.optimizer, self._saved)
            self._saved = None


# -- the learning-rate finder -----------------------------------------------------------------------

class LRFinder(ParamScheduler):
    """Raise the rate exponentially from `start_lr` to `end_lr` over `num_it` steps; record the loss.

    Stops after `num_it` steps or when the smoothed loss passes 4x its minimum (or is not finite).
    Keras reports the running mean of the epoch's loss; each batch's own loss is recovered with
    the size of the batch actually fed (Keras' loss average counts samples), listed in
    `batch_sizes`. The rate is put back at the end (a `ParamScheduler`).

        model.fit(batches, callbacks=[LRFinder(1e-7, 10.0, 100)]); finder.lrs, finder.losses
    """

    def __init__(self, start_lr, end_lr, num_it, *, smoothing=0.98, diverge=4.0):
        super().__init__({"learning_rate": self.rate})
        self.start_lr, self.end_lr, self.num_it = start_lr, end_lr, num_it
        self.smoothing, self.diverge = smoothing, diverge
        self.lrs, self.losses, self.raw_losses, self.batch_sizes = [], [], [], []
        self._average, self._best = 0.0, math.inf

    def rate(self, step):
        return self.start_lr * (self.end_lr / self.start_lr) ** (step / (self.num_it - 1))

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._seen, self._total = 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        seen, total = _loss_sums(self.model)
        size = seen - self._seen
        # Differences of Keras' own float32 sum: each is exact and >= 0 for a loss >= 0. Rebuilt
        # from the rounded mean (mean * seen), a small batch after large losses came out negative.
        loss, self._seen, self._total = (total - self._total) / size, seen, total
        step = len(self.lrs)
        self.lrs.append(self.hps["learning_rate"][-1])
        self.batch_sizes.append(size)
        self.raw_losses.append(loss)
        self._average = self.smoothing * self._average + (1 - self.smoothing) * loss
        smoothed = self._average / (1 - self.smoothing ** (step + 1))
        self.losses.append(smoothed)
        self._best = min(self._best, smoothed)
        if step + 1 >= self.num_it or not math.isfinite(smoothed) or smoothed > self.diverge * self._best:
            self.model.stop_training = True


def _loss_sums(model):
    """(samples, sum of their losses) behind the loss Keras reports for this epoch so far: the
    `count` and `total` of the training model's loss `Mean` (`model.metrics[0]`; Keras weights it
    by batch size). In a cached fit that model is the head that trains."""
    trained = features.training_head(model) or model
    tracker = trained.metrics[0]
    count, total = (float(keras.ops.convert_to_numpy(v)) for v in (tracker.count, tracker.total))
    return int(round(count)), total


class LRFinderResult:
    """What `lr_find` measured: `lrs`, smoothed `losses`, and `suggestion`.

    `suggestion` is the rate where the smoothed loss falls fastest (the steepest negative slope of
    loss against log rate, before the minimum: fastai v1's rule; the first tenth of the steps,
    whose smoothed losses rest on a few batches, is left out); `suggestions` also holds
    'minimum' (the rate of the lowest loss, divided by 10: the rule of Smith's paper as fastai
    applies it).
    """

    def __init__(self, lrs, losses, raw_losses=None):
        self.lrs = np.asarray(lrs, dtype=float)
        self.losses = np.asarray(losses, dtype=float)
        self.raw_losses = np.asarray(raw_losses if raw_losses is not None else losses, dtype=float)
        self.suggestions = _suggest(self.lrs, self.losses)
        self.suggestion = self.suggestions["steepest"]

    def __repr__(self):
        return (f"LRFinderResult({len(self.lrs)} steps, {self.lrs[0]:.2e}..{self.lrs[-1]:.2e}, "
                f"suggestion={self.suggestion:.2e})")

    def plot(self, skip_end=3):
        """A matplotlib Figure: smoothed loss against the learning rate (log x), suggestion marked
        (`plotting.plot_lr_find`); the last `skip_end` steps, where the loss shoots up, are left out."""
        from vggcourse.plotting import plot_lr_find

        return plot_lr_find(self.lrs, self.losses, self.suggestion, skip_end=skip_end)


def _suggest(lrs, losses):
    finite = np.isfinite(losses)
    lrs, losses = lrs[finite], losses[finite]
    if len(lrs) == 0:
        raise RuntimeError("lr_find: every loss was NaN or infinite; check the data and the model")
    skip = len(lrs) // 10  # the first steps' smoothed losses rest on a few batches: noise
    lrs, losses = lrs[skip:], losses[skip:]
    lowest = int(np.argmin(losses))
    suggestions = {"minimum": float(max(lrs[lowest] / 10, lrs[0]))}
    if lowest >= 2:
        slopes = np.gradient(losses[:lowest + 1], np.log(lrs[:lowest + 1]))
        suggestions["steepest"] = float(lrs[int(np.argmin(slopes))])
    else:
        suggestions["steepest"] = suggestions["minimum"]
        warnings.warn(f"lr_find: the smoothed loss fell over {lowest} of the {len(lrs)} steps used, too few to "
                      f"find its steepest fall; the suggestion {suggestions['minimum']:.2e} is the lowest "
                      f"loss's rate / 10 (or the start rate), not a measured fall: run more steps (num_it=100) "
                      f"or start lower (start_lr).", UserWarning, stacklevel=3)
    return suggestions


def _check_lr_find(start_lr, end_lr, num_it):
    start_lr = checks.positive_number("start_lr", start_lr)
    end_lr = checks.positive_number("end_lr", end_lr)
    if end_lr <= start_lr:
        raise UserInputError(f"`end_lr` must be above `start_lr`: the finder raises the rate from one to "
                         f"the other. Received: start_lr={start_lr!r}, end_lr={end_lr!r}")
    num_it = checks.whole_number("num_it", num_it, 5, what="of at least 5 (steps of the range test; 100 is usual)")
    return start_lr, end_lr, num_it


def _state(model):
    """The variables a training step can change: those of the layers that train or draw random
    numbers (from the first trained layer up; frozen deterministic layers cannot change), and the
    optimizer's."""
    model.optimizer.build(model.trainable_variables)  # so its whole state exists before the snapshot
    boundary = cache_boundary(model)
    variables = [v for layer in model.layers[boundary:] if not frozen_deterministic(layer)
                 for v in layer.variables]
    return variables + list(model.optimizer.variables)


def lr_find(model, batches, start_lr=1e-7, end_lr=10.0, num_it=100, cache=True):
    """Smith's learning-rate range test on `batches`; the model and optimizer are left as they were.

    Trains `num_it` steps at rates rising exponentially from `start_lr` to `end_lr` (fewer when
    the loss explodes), records the loss, then restores every weight and the optimizer's state
    bit for bit. On `vgg.model` the steps run on cached features. Returns an `LRFinderResult`.

        found = lr_find(vgg.model, batches); found.plot(); vgg.set_lr(found.suggestion)
    """
    start_lr, end_lr, num_it = _check_lr_find(start_lr, end_lr, num_it)
    if getattr(model, "optimizer", None) is None:
        raise UserInputError("lr_find needs a compiled model: call vgg.compile() or vgg.finetune() first")
    check_labelled_batches(batches, "lr_find", model)
    if not hasattr(batches, "filepaths"):
        raise UserTypeError(f"`batches` must be folder batches (vgg.get_batches). Received: "
                        f"{type(batches).__name__}")
    variables = _state(model)
    saved = [np.array(keras.ops.convert_to_numpy(v)) for v in variables]
    finder = LRFinder(start_lr, end_lr, num_it)
    fit_kwargs = {"cache": cache} if isinstance(model, features.CachedSequential) else {}
    try:
        model.fit(batches, epochs=math.ceil(num_it / len(batches)), shuffle=False, callbacks=[finder],
                  verbose=0, **fit_kwargs)
    finally:
        finder.restore()
        for variable, value in zip(variables, saved):
            variable.assign(value)
    return LRFinderResult(finder.lrs, finder.losses, finder.raw_losses)


# -- one-cycle ------------------------------------------------------------------------------------

def one_cycle_schedule(step, total, max_lr, pct_start=0.25, div=25.0, div_final=1e5,
                       moms=(0.95, 0.85, 0.95)):
    """(learning rate, beta_1) at `step` of `total`: fastai's one-cycle policy.

    The rate rises from max_lr/div to max_lr over the first `pct_start` of the steps and falls to
    max_lr/div_final over the rest, both halves cosine-shaped; beta_1 (momentum) moves the other
    way, moms[0] -> moms[1] -> moms[2].
    """
    position = step / max(total - 1, 1)

    def cosine(start, end, fraction):
        return start + (1 + math.cos(math.pi * (1 - fraction))) * (end - start) / 2

    if position < pct_start:
        fraction = position / pct_start
        return cosine(max_lr / div, max_lr, fraction), cosine(moms[0], moms[1], fraction)
    fraction = (position - pct_start) / (1 - pct_start)
    return cosine(max_lr, max_lr / div_final, fraction), cosine(moms[1], moms[2], fraction)


class OneCycle(ParamScheduler):
    """Sets the rate (and Adam's beta_1, where the optimizer has one) at every step of a one-cycle.

    `max_lr` is a rate, or `slice(low, high)` for layer-wise rates that peak at `low` for the
    lowest trained layer and `high` for the top. `total_steps` is steps per epoch times epochs;
    with `steps_per_epoch` the position in the cycle follows the epoch number, so a fit resumed at
    `initial_epoch` (or by `BackupAndRestore`) carries on where the cycle was. `lrs` and `betas`
    record what was set. A `ParamScheduler`: between epochs and at the end the optimizer's rate,
    beta_1 and layer-wise rates are put back exactly, so epoch-end callbacks (a `ModelCheckpoint`)
    and a later `fit` see your settings, not the cycle's. Put it first in the callbacks.

        model.fit(batches, epochs=3, callbacks=[OneCycle(1e-3, 3 * len(batches), len(batches))])
    """

    def __init__(self, max_lr, total_steps, steps_per_epoch=None, **schedule):
        total_steps = checks.whole_number("total_steps", total_steps, 1, what=">= 1: the training steps the "
                                          "cycle spans (steps per epoch times epochs)")
        if isinstance(max_lr, slice):
            self.layerwise = _check_slice("max_lr", max_lr)
            self.max_lr = self.layerwise[1]
        else:
            self.layerwise, self.max_lr = None, checks.positive_number("max_lr", max_lr)
        self.total_steps, self.schedule = total_steps, schedule
        super().__init__({"learning_rate": lambda step: self.at(step)[0],
                          "beta_1": lambda step: self.at(step)[1]}, steps_per_epoch)

    def at(self, step):
        """(rate, beta_1) at `step` of the cycle (the last step's values after its end)."""
        return one_cycle_schedule(min(step, self.total_steps - 1), self.total_steps, self.max_lr,
                                  **self.schedule)

    @property
    def lrs(self):
        return self.hps["learning_rate"]

    @property
    def betas(self):
        return self.hps["beta_1"]

    def on_train_begin(self, logs=None):
        optimizer = optimizers.unwrap(self.model.optimizer)
        if self.layerwise and not hasattr(optimizer, "set_rate_scales"):
            raise UserInputError("OneCycle: `max_lr` as a slice needs an optimizer with layer-wise rates "
                                 "(vggcourse.optimizers): use vgg.fit_one_cycle, or vgg.set_lr(slice(...)) first")
        super().on_train_begin(logs)

    def begin_schedule(self):
        if self.layerwise:
            optimizers.unwrap(self.model.optimizer).set_rate_scales(_layerwise_scales(self.model, *self.layerwise))


def check_initial_epoch(fit_kwargs, epochs, caller):
    """Refuse an `initial_epoch` among `fit_kwargs` outside 0 .. epochs - 1: below 0 Keras trains
    an extra epoch, from `epochs` on it silently trains nothing.

        check_initial_epoch({"initial_epoch": 2}, 3, "fit")   # epochs 2 (the third) only
    """
    if "initial_epoch" in fit_kwargs:
        fit_kwargs["initial_epoch"] = checks.whole_number_in(
            "initial_epoch", fit_kwargs["initial_epoch"], 0, max(epochs - 1, 0), caller=caller,
            what=f"a whole number from 0 to {max(epochs - 1, 0)} (the epoch to start from, below epochs={epochs})")


def _steps_per_epoch(x, batch_size):
    """Training steps in one epoch over `x`: batches (a PyDataset, a dataset) count their own;
    arrays are cut into `batch_size` rows (Keras' default 32)."""
    if hasattr(x, "shape"):
        return max(1, math.ceil(int(x.shape[0]) / (batch_size or 32)))
    return len(x)


def fit_one_cycle(model, batches, validation_data=None, epochs=1, max_lr=1e-3, callbacks=None,
                  **fit_kwargs):
    """`model.fit` under the one-cycle policy (`OneCycle`, first in the callbacks); afterwards, even
    after an error or Ctrl-C, the rate, beta_1 and layer-wise rates are what they were. Returns
    the History, with the rates used in `history.one_cycle.lrs`.

        fit_one_cycle(vgg.model, batches, val_batches, epochs=3, max_lr=slice(1e-5, 1e-3))
    """
    epochs = checks.epochs("epochs", epochs, least=1)
    check_initial_epoch(fit_kwargs, epochs, "fit_one_cycle")
    check_labelled_batches(batches, "fit_one_cycle", model)
    if getattr(model, "optimizer", None) is None:
        raise UserInputError("fit_one_cycle needs a compiled model: call vgg.compile() or vgg.finetune() first")
    steps = fit_kwargs.get("steps_per_epoch") or _steps_per_epoch(batches, fit_kwargs.get("batch_size"))
    cycle = OneCycle(max_lr, steps * epochs, steps_per_epoch=steps)  # checks max_lr
    if cycle.layerwise:
        _use_layerwise_optimizer(model)
    callbacks = [cycle, *callback_items(callbacks)]
    try:
        history = model.fit(batches, validation_data=validation_data, epochs=epochs, callbacks=callbacks,
                            **fit_kwargs)
    finally:
        cycle.restore()
    history.one_cycle = cycle
    return history


# -- pictures -------------------------------------------------------------------------------------

def plot_history(history, title="Training history"):
    """Loss and accuracy per epoch, train against validation, as a matplotlib Figure
    (`plotting.plot_history`; kept here, where the course's notebooks import it).

        plot_history(vgg.fit(batches, val_batches, nb_epoch=3)).savefig("history.png")
    """
    from vggcourse.plotting import plot_history as plot

    return plot(history, title)
