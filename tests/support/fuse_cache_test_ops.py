"""Ops and a command-line builder for the sample-cache tests; importable by child processes (tests/support is on
their PYTHONPATH), so that caches can be built, killed and raced in separate processes."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from fuse.core import NDict
from fuse.data import OpBase, PipelineDefault, SamplesCacher


def sample_seed(sample_id: Any) -> int:
    return zlib.crc32(repr(sample_id).encode())


class OpFakeLoad(OpBase):
    """Deterministic content per sample id: a float32 volume, an int16 map, a label and a string.

    ``log_dir``: each computation appends ``<sample id>`` to ``<log_dir>/<pid>.log`` (to count work per process).
    ``sleep``: seconds per sample. ``kill_at``: the process SIGKILLs itself when it reaches that sample id.
    """

    def __init__(
        self,
        shape: tuple[int, ...] = (8, 32, 32),
        log_dir: str | None = None,
        sleep: float = 0.0,
        kill_at: str | None = None,
    ) -> None:
        super().__init__()
        self._shape = shape
        self._log_dir = log_dir
        self._sleep = sleep
        self._kill_at = kill_at

    def __call__(self, sample_dict: NDict, **kwargs: Any) -> Any:
        sample_id = sample_dict["data.sample_id"]
        if self._kill_at is not None and sample_id == self._kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if self._log_dir is not None:
            with open(Path(self._log_dir) / f"{os.getpid()}.log", "a") as log:
                log.write(f"{sample_id}\n")
        if self._sleep:
            time.sleep(self._sleep)
        rng = np.random.default_rng(sample_seed(sample_id))
        sample_dict["data.img"] = rng.random(self._shape, dtype=np.float32)
        sample_dict["data.seg"] = rng.integers(0, 5, size=self._shape, dtype=np.int16)
        sample_dict["data.label"] = int(rng.integers(0, 2))
        sample_dict["data.name"] = f"patient-{sample_id}"
        return sample_dict


def morph(sample: NDict) -> Any:
    """Sample morphing for the tests: "drop" is dropped, "split" becomes ("split", 0) and ("split", 1)."""
    sample_id = sample["data.sample_id"]
    if sample_id == "drop":
        return None
    if sample_id == "split":
        parts = []
        for i in range(2):
            part = sample.clone()
            part["data.sample_id"] = ("split", i)
            part["data.part"] = i
            parts.append(part)
        return parts
    return sample


def make_cacher(cache_dir: str, **op_kwargs: Any) -> SamplesCacher:
    """The cacher the child processes and the tests share (same pipeline => same hash)."""
    pipeline = PipelineDefault("static", [(OpFakeLoad(**op_kwargs), {})])
    return SamplesCacher("cache_test", pipeline, cache_dir, verbose=0)


def _main() -> None:
    """``python fuse_cache_test_ops.py <cache_dir> <n_samples> [sleep] [log_dir] [kill_at]``; the op's behaviour
    arguments are not part of what the test compares, so they are passed as per-op kwargs-free attributes."""
    cache_dir, count = sys.argv[1], int(sys.argv[2])
    sleep = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    log_dir = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else None
    kill_at = sys.argv[5] if len(sys.argv) > 5 else None
    # this module's importable copy, not __main__'s: a class identity includes its module
    importable = importlib.import_module("fuse_cache_test_ops")
    cacher = importable.make_cacher(cache_dir)
    op = cacher.pipeline.ops[0]
    # the hash covers every attribute of the op, and is taken on first use: take it before setting the behaviour
    # attributes, so that this process fills the same cache as the tests' cacher
    _ = cacher.pipeline_hash
    op._sleep, op._log_dir, op._kill_at = sleep, log_dir, kill_at
    cacher.cache_samples([f"s{i:03d}" for i in range(count)])
    print("done", flush=True)


if __name__ == "__main__":
    _main()
