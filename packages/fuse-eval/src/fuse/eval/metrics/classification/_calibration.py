"""Calibration of class probabilities: reliability diagrams and the expected / maximum calibration error (ECE, MCE).

Predictions are one probability vector per sample (rows summing to 1), or a scalar per sample, the probability of
class 1 (expanded to ``[1 - p, p]``). Samples are binned by their top-label confidence (the maximum probability); a
bin's accuracy is the fraction of its samples whose argmax is the target (Guo et al. 2017,
https://arxiv.org/abs/1706.04599). Bins are ``[lo, hi)`` except the last, which is closed; equal-width edges are
``i / num_bins``; an empty bin's accuracy is NaN.

Compatibility: FuseMedML's ``MetricReliabilityDiagram`` and ``MetricECE`` (upper-edge formula by default), with the
bin edges counted as docs/migration.md describes.
"""

from __future__ import annotations

import functools
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fuse.eval.framework._arrays import ArrayLike, Ids
from fuse.eval.framework._lazy import scipy_stats as stats
from fuse.eval.framework._metric_base import MetricDefault
from fuse.eval.framework._warnings import undefined
from fuse.eval.metrics.classification._common import _as_array, _target_labels

__all__ = [
    "bin_index",
    "equal_width_edges",
    "MetricReliabilityDiagram",
    "MetricECE",
    "reliability_diagram",
    "expected_calibration_error",
    "ECE_METHODS",
]


ECE_METHODS: tuple[str, ...] = ("upper_edge", "mean_confidence")


_SUM_RTOL = 1e-5  # FuseMedML's math.isclose(row.sum(), 1, rel_tol=1e-5)


def _sample_name(position: int, ids: Ids | None) -> str:
    if ids is not None and len(ids) > position:
        return f"sample #{position} (id {ids[position]!r})"
    return f"sample #{position}"


def _probabilities(pred: ArrayLike, ids: Ids | None) -> np.ndarray:
    """``(n, C)`` probabilities; scalars become ``[1 - p, p]``; rows must sum to 1 and lie in [0, 1]."""
    array = _as_array(pred)
    if array.size == 0:
        return np.empty((0, 2))
    array = np.asarray(array, dtype=float)
    if array.ndim == 1:
        outside = np.flatnonzero(~((array >= 0) & (array <= 1)))
        if len(outside):
            first = int(outside[0])
            raise ValueError(
                f"pred of {_sample_name(first, ids)} is {float(array[first])!r}: a scalar prediction is the "
                "probability of class 1 and must lie in [0, 1]"
            )
        return np.stack((1.0 - array, array), axis=1)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(
            f"pred must hold one probability (of class 1) or one probability vector (2 classes or more) per sample, "
            f"got an array of shape {array.shape}"
        )
    sums = array.sum(axis=1)
    bad = np.flatnonzero(~(np.abs(sums - 1.0) <= _SUM_RTOL * np.maximum(np.abs(sums), 1.0)))
    if len(bad):
        first = int(bad[0])
        raise ValueError(
            f"pred of {_sample_name(first, ids)} sums to {float(sums[first])!r}, not 1 (relative tolerance "
            f"{_SUM_RTOL}): {array[first].tolist()}; pass probabilities (e.g. a softmax), not logits or scores"
            + (f" ({len(bad)} such samples)" if len(bad) > 1 else "")
        )
    negative = np.flatnonzero((array < 0).any(axis=1))
    if len(negative):
        first = int(negative[0])
        raise ValueError(f"pred of {_sample_name(first, ids)} has negative probabilities: {array[first].tolist()}")
    return array


def _labels(target: ArrayLike, classes: int, n: int) -> np.ndarray:
    """Target class indices in ``[0, classes)``, one per sample."""
    if n == 0 and len(target) == 0:
        return np.empty(0, dtype=np.int64)
    labels = _target_labels(target)
    if len(labels) != n:
        raise ValueError(f"target has {len(labels)} values for {n} predictions")
    outside = labels[(labels < 0) | (labels >= classes)]
    if len(outside):
        raise ValueError(
            f"target holds classes {sorted(set(outside.tolist()))} outside [0, {classes}) for predictions of "
            f"{classes} classes"
        )
    return labels


