"""Timing and profiling context managers."""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from types import TracebackType

__all__ = ["Profiler", "Timer"]


class Timer:
    """Print how long a block took; the duration stays in ``elapsed`` (seconds).

    >>> import time
    >>> with Timer("sleep", verbose=False) as t:
    ...     time.sleep(0.01)
    >>> t.elapsed >= 0.01
    True
    """

    def __init__(self, txt: str = "", verbose: bool = True) -> None:
        self.txt = txt
        self.verbose = verbose
        self.elapsed: float | None = None
        self._start = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.elapsed = time.perf_counter() - self._start
        if self.verbose:
            print(f"{self.txt or 'block'} took {self.elapsed:.6f} seconds")


class Profiler:
    """Profile a block with cProfile and print the statistics sorted by cumulative time.

    The report also stays in ``report`` (a string).
    """

    def __init__(
        self, txt: str = "", verbose: bool = True, sort_by: str = "cumulative", limit: int | None = 30
    ) -> None:
        self.txt = txt
        self.verbose = verbose
        self.sort_by = sort_by
        self.limit = limit
        self.report = ""
        self._profile = cProfile.Profile()

    def __enter__(self) -> Profiler:
        self._profile.enable()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._profile.disable()
        stream = io.StringIO()
        stats = pstats.Stats(self._profile, stream=stream).sort_stats(self.sort_by)
        if self.limit is None:
            stats.print_stats()
        else:
            stats.print_stats(self.limit)
        self.report = stream.getvalue()
        if self.verbose:
            print(f"profiling results for {self.txt or 'block'}:\n{self.report}")
