"""What :class:`LightningModuleDefault` does at each epoch end: losses averaged over the epoch's samples and
metrics evaluated, both logged; under DDP the same values on every rank."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from fuse.core import NDict, add_note
from fuse.dl.training._ddp import is_distributed
from fuse.eval import MetricBase

__all__ = ["epoch_end_compute_and_log_losses", "epoch_end_compute_and_log_metrics"]


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
    if not is_distributed():
        return totals
    parts: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, totals)
    summed: dict[str, tuple[float, float]] = {}
    for part in parts:
        for name, (total, count) in part.items():
            previous = summed.get(name, (0.0, 0.0))
            summed[name] = (previous[0] + total, previous[1] + count)
    return summed


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
    if not is_distributed():
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


def _loggable(value: Any) -> float | None:
    """A result value Lightning can log (a real number, or a one-element numeric array/tensor), else ``None``."""
    if isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)):
        return float(value)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "biuf":
        return float(value.reshape(-1)[0])
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach().reshape(-1)[0])
    return None
