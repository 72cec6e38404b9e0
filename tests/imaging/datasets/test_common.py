"""What the dataset wrappers share (fuse/imaging/datasets/_common.py): the sample-id decode ops, the axis moves of
their pipelines (numpy and torch alike), the one-hot vectors and the cached dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fuse.core import create_initial_sample
from fuse.data import OpLambda, PipelineDefault
from fuse.imaging.datasets._cmmd import OpCMMDSampleIDDecode
from fuse.imaging.datasets._common import (
    _add_channel_axis,
    _cached_dataset,
    _drop_channel_axis,
    _last_axis_first,
    _one_hot,
)
from fuse.imaging.datasets._isic import OpISICSampleIDDecode
from fuse.imaging.datasets._picai import OpPICAISampleIDDecode
from fuse.imaging.datasets._stoic21 import OpSTOIC21SampleIDDecode


def test_sample_id_decode_ops_write_their_image_path() -> None:
    assert OpCMMDSampleIDDecode()(create_initial_sample("CMMD/D1/1.dcm"))["data.input.img_path"] == "CMMD/D1/1.dcm"
    assert OpSTOIC21SampleIDDecode()(create_initial_sample("data/mha/7.mha"))["data.input.img_path"] == "data/mha/7.mha"
    assert OpPICAISampleIDDecode()(create_initial_sample(10001))["data.input.img_path"] == "10001"
    assert OpISICSampleIDDecode()(create_initial_sample("ISIC_1"))["data.input.img_path"] == "ISIC_1.jpg"
    assert OpCMMDSampleIDDecode().cache_identity() != OpSTOIC21SampleIDDecode().cache_identity()


@pytest.mark.parametrize("to_tensor", [False, True])
def test_axis_moves_work_on_arrays_and_tensors(to_tensor: bool) -> None:
    volume = np.arange(24).reshape(2, 3, 4)
    image = torch.from_numpy(volume) if to_tensor else volume
    moved = _last_axis_first(image)
    assert type(moved) is type(image)
    np.testing.assert_array_equal(np.asarray(moved), np.moveaxis(volume, -1, 0))
    with_channel = _add_channel_axis(moved)
    assert tuple(with_channel.shape) == (1, 4, 2, 3)
    np.testing.assert_array_equal(np.asarray(_drop_channel_axis(with_channel)), np.asarray(moved))


def test_drop_channel_axis_refuses_more_than_one_channel() -> None:
    """squeeze(0) would have returned a two-channel image unchanged, and the next op would have read it wrongly."""
    with pytest.raises(ValueError, match=r"expected a channel axis of 1 to drop, got an image of shape \(2, 3\)"):
        _drop_channel_axis(torch.zeros(2, 3))


def test_one_hot() -> None:
    np.testing.assert_array_equal(_one_hot(2, 4), [0.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(_one_hot(None, 3), np.zeros(3))
    assert _one_hot(0, 1).dtype == np.float64


def test_cached_dataset_is_created_and_cached_under_its_name(tmp_path: Path) -> None:
    static = PipelineDefault("static", [(OpLambda(lambda sample: sample), {})])
    dataset = _cached_dataset("demo_cache_ver0", ["a", "b"], static, PipelineDefault("dynamic", []), tmp_path, False, 0)
    assert len(dataset) == 2
    assert dataset[1]["data.sample_id"] == "b"
    assert (tmp_path / "demo_cache_ver0").is_dir()
