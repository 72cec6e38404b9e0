"""The op contract: ``OpBase``, ``OpReversibleBase``, ``op_call``, ``op_reverse``, and automatic cache identity.

Every op knows the arguments it was constructed with, whatever the depth of subclassing, so that changing
``OpLambda(func)`` or ``OpLookup(map)`` changes the cache key. ``cache_identity()`` combines the class (its code, followed into what it references, or its distribution's
version), those arguments and the instance's attributes through :func:`fuse.data.cache._identity.value_identity`.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from fuse.core import NDict, add_note
from fuse.data._sample_keys import sample_id_of
from fuse.data.cache._code import instance_state
from fuse.data.cache._identity import class_identity, value_identity

__all__ = ["OpBase", "OpReversibleBase", "SampleResult", "op_call", "op_reverse"]

# what an op returns: the sample, None (drop it) or a list of samples (split it)
SampleResult = NDict | list[NDict] | None

_CAPTURING = "_fuse_capturing_init"


class OpBase(ABC):
    """An operation on a sample: ``op(sample_dict, **kwargs)`` returns the sample, ``None`` to drop it, or a list
    of samples to split it (dropping and splitting need a cached static pipeline).

    Subclasses just implement ``__call__``; the arguments of their constructor are recorded automatically and
    become part of :meth:`cache_identity`, so a changed argument never serves a stale cached sample. So does every
    attribute, except those named in the class attribute ``cache_identity_exclude``: use it only for state derived
    from the rest (a lazily filled lookup, a counter for logging), never for anything that changes the samples.

    >>> class OpAdd(OpBase):
    ...     def __init__(self, amount: float) -> None:
    ...         super().__init__()
    ...         self._amount = amount
    ...     def __call__(self, sample_dict, key):
    ...         sample_dict[key] = sample_dict[key] + self._amount
    ...         return sample_dict
    >>> OpAdd(1.0)
    OpAdd(amount=1.0)
    >>> OpAdd(1.0).cache_identity() == OpAdd(2.0).cache_identity()
    False
    """

    _fuse_init_arguments: dict[str, Any]
    cache_identity_exclude: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording_init(cls.__dict__["__init__"])  # type: ignore[method-assign]

    def __init__(self) -> None:
        if not hasattr(self, "_fuse_init_arguments"):
            self._fuse_init_arguments = {}

    @abstractmethod
    def __call__(self, sample_dict: NDict, *args: Any, **kwargs: Any) -> SampleResult:
        """Process one sample (subclasses name their own keyword arguments, e.g. ``key``)."""

    def init_arguments(self) -> dict[str, Any]:
        """The arguments this op was constructed with (by parameter name, defaults included)."""
        return dict(getattr(self, "_fuse_init_arguments", {}))

    def cache_identity(self) -> str:
        """A digest of the class (for your own op: its code and everything it references; for an installed one:
        its distribution and version), of the constructor arguments and of every attribute of the instance, those
        set after construction included. Computed when a cache is first used, so it sees in-place changes."""
        name = type(self).__qualname__
        digest = hashlib.sha256(class_identity(type(self)).encode())
        digest.update(value_identity(self.init_arguments(), where=f"{name} argument").encode())
        excluded = {"_fuse_init_arguments", _CAPTURING, *type(self).cache_identity_exclude}
        state = {k: v for k, v in instance_state(self).items() if k not in excluded}
        digest.update(value_identity(state, where=f"{name} attribute").encode())
        return digest.hexdigest()

    def __repr__(self) -> str:
        arguments = ", ".join(f"{name}={_short_repr(value)}" for name, value in self.init_arguments().items())
        return f"{type(self).__name__}({arguments})"


class OpReversibleBase(OpBase):
    """An op that can be undone on other keys: ``__call__`` receives ``op_id`` (where to store what ``reverse``
    needs), and ``reverse(sample_dict, key_to_reverse, key_to_follow, op_id)`` undoes the op on
    ``key_to_reverse`` if it was applied to ``key_to_follow``.
    """

    @abstractmethod
    def __call__(self, sample_dict: NDict, op_id: str | None = None, *args: Any, **kwargs: Any) -> SampleResult:
        """Process one sample; information for :meth:`reverse` goes under ``sample_dict[op_id]``."""

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None) -> NDict:
        """Undo this op on ``key_to_reverse``. Ops that change nothing reversible return the sample as it is."""
        return sample_dict


def op_call(op: Callable[..., Any], sample_dict: NDict, op_id: str | None, **kwargs: Any) -> SampleResult:
    """Call ``op`` on a sample: reversible ops also get ``op_id``; any other callable is called as
    ``op(sample_dict, **kwargs)``. An error is re-raised with a note naming the op, the op id and the sample id.

    >>> from fuse.core import create_initial_sample
    >>> op_call(lambda sample, key: sample | {key: 1}, create_initial_sample("s1"), "0", key="x")["x"]
    1
    """
    if isinstance(op, type):
        raise TypeError(f"op_call got the class {op.__qualname__}, not an instance: write {op.__qualname__}(...)")
    try:
        if isinstance(op, OpReversibleBase):
            return op(sample_dict, op_id=op_id, **kwargs)
        result: SampleResult = op(sample_dict, **kwargs)
        return result
    except Exception as error:
        add_note(error, f"in op {_short_repr(op)} (op_id {op_id!r}) on sample {sample_id_of(sample_dict)!r}")
        raise


def op_reverse(
    op: Callable[..., Any], sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None
) -> NDict:
    """Call ``op.reverse`` with the documented argument order, by keyword.
    Ops that are not reversible leave the sample unchanged.
    """
    if isinstance(op, OpReversibleBase):
        return op.reverse(sample_dict, key_to_reverse=key_to_reverse, key_to_follow=key_to_follow, op_id=op_id)
    return sample_dict


def _recording_init(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a subclass ``__init__`` so that the outermost constructor call records its arguments."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self: OpBase, *args: Any, **kwargs: Any) -> None:
        outermost = not self.__dict__.get(_CAPTURING, False)
        if outermost:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.pop(next(iter(signature.parameters)))  # self
            for name, parameter in signature.parameters.items():
                if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                    arguments.update(arguments.pop(name, {}))
            self.__dict__[_CAPTURING] = True
            self.__dict__["_fuse_init_arguments"] = arguments
        try:
            init(self, *args, **kwargs)
        finally:
            if outermost:
                del self.__dict__[_CAPTURING]

    return __init__


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
