"""Writes the course's notebooks from the cell lists below: lesson1, lesson2, lesson3,
dogscats_ensemble, dogs_cats_redux, mnist, statefarm and lesson7; and finetune_today (today's fine-tuning calls);
and from `text_lessons.py` beside it: lesson4, lesson5 and lesson6.

    python notebooks/make_notebooks.py      # after editing a cell here

The notebooks are the course's, ported to vggcourse: same sections, same teaching flow. Lessons 2
and 3 keep the course's Keras 1 calls (`fit_generator`, `nb_epoch`, `RMSprop(lr=)`, `K.set_value`),
which `vggcourse.utils` / `vggcourse.keras1` provide; where the course's code had a bug, a markdown
cell says what it was and the code does the right thing. The
first code cell of each is tagged `parameters`; tests/test_notebooks.py replaces it to run them
quickly (small images, random weights) and fails on any cell error.
"""
import hashlib
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the cell makers and the text lessons beside this file
from _cells import code, md  # noqa: E402
from text_lessons import LESSON4, LESSON5, LESSON6  # noqa: E402


# Where the notebooks' data is by default: said once, in every notebook's first cell.
SAMPLE_NOTE = """\
As it is, the notebook reads `../data/sample/`, a small stand-in that one command writes (from the
repository root): `vggcourse sample data/sample`. It is cut from the two photographs scikit-learn
ships, in the course layout, so every cell runs as it is; accuracy on it means nothing."""


