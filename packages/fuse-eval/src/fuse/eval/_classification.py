"""Classification metrics: AUC-PR, accuracy, confusion-derived metrics, Brier skill score, thresholds, operating points.

FuseMedML's classification family (``MetricAUCPR``, ``MetricAccuracy``, ``MetricConfusion``, ``MetricConfusionMatrix``,
``MetricBSS``, ``MetricMCC``, ``MetricBalAccuracy``, ``MetricApplyThresholds``) with the same names, arguments and
result formats, plus ``MetricOperatingPoint``. Predictions follow FuseMedML's conventions: a scalar per sample is the
probability of class 1, a vector per sample holds class scores, and an integer per sample is a class label.

Inputs are checked before any number is computed (:mod:`fuse.eval._inputs`): targets of probabilities of class 1 are
0/1 (or booleans), and any other two labels (1/2, text) need ``pos_label``, the label of the class whose probability
``pred`` holds (a function argument, and a constructor argument of the metric classes, never read as a key);
targets of score vectors are column indices; missing targets or scores and text where numbers are needed raise
naming the rows, or the key and the ids through a metric class.

Fixed on the way (reference §8.2): ``MetricConfusion`` honours ``operation_point`` and never argmaxes a column of
scalar probabilities as if it were one vector; ``MetricApplyThresholds`` passes integer class labels through
unchanged instead of collapsing every class >= 1 into 1.
"""

from __future__ import annotations

import functools
import numbers
import os
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from fuse.eval._auc import auc_pr_resampled, finite_binary_scores, score_groups
from fuse.eval._inputs import InputError, binary_positive, class_indices, class_labels, finite_scores
from fuse.eval._lazy import sk_metrics
from fuse.eval._metric_base import RESULTS_PREFIX, MetricDefault
from fuse.eval._multiclass import MetricMultiClassDefault
from fuse.eval._per_sample import PerSampleData
from fuse.eval._proportion import confusion_proportion
from fuse.eval._warnings import UndefinedMetricWarning

__all__ = [
    # metrics
    "MetricAUCPR",
    "MetricAccuracy",
    "MetricConfusion",
    "MetricConfusionMatrix",
    "MetricBSS",
    "MetricMCC",
    "MetricBalAccuracy",
    "MetricApplyThresholds",
    "MetricOperatingPoint",
    # the functions they call
    "auc_pr",
    "accuracy",
    "confusion_metrics",
    "confusion_metrics_resampled",
    "confusion_matrix",
    "multi_class_bs",
    "multi_class_bss",
    "mcc",
    "balanced_accuracy",
    "convert_probabilities_to_class",
    "apply_thresholds",
    "operating_point",
    # constants
    "CONFUSION_METRICS",
    "OPERATING_POINT_METHODS",
]

ArrayLike = Sequence[Any] | np.ndarray
# None (argmax), a threshold, or FuseMedML's [(class index or "argmax", threshold), ...]
OperationPoint = float | Sequence[tuple[int | str, float | None]] | None

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
OPERATING_POINT_METHODS: tuple[str, ...] = ("youden", "sensitivity_at_specificity", "specificity_at_sensitivity")


# ---------------------------------------------------------------------------------------------------------------------
# input conventions


def _as_array(values: ArrayLike) -> np.ndarray:
    """Per-sample values as one array; an object column of equal-shape vectors is stacked to ``(n, C)``."""
    if isinstance(values, np.ndarray) and values.dtype == object:
        return np.stack([np.asarray(v) for v in values]) if len(values) else np.empty(0)
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:  # a vector of length 1 is a scalar (FuseMedML)
        return array[:, 0]
    return array


def _is_integer_valued(array: np.ndarray) -> bool:
    if array.dtype == bool or np.issubdtype(array.dtype, np.integer):
        return True
    return bool(
        np.issubdtype(array.dtype, np.floating) and np.all(np.isfinite(array)) and np.all(array == np.round(array))
    )


def _is_probability(array: np.ndarray) -> bool:
    return bool(np.issubdtype(array.dtype, np.floating) and np.all((array >= 0) & (array <= 1)))


