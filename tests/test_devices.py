"""vggcourse.devices: device lists, mixed precision, batch sizes, and two devices against one.

The two-device tests run in a subprocess with the CPU split in two (JAX:
`XLA_FLAGS=--xla_force_host_platform_device_count=2`; TensorFlow: two logical CPU devices), train
the same small model with the same weights on one device and on two, and compare. Tolerance: 1e-5
absolute on weights and predictions (float32; two devices sum the gradients in another order).
Each test is skipped where its backend is not installed (the JAX venv has no TensorFlow).
"""
import importlib.util
import json
import os
import subprocess
import sys

import keras
import pytest

from vggcourse import devices

TOLERANCE = 1e-5


@pytest.fixture
def float32_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


def _fake(*specs):
    return lambda: [devices._Device(name, kind, bf16) for name, kind, bf16 in specs]


def test_accelerators_are_keras_device_names():
    found = devices.accelerators()
    assert isinstance(found, list)
    assert all(name.split(":")[0] in ("gpu", "tpu", "mps") and name.split(":")[1].isdigit() for name in found)


@pytest.mark.parametrize(
    "platform, kind, capability, expected",
    [
        ("gpu", "NVIDIA H100 80GB HBM3", "9.0", True),
        ("gpu", "NVIDIA A100-SXM4-40GB", (8, 0), True),
        ("gpu", "Tesla T4", (7, 5), False),
        ("gpu", "Tesla V100-SXM2-16GB", "7.0", False),
        ("tpu", "TPU v4", None, True),
        ("gpu", "AMD Instinct MI250X", None, True),
        ("gpu", "Some GPU", None, False),
    ],
)
def test_bfloat16_by_device(platform, kind, capability, expected):
    assert devices._has_bfloat16(platform, kind, capability) is expected


def test_mixed_precision_picks_bfloat16_float16_or_nothing(monkeypatch, float32_policy):
    monkeypatch.setattr(devices, "_details", _fake())
    monkeypatch.setattr(devices, "_cpu_computes_bfloat16", lambda: False)
    assert devices.enable_mixed_precision() is None
    assert keras.mixed_precision.global_policy().name == "float32"

    monkeypatch.setattr(devices, "_details", _fake(("gpu:0", "NVIDIA H100", True)))
    assert devices.enable_mixed_precision() == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"

    monkeypatch.setattr(devices, "_details", _fake(("gpu:0", "NVIDIA H100", True), ("gpu:1", "Tesla T4", False)))
    assert devices.enable_mixed_precision() == "mixed_float16"
    assert keras.layers.Dense(2).dtype_policy.name == "mixed_float16"


def _cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n")
    return str(path)


def test_cpu_bfloat16_flags(tmp_path):
    assert devices._cpu_has_bfloat16(_cpuinfo(tmp_path, "fpu sse2 avx2 avx512f avx512_bf16"))
    assert devices._cpu_has_bfloat16(_cpuinfo(tmp_path, "fpu avx2 amx_tile amx_bf16"))
    assert not devices._cpu_has_bfloat16(_cpuinfo(tmp_path, "fpu sse2 avx2 avx512f avx512_vnni"))
    assert not devices._cpu_has_bfloat16(str(tmp_path / "missing"))  # not Linux: unknown is no


@pytest.mark.parametrize("onednn", ["1", "0"])
def test_mixed_precision_on_a_bfloat16_cpu_where_the_backend_uses_it(monkeypatch, tmp_path, float32_policy, onednn):
    monkeypatch.setattr(devices, "_details", _fake())
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", onednn)
    bf16_cpu = _cpuinfo(tmp_path, "avx2 avx512f avx512_bf16")
    real = devices._cpu_computes_bfloat16
    monkeypatch.setattr(devices, "_cpu_computes_bfloat16", lambda: real(bf16_cpu))
    backend = keras.backend.backend()
    # measured on such a CPU (bench/RESULTS.md): TensorFlow with oneDNN and PyTorch run VGG16 about
    # twice as fast in bfloat16; JAX's CPU backend is no faster, so it is left in float32
    uses = backend == "torch" or (backend == "tensorflow" and onednn == "1")
    assert devices.enable_mixed_precision() == ("mixed_bfloat16" if uses else None)
    assert keras.mixed_precision.global_policy().name == ("mixed_bfloat16" if uses else "float32")
    monkeypatch.setattr(devices, "_cpu_computes_bfloat16", lambda: real(_cpuinfo(tmp_path, "avx2")))
    keras.mixed_precision.set_global_policy("float32")
    assert devices.enable_mixed_precision() is None


def test_inference_batch_size(monkeypatch):
    monkeypatch.setattr(devices, "_details", _fake())
    assert devices.inference_batch_size(8) == devices.CPU_INFERENCE_BATCH == 16
    assert devices.inference_batch_size(200) == 16
    monkeypatch.setattr(devices, "_details", _fake(("gpu:0", "NVIDIA H100", True)))
    assert devices.inference_batch_size(8) == 64
    assert devices.inference_batch_size(100) == 100
    monkeypatch.setattr(devices, "_replicas", lambda: 2)
    assert devices.inference_batch_size(8) == 128
    assert devices.inference_batch_size(129) == 130  # an equal share per device


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "64", None])
def test_inference_batch_size_rejects(bad):
    from vggcourse.errors import UserInputError

    with pytest.raises(UserInputError, match=r"`batch_size` must be a whole number >= 1\. Received: batch_size="):
        devices.inference_batch_size(bad)


