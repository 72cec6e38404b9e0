"""PairedBootstrap and the vectorised bootstraps of confusion metrics, against FuseMedML's algorithm written naively."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import recall_score

from fuse.eval import (
    CI,
    EvaluatorDefault,
    MetricApplyThresholds,
    MetricAUCROC,
    MetricConfusion,
    PairedBootstrap,
    UndefinedMetricWarning,
    bootstrap_margin_equality,
    bootstrap_margin_non_inferiority,
    bootstrap_margin_superiority,
)


def fusemedml_resamples(ids: np.ndarray, strata: np.ndarray, bootstraps: int, seed: int) -> list[np.ndarray]:
    """FuseMedML's loop, verbatim in spirit: copy ids, per stratum in np.unique order, randint."""
    rnd = np.random.RandomState(seed)
    resamples = []
    for _ in range(bootstraps):
        sampled = ids.copy()
        for stratum in np.unique(strata):
            members = strata == stratum
            count = int(members.sum())
            sampled[members] = ids[members][rnd.randint(0, count, size=count)]
        resamples.append(sampled)
    return resamples


def naive_compare(
    test: Callable[[np.ndarray], float], reference: Callable[[np.ndarray], float], resamples: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    return np.array([test(ids) for ids in resamples]), np.array([reference(ids) for ids in resamples])


def test_example_5_paired_bootstrap_of_sensitivity() -> None:
    """FuseMedML's example_5: thresholds at 0.5, then paired bootstrap of sensitivity, seed 0, 10,000 draws."""
    data = pd.DataFrame(
        {
            "id": [0, 1, 2, 3, 4],
            "model_a_pred": [0.4, 0.3, 0.7, 0.8, 0.0],
            "model_b_pred": [0.4, 0.3, 0.7, 0.2, 1.0],
            "target": [0, 1, 1, 1, 0],
        }
    )
    metrics = {
        "apply_thresh_a": MetricApplyThresholds(pred="model_a_pred", operation_point=0.5),
        "apply_thresh_b": MetricApplyThresholds(pred="model_b_pred", operation_point=0.5),
        "compare_a_to_b": PairedBootstrap(
            MetricConfusion(pred="results:metrics.apply_thresh_a.cls_pred", target="target"),
            MetricConfusion(pred="results:metrics.apply_thresh_b.cls_pred", target="target"),
            stratum="target",
            metric_keys_to_compare=["sensitivity"],
            rnd_seed=0,
        ),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)

    ids, target = data["id"].to_numpy(), data["target"].to_numpy()
    cls_a = (data["model_a_pred"].to_numpy() > 0.5).astype(int)
    cls_b = (data["model_b_pred"].to_numpy() > 0.5).astype(int)
    resamples = fusemedml_resamples(ids, target, 10_000, seed=0)
    test, reference = naive_compare(
        lambda s: float(np.mean(cls_a[s][target[s] == 1])),
        lambda s: float(np.mean(cls_b[s][target[s] == 1])),
        resamples,
    )
    sample = resamples[7]  # the numpy sensitivity is sklearn's recall
    assert test[7] == recall_score(target[sample], cls_a[sample])
    diff = test - reference
    got = results["metrics.compare_a_to_b.sensitivity"]
    assert got["count"] == 10_000
    assert got["count_superior"] == int(np.sum(diff > 0))
    assert got["diff"] == pytest.approx(diff.mean(), abs=1e-12)
    assert got["p_value"] == pytest.approx(1 - np.sum(diff > 0) / 10_000, abs=1e-12)
    assert 0 < got["p_value"] < 1  # a real comparison: model a finds sample 3, model b misses it


@pytest.mark.parametrize("stratified", [True, False])
def test_paired_auc_equals_naive_loop(stratified: bool) -> None:
    rng = np.random.default_rng(5)
    n = 120
    target = (rng.random(n) < 0.35).astype(int)
    a = np.round(rng.normal(0.4 + 0.25 * target, 0.2), 2)  # ties
    b = np.round(rng.normal(0.45 + 0.15 * target, 0.2), 2)
    frame = pd.DataFrame({"id": [f"case{i}" for i in range(n)], "a": a, "b": b, "target": target})
    paired = PairedBootstrap(
        MetricAUCROC(pred="a", target="target"),
        MetricAUCROC(pred="b", target="target"),
        stratum="target" if stratified else None,
        compare_method="non_inferiority",
        margin=0.02,
        num_of_bootstraps=300,
        rnd_seed=11,
    )
    paired.set(frame)
    ids = np.arange(n)
    strata = target if stratified else np.ones(n)
    from sklearn.metrics import roc_auc_score

    def auc_of(scores: np.ndarray) -> Callable[[np.ndarray], float]:
        return lambda s: roc_auc_score(target[s], scores[s]) if len(np.unique(target[s])) == 2 else np.nan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # unstratified draws may miss a class
        result = paired.eval()
    test, reference = naive_compare(auc_of(a), auc_of(b), fusemedml_resamples(ids, strata, 300, seed=11))
    expected = bootstrap_margin_non_inferiority(None, test, reference, margin=0.02)
    assert result["count_non_inferior"] == expected["count_non_inferior"]
    assert result["diff"] == pytest.approx(expected["diff"], abs=1e-12, nan_ok=True)


def test_confusion_ci_vectorised_equals_naive_loop_multiclass() -> None:
    rng = np.random.default_rng(2)
    n = 90
    target = rng.integers(0, 3, n)
    scores = rng.dirichlet(np.ones(3), n)
    frame = pd.DataFrame({"id": range(n), "pred": list(scores), "target": target})
    metric = MetricConfusion(
        pred="pred", target="target", class_names=["a", "b", "c"], metrics=("sensitivity", "precision", "matrix")
    )
    ci = CI(metric, stratum="target", num_of_bootstraps=150, rnd_seed=3)
    ci.set(frame)
    result = ci.eval()
    labels = scores.argmax(axis=1)
    resamples = fusemedml_resamples(np.arange(n), target, 150, seed=3)
    for index, name in enumerate(["a", "b", "c"]):
        naive_sens = [np.mean(labels[s][target[s] == index] == index) for s in resamples]
        naive_prec = [
            np.mean(target[s][labels[s] == index] == index) if np.any(labels[s] == index) else 0.0 for s in resamples
        ]
        naive_tp = [np.sum((labels[s] == index) & (target[s] == index)) for s in resamples]
        assert result[f"sensitivity.{name}"]["mean"] == pytest.approx(np.mean(naive_sens), abs=1e-12)
        assert result[f"sensitivity.{name}"]["std"] == pytest.approx(np.std(naive_sens), abs=1e-12)
        assert result[f"precision.{name}"]["mean"] == pytest.approx(np.mean(naive_prec), abs=1e-12)
        assert result[f"tp.{name}"]["mean"] == pytest.approx(np.mean(naive_tp), abs=1e-12)
    # the per-row path and the vectorised path agree on one resampling, through eval() itself
    row = resamples[0]
    assert metric.eval(ids=row)["sensitivity.a"] == pytest.approx(np.mean(labels[row][target[row] == 0] == 0))


def test_weighted_confusion_bootstrap_matches_per_row_eval() -> None:
    frame = pd.DataFrame(
        {"id": range(6), "pred": [0.9, 0.2, 0.7, 0.4, 0.6, 0.1], "target": [1, 0, 1, 1, 0, 0], "w": [1, 2, 1, 3, 1, 1]}
    )
    metric = MetricConfusion(pred="pred", target="target", metrics=("sensitivity", "f1"), sample_weight="w")
    metric.set(frame)
    ids = np.arange(6)
    rows = np.array([[0, 0, 3, 1, 4, 5], [2, 3, 3, 4, 4, 1]])
    vectorised = metric.eval_resampled(None, ids, rows)
    assert vectorised == [pytest.approx(metric.eval(ids=ids[row])) for row in rows]


def test_vectorised_confusion_warns_once_for_undefined_rows() -> None:
    frame = pd.DataFrame({"id": range(4), "pred": [0.9, 0.2, 0.7, 0.4], "target": [1, 0, 0, 0]})
    metric = MetricConfusion(pred="pred", target="target", metrics=("sensitivity",))
    metric.set(frame)
    with pytest.warns(UndefinedMetricWarning, match="1 .*sensitivity|sensitivity undefined") as record:
        values = metric.eval_resampled(None, np.arange(4), np.array([[0, 1, 2, 3], [1, 1, 2, 3]]))
    assert len(record) == 1
    assert values[0] == {"sensitivity": 1.0}
    assert np.isnan(values[1]["sensitivity"])


def test_compare_methods_with_relative_margin() -> None:
    test, reference = [0.82, 0.78, 0.90], [0.80, 0.80, 0.80]
    absolute = bootstrap_margin_superiority(None, test, reference, margin=0.01)
    relative = bootstrap_margin_superiority(None, test, reference, margin=0.05, margin_type="rel")  # 0.04
    assert (absolute["count_superior"], relative["count_superior"]) == (2, 1)
    equal = bootstrap_margin_equality("auc", test, reference, margin=0.025)
    assert equal["count_margin_equal"] == 2
    assert equal["diff"] == pytest.approx((0.02 + 0.02 + 0.10) / 3)
    with pytest.raises(ValueError, match="margin_type must be one of"):
        bootstrap_margin_superiority(None, test, reference, margin_type="relative")
    with pytest.raises(ValueError, match="same non-zero number"):
        bootstrap_margin_superiority(None, test, reference[:2])


def test_paired_bootstrap_arguments_and_errors() -> None:
    frame = pd.DataFrame({"id": range(6), "a": [0.1, 0.8, 0.3, 0.7, 0.9, 0.2], "target": [0, 1, 0, 1, 1, 0]})
    auc = MetricAUCROC(pred="a", target="target")
    with pytest.raises(ValueError, match="compare_method must be one of"):
        PairedBootstrap(auc, auc, compare_method="better")
    with pytest.raises(ValueError, match="margin_type"):
        PairedBootstrap(auc, auc, margin_type="percent")
    dict_metric = MetricConfusion(pred="a", target="target", metrics=("sensitivity",))
    paired = PairedBootstrap(dict_metric, MetricConfusion(pred="a", target="target"), num_of_bootstraps=5)
    paired.set(frame)
    with pytest.raises(TypeError, match="metric_keys_to_compare"):
        paired.eval()
    missing_key = PairedBootstrap(
        dict_metric, MetricConfusion(pred="a", target="target"), metric_keys_to_compare="f1", num_of_bootstraps=5
    )
    missing_key.set(frame)
    with pytest.raises(KeyError, match="no result 'f1'"):
        missing_key.eval()

    seen: list[Any] = []

    def custom(name: str | None, test: Any, reference: Any, margin: float) -> float:  # FuseMedML's signature
        seen.append((name, len(test), margin))
        return float(np.mean(np.asarray(test) >= np.asarray(reference)))

    same = PairedBootstrap(auc, MetricAUCROC(pred="a", target="target"), "target", compare_method=custom, margin=0.1)
    same.set(frame)
    assert same.eval() == 1.0
    assert seen == [(None, 10_000, 0.1)]


def test_missing_stratum_values_raise_naming_the_count() -> None:
    frame = pd.DataFrame(
        {"id": range(4), "a": [0.1, 0.8, 0.3, 0.7], "target": [0, 1, 0, 1], "site": ["x", None, "y", "x"]}
    )
    ci = CI(MetricAUCROC(pred="a", target="target"), stratum="site", num_of_bootstraps=10)
    ci.set(frame)
    with pytest.raises(ValueError, match="stratum of 1 of 4 samples is missing"):
        ci.eval()


def test_undefined_resamplings_are_left_out_of_the_comparison() -> None:
    rng = np.random.default_rng(3)
    n = 60
    target = np.zeros(n, dtype=int)
    target[[5, 20, 41]] = 1  # a rare class: unstratified resamplings sometimes draw no positive
    a = np.round(rng.normal(0.4 + 0.3 * target, 0.2), 2)
    b = np.round(rng.normal(0.4 + 0.1 * target, 0.2), 2)
    frame = pd.DataFrame({"id": np.arange(n), "a": a, "b": b, "target": target})
    paired = PairedBootstrap(
        MetricAUCROC(pred="a", target="target"),
        MetricAUCROC(pred="b", target="target"),
        num_of_bootstraps=300,
        rnd_seed=2,
    )
    paired.set(frame)
    with pytest.warns(UndefinedMetricWarning, match=r"undefined .* in \d+ of 300 resamplings; they are left out"):
        result = paired.eval()

    from sklearn.metrics import roc_auc_score

    def auc_of(scores: np.ndarray) -> Callable[[np.ndarray], float]:
        return lambda s: roc_auc_score(target[s], scores[s]) if len(np.unique(target[s])) == 2 else np.nan

    test, reference = naive_compare(auc_of(a), auc_of(b), fusemedml_resamples(np.arange(n), np.ones(n), 300, seed=2))
    defined = ~(np.isnan(test) | np.isnan(reference))
    assert 0 < (~defined).sum() < 300
    assert result["num_undefined_bootstraps"] == (~defined).sum()
    assert result["count"] == defined.sum()
    assert result["count_superior"] == int((test[defined] > reference[defined]).sum())
    assert result["diff"] == pytest.approx(float(np.mean(test[defined] - reference[defined])), abs=1e-12)
    assert result["p_value"] == pytest.approx(1 - result["count_superior"] / defined.sum())


def test_a_comparison_undefined_in_every_resampling_is_nan_with_a_warning() -> None:
    frame = pd.DataFrame({"id": range(6), "a": np.linspace(0, 1, 6), "b": np.linspace(1, 0, 6), "target": 0})
    paired = PairedBootstrap(
        MetricAUCROC(pred="a", target="target"), MetricAUCROC(pred="b", target="target"), num_of_bootstraps=100
    )
    paired.set(frame)
    with pytest.warns(UndefinedMetricWarning, match="in all 100 resamplings"):
        result = paired.eval()
    assert np.isnan(result["p_value"])
    assert result["count"] == 0
