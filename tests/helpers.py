"""Helpers the test modules share (import them: `from helpers import copy_sample`); fixtures are in conftest.py.

The images come from `vggcourse.sample` (crops of scikit-learn's bundled photographs), written into
temporary folders: the suite reads nothing outside the repository and its temporary folders.
"""
import http.server
import os
import shutil
import struct
import sys
import tempfile
import threading
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from vggcourse.sample import photo, random_crop


def copy_sample(source, root, counts=(("train", 6), ("valid", 3))):
    """`root/train` and `root/valid` with the first few images per class of `source`, copied."""
    for split, count in counts:
        for name in ("cats", "dogs"):
            (root / split / name).mkdir(parents=True)
            for path in sorted((source / split / name).iterdir())[:count]:
                shutil.copy2(path, root / split / name / path.name)
    return root


def finetuned_vgg(root, seed=0, dropout=None, shuffle=True, size=(32, 32)):
    """(vgg, batches, val_batches): `Vgg16(weights=None)` after `finetune` on `root`'s train/,
    batches of 4; `dropout` overrides every Dropout rate (0.0 makes runs comparable)."""
    import keras

    from vggcourse.model import Vgg16

    keras.utils.set_random_seed(seed)
    vgg = Vgg16(weights=None, size=size)
    batches = vgg.get_batches(root / "train", batch_size=4, shuffle=shuffle, seed=seed)
    val_batches = vgg.get_batches(root / "valid", batch_size=4, shuffle=False)
    vgg.finetune(batches)
    if dropout is not None:
        for layer in vgg.model.layers:
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = dropout
    return vgg, batches, val_batches


def saved_small_vgg(path, seed=0):
    """`path` after saving a small Vgg16 there (32x32, random weights, two classes 'cats' and 'dogs',
    no optimizer): what the serve tests load."""
    import keras

    from vggcourse.model import Vgg16

    keras.utils.set_random_seed(seed)
    vgg = Vgg16((32, 32), weights=None)
    vgg.ft(2)
    vgg.classes = ["cats", "dogs"]
    return vgg.save(path, include_optimizer=False)


# name -> how the file is written; what the course meets in Kaggle's and ImageNet's folders
ODD_FORMATS = ("baseline.jpg", "progressive.jpg", "large.jpg", "grayscale.jpg", "cmyk.jpg", "picture.png",
               "grayscale16.png", "truncated.jpg")


def write_odd_images(folder, seed=0):
    """One image per entry of ODD_FORMATS in `folder` (made if needed), cut from scikit-learn's
    photographs; returns {name: path}.

    baseline and progressive JPEG (RGB, about 400 px), a large JPEG (1,200 px, so a small target
    is DCT-downscaled), a grayscale JPEG, a CMYK JPEG (libjpeg-turbo's simplejpeg refuses it: the
    Pillow fallback decodes it), an RGB PNG, a 16-bit grayscale PNG, and a JPEG cut off after 60% of
    its bytes (decoded as far as it goes).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = random_crop(photo("china.jpg"), rng, min_side=300, max_side=420)
    paths = {name: folder / name for name in ODD_FORMATS}
    base.save(paths["baseline.jpg"], quality=90)
    base.save(paths["progressive.jpg"], quality=90, progressive=True)
    large = Image.fromarray(photo("flower.jpg")).resize((1200, 800), Image.Resampling.LANCZOS)
    large.save(paths["large.jpg"], quality=90)
    base.convert("L").save(paths["grayscale.jpg"], quality=90)
    base.convert("CMYK").save(paths["cmyk.jpg"], quality=90)
    base.save(paths["picture.png"])
    wide = (np.asarray(base.convert("L"), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(wide).save(paths["grayscale16.png"])
    data = paths["baseline.jpg"].read_bytes()
    paths["truncated.jpg"].write_bytes(data[: int(len(data) * 0.6)])
    return paths


def write_broken_png(path, seed=0):
    """A PNG whose header reads (the scan keeps it) and whose pixels do not: random IDAT bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = np.random.default_rng(seed).integers(0, 256, 300, dtype=np.uint8).tobytes()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 40, 40, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def allowed_roots(repo):
    """Folders a test may read: the repository, temporary folders, the Python install (sys.prefix,
    sys.path) and the system's folders. (The home folder's dot-folders, where tools keep settings
    such as ~/.keras/keras.json, are allowed by `outside_reads` itself.)"""
    roots = {Path(repo), Path(tempfile.gettempdir()), Path(sys.prefix), Path(sys.base_prefix),
             Path(sys.exec_prefix)}
    roots.update(Path(p) for p in sys.path if p and os.path.isabs(p))
    roots.update(Path(p) for p in ("/usr", "/lib", "/lib64", "/etc", "/dev", "/proc", "/sys", "/run",
                                   "/var/cache", "/var/lib"))
    return tuple(root.resolve() for root in roots)


