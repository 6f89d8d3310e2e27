"""How much of the original course runs after `vggcourse port` (issues 10 and 19: the goal measurement).

    .venv/bin/python bench/port_coverage.py --courses PATH/TO/courses/deeplearning1/nbs [--out DIR]
        [--notebooks lesson7 mnist ...] [--cell-timeout S] [--budget S]

PATH is a checkout of https://github.com/fastai/courses (`deeplearning1/nbs/` holds lesson1,
lesson2, lesson3, dogs_cats_redux and dogscats-ensemble, issue 10's; lesson7, statefarm,
statefarm-sample, mnist, imagenet_batchnorm and convolution-intro, issue 19's; lesson4, lesson5,
lesson6, char-rnn, wordvectors and sgd-intro, issue 20's), e.g.
`git --git-dir=/work/.mirror/fastai+courses/repo archive HEAD deeplearning1/nbs | tar -x -C DIR`.
`--notebooks` picks some (default: all seventeen). Each notebook is ported
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
- The run's size also replaces the course's written-out `input_shape=(3,224,224)` (State Farm's
  and lesson 1's models) and `target_size=(224,224)` (lesson 1's own get_batches); lesson 7's
  360x640 (`get_data` and `Vgg16BN((360, 640))`) becomes 128x256, the smallest size its
  large-image models can pool.
- Every fit trains one epoch at most: the course's fits run up to 18 epochs (mnist trains six
  models for 35), hours on this CPU at any size, and only whether a cell runs is measured.
- MNIST is `vggcourse.sample.mnist_standin()` (`mnist.load_data` returns it, in the prelude), also
  saved as convolution-intro's `MNIST_data/train.npz`; lesson 7's fisheries, State Farm and an
  ImageNet-like sample are stand-ins in each notebook's layout (`bench/_port_data.py`).
- The text notebooks' data is `vggcourse.text_standins`' (bench/_port_text_data.py): MovieLens'
  CSVs and GloVe's text files where the notebooks read them, and their downloads (Keras' IMDB word
  index, the course's imdb_full.pkl, files.fast.ai's GloVe archive of bcolz arrays, nietzsche.txt)
  served by a real HTTP server on 127.0.0.1, fetched and hash-checked by vggcourse's own download
  code: the prelude points the course's URLs there, with the stand-ins' hashes for the course's.
  char-rnn's text is 1,000 characters (its two 512-unit LSTMs, six fits; it downloads into its own
  Keras cache, where lesson 6's 100,000 characters are not), lesson 6's 100,000.
- Cells that need the internet or another dataset are listed in EXCEPTED and left out of the
  percentages (they still run).
- `port` itself fixes the course's bugs where a cell uses a name the notebook never defines and
  the intended one is plain (`vggcourse.course_fixes`: imagenet_batchnorm's `samp_path`, `val`,
  `conv_feat`; statefarm's `test_batches`, `val_preds`), each with a comment in the cell, as a
  learner's `vggcourse port` does: those cells and the ones after them count as run.
- Cells that fail in the original notebook too, run top to bottom on any machine (a name the
  notebook never defines, a file it never saves, state from cells run out of order on the
  author's machine), and that `port` does not fix, and the cells that depend on them, are listed
  in COURSE_BUGS with the reason.
  They count in "code cells OK" as the issue counts; the last column leaves them out: the share of
  the cells that the original notebook itself can run.
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
sys.path.insert(0, str(REPO / "bench"))
import _port_data  # noqa: E402
import _port_text_data  # noqa: E402
SHARED_SAMPLE = REPO.parent / "shared" / "data" / "dogscats"
NOTEBOOKS = ["lesson1", "lesson2", "lesson3", "dogs_cats_redux", "dogscats-ensemble",
             "lesson7", "statefarm", "statefarm-sample", "mnist", "imagenet_batchnorm", "convolution-intro",
             "lesson4", "wordvectors", "lesson5", "lesson6", "char-rnn", "sgd-intro"]
# (wordvectors before lesson5, as lesson5 tells the learner: it makes the GloVe arrays that lesson5
# downloads into the same folder, and save_array never replaces the bcolz folder lesson5 unpacks there)
# (notebook, code cell number from 1) -> why it is excepted
EXCEPTED = {
    ("lesson1", 26): "downloads the course's vgg16.h5 from files.fast.ai (internet)",
    ("lesson7", 56): "downloads the bounding boxes from the Kaggle forum (internet; the run writes "
                     "stand-in annos/*.json instead)",
    ("imagenet_batchnorm", 5): "copies 25,000 images of the full ImageNet training set (1.28M images) "
                               "into the sample: needs that dataset",
    ("imagenet_batchnorm", 6): "copies 5,000 images of the full ImageNet validation set into the "
                               "sample: needs that dataset",
    ("imagenet_batchnorm", 44): "opens features of all of ImageNet on the author's SSD (/home/jhoward/...)",
    ("imagenet_batchnorm", 45): "reads labels of all of ImageNet on the author's SSD (/home/jhoward/...)",
    ("imagenet_batchnorm", 46): "opens features of all of ImageNet on the author's SSD (/home/jhoward/...)",
    ("imagenet_batchnorm", 47): "reads labels of all of ImageNet on the author's SSD (/home/jhoward/...)",
    ("imagenet_batchnorm", 48): "fits on all of ImageNet's features (cells 44-47)",
}
_NEVER = "is never defined in the notebook"
# (notebook, code cell number from 1) -> why the cell fails in the original notebook too
COURSE_BUGS = {
    ("lesson7", 7): "makes valid/<class> folders, which cell 4 has already read: on the author's machine "
                    "valid/ was left from an earlier run (top to bottom, cell 4 or this cell fails)",
    ("lesson7", 137): f"`test_sizes` {_NEVER}",
    ("lesson7", 139): "uses `preds` of cell 137",
    ("lesson7", 142): "uses `test_batches` of cell 139",
    ("lesson7", 143): "uses `mi` of cell 142",
    ("lesson7", 146): "predicts with the 224x224 bounding-box `model` on the 360x640 features cell 87 put in "
                      "`conv_test_feat` (the author ran it before cell 87)",
    ("lesson7", 147): "uses `preds` of cell 146",
    ("lesson7", 154): "makes the submission from cell 150's `conv_model` output, which is VGG's conv "
                      "features (cell 26's `conv_model`), not class probabilities",
    ("lesson7", 155): "uses `submission` of cell 154",
    ("statefarm", 72): "copies `bn_model`'s weights (cell 45's 256-wide layers) into `get_bn_layers` "
                       "(cell 30's, 128-wide): the author's `bn_model` was then cell 32's",
    ("statefarm", 77): "pairs `comb` (cell 75: train + valid images) with `comb_pseudo` (cell 53: six "
                       "copies of the training labels + valid): the author's `comb_pseudo` was another",
    ("statefarm", 87): "loads models/conv8_da.h5, which the notebook never saves (cell 86 saves conv8_ps.h5)",
    ("statefarm", 97): f"`fit_conv` {_NEVER}",
    ("statefarm", 98): "uses `models` of cell 97",
    ("statefarm", 99): f"`avg_val_preds` {_NEVER}",
    ("statefarm", 100): f"`avg_val_preds` {_NEVER}",
    ("lesson6", 68): "`np.concatenate(xs, axis=1)` of cell 45's 1-d `xs` (shape (75110,) in the notebook's own "
                     "output): NumPy raises, and the NumPy of 2016, which joined 1-d arrays along axis 0, "
                     "made 601,000 samples for 75,110 labels (the author's `xs` were columns)",
}
SIZE = (32, 32)
LARGE = (128, 256)  # lesson 7's 360x640, shrunk (see PRELUDE)
PRELUDE = f'''# ---- port_coverage prelude: NOT part of the course notebook ----
# No ImageNet weights can be downloaded here: Vgg16()/Vgg16BN() use random weights (weights=None),
# and images are {SIZE[0]}x{SIZE[1]} instead of 224x224 to keep the run short. Accuracies mean nothing.
import vggcourse.model as _vm, vggcourse.utils as _vu
def _defaults(f, **new):
    import inspect
    names = [p.name for p in inspect.signature(f).parameters.values() if p.default is not p.empty]
    f.__defaults__ = tuple(new.get(n, d) for n, d in zip(names, f.__defaults__))
_defaults(_vm.Vgg16.__init__, weights=None)
_defaults(_vu.get_batches, target_size={SIZE})
_defaults(_vu.get_data, target_size={SIZE})
# Sizes written out in the notebook shrink too, in get_data and Vgg16/Vgg16BN alike: lesson 7's
# 360x640 becomes {LARGE}, the smallest size whose VGG features ({LARGE[0] // 32}x{LARGE[1] // 32}) its
# large-image models can still pool (two 2x2 max-pools, then a 1x2); other sizes shrink by {SIZE[0]}/224.
def _small(size):
    size = tuple(size)
    return {{(224, 224): {SIZE}, {SIZE}: {SIZE}, (360, 640): {LARGE}}}.get(size, tuple(max(8, round(s * {SIZE[0]} / 224)) for s in size))
_get_data = _vu.get_data
def _small_get_data(path, target_size={SIZE}, *args, **kwargs):
    return _get_data(path, _small(target_size), *args, **kwargs)
_vu.get_data = _small_get_data
# include_top is decided at the course's size, as with ImageNet weights (Vgg16's docstring):
# no dense layers for 360x640.
_vgg_init = _vm.Vgg16.__init__
def _small_vgg_init(self, size=(224, 224), include_top=None, *args, **kwargs):
    if include_top is None:
        include_top = tuple(size) in ((224, 224), {SIZE})
    _vgg_init(self, _small(size), include_top, *args, **kwargs)
_vm.Vgg16.__init__ = _small_vgg_init
# Every fit trains one epoch at most (the course's run 1-18 epochs; mnist fits six models of 35):
# which cells run is measured, not what they learn.
import keras as _keras
_keras_fit = _keras.Model.fit
def _fit_one_epoch(self, *args, epochs=1, initial_epoch=0, **kwargs):
    return _keras_fit(self, *args, epochs=min(epochs, initial_epoch + 1), initial_epoch=initial_epoch, **kwargs)
_keras.Model.fit = _fit_one_epoch
# No MNIST download here: mnist.load_data() (`vggcourse port` makes it vggcourse.datasets.mnist) returns
# vggcourse.sample.mnist_standin() (scikit-learn's 1,797 digits in MNIST's arrays).
import vggcourse.datasets as _vd, vggcourse.sample as _vs
_vd.mnist.load_data = lambda *args, **kwargs: _vs.mnist_standin()
'''


def download_prelude(base_url, served, notebook):
    """The prelude's lines for the notebooks' downloads: each goes to the stand-in that `base_url` (a
    local HTTP server on `served`) has, through vggcourse's real download code; the course's md5
    hashes are the real files', so the stand-ins' own hashes are checked instead."""
    standins = {url: (base_url + name, _port_text_data.md5(served / name))
                for url, name in _port_text_data.downloads(notebook).items()}
    # A notebook with its own stand-in of a file (char-rnn's shorter nietzsche.txt) downloads it into
    # its own Keras cache: get_file would otherwise find the file another notebook downloaded.
    own_cache = notebook in _port_text_data.NOTEBOOK_DOWNLOADS
    word_index = _port_text_data.md5(served / "imdb_word_index.json")
    return f'''# The downloads (IMDB, GloVe, Nietzsche) are stand-ins served on 127.0.0.1 (bench/_port_text_data.py),
# fetched and hash-checked by vggcourse's own code: the course's URLs point there, with the stand-ins' hashes.
import os as _os, vggcourse.keras1 as _vk1
_os.environ["VGGCOURSE_DATASETS_URL"] = {base_url!r}
if {own_cache!r}:
    _os.environ["KERAS_HOME"] = _os.path.join(_os.environ["KERAS_HOME"], {notebook!r})
_vd.DATASET_FILES["imdb_word_index"] = _vd.DATASET_FILES["imdb_word_index"]._replace(hash={word_index!r})
_standins = {standins!r}
_get_file = _vk1.get_file
def _standin_get_file(fname, origin, *args, md5_hash=None, **kwargs):
    if origin in _standins:
        origin, md5_hash = _standins[origin][0], _standins[origin][1] if md5_hash else None
    return _get_file(fname, origin, *args, md5_hash=md5_hash, **kwargs)
_vk1.get_file = _vu.get_file = _standin_get_file
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


def make_data(root, n_train=16, n_valid=8, n_test=16, redux_train=2300, source=None, notebooks=NOTEBOOKS):
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
    images = sorted((sample / "train" / "cats").glob("*.jpg")) + sorted((sample / "train" / "dogs").glob("*.jpg"))
    if "lesson7" in notebooks:
        _port_data.make_fish(root, images)
    if {"statefarm", "statefarm-sample"} & set(notebooks):
        _port_data.make_state(root, images)
    if "imagenet_batchnorm" in notebooks:
        _port_data.make_imagenet(root, images)
    if {"mnist", "convolution-intro"} & set(notebooks):
        _port_data.make_mnist(root)


def run_notebook(path, workdir, timeout=600, budget=None, prelude=PRELUDE):
    """Run the ported notebook at `path` in `workdir`, every cell even after an error (`timeout`
    seconds a cell, then it is interrupted); after `budget` seconds in all the cells left are not
    run (scored as failed, 'NotRun'). Returns (executed notebook, seconds)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = shrink_shapes(cell.source)
    nb.cells.insert(0, nbformat.v4.new_code_cell(prelude))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True, resources={"metadata": {"path": str(workdir)}})
    start = time.time()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if budget is not None and time.time() - start > budget:
                break
            client.execute_cell(cell, index)
            cell.metadata["port_coverage_ran"] = True
    return nb, time.time() - start


