"""Temperature scaling: the fitted temperature minimises the cross-entropy (against scipy), FuseMedML's example 13,
alignment by id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, special

from fuse.eval import (
    CI,
    EvaluatorDefault,
    GroupAnalysis,
    MetricApplyTemperature,
    MetricECE,
    MetricFindTemperature,
    MetricReliabilityDiagram,
    PerSampleData,
    UndefinedMetricWarning,
    apply_temperature,
    find_temperature,
)
from fuse.eval._evaluator import read_data
from fuse.eval.resampling._bootstrap import bootstrap_rows

EXAMPLE_13_CLASSES = ["B", "LR", "IR", "HR", "VHR"]


def _nll(logits: np.ndarray, target: np.ndarray, temperature: float) -> float:
    """Mean cross-entropy, written out: -log(exp(z_y / T) / sum_c exp(z_c / T))."""
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    log_probabilities = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
    return float(-np.mean(log_probabilities[np.arange(len(target)), target]))


def _scipy_temperature(logits: np.ndarray, target: np.ndarray) -> float:
    result = optimize.minimize_scalar(
        lambda log_t: _nll(logits, target, float(np.exp(log_t))),
        bounds=(np.log(1e-3), np.log(1e3)),
        method="bounded",
        options={"xatol": 1e-12},
    )
    return float(np.exp(result.x))


@settings(max_examples=25, deadline=None)
@given(st.integers(5, 80), st.integers(2, 6), st.floats(0.2, 5.0), st.integers(0, 10_000))
def test_find_temperature_minimises_the_cross_entropy(n: int, classes: int, scale: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, n)
    logits = scale * (rng.normal(size=(n, classes)) + np.eye(classes)[target])
    rows = np.arange(n)
    if (logits.argmax(axis=1) == target).all():  # separable: the NLL falls as T -> 0
        with pytest.warns(UndefinedMetricWarning, match="temperature goes to 0"):
            assert np.isnan(find_temperature(logits, target))
        return
    if np.mean(logits.mean(axis=1) - logits[rows, target]) >= 0:  # NLL'(1/T = 0) >= 0: it falls as T -> infinity
        with pytest.warns(UndefinedMetricWarning, match="goes to infinity"):
            assert np.isnan(find_temperature(logits, target))
        return
    temperature = find_temperature(logits, target)
    best = _nll(logits, target, temperature)
    assert best <= _nll(logits, target, temperature * 1.0001)
    assert best <= _nll(logits, target, temperature / 1.0001)
    expected = _scipy_temperature(logits, target)
    if 1.01e-3 < expected < 0.99e3:  # inside scipy's bracket
        assert temperature == pytest.approx(expected, rel=1e-5)
        assert best <= _nll(logits, target, expected) + 1e-12


def test_find_temperature_undefined_cases() -> None:
    with pytest.warns(UndefinedMetricWarning, match="temperature goes to 0"):
        assert np.isnan(find_temperature([[3.0, 1.0], [0.0, 2.0]], [0, 1]))  # every argmax is right
    with pytest.warns(UndefinedMetricWarning, match="goes to infinity"):
        assert np.isnan(find_temperature([[3.0, 1.0], [0.0, 2.0]], [1, 0]))  # every argmax is wrong
    with pytest.raises(ValueError, match=r"sample #1 are not finite: \[-inf, 0\.0\]"):
        find_temperature(np.array([[0.5, 0.5], [-np.inf, 0.0]]), [0, 1])


def test_scalar_logits_are_binary() -> None:
    z = np.array([2.0, -1.0, 0.5, 3.0, -2.0, 0.2])
    target = np.array([1, 0, 0, 1, 1, 0])
    vectors = np.stack((np.zeros_like(z), z), axis=1)
    assert find_temperature(z, target) == pytest.approx(find_temperature(vectors, target), rel=1e-12)
    np.testing.assert_allclose(apply_temperature(z, 1.7), special.expit(z / 1.7), atol=1e-15)


def test_apply_temperature_is_a_softmax() -> None:
    logits = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    expected = np.exp(logits / 0.5) / np.exp(logits / 0.5).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(apply_temperature(logits, 0.5), expected, atol=1e-15)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive finite number"):
            apply_temperature(logits, bad)
    with pytest.raises(ValueError, match="'temp' is a string"):
        MetricApplyTemperature(pred="logits", temperature="temp")
    with pytest.raises(ValueError, match="got -2"):
        MetricApplyTemperature(pred="logits", temperature=-2)


def test_apply_temperature_metric_returns_per_sample_data_aligned_by_id() -> None:
    logits = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
    metric = MetricApplyTemperature(pred="logits", temperature=2.0)
    metric.collect({"id": ["a", "b", "c"], "logits": logits})
    calibrated = metric.eval()
    assert isinstance(calibrated, PerSampleData)
    np.testing.assert_allclose(calibrated(["c", "a"]), special.softmax(logits[[2, 0]] / 2.0, axis=1), atol=1e-15)
    subset = metric.eval(ids=["b"])
    np.testing.assert_allclose(subset(["b"]), special.softmax(logits[[1]] / 2.0, axis=1), atol=1e-15)
    no_ids = MetricApplyTemperature(pred="logits", temperature=2.0, collect_ids=False)
    no_ids.collect({"logits": logits})
    with pytest.raises(ValueError, match="needs sample ids"):
        no_ids.eval()


def _example_13_pre_collect(sample: dict) -> dict:
    scores = np.array([sample[f"pred.{name}-score"] for name in EXAMPLE_13_CLASSES])
    sample["pred.output"] = scores
    sample["pred.logits"] = np.log(scores)  # logits up to a constant, as in FuseMedML's example
    return sample


def _example_13_frame(fixtures_dir: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    frame = pd.read_csv(fixtures_dir / "example1_targets.csv").merge(
        pd.read_csv(fixtures_dir / "example7_predictions.csv"), on="id"
    )
    scores = frame[[f"{name}-score" for name in EXAMPLE_13_CLASSES]].to_numpy()
    return scores, frame["Task2-target"].to_numpy(), frame["id"].tolist()


def _example_13_metrics(optimizer: str, output_dir: Path | None = None) -> dict:
    common = {"target": "target.Task2-target", "pre_collect_process_func": _example_13_pre_collect}
    calibrated = "results:metrics.apply_temperature"
    return {
        "reliability": MetricReliabilityDiagram(pred="pred.output", num_bins=10, **common),
        "ece": MetricECE(pred="pred.output", num_bins=10, **common),
        "ece_standard": MetricECE(pred="pred.output", method="mean_confidence", **common),
        "find_temperature": MetricFindTemperature(pred="pred.logits", optimizer=optimizer, **common),
        "apply_temperature": MetricApplyTemperature(
            pred="pred.logits",
            temperature="results:metrics.find_temperature",
            pre_collect_process_func=_example_13_pre_collect,
        ),
        "ece_calibrated": MetricECE(pred=calibrated, num_bins=10, **common),
        "reliability_calibrated": MetricReliabilityDiagram(
            pred=calibrated,
            num_bins=10,
            output_filename=None if output_dir is None else output_dir / "reliability_calibrated.png",
            **common,
        ),
    }


def test_fusemedml_example_13(loop_bins: Any, fixtures_dir: Path) -> None:
    data = {
        "target": str(fixtures_dir / "example1_targets.csv"),
        "pred": str(fixtures_dir / "example7_predictions.csv"),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=_example_13_metrics("exact"))

    scores, target, ids = _example_13_frame(fixtures_dir)
    assert len(target) == 60
    confidence, correct = scores.max(axis=1), scores.argmax(axis=1) == target
    edges = np.arange(11) / 10
    counts, accuracy = loop_bins(confidence, correct, edges)
    # FuseMedML 0.4.1's numbers (its Calibration code run on these files): no confidence reaches 1.0 here, so the
    # closed last bin changes nothing, and none lies exactly on an edge, so the exact edges (i / 10 where FuseMedML
    # used linspace) change nothing either; empty bins hold NaN instead of FuseMedML's 0.0
    assert counts.tolist() == [0, 0, 2, 16, 26, 13, 2, 1, 0, 0]
    assert results["metrics.reliability.num_samples_per_bin"].tolist() == counts.tolist()
    np.testing.assert_allclose(results["metrics.reliability.accuracy"], accuracy, atol=1e-15)
    np.testing.assert_allclose(
        np.nan_to_num(accuracy), [0, 0, 0, 0.4375, 0.6923076923076923, 0.6153846153846154, 0.5, 0, 0, 0], atol=1e-15
    )
    assert results["metrics.reliability.avg_accuracy"] == pytest.approx(0.5666666666666667, abs=1e-15)
    assert results["metrics.reliability.avg_confidence"] == pytest.approx(0.44118336339791614, abs=1e-15)
    assert results["metrics.reliability.total_samples"] == 60
    assert results["metrics.ece.ece"] == pytest.approx(0.12666666666666665, abs=1e-15)  # FuseMedML
    assert results["metrics.ece.mce"] == pytest.approx(0.8, abs=1e-15)  # FuseMedML: the bin [0.7, 0.8) holds 1 wrong
    occupied = counts > 0
    mean_confidence = np.array([confidence[(confidence >= lo) & (confidence < hi)].mean() for lo, hi in
                                zip(edges[:-1][occupied], edges[1:][occupied], strict=True)])  # fmt: skip
    gaps = np.abs(accuracy[occupied] - mean_confidence)
    assert results["metrics.ece_standard.ece"] == pytest.approx(np.sum(counts[occupied] * gaps) / 60, abs=1e-12)

    # temperature: the cross-entropy minimum (scipy); FuseMedML's LBFGS stops at 0.8076 (see the next test)
    logits = np.log(scores)
    temperature = results["metrics.find_temperature"]
    assert temperature == pytest.approx(_scipy_temperature(logits, target), rel=1e-6)
    assert temperature == pytest.approx(0.894781876, rel=1e-6)  # torch LBFGS + strong Wolfe, run to convergence
    assert _nll(logits, target, temperature) < _nll(logits, target, 1.0) - 2e-3  # calibration lowers the NLL
    calibrated = results["metrics.apply_temperature"]
    assert isinstance(calibrated, PerSampleData)
    expected_probabilities = np.exp(logits / temperature) / np.exp(logits / temperature).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(calibrated(ids), expected_probabilities, atol=1e-12)
    calibrated_confidence = expected_probabilities.max(axis=1)
    counts_cal, accuracy_cal = loop_bins(calibrated_confidence, expected_probabilities.argmax(axis=1) == target, edges)
    assert results["metrics.reliability_calibrated.num_samples_per_bin"].tolist() == counts_cal.tolist()
    np.testing.assert_allclose(results["metrics.reliability_calibrated.accuracy"], accuracy_cal, atol=1e-15)
    filled = counts_cal > 0
    upper_gaps = np.abs(accuracy_cal[filled] - edges[1:][filled])
    assert results["metrics.ece_calibrated.ece"] == pytest.approx(np.sum(counts_cal[filled] * upper_gaps) / 60)
    assert results["metrics.ece_calibrated.mce"] == pytest.approx(upper_gaps.max())


def test_fusemedml_example_13_with_fusemedml_lbfgs_reproduces_its_numbers(fixtures_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    data = {
        "target": str(fixtures_dir / "example1_targets.csv"),
        "pred": str(fixtures_dir / "example7_predictions.csv"),
    }
    metrics = _example_13_metrics("fusemedml_lbfgs", output_dir=tmp_path)
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)
    # FuseMedML 0.4.1 (torch 2.13 LBFGS, lr=0.01, max_iter=50, T0=1.5) on this data: T = 0.8076462745666504,
    # then ECE 0.1233333333333333, MCE 0.30000000000000004 and these bin counts
    assert results["metrics.find_temperature"] == pytest.approx(0.8076462745666504, abs=1e-5)
    assert results["metrics.ece_calibrated.ece"] == pytest.approx(0.1233333333333333, abs=1e-12)
    assert results["metrics.ece_calibrated.mce"] == pytest.approx(0.30000000000000004, abs=1e-12)
    assert results["metrics.reliability_calibrated.num_samples_per_bin"].tolist() == [0, 0, 2, 11, 20, 19, 6, 2, 0, 0]
    image = tmp_path / "reliability_calibrated.png"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    scores, target, _ = _example_13_frame(fixtures_dir)
    logits = np.log(scores)
    assert _nll(logits, target, results["metrics.find_temperature"]) < _nll(logits, target, 1.0)


def _shuffled_sources(seed: int = 7, n: int = 40) -> tuple[dict[str, pd.DataFrame], np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    ids = [f"s{i:02d}" for i in range(n)]
    target = rng.integers(0, 3, n)
    logits = 3.0 * rng.normal(size=(n, 3)) + 2.0 * np.eye(3)[target]
    group = np.where(np.arange(n) % 3 == 0, "site_a", "site_b")
    preds = pd.DataFrame({"id": ids, "l0": logits[:, 0], "l1": logits[:, 1], "l2": logits[:, 2]})
    targets = pd.DataFrame({"id": ids, "target": target, "group": group})
    order = rng.permutation(n)  # sources in different orders: the evaluator joins them on id
    return {"pred": preds.iloc[order], "target": targets}, logits, target, ids


def _logits_pre_collect(sample: dict) -> dict:
    sample["pred.logits"] = np.array([sample["pred.l0"], sample["pred.l1"], sample["pred.l2"]])
    return sample


def test_calibrated_probabilities_stay_aligned_in_group_analysis_and_ci() -> None:
    data, logits, target, ids = _shuffled_sources()
    temperature = 2.5
    calibrated = "results:metrics.calibrated"
    metrics = {
        "calibrated": MetricApplyTemperature(
            pred="pred.logits", temperature=temperature, pre_collect_process_func=_logits_pre_collect
        ),
        "ece_per_group": GroupAnalysis(
            MetricECE(pred=calibrated, target="target.target", num_bins=5, method="mean_confidence"),
            group="target.group",
        ),
        "ece_ci": CI(
            MetricECE(pred=calibrated, target="target.target", num_bins=5),
            stratum="target.target",
            num_of_bootstraps=50,
            rnd_seed=3,
        ),
    }
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)

    probabilities = np.exp(logits / temperature) / np.exp(logits / temperature).sum(axis=1, keepdims=True)
    edges = np.linspace(0, 1, 6)

    def ece(rows: np.ndarray, mean_confidence: bool) -> float:
        confidence = probabilities[rows].max(axis=1)
        correct = probabilities[rows].argmax(axis=1) == target[rows]
        total = 0.0
        for i in range(5):
            inside = (confidence >= edges[i]) & ((confidence <= 1) if i == 4 else (confidence < edges[i + 1]))
            if inside.any():
                reference = confidence[inside].mean() if mean_confidence else edges[i + 1]
                total += inside.sum() * abs(correct[inside].mean() - reference)
        return total / len(rows)

    positions = np.arange(len(ids))
    for site in ("site_a", "site_b"):
        rows = positions[(positions % 3 == 0) == (site == "site_a")]
        assert results[f"metrics.ece_per_group.{site}.ece"] == pytest.approx(ece(rows, True), abs=1e-12)
    assert results["metrics.ece_ci.ece.org"] == pytest.approx(ece(positions, False), abs=1e-12)
    # the CI's resamples: FuseMedML's stratified draws over the ids in collected order (the order of the joined frame)
    collected = np.array([ids.index(sample_id) for sample_id in read_data(data, None).index])
    assert not np.array_equal(collected, positions)  # a misaligned array would give other values
    blocks = bootstrap_rows(target[collected], 50, 3)
    resampled = [ece(collected[row], False) for block in blocks for row in block]
    assert results["metrics.ece_ci.ece.mean"] == pytest.approx(np.mean(resampled), abs=1e-12)
    assert results["metrics.ece_ci.ece.std"] == pytest.approx(np.std(resampled), abs=1e-12)
