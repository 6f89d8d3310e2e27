"""Known VGG16 and ResNet50 weight files: where they come from, how they are checked, cached, read and written.

`WEIGHT_FILES` is the one table of file names, URLs and hashes. `fetch_weights(key)` returns the
cached file, downloading it first when needed:

* the cache is Keras' own folder, `$KERAS_HOME/models` (default `~/.keras/models`), so a file that
  `keras.applications.VGG16` already downloaded is reused;
* the download comes from the table's URL, or from `$VGGCOURSE_WEIGHTS_URL/<file name>` when that
  environment variable names a mirror;
* `vggcourse.download.fetch` streams it into a temporary file in the cache folder, hashes it, and
  only then renames it into place: a cut-off download or a hash mismatch leaves nothing in the
  cache and raises `download.DownloadError`; no network and no file raises `FileNotFoundError`
  saying where to put it.

Verification. Keras publishes an md5 for its VGG16 and ResNet50 files and all are checked. The course's
batch-norm files (`vgg16_bn.h5`, `vgg16_bn_conv.h5`) have no published hash, so they are verified
*structurally only*: `load_weights` requires a weight for every layer of the model, each of exactly
the expected shape, or it raises and leaves the model unchanged. That catches a wrong or truncated
file, not a maliciously altered one. `fetch_weights` prints the sha256 of such a file so it can be
compared against a copy you trust.

`load_weights(model, path)` reads an HDF5 file with h5py and assigns arrays layer by layer. It reads
Keras' published files (Keras 2 layout: `layer_names` / `weight_names` attributes), files written
by `save_weights` here, Keras 3 `.weights.h5` files, and the course's Keras 1 / Theano files
(converted by `vggcourse.convert`). Every load is all or nothing: a file that does not fit, or
breaks off half way, leaves the model as it was (`load_weights_atomically`).
"""
import collections
import shutil
import sys
import tempfile
from pathlib import Path

import h5py
import keras
import numpy as np

from vggcourse import convert, download
from vggcourse._atomic import write_atomically
from vggcourse._console import keras_home
from vggcourse.architecture import build_vgg16
from vggcourse.arrays import host_array
from vggcourse.errors import InputFileNotFoundError, UserInputError

__all__ = [
    "WEIGHT_FILES",
    "MIRROR_ENV",
    "weights_key",
    "cache_dir",
    "weights_url",
    "fetch_weights",
    "cache_status",
    "import_weights",
    "convert_course_file",
    "read_weight_groups",
    "load_weights",
    "load_weights_atomically",
    "is_keras3_weights_file",
    "weighted_layers",
    "load_keras3_file",
    "save_weights",
]

MIRROR_ENV = "VGGCOURSE_WEIGHTS_URL"

_KERAS_VGG16 = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
_KERAS_RESNET = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
_COURSE_MODELS = "http://files.fast.ai/models/"  # the course's address; offline since 2019

WeightFile = collections.namedtuple("WeightFile", ["fname", "url", "md5"])

# key -> (file name, URL, md5 or None). md5s as published in keras/src/applications/vgg16.py
# and resnet.py.
WEIGHT_FILES = {
    "vgg16": WeightFile(
        "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
        _KERAS_VGG16 + "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
        "64373286793e3c8b2b4e3219cbf3544b",
    ),
    "vgg16_notop": WeightFile(
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        _KERAS_VGG16 + "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "6d6bbae143d832006294945121d1f1fc",
    ),
    "resnet50": WeightFile(
        "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
        _KERAS_RESNET + "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
        "2cb95161c43110f7111970584f804107",
    ),
    "resnet50_notop": WeightFile(
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        _KERAS_RESNET + "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "4d473c1dd8becc155b73f8504c6f6626",
    ),
    # The course's Keras 1 / Theano files: no published hash, structural verification only.
    "vgg16_bn": WeightFile("vgg16_bn.h5", _COURSE_MODELS + "vgg16_bn.h5", None),
    "vgg16_bn_notop": WeightFile("vgg16_bn_conv.h5", _COURSE_MODELS + "vgg16_bn_conv.h5", None),
}


def weights_key(batch_norm, include_top):
    """The `WEIGHT_FILES` key of the ImageNet weights for a model."""
    return ("vgg16_bn" if batch_norm else "vgg16") + ("" if include_top else "_notop")


