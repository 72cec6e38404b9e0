"""Keyword arguments renamed since FuseMedML: the old name still works, with a ``DeprecationWarning``."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

__all__ = ["positional_from_keyword", "renamed_keywords"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def renamed_keywords(**old_to_new: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Accept the old keyword names of a function (``old="new"``), warning that they are deprecated.

    A call with an old name is passed on under the new one, with a ``DeprecationWarning`` naming both; giving both
    names raises ``TypeError``. ``inspect.signature`` still shows the new names.

    >>> import warnings
    >>> @renamed_keywords(filename="path")
    ... def size(path: str) -> int:
    ...     return len(path)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     size(filename="abc")
    3
    >>> str(caught[0].message)
    'size(filename=...) is deprecated: use size(path=...)'
    """

    def decorate(func: Callable[_P, _R]) -> Callable[_P, _R]:
        parameters = inspect.signature(func).parameters
        for old, new in old_to_new.items():
            if new not in parameters or old in parameters:
                raise TypeError(f"renamed_keywords({old}={new!r}): {func.__qualname__} must take {new!r}, not {old!r}")
        who = func.__qualname__.removesuffix(".__init__")

        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{who}() got both {old}= (its old name) and {new}=: give only {new}=")
                    warnings.warn(
                        f"{who}({old}=...) is deprecated: use {who}({new}=...)", DeprecationWarning, stacklevel=2
                    )
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorate


def positional_from_keyword(
    who: str, name: str, given: Any, kwargs: dict[str, Any], missing: Any, default: Any = None
) -> Any:
    """FuseMedML's keyword ``name=`` for a mapping that fuse takes positionally only (``NDict.update(dict_like=m)``).

    Where nothing was given positionally (``given is missing``) and ``kwargs[name]`` is a mapping, it is popped and
    returned, with a ``DeprecationWarning``: dict semantics would otherwise store it silently under the key ``name``.
    Otherwise ``given`` (``default`` when it is ``missing``) is returned and ``kwargs`` left alone.

    >>> import warnings
    >>> kwargs = {"dict_like": {"a": 1}}
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     positional_from_keyword("NDict.update", "dict_like", None, kwargs, None), kwargs
    ({'a': 1}, {})
    >>> str(caught[0].message)
    "NDict.update(dict_like=...) is FuseMedML's call: pass the mapping positionally, NDict.update(mapping)"
    """
    if given is not missing or not isinstance(kwargs.get(name), Mapping):
        return default if given is missing else given
    warnings.warn(
        f"{who}({name}=...) is FuseMedML's call: pass the mapping positionally, {who}(mapping)",
        DeprecationWarning,
        stacklevel=3,
    )
    return kwargs.pop(name)
