"""Where one version of a cache lives: its directory in every read location, the location new samples go to, the
claims store all builders share, and the open :class:`~fuse.data.cache._store.CacheStore` of each directory; and
the questions asked of all of them at once (which samples are committed, which are damaged).

A version directory is ``<cache_dir>/<unique_name>/<version>/``; the version (the pipeline hash) is asked for only
when a directory is first needed, so that the cacher can take it on first use.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

from fuse.core import AtomicFileWriter
from fuse.data.cache._ids import sample_id_key
from fuse.data.cache._store import NO_ENTRY, CacheStore, ReadOnlyCacheError
from fuse.data.cache._versions import remove_all_versions

__all__ = ["DESCRIPTION_FILE", "CachePlaces", "as_dirs"]

DESCRIPTION_FILE = "pipeline_description.txt"


def as_dirs(cache_dirs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """One or several cache directories as a non-empty list of absolute paths (``~`` expanded).

    >>> as_dirs("/tmp/cache")
    [PosixPath('/tmp/cache')]
    """
    dirs = [cache_dirs] if isinstance(cache_dirs, (str, os.PathLike)) else list(cache_dirs)
    if not dirs:
        raise ValueError("cache_dirs is empty; give at least one directory")
    return [Path(os.path.expanduser(os.fspath(d))).absolute() for d in dirs]


class CachePlaces:
    """The directories and stores of one cache version.

    :param version: returns the version directory's name (called when a directory is first needed).
    :param describe: returns the text of ``pipeline_description.txt``, written once into each directory written to.
    """

    def __init__(
        self,
        unique_name: str,
        cache_dirs: list[Path],
        *,
        version: Callable[[], str],
        describe: Callable[[], str],
        read_only: bool,
        min_free_bytes: int,
        custom_write_dir: Callable[[list[str]], str] | None,
        custom_read_dirs: Callable[[], Sequence[str]] | None,
    ) -> None:
        self._unique_name = unique_name
        self.cache_dirs = cache_dirs
        self._version = version
        self._describe = describe
        self._read_only = read_only
        self._min_free_bytes = min_free_bytes
        self._custom_write_dir = custom_write_dir
        self._custom_read_dirs = custom_read_dirs
        self._stores: dict[Path, CacheStore] = {}
        self._written: set[Path] = set()
        self._read_paths: list[Path] | None = None

    # ------------------------------------------------------------------ directories
    def read_roots(self) -> list[Path]:
        if self._custom_read_dirs is not None:
            return as_dirs(list(self._custom_read_dirs()))
        return self.cache_dirs

    def all_roots(self) -> list[Path]:
        """Every cache dir, written or read, once."""
        return list(dict.fromkeys([*self.cache_dirs, *self.read_roots()]))

    def version_dirs(self) -> list[Path]:
        """This version's directory in every read location (whether or not it exists yet)."""
        if self._custom_read_dirs is None and self._read_paths is not None:
            return self._read_paths
        paths = [root / self._unique_name / self._version() for root in self.read_roots()]
        if self._custom_read_dirs is None:
            self._read_paths = paths
        return paths

    def _write_root(self) -> Path:
        if self._custom_write_dir is not None:
            return as_dirs(self._custom_write_dir([str(d) for d in self.cache_dirs]))[0]
        free = {}
        for root in self.cache_dirs:
            existing = root
            while not existing.exists() and existing != existing.parent:
                existing = existing.parent
            free[root] = shutil.disk_usage(existing).free
            if free[root] >= self._min_free_bytes:
                return root
        listing = ", ".join(f"{root} ({space / 2**30:.2f} GiB free)" for root, space in free.items())
        raise OSError(
            f"no cache dir has {self._min_free_bytes / 2**30:.2f} GiB free (min_free_bytes): {listing}; free space, "
            "add a cache dir, or lower min_free_bytes"
        )

    # ------------------------------------------------------------------ stores
    def _store(self, path: Path, *, read_only: bool) -> CacheStore:
        store = self._stores.get(path)
        if store is None or (store.read_only and not read_only):
            store = CacheStore(path, read_only=read_only)
            self._stores[path] = store
        return store

    def read_stores(self) -> list[CacheStore]:
        """The stores of this version's directories that exist, in read order."""
        stores = []
        for path in self.version_dirs():
            if path in self._stores:
                stores.append(self._stores[path])
            elif (path / "cache.db").is_file():
                stores.append(self._store(path, read_only=self._read_only))
        if not stores and self._read_only:
            raise ReadOnlyCacheError(
                f"no cache at {', '.join(str(p) for p in self.version_dirs())}; build it first with a writable "
                "SamplesCacher (read_only=False)"
            )
        return stores

    def write_store(self) -> CacheStore:
        """The store new samples go to (in the first cache dir with ``min_free_bytes`` free, or the custom one)."""
        if self._read_only:
            raise ReadOnlyCacheError(
                f"cache {self._unique_name!r} is open read_only and a sample is missing; build it with a writable "
                "SamplesCacher first"
            )
        path = self._write_root() / self._unique_name / self._version()
        store = self._store(path, read_only=False)
        if path not in self._written:
            store.remove_orphan_files()  # left by a process killed mid-write or by a full disk
            description = path / DESCRIPTION_FILE
            if not description.exists():
                with AtomicFileWriter(description, "w") as file:
                    file.write(self._describe())
            self._written.add(path)
        return store

    def claims_store(self) -> CacheStore:
        """Claims live in the first cache dir, whichever dir receives the samples, so all builders see them."""
        return self._store(self.cache_dirs[0] / self._unique_name / self._version(), read_only=False)

    # ------------------------------------------------------------------ records across the stores
    def info_records(self) -> Iterator[dict[str, Any]]:
        """Every commit record (``{"orig_id", "final_ids"}``) in the read locations, each original id once, in
        storage order."""
        seen: set[str] = set()
        for store in self.read_stores():
            for key in store.all_keys():
                if key.startswith("info:") and key not in seen:
                    info = store.get_object(key)
                    if info is not None:
                        seen.add(key)
                        yield info

    def find_origin(self, sample_id: Hashable) -> tuple[bool, Hashable, list[Hashable] | None]:
        """``(found, original id, its final ids)`` of the commit record that produced ``sample_id`` (a scan)."""
        wanted = sample_id_key(sample_id)
        for info in self.info_records():
            if any(sample_id_key(final) == wanted for final in info["final_ids"] or []):
                return True, info["orig_id"], info["final_ids"]
        return False, None, None

    def damage(self, final_ids: list[Hashable] | None) -> str | None:
        """What is wrong with the stored samples ``final_ids`` (a missing row, a missing or short value file: what a
        ``stat`` shows; the bytes are checked when read), or ``None``."""
        for final_id in final_ids or []:
            key = f"sample:{sample_id_key(final_id)}"
            problems = [store.value_problem(key) for store in self.read_stores()]
            if problems and None not in problems:  # no dir holds it intact: name a damaged file rather than a gap
                stored = [p for p in problems if p is not None and not p.startswith(NO_ENTRY)]
                return f"sample {final_id!r}: {(stored or problems)[0]}"
        return None

    def finalize(self) -> None:
        """Merge pending writes into each database file written to, so that read-only openers see them."""
        for store in self._stores.values():
            if not store.read_only:
                store.finalize()

    def close(self) -> None:
        """Close every store and give its lease back (a later use reopens them)."""
        for store in self._stores.values():
            store.close()
        self._stores.clear()

    def remove_all_versions(self) -> None:
        """Close everything and delete every version of this cache in every cache dir."""
        self.close()
        self._written.clear()
        remove_all_versions(self.all_roots(), self._unique_name)
