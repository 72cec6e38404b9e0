"""Safe archive extraction (FuseMedML's ``extract_zip_file``, whose progress bar crashed)."""

from __future__ import annotations

import os
import shutil
import zipfile

from fuse.core._atomic import AtomicFileWriter
from fuse.core._progress import progress

__all__ = ["extract_zip_file"]


def extract_zip_file(
    filename: str | os.PathLike[str], dest_dir: str | os.PathLike[str], show_progress_bar: bool = True
) -> list[str]:
    """Extract a zip archive into ``dest_dir`` and return the paths of the extracted files.

    Every member is checked before anything is written: an absolute path or one that climbs out of
    ``dest_dir`` (``../``, "zip slip") raises ``ValueError`` naming the member. Each file is written
    atomically, so an interrupted extraction leaves no truncated file behind.

    >>> import io, os, tempfile, zipfile
    >>> tmp = tempfile.mkdtemp()
    >>> with zipfile.ZipFile(os.path.join(tmp, "a.zip"), "w") as z:
    ...     z.writestr("scans/case_1.txt", "hello")
    >>> [os.path.relpath(p, tmp) for p in extract_zip_file(os.path.join(tmp, "a.zip"), tmp, show_progress_bar=False)]
    ['scans/case_1.txt']
    """
    root = os.path.realpath(dest_dir)
    extracted = []
    with zipfile.ZipFile(filename) as archive:
        members = archive.infolist()
        targets = []
        for member in members:
            target = os.path.realpath(os.path.join(root, member.filename))
            if os.path.isabs(member.filename) or os.path.commonpath([root, target]) != root:
                raise ValueError(
                    f"refusing to extract {member.filename!r} from {os.fspath(filename)!r}: it points outside {root!r}"
                )
            targets.append(target)
        for member, target in progress(
            zip(members, targets, strict=True),
            total=len(members),
            desc=f"extracting {os.path.basename(filename)}",
            enabled=show_progress_bar,
        ):
            if member.is_dir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.open(member) as source, AtomicFileWriter(target, "wb", compress=False) as sink:
                shutil.copyfileobj(source, sink, length=1024 * 1024)
            extracted.append(target)
    return extracted
