"""Submission files: ids, columns, order, clipping, refusals, scoring, upload."""
import csv
import os
import stat
import sys

import numpy as np
import pytest

from vggcourse.errors import UserInputError
from vggcourse.features import predict_in_order
from vggcourse.kaggle import (best_clip, check_expected_rows, do_clip, file_ids, log_loss,
                              score_submission, submit, write_submission)

CATS_DOGS = {"cats": 0, "dogs": 1}


def _read(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("name, expected", [
    ("unknown/1234.jpg", 1234), ("1234.jpg", 1234), ("a/b/c/d/7.png", 7),
    ("unknown\\55.jpg", 55), ("C:\\data\\test\\unknown\\12500.jpg", 12500), ("/abs/path/9.JPG", 9),
])
def test_ids_are_file_stems(name, expected):
    assert file_ids([name]).tolist() == [expected]


def test_non_numeric_ids_are_refused_and_kept_for_multiclass():
    with pytest.raises(UserInputError, match="numeric file names.*cat.1.jpg"):
        file_ids(["unknown/cat.1.jpg"])
    with pytest.raises(UserInputError, match="numeric file names.*\u00b23.jpg"):  # isdigit() says yes
        file_ids(["unknown/\u00b23.jpg", "unknown/\u0663.jpg"])
    assert file_ids(["test\\img_1.jpg"], numeric=False).tolist() == ["img_1.jpg"]


def test_binary_submission_columns_order_and_clipping(tmp_path):
    files = ["unknown/10.jpg", "unknown/9.jpg", "unknown/100.jpg", "unknown/2.jpg"]
    p_dog = np.array([0.99, 0.5, 0.01, 0.123456])
    path = write_submission(tmp_path / "sub.csv", np.stack([1 - p_dog, p_dog], 1),
                            filenames=files, class_indices=CATS_DOGS)
    assert _read(path) == [["id", "label"], ["2", "0.12346"], ["9", "0.50000"], ["10", "0.95000"],
                           ["100", "0.05000"]]
    # the column is chosen by name: with classes in the other order the same file comes out
    swapped = write_submission(tmp_path / "swapped.csv", np.stack([p_dog, 1 - p_dog], 1), filenames=files,
                               class_indices=["dogs", "cats"])
    assert _read(swapped) == _read(path)
    cats = write_submission(tmp_path / "cats.csv", np.stack([1 - p_dog, p_dog], 1), filenames=files,
                            class_indices=CATS_DOGS, positive="cats", clip=None)
    assert [r[1] for r in _read(cats)[1:]] == ["0.87654", "0.50000", "0.01000", "0.99000"]
    sigmoid = write_submission(tmp_path / "sig.csv", p_dog[:, None], filenames=files, class_indices=CATS_DOGS)
    assert _read(sigmoid) == _read(path)
    raw = open(path).read()
    assert raw.startswith("id,label\n2,0.12346\n") and "\r" not in raw


def test_multiclass_submission(tmp_path):
    names = [f"c{i}" for i in range(3)]
    probs = np.array([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]])
    path = write_submission(tmp_path / "sf.csv", probs, filenames=["test/img_9.jpg", "test/img_10.jpg"],
                            class_indices=names, kind="multiclass")
    rows = _read(path)
    assert rows[0] == ["img", "c0", "c1", "c2"]
    assert [r[0] for r in rows[1:]] == ["img_10.jpg", "img_9.jpg"]
    assert rows[2][1:] == ["0.70000", "0.20000", "0.10000"]
    clipped = write_submission(tmp_path / "sf2.csv", probs, filenames=["img_9.jpg", "img_10.jpg"],
                               class_indices=names, kind="multiclass", clip=best_clip(probs, [0, 2]))
    assert abs(sum(float(v) for v in _read(clipped)[1][1:]) - 1) < 1e-4


def test_a_file_name_that_is_not_utf8_is_written_as_its_own_bytes(tmp_path):
    name = os.fsdecode(b"img_\xff.jpg")  # as os.listdir gives it on Linux: 'img_\udcff.jpg'
    path = write_submission(tmp_path / "sf.csv", np.array([[0.25, 0.75]]), filenames=[f"test/{name}"],
                            class_indices=["c0", "c1"], kind="multiclass")
    assert open(path, "rb").read().splitlines()[1] == b"img_\xff.jpg,0.25000,0.75000"
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        assert list(csv.reader(f))[1][0] == name  # read back as the OS spells the file


class _Batches:
    def __init__(self, filenames, directory=None, shuffle=False, skipped=()):
        self.filenames, self.directory, self.shuffle, self.skipped = filenames, directory, shuffle, list(skipped)
        self.class_indices = {"unknown": 0}


