"""proportion_ci: Wilson and Clopper-Pearson intervals, checked against statsmodels and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score
from statsmodels.stats.proportion import proportion_confint

from fuse.eval import (
    CI,
    PROPORTION_CI_METHODS,
    MetricAccuracy,
    UndefinedMetricWarning,
    proportion_ci,
)
from fuse.eval.resampling._proportion import clustered_proportion_ci

_CASES = [(k, n) for n in (1, 2, 3, 5, 10, 17, 42, 100, 1000) for k in sorted({0, 1, n // 3, n // 2, n - 1, n})]


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
@pytest.mark.parametrize(("method", "statsmodels_name"), [("wilson", "wilson"), ("clopper-pearson", "beta")])
def test_equals_statsmodels(method: str, statsmodels_name: str, alpha: float) -> None:
    for k, n in _CASES:
        expected = proportion_confint(k, n, alpha=alpha, method=statsmodels_name)
        got = proportion_ci(k, n, method=method, alpha=alpha)
        assert got == pytest.approx(expected, abs=1e-12), (k, n)


@pytest.mark.parametrize(("method", "scipy_name"), [("wilson", "wilson"), ("clopper-pearson", "exact")])
def test_equals_scipy(method: str, scipy_name: str) -> None:
    # an implementation independent of statsmodels
    for k, n in _CASES:
        expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method=scipy_name)
        assert proportion_ci(k, n, method=method) == pytest.approx((expected.low, expected.high), abs=1e-9), (k, n)


def test_wilson_closed_form() -> None:
    z = 1.959963984540054
    for k, n in _CASES:
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert proportion_ci(k, n) == pytest.approx((centre - half, centre + half), abs=1e-12), (k, n)


@pytest.mark.parametrize("method", PROPORTION_CI_METHODS)
def test_boundaries_are_exact(method: str) -> None:
    for n in (1, 7, 42, 1000):
        assert proportion_ci(0, n, method=method)[0] == 0.0
        assert proportion_ci(n, n, method=method)[1] == 1.0
        assert 0 < proportion_ci(n, n, method=method)[0] < 1  # not the degenerate [1, 1] of a percentile bootstrap


def test_all_of_42_positives() -> None:
    lower, upper = proportion_ci(42, 42)
    assert upper == 1.0
    assert lower == pytest.approx(proportion_confint(42, 42, method="wilson")[0], abs=1e-15)
    assert lower < 0.92


def test_no_trial_is_nan_with_a_reason() -> None:
    with pytest.warns(UndefinedMetricWarning, match="n == 0"):
        lower, upper = proportion_ci(0, 0)
    assert np.isnan(lower)
    assert np.isnan(upper)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"successes": 3, "n": 2}, "0 <= successes <= n"),
        ({"successes": -1, "n": 2}, "0 <= successes <= n"),
        ({"successes": 1, "n": 2, "alpha": 0}, "alpha must be in"),
        ({"successes": 1, "n": 2, "alpha": 1.2}, "alpha must be in"),
        ({"successes": 1, "n": 2, "method": "normal"}, "method must be one of"),
        ({"successes": 1, "n": 2, "method": "beta"}, "statsmodels' name for 'clopper-pearson'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        proportion_ci(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"successes": 1.5, "n": 2}, "successes must be an integer"),
        ({"successes": 1, "n": 2.0}, "n must be an integer"),
        ({"successes": True, "n": 2}, "successes must be an integer"),
    ],
)
def test_counts_must_be_integers(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(TypeError, match=match):
        proportion_ci(**kwargs)  # type: ignore[arg-type]


def test_numpy_integers_accepted() -> None:
    assert proportion_ci(np.int64(3), np.int64(10)) == proportion_ci(3, 10)


@pytest.mark.parametrize(
    ("pred", "target", "pos_label"),
    [
        # score vectors (argmax), class labels, probabilities of class 1 with named labels
        (list(np.eye(3)[[0, 1, 2, 2, 1, 0, 0, 1]] + 0.1), [0, 1, 2, 1, 1, 0, 2, 1], None),
        ([3, 1, 2, 2, 0, 1, 3, 3, 0], [3, 1, 2, 0, 0, 1, 3, 2, 0], None),
        ([0.9, 0.2, 0.6, 0.4, 0.7, 0.1], ["sick", "well", "well", "well", "sick", "sick"], "sick"),
    ],
)
def test_ci_of_accuracy_is_wilson_on_the_correct_count(
    pred: list[object], target: list[object], pos_label: object
) -> None:
    metric = CI(MetricAccuracy(pred="pred", target="target", pos_label=pos_label), ci_method="WILSON")
    metric.collect({"id": np.arange(len(target)), "pred": pred, "target": target})
    result = metric.eval()
    # the correct count, computed independently of fuse-eval
    scores = np.asarray(pred, dtype=float)
    if scores.ndim == 2:
        predicted = list(scores.argmax(axis=1))
    elif pos_label is not None:
        predicted = [pos_label if p > 0.5 else next(t for t in target if t != pos_label) for p in scores]
    else:
        predicted = list(scores.astype(int))
    correct = int(accuracy_score(target, predicted, normalize=False))
    assert (result["successes"], result["n"]) == (correct, len(target))
    assert result["org"] == pytest.approx(correct / len(target), abs=1e-12)
    expected = proportion_confint(correct, len(target), alpha=0.05, method="wilson")
    assert (result["conf_lower"], result["conf_upper"]) == pytest.approx(expected, abs=1e-12)


def test_ci_of_accuracy_one_is_not_degenerate() -> None:
    # 60 of 60 right: a percentile bootstrap gives [1, 1]; the Wilson interval's lower bound is statsmodels' 0.94
    target = np.arange(60) % 10
    metric = CI(MetricAccuracy(pred="pred", target="target"), ci_method="WILSON")
    metric.collect({"id": np.arange(60), "pred": list(np.eye(10)[target]), "target": target})
    result = metric.eval()
    assert result["org"] == 1.0
    assert result["conf_upper"] == 1.0
    assert result["conf_lower"] == pytest.approx(proportion_confint(60, 60, method="wilson")[0], abs=1e-12)
    assert result["conf_lower"] < 1.0


def test_ci_of_weighted_accuracy_has_no_counts() -> None:
    metric = CI(MetricAccuracy(pred="pred", target="target", sample_weight="weight"), ci_method="WILSON")
    metric.collect({"id": np.arange(3), "pred": [0, 1, 1], "target": [0, 1, 0], "weight": [1.0, 2.0, 1.0]})
    with pytest.raises(ValueError, match="sample_weight is given; use a bootstrap ci_method"):
        metric.eval()


# ---------------------------------------------------------------------------------------------- clustered cases
def test_clustered_interval_with_one_case_per_cluster_is_the_plain_interval() -> None:
    for method in ("wilson", "clopper-pearson"):
        for successes in (0, 7, 30):
            low, high, effective = clustered_proportion_ci(successes, np.arange(30), method=method)
            assert (low, high) == proportion_ci(successes, 30, method=method)
            assert effective == 30


@pytest.mark.parametrize("copies", [2, 3, 5])
def test_identical_copies_of_each_case_give_the_interval_of_the_originals(copies: int) -> None:
    # each patient's k images all detected or all missed: the data hold 40 patients, not 40k images
    for successes, method in ((31, "wilson"), (40, "wilson"), (0, "clopper-pearson"), (17, "clopper-pearson")):
        clusters = np.repeat(np.arange(40), copies)
        low, high, effective = clustered_proportion_ci(successes * copies, clusters, method=method)
        expected = proportion_confint(successes, 40, alpha=0.05, method={"wilson": "wilson"}.get(method, "beta"))
        assert effective == pytest.approx(40)
        assert low == pytest.approx(0.0 if successes == 0 else expected[0], abs=1e-12)
        assert high == pytest.approx(1.0 if successes == 40 else expected[1], abs=1e-12)


def test_clustered_interval_uses_kishs_effective_size_for_unequal_clusters() -> None:
    sizes = [5, 1, 1, 3, 2, 1]
    clusters = np.repeat(np.arange(len(sizes)), sizes)
    effective = sum(sizes) ** 2 / sum(size * size for size in sizes)  # computed by hand: 169 / 41
    low, high, got = clustered_proportion_ci(9, clusters)
    assert got == pytest.approx(effective)
    expected = proportion_confint(9 / 13 * effective, effective, alpha=0.05, method="wilson")
    assert (low, high) == pytest.approx(expected, abs=1e-12)
    plain = proportion_ci(9, 13)
    assert low < plain[0]  # wider than treating the 13 cases as independent
    assert high > plain[1]


def test_clustered_interval_checks_its_counts() -> None:
    with pytest.raises(ValueError, match=r"successes=5"):
        clustered_proportion_ci(5, [0, 1, 2])
    with pytest.raises(ValueError, match="method must be one of"):
        clustered_proportion_ci(1, [0, 0, 1], method="beta")
