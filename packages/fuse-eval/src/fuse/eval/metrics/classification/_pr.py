"""Precision-recall: the area under the precision-recall curve, the curves, and their metrics."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._lazy import sk_metrics
from fuse.eval.framework._warnings import undefined
from fuse.eval.metrics.classification._common import _as_array, _weights
from fuse.eval.metrics.classification._scores import (
    CurveMetric,
    RankMetric,
    curve_classes,
    curve_scores,
    finite_binary_scores,
    grouped_class_counts,
)

__all__ = ["MetricAUCPR", "auc_pr", "auc_pr_resampled", "MetricPrecisionRecallCurve", "precision_recall_curve"]


def auc_pr(
    pred: ArrayLike,
    target: ArrayLike,
    sample_weight: ArrayLike | None = None,
    pos_class_index: int = -1,
    pos_label: Any = None,
) -> float:
    """Area under the precision-recall curve, ``auc(recall, precision)`` from sklearn ``precision_recall_curve``
    (trapezoidal, not average precision), one class against the rest; NaN with a warning when one class is absent.

    Scalar predictions are the probability of class 1 (class 0 scores ``1 - p`` when ``pos_class_index=0``); with
    vectors, column ``pos_class_index`` is used (the last one when negative). Binary targets other than 0/1 need
    ``pos_label``, as in :func:`fuse.eval.auc_roc`.

    >>> round(auc_pr([0.2, 0.3, 0.9, 0.6], [1, 0, 1, 1]), 4)
    0.9028
    """
    scores, positive = _auc_pr_inputs(pred, target, pos_class_index, pos_label)
    weights = _weights(sample_weight, len(scores))
    one_class = _one_class_area(positive)
    if one_class is not None:
        return one_class
    precision, recall, _ = sk_metrics.precision_recall_curve(positive, scores, sample_weight=weights)
    return float(sk_metrics.auc(recall, precision))


def _one_class_area(positive: np.ndarray) -> float | None:
    """NaN with the warning when the area under the precision-recall curve is undefined (one class), else ``None``:
    with only positives the curve is the single precision 1, whose area says nothing about the ranking."""
    if positive.all() or not positive.any():
        return undefined(
            f"AUC-PR is undefined with only {'positive' if positive.any() else 'negative'} samples ({len(positive)})"
        )
    return None


def _auc_pr_inputs(
    pred: ArrayLike, target: ArrayLike, pos_class_index: int, pos_label: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, is positive) of one class against the rest; class 0 of scalar probabilities scores ``1 - p``."""
    scores, positive = finite_binary_scores(pred, target, pos_class_index, pos_label)
    if pos_class_index == 0 and _as_array(pred).ndim == 1:
        scores, positive = 1.0 - scores, ~positive
    return scores, positive


class MetricAUCPR(RankMetric):
    """Area under the precision-recall curve (FuseMedML's ``MetricAUCPR``): binary, or one-vs-rest per class with
    ``macro_avg``. See :func:`auc_pr`.

    >>> import numpy as np
    >>> metric = MetricAUCPR(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": np.array([0.2, 0.3, 0.9, 0.6]), "target": [1, 0, 1, 1]})
    >>> round(metric.eval(), 4)
    0.9028
    """

    def __init__(
        self,
        pred: str,
        target: str,
        class_names: Sequence[str] | None = None,
        pos_label: Any = None,
        **kwargs: Any,
    ) -> None:
        # bound, not routed: a text pos_label would otherwise be read as a key to collect
        metric_func = functools.partial(auc_pr, pos_label=pos_label)
        super().__init__(pred=pred, target=target, metric_func=metric_func, class_names=class_names, **kwargs)
        self._pos_label = pos_label

    def eval_resampled(self, results: Mapping[str, Any] | None, ids: np.ndarray, rows: np.ndarray) -> list[Any]:
        """All resamplings at once from per-score class counts (:func:`auc_pr_resampled`)."""
        arguments = self._extract_arguments(results, ids)
        if set(arguments) > {"pred", "target"}:  # sample weights: evaluate row by row
            return super().eval_resampled(results, ids, rows)

        def inputs(pos_class_index: int) -> tuple[np.ndarray, np.ndarray]:
            return _auc_pr_inputs(arguments["pred"], arguments["target"], pos_class_index, self._pos_label)

        return self._resampled_per_class(ids, rows, inputs, auc_pr_resampled, "AUC-PR")


