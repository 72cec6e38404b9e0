"""The two MNIST examples (examples/mnist) end to end on a tiny synthetic MNIST whose classes are learnable.

Each example's ``main`` runs in this process (importing Lightning once costs more than a small training run):
train 2 epochs on 200 images, predict 60 test images, evaluate; then the files it wrote are checked.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import confusion_matrix
from statsmodels.stats.proportion import proportion_confint

from fuse.core import read_dataframe
from fuse_mnist_idx import write_synthetic_mnist
from fuse_test_support import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples" / "mnist"
NUM_TRAIN, NUM_TEST = 200, 60
SMALL_RUN = ["--epochs", "2", "--batch-size", "32", "--accelerator", "cpu", "--bootstraps", "200", "--seed", "0"]


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    write_synthetic_mnist(folder, NUM_TRAIN, NUM_TEST, seed=0, compress=True)
    return folder


def _example_main(monkeypatch: pytest.MonkeyPatch, script: str) -> Callable[[list[str]], int]:
    """``main`` of an example script, imported the way ``python examples/mnist/<script>.py`` finds its siblings."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    main: Callable[[list[str]], int] = importlib.import_module(script).main
    return main


def _check_outputs(out: Path) -> dict[str, float]:
    """The files every run writes; returns the evaluation's headline numbers."""
    for checkpoint in ("best_epoch.ckpt", "last.ckpt"):
        state = torch.load(out / "model" / checkpoint, weights_only=True)  # plain tensors and values only
        assert any(key.endswith("conv1.weight") for key in state["state_dict"])
    assert (out / "model" / "epoch_summary_validation.metrics.accuracy.txt").is_file()
    logged = pd.read_csv(out / "logs" / "metrics.csv")
    assert {"train.losses.total_loss", "validation.metrics.accuracy", "validation.metrics.auc.macro_avg"} <= set(
        logged.columns
    )
    assert sorted(logged["epoch"].unique()) == [0, 1]

    predictions = read_dataframe(out / "predictions.pkl.gz")
    assert list(predictions.columns) == ["id", "model.output.classification", "data.label"]
    assert sorted(predictions["id"]) == [("mnist-test", i) for i in range(NUM_TEST)]
    probabilities = np.stack(predictions["model.output.classification"].to_list())
    assert probabilities.shape == (NUM_TEST, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

    for name in ("results.md", "results.txt", "results.json"):
        assert (out / "eval" / name).is_file()
    results = json.loads((out / "eval" / "results.json").read_text())
    accuracy, auc = results["metrics"]["accuracy"], results["metrics"]["auc"]
    assert set(auc) == {*map(str, range(10)), "macro_avg"}

    # the accuracy's interval: Wilson on the count of correct images, counted here, as statsmodels computes it
    labels = predictions["data.label"].to_numpy().astype(int)
    predicted = probabilities.argmax(axis=1)
    correct = int((predicted == labels).sum())
    assert accuracy["ci_method"] == "WILSON"
    assert (accuracy["successes"], accuracy["n"]) == (correct, NUM_TEST)
    assert accuracy["org"] == pytest.approx(correct / NUM_TEST, abs=1e-12)
    _check_wilson(accuracy["conf_lower"], accuracy["conf_upper"], correct, NUM_TEST, "evaluator accuracy")

    # the report: the same accuracy, and each digit's sensitivity and PPV from the confusion matrix counted here
    plots = ("roc.png", "calibration.png") if importlib.util.find_spec("matplotlib") else ()  # the plot extra
    for name in ("report.html", "results.md", "results.json", *plots):
        assert (out / "eval" / "report" / name).is_file()
    report = json.loads((out / "eval" / "report" / "results.json").read_text())
    shown = report["metrics"]["accuracy"]
    assert (shown["successes"], shown["n"], shown["method"]) == (correct, NUM_TEST, "wilson")
    _check_wilson(shown["low"], shown["high"], correct, NUM_TEST, "report accuracy")
    matrix = confusion_matrix(labels, predicted, labels=range(10))
    for digit in range(10):
        per_digit = report["per_class"][str(digit)]
        for metric, (successes, n) in {
            "sensitivity": (matrix[digit, digit], matrix[digit].sum()),
            "ppv": (matrix[digit, digit], matrix[:, digit].sum()),
        }.items():
            assert (per_digit[metric]["successes"], per_digit[metric]["n"]) == (successes, n), (digit, metric)
            if n:  # a digit never predicted has no PPV
                _check_wilson(per_digit[metric]["low"], per_digit[metric]["high"], int(successes), int(n), metric)
        assert per_digit["auc"]["value"] == pytest.approx(auc[str(digit)], abs=1e-12)
        assert per_digit["auc"]["method"] == "bootstrap"
    return {"accuracy": accuracy["org"], "auc": auc["macro_avg"]}


def _check_wilson(low: float, high: float, successes: int, n: int, what: str) -> None:
    """statsmodels' Wilson interval, never degenerate: below 1 at a proportion of 1 and above 0 at 0 (a percentile
    bootstrap of 60 correct images out of 60 gives [1, 1])."""
    assert (low, high) == pytest.approx(proportion_confint(successes, n, alpha=0.05, method="wilson"), abs=1e-12), what
    assert low < high, what
    if successes == n:
        assert low < 1.0, what
    if successes == 0:
        assert high > 0.0, what


def test_simple_mnist_starter(
    mnist_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    main = _example_main(monkeypatch, "simple_mnist_starter")
    assert main(["--data-dir", str(mnist_dir), "--out", str(tmp_path), *SMALL_RUN]) == 0
    headline = _check_outputs(tmp_path)
    assert headline["accuracy"] > 0.6  # chance: 0.1
    assert headline["auc"] > 0.9
    assert f"outputs in {tmp_path}" in capsys.readouterr().out


def test_run_mnist_custom_pl_imp(
    mnist_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    main = _example_main(monkeypatch, "run_mnist_custom_pl_imp")
    arguments = ["--data-dir", str(mnist_dir), "--out", str(tmp_path), *SMALL_RUN]
    assert main([*arguments, "--steps", "train"]) == 0
    assert not (tmp_path / "predictions.pkl.gz").exists()
    # inference reloads the module from best_epoch.ckpt (its hyperparameters included)
    assert main([*arguments, "--steps", "infer", "eval"]) == 0
    headline = _check_outputs(tmp_path)
    assert headline["accuracy"] > 0.6
    assert headline["auc"] > 0.9
    assert "test accuracy" in capsys.readouterr().out
