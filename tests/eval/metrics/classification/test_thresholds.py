"""From scores to classes: operation points, apply_thresholds, and operating points against a brute-force search."""

from __future__ import annotations

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
    MetricApplyThresholds,
    MetricConfusion,
    MetricOperatingPoint,
    UndefinedMetricWarning,
    apply_thresholds,
    convert_probabilities_to_class,
    operating_point,
)


def test_convert_probabilities_to_class_modes(multiclass_data: Any) -> None:
    pred, _ = multiclass_data(10, n=40)
    np.testing.assert_array_equal(convert_probabilities_to_class(pred), pred.argmax(axis=1))
    binary = np.array([[0.7, 0.3], [0.4, 0.6], [0.5, 0.5], [0.2, 0.8]])
    assert convert_probabilities_to_class(binary, 0.5).tolist() == [0, 1, 0, 1]  # strict >
    assert convert_probabilities_to_class(binary, 0.6).tolist() == [0, 0, 0, 1]
    assert convert_probabilities_to_class(binary[:, 1], 0.6).tolist() == [0, 0, 0, 1]  # scalar probabilities
    assert convert_probabilities_to_class(binary[:, 1]).tolist() == [0, 1, 0, 1]
    three = np.array([[0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.34, 0.33, 0.33]])
    assert convert_probabilities_to_class(three, [(2, 0.6), (1, 0.4)]).tolist() == [1, 2, -1, -1]
    assert convert_probabilities_to_class(three, [(2, 0.6), ("argmax", None)]).tolist() == [1, 2, 0, 0]
    assert convert_probabilities_to_class(three, ()).tolist() == [1, 2, 0, 0]  # FuseMedML's default


def test_integer_labels_pass_through_apply_thresholds_unchanged() -> None:
    labels = np.array([0, 3, 2, 1, 4, 2])
    for operation_point in (None, 0.5, [(1, 0.5)]):
        assert convert_probabilities_to_class(labels, operation_point).tolist() == labels.tolist()
    frame = pd.DataFrame({"id": [f"s{i}" for i in range(6)], "cls": labels, "target": [0, 3, 2, 2, 4, 2]})
    metrics = {
        "thresh": MetricApplyThresholds(pred="cls", operation_point=0.5),
        "acc": MetricAccuracy(pred="results:metrics.thresh.cls_pred", target="target"),
    }
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics=metrics)
    assert results["metrics.thresh.cls_pred"]().tolist() == [0, 3, 2, 1, 4, 2]  # FuseMedML: [0, 1, 1, 1, 1, 1]
    assert results["metrics.acc"] == pytest.approx(5 / 6)


def test_apply_thresholds_errors() -> None:
    three = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"operation_point=0\.5.*3 class scores"):
        convert_probabilities_to_class(three, 0.5)
    with pytest.raises(ValueError, match="class index 7 is out of range"):
        convert_probabilities_to_class(three, [(7, 0.5)])
    with pytest.raises(ValueError, match=r"got \{'thr': 0\.5\}"):
        convert_probabilities_to_class(three, {"thr": 0.5})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"3 class scores per sample but class_names has 2"):
        apply_thresholds(three, ids=[0, 1], class_names=["a", "b"])
    with pytest.raises(ValueError, match="needs sample ids"):
        apply_thresholds(three, ids=None)
    with pytest.raises(ValueError, match="'best'"):
        MetricApplyThresholds(pred="p", operation_point="best")


def test_fusemedml_example_12_apply_thresholds_then_accuracy() -> None:
    pred = [0.3, 0.6, 0.2, 0.1, 0.1, 0.9, 0.23, 0.7, 0.9, 0.4, 0.77, 0.3, 0.89]
    frame = pd.DataFrame({"id": range(13), "pred": pred, "target": [0] * 6 + [1] * 7})
    metrics = {
        "apply_thresh": MetricApplyThresholds(pred="pred", operation_point=0.5),
        "acc": MetricAccuracy(pred="results:metrics.apply_thresh.cls_pred", target="target"),
    }
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics=metrics)
    assert results["metrics.acc"] == 0.6153846153846154
    # a subset of ids in another order: the per-sample data is realigned by id
    subset = [12, 0, 5, 7, 3]
    results = EvaluatorDefault().eval(ids=subset, data=frame, metrics=metrics)
    assert results["metrics.apply_thresh.cls_pred"](subset).tolist() == [1, 0, 1, 1, 0]
    assert results["metrics.acc"] == pytest.approx(4 / 5)  # ids 12, 0, 7, 3 right; 5 (0.9, target 0) wrong


