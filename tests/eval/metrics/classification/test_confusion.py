"""Confusion metrics and the confusion matrix: against sklearn, operation points, undefined values and errors."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from fuse.eval import (
    MetricConfusion,
    MetricConfusionMatrix,
    UndefinedMetricWarning,
    confusion_matrix,
    confusion_metrics,
    convert_probabilities_to_class,
)
from fuse.eval.metrics.classification._confusion import CONFUSION_METRICS

CLASSES = ["a", "b", "c", "d"]


def _counts(truth: np.ndarray, predicted: np.ndarray) -> tuple[int, int, int, int]:
    return (
        int((truth & predicted).sum()),
        int((truth & ~predicted).sum()),
        int((~truth & predicted).sum()),
        int((~truth & ~predicted).sum()),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metric_confusion_one_vs_rest_equals_sklearn(multiclass_data: Any, seed: int) -> None:
    pred, target = multiclass_data(seed)
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


def test_confusion_operation_point_on_vectors_is_one_vs_rest_per_column(multiclass_data: Any) -> None:
    pred, target = multiclass_data(6)
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


def test_metric_confusion_matrix_equals_sklearn(multiclass_data: Any) -> None:
    pred, target = multiclass_data(7)
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


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_confusion_matrix_metric_draws_its_counts(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # the plot extra
    frame = pd.DataFrame({"id": range(6), "pred": [0, 1, 2, 2, 1, 0], "target": [0, 1, 2, 1, 1, 2]})
    out = tmp_path / "cm.png"
    metric = MetricConfusionMatrix(cls_pred="pred", target="target", class_names=["a", "b", "c"], output_filename=out)
    metric.set(frame)
    counts = metric.eval()["count"]
    assert counts.loc["b", "b"] == 2
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    out.unlink()
    metric.eval_resampled(None, np.arange(6), np.array([[0, 1, 2, 3, 4, 5]]))
    assert not out.exists()  # resamplings are not drawn
