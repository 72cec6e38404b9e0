"""The pipeline versions of one cache: ``<cache_dir>/<unique_name>/hash_<digest>/`` directories, of which a cacher
reads only its own. The others are reported (:class:`~fuse.data.StaleCacheWarning`) and removed on request, never
while a process has one open.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fuse.data.cache._identity import lenient_identity
from fuse.data.cache._locks import remove_tree_atomically, sweep_removed, try_remove_cache_dir

if TYPE_CHECKING:
    from fuse.data._pipeline import PipelineDefault

__all__ = [
    "CACHE_FORMAT_VERSION",
    "StaleCacheWarning",
    "check_is_cache",
    "other_versions",
    "remove_all_versions",
    "remove_unused",
    "stale_message",
    "version_name",
]

_log = logging.getLogger("fuse.data")

CACHE_FORMAT_VERSION = 2
"""Bumped when the stored form changes; part of every pipeline hash, so old caches are never misread."""
_HASH_PREFIX = "hash_"
# what a cache directory holds: its versions, and versions being removed or published (see _locks, _publish)
_OWN_PREFIXES = (_HASH_PREFIX, ".removing-", ".publishing-")


def version_name(
    pipeline: PipelineDefault,
    unique_name: str,
    *,
    use_pipeline_hash: bool,
    cache_version: str | None,
    report: bool = False,
) -> tuple[str, str]:
    """The directory name of the pipeline's current version (``hash_<digest>``) and the cache identity it hashes.

    With ``cache_version`` values without a stable identity are left out (logged when ``report``); without
    ``use_pipeline_hash`` the name is fixed (``hash_fixed``, or ``hash_fixed_<digest of cache_version>``).
    """
    if not use_pipeline_hash:
        fixed = "" if cache_version is None else "_" + hashlib.sha256(cache_version.encode()).hexdigest()[:16]
        return f"{_HASH_PREFIX}fixed{fixed}", f"fixed{fixed}"
    digest = hashlib.sha256(f"fuse-cache-v{CACHE_FORMAT_VERSION}|{pipeline.get_name()}|".encode())
    if cache_version is None:
        identity = pipeline.cache_identity()
    else:
        digest.update(f"cache_version:{cache_version}|".encode())
        with lenient_identity() as skipped:
            identity = pipeline.cache_identity()
        if skipped and report:
            _log.warning(
                "cache %r: not part of the cache key (cache_version=%r stands for them; change it when they "
                "change): %s", unique_name, cache_version, "; ".join(skipped[:10]),
            )  # fmt: skip
    digest.update(identity.encode())
    return _HASH_PREFIX + digest.hexdigest()[:32], identity


class StaleCacheWarning(UserWarning):
    """Caches of older versions of a pipeline exist beside the current one; ``SamplesCacher.prune()`` removes them."""


def other_versions(roots: Sequence[Path], unique_name: str, current: str) -> list[Path]:
    """The version directories of cache ``unique_name`` under ``roots`` other than ``current``."""
    stale: list[Path] = []
    for root in roots:
        parent = root / unique_name
        if parent.is_dir():
            stale.extend(
                p for p in sorted(parent.iterdir()) if p.is_dir() and p.name != current and not p.name.startswith(".")
            )
    return stale


def _listed(paths: Sequence[Path]) -> str:
    return f"{', '.join(str(p) for p in paths[:5])}{' ...' if len(paths) > 5 else ''}"


def stale_message(unique_name: str, current: str, stale: Sequence[Path]) -> str:
    """What a :class:`StaleCacheWarning` says about the versions ``stale`` beside ``current``."""
    return (
        f"cache {unique_name!r}: {len(stale)} director{'y' if len(stale) == 1 else 'ies'} of other pipeline versions "
        f"beside the current one ({current}): {_listed(stale)}. They are never read; remove them with "
        "cacher.prune() (or keep them to switch back)."
    )


def remove_unused(paths: Sequence[Path]) -> list[Path]:
    """Remove the version directories ``paths`` that no process has open; warn about the others."""
    removed, busy = [], []
    for path in paths:
        if try_remove_cache_dir(path):
            removed.append(path)
            _log.info("removed stale cache %s", path)
        else:
            busy.append(path)
    if busy:
        warnings.warn(
            f"prune() kept {len(busy)} cache director{'y' if len(busy) == 1 else 'ies'} that another process has "
            f"open (or that cannot be locked): {_listed(busy)}; prune again once the jobs using them have finished",
            StaleCacheWarning,
            stacklevel=3,
        )
    return removed


def remove_all_versions(roots: Sequence[Path], unique_name: str) -> None:
    """Remove ``<root>/<unique_name>`` under every root (``restart_cache=True``, ``delete_cache()``).

    Every ``<root>/<unique_name>`` is checked first, and nothing is removed unless all are fuse caches (see
    :func:`check_is_cache`)."""
    for root in roots:
        check_is_cache(root / unique_name)
    for root in roots:
        target = root / unique_name
        sweep_removed(root)
        if target.exists():
            remove_tree_atomically(target)  # a kill meanwhile leaves a .removing-* dir, swept next time
            _log.info("restart_cache: removed %s", target)


def check_is_cache(path: Path) -> None:
    """Raise ``ValueError`` naming ``path`` unless it is missing or holds only this package's cache versions
    (``hash_*`` directories and those being removed or published), so that removing a cache never removes anything else.
    """
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        raise ValueError(
            f"refusing to delete {str(path)!r}: a fuse cache directory is a real directory, not a "
            f"{'symbolic link' if path.is_symlink() else 'file'}; remove it yourself if it is meant to go"
        )
    foreign = sorted(
        entry.name
        for entry in path.iterdir()
        if not (entry.name.startswith(_OWN_PREFIXES) and entry.is_dir() and not entry.is_symlink())
    )
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise ValueError(
            f"refusing to delete {str(path)!r}: it is not only a fuse cache (it also holds {shown}); check "
            "cache_dirs and unique_name, or move those entries out first"
        )