def _scalar_kind(array: np.ndarray, what: str) -> str:
    """For a 1-d ``pred``: ``"labels"`` (integers, or integer-valued floats outside [0, 1]) or ``"probabilities"``."""
    if array.dtype == bool or np.issubdtype(array.dtype, np.integer):
        return "labels"
    if _is_probability(array):
        return "probabilities"
    if _is_integer_valued(array):
        return "labels"
    bad = array[~(np.isfinite(array) & (((array >= 0) & (array <= 1)) | (array == np.round(array))))]
    raise ValueError(
        f"{what} must hold class labels (integers), probabilities of class 1 (in [0, 1]) or class-score vectors; "
        f"got scalars such as {bad[:3].tolist()}"
    )


def _pred_kind(pred: ArrayLike, what: str = "pred") -> tuple[str, np.ndarray]:
    """``("vectors" | "labels" | "probabilities", array)`` of per-sample predictions; text, missing and infinite
    values raise naming their rows.
    """
    array = _as_array(pred)
    finite_scores(array, what)
    if array.ndim == 2:
        return "vectors", array.astype(float)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one value or one vector per sample, got an array of shape {array.shape}")
    return _scalar_kind(array, what), array


def _pred_labels(pred: ArrayLike, what: str = "pred") -> np.ndarray:
    """FuseMedML's class-prediction rule: vectors are argmax-ed, labels are kept, probabilities of class 1 become
    ``p > 0.5`` (the argmax of ``[1 - p, p]``).
    """
    kind, array = _pred_kind(pred, what)
    if kind == "vectors":
        return _argmax(array)
    if kind == "labels":
        return array.astype(np.int64)
    return (array > 0.5).astype(np.int64)


def _target_labels(target: ArrayLike) -> np.ndarray:
    """Targets as class indices: one-hot vectors are argmax-ed, integer(-valued) labels are kept; missing values and
    text raise naming their rows.
    """
    return class_labels(target)


