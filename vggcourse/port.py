"""`vggcourse port`: the mechanical Python 3 / vggcourse changes to an original course notebook.

    from vggcourse.port import port_notebook
    result = port_notebook("lesson2.ipynb")          # writes lesson2_ported.ipynb beside it
    for change in result.changes: print(change)       # "cell 3: print statement -> print()"

What it changes, line by line, and nothing else (the Keras 1 calls themselves run as they are,
through `vggcourse.utils` / `vggcourse.keras1`):
- Python 2: `print x` -> `print(x)`, `xrange`, `.iteritems()`, `raw_input`, `except E, e`,
  `it.next()` -> `next(it)`, `cPickle`;
- imports: `from utils import *` -> `from vggcourse.utils import *`, `from vgg16 import Vgg16` ->
  `from vggcourse import Vgg16`, `from keras.<module> import <names>` -> `from vggcourse.keras1
  import <names>`, `scipy`'s removed `imread` / `imresize` -> vggcourse.utils';
- dropped lines (left as comments): `reload(...)`, `from __future__ ...`, Theano and bcolz,
  `K.set_image_dim_ordering(...)` (vggcourse is channels-last), one-line bcolz `save_array` /
  `load_array` definitions (vggcourse.utils has both);
- what Keras 3 cannot take as it is: `type(layer) is Dense` -> `isinstance(layer, Dense)` (the
  course's layer names are Keras 1 signatures over Keras 3 classes), `layer.output_shape` ->
  `output_shape_of(layer)`, `tensor.eval()` -> `K.eval(tensor)`.

Outputs and execution counts are cleared (they came from Python 2 and Keras 1) and the kernel is
set to python3. A file that is not a notebook raises ValueError naming it.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

from vggcourse.errors import InputFileNotFoundError, UserInputError

__all__ = ["PortResult", "port_notebook", "port_source"]

MARK = "[vggcourse port]"

_KERAS_MODULE = r"keras(?:\.[\w.]+)?"
_IMPORT_RULES = [
    # (pattern on a stripped line, replacement, description); None replacement: drop the line
    (r"from __future__ import .*", None, "`from __future__` import dropped"),
    (r"import (utils|vgg16|vgg16bn)\s*;\s*reload\(\1\)", None, "`reload` of a course module dropped"),
    (r"reload\([\w.]+\)", None, "`reload` dropped (Python 3: importlib.reload)"),
    (r"(from theano\b.*|import theano\b.*|cuda\.use\(.*\))", None, "Theano line dropped"),
    (r"import bcolz", None, "bcolz import dropped (vggcourse.utils has save_array / load_array)"),
    (r"def (save_array|load_array)\(.*\):.*bcolz.*", None,
     "bcolz save_array/load_array definition dropped (vggcourse.utils' take the same names)"),
    (r"K\.set_image_dim_ordering\(.*\)", None, "K.set_image_dim_ordering dropped: channels-last throughout"),
    (r"from (vgg16|vgg16bn) import \*", "from vggcourse.utils import *", "vgg16 import -> vggcourse"),
    (r"from (vgg16|vgg16bn) import (.+)", r"from vggcourse import \2", "vgg16 import -> vggcourse"),
    (r"import (vgg16|vgg16bn)", r"import vggcourse.utils as \1", "vgg16 import -> vggcourse"),
    (r"from utils import (.+)", r"from vggcourse.utils import \1", "utils import -> vggcourse.utils"),
    (r"import utils", "import vggcourse.utils as utils", "utils import -> vggcourse.utils"),
    (r"from keras import backend as (\w+)", r"from vggcourse.keras1 import K as \1", "Keras 1 import -> vggcourse.keras1"),
    (r"import keras\.backend as (\w+)", r"from vggcourse.keras1 import K as \1", "Keras 1 import -> vggcourse.keras1"),
    (rf"from {_KERAS_MODULE} import (.+)", r"from vggcourse.keras1 import \1", "Keras 1 import -> vggcourse.keras1"),
    (r"import cPickle as (\w+)", r"import pickle as \1", "cPickle -> pickle"),
    (r"import cPickle", "import pickle as cPickle", "cPickle -> pickle"),
    (r"from scipy\.(?:ndimage|misc) import (.*\b(?:imread|imresize)\b.*)", r"from vggcourse.utils import \1",
     "scipy's removed imread/imresize -> vggcourse.utils"),
    (r"from scipy\.ndimage\.interpolation import (.+)", r"from scipy.ndimage import \1", "scipy.ndimage import"),
]
_INLINE_RULES = [
    (r"\bxrange\(", "range(", "xrange -> range"),
    (r"\.iteritems\(\)", ".items()", ".iteritems() -> .items()"),
    (r"\.itervalues\(\)", ".values()", ".itervalues() -> .values()"),
    (r"\.iterkeys\(\)", ".keys()", ".iterkeys() -> .keys()"),
    (r"\braw_input\(", "input(", "raw_input -> input"),
    (r"^(\s*except\s+[\w.]+(?:\s*\([^)]*\))?)\s*,\s*(\w+)\s*:", r"\1 as \2:", "except E, e -> except E as e"),
    (r"\b(?:ndimage|misc)\.(imread|imresize)\(", r"\1(", "scipy's removed imread/imresize -> vggcourse.utils"),
    (r"(\blog_loss\(.*),\s*eps\s*=\s*[\d.eE+-]+(?=\s*\))", r"\1",
     "log_loss(..., eps=) -> log_loss(...) (scikit-learn removed eps; it clips itself)"),
    (r"\btype\(([^()]+)\)\s*(?:is not|!=)\s*([A-Za-z_][\w.]*)", r"not isinstance(\1, \2)",
     "type(x) is not C -> not isinstance(x, C)"),
    (r"\btype\(([^()]+)\)\s*(?:is|==)\s*([A-Za-z_][\w.]*)", r"isinstance(\1, \2)", "type(x) is C -> isinstance(x, C)"),
]


@dataclass
class PortResult:
    """What `port_notebook` wrote: the new notebook's `path` and the `changes` ("cell N: what")."""

    path: Path
    changes: list = field(default_factory=list)
    cells: int = 0


