"""`CourseModel`, the one base of the course's models (`Vgg16`, `Vgg16BN`, `Resnet50` in
`vggcourse.model`): everything they share over `self.model`.

    class Vgg16(CourseModel):
        def __init__(self, ...): self.model = build_vgg16(...); self.size = ...; ...
    vgg = Vgg16(); vgg.finetune(vgg.get_batches("train")); vgg.fit(batches, val_batches)

A subclass builds its model (a `model.VggSequential`) in `__init__` and sets `size`,
`include_top` and `classes`; for `load` it names its `keras.applications` model (`keras_name`)
and the plain builder that model's weights are copied into (`_build_plain`). This module imports
neither `model` nor `keras1`.
"""
import json
import os
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np
from keras import layers

from vggcourse import checks, devices, features, optimizers, training
from vggcourse import weights as weights_lib
from vggcourse._atomic import write_atomically
from vggcourse.architecture import MIN_SIDE
from vggcourse.errors import InputFileNotFoundError, UserInputError, UserTypeError
from vggcourse.preprocessing import imagenet_class_names

__all__ = ["CourseModel", "checked_weights"]

_META_NAME = "vggcourse.json"  # extra entry inside a saved .keras archive


def _signature(model):
    """(name, class, activation, weight shapes) of each layer of `model` that has weights (inside
    nested models too: `weights.weighted_layers`)."""
    return [(layer.name, type(layer).__name__, getattr(getattr(layer, "activation", None), "__name__", None),
             [tuple(w.shape) for w in layer.weights]) for layer in weights_lib.weighted_layers(model)]


def _from_keras_applications(path, model, cls):
    """(the course's model, include_top) holding the weights of `model`, a functional model such as
    `keras.applications.VGG16` (for `Vgg16`) or `ResNet50` (for `Resnet50`) writes, rebuilt with
    `cls._build_plain`; else a `UserInputError` naming `path`, the class found and the fix. The
    course's model takes RGB 0-255 images: its `preprocess` layer is Keras' Caffe-style
    `preprocess_input`, which a Keras VGG16 or ResNet50 expects to have been applied.
    """
    shape = tuple(getattr(model, "input_shape", None) or ())
    n_out = tuple(getattr(model, "output_shape", None) or ())[-1:]
    if len(shape) == 4 and shape[-1] == 3 and None not in shape[1:3] and min(shape[1:3]) >= MIN_SIDE:
        include_top = any(layer.name == "predictions" for layer in model.layers)
        course = cls._build_plain(shape[1:3], include_top, n_out[0] if include_top else 1000)
        if _signature(course) == _signature(model):
            for layer in weights_lib.weighted_layers(course):
                layer.set_weights(model.get_layer(layer.name).get_weights())
            return course, include_top
    name = cls.__name__
    raise UserInputError(f"{path} holds a {type(model).__name__} ({model.name!r}), not a Sequential model whose "
                         f"layers are {cls.keras_name}'s (as keras.applications.{cls.keras_name} or {name}.save "
                         f"write them); load it with keras.saving.load_model, or save a {name} with {name}.save")


def checked_weights(weights):
    """`weights` ('imagenet', None or the path of an existing .h5 file), else an error naming it."""
    if not (weights is None or weights == "imagenet" or isinstance(weights, (str, os.PathLike))):
        raise UserInputError(
            f"`weights` must be 'imagenet', None or the path of an .h5 weight file. Received: weights={weights!r}"
        )
    if weights is not None and weights != "imagenet" and not Path(weights).is_file():
        raise InputFileNotFoundError(
            f"`weights` must be 'imagenet', None or the path of an .h5 weight file; there is no file "
            f"at {str(weights)!r}."
        )
    return weights


