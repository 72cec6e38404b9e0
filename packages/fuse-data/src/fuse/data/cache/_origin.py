"""Where code lives: whether a file, module, function or class is installed (and then identified by its
distribution and version) or is your own code (identified by what it runs, see :mod:`fuse.data.cache._identity`).

>>> code_origin(np.__file__).startswith("numpy==")
True
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.metadata
import json
import os
import pathlib
import platform
import site
import sys
import sysconfig
import types
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import numpy as np

from fuse.core import defining_module

__all__ = [
    "class_module",
    "class_origin",
    "code_origin",
    "function_origin",
    "importable_name",
    "member_functions",
    "module_origin",
    "python_origin",
    "remembered_origins",
    "resolve",
]

_MAX_SOURCE_FILES = 5000  # an editable package larger than this is identified by file sizes and times
_ORIGINS: ContextVar[dict[str, str | None] | None] = ContextVar("fuse_identity_origins", default=None)


@contextlib.contextmanager
def remembered_origins() -> Iterator[None]:
    """Within the block (one identity computation), the origin of each file is computed once."""
    if _ORIGINS.get() is not None:
        yield
        return
    token = _ORIGINS.set({})
    try:
        yield
    finally:
        _ORIGINS.reset(token)


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
    remembered = _ORIGINS.get()
    if remembered is not None and path in remembered:
        return remembered[path]
    real = os.path.realpath(path)
    origin, by_files = _origin_of_real_path(real)
    if origin is not None and by_files:  # not cached for the process: an edited file (autoreload) counts
        origin = f"{origin}:{_package_digest(real)}"
    if remembered is not None:
        remembered[path] = origin
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
        return python_origin(), False
    return None, False


def module_origin(module: types.ModuleType) -> str | None:
    """:func:`code_origin` of a module (builtin modules belong to the standard library)."""
    if module.__name__ in sys.builtin_module_names:
        return python_origin()
    file = getattr(module, "__file__", None)
    if file is None:
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.origin in ("frozen", "built-in"):
            return python_origin()
        return None
    return code_origin(file)


def python_origin() -> str:
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


def function_origin(func: types.FunctionType) -> str | None:
    origin = code_origin(func.__code__.co_filename)
    if origin is None and "<" not in func.__qualname__:  # e.g. a wheel of .pyc files compiled elsewhere
        module = sys.modules.get(defining_module(func) or "")
        if module is not None and resolve(module, func.__qualname__) is func:
            return module_origin(module)
    return origin


def class_origin(cls: type) -> str | None:
    """An importable class is where its module is; another one (defined in a function or by ``exec``) is
    installed only when all its own methods were compiled from installed files."""
    module = class_module(cls)
    if module is not None:
        return module_origin(module)
    return _origin_of_methods(cls)


def class_module(cls: type) -> types.ModuleType | None:
    """The module that defines ``cls`` and holds it under its qualified name, found through
    :func:`fuse.core.defining_module` (a published ``__module__`` such as ``fuse.data`` names the public import
    path, not the source file); ``None`` for a class defined in a function or by ``exec``."""
    module = sys.modules.get(defining_module(cls) or "")
    if module is not None and resolve(module, cls.__qualname__) is cls:
        return module
    return None


def _origin_of_methods(cls: type) -> str | None:
    """The fallback for a class that no module holds: installed when all its own methods are."""
    origins = {
        function_origin(func)
        for member in vars(cls).values()
        for func in member_functions(member)
        if isinstance(func, types.FunctionType) and not hasattr(func, "__wrapped__")
    }
    return min(origins) if origins and None not in origins else None  # type: ignore[type-var]


def resolve(module: types.ModuleType, qualname: str) -> Any:
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            return None
    return target


def member_functions(member: Any) -> list[Any]:
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


def importable_name(value: Any) -> str | None:
    """``module.qualname@origin`` when that path leads back to ``value`` in an installed module (a library function,
    a builtin, a ufunc); ``None`` for anything of your own code."""
    module_name = defining_module(value) or ("numpy" if isinstance(value, np.ufunc) else None)
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    if resolve(module, qualname) is not value:
        return None
    origin = module_origin(module)
    return None if origin is None else f"{module_name}.{qualname}@{origin}"
