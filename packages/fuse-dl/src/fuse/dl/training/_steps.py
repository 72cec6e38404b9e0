"""What :class:`LightningModuleDefault` does per step (losses, metrics, predictions), usable in a custom
``LightningModule``: these functions, with those of the epoch end, the default callbacks and the gather functions
(all exported by ``fuse.dl``), are FuseMedML's ``pl_funcs``.

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

Under DDP every rank must call ``epoch_end_compute_and_log_metrics`` (the metrics gather there, once per epoch; a
metric whose value still differs across ranks is warned about), pass ``batch_sizes=`` to
``epoch_end_compute_and_log_losses`` for per-sample loss means, and call :func:`gather_predictions` on the
``predict_step`` outputs (``on_predict_epoch_end``) to get the whole set's predictions on every rank.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from fuse.core import NDict, add_note, to_numpy
from fuse.dl.training._ddp import ID_KEYS
from fuse.eval import MetricBase

__all__ = [
    "compute_losses",
    "convert_predictions_to_dataframe",
    "step_extract_predictions",
    "step_losses",
    "step_metrics",
]


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
    return compute_losses(losses, batch_dict, store=not optimize)[0]


def compute_losses(
    losses: Mapping[str, Any] | None, batch_dict: NDict, store: bool = True
) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
    """:func:`step_losses` (``store=not optimize``), also returning what it stores, the detached values
    ``{name: value, "total_loss": total}`` (empty without ``store``): a training step records them without
    reading them back from the batch dict.
    """
    if not losses:
        return None, {}
    total: torch.Tensor | None = None
    detached: dict[str, torch.Tensor] = {}
    for name, loss in losses.items():
        try:
            value = loss(batch_dict)
        except Exception as error:
            add_note(error, f"while computing loss {name!r}")
            raise
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"loss {name!r} returned a {type(value).__name__}; a loss must return a scalar tensor")
        if store:  # as each is computed: a later loss may read an earlier one
            batch_dict["losses." + name] = detached[name] = value.detach()
        total = value if total is None else total + value
    if store and total is not None:
        # one loss: the total is that loss, and its detached value is already at hand
        batch_dict["losses.total_loss"] = detached["total_loss"] = (
            detached[name] if len(detached) == 1 else total.detach()
        )
    return total, detached


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
        predictions[key] = to_numpy(batch_dict[key])
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


def _batch_ids(batch_dict: NDict) -> list[Hashable]:
    for key in ID_KEYS:
        if key in batch_dict:
            ids = batch_dict[key]
            return list(ids.tolist() if isinstance(ids, (torch.Tensor, np.ndarray)) else ids)
    raise KeyError(f"the batch has no sample ids (one of {list(ID_KEYS)}); keys there: {sorted(batch_dict.keypaths())}")
