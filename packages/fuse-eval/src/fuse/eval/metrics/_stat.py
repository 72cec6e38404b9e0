"""Descriptive statistics of collected values: ``MetricUniqueValues`` (FuseMedML's, same result format)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from fuse.eval.framework._metric_base import MetricDefault
from fuse.eval.framework._plain_values import plain_scalar

__all__ = ["MetricUniqueValues", "unique_values"]


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def unique_values(values: Sequence[Any] | np.ndarray) -> list[tuple[Any, int]]:
    """``[(value, count), ...]`` in order of first appearance (FuseMedML's ``Counter`` result). Numpy scalars become
    Python values, and every NaN counts as one value (``float("nan")``).

    >>> unique_values(["b", "a", "b", "c", "b"])
    [('b', 3), ('a', 1), ('c', 1)]
    >>> unique_values([1.0, float("nan"), 1.0, float("nan")])
    [(1.0, 2), (nan, 2)]
    """
    plain = [plain_scalar(value) for value in values]
    nan_count = 0
    counter: Counter[Hashable] = Counter()
    order: list[Any] = []
    for position, value in enumerate(plain):
        if _is_nan(value):
            if nan_count == 0:
                order.append(_NAN)
            nan_count += 1
            continue
        if not isinstance(value, Hashable):
            raise TypeError(
                f"unique_values counts hashable values (numbers, strings, ...); sample #{position} holds a "
                f"{type(value).__name__}: {value!r:.60}"
            )
        if value not in counter:
            order.append(value)
        counter[value] += 1
    return [(float("nan"), nan_count) if value is _NAN else (value, counter[value]) for value in order]


_NAN = object()


class MetricUniqueValues(MetricDefault):
    """The distinct values of a key and how often each occurs (FuseMedML's ``MetricUniqueValues``):
    ``[(value, count), ...]`` in order of first appearance. See :func:`unique_values`.

    >>> metric = MetricUniqueValues(key="site")
    >>> metric.collect({"id": [0, 1, 2, 3], "site": ["A", "B", "A", "A"]})
    >>> metric.eval()
    [('A', 3), ('B', 1)]
    >>> metric.eval(ids=[1, 2])
    [('B', 1), ('A', 1)]
    """

    def __init__(self, key: str, **kwargs: Any) -> None:
        super().__init__(metric_func=_unique_values_of_key, pred=None, target=None, key=key, **kwargs)


def _unique_values_of_key(key: Sequence[Any] | np.ndarray) -> list[tuple[Any, int]]:
    return unique_values(key)
