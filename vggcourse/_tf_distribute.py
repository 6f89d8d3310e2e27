"""TensorFlow-only: the devices TensorFlow sees and its `MirroredStrategy` (see `vggcourse.devices`).

The one module of the package that imports TensorFlow; `vggcourse.devices` calls it only when
Keras runs on the TensorFlow backend.

    strategy = mirrored_strategy()      # None with fewer than two devices
    with strategy.scope():
        model = build_vgg16(...)
"""
import tensorflow as tf

__all__ = ["accelerator_details", "local_devices", "mirrored_strategy"]


def accelerator_details():
    """[(name, device kind, compute capability or None)] for each GPU and TPU, e.g.
    `("gpu:0", "NVIDIA H100 80GB HBM3", (9, 0))`; [] without one. Starts no TensorFlow runtime."""
    found = []
    for index, device in enumerate(tf.config.list_physical_devices("GPU")):
        try:
            details = tf.config.experimental.get_device_details(device)
        except (RuntimeError, ValueError):
            details = {}
        found.append((f"gpu:{index}", details.get("device_name", ""), details.get("compute_capability")))
    for index, _ in enumerate(tf.config.list_physical_devices("TPU")):
        found.append((f"tpu:{index}", "TPU", None))
    return found


def local_devices():
    """TensorFlow's names of the logical devices that run the model: the GPUs (or TPUs), else the CPUs."""
    for kind in ("GPU", "TPU", "CPU"):
        devices = tf.config.list_logical_devices(kind)
        if devices:
            return [device.name for device in devices]
    return []


def mirrored_strategy(devices=None):
    """A `tf.distribute.MirroredStrategy` over `devices` (default: `local_devices()`), or None for fewer than two."""
    devices = local_devices() if devices is None else list(devices)
    if len(devices) < 2:
        return None
    return tf.distribute.MirroredStrategy(devices=devices)
