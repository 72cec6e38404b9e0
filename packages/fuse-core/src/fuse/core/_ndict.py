"""``NDict``: a nested dictionary addressed by dotted keypaths.

An ``NDict`` is a ``dict`` of full keypaths (``"data.input.img"``) to leaf values, so getting a leaf is a plain
C-level dict lookup. Prefixes (``"data.input"``) are not stored: looking one up falls through to ``__missing__``,
which returns a *live view* (:class:`NDictView`) that reads and writes the parent under that prefix.
"""

from __future__ import annotations

import copy
from abc import ABCMeta
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

from fuse.core._keypaths import LEAF_TYPES as _LEAF_TYPES
from fuse.core._keypaths import (
    NestedKeyError,
    check_key,
    closest_keys,
    flatten_into,
    invalid_key,
    is_nested_mapping,
    keypath_tree,
    unflatten,
)
from fuse.core._leaf_values import take_rows, values_equal
from fuse.core._renamed import positional_from_keyword

__all__ = ["NDict", "NDictView", "NestedKeyError"]

_dict_get = dict.get
_dict_setitem = dict.__setitem__
_dict_keys = dict.keys
_dict_contains = dict.__contains__


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


class _NDictMethods:
    """Keypath-aware methods shared by :class:`NDict` and its live views, written over the mapping primitives."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __getitem__(self, key: str) -> Any: ...
        def __setitem__(self, key: str, value: Any) -> None: ...
        def __delitem__(self, key: str) -> None: ...
        def __contains__(self, key: object) -> bool: ...
        def __iter__(self) -> Iterator[str]: ...
        def __len__(self) -> int: ...
        def get(self, key: str, default: Any = None) -> Any: ...
        def to_dict(self) -> dict[str, Any]: ...
        def _prefix_view(self, key: str) -> NDictView | None: ...
        def _root(self) -> NDict: ...

    def pop(self, key: str, *default: Any) -> Any:
        """Remove ``key`` (a leaf, or a prefix with its whole subtree) and return what it held.

        For a prefix the returned value is an independent NDict (a snapshot), not a view.
        With a default given, a missing key returns the default instead of raising.
        """
        if len(default) > 1:
            raise TypeError(f"pop expected at most 2 arguments, got {1 + len(default)}")
        value = self.get(key, _MISSING)
        if value is _MISSING:
            if default:
                return default[0]
            raise NestedKeyError(key, list(self))
        if isinstance(value, NDict):
            value = value.clone(deepcopy=False)
        del self[key]
        return value

    def setdefault(self, key: str, default: Any = None) -> Any:
        """``self[key]`` if present, else set it to ``default`` (mappings nest) and return ``self[key]``."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            self[key] = default
            value = self.get(key, default)
        return value

    def update(self, other: Any = _MISSING, /, **kwargs: Any) -> None:
        """Like ``dict.update``, through ``__setitem__``: nested mappings are flattened into keypaths."""
        other = positional_from_keyword("NDict.update", "dict_like", other, kwargs, _MISSING, default=())
        if isinstance(other, NDict) and other._root() is self._root():
            other = other.to_dict()
        items = other.items() if isinstance(other, Mapping) else other
        for key, value in items:
            self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    def merge(self, other: Mapping[str, Any]) -> Self:
        """Set every item of ``other`` (nested mappings are flattened) into ``self``; returns ``self``."""
        self.update(other)
        return self

    def copy(self) -> NDict:
        """A shallow copy (an independent NDict sharing the values)."""
        return self.clone(deepcopy=False)

    def __or__(self, other: Any) -> NDict:
        if not isinstance(other, Mapping):
            return NotImplemented
        result = self.copy()
        result.update(other)
        return result

    def __ror__(self, other: Any) -> NDict:
        if not isinstance(other, Mapping):
            return NotImplemented
        result = NDict(other)
        result.update(self)
        return result

    def __ior__(self, other: Any) -> Self:
        self.update(other)
        return self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NDict):
            other_flat = other.to_dict()
        elif isinstance(other, Mapping):
            other_flat = NDict(other).to_dict()
        else:
            return NotImplemented
        mine = self.to_dict()
        if mine.keys() != other_flat.keys():
            return False
        return all(values_equal(value, other_flat[key]) for key, value in mine.items())

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"NDict({self.to_dict()!r})"

    def __str__(self) -> str:
        return str(self.to_dict())

    def __reduce__(self) -> tuple[Any, ...]:
        # A view pickles as an independent NDict holding only its own keys (prefix stripped).
        return (NDict, (self.to_dict(), True))

    def __copy__(self) -> NDict:
        return self.clone(deepcopy=False)

    def __deepcopy__(self, memo: dict[int, Any]) -> NDict:
        return NDict(copy.deepcopy(self.to_dict(), memo), already_flat=True)

    # ------------------------------------------------------------------ FuseMedML API
    def clone(self, deepcopy: bool = True) -> NDict:
        """An independent copy; values deep-copied (default) or shared (``deepcopy=False``).

        >>> a = NDict({"x": [1]})
        >>> b = a.clone()
        >>> b["x"].append(2)
        >>> a["x"]
        [1]
        """
        if deepcopy:
            return NDict._from_flat(copy.deepcopy(self.to_dict()))
        return NDict._from_flat(self if isinstance(self, dict) else self.to_dict())  # a root copies in C

    def flatten(self) -> Self:
        """FuseMedML legacy: the storage is already flat, so this returns ``self``."""
        return self

    def keypaths(self) -> list[str]:
        """All leaf keypaths as a list, in insertion order."""
        return list(self)

    def top_level_keys(self) -> list[str]:
        """First keypath segments, in order of first appearance.

        >>> NDict({"a.b": 1, "c": 2, "a.d": 3}).top_level_keys()
        ['a', 'c']
        """
        return list(dict.fromkeys(k.partition(".")[0] for k in self))

    def get_sub_dict(self, key: str) -> NDictView | None:
        """The live view under prefix ``key``, or ``None`` when ``key`` is not a prefix (a leaf or absent)."""
        return self._prefix_view(key)

    def get_multi(self, keys: Iterable[str] | None = None) -> NDict:
        """A new NDict with only ``keys`` (leaves or prefixes, each copied with its subtree); values shared."""
        if keys is None:
            return self.clone(deepcopy=False)
        result = NDict()
        for key in keys:
            value = self[key]
            result[key] = value.to_dict() if isinstance(value, NDict) else value
        return result

    def indices(self, indices: Any) -> NDict:
        """Select samples along the first dimension of every value (a batch dict -> a smaller batch).

        Arrays and array-likes with ``__getitem__`` (numpy, torch, ...) are indexed as ``value[indices]``;
        lists and tuples are filtered by a boolean mask or gathered by integer indices; other values
        (scalars, strings) are kept as they are.

        >>> import numpy as np
        >>> batch = NDict({"id": ["a", "b", "c"], "pred": np.array([0.1, 0.2, 0.3]), "fold": 1})
        >>> sub = batch.indices(np.array([True, False, True]))
        >>> sub["id"], sub["pred"].tolist(), sub["fold"]
        (['a', 'c'], [0.1, 0.3], 1)
        """
        return NDict(take_rows(self.to_dict(), indices), already_flat=True)

    def apply_on_all(self, apply_func: Callable[..., Any], *args: Any) -> None:
        """In place: ``self[k] = apply_func(self[k], *args)`` for every leaf keypath ``k``."""
        for key in list(self):
            self[key] = apply_func(self[key], *args)

    def unflatten(self) -> dict[str, Any]:
        """A plain nested ``dict`` (JSON-ready when the values are).

        Raises ``ValueError`` when a keypath is both a leaf and a prefix (``"a"`` and ``"a.b"``), which no
        nested dict can hold.

        >>> NDict({"a.b.c": 42, "a.d": 23}).unflatten()
        {'a': {'b': {'c': 42}, 'd': 23}}
        """
        return unflatten(self.to_dict())

    def get_closest_keys(self, key: str, n: int = 1) -> list[str]:
        """The ``n`` keypaths or prefixes most similar to ``key`` (``difflib``), best first.

        >>> NDict({"a.b.c": 42}).get_closest_keys("a.bb", 2)
        ['a.b', 'a.b.c']
        """
        if key in self:
            return [key]
        return closest_keys(key, self, n)

    def get_tree(self, print_values: bool = False) -> str:
        """The keys as an indented tree (``--- key``), optionally with ``-> value``.

        >>> print(NDict({"a.b": 1, "c": 2}).get_tree(print_values=True))
        --- a
        ------ b -> 1
        --- c -> 2
        """
        return keypath_tree(self.unflatten(), print_values)

    def print_tree(self, print_values: bool = False) -> None:
        """Print :meth:`get_tree`."""
        print(self.get_tree(print_values=print_values))

    def describe(self) -> None:
        """Print every keypath with the type of its value and, for arrays, shape and dtype."""
        for key, value in self.to_dict().items():
            print(key)
            print(f"\ttype={type(value)}")
            if hasattr(value, "shape"):
                print(f"\tshape={tuple(value.shape)}")
            if hasattr(value, "dtype"):
                print(f"\tdtype={value.dtype}")


