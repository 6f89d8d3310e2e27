"""The `vggcourse` command: the course workflow from a shell.

    vggcourse demo                              # the main job, offline, on bundled digits
    vggcourse prepare data/dogscats --dry-run   # Kaggle's flat folders -> the course layout
    vggcourse finetune data/dogscats --epochs 3 --out runs/dc
    vggcourse submit data/dogscats runs/dc/best.keras --out submission.csv

Exit codes: 0 success, 2 bad usage or bad input (one line, no traceback), 1 anything else.
"""
import argparse
import os
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit code 2."""


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


# ---------------------------------------------------------------- subcommands

def cmd_demo(args):
    from vggcourse.demo import run_demo

    kwargs = {"out_dir": args.out}
    if args.epochs is not None:
        kwargs["epochs"] = args.epochs
    run_demo(**kwargs)


def cmd_prepare(args):
    from vggcourse.prepare import prepare_kaggle

    prepare_kaggle(args.kaggle_dir, valid=args.valid, sample_train=args.sample_train,
                   sample_valid=args.sample_valid, seed=args.seed, dry_run=args.dry_run)


def cmd_finetune(args):
    from vggcourse.workflow import finetune_directory

    result = finetune_directory(
        args.data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, size=args.size,
        weights=args.weights, batch_norm=args.bn, out=args.out, resume=args.resume,
        cache=not args.no_cache)
    print(f"best val_accuracy {result.best_val_accuracy:.4f} (epoch {result.best_epoch + 1}); "
          f"models in {result.out}/ (best.keras, last.keras), plots: {len(result.pngs)} PNGs")


def cmd_predict(args):
    from vggcourse.workflow import predict_directory

    batches, probs, vgg = predict_directory(args.model, args.path, batch_size=args.batch_size)
    lines = ["file,class,probability"]
    for name, row in zip(batches.filenames, probs):
        top = int(row.argmax())
        lines.append(f"{name},{vgg.classes[top]},{row[top]:.5f}")
    text = "\n".join(lines) + "\n"
    if args.out:
        _write_text(args.out, text)
        print(f"wrote {len(lines) - 1} predictions to {args.out}")
    else:
        sys.stdout.write(text)


def cmd_submit(args):
    from vggcourse.workflow import submit_directory

    clip = tuple(args.clip) if args.clip else "auto"
    submit_directory(args.data, args.model, out=args.out, batch_size=args.batch_size,
                     positive=args.positive, clip=clip, expected_rows=args.expected_rows)
    print(f"wrote {args.out}")


def cmd_verify(args):
    from vggcourse.image import find_unreadable_images

    bad = find_unreadable_images(args.path)
    for path, reason in bad:
        print(f"{path}: {reason}")
    print(f"{len(bad)} unreadable image(s) under {args.path}")
    return 1 if bad and args.strict else 0


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

def build_parser():
    parser = argparse.ArgumentParser(
        prog="vggcourse", description="The 2016 fast.ai course's VGG16 workflow on Keras 3.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("demo", help="the main job: digits, from scratch, offline (<10 min on CPU)")
    p.add_argument("--out", default="vggcourse-demo", help="output folder (default: %(default)s)")
    p.add_argument("--epochs", type=_positive_int, help="override the demo's number of epochs")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("prepare", help="Kaggle's flat train/ and test/ -> the course layout")
    p.add_argument("kaggle_dir", help="folder holding Kaggle's train/ and test/")
    p.add_argument("--valid", type=_positive_int, default=2000, help="validation images (default: %(default)s)")
    p.add_argument("--sample-train", type=_positive_int, default=200, help="sample/train images (default: %(default)s)")
    p.add_argument("--sample-valid", type=_positive_int, default=50, help="sample/valid images (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the split (default: %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("finetune", help="fine-tune VGG16 on DATA/train, validate on DATA/valid")
    p.add_argument("data", help="folder with train/<class>/ and valid/<class>/")
    p.add_argument("--epochs", type=_positive_int, default=1)
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--lr", type=_positive_float, default=0.001, help="Adam learning rate (default: %(default)s)")
    p.add_argument("--size", type=_positive_int, default=224, help="image size in pixels (default: %(default)s)")
    p.add_argument("--weights", default="imagenet",
                   help="'imagenet', 'none' (random) or a weights file, e.g. the course's vgg16.h5")
    p.add_argument("--bn", action="store_true", help="use Vgg16BN (batch norm in the dense layers)")
    p.add_argument("--out", default="vggcourse-run", help="output folder (default: %(default)s)")
    p.add_argument("--resume", help="weights file of an earlier run (OUT/last.weights.h5)")
    p.add_argument("--no-cache", action="store_true", help="do not cache the frozen body's features")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("predict", help="predict every image under PATH with a saved model")
    p.add_argument("model", help="a .keras file written by `vggcourse finetune`")
    p.add_argument("path", help="an image folder (class folders, test/unknown/ or flat)")
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--out", help="CSV file to write (default: print)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("submit", help="predict DATA/test and write a checked Kaggle submission")
    p.add_argument("data", help="folder with test/unknown/*.jpg")
    p.add_argument("model", help="a .keras file written by `vggcourse finetune`")
    p.add_argument("--out", default="submission.csv", help="CSV to write (default: %(default)s)")
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--positive", help="class whose probability is the label column (two classes; default: dogs)")
    p.add_argument("--clip", type=float, nargs=2, metavar=("LOW", "HIGH"), help="clip probabilities (binary default 0.05 0.95)")
    p.add_argument("--expected-rows", type=_positive_int, help="refuse unless there are exactly this many rows (12500 for Kaggle)")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("verify", help="list unreadable images under PATH")
    p.add_argument("path")
    p.add_argument("--strict", action="store_true", help="exit 1 when any image is unreadable")
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
    return parser


def _write_text(path, text):
    from vggcourse._atomic import write_atomically

    write_atomically(path, lambda tmp: Path(tmp).write_text(text))


def main(argv=None):
    """Run the command line; returns the exit code (0 ok, 1 failure, 2 bad usage or input)."""
    args = build_parser().parse_args(argv)
    if getattr(args, "weights", None) == "none":
        args.weights = None
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, UsageError) as err:
        print(f"vggcourse {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vggcourse {args.command}: interrupted", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - the command line reports, the library raises
        print(f"vggcourse {args.command}: failed: {type(err).__name__}: {err}", file=sys.stderr)
        if os.environ.get("VGGCOURSE_DEBUG"):
            raise
        return 1


if __name__ == "__main__":
    sys.exit(main())
