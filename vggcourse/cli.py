"""The `vggcourse` command: the course workflow from a shell.

    vggcourse demo                              # the main job, offline, on bundled digits
    vggcourse sample data/sample                # a small stand-in sample in the course layout
    vggcourse prepare data/dogscats --dry-run   # Kaggle's flat folders -> the course layout
    vggcourse finetune data/dogscats --epochs 3 --out runs/dc
    vggcourse submit data/dogscats runs/dc/best.keras --out submission.csv
    vggcourse port lesson2.ipynb                # a 2016 notebook -> Python 3 and vggcourse
    vggcourse serve runs/dc/best.keras          # a web page and an API at http://127.0.0.1:8000/
    vggcourse export runs/dc/best.keras exported/dogscats   # ONNX, a SavedModel, the class names

Exit codes: 0 success; 2 bad usage or bad input, that is a `vggcourse.errors` user error (one
line, no traceback); 1 anything else, which is a failure or a bug. `VGGCOURSE_DEBUG=1` prints the
traceback of every error.
"""
import argparse
import csv
import os
import sys
import traceback

from vggcourse import checks
from vggcourse.errors import UserInputError, is_user_error

__all__ = ["main", "build_parser"]

DEBUG_ENV = "VGGCOURSE_DEBUG"


def _number(text, convert, check, expected):
    """`check(convert(text))` (a `vggcourse.checks` rule), else argparse's usage error (exit 2,
    naming the option) saying `expected`."""
    try:
        return check(convert(text))
    except ValueError:  # int("2.5"), and the checks' UserInputError
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def _positive_int(text):
    return _number(text, int, lambda v: checks.whole_number("value", v, least=1), "a positive whole number")


def _non_negative_int(text):
    return _number(text, int, lambda v: checks.whole_number("value", v, least=0), "a whole number >= 0")


def _positive_float(text):
    return _number(text, float, lambda v: checks.positive_number("value", v), "a positive number")


def _non_negative_float(text):
    return _number(text, float, lambda v: checks.non_negative_number("value", v), "a number >= 0")


def _fraction(text):
    return _number(text, float, lambda v: checks.fraction("value", v), "a number in [0, 1)")


def _layer(text):
    """A layer name ('fc1', 'block5_conv1') or a layer index (an int, negative counts from the end)."""
    text = text.strip()
    if not text:
        raise argparse.ArgumentTypeError("expected a layer name such as fc1 or block5_conv1, or an index")
    try:
        return int(text)
    except ValueError:
        return text


# ---------------------------------------------------------------- subcommands

def cmd_demo(args):
    from vggcourse.demo import run_demo

    kwargs = {"out_dir": args.out}
    if args.epochs is not None:
        kwargs["epochs"] = args.epochs
    run_demo(**kwargs)


def cmd_sample(args):
    from vggcourse.sample import write_sample

    path = write_sample(args.dest, train=args.train, valid=args.valid, test=args.test, seed=args.seed)
    print(f"wrote {path}/: train/ {args.train} + {args.train}, valid/ {args.valid} + {args.valid} "
          f"(cats, dogs), test/unknown/ {args.test}, test_labels.csv")


def cmd_prepare(args):
    from vggcourse.prepare import prepare_kaggle

    prepare_kaggle(args.kaggle_dir, valid=args.valid, sample_train=args.sample_train,
                   sample_valid=args.sample_valid, seed=args.seed, dry_run=args.dry_run)


def cmd_finetune(args):
    from vggcourse.workflow import finetune_directory

    result = finetune_directory(
        args.data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, size=args.size,
        weights=args.weights, batch_norm=args.bn, out=args.out, resume=args.resume,
        cache=not args.no_cache, overwrite=args.overwrite,
        unfreeze=args.unfreeze, one_cycle=args.one_cycle, lr_find=args.lr_find, tta=args.tta,
        labels_re=args.labels_re, valid_pct=args.valid_pct)
    print(f"best val_accuracy {result.best_val_accuracy:.4f} (epoch {result.best_epoch + 1}); "
          f"models in {result.out}/ (best.keras, last.keras), plots: {len(result.pngs)} PNGs")


def cmd_predict(args):
    from vggcourse.workflow import predict_directory

    batches, probs, vgg = predict_directory(args.model, args.path, batch_size=args.batch_size,
                                            tta=args.tta)
    failed = set(batches.failed)
    decoded = [name not in failed for name in batches.filenames]
    _check_class_probabilities(probs, vgg.classes, args.model, decoded)
    for name in sorted(failed):
        print(f"vggcourse predict: warning: {os.path.join(batches.directory, name)} could not be decoded; "
              "its row has no class and no probability", file=sys.stderr)
    rows = [["file", "class", "probability"]]
    for name, row, ok in zip(batches.filenames, probs, decoded):
        top = int(row.argmax())
        rows.append([name, vgg.classes[top], f"{row[top]:.5f}"] if ok else [name, "", ""])
    if args.out:
        from vggcourse._atomic import write_atomically

        write_atomically(args.out, lambda tmp: _write_csv(tmp, rows))
        print(f"wrote {len(rows) - 1} predictions to {args.out}")
    else:
        _print_csv(rows)


