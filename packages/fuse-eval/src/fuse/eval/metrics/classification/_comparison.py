"""Model comparison: DeLong's test of two paired ROC AUCs, contingency tables and McNemar's test.

FuseMedML's ``MetricDelongsTest``, ``MetricContingencyTable`` and ``MetricMcnemarsTest`` with the same names, arguments
and result formats. DeLong's test gives the same numbers as FuseMedML's O(m·n) matrices (structural components with
the ``1/(m-1)``, ``1/(n-1)`` covariances, machine epsilon added to the denominator of z, two-sided p-value), but is
computed with the O(N log N) algorithm of Sun & Xu (2014), "Fast implementation of DeLong's algorithm for comparing
the areas under correlated receiver operating characteristic curves": one sort per score vector gives every sample's
placement value, so a comparison on 100,000 samples takes milliseconds and a few MB instead of six m x n float
matrices.

Compatibility: ``MetricMcnemarsTest(target=None)`` compares the two predictions with each other (see
docs/migration.md).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._inputs import score_array
from fuse.eval.framework._lazy import scipy_stats as stats
from fuse.eval.framework._lazy import statsmodels_contingency_tables
from fuse.eval.framework._metric_base import MetricDefault
from fuse.eval.framework._multiclass import MetricMultiClassDefault
from fuse.eval.framework._warnings import UndefinedMetricWarning, user_stacklevel
from fuse.eval.metrics.classification._scores import binary_scores

__all__ = [
    "MetricDelongsTest",
    "MetricContingencyTable",
    "MetricMcnemarsTest",
    "delong_test",
    "contingency_table",
    "mcnemars_test",
]


_DELONG_KEYS = ("p_value", "z", "auc1", "auc2", "cov11", "cov12", "cov22")


def _placement_counts(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Placement counts of every sample from one sort (Sun & Xu's midrank differences, ties counting one half).

    Returns ``(pos_counts, neg_counts)``: for each positive sample, the number of negatives scored below it plus half
    those tied with it; for each negative sample, the number of positives scored above it plus half those tied. They
    are the row and column sums of DeLong's ψ matrix, as exact half-integers.
    """
    n_samples = len(scores)
    order = np.argsort(scores)
    sorted_scores = scores[order]
    starts_group = np.empty(n_samples, dtype=bool)
    starts_group[:1] = True
    np.not_equal(sorted_scores[1:], sorted_scores[:-1], out=starts_group[1:])
    group_of_sorted = np.cumsum(starts_group) - 1
    groups = int(group_of_sorted[-1]) + 1
    group = np.empty(n_samples, dtype=np.int64)
    group[order] = group_of_sorted
    pos_group, neg_group = group[positive], group[~positive]
    pos_in_group = np.bincount(pos_group, minlength=groups)
    neg_in_group = np.bincount(neg_group, minlength=groups)
    neg_below = np.cumsum(neg_in_group) - neg_in_group
    pos_below = np.cumsum(pos_in_group) - pos_in_group
    pos_counts = neg_below[pos_group] + 0.5 * neg_in_group[pos_group]
    neg_counts = len(pos_group) - (pos_below[neg_group] + 0.5 * pos_in_group[neg_group])
    return pos_counts, neg_counts


def _squared_norm(vector: np.ndarray) -> float:
    """``sqrt(Σ x²)²``: FuseMedML's ``norm(x) ** 2`` rounding, so that small inputs agree with it to the last bit."""
    return float(np.sqrt(np.sum(vector * vector)) ** 2)


def _scatter(deviations: list[np.ndarray], dof: int) -> np.ndarray:
    """The 2x2 sample covariance ``(1/dof) Σ d dᵀ`` of two centred components.

    Elementwise products and numpy's pairwise sums, not BLAS ``dot``: a threaded BLAS call on a vector this size can
    stall for milliseconds on a busy machine, and pairwise summation is at least as accurate.
    """
    first, second = deviations
    cross = np.sum(first * second)
    matrix: np.ndarray = (1.0 / dof) * np.array([[_squared_norm(first), cross], [cross, _squared_norm(second)]])
    return matrix


def _check_scores(scores: np.ndarray, what: str, samples: int) -> None:
    if len(scores) != samples:
        raise ValueError(f"{what} has {len(scores)} samples but target has {samples}; pass paired predictions")
    if np.isnan(scores).any():
        raise ValueError(
            f"{what} holds NaN for {int(np.isnan(scores).sum())} of {samples} samples (missing predictions?); "
            "drop those samples (e.g. with Filter) before comparing"
        )


