"""Confusion counts: one-vs-rest confusion metrics (also of many resamplings at once) and the multi-class confusion
matrix.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._inputs import binary_positive, class_indices, class_labels, is_number
from fuse.eval.framework._lazy import sk_metrics
from fuse.eval.framework._metric_base import MetricDefault
from fuse.eval.framework._multiclass import MetricMultiClassDefault
from fuse.eval.framework._warnings import UndefinedMetricWarning, undefined, user_stacklevel
from fuse.eval.metrics.classification._common import _pred_kind, _pred_labels, _target_labels, _weights
from fuse.eval.metrics.classification._thresholds import (
    OperationPoint,
    _check_operation_point,
    _operation_point_argument,
    convert_probabilities_to_class,
)
from fuse.eval.resampling._proportion import confusion_proportion

__all__ = [
    "MetricConfusion",
    "MetricConfusionMatrix",
    "confusion_metrics",
    "confusion_metrics_resampled",
    "confusion_matrix",
    "CONFUSION_METRICS",
]


CONFUSION_METRICS: tuple[str, ...] = (
    "sensitivity",
    "recall",
    "tpr",
    "specificity",
    "selectivity",
    "tnr",
    "precision",
    "ppv",
    "npv",
    "accuracy",
    "f1",
    "matrix",
)


def _one_vs_rest(
    pred: ArrayLike, target: ArrayLike, pos_class_index: int, operation_point: OperationPoint, pos_label: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (is class ``pos_class_index``, predicted as that class) per sample, honouring ``operation_point``."""
    kind, array = _pred_kind(pred)
    if kind == "vectors":
        if pos_label is not None:
            raise ValueError(
                f"pos_label={pos_label!r} applies to one probability per sample; with class-score vectors the "
                "target holds class indices and pos_class_index (or class_names) picks the class"
            )
        column = pos_class_index if pos_class_index >= 0 else array.shape[1] + pos_class_index
        if not 0 <= column < array.shape[1]:
            raise ValueError(f"pos_class_index {pos_class_index} is out of range for {array.shape[1]} class scores")
        truth = class_indices(target, array.shape[1]) == column
        if is_number(operation_point):
            return truth, np.asarray(array[:, column] > operation_point)
        return truth, np.asarray(convert_probabilities_to_class(array, operation_point) == column)
    if kind == "probabilities":
        # probabilities of class 1 describe two classes: 0 and 1 (-1 and -2 count from the end, as for vectors)
        index = pos_class_index + 2 if pos_class_index < 0 else pos_class_index
        if index not in (0, 1):
            raise ValueError(
                f"pos_class_index {pos_class_index} is out of range: pred holds one probability (of class 1) per "
                "sample, so the classes are 0 and 1"
            )
        positive = binary_positive(target, pos_label)
        threshold = 0.5 if operation_point is None else operation_point
        called = convert_probabilities_to_class(array, threshold) == index
        return (positive if index == 1 else ~positive), np.asarray(called)
    if pos_label is not None:
        raise ValueError(
            f"pos_label={pos_label!r} applies to one probability per sample; pred holds class labels, compared with "
            "the target as class indices (pos_class_index picks the class)"
        )
    return class_labels(target) == pos_class_index, np.asarray(array.astype(np.int64) == pos_class_index)


def confusion_metrics(
    pred: ArrayLike,
    target: ArrayLike,
    pos_class_index: int = 1,
    metrics: Sequence[str] = ("sensitivity",),
    sample_weight: ArrayLike | None = None,
    *,
    operation_point: OperationPoint = None,
    pos_label: Any = None,
) -> dict[str, float]:
    """Metrics of the one-vs-rest confusion counts of class ``pos_class_index``.

    The positional arguments are FuseMedML's (``pred, target, pos_class_index, metrics, sample_weight``);
    ``operation_point`` and ``pos_label`` are keyword-only. ``metrics`` defaults to ``("sensitivity",)`` (FuseMedML's
    library function defaulted to no metrics and returned ``{}``).

    ``sensitivity``/``recall``/``tpr`` = tp/(tp+fn); ``specificity``/``selectivity``/``tnr`` = tn/(tn+fp);
    ``precision``/``ppv`` = tp/(tp+fp), 0 when nothing is predicted positive (FuseMedML); ``npv`` = tn/(tn+fn);
    ``accuracy`` = (tp+tn)/all (one vs rest: with more than two classes it is not the multi-class accuracy);
    ``f1`` = 2tp/(2tp+fp+fn);
    ``matrix`` adds ``tp``, ``fn``, ``fp``, ``tn``. Other undefined ratios are NaN with a warning.

    Predictions: class labels are compared with ``pos_class_index`` directly; scalar probabilities of class 1 mean
    class 1 iff ``p > operation_point`` (0.5 by default); score vectors are argmax-ed, or with a float
    ``operation_point`` the class is predicted iff its column is ``> operation_point`` (one vs rest), or with
    ``[(cls_idx, thr), ...]`` converted as in :func:`convert_probabilities_to_class`. Targets of score vectors are
    column indices; targets of probabilities of class 1 are 0/1, or two labels with ``pos_label`` naming class 1.

    >>> confusion_metrics([0.2, 0.7, 0.45, 0.9], [0, 1, 1, 0], metrics=("sensitivity", "specificity"))
    {'sensitivity': 0.5, 'specificity': 0.5}
    >>> confusion_metrics([0.2, 0.7, 0.45, 0.9], [0, 1, 1, 0], metrics=("sensitivity",), operation_point=0.4)
    {'sensitivity': 1.0}
    """
    truth, predicted, weights = _confusion_inputs(
        pred, target, pos_class_index, metrics, operation_point, sample_weight, pos_label
    )
    bins = np.bincount(truth * 2 + predicted, weights=weights, minlength=4)
    counts = bins if weights is not None else bins.astype(np.int64)
    results = _metrics_from_counts(counts[None, :], metrics)
    for name, values in results.items():
        if np.isnan(values[0]):
            undefined(f"{name} is undefined without {_UNDEFINED_WITHOUT[name]}")
    return {name: values[0].item() for name, values in results.items()}


