"""vggcourse/labels.py and image.DataFrameIterator: labels from file names and tables, without
moving files (issue 21), and Keras 2's validation_split / subset."""
import os

import numpy as np
import pandas as pd
import pytest

from vggcourse import labels
from vggcourse.errors import InputFileNotFoundError, UserInputError
from vggcourse.image import DataFrameIterator, ImageDataGenerator


@pytest.fixture
def kaggle_flat(dogscats, tmp_path):
    """Kaggle's flat train/ folder (cat.0.jpg, dog.0.jpg, ...): links to 10 + 10 sample images."""
    folder = tmp_path / "train"
    folder.mkdir()
    for cls, prefix in (("cats", "cat"), ("dogs", "dog")):
        for k, f in enumerate(sorted((dogscats / "train" / cls).glob("*.jpg"))[:10]):
            os.symlink(f, folder / f"{prefix}.{k}.jpg")
    return folder


def test_from_name_re_on_kaggle_and_pets_names(kaggle_flat, tmp_path):
    df = labels.from_name_re(kaggle_flat, r"^(cat|dog)\.\d+\.jpg$")
    assert list(df.columns) == ["filename", "class"] and len(df) == 20
    assert dict(zip(df.filename, df["class"]))["dog.3.jpg"] == "dog"
    pets = tmp_path / "pets"
    pets.mkdir()
    for name in ("great_pyrenees_173.jpg", "Abyssinian_1.jpg", "great_pyrenees_2.jpg"):
        os.symlink(next(kaggle_flat.iterdir()), pets / name)
    df = labels.from_name_re(pets, r"^(.+)_\d+\.jpg$")
    assert sorted(df["class"]) == ["Abyssinian", "great_pyrenees", "great_pyrenees"]


def test_from_name_re_names_the_files_it_does_not_match(kaggle_flat):
    os.symlink(kaggle_flat / "cat.0.jpg", kaggle_flat / "horse.0.jpg")
    with pytest.raises(UserInputError, match=r"^from_name_re: 1 file name\(s\) in .* do not match "
                                             r"pattern=.*: horse\.0\.jpg\. Change the pattern"):
        labels.from_name_re(kaggle_flat, r"^(cat|dog)\.")


@pytest.mark.parametrize("pattern, message", [
    (r"^cat|dog", r"`pattern` must have a group, in parentheses"),
    (r"^(cat", r"`pattern` must be a regular expression"),
])
def test_from_name_re_refuses_a_pattern_without_a_group(kaggle_flat, pattern, message):
    with pytest.raises(UserInputError, match=message):
        labels.from_name_re(kaggle_flat, pattern)


def test_from_name_func_and_a_missing_folder(kaggle_flat, tmp_path):
    df = labels.from_name_func(kaggle_flat, lambda name: name.split(".")[0])
    assert set(df["class"]) == {"cat", "dog"}
    with pytest.raises(UserInputError, match=r"returned no class"):
        labels.from_name_func(kaggle_flat, lambda name: None)
    with pytest.raises(InputFileNotFoundError, match="is not a folder of images"):
        labels.from_name_re(tmp_path / "nowhere", r"(x)")


