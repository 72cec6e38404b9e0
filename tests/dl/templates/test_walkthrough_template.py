"""The walkthrough template runs end to end with tiny sizes: it trains, saves the best checkpoint, predicts to a
file and evaluates it (the AUC equals sklearn's on the saved predictions, and is well above chance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from fuse.core import read_dataframe
from fuse.dl.templates.walkthrough_template import main, make_paths


@pytest.mark.parametrize(
    "accelerator",
    [
        "cpu",
        pytest.param(
            "gpu",
            marks=[pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")],
        ),
    ],
)
def test_walkthrough_runs(tmp_path: Path, accelerator: str) -> None:
    params = {
        "data.train_ids": list(range(160)),
        "data.validation_ids": list(range(1000, 1064)),
        "trainer.num_epochs": 3,
        "trainer.accelerator": accelerator,
    }
    results = main(tmp_path, params)
    paths = make_paths(tmp_path)
    model_dir = Path(paths["model_dir"])
    assert (model_dir / "best_epoch.ckpt").is_file()
    assert torch.load(model_dir / "best_epoch.ckpt", weights_only=True)["state_dict"]
    assert (model_dir / "epoch_summary_validation.metrics.auc.txt").is_file()
    assert list(Path(paths["cache_dir"]).rglob("*"))  # the static pipeline was cached

    frame = read_dataframe(Path(paths["inference_dir"]) / "validation_set_infer.gz")
    assert sorted(frame["id"]) == params["data.validation_ids"]
    probabilities = np.stack(list(frame["model.output.classification"]))[:, 1]
    expected = roc_auc_score(frame["data.label"].astype(int), probabilities)
    assert float(results["metrics.auc"]) == pytest.approx(expected)
    assert expected > 0.85  # learnable synthetic task; chance is 0.5
    assert (Path(paths["eval_dir"]) / "results.json").is_file()
