"""The course's workflows as functions: fine-tune a folder, predict a folder, write a submission.

The scripts in `scripts/` and the `vggcourse` command are thin wrappers over these.

    from vggcourse.workflow import finetune_directory
    result = finetune_directory("data/dogscats", epochs=3, out="runs/dogscats")
    print(result.best_val_accuracy, result.best_model)
"""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vggcourse import checks
from vggcourse._atomic import write_atomically
from vggcourse._keras_fit import callback_items
from vggcourse.architecture import MIN_SIDE
from vggcourse.errors import InputFileNotFoundError, UserInputError
from vggcourse.prepare import check_course_layout, check_image_folder

__all__ = ["FinetuneResult", "finetune_directory", "predict_directory", "submit_directory"]


@dataclass
class FinetuneResult:
    """What `finetune_directory` wrote and measured."""

    out: Path
    history: list = field(default_factory=list)  # one dict of metrics per epoch, from the first
    best_epoch: int = -1
    best_val_accuracy: float = float("nan")
    best_model: Path = None
    last_model: Path = None
    pngs: list = field(default_factory=list)
    lr_suggestion: float = None  # with lr_find=True: the finder's suggested rate
    resumed_at: int = None  # with resume: the epochs the run had finished before this call


def _build_vgg(weights, size, batch_norm):
    from vggcourse.model import Vgg16, Vgg16BN

    cls = Vgg16BN if batch_norm else Vgg16
    return cls(weights=weights, size=(size, size))


# The settings of a run; `resume` takes them from the run, and refuses different ones.
_DEFAULTS = dict(epochs=1, batch_size=64, lr=None, size=224, batch_norm=False, unfreeze=None,
                 train_bn=False, one_cycle=False, seed=None, labels_re=None, valid_pct=0.2)
MAX_SIZE = 1024  # VGG16's first block alone takes about 1 GB per image at 1024 x 1024 (float32)


def finetune_directory(data, epochs=None, batch_size=None, lr=None, size=None, weights="imagenet",
                       batch_norm=False, out=None, resume=None, cache=True, log=print,
                       unfreeze=None, one_cycle=False, lr_find=False, tta=0, vgg=None,
                       train_bn=False, callbacks=None, overwrite=False, seed=None, labels_re=None, valid_pct=None):
    """Fine-tune VGG16 on `data/train`, validate on `data/valid`, keep the best and last models.
    With `labels_re`, `data` is one folder of images (Kaggle's flat train/): each image's class is
    the first group of that regular expression in its file name (`vggcourse.labels.from_name_re`),
    and a random `valid_pct` of them (default 0.2, drawn with the run's seed) validates.

    One `fit` whose callback writes, after each epoch, `out/last.keras` (the checkpoint: model,
    optimizer state and the run's record), `out/best.keras` (when val_accuracy beats the best so
    far) and `out/history.json`; then `out/history.png` and the validation analysis PNGs.
    `epochs` (1), `batch_size` (64), `size` (224): the defaults of a new run. `lr` is Adam's rate
    (default 0.001, or the finder's suggestion with `lr_find=True`, which also writes
    `out/lr_find.png`). `unfreeze` names the lowest layer to train ('fc1', 'block5_conv1');
    `one_cycle` trains with the one-cycle policy up to `lr`; `tta` augmented passes go into the
    analysis. `vgg` is a model to fine-tune instead of building one from `weights` / `size` /
    `batch_norm`; `train_bn` goes to `vgg.unfreeze`; `callbacks` run after the checkpoints;
    `seed` fixes the order of the training images in every epoch (default: drawn from NumPy's
    global generator, so `keras.utils.set_random_seed` makes a run repeatable).

    `out` (default 'vggcourse-run') belongs to one run at a time: a folder in use by another
    process, read-only or too full is refused before training, and one holding an earlier run is
    refused unless `overwrite=True` (which removes that run's files) or `resume`. `resume=True`
    continues the run in `out` (or pass its folder or its `last.keras`) from its last finished
    epoch, as the same run: its settings, optimizer state, schedule position, history and best
    score; `epochs` may be raised to train it longer (not under one-cycle).

        finetune_directory("data/dogscats", epochs=3, out="runs/dc")
        finetune_directory("data/dogscats", out="runs/dc", resume=True)   # after an interruption
    """
    from vggcourse import run_folder

    if valid_pct is not None and labels_re is None:
        raise UserInputError("`valid_pct` splits a folder labelled by `labels_re`; pass both, or neither for "
                             "the course layout (train/ and valid/)")
    data = check_course_layout(data) if labels_re is None else check_image_folder(data)
    given = _checked_settings(epochs=epochs, batch_size=batch_size, lr=lr, size=size, batch_norm=batch_norm, unfreeze=unfreeze, train_bn=train_bn,
                              one_cycle=one_cycle, seed=seed, labels_re=labels_re, valid_pct=valid_pct)
    if resume is not None and resume is not False:
        folder = run_folder.find_run(resume, out)
        if vgg is not None or lr_find:
            raise UserInputError("a resumed run goes on with the model and rate of its checkpoint: "
                                 "leave `vgg` and `lr_find` out")
    else:
        folder = Path("vggcourse-run" if out is None else out)
        resume = None
    _check_outside_data(folder, data)
    with run_folder.RunFolder.open(folder) as run:
        if resume is None:
            run.clear_previous_run(overwrite, log)
            return _train_new(run, data, given, weights, vgg, lr_find, cache, tta, callbacks, log)
        return _train_resumed(run, data, given, cache, tta, callbacks, log)


