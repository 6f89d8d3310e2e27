"""One image at a time, as Keras 2's `keras.preprocessing.image` functions: files to PIL images
(`load_img`, also from file objects), PIL images to arrays and back, saving, listing.

    img = load_img("data/dogscats/train/cats/cat.1.jpg", target_size=(224, 224))
    x = img_to_array(img)               # float32 (224, 224, 3)
    save_img("copy.png", x)

Decoding itself is `vggcourse.decode`'s; `vggcourse.image` re-exports these names.
"""
import os
import warnings

import numpy as np
from PIL import Image

from vggcourse import checks, decode
from vggcourse._atomic import write_atomically
from vggcourse.decode import INTERPOLATIONS
from vggcourse.errors import UserInputError, UserTypeError

__all__ = ["COLOR_MODES", "DATA_FORMATS", "array_to_img", "check_data_format", "img_to_array", "list_pictures",
           "load_img", "save_img", "stretched", "validate_filename"]

COLOR_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}
DATA_FORMATS = (None, "channels_last", "channels_first")


def load_img(path, grayscale=False, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False):
    """A PIL image of `path` (a path, or a file object such as `io.BytesIO`) in `color_mode`
    ('rgb', 'grayscale', 'rgba'), as Keras 2's `load_img`.

    The whole file is decoded, then resized to `target_size=(h, w)` with `interpolation`; with
    `keep_aspect_ratio`, the largest centred box of the target's shape is cut out first.
    'grayscale' keeps 16- and 32-bit grayscale files at their depth (Keras'); 'rgb' and 'rgba'
    divide 16-bit files by 257 as the batches do. `grayscale=True` is Keras 1's spelling of
    `color_mode='grayscale'`.

        img = load_img("data/dogscats/train/cats/cat.1.jpg", target_size=(224, 224))
        x = img_to_array(img)   # float32 (224, 224, 3)
    """
    checks.one_of("color_mode", color_mode, sorted(COLOR_MODES))
    size = None if target_size is None else checks.size_pair("target_size", target_size)[::-1]
    resample = None if size is None else INTERPOLATIONS[decode.check_interpolation(interpolation)]
    if not isinstance(path, (str, bytes, os.PathLike)) and not hasattr(path, "read"):
        raise UserTypeError(f"load_img: `path` must be a file path or a file object (io.BytesIO). Received: "
                            f"{type(path).__name__}")
    image = decode.open_image(path, "L" if grayscale else COLOR_MODES[color_mode])
    if size is not None and image.size != size:
        box = _aspect_box(image.size, size) if keep_aspect_ratio else None
        image = image.resize(size, resample, box=box)
    return image


def _aspect_box(stored, size):
    """The largest centred (left, top, right, bottom) box of `stored` (w, h) shaped as `size` (w, h)."""
    (width, height), (target_width, target_height) = stored, size
    crop_height = min(height, width * target_height // target_width)
    crop_width = min(width, height * target_width // target_height)
    left, top = (width - crop_width) // 2, (height - crop_height) // 2
    return left, top, left + crop_width, top + crop_height


def check_data_format(data_format):
    """'channels_last' (for None) or 'channels_first'; anything else is a `UserInputError`."""
    return checks.one_of("data_format", data_format, DATA_FORMATS) or "channels_last"


def img_to_array(img, data_format=None, dtype="float32"):
    """A PIL image as a numpy array `(h, w, channels)` (`(channels, h, w)` for 'channels_first').

        x = img_to_array(load_img(path, target_size=(224, 224)))[None]   # a batch of one
    """
    data_format = check_data_format(data_format)
    x = np.asarray(img, dtype=dtype)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3:
        raise UserInputError("`img` must be an image (height, width[, channels]). "
                             f"Received: an array of shape {x.shape}")
    return x.transpose(2, 0, 1) if data_format == "channels_first" else x


def array_to_img(x, data_format=None, scale=True, dtype="float32"):
    """An array `(h, w, 1|3|4)` (channels first with 'channels_first') as a PIL image (Keras 2's).

    `scale=True` stretches the values to 0-255 (min to 0, max to 255); otherwise they are kept,
    clipped to 0-255 (Keras wraps them around), and cut to whole numbers as Keras does. One
    channel with values above 255 becomes a 32-bit grayscale image (mode 'I'), as in Keras.

        array_to_img(batch[0]).save("first.png")
    """
    data_format = check_data_format(data_format)
    x = np.array(x, dtype=dtype)
    if x.ndim != 3:
        raise UserInputError(f"`x` must be one image (3 dimensions). Received: shape {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if x.shape[-1] not in (1, 3, 4):
        raise UserInputError(f"`x` must have 1, 3 or 4 channels. Received: shape {x.shape}")
    if scale:
        x = stretched(x)
    if x.shape[-1] == 1 and np.max(x) > 255:
        return Image.fromarray(x[..., 0].astype(np.int32), "I")
    pixels = np.clip(x, 0, 255).astype(np.uint8)
    if x.shape[-1] == 1:
        return Image.fromarray(pixels[..., 0], "L")
    return Image.fromarray(pixels, "RGB" if x.shape[-1] == 3 else "RGBA")


def stretched(x):
    """`x` as float64 moved and scaled to 0-255: its smallest value to 0, its largest to exactly 255
    (Keras' `array_to_img(scale=True)`); a constant array becomes all 0.

        stretched(np.array([[-1.0, 1.0]]))   # [[0., 255.]]
    """
    x = np.asarray(x, dtype=np.float64) - np.min(x)
    return x / np.max(x) * 255 if np.max(x) > 0 else x  # in this order, the largest value is exactly 255


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Write the image array `x` to `path` (Keras 2's `save_img`): `array_to_img`, then Pillow's
    `save` with `file_format` (from the name when None) and `kwargs`; an RGBA image saved as
    JPEG is made RGB, with a warning. Written to a temporary file and renamed.

        save_img("augmented.png", batch[0])
    """
    image = array_to_img(x, data_format=data_format, scale=scale)
    if image.mode == "RGBA" and str(file_format).lower() in ("jpg", "jpeg"):
        warnings.warn("save_img: JPEG has no transparency; the RGBA image is saved as RGB.", stacklevel=2)
        image = image.convert("RGB")
    if hasattr(path, "write"):
        image.save(path, format=file_format, **kwargs)
        return
    path = os.fspath(path)
    file_format = file_format or Image.registered_extensions().get(os.path.splitext(path)[1].lower())
    write_atomically(path, lambda temporary: image.save(temporary, format=file_format, **kwargs))


def list_pictures(directory, ext=("jpg", "jpeg", "bmp", "png", "ppm", "tif", "tiff")):
    """Paths of the files under `directory` (any depth) whose extension is in `ext` (any case).

        list_pictures("data/dogscats/train")   # ['data/dogscats/train/cats/cat.0.jpg', ...]
    """
    endings = tuple(f".{e.lower()}" for e in ((ext,) if isinstance(ext, str) else ext))
    return [os.path.join(root, name) for root, _, names in os.walk(directory) for name in names
            if name.lower().endswith(endings)]


def validate_filename(filename, white_list_formats):
    """True when `filename` is a file whose extension is one of `white_list_formats` (Keras 2's).

        validate_filename("cat.0.jpg", ("jpg", "png"))
    """
    return str(filename).lower().endswith(tuple(white_list_formats)) and os.path.isfile(filename)