def shrink_shapes(source):
    """`source` with the course's written-out 224x224 shapes set to the run's SIZE, as the prelude
    does for the defaults: input shapes (`input_shape=(3,224,224)`, State Farm's and lesson 1's
    models) and image sizes (`target_size=(224,224)`, lesson 1's own get_batches, which feeds that
    model); other code unchanged.

        shrink_shapes("Dense(10, input_shape=(3,224,224))")   # -> "...input_shape=(3,32,32))"
    """
    source = re.sub(r"\(\s*3\s*,\s*224\s*,\s*224\s*\)", f"(3,{SIZE[0]},{SIZE[1]})", source)
    return re.sub(r"target_size\s*=\s*\(\s*224\s*,\s*224\s*\)", f"target_size=({SIZE[0]},{SIZE[1]})", source)


def _error(cell):
    """'Type: message' of the cell's error (Keras' first specific line, not its 'Exception
    encountered when calling ...' header), else None."""
    if not cell.get("metadata", {}).get("port_coverage_ran"):
        return "NotRun: the notebook's time budget (--budget) ran out before this cell"
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(out.get("evalue") or "").splitlines()]
            lines = [line for line in lines if line]
            if len(lines) > 1 and lines[0].startswith("Exception encountered when calling"):
                lines = lines[1:]
            return f"{out.get('ename')}: {lines[0][:160] if lines else ''}"
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
                     "excepted": EXCEPTED.get((name, number)), "course_bug": COURSE_BUGS.get((name, number)),
                     "source": cell.source[:80]})
    return rows


