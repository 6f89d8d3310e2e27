"""Keras 2's `keras.preprocessing.image` API in vggcourse.image, against Keras 2's documented behaviour
on small arrays and small folders (the transforms' geometry: tests/test_augment.py)."""
import io
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vggcourse import augment, features, image, keras1
from vggcourse.feature_store import feature_key
from vggcourse.image import ImageDataGenerator

KERAS2_NAMES = ["DataFrameIterator", "DirectoryIterator", "ImageDataGenerator", "Iterator", "NumpyArrayIterator",
                "flip_axis", "random_rotation", "random_shift", "random_shear", "random_zoom", "apply_channel_shift",
                "random_channel_shift", "apply_brightness_shift", "random_brightness",
                "transform_matrix_offset_center", "apply_affine_transform", "validate_filename", "save_img",
                "load_img", "list_pictures", "array_to_img", "img_to_array"]


def images(n=8, size=6, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, channels)).astype(np.float32)


@pytest.fixture
def folder(tmp_path):
    """Two class folders of four 12x10 PNGs each: RGB, with an alpha channel."""
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for k in range(4):
            pixels = rng.integers(0, 256, (12, 10, 4), dtype=np.uint8)
            Image.fromarray(pixels, "RGBA").save(tmp_path / name / f"{k}.png")
    return tmp_path


def test_every_keras2_name_is_there():
    missing = [name for name in KERAS2_NAMES if not hasattr(image, name)]
    assert not missing and set(KERAS2_NAMES) <= set(image.__all__)
    assert image.ArrayIterator is image.NumpyArrayIterator


def test_keras2_defaults():
    gen = ImageDataGenerator()
    assert (gen.zca_epsilon, gen.interpolation_order, gen.dtype, gen.data_format) == (1e-6, 1, "float32",
                                                                                      "channels_last")
    assert gen.brightness_range is None and gen.fill_mode == "nearest" and not gen.augments and not gen.standardizes
    assert (gen.row_axis, gen.col_axis, gen.channel_axis) == (1, 2, 3)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(brightness_range=0.1), ValueError, r"`brightness_range` must be a pair"),
    (dict(validation_split=5), ValueError, r"validation_split"),
    (dict(data_format="nhwc"), ValueError, r"`data_format` must be one of"),
    (dict(width_shift_range="a"), ValueError, r"width_shift_range"),
    (dict(height_shift_range=[1, "a"]), ValueError, r"`height_shift_range` must be a number or a list"),
    (dict(zoom_range=(0, 1)), ValueError, r"zoom_range"),
    (dict(interpolation_order=7), ValueError, r"interpolation_order"),
    (dict(preprocessing_function=3), TypeError, r"`preprocessing_function` must be a function"),
])
def test_bad_arguments_say_which_and_what_is_allowed(kwargs, error, match):
    with pytest.raises(error, match=match):
        ImageDataGenerator(**kwargs)


def test_preprocessing_function_runs_after_augmentation_and_before_rescale():
    seen = []

    def function(x):
        seen.append(x.copy())
        return x + 1

    x = images()
    gen = ImageDataGenerator(preprocessing_function=function, rescale=0.5, horizontal_flip=True)
    batch = gen.flow(x, batch_size=8, shuffle=False, seed=3)[0]
    assert len(seen) == 8 and all(s.shape == (6, 6, 3) for s in seen)
    before = batch / 0.5 - 1  # the function's input, image by image (threads see them in any order)
    assert all(np.allclose(b, x[i]) or np.allclose(b, x[i][:, ::-1]) for i, b in enumerate(before))
    assert any(not np.allclose(b, x[i]) for i, b in enumerate(before))  # some were flipped first
    assert all(any(np.allclose(s, b) for b in before) for s in seen)
    bad = ImageDataGenerator(preprocessing_function=lambda im: im[:2])
    with pytest.raises(ValueError, match=r"preprocessing_function must return an image of the shape"):
        bad.flow(x)[0]


