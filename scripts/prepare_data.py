"""Turn Kaggle's Dogs vs Cats download into the course layout, in place.

    python scripts/prepare_data.py data/dogscats            # train/ and test/ as Kaggle gives them
    python scripts/prepare_data.py data/dogscats --dry-run  # only print what it would do

Afterwards data/dogscats holds train/{cats,dogs}, valid/{cats,dogs} (a random 2,000),
sample/{train,valid}/{cats,dogs} (copies: 200 + 50) and test/unknown. Images are only moved or
copied, never deleted; running it again finishes an interrupted run or does nothing.

The work is done by `vggcourse.prepare.prepare_kaggle`; this script is `vggcourse prepare`.
"""
import sys

from vggcourse.cli import main

if __name__ == "__main__":
    sys.exit(main(["prepare", *sys.argv[1:]]))