def _confusion_inputs(
    pred: ArrayLike,
    target: ArrayLike,
    pos_class_index: int,
    metrics: Sequence[str],
    operation_point: OperationPoint,
    sample_weight: ArrayLike | None,
    pos_label: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated per-sample (is positive, is predicted positive) as 0/1 integers, and the weights."""
    unknown = [name for name in metrics if name not in CONFUSION_METRICS]
    if isinstance(metrics, str) or unknown:
        raise ValueError(f"unknown confusion metric(s) {unknown or metrics!r}; allowed: {list(CONFUSION_METRICS)}")
    _check_operation_point(operation_point)
    truth, predicted = _one_vs_rest(pred, target, pos_class_index, operation_point, pos_label)
    if len(predicted) != len(truth):
        raise ValueError(f"pred has {len(predicted)} samples but target has {len(truth)}")
    return truth.astype(np.int64), predicted.astype(np.int64), _weights(sample_weight, len(truth))


def _metrics_from_counts(counts: np.ndarray, metrics: Sequence[str]) -> dict[str, np.ndarray]:
    """Confusion metrics of many count vectors at once: ``counts[r] = (tn, fp, fn, tp)``; undefined ratios are NaN."""
    tn, fp, fn, tp = (counts[:, i] for i in range(4))

    def ratio(numerator: np.ndarray, denominator: np.ndarray, when_zero: float = np.nan) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denominator > 0, numerator / np.maximum(denominator, 1e-300), when_zero)

    results: dict[str, np.ndarray] = {}
    for name in metrics:
        if name in ("sensitivity", "recall", "tpr"):
            results[name] = ratio(tp, tp + fn)
        elif name in ("specificity", "selectivity", "tnr"):
            results[name] = ratio(tn, tn + fp)
        elif name in ("precision", "ppv"):
            results[name] = ratio(tp, tp + fp, when_zero=0.0)  # FuseMedML: 0 when nothing is called positive
        elif name == "npv":
            results[name] = ratio(tn, tn + fn)
        elif name == "accuracy":
            results[name] = ratio(tp + tn, tn + fp + fn + tp)
        elif name == "f1":
            results[name] = ratio(2 * tp, 2 * tp + fp + fn)
        else:  # "matrix"
            results.update({"tp": tp, "fn": fn, "fp": fp, "tn": tn})
    return results


_CELLS = ("tp", "fn", "fp", "tn")


_UNDEFINED_WITHOUT = {
    **dict.fromkeys(("sensitivity", "recall", "tpr"), "positive samples"),
    **dict.fromkeys(("specificity", "selectivity", "tnr"), "negative samples"),
    "npv": "negative calls",
    "accuracy": "samples",
    "f1": "positive samples or calls",
}


def confusion_metrics_resampled(
    pred: ArrayLike,
    target: ArrayLike,
    rows: np.ndarray,
    pos_class_index: int = 1,
    metrics: Sequence[str] = ("sensitivity",),
    operation_point: OperationPoint = None,
    sample_weight: ArrayLike | None = None,
    pos_label: Any = None,
) -> dict[str, np.ndarray]:
    """:func:`confusion_metrics` of every resampling at once (``rows[r]`` holds positions into the samples).

    Each sample falls in one of four confusion cells (one byte); a block of resamplings is counted with four
    vectorised comparisons (a weighted ``bincount`` over ``(row, cell)`` with sample weights). Returns ``{name: one value per row}`` (NaN where undefined, no warning: the caller warns once).
    """
    truth, predicted, weights = _confusion_inputs(
        pred, target, pos_class_index, metrics, operation_point, sample_weight, pos_label
    )
    cell = (truth * 2 + predicted).astype(np.int8)
    out: dict[str, list[np.ndarray]] = {}
    block = max(1, (1 << 22) // max(rows.shape[1], 1))
    for first in range(0, len(rows), block):
        chunk = rows[first : first + block]
        cells = cell[chunk]
        if weights is None:  # one byte per sample and four comparisons: faster than a bincount over (row, cell)
            counts = np.stack([np.count_nonzero(cells == c, axis=1) for c in range(4)], axis=1)
        else:
            flat = (cells + 4 * np.arange(len(chunk))[:, None]).ravel()
            counts = np.bincount(flat, weights=weights[chunk].ravel(), minlength=4 * len(chunk)).reshape(-1, 4)
        for name, values in _metrics_from_counts(counts, metrics).items():
            out.setdefault(name, []).append(values)
    return {name: np.concatenate(parts) for name, parts in out.items()}


def confusion_matrix(
    cls_pred: ArrayLike,
    target: ArrayLike,
    class_names: Sequence[str],
    sample_weight: ArrayLike | None = None,
) -> dict[str, pd.DataFrame]:
    """``{"count": DataFrame, "percent": DataFrame}``: rows are true classes, columns predicted classes.

    ``count`` has an extra ``"total"`` column (all samples of the true class, including predictions outside
    ``class_names`` such as -1 from thresholds); ``percent`` is ``count / total`` per row (NaN rows, with a
    warning, for classes absent from ``target``).

    >>> confusion_matrix([0, 1, 1, 1], [0, 0, 1, 1], class_names=["neg", "pos"])["count"]
         neg  pos  total
    neg    1    1      2
    pos    0    2      2
    """
    truth = _target_labels(target)
    labels = _pred_labels(cls_pred, "cls_pred")
    classes = len(class_names)
    if len(labels) != len(truth):
        raise ValueError(f"cls_pred has {len(labels)} samples but target has {len(truth)}")
    outside = truth[(truth < 0) | (truth >= classes)]
    if len(outside):
        raise ValueError(
            f"target holds classes {sorted(set(outside.tolist()))} outside class_names {list(class_names)}"
        )
    weights = _weights(sample_weight, len(truth))
    counts = sk_metrics.confusion_matrix(truth, labels, labels=list(range(classes)), sample_weight=weights)
    totals = np.bincount(truth, weights=weights, minlength=classes)
    if weights is None:
        totals = totals.astype(np.int64)
    count = pd.DataFrame(counts, columns=list(class_names), index=list(class_names))
    count["total"] = totals
    if (totals == 0).any():
        absent = [name for name, total in zip(class_names, totals, strict=True) if total == 0]
        warnings.warn(
            f"confusion matrix percentages are undefined for classes absent from target ({absent}); they are NaN",
            UndefinedMetricWarning,
            stacklevel=user_stacklevel(),
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = pd.DataFrame(counts / totals[:, None], columns=list(class_names), index=list(class_names))
    return {"count": count, "percent": percent}


class MetricConfusion(MetricMultiClassDefault):
    """One-vs-rest confusion metrics (FuseMedML's ``MetricConfusion``) with ``operation_point`` honoured.

    ``metrics`` is a sequence of names from ``CONFUSION_METRICS``; ``operation_point`` may also be a
    ``"results:<metric>.<key>"`` reference (e.g. a :class:`MetricOperatingPoint` threshold). Without
    ``class_names``, class 1 is the positive class. See :func:`confusion_metrics`.

    >>> import numpy as np
    >>> metric = MetricConfusion(pred="pred", target="target", metrics=("sensitivity",), operation_point=0.4)
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": np.array([0.2, 0.7, 0.45, 0.9]), "target": [0, 1, 1, 0]})
    >>> metric.eval()
    {'sensitivity': 1.0}
    """

    def __init__(
        self,
        pred: str,
        target: str,
        class_names: Sequence[str] | None = None,
        metrics: Sequence[str] = ("sensitivity",),
        operation_point: OperationPoint | str = None,
        pos_label: Any = None,
        **kwargs: Any,
    ) -> None:
        names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
        unknown = [name for name in names if name not in CONFUSION_METRICS]
        if unknown:
            raise ValueError(f"unknown confusion metric(s) {unknown!r}; allowed: {list(CONFUSION_METRICS)}")
        super().__init__(
            pred=pred,
            target=target,
            metric_func=functools.partial(confusion_metrics, pos_label=pos_label),
            class_names=class_names,
            metrics=names,
            operation_point=_operation_point_argument(operation_point),
            **kwargs,
        )
        self._pos_label = pos_label

    def eval_resampled(self, results: Mapping[str, Any] | None, ids: np.ndarray, rows: np.ndarray) -> list[Any]:
        """All resamplings at once from confusion counts (one ``bincount`` per block), see
        :func:`confusion_metrics_resampled`.
        """
        arguments = self._extract_arguments(results, ids)
        classes = [1] if self._class_names is None else list(range(len(self._class_names)))
        with self.naming_inputs(ids):
            per_class = [
                confusion_metrics_resampled(rows=rows, pos_class_index=c, pos_label=self._pos_label, **arguments)
                for c in classes
            ]
        undefined = sorted({name for values in per_class for name, v in values.items() if np.isnan(v).any()})
        if undefined:
            warnings.warn(
                f"{', '.join(undefined)} undefined (a class absent) in some of {len(rows)} resamplings; they are NaN",
                UndefinedMetricWarning,
                stacklevel=user_stacklevel(),
            )
        per_row = [
            [{name: values[name][r].item() for name in values} for values in per_class] for r in range(len(rows))
        ]
        if self._class_names is None:
            return [classes_of_row[0] for classes_of_row in per_row]
        return [self.combine_classes(classes_of_row) for classes_of_row in per_row]

    def proportion_counts(self, results: Mapping[str, Any] | None, ids: Any) -> dict[str, tuple[int, int] | None]:
        """``(successes, n)`` behind each proportion of the result on ``ids`` (sensitivity ``(tp, tp + fn)``, ...;
        see :func:`fuse.eval.resampling._proportion.confusion_proportion`), ``None`` for the counts of ``"matrix"``; f1 and
        macro averages are not proportions of counts and are left out. Used by ``CI(..., ci_method="WILSON")``.
        """
        arguments = self._extract_arguments(results, ids)
        if arguments.get("sample_weight") is not None:
            raise ValueError(
                f"{type(self).__name__}: analytic proportion intervals need whole counts, but sample_weight is given; "
                "use a bootstrap ci_method"
            )
        default_class = arguments.pop("pos_class_index", 1)
        classes = (
            [(default_class, "")]
            if self._class_names is None
            else [(index, f".{name}") for index, name in enumerate(self._class_names)]
        )
        counts: dict[str, tuple[int, int] | None] = {}
        for index, suffix in classes:
            cells = confusion_metrics(**{**arguments, "metrics": ("matrix",), "pos_class_index": index})
            tn, fp, fn, tp = (int(cells[cell]) for cell in ("tn", "fp", "fn", "tp"))
            for name in arguments["metrics"]:
                if name == "matrix":  # the counts themselves: kept as they are
                    counts.update({cell + suffix: None for cell in _CELLS})
                elif (pair := confusion_proportion(name, tn=tn, fp=fp, fn=fn, tp=tp)) is not None:
                    counts[name + suffix] = pair
        return counts


class MetricConfusionMatrix(MetricDefault):
    """The multi-class confusion matrix (FuseMedML's ``MetricConfusionMatrix``) as DataFrames. See
    :func:`confusion_matrix`.

    With ``output_filename`` the counts are also drawn as an annotated heat map (needs the ``plot`` extra).

    >>> metric = MetricConfusionMatrix(cls_pred="pred", target="target", class_names=["a", "b"])
    >>> metric.collect({"id": [0, 1, 2], "pred": [0, 1, 1], "target": [0, 0, 1]})
    >>> float(metric.eval()["percent"].loc["a", "b"])
    0.5
    """

    def __init__(
        self,
        cls_pred: str,
        target: str,
        class_names: Sequence[str],
        sample_weight: str | None = None,
        output_filename: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            metric_func=functools.partial(confusion_matrix, class_names=list(class_names)),
            pred=None,
            target=target,
            cls_pred=cls_pred,
            sample_weight=sample_weight,
            **kwargs,
        )
        self._output_filename = output_filename

    def eval(self, results: Mapping[str, Any] | None = None, ids: Any = None) -> Any:
        matrices = super().eval(results, ids)
        if self._output_filename is not None:
            from fuse.eval.plots._confusion import plot_confusion_matrix

            plot_confusion_matrix(matrices["count"], self._output_filename)
        return matrices

    def eval_resampled(self, results: Mapping[str, Any] | None, ids: np.ndarray, rows: np.ndarray) -> list[Any]:
        """Every resampling, without drawing (the image shows the evaluation itself)."""
        return [MetricDefault.eval(self, results, ids[row]) for row in rows]
