"""``SamplesCacher``: the static pipeline's outputs on disk — atomic, concurrent, never stale, prunable.

Layout: ``<cache_dir>/<unique_name>/hash_<pipeline digest>/`` holds a :mod:`diskcache` store (see
:mod:`fuse.data._cache_store`) and ``pipeline_description.txt``. In the store:

- ``info:<id>`` — for an original sample id, the final ids its static pipeline produced (``None``: dropped). It is
  written after the samples, so it is the commit record: an id without it is (re)computed.
- ``sample:<id>`` — one final sample (:mod:`fuse.data._sample_codec`: large arrays as raw buffers).
- ``claim:<id>`` — a short-lived note that a process is computing that id, so that concurrent builders split the
  work; a claim whose process died is taken over at once (same host) or when it expires (``claim_timeout``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import socket
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fuse.core import (
    AtomicFileWriter,
    MpContext,
    NDict,
    add_note,
    create_initial_sample,
    get_from_global_storage,
    progress,
    run_multiprocessed,
)
from fuse.data._audit import SampleCachingAudit
from fuse.data._cache_store import CacheStore, ReadOnlyCacheError
from fuse.data._pipeline import PipelineDefault
from fuse.data._sample_codec import decode_sample, encode_sample
from fuse.data._sample_keys import sample_value

__all__ = ["SampleNotCachedError", "SamplesCacher", "StaleCacheWarning", "sample_id_key"]

_log = logging.getLogger("fuse.data")

CACHE_FORMAT_VERSION = 1
"""Bumped when the stored form changes; part of every pipeline hash, so old caches are never misread."""
_DESCRIPTION_FILE = "pipeline_description.txt"
_HASH_PREFIX = "hash_"
_CACHER_KEY = "fuse.data.SamplesCacher"
_DONE, _BUSY, _CLAIMED = "done", "busy", "claimed"
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


class SampleNotCachedError(KeyError):
    """A sample id is not in the cache (never cached, deleted, or unknown)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StaleCacheWarning(UserWarning):
    """Caches of older versions of a pipeline exist beside the current one; ``SamplesCacher.prune()`` removes them."""


def _normalized_id(value: Any, sample_id: Any) -> Any:
    if value is None or type(value) in (str, int, float, bool, bytes):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, tuple):
        return tuple(_normalized_id(part, sample_id) for part in value)
    raise TypeError(
        f"sample id {sample_id!r} (a {type(value).__name__}) cannot key a cache: use str, int, float, bytes or "
        "tuples of them, so that every process names the sample the same way"
    )


def sample_id_key(sample_id: Hashable) -> str:
    """The text that names ``sample_id`` in a cache: the same in every process, and distinct for ``1``, ``"1"``
    and ``1.0``. Numpy scalars count as the python values they hold.

    >>> sample_id_key("case_1"), sample_id_key(np.int64(3)), sample_id_key(("case_1", 0))
    ("'case_1'", '3', "('case_1', 0)")
    """
    return repr(_normalized_id(sample_id, sample_id))


