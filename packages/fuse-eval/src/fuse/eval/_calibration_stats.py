"""Calibration of a binary risk model as a statistician reports it: calibration-in-the-large, calibration slope,
and the integrated calibration index with E50, E90 and Emax.

- **Calibration intercept** (calibration-in-the-large): ``a`` in ``logit P(y=1) = a + logit(p)``, a logistic
  regression of the outcome on an intercept with ``logit(p)`` as offset (statsmodels GLM, binomial family).
  0 when the average predicted risk matches the observed rate; negative when the model over-predicts.
- **Calibration slope**: ``b`` in ``logit P(y=1) = a + b * logit(p)``. 1 is ideal; below 1, predictions are too
  extreme (typical of overfitting); above 1, too moderate.
- **ICI, E50, E90, Emax** (Austin & Steyerberg 2019, https://doi.org/10.1002/sim.8281): the observed risk at each
  predicted risk is estimated by a smoother of the outcome on ``p``; over the samples, ICI is the mean of
  ``|p - smoothed(p)|``, E50 its median, E90 its 90th percentile (numpy's default linear interpolation, as R's
  ``quantile``) and Emax its maximum.

The smoother is statsmodels' ``lowess`` (Cleveland's locally linear smoother) with ``frac=2/3``, ``it=0`` and
``delta=0.01 * (max(p) - min(p))``: R's ``lowess(p, y, iter=0)``, the smoother of ``rms::val.prob``, which reports
the same Eavg/E90/Emax. ``it=0`` matters: lowess's default robustness iterations (``it=3``) down-weight the 0/1
outcomes farthest from the curve, which for a binary outcome biases it towards the majority class. Austin &
Steyerberg's own examples smooth with R's ``loess`` (local quadratic, span 0.75), which statsmodels does not offer;
values differ slightly between the two smoothers. ``delta`` interpolates between fits less than 1% of the range
apart (as R's lowess does): smoothed values moved by about 1e-4 on 200 to 5000 uniform risks, and 8x (1000 samples) to
30x (5000) faster, which makes bootstrap intervals affordable (``delta=0`` fits at every sample).

Logits need ``0 < p < 1``: predictions of exactly 0 or 1 are clipped to ``[eps, 1 - eps]`` (``eps = 1e-8``, a logit
of about +-18.4) with a warning, since intercept and slope then depend on ``eps``. Undefined cases give NaN with an
``UndefinedMetricWarning`` naming the cause: no samples or a single class (every statistic), the outcome perfectly
separated by the predicted risk (the slope's maximum likelihood estimate is infinite), all predictions equal (no
slope), or one predicted risk shared by so many samples that lowess's neighbourhood has width zero (ICI and E's).
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fuse.eval._binary_risk import risks_and_outcomes
from fuse.eval._metric_base import MetricDefault
from fuse.eval._warnings import UndefinedMetricWarning

__all__ = [
    "CALIBRATION_STATS",
    "MetricCalibrationStats",
    "calibration_intercept",
    "calibration_slope",
    "calibration_stats",
    "integrated_calibration_index",
    "recalibration_resampled",
]

CALIBRATION_STATS: tuple[str, ...] = ("intercept", "slope", "ici", "e50", "e90", "emax")
_SMOOTHED = ("ici", "e50", "e90", "emax")
LOGIT_EPS = 1e-8
LOWESS_FRAC = 2.0 / 3.0
LOWESS_IT = 0
LOWESS_DELTA = 0.01  # a fraction of the range of the predicted risks, as R's lowess

ArrayLike = Sequence[Any] | np.ndarray


class ClippedRiskWarning(UserWarning):
    """Predicted risks of exactly 0 or 1 were clipped to take their logits."""


# ---------------------------------------------------------------------------------------------------------------------
# checks


def _check_settings(stats: Sequence[str], eps: float, frac: float, it: int, delta: float) -> tuple[str, ...]:
    if isinstance(stats, str):
        stats = (stats,)
    unknown = [name for name in stats if name not in CALIBRATION_STATS]
    if unknown or not stats:
        raise ValueError(f"stats must be a non-empty selection of {CALIBRATION_STATS}, got {list(stats)!r}")
    if not (isinstance(eps, numbers.Real) and 0 < eps < 0.5):
        raise ValueError(f"eps must lie in (0, 0.5): predictions are clipped to [eps, 1 - eps]; got {eps!r}")
    if not (isinstance(frac, numbers.Real) and 0 < frac <= 1):
        raise ValueError(f"frac (lowess's share of samples in each neighbourhood) must lie in (0, 1], got {frac!r}")
    if isinstance(it, bool) or not isinstance(it, numbers.Integral) or it < 0:
        raise ValueError(f"it (lowess's robustness iterations) must be an integer >= 0, got {it!r}")
    if not (isinstance(delta, numbers.Real) and 0 <= delta < 1):
        raise ValueError(f"delta (a fraction of the risks' range) must lie in [0, 1), got {delta!r}")
    return tuple(stats)


def _undefined(cause: str, stacklevel: int = 3) -> float:
    warnings.warn(f"{cause}; returning NaN", UndefinedMetricWarning, stacklevel=stacklevel)
    return math.nan


def _undefined_for_all(risk: np.ndarray, outcome: np.ndarray) -> str | None:
    """Why no calibration statistic is defined on these samples, or ``None``."""
    if len(risk) == 0:
        return "calibration statistics of no samples are undefined"
    positives = int(outcome.sum())
    if positives in (0, len(outcome)):
        kind = "positive" if positives else "negative"
        return (
            f"calibration statistics are undefined with only {kind} samples ({len(outcome)} samples): the observed "
            "risk is 0 or 1 everywhere and the logistic recalibration has no finite solution"
        )
    return None


# ---------------------------------------------------------------------------------------------------------------------
# the statistics, on validated arrays


def _logits(risk: np.ndarray, eps: float) -> np.ndarray:
    clipped = np.clip(risk, eps, 1.0 - eps)
    changed = int(np.count_nonzero(clipped != risk))
    if changed:
        warnings.warn(
            f"{changed} of {len(risk)} predicted risks are within {eps:g} of 0 or 1 and were clipped to "
            f"[{eps:g}, 1 - {eps:g}] to take their logits: the calibration intercept and slope depend on eps for "
            "them (a risk of exactly 0 or 1 for a case with the other outcome is an infinite miscalibration)",
            ClippedRiskWarning,
            stacklevel=4,
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
        return _undefined(f"the calibration intercept is undefined: {result}", stacklevel=5)
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
        return _undefined(
            "the calibration slope is undefined: every prediction is the same, so there is nothing to regress on",
            stacklevel=5,
        )
    if _separated(logit, outcome):
        return _undefined(
            "the calibration slope is undefined: the predicted risk separates the outcomes perfectly (every "
            "positive at or above every negative, or the reverse), so the logistic slope is infinite",
            stacklevel=5,
        )
    result = _glm_fit(outcome, np.column_stack((np.ones(len(logit)), logit)), None)
    if isinstance(result, str):
        return _undefined(f"the calibration slope is undefined: {result}", stacklevel=5)
    return float(result.params[1])


def _smoothed_errors(risk: np.ndarray, outcome: np.ndarray, frac: float, it: int, delta: float) -> dict[str, float]:
    from statsmodels.nonparametric.smoothers_lowess import lowess

    nan = dict.fromkeys(_SMOOTHED, math.nan)
    neighbours = int(frac * len(risk) + 1e-10)  # statsmodels' neighbourhood size
    if neighbours < 2:
        _undefined(
            f"the integrated calibration index is undefined: lowess's neighbourhoods (frac={frac:g} of "
            f"{len(risk)} samples) hold fewer than 2 samples",
            stacklevel=5,
        )
        return nan
    largest_tie = int(np.unique(risk, return_counts=True)[1].max())
    if largest_tie >= neighbours:
        # every neighbourhood of the tied samples holds only them: width zero, and statsmodels returns 0 there
        _undefined(
            f"the integrated calibration index is undefined: {largest_tie} of {len(risk)} samples share one "
            f"predicted risk, at least lowess's neighbourhood of {neighbours} samples (frac={frac:g}), which then "
            "has width zero; use a larger frac or a model with more distinct risks",
            stacklevel=5,
        )
        return nan
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            smoothed = lowess(
                outcome.astype(float), risk, frac=frac, it=it, delta=delta * float(np.ptp(risk)),
                return_sorted=False, missing="none",
            )  # fmt: skip
        except RuntimeWarning as problem:
            _undefined(f"the integrated calibration index is undefined: lowess failed ({problem})", stacklevel=5)
            return nan
    errors = np.abs(risk - smoothed)
    return {
        "ici": float(np.mean(errors)),
        "e50": float(np.median(errors)),
        "e90": float(np.quantile(errors, 0.9)),
        "emax": float(np.max(errors)),
    }


def _statistics(
    risk: np.ndarray,
    outcome: np.ndarray,
    stats: tuple[str, ...],
    eps: float,
    frac: float,
    it: int,
    delta: float,
) -> dict[str, float]:
    cause = _undefined_for_all(risk, outcome)
    if cause is not None:
        _undefined(cause, stacklevel=4)
        return dict.fromkeys(stats, math.nan)
    values: dict[str, float] = {}
    if "intercept" in stats or "slope" in stats:
        logit = _logits(risk, eps)
        if "intercept" in stats:
            values["intercept"] = _intercept(logit, outcome)
        if "slope" in stats:
            values["slope"] = _slope(logit, outcome)
    if any(name in stats for name in _SMOOTHED):
        values |= _smoothed_errors(risk, outcome, frac, it, delta)
    return {name: values[name] for name in stats}


# ---------------------------------------------------------------------------------------------------------------------
# functions


def calibration_stats(
    pred: ArrayLike,
    target: ArrayLike,
    stats: Sequence[str] = CALIBRATION_STATS,
    eps: float = LOGIT_EPS,
    frac: float = LOWESS_FRAC,
    it: int = LOWESS_IT,
    delta: float = LOWESS_DELTA,
    pos_label: Any = None,
    pos_class_index: int = -1,
) -> dict[str, float]:
    """Calibration intercept and slope, ICI, E50, E90 and Emax of binary risk predictions (see the module).

    :param pred: the predicted probability of the positive class per sample (or probability vectors, with
        ``pos_class_index`` picking the positive column); values outside [0, 1] raise.
    :param target: the outcome: 0/1, or two labels with ``pos_label`` naming the positive one.
    :param stats: which of :data:`CALIBRATION_STATS` to compute (the lowess ones share one fit).
    :param eps: predictions are clipped to ``[eps, 1 - eps]`` for their logits (with a warning when any is).
    :param frac: lowess's share of the samples in each local fit.
    :param it: lowess's robustness iterations (0: none, right for a 0/1 outcome).
    :param delta: lowess interpolates between fits closer than ``delta`` times the range of the risks.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> risk = rng.uniform(0.05, 0.95, 2000)
    >>> outcome = rng.uniform(size=2000) < risk  # calibrated by construction
    >>> {key: round(value, 2) for key, value in calibration_stats(risk, outcome.astype(int)).items()}
    {'intercept': 0.04, 'slope': 0.98, 'ici': 0.01, 'e50': 0.01, 'e90': 0.02, 'emax': 0.02}
    """
    chosen = _check_settings(stats, eps, frac, it, delta)
    risk, outcome = risks_and_outcomes(pred, target, pos_label, pos_class_index)
    return _statistics(risk, outcome, chosen, eps, frac, it, delta)


def calibration_intercept(
    pred: ArrayLike, target: ArrayLike, eps: float = LOGIT_EPS, pos_label: Any = None, pos_class_index: int = -1
) -> float:
    """Calibration-in-the-large: ``a`` in ``logit P(y=1) = a + logit(p)`` (0 is ideal; see :func:`calibration_stats`).

    >>> round(calibration_intercept([0.2, 0.2, 0.2, 0.2, 0.2], [0, 0, 0, 1, 1]), 4)  # logit(0.4) - logit(0.2)
    0.9808
    """
    # each public function calls _statistics itself, so that warnings point at the caller's line
    _check_settings(("intercept",), eps, LOWESS_FRAC, LOWESS_IT, LOWESS_DELTA)
    risk, outcome = risks_and_outcomes(pred, target, pos_label, pos_class_index)
    return _statistics(risk, outcome, ("intercept",), eps, LOWESS_FRAC, LOWESS_IT, LOWESS_DELTA)["intercept"]


def calibration_slope(
    pred: ArrayLike, target: ArrayLike, eps: float = LOGIT_EPS, pos_label: Any = None, pos_class_index: int = -1
) -> float:
    """Calibration slope: ``b`` in ``logit P(y=1) = a + b * logit(p)`` (1 is ideal; see :func:`calibration_stats`).

    >>> round(calibration_slope([0.1, 0.3, 0.35, 0.6, 0.7, 0.9], [0, 1, 0, 0, 1, 1]), 4)
    1.0615
    """
    _check_settings(("slope",), eps, LOWESS_FRAC, LOWESS_IT, LOWESS_DELTA)
    risk, outcome = risks_and_outcomes(pred, target, pos_label, pos_class_index)
    return _statistics(risk, outcome, ("slope",), eps, LOWESS_FRAC, LOWESS_IT, LOWESS_DELTA)["slope"]


def integrated_calibration_index(
    pred: ArrayLike,
    target: ArrayLike,
    frac: float = LOWESS_FRAC,
    it: int = LOWESS_IT,
    delta: float = LOWESS_DELTA,
    pos_label: Any = None,
    pos_class_index: int = -1,
) -> dict[str, float]:
    """``{"ici", "e50", "e90", "emax"}``: the mean, median, 90th percentile and maximum of ``|p - smoothed(p)|``
    over the samples, ``smoothed`` the lowess of the outcome on the predicted risk (see :func:`calibration_stats`).

    >>> result = integrated_calibration_index([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [0, 0, 1, 0, 1, 0, 1, 1])
    >>> sorted(result)
    ['e50', 'e90', 'emax', 'ici']
    """
    _check_settings(_SMOOTHED, LOGIT_EPS, frac, it, delta)
    risk, outcome = risks_and_outcomes(pred, target, pos_label, pos_class_index)
    return _statistics(risk, outcome, _SMOOTHED, LOGIT_EPS, frac, it, delta)


# ---------------------------------------------------------------------------------------------------------------------
# the metric


class MetricCalibrationStats(MetricDefault):
    """Calibration intercept, slope, ICI, E50, E90 and Emax as a metric: a dict of numbers (see
    :func:`calibration_stats`), so that :class:`fuse.eval.CI` gives each a bootstrap interval.

    Inside a bootstrap, inputs are validated once and the per-resampling warnings (clipping, undefined values) are
    left to ``CI``, which counts the undefined resamplings. The logistic fits of a block of resamplings run at once
    (:func:`recalibration_resampled`); lowess runs per resampling, about 5 ms for 1000 samples and 30 ms for 20000
    (``stats=("intercept", "slope")`` skips it).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> risk = rng.uniform(0.05, 0.95, 400)
    >>> metric = MetricCalibrationStats(pred="pred", target="target", stats=("intercept", "slope"))
    >>> metric.collect({"id": np.arange(400), "pred": risk, "target": (rng.uniform(size=400) < risk).astype(int)})
    >>> {key: round(value, 2) for key, value in metric.eval().items()}
    {'intercept': -0.14, 'slope': 1.02}
    """

    def __init__(
        self,
        pred: str,
        target: str,
        stats: Sequence[str] = CALIBRATION_STATS,
        eps: float = LOGIT_EPS,
        frac: float = LOWESS_FRAC,
        it: int = LOWESS_IT,
        delta: float = LOWESS_DELTA,
        pos_label: Any = None,
        pos_class_index: int = -1,
        **kwargs: Any,
    ) -> None:
        chosen = _check_settings(stats, eps, frac, it, delta)
        self._settings: dict[str, Any] = {"stats": chosen, "eps": eps, "frac": frac, "it": it, "delta": delta}
        self._labels: dict[str, Any] = {"pos_label": pos_label, "pos_class_index": pos_class_index}
        super().__init__(
            metric_func=functools.partial(calibration_stats, **self._settings, **self._labels),
            pred=pred,
            target=target,
            **kwargs,
        )

    def eval_resampled(self, results: Mapping[str, Any] | None, ids: np.ndarray, rows: np.ndarray) -> list[Any]:
        """Inputs validated once per bootstrap run; the logistic fits of all resamplings at once (Newton's method on
        resampling counts, statsmodels for any that does not converge), lowess one resampling at a time.
        """
        arguments = self._extract_arguments(results, ids)
        with self.naming_inputs(ids):
            risk, outcome = self.cached_for_resampling(
                "risks", lambda: risks_and_outcomes(arguments["pred"], arguments["target"], **self._labels)
            )
        stats: tuple[str, ...] = self._settings["stats"]
        out: list[dict[str, float]] = [{} for _ in rows]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            warnings.simplefilter("ignore", ClippedRiskWarning)
            undefined = [_undefined_for_all(risk[row], outcome[row]) is not None for row in rows]
            if "intercept" in stats or "slope" in stats:
                logit = self.cached_for_resampling("logits", lambda: _logits(risk, self._settings["eps"]))
                fits = recalibration_resampled(logit, outcome, rows, with_slope="slope" in stats)
                for values, intercept, slope in zip(out, *fits, strict=True):
                    values.update(intercept=float(intercept), slope=float(slope))
            if any(name in stats for name in _SMOOTHED):
                frac, it, delta = (self._settings[key] for key in ("frac", "it", "delta"))
                for values, row, skip in zip(out, rows, undefined, strict=True):
                    if not skip:
                        values.update(_smoothed_errors(risk[row], outcome[row], frac, it, delta))
        return [
            dict.fromkeys(stats, math.nan) if skip else {name: values[name] for name in stats}
            for values, skip in zip(out, undefined, strict=True)
        ]


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