def summarise(results):
    """The markdown table: per notebook, cells OK of those counted (all but EXCEPTED), of the
    API cells, and of the cells the original notebook can run (all but COURSE_BUGS too)."""
    lines = ["| notebook | code cells OK | API cells OK | excepted | course bugs | OK of the rest |",
             "| --- | --- | --- | --- | --- | --- |"]
    total = {"code": [0, 0], "api": [0, 0], "rest": [0, 0], "excepted": 0, "bugs": 0}

    def ratio(ok, n):
        return f"{ok}/{n}"

    for name, rows in results.items():
        counted = [r for r in rows if not r["excepted"]]
        api = [r for r in counted if r["api"]]
        rest = [r for r in counted if not r.get("course_bug")]
        parts = {"code": counted, "api": api, "rest": rest}
        for key, part in parts.items():
            total[key][0] += sum(r["error"] is None for r in part)
            total[key][1] += len(part)
        excepted, bugs = len(rows) - len(counted), len(counted) - len(rest)
        total["excepted"] += excepted
        total["bugs"] += bugs
        oks = {key: ratio(sum(r["error"] is None for r in part), len(part)) for key, part in parts.items()}
        lines.append(f"| {name} | {oks['code']} | {oks['api']} | {excepted} | {bugs} | {oks['rest']} |")

    def pct(key):
        ok, n = total[key]
        return f"**{ok}/{n} ({100 * ok / max(n, 1):.1f}%)**"

    lines.append(f"| **all** | {pct('code')} | {pct('api')} | {total['excepted']} | {total['bugs']} | {pct('rest')} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--courses", required=True, help="folder holding the course's original notebooks")
    parser.add_argument("--out", default=None, help="folder for the ported/executed notebooks and results.json")
    parser.add_argument("--notebooks", "--only", nargs="*", default=NOTEBOOKS, choices=NOTEBOOKS, metavar="NAME",
                        help=f"notebooks to run (default: all {len(NOTEBOOKS)}: {', '.join(NOTEBOOKS)})")
    parser.add_argument("--cell-timeout", type=int, default=600, help="seconds one cell may run (default 600)")
    parser.add_argument("--budget", type=int, default=None, help="seconds for one notebook; the cells left "
                        "after it are scored as not run (default: no limit)")
    parser.add_argument("--data", default=None, help="a sample in the course layout (default: "
                        "../shared/data/dogscats if present, else `vggcourse.sample`'s stand-in)")
    args = parser.parse_args(argv)
    from vggcourse.port import port_notebook

    work = Path(tempfile.mkdtemp(prefix="port_coverage_"))
    out = Path(args.out) if args.out else work / "results"
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KERAS_HOME", str(work / "keras"))
    os.environ.setdefault("VGGCOURSE_CACHE", str(work / "features"))
    make_data(work, source=args.data, notebooks=args.notebooks)
    served = _port_text_data.make_text(work, args.notebooks)
    api_names = _api_names()
    results, times = {}, {}
    import nbformat

    with _port_text_data.serve(served) as base_url:
        for name in args.notebooks:
            ported = port_notebook(Path(args.courses) / f"{name}.ipynb", work / f"{name}.ipynb")
            nb, times[name] = run_notebook(ported.path, work, timeout=args.cell_timeout, budget=args.budget,
                                           prelude=PRELUDE + download_prelude(base_url, served, name))
            nbformat.write(nb, str(out / f"{name}.executed.ipynb"))
            results[name] = score(name, nb, api_names)
            failed = [r for r in results[name] if r["error"]]
            print(f"{name}: {times[name]:.0f} s, {len(failed)} cells failed", flush=True)
            for r in failed:
                tag = " (excepted)" if r["excepted"] else " (course bug)" if r["course_bug"] else ""
                print(f"    cell {r['cell']}{tag}: {r['error']}", flush=True)
    table = summarise(results)
    print(table)
    print("Excepted cells:")
    for (name, cell), why in EXCEPTED.items():
        if name not in args.notebooks:
            continue
        print(f"  {name} cell {cell}: {why}")
    print("Cells that fail in the original notebook too (COURSE_BUGS):")
    for (name, cell), why in COURSE_BUGS.items():
        if name not in args.notebooks:
            continue
        print(f"  {name} cell {cell}: {why}")
    (out / "results.json").write_text(json.dumps({"results": results, "seconds": times}, indent=1))
    print(f"executed notebooks and results.json in {out}")
    shutil.rmtree(work / "data", ignore_errors=True)


if __name__ == "__main__":
    main()
