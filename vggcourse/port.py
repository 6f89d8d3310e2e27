"""`vggcourse port`: the mechanical Python 3 / vggcourse changes to an original course notebook.

    from vggcourse.port import port_notebook
    result = port_notebook("lesson2.ipynb")          # writes lesson2_ported.ipynb beside it
    for change in result.changes: print(change)       # "cell 3: print statement -> print()"
    for line in result.not_converted: print(line)     # "cell 7, line 2: does not parse as Python 2 ..."

Each code cell is parsed as Python 2 and rewritten on its syntax tree (`fissix`, the maintained
fork of lib2to3), so comments, strings and one-line suites stay as they were:
- Python 2 -> 3: 2to3's own fixers (print, xrange, dict methods, `except E, e`, `raise E, 'm'`,
  `exec`, backticks, `10L`, `0777`, `ur''`, `has_key`, `raw_input`, `it.next()`, `cPickle`, ...);
- imports: `from utils import *` -> `from vggcourse.utils import *`, `from vgg16 import Vgg16` ->
  `from vggcourse import Vgg16`, `from keras.<module> import <names>` -> `from vggcourse.keras1
  import <names>`, `scipy`'s removed `imread` / `imresize` -> vggcourse.utils', `scipy.ndimage.filters`
  (and its other deprecated submodules) -> `scipy.ndimage`, TensorFlow 1's MNIST tutorial reader
  `input_data` -> `vggcourse.datasets`' (`from keras.datasets import mnist` is Keras 1's rule);
- Theano -> PyTensor, its maintained successor: `import theano` -> `import pytensor as theano`,
  `import theano.tensor as T` -> `import pytensor.tensor as T`, `from theano import ...` -> `from
  pytensor import ...`; `from theano.tensor.nnet import conv2d, nnet` and `from
  theano.tensor.signal import pool` -> `from vggcourse.utils import ...` (PyTensor has no such modules);
- dropped statements (left as comments): `reload(...)`, `from __future__ ...`, Theano's GPU
  selection (`from theano.sandbox import cuda`, `cuda.use(...)`), bcolz,
  `K.set_image_dim_ordering(...)` (vggcourse is channels-last), bcolz `save_array` / `load_array`
  definitions (vggcourse.utils has both);
- what Keras 3 cannot take as it is: `type(layer) is Dense` -> `isinstance(layer, Dense)` (the
  course's layer names are Keras 1 signatures over Keras 3 classes), `layer.output_shape` ->
  `output_shape_of(layer)`, `tensor.eval()` -> `K.eval(tensor)`;
- what NumPy 2 and Python 3 refuse: `np.stack(<generator>)` (and vstack, hstack, concatenate, ...)
  -> `np.stack([...])`; `sys.setdefaultencoding(...)` dropped (Python 3's strings are Unicode).

The course's own bugs that stop a top-to-bottom run, names a notebook uses but never defines
(`vggcourse.course_fixes`: imagenet_batchnorm's `samp_path`, statefarm's `test_batches`, ...), are
fixed with a comment that says why, unless `fix_course_bugs=False` (`--keep-course-bugs`).

IPython lines (`%matplotlib inline`, `!ls`, `x?`) are kept as they are. A cell that does not parse
as Python 2 (a syntax error, tabs mixed with spaces), or whose result would not parse as Python 3,
is left unchanged and listed by cell and line in `not_converted`, with what 2to3 could not convert;
every cell reported as changed parses with `ast.parse`. Outputs and execution counts are cleared
(they came from Python 2 and Keras 1) and the kernel is set to python3. An existing output is
only replaced with `force=True`.
"""
import ast
import functools
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

from fissix import fixer_base, pygram, pytree
from fissix.fixer_util import ArgList, Call, Comma, Dot, Leaf, Name, Node, String, find_indentation, syms, token
from fissix.fixes.fix_print import FixPrint
from fissix.pgen2 import driver
from fissix.pgen2.parse import ParseError
from fissix.pgen2.tokenize import TokenError
from fissix import refactor as fissix_refactor

