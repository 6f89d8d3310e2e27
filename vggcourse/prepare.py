"""Turn Kaggle's Dogs vs Cats download into the course layout, in place.

Kaggle gives ``train/`` (``cat.1.jpg``, ``dog.1.jpg`` side by side) and ``test/`` (``1.jpg`` ...).
The course works on::

    train/{cats,dogs}/   valid/{cats,dogs}/   sample/{train,valid}/{cats,dogs}/   test/unknown/

``prepare_kaggle(root)`` moves a seeded random validation split to ``valid/``, sorts every labelled
image into its class folder, copies a small ``sample/`` and moves the test images to
``test/unknown/``. It only moves (``os.rename``) and copies, never deletes or overwrites an image,
and counts every image before and after.

Running it again is safe. Before its first change it writes ``.vggcourse-prepare.json`` into
``root`` with its settings; a later run reads it, recomputes the same plan from the same images and
finishes whatever an interrupted run left undone (a finished layout gives an empty plan). A layout
prepared by hand (class folders, no flat images, no record) is left as it is.
"""
import json
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vggcourse import checks
from vggcourse._atomic import write_atomically
from vggcourse.decode import is_image_name
from vggcourse.errors import InputFileNotFoundError, InputNotADirectoryError, UserInputError

__all__ = ["check_course_layout", "prepare_kaggle", "PreparePlan", "RECORD_NAME"]

RECORD_NAME = ".vggcourse-prepare.json"
CLASS_FOLDERS = {"cat": "cats", "dog": "dogs"}
LABELLED_FOLDERS = [f"{split}/{cls}" for split in ("train", "valid") for cls in ("cats", "dogs")]
_LABELLED_NAME = re.compile(r"^(cat|dog)\.\d+\.jpg$")


def check_image_folder(data):
    """`data` as a Path, after checking it is a folder (one folder of images, labelled by their
    names: `vggcourse finetune --labels-re`); else an error naming it.

        data = check_image_folder("data/redux/train")
    """
    data = Path(data)
    if data.is_file():
        raise InputNotADirectoryError(f"{str(data)!r} is a file; pass the folder that holds the images")
    if not data.is_dir():
        raise InputFileNotFoundError(f"image folder {str(data)!r} does not exist; pass the folder that holds "
                                     "the images, such as Kaggle's data/redux/train")
    return data


def check_course_layout(data, needs=("train", "valid")):
    """`data` as a Path, after checking it is a folder with the sub-folders `needs`; else an error
    naming what is missing and the layout expected (without importing Keras: quick in the CLI).

        data = check_course_layout("data/dogscats")              # train/ and valid/
        data = check_course_layout("data/dogscats", ("test",))
    """
    data = Path(data)
    layout = " and ".join(f"{data}/{name}/<class>/*.jpg" for name in needs)
    if data.is_file():
        raise InputNotADirectoryError(
            f"{str(data)!r} is a file; pass the data folder that holds "
            f"{' and '.join(name + '/<class>/*.jpg' for name in needs)}")
    if not data.is_dir():
        raise InputFileNotFoundError(
            f"data folder {str(data)!r} does not exist; expected the course layout {layout}")
    missing = [name for name in needs if not (data / name).is_dir()]
    if missing:
        hint = (f" (for Kaggle's flat layout run `vggcourse prepare {data}` first)"
                if "train" in needs else "")
        raise InputFileNotFoundError(
            f"data folder {str(data)!r} has no {', '.join(n + '/' for n in missing)}; expected "
            f"{layout}{hint}")
    return data


@dataclass
class PreparePlan:
    """What `prepare_kaggle` does (or, with ``dry_run``, would do) to ``root``.

    ``moves`` and ``copies`` are ``(source, destination)`` path pairs; ``counts`` is the number of
    images each folder (``'train/cats'``, ``'sample/valid/dogs'``, ``'test/unknown'`` ...) holds
    once the plan is carried out.
    """

    root: Path
    settings: dict
    moves: list = field(default_factory=list)
    copies: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    resumed: bool = False
    by_hand: bool = False
    dry_run: bool = False

    @property
    def done(self):
        """True when the layout is already complete: nothing to move or copy."""
        return not self.moves and not self.copies

    def describe(self):
        """The plan as lines of text, one per kind of move or copy."""
        verb = "would " if self.dry_run else ""
        return ([f"{verb}move {group}" for group in _groups(self.moves, self.root)]
                + [f"{verb}copy {group}" for group in _groups(self.copies, self.root)])

    def summary(self):
        """One line with the image count of every folder of the finished layout."""
        return ", ".join(f"{folder} {n:,}" for folder, n in self.counts.items() if n)


