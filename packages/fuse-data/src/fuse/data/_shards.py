"""A sample cache built in shards, one per rank or node, then verified, published and read from every node.

SQLite's locking (which concurrent builders of one cache rely on) is unreliable on network filesystems, so a cache
for a multi-node job is not built in a shared directory. Instead:

1. **build** — each rank (or node) caches its share of the sample ids into its own local directory
   (:meth:`CacheShard.build`); the share is a function of the id and the number of shards only, so every rank
   computes the same split without talking to the others, whatever order it lists the ids in. A finished build
   leaves a manifest (``fuse-shard.json``: cache name, pipeline hash, rank, the ids of the share, a digest of the
   whole id list).
2. **publish** — :func:`publish_cache_shards` (the ``fuse-data-cache publish`` command) copies a finished shard
   to the shared directory, checks the copy (manifest, every id of the share committed, every value readable
   with its checksums) and only then renames it into place: a shard is in the shared directory completely or not
   at all. Each node may publish its own shard; the publication is complete once every rank's shard is there.
3. **read** — :func:`open_published_cache` (or ``SamplesCacher(..., cache_dirs=published_cache_dirs(dest),
   read_only=True)``) reads all shards together; read-only stores open SQLite with ``immutable=1``: no locks, no
   writes, safe on a network filesystem.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import socket
import sqlite3
import time
import uuid
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fuse.core import AtomicFileWriter
from fuse.data._cache_store import CacheStore, ReadOnlyCacheError
from fuse.data._cacher import SamplesCacher, StaleCacheWarning, sample_id_key
from fuse.data._pipeline import PipelineDefault
from fuse.data._sample_codec import CorruptCacheError, decode_sample

__all__ = [
    "MANIFEST_NAME",
    "CacheShard",
    "CacheShardError",
    "open_published_cache",
    "publication_state",
    "publish_cache_shards",
    "published_cache_dirs",
    "verify_cache_shard",
]

_log = logging.getLogger("fuse.data")

MANIFEST_NAME = "fuse-shard.json"
_FORMAT = "fuse-data cache shard"
_FORMAT_VERSION = 1
_SPLIT = "sha256(sample_id_key) mod world_size"
_PUBLISHING_PREFIX = ".publishing-"
_NOT_COPIED = ("cache.db-wal", "cache.db-shm", ".removing-*")
# the fields every shard of one publication shares
_SHARED_FIELDS = ("unique_name", "pipeline_hash", "world_size", "ids_total", "ids_digest")


class CacheShardError(RuntimeError):
    """A cache shard is incomplete, damaged or does not belong with the others; the message names it and the fix."""


def _env_int(names: Sequence[str]) -> tuple[str, int] | None:
    """The first of the environment variables ``names`` that is set, with its integer value."""
    for name in names:
        text = os.environ.get(name)
        if text is not None and text.strip() != "":
            try:
                return name, int(text)
            except ValueError:
                raise CacheShardError(f"environment variable {name}={text!r} is not an integer") from None
    return None


def _torch_rank() -> tuple[int, int] | None:
    """(rank, world size) of an initialized ``torch.distributed`` process group, else ``None``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return None


def _process_rank() -> tuple[int, int, str]:
    found = _torch_rank()
    if found is not None:
        return (*found, "torch.distributed")
    for rank_names, world_names in ((("RANK",), ("WORLD_SIZE",)), (("SLURM_PROCID",), ("SLURM_NTASKS",))):
        rank, world = _env_int(rank_names), _env_int(world_names)
        if rank is not None and world is not None:
            return rank[1], world[1], f"{rank[0]}/{world[0]}"
    _log.info("no launcher found (torch.distributed, RANK/WORLD_SIZE, SLURM_PROCID/SLURM_NTASKS): one shard")
    return 0, 1, "no launcher: one shard"


