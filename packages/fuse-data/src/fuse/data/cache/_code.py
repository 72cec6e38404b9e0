"""What code runs and what an object holds: the identity of a code object (bytecode, constants, names, not line
numbers), the global names and imports it uses, and how to tell an instance of a pure-Python class (identified by
its class and attributes) from one that keeps state in C.

>>> code_identity((lambda x: x + 1).__code__) == code_identity((lambda x: x + 2).__code__)
False
"""

from __future__ import annotations

import dis
import functools
import struct
import types
from dataclasses import dataclass
from typing import Any

__all__ = ["code_identity", "code_references", "has_no_code", "instance_state", "is_plain_instance"]


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
def code_references(code: types.CodeType) -> _References:
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
            nested = code_references(constant)
            global_names |= nested.globals
            attributes |= nested.attributes
            imports.extend(nested.imports)
    return _References(frozenset(global_names), frozenset(attributes), tuple(sorted(set(imports))))


def instance_state(value: Any) -> dict[str, Any]:
    """An object's attributes (``__dict__`` and ``__slots__``), by name."""
    state = dict(getattr(value, "__dict__", {}))
    for klass in type(value).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for slot in [slots] if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__") and hasattr(value, slot):
                state[slot] = getattr(value, slot)
    return state


def is_plain_instance(value: Any) -> bool:
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


def has_no_code(cls: type) -> bool:
    """A class of your code whose layout is defined in C (no Python function anywhere in it or its bases)."""
    if cls.__dict__.get("__module__") is None:
        return False
    return not getattr(cls, "__flags__", 0) & _HEAP_TYPE
