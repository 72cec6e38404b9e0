"""Publishing cache shards: check each shard's manifest and values, copy it into the shared directory atomically,
and read the publication back (see :mod:`fuse.data.cache._shards` for how shards are built).

A shard is copied into a temporary directory in the destination, verified there completely and renamed into place:
it is in the shared directory completely or not at all.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import sqlite3
import time
import uuid
import warnings
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fuse.data._pipeline import PipelineDefault
from fuse.data.cache._cacher import SamplesCacher
from fuse.data.cache._codec import CorruptCacheError, decode_sample
from fuse.data.cache._ids import sample_id_key
from fuse.data.cache._shards import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    SHARED_FIELDS,
    CacheShard,
    CacheShardError,
    owner_of,
    read_manifest_json,
)
from fuse.data.cache._store import CacheStore, ReadOnlyCacheError
from fuse.data.cache._versions import StaleCacheWarning

__all__ = [
    "open_published_cache",
    "publication_state",
    "publish_cache_shards",
    "published_cache_dirs",
    "verify_cache_shard",
]

_log = logging.getLogger("fuse.data")

_PUBLISHING_PREFIX = ".publishing-"
_NOT_COPIED = ("cache.db-wal", "cache.db-shm", ".removing-*")


def _manifest(shard_dir: Path) -> dict[str, Any]:
    """The checked manifest of the shard in ``shard_dir``."""
    path = shard_dir / MANIFEST_NAME
    if not path.is_file():
        raise CacheShardError(
            f"{shard_dir} has no {MANIFEST_NAME}: its build has not finished (or it is not a shard directory); "
            "run CacheShard.build(...) for it to the end, then publish"
        )
    manifest = read_manifest_json(path)
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise CacheShardError(
            f"{path} is not a shard manifest of format {FORMAT!r} version {FORMAT_VERSION}; build the shard again "
            "with this version of fuse-data"
        )
    missing = [f for f in (*SHARED_FIELDS, "rank", "ids", "samples") if f not in manifest]
    if missing:
        raise CacheShardError(f"the shard manifest {path} lacks {missing}; build the shard again")
    try:
        shard = CacheShard(int(manifest["rank"]), int(manifest["world_size"]))
        if not all(isinstance(key, str) for key in manifest["ids"]):
            raise TypeError("ids must be strings")
    except (TypeError, ValueError) as error:
        raise CacheShardError(f"the shard manifest {path} is damaged ({error}); build the shard again") from None
    for field in ("unique_name", "pipeline_hash"):  # they name directories: nothing that leads elsewhere
        value = manifest[field]
        if not isinstance(value, str) or value in ("", ".", "..") or "/" in value or os.sep in value:
            raise CacheShardError(f"the shard manifest {path} is damaged ({field}={value!r}); build the shard again")
    if shard.name != shard_dir.name and shard_dir.name.startswith("shard-"):
        raise CacheShardError(f"{shard_dir} holds {shard.name} (per its manifest): a renamed shard directory")
    strays = [key for key in manifest["ids"] if owner_of(key, shard.world_size) != shard.rank]
    if strays or len(set(manifest["ids"])) != len(manifest["ids"]):
        raise CacheShardError(
            f"the manifest {path} lists ids that are not {shard.name}'s (e.g. {strays[:3]}) or repeats ids; build "
            "the shard again"
        )
    return manifest


def _hash_dir(shard_dir: Path, manifest: Mapping[str, Any]) -> Path:
    return shard_dir / str(manifest["unique_name"]) / str(manifest["pipeline_hash"])


def _describe(manifest: Mapping[str, Any]) -> str:
    return (
        f"cache {manifest['unique_name']!r} {manifest['pipeline_hash']}, {manifest['world_size']} shards, "
        f"{manifest['ids_total']} ids (digest {str(manifest['ids_digest'])[:12]})"
    )


def _check_same_fields(shard_dir: Path, manifest: Mapping[str, Any], other_dir: Path, other: Mapping[str, Any]) -> None:
    """Raise unless the shards ``manifest`` and ``other`` belong to one build (cache, pipeline hash, ids, count)."""
    differing = [f for f in SHARED_FIELDS if manifest[f] != other[f]]
    if not differing:
        return
    hint = {
        "pipeline_hash": "they were built by different versions of the pipeline",
        "ids_digest": "they were built from different sample id lists",
        "ids_total": "they were built from different sample id lists",
        "world_size": "they were built for different numbers of shards",
        "unique_name": "they are shards of different caches",
    }[differing[0]]
    raise CacheShardError(
        f"{shard_dir} ({_describe(manifest)}) and {other_dir} ({_describe(other)}) are not shards of one build: "
        f"{hint}. Rebuild every shard with the same pipeline and ids, and publish each cache version to its own "
        "directory"
    )


def _check_same_build(manifests: Mapping[Path, Mapping[str, Any]]) -> None:
    """Raise unless all ``manifests`` are shards of one build, each rank at most once."""
    items = list(manifests.items())
    ranks: dict[int, Path] = {}
    for shard_dir, manifest in items:
        _check_same_fields(shard_dir, manifest, *items[0])
        rank = int(manifest["rank"])
        if rank in ranks:
            raise CacheShardError(f"{shard_dir} and {ranks[rank]} are both shard {rank}: give each shard once")
        ranks[rank] = shard_dir


# ---------------------------------------------------------------------------------------------- verification
def _writer_active(hash_dir: Path) -> bool:
    """Whether a process is writing to the cache in ``hash_dir`` now (it holds ``build.lock``)."""
    try:
        lock = open(hash_dir / "build.lock", "rb")  # noqa: SIM115  (closed below)
    except OSError:
        return False
    with lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False  # no flock on this filesystem: the manifest and the WAL check decide
        return False


def _check_finished(shard_dir: Path, manifest: Mapping[str, Any]) -> Path:
    hash_dir = _hash_dir(shard_dir, manifest)
    if not (hash_dir / "cache.db").is_file():
        raise CacheShardError(
            f"{shard_dir}: its manifest names {hash_dir}, which holds no cache.db; build the shard again"
        )
    wal = hash_dir / "cache.db-wal"
    if _writer_active(hash_dir) or (wal.exists() and wal.stat().st_size > 0):
        raise CacheShardError(
            f"{hash_dir} is still being written (a builder holds it, or its {wal.name} is not merged): wait for "
            "the build to finish (CacheShard.build returns), then publish"
        )
    return hash_dir


def verify_cache_shard(shard_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Check the shard in ``shard_dir`` completely and return its manifest: the build finished, every id of its
    share is committed, no other id is, and every cached value reads back intact (checksums); raises
    :class:`CacheShardError` naming the shard, the sample and the fix. Reads only (SQLite opened immutable).

    Cost: one read of the whole shard.
    """
    path = Path(shard_dir).absolute()
    manifest = _manifest(path)
    hash_dir = _check_finished(path, manifest)
    where = f"{manifest['unique_name']!r} {CacheShard(manifest['rank'], manifest['world_size']).name} ({path})"
    store = CacheStore(hash_dir, read_only=True)
    try:
        committed = {k[len("info:") :] for k in store.all_keys() if k.startswith("info:")}
        wanted = set(manifest["ids"])
        missing, extra = sorted(wanted - committed), sorted(committed - wanted)
        if missing:
            raise CacheShardError(
                f"shard {where} lacks {len(missing)} of its {len(wanted)} samples (e.g. {missing[:5]}): its cache "
                "changed after the build; run the shard's build again, then publish"
            )
        if extra:
            raise CacheShardError(
                f"shard {where} also holds {len(extra)} samples outside its share (e.g. {extra[:5]}): its directory "
                "was reused from another build; build it again into an empty directory"
            )
        samples = 0
        for key in manifest["ids"]:
            info = store.get_object(f"info:{key}")
            for final_id in info["final_ids"] or []:
                samples += 1
                _check_value(store, final_id, where)
        if samples != manifest["samples"]:
            raise CacheShardError(
                f"shard {where} holds {samples} samples, its manifest says {manifest['samples']}; build it again"
            )
    except (CorruptCacheError, ReadOnlyCacheError, sqlite3.Error, OSError) as error:
        raise CacheShardError(f"shard {where} cannot be read: {error}; build the shard again") from error
    finally:
        store.close()
    return manifest


