"""What a report computes: ``ReportSettings``, the metrics of a binary and a multi-class report, and the checks of the
inputs.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fuse.eval.report._decisions import check_decision_settings
from fuse.eval.resampling._proportion import PROPORTION_CI_METHODS

__all__ = ["REPORT_FILES", "ReportSettings", "check_classes_present"]


REPORT_FILES = ("report.html", "results.md", "results.json")


DEFAULT_THRESHOLD = 0.5


PROBABILITY_TOLERANCE = 1e-5  # |row sum - 1| allowed for rows of class probabilities


ECE_BINS = 10


BOOTSTRAP_METHOD = "percentile bootstrap, resampling each true class separately"


CLUSTERED_BOOTSTRAP_METHOD = (
    "percentile bootstrap resampling whole clusters, each cluster class (positive: any positive case) separately"
)


# the metrics of the tables, in order, with their names for readers
BINARY_METRICS = {
    "auc": "ROC AUC",
    "auc_pr": "AUC-PR",
    "sensitivity": "Sensitivity (recall)",
    "specificity": "Specificity",
    "ppv": "PPV (precision)",
    "npv": "NPV",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
}


MULTICLASS_METRICS = {
    "auc": "ROC AUC (macro average)",
    "auc_pr": "AUC-PR (macro average)",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
}


PER_CLASS_METRICS = {
    "auc": "ROC AUC",
    "auc_pr": "AUC-PR",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "ppv": "PPV",
    "npv": "NPV",
}


@dataclass(frozen=True)
class ReportSettings:
    """How a report is computed, and what it says about it.

    :param threshold: binary predictions: a case is called positive iff its probability is ``> threshold``
        (``None``: 0.5). Multi-class scores take none: the class with the highest score is predicted.
    :param threshold_rule: how the threshold was chosen, in words (e.g. ``"highest validation specificity with
        sensitivity >= 0.95"``); say so when it was *not* chosen on the evaluated cases.
    :param proportion_ci: the interval of the proportions: ``"wilson"`` or ``"clopper-pearson"``.
    :param confidence: the confidence level of every interval, in percent.
    :param bootstraps: resamplings of the bootstrap intervals (AUC, AUC-PR, balanced accuracy); 0: none.
    :param seed: the seed of the resamplings.
    :param min_cases: a group or fold with fewer cases of some class is flagged too small to judge.
    :param title: the report's title.
    :param description: one line on what was evaluated (data, split, model).
    :param scores_description: which probabilities are evaluated, in the calibration figure's title (e.g.
        ``"after temperature scaling"``), so that reports before and after a recalibration have distinct titles.
    :param plots: draw the figures (needs matplotlib; without it the report says so).
    :param verbose: show the bootstraps' progress.
    :param decision_curve_range: binary reports: the threshold probabilities ``(low, high)`` over which the decision
        curve is drawn (every 0.01 between them), ``0 < low < high < 1``.
    :param decision_thresholds: binary reports: the threshold probabilities whose net benefit is tabulated, with
        bootstrap intervals (choose those a clinician would act at).
    :param warn_noted: also emit as Python warnings what the report's notes state (undefined values, clipped risks,
        intervals of width zero). A front-end that prints the notes sets ``False`` so that nothing is said twice;
        warnings that no note states are emitted either way.

    >>> ReportSettings(threshold=0.3, threshold_rule="Youden index on the validation split").proportion_ci
    'wilson'
    """

    threshold: float | None = None
    threshold_rule: str = "fixed in advance"
    proportion_ci: str = "wilson"
    confidence: float = 95.0
    bootstraps: int = 1000
    seed: int = 1234
    min_cases: int = 10
    title: str = "Evaluation report"
    description: str = ""
    scores_description: str = "the model's probabilities, as given"
    plots: bool = True
    verbose: bool = False
    decision_curve_range: tuple[float, float] = (0.01, 0.99)
    decision_thresholds: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5)
    warn_noted: bool = True

    def __post_init__(self) -> None:
        if self.threshold is not None and (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, numbers.Real)
            or not math.isfinite(self.threshold)
        ):
            raise ValueError(f"threshold must be a finite number or None, got {self.threshold!r}")
        if self.proportion_ci not in PROPORTION_CI_METHODS:
            raise ValueError(f"proportion_ci must be one of {PROPORTION_CI_METHODS}, got {self.proportion_ci!r}")
        if not 0 < self.confidence < 100:
            raise ValueError(f"confidence is a percentage in (0, 100), got {self.confidence!r}")
        for name in ("bootstraps", "min_cases", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or (name != "seed" and value < 0):
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        check_decision_settings(self.decision_curve_range, self.decision_thresholds)


def check_classes_present(labels: np.ndarray, class_names: Sequence[str]) -> str | None:
    """``None`` when every class of ``class_names`` has a case in ``labels``; else the problem, in words.

    Multi-class metrics average over the classes: with classes absent from the targets, the averages would be
    over the classes present only, and a binary target against many score columns is a wrong column or file.

    >>> check_classes_present(np.array([0, 1, 1, 0]), ["a", "b", "c"])
    "the targets hold 2 classes ['a', 'b'] but there are 3 score columns ['a', 'b', 'c']: no case of ['c']"
    """
    present = sorted(set(np.asarray(labels).tolist()))
    if len(class_names) <= 2 or len(present) == len(class_names):
        return None
    absent = [name for index, name in enumerate(class_names) if index not in present]
    return (
        f"the targets hold {len(present)} classes {[class_names[i] for i in present]} but there are "
        f"{len(class_names)} score columns {list(class_names)}: no case of {absent}"
    )
