"""examples/evaluation: FuseMedML's eval examples run end to end (through their ``main``) on FuseMedML's input files,
checked against the numbers FuseMedML 0.4.1 published for these inputs, read back from the reports they write.

The examples run once, at test size (all bootstraps, 2 of the 5 ensembled models, 1 of the 4 NIfTI cases).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import runpy
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fuse_test_support import REPO_ROOT, fusemedml_fixtures

SCRIPT = REPO_ROOT / "examples" / "evaluation" / "fusemedml_eval_examples.py"
FIXTURES_MISSING = "FuseMedML example inputs not found: set FUSE_COMPAT_FIXTURES or keep ../shared beside the repo"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fusemedml_eval_examples", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fixtures() -> Path:
    found = fusemedml_fixtures()
    if found is None:
        pytest.skip(FIXTURES_MISSING)
    return found


@pytest.fixture(scope="module")
def report(fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run every example once through ``main``; the report folder."""
    out = tmp_path_factory.mktemp("fusemedml-eval-examples")
    argv = ["--fixtures", str(fixtures), "--out", str(out), "--ensemble-models", "2", "--seg-cases", "1"]
    assert _load_script().main(argv) == 0
    return out


def _results(report: Path, example: str) -> dict[str, Any]:
    metrics: dict[str, Any] = json.loads((report / example / "results.json").read_text())["metrics"]
    return metrics


def test_every_example_writes_its_report(report: Path) -> None:
    names = _load_script().EXAMPLE_NAMES
    assert sorted(p.name for p in report.iterdir()) == sorted(names)
    for name in names:
        for file in ("results.txt", "results.json", "results.md"):
            assert (report / name / file).stat().st_size > 0, (name, file)


def test_example_1_auc_from_two_csv_files(report: Path) -> None:
    assert _results(report, "example_1")["auc"] == 0.845


def test_example_2_auc_per_fold(report: Path) -> None:
    results = _results(report, "example_2")
    assert results["auc"] == 0.845
    per_fold = results["auc_per_fold"]
    assert per_fold["0"] == pytest.approx(0.8412698412698412, abs=1e-12)
    assert per_fold["1"] == pytest.approx(0.8373205741626795, abs=1e-12)
    assert per_fold["mean"] == pytest.approx(0.8392952077162603, abs=1e-12)
    assert per_fold["std"] == pytest.approx(0.0019746335535808512, abs=1e-12)


def test_example_3_auc_per_gender(report: Path) -> None:
    per_group = _results(report, "example_3")["auc_per_group"]
    assert per_group["male"] == pytest.approx(0.6666666666666666, abs=1e-12)
    assert per_group["female"] == 1.0


def test_example_4_confidence_interval(report: Path) -> None:
    auc = _results(report, "example_4")["auc"]
    assert auc["org"] == 0.845
    assert auc["conf_interval"] == 95
    assert auc["conf_lower"] == pytest.approx(0.7125, abs=1e-12)
    assert auc["conf_upper"] == pytest.approx(0.95375, abs=1e-12)
    assert auc["mean"] == pytest.approx(0.8456068750000001, abs=1e-12)
    assert auc["std"] == pytest.approx(0.06216615072919004, abs=1e-12)


def test_example_5_paired_bootstrap(report: Path) -> None:
    # model a finds 2 of the 3 positives, model b 1 of 3: a's sensitivity is higher in most resamplings
    comparison = _results(report, "example_5")["compare_a_to_b"]["sensitivity"]
    assert comparison["count"] == 10_000
    assert 0.5 * comparison["count"] < comparison["count_superior"] < comparison["count"]
    assert comparison["p_value"] == pytest.approx(1 - comparison["count_superior"] / comparison["count"])
    assert 0.0 < comparison["diff"] < 1.0


def test_examples_6_and_7_delong(report: Path) -> None:
    delong_6 = _results(report, "example_6")["delongs_test"]
    for cls in ("negative", "positive", "macro_avg"):
        assert delong_6["p_value"][cls] == pytest.approx(0.31731050786291437, abs=1e-9)
        assert delong_6["z"][cls] == pytest.approx(1.0, abs=1e-9)
        assert delong_6["auc1"][cls] == 1.0
        assert delong_6["auc2"][cls] == pytest.approx(2 / 3, abs=1e-12)
    delong_7 = _results(report, "example_7")["delongs_test"]
    assert delong_7["p_value"] == pytest.approx(0.09453, abs=5e-6)  # FuseMedML's test: 5 places
    assert delong_7["z"] == pytest.approx(1.672, abs=5e-4)


