"""The code part of the cache identity walk: a function by its code, defaults, closure and the globals and imports it
uses; a module by the attributes the referring code may use; a class by its members, metaclass and bases. Installed
code is identified by its distribution's name and version instead.

The values part (:class:`fuse.data.cache._identity._Feeder`) hands functions, classes and modules to
:class:`CodeFeeder`, which hands the values it meets (defaults, closure contents, globals) back.
"""

from __future__ import annotations

import importlib
import importlib.util
import types
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fuse.core import defining_module
from fuse.data.cache._code import code_identity, code_references, has_no_code
from fuse.data.cache._origin import class_origin, function_origin, member_functions, module_origin

if TYPE_CHECKING:
    from fuse.data.cache._identity import _Feeder

__all__ = ["CodeFeeder", "put", "qualified"]

# class attributes that describe the class rather than what it computes (and hold values without an identity)
CLASS_BOOKKEEPING = frozenset(
    {"__dict__", "__weakref__", "__module__", "__qualname__", "__doc__", "__firstlineno__", "__static_attributes__",
     "__annotations__", "__orig_bases__", "__parameters__", "__dataclass_fields__", "__dataclass_params__",
     "__abstractmethods__", "__slotnames__", "__match_args__"}
)  # fmt: skip


def put(digest: Any, tag: str, text: str = "") -> None:
    digest.update(f"{tag}:{len(text)}:{text}|".encode())


def qualified(obj: Any) -> str:
    """``module.qualname`` with the module that defines ``obj`` (never a published ``__module__``, see
    :func:`fuse.core.defining_module`); a script's ``__main__`` is ``__mp_main__`` in a spawned worker, and the
    same code."""
    module = defining_module(obj)
    return f"{MAIN_ALIASES.get(module, module) if isinstance(module, str) else module}.{obj.__qualname__}"


MAIN_ALIASES = {"__mp_main__": "__main__"}


class CodeFeeder:
    """Feeds functions, modules and classes into a digest for the values walk ``values``."""

    def __init__(self, values: _Feeder) -> None:
        self._values = values

    def feed_function(self, digest: Any, func: types.FunctionType, where: str) -> None:
        name = qualified(func)
        origin = function_origin(func)
        if origin is not None:  # installed: its version stands for its code; closures still carry values
            put(digest, "installed-function", f"{name}@{origin}")
            if func.__closure__ or func.__defaults__ or func.__kwdefaults__:
                self._feed_bindings(digest, func, where)
            return

        def compute(sub: Any) -> None:
            put(sub, "function", name)
            put(sub, "code", code_identity(func.__code__))
            self._feed_bindings(sub, func, where)
            self._feed_globals(sub, func, where)

        self._values.memoized(digest, "function", func, where, compute)

    def _feed_bindings(self, digest: Any, func: types.FunctionType, where: str) -> None:
        self._values.feed(digest, func.__defaults__ or (), f"{where} defaults")
        self._values.feed(digest, func.__kwdefaults__ or {}, f"{where} keyword defaults")
        for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=True):
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell (a name not yet bound)
                content = None
            if content is func:
                continue  # a recursive function refers to itself
            self._values.feed(digest, content, f"{where} (closure variable {name!r})")

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
            put(digest, "global", name)
            label = f"{func.__qualname__} -> global {name!r} of module {module_name!r}"
            if isinstance(value, types.ModuleType):
                self.feed_module(digest, value, references.attributes, label)
            else:
                self._values.feed(digest, value, label)
        for name, level in references.imports:
            put(digest, "import", f"{name}:{level}")
            label = f"{func.__qualname__} -> import of {'.' * level}{name} in module {module_name!r}"
            try:
                absolute = importlib.util.resolve_name("." * level + name, module_globals.get("__package__"))
                module = importlib.import_module(absolute)  # what the function imports when it runs
            except (ImportError, ValueError):  # e.g. an optional dependency: the function cannot import it either
                put(digest, "missing-module", name)
                continue
            self.feed_module(digest, module, references.attributes, label)

    def feed_module(self, digest: Any, module: types.ModuleType, names: Iterable[str], where: str) -> None:
        """An installed module by its origin; your module by the attributes among ``names`` (those the referring
        code may use), so that ``helpers.scale(...)`` follows ``scale`` without walking all of ``helpers``."""
        origin = module_origin(module)
        if origin is not None:
            put(digest, "module", f"{module.__name__}@{origin}")
            return
        put(digest, "user-module", MAIN_ALIASES.get(module.__name__, module.__name__))
        names = frozenset(names)
        if id(module) in self._values.walk.active:
            return
        self._values.walk.active.add(id(module))
        try:
            namespace = vars(module)
            for name in sorted(n for n in names if n in namespace and not (n.startswith("__") and n.endswith("__"))):
                value = namespace[name]
                put(digest, "attribute", name)
                if isinstance(value, types.ModuleType):
                    self.feed_module(digest, value, names, f"{where}.{name}")
                else:
                    self._values.feed(digest, value, f"{where}.{name}")
        finally:
            self._values.walk.active.discard(id(module))

    def feed_class(self, digest: Any, cls: type, where: str) -> None:
        name = qualified(cls)
        origin = class_origin(cls)
        if origin is not None:
            put(digest, "installed-class", f"{name}@{origin}")
            return
        if has_no_code(cls):
            put(digest, "class", name)
            self._values.unidentifiable(
                digest,
                cls,
                where,
                f"class {name} is compiled code outside any installed distribution, so neither its version nor its "
                "code can identify it; install it as a package (its version then identifies it)",
            )
            return

        def compute(sub: Any) -> None:
            put(sub, "class", name)
            for attribute, member in sorted(vars(cls).items()):
                if attribute in CLASS_BOOKKEEPING or attribute.startswith("_abc_"):
                    continue
                functions = member_functions(member)
                if functions:
                    put(sub, "member", f"{attribute}:{type(member).__name__}")
                    for func in functions:
                        self._values.feed(sub, func, f"{where}.{attribute}")
                elif isinstance(member, type) or not (attribute.startswith("__") and attribute.endswith("__")):
                    put(sub, "member", attribute)
                    self._values.feed(sub, member, f"{where}.{attribute}")
            if type(cls) is not type:
                self.feed_class(sub, type(cls), f"{where} metaclass")
            for base in cls.__bases__:
                if base is not object:
                    self.feed_class(sub, base, f"{where} base {base.__qualname__}")

        self._values.memoized(digest, "class", cls, where, compute)
