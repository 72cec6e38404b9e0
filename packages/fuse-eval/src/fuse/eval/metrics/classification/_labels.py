"""Metrics of predicted class labels: accuracy, balanced accuracy and the Matthews correlation coefficient."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._lazy import sk_metrics
from fuse.eval.framework._metric_base import MetricDefault
from fuse.eval.framework._warnings import undefined
from fuse.eval.metrics.classification._common import _class_pairs, _weights

__all__ = ["MetricAccuracy", "MetricMCC", "MetricBalAccuracy", "accuracy", "mcc", "balanced_accuracy"]


def accuracy(
    pred: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None = None, pos_label: Any = None
) -> float:
    """Accuracy (sklearn ``accuracy_score``): score vectors are argmax-ed, one-hot targets are argmax-ed, class labels
    are used as they are, and scalar probabilities of class 1 count as class 1 when ``p > 0.5``.

    With score vectors, targets must be column indices; with probabilities of class 1, targets must be 0/1, or two
    labels with ``pos_label`` naming class 1. Missing or text values raise naming their rows.

    >>> accuracy([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]], [0, 1, 0])
    0.6666666666666666
    """
    labels, truth = _class_pairs(pred, target, pos_label)
    return float(sk_metrics.accuracy_score(truth, labels, sample_weight=_weights(sample_weight, len(truth))))


def mcc(pred: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None = None, pos_label: Any = None) -> float:
    """Matthews correlation coefficient (sklearn ``matthews_corrcoef``) with the class-prediction rule of
    :func:`accuracy`.

    It is 0/0 when the target or the predictions hold a single class: NaN with an ``UndefinedMetricWarning`` naming
    which (sklearn returns 0.0, the value of a classifier no better than chance, which nothing here shows).

    >>> mcc([1, 0, 1, 1], [1, 0, 0, 1])
    0.5773502691896258
    """
    labels, truth = _class_pairs(pred, target, pos_label)
    weights = _weights(sample_weight, len(truth))
    for values, what in ((truth, "target"), (labels, "prediction")):
        present = _classes_present(values, weights)
        if len(present) < 2:
            return undefined(f"MCC is undefined (0/0): {_one_class(present, what)}")
    return float(sk_metrics.matthews_corrcoef(truth, labels, sample_weight=weights))


def balanced_accuracy(
    pred: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None = None, pos_label: Any = None
) -> float:
    """Balanced accuracy (sklearn ``balanced_accuracy_score``: the mean recall over the classes of the target) with
    the class-prediction rule of :func:`accuracy`.

    With a single class in the target it is undefined: NaN with an ``UndefinedMetricWarning`` (sklearn returns the
    recall of that one class, a mean over one class reported as a mean over all).

    >>> balanced_accuracy([1, 0, 1, 1], [1, 0, 0, 1])
    0.75
    """
    labels, truth = _class_pairs(pred, target, pos_label)
    weights = _weights(sample_weight, len(truth))
    present = _classes_present(truth, weights)
    if len(present) < 2:
        return undefined(f"balanced accuracy is undefined: {_one_class(present, 'target')}")
    return float(sk_metrics.balanced_accuracy_score(truth, labels, sample_weight=weights))


def _classes_present(labels: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """The classes among ``labels`` (those of a positive weight, with weights)."""
    return np.unique(labels if weights is None else labels[weights > 0])


def _one_class(present: np.ndarray, what: str) -> str:
    """Why a metric needs two classes: ``every target is class 1`` (or ``no sample``)."""
    return f"every {what} is class {present[0].item()!r}, a single class" if len(present) else "no sample"


class MetricAccuracy(MetricDefault):
    """Accuracy (FuseMedML's ``MetricAccuracy``); ``sample_weight`` is a key. See :func:`accuracy`.

    >>> metric = MetricAccuracy(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2], "pred": [0, 2, 1], "target": [0, 2, 2]})
    >>> metric.eval()
    0.6666666666666666
    """

    def __init__(
        self, pred: str, target: str, sample_weight: str | None = None, pos_label: Any = None, **kwargs: Any
    ) -> None:
        metric_func = functools.partial(accuracy, pos_label=pos_label)
        super().__init__(metric_func=metric_func, pred=pred, target=target, sample_weight=sample_weight, **kwargs)
        self._pos_label = pos_label

    def eval_resampled(self, results: Mapping[str, Any] | None, ids: np.ndarray, rows: np.ndarray) -> list[Any]:
        """All resamplings at once: the (weighted) mean of each row's per-sample correctness."""
        arguments = self._extract_arguments(results, ids)
        with self.naming_inputs(ids):  # checked once per bootstrap run, not once per block
            labels, truth = self.cached_for_resampling(
                "inputs", functools.partial(_class_pairs, arguments["pred"], arguments["target"], self._pos_label)
            )
        correct = (labels == truth).astype(float)
        weights = _weights(arguments.get("sample_weight"), len(correct))
        if weights is None:
            return [float(v) for v in correct[rows].mean(axis=1)]
        return [float(v) for v in (correct * weights)[rows].sum(axis=1) / weights[rows].sum(axis=1)]

    def proportion_counts(self, results: Mapping[str, Any] | None, ids: Any) -> dict[str, tuple[int, int] | None]:
        """``{"": (correct, n)}`` on ``ids``: accuracy is the share of correctly classified samples, so that
        ``CI(MetricAccuracy(...), ci_method="WILSON")`` gives it an analytic interval (a percentile bootstrap is
        degenerate at accuracy 0 or 1). With ``sample_weight`` there are no whole counts: that raises.

        >>> metric = MetricAccuracy(pred="pred", target="target")
        >>> metric.collect({"id": [0, 1, 2], "pred": [0, 2, 1], "target": [0, 2, 2]})
        >>> metric.proportion_counts(None, None)
        {'': (2, 3)}
        """
        arguments = self._extract_arguments(results, ids)
        if arguments.get("sample_weight") is not None:
            raise ValueError(
                f"{type(self).__name__}: analytic proportion intervals need whole counts, but sample_weight is given; "
                "use a bootstrap ci_method"
            )
        labels, truth = _class_pairs(arguments["pred"], arguments["target"], self._pos_label)
        return {"": (int(np.count_nonzero(labels == truth)), len(truth))}


class _LabelMetric(MetricDefault):
    """A metric of predicted class labels: ``pred``, ``target`` and ``sample_weight`` are keys, ``pos_label`` is
    bound to ``_function`` (a text label would otherwise be read as a key to collect)."""

    _function: Callable[..., float]

    def __init__(
        self,
        pred: str | None = None,
        target: str | None = None,
        sample_weight: str | None = None,
        pos_label: Any = None,
        **kwargs: Any,
    ) -> None:
        metric_func = functools.partial(type(self)._function, pos_label=pos_label)
        super().__init__(metric_func=metric_func, pred=pred, target=target, sample_weight=sample_weight, **kwargs)


class MetricMCC(_LabelMetric):
    """Matthews correlation coefficient (FuseMedML's ``MetricMCC``). See :func:`mcc`.

    >>> metric = MetricMCC(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": [1, 0, 1, 1], "target": [1, 0, 0, 1]})
    >>> round(metric.eval(), 4)
    0.5774
    """

    _function = staticmethod(mcc)


class MetricBalAccuracy(_LabelMetric):
    """Balanced accuracy (FuseMedML's ``MetricBalAccuracy``). See :func:`balanced_accuracy`.

    >>> metric = MetricBalAccuracy(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": [1, 0, 1, 1], "target": [1, 0, 0, 1]})
    >>> metric.eval()
    0.75
    """

    _function = staticmethod(balanced_accuracy)
