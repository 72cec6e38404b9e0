"""Key patterns and key types: choose a value (an op, a data type) from a sample key name by regular expression.

``Patterns`` maps ordered regular expressions to values; the first one that matches a key (``re.match``) wins.
Type detectors tell ops such as :class:`~fuse.data.ops._common.OpApplyTypes` what kind of data a key holds; the
usual one, :class:`TypeDetectorPatternsBased`, infers it from the key name alone (``"data.cc.img"`` -> image).

>>> from enum import Enum
>>> class DataType(Enum):
...     IMAGE = 0
...     SEG = 1
>>> detector = TypeDetectorPatternsBased({r".*img$": DataType.IMAGE, r".*seg$": DataType.SEG})
>>> detector.get_type({}, "data.cc.img"), detector.get_type({}, "data.label")
(<DataType.IMAGE: 0>, <DataTypeBasic.UNKNOWN: -1>)
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any

from fuse.data.cache._identity import class_identity, value_identity

__all__ = ["DataTypeBasic", "Patterns", "TypeDetectorBase", "TypeDetectorPatternsBased"]


class Patterns:
    """Ordered regular expressions mapped to values: :meth:`get_value` returns the value of the first pattern that
    matches a key with ``re.match`` (anchored at the start; add ``$`` to anchor the end), else ``default_value``.

    :param patterns_dict: regex -> value, in priority order (a ``dict`` keeps its insertion order).
    :param default_value: returned when no pattern matches.

    >>> patterns = Patterns({r".*img$": "image", r".*seg$": "segmentation"}, default_value="other")
    >>> patterns.get_value("data.cc.img"), patterns.get_value("data.img_seg"), patterns.get_value("data.label")
    ('image', 'segmentation', 'other')
    >>> patterns.verify_value_in("data.label", ["image", "segmentation"])
    Traceback (most recent call last):
    ...
    ValueError: key 'data.label' maps to 'other', which is not one of ['image', 'segmentation']; ...
    """

    def __init__(self, patterns_dict: Mapping[str, Any] | None, default_value: Any = None) -> None:
        patterns_dict = {} if patterns_dict is None else patterns_dict
        if not isinstance(patterns_dict, Mapping):
            raise TypeError(
                f"Patterns needs a mapping of regex -> value (in priority order), got {type(patterns_dict).__name__}"
            )
        self._patterns: dict[str, Any] = dict(patterns_dict)
        self._default_value = default_value
        self._compiled: list[tuple[re.Pattern[str], Any]] = []
        for pattern, value in self._patterns.items():
            if not isinstance(pattern, str):
                raise TypeError(f"Patterns: every pattern must be a regex string, got {pattern!r}")
            try:
                self._compiled.append((re.compile(pattern), value))
            except re.error as error:
                raise ValueError(f"Patterns: {pattern!r} is not a valid regular expression ({error})") from None

    @property
    def patterns(self) -> dict[str, Any]:
        """The regex -> value mapping, in priority order (a copy)."""
        return dict(self._patterns)

    @property
    def default_value(self) -> Any:
        """The value returned when no pattern matches."""
        return self._default_value

    def get_value(self, key: str) -> Any:
        """The value of the first pattern that matches ``key`` (``re.match``), or the default value."""
        for compiled, value in self._compiled:
            if compiled.match(key) is not None:
                return value
        return self._default_value

    def verify_value_in(self, key: str, values: Iterable[Any]) -> None:
        """Raise ``ValueError`` unless the value ``key`` maps to is one of ``values``."""
        values = list(values)
        value = self.get_value(key)
        if value not in values:
            raise ValueError(
                f"key {key!r} maps to {value!r}, which is not one of {values!r}; patterns (first match wins): "
                f"{self._patterns!r}, default {self._default_value!r}"
            )

    def cache_identity(self) -> str:
        """A digest of the patterns in their priority order and of the default value."""
        return value_identity([list(self._patterns.items()), self._default_value], "Patterns")

    def __repr__(self) -> str:
        return f"Patterns({self._patterns!r}, default_value={self._default_value!r})"


class DataTypeBasic(Enum):
    """The data type of a key that no pattern recognises."""

    UNKNOWN = -1


class TypeDetectorBase(ABC):
    """Tells the data type of a sample key; implement :meth:`get_type`.

    For use in cached pipelines (e.g. inside :class:`~fuse.data.ops._common.OpApplyTypes`) a detector also needs
    a ``cache_identity(self) -> str`` method describing everything that affects its answers.

    >>> class TypeDetectorBySuffix(TypeDetectorBase):
    ...     def get_type(self, sample_dict, key):
    ...         return key.rsplit(".", 1)[-1]
    >>> TypeDetectorBySuffix().verify_type({}, "data.img", ["img", "seg"])
    """

    @abstractmethod
    def get_type(self, sample_dict: Mapping[str, Any], key: str) -> Any:
        """The type of ``sample_dict[key]`` (usually an ``Enum`` member)."""

    def verify_type(self, sample_dict: Mapping[str, Any], key: str, types: Sequence[Any]) -> None:
        """Raise ``ValueError`` unless the type of ``key`` is one of ``types``."""
        key_type = self.get_type(sample_dict, key)
        if key_type not in types:
            raise ValueError(f"key {key!r} has type {key_type!r}, which is not one of {list(types)!r}")


class TypeDetectorPatternsBased(TypeDetectorBase):
    """Infers the type from the key name alone (the sample is not read): the value of the first regex in
    ``patterns_dict`` that matches the key, else ``DataTypeBasic.UNKNOWN``.

    >>> from enum import Enum
    >>> class DataType(Enum):
    ...     IMAGE = 0
    >>> detector = TypeDetectorPatternsBased({r".*img$": DataType.IMAGE})
    >>> detector.get_type({}, "data.mlo.img")
    <DataType.IMAGE: 0>
    >>> detector.verify_type({}, "data.label", [DataType.IMAGE])
    Traceback (most recent call last):
    ...
    ValueError: key 'data.label' maps to <DataTypeBasic.UNKNOWN: -1>, which is not one of [<DataType.IMAGE: 0>]; ...
    """

    def __init__(self, patterns_dict: Mapping[str, Any]) -> None:
        self._patterns = Patterns(patterns_dict, DataTypeBasic.UNKNOWN)

    @property
    def patterns(self) -> Patterns:
        """The patterns the types are read from."""
        return self._patterns

    def get_type(self, sample_dict: Mapping[str, Any], key: str) -> Any:
        """The type the key name maps to (``sample_dict`` is ignored)."""
        return self._patterns.get_value(key)

    def verify_type(self, sample_dict: Mapping[str, Any], key: str, types: Sequence[Any]) -> None:
        """Raise ``ValueError`` unless the key name maps to one of ``types``."""
        self._patterns.verify_value_in(key, types)

    def cache_identity(self) -> str:
        """A digest of this class and of the patterns in their priority order."""
        return hashlib.sha256(f"{class_identity(type(self))}|{self._patterns.cache_identity()}".encode()).hexdigest()

    def __repr__(self) -> str:
        return f"TypeDetectorPatternsBased({self._patterns.patterns!r})"
