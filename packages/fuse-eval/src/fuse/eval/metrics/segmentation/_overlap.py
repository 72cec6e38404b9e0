"""Overlap metrics of label maps: Dice, IoU (Jaccard), overlap and pixel accuracy."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._warnings import undefined
from fuse.eval.metrics.segmentation._common import (
    ClassWeights,
    PixelWeight,
    _check_labels,
    _label_maps,
    _label_weight,
    _per_sample_key,
    _SegmentationMetric,
    _target_masks,
)

__all__ = [
    "MetricDice",
    "MetricIouJaccard",
    "MetricOverlap",
    "MetricPixelAccuracy",
    "dice",
    "iou_jaccard",
    "overlap",
    "pixel_accuracy",
]


def _overlap_scores(
    pred: ArrayLike,
    target: ArrayLike,
    pixel_weight: PixelWeight,
    labels: Sequence[int] | None,
    name: str,
    score: Callable[[float, float, float], float | None],
) -> dict[str, float]:
    """Per label: both masks empty gives 1.0, else ``score(|X&Y|, |X|, |Y|)`` on (weighted) voxel counts, where
    ``None`` means undefined (NaN with a warning).
    """
    pred_map, target_map = _label_maps(pred, target)
    scores: dict[str, float] = {}
    for label, target_mask in _target_masks(target_map, _check_labels(labels)):
        pred_mask = pred_map == label
        weight = _label_weight(pixel_weight, label, target_map.shape)
        if weight is None:
            intersection = float(np.count_nonzero(pred_mask & target_mask))
            pred_size, target_size = float(np.count_nonzero(pred_mask)), float(np.count_nonzero(target_mask))
            if pred_size == 0 and target_size == 0:
                scores[str(label)] = 1.0
                continue
        else:
            if not pred_mask.any() and not target_mask.any():
                scores[str(label)] = 1.0
                continue
            intersection = float(weight[pred_mask & target_mask].sum())
            pred_size, target_size = float(weight[pred_mask].sum()), float(weight[target_mask].sum())
        value = score(intersection, pred_size, target_size)
        scores[str(label)] = (
            float(value) if value is not None else undefined(f"{name} of label {label} is 0/0 (zero pixel weights)")
        )
    return scores


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _dice_score(intersection: float, pred_size: float, target_size: float) -> float | None:
    return _ratio(2.0 * intersection, pred_size + target_size)


def _iou_score(intersection: float, pred_size: float, target_size: float) -> float | None:
    return _ratio(intersection, pred_size + target_size - intersection)


def _overlap_score(intersection: float, pred_size: float, target_size: float) -> float | None:
    if pred_size == 0 or target_size == 0:
        return 0.0 if pred_size + target_size > 0 else None
    return intersection / min(pred_size, target_size)


def _pixel_accuracy_score(intersection: float, pred_size: float, target_size: float) -> float | None:
    return _ratio(intersection, target_size)


def dice(
    pred: ArrayLike, target: ArrayLike, pixel_weight: PixelWeight = None, labels: Sequence[int] | None = None
) -> dict[str, float]:
    """Dice similarity ``2|X&Y| / (|X| + |Y|)`` of one sample, per label (``X``: predicted mask, ``Y``: target
    mask), as ``{"<label>": score}``.

    :param pred: predicted label map (booleans or integer labels).
    :param target: target label map of the same shape.
    :param pixel_weight: per-voxel weights, one map for all labels or ``{"<label>": map or None}``; counts become
        sums of weights.
    :param labels: the labels to score; default: the non-zero labels present in ``target``. A label absent from
        both masks scores 1.0.

    >>> import numpy as np
    >>> dice(np.array([[1, 1, 0], [2, 2, 2]]), np.array([[1, 0, 0], [2, 2, 0]]))
    {'1': 0.6666666666666666, '2': 0.8}
    """
    return _overlap_scores(pred, target, pixel_weight, labels, "dice", _dice_score)


def iou_jaccard(
    pred: ArrayLike, target: ArrayLike, pixel_weight: PixelWeight = None, labels: Sequence[int] | None = None
) -> dict[str, float]:
    """Intersection over union (Jaccard index) ``|X&Y| / |X|Y|`` of one sample, per label, on the label's masks.

    Arguments as in :func:`dice`.

    >>> import numpy as np
    >>> iou_jaccard(np.array([[1, 1, 0], [2, 2, 2]]), np.array([[1, 0, 0], [2, 2, 0]]))
    {'1': 0.5, '2': 0.6666666666666666}
    """
    return _overlap_scores(pred, target, pixel_weight, labels, "iou_jaccard", _iou_score)


def overlap(
    pred: ArrayLike, target: ArrayLike, pixel_weight: PixelWeight = None, labels: Sequence[int] | None = None
) -> dict[str, float]:
    """Overlap coefficient ``|X&Y| / min(|X|, |Y|)`` of one sample, per label; 0.0 when exactly one mask is empty.

    Arguments as in :func:`dice`.

    >>> import numpy as np
    >>> overlap(np.array([[1, 1, 0], [2, 2, 2]]), np.array([[1, 0, 0], [2, 2, 0]]))
    {'1': 1.0, '2': 1.0}
    """
    return _overlap_scores(pred, target, pixel_weight, labels, "overlap", _overlap_score)


def pixel_accuracy(
    pred: ArrayLike, target: ArrayLike, pixel_weight: PixelWeight = None, labels: Sequence[int] | None = None
) -> dict[str, float]:
    """Pixel accuracy (the label's recall) ``|X&Y| / |Y|`` of one sample, per label; undefined (NaN) for a label
    predicted but absent from the target (only possible with explicit ``labels``).

    Arguments as in :func:`dice`.

    >>> import numpy as np
    >>> pixel_accuracy(np.array([[1, 1, 0], [2, 2, 2]]), np.array([[1, 0, 0], [2, 2, 0]]))
    {'1': 1.0, '2': 1.0}
    """
    return _overlap_scores(pred, target, pixel_weight, labels, "pixel_accuracy", _pixel_accuracy_score)


def _pixel_weight_kwargs(pixel_weight: str | None) -> dict[str, Any]:
    return {"pixel_weight": _per_sample_key(pixel_weight, "pixel_weight", "weight maps ({'<label>': map})")}


class _LabelOverlapMetric(_SegmentationMetric):
    """A per-label overlap score (``_score(pred, target, labels=..., pixel_weight=...)``) averaged over samples."""

    _score: ClassVar[Callable[..., Mapping[str, float]]]

    def __init__(
        self,
        pred: str,
        target: str,
        pixel_weight: str | None = None,
        class_weights: ClassWeights = None,
        labels: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        func = functools.partial(type(self)._score, labels=_check_labels(labels))
        super().__init__(func, pred, target, class_weights, **_pixel_weight_kwargs(pixel_weight), **kwargs)


class MetricDice(_LabelOverlapMetric):
    """Dice score per label, averaged over samples (FuseMedML's ``MetricDice``); see :func:`dice` and
    :func:`average_sample_results`.

    :param pred: key of each sample's predicted label map.
    :param target: key of each sample's target label map.
    :param pixel_weight: key of each sample's weight maps (``{"<label>": map}`` or one map), or ``None``.
    :param class_weights: ``{"<label>": weight}`` for the average over labels, or ``None`` (plain mean).
    :param labels: the labels to score in every sample; default: the non-zero labels of each target.

    >>> import numpy as np
    >>> metric = MetricDice(pred="pred", target="target")
    >>> metric.collect({"id": ["a", "b"], "pred": [np.array([1, 1, 2]), np.array([0, 2, 2])],
    ...                 "target": [np.array([1, 0, 2]), np.array([2, 2, 2])]})
    >>> metric.eval()
    {'1': 0.6666666666666666, '2': 0.9, 'average': 0.7833333333333333}
    """

    _score = staticmethod(dice)


class MetricIouJaccard(_LabelOverlapMetric):
    """IoU (Jaccard index) per label, averaged over samples (FuseMedML's ``MetricIouJaccard``, computed on the
    label's masks); arguments as in :class:`MetricDice`, see :func:`iou_jaccard`.

    >>> import numpy as np
    >>> metric = MetricIouJaccard(pred="pred", target="target")
    >>> metric.collect({"id": ["a"], "pred": [np.array([1, 1, 2, 2])], "target": [np.array([1, 2, 2, 2])]})
    >>> metric.eval()
    {'1': 0.5, '2': 0.6666666666666666, 'average': 0.5833333333333333}
    """

    _score = staticmethod(iou_jaccard)


class MetricOverlap(_LabelOverlapMetric):
    """Overlap coefficient per label, averaged over samples (FuseMedML's ``MetricOverlap``, computed on the label's
    masks); arguments as in :class:`MetricDice`, see :func:`overlap`.

    >>> import numpy as np
    >>> metric = MetricOverlap(pred="pred", target="target")
    >>> metric.collect({"id": ["a"], "pred": [np.array([1, 1, 2, 2])], "target": [np.array([1, 2, 2, 2])]})
    >>> metric.eval()
    {'1': 1.0, '2': 1.0, 'average': 1.0}
    """

    _score = staticmethod(overlap)


class MetricPixelAccuracy(_LabelOverlapMetric):
    """Pixel accuracy per label, averaged over samples (FuseMedML's ``MetricPixelAccuracy``, computed on the label's
    masks); arguments as in :class:`MetricDice`, see :func:`pixel_accuracy`.

    >>> import numpy as np
    >>> metric = MetricPixelAccuracy(pred="pred", target="target")
    >>> metric.collect({"id": ["a"], "pred": [np.array([1, 1, 2, 2])], "target": [np.array([1, 2, 2, 2])]})
    >>> metric.eval()
    {'1': 1.0, '2': 0.6666666666666666, 'average': 0.8333333333333333}
    """

    _score = staticmethod(pixel_accuracy)
