"""run_multiprocessed, run_in_subprocess, get_chunks_ranges, num_available_cores."""

from __future__ import annotations

import io
import math
import multiprocessing
import operator
import os
import subprocess
import sys
import textwrap
import time
import types
import typing
from pathlib import Path

import pytest

from fuse.core import (
    MpContext,
    WorkerFailedError,
    get_chunks_ranges,
    get_from_global_storage,
    num_available_cores,
    progress,
    run_in_subprocess,
    run_multiprocessed,
)
from fuse_test_workers import fail_on_three, process_id, raise_unpicklable, read_global, sleep_inverse, square

# asked for explicitly, fork copies this multi-threaded pytest process: Python 3.12+ warns, as documented
_FORK = pytest.param("fork", marks=pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning"))
CONTEXTS = [_FORK, "spawn", "forkserver", "thread", None]


def test_mp_context_names_every_accepted_context() -> None:
    assert set(typing.get_args(MpContext)) == {"fork", "spawn", "forkserver", "thread"}


def test_in_process_run() -> None:
    assert run_multiprocessed(square, [1, 2, 3]) == [1, 4, 9]
    iterator = run_multiprocessed(square, range(3), as_iterator=True)
    assert not isinstance(iterator, list)
    assert list(iterator) == [0, 1, 4]


@pytest.mark.parametrize("context", CONTEXTS)
def test_workers_keep_order(context: str | None) -> None:
    assert run_multiprocessed(square, list(range(20)), workers=2, mp_context=context) == [x * x for x in range(20)]  # type: ignore[arg-type]


def test_unordered_results_arrive_as_ready() -> None:
    results = run_multiprocessed(sleep_inverse, [0, 1, 2, 3], workers=2, keep_results_order=False, mp_context="thread")
    assert sorted(results) == [0, 1, 2, 3]
    assert results != [0, 1, 2, 3]


def test_workers_run_in_other_processes() -> None:
    pids = set(run_multiprocessed(process_id, range(8), workers=2, chunksize=1))
    assert os.getpid() not in pids


@pytest.mark.parametrize("workers", [0, 2])
def test_failure_names_the_argument(workers: int) -> None:
    with pytest.raises(WorkerFailedError) as info:
        run_multiprocessed(fail_on_three, [1, 2, 3, 4], workers=workers, mp_context="spawn")
    message = str(info.value)
    assert "fail_on_three failed on argument 3" in message
    assert "three is not allowed (got 3)" in message
    if workers:
        assert "worker traceback" in message
        assert 'raise ValueError(f"three is not allowed' in message
    else:
        assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize("context", CONTEXTS)
def test_global_storage_reaches_workers(context: str | None) -> None:
    big = list(range(1000))
    results = run_multiprocessed(
        read_global,
        ["big", "big"],
        workers=2,
        copy_to_global_storage={"big": big},
        mp_context=context,  # type: ignore[arg-type]
    )
    assert results == [big, big]
    with pytest.raises(KeyError, match="not in the global storage"):
        get_from_global_storage("big")  # removed after the run (threads share this process's storage)


def test_global_storage_in_process_and_key_clash() -> None:
    assert run_multiprocessed(read_global, ["k"], copy_to_global_storage={"k": 5}) == [5]
    outer = run_multiprocessed(read_global, ["k"], copy_to_global_storage={"k": 1}, as_iterator=True)
    assert next(iter(outer)) == 1
    with pytest.raises(ValueError, match=r"\['k'\] are already in use"):
        run_multiprocessed(read_global, ["k"], copy_to_global_storage={"k": 2})


def test_debug_single_process_env(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("DEBUG_SINGLE_PROCESS", "1")
    assert set(run_multiprocessed(process_id, range(4), workers=2)) == {os.getpid()}
    assert "DEBUG_SINGLE_PROCESS" in caplog.text


def test_progress_bar_without_tqdm(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("tqdm", "tqdm.auto"):  # None in sys.modules makes the import fail, even if tqdm was loaded
        monkeypatch.setitem(sys.modules, name, None)
    assert run_multiprocessed(square, [1, 2], verbose=1, desc="squaring") == [1, 4]
    assert "squaring: 2/2" in capsys.readouterr().err


def test_argument_validation() -> None:
    with pytest.raises(TypeError, match="callable"):
        run_multiprocessed(5, [1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers"):
        run_multiprocessed(square, [1], workers=-1)
    with pytest.raises(ValueError, match="maxtasksperchild"):
        run_multiprocessed(square, [1], workers=2, mp_context="thread", maxtasksperchild=1)


def test_maxtasksperchild_replaces_workers() -> None:
    pids = run_multiprocessed(process_id, range(6), workers=2, maxtasksperchild=1)
    assert len(set(pids)) == 6


# A script, not ``python -c``: spawn and forkserver workers import the script's functions from its file.
_START_METHOD_SCRIPT = """
import os, sys, threading

from fuse.core import get_from_global_storage, run_multiprocessed

def thread_count():
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else threading.active_count()

def offset_square(x):
    return x * x + get_from_global_storage("offset")

if __name__ == "__main__":
    context = None if sys.argv[1] == "default" else sys.argv[1]
    forks = []  # threads in this process at each os.fork (Python 3.12+ warns when there are several)
    os.register_at_fork(before=lambda: forks.append(thread_count()))
    if context != "fork":  # a thread, as a notebook kernel, a GUI or a data loader has
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    results = run_multiprocessed(
        offset_square, list(range(12)), workers=2, copy_to_global_storage={"offset": 100}, mp_context=context
    )
    print(results, forks)
"""


@pytest.mark.parametrize("context", ["default", "forkserver", "spawn", "thread", "fork"])
def test_start_method_never_forks_a_multi_threaded_process(context: str, tmp_path: Path) -> None:
    """Under ``-W error::DeprecationWarning`` (Python 3.12+ warns on fork with threads) and with a fork hook that
    counts the threads (the same check on older Pythons): only an explicit ``"fork"`` forks, and from a single
    thread; results come back in order with the global storage."""
    if context in ("fork", "forkserver") and context not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{context} is not offered on {sys.platform}")
    script = tmp_path / "start_method.py"
    script.write_text(textwrap.dedent(_START_METHOD_SCRIPT))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", str(script), context],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "DeprecationWarning" not in done.stderr
    results, forks = done.stdout.strip().split("] [")
    assert results + "]" == str([x * x + 100 for x in range(12)])
    thread_counts = [int(n) for n in forks.rstrip("]").split(",") if n.strip()]
    if context == "fork":
        assert thread_counts == [1, 1]  # both workers forked before the pool starts its own threads
    else:
        assert thread_counts == []


def test_unpicklable_function_or_storage_fails_before_any_worker_starts() -> None:
    with pytest.raises(TypeError, match=r"sends worker_func to its worker processes by pickling.*mp_context='thread'"):
        run_multiprocessed(lambda x: x, [1, 2], workers=2)
    with pytest.raises(TypeError, match=r"mp_context='spawn'\) sends copy_to_global_storage"):
        run_multiprocessed(square, [1, 2], workers=2, copy_to_global_storage={"f": lambda: 1}, mp_context="spawn")
    # fork and threads do not pickle: what lives only in this process still works there
    assert run_multiprocessed(lambda x: -x, [1, 2], workers=2, mp_context="thread") == [-1, -2]


def test_function_typed_at_the_prompt_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # no __file__: a notebook, a REPL

    def typed_in_a_notebook(x: int) -> int:
        return x

    typed_in_a_notebook.__module__ = "__main__"
    with pytest.raises(ValueError, match=r"defined in an interactive session.*move it to a module"):
        run_multiprocessed(typed_in_a_notebook, [1, 2], workers=2, mp_context="forkserver")


class _OnlyInThisProcess:
    """Pickled by reference to a module that a fresh worker cannot import."""


def test_storage_a_worker_cannot_load_fails_naming_it_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    phantom = types.ModuleType("fuse_phantom_module")
    phantom._OnlyInThisProcess = _OnlyInThisProcess  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fuse_phantom_module", phantom)
    monkeypatch.setattr(_OnlyInThisProcess, "__module__", "fuse_phantom_module")
    start = time.monotonic()
    with pytest.raises(WorkerFailedError, match=r"could not load worker_func or copy_to_global_storage.*fuse_phantom"):
        run_multiprocessed(
            square, [1, 2], workers=2, copy_to_global_storage={"x": _OnlyInThisProcess()}, mp_context="spawn"
        )
    assert time.monotonic() - start < 60


def test_storage_defined_at_the_prompt_fails_naming_the_fix() -> None:
    code = textwrap.dedent(
        """
        from fuse.core import WorkerFailedError, run_multiprocessed
        from fuse_test_workers import square

        class DefinedAtThePrompt:
            pass

        try:
            run_multiprocessed(square, [1, 2], workers=2, copy_to_global_storage={"x": DefinedAtThePrompt()})
        except WorkerFailedError as error:
            print(error)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120, env=env
    )
    assert "DefinedAtThePrompt" in result.stdout, result.stderr[-2000:]
    assert "move it to a module and import it, or run the workers with mp_context='thread'" in result.stdout


def test_run_in_subprocess() -> None:
    assert run_in_subprocess(math.factorial, 6) == 720
    assert run_in_subprocess(process_id, None) != os.getpid()
    with pytest.raises(ZeroDivisionError) as info:
        run_in_subprocess(operator.truediv, 1, 0)
    assert "subprocess traceback" in str(info.value.__cause__)
    with pytest.raises(RuntimeError, match="Local: local exception class"):
        run_in_subprocess(raise_unpicklable)


def test_run_in_subprocess_timeout_kills_the_child() -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"did not finish within 0\.5 seconds"):
        run_in_subprocess(time.sleep, 30, timeout=0.5)
    assert time.monotonic() - start < 20


def test_force_run_in_main_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_RUN_IN_MAIN_PROCESS", "1")
    assert run_in_subprocess(process_id, None) == os.getpid()


def test_get_chunks_ranges() -> None:
    assert get_chunks_ranges(10, chunk_size=3) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert get_chunks_ranges(10, parts=2) == [(0, 5), (5, 10)]
    assert get_chunks_ranges(12, parts=5) == [(0, 3), (3, 6), (6, 8), (8, 10), (10, 12)]  # FuseMedML gave 4 parts
    assert get_chunks_ranges(2, parts=5) == [(0, 1), (1, 2)]
    assert get_chunks_ranges(0, parts=3) == []
    assert get_chunks_ranges(5, chunk_size=10) == [(0, 5)]
    for bad in ({"chunk_size": 2, "parts": 2}, {}):
        with pytest.raises(ValueError, match="exactly one"):
            get_chunks_ranges(5, **bad)
    with pytest.raises(ValueError, match="chunk_size must be > 0"):
        get_chunks_ranges(5, chunk_size=0)
    with pytest.raises(ValueError, match="parts must be > 0"):
        get_chunks_ranges(5, parts=0)


def test_num_available_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LSB_DJOB_NUMPROC", raising=False)
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert num_available_cores() == expected
    monkeypatch.setenv("LSB_DJOB_NUMPROC", "3")
    assert num_available_cores() == 3


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_with_tqdm_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tqdm")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert run_multiprocessed(square, [1, 2, 3], verbose=1, desc="squaring") == [1, 4, 9]
    assert "squaring: 100%" in terminal.getvalue()


def test_progress_redirected_is_plain_lines_without_carriage_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()  # a batch job's log file: not a terminal
    monkeypatch.setattr(sys, "stderr", log)
    assert list(progress(range(5), total=5, desc="caching")) == [0, 1, 2, 3, 4]
    written = log.getvalue()
    assert "\r" not in written
    assert written.splitlines() == ["caching: 5/5 (0.0s)"]  # under 30 s: the final line only


def test_progress_passes_items_through_and_reports_on_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert list(progress(iter("abc"), enabled=False)) == ["a", "b", "c"]
    assert capsys.readouterr().err == ""
    for name in ("tqdm", "tqdm.auto"):
        monkeypatch.setitem(sys.modules, name, None)
    assert list(progress(range(4), total=4, desc="items")) == [0, 1, 2, 3]
    assert capsys.readouterr().err.endswith("items: 4/4 (0.0s)\n")
