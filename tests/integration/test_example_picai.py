"""examples/picai runs end to end on a tiny synthetic data set, its numbers are right, and its layout is PI-CAI's.

The run is tiny (10 studies of 16x32x32, an 8x16x16 network input, a 4-channel U-Net, three epochs of two steps):
the test checks every step runs, that the per-study Dice and Hausdorff distances it reports are those of the mask
files it writes (recomputed here with numpy and scipy), that its references are the delineation files, and that the
training loss falls. A full-size run (24+ studies, 16x32x32 input, 10 epochs) reaches a test Dice near 0.9.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist

sitk = pytest.importorskip("SimpleITK")

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "picai"
LESIONS = "picai_labels/csPCa_lesion_delineations/human_expert/resampled"
GLAND = "picai_labels/anatomical_delineations/whole_gland/AI/Bosma22b"
MARKSHEET = "picai_labels/clinical_information/marksheet.csv"
SHAPE = (16, 32, 32)
TIMEOUT = 240  # seconds; the run takes about 5 s on two idle cores, minutes on busy ones


def _import(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"picai_example_{name}", EXAMPLE_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("picai") / "data"
    script = _import("make_synthetic_picai")
    assert script.main(["--out", str(root), "--n", "10", "--shape", *map(str, SHAPE), "--seed", "1"]) == 0
    return root


def _label(path: Path) -> np.ndarray:
    """A label file as the T2W's [z, y, x] array (NIfTI stores x, y, z)."""
    stored: np.ndarray = np.asarray(nib.load(path).dataobj)  # type: ignore[attr-defined]
    in_image_order: np.ndarray = stored.transpose(2, 1, 0)
    return in_image_order


def _surface_hausdorff(pred: np.ndarray, target: np.ndarray, spacing: np.ndarray) -> float:
    """Brute force: the larger directed maximum of the nearest-surface-voxel distances (surface: a voxel with a
    face-neighbour outside its mask, the array border counting as outside)."""
    structure = ndimage.generate_binary_structure(3, 1)
    points = [
        np.argwhere(mask & ~ndimage.binary_erosion(mask, structure, border_value=0)) * spacing
        for mask in (pred.astype(bool), target.astype(bool))
    ]
    distances = cdist(points[0], points[1])
    return float(max(distances.min(axis=1).max(), distances.min(axis=0).max()))


def test_layout_reads_with_the_picai_wrapper(data: Path, tmp_path: Path) -> None:
    from fuse.core import create_initial_sample
    from fuse.imaging.datasets import PICAI, OpLoadPICAISegmentation

    marksheet = pd.read_csv(data / MARKSHEET, dtype={"lesion_ISUP": str}, keep_default_na=False)  # "N/A", "4,2"
    assert len(marksheet) == 10
    assert (marksheet["case_csPCa"] == "YES").sum() == 5
    cfg = {"series_config": ["_t2w", "_adc", "_hbv"], "target": "case_csPCa", "num_workers": 0, "resize_to": SHAPE}
    paths = {"clinical_file": data / MARKSHEET, "data_dir": data / "images", "seg_dir": data / GLAND}
    dataset = PICAI.dataset({**paths, "cache_dir": tmp_path / "cache"}, cfg)
    assert len(dataset) == 10  # no study dropped
    for index, study in enumerate(marksheet.to_dict("records")):
        sample = dataset[index]
        sid = f"{study['patient_id']}_{study['study_id']}"
        assert sample["data.sample_id"] == sid
        assert sample["data.gt.classification"] == int(study["case_csPCa"] == "YES")
        t2w = sitk.GetArrayFromImage(sitk.ReadImage(str(data / "images" / str(study["patient_id"]) / f"{sid}_t2w.mha")))
        assert sample["data.input.img_t2w"].shape == (1, *t2w.shape)
        np.testing.assert_array_equal(sample["data.gt.seg"][0].numpy(), _label(data / GLAND / f"{sid}.nii.gz"))
        assert set(np.unique(sample["data.gt.seg"].numpy()).tolist()) == {0, 1}

        # the lesion delineations: each lesion's ISUP grade, the worst one the case's
        loaded = create_initial_sample(sid)
        loaded["path"], loaded["isup"] = sid, study["case_ISUP"]
        op = OpLoadPICAISegmentation(data / "images", data / LESIONS)
        result = op(loaded, key_in="path", key_out="seg", gt="isup")
        assert result is not None  # not dropped
        seg = result["seg"]
        grades = set(np.unique(seg).tolist()) - {0}
        expected = set() if study["lesion_ISUP"] == "N/A" else {int(g) for g in str(study["lesion_ISUP"]).split(",")}
        assert grades == expected
        assert (max(grades) if grades else 0) == (study["case_ISUP"] if study["case_ISUP"] >= 2 else 0)


