"""Stable cache identities: the same value gives the same digest in every process, a changed value a new one.

A sample cache is only as trustworthy as the key it is stored under. The key of a pipeline is built from the
identity of every op (class, constructor arguments, source code) and of every per-op keyword argument, so it
must never contain a memory address (FuseMedML's did, for any object without a ``repr`` of its own) and must
change whenever code or data that produce the samples change.

>>> import numpy as np
>>> value_identity({"mean": 0.5, "weights": np.arange(3)}) == value_identity({"weights": np.arange(3), "mean": 0.5})
True
>>> value_identity(np.arange(3)) == value_identity(np.arange(3.0))
False
"""

from __future__ import annotations

import enum
import functools
import hashlib
import inspect
import pathlib
import types
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fuse.core import ParamSamplerBase

__all__ = ["UnstableIdentityError", "callable_source_identity", "class_identity", "value_identity"]

_SCALARS = (type(None), bool, int, float, complex, str, bytes)


class UnstableIdentityError(TypeError):
    """A value has no stable identity (it would be hashed by memory address), so it cannot key a sample cache."""


def value_identity(value: Any, where: str = "value") -> str:
    """A hex digest that identifies ``value`` by content, stable across processes and runs.

    Handles numbers, strings, bytes, ``None``, enums, paths, tuples / lists / dicts / sets (recursively),
    numpy arrays and scalars (dtype, shape and bytes), pandas DataFrames / Series / Index (content), tensors
    (by duck typing), functions and lambdas (qualified name, source, defaults and closure values),
    ``functools.partial``, classes (qualified name and source), fuse param samplers (their parameters), and any
    object with a ``cache_identity() -> str`` method (ops, pipelines). Anything else raises
    :class:`UnstableIdentityError` naming ``where``.

    >>> value_identity(lambda x: x + 1) == value_identity(lambda x: x + 2)
    False
    """
    digest = hashlib.sha256()
    _feed(digest, value, where, set())
    return digest.hexdigest()


@functools.cache  # per class object: a redefined or reloaded class is a new key
def class_identity(cls: type) -> str:
    """Qualified name and source code of ``cls`` and of its bases (except ``object`` and ``abc`` classes)."""
    digest = hashlib.sha256()
    for klass in cls.__mro__:
        if klass.__module__ in ("builtins", "abc", "typing"):
            continue
        digest.update(f"class:{klass.__module__}.{klass.__qualname__}\n".encode())
        digest.update(_class_source(klass).encode())
    return digest.hexdigest()


def callable_source_identity(func: Callable[..., Any]) -> str:
    """The source of a function (its bytecode where the source is not available, e.g. in ``python -c``)."""
    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        code = getattr(func, "__code__", None)
        return _code_identity(code) if code is not None else ""


def _class_source(klass: type) -> str:
    try:
        return inspect.getsource(klass)
    except (OSError, TypeError):  # __module__ renamed, or defined interactively: identify its methods one by one
        parts = []
        for name, member in sorted(vars(klass).items()):
            function = getattr(member, "__func__", getattr(member, "fget", member))
            if getattr(function, "__code__", None) is not None:
                parts.append(f"{name}:{callable_source_identity(function)}")
        return "\n".join(parts)


def _code_identity(code: types.CodeType) -> str:
    def constant(value: Any) -> str:
        if isinstance(value, types.CodeType):
            return _code_identity(value)
        if isinstance(value, frozenset):  # `x in {"a", "b"}`: its repr order changes with the hash seed
            return f"frozenset{sorted(constant(item) for item in value)}"
        return repr(value)

    constants = [constant(c) for c in code.co_consts]
    return f"{code.co_code.hex()}|{constants}|{code.co_names}|{code.co_varnames}"


def _is_tensor(value: Any) -> bool:
    return all(hasattr(value, attribute) for attribute in ("detach", "cpu", "numpy", "dtype", "shape"))


def _feed(digest: Any, value: Any, where: str, active: set[int]) -> None:
    def put(tag: str, text: str = "") -> None:
        digest.update(f"{tag}:{len(text)}:{text}|".encode())

    if isinstance(value, _SCALARS):
        put(type(value).__name__, repr(value))
        return
    if isinstance(value, enum.Enum):
        put("enum", f"{type(value).__module__}.{type(value).__qualname__}.{value.name}")
        return
    if isinstance(value, pathlib.PurePath):
        put("path", str(value))
        return
    if isinstance(value, np.dtype):
        put("npdtype", f"{value.str}:{value}")
        return
    if type(value).__module__ == "torch" and type(value).__name__ in ("dtype", "device"):
        put(f"torch.{type(value).__name__}", str(value))
        return
    if isinstance(value, np.generic):
        put("npscalar", f"{value.dtype.str}:{value.tobytes().hex()}" if value.dtype != object else repr(value))
        return
    if hasattr(value, "cache_identity") and callable(value.cache_identity) and not isinstance(value, type):
        put("identity", f"{type(value).__qualname__}:{value.cache_identity()}")
        return
    if isinstance(value, ParamSamplerBase):
        put("sampler", f"{type(value).__module__}.{type(value).__qualname__}")
        _feed(digest, value._params(), where, active)
        return

    container = isinstance(value, (list, tuple, dict, set, frozenset, Mapping, np.ndarray))
    if container:
        if id(value) in active:
            raise UnstableIdentityError(f"{where}: a value contains itself, so it has no finite identity")
        active.add(id(value))
    try:
        _feed_structured(digest, value, where, active, put)
    finally:
        if container:
            active.discard(id(value))


