"""Analytic confidence intervals of a proportion (sensitivity, specificity, PPV, NPV, accuracy).

A percentile bootstrap of a proportion is degenerate at the boundary: with 42 of 42 positives detected every
resampling has sensitivity 1, so the bootstrap "interval" is [1, 1]. The Wilson score interval and the exact
Clopper-Pearson interval stay meaningful there (e.g. 42/42 gives a Wilson lower bound of 0.916).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fuse.eval.framework._lazy import LazyModule
from fuse.eval.framework._warnings import UndefinedMetricWarning, user_stacklevel

__all__ = [
    "PROPORTION_CI_METHODS",
    "ProportionCounts",
    "clustered_proportion_ci",
    "confusion_proportion",
    "proportion_ci",
]


PROPORTION_CI_METHODS = ("wilson", "clopper-pearson")


# statsmodels' names of the same intervals
_STATSMODELS_METHOD = {"wilson": "wilson", "clopper-pearson": "beta"}


_sm_proportion = LazyModule("statsmodels.stats.proportion")


@runtime_checkable
class ProportionCounts(Protocol):
    """A metric whose values are proportions of counts, so that ``CI`` can give them analytic intervals.

    ``proportion_counts(results, ids)`` maps each key of the metric's result (evaluated on the same ids) to
    ``(successes, n)``, or to ``None`` for a key that is itself a count (kept as it is, no interval). A key
    left out is not a proportion (e.g. f1, a macro average): ``CI`` reports it without an interval and warns.
    A metric returning a single number maps the key ``""``.
    """

    def proportion_counts(self, results: Mapping[str, Any] | None, ids: Any) -> Mapping[str, tuple[int, int] | None]:
        """``{result key: (successes, n) or None}`` on ``ids``."""


def confusion_proportion(name: str, tn: int, fp: int, fn: int, tp: int) -> tuple[int, int] | None:
    """``(successes, n)`` of confusion metric ``name`` given the confusion counts; ``None`` when it is no proportion.

    >>> confusion_proportion("sensitivity", tn=50, fp=8, fn=0, tp=42), confusion_proportion("f1", 50, 8, 0, 42)
    ((42, 42), None)
    """
    if name in ("sensitivity", "recall", "tpr"):
        return tp, tp + fn
    if name in ("specificity", "selectivity", "tnr"):
        return tn, tn + fp
    if name in ("precision", "ppv"):
        return tp, tp + fp
    if name == "npv":
        return tn, tn + fn
    if name == "accuracy":
        return tp + tn, tn + fp + fn + tp
    return None


def proportion_ci(successes: int, n: int, method: str = "wilson", alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided ``1 - alpha`` confidence interval of the proportion ``successes / n``.

    ``"wilson"``: the Wilson score interval (no continuity correction); ``"clopper-pearson"``: the exact
    interval from the beta distribution (lower bound 0 at ``successes == 0``, upper bound 1 at
    ``successes == n``). The values are statsmodels' ``proportion_confint`` (whose name for Clopper-Pearson is
    ``"beta"``; only the names above are accepted, so one interval has one name), except that the bound at
    ``successes == 0`` is exactly 0 and the one at ``successes == n`` exactly 1 (statsmodels' Wilson formula
    can be off there by one ulp). ``n == 0`` gives
    ``(nan, nan)`` with an :class:`UndefinedMetricWarning` (no observation: the proportion is undefined).

    :param successes: number of successes (e.g. true positives for sensitivity), ``0 <= successes <= n``.
    :param n: number of trials (e.g. positives for sensitivity).
    :param method: ``"wilson"`` or ``"clopper-pearson"``.
    :param alpha: ``1 -`` the confidence level, e.g. 0.05 for a 95% interval.
    :raises ValueError: on an unknown method, ``alpha`` outside (0, 1) or counts outside ``0 <= successes <= n``.
    :raises TypeError: on counts that are not integers.

    >>> lower, upper = proportion_ci(42, 42)  # sensitivity 1.0 on 42 positives
    >>> round(lower, 4), upper
    (0.9162, 1.0)
    >>> tuple(round(b, 4) for b in proportion_ci(8, 10, method="clopper-pearson"))
    (0.4439, 0.9748)
    """
    if method not in PROPORTION_CI_METHODS:
        hint = " ('beta' is statsmodels' name for 'clopper-pearson')" if method == "beta" else ""
        raise ValueError(f"method must be one of {PROPORTION_CI_METHODS}, got {method!r}{hint}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1) (e.g. 0.05 for a 95% interval), got {alpha!r}")
    for name, value in (("successes", successes), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer count, got {value!r} ({type(value).__name__})")
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes!r}, n={n!r}")
    if n == 0:
        warnings.warn(
            f"proportion_ci: n == 0 (no trials, e.g. no positive sample for sensitivity): the proportion and its "
            f"{method} interval are undefined; returning (nan, nan)",
            UndefinedMetricWarning,
            stacklevel=user_stacklevel(),
        )
        return float("nan"), float("nan")
    lower, upper = _sm_proportion.proportion_confint(
        int(successes), int(n), alpha=float(alpha), method=_STATSMODELS_METHOD[method]
    )
    # both intervals reach exactly 0 at successes == 0 and 1 at successes == n; statsmodels' Wilson formula
    # leaves rounding noise there (0.9999999999999999 at 42/42)
    low = 0.0 if successes == 0 else min(max(float(lower), 0.0), 1.0)
    high = 1.0 if successes == n else min(max(float(upper), 0.0), 1.0)
    return low, high


