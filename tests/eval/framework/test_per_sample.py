"""``PerSampleData``: values tied to ids, realigned by id."""

from __future__ import annotations

import numpy as np
import pytest

from fuse.eval import (
    PerSampleData,
)


def test_per_sample_data() -> None:
    data = PerSampleData(np.array([[1, 2], [3, 4]]), ids=["x", "y"])
    assert data(["y"]).tolist() == [[3, 4]]
    assert len(data) == 2
    with pytest.raises(ValueError, match="2 values for 3 ids"):
        PerSampleData([1, 2], ids=["a", "b", "c"])
