"""Shape ops against independent computations (numpy transposes, scipy.ndimage.zoom, a brute-force flood fill,
np.pad): values, dtypes, numpy and torch, no in-place changes, errors naming the sample, cache identities."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from fuse.core import create_initial_sample
from fuse.imaging import (
    OpAugSqueeze3Dto2D,
    OpAugUnsqueeze3DFrom2D,
    OpCHWToHWC,
    OpHWCToCHW,
    OpSelectSlice,
)
from fuse.imaging.ops._layout import op_select_slice_img_and_seg
from fuse_imaging_ops_support import equal as _equal
from fuse_imaging_ops_support import rng as _rng
from fuse_imaging_ops_support import run_op as _run


# ---------------------------------------------------------------------------------------------- channel axis
@pytest.mark.parametrize("to_tensor", [False, True])
def test_hwc_to_chw_and_back(to_tensor: bool) -> None:
    values = np.arange(5 * 7 * 3).reshape(5, 7, 3)
    image: Any = torch.from_numpy(values.copy()) if to_tensor else values.copy()
    chw = _run(OpHWCToCHW(), image)
    assert type(chw) is type(image)
    assert _equal(chw, np.transpose(values, (2, 0, 1)))
    assert _equal(chw[1], values[:, :, 1])
    hwc = _run(OpCHWToHWC(), chw)
    assert _equal(hwc, values)
    assert _equal(image, values)


@pytest.mark.parametrize("to_tensor", [False, True])
def test_2d_images_get_a_channel_axis(to_tensor: bool) -> None:
    values = np.arange(12).reshape(3, 4)
    image: Any = torch.from_numpy(values) if to_tensor else values
    assert _equal(_run(OpHWCToCHW(), image), values[None, :, :])
    assert _equal(_run(OpCHWToHWC(), image), values[:, :, None])


@pytest.mark.parametrize(
    ("op", "shape"),
    [(OpHWCToCHW(), (3, 32, 32)), (OpHWCToCHW(), (4, 4, 4)), (OpCHWToHWC(), (32, 32, 3)), (OpCHWToHWC(), (2, 3, 4, 5))],
)
def test_channel_axis_must_be_the_smallest(op: Any, shape: tuple[int, ...]) -> None:
    for image in (np.zeros(shape), torch.zeros(shape)):
        with pytest.raises(ValueError, match=rf"key 'data.input.img' of sample 'case_7' has shape \({shape[0]}, "):
            _run(op, image)


# ---------------------------------------------------------------------------------------------- select slice
@pytest.mark.parametrize("to_tensor", [False, True])
def test_select_slice(to_tensor: bool) -> None:
    values = np.arange(4 * 3 * 2).reshape(4, 3, 2)
    image: Any = torch.from_numpy(values) if to_tensor else values
    assert _equal(_run(OpSelectSlice(), image, slice_idx=2), values[2])
    assert _equal(_run(OpSelectSlice(), image, slice_idx=np.int64(-4)), values[0])
    flat = np.zeros((3, 3))
    assert _run(OpSelectSlice(), flat, slice_idx=10) is flat  # fewer than 3 dimensions: unchanged


@pytest.mark.parametrize("slice_idx", [4, -5, 1.0, True, "1", None])
def test_select_slice_rejects_bad_indices(slice_idx: Any) -> None:
    with pytest.raises(
        ValueError, match=r"sample 'case_7' \(shape \(4, 3, 2\)\): slice_idx must be an integer in \[-4, 3\]"
    ):
        _run(OpSelectSlice(), np.zeros((4, 3, 2)), slice_idx=slice_idx)


def test_select_slice_img_and_seg_instance() -> None:
    sample = create_initial_sample("case_1")
    sample["data.input.img"] = np.arange(8).reshape(2, 2, 2)
    sample["data.gt.seg"] = np.arange(8).reshape(2, 2, 2) * 10
    sample["data.other"] = np.arange(8).reshape(2, 2, 2)
    sample = op_select_slice_img_and_seg(sample, slice_idx=1)
    assert _equal(sample["data.input.img"], [[4, 5], [6, 7]])
    assert _equal(sample["data.gt.seg"], [[40, 50], [60, 70]])
    assert sample["data.other"].shape == (2, 2, 2)


# -------------------------------------------------------------------------------------------------- squeeze / unsqueeze
@pytest.mark.parametrize("axis", [1, 2, 3])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_squeeze_then_unsqueeze_round_trips(axis: int, kind: str) -> None:
    volume = _rng(9).random((2, 3, 4, 5))
    image = torch.from_numpy(volume) if kind == "torch" else volume
    squeezed = _run(OpAugSqueeze3Dto2D(), image, axis_squeeze=axis)
    assert squeezed.shape[0] == 2 * volume.shape[axis]
    restored = _run(OpAugUnsqueeze3DFrom2D(), squeezed, axis_squeeze=axis, channels=2)
    assert type(restored) is type(image)
    np.testing.assert_array_equal(np.asarray(restored), volume)


def test_squeeze_puts_each_slice_of_the_axis_in_its_own_channel() -> None:
    volume = _rng(10).random((2, 3, 4, 5))
    squeezed = _run(OpAugSqueeze3Dto2D(), volume, axis_squeeze=3)
    for channel in range(2):
        for index in range(5):
            np.testing.assert_array_equal(squeezed[channel * 5 + index], volume[channel, :, :, index])


def test_squeeze_and_unsqueeze_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="axis_squeeze must be 1, 2 or 3, got 0"):
        _run(OpAugSqueeze3Dto2D(), torch.zeros(1, 2, 2, 2), axis_squeeze=0)
    with pytest.raises(ValueError, match="4 dimensions"):
        _run(OpAugSqueeze3Dto2D(), torch.zeros(2, 2, 2), axis_squeeze=1)
    with pytest.raises(ValueError, match=r"first axis \(6\) is not a multiple of channels=4"):
        _run(OpAugUnsqueeze3DFrom2D(), torch.zeros(6, 2, 2), axis_squeeze=1, channels=4)
