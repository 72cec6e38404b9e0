"""The multi-class Brier score and Brier skill score."""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._inputs import InputError, binary_positive, class_indices, finite_scores
from fuse.eval.framework._metric_base import MetricDefault
from fuse.eval.framework._warnings import undefined
from fuse.eval.metrics.classification._common import _as_array

__all__ = ["MetricBSS", "multi_class_bs", "multi_class_bss"]


def _brier_inputs(
    pred: ArrayLike, target: ArrayLike, pos_label: Any, ids: Sequence[Hashable] | np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(n, C)`` probabilities (scalars of class 1 become ``[1 - p, p]``) and each sample's class index."""
    from fuse.eval.metrics.classification._calibration import _probabilities

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
        return undefined("Brier skill score is undefined when target holds a single class")
    return 1.0 - bs / bs_ref


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
