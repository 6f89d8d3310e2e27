"""Pictures of images and results. Every plot function returns its matplotlib `Figure`.

Figures are made with `matplotlib.pyplot`, so a notebook shows them as the course's did; a script
saves them with `fig.savefig("x.png")` (use a non-interactive backend such as Agg there, and
`plt.close(fig)` when done). In a notebook, end a line that calls a plot function with `;` to
show the figure once. Images are channels-last `(h, w, 3)`, RGB 0-255.
"""
import math

import numpy as np

from vggcourse import checks
from vggcourse.errors import UserInputError

__all__ = [
    "plots", "plot", "plot_confusion_matrix", "gray", "to_plot", "mk_square", "mk_size",
    "load_thumbnail", "plot_history", "plot_lr_find",
]

_TO_GRAY = np.array([0.21, 0.72, 0.07])  # the course's luminosity weights, R G B


def _pyplot():
    import matplotlib.pyplot as plt  # imported on use: importing vggcourse never picks a backend
    return plt


def _channels_last(img):
    """A (c, h, w) image with 1 or 3 channels becomes (h, w, c); anything else is left alone."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3, 4):
        img = np.moveaxis(img, 0, -1)
    return img


def to_plot(img):
    """`img` as a uint8 (h, w, c) array for `imshow`: values clipped to 0-255, channels moved last."""
    img = _channels_last(img)
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    return img


def gray(img):
    """Luminance of channels-last RGB image(s): shape (..., h, w, 3) -> (..., h, w)."""
    img = np.asarray(img)
    if img.shape[-1] != 3:
        raise UserInputError(f"gray: `img` must be channels-last RGB, of shape (..., h, w, 3). "
                             f"Received: img of shape {img.shape}")
    return img.astype(np.float32) @ _TO_GRAY.astype(np.float32)


def mk_size(img, r2c):
    """Pad `img` (h, w, c) with zeros, centred, to the row/column ratio `r2c` (rows / cols)."""
    img = np.asarray(img)
    r2c = checks.positive_number("r2c", r2c, caller="mk_size")
    r, c = img.shape[:2]
    new_r, new_c = (max(r, math.floor(c * r2c)), c) if r2c > r / c else (r, max(c, math.floor(r / r2c)))
    return _pad_centred(img, new_r, new_c)


def mk_square(img):
    """Pad `img` (h, w, c) with zeros, centred, to a square of side max(h, w)."""
    img = np.asarray(img)
    side = max(img.shape[:2])
    return _pad_centred(img, side, side)


def _pad_centred(img, rows, cols):
    r, c = img.shape[:2]
    out = np.zeros((rows, cols) + img.shape[2:], dtype=img.dtype)
    top, left = (rows - r) // 2, (cols - c) // 2
    out[top:top + r, left:left + c] = img
    return out


def load_thumbnail(path, max_size=None):
    """RGB uint8 (h, w, 3) array of the image file at `path`, shrunk to fit `max_size=(h, w)`
    keeping its aspect ratio (never enlarged); decoded by `vggcourse.decode` like the batches.

        ax.imshow(load_thumbnail("cat.1.jpg", (224, 224)))
    """
    from PIL import Image

    from vggcourse.decode import decode_image

    if max_size is None:
        return decode_image(path)
    max_h, max_w = checks.size_pair("max_size", max_size, caller="load_thumbnail")
    with Image.open(path) as im:
        width, height = im.size
    scale = min(1.0, max_h / height, max_w / width)
    target = (max(1, round(height * scale)), max(1, round(width * scale)))
    return decode_image(path, target_size=target, interpolation="bilinear")


def plot(img, figsize=(4, 4), title=None):
    """Show one image; returns the Figure."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=figsize)
    ax.imshow(to_plot(img))
    ax.axis("off")
    if title is not None:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