def test_from_csv_single_and_multi_label_and_missing_files(kaggle_flat, tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("image_name,tags\ncat.0,cat small\ndog.1,dog\n")
    df = labels.from_csv(csv, kaggle_flat, suffix=".jpg", label_delim=" ")
    assert df.filename.tolist() == ["cat.0.jpg", "dog.1.jpg"] and df["class"].tolist() == [["cat", "small"], ["dog"]]
    single = labels.from_csv(csv, kaggle_flat, fn_col="image_name", label_col="tags", suffix=".jpg")
    assert single["class"].tolist() == ["cat small", "dog"]
    csv.write_text("image_name,tags\ncat.0,cat\nzebra.9,dog\n")
    with pytest.raises(UserInputError, match=r"1 row\(s\) of .* name files that are not in .*: zebra\.9\.jpg \(line 3\)"):
        labels.from_csv(csv, kaggle_flat, suffix=".jpg")
    with pytest.raises(UserInputError, match=r"`label_col` must be a column of .* Received: label_col='label'"):
        labels.from_csv(csv, kaggle_flat, label_col="label")


def test_split_valid_is_seeded_disjoint_and_covering(kaggle_flat):
    df = labels.from_name_re(kaggle_flat, r"^(cat|dog)\.")
    train, valid = labels.split_valid(df, valid_pct=0.25, seed=3)
    assert len(valid) == 5 and len(train) == 15
    assert set(train.filename) | set(valid.filename) == set(df.filename) and not set(train.filename) & set(valid.filename)
    again, _ = labels.split_valid(df, valid_pct=0.25, seed=3)
    assert again.filename.tolist() == train.filename.tolist()
    with pytest.raises(UserInputError, match=r"`valid_pct` must be a number in \[0, 1\)"):
        labels.split_valid(df, valid_pct=1.5)


def test_flow_from_dataframe_with_string_labels_is_flow_from_directory(dogscats, tmp_path):
    folder = dogscats / "valid"
    by_folder = ImageDataGenerator().flow_from_directory(folder, target_size=(16, 16), shuffle=False, batch_size=8)
    df = pd.DataFrame({"filename": by_folder.filenames,
                       "class": [name.split(os.sep)[0] for name in by_folder.filenames]})
    by_table = ImageDataGenerator().flow_from_dataframe(df, folder, target_size=(16, 16), shuffle=False, batch_size=8)
    assert isinstance(by_table, DataFrameIterator) and by_table.class_indices == by_folder.class_indices
    x1, y1 = by_folder[1]
    x2, y2 = by_table[1]
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    sparse = ImageDataGenerator().flow_from_dataframe(df, folder, target_size=(16, 16), class_mode="sparse",
                                                      shuffle=False, batch_size=8)
    np.testing.assert_array_equal(sparse[0][1], by_folder.classes[:8])


def test_flow_from_dataframe_multi_label_raw_weights_and_paths(kaggle_flat):
    df = pd.DataFrame({"filename": ["cat.0.jpg", "dog.1.jpg", "cat.2.jpg"],
                       "class": [["cat", "small"], ["dog"], ["cat"]],
                       "size": [0.5, 2.0, 1.0], "w": [1.0, 2.0, 3.0]})
    multi = ImageDataGenerator().flow_from_dataframe(df, kaggle_flat, target_size=(8, 8), shuffle=False, batch_size=3)
    assert multi.class_indices == {"cat": 0, "dog": 1, "small": 2}
    np.testing.assert_array_equal(multi[0][1], [[1, 0, 1], [0, 1, 0], [1, 0, 0]])
    raw = ImageDataGenerator().flow_from_dataframe(df, kaggle_flat, y_col="size", class_mode="raw",
                                                   target_size=(8, 8), shuffle=False, batch_size=3)
    np.testing.assert_allclose(raw[0][1], [0.5, 2.0, 1.0])
    two = ImageDataGenerator().flow_from_dataframe(df, kaggle_flat, y_col=["size", "w"], class_mode="raw",
                                                   target_size=(8, 8), shuffle=False, batch_size=3)
    assert two[0][1].shape == (3, 2)
    weighted = ImageDataGenerator().flow_from_dataframe(df, kaggle_flat, y_col="size", class_mode="raw",
                                                        weight_col="w", target_size=(8, 8), shuffle=False, batch_size=3)
    np.testing.assert_allclose(weighted[0][2], [1.0, 2.0, 3.0])
    paths = df.assign(filename=[str(kaggle_flat / name) for name in df.filename])
    assert len(ImageDataGenerator().flow_from_dataframe(paths, None, target_size=(8, 8)).filenames) == 3


def test_flow_from_dataframe_leaves_out_missing_files_with_one_warning(kaggle_flat):
    df = pd.DataFrame({"filename": ["cat.0.jpg", "gone.jpg", "notes.txt"], "class": ["cat", "dog", "dog"]})
    with pytest.warns(UserWarning, match=r"Found 2 invalid image filename\(s\) in x_col='filename'.*gone\.jpg, notes\.txt"):
        it = ImageDataGenerator().flow_from_dataframe(df, kaggle_flat, target_size=(8, 8))
    assert it.filenames == ["cat.0.jpg"]


@pytest.mark.parametrize("kwargs, message", [
    ({"y_col": "label"}, r"`y_col` must name column\(s\) of the table \(filename, class\)\. Received: y_col='label'"),
    ({"x_col": "path"}, r"`x_col` must name column"),
    ({"class_mode": "multi"}, r"`class_mode` must be one of"),
    ({"subset": "valid"}, r"`subset` must be one of 'training', 'validation'\. Received: subset='valid'"),
])
def test_flow_from_dataframe_bad_arguments_name_the_argument(kaggle_flat, kwargs, message):
    df = labels.from_name_re(kaggle_flat, r"^(cat|dog)\.")
    with pytest.raises(UserInputError, match=message):
        ImageDataGenerator(validation_split=0.2).flow_from_dataframe(df, kaggle_flat, **kwargs)


def test_validation_split_subsets_are_disjoint_and_cover_each_source(dogscats, kaggle_flat):
    gen = ImageDataGenerator(validation_split=0.2)
    folder = dogscats / "valid"
    train = gen.flow_from_directory(folder, target_size=(8, 8), subset="training")
    valid = gen.flow_from_directory(folder, target_size=(8, 8), subset="validation")
    everything = ImageDataGenerator().flow_from_directory(folder, target_size=(8, 8))
    assert sorted(train.filenames + valid.filenames) == sorted(everything.filenames)
    assert not set(train.filenames) & set(valid.filenames)
    per_class = np.bincount(everything.classes)
    assert np.bincount(valid.classes).tolist() == [int(0.2 * n) for n in per_class]  # Keras 2: the first of each class
    df = labels.from_name_re(kaggle_flat, r"^(cat|dog)\.")
    t, v = (gen.flow_from_dataframe(df, kaggle_flat, target_size=(8, 8), subset=s) for s in ("training", "validation"))
    assert v.filenames == df.filename.tolist()[:4] and t.filenames == df.filename.tolist()[4:]
    x = np.arange(10 * 2 * 2 * 3, dtype="float32").reshape(10, 2, 2, 3)
    a, b = (gen.flow(x, np.arange(10), subset=s, shuffle=False, batch_size=10, ignore_class_split=True)
            for s in ("training", "validation"))
    assert a[0][1].tolist() == list(range(2, 10)) and b[0][1].tolist() == [0, 1]
    with pytest.raises(UserInputError, match=r"subset='training' needs ImageDataGenerator\(validation_split=\.\.\.\)"):
        ImageDataGenerator().flow(x, subset="training")
    with pytest.raises(UserInputError, match=r"subset='validation' of 10 images is empty: raise validation_split \(0\.05\)"):
        ImageDataGenerator(validation_split=0.05).flow(x, subset="validation")


def test_vgg_trains_on_a_flat_kaggle_folder_with_a_seeded_split(kaggle_flat, private_cache):
    """Kaggle's flat train/ folder, labelled from its file names, split by a seeded fraction: the
    course's fine-tune without moving a file."""
    from vggcourse import Vgg16

    train, valid = labels.split_valid(labels.from_name_re(kaggle_flat, r"^(cat|dog)\."), valid_pct=0.3, seed=0)
    vgg = Vgg16(weights=None, size=(32, 32))
    batches = vgg.get_batches(train, directory=kaggle_flat, batch_size=4)
    val_batches = vgg.get_batches(valid, directory=kaggle_flat, batch_size=4, shuffle=False)
    assert isinstance(batches, DataFrameIterator) and batches.n == 14 and val_batches.n == 6
    vgg.finetune(batches)
    assert vgg.classes == ["cat", "dog"]
    history = vgg.fit(batches, val_batches, nb_epoch=1, verbose=0)
    assert np.isfinite(history.history["val_loss"][-1])
    _, probs = vgg.test(kaggle_flat, batch_size=4)
    assert probs.shape == (20, 2)
