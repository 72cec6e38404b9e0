"""Concurrent builders and readers of one sample cache: every sample computed once, a committed sample never
rewritten nor unreadable, a killed builder leaves nothing partial, and prune() never removes a cache in use."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fuse.core import NDict, create_initial_sample
from fuse.data import SamplesCacher, StaleCacheWarning
from fuse_cache_workers import LOG_ENV, SLEEP_ENV, SLOW_CHECK_ENV, OpCounted, computations, ids, make_cacher

SUPPORT = Path(__file__).resolve().parents[2] / "support"
TIMEOUT = 90


def start(*args: object, env: dict[str, str] | None = None, **popen: object) -> subprocess.Popen[str]:
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, str(SUPPORT / "fuse_cache_workers.py"), *map(str, args)],
        env={**full_env, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    return out


def fresh(sample_id: str, shape: tuple[int, ...] = (4, 32, 64)) -> NDict:
    return OpCounted(shape)(create_initial_sample(sample_id))


def assert_cache_complete(cache_dir: Path, count: int) -> None:
    cacher = make_cacher(cache_dir, read_only=False)
    assert cacher.cache_samples(ids(count)) == {i: [i] for i in ids(count)}
    for sample_id in ids(count):
        loaded = cacher.load_sample(sample_id)
        np.testing.assert_array_equal(loaded["data.img"], fresh(sample_id)["data.img"])
        assert loaded["data.label"] == fresh(sample_id)["data.label"]


@pytest.mark.parametrize(("builders_count", "workers"), [(3, 2), (2, 0)])  # jobs with workers; DDP ranks
def test_concurrent_builders_and_a_reader_compute_each_sample_once(
    tmp_path: Path, builders_count: int, workers: int
) -> None:
    count, log, stop = 16, tmp_path / "log", tmp_path / "stop"
    log.mkdir()
    # a slow commit-record lookup widens the window between "not committed" and "claimed" that a non-atomic
    # check-then-claim leaves open: without one transaction, samples are then computed twice
    env = {LOG_ENV: str(log), SLEEP_ENV: "0.01", SLOW_CHECK_ENV: "0.04"}
    reader = start("read", tmp_path / "c", count, stop)
    builders = [start("build", tmp_path / "c", count, workers, env=env) for _ in range(builders_count)]
    try:
        for builder in builders:
            assert finish(builder).strip() == "done"
    finally:
        stop.touch()
    assert finish(reader).startswith("reads")
    counts = computations(log)
    assert sorted(counts) == ids(count)
    assert {sample_id: n for sample_id, n in counts.items() if n != 1} == {}  # none computed twice
    assert_cache_complete(tmp_path / "c", count)


def test_check_and_claim_are_one_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between this builder's "not committed yet" and its claim, another builder tries to compute, commit and
    release the sample: it must wait, so that the sample is computed once."""
    log = tmp_path / "log"
    log.mkdir()
    monkeypatch.setenv(LOG_ENV, str(log))
    first, other = make_cacher(tmp_path / "c"), make_cacher(tmp_path / "c")
    other.cache_samples(["warm-up"])  # both stores exist before the race
    first.cache_samples(["warm-up"])
    racing = threading.Thread(target=other.cache_samples, args=(["a"],))
    original = SamplesCacher._find_info

    def check_then_let_the_other_run(self: SamplesCacher, key: str) -> object:
        found = original(self, key)
        if self is first and key == "'a'" and not racing.is_alive() and racing.ident is None:
            racing.start()
            racing.join(timeout=1.0)  # without one transaction it commits and releases "a" meanwhile
        return found

    monkeypatch.setattr(SamplesCacher, "_find_info", check_then_let_the_other_run)
    assert first._builder().cache_one("a") == ("done", ["a"])
    racing.join(timeout=30)
    assert not racing.is_alive()
    assert computations(log)["a"] == 1
    np.testing.assert_array_equal(first.load_sample("a")["data.img"], fresh("a")["data.img"])


def test_a_committed_sample_is_never_rewritten(tmp_path: Path) -> None:
    """A builder whose claim expired may compute a sample that another committed meanwhile: the first copy stays
    (a reader may be reading its file)."""
    first, late = make_cacher(tmp_path), make_cacher(tmp_path)
    computed = late._builder().compute("a")  # computed by a process that then stalls
    first.cache_samples(["a"])
    (value_file,) = (tmp_path / "robust").rglob("*.val")
    before = value_file.read_bytes()
    with open(value_file, "rb") as reading:  # a reader mid-read
        late._builder().commit([computed], late._places.claims_store())
        assert reading.read() == before
    assert list((tmp_path / "robust").rglob("*.val")) == [value_file]
    np.testing.assert_array_equal(late.load_sample("a")["data.img"], fresh("a")["data.img"])


def test_builders_killed_at_random_moments_leave_nothing_partial(tmp_path: Path) -> None:
    count, log = 30, tmp_path / "log"
    log.mkdir()
    env = {LOG_ENV: str(log), SLEEP_ENV: "0.02"}
    rng = random.Random(0)
    for _ in range(2):
        builders = [start("build", tmp_path / "c", count, 2, env=env, start_new_session=True) for _ in range(2)]
        time.sleep(rng.uniform(0.8, 1.6))
        os.killpg(builders[0].pid, signal.SIGKILL)  # the builder and its worker processes
        builders[0].communicate(timeout=TIMEOUT)
        finish(builders[1])
    assert_cache_complete(tmp_path / "c", count)


def test_prune_keeps_a_cache_that_another_process_has_open(tmp_path: Path) -> None:
    holder = start("hold", tmp_path, stdin=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read() if holder.stderr else ""
        with pytest.warns(StaleCacheWarning):
            pruner = make_cacher(tmp_path)  # another pipeline version: the holder's cache is stale to it
        (held_dir,) = pruner.stale_cache_dirs()
        with pytest.warns(StaleCacheWarning, match="kept 1 cache directory that another process has open"):
            assert pruner.prune() == []
        assert held_dir.is_dir()
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert finish(holder).strip().endswith("read held")  # its cache_samples succeeded: so does its read
    finally:
        if holder.poll() is None:
            holder.kill()
    assert pruner.prune() == [held_dir]  # no longer in use
    assert not held_dir.exists()
    assert not [p for p in (tmp_path / "robust").iterdir() if p.name.startswith(".")]
