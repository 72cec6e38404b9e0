"""One cache directory (``<cache_dir>/<unique_name>/<pipeline_hash>/``) as a key-value store on ``diskcache``.

Writable stores are a :class:`diskcache.Cache`: SQLite rows (WAL mode) pointing at value files, a row inserted in a
transaction only after its file is fully written. A process killed mid-write therefore leaves at most an orphan
file that no row references, never a servable partial value; several processes may write and read at once.

Read-only stores open the same SQLite file with ``immutable=1`` and decode rows with diskcache's own ``Disk``: no
locks, no writes, no ``-wal``/``-shm`` files, so a finished cache can be read by many processes on many nodes, also
on network filesystems where SQLite's locking is unreliable.

Every open store holds the directory's lease, and a store writes value files under the build lock (see
:mod:`fuse.data.cache._locks`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import logging
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar

import diskcache

from fuse.data.cache._codec import ChunkReader, CorruptCacheError
from fuse.data.cache._locks import BUILD_LOCK_NAME, open_lock_file, take_lease

__all__ = [
    "NO_ENTRY",
    "CacheStore",
    "ReadOnlyCacheError",
]

_log = logging.getLogger("fuse.data")
_T = TypeVar("_T")

_DB_NAME = "cache.db"  # diskcache's database file name
NO_ENTRY = "no entry"  # how CacheStore.value_problem starts when the key has no row at all
_MIN_FILE_SIZE = 2**15  # values from this size are files; smaller ones live in the SQLite row
_NO_LIMIT = 2**62


_SUBDIRS = 64  # value files are spread over this many sub-directories (16k files each for a million samples)


class _FlatDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's ``Disk`` (its documented extension point) with value files in 64 sub-directories instead of
    65,536, and streamed values written without a ``makedirs`` per file: diskcache's two random levels made almost
    every sample create one or two directories, and even an existing directory cost a failing ``mkdir`` call per
    value. Readers follow the file name stored in each row, whatever the layout."""

    def filename(self, key: Any = None, value: Any = None) -> tuple[str, str]:
        name = os.urandom(16).hex()
        filename = os.path.join(f"{int(name[:2], 16) % _SUBDIRS:02d}", name[2:] + ".val")
        return filename, os.path.join(self._directory, filename)

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> tuple[int, int, str | None, Any]:
        if not read:
            return super().store(value, read, key=key)  # type: ignore[no-any-return]
        filename, full_path = self.filename(key, value)
        try:
            writer = open(full_path, "xb")  # noqa: SIM115  (closed by the with below)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(full_path), exist_ok=True)
            writer = open(full_path, "xb")  # noqa: SIM115
        size = 0
        try:
            with writer:
                for chunk in iter(functools.partial(value.read, 2**22), b""):
                    writer.write(chunk)
                    size += len(chunk)
        except BaseException:
            with contextlib.suppress(OSError):  # a partial file (e.g. a full disk) is never referenced: drop it now
                os.remove(full_path)
            raise
        return size, diskcache.core.MODE_BINARY, filename, None


class ReadOnlyCacheError(RuntimeError):
    """A write was attempted on a cache opened read-only, or a read-only cache cannot be opened."""


def _writable_dir(path: Path) -> bool:
    """Whether this process may create files in ``path`` (``False`` also on a read-only mount, even for root)."""
    return os.access(path, os.W_OK)


def _database_error(path: Path, error: sqlite3.Error) -> Exception:
    """``error`` from SQLite, as an error that names the cache directory and the fix."""
    database = path / _DB_NAME
    text = str(error)
    if isinstance(error, sqlite3.OperationalError):
        if "disk is full" in text:
            return OSError(
                errno.ENOSPC,
                f"no space left for the cache database {database} ({text}): nothing more was committed (samples cached "
                "before stay readable); free space, or add a cache dir, and rerun (dataset.create() resumes)",
            )
        if _is_unwritable(error):
            return ReadOnlyCacheError(
                f"cannot write the cache database {database} ({text}): the directory is not writable (a read-only "
                "filesystem or no permission). A finished cache reads without writing: open it with "
                "SamplesCacher(..., read_only=True); to build, give cache_dirs a writable directory"
            )
        return error  # e.g. "database is locked": SQLite's own message says it
    return CorruptCacheError(
        f"the cache database {database} is damaged ({text}); delete the directory {path} (or pass "
        "restart_cache=True to SamplesCacher) and build the cache again, e.g. with dataset.create()"
    )


def _is_unwritable(error: sqlite3.Error) -> bool:
    text = str(error)
    return isinstance(error, sqlite3.OperationalError) and any(
        part in text for part in ("unable to open", "readonly", "read-only", "disk is full")
    )


