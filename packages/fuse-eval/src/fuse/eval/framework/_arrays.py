"""Turning collected values (lists, numpy arrays, torch tensors through ``fuse.core.to_numpy``) into columnar numpy
arrays, and sample ids into arrays and indexes."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fuse.core import to_numpy

# per-sample values as metric functions accept them: a sequence (list, pandas Series) or an array
ArrayLike = Sequence[Any] | np.ndarray

# sample ids: a sequence, or a 1-d (object) array as bootstraps pass them
Ids = Sequence[Hashable] | np.ndarray


def column(values: Sequence[Any]) -> np.ndarray:
    """One array for a column of per-sample values: ``(n,)`` for scalars, ``(n, ...)`` for equal-shape arrays,
    an object array ``(n,)`` for anything ragged.
    """
    values = [to_numpy(v) for v in values]
    if not values:
        return np.empty(0)
    if any(isinstance(v, np.ndarray) for v in values):
        try:
            return np.stack([np.asarray(v) for v in values])
        except ValueError:
            pass
    else:
        array = np.asarray(values)
        # numpy turns ["x", nan, 3] into the strings ["x", "nan", "3"]: mixed columns stay objects instead
        mixed_strings = array.dtype.kind in "US" and not all(isinstance(v, (str, bytes)) for v in values)
        if array.ndim == 1 and array.dtype != object and not mixed_strings:
            return array
    ragged = np.empty(len(values), dtype=object)
    ragged[:] = values
    return ragged


def positions_of(index: pd.Index, ids: Sequence[Hashable] | np.ndarray, what: str) -> np.ndarray:
    """Positions of ``ids`` in ``index`` (duplicates allowed, as in a bootstrap); unknown ids raise naming them."""
    wanted = id_array(ids)
    found = index.get_indexer(pd.Index(wanted, tupleize_cols=False))
    missing = found < 0
    if missing.any():
        examples = [wanted[i] for i in np.flatnonzero(missing)[:5]]
        raise KeyError(f"{int(missing.sum())} of {len(found)} requested ids are not in the {what}, e.g. {examples}")
    return found


def id_index(ids: Sequence[Hashable] | np.ndarray, what: str) -> pd.Index:
    """A pandas index over unique ids (tuples stay whole ids); duplicates raise listing them."""
    index: pd.Index = pd.Index(id_array(ids), tupleize_cols=False)
    if not index.is_unique:
        duplicated = index[index.duplicated()].unique().tolist()
        raise ValueError(f"{what} holds duplicated ids ({len(duplicated)}), e.g. {duplicated[:5]}")
    return index


def sample_ids(ids: Ids | None, what: str) -> np.ndarray:
    """The sample ids ``what`` works on, as a 1-d array (:func:`id_array`); ``None`` (no ids collected) raises
    saying how to add them.

    >>> sample_ids([("a", 1), ("b", 2)], "MetricX").shape
    (2,)
    """
    if ids is None:
        raise ValueError(f"{what} needs sample ids: add an 'id' key (or data.sample_id) to the data")
    return id_array(ids)


def id_array(ids: Ids) -> np.ndarray:
    """Ids as a 1-d array (a 1-d array is returned as it is) without numpy turning tuple ids into 2-d arrays."""
    if isinstance(ids, np.ndarray) and ids.ndim == 1:
        return ids
    array = np.empty(len(ids), dtype=object)
    array[:] = list(ids)
    return array