def _check_bins(num_bins: int | None, num_quantiles: int | None) -> None:
    for name, value in (("num_bins", num_bins), ("num_quantiles", num_quantiles)):
        if value is not None and (not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    if num_bins is None and num_quantiles is None:
        raise ValueError("set num_bins (equal-width bins) or num_quantiles (equal-mass bins); both are None")


def _check_method(method: str) -> None:
    if method not in ECE_METHODS:
        raise ValueError(f"unknown ECE method {method!r}; allowed: {list(ECE_METHODS)}")


@dataclass(frozen=True)
class _Bins:
    edges: np.ndarray  # (K + 1,)
    index: np.ndarray  # (n,) bin of each sample
    confidence: np.ndarray  # (n,) max probability
    correct: np.ndarray  # (n,) argmax == target
    counts: np.ndarray  # (K,)
    correct_counts: np.ndarray  # (K,)


def equal_width_edges(num_bins: int) -> np.ndarray:
    """The ``num_bins + 1`` edges ``i / num_bins`` of equal-width bins of [0, 1], each the float nearest to it.

    ``np.linspace`` computes ``i * (1 / num_bins)``, which for 10 bins gives 0.30000000000000004, 0.6000000000000001
    and 0.7000000000000001, so a confidence of exactly 0.3, 0.6 or 0.7 fell one bin low; ``i / num_bins`` is
    correctly rounded, so a confidence written as ``i / num_bins`` (0.3) lands on its edge.

    >>> equal_width_edges(10)[[3, 6, 7]].tolist()
    [0.3, 0.6, 0.7]
    """
    return np.arange(num_bins + 1) / num_bins


def bin_index(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The bin of each value: bins are ``[edge_i, edge_i+1)`` (a value on an edge goes to the bin above it), the last
    one closed (``1.0`` is in the last bin); with repeated edges a value goes to the last bin starting at it.

    >>> bin_index(equal_width_edges(10), np.array([0.0, 0.29999, 0.3, 0.95, 1.0])).tolist()
    [0, 2, 3, 9, 9]
    """
    bins = len(edges) - 1
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)


def _bin(pred: ArrayLike, target: ArrayLike, num_bins: int | None, num_quantiles: int | None, ids: Ids | None) -> _Bins:
    _check_bins(num_bins, num_quantiles)
    probabilities = _probabilities(pred, ids)
    labels = _labels(target, probabilities.shape[1], len(probabilities))
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    if num_quantiles is not None:
        if len(confidence):
            quantiles = stats.mstats.mquantiles(confidence, prob=np.linspace(0, 1, num_quantiles + 1).tolist())
            edges = np.asarray(quantiles, dtype=float)
        else:
            edges = np.full(num_quantiles + 1, np.nan)
    else:
        assert num_bins is not None
        edges = equal_width_edges(num_bins)
    index = bin_index(edges, confidence)
    bins = len(edges) - 1
    counts = np.bincount(index, minlength=bins)
    correct_counts = np.bincount(index, weights=correct, minlength=bins)
    return _Bins(edges, index, confidence, correct, counts, correct_counts)


def _bin_accuracy(bins: _Bins) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy: np.ndarray = np.where(bins.counts > 0, bins.correct_counts / bins.counts, np.nan)
    return accuracy


def reliability_diagram(
    pred: ArrayLike,
    target: ArrayLike,
    num_bins: int | None = 10,
    num_quantiles: int | None = None,
    output_filename: str | os.PathLike[str] | None = None,
    *,
    ids: Ids | None = None,
) -> dict[str, Any]:
    """The data of a reliability diagram (FuseMedML's result keys): samples binned by top-label confidence.

    - ``conf_vec``: the ``K + 1`` bin edges: ``i / num_bins`` (:func:`equal_width_edges`, exact where FuseMedML's
      ``linspace`` put 0.3 one bin low), or with ``num_quantiles`` (which takes precedence over ``num_bins``)
      equal-mass edges, scipy ``mstats.mquantiles`` of the confidences as FuseMedML computes them; bins are
      ``[lo, hi)`` (a confidence on an edge goes to the bin above it) except the last, which is closed;
    - ``mid_confidence_points``: the bin centres; ``accuracy``: per-bin accuracy (NaN for an empty bin);
      ``num_samples_per_bin``: per-bin counts;
    - ``avg_accuracy``, ``avg_confidence``: overall accuracy and mean confidence; ``total_samples``.

    ``pred`` rows must sum to 1 (relative tolerance 1e-5); ``ids`` (keyword-only) only name a bad sample in errors.
    Empty input gives NaN values with an ``UndefinedMetricWarning``. With ``output_filename`` (the fifth argument, as
    in FuseMedML) the diagram is also drawn there (:func:`fuse.eval.plot_reliability_diagram`, needs matplotlib).

    >>> result = reliability_diagram([[0.9, 0.1], [0.3, 0.7], [0.4, 0.6], [0.05, 0.95]], [0, 0, 1, 1], num_bins=2)
    >>> result["num_samples_per_bin"].tolist(), result["accuracy"].tolist(), result["avg_accuracy"]
    ([0, 4], [nan, 0.75], 0.75)
    """
    if output_filename is not None and not isinstance(output_filename, (str, os.PathLike)):
        raise TypeError(
            "reliability_diagram(): the fifth argument is output_filename, an image path (as in FuseMedML), got "
            f"{type(output_filename).__name__}; pass sample ids by keyword: reliability_diagram(..., ids=ids)"
        )
    bins = _bin(pred, target, num_bins, num_quantiles, ids)
    total = len(bins.confidence)
    if total == 0:
        undefined("a reliability diagram of no samples is undefined")
    edges = bins.edges
    result: dict[str, Any] = {
        "conf_vec": edges,
        "mid_confidence_points": np.diff(edges) / 2 + edges[:-1],
        "accuracy": _bin_accuracy(bins),
        "avg_accuracy": float(np.mean(bins.correct)) if total else float("nan"),
        "avg_confidence": float(np.mean(bins.confidence)) if total else float("nan"),
        "num_samples_per_bin": bins.counts,
        "total_samples": total,
    }
    if output_filename is not None:
        from fuse.eval.plots._calibration import plot_reliability_diagram

        plot_reliability_diagram(result, output_filename)
    return result


def expected_calibration_error(
    pred: ArrayLike,
    target: ArrayLike,
    num_bins: int | None = 10,
    num_quantiles: int | None = None,
    method: str = "upper_edge",
    ids: Ids | None = None,
) -> dict[str, float]:
    """Expected and maximum calibration error, ``{"ece", "mce"}``, on the bins of :func:`reliability_diagram`.

    ``ece = sum_i n_i * |acc_i - conf_i| / N`` and ``mce = max_i |acc_i - conf_i|`` over non-empty bins, where
    ``conf_i`` is:

    - ``method="upper_edge"`` (default, FuseMedML's formula): the bin's upper edge;
    - ``method="mean_confidence"``: the mean confidence of the bin's samples, the standard ECE (Guo et al. 2017).

    Empty input gives NaN with an ``UndefinedMetricWarning``.

    >>> pred, target = [[0.9, 0.1], [0.3, 0.7], [0.4, 0.6], [0.05, 0.95]], [0, 0, 1, 1]
    >>> expected_calibration_error(pred, target, num_bins=2)
    {'ece': 0.25, 'mce': 0.25}
    >>> standard = expected_calibration_error(pred, target, num_bins=2, method="mean_confidence")
    >>> {key: round(value, 4) for key, value in standard.items()}
    {'ece': 0.0375, 'mce': 0.0375}
    """
    _check_method(method)
    bins = _bin(pred, target, num_bins, num_quantiles, ids)
    total = len(bins.confidence)
    if total == 0:
        undefined("the calibration error of no samples is undefined")
        return {"ece": float("nan"), "mce": float("nan")}
    if method == "upper_edge":
        reference = bins.edges[1:]
    else:
        sums = np.bincount(bins.index, weights=bins.confidence, minlength=len(bins.counts))
        with np.errstate(invalid="ignore", divide="ignore"):
            reference = np.where(bins.counts > 0, sums / bins.counts, np.nan)
    occupied = bins.counts > 0
    gaps = np.abs(_bin_accuracy(bins)[occupied] - reference[occupied])
    return {"ece": float(np.sum(bins.counts[occupied] * gaps) / total), "mce": float(np.max(gaps))}


class MetricReliabilityDiagram(MetricDefault):
    """Reliability diagram data (FuseMedML's ``MetricReliabilityDiagram``); see :func:`reliability_diagram`. With
    ``output_filename``, every evaluation also writes the diagram as an image there
    (``fuse.eval.plots._calibration.plot_reliability_diagram``, needs matplotlib).

    >>> import numpy as np
    >>> metric = MetricReliabilityDiagram(pred="pred", target="target", num_bins=2)
    >>> metric.collect({"id": [0, 1, 2], "pred": np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8]]), "target": [0, 0, 1]})
    >>> metric.eval()["num_samples_per_bin"].tolist()
    [0, 3]
    """

    def __init__(
        self,
        pred: str,
        target: str,
        num_bins: int | None = 10,
        num_quantiles: int | None = None,
        output_filename: str | os.PathLike[str] | None = None,
        title: str | None = None,
        **kwargs: Any,
    ) -> None:
        _check_bins(num_bins, num_quantiles)
        self._output_filename = output_filename
        self._title = title  # of the image (None: the plot's default): which scores, e.g. after temperature scaling
        super().__init__(
            metric_func=functools.partial(reliability_diagram, num_bins=num_bins, num_quantiles=num_quantiles),
            pred=pred,
            target=target,
            extract_ids=True,
            **kwargs,
        )

    def eval(self, results: Mapping[str, Any] | None = None, ids: Ids | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().eval(results, ids)
        if self._output_filename is not None:
            from fuse.eval.plots._calibration import plot_reliability_diagram

            titled = {} if self._title is None else {"title": self._title}
            plot_reliability_diagram(result, self._output_filename, **titled)
        return result

    def eval_resampled(self, results: Mapping[str, Any] | None, ids: np.ndarray, rows: np.ndarray) -> list[Any]:
        """Bootstrap resamples (``CI``) are evaluated without writing the image."""
        return [super(MetricReliabilityDiagram, self).eval(results, ids[row]) for row in rows]


class MetricECE(MetricDefault):
    """Expected and maximum calibration error, ``{"ece", "mce"}`` (FuseMedML's ``MetricECE``); ``method`` is
    ``"upper_edge"`` (FuseMedML's formula, the default) or ``"mean_confidence"`` (the standard ECE). See
    :func:`expected_calibration_error`.

    >>> import numpy as np
    >>> metric = MetricECE(pred="pred", target="target", num_bins=2, method="mean_confidence")
    >>> metric.collect({"id": [0, 1, 2], "pred": np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8]]), "target": [0, 0, 1]})
    >>> {key: round(value, 4) for key, value in metric.eval().items()}
    {'ece': 0.1333, 'mce': 0.1333}
    """

    def __init__(
        self,
        pred: str,
        target: str,
        num_bins: int | None = 10,
        num_quantiles: int | None = None,
        method: str = "upper_edge",
        **kwargs: Any,
    ) -> None:
        _check_bins(num_bins, num_quantiles)
        _check_method(method)
        super().__init__(
            metric_func=functools.partial(
                expected_calibration_error, num_bins=num_bins, num_quantiles=num_quantiles, method=method
            ),
            pred=pred,
            target=target,
            extract_ids=True,
            **kwargs,
        )
