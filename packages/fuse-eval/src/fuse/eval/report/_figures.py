"""The figures of :func:`fuse.eval.write_report`: ROC, precision-recall and calibration, as PNG files."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import metrics as sk_metrics

from fuse.eval.report._settings import ReportSettings

__all__ = ["FIGURE_FILES", "NO_MATPLOTLIB", "draw_figures"]


FIGURE_FILES = {
    "roc": "roc.png",
    "precision_recall": "precision_recall.png",
    "calibration": "calibration.png",
    "decision_curve": "decision_curve.png",
}


NO_MATPLOTLIB = "figures: not drawn, matplotlib is not installed (pip install 'fuse-eval[plot]')"


def _matplotlib_available() -> bool:
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except ValueError:  # a module object without a spec stands in for it
        return False


def draw_figures(
    out: Path, scores: np.ndarray, labels: np.ndarray, report: dict[str, Any], settings: ReportSettings
) -> tuple[list[dict[str, str]], dict[str, bytes], str | None]:
    """Draw the figures into ``out``; returns their descriptions, their PNG bytes by file name, and a note when
    matplotlib is missing (no figure then)."""
    if not _matplotlib_available():
        return [], {}, NO_MATPLOTLIB
    from fuse.eval.plots._calibration import plot_reliability_diagram, plot_risk_calibration
    from fuse.eval.plots._curves import plot_precision_recall_curves, plot_roc_curves

    setup = report["setup"]
    names: list[str] = setup["class_names"]
    binary = len(names) == 2
    one_vs_rest = [(names[1], scores, labels == 1)] if binary else [
        (name, scores[:, c], labels == c) for c, name in enumerate(names)
    ]  # fmt: skip
    roc: dict[str, dict[str, Any]] = {}
    pr: dict[str, dict[str, Any]] = {}
    for name, score, positive in one_vs_rest:
        fpr, tpr, _ = sk_metrics.roc_curve(positive, score)
        precision, recall, _ = sk_metrics.precision_recall_curve(positive, score)
        auc = report["metrics"]["auc"] if binary else report["per_class"][name]["auc"]
        auc_pr = report["metrics"]["auc_pr"] if binary else report["per_class"][name]["auc_pr"]
        roc[name] = {"fpr": fpr, "tpr": tpr, "auc": auc["value"]}
        pr[name] = {"precision": precision, "recall": recall, "auc": auc_pr["value"]}
    cases = setup["cases"]
    figures = []
    if binary:
        sensitivity, specificity = report["metrics"]["sensitivity"]["value"], report["metrics"]["specificity"]["value"]
        label = f"threshold p > {setup['threshold']:.4g}: sensitivity {sensitivity:.2f}, specificity {specificity:.2f}"
        points = {names[1]: (1 - specificity, sensitivity, label)}
        positive = names[1]
        roc_caption = (
            f"ROC curve of {positive} against {names[0]} on {cases} cases. The circle marks the decision threshold "
            f"(p > {setup['threshold']:.4g}, {setup['threshold_rule']}); the dashed diagonal is a test no better "
            "than chance."
        )
        pr_caption = (
            f"Precision (PPV) against recall (sensitivity) for {positive}, drawn as steps. A test no better than "
            f"chance has a precision equal to the prevalence, {setup['prevalence']:.3f}."
        )
    else:
        points = {}
        roc_caption = f"One-vs-rest ROC curves of the {len(names)} classes on {cases} cases; dashed: chance."
        pr_caption = f"One-vs-rest precision-recall curves of the {len(names)} classes, drawn as steps."
    roc_path = plot_roc_curves(roc, out / FIGURE_FILES["roc"], title="ROC curve", operating_points=points)
    figures.append({"file": roc_path.name, "title": "ROC curve", "caption": roc_caption})
    pr_path = plot_precision_recall_curves(pr, out / FIGURE_FILES["precision_recall"], title="Precision-recall curve")
    figures.append({"file": pr_path.name, "title": "Precision-recall curve", "caption": pr_caption})
    if report["calibration"] is not None:
        plotters = (plot_risk_calibration, plot_reliability_diagram)
        figures.append(_calibration_figure(out, scores, labels, names, settings.scores_description, plotters))
    if report.get("decision_curve"):
        figures.append(_decision_figure(out, report))
    images = {figure["file"]: (out / figure["file"]).read_bytes() for figure in figures}
    return figures, images, None


def _decision_figure(out: Path, report: dict[str, Any]) -> dict[str, str]:
    from fuse.eval.plots._decision import plot_decision_curve

    setup, decision = report["setup"], report["decision_curve"]
    positive = setup["positive_class"]
    band = None
    if decision["net_benefit_low"] is not None:
        band = (decision["net_benefit_low"], decision["net_benefit_high"])
    path = plot_decision_curve(
        {"threshold": decision["thresholds"], "net_benefit": decision["net_benefit"], "treat_all": decision["treat_all"]},
        out / FIGURE_FILES["decision_curve"], title="Decision curve", class_name=positive, band=band,
    )  # fmt: skip
    caption = (
        f"Net benefit of acting on the model (treat when the predicted risk of {positive} is at least the threshold "
        f"probability) against treating every case (dashed) and treating none (dotted, 0), over thresholds "
        f"{decision['thresholds'][0]:g} to {decision['thresholds'][-1]:g}. Where the model's curve lies above both, "
        "using it does more good than harm at that threshold; read it at the thresholds at which a clinician would "
        f"act. The prevalence is {setup['prevalence']:.3f}: treat-all's net benefit as the threshold nears 0."
    )
    if band is not None:
        caption += (
            f" Shaded: pointwise {setup['confidence']:g}% percentile bootstrap interval of the model's net benefit "
            f"({setup['bootstraps']} resamplings)."
        )
    return {"file": path.name, "title": "Decision curve", "caption": caption}


def _calibration_figure(
    out: Path, scores: np.ndarray, labels: np.ndarray, names: list[str], which: str, plotters: tuple[Any, Any]
) -> dict[str, str]:
    risk_plot, reliability_plot = plotters
    path = out / FIGURE_FILES["calibration"]
    if len(names) == 2:
        title = f"Calibration of the predicted risk of {names[1]}\n({which})"
        risk_plot(scores, labels, path, title=title, class_name=names[1])
        caption = (
            f"Observed share of {names[1]} against the predicted risk, in 10 bins of width 0.1 (points: the bins' "
            "mean predicted risk, with 95% Wilson intervals; a calibrated model lies on the diagonal). Below: how "
            "many cases received each predicted risk."
        )
        return {"file": path.name, "title": title.replace("\n", " "), "caption": caption}
    from fuse.eval.metrics.classification._calibration import reliability_diagram

    title = f"Reliability of the top-label confidence\n({which})"
    reliability_plot(reliability_diagram(scores, labels, num_bins=10), path, title=title)
    caption = (
        "Accuracy of the predicted class against the model's confidence in it (its highest probability), in 10 "
        "bins; a calibrated model lies on the diagonal. Below: the share of cases in each bin."
    )
    return {"file": path.name, "title": title.replace("\n", " "), "caption": caption}
