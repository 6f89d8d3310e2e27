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
`resnet50.py`); `CourseModel` (`vggcourse.course_model`) owns everything they share (batches,
fine-tuning, fit, predict, test, save and load).
`ModelCore` is the model's core (compile with loss scaling, compile-from-config, the course's
weight files), shared with `vggcourse.keras1.Model`; this module does not import `keras1`.
"""
import inspect
import os
import tempfile
import warnings
from pathlib import Path

import keras

from vggcourse import architecture, checks, devices, features, resnet_architecture, training
from vggcourse import optimizers  # also registers the optimizer classes for load_model
from vggcourse import weights as weights_lib
from vggcourse._keras1_methods import Keras1Methods
from vggcourse.course_model import CourseModel, checked_weights
from vggcourse.architecture import IMAGENET_SIZE, MIN_SIDE, VGG16_BLOCKS
from vggcourse.errors import InputFileNotFoundError, UserInputError
from vggcourse.preprocessing import imagenet_class_names

__all__ = ["VGG16_BLOCKS", "ModelCore", "VggSequential", "VggModel", "build_vgg16", "build_resnet50", "CourseModel",
           "Vgg16", "Vgg16BN", "Resnet50", "load_course_model"]


def _course_h5(filepath):
    """True for a weight file of the course's: Keras 1 wrote HDF5 under any name ('ft1.h5', mnist's
    'cnn-mnist23-0.pkl'); Keras 3's own are '.weights.h5' (and '.keras', a whole model, to load from)."""
    name = os.fspath(filepath)
    return not name.endswith((".weights.h5", ".keras"))


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


def _every_output(metrics, model):
    """Keras 1's `metrics` on `model`: a flat list (['accuracy']) applies to every output of a
    model with several (Keras 3 wants one entry per output); a metric object is copied for each
    further output, so outputs never share a running total. Lists of lists and dicts by output
    name are Keras 3's per-output forms and pass as they are.

        _every_output(["accuracy"], two_output_model) == [["accuracy"], ["accuracy"]]
    """
    n_outputs = 1 if isinstance(model, keras.Sequential) else len(getattr(model, "outputs", None) or ())
    if n_outputs < 2 or not isinstance(metrics, (list, tuple)) or any(
            isinstance(m, (list, tuple, dict)) for m in metrics):
        return metrics

    def fresh(metric):
        return type(metric).from_config(metric.get_config()) if isinstance(metric, keras.metrics.Metric) else metric

    return [list(metrics)] + [[fresh(m) for m in metrics] for _ in range(n_outputs - 1)]


