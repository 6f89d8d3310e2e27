"""The course's seven-line fine-tune (lesson 1), on Keras 3.

    python scripts/seven_lines.py data/dogscats/sample
    vggcourse sample data/sample && python scripts/seven_lines.py data/sample --weights none --size 64   # offline
"""
import argparse

from vggcourse import Vgg16

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("path", help="folder with train/<class>/ and valid/<class>/")
parser.add_argument("--weights", default="imagenet", help="'imagenet', 'none' or a weights file")
parser.add_argument("--size", type=int, default=224, help="image size (default: 224)")
parser.add_argument("--batch-size", type=int, default=64)
args = parser.parse_args()
weights = None if args.weights == "none" else args.weights
batch_size = args.batch_size

# The seven lines:
vgg = Vgg16(weights=weights, size=(args.size, args.size))
batches = vgg.get_batches(args.path + "/train", batch_size=batch_size)
val_batches = vgg.get_batches(args.path + "/valid", batch_size=batch_size * 2)
vgg.finetune(batches)
vgg.fit(batches, val_batches, nb_epoch=1)
