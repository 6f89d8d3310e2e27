"""`vggcourse.sample` (the stand-in sample the suite and the notebooks run on), the odd image files of
helpers.py, and the guard that keeps every test inside the repository and its temporary folders."""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import ODD_FORMATS, OPENED, allowed_roots, outside_reads, write_odd_images
from vggcourse import decode
from vggcourse.errors import UserInputError
from vggcourse.sample import mnist_standin, write_sample

pytestmark = pytest.mark.backend_free
REPO = Path(__file__).resolve().parents[1]


def test_the_sample_has_the_course_layout_names_and_counts(dogscats):
    for split, first, count in (("train", 0, 100), ("valid", 100, 50)):
        for folder, prefix in (("cats", "cat"), ("dogs", "dog")):
            names = {p.name for p in (dogscats / split / folder).iterdir()}
            assert names == {f"{prefix}.{i}.jpg" for i in range(first, first + count)}
    tests = sorted(int(p.stem) for p in (dogscats / "test" / "unknown").iterdir())
    rows = (dogscats / "test_labels.csv").read_text().splitlines()
    assert rows[0] == "id,label" and len(tests) == 100 and 1 <= tests[0] and tests[-1] <= 12500
    assert sorted(int(r.split(",")[0]) for r in rows[1:]) == tests
    assert {r.split(",")[1] for r in rows[1:]} == {"0", "1"}


def test_the_sample_looks_like_kaggles_files(dogscats):
    files = sorted(dogscats.glob("*/*/*.jpg"))
    images = [Image.open(p) for p in files]
    sizes = np.array([im.size for im in images])
    assert {im.format for im in images} == {"JPEG"} and {im.mode for im in images} == {"RGB"}
    assert sizes.min() >= 80 and sizes.max() <= 500 and len({tuple(s) for s in sizes}) > 100
    progressive = sum(bool(im.info.get("progressive")) for im in images)
    assert 0.08 < progressive / len(images) < 0.3  # one in six, as photographs from the web


def test_the_two_classes_differ_and_a_seed_repeats_the_pixels(tmp_path):
    first = write_sample(tmp_path / "a", train=4, valid=1, test=2, seed=3)
    again = write_sample(tmp_path / "b", train=4, valid=1, test=2, seed=3)
    other = write_sample(tmp_path / "c", train=4, valid=1, test=2, seed=4)
    name = "train/cats/cat.0.jpg"
    assert (first / name).read_bytes() == (again / name).read_bytes() != (other / name).read_bytes()
    hue = {cls: np.mean([np.asarray(Image.open(p), np.float32).mean((0, 1)) for p in (first / "train" / cls).iterdir()],
                        axis=0) for cls in ("cats", "dogs")}
    assert np.abs(hue["cats"] - hue["dogs"]).max() > 15  # temple and flower: told apart by colour alone


