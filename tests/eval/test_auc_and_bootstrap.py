"""AUC and bootstrap CIs: the vectorised paths against sklearn and against FuseMedML's naive loop."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

from fuse.eval import (
    CI,
    MetricAccuracy,
    MetricAUCPR,
    MetricAUCROC,
    MetricBase,
    MetricDefault,
    UndefinedMetricWarning,
    auc_roc,
)
from fuse.eval._auc import auc_pr_resampled, auc_roc_resampled
from fuse.eval._bootstrap import bootstrap_rows, confidence_interval


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


def test_bootstrap_rows_stay_within_strata_and_replay_fusemedml_draws() -> None:
    strata = np.array([1, 0, 1, 1, 0])
    rows = np.concatenate(list(bootstrap_rows(strata, 3, rnd_seed=0)))
    rnd = np.random.RandomState(0)
    for row in rows:
        start = 0
        for stratum in (0, 1):  # np.unique order, each stratum's draws contiguous
            members = np.flatnonzero(strata == stratum)
            expected = members[rnd.randint(0, len(members), size=len(members))]
            assert np.array_equal(row[start : start + len(members)], expected)
            start += len(members)


def test_confidence_interval_percentile_indices() -> None:
    samples = np.arange(10000, dtype=float)
    assert confidence_interval("PERCENTILE", 0.0, samples, 95) == (250.0, 9750.0)


def test_ci_errors() -> None:
    with pytest.raises(ValueError, match="ci_method must be one of"):
        CI(MetricAUCROC(pred="p", target="t"), ci_method="STUDENTIZED")
    with pytest.raises(ValueError, match="num_of_bootstraps"):
        CI(MetricAUCROC(pred="p", target="t"), num_of_bootstraps=0)
    metric = CI(MetricDefault(lambda pred, target: np.array([1, 2]), pred="p", target="t"), num_of_bootstraps=2)
    metric.set(pd.DataFrame({"id": [1, 2], "p": [0.1, 0.2], "t": [0, 1]}))
    with pytest.raises(TypeError, match="returned ndarray"):
        metric.eval()  # FuseMedML silently returned {}


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


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), seed=st.integers(0, 10_000), distinct_scores=st.integers(1, 6))
def test_resampled_auc_pr_equals_sklearn_per_row(n: int, seed: int, distinct_scores: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, distinct_scores, n) / distinct_scores  # heavy ties
    positive = rng.random(n) < 0.5
    rows = rng.integers(0, n, (7, n))
    got = auc_pr_resampled(scores, positive, rows)
    for row, value in zip(rows, got, strict=True):
        if positive[row].all() or not positive[row].any():
            assert np.isnan(value)
        else:
            precision, recall, _ = precision_recall_curve(positive[row], scores[row])
            assert value == pytest.approx(auc(recall, precision), abs=1e-12)


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


def test_draws_on_ids_grouped_by_stratum_pick_the_same_samples() -> None:
    """evaluate_bootstraps groups ids by stratum so draws are offsets; they must pick FuseMedML's samples."""
    strata = np.random.default_rng(1).choice(np.array(["b", "a", "c"]), 50)
    order = np.argsort(strata, kind="stable")
    gathered = np.concatenate(list(bootstrap_rows(strata, 30, 9)))
    offsets = np.concatenate(list(bootstrap_rows(strata[order], 30, 9)))
    assert np.array_equal(order[offsets], gathered)
