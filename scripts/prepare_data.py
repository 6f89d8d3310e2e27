"""Turn Kaggle's Dogs vs Cats download into the course layout, in place.

    python scripts/prepare_data.py data/dogscats            # train/ and test/ as Kaggle gives them
    python scripts/prepare_data.py data/dogscats --dry-run  # only print what it would do

Afterwards data/dogscats holds train/{cats,dogs}, valid/{cats,dogs} (a random 2,000),
sample/{train,valid}/{cats,dogs} (copies: 200 + 50) and test/unknown. Images are only moved or
copied, never deleted; running it again finishes an interrupted run or does nothing.
"""
import argparse
import sys

from vggcourse.prepare import prepare_kaggle


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kaggle_dir", help="folder holding Kaggle's train/ and test/")
    parser.add_argument("--valid", type=int, default=2000, help="validation images (default 2000)")
    parser.add_argument("--sample-train", type=int, default=200, help="sample/train images (200)")
    parser.add_argument("--sample-valid", type=int, default=50, help="sample/valid images (50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random split (0)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    args = parser.parse_args(argv)
    try:
        prepare_kaggle(args.kaggle_dir, valid=args.valid, sample_train=args.sample_train,
                       sample_valid=args.sample_valid, seed=args.seed, dry_run=args.dry_run)
    except (ValueError, FileNotFoundError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
