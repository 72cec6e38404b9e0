"""Shape ops against independent computations (numpy transposes, scipy.ndimage.zoom, a brute-force flood fill,
np.pad): values, dtypes, numpy and torch, no in-place changes, errors naming the sample, cache identities."""

from __future__ import annotations

import functools
import pickle
import warnings
from typing import Any

import numpy as np
import pytest
import torch

from fuse.core import Uniform
from fuse.data import MissingSampleKeyError, PipelineDefault
from fuse.imaging import (
    OpAugAffine2D,
    OpAugColor,
    OpAugCropAndResize2D,
    OpAugGaussian,
    OpAugSqueeze3Dto2D,
    OpAugUnsqueeze3DFrom2D,
    OpCHWToHWC,
    OpCrop3D,
    OpFindBiggestNonEmptyBbox2D,
    OpFlipBrightSideOnLeft2D,
    OpHWCToCHW,
    OpPad,
    OpResizeAndPad2D,
    OpResizeTo,
    OpRotation3D,
    OpSelectSlice,
)
from fuse_imaging_ops_support import KEY
from fuse_imaging_ops_support import rng as _rng
from fuse_imaging_ops_support import run_op as _run
from fuse_imaging_ops_support import sample_with as _sample


def test_missing_key_and_wrong_type_name_the_sample() -> None:
    for op in (OpHWCToCHW(), OpFindBiggestNonEmptyBbox2D(), OpFlipBrightSideOnLeft2D()):
        with pytest.raises(MissingSampleKeyError, match=rf"{type(op).__name__}: sample 'case_7' has no key 'data.x'"):
            op(_sample(np.zeros((2, 2))), key="data.x")
    with pytest.raises(TypeError, match=r"OpPad: key 'data.input.img' of sample 'case_7' holds a builtins.list"):
        _run(OpPad(), [[1, 2]], padding=1)


def test_no_warnings_on_ordinary_inputs() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run(OpResizeAndPad2D(), np.ones((64, 64), dtype=np.uint16), resize_to=(32, 32), padding=(2, 2))
        _run(OpFindBiggestNonEmptyBbox2D(), np.full((64, 64), 50, dtype=np.uint16))
        _run(OpPad(), torch.ones((3, 8, 8)), padding=2, mode="symmetric")


# ---------------------------------------------------------------------------------------------- cache identity
def _identity(op: Any, kwargs: dict[str, Any]) -> str:
    return PipelineDefault("p", [(op, kwargs)]).cache_identity()


def test_cache_identities_are_stable_and_change_with_arguments() -> None:
    pairs = [
        (lambda: OpResizeAndPad2D(number_of_channels=3, pad_value=0), lambda: OpResizeAndPad2D(3, pad_value=1)),
        (lambda: OpResizeAndPad2D(number_of_channels=1), lambda: OpResizeAndPad2D(number_of_channels=3)),
        (lambda: OpFindBiggestNonEmptyBbox2D(10, 30), lambda: OpFindBiggestNonEmptyBbox2D(10, 20)),
        (lambda: OpFindBiggestNonEmptyBbox2D(10, 30), lambda: OpFindBiggestNonEmptyBbox2D(11, 30)),
        (lambda: OpFlipBrightSideOnLeft2D(255.0, 15.0), lambda: OpFlipBrightSideOnLeft2D(4095.0, 15.0)),
        (lambda: OpFlipBrightSideOnLeft2D(255.0, 15.0), lambda: OpFlipBrightSideOnLeft2D(255.0, 10.0)),
    ]
    for make, make_other in pairs:
        assert _identity(make(), {"key": KEY}) == _identity(make(), {"key": KEY})
        assert _identity(make(), {"key": KEY}) != _identity(make_other(), {"key": KEY})
    for op in (OpHWCToCHW, OpCHWToHWC, OpSelectSlice, OpPad):
        assert _identity(op(), {"key": KEY}) == _identity(op(), {"key": KEY})
    assert _identity(OpPad(), {"key": KEY, "padding": 1}) != _identity(OpPad(), {"key": KEY, "padding": 2})
    assert _identity(OpSelectSlice(), {"key": KEY, "slice_idx": 0}) != _identity(
        OpSelectSlice(), {"key": KEY, "slice_idx": 1}
    )
    assert len({_identity(op(), {"key": KEY}) for op in (OpHWCToCHW, OpCHWToHWC, OpSelectSlice, OpPad)}) == 4


