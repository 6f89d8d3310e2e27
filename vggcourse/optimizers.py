"""Keras 3 optimizers that also speak the course's Keras 1 and train layers at different rates.

    from vggcourse.optimizers import Adam, RMSprop
    opt = RMSprop(lr=0.1)             # Keras 1's `lr=`; `learning_rate=` works too
    opt.lr = 0.01                      # really sets the rate (Keras 3 alone ignores `opt.lr = ...`)
    K.set_value(opt.lr, 0.01)          # `opt.lr` is the learning-rate variable
    opt.lr.set_value(0.01)             # Keras 1 on Theano: a shared variable's set_value / get_value

Each class is the `keras.optimizers` class of the same name plus three things:
- `lr` (Keras 1): a keyword alias of `learning_rate`, and a property whose value is the
  learning-rate variable; assigning a number to it sets the rate.
- `decay` (Keras 1): the rate at update t is `lr / (1 + decay * t)`; 0 (the default) is off.
- a learning-rate scale per trained variable (`set_rate_scales`), for layer-wise rates such as
  `vgg.fit(..., lr=slice(1e-5, 1e-3))`. The scale multiplies the rate handed to each variable's
  update, so it works for every optimizer and backend. (Scaling the gradients instead would do
  nothing with Adam or RMSprop, whose steps do not depend on the gradient's scale.)

`Adam`'s `beta_1` can change between steps (it is a variable once the optimizer is built), which
`fit_one_cycle` uses to cycle the momentum against the rate. `schedulable`, `get_hyper`,
`set_hyper`, `save_settings` and `restore_settings` are the one way the rest of the package reads,
sets and puts back the rate and beta_1 (`training.ParamScheduler` uses them).

Under the `mixed_float16` policy Keras wraps the optimizer in a `LossScaleOptimizer`; `unwrap`
gives the one inside, and this module's `LossScaleOptimizer` (which `vgg.model.compile` uses)
also takes the course's `opt.lr = x`.
"""
import keras
from keras import ops

from vggcourse import checks
from vggcourse.errors import UserInputError, UserTypeError

__all__ = ["Adam", "AdamW", "LossScaleOptimizer", "RMSprop", "SGD", "get", "get_hyper", "loss_scaled",
           "SCHEDULABLE", "restore_settings", "save_settings", "schedulable", "set_hyper", "share_learning_rate", "state_fits",
           "unwrap"]


def _checked_rate(value):
    """What `opt.lr = value` sets: a schedule as it is, else a positive number (numpy scalars
    too; True, 0 and nan refused, naming `lr`)."""
    if callable(value) or isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return value
    return checks.positive_number("lr", value)


def _theano_methods(rate):
    """`rate` (the learning-rate variable) with the two methods of the Theano shared variable that
    Keras 1's `opt.lr` was on Theano: `get_value()` and `set_value(x)` (lesson 6 calls
    `model.optimizer.lr.set_value(0.01)`); `set_value` checks `x` as `opt.lr = x` does. A schedule
    is returned as it is."""
    if isinstance(rate, keras.Variable) and not hasattr(rate, "set_value"):
        rate.set_value = lambda value: rate.assign(checks.positive_number("lr", value))
        rate.get_value = lambda: ops.convert_to_numpy(rate)
    return rate


