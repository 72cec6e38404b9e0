"""A damaged cache (a flipped bit, a missing or truncated value file, a full disk, a killed restart) is either
recomputed or reported naming the sample, the file and the fix; never served as a valid sample."""

from __future__ import annotations

import errno
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from fuse.core import create_initial_sample
from fuse.data import CorruptCachedSampleError, DatasetDefault, SamplesCacher
from fuse_cache_workers import LOG_ENV, OpCounted, computations, ids, make_cacher

SUPPORT = Path(__file__).resolve().parents[2] / "support"


def value_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.val"))


def unreferenced_files(cache_dir: Path) -> list[Path]:
    """Value files that no row of the cache's database references (orphans)."""
    connection = sqlite3.connect(cache_dir / "cache.db")
    try:
        referenced = {row[0] for row in connection.execute("SELECT filename FROM Cache WHERE filename IS NOT NULL")}
    finally:
        connection.close()
    return [p for p in value_files(cache_dir) if str(p.relative_to(cache_dir)) not in referenced]


def file_of(cacher: SamplesCacher, sample_id: str) -> Path:
    (store,) = cacher._places.read_stores()
    path = store.value_file(f"sample:'{sample_id}'")
    assert path is not None
    return path


def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int = 4) -> tuple[SamplesCacher, Path]:
    log = tmp_path / "log"
    log.mkdir()
    monkeypatch.setenv(LOG_ENV, str(log))
    cacher = make_cacher(tmp_path / "c")
    cacher.cache_samples(ids(count))
    cacher.finalize()
    return cacher, log


def expected(sample_id: str) -> np.ndarray:
    with mock.patch.dict(os.environ):  # computed here, not by the cache: not counted
        os.environ.pop(LOG_ENV, None)
        return OpCounted()(create_initial_sample(sample_id))["data.img"]  # type: ignore[no-any-return]


def test_a_flipped_bit_is_reported_read_only_and_recomputed_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cacher, log = built(tmp_path, monkeypatch)
    path = file_of(cacher, "s002")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10  # inside the volume
    path.write_bytes(bytes(data))
    reader = make_cacher(tmp_path / "c", read_only=True)
    with pytest.raises(CorruptCachedSampleError) as error:
        reader.load_sample("s002")
    message = str(error.value)
    assert "'s002'" in message
    assert str(path) in message
    assert "fails its checksum" in message
    assert "recache(['s002'])" in message
    assert "dataset.create()" not in message  # a bit flip does not show in a stat: create() would not see it
    with caplog.at_level(logging.WARNING, logger="fuse.data"):
        repaired = cacher.load_sample("s002")  # a writable cacher recomputes it
    assert "recomputing 's002'" in caplog.text
    assert "fails its checksum" in caplog.text
    np.testing.assert_array_equal(repaired["data.img"], expected("s002"))
    assert computations(log)["s002"] == 2
    np.testing.assert_array_equal(make_cacher(tmp_path / "c").load_sample("s002")["data.img"], expected("s002"))


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_create_recomputes_a_missing_or_truncated_value_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    cacher, log = built(tmp_path, monkeypatch)
    path = file_of(cacher, "s001")
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:5000])
    reader = make_cacher(tmp_path / "c", read_only=True)
    with pytest.raises(CorruptCachedSampleError, match=rf"(?s)'s001'.*{path.name}.*dataset\.create\(\)"):
        reader.load_sample("s001")
    with pytest.raises(CorruptCachedSampleError, match=rf"(?s)'s001'.*{path.name}.*dataset\.create\(\)"):
        DatasetDefault(ids(4), cacher=reader).create()
    dataset = DatasetDefault(ids(4), cacher=make_cacher(tmp_path / "c"))
    dataset.create()  # recomputes exactly that sample
    assert computations(log) == {"s000": 1, "s001": 2, "s002": 1, "s003": 1}
    np.testing.assert_array_equal(dataset[1]["data.img"], expected("s001"))
    assert unreferenced_files(file_of(cacher, "s000").parents[1]) == []


def test_a_read_recomputes_a_missing_value_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cacher, log = built(tmp_path, monkeypatch)
    file_of(cacher, "s003").unlink()
    np.testing.assert_array_equal(cacher.load_sample("s003")["data.img"], expected("s003"))
    assert computations(log)["s003"] == 2