def _is_magic(line):
    stripped = line.strip()
    return stripped.startswith(("%", "!", "?")) or stripped.endswith("?")


def _brackets(text):
    """Open minus closed brackets in `text`, ignoring those inside simple string literals."""
    text = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "", text)
    return sum(text.count(c) for c in "([{") - sum(text.count(c) for c in ")]}")


def _print_call(indent, rest):
    rest = rest.strip()
    if not rest:
        return f"{indent}print()"
    target = ""
    match = re.match(r">>\s*([^,]+),\s*(.*)", rest, re.S)
    if match:
        target, rest = f", file={match.group(1).strip()}", match.group(2)
    end = ""
    if rest.rstrip().endswith(",") and _brackets(rest) == 0:
        rest, end = rest.rstrip()[:-1], ', end=" "'
    return f"{indent}print({rest}{end}{target})"


def _port_prints(lines, changes):
    out, i = [], 0
    while i < len(lines):
        match = re.match(r"^(\s*|\s*(?:for|if|elif|else|while|with|try|except)\b[^#]*:\s*)"
                         r"print(?:\s+|(?=[\"'])|$)(?!\s*\()(.*)$", lines[i])
        if not match or _is_magic(lines[i]) or re.match(r"^\s*print\s*(=|\.)", lines[i]):
            out.append(lines[i])
            i += 1
            continue
        statement = [match.group(2)]
        while (_brackets("\n".join(statement)) > 0 or statement[-1].rstrip().endswith("\\")) and i + 1 < len(lines):
            i += 1
            statement.append(lines[i])
        out.append(_print_call(match.group(1), "\n".join(statement)))
        changes.append("print statement -> print()")
        i += 1
    return out


