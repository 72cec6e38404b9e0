"""Never a silent wrong number: metric inputs that would be misread (labels 1/2, text labels, NaN targets or scores,
scores that are not probabilities) raise naming the cause, the argument or key, and the rows or ids."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from fuse.eval import (
    CI,
    EvaluatorDefault,
    MetricAccuracy,
    MetricApplyThresholds,
    MetricAUCPR,
    MetricAUCROC,
    MetricBalAccuracy,
    MetricBSS,
    MetricConfusion,
    MetricMCC,
    MetricOperatingPoint,
    accuracy,
    auc_pr,
    auc_roc,
    balanced_accuracy,
    confusion_metrics,
    convert_probabilities_to_class,
    mcc,
    multi_class_bss,
    operating_point,
)

# every binary metric path: a function of (pred, target, pos_label=...)
BINARY_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "auc_roc": auc_roc,
    "auc_pr": auc_pr,
    "confusion": lambda pred, target, **kw: confusion_metrics(
        pred, target, metrics=("sensitivity", "specificity"), **kw
    ),
    "operating_point": operating_point,
    "bss": multi_class_bss,
    "accuracy": accuracy,
    "mcc": mcc,
    "balanced_accuracy": balanced_accuracy,
}
# the same paths as metric classes over keys "pred" and "label"
BINARY_METRICS: dict[str, Callable[..., Any]] = {
    "auc_roc": MetricAUCROC,
    "auc_pr": MetricAUCPR,
    "confusion": lambda **kw: MetricConfusion(metrics=("sensitivity", "specificity"), **kw),
    "operating_point": MetricOperatingPoint,
    "bss": MetricBSS,
    "accuracy": MetricAccuracy,
    "mcc": MetricMCC,
    "balanced_accuracy": MetricBalAccuracy,
}


def _binary_data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pred = np.round(rng.random(n), 2)
    target = (rng.random(n) < pred).astype(int)
    return pred, target


def _ids(n: int) -> list[str]:
    return [f"case_{i}" for i in range(n)]


def _evaluate(metric: Any, frame: pd.DataFrame) -> Any:
    return EvaluatorDefault().eval(ids=None, data=frame, metrics={"m": metric}, silent=True)["metrics.m"]


def _same(value: Any, expected: Any) -> None:
    if isinstance(expected, dict):
        assert value.keys() == expected.keys()
        for key in expected:
            assert value[key] == pytest.approx(expected[key], abs=1e-12, nan_ok=True)
    else:
        assert value == pytest.approx(expected, abs=1e-12)


# --- labels other than 0/1 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BINARY_FUNCTIONS))
@pytest.mark.parametrize("shift", [(1, 2), (0, 2)])
def test_binary_labels_other_than_0_1_raise_naming_them_and_pos_label(name: str, shift: tuple[int, int]) -> None:
    pred, target = _binary_data()
    labels = np.where(target == 1, shift[1], shift[0])
    # before: auc_roc(pred, target + 1) was 1 - AUC (classes inverted), labels 0/2 gave NaN "only negative samples"
    with pytest.raises(ValueError, match=rf"target holds the labels \[{shift[0]}, {shift[1]}\], not 0/1.*pos_label="):
        BINARY_FUNCTIONS[name](pred, labels)


@pytest.mark.parametrize("name", list(BINARY_FUNCTIONS))
def test_pos_label_gives_the_value_of_0_1_labels(name: str) -> None:
    pred, target = _binary_data(seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = BINARY_FUNCTIONS[name](pred, target)
        _same(BINARY_FUNCTIONS[name](pred, target + 1, pos_label=2), expected)
        text = np.where(target == 1, "malignant", "benign")
        _same(BINARY_FUNCTIONS[name](pred, text, pos_label="malignant"), expected)
        _same(BINARY_FUNCTIONS[name](pred, target.astype(bool)), expected)  # booleans need no pos_label
        _same(BINARY_FUNCTIONS[name](pred, target.astype(float)), expected)


def test_pos_label_values_equal_sklearn() -> None:
    pred, target = _binary_data(seed=2)
    labels = target + 1
    for positive in (1, 2):  # the scores are those of the class named by pos_label
        fpr, tpr, _ = sk.roc_curve(labels, pred, pos_label=positive)
        assert auc_roc(pred, labels, pos_label=positive) == pytest.approx(sk.auc(fpr, tpr), abs=1e-12)
        precision, recall, _ = sk.precision_recall_curve(labels, pred, pos_label=positive)
        assert auc_pr(pred, labels, pos_label=positive) == pytest.approx(sk.auc(recall, precision), abs=1e-12)
    called = np.where(pred > 0.5, 2, 1)
    result = confusion_metrics(pred, labels, metrics=("sensitivity", "precision"), pos_label=2)
    assert result["sensitivity"] == pytest.approx(sk.recall_score(labels, called, pos_label=2), abs=1e-12)
    assert result["precision"] == pytest.approx(sk.precision_score(labels, called, pos_label=2), abs=1e-12)
    assert accuracy(pred, labels, pos_label=2) == pytest.approx(sk.accuracy_score(labels, called), abs=1e-12)
    assert mcc(pred, labels, pos_label=2) == pytest.approx(sk.matthews_corrcoef(labels, called), abs=1e-12)


def test_pos_label_errors() -> None:
    pred, target = _binary_data()
    with pytest.raises(ValueError, match=r"no sample labelled pos_label=3; its labels are \[1, 2\]"):
        auc_roc(pred, target + 1, pos_label=3)
    three = target.copy()
    three[:3] = 2
    with pytest.raises(ValueError, match=r"holds 3 labels .*needs two"):
        auc_roc(pred, three, pos_label=1)
    with pytest.raises(ValueError, match="pos_label=2 applies to one score per sample"):
        auc_roc(np.stack([1 - pred, pred], axis=1), target, pos_label=2)
    with pytest.raises(ValueError, match="pos_label=2 applies to one probability per sample"):
        accuracy(target, target, pos_label=2)  # integer labels are class indices
    # a subset (a bootstrap row, a group) holding one class stays undefined, with the real cause
    with pytest.warns(UserWarning, match="only negative samples"):
        assert np.isnan(auc_roc(pred[:3], np.full(3, "benign"), pos_label="malignant"))


@pytest.mark.parametrize("name", list(BINARY_METRICS))
def test_metric_classes_name_the_target_key_and_take_pos_label_as_a_value(name: str) -> None:
    pred, target = _binary_data(seed=3)
    frame = pd.DataFrame({"id": _ids(len(pred)), "pred": pred, "label": np.where(target == 1, "mal", "ben")})
    with pytest.raises(ValueError, match=r"target \(key 'label'\) holds text labels \['ben', 'mal'\].*pos_label"):
        _evaluate(BINARY_METRICS[name](pred="pred", target="label"), frame)
    # a text pos_label is a value, not a key to collect
    value = _evaluate(BINARY_METRICS[name](pred="pred", target="label", pos_label="mal"), frame)
    _same(value, BINARY_FUNCTIONS[name](pred, target))


@pytest.mark.parametrize("metric_class", [MetricAUCROC, MetricAUCPR, MetricAccuracy])
def test_bootstraps_check_labels_and_use_pos_label(metric_class: Callable[..., Any]) -> None:
    pred, target = _binary_data(seed=4)
    frame = pd.DataFrame({"id": _ids(len(pred)), "pred": pred, "label": target + 1})
    with pytest.raises(ValueError, match=r"target \(key 'label'\) holds the labels \[1, 2\]"):
        _evaluate(CI(metric_class(pred="pred", target="label"), stratum="label", num_of_bootstraps=20), frame)
    shifted = _evaluate(CI(metric_class(pred="pred", target="label", pos_label=2), num_of_bootstraps=50), frame)
    frame["label"] = target
    plain = _evaluate(CI(metric_class(pred="pred", target="label"), num_of_bootstraps=50), frame)
    for key in ("org", "mean", "conf_lower", "conf_upper"):
        assert shifted[key] == pytest.approx(plain[key], abs=1e-12)


def test_zero_two_labels_no_longer_warn_of_a_wrong_cause() -> None:
    pred, target = _binary_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before: an UndefinedMetricWarning "only negative samples" and NaN
        with pytest.raises(ValueError, match=r"\[0, 2\]"):
            auc_roc(pred, target * 2)


# --- missing targets -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BINARY_FUNCTIONS))
def test_nan_targets_raise_naming_their_rows(name: str) -> None:
    pred, target = _binary_data(seed=5)
    with_nan = target.astype(float)
    with_nan[[3, 7]] = np.nan
    # before: counted as negatives (auc_roc 0.7315 instead of 0.75 on the rows with a target)
    with pytest.raises(ValueError, match=r"target has 2 missing \(NaN\) values, e.g. rows \[3, 7\]"):
        BINARY_FUNCTIONS[name](pred, with_nan)
    as_objects = np.array(list(target), dtype=object)
    as_objects[5] = None
    with pytest.raises(ValueError, match=r"target has 1 missing \(NaN\) value, e.g. rows \[5\]"):
        BINARY_FUNCTIONS[name](pred, as_objects)


def test_nan_targets_value_without_them_equals_sklearn() -> None:
    pred, target = _binary_data(seed=5)
    with_nan = target.astype(float)
    with_nan[[3, 7]] = np.nan
    kept = ~np.isnan(with_nan)
    assert auc_roc(pred[kept], with_nan[kept]) == pytest.approx(sk.roc_auc_score(target[kept], pred[kept]))


@pytest.mark.parametrize("name", list(BINARY_METRICS))
def test_nan_targets_through_metric_classes_name_the_key_and_the_ids(name: str) -> None:
    pred, target = _binary_data(seed=6)
    with_nan = target.astype(float)
    with_nan[[2, 9]] = np.nan
    frame = pd.DataFrame({"id": _ids(len(pred)), "pred": pred, "label": with_nan})
    expected = r"target \(key 'label'\) has 2 missing \(NaN\) values, e.g. ids \['case_2', 'case_9'\]"
    with pytest.raises(ValueError, match=expected):
        _evaluate(BINARY_METRICS[name](pred="pred", target="label"), frame)
    with pytest.raises(ValueError, match=expected):
        _evaluate(CI(BINARY_METRICS[name](pred="pred", target="label"), num_of_bootstraps=10), frame)


def test_ignored_targets_are_dropped_before_the_checks_and_rows_stay_original() -> None:
    pred, target = _binary_data(seed=7)
    labels = target.astype(float)
    labels[[0, 4]] = -1
    keep = labels != -1
    assert auc_roc(pred, labels, ignore_index=-1) == pytest.approx(sk.roc_auc_score(target[keep], pred[keep]))
    labels[6] = np.nan
    with pytest.raises(ValueError, match=r"e.g. rows \[6\]"):
        auc_roc(pred, labels, ignore_index=-1)


# --- missing scores --------------------------------------------------------------------------------------------------


def test_nan_in_a_score_vector_raises_naming_the_sample() -> None:
    pred = np.array([[0.7, 0.2, 0.1], [0.1, np.nan, 0.2], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1]])
    target = np.array([0, 1, 2, 1])
    message = r"pred has 1 missing \(NaN\) or infinite value, e.g. rows \[1\]"
    # before: accuracy 1.0 (the argmax of a NaN row is its NaN)
    for function in (accuracy, mcc, balanced_accuracy, confusion_metrics, auc_roc, auc_pr):
        with pytest.raises(ValueError, match=message):
            function(pred, target)
    with pytest.raises(ValueError, match=message):
        convert_probabilities_to_class(pred)
    with pytest.raises(ValueError, match=r"pred has 1 missing"):
        auc_roc(np.array([0.1, np.nan, 0.3, 0.9]), [0, 1, 0, 1])
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "scores": list(pred), "label": target})
    with pytest.raises(ValueError, match=r"pred \(key 'scores'\) has 1 missing .*ids \['b'\]"):
        _evaluate(MetricAccuracy(pred="scores", target="label"), frame)
    with pytest.raises(ValueError, match=r"pred \(key 'scores'\) has 1 missing .*ids \['b'\]"):
        _evaluate(MetricApplyThresholds(pred="scores"), frame)
    with pytest.raises(ValueError, match=r"pred \(key 'scores'\) has 1 missing .*ids \['b'\]"):
        _evaluate(MetricAUCROC(pred="scores", target="label", class_names=["x", "y", "z"]), frame)


def test_vector_targets_outside_the_columns_raise() -> None:
    pred = np.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8], [0.9, 0.1]])
    target = np.array([0, 2, 1, 0])  # before: class 2 counted as a negative of every column
    for function in (auc_roc, auc_pr, accuracy, confusion_metrics, multi_class_bss):
        with pytest.raises(ValueError, match=r"target holds classes \[2\] outside 0..1 .*rows \[1\]"):
            function(pred, target)


# --- scores that are not probabilities -------------------------------------------------------------------------------


def test_bss_refuses_scores_that_are_not_probabilities() -> None:
    # before: -34.0 (and -11.2 on logits) with no warning; the ECE metrics already refused such input
    with pytest.raises(ValueError, match=r"does not hold probabilities.*sample #0 sums to 8.0.*not logits"):
        multi_class_bss([[3.0, 5.0], [4.0, 1.0]], [1, 0])
    with pytest.raises(ValueError, match=r"sample #1 is 1.7.*must lie in \[0, 1\]"):
        multi_class_bss([0.2, 1.7, 0.4], [0, 1, 0])
    logits = np.array([[2.0, -0.5], [0.5, 1.5], [-0.3, 0.2]])
    frame = pd.DataFrame({"id": ["a", "b", "c"], "logits": list(logits), "label": [0, 1, 1]})
    with pytest.raises(ValueError, match=r"pred \(key 'logits'\) does not hold probabilities.*id 'a'"):
        _evaluate(MetricBSS(pred="logits", target="label"), frame)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    one_hot = np.eye(2)[[0, 1, 1]]
    reference = np.mean(np.sum((one_hot.mean(axis=0) - one_hot) ** 2, axis=1))
    expected = 1 - np.mean(np.sum((probabilities - one_hot) ** 2, axis=1)) / reference
    assert multi_class_bss(probabilities, [0, 1, 1]) == pytest.approx(expected, abs=1e-12)


# --- text ------------------------------------------------------------------------------------------------------------


def test_text_targets_raise_naming_the_cause() -> None:
    pred, target = _binary_data(seed=8)
    numeric_text = target.astype(str)
    # before: NaN with "only negative samples" although a third are positive
    with pytest.raises(ValueError, match=r"text labels \['0', '1'\].*numbers stored as text.*pos_label"):
        auc_roc(pred, numeric_text)
    assert auc_roc(pred, numeric_text, pos_label="1") == pytest.approx(sk.roc_auc_score(target, pred), abs=1e-12)
    vectors = np.stack([1 - pred, pred], axis=1)
    with pytest.raises(ValueError, match=r"target holds text labels \['0', '1'\].*class indices"):
        accuracy(vectors, numeric_text)
    with pytest.raises(ValueError, match=r"mixes text and numbers"):
        auc_roc(pred[:3], np.array(["a", 1, "b"], dtype=object))


def test_text_scores_raise_naming_the_key() -> None:
    pred, target = _binary_data(seed=9)
    # before: auc_roc accepted numeric text, accuracy raised numpy's "ufunc 'isfinite' not supported"
    for function in (auc_roc, accuracy, confusion_metrics, multi_class_bss):
        with pytest.raises(ValueError, match=r"pred holds text values such as \['0\.\d+'.*must be numbers"):
            function(pred.astype(str), target)
    frame = pd.DataFrame({"id": _ids(len(pred)), "p": pred.astype(str), "label": target})
    with pytest.raises(ValueError, match=r"pred \(key 'p'\) holds text values"):
        _evaluate(MetricAccuracy(pred="p", target="label"), frame)


# --- FuseMedML's 0/1 inputs are unchanged ----------------------------------------------------------------------------


def test_0_1_targets_in_every_form_equal_sklearn() -> None:
    pred, target = _binary_data(seed=10)
    expected = sk.roc_auc_score(target, pred)
    for form in (target, target.tolist(), target.astype(float), target.astype(bool), target[:, None]):
        assert auc_roc(pred, form) == pytest.approx(expected, abs=1e-12)
    one_hot = np.eye(2)[target]
    assert accuracy(pred, one_hot) == pytest.approx(sk.accuracy_score(target, pred > 0.5), abs=1e-12)


def test_confusion_of_probabilities_has_two_classes_only() -> None:
    pred, target = np.array([0.2, 0.7, 0.6, 0.1]), np.array([0, 1, 0, 0])
    # before: class 2 never matched, so sensitivity was NaN with the warning "without positive samples"
    with pytest.raises(ValueError, match=r"pos_class_index 2 is out of range.*classes are 0 and 1"):
        confusion_metrics(pred, target, pos_class_index=2)
    class_zero = confusion_metrics(pred, target, pos_class_index=0, metrics=("sensitivity", "specificity"))
    called_zero = pred <= 0.5
    assert class_zero["sensitivity"] == pytest.approx(sk.recall_score(target == 0, called_zero))
    assert class_zero["specificity"] == pytest.approx(sk.recall_score(target != 0, ~called_zero))
