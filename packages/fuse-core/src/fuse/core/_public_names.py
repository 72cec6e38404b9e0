"""One public-name policy for the five fuse packages: what ``__all__`` exports reports its public import path.

Each package's ``__init__`` calls :func:`publish_public_names` once, after its imports. Every class and function
in ``__all__`` that is defined in one of the package's private modules then has ``__module__`` set to the package
(``fuse.data.OpBase``, not ``fuse.data.ops._base.OpBase``). That is the path users read in reprs and errors and the
path pickles record, so moving a class between private modules never breaks a pickle written before the move.

The private module stays recorded in ``__fuse_defined_in__``, for code that needs the source file (the cache
identity, doctest collection): ``inspect.getsource`` goes through ``__module__`` and cannot find a class whose
module was rewritten.

>>> import types
>>> package = types.ModuleType("pkg")
>>> class Thing:
...     pass
>>> Thing.__module__ = "pkg._private"
>>> package.Thing = Thing
>>> publish_public_names(vars(package), "pkg", ["Thing"])
>>> Thing.__module__, defining_module(Thing)
('pkg', 'pkg._private')
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, MutableMapping
from typing import Any

__all__ = ["defining_module", "publish_public_names"]

_DEFINED_IN = "__fuse_defined_in__"


def publish_public_names(namespace: MutableMapping[str, Any], package: str, names: Iterable[str]) -> None:
    """Set ``__module__`` to ``package`` for every class and function among ``names`` defined below it.

    ``namespace`` is the package's ``globals()``. Names not defined under ``package`` (re-exports of another
    package, constants, enum members) are left as they are. A name missing from ``namespace`` raises naming it:
    ``__all__`` and the imports disagree.
    """
    for name in names:
        if name not in namespace:
            raise AttributeError(f"{package}.__all__ lists {name!r}, which {package}/__init__.py does not define")
        value = namespace[name]
        module = getattr(value, "__module__", None)
        is_ours = isinstance(module, str) and _is_private_module_of(module, package)
        if is_ours and (isinstance(value, type) or inspect.isfunction(value)):
            setattr(value, _DEFINED_IN, module)
            value.__module__ = package


def _is_private_module_of(module: str, package: str) -> bool:
    """``pkg._private`` or a module in a concern folder below it (``pkg.cache._store``)."""
    parts = module.split(".")
    depth = package.count(".") + 1
    return parts[:depth] == package.split(".") and any(part.startswith("_") for part in parts[depth:])


def defining_module(value: Any) -> str | None:
    """The module that defines ``value`` (the private one for a published name), or ``None`` when it has none.

    >>> defining_module(defining_module)
    'fuse.core._public_names'
    """
    # the object's own attribute: a subclass defined elsewhere must not inherit its base's module
    recorded = vars(value).get(_DEFINED_IN) if hasattr(value, "__dict__") else None
    if isinstance(recorded, str):
        return recorded
    module = getattr(value, "__module__", None)
    return module if isinstance(module, str) else None