from vggcourse.course_fixes import defined_names, fix_cell
from vggcourse.errors import InputFileNotFoundError, UserInputError, is_user_error

__all__ = ["PortResult", "port_notebook", "port_source"]

MARK = "[vggcourse port]"

_KERAS_MODULE = r"keras(?:\.[\w.]+)?"
_THEANO = "Theano import -> PyTensor (Theano's maintained successor)"
_JSHTML = ("matplotlib animations as 'jshtml' (matplotlib's own player) rather than 'html5' (a video "
           "that needs the ffmpeg program)")
_STATEMENT_RULES = [
    # (pattern on one whole statement, replacement, description); None replacement: drop it
    (r"from __future__ import .*", None, "`from __future__` import dropped"),
    (r"import (utils|vgg16|vgg16bn)\s*;\s*reload\(\1\)", None, "`reload` of a course module dropped"),
    (r"reload\([\w.]+\)", None, "`reload` dropped (Python 3: importlib.reload)"),
    (r"sys\.setdefaultencoding\(.*\)", None, "sys.setdefaultencoding dropped (Python 3's strings are Unicode)"),
    (r"from theano\.sandbox\b.*|import theano\.sandbox\b.*|cuda\.use\(.*\)", None,
     "Theano's GPU selection dropped (PyTensor has no CUDA backend to select)"),
    (r"from theano\.tensor\.(?:nnet|signal)\b[\w.]* import (.+)", r"from vggcourse.utils import \1",
     "Theano's nnet / pool -> vggcourse.utils' (PyTensor has no nnet or pool module)"),
    (r"from theano((?:\.\w+)*) import (.+)", r"from pytensor\1 import \2", _THEANO),
    (r"import theano((?:\.\w+)*) as (\w+)", r"import pytensor\1 as \2", _THEANO),
    (r"import theano(?:\.tensor)?", "import pytensor as theano", _THEANO),
    (r"import bcolz", None, "bcolz import dropped (vggcourse.utils has save_array / load_array)"),
    (r"def (save_array|load_array)\(.*\):.*bcolz.*", None,
     "bcolz save_array/load_array definition dropped (vggcourse.utils' take the same names)"),
    (r"K\.set_image_dim_ordering\(.*\)", None, "K.set_image_dim_ordering dropped: channels-last throughout"),
    (r"from (vgg16|vgg16bn) import \*", "from vggcourse.utils import *", "vgg16 import -> vggcourse"),
    (r"from (vgg16|vgg16bn|resnet50) import (.+)", r"from vggcourse import \2", "vgg16 import -> vggcourse"),
    (r"import (vgg16|vgg16bn)", r"import vggcourse.utils as \1", "vgg16 import -> vggcourse"),
    (r"from utils import (.+)", r"from vggcourse.utils import \1", "utils import -> vggcourse.utils"),
    (r"import utils", "import vggcourse.utils as utils", "utils import -> vggcourse.utils"),
    (r"from keras import backend as (\w+)", r"from vggcourse.keras1 import K as \1", "Keras 1 import -> vggcourse.keras1"),
    (r"import keras\.backend as (\w+)", r"from vggcourse.keras1 import K as \1", "Keras 1 import -> vggcourse.keras1"),
    (rf"from {_KERAS_MODULE} import (.+)", r"from vggcourse.keras1 import \1", "Keras 1 import -> vggcourse.keras1"),
    (r"from scipy\.(?:ndimage|misc) import (.*\b(?:imread|imresize)\b.*)", r"from vggcourse.utils import \1",
     "scipy's removed imread/imresize -> vggcourse.utils"),
    (r"from tensorflow\.examples\.tutorials\.mnist import input_data", "from vggcourse.datasets import input_data",
     "TensorFlow 1's MNIST tutorial reader -> vggcourse.datasets"),
    (r"from scipy\.ndimage\.(?:filters|interpolation|measurements|morphology|fourier) import (.+)",
     r"from scipy.ndimage import \1", "scipy.ndimage's deprecated submodules -> scipy.ndimage"),
    (r"((?:\w+\.)*rc)\(\s*(['\"])animation\2\s*,\s*html\s*=\s*(['\"])html5\3\s*\)", r"\1('animation', html='jshtml')",
     _JSHTML),
    (r"((?:\w+\.)*rcParams)\[\s*(['\"])animation\.html\2\s*\]\s*=\s*(['\"])html5\3", r"\1['animation.html'] = 'jshtml'",
     _JSHTML),
]
# what each of 2to3's fixers that fired is reported as (others: "Python 2 `name` -> Python 3")
_FIXER_CHANGES = {
    "print": "print statement -> print()",
    "xrange": "xrange -> range",
    "dict": "dict .iteritems()/.keys()/... -> Python 3",
    "raw_input": "raw_input -> input",
    "except": "except E, e -> except E as e",
    "next": "x.next() -> next(x)",
    "imports": "Python 2 module names (cPickle, ...) -> Python 3",
    "raise": "raise E, 'm' -> raise E('m')",
    "exec": "exec statement -> exec()",
    "repr": "`x` -> repr(x)",
    "numliterals": "0777 / 10L -> 0o777 / 10",
    "long": "long -> int",
    "unicode": "unicode / u'' -> str / ''",
    "has_key": "d.has_key(k) -> k in d",
    "map": "map() -> list(map())",
    "filter": "filter() -> list(filter())",
    "zip": "zip() -> list(zip())",
    "ne": "<> -> !=",
}
# fix_import looks for files in the current folder; fix_print is replaced by _FixPrintQuoted
_SKIPPED_FIXERS = {"fix_import", "fix_print"}
_CELL_MAGICS = ("time", "timeit", "capture", "prun")  # cell magics whose body is Python
_MAGIC = "vggcourse-port-magic-"