def cmd_serve(args):
    from vggcourse.serve import run

    limits = {name: getattr(args, name) for name in ("max_batch", "max_bytes", "max_wait_ms")}
    run(args.model, host=args.host, port=args.port, **{name: value for name, value in limits.items() if value is not None})


def cmd_export(args):
    from vggcourse.export import export_model

    paths = export_model(args.model, args.out, formats=tuple(args.format or ("onnx", "savedmodel")))
    for name, path in paths.items():
        print(f"wrote {path} ({name})")


def _csv_text(rows):
    import io

    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue()


def _write_csv(path, rows):
    """UTF-8; a file name that is not UTF-8 (bytes the OS allows, decoded with surrogates) is
    written as its own bytes (`surrogateescape`), so the CSV names the file as the OS does."""
    with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        f.write(_csv_text(rows))


def _print_csv(rows):
    """`rows` as CSV on stdout, file names that are not UTF-8 as their own bytes (as `_write_csv`)."""
    text = _csv_text(rows)
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode(sys.stdout.encoding or "utf-8", "surrogateescape"))
    sys.stdout.buffer.flush()


def _check_class_probabilities(probs, classes, model, decoded=None):
    """Refuse a model whose outputs are not one probability per class (a regression head, say).

    Only the rows of files that decoded (`decoded`, a mask; default all) are looked at: the NaN
    row of a file that failed to decode is not the model's fault.
    """
    import numpy as np

    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise UserInputError(f"the model {model} gives outputs of shape {probs.shape[1:]} but names "
                             f"{len(classes)} classes; predict needs one probability per class")
    if decoded is not None:
        probs = probs[np.asarray(decoded, bool)]
    if probs.size and (not np.isfinite(probs).all() or probs.min() < 0 or probs.max() > 1
                       or not np.allclose(probs.sum(axis=1), 1, atol=0.01)):
        raise UserInputError(f"the model {model} does not output class probabilities (values from "
                             f"{np.nanmin(probs):.4g} to {np.nanmax(probs):.4g}, rows summing to "
                             f"{probs.sum(axis=1).min():.4g}..{probs.sum(axis=1).max():.4g}); "
                             "predict needs a classifier ending in a softmax")


def cmd_submit(args):
    from vggcourse.workflow import submit_directory

    clip = tuple(args.clip) if args.clip else "auto"
    submit_directory(args.data, args.model, out=args.out, batch_size=args.batch_size,
                     positive=args.positive, clip=clip, expected_rows=args.expected_rows,
                     tta=args.tta)
    print(f"wrote {args.out}")


def cmd_verify(args):
    from vggcourse.image import find_problems

    problems = find_problems(args.path)
    for path, reason in problems:
        print(f"{path}: {reason}")
    print(f"{len(problems)} problem(s) under {args.path}")
    return 1 if problems and args.strict else 0


def cmd_port(args):
    from vggcourse.port import port_notebook

    result = port_notebook(args.notebook, out=args.out, force=args.force,
                           fix_course_bugs=not args.keep_course_bugs)
    for change in result.changes:
        print(change)
    for line in result.not_converted:
        print(f"not converted: {line}")
    left = f"; {len(result.not_converted)} thing(s) not converted (listed above)" if result.not_converted else ""
    print(f"wrote {result.path}: {len(result.changes)} change(s) in {result.cells} code cell(s){left}")


def cmd_weights(args):
    from vggcourse import weights

    if args.action == "list":
        print(f"cache folder: {weights.cache_dir()}")
        for line in weights.cache_status():
            print(line)
        print(f"mirror (${weights.MIRROR_ENV}): {os.environ.get(weights.MIRROR_ENV) or 'not set'}")
    elif args.action == "fetch":
        print(weights.fetch_weights(args.name))
    elif args.action == "import":
        print(f"verified and copied to {weights.import_weights(args.file, args.name)}")
    elif args.action == "convert":
        print(f"wrote {weights.convert_course_file(args.file, args.output)}")


# ---------------------------------------------------------------- parser

