"""Writes lesson1.ipynb and dogs_cats_redux.ipynb from the cell lists below.

    python notebooks/make_notebooks.py      # after editing a cell here

The notebooks are the course's two, ported to vggcourse: same sections, same teaching flow. The
first code cell of each is tagged `parameters`; tests/test_notebooks.py replaces it to run them
quickly (small images, random weights) and fails on any cell error.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def md(text):
    return new_markdown_cell(text.strip())


def code(text, tags=()):
    cell = new_code_cell(text.strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


LESSON1 = [
    md("""
# Using Convolutional Neural Networks (lesson 1, on vggcourse)

The course's lesson 1, ported to Keras 3 and Python 3. We use a pretrained VGG16 to tell dogs from
cats: first as the ImageNet classifier it is, then fine-tuned to our two classes.

Set `path` to your data: the course layout `train/cats`, `train/dogs`, `valid/cats`, `valid/dogs`
(`vggcourse prepare` builds it from Kaggle's download; see the README). It points at the small
sample that ships beside this repository, so every cell runs as it is.
"""),
    code("""
# Parameters: where the data is, and how big the images and batches are.
path = "../../shared/data/dogscats/"
size = (224, 224)
batch_size = 64
# "imagenet" loads Keras' published VGG16 weights (see the README to get them offline);
# None starts from random weights, which only makes sense to check that the code runs.
weights = "imagenet"
""", tags=("parameters",)),
    code("""
%matplotlib inline
import numpy as np
from vggcourse import Vgg16
from vggcourse.utils import plots
if weights is None:
    print("Random weights: the predictions below are meaningless; set weights='imagenet'.")
"""),
    md("""
## Use a pretrained VGG model with our **Vgg16** class

Our first step is simply to use a model that has been fully created for us, which can recognise a
wide variety (1,000 categories) of images. These seven lines are the whole fine-tune:
"""),
    code("""
vgg = Vgg16(weights=weights, size=size)
# Grab a few images at a time for training and validation.
batches = vgg.get_batches(path + "train", batch_size=batch_size)
val_batches = vgg.get_batches(path + "valid", batch_size=batch_size * 2)
vgg.finetune(batches)
vgg.fit(batches, val_batches, nb_epoch=1)
"""),
    md("""
## Use Vgg16 for basic image recognition

Let's look at the ImageNet classifier first. `get_batches` gives batches of images and their
labels; `plots` shows them with their one-hot labels as titles.
"""),
    code("""
vgg = Vgg16(weights=weights, size=size)
batches = vgg.get_batches(path + "train", batch_size=4)
imgs, labels = next(batches)
plots(imgs, titles=labels)
"""),
    md("""
`predict` returns, for each image, the probability of its most likely ImageNet class, the class
index, and the class name.
"""),
    code("""
vgg.predict(imgs, True)
"""),
    code("""
vgg.classes[:4]
"""),
    md("""
## Use our Vgg16 class to finetune a Dogs vs Cats model

`finetune` replaces the 1,000-way ImageNet layer with one output per class folder (here `cats` and
`dogs`) and freezes everything else; `fit` then trains that new layer. vggcourse computes the frozen
body's output once and reuses it, so extra epochs cost little.
"""),
    code("""
batches = vgg.get_batches(path + "train", batch_size=batch_size)
val_batches = vgg.get_batches(path + "valid", batch_size=batch_size * 2)
vgg.finetune(batches)
vgg.fit(batches, val_batches, nb_epoch=1)
vgg.classes
"""),
    md("""
## Create a VGG model from scratch in Keras

For the rest of this notebook we build VGG16 ourselves, layer by layer, to see that there is no
magic in it. First, the 1,000 ImageNet class names, which ship inside vggcourse:
"""),
    code("""
from vggcourse.preprocessing import imagenet_class_names

classes = imagenet_class_names()
classes[:5]
"""),
    md("""
### Model creation

VGG is made of blocks of 3x3 convolutions followed by a max-pooling layer, then two dense layers
of 4,096 units with dropout, then a 1,000-way softmax. The model takes RGB pixels 0-255: its first
layer, `VggPreprocess`, subtracts the ImageNet mean and reorders RGB to BGR as the original VGG
authors did. (In 2016 this was a `Lambda` layer; a named layer saves and loads safely.)
"""),
    code("""
import keras
from keras import layers
from vggcourse.preprocessing import VggPreprocess


def ConvBlock(n_layers, model, filters, block):
    for i in range(n_layers):
        model.add(layers.Conv2D(filters, 3, padding="same", activation="relu",
                                name=f"block{block}_conv{i + 1}"))
    model.add(layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool"))


def FCBlock(model, n):
    model.add(layers.Dense(4096, activation="relu", name=f"fc{n}"))
    model.add(layers.Dropout(0.5, name=f"fc{n}_dropout"))


def VGG_16(size=(224, 224)):
    model = keras.Sequential([keras.Input((*size, 3)), VggPreprocess(name="preprocess")])
    ConvBlock(2, model, 64, 1)
    ConvBlock(2, model, 128, 2)
    ConvBlock(3, model, 256, 3)
    ConvBlock(3, model, 512, 4)
    ConvBlock(3, model, 512, 5)
    model.add(layers.Flatten(name="flatten"))
    FCBlock(model, 1)
    FCBlock(model, 2)
    model.add(layers.Dense(1000, activation="softmax", name="predictions"))
    return model
"""),
    code("""
model = VGG_16(size)
model.summary()
"""),
    md("""
We give our layers the same names as Keras' published weights file, so the ImageNet weights load
into them by name. vggcourse finds the file in the Keras cache (or downloads it) and checks its
hash first.
"""),
    code("""
from vggcourse import weights as vgg_weights

if weights is not None:
    fpath = vgg_weights.get_weights_file("vgg16")
    vgg_weights.load_weights(model, fpath)
"""),
    md("""
### Getting ImageNet predictions

Our own `get_batches`, as in the course: batches of images with their labels.
"""),
    code("""
from vggcourse.image import ImageDataGenerator


def get_batches(dirname, gen=None, shuffle=True, batch_size=4, class_mode="categorical"):
    gen = gen or ImageDataGenerator()
    return gen.flow_from_directory(path + dirname, target_size=size, class_mode=class_mode,
                                   shuffle=shuffle, batch_size=batch_size)


batches = get_batches("train", batch_size=4)
val_batches = get_batches("valid", batch_size=4)
imgs, labels = next(batches)
plots(imgs, titles=labels)
"""),
    code("""
def pred_batch(imgs):
    preds = model.predict(imgs, verbose=0)
    idxs = np.argmax(preds, axis=1)
    print(f"Shape: {preds.shape}")
    print(f"First 5 classes: {classes[:5]}")
    print(f"First 5 probabilities: {preds[0, :5]}\\n")
    print("Predictions prob/class: ")
    for i, idx in enumerate(idxs):
        print(f"  {preds[i, idx]:.4f}/{classes[idx]}")


pred_batch(imgs)
"""),
]


REDUX = [
    md("""
# Dogs vs Cats Redux (on vggcourse)

The course's Kaggle notebook, ported to Keras 3 and Python 3: prepare Kaggle's download, fine-tune
VGG16, look at what it gets right and wrong, and write a submission.

Set `DATA_HOME_DIR` to the folder holding Kaggle's unzipped `train/` (`cat.0.jpg`, `dog.0.jpg`, ...)
and `test/` (`1.jpg`, ...). Left as `None`, the notebook builds a Kaggle-style folder from the small
sample beside this repository in a scratch directory, so every cell runs as it is.
"""),
    code("""
# Parameters
DATA_HOME_DIR = None          # your Kaggle folder, e.g. "data/redux"
sample_path = "../../shared/data/dogscats/"
size = (224, 224)
batch_size = 64
no_of_epochs = 3
n_valid, n_sample_train, n_sample_valid = 2000, 200, 50
weights = "imagenet"          # None: random weights, only to check that the code runs
""", tags=("parameters",)),
    code("""
%matplotlib inline
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from vggcourse import Vgg16, Interpretation
from vggcourse.utils import save_array, load_array, plots
from vggcourse import kaggle
from vggcourse.prepare import prepare_kaggle
"""),
    code("""
from_sample = DATA_HOME_DIR is None
if from_sample:
    # A Kaggle-style download made from the sample: flat train/ and test/.
    DATA_HOME_DIR = Path(tempfile.mkdtemp()) / "redux"
    (DATA_HOME_DIR / "train").mkdir(parents=True)
    (DATA_HOME_DIR / "test").mkdir()
    for f in Path(sample_path).glob("*/*/*.jpg"):
        if f.parts[-3] == "test":
            shutil.copy(f, DATA_HOME_DIR / "test" / f.name)
        else:
            shutil.copy(f, DATA_HOME_DIR / "train" / f.name)
    n_valid, n_sample_train, n_sample_valid = 60, 40, 20
DATA_HOME_DIR = Path(DATA_HOME_DIR)
print(DATA_HOME_DIR, len(os.listdir(DATA_HOME_DIR / "train")), "training images")
"""),
    md("""
## Create validation set and sample

The course moved 2,000 random training images to `valid/`, copied a small `sample/`, sorted files
into `cats/` and `dogs/`, and moved the test images to `test/unknown/`, with shell commands.
`prepare_kaggle` does the same, seeded, and is safe to run twice: a second run changes nothing.
"""),
    code("""
prepare_kaggle(DATA_HOME_DIR, valid=n_valid, sample_train=n_sample_train, sample_valid=n_sample_valid)
"""),
    code("""
prepare_kaggle(DATA_HOME_DIR, valid=n_valid, sample_train=n_sample_train, sample_valid=n_sample_valid)
sorted(p.name for p in DATA_HOME_DIR.iterdir())
"""),
    md("""
## Finetuning and Training
"""),
    code("""
path = DATA_HOME_DIR
test_path = path / "test"
results_path = path / "results"
train_path = path / "train"
valid_path = path / "valid"
results_path.mkdir(exist_ok=True)
"""),
    code("""
vgg = Vgg16(weights=weights, size=size)
batches = vgg.get_batches(train_path, batch_size=batch_size)
val_batches = vgg.get_batches(valid_path, batch_size=batch_size * 2)
vgg.finetune(batches)
"""),
    md("""
The course set `vgg.model.optimizer.lr = 0.01`. In Keras 3 that line silently does nothing; the
working way is `vgg.set_lr(0.01)` (or `vgg.fit(..., lr=0.01)`).
"""),
    code("""
vgg.set_lr(0.01)
"""),
    md("""
We train one epoch at a time and save the weights after each, as the course did. Only the first
epoch runs the frozen VGG body over the images; the others reuse its cached output.
"""),
    code("""
latest_weights_filename = None
for epoch in range(no_of_epochs):
    print(f"Running epoch: {epoch}")
    vgg.fit(batches, val_batches, nb_epoch=1)
    latest_weights_filename = f"ft{epoch}.h5"
    vgg.model.save_weights(results_path / latest_weights_filename)
print(f"Completed {no_of_epochs} fit operations")
"""),
    md("""
## Generate Predictions

`test` predicts every image under `test/` in a fixed order: `batches.filenames[i]` is the file of
`preds[i]`. We keep both with `save_array` (the course used bcolz).
"""),
    code("""
batches, preds = vgg.test(test_path, batch_size=batch_size * 2)
filenames = batches.filenames
print(preds[:5])
print(filenames[:5])
save_array(results_path / "test_preds.npy", preds)
save_array(results_path / "filenames.npy", np.array(filenames))
"""),
    md("""
## Validate Predictions

Keras' fit shows validation accuracy, but let's look at the images too: which ones did the model
get right, which wrong, which was it most and least sure of? `Interpretation` does what the course
did by hand with `np.where` and `permutation`.
"""),
    code("""
vgg.model.load_weights(results_path / latest_weights_filename)
interp = Interpretation.from_vgg(vgg, val_batches)
print(f"accuracy {interp.accuracy():.4f}")
n_view = 4
"""),
    md("1. A few correct labels at random"),
    code("interp.plot_random_correct(n_view);"),
    md("2. A few incorrect labels at random"),
    code("interp.plot_random_incorrect(n_view);"),
    md("3. The images we were most confident were cats, and are actually cats (and the same for dogs)"),
    code("""
for cls in interp.class_names:
    interp.plot_most_confident_correct(cls, n_view)
"""),
    md("4. The images we were most confident were cats, but are actually dogs (and the other way round)"),
    code("""
for cls in interp.class_names:
    interp.plot_most_confident_incorrect(cls, n_view)
"""),
    md("5. The most uncertain labels (probability closest to 0.5)"),
    code("interp.plot_most_uncertain(n_view);"),
    md("Perhaps the most common way to analyse the result of a classification model is a confusion matrix."),
    code("""
cm = interp.confusion_matrix()
print(cm)
interp.plot_confusion_matrix();
"""),
    md("""
## Submit Predictions to Kaggle!

The label column is the probability of *dog*, picked by class name, never by column position. The
competition scores log loss, so a confident mistake costs a lot: we clip probabilities to
[0.05, 0.95]. `write_submission` checks every row before it writes anything.
"""),
    code("""
preds = load_array(results_path / "test_preds.npy")
filenames = load_array(results_path / "filenames.npy")
submission_file_name = results_path / "submission1.csv"
kaggle.write_submission(submission_file_name, preds, filenames=filenames,
                        class_indices=vgg.classes, positive="dogs", clip=(0.05, 0.95))
print(open(submission_file_name).read()[:120])
"""),
    md("We have the true labels of the sample's test images, so we can score the submission locally:"),
    code("""
if from_sample:
    print(kaggle.score_submission(submission_file_name, Path(sample_path) / "test_labels.csv"))
"""),
]


def write(name, cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    write("lesson1.ipynb", LESSON1)
    write("dogs_cats_redux.ipynb", REDUX)
