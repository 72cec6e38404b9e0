"""Label metrics (accuracy, balanced accuracy, MCC) against sklearn, and FuseMedML's class-prediction rule."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from fuse.eval import (
    EvaluatorDefault,
    MetricAccuracy,
    MetricBalAccuracy,
    MetricMCC,
    UndefinedMetricWarning,
    accuracy,
    balanced_accuracy,
    mcc,
)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(0, 10_000), st.integers(2, 5), st.sampled_from(["labels", "vectors", "scalars"]))
def test_label_metrics_equal_sklearn(n: int, seed: int, classes: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    if kind == "scalars":
        classes = 2
    target = rng.integers(0, classes, n)
    weights = rng.random(n) + 0.1
    if kind == "labels":
        pred: np.ndarray = rng.integers(0, classes, n)
        labels = pred
    elif kind == "vectors":
        pred = rng.integers(0, 4, (n, classes)) / 4  # ties: argmax takes the first maximum
        labels = pred.argmax(axis=1)
    else:
        pred = rng.integers(0, 5, n) / 4  # includes exactly 0.5 -> class 0
        labels = (pred > 0.5).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # sklearn's own notes on degenerate label sets
        assert accuracy(pred, target) == sk.accuracy_score(target, labels)
        assert accuracy(pred, np.eye(classes)[target]) == sk.accuracy_score(target, labels)  # one-hot targets
        assert accuracy(pred, target, weights) == pytest.approx(
            sk.accuracy_score(target, labels, sample_weight=weights)
        )
        # defined: sklearn's value; 0/0 (one class in the target or in the predictions): NaN where sklearn says 0.0
        mcc_defined = len(np.unique(target)) > 1 and len(np.unique(labels)) > 1
        expected_mcc = sk.matthews_corrcoef(target, labels) if mcc_defined else np.nan
        assert mcc(pred, target) == pytest.approx(expected_mcc, abs=1e-12, nan_ok=True)
        expected_mcc = sk.matthews_corrcoef(target, labels, sample_weight=weights) if mcc_defined else np.nan
        assert mcc(pred, target, weights) == pytest.approx(expected_mcc, abs=1e-12, nan_ok=True)
        # one class in the target: NaN where sklearn gives that class's recall
        expected_bal = sk.balanced_accuracy_score(target, labels) if len(np.unique(target)) > 1 else np.nan
        assert balanced_accuracy(pred, target) == pytest.approx(expected_bal, abs=1e-12, nan_ok=True)


def test_label_metric_classes_collect_keys_and_sample_weight(multiclass_data: Any) -> None:
    pred, target = multiclass_data(3)
    weights = np.linspace(0.1, 1.0, len(target))
    frame = pd.DataFrame({"id": range(len(target)), "pred": list(pred), "target": target, "w": weights})
    labels = pred.argmax(axis=1)
    metrics = {
        "acc": MetricAccuracy(pred="pred", target="target"),
        "acc_w": MetricAccuracy(pred="pred", target="target", sample_weight="w"),
        "mcc": MetricMCC(pred="pred", target="target", sample_weight="w"),
        "bal": MetricBalAccuracy(pred="pred", target="target"),
    }
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics=metrics)
    assert results["metrics.acc"] == sk.accuracy_score(target, labels)
    assert results["metrics.acc_w"] == pytest.approx(sk.accuracy_score(target, labels, sample_weight=weights))
    assert results["metrics.mcc"] == pytest.approx(sk.matthews_corrcoef(target, labels, sample_weight=weights))
    assert results["metrics.bal"] == pytest.approx(sk.balanced_accuracy_score(target, labels))


def test_scalar_probabilities_are_not_argmaxed_as_one_vector() -> None:
    # FuseMedML argmax-ed the whole 1-d column into a single index
    assert accuracy(np.array([0.9, 0.2, 0.7, 0.4]), [1, 0, 1, 1]) == 0.75
    assert accuracy(np.array([0.0, 2.0, 1.0]), [0, 2, 2]) == pytest.approx(2 / 3)  # float-stored labels
    with pytest.raises(ValueError, match=r"2\.5"):
        accuracy(np.array([0.1, 2.5]), [0, 1])
    with pytest.raises(ValueError, match="target must hold class indices"):
        accuracy([0, 1], [0.5, 1.0])


@pytest.mark.parametrize("only", [0, 1])
def test_one_class_gives_nan_and_a_warning_naming_it(only: int) -> None:
    pred, target = np.array([0.2, 0.7, 0.9, 0.4]), np.full(4, only)
    labels = (pred > 0.5).astype(int)
    assert sk.balanced_accuracy_score(target, labels) == 0.5  # sklearn: the recall of the one class
    assert sk.matthews_corrcoef(target, labels) == 0.0  # sklearn: 0/0 taken as 0
    with pytest.warns(UndefinedMetricWarning, match=f"balanced accuracy is undefined: every target is class {only}"):
        assert np.isnan(balanced_accuracy(pred, target))
    with pytest.warns(UndefinedMetricWarning, match=rf"MCC is undefined \(0/0\): every target is class {only}"):
        assert np.isnan(mcc(pred, target))
    with pytest.warns(UndefinedMetricWarning, match="every prediction is class 1"):
        assert np.isnan(mcc([0.9, 0.8, 0.7], [0, 1, 1]))  # the other margin of 0/0: constant predictions
    # a sample of weight 0 is not a case of its class
    with pytest.warns(UndefinedMetricWarning, match="every target is class 1"):
        assert np.isnan(balanced_accuracy([0.9, 0.2, 0.8], [1, 0, 1], sample_weight=[1.0, 0.0, 1.0]))
    metric = MetricBalAccuracy(pred="pred", target="target")
    metric.collect({"id": [0, 1, 2, 3], "pred": pred, "target": target})
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(metric.eval())
