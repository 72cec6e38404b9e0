"""Logistic recalibration fits of binary risks: the calibration intercept and slope (statsmodels GLM), and Newton refits
of many resamplings at once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from fuse.eval.framework._warnings import undefined, user_stacklevel

__all__ = ["ClippedRiskWarning", "recalibration_resampled"]


LOGIT_EPS = 1e-8


class ClippedRiskWarning(UserWarning):
    """Predicted risks of exactly 0 or 1 were clipped to take their logits."""


def _logits(risk: np.ndarray, eps: float) -> np.ndarray:
    clipped = np.clip(risk, eps, 1.0 - eps)
    changed = int(np.count_nonzero(clipped != risk))
    if changed:
        warnings.warn(
            f"{changed} of {len(risk)} predicted risks are within {eps:g} of 0 or 1 and were clipped to "
            f"[{eps:g}, 1 - {eps:g}] to take their logits: the calibration intercept and slope depend on eps for "
            "them (a risk of exactly 0 or 1 for a case with the other outcome is an infinite miscalibration)",
            ClippedRiskWarning,
            stacklevel=user_stacklevel(),
        )
    logits: np.ndarray = np.log(clipped) - np.log1p(-clipped)
    return logits


def _glm_fit(outcome: np.ndarray, exog: np.ndarray, offset: np.ndarray | None) -> Any:
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            result = sm.GLM(outcome.astype(float), exog, family=sm.families.Binomial(), offset=offset).fit()
        except (PerfectSeparationWarning, ConvergenceWarning) as problem:
            return f"the logistic fit failed ({problem})"
    if not result.converged:
        return "the logistic fit did not converge"
    return result


def _intercept(logit: np.ndarray, outcome: np.ndarray) -> float:
    # with both classes present, sum(y) = sum(expit(a + logit)) has exactly one finite root
    result = _glm_fit(outcome, np.ones((len(logit), 1)), logit)
    if isinstance(result, str):
        return undefined(f"the calibration intercept is undefined: {result}")
    return float(result.params[0])


def _separated(logit: np.ndarray, outcome: np.ndarray) -> bool:
    """Complete or quasi-complete separation by one predictor: a cut-off with every positive on one side of it and
    every negative on the other (ties at the cut-off allowed). Then the slope's maximum likelihood estimate is
    infinite; statsmodels flags complete separation but returns a large finite slope for quasi-complete.
    """
    positive, negative = logit[outcome], logit[~outcome]
    return bool(negative.max() <= positive.min() or positive.max() <= negative.min())


def _slope(logit: np.ndarray, outcome: np.ndarray) -> float:
    if np.ptp(logit) == 0:
        return undefined(
            "the calibration slope is undefined: every prediction is the same, so there is nothing to regress on",
        )
    if _separated(logit, outcome):
        return undefined(
            "the calibration slope is undefined: the predicted risk separates the outcomes perfectly (every "
            "positive at or above every negative, or the reverse), so the logistic slope is infinite",
        )
    result = _glm_fit(outcome, np.column_stack((np.ones(len(logit)), logit)), None)
    if isinstance(result, str):
        return undefined(f"the calibration slope is undefined: {result}")
    return float(result.params[1])


_NEWTON_ITERATIONS = 50


_NEWTON_TOLERANCE = 1e-10


_CHUNK_ENTRIES = 1 << 20


def recalibration_resampled(
    logit: np.ndarray, outcome: np.ndarray, rows: np.ndarray, with_slope: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Calibration intercepts and slopes of many resamplings (row ``r`` of ``rows``: positions into the samples).

    Each resampling is the samples weighted by how often it drew them, so the fits of all resamplings are one
    Newton iteration on ``(resamplings, samples)`` arrays (the logistic log-likelihood is concave; both fits start
    at the ideal calibration, intercept 0 and slope 1). A resampling with one class, separated outcomes or equal
    logits gets NaN, as :func:`calibration_stats` gives it; one that does not converge is fitted by statsmodels.
    Resamplings are taken a chunk at a time (about 1M weights, bounded memory).
    """
    chunk = max(1, _CHUNK_ENTRIES // max(len(logit), 1))
    if len(rows) > chunk:
        parts = [
            recalibration_resampled(logit, outcome, rows[i : i + chunk], with_slope) for i in range(0, len(rows), chunk)
        ]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    count = len(rows)
    size = len(logit)
    weights = np.bincount((rows + (np.arange(count) * size)[:, None]).ravel(), minlength=count * size)
    weights = weights.reshape(count, size).astype(float)
    y = outcome.astype(float)
    drawn = weights > 0
    positives = (weights * y).sum(axis=1)
    one_class = (positives == 0) | (positives == weights.sum(axis=1))

    # a resampling whose Newton steps overshoot (e.g. a clipped risk of 1 for a negative case) goes non-finite and
    # never meets the tolerance: statsmodels' step-controlled fit takes it over
    with np.errstate(all="ignore"):
        intercept, converged = _newton_intercept(logit, y, weights)
    intercept = _refit(intercept, converged | one_class, logit, outcome, rows, _intercept)

    slope = np.full(count, math.nan)
    if with_slope:
        low_positive = np.where(drawn & outcome, logit, np.inf).min(axis=1)
        high_positive = np.where(drawn & outcome, logit, -np.inf).max(axis=1)
        low_negative = np.where(drawn & ~outcome, logit, np.inf).min(axis=1)
        high_negative = np.where(drawn & ~outcome, logit, -np.inf).max(axis=1)
        separated = (high_negative <= low_positive) | (high_positive <= low_negative)  # also: equal logits
        with np.errstate(all="ignore"):
            b, converged = _newton_slope(logit, y, weights, separated | one_class)
        slope = np.where(separated | one_class, math.nan, b)
        slope = _refit(slope, converged, logit, outcome, rows, _slope)
    intercept[one_class] = math.nan
    return intercept, slope


def _newton_intercept(logit: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import expit

    intercept = np.zeros(len(weights))
    converged = np.zeros(len(weights), dtype=bool)
    for _ in range(_NEWTON_ITERATIONS):
        mu = expit(intercept[:, None] + logit)
        step = (weights * (y - mu)).sum(axis=1) / (weights * mu * (1 - mu)).sum(axis=1)
        intercept += np.where(converged, 0.0, step)
        converged |= np.abs(step) < _NEWTON_TOLERANCE
        if converged.all():
            break
    return intercept, converged & np.isfinite(intercept)


def _newton_slope(
    logit: np.ndarray, y: np.ndarray, weights: np.ndarray, skip: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import expit

    a, b = np.zeros(len(weights)), np.ones(len(weights))
    converged = skip.copy()
    for _ in range(_NEWTON_ITERATIONS):
        mu = expit(a[:, None] + b[:, None] * logit)
        w, r = weights * mu * (1 - mu), weights * (y - mu)
        g0, g1 = r.sum(axis=1), (r * logit).sum(axis=1)
        h00, h01, h11 = w.sum(axis=1), (w * logit).sum(axis=1), (w * logit * logit).sum(axis=1)
        det = h00 * h11 - h01 * h01
        da, db = (h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det
        a += np.where(converged, 0.0, da)
        b += np.where(converged, 0.0, db)
        converged |= (np.abs(da) < _NEWTON_TOLERANCE) & (np.abs(db) < _NEWTON_TOLERANCE)
        if converged.all():
            break
    return b, converged & (np.isfinite(b) | skip)


def _refit(
    values: np.ndarray,
    done: np.ndarray,
    logit: np.ndarray,
    outcome: np.ndarray,
    rows: np.ndarray,
    fit: Callable[[np.ndarray, np.ndarray], float],
) -> np.ndarray:
    """``values`` with the resamplings that Newton's method did not finish fitted by statsmodels instead."""
    result: np.ndarray = np.array(values, dtype=float)
    for position in np.flatnonzero(~done):
        row = rows[position]
        result[position] = fit(logit[row], outcome[row])
    return result
