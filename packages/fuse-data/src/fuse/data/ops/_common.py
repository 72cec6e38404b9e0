"""Helpers shared by the ops: argument checks, what an inner op returned, NaN tests and writable copies."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from fuse.core import NDict, is_tensor
from fuse.data._pipeline import as_pipeline_sample

__all__ = ["as_sample", "check_op_and_kwargs", "is_nan", "key_list", "writable_copy"]


def key_list(value: Any, op: object, argument: str) -> list[str]:
    """A list of keys from a sequence of keys; a bare string (which would be iterated char by char) is refused."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(
            f"{type(op).__name__}: {argument} must be a list of keys, got {value!r}; write [{value!r}] for one key"
        )
    keys = list(value)
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"{type(op).__name__}: {argument} must hold key strings, got {key!r}")
    return keys


def as_sample(result: Any, op: object, inner: object) -> NDict | None:
    """Check what an inner op returned to a meta op that does not support splitting."""
    if result is None:
        return None
    if isinstance(result, list):
        raise TypeError(
            f"{type(op).__name__}: the inner op {inner!r} split the sample (returned a list); splitting is not "
            "supported inside this op, put the splitting op directly in the pipeline"
        )
    return as_pipeline_sample(result, f"{type(op).__name__}: the inner op {inner!r}", may_split=False)


def check_op_and_kwargs(entry: Any, op: object, where: str) -> tuple[Any, dict[str, Any]]:
    """``(op instance, kwargs dict)`` from a mapping entry, or a ``TypeError`` naming ``where``."""
    if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], Mapping)):
        raise TypeError(f"{type(op).__name__}: {where} must map to a tuple (op, kwargs dict), got {entry!r}")
    inner, kwargs = entry
    if isinstance(inner, type) or not callable(inner):
        raise TypeError(f"{type(op).__name__}: {where} maps to {inner!r}, which is not an op instance")
    return inner, dict(kwargs)


def writable_copy(value: Any, copy_it: bool) -> Any:
    """A copy of an array or tensor when ``copy_it`` (the op writes to a new key), else ``value`` itself."""
    if not copy_it:
        return value
    if is_tensor(value):
        return value.clone()
    return value.copy()


def is_nan(value: Any) -> bool:
    """Whether ``value`` is a real-number NaN (``False`` for anything else, booleans included)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isnan(value)
