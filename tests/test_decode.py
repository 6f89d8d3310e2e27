"""Decoding one image (vggcourse.decode): libjpeg-turbo and Pillow agree, every mode becomes RGB."""
import io
import warnings

import numpy as np
import pytest
from helpers import write_odd_images
from PIL import Image

from vggcourse import decode
from vggcourse.decode import decode_image

pytestmark = pytest.mark.backend_free  # never imports Keras: .ci/run's JAX run leaves it out

simplejpeg = pytest.importorskip("simplejpeg")

# Both decoders are libjpeg-turbo with the same settings: a full decode is identical, and a
# reduced (DCT-scaled) one too. The bound leaves room for a different libjpeg-turbo build.
MEAN_DIFFERENCE = 0.5


def pillow_only(path, target_size, monkeypatch):
    """What decode_image gives with simplejpeg switched off (every JPEG through Pillow)."""
    with monkeypatch.context() as patch:
        patch.setattr(decode, "simplejpeg", None)
        return decode_image(path, target_size)


def sample_files(dogscats, count=40):
    return sorted((dogscats / "train").glob("*/*.jpg"))[:count // 2] + \
        sorted((dogscats / "valid").glob("*/*.jpg"))[:count // 2]


@pytest.mark.parametrize("target_size", [None, (224, 224), (100, 100), (48, 64)])
def test_simplejpeg_and_pillow_agree_on_the_sample(dogscats, monkeypatch, target_size):
    differences, reduced = [], 0
    for path in sample_files(dogscats):
        turbo = decode_image(path, target_size)
        pillow = pillow_only(path, target_size, monkeypatch)
        assert turbo.dtype == np.uint8 and turbo.shape == pillow.shape
        differences.append(np.abs(turbo.astype(np.float32) - pillow).mean())
        with Image.open(path) as image:
            reduced += target_size is not None and decode._dct_scale(
                image.size, target_size[::-1]) > 1
    assert np.mean(differences) <= MEAN_DIFFERENCE, differences
    assert target_size in (None, (224, 224)) or reduced > 0  # the DCT-scaled path was exercised


def test_jpegs_go_to_simplejpeg_and_other_formats_to_pillow(dogscats, monkeypatch, tmp_path):
    calls = []
    original = simplejpeg.decode_jpeg
    monkeypatch.setattr(simplejpeg, "decode_jpeg",
                        lambda data, *args, **kwargs: calls.append(kwargs) or original(
                            data, *args, **kwargs))
    path = dogscats / "train" / "cats" / "cat.1.jpg"
    decode_image(path, (224, 224))
    with Image.open(path) as image:
        image.save(tmp_path / "cat.png")
        width, height = image.size
    decode_image(path, (height // 4, width // 4))  # 4x smaller: decoded at 1/4 in the DCT
    decode_image(tmp_path / "cat.png", (32, 32))
    assert len(calls) == 2 and calls[0] == {} and calls[1]["min_factor"] == 4
    assert decode.JPEG_DECODER == "simplejpeg"


def test_dct_scale_follows_pillows_draft_rule():
    assert decode._dct_scale((500, 375), (224, 224)) == 1   # 375 < 2 * 224
    assert decode._dct_scale((500, 450), (224, 224)) == 2
    assert decode._dct_scale((1000, 1000), (224, 224)) == 4
    assert decode._dct_scale((4000, 3000), (224, 224)) == 8
    assert decode._dct_scale((100, 80), (224, 224)) == 1   # smaller than the target
    assert decode._dct_scale((1000, 1000), None) == 1


def encoded(image, fmt="JPEG", **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo(dogscats):
    with Image.open(dogscats / "train" / "dogs" / "dog.1.jpg") as image:
        return image.convert("RGB").resize((120, 96))


@pytest.mark.parametrize("kind", ["grayscale", "cmyk", "progressive", "baseline"])
def test_jpeg_kinds_load_as_rgb(photo, tmp_path, kind):
    image = {"grayscale": photo.convert("L"), "cmyk": photo.convert("CMYK")}.get(kind, photo)
    path = tmp_path / f"{kind}.jpg"
    path.write_bytes(encoded(image, quality=95, progressive=kind == "progressive"))
    pixels = decode_image(path, (48, 60))
    assert pixels.shape == (48, 60, 3) and pixels.dtype == np.uint8
    with Image.open(path) as reference:  # Pillow alone, reducing by the same DCT factor
        reference.draft("RGB", (60, 48))
        expected = np.asarray(reference.convert("RGB").resize((60, 48), Image.Resampling.NEAREST))
    assert np.abs(pixels.astype(np.float32) - expected).mean() <= MEAN_DIFFERENCE
    if kind == "grayscale":
        assert np.array_equal(pixels[..., 0], pixels[..., 2])
    target = np.asarray(photo.resize((60, 48), Image.Resampling.NEAREST), dtype=np.float32)
    assert np.abs(pixels - (target if kind != "grayscale" else expected)).mean() < 8


def test_truncated_jpeg_decodes_as_far_as_it_goes_with_a_warning(photo, tmp_path):
    data = encoded(photo.resize((240, 192)), quality=95)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="cut.jpg is truncated"):
        pixels = decode_image(path, (48, 60))
    full = np.asarray(photo.resize((60, 48), Image.Resampling.NEAREST), dtype=np.float32)
    assert np.abs(pixels[:8] - full[:8]).mean() < 10
    assert np.abs(pixels[-4:].astype(np.float32) - 128).mean() < 10


def test_strict_refuses_a_truncated_jpeg_and_still_decodes_a_whole_one(photo, tmp_path):
    data = encoded(photo.resize((240, 192)), quality=95)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # strict: no warning, an error
        with pytest.raises(OSError, match=r"^<image bytes> is truncated$"):
            decode_image(data[: len(data) // 2], (48, 60), strict=True)
        np.testing.assert_array_equal(decode_image(data, (48, 60), strict=True), decode_image(data, (48, 60)))


def test_garbage_and_missing_files_raise(tmp_path):
    (tmp_path / "page.jpg").write_text("<html></html>")
    (tmp_path / "header.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    for name in ("page.jpg", "header.jpg"):
        with pytest.raises(Exception):
            decode_image(tmp_path / name, (8, 8))
        assert not decode.readable(tmp_path / name)
        assert decode.decode_problem(tmp_path / name).startswith("not a readable image")
    with pytest.raises(FileNotFoundError):
        decode_image(tmp_path / "missing.jpg")


def test_sixteen_bit_images_are_always_divided_by_257(tmp_path):
    dark = np.full((6, 8), 200, np.uint16)      # max <= 255
    darker = np.full((6, 8), 200, np.uint16)
    darker[0, 0] = 300                          # almost the same image, max > 255
    for name, array in (("dark.png", dark), ("darker.png", darker)):
        Image.fromarray(array).save(tmp_path / name)
    first, second = decode_image(tmp_path / "dark.png"), decode_image(tmp_path / "darker.png")
    assert first.shape == (6, 8, 3) and first.mean() == pytest.approx(1.0)  # 200 / 257
    assert np.abs(first.astype(float) - second).max() <= 1
    full = np.full((4, 4), 65535, np.uint16)
    Image.fromarray(full).save(tmp_path / "white.png")
    assert (decode_image(tmp_path / "white.png") == 255).all()


@pytest.mark.parametrize("interpolation", sorted(decode.INTERPOLATIONS))
def test_interpolation_is_pillows_filter_after_the_same_reduction(dogscats, interpolation):
    path = dogscats / "valid" / "dogs" / "dog.100.jpg"
    pixels = decode_image(path, (40, 40), interpolation=interpolation)
    with Image.open(path) as image:
        assert decode._dct_scale(image.size, (40, 40)) > 1
        image.draft("RGB", (40, 40))
        expected = image.convert("RGB").resize((40, 40), decode.INTERPOLATIONS[interpolation])
    assert np.array_equal(pixels, np.asarray(expected))


@pytest.mark.parametrize("interpolation", sorted(decode.INTERPOLATIONS))
def test_resized_jpegs_are_libjpeg_turbos_rgb_resized_by_pillow(tmp_path, interpolation):
    """libjpeg-turbo writes RGBX for Pillow to resize in place: exactly the pixels of its RGB
    output resized by Pillow, for colour, progressive, grayscale and DCT-reduced files, and at the
    stored size (no resize)."""
    paths = write_odd_images(tmp_path)
    for name in ("baseline.jpg", "progressive.jpg", "grayscale.jpg", "large.jpg"):
        data = paths[name].read_bytes()
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        for size in ((40, 56), (224, 224), (height, width)):
            scale = decode._dct_scale((width, height), size[::-1])
            rgb = simplejpeg.decode_jpeg(data, "RGB", min_width=-(-width // scale),
                                         min_height=-(-height // scale), min_factor=scale)
            expected = np.asarray(Image.fromarray(rgb).resize(size[::-1], decode.INTERPOLATIONS[interpolation]))
            pixels = decode_image(paths[name], size, interpolation)
            assert pixels.shape == (*size, 3) and pixels.dtype == np.uint8
            assert np.array_equal(pixels, expected), (name, size)
            assert np.array_equal(decode_image(data, size, interpolation), pixels)  # bytes as a path


def test_interpolation_is_checked(dogscats):
    with pytest.raises(ValueError, match="interpolation.*cubic"):
        decode_image(dogscats / "valid" / "dogs" / "dog.100.jpg", (40, 40), interpolation="cubic")


def test_image_names():
    assert decode.is_image_name("cats/cat.1.JPG") and decode.is_image_name("x.pbm")
    assert not decode.is_image_name(".hidden.jpg") and not decode.is_image_name("notes.txt")
    assert ".jpg" in decode.IMAGE_EXTENSIONS and ".webp" in decode.IMAGE_EXTENSIONS


def test_open_image_keeps_transparency_for_rgba(photo, tmp_path):
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 100))
    rgba.save(tmp_path / "alpha.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = decode.open_image(tmp_path / "alpha.png", "RGBA")
        dropped = decode.open_image(tmp_path / "alpha.png")
    assert kept.mode == "RGBA" and np.asarray(kept)[..., 3].max() == 100
    assert dropped.mode == "RGB"
