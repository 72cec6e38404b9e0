"""``fuse-eval``: evaluate a classifier's predictions file against a targets file from the command line.

::

    fuse-eval --pred preds.csv --target targets.csv [--id id] [--pred-cols c1 c2 ...] [--target-col target]
              [--group col] [--fold col] [--bootstraps 10000] [--seed 1234] [--confidence 95]
              [--threshold 0.5] [--out fuse-eval-report] [--no-plots] [--quiet]

Inputs (csv, tsv, pickle or xlsx, as :func:`fuse.core.read_dataframe` reads them) are joined on the id column;
every id must be in both files, once. ``--pred`` may name several files, one per cross-validation fold: they are
concatenated and the file index becomes the ``fold`` analysed per fold.

Kinds of predictions, chosen by the number of prediction columns (``--pred-cols``; by default every column of the
predictions file except the id, target, group and fold columns, so one file holding both can be given twice):

- **one column**: binary, the probability of class 1 (values in [0, 1]); targets are 0 or 1;
- **two columns**: binary, the probabilities of class 0 and class 1 (each row sums to 1); the second column is
  used as the probability of class 1; targets are 0 / 1 or the column names;
- **three or more columns**: multi-class scores, one column per class in column order; targets are class indices
  0..C-1 or the column names. Metrics are one-vs-rest per class with a macro average; classes are predicted by
  argmax. Calibration needs probabilities (rows summing to 1) and is skipped otherwise.

Binary class predictions are ``p > --threshold`` (strict). Metrics: ROC AUC, AUC-PR, accuracy, sensitivity and
specificity, each with a bootstrap confidence interval stratified by the target (``--bootstraps 0``: no intervals),
the confusion matrix, and the expected and maximum calibration errors (the standard ECE: 10 equal-width bins, each
compared with its mean confidence). With ``--group`` / ``--fold``, the headline metrics (without intervals) per
group / fold, with their mean, std and median. ``--group`` and ``--fold`` name a column of the targets file, or else
of the predictions file.

Writes ``<out>/results.md``, ``results.json`` and ``results.txt`` (see :class:`fuse.eval.EvaluatorDefault`) and,
unless ``--no-plots``, ``roc.png``, ``precision_recall.png``, ``reliability.png`` and ``confusion_matrix.png`` (a
note instead when matplotlib is not installed); prints a summary and the report path. Input errors print a message
and exit with code 2.

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
>>> round(json.loads((folder / "report" / "results.json").read_text())["metrics"]["auc"]["org"], 4)
0.8889
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as sk_metrics

from fuse.core import NDict, read_dataframe
from fuse.eval._auc import MetricAUCROC
from fuse.eval._bootstrap import CI
from fuse.eval._calibration import MetricECE, MetricReliabilityDiagram
from fuse.eval._classification import (
    MetricAccuracy,
    MetricApplyThresholds,
    MetricAUCPR,
    MetricConfusion,
    MetricConfusionMatrix,
)
from fuse.eval._evaluator import EvaluatorDefault
from fuse.eval._group import GroupAnalysis
from fuse.eval._metric_base import MetricBase
from fuse.eval._warnings import UndefinedMetricWarning

__all__ = ["CliError", "build_parser", "main"]

EXIT_INPUT_ERROR = 2
PROBABILITY_TOLERANCE = 1e-5  # |row sum - 1| allowed for rows of class probabilities (as MetricECE allows)
PLOT_FILES = {
    "roc": "roc.png",
    "pr": "precision_recall.png",
    "reliability": "reliability.png",
    "confusion": "confusion_matrix.png",
}
_CLS_PRED = "results:metrics._cls_pred.cls_pred"
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
        description="Evaluate classification predictions against targets: ROC AUC, AUC-PR, accuracy, sensitivity, "
        "specificity with bootstrap confidence intervals, calibration, per group and per fold; writes a report.",
        epilog="One pred column: binary (probability of class 1). Two: binary (probabilities of class 0 and 1). "
        "Three or more: multi-class scores, one column per class; targets are class indices 0..C-1 or column names.",
    )
    parser.add_argument(
        "--pred", required=True, nargs="+", metavar="FILE", help="predictions file(s); several files = one per fold"
    )
    parser.add_argument("--target", required=True, metavar="FILE", help="targets file")
    parser.add_argument("--id", default="id", metavar="COL", help="id column joining the files (default: %(default)s)")
    parser.add_argument(
        "--pred-cols", nargs="+", metavar="COL", help="prediction columns (default: all but id, target, group and fold)"
    )
    parser.add_argument("--target-col", default="target", metavar="COL", help="target column (default: %(default)s)")
    parser.add_argument("--group", metavar="COL", help="also evaluate per value of this column (e.g. site, sex)")
    parser.add_argument("--fold", metavar="COL", help="also evaluate per value of this fold column")
    parser.add_argument(
        "--bootstraps", type=int, default=10000, metavar="N", help="bootstrap resamplings, 0 = no CI (%(default)s)"
    )
    parser.add_argument("--seed", type=int, default=1234, help="bootstrap random seed (default: %(default)s)")
    parser.add_argument(
        "--confidence", type=float, default=95.0, metavar="PCT", help="confidence level in percent (%(default)s)"
    )
    parser.add_argument(
        "--threshold", type=float, metavar="T", help="binary decision threshold: class 1 iff p > T (default: 0.5)"
    )
    parser.add_argument(
        "--out", default="fuse-eval-report", metavar="DIR", help="report directory (default: %(default)s)"
    )
    parser.add_argument("--no-plots", action="store_true", help="write no images (faster; no matplotlib needed)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors (no progress, no summary)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fuse-eval`` with ``argv`` (``sys.argv[1:]`` when ``None``); returns the exit code.

    0 on success; 2 for bad arguments or inputs (a message on stderr).

    >>> main(["--pred", "no-such-file.csv", "--target", "no-such-targets.csv"])
    2
    """
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
    notes: list[str] = field(default_factory=list)