def _feed_structured(digest: Any, value: Any, where: str, active: set[int], put: Callable[..., None]) -> None:
    if isinstance(value, (list, tuple)):
        put(type(value).__name__, str(len(value)))
        for index, item in enumerate(value):
            _feed(digest, item, f"{where}[{index}]", active)
        return
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda item: repr(item[0]))
        put("mapping", str(len(items)))
        for key, item in items:
            _feed(digest, key, f"{where} key", active)
            _feed(digest, item, f"{where}[{key!r}]", active)
        return
    if isinstance(value, (set, frozenset)):
        put("set", str(len(value)))
        for item_digest in sorted(value_identity(item, f"{where} item") for item in value):
            put("item", item_digest)
        return
    if isinstance(value, np.ndarray):
        put("ndarray", f"{value.dtype.str}:{value.shape}")
        if value.dtype == object:
            for index, item in enumerate(value.reshape(-1)):
                _feed(digest, item, f"{where}[{index}]", active)
        else:
            digest.update(np.ascontiguousarray(value).tobytes())
        return
    if _is_pandas(value):
        _feed_pandas(digest, value, where, active, put)
        return
    if _is_tensor(value):
        put("tensor", f"{value.dtype}:{tuple(value.shape)}")
        array = value.detach().cpu()
        try:
            numpy_array = array.numpy()
        except (TypeError, RuntimeError):  # e.g. bfloat16: no numpy dtype
            numpy_array = array.float().numpy()
        digest.update(np.ascontiguousarray(numpy_array).tobytes())
        return
    if isinstance(value, functools.partial):
        put("partial")
        _feed(digest, value.func, f"{where}.func", active)
        _feed(digest, value.args, f"{where}.args", active)
        _feed(digest, value.keywords, f"{where}.keywords", active)
        return
    if isinstance(value, types.MethodType):
        put("method", value.__func__.__qualname__)
        _feed(digest, value.__self__, f"{where}.__self__", active)
        _feed(digest, value.__func__, where, active)
        return
    if isinstance(value, types.FunctionType):
        _feed_function(digest, value, where, active, put)
        return
    if isinstance(value, type):
        put("class", class_identity(value))
        return
    named = _importable_name(value)
    if named is not None:  # builtins, numpy ufuncs and other module-level callables of libraries
        put("named", named)
        return
    raise UnstableIdentityError(
        f"{where}: a {type(value).__module__}.{type(value).__qualname__} has no stable identity (it would be hashed "
        "by its memory address, so the cache key would change every run). Pass plain values (numbers, strings, "
        "arrays, DataFrames, functions), or give the class a `cache_identity(self) -> str` method that returns a "
        "description of everything that affects its results"
    )


def _feed_function(
    digest: Any, func: types.FunctionType, where: str, active: set[int], put: Callable[..., None]
) -> None:
    put("function", f"{func.__module__}.{func.__qualname__}")
    put("source", callable_source_identity(func))
    if func.__name__ == "<lambda>":  # the source of a lambda is its whole line, which may hold other lambdas
        put("code", _code_identity(func.__code__))
    _feed(digest, func.__defaults__ or (), f"{where} defaults", active)
    _feed(digest, func.__kwdefaults__ or {}, f"{where} keyword defaults", active)
    for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=True):
        try:
            content = cell.cell_contents
        except ValueError:  # an empty cell (a name not yet bound)
            content = None
        if content is func:
            continue  # a recursive function refers to itself
        _feed(digest, content, f"{where} (closure variable {name!r})", active)


def _is_pandas(value: Any) -> bool:
    module = type(value).__module__
    return (module == "pandas" or module.startswith("pandas.")) and type(value).__name__ in (
        "DataFrame",
        "Series",
        "Index",
        "RangeIndex",
    )


def _feed_pandas(digest: Any, value: Any, where: str, active: set[int], put: Callable[..., None]) -> None:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        put("dataframe", str(value.shape))
        _feed(digest, [str(column) for column in value.columns], f"{where} columns", active)
        _feed_pandas(digest, value.index, f"{where} index", active, put)
        for column in value.columns:
            _feed_pandas(digest, value[column], f"{where}[{column!r}]", active, put)
        return
    if isinstance(value, pd.Series):
        put("series", f"{value.name!r}:{value.dtype}")
    else:
        put("index", str(value.dtype))
    values = value.to_numpy()
    if values.dtype == object:
        for index, item in enumerate(values):
            _feed(digest, item, f"{where}[{index}]", active)
    else:
        digest.update(np.ascontiguousarray(values).tobytes())


def _importable_name(value: Any) -> str | None:
    """``module.qualname`` when that path leads back to ``value`` (a library function, a builtin, a ufunc)."""
    module_name = getattr(value, "__module__", None) or ("numpy" if isinstance(value, np.ufunc) else None)
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if not module_name or not qualname or "<" in qualname:
        return None
    import importlib

    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return None
    return f"{module_name}.{qualname}" if target is value else None
