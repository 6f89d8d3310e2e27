"""The cells of the course's text and sequence lessons, ported (see make_notebooks.py, which writes
them): lesson4 (collaborative filtering on MovieLens), lesson5 (IMDB sentiment: embeddings,
convolutions, GloVe vectors, an LSTM) and lesson6 (character models on Nietzsche: hand-made and
Keras RNNs, stateful LSTMs, and the RNN written in Theano, on PyTensor).

Each keeps the course's Keras 1 calls (`Embedding(..., W_regularizer=l2(...))`, `merge(mode=...)`,
`Model(input, output)`, `nb_epoch`, `model.optimizer.lr = ...`), which `vggcourse.utils` provides,
and reads the real dataset when `standin = False`, or otherwise `vggcourse.text_standins`' offline
stand-in in the same format (what the test suite runs).
"""
from _cells import code, md

# Said in each text lesson's first cell.
STANDIN_NOTE = """\
As it is, the notebook needs no download: `standin = True` reads `vggcourse.text_standins`' stand-in
for {what}, in the same format, made in a second from Python's own documentation and random numbers;
what the models learn on it means nothing. Set `standin = False` to read {real}."""

LESSON4 = [
    md("""
# Collaborative filtering (lesson 4, on vggcourse)

The course's lesson 4, ported to Keras 3 and Python 3: movie recommendations from MovieLens ratings
with embeddings, first as a dot product of a user's and a movie's factors, then with biases, then
as a small neural network. The course's Keras 1 calls (`Input(shape, dtype='int64')`,
`Embedding(n, k, input_length=1, W_regularizer=l2(1e-4))`, `merge([u, m], mode='dot')`,
`Model([user_in, movie_in], x)`, `nb_epoch`, `model.optimizer.lr = 0.01`) work as they are, from
`vggcourse.utils`.

""" + STANDIN_NOTE.format(what="MovieLens' `ratings.csv` and `movies.csv`",
                          real="MovieLens' small dataset (`ml-latest-small.zip` from grouplens.org, "
                               "unzipped into `path`)")),
    code("""
# Parameters
standin = True            # False: MovieLens itself, from `path`
path = "data/ml-small/"   # the unzipped ml-latest-small (ratings.csv, movies.csv)
n_factors = 50            # the number of latent factors in each embedding
batch_size = 64
max_epochs = 10           # the course's longest fit; lower it to run every fit shorter
""", tags=("parameters",)),
    code("""
%matplotlib inline
import os
from operator import itemgetter

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from vggcourse.text_standins import movielens_standin
from vggcourse.utils import Adam, Dense, Dropout, Embedding, Flatten, Input, Model, l2, merge

if standin:
    path = movielens_standin("data/ml-standin")
model_path = path + "models/"
os.makedirs(model_path, exist_ok=True)


def ep(n):
    \"\"\"The course's number of epochs, capped by the `max_epochs` parameter.\"\"\"
    return min(n, max_epochs)
"""),
    md("""
## Set up data

MovieLens lists one rating a row: who rated, which film, how many stars, when.
"""),
    code("""
ratings = pd.read_csv(path + "ratings.csv")
ratings.head()
"""),
    code("len(ratings)"),
    md("The titles are only for looking at the results later."),
    code("""
movie_names = pd.read_csv(path + "movies.csv").set_index("movieId")["title"].to_dict()
users = ratings.userId.unique()
movies = ratings.movieId.unique()
"""),
    md("""
An embedding is a table with one row per id, so the ids are renumbered 0, 1, 2, ... without gaps.
"""),
    code("""
userid2idx = {o: i for i, o in enumerate(users)}
movieid2idx = {o: i for i, o in enumerate(movies)}
ratings.movieId = ratings.movieId.apply(lambda x: movieid2idx[x])
ratings.userId = ratings.userId.apply(lambda x: userid2idx[x])
n_users = ratings.userId.nunique()
n_movies = ratings.movieId.nunique()
n_users, n_movies
"""),
    md("""
Randomly split into training and validation. (The course wrote `np.random.seed = 42`, which
replaces NumPy's seed function with a number instead of seeding it; we call it.)
"""),
    code("""
np.random.seed(42)
msk = np.random.rand(len(ratings)) < 0.8
trn = ratings[msk]
val = ratings[~msk]
len(trn), len(val)
"""),
    md("""
## Create subset for Excel

The 15 busiest raters against the 15 most rated films, as a table (the course pasted it into a
spreadsheet to show the idea by hand). The models below do not use it. (The course joined both
counts under the same suffix, `rsuffix='_r'`; pandas 2 refuses the duplicate column that makes, so
each count gets its own name here.)
"""),
    code("""
g = ratings.groupby("userId")["rating"].count()
topUsers = g.sort_values(ascending=False)[:15].rename("user_count")
g = ratings.groupby("movieId")["rating"].count()
topMovies = g.sort_values(ascending=False)[:15].rename("movie_count")
top_r = ratings.join(topUsers, how="inner", on="userId")
top_r = top_r.join(topMovies, how="inner", on="movieId")
pd.crosstab(top_r.userId, top_r.movieId, top_r.rating, aggfunc="sum")
"""),
    md("""
## Dot product

First model: each user and each film gets a vector of `n_factors` numbers, and the predicted
rating is their dot product.
"""),
    code("""
user_in = Input(shape=(1,), dtype="int64", name="user_in")
u = Embedding(n_users, n_factors, input_length=1, W_regularizer=l2(1e-4))(user_in)
movie_in = Input(shape=(1,), dtype="int64", name="movie_in")
m = Embedding(n_movies, n_factors, input_length=1, W_regularizer=l2(1e-4))(movie_in)
x = merge([u, m], mode="dot")
x = Flatten()(x)
model = Model([user_in, movie_in], x)
model.compile(Adam(0.001), loss="mse")
"""),
    md("""
The course trains each model in turns: an epoch at the starting rate, then a few at a higher one,
then more at a lower one (`model.optimizer.lr = ...` sets the rate, as in Keras 1). `fit` does
the turns it is given and returns the last validation error.
"""),
    code("""
def fit(model, schedule):
    \"\"\"Train `model` for each (learning rate, epochs) of `schedule` in turn; the last validation mse.\"\"\"
    for lr, epochs in schedule:
        model.optimizer.lr = lr
        history = model.fit([trn.userId, trn.movieId], trn.rating, batch_size=batch_size, nb_epoch=ep(epochs),
                            validation_data=([val.userId, val.movieId], val.rating), verbose=2)
    return round(history.history["val_loss"][-1], 3)


print("dot product: validation mse", fit(model, [(0.001, 1), (0.01, 3), (0.001, 6)]))
"""),
    md("""
Published results on MovieLens reach a mean squared error a little above 0.9; on the real data this
model stays well above that.

## Bias

What is missing is a bias: some users rate everything high, some films are liked by everyone. One
more number per user and per film, an embedding of width 1, is added to the dot product.
"""),
    code("""
def embedding_input(name, n_in, n_out, reg):
    inp = Input(shape=(1,), dtype="int64", name=name)
    return inp, Embedding(n_in, n_out, input_length=1, W_regularizer=l2(reg))(inp)


def create_bias(inp, n_in):
    x = Embedding(n_in, 1, input_length=1)(inp)
    return Flatten()(x)


user_in, u = embedding_input("user_in", n_users, n_factors, 1e-4)
movie_in, m = embedding_input("movie_in", n_movies, n_factors, 1e-4)
ub = create_bias(user_in, n_users)
mb = create_bias(movie_in, n_movies)
x = merge([u, m], mode="dot")
x = Flatten()(x)
x = merge([x, ub], mode="sum")
x = merge([x, mb], mode="sum")
model = Model([user_in, movie_in], x)
model.compile(Adam(0.001), loss="mse")
"""),
    code("""
print("with biases: validation mse", fit(model, [(0.001, 1), (0.01, 6), (0.001, 10), (0.001, 5)]))
"""),
    md("On MovieLens this is better than the best benchmarks a quick search finds."),
    code("""
model.save_weights(model_path + "bias.h5")
model.load_weights(model_path + "bias.h5")
"""),
    md("""
A prediction takes a user id and a film id; here, the rating user 3 would give film 6.
"""),
    code("model.predict([np.array([3]), np.array([6])])"),
    md("""
## Analyze results

The factors are easier to read on films many people rated: the 2,000 most rated ones.
"""),
    code("""
g = ratings.groupby("movieId")["rating"].count()
topMovies = g.sort_values(ascending=False)[:2000]
topMovies = np.array(topMovies.index)
"""),
    md("""
The film biases first: a functional `Model` from the film id input to the bias layer's output
reads them out with `predict`.
"""),
    code("""
get_movie_bias = Model(movie_in, mb)
movie_bias = get_movie_bias.predict(topMovies)
movie_ratings = [(b[0], movie_names[movies[i]]) for i, b in zip(topMovies, movie_bias)]
"""),
    md("""
The lowest and highest biases: a film's own appeal, once each rater's generosity is accounted for.
"""),
    code("sorted(movie_ratings, key=itemgetter(0))[:15]"),
    code("sorted(movie_ratings, key=itemgetter(0), reverse=True)[:15]"),
    md("""
The film vectors next. Fifty numbers per film are hard to read, so PCA keeps the three directions
along which the films differ most.
"""),
    code("""
from sklearn.decomposition import PCA

get_movie_emb = Model(movie_in, m)
movie_emb = np.squeeze(get_movie_emb.predict([topMovies]))
pca = PCA(n_components=3)
movie_pca = pca.fit(movie_emb.T).components_
movie_emb.shape, movie_pca.shape
"""),
    md("On MovieLens, the 1st component seems to be 'critically acclaimed' or 'classic'."),
    code("""
fac0 = movie_pca[0]
movie_comp = [(f, movie_names[movies[i]]) for f, i in zip(fac0, topMovies)]
sorted(movie_comp, key=itemgetter(0), reverse=True)[:10], sorted(movie_comp, key=itemgetter(0))[:10]
"""),
    md("The 2nd is 'hollywood blockbuster'."),
    code("""
fac1 = movie_pca[1]
movie_comp = [(f, movie_names[movies[i]]) for f, i in zip(fac1, topMovies)]
sorted(movie_comp, key=itemgetter(0), reverse=True)[:10], sorted(movie_comp, key=itemgetter(0))[:10]
"""),
    md("The 3rd is 'violent vs happy'."),
    code("""
fac2 = movie_pca[2]
movie_comp = [(f, movie_names[movies[i]]) for f, i in zip(fac2, topMovies)]
sorted(movie_comp, key=itemgetter(0), reverse=True)[:10], sorted(movie_comp, key=itemgetter(0))[:10]
"""),
    md("""
A scatter plot of some films on the 1st and 3rd components, titles as labels. (The course set Python 2's default encoding here to print
the titles; Python 3's strings need nothing.)
"""),
    code("""
start, end = 50, 100
X = fac0[start:end]
Y = fac2[start:end]
plt.figure(figsize=(15, 15))
plt.scatter(X, Y)
for i, x, y in zip(topMovies[start:end], X, Y):
    plt.text(x, y, movie_names[movies[i]], color=np.random.rand(3) * 0.7, fontsize=14)
plt.show()
"""),
    md("""
## Neural net

Instead of writing the dot product ourselves, a small dense network can learn how to combine the
two vectors: they are concatenated and fed to it.
"""),
    code("""
user_in, u = embedding_input("user_in", n_users, n_factors, 1e-4)
movie_in, m = embedding_input("movie_in", n_movies, n_factors, 1e-4)
x = merge([u, m], mode="concat")
x = Flatten()(x)
x = Dropout(0.3)(x)
x = Dense(70, activation="relu")(x)
x = Dropout(0.75)(x)
x = Dense(1)(x)
nn = Model([user_in, movie_in], x)
nn.compile(Adam(0.001), loss="mse")
"""),
    code("""
print("neural net: validation mse", fit(nn, [(0.001, 8)]))
"""),
    md("On the real MovieLens data the course found this the best of the three."),
]

