"""ROC: the vectorised ROC AUC against sklearn, its conventions and undefined cases, ROC curves, bands and the multi-
label AUC.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk
from sklearn.metrics import roc_auc_score

from fuse.eval import (
    EvaluatorDefault,
    MetricAccuracy,
    MetricAUCPR,
    MetricAUCROC,
    MetricAUCROCMultLabel,
    MetricBSS,
    MetricConfusion,
    MetricConfusionMatrix,
    MetricROCCurve,
    UndefinedMetricWarning,
    auc_roc,
    auc_roc_multilabel,
    roc_curve,
    roc_curve_band,
)
from fuse.eval.metrics.classification._roc import auc_roc_resampled


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.integers(0, 10_000), st.integers(1, 6))
def test_resampled_auc_equals_sklearn_per_row(n: int, seed: int, distinct_scores: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, distinct_scores, n) / distinct_scores  # heavy ties
    positive = rng.random(n) < 0.4
    rows = rng.integers(0, n, size=(7, n))
    got = auc_roc_resampled(scores, positive, rows)
    for row, value in zip(rows, got, strict=True):
        labels = positive[row]
        if labels.all() or not labels.any():
            assert np.isnan(value)
        else:
            assert value == pytest.approx(roc_auc_score(labels, scores[row]), abs=1e-12)


def test_auc_undefined_is_nan_with_a_warning() -> None:
    with pytest.warns(UndefinedMetricWarning, match="only negative samples"):
        assert np.isnan(auc_roc([0.1, 0.2], [0, 0]))
    rows = np.array([[0, 0], [0, 1]])
    assert np.isnan(auc_roc_resampled(np.array([0.1, 0.9]), np.array([False, True]), rows)[0])


def test_auc_conventions() -> None:
    assert auc_roc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    vectors = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    assert auc_roc(vectors, [0, 0, 1, 1]) == 0.75  # last column is the positive class
    assert auc_roc(vectors, [0, 0, 1, 1], pos_class_index=0) == 0.75  # class 0 against the rest
    assert auc_roc([0.1, 0.4, 0.35, 0.8, 0.5], [0, 0, 1, 1, -1], ignore_index=-1) == 0.75
    with pytest.raises(ValueError, match="out of range"):
        auc_roc(vectors, [0, 1, 0, 1], pos_class_index=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert auc_roc([0.1, 0.9, 0.2, 0.8], [0, 1, 0, 1], max_fpr=0.5) == 1.0


CLASS_NAMES = ["B", "LR", "IR", "HR", "VHR"]


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_example_8_five_classes(fixtures_dir: Path, tmp_path: Path) -> None:
    """FuseMedML's example_8: five-class metrics from per-class score columns, against sklearn per class."""

    def pre_collect(sample: dict) -> dict:
        scores = np.array([sample[f"pred.{name}-score"] for name in CLASS_NAMES])
        sample["pred.output"] = scores
        sample["pred.output_class"] = scores.argmax()
        return sample

    common = {"target": "target.Task2-target", "pre_collect_process_func": pre_collect}
    metrics = {
        "auc": MetricAUCROC(pred="pred.output", class_names=CLASS_NAMES, **common),
        "auc_pr": MetricAUCPR(pred="pred.output", class_names=CLASS_NAMES, **common),
        "confusion": MetricConfusion(
            pred="pred.output_class",
            class_names=CLASS_NAMES,
            metrics=["sensitivity", "specificity", "precision"],
            **common,
        ),
        "accuracy": MetricAccuracy(pred="pred.output_class", **common),
        "confusion_matrix": MetricConfusionMatrix(cls_pred="pred.output_class", class_names=CLASS_NAMES, **common),
        "bss": MetricBSS(pred="pred.output", **common),
        "roc": MetricROCCurve(
            pred="pred.output", class_names=CLASS_NAMES, output_filename=tmp_path / "roc.png", **common
        ),
    }
    data = {"target": fixtures_dir / "example1_targets.csv", "pred": fixtures_dir / "example7_predictions.csv"}
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)

    preds = pd.read_csv(fixtures_dir / "example7_predictions.csv").set_index("id")
    target = pd.read_csv(fixtures_dir / "example1_targets.csv").set_index("id").loc[preds.index, "Task2-target"]
    scores = preds[[f"{name}-score" for name in CLASS_NAMES]].to_numpy()
    truth = target.to_numpy()
    labels = scores.argmax(axis=1)
    aucs = []
    for index, name in enumerate(CLASS_NAMES):
        auc = sk.roc_auc_score(truth == index, scores[:, index])
        aucs.append(auc)
        assert results[f"metrics.auc.{name}"] == pytest.approx(auc, abs=1e-12)
        precision, recall, _ = sk.precision_recall_curve(truth == index, scores[:, index])
        assert results[f"metrics.auc_pr.{name}"] == pytest.approx(sk.auc(recall, precision), abs=1e-12)
        assert results[f"metrics.confusion.sensitivity.{name}"] == pytest.approx(
            sk.recall_score(truth == index, labels == index), abs=1e-12
        )
        assert results[f"metrics.confusion.specificity.{name}"] == pytest.approx(
            sk.recall_score(truth != index, labels != index), abs=1e-12
        )
        assert results[f"metrics.confusion.precision.{name}"] == pytest.approx(
            sk.precision_score(truth == index, labels == index, zero_division=0), abs=1e-12
        )
        assert results[f"metrics.roc.{name}.auc"] == pytest.approx(auc, abs=1e-12)
    assert results["metrics.auc.macro_avg"] == pytest.approx(np.mean(aucs), abs=1e-12)
    assert results["metrics.accuracy"] == pytest.approx(sk.accuracy_score(truth, labels), abs=1e-12)
    counts = results["metrics.confusion_matrix.count"]
    expected = sk.confusion_matrix(truth, labels, labels=range(5))
    assert np.array_equal(counts[CLASS_NAMES].to_numpy(), expected)
    onehot = np.eye(5)[truth]
    brier = np.mean(np.sum((scores - onehot) ** 2, axis=1))
    reference = np.mean(np.sum((np.bincount(truth, minlength=5) / len(truth) - onehot) ** 2, axis=1))
    assert results["metrics.bss"] == pytest.approx(1 - brier / reference, abs=1e-12)
    assert (tmp_path / "roc.png").read_bytes()[:8] == PNG_SIGNATURE