def cache_dir():
    """Keras' cache folder for model files: `$KERAS_HOME/models`, default `~/.keras/models`."""
    return keras_home() / "models"


def weights_url(key):
    """Where `key` downloads from: the mirror in `$VGGCOURSE_WEIGHTS_URL` if set, else the table."""
    entry = WEIGHT_FILES[key]
    return download.mirrored_url(entry.url, MIRROR_ENV, entry.fname)


def fetch_weights(key):
    """Path of the cached weight file `key` (see `WEIGHT_FILES`), downloaded and verified if needed.

        path = fetch_weights("vgg16_notop")   # ~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
    """
    if key not in WEIGHT_FILES:
        raise UserInputError(f"`key` must be one of {sorted(WEIGHT_FILES)}. Received: key={key!r}")
    entry = WEIGHT_FILES[key]
    path = download.fetch(weights_url(key), cache_dir() / entry.fname, entry.md5, what="weights",
                          mirror_env=MIRROR_ENV, by_hand=", or pass weights=<path to the .h5 file>")
    if entry.md5 is None:
        print(
            f"{entry.fname} has no published hash; it is checked structurally when loaded. "
            f"sha256 {download.file_digest(path, 'sha256')}",
            file=sys.stderr,
        )
    return path


def cache_status():
    """One line per `WEIGHT_FILES` entry: its key, file name, and whether the cache holds it verified.

        for line in cache_status(): print(line)
    """
    lines = []
    for key, entry in WEIGHT_FILES.items():
        path = cache_dir() / entry.fname
        if not path.is_file():
            state = "missing"
        elif entry.md5 is None:
            state = "present (no published hash: shape-checked when loaded)"
        elif download.matches(path, entry.md5):
            state = "present, md5 verified"
        else:
            state = f"present but FAILS its md5 check (expected {entry.md5}): delete it or fetch again"
        lines.append(f"{key:15} {entry.fname:52} {state}")
    return lines


def _model_for(key, size=(224, 224)):
    """A randomly initialised model of the shape `key`'s file holds, to check a file against."""
    return build_vgg16(size, include_top=not key.endswith("_notop"), batch_norm=key.startswith("vgg16_bn"))


def import_weights(source, key="vgg16"):
    """Copy a local weight file into the cache as `WEIGHT_FILES[key]`, after verifying it.

    Files with a published md5 must match it; the course's batch-norm files must load into the
    model they belong to. The copy is written to a temporary file and renamed.

        import_weights("Downloads/vgg16_weights_tf_dim_ordering_tf_kernels.h5")
    """
    if key not in WEIGHT_FILES:
        raise UserInputError(f"`key` must be one of {sorted(WEIGHT_FILES)}. Received: key={key!r}")
    source, entry = Path(source), WEIGHT_FILES[key]
    if not source.is_file():
        raise InputFileNotFoundError(f"weights file not found: {source}")
    if entry.md5 is not None:
        md5 = download.file_digest(source, "md5")
        if md5 != entry.md5:
            raise UserInputError(f"{source} is not {entry.fname}: its md5 is {md5}, the published one is "
                             f"{entry.md5}. Download it again from {entry.url}.")
    else:
        load_weights(_model_for(key), source)  # raises, naming the layer, if it does not fit
    dest = cache_dir() / entry.fname
    dest.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(dest, lambda tmp: shutil.copyfile(source, tmp), suffix=".part")


def convert_course_file(source, dest, size=(224, 224)):
    """Convert the course's Keras 1 / Theano `vgg16.h5` (or `vgg16_bn.h5`, with or without the top)
    into a channels-last file `dest` with vggcourse's layer names; returns `dest`. `size` is the
    image size the file's dense layers were trained for (224x224 for the course's files).

        convert_course_file("vgg16.h5", "vgg16_tf.h5")   # then Vgg16(weights="vgg16_tf.h5")
    """
    source = Path(source)
    groups = read_weight_groups(source)  # checks that it exists and is a weights file
    errors = []
    for key in ("vgg16", "vgg16_bn", "vgg16_notop", "vgg16_bn_notop"):
        model = _model_for(key, size)
        if len(groups) != len([layer for layer in model.layers if layer.weights]):
            continue
        try:
            load_weights(model, source)
        except UserInputError as error:
            errors.append(str(error))
            continue
        return save_weights(model, dest)
    detail = f" ({errors[0]})" if errors else ""
    raise UserInputError(f"{source} is not a VGG16 or VGG16-BN weights file: its {len(groups)} layers with "
                     f"weights match none of them{detail}.")