@dataclass
class PortResult:
    """What `port_notebook` wrote: the new notebook's `path`, the `changes` ("cell N: what"), the
    number of code `cells`, and what it left as it was (`not_converted`: "cell N, line L: why")."""

    path: Path
    changes: list = field(default_factory=list)
    cells: int = 0
    not_converted: list = field(default_factory=list)


def _parse_statement(code):
    """The small statement (an import) that `code` parses to."""
    grammar = pygram.python_grammar_no_print_statement
    tree = driver.Driver(grammar, convert=pytree.convert).parse_string(code + "\n")
    return tree.children[0].children[0].clone()


def _comment(node, what, code, after=""):
    indent = find_indentation(node)
    lines = code.strip().splitlines()
    text = f"# {MARK} {what}: " + f"\n{indent}# ".join(lines)
    return f"{text}  {after.strip()}" if after.strip() else text


class _OwnFix(fixer_base.BaseFix):
    """A vggcourse rewrite; `fired` (set by the tool) collects what it changed."""

    order = "pre"
    fired = None

    def report(self, what):
        self.fired.append(what)


class _FixStatements(_OwnFix):
    """Imports rewritten to vggcourse and dead statements dropped, each a whole statement."""

    PATTERN = "simple_stmt< any+ > | funcdef< any+ >"

    def transform(self, node, results):
        code = _code(node) if node.type == syms.funcdef else _code(*node.children[:-1])
        if node.type == syms.funcdef:
            rule = self.rule(code)
            if rule is None or rule[0] is not None:
                return None
            self.report(rule[1])
            return self.drop(node, rule[1], code)
        rule = self.rule(code)
        if rule is not None:
            return self.apply(node, node, rule, code)
        for small in node.children[:-1:2]:
            rule = self.rule(_code(small))
            if rule is not None:
                self.apply(node, small, rule, _code(small))
        return None

    @staticmethod
    def rule(code):
        for pattern, replacement, what in _STATEMENT_RULES:
            if re.fullmatch(pattern, code, re.S):
                new = None if replacement is None else re.sub(pattern, replacement, code, flags=re.S)
                return new, what
        return None

    def apply(self, stmt, small, rule, code):
        new, what = rule
        self.report(what)
        if new is None:
            if small is stmt:
                return self.drop(stmt, what, code)
            small.replace(Name("pass", prefix=small.prefix))
            stmt.children[-1].prefix = "  " + _comment(stmt, what, code, stmt.children[-1].prefix)
            return None
        replacement = _parse_statement(new)
        if small is stmt:
            small = stmt.children[0]
        replacement.prefix = small.prefix
        small.replace(replacement)
        return None

    def drop(self, node, what, code):
        after = node.children[-1].prefix if node.type == syms.simple_stmt else ""
        comment = _comment(node, what, code, after)
        if node.parent is not None and node.parent.type == syms.file_input:
            return Leaf(token.NEWLINE, "\n", prefix=node.prefix + comment)
        return Node(syms.simple_stmt, [Name("pass", prefix=node.prefix),
                                       Leaf(token.NEWLINE, "\n", prefix="  " + comment)])


