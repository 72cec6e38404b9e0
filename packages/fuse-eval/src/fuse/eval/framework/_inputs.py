"""Validation of metric inputs (targets and scores), with errors that name the offending samples.

A function sees rows, a metric sees keys and ids: an :class:`InputError` keeps the argument name and the row
positions, and a metric class (:meth:`fuse.eval.framework._metric_base.MetricWithCollectorBase.naming_inputs`) rewrites it
with the key it collected and the ids of those rows.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fuse.eval.framework._arrays import column
from fuse.eval.framework._plain_values import plain_scalar

__all__ = [
    "InputError",
    "binary_positive",
    "class_indices",
    "class_labels",
    "finite_scores",
    "is_number",
    "numeric_scores",
    "score_array",
]


_EXAMPLES = 5  # ids, rows or values shown in a message


def is_number(value: Any) -> bool:
    """Whether ``value`` is one real number (Python or numpy; NaN included), not a bool.

    >>> is_number(0.5), is_number(np.int64(3)), is_number(True), is_number("1")
    (True, True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class InputError(ValueError):
    """A problem with some samples of one argument of a metric function.

    ``str(error)`` names the argument and the row positions; :meth:`named` rewrites it with the key the argument
    was collected from and the sample ids.

    >>> str(InputError("target", "has 1 missing (NaN) value", np.array([2]), "drop those samples"))
    'target has 1 missing (NaN) value, e.g. rows [2]; drop those samples'
    """

    def __init__(self, argument: str, problem: str, positions: np.ndarray | None = None, fix: str = "") -> None:
        self.argument = argument
        self.problem = problem
        self.positions = np.asarray(positions, dtype=np.int64) if positions is not None else None
        self.fix = fix
        super().__init__(self._render(argument, None))

    def _render(self, subject: str, ids: Sequence[Hashable] | np.ndarray | None) -> str:
        where = ""
        if self.positions is not None and len(self.positions):
            shown = self.positions[:_EXAMPLES]
            if ids is not None and len(ids) > int(shown.max()):
                where = f", e.g. ids {[plain_scalar(ids[int(i)]) for i in shown]}"
            else:
                where = f", e.g. rows {shown.tolist()}"
        return f"{subject} {self.problem}{where}" + (f"; {self.fix}" if self.fix else "")

    def at_rows(self, rows: np.ndarray) -> InputError:
        """The same error for a subset of the samples: ``rows[i]`` is the original position of subset row ``i``."""
        positions = None if self.positions is None else np.asarray(rows)[self.positions]
        return InputError(self.argument, self.problem, positions, self.fix)

    def named(self, source: str | None, ids: Sequence[Hashable] | np.ndarray | None) -> ValueError:
        """A ``ValueError`` naming ``source`` (e.g. ``"key 'data.label'"``) and the sample ids."""
        subject = self.argument if source is None else f"{self.argument} ({source})"
        return ValueError(self._render(subject, ids))


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _shown(values: Sequence[Any] | np.ndarray) -> list[Any]:
    return [plain_scalar(v) for v in list(values)[: 2 * _EXAMPLES]]


def score_array(pred: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Per-sample predictions as one array; an object column of equal-shape vectors is stacked to ``(n, C)``."""
    if isinstance(pred, np.ndarray) and pred.dtype == object:
        return np.stack([np.asarray(v) for v in pred]) if len(pred) else np.empty(0)
    return np.asarray(pred)


def finite_scores(pred: Sequence[Any] | np.ndarray, argument: str = "pred") -> np.ndarray:
    """Predictions as a float array (a value or a vector per sample); text, missing or infinite values raise.

    >>> finite_scores([0.2, float("nan"), 0.4])
    Traceback (most recent call last):
    ...
    fuse.eval.framework._inputs.InputError: pred has 1 missing (NaN) or infinite value, e.g. rows [1]; ...
    """
    array = numeric_scores(pred, argument)
    if array.size == 0:
        return array
    bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1) if array.ndim else ~np.isfinite(array[None])
    if bad.any():
        raise InputError(
            argument,
            f"has {_count(int(bad.sum()), 'missing (NaN) or infinite value')}",
            np.flatnonzero(bad),
            "drop or fix those samples: an argmax, a threshold or a sort of NaN is meaningless",
        )
    return array


def numeric_scores(pred: Sequence[Any] | np.ndarray, argument: str = "pred") -> np.ndarray:
    """Predictions as a float array; text and other non-numbers raise (missing values are left to the caller)."""
    array = score_array(pred)
    if array.dtype.kind in "US" or array.dtype == object:
        text = [v for v in array.reshape(-1)[:200].tolist() if isinstance(v, (str, bytes))]
        if text or array.dtype.kind in "US":
            shown = text or array.reshape(-1)[:3].tolist()
            raise InputError(
                argument,
                f"holds text values such as {shown[:3]}",
                fix="predictions must be numbers (convert the column, e.g. with astype(float))",
            )
        try:
            array = array.astype(float)
        except (TypeError, ValueError):
            raise InputError(
                argument, f"holds values that are not numbers, such as {array.reshape(-1)[:3].tolist()}"
            ) from None
    if array.dtype.kind == "c" or not (array.dtype.kind in "biuf"):
        raise InputError(argument, f"must hold numbers, got values of type {array.dtype}")
    numbers: np.ndarray = array.astype(float)
    return numbers


def _label_values(target: Sequence[Any] | np.ndarray, argument: str) -> np.ndarray:
    """A 1-d column of labels: int64 for numbers (integer-valued; one-hot vectors are argmax-ed), an object array for
    text; missing or non-integer numbers and mixed text/number columns raise.
    """
    array = _label_column(target)
    if array.ndim == 2 and array.shape[1] > 1:
        labels: np.ndarray = np.argmax(finite_scores(array, argument), axis=1).astype(np.int64)
        return labels
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise InputError(argument, f"must hold one label per sample, got an array of shape {array.shape}")
    if array.dtype == object:
        missing = np.asarray(pd.isna(array), dtype=bool)
    elif array.dtype.kind == "f":
        missing = np.isnan(array)
    else:
        missing = np.zeros(len(array), dtype=bool)
    if missing.any():
        raise InputError(
            argument,
            f"has {_count(int(missing.sum()), 'missing (NaN) value')}",
            np.flatnonzero(missing),
            "drop those samples or fill in their labels (a missing label is not a negative)",
        )
    if array.dtype.kind in "US" or (array.dtype == object and any(isinstance(v, (str, bytes)) for v in array)):
        if array.dtype == object and not all(isinstance(v, (str, bytes)) for v in array):
            numbers = [i for i, v in enumerate(array) if not isinstance(v, (str, bytes))]
            raise InputError(
                argument,
                f"mixes text and numbers ({_shown(_sorted(pd.unique(array)))})",
                np.asarray(numbers),
                "use one kind of label",
            )
        return array.astype(object)
    if array.dtype == bool:
        return array.astype(np.int64, copy=False)
    if array.dtype == object:
        try:
            array = array.astype(float)
        except (TypeError, ValueError):
            raise InputError(argument, f"holds values that are not labels, such as {_shown(array[:3])}") from None
    if array.dtype.kind in "iu":
        return array.astype(np.int64, copy=False)
    if array.dtype.kind != "f":
        raise InputError(argument, f"must hold class labels, got values of type {array.dtype}")
    fractional = ~np.isfinite(array) | (array != np.round(array))
    if fractional.any():
        raise InputError(
            argument,
            f"must hold class indices (integers) or one-hot vectors, got values such as "
            f"{_shown(array[fractional][:3])}",
            np.flatnonzero(fractional),
        )
    return array.astype(np.int64, copy=False)


def _label_column(target: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Labels as one array without numpy turning a mixed column (``["a", 1]``) into text."""
    if not isinstance(target, np.ndarray):
        return column(list(target))
    if target.dtype == object and len(target) and isinstance(target[0], (np.ndarray, list, tuple)):
        return score_array(target)  # one vector per sample
    return target


def _sorted(values: Sequence[Any] | np.ndarray) -> list[Any]:
    """Distinct labels in a stable order for messages (numbers numerically, anything else as text)."""
    plain = [plain_scalar(v) for v in values]
    try:
        return sorted(plain)
    except TypeError:
        return sorted(plain, key=str)


def _text_hint(labels: np.ndarray) -> str:
    """A hint when text labels look like numbers (e.g. read from a CSV as strings)."""
    if labels.dtype == object and all(str(v).strip().lstrip("-").isdigit() for v in labels[:50]):
        return " (numbers stored as text? convert the column to integers)"
    return ""


def binary_positive(target: Sequence[Any] | np.ndarray, pos_label: Any = None, argument: str = "target") -> np.ndarray:
    """Which samples are positive, for a binary metric whose ``pred`` is one score per sample.

    Without ``pos_label`` the labels must be 0/1 (or booleans; 1 is positive). Any other labels (1/2, 0/2, text)
    need ``pos_label``, the label of the class whose score ``pred`` holds, as in scikit-learn; a target with more
    than two labels raises. Missing labels raise, naming their rows.

    >>> binary_positive([0, 1, 1]).tolist()
    [False, True, True]
    >>> binary_positive([1, 2, 2], pos_label=2).tolist()
    [False, True, True]
    >>> binary_positive([1, 2, 2])
    Traceback (most recent call last):
    ...
    fuse.eval.framework._inputs.InputError: target holds the labels [1, 2], not 0/1; pass pos_label=...
    """
    labels = _label_values(target, argument)
    if pos_label is None and labels.dtype != object:
        positive = labels == 1
        if (positive | (labels == 0)).all():  # two vectorised passes: no set of labels needed for 0/1
            return np.asarray(positive)
    found = pd.unique(labels)
    if pos_label is None:
        kind = "text labels" if labels.dtype == object else "the labels"
        raise InputError(
            argument,
            f"holds {kind} {_shown(_sorted(found))}, not 0/1{_text_hint(labels)}",
            fix="pass pos_label=<the label of the positive class, whose probability pred holds>",
        )
    if len(found) > 2:
        raise InputError(
            argument,
            f"holds {len(found)} labels {_shown(_sorted(found))}; a binary metric (one score per sample) needs two",
            fix="pass class-score vectors for a multi-class metric, or select two classes",
        )
    positive = np.asarray(labels == pos_label, dtype=bool)
    if len(found) == 2 and not positive.any():
        raise InputError(
            argument, f"has no sample labelled pos_label={pos_label!r}; its labels are {_shown(_sorted(found))}"
        )
    return positive


def class_labels(target: Sequence[Any] | np.ndarray, argument: str = "target") -> np.ndarray:
    """Integer class labels (int64), one per sample; one-hot (or score) vectors are argmax-ed. Missing values,
    fractions and text raise naming rows.

    >>> class_labels([0, 2, 1.0]).tolist()
    [0, 2, 1]
    """
    values = _label_values(target, argument)
    if values.dtype == object:
        raise InputError(
            argument,
            f"holds text labels {_shown(_sorted(pd.unique(values)))}{_text_hint(values)}",
            fix="this metric needs class indices 0, 1, ... (map the class names to indices)",
        )
    return values


def class_indices(target: Sequence[Any] | np.ndarray, classes: int, argument: str = "target") -> np.ndarray:
    """:func:`class_labels` that must lie in ``[0, classes)``: the target of ``classes`` class-score columns.

    >>> class_indices([0, 2], classes=2)
    Traceback (most recent call last):
    ...
    fuse.eval.framework._inputs.InputError: target holds classes [2] outside 0..1 (pred has 2 class scores per sample), ...
    """
    labels = class_labels(target, argument)
    outside = (labels < 0) | (labels >= classes)
    if outside.any():
        raise InputError(
            argument,
            f"holds classes {_shown(sorted(set(labels[outside].tolist())))} outside 0..{classes - 1} (pred has "
            f"{classes} class scores per sample)",
            np.flatnonzero(outside),
            "targets are column indices of the score vectors",
        )
    return labels
