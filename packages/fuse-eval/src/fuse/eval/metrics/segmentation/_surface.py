"""Surface-distance metrics of label maps: Hausdorff distance (and its percentiles) and average surface distance."""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._lazy import scipy_ndimage as ndimage
from fuse.eval.framework._lazy import scipy_spatial as spatial
from fuse.eval.framework._warnings import undefined
from fuse.eval.metrics.segmentation._common import (
    ClassWeights,
    Spacing,
    _check_labels,
    _label_maps,
    _per_sample_key,
    _SegmentationMetric,
    _target_masks,
)

__all__ = [
    "MetricHausdorff",
    "MetricHausdorff95",
    "MetricAverageSurfaceDistance",
    "Metric2DHausdorff",
    "hausdorff_distance",
    "average_surface_distance",
]


# surface distances use distance transforms instead of a k-d tree when the surfaces hold more than 1/4 of the
# bounding box's voxels (see _surface_distances)
_EDT_SURFACE_FRACTION = 4


def _check_spacing(spacing: Spacing, ndim: int) -> np.ndarray:
    if spacing is None:
        return np.ones(ndim)
    array = np.asarray(spacing, dtype=float).reshape(-1)
    if len(array) != ndim or not (np.isfinite(array).all() and (array > 0).all()):
        raise ValueError(
            f"spacing must give one positive voxel size per axis ({ndim} for these masks), got {spacing!r}"
        )
    return array


def _check_percentile(percentile: float) -> float:
    if isinstance(percentile, bool) or not isinstance(percentile, numbers.Real) or not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be a number in [0, 100] (100: the Hausdorff distance), got {percentile!r}")
    return float(percentile)


def _bounding_box(mask: np.ndarray) -> tuple[slice, ...]:
    """The smallest box holding every true voxel of a non-empty mask."""
    box = []
    for axis in range(mask.ndim):
        other_axes = tuple(a for a in range(mask.ndim) if a != axis)
        present = np.flatnonzero(mask.any(axis=other_axes)) if other_axes else np.flatnonzero(mask)
        box.append(slice(int(present[0]), int(present[-1]) + 1))
    return tuple(box)


