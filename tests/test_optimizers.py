"""vggcourse/optimizers.py: Keras 1's `lr` and `decay`, per-variable rate scales, `unwrap`, `get`, the
hyper-parameters a schedule sets (and puts back), and the Keras behaviour they rely on."""
import keras
import numpy as np
import pytest

from vggcourse import optimizers
from vggcourse.errors import UserInputError, UserTypeError


def _value(variable):
    return float(keras.ops.convert_to_numpy(variable))


def _steps(optimizer, variables, steps=2):
    """What each of `steps` updates with gradient 1 did to each variable (all start at 0)."""
    moves = []
    for _ in range(steps):
        before = [_value(v) for v in variables]
        optimizer.apply_gradients([(keras.ops.ones(()), v) for v in variables])
        moves.append([_value(v) - b for v, b in zip(variables, before)])
    return np.array(moves)


def test_lr_is_keras1s_keyword_and_a_property_that_sets_the_rate():
    opt = optimizers.RMSprop(lr=0.1)
    assert _value(opt.lr) == pytest.approx(0.1) and opt.lr is opt.learning_rate
    opt.lr = 0.01
    assert _value(opt.learning_rate) == pytest.approx(0.01)
    keras.ops.convert_to_numpy(opt.lr)  # K.get_value(opt.lr) reads the variable
    with pytest.raises(UserTypeError, match=r"not both. Received: lr=0.1"):
        optimizers.SGD(0.2, lr=0.1)


def test_the_lr_property_takes_numpy_scalars_and_refuses_bools():
    """Issue 18: `opt.lr = np.int64(1)` sets the rate; `opt.lr = True` (or np.True_) is refused."""
    for opt in (optimizers.Adam(), optimizers.LossScaleOptimizer(optimizers.SGD())):
        opt.lr = np.int64(1)
        assert _value(opt.lr) == 1.0
        opt.lr = np.float32(0.25)
        assert _value(opt.lr) == 0.25
        for bad in (True, np.True_, 0, "0.1"):
            with pytest.raises(UserInputError, match=r"`lr` must be a positive number\. Received: lr="):
                opt.lr = bad
        assert _value(opt.lr) == 0.25


def test_lr_has_theanos_set_value_and_get_value():
    """Keras 1's `opt.lr` was a Theano shared variable: lesson 6 calls `model.optimizer.lr.set_value(x)`."""
    variable = keras.Variable(0.0)
    for opt in (optimizers.SGD(lr=1.0), optimizers.LossScaleOptimizer(optimizers.SGD(lr=1.0))):
        opt.lr.set_value(0.5)
        assert opt.lr.get_value() == pytest.approx(0.5) and _value(optimizers.unwrap(opt).learning_rate) == 0.5
        with pytest.raises(UserInputError, match=r"`lr` must be a positive number\. Received: lr=-1"):
            opt.lr.set_value(-1)
        assert opt.lr.get_value() == pytest.approx(0.5)
    opt = optimizers.SGD(lr=1.0)
    opt.lr.set_value(0.25)
    assert _steps(opt, [variable], steps=1)[0, 0] == pytest.approx(-0.25)  # the step uses the new rate


def test_decay_divides_the_rate_by_one_plus_decay_times_the_update():
    variable = keras.Variable(0.0)
    moves = _steps(optimizers.SGD(lr=1.0, decay=1.0), [variable])
    np.testing.assert_allclose(moves[:, 0], [-1.0, -0.5])  # lr / (1 + 1 * t) for t = 0, 1
    assert optimizers.SGD(decay=0.5).get_config()["decay"] == 0.5
    for bad in (-1, True, "0.1"):
        with pytest.raises(UserInputError, match=r"`decay` must be a number >= 0. Received: decay="):
            optimizers.Adam(decay=bad)


def test_rate_scales_multiply_each_variables_rate():
    slow, fast = keras.Variable(0.0), keras.Variable(0.0)
    opt = optimizers.SGD(lr=1.0)
    opt.set_rate_scales([(slow, 0.25)])  # before build: kept until the optimizer is built
    assert opt.rate_scale(slow) == 0.25 and opt.rate_scale(fast) == 1.0
    moves = _steps(opt, [slow, fast], steps=1)
    np.testing.assert_allclose(moves[0], [-0.25, -1.0])
    opt.reset_rate_scales()
    assert opt.rate_scale(slow) == 1.0
    with pytest.raises(UserInputError, match=r"^set_rate_scales: `scale of .*` must be a number >= 0\. Received: "):
        opt.set_rate_scales([(slow, -1)])


def test_unwrap_and_the_loss_scale_optimizer_take_lr():
    inner = optimizers.Adam(lr=1e-3)
    wrapped = optimizers.loss_scaled(inner, "mixed_float16")
    assert isinstance(wrapped, optimizers.LossScaleOptimizer) and optimizers.unwrap(wrapped) is inner
    wrapped.lr = 0.02
    assert _value(inner.learning_rate) == pytest.approx(0.02)
    assert optimizers.unwrap(inner) is inner and optimizers.loss_scaled(inner, "float32") is inner


def test_get_makes_this_modules_optimizers():
    assert type(optimizers.get("rmsprop")) is optimizers.RMSprop
    converted = optimizers.get(keras.optimizers.Adam(learning_rate=0.5, beta_1=0.8))
    assert type(converted) is optimizers.Adam and converted.get_config()["beta_1"] == pytest.approx(0.8)
    with pytest.raises(UserInputError, match="unknown optimizer 'nadam2'"):
        optimizers.get("nadam2")
    with pytest.raises(UserTypeError, match=r"`optimizer` must be .* Received: 3"):
        optimizers.get(3)


# -- what a schedule sets and puts back ---------------------------------------------------------------

