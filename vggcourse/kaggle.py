"""Kaggle submission files that cannot be wrong: ids, columns, clipping, checks, scoring, upload.

    batches, preds = vgg.test("data/dogscats/test")
    write_submission("subm.csv", preds, batches, class_indices=vgg.classes)  # p(dogs), clipped
    score_submission("subm.csv", "data/dogscats/test_labels.csv")            # when labels are known
    submit("subm.csv")                                                       # the kaggle client

Binary (dogs vs cats redux): header `id,label`, `%d,%.5f`, the id is the file name's stem
(`test/unknown/1234.jpg` -> 1234), rows sorted by id, the label is the probability of the class
*named* `positive`. Multi-class (State Farm): header `img,<class names>`, the id is the file name.
Nothing is written unless every check passes; the file appears atomically.
"""
import csv
import io
import os
import posixpath
import shutil
import subprocess
from collections import namedtuple

import numpy as np

from vggcourse._atomic import write_atomically

__all__ = [
    "write_submission", "score_submission", "submit", "predict_in_order", "best_clip", "do_clip",
    "log_loss", "file_ids", "Score",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif")
REDUX = "dogs-vs-cats-redux-kernels-edition"
_EPS = 1e-15
Score = namedtuple("Score", ["log_loss", "accuracy", "n"])


# ---- ids and probabilities ---------------------------------------------------------------
def _basename(name):
    return posixpath.basename(str(name).replace("\\", "/"))


def file_ids(filenames, numeric=True):
    """Ids from file names: the stem of the last path part (`unknown\\1234.jpg` -> 1234).

    numeric=True returns an int64 array and refuses names whose stem is not an integer;
    numeric=False returns the base names themselves (`img_1.jpg`), as State Farm wants.
    """
    names = [_basename(f) for f in filenames]
    if not numeric:
        return np.array(names, dtype=str)
    stems = [posixpath.splitext(n)[0] for n in names]
    bad = [f for f, s in zip(filenames, stems) if not s.isdigit()]
    if bad:
        raise ValueError(f"ids must be numeric file names (1234.jpg); {len(bad)} are not, e.g. {bad[:3]}")
    return np.array([int(s) for s in stems], dtype=np.int64)


def _class_names(class_indices):
    """Class names in index order from a dict {name: index}, a list of names, or batches."""
    class_indices = getattr(class_indices, "class_indices", class_indices)
    if isinstance(class_indices, dict):
        names = sorted(class_indices, key=class_indices.get)
        if sorted(class_indices.values()) != list(range(len(names))):
            raise ValueError(f"`class_indices` must map names to 0..k-1. Received: {class_indices}")
        return [str(n) for n in names]
    if isinstance(class_indices, (list, tuple, np.ndarray)):
        return [str(n) for n in class_indices]
    raise TypeError("`class_indices` must be a dict {class name: index} (train_batches.class_indices) "
                    f"or a list of class names in index order (vgg.classes). Received: {class_indices!r}")


def do_clip(arr, mx):
    """Clip probabilities to [lo, mx] and renormalise each row to sum to 1.

    For (n, k) rows, lo = (1 - mx) / (k - 1), so a row that was one-hot becomes mx and lo's summing
    to one (the course used lo = 1 - mx whatever k). A 1-D array is p(positive) of two classes:
    clipped to [1 - mx, mx].
    """
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 1:
        lo = 1.0 - mx
        if not 0.5 <= mx <= 1:
            raise ValueError(f"do_clip: `mx` must lie in [0.5, 1] for two classes. Received: mx={mx}")
        return np.clip(arr, lo, mx)
    k = arr.shape[1]
    if k < 2 or not 1.0 / k <= mx <= 1:
        raise ValueError(f"do_clip: `mx` must lie in [1/{k}, 1] for {k} classes. Received: mx={mx}")
    clipped = np.clip(arr, (1.0 - mx) / (k - 1), mx)
    return clipped / clipped.sum(axis=1, keepdims=True)


def log_loss(probs, labels):
    """Kaggle's log loss. probs: (n,) p(class 1) with 0/1 labels, or (n, k) rows with class indices."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim == 2 and probs.shape[1] == 1:
        probs = probs[:, 0]
    if probs.ndim == 1:
        p = np.clip(probs, _EPS, 1 - _EPS)
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
    p = np.clip(probs, _EPS, 1 - _EPS)
    p = p / p.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(len(labels)), labels.astype(int)])))


def best_clip(probs, labels, candidates=None):
    """The clip (lo, hi) that minimises log loss of validation `probs` against `labels`.

    probs/labels as `log_loss`. hi is searched over `candidates` (default 0.5 .. 0.9999);
    lo = 1 - hi for two classes, (1 - hi) / (k - 1) for k. Pass the result as `clip=`.
    """
    probs = np.asarray(probs, dtype=np.float64)
    k = 2 if probs.ndim == 1 or probs.shape[1] == 1 else probs.shape[1]
    if candidates is None:
        candidates = np.concatenate([np.linspace(max(0.5, 1.0 / k), 0.99, 50), [0.995, 0.999, 0.9999]])
    candidates = [float(c) for c in candidates if max(0.5, 1.0 / k) <= c <= 1]
    if not candidates:
        raise ValueError("best_clip: no candidate in [max(0.5, 1/k), 1]")
    losses = [log_loss(do_clip(probs, mx), labels) for mx in candidates]
    hi = candidates[int(np.argmin(losses))]
    return ((1.0 - hi) / (k - 1), hi)


def _apply_clip(p, clip):
    """Binary column: np.clip to (lo, hi). Rows: clip then renormalise (like do_clip)."""
    if clip is None:
        return p
    lo, hi = clip
    if not 0 <= lo < hi <= 1:
        raise ValueError(f"`clip` must be (lo, hi) with 0 <= lo < hi <= 1. Received: clip={clip}")
    p = np.clip(p, lo, hi)
    return p if p.ndim == 1 else p / p.sum(axis=1, keepdims=True)


# ---- predicting in file order -------------------------------------------------------------
def predict_in_order(model, batches, batch_size=None):
    """Predictions of `model` (a Keras model or a Vgg16) for every file of `batches`, in
    `batches.filenames` order, whatever `batches.shuffle` is (runs on `batches.for_inference()`)."""
    model = getattr(model, "model", model)
    preds = np.asarray(model.predict(batches.for_inference(batch_size), verbose=0))
    if len(preds) != len(batches.filenames):
        raise ValueError(f"predict_in_order: {len(preds)} predictions for {len(batches.filenames)} files")
    return preds


def _count_images(folder):
    """Image files under `folder` (recursively, hidden files and folders left out)."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"write_submission: `test_dir` {os.fspath(folder)!r} is not a folder")
    count = 0
    for _, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        count += sum(1 for f in files if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS))
    return count