class _CourseOptimizer:
    """Mixin over a `keras.optimizers.Optimizer` class: `lr`, `decay` and per-variable rate scales."""

    def __init__(self, *args, lr=None, decay=0.0, layerwise_range=None, **kwargs):
        if lr is not None:
            if args or "learning_rate" in kwargs:
                raise UserTypeError(f"{type(self).__name__}: pass the learning rate once, as `lr` (Keras 1) "
                                f"or `learning_rate` (Keras 3), not both. Received: lr={lr!r}")
            kwargs["learning_rate"] = lr
        decay = checks.non_negative_number("decay", decay)  # Keras 1's per-update rate decay
        super().__init__(*args, **kwargs)
        self.decay = decay
        # (low, high) of the last `set_learning_rate(model, slice(low, high))`, kept so that a
        # recompile (after `unfreeze`) spreads the same rates over the layers that then train.
        self.layerwise_range = tuple(layerwise_range) if layerwise_range else None
        self._pending_scales = {}  # variable key -> scale, set before the optimizer is built
        self._rate_scales = None

    # -- Keras 1 --------------------------------------------------------------------------------

    @property
    def lr(self):
        """The learning rate: its variable (Keras 1's `K.get_value(opt.lr)` reads it, Theano's
        `opt.lr.set_value(x)` sets it)."""
        return _theano_methods(self.learning_rate)

    @lr.setter
    def lr(self, value):
        self.learning_rate = _checked_rate(value)

    # -- per-variable rates -----------------------------------------------------------------------

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        # Initial values, not assign(): Keras may build inside a scope where assignments are dropped.
        self._rate_scales = [
            self.add_variable(shape=(), name="lr_scale", initializer=keras.initializers.Constant(
                self._pending_scales.get(self._key(variable), 1.0)))
            for variable in var_list
        ]

    # Keras keeps the variables an optimizer was built for in the private `_trainable_variables_indices`,
    # keyed by `_var_key`: these two methods and `state_fits` are the only readers
    # (tests/test_optimizers.py pins them).
    def _key(self, variable):
        """Keras' key of `variable` (stable before and after build)."""
        return self._var_key(variable)

    def _slot(self, variable):
        """Index of `variable` among those this optimizer was built for, or None."""
        return self._trainable_variables_indices.get(self._key(variable)) if self.built else None

    def set_rate_scales(self, scales):
        """Scale the learning rate of each variable: `scales` is (variable, factor) pairs.

        Variables not named keep their current factor; `reset_rate_scales()` sets all to 1.

            opt.set_rate_scales([(v, 0.1) for v in model.get_layer("fc1").trainable_weights])
        """
        for variable, scale in scales:
            scale = checks.non_negative_number(f"scale of {getattr(variable, 'path', variable)}", scale,
                                               caller="set_rate_scales")
            slot = self._slot(variable)
            if slot is not None:
                self._rate_scales[slot].assign(scale)
            else:
                self._pending_scales[self._key(variable)] = scale

    def reset_rate_scales(self):
        """Every variable back to the plain learning rate."""
        self._pending_scales.clear()
        for scale in self._rate_scales or ():
            scale.assign(1.0)

    def rate_scale(self, variable):
        """The current factor on `variable`'s learning rate (1.0 unless set)."""
        slot = self._slot(variable)
        if slot is not None:
            return float(ops.convert_to_numpy(self._rate_scales[slot]))
        return self._pending_scales.get(self._key(variable), 1.0)

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        if self._rate_scales is not None:
            learning_rate = learning_rate * ops.cast(self._rate_scales[self._slot(variable)], variable.dtype)
        if self.decay:
            step = ops.cast(self.iterations, variable.dtype)
            learning_rate = learning_rate / (1.0 + self.decay * step)
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["decay"] = self.decay
        if self.layerwise_range:  # only then: files without a slice stay loadable by older versions
            config["layerwise_range"] = list(self.layerwise_range)
        return config


def _register(cls):
    return keras.saving.register_keras_serializable(package="vggcourse")(cls)


@_register
class Adam(_CourseOptimizer, keras.optimizers.Adam):
    """`keras.optimizers.Adam` with Keras 1's `lr`/`decay`, per-variable rates and a variable `beta_1`."""

    @property
    def beta_1(self):
        variable = self.__dict__.get("_beta_1_variable")
        return self._beta_1_value if variable is None else variable

    @beta_1.setter
    def beta_1(self, value):
        self._beta_1_value = float(value)
        variable = self.__dict__.get("_beta_1_variable")
        if variable is not None:
            variable.assign(self._beta_1_value)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._beta_1_variable = self.add_variable(
            shape=(), initializer=keras.initializers.Constant(self._beta_1_value), name="beta_1")

    def get_config(self):
        config = super().get_config()
        config["beta_1"] = self._beta_1_value
        return config