def _class_pairs(pred: ArrayLike, target: ArrayLike, pos_label: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class, true class) per sample for label metrics, with the input rules of the binary metrics:
    targets of score vectors are column indices; targets of probabilities of class 1 are 0/1, or two labels with
    ``pos_label`` naming class 1.
    """
    kind, array = _pred_kind(pred)
    if pos_label is not None and kind != "probabilities":
        raise ValueError(
            f"pos_label={pos_label!r} applies to one probability per sample; pred holds class {kind}, compared with "
            "the target as class indices"
        )
    if kind == "vectors":
        return _argmax(array), class_indices(target, array.shape[1])
    if kind == "labels":
        return array.astype(np.int64), class_labels(target)
    return (array > 0.5).astype(np.int64), binary_positive(target, pos_label).astype(np.int64)


def _weights(sample_weight: ArrayLike | None, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=float).reshape(-1)
    if len(weights) != n:
        raise ValueError(f"sample_weight has {len(weights)} values for {n} samples")
    return weights


def _undefined(message: str) -> float:
    warnings.warn(f"{message}; returning NaN", UndefinedMetricWarning, stacklevel=3)
    return float("nan")


def _check_operation_point(operation_point: Any) -> None:
    """Raise ``ValueError`` unless ``operation_point`` is ``None``, a number or ``[(cls_idx | "argmax", thr), ...]``."""
    if operation_point is None or _is_number(operation_point):
        return
    is_sequence = isinstance(operation_point, Sequence) and not isinstance(operation_point, str)
    if not is_sequence:
        raise ValueError(
            f"operation_point must be None (argmax), a float threshold or a sequence of (class index or 'argmax', "
            f"threshold) pairs, got {operation_point!r}"
        )
    for entry in operation_point:
        valid = (
            isinstance(entry, Sequence)
            and not isinstance(entry, str)
            and len(entry) == 2
            and (entry[0] == "argmax" or (isinstance(entry[0], numbers.Integral) and not isinstance(entry[0], bool)))
            and (_is_number(entry[1]) or (entry[0] == "argmax" and entry[1] is None))
        )
        if not valid or (not isinstance(entry[0], str) and int(entry[0]) < 0):
            raise ValueError(
                f"operation_point entries must be (class index >= 0 or 'argmax', threshold) pairs, got {entry!r} "
                f"in {operation_point!r}"
            )


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _means_argmax(operation_point: Any) -> bool:
    """``None`` or an empty sequence (FuseMedML's default ``()``): argmax."""
    return operation_point is None or (not _is_number(operation_point) and len(operation_point) == 0)


def _argmax(array: np.ndarray) -> np.ndarray:
    labels: np.ndarray = np.argmax(array, axis=1).astype(np.int64)
    return labels


def _operation_point_argument(operation_point: Any) -> Any:
    """Validate a metric's ``operation_point`` argument: a value, or a ``"results:..."`` reference read at eval."""
    if isinstance(operation_point, str):
        if not operation_point.startswith(RESULTS_PREFIX):
            raise ValueError(
                f"operation_point {operation_point!r} is a string: only '{RESULTS_PREFIX}<metric>.<key>' references "
                "are allowed (None, a float or (class index, threshold) pairs otherwise)"
            )
        return operation_point
    _check_operation_point(operation_point)
    if _means_argmax(operation_point):
        return None  # FuseMedML's default, an empty tuple, means argmax
    return operation_point


# ---------------------------------------------------------------------------------------------------------------------
# functions


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
    if positive.all() or not positive.any():
        return _undefined(
            f"AUC-PR is undefined with only {'positive' if positive.any() else 'negative'} samples ({len(positive)})"
        )
    precision, recall, _ = sk_metrics.precision_recall_curve(positive, scores, sample_weight=weights)
    return float(sk_metrics.auc(recall, precision))


def _auc_pr_inputs(
    pred: ArrayLike, target: ArrayLike, pos_class_index: int, pos_label: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, is positive) of one class against the rest; class 0 of scalar probabilities scores ``1 - p``."""
    scores, positive = finite_binary_scores(pred, target, pos_class_index, pos_label)
    if pos_class_index == 0 and _as_array(pred).ndim == 1:
        scores, positive = 1.0 - scores, ~positive
    return scores, positive


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
    """Matthews correlation coefficient (sklearn ``matthews_corrcoef``; 0.0 when it is 0/0, as sklearn defines it),
    with the class-prediction rule of :func:`accuracy`.

    >>> mcc([1, 0, 1, 1], [1, 0, 0, 1])
    0.5773502691896258
    """
    labels, truth = _class_pairs(pred, target, pos_label)
    return float(sk_metrics.matthews_corrcoef(truth, labels, sample_weight=_weights(sample_weight, len(truth))))


def balanced_accuracy(
    pred: ArrayLike, target: ArrayLike, sample_weight: ArrayLike | None = None, pos_label: Any = None
) -> float:
    """Balanced accuracy (sklearn ``balanced_accuracy_score``) with the class-prediction rule of :func:`accuracy`.

    >>> balanced_accuracy([1, 0, 1, 1], [1, 0, 0, 1])
    0.75
    """
    labels, truth = _class_pairs(pred, target, pos_label)
    weights = _weights(sample_weight, len(truth))
    return float(sk_metrics.balanced_accuracy_score(truth, labels, sample_weight=weights))


def convert_probabilities_to_class(pred: ArrayLike, operation_point: OperationPoint = None) -> np.ndarray:
    """Class predictions (int64) from per-sample predictions, FuseMedML's ``convert_probabilities_to_class``.

    - class labels (integers) pass through unchanged, whatever ``operation_point`` is;
    - scalar probabilities of class 1 are treated as ``[1 - p, p]``;
    - ``operation_point=None``: argmax;
    - a float: binary threshold, class 1 iff ``p[1] > operation_point`` (strict);
    - ``[(cls_idx, thr), ...]``: the first class whose probability is ``> thr`` wins, else -1; an ``("argmax", _)``
      entry gives every sample still undecided its argmax class (its threshold is ignored).

    >>> convert_probabilities_to_class([0.2, 0.7, 0.5], 0.4).tolist()
    [0, 1, 1]
    >>> convert_probabilities_to_class([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]], [(2, 0.5), (1, 0.25)]).tolist()
    [1, 2]
    >>> convert_probabilities_to_class([0, 3, 2], 0.5).tolist()
    [0, 3, 2]
    """
    _check_operation_point(operation_point)
    array = _as_array(pred)
    finite_scores(array)  # an argmax or a threshold of NaN would be a silent class
    if array.ndim == 1:
        if _scalar_kind(array, "pred") == "labels":
            return array.astype(np.int64)
        array = np.stack((1.0 - array, array), axis=-1)
    if array.ndim != 2:
        raise ValueError(f"pred must be one value or one vector per sample, got an array of shape {array.shape}")
    if _means_argmax(operation_point):
        return _argmax(array)
    if _is_number(operation_point):
        if array.shape[1] != 2:
            raise ValueError(
                f"a single threshold (operation_point={operation_point!r}) needs binary predictions, got "
                f"{array.shape[1]} class scores per sample; use [(class index, threshold), ...] instead"
            )
        return (array[:, 1] > operation_point).astype(np.int64)
    pairs = cast(Sequence[tuple[int | str, float | None]], operation_point)
    output = np.full(len(array), -1, dtype=np.int64)
    for cls_idx, threshold in pairs:
        undecided = output == -1
        if cls_idx == "argmax":
            output[undecided] = np.argmax(array[undecided], axis=1)
            continue
        column = int(cls_idx)
        if column >= array.shape[1]:
            raise ValueError(f"operation_point class index {cls_idx!r} is out of range for {array.shape[1]} classes")
        output[undecided & (array[:, column] > threshold)] = column
    return output


def apply_thresholds(
    pred: ArrayLike,
    ids: Sequence[Hashable] | np.ndarray | None,
    operation_point: OperationPoint = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, PerSampleData]:
    """``{"cls_pred": PerSampleData}``: :func:`convert_probabilities_to_class` tied to the sample ids.

    With ``class_names``, score vectors must hold one score per class.

    >>> apply_thresholds([0.2, 0.7], ids=["a", "b"], operation_point=0.5)["cls_pred"](["b", "a"]).tolist()
    [1, 0]
    """
    if ids is None:
        raise ValueError("apply_thresholds needs sample ids: add an 'id' key (or data.sample_id) to the data")
    array = _as_array(pred)
    if class_names is not None and array.ndim == 2 and array.shape[1] != len(class_names):
        raise ValueError(
            f"pred holds {array.shape[1]} class scores per sample but class_names has {len(class_names)}: "
            f"{list(class_names)!r}"
        )
    return {"cls_pred": PerSampleData(convert_probabilities_to_class(array, operation_point), ids)}


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
        if _is_number(operation_point):
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
    operation_point: OperationPoint = None,
    sample_weight: ArrayLike | None = None,
    pos_label: Any = None,
) -> dict[str, float]:
    """Metrics of the one-vs-rest confusion counts of class ``pos_class_index``.

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
            _undefined(f"{name} is undefined without {_UNDEFINED_WITHOUT[name]}")
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
            stacklevel=2,
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = pd.DataFrame(counts / totals[:, None], columns=list(class_names), index=list(class_names))
    return {"count": count, "percent": percent}


