"""The course notebooks' own bugs that stop a top-to-bottom run, and the fix `vggcourse port` applies.

    from vggcourse.course_fixes import defined_names, fix_cell
    defined = defined_names(["sample_path = 'data/sample/'", "save_array(samp_path+'a.dat', a)"])
    fix_cell("save_array(samp_path+'a.dat', a)", defined, mark="# [vggcourse port]")
    # -> ("# [vggcourse port] course bug fixed: `samp_path` is never defined ...\\n"
    #     "save_array(sample_path+'a.dat', a)", ["`samp_path` is never defined ..."])

Each fix is for a name that a notebook uses but never defines: it was left in the author's kernel
from an earlier run, or it is a twin of a name the notebook does define. A fix applies to a line
that matches its pattern, and only when no cell of the notebook defines the missing name and every
name the fix itself uses is defined somewhere: a notebook the learner has already mended is left as
it is. The fixed line gets a comment above it that says what was changed and why.

Bugs that would need new code written for the author (statefarm's `fit_conv`, lesson 7's
`test_sizes`) are not fixed here; the ported notebooks in `notebooks/` fix those by hand.
"""
import ast
import re
from dataclasses import dataclass, field

__all__ = ["CourseFix", "COURSE_FIXES", "defined_names", "fix_cell"]


@dataclass(frozen=True)
class CourseFix:
    """A fix for the one line (`pattern`, matched against the whole stripped line) that uses
    `missing`: its names renamed (`rename`, whole words) and/or a statement put before it
    (`insert`). `uses`: the names the fixed code needs the notebook to define."""

    pattern: str
    missing: str
    why: str
    uses: tuple = ()
    rename: dict = field(default_factory=dict)
    insert: str = ""


COURSE_FIXES = (
    # imagenet_batchnorm
    CourseFix(r"save_array\(samp_path\s*\+.*", missing="samp_path", uses=("sample_path",),
              rename={"samp_path": "sample_path"},
              why="`samp_path` is never defined in the notebook; `sample_path` is the folder it means "
                  "(the next cell loads these files from there)"),
    CourseFix(r"model\.evaluate\(\s*val\s*,\s*val_labels\s*\)", missing="val",
              uses=("samp_val", "samp_val_labels"), rename={"val": "samp_val", "val_labels": "samp_val_labels"},
              why="`val` is never defined in the notebook; the sample's validation images are `samp_val`, "
                  "with `samp_val_labels`, as in the cell above that this one is compared with"),
    CourseFix(r"dense_model\.evaluate\(\s*conv_feat\s*,\s*trn_labels\s*\)", missing="conv_feat",
              uses=("samp_conv_feat", "samp_trn_labels"),
              rename={"conv_feat": "samp_conv_feat", "trn_labels": "samp_trn_labels"},
              why="`conv_feat` is never defined in the notebook; the sample's training features are "
                  "`samp_conv_feat`, with `samp_trn_labels`"),
    # statefarm
    CourseFix(r"conv_test_feat\s*=\s*conv_model\.predict_generator\(\s*test_batches\s*,.*", missing="test_batches",
              uses=("path", "batch_size"),
              insert="test_batches = get_batches(path+'test', batch_size=batch_size, shuffle=False, class_mode=None)",
              why="`test_batches` is never defined in the notebook; it is made here from the test folder "
                  "(unlabelled, in file order, as `get_classes` reads it)"),
    CourseFix(r".*\bdo_clip\(\s*val_preds\s*,.*", missing="val_preds", uses=("bn_model", "conv_val_feat", "batch_size"),
              insert="val_preds = bn_model.predict(conv_val_feat, batch_size=batch_size*2)",
              why="`val_preds` is never defined in the notebook; the validation set's predictions of "
                  "`bn_model`, the model just trained, are computed first"),
)


def _targets(node):
    """The names an assignment target binds."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [name for elt in node.elts for name in _targets(elt)]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    return []


def defined_names(sources):
    """The names the code cells `sources` bind anywhere (assignments, loops, `with`, `def`, `class`,
    imports), Python 3 with IPython lines already masked. A cell that does not parse counts as
    defining every word in it, so that no fix is applied on a guess."""
    names = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            names.update(re.findall(r"[A-Za-z_]\w*", source))
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(name for target in targets for name in _targets(target))
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                names.update(name for item in node.items if item.optional_vars is not None
                             for name in _targets(item.optional_vars))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            elif isinstance(node, ast.NamedExpr):
                names.update(_targets(node.target))
    return names


def _applies(fix, line, defined):
    return (fix.missing not in defined and all(name in defined for name in fix.uses)
            and re.fullmatch(fix.pattern, line.strip()) is not None)


def fix_cell(source, defined, mark):
    """(`source` with every fix of `COURSE_FIXES` that applies to one of its lines, the first line
    a fix changes after a comment `<mark> course bug fixed: <why>`; the list of whys).
    `defined`: `defined_names` of the whole notebook."""
    lines, whys = [], []
    for line in source.split("\n"):
        fix = next((f for f in COURSE_FIXES if _applies(f, line, defined)), None)
        if fix is None:
            lines.append(line)
            continue
        indent = line[:len(line) - len(line.lstrip())]
        if fix.why not in whys:  # one comment for the lines of a cell that one fix changes
            lines.append(f"{indent}{mark} course bug fixed: {fix.why}")
            whys.append(fix.why)
        if fix.insert:
            lines.append(indent + fix.insert)
        for old, new in fix.rename.items():
            line = re.sub(rf"\b{re.escape(old)}\b", new, line)
        lines.append(line)
    return "\n".join(lines), whys