def _check_value(store: CacheStore, final_id: Hashable, where: str) -> None:
    key = f"sample:{sample_id_key(final_id)}"
    try:
        value = store.get_value(key)
    except FileNotFoundError as error:
        raise CacheShardError(
            f"shard {where}: sample {final_id!r} has lost its value file {error.filename}; build the shard again"
        ) from error
    if value is None:
        raise CacheShardError(f"shard {where}: sample {final_id!r} is not stored; build the shard again")
    try:
        decode_sample(value, f"sample {final_id!r} of shard {where}")
    except (CorruptCacheError, ValueError) as error:
        raise CacheShardError(f"{error}; build the shard again") from error
    finally:
        if not isinstance(value, bytes):
            value.close()


# ---------------------------------------------------------------------------------------------- publishing
def _published(dest: Path) -> dict[Path, dict[str, Any]]:
    """The manifests of the shards published in ``dest`` (by directory)."""
    if not dest.is_dir():
        return {}
    return {child: _manifest(child) for child in sorted(dest.glob("shard-*")) if child.is_dir()}


def publish_cache_shards(shard_dirs: Sequence[str | os.PathLike[str]], dest: str | os.PathLike[str]) -> dict[str, Any]:
    """Publish finished shards to the shared directory ``dest`` and return the publication's state (see
    :func:`publication_state`).

    Each shard is checked (manifest, same build as the others and as what ``dest`` already holds), copied to a
    temporary directory in ``dest``, verified there completely (:func:`verify_cache_shard`) and renamed into place
    in one step, so ``dest`` never shows a partial shard. A shard already published identically is skipped. Nodes
    may publish their own shards one by one; readers wait until all are there (:func:`published_cache_dirs`).
    """
    target = Path(os.path.expanduser(os.fspath(dest))).absolute()
    sources = {Path(d).absolute(): _manifest(Path(d).absolute()) for d in shard_dirs}
    _check_same_build(sources)
    for shard_dir, manifest in sources.items():
        _check_finished(shard_dir, manifest)
    target.mkdir(parents=True, exist_ok=True)
    for shard_dir, manifest in sources.items():
        _publish_one(shard_dir, manifest, target)
    return publication_state(target)


