"""Calibration intercept and slope against direct statsmodels / scikit-learn fits and the intercept's score equation;
ICI, E50, E90 and Emax against a direct lowess call and a brute-force local-linear smoother; the undefined cases;
``MetricCalibrationStats`` under ``CI``."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, special
from sklearn.linear_model import LogisticRegression
from statsmodels.nonparametric.smoothers_lowess import lowess

from fuse.eval import (
    CI,
    EvaluatorDefault,
    MetricBase,
    MetricCalibrationStats,
    UndefinedMetricWarning,
    calibration_intercept,
    calibration_slope,
    calibration_stats,
    integrated_calibration_index,
)


def _miscalibrated(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Risks too extreme (slope 0.6 would recalibrate them) and too high on average (intercept -0.4)."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(0, 1.8, n)
    truth = special.expit(-0.4 + 0.6 * logit)
    return special.expit(logit), (rng.uniform(size=n) < truth).astype(int)


def test_intercept_and_slope_match_direct_fits() -> None:
    risk, outcome = _miscalibrated()
    logit = np.log(risk / (1 - risk))
    ours = calibration_stats(risk, outcome, stats=("intercept", "slope"))
    direct_slope = sm.Logit(outcome, sm.add_constant(logit)).fit(disp=0).params[1]
    direct_intercept = sm.GLM(outcome, np.ones(len(logit)), family=sm.families.Binomial(), offset=logit).fit().params[0]
    assert ours["slope"] == pytest.approx(direct_slope, abs=1e-8)
    assert ours["intercept"] == pytest.approx(direct_intercept, abs=1e-8)
    # scikit-learn, unpenalised (C=inf: penalty=None is deprecated since scikit-learn 1.8)
    fit = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(logit[:, None], outcome)
    assert ours["slope"] == pytest.approx(fit.coef_[0, 0], abs=1e-5)
    # the intercept solves its score equation sum(y) = sum(expit(a + logit(p)))
    root = optimize.brentq(lambda a: outcome.sum() - special.expit(a + logit).sum(), -10, 10, xtol=1e-14)
    assert ours["intercept"] == pytest.approx(root, abs=1e-8)
    assert calibration_intercept(risk, outcome) == ours["intercept"]
    assert calibration_slope(risk, outcome) == ours["slope"]
    # and the recalibration that generated the data is found (sampling error of 600 samples)
    assert ours["slope"] == pytest.approx(0.6, abs=0.15)


def test_calibrated_data_give_intercept_0_slope_1_and_a_small_ici() -> None:
    rng = np.random.default_rng(5)
    risk = special.expit(rng.normal(-0.5, 1.5, 4000))
    outcome = (rng.uniform(size=4000) < risk).astype(int)
    stats = calibration_stats(risk, outcome)
    logit = np.log(risk / (1 - risk))
    fit = sm.Logit(outcome, sm.add_constant(logit)).fit(disp=0)
    assert abs(stats["intercept"]) < 3 * fit.bse[0]  # within sampling error
    assert abs(stats["slope"] - 1) < 3 * fit.bse[1]
    assert stats["ici"] < 0.02
    assert stats["e50"] <= stats["e90"] <= stats["emax"]


def test_ici_matches_a_direct_lowess_call() -> None:
    risk, outcome = _miscalibrated()
    smoothed = lowess(outcome, risk, frac=2 / 3, it=0, delta=0.01 * np.ptp(risk), return_sorted=False)
    errors = np.abs(risk - smoothed)
    result = integrated_calibration_index(risk, outcome)
    assert result == pytest.approx(
        {"ici": errors.mean(), "e50": np.median(errors), "e90": np.percentile(errors, 90), "emax": errors.max()},
        abs=1e-12,
    )
    assert result["ici"] > 0.05  # the miscalibration is seen


def _local_linear(x: np.ndarray, y: np.ndarray, frac: float) -> np.ndarray:
    """Cleveland's lowess without robustness iterations, written out: at each x, a weighted linear fit on the k
    nearest samples with tricube weights of the distance over the k-th nearest distance."""
    k = int(frac * len(x) + 1e-10)
    fitted = np.empty(len(x))
    for i, at in enumerate(x):
        distance = np.abs(x - at)
        h = np.sort(distance)[k - 1]
        w = np.where(distance < h, (1 - (distance / h) ** 3) ** 3, 0.0)
        mean_x, mean_y = np.average(x, weights=w), np.average(y, weights=w)
        spread = np.sum(w * (x - mean_x) ** 2)
        slope = np.sum(w * (x - mean_x) * (y - mean_y)) / spread if spread > 1e-12 * np.sum(w) else 0.0
        fitted[i] = mean_y + slope * (at - mean_x)
    return fitted


def test_ici_with_exact_lowess_matches_a_brute_force_smoother_ties_included() -> None:
    risk, outcome = _miscalibrated(n=120, seed=2)
    risk = np.round(risk, 2)  # many tied risks, as a model with rounded outputs gives
    errors = np.abs(risk - _local_linear(risk, outcome.astype(float), 2 / 3))
    result = integrated_calibration_index(risk, outcome, delta=0)
    assert result["ici"] == pytest.approx(errors.mean(), abs=1e-9)
    assert result["emax"] == pytest.approx(errors.max(), abs=1e-9)


def test_one_predicted_risk_shared_by_a_whole_neighbourhood_is_undefined_not_zero() -> None:
    # statsmodels' lowess returns 0 at a tie as large as its neighbourhood (width 0): that would be a wrong ICI
    rng = np.random.default_rng(0)
    n = 30
    for ties, defined in ((19, True), (20, False)):  # the neighbourhood holds int(2/3 * 30) = 20 samples
        risk = np.r_[np.full(ties, 0.2), rng.uniform(0.3, 0.9, n - ties)]
        outcome = np.r_[[0, 1] * 15]
        if defined:
            result = integrated_calibration_index(risk, outcome, delta=0)
            expected = np.abs(risk - _local_linear(risk, outcome.astype(float), 2 / 3))
            assert result["ici"] == pytest.approx(expected.mean(), abs=1e-9)
        else:
            with pytest.warns(UndefinedMetricWarning, match="20 of 30 samples share one predicted risk"):
                result = integrated_calibration_index(risk, outcome, delta=0)
            assert all(np.isnan(value) for value in result.values())


@pytest.mark.parametrize("outcome", [[0, 0, 0, 0], [1, 1, 1, 1]])
def test_one_class_gives_nan_with_the_reason(outcome: list[int]) -> None:
    with pytest.warns(UndefinedMetricWarning, match="calibration statistics are undefined with only"):
        result = calibration_stats([0.1, 0.4, 0.6, 0.8], outcome)
    assert list(result) == ["intercept", "slope", "ici", "e50", "e90", "emax"]
    assert all(np.isnan(value) for value in result.values())


def test_no_samples_give_nan() -> None:
    with pytest.warns(UndefinedMetricWarning, match="of no samples are undefined"):
        assert np.isnan(calibration_slope([], []))


@pytest.mark.parametrize(
    ("risk", "outcome"),
    [
        ([0.1, 0.2, 0.3, 0.6, 0.7, 0.8], [0, 0, 0, 1, 1, 1]),  # complete separation
        ([0.1, 0.2, 0.4, 0.4, 0.7, 0.8], [0, 0, 0, 1, 1, 1]),  # quasi-complete: statsmodels gives a finite slope
        ([0.1, 0.2, 0.3, 0.6, 0.7, 0.8], [1, 1, 1, 0, 0, 0]),  # reversed
    ],
)
def test_separated_outcomes_have_no_slope(risk: list[float], outcome: list[int]) -> None:
    with pytest.warns(UndefinedMetricWarning, match="separates the outcomes perfectly"):
        stats = calibration_stats(risk, outcome, stats=("intercept", "slope"))
    assert np.isnan(stats["slope"])
    assert np.isfinite(stats["intercept"])  # calibration-in-the-large still has a finite estimate


def test_too_few_samples_for_lowess_and_warnings_point_at_the_caller() -> None:
    with pytest.warns(UndefinedMetricWarning, match="hold fewer than 2 samples") as record:
        result = integrated_calibration_index([0.2, 0.7], [0, 1])
    assert all(np.isnan(value) for value in result.values())
    assert record[0].filename == __file__
    with pytest.warns(UndefinedMetricWarning, match="separates the outcomes perfectly") as record:
        calibration_stats([0.2, 0.7], [0, 1], stats=("slope",))
    assert record[0].filename == __file__


def test_equal_predictions_have_no_slope() -> None:
    with pytest.warns(UndefinedMetricWarning, match="every prediction is the same"):
        assert np.isnan(calibration_slope([0.3, 0.3, 0.3], [0, 1, 0]))
    # the intercept is logit(observed rate) - logit(0.3)
    expected = special.logit(1 / 3) - special.logit(0.3)
    assert calibration_intercept([0.3, 0.3, 0.3], [0, 1, 0]) == pytest.approx(expected, abs=1e-8)


def test_zero_and_one_are_clipped_with_a_warning() -> None:
    risk, outcome = _miscalibrated(n=200)
    risk[:3] = [0.0, 1.0, 1.0]
    with pytest.warns(UserWarning, match=re.escape("3 of 200 predicted risks are within 1e-08 of 0 or 1")):
        clipped = calibration_stats(risk, outcome, stats=("slope",))["slope"]
    expected_logit = np.log(np.clip(risk, 1e-8, 1 - 1e-8) / (1 - np.clip(risk, 1e-8, 1 - 1e-8)))
    direct = sm.Logit(outcome, sm.add_constant(expected_logit)).fit(disp=0).params[1]
    assert clipped == pytest.approx(direct, abs=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the ICI takes no logits: no clipping, no warning
        integrated_calibration_index(risk, outcome)


def test_probabilities_outside_the_unit_interval_raise_naming_the_key() -> None:
    metric = MetricCalibrationStats(pred="head.logit", target="label")
    metric.collect({"id": ["a", "b", "c"], "head.logit": np.array([0.2, -1.3, 0.4]), "label": [0, 1, 1]})
    with pytest.raises(ValueError, match=re.escape("pred (key 'head.logit') holds 1 value outside [0, 1]")) as e:
        metric.eval()
    assert "ids ['b']" in str(e.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stats": ("ici", "brier")}, "stats must be a non-empty selection of"),
        ({"eps": 0.0}, "eps must lie in (0, 0.5)"),
        ({"frac": 1.5}, "frac (lowess's share of samples in each neighbourhood) must lie in (0, 1]"),
        ({"it": -1}, "it (lowess's robustness iterations) must be an integer >= 0"),
        ({"delta": 1.0}, "delta (a fraction of the risks' range) must lie in [0, 1)"),
    ],
)
def test_bad_settings_raise(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        MetricCalibrationStats(pred="p", target="y", **kwargs)  # type: ignore[arg-type]


def test_labels_need_pos_label() -> None:
    risk, outcome = _miscalibrated(n=80)
    names = np.where(outcome == 1, "event", "none")
    expected = calibration_stats(risk, outcome)
    assert calibration_stats(risk, names, pos_label="event") == pytest.approx(expected)
    with pytest.raises(ValueError, match="pass pos_label"):
        calibration_stats(risk, names)


def test_metric_under_ci_gives_an_interval_for_each_statistic() -> None:
    risk, outcome = _miscalibrated(n=200, seed=4)
    data = pd.DataFrame({"id": np.arange(200), "pred": risk, "target": outcome})
    metric = CI(MetricCalibrationStats(pred="pred", target="target"), stratum="target", num_of_bootstraps=40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no per-resampling warnings leak out of the bootstrap
        results = EvaluatorDefault().eval(ids=None, data=data, metrics={"cal": metric})
    direct = calibration_stats(risk, outcome)
    for key, value in direct.items():
        assert results[f"metrics.cal.{key}.org"] == pytest.approx(value, abs=1e-12)
        assert results[f"metrics.cal.{key}.conf_lower"] <= value <= results[f"metrics.cal.{key}.conf_upper"], key
        assert results[f"metrics.cal.{key}.num_undefined_bootstraps"] == 0


def test_the_bootstrap_fast_path_equals_row_by_row_evaluation() -> None:
    risk, outcome = _miscalibrated(n=60, seed=6)
    risk[0] = 1.0  # clipped
    metric = MetricCalibrationStats(pred="pred", target="target", stats=("intercept", "slope", "ici"))
    metric.collect({"id": np.arange(60), "pred": risk, "target": outcome})
    ids = np.arange(60)
    order = np.argsort(risk)
    negatives, positives = np.flatnonzero(outcome == 0), np.flatnonzero(outcome == 1)
    rows = np.vstack((
        np.random.default_rng(1).integers(0, 60, size=(4, 60)),
        np.resize(negatives, 60),  # one class: everything undefined
        np.resize(np.r_[negatives[risk[negatives] < 0.5][:3], positives[risk[positives] > 0.9][:3]], 60),  # separated
        np.resize(order[:2], 60),  # two samples: separated or one class
    ))  # fmt: skip
    with metric.resampling(), warnings.catch_warnings():
        warnings.simplefilter("error")  # per-resampling warnings are CI's to summarise
        fast = metric.eval_resampled(None, ids, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slow = MetricBase.eval_resampled(metric, None, ids, rows)
    for one, other in zip(fast, slow, strict=True):
        assert one.keys() == other.keys()
        for key in one:
            assert one[key] == pytest.approx(other[key], abs=1e-7, nan_ok=True), key
    assert np.isnan(fast[4]["intercept"])
    assert np.isnan(fast[5]["slope"])
    assert np.isfinite(fast[5]["intercept"])


def test_resampled_fits_in_chunks_equal_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    from fuse.eval.metrics.classification import _recalibration

    risk, outcome = _miscalibrated(n=80, seed=8)
    logit = np.log(risk / (1 - risk))
    rows = np.random.default_rng(2).integers(0, 80, size=(9, 80))
    whole = _recalibration.recalibration_resampled(logit, outcome.astype(bool), rows)
    monkeypatch.setattr(_recalibration, "_CHUNK_ENTRIES", 80 * 2)  # 2 resamplings per chunk
    chunked = _recalibration.recalibration_resampled(logit, outcome.astype(bool), rows)
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_array_equal(whole[1], chunked[1])
    direct = [sm.Logit(outcome[row], sm.add_constant(logit[row])).fit(disp=0).params[1] for row in rows]
    np.testing.assert_allclose(whole[1], direct, atol=1e-6)
