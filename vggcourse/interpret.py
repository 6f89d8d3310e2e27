"""What a model got right and wrong: `Interpretation` over (probabilities, labels, files, classes).

The course's redux notebook picks these images by hand; here they are one object:

    interp = Interpretation.from_vgg(vgg, val_batches)
    interp.accuracy()
    interp.plot_most_confident_incorrect("cats")
    interp.plot_confusion_matrix(normalize=True).savefig("cm.png")

Every `plot_*` method returns a matplotlib Figure; every selection method returns indices into
`filenames` (most relevant first), so the same picks can be printed, plotted or saved.
"""
import os
import warnings

import numpy as np

from vggcourse import checks, plotting
from vggcourse._atomic import write_atomically
from vggcourse.errors import InputFileNotFoundError, UserInputError

__all__ = ["Interpretation"]


def _shown(name):
    """`name` as a figure can draw it: a class folder's name that is not UTF-8 (the OS's bytes,
    decoded with surrogates) shows its odd bytes as escapes, `dog\\xfe`; fonts cannot draw surrogates.

        _shown("dog\udcfe")   # 'dog\\xfe'
    """
    return os.fsencode(name).decode("utf-8", "backslashreplace")


class Interpretation:
    """Results of a classifier on labelled images.

    probs: (n, k) class probabilities (rows in `filenames` order); a 1-D array or (n, 1) column is
        read as the probability of class 1 of two. labels: (n,) true class indices, or one-hot rows.
    filenames: (n,) file names, relative to `directory` when given. class_names: k names in index order.
    A row that is not finite (the NaN row of a file that failed to decode) is left out, with its
    label and file name, and named once in a warning; `left_out` lists those files.

        Interpretation(probs, val_batches.classes, val_batches.filenames, val_batches.class_names)
    """

    def __init__(self, probs, labels, filenames, class_names, directory=None):
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim == 2 and probs.shape[1] == 1:
            probs = probs[:, 0]
        if probs.ndim == 1:
            probs = np.stack([1.0 - probs, probs], axis=1)
        labels = np.asarray(labels)
        if labels.ndim == 2:
            labels = labels.argmax(axis=1)
        self.class_names = [str(c) for c in class_names]
        n, k = probs.shape if probs.ndim == 2 else (len(probs), None)
        if probs.ndim != 2 or k != len(self.class_names):
            raise UserInputError(f"Interpretation: `probs` must be (n, {len(self.class_names)}), one column per "
                                 f"class name. Received: probs of shape {np.shape(probs)}")
        if labels.shape != (n,) or len(filenames) != n:
            raise UserInputError(f"Interpretation: `labels` and `filenames` must have one label and one file "
                                 f"name per row of `probs` ({n} rows). Received: "
                                 f"{labels.shape[0] if labels.ndim else 0} labels, {len(filenames)} file names")
        if n and (labels.min() < 0 or labels.max() >= k):
            raise UserInputError(f"Interpretation: `labels` must be class indices in [0, {k}). "
                                 f"Received: labels from {labels.min()} to {labels.max()}")
        filenames = list(filenames)
        decoded = np.isfinite(probs).all(axis=1)  # a file that failed to decode has a NaN row
        self.left_out = [filenames[i] for i in np.flatnonzero(~decoded)]
        if self.left_out:
            warnings.warn(f"Interpretation: {len(self.left_out)} file(s) without a prediction (they failed "
                          f"to decode) are left out of the analysis: {', '.join(map(str, self.left_out))}",
                          stacklevel=2)
            probs, labels = probs[decoded], labels[decoded]
            filenames = [name for name, ok in zip(filenames, decoded) if ok]
        self.probs = probs
        self.labels = labels.astype(np.int64)
        self.filenames = [str(f) for f in filenames]
        self.directory = None if directory is None else os.fspath(directory)
        self.preds = probs.argmax(axis=1)
        self.correct = self.preds == self.labels

    @classmethod
    def from_predictions(cls, probs, labels, filenames, class_names, directory=None):
        """The same as the constructor, spelled like fastai's."""
        return cls(probs, labels, filenames, class_names, directory)

    @classmethod
    def from_vgg(cls, vgg, val_batches, batch_size=None, tta=0):
        """Predict every image of `val_batches` with `vgg.model`, in `val_batches.filenames` order.

        Shuffling and augmentation of `val_batches` do not matter: prediction runs on the same
        files in file order (`vggcourse.features.predict_in_order`), reusing the frozen layers'
        cached output after a cached `vgg.fit`. `tta=n` averages n augmented passes in.
        """
        from vggcourse import features

        batches = val_batches.for_inference(batch_size) if batch_size else val_batches
        probs = features.predict_in_order(vgg, batches, tta=tta)
        return cls(probs, val_batches.classes, val_batches.filenames, val_batches.class_names,
                   val_batches.directory)

    # ---- numbers -------------------------------------------------------------------------
    def __len__(self):
        return len(self.labels)

    def accuracy(self):
        """Fraction of images whose most probable class is the true one."""
        return float(self.correct.mean()) if len(self) else float("nan")

    def losses(self):
        """Cross-entropy of each image: -log p(true class) (probabilities clipped at 1e-15)."""
        p_true = self.probs[np.arange(len(self)), self.labels]
        return -np.log(np.clip(p_true, 1e-15, 1.0))

    def confusion_matrix(self, normalize=False):
        """k x k counts: row = true class, column = predicted; `normalize` divides each row by its total."""
        k = len(self.class_names)
        cm = np.zeros((k, k), dtype=np.int64)
        np.add.at(cm, (self.labels, self.preds), 1)
        if not normalize:
            return cm
        totals = cm.sum(axis=1, keepdims=True)
        return np.divide(cm, totals, out=np.zeros(cm.shape), where=totals > 0)

    def most_confused(self, min_count=1):
        """(true class, predicted class, count) for each wrong pair seen at least `min_count` times, most first."""
        cm = self.confusion_matrix()
        pairs = [(self.class_names[i], self.class_names[j], int(cm[i, j]))
                 for i in range(len(cm)) for j in range(len(cm)) if i != j and cm[i, j] >= min_count]
        return sorted(pairs, key=lambda t: -t[2])

    # ---- picks (indices into filenames, best first) --------------------------------------
    def _class_index(self, cls):
        if isinstance(cls, str) and cls in self.class_names:
            return self.class_names.index(cls)
        last = len(self.class_names) - 1
        return checks.whole_number_in("cls", cls, 0, last, what=f"a class name {self.class_names} or an "
                                                                 f"index from 0 to {last}")

    def _random(self, mask, n, seed):
        n = checks.whole_number("n", n)
        idx = np.flatnonzero(mask)
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(idx, size=min(n, idx.size), replace=False)) if idx.size else idx

    def random_correct(self, n=4, seed=0):
        """Up to `n` correctly classified images, drawn at random (reproducible with `seed`)."""
        return self._random(self.correct, n, seed)

    def random_incorrect(self, n=4, seed=0):
        """Up to `n` misclassified images, drawn at random (reproducible with `seed`)."""
        return self._random(~self.correct, n, seed)

    def _by_prob(self, mask, column, n):
        n = checks.whole_number("n", n)
        idx = np.flatnonzero(mask)
        order = np.argsort(-self.probs[idx, column], kind="stable")
        return idx[order][:n]

    def most_confident_correct(self, cls, n=4):
        """Images of class `cls` predicted as `cls`, highest p(cls) first."""
        c = self._class_index(cls)
        return self._by_prob(self.correct & (self.labels == c), c, n)

    def most_confident_incorrect(self, cls, n=4):
        """Images predicted as `cls` that are another class, highest p(cls) first: the worst mistakes."""
        c = self._class_index(cls)
        return self._by_prob(~self.correct & (self.preds == c), c, n)

    def most_uncertain(self, n=4):
        """Images whose two most probable classes are closest (p near 0.5 for two classes)."""
        n = checks.whole_number("n", n)
        top2 = np.sort(self.probs, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
        return np.argsort(margin, kind="stable")[:n]

    def top_losses(self, n=None):
        """(losses, indices) of the `n` images with the highest loss (all images when n is None)."""
        if n is not None:
            n = checks.whole_number("n", n, what=">= 0, or None for all")
        losses = self.losses()
        idx = np.argsort(-losses, kind="stable")[:n]
        return losses[idx], idx

    # ---- pictures ------------------------------------------------------------------------
    def title(self, i, loss=False):
        """Lines for image `i`: predicted class and its probability, the true class [, the loss]."""
        pred, true = self.preds[i], self.labels[i]
        predicted, truth = _shown(self.class_names[pred]), _shown(self.class_names[true])
        text = f"{predicted} {self.probs[i, pred]:.2f}\ntrue: {truth}"
        return text + (f"\nloss {self.losses()[i]:.2f}" if loss else "")

    def image(self, i, size=(224, 224)):
        """The image file of row `i` as an RGB uint8 array (at most `size`)."""
        path = self.filenames[i] if self.directory is None else os.path.join(self.directory, self.filenames[i])
        if not os.path.exists(path):
            raise InputFileNotFoundError(f"Interpretation: image file {path!r} not found; pass `directory=` "
                                         "to locate relative file names")
        return plotting.load_thumbnail(path, size)

    def plot_images(self, idx, title=None, rows=1, figsize=None, loss=False):
        """Plot the images at indices `idx`, titled with prediction and truth (green when right,
        red when wrong); returns the Figure."""
        idx = [int(i) for i in np.asarray(idx, dtype=int).ravel()]
        cols = -(-max(len(idx), 1) // rows)
        height = 3.3 + (0.25 if loss else 0)
        fig = plotting.plots([self.image(i) for i in idx], rows=rows,
                             figsize=figsize or (max(3.0 * cols, 6.0), height * rows + (0.5 if title else 0)),
                             titles=[self.title(i, loss) for i in idx], fontsize=11)
        for ax, i in zip(fig.axes, idx):
            ax.title.set_color("tab:green" if self.correct[i] else "tab:red")
        if title:
            fig.suptitle(title if idx else f"{title}: none", fontsize=13)
            fig.tight_layout()
        return fig

    def plot_random_correct(self, n=4, seed=0):
        return self.plot_images(self.random_correct(n, seed), "Correct (random)")

    def plot_random_incorrect(self, n=4, seed=0):
        return self.plot_images(self.random_incorrect(n, seed), "Incorrect (random)")

    def plot_most_confident_correct(self, cls, n=4):
        name = _shown(self.class_names[self._class_index(cls)])
        return self.plot_images(self.most_confident_correct(cls, n), f"Most confident correct: {name}")

    def plot_most_confident_incorrect(self, cls, n=4):
        name = _shown(self.class_names[self._class_index(cls)])
        return self.plot_images(self.most_confident_incorrect(cls, n),
                                f"Most confident wrong: predicted {name}")

    def plot_most_uncertain(self, n=4):
        return self.plot_images(self.most_uncertain(n), "Most uncertain")

    def plot_top_losses(self, n=8, rows=2):
        _, idx = self.top_losses(n)
        return self.plot_images(idx, "Top losses", rows=min(rows, max(len(idx), 1)), loss=True)

    def plot_confusion_matrix(self, normalize=False, title=None, cmap=None):
        """The confusion matrix with counts (or row fractions) and a colour bar; returns the Figure."""
        if title is None:
            title = f"Confusion matrix (accuracy {self.accuracy():.1%}, n={len(self)})"
            title += "\nrows: fraction of each true class" if normalize else ""
        names = [_shown(name) for name in self.class_names]
        return plotting.plot_confusion_matrix(self.confusion_matrix(normalize), names,
                                              normalize=normalize, title=title, cmap=cmap)

    def _views(self, n, seed):
        """[(name, function drawing that view)] for `figures` and `save_pngs`, drawn on demand."""
        views = [("random_correct", lambda: self.plot_random_correct(n, seed)),
                 ("random_incorrect", lambda: self.plot_random_incorrect(n, seed))]
        for name in self.class_names:
            views.append((f"most_confident_correct_{name}",
                          lambda name=name: self.plot_most_confident_correct(name, n)))
            views.append((f"most_confident_incorrect_{name}",
                          lambda name=name: self.plot_most_confident_incorrect(name, n)))
        views += [("most_uncertain", lambda: self.plot_most_uncertain(n)),
                  ("top_losses", lambda: self.plot_top_losses(2 * n)),
                  ("confusion_matrix", lambda: self.plot_confusion_matrix()),
                  ("confusion_matrix_normalized", lambda: self.plot_confusion_matrix(normalize=True))]
        return views

    def figures(self, n=4, seed=0):
        """{name: Figure} of the redux notebook's views: random correct / incorrect, most confident
        correct and wrong per class, most uncertain, top losses, confusion matrix (counts, fractions)."""
        return {name: draw() for name, draw in self._views(n, seed)}

    def save_pngs(self, folder, n=4, seed=0, dpi=100):
        """Save every view of `figures()` as `folder/<name>.png` (each written atomically); returns the paths.

        Each figure is drawn, saved and closed before the next, so memory stays flat.
        """
        import matplotlib.pyplot as plt

        folder = os.fspath(folder)
        os.makedirs(folder, exist_ok=True)
        paths = []
        for name, draw in self._views(n, seed):
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
            path = os.path.join(folder, f"{safe}.png")
            fig = draw()
            try:
                write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
            finally:
                plt.close(fig)
            paths.append(path)
        return paths

    def __repr__(self):
        return (f"Interpretation({len(self)} images, {len(self.class_names)} classes, "
                f"accuracy {self.accuracy():.4f})")
