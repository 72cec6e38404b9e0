"""``CI``: against a naive FuseMedML-style loop, the vectorised paths against the generic loop, methods, errors and
progress.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from fuse.eval import (
    CI,
    MetricAccuracy,
    MetricApplyThresholds,
    MetricAUCPR,
    MetricAUCROC,
    MetricBase,
    MetricConfusionMatrix,
    MetricDefault,
    MetricReliabilityDiagram,
    MetricROCCurve,
    UndefinedMetricWarning,
)
from fuse.eval.resampling._bootstrap import bootstrap_rows


def _naive_fusemedml_ci(pred: np.ndarray, target: np.ndarray, strata: np.ndarray, num: int, seed: int) -> list[float]:
    """FuseMedML's CI loop, verbatim in spirit: RandomState draws per stratum, sklearn per bootstrap."""
    ids = np.arange(len(pred))
    rnd = np.random.RandomState(seed)
    boot = []
    for _ in range(num):
        sampled = ids.copy()
        for stratum in np.unique(strata):
            members = strata == stratum
            count = int(members.sum())
            sampled[members] = ids[members][rnd.randint(0, count, size=count)]
        boot.append(roc_auc_score(target[sampled], pred[sampled]))
    return boot


@pytest.mark.parametrize("stratified", [True, False])
def test_ci_equals_the_naive_reference_loop(stratified: bool) -> None:
    rng = np.random.default_rng(3)
    n = 120
    target = (rng.random(n) < 0.3).astype(int)
    pred = np.round(rng.random(n) * 0.6 + 0.4 * target, 2)  # ties
    frame = pd.DataFrame({"id": [f"case_{i}" for i in range(n)], "pred": pred, "target": target})
    metric = CI(
        MetricAUCROC(pred="pred", target="target"), stratum="target" if stratified else None, num_of_bootstraps=300
    )
    metric.set(frame)
    result = metric.eval()
    strata = target if stratified else np.ones(n)
    boot = np.asarray(_naive_fusemedml_ci(pred, target, strata, 300, 1234))
    assert result["org"] == roc_auc_score(target, pred)
    assert result["mean"] == pytest.approx(np.mean(boot), abs=1e-12)
    assert result["std"] == pytest.approx(np.std(boot), abs=1e-12)
    ordered = np.sort(boot)
    assert result["conf_lower"] == pytest.approx(ordered[int(np.floor(0.025 * 300))], abs=1e-12)
    assert result["conf_upper"] == pytest.approx(ordered[int(np.floor(0.975 * 300))], abs=1e-12)


def test_ci_generic_loop_equals_the_vectorised_path() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"id": range(80), "pred": rng.random(80), "target": rng.integers(0, 2, 80)})
    fast = CI(MetricAUCROC(pred="pred", target="target"), stratum="target", num_of_bootstraps=200)
    slow = CI(
        MetricDefault(lambda pred, target: roc_auc_score(target, pred), pred="pred", target="target"),
        stratum="target",
        num_of_bootstraps=200,
    )
    fast.set(frame)
    slow.set(frame)
    for key, value in fast.eval().items():
        assert slow.eval()[key] == pytest.approx(value, abs=1e-12)


def test_ci_methods_and_multiclass_dict_results() -> None:
    rng = np.random.default_rng(7)
    n = 90
    target = rng.integers(0, 3, n)
    pred = rng.dirichlet([1, 1, 1], n) + np.eye(3)[target] * 0.5
    frame = pd.DataFrame({"id": range(n), "pred": list(pred), "target": target})
    results = {}
    for method in ("PERCENTILE", "NORMAL", "PIVOTAL"):
        metric = CI(
            MetricAUCROC(pred="pred", target="target", class_names=["a", "b", "c"]), "target", 100, ci_method=method
        )
        metric.set(frame)
        results[method] = metric.eval()
    assert set(results["PERCENTILE"]) == {"a", "b", "c", "macro_avg"}
    percentile, normal, pivotal = (results[m]["macro_avg"] for m in ("PERCENTILE", "NORMAL", "PIVOTAL"))
    assert percentile["mean"] == normal["mean"] == pivotal["mean"]
    assert normal["conf_lower"] == pytest.approx(normal["org"] - 1.959963984540054 * normal["std"])
    assert pivotal["conf_lower"] == pytest.approx(2 * percentile["org"] - percentile["conf_upper"])
    assert pivotal["conf_upper"] == pytest.approx(2 * percentile["org"] - percentile["conf_lower"])


def test_ci_errors() -> None:
    with pytest.raises(ValueError, match="ci_method must be one of"):
        CI(MetricAUCROC(pred="p", target="t"), ci_method="STUDENTIZED")
    with pytest.raises(ValueError, match="num_of_bootstraps"):
        CI(MetricAUCROC(pred="p", target="t"), num_of_bootstraps=0)
    metric = CI(MetricDefault(lambda pred, target: np.array([1, 2]), pred="p", target="t"), num_of_bootstraps=2)
    metric.set(pd.DataFrame({"id": [1, 2], "p": [0.1, 0.2], "t": [0, 1]}))
    with pytest.raises(TypeError, match=r"CI cannot bound MetricDefault.*result of type ndarray, not a number"):
        metric.eval()  # FuseMedML silently returned {}