def delong_test(pred1: ArrayLike, pred2: ArrayLike, target: ArrayLike, pos_class_index: int = -1) -> dict[str, float]:
    """DeLong's test (DeLong et al. 1988) of the difference between two paired ROC AUCs, computed as Sun & Xu (2014).

    Returns ``{"p_value", "z", "auc1", "auc2", "cov11", "cov12", "cov22"}``: the two-sided p-value of "the AUCs are
    equal", the z-score ``(auc1 - auc2) / (sqrt(cov11 + cov22 - 2 cov12) + eps)``, both empirical AUCs (ties count
    one half) and DeLong's covariance matrix of the two AUCs, as FuseMedML's ``ModelComparison.delong_auc_test``.

    Predictions follow :func:`fuse.eval.auc_roc`'s conventions: a scalar per sample is the probability of class 1
    (positives are ``target == 1``); with vectors of class scores, column ``pos_class_index`` is scored against the
    rest (the last column when negative). Both models must score the same samples. The AUCs are NaN when one class is
    absent, and the covariances, z and p-value are NaN when a class has fewer than 2 samples (with a warning).

    >>> result = delong_test([0.1, 0.2, 0.6, 0.7, 0.8], [0.3, 0.6, 0.2, 0.7, 0.9], [0, 0, 1, 1, 1])
    >>> round(result["p_value"], 4), round(result["z"], 4), result["auc1"], round(result["auc2"], 4)
    (0.3173, 1.0, 1.0, 0.6667)
    """
    scalar = [score_array(p).ndim == 1 or score_array(p).shape[-1] == 1 for p in (pred1, pred2)]
    if scalar[0] != scalar[1]:  # checked first: the targets' rules differ between the two forms
        raise ValueError(
            "pred1 and pred2 are not in the same form: give both models' predictions as scalar probabilities of "
            "class 1, or both as class-score vectors"
        )
    scores1, positive = binary_scores(pred1, target, pos_class_index)
    scores2, positive2 = binary_scores(pred2, target, pos_class_index)
    _check_scores(scores1, "pred1", len(positive))
    _check_scores(scores2, "pred2", len(positive))
    if not np.array_equal(positive, positive2):
        raise ValueError(
            "pred1 and pred2 select different positive samples: give both models' predictions in the same form "
            "(both scalar probabilities of class 1, or both class-score vectors)"
        )
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        present = f"only {'positive' if m else 'negative'} samples ({m + n})" if m + n else "no samples"
        warnings.warn(
            f"DeLong's test is undefined with {present}; returning NaN",
            UndefinedMetricWarning,
            stacklevel=user_stacklevel(),
        )
        return dict.fromkeys(_DELONG_KEYS, float("nan"))

    pos_counts, neg_counts = zip(*(_placement_counts(s, positive) for s in (scores1, scores2)), strict=True)
    # FuseMedML's exact arithmetic: emp_auc = (1/(m n)) Σψ, V10 = (1/n) Σ_j ψ, V01 = (1/m) Σ_i ψ
    auc = np.array([(1.0 / (m * n)) * counts.sum() for counts in pos_counts])
    if m < 2 or n < 2:
        warnings.warn(
            f"DeLong's covariance needs at least 2 positive and 2 negative samples, got {m} and {n}; the AUCs are "
            "returned, the covariances, z and p-value are NaN",
            UndefinedMetricWarning,
            stacklevel=user_stacklevel(),
        )
        nan = float("nan")
        return {"p_value": nan, "z": nan, "auc1": float(auc[0]), "auc2": float(auc[1])} | dict.fromkeys(
            ("cov11", "cov12", "cov22"), nan
        )
    v10 = [(1.0 / n) * counts - a for counts, a in zip(pos_counts, auc, strict=True)]
    v01 = [(1.0 / m) * counts - a for counts, a in zip(neg_counts, auc, strict=True)]
    cov = (1.0 / m) * _scatter(v10, m - 1) + (1.0 / n) * _scatter(v01, n - 1)
    variance = max(float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]), 0.0)  # rounding may leave -1e-18
    z = float((auc[0] - auc[1]) / (variance**0.5 + np.finfo(float).eps))
    p_value = float(2 * stats.norm.sf(abs(z)))
    return {
        "p_value": p_value,
        "z": z,
        "auc1": float(auc[0]),
        "auc2": float(auc[1]),
        "cov11": float(cov[0, 0]),
        "cov12": float(cov[0, 1]),
        "cov22": float(cov[1, 1]),
    }


