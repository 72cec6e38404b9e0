"""One cache directory (``<cache_dir>/<unique_name>/<pipeline_hash>/``) as a key-value store on ``diskcache``.

Writable stores are a :class:`diskcache.Cache`: SQLite rows (WAL mode) pointing at value files, a row inserted in a
transaction only after its file is fully written. A process killed mid-write therefore leaves at most an orphan
file that no row references, never a servable partial value; several processes may write and read at once.

Read-only stores open the same SQLite file with ``immutable=1`` and decode rows with diskcache's own ``Disk``: no
locks, no writes, no ``-wal``/``-shm`` files, so a finished cache can be read by many processes on many nodes, also
on network filesystems where SQLite's locking is unreliable.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import diskcache

from fuse.data._sample_codec import ChunkReader

__all__ = ["CacheStore", "ReadOnlyCacheError"]

_DB_NAME = "cache.db"  # diskcache's database file name
_MIN_FILE_SIZE = 2**15  # values from this size are files; smaller ones live in the SQLite row
_NO_LIMIT = 2**62


_SUBDIRS = 64  # value files are spread over this many sub-directories (16k files each for a million samples)


class _FlatDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's ``Disk`` (its documented extension point) with value files in 64 sub-directories instead of
    65,536, and streamed values written without a ``makedirs`` per file: diskcache's two random levels made almost
    every sample create one or two directories (0.5-0.8 ms each on this VM's disk), and even an existing directory
    cost a failing ``mkdir`` call per value. Readers follow the file name stored in each row, whatever the layout."""

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
        with writer:
            for chunk in iter(functools.partial(value.read, 2**22), b""):
                writer.write(chunk)
                size += len(chunk)
        return size, diskcache.core.MODE_BINARY, filename, None


class ReadOnlyCacheError(RuntimeError):
    """A write was attempted on a cache opened read-only, or a read-only cache cannot be opened."""


class CacheStore:
    """Key-value access to one cache directory; see the module docstring.

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
        self._cache: diskcache.Cache | None = None
        self._connection: sqlite3.Connection | None = None
        self._disk: diskcache.Disk | None = None
        self._pid = os.getpid()
        self._open()

    # ------------------------------------------------------------------ opening
    def _open(self) -> None:
        self._pid = os.getpid()
        if not self.read_only:
            self._cache = diskcache.Cache(
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
            return
        database = self.path / _DB_NAME
        if not database.is_file():
            raise ReadOnlyCacheError(
                f"no cache at {self.path} (missing {_DB_NAME}); build it first with a writable SamplesCacher "
                "(read_only=False)"
            )
        wal = self.path / f"{_DB_NAME}-wal"
        if wal.exists() and wal.stat().st_size > 0:
            raise ReadOnlyCacheError(
                f"the cache at {self.path} has writes not yet merged into {_DB_NAME} ({wal.name} is not empty): a "
                "writer is still running or stopped before finishing. Let the writer finish (SamplesCacher."
                "cache_samples merges them at its end) or call finalize() on a writable SamplesCacher, then open it "
                "read-only"
            )
        uri = f"file:{urllib.parse.quote(str(database))}?immutable=1"
        self._connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._disk = diskcache.Disk(str(self.path))

    def _ensure_process(self) -> None:
        """SQLite connections must not cross a fork: reopen in a new process (a DataLoader worker, a pool worker)."""
        if os.getpid() != self._pid:
            self._cache = None
            self._connection = None
            self._open()

    # ------------------------------------------------------------------ reading
    def _row(self, key: str) -> tuple[int, str | None, Any] | None:
        assert self._connection is not None
        row = self._connection.execute(
            "SELECT mode, filename, value FROM Cache WHERE key = ? AND raw = 1", (key,)
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def get_value(self, key: str) -> BinaryIO | bytes | None:
        """The stored bytes of ``key``: an open file (large values; the caller closes it), bytes, or ``None``."""
        self._ensure_process()
        if self._cache is not None:
            found = self._cache.get(key, default=None, read=True, retry=True)
        else:
            row = self._row(key)
            if row is None:
                return None
            assert self._disk is not None
            found = self._disk.fetch(row[0], row[1], row[2], True)
        if found is None or isinstance(found, bytes):
            return found
        if hasattr(found, "read"):
            return found  # type: ignore[no-any-return]
        raise TypeError(f"{self.path}: key {key!r} does not hold bytes but a {type(found).__name__}")

    def get_object(self, key: str) -> Any:
        """The object stored under ``key`` with :meth:`put_object`, or ``None``."""
        self._ensure_process()
        if self._cache is not None:
            return self._cache.get(key, default=None, retry=True)
        row = self._row(key)
        if row is None:
            return None
        assert self._disk is not None
        return self._disk.fetch(row[0], row[1], row[2], False)

    def all_keys(self) -> list[str]:
        """Every key in the store (string keys only: the cacher writes no others)."""
        self._ensure_process()
        if self._cache is not None:
            return [key for key in self._cache.iterkeys() if isinstance(key, str)]
        assert self._connection is not None
        return [row[0] for row in self._connection.execute("SELECT key FROM Cache WHERE raw = 1 ORDER BY rowid")]

    # ------------------------------------------------------------------ writing
    def _writable(self) -> diskcache.Cache:
        self._ensure_process()
        if self._cache is None:
            raise ReadOnlyCacheError(f"the cache at {self.path} is open read-only; open it with read_only=False")
        return self._cache

    def put_chunks(self, key: str, total: int, chunks: list[memoryview | bytes]) -> None:
        """Store the concatenation of ``chunks`` (``total`` bytes) under ``key``, streaming large values to a file."""
        cache = self._writable()
        if total < _MIN_FILE_SIZE:
            cache.set(key, b"".join(bytes(c) for c in chunks), retry=True)
        else:
            cache.set(key, ChunkReader(chunks), read=True, retry=True)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one SQLite transaction (fewer commits; other writers wait meanwhile)."""
        with self._writable().transact(retry=True):
            yield

    def put_object(self, key: str, value: Any) -> None:
        """Store a small picklable ``value`` under ``key``."""
        self._writable().set(key, value, retry=True)

    def add(self, key: str, value: Any, expire: float) -> bool:
        """Store ``value`` only if ``key`` is absent (atomic); it disappears after ``expire`` seconds."""
        return bool(self._writable().add(key, value, expire=expire, retry=True))

    def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if it was there."""
        return bool(self._writable().delete(key, retry=True))

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
        """Close the connections (the store reopens on next use)."""
        if self._cache is not None and os.getpid() == self._pid:
            self._cache.close()
        if self._connection is not None and os.getpid() == self._pid:
            self._connection.close()
        self._cache = None
        self._connection = None
        self._pid = -1  # the next use reopens

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "read_only": self.read_only}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self.read_only = state["read_only"]
        self._cache = None
        self._connection = None
        self._disk = None
        self._pid = -1  # opened on first use in the new process
