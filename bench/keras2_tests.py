"""Keras 2's own tests for `keras.preprocessing.image`, run against `vggcourse.image`.

    python bench/keras2_tests.py --tests <keras-preprocessing checkout>/tests/image

The tests (keras-team/keras-preprocessing, its final version) import `keras_preprocessing.image`
and its submodules; this script puts a stand-in package first on the path whose every image
submodule is `vggcourse.image`, runs pytest on them, and prints passed / failed per file. The three
tests that patch names inside Keras' modules (`scipy = None` to check Keras' ImportError, a
stand-in `apply_brightness_shift` seen from `random_brightness`) are deselected and listed: they
test keras_preprocessing's module layout, not the API. Channels-first cases run too.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SUBMODULES = ("affine_transformations", "dataframe_iterator", "directory_iterator", "image_data_generator",
              "iterator", "numpy_array_iterator", "utils")

# Keras' tests that check Keras' own module internals (they patch `scipy` / `ImageEnhance` /
# `apply_brightness_shift` inside keras_preprocessing's modules): deselected, counted apart.
NOT_APPLICABLE = ("affine_transformations_test.py::test_apply_brightness_shift_error",
                  "affine_transformations_test.py::test_apply_affine_transform_error",
                  "affine_transformations_test.py::test_random_brightness")


def write_standin(folder):
    package = Path(folder) / "keras_preprocessing"
    (package / "image").mkdir(parents=True)
    # numpy 2 removed np.alltrue, which one of Keras' tests calls: put numpy's own np.all there
    (package / "__init__.py").write_text("import numpy\nif not hasattr(numpy, 'alltrue'):\n    numpy.alltrue = numpy.all\n")
    lines = ["import sys", "from vggcourse import image as _image", "from vggcourse.image import *  # noqa",
             "from vggcourse.image import __all__  # noqa"]
    lines += [f"sys.modules[__name__ + '.{name}'] = _image\n{name} = _image" for name in SUBMODULES]
    (package / "image" / "__init__.py").write_text("\n".join(lines) + "\n")
    # pytest's --deselect takes node-id prefixes (test_random_brightness would take its siblings too)
    (Path(folder) / "exact_deselect.py").write_text(
        f"NAMES = {NOT_APPLICABLE!r}\n"
        "def pytest_collection_modifyitems(config, items):\n"
        "    chosen = [item for item in items if item.nodeid in NAMES]\n"
        "    items[:] = [item for item in items if item.nodeid not in NAMES]\n"
        "    config.hook.pytest_deselected(items=chosen)\n")
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", required=True, help="keras-preprocessing's tests/image folder")
    parser.add_argument("--tb", default="line", help="pytest's traceback style (line, short, long)")
    parser.add_argument("--pytest-args", default="", help="more arguments for pytest")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        write_standin(folder)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([folder, os.environ.get("PYTHONPATH", "")])}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", f"--tb={args.tb}",
                   "-o", "addopts=", "--rootdir", args.tests, ".", *args.pytest_args.split(),
                   "-p", "exact_deselect"]
        result = subprocess.run(command, env=env, cwd=args.tests, capture_output=True, text=True)
    print(result.stdout[-20000:], result.stderr[-3000:])
    print(f"deselected (they patch Keras' module internals): {', '.join(NOT_APPLICABLE)}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
