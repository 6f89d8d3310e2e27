"""The course's workflows as functions: fine-tune a folder, predict a folder, write a submission.

The scripts in `scripts/` and the `vggcourse` command are thin wrappers over these.

    from vggcourse.workflow import finetune_directory
    result = finetune_directory("data/dogscats", epochs=3, out="runs/dogscats")
    print(result.best_val_accuracy, result.best_model)
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

import keras

from vggcourse import checks
from vggcourse._atomic import write_atomically
from vggcourse._keras_fit import callback_items
from vggcourse.architecture import MIN_SIDE
from vggcourse.errors import InputFileNotFoundError, UserInputError
from vggcourse.prepare import check_course_layout

__all__ = ["EpochCheckpoints", "FinetuneResult", "finetune_directory", "predict_directory", "submit_directory"]


@dataclass
class FinetuneResult:
    """What `finetune_directory` wrote and measured."""

    out: Path
    history: list = field(default_factory=list)  # one dict of metrics per epoch
    best_epoch: int = -1
    best_val_accuracy: float = float("nan")
    best_model: Path = None
    last_model: Path = None
    pngs: list = field(default_factory=list)
    lr_suggestion: float = None  # with lr_find=True: the finder's suggested rate


def _build_vgg(weights, size, batch_norm):
    from vggcourse.model import Vgg16, Vgg16BN

    cls = Vgg16BN if batch_norm else Vgg16
    return cls(weights=weights, size=(size, size))


class EpochCheckpoints(keras.callbacks.Callback):
    """Saves the model after every epoch of a `fit`: the checkpoints of `finetune_directory`.

    Writes `out/last.keras`, `out/last.weights.h5` and, when `val_accuracy` improves,
    `out/best.keras`, each to a temporary file first (`Vgg16.save`): a run killed mid-write keeps
    the previous file. It sees the whole `vgg.model`, also when `fit` trains on cached features.

        vgg.fit(batches, val_batches, nb_epoch=3, callbacks=[EpochCheckpoints(vgg, result)])
    """

    def __init__(self, vgg, result, log=print):
        super().__init__()
        self.vgg, self.result, self.log = vgg, result, log

    def on_epoch_end(self, epoch, logs=None):
        result = self.result
        metrics = {k: float(v) for k, v in (logs or {}).items()}
        result.history.append(metrics)
        # The .keras files are for predicting and submitting: no optimizer state (half the size);
        # `resume` continues from last.weights.h5.
        self.vgg.save(result.last_model, include_optimizer=False)
        self.vgg.save_weights(result.out / "last.weights.h5")
        val_acc = metrics.get("val_accuracy", float("nan"))
        if result.best_epoch < 0 or val_acc > result.best_val_accuracy:
            result.best_epoch, result.best_val_accuracy = epoch, val_acc
            self.vgg.save(result.best_model, include_optimizer=False)


def finetune_directory(data, epochs=1, batch_size=64, lr=None, size=224, weights="imagenet",
                       batch_norm=False, out="vggcourse-run", resume=None, cache=True, log=print,
                       unfreeze=None, one_cycle=False, lr_find=False, tta=0, vgg=None,
                       train_bn=False, callbacks=None):
    """Fine-tune VGG16 on `data/train`, validate on `data/valid`, keep the best and last models.

    One `fit` whose callback writes `out/last.keras`, `out/last.weights.h5` and `out/best.keras`
    (highest val_accuracy so far) after each epoch; then `out/history.json`, `out/history.png`
    and the validation analysis PNGs. `lr` is Adam's rate (default 0.001, or the finder's
    suggestion with `lr_find=True`, which also writes `out/lr_find.png`). `unfreeze` names the
    lowest layer to train ('fc1', 'block5_conv1'); `one_cycle` trains with the one-cycle policy
    up to `lr`; `tta` augmented passes go into the analysis. `resume` is a weights file of an
    earlier run (`out/last.weights.h5`). `vgg` is a model to fine-tune instead of building one
    from `weights` / `size` / `batch_norm`; `train_bn` goes to `vgg.unfreeze`; `callbacks` run
    after the checkpoints in the one `fit`.
    """
    data = check_course_layout(data)
    epochs = checks.whole_number("epochs", epochs, least=1)  # 2.5 refused, not cut to 2
    batch_size = checks.whole_number("batch_size", batch_size, least=1)
    size = checks.whole_number("size", size, least=MIN_SIDE)  # VGG16's five poolings
    if lr is not None:
        lr = checks.positive_number("lr", lr)
    if resume is not None and not Path(resume).is_file():
        raise InputFileNotFoundError(f"`resume` file {str(resume)!r} does not exist; pass the "
                                f"last.weights.h5 written by an earlier run")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"`out` {str(out)!r} is a file; pass a folder for the models and plots "
                             f"(it is created if missing)")

    if vgg is None:
        vgg = _build_vgg(weights, size, batch_norm)
    batches = vgg.get_batches(data / "train", batch_size=batch_size)
    val_batches = vgg.get_batches(data / "valid", batch_size=batch_size * 2, shuffle=False)
    vgg.finetune(batches)
    if unfreeze is not None:
        vgg.unfreeze(unfreeze, train_bn=train_bn)
        log(f"training {unfreeze} and every layer above it")
    if resume is not None:
        vgg.load_weights(resume)
        log(f"resumed from {resume}")

    out.mkdir(parents=True, exist_ok=True)  # only now: a bad input leaves no empty folder behind
    result = FinetuneResult(out=out, best_model=out / "best.keras", last_model=out / "last.keras")
    if lr_find:
        found = vgg.lr_find(batches, cache=cache)
        result.lr_suggestion = found.suggestion
        result.pngs.append(_save_figure(found.plot(), out / "lr_find.png"))
        log(f"lr_find: suggested learning rate {found.suggestion:.2e} (steepest fall of the loss); "
            f"plot in {out / 'lr_find.png'}")
        lr = found.suggestion if lr is None else lr
    lr = 0.001 if lr is None else lr
    callbacks = [EpochCheckpoints(vgg, result), *callback_items(callbacks)]
    if one_cycle:
        vgg.fit_one_cycle(batches, val_batches, nb_epoch=epochs, max_lr=lr, cache=cache,
                          callbacks=callbacks)
    else:
        vgg.fit(batches, val_batches, nb_epoch=epochs, lr=lr, cache=cache, callbacks=callbacks)
    _write_json(out / "history.json", result.history)
    from vggcourse.training import plot_history

    result.pngs.append(_save_figure(plot_history(result.history), out / "history.png"))
    result.pngs += write_analysis(vgg, val_batches, out, tta=tta)
    return result


def _save_figure(figure, path):
    import matplotlib.pyplot as plt

    write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100), suffix=".png")
    plt.close(figure)
    return Path(path)


def write_analysis(vgg, val_batches, out, tta=0):
    """Save the redux notebook's validation plots as PNGs in `out`; return their paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from vggcourse.interpret import Interpretation

    interp = Interpretation.from_vgg(vgg, val_batches, tta=tta)
    return interp.save_pngs(out)


