"""Regression metrics: Pearson and Spearman correlation (scipy), MAE, MSE, RMSE and R² (sklearn).

FuseMedML's ``MetricPearsonCorrelation``, ``MetricSpearmanCorrelation``, ``MetricMAE``, ``MetricMSE``, ``MetricRMSE``
and ``MetricR2`` with the same names, arguments and results. A sample's ``pred`` / ``target`` may be a number or an
array (e.g. one value per voxel or token): every value of every sample counts, flattened in sample order, and the
optional boolean ``mask`` (same layout) keeps only the values where it is true.

Undefined values are NaN with an :class:`~fuse.eval.UndefinedMetricWarning`: no value left (empty input or an
all-false mask), a correlation of fewer than two values or of a constant input, NaN in the inputs of a
correlation (mask them out), R² of fewer than two values or of a constant target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._lazy import scipy_stats as stats
from fuse.eval.framework._lazy import sk_metrics
from fuse.eval.framework._metric_base import MetricDefault
from fuse.eval.framework._warnings import undefined

__all__ = [
    "MetricMAE",
    "MetricMSE",
    "MetricPearsonCorrelation",
    "MetricR2",
    "MetricRMSE",
    "MetricSpearmanCorrelation",
    "mae",
    "mse",
    "pearson_correlation",
    "r2",
    "rmse",
    "spearman_correlation",
]


def _flat(values: ArrayLike, what: str) -> np.ndarray:
    """Every value of every sample, in sample order, as one 1-d array (ragged per-sample arrays are allowed)."""
    if isinstance(values, np.ndarray) and values.dtype == object:
        parts = [np.asarray(v).reshape(-1) for v in values]
        array = np.concatenate(parts) if parts else np.empty(0)
    else:
        array = np.asarray(values).reshape(-1)
    if array.dtype == bool:
        return array
    try:
        return array.astype(float)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must hold numbers, got values such as {array[:3].tolist()}") from None


def _pair(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    """Flattened ``pred`` and ``target`` of equal length, restricted to ``mask``."""
    flat_pred, flat_target = _flat(pred, "pred").astype(float), _flat(target, "target").astype(float)
    if len(flat_pred) != len(flat_target):
        raise ValueError(
            f"pred holds {len(flat_pred)} values but target holds {len(flat_target)}; they must match one to one"
        )
    if mask is None:
        return flat_pred, flat_target
    flat_mask = _flat(mask, "mask")
    if len(flat_mask) != len(flat_pred):
        raise ValueError(f"mask holds {len(flat_mask)} values for {len(flat_pred)} pred values; they must match")
    if flat_mask.dtype != bool:
        invalid = ~np.isin(flat_mask, (0, 1))
        if invalid.any():
            raise ValueError(f"mask must be boolean (or 0/1), got values such as {flat_mask[invalid][:3].tolist()}")
        flat_mask = flat_mask.astype(bool)
    return flat_pred[flat_mask], flat_target[flat_mask]


def _correlation(
    name: str, scipy_func: Callable[..., Any], pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None
) -> dict[str, float]:
    x, y = _pair(pred, target, mask)
    message = None
    if len(x) < 2:
        message = f"{name} correlation is undefined for {len(x)} value(s)"
    elif np.isnan(x).any() or np.isnan(y).any():
        message = f"{name} correlation is undefined: pred or target holds NaN (exclude them with mask)"
    elif np.all(x == x[0]) or np.all(y == y[0]):
        message = f"{name} correlation is undefined: {'pred' if np.all(x == x[0]) else 'target'} is constant"
    if message is not None:
        nan = undefined(message)
        return {"statistic": nan, "p_value": nan}
    result = scipy_func(x, y)
    return {"statistic": float(result[0]), "p_value": float(result[1])}


def pearson_correlation(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> dict[str, float]:
    """Pearson correlation (scipy ``pearsonr``): ``{"statistic", "p_value"}`` (two-sided p-value).

    >>> pearson_correlation([1.0, 2.0, 3.0, 4.0], [2.0, 4.1, 5.9, 8.0])["statistic"] > 0.99
    True
    >>> result = pearson_correlation([1.0, 2.0, 3.0, 9.0], [2.0, 4.0, 6.0, 0.0], mask=[True, True, True, False])
    >>> round(result["statistic"], 12)
    1.0
    """
    return _correlation("Pearson", stats.pearsonr, pred, target, mask)


def spearman_correlation(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> dict[str, float]:
    """Spearman rank correlation (scipy ``spearmanr``): ``{"statistic", "p_value"}`` (two-sided p-value).

    >>> spearman_correlation([1.0, 2.0, 3.0, 4.0], [1.0, 8.0, 27.0, 64.0])
    {'statistic': 1.0, 'p_value': 0.0}
    """
    return _correlation("Spearman", stats.spearmanr, pred, target, mask)


def mae(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Mean absolute error (sklearn ``mean_absolute_error``) over all values.

    >>> mae([1.0, 2.0, 4.0], [1.0, 3.0, 2.0])
    1.0
    """
    x, y = _pair(pred, target, mask)
    if len(x) == 0:
        return undefined("MAE is undefined without values")
    return float(sk_metrics.mean_absolute_error(y, x))


