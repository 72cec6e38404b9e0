"""Brier score and Brier skill score against the formula and sklearn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from fuse.eval import (
    MetricBSS,
    UndefinedMetricWarning,
    multi_class_bs,
    multi_class_bss,
)


def test_multi_class_bss_equals_the_formula(multiclass_data: Any) -> None:
    pred, target = multiclass_data(8)
    pred = pred / pred.sum(axis=1, keepdims=True)  # rounded rows sum to 0.9..1.1: the Brier score needs probabilities
    one_hot = np.eye(4)[target]
    bs = np.mean(np.sum((pred - one_hot) ** 2, axis=1))
    bs_ref = np.mean(np.sum((one_hot.mean(axis=0) - one_hot) ** 2, axis=1))
    assert multi_class_bs(pred, target) == pytest.approx(bs, abs=1e-12)
    assert multi_class_bss(pred, target) == pytest.approx(1 - bs / bs_ref, abs=1e-12)
    metric = MetricBSS(pred="pred", target="target")
    metric.set(pd.DataFrame({"id": range(len(target)), "pred": list(pred), "target": target}))
    assert metric.eval() == pytest.approx(1 - bs / bs_ref, abs=1e-12)


def test_binary_bss_equals_sklearn_brier_skill() -> None:
    rng = np.random.default_rng(9)
    target = rng.integers(0, 2, 70)
    pred = np.clip(0.5 * target + rng.random(70) * 0.5, 0, 1)
    expected = 1 - sk.brier_score_loss(target, pred) / sk.brier_score_loss(target, np.full(70, target.mean()))
    assert multi_class_bss(pred, target) == pytest.approx(expected, abs=1e-12)
    assert multi_class_bss(np.stack([1 - pred, pred], axis=1), target) == pytest.approx(expected, abs=1e-12)
    assert multi_class_bss(pred[:, None], target) == pytest.approx(expected, abs=1e-12)  # vectors of length 1
    with pytest.warns(UndefinedMetricWarning, match="single class"):
        assert np.isnan(multi_class_bss(pred, np.ones(70, dtype=int)))
