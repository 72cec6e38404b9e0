"""``write_report``: a classifier's evaluation as the evaluation section of a paper reads it.

One call turns predictions and targets into three files: ``report.html`` (one self-contained page: set-up, the
metrics with counts and confidence intervals, the confusion matrix, calibration, per-group and per-fold tables,
captioned figures embedded as PNG), ``results.md`` (the same tables in Markdown) and ``results.json`` (the same
numbers for programs: plain JSON types, NaN written as ``null``). The figures are also written as PNG files.

Intervals: the proportions (sensitivity, specificity, PPV, NPV, accuracy) get an analytic interval from their
counts (Wilson by default, see :func:`fuse.eval.proportion_ci`); AUC, AUC-PR and balanced accuracy get a percentile
bootstrap interval, resampling each true class separately (FuseMedML's ``CI``: the same resamplings, the same
numbers). Binary reports add the calibration intercept, slope, ICI, E50, E90 and Emax and the decision curve's net
benefit, with intervals from the same resamplings (see ``fuse.eval.report._decisions``).

A group or fold with fewer than ``min_cases`` cases of some class is flagged *too small to judge*: with so few
cases its intervals are too wide for a difference between groups to mean anything.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fuse.core import save_text_file
from fuse.eval._version import __version__
from fuse.eval.framework._metric_base import MetricBase
from fuse.eval.framework._plain_values import json_ready
from fuse.eval.framework._warnings import UndefinedMetricWarning, user_stacklevel
from fuse.eval.metrics.classification._calibration import expected_calibration_error
from fuse.eval.metrics.classification._confusion import MetricConfusion
from fuse.eval.metrics.classification._pr import MetricAUCPR
from fuse.eval.metrics.classification._roc import MetricAUCROC
from fuse.eval.report._cases import _Cases
from fuse.eval.report._decisions import MULTICLASS_NOTE, decision_sections
from fuse.eval.report._settings import (
    BINARY_METRICS,
    BOOTSTRAP_METHOD,
    CLUSTERED_BOOTSTRAP_METHOD,
    ECE_BINS,
    MULTICLASS_METRICS,
    ReportSettings,
)
from fuse.eval.resampling._bootstrap import evaluate_bootstraps
from fuse.eval.resampling._intervals import confidence_interval
from fuse.eval.resampling._proportion import clustered_proportion_ci, proportion_ci

__all__ = ["write_report"]


def write_report(
    out_dir: str | os.PathLike[str],
    scores: Any,
    labels: Any,
    class_names: Sequence[str] | None = None,
    *,
    groups: Any = None,
    folds: Any = None,
    group_name: str = "group",
    settings: ReportSettings | None = None,
    notes: Sequence[str] = (),
    clusters: Any = None,
) -> dict[str, Any]:
    """Evaluate ``scores`` against ``labels`` and write ``report.html``, ``results.md`` and ``results.json``.

    :param out_dir: the directory to write to (created when missing).
    :param scores: binary: ``(n,)`` probabilities of class 1, or ``(n, 2)`` class probabilities; multi-class:
        ``(n, C)`` scores, one column per class (calibration is reported when the rows are probabilities).
    :param labels: ``(n,)`` true classes, integers ``0..C-1``.
    :param class_names: the names of the classes in column order (default ``"0"``, ``"1"``, ...); in a binary
        report the second one is the positive class.
    :param groups: optional ``(n,)`` group of each case (site, sex, scanner...): a table per group.
    :param folds: optional ``(n,)`` cross-validation fold of each case: a table per fold.
    :param group_name: what ``groups`` are, for the table's title (e.g. ``"site"``).
    :param settings: threshold, interval methods, bootstraps, title (see :class:`ReportSettings`).
    :param notes: lines added to the report's notes.
    :param clusters: optional ``(n,)`` cluster of each case (e.g. the patient of each image): the bootstrap intervals
        resample whole clusters, stratified by the cluster's class (its highest class: a patient is positive when
        any of its cases is); see :class:`fuse.eval.CI`. The proportions' analytic intervals use the clusters'
        effective number of cases (see :func:`fuse.eval.resampling._proportion.clustered_proportion_ci`): never narrower than
        if the cases of a cluster were identical.
    :returns: the report's content, as written to ``results.json`` (which has ``null`` where this has NaN).
        Undefined values (e.g. an AUC without positive cases) are NaN, listed in the report's notes and warned
        once each (:class:`UndefinedMetricWarning`).

    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp())
    >>> report = write_report(out, [0.1, 0.4, 0.35, 0.8, 0.7, 0.2], [0, 0, 1, 1, 1, 0], ["benign", "malignant"],
    ...                       settings=ReportSettings(bootstraps=0, plots=False))
    >>> report["metrics"]["sensitivity"]["successes"], report["metrics"]["sensitivity"]["n"]
    (2, 3)
    >>> round(report["metrics"]["auc"]["value"], 4)
    0.8889
    >>> sorted(path.name for path in out.iterdir())
    ['report.html', 'results.json', 'results.md']
    """
    from fuse.eval.report._figures import draw_figures
    from fuse.eval.report._render import render_html, render_markdown

    settings = settings if settings is not None else ReportSettings()
    cases = _Cases.build(scores, labels, class_names, groups, folds, settings, clusters)
    out = Path(out_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        report = _report(cases, settings, group_name, list(notes))
    for message in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UndefinedMetricWarning)):
        report["notes"].append(f"undefined value (shown as —): {message}")
        if settings.warn_noted:  # once each, not once per group or fold
            warnings.warn(message, UndefinedMetricWarning, stacklevel=user_stacklevel())
    for other in (w for w in caught if not issubclass(w.category, UndefinedMetricWarning)):
        if settings.warn_noted or not any(str(other.message) in note for note in report["notes"]):
            warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    out.mkdir(parents=True, exist_ok=True)
    images: dict[str, bytes] = {}
    if settings.plots:
        report["figures"], images, missing = draw_figures(out, cases.scores, cases.labels, report, settings)
        if missing:
            report["notes"].append(missing)
    else:
        report["notes"].append("figures: not drawn (plots turned off)")
    save_text_file(out / "results.json", json.dumps(json_ready(report), indent=2, allow_nan=False) + "\n")
    save_text_file(out / "results.md", render_markdown(report))
    save_text_file(out / "report.html", render_html(report, images))
    return report


def _natural(value: str) -> tuple[int, float, str]:
    """Sort key: numbers numerically, then text."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def _report(cases: _Cases, settings: ReportSettings, group_name: str, notes: list[str]) -> dict[str, Any]:
    counts = np.bincount(cases.labels, minlength=len(cases.class_names))
    setup: dict[str, Any] = {
        "cases": len(cases.labels),
        "class_names": cases.class_names,
        "class_counts": dict(zip(cases.class_names, counts.tolist(), strict=True)),
        "decision_rule": (
            f"{cases.class_names[1]} iff p > {cases.threshold:.4g}" if cases.binary else "the highest score (argmax)"
        ),
        "threshold": cases.threshold,
        "threshold_rule": settings.threshold_rule if cases.binary else None,
        "confidence": settings.confidence,
        "proportion_ci": settings.proportion_ci,
        "bootstrap_ci": (BOOTSTRAP_METHOD if cases.clusters is None else CLUSTERED_BOOTSTRAP_METHOD)
        if settings.bootstraps
        else None,
        "clusters": None if cases.clusters is None else len(set(cases.clusters.tolist())),
        "bootstraps": settings.bootstraps,
        "seed": settings.seed,
        "min_cases": settings.min_cases,
        "fuse_eval_version": __version__,
    }
    if cases.binary:
        setup |= {
            "positive_class": cases.class_names[1],
            "positives": int(counts[1]),
            "negatives": int(counts[0]),
            "prevalence": float(counts[1] / counts.sum()),
        }
    if cases.clusters is not None:
        notes.append(
            f"clusters: the {len(cases.labels)} cases form {setup['clusters']} clusters; the bootstrap intervals "
            f"resample whole clusters, and the {settings.proportion_ci} intervals of the proportions (sensitivity, "
            "specificity, PPV, NPV, accuracy) use an effective number of cases, (sum of n_i)^2 / sum of n_i^2 over "
            "the clusters' n_i cases: the interval if the cases of a cluster were identical, so never too narrow "
            "when cases of a cluster are alike (and wider than needed when they are not)"
        )
    overall = _evaluate(cases, settings)
    _note_zero_width_bootstraps(overall["metrics"], BINARY_METRICS if cases.binary else MULTICLASS_METRICS, notes)
    report: dict[str, Any] = {
        "title": settings.title,
        "description": settings.description,
        "setup": setup,
        "metrics": overall["metrics"],
        "per_class": overall.get("per_class"),
        "confusion_matrix": {"classes": cases.class_names, "counts": overall["confusion"]},
        "calibration": _calibration(cases, notes),
        "calibration_statistics": None,
        "decision_curve": None,
        "groups": None,
        "folds": None,
        "figures": [],
        "notes": notes,
    }
    if cases.binary:
        report["calibration_statistics"], report["decision_curve"] = decision_sections(
            cases.scores, cases.labels, getattr(cases, "clusters", None), settings, notes
        )
    else:
        notes.append(MULTICLASS_NOTE)
    for key, values, name in (("groups", cases.groups, group_name), ("folds", cases.folds, "fold")):
        if values is not None:
            report[key] = _per_subset(cases, values, name, settings)
    return report


