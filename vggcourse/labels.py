"""Labels without moving files: a table of (file name, class) for `flow_from_dataframe`, read from
the file names (fastai's `from_name_re` / `from_name_func`) or from a CSV file (`from_csv`), and a
seeded validation split of it (`split_valid`, fastai's `valid_pct`).

    from vggcourse.labels import from_name_re, split_valid
    df = from_name_re("data/redux/train", r"^(cat|dog)\\.\\d+\\.jpg$")      # Kaggle's flat train/ folder
    train, valid = split_valid(df, valid_pct=0.2, seed=42)
    batches = ImageDataGenerator().flow_from_dataframe(train, "data/redux/train")
    batches = vgg.get_batches(train, directory="data/redux/train")    # the same, through the model

Every table has the columns `filename` (relative to the folder) and `class` (a string, or a list
of strings for several labels a file), Keras' `flow_from_dataframe` defaults (`x_col="filename"`,
`y_col="class"`). A file name the pattern does not match, and a CSV row that names a missing file,
are errors naming them: fastai drops such files silently.
"""
import csv
import os
import re
from pathlib import Path

import numpy as np

from vggcourse import checks, image
from vggcourse.errors import InputFileNotFoundError, UserInputError, UserTypeError

__all__ = ["from_name_re", "from_name_func", "from_csv", "split_valid", "X_COL", "Y_COL"]

X_COL, Y_COL = "filename", "class"


def _frame(rows):
    import pandas as pd

    return pd.DataFrame(rows, columns=[X_COL, Y_COL])


def _listed(names, what, fix):
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    return f"{len(names)} {what}: {', '.join(names[:10])}{more}. {fix}"


def _images(folder, recursive):
    """The image files of `folder` (relative paths, sorted): at its top, or in every sub-folder too."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileNotFoundError(f"{folder} is not a folder of images. Pass the folder that holds them.")
    names = image.unlabelled_image_files(folder) if recursive else image.image_files(folder, recursive=False)
    if not names:
        raise UserInputError(f"No images found in {folder}.")
    return names


def from_name_re(folder, pattern, recursive=False):
    """(filename, class) of each image in `folder`, the class being the first group of `pattern`
    (a regular expression, searched in the file name; with `recursive`, in the path relative to
    `folder` with "/" between folders). Oxford pets: `r"^(.+)_\\d+\\.jpg$"`.

        df = from_name_re("data/redux/train", r"^(cat|dog)\\.")    # cat.0.jpg -> "cat"
    """
    try:
        regex = re.compile(pattern)
    except (re.error, TypeError) as error:
        raise UserInputError(f"from_name_re: `pattern` must be a regular expression. Received: "
                             f"pattern={pattern!r} ({error})") from None
    if regex.groups < 1:
        raise UserInputError(f"from_name_re: `pattern` must have a group, in parentheses, around the "
                             f"class: for example r'^(cat|dog)\\.'. Received: pattern={pattern!r}")
    rows, unmatched = [], []
    for name in _images(folder, recursive):
        match = regex.search(name.replace(os.sep, "/"))
        if match is None or match.group(1) is None:
            unmatched.append(name)
        else:
            rows.append((name, match.group(1)))
    if unmatched:
        raise UserInputError("from_name_re: " + _listed(
            unmatched, f"file name(s) in {folder} do not match pattern={pattern!r}",
            "Change the pattern, or move those files out of the folder."))
    return _frame(rows)


def from_name_func(folder, func, recursive=False):
    """(filename, class) of each image in `folder`, the class being `func(file name)` (a string;
    with `recursive`, the path relative to `folder`).

        df = from_name_func("data/pets", lambda name: "cat" if name[0].isupper() else "dog")
    """
    if not callable(func):
        raise UserTypeError(f"from_name_func: `func` must be a function of the file name. Received: func={func!r}")
    rows, bad = [], []
    for name in _images(folder, recursive):
        label = func(name)
        if isinstance(label, str) and label:
            rows.append((name, label))
        else:
            bad.append(f"{name} -> {label!r}")
    if bad:
        raise UserInputError("from_name_func: " + _listed(
            bad, "file name(s) for which `func` returned no class (a non-empty string)", "Fix `func`."))
    return _frame(rows)


def from_csv(path, folder=None, fn_col=0, label_col=1, label_delim=None, suffix="", header=True):
    """(filename, class) of each row of the CSV file `path`: the file name in column `fn_col`
    (a number or a header name) plus `suffix`, the class in `label_col`; with `label_delim`, a
    list of classes (several labels a file, for `class_mode="categorical"`). Each file must be in
    `folder` (default: the CSV's folder); a row naming a missing one is an error naming its line.

        df = from_csv("data/planet/train_v2.csv", "data/planet/train-jpg", suffix=".jpg", label_delim=" ")
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(f"from_csv: {path} does not exist. Pass the CSV file of labels.")
    folder = Path(folder) if folder is not None else path.parent
    with open(path, newline="", encoding="utf-8") as f:
        lines = list(csv.reader(f))
    if not lines:
        raise UserInputError(f"from_csv: {path} is empty.")
    names = lines[0] if header else [str(i) for i in range(len(lines[0]))]
    columns = [_column(path, names, col, what) for col, what in ((fn_col, "fn_col"), (label_col, "label_col"))]
    rows, missing = [], []
    for number, line in enumerate(lines[1:] if header else lines, start=2 if header else 1):
        if len(line) <= max(columns):
            raise UserInputError(f"from_csv: line {number} of {path} has {len(line)} column(s); "
                                 f"{max(columns) + 1} are needed. Fix that line.")
        name, label = line[columns[0]] + suffix, line[columns[1]]
        if not (folder / name).is_file():
            missing.append(f"{name} (line {number})")
        rows.append((name, label.split(label_delim) if label_delim else label))
    if missing:
        raise UserInputError("from_csv: " + _listed(
            missing, f"row(s) of {path} name files that are not in {folder}",
            "Pass the folder that holds them (`folder=`), fix `suffix`, or remove those rows."))
    return _frame(rows)


def _column(path, names, col, what):
    if isinstance(col, str):
        if col not in names:
            raise UserInputError(f"from_csv: `{what}` must be a column of {path} ({', '.join(names)}). "
                                 f"Received: {what}={col!r}")
        return names.index(col)
    return checks.whole_number_in(what, col, 0, len(names) - 1, caller="from_csv")


def split_valid(df, valid_pct=0.2, seed=None):
    """(train, valid): a random `valid_pct` of the rows of `df` for validation, the rest to train,
    each in `df`'s order; the same `seed` makes the same split.

        train, valid = split_valid(from_name_re(folder, pattern), valid_pct=0.2, seed=42)
    """
    valid_pct = checks.fraction("valid_pct", valid_pct, caller="split_valid")
    if seed is not None:
        checks.whole_number("seed", seed, caller="split_valid")
    n = len(df)
    n_valid = int(round(n * valid_pct))
    if valid_pct and not 0 < n_valid < n:
        raise UserInputError(f"split_valid: valid_pct={valid_pct} of {n} rows leaves no rows to "
                             f"{'validate' if not n_valid else 'train'} on.")
    chosen = np.zeros(n, bool)
    chosen[np.random.default_rng(seed).permutation(n)[:n_valid]] = True
    return df[~chosen].reset_index(drop=True), df[chosen].reset_index(drop=True)
