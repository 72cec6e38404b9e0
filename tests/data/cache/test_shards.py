"""A cache built in shards (one per rank or node, each in its own local directory), verified and published to a
shared directory, then read from there read-only: every sample once, every failure named, nothing written on open."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fuse.core import create_initial_sample
from fuse.data import (
    CacheShard,
    CacheShardError,
    DatasetDefault,
    open_published_cache,
    publication_state,
    publish_cache_shards,
    published_cache_dirs,
    verify_cache_shard,
)
from fuse.data.cache import _shards
from fuse.data.cache._shards_cli import main
from fuse_cache_workers import LOG_ENV, OpCounted, computations, ids, make_cacher

SUPPORT = Path(__file__).resolve().parents[2] / "support"
TIMEOUT = 60
COUNT = 12
LAUNCHER_VARS = (
    "RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS", "NODE_RANK", "GROUP_RANK",
    "GROUP_WORLD_SIZE", "SLURM_NODEID", "SLURM_NNODES", "SLURM_JOB_NUM_NODES",
)  # fmt: skip


@pytest.fixture
def no_launcher(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in LAUNCHER_VARS:
        monkeypatch.delenv(name, raising=False)
    if _shards._torch_rank() is not None:  # a process group left by another test would take precedence
        pytest.skip("torch.distributed is initialized in this process")
    return monkeypatch


def build(root: Path, rank: int, world: int = 2, count: int = COUNT, **kwargs: Any) -> Path:
    shard = CacheShard(rank, world)
    return shard.build(make_cacher(shard.directory(root), **kwargs), ids(count))


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under ``root`` with its modification time and size."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(directory) / name
            stat = path.stat()
            found[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size if name in files else 0)
    return found


def run_cli(*args: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# ------------------------------------------------------------------ which shard, which ids
@pytest.mark.parametrize(
    ("env", "per", "expected"),
    [
        ({"RANK": "1", "WORLD_SIZE": "4"}, "process", (1, 4)),  # torchrun, Lightning
        ({"SLURM_PROCID": "2", "SLURM_NTASKS": "3"}, "process", (2, 3)),  # srun
        (
            {"RANK": "3", "WORLD_SIZE": "8", "SLURM_PROCID": "0", "SLURM_NTASKS": "2"},
            "process",
            (3, 8),
        ),  # srun+torchrun
        ({}, "process", (0, 1)),  # no launcher: one shard
        ({"NODE_RANK": "1", "SLURM_NNODES": "2"}, "node", (1, 2)),
        ({"GROUP_RANK": "2", "GROUP_WORLD_SIZE": "3"}, "node", (2, 3)),  # torchrun
        ({"NODE_RANK": "1", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4"}, "node", (1, 2)),  # Lightning under torchrun
        ({"SLURM_NODEID": "0", "SLURM_JOB_NUM_NODES": "4"}, "node", (0, 4)),
    ],
)
def test_shard_comes_from_the_launchers_environment(
    no_launcher: pytest.MonkeyPatch, env: dict[str, str], per: str, expected: tuple[int, int]
) -> None:
    for name, value in env.items():
        no_launcher.setenv(name, value)
    shard = CacheShard.from_launcher(per=per)  # type: ignore[arg-type]
    assert (shard.rank, shard.world_size) == expected
    assert CacheShard.from_launcher(per=per, rank=0, world_size=5) == CacheShard(0, 5)  # type: ignore[arg-type]


def test_an_initialized_process_group_comes_first(no_launcher: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torch.distributed as dist

    no_launcher.setenv("RANK", "1")  # stale variables of an outer launcher: the live group wins
    no_launcher.setenv("WORLD_SIZE", "4")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        assert CacheShard.from_launcher() == CacheShard(0, 1)
    finally:
        dist.destroy_process_group()


def test_launcher_errors_name_the_variable_and_the_fix(no_launcher: pytest.MonkeyPatch) -> None:
    no_launcher.setenv("RANK", "5")
    no_launcher.setenv("WORLD_SIZE", "2")
    with pytest.raises(CacheShardError, match=r"rank=5, world_size=2.*RANK/WORLD_SIZE"):
        CacheShard.from_launcher()
    no_launcher.setenv("NODE_RANK", "1")
    no_launcher.delenv("WORLD_SIZE")
    with pytest.raises(CacheShardError, match=r"NODE_RANK=1.*trainer\.num_nodes"):
        CacheShard.from_launcher(per="node")
    with pytest.raises(ValueError, match="both rank and world_size"):
        CacheShard.from_launcher(rank=1)
    no_launcher.setenv("RANK", "one")
    with pytest.raises(CacheShardError, match="RANK='one' is not an integer"):
        CacheShard.from_launcher()


def test_split_is_complete_disjoint_and_independent_of_order_and_additions() -> None:
    sample_ids = [f"case_{i}" for i in range(900)] + list(range(100)) + [("case", 1)]
    world = 3
    shares = [CacheShard(rank, world).select(sample_ids) for rank in range(world)]
    assert sorted(repr(i) for share in shares for i in share) == sorted(map(repr, sample_ids))  # every id once
    assert all(250 <= len(share) <= 420 for share in shares), [len(s) for s in shares]
    shuffled = random.Random(0).sample(sample_ids, len(sample_ids))
    for rank, share in enumerate(shares):
        assert set(CacheShard(rank, world).select(shuffled)) == set(share)  # whatever order a rank lists them in
        assert set(CacheShard(rank, world).select([*sample_ids, "new_1", "new_2"])) >= set(share)  # nothing moves
    # independently: the owner of an id is sha256 of its cache key, modulo the number of shards
    owner = int.from_bytes(hashlib.sha256(b"'case_7'").digest()[:8], "big") % world
    assert CacheShard(owner, world).owns("case_7")
    assert not CacheShard((owner + 1) % world, world).owns("case_7")


# ------------------------------------------------------------------ build, publish, read
def test_two_ranks_build_publish_and_every_node_reads_read_only(tmp_path: Path) -> None:
    local, shared, log = tmp_path / "node_local", tmp_path / "shared" / "robust-v1", tmp_path / "log"
    log.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")])}
    env[LOG_ENV] = str(log)
    ranks = [
        subprocess.Popen(
            [sys.executable, str(SUPPORT / "fuse_shard_workers.py"), str(local), str(COUNT)],
            env={**env, "RANK": str(rank), "WORLD_SIZE": "2"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]  # both at once, as two nodes would
    shard_dirs = []
    for process in ranks:
        out, err = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, err
        shard_dirs.append(Path(out.strip()))
    assert [d.name for d in shard_dirs] == ["shard-00000-of-00002", "shard-00001-of-00002"]
    assert computations(log) == dict.fromkeys(ids(COUNT), 1)  # each sample computed once, by its shard's rank
    published = subprocess.run(
        [sys.executable, "-m", "fuse.data", "publish", *map(str, shard_dirs), "--to", str(shared)],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert published.returncode == 0, published.stderr
    assert "2 of 2 shards published (complete)" in published.stdout
    assert not list(shared.glob(".publishing-*"))

    before = snapshot(shared)
    pipeline = make_cacher(tmp_path / "unused").pipeline
    cacher = open_published_cache(shared, "robust", pipeline, audit_first_sample=False, audit_rate=None)
    dataset = DatasetDefault(ids(COUNT), pipeline, cacher=cacher)
    dataset.create()
    for sample_id in ids(COUNT):
        loaded, fresh = dataset.get_by_id(sample_id), OpCounted()(create_initial_sample(sample_id))
        np.testing.assert_array_equal(loaded["data.img"], fresh["data.img"])
        assert loaded["data.label"] == fresh["data.label"]
    cacher.close()
    assert snapshot(shared) == before  # opening and reading wrote nothing, not even a timestamp
    assert not [p for p in shared.rglob("*") if p.name.endswith(("-wal", "-shm", "-journal"))]
    assert cacher.cache_dirs() == [d / "robust" / cacher.pipeline_hash for d in published_cache_dirs(shared)]


def test_the_processes_of_one_node_build_its_shard_together(tmp_path: Path) -> None:
    local, log = tmp_path / "node_local", tmp_path / "log"
    log.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")])}
    node = {LOG_ENV: str(log), "NODE_RANK": "1", "GROUP_WORLD_SIZE": "2"}  # both local ranks of node 1 of 2
    ranks = [
        subprocess.Popen(
            [sys.executable, str(SUPPORT / "fuse_shard_workers.py"), str(local), str(COUNT), "node"],
            env={**env, **node, "LOCAL_RANK": str(local_rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for local_rank in range(2)
    ]
    outputs = []
    for process in ranks:
        out, err = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, err
        outputs.append(out.strip())
    assert outputs == [str(local / "shard-00001-of-00002")] * 2
    share = CacheShard(1, 2).select(ids(COUNT))
    assert computations(log) == dict.fromkeys(share, 1)  # the node's share, each sample once
    assert verify_cache_shard(local / "shard-00001-of-00002")["ids"] == [repr(i) for i in share]


def test_nodes_publish_their_own_shards_one_by_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = build(tmp_path / "node0", 0), build(tmp_path / "node1", 1)
    dest = tmp_path / "shared"
    assert run_cli("publish", first, "--to", dest, capsys=capsys)[0] == 0
    code, text = run_cli("status", dest, capsys=capsys)
    assert code == 1
    assert "1 of 2 shards published; missing shard-00001-of-00002" in text
    with pytest.raises(
        CacheShardError, match=r"incomplete: 1 of 2 shards published, missing \['shard-00001-of-00002'\]"
    ):
        published_cache_dirs(dest)
    assert run_cli("publish", first, "--to", dest, capsys=capsys)[0] == 0  # again: already there, kept
    assert publish_cache_shards([second], dest)["complete"]
    code, text = run_cli("verify", dest, capsys=capsys)
    assert code == 0
    assert f"2 shards, {COUNT} samples: ok" in text


# ------------------------------------------------------------------ refusals
def test_publish_refuses_a_shard_that_lacks_an_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = build(tmp_path / "local", 0), build(tmp_path / "local", 1)
    lost = CacheShard(1, 2).select(ids(COUNT))[0]
    make_cacher(second).delete([lost])
    code, text = run_cli("publish", first, second, "--to", tmp_path / "shared", capsys=capsys)
    assert code == 2
    assert "shard-00001-of-00002" in text
    assert "lacks 1 of its" in text
    assert repr(lost) in text
    assert not (tmp_path / "shared" / "shard-00001-of-00002").exists()
    assert not list((tmp_path / "shared").glob(".publishing-*"))  # the rejected copy is gone


def test_publish_refuses_a_corrupted_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build(tmp_path / "local", 0)
    second = build(tmp_path / "local", 1)
    value_file = max(second.rglob("*.val"), key=lambda p: p.stat().st_size)
    data = bytearray(value_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    value_file.write_bytes(bytes(data))
    code, text = run_cli("publish", second, "--to", tmp_path / "shared", capsys=capsys)
    assert code == 2
    assert "fuse-data-cache: error:" in text
    assert "shard-00001-of-00002" in text
    assert "sample 's" in text
    assert "build the shard again" in text
    assert not (tmp_path / "shared" / "shard-00001-of-00002").exists()
    with pytest.raises(CacheShardError, match="build the shard again"):
        verify_cache_shard(second)


def test_publish_refuses_shards_of_another_pipeline_or_id_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = build(tmp_path / "local", 0)
    other_pipeline = build(tmp_path / "other", 1, shape=(4, 32, 32))
    other_ids = build(tmp_path / "more", 1, count=COUNT + 1)
    code, text = run_cli("publish", first, other_pipeline, "--to", tmp_path / "a", capsys=capsys)
    assert code == 2
    assert "different versions of the pipeline" in text
    assert not (tmp_path / "a").exists()
    code, text = run_cli("publish", first, other_ids, "--to", tmp_path / "b", capsys=capsys)
    assert code == 2
    assert "different sample id lists" in text
    assert run_cli("publish", first, "--to", tmp_path / "c", capsys=capsys)[0] == 0
    code, text = run_cli("publish", other_pipeline, "--to", tmp_path / "c", capsys=capsys)  # into a publication
    assert code == 2
    assert "different versions of the pipeline" in text
    assert "its own directory" in text
    assert publication_state(tmp_path / "c")["published"] == ["shard-00000-of-00002"]


def test_publish_refuses_an_unfinished_shard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shard = build(tmp_path / "local", 0)
    (shard / "fuse-shard.json").unlink()  # as if its build had been killed
    code, text = run_cli("publish", shard, "--to", tmp_path / "shared", capsys=capsys)
    assert code == 2
    assert "its build has not finished" in text


def test_opening_with_another_pipeline_version_is_refused(tmp_path: Path) -> None:
    publish_cache_shards([build(tmp_path / "local", 0, world=1)], tmp_path / "shared")
    changed = make_cacher(tmp_path / "unused", shape=(4, 32, 32)).pipeline
    with pytest.raises(CacheShardError, match=r"the pipeline \(or the name\) changed since the shards were built"):
        open_published_cache(tmp_path / "shared", "robust", changed)


def test_build_needs_one_writable_local_dir(tmp_path: Path) -> None:
    shard = CacheShard(0, 2)
    with pytest.raises(ValueError, match="single cache dir"):
        shard.build(make_cacher([tmp_path / "a", tmp_path / "b"]), ids(2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="writable SamplesCacher"):
        shard.build(make_cacher(tmp_path / "a", read_only=True), ids(2))
    with pytest.raises(ValueError, match="0 <= rank < world_size"):
        CacheShard(2, 2)


def test_publish_refuses_a_shard_still_being_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shard = build(tmp_path / "local", 0)
    hash_dir = next(shard.glob("robust/hash_*"))
    with open(hash_dir / "build.lock", "rb") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_SH)  # what a builder holds while it writes
        code, text = run_cli("publish", shard, "--to", tmp_path / "shared", capsys=capsys)
    assert code == 2
    assert "is still being written" in text
    assert not (tmp_path / "shared").exists()
    assert run_cli("publish", shard, "--to", tmp_path / "shared", capsys=capsys)[0] == 0  # once it has finished


def test_a_damaged_manifest_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shard = build(tmp_path / "local", 0)
    (shard / "fuse-shard.json").write_text('{"format": "fuse-data cache shard"')
    code, text = run_cli("verify", shard, capsys=capsys)
    assert code == 2
    assert f"cannot read the shard manifest {shard / 'fuse-shard.json'}" in text


def test_a_shard_without_ids_is_an_empty_shard(tmp_path: Path) -> None:
    shard_dirs = [build(tmp_path / "local", rank, world=4, count=2) for rank in range(4)]  # 2 ids, 4 shards
    assert sorted(len(verify_cache_shard(d)["ids"]) for d in shard_dirs)[:2] == [0, 0]
    publish_cache_shards(shard_dirs, tmp_path / "shared")
    pipeline = make_cacher(tmp_path / "unused").pipeline
    cacher = open_published_cache(tmp_path / "shared", "robust", pipeline, audit_first_sample=False, audit_rate=None)
    assert list(cacher.cache_samples(ids(2))) == ids(2)
    assert cacher.load_sample("s001")["data.label"] == OpCounted()(create_initial_sample("s001"))["data.label"]


def test_a_publication_reads_where_the_filesystem_has_no_locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish_cache_shards([build(tmp_path / "local", rank) for rank in range(2)], tmp_path / "shared")

    def no_locks(fd: int, operation: int) -> None:  # an NFS mount with nolock, Lustre without flock
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    pipeline = make_cacher(tmp_path / "unused").pipeline
    cacher = open_published_cache(tmp_path / "shared", "robust", pipeline, audit_first_sample=False, audit_rate=None)
    assert len(cacher.cache_samples(ids(COUNT))) == COUNT
    assert cacher.load_sample("s004")["data.sample_id"] == "s004"