def predict_directory(model_path, path, batch_size=64, tta=0):
    """Load a saved model and predict every image under `path`; returns (batches, probabilities, vgg).

    `tta=n` averages n augmented passes with the plain one (`Vgg16.test`).
    """
    from vggcourse.model import Vgg16

    if Path(model_path).is_dir():
        raise UserInputError(f"model {str(model_path)!r} is a folder; pass a .keras file written by "
                             f"`vggcourse finetune` (best.keras or last.keras inside it)")
    if not Path(model_path).is_file():
        raise InputFileNotFoundError(f"model file {str(model_path)!r} does not exist; pass a .keras "
                                     f"file written by `vggcourse finetune` (best.keras or last.keras)")
    batch_size = checks.whole_number("batch_size", batch_size, least=1)
    vgg = Vgg16.load(model_path)
    batches, probs = vgg.test(path, batch_size=batch_size, tta=tta)
    return batches, probs, vgg


def submit_directory(data, model_path, out="submission.csv", batch_size=64, positive=None,
                     clip="auto", expected_rows=None, tta=0):
    """Predict `data/test` with a saved model and write a checked Kaggle submission to `out`.

    Two classes give the redux format (`id,label`, the probability of `positive`, default 'dogs');
    more give one column per class (`img,c0,c1,...`).
    """
    from vggcourse import kaggle

    data = check_course_layout(data, needs=("test",))
    if expected_rows is not None:
        kaggle.check_expected_rows(data / "test", expected_rows)  # before minutes of predicting
    batches, probs, vgg = predict_directory(model_path, data / "test", batch_size=batch_size, tta=tta)
    kind = "binary" if len(vgg.classes) == 2 else "multiclass"
    if kind == "binary" and positive is None:
        if "dogs" not in vgg.classes:
            raise UserInputError(f"the model's classes are {list(vgg.classes)}: name the one whose "
                             f"probability is the label column with positive=... (--positive)")
        positive = "dogs"
    return kaggle.write_submission(out, (batches, probs), class_indices=list(vgg.classes),
                                   positive=positive, kind=kind, clip=clip,
                                   test_dir=data / "test", expected_rows=expected_rows)


def _write_json(path, obj):
    text = json.dumps(obj, indent=2)
    write_atomically(path, lambda tmp: Path(tmp).write_text(text))
