"""Stand-in data for the text and sequence notebooks of the course's part 1 that port_coverage.py
runs (lesson4, lesson5, lesson6, char-rnn, wordvectors, sgd-intro), each in the format its notebook
reads, and a local HTTP server for the files the notebooks download. Only whether cells run is
measured: the words and numbers mean nothing.

    served = make_text(root)          # data/ml-small/, data/glove/, and the downloads in `served`
    with serve(served) as base_url:   # http://127.0.0.1:PORT/ for vggcourse's real download code
        ...

The data is `vggcourse.text_standins`' (Python's reference documentation for the words), written in
the files and formats the notebooks read:
- lesson4: MovieLens' `ratings.csv` and `movies.csv` in `data/ml-small/`.
- lesson5: Keras' `imdb_word_index.json`, the course's `imdb_full.pkl` (a pickle of ((x_train,
  labels_train), (x_test, labels_test))) and files.fast.ai's `6B.50d.tgz` (a bcolz folder
  `6B.50d.dat` of word vectors, written by the maintained bcolz (bcolz-zipline), `_words.pkl`,
  `_idx.pkl`), served.
- lesson6 / char-rnn: `nietzsche.txt` (char-rnn's shorter: `CHAR_RNN_CHARS`), served.
- wordvectors: `data/glove/glove.6B.{50,100,200,300}d.txt` (GloVe's text format) and
  `data/glove/results/`, which the course's machine had.
"""
import contextlib
import functools
import http.server
import json
import pickle
import tarfile
import threading
from pathlib import Path

from vggcourse.download import file_digest
from vggcourse.text_standins import glove_standin, imdb_standin, movielens_standin, nietzsche_standin

GLOVE_DIMS = (50, 100, 200, 300)

NIETZSCHE = "https://s3.amazonaws.com/text-datasets/nietzsche.txt"
# The course's download URLs -> the stand-in's file name in the served folder.
COURSE_DOWNLOADS = {
    "https://s3.amazonaws.com/text-datasets/imdb_full.pkl": "imdb_full.pkl",
    NIETZSCHE: "nietzsche.txt",
    "http://files.fast.ai/models/glove/6B.50d.tgz": "6B.50d.tgz",
}
# char-rnn trains two 512-unit LSTMs on every 40-character window of the text, six times: about a
# minute per 1,000 characters on a 2-core CPU, so its copy of the text is that long. lesson6 needs
# 100,000 characters (its NumPy RNN trains on 10,000 sequences of 8).
CHAR_RNN_CHARS = 1000
NOTEBOOK_DOWNLOADS = {"char-rnn": {NIETZSCHE: "nietzsche-short.txt"}}


def downloads(notebook):
    """The course's URL -> the stand-in's file name, for `notebook`."""
    return {**COURSE_DOWNLOADS, **NOTEBOOK_DOWNLOADS.get(notebook, {})}


def md5(path):
    return file_digest(path, "md5")


def _pickle(obj, path):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def make_glove_tgz(served, index):
    """files.fast.ai's 6B.50d.tgz as the course made it in wordvectors.ipynb."""
    import bcolz

    vecs, words, wordidx = glove_standin(index)
    staging = served / "glove-staging"
    staging.mkdir()
    bcolz.carray(vecs, rootdir=str(staging / "6B.50d.dat"), mode="w").flush()
    _pickle(words, staging / "6B.50d_words.pkl")
    _pickle(wordidx, staging / "6B.50d_idx.pkl")
    with tarfile.open(served / "6B.50d.tgz", "w:gz") as tar:
        for item in sorted(staging.iterdir()):
            tar.add(item, arcname=item.name)


def make_glove_txt(root, index):
    folder = Path(root) / "data" / "glove"
    (folder / "results").mkdir(parents=True, exist_ok=True)
    for dim in GLOVE_DIMS:
        vecs, words, _ = glove_standin(index, dim=dim, seed=dim)  # the words of 6B.50d.tgz, as GloVe's
        lines = [w + " " + " ".join(f"{v:.5f}" for v in vec) for w, vec in zip(words, vecs)]
        (folder / f"glove.6B.{dim}d.txt").write_text("\n".join(lines) + "\n")


def make_text(root, notebooks):
    """Writes what `notebooks` read from files under `root`, and every file they download into
    `root`/served (a few seconds); returns that folder."""
    root = Path(root)
    served = root / "served"
    served.mkdir(parents=True, exist_ok=True)
    index, train, test = imdb_standin()
    if "lesson4" in notebooks:
        movielens_standin(root / "data" / "ml-small")
    if "wordvectors" in notebooks:
        make_glove_txt(root, index)
    _pickle((train, test), served / "imdb_full.pkl")
    (served / "imdb_word_index.json").write_text(json.dumps(index))
    make_glove_tgz(served, index)
    (served / "nietzsche.txt").write_text(nietzsche_standin())
    (served / "nietzsche-short.txt").write_text(nietzsche_standin(CHAR_RNN_CHARS))
    return served


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(folder):
    """A real HTTP server for `folder` on 127.0.0.1 (a free port) while the block runs; yields its URL."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
