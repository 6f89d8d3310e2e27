"""The course's Theano 0.8, on PyTensor (Theano's maintained successor), as `vggcourse.utils` gives it.

`theano` is `pytensor` with Theano's `scan` (which returns (outputs, updates), as the course
unpacks it), `T` is `pytensor.tensor`, `shared` is `pytensor.shared`, and `nnet` holds the
`theano.tensor.nnet` functions the course calls, which PyTensor moved or changed (it has no `nnet`
module). Importing this sets PyTensor's `floatX` to float32, as the course's `.theanorc` did
(its weights are float32 and `theano.function(..., updates=...)` needs an update of the same
type), unless `PYTENSOR_FLAGS` or `.pytensorrc` chose it. PyTensor compiles with Numba, or runs in
Python: it needs no C compiler.

    from vggcourse.utils import *           # these names, imported on first use
    h = nnet.relu(T.dot(x, W_x) + b_x)
    y = nnet.softmax(T.dot(h, W_y) + b_y)
    error = nnet.categorical_crossentropy(y, t_outp).sum()
"""
import warnings
from types import ModuleType, SimpleNamespace

import pytensor
import pytensor.tensor as pt
from pytensor.tensor.special import softmax as _softmax

from vggcourse.errors import UserInputError

__all__ = ["T", "nnet", "shared", "theano"]

T, shared = pt, pytensor.shared
try:
    pytensor.config.fetch_val_for_key("floatX")  # the user's PYTENSOR_FLAGS or .pytensorrc chose it
except KeyError:
    pytensor.config.floatX = "float32"


class _Theano(ModuleType):
    """`pytensor` under Theano's name: every attribute is PyTensor's but `scan`, Theano's."""

    def __getattr__(self, name):
        return getattr(pytensor, name)


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, **kwargs):
    """Theano's `scan`: `(outputs, updates)`, which the course unpacks
    (`[v_h, v_y], _ = theano.scan(step, ...)`), without the DeprecationWarning PyTensor gives
    for that return.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Scan return signature will change", DeprecationWarning)
        return pytensor.scan(fn, sequences, outputs_info, non_sequences, return_updates=True, **kwargs)


theano = _Theano("theano", "PyTensor under Theano's name (vggcourse.course_theano)")
theano.scan = scan


def relu(x, alpha=0):
    """Theano's `relu(x, alpha=0)`: `x` where it is positive, else `alpha * x` (PyTensor has none).

    >>> relu(np.array([3., -3.]), alpha=0.1).eval()
    array([ 3. , -0.3])
    """
    x = pt.as_tensor_variable(x)
    return pt.maximum(x, 0) if alpha == 0 else pt.switch(x > 0, x, alpha * x)


def softmax(c):
    """Theano's `softmax(c)`: over the last axis of a vector or a matrix of rows (PyTensor's
    `softmax` takes every axis by default).

    >>> softmax(np.array([[1., 1.], [0., 0.]])).eval()
    array([[0.5, 0.5],
           [0.5, 0.5]])
    """
    return _softmax(pt.as_tensor_variable(c), axis=-1)


def categorical_crossentropy(coding_dist, true_dist):
    """Theano's `categorical_crossentropy(coding_dist, true_dist)`: the cross-entropy of each row of
    the predicted probabilities `coding_dist` against `true_dist`, one-hot rows (same shape) or
    class indices (one per row).

    >>> categorical_crossentropy(np.array([0.2, 0.7, 0.1]), np.array([0., 1., 0.])).eval()
    array(0.35667494)
    """
    coding, true = pt.as_tensor_variable(coding_dist), pt.as_tensor_variable(true_dist)
    if true.ndim == coding.ndim:
        return -pt.sum(true * pt.log(coding), axis=-1)
    if true.ndim == coding.ndim - 1 == 1 and true.dtype.startswith(("int", "uint")):
        return -pt.log(coding[pt.arange(true.shape[0]), true])
    raise UserInputError(
        "categorical_crossentropy: `true_dist` must have the shape of `coding_dist` (one-hot rows) or "
        f"be integer class indices, one per row. Received: coding_dist of {coding.ndim} dimensions, "
        f"true_dist of {true.ndim} dimensions and dtype {true.dtype}")


nnet = SimpleNamespace(relu=relu, sigmoid=pt.sigmoid, softmax=softmax,
                       categorical_crossentropy=categorical_crossentropy)
