"""Walkthrough template: the canonical fuse flow, train -> infer -> eval, on a synthetic tabular task.

Runnable as is (``python -m fuse.dl.templates.walkthrough_template --root /tmp/walkthrough``); copy it and replace
``OpMakeSample`` (and the ids) with your data, ``create_model`` with your network. The steps:

- ``run_train``: fuse-data ``DatasetDefault`` (static pipeline cached by ``SamplesCacher``, dynamic pipeline per
  epoch), class-balanced ``BatchSamplerDefault``, ``CollateDefault``; a ``ModelMultiHead`` (MLP backbone +
  ``Head1D``); ``LossDefault``; fuse-eval validation metrics; ``best_epoch_source``; ``LightningModuleDefault``
  and ``pl.Trainer.fit``;
- ``run_infer``: the best checkpoint (``weights_only=True``), ``set_predictions_keys``, ``trainer.predict``,
  ``convert_predictions_to_dataframe``, ``save_dataframe``;
- ``run_eval``: ``EvaluatorDefault`` on the saved predictions.

The task: 8 Gaussian features per sample; the label is whether a fixed linear combination (plus a little noise) is
positive, so a trained model reaches a high AUC.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from fuse.core import NDict, save_dataframe
from fuse.data import (
    BatchSamplerDefault,
    CollateDefault,
    DatasetDefault,
    OpBase,
    OpToTensor,
    PipelineDefault,
    SamplesCacher,
)
from fuse.dl import (
    BackboneMultilayerPerceptron,
    Head1D,
    LightningModuleDefault,
    LossDefault,
    ModelMultiHead,
    convert_predictions_to_dataframe,
)
from fuse.eval import EvaluatorDefault, MetricAUCROC, MetricConfusion

__all__ = ["PARAMS", "create_model", "main", "make_paths", "run_eval", "run_infer", "run_train"]

NUM_FEATURES = 8
_WEIGHTS = np.linspace(-1.0, 1.0, NUM_FEATURES) + 0.3

PARAMS: dict[str, Any] = {
    "data.train_ids": list(range(400)),
    "data.validation_ids": list(range(1000, 1200)),
    "data.batch_size": 32,
    "data.num_workers": 0,
    "trainer.num_epochs": 5,
    "trainer.accelerator": "auto",
    "trainer.num_devices": 1,
    "opt.lr": 1e-2,
    "opt.weight_decay": 1e-4,
    "infer.checkpoint": "best_epoch.ckpt",
}


def make_paths(root: str | os.PathLike[str]) -> dict[str, str]:
    """The template's directories under ``root``.

    >>> sorted(make_paths("/tmp/w"))
    ['cache_dir', 'eval_dir', 'inference_dir', 'model_dir']
    """
    model_dir = os.path.join(root, "model_dir")
    return {
        "model_dir": model_dir,
        "cache_dir": os.path.join(root, "cache_dir"),
        "inference_dir": os.path.join(model_dir, "infer"),
        "eval_dir": os.path.join(model_dir, "eval"),
    }


class OpMakeSample(OpBase):
    """The synthetic sample ``i``: ``data.input.features`` (8 floats) and ``data.label`` (0/1), the same every time.
    Replace it with ops that read your data.

    >>> sample = OpMakeSample()(NDict({"data.sample_id": 3}))
    >>> sample["data.input.features"].shape, sample["data.label"] in (0, 1)
    ((8,), True)
    """

    def __call__(self, sample_dict: NDict, **kwargs: Any) -> NDict:
        rng = np.random.default_rng(int(sample_dict["data.sample_id"]))
        features = rng.standard_normal(NUM_FEATURES).astype(np.float32)
        sample_dict["data.input.features"] = features
        sample_dict["data.label"] = int(float(features @ _WEIGHTS) + 0.3 * float(rng.standard_normal()) > 0)
        return sample_dict


def _dataset(sample_ids: list[int], paths: dict[str, str]) -> DatasetDefault:
    static = PipelineDefault("walkthrough_static", [(OpMakeSample(), {})])
    dynamic = PipelineDefault("walkthrough_dynamic", [(OpToTensor(), {"key": ["data.input.features", "data.label"]})])
    cacher = SamplesCacher("walkthrough_cache", static, paths["cache_dir"], verbose=0)
    dataset = DatasetDefault(sample_ids, static, dynamic, cacher=cacher)
    dataset.create()
    return dataset


def create_model() -> torch.nn.Module:
    """An MLP backbone and a classification head: ``model.logits.classification`` / ``model.output.classification``.

    >>> batch = create_model()(NDict({"data.input.features": torch.zeros(2, 8)}))
    >>> tuple(batch["model.output.classification"].shape)
    (2, 2)
    """
    return ModelMultiHead(
        conv_inputs=(("data.input.features", NUM_FEATURES),),
        backbone=BackboneMultilayerPerceptron(layers=(32, 32), mlp_input_size=NUM_FEATURES),
        heads=[
            Head1D(
                head_name="classification",
                mode="classification",
                conv_inputs=[("model.backbone_features", 32)],
                num_outputs=2,
                layers_description=(16,),
                dropout_rate=0.0,
            )
        ],
    )


def _trainer(paths: dict[str, str], params: dict[str, Any], **kwargs: Any) -> pl.Trainer:
    return pl.Trainer(
        default_root_dir=paths["model_dir"],
        accelerator=params["trainer.accelerator"],
        devices=params["trainer.num_devices"],
        logger=False,
        enable_progress_bar=False,
        **kwargs,
    )


def run_train(paths: dict[str, str], params: dict[str, Any]) -> None:
    """Train; the best epoch (validation AUC) is saved to ``<model_dir>/best_epoch.ckpt``."""
    train_dataset = _dataset(params["data.train_ids"], paths)
    sampler = BatchSamplerDefault(
        dataset=train_dataset,
        balanced_class_name="data.label",
        num_balanced_classes=2,
        batch_size=params["data.batch_size"],
        seed=0,
    )
    train_loader: DataLoader[Any] = DataLoader(
        train_dataset,  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=CollateDefault(),
        num_workers=params["data.num_workers"],
    )
    validation_loader: DataLoader[Any] = DataLoader(
        _dataset(params["data.validation_ids"], paths),  # type: ignore[arg-type]
        batch_size=params["data.batch_size"],
        collate_fn=CollateDefault(),
        num_workers=params["data.num_workers"],
    )
    model = create_model()
    losses = {
        "cls_loss": LossDefault(
            pred="model.logits.classification", target="data.label", callable=F.cross_entropy, weight=1.0
        )
    }
    # train metrics count a sample the balanced sampler repeats within an epoch once
    train_metrics = {"auc": MetricAUCROC(pred="model.output.classification", target="data.label")}
    validation_metrics = {
        "auc": MetricAUCROC(pred="model.output.classification", target="data.label"),
        "confusion": MetricConfusion(
            pred="model.output.classification", target="data.label", metrics=("sensitivity", "specificity")
        ),
    }

    def optimizers_and_lr_schs(module: pl.LightningModule) -> dict[str, Any]:
        optimizer = torch.optim.Adam(module.parameters(), lr=params["opt.lr"], weight_decay=params["opt.weight_decay"])
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "validation.losses.total_loss"},
        }

    pl_module = LightningModuleDefault(
        model_dir=paths["model_dir"],
        model=model,
        losses=losses,
        train_metrics=train_metrics,
        validation_metrics=validation_metrics,
        best_epoch_source={"monitor": "validation.metrics.auc", "mode": "max"},
        optimizers_and_lr_schs=optimizers_and_lr_schs,
    )
    trainer = _trainer(paths, params, max_epochs=params["trainer.num_epochs"])
    trainer.fit(pl_module, train_loader, validation_loader)


def run_infer(paths: dict[str, str], params: dict[str, Any]) -> str:
    """Predict the validation set with the best checkpoint; returns the predictions file (``id``,
    ``model.output.classification``, ``data.label``)."""
    checkpoint = os.path.join(paths["model_dir"], params["infer.checkpoint"])
    pl_module = LightningModuleDefault.load_from_checkpoint(
        checkpoint, model_dir=paths["model_dir"], model=create_model(), weights_only=True
    )
    pl_module.set_predictions_keys(["model.output.classification", "data.label"])
    loader: DataLoader[Any] = DataLoader(
        _dataset(params["data.validation_ids"], paths),  # type: ignore[arg-type]
        batch_size=params["data.batch_size"],
        collate_fn=CollateDefault(),
    )
    predictions = _trainer(paths, params).predict(pl_module, loader)
    infer_file = os.path.join(paths["inference_dir"], "validation_set_infer.gz")
    Path(paths["inference_dir"]).mkdir(parents=True, exist_ok=True)
    save_dataframe(convert_predictions_to_dataframe(predictions), infer_file)  # type: ignore[arg-type]
    return infer_file


def run_eval(paths: dict[str, str], infer_file: str) -> NDict:
    """Evaluate the predictions file; the results are also written to ``eval_dir``."""
    metrics = {
        "auc": MetricAUCROC(pred="model.output.classification", target="data.label"),
        "confusion": MetricConfusion(pred="model.output.classification", target="data.label", metrics=("sensitivity",)),
    }
    return EvaluatorDefault().eval(ids=None, data=infer_file, metrics=metrics, output_dir=paths["eval_dir"])


def main(root: str | os.PathLike[str], params: dict[str, Any] | None = None) -> NDict:
    """Train, infer and evaluate under ``root``; returns the evaluation results (``metrics.auc`` ...)."""
    paths = make_paths(root)
    params = {**PARAMS, **(params or {})}
    run_train(paths, params)
    return run_eval(paths, run_infer(paths, params))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", required=True, help="directory for the model, cache, predictions and results")
    results = main(parser.parse_args().root)
    print(f"validation AUC: {float(results['metrics.auc']):.3f}")
