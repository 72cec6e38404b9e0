"""The pipeline versions of one cache: ``<cache_dir>/<unique_name>/hash_<digest>/`` directories, of which a cacher
reads only its own. The others are reported (:class:`~fuse.data.StaleCacheWarning`) and removed on request, never
while a process has one open.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

from fuse.data.cache._locks import remove_tree_atomically, sweep_removed, try_remove_cache_dir

__all__ = ["StaleCacheWarning", "other_versions", "remove_all_versions", "remove_unused", "stale_message"]

_log = logging.getLogger("fuse.data")


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
    """Remove ``<root>/<unique_name>`` under every root (``restart_cache=True``)."""
    for root in roots:
        target = root / unique_name
        sweep_removed(root)
        if target.exists():
            remove_tree_atomically(target)  # a kill meanwhile leaves a .removing-* dir, swept next time
            _log.info("restart_cache: removed %s", target)
