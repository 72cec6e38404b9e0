"""ROC AUC: the metric, FuseMedML's input conventions, and a kernel that evaluates many bootstraps at once."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from fuse.eval._inputs import (
    InputError,
    binary_positive,
    class_indices,
    finite_scores,
    numeric_scores,
    score_array,
)
from fuse.eval._lazy import sk_metrics
from fuse.eval._multiclass import MetricMultiClassDefault
from fuse.eval._warnings import UndefinedMetricWarning

__all__ = ["MetricAUCROC", "auc_pr_resampled", "auc_roc", "auc_roc_resampled", "grouped_class_counts", "score_groups"]

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
        warnings.warn(
            f"ROC AUC is undefined with only {'positive' if positive.any() else 'negative'} samples "
            f"({len(positive)} samples); returning NaN",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return float("nan")
    return float(sk_metrics.roc_auc_score(positive, scores, sample_weight=weights, max_fpr=max_fpr))


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


def auc_pr_resampled(
    scores: np.ndarray, positive: np.ndarray, rows: np.ndarray, groups: tuple[np.ndarray, int] | None = None
) -> np.ndarray:
    """Area under the precision-recall curve of every resampling at once, as ``auc(recall, precision)`` of sklearn's
    ``precision_recall_curve`` per row (thresholds at the distinct scores, the curve starting at recall 0,
    precision 1). NaN for a row without positives or without negatives.
    """
    result = np.empty(len(rows))
    for first, counts in grouped_class_counts(scores, positive, rows, groups):
        descending = counts[:, ::-1, :]  # thresholds from the highest score down
        false_positives = np.cumsum(descending[:, :, 0], axis=1)
        true_positives = np.cumsum(descending[:, :, 1], axis=1)
        positives, negatives = true_positives[:, -1:], false_positives[:, -1:]
        called = true_positives + false_positives
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = true_positives / positives
            precision = np.where(called > 0, true_positives / np.maximum(called, 1), 1.0)  # nothing called: (0, 1)
        recall = np.concatenate([np.zeros((len(counts), 1)), recall], axis=1)
        precision = np.concatenate([np.ones((len(counts), 1)), precision], axis=1)
        area = np.sum(np.diff(recall, axis=1) * (precision[:, 1:] + precision[:, :-1]) / 2, axis=1)
        defined = (positives[:, 0] > 0) & (negatives[:, 0] > 0)
        result[first : first + len(counts)] = np.where(defined, area, np.nan)
    return result


class MetricAUCROC(MetricMultiClassDefault):
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
        classes = [-1] if self._class_names is None else list(range(len(self._class_names)))
        per_class = []
        for pos_class_index in classes:
            with self.naming_inputs(ids):  # checked once per bootstrap run, not once per block
                scores, positive = self.cached_for_resampling(
                    ("inputs", pos_class_index),
                    functools.partial(finite_binary_scores, pred, target, pos_class_index, self._pos_label),
                )
            groups = self.cached_for_resampling(
                ("groups", pos_class_index), functools.partial(score_groups, scores, positive)
            )
            per_class.append(auc_roc_resampled(scores, positive, rows, groups))
        return self.combine_resampled(per_class, "ROC AUC")
