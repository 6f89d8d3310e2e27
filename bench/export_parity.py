"""How closely the exported files agree with Keras: the largest absolute difference in probability.

    .venv/bin/python bench/export_parity.py                       # 64 images of ../shared/data/dogscats/valid
    .venv/bin/python bench/export_parity.py data/sample/valid -n 16 --size 64

Builds the course's VGG16 at 224x224 with its 1000-way top and RANDOM weights (`Vgg16(weights=None)`:
ImageNet's file cannot be fetched offline; the check compares runtimes on the same weights, so it
does not depend on which), saves it with `vgg.save`, exports it with `vggcourse.export.export_model`
(ONNX, and a SavedModel where TensorFlow is installed), and runs the same real photographs, decoded
by `vggcourse.image.load_image` as float32 RGB 0-255, through Keras (`vgg.model.predict`),
onnxruntime and the SavedModel's `serving_default` signature. Prints, per runtime, the largest
absolute difference from Keras and the largest probability (for scale: random weights spread a
1000-way softmax thin), and the seconds and bytes of each export.

Memory: on TensorFlow, Keras' ONNX export goes through tf2onnx, whose graph optimizer holds many
copies of the weights: about 8 GB at --size 32 (150 MB of weights), more than 23 GB at 224 (528 MB).
"""
import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import data_folder  # noqa: E402

SCRIPT = "bench/export_parity.py"


def image_files(folder, n):
    """`n` image files spread evenly over `folder`'s images (every class folder), sorted by path."""
    from vggcourse.decode import is_image_name

    files = sorted(p for p in Path(folder).rglob("*") if p.is_file() and is_image_name(p.name))
    if not files:
        print(f"{SCRIPT}: no images under {folder}; pass a folder of photographs (the course's valid/)",
              file=sys.stderr)
        sys.exit(2)
    step = max(1, len(files) / n)
    return [files[int(i * step)] for i in range(min(n, len(files)))]


def folder_size(path):
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=None,
                        help="images to compare on (default: ../shared/data/dogscats/valid)")
    parser.add_argument("-n", "--images", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=224, help="image side (224: ImageNet's)")
    args = parser.parse_args()
    folder = data_folder(args.folder, "dogscats", SCRIPT, below="valid")
    if not folder.is_dir():
        print(f"{SCRIPT}: the folder {folder} does not exist; pass a folder of photographs, e.g. "
              f"data/dogscats/valid", file=sys.stderr)
        sys.exit(2)
    files = image_files(folder, args.images)

    import keras
    import numpy as np

    from vggcourse import export
    from vggcourse.image import load_image
    from vggcourse.model import Vgg16

    size = (args.size, args.size)
    images = np.stack([load_image(f, size).astype("float32") for f in files])
    keras.utils.set_random_seed(args.seed)
    vgg = Vgg16(size, weights=None)
    formats = export.FORMATS if importlib.util.find_spec("tensorflow") else ("onnx",)
    print(f"backend {keras.backend.backend()}, keras {keras.__version__}; VGG16 {size[0]}x{size[1]}, "
          f"random weights, {len(vgg.classes)} classes; {len(images)} images from {folder}")
    with tempfile.TemporaryDirectory() as tmp:
        vgg.save(Path(tmp) / "model.keras")
        start = time.perf_counter()
        paths = export.export_model(Path(tmp) / "model.keras", Path(tmp) / "vgg16", formats=formats)
        seconds = time.perf_counter() - start
        expected = vgg.model.predict(images, batch_size=16, verbose=0)
        print(f"export: {seconds:.1f} s for {', '.join(formats)}; "
              + ", ".join(f"{name} {folder_size(paths[name]) / 1e6:.0f} MB" for name in formats))
        print(f"{'runtime':<24} {'max |diff|':>12} {'max prob':>10}")
        print(f"{'keras (reference)':<24} {0.0:>12.3g} {expected.max():>10.4f}")
        for name, got in runtimes(paths, formats, images):
            print(f"{name:<24} {np.abs(got - expected).max():>12.3g} {got.max():>10.4f}")


def runtimes(paths, formats, images, batch=16):
    """(name, probabilities) of each exported file run on `images`, in batches of `batch`."""
    import numpy as np

    from vggcourse.export import INPUT_NAME

    if "onnx" in formats:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
        yield (f"onnxruntime {onnxruntime.__version__}",
               np.concatenate([session.run(None, {INPUT_NAME: images[i:i + batch]})[0]
                               for i in range(0, len(images), batch)]))
    if "savedmodel" in formats:
        import tensorflow as tf

        serve = tf.saved_model.load(str(paths["savedmodel"])).signatures["serving_default"]
        yield (f"tf.saved_model {tf.__version__}",
               np.concatenate([serve(**{INPUT_NAME: tf.constant(images[i:i + batch])})["output_0"].numpy()
                               for i in range(0, len(images), batch)]))


if __name__ == "__main__":
    main()
