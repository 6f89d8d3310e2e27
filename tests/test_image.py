"""Batches from class-per-folder directories and arrays (vggcourse.image), on the real sample.

Pixel checks: a JPEG at least twice the target in both dimensions is reduced in the DCT domain
(libjpeg-turbo through simplejpeg, by the factor `Image.draft` would use; vggcourse.decode).
`test_pixels_match_a_direct_pil_load` compares exactly against PIL's draft and checks
that the batch holds files of both kinds; `test_draft_stays_close_to_a_full_decode` bounds the
difference between the draft path and a full-size decode.
"""
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest
from PIL import Image, ImageFile

from vggcourse.image import ArrayIterator, DirectoryIterator, ImageDataGenerator, load_image

SMALL = (16, 16)


def batches(directory, **kwargs):
    kwargs.setdefault("target_size", SMALL)
    return ImageDataGenerator().flow_from_directory(directory, **kwargs)


def epoch(iterator):
    """All batches of one epoch by index: (images, labels or None)."""
    parts = [iterator[i] for i in range(len(iterator))]
    if isinstance(parts[0], tuple):
        return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])
    return np.concatenate(parts), None


def identify(images, reference):
    """Index in `reference` of each image (pixels as the key)."""
    index = {image.tobytes(): i for i, image in enumerate(reference)}
    assert len(index) == len(reference), "reference images are not all different"
    return np.array([index[image.tobytes()] for image in images])


def pil_reference(path, size, resample=Image.Resampling.NEAREST):
    """What vggcourse should produce, written out with PIL: draft only when 2x larger."""
    with Image.open(path) as image:
        drafted = image.width >= 2 * size[1] and image.height >= 2 * size[0]
        if drafted:
            image.draft("RGB", size[::-1])
        pixels = np.asarray(image.convert("RGB").resize(size[::-1], resample))
    return pixels, drafted


# ---------------------------------------------------------------- counts, order, labels

def test_counts_class_indices_and_sorted_filenames(dogscats):
    it = batches(dogscats / "train", batch_size=64, shuffle=False)
    assert it.samples == it.n == it.nb_sample == 200 and len(it) == 4
    assert it.class_indices == {"cats": 0, "dogs": 1} and it.class_names == ["cats", "dogs"]
    assert it.num_classes == it.nb_class == 2 and it.batch_size == 64 and it.skipped == []
    assert it.filenames[:3] == ["cats/cat.0.jpg", "cats/cat.1.jpg", "cats/cat.10.jpg"]
    assert it.filenames == sorted(it.filenames)
    assert it.filepaths[0] == os.path.join(str(dogscats / "train"), "cats", "cat.0.jpg")
    folders = [name.split("/")[0] for name in it.filenames]
    assert [it.class_indices[f] for f in folders] == it.classes.tolist()


def test_batches_are_float32_rgb_with_a_partial_last_batch(dogscats):
    it = batches(dogscats / "valid", batch_size=32, shuffle=False)
    sizes = [len(it[i][0]) for i in range(len(it))]
    x, y = it[0]
    assert sizes == [32, 32, 32, 4]
    assert x.dtype == np.float32 and x.shape == (32, *SMALL, 3) and 0 <= x.min() and x.max() <= 255
    assert y.dtype == np.float32 and y.shape == (32, 2) and (y.sum(axis=1) == 1).all()


def test_shuffle_false_follows_filenames(dogscats):
    it = batches(dogscats / "valid", batch_size=16, shuffle=False)
    images, labels = epoch(it)
    assert labels.argmax(axis=1).tolist() == it.classes.tolist()
    for i in (0, 17, 99):
        assert np.array_equal(images[i], load_image(it.filepaths[i], SMALL))


def test_shuffled_epoch_covers_every_file_once_with_aligned_labels(dogscats):
    reference, _ = epoch(batches(dogscats / "train", batch_size=50, shuffle=False))
    it = batches(dogscats / "train", batch_size=64, seed=7)
    images, labels = epoch(it)
    ids = identify(images, reference)
    assert sorted(ids) == list(range(200)) and ids.tolist() != list(range(200))
    assert labels.argmax(axis=1).tolist() == it.classes[ids].tolist()


def test_class_modes(dogscats):
    x, y = batches(dogscats / "valid", class_mode="binary", shuffle=False, batch_size=100)[0]
    assert y.dtype == np.float32 and y.tolist() == [0.0] * 50 + [1.0] * 50
    _, y = batches(dogscats / "valid", class_mode="sparse", shuffle=False, batch_size=100)[0]
    assert y.dtype == np.int32 and y.tolist() == [0] * 50 + [1] * 50
    x, y = batches(dogscats / "valid", class_mode="input", batch_size=8)[0]
    assert np.array_equal(x, y) and x is not y
    x = batches(dogscats / "valid", class_mode=None, batch_size=8)[0]
    assert isinstance(x, np.ndarray) and x.shape == (8, *SMALL, 3)


