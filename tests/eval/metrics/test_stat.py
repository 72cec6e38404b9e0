"""MetricUniqueValues: FuseMedML's (value, count) list, NaN grouping, ids, and the evaluator."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from fuse.eval import (
    EvaluatorDefault,
    GroupAnalysis,
    MetricUniqueValues,
    unique_values,
)


def test_counts_in_order_of_first_appearance() -> None:
    values = ["b", "a", "b", "c", "b", "a"]
    assert unique_values(values) == [("b", 3), ("a", 2), ("c", 1)]
    assert unique_values(values) == list(Counter(values).items())  # FuseMedML's result
    assert unique_values([]) == []


def test_numpy_scalars_become_python_values() -> None:
    result = unique_values(np.array([3, 1, 3]))
    assert result == [(3, 2), (1, 1)]
    assert all(type(value) is int for value, _ in result)
    assert unique_values(np.array([True, False, True])) == [(True, 2), (False, 1)]


def test_every_nan_is_one_value() -> None:
    result = unique_values(np.array([1.0, np.nan, 2.0, np.nan, float("nan")]))
    assert result[0] == (1.0, 1)
    assert np.isnan(result[1][0])
    assert result[1][1] == 3
    assert result[2] == (2.0, 1)
    assert len(result) == 3  # Counter would count three different NaN objects separately


def test_unhashable_values_raise() -> None:
    column = np.empty(2, dtype=object)
    column[:] = [np.array([1, 2]), np.array([3])]
    with pytest.raises(TypeError, match="sample #0 holds a ndarray"):
        unique_values(column)


def test_through_the_evaluator() -> None:
    frame = pd.DataFrame(
        {"id": range(7), "label": [2, 0, 2, 1, 2, 0, np.nan], "site": ["x", "y", "x", "y", "x", "y", "x"]}
    )
    metrics = {
        "label_values": MetricUniqueValues(key="label"),
        "per_site": GroupAnalysis(MetricUniqueValues(key="label"), group="site", compute_group_stats=False),
    }
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics=metrics)
    counts = results["metrics.label_values"]
    assert counts[:3] == [(2.0, 3), (0.0, 2), (1.0, 1)]
    assert np.isnan(counts[3][0])
    assert counts[3][1] == 1
    assert results["metrics.per_site.y"] == [(0.0, 2), (1.0, 1)]
    subset = EvaluatorDefault().eval(ids=[3, 1, 0], data=frame, metrics={"v": MetricUniqueValues(key="site")})
    assert sorted(subset["metrics.v"]) == [("x", 1), ("y", 2)]