def _read(path: str, what: str, id_column: str) -> pd.DataFrame:
    if not os.path.isfile(path):
        raise CliError(f"{what} file not found: {path}")
    try:
        frame = read_dataframe(path)
    except ValueError as error:  # unsupported suffix, or a malformed file
        raise CliError(f"cannot read {what} file {path}: {error}") from error
    except Exception as error:  # the readers' own errors (parser, encoding, zip...)
        raise CliError(f"cannot read {what} file {path}: {type(error).__name__}: {error}") from error
    if id_column not in frame.columns:
        raise CliError(f"{what} file {path} has no id column {id_column!r} (--id); its columns: {list(frame.columns)}")
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

    excluded = {id_column, args.target_col, args.group, fold_column}
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
    return _kind_of_predictions(args, ids, matrix, pred_cols, target_values, group, fold)


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
    """Pred column names as class names (dots would split result keypaths, so they become underscores)."""
    names = [str(c).replace(".", "_") for c in pred_cols]
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
# metrics


def _build_metrics(inputs: _Inputs, args: argparse.Namespace, plots: bool) -> dict[str, MetricBase]:
    """The evaluator's metrics (keys read the frames of :func:`_evaluation_data`)."""
    names = None if inputs.binary else inputs.class_names
    threshold = _threshold(inputs, args)
    pred, target = "pred.score", "target.label"

    headline: dict[str, Callable[[], MetricBase]] = {
        "auc": lambda: MetricAUCROC(pred=pred, target=target, class_names=names),
        "auc_pr": lambda: MetricAUCPR(pred=pred, target=target, class_names=names),
        "accuracy": lambda: MetricAccuracy(pred=_CLS_PRED, target=target),
        "confusion": lambda: MetricConfusion(
            pred=_CLS_PRED, target=target, class_names=names, metrics=("sensitivity", "specificity")
        ),
    }
    metrics: dict[str, MetricBase] = {
        "_cls_pred": MetricApplyThresholds(pred=pred, operation_point=threshold),
    }
    for name, make in headline.items():
        metric = make()
        if args.bootstraps > 0:
            metric = CI(
                metric,
                stratum=target,
                num_of_bootstraps=args.bootstraps,
                rnd_seed=args.seed,
                conf_interval=args.confidence,
                verbose=not args.quiet,
            )
        metrics[name] = metric
    metrics["confusion_matrix"] = MetricConfusionMatrix(
        cls_pred=_CLS_PRED, target=target, class_names=inputs.class_names
    )
    if inputs.probabilities:
        metrics["calibration"] = MetricECE(pred=pred, target=target, method="mean_confidence")
        if plots:
            metrics["_reliability"] = MetricReliabilityDiagram(pred=pred, target=target)
    for key, column in (("group", inputs.group), ("fold", inputs.fold)):
        if column is not None:
            for name, make in headline.items():
                metrics[f"{name}_per_{key}"] = GroupAnalysis(make(), group=f"target.{key}")
    return metrics