def _under(path, root):
    return path == root or root in path.parents


def outside_reads(paths, repo, roots):
    """The paths of `paths` that a test must not read: under none of `roots` and not in a
    dot-folder of the home folder, or beside the repository (a `../shared` or `../data` that a
    fresh clone does not have), whatever the roots say.

        outside_reads(["/work/shared/x.jpg"], "/work/main", allowed_roots("/work/main"))  # flagged
    """
    repo, home = Path(repo).resolve(), Path.home().resolve()
    found = []
    for path in paths:
        resolved = Path(os.path.abspath(path)).resolve()
        in_home_settings = (_under(resolved, home) and resolved != home
                            and resolved.relative_to(home).parts[0].startswith("."))
        beside_repo = (_under(resolved, repo.parent) and not _under(resolved, repo) and not in_home_settings
                       and not any(_under(resolved, root) for root in roots if not _under(repo.parent, root)))
        allowed = any(_under(resolved, root) for root in roots) or in_home_settings
        if beside_repo or not allowed:
            found.append(str(path))
    return found


OPENED = []  # every file opened since the last test began (conftest installs `record_open`)


def record_open(event, args):
    """An audit hook (`sys.addaudithook`): the absolute path of every file opened, into OPENED."""
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if not path.startswith("<"):
            OPENED.append(os.path.abspath(path))


def write_keras1_theano_file(model, path):
    """The course's vgg16.h5 / vgg16_bn.h5 layout: Keras 1 names, Theano channels-first arrays."""
    import h5py
    import keras

    from vggcourse import convert

    counters, names, groups = {}, [], {}

    def keras1_name(kind):
        counters[kind] = counters.get(kind, 0) + 1
        return f"{kind}_{counters[kind]}"

    names.append(keras1_name("lambda"))
    hwc = None
    for layer in model.layers[1:]:
        values = [keras.ops.convert_to_numpy(w) for w in layer.weights]
        if isinstance(layer, keras.layers.Conv2D):
            names.append(keras1_name("zeropadding2d"))
            name = keras1_name("convolution2d")
            groups[name] = [(f"{name}_W", convert.channels_last_kernel_to_theano(values[0])), (f"{name}_b", values[1])]
        elif isinstance(layer, keras.layers.Dense):
            name = keras1_name("dense")
            kernel = values[0] if hwc is None else convert.dense_rows_hwc_to_chw(values[0], hwc)
            hwc = None
            groups[name] = [(f"{name}_W", kernel), (f"{name}_b", values[1])]
        elif isinstance(layer, keras.layers.BatchNormalization):
            name = keras1_name("batchnormalization")
            suffixes = ("gamma", "beta", "running_mean", "running_std")  # running_std holds the variance
            groups[name] = [(f"{name}_{s}", v) for s, v in zip(suffixes, values)]
        elif isinstance(layer, keras.layers.Flatten):
            name = keras1_name("flatten")
            hwc = tuple(layer.input.shape[1:])
        else:
            name = keras1_name({keras.layers.MaxPooling2D: "maxpooling2d", keras.layers.Dropout: "dropout"}[type(layer)])
        names.append(name)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name in names:
            group = f.create_group(name)
            arrays = groups.get(name, [])
            group.attrs["weight_names"] = np.array([n.encode() for n, _ in arrays], dtype="S") if arrays else np.array([], "S1")
            for n, value in arrays:
                group.create_dataset(n, data=value)