class NDict(_NDictMethods, dict[str, Any], metaclass=ABCMeta):  # type: ignore[misc]  # | returns NDict
    """A nested dictionary addressed by dotted keypaths, the sample container of fuse.

    Setting a mapping nests it; iteration is flat over leaf keypaths, and ``len`` counts leaves.
    A prefix returns a live view: writes through it reach the parent.

    >>> nd = NDict({"data": {"sample_id": "case_1", "input": {"img": 0.5}}})
    >>> nd["data.input.img"]
    0.5
    >>> nd["data.input.seg"] = 3
    >>> nd.keypaths()
    ['data.sample_id', 'data.input.img', 'data.input.seg']
    >>> view = nd["data.input"]
    >>> view["img"] = 0.7
    >>> nd["data.input.img"]
    0.7
    >>> nd.unflatten()
    {'data': {'sample_id': 'case_1', 'input': {'img': 0.7, 'seg': 3}}}

    It is a ``dict`` of keypaths, so ``dict(nd)`` and ``json.dumps(nd)`` give the flat form; use
    :meth:`unflatten` for the nested one. Differences from FuseMedML's NDict are listed in
    docs/migration.md: prefix views are live, ``==`` compares contents, ``NDict(other)`` copies, and a
    missing key raises :class:`NestedKeyError` without printing.
    """

    # No instance attributes: an attribute referring back to the dict (such as a cached ``dict.keys`` view) would
    # put every sample in a reference cycle, freed only by the garbage collector.
    __slots__ = ()

    def __init__(
        self, dict_like: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None, already_flat: bool = False
    ) -> None:
        """Create an NDict.

        :param dict_like: a (nested) mapping, an NDict, or an iterable of ``(keypath, value)`` pairs.
        :param already_flat: optimisation: ``dict_like`` is a plain ``dict`` of valid keypaths to leaf values,
            copied as it is (no flattening, no key checks).
        """
        # no super().__init__(): dict.__new__ made it empty, and dict.__init__ without arguments adds nothing
        if dict_like is None:
            return
        if already_flat:
            if type(dict_like) is not dict:
                raise TypeError(f"already_flat=True needs a plain dict of keypaths, got {type(dict_like).__name__}")
            dict.update(self, dict_like)
        elif type(dict_like) is dict:  # the common case (a collated batch), before the slower ABC checks
            self._merge_mapping("", dict_like)
        elif isinstance(dict_like, NDict):
            dict.update(self, dict_like.to_dict())
        elif isinstance(dict_like, Mapping):
            self._merge_mapping("", dict_like)
        else:
            for key, value in dict_like:
                self[key] = value

    @classmethod
    def _from_flat(cls, flat: Mapping[str, Any]) -> NDict:
        """A new NDict holding a copy of ``flat`` (valid keypaths to leaves): one C-level copy, no checks."""
        new = dict.__new__(cls)
        dict.update(new, flat)
        return new

    def _merge_mapping(self, prefix: str, mapping: Mapping[str, Any]) -> None:
        """Store every leaf of a (nested) mapping under ``prefix`` (``""`` or ending in a dot), in order."""
        # every leaf is read into ``flat`` before ``self`` changes: a view of ``self`` among the values is safe to read
        flat: dict[str, Any] = {}
        flatten_into(flat, prefix, mapping)
        dict.update(self, flat)  # one C-level merge instead of a slot call per leaf

    def __missing__(self, key: str) -> NDictView:
        view = self._prefix_view(key)
        if view is None:
            raise NestedKeyError(key, _dict_keys(self))
        return view

    def _prefix_view(self, key: str) -> NDictView | None:
        if type(key) is not str:
            return None
        prefix = key + "."
        for stored_key in _dict_keys(self):
            if stored_key.startswith(prefix):
                return NDictView(self, prefix)
        return None

    def __setitem__(self, key: str, value: Any) -> None:
        if type(value) not in _LEAF_TYPES and is_nested_mapping(value):
            check_key(key)
            self._merge_mapping(key + ".", value)
            return
        # a new key is checked (an existing one was checked when it was added); _check_key's test, inlined: this
        # runs for every key a training step writes
        if not _dict_contains(self, key) and (
            type(key) is not str or not key or key[0] == "." or key[-1] == "." or ".." in key
        ):
            raise invalid_key(key)
        _dict_setitem(self, key, value)

    def __delitem__(self, key: str) -> None:
        if type(key) is not str:
            raise invalid_key(key)
        deleted = dict.pop(self, key, _MISSING) is not _MISSING
        prefix = key + "."
        doomed = [k for k in _dict_keys(self) if k.startswith(prefix)]
        for stored_key in doomed:
            dict.__delitem__(self, stored_key)
        if not deleted and not doomed:
            raise NestedKeyError(key, _dict_keys(self))

    def __contains__(self, key: object) -> bool:
        if _dict_contains(self, key):
            return True
        if type(key) is not str:
            return False
        prefix = key + "."
        for stored_key in _dict_keys(self):  # noqa: SIM110  (a plain loop is faster than any() over a generator)
            if stored_key.startswith(prefix):
                return True
        return False

    def _root(self) -> NDict:
        return self

    def to_dict(self) -> dict[str, Any]:
        """A new plain ``dict`` of keypath -> value (for a view: the view's keys, prefix stripped)."""
        return dict.copy(self)

    def keypaths(self) -> list[str]:
        """All leaf keypaths as a list, in insertion order."""
        return list(_dict_keys(self))

    def update(self, other: Any = _MISSING, /, **kwargs: Any) -> None:
        """Like ``dict.update``; nested mappings are flattened into keypaths (FuseMedML's ``dict_like=`` warns)."""
        other = positional_from_keyword("NDict.update", "dict_like", other, kwargs, _MISSING, default=())
        if isinstance(other, Mapping):
            self._merge_mapping("", other)
        else:
            for key, value in other:
                self[key] = value
        if kwargs:
            self._merge_mapping("", kwargs)

    def get(self, key: str, default: Any = None) -> Any:
        """``self[key]`` (a leaf, or a live view of a prefix), or ``default`` when absent."""
        value = _dict_get(self, key, _MISSING)
        if value is not _MISSING:
            return value
        view = self._prefix_view(key)
        return default if view is None else view


