"""Subgroup analysis (``GroupAnalysis``) and sample filtering (``Filter``) around another metric."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fuse.eval._metric_base import Ids, MetricBase, WrappingMetric

__all__ = ["Filter", "GroupAnalysis"]


class GroupAnalysis(WrappingMetric):
    """Evaluate a metric separately on each value of a group key (site, sex, fold, ...), plus mean/std/median.

    The result holds ``str(group_value)`` -> the metric's result for that group, in order of first
    appearance, then ``"mean"``, ``"std"`` (ddof=0) and ``"median"`` over groups (per key, as
    ``"<key>.mean"``..., for dict results).
    """

    def __init__(self, metric: MetricBase, group: str, compute_group_stats: bool = True, **kwargs: Any) -> None:
        super().__init__(metric, group=group, **kwargs)
        self._compute_group_stats = compute_group_stats

    def eval(self, results: Mapping[str, Any] | None = None, ids: Ids | None = None) -> dict[str, Any]:
        id_array, groups = self._ids_and("group", ids)
        per_group: dict[str, Any] = {}
        for value in pd.unique(pd.Series(list(groups), dtype=object)):
            per_group[str(value)] = self._metric.eval(results, id_array[_equal(groups, value)])
        if not self._compute_group_stats or not per_group:
            return per_group
        group_results = list(per_group.values())
        stats: dict[str, Any] = {}
        if isinstance(group_results[0], Mapping):
            for key in group_results[0]:
                values = [result[key] for result in group_results]
                if all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
                    stats.update({f"{key}.{name}": value for name, value in _summary(values).items()})
        else:
            stats = _summary(group_results)
        return {**per_group, **stats}


def _equal(groups: np.ndarray, value: Any) -> np.ndarray:
    return np.fromiter((g == value for g in groups), dtype=bool, count=len(groups))


def _summary(values: Sequence[Any]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {"mean": float(np.mean(array)), "std": float(np.std(array)), "median": float(np.median(array))}


class Filter(WrappingMetric):
    """Evaluate a metric on the samples whose ``filter`` value is false (true means *exclude*, as in FuseMedML).

    :param cond: optional function mapping the collected filter value to the exclude flag.
    """

    def __init__(
        self, metric: MetricBase, filter: str, cond: Callable[[Any], bool] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(metric, filter=filter, **kwargs)
        self._cond = cond

    def eval(self, results: Mapping[str, Any] | None = None, ids: Ids | None = None) -> Any:
        id_array, flags = self._ids_and("filter", ids)
        exclude = np.fromiter((bool(self._cond(f) if self._cond else f) for f in flags), dtype=bool, count=len(flags))
        return self._metric.eval(results, id_array[~exclude])