def _note_zero_width_bootstraps(metrics: Mapping[str, Any], names: Mapping[str, str], notes: list[str]) -> None:
    """A bootstrap interval of width zero (e.g. an AUC of 1 in every resampling: classes separated perfectly) is not
    certainty: say so in the notes and warn."""
    flat = [
        names.get(key, key)
        for key, stat in metrics.items()
        if stat.get("method") == "bootstrap" and math.isfinite(stat["low"]) and stat["low"] == stat["high"]
    ]
    if flat:
        message = (
            f"the bootstrap interval of {', '.join(flat)} has width zero: every resampling gave the same value (e.g. "
            "the classes perfectly separated in every resampling), which says nothing about the uncertainty; it is "
            "not certainty, and more cases (or an independent test set) are needed to judge it"
        )
        notes.append(message)
        warnings.warn(message, UserWarning, stacklevel=user_stacklevel())


def _evaluate(cases: _Cases, settings: ReportSettings) -> dict[str, Any]:
    """Metrics with intervals, per-class metrics (multi-class) and the confusion counts of ``cases``."""
    size = len(cases.class_names)
    predicted = cases.predicted()
    confusion = np.bincount(cases.labels * size + predicted, minlength=size * size).reshape(size, size)
    bootstrapped = _bootstrapped(cases, predicted, settings)
    accuracy, per_class = _proportions(cases, predicted, settings)
    metrics: dict[str, Any] = {}
    result: dict[str, Any] = {"confusion": confusion.tolist(), "metrics": metrics}
    if cases.binary:
        metrics |= {"auc": bootstrapped["auc"], "auc_pr": bootstrapped["auc_pr"]}
        metrics |= per_class[cases.class_names[1]]
        metrics |= {"accuracy": accuracy, "balanced_accuracy": bootstrapped["balanced_accuracy"]}
        return result
    metrics |= {
        "auc": bootstrapped["auc.macro_avg"],
        "auc_pr": bootstrapped["auc_pr.macro_avg"],
        "accuracy": accuracy,
        "balanced_accuracy": bootstrapped["balanced_accuracy"],
    }
    result["per_class"] = {
        name: {"auc": bootstrapped[f"auc.{name}"], "auc_pr": bootstrapped[f"auc_pr.{name}"]} | per_class[name]
        for name in cases.class_names
    }
    return result


