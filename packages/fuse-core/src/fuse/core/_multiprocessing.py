"""Running a function over many arguments in worker processes, or one call in a fresh subprocess."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool, ThreadPool
from typing import Any, Literal

from fuse.core._progress import progress
from fuse.core._tensors import loaded_torch

__all__ = [
    "WorkerFailedError",
    "get_chunks_ranges",
    "get_from_global_storage",
    "num_available_cores",
    "run_in_subprocess",
    "run_multiprocessed",
]

_logger = logging.getLogger("fuse.core")
_global_storage: dict[str, Any] = {}
_global_storage_lock = threading.Lock()
# In a worker process: the function it runs, or why it could not be loaded (set by _init_worker).
_worker_state: dict[str, Any] = {}

MpContext = Literal["fork", "spawn", "forkserver", "thread"]


class WorkerFailedError(RuntimeError):
    """A worker function raised; the message names the argument it got and carries the worker's traceback."""


@dataclass(frozen=True)
class _Failure:
    """What a worker sends back instead of a result when the function raised (strings only: always picklable)."""

    argument: str
    error: str
    worker_traceback: str


class _CatchFailures:
    """Wraps the worker function so a failure comes back as a :class:`_Failure` naming its argument."""

    def __init__(self, worker_func: Callable[[Any], Any]) -> None:
        self.worker_func = worker_func

    def __call__(self, argument: Any) -> Any:
        try:
            return self.worker_func(argument)
        except Exception as error:  # noqa: BLE001  (reported to the parent with the argument)
            return _Failure(_short_repr(argument), f"{type(error).__name__}: {error}", traceback.format_exc())