def test_keras_config_holds_the_current_rate_and_the_schedule():
    """Pins the Keras behaviour `get_hyper` and `training.recompile` rely on (no private attribute):
    `get_config()['learning_rate']` is the rate variable's current value, exactly, or the serialized
    schedule, which `from_config` turns back into a schedule."""
    opt = keras.optimizers.Adam(learning_rate=0.1)
    opt.build([keras.Variable(0.0)])
    opt.learning_rate = 1e-3
    assert opt.get_config()["learning_rate"] == float(np.float32(1e-3))
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    scheduled = keras.optimizers.SGD(learning_rate=schedule)
    config = scheduled.get_config()
    assert isinstance(config["learning_rate"], dict)
    rebuilt = keras.optimizers.SGD.from_config(config)
    assert _value(rebuilt.learning_rate) == pytest.approx(0.1)  # the schedule at step 0


def test_schedulable_names_what_can_change_between_steps():
    assert optimizers.schedulable(optimizers.Adam()) == ("learning_rate", "beta_1")
    assert optimizers.schedulable(keras.optimizers.Adam()) == ("learning_rate",)  # beta_1 is traced in
    assert optimizers.schedulable(optimizers.loss_scaled(optimizers.Adam(), "mixed_float16")) == \
        ("learning_rate", "beta_1")
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert optimizers.schedulable(optimizers.Adam(learning_rate=schedule)) == ("beta_1",)
    with pytest.raises(UserInputError, match=r"`name` must be .* one of \['learning_rate'\]. Received: name='beta_1'"):
        optimizers.set_hyper(keras.optimizers.SGD(), "beta_1", 0.9)
    with pytest.raises(UserInputError, match=r"`name` must be a hyper-parameter .* Received: name='gamma'"):
        optimizers.get_hyper(optimizers.SGD(), "gamma")


def test_set_hyper_sets_beta_1_of_a_built_adam_and_restore_is_exact():
    variable = keras.Variable(0.0)
    opt = optimizers.Adam(lr=1e-3)
    opt.build([variable])
    opt.set_rate_scales([(variable, 0.3)])
    saved = optimizers.save_settings(opt, [variable])
    config = opt.get_config()
    optimizers.set_hyper(opt, "beta_1", 0.85)
    optimizers.set_hyper(opt, "learning_rate", 0.5)
    opt.set_rate_scales([(variable, 1.0)])
    assert _value(opt.beta_1) == pytest.approx(0.85) and _value(opt.learning_rate) == 0.5
    optimizers.restore_settings(opt, saved)
    assert opt.get_config() == config  # beta_1 0.9 and the rate exactly as they were
    assert _value(opt.beta_1) == pytest.approx(0.9) and opt.rate_scale(variable) == pytest.approx(0.3)


def test_share_learning_rate_makes_one_rate_for_two_optimizers_and_pins_keras():
    """Keras keeps the rate variable in `_learning_rate` and `learning_rate` reads it (pinned here:
    lesson 3 compiles three models with one `opt`, each gets a copy that shares its rate)."""
    source = optimizers.RMSprop(learning_rate=0.1)
    source.build([keras.Variable(0.0)])
    assert isinstance(source._learning_rate, keras.Variable)  # the Keras behaviour relied on
    fresh = type(source).from_config(source.get_config())
    optimizers.share_learning_rate(source, fresh)
    source.lr = 0.01
    assert _value(fresh.learning_rate) == pytest.approx(0.01)
    scheduled = optimizers.SGD(learning_rate=keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))
    other = optimizers.SGD(learning_rate=0.2)
    optimizers.share_learning_rate(scheduled, other)  # a schedule is not a variable: left alone
    assert _value(other.learning_rate) == pytest.approx(0.2)


def test_variable_slots_pin_keras_private_indices():
    """Rate scales find a variable's slot through Keras' `_var_key` / `_trainable_variables_indices`
    (private: `_CourseOptimizer._key` / `_slot` are their only readers); pinned here."""
    first, second = keras.Variable(0.0), keras.Variable(0.0)
    opt = optimizers.SGD(learning_rate=1.0)
    assert opt._slot(first) is None  # not built yet: the scale waits in `_pending_scales`
    opt.set_rate_scales([(second, 0.5)])
    opt.build([first, second])
    assert opt._trainable_variables_indices[opt._var_key(second)] == 1  # the Keras behaviour relied on
    assert (opt._slot(first), opt._slot(second)) == (0, 1) and opt.rate_scale(second) == 0.5
    assert opt._slot(keras.Variable(0.0)) is None


def test_state_fits_only_the_variables_it_was_built_for():
    """`state_fits` (what `ModelCore.save` asks before writing the optimizer's state) reads the
    same Keras private `_trainable_variables_indices`, in build order; pinned here."""
    first, second, other = keras.Variable(0.0), keras.Variable(0.0), keras.Variable(0.0)
    opt = optimizers.Adam()
    assert optimizers.state_fits(opt, [other])  # not built: no state to mismatch
    opt.build([first, second])
    assert list(opt._trainable_variables_indices) == [opt._var_key(first), opt._var_key(second)]
    assert optimizers.state_fits(opt, [first, second])
    assert not optimizers.state_fits(opt, [first, other])  # a layer replaced
    assert not optimizers.state_fits(opt, [first])  # a layer removed
    assert not optimizers.state_fits(opt, [second, first])
    scaled = optimizers.LossScaleOptimizer(optimizers.SGD())
    scaled.build([first])
    assert optimizers.state_fits(scaled, [first]) and not optimizers.state_fits(scaled, [second])
    plain = keras.optimizers.SGD()  # any Keras optimizer
    plain.build([first])
    assert optimizers.state_fits(plain, [first]) and not optimizers.state_fits(plain, [other])
