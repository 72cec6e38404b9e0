"""Timer and Profiler."""

import time

import pytest

from fuse.core import Profiler, Timer


def test_timer(capsys: pytest.CaptureFixture[str]) -> None:
    with Timer("nap") as timer:
        time.sleep(0.02)
    assert timer.elapsed is not None
    assert timer.elapsed >= 0.02
    assert capsys.readouterr().out.startswith("nap took 0.0")
    with Timer(verbose=False):
        pass
    assert capsys.readouterr().out == ""


def _busy() -> int:
    return sum(i * i for i in range(20000))


def test_profiler_reports_cumulative_stats(capsys: pytest.CaptureFixture[str]) -> None:
    with Profiler("busy") as profiler:
        _busy()
    assert "_busy" in profiler.report
    assert "cumulative" in profiler.report
    assert capsys.readouterr().out.startswith("profiling results for busy:")