def prepare_kaggle(root, valid=2000, sample_train=200, sample_valid=50, seed=0, dry_run=False,
                   log=print):
    """Build the course layout from Kaggle's flat ``train/`` and ``test/`` under ``root``.

    Returns the `PreparePlan`. Raises ``FileNotFoundError`` when ``root`` or ``root/train`` is
    missing and ``ValueError`` when the folders hold something this layout does not expect.
    """
    root = Path(root)
    settings = _check_settings(valid, sample_train, sample_valid, seed)
    if not root.is_dir():
        raise InputFileNotFoundError(f"no such folder: {root}; `root` must be the folder holding "
                                "Kaggle's train/ and test/")
    layout = _scan(root)
    plan = _plan(root, layout, _read_record(root), settings)
    plan.dry_run = dry_run
    _log_plan(plan, layout, log)
    if dry_run or plan.done:
        return plan
    _write_record(root, plan, layout, complete=False)
    _carry_out(plan)
    _verify(root, layout, plan)
    _write_record(root, plan, layout, complete=True)
    log(f"Done: {plan.summary()}.")
    return plan


def _check_settings(valid, sample_train, sample_valid, seed):
    settings = dict(valid=valid, sample_train=sample_train, sample_valid=sample_valid, seed=seed)
    return {name: checks.whole_number(name, value, least=0) for name, value in settings.items()}


# --- scanning ----------------------------------------------------------------------------------

@dataclass
class _Layout:
    """Image names found in each folder of ``root``."""

    train_flat: list
    labelled: dict  # 'train/cats' ... 'valid/dogs' -> names
    test_flat: list
    test_unknown: list
    sample: dict  # 'sample/train/cats' ... -> names

    def labelled_total(self):
        return len(self.train_flat) + sum(len(names) for names in self.labelled.values())

    def test_total(self):
        return len(self.test_flat) + len(self.test_unknown)


def _scan(root):
    train = root / "train"
    if not train.is_dir():
        raise InputFileNotFoundError(f"no train/ folder in {root}: expected Kaggle's train/ with "
                                "cat.N.jpg and dog.N.jpg files")
    train_flat = _files(train, allowed_dirs={"cats", "dogs"}, pattern=_LABELLED_NAME,
                        expected="cat.N.jpg or dog.N.jpg files and cats/, dogs/ folders")
    valid = root / "valid"
    if valid.is_dir():
        _files(valid, allowed_dirs={"cats", "dogs"}, pattern=None, expected="cats/ and dogs/ only")
    labelled = {folder: _images(root / folder) for folder in LABELLED_FOLDERS}
    test = root / "test"
    test_flat = []
    if test.is_dir():
        test_flat = _files(test, allowed_dirs={"unknown"}, pattern=None,
                           expected="test images (N.jpg) and an unknown/ folder")
    sample = {f"sample/{folder}": _images(root / "sample" / folder) for folder in LABELLED_FOLDERS}
    return _Layout(train_flat, labelled, test_flat, _images(test / "unknown"), sample)


def _files(folder, allowed_dirs, pattern, expected):
    """Names of the image files directly in ``folder``; refuses anything else it holds."""
    names = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and entry.name in allowed_dirs:
            continue
        if entry.is_file() and (pattern.match(entry.name) if pattern else is_image_name(entry.name)):
            names.append(entry.name)
            continue
        raise UserInputError(f"unexpected {'folder' if entry.is_dir() else 'file'} "
                         f"{Path(folder) / entry.name}: {Path(folder).name}/ should hold {expected}")
    return names


def _images(folder):
    """Image names in a class folder (sorted); [] when the folder does not exist."""
    if not folder.is_dir():
        return []
    entries = [e for e in os.scandir(folder) if not e.name.startswith(".")]
    for entry in entries:
        if not (entry.is_file() and is_image_name(entry.name)):
            raise UserInputError(f"unexpected entry {folder / entry.name}: {folder} should hold images only")
    return sorted(e.name for e in entries)


# --- planning ----------------------------------------------------------------------------------

def _plan(root, layout, record, settings):
    if record is not None:
        _check_record(root, record, settings, layout)
        by_hand = record.get("split") == "folders"
    elif layout.train_flat:
        _check_fresh(root, layout)
        by_hand = False
    elif any(layout.labelled.values()):
        by_hand = True
    else:
        raise UserInputError(f"{root / 'train'} holds no images: expected cat.N.jpg and dog.N.jpg files")
    where = _current_split(layout) if by_hand else _random_split(root, layout, settings)
    plan = PreparePlan(root, settings, resumed=record is not None, by_hand=by_hand)
    plan.moves = _labelled_moves(root, layout, where)
    keep_sample = record is None and any(layout.sample.values())
    plan.copies = [] if keep_sample else _sample_copies(root, layout, where, settings)
    plan.moves += _test_moves(root, layout)
    plan.counts = _counts(root, where, plan.copies, layout)
    return plan


