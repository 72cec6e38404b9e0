"""BCa intervals: checked against ``scipy.stats.bootstrap(method="BCa")`` exactly (same bootstrap values) and within
Monte-Carlo error (independent draws), with strata, clusters, undefined resamplings and degenerate cases."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fuse.eval import (
    CI,
    MetricAUCROC,
    MetricConfusion,
    MetricDefault,
    UndefinedMetricWarning,
)
from fuse.eval.resampling._bootstrap import evaluate_bootstraps
from fuse.eval.resampling._intervals import bca_interval

SEED = 1234


def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    target = np.r_[np.zeros(n - n // 3, dtype=int), np.ones(n // 3, dtype=int)]
    # skewed; continuous, so that no resampled mean equals the original only up to rounding error, where scipy's
    # exact comparison and fuse-eval's tie tolerance may differ
    pred = np.clip(0.3 * target + rng.exponential(0.25, n), 0, 1)
    frame: pd.DataFrame = pd.DataFrame({"id": np.arange(n), "pred": pred, "target": target})
    return frame


def _mean_metric() -> MetricDefault:
    return MetricDefault(lambda pred, target: float(np.mean(pred)), pred="pred", target="target")


def _auc_statistic(target: np.ndarray, pred: np.ndarray, axis: int = -1) -> np.ndarray:
    """Vectorised Mann-Whitney AUC along ``axis`` (ties count one half), for scipy.stats.bootstrap."""
    ranks = stats.rankdata(pred, axis=axis)
    positives = np.sum(target, axis=axis)
    negatives = target.shape[axis] - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        auc: np.ndarray = (np.sum(ranks * target, axis=axis) - positives * (positives + 1) / 2) / (
            positives * negatives
        )
    return auc


def _ci(frame: pd.DataFrame, metric: Any, **kwargs: Any) -> Any:
    ci = CI(metric, rnd_seed=SEED, ci_method="BCA", **kwargs)
    ci.set(frame)
    return ci.eval()


def _scipy_bca(data: tuple[np.ndarray, ...], statistic: Any, boot: np.ndarray, **kwargs: Any) -> tuple[float, float]:
    """scipy's BCa on our own bootstrap values (``n_resamples=0`` plus them as a previous result)."""
    result = stats.bootstrap(
        data,
        statistic,
        n_resamples=0,
        bootstrap_result=SimpleNamespace(bootstrap_distribution=boot),
        method="BCa",
        **kwargs,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _our_resamplings(frame: pd.DataFrame, metric: Any, num: int, strata: np.ndarray | None = None) -> np.ndarray:
    metric.set(frame)
    ids = frame["id"].to_numpy()
    (values,) = evaluate_bootstraps([metric], None, ids, np.ones(len(ids)) if strata is None else strata, num, SEED)
    return np.asarray(values, dtype=float)


# ---------------------------------------------------------------------------------------------------------------------
# against scipy


@pytest.mark.parametrize("confidence", [95, 80])
def test_bca_equals_scipy_on_the_same_bootstrap_values(confidence: float) -> None:
    frame = _frame()
    pred, target = frame["pred"].to_numpy(), frame["target"].to_numpy()
    level = confidence / 100
    # the mean
    boot = _our_resamplings(frame, _mean_metric(), 2000)
    result = _ci(frame, _mean_metric(), num_of_bootstraps=2000, conf_interval=confidence)
    expected = _scipy_bca((pred,), np.mean, boot, confidence_level=level)
    assert (result["conf_lower"], result["conf_upper"]) == pytest.approx(expected, abs=1e-12)
    # the AUC (paired resampling of target and prediction), stratified by the target: scipy's jackknife is the same
    auc = MetricAUCROC(pred="pred", target="target")
    boot = _our_resamplings(frame, auc, 2000, strata=target)
    result = _ci(frame, MetricAUCROC(pred="pred", target="target"), stratum="target", num_of_bootstraps=2000,
                 conf_interval=confidence)  # fmt: skip
    expected = _scipy_bca((target, pred), _auc_statistic, boot, paired=True, vectorized=True, confidence_level=level)
    assert (result["conf_lower"], result["conf_upper"]) == pytest.approx(expected, abs=1e-12)
    assert result["org"] == pytest.approx(_auc_statistic(target, pred), abs=1e-12)


def test_bca_agrees_with_scipy_within_monte_carlo_error() -> None:
    """Independent draws, B = 10,000 each: the bounds differ by Monte-Carlo error only (its SD is ~1% of the width).
    Skewed data, so that BCa moves a bound by several times that from the plain percentile interval."""
    rng = np.random.default_rng(4)
    target = np.r_[np.zeros(40, dtype=int), np.ones(20, dtype=int)]
    pred = 0.6 * target + rng.exponential(0.25, 60)
    frame = pd.DataFrame({"id": np.arange(60), "pred": pred, "target": target, "x": rng.lognormal(0, 1, 60)})
    mean = MetricDefault(lambda x: float(np.mean(x)), x="x")
    for metric, data, statistic, options in (
        (mean, (frame["x"].to_numpy(),), np.mean, {}),
        (MetricAUCROC(pred="pred", target="target"), (target, pred), _auc_statistic, {"paired": True}),
    ):
        ours = _ci(frame, metric, num_of_bootstraps=10_000)
        result = stats.bootstrap(data, statistic, n_resamples=10_000, method="BCa", rng=rng, batch=2000, **options)
        theirs = result.confidence_interval
        width = theirs.high - theirs.low
        assert abs(ours["conf_lower"] - theirs.low) < 0.03 * width
        assert abs(ours["conf_upper"] - theirs.high) < 0.03 * width
        percentile = np.quantile(result.bootstrap_distribution, [0.025, 0.975])
        assert np.max(np.abs(percentile - [theirs.low, theirs.high])) > 0.1 * width


def test_the_bias_correction_counts_ties_as_half() -> None:
    interval = bca_interval(1.0, np.array([0.0, 1.0, 1.0, 2.0]), np.array([0.9, 1.0, 1.1, 1.0]), 95)
    assert interval.z0 == 0.0  # (1 below + 3 at or below) / 8 = 0.5
    assert interval.acceleration == pytest.approx(0.0, abs=1e-12)  # symmetric jackknife values
    # equal up to rounding error (0.1 + 0.2 != 0.3): still a tie, not a value below
    assert bca_interval(0.1 + 0.2, np.array([0.0, 0.3, 0.3, 1.0]), np.array([0.2, 0.3, 0.4]), 95).z0 == 0.0


# ---------------------------------------------------------------------------------------------------------------------
# with strata, clusters, dict results and undefined resamplings


def test_clustered_bca_on_duplicated_samples_equals_the_bca_of_the_originals() -> None:
    frame = _frame()
    copies = pd.concat([frame] * 3, ignore_index=True)
    copies["patient"], copies["id"] = copies["id"], np.arange(len(copies))
    for metric in (_mean_metric, lambda: MetricAUCROC(pred="pred", target="target")):
        original = _ci(frame, metric(), stratum="target", num_of_bootstraps=500)
        clustered = _ci(copies, metric(), stratum="target", cluster="patient", num_of_bootstraps=500)
        assert clustered == pytest.approx(original, abs=1e-9)  # the jackknife leaves out whole patients
        unclustered = _ci(copies, metric(), stratum="target", num_of_bootstraps=500)
        assert unclustered["bca_acceleration"] == pytest.approx(original["bca_acceleration"] / np.sqrt(3), rel=0.02)


def test_bca_of_a_dict_result_is_per_key() -> None:
    frame = _frame()
    metric = MetricConfusion(pred="pred", target="target", metrics=("sensitivity", "specificity"), operation_point=0.4)
    result = _ci(frame, metric, stratum="target", num_of_bootstraps=500)
    for key in ("sensitivity", "specificity"):
        assert result[key]["conf_lower"] < result[key]["org"] < result[key]["conf_upper"]
        assert np.isfinite(result[key]["bca_acceleration"])


def test_undefined_resamplings_are_left_out_of_the_bias_correction() -> None:
    rng = np.random.default_rng(0)
    n = 40
    target = np.zeros(n, dtype=int)
    target[[3, 17, 29]] = 1
    frame = pd.DataFrame({"id": np.arange(n), "pred": 0.3 * target + rng.uniform(0, 0.8, n), "target": target})
    boot = _our_resamplings(frame, MetricAUCROC(pred="pred", target="target"), 400)
    defined = boot[~np.isnan(boot)]
    assert len(defined) < len(boot)
    with pytest.warns(UndefinedMetricWarning, match="num_undefined_bootstraps"):
        result = _ci(frame, MetricAUCROC(pred="pred", target="target"), num_of_bootstraps=400)
    assert result["num_undefined_bootstraps"] == len(boot) - len(defined)
    expected = _scipy_bca(
        (frame["target"].to_numpy(), frame["pred"].to_numpy()), _auc_statistic, defined, paired=True, vectorized=True
    )
    assert (result["conf_lower"], result["conf_upper"]) == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------------------------------------------------------------
# where BCa does not exist: NaN with the reason, never a number


def test_bca_is_nan_when_leaving_out_a_sample_makes_the_metric_undefined() -> None:
    frame = _frame(30)
    frame["target"] = 0
    frame.loc[5, "target"] = 1  # the only positive: leaving it out leaves no AUC
    with pytest.warns(UserWarning, match="no BCa interval.*undefined \\(NaN\\) with 1 of 30 units"):
        result = _ci(frame, MetricAUCROC(pred="pred", target="target"), stratum="target", num_of_bootstraps=100)
    assert np.isnan(result["conf_lower"])
    assert np.isnan(result["conf_upper"])


def test_bca_is_nan_when_no_single_sample_changes_the_metric() -> None:
    frame = _frame(30)
    metric = MetricDefault(lambda pred, target: 0.5, pred="pred", target="target")
    with pytest.warns(UserWarning, match="no BCa interval.*no single left-out unit"):
        result = _ci(frame, metric, num_of_bootstraps=50)
    assert np.isnan(result["conf_lower"])
    assert np.isnan(result["conf_upper"])


def test_bca_is_nan_when_every_resampling_lies_on_one_side() -> None:
    interval = bca_interval(5.0, np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]), 95)
    assert np.isnan(interval.lower)
    assert interval.problem is not None
    assert "infinite" in interval.problem