def mse(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Mean squared error (sklearn ``mean_squared_error``) over all values.

    >>> mse([1.0, 2.0, 4.0], [1.0, 3.0, 2.0])
    1.6666666666666667
    """
    x, y = _pair(pred, target, mask)
    if len(x) == 0:
        return undefined("MSE is undefined without values")
    return float(sk_metrics.mean_squared_error(y, x))


def rmse(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Root mean squared error over all values (the square root of :func:`mse`).

    >>> rmse([[1.0, 2.0], [4.0, 4.0]], [[1.0, 2.0], [2.0, 2.0]])
    1.4142135623730951
    """
    error = mse(pred, target, mask)
    return float(np.sqrt(error))


def r2(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Coefficient of determination (sklearn ``r2_score``) over all values.

    A constant target has no variance to explain (R² divides by it): NaN with an ``UndefinedMetricWarning``, where
    sklearn returns 1.0 for a perfect prediction and 0.0 otherwise.

    >>> r2([1.0, 2.0, 3.5], [1.0, 2.0, 3.0])
    0.875
    """
    x, y = _pair(pred, target, mask)
    if len(x) < 2:
        return undefined(f"R2 is undefined for {len(x)} value(s)")
    if np.all(y == y[0]):
        return undefined(
            f"R2 is undefined: the target is constant ({float(y[0])!r} in all {len(y)} values), no variance"
        )
    return float(sk_metrics.r2_score(y, x))


class _ValueMetric(MetricDefault):
    """A metric of all values of ``pred`` against ``target``: ``pred``, ``target`` and the optional ``mask`` are
    keys, evaluated by ``_function(pred, target, mask)``."""

    _function: ClassVar[Callable[..., Any]]

    def __init__(self, pred: str, target: str, mask: str | None = None, **kwargs: Any) -> None:
        super().__init__(metric_func=type(self)._function, pred=pred, target=target, mask=mask, **kwargs)


class MetricPearsonCorrelation(_ValueMetric):
    """Pearson correlation (FuseMedML's ``MetricPearsonCorrelation``): ``{"statistic", "p_value"}``; ``mask`` is an
    optional key of a boolean mask. See :func:`pearson_correlation`.

    >>> metric = MetricPearsonCorrelation(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2], "pred": [1.0, 2.0, 3.0], "target": [2.0, 4.0, 6.0]})
    >>> round(metric.eval()["statistic"], 12)
    1.0
    """

    _function = staticmethod(pearson_correlation)


class MetricSpearmanCorrelation(_ValueMetric):
    """Spearman correlation (FuseMedML's ``MetricSpearmanCorrelation``): ``{"statistic", "p_value"}``; ``mask`` is
    an optional key of a boolean mask. See :func:`spearman_correlation`.

    >>> metric = MetricSpearmanCorrelation(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2], "pred": [1.0, 2.0, 3.0], "target": [3.0, 2.0, 1.0]})
    >>> metric.eval()["statistic"]
    -1.0
    """

    _function = staticmethod(spearman_correlation)


class MetricMAE(_ValueMetric):
    """Mean absolute error (FuseMedML's ``MetricMAE``); ``mask`` is an optional key. See :func:`mae`.

    >>> metric = MetricMAE(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1], "pred": [1.0, 5.0], "target": [2.0, 2.0]})
    >>> metric.eval()
    2.0
    """

    _function = staticmethod(mae)


class MetricMSE(_ValueMetric):
    """Mean squared error (FuseMedML's ``MetricMSE``); ``mask`` is an optional key. See :func:`mse`.

    >>> metric = MetricMSE(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1], "pred": [1.0, 5.0], "target": [2.0, 2.0]})
    >>> metric.eval()
    5.0
    """

    _function = staticmethod(mse)


class MetricRMSE(_ValueMetric):
    """Root mean squared error over all values (FuseMedML's ``MetricRMSE``); ``mask`` is an optional key. See
    :func:`rmse`.

    >>> metric = MetricRMSE(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1], "pred": [1.0, 5.0], "target": [1.0, 3.0]})
    >>> metric.eval()
    1.4142135623730951
    """

    _function = staticmethod(rmse)


class MetricR2(_ValueMetric):
    """Coefficient of determination over all values (FuseMedML's ``MetricR2``). See :func:`r2`.

    >>> metric = MetricR2(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2], "pred": [1.0, 2.0, 3.5], "target": [1.0, 2.0, 3.0]})
    >>> metric.eval()
    0.875
    """

    _function = staticmethod(r2)
