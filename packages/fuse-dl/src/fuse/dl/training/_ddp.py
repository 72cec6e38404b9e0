"""What :class:`LightningModuleDefault` needs under DDP: the gather of every rank's metric columns and predictions
(each sample once), a check that every rank runs as many batches, where a ``DistributedSampler`` starts padding a
rank with repeated samples, and batch rows."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DistributedSampler

from fuse.core import NDict

__all__ = [
    "all_gather_columns",
    "check_equal_batch_counts",
    "first_padded_position",
    "first_rows",
    "gather_predictions",
    "has_ids",
    "is_distributed",
    "num_rows",
]

ID_KEYS = ("data.sample_id", "id", "sample_id")


def check_equal_batch_counts(stage: str, counts: Sequence[int | float]) -> None:
    """Raise on every rank when the ranks would run different numbers of ``stage`` batches (``counts``: this rank's
    per dataloader). One small collective; nothing in one process. Unequal counts would leave the ranks with more
    batches waiting in a collective (DDP's gradient reduction, a logged value synchronised across ranks) for ranks
    that have finished, until the process group's timeout (30 minutes by default), with no message.

    >>> check_equal_batch_counts("validation", [4])  # one process: nothing to compare
    """
    if not is_distributed():
        return
    parts: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, [float(count) for count in counts])
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


def is_distributed() -> bool:
    """Whether this process is one of several ranks of an initialised ``torch.distributed`` process group.

    >>> is_distributed()
    False
    """
    distributed = torch.distributed
    return distributed.is_available() and distributed.is_initialized() and distributed.get_world_size() > 1


def all_gather_columns(columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """fuse-eval's collector gather hook under ``torch.distributed``: every rank's values of what a metric
    collected, concatenated in rank order (unchanged when not distributed). fuse-eval calls it once per metric
    when the metric is evaluated (not per batch), so every rank must evaluate. :class:`LightningModuleDefault`
    installs it on its metrics under DDP, with dropping of the samples a distributed sampler repeats. A rank that
    collected nothing contributes no values.

    >>> all_gather_columns({"id": ["a"], "pred": [0.5]})  # one process: the values as they are
    {'id': ['a'], 'pred': [0.5]}
    """
    if not is_distributed():
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
    if not is_distributed():
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
