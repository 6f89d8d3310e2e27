"""The devices a model runs on, on any Keras backend (TensorFlow, JAX, PyTorch).

    from vggcourse import devices
    devices.accelerators()              # ['gpu:0', 'gpu:1'] on a two-GPU machine, [] on a CPU
    devices.enable_mixed_precision()    # 'mixed_bfloat16' on an H100 or a bf16 CPU, 'mixed_float16' on older GPUs
    devices.use_all_devices()           # 2: fit, predict and the feature pass use both GPUs
    with devices.model_scope():         # build and compile models in it (needed on TensorFlow)
        vgg = Vgg16()

Call `enable_mixed_precision()` and `use_all_devices()` before building a model: both change
global Keras settings (the dtype policy; the distribution), which is why nothing here runs on
import. `use_all_devices` is data parallelism on one machine: every device holds a copy of the
weights and gets an equal share of every batch; the gradients are averaged. On JAX it is Keras'
`keras.distribution.DataParallel`, on TensorFlow a `tf.distribute.MirroredStrategy`
(`vggcourse._tf_distribute`), on PyTorch one device (Keras 3 has no distribution there).

Without an accelerator it uses every local CPU *device*, normally one, so nothing changes; tests
split the CPU in two (JAX: `XLA_FLAGS=--xla_force_host_platform_device_count=2`; TensorFlow: two
logical CPU devices) to check that two devices give one device's results.
"""
import collections
import contextlib
import math
import os
import re
import warnings
from pathlib import Path

import keras

from vggcourse import checks

__all__ = ["accelerators", "enable_mixed_precision", "inference_batch_size", "model_scope", "use_all_devices"]

# Images per forward pass of inference: measured on a 2-core CPU (bench/finetune.py, VGG16 at
# 224), and on accelerators a size that keeps one device busy (bench/gpu.py --batch-sizes).
CPU_INFERENCE_BATCH = 16
ACCELERATOR_INFERENCE_BATCH = 64  # per device

_Device = collections.namedtuple("_Device", "name kind bfloat16")
_state = {"strategy": None}  # TensorFlow's MirroredStrategy once use_all_devices() made one
_BF16_AMD = re.compile(r"MI[23]\d\d|gfx9[45]", re.IGNORECASE)  # AMD Instinct MI200 / MI300


def _has_bfloat16(platform, kind, capability):
    """Fast bfloat16 matrix units: TPUs, NVIDIA compute capability 8.0+ (A100, H100, RTX 30xx+), AMD MI200+."""
    if platform == "tpu":
        return True
    if isinstance(capability, str):  # JAX writes "9.0"
        try:
            capability = tuple(int(part) for part in capability.split("."))
        except ValueError:
            capability = None
    if capability:
        return tuple(capability) >= (8, 0)
    return bool(_BF16_AMD.search(kind or ""))


def _jax_devices():
    import jax

    return [
        _Device(f"{d.platform}:{d.id}", d.device_kind,
                _has_bfloat16(d.platform, d.device_kind, getattr(d, "compute_capability", None)))
        for d in jax.local_devices()
        if d.platform != "cpu"
    ]


def _tensorflow_devices():
    from vggcourse import _tf_distribute

    return [
        _Device(name, kind, _has_bfloat16(name.split(":")[0], kind, capability))
        for name, kind, capability in _tf_distribute.accelerator_details()
    ]


def _torch_devices():
    import torch

    if torch.cuda.is_available():
        found = []
        for index in range(torch.cuda.device_count()):
            kind = torch.cuda.get_device_name(index)
            capability = None if torch.version.hip else torch.cuda.get_device_capability(index)
            found.append(_Device(f"gpu:{index}", kind, _has_bfloat16("gpu", kind, capability)))
        return found
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return [_Device("mps:0", "Apple GPU", False)]
    return []


def _details():
    """`_Device` (name, kind, bfloat16) for each local accelerator of the current backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_devices()
    if backend == "tensorflow":
        return _tensorflow_devices()
    if backend == "torch":
        return _torch_devices()
    return []  # numpy, openvino: CPU only


def accelerators():
    """Names of this machine's GPUs / TPUs as Keras writes them (`'gpu:0'`); [] on a CPU-only machine.

        if devices.accelerators(): devices.enable_mixed_precision()
    """
    return [device.name for device in _details()]


def _cpu_has_bfloat16(cpuinfo="/proc/cpuinfo"):
    """The CPU has bfloat16 dot-product instructions (AVX512-BF16 or AMX-BF16: Intel Sapphire Rapids
    and later, AMD Zen 4 and later), as Linux lists them in /proc/cpuinfo; False where unknown."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


