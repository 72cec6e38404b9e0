"""Atomic file writes: readers see the old file or the complete new one, never a partial write."""

from __future__ import annotations

import bz2
import gzip
import os
import uuid
from types import TracebackType
from typing import IO, Any

from fuse.core._renamed import renamed_keywords

__all__ = ["AtomicFileWriter"]

_COMPRESSORS: dict[str, Any] = {".gz": gzip.open, ".bz2": bz2.open, ".pbz2": bz2.open}


def compressor_for(path: str | os.PathLike[str]) -> Any:
    """``gzip.open`` / ``bz2.open`` for ``.gz`` / ``.bz2`` / ``.pbz2`` paths, else the builtin ``open``."""
    return _COMPRESSORS.get(os.path.splitext(os.fspath(path))[1].lower(), open)


class AtomicFileWriter:
    """Context manager that writes ``path`` atomically.

    Data goes to a temporary file in the same directory, which replaces ``path`` (``os.replace``) only when
    the block ends without an exception; on an exception the temporary file is removed and ``path`` is
    untouched. Files ending in ``.gz`` / ``.bz2`` / ``.pbz2`` are compressed, unless ``compress=False`` (bytes that
    are already compressed, e.g. a ``.nii.gz`` copied out of an archive). With ``durable=True`` the data and the
    directory entry are fsynced, so the file also survives a power loss. FuseMedML's ``filename=`` keyword still
    works, with a ``DeprecationWarning``.

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with AtomicFileWriter(target, "w") as f:
    ...     _ = f.write("hello")
    >>> open(target).read()
    'hello'
    """

    @renamed_keywords(filename="path")
    def __init__(
        self,
        path: str | os.PathLike[str],
        mode: str = "wb",
        *,
        durable: bool = False,
        encoding: str | None = None,
        compress: bool = True,
    ):
        if mode not in ("w", "wb", "wt"):
            raise ValueError(f"AtomicFileWriter mode must be 'w', 'wt' or 'wb', got {mode!r}")
        self.path = os.fspath(path)
        self.mode = mode
        self.durable = durable
        self.compress = compress
        self.encoding = encoding if encoding is not None or "b" in mode else "utf-8"
        self._temp_path: str | None = None
        self._file: IO[Any] | None = None

    def __enter__(self) -> IO[Any]:
        directory, name = os.path.split(os.path.abspath(self.path))
        temp_path = os.path.join(directory, f".{name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
        # O_EXCL: never clobber another writer's temporary; 0o666 & umask: the final file gets normal permissions
        try:
            os.close(os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileNotFoundError:
            raise FileNotFoundError(
                f"cannot write {self.path!r}: its folder {directory!r} does not exist; create it first"
            ) from None
        self._temp_path = temp_path
        opener = compressor_for(self.path) if self.compress else open
        if "b" in self.mode:
            self._file = opener(temp_path, "wb")
        else:
            self._file = opener(temp_path, "wt", encoding=self.encoding)
        return self._file

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        file, temp_path = self._file, self._temp_path
        if file is None or temp_path is None:
            raise RuntimeError("AtomicFileWriter.__exit__ called without __enter__")
        self._file = self._temp_path = None
        try:
            file.close()
            if exc_type is None:
                if self.durable:
                    _fsync_path(temp_path)
                os.replace(temp_path, self.path)
                if self.durable and os.name == "posix":
                    _fsync_path(os.path.dirname(os.path.abspath(self.path)))
        finally:
            if os.path.exists(temp_path):  # the block failed, or close/replace did
                os.unlink(temp_path)


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
