"""Model comparison: DeLong's test against its O(m·n) definition and FuseMedML's examples, contingency tables and
McNemar's test against statsmodels, and the fixed ``target=None`` path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar

from fuse.eval import (
    EvaluatorDefault,
    MetricContingencyTable,
    MetricDelongsTest,
    MetricMcnemarsTest,
    UndefinedMetricWarning,
    contingency_table,
    delong_test,
    mcnemars_test,
)

DELONG_KEYS = ["p_value", "z", "auc1", "auc2", "cov11", "cov12", "cov22"]


def _quadratic_delong(scores1: np.ndarray, scores2: np.ndarray, positive: np.ndarray) -> dict[str, float]:
    """DeLong et al. (1988) by definition: the m x n matrix of ψ(x_i, y_j) per model, structural components as its
    row and column means, sample covariances with 1/(m-1) and 1/(n-1), eps added to the denominator of z.
    """
    m, n = int(positive.sum()), int((~positive).sum())
    components10, components01, aucs = [], [], []
    for scores in (scores1, scores2):
        x, y = scores[positive][:, None], scores[~positive][None, :]
        psi = (y < x) + 0.5 * (y == x)
        aucs.append(psi.mean())
        components10.append(psi.mean(axis=1))
        components01.append(psi.mean(axis=0))
    cov = np.cov(np.stack(components10)) / m + np.cov(np.stack(components01)) / n
    z = (aucs[0] - aucs[1]) / (np.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0)) + np.finfo(float).eps)
    return {
        "p_value": 2 * stats.norm.sf(abs(z)),
        "z": z,
        "auc1": aucs[0],
        "auc2": aucs[1],
        "cov11": cov[0, 0],
        "cov12": cov[0, 1],
        "cov22": cov[1, 1],
    }


def _assert_same_delong(result: dict[str, float], reference: dict[str, float]) -> None:
    for key in DELONG_KEYS:
        if key == "z" and reference["cov11"] + reference["cov22"] - 2 * reference["cov12"] < 1e-15:
            # the variance of the difference is 0 up to rounding: z = difference / (rounding noise + eps) is huge
            # either way, but its size depends on the order of the floating-point operations
            assert np.sign(result["z"]) == np.sign(reference["z"])
            assert result["z"] == 0.0 or abs(result["z"]) > 1e6
            continue
        assert result[key] == pytest.approx(reference[key], rel=1e-9, abs=1e-12), key


# --- DeLong -----------------------------------------------------------------------------------------------------------


def test_example_6_multiclass_delong_through_the_evaluator() -> None:
    """FuseMedML example_6: binary predictions stacked as [1 - p, p], one-vs-rest per class."""
    target = np.array([0, 0, 1, 1, 1])
    pred1 = np.array([0.1, 0.2, 0.6, 0.7, 0.8])
    pred2 = np.array([0.3, 0.6, 0.2, 0.7, 0.9])
    pred_df = pd.DataFrame(
        {
            "pred1": list(np.stack((1 - pred1, pred1), 1)),
            "pred2": list(np.stack((1 - pred2, pred2), 1)),
            "id": np.arange(5),
        }
    )
    target_df = pd.DataFrame({"target": target, "id": np.arange(5)})
    metric = MetricDelongsTest(
        target="target.target", class_names=["negative", "positive"], pred1="pred.pred1", pred2="pred.pred2"
    )
    results = EvaluatorDefault().eval(
        ids=None, data={"pred": pred_df, "target": target_df}, metrics={"delongs_test": metric}
    )
    expected = {
        "p_value": 0.31731050786291437,
        "z": 0.9999999999999996,
        "auc1": 1.0,
        "auc2": 0.6666666666666666,
        "cov11": 0.0,
        "cov12": 0.0,
        "cov22": 0.1111111111111111,
    }
    for key, value in expected.items():
        for cls in ("negative", "positive", "macro_avg"):
            assert results[f"metrics.delongs_test.{key}.{cls}"] == pytest.approx(value, abs=1e-12), (key, cls)


def test_example_7_binary_delong_on_three_joined_dataframes() -> None:
    """FuseMedML example_7: scalar predictions, one DataFrame per model and one for the target (values from running
    FuseMedML 0.4.1's ``ModelComparison.delong_auc_test``; its test pins p = 0.09453 and z = 1.672).
    """
    target = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    pred1 = np.array([0.1, 0.2, 0.05, 0.3, 0.1, 0.6, 0.6, 0.7, 0.8, 0.99, 0.8, 0.67, 0.5])
    pred2 = np.array([0.3, 0.6, 0.2, 0.1, 0.1, 0.9, 0.23, 0.7, 0.9, 0.4, 0.77, 0.3, 0.89])
    ids = np.arange(len(target))
    # FuseMedML's frames carry two unused, empty columns
    pred1_df = pd.DataFrame(columns=["pred1", "pred2", "id"])
    pred1_df["output"], pred1_df["id"] = pred1, ids
    pred2_df = pd.DataFrame(columns=["pred1", "pred2", "id"])
    pred2_df["output"], pred2_df["id"] = pred2, ids
    target_df = pd.DataFrame({"target": target, "id": ids})
    data = {"pred1": pred1_df, "pred2": pred2_df, "target": target_df}
    metric = MetricDelongsTest(target="target.target", pred1="pred1.output", pred2="pred2.output")
    results = EvaluatorDefault().eval(ids=None, data=data, metrics={"delongs_test": metric})
    assert results["metrics.delongs_test.p_value"] == pytest.approx(0.09453, abs=5e-6)
    assert results["metrics.delongs_test.z"] == pytest.approx(1.672, abs=5e-4)
    expected = {
        "p_value": 0.09452572880559044,
        "z": 1.6719928661789871,
        "auc1": 0.9642857142857142,
        "auc2": 0.738095238095238,
        "cov11": 0.0018896447467876042,
        "cov12": 0.004856386999244143,
        "cov22": 0.026124338624338623,
    }
    for key, value in expected.items():
        assert results[f"metrics.delongs_test.{key}"] == pytest.approx(value, abs=1e-14), key
    assert results["metrics.delongs_test.auc1"] == pytest.approx(roc_auc_score(target, pred1), abs=1e-15)
    assert results["metrics.delongs_test.auc2"] == pytest.approx(roc_auc_score(target, pred2), abs=1e-15)


def test_quadratic_reference_reproduces_example_6() -> None:
    """The reference itself is right: it gives FuseMedML's pinned example_6 numbers."""
    positive = np.array([0, 0, 1, 1, 1]) == 1
    reference = _quadratic_delong(np.array([0.1, 0.2, 0.6, 0.7, 0.8]), np.array([0.3, 0.6, 0.2, 0.7, 0.9]), positive)
    assert reference["p_value"] == pytest.approx(0.31731050786291437, abs=1e-12)
    assert reference["cov22"] == pytest.approx(0.1111111111111111, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.integers(4, 60), st.integers(0, 10_000), st.integers(1, 8), st.floats(0.0, 0.9))
def test_delong_equals_the_quadratic_definition_with_ties(n: int, seed: int, levels: int, correlation: float) -> None:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 2, n)
    target[:2], target[2:4] = 0, 1  # at least 2 of each class
    base = rng.integers(0, levels + 1, n)
    scores1 = (base + target) / (levels + 1)  # few distinct values: many ties within and across classes
    noise = rng.integers(0, levels + 1, n)
    scores2 = np.where(rng.random(n) < correlation, base, noise) / levels
    result = delong_test(scores1, scores2, target)
    reference = _quadratic_delong(scores1, scores2, target == 1)
    assert list(result) == DELONG_KEYS
    _assert_same_delong(result, reference)
    assert result["auc1"] == pytest.approx(roc_auc_score(target, scores1), abs=1e-15)
    assert result["auc2"] == pytest.approx(roc_auc_score(target, scores2), abs=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_delong_continuous_scores_larger_sample(seed: int) -> None:
    rng = np.random.default_rng(seed)
    target = (rng.random(700) < 0.3).astype(int)
    scores1 = rng.normal(target * 0.8, 1.0)
    scores2 = 0.6 * scores1 + rng.normal(target * 0.3, 0.8)
    result = delong_test(scores1, scores2, target)
    _assert_same_delong(result, _quadratic_delong(scores1, scores2, target == 1))


def test_delong_class_score_vectors_use_pos_class_index() -> None:
    rng = np.random.default_rng(7)
    target = rng.integers(0, 3, 90)
    pred1 = rng.dirichlet(np.ones(3), 90) + np.eye(3)[target] * 0.5
    pred2 = np.round(rng.dirichlet(np.ones(3), 90) + np.eye(3)[target] * 0.2, 1)
    for index in range(3):
        result = delong_test(list(pred1), list(pred2), target, pos_class_index=index)
        reference = _quadratic_delong(pred1[:, index], pred2[:, index], target == index)
        _assert_same_delong(result, reference)
    # negative index: the last column (FuseMedML's default)
    assert delong_test(pred1, pred2, target) == delong_test(pred1, pred2, target, pos_class_index=2)


def test_metric_delongs_test_per_class_with_macro_average_and_weights() -> None:
    rng = np.random.default_rng(3)
    target = rng.integers(0, 3, 60)
    pred1 = rng.dirichlet(np.ones(3), 60) + np.eye(3)[target] * 0.4
    pred2 = rng.dirichlet(np.ones(3), 60) + np.eye(3)[target] * 0.1
    frame = pd.DataFrame({"id": range(60), "a": list(pred1), "b": list(pred2), "y": target})
    names = ["x", "y", "z"]
    metric = MetricDelongsTest(pred1="a", pred2="b", target="y", class_names=names, class_weights=[1.0, 0.0, 3.0])
    metric.set(frame)
    result = metric.eval()
    per_class = [delong_test(pred1, pred2, target, pos_class_index=i) for i in range(3)]
    for key in DELONG_KEYS:
        for name, expected in zip(names, per_class, strict=True):
            assert result[f"{key}.{name}"] == expected[key]
        values = [expected[key] for expected in per_class]
        assert result[f"{key}.macro_avg"] == pytest.approx((values[0] + 3 * values[2]) / 4, abs=1e-15)


def test_delong_identical_and_opposite_models() -> None:
    target = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.5, 0.3, 0.6, 0.5, 0.9])
    same = delong_test(scores, scores, target)
    assert same["z"] == 0.0
    assert same["p_value"] == 1.0
    assert same["auc1"] == same["auc2"] == roc_auc_score(target, scores)
    # perfect against perfectly inverted: no variance at all, the difference is infinitely significant
    perfect = target.astype(float)
    opposite = delong_test(perfect, 1.0 - perfect, target)
    assert (opposite["auc1"], opposite["auc2"]) == (1.0, 0.0)
    assert opposite["cov11"] == opposite["cov22"] == opposite["cov12"] == 0.0
    assert opposite["z"] == pytest.approx(1.0 / np.finfo(float).eps)
    assert opposite["p_value"] == 0.0


