"""Keras 1's model methods on Keras 3: the spellings only (re-exported by `vggcourse.keras1`).

    class MyModel(Keras1Methods, ModelCore, keras.Sequential): ...   # as vggcourse.keras1.Model is
    model.fit(x, y, nb_epoch=3)
    model.fit_generator(batches, samples_per_epoch=batches.nb_sample, nb_epoch=1,
                        validation_data=val_batches, nb_val_samples=val_batches.nb_sample)
    probs = model.predict_generator(test_batches, test_batches.nb_sample)

`Keras1Methods` translates Keras 1's arguments and calls `self.fit` / `self.predict` /
`self.evaluate` / `super().compile` with Keras 3's, so a model that overrides those (`vgg.model`'s
feature cache, `model.ModelCore`'s compile) keeps its behaviour. The course's compile with
optimizer names and `lr`, its plain '.h5' weight files and all-or-nothing loads are
`model.ModelCore`'s: put it after this mixin in the bases. It imports neither `vggcourse.model`
nor `vggcourse.keras1`: both build on it.
"""
import inspect
import math

import keras
import numpy as np

from vggcourse import checks
from vggcourse._keras1_layers import channels_last_images
from vggcourse.errors import UserInputError, UserTypeError

__all__ = ["Keras1Methods", "translate_fit_kwargs"]

# Keras 1 / Keras 2 worker and queue settings: the batches read ahead on their own threads.
_QUEUE_ARGS = ("max_q_size", "nb_worker", "pickle_safe", "max_queue_size", "workers",
               "use_multiprocessing")


def _one_spelling(method, kwargs, keras1, keras3, default=None):
    """Pop Keras 1's `keras1` or Keras 3's `keras3` from `kwargs` (one of them at most)."""
    if keras1 in kwargs and keras3 in kwargs:
        raise UserTypeError(f"{method}: pass `{keras1}` (Keras 1) or `{keras3}` (Keras 2/3), not both.")
    return kwargs.pop(keras1, kwargs.pop(keras3, default))


def translate_fit_kwargs(kwargs):
    """Keras 1 keywords of `fit` / `evaluate` / `predict` -> Keras 3's, as a new dict.

    `nb_epoch` -> `epochs` (a whole number: 2.5 is refused, not truncated); `show_accuracy`
    (Keras 0) raises, naming `metrics=['accuracy']`.

        translate_fit_kwargs({"nb_epoch": 3, "batch_size": 64}) == {"epochs": 3, "batch_size": 64}
    """
    kwargs = dict(kwargs)
    if "nb_epoch" in kwargs:
        kwargs["epochs"] = checks.epochs("nb_epoch", _one_spelling("fit", kwargs, "nb_epoch", "epochs"))
    elif "epochs" in kwargs:
        kwargs["epochs"] = checks.epochs("epochs", kwargs["epochs"])
    if "show_accuracy" in kwargs:
        raise UserTypeError("fit: `show_accuracy` is gone; compile with metrics=['accuracy'] instead.")
    return kwargs


def _peek(generator):
    """(the generator with its first batch put back, that batch's size) for a plain Python generator."""
    first = next(generator)
    x = first[0] if isinstance(first, (tuple, list)) else first
    size = len(x[0] if isinstance(x, (tuple, list)) else x)

    def chained():
        yield first
        yield from generator

    return chained(), size


def _steps(method, name, data, samples):
    """(data, Keras 3 steps) for Keras 1's sample count `samples` of `data`.

    None steps when `samples` is one pass over a sized dataset (a `PyDataset` such as the
    course's batches), so Keras uses its length.
    """
    if samples is None:
        return data, None
    samples = checks.whole_number(name, samples, least=1, what="of samples, at least 1", caller=method)
    sized = hasattr(data, "__len__") and hasattr(data, "__getitem__")
    if sized and getattr(data, "n", None) == samples:
        return data, None
    batch_size = getattr(data, "batch_size", None)
    if batch_size is None:
        if sized or isinstance(data, (tuple, list, np.ndarray)):
            raise UserTypeError(f"{method}: `{name}` counts samples of a generator of batches; "
                                f"received {type(data).__name__}. Pass arrays to fit/predict/evaluate.")
        data, batch_size = _peek(data)
    return data, math.ceil(samples / batch_size)


def _take(method, kwargs, names):
    """The Keras 2/3 arguments `names` from `kwargs`; anything else but queue settings raises."""
    unknown = sorted(set(kwargs) - set(names) - set(_QUEUE_ARGS))
    if unknown:
        keras1 = [p for p in inspect.signature(getattr(Keras1Methods, method)).parameters
                  if p not in ("self", "kwargs")]
        raise UserTypeError(f"{method}: unknown argument `{unknown[0]}`. It takes "
                            f"{', '.join([*keras1, *names, *_QUEUE_ARGS])}.")
    return {name: kwargs[name] for name in names if kwargs.get(name) is not None}


