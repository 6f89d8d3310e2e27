"""`vggcourse port`: the mechanical changes, a ported notebook that runs, and bad input."""
import json

import nbformat
import pytest
from nbclient import NotebookClient

from vggcourse.port import port_notebook, port_source


@pytest.mark.parametrize("old, new", [
    ('print "Found %d labels" % n', 'print("Found %d labels" % n)'),
    ("print a, b,", 'print(a, b, end=" ")'),
    ("print", "print()"),
    ("for i in xrange(3): print i", "for i in range(3): print(i)"),
    ("print >>f, 'x'", "print('x', file=f)"),
    ("print('already')", "print('already')"),
    ("print (a)", "print (a)"),
    ("print_count = 1", "print_count = 1"),
    ("    print 'multi', (1,\n        2)", "    print('multi', (1,\n        2))"),
    ("from utils import *", "from vggcourse.utils import *"),
    ("from utils import plots, get_data", "from vggcourse.utils import plots, get_data"),
    ("from vgg16 import Vgg16", "from vggcourse import Vgg16"),
    ("from keras.layers.convolutional import Convolution2D, MaxPooling2D",
     "from vggcourse.keras1 import Convolution2D, MaxPooling2D"),
    ("from keras import backend as K", "from vggcourse.keras1 import K as K"),
    ("from keras.preprocessing import image", "from vggcourse.keras1 import image"),
    ("import cPickle as pickle", "import pickle as pickle"),
    ("first = [i for i, l in enumerate(layers) if type(l) is Dense][0]",
     "first = [i for i, l in enumerate(layers) if isinstance(l, Dense)][0]"),
    ("if type(l)==Dense: pass", "if isinstance(l, Dense): pass"),
    ("shape = conv_layers[-1].output_shape[1:]", "shape = output_shape_of(conv_layers[-1])[1:]"),
    ("categorical_accuracy(y, p).eval()", "K.eval(categorical_accuracy(y, p))"),
    ("x = batches.next()", "x = next(batches)"),
    ("img = ndimage.imread('a.jpg')", "img = imread('a.jpg')"),
    ("for k, v in d.iteritems(): pass", "for k, v in d.items(): pass"),
    ("except IOError, e:", "except IOError as e:"),
    ("%matplotlib inline", "%matplotlib inline"),
    ("??vgg.finetune", "??vgg.finetune"),
    ("# print 'comment'", "# print 'comment'"),
])
def test_port_source(old, new):
    assert port_source(old)[0] == new


@pytest.mark.parametrize("line", [
    "import utils; reload(utils)", "from __future__ import division, print_function",
    "from theano.sandbox import cuda", "cuda.use('gpu0')", "import bcolz",
    "def save_array(fname, arr): c=bcolz.carray(arr, rootdir=fname, mode='w'); c.flush()",
    "K.set_image_dim_ordering('th')",
])
def test_dropped_lines_stay_as_comments(line):
    new, changes = port_source(line)
    assert new.startswith("# [vggcourse port]") and line in new and changes
    indented, _ = port_source(f"if True:\n    {line}")
    assert indented.splitlines()[1].strip().startswith("pass  #")


def _notebook(tmp_path, cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python2", "display_name": "Python 2", "language": "python"}
    path = tmp_path / "course.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_ported_notebook_runs(tmp_path):
    src = _notebook(tmp_path, [
        "%matplotlib inline\nimport utils; reload(utils)\nfrom utils import *\n"
        "from __future__ import division, print_function\nfrom theano.sandbox import cuda",
        "x = random((30, 2))\ny = np.dot(x, [2., 3.]) + 1.\n"
        "lm = Sequential([ Dense(1, input_shape=(2,)) ])\nlm.compile(optimizer=SGD(lr=0.1), loss='mse')",
        "lm.fit(x, y, nb_epoch=2, batch_size=1, verbose=0)\nprint 'loss %.3f' % lm.evaluate(x, y, verbose=0)",
        "for layer in lm.layers:\n    if type(layer) is Dense: print layer.output_shape",
    ])
    result = port_notebook(src)
    assert result.path == tmp_path / "course_ported.ipynb" and result.cells == 4
    text = "\n".join(result.changes)
    for expected in ("cell 1: `reload` of a course module dropped", "cell 1: Theano line dropped",
                     "cell 3: print statement", "cell 4: type(x) is C", "cell 4: x.output_shape"):
        assert expected in text
    nb = nbformat.read(result.path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = json.dumps([o for c in nb.cells for o in c.outputs])
    assert "loss " in outputs and "(None, 1)" in outputs


def test_not_a_notebook_is_named(tmp_path):
    bad = tmp_path / "lesson9.ipynb"
    bad.write_text("print 'not json'")
    with pytest.raises(ValueError, match="lesson9.ipynb.*is not a Jupyter notebook"):
        port_notebook(bad)
    with pytest.raises(FileNotFoundError, match="missing.ipynb"):
        port_notebook(tmp_path / "missing.ipynb")
    src = _notebook(tmp_path, ["x = 1"])
    with pytest.raises(ValueError, match="`out` must differ"):
        port_notebook(src, src)
