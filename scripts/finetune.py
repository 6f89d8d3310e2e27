"""Fine-tune VGG16 on DATA/train, validate on DATA/valid, keep the best and last models and plots.

    python scripts/finetune.py data/dogscats --epochs 3 --lr 0.001 --out runs/dogscats
    python scripts/finetune.py data/dogscats --epochs 2 --out runs/dogscats --resume

The work is done by `vggcourse.workflow.finetune_directory`; this script is `vggcourse finetune`.
"""
import sys

from vggcourse.cli import main

if __name__ == "__main__":
    sys.exit(main(["finetune", *sys.argv[1:]]))