GOOD = dict(filenames=["1.jpg", "2.jpg"], class_indices=CATS_DOGS)
P = np.array([[0.2, 0.8], [0.6, 0.4]])


@pytest.mark.parametrize("args, kwargs, message", [
    ((P[:1],), GOOD, "1 rows of predictions for 2 test files"),
    ((P,), dict(GOOD, filenames=["a/1.jpg", "b/1.jpg"]), r"ids must be unique; repeated: \[1\]"),
    ((P,), dict(GOOD, filenames=["cat.1.jpg", "2.jpg"]), "numeric file names"),
    ((np.array([[0.2, np.nan], [0.5, 0.5]]),), GOOD, r"1 row\(s\) .*NaN or infinite.*row 0 \(1.jpg\)"),
    ((np.array([[0.2, 1.3], [0.5, 0.5]]),), GOOD, r"outside \[0, 1\]"),
    # every column is checked, not only the positive one (issue 12, item 10)
    ((np.array([[np.nan, 0.6], [0.5, 0.5]]),), GOOD, r"NaN or infinite values, e.g. row 0 \(1.jpg\)"),
    ((np.array([[0.5, 0.5], [0.9, 0.9]]),), GOOD, r"do not sum to 1 .*, e.g. row 1 \(2.jpg\): \[0.9, 0.9\]"),
    ((np.array([[0.5, 0.5], [-0.2, 0.6]]),), GOOD, r"outside \[0, 1\], e.g. row 1"),
    ((P,), dict(GOOD, expected_rows=12500), "2 rows; the competition expects 12500"),
    ((P,), dict(filenames=["1.jpg", "2.jpg"]), "pass `class_indices=`"),
    ((P,), dict(GOOD, positive="birds"), r"'birds' is not a class name; classes are \['cats', 'dogs'\]"),
    ((P,), dict(class_indices=["birds", "cats", "dogs"], filenames=["1.jpg", "2.jpg"]), "do not match the 3 classes"),
    ((P,), dict(GOOD, clip=(0.9, 0.1)), "`clip` must be"),
    ((P, _Batches(["1.jpg", "2.jpg"], shuffle=True)), dict(class_indices=CATS_DOGS), "shuffle` is True"),
    ((P, _Batches(["1.jpg", "2.jpg"], skipped=["3.jpg"])), dict(class_indices=CATS_DOGS),
     "1 test images could not be read"),
    ((P,), dict(GOOD, kind="ranking"), "`kind` must be"),
    ((P,), dict(class_indices=CATS_DOGS), "give `batches`"),
])
def test_refused_submissions_write_nothing(tmp_path, args, kwargs, message):
    path = tmp_path / "sub.csv"
    path.write_text("previous\n")
    with pytest.raises(UserInputError, match=message):
        write_submission(path, *args, **kwargs)
    assert path.read_text() == "previous\n"
    assert os.listdir(tmp_path) == ["sub.csv"]


def test_row_count_must_match_test_folder(tmp_path, dogscats):
    test_dir = dogscats / "test"
    files = sorted(os.listdir(test_dir / "unknown"))
    p = np.full((len(files), 2), 0.5)
    ok = write_submission(tmp_path / "ok.csv", p, filenames=files, class_indices=CATS_DOGS, test_dir=test_dir)
    assert len(_read(ok)) == 101
    with pytest.raises(ValueError, match="99 rows but 100 test images under"):
        write_submission(tmp_path / "bad.csv", p[1:], filenames=files[1:], class_indices=CATS_DOGS,
                         test_dir=test_dir)
    assert not (tmp_path / "bad.csv").exists()


def test_expected_rows_are_checked_against_the_folder_before_predicting(dogscats):
    check_expected_rows(dogscats / "test", 100)
    with pytest.raises(UserInputError, match=r"holds 100 test images; the competition expects 12500 rows"):
        check_expected_rows(dogscats / "test", 12500)
    with pytest.raises(FileNotFoundError, match="check_expected_rows: `test_dir` .*nope' is not a folder"):
        check_expected_rows(dogscats / "nope", 12500)


def test_do_clip_bounds_for_many_classes():
    rows = do_clip(np.array([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]]), 0.91)
    np.testing.assert_allclose(rows[0], [0.91, 0.03, 0.03, 0.03])
    np.testing.assert_allclose(rows.sum(axis=1), 1)
    np.testing.assert_allclose(do_clip(np.array([0.0, 0.5, 1.0]), 0.95), [0.05, 0.5, 0.95])
    with pytest.raises(ValueError, match="mx"):
        do_clip(np.eye(4), 0.1)