def _add_prediction_options(p):
    """`--batch-size` and `--tta`, shared by `predict` and `submit`."""
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--tta", type=_non_negative_int, default=0, metavar="N",
                   help="average the plain prediction with N augmented ones (default: %(default)s)")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="vggcourse", description="The 2016 fast.ai course's VGG16 workflow on Keras 3.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("demo", help="the main job: digits, from scratch, offline (<10 min on CPU)")
    p.add_argument("--out", default="vggcourse-demo", help="output folder (default: %(default)s)")
    p.add_argument("--epochs", type=_positive_int, help="override the demo's number of epochs")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sample", help="write a small stand-in for Kaggle's Dogs vs Cats in the course layout "
                                      "(crops of scikit-learn's two photographs)")
    p.add_argument("dest", help="the new folder to write, e.g. data/sample")
    p.add_argument("--train", type=_positive_int, default=100, help="train images per class (default: %(default)s)")
    p.add_argument("--valid", type=_positive_int, default=50, help="valid images per class (default: %(default)s)")
    p.add_argument("--test", type=_non_negative_int, default=100, help="test images (default: %(default)s)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default: %(default)s)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("prepare", help="Kaggle's flat train/ and test/ -> the course layout")
    p.add_argument("kaggle_dir", help="folder holding Kaggle's train/ and test/")
    p.add_argument("--valid", type=_positive_int, default=2000, help="validation images (default: %(default)s)")
    p.add_argument("--sample-train", type=_positive_int, default=200, help="sample/train images (default: %(default)s)")
    p.add_argument("--sample-valid", type=_positive_int, default=50, help="sample/valid images (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the split (default: %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("finetune", help="fine-tune VGG16 on DATA/train, validate on DATA/valid")
    p.add_argument("data", help="folder with train/<class>/ and valid/<class>/ (with --labels-re: one folder of images)")
    p.add_argument("--epochs", type=_positive_int, help="epochs in all (default: 1; with --resume: the run's)")
    p.add_argument("--batch-size", type=_positive_int, help="images per step (default: 64; with --resume: the run's)")
    p.add_argument("--lr", type=_positive_float,
                   help="Adam learning rate (default: 0.001, or lr_find's suggestion with --lr-find)")
    p.add_argument("--size", type=_positive_int, help="image size in pixels, 32 to 1024 (default: 224)")
    p.add_argument("--weights", default="imagenet",
                   help="'imagenet', 'none' (random) or a weights file, e.g. the course's vgg16.h5")
    p.add_argument("--bn", action="store_true", help="use Vgg16BN (batch norm in the dense layers)")
    p.add_argument("--out", help="output folder, one run at a time (default: vggcourse-run)")
    p.add_argument("--resume", nargs="?", const=True, metavar="RUN",
                   help="continue the run in --out (or in RUN: its folder or its last.keras) from its "
                        "last finished epoch, with its settings, optimizer state, history and best score")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in an --out that holds an earlier one, removing that run's files")
    p.add_argument("--no-cache", action="store_true", help="do not cache the frozen body's features")
    p.add_argument("--unfreeze", type=_layer, metavar="LAYER",
                   help="also train LAYER (a name such as fc1 or block5_conv1, or an index) and every layer above it")
    p.add_argument("--one-cycle", action="store_true", help="train with the one-cycle schedule (warm-up, then cosine)")
    p.add_argument("--lr-find", action="store_true",
                   help="run the learning-rate range test first: writes lr_find.png and prints the suggestion")
    p.add_argument("--tta", type=_non_negative_int, default=0, metavar="N",
                   help="validation analysis: average the plain prediction with N augmented ones")
    p.add_argument("--labels-re", metavar="REGEX",
                   help="DATA is one folder of images, such as Kaggle's train/: each image's class is the first "
                        "group of REGEX in its file name, e.g. '^(cat|dog)\\.'")
    p.add_argument("--valid-pct", type=_fraction, metavar="F",
                   help="with --labels-re: the fraction of the images that validates, drawn with the run's seed "
                        "(default: 0.2)")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("predict", help="predict every image under PATH with a saved model")
    p.add_argument("model", help="a .keras file written by `vggcourse finetune`")
    p.add_argument("path", help="an image folder (class folders, test/unknown/ or flat)")
    p.add_argument("--out", help="CSV file to write (default: print)")
    _add_prediction_options(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("serve", help="a web page and an HTTP API (POST /predict) for a saved model")
    p.add_argument("model", help="a .keras file written by `vggcourse finetune` or vgg.save")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: %(default)s, this machine only; 0.0.0.0: every network)")
    p.add_argument("--port", type=_positive_int, default=8000, help="port (default: %(default)s)")
    p.add_argument("--max-batch", type=_positive_int, help="most images that share one forward pass "
                                                            "(default: vggcourse.serve.DEFAULT_MAX_BATCH)")
    p.add_argument("--max-bytes", type=_positive_int,
                   help="largest request body in bytes (default: vggcourse.serve.DEFAULT_MAX_BYTES)")
    p.add_argument("--max-wait-ms", type=_non_negative_float, help="how long an image waits for others to share "
                                                                  "its forward pass (default: DEFAULT_MAX_WAIT_MS)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="write a saved model as ONNX and a TensorFlow SavedModel, with its class names")
    p.add_argument("model", help="a .keras file written by `vggcourse finetune` or vgg.save")
    p.add_argument("out", help="the files' name without an ending, e.g. exported/dogscats (writes "
                               "exported/dogscats.onnx, exported/dogscats_savedmodel/, exported/dogscats.classes.json)")
    p.add_argument("--format", action="append", choices=("onnx", "savedmodel"),
                   help="only this format (repeat for several; default: both)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("submit", help="predict DATA/test and write a checked Kaggle submission")
    p.add_argument("data", help="folder with test/unknown/*.jpg")
    p.add_argument("model", help="a .keras file written by `vggcourse finetune`")
    p.add_argument("--out", default="submission.csv", help="CSV to write (default: %(default)s)")
    p.add_argument("--positive", help="class whose probability is the label column (two classes; default: dogs)")
    p.add_argument("--clip", type=float, nargs=2, metavar=("LOW", "HIGH"), help="clip probabilities (binary default 0.05 0.95)")
    p.add_argument("--expected-rows", type=_positive_int, help="refuse unless there are exactly this many rows (12500 for Kaggle)")
    _add_prediction_options(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("verify", help="list unreadable images, empty or unreadable class folders and "
                                      "single-class trees under PATH")
    p.add_argument("path")
    p.add_argument("--strict", action="store_true", help="exit 1 when anything is reported")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("weights", help="the weights cache: list, fetch, import, convert")
    wsub = p.add_subparsers(dest="action", metavar="ACTION")
    wsub.required = True
    wsub.add_parser("list", help="where the cache is, which files are present and verified")
    w = wsub.add_parser("fetch", help="download a known weights file into the cache and verify it")
    w.add_argument("name", nargs="?", default="vgg16", help="table entry (default: %(default)s)")
    w = wsub.add_parser("import", help="copy a local weights file into the cache, verifying it")
    w.add_argument("file")
    w.add_argument("name", nargs="?", default="vgg16", help="table entry (default: %(default)s)")
    w = wsub.add_parser("convert", help="convert the course's Theano vgg16.h5 to a channels-last file")
    w.add_argument("file", help="the course's vgg16.h5 or vgg16_bn.h5")
    w.add_argument("output", help="the .h5 file to write")
    p.set_defaults(func=cmd_weights)

    p = sub.add_parser("port", help="rewrite a 2016 course notebook for Python 3 and vggcourse")
    p.add_argument("notebook", help="the course's .ipynb file")
    p.add_argument("-o", "--out", help="the .ipynb to write (default: NOTEBOOK_ported.ipynb beside it)")
    p.add_argument("--force", action="store_true", help="overwrite the output if it exists")
    p.add_argument("--keep-course-bugs", action="store_true",
                   help="leave the course's own bugs as they are (by default, names a notebook uses but never "
                        "defines are fixed, each with a comment)")
    p.set_defaults(func=cmd_port)
    return parser


_WITHOUT_KERAS = ("sample", "prepare", "port")  # commands that never import Keras: no need to start it early


def _check_before_keras(args):
    """The checks that need no Keras, made before its seconds of start-up: a wrong folder is
    reported at once."""
    from vggcourse.prepare import check_course_layout, check_image_folder

    if args.command == "finetune" and args.labels_re is not None:
        check_image_folder(args.data)
    elif args.command == "finetune":
        check_course_layout(args.data)
    elif args.command == "submit":
        check_course_layout(args.data, needs=("test",))


def main(argv=None):
    """Run the command line; returns the exit code (0 ok, 1 failure, 2 bad usage or input)."""
    args = build_parser().parse_args(argv)
    if getattr(args, "weights", None) == "none":
        args.weights = None
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        _check_before_keras(args)
        if args.command not in _WITHOUT_KERAS:
            from vggcourse._console import quiet_tensorflow

            quiet_tensorflow()  # TensorFlow's start-up lines stay out of the output (VGGCOURSE_DEBUG=1 shows them)
        return args.func(args) or 0
    except KeyboardInterrupt:
        print(f"vggcourse {args.command}: interrupted", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - the command line reports, the library raises
        if debug:
            traceback.print_exc()
        if is_user_error(err):
            print(f"vggcourse {args.command}: error: {err}", file=sys.stderr)
            return 2
        print(f"vggcourse {args.command}: failed: {type(err).__name__}: {err}", file=sys.stderr)
        if not debug:
            print(f"(a bug or a failure, not a mistake in the command: set {DEBUG_ENV}=1 to see where "
                  "it happened)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
