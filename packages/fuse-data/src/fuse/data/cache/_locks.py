"""The lock files of a cache directory and its atomic removal.

Two lock files (``fcntl.flock``, released by the kernel when a process dies, so never stale):

- ``lease.lock``: every open store holds a shared lock on it; :func:`try_remove_cache_dir` takes it exclusively
  and skips a cache that any process has open, so that pruning never deletes a cache in use.
- ``build.lock``: held shared while value files are written and committed; a builder that gets it exclusively
  knows that no file is being written, and deletes value files no committed row references (left by a process
  killed mid-write or by a full disk).

A directory is removed by renaming it first (:func:`remove_tree_atomically`), so that a process killed meanwhile
leaves a ``.removing-*`` directory that nothing reads and the next :func:`sweep_removed` deletes.

>>> import tempfile
>>> parent = Path(tempfile.mkdtemp())
>>> (parent / "hash_x").mkdir()
>>> try_remove_cache_dir(parent / "hash_x"), sorted(p.name for p in parent.iterdir())
(True, [])
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import IO

__all__ = [
    "BUILD_LOCK_NAME",
    "LEASE_NAME",
    "open_lock_file",
    "remove_tree_atomically",
    "sweep_removed",
    "take_lease",
    "try_remove_cache_dir",
]

_log = logging.getLogger("fuse.data")

LEASE_NAME = "lease.lock"
BUILD_LOCK_NAME = "build.lock"
_REMOVING_PREFIX = ".removing-"  # a directory renamed for deletion: never read, removed by the next sweep


def open_lock_file(path: Path, *, create: bool = True) -> IO[bytes] | None:
    """``path`` opened for ``flock`` (created if ``create`` and possible); ``None`` where it cannot be (a read-only
    copy without it: such a cache cannot be removed by this library either)."""
    try:
        if create:
            return open(path, "ab")
        return open(path, "rb")
    except OSError:
        try:
            return open(path, "rb")
        except OSError:
            return None


def take_lease(directory: Path, *, create: bool) -> IO[bytes] | None:
    """A shared lock on ``directory``'s lease file, checked to still be the file at that path (a pruner that took
    the lease before us has renamed the directory away: then the lease of the new directory is taken, which
    ``create`` makes, or ``None``)."""
    while True:
        lease = open_lock_file(directory / LEASE_NAME, create=create)
        if lease is None:
            return None
        try:
            fcntl.flock(lease.fileno(), fcntl.LOCK_SH)
        except OSError as error:  # a filesystem without flock (some network mounts): no lease, as before
            _log.debug("cache %s: no lease (%s)", directory, error)
            lease.close()
            return None
        try:
            same = os.stat(directory / LEASE_NAME).st_ino == os.fstat(lease.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return lease
        lease.close()
        if not create:
            return None
        directory.mkdir(parents=True, exist_ok=True)


def remove_tree_atomically(path: Path) -> None:
    """Remove the directory ``path``: renamed first (one atomic step: a process killed meanwhile leaves a
    ``.removing-*`` directory that nothing reads and :func:`sweep_removed` deletes), then deleted."""
    doomed = path.with_name(f"{_REMOVING_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}")
    os.rename(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def sweep_removed(parent: Path) -> None:
    """Finish removals that a killed process left in ``parent`` (see :func:`remove_tree_atomically`)."""
    with contextlib.suppress(OSError):
        for child in parent.iterdir():
            if child.name.startswith(_REMOVING_PREFIX) and child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
                _log.info("removed %s, left by an interrupted removal", child)


def try_remove_cache_dir(path: Path) -> bool:
    """Remove the cache directory ``path`` unless a process has it open (holds its lease); ``True`` if removed."""
    lease = open_lock_file(path / LEASE_NAME)
    if lease is None:
        return False
    try:
        try:
            fcntl.flock(lease.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by a process that has the cache open (or no flock here): keep it
            return False
        remove_tree_atomically(path)  # renamed while the lease is held: a later opener never sees a half-removed dir
        return True
    finally:
        lease.close()
