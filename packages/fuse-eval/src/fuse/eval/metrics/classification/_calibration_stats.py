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
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._metric_base import MetricDefault
from fuse.eval.framework._warnings import UndefinedMetricWarning, undefined
from fuse.eval.metrics.classification._recalibration import (
    LOGIT_EPS,
    ClippedRiskWarning,
    _intercept,
    _logits,
    _slope,
    recalibration_resampled,
)
from fuse.eval.metrics.classification._scores import risks_and_outcomes

__all__ = [
    "CALIBRATION_STATS",
    "MetricCalibrationStats",
    "calibration_intercept",
    "calibration_slope",
    "calibration_stats",
    "integrated_calibration_index",
]


CALIBRATION_STATS: tuple[str, ...] = ("intercept", "slope", "ici", "e50", "e90", "emax")


_SMOOTHED = ("ici", "e50", "e90", "emax")


LOWESS_FRAC = 2.0 / 3.0


LOWESS_IT = 0


LOWESS_DELTA = 0.01  # a fraction of the range of the predicted risks, as R's lowess


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


def _smoothed_errors(risk: np.ndarray, outcome: np.ndarray, frac: float, it: int, delta: float) -> dict[str, float]:
    from statsmodels.nonparametric.smoothers_lowess import lowess

    nan = dict.fromkeys(_SMOOTHED, math.nan)
    neighbours = int(frac * len(risk) + 1e-10)  # statsmodels' neighbourhood size
    if neighbours < 2:
        undefined(
            f"the integrated calibration index is undefined: lowess's neighbourhoods (frac={frac:g} of "
            f"{len(risk)} samples) hold fewer than 2 samples",
        )
        return nan
    largest_tie = int(np.unique(risk, return_counts=True)[1].max())
    if largest_tie >= neighbours:
        # every neighbourhood of the tied samples holds only them: width zero, and statsmodels returns 0 there
        undefined(
            f"the integrated calibration index is undefined: {largest_tie} of {len(risk)} samples share one "
            f"predicted risk, at least lowess's neighbourhood of {neighbours} samples (frac={frac:g}), which then "
            "has width zero; use a larger frac or a model with more distinct risks",
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
            undefined(f"the integrated calibration index is undefined: lowess failed ({problem})")
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
        undefined(cause)
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