def test_example_18_multilabel_auc() -> None:
    np.random.seed(42)
    targets = np.random.randint(0, 2, size=(100, 4))
    preds = np.random.rand(100, 4)
    data = {
        "pred": pd.DataFrame({"pred": preds.tolist(), "id": range(100)}),
        "target": pd.DataFrame({"target": targets.tolist(), "id": range(100)}),
    }
    metrics = {
        "micro": MetricAUCROCMultLabel(pred="pred.pred", target="target.target", average="micro"),
        "macro": MetricAUCROCMultLabel(pred="pred.pred", target="target.target", average="macro"),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
    assert results["metrics.micro"] == pytest.approx(sk.roc_auc_score(targets, preds, average="micro"), abs=1e-12)
    assert results["metrics.macro"] == pytest.approx(sk.roc_auc_score(targets, preds, average="macro"), abs=1e-12)
    assert results["metrics.micro"] != results["metrics.macro"]


def test_multilabel_errors() -> None:
    with pytest.raises(ValueError, match="average must be one of"):
        MetricAUCROCMultLabel(pred="p", target="t", average="binary")
    with pytest.raises(ValueError, match="0/1 vectors"):
        auc_roc_multilabel([[0.1, 0.9], [0.8, 0.3]], [[1, 2], [0, 1]])
    with pytest.raises(ValueError, match="shape"):
        auc_roc_multilabel([[0.1, 0.9], [0.8, 0.3]], [[1, 0, 1], [0, 1, 1]])


@pytest.mark.parametrize(
    ("average", "constant", "match"),
    [
        ("micro", "all-0", "every target value is 0"),
        ("macro", "label-1-all-0", r"labels \(columns\) \[1\] have only one class among 20 samples"),
        ("macro", "label-1-all-1", r"labels \(columns\) \[1\]"),
        ("weighted", "all-0", "no label has a positive sample"),  # sklearn: 0.0
        ("weighted", "label-1-all-1", r"labels \(columns\) \[1\]"),
        ("samples", "all-0", r"samples \(rows\) \[0, 1, .* and 10 more have labels all 0 or all 1"),
    ],
)
def test_multilabel_auc_undefined_is_nan_with_one_fuse_warning(average: str, constant: str, match: str) -> None:
    rng = np.random.default_rng(3)
    scores, labels = rng.uniform(size=(20, 3)), rng.integers(0, 2, (20, 3))
    labels[:, 0] = np.arange(20) % 2  # samples mix 0 and 1 unless a whole label is constant
    labels[:, 2] = 1 - labels[:, 0]
    if constant == "all-0":
        labels[:] = 0
    else:
        labels[:, 1] = int(constant[-1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = auc_roc_multilabel(scores, labels, average=average)
    assert np.isnan(value)
    assert [type(w.message) for w in caught] == [UndefinedMetricWarning], [str(w.message) for w in caught]
    assert re.search(match, str(caught[0].message)), str(caught[0].message)


def test_multilabel_auc_defined_equals_sklearn_without_its_warnings() -> None:
    # a label without positives weighs 0 ("weighted") or is pooled ("micro"): defined, sklearn's value, no warning
    rng = np.random.default_rng(4)
    scores, labels = rng.uniform(size=(20, 3)), rng.integers(0, 2, (20, 3))
    labels[:, 0], labels[:, 1] = np.arange(20) % 2, 0
    for average in ("micro", "weighted"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            value = auc_roc_multilabel(scores, labels, average=average)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert value == pytest.approx(sk.roc_auc_score(labels, scores, average=average), abs=1e-15)


def test_binary_roc_curve_names_and_scalar_probabilities() -> None:
    pred = np.array([0.1, 0.4, 0.35, 0.8, 0.65, 0.2])
    target = np.array([0, 0, 1, 1, 1, 0])
    default = roc_curve(pred, target)
    assert list(default) == ["Positive"]
    fpr, tpr, _ = sk.roc_curve(target, pred)
    assert np.array_equal(default["Positive"]["fpr"], fpr)
    assert np.array_equal(default["Positive"]["tpr"], tpr)
    # FuseMedML's explicit binary names: [None, "Positive"] skips class 0; naming it scores class 0 with 1 - p
    both = roc_curve(pred, target, class_names=["neg", "pos"])
    assert both["neg"]["auc"] == pytest.approx(sk.roc_auc_score(target == 0, 1 - pred))
    assert both["pos"]["auc"] == pytest.approx(sk.roc_auc_score(target, pred))
    assert list(roc_curve(pred, target, class_names=[None, "Positive"])) == ["Positive"]
    with pytest.raises(ValueError, match="only negatives"):
        roc_curve(pred, np.zeros(6))


def test_roc_band_brackets_the_curve_and_is_reproducible(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # the plot extra
    rng = np.random.default_rng(4)
    target = rng.integers(0, 2, 300)
    pred = rng.random(300) * 0.7 + 0.3 * target
    grid, lower, upper = roc_curve_band(pred, target, num_of_bootstraps=100)["Positive"]
    curve = roc_curve(pred, target)["Positive"]
    tpr_on_grid = np.interp(grid, curve["fpr"], curve["tpr"])
    assert np.all(lower <= upper)
    assert np.mean((lower <= tpr_on_grid + 1e-9) & (tpr_on_grid <= upper + 1e-9)) > 0.9
    assert np.all((upper - lower)[1:30] > 0.02)  # a real band where the curve rises, not a line
    again = roc_curve_band(pred, target, num_of_bootstraps=100)["Positive"]
    assert np.array_equal(again[1], lower)

    metric = MetricROCCurve(pred="pred", target="target", ci_bootstraps=50, output_filename=tmp_path / "band.png")
    metric.set(pd.DataFrame({"id": range(300), "pred": pred, "target": target}))
    result = metric.eval()
    assert set(result["Positive"]["band"]) == {"fpr", "tpr_lower", "tpr_upper"}
    assert (tmp_path / "band.png").read_bytes()[:8] == PNG_SIGNATURE
    with pytest.raises(ValueError, match="ci_bootstraps"):
        MetricROCCurve(pred="p", target="t", ci_bootstraps=0)
