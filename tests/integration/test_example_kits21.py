"""examples/kits21 runs end to end on a tiny synthetic data set, its numbers are right, and its layout is KiTS21's.

The run is tiny (10 cases of 16x32x32, an 8x16x16 network input, a 4-channel U-Net, three epochs of two steps): the
test checks every step runs, that the per-case, per-class Dice and Hausdorff distances it reports are those of the
label files it writes (recomputed here with numpy and scipy), that its references are the cases' segmentation files
on the CT's grid, and that the training loss falls.
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

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "kits21"
SHAPE = (16, 32, 32)  # z, y, x
TIMEOUT = 240  # seconds; the run takes about 5 s on two idle cores, minutes on busy ones
CLASSES = {1: "kidney", 2: "tumour"}


def _import(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"kits21_example_{name}", EXAMPLE_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kits21") / "data"
    script = _import("make_synthetic_kits21")
    assert script.main(["--out", str(root), "--n", "10", "--shape", *map(str, SHAPE), "--seed", "2"]) == 0
    return root


def _array(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)  # type: ignore[attr-defined]


def _surface_hausdorff(pred: np.ndarray, target: np.ndarray, spacing: np.ndarray) -> float:
    """Brute force: the larger directed maximum of the nearest-surface-voxel distances (surface: a voxel with a
    face-neighbour outside its mask, the array border counting as outside)."""
    structure = ndimage.generate_binary_structure(3, 1)
    points = [
        np.argwhere(mask & ~ndimage.binary_erosion(mask, structure, border_value=0)) * spacing
        for mask in (pred, target)
    ]
    distances = cdist(points[0], points[1])
    return float(max(distances.min(axis=1).max(), distances.min(axis=0).max()))


def test_layout_reads_with_the_kits21_wrapper(data: Path, tmp_path: Path) -> None:
    from fuse.imaging.datasets import KITS21

    cases = KITS21.sample_ids(data)
    assert cases == [f"case_{i:05d}" for i in range(10)]
    dataset = KITS21.dataset(data, tmp_path / "cache", num_workers=0, resize_to=SHAPE, augment=False)
    assert len(dataset) == 10
    for index, case in enumerate(cases):
        stored = _array(data / case / "aggregated_MAJ_seg.nii.gz")
        assert stored.shape == SHAPE[::-1]  # slices last, as NIfTI converters write them
        assert set(np.unique(stored).tolist()) == {0, 1, 2}  # every case has kidneys and a tumour
        image = nib.load(data / case / "imaging.nii.gz")
        assert image.get_data_dtype() == np.int16  # type: ignore[attr-defined]
        sample = dataset[index]
        assert sample["data.sample_id"] == case
        assert tuple(sample["data.input.img"].shape) == (1, *SHAPE)
        # the wrapper moves the stored last axis (the slices) first: here no resizing is left to do
        np.testing.assert_array_equal(sample["data.gt.seg"].numpy(), np.moveaxis(stored, -1, 0))


def _run(argv: list[str]) -> str:
    """``python examples/kits21/train_and_evaluate.py ARGV`` in a session of its own, killed past ``TIMEOUT``;
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
        pytest.fail(f"kits21/train_and_evaluate.py ran past {TIMEOUT} s")
    assert process.returncode == 0, err[-3000:]
    return out


def test_trains_predicts_and_reports_true_numbers(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    arguments = ["--data-dir", str(data), "--out", str(out), "--shape", "8", "16", "16", "--base-channels", "4"]
    stdout = _run([*arguments, "--epochs", "3", "--batch-size", "3", "--accelerator", "cpu"])
    assert "kidney: mean Dice" in stdout
    assert (out / "model" / "best_epoch.ckpt").is_file()

    per_case = pd.read_csv(out / "per_case.csv")
    split = pd.read_csv(out / "split.csv")
    assert sorted(per_case["id"]) == sorted(split.loc[split["split"] == "test", "sample_id"])
    assert len(per_case) == 2
    for row in per_case.to_dict("records"):
        case = row["id"]
        pred_file = nib.load(out / "predictions" / f"{case}.nii.gz")
        pred, target = _array(out / "predictions" / f"{case}.nii.gz"), _array(out / "references" / f"{case}.nii.gz")
        # the reference is the case's segmentation file, the prediction on the CT's grid (same shape and affine)
        np.testing.assert_array_equal(target, _array(data / case / "aggregated_MAJ_seg.nii.gz"))
        image = nib.load(data / case / "imaging.nii.gz")
        np.testing.assert_allclose(pred_file.affine, image.affine, atol=1e-5)  # type: ignore[attr-defined]
        spacing = np.array(image.header.get_zooms())  # type: ignore[attr-defined]
        assert pred.shape == target.shape
        assert set(np.unique(pred).tolist()) <= {0, 1, 2}
        for label, name in CLASSES.items():
            p, t = pred == label, target == label
            assert (row[f"reference_voxels_{name}"], row[f"predicted_voxels_{name}"]) == (t.sum(), p.sum())
            expected = 2 * np.sum(p & t) / (p.sum() + t.sum()) if p.any() or t.any() else 1.0
            assert row[f"dice_{name}"] == pytest.approx(expected, abs=1e-12), (case, name)
            if p.any() and t.any():
                assert row[f"hausdorff_mm_{name}"] == pytest.approx(_surface_hausdorff(p, t, spacing), abs=1e-9)
            elif p.any() or t.any():
                assert np.isnan(row[f"hausdorff_mm_{name}"])
            else:
                assert row[f"hausdorff_mm_{name}"] == 0.0

    results = json.loads((out / "report" / "results.json").read_text())
    assert results["test_cases"] == 2
    for name in CLASSES.values():
        assert results[f"mean_dice_{name}"] == pytest.approx(per_case[f"dice_{name}"].mean(), abs=1e-12)
        distances = per_case[f"hausdorff_mm_{name}"]
        assert results[f"hausdorff_undefined_cases_{name}"] == int(distances.isna().sum())
        if distances.notna().any():
            assert results[f"mean_hausdorff_mm_{name}"] == pytest.approx(distances.mean(), abs=1e-9)
        else:
            assert results[f"mean_hausdorff_mm_{name}"] is None

    # the training loss falls
    metrics = pd.read_csv(next((out / "logs").glob("*/metrics.csv")))
    train_loss = metrics.dropna(subset=["train.losses.total_loss"])["train.losses.total_loss"].to_numpy()
    assert len(train_loss) == 3
    assert train_loss[-1] < train_loss[0]
