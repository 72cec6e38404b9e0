"""Subgroup analysis (``GroupAnalysis``) and sample filtering (``Filter``) around another metric."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fuse.eval.framework._arrays import Ids
from fuse.eval.framework._metric_base import MetricBase, WrappingMetric
from fuse.eval.framework._warnings import user_stacklevel

__all__ = ["Filter", "GroupAnalysis"]


class GroupAnalysis(WrappingMetric):
    """Evaluate a metric separately on each value of a group key (site, sex, fold, ...), plus mean/std/median.

    The result holds ``str(group_value)`` -> the metric's result for that group, in order of first
    appearance, then ``"mean"``, ``"std"`` (ddof=0) and ``"median"`` over groups (per key, as
    ``"<key>.mean"``..., for dict results). Samples whose group value is missing (NaN, None, ``pd.NA``) are
    evaluated together as one group named ``"<missing>"`` (:attr:`MISSING_GROUP`), which counts in the
    mean/std/median like any other group, with a warning giving their number.

    >>> import numpy as np
    >>> from fuse.eval import MetricAccuracy
    >>> metric = GroupAnalysis(MetricAccuracy(pred="pred", target="target"), group="site")
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": [1, 0, 1, 1], "target": [1, 0, 0, 1], "site": ["a", "a", np.nan, "b"]})
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     result = metric.eval()
    >>> str(caught[0].message)
    "GroupAnalysis: 1 of 4 samples have no 'site' value (NaN/None); they are evaluated together as group '<missing>'"
    >>> result
    {'a': 1.0, '<missing>': 0.0, 'b': 1.0, 'mean': 0.6666666666666666, 'std': 0.4714045207910317, 'median': 1.0}
    """

    MISSING_GROUP = "<missing>"

    def __init__(self, metric: MetricBase, group: str, compute_group_stats: bool = True, **kwargs: Any) -> None:
        super().__init__(metric, group=group, **kwargs)
        self._group_key = group
        self._compute_group_stats = compute_group_stats

    def eval(self, results: Mapping[str, Any] | None = None, ids: Ids | None = None) -> dict[str, Any]:
        id_array, groups = self._ids_and("group", ids)
        per_group: dict[str, Any] = {}
        for name, members in self._groups(groups):
            per_group[name] = self._metric.eval(results, id_array[members])
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

    def _groups(self, groups: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """(name, boolean mask) per group in order of first appearance; missing values form one group."""
        # values equal under == (1, 1.0, True) share a group, as with FuseMedML's comparison
        codes, uniques = pd.factorize(pd.Series(list(groups), dtype=object), use_na_sentinel=True)
        names = [str(value) for value in uniques]
        missing = codes == -1
        if missing.any():
            if self.MISSING_GROUP in names:
                raise ValueError(
                    f"GroupAnalysis: group key {self._group_key!r} has missing values and also the value "
                    f"{self.MISSING_GROUP!r}, the name given to the missing ones; rename that group or fill the "
                    "missing values"
                )
            warnings.warn(
                f"GroupAnalysis: {int(missing.sum())} of {len(codes)} samples have no {self._group_key!r} value "
                f"(NaN/None); they are evaluated together as group {self.MISSING_GROUP!r}",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
            codes = np.where(missing, len(uniques), codes)
            names.append(self.MISSING_GROUP)
        # codes are 0..k-1; np.unique's first positions, sorted, give the order of first appearance
        _, first = np.unique(codes, return_index=True)
        return [(names[code], codes == code) for code in np.argsort(first)]


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