def test_best_clip_minimises_validation_log_loss():
    labels = np.array([1] * 90 + [0] * 10)
    probs = np.where(labels == 1, 0.999, 0.001)
    probs[:5] = 0.0  # five confident mistakes: clipping must pull the extremes in
    lo, hi = best_clip(probs, labels)
    assert lo == pytest.approx(1 - hi) and 0.5 < hi < 0.999
    best = log_loss(do_clip(probs, hi), labels)
    for other in (0.6, 0.8, 0.999):
        assert best <= log_loss(do_clip(probs, other), labels)
    assert best_clip(np.where(labels == 1, 0.9, 0.1), labels)[1] >= 0.9  # no mistakes: clip little


def test_score_submission_with_the_sample_labels(tmp_path, dogscats):
    with open(dogscats / "test_labels.csv") as f:
        truth = {int(r["id"]): int(r["label"]) for r in csv.DictReader(f)}
    ids = sorted(truth)
    p_dog = np.array([0.9 if truth[i] else 0.2 for i in ids])
    p_dog[0] = 1 - p_dog[0]  # one mistake
    path = write_submission(tmp_path / "s.csv", np.stack([1 - p_dog, p_dog], 1),
                            filenames=[f"unknown/{i}.jpg" for i in ids], class_indices=CATS_DOGS)
    score = score_submission(path, dogscats / "test_labels.csv")
    assert score.n == 100 and score.accuracy == pytest.approx(0.99)
    assert score.log_loss == pytest.approx(log_loss(p_dog, [truth[i] for i in ids]), abs=1e-4)
    short = tmp_path / "short.csv"
    short.write_text("id,label\n" + "".join(f"{i},0.5\n" for i in ids[1:]))
    with pytest.raises(ValueError, match="1 ids of .*test_labels.csv have no row in .*short.csv"):
        score_submission(short, dogscats / "test_labels.csv")
    with pytest.raises(FileNotFoundError, match="nothere.csv"):
        score_submission(tmp_path / "nothere.csv", dogscats / "test_labels.csv")


def test_shuffled_and_unshuffled_predictions_give_the_same_file(tmp_path, dogscats):
    keras = pytest.importorskip("keras")
    from vggcourse.image import ImageDataGenerator

    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    model.layers[-1].set_weights([np.array([[-0.03, 0.03], [0.01, 0], [0, 0.02]], "float32"), np.zeros(2, "float32")])
    gen = ImageDataGenerator()
    paths = []
    for shuffle in (True, False):
        batches = gen.flow_from_directory(dogscats / "test", target_size=(16, 16), class_mode=None,
                                          batch_size=16, shuffle=shuffle, seed=1)
        preds = predict_in_order(model, batches)
        if shuffle:
            with pytest.raises(ValueError, match="shuffle"):
                write_submission(tmp_path / "raw.csv", model.predict(batches, verbose=0), batches,
                                 class_indices=CATS_DOGS)
            batches = batches.for_inference()
        paths.append(write_submission(tmp_path / f"sub_{shuffle}.csv", (batches, preds),
                                      class_indices=CATS_DOGS, test_dir=dogscats / "test", expected_rows=100))
    first, second = (open(p).read() for p in paths)
    assert first == second and first.count("\n") == 101
    assert len(set(first.splitlines()[1:])) == 100  # not one constant value
    assert score_submission(paths[0], dogscats / "test_labels.csv").n == 100


