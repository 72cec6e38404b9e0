"""examples/isic runs end to end on a tiny synthetic ISIC 2019 set, fuse.imaging.ISIC reads the synthetic layout, and
``--weights`` loads a local state dict (or stops with an error naming the file and the keys).

InceptionResNetV2 whole (55 M parameters) takes seconds per step on a CPU, so the run keeps its first logical unit
(``--logical-units 1``, 0.6 M parameters) on 32x32 images: the test checks that every step runs and that the numbers
it reports are those of its predictions, not that the model learns.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score, roc_auc_score

from fuse.dl import BackboneInceptionResnetV2
from fuse.imaging.datasets import ISIC

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "isic"
CLASSES = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]


def _import(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"isic_example_{name}", EXAMPLE_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return _import("make_synthetic_isic")


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return _import("train_and_evaluate")  # imported once: Lightning takes seconds to import


@pytest.fixture(scope="module")
def isic_dir(tmp_path_factory: pytest.TempPathFactory, generator: ModuleType) -> Path:
    """40 images of 32 pixels: 5 per class, so that each of the 5 balanced folds holds one image of every class."""
    out = tmp_path_factory.mktemp("isic")
    assert generator.main(["--out", str(out), "--n", "40", "--size", "32", "--seed", "1"]) == 0
    return out


def _weights_file(path: Path, logical_units: int) -> dict[str, torch.Tensor]:
    """A state dict of a seeded InceptionResNetV2 cut after ``logical_units``, saved to ``path``."""
    torch.manual_seed(123)
    state = BackboneInceptionResnetV2(logical_units_num=logical_units).state_dict()
    torch.save(state, path)
    return state


def test_the_synthetic_layout_is_read_by_the_isic_wrapper(isic_dir: Path, tmp_path: Path) -> None:
    truth = pd.read_csv(isic_dir / "ISIC2019" / "ISIC_2019_Training_GroundTruth.csv")
    assert list(truth.columns) == ["image", *CLASSES, "UNK"]
    assert ISIC.sample_ids(isic_dir) == sorted(truth["image"])  # LICENSE.txt and ATTRIBUTION.txt are not samples
    dataset = ISIC.dataset(isic_dir, tmp_path / "cache", num_workers=0, download=False, resize_to=(32, 32))
    assert len(dataset) == 40
    samples = dataset.get_multi(verbose=0)
    # the generator gives image i the class i % 8; the wrapper's label is that class's index
    assert [sample["data.label"] for sample in samples] == [i % 8 for i in range(40)]
    assert [sample["data.sample_id"] for sample in samples] == [f"ISIC_{i:07d}" for i in range(40)]
    for sample in samples:
        assert sample["data.input.img"].shape == (3, 32, 32)
        assert 0.0 <= float(sample["data.input.img"].min()) <= float(sample["data.input.img"].max()) <= 1.0
        clinical = sample["data.input.clinical.all"]
        assert clinical.shape == (19,)
        assert clinical[:9].sum() == clinical[9:12].sum() == clinical[12:].sum() == 1.0  # site, sex, age one-hot


def test_trains_predicts_and_reports(
    isic_dir: Path, tmp_path: Path, example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    weights, out = tmp_path / "irv2_1unit.pt", tmp_path / "run"
    _weights_file(weights, logical_units=1)
    arguments = ["--isic-dir", str(isic_dir), "--out", str(out), "--weights", str(weights), "--logical-units", "1"]
    arguments += [
        "--image-size",
        "32",
        "--batch-size",
        "8",
        "--epochs",
        "1",
        "--bootstraps",
        "30",
        "--bn-momentum",
        "0.1",
    ]
    assert example.main([*arguments, "--accelerator", "cpu"]) == 0
    stdout = capsys.readouterr().out
    assert "train: 24 images, validation: 8 images, test: 8 images" in stdout
    assert "macro AUC" in stdout

    with (out / "split.pkl").open("rb") as file:
        folds = pickle.load(file)
    ids = [sample_id for fold in folds.values() for sample_id in fold]
    assert sorted(ids) == [f"ISIC_{i:07d}" for i in range(40)]  # every image in exactly one fold

    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns) == ["id", *CLASSES, "label"]
    assert sorted(predictions["id"]) == sorted(folds[4])
    scores, labels = predictions[CLASSES].to_numpy(), predictions["label"].to_numpy()
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    # the labels written are the ground truth's
    truth = pd.read_csv(isic_dir / "ISIC2019" / "ISIC_2019_Training_GroundTruth.csv").set_index("image")
    assert labels.tolist() == [int(np.argmax(truth.loc[i, CLASSES].to_numpy())) for i in predictions["id"]]
    assert sorted(labels.tolist()) == list(range(8))

    report = json.loads((out / "report" / "results.json").read_text())
    metrics = report["metrics"]
    assert metrics["auc"]["value"] == pytest.approx(roc_auc_score(labels, scores, multi_class="ovr"), abs=1e-12)
    assert metrics["accuracy"]["value"] == pytest.approx(accuracy_score(labels, scores.argmax(axis=1)), abs=1e-12)
    assert metrics["accuracy"]["successes"] == int(np.sum(scores.argmax(axis=1) == labels))
    for index, name in enumerate(CLASSES):
        expected = roc_auc_score(labels == index, scores[:, index])
        assert report["per_class"][name]["auc"]["value"] == pytest.approx(expected, abs=1e-12), name
    # with one image per class every resampling is the test fold itself: the interval has width zero (up to rounding)
    assert metrics["auc"]["low"] == pytest.approx(metrics["auc"]["value"], abs=1e-12)
    assert metrics["auc"]["high"] == pytest.approx(metrics["auc"]["value"], abs=1e-12)
    assert (out / "report" / "report.html").is_file()
    shutil.rmtree(out / "model")  # pytest keeps the last runs' tmp_path folders


def test_weights_file_sets_the_backbone(tmp_path: Path, example: ModuleType) -> None:
    weights = tmp_path / "irv2_1unit.pt"
    state = _weights_file(weights, logical_units=1)
    torch.manual_seed(0)  # another seed than the file's: a model built without the file differs from it
    loaded = example.create_model(logical_units=1, weights=weights)
    fresh = example.create_model(logical_units=1)
    key = "conv2d_1a.conv.weight"
    torch.testing.assert_close(loaded.backbone.state_dict()[key], state[key])
    torch.testing.assert_close(loaded.backbone.state_dict()["repeat.0.conv2d.weight"], state["repeat.0.conv2d.weight"])
    assert not torch.equal(fresh.backbone.state_dict()[key], state[key])
    # one prediction step of the whole model (image + clinical features) with the loaded backbone
    batch = {"data.input.img": torch.rand(2, 3, 32, 32), "data.input.clinical.all": torch.zeros(2, 19)}
    output = loaded.eval()(batch)["model.output.head_0"]
    assert output.shape == (2, 8)
    torch.testing.assert_close(output.sum(dim=1), torch.ones(2))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("1 unit", ["missing keys", "'repeat.1."]),  # a 1-unit file for the 11-unit network below
        ("linear", ["missing keys", "unexpected keys ['weight', 'bias']"]),
        ("module", ["not a plain state dict"]),  # a pickled module: refused by weights_only=True
        ("absent", ["not found"]),
    ],
)
def test_a_wrong_weights_file_stops_before_any_work(
    tmp_path: Path,
    isic_dir: Path,
    example: ModuleType,
    capsys: pytest.CaptureFixture[str],
    content: str,
    expected: list[str],
) -> None:
    weights, out = tmp_path / "weights.pt", tmp_path / "run"
    if content == "1 unit":
        _weights_file(weights, logical_units=1)
    elif content == "linear":
        torch.save(torch.nn.Linear(2, 1).state_dict(), weights)
    elif content == "module":
        torch.save(torch.nn.Linear(2, 1), weights)
    arguments = ["--isic-dir", str(isic_dir), "--out", str(out), "--weights", str(weights), "--logical-units", "11"]
    assert example.main(arguments) == 2
    error = capsys.readouterr().err
    assert f"--weights {str(weights)!r}" in error
    for text in expected:
        assert text in error
    assert len(error.strip().splitlines()) == 1
    assert not out.exists()  # nothing cached or trained


def test_sample_ids_file(tmp_path: Path, example: ModuleType) -> None:
    ids = tmp_path / "golden.txt"
    ids.write_text("ISIC_0000003\n\n  ISIC_0000001  \n")
    assert example.read_sample_ids(ids) == ["ISIC_0000003", "ISIC_0000001"]
    ids.write_text("\n \n")
    with pytest.raises(ValueError, match=r"--sample-ids '.*golden\.txt' holds no image id"):
        example.read_sample_ids(ids)


def test_batch_norm_momentum(example: ModuleType) -> None:
    model = example.create_model(logical_units=1)
    norms = [module for module in model.modules() if isinstance(module, torch.nn.BatchNorm2d)]
    assert norms
    assert {norm.momentum for norm in norms} == {0.01}  # FuseMedML's InceptionResNetV2
    example.set_batch_norm_momentum(model, 0.1)
    assert {norm.momentum for norm in norms} == {0.1}
    with pytest.raises(SystemExit):
        example.main(["--isic-dir", "d", "--out", "o", "--bn-momentum", "0"])
