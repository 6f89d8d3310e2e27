"""The course's models: `Vgg16` / `Vgg16BN` and `Resnet50` over one base, `CourseModel`;
`vgg.model`'s class `VggSequential` and its core.

    vgg = Vgg16()                                   # ImageNet weights, 224x224, 1000 classes
    batches = vgg.get_batches(path + "train", batch_size=64)
    val_batches = vgg.get_batches(path + "valid", batch_size=64)
    vgg.finetune(batches)
    vgg.fit(batches, val_batches, nb_epoch=1)

The model takes RGB images with values 0-255: its first layer, `VggPreprocess`, subtracts the
ImageNet mean and reorders to BGR. The layers come from `vggcourse.architecture.build_vgg16`;
their names follow `keras.applications.VGG16`, so Keras' published weights load by name.
`Resnet50` is the same helpers on `vggcourse.resnet_architecture.build_resnet50` (the course's
`resnet50.py`); `CourseModel` owns everything the two share (batches, fine-tuning, fit, predict,
test, save and load).
`ModelCore` is the model's core (compile with loss scaling, compile-from-config, the course's
weight files), shared with `vggcourse.keras1.Model`; this module does not import `keras1`.
"""
import inspect
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np
from keras import layers

from vggcourse import architecture, checks, devices, features, resnet_architecture, training
from vggcourse import optimizers  # also registers the optimizer classes for load_model
from vggcourse import weights as weights_lib
from vggcourse._atomic import write_atomically
from vggcourse._keras1_methods import Keras1Methods
from vggcourse.architecture import IMAGENET_SIZE, MIN_SIDE, VGG16_BLOCKS
from vggcourse.errors import InputFileNotFoundError, UserInputError, UserTypeError
from vggcourse.preprocessing import imagenet_class_names

__all__ = ["VGG16_BLOCKS", "ModelCore", "VggSequential", "build_vgg16", "build_resnet50", "CourseModel", "Vgg16",
           "Vgg16BN", "Resnet50"]

_META_NAME = "vggcourse.json"  # extra entry inside a saved .keras archive

def _course_h5(filepath):
    """True for the course's plain '.h5' names ('ft1.h5'), not Keras 3's '.weights.h5'."""
    name = os.fspath(filepath)
    return name.endswith(".h5") and not name.endswith(".weights.h5")


def _nested(model):
    return any(isinstance(layer, keras.Model) for layer in model.layers)


def _unused_optimizer(optimizer):
    """`optimizer`, or a fresh copy sharing its learning-rate variable if it already trained a model.

    Keras 1 let one optimizer object train several models in turn (lesson 3 compiles three models
    with one `opt`); a Keras 3 optimizer only updates the variables it first trained. The copy
    shares `lr`, so `K.set_value(opt.lr, x)` on the original still sets the rate of every model.
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer) or not optimizer.built:
        return optimizer
    fresh = type(optimizer).from_config(optimizer.get_config())
    optimizers.share_learning_rate(optimizer, fresh)
    return fresh


def _unknown_settings(spec):
    """The keys of a serialized optimizer's config (`spec`) that its class, as this Keras builds
    it, does not know; [] when it has none or its class cannot be built at all (Keras then says why)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        return []
    try:
        default = keras.saving.deserialize_keras_object({**spec, "config": {}})
    except (TypeError, ValueError):
        return []
    known = set(default.get_config())  # and what a constructor takes but writes only when set
    for cls in type(default).__mro__:
        if "__init__" in vars(cls):
            known.update(inspect.signature(cls.__init__).parameters)
    return sorted(set(spec["config"]) - known)