@_register
class AdamW(_CourseOptimizer, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with Keras 1's `lr`/`decay` and per-variable rates."""


@_register
class RMSprop(_CourseOptimizer, keras.optimizers.RMSprop):
    """`keras.optimizers.RMSprop` with Keras 1's `lr`/`decay` and per-variable rates."""


@_register
class SGD(_CourseOptimizer, keras.optimizers.SGD):
    """`keras.optimizers.SGD` with Keras 1's `lr`/`decay` and per-variable rates."""


@_register
class LossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """Keras' loss scaling for `mixed_float16`, with the course's `opt.lr` passed to the optimizer inside."""

    @property
    def lr(self):
        """The learning rate of the optimizer inside (Keras 1's `opt.lr`)."""
        return _theano_methods(self.inner_optimizer.learning_rate)

    @lr.setter
    def lr(self, value):
        self.inner_optimizer.learning_rate = _checked_rate(value)


def unwrap(optimizer):
    """The optimizer that does the updates: the one inside Keras' `LossScaleOptimizer`, else `optimizer`.

        unwrap(vgg.model.optimizer).set_rate_scales(...)
    """
    return getattr(optimizer, "inner_optimizer", optimizer)


def loss_scaled(optimizer, dtype_policy):
    """`optimizer` inside this module's `LossScaleOptimizer` when `dtype_policy` is `mixed_float16`
    (Keras would wrap it in its own, without `lr`); otherwise `optimizer` as it is.

        model.compile(optimizer=loss_scaled(Adam(), model.dtype_policy), ...)
    """
    policy = getattr(dtype_policy, "name", dtype_policy)
    if policy != "mixed_float16" or not isinstance(optimizer, keras.optimizers.Optimizer) \
            or isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return LossScaleOptimizer(optimizer)


# -- hyper-parameters that change between steps (what `training.ParamScheduler` sets) ---------------

def schedulable(optimizer):
    """The names of the hyper-parameters of `optimizer` that a callback can change between steps:
    'learning_rate' (unless it is a `LearningRateSchedule`), and 'beta_1' on this module's `Adam`
    (Keras' own bakes beta_1 into the traced step).

        schedulable(Adam())   # ('learning_rate', 'beta_1')
    """
    names = _changeable(optimizer)
    return names[1:] if isinstance(get_hyper(optimizer, "learning_rate"), dict) else names


SCHEDULABLE = ("learning_rate", "beta_1")  # what a schedule may name; `schedulable` says which one optimizer has


def _changeable(optimizer):
    return SCHEDULABLE if isinstance(unwrap(optimizer), Adam) else SCHEDULABLE[:1]


def get_hyper(optimizer, name):
    """The value of hyper-parameter `name` ('learning_rate', 'beta_1', ...) as `optimizer`'s config
    holds it: the number last set, exactly (a serialized schedule for a `LearningRateSchedule`).

        get_hyper(model.optimizer, "learning_rate")   # 0.001
    """
    config = unwrap(optimizer).get_config()  # Keras puts the rate variable's current value here
    if name not in config:
        raise UserInputError(f"`name` must be a hyper-parameter of {type(unwrap(optimizer)).__name__}, "
                             f"one of {sorted(config)}. Received: name={name!r}")
    return config[name]


def set_hyper(optimizer, name, value):
    """Set hyper-parameter `name` of `optimizer` (the one inside a `LossScaleOptimizer`) to `value`,
    for the next step; `name` must be one of `schedulable(optimizer)`.

        set_hyper(model.optimizer, "beta_1", 0.85)
    """
    names = _changeable(optimizer)  # not `schedulable`: no config read at every step
    if name not in names:
        raise UserInputError(f"`name` must be a hyper-parameter that {type(unwrap(optimizer)).__name__} can "
                             f"change between steps, one of {list(names)}. Received: name={name!r}")
    setattr(unwrap(optimizer), name, value)


def save_settings(optimizer, variables=()):
    """What a schedule may change, to put back with `restore_settings`: the value of every
    hyper-parameter in `schedulable(optimizer)` and the learning-rate scale of each of `variables`
    (where the optimizer has scales).

        saved = save_settings(model.optimizer, model.trainable_variables)
    """
    optimizer = unwrap(optimizer)
    scales = ([(v, optimizer.rate_scale(v)) for v in variables]
              if isinstance(optimizer, _CourseOptimizer) else None)
    return {name: get_hyper(optimizer, name) for name in schedulable(optimizer)}, scales


def restore_settings(optimizer, saved):
    """Put back, exactly, what `save_settings` saved."""
    values, scales = saved
    for name, value in values.items():
        set_hyper(optimizer, name, value)
    if scales is not None:
        unwrap(optimizer).set_rate_scales(scales)


def state_fits(optimizer, variables):
    """True when `optimizer` (the one inside a `LossScaleOptimizer`) holds no per-variable state
    yet, or holds it for exactly `variables`, in order: then its state, saved in a `.keras` file,
    loads back onto a model whose trainable variables are `variables`. False after the model's
    layers changed without a recompile (`model.pop(); model.add(Dense(3))`).

        state_fits(model.optimizer, model.trainable_variables)
    """
    optimizer = unwrap(optimizer)
    if not isinstance(optimizer, keras.optimizers.Optimizer) or not optimizer.built:
        return True
    return list(optimizer._trainable_variables_indices) == [optimizer._var_key(v) for v in variables]


def share_learning_rate(source, target):
    """Make `target` read its learning rate from `source`'s rate variable, so that setting one
    (`K.set_value(source.lr, x)`) sets both; a rate that is a schedule is left alone.

    Keras keeps an optimizer's rate variable in the private `_learning_rate`: this is the one
    place that touches it (tests/test_optimizers.py pins that Keras behaviour).

        fresh = type(opt).from_config(opt.get_config()); share_learning_rate(opt, fresh)
    """
    if isinstance(source._learning_rate, keras.Variable):
        target._learning_rate = source._learning_rate


_BY_NAME = {"adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "sgd": SGD}


def get(identifier):
    """One of this module's optimizers from a name ('adam'), a Keras optimizer, or one of ours.

    A Keras optimizer is rebuilt from its config (fresh state) as the class of the same name here.

        opt = get("rmsprop")            # vggcourse.optimizers.RMSprop()
    """
    if isinstance(identifier, _CourseOptimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise UserInputError(f"unknown optimizer {identifier!r}: vggcourse.optimizers has "
                             f"{sorted(_BY_NAME)}; pass a keras.optimizers instance for others")
        return cls()
    if isinstance(identifier, keras.optimizers.Optimizer):
        cls = _BY_NAME.get(type(identifier).__name__.lower())
        if cls is None:
            return identifier  # another Keras optimizer: used as it is
        config = identifier.get_config()
        config.pop("name", None)
        return cls.from_config(config)
    raise UserTypeError(f"`optimizer` must be a name such as 'adam' or a keras.optimizers.Optimizer. "
                    f"Received: {identifier!r}")