def test_featurewise_statistics_from_fit_and_a_warning_before_it():
    x = images(32, seed=2)
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True, rescale=1 / 255,
                             dtype="float64")
    with pytest.warns(UserWarning, match="has not been fit"):
        unfit = gen.flow(x, batch_size=32, shuffle=False)[0]
    assert np.allclose(unfit, x / 255)
    gen.fit(x)
    assert gen.mean.shape == gen.std.shape == (1, 1, 3)
    assert np.allclose(gen.mean[0, 0], (x / 255).mean(axis=(0, 1, 2)))
    batch = gen.flow(x, batch_size=32, shuffle=False)[0]
    assert batch.dtype == np.float64
    assert np.allclose(batch.mean(axis=(0, 1, 2)), 0, atol=1e-6) and np.allclose(batch.std(axis=(0, 1, 2)), 1,
                                                                                atol=1e-4)
    gen.mean = np.array([1.0, 2.0, 3.0]).reshape(1, 1, 3)  # set by hand, as Keras 2 tutorials do
    assert np.allclose(gen.standardize(np.full((2, 2, 3), 255.0)), (1.0 - np.array([1, 2, 3])) / (gen.std + 1e-6))


def test_samplewise_centres_and_scales_each_image():
    batch = ImageDataGenerator(samplewise_std_normalization=True).flow(images(4), batch_size=4)[0]
    assert np.allclose(batch.mean(axis=(1, 2, 3)), 0, atol=1e-4) and np.allclose(batch.std(axis=(1, 2, 3)), 1,
                                                                                  atol=1e-3)


def test_zca_whitening_decorrelates_the_images_it_was_fit_on():
    x = images(8, size=4, channels=1, seed=4).astype(np.float64)
    with pytest.warns(UserWarning, match="featurewise_center"):
        gen = ImageDataGenerator(zca_whitening=True, rescale=1 / 255, dtype="float64")
    gen.fit(x)
    assert gen.zca_whitening_matrix.shape == (16, 16) and gen.principal_components is gen.zca_whitening_matrix
    white = gen.flow(x, batch_size=8, shuffle=False)[0].reshape(8, -1)
    assert np.allclose(white @ white.T / 8, np.eye(8), atol=1e-5)  # Y Y^T = n I for n < dimensions


def test_fit_with_augment_draws_rounds_of_augmented_images_and_checks_rank():
    gen = ImageDataGenerator(featurewise_center=True, rotation_range=90)
    x = images(4, size=8)
    assert np.allclose(gen.fit(x, seed=0).mean[0, 0], x.mean(axis=(0, 1, 2)), atol=1e-3)
    assert not np.allclose(gen.fit(x, augment=True, rounds=3, seed=0).mean[0, 0], x.mean(axis=(0, 1, 2)))
    with pytest.raises(ValueError, match=r"rank 4"):
        gen.fit(x[0])


def test_flow_gives_sample_weights_and_passes_extra_inputs_through():
    x, y = images(6), np.arange(6)
    xb, yb, wb = ImageDataGenerator().flow(x, y, sample_weight=y + 1, batch_size=3, shuffle=False)[1]
    assert np.array_equal(yb, [3, 4, 5]) and np.array_equal(wb, [4, 5, 6]) and np.allclose(xb, x[3:])
    extra, more = np.arange(6) * 10, np.ones((6, 2))
    (xb, eb, mb), yb = ImageDataGenerator().flow((x, [extra, more]), y, batch_size=2, shuffle=False)[2]
    assert np.array_equal(eb, [40, 50]) and mb.shape == (2, 2) and np.allclose(xb, x[4:])
    with pytest.raises(ValueError, match=r"All of the arrays in `x`"):
        ImageDataGenerator().flow((x, np.arange(5)), y)
    with pytest.raises(ValueError, match=r"`sample_weight` must have the same length"):
        ImageDataGenerator().flow(x, y, sample_weight=np.ones(5))


def test_flow_subset_refuses_a_split_that_loses_a_class_unless_told():
    x, y = images(8), np.repeat([0, 1], 4)
    gen = ImageDataGenerator(validation_split=0.5)
    with pytest.raises(ValueError, match=r"different number of classes after the split.*ignore_class_split"):
        gen.flow(x, y, subset="validation")
    assert len(gen.flow(x, y, subset="validation", ignore_class_split=True, batch_size=8)[0][1]) == 4
    with pytest.raises(ValueError, match=r"`subset` must be one of 'training', 'validation'"):
        gen.flow(x, y, subset="valid")