def _translating(method: Callable[..., _T]) -> Callable[..., _T]:
    """Raise SQLite errors of ``method`` as errors that name the cache directory (see :func:`_database_error`)."""

    @functools.wraps(method)
    def wrapper(self: CacheStore, *args: Any, **kwargs: Any) -> _T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            translated = _database_error(self.path, error)
            if translated is error:
                raise
            raise translated from error

    return wrapper


class CacheStore:
    """Key-value access to one cache directory; see the module docstring.

    A store opened for writing on a directory that holds a cache but is not writable (a read-only filesystem, a
    copy without write permission) opens read-only instead (``read_only`` is then ``True``): reads work, a write
    raises :class:`ReadOnlyCacheError` naming the directory.

    >>> import tempfile
    >>> store = CacheStore(Path(tempfile.mkdtemp()) / "hash_x", read_only=False)
    >>> store.put_object("info:'a'", ["a"])
    >>> store.get_object("info:'a'")
    ['a']
    >>> store.close()
    """

    def __init__(self, path: Path, *, read_only: bool) -> None:
        self.path = path
        self.read_only = read_only
        self.not_writable: str | None = None  # why a store asked to write was opened read-only
        self._cache: diskcache.Cache | None = None
        self._connection: sqlite3.Connection | None = None
        self._disk: diskcache.Disk | None = None
        self._lease: IO[bytes] | None = None
        self._build_lock: IO[bytes] | None = None
        self._writing_depth = 0
        self._pid = os.getpid()
        self._open()

    # ------------------------------------------------------------------ opening
    @_translating
    def _open(self) -> None:
        self._pid = os.getpid()
        exists = (self.path / _DB_NAME).is_file()
        if not self.read_only and exists and not _writable_dir(self.path):
            self._fall_back("the directory is not writable (a read-only filesystem or no permission)")
        if not self.read_only:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ReadOnlyCacheError(
                    f"cannot create the cache directory {self.path} ({error}); give cache_dirs a writable directory"
                ) from error
            self._lease = take_lease(self.path, create=True)
            try:
                self._cache = self._open_diskcache()
                return
            except sqlite3.OperationalError as error:
                # opening for writing writes (diskcache stores its settings): on a full disk or a directory that
                # refuses writes, a finished cache is still read
                if not (exists and _is_unwritable(error)):
                    raise
                self._fall_back(f"SQLite cannot write there ({error})")
        self._lease = self._lease or take_lease(self.path, create=False)
        database = self.path / _DB_NAME
        if not database.is_file():
            raise ReadOnlyCacheError(
                f"no cache at {self.path} (missing {_DB_NAME}); build it first with a writable SamplesCacher "
                "(read_only=False)"
            )
        wal = self.path / f"{_DB_NAME}-wal"
        if self.not_writable is not None and wal.exists() and wal.stat().st_size > 0:
            # the write-ahead log holds committed samples: read it (SQLite reads it without writing)
            uri = f"file:{urllib.parse.quote(str(database))}?mode=ro"
            self._connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._connection.execute("SELECT COUNT(*) FROM Settings").fetchone()
            self._disk = diskcache.Disk(str(self.path))
            return
        if wal.exists() and wal.stat().st_size > 0:
            raise ReadOnlyCacheError(
                f"the cache at {self.path} has writes not yet merged into {_DB_NAME} ({wal.name} is not empty): a "
                "writer is still running or stopped before finishing. Let the writer finish (SamplesCacher."
                "cache_samples merges them at its end) or call finalize() on a writable SamplesCacher, then open it "
                "read-only"
            )
        uri = f"file:{urllib.parse.quote(str(database))}?immutable=1"
        self._connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._connection.execute("SELECT COUNT(*) FROM Settings").fetchone()  # a damaged file fails here, not later
        self._disk = diskcache.Disk(str(self.path))

    def _open_diskcache(self) -> diskcache.Cache:
        return diskcache.Cache(
            str(self.path),
            size_limit=_NO_LIMIT,
            eviction_policy="none",  # a cache that silently evicts samples would recompute them at random
            cull_limit=0,
            statistics=False,
            tag_index=False,
            disk_min_file_size=_MIN_FILE_SIZE,
            disk=_FlatDisk,
            timeout=120,
        )

    def _fall_back(self, reason: str) -> None:
        """Open read-only a store that was asked to write but cannot (``reason``): its samples stay readable."""
        self.read_only, self.not_writable = True, reason
        _log.warning("cache %s opened read-only: %s", self.path, reason)

    def _ensure_process(self) -> None:
        """SQLite connections must not cross a fork: reopen in a new process (a DataLoader worker, a pool worker).
        The parent's lock files are closed here without unlocking: the parent still holds them."""
        if os.getpid() != self._pid:
            for inherited in (self._lease, self._build_lock):
                if inherited is not None:
                    inherited.close()
            self._cache = None
            self._connection = None
            self._lease = self._build_lock = None
            self._writing_depth = 0
            self._open()

    # ------------------------------------------------------------------ reading
    def _select(self, key: str) -> tuple[int, str | None, Any, int] | None:
        """The row of ``key``: (mode, file name, inline value, size), or ``None``."""
        query = "SELECT mode, filename, value, size FROM Cache WHERE key = ? AND raw = 1"
        if self._cache is not None:
            row = self._cache._sql(query, (key,)).fetchone()
        else:
            assert self._connection is not None
            row = self._connection.execute(query, (key,)).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])

    @_translating
    def get_value(self, key: str) -> BinaryIO | bytes | None:
        """The stored bytes of ``key``: an open file (large values; the caller closes it), bytes, or ``None``.

        Raises :class:`FileNotFoundError` naming the file when the row exists but its value file does not."""
        self._ensure_process()
        row = self._select(key)
        if row is None:
            return None
        mode, filename, value, _ = row
        if filename is not None:
            try:
                return open(self.path / filename, "rb")
            except FileNotFoundError:
                if self._select(key) is None:  # deleted meanwhile (delete(), a repair): not cached any more
                    return None
                raise
        disk = self._cache._disk if self._cache is not None else self._disk
        assert disk is not None
        found = disk.fetch(mode, filename, value, True)
        if isinstance(found, bytes):
            return found
        raise TypeError(f"{self.path}: key {key!r} does not hold bytes but a {type(found).__name__}")

    def value_file(self, key: str) -> Path | None:
        """The file that holds ``key``'s value, ``None`` when it is stored in the database row (or absent)."""
        self._ensure_process()
        row = self._select(key)
        return None if row is None or row[1] is None else self.path / row[1]

    @_translating
    def value_problem(self, key: str) -> str | None:
        """What is wrong with ``key``'s stored value as far as a ``stat`` tells (no row, a missing or short file), or
        ``None``; the bytes themselves are checked when read (checksums)."""
        self._ensure_process()
        row = self._select(key)
        if row is None:
            return f"{NO_ENTRY} for {key!r} in {self.path / _DB_NAME}"
        if row[1] is None:
            return None
        file = self.path / row[1]
        try:
            size = file.stat().st_size
        except FileNotFoundError:
            return f"its value file {file} is missing"
        return None if size == row[3] else f"its value file {file} has {size} of {row[3]} bytes"

    @_translating
    def get_object(self, key: str) -> Any:
        """The object stored under ``key`` with :meth:`put_object`, or ``None``."""
        self._ensure_process()
        if self._cache is not None:
            return self._cache.get(key, default=None, retry=True)
        row = self._select(key)
        if row is None:
            return None
        assert self._disk is not None
        return self._disk.fetch(row[0], row[1], row[2], False)

    @_translating
    def all_keys(self) -> list[str]:
        """Every key in the store (string keys only: the cacher writes no others)."""
        self._ensure_process()
        if self._cache is not None:
            return [key for key in self._cache.iterkeys() if isinstance(key, str)]
        assert self._connection is not None
        return [row[0] for row in self._connection.execute("SELECT key FROM Cache WHERE raw = 1 ORDER BY rowid")]

    def __contains__(self, key: str) -> bool:
        self._ensure_process()
        return self._select(key) is not None

    # ------------------------------------------------------------------ writing
    def _writable(self) -> diskcache.Cache:
        self._ensure_process()
        if self._cache is None:
            if self.not_writable is not None:
                raise ReadOnlyCacheError(
                    f"the cache at {self.path} was opened read-only because {self.not_writable}, so it cannot be "
                    "completed or changed here: free space, or build or repair it where it is writable (or give "
                    "cache_dirs a writable directory first)"
                )
            raise ReadOnlyCacheError(f"the cache at {self.path} is open read-only; open it with read_only=False")
        return self._cache

    @contextlib.contextmanager
    def _writing(self) -> Iterator[diskcache.Cache]:
        """Hold ``build.lock`` shared while value files are written and until their rows are committed."""
        cache = self._writable()
        if self._writing_depth == 0:
            if self._build_lock is None:
                self._build_lock = open_lock_file(self.path / BUILD_LOCK_NAME)
            if self._build_lock is not None:
                try:
                    fcntl.flock(self._build_lock.fileno(), fcntl.LOCK_SH)
                except OSError:  # no flock on this filesystem: then no sweep can take it exclusively either
                    self._build_lock.close()
                    self._build_lock = None
        self._writing_depth += 1
        try:
            yield cache
        finally:
            self._writing_depth -= 1
            if self._writing_depth == 0 and self._build_lock is not None:
                fcntl.flock(self._build_lock.fileno(), fcntl.LOCK_UN)

    @_translating
    def put_chunks(self, key: str, total: int, chunks: list[memoryview | bytes]) -> None:
        """Store the concatenation of ``chunks`` (``total`` bytes) under ``key``, streaming large values to a file."""
        with self._writing() as cache:
            if total < _MIN_FILE_SIZE:
                cache.set(key, b"".join(bytes(c) for c in chunks), retry=True)
            else:
                cache.set(key, ChunkReader(chunks), read=True, retry=True)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group reads and writes into one SQLite transaction, begun with the write lock (``BEGIN IMMEDIATE``):
        what is read inside cannot change before the writes commit; other writers wait meanwhile."""
        with self._writing() as cache:
            try:
                with cache.transact(retry=True):
                    yield
            except sqlite3.Error as error:
                translated = _database_error(self.path, error)
                if translated is error:
                    raise
                raise translated from error

    @_translating
    def put_object(self, key: str, value: Any) -> None:
        """Store a small picklable ``value`` under ``key``."""
        with self._writing() as cache:
            cache.set(key, value, retry=True)

    @_translating
    def add(self, key: str, value: Any, expire: float) -> bool:
        """Store ``value`` only if ``key`` is absent (atomic); it disappears after ``expire`` seconds."""
        with self._writing() as cache:
            return bool(cache.add(key, value, expire=expire, retry=True))

    @_translating
    def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if it was there."""
        return bool(self._writable().delete(key, retry=True))

    @_translating
    def discard(self, key: str, *, identity: tuple[Any, ...] | None = None) -> bool:
        """Remove the damaged value of ``key``: the row that is still ``identity`` (what :meth:`row_identity` said
        when the damage was seen), or without ``identity`` a row whose file is missing or short. A sound value that
        another process wrote meanwhile (a concurrent repair) is kept; ``True`` if a row was removed."""
        with self.transaction():
            damaged = self.row_identity(key) == identity if identity is not None else self.value_problem(key)
            if not damaged or key not in self:
                return False
            return bool(self._writable().delete(key, retry=True))

    def row_identity(self, key: str) -> tuple[Any, ...] | None:
        """What identifies the stored value of ``key`` (its file name, or its inline bytes), or ``None``."""
        row = self._select(key)
        return None if row is None else (row[1], row[2])

    @_translating
    def remove_orphan_files(self) -> int:
        """Delete value files that no row references (left by a process killed mid-write), if no other process is
        writing to this store now (else nothing: a file being written is not yet referenced); returns the count."""
        cache = self._writable()
        lock = open_lock_file(self.path / BUILD_LOCK_NAME)
        if lock is None:
            return 0
        with lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # another process is writing (or no flock here): its files may not be committed yet
                return 0
            referenced = {row[0] for row in cache._sql("SELECT filename FROM Cache WHERE filename IS NOT NULL")}
            removed = 0
            for sub in os.scandir(self.path):
                if not sub.is_dir(follow_symlinks=False):
                    continue
                for entry in os.scandir(sub.path):
                    if entry.name.endswith(".val") and f"{sub.name}/{entry.name}" not in referenced:
                        with contextlib.suppress(FileNotFoundError):
                            os.remove(entry.path)
                            removed += 1
        if removed:
            _log.info("cache %s: removed %d value files that no committed sample references", self.path, removed)
        return removed

    @_translating
    def finalize(self) -> None:
        """Merge the write-ahead log into the database file so that read-only openers see every write."""
        cache = self._writable()
        cache.expire(retry=True)
        connection = sqlite3.connect(str(self.path / _DB_NAME), timeout=120)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            connection.close()

    def close(self) -> None:
        """Close the connections and give the lease back (the store reopens on next use)."""
        if os.getpid() == self._pid:
            if self._cache is not None:
                self._cache.close()
            if self._connection is not None:
                self._connection.close()
        for held in (self._lease, self._build_lock):
            if held is not None:
                held.close()  # in a forked child this closes its copy only: the parent keeps its lock
        self._cache = None
        self._connection = None
        self._lease = self._build_lock = None
        self._pid = -1  # the next use reopens

    def __del__(self) -> None:
        # a store dropped without close() (a cacher that simply goes out of scope) releases its lock files and
        # connections here, instead of leaving them to the garbage collector with a ResourceWarning each; at
        # interpreter exit the modules this needs may be gone, and the kernel releases the locks anyway
        with contextlib.suppress(Exception):
            self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "read_only": self.read_only, "not_writable": self.not_writable}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self.read_only = state["read_only"]
        self.not_writable = state.get("not_writable")
        self._cache = None
        self._connection = None
        self._disk = None
        self._lease = self._build_lock = None
        self._writing_depth = 0
        self._pid = -1  # opened on first use in the new process
