"""The cases a report evaluates: scores, labels and class names checked and aligned, with their groups, folds and
clusters, and subsets of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fuse.eval.report._settings import (
    DEFAULT_THRESHOLD,
    PROBABILITY_TOLERANCE,
    ReportSettings,
    check_classes_present,
)

__all__ = []


@dataclass
class _Cases:
    """Checked inputs."""

    scores: np.ndarray  # (n,) probability of class 1, or (n, C) scores
    labels: np.ndarray  # (n,) int
    class_names: list[str]
    probabilities: bool
    threshold: float | None  # binary: positive iff p > threshold; None: argmax
    groups: np.ndarray | None = None
    folds: np.ndarray | None = None
    clusters: np.ndarray | None = None

    @property
    def binary(self) -> bool:
        return len(self.class_names) == 2

    @staticmethod
    def build(
        scores: Any,
        labels: Any,
        class_names: Sequence[str] | None,
        groups: Any,
        folds: Any,
        settings: ReportSettings,
        clusters: Any = None,
    ) -> _Cases:
        try:
            matrix = np.asarray(scores, dtype=float)
        except (TypeError, ValueError) as error:
            raise ValueError(f"scores must be numbers, got {type(scores).__name__}") from error
        if matrix.ndim not in (1, 2) or len(matrix) == 0 or (matrix.ndim == 2 and matrix.shape[1] < 2):
            raise ValueError(f"scores must be (n,) probabilities or (n, C >= 2) class scores, got shape {matrix.shape}")
        if not np.isfinite(matrix).all():
            rows = np.flatnonzero(~np.isfinite(matrix.reshape(len(matrix), -1)).all(axis=1))
            raise ValueError(f"scores hold NaN or infinite values, e.g. in rows {rows[:5].tolist()}")
        in_unit = bool(((matrix >= 0) & (matrix <= 1)).all())
        rows_sum_to_one = matrix.ndim == 2 and bool(np.all(np.abs(matrix.sum(axis=1) - 1) <= PROBABILITY_TOLERANCE))
        columns = 2 if matrix.ndim == 1 else matrix.shape[1]
        if columns == 2:
            if not in_unit or (matrix.ndim == 2 and not rows_sum_to_one):
                raise ValueError("binary scores must be probabilities in [0, 1] (two columns: rows summing to 1)")
            if matrix.ndim == 2:
                matrix = matrix[:, 1]
        elif settings.threshold is not None:
            raise ValueError(
                f"settings.threshold {settings.threshold} applies to binary scores; {columns} class scores are "
                "classified by argmax (threshold=None)"
            )
        names = [str(i) for i in range(columns)] if class_names is None else [str(name) for name in class_names]
        if len(names) != columns or len(set(names)) != columns:
            raise ValueError(f"class_names must be {columns} distinct names (one per class), got {class_names!r}")
        truth = np.asarray(labels)
        if truth.shape != (len(matrix),):
            raise ValueError(f"labels must be one class per case, shape ({len(matrix)},), got shape {truth.shape}")
        try:
            as_int = truth.astype(np.int64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"labels must be class indices 0..{columns - 1}, got {truth[:5].tolist()}") from error
        bad = (as_int != truth) | (as_int < 0) | (as_int >= columns)
        if bad.any():
            raise ValueError(
                f"labels must be class indices 0..{columns - 1}; {int(bad.sum())} are not, e.g. "
                f"{truth[bad][:5].tolist()} at rows {np.flatnonzero(bad)[:5].tolist()}"
            )
        problem = check_classes_present(as_int, names)
        if problem is not None:
            raise ValueError(problem)
        return _Cases(
            scores=matrix,
            labels=as_int,
            class_names=names,
            probabilities=columns == 2 or (in_unit and rows_sum_to_one),
            threshold=(DEFAULT_THRESHOLD if settings.threshold is None else float(settings.threshold))
            if columns == 2
            else None,
            groups=_subset_keys(groups, "groups", len(matrix)),
            folds=_subset_keys(folds, "folds", len(matrix)),
            clusters=_subset_keys(clusters, "clusters", len(matrix)),
        )

    def subset(self, members: np.ndarray) -> _Cases:
        clusters = None if self.clusters is None else self.clusters[members]
        return _Cases(
            self.scores[members],
            self.labels[members],
            self.class_names,
            self.probabilities,
            self.threshold,
            clusters=clusters,
        )

    def predicted(self) -> np.ndarray:
        if self.threshold is not None:
            return (self.scores > self.threshold).astype(np.int64)
        return np.asarray(self.scores.argmax(axis=1), dtype=np.int64)


def _subset_keys(values: Any, what: str, n: int) -> np.ndarray | None:
    if values is None:
        return None
    series = pd.Series(np.asarray(values, dtype=object))
    if len(series) != n:
        raise ValueError(f"{what} must hold one value per case ({n}), got {len(series)}")
    if series.isna().any():
        rows = np.flatnonzero(series.isna().to_numpy())
        raise ValueError(f"{what} is missing for {len(rows)} cases, e.g. rows {rows[:5].tolist()}")
    return np.asarray(series.astype(str))
