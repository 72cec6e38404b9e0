"""Decision curve analysis: ``net_benefit`` against a brute-force loop over thresholds and the textbook formulas
(and against the dcurves package where it is installed), its input errors, and ``MetricNetBenefit`` under ``CI``."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fuse.eval import (
    CI,
    EvaluatorDefault,
    MetricBase,
    MetricNetBenefit,
    UndefinedMetricWarning,
    net_benefit,
)


def _data(n: int = 300, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    outcome = rng.integers(0, 2, n)
    risk = np.clip(rng.beta(2, 5, n) + 0.3 * outcome, 0.0, 1.0)
    risk[:5], risk[5:10], risk[10:20] = 0.0, 1.0, 0.25  # the boundaries, and ties exactly at a threshold
    return risk, outcome


def _brute_force(risk: np.ndarray, outcome: np.ndarray, threshold: float, harm: float) -> dict[str, float]:
    n = len(risk)
    tp = sum(1 for p, y in zip(risk, outcome, strict=True) if p >= threshold and y == 1)
    fp = sum(1 for p, y in zip(risk, outcome, strict=True) if p >= threshold and y == 0)
    odds = threshold / (1 - threshold)
    prevalence = sum(outcome) / n
    model = tp / n - fp / n * odds - harm
    treat_all = prevalence - (1 - prevalence) * odds
    return {"net_benefit": model, "treat_all": treat_all, "treat_none": 0.0,
            "net_interventions_avoided": (model - treat_all) / odds * 100}  # fmt: skip


@pytest.mark.parametrize("harm", [0.0, 0.015])
def test_matches_a_brute_force_loop_over_thresholds(harm: float) -> None:
    risk, outcome = _data()
    curve = net_benefit(risk, outcome, harm=harm)
    assert list(curve.columns) == ["threshold", "net_benefit", "treat_all", "treat_none", "net_interventions_avoided"]
    assert curve["threshold"].tolist() == [i / 100 for i in range(1, 100)]
    for _, row in curve.iterrows():
        expected = _brute_force(risk, outcome, float(row["threshold"]), harm)
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, abs=1e-12), (row["threshold"], key)


def test_a_risk_equal_to_the_threshold_is_treated() -> None:
    # dcurves' rule (risk >= threshold): the case at exactly 0.25 counts as a true positive at pt = 0.25
    curve = net_benefit([0.25, 0.1], [1, 0], thresholds=[0.25, 0.26])
    assert curve["net_benefit"].tolist() == [0.5, 0.0]


def test_treat_all_and_none_are_the_textbook_lines() -> None:
    risk, outcome = _data()
    curve = net_benefit(risk, outcome, thresholds=[0.1, 0.5, 0.9])
    prevalence = outcome.mean()
    odds = np.array([0.1, 0.5, 0.9]) / (1 - np.array([0.1, 0.5, 0.9]))
    np.testing.assert_allclose(curve["treat_all"], prevalence - (1 - prevalence) * odds, rtol=0, atol=1e-12)
    assert (curve["treat_none"] == 0).all()
    # a model that calls everybody positive is treat-all: it avoids no intervention
    everybody = net_benefit(np.ones(len(outcome)), outcome, thresholds=[0.1, 0.5, 0.9])
    np.testing.assert_allclose(everybody["net_benefit"], everybody["treat_all"], atol=1e-12)
    np.testing.assert_allclose(everybody["net_interventions_avoided"], 0, atol=1e-9)


def test_equals_dcurves() -> None:
    dcurves = pytest.importorskip("dcurves")  # needs lifelines too; not a dependency of the test environment
    risk, outcome = _data()
    thresholds = np.arange(1, 100) / 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = dcurves.dca(data=pd.DataFrame({"y": outcome, "m": risk}), outcome="y", modelnames=["m"],
                            thresholds=thresholds, harm={"m": 0.02})  # fmt: skip
    ours = net_benefit(risk, outcome, thresholds, harm=0.02)
    by_model = {name: group.reset_index(drop=True) for name, group in table.groupby("model")}
    np.testing.assert_allclose(ours["net_benefit"], by_model["m"]["net_benefit"], atol=1e-12)
    np.testing.assert_allclose(ours["treat_all"], by_model["all"]["net_benefit"], atol=1e-12)
    np.testing.assert_allclose(ours["treat_none"], by_model["none"]["net_benefit"], atol=1e-12)
    np.testing.assert_allclose(
        ours["net_interventions_avoided"], by_model["m"]["net_intervention_avoided"] * 100, atol=1e-9
    )


def test_labels_and_probability_vectors() -> None:
    risk, outcome = _data(n=50)
    expected = net_benefit(risk, outcome, thresholds=0.3)
    names = np.where(outcome == 1, "malignant", "benign")
    pd.testing.assert_frame_equal(net_benefit(risk, names, thresholds=0.3, pos_label="malignant"), expected)
    vectors = np.column_stack((1 - risk, risk))
    pd.testing.assert_frame_equal(net_benefit(vectors, outcome, thresholds=0.3), expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"thresholds": [0.0, 0.5]}, "thresholds must lie strictly inside (0, 1)"),
        ({"thresholds": 1.0}, "thresholds must lie strictly inside (0, 1)"),
        ({"thresholds": [[0.1, 0.2]]}, "thresholds must be a number or a 1-d sequence"),
        ({"harm": -0.1}, "harm is the net benefit lost to the test itself, a finite number >= 0"),
        ({"harm": float("nan")}, "harm is the net benefit lost"),
    ],
)
def test_bad_settings_raise(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        net_benefit([0.2, 0.7], [0, 1], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape(message)):
        MetricNetBenefit(pred="p", target="y", **kwargs)  # type: ignore[arg-type]


def test_probabilities_outside_the_unit_interval_raise_naming_the_key_and_ids() -> None:
    metric = MetricNetBenefit(pred="model.logit", target="label", thresholds=0.2)
    metric.collect({"id": ["a", "b", "c"], "model.logit": np.array([0.2, 2.3, -0.4]), "label": [0, 1, 0]})
    with pytest.raises(ValueError, match=re.escape("pred (key 'model.logit') holds 2 values outside [0, 1]")) as e:
        metric.eval()
    assert "ids ['b', 'c']" in str(e.value)
    with pytest.raises(ValueError, match=re.escape("missing (NaN) or infinite")):
        net_benefit([0.2, float("nan")], [0, 1])


def test_no_samples_is_undefined() -> None:
    with pytest.warns(UndefinedMetricWarning, match="net benefit of no samples is undefined"):
        curve = net_benefit([], [], thresholds=[0.2, 0.4])
    assert curve["threshold"].tolist() == [0.2, 0.4]
    assert curve["net_benefit"].isna().all()


def test_one_class_is_defined() -> None:
    # without positives every treated case is a false positive: NB = -FP/n * odds, treat-all = -odds
    curve = net_benefit([0.1, 0.6], [0, 0], thresholds=[0.5])
    assert curve["net_benefit"].tolist() == [-0.5]
    assert curve["treat_all"].tolist() == [-1.0]


def test_metric_under_ci_gives_intervals_and_its_fast_path_equals_row_by_row() -> None:
    risk, outcome = _data()
    data = pd.DataFrame({"id": np.arange(len(risk)), "pred": risk, "target": outcome})
    metric = CI(MetricNetBenefit(pred="pred", target="target", thresholds=0.2), num_of_bootstraps=200, rnd_seed=3)
    results = EvaluatorDefault().eval(ids=None, data=data, metrics={"nb": metric})
    direct = net_benefit(risk, outcome, thresholds=0.2).iloc[0]
    for key in ("net_benefit", "treat_all", "net_interventions_avoided"):
        assert results[f"metrics.nb.{key}.org"] == pytest.approx(direct[key], abs=1e-12)
        assert results[f"metrics.nb.{key}.conf_lower"] < direct[key] < results[f"metrics.nb.{key}.conf_upper"]
    single = MetricNetBenefit(pred="pred", target="target", thresholds=[0.1, 0.3])
    single.set(data)
    ids = data["id"].to_numpy()
    rows = np.random.default_rng(0).integers(0, len(ids), size=(5, len(ids)))
    with single.resampling():
        fast = single.eval_resampled(None, ids, rows)
    slow = MetricBase.eval_resampled(single, None, ids, rows)
    for one, other in zip(fast, slow, strict=True):
        assert one.keys() == other.keys()
        for key in one:
            np.testing.assert_allclose(one[key], other[key], rtol=0, atol=1e-12)


def test_curve_mode_returns_arrays() -> None:
    risk, outcome = _data(n=40)
    metric = MetricNetBenefit(pred="pred", target="target")
    metric.collect({"id": np.arange(40), "pred": risk, "target": outcome})
    result = metric.eval()
    assert sorted(result) == sorted(
        ["threshold", "net_benefit", "treat_all", "treat_none", "net_interventions_avoided"]
    )
    assert len(result["threshold"]) == 99
    np.testing.assert_allclose(result["net_benefit"], net_benefit(risk, outcome)["net_benefit"])


def test_plot_decision_curve_writes_a_png_and_names_bad_input(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from fuse.eval import plot_decision_curve

    risk, outcome = _data(n=60)
    curve = net_benefit(risk, outcome)
    band = (curve["net_benefit"] - 0.02, curve["net_benefit"] + 0.02)
    path = plot_decision_curve(curve, tmp_path / "sub" / "dca.png", class_name="malignant", band=band)
    assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="curve must be a net_benefit\\(\\) DataFrame or a mapping with 'threshold'"):
        plot_decision_curve({"threshold": [0.1]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="curve columns differ in length: 2 thresholds, 1 net benefits"):
        plot_decision_curve({"threshold": [0.1, 0.2], "net_benefit": [0.1], "treat_all": [0, 0]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="band arrays must have one value per threshold"):
        plot_decision_curve(curve, tmp_path / "x.png", band=([0.1], [0.2]))
    with pytest.raises(ValueError, match="must end with an image suffix"):
        plot_decision_curve(curve, tmp_path / "x.txt")
