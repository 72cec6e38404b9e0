"""Regression metrics against scipy / sklearn, FuseMedML's pinned Pearson example, masks, per-sample arrays,
undefined cases, and the evaluator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as sk

from fuse.eval import (
    EvaluatorDefault,
    GroupAnalysis,
    MetricMAE,
    MetricMSE,
    MetricPearsonCorrelation,
    MetricR2,
    MetricRMSE,
    MetricSpearmanCorrelation,
    UndefinedMetricWarning,
    mae,
    mse,
    pearson_correlation,
    r2,
    rmse,
    spearman_correlation,
)


def _data(seed: int, n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.normal(size=n)
    return target + rng.normal(scale=0.7, size=n), target


def test_fusemedml_pearson_example() -> None:
    np.random.seed(0)
    noise = np.random.randn(1000)
    x1, x2 = 100 + 10 * noise, -10 + 3 * noise
    frame = pd.DataFrame({"id": range(1000), "x1": x1, "x2": x2})
    results = EvaluatorDefault().eval(
        ids=None, data=frame, metrics={"pearsonr": MetricPearsonCorrelation(pred="x1", target="x2")}
    )
    assert results["metrics.pearsonr.statistic"] == pytest.approx(1.0, abs=0.005)
    assert results["metrics.pearsonr.p_value"] == pytest.approx(0.0, abs=1e-300)


@pytest.mark.parametrize(
    ("func", "scipy_func"), [(pearson_correlation, stats.pearsonr), (spearman_correlation, stats.spearmanr)]
)
def test_correlations_equal_scipy(func: object, scipy_func: object) -> None:
    pred, target = _data(1)
    result = func(pred, target)  # type: ignore[operator]
    expected = scipy_func(pred, target)  # type: ignore[operator]
    assert result == {"statistic": pytest.approx(expected[0], abs=1e-15), "p_value": pytest.approx(expected[1])}
    assert set(result) == {"statistic", "p_value"}
    assert all(type(value) is float for value in result.values())
    mask = np.arange(len(pred)) % 3 != 0
    masked = func(pred, target, mask=mask)  # type: ignore[operator]
    assert masked["statistic"] == pytest.approx(scipy_func(pred[mask], target[mask])[0], abs=1e-15)  # type: ignore[operator]


def test_per_sample_arrays_are_flattened_in_sample_order() -> None:
    rng = np.random.default_rng(4)
    pred = [rng.normal(size=k) for k in (3, 1, 4, 2)]  # ragged, as a column of per-sample vectors
    target = [p + rng.normal(scale=0.3, size=len(p)) for p in pred]
    mask = [rng.random(len(p)) < 0.8 for p in pred]
    flat_pred, flat_target, flat_mask = (np.concatenate(values) for values in (pred, target, mask))
    column = np.empty(4, dtype=object)
    column[:] = pred
    target_column = np.empty(4, dtype=object)
    target_column[:] = target
    mask_column = np.empty(4, dtype=object)
    mask_column[:] = mask
    assert spearman_correlation(column, target_column, mask_column) == spearman_correlation(
        flat_pred, flat_target, flat_mask
    )
    assert mae(column, target_column) == pytest.approx(sk.mean_absolute_error(flat_target, flat_pred), abs=1e-15)
    assert r2(column, target_column, mask_column) == pytest.approx(
        sk.r2_score(flat_target[flat_mask], flat_pred[flat_mask]), abs=1e-15
    )


def test_errors_equal_sklearn() -> None:
    pred, target = _data(2)
    assert mae(pred, target) == pytest.approx(sk.mean_absolute_error(target, pred), abs=1e-15)
    assert mse(pred, target) == pytest.approx(sk.mean_squared_error(target, pred), abs=1e-15)
    assert rmse(pred, target) == pytest.approx(np.sqrt(sk.mean_squared_error(target, pred)), abs=1e-15)
    assert r2(pred, target) == pytest.approx(sk.r2_score(target, pred), abs=1e-15)
    mask = pred > 0
    assert mae(pred, target, mask) == pytest.approx(sk.mean_absolute_error(target[mask], pred[mask]), abs=1e-15)
    assert mse(pred, target, mask.astype(int)) == pytest.approx(sk.mean_squared_error(target[mask], pred[mask]))
    assert r2(pred, target, mask) == pytest.approx(sk.r2_score(target[mask], pred[mask]), abs=1e-15)


def test_rmse_flattens_2d_inputs() -> None:
    pred = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 9.0]])
    target = np.array([[1.0, 2.0, 2.0], [4.0, 1.0, 9.0]])
    assert rmse(pred, target) == pytest.approx(np.sqrt((1 + 16) / 6))
    # column-wise (sklearn's multi-output average) would differ
    assert rmse(pred, target) != pytest.approx(np.mean(np.sqrt(np.mean((pred - target) ** 2, axis=0))))


def test_r2_of_a_constant_target_is_nan_where_sklearn_gives_1_or_0() -> None:
    # R2 divides by the target's variance: sklearn forces 1.0 (perfect) or 0.0, numbers nothing supports
    for pred, forced in (([1.0, 1.0, 1.0], 1.0), ([1.0, 2.0, 1.0], 0.0)):
        assert sk.r2_score([1.0, 1.0, 1.0], pred) == forced
        assert not np.isfinite(sk.r2_score([1.0, 1.0, 1.0], pred, force_finite=False))  # 0/0 or -x/0 unforced
        with pytest.warns(UndefinedMetricWarning, match=r"the target is constant \(1.0 in all 3 values\)"):
            assert np.isnan(r2(pred, [1.0, 1.0, 1.0]))
    metric = MetricR2(pred="pred", target="target")
    metric.collect({"id": [0, 1, 2], "pred": [1.0, 2.0, 3.0], "target": [2.0, 2.0, 2.0]})
    with pytest.warns(UndefinedMetricWarning, match="R2 is undefined"):
        assert np.isnan(metric.eval())


def test_undefined_values_are_nan_with_a_warning() -> None:
    for func in (pearson_correlation, spearman_correlation):
        with pytest.warns(UndefinedMetricWarning, match="undefined for 0 value"):
            assert np.isnan(func([], [])["statistic"])
        with pytest.warns(UndefinedMetricWarning, match="undefined for 0 value"):
            assert np.isnan(func([1.0, 2.0], [1.0, 3.0], mask=[False, False])["p_value"])
        with pytest.warns(UndefinedMetricWarning, match="undefined for 1 value"):
            assert np.isnan(func([1.0], [2.0])["statistic"])
        with pytest.warns(UndefinedMetricWarning, match="target is constant"):
            assert np.isnan(func([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])["statistic"])
        with pytest.warns(UndefinedMetricWarning, match="holds NaN"):
            assert np.isnan(func([1.0, np.nan, 3.0], [1.0, 2.0, 4.0])["statistic"])
        # ... which the mask can exclude
        assert func([1.0, np.nan, 3.0, 4.0], [1.0, 2.0, 4.0, 5.0], mask=[1, 0, 1, 1])["statistic"] > 0.9
    for error in (mae, mse, rmse, r2):
        with pytest.warns(UndefinedMetricWarning, match="undefined"):
            assert np.isnan(error([], []))
    with pytest.warns(UndefinedMetricWarning, match="R2 is undefined for 1 value"):
        assert np.isnan(r2([1.0], [2.0]))


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="pred holds 3 values but target holds 2"):
        mae([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="mask holds 2 values for 3 pred values"):
        mse([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], mask=[True, False])
    with pytest.raises(ValueError, match=r"mask must be boolean \(or 0/1\), got values such as \[2.0\]"):
        r2([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], mask=[1, 2, 0])
    with pytest.raises(ValueError, match="pred must hold numbers"):
        pearson_correlation(["a", "b"], [1.0, 2.0])


def test_all_metrics_through_the_evaluator() -> None:
    rng = np.random.default_rng(9)
    n = 40
    target = rng.normal(size=(n, 3))
    pred = target + rng.normal(scale=0.5, size=(n, 3))
    mask = rng.random((n, 3)) < 0.7
    frame = pd.DataFrame(
        {"id": range(n), "pred": list(pred), "target": list(target), "mask": list(mask), "site": ["a", "b"] * (n // 2)}
    )
    metrics = {
        "pearson": MetricPearsonCorrelation(pred="pred", target="target", mask="mask"),
        "spearman": MetricSpearmanCorrelation(pred="pred", target="target"),
        "mae": MetricMAE(pred="pred", target="target", mask="mask"),
        "mse": MetricMSE(pred="pred", target="target"),
        "rmse": MetricRMSE(pred="pred", target="target"),
        "r2": MetricR2(pred="pred", target="target"),
        "mae_per_site": GroupAnalysis(MetricMAE(pred="pred", target="target"), group="site"),
    }
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics=metrics)
    flat_pred, flat_target, flat_mask = pred.reshape(-1), target.reshape(-1), mask.reshape(-1)
    assert results["metrics.pearson.statistic"] == pytest.approx(
        stats.pearsonr(flat_pred[flat_mask], flat_target[flat_mask])[0], abs=1e-15
    )
    assert results["metrics.spearman.p_value"] == pytest.approx(stats.spearmanr(flat_pred, flat_target)[1])
    assert results["metrics.mae"] == pytest.approx(
        sk.mean_absolute_error(flat_target[flat_mask], flat_pred[flat_mask]), abs=1e-15
    )
    assert results["metrics.mse"] == pytest.approx(sk.mean_squared_error(flat_target, flat_pred), abs=1e-15)
    assert results["metrics.rmse"] == pytest.approx(np.sqrt(results["metrics.mse"]), abs=1e-15)
    assert results["metrics.r2"] == pytest.approx(sk.r2_score(flat_target, flat_pred), abs=1e-15)
    site_a = np.arange(n) % 2 == 0
    assert results["metrics.mae_per_site.a"] == pytest.approx(
        sk.mean_absolute_error(target[site_a].reshape(-1), pred[site_a].reshape(-1)), abs=1e-15
    )
