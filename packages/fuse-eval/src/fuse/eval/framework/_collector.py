"""``MetricCollector``: gathers the values a metric needs, once, into columnar numpy arrays indexed by id."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fuse.core import NDict, NDictView, to_numpy, uncollate
from fuse.eval.framework._arrays import Ids, column, id_array, id_index, positions_of

__all__ = ["MetricCollector"]


GatherFunc = Callable[[dict[str, list[Any]]], dict[str, list[Any]]]

_ABSENT = object()


class MetricCollector:
    """Collects ``name -> key`` values from batches (``collect``) or a DataFrame (``set``), and the sample ids.

    Values are kept as one numpy array per name; ids are indexed once, so ``get(ids)`` (any order, repeats
    allowed, as in a bootstrap) is a single fancy-indexing step.

    :param pre_collect_process_func: ``f(sample: NDict) -> NDict`` applied to every sample before picking keys.
    :param post_collect_process_func: ``f(**picked) -> dict | value`` applied to every sample's picked values;
        its dict (or ``{"post_args": value}``) is what gets collected.
    :param batch_pre_collect_process_func: ``f(batch) -> batch`` applied to every batch.
    :param batch_post_collect_process_func: ``f(**picked_batch) -> dict`` applied to every batch's picked values.
    :param post_keys_to_collect: the names a post-collect function returns (default: all of them).
    :param collect_distributed: apply ``gather_func`` to what the batches collected (distributed training).
    :param collect_ids: collect ids from the first of ``id``, ``data.sample_id``, ``sample_id`` present as a value
        (in an ``NDict``, a key that is only the prefix of others, such as ``id`` of ``id.site``, is not an id column).
    :param gather_func: ``f({name: list of local values, "id": ids}) -> same, gathered from all ranks``;
        fuse-dl provides one for DDP, so this package never imports torch. It runs once, on everything the
        batches collected, when the collected data is first read (``eval``, ``get``): one collective per metric
        per epoch, as torchmetrics syncs at ``compute``, so every rank must read (evaluate) it.
    :param keys_to_collect: ``name=key`` pairs, e.g. ``pred="model.output.head_0"``.

    >>> collector = MetricCollector(pred="pred", target="target")
    >>> collector.collect({"id": ["a", "b"], "pred": [0.2, 0.9], "target": [0, 1]})
    >>> collector.get(["b", "b", "a"])["pred"].tolist()
    [0.9, 0.9, 0.2]
    """

    DEFAULT_ID_KEYS = ("id", "data.sample_id", "sample_id")

    def __init__(
        self,
        pre_collect_process_func: Callable[[NDict], Any] | None = None,
        post_collect_process_func: Callable[..., Any] | None = None,
        batch_pre_collect_process_func: Callable[[NDict], Any] | None = None,
        batch_post_collect_process_func: Callable[..., Any] | None = None,
        post_keys_to_collect: Sequence[str] | None = None,
        collect_distributed: bool = True,
        collect_ids: bool = True,
        gather_func: GatherFunc | None = None,
        **keys_to_collect: str,
    ) -> None:
        self._pre = pre_collect_process_func
        self._post = post_collect_process_func
        self._batch_pre = batch_pre_collect_process_func
        self._batch_post = batch_post_collect_process_func
        self._post_keys = list(post_keys_to_collect) if post_keys_to_collect is not None else None
        self._collect_distributed = collect_distributed
        self._collect_ids = collect_ids
        self._gather = gather_func
        self._drop_repeated_ids = False
        self._keys_to_collect = dict(keys_to_collect)
        self.reset()

    def set_distributed_gather(self, gather_func: GatherFunc | None, *, drop_repeated_ids: bool = True) -> None:
        """Gather what the batches collected from all ranks with ``gather_func`` (unless a gather function was
        given to the constructor; once, when the data is first read) and, with ``drop_repeated_ids``, keep only
        the first sample of each id: a distributed sampler pads the last batches with repeated samples so that
        every rank gets as many. Called by fuse-dl under DDP; without it, repeated ids are an error.
        ``gather_func=None`` only sets ``drop_repeated_ids`` (one process whose sampler repeats samples)."""
        if gather_func is not None and self._gather is None:
            self._gather = gather_func
        self._drop_repeated_ids = drop_repeated_ids

    def reset(self) -> None:
        self._values: dict[str, list[np.ndarray | list[Any]]] = {}  # per name, one chunk per batch
        self._ids: list[Any] = []  # this process's, in collection order
        self._from_batches = False  # collected by collect() (gathered under DDP), not set() (already whole)
        self._final_ids: list[Any] = []  # after gathering and dropping repeats
        self._arrays: dict[str, np.ndarray] | None = None
        self._index: pd.Index | None = None

    # ------------------------------------------------------------------ collecting
    def collect(self, batch: Mapping[str, Any]) -> None:
        self._collect(batch, distributed=True)

    def set(self, data: pd.DataFrame) -> None:
        """Collect everything from a DataFrame (one row per sample; columns are keypaths), as one batch."""
        self.reset()
        self._collect({str(name): _frame_column(data[name]) for name in data.columns}, distributed=False)

    def _collect(self, batch: Mapping[str, Any], distributed: bool) -> None:
        """The one collection path: batch pre-process, per-sample pre/post-process (if any), batch post-process,
        distributed gather (batches only), then append.
        """
        batch = batch if type(batch) is NDict or isinstance(batch, NDict) else NDict(batch)  # type(): every step
        if self._batch_pre is not None:
            batch = NDict(self._batch_pre(batch))
        ids: Any
        if self._pre is not None or self._post is not None:
            per_name: dict[str, list[Any]] = {}
            id_list = []
            for raw_sample in uncollate(batch):
                sample = NDict(self._pre(raw_sample)) if self._pre is not None else raw_sample
                picked = {
                    name: to_numpy(self._pick(sample, key, "sample")) for name, key in self._keys_to_collect.items()
                }
                if self._post is not None:
                    picked = self._as_dict(self._post(**picked), per_sample=True)
                for name, value in picked.items():
                    per_name.setdefault(name, []).append(value)
                sample_id = self._ids_of(sample)
                if sample_id is not None:
                    id_list.append(sample_id)
            values: dict[str, Any] = {name: column(items) for name, items in per_name.items()}
            ids = id_list or None
        else:
            values = {name: self._pick(batch, key, "batch") for name, key in self._keys_to_collect.items()}
            ids = self._ids_of(batch)
        if self._batch_post is not None:
            values = self._as_dict(self._batch_post(**values), per_sample=False)
        columns: dict[str, np.ndarray | list[Any]] = {name: _chunk(value) for name, value in values.items()}
        self._from_batches = distributed
        self._extend(columns, ids)

    def _as_dict(self, output: Any, per_sample: bool) -> dict[str, Any]:
        """What a post-collect function returned -> the columns to collect. Without ``post_keys_to_collect`` a
        per-sample result is kept whole under ``post_args`` (FuseMedML), whatever its type; a batch result that is a
        dict gives one column per key.
        """
        if not isinstance(output, Mapping) or (per_sample and self._post_keys is None):
            return {"post_args": output}
        if self._post_keys is None:
            return dict(output)
        return {name: output[name] for name in self._post_keys}

    @staticmethod
    def _pick(source: Any, key: str, what: str) -> Any:
        try:
            return source[key]
        except KeyError:
            keys = list(source.columns) if isinstance(source, pd.DataFrame) else list(source.keys())
            raise KeyError(f"key {key!r} to collect is missing in the {what}; available keys: {keys[:20]}") from None

    def _ids_of(self, source: Mapping[str, Any]) -> Any:
        if not self._collect_ids:
            return None
        for key in self.DEFAULT_ID_KEYS:
            # ids are a leaf, never the prefix of other keys ("id" of "id.site"): in an NDict, one lookup
            if type(source) is NDict:
                ids = dict.get(source, key, _ABSENT)
            else:  # a view or an NDict subclass returns a view for a prefix: that is not an id column
                ids = source.get(key, _ABSENT)
                if isinstance(ids, NDictView):
                    ids = _ABSENT
            if ids is not _ABSENT:
                return to_numpy(ids)
        return None

    def _extend(self, columns: Mapping[str, np.ndarray | list[Any]], ids: Any) -> None:
        for name, chunk in columns.items():
            self._values.setdefault(name, []).append(chunk)
        if ids is not None:
            self._ids.extend(ids)
        self._arrays = None
        self._index = None

    # ------------------------------------------------------------------ reading
    def _finalize(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            arrays = {name: _join(chunks) for name, chunks in self._values.items()}
            ids = list(self._ids)
            lengths = {name: len(array) for name, array in arrays.items()}
            if ids and any(n != len(ids) for n in lengths.values()):
                raise ValueError(f"collected {len(ids)} ids but {lengths} values")
            if self._from_batches and self._collect_distributed and self._gather is not None:
                # once for everything collected: a collective per batch would cost a round trip per step
                local: dict[str, list[Any]] = {name: list(array) for name, array in arrays.items()}
                gathered = self._gather({**local, **({"id": ids} if ids else {})})
                ids = list(gathered.pop("id", []))
                arrays = {
                    name: _join([values if isinstance(values, np.ndarray) else list(values)])
                    for name, values in gathered.items()
                }
            if self._drop_repeated_ids and ids:
                first = ~pd.Index(id_array(ids), tupleize_cols=False).duplicated(keep="first")
                if not first.all():
                    arrays = {name: array[first] for name, array in arrays.items()}
                    ids = [sample_id for sample_id, keep in zip(ids, first, strict=True) if keep]
            self._arrays, self._final_ids = arrays, ids
            self._index = id_index(ids, "the collected data") if ids else None
        return self._arrays

    def get_ids(self) -> list[Any] | None:
        """The collected ids in collection order, or ``None`` when none were collected."""
        self._finalize()  # gathers them from all ranks, drops repeats
        return list(self._final_ids) if self._final_ids else None

    def get(self, ids: Sequence[Hashable] | np.ndarray | None = None) -> dict[str, np.ndarray]:
        """``{name: array}`` for all samples in collection order, or for ``ids`` in that order (repeats allowed)."""
        arrays = self._finalize()
        if ids is None:
            return dict(arrays)
        if self._index is None:
            raise ValueError("no ids were collected, so values cannot be selected by id: add an 'id' key to the data")
        positions = positions_of(self._index, ids, "collected data")
        return {name: array[positions] for name, array in arrays.items()}

    def positions(self, ids: Sequence[Hashable] | np.ndarray) -> np.ndarray:
        """Positions of ``ids`` in collection order."""
        self._finalize()
        if self._index is None:
            raise ValueError("no ids were collected: add an 'id' key to the data")
        return positions_of(self._index, ids, "collected data")

    def eval(self, results: Mapping[str, Any] | None = None, ids: Ids | None = None) -> dict[str, np.ndarray]:
        """The collected values, as :meth:`get` (a collector evaluates to its data; ``results`` is unused)."""
        return self.get(ids)


def _frame_column(values: pd.Series) -> np.ndarray | list[Any]:
    """A DataFrame column as collected: numbers, booleans and datetimes stay one numpy array, anything else a list."""
    if values.dtype.kind in "biufcmM":
        array: np.ndarray = values.to_numpy()
        return array
    return values.tolist()


def _chunk(value: Any) -> np.ndarray | list[Any]:
    """One batch's values of one name: a numeric (n, ...) array kept whole, or a list of per-sample values."""
    value = to_numpy(value)
    if isinstance(value, np.ndarray) and value.dtype != object and value.ndim >= 1:
        return value
    if isinstance(value, (str, bytes)) or np.ndim(value) == 0:  # one value for the batch (e.g. a per-batch sum)
        return [value.item() if isinstance(value, np.ndarray) else value]
    return list(value)


def _join(chunks: list[np.ndarray | list[Any]]) -> np.ndarray:
    """The batches' chunks of one name as one column: concatenated when they are arrays of one per-sample shape
    (no per-value Python work: fast for millions of samples), else through :func:`column`.
    """
    arrays = [chunk for chunk in chunks if isinstance(chunk, np.ndarray)]
    if len(arrays) == len(chunks) and len({array.shape[1:] for array in arrays}) <= 1:
        return np.concatenate(arrays) if arrays else np.empty(0)
    return column([value for chunk in chunks for value in chunk])
