"""Metric base classes and the kwargs routing rule shared by every metric."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from fuse.eval._collector import GatherFunc, MetricCollector

__all__ = ["MetricBase", "MetricDefault", "MetricWithCollectorBase", "WrappingMetric"]

RESULTS_PREFIX = "results:"
# sample ids: a sequence, or a 1-d (object) array as bootstraps pass them
Ids = Sequence[Hashable] | np.ndarray


class MetricBase(ABC):
    """A metric: it collects data (from batches or a DataFrame), then evaluates on a set of ids."""

    @abstractmethod
    def collect(self, batch: Mapping[str, Any]) -> None:
        """Collect what the metric needs from one batch dict."""

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
        from fuse.eval._collector import MetricCollector

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

    def set(self, data: pd.DataFrame) -> None:
        if not self._external_collector:
            self._collector.set(data)

    def reset(self) -> None:
        if not self._external_collector:
            self._collector.reset()

    def _extract_arguments(self, results: Mapping[str, Any] | None, ids: Ids | None) -> dict[str, Any]:
        """The keyword arguments for the metric function, aligned with ``ids``."""
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
        return self._metric_func(**self._extract_arguments(results, ids))


class WrappingMetric(MetricWithCollectorBase):
    """A metric around another one (``CI``, ``GroupAnalysis``, ``Filter``): collects its own keys (stratum, group,
    filter) and forwards collection to the wrapped metric.
    """

    def __init__(self, metric: MetricBase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._metric = metric

    def collect(self, batch: Mapping[str, Any]) -> None:
        self._metric.collect(batch)
        super().collect(batch)

    def set(self, data: pd.DataFrame) -> None:
        self._metric.set(data)
        super().set(data)

    def reset(self) -> None:
        self._metric.reset()
        super().reset()

    def _ids_array(self, ids: Ids | None) -> np.ndarray:
        """The ids to evaluate (all collected when ``None``) as a 1-d object array."""
        if ids is None:
            ids = self._collector.get_ids()
        if ids is None:
            raise ValueError(f"{type(self).__name__} needs sample ids: add an 'id' key (or data.sample_id) to the data")
        id_array = np.empty(len(ids), dtype=object)
        id_array[:] = list(ids)
        return id_array

    def _ids_and(self, key: str, ids: Ids | None) -> tuple[np.ndarray, np.ndarray]:
        """The ids to evaluate and this wrapper's collected ``key`` aligned with them."""
        id_array = self._ids_array(ids)
        return id_array, self._collector.get(id_array)[key]
