"""A small learnable task for the fuse-dl training tests, and a script that validates it under DDP.

The task: 8 Gaussian features per sample, label = whether a fixed linear combination is positive (plus a little
label noise), read through fuse-data (static pipeline -> dynamic OpToTensor -> CollateDefault).

As a script (run by tests/dl/training/test_ddp.py; Lightning starts the other ranks by re-running it)::

    python fuse_dl_train_support.py <out_dir> <devices>

validates a seeded model on the validation set with ``devices`` CPU processes (gloo) and writes rank zero's logged
metrics to ``<out_dir>/validate_<devices>.json`` (with one process, also the per-sample mean loss computed
directly), predicts the validation set and writes each rank's ids and AUC (README path: ``trainer.predict``, then
``EvaluatorDefault``) to ``predict_<devices>_rank<rank>.json``, then fits one epoch and records what each rank logged
and wrote. With two processes it then runs the misuses (ranks with unequal batch counts, batches without sample
ids, a custom module that does not install the gather) and writes what each rank saw to ``misuse_rank<rank>.json``.
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
from fuse.dl import (
    LightningModuleDefault,
    LossDefault,
    ModelWrapSeqToDict,
    epoch_end_compute_and_log_metrics,
    step_metrics,
)
from fuse.eval import EvaluatorDefault, MetricAUCROC, MetricConfusion

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


def _direct_mean_loss(sample_ids: Sequence[int], seed: int) -> float:
    """The per-sample mean cross-entropy of ``make_model(seed)`` over the samples, in one batch, by hand."""
    model = make_model(seed).eval()
    batch = next(iter(make_loader(sample_ids, batch_size=len(sample_ids))))
    with torch.no_grad():
        logits = model.model(batch["data.input.x"])
    return float(F.cross_entropy(logits.double(), batch["data.label"]))


class _NoIds:
    """A collate function that leaves the sample ids out of the batch (the misuse)."""

    def __call__(self, samples: list[Any]) -> Any:
        batch = CollateDefault()(samples)
        return NDict({key: batch[key] for key in batch.keypaths() if "sample_id" not in key})


class CustomModule:
    """Builds a custom LightningModule from pl_funcs that forgets the gather in setup() (the misuse)."""

    @staticmethod
    def make(seed: int) -> Any:
        import lightning.pytorch as pl

        class _Custom(pl.LightningModule):
            def __init__(self) -> None:
                super().__init__()
                self.model = make_model(seed)
                self.metrics = {"auc": MetricAUCROC(pred="model.output.cls", target="data.label")}

            def validation_step(self, batch: Any, batch_idx: int) -> None:
                self.model(batch)
                step_metrics(self.metrics, batch)

            def on_validation_epoch_end(self) -> None:
                epoch_end_compute_and_log_metrics(self, "validation", self.metrics)

        return _Custom()


def _misuse(out_dir: Path, trainer_arguments: dict[str, Any]) -> None:
    import time
    import warnings

    import lightning.pytorch as pl

    seen: dict[str, Any] = {}
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    # ranks with unequal batch counts: 2 validation batches on rank 0, 3 on rank 1
    arguments = {**trainer_arguments, "use_distributed_sampler": False}
    start = time.perf_counter()
    try:
        pl.Trainer(**arguments).validate(make_module(None, seed=3), make_loader(range(300, 332 + 16 * rank)))
        seen["unequal"] = "no error"
    except RuntimeError as error:
        seen["unequal"] = str(error)
    seen["unequal_seconds"] = time.perf_counter() - start
    # the same in training, where DDP's gradient reduction would wait: 2 training batches on rank 0, 3 on rank 1
    fit_arguments = {**arguments, "max_epochs": 1, "enable_checkpointing": False, "default_root_dir": str(out_dir)}
    try:
        module = make_module(None, seed=3, best_epoch_source=None)
        pl.Trainer(**fit_arguments).fit(module, make_loader(range(32 + 16 * rank)))
        seen["unequal_training"] = "no error"
    except RuntimeError as error:
        seen["unequal_training"] = str(error)
    # evaluation batches without sample ids
    dataset: Any = make_dataset(range(300, 351))
    no_ids: DataLoader[Any] = DataLoader(dataset, batch_size=16, collate_fn=_NoIds())
    try:
        pl.Trainer(**trainer_arguments).validate(make_module(None, seed=3), no_ids, verbose=False)
        seen["no_ids"] = "no error"
    except ValueError as error:
        seen["no_ids"] = str(error)
    # a custom module without the gather in setup(): each rank's own AUC
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pl.Trainer(**trainer_arguments).validate(CustomModule.make(3), make_loader(range(300, 351)), verbose=False)
    seen["custom"] = [str(warning.message) for warning in caught if "differ across DDP ranks" in str(warning.message)]
    (out_dir / f"misuse_rank{rank}.json").write_text(json.dumps(seen))


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
    metrics = dict(trainer.validate(module, dataloaders=validation, verbose=False)[0])
    if devices == 1:
        metrics["direct_mean_ce"] = _direct_mean_loss(range(300, 351), seed=3)
    if trainer.is_global_zero:
        (out_dir / f"validate_{devices}.json").write_text(json.dumps(metrics))

    # the README's prediction path: trainer.predict, then EvaluatorDefault on the batches
    module.set_predictions_keys(["model.output.cls", "data.label"])
    batches: Any = trainer.predict(module, dataloaders=validation)
    auc = EvaluatorDefault().eval(
        ids=None,
        data=batches,
        batch_size=0,
        metrics={"auc": MetricAUCROC(pred="model.output.cls", target="data.label")},
    )["metrics.auc"]
    ids = [int(sample_id) for batch in batches for sample_id in batch["id"]]
    (out_dir / f"predict_{devices}_rank{trainer.global_rank}.json").write_text(json.dumps({"ids": ids, "auc": auc}))

    fitted = make_module(out_dir / f"model_{devices}", seed=3)
    trainer = pl.Trainer(default_root_dir=str(out_dir), max_epochs=1, **trainer_arguments)
    trainer.fit(fitted, train_dataloaders=make_loader(range(100), shuffle=True), val_dataloaders=validation)
    logged = {name: float(value) for name, value in trainer.callback_metrics.items()}
    (out_dir / f"fit_{devices}_rank{trainer.global_rank}.json").write_text(json.dumps(logged))
    if devices > 1:
        _misuse(out_dir, trainer_arguments)


if __name__ == "__main__":
    _ddp_main(Path(sys.argv[1]), int(sys.argv[2]))
    os._exit(0)  # skip interpreter teardown of the process group's threads