@pytest.mark.parametrize("class_mode", ["categorical", "binary", "sparse", "input", None])
def test_labels_are_what_the_batches_yield_as_y_in_file_order(dogscats, class_mode):
    it = batches(dogscats / "valid", class_mode=class_mode, shuffle=False, batch_size=30)
    if class_mode in (None, "input"):
        assert it.targets() is None
        return
    y = np.concatenate([it[i][1] for i in range(len(it))])
    assert it.targets().dtype == y.dtype and len(y) == len(it.filenames)
    np.testing.assert_array_equal(it.targets(), y)
    np.testing.assert_array_equal(it.targets([3, 0]), y[[3, 0]])


def test_explicit_classes_set_the_label_order(dogscats):
    it = batches(dogscats / "valid", classes=["dogs", "cats"], shuffle=False)
    assert it.class_indices == {"dogs": 0, "cats": 1}
    assert it.filenames[0].startswith("dogs/") and it.classes[0] == 0


def test_unlabelled_test_folder_and_flat_folder(dogscats):
    nested = batches(dogscats / "test", class_mode=None, shuffle=False)
    flat = batches(dogscats / "test" / "unknown", class_mode=None, shuffle=False)
    assert nested.samples == flat.samples == 100
    assert nested.filenames == ["unknown/" + name for name in flat.filenames]
    assert flat.class_names == [] and flat.num_classes == 0
    assert np.array_equal(nested[1], flat[1])


# ---------------------------------------------------------------- pixels

@pytest.mark.parametrize("interpolation", [None, "bilinear"], ids=["default-nearest", "bilinear"])
def test_pixels_match_a_direct_pil_load(dogscats, interpolation):
    size = (150, 150)  # the sample's files are 200-500 pixels wide: some get drafted, some not
    options = {} if interpolation is None else {"interpolation": interpolation}
    it = batches(dogscats / "valid", target_size=size, batch_size=12, shuffle=False, **options)
    images, _ = it[0]
    kinds = set()
    resample = Image.Resampling.NEAREST if interpolation is None else Image.Resampling.BILINEAR
    for image, path in zip(images, it.filepaths[:12]):
        expected, drafted = pil_reference(path, size, resample)
        kinds.add(drafted)
        assert np.array_equal(image, expected.astype(np.float32)), path
    assert kinds == {True, False}


def test_draft_stays_close_to_a_full_decode(dogscats):
    size = (112, 112)
    it = batches(dogscats / "train", target_size=size, batch_size=24, shuffle=False,
                 interpolation="bilinear")
    images, _ = it[0]
    for image, path in zip(images, it.filepaths[:24]):
        with Image.open(path) as full:
            full = np.asarray(full.convert("RGB").resize(size, Image.Resampling.BILINEAR))
        difference = np.abs(image - full).mean()
        assert difference < 6.0, (path, difference)


# ---------------------------------------------------------------- augmentation and seeds

AUGMENTATION = dict(rotation_range=20, width_shift_range=0.1, height_shift_range=0.1,
                    shear_range=0.1, zoom_range=0.1, channel_shift_range=10.0, horizontal_flip=True)


def test_default_generator_does_not_augment():
    assert not ImageDataGenerator().augments
    assert ImageDataGenerator(horizontal_flip=True).augments
    assert not ImageDataGenerator(rescale=1 / 255).augments


def test_augmentation_changes_pixels_keeps_shapes_labels_and_is_seeded(dogscats):
    plain = batches(dogscats / "valid", batch_size=16, seed=5)
    gen = ImageDataGenerator(**AUGMENTATION)
    first = gen.flow_from_directory(dogscats / "valid", target_size=SMALL, batch_size=16, seed=5)
    again = gen.flow_from_directory(dogscats / "valid", target_size=SMALL, batch_size=16, seed=5)
    other = gen.flow_from_directory(dogscats / "valid", target_size=SMALL, batch_size=16, seed=6)
    (x, y), (x_aug, y_aug) = plain[2], first[2]
    assert x_aug.shape == x.shape and x_aug.dtype == np.float32 and np.array_equal(y_aug, y)
    assert not np.allclose(x_aug, x)
    assert np.array_equal(x_aug, again[2][0]) and not np.allclose(x_aug, other[2][0])


