"""prepare_kaggle and scripts/prepare_data.py on a small fake Kaggle download of real images."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from vggcourse.errors import UserInputError
from vggcourse.prepare import RECORD_NAME, prepare_kaggle

pytestmark = pytest.mark.backend_free  # never imports Keras: .ci/run's JAX run leaves it out

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(valid=20, sample_train=10, sample_valid=6, seed=3)


@pytest.fixture
def kaggle(dogscats, tmp_path):
    """Kaggle's flat layout: train/cat.N.jpg + train/dog.N.jpg (60 + 60), test/N.jpg (20)."""
    root = tmp_path / "kaggle"
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    for cls, kind in (("cats", "cat"), ("dogs", "dog")):
        sources = sorted((dogscats / "train" / cls).glob("*.jpg"))[:60]
        for n, src in enumerate(sources, 1):
            shutil.copyfile(src, root / "train" / f"{kind}.{n}.jpg")
    for src in sorted((dogscats / "test" / "unknown").glob("*.jpg"))[:20]:
        shutil.copyfile(src, root / "test" / src.name)
    return root


def tree(root):
    """Relative path -> content hash of every file under root (the record file left out)."""
    return {p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != RECORD_NAME}


def images(tree_, sample=False):
    """The multiset of image contents, with or without the sample/ copies."""
    return Counter(h for path, h in tree_.items() if path.startswith("sample/") == sample)


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_builds_the_course_layout(kaggle):
    before = tree(kaggle)
    plan = prepare_kaggle(kaggle, **SMALL, log=lambda line: None)
    after = tree(kaggle)
    assert images(after) == images(before)  # every image kept, none duplicated outside sample/
    assert sorted(p.name for p in (kaggle / "train").iterdir()) == ["cats", "dogs"]
    valid = names(kaggle / "valid" / "cats") + names(kaggle / "valid" / "dogs")
    train = names(kaggle / "train" / "cats") + names(kaggle / "train" / "dogs")
    assert len(valid) == 20 and len(train) == 100 and not set(valid) & set(train)
    for split in ("train", "valid", "sample/train", "sample/valid"):
        assert all(n.startswith("cat.") for n in names(kaggle / split / "cats"))
        assert all(n.startswith("dog.") for n in names(kaggle / split / "dogs"))
    assert len(names(kaggle / "test" / "unknown")) == 20
    assert sorted(p.name for p in (kaggle / "test").iterdir()) == ["unknown"]
    sample_train = {path: h for path, h in after.items() if path.startswith("sample/train/")}
    sample_valid = {path: h for path, h in after.items() if path.startswith("sample/valid/")}
    assert len(sample_train) == 10 and len(sample_valid) == 6
    for path, h in {**sample_train, **sample_valid}.items():
        assert after[path.removeprefix("sample/")] == h  # a copy of the image in train/ or valid/
    assert plan.counts["test/unknown"] == 20
    assert sum(plan.counts[f"valid/{c}"] for c in ("cats", "dogs")) == 20
    assert json.loads((kaggle / RECORD_NAME).read_text())["complete"] is True


def test_same_seed_same_split_other_seed_other_split(kaggle, tmp_path):
    copies = [shutil.copytree(kaggle, tmp_path / name) for name in ("a", "b", "c")]
    quiet = dict(SMALL, log=lambda line: None)
    prepare_kaggle(copies[0], **quiet)
    prepare_kaggle(copies[1], **quiet)
    prepare_kaggle(copies[2], **dict(quiet, seed=4))
    assert tree(copies[0]) == tree(copies[1])
    assert tree(copies[0]) != tree(copies[2])


def test_second_run_changes_nothing(kaggle):
    prepare_kaggle(kaggle, **SMALL, log=lambda line: None)
    before = tree(kaggle)
    lines = []
    plan = prepare_kaggle(kaggle, **SMALL, log=lines.append)
    assert plan.done and tree(kaggle) == before
    assert any("Nothing to do" in line for line in lines)


