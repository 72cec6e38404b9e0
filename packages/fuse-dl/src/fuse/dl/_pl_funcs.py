"""The building blocks of :class:`LightningModuleDefault`, usable in a custom ``LightningModule`` (FuseMedML's
``pl_funcs``): per-step losses, metrics and predictions, epoch-end averaging and logging, default callbacks, and
the gather function that lets fuse-eval metrics see every rank's samples under DDP.

A custom module uses them like this (the MNIST "custom LightningModule" example does)::

    def training_step(self, batch_dict, batch_idx):
        self.model(batch_dict)
        total_loss = step_losses(self.losses, batch_dict)
        step_metrics(self.train_metrics, batch_dict)
        self.train_step_losses.append(batch_dict["losses"])
        return total_loss

    def on_train_epoch_end(self):
        epoch_end_compute_and_log_losses(self, "train", self.train_step_losses)
        epoch_end_compute_and_log_metrics(self, "train", self.train_metrics)
        self.train_step_losses = []

    def setup(self, stage):  # what LightningModuleDefault.setup does
        gather = all_gather_columns if self.trainer.world_size > 1 else None
        for metric in [*self.train_metrics.values(), *self.validation_metrics.values()]:
            # a balanced BatchSamplerDefault repeats samples within an epoch, and the DistributedSampler pads
            # ranks with repeats: count each sample once (a metric refuses duplicated ids otherwise)
            metric.set_distributed_gather(gather, drop_repeated_ids=True)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint

from fuse.core import NDict, add_note
from fuse.dl._pl_epoch_summary import ModelEpochSummary, safe_file_name
from fuse.eval import MetricBase

__all__ = [
    "all_gather_columns",
    "convert_predictions_to_dataframe",
    "epoch_end_compute_and_log_losses",
    "epoch_end_compute_and_log_metrics",
    "model_default_callbacks",
    "step_extract_predictions",
    "step_losses",
    "step_metrics",
]

_ID_KEYS = ("data.sample_id", "id", "sample_id")


def model_default_callbacks(
    model_dir: str | Path | None,
    best_epoch_source: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
    log_lr: bool = True,
    print_epoch_summary: bool = True,
) -> list[Callback]:
    """The callbacks every fuse training gets: for each ``best_epoch_source`` (``ModelCheckpoint`` keyword
    arguments, at least ``monitor``; ``mode`` defaults to Lightning's ``"min"``) a checkpoint of the best epoch
    (``best_epoch.ckpt``; ``best_epoch_<monitor>.ckpt`` when there are several sources) and a
    :class:`ModelEpochSummary` (its table printed too when ``print_epoch_summary``); always ``last.ckpt`` (its own
    ``ModelCheckpoint``: Lightning's ``save_last`` copies only epochs that another checkpoint saved, so it would not
    resume from the last epoch); and a ``LearningRateMonitor`` when ``log_lr``. With two checkpoint callbacks,
    Lightning warns that ``ckpt_path="best"`` means the first one's (the best epoch's): to avoid the warning, pass
    ``trainer.checkpoint_callback.best_model_path``.

    >>> callbacks = model_default_callbacks("/tmp/model", {"monitor": "validation.metrics.auc", "mode": "max"})
    >>> [type(c).__name__ for c in callbacks]
    ['ModelCheckpoint', 'ModelEpochSummary', 'ModelCheckpoint', 'LearningRateMonitor']
    """
    dirpath = None if model_dir is None else str(model_dir)
    if best_epoch_source is None:
        sources: list[Mapping[str, Any]] = []
    elif isinstance(best_epoch_source, Mapping):
        sources = [best_epoch_source]
    else:
        sources = list(best_epoch_source)
    callbacks: list[Callback] = []
    for source in sources:
        if not isinstance(source, Mapping) or "monitor" not in source:
            raise ValueError(
                "each best_epoch_source must be a dict of ModelCheckpoint arguments with at least 'monitor' (e.g. "
                f"{{'monitor': 'validation.metrics.auc', 'mode': 'max'}}), got {source!r}"
            )
        arguments = dict(source)
        arguments.setdefault("dirpath", dirpath)
        if len(sources) > 1:
            arguments.setdefault("filename", "best_epoch_" + safe_file_name(str(source["monitor"])))
        arguments.setdefault("filename", "best_epoch")
        arguments.setdefault("auto_insert_metric_name", False)
        arguments.setdefault("save_last", False)
        callbacks.append(ModelCheckpoint(**arguments))
        callbacks.append(
            ModelEpochSummary(
                dirpath=arguments["dirpath"],
                monitor=source["monitor"],
                mode=source.get("mode", "min"),
                print_table=print_epoch_summary,
            )
        )
    callbacks.append(ModelCheckpoint(dirpath=dirpath, save_last=True, save_top_k=0))
    if log_lr:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    return callbacks


def step_losses(losses: Mapping[str, Any] | None, batch_dict: NDict, optimize: bool = False) -> torch.Tensor | None:
    """Sum the losses on a batch: each ``loss(batch_dict)``; unless ``optimize``, the detached values are stored
    under ``losses.<name>`` and ``losses.total_loss`` (kept as tensors: no GPU synchronisation per step; the epoch
    end averages them). Returns the total (``None`` without losses).

    >>> batch = NDict({"pred": torch.tensor([1.0, 3.0])})
    >>> step_losses({"mean": lambda b: b["pred"].mean()}, batch)
    tensor(2.)
    >>> batch["losses.total_loss"]
    tensor(2.)
    """
    if not losses:
        return None
    total: torch.Tensor | None = None
    for name, loss in losses.items():
        try:
            value = loss(batch_dict)
        except Exception as error:
            add_note(error, f"while computing loss {name!r}")
            raise
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"loss {name!r} returned a {type(value).__name__}; a loss must return a scalar tensor")
        if not optimize:
            batch_dict[f"losses.{name}"] = value.detach()
        total = value if total is None else total + value
    if not optimize and total is not None:
        batch_dict["losses.total_loss"] = total.detach()
    return total


def step_metrics(metrics: Mapping[str, MetricBase] | None, batch_dict: NDict) -> None:
    """Let every metric collect what it needs from the batch.

    >>> from fuse.eval import MetricAUCROC
    >>> auc = MetricAUCROC(pred="pred", target="target")
    >>> step_metrics({"auc": auc}, NDict({"id": [0, 1], "pred": torch.tensor([0.2, 0.9]), "target": [0, 1]}))
    >>> float(auc.eval())
    1.0
    """
    for name, metric in (metrics or {}).items():
        try:
            metric.collect(batch_dict)
        except Exception as error:
            add_note(error, f"while collecting metric {name!r}")
            raise


def step_extract_predictions(prediction_keys: Sequence[str], batch_dict: NDict) -> dict[str, Any]:
    """``{"id": sample ids, key: numpy values}`` of one batch, for ``predict_step`` (bfloat16 becomes float32).

    >>> batch = NDict({"data.sample_id": ["a", "b"], "model.output.cls": torch.tensor([[0.1, 0.9], [0.8, 0.2]])})
    >>> step_extract_predictions(["model.output.cls"], batch)["model.output.cls"].shape
    (2, 2)
    """
    predictions: dict[str, Any] = {"id": _batch_ids(batch_dict)}
    for key in prediction_keys:
        if key not in batch_dict:
            raise KeyError(f"prediction key {key!r} is not in the batch; keys there: {sorted(batch_dict.keypaths())}")
        predictions[key] = _to_numpy(batch_dict[key])
    return predictions


def convert_predictions_to_dataframe(predictions: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The per-batch outputs of ``predict_step`` as one DataFrame: an ``id`` column and one column per key (a
    per-sample array stays one cell).

    >>> batches = [{"id": ["a", "b"], "p": np.array([[0.1, 0.9], [0.8, 0.2]])}, {"id": ["c"], "p": np.array([[1, 0]])}]
    >>> frame = convert_predictions_to_dataframe(batches)
    >>> frame["id"].tolist(), frame["p"].iloc[2].tolist()
    (['a', 'b', 'c'], [1, 0])
    """
    columns: dict[str, list[Any]] = {}
    for batch in predictions:
        sizes = {key: len(values) for key, values in batch.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"a prediction batch has columns of different lengths: {sizes}")
        for key, values in batch.items():
            columns.setdefault(key, []).extend(list(values))
    frame: pd.DataFrame = pd.DataFrame(columns)
    return frame