@pytest.mark.parametrize(
    ("metric", "why"),
    [
        (MetricApplyThresholds(pred="p", operation_point=0.5), r"per-sample outputs \(PerSampleData\)"),
        (MetricROCCurve(pred="p", target="t"), r"only dict values \(curves or tables\), not numbers.*MetricAUCROC"),
        (
            MetricConfusionMatrix(cls_pred="c", target="t", class_names=["neg", "pos"]),
            r"only DataFrame values \(curves or tables\)",
        ),
    ],
    ids=["per-sample", "curve", "table"],
)
def test_ci_refuses_a_result_without_a_number_before_resampling(metric: MetricBase, why: str) -> None:
    # before: per-sample outputs failed inside the first resampling ("duplicated ids"), curves with a KeyError,
    # tables came back unchanged without an interval
    calls = []
    wrapped = CI(metric, num_of_bootstraps=5)
    original_eval = metric.eval_resampled
    metric.eval_resampled = lambda *args: calls.append(1) or original_eval(*args)  # type: ignore[method-assign]
    wrapped.set(
        pd.DataFrame(
            {"id": range(6), "p": [0.1, 0.8, 0.4, 0.9, 0.3, 0.6], "c": [0, 1, 0, 1, 1, 0], "t": [0, 1, 0, 1, 0, 1]}
        )
    )
    with pytest.raises(TypeError, match=rf"CI cannot bound {type(metric).__name__}\(.*\): it returns {why}"):
        wrapped.eval()
    assert not calls, "refused only after resampling"


def test_ci_bounds_the_numbers_of_a_mixed_result_and_keeps_the_rest() -> None:
    metric = CI(MetricReliabilityDiagram(pred="p", target="t", num_bins=2), num_of_bootstraps=5)
    metric.set(pd.DataFrame({"id": range(6), "p": [0.1, 0.8, 0.4, 0.9, 0.3, 0.6], "t": [0, 1, 0, 1, 0, 1]}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # total_samples: an interval of width zero, warned
        result = metric.eval()
    assert result["total_samples"]["org"] == 6
    assert result["total_samples"]["conf_lower"] == 6
    assert isinstance(result["accuracy"], np.ndarray)  # per-bin arrays: kept as computed
    assert result["avg_accuracy"]["conf_lower"] <= result["avg_accuracy"]["org"] <= result["avg_accuracy"]["conf_upper"]


def test_ci_failure_inside_a_bootstrap_raises() -> None:
    calls = []

    def flaky(pred: np.ndarray, target: np.ndarray) -> float:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom in bootstrap")
        return float(np.mean(pred))

    metric = CI(MetricDefault(flaky, pred="p", target="t"), num_of_bootstraps=5)
    metric.set(pd.DataFrame({"id": [1, 2, 3], "p": [0.1, 0.2, 0.3], "t": [0, 1, 1]}))
    with pytest.raises(RuntimeError, match="boom in bootstrap"):
        metric.eval()


@pytest.mark.parametrize("class_names", [None, ["a", "b", "c"]])
def test_vectorised_auc_pr_and_accuracy_bootstraps_equal_the_loop(class_names: list[str] | None) -> None:
    rng = np.random.default_rng(8)
    n = 80
    classes = 3 if class_names else 2
    target = rng.integers(0, classes, n)
    scores = np.round(rng.dirichlet(np.ones(classes), n), 1)  # ties
    pred = list(scores) if class_names else scores[:, 1]
    frame = pd.DataFrame({"id": range(n), "pred": pred, "target": target, "w": rng.random(n) + 0.5})
    metrics = [
        MetricAUCPR(pred="pred", target="target", class_names=class_names),
        MetricAccuracy(pred="pred", target="target"),
        MetricAccuracy(pred="pred", target="target", sample_weight="w"),
    ]
    for metric in metrics:
        metric.set(frame)
        ids = np.arange(n)
        rows = next(bootstrap_rows(target, 30, 5))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            vectorised = metric.eval_resampled(None, ids, rows)
            looped = MetricBase.eval_resampled(metric, None, ids, rows)
        assert vectorised == [pytest.approx(v, abs=1e-12, nan_ok=True) for v in looped]


def test_verbose_ci_reports_progress_in_many_steps(capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame({"id": range(6), "pred": [0.1, 0.4, 0.35, 0.8, 0.7, 0.2], "target": [0, 0, 1, 1, 1, 0]})
    metric = CI(MetricAUCROC(pred="pred", target="target"), stratum="target", num_of_bootstraps=400, verbose=True)
    metric.set(frame)
    quiet = CI(MetricAUCROC(pred="pred", target="target"), stratum="target", num_of_bootstraps=400)
    quiet.set(frame)
    assert metric.eval() == quiet.eval()  # blocks change nothing but the progress steps
    assert "bootstraps of MetricAUCROC(pred=pred, target=target) (20 per step)" in capsys.readouterr().err