class _FixTypeIs(_OwnFix):
    """`type(x) is C` / `type(x) == C` -> `isinstance(x, C)` (and the negations)."""

    order = "post"
    PATTERN = """comparison< power< 'type' trailer< '(' obj=any ')' > >
                 op=('is' | '==' | '!=' | comp_op< 'is' 'not' >) cls=any >"""

    def transform(self, node, results):
        cls, op = (r[0] if isinstance(r, list) else r for r in (results["cls"], results["op"]))
        if results["obj"].type == syms.arglist or not re.fullmatch(r"\s*[A-Za-z_][\w.]*", str(cls)):
            return None
        cls = cls.clone()
        cls.prefix = " "
        call = Call(Name("isinstance"), [results["obj"].clone(), Comma(), cls], prefix=node.prefix)
        if str(op).strip() in ("==", "is"):
            self.report("type(x) is C -> isinstance(x, C)")
            return call
        self.report("type(x) is not C -> not isinstance(x, C)")
        call.prefix = " "
        return Node(syms.not_test, [Name("not", prefix=node.prefix), call])


class _FixPostfix(_OwnFix):
    """`x.output_shape` -> `output_shape_of(x)`, `x.eval()` -> `K.eval(x)`, scipy's
    `ndimage.imread(...)` -> `imread(...)`."""

    order = "post"
    PATTERN = "power< any+ >"

    def transform(self, node, results):
        kids = node.children
        for i in range(1, len(kids)):
            name = _attribute(kids[i])
            if name == "output_shape":
                return self.wrap(node, i, i + 1, "output_shape_of", "x.output_shape -> output_shape_of(x)")
            if name == "eval" and i + 1 < len(kids) and str(kids[i + 1]).replace(" ", "") == "()":
                return self.wrap(node, i, i + 2, "K.eval", "x.eval() -> K.eval(x)")
            if (name in ("imread", "imresize") and _is_call(kids, i + 1)
                    and [str(k).strip(". ") for k in kids[:i]] in (["ndimage"], ["misc"], ["scipy", "misc"],
                                                                  ["scipy", "ndimage"])):
                self.report("scipy's removed imread/imresize -> vggcourse.utils")
                rest = [Name(name, prefix=node.prefix)] + [k.clone() for k in kids[i + 1:]]
                return Node(syms.power, rest)
        return None

    def wrap(self, node, start, end, func, what):
        """`func(<node's children before start>)` followed by its children from `end`."""
        self.report(what)
        base = [k.clone() for k in node.children[:start]]
        base[0].prefix = ""
        parts = func.split(".")
        head = [Name(parts[0], prefix=node.prefix)] + [Node(syms.trailer, [Dot(), Name(p)]) for p in parts[1:]]
        call = ArgList([base[0] if len(base) == 1 else Node(syms.power, base)])
        return Node(syms.power, head + [call] + [k.clone() for k in node.children[end:]])


