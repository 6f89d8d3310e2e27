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
import os
import posixpath
import shutil
import subprocess
from collections import namedtuple

import numpy as np

from vggcourse import checks
from vggcourse._atomic import write_atomically
from vggcourse.errors import InputFileNotFoundError, UserInputError, UserTypeError

__all__ = [
    "write_submission", "score_submission", "submit", "best_clip", "do_clip",
    "log_loss", "file_ids", "Score", "check_expected_rows",
]

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
    bad = [f for f, s in zip(filenames, stems) if not _is_ascii_integer(s)]
    if bad:
        raise UserInputError(f"ids must be numeric file names (1234.jpg); {len(bad)} are not, e.g. {bad[:3]}")
    return np.array([int(s) for s in stems], dtype=np.int64)


def _is_ascii_integer(text):
    """True for '0' .. '9' only: `str.isdigit` also accepts '²', which `int` refuses."""
    return text.isascii() and text.isdigit()


def _class_names(class_indices):
    """Class names in index order from a dict {name: index}, a list of names, or batches."""
    class_indices = getattr(class_indices, "class_indices", class_indices)
    if isinstance(class_indices, dict):
        names = sorted(class_indices, key=class_indices.get)
        if sorted(class_indices.values()) != list(range(len(names))):
            raise UserInputError(f"`class_indices` must map names to 0..k-1. Received: {class_indices}")
        return [str(n) for n in names]
    if isinstance(class_indices, (list, tuple, np.ndarray)):
        return [str(n) for n in class_indices]
    raise UserTypeError("`class_indices` must be a dict {class name: index} (train_batches.class_indices) "
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
            raise UserInputError(f"do_clip: `mx` must lie in [0.5, 1] for two classes. Received: mx={mx}")
        return np.clip(arr, lo, mx)
    k = arr.shape[1]
    if k < 2 or not 1.0 / k <= mx <= 1:
        raise UserInputError(f"do_clip: `mx` must lie in [1/{k}, 1] for {k} classes. Received: mx={mx}")
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
        raise UserInputError("best_clip: no candidate in [max(0.5, 1/k), 1]")
    losses = [log_loss(do_clip(probs, mx), labels) for mx in candidates]
    hi = candidates[int(np.argmin(losses))]
    return ((1.0 - hi) / (k - 1), hi)


def _apply_clip(p, clip):
    """Binary column: np.clip to (lo, hi). Rows: clip then renormalise (like do_clip)."""
    if clip is None:
        return p
    lo, hi = clip
    if not 0 <= lo < hi <= 1:
        raise UserInputError(f"`clip` must be (lo, hi) with 0 <= lo < hi <= 1. Received: clip={clip}")
    p = np.clip(p, lo, hi)
    return p if p.ndim == 1 else p / p.sum(axis=1, keepdims=True)


def _count_images(folder, name="write_submission: `test_dir`"):
    """How many images the batches over test folder `folder` read (`image.unlabelled_image_files`:
    its sub-folders' images and its loose files, hidden ones left out)."""
    from vggcourse.image import unlabelled_image_files  # imported on use: it starts Keras

    if not os.path.isdir(folder):
        raise InputFileNotFoundError(f"{name} {os.fspath(folder)!r} is not a folder")
    return len(unlabelled_image_files(folder))


def check_expected_rows(test_dir, expected_rows):
    """Refuse at once, before any prediction, when `test_dir` does not hold `expected_rows` images.

    `write_submission` checks the rows again at the end; this finds a partial or wrong test folder
    before the model spends minutes predicting it.

        check_expected_rows("data/dogscats/test", 12500)   # UserInputError unless 12500 images
    """
    expected_rows = checks.whole_number("expected_rows", expected_rows, least=1, caller="check_expected_rows")
    on_disk = _count_images(test_dir, name="check_expected_rows: `test_dir`")
    if on_disk != expected_rows:
        raise UserInputError(f"{os.fspath(test_dir)!r} holds {on_disk} test images; the competition "
                             f"expects {expected_rows} rows (expected_rows / --expected-rows). Point "
                             "at the whole test folder, or leave the check out for a partial one")


# ---- the submission ---------------------------------------------------------------------
def _unpack(predictions, batches, filenames):
    if (batches is None and isinstance(predictions, tuple) and len(predictions) == 2
            and hasattr(predictions[0], "filenames")):
        batches, predictions = predictions  # what vgg.test returns
    if batches is not None:
        if getattr(batches, "shuffle", False):
            raise UserInputError(
                "write_submission: `batches.shuffle` is True, so predictions made by iterating it are in "
                "a random order that cannot be matched to `batches.filenames`. Predict with "
                "vgg.test(path) or vggcourse.features.predict_in_order(model, batches).")
        if filenames is None:
            filenames = batches.filenames
    if filenames is None:
        raise UserInputError("write_submission: give `batches` (from vgg.test) or `filenames`, "
                         "one per row of `predictions`.")
    return np.asarray(predictions, dtype=np.float64), batches, list(filenames)


def _rows(preds, filenames, names, positive, kind, clip):
    """(header, rows) with rows as lists of str, sorted by id."""
    if kind == "binary":
        if positive not in names:
            raise UserInputError(f"write_submission: `positive` {positive!r} is not a class name; classes are {names}")
        col = names.index(positive)
        if preds.ndim == 2 and preds.shape[1] == len(names):
            _check_probs(preds, filenames)
            p = preds[:, col]
        elif len(names) == 2 and (preds.ndim == 1 or preds.shape[1] == 1):
            _check_probs(preds.reshape(-1, 1), filenames)
            p = preds.reshape(-1) if col == 1 else 1.0 - preds.reshape(-1)  # a sigmoid gives p(class 1)
        else:
            raise UserInputError(f"write_submission: predictions of shape {preds.shape} do not match the "
                                 f"{len(names)} classes {names}")
        p = _apply_clip(p, (0.05, 0.95) if clip == "auto" else clip)
        ids = file_ids(filenames, numeric=True)
        order = np.argsort(ids, kind="stable")
        return ["id", "label"], [["%d" % ids[i], "%.5f" % p[i]] for i in order], ids
    if preds.ndim != 2 or preds.shape[1] != len(names):
        raise UserInputError(f"write_submission: predictions of shape {preds.shape} need one column per class {names}")
    _check_probs(preds, filenames)
    p = _apply_clip(preds, None if clip == "auto" else clip)
    ids = file_ids(filenames, numeric=False)
    order = np.argsort(ids, kind="stable")
    return ["img", *names], [[ids[i], *("%.5f" % v for v in p[i])] for i in order], ids


_SUM_TOLERANCE = 0.01  # softmax rows in float16 / bfloat16 still sum to 1 within this


def _check_probs(p, filenames):
    """Every cell of `p` (n, k) finite and in [0, 1]; rows of two or more columns sum to 1.

    Raises naming the first bad row, its file and its values.
    """
    def refuse(rows, why):
        i = int(rows[0])
        raise UserInputError(f"write_submission: {len(rows)} row(s) of predictions {why}, e.g. row {i} "
                             f"({filenames[i]}): {np.round(p[i], 5).tolist()}")

    bad = np.flatnonzero(~np.all(np.isfinite(p), axis=1))
    if bad.size:
        refuse(bad, "hold NaN or infinite values")
    bad = np.flatnonzero(np.any((p < 0) | (p > 1), axis=1))
    if bad.size:
        refuse(bad, "hold values outside [0, 1]")
    if p.shape[1] > 1:
        bad = np.flatnonzero(np.abs(p.sum(axis=1) - 1) > _SUM_TOLERANCE)
        if bad.size:
            refuse(bad, "do not sum to 1 (one probability per class)")


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
    checks.one_of("kind", kind, ("binary", "multiclass"), caller="write_submission")
    if expected_rows is not None:
        checks.whole_number("expected_rows", expected_rows, least=1, what=">= 1, or None", caller="write_submission")
    preds, batches, filenames = _unpack(predictions, batches, filenames)
    if class_indices is None:
        own = getattr(batches, "class_indices", None)
        width = 1 if preds.ndim == 1 else preds.shape[1]
        if own and len(own) == width and width > 1:
            class_indices = own
        else:
            raise UserInputError("write_submission: pass `class_indices=` the training batches' class_indices "
                             "(or vgg.classes), so the probability column is chosen by class name.")
    names = _class_names(class_indices)
    if len(preds) != len(filenames):
        raise UserInputError(f"write_submission: {len(preds)} rows of predictions for {len(filenames)} test files; "
                         "need exactly one row per test image")
    header, rows, ids = _rows(preds, filenames, names, positive, kind, clip)
    if len(set(ids.tolist())) != len(ids):
        uniq, counts = np.unique(ids, return_counts=True)
        raise UserInputError(f"write_submission: ids must be unique; repeated: {uniq[counts > 1][:5].tolist()}")
    skipped = list(getattr(batches, "skipped", None) or [])
    if skipped:
        raise UserInputError(f"write_submission: {len(skipped)} test images could not be read and have no "
                         f"prediction, e.g. {skipped[:3]}; the competition needs a row for every test image")
    if test_dir is not None:
        on_disk = _count_images(test_dir)
        if on_disk != len(rows):
            raise UserInputError(f"write_submission: {len(rows)} rows but {on_disk} test images under "
                             f"{os.fspath(test_dir)!r}; need exactly one row per test image")
    if expected_rows is not None and len(rows) != expected_rows:
        raise UserInputError(f"write_submission: {len(rows)} rows; the competition expects {expected_rows}")
    _write_csv_atomic(path, header, rows)
    return path


def _write_csv_atomic(path, header, rows):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)

    def write(tmp):
        # A file name that is not UTF-8 is written as its own bytes: the id names the file as the OS does.
        with open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)

    write_atomically(path, write)