# ---------------------------------------------------------------------------------------------
# Reading and writing HDF5 weight files


def _attr_list(group, name):
    """A list-of-strings attribute, also when Keras split it into chunks `name0`, `name1`, ..."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, i = [], 0
        while f"{name}{i}" in group.attrs:
            values.extend(group.attrs[f"{name}{i}"])
            i += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def read_weight_groups(path):
    """`[(layer name, [arrays in stored order])]` for every layer with weights, in file order.

    Understands the Keras 1/2 layout (`layer_names` attribute, one group per layer with a
    `weight_names` attribute), a full-model file's `model_weights` group, and the Keras 0.x
    layout (`nb_layers`, `layer_<k>/param_<p>`). A file that is not HDF5, or is cut off or damaged
    inside, raises `UserInputError` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(f"`weights` file not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise UserInputError(f"{path} is not an HDF5 weights file ({e}).") from e
    try:
        with f:
            return _read_groups(f, path)
    except (OSError, KeyError, TypeError) as e:  # h5py's answers to a damaged or cut-off file
        raise UserInputError(f"{path} is damaged or cut off: reading it failed ({type(e).__name__}: {e}). "
                             "Download or save it again.") from e


def _read_groups(f, path):
    root = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
    groups, layer_names = [], _attr_list(root, "layer_names")
    if layer_names:
        for name in layer_names:
            layer = root[name]
            arrays = [np.asarray(layer[w]) for w in _attr_list(layer, "weight_names")]
            if arrays:
                groups.append((name, arrays))
    elif "nb_layers" in root.attrs:
        for k in range(int(root.attrs["nb_layers"])):
            layer = root[f"layer_{k}"]
            arrays = [np.asarray(layer[f"param_{p}"]) for p in range(int(layer.attrs["nb_params"]))]
            if arrays:
                groups.append((f"layer_{k}", arrays))
    else:
        raise UserInputError(
            f"{path} is not a Keras weights file: it has no `layer_names` attribute. Pass a file "
            "from keras.applications, the course, or Vgg16.save_weights."
        )
    return groups


def is_keras3_weights_file(path):
    """True for a file from Keras 3's own `model.save_weights('*.weights.h5')`."""
    try:
        with h5py.File(path, "r") as f:
            return "layer_names" not in f.attrs and "model_weights" not in f and "layers" in f
    except OSError:
        return False


def _flatten_inputs(model):
    """`{dense layer name: (H, W, C)}` for each weighted layer right after a `Flatten`."""
    shapes, pending = {}, None
    for layer in model.layers:
        if isinstance(layer, keras.layers.Flatten):
            pending = tuple(layer.input.shape[1:])
        elif layer.weights:
            if pending is not None and len(pending) == 3:
                shapes[layer.name] = pending
            pending = None
    return shapes


def _leaf_layers(model):
    """`model.layers`, each nested model replaced by its own leaf layers (recursively)."""
    return [leaf for layer in model.layers
            for leaf in (_leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])]


def weighted_layers(model):
    """The layers with weights of `model`, inside its nested models too, bottom to top: what
    weight files name (`Resnet50`'s blocks are models; Keras' file names the layers in them).

        [layer.name for layer in weighted_layers(resnet.model)][:2]   # ['conv1_conv', 'conv1_bn']
    """
    return [layer for layer in _leaf_layers(model) if layer.weights]


