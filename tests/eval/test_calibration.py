"""Calibration metrics against hand computations, sklearn ``calibration_curve``, numpy histograms and scipy optimisers;
FuseMedML's example 13 through the evaluator; calibrated probabilities staying aligned under CI and GroupAnalysis.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, special
from sklearn.calibration import calibration_curve

from fuse.eval import (
    CI,
    ECE_METHODS,
    TEMPERATURE_OPTIMIZERS,
    EvaluatorDefault,
    GroupAnalysis,
    MetricApplyTemperature,
    MetricECE,
    MetricFindTemperature,
    MetricReliabilityDiagram,
    PerSampleData,
    UndefinedMetricWarning,
    apply_temperature,
    expected_calibration_error,
    find_temperature,
    reliability_diagram,
)
from fuse.eval._bootstrap import bootstrap_rows
from fuse.eval._calibration import bin_index, equal_width_edges
from fuse.eval._evaluator import read_data

EXAMPLE_13_CLASSES = ["B", "LR", "IR", "HR", "VHR"]


def _random_probabilities(seed: int, n: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) * 2 + 1.5 * np.eye(classes)[target]
    return special.softmax(logits, axis=1), target


def _nll(logits: np.ndarray, target: np.ndarray, temperature: float) -> float:
    """Mean cross-entropy, written out: -log(exp(z_y / T) / sum_c exp(z_c / T))."""
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    log_probabilities = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
    return float(-np.mean(log_probabilities[np.arange(len(target)), target]))


def _scipy_temperature(logits: np.ndarray, target: np.ndarray) -> float:
    result = optimize.minimize_scalar(
        lambda log_t: _nll(logits, target, float(np.exp(log_t))),
        bounds=(np.log(1e-3), np.log(1e3)),
        method="bounded",
        options={"xatol": 1e-12},
    )
    return float(np.exp(result.x))


def _loop_bins(confidence: np.ndarray, correct: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts and accuracies per bin by FuseMedML's loop, with the last bin closed (the fix)."""
    counts, accuracy = [], []
    for i in range(len(edges) - 1):
        last = i == len(edges) - 2
        inside = (confidence >= edges[i]) & ((confidence <= edges[i + 1]) if last else (confidence < edges[i + 1]))
        counts.append(int(inside.sum()))
        accuracy.append(correct[inside].mean() if inside.any() else np.nan)
    return np.array(counts), np.array(accuracy)


# --- reliability diagram ----------------------------------------------------------------------------------------------


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
    n: int, classes: int, num_bins: int, seed: int, rounded: bool
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
    counts, accuracy = _loop_bins(confidence, correct, edges)
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
def test_quantile_bins_are_equal_mass_and_count_everything(seed: int, quantiles: int) -> None:
    pred, target = _random_probabilities(seed, 97, 3)
    result = reliability_diagram(pred, target, num_bins=None, num_quantiles=quantiles)
    confidence = pred.max(axis=1)
    edges = _hyndman_fan_quantiles(confidence, np.linspace(0, 1, quantiles + 1))
    np.testing.assert_allclose(result["conf_vec"], edges, atol=1e-12)
    assert result["conf_vec"][0] == confidence.min()
    assert result["conf_vec"][-1] == confidence.max()
    counts, accuracy = _loop_bins(confidence, pred.argmax(axis=1) == target, edges)
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


# --- ECE --------------------------------------------------------------------------------------------------------------


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


# --- temperature ------------------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(5, 80), st.integers(2, 6), st.floats(0.2, 5.0), st.integers(0, 10_000))
def test_find_temperature_minimises_the_cross_entropy(n: int, classes: int, scale: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, n)
    logits = scale * (rng.normal(size=(n, classes)) + np.eye(classes)[target])
    rows = np.arange(n)
    if (logits.argmax(axis=1) == target).all():  # separable: the NLL falls as T -> 0
        with pytest.warns(UndefinedMetricWarning, match="temperature goes to 0"):
            assert np.isnan(find_temperature(logits, target))
        return
    if np.mean(logits.mean(axis=1) - logits[rows, target]) >= 0:  # NLL'(1/T = 0) >= 0: it falls as T -> infinity
        with pytest.warns(UndefinedMetricWarning, match="goes to infinity"):
            assert np.isnan(find_temperature(logits, target))
        return
    temperature = find_temperature(logits, target)
    best = _nll(logits, target, temperature)
    assert best <= _nll(logits, target, temperature * 1.0001)
    assert best <= _nll(logits, target, temperature / 1.0001)
    expected = _scipy_temperature(logits, target)
    if 1.01e-3 < expected < 0.99e3:  # inside scipy's bracket
        assert temperature == pytest.approx(expected, rel=1e-5)
        assert best <= _nll(logits, target, expected) + 1e-12


