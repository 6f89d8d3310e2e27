"""Where the benchmarks find their images: a folder you pass, else the team's real images beside the
repository (`../shared/data/NAME`), else one line saying what to pass (exit code 2).

    data = data_folder(args.data, "dogscats-1k", "bench/modern.py")

Benchmarks time real photographs (Kaggle's Dogs vs Cats): a fresh clone has none, and the stand-in
that `vggcourse sample DIR` writes (crops of scikit-learn's photographs) is the fallback the message
names, good for trying a benchmark, not for figures to compare with bench/RESULTS.md.
"""
import sys
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_folder(given, name, script, below="", option=""):
    """`given` (a path) if not None; else `SHARED_DATA/name/below` if it exists; else exit 2 with
    one line naming the folder looked for and what to pass (`option`: the flag that takes it, if any)."""
    if given is not None:
        return Path(given)
    folder = SHARED_DATA / name / below
    if folder.is_dir():
        return folder
    print(f"{script}: no images at {folder} (the team's data beside the repository); pass a folder "
             f"in the course layout, e.g. `vggcourse sample data/sample && python {script} "
             f"{option + ' ' if option else ''}data/sample{'/' + below if below else ''}` (a stand-in: its figures are not comparable "
             f"with bench/RESULTS.md)", file=sys.stderr)
    sys.exit(2)
