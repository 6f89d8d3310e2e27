"""Predict DATA/test with a saved model and write a checked Kaggle submission.

    python scripts/submit.py data/dogscats runs/dogscats/best.keras --out submission.csv

The work is done by `vggcourse.workflow.submit_directory`; this script is `vggcourse submit`.
"""
import sys

from vggcourse.cli import main

if __name__ == "__main__":
    sys.exit(main(["submit", *sys.argv[1:]]))
