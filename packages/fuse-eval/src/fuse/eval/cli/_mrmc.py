"""``fuse-eval --mrmc``: the MRMC analysis of a long reader-study file, written as tables.

::

    fuse-eval --mrmc readings.csv [--rating-col rating] [--truth-col truth] [--reader-col reader]
              [--test-col test] [--case-col case] [--pos-label LABEL] [--cov jackknife|delong|unbiased]
              [--readers random|fixed]
              [--confidence 95] [--title TEXT] [--out fuse-eval-mrmc] [--quiet]

The file (csv, tsv, pickle or xlsx, as :func:`fuse.core.read_dataframe` reads them; **a pickle file can run code
when loaded: only load pickle files you trust**) has one row per reading: every reader rates every case under every
test. Writes ``<out>/report.html``, ``results.md`` (the tables) and ``results.json`` (:func:`fuse.eval.mrmc`'s
result, NaN as ``null``); malformed input prints a message and exits with code 2.

>>> import tempfile
>>> from pathlib import Path
>>> import pandas as pd
>>> folder = Path(tempfile.mkdtemp())
>>> rows = [(r, t, c, (c % 2) * (1 + (t == "AI")) + (c * r) % 3, c % 2)
...         for r in range(3) for t in ("AI", "unaided") for c in range(8)]
>>> pd.DataFrame(rows, columns=["reader", "test", "case", "rating", "truth"]).to_csv(folder / "r.csv", index=False)
>>> main(["--mrmc", str(folder / "r.csv"), "--out", str(folder / "out"), "--quiet"])
0
>>> "AI - unaided" in (folder / "out" / "results.md").read_text()
True
"""

from __future__ import annotations

import argparse
import html
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fuse.core import save_text_file
from fuse.eval._version import __version__
from fuse.eval.cli._common import CliError, parse_arguments, print_error, print_report_written, read_input_file
from fuse.eval.framework._plain_values import json_ready
from fuse.eval.framework._warnings import UndefinedMetricWarning
from fuse.eval.metrics.mrmc._mrmc import MRMC_COV_METHODS, MRMC_READERS, mrmc
from fuse.eval.report._render import _STYLE, DASH, RANGE, Table, _html_table, _md_table

__all__ = ["build_mrmc_parser", "main", "mrmc_tables"]


