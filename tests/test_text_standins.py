"""vggcourse/text_standins.py: the offline stand-ins of lessons 4-6's data, in each dataset's format."""
import pandas as pd
import pytest

from vggcourse.errors import UserInputError
from vggcourse.text_standins import (IMDB_WORDS, NIETZSCHE_ALPHABET, english_text, glove_standin, imdb_standin,
                                     movielens_standin, nietzsche_standin)


def test_movielens_standin_has_movielens_columns_and_ids(tmp_path):
    path = movielens_standin(tmp_path / "ml", users=10, movies=20, ratings=300)
    assert path == f"{tmp_path / 'ml'}/"
    ratings = pd.read_csv(path + "ratings.csv")
    movies = pd.read_csv(path + "movies.csv")
    assert list(ratings.columns) == ["userId", "movieId", "rating", "timestamp"] and len(ratings) == 300
    assert list(movies.columns) == ["movieId", "title", "genres"] and len(movies) == 20
    assert set(ratings.movieId) <= set(movies.movieId) and ratings.userId.between(1, 10).all()
    assert set(ratings.rating) <= {k / 2 for k in range(1, 11)}
    assert movies.title[0] == "Movie 1, The (1951)"  # a comma inside quotes, as MovieLens' titles have


def test_imdb_standin_is_keras_word_index_and_reviews_of_its_ranks():
    idx, (x_train, y_train), (x_test, y_test) = imdb_standin(reviews=50)
    assert len(idx) == IMDB_WORDS and sorted(idx.values()) == list(range(1, IMDB_WORDS + 1))
    assert idx["the"] == 1  # ranks by frequency, as Keras' index
    assert len(x_train) == len(y_train) == len(x_test) == len(y_test) == 50
    assert set(y_train) <= {0, 1} and all(1 <= w <= IMDB_WORDS for review in x_train for w in review)
    assert imdb_standin(reviews=50)[1][0] == x_train  # the same seed, the same reviews


def test_glove_standin_covers_the_most_frequent_words():
    idx = imdb_standin(reviews=1)[0]
    vecs, words, wordidx = glove_standin(idx, dim=7, words=100)
    assert vecs.shape == (100, 7) and vecs.dtype == "float32"
    assert words[0] == "the" and wordidx["the"] == 0 and len(wordidx) == 100


def test_nietzsche_standin_is_english_in_a_small_alphabet():
    text = nietzsche_standin(5000)
    assert len(text) == 5000 and set(text) == NIETZSCHE_ALPHABET and len(NIETZSCHE_ALPHABET) == 85  # Nietzsche's
    assert " the " in text and english_text(100) == english_text(100)


@pytest.mark.parametrize("call, message", [
    (lambda: nietzsche_standin(0), "nietzsche_standin: `chars` must be"),
    (lambda: imdb_standin(reviews=2.5), "imdb_standin: `reviews` must be"),
    (lambda: movielens_standin("x", users=0), "movielens_standin: `users` must be"),
])
def test_bad_sizes_are_refused_naming_the_argument(call, message):
    with pytest.raises(UserInputError, match=message):
        call()
