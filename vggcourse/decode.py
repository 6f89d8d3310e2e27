"""Decoding one image file into RGB pixels: libjpeg-turbo for JPEGs, Pillow for everything else.

    pixels = decode_image("data/dogscats/train/cats/cat.1.jpg", target_size=(224, 224))
    pixels.dtype, pixels.shape      # uint8, (224, 224, 3)
    if is_image_name("cat.1.JPG"): ...   # IMAGE_EXTENSIONS is the one list of image extensions

How a file is decoded:
- A baseline or progressive JPEG in YCbCr or grayscale goes to libjpeg-turbo through `simplejpeg`.
  When it is at least twice the target size in both dimensions, it is decoded in the DCT domain
  at 1/2, 1/4 or 1/8 of its size (never below the target): much less work, and within a few
  grey levels of a full decode. Without `simplejpeg` installed, Pillow does all of this instead.
- Every other file (PNG, GIF, BMP, TIFF, WebP, CMYK/YCCK JPEGs), and any JPEG that libjpeg-turbo
  reports a problem with (truncated, extra bytes, ...), goes through Pillow, which makes the
  same DCT-domain reduction for JPEGs (`Image.draft`). Pillow's wheels ship libjpeg-turbo too,
  so both paths give the same pixels for the same file.
- Grayscale, palette, CMYK and RGBA become RGB; 16-bit images ('I;16*' and 'I') are always
  divided by 257 (65535 -> 255). A truncated JPEG is decoded as far as it goes (the rest grey),
  with a warning naming the file.

`interpolation` is the filter that takes the decoded pixels to the target size, whichever
decoder ran: Pillow's filter of that name ('nearest', 'bilinear', 'bicubic', 'hamming', 'box',
'lanczos'). The DCT reduction before it is the same for every filter.
"""
import os
import warnings
from io import BytesIO

import numpy as np
from PIL import Image

from vggcourse import checks

try:  # libjpeg-turbo with its own copy of the library: a wheel with no system dependency
    import simplejpeg
except ImportError:  # pragma: no cover - Pillow decodes everything then
    simplejpeg = None

__all__ = [
    "IMAGE_EXTENSIONS",
    "INTERPOLATIONS",
    "JPEG_DECODER",
    "check_interpolation",
    "decode_image",
    "decode_problem",
    "is_image_name",
    "open_image",
    "readable",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".pbm", ".gif", ".tif",
                    ".tiff", ".webp")
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "hamming": Image.Resampling.HAMMING,
    "box": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}
JPEG_DECODER = "simplejpeg" if simplejpeg is not None else "Pillow"
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_JPEG_START = b"\xff\xd8"
_HEADER_BYTES = 1 << 16  # where `readable` looks for a JPEG's header


def is_image_name(name):
    """True for a file name with an image extension (any case) that is not hidden.

        [name for name in os.listdir(folder) if is_image_name(name)]
    """
    name = os.path.basename(name)
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def check_interpolation(interpolation):
    """`interpolation` if it names a resize filter, else a `UserInputError` listing the choices."""
    return checks.one_of("interpolation", interpolation, sorted(INTERPOLATIONS))


def decode_image(path, target_size=None, interpolation="nearest", *, strict=False):
    """The image file at `path` (or the file's bytes) as uint8 RGB `(h, w, 3)`, resized to
    `target_size=(h, w)` if given. A truncated JPEG is decoded as far as it goes, with a warning;
    `strict=True` raises `OSError` ('... is truncated') for it instead, as Pillow does for others.

        pixels = decode_image("cat.1.jpg", target_size=(224, 224), interpolation="bilinear")
        pixels = decode_image(request_body, target_size=(224, 224), strict=True)   # an uploaded file
    """
    resample = INTERPOLATIONS[check_interpolation(interpolation)]
    size = None if target_size is None else checks.size_pair("target_size", target_size)[::-1]
    if isinstance(path, (bytes, bytearray, memoryview)):
        return _decode_rgb(bytes(path), "<image bytes>", size, resample, strict)
    path = os.fspath(path)
    with open(path, "rb") as stream:
        return _decode_rgb(stream.read(), path, size, resample, strict)


def _decode_rgb(data, name, size, resample, strict=False):
    """uint8 RGB array of the file's bytes `data` (`name` for messages) at `size=(w, h)` (None: as
    stored). Raises when it cannot."""
    # Pillow holds 4 bytes a pixel: to be resized, libjpeg-turbo's output is RGBX, which Pillow resizes
    # where it lies (RGB would be copied into Pillow's layout first); the RGB bytes are packed once, at the end.
    colorspace = "RGB" if size is None else "RGBX"
    pixels = _turbo_decode(data, size, colorspace) if data.startswith(_JPEG_START) else None
    if size is None:
        return pixels if pixels is not None else np.asarray(_to_rgb(_pillow_decode(name, data, None, strict)))
    if pixels is None:
        image = _to_rgb(_pillow_decode(name, data, size, strict))
    else:
        image = Image.frombuffer("RGBX", pixels.shape[1::-1], pixels, "raw", "RGBX", 0, 1)
    if image.size != size:
        image = image.resize(size, resample)
    return np.frombuffer(image.tobytes("raw", "RGB"), np.uint8).reshape(size[1], size[0], 3)


