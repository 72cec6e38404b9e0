"""Reliability diagrams and the expected calibration error: bins against numpy/sklearn and hand-computed values, edges,
quantiles, errors.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special
from sklearn.calibration import calibration_curve

from fuse.eval import (
    CI,
    ECE_METHODS,
    TEMPERATURE_OPTIMIZERS,
    EvaluatorDefault,
    MetricECE,
    MetricFindTemperature,
    MetricReliabilityDiagram,
    UndefinedMetricWarning,
    expected_calibration_error,
    find_temperature,
    reliability_diagram,
)
from fuse.eval.metrics.classification._calibration import bin_index, equal_width_edges


def _random_probabilities(seed: int, n: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) * 2 + 1.5 * np.eye(classes)[target]
    return special.softmax(logits, axis=1), target


def test_reliability_diagram_hand_computed_with_edges_and_p_equal_one() -> None:
    pred = np.array(
        [
            [0.5, 0.5],  # confidence 0.5 is an edge: bin [0.5, 0.75), argmax 0 (first), target 0: correct
            [0.3, 0.7],  # [0.5, 0.75), wrong
            [0.25, 0.75],  # 0.75 is an edge: [0.75, 1.0], correct
            [1.0, 0.0],  # p = 1.0: last bin (FuseMedML dropped it), correct
            [0.0, 1.0],  # p = 1.0, wrong
        ]
    )
    target = [0, 0, 1, 0, 0]
    result = reliability_diagram(pred, target, num_bins=4)
    assert set(result) == {
        "conf_vec",
        "mid_confidence_points",
        "accuracy",
        "avg_accuracy",
        "avg_confidence",
        "num_samples_per_bin",
        "total_samples",
    }
    assert result["conf_vec"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert result["mid_confidence_points"].tolist() == [0.125, 0.375, 0.625, 0.875]
    assert result["num_samples_per_bin"].tolist() == [0, 0, 2, 3]
    np.testing.assert_array_equal(result["accuracy"], [np.nan, np.nan, 0.5, 2 / 3])
    assert result["avg_accuracy"] == pytest.approx(3 / 5)
    assert result["avg_confidence"] == pytest.approx((0.5 + 0.7 + 0.75 + 1 + 1) / 5)
    assert result["total_samples"] == 5


def test_binary_scalars_are_expanded() -> None:
    p = np.array([0.1, 0.45, 0.8, 1.0, 0.0, 0.62])
    target = np.array([0, 1, 1, 1, 1, 0])
    scalar = reliability_diagram(p, target, num_bins=5)
    vectors = reliability_diagram(np.stack((1 - p, p), axis=1), target, num_bins=5)
    for key in scalar:
        np.testing.assert_array_equal(scalar[key], vectors[key])
    assert scalar["num_samples_per_bin"].tolist() == [0, 0, 1, 1, 4]  # conf: .9 .55 .8 1 1 .62
    np.testing.assert_array_equal(scalar["accuracy"], [np.nan, np.nan, 0.0, 0.0, 0.75])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(2, 6), st.integers(1, 15), st.integers(0, 10_000), st.booleans())
def test_bins_match_numpy_histogram_and_a_plain_loop(
    loop_bins: Any, n: int, classes: int, num_bins: int, seed: int, rounded: bool
) -> None:
    pred, target = _random_probabilities(seed, n, classes)
    if rounded:  # many confidences exactly on edges, and some exactly 1.0
        pred = np.round(pred * num_bins) / num_bins
        pred[:, 0] = 1.0 - pred[:, 1:].sum(axis=1)
        pred = np.clip(pred, 0, 1)
        pred = pred / pred.sum(axis=1, keepdims=True)
    result = reliability_diagram(pred, target, num_bins=num_bins)
    confidence = pred.max(axis=1)
    correct = pred.argmax(axis=1) == target
    # the edges i / K, each the float nearest to it (np.linspace's i * (1 / K) puts 0.3 one bin low: see below)
    edges = np.arange(num_bins + 1) / num_bins
    counts, accuracy = loop_bins(confidence, correct, edges)
    assert result["num_samples_per_bin"].tolist() == np.histogram(confidence, bins=edges)[0].tolist()
    assert result["num_samples_per_bin"].tolist() == counts.tolist()
    assert result["num_samples_per_bin"].sum() == n  # nothing dropped, p = 1.0 included
    np.testing.assert_allclose(result["accuracy"], accuracy, atol=1e-15)
    assert result["avg_accuracy"] == pytest.approx(correct.mean())


def _exact_bins(confidence: np.ndarray, num_bins: int) -> np.ndarray:
    """Bin of each confidence by exact arithmetic: the decimal it is written as (its shortest repr, e.g. 0.3) against
    the fractions i / K; [lo, hi), the last bin closed.
    """
    bins = []
    for value in confidence:
        written = Fraction(Decimal(repr(float(value))))
        bins.append(min(max(i for i in range(num_bins + 1) if written >= Fraction(i, num_bins)), num_bins - 1))
    return np.array(bins)


@pytest.mark.parametrize("num_bins", [2, 4, 5, 8, 10, 20, 25, 50, 100])
@pytest.mark.parametrize("decimals", [1, 2, 3])
def test_confidences_on_edges_go_to_the_bin_above_as_exact_arithmetic_says(num_bins: int, decimals: int) -> None:
    rng = np.random.default_rng(num_bins * 10 + decimals)
    p = np.round(rng.uniform(0, 1, 400), decimals)  # binary: the confidence is max(p, 1 - p)
    p[:21] = np.round(np.arange(21) / 20, decimals)  # every edge of 20 bins (0.05, 0.3, 0.6, 0.7, ...) and 1.0
    target = rng.integers(0, 2, len(p))
    confidence = np.maximum(p, 1 - p)
    expected_bin = _exact_bins(confidence, num_bins)
    result = reliability_diagram(p, target, num_bins=num_bins)
    expected_counts = np.bincount(expected_bin, minlength=num_bins)
    assert result["num_samples_per_bin"].tolist() == expected_counts.tolist()
    correct = (p > 0.5).astype(int) == target
    for i in np.flatnonzero(expected_counts):
        assert result["accuracy"][i] == pytest.approx(correct[expected_bin == i].mean(), abs=1e-15)
    assert result["conf_vec"].tolist() == [float(Fraction(i, num_bins)) for i in range(num_bins + 1)]


@pytest.mark.parametrize("num_bins", [3, 6, 7, 9, 11, 15])
def test_edges_that_are_not_decimals_hold_their_float(num_bins: int) -> None:
    """An edge i / K with no finite decimal (1/3): the float nearest to it opens bin i, the float below it is in bin
    i - 1.
    """
    on_edge = np.array([i / num_bins for i in range(1, num_bins)])
    below = np.nextafter(on_edge, 0)
    edges = equal_width_edges(num_bins)
    assert bin_index(edges, on_edge).tolist() == list(range(1, num_bins))
    assert bin_index(edges, below).tolist() == list(range(num_bins - 1))
    assert bin_index(edges, np.array([0.0, 1.0])).tolist() == [0, num_bins - 1]


def test_default_ece_on_predictions_rounded_to_one_decimal() -> None:
    """5,000 calibrated predictions rounded to one decimal: linspace edges put 0.3, 0.6 and 0.7 one bin low."""
    rng = np.random.default_rng(2024)
    p = np.round(rng.uniform(0, 1, 5000), 1)
    target = (rng.uniform(0, 1, 5000) < p).astype(int)  # calibrated: P(target = 1) = p
    confidence = np.maximum(p, 1 - p)
    correct = (p > 0.5).astype(int) == target
    expected_bin = _exact_bins(confidence, 10)
    # FuseMedML's upper-edge ECE with exact fractions for the edges
    ece = Fraction(0)
    for i in np.unique(expected_bin):
        members = expected_bin == i
        accuracy = Fraction(int(correct[members].sum()), int(members.sum()))
        ece += int(members.sum()) * abs(accuracy - Fraction(i + 1, 10))
    ece /= len(p)
    result = expected_calibration_error(p, target)  # the defaults: 10 bins, upper edge
    assert result["ece"] == pytest.approx(float(ece), abs=1e-12)
    linspace_bins = np.clip(np.searchsorted(np.linspace(0, 1, 11), confidence, side="right") - 1, 0, 9)
    assert (linspace_bins != expected_bin).sum() > 1000  # the confidences 0.6 and 0.7, one bin low with linspace
    assert result["ece"] == pytest.approx(0.08648, abs=1e-12)  # was 0.04766 with linspace edges
    standard = expected_calibration_error(p, target, method="mean_confidence")
    assert standard["ece"] < 0.02  # calibrated predictions, each bin holding one confidence value


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_label_bins_equal_sklearn_calibration_curve(seed: int) -> None:
    pred, target = _random_probabilities(seed, 300, 4)
    confidence = pred.max(axis=1)
    correct = (pred.argmax(axis=1) == target).astype(int)
    prob_true, prob_pred = calibration_curve(correct, confidence, n_bins=10, strategy="uniform")
    result = reliability_diagram(pred, target, num_bins=10)
    counts = result["num_samples_per_bin"]
    occupied = counts > 0
    np.testing.assert_allclose(result["accuracy"][occupied], prob_true, atol=1e-12)
    ece = expected_calibration_error(pred, target, num_bins=10, method="mean_confidence")
    gaps = np.abs(prob_true - prob_pred)
    assert ece["ece"] == pytest.approx(np.sum(counts[occupied] * gaps) / len(target), abs=1e-12)
    assert ece["mce"] == pytest.approx(gaps.max(), abs=1e-12)


def test_quantile_bins_hand_computed() -> None:
    # confidences 0.5 .. 0.9; mquantiles (alphap = betap = 0.4) at 0.5: m = 0.5, n * p + m = 3 -> x[2] = 0.7
    pred = np.array([[0.5, 0.5], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8], [0.1, 0.9]])
    target = [0, 1, 0, 1, 1]
    result = reliability_diagram(pred, target, num_bins=10, num_quantiles=2)  # num_quantiles takes precedence
    np.testing.assert_allclose(result["conf_vec"], [0.5, 0.7, 0.9], atol=1e-15)
    assert result["num_samples_per_bin"].tolist() == [2, 3]  # the maximum 0.9 is counted (FuseMedML: [2, 2])
    np.testing.assert_allclose(result["accuracy"], [1.0, 2 / 3])
    ece = expected_calibration_error(pred, target, num_bins=None, num_quantiles=2)
    assert ece["ece"] == pytest.approx((2 * abs(1.0 - 0.7) + 3 * abs(2 / 3 - 0.9)) / 5)
    assert ece["mce"] == pytest.approx(0.3)


def _hyndman_fan_quantiles(values: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """scipy mstats.mquantiles' default (alphap = betap = 0.4) written out."""
    x = np.sort(values)
    n = len(x)
    m = 0.4 + probabilities * (1 - 0.4 - 0.4)
    aleph = n * probabilities + m
    k = np.floor(np.clip(aleph, 1, n - 1)).astype(int)
    gamma = np.clip(aleph - k, 0, 1)
    return np.asarray((1 - gamma) * x[k - 1] + gamma * x[k])