def _check_record(root, record, settings, layout):
    recorded = {name: record.get(name) for name in settings}
    if recorded != settings:
        options = ", ".join(f"{name}={value}" for name, value in recorded.items())
        raise UserInputError(f"{root} was prepared with {options}; run again with the same options "
                         "(or start from a fresh copy of Kaggle's download)")
    counts = (layout.labelled_total(), layout.test_total())
    if counts != (record.get("labelled_images"), record.get("test_images")):
        raise UserInputError(f"{root} now holds {counts[0]:,} labelled and {counts[1]:,} test images, but "
                         f"the run recorded in {root / RECORD_NAME} started with "
                         f"{record.get('labelled_images')} and {record.get('test_images')}; "
                         "restore the missing images before running again")


def _check_fresh(root, layout):
    """Flat Kaggle images and no record: every course folder must still be empty."""
    for folder, names in {**layout.labelled, **layout.sample}.items():
        if names:
            raise UserInputError(f"{root / folder} already holds {len(names)} images while {root / 'train'} "
                             "still holds flat cat.N.jpg/dog.N.jpg files; move them back to train/ "
                             "or start from a fresh copy of Kaggle's download")


def _class_of(path):
    match = _LABELLED_NAME.match(path.name)
    if match is None:
        raise UserInputError(f"unexpected file {path}: class folders of a prepared Kaggle layout hold "
                         "cat.N.jpg and dog.N.jpg files only")
    return CLASS_FOLDERS[match.group(1)]


def _current_locations(root, layout):
    """name -> current path of every labelled image; refuses duplicates and misfiled images."""
    locations = {name: root / "train" / name for name in layout.train_flat}
    for folder, names in layout.labelled.items():
        for name in names:
            path = root / folder / name
            if name in locations:
                raise UserInputError(f"{name} is in two places: {locations[name]} and {path}")
            if _class_of(path) != path.parent.name:
                raise UserInputError(f"{path} is in the wrong class folder: expected {_class_of(path)}/")
            locations[name] = path
    return locations


def _random_split(root, layout, settings):
    """name -> 'train/cats' ... 'valid/dogs': the seeded split of every labelled image."""
    locations = _current_locations(root, layout)
    names = sorted(locations, key=_name_key)
    if settings["valid"] >= len(names):
        raise UserInputError(f"`valid` must be smaller than the {len(names):,} labelled images in "
                         f"{root}; received: valid={settings['valid']}")
    order = np.random.default_rng(settings["seed"]).permutation(len(names))
    chosen = {names[i] for i in order[:settings["valid"]]}
    return {name: f"{'valid' if name in chosen else 'train'}/{_class_of(locations[name])}"
            for name in names}


def _current_split(layout):
    return {name: folder for folder, names in layout.labelled.items() for name in names}


def _name_key(name):
    """Sort key: ``cat.2.jpg`` before ``cat.10.jpg``; any other name after its text."""
    match = re.match(r"^(\D*)(\d+)", name)
    return (match.group(1), int(match.group(2)), name) if match else (name, -1, name)


def _labelled_moves(root, layout, where):
    current = {name: root / "train" / name for name in layout.train_flat}
    current.update({name: root / folder / name
                    for folder, names in layout.labelled.items() for name in names})
    return [(current[name], root / folder / name) for name, folder in where.items()
            if current[name] != root / folder / name]


def _sample_copies(root, layout, where, settings):
    """Copies that complete sample/: a seeded pick of train and valid images per split."""
    rng = np.random.default_rng([settings["seed"], 1])
    copies = []
    for split in ("train", "valid"):
        pool = sorted((n for n, f in where.items() if f.startswith(split)), key=_name_key)
        wanted = settings[f"sample_{split}"]
        if wanted > len(pool):
            raise UserInputError(f"`sample_{split}` must be at most the {len(pool):,} images of {split}/; "
                             f"received: sample_{split}={wanted}")
        for i in sorted(rng.permutation(len(pool))[:wanted]):
            name = pool[i]
            copies.append((root / where[name] / name, root / "sample" / where[name] / name))
    _check_sample_extras(root, layout, copies)
    return [(src, dst) for src, dst in copies if not dst.exists()]


