"""examples/image_clinical: the synthetic set is what fuse-imaging's ISIC dataset reads, and the example trains the
fusion, image-only and clinical-only models on a tiny set and reports AUCs that match its predictions files.

The ResNet-18 sees 32x32 images for one epoch: the test checks every step and the numbers the example derives from
its own outputs, not that the models learn (the README gives a full-size run's numbers)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "image_clinical"


def _import(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"image_clinical_example_{name}", EXAMPLE_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def synthetic_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    out = tmp_path_factory.mktemp("isic")
    return out, _import("make_synthetic_isic").make_set(out, n=40, size=32, seed=2)


def test_the_isic_dataset_reads_the_synthetic_layout(synthetic_set: tuple[Path, list[int]]) -> None:
    from fuse.imaging.datasets import ISIC

    out, melanomas = synthetic_set
    ids = ISIC.sample_ids(out)
    assert ids == [f"ISIC_{i:07d}" for i in range(40)]
    metadata = pd.read_csv(out / "ISIC2019" / "ISIC_2019_Training_Metadata.csv")
    dataset = ISIC.dataset(out, out / "cache", num_workers=0, samples_ids=ids[:4], download=False, resize_to=(32, 32))
    for index, sample in enumerate(dataset.get_multi(verbose=0)):
        assert sample["data.input.img"].shape == (3, 32, 32)
        assert (sample["data.label"] == 0) == bool(melanomas[index])  # MEL is class 0
        row = metadata.iloc[index]
        site = sample["data.input.clinical.anatom_site_general"]
        assert site == (row["anatom_site_general"] if isinstance(row["anatom_site_general"], str) else "N/A")
        assert sample["data.input.clinical.all"].shape == (19,)
        assert float(sample["data.input.clinical.all"].sum()) in (2.0, 3.0)  # one-hot site (none if unknown), sex, age


def test_trains_three_models_predicts_and_compares(
    synthetic_set: tuple[Path, list[int]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = _import("train_and_evaluate")
    data, melanomas = synthetic_set
    out = tmp_path / "run"
    arguments = ["--isic-dir", str(data), "--out", str(out), "--size", "32", "--epochs", "1", "--batch-size", "16"]
    assert example.main([*arguments, "--bootstraps", "50", "--no-figures", "--accelerator", "cpu"]) == 0

    stdout = capsys.readouterr().out
    split = pd.read_csv(out / "split.csv")
    test_ids = sorted(split.loc[split["split"] == "test", "image"])
    comparison = pd.read_csv(out / "comparison.csv").set_index("model")
    assert list(comparison.index) == ["fusion", "image", "clinical"]
    frames = {}
    for kind in comparison.index:
        predictions = pd.read_csv(out / f"predictions_{kind}.csv")
        frames[kind] = predictions
        assert list(predictions.columns) == ["image", "prob_melanoma", "melanoma"]
        assert sorted(predictions["image"]) == test_ids
        truth = [melanomas[int(i.split("_")[1])] for i in predictions["image"]]
        assert predictions["melanoma"].tolist() == truth
        expected = roc_auc_score(predictions["melanoma"], predictions["prob_melanoma"])
        auc = json.loads((out / f"report_{kind}" / "results.json").read_text())["metrics"]["auc"]
        assert auc["value"] == pytest.approx(expected, abs=1e-12)
        assert comparison.loc[kind, "auc"] == pytest.approx(expected, abs=1e-12)
        assert f"{kind:<9} ROC AUC {expected:.3f}" in stdout
    for kind in ("image", "clinical"):  # DeLong's p value, recomputed by brute force
        assert comparison.loc[kind, "delong_p_vs_fusion"] == pytest.approx(
            _delong_p(frames["fusion"]["prob_melanoma"], frames[kind]["prob_melanoma"], frames[kind]["melanoma"]),
            abs=1e-9,
            nan_ok=True,  # undefined with fewer than 2 images of a class
        )
    assert np.isnan(comparison.loc["fusion", "delong_p_vs_fusion"])


def _delong_p(first: pd.Series, second: pd.Series, labels: pd.Series) -> float:
    """DeLong's two-sided test of two correlated AUCs, from the structural components (a double loop)."""
    y = labels.to_numpy() == 1
    if min(y.sum(), (~y).sum()) < 2:
        return float("nan")
    scores = [np.asarray(first, dtype=float), np.asarray(second, dtype=float)]
    v10, v01 = [], []
    for s in scores:
        pos, neg = s[y], s[~y]
        psi = np.array([[1.0 if p > n else 0.5 if p == n else 0.0 for n in neg] for p in pos])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / y.sum() + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / (~y).sum()
    difference = v10[0].mean() - v10[1].mean()
    if variance <= 0:
        return 1.0 if difference == 0 else 0.0
    return float(2 * stats.norm.sf(abs(difference) / np.sqrt(variance)))
