"""The text of :func:`fuse.eval.write_report`: the same tables as one self-contained HTML page and as Markdown."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fuse.eval.report._decisions import CALIBRATION_STATISTICS
from fuse.eval.report._settings import BINARY_METRICS, ECE_BINS, MULTICLASS_METRICS, PER_CLASS_METRICS

__all__ = ["build_tables", "render_html", "render_markdown", "summary_sentences"]


DASH = "\u2014"  # an em dash: a value that is undefined


RANGE = "\u2013"  # an en dash between the bounds of an interval


FLAG = "too small to judge"


@dataclass
class Table:
    """A titled table of text cells, rendered as HTML or Markdown."""

    key: str
    title: str
    header: list[str]
    rows: list[list[str]]
    caption: str = ""
    flagged_rows: set[int] = field(default_factory=set)


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    return f"{value:.{digits}f}"


def _interval(stat: Mapping[str, Any]) -> str:
    low, high = stat.get("low"), stat.get("high")
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return DASH
    return f"{low:.3f} {RANGE} {high:.3f}"


def _counts(stat: Mapping[str, Any]) -> str:
    return f"{stat['successes']}/{stat['n']}" if "n" in stat else ""


def _with_interval(stat: Mapping[str, Any]) -> str:
    """``0.950 (0.871 to 0.983)`` (an en dash between the bounds), with the counts when the value is a proportion."""
    text = _number(stat["value"])
    interval = _interval(stat)
    if interval != DASH:
        text += f" ({interval})"
    if "n" in stat:
        text += f", {_counts(stat)}"
    return text


def _method(stat: Mapping[str, Any], setup: Mapping[str, Any]) -> str:
    method = stat.get("method")
    if method == "bootstrap":
        return f"bootstrap, {setup['bootstraps']} resamplings"
    if method in ("wilson", "clopper-pearson"):
        name = {"wilson": "Wilson score", "clopper-pearson": "Clopper-Pearson (exact)"}[method]
        effective = stat.get("effective_n")
        return name if effective is None else f"{name}, effective n {effective:.1f} of {stat['n']} (clusters)"
    return "none (--bootstraps 0)" if setup["bootstraps"] == 0 and "n" not in stat else DASH


def summary_sentences(report: Mapping[str, Any]) -> list[str]:
    """The headline results in plain sentences (what a reader sees first)."""
    setup, metrics = report["setup"], report["metrics"]
    level = f"{setup['confidence']:g}% CI"

    def said(stat: Mapping[str, Any]) -> str:
        interval = _interval(stat)
        counts = f"{_counts(stat)}; " if "n" in stat else ""
        return _number(stat["value"]) + (f" ({counts}{level} {interval})" if interval != DASH else f" ({counts})")

    if "positive_class" in setup:
        sentences = [
            (
                f"{setup['cases']} cases: {setup['positives']} {setup['positive_class']} (positive) and "
                f"{setup['negatives']} {setup['class_names'][0]}, a prevalence of {setup['prevalence']:.1%}."
            ),
            f"ROC AUC {said(metrics['auc'])}.",
            (
                f"At the threshold p > {setup['threshold']:.4g} ({setup['threshold_rule']}): sensitivity "
                f"{said(metrics['sensitivity'])}, specificity {said(metrics['specificity'])}."
            ),
        ]
    else:
        sentences = [
            f"{setup['cases']} cases of {len(setup['class_names'])} classes; the predicted class is the highest score.",
            f"Accuracy {said(metrics['accuracy'])}; macro-average ROC AUC {said(metrics['auc'])}.",
        ]
    return [sentence.replace(" ()", "") for sentence in sentences]


def build_tables(report: Mapping[str, Any]) -> list[Table]:
    """Every table of the report, in order."""
    setup = report["setup"]
    tables = [_setup_table(report), _metrics_table(report)]
    if report.get("per_class"):
        tables.append(_per_class_table(report))
    tables.append(_confusion_table(report))
    if report.get("calibration_statistics"):
        tables.append(_calibration_statistics_table(report))
    if report.get("decision_curve") and report["decision_curve"]["table"]:
        tables.append(_decision_table(report))
    for key in ("groups", "folds"):
        if report.get(key):
            tables.append(_subset_table(report[key], setup, key))
    return tables


def _setup_table(report: Mapping[str, Any]) -> Table:
    setup = report["setup"]
    rows = [["Cases", str(setup["cases"])]]
    if "positive_class" in setup:
        rows += [
            ["Positive class", setup["positive_class"]],
            ["Positives / negatives", f"{setup['positives']} / {setup['negatives']}"],
            ["Prevalence", f"{setup['prevalence']:.1%}"],
            ["Decision threshold", f"{setup['class_names'][1]} iff p > {setup['threshold']!r}"],
            ["How the threshold was chosen", setup["threshold_rule"]],
        ]
    else:
        counts = ", ".join(f"{name}: {count}" for name, count in setup["class_counts"].items())
        rows += [["Cases per class", counts], ["Decision rule", setup["decision_rule"]]]
    proportion = {"wilson": "Wilson score", "clopper-pearson": "Clopper-Pearson (exact)"}[setup["proportion_ci"]]
    rows += [
        ["Confidence level", f"{setup['confidence']:g}%"],
        [
            "Interval of proportions (sensitivity, specificity, PPV, NPV, accuracy)",
            f"{proportion}, from the counts"
            if not setup.get("clusters")
            else f"{proportion}, on the effective number of cases of the clusters (see the notes)",
        ],
        [
            "Interval of AUC, AUC-PR, balanced accuracy",
            f"{setup['bootstrap_ci']}; {setup['bootstraps']} resamplings, seed {setup['seed']}"
            if setup["bootstraps"]
            else "none (no bootstrap resampling was asked for)",
        ],
        ["Groups flagged too small to judge", f"fewer than {setup['min_cases']} cases of some class"],
        ["fuse-eval version", setup["fuse_eval_version"]],
    ]
    return Table("setup", "Set-up", ["Item", "Value"], rows)


def _metrics_table(report: Mapping[str, Any]) -> Table:
    setup, metrics = report["setup"], report["metrics"]
    names = BINARY_METRICS if "positive_class" in setup else MULTICLASS_METRICS
    level = f"{setup['confidence']:g}% CI"
    rows = [
        [
            label,
            _number(metrics[key]["value"]),
            _interval(metrics[key]),
            _counts(metrics[key]),
            _method(metrics[key], setup),
        ]
        for key, label in names.items()
    ]
    caption = (
        "Counts: the cases the proportion is computed on, e.g. sensitivity = true positives / positives, "
        "PPV = true positives / cases called positive. Balanced accuracy is the mean of the per-class recalls."
    )
    return Table("metrics", "Performance", ["Metric", "Estimate", level, "Counts", "Interval method"], rows, caption)


def _per_class_table(report: Mapping[str, Any]) -> Table:
    setup = report["setup"]
    header = ["Class", "Cases", *PER_CLASS_METRICS.values()]
    rows = [
        [name, str(setup["class_counts"][name]), *(_with_interval(stats[key]) for key in PER_CLASS_METRICS)]
        for name, stats in report["per_class"].items()
    ]
    caption = "One class against the rest; each cell: estimate (interval), counts for proportions."
    return Table("per_class", "Per class", header, rows, caption)


def _confusion_table(report: Mapping[str, Any]) -> Table:
    names, counts = report["confusion_matrix"]["classes"], report["confusion_matrix"]["counts"]
    header = ["True \\ predicted", *names, "Total"]
    rows = [[name, *(str(v) for v in row), str(sum(row))] for name, row in zip(names, counts, strict=True)]
    totals = [sum(row[c] for row in counts) for c in range(len(names))]
    rows.append(["Total", *(str(v) for v in totals), str(sum(totals))])
    rule = report["setup"]["decision_rule"]
    return Table("confusion", "Confusion matrix", header, rows, f"Rows: the true class; columns: predicted ({rule}).")


def _calibration_statistics_table(report: Mapping[str, Any]) -> Table:
    setup, statistics = report["setup"], report["calibration_statistics"]
    level = f"{setup['confidence']:g}% CI"
    rows = []
    calibration = report.get("calibration")
    if calibration is not None:
        ece = {"value": calibration["ece"]}
        rows.append([f"ECE ({ECE_BINS} equal-width bins)", _number(ece["value"]), DASH, "0", "none"])
    for key, (label, ideal) in CALIBRATION_STATISTICS.items():
        stat = statistics[key]
        method = _method(stat, setup)
        if stat.get("resamplings") is not None:
            method = f"bootstrap, {stat['resamplings']} resamplings"
        rows.append([label, _number(stat["value"]), _interval(stat), ideal, method])
    caption = (
        "Logistic recalibration of the outcome on logit(p) (statsmodels): the intercept with logit(p) as offset "
        "(below 0: the risks are too high on average) and the slope (below 1: too extreme, as after overfitting; "
        "above 1: too moderate). ICI, E50, E90, Emax: the mean, median, 90th percentile and maximum of "
        "|p - observed risk| over the cases, the observed risk smoothed by lowess (frac 2/3, no robustness "
        "iterations; Austin & Steyerberg 2019). Probabilities of exactly 0 or 1 are clipped to 1e-8 from them for "
        "the logits."
    )
    return Table("calibration_stats", "Calibration statistics", ["Statistic", "Estimate", level, "Ideal",
                 "Interval method"], rows, caption)  # fmt: skip


def _decision_table(report: Mapping[str, Any]) -> Table:
    setup, decision = report["setup"], report["decision_curve"]
    positive = setup["positive_class"]
    header = ["Threshold probability", "Net benefit of the model", "Treat all", "Treat none",
              "Net interventions avoided per 100"]  # fmt: skip
    rows = [
        [
            f"{row['threshold']:g}",
            _with_interval(row["net_benefit"]),
            _number(row["treat_all"]),
            _number(0.0),
            _with_interval(row["net_interventions_avoided"]),
        ]
        for row in decision["table"]
    ]
    caption = (
        f"Treat a case when its predicted risk of {positive} is at least the threshold probability pt (a risk "
        "exactly at the threshold is treated here, but called negative by the confusion matrix's p > threshold). "
        "Net benefit = TP/n - FP/n * pt/(1 - pt): true positives per case, net of false positives weighted by the "
        "odds at which a clinician would treat (Vickers & Elkin 2006). Treat all: prevalence - (1 - prevalence) * "
        "pt/(1 - pt). Net interventions avoided per 100 cases: (net benefit - treat all) / (pt/(1 - pt)) * 100. "
        "Each cell: estimate (interval)."
    )
    return Table("decision_curve", "Net benefit (decision curve analysis)", header, rows, caption)


def _subset_table(subsets: Mapping[str, Any], setup: Mapping[str, Any], key: str) -> Table:
    binary = "positive_class" in setup
    name = subsets["name"]
    if binary:
        header = [name, "Cases", "Positives", "ROC AUC", "Sensitivity", "Specificity", "Flag"]
        columns = ("auc", "sensitivity", "specificity")
    else:
        header = [name, "Cases", "Smallest class", "ROC AUC (macro)", "Accuracy", "Balanced accuracy", "Flag"]
        columns = ("auc", "accuracy", "balanced_accuracy")
    rows, flagged = [], set()
    for position, row in enumerate(subsets["rows"]):
        counts = row["class_counts"]
        second = str(counts[setup["positive_class"]]) if binary else str(min(counts.values()))
        flag = FLAG if row["too_small"] else ""
        if row.get("absent_classes"):
            flag = f"{FLAG}: no case of {', '.join(row['absent_classes'])}"
        if row["too_small"]:
            flagged.add(position)
        rows.append(
            [row["value"], str(row["cases"]), second, *(_with_interval(row["metrics"][c]) for c in columns), flag]
        )
    spread = subsets["spread"]
    caption = (
        f"Each cell: estimate (interval), counts for proportions. Flag: fewer than {setup['min_cases']} cases of "
        "some class, too few for the group's numbers to be compared with the others'. "
        f"ROC AUC across the {name} values: mean {_number(spread['auc_mean'])}, standard deviation "
        f"{_number(spread['auc_std'])}, median {_number(spread['auc_median'])}."
    )
    title = "Per fold" if key == "folds" else f"Per {name}"
    return Table(key, title, header, rows, caption, flagged)


def _calibration_text(report: Mapping[str, Any]) -> str:
    calibration = report["calibration"]
    if calibration is None:
        return "Calibration is not reported: the class scores are not probabilities."
    return (
        f"Expected calibration error (ECE) {_number(calibration['ece'])}, maximum {_number(calibration['mce'])}: "
        f"the average gap between the model's confidence and how often it is right, over {ECE_BINS} equal-width "
        "confidence bins weighted by their cases (0 is perfect; 0.05 means off by 5 percentage points on average)."
    )


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1a1a1a;
       max-width: 1050px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.8em;
     border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
.summary { background: #eef4fb; border-left: 5px solid #2b6cb0; padding: 0.8em 1.2em; font-size: 1.08em; }
.summary p { margin: 0.3em 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.95em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.flagged td { background: #fff4d6; }
.caption { color: #444; font-size: 0.9em; max-width: 60em; }
figure { margin: 1.2em 0; } figure img { max-width: 620px; width: 100%; border: 1px solid #ddd; }
figcaption { color: #333; font-size: 0.92em; max-width: 620px; }
.muted { color: #666; }
"""


