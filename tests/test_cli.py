"""The `vggcourse` command and the scripts, end to end on the shared sample (small images)."""
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vggcourse.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ["demo", "prepare", "finetune", "predict", "submit", "verify", "weights"]


def _run(*args, env=None):
    """The command as a learner types it: a new process, its exit code and both streams."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run([sys.executable, "-m", "vggcourse", *map(str, args)], capture_output=True,
                          text=True, env=full_env, cwd=REPO, timeout=600)


@pytest.fixture(scope="module")
def finetuned(dogscats, tmp_path_factory):
    """One small fine-tune run shared by the tests that need a saved model."""
    out = tmp_path_factory.mktemp("run")
    code = main(["finetune", str(dogscats), "--weights", "none", "--size", "32", "--epochs", "2",
                 "--batch-size", "32", "--out", str(out)])
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


def test_finetune_writes_models_history_and_plots(finetuned):
    for name in ("best.keras", "last.keras", "last.weights.h5", "history.json"):
        assert (finetuned / name).is_file(), name
    pngs = list(finetuned.glob("*.png"))
    assert len(pngs) >= 4 and all(p.stat().st_size > 1000 for p in pngs)


def test_finetune_resumes_from_saved_weights(dogscats, finetuned, tmp_path, capsys):
    code = main(["finetune", str(dogscats), "--weights", "none", "--size", "32", "--epochs", "1",
                 "--batch-size", "32", "--out", str(tmp_path),
                 "--resume", str(finetuned / "last.weights.h5")])
    assert code == 0
    assert "resumed from" in capsys.readouterr().out


def test_predict_lists_every_file(dogscats, finetuned, tmp_path):
    out = tmp_path / "preds.csv"
    assert main(["predict", str(finetuned / "best.keras"), str(dogscats / "test"), "--out", str(out)]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["file", "class", "probability"]
    assert len(rows) == 101 and {r[1] for r in rows[1:]} <= {"cats", "dogs"}


def test_submit_writes_a_checked_submission_and_refuses_a_wrong_count(dogscats, finetuned, tmp_path):
    out = tmp_path / "submission.csv"
    assert main(["submit", str(dogscats), str(finetuned / "best.keras"), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "id,label" and len(lines) == 101
    assert all(0.05 <= float(line.split(",")[1]) <= 0.95 for line in lines[1:])
    refused = tmp_path / "refused.csv"
    result = _run("submit", dogscats, finetuned / "best.keras", "--out", refused, "--expected-rows", "12500")
    assert result.returncode == 2 and "12500" in result.stderr and "Traceback" not in result.stderr
    assert not refused.exists()


def test_verify_lists_unreadable_images(dogscats_copy, capsys):
    (dogscats_copy / "train" / "cats" / "broken.jpg").write_text("<html>not a picture</html>")
    (dogscats_copy / "train" / "dogs" / "empty.jpg").write_bytes(b"")
    assert main(["verify", str(dogscats_copy)]) == 0
    out = capsys.readouterr().out
    assert "broken.jpg" in out and "empty.jpg" in out and "2 unreadable image(s)" in out
    assert main(["verify", str(dogscats_copy), "--strict"]) == 1


def test_weights_list_names_the_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "keras" / "models") in out
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in out and "missing" in out


def test_weights_fetch_offline_is_a_clear_failure(tmp_path):
    result = _run("weights", "fetch", "vgg16",
                  env={"KERAS_HOME": str(tmp_path), "VGGCOURSE_WEIGHTS_URL": "http://127.0.0.1:9/"})
    assert result.returncode == 2
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in result.stderr and "127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
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
def test_scripts_run_end_to_end(dogscats, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    seven = subprocess.run([sys.executable, "scripts/seven_lines.py", str(dogscats), "--weights", "none",
                            "--size", "32", "--batch-size", "32"],
                           capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert seven.returncode == 0, seven.stderr[-2000:]
    assert "val_accuracy" in seven.stdout
    run = tmp_path / "run"
    ft = subprocess.run([sys.executable, "scripts/finetune.py", str(dogscats), "--weights", "none",
                         "--size", "32", "--batch-size", "32", "--out", str(run)],
                        capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert ft.returncode == 0, ft.stderr[-2000:]
    sub = subprocess.run([sys.executable, "scripts/submit.py", str(dogscats), str(run / "best.keras"),
                          "--out", str(tmp_path / "s.csv")],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert sub.returncode == 0, sub.stderr[-2000:]
    assert (tmp_path / "s.csv").read_text().startswith("id,label\n")


def test_parser_rejects_unknown_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train-everything"])
    assert exit_info.value.code == 2