def auc_pr_resampled(
    scores: np.ndarray, positive: np.ndarray, rows: np.ndarray, groups: tuple[np.ndarray, int] | None = None
) -> np.ndarray:
    """Area under the precision-recall curve of every resampling at once, as ``auc(recall, precision)`` of sklearn's
    ``precision_recall_curve`` per row (thresholds at the distinct scores, the curve starting at recall 0,
    precision 1). NaN for a row without positives or without negatives.
    """
    result = np.empty(len(rows))
    for first, counts in grouped_class_counts(scores, positive, rows, groups):
        descending = counts[:, ::-1, :]  # thresholds from the highest score down
        false_positives = np.cumsum(descending[:, :, 0], axis=1)
        true_positives = np.cumsum(descending[:, :, 1], axis=1)
        positives, negatives = true_positives[:, -1:], false_positives[:, -1:]
        called = true_positives + false_positives
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = true_positives / positives
            precision = np.where(called > 0, true_positives / np.maximum(called, 1), 1.0)  # nothing called: (0, 1)
        recall = np.concatenate([np.zeros((len(counts), 1)), recall], axis=1)
        precision = np.concatenate([np.ones((len(counts), 1)), precision], axis=1)
        area = np.sum(np.diff(recall, axis=1) * (precision[:, 1:] + precision[:, :-1]) / 2, axis=1)
        defined = (positives[:, 0] > 0) & (negatives[:, 0] > 0)
        result[first : first + len(counts)] = np.where(defined, area, np.nan)
    return result


def precision_recall_curve(
    pred: ArrayLike,
    target: ArrayLike,
    class_names: Sequence[str | None] | None = None,
    sample_weight: ArrayLike | None = None,
) -> dict[str, dict[str, Any]]:
    """One-vs-rest precision-recall curves ``{class name: {"precision", "recall", "auc"}}``; ``auc`` is the
    trapezoidal area of :func:`fuse.eval.auc_pr` (NaN with its warning when a class has only positive samples; a
    class without positive samples has no curve and raises). Classes are chosen as in :func:`roc_curve`.

    >>> curves = precision_recall_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    >>> round(curves["Positive"]["auc"], 4)
    0.7917
    """
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(-1)
    results: dict[str, dict[str, Any]] = {}
    for column, name in curve_classes(class_names):
        scores, positive = curve_scores(pred, target, column, class_names)
        if not positive.any():
            raise ValueError(
                f"the precision-recall curve of class {name!r} needs positive samples; the target has none"
            )
        precision, recall, thresholds = sk_metrics.precision_recall_curve(positive, scores, sample_weight=weights)
        one_class = _one_class_area(positive)
        area = float(sk_metrics.auc(recall, precision)) if one_class is None else one_class
        results[name] = {"precision": precision, "recall": recall, "thresholds": thresholds, "auc": area}
    return results


class MetricPrecisionRecallCurve(CurveMetric):
    """Precision-recall curves ``{class name: {"precision", "recall", "thresholds", "auc"}}``, drawn into
    ``output_filename`` when given (``plot`` extra). Classes as in :class:`MetricROCCurve`.

    >>> import numpy as np
    >>> metric = MetricPrecisionRecallCurve(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": np.array([0.1, 0.4, 0.35, 0.8]), "target": [0, 0, 1, 1]})
    >>> metric.eval()["Positive"]["recall"].tolist()
    [1.0, 1.0, 0.5, 0.5, 0.0]
    """

    def _curves(self, pred: Any, target: Any, sample_weight: Any = None) -> dict[str, Any]:
        curves = precision_recall_curve(pred, target, self._class_names, sample_weight)
        if self._output_filename is not None:
            from fuse.eval.plots._curves import plot_precision_recall_curves

            plot_precision_recall_curves(curves, self._output_filename)
        return curves