def _node_rank() -> tuple[int, int, str]:
    rank = _env_int(("NODE_RANK", "GROUP_RANK", "SLURM_NODEID"))
    world = _env_int(("GROUP_WORLD_SIZE", "SLURM_JOB_NUM_NODES", "SLURM_NNODES"))
    if world is None:
        processes, per_node = _env_int(("WORLD_SIZE",)), _env_int(("LOCAL_WORLD_SIZE",))
        if processes is not None and per_node is not None and per_node[1] > 0:
            world = ("WORLD_SIZE/LOCAL_WORLD_SIZE", processes[1] // per_node[1])
    if rank is None and world is None:
        _log.info("no multi-node launcher found (NODE_RANK, GROUP_RANK, SLURM_NODEID): one shard")
        return 0, 1, "no launcher: one shard"
    if rank is None or world is None:
        raise CacheShardError(
            f"per-node shards need the node's rank and the number of nodes; found only "
            f"{(rank or world)[0]}={(rank or world)[1]}. Pass them explicitly, e.g. CacheShard.from_launcher("  # type: ignore[index]
            "per='node', rank=trainer.node_rank, world_size=trainer.num_nodes)"
        )
    return rank[1], world[1], f"{rank[0]}/{world[0]}"


def _owner_of(key: str, world_size: int) -> int:
    """The shard (rank) that caches the sample named ``key``: a function of the id and the number of shards only."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % world_size


def _ids_digest(keys: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()


@dataclass(frozen=True)
class CacheShard:
    """Shard ``rank`` of ``world_size``: which sample ids it caches, where, and its build.

    Get it from the launcher you already use (:meth:`from_launcher`) or give it explicitly. Every rank computes the
    same split without communicating: an id belongs to shard ``sha256(sample_id_key(id)) mod world_size``, whatever
    order the ids are listed in, and adding ids never moves the ones already cached.

    >>> shard = CacheShard(rank=1, world_size=2)
    >>> shard.name
    'shard-00001-of-00002'
    >>> mine, other = shard.select(range(10)), CacheShard(0, 2).select(range(10))
    >>> sorted(mine + other) == list(range(10)) and not set(mine) & set(other)
    True
    """

    rank: int
    world_size: int

    def __post_init__(self) -> None:
        for name in ("rank", "world_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"CacheShard {name} must be an int, got {value!r}")
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(
                f"CacheShard needs 0 <= rank < world_size, got rank={self.rank}, world_size={self.world_size}"
            )

    @classmethod
    def from_launcher(
        cls, per: Literal["process", "node"] = "process", rank: int | None = None, world_size: int | None = None
    ) -> CacheShard:
        """This process's shard, from the launcher's environment; ``rank`` and ``world_size`` given override it.

        - ``per="process"`` (one shard per rank): an initialized ``torch.distributed`` group, else ``RANK`` /
          ``WORLD_SIZE`` (torchrun, Lightning), else ``SLURM_PROCID`` / ``SLURM_NTASKS`` (``srun``).
        - ``per="node"`` (one shard per node; the node's processes may build it together): ``NODE_RANK``
          (Lightning), ``GROUP_RANK`` (torchrun) or ``SLURM_NODEID``, and the number of nodes from
          ``GROUP_WORLD_SIZE``, ``SLURM_JOB_NUM_NODES`` / ``SLURM_NNODES`` or ``WORLD_SIZE // LOCAL_WORLD_SIZE``.

        Without a launcher this is shard 0 of 1 (everything).
        """
        if (rank is None) != (world_size is None):
            raise ValueError(f"give both rank and world_size, or neither (got rank={rank}, world_size={world_size})")
        if rank is not None and world_size is not None:
            return cls(rank, world_size)
        if per == "process":
            found_rank, found_world, source = _process_rank()
        elif per == "node":
            found_rank, found_world, source = _node_rank()
        else:
            raise ValueError(f"per must be 'process' or 'node', got {per!r}")
        try:
            return cls(found_rank, found_world)
        except ValueError as error:
            raise CacheShardError(f"{error} (read from {source})") from None

    @property
    def name(self) -> str:
        """The shard's directory name: ``shard-<rank>-of-<world_size>`` (5 digits each, so names sort by rank)."""
        return f"shard-{self.rank:05d}-of-{self.world_size:05d}"

    def directory(self, root: str | os.PathLike[str]) -> Path:
        """``<root>/<name>``: this shard's local cache dir (give it to ``SamplesCacher(cache_dirs=...)``)."""
        return Path(os.path.expanduser(os.fspath(root))).absolute() / self.name

    def owns(self, sample_id: Hashable) -> bool:
        """Whether this shard caches ``sample_id``."""
        return _owner_of(sample_id_key(sample_id), self.world_size) == self.rank

    def select(self, sample_ids: Sequence[Hashable]) -> list[Hashable]:
        """The ids of ``sample_ids`` that this shard caches, in their order."""
        return [sample_id for sample_id in sample_ids if self.owns(sample_id)]

    def build(self, cacher: SamplesCacher, sample_ids: Sequence[Hashable]) -> Path:
        """Cache this shard's share of ``sample_ids`` with ``cacher`` (whose single cache dir is this shard's local
        directory, e.g. ``shard.directory("/local/scratch/fuse")``), then write its manifest; returns the directory.

        Every rank must pass the same ids (in any order): the manifest records a digest of the whole list, and
        publishing refuses shards built from different lists. Several processes of one node may build one
        (per-node) shard at once: they split the work through the cache's claims. Rerunning resumes a build.
        """
        root = self._check_cacher(cacher)
        keys = [sample_id_key(sample_id) for sample_id in sample_ids]
        if len(set(keys)) != len(keys):
            seen: set[str] = set()
            repeated = [k for k in keys if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
            raise ValueError(f"sample ids must be unique; repeated: {repeated[:10]}")
        manifest_path = root / MANIFEST_NAME
        previous = _read_json(manifest_path) if manifest_path.is_file() else None
        if previous is not None and previous.get("unique_name") != cacher.unique_name:
            raise CacheShardError(
                f"{root} holds a shard of cache {previous.get('unique_name')!r}, not {cacher.unique_name!r}: give "
                "each cache its own shard root (e.g. <scratch>/<unique_name>/)"
            )
        with contextlib.suppress(FileNotFoundError):
            manifest_path.unlink()  # until this build finishes, the shard is not complete
        mine = [sample_id for sample_id, key in zip(sample_ids, keys, strict=True) if self._owns_key(key)]
        mapping = cacher.cache_samples(mine)
        cacher.close()  # gives the leases back; the cache can now be copied
        if not (cacher.cache_dirs()[0] / "cache.db").is_file():  # a share without ids: an empty cache, all the same
            empty = CacheStore(cacher.cache_dirs()[0], read_only=False)
            empty.finalize()
            empty.close()
        manifest = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "unique_name": cacher.unique_name,
            "pipeline_hash": cacher.pipeline_hash,
            "rank": self.rank,
            "world_size": self.world_size,
            "split": _SPLIT,
            "ids_total": len(keys),
            "ids_digest": _ids_digest(keys),
            "ids": [sample_id_key(sample_id) for sample_id in mine],
            "samples": sum(len(finals or []) for finals in mapping.values()),
            "built_on": socket.gethostname(),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with AtomicFileWriter(manifest_path, "w") as file:
            json.dump(manifest, file, indent=1)
        _log.info("cache %r: built %s (%d of %d ids) in %s", cacher.unique_name, self.name, len(mine), len(keys), root)
        return root

    def _owns_key(self, key: str) -> bool:
        return _owner_of(key, self.world_size) == self.rank

    def _check_cacher(self, cacher: SamplesCacher) -> Path:
        if cacher.read_only:
            raise ValueError("a shard is built with a writable SamplesCacher (read_only=False)")
        dirs = cacher.cache_dirs()
        if len(dirs) != 1 or getattr(cacher, "_custom_write_dir", None) is not None:
            raise ValueError(
                f"a shard is built into one local directory: give the SamplesCacher a single cache dir, e.g. "
                f"cache_dirs=shard.directory('/local/scratch'), and no custom write or read dirs (got {dirs})"
            )
        root = dirs[0].parent.parent
        if root.name != self.name:
            _log.info("shard %s is built in %s (a directory not named after the shard)", self.name, root)
        return root


# ---------------------------------------------------------------------------------------------- manifests
def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError) as error:
        raise CacheShardError(f"cannot read the shard manifest {path} ({error}); build the shard again") from error
    if not isinstance(data, dict):
        raise CacheShardError(f"the shard manifest {path} is not a JSON object; build the shard again")
    return data


def _manifest(shard_dir: Path) -> dict[str, Any]:
    """The checked manifest of the shard in ``shard_dir``."""
    path = shard_dir / MANIFEST_NAME
    if not path.is_file():
        raise CacheShardError(
            f"{shard_dir} has no {MANIFEST_NAME}: its build has not finished (or it is not a shard directory); "
            "run CacheShard.build(...) for it to the end, then publish"
        )
    manifest = _read_json(path)
    if manifest.get("format") != _FORMAT or manifest.get("format_version") != _FORMAT_VERSION:
        raise CacheShardError(
            f"{path} is not a shard manifest of format {_FORMAT!r} version {_FORMAT_VERSION}; build the shard again "
            "with this version of fuse-data"
        )
    missing = [f for f in (*_SHARED_FIELDS, "rank", "ids", "samples") if f not in manifest]
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
    strays = [key for key in manifest["ids"] if not shard._owns_key(key)]
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
    differing = [f for f in _SHARED_FIELDS if manifest[f] != other[f]]
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
    return all(a[f] == b[f] for f in (*_SHARED_FIELDS, "rank", "ids", "samples"))


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