def test_find_temperature_undefined_cases() -> None:
    with pytest.warns(UndefinedMetricWarning, match="temperature goes to 0"):
        assert np.isnan(find_temperature([[3.0, 1.0], [0.0, 2.0]], [0, 1]))  # every argmax is right
    with pytest.warns(UndefinedMetricWarning, match="goes to infinity"):
        assert np.isnan(find_temperature([[3.0, 1.0], [0.0, 2.0]], [1, 0]))  # every argmax is wrong
    with pytest.raises(ValueError, match=r"sample #1 are not finite: \[-inf, 0\.0\]"):
        find_temperature(np.array([[0.5, 0.5], [-np.inf, 0.0]]), [0, 1])


def test_scalar_logits_are_binary() -> None:
    z = np.array([2.0, -1.0, 0.5, 3.0, -2.0, 0.2])
    target = np.array([1, 0, 0, 1, 1, 0])
    vectors = np.stack((np.zeros_like(z), z), axis=1)
    assert find_temperature(z, target) == pytest.approx(find_temperature(vectors, target), rel=1e-12)
    np.testing.assert_allclose(apply_temperature(z, 1.7), special.expit(z / 1.7), atol=1e-15)


def test_apply_temperature_is_a_softmax() -> None:
    logits = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    expected = np.exp(logits / 0.5) / np.exp(logits / 0.5).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(apply_temperature(logits, 0.5), expected, atol=1e-15)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive finite number"):
            apply_temperature(logits, bad)
    with pytest.raises(ValueError, match="'temp' is a string"):
        MetricApplyTemperature(pred="logits", temperature="temp")
    with pytest.raises(ValueError, match="got -2"):
        MetricApplyTemperature(pred="logits", temperature=-2)


def test_apply_temperature_metric_returns_per_sample_data_aligned_by_id() -> None:
    logits = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
    metric = MetricApplyTemperature(pred="logits", temperature=2.0)
    metric.collect({"id": ["a", "b", "c"], "logits": logits})
    calibrated = metric.eval()
    assert isinstance(calibrated, PerSampleData)
    np.testing.assert_allclose(calibrated(["c", "a"]), special.softmax(logits[[2, 0]] / 2.0, axis=1), atol=1e-15)
    subset = metric.eval(ids=["b"])
    np.testing.assert_allclose(subset(["b"]), special.softmax(logits[[1]] / 2.0, axis=1), atol=1e-15)
    no_ids = MetricApplyTemperature(pred="logits", temperature=2.0, collect_ids=False)
    no_ids.collect({"logits": logits})
    with pytest.raises(ValueError, match="needs sample ids"):
        no_ids.eval()


# --- FuseMedML example 13 through the evaluator -----------------------------------------------------------------------


def _example_13_pre_collect(sample: dict) -> dict:
    scores = np.array([sample[f"pred.{name}-score"] for name in EXAMPLE_13_CLASSES])
    sample["pred.output"] = scores
    sample["pred.logits"] = np.log(scores)  # logits up to a constant, as in FuseMedML's example
    return sample


