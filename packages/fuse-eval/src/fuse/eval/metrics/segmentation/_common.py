"""Shared by the segmentation metrics: label maps, per-label masks and weights, and the aggregation of per-sample
scores over samples and labels.

Conventions (FuseMedML's):

- ``pred`` and ``target`` are label maps of the same shape, one pair per sample: booleans (label 1) or integer
  labels (integer-valued floats are accepted). Score maps must be thresholded first.
- By default a sample is scored for every non-zero label present in its **target**; labels found only in the
  prediction are not scored. ``labels=[...]`` scores a fixed set of labels in every sample instead.
- Per-sample scores are kept at collect time (the masks are not stored), so evaluation, ``CI``, ``GroupAnalysis``
  and ``Filter`` resample per-sample scores.
- The result is ``{"<label>": mean over the samples scored for that label, ..., "average": mean over labels}``,
  labels as strings (``"1"``, ``"2"``); the evaluator flattens it to ``metrics.<name>.1`` etc.

Undefined values are NaN with an :class:`~fuse.eval.UndefinedMetricWarning` (weights summing to zero, pixel accuracy
of a label absent from the target, a distance to an empty mask); the per-label means skip them.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._metric_base import RESULTS_PREFIX, MetricPerSampleDefault
from fuse.eval.framework._warnings import undefined

__all__ = ["average_sample_results"]


# one weight map for every label, or label -> weight map (None: unweighted); keys as "1" (FuseMedML) or 1
PixelWeight = ArrayLike | Mapping[Any, ArrayLike | None] | None


ClassWeights = Mapping[Any, float] | None


Spacing = Sequence[float] | np.ndarray | None


# up to this many candidate labels between min and max, labels are found by comparison (one pass each) rather
# than np.unique (a sort): 5x faster on a 512x512x178 CT label map with labels {0, 1, 2}
_MAX_LABEL_CANDIDATES = 16


# bootstraps aggregate this many (resample, sample, label) scores at a time
_RESAMPLED_ENTRIES = 1 << 21


def _label_map(values: ArrayLike, what: str) -> np.ndarray:
    """A label map: booleans, integers, or integer-valued floats."""
    array = np.asarray(values)
    if array.dtype == bool or np.issubdtype(array.dtype, np.integer):
        return array
    if np.issubdtype(array.dtype, np.floating):
        integral = np.isfinite(array) & (array == np.round(array))
        if integral.all():
            return array
        bad = array[~integral]
        raise ValueError(
            f"{what} must be a label map (booleans or integer labels), got non-integer values such as "
            f"{bad[:3].tolist()}; threshold score or probability maps first (e.g. pred > 0.5)"
        )
    raise ValueError(f"{what} must be a label map of booleans or integers, got an array of dtype {array.dtype}")


def _label_maps(pred: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    pred_map, target_map = _label_map(pred, "pred"), _label_map(target, "target")
    if pred_map.shape != target_map.shape:
        raise ValueError(
            f"pred and target must have the same shape, got pred {pred_map.shape} and target {target_map.shape}"
        )
    return pred_map, target_map


def _check_labels(labels: Sequence[int] | np.ndarray | None) -> list[int] | None:
    if labels is None:
        return None
    if isinstance(labels, np.ndarray) and labels.ndim == 1:
        labels = labels.tolist()
    valid = (
        isinstance(labels, Sequence)
        and not isinstance(labels, str)
        and all(isinstance(label, numbers.Integral) and not isinstance(label, bool) for label in labels)
        and len(set(labels)) == len(labels)
    )
    if not valid:
        raise ValueError(
            f"labels must be None (the non-zero labels of each target) or a list of distinct ints, got {labels!r}"
        )
    return [int(label) for label in labels]


def _target_masks(target: np.ndarray, labels: list[int] | None) -> Iterator[tuple[int, np.ndarray]]:
    """``(label, target == label)`` for the labels to score, in ascending order (or the given order)."""
    if labels is not None:
        for label in labels:
            yield label, target == label
        return
    if target.size == 0:
        return
    if target.dtype == bool:
        if target.any():
            yield 1, target
        return
    low, high = int(target.min()), int(target.max())
    if high - low < _MAX_LABEL_CANDIDATES:
        candidates: Sequence[int] = range(low, high + 1)
    else:
        candidates = [int(value) for value in np.unique(target)]
    for label in candidates:
        if label == 0:
            continue
        mask = target == label
        if label in (low, high) or mask.any():  # min and max are present by definition
            yield label, mask


def _label_weight(pixel_weight: PixelWeight, label: int, shape: tuple[int, ...]) -> np.ndarray | None:
    """The weight map of ``label`` (``None``: unweighted)."""
    if pixel_weight is None:
        return None
    if isinstance(pixel_weight, Mapping):
        key: Any = str(label)
        if key not in pixel_weight:
            key = label
        if key not in pixel_weight:
            raise ValueError(
                f"pixel_weight has no weight map for label {str(label)!r} (keys: {sorted(map(str, pixel_weight))}); "
                "add one, or map the label to None for unweighted scores"
            )
        weight = pixel_weight[key]
        if weight is None:
            return None
    else:
        weight = pixel_weight
    array = np.asarray(weight, dtype=float)
    if array.shape != shape:
        raise ValueError(f"pixel_weight of label {str(label)!r} has shape {array.shape}, the masks have shape {shape}")
    if not (np.isfinite(array).all() and (array >= 0).all()):
        raise ValueError(f"pixel_weight of label {str(label)!r} must be finite and non-negative")
    return array


def _label_order(label: str) -> tuple[int, int, str]:
    try:
        return 0, int(label), ""
    except ValueError:
        return 1, 0, label


class _SampleScores:
    """One sample's ``{label: score}``, kept as one collected value (the collector would split a plain dict into
    columns, and samples have different labels).
    """

    __slots__ = ("scores",)

    def __init__(self, scores: Mapping[str, float]) -> None:
        self.scores = scores

    def __repr__(self) -> str:
        return f"_SampleScores({dict(self.scores)!r})"


def _per_sample_scores(func: Callable[..., Mapping[str, float]], **kwargs: Any) -> _SampleScores:
    return _SampleScores(func(**kwargs))


def _score_matrix(per_sample: Sequence[Any]) -> tuple[list[str], np.ndarray]:
    """Labels (numerically sorted) and a ``(samples, labels)`` matrix, NaN where a sample has no score."""
    dicts = [item.scores if isinstance(item, _SampleScores) else item for item in per_sample]
    not_dicts = [type(item).__name__ for item in dicts if not isinstance(item, Mapping)]
    if not_dicts:
        raise ValueError(f"per-sample results must be dicts of label -> score, got {not_dicts[0]}")
    labels = sorted({str(label) for item in dicts for label in item}, key=_label_order)
    column_of = {label: column for column, label in enumerate(labels)}
    matrix = np.full((len(dicts), len(labels)), np.nan)
    for row, item in enumerate(dicts):
        for label, value in item.items():
            matrix[row, column_of[str(label)]] = value
    return labels, matrix


def _check_class_weights(class_weights: ClassWeights) -> dict[str, float] | None:
    if class_weights is None:
        return None
    valid = isinstance(class_weights, Mapping) and all(
        isinstance(weight, numbers.Real) and not isinstance(weight, bool) and np.isfinite(weight) and weight >= 0
        for weight in class_weights.values()
    )
    if not valid:
        raise ValueError(
            f"class_weights must be a dict of label -> finite non-negative weight (e.g. {{'1': 1.0}}), "
            f"got {class_weights!r}"
        )
    return {str(label): float(weight) for label, weight in class_weights.items()}


def _label_weights(labels: Sequence[str], class_weights: dict[str, float] | None) -> np.ndarray:
    if class_weights is None:
        return np.ones(len(labels))
    missing = [label for label in labels if label not in class_weights]
    if missing:
        raise ValueError(
            f"class_weights {class_weights!r} has no weight for label(s) {missing}; give every scored label a weight"
        )
    return np.array([class_weights[label] for label in labels])


def _aggregate(matrices: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(resamples, samples, labels)`` scores -> per-label means over defined scores ``(resamples, labels)`` and
    their weighted mean over defined labels ``(resamples,)`` (NaN where nothing is defined).
    """
    defined = ~np.isnan(matrices)
    counts = defined.sum(axis=1)
    sums = np.where(defined, matrices, 0.0).sum(axis=1)
    means = np.full(counts.shape, np.nan)
    np.divide(sums, counts, out=means, where=counts > 0)
    label_weights = np.where(np.isnan(means), 0.0, weights)
    total = label_weights.sum(axis=1)
    averages = np.full(len(means), np.nan)
    np.divide((np.where(np.isnan(means), 0.0, means) * label_weights).sum(axis=1), total, out=averages, where=total > 0)
    return means, averages


