"""The course's workflows as functions: fine-tune a folder, predict a folder, write a submission.

The scripts in `scripts/` and the `vggcourse` command are thin wrappers over these.

    from vggcourse.workflow import finetune_directory
    result = finetune_directory("data/dogscats", epochs=3, out="runs/dogscats")
    print(result.best_val_accuracy, result.best_model)
"""
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from vggcourse._atomic import write_atomically

__all__ = ["FinetuneResult", "finetune_directory", "predict_directory", "submit_directory"]


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


def _check_data_dir(data, needs=("train", "valid")):
    data = Path(data)
    if not data.is_dir():
        raise FileNotFoundError(
            f"data folder {str(data)!r} does not exist; expected the course layout "
            f"{data}/train/<class>/*.jpg and {data}/valid/<class>/*.jpg")
    missing = [name for name in needs if not (data / name).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"data folder {str(data)!r} has no {', '.join(n + '/' for n in missing)}; expected "
            f"{data}/train/<class>/*.jpg and {data}/valid/<class>/*.jpg "
            f"(for Kaggle's flat layout run `vggcourse prepare {data}` first)")
    return data


def _check_positive(name, value):
    if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")


def _build_vgg(weights, size, batch_norm):
    from vggcourse.model import Vgg16, Vgg16BN

    cls = Vgg16BN if batch_norm else Vgg16
    return cls(weights=weights, size=(size, size))


def finetune_directory(data, epochs=1, batch_size=64, lr=0.001, size=224, weights="imagenet",
                       batch_norm=False, out="vggcourse-run", resume=None, cache=True, log=print):
    """Fine-tune VGG16 on `data/train`, validate on `data/valid`, keep the best and last models.

    Writes `out/last.keras`, `out/best.keras` (highest val_accuracy so far), `out/history.json`
    and the validation analysis PNGs. `resume` is a weights file from an earlier run
    (`out/last.weights.h5`): training continues from it.
    """
    data = _check_data_dir(data)
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr), ("size", size)):
        _check_positive(name, value)
    if resume is not None and not Path(resume).is_file():
        raise FileNotFoundError(f"`resume` file {str(resume)!r} does not exist; pass the "
                                f"last.weights.h5 written by an earlier run")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    vgg = _build_vgg(weights, size, batch_norm)
    batches = vgg.get_batches(data / "train", batch_size=batch_size)
    val_batches = vgg.get_batches(data / "valid", batch_size=batch_size * 2, shuffle=False)
    vgg.finetune(batches)
    if resume is not None:
        vgg.load_weights(resume)
        log(f"resumed from {resume}")
    vgg.set_lr(lr)

    result = FinetuneResult(out=out, best_model=out / "best.keras", last_model=out / "last.keras")
    for epoch in range(int(epochs)):
        log(f"epoch {epoch + 1}/{epochs}")
        history = vgg.fit(batches, val_batches, nb_epoch=1, cache=cache)
        metrics = {k: float(v[-1]) for k, v in history.history.items()}
        result.history.append(metrics)
        vgg.save(result.last_model)
        vgg.save_weights(out / "last.weights.h5")
        val_acc = metrics.get("val_accuracy", float("nan"))
        if result.best_epoch < 0 or val_acc > result.best_val_accuracy:
            result.best_epoch, result.best_val_accuracy = epoch, val_acc
            vgg.save(result.best_model)
    _write_json(out / "history.json", result.history)
    result.pngs = write_analysis(vgg, val_batches, out)
    return result


def write_analysis(vgg, val_batches, out):
    """Save the redux notebook's validation plots as PNGs in `out`; return their paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from vggcourse.interpret import Interpretation

    interp = Interpretation.from_vgg(vgg, val_batches)
    return interp.save_pngs(out)


def predict_directory(model_path, path, batch_size=64):
    """Load a saved model and predict every image under `path`; returns (batches, probabilities, vgg)."""
    from vggcourse.model import Vgg16

    if not Path(model_path).is_file():
        raise FileNotFoundError(f"model file {str(model_path)!r} does not exist; pass a .keras "
                                f"file written by `vggcourse finetune` (best.keras or last.keras)")
    _check_positive("batch_size", batch_size)
    vgg = Vgg16.load(model_path)
    batches, probs = vgg.test(path, batch_size=batch_size)
    return batches, probs, vgg


def submit_directory(data, model_path, out="submission.csv", batch_size=64, positive=None,
                     clip="auto", expected_rows=None):
    """Predict `data/test` with a saved model and write a checked Kaggle submission to `out`.

    Two classes give the redux format (`id,label`, the probability of `positive`, default 'dogs');
    more give one column per class (`img,c0,c1,...`).
    """
    from vggcourse import kaggle

    data = _check_data_dir(data, needs=("test",))
    batches, probs, vgg = predict_directory(model_path, data / "test", batch_size=batch_size)
    kind = "binary" if len(vgg.classes) == 2 else "multiclass"
    if kind == "binary" and positive is None:
        if "dogs" not in vgg.classes:
            raise ValueError(f"the model's classes are {list(vgg.classes)}: name the one whose "
                             f"probability is the label column with positive=... (--positive)")
        positive = "dogs"
    return kaggle.write_submission(out, (batches, probs), class_indices=list(vgg.classes),
                                   positive=positive, kind=kind, clip=clip,
                                   test_dir=data / "test", expected_rows=expected_rows)


def _write_json(path, obj):
    text = json.dumps(obj, indent=2)
    write_atomically(path, lambda tmp: Path(tmp).write_text(text))