def test_a_full_disk_keeps_committed_samples_readable_and_leaves_no_orphans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fuse.data.cache._codec as codec

    cacher, _ = built(tmp_path, monkeypatch)
    original = codec.ChunkReader.read

    def disk_full(self: codec.ChunkReader, size: int = -1) -> object:
        if self._index == 2:  # the header went to the file: the array does not fit
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return original(self, size)

    monkeypatch.setattr(codec.ChunkReader, "read", disk_full)
    with pytest.raises(OSError, match=r"no space left on the device of cache .*free space") as error:
        cacher.cache_samples(ids(8))
    assert error.value.errno == errno.ENOSPC
    cache_dir = file_of(cacher, "s000").parents[1]
    assert unreferenced_files(cache_dir) == []  # the partial file is gone
    for sample_id in ids(4):  # still full: what was committed reads
        np.testing.assert_array_equal(
            make_cacher(tmp_path / "c").load_sample(sample_id)["data.img"], expected(sample_id)
        )
    monkeypatch.setattr(codec.ChunkReader, "read", original)
    make_cacher(tmp_path / "c").cache_samples(ids(8))
    for sample_id in ids(8):
        np.testing.assert_array_equal(
            make_cacher(tmp_path / "c").load_sample(sample_id)["data.img"], expected(sample_id)
        )


def run_child(code: str, *args: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", code, str(SUPPORT), *map(str, args)], check=False, capture_output=True, timeout=60
    )


def test_orphans_of_a_process_killed_mid_write_are_removed_by_the_next_build(tmp_path: Path) -> None:
    make_cacher(tmp_path / "c").cache_samples(ids(2))
    code = (
        "import os, signal, sys; sys.path.insert(0, sys.argv[1])\n"
        "import fuse.data.cache._codec as codec\n"
        "from fuse_cache_workers import make_cacher\n"
        "original = codec.ChunkReader.read\n"
        "def dying(self, size=-1):\n"
        "    if self._index == 2:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return original(self, size)\n"
        "codec.ChunkReader.read = dying\n"
        "make_cacher(sys.argv[2]).cache_samples(['s005'])\n"
    )
    assert run_child(code, tmp_path / "c").returncode == -signal.SIGKILL
    cache_dir = file_of(make_cacher(tmp_path / "c"), "s000").parents[1]
    assert len(unreferenced_files(cache_dir)) == 1
    make_cacher(tmp_path / "c").cache_samples(ids(4))
    assert unreferenced_files(cache_dir) == []


def test_a_killed_restart_cache_leaves_nothing_that_is_read(tmp_path: Path) -> None:
    make_cacher(tmp_path / "c").cache_samples(ids(6))
    code = (
        "import os, signal, sys; sys.path.insert(0, sys.argv[1])\n"
        "from fuse_cache_workers import make_cacher\n"
        "removed = []\n"
        "original = os.unlink\n"
        "def dying(*args, **kwargs):\n"
        "    removed.append(args)\n"
        "    if len(removed) == 3:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return original(*args, **kwargs)\n"
        "os.unlink = dying\n"
        "make_cacher(sys.argv[2], restart_cache=True)\n"
    )
    assert run_child(code, tmp_path / "c").returncode == -signal.SIGKILL
    cacher = make_cacher(tmp_path / "c")
    assert cacher.cache_samples(ids(6)) == {i: [i] for i in ids(6)}
    for sample_id in ids(6):
        np.testing.assert_array_equal(cacher.load_sample(sample_id)["data.img"], expected(sample_id))
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["robust"]  # no leftovers of the removal
    assert [p.name for p in (tmp_path / "c" / "robust").iterdir()] == [cacher.pipeline_hash]
    assert unreferenced_files(tmp_path / "c" / "robust" / cacher.pipeline_hash) == []


def test_a_committed_sample_whose_entry_vanished_is_recomputed_or_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cacher, log = built(tmp_path, monkeypatch)
    (store,) = cacher._places.read_stores()
    store.delete("sample:'s002'")  # its commit record still lists it
    cacher.finalize()
    with pytest.raises(CorruptCachedSampleError, match=r"(?s)'s002' is committed but its entry is missing.*recache"):
        make_cacher(tmp_path / "c", read_only=True).load_sample("s002")
    np.testing.assert_array_equal(cacher.load_sample("s002")["data.img"], expected("s002"))
    assert computations(log)["s002"] == 2
