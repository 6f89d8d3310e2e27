"""Stand-in data for the image notebooks of the course's part 1 that port_coverage.py runs, each in
the layout its notebook reads, made from the images of one `vggcourse.sample` sample (links, not
copies) and scikit-learn's digits. Only whether cells run is measured: the pixels mean nothing.

    make_fish(root, images); make_state(root, images); make_imagenet(root, images)
    make_mnist(root)   # data/mnist/models/ and MNIST_data/train.npz

`images` is a list of JPEG paths (the sample's train images); `root` is the run's folder (the
notebooks' working directory). Counts follow what the notebooks move and copy: lesson 7 moves 500
training images to valid/ and copies 400 + 200 into sample/, State Farm's sample notebook copies
1,500 + 1,000, so those folders hold that many links (to a few images).
"""
import json
import os
from pathlib import Path

import numpy as np

FISH = ["ALB", "BET", "DOL", "LAG", "NoF", "OTHER", "SHARK", "YFT"]
FISH_TRAIN, FISH_VALID = 120, 30  # per class; sample/ takes 400 of train/, 200 of valid/
FISH_CAMERAS = 4  # distinct images (so sizes) the fish stand-in repeats
FISH_BOXES = {"alb": "ALB", "bet": "BET", "dol": "DOL", "lag": "LAG", "shark": "SHARK", "yft": "YFT"}
STATE_TRAIN, STATE_VALID = 160, 110  # per class c0..c9: sample/ takes 1,500 and 1,000
IMAGENET_CLASSES = 1000


def _link(src, dest):
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.abspath(src), dest)


def make_fish(root, images, test=8):
    """data/fish/ as the notebook's author had it when its cell 4 ran (that cell reads valid/, which
    cells 6-7 make from train/ later): train/ and valid/ of <8 classes>/img_NNNNN.jpg (img_04908.jpg
    among ALB's, the notebook shows its box), models/, annos/<class>_labels.json with one box per image of the six annotated classes (what the
    Kaggle forum's files hold, which the notebook downloads), test/test_stg1/ and test_stg1/."""
    fish = Path(root) / "data" / "fish"
    images = images[:FISH_CAMERAS]  # few image sizes, as the boats' cameras made: the notebook looks
    number = 4908                   # up each valid and test image's size among the training sizes
    boxes = {}
    for c, cls in enumerate(FISH):
        for k in range(FISH_TRAIN + FISH_VALID):
            name = f"img_{number:05d}.jpg"
            _link(images[(c + k) % len(images)], fish / ("train" if k < FISH_TRAIN else "valid") / cls / name)
            boxes.setdefault(cls, []).append({"filename": f"../data/fish/train/{cls}/{name}", "class": "image",
                                              "annotations": [{"class": "rect", "height": 40.0 + k % 7,
                                                               "width": 60.0, "x": 10.0 + k, "y": 20.0}]})
            number += 1
    (fish / "annos").mkdir(parents=True)
    (fish / "models").mkdir()
    for anno, cls in FISH_BOXES.items():
        (fish / "annos" / f"{anno}_labels.json").write_text(json.dumps(boxes[cls]))
    for k in range(test):
        name = f"img_{k:05d}.jpg"
        _link(images[k % len(images)], fish / "test_stg1" / name)
        _link(images[k % len(images)], fish / "test" / "test_stg1" / name)
    return fish


def make_state(root, images, test=8, drivers=("p002", "p012", "p014", "p015", "p016")):
    """data/state/: train/c0..c9 and valid/c0..c9 of img_N.jpg, test/unknown/, and
    driver_imgs_list.csv (subject,classname,img) naming every train and valid image, models/ and
    results/ (the statefarm notebook saves into both; statefarm-sample makes results/ itself)."""
    state = Path(root) / "data" / "state"
    rows = ["subject,classname,img"]
    number = 0
    for split, count in (("train", STATE_TRAIN), ("valid", STATE_VALID)):
        for c in range(10):
            for k in range(count):
                name = f"img_{number}.jpg"
                _link(images[(c + k) % len(images)], state / split / f"c{c}" / name)
                rows.append(f"{drivers[k % len(drivers)]},c{c},{name}")
                number += 1
    (state / "driver_imgs_list.csv").write_text("\n".join(rows) + "\n")
    (state / "models").mkdir()
    (state / "results").mkdir()
    for k in range(test):
        _link(images[k % len(images)], state / "test" / "unknown" / f"img_{number + k}.jpg")
    return state


def make_imagenet(root, images):
    """ImageNet-like folders the imagenet_batchnorm notebook's paths name: data/imagenet/{train,valid}
    (where its sample-making cells start) and data/jhoward/imagenet/{train,valid} with
    sample/{train,valid,results} beside them: 1,000 class folders (n00000000 ...) of one .JPEG each
    (the notebook's dense layers end in 1,000 classes)."""
    root = Path(root) / "data"
    wnids = [f"n{k:08d}" for k in range(IMAGENET_CLASSES)]
    for folder in ("imagenet", "jhoward/imagenet", "jhoward/imagenet/sample"):
        for split in ("train", "valid"):
            for k, wnid in enumerate(wnids):
                _link(images[k % len(images)], root / folder / split / wnid / f"{wnid}_{k}.JPEG")
    for folder in ("jhoward/imagenet/results", "jhoward/imagenet/models", "jhoward/imagenet/sample/results"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    return root / "jhoward" / "imagenet"


def make_mnist(root):
    """data/mnist/models/ (the mnist notebook saves its models there) and MNIST_data/train.npz as
    convolution-intro reads it (`images` float32 (n, 28, 28) in 0-1, `labels`; written by a cell the
    notebook keeps as a string), from `vggcourse.sample.mnist_standin()`'s training part."""
    from vggcourse.sample import mnist_standin

    (Path(root) / "data" / "mnist" / "models").mkdir(parents=True)
    (x, y), _ = mnist_standin()
    (Path(root) / "MNIST_data").mkdir()
    np.savez_compressed(Path(root) / "MNIST_data" / "train", images=x.astype(np.float32) / 255, labels=y)