class CourseModel:
    """What the course's models share, over `self.model` (a `VggSequential`), `self.size`,
    `self.include_top` and `self.classes`: batches, `predict` / `test` (with TTA), `ft` /
    `finetune`, `compile`, `set_lr`, `unfreeze`, `fit` / `fit_one_cycle` / `lr_find` (on the feature
    cache), `fit_data`, `save` / `load`, `save_weights` / `load_weights`. A subclass builds the
    model in `__init__` and names its `keras.applications` model (`keras_name`) and its plain
    builder (`_build_plain`) for `load`.

        class Vgg16(CourseModel): ...
        vgg = Vgg16(); vgg.finetune(vgg.get_batches("train")); vgg.fit(...)
    """

    keras_name = None  # the keras.applications model whose saved files `load` also takes
    batch_norm = False

    # -- data ------------------------------------------------------------------------------------

    def get_batches(self, path, gen=None, shuffle=True, batch_size=8, class_mode="categorical", **kwargs):
        """Batches resized to the model's input size: a `DirectoryIterator` over the class folders
        of `path`, or, when `path` is a table of file names and labels (`vggcourse.labels`), a
        `DataFrameIterator` over it (`directory=` the folder the names are in).

            batches = vgg.get_batches("data/dogscats/train", batch_size=64)
            batches = vgg.get_batches(train_df, directory="data/redux/train", batch_size=64)
        """
        from vggcourse.image import ImageDataGenerator

        gen = ImageDataGenerator() if gen is None else gen
        flow = gen.flow_from_dataframe if hasattr(path, "columns") else gen.flow_from_directory
        return flow(path, target_size=self.size, class_mode=class_mode, shuffle=shuffle, batch_size=batch_size, **kwargs)

    # -- prediction ------------------------------------------------------------------------------

    def predict(self, imgs, details=False):
        """(top probability, top class index, top class name) per image, as the course's `predict`.

        `details` is accepted as in the course, which returned the same three values either way;
        every class's probability is `vgg.model.predict(imgs)`.
        """
        probs = np.asarray(self.model.predict(imgs, verbose=0))
        idxs = np.argmax(probs, axis=1)
        preds = probs[np.arange(len(idxs)), idxs]
        return preds, idxs, [self.classes[i] for i in idxs]

    def test(self, path, batch_size=8, tta=0, gen=None):
        """(batches, predictions) for every image under `path`, in `batches.filenames` order.

        `path` may hold class folders (e.g. `test/` with `unknown/` inside) or the images
        themselves. `tta=n` averages the plain predictions with `n` augmented passes (test-time
        augmentation): flips, small shifts and zooms, or the `ImageDataGenerator` given as `gen`.

            test_batches, probs = vgg.test("data/dogscats/test", tta=4)
        """
        batches = self.get_batches(path, shuffle=False, batch_size=batch_size, class_mode=None)
        return batches, self.predict_in_order(batches, tta=tta, gen=gen)

    def predict_in_order(self, batches, tta=0, gen=None):
        """Probabilities for every file of `batches`, in `batches.filenames` order (see `test`):
        `gen` only shapes the `tta` augmented passes; the plain pass is never augmented."""
        return features.predict_in_order(self.model, batches, tta=tta, gen=gen if tta else None)

    # -- fine-tuning -----------------------------------------------------------------------------

    def ft(self, num):
        """Replace the last layer by an untrained `num`-way softmax, freeze every other layer, compile.

        `classes` becomes '0' .. str(num - 1) (ImageNet's names no longer fit), and the model is tied
        to no class folder names; `finetune(batches)` names them after the class folders instead.

            vgg.ft(3); vgg.classes   # ['0', '1', '2']
        """
        if not self.include_top:
            raise UserInputError("ft() replaces the 1000-way softmax; build the model with include_top=True.")
        num = checks.whole_number("num", num, least=1, what="of classes, at least 1", caller="ft")
        model = self.model
        model.pop()
        for layer in model.layers:
            layer.trainable = False
        with devices.model_scope():
            model.add(layers.Dense(num, activation="softmax", name="predictions", dtype="float32"))
        self.classes = [str(i) for i in range(num)]
        self.model.class_names = None  # trained on no named classes yet: any batches' names may train it
        self.compile()

    def finetune(self, batches):
        """`ft(batches.num_classes)` and take the batches' class names, in label order, as `classes`."""
        if not hasattr(batches, "num_classes") or not hasattr(batches, "class_indices"):
            raise UserTypeError(f"finetune: `batches` must be the training batches, "
                                f"vgg.get_batches(path). Received: {batches!r}")
        if batches.num_classes < 2:
            raise UserInputError(
                f"{getattr(batches, 'directory', 'the batches')} has {batches.num_classes} class folder(s) "
                f"({', '.join(batches.class_indices) or 'none'}); a classifier needs at least two: one "
                f"sub-folder per class (cats/, dogs/). `vggcourse verify` lists such problems.")
        self.ft(batches.num_classes)
        self.classes = sorted(batches.class_indices, key=batches.class_indices.get)
        self.model.class_names = tuple(self.classes)

    def compile(self, lr=0.001):
        """Adam at learning rate `lr`, categorical cross-entropy, accuracy.

        The optimizer is `vggcourse.optimizers.Adam`: Keras' Adam that also takes the course's
        `optimizer.lr = x` and layer-wise rates.
        """
        with devices.model_scope():
            self.model.compile(
                optimizer=optimizers.Adam(learning_rate=lr),
                loss="categorical_crossentropy",
                metrics=["accuracy"],
            )

    def set_lr(self, lr):
        """Set the learning rate, keeping the optimizer's state: a number, or `slice(low, high)`.

        A slice gives the lowest trainable layer `low`, the top `high`, geometric in between
        (layer-wise rates); `slice(x)` alone is refused: write `slice(x / 10, x)`. Numpy scalars are
        rates too. The course wrote `vgg.model.optimizer.lr = 0.01`; that works too.
        """
        if not self.model.compiled:
            raise UserInputError("set_lr() needs a compiled model: call vgg.compile() or vgg.finetune() first.")
        training.set_learning_rate(self.model, lr)

    def unfreeze(self, from_layer, train_bn=False):
        """Train `from_layer` ('fc1', 'block5_conv1' or an index, -1 the top layer) and every layer
        above it; returns the name of that first trained layer ('fc1').

        Layers below stay frozen, and their output is what the feature cache keeps (after
        `unfreeze('fc1')`, the conv output: lessons 2 and 3's precompute, automatically).
        BatchNormalization stays in inference mode unless `train_bn=True`. Recompiles, keeping
        the learning rate.

            vgg.unfreeze("fc1"); vgg.fit(batches, val_batches, lr=slice(1e-5, 1e-3))
        """
        if not self.model.compiled:
            self.compile()
        return self.model.layers[training.unfreeze(self.model, from_layer, train_bn=train_bn)].name

    def fit(self, batches, val_batches=None, nb_epoch=1, epochs=None, lr=None, cache=True, **kwargs):
        """Train for `nb_epoch` (or `epochs`) passes over every image of `batches`.

        Validates on every image of `val_batches`; `lr` (a number or `slice(low, high)`, see
        `set_lr`) sets the learning rate first; other keyword arguments go to `keras.Model.fit`
        (callbacks see `vgg.model`). Returns its History. With a frozen body and no augmentation
        the frozen layers run once per image (`vggcourse.features`); `cache=False` runs the whole
        model every epoch.
        """
        epochs, val_batches = self._fit_arguments(batches, val_batches, nb_epoch, epochs, kwargs, "fit")
        if lr is not None:
            self.set_lr(lr)
        return self.model.fit(batches, validation_data=val_batches, epochs=epochs, cache=cache, **kwargs)

    def fit_one_cycle(self, batches, val_batches=None, nb_epoch=1, max_lr=1e-3, cache=True, epochs=None,
                      **kwargs):
        """`fit` with the one-cycle policy: the rate warms up to `max_lr`, then anneals (cosine).

        Adam's beta_1 moves the other way (0.95 -> 0.85 -> 0.95). `max_lr` may be a slice for
        layer-wise rates. Afterwards (and in checkpoints written between epochs) the rate, beta_1
        and layer-wise rates are what they were before. Returns the History; the rates used are
        in `history.one_cycle.lrs`. See `training.fit_one_cycle`.

            vgg.fit_one_cycle(batches, val_batches, nb_epoch=3, max_lr=1e-3)
        """
        epochs, val_batches = self._fit_arguments(batches, val_batches, nb_epoch, epochs, kwargs,
                                                  "fit_one_cycle", least=1)
        return training.fit_one_cycle(self.model, batches, val_batches, epochs=epochs, max_lr=max_lr,
                                      cache=cache, **kwargs)

    def _fit_arguments(self, batches, val_batches, nb_epoch, epochs, kwargs, caller, least=0):
        """(epochs, validation batches) for `fit`-like methods, after checking them; compiles if
        needed and sets Keras' `shuffle` off (the batches shuffle their own files each epoch, or
        keep them in order; Keras' batch-order shuffle would only defeat their read-ahead)."""
        name = "nb_epoch" if epochs is None else "epochs"
        epochs = checks.epochs(name, nb_epoch if epochs is None else epochs, least=least)
        training.check_initial_epoch(kwargs, epochs, caller)
        if val_batches is None:  # Keras' spelling works too
            val_batches = kwargs.pop("validation_data", None)
        training.check_labelled_batches(batches, caller, self.model)
        if val_batches is not None and not isinstance(val_batches, (tuple, list)):
            training.check_labelled_batches(val_batches, caller, self.model, name="val_batches")
        kwargs.setdefault("shuffle", False)
        if not self.model.compiled:
            self.compile()
        return epochs, val_batches

    def lr_find(self, batches, start_lr=1e-7, end_lr=10, num_it=100, cache=True):
        """Smith's learning-rate range test; weights and optimizer state are left as they were.

        Returns an object with `lrs`, `losses`, `suggestion` (steepest descent of the smoothed
        loss) and `plot()` (a matplotlib Figure).

            found = vgg.lr_find(batches); found.plot(); vgg.set_lr(found.suggestion)
        """
        if not self.model.compiled:
            self.compile()
        return training.lr_find(self.model, batches, start_lr=start_lr, end_lr=end_lr,
                                num_it=num_it, cache=cache)

    def fit_data(self, trn, labels, val, val_labels, nb_epoch=1, batch_size=64):
        """`fit` on in-memory arrays: images `trn` with one-hot `labels`, validated on `val`."""
        nb_epoch = checks.epochs("nb_epoch", nb_epoch, caller="fit_data")
        batch_size = checks.whole_number("batch_size", batch_size, least=1, caller="fit_data")
        if not self.model.compiled:
            self.compile()
        return self.model.fit(
            trn, labels, validation_data=(val, val_labels), epochs=nb_epoch, batch_size=batch_size
        )

    # -- saving ----------------------------------------------------------------------------------

    def save(self, path, include_optimizer=True):
        """Save the whole model and `classes` to a `.keras` file (loads with `Vgg16.load`,
        `Resnet50.load`: the class that saved it).

        `include_optimizer=False` leaves out the optimizer's state (Adam keeps two numbers per
        trained weight, so after training the dense layers the file is about half the size);
        training a loaded model then starts a fresh optimizer.

            vgg.save("ft.keras"); vgg = Vgg16.load("ft.keras")
        """
        path = Path(path)
        if path.suffix != ".keras":
            raise UserInputError(f"`path` must end in '.keras'. Received: path={str(path)!r}")
        meta = {"classes": list(self.classes), "batch_norm": self.batch_norm, "include_top": self.include_top,
                "model": type(self).__name__}

        def write(tmp):
            self.model.save(tmp, include_optimizer=include_optimizer)  # `ModelCore.save`
            with zipfile.ZipFile(tmp, "a") as archive:
                archive.writestr(_META_NAME, json.dumps(meta))

        write_atomically(path, write, suffix=".keras")  # Keras only saves to a .keras name
        return path

    @classmethod
    def load(cls, path):
        """A `Vgg16` (or `Vgg16BN`; a `Resnet50` for `Resnet50.load`) from a `.keras` file written by
        `save` or a `ModelCheckpoint`, or a `keras.applications.VGG16` (`ResNet50`) model's (taking
        RGB 0-255 images: preprocessing included).

        Loaded with safe_mode=True. The model must take RGB images (h, w, 3) and give one
        probability per class; a file that is not a complete `.keras` archive, or holds another
        kind of model (a `Resnet50`'s for `Vgg16.load`), is an error naming the file.
        """
        path, name = Path(path), cls.__name__
        if path.is_dir():
            raise UserInputError(f"{str(path)!r} is a folder; pass a .keras file written by {name}.save, "
                                 f"`vggcourse finetune` or a ModelCheckpoint")
        if not path.is_file():
            raise InputFileNotFoundError(f"no model file at {str(path)!r}; pass a .keras file written by "
                                         f"{name}.save, `vggcourse finetune` or a ModelCheckpoint")
        if not zipfile.is_zipfile(path):
            raise UserInputError(f"{path} is not a .keras model file (not a zip archive: truncated, damaged "
                                 f"or another kind of file); save the model again with {name}.save")
        damaged = (zipfile.BadZipFile, json.JSONDecodeError, OSError, EOFError, KeyError)

        def damaged_file(error):
            return UserInputError(f"{path} is a damaged .keras file ({type(error).__name__}: {error}); "
                                  f"save the model again with {name}.save")

        try:
            with zipfile.ZipFile(path) as archive:
                meta = json.loads(archive.read(_META_NAME)) if _META_NAME in archive.namelist() else {}
        except damaged as error:
            raise damaged_file(error) from error
        kind = cls._loaded_class(meta)  # before the weights are read: another class's file is refused at once
        if meta.get("model", kind.__name__) != kind.__name__:
            raise UserInputError(f"{path} holds a {meta['model']}, which {name}.load does not read; load it "
                                 f"with {meta['model']}.load. Received: {name}.load({str(path)!r})")
        try:
            with warnings.catch_warnings():  # a file saved without its optimizer state is complete
                warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                model = keras.saving.load_model(path, safe_mode=True)
        except damaged as error:
            raise damaged_file(error) from error
        include_top = meta.get("include_top", True)
        if not isinstance(model, keras.Sequential):
            model, include_top = _from_keras_applications(path, model, cls)
        shape = getattr(model, "input_shape", None)
        if shape is None or len(shape) != 4 or shape[-1] != 3:
            raise UserInputError(f"{path} holds a model taking inputs of shape {shape}; {name}.load needs "
                                 f"one that takes RGB images (None, height, width, 3), as {name}.save writes")
        n_out = model.output_shape[-1]
        classes = meta.get("classes") or list(getattr(model, "class_names", None) or ())
        if classes and len(classes) != n_out:
            raise UserInputError(f"{path} names {len(classes)} classes but its model has {n_out} outputs; "
                                 f"the file was edited or damaged: save the model again with {name}.save")
        last = model.layers[-1] if model.layers else None
        if getattr(last, "activation", None) is not keras.activations.softmax:
            raise UserInputError(f"{path}: the model's last layer ({getattr(last, 'name', None)}) does not "
                                 f"output probabilities (no softmax), so it is not a classifier {name} can use")
        obj = cls.__new__(kind)
        obj.model = model
        obj.size = tuple(model.input_shape[1:3])
        obj.include_top = include_top
        obj.classes = classes or (imagenet_class_names() if n_out == 1000 else [str(i) for i in range(n_out)])
        return obj

    @classmethod
    def _loaded_class(cls, meta):
        """The class `load` makes of a file whose saved settings are `meta` ({} for a file Keras
        wrote): `cls` itself; `Vgg16` chooses by `batch_norm`."""
        return cls

    @staticmethod
    def _build_plain(size, include_top, classes):
        """The model `load` copies a `keras.applications` file's weights into (see `keras_name`)."""
        raise NotImplementedError

    def save_weights(self, name):
        """Save the weights to any `.h5` name (the course's 'ft1.h5'), atomically; see `load_weights`."""
        return weights_lib.save_weights(self.model, name)

    def load_weights(self, name):
        """Load weights saved by `save_weights` (or any file `Vgg16(weights=...)` accepts)."""
        weights_lib.load_weights(self.model, name)