def test_delong_undefined_values_are_nan_with_a_warning() -> None:
    with pytest.warns(UndefinedMetricWarning, match="only negative samples"):
        result = delong_test([0.1, 0.4, 0.3], [0.2, 0.1, 0.3], [0, 0, 0])
    assert all(np.isnan(result[key]) for key in DELONG_KEYS)
    with pytest.warns(UndefinedMetricWarning, match="no samples"):
        assert np.isnan(delong_test([], [], [])["p_value"])
    # one positive: the AUCs exist, their variance does not
    with pytest.warns(UndefinedMetricWarning, match="at least 2 positive and 2 negative"):
        result = delong_test([0.1, 0.4, 0.3, 0.9], [0.2, 0.1, 0.5, 0.3], [0, 0, 0, 1])
    assert result["auc1"] == 1.0
    assert result["auc2"] == pytest.approx(2 / 3)
    assert all(np.isnan(result[key]) for key in ("p_value", "z", "cov11", "cov12", "cov22"))


def test_metric_delongs_test_class_absent_is_nan_and_skipped_by_macro_average() -> None:
    rng = np.random.default_rng(11)
    target = rng.choice([0, 2], 40)  # class 1 absent
    pred1, pred2 = rng.dirichlet(np.ones(3), 40), rng.dirichlet(np.ones(3), 40)
    frame = pd.DataFrame({"id": range(40), "a": list(pred1), "b": list(pred2), "y": target})
    metric = MetricDelongsTest(pred1="a", pred2="b", target="y", class_names=["c0", "c1", "c2"])
    metric.set(frame)
    with pytest.warns(UndefinedMetricWarning, match="only negative samples"):
        result = metric.eval()
    assert np.isnan(result["p_value.c1"])
    assert result["p_value.macro_avg"] == pytest.approx((result["p_value.c0"] + result["p_value.c2"]) / 2)


