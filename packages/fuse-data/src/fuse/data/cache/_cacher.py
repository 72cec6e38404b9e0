"""``SamplesCacher``: the static pipeline's outputs on disk — atomic, concurrent, never stale, prunable.

Layout: ``<cache_dir>/<unique_name>/hash_<pipeline digest>/`` holds a :mod:`diskcache` store (see
:mod:`fuse.data.cache._store`) and ``pipeline_description.txt``. In the store:

- ``info:<id>`` — for an original sample id, the final ids its static pipeline produced (``None``: dropped). It is
  written after the samples, so it is the commit record: an id without it is (re)computed.
- ``sample:<id>`` — one final sample (:mod:`fuse.data.cache._codec`: large arrays as raw buffers).
- ``claim:<id>`` — a short-lived note that a process is computing that id, so that concurrent builders split the
  work; a claim whose process died is taken over at once (same host) or when it expires (``claim_timeout``).
"""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

from fuse.core import MpContext, NDict, get_from_global_storage, progress, run_multiprocessed
from fuse.data._pipeline import PipelineDefault
from fuse.data.cache._audit import SampleCachingAudit
from fuse.data.cache._build import DONE, SampleBuilder
from fuse.data.cache._claim_wait import ClaimWait
from fuse.data.cache._codec import CorruptCachedSampleError, decode_sample, encode_sample
from fuse.data.cache._ids import check_final_ids_unique, sample_id_key
from fuse.data.cache._locks import sweep_removed
from fuse.data.cache._places import CachePlaces, as_dirs
from fuse.data.cache._store import CacheStore, ReadOnlyCacheError
from fuse.data.cache._versions import StaleCacheWarning, other_versions, remove_unused, stale_message, version_name

__all__ = ["SampleNotCachedError", "SamplesCacher"]

_log = logging.getLogger("fuse.data")

_CACHER_KEY = "fuse.data.SamplesCacher"