class ModelCore:
    """The course's model core, for a class that also derives from `keras.Model`: `vgg.model`'s
    `compile` (with loss scaling), `compile_from_config` and weight files.

    * `compile`: an optimizer given by name ('adam', 'rmsprop', 'sgd') is `vggcourse.optimizers`'
      (its `lr` reads and sets the rate); one that already trained another model is copied, sharing
      its rate (Keras 1 let one optimizer train several models); under `mixed_float16` it is
      wrapped in `optimizers.LossScaleOptimizer`.
    * `save_weights` / `load_weights` also take the course's plain '.h5' names, and every load is
      all or nothing (`vggcourse.weights`).

        class MyModel(ModelCore, keras.Sequential): ...
        model.compile("adam", "categorical_crossentropy")
        model.save_weights("ft1.h5"); model.load_weights("ft1.h5")
    """

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        """Keras 3's `compile`, with the course's optimizers (see the class)."""
        if isinstance(optimizer, str):
            optimizer = optimizers.get(optimizer)
        optimizer = optimizers.loss_scaled(_unused_optimizer(optimizer), self.dtype_policy)
        return super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        """Recompile a loaded model (Keras skips models whose `compile` is overridden, as here).

        Settings of the saved optimizer that this Keras does not know (a file from another
        version: "foo": 1) are left out, with one warning naming them: the model loads for
        prediction, and its optimizer keeps its other settings and state for training.
        """
        config = dict(config)
        spec = config.get("optimizer")
        unknown = _unknown_settings(spec)
        if unknown:
            config["optimizer"] = {**spec, "config": {k: v for k, v in spec["config"].items() if k not in unknown}}
            warnings.warn(f"vggcourse: the saved optimizer's settings {', '.join(map(repr, unknown))} are unknown "
                          f"to Keras {keras.__version__} and left out; the model and the optimizer's other "
                          f"settings and state are loaded.", UserWarning, stacklevel=2)
        self.compile(**keras.saving.deserialize_keras_object(config))
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def save(self, filepath, overwrite=True, zipped=None, include_optimizer=True, **kwargs):
        """Keras 3's `save`, which never writes a file that cannot be loaded back.

        `include_optimizer=False` leaves out the optimizer's state (Keras 3 alone ignores it for
        `.keras` files). An optimizer whose state belongs to other variables (layers added or
        removed since `compile`, e.g. `model.pop(); model.add(Dense(3))`) is left out too, with one
        warning: Keras would write it and then fail to load the file. Every save goes through here,
        a `ModelCheckpoint`'s included.

            model.save("ft.keras"); model.save("lean.keras", include_optimizer=False)
        """
        optimizer = getattr(self, "optimizer", None)
        stale = optimizer is not None and not optimizers.state_fits(optimizer, self.trainable_variables)
        if stale and include_optimizer:
            warnings.warn("vggcourse: the model is saved without its optimizer's state, which belongs to "
                          "its layers before they changed; call compile() (vgg.compile()) after changing "
                          "layers to keep it.", UserWarning, stacklevel=2)
        if optimizer is None or not (stale or not include_optimizer):
            return super().save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)
        self.optimizer = None  # Keras 3 saves whatever optimizer the model holds
        try:
            return super().save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)
        finally:
            self.optimizer = optimizer

    def save_weights(self, filepath, overwrite=True, **kwargs):
        """Keras 3's `save_weights`, also to the course's plain '.h5' names ('finetune1.h5').

        A chain of layers is written layer by layer, by name (`vggcourse.weights`); a model
        holding other models in Keras 3's own layout. Both load with `load_weights`.
        """
        if not _course_h5(filepath):
            return super().save_weights(filepath, overwrite=overwrite, **kwargs)
        if not _nested(self):
            weights_lib.save_weights(self, filepath)
            return None
        path = Path(filepath)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            staged = Path(tmp) / "model.weights.h5"
            super().save_weights(staged, overwrite=True, **kwargs)
            os.replace(staged, path)
        return None

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Keras 3's `load_weights`, all or nothing, also from the course's plain '.h5' names (any
        file `vggcourse.weights.load_weights` reads: by layer name, or by order as Keras 1 did)."""
        if not _course_h5(filepath):  # Keras' own file: all or nothing, the model unchanged on failure
            weights_lib.load_weights_atomically(self, filepath, lambda p: super(ModelCore, self).load_weights(
                p, skip_mismatch=skip_mismatch, **kwargs))
            return None
        if not Path(filepath).is_file():
            raise InputFileNotFoundError(f"load_weights: no weight file at {str(filepath)!r}")
        weights_lib.load_weights(self, filepath, skip_mismatch=skip_mismatch, **kwargs)
        return None


@keras.saving.register_keras_serializable(package="vggcourse")
class VggSequential(Keras1Methods, ModelCore, features.CachedSequential):
    """`vgg.model`: a `keras.Sequential` with the model core, the feature cache and Keras 1's methods.

    `fit`, `evaluate` and `predict` run the frozen bottom once per image where that applies
    (`features.CachedSequential`); `compile`, `save_weights` and `load_weights` are `ModelCore`'s
    (the course's plain '.h5' names, all-or-nothing loads); Keras 1's `fit_generator`,
    `predict_generator`, `evaluate_generator`, `predict_classes` and `nb_epoch=` call them
    (`Keras1Methods`). `vggcourse.keras1.Sequential` is this class under Keras 1's name.

        vgg.model.save_weights("ft1.h5"); vgg.model.load_weights("ft1.h5")
    """

    # The class names travel in the model's config, so a file that Keras itself wrote
    # (a ModelCheckpoint, model.save) still knows them: `Vgg16.load` reads them back.
    class_names = None

    def get_config(self):
        config = super().get_config()
        if self.class_names:
            config["class_names"] = list(self.class_names)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        class_names = config.pop("class_names", None)
        model = super().from_config(config, custom_objects=custom_objects)
        model.class_names = tuple(class_names) if class_names else None
        return model


def build_vgg16(size=IMAGENET_SIZE, include_top=True, batch_norm=False, classes=1000):
    """`architecture.build_vgg16` as a `VggSequential` (the cached fit, the course's weight files)."""
    return architecture.build_vgg16(size, include_top, batch_norm, classes, sequential=VggSequential)


def build_resnet50(size=IMAGENET_SIZE, include_top=True, classes=1000):
    """`resnet_architecture.build_resnet50` as a `VggSequential` (the cached fit, the course's weight files)."""
    return resnet_architecture.build_resnet50(size, include_top, classes, sequential=VggSequential)


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


def _checked_weights(weights):
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
        """A `DirectoryIterator` over the class folders of `path`, resized to the model's input size."""
        from vggcourse.image import ImageDataGenerator

        gen = ImageDataGenerator() if gen is None else gen
        return gen.flow_from_directory(
            path, target_size=self.size, class_mode=class_mode, shuffle=shuffle, batch_size=batch_size, **kwargs
        )

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
        """Replace the last layer by an untrained `num`-way softmax, freeze every other layer, compile."""
        if not self.include_top:
            raise UserInputError("ft() replaces the 1000-way softmax; build the model with include_top=True.")
        num = checks.whole_number("num", num, least=1, what="of classes, at least 1", caller="ft")
        model = self.model
        model.pop()
        for layer in model.layers:
            layer.trainable = False
        with devices.model_scope():
            model.add(layers.Dense(num, activation="softmax", name="predictions", dtype="float32"))
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
        try:
            with zipfile.ZipFile(path) as archive:
                meta = json.loads(archive.read(_META_NAME)) if _META_NAME in archive.namelist() else {}
            with warnings.catch_warnings():  # a file saved without its optimizer state is complete
                warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                model = keras.saving.load_model(path, safe_mode=True)
        except (zipfile.BadZipFile, json.JSONDecodeError, OSError, EOFError, KeyError) as error:
            raise UserInputError(f"{path} is a damaged .keras file ({type(error).__name__}: {error}); "
                                 f"save the model again with {name}.save") from error
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
        kind = cls._loaded_class(meta)
        if meta.get("model", kind.__name__) != kind.__name__:
            raise UserInputError(f"{path} holds a {meta['model']}, which {name}.load does not read; load it "
                                 f"with {meta['model']}.load. Received: {name}.load({str(path)!r})")
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


class Vgg16(CourseModel):
    """The course's VGG16 ImageNet model and its fine-tuning helpers (`CourseModel`'s).

    Args:
        weights: 'imagenet' (Keras' published file, downloaded once and md5-checked; see
            `vggcourse.weights`), a path to an `.h5` weight file (Keras', the course's Keras 1 /
            Theano `vgg16.h5`, or one from `save_weights`), or None for random initialisation.
        size: (height, width) of the input images.
        include_top: keep the dense layers and the 1000-way softmax; False stops after block5_pool.
    """

    batch_norm = False
    keras_name = "VGG16"

    def __init__(self, weights="imagenet", size=IMAGENET_SIZE, include_top=True):
        size = checks.size_pair("size", size, least=MIN_SIDE)
        weights = _checked_weights(weights)
        if weights == "imagenet" and include_top and size != IMAGENET_SIZE:
            raise UserInputError(
                f"weights='imagenet' with include_top=True needs size={IMAGENET_SIZE}: the dense layers "
                f"were trained on 224x224 images. Received: size={size}. Use include_top=False for other sizes."
            )
        self.size = size
        self.include_top = bool(include_top)
        if weights == "imagenet":
            weights = weights_lib.fetch_weights(weights_lib.weights_key(self.batch_norm, include_top))
        with devices.model_scope():  # several devices after devices.use_all_devices()
            self.model = build_vgg16(size, include_top, self.batch_norm)
        self.classes = imagenet_class_names() if include_top else []
        if weights is not None:  # a failed load raises out of __init__: no undo copy needed
            weights_lib.load_weights(self.model, weights, atomic=False)

    @classmethod
    def _loaded_class(cls, meta):
        return Vgg16BN if meta.get("batch_norm", cls.batch_norm) else Vgg16

    @staticmethod
    def _build_plain(size, include_top, classes):
        return build_vgg16(size, include_top, classes=classes)

class Vgg16BN(Vgg16):
    """`Vgg16` with BatchNormalization after each hidden dense layer (the course's `vgg16bn.py`).

    weights='imagenet' loads the course's `vgg16_bn.h5` (`vgg16_bn_conv.h5` without the top) from
    the Keras cache or `$VGGCOURSE_WEIGHTS_URL`; it has no published hash and is checked
    structurally (every layer present, every shape exact). After `finetune` the frozen BN layers
    run in inference mode (Keras 3 does this for BatchNormalization with trainable=False).
    """

    batch_norm = True


class Resnet50(CourseModel):
    """The course's ResNet50 ImageNet model (its `resnet50.py`), with `Vgg16`'s helpers.

    Args:
        size: (height, width) of the input images, at least 32 each.
        include_top: keep the global average pooling and the 1000-way softmax; False stops
            after the last residual block (`conv5_block3`, (h/32, w/32, 2048) features).
        weights: 'imagenet' (Keras' published `resnet50_weights_tf_dim_ordering_tf_kernels.h5`,
            or its `_notop` file: downloaded once, md5-checked, `$VGGCOURSE_WEIGHTS_URL` as for
            VGG16), a path to an `.h5` weight file (Keras', or one from `save_weights`), or None.

    `resnet.model` is a `VggSequential`: `preprocess` (the same Caffe-style input as VGG16's:
    ImageNet mean subtracted, BGR), the stem `conv1`, the residual blocks `conv2_block1` ...
    `conv5_block3` (each a small model: `vggcourse.resnet_architecture`), `avg_pool`,
    `predictions`. After `finetune` the frozen body runs once per image (the feature cache);
    `unfreeze('conv5_block1')` trains the last stage, its BatchNormalization kept in inference mode.

        resnet = Resnet50(size=(224, 224))
        resnet.finetune(resnet.get_batches("data/dogscats/train"))
        resnet.fit(batches, val_batches, nb_epoch=2)
    """

    keras_name = "ResNet50"

    def __init__(self, size=IMAGENET_SIZE, include_top=True, weights="imagenet"):
        size = checks.size_pair("size", size, least=resnet_architecture.RESNET_MIN_SIDE)
        weights = _checked_weights(weights)
        self.size = size
        self.include_top = bool(include_top)
        if weights == "imagenet":
            weights = weights_lib.fetch_weights("resnet50" if include_top else "resnet50_notop")
        with devices.model_scope():  # several devices after devices.use_all_devices()
            self.model = build_resnet50(size, include_top)
        self.classes = imagenet_class_names() if include_top else []
        if weights is not None:  # a failed load raises out of __init__: no undo copy needed
            weights_lib.load_weights(self.model, weights, atomic=False)

    @staticmethod
    def _build_plain(size, include_top, classes):
        return build_resnet50(size, include_top, classes)

    def unfreeze(self, from_layer, train_bn=False):
        """`CourseModel.unfreeze`, by block name ('conv5_block1', 'predictions') or index; the
        BatchNormalization layers inside the blocks stay in inference mode unless `train_bn=True`.

            resnet.unfreeze("conv5_block1"); resnet.fit(batches, val_batches)
        """
        name = super().unfreeze(from_layer, train_bn=train_bn)
        inner = [layer for block in self.model.layers if isinstance(block, keras.Model)
                 for layer in block.layers if isinstance(layer, layers.BatchNormalization) and layer.trainable]
        if inner and not train_bn:
            for layer in inner:
                layer.trainable = False
            training.recompile(self.model)
        return name