LESSON5 = [
    md("""
# Sentiment analysis on IMDB (lesson 5, on vggcourse)

The course's lesson 5, ported to Keras 3 and Python 3: is a movie review positive or negative?
Words become ids, ids become learned embeddings; then a dense network, a 1D convolution, pretrained
GloVe word vectors, a multi-size convolution and an LSTM. The course's Keras 1 calls
(`Embedding(..., dropout=0.2)`, `Convolution1D(64, 5, border_mode='same')`, `Merge(mode='concat')`,
`LSTM(100, consume_less='gpu')`, `nb_epoch`) work as they are, from `vggcourse.utils`; the GloVe
vectors are the course's bcolz arrays, which `load_array` reads.

""" + STANDIN_NOTE.format(what="IMDB's reviews, Keras' IMDB word index and GloVe's 50-dimensional "
                               "vectors",
                          real="the course's files (downloaded once into Keras' cache: "
                               "`imdb_full.pkl`, Keras' `imdb_word_index.json` and files.fast.ai's "
                               "`6B.50d.tgz`)")),
    code("""
# Parameters
standin = True       # False: the course's IMDB reviews and GloVe vectors (downloads)
vocab_size = 5000    # words kept; rarer words share the last id
seq_len = 500        # words per review, after padding or truncating
batch_size = 64
max_epochs = 5       # the course's longest fit; lower it to run every fit shorter
model_path = "data/imdb/models/"
""", tags=("parameters",)),
    code("""
%matplotlib inline
import os
import pickle
import re

import numpy as np
from numpy.random import normal
from vggcourse.keras1 import imdb
from vggcourse.text_standins import glove_standin, imdb_standin
from vggcourse.utils import (LSTM, Adam, Convolution1D, Dense, Dropout, Embedding, Flatten, Input, Merge,
                             MaxPooling1D, Model, Sequential, get_file, l2, load_array, sequence)

os.makedirs(model_path, exist_ok=True)


def ep(n):
    \"\"\"The course's number of epochs, capped by the `max_epochs` parameter.\"\"\"
    return min(n, max_epochs)
"""),
    md("""
## Setup data

IMDB reviews, each labelled positive or negative. Keras publishes a word index for them: each word
mapped to its rank by frequency (1 is the most frequent).
"""),
    code("""
if standin:
    idx, (x_train, labels_train), (x_test, labels_test) = imdb_standin()
else:
    idx = imdb.get_word_index()
    # the reviews as the course downloaded them (code copied from keras.datasets in 2016)
    path = get_file("imdb_full.pkl", origin="https://s3.amazonaws.com/text-datasets/imdb_full.pkl",
                    md5_hash="d091312047c43cf9e4e38fef92437263")
    with open(path, "rb") as f:
        (x_train, labels_train), (x_test, labels_test) = pickle.load(f)
idx_arr = sorted(idx, key=idx.get)
idx_arr[:10]
"""),
    md("Turned around, it maps ids back to words:"),
    code("""
idx2word = {v: k for k, v in idx.items()}
len(x_train), len(x_test)
"""),
    md("""
A review is a list of word ids; `idx2word` turns it back into text.
"""),
    code("""
print(", ".join(map(str, x_train[0][:20])))
" ".join([idx2word[o] for o in x_train[0]])[:300]
"""),
    md("1 marks a positive review, 0 a negative one."),
    code("labels_train[:10]"),
    md("Reduce the vocabulary by setting rare words to the last id:"),
    code("""
trn = [np.array([i if i < vocab_size - 1 else vocab_size - 1 for i in s]) for s in x_train]
test = [np.array([i if i < vocab_size - 1 else vocab_size - 1 for i in s]) for s in x_test]
lens = np.array(list(map(len, trn)))
(lens.max(), lens.min(), lens.mean())
"""),
    md("""
Every review is made `seq_len` words long, zeros in front of the short ones and the long ones cut,
so that the reviews form one matrix.
"""),
    code("""
trn = sequence.pad_sequences(trn, maxlen=seq_len, value=0)
test = sequence.pad_sequences(test, maxlen=seq_len, value=0)
labels_train, labels_test = np.array(labels_train), np.array(labels_test)
trn.shape
"""),
    md("""
## Create simple models

### Single hidden layer NN

A first baseline: one hidden dense layer. Ids are not quantities, so an embedding first turns each
word into 32 learned numbers.
"""),
    code("""
model = Sequential([
    Embedding(vocab_size, 32, input_length=seq_len),
    Flatten(),
    Dense(100, activation="relu"),
    Dropout(0.7),
    Dense(1, activation="sigmoid")])
model.compile(loss="binary_crossentropy", optimizer=Adam(), metrics=["accuracy"])
model.summary()
"""),
    code("""
def fit(model, epochs):
    \"\"\"Train `model` on the reviews for `epochs` (capped by `max_epochs`); the last validation accuracy.\"\"\"
    history = model.fit(trn, labels_train, validation_data=(test, labels_test), nb_epoch=ep(epochs),
                        batch_size=batch_size, verbose=2)
    return round(history.history["val_accuracy"][-1], 3)


print("single hidden layer: validation accuracy", fit(model, 2))
"""),
    md("""
The paper that introduced this dataset reported 88.3% accuracy without its unlabelled reviews; on
the real data this baseline comes close.

### Single conv layer with max pooling

Word order matters, and a convolution looks at neighbouring words together: a 1D convolution over
the sequence.
"""),
    code("""
def conv_model(embedding, p):
    \"\"\"A 1D convolution and max pooling on `embedding`'s vectors, dropout `p` before and after.\"\"\"
    model = Sequential([
        embedding,
        Dropout(p),
        Convolution1D(64, 5, border_mode="same", activation="relu"),
        Dropout(p),
        MaxPooling1D(),
        Flatten(),
        Dense(100, activation="relu"),
        Dropout(0.7),
        Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=Adam(), metrics=["accuracy"])
    return model


conv1 = conv_model(Embedding(vocab_size, 32, input_length=seq_len, dropout=0.2), 0.2)
print("conv1: validation accuracy", fit(conv1, 4))
"""),
    md("On IMDB that's well past the Stanford paper's accuracy: another win for CNNs!"),
    code("""
conv1.save_weights(model_path + "conv1.h5")
conv1.load_weights(model_path + "conv1.h5")
"""),
    md("""
## Pre-trained vectors

The same convolutional model, but starting from word vectors learned elsewhere: GloVe's
50-number vectors, which the course saved as bcolz arrays (its wordvectors notebook made them);
`load_array` reads them.
"""),
    code("""
def get_glove_dataset(dataset):
    \"\"\"Download the requested GloVe dataset from files.fast.ai and return a location that can be
    passed to load_vectors.\"\"\"
    md5sums = {"6B.50d": "8e1557d1228decbda7db6dfd81cd9909",
               "6B.100d": "c92dbbeacde2b0384a43014885a60b2c",
               "6B.200d": "af271b46c04b0b2e41a84d8cd806178d",
               "6B.300d": "30290210376887dcc6d0a5a6374d8255"}
    glove_path = os.path.abspath("data/glove/results")
    os.makedirs(glove_path, exist_ok=True)
    return get_file(dataset, "http://files.fast.ai/models/glove/" + dataset + ".tgz", cache_subdir=glove_path,
                    md5_hash=md5sums.get(dataset, None), untar=True)


def load_vectors(loc):
    with open(loc + "_words.pkl", "rb") as words, open(loc + "_idx.pkl", "rb") as wordidx:
        return load_array(loc + ".dat"), pickle.load(words), pickle.load(wordidx)


vecs, words, wordidx = glove_standin(idx) if standin else load_vectors(get_glove_dataset("6B.50d"))
vecs.shape
"""),
    md("""
GloVe numbers its words differently from the IMDB index, so `create_emb` builds a matrix in IMDB's
order from GloVe's vectors. (The course looked up
every plain word in GloVe and stopped with a KeyError on one that GloVe lacks; such a word is
randomly initialised here, as the course did for words with other characters.)
"""),
    code("""
def create_emb():
    n_fact = vecs.shape[1]
    emb = np.zeros((vocab_size, n_fact))
    for i in range(1, len(emb)):
        word = idx2word[i]
        if word and re.match(r"^[a-zA-Z0-9\\-]*$", word) and word in wordidx:
            emb[i] = vecs[wordidx[word]]
        else:
            # not in GloVe: randomly initialise
            emb[i] = normal(scale=0.6, size=(n_fact,))
    # this is our "rare word" id: randomly initialise it too
    emb[-1] = normal(scale=0.6, size=(n_fact,))
    emb /= 3
    return emb


emb = create_emb()
"""),
    md("The matrix becomes the embedding's weights, frozen at first."),
    code("""
model = conv_model(Embedding(vocab_size, 50, input_length=seq_len, dropout=0.2, weights=[emb], trainable=False),
                   0.25)
print("GloVe, frozen: validation accuracy", fit(model, 2))
"""),
    md("""
Then the embedding is trained too: the words GloVe lacks started from random vectors. As in Keras 1, changing
`trainable` needs no new `compile`: the next `fit` trains the new set.
"""),
    code("""
model.layers[0].trainable = True
model.optimizer.lr = 1e-4
print("GloVe, fine-tuned: validation accuracy", fit(model, 1))
model.save_weights(model_path + "glove50.h5")
"""),
    md("""
## Multi-size CNN

A multi-size CNN, as in Ben Bowles' blog post: the functional API makes conv layers of three
filter sizes over the same input, and concatenates them. (The course gave the graph the input
shape `(vocab_size, 50)`; its input is the embedding's output, `(seq_len, 50)`. Keras 1 ran a model
on whatever length it was given, and so does `vggcourse.keras1.Model`; the shape written here is
the one it gets.)
"""),
    code("""
graph_in = Input((seq_len, 50))
convs = []
for fsz in range(3, 6):
    x = Convolution1D(64, fsz, border_mode="same", activation="relu")(graph_in)
    x = MaxPooling1D()(x)
    x = Flatten()(x)
    convs.append(x)
out = Merge(mode="concat")(convs)
graph = Model(graph_in, out)
"""),
    md("The graph takes the place of the single convolution and pooling in the model above."),
    code("""
emb = create_emb()
model = Sequential([
    Embedding(vocab_size, 50, input_length=seq_len, dropout=0.2, weights=[emb]),
    Dropout(0.2),
    graph,
    Dropout(0.5),
    Dense(100, activation="relu"),
    Dropout(0.7),
    Dense(1, activation="sigmoid")])
model.compile(loss="binary_crossentropy", optimizer=Adam(), metrics=["accuracy"])
print("multi-size CNN, embedding trained: validation accuracy", fit(model, 2))
"""),
    md("""
The course found the best results starting with the embedding trainable, then making it
non-trainable after a couple of epochs.
"""),
    code("""
model.layers[0].trainable = False
model.optimizer.lr = 1e-5
print("multi-size CNN: validation accuracy", fit(model, 2))
"""),
    md("""
## LSTM

A recurrent layer reads the review word by word. `mask_zero=True` makes it skip the padding.
(`consume_less='gpu'` was Keras 1's choice of implementation; Keras 3 chooses for itself.)
"""),
    code("""
model = Sequential([
    Embedding(vocab_size, 32, input_length=seq_len, mask_zero=True, W_regularizer=l2(1e-6), dropout=0.2),
    LSTM(100, consume_less="gpu"),
    Dense(1, activation="sigmoid")])
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
model.summary()
print("LSTM: validation accuracy", fit(model, 5))
"""),
]
LESSON6 = [
    md("""
# Recurrent networks, from scratch (lesson 6, on vggcourse)

The course's lesson 6, ported to Keras 3 and Python 3: predict the next character of Nietzsche's
writing, first with models built by hand from dense layers (3 characters in, then 8), then with
Keras' `SimpleRNN`, sequence outputs, a stateful LSTM and a GRU; then an RNN and a GRU written in
Theano, and one in plain NumPy with its backpropagation by hand. The course's Keras 1 calls
(`merge`, `Dense(..., init='identity')`, `SimpleRNN(..., inner_init='identity')`,
`batch_input_shape=`, `stateful=True`, `nb_epoch`) work as they are, from `vggcourse.utils`; its
Theano code (`theano.shared`, `T.dot`, `theano.scan`, `T.grad`, `theano.function(updates=...)`) runs
unchanged on PyTensor, Theano's maintained successor.

""" + STANDIN_NOTE.format(what="Nietzsche's text (English in Nietzsche's 85 characters)",
                          real="`nietzsche.txt` (downloaded once into Keras' cache)")),
    code("""
# Parameters
standin = True    # False: Nietzsche's text (a download)
n_chars = None    # None: the whole text; a number keeps its first n characters
max_epochs = 12   # the course's longest fit; lower it to run every fit shorter
n_hidden = 256
batch_size = 64
""", tags=("parameters",)),
    code("""
%matplotlib inline
import math
from collections import OrderedDict
from itertools import chain

import numpy as np
from numpy import newaxis
from numpy.random import normal, random
from vggcourse.text_standins import nietzsche_standin
from vggcourse.utils import (GRU, LSTM, Adam, BatchNormalization, Dense, Embedding, Flatten, Input, Model,
                             Sequential, SimpleRNN, T, TimeDistributed, get_file, merge, nnet, shared, theano,
                             to_categorical)


def ep(n):
    \"\"\"The course's number of epochs, capped by the `max_epochs` parameter.\"\"\"
    return min(n, max_epochs)


if standin:
    text = nietzsche_standin()
else:
    path = get_file("nietzsche.txt", origin="https://s3.amazonaws.com/text-datasets/nietzsche.txt")
    with open(path, encoding="utf-8") as f:
        text = f.read()
text = text[:n_chars]
print("corpus length:", len(text))
"""),
    md("""
## Setup

The vocabulary is every character of the text, plus character 0, which later pads sequences. Each
character becomes its index.
"""),
    code("""
chars = sorted(set(text))
vocab_size = len(chars) + 1
print("total chars:", vocab_size)
chars.insert(0, "\\0")
char_indices = {c: i for i, c in enumerate(chars)}
indices_char = {i: c for i, c in enumerate(chars)}
idx = [char_indices[c] for c in text]
"".join(indices_char[i] for i in idx[:70])
"""),
    md("""
## 3 char model

### Create inputs

The text cut into groups of four characters: the model reads three and predicts the fourth.
`c1_dat` holds each group's first character, `c2_dat` its second, and so on.
"""),
    code("""
cs = 3
c1_dat = [idx[i] for i in range(0, len(idx) - 1 - cs, cs)]
c2_dat = [idx[i + 1] for i in range(0, len(idx) - 1 - cs, cs)]
c3_dat = [idx[i + 2] for i in range(0, len(idx) - 1 - cs, cs)]
c4_dat = [idx[i + 3] for i in range(0, len(idx) - 1 - cs, cs)]
x1 = np.stack(c1_dat[:-2])
x2 = np.stack(c2_dat[:-2])
x3 = np.stack(c3_dat[:-2])
y = np.stack(c4_dat[:-2])
x1[:4], x2[:4], x3[:4], y[:4], x1.shape, y.shape
"""),
    md("""
### Create and train model

Each character goes through an embedding of `n_fac` factors. The first character's embedding goes
into a dense layer; each later character's dense output is added (`merge`'s default mode, 'sum') to
the previous hidden state, passed through a second dense layer. The same layers are used at every
step: that is what makes it recurrent.
"""),
    code("""
n_fac = 42


def embedding_input(name, n_in, n_out):
    inp = Input(shape=(1,), dtype="int64", name=name)
    emb = Embedding(n_in, n_out, input_length=1)(inp)
    return inp, Flatten()(emb)


c1_in, c1 = embedding_input("c1", vocab_size, n_fac)
c2_in, c2 = embedding_input("c2", vocab_size, n_fac)
c3_in, c3 = embedding_input("c3", vocab_size, n_fac)
dense_in = Dense(n_hidden, activation="relu")
dense_hidden = Dense(n_hidden, activation="tanh")
dense_out = Dense(vocab_size, activation="softmax")
c1_hidden = dense_in(c1)
c2_dense = dense_in(c2)
hidden_2 = dense_hidden(c1_hidden)
c2_hidden = merge([c2_dense, hidden_2])
c3_dense = dense_in(c3)
hidden_3 = dense_hidden(c2_hidden)
c3_hidden = merge([c3_dense, hidden_3])
c4_out = dense_out(c3_hidden)
model = Model([c1_in, c2_in, c3_in], c4_out)
model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam())
"""),
    md("""
The course trained it in turns at two learning rates, spelled `model.optimizer.lr = ...` and
Theano's `model.optimizer.lr.set_value(...)`; both set the rate here.
"""),
    code("""
model.optimizer.lr = 0.000001
model.fit([x1, x2, x3], y, batch_size=batch_size, nb_epoch=ep(4), verbose=2)
model.optimizer.lr = 0.01
model.fit([x1, x2, x3], y, batch_size=batch_size, nb_epoch=ep(4), verbose=2)
model.optimizer.lr.set_value(0.000001)
model.fit([x1, x2, x3], y, batch_size=batch_size, nb_epoch=ep(4), verbose=2)
model.optimizer.lr.set_value(0.01)
model.fit([x1, x2, x3], y, batch_size=batch_size, nb_epoch=ep(4), verbose=2)
"""),
    md("### Test model"),
    code("""
def get_next(inp):
    idxs = [char_indices[c] for c in inp]
    arrs = [np.array(i)[np.newaxis] for i in idxs]
    p = model.predict(arrs, verbose=0)
    return chars[np.argmax(p)]


get_next("phi"), get_next(" th"), get_next(" an")
"""),
    md("""
## Our first RNN

### Create inputs

The same idea with 8 characters in (`cs`), written as loops over the characters.
"""),
    code("""
cs = 8
c_in_dat = [[idx[i + n] for i in range(0, len(idx) - 1 - cs, cs)] for n in range(cs)]
c_out_dat = [idx[i + cs] for i in range(0, len(idx) - 1 - cs, cs)]
xs = [np.stack(c[:-2]) for c in c_in_dat]
y = np.stack(c_out_dat[:-2])
len(xs), xs[0].shape, y.shape
"""),
    md("""
### Create and train model

The hidden-to-hidden layer starts as the identity matrix (`init='identity'`), which helps the
gradient through many steps.
"""),
    code("""
def embedding_input(name, n_in, n_out):
    inp = Input(shape=(1,), dtype="int64", name=name + "_in")
    emb = Embedding(n_in, n_out, input_length=1, name=name + "_emb")(inp)
    return inp, Flatten()(emb)


c_ins = [embedding_input("c" + str(n), vocab_size, n_fac) for n in range(cs)]
dense_in = Dense(n_hidden, activation="relu")
dense_hidden = Dense(n_hidden, activation="relu", init="identity")
dense_out = Dense(vocab_size, activation="softmax")
hidden = dense_in(c_ins[0][1])
for i in range(1, cs):
    c_dense = dense_in(c_ins[i][1])
    hidden = dense_hidden(hidden)
    hidden = merge([c_dense, hidden])
c_out = dense_out(hidden)
model = Model([c[0] for c in c_ins], c_out)
model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam())
model.fit(xs, y, batch_size=batch_size, nb_epoch=ep(12), verbose=2)
"""),
    code("""
def get_next(inp):
    idxs = [np.array(char_indices[c])[np.newaxis] for c in inp]
    p = model.predict(idxs, verbose=0)
    return chars[np.argmax(p)]


get_next("for thos"), get_next("part of "), get_next("queens a")
"""),
    md("""
## Our first RNN with Keras

Keras' `SimpleRNN` is the loop above in one layer. It takes the 8 characters as one array, a
column each. (The course wrote the sizes out here, `vocab_size = 86`, Nietzsche's; we keep the
vocabulary computed from the text. It also joined the columns with `np.concatenate(xs, axis=1)`,
which fails on the 1-d `xs` made above; `np.stack(xs, axis=1)` makes the columns.)
"""),
    code("""
model = Sequential([
    Embedding(vocab_size, n_fac, input_length=cs),
    SimpleRNN(n_hidden, activation="relu", inner_init="identity"),
    Dense(vocab_size, activation="softmax")])
model.summary()
model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam())
model.fit(np.stack(xs, axis=1), y, batch_size=batch_size, nb_epoch=ep(8), verbose=2)
"""),
    code("""
def get_next_keras(inp):
    idxs = [char_indices[c] for c in inp]
    arrs = np.array(idxs)[np.newaxis, :]
    p = model.predict(arrs, verbose=0)[0]
    return chars[np.argmax(p)]


get_next_keras("this is "), get_next_keras("part of "), get_next_keras("queens a")
"""),
    md("""
## Returning sequences

### Create inputs

Rather than one prediction after 8 characters, predict the next character after each one: the
outputs are the inputs shifted by one.
"""),
    code("""
c_out_dat = [[idx[i + n] for i in range(1, len(idx) - cs, cs)] for n in range(cs)]
ys = [np.stack(c[:-2]) for c in c_out_dat]
[xs[n][:cs] for n in range(cs)], [ys[n][:cs] for n in range(cs)]
"""),
    md("""
### Create and train model

The hand-made RNN again, with an output at every step. The first hidden state comes from an input
of zeros.
"""),
    code("""
dense_in = Dense(n_hidden, activation="relu")
dense_hidden = Dense(n_hidden, activation="relu", init="identity")
dense_out = Dense(vocab_size, activation="softmax", name="output")
inp1 = Input(shape=(n_fac,), name="zeros")
hidden = dense_in(inp1)
outs = []
for i in range(cs):
    c_dense = dense_in(c_ins[i][1])
    hidden = dense_hidden(hidden)
    hidden = merge([c_dense, hidden], mode="sum")
    outs.append(dense_out(hidden))  # every step now has an output
model = Model([inp1] + [c[0] for c in c_ins], outs)
model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam())
zeros = np.tile(np.zeros(n_fac), (len(xs[0]), 1))
model.fit([zeros] + xs, ys, batch_size=batch_size, nb_epoch=ep(12), verbose=2)
"""),
    code("""
def get_nexts(inp):
    idxs = [char_indices[c] for c in inp]
    arrs = [np.array(i)[np.newaxis] for i in idxs]
    p = model.predict([np.zeros(n_fac)[np.newaxis, :]] + arrs, verbose=0)
    print(list(inp))
    return [chars[np.argmax(o)] for o in p]


get_nexts(" this is"), get_nexts(" part of")
"""),
    md("""
### Sequence model with Keras

`return_sequences=True` gives the RNN's output at every step; `TimeDistributed` applies the same
dense layer to each.
"""),
    code("""
model = Sequential([
    Embedding(vocab_size, n_fac, input_length=cs),
    SimpleRNN(n_hidden, return_sequences=True, activation="relu", inner_init="identity"),
    TimeDistributed(Dense(vocab_size, activation="softmax"))])
model.summary()
model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam())
x_rnn = np.stack(np.squeeze(xs), axis=1)
y_rnn = np.atleast_3d(np.stack(ys, axis=1))
print(x_rnn.shape, y_rnn.shape)
model.fit(x_rnn, y_rnn, batch_size=batch_size, nb_epoch=ep(8), verbose=2)
"""),
    code("""
def get_nexts_keras(inp):
    idxs = [char_indices[c] for c in inp]
    arr = np.array(idxs)[np.newaxis, :]
    p = model.predict(arr, verbose=0)[0]
    print(list(inp))
    return [chars[np.argmax(o)] for o in p]


get_nexts_keras(" this is")
"""),
    md("""
### One-hot sequence model with Keras

The same with one-hot encoded characters in and out, instead of an embedding.
"""),
    code("""
model = Sequential([
    SimpleRNN(n_hidden, return_sequences=True, input_shape=(cs, vocab_size), activation="relu",
              inner_init="identity"),
    TimeDistributed(Dense(vocab_size, activation="softmax"))])
model.compile(loss="categorical_crossentropy", optimizer=Adam())
oh_ys = [to_categorical(o, vocab_size) for o in ys]
oh_y_rnn = np.stack(oh_ys, axis=1)
oh_xs = [to_categorical(o, vocab_size) for o in xs]
oh_x_rnn = np.stack(oh_xs, axis=1)
print(oh_x_rnn.shape, oh_y_rnn.shape)
model.fit(oh_x_rnn, oh_y_rnn, batch_size=batch_size, nb_epoch=ep(8), verbose=2)
"""),
    code("""
def get_nexts_oh(inp):
    idxs = np.array([char_indices[c] for c in inp])
    arr = to_categorical(idxs, vocab_size)
    p = model.predict(arr[np.newaxis, :], verbose=0)[0]
    print(list(inp))
    return [chars[np.argmax(o)] for o in p]


get_nexts_oh(" this is")
"""),
    md("""
## Stateful model with Keras

A stateful LSTM carries its state from one batch to the next, so it sees further back than 8
characters: the batch size is part of the model (`batch_input_shape`), and the batches must come in
order (`shuffle=False`). On the JAX backend, Keras 3's `fit` does not carry the state between
batches (see the README); TensorFlow and PyTorch do.
"""),
    code("""
bs = 64
model = Sequential([
    Embedding(vocab_size, n_fac, input_length=cs, batch_input_shape=(bs, 8)),
    BatchNormalization(),
    LSTM(n_hidden, return_sequences=True, stateful=True),
    TimeDistributed(Dense(vocab_size, activation="softmax"))])
model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam())
mx = len(x_rnn) // bs * bs
model.fit(x_rnn[:mx], y_rnn[:mx], batch_size=bs, nb_epoch=ep(4), shuffle=False, verbose=2)
model.optimizer.lr = 1e-4
model.fit(x_rnn[:mx], y_rnn[:mx], batch_size=bs, nb_epoch=ep(4), shuffle=False, verbose=2)
model.reset_states()
"""),
    md("""
## Theano RNN

The same RNN in Theano: shared variables for the weights, a `step` function for one character,
`theano.scan` to run it along a sequence, `T.grad` for the gradients and a `theano.function` whose
`updates` do one step of SGD. It runs unchanged on PyTensor.
"""),
    code("""
n_input = vocab_size
n_output = vocab_size


def init_wgts(rows, cols):
    scale = math.sqrt(2 / rows)
    return shared(normal(scale=scale, size=(rows, cols)).astype(np.float32))


def init_bias(rows):
    return shared(np.zeros(rows, dtype=np.float32))


def wgts_and_bias(n_in, n_out):
    return init_wgts(n_in, n_out), init_bias(n_out)


def id_and_bias(n):
    return shared(np.eye(n, dtype=np.float32)), init_bias(n)


t_inp = T.matrix("inp")
t_outp = T.matrix("outp")
t_h0 = T.vector("h0")
lr = T.scalar("lr")
all_args = [t_h0, t_inp, t_outp, lr]
W_h = id_and_bias(n_hidden)
W_x = wgts_and_bias(n_input, n_hidden)
W_y = wgts_and_bias(n_hidden, n_output)
w_all = list(chain.from_iterable([W_h, W_x, W_y]))
"""),
    code("""
def step(x, h, W_h, b_h, W_x, b_x, W_y, b_y):
    # the hidden activations
    h = nnet.relu(T.dot(x, W_x) + b_x + T.dot(h, W_h) + b_h)
    # the output activations
    y = nnet.softmax(T.dot(h, W_y) + b_y)
    # both (flattening y worked around a Theano bug)
    return h, T.flatten(y, 1)


def upd_dict(wgts, grads, lr):
    return OrderedDict({w: w - g * lr for (w, g) in zip(wgts, grads)})


def sgd_function(step, w_all):
    \"\"\"`step` run along a sequence by `theano.scan`, and a Theano function that makes one SGD step
    of the weights `w_all` on the sequence's error and returns the error; and the outputs `v_y`.\"\"\"
    [v_h, v_y], _ = theano.scan(step, sequences=t_inp, outputs_info=[t_h0, None], non_sequences=w_all)
    error = nnet.categorical_crossentropy(v_y, t_outp).sum()
    g_all = T.grad(error, w_all)
    upd = upd_dict(w_all, g_all, lr)
    return theano.function(all_args, error, updates=upd, allow_input_downcast=True), v_y


fn, v_y = sgd_function(step, w_all)
"""),
    md("One sequence at a time, each a step of SGD; the error is printed every 1,000 sequences."),
    code("""
def train(fn, l_rate, decay=1.0):
    \"\"\"One step of `fn` per sequence of X (inputs) and Y (outputs) at the rate `l_rate`; every
    1,000 sequences the mean error is printed and the rate multiplied by `decay`. All the errors.\"\"\"
    errors = []
    for i in range(len(X)):
        errors.append(fn(np.zeros(n_hidden), X[i], Y[i], l_rate))
        if i % 1000 == 999:
            print("Error:{:.3f}".format(np.mean(errors[-1000:])))
            l_rate *= decay
    return errors


X = oh_x_rnn
Y = oh_y_rnn
errors = train(fn, 0.01)
f_y = theano.function([t_h0, t_inp], v_y, allow_input_downcast=True)
pred = np.argmax(f_y(np.zeros(n_hidden), X[6]), axis=1)
act = np.argmax(X[6], axis=1)
[indices_char[o] for o in act], [indices_char[o] for o in pred]
"""),
    md("""
## Pure Python RNN!

### Set up basic functions

Now the whole thing in NumPy, gradients by hand: activations, loss and softmax with their
derivatives, each checked against Theano's.
"""),
    code("""
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_d(x):
    output = sigmoid(x)
    return output * (1 - output)


def relu(x):
    return np.maximum(0., x)


def relu_d(x):
    return (x > 0.) * 1.


def dist(a, b):
    return pow(a - b, 2)


def dist_d(a, b):
    return 2 * (a - b)


eps = 1e-7


def x_entropy(pred, actual):
    return -np.sum(actual * np.log(np.clip(pred, eps, 1 - eps)))


def x_entropy_d(pred, actual):
    return -actual / pred


def softmax(x):
    return np.exp(x) / np.exp(x).sum()


def softmax_d(x):
    sm = softmax(x)
    res = np.expand_dims(-sm, -1) * sm
    res[np.diag_indices_from(res)] = sm * (1 - sm)
    return res


relu(np.array([3., -3.])), relu_d(np.array([3., -3.]))
"""),
    code("""
test_preds = np.array([0.2, 0.7, 0.1])
test_actuals = np.array([0., 1., 0.])
print(nnet.categorical_crossentropy(test_preds, test_actuals).eval(), x_entropy(test_preds, test_actuals))
test_inp = T.dvector()
test_out = nnet.categorical_crossentropy(test_inp, test_actuals)
test_grad = theano.function([test_inp], T.grad(test_out, test_inp))
test_grad(test_preds), x_entropy_d(test_preds, test_actuals)
"""),
    code("""
pre_pred = random(oh_x_rnn[0][0].shape)
preds = softmax(pre_pred)
actual = oh_x_rnn[0][0]
print(np.allclose(softmax_d(pre_pred).dot(x_entropy_d(preds, actual)), preds - actual))
print(softmax(test_preds), nnet.softmax(test_preds).eval())
test_out = T.flatten(nnet.softmax(test_inp))
test_grad = theano.function([test_inp], theano.gradient.jacobian(test_out, test_inp))
test_grad(test_preds), softmax_d(test_preds)
"""),
    md("`scan` in plain Python: apply a function along a sequence, carrying the previous result."),
    code("""
act = relu
act_d = relu_d
loss = x_entropy
loss_d = x_entropy_d


def scan(fn, start, seq):
    res = []
    prev = start
    for s in seq:
        app = fn(prev, s)
        res.append(app)
        prev = app
    return res


scan(lambda prev, curr: prev + curr, 0, range(5))
"""),
    md("### Set up training"),
    code("""
inp = oh_x_rnn
outp = oh_y_rnn
n_input = vocab_size
n_output = vocab_size
inp.shape, outp.shape
"""),
    code("""
def one_char(prev, item):
    # the previous state
    tot_loss, pre_hidden, pre_pred, hidden, ypred = prev
    # this step's input and output
    x, y = item
    pre_hidden = np.dot(x, w_x) + np.dot(hidden, w_h)
    hidden = act(pre_hidden)
    pre_pred = np.dot(hidden, w_y)
    ypred = softmax(pre_pred)
    return (tot_loss + loss(ypred, y),  # the loss, to report it
            pre_hidden, pre_pred,       # for backprop
            hidden,                     # for the next step
            ypred)                      # the predictions


def get_chars(n):
    return zip(inp[n], outp[n])


def one_fwd(n):
    return scan(one_char, (0, 0, 0, np.zeros(n_hidden), 0), get_chars(n))


def col(x):
    \"\"\"`x` as a column.\"\"\"
    return x[:, newaxis]


def one_bkwd(args, n):
    global w_x, w_y, w_h
    i = inp[n]   # cs x vocab_size
    o = outp[n]  # cs x vocab_size
    d_pre_hidden = np.zeros(n_hidden)
    for p in reversed(range(len(i))):
        totloss, pre_hidden, pre_pred, hidden, ypred = args[p]
        x = i[p]
        y = o[p]
        d_pre_pred = softmax_d(pre_pred).dot(loss_d(ypred, y))
        d_pre_hidden = (np.dot(d_pre_hidden, w_h.T) + np.dot(d_pre_pred, w_y.T)) * act_d(pre_hidden)
        # d(loss)/d(w_y) = d(loss)/d(pre_pred) * d(pre_pred)/d(w_y)
        w_y -= col(hidden) * d_pre_pred * alpha
        # d(loss)/d(w_h) = d(loss)/d(pre_hidden[p-1]) * d(pre_hidden[p-1])/d(w_h)
        if p > 0:
            w_h -= args[p - 1][3].dot(d_pre_hidden) * alpha
        w_x -= col(x) * d_pre_hidden * alpha
    return d_pre_hidden
"""),
    md("""
Train: 10,000 sequences (the course's count; fewer when the text has fewer), the error and the
gradient's norm every 1,000.
"""),
    code("""
scale = math.sqrt(2. / n_input)
w_x = normal(scale=scale, size=(n_input, n_hidden))
w_y = normal(scale=scale, size=(n_hidden, n_output))
w_h = np.eye(n_hidden, dtype=np.float32)
overallError = 0
alpha = 0.0001
for n in range(min(10000, len(inp))):
    res = one_fwd(n)
    overallError += res[-1][0]
    deriv = one_bkwd(res, n)
    if n % 1000 == 999:
        print("Error:{:.4f}; Gradient:{:.5f}".format(overallError / 1000, np.linalg.norm(deriv)))
        overallError = 0
"""),
    md("""
## Keras GRU

A GRU gates what the hidden state keeps; Keras has it as one layer.
"""),
    code("""
model = Sequential([
    GRU(n_hidden, return_sequences=True, input_shape=(cs, vocab_size), activation="relu", inner_init="identity"),
    TimeDistributed(Dense(vocab_size, activation="softmax"))])
model.compile(loss="categorical_crossentropy", optimizer=Adam())
model.fit(oh_x_rnn, oh_y_rnn, batch_size=batch_size, nb_epoch=ep(8), verbose=2)
get_nexts_oh(" this is")
"""),
    md("""
## Theano GRU

### Separate weights

The GRU in Theano: a reset gate and an update gate, each with its own weights.
"""),
    code("""
W_h = id_and_bias(n_hidden)
W_x = init_wgts(n_input, n_hidden)
W_y = wgts_and_bias(n_hidden, n_output)
rW_h = init_wgts(n_hidden, n_hidden)
rW_x = wgts_and_bias(n_input, n_hidden)
uW_h = init_wgts(n_hidden, n_hidden)
uW_x = wgts_and_bias(n_input, n_hidden)
w_all = list(chain.from_iterable([W_h, W_y, uW_x, rW_x]))
w_all.extend([W_x, uW_h, rW_h])


def gate(x, h, W_h, W_x, b_x):
    return nnet.sigmoid(T.dot(x, W_x) + b_x + T.dot(h, W_h))


def step(x, h, W_h, b_h, W_y, b_y, uW_x, ub_x, rW_x, rb_x, W_x, uW_h, rW_h):
    reset = gate(x, h, rW_h, rW_x, rb_x)
    update = gate(x, h, uW_h, uW_x, ub_x)
    h_new = gate(x, h * reset, W_h, W_x, b_h)
    h = update * h + (1 - update) * h_new
    y = nnet.softmax(T.dot(h, W_y) + b_y)
    return h, T.flatten(y, 1)


fn, v_y = sgd_function(step, w_all)
errors = train(fn, 0.1, decay=0.95)
"""),
    md("""
### Combined weights

The same GRU with the input and the hidden state concatenated, so each gate has one weight matrix.
"""),
    code("""
W = (shared(np.concatenate([np.eye(n_hidden), normal(size=(n_input, n_hidden))]).astype(np.float32)),
     init_bias(n_hidden))
rW = wgts_and_bias(n_input + n_hidden, n_hidden)
uW = wgts_and_bias(n_input + n_hidden, n_hidden)
W_y = wgts_and_bias(n_hidden, n_output)
w_all = list(chain.from_iterable([W, W_y, uW, rW]))


def gate(m, W, b):
    return nnet.sigmoid(T.dot(m, W) + b)


def step(x, h, W, b, W_y, b_y, uW, ub, rW, rb):
    m = T.concatenate([h, x])
    reset = gate(m, rW, rb)
    update = gate(m, uW, ub)
    m = T.concatenate([h * reset, x])
    h_new = gate(m, W, b)
    h = update * h + (1 - update) * h_new
    y = nnet.softmax(T.dot(h, W_y) + b_y)
    return h, T.flatten(y, 1)


fn, v_y = sgd_function(step, w_all)
errors = train(fn, 0.01)
k = max(1, len(errors) // 4)
print(f"Theano GRU: mean error {np.mean(errors[:k]):.2f} over the first quarter, {np.mean(errors[-k:]):.2f} over the last")
"""),
]
