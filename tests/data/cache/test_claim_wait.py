"""A builder waiting for samples that another process claimed says what it waits for: the samples, the claimant's
host and pid, and when the claim expires — at once when the claimant runs on another host (whose death this host
cannot see), instead of waiting silently for the whole claim_timeout."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from fuse.data.cache._claim_wait import ClaimWait
from fuse.data.cache._store import CacheStore
from fuse_cache_workers import ids, make_cacher


def test_a_claim_from_another_host_is_reported_then_taken_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cacher = make_cacher(tmp_path, claim_timeout=1.0)
    claims = CacheStore(cacher.cache_dirs()[0], read_only=False)
    owner = {"host": "node-elsewhere", "pid": 4242, "token": "t", "time": time.time()}
    assert claims.add("claim:'s001'", owner, expire=1.0)  # a builder on another node that died holding s001
    claims.close()
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="fuse.data"):
        assert cacher.cache_samples(ids(3)) == {i: [i] for i in ids(3)}
    assert time.monotonic() - start < 10
    reports = [r.getMessage() for r in caplog.records if "waiting for" in r.getMessage()]
    assert reports, "the wait was silent"
    assert "'s001' (pid 4242 on host 'node-elsewhere', claimed" in reports[0]
    assert "expires in 1 s" in reports[0] or "expires in 0 s" in reports[0]
    assert "claim_timeout=1 s" in reports[0]
    assert "smaller claim_timeout" in reports[0]


def test_a_wait_on_this_host_is_reported_only_after_a_while(caplog: pytest.LogCaptureFixture) -> None:
    wait = ClaimWait("ct", claim_timeout=600.0)
    wait.note("s1", {"host": os.uname().nodename, "pid": os.getpid(), "time": time.time()})
    with caplog.at_level(logging.WARNING, logger="fuse.data"):
        wait.report(["s1"])  # a live process here: its claim is checked, no need to warn yet
        assert not caplog.records
        wait._start -= 31  # after FIRST_REPORT_SECONDS
        wait.report(["s1"])
        wait.report(["s1"])  # then not again before REPORT_EVERY_SECONDS
    assert len(caplog.records) == 1
    assert "expires in 600 s" in caplog.records[0].getMessage()


def test_many_claimants_are_summarized() -> None:
    wait = ClaimWait("ct", claim_timeout=60.0)
    for i in range(8):
        wait.note(f"s{i}", {"host": f"node{i % 7}", "pid": 10 + i % 7, "time": 0.0})
    text = wait.describe([f"s{i}" for i in range(8)], now=100.0)
    assert text.startswith("cache 'ct': waiting for 8 samples")
    assert "and 2 more claimants" in text
    assert "'s0', 's7' (pid 10 on host 'node0', claimed 100 s ago, expires in 0 s)" in text