def _checked_settings(**settings):
    """The run settings that were given (not None / not False), checked."""
    if settings["epochs"] is not None:
        settings["epochs"] = checks.whole_number("epochs", settings["epochs"], least=1)  # 2.5 refused
    if settings["batch_size"] is not None:
        settings["batch_size"] = checks.whole_number("batch_size", settings["batch_size"], least=1)
    if settings["size"] is not None:  # VGG16's five poolings; above MAX_SIZE memory runs out
        settings["size"] = checks.whole_number_in("size", settings["size"], MIN_SIDE, MAX_SIZE)
    if settings["lr"] is not None:
        settings["lr"] = checks.positive_number("lr", settings["lr"])
    if settings["seed"] is not None:
        settings["seed"] = checks.whole_number("seed", settings["seed"], least=0)
    if settings["valid_pct"] is not None:
        settings["valid_pct"] = checks.fraction("valid_pct", settings["valid_pct"])
    return settings


def _check_outside_data(folder, data):
    """An `out` inside `data/train` (or valid, test) would become a class of its own."""
    where = folder.resolve()
    for part in ("train", "valid", "test"):
        inside = (data / part).resolve()
        if where == inside or inside in where.parents:
            raise UserInputError(f"`out` {str(folder)!r} is inside {data / part}, where every folder is a "
                                 f"class of images: pass an --out outside {data}")


def _train_new(run, data, given, weights, vgg, lr_find, cache, tta, callbacks, log):
    from vggcourse.run_folder import RunRecord

    settings = {name: (_DEFAULTS[name] if given[name] is None else given[name]) for name in _DEFAULTS}
    settings["weights"] = None if weights is None else str(weights)
    if settings["seed"] is None:
        settings["seed"] = int(np.random.randint(2 ** 31))
    if vgg is None:
        vgg = _build_vgg(weights, settings["size"], settings["batch_norm"])
    else:
        settings.update(weights=None, size=int(vgg.model.input_shape[1]), batch_norm=vgg.batch_norm)
    run.check_space(vgg.model)
    batches, val_batches = _batches(vgg, data, settings)
    vgg.finetune(batches)
    if settings["unfreeze"] is not None:
        lowest = vgg.unfreeze(settings["unfreeze"], train_bn=settings["train_bn"])
        log(f"training {lowest} and every layer above it")
    result = _result(run)
    if lr_find:
        found = vgg.lr_find(batches, cache=cache)
        result.lr_suggestion = found.suggestion
        result.pngs.append(_save_figure(found.plot(), run.folder / "lr_find.png"))
        log(f"lr_find: suggested learning rate {found.suggestion:.2e} (steepest fall of the loss); "
            f"plot in {run.folder / 'lr_find.png'}")
        settings["lr"] = found.suggestion if settings["lr"] is None else settings["lr"]
    settings["lr"] = 0.001 if settings["lr"] is None else settings["lr"]
    settings["data"] = str(data.resolve())
    record = RunRecord(settings=settings)
    run.write_json("run.json", {"settings": settings, "files": []})
    return _fit(run, vgg, record, batches, val_batches, result, cache, tta, callbacks, log)


