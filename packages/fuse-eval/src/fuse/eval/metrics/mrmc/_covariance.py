"""Empirical ROC AUCs of many readings of the same cases and the covariance of their sampling errors over cases.

Every row of ``ratings`` (shape ``(K, c)``) is one reading (a test-reader pair) of the same ``c`` cases, whose truth
``positive`` is shared. The AUC is the trapezoidal (Mann-Whitney) one, ties counting one half. Three estimators of
the ``K x K`` covariance matrix of the AUCs over cases, all from the placement values (structural components) of one
sort per row, so that no ``m x n`` matrix is needed except by the unbiased one:

- ``delong``: DeLong, DeLong & Clarke-Pearson (1988), Biometrics 44:837, ``S10 / m + S01 / n`` with the sample
  covariances (divisor ``m - 1``, ``n - 1``) of the structural components, as :func:`fuse.eval.delong_test`;
- ``jackknife``: the leave-one-case-out jackknife, ``(c - 1) / c Σ_k (θ(k) - θ̄)(θ(k) - θ̄)ᵀ`` (Efron 1982), whose
  leave-one-out AUCs are the total placement count less the left-out case's own;
- ``unbiased``: the U-statistic estimator of Gallas (2006), Acad Radiol 13:353, which replaces each of the four
  second moments of the kernel (same positive and negative, same positive only, same negative only, neither) by
  its unbiased average over distinct cases. It can be negative. O(K² m n) time (in bounded memory).
"""

from __future__ import annotations

import numpy as np

from fuse.eval.metrics.classification._comparison import _placement_counts

__all__ = ["COV_METHODS", "auc_covariance"]


COV_METHODS = ("jackknife", "delong", "unbiased")


# kernel blocks of the unbiased estimator hold at most this many entries (bounded memory for any number of cases)
_BLOCK_ENTRIES = 1 << 22


def auc_covariance(ratings: np.ndarray, positive: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """``(aucs, cov)``: the AUC of every row of ``ratings`` (``(K, c)``, higher = more likely positive) against the
    shared truth ``positive`` (``(c,)`` booleans), and the ``K x K`` covariance estimate of ``method``.

    Needs at least 2 positive and 2 negative cases (the caller checks).

    >>> ratings = np.array([[0.1, 0.4, 0.35, 0.8, 0.7], [0.2, 0.3, 0.5, 0.9, 0.6]])
    >>> aucs, cov = auc_covariance(ratings, np.array([False, False, True, True, True]), "delong")
    >>> aucs.round(4).tolist(), cov.shape
    ([0.8333, 1.0], (2, 2))
    """
    positive = np.asarray(positive, dtype=bool)
    m, n = int(positive.sum()), int((~positive).sum())
    pos_counts = np.empty((len(ratings), m))
    neg_counts = np.empty((len(ratings), n))
    for row, scores in enumerate(ratings):
        pos_counts[row], neg_counts[row] = _placement_counts(scores, positive)
    totals = pos_counts.sum(axis=1)
    aucs = totals / (m * n)
    if method == "delong":
        cov = _delong(pos_counts / n, neg_counts / m)
    elif method == "jackknife":
        cov = _jackknife(pos_counts, neg_counts, totals, m, n)
    elif method == "unbiased":
        cov = _unbiased(ratings, positive, pos_counts, neg_counts, totals)
    else:
        raise ValueError(f"cov must be one of {list(COV_METHODS)}, got {method!r}")
    return aucs, cov


def _sample_cov(rows: np.ndarray) -> np.ndarray:
    """``1 / (N - 1) Σ (x - x̄)(x - x̄)ᵀ`` over the columns of ``rows`` (``(K, N)``)."""
    centred = rows - rows.mean(axis=1, keepdims=True)
    cov: np.ndarray = centred @ centred.T / (rows.shape[1] - 1)
    return cov


def _delong(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    """DeLong's ``S10 / m + S01 / n`` from the structural components of the positives (``V10``) and negatives."""
    cov: np.ndarray = _sample_cov(v10) / v10.shape[1] + _sample_cov(v01) / v01.shape[1]
    return cov


def _jackknife(pos_counts: np.ndarray, neg_counts: np.ndarray, totals: np.ndarray, m: int, n: int) -> np.ndarray:
    """Jackknife covariance from the leave-one-case-out AUCs, each the total less that case's placement count."""
    without_positive = (totals[:, None] - pos_counts) / ((m - 1) * n)
    without_negative = (totals[:, None] - neg_counts) / (m * (n - 1))
    leave_one_out = np.concatenate([without_positive, without_negative], axis=1)
    cases = m + n
    centred = leave_one_out - leave_one_out.mean(axis=1, keepdims=True)
    cov: np.ndarray = (cases - 1) / cases * (centred @ centred.T)
    return cov


def _unbiased(
    ratings: np.ndarray, positive: np.ndarray, pos_counts: np.ndarray, neg_counts: np.ndarray, totals: np.ndarray
) -> np.ndarray:
    """Gallas's unbiased covariance: with ψ the kernel (1 if the positive is rated higher, 1/2 if tied),

    ``Cov = [M1 + (n-1) M2 + (m-1) M3 - (m+n-1) M4] / (m n)`` where ``M1`` averages ψ_a(i,k) ψ_b(i,k) over pairs,
    ``M2`` ψ_a(i,k) ψ_b(i,k') over k ≠ k', ``M3`` ψ_a(i,k) ψ_b(i',k) over i ≠ i' and ``M4`` ψ_a(i,k) ψ_b(i',k')
    over i ≠ i', k ≠ k'. The sums over distinct cases come from the sum over all pairs less the placement sums.
    """
    m, n = pos_counts.shape[1], neg_counts.shape[1]
    same_pair = _kernel_products(ratings[:, positive], ratings[:, ~positive])
    same_positive = pos_counts @ pos_counts.T  # Σ_i Σ_k Σ_k' ψ_a(i,k) ψ_b(i,k')
    same_negative = neg_counts @ neg_counts.T
    everything = np.outer(totals, totals)
    m1 = same_pair / (m * n)
    m2 = (same_positive - same_pair) / (m * n * (n - 1))
    m3 = (same_negative - same_pair) / (m * (m - 1) * n)
    m4 = (everything - same_positive - same_negative + same_pair) / (m * (m - 1) * n * (n - 1))
    cov: np.ndarray = (m1 + (n - 1) * m2 + (m - 1) * m3 - (m + n - 1) * m4) / (m * n)
    return cov


def _kernel_products(pos_ratings: np.ndarray, neg_ratings: np.ndarray) -> np.ndarray:
    """``Σ_{i,k} ψ_a(i,k) ψ_b(i,k)`` for every pair of rows ``a, b``, a block of positives at a time.

    The kernel is kept doubled (0, 1 or 2) so that every product and sum is an exact integer in float64.
    """
    rows, m = pos_ratings.shape
    n = neg_ratings.shape[1]
    block = max(1, _BLOCK_ENTRIES // max(rows * n, 1))
    total = np.zeros((rows, rows))
    for first in range(0, m, block):
        above = pos_ratings[:, first : first + block, None]
        below = neg_ratings[:, None, :]
        doubled = (above > below).astype(float) + (above >= below)
        flat = doubled.reshape(rows, -1)
        total += flat @ flat.T
    products: np.ndarray = total / 4
    return products
