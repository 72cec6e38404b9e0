"""Segmentation metrics together: FuseMedML's examples, averaging over samples and labels, CI and group analysis over
per-sample results, input errors.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fuse.core import NDict
from fuse.eval import (
    CI,
    EvaluatorDefault,
    GroupAnalysis,
    Metric2DHausdorff,
    MetricAverageSurfaceDistance,
    MetricDice,
    MetricHausdorff,
    MetricHausdorff95,
    MetricIouJaccard,
    MetricOverlap,
    MetricPixelAccuracy,
    UndefinedMetricWarning,
    dice,
    hausdorff_distance,
)
from fuse.eval.metrics.segmentation import _common as segmentation_common
from fuse.eval.metrics.segmentation._common import average_sample_results
from fuse.eval.resampling._bootstrap import bootstrap_rows

OVERLAP_METRICS = {
    "dice": MetricDice,
    "iou_jaccard": MetricIouJaccard,
    "overlap": MetricOverlap,
    "pixel_accuracy": MetricPixelAccuracy,
}


def test_example_seg_1_pinned_values(np_score: Any) -> None:
    # FuseMedML: set_seed(0) then np.random.rand twice; RandomState(0) draws the same numbers without global state
    rng = np.random.RandomState(0)
    sample = {"id": "sample", "pred.array": rng.rand(10, 5, 5, 4) > 0.5, "label.array": rng.rand(10, 5, 5, 4) > 0.5}
    metrics = {name: cls(pred="pred.array", target="label.array") for name, cls in OVERLAP_METRICS.items()}

    results = EvaluatorDefault().eval(ids=None, data=iter([sample]), batch_size=60, metrics=metrics)

    assert results["metrics.dice.1"] == pytest.approx(0.499001996007984, rel=1e-12)
    assert results["metrics.overlap.1"] == pytest.approx(0.5175983436853002, rel=1e-12)
    assert results["metrics.pixel_accuracy.1"] == pytest.approx(0.4816955684007707, rel=1e-12)
    assert results["metrics.iou_jaccard.1"] == pytest.approx(0.3324468085106383, rel=1e-12)
    for name in OVERLAP_METRICS:
        assert results[f"metrics.{name}.average"] == results[f"metrics.{name}.1"]
        x, y = sample["pred.array"], sample["label.array"]
        assert results[f"metrics.{name}.1"] == pytest.approx(np_score(name, x, y), rel=1e-12)


def test_example_seg_3_pinned_values() -> None:
    def data() -> Iterator[NDict]:
        yield NDict(
            {
                "id": "sample",
                "pred.array": np.array([(1.0, 0.0), (0.0, 1.0), (1.0, 0.0), (0.0, 1.0)]),
                "label.array": np.ones((4, 2)),
                "pixel_weight": {"1": np.full((4, 2), 0.125)},
            }
        )

    metrics: dict[str, Any] = {
        "hausdorff": Metric2DHausdorff(pred="pred.array", target="label.array", class_weights={"1": 1.0})
    }
    for name, cls in OVERLAP_METRICS.items():
        metrics[name] = cls(
            pred="pred.array", target="label.array", pixel_weight="pixel_weight", class_weights={"1": 1.0}
        )

    results = EvaluatorDefault().eval(ids=None, data=data(), batch_size=60, metrics=metrics)

    assert results["metrics.hausdorff.average"] == 1.0
    assert results["metrics.dice.average"] == pytest.approx(0.6666666666666667, rel=1e-12)
    assert results["metrics.overlap.average"] == pytest.approx(1.0, rel=1e-12)
    assert results["metrics.pixel_accuracy.average"] == pytest.approx(0.5, rel=1e-12)
    assert results["metrics.iou_jaccard.average"] == pytest.approx(0.5, rel=1e-12)


def _load_nifti_pairs(fixtures_dir: Path) -> list[dict[str, Any]]:
    nib = pytest.importorskip("nibabel")
    directory = fixtures_dir / "semantic_segmentation"
    samples: list[dict[str, Any]] = []
    for predicted in sorted((directory / "predicted").iterdir()):
        sample_id = predicted.name.split(".")[0]
        samples.append(
            {
                "id": sample_id,
                "pred.array": np.asanyarray(nib.load(predicted).dataobj),
                "label.array": np.asanyarray(nib.load(directory / "labeled" / sample_id / "seg.nii.gz").dataobj),
            }
        )
    return samples


@pytest.mark.slow  # four CT label maps, 123 M voxels in all
def test_examples_seg_0_and_seg_2_on_nifti(np_score: Any, fixtures_dir: Path) -> None:
    samples = _load_nifti_pairs(fixtures_dir)
    assert len(samples) == 4
    groups = {"label_1": (1, 2, 3), "label_2": (2, 3), "label_3": (2,)}

    def merge(name: str) -> Any:
        def pre_collect(sample: NDict) -> NDict:  # FuseMedML's example: the group's labels become one mask
            for source in ("pred", "label"):
                array = sample[f"{source}.array"]
                sample[f"{source}.array_{name}"] = functools.reduce(np.logical_or, [array == v for v in groups[name]])
            return sample

        return pre_collect

    # example_seg_0: one binary dice per label group
    metrics_0 = {
        f"dice_{name}": MetricDice(
            pred=f"pred.array_{name}", target=f"label.array_{name}", pre_collect_process_func=merge(name)
        )
        for name in groups
    }
    results_0 = EvaluatorDefault().eval(ids=None, data=iter(samples), batch_size=1, metrics=metrics_0)
    # example_seg_2: multi-label dice on the raw label maps
    metrics_2 = {"dice": MetricDice(pred="pred.array", target="label.array")}
    results_2 = EvaluatorDefault().eval(ids=None, data=iter(samples), batch_size=1, metrics=metrics_2)

    # independent numpy: per sample dice, averaged over the samples whose target holds the label
    per_label: dict[str, list[float]] = {}
    per_group: dict[str, list[float]] = {name: [] for name in groups}
    for sample in samples:
        pred, target = sample["pred.array"], sample["label.array"]
        masks = {v: (pred == v, target == v) for v in range(1, 4)}
        for label, (x, y) in masks.items():
            if y.any():
                per_label.setdefault(str(label), []).append(np_score("dice", x, y))
        for name, group in groups.items():
            x = functools.reduce(np.logical_or, [masks[v][0] for v in group])
            y = functools.reduce(np.logical_or, [masks[v][1] for v in group])
            if y.any():
                per_group[name].append(np_score("dice", x, y))
        assert target.min() >= 0
        assert target.max() <= 3  # labels 1..3 cover the targets
    for name in groups:
        assert results_0[f"metrics.dice_{name}.1"] == pytest.approx(np.mean(per_group[name]), rel=1e-12)
    assert set(per_label) == {"1", "2"}  # label 3 is predicted in two samples but never in a target: not scored
    for label, scores in per_label.items():
        assert results_2[f"metrics.dice.{label}"] == pytest.approx(np.mean(scores), rel=1e-12)
    assert set(results_2.keypaths()) == {"metrics.dice.1", "metrics.dice.2", "metrics.dice.average"}
    assert results_2["metrics.dice.average"] == pytest.approx(np.mean([np.mean(v) for v in per_label.values()]))
    # FuseMedML's asserted values (3 decimals)
    assert results_0["metrics.dice_label_1.1"] == pytest.approx(0.8740, abs=5e-4)
    assert results_0["metrics.dice_label_2.1"] == pytest.approx(0.7163, abs=5e-4)
    assert results_0["metrics.dice_label_3.1"] == pytest.approx(0.7184, abs=5e-4)
    assert results_2["metrics.dice.1"] == pytest.approx(0.9726, abs=5e-4)
    assert results_2["metrics.dice.2"] == pytest.approx(0.7184, abs=5e-4)
    assert results_2["metrics.dice.average"] == pytest.approx(0.8455, abs=5e-4)


def test_average_sample_results_means_and_class_weights() -> None:
    per_sample = [{"1": 0.5, "2": 1.0}, {"1": 0.7}, {"2": 0.0, "10": 0.9}]
    assert average_sample_results(per_sample) == {
        "1": pytest.approx(0.6),
        "2": pytest.approx(0.5),
        "10": pytest.approx(0.9),
        "average": pytest.approx((0.6 + 0.5 + 0.9) / 3),
    }
    assert list(average_sample_results(per_sample)) == ["1", "2", "10", "average"]  # numeric label order
    # weights all 1: FuseMedML's sum(w * mean) / #labels; otherwise a weighted mean (FuseMedML's would give 0.35 here)
    ones = average_sample_results(per_sample, class_weights={"1": 1, "2": 1, "10": 1})
    assert ones["average"] == pytest.approx((0.6 + 0.5 + 0.9) / 3)
    weighted = average_sample_results([{"1": 1.0, "2": 0.4}], class_weights={1: 0.5, 2: 0.5, 3: 7.0})
    assert weighted["average"] == pytest.approx(0.7)
    assert average_sample_results([{"1": 1.0, "2": 0.4}], class_weights={"1": 1, "2": 0})["average"] == 1.0
    with pytest.raises(ValueError, match=r"no weight for label\(s\) \['2'\]"):
        average_sample_results([{"1": 1.0, "2": 0.4}], class_weights={"1": 1.0})
    with pytest.warns(UndefinedMetricWarning, match="no sample has a scored label"):
        assert np.isnan(average_sample_results([{}, {}])["average"])


def test_metric_class_weights_and_missing_labels_through_the_evaluator() -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "pred": [np.array([1, 1, 2, 0]), np.array([1, 0, 0, 0]), np.array([2, 2, 0, 0])],
            "target": [np.array([1, 0, 2, 2]), np.array([1, 1, 0, 0]), np.array([0, 0, 0, 0])],
        }
    )
    metrics = {
        "dice": MetricDice(pred="pred", target="target"),
        "dice_weighted": MetricDice(pred="pred", target="target", class_weights={"1": 3.0, "2": 1.0}),
        "iou": MetricIouJaccard(pred="pred", target="target"),
    }
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics=metrics)
    dice_1 = np.mean([2 * 1 / 3, 2 * 1 / 3])  # samples a and b; c has an empty target and scores nothing
    dice_2 = 2 * 1 / 3  # sample a only
    assert results["metrics.dice.1"] == pytest.approx(dice_1)
    assert results["metrics.dice.2"] == pytest.approx(dice_2)
    assert results["metrics.dice.average"] == pytest.approx((dice_1 + dice_2) / 2)
    assert results["metrics.dice_weighted.average"] == pytest.approx((3 * dice_1 + dice_2) / 4)
    assert results["metrics.iou.1"] == pytest.approx(np.mean([1 / 2, 1 / 2]))


def _random_samples(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    samples: list[dict[str, Any]] = []
    for index in range(n):
        target = rng.integers(0, 3, size=(6, 5))
        if index % 4 == 0:
            target[target == 2] = 1  # label 2 absent from some samples
        pred = np.where(rng.random((6, 5)) < 0.7, target, rng.integers(0, 3, size=(6, 5)))
        samples.append({"id": f"s{index}", "pred": pred, "target": target, "group": index % 2})
    return samples


def test_ci_over_a_per_sample_metric() -> None:
    samples = _random_samples(12, seed=0)
    metrics = {
        "dice": MetricDice(pred="pred", target="target"),
        "dice_ci": CI(MetricDice(pred="pred", target="target"), stratum=None, num_of_bootstraps=300, rnd_seed=7),
    }
    results = EvaluatorDefault().eval(ids=None, data=iter(samples), batch_size=5, metrics=metrics)

    # the same resamplings evaluated one at a time with eval()
    reference = MetricDice(pred="pred", target="target")
    for batch in (samples[:5], samples[5:]):
        reference.collect({key: [s[key] for s in batch] for key in ("id", "pred", "target")})
    ids = np.array([s["id"] for s in samples], dtype=object)
    rows = np.concatenate(list(bootstrap_rows(np.ones(len(ids)), 300, 7)))
    boots = [reference.eval(ids=ids[row]) for row in rows]
    for key in ("1", "2", "average"):
        values = np.array([b[key] for b in boots])
        assert results[f"metrics.dice_ci.{key}.org"] == results[f"metrics.dice.{key}"]
        assert results[f"metrics.dice_ci.{key}.mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert results[f"metrics.dice_ci.{key}.std"] == pytest.approx(values.std(), rel=1e-9)
        assert results[f"metrics.dice_ci.{key}.conf_lower"] == pytest.approx(np.sort(values)[7], rel=1e-12)
        assert results[f"metrics.dice_ci.{key}.conf_lower"] <= results[f"metrics.dice_ci.{key}.conf_upper"]


@pytest.mark.parametrize("chunked", [False, True])
def test_eval_resampled_matches_eval_and_keeps_labels_absent_from_a_resample(
    chunked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunked:  # one resampling at a time
        monkeypatch.setattr(segmentation_common, "_RESAMPLED_ENTRIES", 1)
    samples = _random_samples(6, seed=1)
    metric = MetricOverlap(pred="pred", target="target", class_weights={"1": 2.0, "2": 1.0})
    metric.collect({key: [s[key] for s in samples] for key in ("id", "pred", "target")})
    ids = np.array([s["id"] for s in samples], dtype=object)
    rows = np.array([[0, 0, 4, 4, 0, 4], [1, 2, 3, 5, 5, 1], [0, 1, 2, 3, 4, 5]])  # row 0: samples without label 2
    resampled = metric.eval_resampled(None, ids, rows)
    for row, result in zip(rows, resampled, strict=True):
        expected = metric.eval(ids=ids[row])
        assert set(result) == {"1", "2", "average"}
        for key, value in expected.items():
            assert result[key] == pytest.approx(value, rel=1e-12)
    assert "2" not in metric.eval(ids=ids[rows[0]])
    assert np.isnan(resampled[0]["2"])


def test_group_analysis_over_a_per_sample_metric() -> None:
    samples = _random_samples(8, seed=2)
    metrics = {"dice": GroupAnalysis(MetricDice(pred="pred", target="target"), group="group")}
    results = EvaluatorDefault().eval(ids=None, data=iter(samples), batch_size=3, metrics=metrics)
    for group in (0, 1):
        members = [s for s in samples if s["group"] == group]
        expected = average_sample_results([dice(s["pred"], s["target"]) for s in members])
        assert results[f"metrics.dice.{group}.average"] == pytest.approx(expected["average"], rel=1e-12)


def test_invalid_inputs_raise_naming_the_value() -> None:
    with pytest.raises(ValueError, match=r"same shape.*\(2, 2\).*\(4,\)"):
        dice(np.zeros((2, 2), int), np.zeros(4, int))
    with pytest.raises(ValueError, match=r"pred must be a label map.*0\.3.*threshold"):
        dice(np.array([0.3, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="dtype <U1"):
        dice(np.array(["a"]), np.array(["a"]))
    with pytest.raises(ValueError, match=r"spacing must give one positive voxel size per axis \(2"):
        hausdorff_distance(np.ones((2, 2), int), np.ones((2, 2), int), spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="0-d"):
        hausdorff_distance(np.array(1), np.array(1))
    with pytest.raises(ValueError, match=r"percentile must be a number in \[0, 100\].*101"):
        MetricHausdorff(pred="p", target="t", percentile=101)
    with pytest.raises(ValueError, match=r"labels must be.*\[1, 1\]"):
        dice(np.ones(2, int), np.ones(2, int), labels=[1, 1])
    with pytest.raises(ValueError, match=r"labels must be.*'12'"):
        MetricDice(pred="p", target="t", labels="12")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"class_weights must be.*-1"):
        MetricDice(pred="p", target="t", class_weights={"1": -1})
    with pytest.raises(ValueError, match=r"class_weights must be a dict.*\[1\.0\]"):
        MetricIouJaccard(pred="p", target="t", class_weights=[1.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pixel_weight must be None or the key"):
        MetricOverlap(pred="p", target="t", pixel_weight=np.ones(3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pixel_weight must be None or the key"):
        MetricPixelAccuracy(pred="p", target="t", pixel_weight="results:metrics.w")
    with pytest.raises(ValueError, match=r"spacing must be None, a key, or positive.*-1"):
        MetricAverageSurfaceDistance(pred="p", target="t", spacing=(1.0, -1.0))
    with pytest.raises(ValueError, match="per-sample results must be dicts"):
        average_sample_results([0.5])  # type: ignore[list-item]


def test_no_warning_for_defined_values() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric = MetricHausdorff95(pred="p", target="t", spacing=(1.0, 2.0))
        metric.collect({"id": [0], "p": [np.eye(3, dtype=int)], "t": [np.eye(3, dtype=int)]})
        assert metric.eval() == {"1": 0.0, "average": 0.0}
