"""The calibration statistics and the decision curve of a binary :func:`fuse.eval.write_report`.

Both need one predicted risk per case, so multi-class reports have neither (their notes say so). The intervals
are percentile bootstraps over the same resamplings as the report's AUC (same seed, same strata, same clusters).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fuse.eval.metrics.classification._calibration_stats import MetricCalibrationStats
from fuse.eval.metrics.classification._decision_curve import DECISION_CURVE_COLUMNS, MetricNetBenefit, net_benefit
from fuse.eval.metrics.classification._recalibration import ClippedRiskWarning
from fuse.eval.resampling._bootstrap import evaluate_bootstraps
from fuse.eval.resampling._intervals import confidence_interval

if TYPE_CHECKING:
    from fuse.eval.report._settings import ReportSettings

__all__ = [
    "CALIBRATION_STATISTICS",
    "MULTICLASS_NOTE",
    "check_decision_settings",
    "decision_curve_grid",
    "decision_sections",
]


# the statistics of the table, in order, with their names for readers and their ideal values
CALIBRATION_STATISTICS = {
    "intercept": ("Calibration intercept (calibration-in-the-large)", "0"),
    "slope": ("Calibration slope", "1"),
    "ici": ("Integrated calibration index (ICI)", "0"),
    "e50": ("E50 (median absolute error of the smoothed calibration curve)", "0"),
    "e90": ("E90 (its 90th percentile)", "0"),
    "emax": ("Emax (its maximum)", "0"),
}


# lowess costs about 1.5 microseconds per case (delta = 1% of the range): its resamplings are capped at this many
# cases x resamplings (about 15 s), at least SMOOTHED_MIN_RESAMPLINGS, taking the first ones of the report's draws
SMOOTHED_WORK_LIMIT = 10_000_000


SMOOTHED_MIN_RESAMPLINGS = 200


MULTICLASS_NOTE = (
    "calibration statistics (intercept, slope, ICI) and the decision curve: not reported, they apply to binary "
    "reports only (one predicted risk per case)"
)


def check_decision_settings(curve_range: Any, thresholds: Any) -> None:
    """``ValueError`` naming the setting unless ``curve_range`` is ``(low, high)`` with ``0 < low < high < 1`` and
    ``thresholds`` are numbers strictly inside (0, 1)."""
    if (
        not isinstance(curve_range, (tuple, list))
        or len(curve_range) != 2
        or not all(_real(value) for value in curve_range)
        or not 0 < curve_range[0] < curve_range[1] < 1
    ):
        raise ValueError(f"decision_curve_range must be (low, high) with 0 < low < high < 1, got {curve_range!r}")
    if not isinstance(thresholds, (tuple, list)) or not all(_real(t) and 0 < t < 1 for t in thresholds):
        raise ValueError(f"decision_thresholds must be a tuple of probabilities in (0, 1), got {thresholds!r}")


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def decision_curve_grid(curve_range: Sequence[float]) -> np.ndarray:
    """The thresholds of the drawn curve: every hundredth ``i / 100`` within the range, plus its ends.

    >>> decision_curve_grid((0.05, 0.1)).tolist()
    [0.05, 0.06, 0.07, 0.08, 0.09, 0.1]
    """
    low, high = float(curve_range[0]), float(curve_range[1])
    hundredths = np.arange(1, 100) / 100
    inside = hundredths[(hundredths >= low) & (hundredths <= high)]
    grid: np.ndarray = np.unique(np.concatenate(([low], inside, [high])))
    return grid


def decision_sections(
    scores: np.ndarray,
    labels: np.ndarray,
    clusters: np.ndarray | None,
    settings: ReportSettings,
    notes: list[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The calibration statistics ``{name: {"value", "low", "high", "method"}}`` and the decision curve of binary
    probabilities ``scores`` (of class 1) against ``labels`` (0/1)."""
    ids = np.arange(len(labels))
    grid = decision_curve_grid(settings.decision_curve_range)
    tabulated = np.asarray(sorted(set(settings.decision_thresholds)), dtype=float)
    batch = {"id": ids, "score": scores, "target": labels}
    calibration = MetricCalibrationStats(pred="score", target="target", stats=("intercept", "slope"))
    smoothed = MetricCalibrationStats(pred="score", target="target", stats=("ici", "e50", "e90", "emax"))
    curve_metric = MetricNetBenefit(pred="score", target="target", thresholds=grid)
    metrics: list[Any] = [calibration, curve_metric]
    if len(tabulated):
        metrics.append(MetricNetBenefit(pred="score", target="target", thresholds=tabulated))
    for metric in (*metrics, smoothed):
        metric.collect(batch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ClippedRiskWarning)
        original = calibration.eval() | smoothed.eval()
    for warning in caught:  # every warning goes on to the caller; clipping is also said in the notes
        if issubclass(warning.category, ClippedRiskWarning):
            notes.append(f"calibration intercept and slope: {warning.message}")
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    curve = net_benefit(scores, labels, grid)
    table = net_benefit(scores, labels, tabulated) if len(tabulated) else None
    draws: list[list[Any]] = [[] for _ in metrics]
    smoothed_draws: list[Any] = []
    capped = min(settings.bootstraps, max(SMOOTHED_MIN_RESAMPLINGS, SMOOTHED_WORK_LIMIT // len(labels)))
    if settings.bootstraps:
        extra = {} if clusters is None else {"clusters": clusters}
        draws = evaluate_bootstraps(
            metrics, None, ids, labels, settings.bootstraps, settings.seed, verbose=settings.verbose,
            name="calibration intercept and slope, net benefit", **extra,
        )  # fmt: skip
        # the same seed draws the same resamplings first: these are the first `capped` of the ones above
        (smoothed_draws,) = evaluate_bootstraps(
            [smoothed], None, ids, labels, capped, settings.seed, verbose=settings.verbose,
            name="ICI, E50, E90, Emax (lowess)", **extra,
        )  # fmt: skip
    resampled = {key: [draw[key] for draw in draws[0]] for key in ("intercept", "slope")}
    resampled |= {key: [draw[key] for draw in smoothed_draws] for key in ("ici", "e50", "e90", "emax")}
    statistics = {key: _interval(original[key], resampled[key], settings) for key in CALIBRATION_STATISTICS}
    undefined = {key: int(np.isnan(values).sum()) for key, values in resampled.items()}
    if any(undefined.values()):
        shown = ", ".join(f"{key}: {count}" for key, count in undefined.items() if count)
        notes.append(
            f"calibration statistics: undefined in some resamplings ({shown}; e.g. the outcomes perfectly separated "
            "by the risk, or too many cases sharing one risk for lowess), so their interval is not given"
        )
    if capped < settings.bootstraps:
        notes.append(
            f"ICI, E50, E90, Emax: bootstrap intervals from the first {capped} of the {settings.bootstraps} "
            f"resamplings, since a lowess fit of {len(labels)} cases per resampling would take long"
        )
    band = _pointwise(curve["net_benefit"].to_numpy(), [draw["net_benefit"] for draw in draws[1]], settings)
    decision: dict[str, Any] = {
        "rule": "treat iff p >= threshold",
        "harm": 0.0,
        "thresholds": grid.tolist(),
        "net_benefit": curve["net_benefit"].tolist(),
        "net_benefit_low": band[0],
        "net_benefit_high": band[1],
        "treat_all": curve["treat_all"].tolist(),
        "treat_none": curve["treat_none"].tolist(),
        "net_interventions_avoided": curve["net_interventions_avoided"].tolist(),
        "table": [],
    }
    if table is not None:
        columns = {key: table[key].to_numpy(dtype=float) for key in DECISION_CURVE_COLUMNS}
        for position, threshold in enumerate(columns["threshold"]):
            benefit = [draw["net_benefit"][position] for draw in draws[2]]
            avoided = [draw["net_interventions_avoided"][position] for draw in draws[2]]
            decision["table"].append(
                {
                    "threshold": float(threshold),
                    "net_benefit": _interval(float(columns["net_benefit"][position]), benefit, settings),
                    "treat_all": float(columns["treat_all"][position]),
                    "net_interventions_avoided": _interval(
                        float(columns["net_interventions_avoided"][position]), avoided, settings
                    ),
                }
            )
    return statistics, decision


def _interval(value: float, draws: list[float], settings: ReportSettings) -> dict[str, Any]:
    samples = np.asarray(draws, dtype=float)
    if not len(samples):
        return {"value": value, "low": math.nan, "high": math.nan, "method": None}
    if math.isnan(value) or np.isnan(samples).any():
        return {"value": value, "low": math.nan, "high": math.nan, "method": "bootstrap", "resamplings": len(samples)}
    low, high = confidence_interval("PERCENTILE", value, samples, settings.confidence)
    return {"value": value, "low": low, "high": high, "method": "bootstrap", "resamplings": len(samples)}


def _pointwise(
    values: np.ndarray, draws: list[np.ndarray], settings: ReportSettings
) -> tuple[list[float] | None, list[float] | None]:
    """Pointwise percentile bounds of a curve (``None`` without bootstraps)."""
    if not draws:
        return None, None
    stacked = np.vstack(draws)
    bounds = [confidence_interval("PERCENTILE", v, stacked[:, i], settings.confidence) for i, v in enumerate(values)]
    return [low for low, _ in bounds], [high for _, high in bounds]
