"""``MetricMultiClassDefault``: one-vs-rest with weights, dict results, errors propagate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fuse.eval import (
    EvaluatorDefault,
    MetricAUCROC,
    MetricMultiClassDefault,
)


def test_multiclass_one_vs_rest_with_weights() -> None:
    rng = np.random.default_rng(0)
    target = np.tile([0, 1, 2], 20)
    pred = rng.dirichlet([1, 1, 1], 60) + np.eye(3)[target]
    frame = pd.DataFrame({"id": range(60), "pred": list(pred), "target": target})
    plain = MetricAUCROC(pred="pred", target="target", class_names=["x", "y", "z"])
    weighted = MetricAUCROC(pred="pred", target="target", class_names=["x", "y", "z"], class_weights=[1, 0, 3])
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics={"plain": plain, "weighted": weighted})
    per_class = [results[f"metrics.plain.{c}"] for c in "xyz"]
    assert results["metrics.plain.macro_avg"] == pytest.approx(np.mean(per_class))
    assert results["metrics.weighted.macro_avg"] == pytest.approx((per_class[0] + 3 * per_class[2]) / 4)
    with pytest.raises(ValueError, match="one weight per class"):
        MetricAUCROC(pred="p", target="t", class_names=["a", "b"], class_weights=[1.0])


def test_multiclass_dict_results_and_errors_propagate() -> None:
    def counts(pred: np.ndarray, target: np.ndarray, pos_class_index: int) -> dict[str, float]:
        return {"tp": float(np.sum((pred == pos_class_index) & (target == pos_class_index)))}

    metric = MetricMultiClassDefault(pred="p", target="t", metric_func=counts, class_names=["a", "b"])
    metric.set(pd.DataFrame({"id": [1, 2, 3], "p": [0, 1, 1], "t": [0, 1, 0]}))
    assert metric.eval() == {"tp.a": 1.0, "tp.b": 1.0, "tp.macro_avg": 1.0}

    def broken(pred: np.ndarray, target: np.ndarray, pos_class_index: int) -> float:
        raise ValueError("bad input")

    failing = MetricMultiClassDefault(pred="p", target="t", metric_func=broken, class_names=["a"])
    failing.set(pd.DataFrame({"id": [1], "p": [0], "t": [0]}))
    with pytest.raises(ValueError, match="bad input"):  # FuseMedML turned this into None values
        failing.eval()