def build_mrmc_parser() -> argparse.ArgumentParser:
    """The ``fuse-eval --mrmc`` argument parser.

    >>> build_mrmc_parser().parse_args(["--mrmc", "readings.csv"]).cov
    'jackknife'
    """
    parser = argparse.ArgumentParser(
        prog="fuse-eval",
        description="Multi-reader multi-case (MRMC) analysis of a reader study: Obuchowski-Rockette with Hillis's "
        "degrees of freedom on the empirical ROC AUC. The file has one row per reading (reader x test x case); "
        "writes report.html, results.md and results.json.",
        epilog="Security: a .pkl/.pickle file is unpickled, which can run arbitrary code: only load pickle files "
        "you trust.",
    )
    parser.add_argument("--mrmc", required=True, metavar="FILE", help="readings file (csv, tsv, xlsx or pickle)")
    for name, default, what in (
        ("rating", "rating", "the reader's rating (higher = more likely positive)"),
        ("truth", "truth", "the case's truth, 0/1"),
        ("reader", "reader", "the reader"),
        ("test", "test", "the test (modality, or unaided / AI-aided)"),
        ("case", "case", "the case"),
    ):
        parser.add_argument(
            f"--{name}-col", default=default, metavar="COL", help=f"column of {what} (default: %(default)s)"
        )
    parser.add_argument(
        "--pos-label",
        metavar="LABEL",
        help="the truth value of positive cases, when the truth column is not 0/1 (e.g. malignant); compared as text",
    )
    parser.add_argument(
        "--cov", choices=MRMC_COV_METHODS, default="jackknife", help="AUC covariance estimate (default: %(default)s)"
    )
    parser.add_argument(
        "--readers",
        choices=MRMC_READERS,
        default="random",
        help="random: conclusions for the population of readers; fixed: for these readers (default: %(default)s)",
    )
    parser.add_argument(
        "--confidence", type=float, default=95.0, metavar="PCT", help="confidence level in percent (%(default)s)"
    )
    parser.add_argument("--title", default="Reader study (MRMC) report", help="the report's title (%(default)s)")
    parser.add_argument("--out", default="fuse-eval-mrmc", metavar="DIR", help="report directory (%(default)s)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def main(argv: Sequence[str]) -> int:
    """Run ``fuse-eval --mrmc ...``; returns the exit code (0, or 2 with a message on stderr for bad input)."""
    parser = build_mrmc_parser()
    if "-h" in argv or "--help" in argv:  # before parsing: "--mrmc --help" would read --help as a missing FILE
        parser.print_help()
        return 0
    args = parse_arguments(parser, argv)
    if isinstance(args, int):
        return args
    try:
        result = _analyse(args)
    except CliError as error:
        return print_error(error)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return print_error(f"cannot create the report directory {out} (--out): {error}")
    report = {"title": args.title, "source": args.mrmc, "result": result}
    save_text_file(out / "results.json", json.dumps(json_ready(report), indent=2, allow_nan=False) + "\n")
    save_text_file(out / "results.md", render_markdown(report))
    save_text_file(out / "report.html", render_html(report))
    if not args.quiet:
        print(_summary(result))
        print_report_written(out)
    return 0


def _analyse(args: argparse.Namespace) -> dict[str, Any]:
    if not 0 < args.confidence < 100:
        raise CliError(f"--confidence is a percentage in (0, 100), got {args.confidence}")
    path = args.mrmc
    data = read_input_file(path, "readings", task="analyse")
    columns = {"rating": "--rating-col", "truth": "--truth-col", "reader": "--reader-col", "test": "--test-col"}
    columns["case"] = "--case-col"
    for argument, option in columns.items():
        name = getattr(args, f"{argument}_col")
        if name not in data.columns:
            raise CliError(f"readings file {path} has no {argument} column {name!r} ({option}); its columns: "
                                f"{list(data.columns)}")  # fmt: skip
    pos_label = args.pos_label
    if pos_label is not None:  # compared as text, as it is written in the file
        truth = data[args.truth_col]
        data[args.truth_col] = truth.where(truth.isna(), truth.astype(str))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        try:
            result = mrmc(
                data,
                rating=args.rating_col,
                truth=args.truth_col,
                reader=args.reader_col,
                test=args.test_col,
                case=args.case_col,
                cov=args.cov,
                readers=args.readers,
                alpha=1 - args.confidence / 100,
                pos_label=pos_label,
            )
        except ValueError as error:
            message = str(error).replace("pass pos_label", "pass --pos-label LABEL")
            raise CliError(f"readings file {path}: {message}") from error
    result["notes"] = list(dict.fromkeys(str(warning.message) for warning in caught))
    return result


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, float) and math.isinf(value):
        return "\u221e"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _p(value: float) -> str:
    if math.isnan(value):
        return DASH
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _ci(stat: Mapping[str, float]) -> str:
    if math.isnan(stat["ci_lower"]):
        return DASH
    return f"{stat['ci_lower']:.4f} {RANGE} {stat['ci_upper']:.4f}"


