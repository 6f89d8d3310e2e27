"""Writing a trained model to files that other runtimes load, through Keras 3's `model.export`.

    export_model("runs/ft/best.keras", "exported/dogscats")
    # exported/dogscats.onnx            ONNX, for onnxruntime
    # exported/dogscats_savedmodel/     a TensorFlow SavedModel, for TF Serving and TFLite's converter
    # exported/dogscats.classes.json    the class names, in the order of the model's outputs

ONNX on TensorFlow goes to tf2onnx directly, in its large-model mode (`_tensorflow_onnx`: Keras'
`model.export` runs tf2onnx in a mode that needs tens of GB for a VGG16).

The preprocessing stays inside: every file takes what `vgg.model` takes, RGB images with values
0-255 as float32 `(n, height, width, 3)` (input name 'images'), and gives one probability per class
(`(n, classes)`: ONNX's output is tf2onnx's or jax2onnx's name, the SavedModel's `serving_default`
signature calls it 'output_0'). ONNX needs `tf2onnx` on TensorFlow (`jax2onnx` on JAX); the
SavedModel needs TensorFlow installed, whatever the backend. Each output is written under a
temporary name beside it and renamed when complete: an interrupted export leaves no half file.
"""
import importlib.util
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np

from vggcourse import checks
from vggcourse._atomic import write_atomically, write_folder_atomically
from vggcourse.errors import InputFileNotFoundError, InputIsADirectoryError, UserInputError

__all__ = ["FORMATS", "INPUT_NAME", "export_model", "exported_paths"]

FORMATS = ("onnx", "savedmodel")
INPUT_NAME = "images"

# format -> (Keras' name for it, the file or folder beside `out`)
_KERAS_FORMATS = {"onnx": ("onnx", ".onnx"), "savedmodel": ("tf_saved_model", "_savedmodel")}
_CLASSES_ENDING = ".classes.json"


def exported_paths(out, formats=FORMATS):
    """{format: path} of what `export_model(..., out, formats)` writes, 'classes' included.

        exported_paths("exported/dogscats")["onnx"]   # Path('exported/dogscats.onnx')
    """
    out = Path(out)
    paths = {name: out.with_name(out.name + _KERAS_FORMATS[name][1]) for name in _checked_formats(formats)}
    paths["classes"] = out.with_name(out.name + _CLASSES_ENDING)
    return paths


def export_model(model_path, out, formats=FORMATS):
    """Export the `.keras` file at `model_path` (written by `vgg.save`, `vggcourse finetune` or a
    ModelCheckpoint; a `Vgg16`, `Vgg16BN` or `Resnet50`) to `out.onnx`, the SavedModel folder
    `out_savedmodel/` and `out.classes.json` (a JSON list of the class names in output order);
    returns `exported_paths(out, formats)`.

    `out` is a name without an ending in an existing folder; files already there are replaced.
    `formats` is any of `FORMATS` (a name or a sequence of names).

        paths = export_model("best.keras", "exported/dogscats", formats=("onnx",))
        session = onnxruntime.InferenceSession(paths["onnx"])
        probs = session.run(None, {"images": pixels.astype("float32")})[0]
    """
    formats = _checked_formats(formats)
    out = _checked_out(out)
    _check_packages(formats)
    from vggcourse.model import load_course_model

    vgg = load_course_model(model_path)
    paths = exported_paths(out, formats)
    signature = [keras.InputSpec(shape=(None, *vgg.model.input_shape[1:]), dtype="float32", name=INPUT_NAME)]
    for name in formats:
        keras_format, _ = _KERAS_FORMATS[name]

        def write(tmp, keras_format=keras_format):
            try:
                with warnings.catch_warnings():  # Keras' numpy 2 patch of tf2onnx touches `np.object`
                    warnings.filterwarnings("ignore", message=".*np.object", category=FutureWarning)
                    if keras_format == "onnx" and keras.backend.backend() == "tensorflow":
                        _tensorflow_onnx(vgg.model, signature, tmp)
                    else:
                        vgg.model.export(tmp, format=keras_format, input_signature=signature, verbose=False)
                if keras_format == "onnx" and keras.backend.backend() == "jax":
                    _finish_jax2onnx(tmp)
            finally:
                Path(tmp + ".data").unlink(missing_ok=True)  # jax2onnx's sidecar of large weights

        if name == "savedmodel":
            write_folder_atomically(paths[name], write)
        else:
            write_atomically(paths[name], write, suffix=".onnx")
    write_atomically(paths["classes"], lambda tmp: Path(tmp).write_text(json.dumps(list(vgg.classes)) + "\n"))
    return paths