def _as_array(data):
    """Keras 1's reading of a plain list of numbers (or of lists of them) as one array: lesson 5's
    labels `[0, 1, 1, ...]`, which Keras 3's fit refuses ("Unrecognized data type"). A list of
    arrays (several inputs or outputs) and anything else are returned as they are.

        _as_array([0, 1, 1])    # -> np.array([0, 1, 1])
    """
    if isinstance(data, list) and data and not hasattr(data[0], "shape"):
        return np.asarray(data)
    return data


def _is_sized_batches(x):
    return isinstance(x, keras.utils.PyDataset) or (hasattr(x, "__next__") and not hasattr(x, "shape"))


class Keras1Methods:
    """Keras 1's model methods, for a class that also derives from `keras.Model` (and, for the
    course's compile and weight files, from `model.ModelCore`).

        class MyModel(Keras1Methods, ModelCore, keras.Sequential): ...
    """

    def fit(self, x=None, y=None, *args, **kwargs):
        """Keras 3's `fit`, also taking Keras 1's `nb_epoch=`, channels-first image arrays and
        plain lists of numbers (`_as_array`)."""
        kwargs = translate_fit_kwargs(kwargs)
        if isinstance(kwargs.get("validation_data"), (tuple, list)):
            x_val, *rest = kwargs["validation_data"]
            kwargs["validation_data"] = (self._channels_last(x_val), *map(_as_array, rest))
        return super().fit(self._channels_last(x), _as_array(y), *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """Keras 3's `evaluate`, also taking channels-first image arrays and plain lists of numbers."""
        return super().evaluate(self._channels_last(x), _as_array(y), *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        """Keras 3's `predict`, also taking channels-first image arrays and plain lists of numbers."""
        return super().predict(self._channels_last(x), *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        """Keras 3's `train_on_batch`, also taking channels-first image arrays and plain lists of numbers."""
        return super().train_on_batch(self._channels_last(x), _as_array(y), *args, **kwargs)

    def test_on_batch(self, x, y=None, *args, **kwargs):
        """Keras 3's `test_on_batch`, also taking channels-first image arrays and plain lists of numbers."""
        return super().test_on_batch(self._channels_last(x), _as_array(y), *args, **kwargs)

    def predict_on_batch(self, x):
        """Keras 3's `predict_on_batch`, also taking channels-first image arrays."""
        return super().predict_on_batch(self._channels_last(x))

    def _channels_last(self, x):
        """`x` as the model takes it: a channels-first image array (Keras 1 + Theano's order, as
        MNIST's `np.expand_dims(X, 1)` makes) whose transpose is the model's input shape is
        transposed (`_keras1_layers.channels_last_images`); a plain list of numbers becomes one
        array (`_as_array`); anything else is unchanged."""
        x = _as_array(x)
        try:
            expected = self.input_shape
        except (AttributeError, ValueError):  # not built yet, or several inputs
            return x
        if not isinstance(expected, tuple) or len(expected) != 4:
            return x
        return channels_last_images(x, expected)

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        """The model's `compile`, also taking Keras 1's `sample_weight_mode=None`."""
        if kwargs.pop("sample_weight_mode", None) is not None:
            raise UserInputError("compile: `sample_weight_mode` has no Keras 3 meaning; pass "
                                 "sample_weight with the same shape as the labels to fit().")
        return super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def fit_generator(self, generator, samples_per_epoch=None, nb_epoch=None, verbose=1,
                      callbacks=None, validation_data=None, nb_val_samples=None, class_weight=None,
                      initial_epoch=0, **kwargs):
        """Keras 1's `fit_generator`: `self.fit(generator, epochs=nb_epoch, shuffle=False, ...)`.

        `samples_per_epoch` / `nb_val_samples` count images; equal to the batches' size they mean
        one pass (Keras uses `len(batches)`); otherwise they become `steps_per_epoch` /
        `validation_steps`. Keras 2's `steps_per_epoch`, `epochs`, `validation_steps` work too;
        queue and worker settings are accepted and ignored (the batches read ahead themselves).
        """
        method = "fit_generator"
        if nb_epoch is not None and "epochs" in kwargs:
            raise UserTypeError(f"{method}: pass `nb_epoch` (Keras 1) or `epochs` (Keras 2/3), not both.")
        epochs = (checks.epochs("epochs", kwargs.pop("epochs", 1), caller=method) if nb_epoch is None
                  else checks.epochs("nb_epoch", nb_epoch, caller=method))
        keras3 = _take(method, kwargs, ("steps_per_epoch", "validation_steps"))
        if samples_per_epoch is not None:
            if "steps_per_epoch" in keras3:
                raise UserTypeError(f"{method}: pass `samples_per_epoch` (Keras 1) or `steps_per_epoch`, not both.")
            generator, keras3["steps_per_epoch"] = _steps(method, "samples_per_epoch", generator, samples_per_epoch)
        if nb_val_samples is not None and validation_data is not None and not isinstance(validation_data, tuple):
            if "validation_steps" in keras3:
                raise UserTypeError(f"{method}: pass `nb_val_samples` (Keras 1) or `validation_steps`, not both.")
            validation_data, keras3["validation_steps"] = _steps(method, "nb_val_samples", validation_data,
                                                                 nb_val_samples)
        keras3 = {k: v for k, v in keras3.items() if v is not None}
        for name, value in (("callbacks", callbacks), ("validation_data", validation_data),
                            ("class_weight", class_weight)):
            if value is not None:
                keras3[name] = value
        if initial_epoch:  # Keras 1 and 3 agree: train epochs initial_epoch .. nb_epoch - 1
            keras3["initial_epoch"] = initial_epoch
        # The generator owns the order of its batches, as in Keras 1: Keras must not shuffle them.
        return self.fit(generator, epochs=epochs, verbose=verbose, shuffle=False, **keras3)

    def predict_generator(self, generator, val_samples=None, verbose=0, **kwargs):
        """Keras 1's `predict_generator(batches, batches.nb_sample)`: `self.predict(batches)`.

        Returns `val_samples` rows (all of one pass when it is the batches' size). More rows than
        one pass holds are read on as Keras 1 read them, from `next(batches)`, which goes on into
        the following passes (new augmentations, reshuffled if shuffling): `5 * nb_sample` gives
        five passes, one after the other (State Farm's test-time augmentation).
        """
        method = "predict_generator"
        steps = _take(method, kwargs, ("steps",)).get("steps")
        if steps is None and val_samples is not None and _is_sized_batches(generator) and (
                val_samples > len(generator) * generator.batch_size):
            samples = checks.whole_number("val_samples", val_samples, least=1, caller=method)
            return self._predict_following_passes(generator, samples)
        generator, samples_steps = _steps(method, "val_samples", generator, val_samples)
        steps = steps or samples_steps
        # `steps` only when needed: without it a model's own predict (vgg.model's cache) applies
        out = self.predict(generator, verbose=verbose, **({"steps": steps} if steps else {}))
        if val_samples is not None:
            out = [o[:val_samples] for o in out] if isinstance(out, list) else out[:val_samples]
        return out

    def _predict_following_passes(self, batches, samples):
        """The outputs for the next `samples` images of `next(batches)`, as Keras 1's loop made them."""
        outs, seen = [], 0
        while seen < samples:
            x = next(batches)
            x = x[0] if isinstance(x, tuple) else x
            out = self.predict_on_batch(x)
            outs.append([np.asarray(keras.ops.convert_to_numpy(o)) for o in out]
                        if isinstance(out, (list, tuple)) else [np.asarray(keras.ops.convert_to_numpy(out))])
            seen += len(x)
        joined = [np.concatenate(parts)[:samples] for parts in zip(*outs)]
        return joined[0] if len(joined) == 1 else joined

    def evaluate_generator(self, generator, val_samples=None, verbose=0, **kwargs):
        """Keras 1's `evaluate_generator(batches, batches.nb_sample)`: `self.evaluate(batches)`.

        Returns the loss, or [loss, metric, ...] when compiled with metrics, as Keras 1 did.
        """
        method = "evaluate_generator"
        steps = _take(method, kwargs, ("steps",)).get("steps")
        generator, samples_steps = _steps(method, "val_samples", generator, val_samples)
        steps = steps or samples_steps
        return self.evaluate(generator, verbose=verbose, **({"steps": steps} if steps else {}))

    def predict_proba(self, x, batch_size=32, verbose=1):
        """Keras 1's `predict_proba`: the model's outputs (probabilities for a softmax model)."""
        if _is_sized_batches(x):
            return self.predict(x, verbose=verbose)
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    def reset_states(self):
        """Keras 1's `model.reset_states()`: zero the state of every stateful recurrent layer (a
        Keras 3 model has no such method; its RNN layers do).

            model.reset_states()    # between two passes over the text of a stateful LSTM
        """
        for layer in self._flatten_layers(include_self=False):
            if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)) and getattr(layer, "stateful", False):
                layer.reset_states()

    def predict_classes(self, x, batch_size=32, verbose=1):
        """Keras 1's `predict_classes`: argmax of the outputs, or output > 0.5 for one output."""
        probs = np.asarray(self.predict_proba(x, batch_size=batch_size, verbose=verbose))
        if probs.shape[-1] > 1:
            return probs.argmax(axis=-1)
        return (probs > 0.5).astype("int32")