def sample_images(dogscats, size, n=4):
    """`n` of the sample's valid images (half dogs, half cats) as float32 RGB (n, h, w, 3) at `size`."""
    files = sorted((dogscats / "valid" / "dogs").glob("*.jpg"))[:n // 2] + sorted((dogscats / "valid" / "cats").glob("*.jpg"))[:n // 2]
    return np.stack([np.asarray(Image.open(f).convert("RGB").resize(size[::-1], Image.BILINEAR), "float32") for f in files])


class WeightServer:
    """A local HTTP server standing in for a weights mirror: `files[name] = (body, declared length
    or None)`; counts requests in `requests`; `close()` stops it."""

    def __init__(self):
        self.files, self.requests = {}, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                name = self.path.rsplit("/", 1)[-1]
                if name not in server.files:
                    self.send_error(404)
                    return
                body, length = server.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mirror"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def write_statefarm(dogscats, root, drivers=("p002", "p012", "p014", "p015"), per_class=1, n_test=6):
    """A stand-in for Kaggle's State Farm download under `root`, from the sample's images (copies):
    `train/c0`..`train/c9` with `per_class` images per class and driver (`img_1.jpg`, ...), the
    `driver_imgs_list.csv` that names each image's driver (`subject,classname,img`), and a flat
    `test/` of `n_test` images. Returns `root`.

        write_statefarm(dogscats, tmp_path / "state")   # 4 drivers x 10 classes = 40 train images
    """
    images = iter(sorted((dogscats / "train" / "cats").glob("*.jpg")) + sorted((dogscats / "train" / "dogs").glob("*.jpg")))
    rows, number = ["subject,classname,img"], 0
    for c in range(10):
        (root / "train" / f"c{c}").mkdir(parents=True)
        for driver in drivers:
            for _ in range(per_class):
                number += 1
                shutil.copy(next(images), root / "train" / f"c{c}" / f"img_{number}.jpg")
                rows.append(f"{driver},c{c},img_{number}.jpg")
    (root / "driver_imgs_list.csv").write_text("\n".join(rows) + "\n")
    (root / "test").mkdir()
    for _ in range(n_test):
        number += 1
        shutil.copy(next(images), root / "test" / f"img_{number}.jpg")
    return root


FISH_CLASSES = ("ALB", "BET", "DOL", "LAG", "NoF", "OTHER", "SHARK", "YFT")
CAMERA_SIZES = ((320, 180), (256, 144), (300, 200))  # (width, height): one per "boat"


def write_fisheries(dogscats, root, per_class=4, n_test=4, boxed=2):
    """A stand-in for Kaggle's fisheries download (NCFM) under `root`, from the sample's images:
    `train/ALB` ... `train/YFT` (`per_class` images each, `img_00001.jpg`, ...), each resized to one
    of three camera sizes, a flat `test/` of `n_test` images, and `annos/<class>_labels.json` (the
    forum's annotation files: a list of {"filename", "annotations": [{"class": "rect", "height",
    "width", "x", "y"}]}) with a box for the first `boxed` images of every class but NoF and OTHER.
    Returns `root`.

        write_fisheries(dogscats, tmp_path / "fish")   # 32 train images, 12 boxes
    """
    import json

    images = iter(sorted((dogscats / "train" / "cats").glob("*.jpg")) + sorted((dogscats / "train" / "dogs").glob("*.jpg")))
    number = 0

    def write(folder):
        nonlocal number
        number += 1
        name = f"img_{number:05d}.jpg"
        with Image.open(next(images)) as im:
            im.convert("RGB").resize(CAMERA_SIZES[number % len(CAMERA_SIZES)]).save(folder / name)
        return name

    (root / "annos").mkdir(parents=True)
    for cls in FISH_CLASSES:
        (root / "train" / cls).mkdir(parents=True)
        names = [write(root / "train" / cls) for _ in range(per_class)]
        if cls in ("NoF", "OTHER"):
            continue
        labels = [{"filename": f"../data/fish/train/{cls}/{name}", "class": "image",
                   "annotations": [{"class": "rect", "height": 40.0 + i, "width": 60.0, "x": 20.0 + i, "y": 30.0},
                                   {"class": "rect", "height": 10.0, "width": 10.0, "x": 1.0, "y": 2.0}]}
                  for i, name in enumerate(names[:boxed])]
        labels.append({"filename": f"../data/fish/train/{cls}/{names[-1]}", "class": "image", "annotations": []})
        (root / "annos" / f"{cls.lower()}_labels.json").write_text(json.dumps(labels))
    (root / "test").mkdir()
    for _ in range(n_test):
        write(root / "test")
    return root