def test_save_to_dir_writes_every_image_of_every_batch(tmp_path):
    it = ImageDataGenerator().flow(images(5), batch_size=2, shuffle=False, save_to_dir=str(tmp_path),
                                   save_prefix="aug", save_format="jpeg")
    it[0], it[2]
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 3 and all(n.startswith(("aug_0_", "aug_1_", "aug_4_")) and n.endswith(".jpeg")
                                   for n in names)
    with pytest.raises(FileNotFoundError, match=r"save_to_dir=.* is not a folder"):
        ImageDataGenerator().flow(images(2), save_to_dir=str(tmp_path / "missing"))


def test_flow_from_directory_color_modes_and_keras2_arguments(folder):
    gen = ImageDataGenerator()
    rgba = gen.flow_from_directory(folder, (12, 10), color_mode="rgba", shuffle=False, batch_size=8)[0][0]
    gray = gen.flow_from_directory(folder, (12, 10), color_mode="grayscale", shuffle=False, batch_size=8)[0][0]
    first = folder / "a" / "0.png"
    with Image.open(first) as im:
        assert np.array_equal(rgba[0], np.asarray(im, np.float32))
        assert np.array_equal(gray[0][..., 0], np.asarray(im.convert("RGB").convert("L"), np.float32))
    it = gen.flow_from_directory(folder, (6, 5), color_mode="grayscale", batch_size=3, shuffle=False)
    assert it.image_shape == (6, 5, 1) and it[0][0].shape == (3, 6, 5, 1) and it.color_mode == "grayscale"
    for name in ("follow_links", "keep_aspect_ratio", "save_to_dir", "save_prefix", "save_format"):
        assert hasattr(it, name)


def test_an_unknown_keyword_is_reported_before_the_folder_is_scanned(folder, monkeypatch):
    def scanned(*args, **kwargs):
        raise AssertionError("the folder was scanned")

    monkeypatch.setattr(image, "_scan_directory", scanned)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'bogus'.*workers, use_multiprocessing"):
        ImageDataGenerator().flow_from_directory(folder, bogus=1)


def test_load_img_takes_file_objects_keeps_16_bit_gray_and_crops_to_the_aspect_ratio(tmp_path):
    deep = np.arange(12 * 10, dtype=np.uint16).reshape(12, 10) * 500
    Image.fromarray(deep).save(tmp_path / "deep.png")
    gray = image.img_to_array(image.load_img(tmp_path / "deep.png", color_mode="grayscale"))
    assert gray.shape == (12, 10, 1) and gray.max() == deep.max() > 255
    rgb = image.img_to_array(image.load_img(tmp_path / "deep.png"))
    assert rgb.max() == round(deep.max() / 257)  # RGB: 16-bit divided by 257, as the batches do
    with open(tmp_path / "deep.png", "rb") as stream:
        from_object = image.load_img(io.BytesIO(stream.read()), color_mode="grayscale")
    assert np.array_equal(image.img_to_array(from_object), gray)
    wide = np.zeros((50, 100, 3), np.uint8)
    wide[20:30, 45:55, 0] = 255  # a red square in the middle
    image.array_to_img(wide, scale=False).save(tmp_path / "wide.png")
    square = image.img_to_array(image.load_img(tmp_path / "wide.png", target_size=(25, 25), keep_aspect_ratio=True))
    rows, cols = np.nonzero(square[..., 0] > 128)
    assert np.ptp(rows) == np.ptp(cols)  # still a square
    with pytest.raises(TypeError, match=r"file path or a file object"):
        image.load_img(3)


def test_save_img_list_pictures_validate_filename(tmp_path):
    x = images(1)[0]
    image.save_img(tmp_path / "one.png", x)
    with pytest.warns(UserWarning, match="JPEG has no transparency"):
        image.save_img(str(tmp_path / "two.jpg"), images(1, channels=4)[0], file_format="jpeg")
    (tmp_path / "notes.txt").write_text("x")
    assert sorted(os.path.basename(p) for p in image.list_pictures(tmp_path)) == ["one.png", "two.jpg"]
    assert image.list_pictures(tmp_path, ext="png") == [str(tmp_path / "one.png")]
    assert image.validate_filename(str(tmp_path / "one.png"), ("png",))
    assert not image.validate_filename(str(tmp_path / "notes.txt"), ("png",))
    assert not image.validate_filename(str(tmp_path / "gone.png"), ("png",))
    with Image.open(tmp_path / "one.png") as saved:
        assert saved.size == (6, 6) and np.asarray(saved).max() == 255  # scale=True stretches to 0-255