LESSON1 = [
    md("""
# Using Convolutional Neural Networks (lesson 1, on vggcourse)

The course's lesson 1, ported to Keras 3 and Python 3. We use a pretrained VGG16 to tell dogs from
cats: first as the ImageNet classifier it is, then fine-tuned to our two classes.

Set `path` to your data: the course layout `train/cats`, `train/dogs`, `valid/cats`, `valid/dogs`
(`vggcourse prepare` builds it from Kaggle's download; see the README).

""" + SAMPLE_NOTE),
    code("""
# Parameters: where the data is, and how big the images and batches are.
path = "../data/sample/"
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


LESSON2 = [
    md("""
# Fine-tuning, step by step (lesson 2, on vggcourse)

The course's lesson 2, ported to Keras 3 and Python 3. `vgg.finetune` replaced VGG16's last layer
and trained it; here we open that up: a linear model on the ImageNet model's 1,000 predictions,
then retraining the last layer of the network itself, then every dense layer. The course's
Keras 1 spellings (`nb_epoch`, `fit_generator`, `RMSprop(lr=...)`, `K.set_value(opt.lr, ...)`,
`predict_classes`) work as they are, from `vggcourse.utils`.

Set `path` to your data in the course layout (`train/cats`, `train/dogs`, `valid/...`).

""" + SAMPLE_NOTE),
    code("""
# Parameters
path = "../data/sample/"
model_path = "models/"       # where arrays and weights are saved
size = (224, 224)
batch_size = 64
epochs = 3
weights = "imagenet"         # None: random weights, only to check that the code runs
""", tags=("parameters",)),
    code("""
%matplotlib inline
import os

import numpy as np
from vggcourse import Vgg16
from vggcourse.utils import (Dense, K, RMSprop, SGD, Sequential, confusion_matrix, get_batches, get_data,
                             image, load_array, onehot, permutation, plot_confusion_matrix, plots, random,
                             save_array)

os.makedirs(model_path, exist_ok=True)
if weights is None:
    print("Random weights: every accuracy below is meaningless; set weights='imagenet'.")
"""),
    md("""
## A linear model

Before images: fit `y = 2 x1 + 3 x2 + 1` with one dense layer and plain SGD. The loss falls and the
weights come out close to (2, 3) and 1.
"""),
    code("""
x = random((30, 2))
y = np.dot(x, [2., 3.]) + 1.
lm = Sequential([Dense(1, input_shape=(2,))])
lm.compile(optimizer=SGD(lr=0.1), loss="mse")
print("loss before:", lm.evaluate(x, y, verbose=0))
lm.fit(x, y, nb_epoch=5, batch_size=1, verbose=0)
print("loss after: ", lm.evaluate(x, y, verbose=0))
lm.get_weights()
"""),
    md("""
## A linear model on ImageNet predictions

Load every image into memory once (`get_data`), in file order, and keep the arrays on disk with
`save_array` (the course used bcolz; this is one `.npy` file under the course's names).
"""),
    code("""
val_batches = get_batches(path + "valid", shuffle=False, batch_size=1, target_size=size)
batches = get_batches(path + "train", shuffle=False, batch_size=1, target_size=size)
val_data = get_data(path + "valid", target_size=size)
trn_data = get_data(path + "train", target_size=size)
save_array(model_path + "train_data.bc", trn_data)
save_array(model_path + "valid_data.bc", val_data)
trn_data = load_array(model_path + "train_data.bc")
val_data = load_array(model_path + "valid_data.bc")
trn_data.shape
"""),
    code("""
val_classes = val_batches.classes
trn_classes = batches.classes
val_labels = onehot(val_classes)
trn_labels = onehot(trn_classes)
trn_labels[:4]
"""),
    md("The ImageNet model's 1,000 probabilities for every image are the inputs of our linear model."),
    code("""
vgg = Vgg16(weights=weights, size=size)
model = vgg.model
trn_features = model.predict(trn_data, batch_size=batch_size, verbose=0)
val_features = model.predict(val_data, batch_size=batch_size, verbose=0)
save_array(model_path + "train_lastlayer_features.bc", trn_features)
save_array(model_path + "valid_lastlayer_features.bc", val_features)
trn_features.shape
"""),
    code("""
# 1000 inputs (the saved predictions), 2 outputs: cat and dog
lm = Sequential([Dense(2, activation="softmax", input_shape=(1000,))])
lm.compile(optimizer=RMSprop(lr=0.1), loss="categorical_crossentropy", metrics=["accuracy"])
lm.fit(trn_features, trn_labels, nb_epoch=epochs, batch_size=batch_size,
       validation_data=(val_features, val_labels), verbose=2)
lm.summary()
"""),
    code("""
# The classes, and the probability of being a cat
preds = lm.predict_classes(val_features, batch_size=batch_size, verbose=0)
probs = lm.predict_proba(val_features, batch_size=batch_size, verbose=0)[:, 0]
filenames = val_batches.filenames
n_view = 4
preds[:8], probs[:8]
"""),
    md("""
Let's look at some images. One bug of the course is fixed here: its "most uncertain" plot passed
the probabilities of *all* images as titles of the first four (`probs[most_uncertain]`), which
Keras 1-era `plots` silently cut; we pass the four that belong to the images shown.
"""),
    code("""
def plots_idx(idx, titles=None):
    plots([image.load_img(path + "valid/" + filenames[i]) for i in idx], titles=titles)


correct = np.where(preds == val_labels[:, 1])[0]
idx = permutation(correct)[:n_view]
plots_idx(idx, probs[idx])
"""),
    code("""
most_uncertain = np.argsort(np.abs(probs - 0.5))[:n_view]
plots_idx(most_uncertain, probs[most_uncertain])
"""),
    code("""
cm = confusion_matrix(val_classes, preds)
plot_confusion_matrix(cm, val_batches.class_indices);
"""),
    md("""
## Retrain the last layer

Now the network itself: remove its 1,000-way softmax, freeze everything else, and add a 2-way
softmax. This is exactly what `vgg.finetune` does. We train it from the images held in memory,
with the course's `fit_generator` and sample counts.
"""),
    code("""
model.pop()
for layer in model.layers:
    layer.trainable = False
model.add(Dense(2, activation="softmax"))

gen = image.ImageDataGenerator()
batches = gen.flow(trn_data, trn_labels, batch_size=batch_size, shuffle=True)
val_batches = gen.flow(val_data, val_labels, batch_size=batch_size, shuffle=False)


def fit_model(model, batches, val_batches, nb_epoch=1):
    model.fit_generator(batches, samples_per_epoch=batches.n, nb_epoch=nb_epoch,
                        validation_data=val_batches, nb_val_samples=val_batches.n, verbose=2)
"""),
    code("""
opt = RMSprop(lr=0.1)
model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
fit_model(model, batches, val_batches, nb_epoch=epochs)
model.save_weights(model_path + "finetune1.h5")
model.load_weights(model_path + "finetune1.h5")
model.evaluate(val_data, val_labels, verbose=0)
"""),
    code("""
preds = model.predict_classes(val_data, batch_size=batch_size, verbose=0)
cm = confusion_matrix(val_classes, preds)
plot_confusion_matrix(cm, {"cat": 0, "dog": 1});
"""),
    md("""
## Retrain every dense layer

Unfreeze the first dense layer and everything after it, and train at a lower rate.

A bug of the course is fixed here: it changed `trainable` and went on training without compiling
again. In Keras 1 (and Keras 3) a change of `trainable` takes effect when the model is compiled,
so its dense layers never trained. We compile again with the same `opt`; `K.set_value(opt.lr, ...)`
then sets the rate of the recompiled model too.
"""),
    code("""
layers = model.layers
first_dense_idx = [index for index, layer in enumerate(layers) if isinstance(layer, Dense)][0]
for layer in layers[first_dense_idx:]:
    layer.trainable = True
model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
K.set_value(opt.lr, 0.01)
print(f"learning rate: {K.get_value(model.optimizer.lr):g}")
fit_model(model, batches, val_batches, epochs)
model.save_weights(model_path + "finetune2.h5")
"""),
    md("Evaluate on the validation folder, read again from disk in file order:"),
    code("""
model.load_weights(model_path + "finetune2.h5")
loss, acc = model.evaluate_generator(get_batches(path + "valid", gen, False, batch_size * 2, target_size=size),
                                     val_batches.n)
print(f"validation loss {loss:.4f}, accuracy {acc:.4f}")
"""),
]


LESSON3 = [
    md("""
# Under- and over-fitting (lesson 3, on vggcourse)

The course's lesson 3, ported to Keras 3 and Python 3: split the fine-tuned VGG16 at its last
convolution, compute the convolutional features once, train new dense layers on them without
dropout, then with data augmentation, then with batch normalisation.

The course started from lesson 2's fine-tuned weights (`finetune3.h5`); set `finetuned` to such a
file if you have one.

""" + SAMPLE_NOTE),
    code("""
# Parameters
path = "../data/sample/"
model_path = "models/"
size = (224, 224)
batch_size = 64
epochs = 8            # epochs on the stored features
aug_epochs = 3        # epochs of the whole model on augmented images
weights = "imagenet"  # None: random weights, only to check that the code runs
finetuned = None      # e.g. model_path + "finetune3.h5" from lesson 2
""", tags=("parameters",)),
    code("""
%matplotlib inline
import os

import numpy as np
from matplotlib import pyplot as plt
from vggcourse.utils import (Adam, BatchNormalization, Convolution2D, Dense, Dropout, Flatten, K, MaxPooling2D,
                             RMSprop, Sequential, Vgg16BN, copy_weights, get_batches, image, imread,
                             load_array, onehot, output_shape_of, plots, save_array, split_at, vgg_ft)

os.makedirs(model_path, exist_ok=True)
if weights is None:
    print("Random weights: every accuracy below is meaningless; set weights='imagenet'.")
model = vgg_ft(2, weights=weights, size=size)
if finetuned:
    model.load_weights(finetuned)
"""),
    md("""
## Split the model at the last convolution

The convolutional layers hold almost all the computation and the dense layers almost all the
weights. Split there, and run the convolutional part once over every image. Shapes are
channels-last: the course's `(512, 14, 14)` is `(14, 14, 512)` here. (Keras 3 layers have no
`output_shape`; `output_shape_of(layer)` reads it.)
"""),
    code("""
layers = model.layers
last_conv_idx = [index for index, layer in enumerate(layers) if isinstance(layer, Convolution2D)][-1]
conv_layers = layers[:last_conv_idx + 1]
conv_model = Sequential(conv_layers)
fc_layers = layers[last_conv_idx + 1:]   # the same split as split_at(model, Convolution2D)
print(layers[last_conv_idx].name, output_shape_of(conv_layers[-1]))
"""),
    code("""
batches = get_batches(path + "train", shuffle=False, batch_size=batch_size, target_size=size)
val_batches = get_batches(path + "valid", shuffle=False, batch_size=batch_size, target_size=size)
val_classes, trn_classes = val_batches.classes, batches.classes
val_labels, trn_labels = onehot(val_classes), onehot(trn_classes)

# Run the convolutional layers once; keep their output on disk.
for name, some_batches in (("train", batches), ("valid", val_batches)):
    features = conv_model.predict_generator(some_batches, some_batches.nb_sample)
    save_array(f"{model_path}{name}_convlayer_features.bc", features)
trn_features = load_array(model_path + "train_convlayer_features.bc")
val_features = load_array(model_path + "valid_convlayer_features.bc")
trn_features.shape
"""),
    md("""
## Remove dropout

A model that underfits (training accuracy below validation accuracy) can afford less
regularisation: new dense layers with the same weights, without dropout.

A bug of the course is fixed here. It halved the copied weights (`proc_wgts`: `o / 2`), reasoning
that with dropout 0.5 each unit saw half its inputs. But Keras' dropout (in Keras 1 too) is
"inverted": it scales the kept activations by 1 / (1 - p) *during training*, so the trained
weights are already right for a network without dropout. We copy them unchanged, and check it:
the new dense part, fed the stored features, predicts exactly what the whole model predicts.
"""),
    code("""
opt = RMSprop(lr=0.00001, rho=0.7)


def get_fc_model():
    model = Sequential([
        MaxPooling2D(input_shape=output_shape_of(conv_layers[-1])[1:]),
        Flatten(),
        Dense(4096, activation="relu"),
        Dropout(0.),
        Dense(4096, activation="relu"),
        Dropout(0.),
        Dense(2, activation="softmax"),
    ])
    for l1, l2 in zip(model.layers, fc_layers):
        l1.set_weights(l2.get_weights())
    model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


fc_model = get_fc_model()
same = np.allclose(fc_model.predict(val_features, verbose=0),
                   model.predict_generator(val_batches, val_batches.nb_sample), atol=1e-5)
print("without dropout, same predictions as the whole model:", same)
"""),
    code("""
fc_model.fit(trn_features, trn_labels, nb_epoch=epochs, batch_size=batch_size,
             validation_data=(val_features, val_labels), verbose=2)
fc_model.save_weights(model_path + "no_dropout.h5")
fc_model.load_weights(model_path + "no_dropout.h5")
"""),
    md("""
## Data augmentation

To fight over-fitting, show the model a randomly changed version of each image every epoch.
Here are eight random versions of one image. (The course switched Keras to channels-last for this
plot and back with `K.set_image_dim_ordering('th')`; vggcourse is channels-last throughout.)
"""),
    code("""
gen = image.ImageDataGenerator(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1,
                               shear_range=0.15, zoom_range=0.1, channel_shift_range=10., horizontal_flip=True)
img = np.expand_dims(imread(path + "train/" + batches.filenames[0]), 0)
aug_iter = gen.flow(img)
aug_imgs = [next(aug_iter)[0].astype(np.uint8) for i in range(8)]
plt.imshow(img[0])
plots(aug_imgs, (20, 7), 2);
"""),
    md("""
Train the whole model on augmented images: the convolutional part stays frozen, the new dense
part on top of it trains. Augmented images differ every epoch, so nothing can be precomputed.
"""),
    code("""
gen = image.ImageDataGenerator(rotation_range=15, width_shift_range=0.1, height_shift_range=0.1,
                               zoom_range=0.1, horizontal_flip=True)
batches = get_batches(path + "train", gen, batch_size=batch_size, target_size=size)
# We don't want to augment or shuffle the validation set
val_batches = get_batches(path + "valid", shuffle=False, batch_size=batch_size, target_size=size)

fc_model = get_fc_model()
for layer in conv_model.layers:
    layer.trainable = False
conv_model.add(fc_model)
conv_model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
conv_model.fit_generator(batches, samples_per_epoch=batches.nb_sample, nb_epoch=aug_epochs,
                         validation_data=val_batches, nb_val_samples=val_batches.nb_sample, verbose=2)
conv_model.save_weights(model_path + "aug1.h5")
"""),
    md("""
## Batch normalisation

Batch normalisation after each dense layer lets us train faster and with more dropout. The dense
weights come from `Vgg16BN`, whose dense layers were trained with batch norm.

The course's second `proc_wgts` (scaling the dense weights by (1 - 0.5) / (1 - 0.6) when moving
dropout from 0.5 to 0.6) is left out for the reason above: Keras' dropout already rescales.
"""),
    code("""
def get_bn_layers(p):
    return [
        MaxPooling2D(input_shape=output_shape_of(conv_layers[-1])[1:]),
        Flatten(),
        Dense(4096, activation="relu"),
        BatchNormalization(),
        Dropout(p),
        Dense(4096, activation="relu"),
        BatchNormalization(),
        Dropout(p),
        Dense(1000, activation="softmax"),
    ]


def load_fc_weights_from_vgg16bn(model):
    "Load weights for model from the dense layers of the Vgg16BN model."
    vgg16_bn = Vgg16BN(weights=weights, size=size)
    _, fc_layers = split_at(vgg16_bn.model, Convolution2D)
    copy_weights(fc_layers, model.layers)


p = 0.6
bn_model = Sequential(get_bn_layers(p))
load_fc_weights_from_vgg16bn(bn_model)
bn_model.pop()
for layer in bn_model.layers:
    layer.trainable = False
bn_model.add(Dense(2, activation="softmax"))
bn_model.compile(Adam(), "categorical_crossentropy", metrics=["accuracy"])
bn_model.fit(trn_features, trn_labels, nb_epoch=epochs, validation_data=(val_features, val_labels), verbose=2)
bn_model.save_weights(model_path + "bn.h5")
"""),
    md("""
Put the convolutional layers and the batch-norm dense layers together, copy the trained weights
in, and train the whole model on augmented images; then lower the learning rate the course's way,
`model.optimizer.lr = ...`, and train again. In Keras 1 that line silently did nothing (it
replaced the rate variable that the compiled model used with a plain number; `K.set_value` was
the working way). Here `lr` is a property that really sets the rate.
"""),
    code("""
bn_layers = get_bn_layers(p)
bn_layers.pop()
bn_layers.append(Dense(2, activation="softmax"))
final_model = Sequential(conv_layers)
for layer in final_model.layers:
    layer.trainable = False
for layer in bn_layers:
    final_model.add(layer)
for l1, l2 in zip(bn_model.layers, bn_layers):
    l2.set_weights(l1.get_weights())
final_model.compile(optimizer=Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
final_model.fit_generator(batches, samples_per_epoch=batches.nb_sample, nb_epoch=aug_epochs,
                          validation_data=val_batches, nb_val_samples=val_batches.nb_sample, verbose=2)
final_model.save_weights(model_path + "final1.h5")
"""),
    code("""
final_model.optimizer.lr = 0.0001
print(f"learning rate: {K.get_value(final_model.optimizer.lr):g}")
final_model.fit_generator(batches, samples_per_epoch=batches.nb_sample, nb_epoch=aug_epochs,
                          validation_data=val_batches, nb_val_samples=val_batches.nb_sample, verbose=2)
final_model.save_weights(model_path + "final2.h5")
"""),
]


ENSEMBLE = [
    md("""
# An ensemble of fine-tuned VGG16 models (dogscats-ensemble, on vggcourse)

The course's dogscats-ensemble notebook, ported to Keras 3 and Python 3: train several models that
differ only in their random initialisation and the order of their data, and average their
predictions. Each model gets a batch-normalised last layer trained on stored features, then new
dense layers trained on the convolutional features, then data augmentation.

Three bugs of the course's notebook are fixed here, each where it happens (see the notes below).

""" + SAMPLE_NOTE),
    code("""
# Parameters
path = "../data/sample/"
model_path = "models/"
size = (224, 224)
batch_size = 64
n_models = 5
ll_epochs = 12        # last layer, on stored features
fc_epochs = 2         # dense layers, on stored convolutional features
aug_epochs = 1        # whole model, on augmented images
weights = "imagenet"  # None: random weights, only to check that the code runs
""", tags=("parameters",)),
    code("""
%matplotlib inline
import os

import numpy as np
from vggcourse.utils import (Adam, BatchNormalization, Convolution2D, Dense, Dropout, Flatten, K, MaxPooling2D,
                             Sequential, Vgg16, categorical_accuracy, get_batches, get_classes, get_data, image,
                             output_shape_of, save_array, split_at)

os.makedirs(model_path, exist_ok=True)
if weights is None:
    print("Random weights: every accuracy below is meaningless; set weights='imagenet'.")
batches = get_batches(path + "train", shuffle=False, batch_size=batch_size, target_size=size)
val_batches = get_batches(path + "valid", shuffle=False, batch_size=batch_size, target_size=size)
(val_classes, trn_classes, val_labels, trn_labels, val_filenames, filenames, test_filenames) = get_classes(path)
"""),
    md("""
## Features computed once

The convolutional features, the images themselves (for augmentation), and the output of the last
hidden dense layer (`fc2`) for every image.
"""),
    code("""
model = Vgg16(weights=weights, size=size).model
conv_layers, fc_layers = split_at(model, Convolution2D)
conv_model = Sequential(conv_layers)
val_features = conv_model.predict_generator(val_batches, val_batches.nb_sample)
trn_features = conv_model.predict_generator(batches, batches.nb_sample)
save_array(model_path + "train_convlayer_features.bc", trn_features)
trn = get_data(path + "train", target_size=size)
val = get_data(path + "valid", target_size=size)
model.pop()   # the 1000-way softmax
model.pop()   # and the dropout before it: the output is fc2's
ll_val_feat = model.predict_generator(val_batches, val_batches.nb_sample)
ll_feat = model.predict_generator(batches, batches.nb_sample)
ll_feat.shape
"""),
    md("""
## Train a last layer, then the dense layers

Two bugs of the course are fixed in these functions:
- `train_last_layer` trained the new last layer on the output of `fc2`, then popped *three*
  layers from a fresh VGG16 (removing `fc2` itself) and put the trained layers after `fc1`. We pop
  two, so they sit where they were trained.
- Its `ll_model.optimizer.lr = 1e-5` did nothing in Keras 1 (it replaced the rate variable the
  compiled model used with a plain number). Here `lr` really sets the rate, so the model trains at
  1e-5, as the course meant.
- `train_dense_layers` copied weights between two lists of layers that did not line up (a batch
  norm layer received a dropout layer's weights). Our `get_fc_layers` mirrors the trained model:
  dense, dropout, dense, batch norm, dropout, softmax.
"""),
    code("""
def get_ll_layers():
    return [BatchNormalization(input_shape=(4096,)), Dropout(0.5), Dense(2, activation="softmax")]


def train_last_layer(i):
    ll_model = Sequential(get_ll_layers())
    ll_model.compile(optimizer=Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
    ll_model.optimizer.lr = 1e-5
    ll_model.fit(ll_feat, trn_labels, validation_data=(ll_val_feat, val_labels), nb_epoch=ll_epochs, verbose=0)
    ll_model.save_weights(model_path + "ll_bn" + i + ".h5")

    model = Vgg16(weights=weights, size=size).model
    model.pop(); model.pop()
    for layer in model.layers:
        layer.trainable = False
    for layer in get_ll_layers():
        model.add(layer)
    for l1, l2 in zip(ll_model.layers, model.layers[-3:]):
        l2.set_weights(l1.get_weights())
    model.compile(optimizer=Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def get_fc_layers(p, in_shape):
    return [
        MaxPooling2D(input_shape=in_shape),
        Flatten(),
        Dense(4096, activation="relu"),
        Dropout(p),
        Dense(4096, activation="relu"),
        BatchNormalization(),
        Dropout(p),
        Dense(2, activation="softmax"),
    ]


def train_dense_layers(i, model):
    conv_layers, fc_layers = split_at(model, Convolution2D)
    conv_model = Sequential(conv_layers)
    conv_shape = output_shape_of(conv_model)[1:]
    fc_model = Sequential(get_fc_layers(0.5, conv_shape))
    for l1, l2 in zip(fc_model.layers, fc_layers):
        l1.set_weights(l2.get_weights())
    fc_model.compile(optimizer=Adam(1e-5), loss="categorical_crossentropy", metrics=["accuracy"])
    fc_model.fit(trn_features, trn_labels, nb_epoch=fc_epochs, batch_size=batch_size,
                 validation_data=(val_features, val_labels), verbose=0)

    gen = image.ImageDataGenerator(rotation_range=10, width_shift_range=0.05, zoom_range=0.05,
                                   channel_shift_range=10, height_shift_range=0.05, shear_range=0.05,
                                   horizontal_flip=True)
    batches = gen.flow(trn, trn_labels, batch_size=batch_size)
    val_batches = image.ImageDataGenerator().flow(val, val_labels, shuffle=False, batch_size=batch_size)
    for layer in conv_model.layers:
        layer.trainable = False
    for layer in fc_model.layers:
        conv_model.add(layer)
    conv_model.compile(optimizer=Adam(1e-5), loss="categorical_crossentropy", metrics=["accuracy"])
    conv_model.fit_generator(batches, samples_per_epoch=batches.N, nb_epoch=aug_epochs,
                             validation_data=val_batches, nb_val_samples=val_batches.N, verbose=2)
    conv_model.save_weights(model_path + "aug" + i + ".h5")
    return conv_model
"""),
    md("""
Train the models. (The course then loaded each saved file into a plain `vgg_ft(2)` model, whose
layers differ from these: no batch norm. We keep the trained models themselves.)
"""),
    code("""
models = []
for i in range(n_models):
    i = str(i)
    model = train_last_layer(i)
    models.append(train_dense_layers(i, model))
"""),
    md("""
## Average the predictions

Keras 3's `categorical_accuracy` gives one value per image (Keras 1's gave their mean), hence the
`.mean()`.
"""),
    code("""
val_preds = [m.predict(val, batch_size=batch_size, verbose=0) for m in models]
val_avg_preds = np.stack(val_preds).mean(axis=0)
for i, preds in enumerate(val_preds):
    print(f"model {i}: accuracy {K.eval(categorical_accuracy(val_labels, preds)).mean():.4f}")
print(f"ensemble of {len(models)}: accuracy {K.eval(categorical_accuracy(val_labels, val_avg_preds)).mean():.4f}")
"""),
]


REDUX = [
    md("""
# Dogs vs Cats Redux (on vggcourse)

The course's Kaggle notebook, ported to Keras 3 and Python 3: prepare Kaggle's download, fine-tune
VGG16, look at what it gets right and wrong, and write a submission.

Set `DATA_HOME_DIR` to the folder holding Kaggle's unzipped `train/` (`cat.0.jpg`, `dog.0.jpg`, ...)
and `test/` (`1.jpg`, ...). Left as `None`, the notebook builds a Kaggle-style folder in a scratch
directory from `sample_path`.

""" + SAMPLE_NOTE),
    code("""
# Parameters
DATA_HOME_DIR = None          # your Kaggle folder, e.g. "data/redux"
sample_path = "../data/sample/"
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


TODAY = [
    md("""
# Fine-tuning as it is done today (on vggcourse)

The course fine-tuned with one learning rate, picked by hand, and retrained layers by popping and
re-adding them. Today's practice (fastai's `lr_find`, `fit_one_cycle`, discriminative learning
rates and test-time augmentation; the Keras transfer-learning guide's "unfreeze, train at a low
rate, keep BatchNorm in inference mode") is a few calls on the same `Vgg16`. Every one of them
runs on the feature cache where the maths allows: the frozen layers run once per image.

""" + SAMPLE_NOTE),
    code("""
# Parameters: where the data is, and how big the images and batches are.
path = "../data/sample/"
size = (224, 224)
batch_size = 64
weights = "imagenet"   # None: random weights, only to check that the code runs
""", tags=("parameters",)),
    code("""
%matplotlib inline
import keras
import numpy as np
from vggcourse import Vgg16
from vggcourse.training import plot_history
if weights is None:
    print("Random weights: the numbers below are meaningless; set weights='imagenet'.")
vgg = Vgg16(weights=weights, size=size)
batches = vgg.get_batches(path + "train", batch_size=batch_size)
val_batches = vgg.get_batches(path + "valid", batch_size=batch_size * 2, shuffle=False)
vgg.finetune(batches)
"""),
    md("""
## The learning-rate finder

Smith's range test: train a few steps at rates rising from 1e-7 to 10, note the loss, then put
every weight and the optimizer's state back as they were. The suggestion is the rate where the
smoothed loss falls fastest. After the first call the frozen layers' output is cached, so the
finder costs seconds.
"""),
    code("""
found = vgg.lr_find(batches)
found.plot();
print(f"suggested learning rate: {found.suggestion:.1e}")
"""),
    md("""
## One cycle

`fit_one_cycle` warms the rate up to `max_lr` over the first quarter of the steps and anneals it
(cosine) to almost nothing, moving Adam's momentum (beta_1) the other way. Callbacks see the whole
model: the `ModelCheckpoint` below saves all of VGG16, not only the layers that train.
"""),
    code("""
max_lr = min(found.suggestion, 1e-2)
checkpoint = keras.callbacks.ModelCheckpoint("best.keras", monitor="val_accuracy", save_best_only=True)
history = vgg.fit_one_cycle(batches, val_batches, nb_epoch=2, max_lr=max_lr, callbacks=[checkpoint])
plot_history(history, title="fit_one_cycle");
"""),
    md("""
## Unfreezing with layer-wise learning rates

`unfreeze('fc1')` trains every dense layer (lesson 2's second step); BatchNormalization, if any,
stays in inference mode. The conv layers stay frozen, so their output is what the cache now keeps:
lesson 3's "precompute the conv features", without writing it. `lr=slice(low, high)` gives the
lowest trained layer `low`, the top `high`, geometric in between.
"""),
    code("""
vgg.unfreeze("fc1")
history = vgg.fit(batches, val_batches, nb_epoch=2, lr=slice(max_lr / 100, max_lr / 10),
                  callbacks=[keras.callbacks.EarlyStopping(patience=1, restore_best_weights=True)])
plot_history(history, title="unfreeze('fc1'), layer-wise rates");
"""),
    md("""
## Test-time augmentation

Average the predictions on the images as they are with predictions on a few flipped, shifted and
zoomed copies. Rows stay in `val_batches.filenames` order, so they line up with the labels.
"""),
    code("""
plain = vgg.predict_in_order(val_batches)
tta = vgg.predict_in_order(val_batches, tta=4)
labels = np.asarray(val_batches.classes)
print(f"validation accuracy: {np.mean(plain.argmax(1) == labels):.3f} plain, "
      f"{np.mean(tta.argmax(1) == labels):.3f} with TTA (4 augmented passes)")
"""),
    md("The checkpoint is a whole model with its class names; `Vgg16.load` reads it back:"),
    code("""
best = Vgg16.load("best.keras")
print(best.classes, best.model.count_params())
"""),
]


# The mnist notebook's data: said once, in its first cell.
MNIST_NOTE = """\
As it is, the notebook needs no download: `standin = True` reads `vggcourse.sample.mnist_standin()`,
MNIST's arrays (28x28 white digits on black, labels 0-9) made from the 1,797 small digits that
scikit-learn ships; accuracy on it is not MNIST's. Set `standin = False` to read MNIST itself with
`mnist.load_data()` (Keras' published `mnist.npz`, downloaded once into Keras' cache; see the README)."""

MNIST = [
    md("""
# Convolutional networks on MNIST (the mnist notebook, on vggcourse)

The course's MNIST notebook, ported to Keras 3 and Python 3: a linear model, one hidden dense layer,
a small VGG-style convolutional network, then data augmentation, batch normalisation, dropout and
finally an ensemble of six such networks. The course's Keras 1 calls (`fit_generator`, `nb_epoch`,
`Convolution2D(32, 3, 3)`, `model.optimizer.lr = ...`) are kept; `vggcourse.utils` provides them.
Images are channels-last here: `(28, 28, 1)` where the course had Theano's `(1, 28, 28)`.

""" + MNIST_NOTE),
    code("""
# Parameters
standin = True       # False: MNIST itself, from mnist.load_data()
batch_size = 64
max_epochs = 18      # the course's longest fit; lower it to run every fit shorter
n_train = None       # None: every training image; a number keeps the first n
n_models = 6         # the ensemble's size
model_path = "models/"
""", tags=("parameters",)),
    code("""
%matplotlib inline
import os

import numpy as np
from vggcourse.keras1 import mnist
from vggcourse.sample import mnist_standin
from vggcourse.utils import (Adam, BatchNormalization, Convolution2D, Dense, Dropout, Flatten, K, Lambda,
                             MaxPooling2D, Sequential, categorical_accuracy, image, onehot)


def ep(n):
    \"\"\"The course's number of epochs, capped by the `max_epochs` parameter.\"\"\"
    return min(n, max_epochs)
"""),
    md("## Setup"),
    code("""
(X_train, y_train), (X_test, y_test) = mnist_standin() if standin else mnist.load_data()
X_train, y_train = X_train[:n_train], y_train[:n_train]
(X_train.shape, y_train.shape, X_test.shape, y_test.shape)
"""),
    md("""
Keras wants a channel axis. The course added it first (`np.expand_dims(X, 1)`: Theano's
channels-first order); channels-last puts it at the end.
"""),
    code("""
X_test = np.expand_dims(X_test, -1)
X_train = np.expand_dims(X_train, -1)
X_train.shape
"""),
    code("y_train[:5]"),
    code("""
y_train = onehot(y_train)
y_test = onehot(y_test)
y_train[:5]
"""),
    md("""
Every model starts by normalising its input with the training set's mean and standard deviation,
in a `Lambda` layer.
"""),
    code("""
mean_px = X_train.mean().astype(np.float32)
std_px = X_train.std().astype(np.float32)


def norm_input(x):
    return (x - mean_px) / std_px
"""),
    md("""
## Linear model

A note on learning rates, for the whole notebook. The course lowered them with
`model.optimizer.lr = 0.1`, then `0.01`. In Keras 1 that line did nothing: it replaced the rate
variable that the compiled model used with a plain number, so every accuracy the course showed came
from Adam's default rate, 0.001, throughout. Here `lr` really sets the rate, and 0.1 is far too
large a step for Adam (a hundred times its default); we keep the course's steps ten times smaller
(0.01, then 0.001, ...): "raise it a little, then lower it" on Adam's scale.
"""),
    code("""
def compiled(layers):
    # Sequential(layers), compiled as every model of this notebook is
    model = Sequential(layers)
    model.compile(Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def get_lin_model():
    return compiled([
        Lambda(norm_input, input_shape=(28, 28, 1)),
        Flatten(),
        Dense(10, activation="softmax"),
    ])


lm = get_lin_model()
"""),
    code("""
gen = image.ImageDataGenerator()
batches = gen.flow(X_train, y_train, batch_size=batch_size)
test_batches = gen.flow(X_test, y_test, batch_size=batch_size)
"""),
    code("""
lm.fit_generator(batches, batches.N, nb_epoch=1, verbose=2,
                 validation_data=test_batches, nb_val_samples=test_batches.N)
"""),
    code("""
lm.optimizer.lr = 0.01
print(f"learning rate: {K.get_value(lm.optimizer.lr):g}")
lm.fit_generator(batches, batches.N, nb_epoch=1, verbose=2,
                 validation_data=test_batches, nb_val_samples=test_batches.N)
"""),
    md("""
Every model of the notebook trains this way: on `batches`, checked on `test_batches`, one
learning rate after another. A function saves writing the call out each time; it takes the
course's steps as (rate, epochs) pairs, None keeping the rate as it is.
"""),
    code("""
def fit(model, schedule, verbose=2):
    for lr, nb_epoch in schedule:
        if lr is not None:
            model.optimizer.lr = lr
            if verbose:
                print(f"learning rate: {K.get_value(model.optimizer.lr):g}")
        model.fit_generator(batches, batches.N, nb_epoch=ep(nb_epoch), verbose=verbose,
                            validation_data=test_batches, nb_val_samples=test_batches.N)
    return model


fit(lm, [(0.001, 4)]);
"""),
    md("""
## Single dense layer

A bug of the course is fixed here: its hidden layer was `Dense(512, activation='softmax')`. A
softmax squeezes the 512 hidden values into one distribution, which is not a hidden layer's job;
we use `relu`, as every other model of the notebook does.
"""),
    code("""
def get_fc_model():
    return compiled([
        Lambda(norm_input, input_shape=(28, 28, 1)),
        Flatten(),
        Dense(512, activation="relu"),
        Dense(10, activation="softmax"),
    ])


fc = fit(get_fc_model(), [(None, 1), (0.01, 4), (0.001, 4)])
"""),
    md("""
## Basic 'VGG-style' CNN

Two blocks of two 3x3 convolutions and a max-pooling, then a dense layer: VGG16 in miniature.
"""),
    code("""
def get_model():
    return compiled([
        Lambda(norm_input, input_shape=(28, 28, 1)),
        Convolution2D(32, 3, 3, activation="relu"),
        Convolution2D(32, 3, 3, activation="relu"),
        MaxPooling2D(),
        Convolution2D(64, 3, 3, activation="relu"),
        Convolution2D(64, 3, 3, activation="relu"),
        MaxPooling2D(),
        Flatten(),
        Dense(512, activation="relu"),
        Dense(10, activation="softmax"),
    ])


model = fit(get_model(), [(None, 1), (0.01, 1), (0.001, 8)])
"""),
    md("""
## Data augmentation

Small rotations, shifts, shears and zooms of the training digits. A bug of the course is fixed here:
it made its test batches with the same augmenting generator, so every validation score was measured
on randomly distorted test digits (and changed from run to run). The test batches here come from a
plain generator.
"""),
    code("""
model = get_model()
gen = image.ImageDataGenerator(rotation_range=8, width_shift_range=0.08, shear_range=0.3,
                               height_shift_range=0.08, zoom_range=0.08)
batches = gen.flow(X_train, y_train, batch_size=batch_size)
test_batches = image.ImageDataGenerator().flow(X_test, y_test, batch_size=batch_size, shuffle=False)
"""),
    code("""
fit(model, [(None, 1), (0.01, 4), (0.001, 8), (0.0001, 14), (0.00001, 10)]);
"""),
    md("""
## Batchnorm + data augmentation

Batch normalisation after every convolution and before every dense layer. The course wrote
`BatchNormalization(axis=1)` for the convolutions: the channel axis in Theano's order. Channels-last,
the channel axis is the last one, Keras' default, so the axis is left out. The layers are in a
function of their own, as the next model uses them too.
"""),
    code("""
def bn_conv_layers():
    # the convolutional blocks with batch normalisation, and the normalised dense layer
    return [
        Lambda(norm_input, input_shape=(28, 28, 1)),
        Convolution2D(32, 3, 3, activation="relu"),
        BatchNormalization(),
        Convolution2D(32, 3, 3, activation="relu"),
        MaxPooling2D(),
        BatchNormalization(),
        Convolution2D(64, 3, 3, activation="relu"),
        BatchNormalization(),
        Convolution2D(64, 3, 3, activation="relu"),
        MaxPooling2D(),
        Flatten(),
        BatchNormalization(),
        Dense(512, activation="relu"),
        BatchNormalization(),
    ]


def get_model_bn():
    return compiled(bn_conv_layers() + [Dense(10, activation="softmax")])


model = fit(get_model_bn(), [(None, 1), (0.01, 4), (0.001, 12), (0.0001, 12)])
"""),
    md("""
## Batchnorm + dropout + data augmentation

The same layers, with dropout before the last one. (The course wrote the whole list out again.)
"""),
    code("""
def get_model_bn_do():
    return compiled(bn_conv_layers() + [Dropout(0.5), Dense(10, activation="softmax")])


model = fit(get_model_bn_do(), [(None, 1), (0.01, 4), (0.001, 12), (0.0001, 1)])
"""),
    md("""
## Ensembling

Train several of the last model, each from its own random start, and average their predictions.
The course saved each model's weights as `cnn-mnist23-0.pkl` (an HDF5 file under a pickle's name);
here they are `.h5` files in `model_path`.
"""),
    code("""
def fit_model():
    return fit(get_model_bn_do(), [(None, 1), (0.01, 4), (0.001, 12), (0.0001, 18)], verbose=0)


models = [fit_model() for i in range(n_models)]
"""),
    code("""
os.makedirs(model_path, exist_ok=True)
for i, m in enumerate(models):
    m.save_weights(model_path + "cnn-mnist23-" + str(i) + ".h5")
"""),
    code("""
evals = np.array([m.evaluate(X_test, y_test, batch_size=256, verbose=0) for m in models])
evals.mean(axis=0)   # mean loss, mean accuracy
"""),
    md("""
Average the models' predicted probabilities. The course read the accuracy with Theano's `.eval()`;
`K.eval` is the backend-neutral spelling, and Keras 3's `categorical_accuracy` gives one value per
image (Keras 1's gave their mean), hence the `.mean()`.
"""),
    code("""
all_preds = np.stack([m.predict(X_test, batch_size=256, verbose=0) for m in models])
avg_preds = all_preds.mean(axis=0)
print(all_preds.shape)
print(f"mean of {len(models)} models: accuracy {evals[:, 1].mean():.4f}")
print(f"ensemble of {len(models)}: accuracy {K.eval(categorical_accuracy(y_test, avg_preds)).mean():.4f}")
"""),
]


STATEFARM = [
    md("""
# State Farm distracted drivers (the statefarm notebook, on vggcourse)

The course's State Farm notebook, ported to Keras 3 and Python 3: ten classes of dashboard photos
(`c0` safe driving ... `c9` talking to a passenger). First small convolutional networks trained
from scratch, with and without data augmentation; then dense layers with batch normalisation on
VGG16's precomputed convolutional features, with precomputed augmented features and pseudo
labelling; then a clipped submission.

Set `path` to Kaggle's State Farm data (see the README): `train/c0` ... `train/c9`, `test/` and
`driver_imgs_list.csv`. The first section below moves a few drivers' images to `valid/`, once.
The course's Keras 1 calls are kept; the course's bugs are fixed where they happen, each said in
a note.
"""),
    code("""
# Parameters
path = "../data/state/"
size = (224, 224)
batch_size = 64
n_valid_drivers = 3   # drivers whose images make the validation set
max_epochs = 15       # the course's longest fit; lower it to run every fit shorter
weights = "imagenet"  # None: random weights, only to check that the code runs
""", tags=("parameters",)),
    code("""
%matplotlib inline
import os
import shutil

import numpy as np
from vggcourse.utils import (Adam, BatchNormalization, Convolution2D, Dense, Dropout, FileLink, Flatten, K,
                             MaxPooling2D, Sequential, Vgg16, categorical_crossentropy, do_clip, get_batches,
                             get_classes, get_data, image, load_array, output_shape_of, pd, save_array)

os.makedirs(path + "results", exist_ok=True)
os.makedirs(path + "models", exist_ok=True)
if weights is None:
    print("Random weights: every accuracy below is meaningless; set weights='imagenet'.")


def ep(n):
    # the course's number of epochs, capped by the `max_epochs` parameter
    return min(n, max_epochs)
"""),
    md("""
## A validation set by driver

Kaggle's test photos show drivers that the training photos do not. A validation set cut at random
would hold other photos of the training drivers, nearly the same pictures, and flatter every model;
so we move all the images of a few drivers to `valid/`, using `driver_imgs_list.csv`, which says
which driver is in each image. (The course took such a `valid/` as already made, with different
drivers as Kaggle's page advised, and gave no code for it.) It is done once: a `valid/` folder that
exists is kept as it is.
"""),
    code("""
drivers_ds = pd.read_csv(path + "driver_imgs_list.csv")
drivers_ds.head()
"""),
    code("""
if not os.path.isdir(path + "valid"):
    drivers = sorted(drivers_ds["subject"].unique())
    valid_drivers = np.random.RandomState(0).permutation(drivers)[:n_valid_drivers]
    moving = drivers_ds[drivers_ds["subject"].isin(valid_drivers)]
    for cls, img in zip(moving["classname"], moving["img"]):
        os.makedirs(f"{path}valid/{cls}", exist_ok=True)
        shutil.move(f"{path}train/{cls}/{img}", f"{path}valid/{cls}/{img}")
    print(f"moved {len(moving)} images of drivers {', '.join(valid_drivers)} to valid/")
"""),
    md("## Setup batches"),
    code("""
batches = get_batches(path + "train", batch_size=batch_size, target_size=size)
val_batches = get_batches(path + "valid", batch_size=batch_size * 2, shuffle=False, target_size=size)
(val_classes, trn_classes, val_labels, trn_labels,
    val_filenames, filenames, test_filenames) = get_classes(path)
"""),
    md("""
Rather than batches, we can also load every image into one array, which saves decoding them again
on every epoch. (The course saved such arrays with bcolz; `save_array` writes a NumPy file.)
"""),
    code("""
trn = get_data(path + "train", target_size=size)
val = get_data(path + "valid", target_size=size)
save_array(path + "results/val.dat", val)
save_array(path + "results/trn.dat", trn)
val = load_array(path + "results/val.dat")
trn = load_array(path + "results/trn.dat")
trn.shape
"""),
    md("""
## Re-run sample experiments on full dataset

The models of this section are those the course tried first on a sample.

A note on learning rates for the whole notebook: the course lowered or raised them with
`model.optimizer.lr = ...`. In Keras 1 that line did nothing (it replaced the rate variable that the
compiled model used with a plain number), so the course's models trained at their first rate
throughout. Here `lr` really sets the rate, so the schedules below are the ones the course wrote.
The course's `BatchNormalization(axis=1)` is Theano's channel axis; channels-last it is the last
axis, Keras' default, so the axis is left out.

### Single conv layer
"""),
    code("""
def conv1(batches):
    model = Sequential([
        BatchNormalization(input_shape=(*size, 3)),
        Convolution2D(32, 3, 3, activation="relu"),
        BatchNormalization(),
        MaxPooling2D((3, 3)),
        Convolution2D(64, 3, 3, activation="relu"),
        BatchNormalization(),
        MaxPooling2D((3, 3)),
        Flatten(),
        Dense(200, activation="relu"),
        BatchNormalization(),
        Dense(10, activation="softmax"),
    ])
    model.compile(Adam(lr=1e-4), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit_generator(batches, batches.nb_sample, nb_epoch=ep(2), validation_data=val_batches,
                        nb_val_samples=val_batches.nb_sample, verbose=2)
    model.optimizer.lr = 0.001
    model.fit_generator(batches, batches.nb_sample, nb_epoch=ep(4), validation_data=val_batches,
                        nb_val_samples=val_batches.nb_sample, verbose=2)
    return model


model = conv1(batches)
"""),
    md("""
### Data augmentation

The same model on randomly rotated, shifted, sheared and colour-shifted images.
"""),
    code("""
gen_t = image.ImageDataGenerator(rotation_range=15, height_shift_range=0.05,
                                 shear_range=0.1, channel_shift_range=20, width_shift_range=0.1)
batches = get_batches(path + "train", gen_t, batch_size=batch_size, target_size=size)
model = conv1(batches)
"""),
    code("""
model.optimizer.lr = 0.0001
print(f"learning rate: {K.get_value(model.optimizer.lr):g}")
model.fit_generator(batches, batches.nb_sample, nb_epoch=ep(15), validation_data=val_batches,
                    nb_val_samples=val_batches.nb_sample, verbose=2)
"""),
    md("""
### Four conv/pooling pairs + dropout

A deeper model with dropout, to make the validation accuracy steadier from epoch to epoch.
"""),
    code("""
model = Sequential([
    BatchNormalization(input_shape=(*size, 3)),
    Convolution2D(32, 3, 3, activation="relu"),
    BatchNormalization(),
    MaxPooling2D(),
    Convolution2D(64, 3, 3, activation="relu"),
    BatchNormalization(),
    MaxPooling2D(),
    Convolution2D(128, 3, 3, activation="relu"),
    BatchNormalization(),
    MaxPooling2D(),
    Flatten(),
    Dense(200, activation="relu"),
    BatchNormalization(),
    Dropout(0.5),
    Dense(200, activation="relu"),
    BatchNormalization(),
    Dropout(0.5),
    Dense(10, activation="softmax"),
])
model.compile(Adam(lr=10e-5), loss="categorical_crossentropy", metrics=["accuracy"])
"""),
    code("""
for lr, nb_epoch in ((None, 2), (0.001, 10), (0.00001, 10)):
    if lr is not None:
        model.optimizer.lr = lr
    model.fit_generator(batches, batches.nb_sample, nb_epoch=ep(nb_epoch), validation_data=val_batches,
                        nb_val_samples=val_batches.nb_sample, verbose=2)
"""),
    md("""
### Imagenet conv features

The photos are like ImageNet's, and there are few of them: VGG16's convolutional layers, as they
are, should serve. We compute their output once for every image, as in lesson 3. A bug of the
course is fixed here: it computed the test set's features from `test_batches`, which the notebook
never made; we make them (unlabelled, in file order).
"""),
    code("""
vgg = Vgg16(weights=weights, size=size)
model = vgg.model
last_conv_idx = [i for i, l in enumerate(model.layers) if isinstance(l, Convolution2D)][-1]
conv_layers = model.layers[:last_conv_idx + 1]
conv_model = Sequential(conv_layers)
"""),
    code("""
# batches shuffle must be set to False when pre-computing features
batches = get_batches(path + "train", batch_size=batch_size, shuffle=False, target_size=size)
test_batches = get_batches(path + "test", batch_size=batch_size, shuffle=False, class_mode=None,
                           target_size=size)
conv_feat = conv_model.predict_generator(batches, batches.nb_sample)
conv_val_feat = conv_model.predict_generator(val_batches, val_batches.nb_sample)
conv_test_feat = conv_model.predict_generator(test_batches, test_batches.nb_sample)
save_array(path + "results/conv_val_feat.dat", conv_val_feat)
save_array(path + "results/conv_test_feat.dat", conv_test_feat)
save_array(path + "results/conv_feat.dat", conv_feat)
conv_val_feat.shape
"""),
    md("""
### Batchnorm dense layers on pretrained conv layers

A network that takes those features and predicts the 10 classes: a smaller version of VGG's dense
layers, with batch normalisation and heavy dropout. (Keras 3 layers have no `output_shape`;
`output_shape_of(layer)` reads it.)
"""),
    code("""
def get_bn_layers(p, units=128, first_dropout=None):
    return [
        MaxPooling2D(input_shape=output_shape_of(conv_layers[-1])[1:]),
        Flatten(),
        Dropout(p / 2 if first_dropout is None else first_dropout),
        Dense(units, activation="relu"),
        BatchNormalization(),
        Dropout(p / 2 if first_dropout is None else first_dropout),
        Dense(units, activation="relu"),
        BatchNormalization(),
        Dropout(p),
        Dense(10, activation="softmax"),
    ]


p = 0.8
bn_model = Sequential(get_bn_layers(p))
bn_model.compile(Adam(lr=0.001), loss="categorical_crossentropy", metrics=["accuracy"])
bn_model.fit(conv_feat, trn_labels, batch_size=batch_size, nb_epoch=1, verbose=2,
             validation_data=(conv_val_feat, val_labels))
bn_model.optimizer.lr = 0.01
bn_model.fit(conv_feat, trn_labels, batch_size=batch_size, nb_epoch=ep(2), verbose=2,
             validation_data=(conv_val_feat, val_labels))
bn_model.save_weights(path + "models/conv8.h5")
"""),
    md("""
### Pre-computed data augmentation + dropout

Five passes of augmented images through the convolutional layers make a set of features five
times the training set. `predict_generator(batches, 5 * nb_sample)` returns the five passes one
after the other, each in file order.
"""),
    code("""
gen_t = image.ImageDataGenerator(rotation_range=15, height_shift_range=0.05,
                                 shear_range=0.1, channel_shift_range=20, width_shift_range=0.1)
da_batches = get_batches(path + "train", gen_t, batch_size=batch_size, shuffle=False, target_size=size)
da_conv_feat = conv_model.predict_generator(da_batches, da_batches.nb_sample * 5)
save_array(path + "results/da_conv_feat2.dat", da_conv_feat)
da_conv_feat = load_array(path + "results/da_conv_feat2.dat")
print(da_conv_feat.shape, conv_feat.shape)
"""),
    md("""
With the non-augmented features too, the set is six times the training set, and so are its labels.
The same layers as before serve, 256 units wide, with the full dropout everywhere. (The course
wrote the list out again as `get_bn_da_layers`.)
"""),
    code("""
da_conv_feat = np.concatenate([da_conv_feat, conv_feat])
da_trn_labels = np.concatenate([trn_labels] * 6)

p = 0.8
bn_model = Sequential(get_bn_layers(p, units=256, first_dropout=p))
bn_model.compile(Adam(lr=0.001), loss="categorical_crossentropy", metrics=["accuracy"])
for lr, nb_epoch in ((None, 1), (0.01, 4), (0.0001, 4)):
    if lr is not None:
        bn_model.optimizer.lr = lr
    bn_model.fit(da_conv_feat, da_trn_labels, batch_size=batch_size, nb_epoch=ep(nb_epoch), verbose=2,
                 validation_data=(conv_val_feat, val_labels))
bn_model.save_weights(path + "models/da_conv8_1.h5")
"""),
    md("""
### Pseudo labeling

Semi-supervised learning: the model's own predictions on unlabelled images (here the validation
images, so that we can see whether it helps) become their labels, and the model trains on both.
"""),
    code("""
val_pseudo = bn_model.predict(conv_val_feat, batch_size=batch_size)
comb_pseudo = np.concatenate([da_trn_labels, val_pseudo])
comb_feat = np.concatenate([da_conv_feat, conv_val_feat])
bn_model.load_weights(path + "models/da_conv8_1.h5")
for lr, nb_epoch in ((None, 1), (None, 4), (0.00001, 4)):
    if lr is not None:
        bn_model.optimizer.lr = lr
    bn_model.fit(comb_feat, comb_pseudo, batch_size=batch_size, nb_epoch=ep(nb_epoch), verbose=2,
                 validation_data=(conv_val_feat, val_labels))
bn_model.save_weights(path + "models/bn-ps8.h5")
"""),
    md("""
### Submit

Clip the probabilities before submitting: Kaggle's log loss punishes a confident mistake without
limit. A bug of the course is fixed here: it measured the clipped loss on `val_preds`, which the
notebook never computed; we predict the validation features first. `do_clip` (from
`vggcourse.utils`) is the course's rule for ten classes, `(1 - mx) / 9` at the least; Keras 3's
`categorical_crossentropy` gives one value per image, hence the `.mean()`.
"""),
    code("""
val_preds = bn_model.predict(conv_val_feat, batch_size=batch_size * 2)
print(f"validation log loss, clipped at 0.93: "
      f"{K.eval(categorical_crossentropy(val_labels, do_clip(val_preds, 0.93))).mean():.4f}")
"""),
    md("""
Kaggle's `img` column is the file name alone. (The course cut the first four characters of each
test file name; here the test folder's loose files have no folder before their name.)
"""),
    code("""
conv_test_feat = load_array(path + "results/conv_test_feat.dat")
preds = bn_model.predict(conv_test_feat, batch_size=batch_size * 2)
subm = do_clip(preds, 0.93)
subm_name = path + "results/subm.gz"
classes = sorted(batches.class_indices, key=batches.class_indices.get)
submission = pd.DataFrame(subm, columns=classes)
submission.insert(0, "img", [os.path.basename(a) for a in test_filenames])
submission.to_csv(subm_name, index=False, compression="gzip")
submission.head()
"""),
    code("FileLink(subm_name)"),
    md("""
## The "things that didn't really work" section

The course ends with experiments it said to ignore: fine-tuning some convolutional layers on
pseudo-labelled augmented images, and an ensemble of models each trained without one driver. They
are left out here: that code calls `fit_conv`, which the notebook never defines, and loads
`conv8_da.h5`, which it never saves.
"""),
]


LESSON7 = [
    md("""
# Fisheries (lesson 7, on vggcourse)

The course's lesson 7 notebook, ported to Keras 3 and Python 3: Kaggle's fisheries competition
(The Nature Conservancy Fisheries Monitoring), eight classes of fish on boat cameras. Features from
a fine-tuned VGG16 with batch normalisation, then a model with a second input (the image's size),
a model with a second output (the fish's bounding box), a fully convolutional model on larger
images and its heatmaps, an inception mini-net, pseudo labelling and a clipped submission.

Set `path` to Kaggle's data (see the README): `train/ALB` ... `train/YFT`, `test/` and, for the
bounding boxes, the forum's annotation files in `annos/`. The course's Keras 1 calls are kept; its
bugs are fixed where they happen, each said in a note. Shapes are channels-last: `(14, 14, 512)`
where the course had `(512, 14, 14)`, and `BatchNormalization()` where it had `axis=1`.
"""),
    code("""
# Parameters
path = "../data/fish/"
size = (224, 224)          # the first sections' image size
large_size = (360, 640)    # "Larger size": the shape of the most common photo, 1280x720, halved
batch_size = 64
n_valid = 500              # training images moved to valid/ (once)
max_epochs = 10            # the course's longest fit; lower it to run every fit shorter
weights = "imagenet"       # None: random weights, only to check that the code runs
""", tags=("parameters",)),
    code("""
%matplotlib inline
import collections
import json
import os
from glob import glob

import numpy as np
from matplotlib import pyplot as plt
from vggcourse.utils import (PIL, Activation, Adam, AveragePooling2D, BatchNormalization, Convolution2D, Dense,
                             Dropout, FileLink, Flatten, GlobalAveragePooling2D, Input, K, MaxPooling2D,
                             MixIterator, Model, Sequential, Vgg16BN, do_clip, get_batches, get_classes,
                             get_data, image, imresize, load_array, merge, output_shape_of, pd, plot,
                             save_array, split_at, to_categorical, to_plot, vgg_ft_bn)

for folder in ("results", "models"):
    os.makedirs(path + folder, exist_ok=True)
if weights is None:
    print("Random weights: every accuracy below is meaningless; set weights='imagenet'.")


def ep(n):
    # the course's number of epochs, capped by the `max_epochs` parameter
    return min(n, max_epochs)
"""),
    md("""
## Setup dirs

A validation set: `n_valid` training images picked at random, moved to `valid/` once (a `valid/`
that exists is kept). The course also copied a small `sample/`; point `path` at such a copy to
try the notebook quickly.
"""),
    code("""
if not os.path.isdir(path + "valid"):
    for d in os.listdir(path + "train"):
        os.makedirs(path + "valid/" + d)
    g = sorted(os.path.relpath(f, path + "train") for f in glob(path + "train/*/*.jpg"))
    shuf = np.random.RandomState(0).permutation(g)
    for f in shuf[:n_valid]:
        os.rename(path + "train/" + f, path + "valid/" + f)
    print(f"moved {min(n_valid, len(g))} images to valid/")
"""),
    code("""
batches = get_batches(path + "train", batch_size=batch_size, target_size=size)
val_batches = get_batches(path + "valid", batch_size=batch_size * 2, shuffle=False, target_size=size)
(val_classes, trn_classes, val_labels, trn_labels,
    val_filenames, filenames, test_filenames) = get_classes(path)
"""),
    md("Sometimes it's helpful to have just the file names, without their folder."),
    code("""
raw_filenames = [f.split("/")[-1] for f in filenames]
raw_test_filenames = [f.split("/")[-1] for f in test_filenames]
raw_val_filenames = [f.split("/")[-1] for f in val_filenames]
"""),
    md("""
## Basic VGG

### Initial model

VGG16 with batch normalisation, its last layer replaced by an 8-way softmax (`vgg_ft_bn`), trained
on every image loaded into arrays.
"""),
    code("""
model = vgg_ft_bn(8, weights=weights, size=size)
trn = get_data(path + "train", target_size=size)
val = get_data(path + "valid", target_size=size)
test = get_data(path + "test", target_size=size)
save_array(path + "results/trn.dat", trn)
save_array(path + "results/val.dat", val)
save_array(path + "results/test.dat", test)
"""),
    code("""
model.compile(optimizer=Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(trn, trn_labels, batch_size=batch_size, nb_epoch=ep(3), validation_data=(val, val_labels), verbose=2)
model.save_weights(path + "results/ft1.h5")
"""),
    md("""
### Precompute convolutional output

Everything that follows trains on the output of the last convolutional layer, computed once.
"""),
    code("""
model.load_weights(path + "results/ft1.h5")
conv_layers, fc_layers = split_at(model, Convolution2D)
conv_model = Sequential(conv_layers)
conv_feat = conv_model.predict(trn, verbose=0)
conv_val_feat = conv_model.predict(val, verbose=0)
conv_test_feat = conv_model.predict(test, verbose=0)
save_array(path + "results/conv_val_feat.dat", conv_val_feat)
save_array(path + "results/conv_feat.dat", conv_feat)
save_array(path + "results/conv_test_feat.dat", conv_test_feat)
conv_val_feat.shape
"""),
    md("""
### Train model

A first baseline: three dense layers with batch normalisation and dropout. (Keras 3 layers have no
`output_shape`; `output_shape_of(layer)` reads it.)
"""),
    code("""
def get_bn_layers(p):
    return [
        MaxPooling2D(input_shape=output_shape_of(conv_layers[-1])[1:]),
        BatchNormalization(),
        Dropout(p / 4),
        Flatten(),
        Dense(512, activation="relu"),
        BatchNormalization(),
        Dropout(p),
        Dense(512, activation="relu"),
        BatchNormalization(),
        Dropout(p / 2),
        Dense(8, activation="softmax"),
    ]


p = 0.6
bn_model = Sequential(get_bn_layers(p))
bn_model.compile(Adam(lr=0.001), loss="categorical_crossentropy", metrics=["accuracy"])
bn_model.fit(conv_feat, trn_labels, batch_size=batch_size, nb_epoch=ep(3), verbose=2,
             validation_data=(conv_val_feat, val_labels))
bn_model.optimizer.lr = 1e-4
bn_model.fit(conv_feat, trn_labels, batch_size=batch_size, nb_epoch=ep(7), verbose=2,
             validation_data=(conv_val_feat, val_labels))
bn_model.save_weights(path + "models/conv_512_6.h5")
bn_model.evaluate(conv_val_feat, val_labels, verbose=0)
"""),
    md("""
## Multi-input

The photos come in a few sizes, probably one per boat camera. Could the size leak the answer? We
give it to a model as a second input, one-hot (a category, not a number), normalised.

A bug of the course is fixed here: it normalised with `x - mean / std`, which divides only the mean;
we compute `(x - mean) / std`.
"""),
    code("""
sizes = [PIL.Image.open(path + "train/" + f).size for f in filenames]
id2size = list(set(sizes))
size2id = {o: i for i, o in enumerate(id2size)}
collections.Counter(sizes)
"""),
    code("""
trn_sizes_orig = to_categorical([size2id[o] for o in sizes], len(id2size))
raw_val_sizes = [PIL.Image.open(path + "valid/" + f).size for f in val_filenames]
val_sizes = to_categorical([size2id[o] for o in raw_val_sizes], len(id2size))
trn_sizes = (trn_sizes_orig - trn_sizes_orig.mean(axis=0)) / trn_sizes_orig.std(axis=0)
val_sizes = (val_sizes - trn_sizes_orig.mean(axis=0)) / trn_sizes_orig.std(axis=0)
"""),
    md("""
A model with two inputs: the convolutional features, and `sz_inp` for the size. It is built and
trained with a list of inputs. Its layers are `get_bn_layers`', called on the first input (the
course wrote each of them out again here and in the next model). A second bug of the course is fixed here: after training this model
for three epochs it lowered the rate of `bn_model`, the earlier model, and trained that one again;
we go on with this one.
"""),
    code("""
p = 0.6
inp = Input(output_shape_of(conv_layers[-1])[1:])
sz_inp = Input((len(id2size),))
bn_inp = BatchNormalization()(sz_inp)


def bn_dense(x, p):
    # get_bn_layers(p) but its softmax, called one after the other on x (Keras' functional API)
    for layer in get_bn_layers(p)[:-1]:
        x = layer(x)
    return x


x = bn_dense(inp, p)
x = merge([x, bn_inp], "concat")
x = Dense(8, activation="softmax")(x)

model = Model([inp, sz_inp], x)
model.compile(Adam(lr=0.001), loss="categorical_crossentropy", metrics=["accuracy"])
model.fit([conv_feat, trn_sizes], trn_labels, batch_size=batch_size, nb_epoch=ep(3), verbose=2,
          validation_data=([conv_val_feat, val_sizes], val_labels))
model.optimizer.lr = 1e-4
model.fit([conv_feat, trn_sizes], trn_labels, batch_size=batch_size, nb_epoch=ep(8), verbose=2,
          validation_data=([conv_val_feat, val_sizes], val_labels));
"""),
    md("""
The course found the size helped only in the first epochs: the boat is plain to see in the image
itself.

## Bounding boxes & multi output

### Import / view bounding boxes

A Kaggle user annotated a box around each fish of the training set, one JSON file per class (none
for `other`; see the README for where to put them: `annos/` under `path`). The course downloaded
them from 2016 links to Kaggle forum attachments; here they are read from `annos/`. The course's
`import ujson as json` is the standard `json` here, which reads them the same. We keep the largest box of each image.
"""),
    code("""
anno_classes = ["alb", "bet", "dol", "lag", "other", "shark", "yft"]
bb_json = {}
for c in anno_classes:
    if c == "other":
        continue  # no annotation file for "other" class
    with open(f"{path}annos/{c}_labels.json") as f:
        j = json.load(f)
    for l in j:
        if "annotations" in l.keys() and len(l["annotations"]) > 0:
            bb_json[l["filename"].split("/")[-1]] = sorted(
                l["annotations"], key=lambda x: x["height"] * x["width"])[-1]
bb_json[sorted(bb_json)[0]]
"""),
    md("An image with no annotation (such as the `NoF` ones, no fish) gets an empty box."),
    code("""
empty_bbox = {"height": 0., "width": 0., "x": 0., "y": 0.}
for f in raw_filenames + raw_val_filenames:
    if f not in bb_json:
        bb_json[f] = empty_bbox
"""),
    md("""
Then the boxes become an array, their coordinates scaled from the photo's size (PIL's (width,
height)) to the resized images' `size` (the course wrote 224 in).
"""),
    code("""
bb_params = ["height", "width", "x", "y"]


def convert_bb(bb, img_size):
    bb = [bb[p] for p in bb_params]
    conv_x = size[1] / img_size[0]
    conv_y = size[0] / img_size[1]
    bb[0] = bb[0] * conv_y
    bb[1] = bb[1] * conv_x
    bb[2] = max(bb[2] * conv_x, 0)
    bb[3] = max(bb[3] * conv_y, 0)
    return bb


trn_bbox = np.stack([convert_bb(bb_json[f], s) for f, s in zip(raw_filenames, sizes)]).astype(np.float32)
val_bbox = np.stack([convert_bb(bb_json[f], s) for f, s in zip(raw_val_filenames, raw_val_sizes)]).astype(np.float32)
print(f"{int((trn_bbox[:, 0] > 0).sum())} of {len(trn_bbox)} training images have a box")
"""),
    md("Check our work by drawing one of the annotations:"),
    code("""
def create_rect(bb, color="red"):
    return plt.Rectangle((bb[2], bb[3]), bb[1], bb[0], color=color, fill=False, lw=3)


def show_bb(i):
    bb = val_bbox[i]
    fig = plot(val[i])
    fig.axes[0].add_patch(create_rect(bb))
    return fig


show_bb(int(np.argmax(val_bbox[:, 0])));
"""),
    md("""
### Create & train model

Kaggle's rules forbid annotating the test set by hand, so the model must find the box itself. One
model with two outputs, the box's 4 numbers and the class: the class helps it know what to look
for. Each output gets its own loss, and the box's squared error is weighted down 1,000 times so the
two losses are on a similar scale. `metrics=['accuracy']` applies to every output, as in Keras 1.
"""),
    code("""
p = 0.6
inp = Input(output_shape_of(conv_layers[-1])[1:])
x = bn_dense(inp, p)
x_bb = Dense(4, name="bb")(x)
x_class = Dense(8, activation="softmax", name="class")(x)

model = Model([inp], [x_bb, x_class])
model.compile(Adam(lr=0.001), loss=["mse", "categorical_crossentropy"], metrics=["accuracy"],
              loss_weights=[.001, 1.])
model.fit(conv_feat, [trn_bbox, trn_labels], batch_size=batch_size, nb_epoch=ep(3), verbose=2,
          validation_data=(conv_val_feat, [val_bbox, val_labels]))
model.optimizer.lr = 1e-5
model.fit(conv_feat, [trn_bbox, trn_labels], batch_size=batch_size, nb_epoch=ep(10), verbose=2,
          validation_data=(conv_val_feat, [val_bbox, val_labels]));
"""),
    md("The predicted box (yellow) beside the annotated one (red):"),
    code("""
pred = model.predict(conv_val_feat[0:10], verbose=0)


def show_bb_pred(i):
    bb = val_bbox[i]
    bb_pred = pred[0][i]
    fig = plot(val[i])
    ax = fig.axes[0]
    ax.add_patch(create_rect(bb_pred, "yellow"))
    ax.add_patch(create_rect(bb))
    return fig


show_bb_pred(min(6, len(pred[0]) - 1));
print("box and class losses:", model.evaluate(conv_val_feat, [val_bbox, val_labels], verbose=0))
model.save_weights(path + "models/bn_anno.h5")
model.load_weights(path + "models/bn_anno.h5")
"""),
    md("""
## Larger size

### Set up data

Larger images: `large_size`, 640x360 in the course, the most common photo shape (1280x720) at half
size. Things are much clearer at this size.
"""),
    code("""
trn = get_data(path + "train", large_size)
val = get_data(path + "valid", large_size)
test = get_data(path + "test", large_size)
save_array(path + "results/trn_640.dat", trn)
save_array(path + "results/val_640.dat", val)
save_array(path + "results/test_640.dat", test)
plot(trn[0]);
"""),
    md("""
VGG16 with batch normalisation at that size has no dense layers (they were trained on 224x224), and
we drop its last max-pooling to keep more detail. The course's `Vgg16BN((360, 640))` dropped the
dense layers on its own, and so does vggcourse's with ImageNet weights; `include_top=False` says
so whatever the weights (this notebook also runs with random ones).
"""),
    code("""
vgg640 = Vgg16BN(large_size, include_top=False, weights=weights).model
vgg640.pop()
print(vgg640.input_shape, vgg640.output_shape)
vgg640.compile(Adam(), "categorical_crossentropy", metrics=["accuracy"])
"""),
    code("""
conv_val_feat = vgg640.predict(val, batch_size=32, verbose=0)
conv_trn_feat = vgg640.predict(trn, batch_size=32, verbose=0)
conv_test_feat = vgg640.predict(test, batch_size=32, verbose=0)
save_array(path + "results/conv_val_640.dat", conv_val_feat)
save_array(path + "results/conv_trn_640.dat", conv_trn_feat)
save_array(path + "results/conv_test_640.dat", conv_test_feat)
conv_trn_feat.shape
"""),
    md("""
### Fully convolutional net (FCN)

The last convolutional layer's output is large now; a dense layer on it would have a great many
weights. A fully convolutional net instead: convolutions and poolings down to one 8-channel map,
averaged. No dropout (`p = 0`): the course found it did better without.
"""),
    code("""
conv_layers, _ = split_at(vgg640, Convolution2D)
nf = 128
p = 0.


def get_lrg_layers():
    return [
        BatchNormalization(input_shape=output_shape_of(conv_layers[-1])[1:]),
        Convolution2D(nf, 3, 3, activation="relu", border_mode="same"),
        BatchNormalization(),
        MaxPooling2D(),
        Convolution2D(nf, 3, 3, activation="relu", border_mode="same"),
        BatchNormalization(),
        MaxPooling2D(),
        Convolution2D(nf, 3, 3, activation="relu", border_mode="same"),
        BatchNormalization(),
        MaxPooling2D((1, 2)),
        Convolution2D(8, 3, 3, border_mode="same"),
        Dropout(p),
        GlobalAveragePooling2D(),
        Activation("softmax"),
    ]


lrg_model = Sequential(get_lrg_layers())
lrg_model.summary()
"""),
    code("""
def fit_lrg(epochs=(2, 6)):
    # the course's two steps for each large model: 1e-3, then 1e-5
    lrg_model.compile(Adam(lr=0.001), loss="categorical_crossentropy", metrics=["accuracy"])
    lrg_model.fit(conv_trn_feat, trn_labels, batch_size=batch_size, nb_epoch=ep(epochs[0]), verbose=2,
                  validation_data=(conv_val_feat, val_labels))
    lrg_model.optimizer.lr = 1e-5
    lrg_model.fit(conv_trn_feat, trn_labels, batch_size=batch_size, nb_epoch=ep(epochs[1]), verbose=2,
                  validation_data=(conv_val_feat, val_labels))


fit_lrg()
lrg_model.save_weights(path + "models/lrg_nmp.h5")
lrg_model.load_weights(path + "models/lrg_nmp.h5")
lrg_model.evaluate(conv_val_feat, val_labels, verbose=0)
"""),
    md("""
The last convolutional layer must say, for each part of the image, how much it looks like each
class (only an average follows it). A function that returns that layer's output (the 4th-last
layer), with Keras 1's learning phase as a second input: 0 runs it as at test time.

Channels-last, that output is (1, rows, columns, 8): the course's `[0, label]` (channels-first) is
`[0, :, :, label]` here. `imresize` enlarges the map to the image's size.
"""),
    code("""
l = lrg_model.layers
conv_fn = K.function([l[0].input, K.learning_phase()], l[-4].output)


def get_cm(inp, label):
    conv = conv_fn([inp, 0])[0, :, :, label]
    return imresize(conv, large_size, interp="nearest")


inp = np.expand_dims(conv_val_feat[0], 0)
print(np.round(lrg_model.predict(inp, verbose=0)[0], 2))
cm = get_cm(inp, 0)
print("heatmap", cm.shape)
"""),
    md("At very low resolution, the heatmap shows where the model finds the fish:"),
    code("""
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
axes[0].imshow(to_plot(val[0]))
axes[1].imshow(cm, cmap="cool");
"""),
    md("""
### All convolutional net heatmap

For a finer heatmap, the same net without its max-pooling layers.
"""),
    code("""
def get_lrg_layers():
    return [
        BatchNormalization(input_shape=output_shape_of(conv_layers[-1])[1:]),
        Convolution2D(nf, 3, 3, activation="relu", border_mode="same"),
        BatchNormalization(),
        Convolution2D(nf, 3, 3, activation="relu", border_mode="same"),
        BatchNormalization(),
        Convolution2D(nf, 3, 3, activation="relu", border_mode="same"),
        BatchNormalization(),
        Convolution2D(8, 3, 3, border_mode="same"),
        GlobalAveragePooling2D(),
        Activation("softmax"),
    ]


lrg_model = Sequential(get_lrg_layers())
lrg_model.summary()
fit_lrg()
lrg_model.save_weights(path + "models/lrg_0mp.h5")
lrg_model.load_weights(path + "models/lrg_0mp.h5")
"""),
    md("#### Create heatmap"),
    code("""
l = lrg_model.layers
conv_fn = K.function([l[0].input, K.learning_phase()], l[-3].output)


def get_cm2(inp, label):
    conv = conv_fn([inp, 0])[0, :, :, label]
    return imresize(conv, large_size)


inp = np.expand_dims(conv_val_feat[0], 0)
cm = get_cm2(inp, 4)
fig = plot(val[0])
fig.axes[0].imshow(cm, cmap="cool", alpha=0.5, extent=(0, large_size[1], large_size[0], 0));
"""),
    md("""
### Inception mini-net

Inception blocks put convolutions of several sizes side by side and concatenate their outputs
(on the channel axis: the last one, channels-last).
"""),
    code("""
def conv2d_bn(x, nb_filter, nb_row, nb_col, subsample=(1, 1)):
    x = Convolution2D(nb_filter, nb_row, nb_col,
                      subsample=subsample, activation="relu", border_mode="same")(x)
    return BatchNormalization()(x)


def incep_block(x):
    branch1x1 = conv2d_bn(x, 32, 1, 1, subsample=(2, 2))
    branch5x5 = conv2d_bn(x, 24, 1, 1)
    branch5x5 = conv2d_bn(branch5x5, 32, 5, 5, subsample=(2, 2))

    branch3x3dbl = conv2d_bn(x, 32, 1, 1)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 48, 3, 3)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 48, 3, 3, subsample=(2, 2))

    branch_pool = AveragePooling2D((3, 3), strides=(2, 2), border_mode="same")(x)
    branch_pool = conv2d_bn(branch_pool, 16, 1, 1)
    return merge([branch1x1, branch5x5, branch3x3dbl, branch_pool], mode="concat", concat_axis=-1)


inp = Input(output_shape_of(vgg640.layers[-1])[1:])
x = BatchNormalization()(inp)
x = incep_block(x)
x = incep_block(x)
x = incep_block(x)
x = Dropout(0.75)(x)
x = Convolution2D(8, 3, 3, border_mode="same")(x)
x = GlobalAveragePooling2D()(x)
outp = Activation("softmax")(x)
lrg_model = Model([inp], outp)
fit_lrg(epochs=(2, 6 + 10))
lrg_model.save_weights(path + "models/lrg_incep.h5")
"""),
    md("""
## Pseudo-labeling

Train on the test images too, labelled with a model's own predictions, mixing in each batch some
training, test and validation images. The course's cells here did not fit together: they predicted
with the bounding-box model, giving it a `test_sizes` input it never had, on the large images'
features, then trained `bn_model`, which takes the 224x224 features. We do what it meant: the
224x224 features, saved above, with `bn_model` predicting the test labels and training on the mix.
"""),
    code("""
conv_feat = load_array(path + "results/conv_feat.dat")
conv_val_feat = load_array(path + "results/conv_val_feat.dat")
conv_test_feat = load_array(path + "results/conv_test_feat.dat")
preds = bn_model.predict(conv_test_feat, batch_size=batch_size * 2, verbose=0)
gen = image.ImageDataGenerator()
test_batches = gen.flow(conv_test_feat, preds, batch_size=16)
val_batches = gen.flow(conv_val_feat, val_labels, batch_size=4)
batches = gen.flow(conv_feat, trn_labels, batch_size=44)
mi = MixIterator([batches, test_batches, val_batches])
bn_model.fit_generator(mi, mi.N, nb_epoch=ep(8), validation_data=(conv_val_feat, val_labels), verbose=2);
"""),
    md("""
## Submit

Clip the probabilities: `do_clip` (`vggcourse.utils`) is the course's rule for eight classes,
`(1 - mx) / 7` at the least. The course's last cells predicted with `conv_model`, whose output is
convolutional features, not class probabilities; we submit `bn_model`'s. The columns are the class
folders' names, in the batches' order (the course typed them out).
"""),
    code("""
preds = bn_model.predict(conv_test_feat, batch_size=batch_size, verbose=0)
subm = do_clip(preds, 0.82)
subm_name = path + "results/subm_bb.gz"
classes = sorted(os.listdir(path + "train"))  # the class folders, in the batches' order
submission = pd.DataFrame(subm, columns=classes)
submission.insert(0, "image", raw_test_filenames)
submission.to_csv(subm_name, index=False, compression="gzip")
submission.head()
"""),
    code("FileLink(subm_name)"),
]


def write(name, cells):
    for i, cell in enumerate(cells):  # stable ids: regenerating changes only edited cells
        cell["id"] = hashlib.sha1(f"{name}:{i}".encode()).hexdigest()[:8]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    write("lesson1.ipynb", LESSON1)
    write("lesson2.ipynb", LESSON2)
    write("lesson3.ipynb", LESSON3)
    write("dogscats_ensemble.ipynb", ENSEMBLE)
    write("dogs_cats_redux.ipynb", REDUX)
    write("finetune_today.ipynb", TODAY)
    write("mnist.ipynb", MNIST)
    write("statefarm.ipynb", STATEFARM)
    write("lesson7.ipynb", LESSON7)
    write("lesson4.ipynb", LESSON4)
    write("lesson5.ipynb", LESSON5)
    write("lesson6.ipynb", LESSON6)