class SampleNotCachedError(KeyError):
    """A sample id is not in the cache (never cached, deleted, or unknown)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _cache_in_worker(orig_id: Hashable) -> tuple[Hashable, str, Any]:
    cacher: SamplesCacher = get_from_global_storage(_CACHER_KEY)
    status, value = cacher._builder().cache_one(orig_id)
    return orig_id, status, value


class SamplesCacher:
    """Cache the output of a static pipeline per sample, on disk, under ``<cache_dir>/<unique_name>/<hash>/``.

    - **Never stale**: the hash covers every op's class, constructor arguments and attributes, the code of your
      functions and classes it reaches (followed into the module-level functions, classes, constants and modules
      they reference), the name and version of every installed distribution involved (fuse's own included), the
      per-op kwargs and the pipeline name; a change gives a new directory. It is taken when the cache is first used
      (not at construction), so an array changed in place in between counts. Directories of older hashes are
      reported with a :class:`StaleCacheWarning` and removed by :meth:`prune`. What no hash can see (data files
      read at run time, environment variables) is what the audit is for.
    - **Atomic and concurrent**: a sample becomes visible only once completely written (a process killed at any
      moment leaves nothing servable; the next run completes the cache). Several processes (DataLoader workers,
      DDP ranks, two jobs) may build and read the same cache at once: they split the work through claims, taken in
      the same transaction as the check that a sample is not committed yet, and a committed sample is never
      rewritten, so each is computed once and never disappears under a reader.
    - **Checked**: every value carries checksums verified on read. A damaged sample (a flipped bit, a missing
      or truncated file) is recomputed by a writable cacher (:meth:`cache_samples`, e.g. ``dataset.create()``,
      recomputes missing or truncated files) or raises :class:`~fuse.data.CorruptCachedSampleError` naming the
      sample, the file and the fix; never served.
    - **Selective**: :meth:`delete` (then ``cache_samples`` or :meth:`recache`) recomputes chosen samples;
      :meth:`load_sample` with ``keys`` reads only those keys.
    - **Fast**: large arrays are stored raw in their own dtype and loaded into one buffer without copies;
      ``codec="zlib"`` trades load speed for size.
    - **Many readers, many nodes**: ``read_only=True`` opens a finished cache without locks or writes, e.g. from
      every rank of a multi-node job on a shared filesystem where SQLite locking is unreliable. Never build on
      such a filesystem from several nodes: build in shards on local disks (:class:`~fuse.data.CacheShard`),
      publish them, and open them all with :func:`~fuse.data.open_published_cache`. Concurrent builders are safe
      on a local disk.
    - **Several directories**: all ``cache_dirs`` are read (in order); new samples go to the first with at least
      ``min_free_bytes`` free (or where ``custom_write_dir_callable(cache_dirs)`` says).
    - **Audited**: a :class:`SampleCachingAudit` (configured by ``audit`` or ``**audit_kwargs``) recomputes the
      first loaded sample, then one in every 1000 and one every 30 minutes, and raises if the cached one differs;
      where it cannot recompute (no raw data on this node) it warns once and stops auditing in that process.

    :param unique_name: the cache's name (a directory name) — one per dataset and static pipeline purpose.
    :param pipeline: the static pipeline whose outputs are cached.
    :param restart_cache: delete ``<cache_dir>/<unique_name>`` in every cache dir first (all hashes), as
      :meth:`delete_cache` does (which refuses a directory holding anything but cache versions).
    :param workers: processes used by :meth:`cache_samples` (0: this process).
    :param use_pipeline_hash: ``False`` names the directory ``hash_fixed`` whatever the pipeline (``hash_fixed_<..>``
      from ``cache_version`` when given) — you then answer for staleness yourself.
    :param claim_timeout: seconds after which another process may take over a sample a process claimed.
    :param cache_version: a label of your choice, part of the hash. With it, values that have no stable identity
      (which otherwise raise :class:`~fuse.data.UnstableIdentityError`) are left out of the hash (and logged):
      change the label whenever they, or anything else the hash cannot see, change.

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
        cache_version: str | None = None,
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
        self._cache_dirs = as_dirs(cache_dirs)
        self._workers = workers
        self._verbose = verbose
        self._read_only = read_only
        self._mp_context = mp_context
        self._codec = codec
        self._claim_timeout = claim_timeout
        self._audit = audit if audit is not None else SampleCachingAudit(**audit_kwargs)
        self._token = uuid.uuid4().hex
        self._places = CachePlaces(
            unique_name,
            self._cache_dirs,
            version=self._version_name,  # bound methods, not lambdas: the cacher is pickled for its workers
            describe=self._description,
            read_only=read_only,
            min_free_bytes=min_free_bytes,
            custom_write_dir=custom_write_dir_callable,
            custom_read_dirs=custom_read_dirs_callable,
        )
        if cache_version is not None and (not isinstance(cache_version, str) or not cache_version):
            raise TypeError(f"cache_version must be a non-empty string (a label you change), got {cache_version!r}")
        self._cache_version = cache_version
        self._use_pipeline_hash = use_pipeline_hash
        self._hash: str | None = None  # taken when the cache is first used (see _pipeline_hash)
        self._identity = ""  # the pipeline's cache identity the hash was last computed from
        built_hash = self._compute_hash(report=True)  # now too: an unidentifiable value is reported at once
        if restart_cache:
            self._places.remove_all_versions()
        elif not read_only:
            for root in self._cache_dirs:  # what a process killed while removing a cache left behind
                sweep_removed(root)
                sweep_removed(root / unique_name)
        stale = other_versions(self._places.all_roots(), unique_name, built_hash)
        if stale:
            warnings.warn(StaleCacheWarning(stale_message(unique_name, built_hash, stale)), stacklevel=2)

    # ------------------------------------------------------------------ identity and places
    def _compute_hash(self, report: bool = False) -> str:
        name, self._identity = version_name(
            self._pipeline,
            self._unique_name,
            use_pipeline_hash=self._use_pipeline_hash,
            cache_version=self._cache_version,
            report=report,
        )
        return name

    @property
    def _pipeline_hash(self) -> str:
        """Taken on first use (not at construction), so that an argument changed in place in between counts."""
        if self._hash is None:
            self._hash = self._compute_hash()
        return self._hash

    def _version_name(self) -> str:
        return self._pipeline_hash

    def _description(self) -> str:
        return f"{self._pipeline!r}\n\ncache identity: {self._identity}\n"

    @property
    def pipeline_hash(self) -> str:
        """The name of this pipeline version's directory (``hash_<digest>``), fixed from the first use of the
        cache on (this, :meth:`cache_samples` or :meth:`load_sample`): later changes to the ops are not seen."""
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

    def cache_dirs(self) -> list[Path]:
        """This pipeline version's directory in every read location (whether or not it exists yet)."""
        return self._places.version_dirs()

    # ------------------------------------------------------------------ stale versions
    def stale_cache_dirs(self) -> list[Path]:
        """Directories of other pipeline versions under ``<cache_dir>/<unique_name>/`` (never read)."""
        return other_versions(self._places.all_roots(), self._unique_name, self._pipeline_hash)

    def prune(self) -> list[Path]:
        """Remove the directories of other pipeline versions that no process has open; returns those removed.

        A cache that a ``SamplesCacher`` (or a dataset using one) in any process on this machine or, where the
        filesystem supports ``flock``, another node holds open (its lease) is skipped with a warning: prune again
        once that job has finished."""
        if self._read_only:
            raise ReadOnlyCacheError("prune() removes directories, which a read_only cacher may not do")
        return remove_unused(self.stale_cache_dirs())

    def delete_cache(self) -> None:
        """Delete this cache, every pipeline version of it, in every cache dir (what ``restart_cache=True`` does).

        Each ``<cache_dir>/<unique_name>`` must hold only cache versions: one holding anything else (a wrong
        ``cache_dirs`` or ``unique_name``) raises ``ValueError`` naming it, before anything is removed. Unlike
        :meth:`prune` this does not wait for other processes: stop the jobs that read this cache first.
        """
        if self._read_only:
            raise ReadOnlyCacheError("delete_cache() removes the cache, which a read_only cacher may not do")
        self._places.remove_all_versions()

    # ------------------------------------------------------------------ building
    def _find_info(self, key: str) -> tuple[bool, list[Hashable] | None]:
        for store in self._places.read_stores():
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
                problem = self._places.damage(final_ids)
                if problem is None:
                    finals[key] = final_ids
                    continue
                self._invalidate(sample_id, final_ids, problem)  # then recomputed below (or raises if read-only)
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

    def _invalidate(
        self, orig_id: Hashable, final_ids: list[Hashable] | None, problem: str, *, warn: bool = True
    ) -> None:
        """Forget the damaged cached sample ``orig_id`` so that it is recomputed (a read-only cacher raises)."""
        if self._read_only:
            raise CorruptCachedSampleError(
                f"cached sample {orig_id!r} in cache {self._unique_name!r} is damaged: {problem}. A read-only cacher "
                f"cannot recompute it: run dataset.create() (or cacher.recache([{orig_id!r}])) with a writable "
                "SamplesCacher (read_only=False), or delete the cache directory and build it again"
            )
        if warn:
            _log.warning(
                "cache %r: recomputing sample %r, whose cached copy is damaged: %s", self._unique_name, orig_id, problem
            )
        key = sample_id_key(orig_id)
        for store in self._places.read_stores():
            if not store.read_only:
                store.delete(f"info:{key}")  # first: without it the id counts as not cached
                for final_id in final_ids or []:
                    store.discard(f"sample:{sample_id_key(final_id)}")

    def _orig_id_of(self, sample_id: Hashable) -> tuple[bool, Hashable, list[Hashable] | None]:
        """The original id whose static pipeline produced ``sample_id``: usually ``sample_id`` itself, else found by
        a scan of the info records (for repairs only)."""
        wanted = sample_id_key(sample_id)
        found, final_ids = self._find_info(wanted)
        if found and any(sample_id_key(f) == wanted for f in final_ids or []):
            return True, sample_id, final_ids
        return self._places.find_origin(sample_id)

    def _cache_missing(self, missing: list[Hashable], finals: dict[str, list[Hashable] | None]) -> None:
        self._places.claims_store()  # create the store before forking workers
        busy: list[Hashable] = []
        desc = f"caching {self._unique_name}"
        if self._workers <= 1:  # in this process: the pipeline's own exceptions reach the caller unwrapped
            outcomes: Iterable[tuple[Hashable, str, Any]] = progress(
                self._builder().cache_in_blocks(missing), total=len(missing), desc=desc, enabled=self._verbose > 0
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
        waiting = ClaimWait(self._unique_name, self._claim_timeout)  # says what is waited for, never silently
        for orig_id, status, value in outcomes:
            if status == DONE:
                finals[sample_id_key(orig_id)] = value
            else:
                busy.append(orig_id)
                waiting.note(orig_id, value)
        if busy:
            _log.info("cache %r: waiting for %d samples that other processes are caching", self._unique_name, len(busy))
        for orig_id, final_ids in self._builder().finish_claimed(busy, waiting):
            finals[sample_id_key(orig_id)] = final_ids
        self.finalize()

    def _builder(self) -> SampleBuilder:
        """What computes and commits this cache's missing samples (a new one per use: it holds no state)."""
        return SampleBuilder(
            self._unique_name,
            self._pipeline,
            codec=self._codec,
            token=self._token,
            claim_timeout=self._claim_timeout,
            find_info=self._find_info,
            claims_store=self._places.claims_store,
            write_store=self._places.write_store,
        )

    def close(self) -> None:
        """Close the cache directories and give their leases back (a later use reopens them); until then
        :meth:`prune` in any process keeps them."""
        self._places.close()

    def finalize(self) -> None:
        """Merge pending writes into each database file this cacher wrote to, so that read-only openers see them
        (called at the end of :meth:`cache_samples` and :meth:`delete`)."""
        self._places.finalize()

    # ------------------------------------------------------------------ reading
    def load_sample(self, sample_id: Hashable, keys: Sequence[str] | None = None) -> NDict:
        """The cached sample ``sample_id`` (a final id); ``keys`` (keypaths or prefixes) reads only those keys.

        Raises :class:`SampleNotCachedError` when the sample is not cached, and
        :class:`~fuse.data.SampleCachingAuditError` when an audit finds the cached sample outdated.
        """
        return self._load_sample(sample_id, keys, repair=True)

    def _load_sample(self, sample_id: Hashable, keys: Sequence[str] | None, *, repair: bool) -> NDict:
        key = f"sample:{sample_id_key(sample_id)}"
        for store in self._places.read_stores():
            try:
                value = store.get_value(key)
            except FileNotFoundError as error:
                problem = f"cached sample {sample_id!r}: its value file {error.filename} is missing"
                self._repair(sample_id, store, (os.path.relpath(error.filename, store.path), None), problem, repair)
                return self._load_sample(sample_id, keys, repair=False)
            if value is None:
                continue
            if isinstance(value, bytes):
                where = f"cached sample {sample_id!r} in the database {store.path / 'cache.db'}"
            else:
                where = f"cached sample {sample_id!r} in {value.name}"
            try:
                sample, header = decode_sample(value, where, keys)
            except CorruptCachedSampleError as error:
                # what the damaged row holds, so that a repair never removes a sound value written meanwhile
                if isinstance(value, bytes):
                    identity: tuple[Any, ...] = (None, value)
                else:
                    identity = (os.path.relpath(value.name, store.path), None)
                self._repair(sample_id, store, identity, str(error), repair)
                return self._load_sample(sample_id, keys, repair=False)
            finally:
                if not isinstance(value, bytes):
                    value.close()
            if self._audit.enabled and self._audit.update():
                self._audit.audit_with(
                    self._pipeline, sample, sample_id, header.initial_sample_id, keys, self._unique_name
                )
            return sample
        key = sample_id_key(sample_id)
        found, final_ids = self._find_info(key)
        if found and any(sample_id_key(final) == key for final in final_ids or []):  # committed, yet gone
            problem = f"cached sample {sample_id!r} is committed but its entry is missing"
            self._repair(sample_id, None, None, problem, repair)
            return self._load_sample(sample_id, keys, repair=False)
        raise SampleNotCachedError(
            f"sample {sample_id!r} is not in cache {self._unique_name!r} "
            f"({', '.join(str(p) for p in self.cache_dirs())}); cache it with cache_samples([...]) (for a split or "
            "renamed sample, use the id the static pipeline gave it)"
        )

    def _repair(
        self,
        sample_id: Hashable,
        store: CacheStore | None,
        identity: tuple[Any, ...] | None,
        problem: str,
        repair: bool,
    ) -> None:
        """Recompute the damaged cached sample ``sample_id`` (whose row in ``store`` is ``identity``; no store: its
        row is missing) when this cacher can write; otherwise raise an error that names it, the file and the fix."""
        found, orig_id, final_ids = self._orig_id_of(sample_id)
        orig = orig_id if found else sample_id
        read_only = self._read_only or (store is not None and store.read_only)
        if not repair or read_only or not found:
            why = "the repair did not help" if not repair else "this cacher is read-only" if read_only else (
                "its original id is unknown"
            )  # fmt: skip
            where = store.path if store is not None else " / ".join(str(p) for p in self.cache_dirs())
            key = f"sample:{sample_id_key(sample_id)}"
            seen_by_create = store is None or store.value_problem(key) is not None  # a missing or short file
            also = " (or dataset.create(), which recomputes missing and truncated files)" if seen_by_create else ""
            raise CorruptCachedSampleError(
                f"{problem}; {why}. Recompute it with a writable SamplesCacher: cacher.recache([{orig!r}]){also}, "
                f"or delete {where} and build the cache again"
            )
        _log.warning(
            "cache %r: recomputing %r, whose cached copy is damaged: %s", self._unique_name, sample_id, problem
        )
        if store is not None and identity is not None:
            store.discard(f"sample:{sample_id_key(sample_id)}", identity=identity)
        self._invalidate(orig_id, final_ids, problem, warn=False)
        self.cache_samples([orig_id])

    # ------------------------------------------------------------------ invalidation
    def delete(self, sample_ids: Sequence[Hashable]) -> int:
        """Forget the given original sample ids and their output samples in every cache dir, so that the next
        :meth:`cache_samples` (e.g. ``dataset.create()``) recomputes them; returns how many were cached."""
        if self._read_only:
            raise ReadOnlyCacheError("delete() writes, which a read_only cacher may not do")
        deleted = 0
        for orig_id in sample_ids:
            key = sample_id_key(orig_id)
            for store in self._places.read_stores():
                info = store.get_object(f"info:{key}")
                if info is None:
                    continue
                store.delete(f"info:{key}")  # first: without it the id counts as not cached
                for final_id in info["final_ids"] or []:
                    for other in self._places.read_stores():
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
        return [info["orig_id"] for info in self._places.info_records()]

    def __repr__(self) -> str:
        mode = ", read_only" if self._read_only else ""
        return f"SamplesCacher({self._unique_name!r}, {self._hash or 'hash not taken yet'}, dirs={[str(d) for d in self._cache_dirs]}{mode})"
