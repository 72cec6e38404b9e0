"""Download and extraction helpers for the dataset wrappers: atomic, checksum-verified downloads with a progress bar,
archive extraction that refuses path traversal, and per-dataset mirror URLs.

- :func:`download_file` writes to a temporary file in the destination's directory, fsyncs it, verifies the SHA-256
  (when given) and only then renames it into place: an interrupted or corrupt download leaves no file behind. A
  destination that already exists is not downloaded again when it has the right checksum or, without one, when a
  ``.<name>.complete`` marker says it arrived whole.
- :func:`extract_archive` (from fuse-core, re-exported here) extracts zip and tar archives all or nothing, checking
  every member first: absolute paths, ``..`` components, links that point outside the destination, special files
  and archives expanding beyond ``max_bytes`` raise :class:`UnsafeArchiveError`, and nothing partial is left.
- :func:`mirror_url` picks a dataset's base URL: an explicit argument, else the ``FUSE_<DATASET>_MIRROR``
  environment variable, else the official URL.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "labels.csv").write_text("id,label")
>>> base = mirror_url("mydata", folder.as_uri())  # FUSE_MYDATA_MIRROR overrides it
>>> download_file(f"{base}/labels.csv", folder / "copy" / "labels.csv", progress=False).read_text()
'id,label'
"""

from __future__ import annotations

import hashlib
import http.client
import math
import os
import re
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from fuse.core import AtomicFileWriter, UnsafeArchiveError, extract_archive
from fuse.core import progress as _progress

__all__ = [
    "ChecksumMismatchError",
    "DownloadError",
    "UnsafeArchiveError",
    "complete_marker",
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
    ``sha256`` (hex, case-insensitive) when given, and then renamed onto ``dest`` (``os.replace``); the file gets the
    permissions of any new file (``0o666`` less the umask). On any failure — network error, HTTP error status, a
    body shorter than its ``Content-Length`` or a chunked body cut short, checksum mismatch, interruption — the
    temporary file is removed and ``dest`` is left as it was.

    With a checksum, an existing ``dest`` whose content matches is kept and nothing is requested (a different one is
    downloaded again, and replaced only if the new download matches). Without a checksum the download is known to
    be complete only when the server announced its length (``Content-Length``) or sent it chunked, and it arrived
    whole; then a marker ``.<name>.complete`` (its size and SHA-256) is written next to ``dest``, and a later call
    finds ``dest`` complete only when that marker is there and matches ``dest``'s size. A body of unannounced length
    is kept with a warning but without the marker, so it is downloaded again next time (pass ``sha256=`` to accept
    it, or to accept a file you placed there yourself).

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
    >>> sorted(p.name for p in folder.iterdir())
    ['.copy.txt.complete', 'copy.txt', 'source.txt']
    """
    dest_path = Path(dest)
    expected = {"SHA-256": _normalized_hex(sha256, "sha256", 64), "MD5": _normalized_hex(md5, "md5", 32)}
    expected = {name: value for name, value in expected.items() if value is not None}
    marker = complete_marker(dest_path)
    if dest_path.is_file():
        if expected and all(_file_digest(dest_path, name) == value for name, value in expected.items()):
            return dest_path
        if not expected and _marker_size(marker) == dest_path.stat().st_size:
            return dest_path
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)  # describes a file about to be replaced
    # AtomicFileWriter: a temporary with the umask's normal mode, fsynced, renamed into place only if the block ends
    with AtomicFileWriter(dest_path, "wb", durable=True, compress=False) as sink:
        got = _fetch(url, sink, progress=progress, timeout=timeout, name=dest_path.name)
        for name, value in expected.items():
            if got[name] != value:
                raise ChecksumMismatchError(
                    f"the file downloaded from {url} has {name} {got[name]}, expected {value}; it was not kept (the "
                    "download may be corrupt or the mirror may serve another version: retry, or check the mirror URL)"
                )
    if expected:
        return dest_path
    if got["complete"]:
        with AtomicFileWriter(marker, "w", durable=True, compress=False) as file:
            file.write(f"{got['size']}\n{got['SHA-256']}\n{url}\n")
    else:
        warnings.warn(
            f"{url} was downloaded to {dest_path} ({got['size']} bytes), but the server announced no length, so the "
            "file may be incomplete; it will be downloaded again next time. Pass sha256= to verify it",
            UserWarning,
            stacklevel=2,
        )
    return dest_path


def complete_marker(dest: str | os.PathLike[str]) -> Path:
    """The marker that :func:`download_file` writes next to ``dest`` once a download without checksum is complete.

    >>> complete_marker("data/case_00000/imaging.nii.gz").as_posix()
    'data/case_00000/.imaging.nii.gz.complete'
    """
    path = Path(dest)
    return path.with_name(f".{path.name}.complete")


def _marker_size(marker: Path) -> int | None:
    try:
        first = marker.read_text(encoding="utf-8").split("\n", 1)[0].strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(first) if first.isdigit() else None


def _normalized_hex(digest: str | None, name: str, digits: int) -> str | None:
    if digest is None:
        return None
    value = digest.strip().lower()
    if not re.fullmatch(rf"[0-9a-f]{{{digits}}}", value):
        raise ValueError(f"{name} must be {digits} hexadecimal digits, got {digest!r}")
    return value


def _file_digest(path: Path, name: str) -> str:
    return file_sha256(path) if name == "SHA-256" else _hash_file(path, hashlib.md5(usedforsecurity=False))


def _fetch(url: str, sink: IO[bytes], *, progress: bool, timeout: float, name: str) -> dict[str, Any]:
    """Stream ``url`` into ``sink``; return the SHA-256 and MD5 of what was written, its size, and whether it is
    known to be complete (its announced length arrived, or a chunked body ended with its last chunk)."""
    digest = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            headers = response.headers if hasattr(response, "headers") else {}
            length_header = headers.get("Content-Length")
            length = int(length_header) if length_header and length_header.isdigit() else None
            chunked = "chunked" in str(headers.get("Transfer-Encoding", "")).lower()
            chunks: Iterator[bytes] = iter(lambda: response.read(_CHUNK_BYTES), b"")
            total = math.ceil(length / _CHUNK_BYTES) if length is not None else None
            for chunk in _progress(chunks, total=total, desc=f"downloading {name} (MiB)", enabled=progress):
                sink.write(chunk)
                digest.update(chunk)
                md5.update(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"could not download {url}: HTTP {error.code} {error.reason}") from error
    except http.client.IncompleteRead as error:
        raise DownloadError(
            f"could not download {url}: the connection ended early, after {received + len(error.partial)} bytes (retry)"
        ) from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or f"{type(error).__name__}: {error}"
        raise DownloadError(f"could not download {url}: {reason}") from error
    if length is not None and received != length:
        raise DownloadError(f"could not download {url}: received {received} bytes of the {length} announced")
    complete = length is not None or chunked
    return {"SHA-256": digest.hexdigest(), "MD5": md5.hexdigest(), "size": received, "complete": complete}