def test_interrupted_run_is_completed(kaggle, tmp_path, monkeypatch):
    reference = shutil.copytree(kaggle, tmp_path / "reference")
    prepare_kaggle(reference, **SMALL, log=lambda line: None)
    before = tree(kaggle)

    import vggcourse.prepare as prepare
    real_move, calls = prepare._move, []

    def move_then_fail(src, dst):
        if len(calls) == 50:
            raise KeyboardInterrupt
        calls.append(src)
        real_move(src, dst)

    monkeypatch.setattr(prepare, "_move", move_then_fail)
    with pytest.raises(KeyboardInterrupt):
        prepare_kaggle(kaggle, **SMALL, log=lambda line: None)
    monkeypatch.setattr(prepare, "_move", real_move)
    assert images(tree(kaggle)) == images(before)  # half done, nothing lost
    lines = []
    plan = prepare_kaggle(kaggle, **SMALL, log=lines.append)
    assert plan.resumed and "interrupted" in lines[0]
    assert tree(kaggle) == tree(reference)


def test_interrupted_sample_copy_is_completed(kaggle, tmp_path, monkeypatch):
    reference = shutil.copytree(kaggle, tmp_path / "reference")
    prepare_kaggle(reference, **SMALL, log=lambda line: None)

    import vggcourse.prepare as prepare

    def copy_fails(src, dst):
        partial = dst.with_name(f".{dst.name}.partial")
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(src.read_bytes()[:100])  # a torn copy
        raise OSError("disk full")

    monkeypatch.setattr(prepare, "_copy", copy_fails)
    with pytest.raises(OSError):
        prepare_kaggle(kaggle, **SMALL, log=lambda line: None)
    monkeypatch.undo()
    prepare_kaggle(kaggle, **SMALL, log=lambda line: None)
    assert tree(kaggle) == tree(reference)


def test_dry_run_changes_nothing(kaggle):
    before = tree(kaggle)
    lines = []
    plan = prepare_kaggle(kaggle, **SMALL, dry_run=True, log=lines.append)
    assert tree(kaggle) == before and not (kaggle / RECORD_NAME).exists()
    assert len(plan.moves) == 140 and len(plan.copies) == 16
    assert "would move 20 images test/ -> test/unknown/" in [line.strip() for line in lines]
    assert lines[-1] == "Dry run: nothing was changed."


def test_class_folders_prepared_by_hand_are_kept(dogscats_copy):
    """The course's own layout (no flat images, no record): keep the split, add sample/."""
    before = tree(dogscats_copy)
    plan = prepare_kaggle(dogscats_copy, valid=50, sample_train=8, sample_valid=4,
                          log=lambda line: None)
    assert plan.by_hand and plan.moves == []
    after = tree(dogscats_copy)
    assert images(after) == images(before)
    assert sum(images(after, sample=True).values()) == 12
    assert prepare_kaggle(dogscats_copy, valid=50, sample_train=8, sample_valid=4,
                          log=lambda line: None).done


def test_refuses_a_missing_train_folder(tmp_path):
    (tmp_path / "kaggle").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no train/ folder in .*kaggle: expected Kaggle's"):
        prepare_kaggle(tmp_path / "kaggle")
    with pytest.raises(FileNotFoundError, match=r"no such folder: .*nowhere; `root` must be"):
        prepare_kaggle(tmp_path / "nowhere")


@pytest.mark.parametrize("stray, message", [
    ("train/notes.txt", r"unexpected file .*train/notes\.txt: train/ should hold cat\.N\.jpg"),
    ("train/bird.1.jpg", r"unexpected file .*train/bird\.1\.jpg"),
    ("valid/readme.md", r"unexpected file .*valid/readme\.md: valid/ should hold cats/ and dogs/"),
    ("test/labels.csv", r"unexpected file .*test/labels\.csv"),
    ("train/birds/bird.1.jpg", r"unexpected folder .*train/birds"),
])
def test_refuses_unexpected_files(kaggle, stray, message):
    (kaggle / stray).parent.mkdir(parents=True, exist_ok=True)
    (kaggle / stray).write_text("x")
    before = tree(kaggle)
    with pytest.raises(ValueError, match=message):
        prepare_kaggle(kaggle, **SMALL, log=lambda line: None)
    assert tree(kaggle) == before


def test_refuses_valid_already_holding_images(kaggle):
    (kaggle / "valid" / "cats").mkdir(parents=True)
    shutil.copyfile(kaggle / "train" / "cat.1.jpg", kaggle / "valid" / "cats" / "cat.999.jpg")
    with pytest.raises(ValueError, match=r"valid/cats already holds 1 images while .*train still"):
        prepare_kaggle(kaggle, **SMALL, log=lambda line: None)


