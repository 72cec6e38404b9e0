"""Stable cache identities: the same value gives the same digest in every process, a changed value a new one.

A sample cache is only as trustworthy as the key it is stored under. The key of a pipeline is built from the
identity of every op and of every per-op keyword argument, so it must never contain a memory address (as a
``repr`` without one of its own would) and must change whenever code or data that produce the samples change. What an identity covers:

- **values** by content: numbers, strings, arrays (dtype, shape, bytes), DataFrames, containers, enums (name and
  value), paths, random generators (their state), param samplers, any object with a ``cache_identity()``, and an
  object of a pure-Python class (yours or a library's: a dataclass, a ``torch.nn.Module``) by its class and its
  attributes;
- **your code** (anything outside an installed distribution: scripts, notebooks, ``python -c``, ``exec``, modules
  on ``sys.path``) by its compiled code, followed transitively: a function's bytecode, constants, nested functions,
  defaults, closure values, and every module-level function, class, constant or module it names (in its own module
  or another one); a class's methods and class attributes, through its bases; an instance's class and attributes;
- **installed code** (site-packages, or any installed distribution, fuse's own included) by distribution name and
  version, never walked; an editable install (``pip install -e``) also by a digest of its package's ``.py`` files;
  the standard library by the Python version.

It cannot see data read at run time (files, databases, URLs), environment variables, the internals of compiled
extensions outside an installed distribution, or an installed package edited in place without a version change
(while not an editable install). The sample-cache audit (:class:`~fuse.data.SampleCachingAudit`) is what catches
those.

>>> import numpy as np
>>> value_identity({"mean": 0.5, "weights": np.arange(3)}) == value_identity({"weights": np.arange(3), "mean": 0.5})
True
>>> value_identity(np.arange(3)) == value_identity(np.arange(3.0))
False
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import enum
import fractions
import functools
import hashlib
import inspect
import logging
import pathlib
import random
import re
import types
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fuse.core import ParamSamplerBase, defining_module, is_tensor, to_numpy
from fuse.data.cache._code import instance_state, is_plain_instance
from fuse.data.cache._code_walk import CodeFeeder, put, qualified
from fuse.data.cache._origin import (
    class_origin,
    importable_name,
    python_origin,
    remembered_origins,
)

__all__ = ["UnstableIdentityError", "class_identity", "lenient_identity", "value_identity"]

_SCALARS = (type(None), bool, int, float, complex, str, bytes, bytearray, range, slice, type(Ellipsis))
_DESCRIPTORS = (
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    types.MethodWrapperType,
    types.MemberDescriptorType,
    types.GetSetDescriptorType,
)
_REPR_EXACT = (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal, fractions.Fraction, uuid.UUID)
_HOW_TO_FIX = (
    "Pass plain values (numbers, strings, arrays, DataFrames, functions), give its class a "
    "`cache_identity(self) -> str` method that describes everything that affects the samples, or pass "
    "SamplesCacher(..., cache_version='v1'): unidentifiable values are then left out of the cache key and the "
    "label stands for them (change it whenever they change)"
)


class UnstableIdentityError(TypeError):
    """A value has no stable identity (it would be hashed by memory address), so it cannot key a sample cache."""


@dataclass
class _Walk:
    """State shared by nested identity computations (an op's ``cache_identity`` calls :func:`value_identity`)."""

    memo: dict[int, tuple[Any, str]] = field(default_factory=dict)  # id -> (object kept alive, digest)
    active: set[int] = field(default_factory=set)


_WALK: ContextVar[_Walk | None] = ContextVar("fuse_identity_walk", default=None)
_LENIENT: ContextVar[list[str] | None] = ContextVar("fuse_identity_lenient", default=None)


@contextlib.contextmanager
def lenient_identity() -> Iterator[list[str]]:
    """Within the block, a value without a stable identity contributes only its type (instead of raising) and is
    listed in the yielded list: used when a ``cache_version`` label vouches for what the identity cannot see.

    >>> import threading
    >>> with lenient_identity() as skipped:
    ...     _ = value_identity({"lock": threading.Lock()})
    >>> skipped
    ["value['lock'] (a _thread.lock)"]
    """
    skipped: list[str] = []
    token = _LENIENT.set(skipped)
    try:
        yield skipped
    finally:
        _LENIENT.reset(token)


def value_identity(value: Any, where: str = "value") -> str:
    """A hex digest that identifies ``value`` by content (and, for code, by what it runs), stable across processes.

    See the module documentation for what is covered. Anything else raises :class:`UnstableIdentityError` naming
    ``where`` (or, inside :func:`lenient_identity`, contributes its type only).

    >>> value_identity(lambda x: x + 1) == value_identity(lambda x: x + 2)
    False
    """
    digest = hashlib.sha256()
    with _walk_state() as walk:
        _Feeder(walk).feed(digest, value, where)
    return digest.hexdigest()


def class_identity(cls: type) -> str:
    """The identity of a class: distribution and version for an installed class, else its qualified name, its
    methods' code (and everything they reference), its class attributes and its bases, whether or not its source
    can be read (``python -c``, notebooks, ``exec``). A published class (``__module__`` set to its package) is
    named and found by the module that defines it, so publishing never changes an identity.
    """
    digest = hashlib.sha256()
    with _walk_state() as walk:
        _Feeder(walk).code.feed_class(digest, cls, cls.__qualname__)
    return digest.hexdigest()


@contextlib.contextmanager
def _walk_state() -> Iterator[_Walk]:
    walk = _WALK.get()
    if walk is not None:
        yield walk
        return
    walk = _Walk()
    token = _WALK.set(walk)
    try:
        with remembered_origins():
            yield walk
    finally:
        _WALK.reset(token)


# ---------------------------------------------------------------------------------------------- the walk
def _sort_key(key: Any) -> str:
    """Orders mapping keys the same way in every process (the repr of a frozenset key depends on the hash seed)."""
    return f"0{key!r}" if isinstance(key, _SCALARS) else f"1{value_identity(key, 'key')}"


class _Feeder:
    """Feeds values into a digest; functions, classes and modules go to :attr:`code`."""

    def __init__(self, walk: _Walk) -> None:
        self.walk = walk
        self.code = CodeFeeder(self)

    def feed(self, digest: Any, value: Any, where: str) -> None:
        if isinstance(value, _SCALARS):
            put(digest, type(value).__name__, repr(value))
            return
        if isinstance(value, enum.Enum):
            put(digest, "enum", f"{qualified(type(value))}.{value.name}")
            self.feed(digest, value.value, f"{where}.value")
            return
        if isinstance(value, pathlib.PurePath):
            put(digest, "path", str(value))
            return
        if isinstance(value, _REPR_EXACT):
            put(digest, type(value).__qualname__, repr(value))
            return
        if isinstance(value, re.Pattern):
            put(digest, "regex", f"{value.pattern!r}:{value.flags}")
            return
        if isinstance(value, inspect.Signature):  # e.g. in the closure of a decorator's wrapper
            put(digest, "signature")
            parameters = [(p.name, p.kind.name, p.default) for p in value.parameters.values()]
            self.feed(digest, parameters, f"{where} parameters")
            return
        if isinstance(value, np.dtype):
            put(digest, "npdtype", f"{value.str}:{value}")
            return
        if type(value).__module__ == "torch" and type(value).__name__ in ("dtype", "device"):
            put(digest, f"torch.{type(value).__name__}", str(value))
            return
        if isinstance(value, np.generic):
            text = f"{value.dtype.str}:{value.tobytes().hex()}" if value.dtype != object else repr(value)
            put(digest, "npscalar", text)
            return
        if hasattr(value, "cache_identity") and callable(value.cache_identity) and not isinstance(value, type):
            self._feed_described(digest, value, where)
            return
        if isinstance(value, ParamSamplerBase):
            put(digest, "sampler", qualified(type(value)))
            self.feed(digest, value._params(), where)
            return
        container = isinstance(value, (list, tuple, dict, set, frozenset, Mapping, np.ndarray))
        if container:
            if id(value) in self.walk.active:
                raise UnstableIdentityError(f"{where}: a value contains itself, so it has no finite identity")
            self.walk.active.add(id(value))
        try:
            self._feed_structured(digest, value, where)
        finally:
            if container:
                self.walk.active.discard(id(value))

    def _feed_described(self, digest: Any, value: Any, where: str) -> None:
        if id(value) in self.walk.active:  # e.g. an op whose attribute is a closure over the op itself
            put(digest, "cycle", type(value).__qualname__)
            return
        self.walk.active.add(id(value))
        try:
            put(digest, "identity", f"{type(value).__qualname__}:{value.cache_identity()}")
        finally:
            self.walk.active.discard(id(value))

    def _feed_structured(self, digest: Any, value: Any, where: str) -> None:
        if isinstance(value, (list, tuple)):
            put(digest, type(value).__name__, str(len(value)))
            for index, item in enumerate(value):
                self.feed(digest, item, f"{where}[{index}]")
            return
        if isinstance(value, Mapping):
            items = sorted(value.items(), key=lambda item: _sort_key(item[0]))
            put(digest, "mapping", str(len(items)))
            for key, item in items:
                self.feed(digest, key, f"{where} key")
                self.feed(digest, item, f"{where}[{key!r}]")
            return
        if isinstance(value, (set, frozenset)):
            put(digest, "set", str(len(value)))
            for item_digest in sorted(value_identity(item, f"{where} item") for item in value):
                put(digest, "item", item_digest)
            return
        if isinstance(value, np.ndarray):
            put(digest, "ndarray", f"{value.dtype.str}:{value.shape}")
            if value.dtype == object:
                for index, item in enumerate(value.reshape(-1)):
                    self.feed(digest, item, f"{where}[{index}]")
            else:
                digest.update(np.ascontiguousarray(value).tobytes())
            return
        if _is_pandas(value):
            self._feed_pandas(digest, value, where)
            return
        if is_tensor(value):
            put(digest, "tensor", f"{value.dtype}:{tuple(value.shape)}")
            try:
                numpy_array = to_numpy(value)
            except (TypeError, RuntimeError):  # a dtype numpy lacks beyond bfloat16 (e.g. float8)
                numpy_array = to_numpy(value.float())
            digest.update(np.ascontiguousarray(numpy_array).tobytes())
            return
        self._feed_code_or_object(digest, value, where)

    def _feed_code_or_object(self, digest: Any, value: Any, where: str) -> None:
        if isinstance(value, functools.partial):
            put(digest, "partial")
            self.feed(digest, value.func, f"{where}.func")
            self.feed(digest, value.args, f"{where}.args")
            self.feed(digest, value.keywords, f"{where}.keywords")
            return
        if isinstance(value, types.MethodType):
            put(digest, "method", value.__func__.__qualname__)
            self.feed(digest, value.__self__, f"{where}.__self__")
            self.feed(digest, value.__func__, where)
            return
        if isinstance(value, types.FunctionType):
            self.code.feed_function(digest, value, where)
            return
        if isinstance(value, type):
            self.code.feed_class(digest, value, where)
            return
        if isinstance(value, types.ModuleType):
            self.code.feed_module(digest, value, (), where)
            return
        if isinstance(value, _DESCRIPTORS):  # e.g. str.join, object.__init__, a __slots__ member
            put(digest, "descriptor", value.__name__)
            self.code.feed_class(digest, value.__objclass__, f"{where} owner")
            return
        if isinstance(value, types.BuiltinFunctionType) and not isinstance(value.__self__, types.ModuleType):
            put(digest, "builtin-method", value.__name__)  # e.g. tuple.__new__, or a bound `[].append`
            owner = value.__self__
            if isinstance(owner, type):
                self.code.feed_class(digest, owner, f"{where} owner")
            else:
                self.feed(digest, owner, f"{where} owner")
            return
        if isinstance(value, random.Random):
            put(digest, "random.Random")
            self.feed(digest, value.getstate(), f"{where} state")
            return
        if isinstance(value, np.random.Generator):
            put(digest, "numpy.random.Generator")
            self.feed(digest, value.bit_generator.state, f"{where} state")
            return
        if isinstance(value, (logging.Logger, logging.LoggerAdapter)):  # where messages go: not what is computed
            put(digest, "logger", str(getattr(value, "name", "")))
            return
        if type(value).__module__ == "typing":
            put(digest, "typing", repr(value))
            return
        named = importable_name(value)
        if named is not None:  # builtins, numpy ufuncs and other module-level callables of libraries
            put(digest, "named", named)
            return
        wrapped = getattr(value, "__wrapped__", None)
        if wrapped is not None and callable(value):  # e.g. functools.lru_cache over your function
            put(digest, "wrapper", qualified(type(value)))
            self.feed(digest, wrapped, f"{where}.__wrapped__")
            return
        if is_plain_instance(value):
            self._feed_instance(digest, value, where)
            return
        if self._feed_reduced(digest, value, where):
            return
        self.unidentifiable(
            digest,
            value,
            where,
            f"a {type(value).__module__}.{type(value).__qualname__} has no stable identity (it would be hashed by "
            "its memory address, so the cache key would change every run)",
        )

    def _feed_reduced(self, digest: Any, value: Any, where: str) -> bool:
        """An object of a standard-library class by what pickling it would store (e.g. a namedtuple's field
        accessor); ``False`` when it is of another class or cannot be pickled (a lock, a file)."""
        if class_origin(type(value)) != python_origin() or id(value) in self.walk.active:
            return False
        if not any("__reduce__" in vars(k) or "__reduce_ex__" in vars(k) for k in type(value).__mro__[:-1]):
            return False  # pickled by default, e.g. an `object()` sentinel: compared by identity, not content
        try:
            reduced = value.__reduce_ex__(4)
        except Exception:  # noqa: BLE001  (whatever refuses pickling has no content identity)
            return False
        if not isinstance(reduced, tuple) or len(reduced) < 2:
            return False
        parts = [None if part is None else list(part) if index >= 3 else part for index, part in enumerate(reduced)]
        put(digest, "reduced", f"{type(value).__module__}.{type(value).__qualname__}")
        self.walk.active.add(id(value))
        try:
            self.feed(digest, parts, where)
        finally:
            self.walk.active.discard(id(value))
        return True

    def unidentifiable(self, digest: Any, value: Any, where: str, reason: str) -> None:
        skipped = _LENIENT.get()
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        if skipped is None:
            raise UnstableIdentityError(f"{where}: {reason}. {_HOW_TO_FIX}")
        skipped.append(f"{where} (a {kind})")
        put(digest, "unidentified", kind)

    # ------------------------------------------------------------------ code
    def memoized(self, digest: Any, tag: str, key: Any, where: str, compute: Callable[[Any], None]) -> None:
        """Feed ``key``'s own digest (computed once per walk); a reference cycle contributes the name only."""
        walk = self.walk
        if id(key) in walk.memo:
            put(digest, tag, walk.memo[id(key)][1])
            return
        if id(key) in walk.active:
            put(digest, f"{tag}-cycle", f"{defining_module(key) or ''}.{getattr(key, '__qualname__', '')}")
            return
        walk.active.add(id(key))
        sub = hashlib.sha256()
        try:
            compute(sub)
        finally:
            walk.active.discard(id(key))
        walk.memo[id(key)] = (key, sub.hexdigest())
        put(digest, tag, walk.memo[id(key)][1])

    def _feed_instance(self, digest: Any, value: Any, where: str) -> None:
        self.code.feed_class(digest, type(value), f"{where} class")
        if id(value) in self.walk.active:  # an object that refers to itself
            put(digest, "cycle", type(value).__qualname__)
            return
        self.walk.active.add(id(value))
        try:
            self.feed(digest, instance_state(value), f"{where} attribute")
        finally:
            self.walk.active.discard(id(value))

    # ------------------------------------------------------------------ pandas
    def _feed_pandas(self, digest: Any, value: Any, where: str) -> None:
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            put(digest, "dataframe", str(value.shape))
            self.feed(digest, [str(column) for column in value.columns], f"{where} columns")
            self._feed_pandas(digest, value.index, f"{where} index")
            for column in value.columns:
                self._feed_pandas(digest, value[column], f"{where}[{column!r}]")
            return
        if isinstance(value, pd.Series):
            put(digest, "series", f"{value.name!r}:{value.dtype}")
        else:
            put(digest, "index", str(value.dtype))
        values = value.to_numpy()
        if values.dtype == object:
            for index, item in enumerate(values):
                self.feed(digest, item, f"{where}[{index}]")
        else:
            digest.update(np.ascontiguousarray(values).tobytes())


def _is_pandas(value: Any) -> bool:
    module = type(value).__module__
    return (module == "pandas" or module.startswith("pandas.")) and type(value).__name__ in (
        "DataFrame",
        "Series",
        "Index",
        "RangeIndex",
    )
