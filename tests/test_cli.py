"""The `vggcourse` command and the scripts, end to end on the shared sample (small images)."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vggcourse.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ["demo", "prepare", "finetune", "predict", "submit", "verify", "weights", "serve", "export"]


def _run(*args, env=None):
    """The command as a learner types it: a new process, its exit code and both streams."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run([sys.executable, "-m", "vggcourse", *map(str, args)], capture_output=True,
                          text=True, env=full_env, cwd=REPO, timeout=600)


@pytest.fixture(scope="module")
def finetuned(small_shared, tmp_path_factory):
    """One small fine-tune run (6 + 3 images per class) shared by the tests that need a saved model."""
    out = tmp_path_factory.mktemp("run")
    code = main(["finetune", str(small_shared), "--weights", "none", "--size", "32", "--epochs", "2",
                 "--batch-size", "4", "--out", str(out)])
    assert code == 0
    return out


def test_every_subcommand_has_help(capsys):
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert f"usage: vggcourse {command}" in capsys.readouterr().out


def test_usage_errors_exit_2_with_one_line():
    result = _run("finetune", "/no/such/folder", "--weights", "none")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "/no/such/folder" in lines[0] and "train/" in lines[0]
    result = _run("finetune", ".", "--epochs", "zero")
    assert result.returncode == 2 and "positive whole number" in result.stderr


def test_a_missing_data_folder_is_refused_before_keras_starts(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from vggcourse.cli import main; "
            "codes = [main(['finetune', sys.argv[1]]), main(['submit', sys.argv[2], 'm.keras'])]; "
            "print(codes, 'keras' in sys.modules)")
    (tmp_path / "no_test").mkdir()
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "missing"), str(tmp_path / "no_test")],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["[2,", "2]", "False"], out.stderr[-2000:]
    assert "missing' does not exist" in out.stderr and "has no test/" in out.stderr


@pytest.mark.slow
def test_finetune_writes_models_history_and_plots(finetuned):
    for name in ("best.keras", "last.keras", "history.json", "run.json"):
        assert (finetuned / name).is_file(), name
    pngs = list(finetuned.glob("*.png"))
    assert len(pngs) >= 4 and all(p.stat().st_size > 1000 for p in pngs)


@pytest.mark.slow
def test_finetune_resume_continues_the_run_longer(small_shared, finetuned, tmp_path, capsys):
    run = shutil.copytree(finetuned, tmp_path / "run")
    code = main(["finetune", str(small_shared), "--resume", str(run / "last.keras"), "--epochs", "3"])
    assert code == 0
    out = capsys.readouterr().out
    assert "resuming the run in" in out and "after epoch 2 of 3" in out
    assert len(json.loads((run / "history.json").read_text())) == 3


