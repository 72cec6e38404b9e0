"""Safe archive extraction: zip and tar archives, checked member by member, size-capped, all or nothing.

:func:`extract_archive` refuses members with absolute paths or ``..`` components, links that point outside the
destination (also through a chain of links that only escapes once every link exists), devices and FIFOs, and
archives that would expand beyond ``max_bytes``. It extracts into a temporary sibling of the destination and moves
the result into place only when everything succeeded, so a refused or interrupted extraction leaves nothing behind.
Tar members go through Python's ``tarfile`` *data* filter (:func:`tarfile.data_filter`); zip members get the same
rules. File permission bits are kept as the data filter allows them (no set-uid/set-gid/sticky bits, no group or
other write, owner read/write always; executable bits kept when the owner may execute).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import stat
import tarfile
import uuid
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from fuse.core._progress import progress as _progress

__all__ = ["DEFAULT_MAX_EXTRACT_BYTES", "UnsafeArchiveError", "extract_archive", "extract_zip_file"]

DEFAULT_MAX_EXTRACT_BYTES = 256 * 2**30
"""Default cap on the bytes :func:`extract_archive` writes (256 GiB: above every public dataset fuse wraps)."""

_CHUNK_BYTES = 1024 * 1024

# tarfile's data filter (Python 3.10.12+, 3.11.4+, 3.12+); None on older patch releases, where explicit checks
# with the same rules are used instead
_DATA_FILTER: Callable[[tarfile.TarInfo, str], tarfile.TarInfo] | None = getattr(tarfile, "data_filter", None)
# whether extract() takes a filter (the same releases); without one, 3.12+ warn that 3.14 changes the default
_TAR_FILTER_ARGUMENT = hasattr(tarfile, "fully_trusted_filter")


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the destination, is not a file, directory or link, or the
    archive expands to more than ``max_bytes``; nothing was extracted."""