def _example_13_frame(fixtures_dir: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    frame = pd.read_csv(fixtures_dir / "example1_targets.csv").merge(
        pd.read_csv(fixtures_dir / "example7_predictions.csv"), on="id"
    )
    scores = frame[[f"{name}-score" for name in EXAMPLE_13_CLASSES]].to_numpy()
    return scores, frame["Task2-target"].to_numpy(), frame["id"].tolist()


def _example_13_metrics(optimizer: str, output_dir: Path | None = None) -> dict:
    common = {"target": "target.Task2-target", "pre_collect_process_func": _example_13_pre_collect}
    calibrated = "results:metrics.apply_temperature"
    return {
        "reliability": MetricReliabilityDiagram(pred="pred.output", num_bins=10, **common),
        "ece": MetricECE(pred="pred.output", num_bins=10, **common),
        "ece_standard": MetricECE(pred="pred.output", method="mean_confidence", **common),
        "find_temperature": MetricFindTemperature(pred="pred.logits", optimizer=optimizer, **common),
        "apply_temperature": MetricApplyTemperature(
            pred="pred.logits",
            temperature="results:metrics.find_temperature",
            pre_collect_process_func=_example_13_pre_collect,
        ),
        "ece_calibrated": MetricECE(pred=calibrated, num_bins=10, **common),
        "reliability_calibrated": MetricReliabilityDiagram(
            pred=calibrated,
            num_bins=10,
            output_filename=None if output_dir is None else output_dir / "reliability_calibrated.png",
            **common,
        ),
    }


def test_fusemedml_example_13(fixtures_dir: Path) -> None:
    data = {
        "target": str(fixtures_dir / "example1_targets.csv"),
        "pred": str(fixtures_dir / "example7_predictions.csv"),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=_example_13_metrics("exact"))

    scores, target, ids = _example_13_frame(fixtures_dir)
    assert len(target) == 60
    confidence, correct = scores.max(axis=1), scores.argmax(axis=1) == target
    edges = np.arange(11) / 10
    counts, accuracy = _loop_bins(confidence, correct, edges)
    # FuseMedML 0.4.1's numbers (its Calibration code run on these files): no confidence reaches 1.0 here, so the
    # closed last bin changes nothing, and none lies exactly on an edge, so the exact edges (i / 10 where FuseMedML
    # used linspace) change nothing either; empty bins hold NaN instead of FuseMedML's 0.0
    assert counts.tolist() == [0, 0, 2, 16, 26, 13, 2, 1, 0, 0]
    assert results["metrics.reliability.num_samples_per_bin"].tolist() == counts.tolist()
    np.testing.assert_allclose(results["metrics.reliability.accuracy"], accuracy, atol=1e-15)
    np.testing.assert_allclose(
        np.nan_to_num(accuracy), [0, 0, 0, 0.4375, 0.6923076923076923, 0.6153846153846154, 0.5, 0, 0, 0], atol=1e-15
    )
    assert results["metrics.reliability.avg_accuracy"] == pytest.approx(0.5666666666666667, abs=1e-15)
    assert results["metrics.reliability.avg_confidence"] == pytest.approx(0.44118336339791614, abs=1e-15)
    assert results["metrics.reliability.total_samples"] == 60
    assert results["metrics.ece.ece"] == pytest.approx(0.12666666666666665, abs=1e-15)  # FuseMedML
    assert results["metrics.ece.mce"] == pytest.approx(0.8, abs=1e-15)  # FuseMedML: the bin [0.7, 0.8) holds 1 wrong
    occupied = counts > 0
    mean_confidence = np.array([confidence[(confidence >= lo) & (confidence < hi)].mean() for lo, hi in
                                zip(edges[:-1][occupied], edges[1:][occupied], strict=True)])  # fmt: skip
    gaps = np.abs(accuracy[occupied] - mean_confidence)
    assert results["metrics.ece_standard.ece"] == pytest.approx(np.sum(counts[occupied] * gaps) / 60, abs=1e-12)

    # temperature: the cross-entropy minimum (scipy); FuseMedML's LBFGS stops at 0.8076 (see the next test)
    logits = np.log(scores)
    temperature = results["metrics.find_temperature"]
    assert temperature == pytest.approx(_scipy_temperature(logits, target), rel=1e-6)
    assert temperature == pytest.approx(0.894781876, rel=1e-6)  # torch LBFGS + strong Wolfe, run to convergence
    assert _nll(logits, target, temperature) < _nll(logits, target, 1.0) - 2e-3  # calibration lowers the NLL
    calibrated = results["metrics.apply_temperature"]
    assert isinstance(calibrated, PerSampleData)
    expected_probabilities = np.exp(logits / temperature) / np.exp(logits / temperature).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(calibrated(ids), expected_probabilities, atol=1e-12)
    calibrated_confidence = expected_probabilities.max(axis=1)
    counts_cal, accuracy_cal = _loop_bins(calibrated_confidence, expected_probabilities.argmax(axis=1) == target, edges)
    assert results["metrics.reliability_calibrated.num_samples_per_bin"].tolist() == counts_cal.tolist()
    np.testing.assert_allclose(results["metrics.reliability_calibrated.accuracy"], accuracy_cal, atol=1e-15)
    filled = counts_cal > 0
    upper_gaps = np.abs(accuracy_cal[filled] - edges[1:][filled])
    assert results["metrics.ece_calibrated.ece"] == pytest.approx(np.sum(counts_cal[filled] * upper_gaps) / 60)
    assert results["metrics.ece_calibrated.mce"] == pytest.approx(upper_gaps.max())


def test_fusemedml_example_13_with_fusemedml_lbfgs_reproduces_its_numbers(fixtures_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    data = {
        "target": str(fixtures_dir / "example1_targets.csv"),
        "pred": str(fixtures_dir / "example7_predictions.csv"),
    }
    metrics = _example_13_metrics("fusemedml_lbfgs", output_dir=tmp_path)
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
    # FuseMedML 0.4.1 (torch 2.13 LBFGS, lr=0.01, max_iter=50, T0=1.5) on this data: T = 0.8076462745666504,
    # then ECE 0.1233333333333333, MCE 0.30000000000000004 and these bin counts
    assert results["metrics.find_temperature"] == pytest.approx(0.8076462745666504, abs=1e-5)
    assert results["metrics.ece_calibrated.ece"] == pytest.approx(0.1233333333333333, abs=1e-12)
    assert results["metrics.ece_calibrated.mce"] == pytest.approx(0.30000000000000004, abs=1e-12)
    assert results["metrics.reliability_calibrated.num_samples_per_bin"].tolist() == [0, 0, 2, 11, 20, 19, 6, 2, 0, 0]
    image = tmp_path / "reliability_calibrated.png"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    scores, target, _ = _example_13_frame(fixtures_dir)
    logits = np.log(scores)
    assert _nll(logits, target, results["metrics.find_temperature"]) < _nll(logits, target, 1.0)


def test_reliability_image_is_written_per_evaluation_but_not_per_bootstrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fuse.eval import _plots

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


# --- calibrated probabilities under CI and GroupAnalysis --------------------------------------------------------------


def _shuffled_sources(seed: int = 7, n: int = 40) -> tuple[dict[str, pd.DataFrame], np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    ids = [f"s{i:02d}" for i in range(n)]
    target = rng.integers(0, 3, n)
    logits = 3.0 * rng.normal(size=(n, 3)) + 2.0 * np.eye(3)[target]
    group = np.where(np.arange(n) % 3 == 0, "site_a", "site_b")
    preds = pd.DataFrame({"id": ids, "l0": logits[:, 0], "l1": logits[:, 1], "l2": logits[:, 2]})
    targets = pd.DataFrame({"id": ids, "target": target, "group": group})
    order = rng.permutation(n)  # sources in different orders: the evaluator joins them on id
    return {"pred": preds.iloc[order], "target": targets}, logits, target, ids


def _logits_pre_collect(sample: dict) -> dict:
    sample["pred.logits"] = np.array([sample["pred.l0"], sample["pred.l1"], sample["pred.l2"]])
    return sample


def test_calibrated_probabilities_stay_aligned_in_group_analysis_and_ci() -> None:
    data, logits, target, ids = _shuffled_sources()
    temperature = 2.5
    calibrated = "results:metrics.calibrated"
    metrics = {
        "calibrated": MetricApplyTemperature(
            pred="pred.logits", temperature=temperature, pre_collect_process_func=_logits_pre_collect
        ),
        "ece_per_group": GroupAnalysis(
            MetricECE(pred=calibrated, target="target.target", num_bins=5, method="mean_confidence"),
            group="target.group",
        ),
        "ece_ci": CI(
            MetricECE(pred=calibrated, target="target.target", num_bins=5),
            stratum="target.target",
            num_of_bootstraps=50,
            rnd_seed=3,
        ),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)

    probabilities = np.exp(logits / temperature) / np.exp(logits / temperature).sum(axis=1, keepdims=True)
    edges = np.linspace(0, 1, 6)

    def ece(rows: np.ndarray, mean_confidence: bool) -> float:
        confidence = probabilities[rows].max(axis=1)
        correct = probabilities[rows].argmax(axis=1) == target[rows]
        total = 0.0
        for i in range(5):
            inside = (confidence >= edges[i]) & ((confidence <= 1) if i == 4 else (confidence < edges[i + 1]))
            if inside.any():
                reference = confidence[inside].mean() if mean_confidence else edges[i + 1]
                total += inside.sum() * abs(correct[inside].mean() - reference)
        return total / len(rows)

    positions = np.arange(len(ids))
    for site in ("site_a", "site_b"):
        rows = positions[(positions % 3 == 0) == (site == "site_a")]
        assert results[f"metrics.ece_per_group.{site}.ece"] == pytest.approx(ece(rows, True), abs=1e-12)
    assert results["metrics.ece_ci.ece.org"] == pytest.approx(ece(positions, False), abs=1e-12)
    # the CI's resamples: FuseMedML's stratified draws over the ids in collected order (the order of the joined frame)
    collected = np.array([ids.index(sample_id) for sample_id in read_data(data, None).index])
    assert not np.array_equal(collected, positions)  # a misaligned array would give other values
    blocks = bootstrap_rows(target[collected], 50, 3)
    resampled = [ece(collected[row], False) for block in blocks for row in block]
    assert results["metrics.ece_ci.ece.mean"] == pytest.approx(np.mean(resampled), abs=1e-12)
    assert results["metrics.ece_ci.ece.std"] == pytest.approx(np.std(resampled), abs=1e-12)
