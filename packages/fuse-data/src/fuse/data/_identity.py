"""Stable cache identities: the same value gives the same digest in every process, a changed value a new one.

A sample cache is only as trustworthy as the key it is stored under. The key of a pipeline is built from the
identity of every op and of every per-op keyword argument, so it must never contain a memory address (FuseMedML's
did, for any object without a ``repr`` of its own) and must change whenever code or data that produce the samples
change. What an identity covers:

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
import dis
import enum
import fractions
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import logging
import os
import pathlib
import platform
import random
import re
import site
import struct
import sys
import sysconfig
import types
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fuse.core import ParamSamplerBase

__all__ = [
    "UnstableIdentityError",
    "class_identity",
    "code_origin",
    "lenient_identity",
    "value_identity",
]

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
_MAX_SOURCE_FILES = 5000  # an editable package larger than this is identified by file sizes and times
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
    origins: dict[str, str | None] = field(default_factory=dict)  # code_origin by path, for this walk


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
    can be read (``python -c``, notebooks, ``exec``, a rewritten ``__module__``).
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
        yield walk
    finally:
        _WALK.reset(token)


# ---------------------------------------------------------------------------------------------- where code lives
def code_origin(path: str | None) -> str | None:
    """How the code in file ``path`` is identified when it is installed: ``"<distribution>==<version>"`` (plus a
    digest of the package's files for an editable install) or ``"python==<version>"`` for the standard library;
    ``None`` for your own code, which is identified by its compiled code instead.

    >>> code_origin(np.__file__).startswith("numpy==")
    True
    >>> code_origin("<stdin>") is None
    True
    """
    if not path or path.startswith("<") or not os.path.isabs(path):
        return None
    walk = _WALK.get()
    if walk is not None and path in walk.origins:
        return walk.origins[path]
    real = os.path.realpath(path)
    origin, by_files = _origin_of_real_path(real)
    if origin is not None and by_files:  # not cached for the process: an edited file (autoreload) counts
        origin = f"{origin}:{_package_digest(real)}"
    if walk is not None:
        walk.origins[path] = origin
    return origin


@functools.lru_cache(maxsize=4096)
def _origin_of_real_path(path: str) -> tuple[str | None, bool]:
    """The origin of an installed file, and whether a digest of its package's files completes it."""
    for root, name, version in _editable_distributions():
        if _is_within(path, root):
            return f"{name}=={version}+editable", True
    entry = max((e for e in _sys_path_entries() if _is_within(path, e)), key=len, default=None)
    if entry is not None:
        top = os.path.relpath(path, entry).split(os.sep)[0].split(".")[0]
        names = sorted(
            name for name in set(_top_level_distributions().get(top, ())) if _distribution_root(name) == entry
        )
        if names:
            return ",".join(f"{name}=={_distribution_version(name)}" for name in names), False
        if entry in _site_dirs():
            return f"site-packages/{top}", True
    if any(_is_within(path, directory) for directory in _stdlib_dirs()):
        return _python_origin(), False
    return None, False


def module_origin(module: types.ModuleType) -> str | None:
    """:func:`code_origin` of a module (builtin modules belong to the standard library)."""
    if module.__name__ in sys.builtin_module_names:
        return _python_origin()
    file = getattr(module, "__file__", None)
    if file is None:
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.origin in ("frozen", "built-in"):
            return _python_origin()
        return None
    return code_origin(file)


def _qualified(obj: Any) -> str:
    """``module.qualname``; a script's ``__main__`` is ``__mp_main__`` in a spawned worker, and the same code."""
    module = getattr(obj, "__module__", None)
    return f"{_MAIN_ALIASES.get(module, module) if isinstance(module, str) else module}.{obj.__qualname__}"


_MAIN_ALIASES = {"__mp_main__": "__main__"}


def _python_origin() -> str:
    return f"python=={platform.python_version()}"


def _is_within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _sys_path_entries() -> list[str]:
    return [os.path.realpath(entry) for entry in sys.path if entry and os.path.isdir(entry)]


@functools.cache
def _site_dirs() -> frozenset[str]:
    directories = [*site.getsitepackages(), site.getusersitepackages()]
    directories += [sysconfig.get_paths()[key] for key in ("purelib", "platlib")]
    return frozenset(os.path.realpath(d) for d in directories if d)


@functools.cache
def _stdlib_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(sorted({os.path.realpath(paths[key]) for key in ("stdlib", "platstdlib") if key in paths}))


@functools.cache
def _top_level_distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


@functools.cache
def _distribution_root(name: str) -> str | None:
    try:
        return os.path.realpath(str(importlib.metadata.distribution(name).locate_file("")))
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.cache
def _distribution_version(name: str) -> str:
    return importlib.metadata.version(name)


@functools.cache
def _editable_distributions() -> tuple[tuple[str, str, str], ...]:
    """``(project directory, name, version)`` of every distribution installed in editable mode (PEP 610)."""
    found = []
    for distribution in importlib.metadata.distributions():
        text = distribution.read_text("direct_url.json")
        if not text:
            continue
        try:
            direct_url = json.loads(text)
        except ValueError:
            continue
        url = direct_url.get("url", "")
        if direct_url.get("dir_info", {}).get("editable") and url.startswith("file:"):
            root = os.path.realpath(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
            found.append((root, distribution.metadata["Name"], distribution.version))
    return tuple(sorted(found, key=lambda item: -len(item[0])))  # the innermost project first


def _package_digest(path: str) -> str:
    """A digest of the ``.py`` files of the outermost regular package holding ``path`` (the file alone outside a
    package): what an editable or unversioned install is identified by."""
    directory = os.path.dirname(path)
    if not os.path.isfile(os.path.join(directory, "__init__.py")):
        return _files_digest((path,), os.path.dirname(path))
    while os.path.isfile(os.path.join(os.path.dirname(directory), "__init__.py")):
        directory = os.path.dirname(directory)
    return _directory_digest(directory)


def _directory_digest(directory: str) -> str:
    """Recomputed when a file's size or modification time changed since the last call (in this process)."""
    files = sorted(str(p) for p in pathlib.Path(directory).rglob("*.py"))
    stats = []
    for file in files:
        try:
            stat = os.stat(file)
            stats.append((file, stat.st_size, stat.st_mtime_ns))
        except OSError:
            stats.append((file, -1, -1))
    known = _DIRECTORY_DIGESTS.get(directory)
    if known is not None and known[0] == stats:
        return known[1]
    digest = _files_digest(tuple(files), directory)
    _DIRECTORY_DIGESTS[directory] = (stats, digest)
    return digest


_DIRECTORY_DIGESTS: dict[str, tuple[list[tuple[str, int, int]], str]] = {}


def _files_digest(files: tuple[str, ...], base: str) -> str:
    digest = hashlib.sha256()
    by_content = len(files) <= _MAX_SOURCE_FILES
    for file in files:
        digest.update(f"{os.path.relpath(file, base)}\n".encode())
        try:
            if by_content:
                digest.update(pathlib.Path(file).read_bytes())
            else:
                stat = os.stat(file)
                digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()[:16]


def _function_origin(func: types.FunctionType) -> str | None:
    origin = code_origin(func.__code__.co_filename)
    if origin is None and "<" not in func.__qualname__:  # e.g. a wheel of .pyc files compiled elsewhere
        module = sys.modules.get(func.__module__)
        if module is not None and _resolve(module, func.__qualname__) is func:
            return module_origin(module)
    return origin


def _class_origin(cls: type) -> str | None:
    """An importable class is where its module is; another one (defined in a function, by ``exec``, or with a
    rewritten ``__module__``) is installed only when all its own methods were compiled from installed files."""
    module = sys.modules.get(cls.__module__)
    if module is not None and _resolve(module, cls.__qualname__) is cls:
        return module_origin(module)
    origins = {
        _function_origin(func)
        for member in vars(cls).values()
        for func in _member_functions(member)
        if isinstance(func, types.FunctionType) and not hasattr(func, "__wrapped__")
    }
    return min(origins) if origins and None not in origins else None  # type: ignore[type-var]


def _resolve(module: types.ModuleType, qualname: str) -> Any:
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            return None
    return target


def _member_functions(member: Any) -> list[Any]:
    """The functions behind a class attribute (methods, static and class methods, properties)."""
    if isinstance(member, (staticmethod, classmethod)):
        return [member.__func__]
    if isinstance(member, property):
        return [f for f in (member.fget, member.fset, member.fdel) if f is not None]
    if isinstance(member, functools.cached_property):
        return [member.func]
    if isinstance(member, types.FunctionType):
        return [member]
    return []


# ---------------------------------------------------------------------------------------------- code
def code_identity(code: types.CodeType) -> str:
    """What a code object runs: bytecode, constants (nested code included), names, arguments and flags; not its
    line numbers, so moving a function leaves its identity alone.

    >>> code_identity((lambda x: x + 1).__code__) == code_identity((lambda x: x + 1).__code__)
    True
    """
    constants = [_constant(c) for c in code.co_consts]
    shape = (code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags)
    return (
        f"{code.co_code.hex()}|{constants}|{code.co_names}|{code.co_varnames}|{code.co_freevars}|"
        f"{code.co_cellvars}|{shape}|{getattr(code, 'co_exceptiontable', b'').hex()}"
    )


def _constant(value: Any) -> str:
    if isinstance(value, types.CodeType):
        return code_identity(value)
    if isinstance(value, frozenset):  # `x in {"a", "b"}`: its repr order changes with the hash seed
        return f"frozenset{sorted(_constant(item) for item in value)}"
    if isinstance(value, tuple):
        return f"({', '.join(_constant(item) for item in value)})"
    return repr(value)


_GLOBAL_OPS = frozenset(
    {"LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL", "LOAD_NAME", "STORE_NAME", "DELETE_NAME",
     "LOAD_FROM_DICT_OR_GLOBALS"}
)  # fmt: skip
_ATTRIBUTE_OPS = frozenset({"LOAD_ATTR", "LOAD_METHOD", "STORE_ATTR", "DELETE_ATTR", "IMPORT_FROM", "LOAD_SUPER_ATTR"})


@dataclass(frozen=True)
class _References:
    """The names a code object (and the code nested in it) uses: as globals, as attributes, and the modules it
    imports at run time (``(name, level)`` of ``import x`` / ``from .x import y`` inside a function)."""

    globals: frozenset[str]
    attributes: frozenset[str]
    imports: tuple[tuple[str, int], ...]


@functools.lru_cache(maxsize=4096)
def _code_references(code: types.CodeType) -> _References:
    global_names: set[str] = set()
    attributes: set[str] = set()
    imports: list[tuple[str, int]] = []
    constants: list[Any] = [None, None]
    for instruction in dis.get_instructions(code):
        if instruction.opname in _GLOBAL_OPS:
            global_names.add(instruction.argval)
        elif instruction.opname in _ATTRIBUTE_OPS:
            attributes.add(instruction.argval)
        elif instruction.opname == "IMPORT_NAME":
            level = constants[-2]
            imports.append((instruction.argval, level if isinstance(level, int) else 0))
        if instruction.opname == "LOAD_CONST":
            constants = [constants[-1], instruction.argval]
    # a name used in a way not recognized above (another Python version's opcodes) counts as a global: safe
    global_names |= set(code.co_names) - attributes - {name for name, _ in imports}
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            nested = _code_references(constant)
            global_names |= nested.globals
            attributes |= nested.attributes
            imports.extend(nested.imports)
    return _References(frozenset(global_names), frozenset(attributes), tuple(sorted(set(imports))))


# ---------------------------------------------------------------------------------------------- the walk
def _sort_key(key: Any) -> str:
    """Orders mapping keys the same way in every process (the repr of a frozenset key depends on the hash seed)."""
    return f"0{key!r}" if isinstance(key, _SCALARS) else f"1{value_identity(key, 'key')}"


def _is_tensor(value: Any) -> bool:
    return all(hasattr(value, attribute) for attribute in ("detach", "cpu", "numpy", "dtype", "shape"))


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
            _put(digest, "sampler", f"{type(value).__module__}.{type(value).__qualname__}")
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
        if _is_tensor(value):
            _put(digest, "tensor", f"{value.dtype}:{tuple(value.shape)}")
            array = value.detach().cpu()
            try:
                numpy_array = array.numpy()
            except (TypeError, RuntimeError):  # e.g. bfloat16: no numpy dtype
                numpy_array = array.float().numpy()
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
        named = _importable_name(value)
        if named is not None:  # builtins, numpy ufuncs and other module-level callables of libraries
            _put(digest, "named", named)
            return
        wrapped = getattr(value, "__wrapped__", None)
        if wrapped is not None and callable(value):  # e.g. functools.lru_cache over your function
            _put(digest, "wrapper", f"{type(value).__module__}.{type(value).__qualname__}")
            self.feed(digest, wrapped, f"{where}.__wrapped__")
            return
        if _is_plain_instance(value):
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
        if _class_origin(type(value)) != _python_origin() or id(value) in self._walk.active:
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
            _put(digest, f"{tag}-cycle", f"{getattr(key, '__module__', '')}.{getattr(key, '__qualname__', '')}")
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
        origin = _function_origin(func)
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
        references = _code_references(func.__code__)
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
        origin = _class_origin(cls)
        if origin is not None:
            _put(digest, "installed-class", f"{name}@{origin}")
            return
        if _has_no_code(cls):
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
                functions = _member_functions(member)
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


def instance_state(value: Any) -> dict[str, Any]:
    """An object's attributes (``__dict__`` and ``__slots__``), by name."""
    state = dict(getattr(value, "__dict__", {}))
    for klass in type(value).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for slot in [slots] if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__") and hasattr(value, slot):
                state[slot] = getattr(value, slot)
    return state


def _is_plain_instance(value: Any) -> bool:
    """An instance of a pure-Python class (yours, or an installed one), whose behaviour is its class (identified
    with its bases) plus its attributes: no base keeps state in C (``int``, ``dict``, ``ndarray``, a lock)."""
    cls = type(value)
    if not hasattr(value, "__dict__") and not any("__slots__" in vars(k) for k in cls.__mro__):
        return False
    if any(k is not object and not k.__flags__ & _HEAP_TYPE for k in cls.__mro__):
        return False
    slots = 0
    for klass in cls.__mro__:
        declared = klass.__dict__.get("__slots__", ())
        slots += len([n for n in ([declared] if isinstance(declared, str) else declared) if n not in _SPECIAL_SLOTS])
    return cls.__basicsize__ - slots * _POINTER in _PLAIN_SIZES


class _Plain:
    pass


class _PlainNoWeakref:
    __slots__ = ("__dict__",)


class _PlainWeakref:
    __slots__ = ("__weakref__",)


class _PlainBare:
    __slots__ = ()


_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: created by a class statement, type() or exec
_POINTER = struct.calcsize("P")
_SPECIAL_SLOTS = ("__dict__", "__weakref__")
# the instance sizes of pure-Python classes (with or without __dict__ / __weakref__), before their __slots__
_PLAIN_SIZES = frozenset(k.__basicsize__ for k in (_Plain, _PlainNoWeakref, _PlainWeakref, _PlainBare))


def _has_no_code(cls: type) -> bool:
    """A class of your code whose layout is defined in C (no Python function anywhere in it or its bases)."""
    if cls.__dict__.get("__module__") is None:
        return False
    return not getattr(cls, "__flags__", 0) & _HEAP_TYPE


def _is_pandas(value: Any) -> bool:
    module = type(value).__module__
    return (module == "pandas" or module.startswith("pandas.")) and type(value).__name__ in (
        "DataFrame",
        "Series",
        "Index",
        "RangeIndex",
    )


def _importable_name(value: Any) -> str | None:
    """``module.qualname@origin`` when that path leads back to ``value`` in an installed module (a library function,
    a builtin, a ufunc); ``None`` for anything of your own code."""
    module_name = getattr(value, "__module__", None) or ("numpy" if isinstance(value, np.ufunc) else None)
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    if _resolve(module, qualname) is not value:
        return None
    origin = module_origin(module)
    return None if origin is None else f"{module_name}.{qualname}@{origin}"
