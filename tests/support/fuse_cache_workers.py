"""Builders, readers and holders of a sample cache, run as separate processes by the cache robustness tests.

The op's behaviour (where it logs each computation, how long it takes) comes from environment variables read at
call time, so that every process builds the very same pipeline (same hash) whatever it is asked to do.

``python fuse_cache_workers.py build <cache_dir> <n> <workers>`` caches ``n`` samples;
``read <cache_dir> <n> <stop_file>`` reads committed samples by id until ``stop_file`` exists and fails if a committed
sample cannot be read; ``hold <cache_dir>`` caches one sample, prints ``ready``, waits for a line on stdin, reads it.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from fuse.core import NDict
from fuse.data import OpBase, PipelineDefault, SamplesCacher, sample_id_key

LOG_ENV = "FUSE_CACHE_TEST_LOG"  # a directory: one marker file per computation
SLEEP_ENV = "FUSE_CACHE_TEST_SLEEP"  # seconds per computation
SLOW_CHECK_ENV = "FUSE_CACHE_TEST_SLOW_CHECK"  # seconds slept after each commit-record lookup (widens races)


class OpCounted(OpBase):
    """Deterministic content per sample id (a float32 volume and a label); each computation leaves a marker file."""

    def __init__(self, shape: tuple[int, ...] = (4, 32, 64)) -> None:
        super().__init__()
        self._shape = shape

    def __call__(self, sample_dict: NDict, **kwargs: Any) -> NDict:
        sample_id = sample_dict["data.sample_id"]
        log = os.environ.get(LOG_ENV)
        if log:
            (Path(log) / f"{sample_id}.{os.getpid()}.{uuid.uuid4().hex[:8]}").touch()
        time.sleep(float(os.environ.get(SLEEP_ENV, "0")))
        rng = np.random.default_rng(zlib.crc32(str(sample_id).encode()))
        sample_dict["data.img"] = rng.random(self._shape, dtype=np.float32)
        sample_dict["data.label"] = int(rng.integers(0, 4))
        return sample_dict


def ids(count: int) -> list[str]:
    return [f"s{i:03d}" for i in range(count)]


def make_cacher(cache_dir: str | os.PathLike[str], workers: int = 0, **kwargs: Any) -> SamplesCacher:
    """The cacher every process and test shares (``shape`` changes the pipeline, hence the hash)."""
    shape = kwargs.pop("shape", (4, 32, 64))
    pipeline = PipelineDefault("static", [(OpCounted(shape), {})])
    return SamplesCacher(
        "robust", pipeline, cache_dir, workers=workers, verbose=0, audit_first_sample=False, audit_rate=None, **kwargs
    )


def computations(log_dir: Path) -> dict[str, int]:
    """How many times each sample id was computed, from the marker files."""
    counts: dict[str, int] = {}
    for marker in log_dir.iterdir():
        sample_id = marker.name.split(".")[0]
        counts[sample_id] = counts.get(sample_id, 0) + 1
    return counts


def _slow_checks(cacher_class: type[SamplesCacher]) -> None:
    delay = float(os.environ.get(SLOW_CHECK_ENV, "0"))
    if not delay:
        return
    original = cacher_class._find_info

    def slow(self: SamplesCacher, key: str) -> Any:
        found = original(self, key)
        time.sleep(delay)
        return found

    cacher_class._find_info = slow  # type: ignore[method-assign]


def _read(cache_dir: str, count: int, stop_file: Path) -> None:
    cacher = make_cacher(cache_dir)
    reads = 0
    while not stop_file.exists():
        for sample_id in ids(count):
            if not (Path(cache_dir) / "robust").exists() or not cacher._find_info(sample_id_key(sample_id))[0]:
                continue  # not committed yet: nothing to check
            sample = cacher.load_sample(sample_id)  # committed: must be readable, whatever the builders do
            if sample["data.sample_id"] != sample_id:
                raise AssertionError(f"read {sample['data.sample_id']!r} for {sample_id!r}")
            reads += 1
    print(f"reads {reads}", flush=True)


def _main() -> None:
    # this module's importable copy, not __main__'s: a class identity includes its module
    module = importlib.import_module("fuse_cache_workers")
    command, cache_dir = sys.argv[1], sys.argv[2]
    if command == "build":
        _slow_checks(SamplesCacher)
        module.make_cacher(cache_dir, workers=int(sys.argv[4])).cache_samples(ids(int(sys.argv[3])))
        print("done", flush=True)
    elif command == "read":
        module._read(cache_dir, int(sys.argv[3]), Path(sys.argv[4]))
    elif command == "hold":
        cacher = module.make_cacher(cache_dir, shape=(2, 32, 64))
        cacher.cache_samples(["held"])
        print("ready", flush=True)
        sys.stdin.readline()
        print(f"read {cacher.load_sample('held')['data.sample_id']}", flush=True)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    _main()