def _run(argv: list[str]) -> str:
    """``python examples/picai/train_and_evaluate.py ARGV`` in a session of its own, killed past ``TIMEOUT``;
    returns its standard output."""
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE_DIR / "train_and_evaluate.py"), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"picai/train_and_evaluate.py ran past {TIMEOUT} s")
    assert process.returncode == 0, err[-3000:]
    return out


def test_trains_predicts_and_reports_true_numbers(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    arguments = ["--images-dir", str(data / "images"), "--labels-dir", str(data / "picai_labels"), "--out", str(out)]
    arguments += ["--shape", "8", "16", "16", "--base-channels", "4", "--epochs", "3", "--batch-size", "3"]
    stdout = _run([*arguments, "--accelerator", "cpu"])
    assert "mean Dice (csPCa studies)" in stdout
    assert (out / "model" / "best_epoch.ckpt").is_file()

    per_case = pd.read_csv(out / "per_case.csv")
    split = pd.read_csv(out / "split.csv")
    assert sorted(per_case["id"]) == sorted(split.loc[split["split"] == "test", "sample_id"])
    marksheet = pd.read_csv(data / MARKSHEET)
    for row in per_case.to_dict("records"):
        pred_file, reference_file = (
            nib.load(out / "predictions" / f"{row['id']}.nii.gz"),
            nib.load(out / "references" / f"{row['id']}.nii.gz"),
        )
        pred, target = np.asarray(pred_file.dataobj), np.asarray(reference_file.dataobj)  # type: ignore[attr-defined]
        # the reference is the delineation file (any grade), on the T2W grid with the T2W's voxel size
        np.testing.assert_array_equal(target, _label(data / LESIONS / f"{row['id']}.nii.gz") > 0)
        t2w = sitk.ReadImage(str(data / "images" / row["id"].split("_")[0] / f"{row['id']}_t2w.mha"))
        spacing = np.array(t2w.GetSpacing()[::-1])  # ITK's x, y, z -> the array's z, y, x
        np.testing.assert_allclose(pred_file.header.get_zooms(), spacing, rtol=1e-6)  # type: ignore[attr-defined]
        assert set(np.unique(pred).tolist()) <= {0, 1}
        assert (row["reference_voxels"], row["predicted_voxels"]) == (int(target.sum()), int(pred.sum()))
        isup = int(marksheet.loc[marksheet["patient_id"] == int(row["id"].split("_")[0]), "case_ISUP"].iloc[0])
        assert row["csPCa_delineated"] == (isup >= 2)
        if not target.any():  # no lesion to overlap with
            assert np.isnan(row["dice"])
            assert np.isnan(row["hausdorff_mm"])
            continue
        expected_dice = 2 * np.sum((pred > 0) & (target > 0)) / (pred.sum() + target.sum())
        assert row["dice"] == pytest.approx(expected_dice, abs=1e-12)
        if pred.any():
            assert row["hausdorff_mm"] == pytest.approx(_surface_hausdorff(pred, target, spacing), abs=1e-9)
        else:
            assert np.isnan(row["hausdorff_mm"])

    results = json.loads((out / "report" / "results.json").read_text())
    positives = per_case[per_case["csPCa_delineated"]]
    assert results["csPCa_studies"] == len(positives)
    if len(positives):
        assert results["mean_dice"] == pytest.approx(positives["dice"].mean(), abs=1e-12)
    if positives["hausdorff_mm"].notna().any():
        assert results["mean_hausdorff_mm"] == pytest.approx(positives["hausdorff_mm"].mean(), abs=1e-9)
    assert results["hausdorff_undefined_studies"] == int(positives["hausdorff_mm"].isna().sum())
    negatives = per_case[~per_case["csPCa_delineated"]]
    assert results["false_positive_studies"] == int((negatives["predicted_voxels"] > 0).sum())

    # the training loss falls (optimisation on the planted lesions; a larger run is needed to see learning)
    metrics = pd.read_csv(next((out / "logs").glob("*/metrics.csv")))
    train_loss = metrics.dropna(subset=["train.losses.total_loss"])["train.losses.total_loss"].to_numpy()
    assert len(train_loss) == 3
    assert train_loss[-1] < train_loss[0]
