"""Keypaths, the dotted keys of an ``NDict`` (``"data.input.img"``): which keys are valid, which values are leaves
and which nest, the error of a missing key (naming the closest ones), and the conversion of flat keypaths to a
nested ``dict`` and to a printed tree.

>>> unflatten({"a.b": 1, "a.c": 2})
{'a': {'b': 1, 'c': 2}}
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

_ABSENT = object()

__all__ = [
    "LEAF_TYPES",
    "NestedKeyError",
    "check_key",
    "closest_keys",
    "flatten_into",
    "invalid_key",
    "is_nested_mapping",
    "keypath_tree",
    "unflatten",
]

# Values of these exact types are leaves: one set lookup instead of the (slower) ``Mapping`` ABC check. torch's
# tensor types join it on first use (see is_nested_mapping), so that fuse-core need not import torch.
LEAF_TYPES: set[type] = {
    np.ndarray,
    str,
    bytes,
    int,
    float,
    bool,
    list,
    tuple,
    type(None),
    np.float32,
    np.float64,
    np.int32,
    np.int64,
}


class NestedKeyError(KeyError):
    """Raised when a keypath is neither a leaf nor a prefix of an ``NDict``; names the closest keypaths.

    The closest keypaths are computed only when the message is read, so ``try``/``except KeyError`` stays cheap.

    >>> from fuse.core import NDict
    >>> nd = NDict({"data": {"input": {"img": 1}}})
    >>> try:
    ...     nd["data.inptu.img"]
    ... except NestedKeyError as e:
    ...     print(e)
    keypath 'data.inptu.img' not found; closest keypaths: 'data.input.img', 'data.input', 'data'
    """

    def __init__(self, key: object, keypaths: Iterable[str] = ()) -> None:
        super().__init__(key)
        self.key = key
        self._keypaths = list(keypaths)
        self._closest: list[str] | None = None

    @property
    def closest_keys(self) -> list[str]:
        """Up to three existing keypaths or prefixes most similar to the missing key."""
        if self._closest is None:
            self._closest = closest_keys(self.key, self._keypaths, 3) if isinstance(self.key, str) else []
        return self._closest

    def __str__(self) -> str:
        if not self._keypaths:
            return f"keypath {self.key!r} not found; the NDict is empty"
        return f"keypath {self.key!r} not found; closest keypaths: " + ", ".join(repr(k) for k in self.closest_keys)


def closest_keys(key: str, keypaths: Iterable[str], n: int) -> list[str]:
    candidates: dict[str, None] = {}
    for keypath in keypaths:
        parts = keypath.split(".")
        for i in range(1, len(parts) + 1):
            candidates[".".join(parts[:i])] = None
    return difflib.get_close_matches(key, list(candidates), n=n, cutoff=0)


def is_nested_mapping(value: Any) -> bool:
    """Whether a value whose type is not in ``LEAF_TYPES`` is a mapping to flatten into keypaths."""
    if isinstance(value, Mapping):
        return True
    module = type(value).__module__
    if module == "torch" or module.startswith("torch."):  # tensors are never mappings: a set lookup from now on
        LEAF_TYPES.add(type(value))
    return False


def check_key(key: object) -> None:
    if type(key) is not str or not key or key[0] == "." or key[-1] == "." or ".." in key:
        raise invalid_key(key)


def invalid_key(key: object) -> Exception:
    if not isinstance(key, str):
        return TypeError(
            f"NDict keys must be str keypaths such as 'data.input.img', got {key!r} ({type(key).__name__})"
        )
    return ValueError(f"invalid NDict keypath {key!r}: segments must be non-empty and separated by single dots")


def flatten_into(flat: dict[str, Any], prefix: str, mapping: Mapping[str, Any]) -> None:
    """Add the leaves of a nested mapping to ``flat`` as ``prefix + keypath``, checking every key segment.

    >>> flat = {}
    >>> flatten_into(flat, "data.", {"x": 1, "y": {"z": 2}})
    >>> flat
    {'data.x': 1, 'data.y.z': 2}
    """
    for sub_key, value in mapping.items():
        # the test of check_key, inlined: this loop builds every sample
        if type(sub_key) is not str or not sub_key or sub_key[0] == "." or sub_key[-1] == "." or ".." in sub_key:
            raise invalid_key(prefix + sub_key if type(sub_key) is str else sub_key)
        if type(value) not in LEAF_TYPES and is_nested_mapping(value):
            flatten_into(flat, prefix + sub_key + ".", value)
        else:
            flat[prefix + sub_key] = value


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Flat keypaths as a plain nested ``dict``; ``ValueError`` when a keypath is both a leaf and a prefix."""
    result: dict[str, Any] = {}
    inner_nodes = {id(result)}  # the dicts built here, as opposed to leaf values that are dicts
    for key, value in flat.items():
        node = result
        *parents, leaf = key.split(".")
        for depth, part in enumerate(parents):
            child = node.get(part, _ABSENT)
            if child is _ABSENT:
                child = node[part] = {}
                inner_nodes.add(id(child))
            elif id(child) not in inner_nodes:
                raise ValueError(_conflict_message(".".join(parents[: depth + 1]), key))
            node = child
        if leaf in node:
            raise ValueError(_conflict_message(key, next(k for k in flat if k.startswith(key + "."))))
        node[leaf] = value
    return result


def keypath_tree(nested: dict[str, Any], print_values: bool) -> str:
    """A nested dict as an indented tree (``--- key``), optionally with ``-> value``."""
    lines: list[str] = []
    _tree_lines(nested, 1, print_values, lines)
    return "\n".join(lines)


def _conflict_message(leaf_key: str, sub_key: str) -> str:
    return (
        f"cannot unflatten: keypath {leaf_key!r} holds a value and is also the prefix of {sub_key!r}; "
        "rename or delete one of them"
    )


def _tree_lines(node: dict[str, Any], level: int, print_values: bool, lines: list[str]) -> None:
    for key, value in node.items():
        marker = "---" * level
        if isinstance(value, dict):
            lines.append(f"{marker} {key}")
            _tree_lines(value, level + 1, print_values, lines)
        elif print_values:
            lines.append(f"{marker} {key} -> {value}")
        else:
            lines.append(f"{marker} {key}")
