"""Keras 1 and 2's `keras.preprocessing.text`, which Keras 3 removed: `Tokenizer` and
`text_to_word_sequence`, with their semantics (word indices from 1, most frequent first; index 0
is never a word, so it is free for padding).

    tokenizer = Tokenizer(num_words=5000)          # Keras 1: Tokenizer(nb_words=5000)
    tokenizer.fit_on_texts(reviews)
    seqs = tokenizer.texts_to_sequences(reviews)   # lists of word indices < 5000
    x = tokenizer.texts_to_matrix(reviews, mode="tfidf")

Keras 3's replacement for new code is `keras.layers.TextVectorization`; this is here so the
course's `from keras.preprocessing.text import Tokenizer` (and every Keras 2 tutorial's) runs.
"""
import math
from collections import Counter, OrderedDict

import numpy as np

from vggcourse import checks
from vggcourse.errors import UserInputError

__all__ = ["Tokenizer", "text_to_word_sequence"]

FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_MODES = ("binary", "count", "freq", "tfidf")


def text_to_word_sequence(text, filters=FILTERS, lower=True, split=" "):
    """The words of `text`: lower-cased, each character of `filters` turned into `split`, split.

        text_to_word_sequence("The cat, the hat.")   # ['the', 'cat', 'the', 'hat']
    """
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [word for word in text.split(split) if word]


class Tokenizer:
    """Keras 2's `Tokenizer(num_words=None, filters=..., lower=True, split=' ', char_level=False,
    oov_token=None)`; Keras 1's `nb_words=` is `num_words`.

    `fit_on_texts` counts the words (`word_counts`, `word_docs`, `document_count`) and numbers them
    by falling count from 1 (`word_index`, `index_word`; `oov_token`, when given, is 1). The
    conversions keep only indices below `num_words` (all when None); a word left out becomes
    `oov_token`'s index when there is one.

        tokenizer = Tokenizer(nb_words=3); tokenizer.fit_on_texts(["a b b c c c"])
        tokenizer.texts_to_sequences(["c b a d"])    # [[1, 2]]: c is 1, b is 2; a (3) and d are left out
    """

    def __init__(self, num_words=None, filters=FILTERS, lower=True, split=" ", char_level=False,
                 oov_token=None, nb_words=None, document_count=0):
        if nb_words is not None:
            if num_words is not None and num_words != nb_words:
                raise UserInputError(f"Tokenizer: `nb_words` (Keras 1) and `num_words` are the same setting; "
                                     f"pass one. Received: nb_words={nb_words!r}, num_words={num_words!r}")
            num_words = nb_words
        if num_words is not None:
            checks.whole_number("num_words", num_words, least=1, caller="Tokenizer")
        self.num_words, self.filters, self.lower, self.split = num_words, filters, lower, split
        self.char_level, self.oov_token, self.document_count = char_level, oov_token, document_count
        self.word_counts, self.word_docs, self.index_docs = OrderedDict(), OrderedDict(), {}
        self.word_index, self.index_word = {}, {}

    def _words(self, text):
        """The words of one text (a list of words is taken as it is, as Keras takes it)."""
        if isinstance(text, list):
            return text
        if self.char_level:
            return list(text.lower() if self.lower else text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts):
        """Count the words of `texts` (strings, or lists of words) and number them again."""
        for text in _texts(texts):
            self.document_count += 1
            words = self._words(text)
            for word in words:
                self.word_counts[word] = self.word_counts.get(word, 0) + 1
            for word in dict.fromkeys(words):
                self.word_docs[word] = self.word_docs.get(word, 0) + 1
        ranked = [w for w, _ in sorted(self.word_counts.items(), key=lambda item: item[1], reverse=True)]
        if self.oov_token is not None:
            ranked = [self.oov_token] + [w for w in ranked if w != self.oov_token]
        self.word_index = {word: i for i, word in enumerate(ranked, start=1)}
        self.index_word = {i: word for word, i in self.word_index.items()}
        self.index_docs = {self.word_index[w]: n for w, n in self.word_docs.items()}

    def fit_on_sequences(self, sequences):
        """Count, for `texts_to_matrix(mode='tfidf')`, in how many `sequences` each index appears."""
        for seq in sequences:
            self.document_count += 1
            for i in set(seq):
                self.index_docs[i] = self.index_docs.get(i, 0) + 1

    def texts_to_sequences(self, texts):
        """Each of `texts` as a list of word indices (words not kept are left out, or `oov_token`)."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        """`texts_to_sequences`, one text at a time."""
        self._check_fitted("texts_to_sequences")
        oov = self._oov_index()
        for text in _texts(texts):
            seq = []
            for word in self._words(text):
                i = self.word_index.get(word)
                if self._kept(i):
                    seq.append(i)
                elif oov is not None:
                    seq.append(oov)
            yield seq

    def sequences_to_texts(self, sequences):
        """Each of `sequences` as its words joined by spaces (indices not kept are left out)."""
        oov = self._oov_index()
        texts = []
        for seq in sequences:
            words = []
            for i in seq:
                if i in self.index_word and self._kept(i):
                    words.append(self.index_word[i])
                elif oov is not None:
                    words.append(self.index_word[oov])
            texts.append(" ".join(words))
        return texts

    def texts_to_matrix(self, texts, mode="binary"):
        """One row per text, one column per word index: `sequences_to_matrix` of the texts."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        """One row per sequence and `num_words` columns (or one per word and the unused 0):
        'binary' (1 where the index appears), 'count', 'freq' (count / length), 'tfidf'
        ((1 + log count) * log(1 + documents / (1 + documents with it)))."""
        checks.one_of("mode", mode, _MODES, caller="sequences_to_matrix")
        width = self.num_words or (len(self.word_index) + 1 if self.word_index else None)
        if width is None:
            raise UserInputError("sequences_to_matrix: the tokenizer has no words yet and no `num_words`. "
                                 "Call fit_on_texts(texts) first, or pass Tokenizer(num_words=...).")
        if mode == "tfidf" and not self.document_count:
            raise UserInputError("sequences_to_matrix(mode='tfidf') needs document counts: call "
                                 "fit_on_texts or fit_on_sequences first.")
        x = np.zeros((len(sequences), width))
        for row, seq in enumerate(sequences):
            if not seq:
                continue
            for i, count in Counter(i for i in seq if i < width).items():
                if mode == "count":
                    x[row, i] = count
                elif mode == "freq":
                    x[row, i] = count / len(seq)
                elif mode == "binary":
                    x[row, i] = 1
                else:
                    x[row, i] = (1 + math.log(count)) * math.log(1 + self.document_count
                                                                 / (1 + self.index_docs.get(i, 0)))
        return x

    def _oov_index(self):
        return self.word_index.get(self.oov_token) if self.oov_token is not None else None

    def _kept(self, i):
        """True for a word's index that the conversions keep (below `num_words`, when set)."""
        return i is not None and (self.num_words is None or i < self.num_words)

    def _check_fitted(self, method):
        if not self.word_index:
            raise UserInputError(f"Tokenizer.{method}: the tokenizer has no words yet. Call "
                                 f"fit_on_texts(texts) first.")


def _texts(texts):
    if isinstance(texts, str):
        raise UserInputError("Tokenizer: pass a list of texts, not one string (a string would be read "
                             "character by character as texts). Wrap it: [text].")
    return texts
