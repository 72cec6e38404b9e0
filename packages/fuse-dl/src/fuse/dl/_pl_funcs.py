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

Under DDP every rank must call ``epoch_end_compute_and_log_metrics`` (the metrics gather there, once per epoch; a
metric whose value still differs across ranks is warned about), pass ``batch_sizes=`` to
``epoch_end_compute_and_log_losses`` for per-sample loss means, and call :func:`gather_predictions` on the
``predict_step`` outputs (``on_predict_epoch_end``) to get the whole set's predictions on every rank.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint

from fuse.core import NDict, add_note
from fuse.dl._pl_ddp import ID_KEYS
from fuse.dl._pl_epoch_summary import ModelEpochSummary, safe_file_name
from fuse.eval import MetricBase

__all__ = [
    "all_gather_columns",
    "convert_predictions_to_dataframe",
    "epoch_end_compute_and_log_losses",
    "epoch_end_compute_and_log_metrics",
    "gather_predictions",
    "model_default_callbacks",
    "step_extract_predictions",
    "step_losses",
    "step_metrics",
]


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
    A custom module that trains with ``fuse.data.BatchSamplerDefault`` also returns :class:`BatchSamplerEpoch` from
    its ``configure_callbacks`` (``LightningModuleDefault`` adds it itself), so that a resumed fit continues the
    sampler's epochs.

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
    pl_module: pl.LightningModule | None,
    mode: str,
    batch_losses: Sequence[Mapping[str, Any]],
    sep: str = ".",
    batch_sizes: Sequence[int] | None = None,
) -> dict[str, float]:
    """Average each loss over the epoch and log it as ``<mode><sep>losses.<name>`` (with ``pl_module=None``, only
    compute); returns the averages.

    With ``batch_sizes`` (the number of samples behind each entry of ``batch_losses``) the average is weighted by
    them: the per-sample mean of a loss that averages over its batch, whatever the batching. Without, every batch
    counts once (FuseMedML's mean of batch means). ``None`` values are skipped. Under DDP the sums and counts of
    every rank are added (one collective), so every rank logs the same value, that of the whole epoch.

    >>> epoch_end_compute_and_log_losses(None, "validation", [{"ce": 1.0}, {"ce": 4.0}], batch_sizes=[3, 1])
    {'ce': 1.75}
    """
    if batch_sizes is not None and len(batch_sizes) != len(batch_losses):
        raise ValueError(f"batch_sizes has {len(batch_sizes)} entries but batch_losses {len(batch_losses)}")
    per_name: dict[str, list[torch.Tensor]] = {}
    weights: dict[str, list[float]] = {}
    for index, losses in enumerate(batch_losses):
        for name, value in NDict(dict(losses)).items():
            if value is not None:
                per_name.setdefault(name, []).append(torch.as_tensor(value).detach().reshape(()))
                weights.setdefault(name, []).append(1.0 if batch_sizes is None else float(batch_sizes[index]))
    totals: dict[str, tuple[float, float]] = {}
    for name, values in per_name.items():
        device = values[0].device
        stacked = torch.stack([value.to(device) for value in values]).double()  # one device-to-host copy per name
        weight = torch.tensor(weights[name], dtype=torch.float64, device=device)
        totals[name] = (float((stacked * weight).sum()), float(weight.sum()))
    totals = _sum_across_ranks(totals)
    averages: dict[str, float] = {}
    for name, (total, count) in totals.items():
        averages[name] = total / count if count else math.nan
        if pl_module is not None:
            pl_module.log(f"{mode}{sep}losses.{name}", averages[name], on_epoch=True, sync_dist=False)
    return averages


def _sum_across_ranks(totals: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """``{name: (sum, count)}`` added over every rank (unchanged in one process); names any rank has."""
    if not _is_distributed():
        return totals
    parts: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, totals)
    summed: dict[str, tuple[float, float]] = {}
    for part in parts:
        for name, (total, count) in part.items():
            previous = summed.get(name, (0.0, 0.0))
            summed[name] = (previous[0] + total, previous[1] + count)
    return summed


def _is_distributed() -> bool:
    distributed = torch.distributed
    return distributed.is_available() and distributed.is_initialized() and distributed.get_world_size() > 1


def epoch_end_compute_and_log_metrics(
    pl_module: pl.LightningModule, mode: str, metrics: Mapping[str, MetricBase] | None, sep: str = "."
) -> NDict:
    """Evaluate every metric on what it collected this epoch (in order: a metric may read an earlier one's results
    through ``"results:metrics.<name>..."``), reset it, and log each numeric result as
    ``<mode><sep>metrics.<name>[.<sub key>]``. A failing metric raises naming it. Returns the results.

    Under DDP the metrics gather every rank's samples when evaluated (see :func:`all_gather_columns`), so every
    rank must call this, and every rank logs the same values. A metric whose values differ across ranks (it saw
    only its own rank's samples: a custom module that did not install the gather in ``setup()``, or a custom metric
    without ``set_distributed_gather``) is warned about: each rank would log its own number.
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
    logged = {key: value for key in results.keypaths() if (value := _loggable(results[key])) is not None}
    if metrics:  # the same on every rank (unlike what they log), so every rank joins the collective or none
        _warn_if_ranks_differ(logged, mode)
    for key, value in logged.items():
        pl_module.log(f"{mode}{sep}{key}", value, on_epoch=True, sync_dist=False)
    return results


def _warn_if_ranks_differ(values: dict[str, float], mode: str) -> None:
    """Under DDP, warn when a metric's value is not the same on every rank (one small collective per epoch)."""
    if not _is_distributed():
        return
    parts: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, values)
    differing = sorted(
        key
        for key in values
        if any(key in part and not _same_number(part[key], values[key]) for part in parts)
        or any(key not in part for part in parts)
    )
    if differing:
        per_rank = "; ".join(f"rank {rank}: {part.get(differing[0])}" for rank, part in enumerate(parts))
        warnings.warn(
            f"{mode} metrics differ across DDP ranks: {differing} ({differing[0]}: {per_rank}); each rank evaluated "
            "only its own samples, so each logs a different, partial number. A custom LightningModule must install "
            "the gather in setup(): metric.set_distributed_gather(all_gather_columns, drop_repeated_ids=True) for "
            "every metric (as LightningModuleDefault.setup does); a custom metric must implement "
            "set_distributed_gather",
            RuntimeWarning,
            stacklevel=2,
        )