def test_write_sample_refuses_bad_counts_and_a_used_folder_leaving_nothing(tmp_path):
    for kwargs, name in (({"train": 0}, "train"), ({"valid": True}, "valid"), ({"test": 12501}, "test"),
                         ({"train": 2.5}, "train")):
        with pytest.raises(UserInputError, match=f"`{name}` must be a whole number"):
            write_sample(tmp_path / "s", **kwargs)
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    with pytest.raises(UserInputError, match="used already exists and is not an empty folder"):
        write_sample(used)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["used"]  # no half-written sample beside it
    empty = tmp_path / "empty"
    empty.mkdir()
    assert sorted(p.name for p in write_sample(empty, train=1, valid=1, test=0).iterdir()) == \
        ["test", "test_labels.csv", "train", "valid"]


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_odd_files_take_the_decoders_the_real_files_take(tmp_path, monkeypatch, interpolation):
    """Baseline, progressive and grayscale JPEGs go to libjpeg-turbo (simplejpeg), a large one reduced
    in the DCT domain; CMYK JPEGs, PNGs and 16-bit files to Pillow; a truncated JPEG decodes as far as
    it goes, with a warning naming it."""
    paths = write_odd_images(tmp_path)
    assert sorted(paths) == sorted(ODD_FORMATS)
    decoded_by = []
    turbo, pillow = decode._turbo_decode, decode._pillow_decode

    def spy_turbo(data, size, colorspace):
        pixels = turbo(data, size, colorspace)
        decoded_by.append(None if pixels is None else f"simplejpeg/{pixels.shape[1]}")
        return pixels

    def spy_pillow(*args):
        decoded_by.append("pillow")
        return pillow(*args)

    monkeypatch.setattr(decode, "_turbo_decode", spy_turbo)
    monkeypatch.setattr(decode, "_pillow_decode", spy_pillow)
    expected = {"baseline.jpg": "simplejpeg", "progressive.jpg": "simplejpeg", "large.jpg": "simplejpeg/150",
                "grayscale.jpg": "simplejpeg", "cmyk.jpg": "pillow", "picture.png": "pillow",
                "grayscale16.png": "pillow", "truncated.jpg": "pillow"}
    for name, path in paths.items():
        del decoded_by[:]
        if name == "truncated.jpg":
            with pytest.warns(UserWarning, match="truncated.jpg is truncated"):
                pixels = decode.decode_image(path, (40, 56), interpolation=interpolation)
        else:
            pixels = decode.decode_image(path, (40, 56), interpolation=interpolation)
        assert pixels.shape == (40, 56, 3) and pixels.dtype == np.uint8, name
        assert [d for d in decoded_by if d][-1].startswith(expected[name]), (name, decoded_by)
        assert 10 < pixels.mean() < 245, name  # real picture content, not a blank or a wrapped 16-bit value
    gray16 = decode.decode_image(paths["grayscale16.png"])
    assert abs(gray16.astype(float).mean() - decode.decode_image(paths["grayscale.jpg"]).astype(float).mean()) < 3


def test_the_read_guard_flags_what_lies_beside_the_repository(tmp_path):
    roots = allowed_roots(REPO)
    beside = REPO.parent / "shared" / "data" / "dogscats" / "train" / "cats" / "cat.0.jpg"
    inside = [REPO / "README.md", tmp_path / "x.jpg", Path(os.__file__)]
    assert outside_reads([str(beside), *map(str, inside)], REPO, roots) == [str(beside)]
    assert outside_reads(["/srv/elsewhere/data.csv"], REPO, roots) == ["/srv/elsewhere/data.csv"]


def test_the_read_guard_is_installed_and_sees_opens():
    before = len(OPENED)
    with open(REPO / "README.md", "rb"):
        pass
    assert OPENED[before:] == [str(REPO / "README.md")]


def test_the_sample_command_writes_the_folder_and_refuses_a_used_one(tmp_path, capsys):
    from vggcourse.cli import main

    dest = tmp_path / "data" / "sample"
    assert main(["sample", str(dest), "--train", "2", "--valid", "1", "--test", "3"]) == 0
    assert sorted(p.name for p in (dest / "train" / "dogs").iterdir()) == ["dog.0.jpg", "dog.1.jpg"]
    assert len(list((dest / "test" / "unknown").iterdir())) == 3
    assert main(["sample", str(dest)]) == 2
    assert "already exists and is not an empty folder" in capsys.readouterr().err


def test_mnist_standin_has_mnists_shapes_and_dtypes():
    (x_train, y_train), (x_test, y_test) = mnist_standin()
    assert x_train.shape == (1500, 28, 28) and x_test.shape == (297, 28, 28)
    assert x_train.dtype == y_train.dtype == np.uint8 and y_test.shape == (297,)
    assert set(np.unique(y_train)) == set(range(10)) and x_train.max() == 255
    assert x_train[:, :4].max() == 0 and x_train[:, :, 24:].max() == 0  # a 20x20 digit, centred
    assert mnist_standin(test=97)[1][0].shape == (97, 28, 28)
    with pytest.raises(UserInputError, match=r"`test` must be .*Received: test=0"):
        mnist_standin(test=0)