def _train_resumed(run, data, given, cache, tta, callbacks, log):
    from vggcourse.model import Vgg16
    from vggcourse.run_folder import CHECKPOINT, best_epoch_on_disk, read_record, set_random_state, write_best

    checkpoint = run.folder / CHECKPOINT
    record = read_record(checkpoint)
    if record is None:
        raise UserInputError(f"{checkpoint} holds no run record (Vgg16.save or an earlier vggcourse wrote "
                             f"it), so the run cannot go on from it; start a new run")
    settings = record.settings
    _check_same_run(run.folder, settings, given, data, record)
    vgg = Vgg16.load(checkpoint)
    set_random_state(vgg.model, record.random_state)  # Dropout goes on as in an unbroken run
    run.check_space(vgg.model)
    batches, val_batches = _batches(vgg, data, settings)
    if record.best_epoch == record.epochs_done - 1 and best_epoch_on_disk(run.folder) != record.best_epoch:
        write_best(vgg, run.folder, record)  # the run stopped between last.keras and best.keras
    run.write_json("history.json", record.history)
    result = _result(run)
    result.resumed_at = record.epochs_done
    log(f"resuming the run in {run.folder} after epoch {record.epochs_done} of {settings['epochs']} "
        f"(best val_accuracy {record.best_val_accuracy:.4f} at epoch {record.best_epoch + 1})")
    return _fit(run, vgg, record, batches, val_batches, result, cache, tta, callbacks, log)


def _batches(vgg, data, settings):
    """(training batches, validation batches) of a run: `data`/train and `data`/valid, or, with the
    setting `labels_re`, the images of `data` labelled by their names and split by `valid_pct`
    with the run's seed (the same split when the run resumes)."""
    size, seed = settings["batch_size"], settings["seed"]
    if settings.get("labels_re") is None:
        return (vgg.get_batches(data / "train", batch_size=size, seed=seed),
                vgg.get_batches(data / "valid", batch_size=size * 2, shuffle=False))
    from vggcourse import labels

    train, valid = labels.split_valid(labels.from_name_re(data, settings["labels_re"]), settings["valid_pct"], seed)
    batches = vgg.get_batches(train, directory=data, batch_size=size, seed=seed)
    # the training classes, in their order, even when the drawn images validate on fewer of them
    return batches, vgg.get_batches(valid, directory=data, batch_size=size * 2, shuffle=False,
                                    classes=batches.class_names)


def _check_same_run(folder, settings, given, data, record):
    """Refuse a resume whose settings differ from the run's; `epochs` may grow (not under one-cycle)."""
    if str(data.resolve()) != settings["data"]:
        raise UserInputError(f"the run in {folder} trains on {settings['data']}, not {data}: resume it on "
                             f"the same data, or start a new run with another --out")
    differ = [f"{name}={given[name]!r} (the run has {settings.get(name)!r})" for name in _DEFAULTS
              if name != "epochs" and given[name] not in (None, False)
              and given[name] != settings.get(name)]
    if differ:
        raise UserInputError(f"the run in {folder} goes on with the settings it started with; leave out "
                             f"{', '.join(differ)}, or start a new run with another --out")
    epochs = given["epochs"]
    if epochs is not None and epochs != settings["epochs"]:
        if settings["one_cycle"]:
            raise UserInputError(f"the run in {folder} is a one-cycle run of {settings['epochs']} epochs; its "
                                 f"schedule cannot be stretched to epochs={epochs}: start a new run")
        if epochs < record.epochs_done:
            raise UserInputError(f"the run in {folder} has done {record.epochs_done} epochs already; "
                                 f"epochs={epochs} would train none")
        settings["epochs"] = epochs
    if record.epochs_done >= settings["epochs"]:
        raise UserInputError(f"the run in {folder} has finished its {settings['epochs']} epochs (best "
                             f"val_accuracy {record.best_val_accuracy:.4f} at epoch {record.best_epoch + 1}); "
                             f"to train it longer pass a larger --epochs")


def _result(run):
    from vggcourse.run_folder import BEST, CHECKPOINT

    return FinetuneResult(out=run.folder, best_model=run.folder / BEST, last_model=run.folder / CHECKPOINT)


def _fit(run, vgg, record, batches, val_batches, result, cache, tta, callbacks, log):
    """The one `fit` of a run, from `record.epochs_done`, then the plots; fills `result`."""
    settings = record.settings
    from vggcourse.run_folder import EpochCheckpoints

    callbacks = [EpochCheckpoints(vgg, record, run), *callback_items(callbacks)]
    fit = dict(nb_epoch=settings["epochs"], cache=cache, callbacks=callbacks, initial_epoch=record.epochs_done)
    if settings["one_cycle"]:
        vgg.fit_one_cycle(batches, val_batches, max_lr=settings["lr"], **fit)
    else:
        vgg.fit(batches, val_batches, lr=settings["lr"], **fit)
    result.history = record.history
    result.best_epoch, result.best_val_accuracy = record.best_epoch, record.best_val_accuracy
    from vggcourse.training import plot_history

    result.pngs.append(_save_figure(plot_history(result.history), run.folder / "history.png"))
    result.pngs += write_analysis(vgg, val_batches, run.folder, tta=tta)
    run.write_json("run.json", {"settings": settings, "files": sorted(Path(p).name for p in result.pngs)})
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


