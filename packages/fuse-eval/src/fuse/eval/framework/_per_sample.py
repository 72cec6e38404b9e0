"""``PerSampleData``: per-sample values that a metric passes on to later metrics, realigned by id."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fuse.eval.framework._arrays import Ids, column, id_index, positions_of, sample_ids

__all__ = ["PerSampleData", "distinct_samples"]


class PerSampleData:
    """Per-sample values tied to their ids; calling it with ids returns the values in that order.

    Metrics that produce per-sample outputs (thresholded predictions, calibrated probabilities) return it,
    so that later metrics, group analysis and bootstraps see values aligned with the ids they evaluate.

    >>> cls_pred = PerSampleData([1, 0, 1], ids=["a", "b", "c"])
    >>> cls_pred(["c", "a", "a"]).tolist()
    [1, 1, 1]
    """

    def __init__(self, data: Sequence[Any] | np.ndarray, ids: Sequence[Hashable] | np.ndarray) -> None:
        self._data = column(list(data)) if not isinstance(data, np.ndarray) else data
        if len(self._data) != len(ids):
            raise ValueError(f"PerSampleData got {len(self._data)} values for {len(ids)} ids")
        self._index = id_index(ids, "PerSampleData")

    def __call__(self, ids: Sequence[Hashable] | np.ndarray | None = None) -> np.ndarray:
        if ids is None:
            return self._data
        selected: np.ndarray = self._data[positions_of(self._index, ids, "per-sample data")]
        return selected

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"PerSampleData({len(self)} samples)"


def distinct_samples(ids: Ids | None, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The distinct sample ids that ``what`` computes a per-sample output for, and the positions of their first
    occurrence in ``ids`` (``None`` when no id repeats).

    The one rule for per-sample outputs under resampling: a bootstrap draws some ids several times, but a per-sample
    value depends on its sample alone, so it is computed once per id; :class:`PerSampleData` then gives every
    occurrence its sample's value. ``None`` ids (none collected) raise saying how to add them.

    >>> distinct, first = distinct_samples(["b", "a", "b"], "MetricX")
    >>> distinct.tolist(), first.tolist()
    (['b', 'a'], [0, 1])
    """
    array = sample_ids(ids, what)
    repeated = pd.Index(array, tupleize_cols=False).duplicated()
    if not repeated.any():
        return array, None
    first = np.flatnonzero(~repeated)
    return array[first], first
