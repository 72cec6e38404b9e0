"""Metric base classes: keyword routing, per-sample and per-batch metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from fuse.core import NDict
from fuse.eval import (
    EvaluatorDefault,
    MetricDefault,
    MetricPerBatchDefault,
    MetricPerSampleDefault,
    PerSampleData,
)


def test_routing_of_keyword_arguments() -> None:
    received = {}

    def func(**kwargs: Any) -> float:
        received.update(kwargs)
        return 0.0

    metric = MetricDefault(
        func, pred="pred", target=None, scale=2.0, thr="results:metrics.thr.cls_pred", extract_ids=True
    )
    frame = pd.DataFrame({"id": ["a", "b"], "pred": [0.1, 0.9]})
    metric.set(frame)
    results = NDict({"metrics.thr.cls_pred": PerSampleData([0, 1], ids=["a", "b"])})
    metric.eval(results, ["b", "a"])
    assert set(received) == {"pred", "scale", "thr", "ids"}
    assert received["pred"].tolist() == [0.9, 0.1]
    assert received["thr"].tolist() == [1, 0]  # realigned to the evaluated ids
    assert received["scale"] == 2.0
    with pytest.raises(KeyError, match="no earlier metric produced"):
        metric.eval(NDict(), None)


def _dice(pred: np.ndarray, target: np.ndarray) -> float:
    return float(2 * np.sum(pred & target) / (np.sum(pred) + np.sum(target)))


def test_per_sample_metric_keeps_only_results_and_follows_ids() -> None:
    rng = np.random.default_rng(3)
    masks = {f"s{i}": (rng.random((4, 4)) > 0.5, rng.random((4, 4)) > 0.5) for i in range(6)}
    stored: list[Any] = []

    def per_sample(pred: np.ndarray, target: np.ndarray) -> float:
        stored.append(pred)
        return _dice(pred, target)

    metric = MetricPerSampleDefault(
        pred="pred", target="target", metric_per_sample_func=per_sample, result_aggregate_func=np.mean
    )
    samples = [{"id": name, "pred": p, "target": t} for name, (p, t) in masks.items()]
    results = EvaluatorDefault().eval(ids=None, data=iter(samples), metrics={"dice": metric}, batch_size=4)
    expected = {name: _dice(p, t) for name, (p, t) in masks.items()}
    assert results["metrics.dice"] == pytest.approx(np.mean(list(expected.values())))
    assert len(stored) == 6
    assert set(metric._collector.get()) == {"post_args"}  # the masks themselves were not kept
    assert metric.eval(ids=["s5", "s5", "s0"]) == pytest.approx(
        np.mean([expected["s5"], expected["s5"], expected["s0"]])
    )


def test_per_sample_metric_with_named_outputs() -> None:
    metric = MetricPerSampleDefault(
        pred="pred",
        target="target",
        metric_per_sample_func=lambda pred, target: {"err": abs(pred - target), "sq": (pred - target) ** 2},
        result_aggregate_func=lambda values: {name: float(np.mean(v)) for name, v in values.items()},
        post_keys_to_collect=["err", "sq"],
    )
    metric.set(pd.DataFrame({"id": [1, 2], "pred": [1.0, 4.0], "target": [0.0, 2.0]}))
    assert metric.eval() == {"err": 1.5, "sq": 2.5}


def test_per_batch_metric_aggregates_batches_and_refuses_ids() -> None:
    def per_batch(batch: Any) -> dict[str, Any]:
        values = batch["x"]  # batch functions see the raw batch (tensors stay tensors)
        return {"total": [values.sum()], "count": [len(values)]}

    metric = MetricPerBatchDefault(
        total="total",
        count="count",
        metric_per_batch_func=None,
        metric_per_batch_func_pre_collect=per_batch,
        result_aggregate_func=lambda total, count: float(np.sum(total) / np.sum(count)),
    )
    batches = [{"x": np.array([1.0, 2.0, 3.0])}, {"x": np.array([10.0])}]
    results = EvaluatorDefault().eval(ids=None, data=iter(batches), metrics={"mean": metric}, batch_size=0)
    assert results["metrics.mean"] == 4.0
    with pytest.raises(ValueError, match="cannot be selected by sample id"):
        metric.eval(ids=[0])