def _short_repr(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _raise_failure(worker_func: Callable[[Any], Any], failure: _Failure) -> None:
    name = getattr(worker_func, "__qualname__", repr(worker_func))
    raise WorkerFailedError(
        f"{name} failed on argument {failure.argument}: {failure.error}\n"
        f"--- worker traceback ---\n{failure.worker_traceback}"
    )


def _default_start_method() -> str:
    """The platform's default start method, except that ``"fork"`` becomes ``"forkserver"``: importing numpy
    already starts BLAS threads, and forking a multi-threaded process may deadlock the child (Python 3.12+ warns,
    and Python 3.14 made ``forkserver`` the default on Linux)."""
    methods = mp.get_all_start_methods()  # the platform's default first; unlike get_start_method, fixes nothing
    if methods[0] == "fork":
        return "forkserver" if "forkserver" in methods else "spawn"
    return methods[0]


def _pickled_for_workers(
    worker_func: Callable[[Any], Any], storage: dict[str, Any], method: str
) -> tuple[bytes, bytes]:
    """``worker_func`` and the global storage, pickled once here instead of once per worker (and per task, for
    the function), so that what cannot be pickled fails now, naming the argument and the fix."""
    pickled = []
    for what, value in (("worker_func", worker_func), ("copy_to_global_storage", storage)):
        try:
            pickled.append(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception as error:  # any pickling failure (PicklingError, AttributeError, TypeError): re-raised
            raise _unpicklable(what, method, error) from error
    return pickled[0], pickled[1]


def _unpicklable(what: str, method: str, error: Exception) -> TypeError:
    return TypeError(
        f"run_multiprocessed(mp_context={method!r}) sends {what} to its worker processes by pickling, and it "
        f"cannot be pickled ({type(error).__name__}: {error}). Define functions and classes at module level "
        "(not a lambda, a local function or a class made in a function), or pass mp_context='thread', or "
        "mp_context='fork' (which copies the process instead, but may deadlock a multi-threaded one)"
    )


def _main_is_interactive() -> bool:
    main = sys.modules.get("__main__")
    return main is not None and not getattr(main, "__file__", None)


def _check_importable_in_workers(worker_func: Callable[[Any], Any], method: str) -> None:
    """A function defined in a notebook or the interactive prompt pickles by name, but a ``spawn`` or
    ``forkserver`` worker cannot import ``__main__`` to find it: say so instead of failing in every worker."""
    if getattr(worker_func, "__module__", None) == "__main__" and _main_is_interactive():
        raise ValueError(
            f"worker_func {getattr(worker_func, '__qualname__', worker_func)!r} is defined in an interactive "
            f"session (a notebook or the Python prompt), which mp_context={method!r} workers cannot import: move "
            "it to a module and import it, or pass mp_context='thread' (or 'fork', which may deadlock a "
            "multi-threaded process such as a notebook kernel)"
        )


def _init_worker(payload: tuple[Any, Any]) -> None:
    """Runs once in every worker process: one compute thread per worker, the function and the global storage.

    A failure to load them is kept and reported with the first argument: a raising initializer would make the
    pool start new workers forever.
    """
    os.environ["OMP_NUM_THREADS"] = "1"  # for libraries the worker imports later
    worker_func, storage = payload  # fork: the objects themselves; spawn, forkserver: their pickles
    try:
        if isinstance(worker_func, bytes):
            worker_func, storage = pickle.loads(worker_func), pickle.loads(storage)
    except BaseException as error:  # noqa: BLE001  (reported to the parent with the first argument)
        message = (
            f"the worker process could not load worker_func or copy_to_global_storage: {type(error).__name__}: "
            f"{error}. Everything they refer to must be importable from a fresh interpreter: "
            + (
                "a class or function defined in a notebook or at the Python prompt is not; move it to a module and "
                "import it, or run the workers with mp_context='thread' (the argument of run_multiprocessed, "
                "SamplesCacher, DatasetDefault.create and the other calls that take workers)"
                if "'__main__'" in str(error)
                else "is the module that defines them on the workers' path?"
            )
        )
        _worker_state["failure"] = (message, traceback.format_exc())
        return
    torch = loaded_torch()  # imported by the parent before forking, or by unpickling the storage
    if torch is not None:
        torch.set_num_threads(1)
    _worker_state["func"] = worker_func
    _global_storage.update(storage)


def _call_in_worker(argument: Any) -> Any:
    failure = _worker_state.get("failure")
    if failure is not None:
        return _Failure(_short_repr(argument), failure[0], failure[1])
    return _CatchFailures(_worker_state["func"])(argument)


def _store_globally(storage: dict[str, Any]) -> None:
    with _global_storage_lock:
        clash = sorted(set(storage) & set(_global_storage))
        if clash:
            raise ValueError(
                f"copy_to_global_storage keys {clash} are already in use by another run_multiprocessed call "
                "in this process; use distinct keys"
            )
        _global_storage.update(storage)


def _remove_globally(keys: Iterable[str]) -> None:
    with _global_storage_lock:
        for key in keys:
            _global_storage.pop(key, None)


def get_from_global_storage(key: str) -> Any:
    """Inside a worker function: the value given to ``run_multiprocessed(copy_to_global_storage={key: ...})``."""
    try:
        return _global_storage[key]
    except KeyError:
        raise KeyError(
            f"{key!r} is not in the global storage; pass it in run_multiprocessed(copy_to_global_storage=...)"
        ) from None


def _single_process_forced() -> bool:
    return os.environ.get("DEBUG_SINGLE_PROCESS", "").lower() in ("1", "t", "true", "yes")


def run_multiprocessed(
    worker_func: Callable[[Any], Any],
    args_list: Iterable[Any],
    workers: int = 0,
    verbose: int = 0,
    copy_to_global_storage: dict[str, Any] | None = None,
    keep_results_order: bool = True,
    as_iterator: bool = False,
    mp_context: MpContext | None = None,
    desc: str | None = None,
    maxtasksperchild: int | None = None,
    chunksize: int = 1,
) -> list[Any] | Iterator[Any]:
    """Call ``worker_func(arg)`` for every element of ``args_list``, in ``workers`` processes.

    :param worker_func: a function of one argument (picklable, i.e. defined at module level, unless
        ``mp_context`` is ``"fork"`` or ``"thread"``).
    :param workers: number of worker processes; ``0`` or ``1`` runs in this process (handy for debugging, and
        forced by the environment variable ``DEBUG_SINGLE_PROCESS=1``).
    :param verbose: ``> 0`` shows a progress bar.
    :param copy_to_global_storage: large read-only values sent once per worker instead of once per call;
        read them in the worker with :func:`get_from_global_storage`. Started workers unpickle one copy made
        here, kept for the run (so a worker that cannot load it reports why instead of hanging the pool).
    :param keep_results_order: results in the order of ``args_list`` (else in order of completion).
    :param as_iterator: return a lazy iterator instead of a list (for results that do not fit in memory).
    :param mp_context: how workers start. ``None`` (default): ``"forkserver"`` on Linux, ``"spawn"`` on macOS
        and Windows (the platform's default, except that fork is never chosen for you). ``"forkserver"`` and
        ``"spawn"`` start clean processes: ``worker_func`` and ``copy_to_global_storage`` are pickled once and
        sent to each worker, so they must be defined at module level (a lambda, a local function or a function
        typed into a notebook fails here with a message saying so), and the worker imports their modules (a
        script using them needs ``if __name__ == "__main__":``). ``"fork"`` copies this process (no pickling,
        fastest start) but may deadlock a multi-threaded process, which any process that imported numpy or torch
        is (Python 3.12+ warns); ask for it only knowingly. ``"thread"``: a thread pool in this process. The
        global ``multiprocessing.set_start_method`` is not consulted.
    :param maxtasksperchild: replace a worker process after this many calls (not for threads).
    :param chunksize: arguments sent to a worker at a time.
    :raises WorkerFailedError: when ``worker_func`` raises; the message names the argument and holds the
        worker's traceback.

    >>> run_multiprocessed(abs, [-1, 2, -3])
    [1, 2, 3]
    """
    if not callable(worker_func):
        raise TypeError(f"worker_func must be callable, got {type(worker_func).__name__}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if workers > 1 and _single_process_forced():
        _logger.warning("DEBUG_SINGLE_PROCESS is set: run_multiprocessed runs in the main process")
        workers = 0
    results = _run(
        worker_func,
        args_list,
        workers,
        verbose,
        dict(copy_to_global_storage or {}),
        keep_results_order,
        mp_context,
        desc,
        maxtasksperchild,
        chunksize,
    )
    return results if as_iterator else list(results)


def _run(
    worker_func: Callable[[Any], Any],
    args_list: Iterable[Any],
    workers: int,
    verbose: int,
    storage: dict[str, Any],
    keep_results_order: bool,
    mp_context: MpContext | None,
    desc: str | None,
    maxtasksperchild: int | None,
    chunksize: int,
) -> Iterator[Any]:
    total = len(args_list) if isinstance(args_list, Sequence) else None
    if workers <= 1:
        _store_globally(storage)
        try:
            for argument in progress(args_list, total=total, desc=desc, enabled=verbose > 0):
                try:
                    result = worker_func(argument)
                except Exception as error:
                    name = getattr(worker_func, "__qualname__", repr(worker_func))
                    raise WorkerFailedError(f"{name} failed on argument {_short_repr(argument)}: {error}") from error
                yield result
        finally:
            _remove_globally(storage)
        return

    pool: Pool
    task: Callable[[Any], Any]
    if mp_context == "thread":
        if maxtasksperchild is not None:
            raise ValueError("maxtasksperchild is not supported with mp_context='thread'")
        _store_globally(storage)
        pool, task = ThreadPool(processes=workers), _CatchFailures(worker_func)
    else:
        method = mp_context or _default_start_method()
        payload: tuple[Any, Any] = (worker_func, storage)  # fork: the children inherit the objects
        if method != "fork":
            _check_importable_in_workers(worker_func, method)
            payload = _pickled_for_workers(worker_func, storage, method)
        context = mp.get_context(method)
        pool = context.Pool(
            processes=workers, initializer=_init_worker, initargs=(payload,), maxtasksperchild=maxtasksperchild
        )
        task = _call_in_worker
    try:
        mapper = pool.imap if keep_results_order else pool.imap_unordered
        for result in progress(mapper(task, args_list, chunksize), total=total, desc=desc, enabled=verbose > 0):
            if isinstance(result, _Failure):
                _raise_failure(worker_func, result)
            yield result
    finally:
        pool.terminate()
        pool.join()
        if mp_context == "thread":
            _remove_globally(storage)


def _subprocess_target(
    connection: Any, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    try:
        connection.send((True, func(*args, **kwargs)))
    except BaseException as error:  # noqa: BLE001  (re-raised in the parent)
        formatted = traceback.format_exc()
        try:
            connection.send((False, (error, formatted)))
        except Exception:  # noqa: BLE001  (the exception cannot be pickled: send its text)
            connection.send((False, (RuntimeError(f"{type(error).__name__}: {error}"), formatted)))
    finally:
        connection.close()


class _RemoteTraceback(Exception):
    def __str__(self) -> str:
        return str(self.args[0])


def run_in_subprocess(f: Callable[..., Any], *args: Any, timeout: float | None = 600, **kwargs: Any) -> Any:
    """Call ``f(*args, **kwargs)`` in a fresh ``spawn`` subprocess and return its result.

    Useful to release everything a call allocated (GPU memory, file handles) when it returns. The
    subprocess's exception is re-raised here, chained to its traceback; after ``timeout`` seconds the
    subprocess is killed and ``TimeoutError`` raised. Set ``FORCE_RUN_IN_MAIN_PROCESS=1`` to call ``f``
    directly (for debugging). ``f`` and its arguments must be picklable.

    >>> import math
    >>> run_in_subprocess(math.factorial, 5)
    120
    """
    if os.environ.get("FORCE_RUN_IN_MAIN_PROCESS"):
        return f(*args, **kwargs)
    context = mp.get_context("spawn")
    parent_end, child_end = context.Pipe(duplex=False)
    process = context.Process(target=_subprocess_target, args=(child_end, f, args, kwargs), daemon=False)
    process.start()
    child_end.close()
    try:
        if not parent_end.poll(timeout):
            raise TimeoutError(
                f"{getattr(f, '__qualname__', f)!s} did not finish within {timeout} seconds in the subprocess"
            )
        try:
            ok, payload = parent_end.recv()
        except EOFError:
            process.join()
            raise RuntimeError(
                f"the subprocess running {getattr(f, '__qualname__', f)!s} died with exit code {process.exitcode}"
            ) from None
        process.join(timeout=30)
    finally:
        if process.is_alive():
            process.kill()
            process.join()
        parent_end.close()
    if ok:
        return payload
    error, formatted = payload
    raise error from _RemoteTraceback(f"\n--- subprocess traceback ---\n{formatted}")


def get_chunks_ranges(total: int, *, chunk_size: int | None = None, parts: int | None = None) -> list[tuple[int, int]]:
    """Split ``range(total)`` into ``[start, end)`` ranges of ``chunk_size`` elements, or into ``parts`` balanced ones.

    >>> get_chunks_ranges(10, chunk_size=3)
    [(0, 3), (3, 6), (6, 9), (9, 10)]
    >>> get_chunks_ranges(10, parts=3)
    [(0, 4), (4, 7), (7, 10)]
    """
    if (chunk_size is None) == (parts is None):
        raise ValueError("give exactly one of chunk_size and parts")
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    if chunk_size is not None:
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be > 0, got {chunk_size}")
        return [(start, min(start + chunk_size, total)) for start in range(0, total, chunk_size)]
    assert parts is not None
    if parts <= 0:
        raise ValueError(f"parts must be > 0, got {parts}")
    count = min(parts, total)
    base, extra = divmod(total, count) if count else (0, 0)
    ranges, start = [], 0
    for index in range(count):
        end = start + base + (1 if index < extra else 0)
        ranges.append((start, end))
        start = end
    return ranges


def num_available_cores(verbose: bool = False) -> int:
    """CPU cores this process may use: LSF's ``LSB_DJOB_NUMPROC`` when set, else the CPU affinity mask
    (so a container or ``taskset`` limit is honoured), else ``os.cpu_count()``.
    """
    lsf = os.environ.get("LSB_DJOB_NUMPROC")
    if lsf and lsf.isdigit() and int(lsf) > 0:
        cores = int(lsf)
    elif hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    if verbose:
        print(f"num_available_cores: {cores}")
    return cores