def mrmc_tables(result: Mapping[str, Any]) -> list[Table]:
    """The tables of an MRMC report from :func:`fuse.eval.mrmc`'s result."""
    design, method = result["design"], result["method"]
    level = f"{100 * (1 - method['alpha']):g}% CI"
    random = method["readers"] == "random"
    setup = Table(
        "setup",
        "Design and method",
        ["item", "value"],
        [
            ["readers", f"{len(design['readers'])} ({method['readers']})"],
            ["tests", ", ".join(str(t) for t in design["tests"])],
            ["cases", f"{design['cases']} ({design['positive_cases']} positive, {design['negative_cases']} negative)"],
            ["figure of merit", "empirical ROC AUC (trapezoidal, ties count one half)"],
            ["AUC covariance", method["cov"]],
            [
                "analysis",
                "Obuchowski-Rockette, Hillis (2007) denominator degrees of freedom"
                if random
                else "Obuchowski-Rockette, fixed readers (chi-square / normal)",
            ],
        ],
    )
    statistic = "F" if random else "X\u00b2 / df1"
    global_test = Table(
        "global",
        "Global test: all tests have the same mean AUC",
        [statistic, "df1", "df2", "p-value"],
        [[_num(result["f"]), _num(result["df1"]), _num(result["df2"], 2), _p(result["p_value"])]],
    )
    tests = Table(
        "tests",
        "Mean AUC per test (each from that test's data alone)",
        ["test", "AUC", "std. error", "df", level],
        [
            [str(name), _num(s["estimate"]), _num(s["std_err"]), _num(s["df"], 2), _ci(s)]
            for name, s in result["tests"].items()
        ],
    )
    comparisons = Table(
        "comparisons",
        "Differences between tests",
        ["difference", "estimate", "std. error", "df", level, "t" if random else "z", "p-value"],
        [
            [name, _num(s["estimate"]), _num(s["std_err"]), _num(s["df"], 2), _ci(s), _num(s["t"], 3), _p(s["p_value"])]
            for name, s in result["comparisons"].items()
        ],
        caption=(
            "Every difference uses the global error term MS(T*R) + r max(Cov2 - Cov3, 0) and Hillis's df2 (Hillis et "
            "al. 2008); for a pair on its own data, analyse that pair's readings alone."
            if random
            else "Fixed readers: normal intervals and z tests with the error term Var - Cov1 + (r-1) max(Cov2 - Cov3, 0)."
        ),
    )
    readers = Table(
        "readers",
        "AUC per reader",
        ["reader", *(str(name) for name in design["tests"])],
        [
            [str(reader), *(_num(result["reader_aucs"][test][reader]) for test in design["tests"])]
            for reader in design["readers"]
        ],
    )
    components = result["var_components"]
    labels = {
        "reader": "reader (\u03c3\u00b2_R)",
        "test_reader": "test x reader (\u03c3\u00b2_TR)",
        "error": "error (Var)",
        "cov1": "Cov1 (same reader, different tests)",
        "cov2": "Cov2 (different readers, same test)",
        "cov3": "Cov3 (different readers, different tests)",
    }
    variance = Table(
        "variance",
        "Variance components and error covariances",
        ["component", "estimate"],
        [
            [label, f"{components[key]:.6g}" if math.isfinite(components[key]) else DASH]
            for key, label in labels.items()
        ],
        caption="Method-of-moments estimates of the Obuchowski-Rockette model; they can be negative by chance.",
    )
    return [setup, global_test, tests, comparisons, readers, variance]


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report's tables in Markdown."""
    result = report["result"]
    parts = [f"# {report['title']}", f"Readings: {report['source']}."]
    parts += [_md_table(table) for table in mrmc_tables(result)]
    if result.get("notes"):
        parts.append("## Notes\n\n" + "\n".join(f"- {note}" for note in result["notes"]))
    return "\n\n".join(parts) + "\n"


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    result = report["result"]
    escape = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(report['title'])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{escape(report['title'])}</h1>",
        f'<p class="muted">Readings: {escape(str(report["source"]))}.</p>',
    ]
    parts += [_html_table(table) for table in mrmc_tables(result)]
    if result.get("notes"):
        parts.append(
            '<h2 id="notes">Notes</h2><ul>' + "".join(f"<li>{escape(n)}</li>" for n in result["notes"]) + "</ul>"
        )
    parts.append(f'<p class="muted">Written by fuse-eval {escape(__version__)}.</p></body></html>')
    return "\n".join(parts) + "\n"


def _summary(result: Mapping[str, Any]) -> str:
    design = result["design"]
    method = result["method"]
    name = "F" if method["readers"] == "random" else "X2/df1"
    lines = [
        f"{len(design['readers'])} readers x {len(design['tests'])} tests x {design['cases']} cases "
        + f"({method['readers']} readers, {method['cov']} covariance)",
        f"global test: {name} = {_num(result['f'], 3)} on {result['df1']} and {_num(result['df2'], 2)} df, "
        + f"p = {_p(result['p_value'])}",
    ]
    for name, stat in result["comparisons"].items():
        lines.append(f"{name}: {_num(stat['estimate'])} ({_ci(stat)}), p = {_p(stat['p_value'])}")
    lines += [f"note: {note}" for note in result.get("notes", [])]
    return "\n".join(lines)
