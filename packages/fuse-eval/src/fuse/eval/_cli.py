"""``fuse-eval``: evaluate a classifier's predictions file against a targets file from the command line.

::

    fuse-eval --pred preds.csv --target targets.csv [--id id] [--pred-cols c1 c2 ...] [--target-col target]
              [--group col] [--fold col] [--cluster-col col] [--bootstraps 10000] [--seed 1234] [--confidence 95]
              [--threshold 0.5] [--proportion-ci wilson] [--min-cases 10] [--title TEXT]
              [--out fuse-eval-report] [--no-plots] [--quiet]

A reader study (one row per reader x test x case) has its own mode, ``fuse-eval --mrmc readings.csv ...``: a
multi-reader multi-case analysis (:func:`fuse.eval.mrmc`; options in :mod:`fuse.eval._mrmc_cli`).

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
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fuse.core import read_dataframe
from fuse.eval._proportion import PROPORTION_CI_METHODS
from fuse.eval._report import (
    BINARY_METRICS,
    MULTICLASS_METRICS,
    PROBABILITY_TOLERANCE,
    ReportSettings,
    check_classes_present,
    write_report,
)
from fuse.eval._warnings import UndefinedMetricWarning

__all__ = ["CliError", "build_parser", "main"]

EXIT_INPUT_ERROR = 2
SCORE_SUFFIXES = ("-score", "_score", ".score")  # FuseMedML's prediction columns: "<class>-score"
_EXAMPLES = 5


class CliError(Exception):
    """A problem with the command-line inputs: printed as ``fuse-eval: error: ...``, exit code 2."""


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
        from fuse.eval._mrmc_cli import main as mrmc_main

        return mrmc_main(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help, or a usage error (already printed)
        code = exit_request.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_INPUT_ERROR)
    try:
        _run(args)
    except CliError as error:
        print(f"fuse-eval: error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    return 0


# ---------------------------------------------------------------------------------------------------------------------
# inputs


@dataclass
class _Inputs:
    """Validated inputs: one row per id, in the order of the predictions file(s)."""

    ids: pd.Series
    scores: np.ndarray  # (n,) probabilities of class 1, or (n, C) class scores
    labels: np.ndarray  # (n,) class indices
    class_names: list[str]
    binary: bool
    probabilities: bool  # scores are probabilities (calibration is defined)
    group: pd.Series | None = None
    fold: pd.Series | None = None
    cluster: pd.Series | None = None
    notes: list[str] = field(default_factory=list)


def _read(path: str, what: str, id_column: str) -> pd.DataFrame:
    if not os.path.isfile(path):
        raise CliError(f"{what} file not found: {path}")
    if os.path.getsize(path) == 0:
        raise CliError(f"{what} file {path} is empty (0 bytes): nothing to evaluate")
    try:
        frame = read_dataframe(path)
    except ValueError as error:  # unsupported suffix, or a malformed file
        raise CliError(f"cannot read {what} file {path}: {error}") from error
    except Exception as error:  # the readers' own errors (parser, encoding, zip...)
        raise CliError(f"cannot read {what} file {path}: {type(error).__name__}: {error}") from error
    if id_column not in frame.columns:
        raise CliError(f"{what} file {path} has no id column {id_column!r} (--id); its columns: {list(frame.columns)}")
    if frame.empty:
        raise CliError(f"{what} file {path} has no rows (its columns: {list(frame.columns)}): nothing to evaluate")
    if frame[id_column].isna().any():
        rows = np.flatnonzero(frame[id_column].isna().to_numpy())
        raise CliError(f"{what} file {path} has {len(rows)} rows without an id, e.g. rows {rows[:_EXAMPLES].tolist()}")
    duplicated = frame[id_column][frame[id_column].duplicated()].unique()
    if len(duplicated):
        raise CliError(
            f"{what} file {path} has {len(duplicated)} ids appearing more than once, e.g. "
            f"{duplicated[:_EXAMPLES].tolist()}"
        )
    return frame


def _align_id_types(pred: pd.DataFrame, target: pd.DataFrame, id_column: str) -> None:
    """Compare ids as text when the files store them differently (e.g. numbers in one, strings in the other)."""
    if pred[id_column].dtype.kind != target[id_column].dtype.kind:
        pred[id_column] = pred[id_column].astype(str)
        target[id_column] = target[id_column].astype(str)


def _check_same_ids(pred: pd.DataFrame, target: pd.DataFrame, id_column: str, pred_name: str, target_name: str) -> None:
    pred_ids, target_ids = pd.Index(pred[id_column]), pd.Index(target[id_column])
    only_pred = pred_ids.difference(target_ids, sort=False)
    only_target = target_ids.difference(pred_ids, sort=False)
    if len(only_pred) or len(only_target):
        problems = []
        if len(only_pred):
            problems.append(
                f"{len(only_pred)} of {len(pred_ids)} ids of {pred_name} are not in {target_name}, e.g. "
                f"{only_pred[:_EXAMPLES].tolist()}"
            )
        if len(only_target):
            problems.append(
                f"{len(only_target)} of {len(target_ids)} ids of {target_name} are not in {pred_name}, e.g. "
                f"{only_target[:_EXAMPLES].tolist()}"
            )
        raise CliError("the ids of the two files do not match: " + "; ".join(problems))


def _column(
    name: str, option: str, frames: Sequence[tuple[str, pd.DataFrame]], id_column: str, ids: pd.Series
) -> pd.Series:
    """Column ``name`` of the first frame that has it, aligned with ``ids``."""
    for _, frame in frames:
        if name in frame.columns:
            values: pd.Series = frame.set_index(id_column)[name].reindex(ids.to_numpy())
            return values.reset_index(drop=True)
    available = "; ".join(f"{label}: {list(frame.columns)}" for label, frame in frames)
    raise CliError(f"column {name!r} ({option}) is in neither file; columns of {available}")


def _numeric_scores(
    pred: pd.DataFrame, columns: Sequence[str], id_column: str, pred_name: str, chosen: bool
) -> np.ndarray:
    matrix = np.empty((len(pred), len(columns)))
    for position, name in enumerate(columns):
        raw = pred[name]
        numeric = pd.to_numeric(raw, errors="coerce")
        bad = numeric.isna() & raw.notna()
        if bad.any():
            examples = raw[bad].head(_EXAMPLES).tolist()
            ids = pred.loc[bad, id_column].head(_EXAMPLES).tolist()
            raise CliError(
                f"pred column {name!r} of {pred_name} holds non-numeric values such as {examples} (ids {ids}); "
                "predictions must be numbers"
                + (
                    ""
                    if chosen or numeric.notna().any()
                    else " (the pred columns are all columns but id, target, group and fold: choose with --pred-cols)"
                )
            )
        missing = raw.isna() | ~np.isfinite(numeric.to_numpy(dtype=float))
        if missing.any():
            ids = pred.loc[missing, id_column].head(_EXAMPLES).tolist()
            raise CliError(
                f"pred column {name!r} of {pred_name} has {int(missing.sum())} missing or infinite values, e.g. ids "
                f"{ids}"
            )
        matrix[:, position] = numeric.to_numpy(dtype=float)
    return matrix


def _labels(target: pd.Series, target_col: str, names: Mapping[str, int], classes: int, ids: pd.Series) -> np.ndarray:
    """Class indices of the targets: integers 0..classes-1 (numbers or text), or class names (``names``: name -> index)."""
    labels = np.full(len(target), -1, dtype=np.int64)
    for position, value in enumerate(target.tolist()):
        if isinstance(value, str):
            stripped = value.strip()
            index = names.get(value, int(stripped) if stripped.lstrip("-").isdigit() else -1)
            labels[position] = index if 0 <= index < classes else -1
        elif isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)) and float(value).is_integer():
            index = int(value)
            labels[position] = index if 0 <= index < classes else -1
    outside = labels < 0
    if outside.any():
        values = pd.unique(target[outside]).tolist()
        by_name = f" or the class names {list(names)}" if names else ""
        raise CliError(
            f"target column {target_col!r} holds values outside the {classes} classes for {int(outside.sum())} "
            f"samples: {values[:_EXAMPLES]} (e.g. ids {ids[outside].head(_EXAMPLES).tolist()}); allowed: class "
            f"indices 0..{classes - 1}{by_name}"
        )
    return labels


def _group_values(values: pd.Series) -> pd.Series:
    """Group or fold values as text keys (whole numbers without ``.0``; dots, which split keypaths, as ``_``)."""
    numeric = pd.to_numeric(values, errors="coerce")
    if values.notna().all() and numeric.notna().all() and bool((numeric == numeric.round()).all()):
        values = numeric.astype(np.int64)
    return values.astype(str).str.replace(".", "_", regex=False)


def _load_inputs(args: argparse.Namespace) -> _Inputs:
    """Read, check and align the predictions and targets (raises :class:`CliError` naming any problem)."""
    id_column = args.id
    pred_paths: list[str] = list(args.pred)
    pred_frames = [_read(path, "predictions", id_column) for path in pred_paths]
    fold_from_files = len(pred_frames) > 1 and args.fold is None
    if fold_from_files:
        for index, frame in enumerate(pred_frames):
            if "fold" in frame.columns:
                raise CliError(f"predictions file {pred_paths[index]} already has a 'fold' column: pass --fold fold")
            frame["fold"] = index
    pred = pd.concat(pred_frames, ignore_index=True) if len(pred_frames) > 1 else pred_frames[0]
    pred_name = " + ".join(pred_paths)
    duplicated = pred[id_column][pred[id_column].duplicated()].unique()
    if len(duplicated):
        raise CliError(
            f"{len(duplicated)} ids appear in more than one predictions file, e.g. {duplicated[:_EXAMPLES].tolist()}"
        )
    target = _read(args.target, "targets", id_column)
    _align_id_types(pred, target, id_column)
    _check_same_ids(pred, target, id_column, pred_name, args.target)
    ids: pd.Series = pred[id_column].reset_index(drop=True)
    target = target.set_index(id_column, drop=False).loc[ids.to_numpy()].reset_index(drop=True)
    pred = pred.reset_index(drop=True)

    frames = [("targets file " + args.target, target), ("predictions " + pred_name, pred)]
    fold_column = "fold" if fold_from_files else args.fold
    group = _column(args.group, "--group", frames, id_column, ids) if args.group else None
    fold = _column(fold_column, "--fold", frames, id_column, ids) if fold_column else None
    cluster = _column(args.cluster_col, "--cluster-col", frames, id_column, ids) if args.cluster_col else None
    if cluster is not None and cluster.isna().any():
        raise CliError(
            f"the cluster (--cluster-col {args.cluster_col}) of {int(cluster.isna().sum())} rows is missing, e.g. ids "
            f"{ids[cluster.isna()].head(_EXAMPLES).tolist()}: fill it (a patient with one image: its own id)"
        )

    excluded = {id_column, args.target_col, args.group, fold_column, args.cluster_col}
    pred_cols = list(args.pred_cols) if args.pred_cols else [c for c in pred.columns if c not in excluded]
    missing = [c for c in pred_cols if c not in pred.columns]
    if missing:
        raise CliError(
            f"pred columns {missing} (--pred-cols) are not in {pred_name}; its columns: {list(pred.columns)}"
        )
    if not pred_cols:
        raise CliError(f"{pred_name} has no prediction column besides {sorted(c for c in excluded if c)}")
    if len(set(pred_cols)) != len(pred_cols):
        raise CliError(f"--pred-cols names a column twice: {pred_cols}")
    if args.target_col not in target.columns:
        raise CliError(
            f"targets file {args.target} has no target column {args.target_col!r} (--target-col); its columns: "
            f"{list(target.columns)}"
        )
    matrix = _numeric_scores(pred, pred_cols, id_column, pred_name, chosen=bool(args.pred_cols))
    target_values = target[args.target_col]
    if target_values.isna().any():
        raise CliError(
            f"target column {args.target_col!r} has {int(target_values.isna().sum())} missing values, e.g. ids "
            f"{ids[target_values.isna()].head(_EXAMPLES).tolist()}"
        )
    inputs = _kind_of_predictions(args, ids, matrix, pred_cols, target_values, group, fold)
    inputs.cluster = cluster
    return inputs


def _kind_of_predictions(
    args: argparse.Namespace,
    ids: pd.Series,
    matrix: np.ndarray,
    pred_cols: Sequence[str],
    target_values: pd.Series,
    group: pd.Series | None,
    fold: pd.Series | None,
) -> _Inputs:
    in_unit = bool(np.all((matrix >= 0) & (matrix <= 1)))
    rows_sum_to_one = bool(np.all(np.abs(matrix.sum(axis=1) - 1) <= PROBABILITY_TOLERANCE))
    if len(pred_cols) == 1:
        if not in_unit:
            bad = matrix[(matrix < 0) | (matrix > 1)][:_EXAMPLES].tolist()
            raise CliError(
                f"pred column {pred_cols[0]!r} holds values outside [0, 1] such as {bad}: one pred column is the "
                "probability of class 1 (give several class-score columns for scores that are not probabilities)"
            )
        class_names, scores = ["0", "1"], matrix[:, 0]
    elif len(pred_cols) == 2:
        if not (in_unit and rows_sum_to_one):
            raise CliError(
                f"two pred columns {list(pred_cols)} must be the probabilities of class 0 and class 1, in [0, 1] and "
                "summing to 1 per row; give one column (the probability of class 1) instead"
            )
        class_names, scores = _class_names(pred_cols), matrix[:, 1]
    else:
        class_names, scores = _class_names(pred_cols), matrix
    binary = len(class_names) == 2
    if not binary and args.threshold is not None:
        raise CliError(
            f"--threshold {args.threshold} applies to binary predictions; the {len(class_names)} class scores are "
            "classified by argmax"
        )
    names: dict[str, int] = {}
    if len(pred_cols) > 1:  # targets may name the classes: by pred column, or by class name (dots replaced)
        names = {str(c): i for i, c in enumerate(pred_cols)} | {c: i for i, c in enumerate(class_names)}
    labels = _labels(target_values, args.target_col, names, len(class_names), ids)
    problem = check_classes_present(labels, class_names)
    if problem is not None:
        raise CliError(
            f"target column {args.target_col!r}: {problem}. Multi-class metrics need a case of every class; with a "
            "binary target give one pred column (the probability of class 1, --pred-cols), or check --target-col "
            "and the files"
        )
    inputs = _Inputs(
        ids=ids,
        scores=scores,
        labels=labels,
        class_names=class_names,
        binary=binary,
        probabilities=in_unit and (len(pred_cols) == 1 or rows_sum_to_one),
        group=None if group is None else _group_values(group),
        fold=None if fold is None else _group_values(fold),
    )
    if not inputs.probabilities:
        inputs.notes.append(
            "calibration (ECE, reliability diagram) skipped: the class scores are not probabilities (rows summing to 1)"
        )
    return inputs


def _class_names(pred_cols: Sequence[str]) -> list[str]:
    """Pred column names as class names: FuseMedML's ``<class>-score`` without its suffix when every column has it
    (and the names stay distinct); dots, which would split result keypaths, as underscores."""
    names = [str(c) for c in pred_cols]
    for suffix in SCORE_SUFFIXES:
        stripped = [name[: -len(suffix)] for name in names if name.lower().endswith(suffix) and len(name) > len(suffix)]
        if len(stripped) == len(names) and len(set(stripped)) == len(names):
            names = stripped
            break
    names = [name.replace(".", "_") for name in names]
    if len(set(names)) != len(names):
        raise CliError(f"pred columns {list(pred_cols)} give duplicate class names {names}; rename the columns")
    return names


def _check_settings(args: argparse.Namespace) -> None:
    if args.bootstraps < 0:
        raise CliError(f"--bootstraps must be >= 0 (0 = no confidence intervals), got {args.bootstraps}")
    if not 0 < args.confidence < 100:
        raise CliError(f"--confidence is a percentage in (0, 100), got {args.confidence}")
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise CliError(f"--threshold must be in [0, 1] (a probability), got {args.threshold}")


# ---------------------------------------------------------------------------------------------------------------------
# running and summary


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
        print(f"report: {out / 'report.html'} (also results.md, results.json)")
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