@pytest.mark.parametrize(("seed", "quantiles"), [(3, 4), (4, 7), (5, 10)])
def test_quantile_bins_are_equal_mass_and_count_everything(loop_bins: Any, seed: int, quantiles: int) -> None:
    pred, target = _random_probabilities(seed, 97, 3)
    result = reliability_diagram(pred, target, num_bins=None, num_quantiles=quantiles)
    confidence = pred.max(axis=1)
    edges = _hyndman_fan_quantiles(confidence, np.linspace(0, 1, quantiles + 1))
    np.testing.assert_allclose(result["conf_vec"], edges, atol=1e-12)
    assert result["conf_vec"][0] == confidence.min()
    assert result["conf_vec"][-1] == confidence.max()
    counts, accuracy = loop_bins(confidence, pred.argmax(axis=1) == target, edges)
    assert result["num_samples_per_bin"].tolist() == counts.tolist()
    assert counts.sum() == 97
    assert counts.max() - counts.min() <= 2
    np.testing.assert_allclose(result["accuracy"], accuracy, atol=1e-15)


def test_tied_quantile_edges_count_every_sample_once() -> None:
    p = np.array([0.6, 0.7, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    result = reliability_diagram(p, np.ones(8, dtype=int), num_bins=None, num_quantiles=4)
    assert result["conf_vec"].tolist()[-3:] == [1.0, 1.0, 1.0]
    assert result["num_samples_per_bin"].sum() == 8
    assert result["num_samples_per_bin"][-1] == 6  # the closed last bin [1, 1]


def test_ece_upper_edge_and_mean_confidence_hand_computed() -> None:
    pred = np.array([[0.9, 0.1], [0.3, 0.7], [0.35, 0.65], [0.05, 0.95], [0.45, 0.55]])
    target = [0, 0, 1, 1, 0]
    # bins of width 0.5: all five in [0.5, 1.0]; accuracy 3/5; upper edge 1.0, mean confidence 3.75 / 5
    upper = expected_calibration_error(pred, target, num_bins=2)
    assert upper == {"ece": pytest.approx(0.4), "mce": pytest.approx(0.4)}
    mean = expected_calibration_error(pred, target, num_bins=2, method="mean_confidence")
    assert mean == {"ece": pytest.approx(0.15), "mce": pytest.approx(0.15)}
    # 5 bins: [.4, .6): .55 wrong -> |0 - .6|, |0 - .55|; [.6, .8): .7 wrong, .65 right -> |.5 - .8|, |.5 - .675|;
    # [.8, 1]: .9, .95 right -> |1 - 1|, |1 - .925|
    upper = expected_calibration_error(pred, target, num_bins=5)
    assert upper["ece"] == pytest.approx((0.6 + 2 * 0.3 + 0) / 5)
    assert upper["mce"] == pytest.approx(0.6)
    mean = expected_calibration_error(pred, target, num_bins=5, method="mean_confidence")
    assert mean["ece"] == pytest.approx((0.55 + 2 * 0.175 + 2 * 0.075) / 5)
    assert mean["mce"] == pytest.approx(0.55)


@pytest.mark.parametrize("method", ECE_METHODS)
def test_empty_input_is_undefined(method: str) -> None:
    with pytest.warns(UndefinedMetricWarning, match="no samples"):
        result = expected_calibration_error(np.empty((0, 3)), [], method=method)
    assert np.isnan(result["ece"])
    assert np.isnan(result["mce"])
    with pytest.warns(UndefinedMetricWarning, match="no samples"):
        diagram = reliability_diagram([], [], num_bins=None, num_quantiles=3)
    assert diagram["total_samples"] == 0
    assert np.isnan(diagram["avg_accuracy"])
    assert diagram["num_samples_per_bin"].tolist() == [0, 0, 0]
    with pytest.warns(UndefinedMetricWarning, match="no samples"):
        assert np.isnan(find_temperature(np.empty((0, 3)), []))


def test_invalid_arguments_name_the_value_and_the_allowed_ones() -> None:
    pred, target = [[0.2, 0.8]], [1]
    with pytest.raises(ValueError, match=r"'mean'.*\['upper_edge', 'mean_confidence'\]"):
        expected_calibration_error(pred, target, method="mean")
    with pytest.raises(ValueError, match=r"'guo'.*allowed"):
        MetricECE(pred="p", target="t", method="guo")
    with pytest.raises(ValueError, match=r"num_bins must be a positive integer or None, got 0"):
        reliability_diagram(pred, target, num_bins=0)
    with pytest.raises(ValueError, match=r"num_quantiles must be a positive integer or None, got 2.5"):
        MetricReliabilityDiagram(pred="p", target="t", num_quantiles=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="both are None"):
        MetricECE(pred="p", target="t", num_bins=None)
    with pytest.raises(ValueError, match=r"'adam'.*\['exact', 'fusemedml_lbfgs'\]"):
        MetricFindTemperature(pred="p", target="t", optimizer="adam")
    with pytest.raises(ValueError, match=r"outside \[0, 2\)"):
        reliability_diagram(pred, [2])
    with pytest.raises(ValueError, match=r"1\.5.*must lie in \[0, 1\]"):
        reliability_diagram([0.2, 1.5], [0, 1])
    with pytest.raises(ValueError, match="negative probabilities"):
        expected_calibration_error([[1.2, -0.2]], [0])
    assert TEMPERATURE_OPTIMIZERS == ("exact", "fusemedml_lbfgs")


def test_rows_must_sum_to_one_and_the_metric_names_the_sample_id() -> None:
    pred = np.array([[0.2, 0.8], [0.5, 0.5 + 4e-6], [0.6, 0.3], [0.1, 0.2]])
    reliability_diagram(pred[:2], [1, 0])  # within FuseMedML's rel_tol 1e-5
    with pytest.raises(ValueError, match=r"sample #2 sums to 0\.8999.*2 such samples"):
        reliability_diagram(pred, [1, 0, 0, 1])
    metric = MetricECE(pred="pred", target="target")
    metric.collect({"id": ["a", "b", "c", "d"], "pred": pred, "target": [1, 0, 0, 1]})
    with pytest.raises(ValueError, match=r"sample #2 \(id 'c'\) sums to 0\.8999.*logits"):
        metric.eval()


def test_reliability_image_is_written_per_evaluation_but_not_per_bootstrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fuse.eval.plots import _calibration as _plots

    written: list[tuple[dict, Path]] = []
    monkeypatch.setattr(_plots, "plot_reliability_diagram", lambda result, path: written.append((result, path)))
    pred, target = _random_probabilities(11, 30, 3)
    frame = pd.DataFrame({"id": range(30), "pred": list(pred), "target": target})
    image = tmp_path / "reliability.png"
    metric = MetricReliabilityDiagram(pred="pred", target="target", num_bins=5, output_filename=image)
    metrics = {"reliability": metric, "ci": CI(metric, num_of_bootstraps=20, rnd_seed=0)}
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics=metrics)
    assert len(written) == 2  # the plain evaluation and the CI's original, not its 20 resamples
    assert written[0][1] == image
    assert written[0][0]["num_samples_per_bin"].tolist() == results["metrics.reliability.num_samples_per_bin"].tolist()
    assert results["metrics.ci.avg_accuracy.org"] == pytest.approx(np.mean(pred.argmax(axis=1) == target))
