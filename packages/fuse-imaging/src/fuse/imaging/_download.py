"""Download and extraction helpers for the dataset wrappers: atomic, checksum-verified downloads with a progress bar,
archive extraction that refuses path traversal, and per-dataset mirror URLs.

- :func:`download_file` writes to a temporary file in the destination's directory, fsyncs it, verifies the SHA-256
  (when given) and only then renames it into place: an interrupted or corrupt download leaves no file behind. A
  destination that already exists (with the right checksum, when one is given) is not downloaded again.
- :func:`extract_archive` extracts zip and tar (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``) archives,
  checking every member first: absolute paths, ``..`` components, links that point outside the destination and
  special files (devices, FIFOs) raise :class:`UnsafeArchiveError` naming the member, before anything is written.
- :func:`mirror_url` picks a dataset's base URL: an explicit argument, else the ``FUSE_<DATASET>_MIRROR``
  environment variable, else the official URL.

>>> import os, tempfile, zipfile
>>> folder = tempfile.mkdtemp()
>>> with zipfile.ZipFile(os.path.join(folder, "a.zip"), "w") as z:
...     z.writestr("scans/case_1.txt", "hello")
>>> [os.path.relpath(p, folder) for p in extract_archive(os.path.join(folder, "a.zip"), folder, progress=False)]
['scans/case_1.txt']
"""

from __future__ import annotations

import hashlib
import math
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from fuse.core import progress as _progress

__all__ = [
    "ChecksumMismatchError",
    "DownloadError",
    "UnsafeArchiveError",
    "download_file",
    "extract_archive",
    "file_sha256",
    "mirror_env_var",
    "mirror_url",
]

_CHUNK_BYTES = 1024 * 1024


class DownloadError(OSError):
    """A download failed (network error, HTTP error status, or fewer bytes than the server announced)."""


class ChecksumMismatchError(ValueError):
    """A downloaded file's SHA-256 differs from the expected one; the file was not kept."""


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the destination directory, or is not a file, directory or link."""


def mirror_url(dataset: str, default: str, mirror: str | None = None) -> str:
    """The base URL to download ``dataset`` from, without a trailing ``/``: ``mirror`` when given, else the environment
    variable ``FUSE_<DATASET>_MIRROR`` (``dataset`` upper-cased, other characters than letters and digits replaced by
    ``_``) when set and not empty, else ``default``.

    >>> mirror_url("kits21", "https://example.org/kits/")
    'https://example.org/kits'
    >>> os.environ["FUSE_KITS21_MIRROR"] = "http://127.0.0.1:8000/kits"
    >>> mirror_url("kits21", "https://example.org/kits")
    'http://127.0.0.1:8000/kits'
    >>> mirror_url("kits21", "https://example.org/kits", mirror="file-server/kits/")
    'file-server/kits'
    >>> del os.environ["FUSE_KITS21_MIRROR"]
    """
    if mirror is None:
        mirror = os.environ.get(mirror_env_var(dataset)) or None
    return (mirror if mirror is not None else default).rstrip("/")


def mirror_env_var(dataset: str) -> str:
    """The environment variable that overrides ``dataset``'s download base URL.

    >>> mirror_env_var("isic-2019")
    'FUSE_ISIC_2019_MIRROR'
    """
    return f"FUSE_{re.sub(r'[^A-Za-z0-9]', '_', dataset).upper()}_MIRROR"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's content, as lowercase hex.

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.bin")
    >>> _ = Path(path).write_bytes(b"abc")
    >>> file_sha256(path)[:16]
    'ba7816bf8f01cfea'
    """
    return _hash_file(Path(path), hashlib.sha256())