def test_delong_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="pred2 has 3 samples but target has 4"):
        delong_test([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3], [0, 1, 0, 1])
    with pytest.raises(ValueError, match="pred1 holds NaN for 1 of 4"):
        delong_test([0.1, np.nan, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])
    with pytest.raises(ValueError, match="same form"):
        delong_test(np.eye(3)[[0, 1, 2, 1]], [0.1, 0.2, 0.3, 0.4], [0, 1, 2, 1], pos_class_index=0)
    with pytest.raises(ValueError, match="pos_class_index 5 is out of range"):
        delong_test(np.eye(3)[[0, 1, 2]], np.eye(3)[[0, 1, 2]], [0, 1, 2], pos_class_index=5)


# --- contingency table --------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=40))
def test_contingency_table_counts_pairs(pairs: list[tuple[bool, bool]]) -> None:
    var1 = np.array([a for a, _ in pairs], dtype=bool)
    var2 = np.array([b for _, b in pairs], dtype=bool)
    table = contingency_table(var1, var2)
    expected = [[(var1 & var2).sum(), (var1 & ~var2).sum()], [(~var1 & var2).sum(), (~var1 & ~var2).sum()]]
    assert table.tolist() == expected
    assert table.dtype == np.int64
    # 0/1 integers, 0.0/1.0 floats and object columns give the same table
    assert contingency_table(var1.astype(int), var2.astype(float)).tolist() == expected
    assert contingency_table(np.array(var1.tolist(), dtype=object), var2.astype(int).tolist()).tolist() == expected


