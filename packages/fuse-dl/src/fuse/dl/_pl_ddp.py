"""What :class:`LightningModuleDefault` needs under DDP besides the metrics' gather: a check that every rank runs as
many batches, where a ``DistributedSampler`` starts padding a rank with repeated samples, and batch rows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DistributedSampler

from fuse.core import NDict

__all__ = ["check_equal_batch_counts", "first_padded_position", "first_rows", "has_ids", "num_rows"]

ID_KEYS = ("data.sample_id", "id", "sample_id")


def check_equal_batch_counts(stage: str, counts: Sequence[int | float]) -> None:
    """Raise on every rank when the ranks would run different numbers of ``stage`` batches (``counts``: this rank's
    per dataloader). One small collective; nothing in one process. Unequal counts would leave the ranks with more
    batches waiting in a collective (DDP's gradient reduction, a logged value synchronised across ranks) for ranks
    that have finished, until the process group's timeout (30 minutes by default), with no message.

    >>> check_equal_batch_counts("validation", [4])  # one process: nothing to compare
    """
    distributed = torch.distributed
    if not (distributed.is_available() and distributed.is_initialized()) or distributed.get_world_size() == 1:
        return
    parts: list[Any] = [None] * distributed.get_world_size()
    distributed.all_gather_object(parts, [float(count) for count in counts])
    if all(part == parts[0] for part in parts):
        return
    per_rank = ", ".join(f"rank {rank}: {_counts_text(part)}" for rank, part in enumerate(parts))
    limit = (
        "limit_train_batches" if stage == "training" else f"limit_{'val' if stage == 'validation' else stage}_batches"
    )
    raise RuntimeError(
        f"DDP ranks would run different numbers of {stage} batches ({per_rank}); every rank must run as many, or the "
        "ranks with more wait for the others in a collective until the process group's timeout. Let Lightning "
        "insert its DistributedSampler (use_distributed_sampler=True, the default, with a sampler it can wrap), or "
        f"use a sampler that pads every rank to the same length as DistributedSampler does, or set {limit}"
    )


def _counts_text(counts: list[float]) -> str:
    texts = [str(int(count)) if math.isfinite(count) else "unknown" for count in counts]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def first_padded_position(loader: Any) -> int | None:
    """The position, among this rank's samples of ``loader`` in one epoch, from which a ``DistributedSampler``
    repeats samples to give every rank as many; ``None`` when it pads nothing (or the sampler is not one).

    ``DistributedSampler`` appends the padding to the end of the (shuffled or not) index list and deals position
    ``p`` to rank ``p % num_replicas``, so rank ``r``'s sample ``i`` is padding when ``r + i * num_replicas`` is
    past the dataset.

    >>> sampler = DistributedSampler(range(51), num_replicas=2, rank=1, shuffle=False)
    >>> loader = torch.utils.data.DataLoader(range(51), batch_size=16, sampler=sampler)
    >>> first_padded_position(loader)  # rank 1's 26th sample repeats sample 0
    25
    """
    sampler = getattr(loader, "sampler", None)
    batch_sampler = getattr(loader, "batch_sampler", None)
    if isinstance(batch_sampler, BatchSampler):
        sampler = batch_sampler.sampler
    if not isinstance(sampler, DistributedSampler) or sampler.drop_last:
        return None
    size = len(sampler.dataset)  # type: ignore[arg-type]
    first = math.ceil(max(size - sampler.rank, 0) / sampler.num_replicas)
    return first if first < sampler.num_samples else None


def has_ids(batch_dict: NDict) -> bool:
    """Whether the batch holds sample ids (one of :data:`ID_KEYS`)."""
    return any(key in batch_dict for key in ID_KEYS)


def num_rows(batch_dict: NDict) -> int:
    """The number of samples in a batch: its ids, else the first dimension of its first tensor or array value."""
    if type(batch_dict) is NDict:  # every training step: plain dict lookups (ids are leaves)
        for key in ID_KEYS:
            ids = dict.get(batch_dict, key)
            if ids is not None:
                return len(ids)
    for key in ID_KEYS:
        if key in batch_dict:
            return len(batch_dict[key])
    for key in batch_dict.keypaths():
        value = batch_dict[key]
        if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim >= 1:
            return int(value.shape[0])
    raise ValueError(
        f"cannot tell how many samples the batch holds: no sample ids ({list(ID_KEYS)}) and no tensor; keys there: "
        f"{sorted(batch_dict.keypaths())}"
    )


def first_rows(batch_dict: NDict, rows: int, kept: int) -> NDict:
    """A batch of the first ``kept`` of the ``rows`` samples: every value with ``rows`` entries along its first
    dimension is cut, the others (the global step, per-batch values) kept as they are.

    >>> batch = NDict({"data.x": torch.zeros(3, 2), "data.sample_id": ["a", "b", "c"], "global_step": 7})
    >>> cut = first_rows(batch, 3, 2)
    >>> cut["data.x"].shape, cut["data.sample_id"], cut["global_step"]
    (torch.Size([2, 2]), ['a', 'b'], 7)
    """
    cut: dict[str, Any] = {}
    for key in batch_dict.keypaths():
        value = batch_dict[key]
        per_sample = (isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim >= 1 and value.shape[0] == rows) or (
            isinstance(value, (list, tuple)) and len(value) == rows
        )
        cut[key] = value[:kept] if per_sample else value
    return NDict(cut)