def _tensorflow_onnx(model, signature, path):
    """ONNX of `model` at `path` (one self-contained file), on the TensorFlow backend.

    Keras' `model.export` hands tf2onnx no options, and in its default mode tf2onnx inlines every
    weight into the graph it optimizes: the export of a 224x224 VGG16 (550 MB of weights) was killed
    near 24 GB. Its large-model mode keeps the weights apart (about a minute for the same model);
    the zip it writes (graph + one file per weight) is joined here into one file, far below
    protobuf's 2 GB. Keras' own numpy 2 fix for tf2onnx is applied first, as `model.export` does.
    """
    import onnx
    import tensorflow as tf
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx  # private: what model.export calls first

    specs = tuple(tf.TensorSpec(spec.shape, spec.dtype, name=spec.name) for spec in signature)
    function = tf.function(lambda x: model(x, training=False), input_signature=specs)
    patch_tf2onnx()
    with tempfile.TemporaryDirectory(prefix=".onnx.", dir=Path(path).parent) as work:
        archive = Path(work) / "model.zip"
        tf2onnx.convert.from_function(function, input_signature=specs, output_path=str(archive), large_model=True)
        with zipfile.ZipFile(archive) as parts:
            parts.extractall(work)
        onnx.save_model(onnx.load(str(Path(work) / "__MODEL_PROTO.onnx"), load_external_data=True), path)


def _checked_formats(formats):
    """`formats` as a tuple of names from `FORMATS`, without repeats; else an error naming it."""
    names = (formats,) if isinstance(formats, str) else formats
    try:
        names = tuple(dict.fromkeys(names))
    except TypeError:
        names = ()
    if not names:
        raise UserInputError(f"`formats` must name at least one of {', '.join(map(repr, FORMATS))}. "
                             f"Received: formats={formats!r}")
    for name in names:
        checks.one_of("formats", name, FORMATS, caller="export_model")
    return names


def _checked_out(out):
    """`out` as a Path whose folder exists and which is a name, not a folder or a file's ending."""
    if not isinstance(out, (str, os.PathLike)) or not str(out):
        raise UserInputError(f"export_model: `out` must be a path such as 'exported/model' (it writes "
                             f"model.onnx, model_savedmodel/ ...). Received: out={out!r}")
    out = Path(out)
    if out.is_dir():
        raise InputIsADirectoryError(f"export_model: `out` {str(out)!r} is a folder; give a name inside it, "
                                     f"e.g. {str(out / 'model')!r} (writes model.onnx, model_savedmodel/ ...)")
    if not out.parent.is_dir():
        raise InputFileNotFoundError(f"export_model: the folder {str(out.parent)!r} of `out` does not exist; "
                                     f"make it first (mkdir -p {out.parent}) or write elsewhere")
    if out.suffix in (".onnx", ".keras", ".json"):
        stem = out.with_suffix("")
        raise UserInputError(f"export_model: `out` is a name without an ending (it writes {stem.name}.onnx, "
                             f"{stem.name}_savedmodel/ ...). Received: out={str(out)!r}; pass {str(stem)!r}")
    return out


