"""The course's notebooks run top to bottom on the shared sample (small images, random weights)."""
import gzip
import json
import re
from pathlib import Path

import nbformat
import pytest
from helpers import FISH_CLASSES, write_fisheries, write_statefarm
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _run(name, parameters, workdir):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name} must have exactly one cell tagged 'parameters'"
    tagged[0].source = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    return nb


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _text(nb):
    return json.dumps([o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in _outputs(nb)])


def test_notebooks_have_a_parameters_cell_and_match_their_generator(tmp_path):
    import runpy

    module = runpy.run_path(str(NOTEBOOKS / "make_notebooks.py"), run_name="not_main")
    generated = {"lesson1.ipynb": module["LESSON1"], "lesson2.ipynb": module["LESSON2"],
                 "lesson3.ipynb": module["LESSON3"], "dogscats_ensemble.ipynb": module["ENSEMBLE"],
                 "dogs_cats_redux.ipynb": module["REDUX"], "finetune_today.ipynb": module["TODAY"],
                 "mnist.ipynb": module["MNIST"], "statefarm.ipynb": module["STATEFARM"],
                 "lesson7.ipynb": module["LESSON7"], "lesson4.ipynb": module["LESSON4"],
                 "lesson5.ipynb": module["LESSON5"], "lesson6.ipynb": module["LESSON6"]}
    for name in generated:
        committed = nbformat.read(NOTEBOOKS / name, as_version=4)
        tags = [c.metadata.get("tags", []) for c in committed.cells]
        assert sum("parameters" in t for t in tags) == 1
    for name, cells in generated.items():
        committed = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert [c["source"] for c in cells] == [c.source for c in committed.cells], \
            f"{name} is stale: run python notebooks/make_notebooks.py"


@pytest.mark.slow
def test_lesson1_runs_top_to_bottom(dogscats, tmp_path):
    data = _subset(dogscats, tmp_path / "data")
    nb = _run("lesson1.ipynb", {"path": f"{data}/", "size": (32, 32), "batch_size": 16,
                                "weights": None}, tmp_path)
    text = _text(nb)
    assert "Random weights" in text
    assert "Predictions prob/class" in text
    images = [o for o in _outputs(nb) if "image/png" in o.get("data", {})]
    assert len(images) >= 2, "the plots cells must show images"


@pytest.mark.slow
def test_dogs_cats_redux_runs_top_to_bottom(dogscats, tmp_path):
    nb = _run("dogs_cats_redux.ipynb", {
        "DATA_HOME_DIR": None, "sample_path": f"{dogscats}/", "size": (32, 32), "batch_size": 16,
        "no_of_epochs": 2, "n_valid": 2000, "n_sample_train": 200, "n_sample_valid": 50,
        "weights": None}, tmp_path)
    text = _text(nb)
    assert "Completed 2 fit operations" in text
    assert "id,label" in text
    assert "log_loss" in text or "logloss" in text.replace(" ", "").lower()
    images = [o for o in _outputs(nb) if "image/png" in o.get("data", {})]
    assert len(images) >= 6, "every analysis cell must draw a figure"


def _subset(dogscats, dest, n_train=24, n_valid=12):
    """A smaller sample in the course layout (links to the shared images): the lessons train
    several models, and the suite must stay quick on a CPU."""
    for split, n in (("train", n_train), ("valid", n_valid)):
        for cls in ("cats", "dogs"):
            (dest / split / cls).mkdir(parents=True)
            for f in sorted((dogscats / split / cls).glob("*.jpg"))[:n]:
                (dest / split / cls / f.name).symlink_to(f)
    return dest


@pytest.mark.slow
def test_lesson2_runs_top_to_bottom(dogscats, tmp_path):
    data = _subset(dogscats, tmp_path / "data")
    nb = _run("lesson2.ipynb", {"path": f"{data}/", "model_path": f"{tmp_path}/models/", "size": (32, 32),
                                "batch_size": 32, "epochs": 1, "weights": None}, tmp_path)
    text = _text(nb)
    assert "Random weights" in text and "learning rate: 0.01" in text
    assert "validation loss" in text and (tmp_path / "models" / "finetune2.h5").is_file()
    assert len([o for o in _outputs(nb) if "image/png" in o.get("data", {})]) >= 4


@pytest.mark.slow
def test_lesson3_runs_top_to_bottom(dogscats, tmp_path):
    data = _subset(dogscats, tmp_path / "data")
    nb = _run("lesson3.ipynb", {"path": f"{data}/", "model_path": f"{tmp_path}/models/", "size": (32, 32),
                                "batch_size": 32, "epochs": 1, "aug_epochs": 1, "weights": None,
                                "finetuned": None}, tmp_path)
    text = _text(nb)
    assert "block5_conv3 (None, 2, 2, 512)" in text
    assert "same predictions as the whole model: True" in text  # dropout removed, weights unscaled
    assert "learning rate: 0.0001" in text and (tmp_path / "models" / "final2.h5").is_file()


@pytest.mark.slow
def test_dogscats_ensemble_runs_top_to_bottom(dogscats, tmp_path):
    data = _subset(dogscats, tmp_path / "data")
    nb = _run("dogscats_ensemble.ipynb", {
        "path": f"{data}/", "model_path": f"{tmp_path}/models/", "size": (32, 32), "batch_size": 32,
        "n_models": 2, "ll_epochs": 1, "fc_epochs": 1, "aug_epochs": 1, "weights": None}, tmp_path)
    text = _text(nb)
    assert "(48, 4096)" in text and "ensemble of 2: accuracy" in text
    assert (tmp_path / "models" / "aug1.h5").is_file()