# ---- scoring and uploading --------------------------------------------------------------
def _read_csv(path, what, width=None):
    """(header, [(line number, row)]) of a CSV file; blank lines left out; every row `width` cells
    (default: the header's). Raises `UserInputError` naming the file and line."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputFileNotFoundError(f"score_submission: {what} {path!r} not found")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            rows = [(reader.line_num, row) for row in reader if row]
    except UnicodeDecodeError:
        raise UserInputError(f"score_submission: {what} {path!r} is not a UTF-8 text CSV file") from None
    except csv.Error as error:
        raise UserInputError(f"score_submission: {what} {path}, line {reader.line_num}: {error}") from None
    if not rows:
        raise UserInputError(f"score_submission: {what} {path!r} is empty")
    header = rows[0][1]
    width = len(header) if width is None else width
    for line, row in rows[1:]:
        if len(row) != width:
            raise UserInputError(f"score_submission: {what} {path}, line {line}: {len(row)} cell(s) "
                                 f"{row[:4]}, the header {header} has {width}")
    return header, rows[1:]


def _cell(path, line, text, parse, expected):
    try:
        return parse(text)
    except ValueError:
        raise UserInputError(f"score_submission: {path}, line {line}: {text!r} is not {expected}") from None


def _probability(text):
    value = float(text)
    if not 0 <= value <= 1:  # NaN fails too
        raise ValueError(text)
    return value


def _integer_id(text):
    if not _is_ascii_integer(text.strip()):
        raise ValueError(text)
    return int(text)


def _binary_label(text):
    if text.strip() not in ("0", "1"):
        raise ValueError(text)
    return int(text)


def _by_id(path, rows, parse_id, parse_values, what):
    """{id: parsed values}; refuses a repeated id, naming both lines."""
    found, lines = {}, {}
    for line, row in rows:
        key = _cell(path, line, row[0], parse_id, "a numeric id" if parse_id is _integer_id else "an id")
        if key in found:
            raise UserInputError(f"score_submission: {what} {path}, line {line}: id {key!r} repeats "
                                 f"line {lines[key]}")
        found[key], lines[key] = parse_values(line, row[1:]), line
    return found


def score_submission(csv_path, labels_csv):
    """Score a submission against known labels: `Score(log_loss, accuracy, n)`.

    Binary: the submission is `id,label` (p(positive) in [0, 1]); labels_csv is `id,label` with
    0/1 (1 = the positive class). Multi-class: `img,<class names>` against `img,label` with the
    class name in `label`. Every cell is checked: a bad one raises `UserInputError` naming the
    file and line. Every labelled id must have exactly one row in the submission.
    """
    header, rows = _read_csv(csv_path, "submission")
    _, label_rows = _read_csv(labels_csv, "labels file", width=2)
    if len(header) < 2:
        raise UserInputError(f"score_submission: submission {os.fspath(csv_path)}, line 1: header {header} "
                             "needs an id column and at least one probability column, separated by commas")
    if len(header) == 2:
        sub = _by_id(csv_path, rows, _integer_id,
                     lambda line, cells: _cell(csv_path, line, cells[0], _probability, "a probability in [0, 1]"),
                     "submission")
        truth = _by_id(labels_csv, label_rows, _integer_id,
                       lambda line, cells: _cell(labels_csv, line, cells[0], _binary_label, "a label 0 or 1"),
                       "labels file")
    else:
        classes = header[1:]
        sub = _by_id(csv_path, rows, str,
                     lambda line, cells: [_cell(csv_path, line, c, _probability, "a probability in [0, 1]")
                                          for c in cells], "submission")
        truth = _by_id(labels_csv, label_rows, str,
                       lambda line, cells: _cell(labels_csv, line, cells[0], classes.index,
                                                 f"one of the submission's classes {classes}"),
                       "labels file")
    missing = [i for i in truth if i not in sub]
    if missing:
        raise UserInputError(f"score_submission: {len(missing)} ids of {os.fspath(labels_csv)} have no row in "
                             f"{os.fspath(csv_path)}, e.g. {missing[:3]}")
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
        raise InputFileNotFoundError(f"submit: no submission file at {csv_path!r}; write it with write_submission")
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
