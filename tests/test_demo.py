"""The demo: the digits written as course folders, and a tiny end-to-end run of `run_demo`."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from vggcourse.demo import WEIGHTS_NOTE, run_demo, write_digits


def count(folder):
    return sum(1 for p in folder.rglob("*.png"))


def test_write_digits_writes_the_course_layout(tmp_path):
    data = write_digits(tmp_path / "data", size=32, log=lambda line: None)
    assert sorted(p.name for p in (data / "train").iterdir()) == [str(d) for d in range(10)]
    assert sorted(p.name for p in (data / "valid").iterdir()) == [str(d) for d in range(10)]
    assert count(data / "test" / "unknown") == 100
    assert count(data / "valid") == 339 and count(data / "train") == 1358  # 1,797 in all
    with Image.open(next((data / "train" / "3").iterdir())) as image:
        assert image.size == (32, 32) and image.mode == "RGB"
    with open(data / "test_labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(row["img"] for row in rows) == sorted(
        p.name for p in (data / "test" / "unknown").iterdir())
    assert {row["label"] for row in rows} <= {str(d) for d in range(10)}
    assert not (tmp_path / "data.partial").exists()


def test_write_digits_is_seeded_and_reused(tmp_path):
    quiet = dict(size=32, limit=100, log=lambda line: None)
    a = write_digits(tmp_path / "a", **quiet)
    b = write_digits(tmp_path / "b", **quiet)
    files = lambda root: sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    assert files(a) == files(b)
    lines = []
    write_digits(a, **dict(quiet, log=lines.append))
    assert lines == [f"Using the digits already written to {a}"]
    assert json.loads((a / "digits.json").read_text())["limit"] == 100


def test_write_digits_refuses_another_folder(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"data already exists and does not hold the demo's digits"):
        write_digits(tmp_path / "data", log=lambda line: None)
    write_digits(tmp_path / "small", size=32, limit=100, log=lambda line: None)
    with pytest.raises(ValueError, match=r"small already exists"):
        write_digits(tmp_path / "small", size=32, limit=200, log=lambda line: None)


def test_a_broken_record_is_named(tmp_path):
    from vggcourse.errors import UserInputError

    data = write_digits(tmp_path / "data", size=32, limit=100, log=lambda line: None)
    (data / "digits.json").write_text('{"size": 32,')
    with pytest.raises(UserInputError, match=r"digits.json is not valid JSON"):
        write_digits(data, size=32, limit=100, log=lambda line: None)


@pytest.mark.slow
def test_run_demo_tiny(tmp_path, monkeypatch):
    """The whole recipe on 200 images for one epoch: every output is written."""
    monkeypatch.setenv("VGGCOURSE_CACHE", str(tmp_path / "features"))
    lines = []
    result = run_demo(tmp_path / "demo", epochs=1, size=32, limit=200, log=lines.append)
    assert WEIGHTS_NOTE in lines
    assert result.model == tmp_path / "demo" / "best.keras" and result.model.is_file()  # workflow's checkpoint
    with open(result.submission, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["img", *[str(d) for d in range(10)]] and len(rows) == 1 + 40
    assert result.pngs and all(p.is_file() and p.suffix == ".png" for p in result.pngs)
    assert 0 <= result.val_accuracy <= 1 and 0 <= result.test_accuracy <= 1
    from vggcourse.kaggle import score_submission  # the demo's test score is the submission's score
    assert result.test_accuracy == score_submission(result.submission, result.data_dir / "test_labels.csv").accuracy
    assert np.isfinite(result.seconds)
    assert lines[-1].startswith("Validation accuracy") and str((tmp_path / "demo").resolve()) in lines[-1]