def _check_packages(formats):
    """An error naming the missing package and the fix, before minutes of loading and tracing."""
    backend = keras.backend.backend()
    needs = {"savedmodel": ("tensorflow", "a TensorFlow SavedModel")}
    if backend in ("tensorflow", "jax"):
        needs["onnx"] = ({"tensorflow": "tf2onnx", "jax": "jax2onnx"}[backend], f"ONNX on the {backend} backend")
    for name in formats:
        if name == "onnx" and backend not in ("tensorflow", "jax", "torch"):
            raise UserInputError(f"export_model: Keras exports ONNX on the tensorflow, jax and torch backends, "
                                 f"not {backend}; set KERAS_BACKEND=tensorflow")
        package, what = needs.get(name, (None, None))
        if package and importlib.util.find_spec(package) is None:
            raise UserInputError(f"export_model: {what} needs the package {package}, which is not installed; "
                                 f"pip install {package}, or leave {name!r} out of `formats`")


def _finish_jax2onnx(path):
    """Make jax2onnx's file at `path` one that onnxruntime runs and that stands alone.

    jax2onnx (0.17) writes the weights to a sidecar named after the (temporary) file, and lowers
    Keras' channels-last max pooling to a MaxPool over all four dimensions of an (1, 1, N, H, W, C)
    tensor, which onnxruntime refuses ("Unsupported pooling size"). The weights are put back inside
    (a VGG16 is far below protobuf's 2 GB) and each such MaxPool becomes the same pooling over
    (H, W) in the NCHW layout MaxPool is defined on.
    """
    import onnx

    model = onnx.load(path, load_external_data=False)
    onnx.load_external_data_for_model(model, str(Path(path).parent))
    nodes = []
    for node in model.graph.node:
        nodes.extend(_spatial_max_pool(node, model.graph) if node.op_type == "MaxPool" else [node])
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save_model(model, path)


def _spatial_max_pool(node, graph):
    """[node] unchanged, or for a MaxPool over (1, 1, N, *spatial, C) whose window and strides are 1
    on N and C: squeeze, to NCHW, MaxPool over the spatial dimensions, back to (1, 1, N, *spatial, C)."""
    from onnx import helper, numpy_helper

    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    kernel, strides = list(attributes.get("kernel_shape", [])), list(attributes.get("strides", []))
    pads = list(attributes.get("pads", [0] * 2 * len(kernel)))
    rank = len(kernel)
    if (rank < 4 or len(strides) != rank or (kernel[0], kernel[-1], strides[0], strides[-1]) != (1, 1, 1, 1)
            or pads[0] or pads[rank - 1] or pads[rank] or pads[-1]
            or set(attributes) - {"kernel_shape", "strides", "pads"}):
        return [node]
    name, x, y = node.name or node.output[0], node.input[0], node.output[0]
    axes = f"{name}_outer_axes"
    graph.initializer.append(numpy_helper.from_array(np.array([0, 1], dtype=np.int64), axes))
    last = rank - 1
    spatial_pads = pads[1:last] + pads[rank + 1:rank + last]
    return [
        helper.make_node("Squeeze", [x, axes], [f"{name}_nhwc"], name=f"{name}_squeeze"),
        helper.make_node("Transpose", [f"{name}_nhwc"], [f"{name}_nchw"], perm=[0, last, *range(1, last)],
                         name=f"{name}_to_nchw"),
        helper.make_node("MaxPool", [f"{name}_nchw"], [f"{name}_pooled"], kernel_shape=kernel[1:last],
                         strides=strides[1:last], pads=spatial_pads, name=f"{name}_spatial"),
        helper.make_node("Transpose", [f"{name}_pooled"], [f"{name}_pooled_nhwc"],
                         perm=[0, *range(2, rank), 1], name=f"{name}_to_nhwc"),
        helper.make_node("Unsqueeze", [f"{name}_pooled_nhwc", axes], [y], name=f"{name}_unsqueeze"),
    ]