@pytest.mark.slow
def test_predict_lists_every_file(dogscats, finetuned, tmp_path):
    out = tmp_path / "preds.csv"
    assert main(["predict", str(finetuned / "best.keras"), str(dogscats / "test"), "--out", str(out)]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["file", "class", "probability"]
    assert len(rows) == 101 and {r[1] for r in rows[1:]} <= {"cats", "dogs"}


@pytest.mark.slow
def test_submit_writes_a_checked_submission_and_refuses_a_wrong_count(dogscats, finetuned, tmp_path, capsys,
                                                                     monkeypatch):
    out = tmp_path / "submission.csv"
    assert main(["submit", str(dogscats), str(finetuned / "best.keras"), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "id,label" and len(lines) == 101
    assert all(0.05 <= float(line.split(",")[1]) <= 0.95 for line in lines[1:])
    capsys.readouterr()
    refused = tmp_path / "refused.csv"
    from vggcourse import workflow

    def must_not_predict(*args, **kwargs):
        raise AssertionError("a wrong --expected-rows must be refused before the model predicts")

    monkeypatch.setattr(workflow, "predict_directory", must_not_predict)
    code = main(["submit", str(dogscats), str(finetuned / "best.keras"), "--out", str(refused),
                 "--expected-rows", "12500"])  # in this process: the exit codes of a new one are tested above
    err = capsys.readouterr().err
    assert code == 2 and "holds 100 test images" in err and "12500" in err and "Traceback" not in err
    assert not refused.exists()


def test_verify_lists_unreadable_images_and_class_folder_problems(dogscats_copy, capsys):
    (dogscats_copy / "train" / "cats" / "broken.jpg").write_text("<html>not a picture</html>")
    (dogscats_copy / "train" / "dogs" / "empty.jpg").write_bytes(b"")
    (dogscats_copy / "train" / "birds").mkdir()  # an empty class folder (issue 12, item 3)
    (dogscats_copy / "single" / "cats").mkdir(parents=True)  # a single-class tree
    shutil.copy(next((dogscats_copy / "train" / "cats").glob("cat.*.jpg")), dogscats_copy / "single" / "cats")
    assert main(["verify", str(dogscats_copy)]) == 0
    out = capsys.readouterr().out
    assert "broken.jpg" in out and "empty.jpg" in out and "4 problem(s)" in out
    assert "birds: empty class folder" in out and "single: only one class folder" in out
    assert main(["verify", str(dogscats_copy), "--strict"]) == 1
    capsys.readouterr()
    assert main(["verify", str(dogscats_copy / "valid"), "--strict"]) == 0
    assert "0 problem(s)" in capsys.readouterr().out


def test_port_rewrites_a_course_notebook_and_says_what_changed(tmp_path, capsys):
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from utils import *\nprint x")])
    nbformat.write(notebook, tmp_path / "lesson.ipynb")
    assert main(["port", str(tmp_path / "lesson.ipynb"), "-o", str(tmp_path / "out.ipynb")]) == 0
    out = capsys.readouterr().out
    assert "cell 1:" in out and f"wrote {tmp_path / 'out.ipynb'}" in out
    assert "print(x)" in nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].source
    assert main(["port", str(tmp_path / "missing.ipynb")]) == 2


def test_weights_list_names_the_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "keras" / "models") in out
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in out and "missing" in out


def test_weights_fetch_offline_is_a_clear_failure(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("VGGCOURSE_WEIGHTS_URL", "http://127.0.0.1:9/")
    assert main(["weights", "fetch", "vgg16"]) == 2
    err = capsys.readouterr().err
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in err and "127.0.0.1:9" in err
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("*.h5*")), "nothing may be left in the cache"


def test_prepare_dry_run_and_refusal(dogscats, tmp_path):
    kaggle = tmp_path / "kaggle"
    (kaggle / "train").mkdir(parents=True)
    (kaggle / "test").mkdir()
    for f in sorted((dogscats / "train" / "cats").glob("*.jpg"))[:10]:
        shutil.copy(f, kaggle / "train" / f.name)
    for f in sorted((dogscats / "train" / "dogs").glob("*.jpg"))[:10]:
        shutil.copy(f, kaggle / "train" / f.name)
    for f in sorted((dogscats / "test" / "unknown").glob("*.jpg"))[:5]:
        shutil.copy(f, kaggle / "test" / f.name)
    before = sorted(p.relative_to(kaggle) for p in kaggle.rglob("*"))
    result = _run("prepare", kaggle, "--valid", "4", "--sample-train", "4", "--sample-valid", "2", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert sorted(p.relative_to(kaggle) for p in kaggle.rglob("*")) == before
    result = _run("prepare", tmp_path / "nothing-here")
    assert result.returncode == 2 and "nothing-here" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_scripts_run_end_to_end_and_log_plain_lines(small_shared, dogscats, tmp_path):
    """scripts/ as a learner runs them, on 6 + 3 images per class and 4 test images; the fine-tune
    runs as `finetune.py > log` does: one line per epoch, no carriage returns, no colour codes."""
    data = tmp_path / "data"
    shutil.copytree(small_shared, data)
    (data / "test" / "unknown").mkdir(parents=True)
    for f in sorted((dogscats / "test" / "unknown").glob("*.jpg"))[:4]:
        shutil.copy(f, data / "test" / "unknown" / f.name)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    seven = subprocess.run([sys.executable, "scripts/seven_lines.py", str(data), "--weights", "none",
                            "--size", "32", "--batch-size", "4"],
                           capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert seven.returncode == 0, seven.stderr[-2000:]
    assert "val_accuracy" in seven.stdout
    run = tmp_path / "run"
    log_env = {**os.environ, "VGGCOURSE_CACHE": str(tmp_path / "cache")}
    log_env.pop("VGGCOURSE_DEBUG", None)
    ft = subprocess.run([sys.executable, "scripts/finetune.py", str(data), "--weights", "none",
                         "--size", "32", "--epochs", "2", "--batch-size", "4", "--out", str(run)],
                        capture_output=True, text=True, cwd=REPO, env=log_env, timeout=600)
    assert ft.returncode == 0, ft.stderr[-2000:]
    for stream in (ft.stdout, ft.stderr):
        assert "\r" not in stream and "\x1b" not in stream
    assert "Epoch 1/2" in ft.stdout and "Epoch 2/2" in ft.stdout
    assert "best val_accuracy" in ft.stdout
    sub = subprocess.run([sys.executable, "scripts/submit.py", str(data), str(run / "best.keras"),
                          "--out", str(tmp_path / "s.csv")],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert sub.returncode == 0, sub.stderr[-2000:]
    assert (tmp_path / "s.csv").read_text().startswith("id,label\n")
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 1 + 4


def test_parser_rejects_unknown_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train-everything"])
    assert exit_info.value.code == 2


# ---- exit codes: only the project's own user errors are exit 2 (issue 12, item 6)

def _fail_with(monkeypatch, error):
    def command(args):
        raise error
    monkeypatch.setattr("vggcourse.cli.cmd_verify", command)


def test_an_internal_value_error_is_a_failure_not_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv("VGGCOURSE_DEBUG", raising=False)
    _fail_with(monkeypatch, ValueError("invalid literal for int() with base 10: '\u00b23'"))
    assert main(["verify", "."]) == 1
    err = capsys.readouterr().err
    assert "failed: ValueError" in err and "VGGCOURSE_DEBUG=1" in err and "Traceback" not in err
    _fail_with(monkeypatch, FileNotFoundError(2, "No such file or directory", "/cache/x.npy"))  # from the OS
    assert main(["verify", "."]) == 1


def test_user_errors_are_exit_2_and_debug_shows_every_traceback(monkeypatch, capsys):
    from vggcourse.errors import UserInputError

    monkeypatch.delenv("VGGCOURSE_DEBUG", raising=False)
    _fail_with(monkeypatch, UserInputError("`path` must be a folder. Received: path='x'"))
    assert main(["verify", "."]) == 2
    err = capsys.readouterr().err
    assert err == "vggcourse verify: error: `path` must be a folder. Received: path='x'\n"
    _fail_with(monkeypatch, FileNotFoundError("data folder 'x' does not exist"))  # raised on purpose
    assert main(["verify", "."]) == 2
    capsys.readouterr()
    monkeypatch.setenv("VGGCOURSE_DEBUG", "1")
    for error, code in ((UserInputError("bad"), 2), (ValueError("bug"), 1), (KeyError("bug"), 1)):
        _fail_with(monkeypatch, error)
        assert main(["verify", "."]) == code
        assert "Traceback (most recent call last)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_test_file_that_is_not_a_numeric_id_is_named(dogscats, finetuned, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(dogscats / "test", data / "test")
    first = sorted((dogscats / "test" / "unknown").glob("*.jpg"))[0]
    shutil.copy(first, data / "test" / "unknown" / "\u00b23.jpg")
    assert main(["submit", str(data), str(finetuned / "best.keras"), "--out", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err
    assert "numeric file names" in err and "\u00b23.jpg" in err and "invalid literal" not in err


# ---- predict writes real CSV (issue 12, item 4)

@pytest.mark.slow
def test_predict_csv_survives_commas_quotes_and_newlines_in_file_names(dogscats, finetuned, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    names = ["a,b.jpg", 'say "cheese".jpg', "two\nlines.jpg", "plain.jpg"]
    source = sorted((dogscats / "test" / "unknown").glob("*.jpg"))
    for name, src in zip(names, source):
        shutil.copy(src, folder / name)
    out = tmp_path / "preds.csv"
    assert main(["predict", str(finetuned / "best.keras"), str(folder), "--out", str(out)]) == 0
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "class", "probability"]
    assert sorted(r[0] for r in rows[1:]) == sorted(names)
    assert all(len(r) == 3 and 0 <= float(r[2]) <= 1 for r in rows[1:])


def test_predict_refuses_a_model_that_does_not_output_probabilities(monkeypatch, capsys):
    import numpy as np

    class Batches:
        filenames = ["1.jpg"]
        failed = []

    class Vgg:
        classes = ["price"]

    monkeypatch.setattr("vggcourse.workflow.predict_directory",
                        lambda *a, **k: (Batches(), np.array([[103.65]]), Vgg()))
    assert main(["predict", "m.keras", "."]) == 2
    assert "does not output class probabilities" in capsys.readouterr().err


# ---- issue 9 and 11 flags reach the workflow

def test_finetune_flags_reach_the_workflow(monkeypatch, tmp_path):
    from types import SimpleNamespace

    seen = {}

    def finetune_directory(data, **kwargs):
        seen.update(kwargs)
        return SimpleNamespace(best_val_accuracy=0.5, best_epoch=0, out=tmp_path, pngs=[], lr_suggestion=3e-4)

    monkeypatch.setattr("vggcourse.workflow.finetune_directory", finetune_directory)
    monkeypatch.chdir(tmp_path)
    for name in ("d/train", "d/valid"):  # the layout check runs before the (faked) workflow
        (tmp_path / name).mkdir(parents=True)
    assert main(["finetune", "d", "--unfreeze", "fc1", "--one-cycle", "--lr-find", "--tta", "3"]) == 0
    assert seen["unfreeze"] == "fc1" and seen["one_cycle"] is True and seen["lr_find"] is True
    assert seen["tta"] == 3
    seen.clear()
    assert main(["finetune", "d", "--unfreeze", "-4"]) == 0
    assert seen["unfreeze"] == -4 and seen["one_cycle"] is False and seen["lr_find"] is False
    assert seen["lr"] is None and seen["tta"] == 0  # the workflow's defaults: 0.001, or lr_find's rate
    assert main(["finetune", "d", "--unfreeze", "0"]) == 0 and seen["unfreeze"] == 0  # index 0: every layer
    assert main(["finetune", "d/train", "--labels-re", r"^(cat|dog)\.", "--valid-pct", "0.1"]) == 0
    assert seen["labels_re"] == r"^(cat|dog)\." and seen["valid_pct"] == 0.1


def test_tta_reaches_predict_and_submit(monkeypatch, capsys, tmp_path):
    import numpy as np

    monkeypatch.chdir(tmp_path)
    (tmp_path / "test").mkdir()  # the layout check runs before the (faked) workflow

    seen = []

    class Batches:
        filenames = ["1.jpg"]
        failed = []

    class Vgg:
        classes = ["cats", "dogs"]

    monkeypatch.setattr("vggcourse.workflow.predict_directory",
                        lambda *a, **k: seen.append(k) or (Batches(), np.array([[0.3, 0.7]]), Vgg()))
    monkeypatch.setattr("vggcourse.workflow.submit_directory", lambda *a, **k: seen.append(k))
    assert main(["predict", "m.keras", ".", "--tta", "4"]) == 0
    assert main(["submit", ".", "m.keras", "--tta", "2"]) == 0
    assert main(["predict", "m.keras", "."]) == 0
    assert [k["tta"] for k in seen] == [4, 2, 0]
    assert "1.jpg,dogs,0.70000" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["predict", "m", "p", "--tta", "-1"], "whole number >= 0"),
    (["submit", "d", "m", "--tta", "two"], "whole number >= 0"),
    (["finetune", "d", "--unfreeze", ""], "layer name"),
    (["finetune", "d", "--epochs", "2.5"], "argument --epochs: expected a positive whole number, got '2.5'"),
    (["finetune", "d", "--batch-size", "0"], "argument --batch-size: expected a positive whole number, got '0'"),
    (["finetune", "d", "--lr", "inf"], "argument --lr: expected a positive number, got 'inf'"),
])
def test_bad_new_flags_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_finetune_input_errors_leave_no_output_folder(small_shared, tmp_path, capsys):
    for flags in (["--unfreeze", "nope"], ["--size", "16"], ["--weights", str(tmp_path / "missing.h5")]):
        out = tmp_path / "run"
        assert main(["finetune", str(small_shared), "--weights", "none", "--size", "32",
                     "--batch-size", "4", "--out", str(out), *flags]) == 2
        assert not out.exists(), flags
        assert "error:" in capsys.readouterr().err


# ---- issue 18: failed files never become data

@pytest.mark.slow
def test_predict_names_a_failed_file_and_leaves_its_row_empty_with_a_warm_cache_too(
        dogscats, finetuned, tmp_path, capsys):
    from helpers import write_broken_png
    from vggcourse import feature_store

    folder = tmp_path / "test"
    shutil.copytree(dogscats / "test" / "unknown", folder / "unknown")
    write_broken_png(folder / "unknown" / "999.png")
    for warm in ("cold", "memory", "disk"):
        if warm == "disk":
            feature_store.clear_memory()
        out = tmp_path / f"{warm}.csv"
        assert main(["predict", str(finetuned / "best.keras"), str(folder), "--out", str(out)]) == 0, warm
        err = capsys.readouterr().err
        assert "999.png could not be decoded" in err and "softmax" not in err, (warm, err)
        rows = {r[0]: r for r in csv.reader(out.open())}
        assert len(rows) == 102 and rows["unknown/999.png"] == ["unknown/999.png", "", ""], warm
        assert all(0 <= float(r[2]) <= 1 for name, r in rows.items() if name not in ("file", "unknown/999.png"))


@pytest.mark.slow
def test_predict_writes_a_file_name_that_is_not_utf8_as_its_bytes(dogscats, finetuned, tmp_path, capfdbinary):
    folder = tmp_path / "odd"
    folder.mkdir()
    photo = sorted((dogscats / "test" / "unknown").glob("*.jpg"))[0].read_bytes()
    handle = os.open(os.path.join(os.fsencode(folder), b"cat\xff.jpg"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(handle, photo)
    os.close(handle)
    out = tmp_path / "preds.csv"
    assert main(["predict", str(finetuned / "best.keras"), str(folder), "--out", str(out)]) == 0
    assert out.read_bytes().splitlines()[1].startswith(b"cat\xff.jpg,")
    capfdbinary.readouterr()
    assert main(["predict", str(finetuned / "best.keras"), str(folder)]) == 0  # printed, not written
    assert b"\ncat\xff.jpg," in capfdbinary.readouterr().out


@pytest.mark.slow
def test_loose_test_images_beside_unknown_are_predicted_and_counted_before_predicting(
        dogscats, finetuned, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(dogscats / "test", data / "test")
    first = sorted((dogscats / "test" / "unknown").glob("*.jpg"))[0]
    shutil.copy(first, data / "test" / "100000.jpg")  # loose, beside unknown/: a test image too
    out = tmp_path / "preds.csv"
    assert main(["predict", str(finetuned / "best.keras"), str(data / "test"), "--out", str(out)]) == 0
    assert "100000.jpg" in [row[0] for row in csv.reader(out.open())][1:] and len(out.read_text().splitlines()) == 102
    submission = tmp_path / "s.csv"
    assert main(["submit", str(data), str(finetuned / "best.keras"), "--out", str(submission),
                 "--expected-rows", "101"]) == 0
    assert len(submission.read_text().splitlines()) == 102


def test_serve_and_export_name_a_bad_model_file_in_one_line(tmp_path, capsys):
    (tmp_path / "notes.keras").write_text("not a model")
    for args in (["serve", str(tmp_path / "notes.keras")], ["export", str(tmp_path / "notes.keras"), str(tmp_path / "m")],
                 ["export", str(tmp_path / "missing.keras"), str(tmp_path / "m")]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"vggcourse {args[0]}: error:") and ".keras" in err[0]
    assert main(["export", str(tmp_path / "notes.keras"), str(tmp_path / "no" / "m")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", str(tmp_path / "notes.keras"), "--port", "0"])
    assert exit_info.value.code == 2