def _match_layers(model, groups, path):
    """Pair each weighted layer of `model` with a stored group (the one layer matcher).

    By name when the file has every layer's name, or every name of the layers inside the model's
    nested models (`weighted_layers`: Keras' ResNet50 file for `Resnet50`'s blocks). Otherwise by
    order, Keras 1's rule: when no name matches (the course's Keras 1 files; extra groups at the
    end are ignored, so a full file loads into a model without its top), or when the file has as
    many groups as the model has weighted layers and every shape matches in order, a conv kernel
    also in Theano's layout (lesson 2 saves a model whose new top is `dense`, lesson 3 loads it
    into one whose top is `predictions`; lesson 1's hand-built `VGG_16()`, whose Keras 3 names
    `dense_1`, `dense_2` are the file's names of other layers, loads the course's `vgg16.h5`).
    """
    targets = [layer for layer in model.layers if layer.weights]
    stored = dict(groups)
    missing = [layer.name for layer in targets if layer.name not in stored]
    if not missing:
        return [(layer, layer.name, stored[layer.name]) for layer in targets]
    leaves = weighted_layers(model)
    if leaves != targets and all(layer.name in stored for layer in leaves):
        return [(layer, layer.name, stored[layer.name]) for layer in leaves]
    if len(missing) < len(targets) and not _same_shapes_in_order(targets, groups):
        raise UserInputError(
            f"{path} has no weights for the model's layers {missing}. It holds {list(stored)}."
        )
    if len(groups) < len(targets):
        raise UserInputError(
            f"{path} has weights for {len(groups)} layers but the model has {len(targets)} layers "
            f"with weights ({[layer.name for layer in targets]})."
        )
    return [(layer, name, arrays) for layer, (name, arrays) in zip(targets, groups)]


def _same_shapes_in_order(targets, groups):
    """True when `groups` has one group per layer of `targets`, each of the layer's shapes (a 4-D
    kernel also in Theano's channels-first layout)."""
    def fits(stored, wanted):
        return stored == wanted or (len(wanted) == 4 and convert.is_theano_kernel(stored, wanted))

    return len(groups) == len(targets) and all(
        len(layer.weights) == len(arrays)
        and all(fits(tuple(a.shape), tuple(v.shape)) for v, a in zip(layer.weights, arrays))
        for layer, (_, arrays) in zip(targets, groups))


def _stored_as_theano(pairs):
    """True when the file's conv kernels are channels-first `(out, in, kh, kw)` (Keras 1 + Theano)."""
    for layer, _, arrays in pairs:
        model_shape = tuple(layer.weights[0].shape)
        if len(model_shape) == 4 and arrays and arrays[0].ndim == 4:
            return convert.is_theano_kernel(arrays[0].shape, model_shape)
    return False


def _from_theano(layer, arrays, flatten_hwc):
    arrays = list(arrays)
    if arrays[0].ndim == 4:
        arrays[0] = convert.theano_kernel_to_channels_last(arrays[0])
    elif flatten_hwc is not None and arrays[0].ndim == 2:
        arrays[0] = convert.dense_rows_chw_to_hwc(arrays[0], flatten_hwc)
    elif isinstance(layer, keras.layers.BatchNormalization) and len(arrays) == 4:
        arrays = convert.keras1_batchnorm_to_keras3(*arrays)
    return arrays


def _check_shapes(layer, source, arrays, path):
    variables = layer.weights
    if len(arrays) != len(variables):
        raise UserInputError(
            f"Layer '{layer.name}' has {len(variables)} weights ({[v.name for v in variables]}) but "
            f"'{source}' in {path} has {len(arrays)} arrays."
        )
    for variable, array in zip(variables, arrays):
        if tuple(variable.shape) != tuple(array.shape):
            raise UserInputError(
                f"Layer '{layer.name}': weight '{variable.name}' has shape {tuple(array.shape)} in "
                f"{path} ('{source}') but the model expects {tuple(variable.shape)}."
            )


def load_weights(model, path, atomic=True, **keras_kwargs):
    """Load the HDF5 weight file `path` into `model`, checking every layer before assigning any.

    Layers are matched by name when the file uses the model's layer names (Keras' published
    files, `save_weights` files), otherwise by the order of layers with weights (the course's
    Keras 1 files). Extra layers in the file are ignored (a full file loads into a model without
    its top); a model layer with no weights in the file, or of another shape, raises
    `UserInputError` naming the layer and both shapes. A Keras 3 `.weights.h5` file is loaded by
    Keras (`keras_kwargs`, such as `skip_mismatch`, go to its loader). Whatever fails, the model is
    left unchanged. `atomic=False` skips the copy of every weight that makes this so: for a model
    just built, which a failed load discards anyway.

        load_weights(vgg.model, "ft1.h5")
    """
    path = Path(path)
    if path.is_file() and is_keras3_weights_file(path):
        def assign(file):
            load_keras3_file(model, file, **keras_kwargs)
    else:
        groups = read_weight_groups(path)
        pairs = _match_layers(model, groups, path)
        theano = _stored_as_theano(pairs)
        flatten_hwc = _flatten_inputs(model) if theano else {}
        checked = []
        for layer, source, arrays in pairs:
            if theano:
                arrays = _from_theano(layer, arrays, flatten_hwc.get(layer.name))
            _check_shapes(layer, source, arrays, path)
            checked.append((layer, arrays))

        def assign(_):
            for layer, arrays in checked:
                layer.set_weights(arrays)

    if not atomic:
        assign(path)
        return model
    return load_weights_atomically(model, path, assign)


