"""Segmentation metrics: FuseMedML's pinned examples, per-label numpy formulas (the fixed multi-label bug), surface
distances against scipy on voxel coordinates, aggregation, bootstraps, and input validation.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import cdist, directed_hausdorff

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
    _segmentation,
    average_surface_distance,
    dice,
    hausdorff_distance,
    iou_jaccard,
    overlap,
    pixel_accuracy,
)
from fuse.eval._bootstrap import bootstrap_rows
from fuse.eval._segmentation import average_sample_results

OVERLAP_FUNCS = {"dice": dice, "iou_jaccard": iou_jaccard, "overlap": overlap, "pixel_accuracy": pixel_accuracy}
OVERLAP_METRICS = {
    "dice": MetricDice,
    "iou_jaccard": MetricIouJaccard,
    "overlap": MetricOverlap,
    "pixel_accuracy": MetricPixelAccuracy,
}


# --- independent references ------------------------------------------------------------------------------------------


def _np_score(name: str, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    """The textbook formula on one label's boolean masks ``x`` (pred) and ``y`` (target), optionally weighted."""
    if w is None:
        inter, size_x, size_y = map(float, (np.count_nonzero(x & y), np.count_nonzero(x), np.count_nonzero(y)))
        union = float(np.count_nonzero(x | y))
    else:
        inter, size_x, size_y, union = (float(np.sum(w * m)) for m in (x & y, x, y, x | y))
    if name == "dice":
        return 2 * inter / (size_x + size_y)
    if name == "iou_jaccard":
        return inter / union
    if name == "overlap":
        return inter / min(size_x, size_y) if min(size_x, size_y) > 0 else 0.0
    return inter / size_y