def _html_table(table: Table) -> str:
    lines = [f'<h2 id="{table.key}">{html.escape(table.title)}</h2>', f'<table class="{table.key}">']
    lines.append("<thead><tr>" + "".join(f"<th>{html.escape(cell)}</th>" for cell in table.header) + "</tr></thead>")
    lines.append("<tbody>")
    for position, row in enumerate(table.rows):
        css = ' class="flagged"' if position in table.flagged_rows else ""
        cells = "".join(
            f'<td class="num">{html.escape(cell)}</td>'
            if index and table.key != "setup" and _numeric_looking(cell)
            else f"<td>{html.escape(cell)}</td>"
            for index, cell in enumerate(row)
        )
        lines.append(f"<tr{css}>{cells}</tr>")
    lines.append("</tbody></table>")
    if table.caption:
        lines.append(f'<p class="caption">{html.escape(table.caption)}</p>')
    return "\n".join(lines)


def _numeric_looking(cell: str) -> bool:
    """A lone number (or the undefined mark): right-aligned; text and estimates with intervals are not."""
    return cell == DASH or (bool(cell) and " " not in cell and cell[0].isdigit())


def render_html(report: Mapping[str, Any], images: Mapping[str, bytes]) -> str:
    """The report as one HTML page: no external file, script, style sheet or font (images are inline PNG)."""
    escape = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(report['title'])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{escape(report['title'])}</h1>",
    ]
    if report.get("description"):
        parts.append(f'<p class="muted">{escape(report["description"])}</p>')
    parts.append('<div class="summary">' + "".join(f"<p>{escape(s)}</p>" for s in summary_sentences(report)) + "</div>")
    for table in build_tables(report):
        parts.append(_html_table(table))
        if table.key == "confusion":
            parts.append(f'<h2 id="calibration">Calibration</h2><p>{escape(_calibration_text(report))}</p>')
    parts.append('<h2 id="figures">Figures</h2>')
    figures: Sequence[Mapping[str, str]] = report.get("figures") or []
    for number, figure in enumerate(figures, start=1):
        data = base64.b64encode(images[figure["file"]]).decode("ascii")
        parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{escape(figure["title"])}">'
            f"<figcaption><b>Figure {number}. {escape(figure['title'])}.</b> {escape(figure['caption'])}"
            "</figcaption></figure>"
        )
    if not figures:
        why = next((note for note in report["notes"] if note.startswith("figures:")), "figures: not drawn")
        parts.append(f"<p>No figures in this report ({escape(why.removeprefix('figures: '))}).</p>")
    notes = [note for note in report["notes"] if not note.startswith("figures:") or not figures]
    if notes:
        parts.append('<h2 id="notes">Notes</h2><ul>' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    parts.append(
        f'<p class="muted">Written by fuse-eval {escape(report["setup"]["fuse_eval_version"])}; the numbers are '
        "also in results.json and results.md.</p></body></html>"
    )
    return "\n".join(parts) + "\n"


def _md_cell(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    lines = [f"## {table.title}", "", "| " + " | ".join(_md_cell(c) for c in table.header) + " |"]
    lines.append("|" + "---|" * len(table.header))
    for position, row in enumerate(table.rows):
        cells = [_md_cell(c) for c in row]
        if position in table.flagged_rows:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    if table.caption:
        lines += ["", f"*{_md_cell(table.caption)}*"]
    return "\n".join(lines)


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report's tables in Markdown, the figures linked (as files beside it)."""
    parts = [f"# {report['title']}"]
    if report.get("description"):
        parts.append(report["description"])
    parts.append("\n".join(f"> {sentence}" for sentence in summary_sentences(report)))
    for table in build_tables(report):
        parts.append(_md_table(table))
        if table.key == "confusion":
            parts.append("## Calibration\n\n" + _calibration_text(report))
    figures = report.get("figures") or []
    if figures:
        parts.append(
            "## Figures\n\n"
            + "\n\n".join(
                f"![{f['title']}]({f['file']})\n\n*Figure {i}. {f['title']}.* {f['caption']}"
                for i, f in enumerate(figures, start=1)
            )
        )
    if report["notes"]:
        parts.append("## Notes\n\n" + "\n".join(f"- {note}" for note in report["notes"]))
    return "\n\n".join(parts) + "\n"
