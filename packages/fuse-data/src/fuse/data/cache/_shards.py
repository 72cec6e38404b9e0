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
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fuse.core import AtomicFileWriter
from fuse.data.cache._cacher import SamplesCacher
from fuse.data.cache._ids import sample_id_key
from fuse.data.cache._store import CacheStore

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "SHARED_FIELDS",
    "CacheShard",
    "CacheShardError",
    "owner_of",
    "read_manifest_json",
]

_log = logging.getLogger("fuse.data")

MANIFEST_NAME = "fuse-shard.json"
FORMAT = "fuse-data cache shard"
FORMAT_VERSION = 1
_SPLIT = "sha256(sample_id_key) mod world_size"
# the fields every shard of one publication shares
SHARED_FIELDS = ("unique_name", "pipeline_hash", "world_size", "ids_total", "ids_digest")


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


def owner_of(key: str, world_size: int) -> int:
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
        return owner_of(sample_id_key(sample_id), self.world_size) == self.rank

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
        previous = read_manifest_json(manifest_path) if manifest_path.is_file() else None
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
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
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
        return owner_of(key, self.world_size) == self.rank

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


def read_manifest_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError) as error:
        raise CacheShardError(f"cannot read the shard manifest {path} ({error}); build the shard again") from error
    if not isinstance(data, dict):
        raise CacheShardError(f"the shard manifest {path} is not a JSON object; build the shard again")
    return data