def _same_shard(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a[f] == b[f] for f in (*SHARED_FIELDS, "rank", "ids", "samples"))


def _publish_one(shard_dir: Path, manifest: dict[str, Any], dest: Path) -> None:
    name = CacheShard(manifest["rank"], manifest["world_size"]).name
    existing = _published(dest)
    for other_dir, other in existing.items():
        _check_same_fields(shard_dir, manifest, other_dir, other)
    final = dest / name
    if final in existing:
        if _same_shard(existing[final], manifest):
            _log.info("%s is already published in %s", name, dest)
            return
        raise CacheShardError(
            f"{final} already holds another build of {name} ({_describe(existing[final])}); publish each build to a "
            "new directory, or remove that one once no job reads it"
        )
    staging = dest / f"{_PUBLISHING_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
    try:
        source_hash_dir = _hash_dir(shard_dir, manifest)
        copied_hash_dir = _hash_dir(staging, manifest)
        shutil.copytree(source_hash_dir, copied_hash_dir, ignore=shutil.ignore_patterns(*_NOT_COPIED))
        shutil.copy2(shard_dir / MANIFEST_NAME, staging / MANIFEST_NAME)  # last: the copy is complete now
        try:
            verify_cache_shard(staging)
        except CacheShardError as error:
            raise CacheShardError(f"publishing {shard_dir} to {dest}: {error}") from error
        try:
            os.rename(staging, final)
        except OSError:
            if final.is_dir() and _same_shard(_manifest(final), manifest):  # published meanwhile by another process
                return
            raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    _log.info("published %s of cache %r to %s", name, manifest["unique_name"], final)


