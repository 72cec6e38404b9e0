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
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import pathlib
import random
import re
import types
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fuse.core import ParamSamplerBase, defining_module, is_tensor, to_numpy
from fuse.data.cache._code import code_identity, code_references, has_no_code, instance_state, is_plain_instance
from fuse.data.cache._origin import (
    class_origin,
    function_origin,
    importable_name,
    member_functions,
    module_origin,
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
# class attributes that describe the class rather than what it computes (and hold values without an identity)
_CLASS_BOOKKEEPING = frozenset(
    {"__dict__", "__weakref__", "__module__", "__qualname__", "__doc__", "__firstlineno__", "__static_attributes__",
     "__annotations__", "__orig_bases__", "__parameters__", "__dataclass_fields__", "__dataclass_params__",
     "__abstractmethods__", "__slotnames__", "__match_args__"}
)  # fmt: skip

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
        _Feeder(walk).feed_class(digest, cls, cls.__qualname__)
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


def _qualified(obj: Any) -> str:
    """``module.qualname`` with the module that defines ``obj`` (never a published ``__module__``, see
    :func:`fuse.core.defining_module`); a script's ``__main__`` is ``__mp_main__`` in a spawned worker, and the
    same code."""
    module = defining_module(obj)
    return f"{_MAIN_ALIASES.get(module, module) if isinstance(module, str) else module}.{obj.__qualname__}"


_MAIN_ALIASES = {"__mp_main__": "__main__"}


# ---------------------------------------------------------------------------------------------- the walk
def _sort_key(key: Any) -> str:
    """Orders mapping keys the same way in every process (the repr of a frozenset key depends on the hash seed)."""
    return f"0{key!r}" if isinstance(key, _SCALARS) else f"1{value_identity(key, 'key')}"


def _put(digest: Any, tag: str, text: str = "") -> None:
    digest.update(f"{tag}:{len(text)}:{text}|".encode())


class _Feeder:
    def __init__(self, walk: _Walk) -> None:
        self._walk = walk

    def feed(self, digest: Any, value: Any, where: str) -> None:
        if isinstance(value, _SCALARS):
            _put(digest, type(value).__name__, repr(value))
            return
        if isinstance(value, enum.Enum):
            _put(digest, "enum", f"{_qualified(type(value))}.{value.name}")
            self.feed(digest, value.value, f"{where}.value")
            return
        if isinstance(value, pathlib.PurePath):
            _put(digest, "path", str(value))
            return
        if isinstance(value, _REPR_EXACT):
            _put(digest, type(value).__qualname__, repr(value))
            return
        if isinstance(value, re.Pattern):
            _put(digest, "regex", f"{value.pattern!r}:{value.flags}")
            return
        if isinstance(value, inspect.Signature):  # e.g. in the closure of a decorator's wrapper
            _put(digest, "signature")
            parameters = [(p.name, p.kind.name, p.default) for p in value.parameters.values()]
            self.feed(digest, parameters, f"{where} parameters")
            return
        if isinstance(value, np.dtype):
            _put(digest, "npdtype", f"{value.str}:{value}")
            return
        if type(value).__module__ == "torch" and type(value).__name__ in ("dtype", "device"):
            _put(digest, f"torch.{type(value).__name__}", str(value))
            return
        if isinstance(value, np.generic):
            text = f"{value.dtype.str}:{value.tobytes().hex()}" if value.dtype != object else repr(value)
            _put(digest, "npscalar", text)
            return
        if hasattr(value, "cache_identity") and callable(value.cache_identity) and not isinstance(value, type):
            self._feed_described(digest, value, where)
            return
        if isinstance(value, ParamSamplerBase):
            _put(digest, "sampler", _qualified(type(value)))
            self.feed(digest, value._params(), where)
            return
        container = isinstance(value, (list, tuple, dict, set, frozenset, Mapping, np.ndarray))
        if container:
            if id(value) in self._walk.active:
                raise UnstableIdentityError(f"{where}: a value contains itself, so it has no finite identity")
            self._walk.active.add(id(value))
        try:
            self._feed_structured(digest, value, where)
        finally:
            if container:
                self._walk.active.discard(id(value))

    def _feed_described(self, digest: Any, value: Any, where: str) -> None:
        if id(value) in self._walk.active:  # e.g. an op whose attribute is a closure over the op itself
            _put(digest, "cycle", type(value).__qualname__)
            return
        self._walk.active.add(id(value))
        try:
            _put(digest, "identity", f"{type(value).__qualname__}:{value.cache_identity()}")
        finally:
            self._walk.active.discard(id(value))

    def _feed_structured(self, digest: Any, value: Any, where: str) -> None:
        if isinstance(value, (list, tuple)):
            _put(digest, type(value).__name__, str(len(value)))
            for index, item in enumerate(value):
                self.feed(digest, item, f"{where}[{index}]")
            return
        if isinstance(value, Mapping):
            items = sorted(value.items(), key=lambda item: _sort_key(item[0]))
            _put(digest, "mapping", str(len(items)))
            for key, item in items:
                self.feed(digest, key, f"{where} key")
                self.feed(digest, item, f"{where}[{key!r}]")
            return
        if isinstance(value, (set, frozenset)):
            _put(digest, "set", str(len(value)))
            for item_digest in sorted(value_identity(item, f"{where} item") for item in value):
                _put(digest, "item", item_digest)
            return
        if isinstance(value, np.ndarray):
            _put(digest, "ndarray", f"{value.dtype.str}:{value.shape}")
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
            _put(digest, "tensor", f"{value.dtype}:{tuple(value.shape)}")
            try:
                numpy_array = to_numpy(value)
            except (TypeError, RuntimeError):  # a dtype numpy lacks beyond bfloat16 (e.g. float8)
                numpy_array = to_numpy(value.float())
            digest.update(np.ascontiguousarray(numpy_array).tobytes())
            return
        self._feed_code_or_object(digest, value, where)

    def _feed_code_or_object(self, digest: Any, value: Any, where: str) -> None:
        if isinstance(value, functools.partial):
            _put(digest, "partial")
            self.feed(digest, value.func, f"{where}.func")
            self.feed(digest, value.args, f"{where}.args")
            self.feed(digest, value.keywords, f"{where}.keywords")
            return
        if isinstance(value, types.MethodType):
            _put(digest, "method", value.__func__.__qualname__)
            self.feed(digest, value.__self__, f"{where}.__self__")
            self.feed(digest, value.__func__, where)
            return
        if isinstance(value, types.FunctionType):
            self.feed_function(digest, value, where)
            return
        if isinstance(value, type):
            self.feed_class(digest, value, where)
            return
        if isinstance(value, types.ModuleType):
            self.feed_module(digest, value, (), where)
            return
        if isinstance(value, _DESCRIPTORS):  # e.g. str.join, object.__init__, a __slots__ member
            _put(digest, "descriptor", value.__name__)
            self.feed_class(digest, value.__objclass__, f"{where} owner")
            return
        if isinstance(value, types.BuiltinFunctionType) and not isinstance(value.__self__, types.ModuleType):
            _put(digest, "builtin-method", value.__name__)  # e.g. tuple.__new__, or a bound `[].append`
            owner = value.__self__
            if isinstance(owner, type):
                self.feed_class(digest, owner, f"{where} owner")
            else:
                self.feed(digest, owner, f"{where} owner")
            return
        if isinstance(value, random.Random):
            _put(digest, "random.Random")
            self.feed(digest, value.getstate(), f"{where} state")
            return
        if isinstance(value, np.random.Generator):
            _put(digest, "numpy.random.Generator")
            self.feed(digest, value.bit_generator.state, f"{where} state")
            return
        if isinstance(value, (logging.Logger, logging.LoggerAdapter)):  # where messages go: not what is computed
            _put(digest, "logger", str(getattr(value, "name", "")))
            return
        if type(value).__module__ == "typing":
            _put(digest, "typing", repr(value))
            return
        named = importable_name(value)
        if named is not None:  # builtins, numpy ufuncs and other module-level callables of libraries
            _put(digest, "named", named)
            return
        wrapped = getattr(value, "__wrapped__", None)
        if wrapped is not None and callable(value):  # e.g. functools.lru_cache over your function
            _put(digest, "wrapper", _qualified(type(value)))
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
        if class_origin(type(value)) != python_origin() or id(value) in self._walk.active:
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
        _put(digest, "reduced", f"{type(value).__module__}.{type(value).__qualname__}")
        self._walk.active.add(id(value))
        try:
            self.feed(digest, parts, where)
        finally:
            self._walk.active.discard(id(value))
        return True

    def unidentifiable(self, digest: Any, value: Any, where: str, reason: str) -> None:
        skipped = _LENIENT.get()
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        if skipped is None:
            raise UnstableIdentityError(f"{where}: {reason}. {_HOW_TO_FIX}")
        skipped.append(f"{where} (a {kind})")
        _put(digest, "unidentified", kind)

    # ------------------------------------------------------------------ code
    def _memoized(self, digest: Any, tag: str, key: Any, where: str, compute: Callable[[Any], None]) -> None:
        """Feed ``key``'s own digest (computed once per walk); a reference cycle contributes the name only."""
        walk = self._walk
        if id(key) in walk.memo:
            _put(digest, tag, walk.memo[id(key)][1])
            return
        if id(key) in walk.active:
            _put(digest, f"{tag}-cycle", f"{defining_module(key) or ''}.{getattr(key, '__qualname__', '')}")
            return
        walk.active.add(id(key))
        sub = hashlib.sha256()
        try:
            compute(sub)
        finally:
            walk.active.discard(id(key))
        walk.memo[id(key)] = (key, sub.hexdigest())
        _put(digest, tag, walk.memo[id(key)][1])

    def feed_function(self, digest: Any, func: types.FunctionType, where: str) -> None:
        name = _qualified(func)
        origin = function_origin(func)
        if origin is not None:  # installed: its version stands for its code; closures still carry values
            _put(digest, "installed-function", f"{name}@{origin}")
            if func.__closure__ or func.__defaults__ or func.__kwdefaults__:
                self._feed_bindings(digest, func, where)
            return

        def compute(sub: Any) -> None:
            _put(sub, "function", name)
            _put(sub, "code", code_identity(func.__code__))
            self._feed_bindings(sub, func, where)
            self._feed_globals(sub, func, where)

        self._memoized(digest, "function", func, where, compute)

    def _feed_bindings(self, digest: Any, func: types.FunctionType, where: str) -> None:
        self.feed(digest, func.__defaults__ or (), f"{where} defaults")
        self.feed(digest, func.__kwdefaults__ or {}, f"{where} keyword defaults")
        for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=True):
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell (a name not yet bound)
                content = None
            if content is func:
                continue  # a recursive function refers to itself
            self.feed(digest, content, f"{where} (closure variable {name!r})")

    def _feed_globals(self, digest: Any, func: types.FunctionType, where: str) -> None:
        references = code_references(func.__code__)
        module_globals = func.__globals__
        module_name = module_globals.get("__name__", "?")
        for name in sorted(references.globals):
            if name not in module_globals or (name.startswith("__") and name.endswith("__")):
                continue  # a builtin, or module bookkeeping
            value = module_globals[name]
            if value is func:
                continue
            _put(digest, "global", name)
            label = f"{func.__qualname__} -> global {name!r} of module {module_name!r}"
            if isinstance(value, types.ModuleType):
                self.feed_module(digest, value, references.attributes, label)
            else:
                self.feed(digest, value, label)
        for name, level in references.imports:
            _put(digest, "import", f"{name}:{level}")
            label = f"{func.__qualname__} -> import of {'.' * level}{name} in module {module_name!r}"
            try:
                absolute = importlib.util.resolve_name("." * level + name, module_globals.get("__package__"))
                module = importlib.import_module(absolute)  # what the function imports when it runs
            except (ImportError, ValueError):  # e.g. an optional dependency: the function cannot import it either
                _put(digest, "missing-module", name)
                continue
            self.feed_module(digest, module, references.attributes, label)

    def feed_module(self, digest: Any, module: types.ModuleType, names: Iterable[str], where: str) -> None:
        """An installed module by its origin; your module by the attributes among ``names`` (those the referring
        code may use), so that ``helpers.scale(...)`` follows ``scale`` without walking all of ``helpers``."""
        origin = module_origin(module)
        if origin is not None:
            _put(digest, "module", f"{module.__name__}@{origin}")
            return
        _put(digest, "user-module", _MAIN_ALIASES.get(module.__name__, module.__name__))
        names = frozenset(names)
        if id(module) in self._walk.active:
            return
        self._walk.active.add(id(module))
        try:
            namespace = vars(module)
            for name in sorted(n for n in names if n in namespace and not (n.startswith("__") and n.endswith("__"))):
                value = namespace[name]
                _put(digest, "attribute", name)
                if isinstance(value, types.ModuleType):
                    self.feed_module(digest, value, names, f"{where}.{name}")
                else:
                    self.feed(digest, value, f"{where}.{name}")
        finally:
            self._walk.active.discard(id(module))

    def feed_class(self, digest: Any, cls: type, where: str) -> None:
        name = _qualified(cls)
        origin = class_origin(cls)
        if origin is not None:
            _put(digest, "installed-class", f"{name}@{origin}")
            return
        if has_no_code(cls):
            _put(digest, "class", name)
            self.unidentifiable(
                digest,
                cls,
                where,
                f"class {name} is compiled code outside any installed distribution, so neither its version nor its "
                "code can identify it; install it as a package (its version then identifies it)",
            )
            return

        def compute(sub: Any) -> None:
            _put(sub, "class", name)
            for attribute, member in sorted(vars(cls).items()):
                if attribute in _CLASS_BOOKKEEPING or attribute.startswith("_abc_"):
                    continue
                functions = member_functions(member)
                if functions:
                    _put(sub, "member", f"{attribute}:{type(member).__name__}")
                    for func in functions:
                        self.feed(sub, func, f"{where}.{attribute}")
                elif isinstance(member, type) or not (attribute.startswith("__") and attribute.endswith("__")):
                    _put(sub, "member", attribute)
                    self.feed(sub, member, f"{where}.{attribute}")
            if type(cls) is not type:
                self.feed_class(sub, type(cls), f"{where} metaclass")
            for base in cls.__bases__:
                if base is not object:
                    self.feed_class(sub, base, f"{where} base {base.__qualname__}")

        self._memoized(digest, "class", cls, where, compute)

    def _feed_instance(self, digest: Any, value: Any, where: str) -> None:
        self.feed_class(digest, type(value), f"{where} class")
        if id(value) in self._walk.active:  # an object that refers to itself
            _put(digest, "cycle", type(value).__qualname__)
            return
        self._walk.active.add(id(value))
        try:
            self.feed(digest, instance_state(value), f"{where} attribute")
        finally:
            self._walk.active.discard(id(value))

    # ------------------------------------------------------------------ pandas
    def _feed_pandas(self, digest: Any, value: Any, where: str) -> None:
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            _put(digest, "dataframe", str(value.shape))
            self.feed(digest, [str(column) for column in value.columns], f"{where} columns")
            self._feed_pandas(digest, value.index, f"{where} index")
            for column in value.columns:
                self._feed_pandas(digest, value[column], f"{where}[{column!r}]")
            return
        if isinstance(value, pd.Series):
            _put(digest, "series", f"{value.name!r}:{value.dtype}")
        else:
            _put(digest, "index", str(value.dtype))
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
