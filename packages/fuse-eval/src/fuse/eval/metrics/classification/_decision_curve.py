"""Decision curve analysis (Vickers & Elkin 2006, https://doi.org/10.1177/0272989X06295361).

At a threshold probability ``pt`` a clinician treats a patient whose predicted risk is ``>= pt``: choosing ``pt``
says how many false positives one true positive is worth (``pt / (1 - pt)``). Over ``n`` patients:

- the model: ``NB = TP/n - FP/n * pt/(1 - pt) - harm``;
- treat all: ``NB_all = prevalence - (1 - prevalence) * pt/(1 - pt)``; treat none: ``0``;
- net interventions avoided per 100 patients: ``(NB - NB_all) / (pt/(1 - pt)) * 100``.

These are the definitions of the ``dcurves`` package for probability predictions (its ``dca``, with
``risk >= threshold`` meaning *treat*, ``harm`` charged to the model only, and ``nper=100``); thresholds must lie
strictly inside (0, 1), where the odds ``pt/(1 - pt)`` are finite and positive, so its nudging of risks of exactly
0 and 1 changes nothing. Note that ``>=`` differs from the ``p > threshold`` rule of :func:`fuse.eval.write_report`'s
confusion matrix for a risk exactly equal to the threshold.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fuse.eval.framework._arrays import ArrayLike
from fuse.eval.framework._metric_base import MetricDefault
from fuse.eval.framework._warnings import UndefinedMetricWarning, user_stacklevel
from fuse.eval.metrics.classification._scores import risks_and_outcomes

__all__ = ["DECISION_CURVE_COLUMNS", "DEFAULT_DECISION_THRESHOLDS", "MetricNetBenefit", "net_benefit"]


DECISION_CURVE_COLUMNS = ("threshold", "net_benefit", "treat_all", "treat_none", "net_interventions_avoided")


# 0.01, 0.02, ..., 0.99 (each the float nearest to i / 100)
DEFAULT_DECISION_THRESHOLDS = np.arange(1, 100) / 100


INTERVENTIONS_PER = 100  # net interventions avoided are counted per 100 patients


def check_thresholds(thresholds: float | ArrayLike | None) -> np.ndarray:
    """The threshold probabilities as a 1-d float array, each strictly inside (0, 1); ``None``: 0.01, ..., 0.99."""
    if thresholds is None:
        default: np.ndarray = DEFAULT_DECISION_THRESHOLDS.copy()
        return default
    try:
        values = np.atleast_1d(np.asarray(thresholds, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"thresholds must be probabilities in (0, 1), got {thresholds!r}") from None
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"thresholds must be a number or a 1-d sequence of them, got shape {values.shape}")
    bad = ~((values > 0.0) & (values < 1.0))
    if bad.any():
        raise ValueError(
            f"thresholds must lie strictly inside (0, 1) (at 0 and 1 the odds pt/(1-pt) are 0 and infinite), got "
            f"{values[bad][:5].tolist()}"
        )
    return values


def _check_harm(harm: float) -> float:
    if isinstance(harm, bool) or not isinstance(harm, numbers.Real) or not math.isfinite(harm) or harm < 0:
        raise ValueError(
            f"harm is the net benefit lost to the test itself, a finite number >= 0 (e.g. 0.01), got {harm!r}"
        )
    return float(harm)


def decision_curve_arrays(
    risk: np.ndarray, outcome: np.ndarray, thresholds: np.ndarray, harm: float
) -> dict[str, np.ndarray]:
    """The columns of :data:`DECISION_CURVE_COLUMNS` from validated risks (floats in [0, 1]) and outcomes (bool).

    One sort of each class's risks counts the treated (``risk >= pt``) of every threshold at once.
    """
    n = len(risk)
    odds = thresholds / (1.0 - thresholds)
    treated_positives = np.sort(risk[outcome])
    treated_negatives = np.sort(risk[~outcome])
    tp = len(treated_positives) - np.searchsorted(treated_positives, thresholds, side="left")
    fp = len(treated_negatives) - np.searchsorted(treated_negatives, thresholds, side="left")
    prevalence = len(treated_positives) / n
    model = tp / n - fp / n * odds - harm
    treat_all = prevalence - (1.0 - prevalence) * odds
    return {
        "threshold": thresholds,
        "net_benefit": model,
        "treat_all": treat_all,
        "treat_none": np.zeros_like(thresholds),
        "net_interventions_avoided": (model - treat_all) / odds * INTERVENTIONS_PER,
    }


def net_benefit(
    pred: ArrayLike,
    target: ArrayLike,
    thresholds: float | ArrayLike | None = None,
    harm: float = 0.0,
    pos_label: Any = None,
    pos_class_index: int = -1,
) -> pd.DataFrame:
    """The decision curve: net benefit of the model, of treating all and of treating none, and the net
    interventions avoided per 100 patients, at each threshold probability (see the module's formulas).

    :param pred: the predicted probability of the positive class per sample (or probability vectors, with
        ``pos_class_index`` picking the positive column); values outside [0, 1] raise.
    :param target: the outcome: 0/1, or two labels with ``pos_label`` naming the positive one.
    :param thresholds: threshold probabilities, strictly inside (0, 1); default 0.01, 0.02, ..., 0.99.
    :param harm: the net benefit lost to the test itself (its cost or risk, in units of true positives),
        subtracted from the model's net benefit at every threshold.
    :returns: a DataFrame with the columns ``threshold``, ``net_benefit``, ``treat_all``, ``treat_none`` and
        ``net_interventions_avoided``, one row per threshold. No samples give NaN with an
        ``UndefinedMetricWarning``; one class only is not undefined (e.g. without positives the net benefit is
        ``-FP/n * pt/(1-pt)``).

    >>> curve = net_benefit([0.1, 0.3, 0.6, 0.8], [0, 1, 0, 1], thresholds=[0.2, 0.5])
    >>> curve.round(4).to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'threshold': [0.2, 0.5], 'net_benefit': [0.4375, 0.0], 'treat_all': [0.375, 0.0],
     'treat_none': [0.0, 0.0], 'net_interventions_avoided': [25.0, 0.0]}
    """
    grid = check_thresholds(thresholds)
    cost = _check_harm(harm)
    risk, outcome = risks_and_outcomes(pred, target, pos_label, pos_class_index)
    if len(risk) == 0:
        warnings.warn(
            "the net benefit of no samples is undefined; returning NaN",
            UndefinedMetricWarning,
            stacklevel=user_stacklevel(),
        )
        nan = np.full(len(grid), np.nan)
        columns: dict[str, np.ndarray] = {"threshold": grid} | dict.fromkeys(DECISION_CURVE_COLUMNS[1:], nan)
    else:
        columns = decision_curve_arrays(risk, outcome, grid, cost)
    frame: pd.DataFrame = pd.DataFrame(columns)
    return frame


def _metric_net_benefit(
    pred: ArrayLike,
    target: ArrayLike,
    thresholds: float | ArrayLike | None,
    harm: float,
    pos_label: Any,
    pos_class_index: int,
) -> dict[str, Any]:
    curve = net_benefit(pred, target, thresholds, harm, pos_label, pos_class_index)
    if thresholds is not None and np.ndim(thresholds) == 0:
        row = curve.iloc[0]
        return {key: float(row[key]) for key in _SCALAR_KEYS}
    return {column: curve[column].to_numpy() for column in DECISION_CURVE_COLUMNS}


# one threshold: what varies between resamplings (treat-none is 0 and the threshold is given)
_SCALAR_KEYS = ("net_benefit", "treat_all", "net_interventions_avoided")


class MetricNetBenefit(MetricDefault):
    """Decision curve analysis as a metric (see :func:`net_benefit`).

    With one threshold (a number), the result is ``{"net_benefit", "treat_all", "net_interventions_avoided"}``,
    numbers that :class:`fuse.eval.CI` gives bootstrap intervals (stratifying by the target fixes the prevalence,
    and so ``treat_all``, in every resampling: leave ``stratum`` out for its interval). With several thresholds (or
    ``None``: 0.01, ..., 0.99) the result is the curve, a dict of arrays with the keys of :func:`net_benefit`'s
    columns (``CI`` passes arrays through without intervals).

    >>> import numpy as np
    >>> metric = MetricNetBenefit(pred="pred", target="target", thresholds=0.2)
    >>> metric.collect({"id": [0, 1, 2, 3], "pred": np.array([0.1, 0.3, 0.6, 0.8]), "target": [0, 1, 0, 1]})
    >>> {key: round(value, 4) for key, value in metric.eval().items()}
    {'net_benefit': 0.4375, 'treat_all': 0.375, 'net_interventions_avoided': 25.0}
    """

    def __init__(
        self,
        pred: str,
        target: str,
        thresholds: float | ArrayLike | None = None,
        harm: float = 0.0,
        pos_label: Any = None,
        pos_class_index: int = -1,
        **kwargs: Any,
    ) -> None:
        check_thresholds(thresholds)  # errors at construction, not after a long collection
        _check_harm(harm)
        self._settings: dict[str, Any] = {
            "thresholds": thresholds, "harm": harm, "pos_label": pos_label, "pos_class_index": pos_class_index,
        }  # fmt: skip
        super().__init__(
            metric_func=functools.partial(_metric_net_benefit, **self._settings), pred=pred, target=target, **kwargs
        )

    def eval_resampled(self, results: Mapping[str, Any] | None, ids: np.ndarray, rows: np.ndarray) -> list[Any]:
        """Validates the inputs once per bootstrap run, then counts each resampling (rows of positions)."""
        arguments = self._extract_arguments(results, ids)
        settings = self._settings
        with self.naming_inputs(ids):
            risk, outcome = self.cached_for_resampling(
                "risks",
                lambda: risks_and_outcomes(
                    arguments["pred"], arguments["target"], settings["pos_label"], settings["pos_class_index"]
                ),
            )
        if len(risk) == 0:
            return [self.eval(results, ids[row]) for row in rows]
        grid = check_thresholds(settings["thresholds"])
        scalar = settings["thresholds"] is not None and np.ndim(settings["thresholds"]) == 0
        out: list[Any] = []
        for row in rows:
            curve = decision_curve_arrays(risk[row], outcome[row], grid, float(settings["harm"]))
            out.append({key: float(curve[key][0]) for key in _SCALAR_KEYS} if scalar else curve)
        return out
