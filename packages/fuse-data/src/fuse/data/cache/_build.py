"""Building a cache: claim missing samples, compute them with the static pipeline and commit them atomically.

Concurrent builders (processes on one host or several) split the work through short-lived claims (``claim:<id>``
rows): a builder claims a block of ids in one transaction, computes them, then commits the samples, their info
records and the claim releases in one transaction. A claim whose process died is taken over at once on the same
host, or when it expires (``claim_timeout``) elsewhere. A killed builder leaves nothing servable: an id counts as
cached only once its info record is committed, after its samples.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fuse.core import NDict, add_note, create_initial_sample
from fuse.data._pipeline import PipelineDefault
from fuse.data._sample_keys import sample_value
from fuse.data.cache._codec import encode_sample
from fuse.data.cache._ids import sample_id_key
from fuse.data.cache._store import CacheStore

if TYPE_CHECKING:
    from fuse.data.cache._claim_wait import ClaimWait

__all__ = ["BUSY", "CLAIMED", "DONE", "SampleBuilder"]

_log = logging.getLogger("fuse.data")

DONE, BUSY, CLAIMED = "done", "busy", "claimed"
_BLOCK_SECONDS = 0.2  # a builder claims (and commits) blocks of about this much work
_MAX_BLOCK = 64  # samples per block at most
_MAX_PENDING_BYTES = 64 * 2**20  # computed samples held for one commit at most


@dataclass
class _Computed:
    """A sample's static outputs, encoded and waiting for their commit."""

    orig_id: Hashable
    key: str
    encoded: list[tuple[str, int, list[memoryview | bytes]]]  # (final key, total bytes, chunks)
    final_ids: list[Hashable] | None  # the info record: None when the pipeline dropped the sample


