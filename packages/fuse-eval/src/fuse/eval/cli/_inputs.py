"""The command line's inputs: prediction and target files read, aligned by id and checked, and the kind of predictions
they hold.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fuse.eval.cli._common import CliError, read_input_file
from fuse.eval.report._settings import (
    PROBABILITY_TOLERANCE,
    check_classes_present,
)

__all__: list[str] = []


SCORE_SUFFIXES = ("-score", "_score", ".score")  # FuseMedML's prediction columns: "<class>-score"


_EXAMPLES = 5


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
    frame = read_input_file(path, what)
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