def test_dataframe_multi_output_and_weights_with_input_mode(folder):
    df = pd.DataFrame({"filename": ["a/0.png", "a/1.png", "b/0.png"], "w": [1.0, 2.0, 3.0],
                       "size": [1, 2, 3], "vector": [np.arange(2), np.arange(2) + 1, np.arange(2) + 2]})
    gen = ImageDataGenerator()
    x, (sizes, vectors) = gen.flow_from_dataframe(df, folder, y_col=["size", "vector"], class_mode="multi_output",
                                                  target_size=(6, 5), shuffle=False)[0]
    assert np.array_equal(sizes, [1, 2, 3]) and np.array_equal(vectors, [[0, 1], [1, 2], [2, 3]])
    x, y, w = gen.flow_from_dataframe(df, folder, weight_col="w", class_mode="input", target_size=(6, 5),
                                      shuffle=False)[0]
    assert np.array_equal(x, y) and x is not y and np.array_equal(w, [1, 2, 3])
    with pytest.raises(TypeError, match=r"y_col as a list"):
        gen.flow_from_dataframe(df, folder, y_col="size", class_mode="multi_output")
    with pytest.raises(TypeError, match=r"weight_col='filename' must hold numbers"):
        gen.flow_from_dataframe(df, folder, weight_col="filename", class_mode="input")


def test_labels_is_keras2s_attribute_of_every_file(folder):
    """Keras 2's `it.labels`: class indices in file order (`classes`), a table's raw values."""
    gen = ImageDataGenerator()
    it = gen.flow_from_directory(folder, target_size=(6, 5), shuffle=False)
    assert isinstance(it.labels, np.ndarray) and np.array_equal(it.labels, it.classes)
    assert np.array_equal(it.labels, [it.class_indices[name.split("/")[0]] for name in it.filenames])
    df = pd.DataFrame({"filename": ["a/0.png", "a/1.png", "b/0.png"], "size": [1.5, 2.5, 3.5],
                       "kind": ["x", "y", "x"], "w": [4, 5, 6]})
    raw = gen.flow_from_dataframe(df, folder, y_col="size", class_mode="raw", target_size=(6, 5), shuffle=False)
    assert np.array_equal(raw.labels, [1.5, 2.5, 3.5])
    multi = gen.flow_from_dataframe(df, folder, y_col=["size", "w"], class_mode="multi_output", target_size=(6, 5))
    assert [list(column) for column in multi.labels] == [[1.5, 2.5, 3.5], [4, 5, 6]]
    named = gen.flow_from_dataframe(df, folder, y_col="kind", target_size=(6, 5), shuffle=False)
    assert list(named.labels) == [0, 1, 0] and named.targets().tolist() == [[1, 0], [0, 1], [1, 0]]


def test_keras2_iterator_attributes(folder):
    gen = ImageDataGenerator(validation_split=0.5)
    training = gen.flow_from_directory(folder, target_size=(6, 5), subset="training")
    validation = gen.flow_from_directory(folder, target_size=(6, 5), subset="validation")
    assert training.split == (0.5, 1) and validation.split == (0, 0.5)
    assert gen.flow_from_directory(folder, target_size=(6, 5)).split is None
    assert ImageDataGenerator(zoom_range=0.25).zoom_range == [0.75, 1.25]  # Keras 2 keeps [low, high]
    assert ImageDataGenerator(zoom_range=(0.5, 0.9)).zoom_range == [0.5, 0.9]
    from vggcourse.tta import default_generator  # the generators made by changing one keep that form

    assert ImageDataGenerator(zoom_range=0.25).without_augmentation().zoom_range == [1.0, 1.0]
    assert default_generator().zoom_range == ImageDataGenerator(zoom_range=0.1).zoom_range == [0.9, 1.1]
    assert training.sample_weight is None and training.allowed_class_modes == {
        "categorical", "binary", "sparse", "input", None}
    df = pd.DataFrame({"filename": ["a/0.png", "a/1.png", "b/0.png", "b/1.png"], "class": ["a", "a", "b", "b"],
                       "w": [1.0, 2.0, 3.0, 4.0]})
    table = gen.flow_from_dataframe(df, folder, weight_col="w", target_size=(6, 5), subset="validation",
                                    shuffle=False)
    assert table.split == (0, 0.5) and table.sample_weight.tolist() == [1.0, 2.0]
    assert {"raw", "multi_output"} < table.allowed_class_modes


