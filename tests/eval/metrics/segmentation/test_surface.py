"""Surface distances (Hausdorff, average surface distance) against scipy on voxel coordinates, spacing, undefined
distances.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from scipy.spatial.distance import cdist, directed_hausdorff

from fuse.eval import (
    EvaluatorDefault,
    Metric2DHausdorff,
    MetricAverageSurfaceDistance,
    MetricHausdorff,
    MetricHausdorff95,
    UndefinedMetricWarning,
    average_surface_distance,
    hausdorff_distance,
)
from fuse.eval.metrics.segmentation import _surface


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


@pytest.mark.parametrize(
    ("shape", "spacing"),
    [((40, 31), (0.7, 2.5)), ((18, 24, 21), (3.0, 0.75, 1.2)), ((12, 14, 10), (1.0, 1.0, 1.0))],
)
@pytest.mark.parametrize("dense", [False, True], ids=["kdtree", "distance-transform"])
def test_surface_distances_match_scipy_on_voxel_coordinates(
    shape: tuple[int, ...], spacing: tuple[float, ...], dense: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # force either implementation path: both must give the same exact Euclidean distances
    monkeypatch.setattr(_surface, "_EDT_SURFACE_FRACTION", 10**9 if dense else 0)
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
    assert issubclass(Metric2DHausdorff, MetricHausdorff)  # FuseMedML's name, FuseMedML's argument order


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
