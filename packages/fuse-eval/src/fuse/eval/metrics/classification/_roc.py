"""ROC: the ROC AUC (binary, one-vs-rest, multi-label), ROC curves with bootstrap bands, and their metrics."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._inputs import (
    InputError,
    score_array,
)
from fuse.eval.framework._lazy import sk_exceptions, sk_metrics
from fuse.eval.framework._metric_base import MetricDefault
from fuse.eval.framework._warnings import undefined
from fuse.eval.metrics.classification._scores import (
    CurveMetric,
    RankMetric,
    curve_classes,
    curve_scores,
    finite_binary_scores,
    grouped_class_counts,
)
from fuse.eval.resampling._bootstrap import bootstrap_rows, check_bootstrap_settings

__all__ = [
    "MetricAUCROC",
    "auc_roc",
    "auc_roc_resampled",
    "MetricAUCROCMultLabel",
    "MetricROCCurve",
    "auc_roc_multilabel",
    "roc_curve",
    "roc_curve_band",
]


def auc_roc(
    pred: Sequence[Any] | np.ndarray,
    target: Sequence[Any] | np.ndarray,
    sample_weight: Sequence[float] | np.ndarray | None = None,
    pos_class_index: int = -1,
    ignore_index: int | None = None,
    max_fpr: float | None = None,
    pos_label: Any = None,
) -> float:
    """ROC AUC of one class against the rest (sklearn ``roc_auc_score``); NaN with a warning when one class is absent.

    Inputs follow :func:`binary_scores`: with one score per sample, targets other than 0/1 need ``pos_label``.
    Samples whose target is ``ignore_index`` are left out.

    >>> auc_roc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    >>> auc_roc([0.1, 0.4, 0.35, 0.8], ["benign", "benign", "malignant", "malignant"], pos_label="malignant")
    0.75
    """
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(-1)
    if ignore_index is None:
        scores, positive = finite_binary_scores(pred, target, pos_class_index, pos_label)
    else:
        kept = np.flatnonzero(score_array(target).reshape(-1) != ignore_index)
        try:
            scores, positive = finite_binary_scores(
                score_array(pred)[kept], score_array(target)[kept], pos_class_index, pos_label
            )
        except InputError as error:
            raise error.at_rows(kept) from None
        weights = None if weights is None else weights[kept]
    if positive.all() or not positive.any():
        return undefined(
            f"ROC AUC is undefined with only {'positive' if positive.any() else 'negative'} samples "
            f"({len(positive)} samples)"
        )
    return float(sk_metrics.roc_auc_score(positive, scores, sample_weight=weights, max_fpr=max_fpr))


def auc_roc_resampled(
    scores: np.ndarray, positive: np.ndarray, rows: np.ndarray, groups: tuple[np.ndarray, int] | None = None
) -> np.ndarray:
    """AUC of every resampling at once: ``rows[r]`` holds positions into ``scores``; returns one AUC per row.

    Equal to ``roc_auc_score(positive[row], scores[row])`` per row (ties count one half), computed as a
    Mann-Whitney statistic from the per-group counts of :func:`grouped_class_counts`. A row with a single class
    present gives NaN.
    """
    result = np.empty(len(rows))
    for first, counts in grouped_class_counts(scores, positive, rows, groups):
        neg_groups, pos_groups = counts[:, :, 0], counts[:, :, 1]
        negatives_below = np.cumsum(neg_groups, axis=1) - neg_groups
        numerator = (pos_groups * (negatives_below + 0.5 * neg_groups)).sum(axis=1)
        denominator = pos_groups.sum(axis=1) * neg_groups.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            result[first : first + len(counts)] = np.where(denominator > 0, numerator / denominator, np.nan)
    return result


class MetricAUCROC(RankMetric):
    """ROC AUC (FuseMedML's ``MetricAUCROC``): binary, or one-vs-rest per class with ``macro_avg``.

    ``pred`` is a key holding a probability per sample (binary) or a vector of class scores; ``target`` holds
    class indices. Without ``class_names`` and with vectors, the last column is the positive class. Binary targets
    other than 0/1 (1/2, text) need ``pos_label``, the label of the class whose probability ``pred`` holds.
    Bootstraps (``CI``) of this metric are computed for all resamplings at once.

    >>> import numpy as np
    >>> metric = MetricAUCROC(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": np.array([0.1, 0.4, 0.35, 0.8]), "target": [0, 0, 1, 1]})
    >>> metric.eval()
    0.75
    """

    def __init__(
        self,
        pred: str,
        target: str,
        class_names: Sequence[str] | None = None,
        max_fpr: float | None = None,
        pos_label: Any = None,
        **kwargs: Any,
    ) -> None:
        # bound, not routed: a text pos_label would otherwise be read as a key to collect
        metric_func = functools.partial(auc_roc, pos_label=pos_label)
        super().__init__(
            pred=pred, target=target, metric_func=metric_func, class_names=class_names, max_fpr=max_fpr, **kwargs
        )
        self._max_fpr = max_fpr
        self._pos_label = pos_label

    def eval_resampled(self, results: Mapping[str, Any] | None, ids: np.ndarray, rows: np.ndarray) -> list[Any]:
        arguments = self._extract_arguments(results, ids)
        plain = set(arguments) <= {"pred", "target"} and self._max_fpr is None
        if not plain:  # sample weights, ignore_index, partial AUC: evaluate row by row
            return super().eval_resampled(results, ids, rows)
        pred, target = arguments["pred"], arguments["target"]

        def inputs(pos_class_index: int) -> tuple[np.ndarray, np.ndarray]:
            return finite_binary_scores(pred, target, pos_class_index, self._pos_label)

        return self._resampled_per_class(ids, rows, inputs, auc_roc_resampled, "ROC AUC")


MULTILABEL_AVERAGES = ("micro", "macro", "weighted", "samples")


_BAND_GRID = np.linspace(0.0, 1.0, 101)


def roc_curve(
    pred: ArrayLike,
    target: ArrayLike,
    class_names: Sequence[str | None] | None = None,
    sample_weight: ArrayLike | None = None,
    output_filename: str | os.PathLike[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """One-vs-rest ROC curves ``{class name: {"fpr", "tpr", "auc"}}`` (sklearn ``roc_curve``).

    Without ``class_names`` the curve of the positive class (class 1 of scalar probabilities, the last column of
    score vectors) is returned under ``"Positive"``, as FuseMedML does; a ``None`` name skips that class. With
    ``output_filename`` (FuseMedML's fifth argument) the curves are also drawn there
    (:func:`fuse.eval.plot_roc_curves`, needs matplotlib).

    >>> curves = roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    >>> curves["Positive"]["auc"], curves["Positive"]["tpr"].tolist()
    (0.75, [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(-1)
    results: dict[str, dict[str, Any]] = {}
    for column, name in curve_classes(class_names):
        scores, positive = curve_scores(pred, target, column, class_names)
        if positive.all() or not positive.any():
            raise ValueError(
                f"the ROC curve of class {name!r} needs positive and negative samples; the target has only "
                f"{'positives' if positive.any() else 'negatives'} for it"
            )
        fpr, tpr, thresholds = sk_metrics.roc_curve(positive, scores, sample_weight=weights)
        results[name] = {"fpr": fpr, "tpr": tpr, "thresholds": thresholds, "auc": float(sk_metrics.auc(fpr, tpr))}
    if output_filename is not None:
        from fuse.eval.plots._curves import plot_roc_curves

        plot_roc_curves(results, output_filename)
    return results


def roc_curve_band(
    pred: ArrayLike,
    target: ArrayLike,
    class_names: Sequence[str | None] | None = None,
    num_of_bootstraps: int = 200,
    rnd_seed: int = 1234,
    conf_interval: float = 95,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Pointwise bootstrap confidence bands of ROC curves: ``{class name: (fpr_grid, tpr_lower, tpr_upper)}``.

    Resamplings are stratified by the target and drawn as ``CI`` draws them; each resampled curve is
    interpolated on a grid of 101 false-positive rates and the band holds the percentiles of the TPRs.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> target = rng.integers(0, 2, 200)
    >>> grid, lower, upper = roc_curve_band(rng.random(200) + target, target, num_of_bootstraps=50)["Positive"]
    >>> len(grid), bool(np.all(lower <= upper))
    (101, True)
    """
    check_bootstrap_settings(num_of_bootstraps, conf_interval)
    target_array = np.asarray(target).reshape(-1)
    alpha = (100 - conf_interval) / 2
    bands = {}
    for column, name in curve_classes(class_names):
        scores, positive = curve_scores(pred, target_array, column, class_names)
        curves = []
        for rows in bootstrap_rows(target_array, num_of_bootstraps, rnd_seed):
            for row in rows:
                fpr, tpr, _ = sk_metrics.roc_curve(positive[row], scores[row])
                curves.append(np.interp(_BAND_GRID, fpr, tpr))
        stacked = np.stack(curves)
        bands[name] = (
            _BAND_GRID.copy(),
            np.percentile(stacked, alpha, axis=0),
            np.percentile(stacked, 100 - alpha, axis=0),
        )
    return bands


def auc_roc_multilabel(
    pred: ArrayLike,
    target: ArrayLike,
    sample_weight: ArrayLike | None = None,
    average: str = "micro",
    max_fpr: float | None = None,
) -> float:
    """Multi-label ROC AUC (sklearn ``roc_auc_score``): ``pred`` and ``target`` hold one vector per sample with a
    score / a 0-1 label per label.

    Undefined (NaN with one ``UndefinedMetricWarning`` naming the labels or samples) where an AUC it averages has one
    class: ``"micro"``, every value of the target the same; ``"macro"``, a label without positives or without
    negatives; ``"weighted"``, no positive at all or a label with only positives (labels without positives weigh 0,
    as in sklearn, which returns 0.0 when no label has a positive); ``"samples"``, a sample whose labels are all 0 or
    all 1.

    >>> auc_roc_multilabel([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6], [0.1, 0.3]], [[1, 0], [0, 1], [1, 1], [0, 0]])
    1.0
    """
    _check_average(average)
    scores, labels = _matrix(pred, "pred"), _matrix(target, "target")
    if scores.shape != labels.shape:
        raise ValueError(f"pred has shape {scores.shape} but target has shape {labels.shape}; one vector per sample")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"multi-label targets must be 0/1 vectors, got values {np.unique(labels)[:5].tolist()}")
    cause = _multilabel_undefined(labels, average)
    if cause is not None:
        return undefined(f"multi-label ROC AUC (average={average!r}) is undefined: {cause}")
    with warnings.catch_warnings():
        # a label with one class and no weight in the average ("weighted") or pooled with the others ("micro")
        warnings.simplefilter("ignore", sk_exceptions.UndefinedMetricWarning)
        return float(
            sk_metrics.roc_auc_score(labels, scores, sample_weight=sample_weight, average=average, max_fpr=max_fpr)
        )


def _check_average(average: str) -> None:
    if average not in MULTILABEL_AVERAGES:
        raise ValueError(f"average must be one of {MULTILABEL_AVERAGES}, got {average!r}")


def _multilabel_undefined(labels: np.ndarray, average: str) -> str | None:
    """Why the multi-label AUC of 0/1 ``labels`` ``(samples, labels)`` is undefined with ``average``, or ``None``."""
    positives, count = labels.sum(axis=0), len(labels)
    if average == "micro":
        pooled = labels.sum()
        return f"every target value is {int(pooled > 0)}" if pooled in (0, labels.size) else None
    if average == "samples":
        per_sample = labels.sum(axis=1)
        rows = np.flatnonzero((per_sample == 0) | (per_sample == labels.shape[1])).tolist()
        return f"samples (rows) {_first(rows)} have labels all 0 or all 1" if rows else None
    if average == "weighted" and not positives.any():
        return "no label has a positive sample (every label weighs 0)"
    constant = positives == count if average == "weighted" else (positives == 0) | (positives == count)
    columns = np.flatnonzero(constant).tolist()
    return f"labels (columns) {_first(columns)} have only one class among {count} samples" if columns else None


def _first(items: list[int], shown: int = 10) -> str:
    return f"{items[:shown]}{f' and {len(items) - shown} more' if len(items) > shown else ''}"


def _matrix(values: ArrayLike, what: str) -> np.ndarray:
    array = np.stack(list(values)) if isinstance(values, np.ndarray) and values.dtype == object else np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{what} must hold one vector per sample, got an array of shape {array.shape}")
    return array


class MetricROCCurve(CurveMetric):
    """ROC curves (FuseMedML's ``MetricROCCurve``): ``{class name: {"fpr", "tpr", "thresholds", "auc"}}``.

    With ``output_filename`` the curves are drawn into that image (needs the ``plot`` extra); with
    ``ci_bootstraps`` a pointwise bootstrap band is drawn around each curve and returned under ``"band"``.

    >>> import numpy as np
    >>> metric = MetricROCCurve(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": np.array([0.1, 0.4, 0.35, 0.8]), "target": [0, 0, 1, 1]})
    >>> metric.eval()["Positive"]["auc"]
    0.75
    """

    def __init__(
        self,
        pred: str,
        target: str,
        output_filename: str | Path | None = None,
        class_names: Sequence[str | None] | None = None,
        sample_weight: str | None = None,
        ci_bootstraps: int | None = None,
        rnd_seed: int = 1234,
        **kwargs: Any,
    ) -> None:
        if ci_bootstraps is not None:
            check_bootstrap_settings(ci_bootstraps, num_name="ci_bootstraps (None: no band)")
        super().__init__(pred, target, output_filename, class_names, sample_weight, **kwargs)
        self._ci_bootstraps = ci_bootstraps
        self._rnd_seed = rnd_seed

    def _curves(self, pred: Any, target: Any, sample_weight: Any = None) -> dict[str, Any]:
        curves: dict[str, Any] = roc_curve(pred, target, self._class_names, sample_weight)
        bands = None
        if self._ci_bootstraps is not None:
            bands = roc_curve_band(pred, target, self._class_names, self._ci_bootstraps, self._rnd_seed)
            for name, (grid, lower, upper) in bands.items():
                curves[name]["band"] = {"fpr": grid, "tpr_lower": lower, "tpr_upper": upper}
        if self._output_filename is not None:
            from fuse.eval.plots._curves import plot_roc_curves

            plot_roc_curves(curves, self._output_filename, ci_bands=bands)
        return curves


class MetricAUCROCMultLabel(MetricDefault):
    """Multi-label ROC AUC (FuseMedML's ``MetricAUCROCMultLabel``), see :func:`auc_roc_multilabel`.

    >>> import numpy as np
    >>> metric = MetricAUCROCMultLabel(pred="pred", target="target", average="macro")
    >>> metric.collect({"id": [0, 1, 2], "pred": [np.array([0.9, 0.2]), np.array([0.1, 0.7]), np.array([0.4, 0.6])],
    ...                 "target": [np.array([1, 0]), np.array([0, 1]), np.array([0, 0])]})
    >>> metric.eval()
    1.0
    """

    def __init__(
        self,
        pred: str,
        target: str,
        max_fpr: float | None = None,
        average: str = "micro",
        sample_weight: str | None = None,
        **kwargs: Any,
    ) -> None:
        _check_average(average)
        super().__init__(
            metric_func=functools.partial(auc_roc_multilabel, average=average),  # a str kwarg would be a key
            pred=pred,
            target=target,
            sample_weight=sample_weight,
            max_fpr=max_fpr,
            **kwargs,
        )
