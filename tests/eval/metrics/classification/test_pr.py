"""Precision-recall: AUC-PR against sklearn (trapezoidal, not average precision), one-vs-rest with macro average,
resampled, and the curve metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from fuse.core import NDict
from fuse.eval import (
    EvaluatorDefault,
    MetricAccuracy,
    MetricAUCPR,
    MetricAUCROC,
    MetricBSS,
    MetricConfusion,
    MetricConfusionMatrix,
    MetricPrecisionRecallCurve,
    UndefinedMetricWarning,
    auc_pr,
    precision_recall_curve,
)
from fuse.eval.metrics.classification._pr import auc_pr_resampled


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), seed=st.integers(0, 10_000), distinct_scores=st.integers(1, 6))
def test_resampled_auc_pr_equals_sklearn_per_row(n: int, seed: int, distinct_scores: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, distinct_scores, n) / distinct_scores  # heavy ties
    positive = rng.random(n) < 0.5
    rows = rng.integers(0, n, (7, n))
    got = auc_pr_resampled(scores, positive, rows)
    for row, value in zip(rows, got, strict=True):
        if positive[row].all() or not positive[row].any():
            assert np.isnan(value)
        else:
            precision, recall, _ = sk.precision_recall_curve(positive[row], scores[row])
            assert value == pytest.approx(sk.auc(recall, precision), abs=1e-12)


CLASSES = ["a", "b", "c", "d"]


def _sk_auc_pr(positive: np.ndarray, scores: np.ndarray) -> float:
    precision, recall, _ = sk.precision_recall_curve(positive, scores)
    return float(sk.auc(recall, precision))


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


def test_metric_auc_pr_one_vs_rest_with_macro_average(multiclass_data: Any) -> None:
    pred, target = multiclass_data(1)
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


def test_metric_auc_pr_class_missing_is_nan_and_skipped_by_macro_average(multiclass_data: Any) -> None:
    pred, target = multiclass_data(2)
    target[target == 2] = 1  # class "c" absent
    frame = pd.DataFrame({"id": range(len(target)), "pred": list(pred), "target": target})
    metric = MetricAUCPR(pred="pred", target="target", class_names=CLASSES)
    metric.set(frame)
    with pytest.warns(UndefinedMetricWarning, match="only negative samples"):
        result = metric.eval()
    assert np.isnan(result["c"])
    defined = [_sk_auc_pr(target == i, pred[:, i]) for i in (0, 1, 3)]
    assert result["macro_avg"] == pytest.approx(np.mean(defined), abs=1e-12)


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
    assert count["total"].tolist() == [3, 33, 4, 7, 13]  # Task2-target counts
    one_hot = np.eye(5)[target]
    bss = 1 - np.mean(np.sum((scores - one_hot) ** 2, axis=1)) / np.mean(
        np.sum((one_hot.mean(axis=0) - one_hot) ** 2, axis=1)
    )
    assert results["metrics.bss"] == pytest.approx(bss, abs=1e-12)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_precision_recall_curve_metric(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # the plot extra
    pred = np.array([0.1, 0.4, 0.35, 0.8, 0.65, 0.2])
    target = np.array([0, 0, 1, 1, 1, 0])
    curves = precision_recall_curve(pred, target)
    precision, recall, _ = sk.precision_recall_curve(target, pred)
    assert np.array_equal(curves["Positive"]["precision"], precision)
    assert curves["Positive"]["auc"] == pytest.approx(sk.auc(recall, precision))
    metric = MetricPrecisionRecallCurve(pred="pred", target="target", output_filename=tmp_path / "pr.png")
    metric.set(pd.DataFrame({"id": range(6), "pred": pred, "target": target}))
    assert np.array_equal(metric.eval()["Positive"]["recall"], recall)
    assert (tmp_path / "pr.png").read_bytes()[:8] == PNG_SIGNATURE


def test_curve_area_with_only_positives_is_auc_pr_nan_and_warns() -> None:
    # the curve exists (precision 1 everywhere) but its area is auc_pr's, undefined with one class; it was 1.0
    pred, target = [0.2, 0.7, 0.9], [1, 1, 1]
    with pytest.warns(UndefinedMetricWarning, match="AUC-PR is undefined with only positive samples"):
        curve = precision_recall_curve(pred, target)["Positive"]
    assert curve["precision"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert np.isnan(curve["auc"])
    with pytest.warns(UndefinedMetricWarning, match="AUC-PR is undefined with only positive samples"):
        assert np.isnan(auc_pr(pred, target))
