"""From scores to classes: operation points, thresholds and operating points chosen on the ROC curve."""

from __future__ import annotations

import functools
import numbers
from collections.abc import Hashable, Sequence
from typing import Any, cast

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._inputs import finite_scores, is_number
from fuse.eval.framework._lazy import sk_metrics
from fuse.eval.framework._metric_base import RESULTS_PREFIX, MetricDefault
from fuse.eval.framework._per_sample import PerSampleData, distinct_samples
from fuse.eval.framework._warnings import undefined
from fuse.eval.metrics.classification._common import _argmax, _as_array, _scalar_kind, _weights
from fuse.eval.metrics.classification._scores import finite_binary_scores

__all__ = [
    "MetricApplyThresholds",
    "MetricOperatingPoint",
    "convert_probabilities_to_class",
    "apply_thresholds",
    "operating_point",
    "OPERATING_POINT_METHODS",
]


# None (argmax), a threshold, or FuseMedML's [(class index or "argmax", threshold), ...]
OperationPoint = float | Sequence[tuple[int | str, float | None]] | None


OPERATING_POINT_METHODS: tuple[str, ...] = ("youden", "sensitivity_at_specificity", "specificity_at_sensitivity")


def _check_operation_point(operation_point: Any) -> None:
    """Raise ``ValueError`` unless ``operation_point`` is ``None``, a number or ``[(cls_idx | "argmax", thr), ...]``."""
    if operation_point is None or is_number(operation_point):
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
            and (is_number(entry[1]) or (entry[0] == "argmax" and entry[1] is None))
        )
        if not valid or (not isinstance(entry[0], str) and int(entry[0]) < 0):
            raise ValueError(
                f"operation_point entries must be (class index >= 0 or 'argmax', threshold) pairs, got {entry!r} "
                f"in {operation_point!r}"
            )


def _means_argmax(operation_point: Any) -> bool:
    """``None`` or an empty sequence (FuseMedML's default ``()``): argmax."""
    return operation_point is None or (not is_number(operation_point) and len(operation_point) == 0)


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
    if is_number(operation_point):
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

    With ``class_names``, score vectors must hold one score per class. A repeated id (a bootstrap's resampling) is
    computed once: each sample has one class.

    ``ids`` is the second argument (FuseMedML's second was ``operation_point``): a number or string there, or ids
    not one per sample, raise saying to pass ``operation_point=`` by keyword.

    >>> apply_thresholds([0.2, 0.7], ids=["a", "b"], operation_point=0.5)["cls_pred"](["b", "a"]).tolist()
    [1, 0]
    """
    _check_ids_argument(ids, len(_as_array(pred)))
    ids, first = distinct_samples(ids, "apply_thresholds")
    array = _as_array(pred) if first is None else _as_array(pred)[first]
    if class_names is not None and array.ndim == 2 and array.shape[1] != len(class_names):
        raise ValueError(
            f"pred holds {array.shape[1]} class scores per sample but class_names has {len(class_names)}: "
            f"{list(class_names)!r}"
        )
    return {"cls_pred": PerSampleData(convert_probabilities_to_class(array, operation_point), ids)}


def _check_ids_argument(ids: Sequence[Hashable] | np.ndarray | None, num_samples: int) -> None:
    """Catch FuseMedML's ``apply_thresholds(pred, operation_point)``, whose second argument is now ``ids``."""
    fix = "apply_thresholds(pred, ids, operation_point=...): the second argument is the sample ids (FuseMedML's was "
    fix += "operation_point); pass operation_point by keyword"
    if isinstance(ids, (numbers.Real, str, bytes)):
        raise TypeError(f"ids must be one id per sample, got {ids!r}; call {fix}")
    if ids is not None and len(ids) != num_samples:
        raise ValueError(f"ids has {len(ids)} entries for {num_samples} samples; call {fix}")


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
        nan = undefined(
            f"an operating point is undefined with only {'positive' if positive.any() else 'negative'} samples"
        )
        return {"threshold": nan, "sensitivity": nan, "specificity": nan}
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
    if not is_number(value) or not 0 <= float(value) <= 1:  # type: ignore[arg-type]
        raise ValueError(f"method {method!r} needs a value in [0, 1], got value={value!r}")


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
