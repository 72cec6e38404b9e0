"""Metric base classes and the kwargs routing rule shared by every metric."""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from fuse.eval.framework._arrays import Ids, sample_ids
from fuse.eval.framework._collector import GatherFunc, MetricCollector
from fuse.eval.framework._inputs import InputError
from fuse.eval.framework._warnings import user_stacklevel

__all__ = [
    "MetricBase",
    "MetricDefault",
    "MetricPerBatchDefault",
    "MetricPerSampleDefault",
    "MetricWithCollectorBase",
    "WrappingMetric",
]


RESULTS_PREFIX = "results:"


T = TypeVar("T")


class MetricBase(ABC):
    """A metric: it collects data (from batches or a DataFrame), then evaluates on a set of ids."""

    # active only inside ``resampling()``: values that stay the same for every block of one bootstrap run
    _resampling_cache: dict[Hashable, Any] | None = None

    @contextmanager
    def resampling(self) -> Iterator[None]:
        """Scope of one bootstrap run: ``eval_resampled`` is called block after block with the same ids and
        results, so what depends only on them (aligned arguments, sorts) may be computed once. Nothing outlives
        the scope, so a later evaluation never sees stale values.
        """
        previous = self._resampling_cache
        self._resampling_cache = {}
        try:
            yield
        finally:
            self._resampling_cache = previous

    def cached_for_resampling(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, remembered under ``key`` while a :meth:`resampling` scope is active."""
        cache = self._resampling_cache
        if cache is None:
            return compute()
        if key not in cache:
            cache[key] = compute()
        value: T = cache[key]
        return value

    @abstractmethod
    def collect(self, batch: Mapping[str, Any]) -> None:
        """Collect what the metric needs from one batch dict."""

    def set_distributed_gather(self, gather_func: GatherFunc | None, *, drop_repeated_ids: bool = True) -> None:
        """Under distributed training, gather each collected batch from all ranks with ``gather_func`` and keep the
        first sample of each repeated id (fuse-dl calls this under DDP). Metrics built on fuse-eval's collectors
        implement it; a custom metric that collects data its own way overrides it, or sees only its rank's data
        (this default warns so).
        """
        warnings.warn(
            f"{type(self).__name__} does not implement set_distributed_gather: under distributed training it "
            "evaluates only the samples of its own rank",
            RuntimeWarning,
            stacklevel=user_stacklevel(),
        )

    @abstractmethod
    def set(self, data: pd.DataFrame) -> None:
        """Collect everything at once from a DataFrame (one row per sample)."""

    @abstractmethod
    def reset(self) -> None:
        """Forget everything collected."""

    @abstractmethod
    def eval(self, results: Mapping[str, Any] | None = None, ids: Ids | None = None) -> Any:
        """Evaluate on ``ids`` (all collected samples when ``None``); ``results`` holds earlier metrics' results."""

    def eval_resampled(self, results: Mapping[str, Any] | None, ids: np.ndarray, rows: np.ndarray) -> list[Any]:
        """Evaluate on many resamplings of ``ids`` at once: row ``r`` of ``rows`` holds positions into ``ids``.

        Used by bootstraps. This default evaluates each row in turn; metrics with a vectorised form (rank and
        threshold metrics) override it.
        """
        return [self.eval(results, ids[row]) for row in rows]


class MetricWithCollectorBase(MetricBase):
    """Base for metrics that collect data. Keyword arguments are routed by value:

    - a ``str`` is a key to collect (``pred="model.output.head_0"``);
    - a ``str`` starting with ``"results:"`` is read from an earlier metric's results (a ``PerSampleData`` is
      realigned to the ids being evaluated), e.g. ``"results:metrics.apply_thresh.cls_pred"``;
    - any other value except ``None`` is a constant argument; ``None`` is ignored.

    String constants must therefore be bound with ``functools.partial`` on the metric function.
    """

    def __init__(
        self,
        pre_collect_process_func: Callable[..., Any] | None = None,
        post_collect_process_func: Callable[..., Any] | None = None,
        batch_pre_collect_process_func: Callable[..., Any] | None = None,
        batch_post_collect_process_func: Callable[..., Any] | None = None,
        post_keys_to_collect: Sequence[str] | None = None,
        external_data_collector: MetricCollector | None = None,
        collect_ids: bool = True,
        extract_ids: bool = False,
        collect_distributed: bool = True,
        gather_func: GatherFunc | None = None,
        **kwargs: Any,
    ) -> None:
        self._keys_to_collect = {
            name: value
            for name, value in kwargs.items()
            if isinstance(value, str) and not value.startswith(RESULTS_PREFIX)
        }
        self._keys_from_results = {
            name: value[len(RESULTS_PREFIX) :]
            for name, value in kwargs.items()
            if isinstance(value, str) and value.startswith(RESULTS_PREFIX)
        }
        self._value_args = {
            name: value for name, value in kwargs.items() if value is not None and not isinstance(value, str)
        }
        self._extract_ids = extract_ids
        self._external_collector = external_data_collector is not None
        self._collector = external_data_collector or MetricCollector(
            pre_collect_process_func=pre_collect_process_func,
            post_collect_process_func=post_collect_process_func,
            batch_pre_collect_process_func=batch_pre_collect_process_func,
            batch_post_collect_process_func=batch_post_collect_process_func,
            post_keys_to_collect=post_keys_to_collect,
            collect_distributed=collect_distributed,
            collect_ids=collect_ids,
            gather_func=gather_func,
            **self._keys_to_collect,
        )

    def collect(self, batch: Mapping[str, Any]) -> None:
        if not self._external_collector:
            self._collector.collect(batch)

    def set_distributed_gather(self, gather_func: GatherFunc | None, *, drop_repeated_ids: bool = True) -> None:
        self._collector.set_distributed_gather(gather_func, drop_repeated_ids=drop_repeated_ids)

    def set(self, data: pd.DataFrame) -> None:
        if not self._external_collector:
            self._collector.set(data)

    def reset(self) -> None:
        if not self._external_collector:
            self._collector.reset()

    @contextmanager
    def naming_inputs(self, ids: Ids | None) -> Iterator[None]:
        """Inside, an input error of the metric function (which names an argument and row positions) is raised
        again naming the key the argument was collected from and the ids of those rows (``ids``, or all collected
        ids when ``None``, the order the arguments were extracted in).
        """
        try:
            yield
        except InputError as error:
            raise error.named(self._source_of(error.argument), self._ids_for_messages(ids)) from None

    def _source_of(self, argument: str) -> str | None:
        """Where an argument comes from, for messages: ``key 'x'`` or ``results:y``."""
        if argument in self._keys_to_collect:
            return f"key {self._keys_to_collect[argument]!r}"
        if argument in self._keys_from_results:
            return f"{RESULTS_PREFIX}{self._keys_from_results[argument]}"
        return None

    def _ids_for_messages(self, ids: Ids | None) -> Ids | None:
        if ids is not None:
            return ids
        try:
            return self._collector.get_ids()
        except ValueError:  # the collector's own consistency error: messages fall back to row positions
            return None

    def _extract_arguments(self, results: Mapping[str, Any] | None, ids: Ids | None) -> dict[str, Any]:
        """The keyword arguments for the metric function, aligned with ``ids`` (computed once per bootstrap run)."""
        if self._resampling_cache is None:
            return self._aligned_arguments(results, ids)
        cached = self._resampling_cache.get("arguments")
        if cached is None or cached[0] is not ids or cached[1] is not results:
            cached = (ids, results, self._aligned_arguments(results, ids))  # holding ids/results keeps `is` sound
            self._resampling_cache["arguments"] = cached
        arguments: dict[str, Any] = dict(cached[2])
        return arguments

    def _aligned_arguments(self, results: Mapping[str, Any] | None, ids: Ids | None) -> dict[str, Any]:
        arguments: dict[str, Any] = dict(self._collector.get(ids))
        for name, key in self._keys_from_results.items():
            if results is None or key not in results:
                raise KeyError(
                    f"{type(self).__name__} argument {name!r} reads {RESULTS_PREFIX}{key}, which no earlier metric "
                    "produced; metrics run in order, so list the producing metric first"
                )
            value = results[key]
            arguments[name] = value(ids) if callable(value) else value
        arguments.update(self._value_args)
        if self._extract_ids:
            arguments["ids"] = ids if ids is not None else self._collector.get_ids()
        return arguments


class MetricDefault(MetricWithCollectorBase):
    """A metric that calls ``metric_func(**arguments)`` on the collected values.

    >>> import numpy as np
    >>> metric = MetricDefault(lambda pred, target: float(np.mean(pred == target)), pred="pred", target="target")
    >>> metric.collect({"id": [1, 2, 3], "pred": [0, 1, 1], "target": [0, 1, 0]})
    >>> round(metric.eval(), 3)
    0.667
    """

    def __init__(
        self, metric_func: Callable[..., Any], pred: str | None = None, target: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(pred=pred, target=target, **kwargs)
        self._metric_func = metric_func

    def eval(self, results: Mapping[str, Any] | None = None, ids: Ids | None = None) -> Any:
        with self.naming_inputs(ids):
            return self._metric_func(**self._extract_arguments(results, ids))


class MetricPerSampleDefault(MetricWithCollectorBase):
    """A metric computed per sample while collecting (only the per-sample results are kept), then aggregated.

    ``metric_per_sample_func(**picked)`` runs on every sample's collected values (e.g. one segmentation mask
    pair), so large inputs are never stored. ``eval`` calls ``result_aggregate_func`` with the per-sample
    results of the evaluated ids, in id order: a sequence of the function's return values, or, when
    ``post_keys_to_collect`` names the keys of a dict result, a dict of arrays. Bootstraps and group analysis
    therefore resample per-sample results, not inputs.

    >>> import numpy as np
    >>> metric = MetricPerSampleDefault(
    ...     pred="pred", target="target",
    ...     metric_per_sample_func=lambda pred, target: float(np.mean(pred == target)),
    ...     result_aggregate_func=lambda per_sample: float(np.mean(per_sample)),
    ... )
    >>> metric.collect({"id": ["a", "b"], "pred": [np.array([1, 1]), np.array([0, 1])], "target": [np.ones(2), np.ones(2)]})
    >>> metric.eval(), metric.eval(ids=["a", "a"])
    (0.75, 1.0)
    """

    def __init__(
        self,
        pred: str | None,
        target: str | None,
        metric_per_sample_func: Callable[..., Any],
        result_aggregate_func: Callable[..., Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(pred=pred, target=target, post_collect_process_func=metric_per_sample_func, **kwargs)
        self._result_aggregate_func = result_aggregate_func
        self._per_sample_keys = kwargs.get("post_keys_to_collect")

    def eval(self, results: Mapping[str, Any] | None = None, ids: Ids | None = None) -> Any:
        arguments = self._extract_arguments(results, ids)
        if self._per_sample_keys is None:
            return self._result_aggregate_func(arguments["post_args"])
        return self._result_aggregate_func(arguments)


class MetricPerBatchDefault(MetricWithCollectorBase):
    """A metric computed per batch while collecting (e.g. sums and counts), then aggregated over batches.

    ``metric_per_batch_func_pre_collect(batch) -> dict`` runs on every raw batch before keys are picked, and
    ``metric_per_batch_func(**picked) -> dict`` after; each returns one value (or a length-1 array) per
    collected name for the batch. ``eval`` calls ``result_aggregate_func(**{name: per-batch values})``.
    Per-batch values have no sample ids, so ids are not collected and ``eval`` takes no ``ids``.

    >>> import numpy as np
    >>> metric = MetricPerBatchDefault(
    ...     total="total", count="count",
    ...     metric_per_batch_func=None,
    ...     metric_per_batch_func_pre_collect=lambda batch: {"total": [np.sum(batch["x"])], "count": [len(batch["x"])]},
    ...     result_aggregate_func=lambda total, count: float(np.sum(total) / np.sum(count)),
    ... )
    >>> metric.collect({"x": [1.0, 2.0]}); metric.collect({"x": [6.0]})
    >>> metric.eval()
    3.0
    """

    def __init__(
        self,
        *,
        metric_per_batch_func: Callable[..., Any] | None,
        result_aggregate_func: Callable[..., Any],
        metric_per_batch_func_pre_collect: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("collect_ids", False)
        super().__init__(
            batch_post_collect_process_func=metric_per_batch_func,
            batch_pre_collect_process_func=metric_per_batch_func_pre_collect,
            **kwargs,
        )
        self._result_aggregate_func = result_aggregate_func

    def eval(self, results: Mapping[str, Any] | None = None, ids: Ids | None = None) -> Any:
        if ids is not None:
            raise ValueError(
                f"{type(self).__name__} aggregates per-batch values, which cannot be selected by sample id; it cannot "
                "run inside CI, GroupAnalysis or Filter, nor on a subset of ids"
            )
        return self._result_aggregate_func(**self._extract_arguments(results, None))


class WrappingMetric(MetricWithCollectorBase):
    """A metric around another one (``CI``, ``GroupAnalysis``, ``Filter``; ``PairedBootstrap`` wraps two): collects
    its own keys (stratum, group, filter) and forwards collection to the wrapped metrics.
    """

    def __init__(self, metric: MetricBase, *, also_wrapped: Sequence[MetricBase] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._metric = metric
        self._wrapped = (metric, *also_wrapped)

    def collect(self, batch: Mapping[str, Any]) -> None:
        for metric in self._wrapped:
            metric.collect(batch)
        super().collect(batch)

    def set_distributed_gather(self, gather_func: GatherFunc | None, *, drop_repeated_ids: bool = True) -> None:
        for metric in self._wrapped:
            metric.set_distributed_gather(gather_func, drop_repeated_ids=drop_repeated_ids)
        super().set_distributed_gather(gather_func, drop_repeated_ids=drop_repeated_ids)

    def set(self, data: pd.DataFrame) -> None:
        for metric in self._wrapped:
            metric.set(data)
        super().set(data)

    def reset(self) -> None:
        for metric in self._wrapped:
            metric.reset()
        super().reset()

    def _ids_array(self, ids: Ids | None) -> np.ndarray:
        """The ids to evaluate (all collected when ``None``) as a 1-d object array."""
        if ids is None:
            ids = self._collector.get_ids()
        return sample_ids(ids, type(self).__name__)

    def _ids_and(self, key: str, ids: Ids | None) -> tuple[np.ndarray, np.ndarray]:
        """The ids to evaluate and this wrapper's collected ``key`` aligned with them."""
        id_array = self._ids_array(ids)
        return id_array, self._collector.get(id_array)[key]