def publication_state(dest: str | os.PathLike[str]) -> dict[str, Any]:
    """What ``dest`` holds: ``{"unique_name", "pipeline_hash", "world_size", "published": [shard names],
    "missing": [shard names], "complete": bool}`` (raises :class:`CacheShardError` if its shards disagree)."""
    target = Path(os.path.expanduser(os.fspath(dest))).absolute()
    shards = _published(target)
    if not shards:
        raise CacheShardError(f"{target} holds no published shard (no shard-*/{MANIFEST_NAME}); publish them first")
    _check_same_build(shards)
    first = next(iter(shards.values()))
    world = int(first["world_size"])
    present = {int(m["rank"]) for m in shards.values()}
    names = [CacheShard(rank, world).name for rank in range(world)]
    covered = sum(len(m["ids"]) for m in shards.values())
    if len(present) == world and covered != first["ids_total"]:  # each shard holds exactly its share of one list
        raise CacheShardError(
            f"the {world} shards in {target} hold {covered} ids together, not the {first['ids_total']} they were "
            "built from; build and publish them again"
        )
    return {
        "unique_name": first["unique_name"],
        "pipeline_hash": first["pipeline_hash"],
        "world_size": world,
        "published": [n for r, n in enumerate(names) if r in present],
        "missing": [n for r, n in enumerate(names) if r not in present],
        "complete": len(present) == world,
    }


def published_cache_dirs(dest: str | os.PathLike[str], *, timeout: float = 0.0) -> list[Path]:
    """The cache dirs of the complete publication in ``dest`` (one per shard, in rank order), to open with
    ``SamplesCacher(..., cache_dirs=published_cache_dirs(dest), read_only=True)``.

    Waits up to ``timeout`` seconds for shards not published yet (logging which), e.g. while other nodes copy
    theirs, or where a network filesystem shows new directories late; then raises :class:`CacheShardError`
    naming the missing shards.
    """
    target = Path(os.path.expanduser(os.fspath(dest))).absolute()
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = publication_state(target)
        except CacheShardError:
            if time.monotonic() >= deadline:
                raise
            state = None
        if state is not None and state["complete"]:
            return [target / name for name in state["published"]]
        if time.monotonic() >= deadline:
            assert state is not None
            raise CacheShardError(
                f"the cache {state['unique_name']!r} in {target} is incomplete: {len(state['published'])} of "
                f"{state['world_size']} shards published, missing {state['missing'][:10]}; publish them "
                "(fuse-data-cache publish SHARD_DIR --to DEST on the node that built each) or wait for them"
            )
        _log.info("waiting for shards in %s: %s", target, state["missing"][:10] if state else "none published yet")
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))


def open_published_cache(
    dest: str | os.PathLike[str],
    unique_name: str,
    pipeline: PipelineDefault,
    *,
    timeout: float = 0.0,
    **cacher_kwargs: Any,
) -> SamplesCacher:
    """A read-only :class:`SamplesCacher` over every shard published in ``dest`` (see :func:`published_cache_dirs`),
    checked to be this cache and this version of ``pipeline``; ``cacher_kwargs`` go to the cacher (e.g. audit
    settings). SQLite is opened immutable: nothing is locked or written, safe on a network filesystem."""
    dirs = published_cache_dirs(dest, timeout=timeout)
    state = publication_state(dest)
    with warnings.catch_warnings():  # a publication holds one pipeline version: any other hash is this mismatch
        warnings.simplefilter("ignore", StaleCacheWarning)
        cacher = SamplesCacher(unique_name, pipeline, dirs, read_only=True, **cacher_kwargs)
    if unique_name != state["unique_name"] or cacher.pipeline_hash != state["pipeline_hash"]:
        raise CacheShardError(
            f"{dest} holds cache {state['unique_name']!r} {state['pipeline_hash']}, but this is cache "
            f"{unique_name!r} {cacher.pipeline_hash}: the pipeline (or the name) changed since the shards were built. "
            "Build and publish the shards again with this pipeline (to a new directory)"
        )
    return cacher
