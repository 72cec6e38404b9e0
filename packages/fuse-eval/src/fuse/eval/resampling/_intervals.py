"""Confidence intervals from bootstrap values: percentile, normal, pivotal and BCa."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fuse.eval.framework._lazy import scipy_special as special
from fuse.eval.framework._lazy import scipy_stats as stats

__all__ = ["bca_interval", "confidence_interval"]


BOOTSTRAP_CI_METHODS = ("PERCENTILE", "NORMAL", "PIVOTAL", "BCA")


# analytic intervals of proportions (no resampling), by their proportion_ci names
ANALYTIC_CI_METHODS = {"WILSON": "wilson", "CLOPPER-PEARSON": "clopper-pearson"}


CI_METHODS = (*BOOTSTRAP_CI_METHODS, *ANALYTIC_CI_METHODS)


def confidence_interval(method: str, original: float, samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """(lower, upper) bounds of a bootstrap confidence interval, with FuseMedML's formulas.

    PERCENTILE: the sorted samples at ``floor(a*n)`` and ``floor((1-a)*n)``, ``a = (1 - confidence/100) / 2``;
    NORMAL: ``original -/+ z(a) * std``; PIVOTAL: ``2*original - upper``, ``2*original - lower``. ``samples`` must
    be the defined (non-NaN) values: NaN would sort last and shift the upper bound (``CI`` drops them first).
    """
    alpha = (1 - confidence / 100.0) / 2.0
    if method == "NORMAL":
        spread = float(stats.norm.isf(alpha) * np.std(samples))
        return original - spread, original + spread
    ordered = np.sort(samples)
    n = len(ordered)
    low = float(ordered[int(np.floor(alpha * n))])
    high = float(ordered[min(int(np.floor((1 - alpha) * n)), n - 1)])
    if method == "PERCENTILE":
        return low, high
    return 2 * original - high, 2 * original - low


@dataclass(frozen=True)
class BCaInterval:
    """A BCa interval and what it rests on: ``z0`` (bias correction) and ``acceleration``; ``problem`` says why
    the bounds are NaN when they are."""

    lower: float
    upper: float
    z0: float
    acceleration: float
    problem: str | None = None


def bca_interval(original: float, samples: np.ndarray, jackknife: np.ndarray, confidence: float) -> BCaInterval:
    """Bias-corrected and accelerated bootstrap interval (Efron 1987; Efron & Tibshirani 1993, 14.3), as
    ``scipy.stats.bootstrap(method="BCa")`` computes it from the same values.

    ``z0 = Phi^-1(p)`` with ``p`` the share of ``samples`` below ``original``, ties (equal up to rounding error,
    relative 1e-12) counting one half;
    the acceleration ``a = sum(u^3) / (6 * sum(u^2)^1.5)`` with ``u = mean(jackknife) - jackknife`` (the
    leave-one-out values); the bounds are the ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` quantiles of
    ``samples`` (linear interpolation) for ``z = Phi^-1(alpha), Phi^-1(1 - alpha)``. ``samples`` must be the
    defined (non-NaN) values. NaN bounds, with the reason in ``problem``, where the interval does not exist:
    an undefined leave-one-out value, a metric that no single left-out unit changes (``a`` is 0/0), or every
    resampling on one side of ``original`` (``z0`` infinite).

    >>> rng = np.random.default_rng(0)
    >>> data = rng.exponential(size=30)
    >>> boot = data[rng.integers(0, 30, (2000, 30))].mean(axis=1)
    >>> loo = (data.sum() - data) / 29
    >>> interval = bca_interval(data.mean(), boot, loo, 95)
    >>> bool(interval.lower < data.mean() < interval.upper), round(interval.acceleration, 4)
    (True, 0.06)
    """
    alpha = (1 - confidence / 100.0) / 2.0
    samples, jackknife = np.asarray(samples, dtype=float), np.asarray(jackknife, dtype=float)
    # ties count one half; the original value and the resampled ones may come from different computations of the
    # same metric (e.g. scikit-learn and a vectorised form), so equal to rounding error is a tie
    tied = np.isclose(samples, original, rtol=1e-12, atol=1e-15)
    below = np.count_nonzero((samples < original) & ~tied)
    share = (2 * below + np.count_nonzero(tied)) / (2.0 * len(samples))
    z0 = float(special.ndtri(share))
    undefined = int(np.count_nonzero(np.isnan(jackknife)))
    spread = jackknife.mean() - jackknife
    squares = float(np.sum(spread**2))
    acceleration = float(np.sum(spread**3)) / (6.0 * squares**1.5) if squares > 0 and not undefined else math.nan
    problem = None
    if undefined:
        problem = (
            f"the metric is undefined (NaN) with {undefined} of {len(jackknife)} units (samples or clusters) left out "
            "(e.g. the only case of a class), so the jackknife acceleration is undefined"
        )
    elif not squares > 0:
        problem = "no single left-out unit (sample or cluster) changes the metric, so the acceleration is 0/0"
    elif not math.isfinite(z0):
        problem = (
            f"every resampling is {'above' if share == 0 else 'below or at'} the original value, so the bias "
            "correction is infinite"
        )
    if problem is not None:
        return BCaInterval(math.nan, math.nan, z0, acceleration, problem)
    z = np.array([special.ndtri(alpha), -special.ndtri(alpha)])
    levels = special.ndtr(z0 + (z0 + z) / (1 - acceleration * (z0 + z)))
    if not np.all(np.isfinite(levels)):
        return BCaInterval(math.nan, math.nan, z0, acceleration, "the adjusted quantile levels are undefined")
    lower, upper = np.quantile(samples, levels)
    return BCaInterval(float(lower), float(upper), z0, acceleration)