def test_refuses_other_settings_on_a_prepared_folder(kaggle):
    prepare_kaggle(kaggle, **SMALL, log=lambda line: None)
    with pytest.raises(ValueError, match=r"was prepared with valid=20, sample_train=10, "
                                         r"sample_valid=6, seed=3; run again with the same"):
        prepare_kaggle(kaggle, **dict(SMALL, seed=4), log=lambda line: None)


def test_refuses_images_missing_since_an_interrupted_run(kaggle):
    prepare_kaggle(kaggle, **SMALL, log=lambda line: None)
    (kaggle / "train" / "cats" / next(iter(names(kaggle / "train" / "cats")))).unlink()
    with pytest.raises(ValueError, match="now holds 119 labelled and 20 test images"):
        prepare_kaggle(kaggle, **SMALL, log=lambda line: None)


@pytest.mark.parametrize("settings, message", [
    (dict(valid=120), r"`valid` must be smaller than the 120 labelled images"),
    (dict(valid=-1), r"`valid` must be a whole number >= 0. Received: valid=-1"),
    (dict(valid=2.5), r"`valid` must be a whole number >= 0. Received: valid=2.5"),
    (dict(sample_valid=True), r"`sample_valid` must be a whole number >= 0. Received: sample_valid=True"),
    (dict(sample_train=101), r"`sample_train` must be at most the 100 images of train/"),
    (dict(seed="x"), r"`seed` must be a whole number"),
])
def test_refuses_bad_settings(kaggle, settings, message):
    with pytest.raises(ValueError, match=message):
        prepare_kaggle(kaggle, **dict(SMALL, **settings), log=lambda line: None)


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", r"holds \[1, 2\], not a JSON object"),
    ('{"valid": 20', "is not valid JSON"),
    ('{"valid": "20", "sample_train": 10}', r"`valid` must be an integer; found valid='20'"),
    ("\udcff", "is not valid JSON"),
])
def test_a_damaged_record_is_named(kaggle, text, message):
    record = kaggle / RECORD_NAME
    if text == "\udcff":
        record.write_bytes(b"\xff\xfe{")
    else:
        record.write_text(text)
    with pytest.raises(UserInputError, match=f"{RECORD_NAME}.*{message}"):
        prepare_kaggle(kaggle, **SMALL, log=lambda line: None)


def test_the_record_follows_the_umask(kaggle):
    prepare_kaggle(kaggle, **SMALL, log=lambda line: None)
    umask = os.umask(0)
    os.umask(umask)
    assert (kaggle / RECORD_NAME).stat().st_mode & 0o777 == 0o666 & ~umask


def run_script(*args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_data.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


def test_script_end_to_end(kaggle):
    before = tree(kaggle)
    dry = run_script(kaggle, "--valid", 20, "--sample-train", 10, "--sample-valid", 6, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would move" in dry.stdout and tree(kaggle) == before
    done = run_script(kaggle, "--valid", 20, "--sample-train", 10, "--sample-valid", 6)
    assert done.returncode == 0, done.stderr
    assert "Done: train/cats" in done.stdout
    assert images(tree(kaggle)) == images(before)
    again = run_script(kaggle, "--valid", 20, "--sample-train", 10, "--sample-valid", 6)
    assert again.returncode == 0 and "Nothing to do" in again.stdout


def test_script_bad_input_exits_2_with_one_line(tmp_path):
    result = run_script(tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "no train/ folder in" in result.stderr


def test_check_course_layout_names_what_is_missing(tmp_path):
    from vggcourse.prepare import check_course_layout

    with pytest.raises(FileNotFoundError, match=r"'.*nowhere' does not exist; expected the course layout .*train/"):
        check_course_layout(tmp_path / "nowhere")
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match=r"has no valid/;.*vggcourse prepare"):
        check_course_layout(tmp_path)
    (tmp_path / "valid").mkdir()
    assert check_course_layout(str(tmp_path)) == tmp_path
    with pytest.raises(FileNotFoundError, match=r"has no test/; expected .*test/<class>/\*\.jpg$"):
        check_course_layout(tmp_path, needs=("test",))
