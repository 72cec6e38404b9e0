"""Sample conventions: where a sample keeps its id, and how to find one sample among morphed ones.

A *sample* is an :class:`NDict`. Its id lives at ``data.sample_id``; the id it was created from (before any
op split it into several samples) lives at ``data.initial_sample_id``.
"""

from __future__ import annotations

from collections.abc import Hashable, MutableMapping, Sequence
from typing import Any

from fuse.core._ndict import NDict

__all__ = [
    "INITIAL_SAMPLE_ID_KEY",
    "SAMPLE_ID_KEY",
    "create_initial_sample",
    "get_initial_sample_id",
    "get_initial_sample_id_key",
    "get_sample_id",
    "get_sample_id_key",
    "get_specific_sample_from_potentially_morphed",
    "set_initial_sample_id",
    "set_sample_id",
]

SAMPLE_ID_KEY = "data.sample_id"
INITIAL_SAMPLE_ID_KEY = "data.initial_sample_id"


def get_sample_id_key() -> str:
    """The keypath of a sample's id, :data:`SAMPLE_ID_KEY` (FuseMedML's function; the constant reads better).

    >>> get_sample_id_key() == SAMPLE_ID_KEY == "data.sample_id"
    True
    """
    return SAMPLE_ID_KEY


def get_initial_sample_id_key() -> str:
    """The keypath of the id a sample was created from, :data:`INITIAL_SAMPLE_ID_KEY` (FuseMedML's function).

    >>> get_initial_sample_id_key()
    'data.initial_sample_id'
    """
    return INITIAL_SAMPLE_ID_KEY


def create_initial_sample(initial_sample_id: Hashable, sample_id: Hashable | None = None) -> NDict:
    """A new sample holding only its ids; ``sample_id`` defaults to ``initial_sample_id``.

    >>> create_initial_sample("case_7")
    NDict({'data.initial_sample_id': 'case_7', 'data.sample_id': 'case_7'})
    """
    sample = NDict()
    sample[INITIAL_SAMPLE_ID_KEY] = initial_sample_id
    sample[SAMPLE_ID_KEY] = initial_sample_id if sample_id is None else sample_id
    return sample


def _require(sample: MutableMapping[str, Any], key: str) -> Any:
    try:
        return sample[key]
    except KeyError:
        raise KeyError(f"the sample has no {key!r}; create samples with create_initial_sample()") from None


def get_sample_id(sample: MutableMapping[str, Any]) -> Any:
    """The sample's id (``data.sample_id``); a ``KeyError`` saying so when absent."""
    return _require(sample, SAMPLE_ID_KEY)


def set_sample_id(sample: MutableMapping[str, Any], sample_id: Hashable) -> None:
    """Set ``data.sample_id``."""
    sample[SAMPLE_ID_KEY] = sample_id


def get_initial_sample_id(sample: MutableMapping[str, Any]) -> Any:
    """The id the sample was created from (``data.initial_sample_id``)."""
    return _require(sample, INITIAL_SAMPLE_ID_KEY)


def set_initial_sample_id(sample: MutableMapping[str, Any], initial_sample_id: Hashable) -> None:
    """Set ``data.initial_sample_id``."""
    sample[INITIAL_SAMPLE_ID_KEY] = initial_sample_id


def get_specific_sample_from_potentially_morphed(
    sample: MutableMapping[str, Any] | Sequence[MutableMapping[str, Any]] | None, sample_id: Hashable
) -> MutableMapping[str, Any]:
    """Pick the sample with ``sample_id`` from a pipeline's output, which may be one sample or a list (a split).

    >>> parts = [create_initial_sample("c1", ("c1", 0)), create_initial_sample("c1", ("c1", 1))]
    >>> get_sample_id(get_specific_sample_from_potentially_morphed(parts, ("c1", 1)))
    ('c1', 1)
    """
    if sample is None:
        raise ValueError(f"sample {sample_id!r} was dropped (the pipeline returned None), so it cannot be selected")
    if isinstance(sample, MutableMapping):
        found = get_sample_id(sample)
        if found != sample_id:
            raise KeyError(f"expected the sample with id {sample_id!r}, got {found!r}")
        return sample
    if isinstance(sample, Sequence) and not isinstance(sample, (str, bytes)):
        ids = []
        for candidate in sample:
            candidate_id = get_sample_id(candidate)
            if candidate_id == sample_id:
                return candidate
            ids.append(candidate_id)
        raise KeyError(f"no sample with id {sample_id!r} among the {len(ids)} morphed samples: {ids[:10]!r}")
    raise TypeError(f"expected a sample (a mapping) or a list of samples, got {type(sample).__name__}")
