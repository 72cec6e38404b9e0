"""``run_cached_func``: run a function once and keep its result on disk, keyed by its code and arguments."""

from __future__ import annotations

import logging
import os
import pickle
import warnings
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

from fuse.core import create_dir, load_pickle, save_pickle_safe
from fuse.data.cache._identity import value_identity

__all__ = ["run_cached_func"]

_log = logging.getLogger("fuse.data")
_R = TypeVar("_R")


def run_cached_func(cache_dir: str | os.PathLike[str], func: Callable[..., _R], /, *args: Any, **kwargs: Any) -> _R:
    """``func(*args, **kwargs)``, computed once and then loaded from ``<cache_dir>/<key>.pkl.gz``.

    The key is :func:`~fuse.data.value_identity` of the function and its arguments: the function's code and the
    helpers, constants and modules it references, installed packages by version, arrays and DataFrames by content.
    An argument without a stable identity raises :class:`~fuse.data.UnstableIdentityError` naming it. What no key
    can see (the content of files the function reads) is yours to handle: delete the file to recompute. The result
    is written atomically; a cached file that cannot be read is recomputed with a warning naming it. Results are
    pickles: read only cache directories you wrote.

    >>> import tempfile
    >>> def square(x):
    ...     print("computing")
    ...     return x * x
    >>> cache = tempfile.mkdtemp()
    >>> run_cached_func(cache, square, 4)
    computing
    16
    >>> run_cached_func(cache, square, 4)  # loaded, not computed
    16
    """
    key = value_identity((func, args, kwargs), where=f"run_cached_func({getattr(func, '__qualname__', func)!r})")
    path = os.path.join(os.fspath(cache_dir), key[:32] + ".pkl.gz")
    if os.path.isfile(path):
        try:
            result: _R = load_pickle(path)
        except (OSError, EOFError, pickle.UnpicklingError, zlib.error) as error:  # damaged: never served, recomputed
            warnings.warn(f"run_cached_func: cannot read {path} ({error!r}); computing it again", stacklevel=2)
        else:
            _log.info("run_cached_func: loaded %s", path)
            return result
    result = func(*args, **kwargs)
    create_dir(cache_dir)
    save_pickle_safe(result, path, compress=True)
    _log.info("run_cached_func: saved %s", path)
    return result