def test_rescale_is_applied_after_augmentation(dogscats):
    plain = batches(dogscats / "valid", shuffle=False)[0][0]
    scaled = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        dogscats / "valid", target_size=SMALL, shuffle=False)[0][0]
    assert np.allclose(scaled, plain / 255, atol=1e-6)


def test_for_inference_keeps_files_and_rescale_drops_shuffle_labels_augmentation(dogscats):
    gen = ImageDataGenerator(rescale=0.5, **AUGMENTATION)
    it = gen.flow_from_directory(dogscats / "valid", target_size=SMALL, batch_size=10, seed=1)
    inference = it.for_inference(batch_size=25)
    assert inference.filenames == it.filenames and inference.batch_size == 25
    assert not inference.shuffle and inference.class_mode is None
    assert not inference.image_data_generator.augments
    assert np.array_equal(inference[0][3], load_image(it.filepaths[3], SMALL) * np.float32(0.5))


# ---------------------------------------------------------------- next(), epochs, workers

def test_next_wraps_and_reshuffles(dogscats):
    reference, _ = epoch(batches(dogscats / "train", batch_size=50, shuffle=False))
    it = batches(dogscats / "train", batch_size=64, seed=3)
    first = [next(it) for _ in range(4)]
    second = [next(it) for _ in range(4)]
    assert [len(x) for x, _ in first] == [len(x) for x, _ in second] == [64, 64, 64, 8]
    ids_first = identify(np.concatenate([x for x, _ in first]), reference)
    ids_second = identify(np.concatenate([x for x, _ in second]), reference)
    assert sorted(ids_first) == sorted(ids_second) == list(range(200))
    assert ids_first.tolist() != ids_second.tolist()
    assert iter(it) is it


def test_on_epoch_end_reshuffles_and_threads_see_one_order(dogscats):
    it = batches(dogscats / "valid", batch_size=8, seed=11)
    in_order = [it[i][1] for i in range(len(it))]
    with ThreadPoolExecutor(4) as pool:  # like Keras workers: any thread, any order
        scattered = list(pool.map(lambda i: it[i][1], reversed(range(len(it)))))[::-1]
    assert all(np.array_equal(a, b) for a, b in zip(in_order, scattered))
    it.on_epoch_end()
    assert not all(np.array_equal(a, it[i][1]) for i, a in enumerate(in_order))


def test_pydataset_kwargs_reach_keras(dogscats):
    it = batches(dogscats / "valid", workers=2, max_queue_size=3)
    assert isinstance(it, keras.utils.PyDataset) and it.workers == 2 and it.max_queue_size == 3
    with pytest.raises(TypeError, match="not_a_keras_argument"):
        batches(dogscats / "valid", not_a_keras_argument=1)