class _FixLogLossEps(_OwnFix):
    """`log_loss(..., eps=...)` -> `log_loss(...)`: scikit-learn removed `eps` and clips itself."""

    order = "post"
    PATTERN = "power< 'log_loss' trailer< '(' args=arglist ')' > any* >"

    def transform(self, node, results):
        args = results["args"].children
        for i, arg in enumerate(args):
            if arg.type == syms.argument and str(arg.children[0]).strip() == "eps":
                self.report("log_loss(..., eps=) -> log_loss(...) (scikit-learn removed eps; it clips itself)")
                if i > 0:
                    args[i - 1].remove()
                arg.remove()
                return None
        return None


class _FixStackGenerator(_OwnFix):
    """`np.stack(f(d) for d in lines)` -> `np.stack([f(d) for d in lines])`: NumPy 2's stack and
    concatenate functions take a sequence, no longer a generator."""

    order = "post"
    PATTERN = """power< ('np' | 'numpy') trailer< '.' ('stack' | 'vstack' | 'hstack' | 'dstack' | 'column_stack'
                                                  | 'concatenate') >
                        trailer< '(' gen=argument< any comp_for< any* > > ')' > any* >"""

    def transform(self, node, results):
        gen = results["gen"]
        self.report("np.stack(<generator>) -> np.stack([...]) (NumPy 2 takes a sequence)")
        items = Node(syms.listmaker, [kid.clone() for kid in gen.children])
        gen.replace(Node(syms.atom, [Leaf(token.LSQB, "["), items, Leaf(token.RSQB, "]")]))
        return None


class _FixPrintQuoted(FixPrint):
    """2to3's print fixer, writing `end=" "` as the course's ported notebooks do."""

    def add_kwarg(self, l_nodes, s_kwd, n_expr):
        if s_kwd == "end" and n_expr.value == "' '":
            n_expr = String('" "')
        super().add_kwarg(l_nodes, s_kwd, n_expr)



_OWN_FIXERS = [_FixStatements, _FixTypeIs, _FixPostfix, _FixLogLossEps, _FixStackGenerator]


def _code(*nodes):
    """The text of `nodes` without the comments and blank lines before them."""
    return "".join(str(n) for n in nodes)[len(nodes[0].prefix):].strip()


def _attribute(node):
    """The name in the trailer `.name`, else None."""
    kids = getattr(node, "children", [])
    return kids[1].value if len(kids) == 2 and getattr(kids[0], "value", None) == "." else None


def _is_call(kids, i):
    return i < len(kids) and str(kids[i]).lstrip().startswith("(")


class _Tool(fissix_refactor.RefactoringTool):
    """2to3's default fixers (its print fixer as `_FixPrintQuoted`) and vggcourse's; `fired` lists
    what they changed since it was last cleared."""

    def __init__(self, print_function):
        self.fired = []
        names = [n for n in fissix_refactor.get_fixers_from_package("fissix.fixes")
                 if n.rsplit(".", 1)[-1] not in _SKIPPED_FIXERS]
        super().__init__(names, {"print_function": print_function})

    def get_fixers(self):
        pre, post = super().get_fixers()
        printer = _FixPrintQuoted(self.options, self.fixer_log)
        for fixer in pre + post:
            self._record(fixer, type(fixer).__module__.rsplit(".fix_", 1)[-1])
        self._record(printer, "print")
        mine = [cls(self.options, self.fixer_log) for cls in _OWN_FIXERS]
        for fixer in mine:
            fixer.fired = self.fired
        key = operator.attrgetter("run_order")
        return (sorted(pre + [f for f in mine if f.order == "pre"], key=key),
                sorted(post + [printer] + [f for f in mine if f.order == "post"], key=key))

    def _record(self, fixer, name):
        """Wrap `fixer.transform` so that a change it makes is added to `fired`."""
        transform = fixer.transform

        def recorded(node, results):
            before, parent = str(node), node.parent
            new = transform(node, results)
            replaced = parent is not None and node.parent is None  # the fixer replaced it itself
            if replaced or str(new if new is not None else node) != before:
                self.fired.append(_FIXER_CHANGES.get(name, f"Python 2 `{name}` -> Python 3"))
            return new
        fixer.transform = recorded


