"""One class against the rest as (scores, is positive) arrays, the tied-score groups that the resampled rank metrics
count, and binary risks with their outcomes.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._inputs import (
    InputError,
    binary_positive,
    class_indices,
    finite_scores,
    numeric_scores,
)
from fuse.eval.framework._metric_base import MetricDefault
from fuse.eval.framework._multiclass import MetricMultiClassDefault

__all__ = [
    "CurveMetric",
    "RankMetric",
    "binary_scores",
    "curve_classes",
    "curve_scores",
    "finite_binary_scores",
    "grouped_class_counts",
    "risks_and_outcomes",
    "score_groups",
]


# counts matrices are built this many entries at a time (bounded memory for any number of samples)
_BLOCK_ENTRIES = 1 << 22


def binary_scores(
    pred: Sequence[Any] | np.ndarray,
    target: Sequence[Any] | np.ndarray,
    pos_class_index: int = -1,
    pos_label: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """FuseMedML's conventions -> (scores, is_positive) for one class against the rest, validated.

    A scalar prediction per sample (or a vector of length 1) is the score of the positive class: targets 0/1 (1 is
    positive), or any two labels with ``pos_label`` naming the positive one (scikit-learn's rule). With vectors of
    class scores, targets are class indices and column ``pos_class_index`` is used (the last column when negative).
    Missing or text targets, labels that need ``pos_label`` and text scores raise naming their rows (missing scores
    are left to the caller: see :func:`finite_binary_scores`).

    >>> binary_scores([0.2, 0.9], [1, 2], pos_label=2)[1].tolist()
    [False, True]
    """
    scores = numeric_scores(pred)
    if scores.ndim == 1 or (scores.ndim == 2 and scores.shape[1] == 1):
        scores = scores.reshape(-1)
        positive = binary_positive(target, pos_label)
    else:
        if pos_label is not None:
            raise ValueError(
                f"pos_label={pos_label!r} applies to one score per sample; with class-score vectors the target "
                "holds class indices and pos_class_index (or class_names) picks the positive column"
            )
        scores = scores.reshape(-1, scores.shape[-1])
        column = pos_class_index if pos_class_index >= 0 else scores.shape[1] - 1
        if not 0 <= column < scores.shape[1]:
            raise ValueError(f"pos_class_index {pos_class_index} is out of range for {scores.shape[1]} class scores")
        positive = class_indices(target, scores.shape[1]) == column
        scores = scores[:, column]
    return scores, positive


def finite_binary_scores(
    pred: Sequence[Any] | np.ndarray,
    target: Sequence[Any] | np.ndarray,
    pos_class_index: int = -1,
    pos_label: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`binary_scores` whose predictions must be finite (every column of score vectors: a NaN anywhere means
    broken data), since a sort or a threshold of NaN is meaningless.
    """
    finite_scores(pred)
    return binary_scores(pred, target, pos_class_index, pos_label)


def score_groups(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, int]:
    """One sort: every sample's (tie group, class) bin (``2 * group + is_positive``, groups in increasing score
    order) and the number of groups.
    """
    n = len(scores)
    order = np.argsort(scores, kind="mergesort")
    group_of_sorted = np.concatenate(([0], np.cumsum(np.diff(scores[order]) != 0)))
    groups = int(group_of_sorted[-1]) + 1 if n else 0
    bin_of = np.empty(n, dtype=np.int64)
    bin_of[order] = group_of_sorted * 2 + positive[order]  # even bins: negatives, odd: positives
    return bin_of, groups


def grouped_class_counts(
    scores: np.ndarray, positive: np.ndarray, rows: np.ndarray, groups: tuple[np.ndarray, int] | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Per resampling, the number of negatives and positives at every distinct score, a block of rows at a time.

    Yields ``(first_row, counts)`` with ``counts[r, g] = (negatives, positives)`` of resampling ``first_row + r``
    in tie group ``g`` (groups in increasing score order). Every sample maps to a (tie group, class) bin and one
    ``bincount`` per block counts the bins of all its rows, so rank metrics of many resamplings cost one sort in
    all (pass the :func:`score_groups` of an earlier call as ``groups`` to skip even that). Memory stays bounded.
    """
    bin_of, group_count = groups if groups is not None else score_groups(scores, positive)
    block = max(1, _BLOCK_ENTRIES // max(len(scores), 1))
    for first in range(0, len(rows), block):
        chunk = rows[first : first + block]
        binned = bin_of[chunk]
        binned += (np.arange(len(chunk), dtype=np.int64) * (2 * group_count))[:, None]
        counts = np.bincount(binned.ravel(), minlength=len(chunk) * 2 * group_count)
        yield first, counts.reshape(len(chunk), group_count, 2).astype(float)


def curve_classes(class_names: Sequence[str | None] | None) -> list[tuple[int, str]]:
    """(column, name) of every class to draw. Without names: the positive class of a binary problem only."""
    if class_names is None:
        return [(-1, "Positive")]
    # FuseMedML's binary default is [None, "Positive"]: a None name skips that class
    return [(index, str(name)) for index, name in enumerate(class_names) if name is not None]


def curve_scores(
    pred: ArrayLike, target: ArrayLike, column: int, class_names: Sequence[str | None] | None
) -> tuple[np.ndarray, np.ndarray]:
    scores, positive = binary_scores(pred, target, column)
    if class_names is not None and len(class_names) == 2 and np.asarray(pred).ndim == 1 and column == 0:
        scores = 1.0 - scores  # scalar probabilities of class 1: class 0 scores 1 - p
        positive = np.asarray(target).reshape(-1) == 0
    return scores, positive


def risks_and_outcomes(
    pred: Sequence[Any] | np.ndarray,
    target: Sequence[Any] | np.ndarray,
    pos_label: Any = None,
    pos_class_index: int = -1,
) -> tuple[np.ndarray, np.ndarray]:
    """``(risk, outcome)``: the predicted probability of the positive class (float) and whether each sample is
    positive (bool).

    ``pred`` is one probability per sample (targets 0/1, or any two labels with ``pos_label``), or one probability
    vector per sample (targets are class indices; column ``pos_class_index``, the last by default, is the positive
    class). Missing or infinite predictions, and values outside [0, 1] (logits, scores), raise naming their rows.

    >>> risk, outcome = risks_and_outcomes([0.2, 0.9], [0, 1])
    >>> risk.tolist(), outcome.tolist()
    ([0.2, 0.9], [False, True])
    >>> risks_and_outcomes([0.2, 1.7], [0, 1])
    Traceback (most recent call last):
    ...
    fuse.eval.framework._inputs.InputError: pred holds 1 value outside [0, 1] such as [1.7], e.g. rows [1]; ...
    """
    scores, positive = finite_binary_scores(pred, target, pos_class_index, pos_label)
    risk = np.asarray(scores, dtype=float)
    outside = ~((risk >= 0.0) & (risk <= 1.0))
    if outside.any():
        count = int(outside.sum())
        raise InputError(
            "pred",
            f"holds {count} value{'s' if count > 1 else ''} outside [0, 1] such as {risk[outside][:3].tolist()}",
            np.flatnonzero(outside),
            "pass the predicted probability of the positive class (e.g. a sigmoid or softmax output), not a logit "
            "or a score",
        )
    return risk, np.asarray(positive, dtype=bool)


class RankMetric(MetricMultiClassDefault):
    """A one-vs-rest metric of how one class's scores rank (ROC AUC, AUC-PR): bootstraps evaluate every resampling
    at once from the tied-score groups of each class (:func:`score_groups`), checked and grouped once per run.
    """

    def _resampled_per_class(
        self,
        ids: np.ndarray,
        rows: np.ndarray,
        inputs: Callable[[int], tuple[np.ndarray, np.ndarray]],
        kernel: Callable[[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, int] | None], np.ndarray],
        what: str,
    ) -> list[Any]:
        """``kernel(scores, positive, rows, groups)`` of every class (``inputs(pos_class_index)`` gives its scores
        and positives), combined per resampling as :meth:`eval` combines classes."""
        classes = [-1] if self._class_names is None else list(range(len(self._class_names)))
        per_class = []
        for pos_class_index in classes:
            with self.naming_inputs(ids):  # checked once per bootstrap run, not once per block
                scores, positive = self.cached_for_resampling(
                    ("inputs", pos_class_index), functools.partial(inputs, pos_class_index)
                )
            groups = self.cached_for_resampling(
                ("groups", pos_class_index), functools.partial(score_groups, scores, positive)
            )
            per_class.append(kernel(scores, positive, rows, groups))
        return self.combine_resampled(per_class, what)


class CurveMetric(MetricDefault):
    """One-vs-rest curves of each class (ROC, precision-recall), computed by the subclass's ``_curves`` and drawn
    into ``output_filename`` when given (needs the ``plot`` extra); ``class_names`` as in :func:`curve_classes`.
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

    @abstractmethod
    def _curves(self, pred: Any, target: Any, sample_weight: Any = None) -> dict[str, Any]:
        """``{class name: curve}`` for these predictions (each subclass computes its own kind of curve)."""