def _threshold(inputs: _Inputs, args: argparse.Namespace) -> float | None:
    """The binary decision threshold (``None``: multi-class, argmax)."""
    if not inputs.binary:
        return None
    return 0.5 if args.threshold is None else float(args.threshold)


def _evaluation_data(inputs: _Inputs) -> dict[str, pd.DataFrame]:
    """The evaluator's ``{"pred": ..., "target": ...}`` sources, joined on ``id``."""
    if inputs.scores.ndim == 1:
        score: Any = inputs.scores
    else:
        score = pd.Series(list(inputs.scores), dtype=object)
    pred = pd.DataFrame({"id": inputs.ids.to_numpy(), "score": score})
    target = pd.DataFrame({"id": inputs.ids.to_numpy(), "label": inputs.labels})
    if inputs.group is not None:
        target["group"] = inputs.group.to_numpy()
    if inputs.fold is not None:
        target["fold"] = inputs.fold.to_numpy()
    return {"pred": pred, "target": target}


# ---------------------------------------------------------------------------------------------------------------------
# running, plots and summary


def _run(args: argparse.Namespace) -> NDict:
    """Evaluate as the command line asks; returns the evaluator's results."""
    _check_settings(args)
    inputs = _load_inputs(args)
    plots = not args.no_plots and _matplotlib_available()
    if not plots and not args.no_plots:
        inputs.notes.append("matplotlib is not installed, so no plots were drawn: pip install 'fuse-eval[plot]'")
    metrics = _build_metrics(inputs, args, plots)
    out = Path(args.out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        results = EvaluatorDefault().eval(ids=None, data=_evaluation_data(inputs), metrics=metrics, output_dir=out)
    undefined = Counter(str(w.message) for w in caught if issubclass(w.category, UndefinedMetricWarning))
    for other in (w for w in caught if not issubclass(w.category, UndefinedMetricWarning)):
        warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    written = _write_plots(results, inputs, out, _threshold(inputs, args)) if plots else []
    if written:
        _append_plots_to_report(out / "results.md", written)
    if not args.quiet:
        if undefined:
            print("note: some values are undefined (NaN), e.g. in a group, fold or resampling holding one class:",
                  file=sys.stderr)  # fmt: skip
        for message, count in undefined.items():
            print(f"  {message}" + (f" ({count} times)" if count > 1 else ""), file=sys.stderr)
        for note in inputs.notes:
            print(f"note: {note}", file=sys.stderr)
        print(_summary(results, inputs, args))
        print(f"report: {out / 'results.md'}")
    return results


def _matplotlib_available() -> bool:
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except ValueError:  # a module object without a spec stands in for it
        return False


def _write_plots(results: NDict, inputs: _Inputs, out: Path, threshold: float | None) -> list[Path]:
    """ROC, precision-recall, reliability and confusion-matrix images in ``out``; returns the paths written."""
    from fuse.eval._plots import (
        plot_confusion_matrix,
        plot_precision_recall_curves,
        plot_reliability_diagram,
        plot_roc_curves,
    )

    roc: dict[str, dict[str, Any]] = {}
    pr: dict[str, dict[str, Any]] = {}
    for name, scores, positive in _one_vs_rest(inputs):
        if positive.all() or not positive.any():
            continue  # a curve needs both classes
        fpr, tpr, _ = sk_metrics.roc_curve(positive, scores)
        precision, recall, _ = sk_metrics.precision_recall_curve(positive, scores)
        roc[name] = {"fpr": fpr, "tpr": tpr, "auc": float(sk_metrics.auc(fpr, tpr))}
        pr[name] = {"precision": precision, "recall": recall, "auc": float(sk_metrics.auc(recall, precision))}
    written = []
    if roc:
        written.append(plot_roc_curves(roc, out / PLOT_FILES["roc"]))
        written.append(plot_precision_recall_curves(pr, out / PLOT_FILES["pr"]))
    if "metrics._reliability" in results:
        written.append(plot_reliability_diagram(results["metrics._reliability"], out / PLOT_FILES["reliability"]))
    count = results["metrics.confusion_matrix.count"]
    title = "Confusion matrix" + (f" (class 1 iff p > {threshold:g})" if threshold is not None else " (argmax)")
    written.append(plot_confusion_matrix(count, out / PLOT_FILES["confusion"], title=title))
    return written


def _one_vs_rest(inputs: _Inputs) -> list[tuple[str, np.ndarray, np.ndarray]]:
    if inputs.binary:
        name = "class 1" if inputs.class_names == ["0", "1"] else inputs.class_names[1]
        return [(name, inputs.scores, inputs.labels == 1)]
    return [(name, inputs.scores[:, c], inputs.labels == c) for c, name in enumerate(inputs.class_names)]


def _append_plots_to_report(report: Path, images: Sequence[Path]) -> None:
    lines = ["", "## Plots", ""] + [f"![{image.stem}]({image.name})" for image in images]
    with report.open("a", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")


def _stat(results: Mapping[str, Any], key: str) -> tuple[float, float | None, float | None] | None:
    """(value, CI lower, CI upper) of a result keypath, with or without a CI."""
    if f"{key}.org" in results:
        return (
            float(results[f"{key}.org"]),
            float(results[f"{key}.conf_lower"]),
            float(results[f"{key}.conf_upper"]),
        )
    if key in results:
        value = results[key]
        if isinstance(value, (int, float, np.integer, np.floating)):
            return float(value), None, None
    return None


def _summary(results: NDict, inputs: _Inputs, args: argparse.Namespace) -> str:
    """A short plain-text table of the headline results."""
    macro = "" if inputs.binary else ".macro_avg"
    rows: list[tuple[str, str]] = []
    if inputs.binary:
        rows.append(("AUC-ROC", "metrics.auc"))
    else:
        rows.extend((f"AUC-ROC {name}", f"metrics.auc.{name}") for name in inputs.class_names)
        rows.append(("AUC-ROC macro avg", "metrics.auc.macro_avg"))
    rows += [
        ("AUC-PR" + (" macro avg" if macro else ""), f"metrics.auc_pr{macro}"),
        ("accuracy", "metrics.accuracy"),
        ("sensitivity" + (" macro avg" if macro else ""), f"metrics.confusion.sensitivity{macro}"),
        ("specificity" + (" macro avg" if macro else ""), f"metrics.confusion.specificity{macro}"),
        ("ECE", "metrics.calibration.ece"),
    ]
    with_ci, threshold = args.bootstraps > 0, _threshold(inputs, args)
    header = f"{'metric':<24} {'value':>8}" + (f"   {args.confidence:g}% CI" if with_ci else "")
    lines = [
        f"{len(inputs.ids)} samples, {len(inputs.class_names)} classes "
        + (f"(class 1 iff p > {threshold:g})" if threshold is not None else "(argmax)"),
        header,
        "-" * len(header),
    ]
    for label, key in rows:
        stat = _stat(results, key)
        if stat is None:
            continue
        value, lower, upper = stat
        interval = f"   [{_fmt(lower)}, {_fmt(upper)}]" if lower is not None and upper is not None else ""
        lines.append(f"{label:<24} {_fmt(value):>8}{interval}")
    for key, column in (("group", inputs.group), ("fold", inputs.fold)):
        if column is None:
            continue
        per = f"metrics.auc_per_{key}"
        values = []
        for value in sorted(pd.unique(column), key=_natural):
            result = results.get(f"{per}.{value}{macro}")
            values.append(f"{value}={_fmt(float(result)) if result is not None else 'n/a'}")
        option = f"--{key} {args.group}" if key == "group" else (f"--fold {args.fold}" if args.fold else "fold (file)")
        lines.append(f"AUC-ROC{' macro avg' if macro else ''} per {option}: {', '.join(values)}")
    return "\n".join(lines)


def _natural(value: str) -> tuple[int, int, str]:
    """Sort key: whole numbers numerically, then text."""
    text = str(value)
    return (0, int(text), "") if text.lstrip("-").isdigit() else (1, 0, text)


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    return f"{value:.4f}"