# ---- the submission ---------------------------------------------------------------------
def _unpack(predictions, batches, filenames):
    if (batches is None and isinstance(predictions, tuple) and len(predictions) == 2
            and hasattr(predictions[0], "filenames")):
        batches, predictions = predictions  # what vgg.test returns
    if batches is not None:
        if getattr(batches, "shuffle", False):
            raise ValueError(
                "write_submission: `batches.shuffle` is True, so predictions made by iterating it are in "
                "a random order that cannot be matched to `batches.filenames`. Predict with "
                "vgg.test(path) or predict_in_order(model, batches).")
        if filenames is None:
            filenames = batches.filenames
    if filenames is None:
        raise ValueError("write_submission: give `batches` (from vgg.test) or `filenames`, "
                         "one per row of `predictions`.")
    return np.asarray(predictions, dtype=np.float64), batches, list(filenames)


def _rows(preds, filenames, names, positive, kind, clip):
    """(header, rows) with rows as lists of str, sorted by id."""
    if kind == "binary":
        if positive not in names:
            raise ValueError(f"write_submission: `positive` {positive!r} is not a class name; classes are {names}")
        col = names.index(positive)
        if preds.ndim == 2 and preds.shape[1] == len(names):
            p = preds[:, col]
        elif len(names) == 2 and (preds.ndim == 1 or preds.shape[1] == 1):
            p = preds.reshape(-1) if col == 1 else 1.0 - preds.reshape(-1)  # a sigmoid gives p(class 1)
        else:
            raise ValueError(f"write_submission: predictions of shape {preds.shape} do not match the "
                             f"{len(names)} classes {names}")
        _check_probs(p)
        p = _apply_clip(p, (0.05, 0.95) if clip == "auto" else clip)
        ids = file_ids(filenames, numeric=True)
        order = np.argsort(ids, kind="stable")
        return ["id", "label"], [["%d" % ids[i], "%.5f" % p[i]] for i in order], ids
    if preds.ndim != 2 or preds.shape[1] != len(names):
        raise ValueError(f"write_submission: predictions of shape {preds.shape} need one column per class {names}")
    _check_probs(preds)
    p = _apply_clip(preds, None if clip == "auto" else clip)
    ids = file_ids(filenames, numeric=False)
    order = np.argsort(ids, kind="stable")
    return ["img", *names], [[ids[i], *("%.5f" % v for v in p[i])] for i in order], ids