class NDictView(_NDictMethods, MutableMapping[str, Any]):
    """A live view of the keys of a root NDict under a prefix: every operation is redirected to the root, so
    reads see the root's current state and writes reach it. Not a ``dict`` (a dict subclass with empty
    storage would read as ``{}`` to C code such as ``json``), but ``isinstance(view, NDict)`` holds.
    """

    __slots__ = ("_prefix", "_root_ndict")

    def __init__(self, root: NDict, prefix: str) -> None:
        self._root_ndict = root
        self._prefix = prefix

    def _root(self) -> NDict:
        return self._root_ndict

    def _full(self, key: str) -> str:
        if type(key) is not str:
            raise invalid_key(key)
        return self._prefix + key

    def __getitem__(self, key: str) -> Any:
        root = self._root_ndict
        full = self._full(key)
        value = _dict_get(root, full, _MISSING)
        if value is not _MISSING:
            return value
        view = root._prefix_view(full)
        if view is None:
            raise NestedKeyError(key, list(self))
        return view

    def _prefix_view(self, key: str) -> NDictView | None:
        return self._root_ndict._prefix_view(self._full(key)) if type(key) is str else None

    def __setitem__(self, key: str, value: Any) -> None:
        if type(key) is not str or not key:
            raise invalid_key(key)
        self._root_ndict[self._prefix + key] = value

    def __delitem__(self, key: str) -> None:
        try:
            del self._root_ndict[self._full(key)]
        except NestedKeyError:
            raise NestedKeyError(key, list(self)) from None

    def __contains__(self, key: object) -> bool:
        return type(key) is str and (self._prefix + key) in self._root_ndict

    def get(self, key: str, default: Any = None) -> Any:
        return self._root_ndict.get(self._full(key), default)

    def __iter__(self) -> Iterator[str]:
        prefix, n = self._prefix, len(self._prefix)
        return iter([k[n:] for k in _dict_keys(self._root_ndict) if k.startswith(prefix)])

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self))

    def __len__(self) -> int:
        prefix = self._prefix
        return sum(1 for k in _dict_keys(self._root_ndict) if k.startswith(prefix))

    def to_dict(self) -> dict[str, Any]:
        prefix, n = self._prefix, len(self._prefix)
        return {k[n:]: v for k, v in dict.items(self._root_ndict) if k.startswith(prefix)}

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last ``(keypath, value)``, as ``dict.popitem`` does."""
        keys = list(self)
        if not keys:
            raise KeyError("popitem(): the NDict view is empty")
        return keys[-1], self.pop(keys[-1])


NDict.register(NDictView)
