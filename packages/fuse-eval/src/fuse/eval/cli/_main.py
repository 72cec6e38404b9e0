"""``fuse-eval``: evaluate a classifier's predictions file against a targets file from the command line.

::

    fuse-eval --pred preds.csv --target targets.csv [--id id] [--pred-cols c1 c2 ...] [--target-col target]
              [--group col] [--fold col] [--cluster-col col] [--bootstraps 10000] [--seed 1234] [--confidence 95]
              [--threshold 0.5] [--proportion-ci wilson] [--min-cases 10] [--title TEXT]
              [--out fuse-eval-report] [--no-plots] [--quiet]

A reader study (one row per reader x test x case) has its own mode, ``fuse-eval --mrmc readings.csv ...``: a
multi-reader multi-case analysis (:func:`fuse.eval.mrmc`; options in :mod:`fuse.eval.cli._mrmc`).

Inputs (csv, tsv, pickle or xlsx, as :func:`fuse.core.read_dataframe` reads them) are joined on the id column;
every id must be in both files, once. ``--pred`` may name several files, one per cross-validation fold: they are
concatenated and the file index becomes the ``fold`` analysed per fold. **A pickle file is unpickled, which can run
arbitrary code: only load pickle files you trust.**

Kinds of predictions, chosen by the number of prediction columns (``--pred-cols``; by default every column of the
predictions file except the id, target, group and fold columns, so one file holding both can be given twice):

- **one column**: binary, the probability of class 1 (values in [0, 1]); targets are 0 or 1;
- **two columns**: binary, the probabilities of class 0 and class 1 (each row sums to 1); the second column is
  used as the probability of class 1; targets are 0 / 1 or the column names;
- **three or more columns**: multi-class scores, one column per class in column order; targets are class indices
  0..C-1 or the column names, and every class must have a case (a binary target against five score columns is a
  wrong file or column, refused). Metrics are one-vs-rest per class with a macro average; classes are predicted by
  argmax. Calibration needs probabilities (rows summing to 1) and is skipped otherwise.

Class names are the column names, without FuseMedML's ``-score`` suffix when every column has it.

Binary class predictions are ``p > --threshold`` (strict; 0.5 by default). The report
(:func:`fuse.eval.write_report`): ROC AUC, AUC-PR and balanced accuracy with a stratified percentile bootstrap
interval (``--bootstraps 0``: none); sensitivity, specificity, PPV, NPV and accuracy with their counts and an
analytic interval (``--proportion-ci``, Wilson by default); the confusion matrix; the expected calibration error
(binary: with the calibration intercept, slope and ICI, and a decision curve);
with ``--group`` / ``--fold`` the same per group / fold, flagging those with fewer than ``--min-cases`` cases of
some class. ``--group`` and ``--fold`` name a column of the targets file, or else of the predictions file.
``--cluster-col`` (e.g. the patient of each image, same lookup) makes the bootstrap resample whole clusters
(see :class:`fuse.eval.CI`), and the proportions' analytic intervals count the clusters' effective number of cases.

Writes ``<out>/report.html`` (one self-contained page), ``results.md`` and ``results.json`` and, unless
``--no-plots``, the figures ``roc.png``, ``precision_recall.png``, ``calibration.png`` and (binary)
``decision_curve.png`` (the report says so when
matplotlib is not installed); prints a summary and the report path. Input errors print a message and exit with
code 2.

>>> import tempfile
>>> from pathlib import Path
>>> import pandas as pd
>>> folder = Path(tempfile.mkdtemp())
>>> pd.DataFrame({"id": range(6), "prob": [0.1, 0.4, 0.35, 0.8, 0.7, 0.2]}).to_csv(folder / "p.csv", index=False)
>>> pd.DataFrame({"id": range(6), "target": [0, 0, 1, 1, 1, 0]}).to_csv(folder / "t.csv", index=False)
>>> main(["--pred", str(folder / "p.csv"), "--target", str(folder / "t.csv"), "--out", str(folder / "report"),
...       "--bootstraps", "100", "--no-plots", "--quiet"])
0
>>> import json
>>> round(json.loads((folder / "report" / "results.json").read_text())["metrics"]["auc"]["value"], 4)
0.8889
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fuse.eval.cli._common import CliError, parse_arguments, print_error, print_report_written
from fuse.eval.cli._inputs import _load_inputs
from fuse.eval.framework._warnings import UndefinedMetricWarning
from fuse.eval.report._report import write_report
from fuse.eval.report._settings import (
    BINARY_METRICS,
    MULTICLASS_METRICS,
    ReportSettings,
)
from fuse.eval.resampling._proportion import PROPORTION_CI_METHODS

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``fuse-eval`` argument parser.

    >>> build_parser().parse_args(["--pred", "p.csv", "--target", "t.csv"]).bootstraps
    10000
    """
    parser = argparse.ArgumentParser(
        prog="fuse-eval",
        description="Evaluate classification predictions against targets: ROC AUC, AUC-PR, sensitivity, specificity, "
        "PPV, NPV, accuracy and balanced accuracy with confidence intervals and counts, the confusion matrix, "
        "calibration, per group and per fold; writes report.html, results.md and results.json.",
        epilog="One pred column: binary (probability of class 1). Two: binary (probabilities of class 0 and 1). "
        "Three or more: multi-class scores, one column per class; targets are class indices 0..C-1 or column names. "
        "Security: a .pkl/.pickle file is unpickled, which can run arbitrary code: only load pickle files you trust. "
        "Reader studies (every reader rates every case under each test): fuse-eval --mrmc READINGS [...], an MRMC "
        "analysis; see fuse-eval --mrmc --help.",
    )
    parser.add_argument(
        "--pred",
        required=True,
        nargs="+",
        metavar="FILE",
        help="predictions file(s) (csv, tsv, xlsx or pickle; a pickle file can run code when loaded: only load "
        "pickle files you trust); several files = one per fold",
    )
    parser.add_argument(
        "--target", required=True, metavar="FILE", help="targets file (pickle: only load files you trust)"
    )
    parser.add_argument("--id", default="id", metavar="COL", help="id column joining the files (default: %(default)s)")
    parser.add_argument(
        "--pred-cols",
        nargs="+",
        metavar="COL",
        help="prediction columns (default: all but id, target, group, fold and cluster)",
    )
    parser.add_argument("--target-col", default="target", metavar="COL", help="target column (default: %(default)s)")
    parser.add_argument("--group", metavar="COL", help="also evaluate per value of this column (e.g. site, sex)")
    parser.add_argument("--fold", metavar="COL", help="also evaluate per value of this fold column")
    parser.add_argument(
        "--cluster-col",
        metavar="COL",
        help="cluster of each row (e.g. the patient of each image): the bootstrap resamples whole clusters",
    )
    parser.add_argument(
        "--bootstraps",
        type=int,
        default=10000,
        metavar="N",
        help="bootstrap resamplings of the AUC, AUC-PR and balanced accuracy intervals, 0 = none (%(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1234, help="bootstrap random seed (default: %(default)s)")
    parser.add_argument(
        "--confidence", type=float, default=95.0, metavar="PCT", help="confidence level in percent (%(default)s)"
    )
    parser.add_argument(
        "--threshold", type=float, metavar="T", help="binary decision threshold: class 1 iff p > T (default: 0.5)"
    )
    parser.add_argument(
        "--proportion-ci",
        choices=PROPORTION_CI_METHODS,
        default="wilson",
        help="interval of sensitivity, specificity, PPV, NPV and accuracy, from the counts (default: %(default)s)",
    )
    parser.add_argument(
        "--min-cases",
        type=int,
        default=10,
        metavar="N",
        help="flag a group or fold with fewer cases of some class as too small to judge (default: %(default)s)",
    )
    parser.add_argument("--title", default="Evaluation report", help="the report's title (default: %(default)s)")
    parser.add_argument(
        "--out", default="fuse-eval-report", metavar="DIR", help="report directory (default: %(default)s)"
    )
    parser.add_argument("--no-plots", action="store_true", help="draw no figures (faster; no matplotlib needed)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors (no progress, no summary)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fuse-eval`` with ``argv`` (``sys.argv[1:]`` when ``None``); returns the exit code.

    0 on success; 2 for bad arguments or inputs (a message on stderr).

    >>> main(["--pred", "no-such-file.csv", "--target", "no-such-targets.csv"])
    2
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(arg == "--mrmc" or arg.startswith("--mrmc=") for arg in argv):  # a reader study: its own options
        from fuse.eval.cli._mrmc import main as mrmc_main

        return mrmc_main(argv)
    parser = build_parser()
    args = parse_arguments(parser, argv)
    if isinstance(args, int):
        return args
    try:
        _run(args)
    except CliError as error:
        return print_error(error)
    return 0


def _check_settings(args: argparse.Namespace) -> None:
    if args.bootstraps < 0:
        raise CliError(f"--bootstraps must be >= 0 (0 = no confidence intervals), got {args.bootstraps}")
    if not 0 < args.confidence < 100:
        raise CliError(f"--confidence is a percentage in (0, 100), got {args.confidence}")
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise CliError(f"--threshold must be in [0, 1] (a probability), got {args.threshold}")


def _run(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate as the command line asks and write the report; returns its content (see :func:`write_report`)."""
    _check_settings(args)
    inputs = _load_inputs(args)
    settings = ReportSettings(
        threshold=None if args.threshold is None else float(args.threshold),
        threshold_rule="the default, fixed in advance"
        if args.threshold is None
        else "given on the command line (--threshold)",
        proportion_ci=args.proportion_ci,
        confidence=args.confidence,
        bootstraps=args.bootstraps,
        seed=args.seed,
        min_cases=args.min_cases,
        title=args.title,
        description=f"Predictions {' + '.join(args.pred)} against targets {args.target} (column {args.target_col!r}).",
        plots=not args.no_plots,
        verbose=not args.quiet,
        warn_noted=args.quiet,  # without --quiet the notes are printed below: each said once
    )
    out = Path(args.out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # the report lists them in its notes
        report = write_report(
            out,
            inputs.scores,
            inputs.labels,
            inputs.class_names,
            groups=None if inputs.group is None else inputs.group.to_numpy(),
            folds=None if inputs.fold is None else inputs.fold.to_numpy(),
            group_name=args.group or "group",
            settings=settings,
            notes=inputs.notes,
            clusters=None if inputs.cluster is None else inputs.cluster.to_numpy(),
        )
    if not args.quiet:
        for note in report["notes"]:
            print(f"note: {note}", file=sys.stderr)
        print(_summary(report, args))
        print_report_written(out)
    return report


def _summary(report: Mapping[str, Any], args: argparse.Namespace) -> str:
    """A short plain-text table of the headline results."""
    setup, metrics = report["setup"], report["metrics"]
    names = BINARY_METRICS if "positive_class" in setup else MULTICLASS_METRICS
    header = f"{'metric':<26} {'value':>7}   {f'{args.confidence:g}% CI':<18} counts"
    rule = setup["decision_rule"]
    lines = [f"{setup['cases']} samples, {len(setup['class_names'])} classes ({rule})", header, "-" * len(header)]
    for key, label in names.items():
        stat = metrics[key]
        interval = f"[{_fmt(stat['low'])}, {_fmt(stat['high'])}]" if math.isfinite(stat["low"]) else ""
        counts = f"{stat['successes']}/{stat['n']}" if "n" in stat else ""
        lines.append(f"{label:<26} {_fmt(stat['value']):>7}   {interval:<18} {counts}".rstrip())
    calibration = report["calibration"]
    if calibration is not None:
        lines.append(f"{'ECE':<26} {_fmt(calibration['ece']):>7}")
    for key in ("groups", "folds"):
        subsets = report[key]
        if subsets is None:
            continue
        values = [
            f"{row['value']}={_fmt(row['metrics']['auc']['value'])}" + ("*" if row["too_small"] else "")
            for row in subsets["rows"]
        ]
        option = f"--group {args.group}" if key == "groups" else (f"--fold {args.fold}" if args.fold else "fold (file)")
        lines.append(f"ROC AUC per {option}: {', '.join(values)}")
        if any(row["too_small"] for row in subsets["rows"]):
            lines.append(f"  * too small to judge: fewer than {setup['min_cases']} cases of some class")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4f}"
