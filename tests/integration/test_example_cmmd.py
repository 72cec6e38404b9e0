"""examples/cmmd runs end to end on a tiny synthetic CMMD, fuse.imaging.CMMD reads the synthetic layout (TCIA's
folders, DICOM tags and clinical sheet, as .xlsx or .csv), and ``--weights`` loads a local state dict.

The run keeps InceptionResNetV2's first logical unit (``--logical-units 1``) on 36x32 images so that it takes
seconds on a CPU: the test checks that every step runs and that the numbers it reports are those of its
predictions, not that the model learns.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import shutil
import sys
from collections.abc import Hashable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pydicom
import pytest
import torch
from sklearn.metrics import roc_auc_score

from fuse.dl import BackboneInceptionResnetV2
from fuse.imaging.datasets import CMMD

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "cmmd"


def _import(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"cmmd_example_{name}", EXAMPLE_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return _import("make_synthetic_cmmd")


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return _import("train_and_evaluate")  # imported once: Lightning takes seconds to import


@pytest.fixture(scope="module")
def cmmd_dir(tmp_path_factory: pytest.TempPathFactory, generator: ModuleType) -> Path:
    out = tmp_path_factory.mktemp("cmmd")
    assert generator.main(["--out", str(out), "--patients", "20", "--size", "48", "--clinical", "csv"]) == 0
    return out


@pytest.mark.parametrize("clinical", ["csv", "xlsx"])
def test_the_synthetic_layout_is_read_by_the_cmmd_wrapper(tmp_path: Path, generator: ModuleType, clinical: str) -> None:
    if clinical == "xlsx":
        pytest.importorskip("openpyxl")
    data = tmp_path / "data"
    table = generator.make_cmmd(data, patients=6, size=40, seed=2, clinical=clinical)
    assert (data / f"CMMD_clinicaldata_revision.{clinical}").is_file()
    merged, ids = CMMD.merge_clinical_data_with_dicom_tags(data, tmp_path / "misc", "classification")
    assert len(ids) == 2 * len(table)  # two views of every breast in the sheet
    assert sorted(merged["view"].value_counts().to_dict().items()) == [
        ("cranio-caudal", len(table)),
        ("medio-lateral oblique", len(table)),
    ]
    expected = {
        (row["ID1"], row["LeftRight"]): (int(row["classification"] == "Malignant"), row["subtype"])
        for row in table.to_dict("records")
    }
    subtypes = ["Luminal A", "Luminal B", "HER2-enriched", "triple negative"]
    rows: list[dict[Hashable, Any]] = merged.to_dict("records")
    for row in rows:
        header = pydicom.dcmread(data / str(row["file"]), stop_before_pixels=True)
        assert (header.PatientID, header.ImageLaterality) == (row["ID1"], row["LeftRight"])
        assert Path(row["file"]).parts[:2] == ("CMMD", row["ID1"])
        assert len(Path(row["file"]).parts) == 5  # CMMD/patient/study/series/image
        classification, subtype = expected[(row["ID1"], row["LeftRight"])]
        assert row["classification"] == classification
        assert row["subtype"] == (subtypes.index(subtype) if isinstance(subtype, str) else 4)
    dataset = CMMD.dataset(
        data, tmp_path / "misc", "classification", tmp_path / "cache", num_workers=0, resize_to=(32, 28), padding=(2, 2)
    )
    assert len(dataset) == len(ids)
    for sample, row in zip(dataset.get_multi(verbose=0), rows, strict=True):
        assert sample["data.input.img"].shape == (1, 36, 32)
        assert (sample["data.gt.classification"], sample["data.patientID"]) == (row["classification"], row["ID1"])


def test_trains_predicts_and_reports(
    cmmd_dir: Path, tmp_path: Path, example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    arguments = ["--cmmd-dir", str(cmmd_dir), "--out", str(out), "--logical-units", "1"]
    arguments += [
        "--image-size",
        "32",
        "28",
        "--padding",
        "2",
        "2",
        "--batch-size",
        "8",
        "--epochs",
        "1",
        "--bn-momentum",
        "0.1",
    ]
    assert example.main([*arguments, "--bootstraps", "30", "--accelerator", "cpu"]) == 0
    stdout = capsys.readouterr().out
    assert "ROC AUC" in stdout

    merged = pd.read_csv(out / "misc" / "files_combined_classification.csv")
    with (out / "split.pkl").open("rb") as file:
        folds = pickle.load(file)
    assert sorted(image for fold in folds.values() for image in fold) == sorted(merged["file"])
    patient_of = dict(zip(merged["file"], merged["ID1"], strict=True))
    fold_patients = [{patient_of[image] for image in fold} for fold in folds.values()]
    assert sum(len(patients) for patients in fold_patients) == merged["ID1"].nunique()  # no patient in two folds

    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns) == ["file", "patient", "prob_malignant", "malignant"]
    assert sorted(predictions["file"]) == sorted(folds[4])
    label_of = dict(zip(merged["file"], merged["classification"], strict=True))
    assert predictions["malignant"].tolist() == [label_of[image] for image in predictions["file"]]
    assert predictions["patient"].tolist() == [patient_of[image] for image in predictions["file"]]
    scores, labels = predictions["prob_malignant"].to_numpy(), predictions["malignant"].to_numpy()
    assert set(labels.tolist()) == {0, 1}

    metrics = json.loads((out / "report" / "results.json").read_text())["metrics"]
    auc = metrics["auc"]
    assert auc["value"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert auc["low"] - 1e-12 <= auc["value"] <= auc["high"] + 1e-12
    called = scores > 0.5
    assert (metrics["accuracy"]["successes"], metrics["accuracy"]["n"]) == (int(np.sum(called == labels)), len(labels))
    assert metrics["sensitivity"]["successes"] == int(np.sum(called & (labels == 1)))
    assert metrics["specificity"]["successes"] == int(np.sum(~called & (labels == 0)))
    assert (out / "report" / "report.html").is_file()
    shutil.rmtree(out / "model")  # pytest keeps the last runs' tmp_path folders


def test_weights_file_sets_the_backbone_and_a_wrong_one_stops_the_run(
    tmp_path: Path, cmmd_dir: Path, example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = tmp_path / "irv2_1unit_grey.pt"
    torch.manual_seed(7)
    state = BackboneInceptionResnetV2(logical_units_num=1, input_channels_num=1).state_dict()
    torch.save(state, weights)
    torch.manual_seed(0)
    model = example.create_model(logical_units=1, weights=weights)
    key = "conv2d_1a.conv.weight"
    assert model.backbone.state_dict()[key].shape == (32, 1, 3, 3)
    torch.testing.assert_close(model.backbone.state_dict()[key], state[key])
    assert not torch.equal(example.create_model(logical_units=1).backbone.state_dict()[key], state[key])

    out = tmp_path / "run"
    arguments = ["--cmmd-dir", str(cmmd_dir), "--out", str(out), "--weights", str(weights), "--logical-units", "2"]
    assert example.main(arguments) == 2
    error = capsys.readouterr().err
    assert f"--weights {str(weights)!r}" in error
    assert "missing keys ['repeat.1." in error
    assert not out.exists()  # nothing cached or trained
