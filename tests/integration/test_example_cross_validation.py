"""The cross-validation examples (examples/mnist/cross_validation.py, examples/stoic21/cross_validation.py) end to
end on tiny synthetic data: 2 folds, each trained for one epoch in a spawned process of its own.

From the files the pipeline wrote: the validation folds are disjoint and cover the training patients / images;
each evaluation's metrics equal scikit-learn's on the predictions file it evaluated; the ensemble's predictions
are the mean of the folds' test predictions; the summary repeats the evaluations' numbers.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from fuse.core import read_dataframe
from fuse_mnist_idx import write_synthetic_mnist
from fuse_test_support import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"
FOLDS = 2
TIMEOUT = 240  # seconds; a run takes about 15 s on two idle cores
PRED = "model.output.classification"


def _run(folder: str, argv: list[str]) -> str:
    """``python examples/<folder>/cross_validation.py ARGV`` (as a user runs it: the fold processes re-import the
    script), in a session of its own so that a run past ``TIMEOUT`` is killed with its fold processes; returns its
    standard output."""
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / folder / "cross_validation.py"), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # both folds train at once: one thread each instead of each taking every core
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"{folder}/cross_validation.py ran past {TIMEOUT} s")
    assert process.returncode == 0, err[-3000:]
    return out


def _infer(out: Path, split: str, model: object) -> pd.DataFrame:
    table = read_dataframe(out / "infer_dir" / split / "rep_0" / str(model) / "infer.gz")
    indexed: pd.DataFrame = table.set_index("id")
    return indexed


def _results(out: Path, split: Any, model: object, *parts: str) -> dict[str, Any]:
    path = out / "eval_dir" / split / "rep_0" / str(model) / Path(*parts, "results.json")
    metrics: dict[str, Any] = json.loads(path.read_text())["metrics"]
    return metrics


def _check_ensemble_is_the_mean(out: Path, label: str) -> pd.DataFrame:
    """The ensemble's file against the mean of the folds' test files, aligned by id here."""
    folds = [_infer(out, "test", fold) for fold in range(FOLDS)]
    ensemble = _infer(out, "test", "ensemble")
    assert set(ensemble.index) == set(folds[0].index) == set(folds[1].index)
    ids = list(ensemble.index)
    expected = np.mean([np.stack(fold.loc[ids, PRED].to_list()) for fold in folds], axis=0)
    np.testing.assert_allclose(np.stack(ensemble[PRED].to_list()), expected, rtol=1e-6, atol=1e-7)
    assert (ensemble[label].astype(int).to_numpy() == folds[0].loc[ids, label].astype(int).to_numpy()).all()
    return ensemble


def _check_validation_folds(out: Path, all_ids: set[Any]) -> list[set[Any]]:
    """Each fold's validation predictions: disjoint from the others', together every training id."""
    validation = [set(_infer(out, "validation", fold).index) for fold in range(FOLDS)]
    assert not validation[0] & validation[1]
    assert validation[0] | validation[1] == all_ids
    for fold in range(FOLDS):  # each fold's model trained on the other folds only
        model_dir = out / "model_dir" / "rep_0" / str(fold)
        assert (model_dir / "best_epoch.ckpt").is_file()
        trained = set(pd.read_csv(model_dir / "train_ids.csv", dtype=str)["sample_id"])
        assert trained == {str(sample_id) for sample_id in all_ids - validation[fold]}
    return validation


# ------------------------------------------------------------------------------------------------ MNIST
NUM_TRAIN, NUM_TEST = 100, 30


def _check_mnist_evaluation(predictions: pd.DataFrame, metrics: dict[str, Any], what: str) -> None:
    probabilities = np.stack(predictions[PRED].to_list())
    labels = predictions["data.label"].astype(int).to_numpy()
    accuracy = metrics["accuracy"]
    assert accuracy["org"] == pytest.approx(accuracy_score(labels, probabilities.argmax(axis=1)), abs=1e-12), what
    assert accuracy["n"] == len(labels), what
    for digit in range(10):
        expected = roc_auc_score(labels == digit, probabilities[:, digit]) if digit in labels else None
        got = metrics["auc"][str(digit)]
        assert (got is None or np.isnan(got)) if expected is None else got == pytest.approx(expected, abs=1e-12), what
    if set(labels) == set(range(10)):
        macro = roc_auc_score(labels, probabilities, multi_class="ovr", average="macro")
        assert metrics["auc"]["macro_avg"] == pytest.approx(macro, abs=1e-12), what


@pytest.mark.slow  # two spawned fold processes, each importing torch and Lightning
def test_mnist_cross_validation(tmp_path: Path) -> None:
    write_synthetic_mnist(tmp_path / "data", NUM_TRAIN, NUM_TEST, seed=0, compress=True)
    out = tmp_path / "run"
    argv = ["--data-dir", str(tmp_path / "data"), "--out", str(out), "--folds", str(FOLDS), "--epochs", "1"]
    argv += ["--batch-size", "25", "--accelerator", "cpu", "--bootstraps", "20", "--no-plots"]
    assert "| 0 | ensemble | test | 30 |" in _run("mnist", argv)

    train_ids = {("mnist-train", index) for index in range(NUM_TRAIN)}
    validation = _check_validation_folds(out, train_ids)
    folds = pd.read_csv(out / "folds.csv")
    for fold in range(FOLDS):
        written = set(folds.loc[folds["validation_fold"] == fold, "sample_id"])
        assert written == {str(sample_id) for sample_id in validation[fold]}
    for split, models in (("validation", range(FOLDS)), ("test", [*range(FOLDS), "ensemble"])):
        for model in models:
            predictions = _infer(out, split, model)
            if split == "test":
                assert set(predictions.index) == {("mnist-test", index) for index in range(NUM_TEST)}
            _check_mnist_evaluation(predictions, _results(out, split, model), f"{split} {model}")
            assert (out / "eval_dir" / split / "rep_0" / str(model) / "report" / "report.html").is_file()
    _check_ensemble_is_the_mean(out, "data.label")

    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 * FOLDS + 1
    for row in summary.itertuples():
        metrics = _results(out, row.split, row.model)
        assert row.accuracy == pytest.approx(metrics["accuracy"]["org"], abs=1e-12)
        assert row.auc_macro == pytest.approx(metrics["auc"]["macro_avg"], abs=1e-12)


# ------------------------------------------------------------------------------------------------ STOIC21
LABEL = "data.gt.probSevere"


@pytest.mark.slow  # two spawned fold processes, each importing torch and Lightning
def test_stoic21_cross_validation(tmp_path: Path) -> None:
    make_cohort = runpy.run_path(str(EXAMPLES / "stoic21" / "make_synthetic_cohort.py"))["main"]
    cohort, out = tmp_path / "cohort", tmp_path / "run"
    assert make_cohort(["--out", str(cohort), "--n", "14", "--shape", "8", "16", "16"]) == 0
    argv = ["--cohort", str(cohort), "--out", str(out), "--folds", str(FOLDS), "--epochs", "1", "--shape", "8", "16"]
    argv += ["16", "--width", "2", "--batch-size", "4", "--bootstraps", "20", "--accelerator", "cpu", "--no-plots"]
    assert "| 0 | ensemble | test |" in _run("stoic21", argv)

    patients = pd.read_csv(cohort / "clinical.csv")
    split = pd.read_csv(out / "split.csv", dtype={"part": str})
    assert sorted(split["sample_id"]) == sorted(patients["PatientID"])  # each patient once
    test_ids = set(split.loc[split["part"] == "test", "sample_id"])
    validation = _check_validation_folds(out, set(patients["PatientID"]) - test_ids)
    for fold in range(FOLDS):
        assert validation[fold] == set(split.loc[split["part"] == str(fold), "sample_id"])

    for split_name, models in (("validation", range(FOLDS)), ("test", [*range(FOLDS), "ensemble"])):
        for model in models:
            predictions = _infer(out, split_name, model)
            if split_name == "test":
                assert set(predictions.index) == test_ids
            severe = np.stack(predictions[PRED].to_list())[:, 1]
            labels = predictions[LABEL].astype(int).to_numpy()
            auc = _results(out, split_name, model)["auc"]["org"]
            if len(set(labels)) == 2:
                assert auc == pytest.approx(roc_auc_score(labels, severe), abs=1e-12)
            else:  # one outcome only: undefined, never a number
                assert auc is None or np.isnan(auc)
            accuracy = _results(out, split_name, model, "report")["accuracy"]
            correct = int(((severe > 0.5).astype(int) == labels).sum())
            assert (accuracy["successes"], accuracy["n"]) == (correct, len(labels))
    _check_ensemble_is_the_mean(out, LABEL)
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 * FOLDS + 1
    for row in summary.itertuples():
        expected = _results(out, row.split, row.model)["auc"]["org"]
        assert row.auc == pytest.approx(expected, abs=1e-12, nan_ok=True)
