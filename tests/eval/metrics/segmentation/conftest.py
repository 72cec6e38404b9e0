"""Reference helpers shared by the tests of this folder, as session fixtures (test modules do not import each other)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest


@pytest.fixture(scope="session")
def np_score() -> Callable[..., Any]:
    def _np_score(name: str, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
        """The textbook formula on one label's boolean masks ``x`` (pred) and ``y`` (target), optionally weighted."""
        if w is None:
            inter, size_x, size_y = map(float, (np.count_nonzero(x & y), np.count_nonzero(x), np.count_nonzero(y)))
            union = float(np.count_nonzero(x | y))
        else:
            inter, size_x, size_y, union = (float(np.sum(w * m)) for m in (x & y, x, y, x | y))
        if name == "dice":
            return 2 * inter / (size_x + size_y)
        if name == "iou_jaccard":
            return inter / union
        if name == "overlap":
            return inter / min(size_x, size_y) if min(size_x, size_y) > 0 else 0.0
        return inter / size_y

    return _np_score