@pytest.fixture
def fake_kaggle(tmp_path, monkeypatch):
    """A `kaggle` executable on PATH that records its arguments; HOME without a token."""
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    home.mkdir()
    log = tmp_path / "args.txt"
    exe = bin_dir / "kaggle"
    exe.write_text(f"#!{sys.executable}\nimport sys\nopen({str(log)!r}, 'w').write('\\n'.join(sys.argv[1:]))\n"
                   "print('Successfully submitted')\nsys.exit(1 if '-m' in sys.argv and 'fail' in sys.argv else 0)\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("HOME", str(home))
    for var in ("KAGGLE_CONFIG_DIR", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return home, log


def test_submit_hands_the_file_to_the_kaggle_client(tmp_path, fake_kaggle):
    home, log = fake_kaggle
    sub = tmp_path / "sub.csv"
    sub.write_text("id,label\n1,0.5\n")
    with pytest.raises(RuntimeError, match="kaggle.json"):
        submit(sub)
    (home / ".kaggle").mkdir()
    (home / ".kaggle" / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    assert "Successfully" in submit(sub, message="first try")
    assert log.read_text().split("\n") == ["competitions", "submit", "-c", "dogs-vs-cats-redux-kernels-edition",
                                           "-f", str(sub), "-m", "first try"]
    with pytest.raises(RuntimeError, match="failed"):
        submit(sub, message="fail")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        submit(tmp_path / "missing.csv")


def test_submit_without_the_client(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    sub = tmp_path / "sub.csv"
    sub.write_text("id,label\n1,0.5\n")
    with pytest.raises(RuntimeError, match="pip install kaggle"):
        submit(sub)


@pytest.mark.parametrize("text, message", [
    ("id,label\n1,0.5\n2,0.5\n\n", None),  # a trailing blank line is fine
    ("id,label\n1,0.5\n2\n", r"sub.csv, line 3: 1 cell\(s\)"),
    ("id,label\n1,0.5\n2,abc\n", r"sub.csv, line 3: 'abc' is not a probability"),
    ("id,label\n1,0.5\n2,nan\n", r"sub.csv, line 3: 'nan' is not a probability"),
    ("id,label\n1,1.9\n2,0.5\n", r"sub.csv, line 2: '1.9' is not a probability"),
    ("id,label\n1,-5\n2,0.5\n", r"sub.csv, line 2: '-5' is not a probability"),
    ("id;label\n1;0.5\n2;0.5\n", r"sub.csv, line 1: header \['id;label'\]"),
    ("id,label\nx1,0.5\n2,0.5\n", r"sub.csv, line 2: 'x1' is not a numeric id"),
    ("id,label\n1,0.5\n1,0.5\n", r"sub.csv, line 3: id 1 repeats line 2"),
])
def test_score_submission_checks_every_cell_and_names_file_and_line(tmp_path, text, message):
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\n1,1\n2,0\n")
    sub = tmp_path / "sub.csv"
    sub.write_text(text)
    if message is None:
        assert score_submission(sub, labels).n == 2
    else:
        with pytest.raises(UserInputError, match=message):
            score_submission(sub, labels)


def test_score_submission_refuses_binary_and_bad_label_files(tmp_path):
    sub = tmp_path / "sub.csv"
    sub.write_text("id,label\n1,0.5\n")
    labels = tmp_path / "labels.csv"
    labels.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(UserInputError, match="labels.csv' is not a UTF-8 text CSV"):
        score_submission(sub, labels)
    labels.write_text("id,label\n1,2\n")
    with pytest.raises(UserInputError, match=r"labels.csv, line 2: '2' is not a label 0 or 1"):
        score_submission(sub, labels)
    multi = tmp_path / "multi.csv"
    multi.write_text("img,c0,c1,c2\na.jpg,0.2,0.3,0.5\n")
    labels.write_text("img,label\na.jpg,c9\n")
    with pytest.raises(UserInputError, match=r"line 2: 'c9' is not one of the submission's classes"):
        score_submission(multi, labels)


def test_image_count_agrees_with_the_batches_on_symlinks(tmp_path, dogscats):
    from vggcourse.image import ImageDataGenerator
    from vggcourse.kaggle import _count_images

    test_dir = tmp_path / "test"
    (test_dir / "unknown").mkdir(parents=True)
    for f in sorted((dogscats / "test" / "unknown").glob("*.jpg"))[:5]:
        (test_dir / "unknown" / f.name).symlink_to(f)  # linked files count, as in the batches
    (test_dir / "unknown" / "loop").symlink_to(test_dir)  # a loop: never walked
    (test_dir / "unknown" / "up").symlink_to(test_dir / "unknown")
    batches = ImageDataGenerator().flow_from_directory(test_dir, target_size=(32, 32), class_mode=None,
                                                       shuffle=False)
    assert len(batches.filenames) == 5
    assert _count_images(test_dir) == 5
    files = [f"unknown/{f.name}" for f in sorted((dogscats / "test" / "unknown").glob("*.jpg"))[:5]]
    write_submission(tmp_path / "s.csv", np.full((5, 2), 0.5), filenames=files, class_indices=CATS_DOGS,
                     test_dir=test_dir)


@pytest.mark.parametrize("call, message", [
    (lambda data, out: check_expected_rows(data / "test", True),
     r"check_expected_rows: `expected_rows` must be a whole number >= 1. Received: expected_rows=True"),
    (lambda data, out: check_expected_rows(data / "test", 12500.0), r"Received: expected_rows=12500.0"),
    (lambda data, out: write_submission(out / "s.csv", np.full((1, 2), 0.5), filenames=["1.jpg"],
                                        class_indices=CATS_DOGS, expected_rows=2.5),
     r"write_submission: `expected_rows` must be .*Received: expected_rows=2.5"),
    (lambda data, out: write_submission(out / "s.csv", np.full((1, 2), 0.5), filenames=["1.jpg"],
                                        class_indices=CATS_DOGS, kind="multi"),
     r"write_submission: `kind` must be one of 'binary', 'multiclass'. Received: kind='multi'"),
])
def test_row_counts_and_kind_are_checked(dogscats, tmp_path, call, message):
    with pytest.raises(UserInputError, match=message):
        call(dogscats, tmp_path)
    assert not (tmp_path / "s.csv").exists()