def _check_sample_extras(root, layout, copies):
    planned = {dst for _, dst in copies}
    for folder, names in layout.sample.items():
        for name in names:
            if root / folder / name not in planned:
                raise UserInputError(f"unexpected file {root / folder / name}: it is not in the sample "
                                 "this seed picks; move sample/ away and run again")


def _test_moves(root, layout):
    unknown = root / "test" / "unknown"
    for name in layout.test_flat:
        if name in layout.test_unknown:
            raise UserInputError(f"{name} is in two places: {root / 'test' / name} and {unknown / name}")
    return [(root / "test" / name, unknown / name) for name in layout.test_flat]


def _counts(root, where, copies, layout):
    """Images per folder once the plan is carried out."""
    counts = Counter(where.values())
    counts.update({folder: len(names) for folder, names in layout.sample.items()})
    counts.update(dst.parent.relative_to(root).as_posix() for _, dst in copies)
    folders = LABELLED_FOLDERS + [f"sample/{folder}" for folder in LABELLED_FOLDERS]
    return {**{folder: counts[folder] for folder in folders}, "test/unknown": layout.test_total()}


# --- carrying out ------------------------------------------------------------------------------

def _carry_out(plan):
    """Moves first (a rename never loses a file), then the sample copies."""
    for src, dst in plan.moves:
        _move(src, dst)
    for src, dst in plan.copies:
        _copy(src, dst)


def _move(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():  # os.rename would replace it silently
        raise FileExistsError(f"will not overwrite {dst} with {src}")
    os.rename(src, dst)


def _copy(src, dst):
    """Copy to a hidden file beside ``dst``, then rename: an interrupted copy never looks done."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(f".{dst.name}.partial")
    shutil.copyfile(src, partial)
    os.replace(partial, dst)


def _verify(root, before, plan):
    after = _scan(root)
    found = {folder: len(names) for folder, names in {**after.labelled, **after.sample}.items()}
    found["test/unknown"] = len(after.test_unknown)
    lost = (after.labelled_total(), after.test_total()) != (before.labelled_total(), before.test_total())
    if lost or after.train_flat or after.test_flat or found != plan.counts:
        raise RuntimeError(f"image counts in {root} differ from the plan after preparing: expected "
                           f"{plan.counts}, found {found}; no image was deleted, check the folders")


# --- the record and the log ----------------------------------------------------------------------

_RECORD_FIELDS = {"valid": int, "sample_train": int, "sample_valid": int, "seed": int, "split": str,
                  "labelled_images": int, "test_images": int, "complete": bool}


def _read_record(root):
    """The record of an earlier run as a dict of `_RECORD_FIELDS`, or None; refuses a damaged one."""
    path = root / RECORD_NAME
    if not path.is_file():
        return None
    damaged = ("it records an earlier run of prepare_kaggle: restore it from a backup, or start "
               "from a fresh copy of Kaggle's download")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserInputError(f"{path} is not valid JSON ({err}); {damaged}") from None
    if not isinstance(record, dict):
        raise UserInputError(f"{path} holds {json.dumps(record)[:60]}, not a JSON object; {damaged}")
    for name, kind in _RECORD_FIELDS.items():
        value = record.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise UserInputError(f"{path}: `{name}` must be {'an integer' if kind is int else 'a ' + kind.__name__}"
                                 f"; found {name}={value!r}. {damaged[0].upper()}{damaged[1:]}")
    return record


def _write_record(root, plan, layout, complete):
    record = dict(plan.settings, split="folders" if plan.by_hand else "seeded",
                  labelled_images=layout.labelled_total(), test_images=layout.test_total(),
                  complete=complete)
    text = json.dumps(record, indent=2) + "\n"
    write_atomically(root / RECORD_NAME, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _log_plan(plan, layout, log):
    s = plan.settings
    state = ("an interrupted run, resuming" if plan.resumed and not plan.done else
             "already prepared" if plan.done else
             "class folders prepared by hand, keeping their split" if plan.by_hand else
             f"Kaggle's flat layout, validation split of {s['valid']:,} with seed {s['seed']}")
    log(f"{plan.root}: {layout.labelled_total():,} labelled images, {layout.test_total():,} "
        f"test images; {state}.")
    for line in plan.describe():
        log(f"  {line}")
    if plan.done:
        log(f"Nothing to do: {plan.summary()}.")
    elif plan.dry_run:
        log("Dry run: nothing was changed.")


def _groups(pairs, root):
    """``verb N images SRC/ -> DST/`` parts: pairs grouped by (source, destination) folder."""
    groups = Counter((src.parent.relative_to(root).as_posix(), dst.parent.relative_to(root).as_posix())
                     for src, dst in pairs)
    return [f"{n:,} images {src}/ -> {dst}/" for (src, dst), n in groups.items()]