@pytest.mark.parametrize("workers", [1, 2])
def test_keras_fit_evaluate_and_predict_take_the_iterator(dogscats, workers):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((*SMALL, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    train = batches(dogscats / "train", batch_size=64, workers=workers)
    history = model.fit(train, validation_data=batches(dogscats / "valid"), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert len(model.evaluate(batches(dogscats / "valid"), verbose=0)) == 2
    predictions = model.predict(train.for_inference(), verbose=0)
    assert predictions.shape == (200, 2)


# ---------------------------------------------------------------- arrays

def test_flow_over_arrays_covers_each_row_once_with_aligned_labels():
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1) * np.ones((1, 4, 4, 3), np.float32)
    y = np.arange(10) * 10
    it = ImageDataGenerator(rescale=2.0).flow(x, y, batch_size=4, seed=0)
    assert isinstance(it, ArrayIterator) and len(it) == 3 and it.n == 10
    images, labels = epoch(it)
    ids = images[:, 0, 0, 0] / 2
    assert sorted(ids) == list(range(10)) and np.array_equal(labels, ids * 10)
    only_x = ImageDataGenerator().flow(x, batch_size=4, shuffle=False)[2]
    assert isinstance(only_x, np.ndarray) and only_x.shape == (2, 4, 4, 3)


def test_flow_augments_reproducibly():
    x = np.random.default_rng(0).uniform(0, 255, (6, 8, 8, 3)).astype(np.float32)
    gen = ImageDataGenerator(**AUGMENTATION)
    first, again = gen.flow(x, seed=1, batch_size=6)[0], gen.flow(x, seed=1, batch_size=6)[0]
    assert first.shape == x.shape and np.array_equal(first, again)


# ---------------------------------------------------------------- image modes

def test_other_modes_become_rgb(dogscats, tmp_path):
    with Image.open(dogscats / "train" / "cats" / "cat.1.jpg") as image:
        rgb = image.convert("RGB").resize((40, 30))
    folder = tmp_path / "modes" / "all"
    folder.mkdir(parents=True)
    rgb.convert("L").save(folder / "gray.png")
    rgb.convert("P").save(folder / "palette.gif")
    rgb.convert("CMYK").save(folder / "cmyk.jpg")
    rgb.convert("RGBA").save(folder / "rgba.png")
    gray16 = (np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(gray16).save(folder / "gray16.png")
    it = batches(tmp_path / "modes", target_size=(30, 40), shuffle=False, batch_size=8)
    images = dict(zip(it.filenames, it[0][0]))
    gray = np.asarray(rgb.convert("L"), dtype=np.float32)
    assert all(image.shape == (30, 40, 3) for image in images.values())
    assert np.array_equal(images["all/gray.png"][..., 0], gray)
    assert np.array_equal(images["all/gray16.png"][..., 1], gray)
    assert np.array_equal(images["all/rgba.png"], np.asarray(rgb, dtype=np.float32))
    assert np.abs(images["all/cmyk.jpg"] - np.asarray(rgb, dtype=np.float32)).mean() < 8
    palette = np.asarray(rgb.convert("P").convert("RGB"), dtype=np.float32)
    assert np.array_equal(images["all/palette.gif"], palette)


# ---------------------------------------------------------------- bad files

def test_unreadable_files_are_skipped_with_one_warning(dogscats_copy):
    cats = dogscats_copy / "train" / "cats"
    (cats / "empty.jpg").write_bytes(b"")
    (cats / "page.jpg").write_text("<html><body>Not an image</body></html>")
    (cats / "header_cut.jpg").write_bytes((cats / "cat.1.jpg").read_bytes()[:100])
    (cats / "notes.txt").write_text("not an image, not listed")
    (cats / "labels.csv").write_text("id,label\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        it = batches(dogscats_copy / "train", batch_size=64)
    messages = [str(w.message) for w in caught if "Skipped" in str(w.message)]
    assert len(messages) == 1
    assert all(name in messages[0] for name in ("empty.jpg", "page.jpg", "header_cut.jpg"))
    assert sorted(it.skipped) == ["cats/empty.jpg", "cats/header_cut.jpg", "cats/page.jpg"]
    assert it.samples == 200 and not any(name.endswith((".txt", ".csv")) for name in it.filenames)
    assert sum(len(it[i][0]) for i in range(len(it))) == 200


def test_truncated_jpeg_is_decoded_as_far_as_it_goes(dogscats_copy):
    cats = dogscats_copy / "valid" / "cats"
    source = sorted(cats.iterdir())[0]
    data = source.read_bytes()
    (cats / "aaa_truncated.jpg").write_bytes(data[: len(data) // 2])
    it = batches(dogscats_copy / "valid", target_size=(32, 32), batch_size=8, shuffle=False)
    assert it.filenames[0] == "cats/aaa_truncated.jpg" and it.skipped == []
    with pytest.warns(UserWarning, match="aaa_truncated.jpg is truncated"):
        images, _ = it[0]
    full = load_image(source, (32, 32)).astype(np.float32)
    assert np.abs(images[0][:8] - full[:8]).mean() < 10  # the top decoded
    assert np.abs(images[0][-4:] - 128).mean() < 10       # the missing bottom is grey
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # PIL's global switch left alone


@pytest.mark.parametrize("damage", ["garbage", "deleted"])
def test_file_that_breaks_after_the_scan_is_left_out_with_one_warning(dogscats_copy, damage):
    it = batches(dogscats_copy / "valid", batch_size=4, shuffle=False)
    inference = it.for_inference(batch_size=3)
    broken = dogscats_copy / "valid" / it.filenames[1]
    if damage == "garbage":
        broken.write_bytes(b"gone")
    else:
        broken.unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images, labels = it[0]
        again, _ = it[0]
        rows = [inference[i] for i in range(len(inference))]
    named = [w for w in caught if it.filenames[1] in str(w.message)]
    assert len(named) == 1 and "left out" in str(named[0].message)
    assert len(images) == len(labels) == len(again) == 3 and np.array_equal(images, again)
    assert it.failed == inference.failed == [it.filenames[1]]
    kept = [name for name in it.filenames if name not in it.failed]
    assert sum(len(x) for x in rows) == len(kept) == 99
    expected = [load_image(dogscats_copy / "valid" / name, SMALL) for name in (it.filenames[0],
                                                                              it.filenames[2])]
    assert np.array_equal(images[:2], np.stack(expected).astype(np.float32))


def test_a_batch_whose_files_all_fail_holds_the_next_readable_file(dogscats_copy):
    it = batches(dogscats_copy / "valid", batch_size=2, shuffle=False, class_mode="sparse")
    for name in it.filenames[:2]:
        (dogscats_copy / "valid" / name).write_bytes(b"")
    with pytest.warns(UserWarning, match="left out"):
        images, labels = it[0]
    following, following_labels = it[1]
    assert images.shape == (1, *SMALL, 3) and labels.tolist() == [it.classes[2]]
    assert np.array_equal(images[0], following[0]) and len(following) == 2


def test_the_images_of_a_test_folder_loose_files_included(dogscats, tmp_path):
    """One rule, `unlabelled_image_files`: what unlabelled batches read and what kaggle counts."""
    from vggcourse.image import unlabelled_image_files
    from vggcourse.kaggle import check_expected_rows

    test_dir = tmp_path / "test"
    (test_dir / "unknown" / ".ipynb_checkpoints").mkdir(parents=True)
    photos = sorted((dogscats / "test" / "unknown").glob("*.jpg"))[:3]
    for f in photos[:2]:
        (test_dir / "unknown" / f.name).write_bytes(f.read_bytes())
    (test_dir / "loose.jpg").write_bytes(photos[2].read_bytes())  # beside unknown/: still a test image
    (test_dir / "unknown" / ".ipynb_checkpoints" / "x.jpg").write_bytes(photos[2].read_bytes())
    (test_dir / "notes.txt").write_text("not an image")
    expected = [f"unknown/{photos[0].name}", f"unknown/{photos[1].name}", "loose.jpg"]
    assert unlabelled_image_files(test_dir) == expected
    assert batches(test_dir, class_mode=None, shuffle=False).filenames == expected
    check_expected_rows(test_dir, 3)  # the count follows the same rule
    assert batches(test_dir, class_mode=None, classes=["unknown"], shuffle=False).filenames == expected[:2]
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.jpg").write_bytes(photos[0].read_bytes())
    only_loose = batches(flat, class_mode=None)
    assert unlabelled_image_files(flat) == only_loose.filenames == ["a.jpg"] and only_loose.class_names == []


def test_hidden_files_and_folders_ignored_nested_folders_included(dogscats_copy):
    cats = dogscats_copy / "train" / "cats"
    (cats / ".ipynb_checkpoints").mkdir()
    photo = (cats / "cat.0.jpg").read_bytes()
    (cats / ".ipynb_checkpoints" / "cat.0-checkpoint.jpg").write_bytes(photo)
    (cats / ".hidden.jpg").write_bytes(photo)
    (dogscats_copy / "train" / ".ipynb_checkpoints").mkdir()
    (cats / "more" / "deeper").mkdir(parents=True)
    (cats / "more" / "deeper" / "extra.jpg").write_bytes(photo)
    it = batches(dogscats_copy / "train", shuffle=False)
    assert it.class_names == ["cats", "dogs"] and it.samples == 201
    assert "cats/more/deeper/extra.jpg" in it.filenames
    assert it.classes[it.filenames.index("cats/more/deeper/extra.jpg")] == 0
    assert not any("ipynb" in name or "/." in name for name in it.filenames)


# ---------------------------------------------------------------- bad directories and arguments

def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere.*cats/\*\.jpg"):
        batches(tmp_path / "nowhere")


def test_file_instead_of_directory(dogscats):
    with pytest.raises(ValueError, match="test_labels.csv is a file"):
        batches(dogscats / "test_labels.csv")


def test_directory_without_images(tmp_path):
    (tmp_path / "train" / "cats").mkdir(parents=True)
    (tmp_path / "train" / "cats" / "readme.txt").write_text("nothing here")
    with pytest.raises(ValueError, match=r"No images .*found in .*train\. .*train/cats/\*\.jpg"):
        batches(tmp_path / "train")


def test_labelled_mode_needs_class_folders(dogscats):
    with pytest.raises(ValueError, match=r"No class folders in .*unknown.*unknown/cats/\*\.jpg"):
        batches(dogscats / "test" / "unknown")


def test_all_files_unreadable(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "bad.jpg").write_text("<html></html>")
    with pytest.warns(UserWarning, match="bad.jpg"):
        with pytest.raises(ValueError, match="None of the 1"):
            batches(tmp_path)


def test_classes_naming_a_missing_folder(dogscats):
    with pytest.raises(ValueError, match=r"birds"):
        batches(dogscats / "train", classes=["cats", "birds"])


def test_an_empty_class_folder_is_named_in_one_warning(dogscats_copy):
    valid = dogscats_copy / "valid"
    for path in (valid / "dogs").iterdir():
        path.unlink()
    with pytest.warns(UserWarning, match=r"1 class folder\(s\) hold no readable image.*valid/dogs"):
        found = batches(valid)
    assert found.class_names == ["cats", "dogs"] and set(found.classes.tolist()) == {0}


def test_binary_needs_two_classes(dogscats_copy):
    (dogscats_copy / "train" / "birds").mkdir()
    with pytest.raises(ValueError, match=r"binary.*exactly 2 classes.*3"):
        batches(dogscats_copy / "train", class_mode="binary")


def test_flow_with_mismatched_lengths():
    with pytest.raises(ValueError, match=r"`x` \(images tensor\) and `y` \(labels\) must have the same length"):
        ImageDataGenerator().flow(np.zeros((10, 4, 4, 3)), np.zeros(9))
    with pytest.raises(ValueError, match=r"rank 4. Received: an array of shape \(10, 4, 4\)"):
        ImageDataGenerator().flow(np.zeros((10, 4, 4)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(fill_mode="mirror"), "fill_mode.*mirror"),
    (dict(rotation_range=-5), "rotation_range.*-5"),
    (dict(width_shift_range="0.1"), "width_shift_range"),
    (dict(zoom_range=1.5), "zoom_range.*1.5"),
    (dict(zoom_range=(1.2, 0.8)), "zoom_range"),
    (dict(rescale="1/255"), "rescale"),
])
def test_generator_checks_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImageDataGenerator(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(class_mode="onehot"), "class_mode.*onehot"),
    (dict(target_size=(224,)), r"target_size.*\(224,\)"),
    (dict(target_size=(0, 224)), "target_size"),
    (dict(interpolation="cubic"), "interpolation.*cubic"),
    (dict(batch_size=0), "batch_size.*0"),
    (dict(seed=-1), "seed"),
    (dict(classes="cats"), "classes"),
])
def test_flow_from_directory_checks_arguments(dogscats, kwargs, match):
    with pytest.raises(ValueError, match=match):
        batches(dogscats / "valid", **kwargs)


def test_directory_iterator_is_usable_directly(dogscats):
    it = DirectoryIterator(dogscats / "valid", target_size=SMALL, batch_size=100, shuffle=False)
    assert not it.image_data_generator.augments and it[0][0].shape == (100, *SMALL, 3)


# ---------------------------------------------------------------- keras.preprocessing.image names

def test_load_img_img_to_array_array_to_img_as_keras(dogscats):
    from vggcourse.image import array_to_img, img_to_array, load_img
    path = dogscats / "train" / "cats" / "cat.1.jpg"
    img = load_img(path, target_size=(30, 40))
    assert isinstance(img, Image.Image) and img.mode == "RGB" and img.size == (40, 30)
    x = img_to_array(img)
    assert x.dtype == np.float32 and x.shape == (30, 40, 3)
    with Image.open(path) as full:  # as Keras: the whole file decoded, then resized
        expected = np.asarray(full.convert("RGB").resize((40, 30), Image.Resampling.NEAREST))
    assert np.array_equal(x, expected.astype(np.float32))
    assert img_to_array(img, data_format="channels_first").shape == (3, 30, 40)
    assert img_to_array(img, dtype="uint8").dtype == np.uint8
    gray = load_img(path, grayscale=True)
    assert gray.mode == "L" and load_img(path, color_mode="grayscale").mode == "L"
    assert img_to_array(gray).shape == (gray.height, gray.width, 1)
    assert load_img(path, color_mode="rgba").mode == "RGBA"
    back = array_to_img(x, scale=False)
    assert back.mode == "RGB" and np.array_equal(np.asarray(back), np.asarray(img))
    stretched = np.asarray(array_to_img(x / 255.0))  # scale=True: min -> 0, max -> 255
    assert stretched.min() == 0 and stretched.max() == 255
    assert array_to_img(img_to_array(gray)).mode == "L"
    assert array_to_img(x.transpose(2, 0, 1), data_format="channels_first").size == (40, 30)
    with pytest.raises(ValueError, match="color_mode.*cmyk"):
        load_img(path, color_mode="cmyk")
    with pytest.raises(ValueError, match="data_format"):
        img_to_array(img, data_format="channels_middle")


def test_random_transform_takes_keras_seed_or_a_generator():
    gen = ImageDataGenerator(**AUGMENTATION)
    x = np.random.default_rng(0).uniform(0, 255, (12, 12, 3)).astype(np.float32)
    first, again = gen.random_transform(x, seed=3), gen.random_transform(x, 3)
    assert first.shape == x.shape and first.dtype == np.float32 and np.array_equal(first, again)
    np.random.seed(3)  # an int seed draws what Keras draws after np.random.seed(seed)
    assert np.array_equal(gen.random_transform(x), first)
    from_generator = gen.random_transform(x, seed=np.random.default_rng(3))
    assert np.array_equal(gen.random_transform(x, seed=np.random.default_rng(3)), from_generator)
    with pytest.raises(TypeError, match="rng"):  # the old second spelling is gone
        gen.random_transform(x, rng=np.random.default_rng(3))
    assert not np.array_equal(gen.random_transform(x, seed=4), first)
    assert np.array_equal(ImageDataGenerator().random_transform(x, seed=1), x)
    params = gen.get_random_transform(x.shape, seed=3)
    assert np.array_equal(gen.apply_transform(x, params), first)


# ---------------------------------------------------------------- folders that cannot be listed

def deny_listing(monkeypatch, *folders):
    """Make os.scandir refuse `folders` as it would without read permission (tests run as root)."""
    real = os.scandir
    denied = {os.path.abspath(folder) for folder in folders}

    def scandir(path="."):
        if os.path.abspath(os.fspath(path)) in denied:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


@pytest.mark.parametrize("where", ["class", "nested", "top"])
def test_a_folder_that_cannot_be_listed_is_an_error_naming_it(dogscats_copy, monkeypatch, where):
    folder = {"class": dogscats_copy / "train" / "dogs",
              "nested": dogscats_copy / "train" / "cats" / "more",
              "top": dogscats_copy / "train"}[where]
    folder.mkdir(exist_ok=True)
    deny_listing(monkeypatch, folder)
    with pytest.raises(ValueError, match=rf"Cannot list the folder {folder}.*Permission denied"):
        batches(dogscats_copy / "train")


def test_find_problems_reports_folders_classes_and_images(dogscats_copy, monkeypatch):
    from vggcourse.image import find_problems
    train, valid = dogscats_copy / "train", dogscats_copy / "valid"
    (train / "birds").mkdir()                                  # an empty class folder
    (train / "birds" / "notes.txt").write_text("no images here")
    (valid / "horses").mkdir()                                 # cannot be listed
    (dogscats_copy / "extra" / "cats").mkdir(parents=True)     # a tree with one class
    (dogscats_copy / "extra" / "cats" / "cat.jpg").write_bytes((train / "cats" / "cat.1.jpg")
                                                                .read_bytes())
    (train / "cats" / "cat.0.jpg").write_bytes(b"broken")
    deny_listing(monkeypatch, valid / "horses")
    problems = find_problems(dogscats_copy)
    assert [(os.path.relpath(path, dogscats_copy), reason.split(" (")[0].split(":")[0])
            for path, reason in problems] == [
        ("valid/horses", "folder cannot be listed"),
        ("train/birds", "empty class folder"),
        ("extra", "only one class folder"),
        ("train/cats/cat.0.jpg", "not a readable image"),
    ]
    assert "Permission denied" in problems[0][1]


def test_find_problems_accepts_the_course_layout(dogscats):
    from vggcourse.image import find_problems
    assert find_problems(dogscats) == []  # test/unknown is one folder, on purpose


def test_sixteen_bit_images_are_scaled_alike_in_batches(tmp_path):
    folder = tmp_path / "grays" / "all"
    folder.mkdir(parents=True)
    dark = np.full((8, 8), 32767, np.uint16)
    Image.fromarray(np.minimum(dark, 255)).save(folder / "a.png")        # max 255
    Image.fromarray(np.minimum(dark, 256)).save(folder / "b.png")        # max 256: almost equal
    it = batches(tmp_path / "grays", target_size=(8, 8), shuffle=False, class_mode=None)
    first, second = it[0]
    assert first.mean() == pytest.approx(1.0) and second.mean() == pytest.approx(1.0)


def test_batches_a_caller_holds_are_never_overwritten(dogscats):
    it = batches(dogscats / "valid", batch_size=10, shuffle=False, class_mode=None)
    held = [next(it) for _ in range(3)]
    copies = [x.copy() for x in held]
    for _ in range(2 * len(it)):  # dropped at once: their arrays may be reused
        next(it)
    assert all(np.array_equal(x, c) for x, c in zip(held, copies))
    assert len({id(x) for x in held}) == 3


def test_threads_and_read_ahead_scale_with_cores_or_the_environment(monkeypatch):
    from vggcourse import image
    monkeypatch.setattr(image, "_cores", lambda: 16)
    monkeypatch.delenv("VGGCOURSE_DECODE_THREADS", raising=False)
    monkeypatch.delenv("VGGCOURSE_READ_AHEAD", raising=False)
    assert image._decode_threads() == 32 and image._read_ahead() == 4
    monkeypatch.setattr(image, "_cores", lambda: 2)
    assert image._decode_threads() == 4 and image._read_ahead() == 2
    monkeypatch.setenv("VGGCOURSE_READ_AHEAD", "6")
    assert image._read_ahead() == 6
    monkeypatch.setenv("VGGCOURSE_DECODE_THREADS", "zero")
    with pytest.raises(ValueError, match="VGGCOURSE_DECODE_THREADS.*zero"):
        image._decode_threads()


def test_a_labelled_batch_whose_every_file_failed_holds_the_next_readable_file(small):
    """Keras cannot train on an empty batch on JAX or PyTorch: the next readable file stands in."""
    from vggcourse.errors import UserInputError

    it = batches(small / "valid", batch_size=1, shuffle=False)
    untouched = batches(small / "valid", batch_size=1, shuffle=False)  # scanned now, read later
    broken = it.filepaths[1]
    with open(broken, "wb") as file:
        file.write(b"not a jpeg at all" * 10)
    with pytest.warns(UserWarning, match="could not be decoded"):
        x1, y1 = it[1]
    x2, y2 = it[2]
    assert len(x1) == 1 and np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert it.failed == [it.filenames[1]]
    assert len(it.for_inference(batch_size=1)[1]) == 0  # predicting keeps file order: no stand-in there
    for path in it.filepaths:
        with open(path, "wb") as file:
            file.write(b"garbage" * 10)
    with pytest.warns(UserWarning), pytest.raises(UserInputError, match="failed to decode .*nothing to train on"):
        untouched[0]


def test_keras2_iterator_api_next_reset_batch_index_index_array():
    """Keras 2's Iterator: `batches.next()` (the course's get_data), `reset()` (its MixIterator),
    `batch_index`, `index_array`; an out-of-range batch is a ValueError, as Keras', and an IndexError."""
    x = np.arange(10 * 2 * 2 * 3, dtype="float32").reshape(10, 2, 2, 3)
    it = ImageDataGenerator().flow(x, np.arange(10), batch_size=4, shuffle=True, seed=1)
    assert it.batch_index == 0
    order = it.index_array
    assert sorted(order.tolist()) == list(range(10))
    _, y0 = it.next()
    assert y0.tolist() == order[:4].tolist() and it.batch_index == 1
    _, y1 = next(it)
    assert y1.tolist() == order[4:8].tolist()
    it.reset()
    assert it.batch_index == 0
    _, again = it.next()
    assert again.tolist() == it.index_array[:4].tolist()  # a new epoch's order, from its start
    for bad in (3, -4):
        with pytest.raises(ValueError, match=r"Asked for batch .*, but there are 3 batches"):
            it[bad]
    with pytest.raises(IndexError):
        it[3]


def test_channels_first_generators_take_and_give_channels_first_arrays(dogscats):
    """Keras 2's data_format='channels_first' (and Keras 1's dim_ordering='th') convert at the edge:
    the same work as channels-last, arrays in and batches out channels-first."""
    from vggcourse.errors import UserInputError

    assert ImageDataGenerator(dim_ordering="tf").data_format == "channels_last"
    assert ImageDataGenerator(dim_ordering="th").data_format == "channels_first"
    with pytest.raises(UserInputError, match=r"`data_format` must be one of .*Received: data_format='nchw'"):
        ImageDataGenerator(data_format="nchw")
    settings = dict(rotation_range=20, horizontal_flip=True, featurewise_center=True, rescale=0.5)
    last, first = ImageDataGenerator(**settings), ImageDataGenerator(data_format="channels_first", **settings)
    x = np.random.default_rng(1).uniform(0, 255, (6, 8, 10, 3)).astype(np.float32)
    last.fit(x)
    first.fit(np.moveaxis(x, -1, 1))
    assert first.mean.shape == (3, 1, 1) and np.allclose(first.mean[:, 0, 0], last.mean[0, 0])
    a = last.flow(x, shuffle=False, seed=4)[0]
    b = first.flow(np.moveaxis(x, -1, 1), shuffle=False, seed=4)[0]
    assert b.shape == (6, 3, 8, 10) and np.allclose(np.moveaxis(b, 1, -1), a)
    folder = last.flow_from_directory(dogscats / "valid", target_size=SMALL, shuffle=False, batch_size=4, seed=4)[0][0]
    folder_first = first.flow_from_directory(dogscats / "valid", target_size=SMALL, shuffle=False, batch_size=4,
                                             seed=4)[0][0]
    assert folder_first.shape == (4, 3, *SMALL) and np.allclose(np.moveaxis(folder_first, 1, -1), folder)