def test_a_new_scan_says_what_it_found_as_keras_does(folder, capsys):
    gen = ImageDataGenerator()
    it = gen.flow_from_directory(folder, target_size=(6, 5))
    assert capsys.readouterr().out == "Found 8 images belonging to 2 classes.\n"
    it.for_inference()  # the same scan: nothing new to say
    assert capsys.readouterr().out == ""
    df = pd.DataFrame({"filename": ["a/0.png", "b/0.png", "b/1.png"], "class": ["a", "b", "b"], "v": [1, 2, 3]})
    gen.flow_from_dataframe(df, folder, target_size=(6, 5))
    gen.flow_from_dataframe(df, folder, y_col="v", class_mode="raw", target_size=(6, 5), validate_filenames=False)
    assert capsys.readouterr().out.splitlines() == ["Found 3 validated image filenames belonging to 2 classes.",
                                                    "Found 3 non-validated image filenames."]


def test_a_keras2_iterator_subclass_batches_by_its_own_hook():
    class Squares(image.Iterator):
        def __init__(self):
            super().__init__(10, 4, False, None)

        def _get_batches_of_transformed_samples(self, index_array):
            return index_array ** 2

    it = Squares()
    assert len(it) == 3 and np.array_equal(it[2], [64, 81]) and np.array_equal(next(it), [0, 1, 4, 9])
    assert it.total_batches_seen == 2 and it.batch_index == 1
    it.reset()
    assert np.array_equal(it.next(), [0, 1, 4, 9])


def test_keras1_generator_keeps_the_course_conventions():
    x = images(1, size=9)[0]
    course = keras1.image.ImageDataGenerator(shear_range=0.3, width_shift_range=2)  # radians; 2 = twice the width
    out = course.random_transform(x, seed=1)
    assert np.array_equal(out, augment.keras1_random_transform(x, np.random.RandomState(1), shear_range=0.3,
                                                               width_shift_range=2))
    with pytest.raises(TypeError, match="brightness_range"):
        keras1.image.ImageDataGenerator(brightness_range=(0.5, 1.5))
    assert keras1.image.ImageDataGenerator(dim_ordering="tf").data_format == "channels_last"


def test_the_feature_cache_keys_standardization_and_skips_a_preprocessing_function(folder):
    plain = ImageDataGenerator().flow_from_directory(folder, (6, 5), shuffle=False)
    centred_gen = ImageDataGenerator(featurewise_center=True)
    centred_gen.mean = np.array([1.0, 2.0, 3.0]).reshape(1, 1, 3)
    centred = centred_gen.flow_from_directory(folder, (6, 5), shuffle=False)
    other_gen = ImageDataGenerator(featurewise_center=True)
    other_gen.mean = np.array([1.0, 2.0, 4.0]).reshape(1, 1, 3)
    other = other_gen.flow_from_directory(folder, (6, 5), shuffle=False)
    keys = {feature_key(b, "digest") for b in (plain, centred, other)}
    assert len(keys) == 3
    assert centred.for_inference().image_data_generator.mean is not None  # predictions standardize alike
    assert features._unkeyable(ImageDataGenerator(preprocessing_function=np.sqrt).flow_from_directory(folder))
    assert not features._unkeyable(centred)


def test_index_generator_shares_next_s_position_and_an_empty_iterator_gives_empty_arrays():
    it = ImageDataGenerator().flow(images(5), np.arange(5), batch_size=2, shuffle=False)
    assert np.array_equal(next(it.index_generator), [0, 1]) and np.array_equal(it.next()[1], [2, 3])

    class Empty(image.Iterator):
        def _get_batches_of_transformed_samples(self, index_array):
            return index_array

    for batch_size in (0, 32):  # Keras 2 takes a batch size of 0 for an empty iterator
        empty = Empty(0, batch_size, False, 0)
        assert len(empty) == 0 and next(empty.index_generator).size == 0
    with pytest.raises(ValueError, match=r"`batch_size` must be a whole number >= 1"):
        Empty(3, 0, False, 0)
