"""``PerSampleData``: per-sample values that a metric passes on to later metrics, realigned by id."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from fuse.eval.framework._arrays import column, id_index, positions_of

__all__ = ["PerSampleData"]


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