def _check_probs(p):
    if not np.all(np.isfinite(p)):
        raise ValueError(f"write_submission: {int(np.sum(~np.isfinite(p)))} probabilities are NaN or infinite")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"write_submission: probabilities must lie in [0, 1]; "
                         f"received values from {p.min():.4g} to {p.max():.4g}")


def write_submission(path, predictions, batches=None, *, class_indices=None, positive="dogs",
                     kind="binary", clip="auto", filenames=None, test_dir=None, expected_rows=None):
    """Check and write a Kaggle submission CSV; returns the path.

    predictions: (n, k) probabilities in file order, or the `(batches, predictions)` pair that
        `vgg.test` returns. batches: the (unshuffled) test batches; gives `filenames` and the folder.
    class_indices: the *training* classes, {name: index} (`train_batches.class_indices`) or names
        in index order (`vgg.classes`); needed unless `batches` itself has one class per column.
    positive: binary format: the class whose probability is the `label` column.
    kind: 'binary' (`id,label`, numeric ids) or 'multiclass' (`img,<class names>`).
    clip: (lo, hi), None, or 'auto' = (0.05, 0.95) for binary and none for multi-class.
    test_dir: folder of the test images; when given, the rows must number its image files. Files
        that `batches` found but could not read (`batches.skipped`) are refused in any case.
    expected_rows: e.g. 12500 for the redux competition.
    Raises ValueError, writing nothing, if any check fails.
    """
    if kind not in ("binary", "multiclass"):
        raise ValueError(f"write_submission: `kind` must be 'binary' or 'multiclass'. Received: kind={kind!r}")
    preds, batches, filenames = _unpack(predictions, batches, filenames)
    if class_indices is None:
        own = getattr(batches, "class_indices", None)
        width = 1 if preds.ndim == 1 else preds.shape[1]
        if own and len(own) == width and width > 1:
            class_indices = own
        else:
            raise ValueError("write_submission: pass `class_indices=` the training batches' class_indices "
                             "(or vgg.classes), so the probability column is chosen by class name.")
    names = _class_names(class_indices)
    if len(preds) != len(filenames):
        raise ValueError(f"write_submission: {len(preds)} rows of predictions for {len(filenames)} test files; "
                         "need exactly one row per test image")
    header, rows, ids = _rows(preds, filenames, names, positive, kind, clip)
    if len(set(ids.tolist())) != len(ids):
        uniq, counts = np.unique(ids, return_counts=True)
        raise ValueError(f"write_submission: ids must be unique; repeated: {uniq[counts > 1][:5].tolist()}")
    skipped = list(getattr(batches, "skipped", None) or [])
    if skipped:
        raise ValueError(f"write_submission: {len(skipped)} test images could not be read and have no "
                         f"prediction, e.g. {skipped[:3]}; the competition needs a row for every test image")
    if test_dir is not None:
        on_disk = _count_images(test_dir)
        if on_disk != len(rows):
            raise ValueError(f"write_submission: {len(rows)} rows but {on_disk} test images under "
                             f"{os.fspath(test_dir)!r}; need exactly one row per test image")
    if expected_rows is not None and len(rows) != expected_rows:
        raise ValueError(f"write_submission: {len(rows)} rows; the competition expects {expected_rows}")
    _write_csv_atomic(path, header, rows)
    return path