class ModelCore:
    """The course's model core, for a class that also derives from `keras.Model`: `vgg.model`'s
    `compile` (with loss scaling), `compile_from_config` and weight files.

    * `compile`: an optimizer given by name ('adam', 'rmsprop', 'sgd') is `vggcourse.optimizers`'
      (its `lr` reads and sets the rate); one that already trained another model is copied, sharing
      its rate (Keras 1 let one optimizer train several models); under `mixed_float16` it is
      wrapped in `optimizers.LossScaleOptimizer`.
    * `compile(metrics=['accuracy'])` on a model with several outputs measures every output, as
      Keras 1 did (Keras 3 wants one entry per output; its per-output forms still work).
    * `fit` / `train_on_batch` train the layers trainable now, even when `trainable` changed
      after `compile` (Keras 1's behaviour), recompiling first.
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
        return super().compile(optimizer=optimizer, loss=loss, metrics=_every_output(metrics, self), **kwargs)

    def fit(self, *args, **kwargs):
        """Keras 3's `fit`, training the layers that are trainable now, as Keras 1 did (see
        `train_on_batch`)."""
        self._optimizer_for_trainable()
        return super().fit(*args, **kwargs)

    def train_on_batch(self, *args, **kwargs):
        """Keras 3's `train_on_batch`, training the layers that are trainable now.

        After `layer.trainable` changes without a `compile`, Keras 3 would fail ("Unknown
        variable") or keep training the old set; here the model is recompiled first
        (`training.recompile`: same loss, metrics, settings and rate, the rate still shared with the
        optimizer given to `compile`), with one warning that the optimizer's state starts afresh.

            model.layers[0].trainable = False; model.fit(x, y)      # trains all but layer 0
        """
        self._optimizer_for_trainable()
        return super().train_on_batch(*args, **kwargs)

    def _optimizer_for_trainable(self):
        """Recompile when the optimizer's state belongs to another set of trainable variables."""
        old = getattr(self, "optimizer", None)
        if old is None or optimizers.state_fits(old, self.trainable_variables):
            return
        warnings.warn("vggcourse: the trainable layers changed since the optimizer was built; training "
                      "them with a fresh optimizer state (call compile() after setting `trainable` to "
                      "choose the optimizer).", UserWarning, stacklevel=3)
        training.recompile(self)
        optimizers.share_learning_rate(optimizers.unwrap(old), optimizers.unwrap(self.optimizer))

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
        """Keras 3's `save_weights`, also to the course's plain names ('finetune1.h5', 'cnn-0.pkl': HDF5 as in Keras 1).

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


@keras.saving.register_keras_serializable(package="vggcourse")
class VggModel(Keras1Methods, ModelCore, keras.Model):
    """A functional `keras.Model` with Keras 1's methods and the model core: `VggSequential`'s
    counterpart for models with branches or several outputs (what `layers.copy_model` returns for
    a functional model; `vggcourse.keras1.Model` adds Keras 1's `input=`/`output=` keywords).

        model = VggModel(inp, [class_out, box_out]); model.compile(opt, loss, ["accuracy"])
    """


def build_vgg16(size=IMAGENET_SIZE, include_top=True, batch_norm=False, classes=1000):
    """`architecture.build_vgg16` as a `VggSequential` (the cached fit, the course's weight files)."""
    return architecture.build_vgg16(size, include_top, batch_norm, classes, sequential=VggSequential)


def build_resnet50(size=IMAGENET_SIZE, include_top=True, classes=1000):
    """`resnet_architecture.build_resnet50` as a `VggSequential` (the cached fit, the course's weight files)."""
    return resnet_architecture.build_resnet50(size, include_top, classes, sequential=VggSequential)


def _check_size(size, caller, least=MIN_SIDE):
    """`size` as (height, width) for a model's constructor; a weight file or None given first (where
    this package once took `weights`) is refused saying to pass it as `weights=`."""
    if size is None or isinstance(size, (str, os.PathLike)):
        raise UserInputError(f"{caller}: `size` must be (height, width), the first argument as in the course "
                             f"(`{caller}((224, 224))`); pass a weight file or None as `weights=`. "
                             f"Received: size={size!r}")
    return checks.size_pair("size", size, least=least, caller=caller)


class Vgg16(CourseModel):
    """The course's VGG16 ImageNet model and its fine-tuning helpers (`CourseModel`'s).

    Args (in the course's order, so `Vgg16BN((360, 640), include_top=False)` works):
        size: (height, width) of the input images.
        include_top: keep the dense layers and the 1000-way softmax; False stops after block5_pool.
            None (the default) is True, except with weights='imagenet' at a size other than
            224x224: the published dense layers only fit 224x224 images, so the model stops after
            block5_pool, as the course's `Vgg16BN((360, 640))` did.
        weights: 'imagenet' (Keras' published file, downloaded once and md5-checked; see
            `vggcourse.weights`), a path to an `.h5` weight file (Keras', the course's Keras 1 /
            Theano `vgg16.h5`, or one from `save_weights`), or None for random initialisation.
    """

    batch_norm = False
    keras_name = "VGG16"

    def __init__(self, size=IMAGENET_SIZE, include_top=None, weights="imagenet"):
        size = _check_size(size, type(self).__name__)
        weights = checked_weights(weights)
        if include_top is None:
            include_top = weights != "imagenet" or size == IMAGENET_SIZE
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
        size = _check_size(size, type(self).__name__, least=resnet_architecture.RESNET_MIN_SIDE)
        weights = checked_weights(weights)
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


def load_course_model(path):
    """The course's model saved at `path`, whichever it is: a `Vgg16` (`Vgg16BN`), else a
    `Resnet50`; `Vgg16.load`'s error naming the file when neither loads it.

        vgg = load_course_model("runs/ft/best.keras")   # what `vggcourse serve` / `export` load
    """
    try:
        return Vgg16.load(path)
    except UserInputError as vgg_error:
        try:
            return Resnet50.load(path)
        except UserInputError:
            raise vgg_error from None