# ---------------------------------------------------------------------------------------------- device
@pytest.mark.cuda
def test_cuda_tensors_stay_on_the_device_with_the_cpu_results_for_layout_resize_and_mammography_ops() -> None:
    image = torch.from_numpy(_rng(3).integers(0, 255, size=(40, 40)).astype(np.uint8))
    cases: list[tuple[Any, dict[str, Any]]] = [
        (OpHWCToCHW(), {}),
        (OpSelectSlice(), {"slice_idx": 0}),
        (OpFindBiggestNonEmptyBbox2D(dark_area_threshold=40, blocks_num=8), {}),
        (OpFlipBrightSideOnLeft2D(), {}),
        (OpPad(), {"padding": (1, 2), "fill": 5}),
        (OpPad(), {"padding": 3, "mode": "symmetric"}),
    ]
    for op, kwargs in cases:
        expected = _run(op, image, **kwargs)
        result = _run(op, image.cuda(), **kwargs)
        assert result.device.type == "cuda"
        assert torch.equal(result.cpu(), expected)
    resized = _run(OpResizeAndPad2D(), image.cuda(), resize_to=(30, 30), padding=(2, 2))
    assert resized.device.type == "cuda"
    expected = _run(OpResizeAndPad2D(), image, resize_to=(30, 30), padding=(2, 2))
    torch.testing.assert_close(resized.cpu(), expected, atol=1e-3, rtol=1e-5)


# ---------------------------------------------------------------------------------------------------- cache identity
@pytest.mark.parametrize(
    ("make", "kwargs", "changed_op", "changed_kwargs"),
    [
        (OpAugAffine2D, {"key": KEY, "rotate": 5.0}, OpAugAffine2D(verify_arguments=False), {"rotate": 6.0}),
        (OpAugCropAndResize2D, {"key": KEY, "scale": (0.9, 0.9)}, None, {"scale": (0.8, 0.9)}),
        (OpAugSqueeze3Dto2D, {"key": KEY, "axis_squeeze": 1}, None, {"axis_squeeze": 2}),
        (OpAugUnsqueeze3DFrom2D, {"key": KEY, "axis_squeeze": 1, "channels": 1}, None, {"channels": 2}),
        (OpCrop3D, {"key": KEY, "output_shape": (2, 2, 2)}, None, {"fill": 1}),
        (lambda: OpResizeTo(True), {"key": KEY, "output_shape": (4, 4)}, OpResizeTo(False), {"order": 0}),
        (OpRotation3D, {"key": KEY, "z_rot": Uniform(-5, 5)}, None, {"z_rot": Uniform(-6, 5)}),
        (OpAugColor, {"key": KEY, "add": 0.1}, OpAugColor(verify_arguments=False), {"mul": 1.1}),
        (OpAugGaussian, {"key": KEY, "std": 0.1}, OpAugGaussian(seed=1), {"std": 0.2}),
    ],
)
def test_cache_identity_is_stable_and_follows_arguments(
    make: Any, kwargs: dict[str, Any], changed_op: Any, changed_kwargs: dict[str, Any]
) -> None:
    assert _identity(make(), kwargs) == _identity(make(), dict(kwargs))
    assert _identity(make(), kwargs) != _identity(make(), {**kwargs, **changed_kwargs})
    if changed_op is not None:
        assert _identity(make(), kwargs) != _identity(changed_op, kwargs)


def test_ops_survive_pickling_for_dataloader_workers() -> None:
    ops = [OpAugAffine2D(False), OpAugCropAndResize2D(), OpResizeTo(True), OpRotation3D(), OpAugGaussian(seed=5)]
    for op in ops:
        restored = pickle.loads(pickle.dumps(op))
        assert restored.cache_identity() == op.cache_identity()
    image = np.zeros(3)
    restored_noise = _run(pickle.loads(pickle.dumps(OpAugGaussian(seed=5))), image)
    np.testing.assert_array_equal(restored_noise, _run(OpAugGaussian(seed=5), image))


# ---------------------------------------------------------------------------------------------------------- device
@pytest.mark.cuda
def test_cuda_tensors_stay_on_the_device_with_the_cpu_results_for_augmentation_and_resize_ops() -> None:
    image, volume = torch.rand(2, 12, 12), torch.rand(6, 10, 10)
    cases: list[tuple[Any, Any, dict[str, Any]]] = [
        (OpAugAffine2D, image, {"rotate": 20.0, "translate": (1, -2), "scale": 1.1, "flip": (True, False)}),
        (OpAugCropAndResize2D, image, {"scale": (0.7, 1.3)}),
        (functools.partial(OpResizeTo, channels_first=True), image, {"output_shape": (6, 6)}),
        (OpRotation3D, volume, {"z_rot": 15.0, "x_rot": 5.0, "interpolation": "bilinear"}),
        (OpAugColor, image, {"add": 0.1, "gamma": 1.2, "contrast": 0.9}),
        (functools.partial(OpAugGaussian, seed=0), image, {"std": 0.1}),
    ]
    for make_op, value, kwargs in cases:
        expected = _run(make_op(), value, **kwargs)
        result = _run(make_op(), value.cuda(), **kwargs)
        assert result.device.type == "cuda", make_op
        assert result.dtype == expected.dtype
        torch.testing.assert_close(result.cpu(), expected, atol=1e-4, rtol=1e-4)