def epoch_end_compute_and_log_losses(
    pl_module: pl.LightningModule, mode: str, batch_losses: Sequence[Mapping[str, Any]], sep: str = "."
) -> dict[str, float]:
    """Average each loss over the epoch's batches (``None`` values skipped) and log it as
    ``<mode><sep>losses.<name>``, averaged across ranks under DDP. Returns the local averages.
    """
    per_name: dict[str, list[torch.Tensor]] = {}
    for losses in batch_losses:
        for name, value in NDict(dict(losses)).items():
            if value is not None:
                per_name.setdefault(name, []).append(torch.as_tensor(value, dtype=torch.float32).detach())
    averages: dict[str, float] = {}
    for name, values in per_name.items():
        mean = torch.stack([v.to(values[0].device) for v in values]).mean()
        pl_module.log(f"{mode}{sep}losses.{name}", mean, on_epoch=True, sync_dist=True)
        averages[name] = float(mean)
    return averages


def epoch_end_compute_and_log_metrics(
    pl_module: pl.LightningModule, mode: str, metrics: Mapping[str, MetricBase] | None, sep: str = "."
) -> NDict:
    """Evaluate every metric on what it collected this epoch (in order: a metric may read an earlier one's results
    through ``"results:metrics.<name>..."``), reset it, and log each numeric result as
    ``<mode><sep>metrics.<name>[.<sub key>]``. A failing metric raises naming it. Returns the results.

    Under DDP the metrics already hold every rank's samples (see :func:`all_gather_columns`), so every rank logs
    the same values.
    """
    results = NDict()
    for name, metric in (metrics or {}).items():
        try:
            results[f"metrics.{name}"] = metric.eval(results)
        except Exception as error:
            add_note(error, f"while evaluating metric {name!r} at the end of a {mode} epoch")
            raise
        finally:
            metric.reset()
    for key in results.keypaths():
        value = _loggable(results[key])
        if value is not None:
            pl_module.log(f"{mode}{sep}{key}", value, on_epoch=True, sync_dist=False)
    return results