def _np_surface(mask: np.ndarray) -> np.ndarray:
    """Foreground voxels with a face-neighbour (one step along one axis) outside the mask or the array."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = tuple(slice(1, -1) for _ in range(mask.ndim))
    surface = np.zeros(mask.shape, dtype=bool)
    for axis in range(mask.ndim):
        for step in (-1, 1):
            shifted = np.roll(padded, step, axis=axis)[inner]
            surface |= mask & ~shifted
    return surface


def _surface_points(mask: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    return np.argwhere(_np_surface(mask)) * np.asarray(spacing, dtype=float)


def _scipy_hausdorff(x: np.ndarray, y: np.ndarray, spacing: Sequence[float]) -> float:
    a, b = _surface_points(x, spacing), _surface_points(y, spacing)
    return max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0])


def _nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    nearest: np.ndarray = cdist(a, b).min(axis=1)
    return nearest


def _blob(shape: tuple[int, ...], center: Sequence[float], radii: Sequence[float]) -> np.ndarray:
    grid = np.indices(shape, dtype=float)
    distance = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, center, radii, strict=True))
    return np.asarray(distance <= 1.0)


# --- FuseMedML's examples (reference §7.2) -------------------------------------------------------------------------


def test_example_seg_1_pinned_values() -> None:
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
        assert results[f"metrics.{name}.1"] == pytest.approx(_np_score(name, x, y), rel=1e-12)


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
def test_examples_seg_0_and_seg_2_on_nifti(fixtures_dir: Path) -> None:
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
                per_label.setdefault(str(label), []).append(_np_score("dice", x, y))
        for name, group in groups.items():
            x = functools.reduce(np.logical_or, [masks[v][0] for v in group])
            y = functools.reduce(np.logical_or, [masks[v][1] for v in group])
            if y.any():
                per_group[name].append(_np_score("dice", x, y))
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


# --- overlap scores: per-label masks (reference §8.2) ----------------------------------------------------------------


def test_multi_label_maps_use_the_labels_masks() -> None:
    pred = np.array([[1, 1, 2, 2], [0, 2, 2, 3]])
    target = np.array([[1, 2, 2, 2], [0, 0, 2, 3]])
    for name, func in OVERLAP_FUNCS.items():
        scores = func(pred, target)
        assert list(scores) == ["1", "2", "3"]
        for label in (1, 2, 3):
            assert scores[str(label)] == pytest.approx(_np_score(name, pred == label, target == label), rel=1e-12)
    # FuseMedML computed IoU, overlap and pixel accuracy on the whole maps (non-zero = foreground) for every label
    fusemedml_iou = np.sum(np.logical_and(pred, target)) / np.sum(np.logical_or(pred, target))
    fusemedml_pixel_accuracy = np.sum(np.logical_and(pred, target)) / np.sum(target)
    assert (fusemedml_iou, fusemedml_pixel_accuracy) == (6 / 7, 6 / 12)  # and divided by the sum of the labels
    assert iou_jaccard(pred, target) == {"1": 0.5, "2": 0.6, "3": 1.0}
    assert pixel_accuracy(pred, target) == {"1": 1.0, "2": 0.75, "3": 1.0}


@settings(max_examples=40, deadline=None)
@given(
    maps=hnp.arrays(
        np.int64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6), elements=st.integers(0, 3)
    ),
    seed=st.integers(0, 2**16),
)
def test_overlap_scores_match_numpy_per_label(maps: np.ndarray, seed: int) -> None:
    target = maps
    pred = np.random.default_rng(seed).integers(0, 4, size=maps.shape)
    weight = np.random.default_rng(seed + 1).random(maps.shape) + 0.01
    for name, func in OVERLAP_FUNCS.items():
        scores, weighted = func(pred, target), func(pred, target, pixel_weight=weight)
        expected_labels = [str(v) for v in np.unique(target) if v != 0]
        assert list(scores) == expected_labels == list(weighted)
        for label in expected_labels:
            x, y = pred == int(label), target == int(label)
            assert scores[label] == pytest.approx(_np_score(name, x, y), rel=1e-12)
            assert weighted[label] == pytest.approx(_np_score(name, x, y, weight), rel=1e-9)


def test_pixel_weight_forms() -> None:
    pred = np.array([[1, 1, 2], [2, 2, 0]])
    target = np.array([[1, 0, 2], [2, 0, 0]])
    weight_1, weight_2 = np.array([[1.0, 3.0, 1.0], [1.0, 1.0, 1.0]]), np.array([[1.0, 1.0, 2.0], [0.5, 4.0, 1.0]])
    by_str = dice(pred, target, pixel_weight={"1": weight_1, "2": weight_2})
    by_int = dice(pred, target, pixel_weight={1: weight_1, 2: weight_2})
    assert by_str == by_int
    assert by_str["1"] == pytest.approx(2 * 1 / (4 + 1))
    assert by_str["2"] == pytest.approx(2 * 2.5 / (6.5 + 2.5))
    # one map for every label; None in the mapping means unweighted
    assert dice(pred, target, pixel_weight=weight_2) == {
        "1": pytest.approx(2 * 1 / (2 + 1)),
        "2": pytest.approx(2 * 2.5 / (6.5 + 2.5)),
    }
    assert dice(pred, target, pixel_weight={"1": None, "2": weight_2})["1"] == dice(pred, target)["1"]
    with pytest.raises(ValueError, match=r"no weight map for label '2'.*\['1'\]"):
        dice(pred, target, pixel_weight={"1": weight_1})
    with pytest.raises(ValueError, match="shape"):
        dice(pred, target, pixel_weight=np.ones(6))
    with pytest.raises(ValueError, match="non-negative"):
        dice(pred, target, pixel_weight=-weight_1)
    with pytest.warns(UndefinedMetricWarning, match="zero pixel weights"):
        assert np.isnan(dice(pred, target, pixel_weight=np.zeros((2, 3)))["1"])


def test_explicit_labels_and_empty_masks() -> None:
    pred = np.array([[0, 2], [2, 0]])
    target = np.array([[0, 0], [1, 0]])
    labels = [1, 2, 3]  # 1: target only, 2: pred only, 3: neither
    assert dice(pred, target, labels=labels) == {"1": 0.0, "2": 0.0, "3": 1.0}
    assert iou_jaccard(pred, target, labels=labels) == {"1": 0.0, "2": 0.0, "3": 1.0}
    assert overlap(pred, target, labels=labels) == {"1": 0.0, "2": 0.0, "3": 1.0}
    with pytest.warns(UndefinedMetricWarning, match="pixel_accuracy of label 2"):
        accuracy = pixel_accuracy(pred, target, labels=labels)
    assert accuracy["1"] == 0.0
    assert np.isnan(accuracy["2"])
    assert accuracy["3"] == 1.0
    # default labels: only those in the target; an empty target scores nothing
    assert dice(pred, target) == {"1": 0.0}
    assert dice(pred, np.zeros((2, 2), dtype=int)) == {}
    assert dice(np.zeros(0), np.zeros(0)) == {}
    # distances: both empty 0.0, one empty undefined
    with pytest.warns(UndefinedMetricWarning) as caught:
        distances = hausdorff_distance(pred, target, labels=labels)
    assert [str(w.message).split(":")[1].strip() for w in caught] == [
        "its prediction mask is empty; returning NaN",
        "its target mask is empty; returning NaN",
    ]
    assert np.isnan(distances["1"])
    assert np.isnan(distances["2"])
    assert distances["3"] == 0.0


def test_bool_integer_and_float_label_maps() -> None:
    x = np.array([[True, False], [True, True]])
    y = np.array([[True, True], [False, True]])
    assert dice(x, y) == dice(x.astype(np.uint8), y.astype(np.int32)) == dice(x.astype(float), y.astype(float))
    assert dice(x, y) == {"1": pytest.approx(2 / 3)}
    # negative labels are labels; far-apart labels take the np.unique path
    assert list(dice(np.array([-1, 0, 500]), np.array([-1, 7, 500]))) == ["-1", "7", "500"]


# --- surface distances -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "spacing"),
    [((40, 31), (0.7, 2.5)), ((18, 24, 21), (3.0, 0.75, 1.2)), ((12, 14, 10), (1.0, 1.0, 1.0))],
)
@pytest.mark.parametrize("dense", [False, True], ids=["kdtree", "distance-transform"])
def test_surface_distances_match_scipy_on_voxel_coordinates(
    shape: tuple[int, ...], spacing: tuple[float, ...], dense: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # force either implementation path: both must give the same exact Euclidean distances
    monkeypatch.setattr(_segmentation, "_EDT_SURFACE_FRACTION", 10**9 if dense else 0)
    rng = np.random.default_rng(len(shape))
    center = np.array(shape) / 2
    target = _blob(shape, center, np.array(shape) / 3.5)
    pred = _blob(shape, center + rng.uniform(-2, 2, len(shape)), np.array(shape) / 4)
    pred[(0,) * len(shape)] = True  # a stray voxel far away, in a corner
    label_map_pred, label_map_target = pred.astype(int), target.astype(int)
    label_map_pred[rng.random(shape) < 0.05] = 2
    label_map_target[rng.random(shape) < 0.05] = 2

    hd = hausdorff_distance(label_map_pred, label_map_target, spacing=spacing)
    hd95 = hausdorff_distance(label_map_pred, label_map_target, spacing=spacing, percentile=95)
    asd = average_surface_distance(label_map_pred, label_map_target, spacing=spacing)
    asd_directed = average_surface_distance(label_map_pred, label_map_target, spacing=spacing, symmetric=False)
    for label in (1, 2):
        x, y = label_map_pred == label, label_map_target == label
        a, b = _surface_points(x, spacing), _surface_points(y, spacing)
        to_target, to_pred = _nearest(a, b), _nearest(b, a)
        assert hd[str(label)] == pytest.approx(_scipy_hausdorff(x, y, spacing), rel=1e-12)
        expected_95 = max(np.percentile(to_target, 95), np.percentile(to_pred, 95))
        assert hd95[str(label)] == pytest.approx(expected_95, rel=1e-12)
        assert asd[str(label)] == pytest.approx(np.concatenate([to_target, to_pred]).mean(), rel=1e-12)
        assert asd_directed[str(label)] == pytest.approx(to_target.mean(), rel=1e-12)
    assert hd95["1"] < hd["1"]  # the stray voxel sets the Hausdorff distance, not its 95th percentile


@pytest.mark.parametrize("ndim", [2, 3])
def test_hausdorff_equals_the_foreground_set_distance_on_blobs(ndim: int) -> None:
    rng = np.random.default_rng(ndim)
    shape = (20, 22, 18)[:ndim]
    for _ in range(8):
        x = _blob(shape, rng.uniform(6, 14, ndim), rng.uniform(2, 7, ndim))
        y = _blob(shape, rng.uniform(6, 14, ndim), rng.uniform(2, 7, ndim))
        spacing = rng.uniform(0.5, 3.0, ndim)
        a, b = np.argwhere(x) * spacing, np.argwhere(y) * spacing
        expected = max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0])
        assert hausdorff_distance(x, y, spacing=spacing)["1"] == pytest.approx(expected, rel=1e-12)


def test_hausdorff_is_a_surface_distance() -> None:
    # a 1-voxel crack from the top edge to the centre of a square: the surfaces are 2 apart, the voxel sets only 1
    target = np.ones((7, 7), dtype=bool)
    pred = target.copy()
    pred[:4, 3] = False
    assert hausdorff_distance(pred, target) == {"1": 2.0}
    a, b = np.argwhere(pred), np.argwhere(target)
    assert max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0]) == 1.0


def test_hausdorff_uses_coordinates_not_rows() -> None:
    # FuseMedML treated the mask rows as points: [1,0,0,0] vs [0,0,0,1] gave sqrt(2)
    assert hausdorff_distance(np.array([[1, 0, 0, 0]]), np.array([[0, 0, 0, 1]])) == {"1": 3.0}
    assert hausdorff_distance(np.array([[1, 0, 0, 0]]), np.array([[0, 0, 0, 1]]), spacing=(1, 0.5)) == {"1": 1.5}
    assert Metric2DHausdorff is MetricHausdorff


def test_distance_metrics_through_the_evaluator_with_per_sample_spacing() -> None:
    rng = np.random.default_rng(3)
    samples: list[dict[str, Any]] = []
    for index in range(3):
        shape = (10, 12, 9)
        target = _blob(shape, (5, 6, 4), (3, 4, 3))
        pred = _blob(shape, rng.uniform(4, 6, 3), (3, 3, 3))
        samples.append({"id": index, "pred": pred, "target": target, "spacing": np.array([2.0, 0.5 + index, 1.0])})
    metrics = {
        "hd": MetricHausdorff(pred="pred", target="target", spacing="spacing"),
        "hd95": MetricHausdorff95(pred="pred", target="target", spacing="spacing"),
        "asd": MetricAverageSurfaceDistance(pred="pred", target="target", spacing="spacing"),
        "hd_fixed": MetricHausdorff(pred="pred", target="target", spacing=(2.0, 1.5, 1.0)),
    }
    results = EvaluatorDefault().eval(ids=None, data=iter(samples), batch_size=2, metrics=metrics)

    hd = [_scipy_hausdorff(s["pred"], s["target"], s["spacing"]) for s in samples]
    assert results["metrics.hd.1"] == pytest.approx(np.mean(hd), rel=1e-12)
    assert results["metrics.hd.average"] == results["metrics.hd.1"]
    hd95 = [hausdorff_distance(s["pred"], s["target"], s["spacing"], percentile=95)["1"] for s in samples]
    assert results["metrics.hd95.1"] == pytest.approx(np.mean(hd95), rel=1e-12)
    asd = [average_surface_distance(s["pred"], s["target"], s["spacing"])["1"] for s in samples]
    assert results["metrics.asd.1"] == pytest.approx(np.mean(asd), rel=1e-12)
    fixed = [_scipy_hausdorff(s["pred"], s["target"], (2.0, 1.5, 1.0)) for s in samples]
    assert results["metrics.hd_fixed.1"] == pytest.approx(np.mean(fixed), rel=1e-12)


def test_undefined_distances_are_skipped_in_the_average() -> None:
    metric = MetricHausdorff(pred="pred", target="target")
    target = np.array([[1, 1, 0, 0]])
    with pytest.warns(UndefinedMetricWarning, match="prediction mask is empty"):
        metric.collect(
            {"id": ["a", "b"], "pred": [np.zeros((1, 4), int), np.array([[0, 0, 1, 1]])], "target": [target] * 2}
        )
    assert metric.eval() == {"1": 2.0, "average": 2.0}
    with pytest.warns(UndefinedMetricWarning, match="no label has a defined score"):
        assert np.isnan(metric.eval(ids=["a"])["average"])


# --- aggregation -----------------------------------------------------------------------------------------------------


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


# --- bootstraps and groups -------------------------------------------------------------------------------------------


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
        monkeypatch.setattr(_segmentation, "_RESAMPLED_ENTRIES", 1)
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


# --- validation ------------------------------------------------------------------------------------------------------


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