def test_contingency_table_rejects_non_binary_values() -> None:
    with pytest.raises(ValueError, match=r"var1 must hold binary values .* \[2\]"):
        contingency_table([0, 1, 2], [0, 1, 1])
    with pytest.raises(ValueError, match=r"var2 must hold binary values .* \['yes'\]"):
        contingency_table([0, 1], ["yes", "yes"])
    with pytest.raises(ValueError, match="var1 has 2 samples but var2 has 3"):
        contingency_table([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="var2 holds NaN"):
        contingency_table([0, 1], [0.0, np.nan])


def test_metric_contingency_table_through_the_evaluator() -> None:
    frame = pd.DataFrame({"id": range(6), "a": [1, 1, 0, 0, 1, 0], "b": [True, False, True, False, True, False]})
    results = EvaluatorDefault().eval(
        ids=None, data=frame, metrics={"table": MetricContingencyTable(var1="a", var2="b")}
    )
    assert results["metrics.table"].tolist() == [[2, 1], [1, 2]]


# --- McNemar ------------------------------------------------------------------------------------------------------------


def test_example_10_mcnemar_through_the_evaluator() -> None:
    frame = pd.DataFrame(
        {
            "cls_pred1": [0, 1, 1, 1, 0, 1, 1, 0, 1, 1],
            "cls_pred2": [1, 1, 0, 1, 0, 1, 1, 0, 0, 1],
            "ground_truth": [0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
            "id": np.arange(10),
        }
    )
    metric = MetricMcnemarsTest(pred1="data.cls_pred1", pred2="data.cls_pred2", target="data.ground_truth")
    results = EvaluatorDefault().eval(ids=None, data={"data": frame}, metrics={"mcnemars_test": metric})
    assert results["metrics.mcnemars_test.p_value"] == 1.0
    assert results["metrics.mcnemars_test.statistic"] == 1.0
    assert results["metrics.mcnemars_test.n1"] == 2
    assert results["metrics.mcnemars_test.n2"] == 1


@pytest.mark.parametrize(("exact", "correction"), [(True, True), (False, True), (False, False)])
@pytest.mark.parametrize("seed", range(4))
def test_mcnemar_equals_statsmodels_on_the_correctness_table(seed: int, exact: bool, correction: bool) -> None:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 3, 120)
    pred1 = np.where(rng.random(120) < 0.7, target, rng.integers(0, 3, 120))
    pred2 = np.where(rng.random(120) < 0.55, target, rng.integers(0, 3, 120))
    correct1, correct2 = pred1 == target, pred2 == target
    table = [
        [(correct1 & correct2).sum(), (correct1 & ~correct2).sum()],
        [(~correct1 & correct2).sum(), (~correct1 & ~correct2).sum()],
    ]
    expected = mcnemar(np.array(table), exact=exact, correction=correction)
    result = mcnemars_test(pred1, pred2, target, exact=exact, correction=correction)
    assert result == {
        "p_value": pytest.approx(expected.pvalue, abs=1e-15),
        "statistic": pytest.approx(expected.statistic, abs=1e-15),
        "n1": table[0][1],
        "n2": table[1][0],
    }


def test_mcnemar_labels_of_any_type() -> None:
    result = mcnemars_test(["cat", "dog", "dog", "cat"], ["cat", "cat", "cat", "dog"], ["cat", "dog", "cat", "cat"])
    assert (result["n1"], result["n2"]) == (2, 1)


def test_mcnemar_without_target_compares_the_predictions() -> None:
    """FuseMedML bug: with target=None it compared every prediction with None (all wrong, p = 1 always)."""
    pred1 = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0])
    pred2 = np.array([0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0])
    result = mcnemars_test(pred1, pred2)
    table = [[2, 6], [1, 3]]  # [[11, 10], [01, 00]]
    expected = mcnemar(np.array(table), exact=True)
    assert result == {"p_value": expected.pvalue, "statistic": expected.statistic, "n1": 6, "n2": 1}
    assert result["p_value"] < 0.13  # FuseMedML's bug gave 1.0 with n1 = n2 = 0
    assert mcnemars_test(pred1.astype(bool), pred2.astype(float)) == result
    # swapping the models swaps n1 and n2, not the p-value
    swapped = mcnemars_test(pred2, pred1)
    assert (swapped["n1"], swapped["n2"], swapped["p_value"]) == (1, 6, result["p_value"])