def _brier_inputs(
    pred: ArrayLike, target: ArrayLike, pos_label: Any, ids: Sequence[Hashable] | np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(n, C)`` probabilities (scalars of class 1 become ``[1 - p, p]``) and each sample's class index."""
    from fuse.eval._calibration import _probabilities  # the calibration metrics' check; imported here, it imports us

    finite_scores(pred)
    try:
        probabilities = _probabilities(pred, ids)
    except ValueError as error:
        raise InputError("pred", f"does not hold probabilities: {error}") from None
    if _as_array(pred).ndim == 1:
        truth = binary_positive(target, pos_label).astype(np.int64)
    elif pos_label is not None:
        raise ValueError(
            f"pos_label={pos_label!r} applies to one probability per sample; with probability vectors the target "
            "holds class indices"
        )
    else:
        truth = class_indices(target, probabilities.shape[1])
    if len(truth) != len(probabilities):
        raise ValueError(f"pred has {len(probabilities)} samples but target has {len(truth)}")
    return probabilities, truth


def multi_class_bs(
    pred: ArrayLike,
    target: ArrayLike,
    pos_label: Any = None,
    ids: Sequence[Hashable] | np.ndarray | None = None,
) -> float:
    """Multi-class Brier score ``mean_n sum_c (pred[n, c] - onehot(target)[n, c])**2``; scalar probabilities of
    class 1 are expanded to ``[1 - p, p]``.

    ``pred`` must hold probabilities (rows summing to 1, the check of :func:`fuse.eval.expected_calibration_error`);
    targets of vectors are column indices, targets of scalars are 0/1 or two labels with ``pos_label`` naming
    class 1. ``ids`` (optional) name the samples in error messages.

    >>> round(multi_class_bs([0.2, 0.6], [0, 1]), 6)
    0.2
    """
    probabilities, truth = _brier_inputs(pred, target, pos_label, ids)
    return _brier_score(probabilities, truth)


def _brier_score(probabilities: np.ndarray, truth: np.ndarray) -> float:
    one_hot = np.eye(probabilities.shape[1])[truth]
    return float(np.mean(np.sum((probabilities - one_hot) ** 2, axis=1)))


def multi_class_bss(
    pred: ArrayLike,
    target: ArrayLike,
    pos_label: Any = None,
    ids: Sequence[Hashable] | np.ndarray | None = None,
) -> float:
    """Brier skill score ``1 - BS / BS_ref``, where the reference predicts every class's prevalence in ``target``;
    NaN with a warning when ``BS_ref`` is 0 (a single class present). Inputs as in :func:`multi_class_bs`: scores
    that are not probabilities (logits) raise.

    >>> round(multi_class_bss([0.2, 0.9, 0.3, 0.6], [0, 1, 0, 1]), 6)
    0.7
    """
    probabilities, truth = _brier_inputs(pred, target, pos_label, ids)
    bs = _brier_score(probabilities, truth)
    prevalence = np.bincount(truth, minlength=probabilities.shape[1]) / len(truth)
    bs_ref = _brier_score(np.tile(prevalence, (len(truth), 1)), truth)
    if bs_ref == 0:
        return _undefined("Brier skill score is undefined when target holds a single class")
    return 1.0 - bs / bs_ref


def operating_point(
    pred: ArrayLike,
    target: ArrayLike,
    method: str = "youden",
    value: float | None = None,
    sample_weight: ArrayLike | None = None,
    pos_class_index: int = -1,
    pos_label: Any = None,
) -> dict[str, float]:
    """A binary operating point on sklearn's ``roc_curve``: ``{"threshold", "sensitivity", "specificity"}``.

    - ``"youden"``: the point maximising Youden's J = sensitivity + specificity - 1 (the highest threshold on ties);
    - ``"sensitivity_at_specificity"``: the highest sensitivity among points with specificity >= ``value``
      (the higher specificity on ties);
    - ``"specificity_at_sensitivity"``: the highest specificity among points with sensitivity >= ``value``
      (the higher sensitivity on ties).

    ``threshold`` follows this package's strict rule (positive iff ``score > threshold``, as ``operation_point`` in
    :class:`MetricConfusion` and :class:`MetricApplyThresholds`): it is the next lower distinct score below the
    sklearn threshold of the chosen point, or ``-inf`` when every sample is positive. Predictions follow
    :func:`fuse.eval.auc_roc`'s conventions (targets other than 0/1 need ``pos_label``). NaN values with a warning
    when one class is absent.

    >>> operating_point([0.1, 0.4, 0.35, 0.8, 0.7], [0, 0, 1, 1, 1])
    {'threshold': 0.4, 'sensitivity': 0.6666666666666666, 'specificity': 1.0}
    """
    _check_operating_point_method(method, value)
    scores, positive = finite_binary_scores(pred, target, pos_class_index, pos_label)
    if positive.all() or not positive.any():
        undefined = _undefined(
            f"an operating point is undefined with only {'positive' if positive.any() else 'negative'} samples"
        )
        return {"threshold": undefined, "sensitivity": undefined, "specificity": undefined}
    weights = _weights(sample_weight, len(scores))
    fpr, tpr, thresholds = sk_metrics.roc_curve(positive, scores, sample_weight=weights, drop_intermediate=False)
    specificity = 1.0 - fpr
    # thresholds decrease; sklearn's point k is "score >= thresholds[k]" == "score > thresholds[k + 1]"
    strict = np.append(thresholds[1:], -np.inf)
    points = np.arange(len(fpr))
    if method == "youden":
        j = tpr - fpr
        best = int(np.flatnonzero(j == j.max())[0])
    else:
        assert value is not None
        if method == "sensitivity_at_specificity":
            primary, secondary, eligible = tpr, specificity, specificity >= value
        else:
            primary, secondary, eligible = specificity, tpr, tpr >= value
        candidates = points[eligible]
        order = np.lexsort((-secondary[candidates], -primary[candidates]))
        best = int(candidates[order[0]])
    return {"threshold": float(strict[best]), "sensitivity": float(tpr[best]), "specificity": float(specificity[best])}


def _check_operating_point_method(method: str, value: float | None) -> None:
    if method not in OPERATING_POINT_METHODS:
        raise ValueError(f"unknown operating point method {method!r}; allowed: {list(OPERATING_POINT_METHODS)}")
    if method == "youden":
        if value is not None:
            raise ValueError(f"method 'youden' takes no value, got value={value!r}")
        return
    if not _is_number(value) or not 0 <= float(value) <= 1:  # type: ignore[arg-type]
        raise ValueError(f"method {method!r} needs a value in [0, 1], got value={value!r}")


# ---------------------------------------------------------------------------------------------------------------------
# metrics


class MetricAUCPR(MetricMultiClassDefault):
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
        """All resamplings at once from per-score class counts (:func:`fuse.eval._auc.auc_pr_resampled`)."""
        arguments = self._extract_arguments(results, ids)
        if set(arguments) > {"pred", "target"}:  # sample weights: evaluate row by row
            return super().eval_resampled(results, ids, rows)
        classes = [-1] if self._class_names is None else list(range(len(self._class_names)))
        per_class = []
        for pos_class_index in classes:
            with self.naming_inputs(ids):  # checked once per bootstrap run, not once per block
                scores, positive = self.cached_for_resampling(
                    ("inputs", pos_class_index),
                    functools.partial(
                        _auc_pr_inputs, arguments["pred"], arguments["target"], pos_class_index, self._pos_label
                    ),
                )
            groups = self.cached_for_resampling(
                ("groups", pos_class_index), functools.partial(score_groups, scores, positive)
            )
            per_class.append(auc_pr_resampled(scores, positive, rows, groups))
        return self.combine_resampled(per_class, "AUC-PR")


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
                stacklevel=2,
            )
        per_row = [
            [{name: values[name][r].item() for name in values} for values in per_class] for r in range(len(rows))
        ]
        if self._class_names is None:
            return [classes_of_row[0] for classes_of_row in per_row]
        return [self.combine_classes(classes_of_row) for classes_of_row in per_row]

    def proportion_counts(self, results: Mapping[str, Any] | None, ids: Any) -> dict[str, tuple[int, int] | None]:
        """``(successes, n)`` behind each proportion of the result on ``ids`` (sensitivity ``(tp, tp + fn)``, ...;
        see :func:`fuse.eval._proportion.confusion_proportion`), ``None`` for the counts of ``"matrix"``; f1 and
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
            from fuse.eval._plots import plot_confusion_matrix

            plot_confusion_matrix(matrices["count"], self._output_filename)
        return matrices

    def eval_resampled(self, results: Mapping[str, Any] | None, ids: np.ndarray, rows: np.ndarray) -> list[Any]:
        """Every resampling, without drawing (the image shows the evaluation itself)."""
        return [MetricDefault.eval(self, results, ids[row]) for row in rows]


class MetricBSS(MetricDefault):
    """Multi-class Brier skill score (FuseMedML's ``MetricBSS``). See :func:`multi_class_bss`.

    >>> metric = MetricBSS(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": [0.2, 0.9, 0.3, 0.6], "target": [0, 1, 0, 1]})
    >>> round(metric.eval(), 6)
    0.7
    """

    def __init__(self, pred: str, target: str, pos_label: Any = None, **kwargs: Any) -> None:
        metric_func = functools.partial(multi_class_bss, pos_label=pos_label)
        super().__init__(metric_func=metric_func, pred=pred, target=target, extract_ids=True, **kwargs)


class MetricMCC(MetricDefault):
    """Matthews correlation coefficient (FuseMedML's ``MetricMCC``). See :func:`mcc`.

    >>> metric = MetricMCC(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": [1, 0, 1, 1], "target": [1, 0, 0, 1]})
    >>> round(metric.eval(), 4)
    0.5774
    """

    def __init__(
        self,
        pred: str | None = None,
        target: str | None = None,
        sample_weight: str | None = None,
        pos_label: Any = None,
        **kwargs: Any,
    ) -> None:
        metric_func = functools.partial(mcc, pos_label=pos_label)
        super().__init__(metric_func=metric_func, pred=pred, target=target, sample_weight=sample_weight, **kwargs)


class MetricBalAccuracy(MetricDefault):
    """Balanced accuracy (FuseMedML's ``MetricBalAccuracy``). See :func:`balanced_accuracy`.

    >>> metric = MetricBalAccuracy(pred="pred", target="target")
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": [1, 0, 1, 1], "target": [1, 0, 0, 1]})
    >>> metric.eval()
    0.75
    """

    def __init__(
        self,
        pred: str | None = None,
        target: str | None = None,
        sample_weight: str | None = None,
        pos_label: Any = None,
        **kwargs: Any,
    ) -> None:
        metric_func = functools.partial(balanced_accuracy, pos_label=pos_label)
        super().__init__(metric_func=metric_func, pred=pred, target=target, sample_weight=sample_weight, **kwargs)


class MetricApplyThresholds(MetricDefault):
    """Class predictions for later metrics (FuseMedML's ``MetricApplyThresholds``): ``{"cls_pred": PerSampleData}``
    aligned with the evaluated ids. Integer class labels pass through unchanged. See
    :func:`convert_probabilities_to_class` for ``operation_point``.

    >>> import numpy as np
    >>> metric = MetricApplyThresholds(pred="pred", operation_point=0.5)
    >>> metric.collect({"id": ["a", "b", "c"], "pred": np.array([0.3, 0.6, 0.9])})
    >>> metric.eval(ids=["c", "a"])["cls_pred"](["c", "a"]).tolist()
    [1, 0]
    """

    def __init__(
        self,
        pred: str,
        class_names: Sequence[str] | None = None,
        operation_point: OperationPoint | str = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            metric_func=apply_thresholds,
            pred=pred,
            target=None,
            extract_ids=True,
            class_names=list(class_names) if class_names is not None else None,
            operation_point=_operation_point_argument(operation_point),
            **kwargs,
        )


class MetricOperatingPoint(MetricDefault):
    """A binary operating point (threshold, sensitivity, specificity) chosen on the ROC curve. See
    :func:`operating_point`; ``value`` is the required specificity or sensitivity.

    >>> import numpy as np
    >>> metric = MetricOperatingPoint(pred="pred", target="target", method="sensitivity_at_specificity", value=1.0)
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": np.array([0.1, 0.4, 0.35, 0.8]), "target": [0, 0, 1, 1]})
    >>> metric.eval()
    {'threshold': 0.4, 'sensitivity': 0.5, 'specificity': 1.0}
    """

    def __init__(
        self,
        pred: str,
        target: str,
        method: str = "youden",
        value: float | None = None,
        pos_label: Any = None,
        **kwargs: Any,
    ) -> None:
        _check_operating_point_method(method, value)
        super().__init__(
            metric_func=functools.partial(operating_point, method=method, value=value, pos_label=pos_label),
            pred=pred,
            target=target,
            **kwargs,
        )