def test_example_8_five_classes(report: Path, fixtures: Path) -> None:
    results = _results(report, "example_8")
    frame = pd.read_csv(fixtures / "example1_targets.csv").merge(pd.read_csv(fixtures / "example7_predictions.csv"))
    scores = frame[[f"{name}-score" for name in ("B", "LR", "IR", "HR", "VHR")]].to_numpy()
    target = frame["Task2-target"].to_numpy()
    assert results["accuracy"] == pytest.approx(np.mean(scores.argmax(axis=1) == target), abs=1e-12)
    assert results["confusion_matrix"]["count"]["total"] == {"B": 3, "LR": 33, "IR": 4, "HR": 7, "VHR": 13}
    assert 0.5 < results["auc"]["macro_avg"] < 1.0
    if importlib.util.find_spec("matplotlib") is not None:
        assert (report / "example_8" / "roc.png").read_bytes()[:4] == b"\x89PNG"


def test_example_13_calibration(report: Path) -> None:
    results = _results(report, "example_13")
    assert results["reliability"]["num_samples_per_bin"] == [0, 0, 2, 16, 26, 13, 2, 1, 0, 0]  # FuseMedML's bins
    assert results["ece"]["ece"] == pytest.approx(0.12666666666666665, abs=1e-12)  # FuseMedML's upper-edge ECE
    assert results["find_temperature"] == pytest.approx(0.894781876, rel=1e-6)  # the cross-entropy minimum
    assert sum(results["reliability_calibrated"]["num_samples_per_bin"]) == 60
    assert results["ece_standard_calibrated"]["ece"] < results["ece_standard"]["ece"]  # scaling improves calibration
    if importlib.util.find_spec("matplotlib") is not None:
        for image in ("reliability.png", "reliability_calibrated.png"):
            assert (report / "example_13" / image).read_bytes()[:4] == b"\x89PNG"


def test_example_14_ensemble(report: Path) -> None:
    results = _results(report, "example_14")
    written = pd.read_pickle(report / "example_14" / "ensemble.gz", compression="gzip")
    assert len(written) == 10_000
    ensemble_accuracy = np.mean(np.stack(written["preds"].to_list()).argmax(axis=1) == written["target"].to_numpy())
    assert results["accuracy"] == pytest.approx(ensemble_accuracy, abs=1e-12)
    assert results["accuracy"] > 0.98
    assert results["accuracy"] >= min(results["accuracy_model_0"], results["accuracy_model_1"])


def test_segmentation_examples_match_numpy(report: Path, fixtures: Path) -> None:
    nib = pytest.importorskip("nibabel")
    folder = fixtures / "semantic_segmentation"
    pred = np.asarray(nib.load(folder / "predicted" / "id_0.nii.gz").dataobj)
    label = np.asarray(nib.load(folder / "labeled" / "id_0" / "seg.nii.gz").dataobj)

    def dice(x: np.ndarray, y: np.ndarray) -> float:
        return float(2 * np.count_nonzero(x & y) / (np.count_nonzero(x) + np.count_nonzero(y)))

    def in_labels(label_map: np.ndarray, labels: list[int]) -> np.ndarray:
        return functools.reduce(np.logical_or, [label_map == value for value in labels])

    seg_0 = _results(report, "example_seg_0")
    for group, labels in {"label_1": [1, 2, 3], "label_2": [2, 3], "label_3": [2]}.items():
        expected = dice(in_labels(pred, labels), in_labels(label, labels))
        assert seg_0[f"dice_{group}"]["1"] == pytest.approx(expected, rel=1e-12), group
    dice_2 = _results(report, "example_seg_2")["dice"]
    assert set(dice_2) == {"1", "2", "average"}  # the non-zero labels of this target
    for value in (1, 2):
        assert dice_2[str(value)] == pytest.approx(dice(pred == value, label == value), rel=1e-12)
        assert 0.5 < dice_2[str(value)] <= 1.0


def test_missing_fixtures_say_how_to_point_at_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _load_script().main(["example_1", "--fixtures", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "--fixtures" in error
    assert "FUSE_COMPAT_FIXTURES" in error
    assert not (tmp_path / "out").exists()


def test_readme_fuse_eval_one_liner_gives_example_4s_interval(
    fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's ``fuse-eval`` command, run as ``python -m fuse.eval`` (in this process: no second start-up of
    pandas and scikit-learn), reproduces example_4's interval.
    """
    argv = [
        "fuse-eval",
        "--pred", str(fixtures / "example1_predictions.csv"), "--target", str(fixtures / "example1_targets.csv"),
        "--pred-cols", "NoAT-score", "CanAT-score", "--target-col", "Task1-target",
        "--out", str(tmp_path / "report"), "--no-plots", "--quiet",
    ]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("fuse.eval", run_name="__main__", alter_sys=True)
    assert exit_info.value.code == 0
    auc = json.loads((tmp_path / "report" / "results.json").read_text())["metrics"]["auc"]
    assert auc["value"] == 0.845
    assert auc["low"] == pytest.approx(0.7125, abs=1e-12)
    assert auc["high"] == pytest.approx(0.95375, abs=1e-12)