@functools.lru_cache(maxsize=2)
def _tool(print_function):
    return _Tool(print_function)


def _is_magic(line):
    stripped = line.strip()
    return bool(
        stripped.startswith("?") or re.fullmatch(r"%?[\w.*]+\?\??", stripped)
        or re.match(r"%%?[A-Za-z]", stripped) or (stripped.startswith("!") and not stripped.startswith("!="))
        or re.match(r"[A-Za-z_][\w, ]*=\s*(!|%[A-Za-z])", stripped))


def _mask_magics(source):
    """(source with each IPython line replaced by a `pass` placeholder, the lines replaced)."""
    lines, magics = source.split("\n"), []
    for i, line in enumerate(lines):
        if _is_magic(line):
            indent = line[:len(line) - len(line.lstrip())]
            lines[i] = f"{indent}pass  # {_MAGIC}{len(magics)}"
            magics.append(line)
    return "\n".join(lines), magics


def _unmask_magics(source, magics):
    pattern = re.compile(rf"[ \t]*pass  # {_MAGIC}(\d+)")
    return "\n".join(magics[int(m.group(1))] if (m := pattern.fullmatch(line)) else line
                     for line in source.split("\n"))


def _parse_problem(err):
    """(line, why) for fissix's parse or tokenize error `err`."""

    if isinstance(err, ParseError):
        return err.context[1][0], f"does not parse as Python 2 (unexpected {err.value!r})"
    if isinstance(err, SyntaxError):  # IndentationError from the tokenizer
        return err.lineno, f"does not parse as Python 2 ({err.msg})"
    line = err.args[1][0] if len(err.args) > 1 else 1
    return line, f"does not parse as Python 2 ({err.args[0]})"


def _fixer_problems(log):
    """(line, why) for each note 2to3's fixers logged ("Line 3: could not convert: ..." + reason)."""
    problems = []
    for entry in log:
        match = re.match(r"Line (\d+): (.*)", entry, re.S)
        if match:
            problems.append([int(match.group(1)), match.group(2).strip()])
        elif problems and not entry.startswith("###"):
            problems[-1][1] += f" ({entry.strip()})"
    return [tuple(p) for p in problems]


def _refactor(source, print_function):
    """(the tool, `source` rewritten) by the tool for `print_function` (a print statement, or not)."""
    tool = _tool(print_function)
    tool.fired.clear()
    del tool.fixer_log[:]
    return tool, str(tool.refactor_string(source + "\n", "cell"))[:-1]


def _port_cell(source, print_function=False):
    """(new source, changes, problems) for one code cell; problems are (line, why)."""

    first = source.lstrip().split("\n", 1)[0]
    if re.match(r"%%(?!(" + "|".join(_CELL_MAGICS) + r")\b)", first):
        return source, [], []  # a cell magic whose body is not Python (%%bash, %%html, ...)
    masked, magics = _mask_magics(source)
    if not masked.strip():
        return source, [], []
    try:
        tool, new = _refactor(masked, print_function)
    except (ParseError, TokenError, SyntaxError) as err:
        try:  # print(..., end='') with the __future__ import in this cell only, or print x beside it
            tool, new = _refactor(masked, not print_function)
        except (ParseError, TokenError, SyntaxError) as other:
            return source, [], [_parse_problem(other if print_function else err)]
    try:
        ast.parse(new)
    except SyntaxError as err:
        return source, [], [(err.lineno, f"would not parse as Python 3 ({err.msg})")]
    problems = _fixer_problems(tool.fixer_log)
    if new == masked:
        return source, [], problems
    return _unmask_magics(new, magics), list(dict.fromkeys(tool.fired)), problems


