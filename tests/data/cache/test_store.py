"""One cache directory: values and objects by key, its lease and atomic removal; a damaged database or a directory that cannot be written is reported naming the
directory and the fix; a finished cache that cannot be written opens read-only by itself."""

from __future__ import annotations

import errno
import gc
import sqlite3
import warnings
from pathlib import Path

import diskcache
import numpy as np
import pytest

import fuse.data.cache._store as cache_store
from fuse.data import CorruptCacheError, ReadOnlyCacheError
from fuse.data.cache._locks import remove_tree_atomically, sweep_removed, try_remove_cache_dir
from fuse_cache_workers import ids, make_cacher


def finished_cache(tmp_path: Path) -> Path:
    cacher = make_cacher(tmp_path)
    cacher.cache_samples(ids(3))
    cacher.finalize()
    cacher.close()
    (database,) = tmp_path.rglob("cache.db")
    return database


@pytest.mark.parametrize("read_only", [False, True])
def test_a_damaged_database_names_the_cache_and_the_fix(tmp_path: Path, read_only: bool) -> None:
    database = finished_cache(tmp_path)
    database.write_bytes(b"this is not an SQLite database, whatever it was" * 100)
    with pytest.raises(CorruptCacheError, match=rf"(?s){database}.* is damaged .*restart_cache=True") as error:
        make_cacher(tmp_path, read_only=read_only).load_sample("s000")
    assert isinstance(error.value.__cause__, sqlite3.DatabaseError)


def test_a_finished_cache_that_cannot_be_written_opens_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished_cache(tmp_path)
    monkeypatch.setattr(cache_store, "_writable_dir", lambda path: False)  # a read-only mount, as root sees it
    cacher = make_cacher(tmp_path)  # the default read_only=False
    assert cacher.cache_samples(ids(3)) == {i: [i] for i in ids(3)}
    assert cacher.load_sample("s001")["data.sample_id"] == "s001"
    with pytest.raises(ReadOnlyCacheError, match=r"robust/hash_\w+ was opened read-only because the directory is not"):
        cacher.cache_samples(ids(4))


def test_committed_samples_stay_readable_when_sqlite_finds_the_disk_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished_cache(tmp_path)
    builder = make_cacher(tmp_path)
    build = builder._builder()
    build.commit([build.compute("s007")], builder._places.claims_store())  # committed, still in the write-ahead log
    (wal,) = tmp_path.rglob("cache.db-wal")
    assert wal.stat().st_size > 0

    def full(self: cache_store.CacheStore) -> None:  # what SQLite says when opening for writing on a full disk
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(cache_store.CacheStore, "_open_diskcache", full)
    cacher = make_cacher(tmp_path)  # e.g. a new DataLoader worker while another job filled the disk
    for sample_id in [*ids(3), "s007"]:
        assert cacher.load_sample(sample_id)["data.sample_id"] == sample_id
    with pytest.raises(ReadOnlyCacheError, match=r"opened read-only because SQLite cannot write .*disk is full"):
        cacher.cache_samples(ids(5))


def test_sqlite_disk_full_on_a_write_is_an_enospc_naming_the_database(tmp_path: Path) -> None:
    error = cache_store._database_error(tmp_path, sqlite3.OperationalError("database or disk is full"))
    assert isinstance(error, OSError)
    assert error.errno == errno.ENOSPC
    assert f"{tmp_path / 'cache.db'}" in str(error)
    assert "free space" in str(error)


def test_sqlite_unable_to_open_is_reported_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unable(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(diskcache, "Cache", unable)
    with pytest.raises(ReadOnlyCacheError, match=r"(?s)cannot write the cache database .*cache\.db.*read_only=True"):
        make_cacher(tmp_path).cache_samples(ids(1))


def test_a_store_gives_its_lease_back_when_closed(tmp_path: Path) -> None:
    database = finished_cache(tmp_path)
    cacher = make_cacher(tmp_path)
    assert np.asarray(cacher.load_sample("s000")["data.img"]).shape == (4, 32, 64)
    assert not try_remove_cache_dir(database.parent)  # open: kept
    cacher.close()
    assert try_remove_cache_dir(database.parent)
    assert not database.parent.exists()


def test_a_cacher_dropped_without_close_releases_its_files_quietly(tmp_path: Path) -> None:
    database = finished_cache(tmp_path)
    cacher = make_cacher(tmp_path)
    assert np.asarray(cacher.load_sample("s000")["data.img"]).shape == (4, 32, 64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del cacher  # no close(): the lease and lock files are released, without a ResourceWarning per file
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert try_remove_cache_dir(database.parent)


# ---------------------------------------------------------------------------------------------- store and removal
def test_values_and_objects_round_trip_and_missing_keys_are_named(tmp_path: Path) -> None:
    store = cache_store.CacheStore(tmp_path / "hash_x", read_only=False)
    big = bytes(range(256)) * 200  # a value file, not a SQLite row
    store.put_chunks("sample:'a'", len(big), [memoryview(big)])
    store.put_object("info:'a'", ["a"])
    assert store.get_object("info:'a'") == ["a"]
    value = store.get_value("sample:'a'")
    assert value is not None
    assert not isinstance(value, bytes)  # a file: read with readinto, never as one pickled blob
    with value:
        assert value.read() == big
    assert sorted(store.all_keys()) == ["info:'a'", "sample:'a'"]
    assert (store.value_problem("sample:'missing'") or "").startswith(cache_store.NO_ENTRY)
    store.close()
    reader = cache_store.CacheStore(tmp_path / "hash_x", read_only=True)
    assert reader.get_object("info:'a'") == ["a"]
    with pytest.raises(ReadOnlyCacheError, match="hash_x"):
        reader.put_object("info:'b'", ["b"])
    reader.close()


def test_a_removal_killed_after_the_rename_is_finished_by_the_next_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "name" / "hash_x"
    (cache_dir / "00").mkdir(parents=True)
    (cache_dir / "00" / "value.val").write_bytes(b"x")

    def killed(path: object, ignore_errors: bool = False) -> None:
        raise KeyboardInterrupt  # the process dies between the rename and the deletion

    monkeypatch.setattr("fuse.data.cache._locks.shutil.rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        remove_tree_atomically(cache_dir)
    monkeypatch.undo()
    assert not cache_dir.exists()  # nothing at the cache's path is ever half removed
    (leftover,) = (tmp_path / "name").iterdir()
    assert leftover.name.startswith(".removing-hash_x-")
    sweep_removed(tmp_path / "name")
    assert list((tmp_path / "name").iterdir()) == []