def extract_archive(
    archive: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    members: Sequence[str] | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_EXTRACT_BYTES,
    progress: bool = True,
) -> list[Path]:
    """Extract a zip or tar archive (plain, gzip, bzip2 or xz) into ``dest_dir``; return the extracted files' paths.

    Every member is checked before anything is written; :class:`UnsafeArchiveError` names the archive and the first
    member that has an absolute path, a ``..`` component, is a symbolic or hard link pointing outside ``dest_dir``
    (links in zip archives are refused altogether), or is a device or FIFO. The archive is extracted into a temporary
    directory next to ``dest_dir`` (tar members through :func:`tarfile.data_filter`), every extracted link is
    resolved once all exist (a chain such as ``a -> b/../x`` with ``b -> .`` escapes only then), and only then is the
    result moved into ``dest_dir`` (created if needed; files already there with the same names are replaced). On any
    error the temporary directory is removed: nothing partial is left.

    :param members: extract only these member names (as listed in the archive); a name the archive lacks raises
        ``KeyError``. ``None`` extracts everything.
    :param max_bytes: refuse (``UnsafeArchiveError``) an archive whose selected members add up to more than this
        many bytes according to their headers, or more than the free space next to ``dest_dir``; the bytes written
        are counted too, member by member. Default :data:`DEFAULT_MAX_EXTRACT_BYTES` (256 GiB).
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
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise ValueError(f"extract_archive: max_bytes must be a non-negative int (bytes), got {max_bytes!r}")
    dest = Path(os.path.realpath(dest_dir))
    if zipfile.is_zipfile(archive_path):
        extract: Callable[[str, Path, Sequence[str] | None, int, bool], list[str]] = _extract_zip
    elif tarfile.is_tarfile(archive_path):
        extract = _extract_tar
    else:
        raise ValueError(
            f"{archive_path!r} is neither a zip nor a tar archive (tar may be gzip, bzip2 or xz compressed)"
        )
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"cannot extract {archive_path!r} into {str(dest)!r}: it is not a directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{dest.name}.extracting-{uuid.uuid4().hex[:12]}"
    os.mkdir(staging, 0o777)  # mkdir applies the umask: the directory gets the user's normal permissions
    try:
        names = extract(archive_path, Path(os.path.realpath(staging)), members, max_bytes, progress)
        _check_links_inside(Path(os.path.realpath(staging)), archive_path)
        if dest.exists():
            _check_mergeable(staging, dest, archive_path)
            _merge_into(staging, dest)
        else:
            os.replace(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return [dest / name for name in names]


def extract_zip_file(
    filename: str | os.PathLike[str], dest_dir: str | os.PathLike[str], show_progress_bar: bool = True
) -> list[str]:
    """Extract a zip archive into ``dest_dir`` and return the paths of the extracted files (FuseMedML's name).

    The same checks and guarantees as :func:`extract_archive` (which it calls): unsafe members raise
    :class:`UnsafeArchiveError` (a ``ValueError``) before anything is written, and nothing partial is left.

    >>> import os, tempfile, zipfile
    >>> tmp = tempfile.mkdtemp()
    >>> with zipfile.ZipFile(os.path.join(tmp, "a.zip"), "w") as z:
    ...     z.writestr("scans/case_1.txt", "hello")
    >>> [os.path.relpath(p, tmp) for p in extract_zip_file(os.path.join(tmp, "a.zip"), tmp, show_progress_bar=False)]
    ['scans/case_1.txt']
    """
    if not zipfile.is_zipfile(filename):
        raise ValueError(f"extract_zip_file: {os.fspath(filename)!r} is not a zip archive")
    return [str(path) for path in extract_archive(filename, dest_dir, progress=show_progress_bar)]


# ---------------------------------------------------------------------------------------------- checks


def _where(name: str, archive: str) -> str:
    return f"refusing to extract member {name!r} of {archive!r}"


def _safe_target(root: Path, name: str, archive: str) -> Path:
    """The path ``name`` extracts to under ``root``; raise when it is absolute or climbs out of ``root``."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or os.path.isabs(name):
        raise UnsafeArchiveError(f"{_where(name, archive)}: it has an absolute path")
    if ".." in re.split(r"[/\\]", name):
        raise UnsafeArchiveError(f"{_where(name, archive)}: it has a '..' component")
    target = Path(os.path.realpath(root / name))
    if not _inside(root, target):
        raise UnsafeArchiveError(f"{_where(name, archive)}: it resolves to {str(target)!r}, outside {str(root)!r}")
    return target


def _inside(root: Path, path: Path) -> bool:
    return os.path.commonpath([root, path]) == str(root)


def _check_link(root: Path, name: str, link_target: str, archive: str, *, hard: bool) -> None:
    kind = "hard link" if hard else "symbolic link"
    if link_target.startswith(("/", "\\")) or os.path.isabs(link_target):
        raise UnsafeArchiveError(f"{_where(name, archive)}: it is a {kind} to the absolute path {link_target!r}")
    # a symlink resolves relative to its own (real) directory, a hard link relative to the archive root
    base = root if hard else Path(os.path.realpath(root / os.path.dirname(name)))
    if not _inside(root, Path(os.path.realpath(base / link_target))):
        raise UnsafeArchiveError(
            f"{_where(name, archive)}: it is a {kind} to {link_target!r}, which points outside {str(root)!r}"
        )


def _check_links_inside(root: Path, archive: str) -> None:
    """Once every member exists, each symlink must still resolve inside ``root`` (chains of links included)."""
    for directory, dirnames, filenames in os.walk(root):
        for entry in (*dirnames, *filenames):
            path = Path(directory) / entry
            if path.is_symlink() and not _inside(root, Path(os.path.realpath(path))):
                name = path.relative_to(root).as_posix()
                raise UnsafeArchiveError(
                    f"{_where(name, archive)}: the symbolic link to {os.readlink(path)!r} points outside the "
                    "destination once the archive's other links exist"
                )


def _check_size(archive: str, total: int, max_bytes: int, dest_parent: Path) -> None:
    if total > max_bytes:
        raise UnsafeArchiveError(
            f"refusing to extract {archive!r}: it expands to {total} bytes, more than max_bytes={max_bytes}; pass a "
            "larger max_bytes if you expect an archive this large"
        )
    free = shutil.disk_usage(dest_parent).free
    if total > free:
        raise UnsafeArchiveError(
            f"refusing to extract {archive!r}: it expands to {total} bytes but only {free} are free in "
            f"{str(dest_parent)!r}; free some space or extract elsewhere"
        )


def _selected(names: list[str], members: Sequence[str] | None, archive: str) -> set[str]:
    if members is None:
        return set(names)
    wanted = set(members)
    missing = sorted(wanted - set(names))
    if missing:
        raise KeyError(f"{archive!r} has no member(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    return wanted


def _data_mode(mode: int) -> int:
    """A regular file's mode under the tar data filter's rules."""
    mode &= 0o755  # no set-uid/set-gid/sticky, no group or other write
    if not mode & stat.S_IXUSR:
        mode &= ~0o111  # executable by others only when executable by the owner
    return mode | 0o600  # the owner can always read and write


# ---------------------------------------------------------------------------------------------- zip


def _extract_zip(archive: str, root: Path, members: Sequence[str] | None, max_bytes: int, progress: bool) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _safe_target(root, info.filename, archive)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeArchiveError(
                    f"{_where(info.filename, archive)}: it is a symbolic link (zip links are not supported)"
                )
        wanted = _selected([i.filename for i in infos], members, archive)
        chosen = [info for info in infos if info.filename in wanted]
        _check_size(archive, sum(info.file_size for info in chosen), max_bytes, root.parent)
        written = 0
        extracted = []
        for info in _progress(
            chosen, total=len(chosen), desc=f"extracting {os.path.basename(archive)}", enabled=progress
        ):
            target = _safe_target(root, info.filename, archive)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as source, open(target, "wb") as sink:
                written = _copy_capped(source, sink, written, max_bytes, archive, info.filename)
            unix_mode = info.external_attr >> 16 if info.create_system == 3 else 0
            if stat.S_IMODE(unix_mode):  # else the umask's normal mode from open()
                os.chmod(target, _data_mode(stat.S_IMODE(unix_mode)))
            extracted.append(info.filename)
    return extracted


def _copy_capped(source: IO[bytes], sink: IO[bytes], written: int, max_bytes: int, archive: str, name: str) -> int:
    """Copy ``source`` into ``sink``, raising once the archive's running total exceeds ``max_bytes``."""
    for chunk in iter(lambda: source.read(_CHUNK_BYTES), b""):
        written += len(chunk)
        if written > max_bytes:
            raise UnsafeArchiveError(
                f"refusing to extract {archive!r}: member {name!r} takes the extracted size beyond "
                f"max_bytes={max_bytes} (its header under-states its size); nothing was kept"
            )
        sink.write(chunk)
    return written


# ---------------------------------------------------------------------------------------------- tar


def _check_tar_member(root: Path, info: tarfile.TarInfo, archive: str) -> None:
    _safe_target(root, info.name, archive)
    if info.issym() or info.islnk():
        _check_link(root, info.name, info.linkname, archive, hard=info.islnk())
    elif not (info.isfile() or info.isdir()):
        raise UnsafeArchiveError(f"{_where(info.name, archive)}: it is not a file, directory or link")


def _filtered(info: tarfile.TarInfo, root: Path, archive: str) -> tarfile.TarInfo:
    """``info`` as the data filter lets it through (checked against what is already extracted), or a refusal."""
    _check_tar_member(root, info, archive)  # again: links extracted since the first pass may change the answer
    if _DATA_FILTER is not None:
        try:
            return _DATA_FILTER(info, str(root))
        except tarfile.TarError as error:
            raise UnsafeArchiveError(f"{_where(info.name, archive)}: {error}") from None
    safe = copy.copy(info)  # the data filter's rules, by hand
    safe.uid = safe.gid = os.getuid() if hasattr(os, "getuid") else 0
    safe.uname = safe.gname = ""
    if info.isfile() or info.islnk():
        safe.mode = _data_mode(info.mode)
    else:
        safe.mode = 0o777 & ~_umask() if info.isdir() else info.mode
    return safe


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _extract_tar(archive: str, root: Path, members: Sequence[str] | None, max_bytes: int, progress: bool) -> list[str]:
    with tarfile.open(archive) as tf:
        infos = tf.getmembers()
        for info in infos:
            _check_tar_member(root, info, archive)
        wanted = _selected([i.name for i in infos], members, archive)
        chosen = [info for info in infos if info.name in wanted]
        _check_size(archive, sum(info.size for info in chosen if info.isfile()), max_bytes, root.parent)
        written = 0
        extracted = []
        for info in _progress(
            chosen, total=len(chosen), desc=f"extracting {os.path.basename(archive)}", enabled=progress
        ):
            safe = _filtered(info, root, archive)
            if _TAR_FILTER_ARGUMENT:
                tf.extract(safe, root, filter="fully_trusted")  # already filtered above (data filter or by hand)
            else:  # Python releases without tarfile filters
                tf.extract(safe, root)
            if info.isfile():
                written += os.lstat(root / info.name).st_size
                if written > max_bytes:
                    raise UnsafeArchiveError(
                        f"refusing to extract {archive!r}: member {info.name!r} takes the extracted size beyond "
                        f"max_bytes={max_bytes}; nothing was kept"
                    )
            if not info.isdir():
                extracted.append(info.name)
    return extracted


# ---------------------------------------------------------------------------------------------- moving into place


def _check_mergeable(source: Path, dest: Path, archive: str) -> None:
    """Raise before anything moves when a file of the archive would replace a directory already in ``dest``."""
    for entry in os.listdir(source):
        src, dst = source / entry, dest / entry
        if not (dst.is_dir() and not dst.is_symlink()):
            continue
        if src.is_dir() and not src.is_symlink():
            _check_mergeable(src, dst, archive)
        else:
            raise IsADirectoryError(
                f"cannot extract {archive!r} into {str(dest)!r}: its member {entry!r} is not a directory, but a "
                "directory of that name is there; move it away or extract elsewhere"
            )


def _merge_into(source: Path, dest: Path) -> None:
    """Move everything under ``source`` into the existing directory ``dest``: directories are merged, anything else
    replaces what is there (checked beforehand by :func:`_check_mergeable`)."""
    for entry in os.listdir(source):
        src, dst = source / entry, dest / entry
        if src.is_dir() and not src.is_symlink() and dst.is_dir() and not dst.is_symlink():
            _merge_into(src, dst)
            continue
        if src.is_dir() and not src.is_symlink() and (dst.is_symlink() or dst.exists()):
            dst.unlink()  # a file or link: os.replace cannot put a directory over it
        os.replace(src, dst)
