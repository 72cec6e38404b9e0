"""Intervals that mean something: undefined resamplings, degenerate bootstraps, analytic intervals of
proportions, named progress lines, and groups with a missing value.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from statsmodels.stats.proportion import proportion_confint

from fuse.eval import (
    CI,
    GroupAnalysis,
    MetricAccuracy,
    MetricAUCROC,
    MetricConfusion,
    UndefinedMetricWarning,
    confusion_metrics,
)

SEED = 1234


def _rare_class_frame(n: int = 40, positives: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    target = np.zeros(n, dtype=int)
    target[rng.choice(n, positives, replace=False)] = 1
    pred = np.clip(0.3 * target + rng.uniform(0, 0.8, n), 0, 1)
    return pd.DataFrame({"id": np.arange(n), "pred": pred, "target": target})


def _fusemedml_auc_resamplings(frame: pd.DataFrame, num: int) -> np.ndarray:
    """Unstratified resamplings drawn as FuseMedML draws them, AUC by scikit-learn, NaN where one class is absent."""
    rnd = np.random.RandomState(SEED)
    pred, target = frame["pred"].to_numpy(), frame["target"].to_numpy()
    values = np.empty(num)
    for b in range(num):
        rows = rnd.randint(0, len(frame), size=len(frame))
        values[b] = roc_auc_score(target[rows], pred[rows]) if len(np.unique(target[rows])) == 2 else np.nan
    return values


def _order_statistic(values: np.ndarray, fraction: float) -> float:
    """FuseMedML's percentile (the sorted defined values at floor(fraction * n)) through numpy's nanpercentile:
    the inverted CDF at (k + 0.5) / n is the k-th order statistic (0-based) of the n defined values.
    """
    n = int(np.count_nonzero(~np.isnan(values)))
    k = min(int(np.floor(fraction * n)), n - 1)
    return float(np.nanpercentile(values, 100 * (k + 0.5) / n, method="inverted_cdf"))


# ---------------------------------------------------------------------------------------------------------------------
# undefined resamplings


def test_undefined_resamplings_are_left_out_of_bounds_mean_and_std() -> None:
    frame = _rare_class_frame()
    num = 400
    metric = CI(MetricAUCROC(pred="pred", target="target"), num_of_bootstraps=num, rnd_seed=SEED)
    metric.set(frame)
    with pytest.warns(UndefinedMetricWarning, match="num_undefined_bootstraps"):
        result = metric.eval()
    expected = _fusemedml_auc_resamplings(frame, num)
    undefined = int(np.isnan(expected).sum())
    assert 0 < undefined < num  # the case the test is about
    assert result["num_undefined_bootstraps"] == undefined
    assert result["conf_lower"] == pytest.approx(_order_statistic(expected, 0.025), abs=1e-12)
    assert result["conf_upper"] == pytest.approx(_order_statistic(expected, 0.975), abs=1e-12)
    # before: NaN sorted last, so the upper bound was pushed towards the largest defined value
    assert result["conf_upper"] < np.nanmax(expected) or _order_statistic(expected, 0.975) == np.nanmax(expected)
    assert result["mean"] == pytest.approx(np.nanmean(expected), abs=1e-12)
    assert result["std"] == pytest.approx(np.nanstd(expected), abs=1e-12)
    assert result["org"] == pytest.approx(roc_auc_score(frame["target"], frame["pred"]), abs=1e-12)


@pytest.mark.parametrize("method", ["NORMAL", "PIVOTAL"])
def test_normal_and_pivotal_use_the_defined_resamplings(method: str) -> None:
    frame = _rare_class_frame()
    metric = CI(MetricAUCROC(pred="pred", target="target"), num_of_bootstraps=200, rnd_seed=SEED, ci_method=method)
    metric.set(frame)
    with pytest.warns(UndefinedMetricWarning):
        result = metric.eval()
    expected = _fusemedml_auc_resamplings(frame, 200)
    org = result["org"]
    if method == "NORMAL":
        spread = 1.959963984540054 * np.nanstd(expected)
        bounds = (org - spread, org + spread)
    else:
        bounds = (2 * org - _order_statistic(expected, 0.975), 2 * org - _order_statistic(expected, 0.025))
    assert (result["conf_lower"], result["conf_upper"]) == pytest.approx(bounds, abs=1e-12)
    assert not math.isnan(result["conf_lower"])


def test_every_resampling_undefined_gives_nan_not_a_number() -> None:
    frame = pd.DataFrame({"id": range(5), "pred": [0.1, 0.2, 0.3, 0.4, 0.5], "target": [0] * 5})
    metric = CI(MetricAUCROC(pred="pred", target="target"), num_of_bootstraps=20)
    metric.set(frame)
    with pytest.warns(UndefinedMetricWarning):
        result = metric.eval()
    assert result["num_undefined_bootstraps"] == 20
    assert all(math.isnan(result[key]) for key in ("mean", "std", "conf_lower", "conf_upper"))


def test_fully_defined_ci_is_unchanged_and_reports_zero_undefined() -> None:
    frame = _rare_class_frame(n=60, positives=20)
    metric = CI(MetricAUCROC(pred="pred", target="target"), stratum="target", num_of_bootstraps=100)
    metric.set(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = metric.eval()
    assert result["num_undefined_bootstraps"] == 0


def test_dict_results_count_undefined_per_key() -> None:
    frame = _rare_class_frame()
    metric = CI(
        MetricConfusion(pred="pred", target="target", metrics=("sensitivity", "specificity")), num_of_bootstraps=300
    )
    metric.set(frame)
    with pytest.warns(UndefinedMetricWarning, match=r"\[sensitivity\]"):
        result = metric.eval()
    assert result["sensitivity"]["num_undefined_bootstraps"] > 0
    assert result["specificity"]["num_undefined_bootstraps"] == 0
    assert not math.isnan(result["sensitivity"]["conf_upper"])


def test_a_stratum_of_one_sample_warns() -> None:
    frame = _rare_class_frame(n=30, positives=1)
    metric = CI(MetricAUCROC(pred="pred", target="target"), stratum="target", num_of_bootstraps=50)
    metric.set(frame)
    with pytest.warns(UserWarning, match=r"stratum 'target' has a single sample for value\(s\) \[1\]"):
        metric.eval()


def test_a_class_with_a_single_case_warns_without_stratum() -> None:
    frame = _rare_class_frame(n=30, positives=1)
    metric = CI(MetricAccuracy(pred="pred", target="target"), num_of_bootstraps=50)
    metric.set(frame)
    with pytest.warns(UserWarning, match="class 1 of the target has a single case among 30 samples"):
        metric.eval()


# ---------------------------------------------------------------------------------------------------------------------
# degenerate bootstrap intervals


def _all_detected(positives: int = 42, negatives: int = 58) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    target = np.r_[np.ones(positives, dtype=int), np.zeros(negatives, dtype=int)]
    pred = np.where(target == 1, 0.9, rng.uniform(0, 0.7, len(target)))
    return pd.DataFrame({"id": np.arange(len(target)), "pred": pred, "target": target})


def test_zero_width_bootstrap_of_a_proportion_at_one_warns_why_and_what_to_use() -> None:
    metric = CI(
        MetricConfusion(pred="pred", target="target", metrics=("sensitivity",)),
        stratum="target",
        num_of_bootstraps=200,
    )
    metric.set(_all_detected())
    with pytest.warns(UserWarning, match="width zero") as caught:
        result = metric.eval()
    assert result["sensitivity"]["conf_lower"] == result["sensitivity"]["conf_upper"] == 1.0
    message = " ".join(str(w.message) for w in caught)
    assert "0 or 1 in every resampling" in message
    assert "ci_method='WILSON'" in message
    assert "proportion_ci" in message


def test_nonzero_width_interval_does_not_warn() -> None:
    metric = CI(MetricConfusion(pred="pred", target="target"), stratum="target", num_of_bootstraps=100)
    metric.set(_rare_class_frame(n=80, positives=30))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric.eval()


# ---------------------------------------------------------------------------------------------------------------------
# analytic intervals through CI


def _binary_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    target = rng.integers(0, 2, 97)
    pred = np.clip(0.35 * target + rng.uniform(0, 0.65, 97), 0, 1)
    return pd.DataFrame({"id": np.arange(97), "pred": pred, "target": target})


@pytest.mark.parametrize(("method", "statsmodels_method"), [("WILSON", "wilson"), ("clopper-pearson", "beta")])
@pytest.mark.parametrize("conf_interval", [95, 90])
def test_analytic_intervals_equal_statsmodels_on_the_counts(
    method: str, statsmodels_method: str, conf_interval: float
) -> None:
    frame = _binary_frame()
    names = ("sensitivity", "specificity", "ppv", "npv", "accuracy")
    metric = CI(
        MetricConfusion(pred="pred", target="target", metrics=names),
        ci_method=method,
        conf_interval=conf_interval,
    )
    metric.set(frame)
    result = metric.eval()
    tn, fp, fn, tp = sk_confusion_matrix(frame["target"], frame["pred"] > 0.5).ravel()
    counts = {
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "ppv": (tp, tp + fp),
        "npv": (tn, tn + fn),
        "accuracy": (tp + tn, len(frame)),
    }
    for name, (successes, n) in counts.items():
        expected = proportion_confint(successes, n, alpha=1 - conf_interval / 100, method=statsmodels_method)
        got = result[name]
        assert (got["conf_lower"], got["conf_upper"]) == pytest.approx(expected, abs=1e-12), name
        assert got["org"] == pytest.approx(successes / n, abs=1e-15)
        assert (got["successes"], got["n"]) == (successes, n)
        assert got["ci_method"] == method.upper()
        assert got["conf_interval"] == conf_interval


def test_npv_and_accuracy_equal_sklearn_and_npv_is_undefined_without_negative_calls() -> None:
    frame = _binary_frame()
    result = confusion_metrics(frame["pred"].to_numpy(), frame["target"].to_numpy(), metrics=("npv", "accuracy"))
    tn, _, fn, _ = sk_confusion_matrix(frame["target"], frame["pred"] > 0.5).ravel()
    assert result["npv"] == pytest.approx(tn / (tn + fn), abs=1e-15)
    assert result["accuracy"] == pytest.approx(accuracy_score(frame["target"], frame["pred"] > 0.5), abs=1e-15)
    with pytest.warns(UndefinedMetricWarning, match="npv is undefined without negative calls"):
        assert math.isnan(confusion_metrics([0.9, 0.8], [1, 0], metrics=("npv",))["npv"])


def test_analytic_interval_of_42_of_42_is_not_degenerate() -> None:
    metric = CI(MetricConfusion(pred="pred", target="target", metrics=("sensitivity",)), ci_method="WILSON")
    metric.set(_all_detected())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = metric.eval()["sensitivity"]
    assert result["conf_upper"] == 1.0
    assert result["conf_lower"] == pytest.approx(proportion_confint(42, 42, method="wilson")[0], abs=1e-12)


def test_analytic_intervals_per_class_and_what_has_none() -> None:
    rng = np.random.default_rng(3)
    target = rng.integers(0, 3, 90)
    scores = rng.dirichlet(np.ones(3), 90)
    scores[np.arange(90), target] += 0.5
    frame = pd.DataFrame({"id": np.arange(90), "pred": list(scores), "target": target})
    metric = CI(
        MetricConfusion(
            pred="pred", target="target", class_names=["a", "b", "c"], metrics=("sensitivity", "f1", "matrix")
        ),
        ci_method="WILSON",
    )
    metric.set(frame)
    with pytest.warns(UserWarning, match=r"f1\.a.*sensitivity\.macro_avg|sensitivity\.macro_avg.*f1\.a"):
        result = metric.eval()
    predicted = scores.argmax(axis=1)
    for index, name in enumerate("abc"):
        tp = int(np.sum((predicted == index) & (target == index)))
        positives = int(np.sum(target == index))
        expected = proportion_confint(tp, positives, method="wilson")
        got = result[f"sensitivity.{name}"]
        assert (got["conf_lower"], got["conf_upper"]) == pytest.approx(expected, abs=1e-12)
        assert result[f"tp.{name}"] == tp  # counts stay as they are
        assert isinstance(result[f"f1.{name}"], float)  # no interval for f1
    assert isinstance(result["sensitivity.macro_avg"], float)


def test_analytic_interval_needs_a_metric_of_counts() -> None:
    with pytest.raises(TypeError, match="MetricAUCROC does not provide"):
        CI(MetricAUCROC(pred="pred", target="target"), ci_method="WILSON")
    with pytest.raises(ValueError, match="ci_method must be one of"):
        CI(MetricAUCROC(pred="pred", target="target"), ci_method="agresti")


def test_analytic_interval_refuses_sample_weights() -> None:
    frame = _binary_frame().assign(weight=1.5)
    metric = CI(MetricConfusion(pred="pred", target="target", sample_weight="weight"), ci_method="WILSON")
    metric.set(frame)
    with pytest.raises(ValueError, match="sample_weight"):
        metric.eval()


# ---------------------------------------------------------------------------------------------------------------------
# progress lines


def test_progress_line_names_the_metric(capsys: pytest.CaptureFixture[str]) -> None:
    frame = _binary_frame()
    for name in ("auc", "sens"):
        metric = CI(MetricAUCROC(pred="pred", target="target"), num_of_bootstraps=40, verbose=True, name=name)
        metric.set(frame)
        metric.eval()
    err = capsys.readouterr().err
    assert "bootstraps of auc (" in err
    assert "bootstraps of sens (" in err


# ---------------------------------------------------------------------------------------------------------------------
# groups with a missing value


@pytest.mark.parametrize("missing", [np.nan, None])
def test_missing_group_values_form_one_group(missing: object) -> None:
    rng = np.random.default_rng(5)
    n = 60
    groups = np.array(["x", "y", missing, "x", missing, "y"] * (n // 6), dtype=object)
    target = rng.integers(0, 2, n)
    pred = np.clip(0.3 * target + rng.uniform(0, 0.7, n), 0, 1)
    frame = pd.DataFrame({"id": np.arange(n), "pred": pred, "target": target, "site": groups})
    metric = GroupAnalysis(MetricAccuracy(pred="pred", target="target"), group="site")
    metric.set(frame)
    with pytest.warns(UserWarning, match="evaluated together as group '<missing>'"):
        result = metric.eval()
    # brute force: one accuracy per group, the missing values making one group of their own
    is_missing = pd.isna(frame["site"])
    expected = {}
    for name in ("x", "y"):
        rows = (frame["site"] == name) & ~is_missing
        expected[name] = float(np.mean((pred[rows] > 0.5) == target[rows]))
    expected["<missing>"] = float(np.mean((pred[is_missing] > 0.5) == target[is_missing]))
    assert {key: result[key] for key in expected} == pytest.approx(expected, abs=1e-15)
    assert set(result) == {*expected, "mean", "std", "median"}
    values = np.array(list(expected.values()))
    assert result["mean"] == pytest.approx(values.mean(), abs=1e-15)
    assert result["std"] == pytest.approx(values.std(), abs=1e-15)
    assert result["median"] == pytest.approx(np.median(values), abs=1e-15)


def test_missing_group_values_in_dict_results_and_order() -> None:
    frame = pd.DataFrame(
        {
            "id": range(8),
            "pred": [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4],
            "target": [1, 0, 1, 1, 0, 0, 1, 0],
            "site": [np.nan, np.nan, "a", np.nan, "a", "b", "a", "b"],
        }
    )
    metric = GroupAnalysis(MetricConfusion(pred="pred", target="target", metrics=("specificity",)), group="site")
    metric.set(frame)
    with pytest.warns(UserWarning, match="3 of 8 samples have no 'site' value"):
        result = metric.eval()
    assert list(result)[:3] == ["<missing>", "a", "b"]  # first appearance
    # by hand: missing = ids 0, 1, 3 (one negative, called negative); a = ids 2, 4, 6 (one negative, called
    # positive); b = ids 5, 7 (two negatives, called negative)
    assert [result[key] for key in ("<missing>", "a", "b")] == [
        {"specificity": 1.0},
        {"specificity": 0.0},
        {"specificity": 1.0},
    ]
    assert result["specificity.mean"] == pytest.approx(2 / 3, abs=1e-15)
    assert result["specificity.median"] == 1.0


def test_a_real_group_named_like_the_missing_one_is_refused() -> None:
    frame = pd.DataFrame(
        {"id": range(4), "pred": [1, 0, 1, 0], "target": [1, 0, 0, 0], "g": ["<missing>", None, "a", "a"]}
    )
    metric = GroupAnalysis(MetricAccuracy(pred="pred", target="target"), group="g")
    metric.set(frame)
    with pytest.raises(ValueError, match="rename that group or fill the missing values"):
        metric.eval()
