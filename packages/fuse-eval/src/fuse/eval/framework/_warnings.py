"""Warnings of fuse-eval, raised at the caller's line: ``undefined()`` for a metric value that is NaN, and
``warn_user()`` for any other warning.

>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     value = undefined("AUC is undefined with one class")
>>> value, str(caught[0].message)
(nan, 'AUC is undefined with one class; returning NaN')
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["UndefinedMetricWarning", "undefined", "user_stacklevel", "warn_user"]

_PACKAGE = __name__.split(".framework", 1)[0]  # "fuse.eval"


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined on the given data (e.g. AUC with one class present); the value is NaN."""


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a ``warnings.warn`` in the calling function point at the first frame outside
    fuse-eval: the user's line, however deep inside fuse-eval the warning is raised (a fixed stacklevel points at
    fuse-eval's own code as soon as a call goes through one more function).
    """
    frame = sys._getframe(1)  # the function that calls warnings.warn: stacklevel 1
    level = 1
    while frame is not None and _in_package(frame.f_globals.get("__name__", "")):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _in_package(module: str) -> bool:
    return module == _PACKAGE or module.startswith(_PACKAGE + ".")


def warn_user(message: str, category: type[Warning] = UndefinedMetricWarning) -> None:
    """``warnings.warn(message, category)`` pointing at the user's line (see :func:`user_stacklevel`)."""
    warnings.warn(message, category, stacklevel=user_stacklevel())


def undefined(cause: str) -> float:
    """Warn that a value is undefined (``UndefinedMetricWarning`` "<cause>; returning NaN", at the user's line) and
    return NaN: the one way fuse-eval's metrics return a value they cannot stand behind.
    """
    warnings.warn(f"{cause}; returning NaN", UndefinedMetricWarning, stacklevel=user_stacklevel())
    return float("nan")
