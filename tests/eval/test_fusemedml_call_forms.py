"""FuseMedML's positional and keyword call forms of fuse-eval functions: each either keeps FuseMedML's meaning, is
accepted with a DeprecationWarning naming the new keyword, or fails with a message naming the argument and the fix.
Never a silently different meaning."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import directed_hausdorff
from scipy.special import softmax
from scipy.stats import norm
from sklearn.metrics import recall_score, roc_auc_score

from fuse.core import NDict
from fuse.eval import (
    CI,
    EvaluatorDefault,
    Metric2DHausdorff,
    MetricHausdorff,
    apply_temperature,
    apply_thresholds,
    confusion_metrics,
    find_temperature,
    reliability_diagram,
    roc_curve,
)

LOGITS = np.array([[2.0, 0.0], [0.0, 2.0], [1.5, 0.0], [0.0, 1.0], [1.0, 0.0]])
LOGIT_TARGET = [0, 1, 1, 1, 0]


# --- Metric2DHausdorff: FuseMedML's third positional argument is class_weights ------------------------------------


def _hausdorff(pred: np.ndarray, target: np.ndarray, label: int) -> float:
    a, b = np.argwhere(pred == label), np.argwhere(target == label)
    return float(max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0]))


def test_metric_2d_hausdorff_third_positional_is_class_weights() -> None:
    pred = np.array([[1, 0, 2], [0, 1, 2], [1, 0, 0]])
    target = np.array([[1, 1, 2], [1, 1, 0], [1, 1, 2]])
    metric = Metric2DHausdorff("pred", "target", {"1": 3.0, "2": 1.0})  # FuseMedML's positional form
    metric.collect({"id": ["a"], "pred": [pred], "target": [target]})
    result = metric.eval()
    d1, d2 = _hausdorff(pred, target, 1), _hausdorff(pred, target, 2)
    assert result["1"] == pytest.approx(d1)
    assert result["2"] == pytest.approx(d2)
    assert result["average"] == pytest.approx((3 * d1 + d2) / 4)
    assert isinstance(metric, MetricHausdorff)


def test_metric_2d_hausdorff_spacing_is_keyword_only_and_a_spacing_in_third_place_is_refused() -> None:
    with pytest.raises(TypeError, match=r"third argument is class_weights.*spacing=\.\.\. by keyword"):
        Metric2DHausdorff("pred", "target", (2.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Metric2DHausdorff("pred", "target", None, (2.0, 1.0))  # type: ignore[call-arg]
    metric = Metric2DHausdorff("pred", "target", spacing=(2.0, 1.0))
    metric.collect({"id": ["a"], "pred": [np.array([[1, 0], [0, 0]])], "target": [np.array([[0, 0], [1, 0]])]})
    assert metric.eval()["1"] == 2.0  # one row apart, rows 2.0 wide


# --- reliability_diagram: FuseMedML's fifth positional argument is output_filename --------------------------------


def test_reliability_diagram_fifth_positional_is_output_filename(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    pred, target = [[0.9, 0.1], [0.3, 0.7], [0.4, 0.6], [0.05, 0.95]], [0, 0, 1, 1]
    image = tmp_path / "reliability.png"
    drawn = reliability_diagram(pred, target, 2, None, str(image))
    assert image.stat().st_size > 0
    plain = reliability_diagram(pred, target, 2, None)
    assert drawn["num_samples_per_bin"].tolist() == plain["num_samples_per_bin"].tolist() == [0, 4]


def test_reliability_diagram_ids_in_fifth_place_are_refused() -> None:
    with pytest.raises(TypeError, match=r"fifth argument is output_filename.*ids=ids"):
        reliability_diagram([0.2, 0.7], [0, 1], 10, None, ["a", "b"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        reliability_diagram([0.2, 0.7], [0, 1], 10, None, None, ["a", "b"])  # type: ignore[call-arg]
    assert reliability_diagram([0.2, 0.7], [0, 1], ids=["a", "b"])["total_samples"] == 2


def test_roc_curve_fifth_positional_is_output_filename(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    image = tmp_path / "roc.png"
    curves = roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], None, None, image)  # FuseMedML's positional form
    assert image.stat().st_size > 0
    assert curves["Positive"]["auc"] == pytest.approx(roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]))


# --- apply_thresholds: FuseMedML's second positional argument was operation_point ---------------------------------


@pytest.mark.parametrize("operation_point", [0.5, [(0, 0.5)], "argmax"])
def test_apply_thresholds_operation_point_in_second_place_is_refused(operation_point: object) -> None:
    with pytest.raises((TypeError, ValueError), match=r"second argument is the sample ids.*operation_point by keyword"):
        apply_thresholds([0.2, 0.7, 0.6], operation_point)  # type: ignore[arg-type]


def test_apply_thresholds_with_ids_second() -> None:
    result = apply_thresholds([0.2, 0.7, 0.6], ["a", "b", "c"], operation_point=0.65)
    assert result["cls_pred"](["a", "b", "c"]).tolist() == [0, 1, 0]


# --- confusion_metrics: FuseMedML's fifth positional argument is sample_weight ------------------------------------


def test_confusion_metrics_fifth_positional_is_sample_weight() -> None:
    pred, target, weights = [0.2, 0.7, 0.45, 0.9, 0.8], [0, 1, 1, 0, 1], [1.0, 1.0, 2.0, 1.0, 0.5]
    result = confusion_metrics(pred, target, 1, ("sensitivity",), weights)  # FuseMedML's positional form
    expected = recall_score(target, np.asarray(pred) > 0.5, sample_weight=weights)
    assert result["sensitivity"] == pytest.approx(expected, abs=1e-15)


def test_confusion_metrics_operation_point_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        confusion_metrics([0.2, 0.7], [0, 1], 1, ("sensitivity",), None, 0.4)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="sample_weight has 1 values for 2 samples"):
        confusion_metrics([0.2, 0.7], [0, 1], 1, ("sensitivity",), 0.4)  # type: ignore[arg-type]  # an operation point
    assert confusion_metrics([0.2, 0.45], [0, 1], operation_point=0.4) == {"sensitivity": 1.0}


# --- keywords FuseMedML used that fuse-eval renamed ---------------------------------------------------------------


def test_find_temperature_accepts_fusemedml_pred_keyword_with_a_deprecation_warning() -> None:
    expected = find_temperature(logits=LOGITS, target=LOGIT_TARGET)
    with pytest.warns(
        DeprecationWarning,
        match=r"find_temperature\(pred=\.\.\.\) is deprecated: use find_temperature\(logits=\.\.\.\)",
    ):
        assert find_temperature(pred=LOGITS, target=LOGIT_TARGET) == expected  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"got both pred=.*and logits="):
        find_temperature(pred=LOGITS, logits=LOGITS, target=LOGIT_TARGET)  # type: ignore[call-arg]


def test_apply_temperature_accepts_fusemedml_pred_keyword_with_a_deprecation_warning() -> None:
    with pytest.warns(
        DeprecationWarning,
        match=r"apply_temperature\(pred=\.\.\.\) is deprecated: use apply_temperature\(logits=\.\.\.\)",
    ):
        calibrated = apply_temperature(pred=LOGITS, temperature=2.0)  # type: ignore[call-arg]
    np.testing.assert_allclose(calibrated, softmax(LOGITS / 2.0, axis=1), rtol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name warns nothing
        apply_temperature(logits=LOGITS, temperature=2.0)


def test_apply_temperature_needs_a_temperature() -> None:
    # FuseMedML's temperature=None returned the logits unchanged, not probabilities
    with pytest.raises(ValueError, match="temperature must be a positive finite number"):
        apply_temperature(LOGITS, None)  # type: ignore[arg-type]


# --- EvaluatorDefault.read_data / dump_metrics_results, CI.compute_confidence_interval ----------------------------


def test_evaluator_read_data_takes_ids_or_fusemedml_ids_df() -> None:
    frame = pd.DataFrame({"id": ["a", "b", "c"], "pred": [0.1, 0.9, 0.4]})
    evaluator = EvaluatorDefault()
    assert evaluator.read_data(frame, ["c", "a"])["pred"].tolist() == [0.1, 0.4]  # the data's order, as FuseMedML
    ids_df = pd.DataFrame(index=pd.Index(["b", "c"], name="id"))  # as FuseMedML's eval built it
    assert evaluator.read_data(frame, ids_df, "id")["pred"].tolist() == [0.9, 0.4]
    assert evaluator.read_data(frame, pd.DataFrame({"id": ["a"]}))["pred"].tolist() == [0.1]
    with pytest.raises(KeyError, match="1 of 2 requested ids are not in the data"):
        evaluator.read_data(frame, ["a", "z"])
    assert evaluator.read_data(frame, ["a", "z"], error_missing_ids=False)["pred"].tolist() == [0.1]


def test_evaluator_dump_metrics_results_writes_the_report(tmp_path: Path) -> None:
    results = NDict({"metrics.auc": 0.75, "metrics._internal": 1.0})
    EvaluatorDefault().dump_metrics_results(results, tmp_path)
    text = (tmp_path / "results.txt").read_text()
    assert "metrics.auc: 0.75" in text
    assert "_internal" not in text
    assert (tmp_path / "results.json").is_file()


def test_ci_compute_confidence_interval_fusemedml_formulas() -> None:
    samples = np.random.default_rng(0).normal(0.8, 0.05, 10_000)
    ordered = np.sort(samples)
    assert CI.compute_confidence_interval("PERCENTILE", 0.8, samples, 95) == (ordered[250], ordered[9750])
    low, high = CI.compute_confidence_interval("NORMAL", 0.8, samples, 95)
    spread = norm.ppf(0.975) * np.std(samples)
    assert (low, high) == pytest.approx((0.8 - spread, 0.8 + spread), rel=1e-12)
    assert CI.compute_confidence_interval("pivotal", 0.8, samples, 95) == pytest.approx(
        (1.6 - ordered[9750], 1.6 - ordered[250]), rel=1e-12
    )


def test_ci_compute_confidence_interval_refuses_nan_and_unknown_methods() -> None:
    with pytest.raises(ValueError, match=r"1 of 3 bootstrap_statistics are NaN.*drop them"):
        CI.compute_confidence_interval("PERCENTILE", 0.5, [0.4, np.nan, 0.6], 95)
    with pytest.raises(ValueError, match="method must be 'PERCENTILE', 'NORMAL' or 'PIVOTAL'"):
        CI.compute_confidence_interval("BCA", 0.5, [0.4, 0.6], 95)
    with pytest.raises(ValueError, match=r"len\(bootstrap_statistics\) must be >= 1"):
        CI.compute_confidence_interval("PERCENTILE", 0.5, [], 95)
