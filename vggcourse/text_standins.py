"""Offline stand-ins for the text data of the course's lessons 4-6, made in a second, in each
dataset's own format, so that those notebooks run on a fresh machine without a download.

    from vggcourse.text_standins import movielens_standin, imdb_standin, glove_standin, nietzsche_standin
    path = movielens_standin("data/ml-standin")   # ratings.csv, movies.csv (MovieLens' columns)
    idx, (x_train, labels_train), (x_test, labels_test) = imdb_standin()
    vecs, words, wordidx = glove_standin(idx)     # GloVe's arrays for lesson 5's embedding
    text = nietzsche_standin()                    # lesson 6's corpus

The words are Python's own reference documentation (`pydoc_data.topics`, part of every Python):
real English, some of it code. The ratings, labels and vectors are random with a fixed seed.
What a model learns on them says nothing about MovieLens, IMDB or Nietzsche; they are for
running the notebooks' code (see the README for the real datasets).
"""
import re
from collections import Counter
from pathlib import Path

import numpy as np

from vggcourse import checks

__all__ = ["english_text", "movielens_standin", "imdb_standin", "glove_standin", "nietzsche_standin",
           "IMDB_WORDS", "NIETZSCHE_ALPHABET"]

IMDB_WORDS = 88584  # the number of words in Keras' imdb_word_index.json


def english_text(chars=200000):
    """The first `chars` characters of Python's reference topics, in a fixed order.

        english_text(60)[:20]
    """
    from pydoc_data.topics import topics

    chars = checks.whole_number("chars", chars, 1, caller="english_text")
    return "\n\n".join(topics[key] for key in sorted(topics))[:chars]


def _words(text):
    return re.findall(r"[a-z0-9\-']+", text.lower())


def movielens_standin(folder, users=120, movies=400, ratings=6000, seed=0):
    """Writes MovieLens' `ratings.csv` (userId, movieId, rating 0.5-5 in halves, timestamp) and
    `movies.csv` (movieId, title, genres) into `folder`; a few movies are rated often, as in
    MovieLens. Returns the folder as a string ending in "/" (the course's `path`).

        path = movielens_standin("data/ml-standin")
        ratings = pd.read_csv(path + "ratings.csv")
    """
    for name, value in (("users", users), ("movies", movies), ("ratings", ratings)):
        checks.whole_number(name, value, 1, caller="movielens_standin")
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    user_ids = rng.integers(1, users + 1, ratings)
    movie_ids = rng.zipf(1.3, ratings) % movies + 1
    stars = rng.integers(1, 11, ratings) / 2
    lines = ["userId,movieId,rating,timestamp"]
    lines += [f"{u},{m},{r:.1f},{1200000000 + k}" for k, (u, m, r) in enumerate(zip(user_ids, movie_ids, stars))]
    (folder / "ratings.csv").write_text("\n".join(lines) + "\n")
    titles = ["movieId,title,genres"]
    titles += [f'{m},"Movie {m}, The ({1950 + m % 60})",Drama|Comedy' for m in range(1, movies + 1)]
    (folder / "movies.csv").write_text("\n".join(titles) + "\n")
    return f"{folder}/"


def imdb_standin(reviews=600, seed=0):
    """The course's IMDB data (lesson 5): (word index, (x_train, labels_train), (x_test, labels_test)).
    The word index is Keras' `imdb.get_word_index()`'s form and size (word -> rank from 1, 88,584
    words: the text's words by frequency, then made-up `xwordN`); each review is a list of ranks
    (20 to 700 words of the text, some rare words among them), labels 0/1, `reviews` per part.

        idx, (x_train, labels_train), (x_test, labels_test) = imdb_standin()
    """
    reviews = checks.whole_number("reviews", reviews, 1, caller="imdb_standin")
    rng = np.random.default_rng(seed)
    text = english_text()
    counts = Counter(_words(text))
    words = [w for w, _ in counts.most_common()]
    words += [f"xword{k}" for k in range(IMDB_WORDS - len(words))]
    index = {w: rank for rank, w in enumerate(words, start=1)}
    ranks = [index[w] for w in _words(text)]

    def part():
        out = []
        for _ in range(reviews):
            start, length = int(rng.integers(0, len(ranks) - 700)), int(rng.integers(20, 700))
            review = list(ranks[start:start + length])
            for k in rng.integers(0, length, length // 20):
                review[int(k)] = int(rng.integers(1, IMDB_WORDS + 1))
            out.append(review)
        return out, [int(b) for b in rng.integers(0, 2, reviews)]

    return index, part(), part()


def glove_standin(word_index, dim=50, words=10000, seed=0):
    """GloVe's word vectors as the course stored them (lesson 5's `load_vectors`): (vecs float32
    (n, dim), the n words, word -> row), for the `words` most frequent words of `word_index`.

        vecs, words, wordidx = glove_standin(imdb_standin()[0])
    """
    dim = checks.whole_number("dim", dim, 1, caller="glove_standin")
    words = checks.whole_number("words", words, 1, caller="glove_standin")
    rng = np.random.default_rng(seed)
    kept = sorted(word_index, key=word_index.get)[:words]
    vecs = rng.normal(size=(len(kept), dim)).astype(np.float32)
    return vecs, kept, {w: i for i, w in enumerate(kept)}


# Nietzsche's text has 85 distinct characters: lesson 6 prints all but six of them (below) and then
# writes its vocabulary size, 86 with the padding character, as a number; the six others are
# accented letters. The stand-in has exactly these 85.
NIETZSCHE_ALPHABET = frozenset("\n !\"'(),-.0123456789:;=?ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_abcdefghijklmnopqrstuvwxyz"
                               "\u00c6\u00e4\u00e6\u00e9\u00eb\u00fc")


def nietzsche_standin(chars=100000):
    """Lesson 6's corpus (`nietzsche.txt`, 600,901 characters of English), `chars` long, in
    Nietzsche's 85 characters (`NIETZSCHE_ALPHABET`; others become spaces): a first line holds
    those the English text lacks, so a text of 86 characters or more has all 85.

        text = nietzsche_standin()
    """
    chars = checks.whole_number("chars", chars, 1, caller="nietzsche_standin")
    text = "".join(c if c in NIETZSCHE_ALPHABET else " " for c in english_text(chars))
    kept = text[:max(0, chars - len(NIETZSCHE_ALPHABET) - 1)]  # what follows the first line, at least
    first = "".join(sorted(NIETZSCHE_ALPHABET - set(kept) - {"\n"})) + "\n"
    return (first + text)[:chars]
