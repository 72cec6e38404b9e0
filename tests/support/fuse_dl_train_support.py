"""A small learnable task for the fuse-dl training tests, and a script that validates it under DDP.

The task: 8 Gaussian features per sample, label = whether a fixed linear combination is positive (plus a little
label noise), read through fuse-data (static pipeline -> dynamic OpToTensor -> CollateDefault).

As a script (run by tests/dl/test_pl_ddp.py; Lightning starts the other ranks by re-running it)::

    python fuse_dl_train_support.py <out_dir> <devices>

validates a seeded model on the validation set with ``devices`` CPU processes (gloo) and writes rank zero's logged
metrics to ``<out_dir>/validate_<devices>.json``, then fits one epoch and records what each rank logged and wrote.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from fuse.core import NDict
from fuse.data import CollateDefault, DatasetDefault, OpBase, OpToTensor, PipelineDefault
from fuse.dl import LightningModuleDefault, LossDefault, ModelWrapSeqToDict
from fuse.eval import MetricAUCROC, MetricConfusion

NUM_FEATURES = 8
_WEIGHTS = np.linspace(-1.0, 1.0, NUM_FEATURES) + 0.3


class OpMakeFeatures(OpBase):
    """Features and label of sample ``i``, deterministic per id."""

    def __call__(self, sample_dict: NDict, **kwargs: Any) -> NDict:
        rng = np.random.default_rng(1000 + int(sample_dict["data.sample_id"]))
        features = rng.standard_normal(NUM_FEATURES).astype(np.float32)
        noisy = float(features @ _WEIGHTS) + 0.3 * float(rng.standard_normal())
        sample_dict["data.input.x"] = features
        sample_dict["data.label"] = int(noisy > 0)
        return sample_dict


def make_dataset(sample_ids: Sequence[int]) -> DatasetDefault:
    static = PipelineDefault("static", [(OpMakeFeatures(), {})])
    dynamic = PipelineDefault("dynamic", [(OpToTensor(), {"key": ["data.input.x", "data.label"]})])
    dataset = DatasetDefault(list(sample_ids), static, dynamic)
    dataset.create()
    return dataset


def make_loader(sample_ids: Sequence[int], batch_size: int = 16, shuffle: bool = False) -> DataLoader[Any]:
    return DataLoader(
        make_dataset(sample_ids),  # type: ignore[arg-type]
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=CollateDefault(),
    )


def softmax_too(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return logits, F.softmax(logits, dim=1)


def make_model(seed: int = 0) -> ModelWrapSeqToDict:
    torch.manual_seed(seed)
    network = torch.nn.Sequential(torch.nn.Linear(NUM_FEATURES, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    return ModelWrapSeqToDict(
        model=network,
        model_inputs=["data.input.x"],
        model_outputs=["model.logits.cls", "model.output.cls"],
        post_forward_processing_function=softmax_too,
    )


def make_module(model_dir: str | Path | None, seed: int = 0, **kwargs: Any) -> LightningModuleDefault:
    arguments: dict[str, Any] = {
        "losses": {"ce": LossDefault(pred="model.logits.cls", target="data.label", callable=F.cross_entropy)},
        "train_metrics": {"auc": MetricAUCROC(pred="model.output.cls", target="data.label")},
        "validation_metrics": {
            "auc": MetricAUCROC(pred="model.output.cls", target="data.label"),
            "confusion": MetricConfusion(pred="model.output.cls", target="data.label", metrics=("sensitivity",)),
        },
        "best_epoch_source": {"monitor": "validation.metrics.auc", "mode": "max"},
        "optimizers_and_lr_schs": lambda module: torch.optim.Adam(module.parameters(), lr=0.05),
    }
    arguments.update(kwargs)
    return LightningModuleDefault(model_dir=model_dir, model=make_model(seed), **arguments)


def _ddp_main(out_dir: Path, devices: int) -> None:
    import lightning.pytorch as pl

    torch.set_num_threads(1)
    trainer_arguments: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": devices,
        "strategy": "ddp" if devices > 1 else "auto",
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
    }
    validation = make_loader(range(300, 351))  # 51 samples: the distributed sampler pads with a repeated one
    module = make_module(out_dir / f"model_{devices}", seed=3)
    trainer = pl.Trainer(default_root_dir=str(out_dir), **trainer_arguments)
    (metrics,) = trainer.validate(module, dataloaders=validation, verbose=False)
    if trainer.is_global_zero:
        (out_dir / f"validate_{devices}.json").write_text(json.dumps(metrics))

    fitted = make_module(out_dir / f"model_{devices}", seed=3)
    trainer = pl.Trainer(default_root_dir=str(out_dir), max_epochs=1, **trainer_arguments)
    trainer.fit(fitted, train_dataloaders=make_loader(range(100), shuffle=True), val_dataloaders=validation)
    logged = {name: float(value) for name, value in trainer.callback_metrics.items()}
    (out_dir / f"fit_{devices}_rank{trainer.global_rank}.json").write_text(json.dumps(logged))


if __name__ == "__main__":
    _ddp_main(Path(sys.argv[1]), int(sys.argv[2]))
    os._exit(0)  # skip interpreter teardown of the process group's threads
