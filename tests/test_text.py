"""Keras 2's `keras.preprocessing.text` (vggcourse/text.py): Tokenizer's numbering, conversions and
matrices, worked out by hand from its definition."""
import math

import numpy as np
import pytest

from vggcourse.errors import UserInputError
from vggcourse.text import Tokenizer, text_to_word_sequence

TEXTS = ["The cat sat on the mat.", "The dog sat!", "A cat, a dog; the end"]


def test_text_to_word_sequence_lowers_filters_and_splits():
    assert text_to_word_sequence("The cat, the HAT.\tOK") == ["the", "cat", "the", "hat", "ok"]
    assert text_to_word_sequence("a-b c", filters="", lower=False) == ["a-b", "c"]
    assert text_to_word_sequence("a;b;;c", split=";") == ["a", "b", "c"]


def test_words_are_numbered_by_falling_count_from_one_ties_in_first_seen_order():
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(TEXTS)
    # the: 4, cat/sat/dog/a: 2 each (first seen in that order), on/mat/end: 1
    assert list(tokenizer.word_index) == ["the", "cat", "sat", "dog", "a", "on", "mat", "end"]
    assert tokenizer.word_index["the"] == 1 and tokenizer.index_word[8] == "end"
    assert tokenizer.word_counts["the"] == 4 and tokenizer.word_docs["the"] == 3 and tokenizer.word_docs["a"] == 1
    assert tokenizer.document_count == 3
    assert tokenizer.texts_to_sequences(["the cat ate the fish"]) == [[1, 2, 1]]


def test_num_words_keeps_the_most_frequent_and_nb_words_is_keras1s_name():
    tokenizer = Tokenizer(nb_words=3)
    tokenizer.fit_on_texts(TEXTS)
    assert tokenizer.num_words == 3
    assert tokenizer.texts_to_sequences(["the cat sat on the dog"]) == [[1, 2, 1]]  # indices < 3
    assert tokenizer.sequences_to_texts([[1, 2, 5]]) == ["the cat"]
    oov = Tokenizer(num_words=3, oov_token="<unk>")
    oov.fit_on_texts(TEXTS)
    assert oov.word_index["<unk>"] == 1 and oov.word_index["the"] == 2
    assert oov.texts_to_sequences(["the cat zebra"]) == [[2, 1, 1]]  # cat is 3: not kept -> <unk>
    with pytest.raises(UserInputError, match="pass one"):
        Tokenizer(num_words=3, nb_words=4)


def test_matrices_in_each_mode():
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(TEXTS)
    seqs = [[1, 1, 2], []]
    assert tokenizer.sequences_to_matrix(seqs, mode="binary").tolist()[0] == [0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert tokenizer.sequences_to_matrix(seqs, mode="count")[0, :3].tolist() == [0, 2, 1]
    np.testing.assert_allclose(tokenizer.sequences_to_matrix(seqs, mode="freq")[0, :3], [0, 2 / 3, 1 / 3])
    tfidf = tokenizer.sequences_to_matrix(seqs, mode="tfidf")
    # the (index 1): twice here, in 3 of 3 documents; cat (2): once, in 2 of 3
    np.testing.assert_allclose(tfidf[0, 1:3], [(1 + math.log(2)) * math.log(1 + 3 / 4), math.log(1 + 3 / 3)])
    assert not tfidf[1].any() and tfidf.shape == (2, 9)
    assert tokenizer.texts_to_matrix(["the end"], mode="binary").nonzero()[1].tolist() == [1, 8]


def test_char_level_and_word_lists():
    chars = Tokenizer(char_level=True)
    chars.fit_on_texts(["abba"])
    assert chars.word_index == {"a": 1, "b": 2} and chars.texts_to_sequences(["bab"]) == [[2, 1, 2]]
    words = Tokenizer()
    words.fit_on_texts([["x", "y", "y"]])  # already split, as Keras takes them
    assert words.word_index == {"y": 1, "x": 2}


@pytest.mark.parametrize("call, text", [
    (lambda: Tokenizer().texts_to_sequences(["a"]), r"no words yet\. Call fit_on_texts"),
    (lambda: Tokenizer().sequences_to_matrix([[1]]), r"no words yet and no `num_words`"),
    (lambda: Tokenizer(num_words=4).sequences_to_matrix([[1]], mode="tfidf"), "needs document counts"),
    (lambda: Tokenizer(num_words=4).sequences_to_matrix([[1]], mode="bogus"),
     r"`mode` must be one of 'binary', 'count', 'freq', 'tfidf'\. Received: mode='bogus'"),
    (lambda: Tokenizer().fit_on_texts("one string"), r"a list of texts, not one string"),
    (lambda: Tokenizer(num_words=0), r"`num_words` must be a whole number >= 1"),
])
def test_bad_input_is_named(call, text):
    with pytest.raises(UserInputError, match=text):
        call()


def test_the_course_namespace_has_it():
    from vggcourse import keras1, utils

    assert utils.Tokenizer is keras1.Tokenizer is Tokenizer and keras1.text.Tokenizer is Tokenizer