@pytest.mark.slow
def test_finetune_today_runs_top_to_bottom(dogscats, tmp_path):
    nb = _run("finetune_today.ipynb", {"path": f"{dogscats}/", "size": (32, 32), "batch_size": 32,
                                       "weights": None}, tmp_path)
    text = _text(nb)
    assert "suggested learning rate" in text and "with TTA (4 augmented passes)" in text
    assert "['cats', 'dogs']" in text and (tmp_path / "best.keras").is_file()
    images = [o for o in _outputs(nb) if "image/png" in o.get("data", {})]
    assert len(images) >= 3, "lr_find and the two training histories must be drawn"


@pytest.mark.slow
def test_mnist_runs_top_to_bottom(tmp_path):
    nb = _run("mnist.ipynb", {"standin": True, "batch_size": 128, "max_epochs": 1, "n_train": 128,
                              "n_models": 2, "model_path": f"{tmp_path}/models/"}, tmp_path)
    text = _text(nb)
    assert "((128, 28, 28), (128,), (297, 28, 28), (297,))" in text  # the stand-in, offline
    assert "(128, 28, 28, 1)" in text  # channels-last
    assert "learning rate: 0.01" in text and "learning rate: 1e-05" in text  # `optimizer.lr = ` sets the rate
    assert "(2, 297, 10)" in text and "ensemble of 2: accuracy" in text
    assert (tmp_path / "models" / "cnn-mnist23-1.h5").is_file()


@pytest.mark.slow
def test_statefarm_runs_top_to_bottom(dogscats, tmp_path):
    data = write_statefarm(dogscats, tmp_path / "state")
    nb = _run("statefarm.ipynb", {"path": f"{data}/", "size": (32, 32), "batch_size": 16, "n_valid_drivers": 1,
                                  "max_epochs": 1, "weights": None}, tmp_path)
    text = _text(nb)
    assert "moved 10 images of drivers" in text  # one driver's image of each class
    assert sorted(p.name for p in (data / "valid").iterdir()) == [f"c{i}" for i in range(10)]
    assert "(150, 2, 2, 512) (30, 2, 2, 512)" in text  # five augmented passes of the 30 training images
    assert "validation log loss, clipped at 0.93" in text
    submission = (data / "results" / "subm.gz")
    lines = gzip.decompress(submission.read_bytes()).decode().splitlines()
    assert lines[0] == "img," + ",".join(f"c{i}" for i in range(10)) and len(lines) == 7
    assert all(line.split(",")[0].startswith("img_") for line in lines[1:])


@pytest.mark.slow
def test_lesson7_runs_top_to_bottom(dogscats, tmp_path):
    data = write_fisheries(dogscats, tmp_path / "fish")
    nb = _run("lesson7.ipynb", {"path": f"{data}/", "size": (32, 32), "large_size": (64, 128), "batch_size": 16,
                                "n_valid": 8, "max_epochs": 1, "weights": None}, tmp_path)
    text = _text(nb)
    assert "moved 8 images to valid/" in text
    assert "bb_accuracy" in text and "class_accuracy" in text  # two outputs, a metric on each
    assert "training images have a box" in text
    assert "heatmap (64, 128)" in text  # K.function with K.learning_phase(), enlarged to the image
    assert len([o for o in _outputs(nb) if "image/png" in o.get("data", {})]) >= 5
    lines = gzip.decompress((data / "results" / "subm_bb.gz").read_bytes()).decode().splitlines()
    assert lines[0] == "image," + ",".join(FISH_CLASSES) and len(lines) == 5


@pytest.mark.slow
def test_lesson4_runs_top_to_bottom(tmp_path):
    nb = _run("lesson4.ipynb", {"standin": True, "path": "unused/", "n_factors": 8, "batch_size": 256,
                                "max_epochs": 1}, tmp_path)
    text = _text(nb)
    for model in ("dot product", "with biases", "neural net"):
        assert f"{model}: validation mse" in text
    assert (tmp_path / "data" / "ml-standin" / "models" / "bias.h5").is_file()
    assert re.search(r"\(\((\d+), 8\), \(3, \1\)\)", text)  # 8 factors per movie; PCA's 3 components
    assert len([o for o in _outputs(nb) if "image/png" in o.get("data", {})]) >= 1


@pytest.mark.slow
def test_lesson5_runs_top_to_bottom(tmp_path):
    nb = _run("lesson5.ipynb", {"standin": True, "vocab_size": 5000, "seq_len": 60, "batch_size": 128,
                                "max_epochs": 1, "model_path": f"{tmp_path}/models/"}, tmp_path)
    text = _text(nb)
    assert "(600, 60)" in text  # the padded reviews
    for model in ("conv1", "multi-size CNN", "LSTM"):
        assert f"{model}: validation accuracy" in text
    assert (tmp_path / "models" / "glove50.h5").is_file()


@pytest.mark.slow
def test_lesson6_runs_top_to_bottom(tmp_path):
    nb = _run("lesson6.ipynb", {"standin": True, "n_chars": 6000, "max_epochs": 1, "n_hidden": 16,
                                "batch_size": 64}, tmp_path)
    text = _text(nb)
    assert "corpus length: 6000" in text
    assert "(747, 8) (747, 8, 1)" in text  # the sequences for return_sequences
    assert "True" in text  # softmax's derivative checked against the closed form
    assert "Theano GRU: mean error" in text
