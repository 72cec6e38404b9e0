"""What ``NDict`` does with its leaf values: compare them (numpy arrays and tensors included) and select rows of
a batch.

>>> values_equal([1, 2], [1, 2]), values_equal(1.0, 2.0)
(True, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["take_rows", "values_equal"]


def values_equal(a: Any, b: Any) -> bool:
    """Content equality that also works for numpy arrays and array-likes (torch tensors by duck typing)."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        try:
            return bool(np.array_equal(a, b, equal_nan=True))
        except TypeError:  # object or string arrays do not support equal_nan
            return bool(np.array_equal(a, b))
    a_shape, b_shape = getattr(a, "shape", None), getattr(b, "shape", None)
    if a_shape is not None and b_shape is not None and not isinstance(a, np.generic):  # noqa: SIM102
        if type(a) is not type(b) or tuple(a_shape) != tuple(b_shape):
            return False  # array-likes (e.g. torch tensors) must not broadcast into "equal"
    result = a == b
    if isinstance(result, bool):
        return result
    reduce_all = getattr(result, "all", None)
    if reduce_all is not None:
        return bool(reduce_all())
    return bool(result)


def take_rows(flat: Mapping[str, Any], indices: Any) -> dict[str, Any]:
    """Every value's rows ``indices`` (a boolean mask or integer positions) along its first dimension; values
    without rows (scalars, strings) are kept (see :meth:`fuse.core.NDict.indices`)."""
    index_array = np.asarray(indices.cpu() if hasattr(indices, "cpu") else indices)
    is_mask = index_array.dtype == bool
    result: dict[str, Any] = {}
    for key, value in flat.items():
        if isinstance(value, (list, tuple)):
            if is_mask:
                if len(index_array) != len(value):
                    raise ValueError(
                        f"boolean mask of length {len(index_array)} does not match key {key!r} of length {len(value)}"
                    )
                selected = [item for item, keep in zip(value, index_array.tolist(), strict=True) if keep]
            else:
                selected = [value[int(i)] for i in index_array.reshape(-1)]
            result[key] = tuple(selected) if isinstance(value, tuple) else selected
        elif hasattr(value, "shape") and hasattr(value, "__getitem__") and len(value.shape) > 0:
            result[key] = value[indices]
        else:
            result[key] = value
    return result