def all_gather_columns(columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """fuse-eval's collector gather hook under ``torch.distributed``: every rank's values of one collected batch,
    concatenated in rank order (unchanged when not distributed). :class:`LightningModuleDefault` installs it on
    its metrics under DDP, with dropping of the samples a distributed sampler repeats.

    >>> all_gather_columns({"id": ["a"], "pred": [0.5]})  # one process: the values as they are
    {'id': ['a'], 'pred': [0.5]}
    """
    distributed = torch.distributed
    if not (distributed.is_available() and distributed.is_initialized()) or distributed.get_world_size() == 1:
        return columns
    parts: list[Any] = [None] * distributed.get_world_size()
    distributed.all_gather_object(parts, columns)
    return {name: [value for part in parts for value in part[name]] for name in columns}


def _batch_ids(batch_dict: NDict) -> list[Hashable]:
    for key in _ID_KEYS:
        if key in batch_dict:
            ids = batch_dict[key]
            return list(ids.tolist() if isinstance(ids, (torch.Tensor, np.ndarray)) else ids)
    raise KeyError(
        f"the batch has no sample ids (one of {list(_ID_KEYS)}); keys there: {sorted(batch_dict.keypaths())}"
    )


def _to_numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.detach()
        if value.dtype == torch.bfloat16:
            value = value.float()
        return value.cpu().numpy()
    return value


def _loggable(value: Any) -> float | None:
    """A result value Lightning can log (a real number, or a one-element numeric array/tensor), else ``None``."""
    if isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)):
        return float(value)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "biuf":
        return float(value.reshape(-1)[0])
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach().reshape(-1)[0])
    return None
