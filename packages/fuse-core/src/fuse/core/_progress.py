"""Progress reporting on stderr: tqdm on a terminal when it is installed, else plain lines (fuse-core needs no tqdm).

Redirected to a file or a pipe (a batch job's log), a bar would only add carriage returns: progress is then one
plain line every 30 seconds and one at the end.
"""

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
    """Iterate ``iterable`` showing progress on stderr when ``enabled``: a tqdm bar on a terminal (a plain line
    updated once a second without tqdm); in a redirected stderr, a line every 30 seconds and one at the end.

    >>> list(progress(range(3), enabled=False))
    [0, 1, 2]
    """
    if not enabled:
        yield from iterable
        return
    if not _is_terminal(sys.stderr):
        yield from _plain_progress(iterable, total=total, desc=desc, interactive=False)
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        yield from _plain_progress(iterable, total=total, desc=desc)
        return
    yield from tqdm(iterable, total=total, desc=desc, smoothing=0.1)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed/detached stream
        return False


def _plain_progress(
    iterable: Iterable[T], *, total: int | None, desc: str | None, stream: Any = None, interactive: bool = True
) -> Iterator[T]:
    """Print ``desc: done/total (elapsed)``: on a terminal rewritten in place at most once a second, else as a new
    line at most every 30 seconds; once more at the end."""
    out = stream if stream is not None else sys.stderr
    label = f"{desc}: " if desc else ""
    start = last = time.monotonic()
    every, start_of_line = (1.0, "\r") if interactive else (30.0, "")
    done = 0

    def report() -> None:
        of_total = f"/{total}" if total is not None else ""
        out.write(f"{start_of_line}{label}{done}{of_total} ({time.monotonic() - start:.1f}s)")
        if not interactive:
            out.write("\n")
        out.flush()

    for item in iterable:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= every:
            last = now
            report()
    report()
    if interactive:
        out.write("\n")
