"""Reading the batch dict in models, heads and losses: a missing key raises :class:`MissingBatchKeyError` naming the
reader, the key's role and the similar keys present.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from fuse.core import NDict, NDictView

__all__ = ["MissingBatchKeyError", "batch_value", "batch_values", "input_keys"]

_SIMILAR_KEYS_SHOWN = 5
_ABSENT = object()


class MissingBatchKeyError(KeyError):
    """A model, head or loss needs a batch dict key that is absent (a ``KeyError``, so ``except KeyError`` catches
    it).

    >>> from fuse.core import NDict
    >>> try:
    ...     batch_value(NDict({"data.image": 0}), "data.img", "Head3D 'classification'", "conv_inputs")
    ... except KeyError as error:
    ...     print(error)
    Head3D 'classification': the batch_dict has no key 'data.img' (conv_inputs); similar keys present: 'data.image'
    """

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def batch_value(batch_dict: Mapping[str, Any], key: str, who: str, role: str | None = None) -> Any:
    """``batch_dict[key]``, or a :class:`MissingBatchKeyError` naming ``who`` (the reader), the ``role`` of the key
    and the similar keys present.

    A key that is only a prefix of an :class:`~fuse.core.NDict` (``"model.logits"`` when ``"model.logits.head"``
    is stored) is an error too: the reader needs the value itself, not a view of several.

    >>> from fuse.core import NDict
    >>> batch_value(NDict({"data": {"image": 1.5}}), "data.image", "ModelWrapSeqToDict", "model_inputs")
    1.5
    """
    if type(batch_dict) is NDict:  # the per-step path: a stored keypath is a leaf, never a view (views are made
        value = dict.get(batch_dict, key, _ABSENT)  # only for missing keys), so no further check is needed
        if value is not _ABSENT:
            return value
    if not isinstance(batch_dict, Mapping):
        raise TypeError(f"{who}: expected a batch_dict (an NDict or a dict), got {type(batch_dict).__name__}")
    described = repr(key) if role is None else f"{key!r} ({role})"
    try:
        value = batch_dict[key]
    except KeyError:
        nested = hasattr(batch_dict, "keypaths")
        keys = [str(k) for k in (batch_dict.keypaths() if nested else batch_dict)]  # type: ignore[attr-defined]
        hint = (
            "" if nested or "." not in key else "; wrap a nested dict in fuse.core.NDict so that dotted keys reach it"
        )
        raise MissingBatchKeyError(
            f"{who}: the batch_dict has no key {described}; {_similar_keys(key, keys)}{hint}"
        ) from None
    if isinstance(value, NDictView):
        below = [f"{key}.{sub_key}" for sub_key in value.keypaths()]
        shown = ", ".join(repr(k) for k in below[:_SIMILAR_KEYS_SHOWN])
        raise MissingBatchKeyError(
            f"{who}: {described} is a prefix of several batch_dict keys, not a value; give the full key, one of: "
            f"{shown}"
        )
    return value


def batch_values(
    batch_dict: Mapping[str, Any], keys: Sequence[str], who: str, roles: Sequence[str | None] | None = None
) -> list[Any]:
    """``[batch_value(batch_dict, key, who, role) for key, role in zip(keys, roles)]`` in one call: the models and
    losses of every training step read their keys through it (one Python call per reader instead of one per key).

    >>> from fuse.core import NDict
    >>> batch_values(NDict({"model.out": 1.0, "data.y": 0.0}), ["model.out", "data.y"], "LossDefault", ["pred", "target"])
    [1.0, 0.0]
    """
    if type(batch_dict) is NDict:  # batch_value's per-step path, for all keys at once
        values = []
        for key in keys:
            value = dict.get(batch_dict, key, _ABSENT)
            if value is _ABSENT:
                break
            values.append(value)
        else:
            return values
    roles = [None] * len(keys) if roles is None else roles
    return [batch_value(batch_dict, key, who, role) for key, role in zip(keys, roles, strict=True)]


def _similar_keys(key: str, keys: list[str]) -> str:
    """A sentence part listing the keys of ``keys`` most similar to ``key`` (or some keys, or "none")."""
    if not keys:
        return "the batch_dict is empty"
    similar = difflib.get_close_matches(key, keys, n=_SIMILAR_KEYS_SHOWN, cutoff=0.4)
    if similar:
        return "similar keys present: " + ", ".join(repr(k) for k in similar)
    shown = ", ".join(repr(k) for k in keys[:_SIMILAR_KEYS_SHOWN])
    more = f" and {len(keys) - _SIMILAR_KEYS_SHOWN} more" if len(keys) > _SIMILAR_KEYS_SHOWN else ""
    return f"no similar key; keys present: {shown}{more}"


def input_keys(spec: Sequence[str | tuple[str, int]], arg_name: str, who: str) -> list[str]:
    """The keys of ``spec``, whose entries are keys or ``(key, channels)`` pairs (the channel count is ignored)."""
    if isinstance(spec, str) or not isinstance(spec, Sequence):
        raise TypeError(
            f"{who}: {arg_name} must be a sequence of keys or (key, channels) pairs, e.g. "
            f"(('data.input.img', 1),), got {spec!r}"
        )
    keys: list[str] = []
    for entry in spec:
        if isinstance(entry, str):
            keys.append(entry)
        elif isinstance(entry, (tuple, list)) and entry and isinstance(entry[0], str):
            keys.append(entry[0])
        else:
            raise TypeError(f"{who}: every entry of {arg_name} must be a key or a (key, channels) pair, got {entry!r}")
    if not keys:
        raise ValueError(f"{who}: {arg_name} is empty; name at least one batch_dict key")
    return keys