def _per_sample(values: ArrayLike, what: str) -> np.ndarray:
    """One value per sample as a 1-d array (a column of length-1 vectors is flattened); vectors raise."""
    vectors = isinstance(values, np.ndarray) and values.dtype == object and len(values) > 0
    if vectors and isinstance(values[0], np.ndarray | list | tuple):
        values = np.stack([np.asarray(v) for v in values])
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"{what} must hold one value (a class label) per sample, got an array of shape {array.shape}; turn score "
            "vectors into class labels first, e.g. with MetricApplyThresholds"
        )
    if array.dtype.kind == "f" and np.isnan(array).any():
        raise ValueError(
            f"{what} holds NaN for {int(np.isnan(array).sum())} of {len(array)} samples (missing values?); drop "
            "those samples (e.g. with Filter) first"
        )
    return array


def _binary(values: ArrayLike, what: str) -> np.ndarray:
    """Booleans from bools or 0/1 values; anything else raises naming the bad values."""
    array = _per_sample(values, what)
    if array.dtype == bool:
        return array
    if array.dtype.kind in "iuf":
        is_zero_one = (array == 0) | (array == 1)
    elif array.dtype == object:
        is_zero_one = np.array([isinstance(v, numbers.Real) and v in (0, 1) for v in array.tolist()], dtype=bool)
    else:  # strings, dates, ...
        is_zero_one = np.zeros(len(array), dtype=bool)
    if not is_zero_one.all():
        bad = list(dict.fromkeys(array[~is_zero_one].tolist()))[:5]
        raise ValueError(f"{what} must hold binary values (0/1 or False/True), got values such as {bad!r}")
    return array.astype(bool)


def contingency_table(var1: ArrayLike, var2: ArrayLike) -> np.ndarray:
    """The 2x2 contingency table of two paired binary variables, ``[[TT, TF], [FT, FF]]`` (int64 counts): rows are
    ``var1`` True/False, columns ``var2`` True/False. Values must be booleans or 0/1.

    >>> contingency_table([1, 1, 0, 0, 1], [1, 0, 1, 0, 1])
    array([[2, 1],
           [1, 1]])
    """
    first, second = _binary(var1, "var1"), _binary(var2, "var2")
    if len(first) != len(second):
        raise ValueError(f"var1 has {len(first)} samples but var2 has {len(second)}; pass paired variables")
    cells = 2 * (~first).astype(np.int64) + (~second).astype(np.int64)  # TT=0, TF=1, FT=2, FF=3
    table: np.ndarray = np.bincount(cells, minlength=4).reshape(2, 2)
    return table


def mcnemars_test(
    pred1: ArrayLike,
    pred2: ArrayLike,
    target: ArrayLike | None = None,
    exact: bool = True,
    correction: bool = True,
) -> dict[str, float]:
    """McNemar's test of two paired classifiers (statsmodels ``mcnemar``): ``{"p_value", "statistic", "n1", "n2"}``.

    With ``target``, the table pairs the two models' correctness (``pred == target``, so labels of any type and any
    number of classes work) and the test compares their accuracies. Without it, the two binary predictions (0/1 or
    booleans) are paired with each other, testing whether model 1 says 1 where model 2 says 0 as often as the
    reverse. ``n1`` = table[0, 1] (first True/correct, second not), ``n2`` = table[1, 0].

    ``exact=True`` uses the binomial distribution (``statistic`` = min(n1, n2)); it is recommended with fewer than
    about 25 discordant pairs. ``exact=False`` uses the chi-square approximation, with the continuity ``correction``
    by default; it is undefined (NaN with a warning) without discordant pairs, as is any test on no samples.

    >>> mcnemars_test([0, 1, 1, 1, 0, 1, 1, 0, 1, 1], [1, 1, 0, 1, 0, 1, 1, 0, 0, 1], [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    {'p_value': 1.0, 'statistic': 1.0, 'n1': 2, 'n2': 1}
    """
    for name, flag in (("exact", exact), ("correction", correction)):
        if type(flag) not in (bool, np.bool_):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    if target is None:
        table = contingency_table(_binary(pred1, "pred1"), _binary(pred2, "pred2"))
    else:
        first, second, truth = _per_sample(pred1, "pred1"), _per_sample(pred2, "pred2"), _per_sample(target, "target")
        if not len(first) == len(second) == len(truth):
            raise ValueError(
                f"pred1, pred2 and target must be paired, got {len(first)}, {len(second)} and {len(truth)} samples"
            )
        table = contingency_table(first == truth, second == truth)
    n1, n2 = int(table[0, 1]), int(table[1, 0])
    undefined = None
    if table.sum() == 0:
        undefined = "McNemar's test is undefined on no samples"
    elif not exact and n1 + n2 == 0:
        undefined = "McNemar's chi-square test is undefined without discordant pairs (n1 = n2 = 0); use exact=True"
    if undefined is not None:
        warnings.warn(f"{undefined}; returning NaN", UndefinedMetricWarning, stacklevel=user_stacklevel())
        return {"p_value": float("nan"), "statistic": float("nan"), "n1": n1, "n2": n2}
    result = statsmodels_contingency_tables.mcnemar(table, exact=bool(exact), correction=bool(correction))
    return {"p_value": float(result.pvalue), "statistic": float(result.statistic), "n1": n1, "n2": n2}


