"""Samples and batches are freed by reference counting alone: memory stays flat with the garbage collector off."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fuse.core import NDict
from fuse.data import CollateDefault, DatasetDefault, OpBase, OpToTensor, PipelineDefault, SamplesCacher

SHAPE = (128, 1024)  # float32: 512 KiB a sample
SAMPLE_BYTES = int(np.prod(SHAPE)) * 4
N_SAMPLES = 40


class OpMakeArray(OpBase):
    """A deterministic array and label per sample id."""

    def __call__(self, sample_dict: NDict, **kwargs: Any) -> NDict:
        sample_id = int(sample_dict["data.sample_id"])
        sample_dict["data.img"] = np.full(SHAPE, sample_id, dtype=np.float32)
        sample_dict["data.label"] = sample_id % 2
        return sample_dict


@pytest.fixture
def cached_dataset(tmp_path: Path) -> DatasetDefault:
    static = PipelineDefault("static", [(OpMakeArray(), {})])
    dynamic = PipelineDefault("dynamic", [(OpToTensor(), {"key": "data.img"})])
    dataset = DatasetDefault(N_SAMPLES, static, dynamic, SamplesCacher("memory", static, tmp_path, verbose=0))
    dataset.create()
    return dataset


def _peak_traced_bytes(work: Any) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_cached_loads_free_each_sample(cached_dataset: DatasetDefault, gc_disabled: None) -> None:
    def load_many() -> None:
        for _ in range(3):
            for index in range(N_SAMPLES):
                sample = cached_dataset[index]
                assert float(sample["data.img"][0, 0]) == index
                del sample

    peak = _peak_traced_bytes(load_many)
    # 120 loads of 512 KiB: with a sample kept alive until the collector runs, the peak grows with the count
    assert peak < 8 * SAMPLE_BYTES, f"peak {peak / 2**20:.1f} MiB over 120 loads: samples are not freed"
    assert gc.collect() == 0


def test_batches_free_their_samples(cached_dataset: DatasetDefault, gc_disabled: None) -> None:
    loader = torch.utils.data.DataLoader(cached_dataset, batch_size=4, collate_fn=CollateDefault())

    def epochs() -> None:
        for _ in range(3):
            for batch in loader:
                assert batch["data.img"].shape == (4, *SHAPE)
                del batch

    peak = _peak_traced_bytes(epochs)
    assert peak < 16 * SAMPLE_BYTES, f"peak {peak / 2**20:.1f} MiB over 30 batches: batches are not freed"
    assert gc.collect() == 0