def _proportions(
    cases: _Cases, predicted: np.ndarray, settings: ReportSettings
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The accuracy, and each class's sensitivity, specificity, PPV and NPV (that class against the others), with
    their intervals. Computed from which cases count, not from counts alone, so that with clusters an interval can
    take the clusters of those cases into account."""
    proportion = _proportion_maker(settings, cases.clusters)
    accuracy = proportion(predicted == cases.labels, np.ones(len(predicted), dtype=bool))
    per_class = {}
    for c, name in enumerate(cases.class_names):
        truly, called = cases.labels == c, predicted == c
        per_class[name] = {
            "sensitivity": proportion(called, truly),
            "specificity": proportion(~called, ~truly),
            "ppv": proportion(truly, called),
            "npv": proportion(~truly, ~called),
        }
    return accuracy, per_class


def _proportion_maker(
    settings: ReportSettings, clusters: np.ndarray | None
) -> Callable[[np.ndarray, np.ndarray], dict[str, Any]]:
    alpha = 1 - settings.confidence / 100

    def proportion(success: np.ndarray, among: np.ndarray) -> dict[str, Any]:
        """The proportion of the cases in ``among`` (a mask) that are ``success``, with its interval."""
        successes, n = int((success & among).sum()), int(among.sum())
        stat: dict[str, Any] = {"successes": successes, "n": n, "method": settings.proportion_ci}
        if n == 0:  # e.g. no case called positive: the PPV is undefined, not 0
            return {"value": math.nan, "low": math.nan, "high": math.nan} | stat
        if clusters is None:
            low, high = proportion_ci(successes, n, method=settings.proportion_ci, alpha=alpha)
        else:
            low, high, stat["effective_n"] = clustered_proportion_ci(
                successes, clusters[among], method=settings.proportion_ci, alpha=alpha
            )
        return {"value": successes / n, "low": low, "high": high} | stat

    return proportion


def _bootstrapped(cases: _Cases, predicted: np.ndarray, settings: ReportSettings) -> dict[str, dict[str, Any]]:
    """AUC, AUC-PR (per class and macro average with several classes) and balanced accuracy, with bootstrap
    intervals: FuseMedML's stratified resamplings, shared by the three metrics."""
    names = None if cases.binary else cases.class_names
    ids = np.arange(len(cases.labels))
    score_column: Any = cases.scores if cases.binary else list(cases.scores)
    batch = {"id": ids, "score": score_column, "target": cases.labels, "predicted": predicted}
    metrics: list[MetricBase] = [
        MetricAUCROC(pred="score", target="target", class_names=names),
        MetricAUCPR(pred="score", target="target", class_names=names),
        MetricConfusion(pred="predicted", target="target", class_names=names, metrics=("sensitivity", "specificity")),
    ]
    for metric in metrics:
        metric.collect(batch)
    originals = [_flat("auc", metrics[0].eval()), _flat("auc_pr", metrics[1].eval())]
    recall = metrics[2].eval()
    originals.append({"balanced_accuracy": _balanced_accuracy(recall, cases.binary)})
    values = {key: value for original in originals for key, value in original.items()}
    if settings.bootstraps == 0:
        return {
            key: {"value": value, "low": math.nan, "high": math.nan, "method": None} for key, value in values.items()
        }
    samples = evaluate_bootstraps(
        metrics,
        None,
        ids,
        cases.labels,
        settings.bootstraps,
        settings.seed,
        verbose=settings.verbose,
        name="ROC AUC, AUC-PR and balanced accuracy",
        clusters=cases.clusters,
    )
    resampled: dict[str, list[float]] = {key: [] for key in values}
    for auc, auc_pr, confusion in zip(*samples, strict=True):
        for key, value in (_flat("auc", auc) | _flat("auc_pr", auc_pr)).items():
            resampled[key].append(value)
        resampled["balanced_accuracy"].append(_balanced_accuracy(confusion, cases.binary))
    result = {}
    for key, value in values.items():
        draws = np.asarray(resampled[key], dtype=float)
        if math.isnan(value) or np.isnan(draws).any():
            low = high = math.nan
        else:
            low, high = confidence_interval("PERCENTILE", value, draws, settings.confidence)
        result[key] = {"value": value, "low": low, "high": high, "method": "bootstrap"}
    return result


def _flat(prefix: str, value: Any) -> dict[str, float]:
    if isinstance(value, Mapping):
        return {f"{prefix}.{key}": float(item) for key, item in value.items()}
    return {prefix: float(value)}


def _balanced_accuracy(confusion: Mapping[str, Any], binary: bool) -> float:
    """The mean recall over the classes (every class is present: the resamplings keep each class's count)."""
    if binary:
        return (float(confusion["sensitivity"]) + float(confusion["specificity"])) / 2
    return float(confusion["sensitivity.macro_avg"])


def _calibration(cases: _Cases, notes: list[str]) -> dict[str, Any] | None:
    if not cases.probabilities:
        notes.append("calibration: not reported, the class scores are not probabilities (rows summing to 1)")
        return None
    probabilities = np.column_stack((1 - cases.scores, cases.scores)) if cases.binary else cases.scores
    errors = expected_calibration_error(probabilities, cases.labels, num_bins=ECE_BINS, method="mean_confidence")
    return {"ece": errors["ece"], "mce": errors["mce"], "bins": ECE_BINS}


def _per_subset(cases: _Cases, values: np.ndarray, name: str, settings: ReportSettings) -> dict[str, Any]:
    rows = []
    for value in sorted(set(values.tolist()), key=_natural):
        members = values == value
        subset = cases.subset(members)
        counts = np.bincount(subset.labels, minlength=len(cases.class_names))
        row: dict[str, Any] = {
            "value": value,
            "cases": int(members.sum()),
            "class_counts": dict(zip(cases.class_names, counts.tolist(), strict=True)),
            "too_small": bool(counts.min() < settings.min_cases),
        }
        if counts.min() == 0:
            absent = [n for n, count in zip(cases.class_names, counts, strict=True) if count == 0]
            row["metrics"] = _evaluate_without(subset, settings)
            row["absent_classes"] = absent
        else:
            row["metrics"] = _evaluate(subset, settings)["metrics"]
        rows.append(row)
    aucs = np.array([row["metrics"]["auc"]["value"] for row in rows], dtype=float)
    finite = aucs[np.isfinite(aucs)]
    spread = {
        "auc_mean": float(finite.mean()) if len(finite) else math.nan,
        "auc_std": float(finite.std()) if len(finite) else math.nan,
        "auc_median": float(np.median(finite)) if len(finite) else math.nan,
    }
    return {"name": name, "rows": rows, "spread": spread}


def _evaluate_without(subset: _Cases, settings: ReportSettings) -> dict[str, Any]:
    """The proportions of a subset missing a class; the ranking metrics are undefined there (NaN, said once)."""
    nothing = {"value": math.nan, "low": math.nan, "high": math.nan, "method": None}
    accuracy, per_class = _proportions(subset, subset.predicted(), settings)
    metrics = {"auc": nothing, "auc_pr": nothing, "accuracy": accuracy, "balanced_accuracy": nothing}
    if subset.binary:
        metrics |= per_class[subset.class_names[1]]
    return metrics