@dataclass(frozen=True)
class SampleBuilder:
    """Computes and commits the missing samples of one cache directory, sharing the work with other builders.

    ``find_info(key)`` tells whether an id is committed (in any read location) and its final ids;
    ``claims_store()`` and ``write_store()`` open the stores that hold the claims and take the samples.
    """

    unique_name: str
    pipeline: PipelineDefault
    codec: str | None
    token: str  # names this builder in its claims
    claim_timeout: float
    find_info: Callable[[str], tuple[bool, list[Hashable] | None]]
    claims_store: Callable[[], CacheStore]
    write_store: Callable[[], CacheStore]

    def _owner_alive(self, owner: Mapping[str, Any]) -> bool:
        if owner.get("host") != socket.gethostname():
            return True  # cannot tell: the claim's expiry decides
        try:
            os.kill(int(owner["pid"]), 0)
        except ProcessLookupError:
            return False
        except (PermissionError, OSError, ValueError):
            return True
        return True

    def _try_claim(self, claims: CacheStore, key: str) -> tuple[str, Any]:
        """``("done", final ids)`` if cached meanwhile, ``("claimed", None)``, or ``("busy", owner)``."""
        found, final_ids = self.find_info(key)
        if found:
            return DONE, final_ids
        claim_key = f"claim:{key}"
        me = {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token, "time": time.time()}
        if claims.add(claim_key, me, expire=self.claim_timeout):
            return CLAIMED, None
        owner = claims.get_object(claim_key)
        if owner is not None and self._owner_alive(owner):
            return BUSY, owner
        claims.delete(claim_key)  # its process died: take over
        if claims.add(claim_key, me, expire=self.claim_timeout):
            return CLAIMED, None
        return BUSY, claims.get_object(claim_key)

    def cache_in_blocks(self, missing: list[Hashable]) -> Iterator[tuple[Hashable, str, Any]]:
        """Cache ``missing`` in this process, block by block: claim a block of ids in one transaction (sized to about
        0.2 s of work), compute it, then commit its samples, info records and claim releases in one transaction
        (sooner when the computed samples reach ``_MAX_PENDING_BYTES``). Per-sample SQLite commits cost more than
        the file writes on small samples; a killed process still leaves nothing servable (the commit is atomic)."""
        claims = self.claims_store()
        position, block_size = 0, 1
        while position < len(missing):
            block = missing[position : position + block_size]
            position += len(block)
            with claims.transaction():
                outcomes = [(orig_id, *self._try_claim(claims, sample_id_key(orig_id))) for orig_id in block]
            claimed = [orig_id for orig_id, status, _ in outcomes if status == CLAIMED]
            yield from ((orig_id, status, value) for orig_id, status, value in outcomes if status != CLAIMED)
            start = time.perf_counter()
            pending: list[_Computed] = []
            try:
                pending_bytes = 0
                while claimed:
                    computed = self.compute(claimed[0])
                    pending.append(computed)
                    claimed.pop(0)
                    pending_bytes += sum(total for _, total, _ in computed.encoded)
                    if pending_bytes >= _MAX_PENDING_BYTES or not claimed:
                        done, pending, pending_bytes = pending, [], 0
                        self.commit(done, claims)
                        yield from ((c.orig_id, DONE, c.final_ids) for c in done)
            finally:  # an error (or the caller stopped): keep what was computed, give the rest back
                try:
                    if pending:
                        self.commit(pending, claims)
                finally:
                    for orig_id in claimed:
                        claims.delete(f"claim:{sample_id_key(orig_id)}")
            per_sample = (time.perf_counter() - start) / max(len(block), 1)
            block_size = int(min(_MAX_BLOCK, max(1, _BLOCK_SECONDS / max(per_sample, 1e-4))))

    def finish_claimed(self, busy: list[Hashable], waiting: ClaimWait) -> Iterator[tuple[Hashable, Any]]:
        """Wait for the ``busy`` samples, which other processes claimed, retrying each (backing off up to 2 s) and
        taking over those whose claim lapses; yields ``(orig_id, final ids)`` as each is committed. ``waiting``
        says what is waited for."""
        delay = 0.05
        while busy:
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            still = []
            for orig_id in busy:
                status, value = self.cache_one(orig_id)
                if status == DONE:
                    yield orig_id, value
                else:
                    still.append(orig_id)
                    waiting.note(orig_id, value)
            busy = still
            waiting.report(busy)

    def cache_one(self, orig_id: Hashable) -> tuple[str, Any]:
        """Compute and store ``orig_id`` unless cached or being cached by a live process (then ``busy``)."""
        key = sample_id_key(orig_id)
        claims = self.claims_store()
        with claims.transaction():  # check and claim in one step: no one commits and releases in between
            status, value = self._try_claim(claims, key)
        if status != CLAIMED:
            return status, value
        try:
            computed = self.compute(orig_id)
        except BaseException:
            claims.delete(f"claim:{key}")
            raise
        self.commit([computed], claims)
        return DONE, computed.final_ids

    def compute(self, orig_id: Hashable) -> _Computed:
        """Run the static pipeline on ``orig_id`` and encode its outputs."""
        output = self.pipeline(create_initial_sample(orig_id))
        if output is None:
            samples: list[NDict] = []
        elif isinstance(output, Mapping):
            samples = [output]
        else:
            samples = list(output)
        final_ids: list[Hashable] = []
        encoded = []
        for sample in samples:
            final_id = sample_value(sample, "data.sample_id", f"SamplesCacher({self.unique_name!r})")
            try:
                encoded.append((sample_id_key(final_id), *encode_sample(sample, orig_id, codec=self.codec)))
            except (TypeError, ValueError) as error:
                add_note(error, f"while caching sample {orig_id!r} (output {final_id!r}) in cache {self.unique_name!r}")
                raise
            final_ids.append(final_id)
        if len({final_key for final_key, _, _ in encoded}) != len(final_ids):
            raise ValueError(
                f"the static pipeline split sample {orig_id!r} into samples with repeated ids {final_ids!r}; give "
                "every part its own data.sample_id"
            )
        return _Computed(orig_id, sample_id_key(orig_id), encoded, None if output is None else final_ids)

    def commit(self, batch: list[_Computed], claims: CacheStore) -> None:
        """Store the samples and info records of ``batch`` in one transaction and release their claims. An info
        record, written after its samples, is what makes them count. If the commit fails, nothing of ``batch`` is
        stored and its claims are released, so that another process (or a rerun) computes those samples.

        A committed sample is never rewritten (a reader may be reading its file): a sample committed meanwhile by a
        process whose claim had expired is kept, and this process's copy dropped."""
        store = self.write_store()
        try:
            with store.transaction():
                for computed in batch:
                    if f"info:{computed.key}" in store:
                        _log.info("cache %r: %r was committed meanwhile; kept", self.unique_name, computed.orig_id)
                    else:
                        for final_key, total, chunks in computed.encoded:
                            if f"sample:{final_key}" not in store:  # a sound part of a repaired split sample stays
                                store.put_chunks(f"sample:{final_key}", total, chunks)
                        info = {"orig_id": computed.orig_id, "final_ids": computed.final_ids}
                        store.put_object(f"info:{computed.key}", info)
                    if claims is store:
                        claims.delete(f"claim:{computed.key}")
        except BaseException as error:
            with contextlib.suppress(Exception):
                for computed in batch:
                    claims.delete(f"claim:{computed.key}")
            if isinstance(error, OSError) and error.errno == errno.ENOSPC:
                raise OSError(
                    errno.ENOSPC,
                    f"no space left on the device of cache {store.path} while caching "
                    f"{[c.orig_id for c in batch[:5]]!r}: nothing of them was committed (samples cached before stay "
                    "readable); free space, or add a cache dir and rerun (dataset.create() resumes where it stopped)",
                ) from error
            raise
        if claims is not store:
            with claims.transaction():
                for computed in batch:
                    claims.delete(f"claim:{computed.key}")
