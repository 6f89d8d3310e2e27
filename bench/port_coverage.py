"""How much of the original course runs after `vggcourse port` (issue 10's goal measurement).

    .venv/bin/python bench/port_coverage.py --courses PATH/TO/courses/deeplearning1/nbs [--out DIR]

PATH is a checkout of https://github.com/fastai/courses (`deeplearning1/nbs/` holds lesson1,
lesson2, lesson3, dogs_cats_redux and dogscats-ensemble). Each notebook is ported
(`vggcourse.port.port_notebook`), run top to bottom with every cell executed even after a failure,
and each code cell counted as run OK or not. Cells "calling the course's API" are those that use
a name of `vggcourse.utils` (the course's helpers and Keras 1 names) or a Keras 1 model method.

What the run changes, and why (printed in the report too):
- One cell is put before each notebook's first cell, clearly labelled: no ImageNet weights can be
  downloaded here, so `Vgg16()` / `Vgg16BN()` start from random weights (weights=None) and the
  course's 224x224 images are shrunk to 32x32 (`Vgg16`, `get_batches`, `get_data` defaults).
  Accuracy figures in these runs mean nothing; only "the cell ran" is measured.
- Data: `data/dogscats/` is a sample in the course layout made from `--data`, else
  ../shared/data/dogscats, else the stand-in that `vggcourse.sample` writes (16 + 16 train, 8 + 8 valid, 16 test images; links, not copies), with `sample/` pointing at
  itself, so lesson 2's `sample/models/` and lesson 3's `models/` are one folder (lesson 3 loads
  the weights lesson 2 saved, as in the course), and one test image also linked as
  `test/7.jpg`: lesson 3 reads that file, and the course's own machine kept its test images flat
  in `test/` (the ensemble notebook's saved output shows `get_classes` finding 0 test classes).
  `data/redux/` is a Kaggle-style flat download of
  2,300 training names (the sample's images repeated under Kaggle names: the notebook moves 2,000
  of them to valid/) and the sample's test images.
- Cells that need the internet or another dataset are listed in EXCEPTED and left out of the
  percentages (they still run).
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED_SAMPLE = REPO.parent / "shared" / "data" / "dogscats"
NOTEBOOKS = ["lesson1", "lesson2", "lesson3", "dogs_cats_redux", "dogscats-ensemble"]
# (notebook, code cell number from 1) -> why it is excepted
EXCEPTED = {
    ("lesson1", 26): "downloads the course's vgg16.h5 from files.fast.ai (internet)",
}
SIZE = (32, 32)
PRELUDE = f'''# ---- port_coverage prelude: NOT part of the course notebook ----
# No ImageNet weights can be downloaded here: Vgg16()/Vgg16BN() use random weights (weights=None),
# and images are {SIZE[0]}x{SIZE[1]} instead of 224x224 to keep the run short. Accuracies mean nothing.
import vggcourse.model as _vm, vggcourse.utils as _vu
def _defaults(f, **new):
    import inspect
    names = [p.name for p in inspect.signature(f).parameters.values() if p.default is not p.empty]
    f.__defaults__ = tuple(new.get(n, d) for n, d in zip(names, f.__defaults__))
_defaults(_vm.Vgg16.__init__, weights=None, size={SIZE})
_defaults(_vu.get_batches, target_size={SIZE})
_defaults(_vu.get_data, target_size={SIZE})
'''
_METHODS = {
    "fit", "fit_generator", "predict", "predict_generator", "evaluate", "evaluate_generator",
    "predict_classes", "predict_proba", "compile", "save_weights", "load_weights", "finetune", "ft",
    "test", "pop", "add", "summary", "set_weights", "get_weights", "trainable", "optimizer", "lr",
    "flow", "flow_from_directory", "nb_sample", "classes", "class_indices", "filenames",
}
_NOT_API = {
    "math", "os", "json", "sys", "re", "pickle", "glob", "itertools", "chain", "OrderedDict",
    "itemgetter", "attrgetter", "methodcaller", "np", "plt", "pd", "PIL", "Image", "scipy",
    "random", "permutation", "randn", "normal", "uniform", "choice", "newaxis", "keras", "floor", "ceil",
}


def _api_names():
    from vggcourse import utils

    return set(utils.__all__) - _NOT_API


def _link(src, dest):
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.abspath(src), dest)


def make_data(root, n_train=16, n_valid=8, n_test=16, redux_train=2300, source=None):
    """The course-layout sample and the Kaggle-style redux folder under `root`/data, from `source`
    (a folder in the course layout: `--data`, else ../shared/data/dogscats, else the stand-in
    `vggcourse.sample` writes into `root`: only whether cells run is measured)."""
    if source is None and SHARED_SAMPLE.is_dir():
        source = SHARED_SAMPLE
    if source is None:
        from vggcourse.sample import write_sample

        source = write_sample(root / "stand-in", train=n_train, valid=n_valid, test=n_test)
    sample = Path(source)
    dogscats = root / "data" / "dogscats"
    for split, n in (("train", n_train), ("valid", n_valid)):
        for cls in ("cats", "dogs"):
            for f in sorted((sample / split / cls).glob("*.jpg"))[:n]:
                _link(f, dogscats / split / cls / f.name)
    tests = sorted((sample / "test" / "unknown").glob("*.jpg"))
    for f in tests[:n_test]:
        _link(f, dogscats / "test" / "unknown" / f.name)
    _link(tests[0], dogscats / "test" / "7.jpg")  # lesson 3 reads it; see the docstring
    os.symlink(".", dogscats / "sample")
    redux = root / "data" / "redux"
    for cls, kaggle in (("cats", "cat"), ("dogs", "dog")):
        files = sorted((sample / "train" / cls).glob("*.jpg")) + sorted((sample / "valid" / cls).glob("*.jpg"))
        for k in range(redux_train // 2):
            _link(files[k % len(files)], redux / "train" / f"{kaggle}.{k}.jpg")
    for f in tests[:n_test]:
        _link(f, redux / "test" / f.name)


def run_notebook(path, workdir, timeout=600):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PRELUDE))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(workdir)}})
    start = time.time()
    client.execute()
    return nb, time.time() - start


def _error(cell):
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename')}: {str(out.get('evalue')).splitlines()[0][:160] if out.get('evalue') else ''}"
    return None


def calls_api(source, api_names):
    """True when `source` uses a course name, or calls a Keras 1 model method (`.fit_generator`)."""
    source = re.sub(r"#.*", "", source)
    names = set(re.findall(r"(?<![\w.])([A-Za-z_]\w*)", source))
    methods = set(re.findall(r"\.([A-Za-z_]\w*)", source))
    return bool(names & api_names or methods & _METHODS)


def score(name, nb, api_names):
    rows = []
    for number, cell in enumerate([c for c in nb.cells if c.cell_type == "code"][1:], start=1):
        rows.append({"cell": number, "api": calls_api(cell.source, api_names), "error": _error(cell),
                     "excepted": EXCEPTED.get((name, number)), "source": cell.source[:80]})
    return rows


def summarise(results):
    lines = ["| notebook | code cells OK | API cells OK | excepted |", "| --- | --- | --- | --- |"]
    total = {"code": [0, 0], "api": [0, 0]}
    for name, rows in results.items():
        counted = [r for r in rows if not r["excepted"]]
        code_ok = sum(r["error"] is None for r in counted)
        api = [r for r in counted if r["api"]]
        api_ok = sum(r["error"] is None for r in api)
        total["code"][0] += code_ok
        total["code"][1] += len(counted)
        total["api"][0] += api_ok
        total["api"][1] += len(api)
        lines.append(f"| {name} | {code_ok}/{len(counted)} | {api_ok}/{len(api)} | "
                     f"{len(rows) - len(counted)} |")
    code, api = total["code"], total["api"]
    lines.append(f"| **all** | **{code[0]}/{code[1]} ({100 * code[0] / max(code[1], 1):.1f}%)** | "
                 f"**{api[0]}/{api[1]} ({100 * api[0] / max(api[1], 1):.1f}%)** | |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--courses", required=True, help="folder holding the course's original notebooks")
    parser.add_argument("--out", default=None, help="folder for the ported/executed notebooks and results.json")
    parser.add_argument("--only", nargs="*", default=NOTEBOOKS, help="notebooks to run (default: all five)")
    parser.add_argument("--data", default=None, help="a sample in the course layout (default: "
                        "../shared/data/dogscats if present, else `vggcourse.sample`'s stand-in)")
    args = parser.parse_args(argv)
    from vggcourse.port import port_notebook

    work = Path(tempfile.mkdtemp(prefix="port_coverage_"))
    out = Path(args.out) if args.out else work / "results"
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KERAS_HOME", str(work / "keras"))
    os.environ.setdefault("VGGCOURSE_CACHE", str(work / "features"))
    make_data(work, source=args.data)
    api_names = _api_names()
    results, times = {}, {}
    import nbformat

    for name in args.only:
        ported = port_notebook(Path(args.courses) / f"{name}.ipynb", work / f"{name}.ipynb")
        nb, times[name] = run_notebook(ported.path, work)
        nbformat.write(nb, str(out / f"{name}.executed.ipynb"))
        results[name] = score(name, nb, api_names)
        failed = [r for r in results[name] if r["error"]]
        print(f"{name}: {times[name]:.0f} s, {len(failed)} cells failed", flush=True)
        for r in failed:
            print(f"    cell {r['cell']}{' (excepted)' if r['excepted'] else ''}: {r['error']}", flush=True)
    table = summarise(results)
    print(table)
    print("Excepted cells:")
    for (name, cell), why in EXCEPTED.items():
        print(f"  {name} cell {cell}: {why}")
    (out / "results.json").write_text(json.dumps({"results": results, "seconds": times}, indent=1))
    print(f"executed notebooks and results.json in {out}")
    shutil.rmtree(work / "data", ignore_errors=True)


if __name__ == "__main__":
    main()