def _result(labels: Sequence[str], means: np.ndarray, average: float) -> dict[str, float]:
    result = {label: float(value) for label, value in zip(labels, means, strict=True)}
    result["average"] = float(average)
    return result


def average_sample_results(
    metric_result: Sequence[Mapping[str, float]] | np.ndarray, class_weights: ClassWeights = None
) -> dict[str, float]:
    """Aggregate per-sample ``{label: score}`` dicts: ``{"<label>": mean over the samples scored for it, ...,
    "average": mean of the label means}``.

    NaN scores (undefined) are skipped. With ``class_weights`` (``{"<label>": weight}``; every scored label needs
    one) the average is the weighted mean ``sum(w * mean) / sum(w)`` over the labels present; with all weights 1
    it equals FuseMedML's ``sum(w * mean) / #labels``, which is not an average for other weights. No label at all,
    or nothing defined, gives a NaN average with a warning.

    >>> average_sample_results([{"1": 0.5, "2": 1.0}, {"1": 0.7}])
    {'1': 0.6, '2': 1.0, 'average': 0.8}
    >>> average_sample_results([{"1": 0.5, "2": 1.0}, {"1": 0.7}], class_weights={"1": 3, "2": 1})
    {'1': 0.6, '2': 1.0, 'average': 0.7}
    """
    labels, matrix = _score_matrix(list(metric_result))
    means, averages = _aggregate(matrix[np.newaxis], _label_weights(labels, _check_class_weights(class_weights)))
    if np.isnan(averages[0]):
        undefined(
            "the segmentation average is undefined: no sample has a scored label"
            if not labels
            else "the segmentation average is undefined: no label has a defined score"
        )
    return _result(labels, means[0], averages[0])