def plots(ims, figsize=(12, 6), rows=1, interp=False, titles=None, fontsize=11):
    """Show images in a grid of `rows` rows (the last row may be short); returns the Figure.

    `ims` is an array (n, h, w, 3) or (n, 3, h, w), or a list of images of any sizes. `titles`
    gives one title per image (None for no titles).
    """
    ims = list(ims) if not isinstance(ims, np.ndarray) else [im for im in ims]
    n = len(ims)
    rows = checks.whole_number("rows", rows, 1, caller="plots")
    if titles is not None and len(titles) != n:
        raise UserInputError(f"plots: `titles` must have one entry per image ({n} images), or be None. "
                             f"Received: {len(titles)} titles")
    plt = _pyplot()
    fig = plt.figure(figsize=figsize)
    if n == 0:
        return fig
    rows = min(rows, n)
    cols = math.ceil(n / rows)
    for i, img in enumerate(ims):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.axis("off")
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=fontsize)
        ax.imshow(to_plot(img), interpolation=None if interp else "none",
                  cmap="gray" if np.ndim(to_plot(img)) == 2 else None)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm, classes, normalize=False, title="Confusion matrix", cmap=None, figsize=None):
    """Draw confusion matrix `cm` (rows: true class, columns: predicted) with counts in the cells
    and a colour bar; `normalize=True` shows each row as fractions of that class. Returns the Figure.
    """
    cm = np.asarray(cm, dtype=np.float64 if normalize else None)
    classes = [str(c) for c in classes]
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(classes):
        raise UserInputError(f"plot_confusion_matrix: `cm` must be square with one row per class "
                             f"({len(classes)} classes). Received: cm of shape {cm.shape}")
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    plt = _pyplot()
    k = len(classes)
    side = figsize or (max(4.5, 0.6 * k + 3.5), max(4.0, 0.6 * k + 3.0))
    fig, ax = plt.subplots(figsize=side)
    image = ax.imshow(cm, interpolation="nearest", cmap=cmap or plt.cm.Blues,
                      vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title, fontsize=12)
    ax.set_xticks(range(k), classes, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    threshold = (cm.max() + cm.min()) / 2 if cm.size else 0
    font = 12 if k <= 5 else 9 if k <= 12 else 7
    for i in range(k):
        for j in range(k):
            text = f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j]):d}"
            ax.text(j, i, text, ha="center", va="center", fontsize=font,
                    color="white" if cm[i, j] > threshold else "black")
    fig.tight_layout()
    return fig


def plot_lr_find(lrs, losses, suggestion, skip_end=3):
    """Smoothed loss against the learning rate (log x) with `suggestion` marked: what
    `lr_find(...).plot()` draws. The last `skip_end` steps, where the loss shoots up, are left out.

        plot_lr_find(found.lrs, found.losses, found.suggestion).savefig("lr_find.png")
    """
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    if lrs.ndim != 1 or len(lrs) < 2 or losses.shape != lrs.shape:
        raise UserInputError(f"plot_lr_find: `lrs` and `losses` must be two lists of the same length, at "
                             f"least 2. Received: {len(lrs)} rates and {len(losses)} losses")
    figure, axes = _pyplot().subplots(figsize=(6, 4))
    end = max(len(lrs) - skip_end, 2)
    axes.plot(lrs[:end], losses[:end])
    axes.set_xscale("log")
    axes.set_xlabel("learning rate (log scale)")
    axes.set_ylabel("loss (smoothed)")
    index = int(np.argmin(np.abs(np.log(lrs) - math.log(suggestion))))
    axes.plot([suggestion], [losses[index]], "o", color="red",
              label=f"suggestion {suggestion:.1e} (steepest descent)")
    axes.legend()
    axes.set_title("Learning-rate finder")
    figure.tight_layout()
    return figure


def plot_history(history, title="Training history"):
    """Loss and accuracy per epoch, train against validation, as a matplotlib Figure.

    `history` is a Keras History, its `.history` dict, or a list of per-epoch metric dicts.

        plot_history(vgg.fit(batches, val_batches, nb_epoch=3)).savefig("history.png")
    """
    if hasattr(history, "history"):
        history = history.history
    if isinstance(history, (list, tuple)):
        keys = sorted({key for epoch in history for key in epoch})
        history = {key: [epoch.get(key, math.nan) for epoch in history] for key in keys}
    if not isinstance(history, dict) or not history:
        raise UserInputError(f"`history` must be a Keras History, its .history dict or a list of per-epoch "
                             f"metric dicts, with at least one epoch. Received: {type(history).__name__}")
    metrics = [name for name in ("loss", "accuracy") if name in history] or \
        sorted(name for name in history if not name.startswith("val_"))[:2]
    figure, axes = _pyplot().subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, name in zip(axes[0], metrics):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], "o-", label=f"train {name}")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], "s-", label=f"valid {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_xticks(epochs)
        ax.legend()
        ax.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    return figure