def _write_csv_atomic(path, header, rows):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)

    write_atomically(path, write)


# ---- scoring and uploading --------------------------------------------------------------
def _read_csv(path, what):
    if not os.path.exists(path):
        raise FileNotFoundError(f"score_submission: {what} {os.fspath(path)!r} not found")
    with open(path, newline="") as f:
        rows = list(csv.reader(io.StringIO(f.read())))
    if not rows:
        raise ValueError(f"score_submission: {what} {os.fspath(path)!r} is empty")
    return rows[0], rows[1:]


def score_submission(csv_path, labels_csv):
    """Score a submission against known labels: `Score(log_loss, accuracy, n)`.

    Binary: labels_csv is `id,label` with 0/1 (1 = the positive class). Multi-class: `img,label`
    with the class name in `label`. Every labelled id must have exactly one row in the submission.
    """
    header, rows = _read_csv(csv_path, "submission")
    _, label_rows = _read_csv(labels_csv, "labels file")
    if len(header) == 2:
        sub = {int(r[0]): float(r[1]) for r in rows}
        truth = {int(r[0]): int(r[1]) for r in label_rows}
    else:
        sub = {r[0]: [float(v) for v in r[1:]] for r in rows}
        truth = {r[0]: header[1:].index(r[1]) for r in label_rows}
    if len(sub) != len(rows):
        raise ValueError("score_submission: the submission repeats ids")
    missing = [i for i in truth if i not in sub]
    if missing:
        raise ValueError(f"score_submission: {len(missing)} labelled ids have no row, e.g. {missing[:3]}")
    keys = list(truth)
    probs = np.array([sub[i] for i in keys])
    labels = np.array([truth[i] for i in keys])
    preds = (probs > 0.5).astype(int) if probs.ndim == 1 else probs.argmax(axis=1)
    return Score(log_loss(probs, labels), float(np.mean(preds == labels)), len(keys))


def _kaggle_configured():
    config_dir = os.environ.get("KAGGLE_CONFIG_DIR", os.path.join(os.path.expanduser("~"), ".kaggle"))
    return (os.path.exists(os.path.join(config_dir, "kaggle.json"))
            or os.path.exists(os.path.join(config_dir, "access_token"))
            or bool(os.environ.get("KAGGLE_API_TOKEN"))
            or bool(os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY")))


def submit(csv_path, competition=REDUX, message="vggcourse submission"):
    """Upload `csv_path` with the `kaggle` command-line client; returns its output.

    Needs `pip install kaggle` and an API token in ~/.kaggle/kaggle.json (or KAGGLE_USERNAME and
    KAGGLE_KEY in the environment). Raises RuntimeError saying what is missing, or what the client said.
    """
    csv_path = os.fspath(csv_path)
    if not os.path.isfile(csv_path):
        raise FileNotFoundError(f"submit: no submission file at {csv_path!r}; write it with write_submission")
    exe = shutil.which("kaggle")
    if exe is None:
        raise RuntimeError("submit: the `kaggle` command-line client is not installed (pip install kaggle). "
                           f"Or upload {csv_path} by hand on https://www.kaggle.com/c/{competition}/submit")
    if not _kaggle_configured():
        raise RuntimeError("submit: the kaggle client has no API token. Create one on kaggle.com (Account -> "
                           "API -> Create New Token) and save it as ~/.kaggle/kaggle.json, or set "
                           "KAGGLE_USERNAME and KAGGLE_KEY.")
    result = subprocess.run([exe, "competitions", "submit", "-c", competition, "-f", csv_path, "-m", message],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"submit: `kaggle competitions submit` failed (exit {result.returncode}): "
                           f"{(result.stderr or result.stdout).strip()}")
    return result.stdout