def _hash_file(path: Path, digest: Any) -> str:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return str(digest.hexdigest())


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None = None,
    progress: bool = True,
    *,
    md5: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` atomically and return ``dest`` as a :class:`~pathlib.Path`.

    The data goes to a temporary file in ``dest``'s directory (created if needed), is fsynced, checked against
    ``sha256`` (hex, case-insensitive) when given, and then renamed onto ``dest`` (``os.replace``). On any failure —
    network error, HTTP error status, a body shorter than its ``Content-Length``, checksum mismatch, interruption —
    the temporary file is removed and ``dest`` is left as it was.

    When ``dest`` already exists and ``sha256`` is ``None`` or matches its content, nothing is requested. An existing
    ``dest`` with a different checksum is downloaded again (and replaced only if the new download matches).

    :param progress: show a progress bar (``fuse.core.progress``: tqdm when installed) while downloading.
    :param md5: an MD5 (hex) to verify as well, for sources that publish only MD5 (e.g. MNIST's); it is checked
        like ``sha256``, and an existing ``dest`` is kept only when every given checksum matches.
    :param timeout: seconds to wait for the server on each read.
    :raises DownloadError: the download failed (names the URL and the reason).
    :raises ChecksumMismatchError: the downloaded content's SHA-256 is not ``sha256`` (names URL, expected and got).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "source.txt").write_text("hello")
    >>> download_file((folder / "source.txt").as_uri(), folder / "copy.txt", progress=False).read_text()
    'hello'
    """
    dest_path = Path(dest)
    expected = {"SHA-256": _normalized_hex(sha256, "sha256", 64), "MD5": _normalized_hex(md5, "md5", 32)}
    expected = {name: value for name, value in expected.items() if value is not None}
    if dest_path.is_file() and all(_file_digest(dest_path, name) == value for name, value in expected.items()):
        return dest_path
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=dest_path.parent, prefix=f".{dest_path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as sink:
            got = _fetch(url, sink, progress=progress, timeout=timeout, name=dest_path.name)
            sink.flush()
            os.fsync(sink.fileno())
        for name, value in expected.items():
            if got[name] != value:
                raise ChecksumMismatchError(
                    f"the file downloaded from {url} has {name} {got[name]}, expected {value}; it was not kept (the "
                    "download may be corrupt or the mirror may serve another version: retry, or check the mirror URL)"
                )
        os.replace(temp_name, dest_path)
        _fsync_dir(dest_path.parent)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
    return dest_path


def _normalized_hex(digest: str | None, name: str, digits: int) -> str | None:
    if digest is None:
        return None
    value = digest.strip().lower()
    if not re.fullmatch(rf"[0-9a-f]{{{digits}}}", value):
        raise ValueError(f"{name} must be {digits} hexadecimal digits, got {digest!r}")
    return value


def _file_digest(path: Path, name: str) -> str:
    return file_sha256(path) if name == "SHA-256" else _hash_file(path, hashlib.md5(usedforsecurity=False))


def _fetch(url: str, sink: IO[bytes], *, progress: bool, timeout: float, name: str) -> dict[str, str]:
    """Stream ``url`` into ``sink``; return the SHA-256 and MD5 of what was written."""
    digest = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length_header = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            length = int(length_header) if length_header and length_header.isdigit() else None
            chunks: Iterator[bytes] = iter(lambda: response.read(_CHUNK_BYTES), b"")
            total = math.ceil(length / _CHUNK_BYTES) if length is not None else None
            received = 0
            for chunk in _progress(chunks, total=total, desc=f"downloading {name} (MiB)", enabled=progress):
                sink.write(chunk)
                digest.update(chunk)
                md5.update(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"could not download {url}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"could not download {url}: {reason}") from error
    if length is not None and received != length:
        raise DownloadError(f"could not download {url}: received {received} bytes of the {length} announced")
    return {"SHA-256": digest.hexdigest(), "MD5": md5.hexdigest()}


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------- extraction


def extract_archive(
    archive: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    members: Sequence[str] | None = None,
    *,
    progress: bool = True,
) -> list[Path]:
    """Extract a zip or tar archive (plain, gzip, bzip2 or xz) into ``dest_dir``; return the extracted files' paths.

    Every member of the archive is checked before anything is written; :class:`UnsafeArchiveError` names the first
    member that has an absolute path, a ``..`` component, a symbolic or hard link pointing outside ``dest_dir``
    (links in zip archives are refused altogether), or is a device or FIFO. Each tar member is checked again just
    before it is written, against the links extracted so far (a chain of links that only leads outside once
    extracted is refused there). Each file is written to a temporary file
    and renamed into place, so an interrupted extraction leaves no truncated file.

    :param members: extract only these member names (as listed in the archive); a name the archive lacks raises
        ``KeyError``. ``None`` extracts everything.
    :param progress: show a progress bar over the members.

    >>> import io, tarfile, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with tarfile.open(os.path.join(folder, "evil.tar.gz"), "w:gz") as tar:
    ...     info = tarfile.TarInfo("../escape.txt")
    ...     info.size = 2
    ...     tar.addfile(info, io.BytesIO(b"hi"))
    >>> try:
    ...     extract_archive(os.path.join(folder, "evil.tar.gz"), os.path.join(folder, "out"), progress=False)
    ... except UnsafeArchiveError as error:
    ...     print(error)
    refusing to extract member '../escape.txt' of '...evil.tar.gz': it has a '..' component
    >>> os.path.exists(os.path.join(folder, "escape.txt")), os.path.exists(os.path.join(folder, "out"))
    (False, False)
    """
    archive_path = os.fspath(archive)
    root = Path(os.path.realpath(dest_dir))
    if zipfile.is_zipfile(archive_path):
        return _extract_zip(archive_path, root, members, progress)
    if tarfile.is_tarfile(archive_path):
        return _extract_tar(archive_path, root, members, progress)
    raise ValueError(f"{archive_path!r} is neither a zip nor a tar archive (tar may be gzip, bzip2 or xz compressed)")


def _safe_target(root: Path, name: str, archive: str) -> Path:
    """The path ``name`` extracts to under ``root``; raise when it is absolute or climbs out of ``root``."""
    where = f"refusing to extract member {name!r} of {archive!r}"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or os.path.isabs(name):
        raise UnsafeArchiveError(f"{where}: it has an absolute path")
    parts = re.split(r"[/\\]", name)
    if ".." in parts:
        raise UnsafeArchiveError(f"{where}: it has a '..' component")
    target = Path(os.path.realpath(root / name))
    if os.path.commonpath([root, target]) != str(root):
        raise UnsafeArchiveError(f"{where}: it resolves to {str(target)!r}, outside {str(root)!r}")
    return target


def _check_link(root: Path, name: str, link_target: str, archive: str, *, hard: bool) -> None:
    where = f"refusing to extract member {name!r} of {archive!r}"
    kind = "hard link" if hard else "symbolic link"
    if link_target.startswith(("/", "\\")) or os.path.isabs(link_target):
        raise UnsafeArchiveError(f"{where}: it is a {kind} to the absolute path {link_target!r}")
    # a symlink resolves relative to its own (real) directory, a hard link relative to the archive root
    base = root if hard else Path(os.path.realpath(root / posixpath.dirname(name)))
    resolved = Path(os.path.realpath(base / link_target))
    if os.path.commonpath([root, resolved]) != str(root):
        raise UnsafeArchiveError(f"{where}: it is a {kind} to {link_target!r}, which points outside {str(root)!r}")


def _selected(names: list[str], members: Sequence[str] | None, archive: str) -> set[str]:
    if members is None:
        return set(names)
    wanted = set(members)
    missing = sorted(wanted - set(names))
    if missing:
        raise KeyError(f"{archive!r} has no member(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    return wanted


def _write_atomically(source: IO[bytes], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as sink:
            shutil.copyfileobj(source, sink, length=_CHUNK_BYTES)
        os.replace(temp_name, target)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)


def _extract_zip(archive: str, root: Path, members: Sequence[str] | None, progress: bool) -> list[Path]:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        targets = []
        for info in infos:
            target = _safe_target(root, info.filename, archive)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeArchiveError(
                    f"refusing to extract member {info.filename!r} of {archive!r}: it is a symbolic link (zip links "
                    "are not supported)"
                )
            targets.append(target)
        wanted = _selected([i.filename for i in infos], members, archive)
        extracted = []
        for info, target in _progress(
            list(zip(infos, targets, strict=True)),
            total=len(infos),
            desc=f"extracting {os.path.basename(archive)}",
            enabled=progress,
        ):
            if info.filename not in wanted:
                continue
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            with zf.open(info) as source:
                _write_atomically(source, target)
            extracted.append(target)
    return extracted


def _check_tar_member(root: Path, info: tarfile.TarInfo, archive: str) -> Path:
    """Where ``info`` extracts to; raise :class:`UnsafeArchiveError` when it is unsafe."""
    target = _safe_target(root, info.name, archive)
    if info.issym() or info.islnk():
        _check_link(root, info.name, info.linkname, archive, hard=info.islnk())
    elif not (info.isfile() or info.isdir()):
        raise UnsafeArchiveError(
            f"refusing to extract member {info.name!r} of {archive!r}: it is not a file, directory or link"
        )
    return target


def _extract_tar(archive: str, root: Path, members: Sequence[str] | None, progress: bool) -> list[Path]:
    with tarfile.open(archive) as tf:
        infos = tf.getmembers()
        for info in infos:
            _check_tar_member(root, info, archive)
        wanted = _selected([i.name for i in infos], members, archive)
        extracted = []
        for info in _progress(
            infos, total=len(infos), desc=f"extracting {os.path.basename(archive)}", enabled=progress
        ):
            if info.name not in wanted:
                continue
            # checked again now that earlier links exist: a path through an extracted link must stay inside too
            target = _check_tar_member(root, info, archive)
            if info.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif info.isfile():
                source = tf.extractfile(info)
                if source is None:  # pragma: no cover - isfile() members always have data
                    raise UnsafeArchiveError(f"member {info.name!r} of {archive!r} has no data")
                with source:
                    _write_atomically(source, target)
                extracted.append(target)
            else:  # a link, already checked to stay inside root
                link_path = root / info.name
                link_path.parent.mkdir(parents=True, exist_ok=True)
                if link_path.is_symlink() or link_path.exists():
                    link_path.unlink()
                if info.issym():
                    os.symlink(info.linkname, link_path)
                else:
                    os.link(root / info.linkname, link_path)
                extracted.append(link_path)
    return extracted