def clustered_proportion_ci(
    successes: int, clusters: Any, method: str = "wilson", alpha: float = 0.05
) -> tuple[float, float, float]:
    """``proportion_ci`` of ``successes`` out of the cases whose clusters (e.g. patients) are ``clusters``, one per
    case, with the effective number of cases ``n_eff = (sum n_i)^2 / sum n_i^2`` over the clusters' case counts
    ``n_i`` (Kish's effective sample size at an intra-cluster correlation of 1). Returns ``(low, high, n_eff)``.

    The design effect of a proportion over clusters is ``1 + (m - 1) rho`` with ``m = sum n_i^2 / sum n_i``, at most
    ``m`` for a correlation ``rho <= 1``: the interval on ``n_eff = n / m`` cases is what the cases would give if
    those of a cluster were identical, never narrower than the data allow, and wider than needed when they are not.
    Unlike a bootstrap over clusters it stays meaningful at 0 and 1 (a proportion of 1 has a lower bound below 1).
    One case per cluster gives exactly ``proportion_ci(successes, n)``.

    >>> low, high, n_eff = clustered_proportion_ci(42, [i // 2 for i in range(42)])  # 21 patients, 2 images each
    >>> round(low, 4), high, n_eff  # as proportion_ci(21, 21)
    (0.8454, 1.0, 21.0)
    """
    labels = np.asarray(clusters)
    n = len(labels)
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= number of cases ({n}), got successes={successes!r}")
    if n == 0:
        return (*proportion_ci(0, 0, method=method, alpha=alpha), 0.0)
    sizes = np.unique(labels, return_counts=True)[1].astype(float)
    effective = float(sizes.sum() ** 2 / (sizes**2).sum())
    if np.all(sizes == 1):
        return (*proportion_ci(int(successes), n, method=method, alpha=alpha), float(n))
    proportion_ci(int(successes), n, method=method, alpha=alpha)  # the same checks of method and alpha
    lower, upper = _sm_proportion.proportion_confint(
        successes / n * effective, effective, alpha=float(alpha), method=_STATSMODELS_METHOD[method]
    )
    low = 0.0 if successes == 0 else min(max(float(lower), 0.0), 1.0)
    high = 1.0 if successes == n else min(max(float(upper), 0.0), 1.0)
    return low, high, effective