def test_metric_mcnemars_test_without_target_through_the_evaluator() -> None:
    frame = pd.DataFrame({"id": range(8), "a": [1, 1, 1, 1, 1, 1, 0, 0], "b": [0] * 8})
    metric = MetricMcnemarsTest(pred1="a", pred2="b")
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics={"mcnemar": metric})
    assert results["metrics.mcnemar.n1"] == 6
    assert results["metrics.mcnemar.n2"] == 0
    assert results["metrics.mcnemar.p_value"] == pytest.approx(2 * 0.5**6)
    chi2 = MetricMcnemarsTest(pred1="a", pred2="b", exact=False)
    chi2.set(frame)
    assert chi2.eval()["statistic"] == pytest.approx((6 - 1) ** 2 / 6)  # continuity-corrected chi-square


def test_mcnemar_undefined_values_and_no_discordance() -> None:
    same = mcnemars_test([0, 1, 1], [0, 1, 1], [0, 1, 0])
    assert same == {"p_value": 1.0, "statistic": 0.0, "n1": 0, "n2": 0}
    with pytest.warns(UndefinedMetricWarning, match="without discordant pairs"):
        result = mcnemars_test([0, 1, 1], [0, 1, 1], [0, 1, 0], exact=False)
    assert np.isnan(result["p_value"])
    assert np.isnan(result["statistic"])
    with pytest.warns(UndefinedMetricWarning, match="no samples"):
        assert np.isnan(mcnemars_test([], [], [])["p_value"])


def test_mcnemar_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match=r"pred1 must hold binary values .* \[2\]"):
        mcnemars_test([0, 2, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="pred1, pred2 and target must be paired, got 3, 2 and 3"):
        mcnemars_test([0, 1, 1], [0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="MetricApplyThresholds"):
        mcnemars_test(np.array([[0.2, 0.8], [0.6, 0.4]]), [0, 1], [0, 1])
    with pytest.raises(ValueError, match="exact must be True or False, got 'yes'"):
        mcnemars_test([0, 1], [0, 1], [0, 1], exact="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exact must be True or False, got 1"):
        MetricMcnemarsTest(pred1="a", pred2="b", exact=1)  # type: ignore[arg-type]