def port_source(source):
    """(ported source, list of changes) for the code of one cell; a cell that cannot be ported
    comes back unchanged with no changes (`port_notebook` lists why).

        port_source("print 'hi'")   # -> ("print('hi')", ['print statement -> print()'])
    """
    new, changes, _ = _port_cell(source)
    return new, changes


def _read(src):
    """The notebook at `src`; cells without `metadata` (which Jupyter writes, older tools did not)
    are given an empty one."""
    import json

    import nbformat

    path = Path(src)
    if not path.is_file():
        raise InputFileNotFoundError(f"port: no notebook at {str(path)!r}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        for cell in raw.get("cells", []) if isinstance(raw, dict) else []:
            if isinstance(cell, dict):
                cell.setdefault("metadata", {})
        return nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as err:
        raise UserInputError(
            f"port: {str(path)!r} is not a Jupyter notebook ({type(err).__name__}: {str(err)[:120]}). "
            "Give the .ipynb file of a course notebook.") from err


_PRINT_FUNCTION = re.compile(r"^\s*from\s+__future__\s+import\s+[^#\n]*\bprint_function\b", re.M)


def _output(src, out, force):
    src = Path(src)
    out = Path(out) if out is not None else src.with_name(f"{src.stem}_ported.ipynb")
    if out.resolve() == src.resolve():
        raise UserInputError(f"port: `out` must differ from the source notebook. Received: out={str(out)!r}")
    if out.exists() and not force:
        raise UserInputError(f"port: {str(out)!r} exists; give --force (force=True) to overwrite it, "
                             "or another -o/out")
    return out


def _write(nb, out):
    import nbformat

    from vggcourse._atomic import write_atomically

    try:
        write_atomically(out, lambda tmp: nbformat.write(nb, str(tmp)))
    except OSError as err:
        if is_user_error(err):
            raise
        raise UserInputError(f"port: cannot write {str(out)!r} ({err.strerror or err}); "
                             "give -o/out in a folder you can write to") from err


def port_notebook(src, out=None, *, force=False, fix_course_bugs=True):
    """Port the course notebook `src` and write it to `out` (default: `<name>_ported.ipynb` beside it).

    Returns a `PortResult` whose `changes` lists each change as "cell N: description" (N counts
    code cells from 1), once per kind of change in a cell, and whose `not_converted` lists what
    was left as it was ("cell N, line L: why"). An existing `out` is refused unless `force=True`.
    With `fix_course_bugs` (the default), the course's known bugs that stop a top-to-bottom run
    (`vggcourse.course_fixes`: names the notebook uses but never defines) are fixed, each with a
    comment in the cell and a change "cell N: course bug fixed: why".
    """
    nb = _read(src)
    if "cells" not in nb or not isinstance(nb.cells, list):
        raise UserInputError(f"port: {str(src)!r} has no cells; is it a Jupyter notebook?")
    out = _output(src, out, force)
    code = [cell for cell in nb.cells if cell.get("cell_type") == "code"]
    print_function = any(_PRINT_FUNCTION.search(cell.get("source", "")) for cell in code)
    result = PortResult(out, cells=len(code))
    changes = []
    for index, cell in enumerate(code, 1):
        cell.source, changed, problems = _port_cell(cell.get("source", ""), print_function)
        cell.setdefault("metadata", {})
        cell.outputs, cell.execution_count = [], None
        changes.append(changed)
        result.not_converted += [f"cell {index}, line {line}: {why}" for line, why in problems]
    if fix_course_bugs:
        defined = defined_names(_mask_magics(cell.source)[0] for cell in code)
        for cell, changed in zip(code, changes):
            cell.source, whys = fix_cell(cell.source, defined, mark=f"# {MARK}")
            changed += [f"course bug fixed: {why}" for why in whys]
    result.changes = [f"cell {index}: {what}" for index, changed in enumerate(changes, 1) for what in changed]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    _write(nb, out)
    return result