def _same_number(first: float, second: float) -> bool:
    return first == second or (math.isnan(first) and math.isnan(second))


def all_gather_columns(columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """fuse-eval's collector gather hook under ``torch.distributed``: every rank's values of what a metric
    collected, concatenated in rank order (unchanged when not distributed). fuse-eval calls it once per metric
    when the metric is evaluated (not per batch), so every rank must evaluate. :class:`LightningModuleDefault`
    installs it on its metrics under DDP, with dropping of the samples a distributed sampler repeats. A rank that
    collected nothing contributes no values.

    >>> all_gather_columns({"id": ["a"], "pred": [0.5]})  # one process: the values as they are
    {'id': ['a'], 'pred': [0.5]}
    """
    if not _is_distributed():
        return columns
    parts: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, columns)
    names = list(dict.fromkeys(name for part in parts for name in part))
    return {name: [value for part in parts for value in part.get(name, [])] for name in names}


def gather_predictions(predictions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The prediction batches of every DDP rank (``trainer.predict``'s output on each rank: ``predict_step``
    dicts with an ``id`` list and per-sample values), as the batches of the whole set on every rank; unchanged
    (as dicts) in one process. Called on every rank, it is one collective.

    The ranks' batches of the same index become one batch, rows interleaved rank by rank: the order of the dataset
    for Lightning's unshuffled distributed samplers (which deal sample ``i`` to rank ``i % world_size``). A sample
    seen again (a sampler that pads ranks with repeats) is kept once, its first row. A batch without an ``id``
    cannot be de-duplicated and raises. :class:`LightningModuleDefault` does this itself in
    ``on_predict_epoch_end``, so ``trainer.predict`` returns the whole set; a custom module calls it there, or on
    what ``trainer.predict`` returned.

    >>> gather_predictions([{"id": ["a", "b"], "p": np.array([0.1, 0.9])}])[0]["id"]  # one process: as it is
    ['a', 'b']
    """
    if not _is_distributed():
        return [dict(batch) for batch in predictions]
    local = [dict(batch) for batch in predictions]
    for batch in local:
        if "id" not in batch:
            raise ValueError(
                "gather_predictions needs an 'id' per row in every prediction batch, to drop the samples a "
                f"distributed sampler repeats; a batch has only {sorted(batch)}: return step_extract_predictions(...) "
                "from predict_step (it adds the batch's data.sample_id as 'id')"
            )
    parts: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, local)
    gathered: list[dict[str, Any]] = []
    seen: set[Hashable] = set()
    for index in range(max(len(part) for part in parts)):
        batch = _interleave_rows([part[index] for part in parts if index < len(part)])
        keep = []
        for sample_id in batch["id"]:
            key = sample_id if isinstance(sample_id, Hashable) else repr(sample_id)
            keep.append(key not in seen)
            seen.add(key)
        if any(keep):
            gathered.append(batch if all(keep) else _select_rows(batch, np.flatnonzero(keep)))
    return gathered


def _interleave_rows(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """One batch of the rows of ``batches`` (one per rank), taken row 0 of each rank, then row 1 of each, ..."""
    lengths = [len(batch["id"]) for batch in batches]
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
    order = np.array(
        [
            offsets[rank] + row
            for row in range(max(lengths, default=0))
            for rank in range(len(batches))
            if row < lengths[rank]
        ],
        dtype=int,
    )
    merged: dict[str, Any] = {}
    for key in batches[0]:
        values = [batch[key] for batch in batches]
        if all(isinstance(value, np.ndarray) for value in values) and len({v.shape[1:] for v in values}) == 1:
            merged[key] = np.concatenate(values)[order]
        else:
            flat = [item for value in values for item in list(value)]
            merged[key] = [flat[position] for position in order]
    return merged


def _select_rows(batch: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
    return {
        key: value[rows] if isinstance(value, np.ndarray) else [value[row] for row in rows]
        for key, value in batch.items()
    }


def _batch_ids(batch_dict: NDict) -> list[Hashable]:
    for key in ID_KEYS:
        if key in batch_dict:
            ids = batch_dict[key]
            return list(ids.tolist() if isinstance(ids, (torch.Tensor, np.ndarray)) else ids)
    raise KeyError(f"the batch has no sample ids (one of {list(ID_KEYS)}); keys there: {sorted(batch_dict.keypaths())}")


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