def _turbo_decode(data, size, colorspace):
    """`colorspace` ('RGB' or 'RGBX') array from libjpeg-turbo, reduced in the DCT domain when 2x
    larger than `size`; None: use Pillow."""
    if simplejpeg is None:
        return None
    try:
        height, width, jpeg_colorspace, _ = simplejpeg.decode_jpeg_header(data)
        if jpeg_colorspace not in ("YCbCr", "Gray"):
            return None  # CMYK / YCCK: Pillow knows Adobe's inverted CMYK
        scale = _dct_scale((width, height), size)
        if scale > 1:  # exactly 1/scale: the factor Pillow's draft would use
            return simplejpeg.decode_jpeg(data, colorspace, min_width=-(-width // scale),
                                          min_height=-(-height // scale), min_factor=scale)
        return simplejpeg.decode_jpeg(data, colorspace)
    except ValueError:  # any warning or error from libjpeg-turbo: Pillow decides what to do
        return None


def _dct_scale(stored, size):
    """1, 2, 4 or 8: the largest power of two by which `stored` (w, h) still covers `size`.

    The rule of Pillow's `Image.draft`, so both decoders reduce a file by the same factor.
    """
    if size is None:
        return 1
    fits = min(stored[0] // size[0], stored[1] // size[1])
    return next((scale for scale in (8, 4, 2) if fits >= scale), 1)


def _pillow_decode(path, data, size, strict=False):
    """Pillow image of the file's bytes (JPEG draft when 2x larger); truncated JPEGs finished
    unless `strict`."""
    try:
        return _pillow_load(Image.open(BytesIO(data)), size)
    except OSError as error:
        if "truncated" not in str(error) or not data.startswith(_JPEG_START):
            raise
        if strict:
            raise OSError(f"{path} is truncated") from error
    # What PIL does under LOAD_TRUNCATED_IMAGES, for this file only: end the JPEG stream early.
    image = _pillow_load(Image.open(BytesIO(data + b"\xff\xd9")), size)
    warnings.warn(f"{path} is truncated; decoded as far as it goes (the rest is grey).",
                  stacklevel=4)
    return image


def _pillow_load(image, size):
    """Load `image`, reduced by JPEG draft when it is at least twice `size` in both dimensions."""
    with image:
        if image.format == "JPEG" and _dct_scale(image.size, size) > 1:
            image.draft("RGB", size)
        image.load()
    return image


def _to_rgb(image):
    """`image` as mode RGB: 16-bit divided by 257, transparency dropped, CMYK converted."""
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        if image.mode != "F":  # always, so that two almost equal images stay almost equal
            pixels = pixels / 257.0
        gray = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    return image.convert("RGB")


def open_image(path, mode="RGB"):
    """The whole image file (a path, or a file object) as a Pillow image in `mode` ('RGB', 'L' or
    'RGBA'), as Keras' load_img.

    'RGB' is converted as `decode_image` converts (16-bit / 257, CMYK, palette); 'RGBA' keeps
    transparency; 'L' keeps 16- and 32-bit grayscale at their depth, as Keras 2 does.

        image = open_image("cat.1.jpg", mode="L")
    """
    if hasattr(path, "read"):
        data, path = path.read(), getattr(path, "name", "<file object>")
    else:
        path = os.fspath(path)
        with open(path, "rb") as stream:
            data = stream.read()
    image = _pillow_decode(path, data, None)
    if mode == "RGBA" and image.mode in ("RGBA", "LA", "PA", "P"):
        return image.convert("RGBA")
    if mode == "L" and image.mode in ("L", *_SIXTEEN_BIT_MODES):
        return image
    image = _to_rgb(image)
    return image if mode == "RGB" else image.convert(mode)


def readable(path):
    """True when the file's header can be read as an image with a size (a quick check).

    A JPEG's header is read by libjpeg-turbo from the file's first 64 KiB (about a tenth of the
    time Pillow takes to open it); any other file, and a JPEG whose header libjpeg-turbo cannot
    read there (a long EXIF block, or a broken one), by Pillow.
    """
    try:
        with open(path, "rb") as stream:
            head = stream.read(_HEADER_BYTES)
    except OSError:
        return False
    if simplejpeg is not None and head.startswith(_JPEG_START):
        try:
            height, width, _, _ = simplejpeg.decode_jpeg_header(head)
            return width > 0 and height > 0
        except ValueError:
            pass
    try:  # the bytes already read when they are the whole file: no second read
        with Image.open(BytesIO(head) if len(head) < _HEADER_BYTES else path) as image:
            return image.width > 0 and image.height > 0
    except Exception:  # PIL raises several types for data that is not an image
        return False


def decode_problem(path):
    """None when the whole file decodes, else why not ('truncated', 'not a readable image: ...')."""
    try:
        with Image.open(path) as image:
            image.load()
    except OSError as error:
        return "truncated" if "truncated" in str(error) else f"not a readable image ({error})"
    except Exception as error:  # PIL raises several types for corrupt data
        return f"not a readable image ({type(error).__name__}: {error})"
    return None
