"""Classification metrics against sklearn / numpy formulas, through the evaluator, and FuseMedML's fixed bugs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from fuse.core import NDict
from fuse.eval._auc import MetricAUCROC
from fuse.eval._classification import (
    CONFUSION_METRICS,
    MetricAccuracy,
    MetricApplyThresholds,
    MetricAUCPR,
    MetricBalAccuracy,
    MetricBSS,
    MetricConfusion,
    MetricConfusionMatrix,
    MetricMCC,
    MetricOperatingPoint,
    accuracy,
    apply_thresholds,
    auc_pr,
    balanced_accuracy,
    confusion_matrix,
    confusion_metrics,
    convert_probabilities_to_class,
    mcc,
    multi_class_bs,
    multi_class_bss,
    operating_point,
)
from fuse.eval._evaluator import EvaluatorDefault
from fuse.eval._warnings import UndefinedMetricWarning

CLASSES = ["a", "b", "c", "d"]


def _sk_auc_pr(positive: np.ndarray, scores: np.ndarray) -> float:
    precision, recall, _ = sk.precision_recall_curve(positive, scores)
    return float(sk.auc(recall, precision))


def _multiclass_data(seed: int, n: int = 80, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, n)
    pred = rng.dirichlet(np.ones(classes), n) + 0.6 * np.eye(classes)[target]
    pred = np.round(pred / pred.sum(axis=1, keepdims=True), 1)  # ties
    return pred, target


# --- AUC-PR ----------------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 50), st.integers(0, 10_000), st.integers(1, 8))
def test_auc_pr_equals_sklearn_on_binary_scalars_with_ties(n: int, seed: int, distinct: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, distinct + 1, n) / distinct
    target = (rng.random(n) < 0.4).astype(int)
    if target.all() or not target.any():
        with pytest.warns(UndefinedMetricWarning, match="AUC-PR is undefined"):
            assert np.isnan(auc_pr(scores, target))
        return
    assert auc_pr(scores, target) == pytest.approx(_sk_auc_pr(target == 1, scores), abs=1e-12)
    # class 0 of a binary scalar problem ranks by 1 - p
    assert auc_pr(scores, target, pos_class_index=0) == pytest.approx(_sk_auc_pr(target == 0, 1 - scores), abs=1e-12)


def test_auc_pr_is_not_average_precision() -> None:
    scores, target = np.array([0.2, 0.3, 0.9, 0.6]), np.array([1, 0, 1, 1])
    assert auc_pr(scores, target) == pytest.approx(0.9027777777777777, abs=1e-15)
    assert sk.average_precision_score(target, scores) != pytest.approx(0.9027777777777777)


def test_metric_auc_pr_one_vs_rest_with_macro_average() -> None:
    pred, target = _multiclass_data(1)
    frame = pd.DataFrame({"id": range(len(target)), "pred": list(pred), "target": target})
    metric = MetricAUCPR(pred="pred", target="target", class_names=CLASSES)
    metric.set(frame)
    result = metric.eval()
    expected = [_sk_auc_pr(target == i, pred[:, i]) for i in range(4)]
    assert [result[name] for name in CLASSES] == pytest.approx(expected, abs=1e-12)
    assert result["macro_avg"] == pytest.approx(np.mean(expected), abs=1e-12)
    # without class names the last column is the positive class (FuseMedML)
    single = MetricAUCPR(pred="pred", target="target")
    single.set(frame)
    assert single.eval() == pytest.approx(expected[3], abs=1e-12)


def test_metric_auc_pr_class_missing_is_nan_and_skipped_by_macro_average() -> None:
    pred, target = _multiclass_data(2)
    target[target == 2] = 1  # class "c" absent
    frame = pd.DataFrame({"id": range(len(target)), "pred": list(pred), "target": target})
    metric = MetricAUCPR(pred="pred", target="target", class_names=CLASSES)
    metric.set(frame)
    with pytest.warns(UndefinedMetricWarning, match="only negative samples"):
        result = metric.eval()
    assert np.isnan(result["c"])
    defined = [_sk_auc_pr(target == i, pred[:, i]) for i in (0, 1, 3)]
    assert result["macro_avg"] == pytest.approx(np.mean(defined), abs=1e-12)


# --- accuracy, MCC, balanced accuracy --------------------------------------------------------------------------------


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
        assert mcc(pred, target) == pytest.approx(sk.matthews_corrcoef(target, labels), abs=1e-12)
        assert mcc(pred, target, weights) == pytest.approx(
            sk.matthews_corrcoef(target, labels, sample_weight=weights), abs=1e-12
        )
        assert balanced_accuracy(pred, target) == pytest.approx(sk.balanced_accuracy_score(target, labels), abs=1e-12)


def test_label_metric_classes_collect_keys_and_sample_weight() -> None:
    pred, target = _multiclass_data(3)
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


# --- confusion metrics -----------------------------------------------------------------------------------------------


def _counts(truth: np.ndarray, predicted: np.ndarray) -> tuple[int, int, int, int]:
    return (
        int((truth & predicted).sum()),
        int((truth & ~predicted).sum()),
        int((~truth & predicted).sum()),
        int((~truth & ~predicted).sum()),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metric_confusion_one_vs_rest_equals_sklearn(seed: int) -> None:
    pred, target = _multiclass_data(seed)
    frame = pd.DataFrame({"id": range(len(target)), "pred": list(pred), "target": target})
    metric = MetricConfusion(
        pred="pred", target="target", class_names=CLASSES, metrics=("sensitivity", "specificity", "precision", "f1")
    )
    metric.set(frame)
    result = metric.eval()
    labels = pred.argmax(axis=1)
    precision, recall, f1, _ = sk.precision_recall_fscore_support(target, labels, labels=range(4), zero_division=0)
    for i, name in enumerate(CLASSES):
        assert result[f"sensitivity.{name}"] == pytest.approx(recall[i], abs=1e-12)
        assert result[f"precision.{name}"] == pytest.approx(precision[i], abs=1e-12)
        assert result[f"f1.{name}"] == pytest.approx(f1[i], abs=1e-12)
        specificity = sk.recall_score(target != i, labels != i)
        assert result[f"specificity.{name}"] == pytest.approx(specificity, abs=1e-12)
    assert result["sensitivity.macro_avg"] == pytest.approx(np.mean(recall), abs=1e-12)
    assert result["f1.macro_avg"] == pytest.approx(sk.f1_score(target, labels, average="macro"), abs=1e-12)


def test_confusion_matrix_counts_aliases_and_sample_weight() -> None:
    rng = np.random.default_rng(4)
    target = rng.integers(0, 3, 50)
    labels = rng.integers(0, 3, 50)
    weights = rng.random(50)
    result = confusion_metrics(labels, target, pos_class_index=2, metrics=CONFUSION_METRICS)
    tp, fn, fp, tn = _counts(target == 2, labels == 2)
    assert (result["tp"], result["fn"], result["fp"], result["tn"]) == (tp, fn, fp, tn)
    assert result["sensitivity"] == result["recall"] == result["tpr"] == tp / (tp + fn)
    assert result["specificity"] == result["selectivity"] == result["tnr"] == tn / (tn + fp)
    assert result["precision"] == result["ppv"] == tp / (tp + fp)
    assert result["f1"] == 2 * tp / (2 * tp + fp + fn)
    weighted = confusion_metrics(labels, target, pos_class_index=2, metrics=("sensitivity",), sample_weight=weights)
    assert weighted["sensitivity"] == pytest.approx(sk.recall_score(target == 2, labels == 2, sample_weight=weights))


def test_confusion_scalar_probabilities_use_a_threshold_not_a_vector_argmax() -> None:
    pred = np.array([0.9, 0.2, 0.7, 0.4, 0.6, 0.1])
    target = np.array([1, 0, 1, 1, 0, 0])
    result = confusion_metrics(pred, target, metrics=("sensitivity", "specificity"))
    # FuseMedML argmax-ed the 1-d column and returned sensitivity 0.0
    assert result == {"sensitivity": 2 / 3, "specificity": 2 / 3}


@pytest.mark.parametrize("operation_point", [0.15, 0.3, 0.5, 0.65, 0.85])
def test_metric_confusion_honours_operation_point_on_scalars(operation_point: float) -> None:
    rng = np.random.default_rng(5)
    target = rng.integers(0, 2, 60)
    pred = np.round(np.clip(0.3 * target + rng.random(60) * 0.7, 0, 1), 2)
    frame = pd.DataFrame({"id": range(60), "pred": pred, "target": target})
    metric = MetricConfusion(
        pred="pred", target="target", metrics=("sensitivity", "specificity"), operation_point=operation_point
    )
    metric.set(frame)
    result = metric.eval()
    called = pred > operation_point
    assert result["sensitivity"] == pytest.approx(sk.recall_score(target, called), abs=1e-12)
    assert result["specificity"] == pytest.approx(sk.recall_score(1 - target, ~called), abs=1e-12)


def test_metric_confusion_operation_point_changes_the_result() -> None:
    frame = pd.DataFrame({"id": range(4), "pred": [0.2, 0.7, 0.45, 0.9], "target": [0, 1, 1, 0]})
    values = {}
    for operation_point in (None, 0.4, 0.8):
        metric = MetricConfusion(
            pred="pred", target="target", metrics=("sensitivity",), operation_point=operation_point
        )
        metric.set(frame)
        values[operation_point] = metric.eval()["sensitivity"]
    assert values == {None: 0.5, 0.4: 1.0, 0.8: 0.0}


def test_confusion_operation_point_on_vectors_is_one_vs_rest_per_column() -> None:
    pred, target = _multiclass_data(6)
    frame = pd.DataFrame({"id": range(len(target)), "pred": list(pred), "target": target})
    metric = MetricConfusion(
        pred="pred", target="target", class_names=CLASSES, metrics=("sensitivity", "precision"), operation_point=0.3
    )
    metric.set(frame)
    result = metric.eval()
    for i, name in enumerate(CLASSES):
        called = pred[:, i] > 0.3
        assert result[f"sensitivity.{name}"] == pytest.approx(sk.recall_score(target == i, called), abs=1e-12)
        assert result[f"precision.{name}"] == pytest.approx(
            sk.precision_score(target == i, called, zero_division=0), abs=1e-12
        )
    # FuseMedML's (class, threshold) list: the same conversion as MetricApplyThresholds
    pairs = [(3, 0.5), (0, 0.4), ("argmax", None)]
    labels = convert_probabilities_to_class(pred, pairs)
    listed = confusion_metrics(pred, target, pos_class_index=0, operation_point=pairs)
    assert listed["sensitivity"] == pytest.approx(sk.recall_score(target == 0, labels == 0), abs=1e-12)


def test_confusion_integer_labels_are_compared_directly() -> None:
    labels, target = np.array([0, 1, 2, 2, 1]), np.array([0, 2, 2, 2, 1])
    for operation_point in (None, 0.5, 0.99):
        result = confusion_metrics(labels, target, pos_class_index=2, operation_point=operation_point)
        assert result == {"sensitivity": 2 / 3}


def test_confusion_undefined_values() -> None:
    with pytest.warns(UndefinedMetricWarning, match="sensitivity is undefined"):
        assert np.isnan(confusion_metrics([0.2, 0.9], [0, 0], metrics=("sensitivity",))["sensitivity"])
    with pytest.warns(UndefinedMetricWarning, match="specificity is undefined"):
        assert np.isnan(confusion_metrics([0.2, 0.9], [1, 1], metrics=("specificity",))["specificity"])
    with pytest.warns(UndefinedMetricWarning, match="f1 is undefined"):
        assert np.isnan(confusion_metrics([0.2, 0.1], [0, 0], metrics=("f1",))["f1"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert confusion_metrics([0.2, 0.1], [1, 0], metrics=("precision",)) == {"precision": 0.0}  # FuseMedML


def test_confusion_errors_name_the_bad_value_and_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"\['fdr'\].*allowed: \['sensitivity'"):
        MetricConfusion(pred="p", target="t", metrics=("sensitivity", "fdr"))
    with pytest.raises(ValueError, match="unknown confusion metric"):
        confusion_metrics([1, 0], [1, 0], metrics=("auc",))
    with pytest.raises(ValueError, match="'argmax' is a string"):
        MetricConfusion(pred="p", target="t", operation_point="argmax")
    with pytest.raises(ValueError, match=r"\(5, 'x'\)"):
        MetricConfusion(pred="p", target="t", operation_point=[(5, "x")])


# --- confusion matrix ------------------------------------------------------------------------------------------------


def test_metric_confusion_matrix_equals_sklearn() -> None:
    pred, target = _multiclass_data(7)
    labels = pred.argmax(axis=1)
    weights = np.linspace(0.5, 1.5, len(target))
    frame = pd.DataFrame({"id": range(len(target)), "cls": labels, "target": target, "w": weights})
    metric = MetricConfusionMatrix(cls_pred="cls", target="target", class_names=CLASSES)
    metric.set(frame)
    result = metric.eval()
    expected = sk.confusion_matrix(target, labels)
    assert result["count"][CLASSES].to_numpy().tolist() == expected.tolist()
    assert result["count"]["total"].tolist() == expected.sum(axis=1).tolist()
    assert list(result["count"].index) == CLASSES
    assert list(result["count"].columns) == [*CLASSES, "total"]
    normalised = sk.confusion_matrix(target, labels, normalize="true")
    np.testing.assert_allclose(result["percent"].to_numpy(), normalised, atol=1e-12)
    weighted = MetricConfusionMatrix(cls_pred="cls", target="target", class_names=CLASSES, sample_weight="w")
    weighted.set(frame)
    np.testing.assert_allclose(
        weighted.eval()["count"][CLASSES].to_numpy(), sk.confusion_matrix(target, labels, sample_weight=weights)
    )


def test_confusion_matrix_absent_class_and_abstentions() -> None:
    cls_pred, target = np.array([0, 1, -1, 1, 0]), np.array([0, 0, 0, 1, 1])
    with pytest.warns(UndefinedMetricWarning, match=r"absent from target \(\['c'\]\)"):
        result = confusion_matrix(cls_pred, target, class_names=["a", "b", "c"])
    assert result["count"].to_numpy().tolist() == [[1, 1, 0, 3], [1, 1, 0, 2], [0, 0, 0, 0]]
    assert result["percent"].loc["a"].tolist() == pytest.approx([1 / 3, 1 / 3, 0.0])
    assert result["percent"].loc["c"].isna().all()
    with pytest.raises(ValueError, match=r"classes \[3\] outside"):
        confusion_matrix([0, 1], [0, 3], class_names=["a", "b"])


# --- Brier skill score -----------------------------------------------------------------------------------------------


def test_multi_class_bss_equals_the_formula() -> None:
    pred, target = _multiclass_data(8)
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


# --- thresholds ------------------------------------------------------------------------------------------------------


def test_convert_probabilities_to_class_modes() -> None:
    pred, _ = _multiclass_data(10, n=40)
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


# --- operating points ------------------------------------------------------------------------------------------------


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


# --- FuseMedML example 8 on its 5-class inputs -----------------------------------------------------------------------

EXAMPLE_8_CLASSES = ["B", "LR", "IR", "HR", "VHR"]


def _example_8_pre_collect(sample: NDict) -> NDict:
    scores = np.array([sample[f"pred.{name}-score"] for name in EXAMPLE_8_CLASSES])
    sample["pred.output"] = scores
    sample["pred.output_class"] = scores.argmax()
    return sample


def test_fusemedml_example_8_five_classes(fixtures_dir: Path) -> None:
    data = {
        "target": str(fixtures_dir / "example1_targets.csv"),
        "pred": str(fixtures_dir / "example7_predictions.csv"),
    }
    target_key, names = "target.Task2-target", EXAMPLE_8_CLASSES
    common = {"target": target_key, "pre_collect_process_func": _example_8_pre_collect}
    metrics = {
        "auc": MetricAUCROC(pred="pred.output", class_names=names, **common),
        "auc_pr": MetricAUCPR(pred="pred.output", class_names=names, **common),
        "confusion": MetricConfusion(
            pred="pred.output_class", class_names=names, metrics=["sensitivity", "specificity", "precision"], **common
        ),
        "accuracy": MetricAccuracy(pred="pred.output_class", **common),
        "confusion_matrix": MetricConfusionMatrix(cls_pred="pred.output_class", class_names=names, **common),
        "bss": MetricBSS(pred="pred.output", **common),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)

    frame = pd.read_csv(fixtures_dir / "example1_targets.csv").merge(
        pd.read_csv(fixtures_dir / "example7_predictions.csv"), on="id"
    )
    assert len(frame) == 60
    scores = frame[[f"{name}-score" for name in names]].to_numpy()
    target = frame["Task2-target"].to_numpy()
    labels = scores.argmax(axis=1)
    recall = sk.recall_score(target, labels, labels=range(5), average=None, zero_division=0)
    precision = sk.precision_score(target, labels, labels=range(5), average=None, zero_division=0)
    for i, name in enumerate(names):
        assert results[f"metrics.auc.{name}"] == pytest.approx(sk.roc_auc_score(target == i, scores[:, i]), abs=1e-12)
        assert results[f"metrics.auc_pr.{name}"] == pytest.approx(_sk_auc_pr(target == i, scores[:, i]), abs=1e-12)
        assert results[f"metrics.confusion.sensitivity.{name}"] == pytest.approx(recall[i], abs=1e-12)
        assert results[f"metrics.confusion.precision.{name}"] == pytest.approx(precision[i], abs=1e-12)
        specificity = sk.recall_score(target != i, labels != i)
        assert results[f"metrics.confusion.specificity.{name}"] == pytest.approx(specificity, abs=1e-12)
    assert results["metrics.accuracy"] == sk.accuracy_score(target, labels)
    count = results["metrics.confusion_matrix.count"]
    assert count[names].to_numpy().tolist() == sk.confusion_matrix(target, labels, labels=range(5)).tolist()
    assert count["total"].tolist() == [3, 33, 4, 7, 13]  # Task2-target counts (reference §7.1)
    one_hot = np.eye(5)[target]
    bss = 1 - np.mean(np.sum((scores - one_hot) ** 2, axis=1)) / np.mean(
        np.sum((one_hot.mean(axis=0) - one_hot) ** 2, axis=1)
    )
    assert results["metrics.bss"] == pytest.approx(bss, abs=1e-12)