def _cpu_computes_bfloat16(cpuinfo="/proc/cpuinfo"):
    """bfloat16 convolutions run on the CPU's bfloat16 instructions with this backend: TensorFlow
    with oneDNN (on unless TF_ENABLE_ONEDNN_OPTS=0) and PyTorch do; JAX's CPU backend does not."""
    backend = keras.backend.backend()
    if backend == "tensorflow" and os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") == "0":
        return False
    return backend in ("tensorflow", "torch") and _cpu_has_bfloat16(cpuinfo)


def enable_mixed_precision():
    """Compute in bfloat16 where the hardware has it, else float16 on accelerators; else nothing.

    Returns the Keras dtype policy set, or None:

    - `'mixed_bfloat16'` where every accelerator has fast bfloat16 (A100, H100, TPUs, MI200+), and
      on a CPU-only machine whose CPU has bfloat16 instructions (AVX512-BF16 / AMX) when the
      backend uses them (TensorFlow with oneDNN, PyTorch; not JAX);
    - `'mixed_float16'` on other accelerators;
    - None on other CPUs, where half precision is slower.

    Weights stay float32 and the softmax computes in float32; Keras adds loss scaling for float16
    when a model is compiled. Results differ from float32 in about the third significant digit.
    Call it before building a model:

        devices.enable_mixed_precision(); vgg = Vgg16()
    """
    found = _details()
    if found:
        policy = "mixed_bfloat16" if all(device.bfloat16 for device in found) else "mixed_float16"
    elif _cpu_computes_bfloat16():
        policy = "mixed_bfloat16"
    else:
        return None
    keras.mixed_precision.set_global_policy(policy)
    return policy


def _replicas():
    """How many devices share each batch: 1 until `use_all_devices()` spread the work."""
    strategy = _state["strategy"]
    if strategy is not None:
        return strategy.num_replicas_in_sync
    distribution = getattr(keras, "distribution", None)
    current = distribution.distribution() if distribution is not None else None
    if current is None:
        return 1
    mesh = current.device_mesh
    return int(mesh.shape[list(mesh.axis_names).index(current.batch_dim_name)])


def inference_batch_size(batch_size):
    """Images per forward pass for prediction and the feature pass, given the batches' `batch_size`.

    16 on CPUs, whatever `batch_size` is (measured best on a 2-core CPU); on accelerators
    `batch_size` or 64 per device, whichever is larger, rounded up to share evenly between the
    devices of `use_all_devices()`.

        devices.inference_batch_size(8)    # 16 on a CPU, 64 on one GPU, 128 on two
    """
    batch_size = checks.whole_number("batch_size", batch_size, least=1)
    replicas = _replicas()
    if not accelerators():
        return CPU_INFERENCE_BATCH * replicas
    size = max(batch_size, ACCELERATOR_INFERENCE_BATCH * replicas)
    return math.ceil(size / replicas) * replicas


def use_all_devices():
    """Spread `fit`, `predict` and the feature pass over every local device; return how many.

    The devices are the accelerators (GPUs, TPUs), or without any the local CPU devices (one,
    unless split as in the tests). Call it once, before building a model; build and compile models
    inside `model_scope()`. With one device it changes nothing and returns 1. On JAX it sets
    Keras' global distribution (`keras.distribution.DataParallel`); on TensorFlow it makes a
    `MirroredStrategy` that `model_scope()` enters; on PyTorch it warns when there are several
    GPUs and returns 1. One machine only: see README, "Several GPUs".

        n = devices.use_all_devices()
        with devices.model_scope():
            vgg = Vgg16()
    """
    current = _replicas()
    if current > 1:
        return current
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        names = [f"{d.platform}:{d.id}" for d in jax.local_devices()]
        if len(names) < 2:
            return 1
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=names))
        return len(names)
    if backend == "tensorflow":
        from vggcourse import _tf_distribute

        _state["strategy"] = _tf_distribute.mirrored_strategy()
        return _replicas()
    if len(accelerators()) > 1:
        warnings.warn(
            f"use_all_devices(): Keras 3 has no data-parallel distribution on the {backend} backend, so "
            f"vggcourse uses one of the {len(accelerators())} GPUs. Set KERAS_BACKEND=jax or tensorflow "
            "to use them all.",
            stacklevel=2,
        )
    return 1


@contextlib.contextmanager
def model_scope():
    """Build and compile models inside this: TensorFlow's `MirroredStrategy` scope after
    `use_all_devices()` found several devices, and nothing otherwise (JAX's distribution is global).

        with devices.model_scope():
            model = build_vgg16((32, 32)); model.compile(...)
    """
    strategy = _state["strategy"]
    if strategy is None:
        yield
        return
    with strategy.scope():
        yield
