"""Say what a cache builder waits for when other processes hold claims on the samples it needs.

A claim by a process on another host cannot be checked for being alive: if that process died, its samples are
taken over only when the claim expires (``claim_timeout``). Such a wait is reported at once, a wait on live
processes of this host after a while, and both again periodically, naming the samples, their claimants and when
the claims expire, so that a job never hangs silently.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

__all__ = ["ClaimWait"]

_log = logging.getLogger("fuse.data")

FIRST_REPORT_SECONDS = 30.0  # a wait on processes of this host (alive: their claims are checked) is reported after
REPORT_EVERY_SECONDS = 60.0


class ClaimWait:
    """Collects the claimants of the samples a builder waits for and logs a warning that names them.

    >>> wait = ClaimWait("ct", claim_timeout=600.0)
    >>> wait.note("s1", {"host": "node7", "pid": 12, "time": 0.0})
    >>> "'s1' (pid 12 on host 'node7'" in wait.describe(["s1"], now=100.0)
    True
    """

    def __init__(self, unique_name: str, claim_timeout: float) -> None:
        self._unique_name = unique_name
        self._claim_timeout = claim_timeout
        self._owners: dict[Hashable, Mapping[str, Any] | None] = {}
        self._start = time.monotonic()
        self._next: float | None = None

    def note(self, sample_id: Hashable, owner: Any) -> None:
        """Record the claim record ``owner`` (``host``, ``pid``, ``time``) of the awaited ``sample_id``."""
        self._owners[sample_id] = owner if isinstance(owner, Mapping) else None

    def report(self, waiting: Sequence[Hashable]) -> None:
        """Log what ``waiting`` (the samples still awaited) wait for, when due."""
        if not waiting:
            return
        here = socket.gethostname()
        remote = any((o or {}).get("host", here) != here for o in (self._owners.get(i) for i in waiting))
        now = time.monotonic()
        due = self._next if self._next is not None else self._start + (0.0 if remote else FIRST_REPORT_SECONDS)
        if now >= due:
            self._next = now + REPORT_EVERY_SECONDS
            _log.warning("%s", self.describe(waiting))

    def describe(self, waiting: Sequence[Hashable], now: float | None = None) -> str:
        """The message: the awaited samples grouped by claimant, each claim's age and expiry, and what to do."""
        now = time.time() if now is None else now
        groups: dict[tuple[Any, Any], list[Hashable]] = {}
        times: dict[tuple[Any, Any], float | None] = {}
        for sample_id in waiting:
            owner = self._owners.get(sample_id) or {}
            claimant = (owner.get("host"), owner.get("pid"))
            groups.setdefault(claimant, []).append(sample_id)
            claimed = owner.get("time")
            times[claimant] = float(claimed) if isinstance(claimed, (int, float)) else None
        parts = []
        for (host, pid), ids in list(groups.items())[:5]:
            shown = ", ".join(repr(i) for i in ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
            claimed = times[(host, pid)]
            when = (
                "claim released meanwhile"
                if host is None
                else f"claimed {now - claimed:.0f} s ago, expires in {max(0.0, claimed + self._claim_timeout - now):.0f} s"
                if claimed is not None
                else "claim time unknown"
            )
            parts.append(f"{shown} (pid {pid} on host {host!r}, {when})")
        more = f"; and {len(groups) - 5} more claimants" if len(groups) > 5 else ""
        return (
            f"cache {self._unique_name!r}: waiting for {len(waiting)} samples that other processes claimed: "
            f"{'; '.join(parts)}{more}. A claim is taken over when its process is seen dead (possible on this host "
            f"only) or when it expires (claim_timeout={self._claim_timeout:g} s). If a claimant on another host has "
            "died, stop this job and rerun it with a smaller claim_timeout; on several nodes, build per-node shards "
            "instead (fuse.data.CacheShard), so that no claim crosses hosts"
        )