def _surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of the mask with a face-neighbour outside it (voxels on the array border count as surface)."""
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    eroded = ndimage.binary_erosion(mask, structure=structure, border_value=0)
    surface: np.ndarray = mask & ~eroded
    return surface


def _surface_distances(pred_mask: np.ndarray, target_mask: np.ndarray, spacing: np.ndarray) -> tuple[Any, Any]:
    """Distances from every pred surface voxel to the nearest target surface voxel, and from every target surface
    voxel to the nearest pred surface voxel (both masks non-empty), between voxel centres in ``spacing`` units.

    Exact Euclidean distances either way: a k-d tree over the surface points (cost grows with the surface size), or,
    for surfaces filling more than 1/4 of the masks' bounding box (noisy masks), distance transforms of the box (cost
    grows with the box size). Measured on CT label maps, the k-d tree is as fast or up to 6x faster than the distance
    transforms (4x slower on noise masks, hence the switch) and, unlike ``scipy.spatial.distance.directed_hausdorff`` (whose early exit fails when many points tie at the
    maximum, e.g. 17x slower on a one-voxel dilation), gives every distance, which percentiles and means need.
    """
    box = _bounding_box(pred_mask | target_mask)
    pred_surface, target_surface = _surface(pred_mask[box]), _surface(target_mask[box])
    surface_size = np.count_nonzero(pred_surface) + np.count_nonzero(target_surface)
    if surface_size * _EDT_SURFACE_FRACTION > pred_surface.size:
        to_target = ndimage.distance_transform_edt(~target_surface, sampling=spacing)[pred_surface]
        to_pred = ndimage.distance_transform_edt(~pred_surface, sampling=spacing)[target_surface]
        return to_target, to_pred
    pred_points, target_points = np.argwhere(pred_surface) * spacing, np.argwhere(target_surface) * spacing
    to_target = spatial.KDTree(target_points).query(pred_points)[0]
    to_pred = spatial.KDTree(pred_points).query(target_points)[0]
    return to_target, to_pred


def _distance_scores(
    pred: ArrayLike,
    target: ArrayLike,
    spacing: Spacing,
    labels: Sequence[int] | None,
    name: str,
    reduce: Callable[[np.ndarray, np.ndarray], float],
) -> dict[str, float]:
    pred_map, target_map = _label_maps(pred, target)
    if pred_map.ndim == 0:
        raise ValueError(f"{name} needs masks with at least one axis, got a 0-d pred and target")
    voxel_size = _check_spacing(spacing, pred_map.ndim)
    scores: dict[str, float] = {}
    for label, target_mask in _target_masks(target_map, _check_labels(labels)):
        pred_mask = pred_map == label
        pred_empty, target_empty = not pred_mask.any(), not target_mask.any()
        if pred_empty and target_empty:
            scores[str(label)] = 0.0
        elif pred_empty or target_empty:
            empty = "prediction" if pred_empty else "target"
            scores[str(label)] = undefined(f"{name} of label {label} is undefined: its {empty} mask is empty")
        else:
            scores[str(label)] = float(reduce(*_surface_distances(pred_mask, target_mask, voxel_size)))
    return scores


def _percentile_distance(percentile: float, to_target: np.ndarray, to_pred: np.ndarray) -> float:
    if percentile == 100:
        return float(max(to_target.max(), to_pred.max()))
    return float(max(np.percentile(to_target, percentile), np.percentile(to_pred, percentile)))


def _mean_distance(symmetric: bool, to_target: np.ndarray, to_pred: np.ndarray) -> float:
    if symmetric:
        return float((to_target.sum() + to_pred.sum()) / (len(to_target) + len(to_pred)))
    return float(to_target.mean())


def hausdorff_distance(
    pred: ArrayLike,
    target: ArrayLike,
    spacing: Spacing = None,
    percentile: float = 100,
    labels: Sequence[int] | None = None,
) -> dict[str, float]:
    """Symmetric Hausdorff distance between the surfaces of the predicted and target masks of one sample, per
    label, in ``spacing`` units (any number of axes, 2-D and 3-D included).

    A mask's surface is its voxels with a face-neighbour outside it. For every surface voxel of one mask the
    distance to the nearest surface voxel of the other is measured (between voxel centres); the result is the
    larger of the two directed maxima, or with ``percentile < 100`` the larger of the two directed percentiles
    (MONAI's convention; ``percentile=95`` gives HD95). Both masks empty gives 0.0; exactly one empty is undefined
    (NaN with an :class:`~fuse.eval.UndefinedMetricWarning`).

    Surface distances (as in MONAI and medpy) measure boundary disagreement. The Hausdorff distance between the
    whole foreground voxel sets is usually the same (on 200 random ellipsoid pairs, always); they differ when a
    mask's surface runs deep inside the other mask (a crack) or the farthest voxel is inside a mask (a hole).

    :param spacing: voxel size per axis (e.g. a NIfTI header's zooms); default 1 per axis.
    :param percentile: 100 for the Hausdorff distance, e.g. 95 for its robust variant.
    :param labels: as in :func:`dice`.

    >>> import numpy as np
    >>> pred = np.array([[1, 1, 0, 0], [1, 1, 0, 0]])
    >>> target = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    >>> hausdorff_distance(pred, target), hausdorff_distance(pred, target, spacing=(1.0, 0.5))
    ({'1': 2.0}, {'1': 1.0})
    """
    return _distance_scores(
        pred,
        target,
        spacing,
        labels,
        "hausdorff distance",
        functools.partial(_percentile_distance, _check_percentile(percentile)),
    )


def average_surface_distance(
    pred: ArrayLike,
    target: ArrayLike,
    spacing: Spacing = None,
    symmetric: bool = True,
    labels: Sequence[int] | None = None,
) -> dict[str, float]:
    """Average surface distance of one sample, per label, in ``spacing`` units: the mean, over the surface voxels of
    both masks, of the distance to the other mask's surface (surfaces and empty masks as in
    :func:`hausdorff_distance`). ``symmetric=False`` averages only from the prediction's surface to the target's.

    >>> import numpy as np
    >>> pred = np.array([[1, 1, 0, 0], [1, 1, 0, 0]])
    >>> target = np.array([[0, 1, 1, 0], [0, 1, 1, 0]])
    >>> average_surface_distance(pred, target)
    {'1': 0.5}
    """
    return _distance_scores(
        pred, target, spacing, labels, "average surface distance", functools.partial(_mean_distance, bool(symmetric))
    )


def _spacing_arguments(spacing: str | Spacing) -> tuple[dict[str, Any], dict[str, Any]]:
    """``spacing`` as a key to collect per sample, or a constant bound into the per-sample function."""
    if isinstance(spacing, str):
        return {"spacing": _per_sample_key(spacing, "spacing", "voxel size per axis")}, {}
    if spacing is not None:
        array = np.asarray(spacing, dtype=float).reshape(-1)
        if not (len(array) > 0 and np.isfinite(array).all() and (array > 0).all()):
            raise ValueError(f"spacing must be None, a key, or positive voxel sizes per axis, got {spacing!r}")
        return {}, {"spacing": tuple(float(v) for v in array)}
    return {}, {}


class MetricHausdorff(_SegmentationMetric):
    """Hausdorff distance (or a percentile of it) per label, averaged over samples; 2-D and 3-D, see
    :func:`hausdorff_distance`. :class:`Metric2DHausdorff` is FuseMedML's name, with FuseMedML's argument order.

    :param pred: key of each sample's predicted label map.
    :param target: key of each sample's target label map.
    :param spacing: voxel size per axis, for all samples (a tuple) or per sample (the key holding it); default 1.
    :param percentile: 100 for the Hausdorff distance, e.g. 95 for HD95.
    :param class_weights: ``{"<label>": weight}`` for the average over labels, or ``None`` (plain mean).
    :param labels: the labels to score in every sample; default: the non-zero labels of each target.

    >>> import numpy as np
    >>> metric = MetricHausdorff(pred="pred", target="target", spacing=(2.0, 1.0))
    >>> metric.collect({"id": ["a"], "pred": [np.array([[1, 0], [0, 0]])], "target": [np.array([[0, 0], [1, 0]])]})
    >>> metric.eval()
    {'1': 2.0, 'average': 2.0}
    """

    def __init__(
        self,
        pred: str,
        target: str,
        spacing: str | Spacing = None,
        percentile: float = 100,
        class_weights: ClassWeights = None,
        labels: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        collected, bound = _spacing_arguments(spacing)
        func = functools.partial(
            hausdorff_distance, percentile=_check_percentile(percentile), labels=_check_labels(labels), **bound
        )
        super().__init__(func, pred, target, class_weights, **collected, **kwargs)


class MetricHausdorff95(MetricHausdorff):
    """The 95th-percentile Hausdorff distance (HD95) per label, averaged over samples: :class:`MetricHausdorff`
    with ``percentile=95``.

    >>> import numpy as np
    >>> target = np.zeros((30, 30), dtype=bool)
    >>> target[5:25, 5:25] = True
    >>> pred = target.copy()
    >>> pred[0, 0] = True  # one stray voxel moves the Hausdorff distance, hardly HD95
    >>> metric = MetricHausdorff95(pred="pred", target="target")
    >>> metric.collect({"id": ["a"], "pred": [pred], "target": [target]})
    >>> round(metric.eval()["1"], 3)
    0.0
    """

    def __init__(
        self,
        pred: str,
        target: str,
        spacing: str | Spacing = None,
        class_weights: ClassWeights = None,
        labels: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            pred, target, spacing=spacing, percentile=95, class_weights=class_weights, labels=labels, **kwargs
        )


class MetricAverageSurfaceDistance(_SegmentationMetric):
    """Average surface distance per label, averaged over samples; see :func:`average_surface_distance`. Arguments as
    in :class:`MetricHausdorff`, plus ``symmetric`` (``False``: from the prediction's surface only).

    >>> import numpy as np
    >>> metric = MetricAverageSurfaceDistance(pred="pred", target="target")
    >>> metric.collect({"id": ["a"], "pred": [np.array([[1, 1, 0, 0]])], "target": [np.array([[0, 1, 1, 0]])]})
    >>> metric.eval()
    {'1': 0.5, 'average': 0.5}
    """

    def __init__(
        self,
        pred: str,
        target: str,
        spacing: str | Spacing = None,
        symmetric: bool = True,
        class_weights: ClassWeights = None,
        labels: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        collected, bound = _spacing_arguments(spacing)
        func = functools.partial(
            average_surface_distance, symmetric=bool(symmetric), labels=_check_labels(labels), **bound
        )
        super().__init__(func, pred, target, class_weights, **collected, **kwargs)


class Metric2DHausdorff(MetricHausdorff):
    """FuseMedML's name for :class:`MetricHausdorff` (no longer limited to 2-D), with FuseMedML's argument order:
    the third positional argument is ``class_weights``; ``spacing``, ``percentile`` and ``labels`` are keyword-only.
    FuseMedML measured distances between the rows of the 0/1 masks; this measures them between pixel centres, in
    units of ``spacing`` (default 1 per axis).

    >>> import numpy as np
    >>> metric = Metric2DHausdorff("pred", "target", {"1": 1.0})
    >>> metric.collect({"id": ["a"], "pred": [np.array([[1, 0], [0, 0]])], "target": [np.array([[0, 0], [1, 0]])]})
    >>> metric.eval()
    {'1': 1.0, 'average': 1.0}
    """

    def __init__(
        self,
        pred: str,
        target: str,
        class_weights: ClassWeights = None,
        *,
        spacing: str | Spacing = None,
        percentile: float = 100,
        labels: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        if class_weights is not None and not isinstance(class_weights, Mapping):
            raise TypeError(
                "Metric2DHausdorff(pred, target, class_weights): the third argument is class_weights, a dict "
                f"{{'<label>': weight}} (as in FuseMedML), got {class_weights!r}; pass spacing=... by keyword"
            )
        super().__init__(
            pred,
            target,
            spacing=spacing,
            percentile=percentile,
            class_weights=class_weights,
            labels=labels,
            **kwargs,
        )
