"""The course's Theano cells (lesson 6's hand-written RNN) on PyTensor, through `vggcourse.utils`."""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytensor")

REPO = Path(__file__).resolve().parents[1]


def test_lesson6s_rnn_trains_with_the_course_names():
    # lesson 6's "Theano RNN", small: the names as `from utils import *` gave them
    from vggcourse.utils import OrderedDict, T, chain, math, nnet, normal, shared, theano

    text = "the cat sat on the mat; the rat sat on the hat. " * 4
    chars = ["\0"] + sorted(set(text))
    char_indices = {c: i for i, c in enumerate(chars)}
    idx = [char_indices[c] for c in text]
    vocab_size, n_hidden, cs = len(chars), 8, 4
    eye = np.eye(vocab_size, dtype=np.float32)
    X = np.stack([eye[idx[i:i + cs]] for i in range(0, len(idx) - cs - 1, cs)])
    Y = np.stack([eye[idx[i + 1:i + cs + 1]] for i in range(0, len(idx) - cs - 1, cs)])

    def init_wgts(rows, cols):
        return shared(normal(scale=math.sqrt(2 / rows), size=(rows, cols)).astype(np.float32))

    def init_bias(rows):
        return shared(np.zeros(rows, dtype=np.float32))

    np.random.seed(0)  # `normal` is NumPy's: the weights below are the same on every run
    t_inp, t_outp, t_h0, lr = T.matrix("inp"), T.matrix("outp"), T.vector("h0"), T.scalar("lr")
    W_h = (shared(np.eye(n_hidden, dtype=np.float32)), init_bias(n_hidden))
    W_x = (init_wgts(vocab_size, n_hidden), init_bias(n_hidden))
    W_y = (init_wgts(n_hidden, vocab_size), init_bias(vocab_size))
    w_all = list(chain.from_iterable([W_h, W_x, W_y]))

    def step(x, h, W_h, b_h, W_x, b_x, W_y, b_y):
        h = nnet.relu(T.dot(x, W_x) + b_x + T.dot(h, W_h) + b_h)
        y = nnet.softmax(T.dot(h, W_y) + b_y)
        return h, T.flatten(y, 1)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Theano's scan returns (outputs, updates) without a warning
        [v_h, v_y], _ = theano.scan(step, sequences=t_inp, outputs_info=[t_h0, None], non_sequences=w_all)
    error = nnet.categorical_crossentropy(v_y, t_outp).sum()
    g_all = T.grad(error, w_all)
    upd = OrderedDict({w: w - g * lr for (w, g) in zip(w_all, g_all)})
    fn = theano.function([t_h0, t_inp, t_outp, lr], error, updates=upd, allow_input_downcast=True)

    losses = [np.mean([fn(np.zeros(n_hidden), X[i], Y[i], 0.03) for i in range(len(X))]) for _ in range(8)]
    assert theano.config.floatX == "float32"  # the course's .theanorc: float32 weights update in place
    assert losses[-1] < 0.5 * losses[0], losses  # plain SGD: falling, though not at every epoch
    f_y = theano.function([t_h0, t_inp], v_y, allow_input_downcast=True)
    assert f_y(np.zeros(n_hidden), X[0]).shape == (cs, vocab_size)


def test_nnet_is_theanos():
    from vggcourse.errors import UserInputError
    from vggcourse.utils import T, nnet, theano

    preds, actuals = np.array([0.2, 0.7, 0.1]), np.array([0., 1., 0.])
    assert nnet.categorical_crossentropy(preds, actuals).eval() == pytest.approx(-np.log(0.7))
    rows = np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]])
    np.testing.assert_allclose(nnet.categorical_crossentropy(rows, np.array([1, 0])).eval(),
                               -np.log([0.7, 0.5]))
    with pytest.raises(UserInputError, match=r"`true_dist` .*Received: .*true_dist of 1 dimensions and dtype float"):
        nnet.categorical_crossentropy(rows, np.array([1., 0.]))
    x = np.array([[1., 2., 3.], [0., 0., 0.]])  # over each row, as Theano's; PyTensor's is over all
    np.testing.assert_allclose(nnet.softmax(x).eval(), np.exp(x) / np.exp(x).sum(1, keepdims=True))
    np.testing.assert_allclose(nnet.relu(np.array([3., -3.])).eval(), [3., 0.])
    np.testing.assert_allclose(nnet.relu(np.array([3., -3.]), alpha=0.1).eval(), [3., -0.3])
    np.testing.assert_allclose(nnet.sigmoid(np.array([0.])).eval(), [0.5])
    # lesson 6 checks its numpy derivative against theano's: d(cross-entropy)/d(preds) = -actual/pred
    test_inp = T.dvector()
    test_grad = theano.function([test_inp], T.grad(nnet.categorical_crossentropy(test_inp, actuals), test_inp))
    np.testing.assert_allclose(test_grad(preds), -actuals / preds)


def _python(code, **env):
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO), **env}, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return run


def test_pytensor_is_imported_on_first_use():
    code = ("import sys, vggcourse.utils as u\n"
            "assert 'pytensor' not in sys.modules, 'imported with utils'\n"
            "print(repr(u.T), repr(u.shared))\n"
            "assert 'pytensor' not in sys.modules, 'imported by repr'\n"
            "assert u.T.matrix('m').ndim == 2 and u.shared(u.np.zeros(2)).get_value().shape == (2,)\n"
            "assert 'pytensor' in sys.modules\n")
    assert "<lazy 'vggcourse.course_theano.T'>" in _python(code).stdout


def test_no_c_compiler_is_pytensors_python_mode(tmp_path):
    # a machine without g++: PyTensor compiles no C (its `cxx` setting is empty) and says nothing
    bare = tmp_path / "bin"
    bare.mkdir()
    code = ("import numpy as np\n"
            "from vggcourse.course_theano import T, theano, shared\n"
            "assert theano.config.cxx == '', theano.config.cxx\n"
            "w = shared(np.float32(2.)); x = T.vector('x')\n"
            "f = theano.function([x], (x * w).sum(), updates={w: w + 1}, allow_input_downcast=True)\n"
            "assert f(np.ones(3)) == 6. and w.get_value() == 3.\n")
    run = _python(code, PATH=str(bare), PYTENSOR_FLAGS=f"compiledir={tmp_path / 'pytensor'}")
    assert "g++" not in run.stderr and "WARNING" not in run.stderr, run.stderr