def load_keras3_file(model, path, **kwargs):
    """Keras' own loader for a `save_weights('*.weights.h5')` file, whatever the file is called
    (Keras picks its reader by the name's ending, so another name is loaded through a link named
    `*.weights.h5`); `kwargs` go to Keras (`skip_mismatch`); its errors name `path`. Not atomic:
    `load_weights` and `vgg.model.load_weights` wrap it in `load_weights_atomically`.

        load_keras3_file(model, "ft1.h5")         # a file Keras 3 wrote as ft1.weights.h5, renamed
    """
    path = Path(path)
    try:
        if path.name.endswith(".weights.h5"):
            keras.Model.load_weights(model, path, **kwargs)  # not model.load_weights: it routes back here
        else:
            with tempfile.TemporaryDirectory() as folder:
                link = Path(folder) / "linked.weights.h5"
                link.symlink_to(path.resolve())
                keras.Model.load_weights(model, link, **kwargs)
    except (ValueError, OSError, KeyError) as e:
        raise UserInputError(f"{path} does not fit the model or is damaged; nothing was loaded "
                             f"({type(e).__name__}: {e})") from e


def _state_variables(model):
    """The model's weights and, when it has one, its optimizer's variables (each once)."""
    variables, seen = [], set()
    optimizer = getattr(model, "optimizer", None)
    for variable in [*model.weights, *(getattr(optimizer, "variables", None) or [])]:
        if id(variable) not in seen:
            seen.add(id(variable))
            variables.append(variable)
    return variables


def load_weights_atomically(model, path, loader):
    """Call `loader(path)` to load weights into `model`; if it raises, put every weight back.

    The values of `model`'s variables (and its optimizer's) are copied first and restored when
    `loader` fails half way, so a load either completes or changes nothing; the error is raised
    again. Returns `model`. For any loader: Keras' own `load_weights`, h5py, a converter:

        load_weights_atomically(model, "ft1.weights.h5", lambda p: keras.Model.load_weights(model, p))
    """
    variables = _state_variables(model)
    snapshot = [keras.ops.convert_to_numpy(v) for v in variables]
    try:
        loader(path)
    except BaseException:
        for variable, value in zip(variables, snapshot):
            variable.assign(value)
        raise
    return model


def save_weights(model, path):
    """Write `model`'s weights to `path` (any name, e.g. 'ft1.h5') in the layout `load_weights` reads.

    Keras 2's legacy layout: root attribute `layer_names`, one group per layer (the layers inside
    nested models, as Keras' published ResNet50 file) with a `weight_names` attribute. Written to a
    temporary file beside `path`, then renamed.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise InputFileNotFoundError(f"The folder for `path` does not exist: {path.parent}")

    def write(tmp):
        leaves = _leaf_layers(model)
        with h5py.File(tmp, "w") as f:
            f.attrs["layer_names"] = np.array([layer.name.encode("utf8") for layer in leaves])
            f.attrs["backend"] = keras.backend.backend().encode("utf8")
            f.attrs["keras_version"] = keras.__version__.encode("utf8")
            for layer in leaves:
                group = f.create_group(layer.name)
                names = [v.name.encode("utf8") for v in layer.weights]
                group.attrs["weight_names"] = np.array(names, dtype="S") if names else np.array([], "S1")
                for name, variable in zip(names, layer.weights):
                    group.create_dataset(name.decode("utf8"), data=host_array(variable))

    return write_atomically(path, write)