def _per_sample_key(value: Any, name: str, what: str) -> str | None:
    """A per-sample argument must be a key to collect (or ``None``): constants cannot reach a per-sample function."""
    if value is None:
        return None
    if not isinstance(value, str) or value.startswith(RESULTS_PREFIX):
        raise ValueError(f"{name} must be None or the key holding each sample's {what}, got {value!r}")
    return value


class _SegmentationMetric(MetricPerSampleDefault):
    """Scores each sample with ``func(pred, target, ...)`` at collect time; evaluates to
    :func:`average_sample_results` of the evaluated samples, with a vectorised form for bootstraps.
    """

    def __init__(
        self,
        func: Callable[..., Mapping[str, float]],
        pred: str,
        target: str,
        class_weights: ClassWeights,
        **kwargs: Any,
    ) -> None:
        self._class_weights = _check_class_weights(class_weights)
        super().__init__(
            pred=pred,
            target=target,
            metric_per_sample_func=functools.partial(_per_sample_scores, func),
            result_aggregate_func=functools.partial(average_sample_results, class_weights=self._class_weights),
            **kwargs,
        )

    def eval_resampled(self, results: Mapping[str, Any] | None, ids: np.ndarray, rows: np.ndarray) -> list[Any]:
        """All resamplings at once. Every result holds the labels scored anywhere in ``ids``: a label absent from a
        resampling is NaN there (and left out of its average).
        """
        per_sample = self._extract_arguments(results, ids)["post_args"]
        labels, matrix = _score_matrix(list(per_sample))
        weights = _label_weights(labels, self._class_weights)
        rows = np.asarray(rows)
        chunk = max(1, _RESAMPLED_ENTRIES // max(1, matrix.size))  # bounds the (rows, samples, labels) temporaries
        resampled: list[Any] = []
        for start in range(0, len(rows), chunk):
            means, averages = _aggregate(matrix[rows[start : start + chunk]], weights)
            resampled.extend(_result(labels, row_means, avg) for row_means, avg in zip(means, averages, strict=True))
        return resampled
