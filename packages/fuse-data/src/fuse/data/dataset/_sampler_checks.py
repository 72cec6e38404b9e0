"""The arguments of :class:`~fuse.data.BatchSamplerDefault`, checked: class values, class weights and the counts
they give, the number of batches, replicas and seed.

>>> largest_remainder(5, [Fraction(1), Fraction(1), Fraction(2)])
[1, 1, 3]
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from fractions import Fraction

import numpy as np

__all__ = [
    "check_num_batches",
    "check_replicas",
    "check_seed",
    "class_scalar",
    "int_or_none",
    "largest_remainder",
    "resolve_weights",
    "sorted_classes",
]

_NUM_BATCHES_STRINGS = ("over_sample", "down_sample")
SCALAR_TYPES = (bool, int, float, str, bytes)


def int_or_none(value: object) -> int | None:
    """``value`` as a python int when it is an integer (numpy integers included, bools excluded), else ``None``."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def class_scalar(value: object, where: str) -> Hashable:
    """A class value as a python scalar: numpy scalars, 0-d arrays and 0-d tensors (anything with ``.item()``)."""
    ndim = getattr(value, "ndim", 0)
    if ndim != 0:
        shape = getattr(value, "shape", None)
        raise ValueError(
            f"BatchSamplerDefault: the class value of {where} must be a scalar, got a {type(value).__name__} of "
            f"shape {tuple(shape) if shape is not None else '?'}: {value!r}"
        )
    if not isinstance(value, SCALAR_TYPES) or isinstance(value, np.generic):
        item = getattr(value, "item", None)
        if callable(item):
            value = item()
    if not isinstance(value, SCALAR_TYPES):
        raise ValueError(  # noqa: TRY004 - a bad class value is a bad value of the data, as for a non-0-d array
            f"BatchSamplerDefault: the class value of {where} must be a scalar (int, str, bool, float, a numpy "
            f"scalar or a 0-d array/tensor), got {type(value).__name__}: {value!r}"
        )
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"BatchSamplerDefault: the class value of {where} is NaN; give every sample a class")
    return value


def sorted_classes(values: Iterable[Hashable]) -> list[Hashable]:
    """The distinct class values, sorted (mixed, unorderable types: by type name, then ``repr``)."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct)  # type: ignore[type-var]
    except TypeError:
        return sorted(distinct, key=lambda v: (type(v).__name__, repr(v)))


def largest_remainder(total: int, weights: Sequence[Fraction]) -> list[int]:
    """Integer counts summing to ``total``, proportional to ``weights`` (ties go to the earlier position)."""
    weight_sum = sum(weights, Fraction(0))
    quotas = [total * weight / weight_sum for weight in weights]
    counts = [math.floor(quota) for quota in quotas]
    left = total - sum(counts)
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    return counts


def check_num_batches(num_batches: object) -> int | str:
    if num_batches is None:
        return "over_sample"
    if isinstance(num_batches, str):
        if num_batches not in _NUM_BATCHES_STRINGS:
            raise ValueError(
                f"BatchSamplerDefault: num_batches must be an int >= 1, None or one of "
                f"{list(_NUM_BATCHES_STRINGS)}, got {num_batches!r}"
            )
        return num_batches
    as_int = int_or_none(num_batches)
    if as_int is None or as_int < 1:
        raise ValueError(
            f"BatchSamplerDefault: num_batches must be an int >= 1, None or one of {list(_NUM_BATCHES_STRINGS)}, "
            f"got {num_batches!r}"
        )
    return as_int


def check_replicas(num_replicas: object, rank: object) -> tuple[int | None, int | None]:
    if num_replicas is None and rank is None:
        return None, None
    if num_replicas is None or rank is None:
        raise ValueError(
            f"BatchSamplerDefault: give num_replicas and rank together (or neither), got "
            f"num_replicas={num_replicas!r}, rank={rank!r}"
        )
    replicas, rank_int = int_or_none(num_replicas), int_or_none(rank)
    if replicas is None or replicas < 1:
        raise ValueError(f"BatchSamplerDefault: num_replicas must be an int >= 1, got {num_replicas!r}")
    if rank_int is None or not 0 <= rank_int < replicas:
        raise ValueError(f"BatchSamplerDefault: rank must be an int in [0, {replicas}), got {rank!r}")
    return replicas, rank_int


def check_seed(seed: object) -> int:
    if seed is None:
        return int(np.random.randint(0, np.iinfo(np.int64).max, dtype=np.int64))
    as_int = int_or_none(seed)
    if as_int is None or as_int < 0:
        raise ValueError(f"BatchSamplerDefault: seed must be None or an int >= 0, got {seed!r}")
    return as_int


def resolve_weights(
    balanced_class_weights: object, classes: Sequence[Hashable], class_name: str | None, mode: str
) -> list[Fraction]:
    """One non-negative weight per class (in sorted class order)."""
    if balanced_class_weights is None:
        return [Fraction(1)] * len(classes)
    given: dict[Hashable, Fraction] = {}
    items: Iterable[tuple[object, object]]
    if isinstance(balanced_class_weights, Mapping):
        items = balanced_class_weights.items()
    elif isinstance(balanced_class_weights, (str, bytes)) or not isinstance(balanced_class_weights, Iterable):
        raise TypeError(
            "BatchSamplerDefault: balanced_class_weights must be None, a list (weights of classes 0..k-1) or "
            f"a dict {{class value: weight}}, got {balanced_class_weights!r}"
        )
    else:
        items = enumerate(balanced_class_weights)
    for raw_key, raw_weight in items:
        key = class_scalar(raw_key, f"balanced_class_weights key {raw_key!r}")
        if key in given:
            raise ValueError(f"BatchSamplerDefault: balanced_class_weights names class {key!r} twice")
        given[key] = _weight(raw_key, raw_weight, mode)
    found = set(classes)
    unknown = [key for key, weight in given.items() if weight > 0 and key not in found]
    if unknown:
        raise ValueError(
            f"BatchSamplerDefault: balanced_class_weights (mode {mode!r}) gives a positive weight to classes "
            f"{unknown!r} that no sample of {class_name!r} has; the classes found are "
            f"{classes!r}"
        )
    missing = [value for value in classes if value not in given]
    if missing:
        warnings.warn(
            f"BatchSamplerDefault: classes {missing!r} of {class_name!r} are not in "
            f"balanced_class_weights; they get weight 0 and are never sampled",
            stacklevel=3,
        )
    weights = [given.get(value, Fraction(0)) for value in classes]
    if not any(weight > 0 for weight in weights):
        raise ValueError(
            f"BatchSamplerDefault: balanced_class_weights (mode {mode!r}) give every class found "
            f"({classes!r}) weight 0, got {balanced_class_weights!r}; give at least one a positive weight"
        )
    return weights


def _weight(key: object, raw: object, mode: str) -> Fraction:
    value = raw
    if not isinstance(value, (int, float)) and callable(getattr(value, "item", None)):
        value = value.item()  # type: ignore[attr-defined]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"BatchSamplerDefault: the weight of class {key!r} in balanced_class_weights (mode {mode!r}) "
            f"must be a number, got {raw!r}"
        )
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"BatchSamplerDefault: the weight of class {key!r} in balanced_class_weights (mode {mode!r}) "
            f"must be a finite number >= 0, got {raw!r}"
        )
    return Fraction(value)
