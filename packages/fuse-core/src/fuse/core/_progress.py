"""Progress reporting: tqdm when it is installed, else a plain line on stderr (fuse-core needs no tqdm)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["progress"]


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str | None = None, enabled: bool = True
) -> Iterator[T]:
    """Iterate ``iterable`` showing progress when ``enabled``: tqdm if it is installed, else a plain line on stderr.

    >>> list(progress(range(3), enabled=False))
    [0, 1, 2]
    """
    if not enabled:
        yield from iterable
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        yield from _plain_progress(iterable, total=total, desc=desc)
        return
    yield from tqdm(iterable, total=total, desc=desc, smoothing=0.1)


def _plain_progress(iterable: Iterable[T], *, total: int | None, desc: str | None, stream: Any = None) -> Iterator[T]:
    """Print ``desc: done/total (elapsed)`` at most once a second and once at the end."""
    out = stream if stream is not None else sys.stderr
    label = f"{desc}: " if desc else ""
    start = last = time.monotonic()
    done = 0

    def report() -> None:
        of_total = f"/{total}" if total is not None else ""
        out.write(f"\r{label}{done}{of_total} ({time.monotonic() - start:.1f}s)")
        out.flush()

    for item in iterable:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= 1.0:
            last = now
            report()
    report()
    out.write("\n")