def _brute_force_points(scores: np.ndarray, positive: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, sensitivity, specificity) of "score > threshold" for every distinct cut."""
    cuts = np.concatenate(([-np.inf], np.unique(scores)))
    return [
        (float(cut), float((scores[positive] > cut).mean()), float((scores[~positive] <= cut).mean())) for cut in cuts
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 40),
    st.integers(0, 10_000),
    st.integers(1, 6),
    st.sampled_from(["youden", "sensitivity_at_specificity", "specificity_at_sensitivity"]),
    st.sampled_from([0.0, 0.3, 0.5, 0.8, 0.95, 1.0]),
)
def test_operating_point_equals_a_brute_force_search(
    n: int, seed: int, distinct: int, method: str, value: float
) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, distinct + 1, n) / distinct
    positive = rng.random(n) < 0.5
    if positive.all() or not positive.any():
        return
    result = operating_point(scores, positive.astype(int), method=method, value=None if method == "youden" else value)
    points = _brute_force_points(scores, positive)
    if method == "youden":
        best = max(sens + spec for _, sens, spec in points)
        assert result["sensitivity"] + result["specificity"] == pytest.approx(best, abs=1e-12)
    elif method == "sensitivity_at_specificity":
        eligible = [p for p in points if p[2] >= value]
        assert result["specificity"] >= value
        assert result["sensitivity"] == pytest.approx(max(p[1] for p in eligible), abs=1e-12)
        tied = [p for p in eligible if p[1] == pytest.approx(result["sensitivity"], abs=1e-12)]
        assert result["specificity"] == pytest.approx(max(p[2] for p in tied), abs=1e-12)  # ties: higher specificity
    else:
        eligible = [p for p in points if p[1] >= value]
        assert result["sensitivity"] >= value
        assert result["specificity"] == pytest.approx(max(p[2] for p in eligible), abs=1e-12)
        tied = [p for p in eligible if p[2] == pytest.approx(result["specificity"], abs=1e-12)]
        assert result["sensitivity"] == pytest.approx(max(p[1] for p in tied), abs=1e-12)  # ties: higher sensitivity
    # the threshold reproduces the point with this package's strict rule
    called = scores > result["threshold"]
    assert called[positive].mean() == pytest.approx(result["sensitivity"], abs=1e-12)
    assert (~called[~positive]).mean() == pytest.approx(result["specificity"], abs=1e-12)


def test_operating_point_youden_is_the_roc_maximum() -> None:
    rng = np.random.default_rng(11)
    target = rng.integers(0, 2, 200)
    scores = rng.random(200) + 0.4 * target
    fpr, tpr, _ = sk.roc_curve(target, scores)
    result = operating_point(scores, target)
    assert result["sensitivity"] - (1 - result["specificity"]) == pytest.approx(np.max(tpr - fpr), abs=1e-12)


def test_operating_point_youden_ties_take_the_highest_threshold() -> None:
    # J = 0.5 both at "score > 0.4" (sensitivity 0.5, specificity 1) and at "score > 0.1" (1, 0.5)
    result = operating_point([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    assert result == {"threshold": 0.4, "sensitivity": 0.5, "specificity": 1.0}


def test_operating_point_feeds_metric_confusion_through_results() -> None:
    rng = np.random.default_rng(12)
    target = rng.integers(0, 2, 100)
    pred = np.round(np.clip(0.35 * target + rng.random(100) * 0.65, 0, 1), 2)
    frame = pd.DataFrame({"id": range(100), "pred": list(np.stack([1 - pred, pred], axis=1)), "target": target})
    metrics = {
        "op": MetricOperatingPoint(pred="pred", target="target", method="sensitivity_at_specificity", value=0.9),
        "confusion": MetricConfusion(
            pred="pred",
            target="target",
            metrics=("sensitivity", "specificity"),
            operation_point="results:metrics.op.threshold",
        ),
    }
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics=metrics)
    assert results["metrics.op.specificity"] >= 0.9
    assert results["metrics.confusion.sensitivity"] == results["metrics.op.sensitivity"]
    assert results["metrics.confusion.specificity"] == results["metrics.op.specificity"]


def test_operating_point_undefined_and_errors() -> None:
    with pytest.warns(UndefinedMetricWarning, match="only positive samples"):
        result = operating_point([0.1, 0.9], [1, 1])
    assert all(np.isnan(v) for v in result.values())
    with pytest.raises(ValueError, match=r"'f1'.*allowed: \['youden'"):
        MetricOperatingPoint(pred="p", target="t", method="f1")
    with pytest.raises(ValueError, match=r"value in \[0, 1\], got value=1\.5"):
        MetricOperatingPoint(pred="p", target="t", method="specificity_at_sensitivity", value=1.5)
    with pytest.raises(ValueError, match="got value=None"):
        operating_point([0.1, 0.9], [0, 1], method="sensitivity_at_specificity")
    with pytest.raises(ValueError, match="takes no value"):
        MetricOperatingPoint(pred="p", target="t", value=0.9)