def _primary_start(line, end):
    """Where the primary expression ending just before `line[end]` starts (names, dots, brackets)."""
    i = end
    while i > 0:
        c = line[i - 1]
        if c in ")]":
            depth, i = 0, i - 1
            while i >= 0:
                depth += {")": 1, "]": 1, "(": -1, "[": -1}.get(line[i], 0)
                if depth == 0:
                    break
                i -= 1
        elif c.isalnum() or c in "_.":
            i -= 1
        else:
            break
    return i


def _rewrite_postfix(line, pattern, build):
    """Rewrite `EXPR<pattern>` to `build(EXPR)` in `line`, right to left."""
    for match in reversed(list(re.finditer(pattern, line))):
        start = _primary_start(line, match.start())
        expr = line[start:match.start()]
        if expr:
            line = line[:start] + build(expr) + line[match.end():]
    return line


_POSTFIX_RULES = [
    (r"\.output_shape\b", lambda e: f"output_shape_of({e})", "x.output_shape -> output_shape_of(x)"),
    (r"\.eval\(\)", lambda e: f"K.eval({e})", "x.eval() -> K.eval(x)"),
    (r"\.next\(\)", lambda e: f"next({e})", "x.next() -> next(x)"),
]


def _port_line(line, changes):
    if _is_magic(line) or not line.strip() or line.lstrip().startswith("#"):
        return line
    indent = line[:len(line) - len(line.lstrip())]
    code, comment = line.strip(), ""
    for pattern, replacement, what in _IMPORT_RULES:
        if re.fullmatch(pattern, code):
            changes.append(what)
            if replacement is None:
                return f"{indent}{'pass  ' if indent else ''}# {MARK} {what}: {code}"
            return indent + re.sub(pattern, replacement, code) + comment
    for pattern, replacement, what in _INLINE_RULES:
        new = re.sub(pattern, replacement, line)
        if new != line:
            changes.append(what)
            line = new
    for pattern, build, what in _POSTFIX_RULES:
        new = _rewrite_postfix(line, pattern, build)
        if new != line:
            changes.append(what)
            line = new
    return line


def port_source(source):
    """(ported source, list of changes) for the code of one cell.

        port_source("print 'hi'")   # -> ('print(\\'hi\\')', ['print statement -> print()'])
    """
    changes = []
    lines = _port_prints(source.split("\n"), changes)
    lines = [_port_line(line, changes) for line in lines]
    return "\n".join(lines), changes


def _read(src):
    import nbformat

    path = Path(src)
    if not path.is_file():
        raise InputFileNotFoundError(f"port: no notebook at {str(path)!r}")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:
        raise UserInputError(
            f"port: {str(path)!r} is not a Jupyter notebook ({type(err).__name__}: {str(err)[:120]}). "
            "Give the .ipynb file of a course notebook.") from err


def port_notebook(src, out=None):
    """Port the course notebook `src` and write it to `out` (default: `<name>_ported.ipynb` beside it).

    Returns a `PortResult` whose `changes` lists each change as "cell N: description" (N counts
    code cells from 1), once per kind of change in a cell.
    """
    import nbformat

    nb = _read(src)
    if "cells" not in nb or not isinstance(nb.cells, list):
        raise UserInputError(f"port: {str(src)!r} has no cells; is it a Jupyter notebook?")
    src = Path(src)
    out = Path(out) if out is not None else src.with_name(f"{src.stem}_ported.ipynb")
    if out.resolve() == src.resolve():
        raise UserInputError(f"port: `out` must differ from the source notebook. Received: out={str(out)!r}")
    result = PortResult(out)
    index = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        index += 1
        cell.source, changes = port_source(cell.source)
        cell.outputs, cell.execution_count = [], None
        for what in dict.fromkeys(changes):
            result.changes.append(f"cell {index}: {what}")
    result.cells = index
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    from vggcourse._atomic import write_atomically

    write_atomically(out, lambda tmp: nbformat.write(nb, str(tmp)))
    return result