def test_one_device_changes_nothing():
    if keras.backend.backend() != "torch" and len(_local_devices()) > 1:
        pytest.skip("this machine has several devices")
    assert devices.use_all_devices() == 1
    assert devices._replicas() == 1
    with devices.model_scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert model.predict(keras.ops.ones((5, 3)), verbose=0).shape == (5, 2)
    assert devices.inference_batch_size(8) in (16, 64)


def _local_devices():
    if keras.backend.backend() == "jax":
        import jax

        return jax.local_devices()
    if keras.backend.backend() == "tensorflow":
        from vggcourse import _tf_distribute

        return _tf_distribute.local_devices()
    return [None]


# -- two devices against one, in a subprocess --------------------------------------------------

# The same tiny model and data in both runs; one device first, then use_all_devices() and the
# same weights. A Probe layer records, for each training step, the rows each device was given.
_COMMON = r"""
import json, os, sys
import numpy as np
import keras
from vggcourse import devices

rng = np.random.default_rng(0)
X = rng.normal(size=(32, 6)).astype("float32")
Y = keras.utils.to_categorical(rng.integers(0, 3, 32), 3).astype("float32")

class Batches(keras.utils.PyDataset):
    def __len__(self):
        return 4
    def __getitem__(self, i):
        return X[i * 8:(i + 1) * 8], Y[i * 8:(i + 1) * 8]

def build(weights=None):
    model = keras.Sequential([keras.Input((6,)), Probe(), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="categorical_crossentropy")
    return model

def train(model):
    seen.clear()
    history = model.fit(Batches(), epochs=3, shuffle=False, verbose=0)
    rows = sorted(set(seen))  # rows per device in the training steps
    weights = [np.asarray(w) for w in model.get_weights()]
    return history.history["loss"], weights, np.asarray(model.predict(X, verbose=0)), rows

one = build()
start = one.get_weights()
loss1, weights1, pred1, _ = train(one)
count = devices.use_all_devices()
with devices.model_scope():
    two = build(start)
loss2, weights2, pred2, rows = train(two)
print("RESULT", json.dumps({
    "count": count,
    "replicas": devices._replicas(),
    "loss_diff": float(np.max(np.abs(np.subtract(loss1, loss2)))),
    "weight_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(weights1, weights2)),
    "pred_diff": float(np.max(np.abs(pred1 - pred2))),
    "rows_per_device": rows,
    "copies": copies(two),
    "inference_batch": devices.inference_batch_size(8),
}))
"""

_JAX = r"""
import jax

seen = []

class Probe(keras.layers.Layer):
    # Inside the compiled step: how many rows of the batch each device holds.
    def call(self, x):
        jax.debug.inspect_array_sharding(x, callback=lambda s: seen.append(s.shard_shape(x.shape)[0]))
        return x

def copies(model):
    # Every variable whole on both devices (replicated, not split).
    out = set()
    for v in model.weights:
        sharding = v.value.sharding
        out.add((len(sharding.device_set), bool(sharding.is_fully_replicated)))
    return sorted(out)
"""

_TENSORFLOW = r"""
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
seen = []

class Probe(keras.layers.Layer):
    # Runs once per device per step (each replica traces its own call).
    def call(self, x):
        tf.py_function(lambda n: seen.append(int(n)) or 0, [tf.shape(x)[0]], Tout=tf.int32)
        return x

def copies(model):
    strategy = devices._state["strategy"]
    out = set()
    for v in model.weights:
        values = [np.asarray(t) for t in strategy.experimental_local_results(v.value)]
        out.add((len(values), all(np.array_equal(values[0], t) for t in values)))
    return sorted(out)
"""


def _run_two_devices(backend, prelude, extra_env=None):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = dict(os.environ, KERAS_BACKEND=backend, **(extra_env or {}))
    imports, rest = _COMMON.split("rng = ", 1)
    code = imports + prelude + "rng = " + rest
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stdout[-2000:] + out.stderr[-4000:]
    return json.loads(lines[-1][len("RESULT "):])


def _check_two_devices(result):
    assert result["count"] == 2 and result["replicas"] == 2
    assert result["rows_per_device"] == [4]  # batches of 8: each device gets half of every batch
    assert result["copies"] == [[2, True]]  # every variable on both devices, equal
    assert result["loss_diff"] < TOLERANCE
    assert result["weight_diff"] < TOLERANCE
    assert result["pred_diff"] < TOLERANCE
    assert result["inference_batch"] == 2 * devices.CPU_INFERENCE_BATCH


def test_two_jax_devices_match_one():
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    _check_two_devices(_run_two_devices("jax", _JAX, {"XLA_FLAGS": flags}))


def test_two_tensorflow_devices_match_one():
    _check_two_devices(_run_two_devices("tensorflow", _TENSORFLOW))