def _as_dirs(cache_dirs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    dirs = [cache_dirs] if isinstance(cache_dirs, (str, os.PathLike)) else list(cache_dirs)
    if not dirs:
        raise ValueError("cache_dirs is empty; give at least one directory")
    return [Path(os.path.expanduser(os.fspath(d))).absolute() for d in dirs]


def _cache_in_worker(orig_id: Hashable) -> tuple[Hashable, str, Any]:
    cacher: SamplesCacher = get_from_global_storage(_CACHER_KEY)
    status, value = cacher._cache_one(orig_id)
    return orig_id, status, value


class SamplesCacher:
    """Cache the output of a static pipeline per sample, on disk, under ``<cache_dir>/<unique_name>/<hash>/``.

    - **Never stale**: the hash covers every op's class, source and constructor arguments, the per-op kwargs and
      the pipeline name; a change gives a new directory. Directories of older hashes are reported with a
      :class:`StaleCacheWarning` and removed by :meth:`prune`.
    - **Atomic and concurrent**: a sample becomes visible only once completely written (a process killed at any
      moment leaves nothing servable; the next run completes the cache). Several processes (DataLoader workers,
      DDP ranks, two jobs) may build and read the same cache at once: they split the work through claims.
    - **Selective**: :meth:`delete` (then ``cache_samples`` or :meth:`recache`) recomputes chosen samples;
      :meth:`load_sample` with ``keys`` reads only those keys.
    - **Fast**: large arrays are stored raw in their own dtype and loaded into one buffer without copies;
      ``codec="zlib"`` trades load speed for size.
    - **Many readers, many nodes**: ``read_only=True`` opens a finished cache without locks or writes, e.g. from
      every rank of a multi-node job on a shared filesystem where SQLite locking is unreliable. Build it once
      (one process, or rank 0 before a barrier; concurrent builders are also safe on a local disk), or give each
      node its own local copy, then open it read-only everywhere.
    - **Several directories**: all ``cache_dirs`` are read (in order); new samples go to the first with at least
      ``min_free_bytes`` free (or where ``custom_write_dir_callable(cache_dirs)`` says).
    - **Audited**: a :class:`SampleCachingAudit` (configured by ``audit`` or ``**audit_kwargs``) recomputes the
      first loaded sample and then one every 30 minutes, and raises if the cached one differs.

    :param unique_name: the cache's name (a directory name) — one per dataset and static pipeline purpose.
    :param pipeline: the static pipeline whose outputs are cached.
    :param restart_cache: delete ``<cache_dir>/<unique_name>`` in every cache dir first (all hashes).
    :param workers: processes used by :meth:`cache_samples` (0: this process).
    :param use_pipeline_hash: ``False`` names the directory ``hash_fixed`` whatever the pipeline — you then
      answer for staleness yourself.
    :param claim_timeout: seconds after which another process may take over a sample a process claimed.

    >>> import tempfile
    >>> from fuse.data import OpLambda
    >>> pipeline = PipelineDefault("static", [(OpLambda(lambda s: s), {})])
    >>> cacher = SamplesCacher("example", pipeline, tempfile.mkdtemp(), verbose=0)
    >>> dict(cacher.cache_samples(["a", "b"]))  # original id -> final ids
    {'a': ['a'], 'b': ['b']}
    >>> cacher.load_sample("a")["data.sample_id"]
    'a'
    """

    def __init__(
        self,
        unique_name: str,
        pipeline: PipelineDefault,
        cache_dirs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        custom_write_dir_callable: Callable[[list[str]], str] | None = None,
        custom_read_dirs_callable: Callable[[], Sequence[str]] | None = None,
        restart_cache: bool = False,
        workers: int = 0,
        verbose: int = 1,
        use_pipeline_hash: bool = True,
        *,
        read_only: bool = False,
        mp_context: MpContext | None = None,
        codec: str | None = None,
        min_free_bytes: int = 2**30,
        claim_timeout: float = 600.0,
        audit: SampleCachingAudit | None = None,
        **audit_kwargs: Any,
    ) -> None:
        if not isinstance(unique_name, str) or not unique_name or unique_name in (".", "..") or "/" in unique_name:
            raise ValueError(f"unique_name must be a plain directory name, got {unique_name!r}")
        if not isinstance(pipeline, PipelineDefault):
            raise TypeError(f"pipeline must be a PipelineDefault, got {type(pipeline).__name__}")
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if read_only and restart_cache:
            raise ValueError("restart_cache=True deletes the cache, which a read_only cacher may not do")
        if audit is not None and audit_kwargs:
            raise TypeError(f"give either audit= or audit keyword arguments, not both (got {sorted(audit_kwargs)})")
        encode_sample(NDict(), None, codec=codec)  # validates the codec name
        self._unique_name = unique_name
        self._pipeline = pipeline
        self._cache_dirs = _as_dirs(cache_dirs)
        self._custom_write_dir = custom_write_dir_callable
        self._custom_read_dirs = custom_read_dirs_callable
        self._workers = workers
        self._verbose = verbose
        self._read_only = read_only
        self._mp_context = mp_context
        self._codec = codec
        self._min_free_bytes = min_free_bytes
        self._claim_timeout = claim_timeout
        self._audit = audit if audit is not None else SampleCachingAudit(**audit_kwargs)
        self._token = uuid.uuid4().hex
        self._stores: dict[Path, CacheStore] = {}
        self._written: set[Path] = set()
        self._read_paths: list[Path] | None = None
        self._pipeline_hash = self._compute_hash() if use_pipeline_hash else f"{_HASH_PREFIX}fixed"
        if restart_cache:
            self._delete_all_hashes()
        stale = self.stale_cache_dirs()
        if stale:
            warnings.warn(
                StaleCacheWarning(
                    f"cache {unique_name!r}: {len(stale)} director{'y' if len(stale) == 1 else 'ies'} of other "
                    f"pipeline versions beside the current one ({self._pipeline_hash}): "
                    f"{', '.join(str(p) for p in stale[:5])}{' ...' if len(stale) > 5 else ''}. They are never "
                    "read; remove them with cacher.prune() (or keep them to switch back)."
                ),
                stacklevel=2,
            )

    # ------------------------------------------------------------------ identity and places
    def _compute_hash(self) -> str:
        digest = hashlib.sha256(f"fuse-cache-v{CACHE_FORMAT_VERSION}|{self._pipeline.get_name()}|".encode())
        digest.update(self._pipeline.cache_identity().encode())
        return _HASH_PREFIX + digest.hexdigest()[:32]

    @property
    def pipeline_hash(self) -> str:
        """The name of this pipeline version's directory (``hash_<digest>``)."""
        return self._pipeline_hash

    @property
    def pipeline(self) -> PipelineDefault:
        """The cached static pipeline."""
        return self._pipeline

    @property
    def unique_name(self) -> str:
        """The cache's name."""
        return self._unique_name

    @property
    def read_only(self) -> bool:
        """Whether this cacher never writes."""
        return self._read_only

    def _read_roots(self) -> list[Path]:
        if self._custom_read_dirs is not None:
            return _as_dirs(list(self._custom_read_dirs()))
        return self._cache_dirs

    def cache_dirs(self) -> list[Path]:
        """This pipeline version's directory in every read location (whether or not it exists yet)."""
        if self._custom_read_dirs is None and self._read_paths is not None:
            return self._read_paths
        paths = [root / self._unique_name / self._pipeline_hash for root in self._read_roots()]
        if self._custom_read_dirs is None:
            self._read_paths = paths
        return paths

    def _store(self, path: Path, *, read_only: bool) -> CacheStore:
        store = self._stores.get(path)
        if store is None or (store.read_only and not read_only):
            store = CacheStore(path, read_only=read_only)
            self._stores[path] = store
        return store

    def _read_stores(self) -> list[CacheStore]:
        stores = []
        for path in self.cache_dirs():
            if path in self._stores:
                stores.append(self._stores[path])
            elif (path / "cache.db").is_file():
                stores.append(self._store(path, read_only=self._read_only))
        if not stores and self._read_only:
            raise ReadOnlyCacheError(
                f"no cache at {', '.join(str(p) for p in self.cache_dirs())}; build it first with a writable "
                "SamplesCacher (read_only=False)"
            )
        return stores

    def _write_root(self) -> Path:
        if self._custom_write_dir is not None:
            return _as_dirs(self._custom_write_dir([str(d) for d in self._cache_dirs]))[0]
        free = {}
        for root in self._cache_dirs:
            existing = root
            while not existing.exists() and existing != existing.parent:
                existing = existing.parent
            free[root] = shutil.disk_usage(existing).free
            if free[root] >= self._min_free_bytes:
                return root
        listing = ", ".join(f"{root} ({space / 2**30:.2f} GiB free)" for root, space in free.items())
        raise OSError(
            f"no cache dir has {self._min_free_bytes / 2**30:.2f} GiB free (min_free_bytes): {listing}; free space, "
            "add a cache dir, or lower min_free_bytes"
        )

    def _write_store(self) -> CacheStore:
        if self._read_only:
            raise ReadOnlyCacheError(
                f"cache {self._unique_name!r} is open read_only and a sample is missing; build it with a writable "
                "SamplesCacher first"
            )
        path = self._write_root() / self._unique_name / self._pipeline_hash
        store = self._store(path, read_only=False)
        if path not in self._written:
            description = path / _DESCRIPTION_FILE
            if not description.exists():
                with AtomicFileWriter(description, "w") as file:
                    file.write(f"{self._pipeline!r}\n\ncache identity: {self._pipeline.cache_identity()}\n")
            self._written.add(path)
        return store

    def _claims_store(self) -> CacheStore:
        """Claims live in the first cache dir, whichever dir receives the samples, so all builders see them."""
        return self._store(self._cache_dirs[0] / self._unique_name / self._pipeline_hash, read_only=False)

    # ------------------------------------------------------------------ stale versions
    def stale_cache_dirs(self) -> list[Path]:
        """Directories of other pipeline versions under ``<cache_dir>/<unique_name>/`` (never read)."""
        stale: list[Path] = []
        for root in dict.fromkeys([*self._cache_dirs, *self._read_roots()]):
            parent = root / self._unique_name
            if parent.is_dir():
                stale.extend(p for p in sorted(parent.iterdir()) if p.is_dir() and p.name != self._pipeline_hash)
        return stale

    def prune(self) -> list[Path]:
        """Remove the directories of other pipeline versions; returns them."""
        if self._read_only:
            raise ReadOnlyCacheError("prune() removes directories, which a read_only cacher may not do")
        stale = self.stale_cache_dirs()
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
            _log.info("removed stale cache %s", path)
        return stale

    def _delete_all_hashes(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()
        self._written.clear()
        for root in dict.fromkeys([*self._cache_dirs, *self._read_roots()]):
            target = root / self._unique_name
            if target.exists():
                shutil.rmtree(target)
                _log.info("restart_cache: removed %s", target)

    # ------------------------------------------------------------------ building
    def _find_info(self, key: str) -> tuple[bool, list[Hashable] | None]:
        for store in self._read_stores():
            info = store.get_object(f"info:{key}")
            if info is not None:
                return True, info["final_ids"]
        return False, None

    def cache_samples(self, orig_sample_ids: Sequence[Hashable]) -> OrderedDict[Hashable, list[Hashable] | None]:
        """Make sure every id is cached (computing only what is missing); returns, per original id, the final
        ids its static pipeline produced (``None`` for a dropped sample), in the order given."""
        keys = [sample_id_key(sample_id) for sample_id in orig_sample_ids]
        if len(set(keys)) != len(keys):
            seen: set[str] = set()
            duplicates = [i for i, k in zip(orig_sample_ids, keys, strict=True) if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
            raise ValueError(f"sample ids must be unique; repeated: {duplicates[:10]!r} ({len(duplicates)} repeats)")
        finals: dict[str, list[Hashable] | None] = {}
        missing: list[Hashable] = []
        for sample_id, key in zip(orig_sample_ids, keys, strict=True):
            found, final_ids = self._find_info(key)
            if found:
                finals[key] = final_ids
            else:
                missing.append(sample_id)
        if missing:
            if self._read_only:
                raise SampleNotCachedError(
                    f"{len(missing)} of {len(keys)} samples are not in the read-only cache {self._unique_name!r} "
                    f"({', '.join(str(p) for p in self.cache_dirs())}), e.g. {missing[:5]!r}; build it with a "
                    "writable SamplesCacher first"
                )
            self._cache_missing(missing, finals)
        result: OrderedDict[Hashable, list[Hashable] | None] = OrderedDict(
            (sample_id, finals[key]) for sample_id, key in zip(orig_sample_ids, keys, strict=True)
        )
        check_final_ids_unique(result)
        return result

    def _cache_missing(self, missing: list[Hashable], finals: dict[str, list[Hashable] | None]) -> None:
        self._claims_store()  # create the store before forking workers
        busy: list[Hashable] = []
        desc = f"caching {self._unique_name}"
        if self._workers <= 1:  # in this process: the pipeline's own exceptions reach the caller unwrapped
            outcomes: Iterable[tuple[Hashable, str, Any]] = progress(
                self._cache_in_blocks(missing), total=len(missing), desc=desc, enabled=self._verbose > 0
            )
        else:
            outcomes = run_multiprocessed(
                _cache_in_worker,
                missing,
                workers=self._workers,
                verbose=self._verbose,
                copy_to_global_storage={_CACHER_KEY: self},
                mp_context=self._mp_context,
                desc=desc,
            )
        for orig_id, status, value in outcomes:
            if status == _DONE:
                finals[sample_id_key(orig_id)] = value
            else:
                busy.append(orig_id)
        delay = 0.05
        if busy:
            _log.info("cache %r: waiting for %d samples that other processes are caching", self._unique_name, len(busy))
        while busy:
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            still = []
            for orig_id in busy:
                status, value = self._cache_one(orig_id)
                if status == _DONE:
                    finals[sample_id_key(orig_id)] = value
                else:
                    still.append(orig_id)
            busy = still
        self.finalize()

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
        found, final_ids = self._find_info(key)
        if found:
            return _DONE, final_ids
        claim_key = f"claim:{key}"
        me = {"host": socket.gethostname(), "pid": os.getpid(), "token": self._token, "time": time.time()}
        if claims.add(claim_key, me, expire=self._claim_timeout):
            return _CLAIMED, None
        owner = claims.get_object(claim_key)
        if owner is not None and self._owner_alive(owner):
            return _BUSY, owner
        claims.delete(claim_key)  # its process died: take over
        if claims.add(claim_key, me, expire=self._claim_timeout):
            return _CLAIMED, None
        return _BUSY, claims.get_object(claim_key)

    def _cache_in_blocks(self, missing: list[Hashable]) -> Iterator[tuple[Hashable, str, Any]]:
        """Cache ``missing`` in this process, block by block: claim a block of ids in one transaction (sized to about
        0.2 s of work), compute it, then commit its samples, info records and claim releases in one transaction
        (sooner when the computed samples reach ``_MAX_PENDING_BYTES``). Per-sample SQLite commits cost more than
        the file writes on small samples; a killed process still leaves nothing servable (the commit is atomic)."""
        claims = self._claims_store()
        position, block_size = 0, 1
        while position < len(missing):
            block = missing[position : position + block_size]
            position += len(block)
            with claims.transaction():
                outcomes = [(orig_id, *self._try_claim(claims, sample_id_key(orig_id))) for orig_id in block]
            claimed = [orig_id for orig_id, status, _ in outcomes if status == _CLAIMED]
            yield from ((orig_id, status, value) for orig_id, status, value in outcomes if status != _CLAIMED)
            start = time.perf_counter()
            pending: list[_Computed] = []
            try:
                pending_bytes = 0
                while claimed:
                    computed = self._compute(claimed[0])
                    pending.append(computed)
                    claimed.pop(0)
                    pending_bytes += sum(total for _, total, _ in computed.encoded)
                    if pending_bytes >= _MAX_PENDING_BYTES or not claimed:
                        done, pending, pending_bytes = pending, [], 0
                        self._commit(done, claims)
                        yield from ((c.orig_id, _DONE, c.final_ids) for c in done)
            finally:  # an error (or the caller stopped): keep what was computed, give the rest back
                try:
                    if pending:
                        self._commit(pending, claims)
                finally:
                    for orig_id in claimed:
                        claims.delete(f"claim:{sample_id_key(orig_id)}")
            per_sample = (time.perf_counter() - start) / max(len(block), 1)
            block_size = int(min(_MAX_BLOCK, max(1, _BLOCK_SECONDS / max(per_sample, 1e-4))))

    def _cache_one(self, orig_id: Hashable) -> tuple[str, Any]:
        """Compute and store ``orig_id`` unless cached or being cached by a live process (then ``busy``)."""
        key = sample_id_key(orig_id)
        claims = self._claims_store()
        status, value = self._try_claim(claims, key)
        if status != _CLAIMED:
            return status, value
        try:
            computed = self._compute(orig_id)
        except BaseException:
            claims.delete(f"claim:{key}")
            raise
        self._commit([computed], claims)
        return _DONE, computed.final_ids

    def _compute(self, orig_id: Hashable) -> _Computed:
        """Run the static pipeline on ``orig_id`` and encode its outputs."""
        output = self._pipeline(create_initial_sample(orig_id))
        if output is None:
            samples: list[NDict] = []
        elif isinstance(output, Mapping):
            samples = [output]
        else:
            samples = list(output)
        final_ids: list[Hashable] = []
        encoded = []
        for sample in samples:
            final_id = sample_value(sample, "data.sample_id", f"SamplesCacher({self._unique_name!r})")
            try:
                encoded.append((sample_id_key(final_id), *encode_sample(sample, orig_id, codec=self._codec)))
            except (TypeError, ValueError) as error:
                add_note(
                    error, f"while caching sample {orig_id!r} (output {final_id!r}) in cache {self._unique_name!r}"
                )
                raise
            final_ids.append(final_id)
        if len({final_key for final_key, _, _ in encoded}) != len(final_ids):
            raise ValueError(
                f"the static pipeline split sample {orig_id!r} into samples with repeated ids {final_ids!r}; give "
                "every part its own data.sample_id"
            )
        return _Computed(orig_id, sample_id_key(orig_id), encoded, None if output is None else final_ids)

    def _commit(self, batch: list[_Computed], claims: CacheStore) -> None:
        """Store the samples and info records of ``batch`` in one transaction and release their claims. An info
        record, written after its samples, is what makes them count. If the commit fails, nothing of ``batch`` is
        stored and its claims are released, so that another process (or a rerun) computes those samples."""
        store = self._write_store()
        try:
            with store.transaction():
                for computed in batch:
                    for final_key, total, chunks in computed.encoded:
                        store.put_chunks(f"sample:{final_key}", total, chunks)
                    info = {"orig_id": computed.orig_id, "final_ids": computed.final_ids}
                    store.put_object(f"info:{computed.key}", info)
                    if claims is store:
                        claims.delete(f"claim:{computed.key}")
        except BaseException:
            with contextlib.suppress(Exception):
                for computed in batch:
                    claims.delete(f"claim:{computed.key}")
            raise
        if claims is not store:
            with claims.transaction():
                for computed in batch:
                    claims.delete(f"claim:{computed.key}")

    def finalize(self) -> None:
        """Merge pending writes into each database file this cacher wrote to, so that read-only openers see them
        (called at the end of :meth:`cache_samples` and :meth:`delete`)."""
        for store in self._stores.values():
            if not store.read_only:
                store.finalize()

    # ------------------------------------------------------------------ reading
    def load_sample(self, sample_id: Hashable, keys: Sequence[str] | None = None) -> NDict:
        """The cached sample ``sample_id`` (a final id); ``keys`` (keypaths or prefixes) reads only those keys.

        Raises :class:`SampleNotCachedError` when the sample is not cached, and
        :class:`~fuse.data.SampleCachingAuditError` when an audit finds the cached sample outdated.
        """
        key = f"sample:{sample_id_key(sample_id)}"
        for store in self._read_stores():
            value = store.get_value(key)
            if value is None:
                continue
            try:
                sample, header = decode_sample(value, f"cached sample {sample_id!r} in {store.path}", keys)
            finally:
                if not isinstance(value, bytes):
                    value.close()
            if self._audit.enabled and self._audit.update():
                self._audit_sample(sample, sample_id, header.initial_sample_id, keys)
            return sample
        raise SampleNotCachedError(
            f"sample {sample_id!r} is not in cache {self._unique_name!r} "
            f"({', '.join(str(p) for p in self.cache_dirs())}); cache it with cache_samples([...]) (for a split or "
            "renamed sample, use the id the static pipeline gave it)"
        )

    def _audit_sample(
        self, cached: NDict, sample_id: Hashable, initial_id: Hashable, keys: Sequence[str] | None
    ) -> None:
        output = self._pipeline(create_initial_sample(initial_id))
        candidates = [] if output is None else [output] if isinstance(output, Mapping) else list(output)
        wanted = sample_id_key(sample_id)
        fresh = next((s for s in candidates if sample_id_key(s.get("data.sample_id")) == wanted), None)
        if fresh is None:
            produced = [s.get("data.sample_id") for s in candidates]
            self._audit.audit(cached, NDict({"(no sample: the pipeline now produces)": produced}), sample_id)
            return
        self._audit.audit(cached, fresh if keys is None else fresh.get_multi(keys), sample_id)

    # ------------------------------------------------------------------ invalidation
    def delete(self, sample_ids: Sequence[Hashable]) -> int:
        """Forget the given original sample ids and their output samples in every cache dir, so that the next
        :meth:`cache_samples` (e.g. ``dataset.create()``) recomputes them; returns how many were cached."""
        if self._read_only:
            raise ReadOnlyCacheError("delete() writes, which a read_only cacher may not do")
        deleted = 0
        for orig_id in sample_ids:
            key = sample_id_key(orig_id)
            for store in self._read_stores():
                info = store.get_object(f"info:{key}")
                if info is None:
                    continue
                store.delete(f"info:{key}")  # first: without it the id counts as not cached
                for final_id in info["final_ids"] or []:
                    for other in self._read_stores():
                        other.delete(f"sample:{sample_id_key(final_id)}")
                deleted += 1
        self.finalize()
        return deleted

    def recache(self, sample_ids: Sequence[Hashable]) -> OrderedDict[Hashable, list[Hashable] | None]:
        """:meth:`delete` then :meth:`cache_samples` for the given original ids."""
        self.delete(sample_ids)
        return self.cache_samples(sample_ids)

    def cached_sample_ids(self) -> list[Hashable]:
        """The original ids cached in any cache dir (in storage order)."""
        ids: dict[str, Hashable] = {}
        for store in self._read_stores():
            for key in store.all_keys():
                if key.startswith("info:") and key not in ids:
                    info = store.get_object(key)
                    if info is not None:
                        ids[key] = info["orig_id"]
        return list(ids.values())

    def __repr__(self) -> str:
        mode = ", read_only" if self._read_only else ""
        return f"SamplesCacher({self._unique_name!r}, {self._pipeline_hash}, dirs={[str(d) for d in self._cache_dirs]}{mode})"


def check_final_ids_unique(mapping: Mapping[Hashable, list[Hashable] | None]) -> None:
    owner: dict[str, Hashable] = {}
    for orig_id, final_ids in mapping.items():
        for final_id in final_ids or []:
            key = sample_id_key(final_id)
            if key in owner and owner[key] != orig_id:
                raise ValueError(
                    f"samples {owner[key]!r} and {orig_id!r} both produce a sample with id {final_id!r}; the static "
                    "pipeline must give every output sample its own data.sample_id"
                )
            owner[key] = orig_id
