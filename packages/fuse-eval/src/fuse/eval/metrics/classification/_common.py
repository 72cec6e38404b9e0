"""Input conventions of the classification metrics (FuseMedML's): a scalar per sample is the probability of
class 1, a vector per sample holds class scores, and an integer per sample is a class label.

Inputs are checked before any number is computed (:mod:`fuse.eval.framework._inputs`): targets of probabilities of
class 1 are 0/1 (or booleans), and any other two labels (1/2, text) need ``pos_label``, the label of the class whose
probability ``pred`` holds (a function argument, and a constructor argument of the metric classes, never read as a
key); targets of score vectors are column indices; missing targets or scores and text where numbers are needed raise
naming the rows, or the key and the ids through a metric class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._inputs import binary_positive, class_indices, class_labels, finite_scores

__all__ = []


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


def _argmax(array: np.ndarray) -> np.ndarray:
    labels: np.ndarray = np.argmax(array, axis=1).astype(np.int64)
    return labels
