"""Result values as plain Python: numpy scalars as Python numbers, and JSON-ready trees of results."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["json_ready", "plain_scalar"]


def plain_scalar(value: Any) -> Any:
    """A numpy scalar as the Python value (``np.int64(3)`` -> ``3``); anything else as is.

    >>> plain_scalar(np.float32(0.5)), plain_scalar("a")
    (0.5, 'a')
    """
    return value.item() if isinstance(value, np.generic) else value


def json_ready(value: Any, *, keep_nan: bool = False) -> Any:
    """A tree of plain JSON types: mappings as dicts with string keys, arrays, tuples and DataFrames (as their
    ``to_dict()``) as lists or dicts, numpy scalars as Python numbers, other objects as their ``repr``. NaN and
    infinities become ``None`` (JSON has no NaN: ``json.dumps`` would write an invalid ``NaN``) unless ``keep_nan``.

    >>> json_ready({"auc": np.float64("nan"), "ci": (0.5, np.float32(0.75)), 3: np.arange(2)})
    {'auc': None, 'ci': [0.5, 0.75], '3': [0, 1]}
    """
    if isinstance(value, Mapping):
        return {str(key): json_ready(item, keep_nan=keep_nan) for key, item in value.items()}
    if isinstance(value, pd.DataFrame):
        return json_ready(value.to_dict(), keep_nan=keep_nan)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [json_ready(item, keep_nan=keep_nan) for item in value]
    value = plain_scalar(value)
    if isinstance(value, float) and not keep_nan and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)
