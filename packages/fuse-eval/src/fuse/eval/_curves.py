"""Curves and multi-label AUC: ``MetricROCCurve`` (with an optional bootstrap band), ``MetricPrecisionRecallCurve``,
``MetricAUCROCMultLabel``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fuse.eval._auc import binary_scores
from fuse.eval._bootstrap import bootstrap_rows
from fuse.eval._lazy import sk_metrics
from fuse.eval._metric_base import MetricDefault

__all__ = [
    "MetricAUCROCMultLabel",
    "MetricPrecisionRecallCurve",
    "MetricROCCurve",
    "auc_roc_multilabel",
    "precision_recall_curve",
    "roc_curve",
    "roc_curve_band",
]

ArrayLike = Sequence[Any] | np.ndarray
MULTILABEL_AVERAGES = ("micro", "macro", "weighted", "samples")
_BAND_GRID = np.linspace(0.0, 1.0, 101)


def _classes(class_names: Sequence[str | None] | None) -> list[tuple[int, str]]:
    """(column, name) of every class to draw. Without names: the positive class of a binary problem only."""
    if class_names is None:
        return [(-1, "Positive")]
    # FuseMedML's binary default is [None, "Positive"]: a None name skips that class
    return [(index, str(name)) for index, name in enumerate(class_names) if name is not None]


def _one_vs_rest(
    pred: ArrayLike, target: ArrayLike, column: int, class_names: Sequence[str | None] | None
) -> tuple[np.ndarray, np.ndarray]:
    scores, positive = binary_scores(pred, target, column)
    if class_names is not None and len(class_names) == 2 and np.asarray(pred).ndim == 1 and column == 0:
        scores = 1.0 - scores  # scalar probabilities of class 1: class 0 scores 1 - p
        positive = np.asarray(target).reshape(-1) == 0
    return scores, positive


def roc_curve(
    pred: ArrayLike,
    target: ArrayLike,
    class_names: Sequence[str | None] | None = None,
    sample_weight: ArrayLike | None = None,
) -> dict[str, dict[str, Any]]:
    """One-vs-rest ROC curves ``{class name: {"fpr", "tpr", "auc"}}`` (sklearn ``roc_curve``).

    Without ``class_names`` the curve of the positive class (class 1 of scalar probabilities, the last column of
    score vectors) is returned under ``"Positive"``, as FuseMedML does; a ``None`` name skips that class.

    >>> curves = roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    >>> curves["Positive"]["auc"], curves["Positive"]["tpr"].tolist()
    (0.75, [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(-1)
    results: dict[str, dict[str, Any]] = {}
    for column, name in _classes(class_names):
        scores, positive = _one_vs_rest(pred, target, column, class_names)
        if positive.all() or not positive.any():
            raise ValueError(
                f"the ROC curve of class {name!r} needs positive and negative samples; the target has only "
                f"{'positives' if positive.any() else 'negatives'} for it"
            )
        fpr, tpr, thresholds = sk_metrics.roc_curve(positive, scores, sample_weight=weights)
        results[name] = {"fpr": fpr, "tpr": tpr, "thresholds": thresholds, "auc": float(sk_metrics.auc(fpr, tpr))}
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
    if not 0 < conf_interval < 100:
        raise ValueError(f"conf_interval is a percentage in (0, 100), got {conf_interval!r}")
    target_array = np.asarray(target).reshape(-1)
    alpha = (100 - conf_interval) / 2
    bands = {}
    for column, name in _classes(class_names):
        scores, positive = _one_vs_rest(pred, target_array, column, class_names)
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


def precision_recall_curve(
    pred: ArrayLike,
    target: ArrayLike,
    class_names: Sequence[str | None] | None = None,
    sample_weight: ArrayLike | None = None,
) -> dict[str, dict[str, Any]]:
    """One-vs-rest precision-recall curves ``{class name: {"precision", "recall", "auc"}}``; ``auc`` is the
    trapezoidal area of :func:`fuse.eval.auc_pr`. Classes are chosen as in :func:`roc_curve`.

    >>> curves = precision_recall_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    >>> round(curves["Positive"]["auc"], 4)
    0.7917
    """
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(-1)
    results: dict[str, dict[str, Any]] = {}
    for column, name in _classes(class_names):
        scores, positive = _one_vs_rest(pred, target, column, class_names)
        if not positive.any():
            raise ValueError(
                f"the precision-recall curve of class {name!r} needs positive samples; the target has none"
            )
        precision, recall, thresholds = sk_metrics.precision_recall_curve(positive, scores, sample_weight=weights)
        results[name] = {
            "precision": precision,
            "recall": recall,
            "thresholds": thresholds,
            "auc": float(sk_metrics.auc(recall, precision)),
        }
    return results


def auc_roc_multilabel(
    pred: ArrayLike,
    target: ArrayLike,
    sample_weight: ArrayLike | None = None,
    average: str = "micro",
    max_fpr: float | None = None,
) -> float:
    """Multi-label ROC AUC (sklearn ``roc_auc_score``): ``pred`` and ``target`` hold one vector per sample with a
    score / a 0-1 label per label.

    >>> auc_roc_multilabel([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6], [0.1, 0.3]], [[1, 0], [0, 1], [1, 1], [0, 0]])
    1.0
    """
    if average not in MULTILABEL_AVERAGES:
        raise ValueError(f"average must be one of {MULTILABEL_AVERAGES}, got {average!r}")
    scores, labels = _matrix(pred, "pred"), _matrix(target, "target")
    if scores.shape != labels.shape:
        raise ValueError(f"pred has shape {scores.shape} but target has shape {labels.shape}; one vector per sample")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"multi-label targets must be 0/1 vectors, got values {np.unique(labels)[:5].tolist()}")
    return float(
        sk_metrics.roc_auc_score(labels, scores, sample_weight=sample_weight, average=average, max_fpr=max_fpr)
    )


def _matrix(values: ArrayLike, what: str) -> np.ndarray:
    array = np.stack(list(values)) if isinstance(values, np.ndarray) and values.dtype == object else np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{what} must hold one vector per sample, got an array of shape {array.shape}")
    return array


class MetricROCCurve(MetricDefault):
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
        if ci_bootstraps is not None and ci_bootstraps < 1:
            raise ValueError(f"ci_bootstraps must be None or >= 1, got {ci_bootstraps!r}")
        super().__init__(metric_func=self._curves, pred=pred, target=target, sample_weight=sample_weight, **kwargs)
        self._output_filename = output_filename
        self._class_names = class_names
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
            from fuse.eval._plots import plot_roc_curves

            plot_roc_curves(curves, self._output_filename, ci_bands=bands)
        return curves


class MetricPrecisionRecallCurve(MetricDefault):
    """Precision-recall curves ``{class name: {"precision", "recall", "thresholds", "auc"}}``, drawn into
    ``output_filename`` when given (``plot`` extra). Classes as in :class:`MetricROCCurve`.

    >>> import numpy as np
    >>> metric = MetricPrecisionRecallCurve(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": np.array([0.1, 0.4, 0.35, 0.8]), "target": [0, 0, 1, 1]})
    >>> metric.eval()["Positive"]["recall"].tolist()
    [1.0, 1.0, 0.5, 0.5, 0.0]
    """

    def __init__(
        self,
        pred: str,
        target: str,
        output_filename: str | Path | None = None,
        class_names: Sequence[str | None] | None = None,
        sample_weight: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(metric_func=self._curves, pred=pred, target=target, sample_weight=sample_weight, **kwargs)
        self._output_filename = output_filename
        self._class_names = class_names

    def _curves(self, pred: Any, target: Any, sample_weight: Any = None) -> dict[str, Any]:
        curves = precision_recall_curve(pred, target, self._class_names, sample_weight)
        if self._output_filename is not None:
            from fuse.eval._plots import plot_precision_recall_curves

            plot_precision_recall_curves(curves, self._output_filename)
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
        if average not in MULTILABEL_AVERAGES:
            raise ValueError(f"average must be one of {MULTILABEL_AVERAGES}, got {average!r}")
        super().__init__(
            metric_func=functools.partial(auc_roc_multilabel, average=average),  # a str kwarg would be a key
            pred=pred,
            target=target,
            sample_weight=sample_weight,
            max_fpr=max_fpr,
            **kwargs,
        )
