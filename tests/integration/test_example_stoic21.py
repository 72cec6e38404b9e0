"""examples/stoic21 runs end to end on a tiny synthetic cohort, and its two data paths agree.

``train_and_evaluate.py`` trains FuseMedML's r3d_18 + Head3D model (33 M parameters; one optimizer step takes
seconds on a CPU), so the run is tiny (10 patients, 8x16x16 network input, one training batch): the test checks that
every step runs and writes its outputs, not that the model learns (a full-size run reaches a test AUC near 1).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from statsmodels.stats.proportion import proportion_confint

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "stoic21"


def _import(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"stoic21_example_{name}", EXAMPLE_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cohort_script() -> ModuleType:
    return _import("make_synthetic_cohort")


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return _import("train_and_evaluate")  # imported once: Lightning takes seconds to import


def test_trains_predicts_and_reports(
    tmp_path: Path, cohort_script: ModuleType, example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    cohort, out = tmp_path / "cohort", tmp_path / "run"
    assert cohort_script.main(["--out", str(cohort), "--n", "10", "--shape", "16", "32", "32"]) == 0
    assert len(list((cohort / "images").glob("*.nii.gz"))) == 10

    # 10 patients in 5 balanced folds: 6 train (one batch of 6: a single optimizer step), 2 validation, 2 test.
    arguments = ["--cohort", str(cohort), "--out", str(out), "--shape", "8", "16", "16", "--batch-size", "6"]
    assert example.main([*arguments, "--epochs", "1", "--bootstraps", "50", "--accelerator", "cpu"]) == 0

    stdout = capsys.readouterr().out
    assert "ROC AUC" in stdout
    assert str(out / "report" / "report.html") in stdout
    assert (out / "model" / "best_epoch.ckpt").is_file()
    predictions = (out / "predictions.csv").read_text().splitlines()
    assert predictions[0] == "id,prob_severe,probSevere"
    assert len(predictions) == 1 + 2
    for name in ("report.html", "results.md", "results.json"):
        assert (out / "report" / name).is_file()
    assert "Sensitivity" in (out / "report" / "results.md").read_text()
    report = json.loads((out / "report" / "results.json").read_text())
    _check_proportions(report["metrics"], pd.read_csv(out / "predictions.csv"))
    auc = report["metrics"]["auc"]
    assert auc["method"] == "bootstrap"
    if auc["value"] is not None:  # one severe and one non-severe test patient: defined
        assert 0.0 <= auc["low"] <= auc["value"] <= auc["high"] <= 1.0
        # with one patient per class every resampling gives the same AUC: the summary says so
        assert ("width zero" in stdout) == (auc["low"] == auc["high"])
    shutil.rmtree(out / "model")  # the checkpoints take 0.5 GB; pytest keeps the last runs' tmp_path folders


def _check_proportions(metrics: dict[str, Any], predictions: pd.DataFrame) -> None:
    """The report's proportions have the counts of the predictions at p > 0.5, statsmodels' Wilson intervals, and
    intervals that do not collapse at 0 or 1 (a percentile bootstrap of 1 of 1 severe patients found gives [1, 1])."""
    called = predictions["prob_severe"].to_numpy() > 0.5
    severe = predictions["probSevere"].to_numpy() == 1
    tp, fn = int(np.sum(called & severe)), int(np.sum(~called & severe))
    fp, tn = int(np.sum(called & ~severe)), int(np.sum(~called & ~severe))
    expected = {
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "ppv": (tp, tp + fp),
        "npv": (tn, tn + fn),
        "accuracy": (tp + tn, len(predictions)),
    }
    for name, (successes, n) in expected.items():
        stat = metrics[name]
        assert stat["method"] == "wilson", name
        assert (stat["successes"], stat["n"]) == (successes, n), name
        if n == 0:  # e.g. no patient called severe: the PPV is undefined, not 0
            assert stat["value"] is None, name
            continue
        assert stat["value"] == pytest.approx(successes / n, abs=1e-12), name
        assert (stat["low"], stat["high"]) == pytest.approx(
            proportion_confint(successes, n, alpha=0.05, method="wilson"), abs=1e-12
        ), name
        assert stat["low"] < stat["high"], name  # never degenerate, at 0 and 1 included
        if successes == n:
            assert stat["low"] < 1.0, name
        if successes == 0:
            assert stat["high"] > 0.0, name


def test_synthetic_pipeline_matches_the_stoic21_wrapper(
    tmp_path: Path, cohort_script: ModuleType, example: ModuleType
) -> None:
    """The same patients written as NIfTI + CSV and in STOIC2021's MHA layout give the same test samples."""
    pytest.importorskip("SimpleITK")
    shape = (8, 16, 16)
    for layout in ("nifti", "stoic21"):
        cohort_script.make_cohort(tmp_path / layout, n=10, shape=(10, 20, 24), seed=3, format=layout)
    synthetic, split = example.synthetic_datasets(tmp_path / "nifti", tmp_path / "run_nifti", shape, 0, 0)
    stoic21, stoic21_split = example.stoic21_datasets(tmp_path / "stoic21", tmp_path / "run_stoic21", shape, 0, 0)

    assert stoic21_split["test"] == [f"data/mha/{patient}.mha" for patient in split["test"]]
    for ours, wrapper in zip(synthetic.test.get_multi(verbose=0), stoic21.test.get_multi(verbose=0), strict=True):
        assert ours["data.input.img"].shape == wrapper["data.input.img"].shape == (1, *shape)
        torch.testing.assert_close(ours["data.input.img"], wrapper["data.input.img"])
        torch.testing.assert_close(ours["data.input.clinical"], wrapper["data.input.clinical"])
        assert ours["data.gt.probSevere"] == wrapper["data.gt.probSevere"]