class MetricDelongsTest(MetricMultiClassDefault):
    """DeLong's test of two models' paired ROC AUCs (FuseMedML's ``MetricDelongsTest``). See :func:`delong_test`.

    ``pred1`` and ``pred2`` are the keys of the two models' predictions, ``target`` the key of the class indices.
    Without ``class_names``: one binary test (with vectors, the last column is the positive class), giving
    ``{"p_value", "z", "auc1", "auc2", "cov11", "cov12", "cov22"}``; with ``class_names``: one-vs-rest per class,
    giving ``"<key>.<class>"`` and ``"<key>.macro_avg"`` entries.

    >>> import numpy as np
    >>> metric = MetricDelongsTest(pred1="model_a", pred2="model_b", target="target")
    >>> metric.collect({"id": list(range(5)), "model_a": np.array([0.1, 0.2, 0.6, 0.7, 0.8]),
    ...                 "model_b": np.array([0.3, 0.6, 0.2, 0.7, 0.9]), "target": [0, 0, 1, 1, 1]})
    >>> round(metric.eval()["p_value"], 4)
    0.3173
    """

    def __init__(
        self, pred1: str, pred2: str, target: str, class_names: Sequence[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(
            pred=None,
            target=target,
            metric_func=delong_test,
            class_names=class_names,
            pred1=pred1,
            pred2=pred2,
            **kwargs,
        )


class MetricContingencyTable(MetricDefault):
    """The 2x2 contingency table ``[[TT, TF], [FT, FF]]`` of two paired binary variables (FuseMedML's
    ``MetricContingencyTable``). See :func:`contingency_table`.

    >>> metric = MetricContingencyTable(var1="a", var2="b")
    >>> metric.collect({"id": [0, 1, 2, 3], "a": [1, 1, 0, 0], "b": [1, 0, 0, 0]})
    >>> metric.eval().tolist()
    [[1, 1], [0, 2]]
    """

    def __init__(self, var1: str, var2: str, **kwargs: Any) -> None:
        super().__init__(metric_func=contingency_table, pred=None, target=None, var1=var1, var2=var2, **kwargs)


class MetricMcnemarsTest(MetricDefault):
    """McNemar's test of two paired classifiers (FuseMedML's ``MetricMcnemarsTest``): their accuracies when ``target``
    is given, their binary predictions against each other when it is ``None``. See :func:`mcnemars_test`.

    >>> metric = MetricMcnemarsTest(pred1="a", pred2="b")
    >>> metric.collect({"id": list(range(8)), "a": [1, 1, 1, 1, 1, 1, 0, 0], "b": [0, 0, 0, 0, 0, 0, 0, 0]})
    >>> metric.eval()
    {'p_value': 0.03125, 'statistic': 0.0, 'n1': 6, 'n2': 0}
    """

    def __init__(
        self, pred1: str, pred2: str, target: str | None = None, exact: bool | None = True, **kwargs: Any
    ) -> None:
        if exact is not None and type(exact) not in (bool, np.bool_):
            raise ValueError(f"exact must be True or False, got {exact!r}")
        super().__init__(
            metric_func=mcnemars_test, pred=None, target=target, pred1=pred1, pred2=pred2, exact=exact, **kwargs
        )
