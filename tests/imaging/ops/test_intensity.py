"""Intensity ops against independent numpy computations: values, dtypes, no in-place changes, errors, identities."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch

from fuse.core import create_initial_sample
from fuse.data import MissingSampleKeyError, PipelineDefault
from fuse.imaging import OpClip, OpNormalizeAgainstSelf, OpToIntImageSpace, OpToRange
from fuse.imaging.ops._intensity import (
    op_clip_img,
    op_normalize_against_self_img,
    op_to_int_image_space_img,
    op_to_range_img,
)
from fuse_imaging_ops_support import KEY
from fuse_imaging_ops_support import run_op as _run
from fuse_imaging_ops_support import sample_with as _sample


def _random(shape: tuple[int, ...], dtype: Any = np.float64, seed: int = 0, low: float = -50, high: float = 300) -> Any:
    values = np.random.default_rng(seed).uniform(low, high, size=shape)
    return values.astype(dtype)


# ---------------------------------------------------------------------------------------------- OpClip
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_clip_numpy_float_matches_reference_and_keeps_dtype(dtype: Any) -> None:
    image = _random((5, 6), dtype)
    original = image.copy()
    result = _run(OpClip(), image, clip=(0.0, 100.0))
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, np.minimum(np.maximum(original, dtype(0)), dtype(100)))
    np.testing.assert_array_equal(image, original)


def test_clip_default_is_zero_to_one() -> None:
    result = _run(OpClip(), np.array([-0.5, 0.25, 1.5]))
    np.testing.assert_array_equal(result, [0.0, 0.25, 1.0])


def test_clip_torch_returns_a_new_tensor_and_leaves_the_input() -> None:
    image = torch.tensor([[-3.0, 0.5], [2.0, 9.0]])
    original = image.clone()
    result = _run(OpClip(), image, clip=(-1.0, 2.5))
    assert isinstance(result, torch.Tensor)
    assert result.dtype == torch.float32
    assert torch.equal(result, torch.tensor([[-1.0, 0.5], [2.0, 2.5]]))
    assert torch.equal(image, original)  # FuseMedML clamped with out=img
    assert result.data_ptr() != image.data_ptr()


@pytest.mark.parametrize("as_tensor", [False, True])
def test_clip_integer_images_keep_their_dtype(as_tensor: bool) -> None:
    values = np.array([-1000, -20, 0, 17, 900], dtype=np.int16)
    image: Any = torch.from_numpy(values.copy()) if as_tensor else values.copy()
    result = _run(OpClip(), image, clip=(-500.0, 500))
    expected = np.array([-500, -20, 0, 17, 500], dtype=np.int16)
    np.testing.assert_array_equal(np.asarray(result), expected)
    assert result.dtype == (torch.int16 if as_tensor else np.int16)
    # bounds beyond the dtype's range are limited to it
    uint8 = np.array([0, 7, 255], dtype=np.uint8)
    image = torch.from_numpy(uint8.copy()) if as_tensor else uint8.copy()
    result = _run(OpClip(), image, clip=(-10, 300))
    np.testing.assert_array_equal(np.asarray(result), uint8)
    assert result.dtype == (torch.uint8 if as_tensor else np.uint8)


def test_clip_integer_image_needs_whole_bounds() -> None:
    with pytest.raises(ValueError, match=r"OpClip: key 'data.input.img' of sample 'case_7' .*whole numbers"):
        _run(OpClip(), np.arange(4), clip=(0.5, 2))


def test_clip_float16_with_wide_bounds_and_nan() -> None:
    image = np.array([-np.inf, -1.0, np.nan, 2.0, np.inf], dtype=np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = _run(OpClip(), image, clip=(-1e6, 1e6))
    assert result.dtype == np.float16
    np.testing.assert_array_equal(result, np.array([-65504, -1, np.nan, 2, 65504], dtype=np.float16))


def test_clip_static_helper_on_both_kinds() -> None:
    np.testing.assert_array_equal(OpClip.clip(np.array([-1.0, 0.5, 3.0])), [0.0, 0.5, 1.0])
    assert torch.equal(OpClip.clip(torch.tensor([-1.0, 3.0]), clip=(-0.5, 0.5)), torch.tensor([-0.5, 0.5]))
    with pytest.raises(TypeError, match="numpy array or a torch tensor, got list"):
        OpClip.clip([1.0, 2.0])


@pytest.mark.parametrize("clip", [(1.0, 0.0), (0.0,), "01", (0.0, float("nan")), (True, 2), None])
def test_clip_rejects_bad_bounds(clip: Any) -> None:
    with pytest.raises(ValueError, match=r"OpClip: key 'data.input.img' of sample 'case_7'.*clip"):
        _run(OpClip(), np.zeros(3), clip=clip)


def test_clip_rejects_bool_and_non_arrays_and_names_missing_keys() -> None:
    with pytest.raises(TypeError, match=r"sample 'case_7' has dtype bool; supported: float or int"):
        _run(OpClip(), np.array([True, False]))
    with pytest.raises(TypeError, match=r"key 'data.input.img' of sample 'case_7' holds a builtins.list"):
        _run(OpClip(), [0.5, 2.0])
    with pytest.raises(MissingSampleKeyError, match=r"OpClip: sample 'case_7' has no key 'data.other'"):
        OpClip()(_sample(np.zeros(2)), key="data.other")


# ---------------------------------------------------------------------------------------------- OpNormalizeAgainstSelf
def test_normalize_against_self_numpy_matches_reference() -> None:
    image = _random((7, 9), np.uint16, low=100, high=4000)
    original = image.copy()
    result = _run(OpNormalizeAgainstSelf(), image)
    assert result.dtype == np.float32
    as_float = original.astype(np.float64)
    expected = (as_float - as_float.min()) / (as_float.max() - as_float.min())
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-6)
    assert (result.min(), result.max()) == (0.0, 1.0)
    np.testing.assert_array_equal(image, original)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int32, torch.bool])
def test_normalize_against_self_torch_gives_float32_and_leaves_the_input(dtype: torch.dtype) -> None:
    image = (torch.arange(12).reshape(3, 4) % 5 - 1).to(dtype)
    original = image.clone()
    result = _run(OpNormalizeAgainstSelf(), image)
    assert isinstance(result, torch.Tensor)
    assert result.dtype == torch.float32
    values = original.double().numpy()
    expected = (values - values.min()) / (values.max() - values.min())
    np.testing.assert_allclose(result.numpy(), expected, atol=1e-6)
    assert torch.equal(image, original)


@pytest.mark.parametrize("image", [np.full((3, 3), 7.5), torch.full((2, 2), -3), np.zeros(1, dtype=np.int8)])
def test_normalize_against_self_constant_image_gives_zeros_without_warnings(image: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = _run(OpNormalizeAgainstSelf(), image)
    assert np.asarray(result).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(result), np.zeros(tuple(image.shape)))


def test_normalize_against_self_nan_and_empty() -> None:
    result = _run(OpNormalizeAgainstSelf(), np.array([1.0, np.nan, 3.0]))
    assert np.isnan(result).all()
    with pytest.raises(ValueError, match=r"sample 'case_7' is empty"):
        _run(OpNormalizeAgainstSelf(), np.zeros((0, 4)))


# ---------------------------------------------------------------------------------------------- OpToIntImageSpace
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8])
def test_to_int_image_space_matches_reference_and_leaves_the_input(dtype: Any) -> None:
    image = _random((6, 8), dtype, seed=3, low=-100, high=200)
    original = image.copy()
    result = _run(OpToIntImageSpace(), image)
    assert result.dtype == np.uint8
    values = original.astype(np.float64)
    expected = np.floor((values - values.min()) / (values.max() - values.min()) * 255)
    np.testing.assert_array_equal(result, expected)
    assert (int(result.min()), int(result.max())) == (0, 255)
    np.testing.assert_array_equal(image, original)  # FuseMedML changed a float input in place


def test_to_int_image_space_torch() -> None:
    image = torch.tensor([[0.0, 1.0], [2.0, 4.0]])
    original = image.clone()
    result = _run(OpToIntImageSpace(), image)
    assert result.dtype == torch.uint8
    assert result.tolist() == [[0, 63], [127, 255]]  # floor(255 * [0, 1/4, 1/2, 1])
    assert torch.equal(image, original)


def test_to_int_image_space_constant_and_non_finite() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = _run(OpToIntImageSpace(), np.full((2, 3), 42.0))
    np.testing.assert_array_equal(result, np.zeros((2, 3), dtype=np.uint8))
    for bad in (np.array([0.0, np.nan]), torch.tensor([0.0, float("inf")])):
        with pytest.raises(
            ValueError, match=r"OpToIntImageSpace: key 'data.input.img' of sample 'case_7' .*non-finite"
        ):
            _run(OpToIntImageSpace(), bad)


# ---------------------------------------------------------------------------------------------- OpToRange
def test_to_range_integer_input_gives_float32() -> None:
    image = np.array([[0, 51], [200, 255]], dtype=np.uint8)
    original = image.copy()
    result = _run(OpToRange(), image, from_range=(0, 255), to_range=(-1.0, 1.0))
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, original.astype(np.float64) / 255 * 2 - 1, atol=1e-6)
    np.testing.assert_array_equal(image, original)
    tensor = torch.tensor([0, 5, 10], dtype=torch.int64)
    result = _run(OpToRange(), tensor, from_range=(0, 10), to_range=(0, 1))
    assert result.dtype == torch.float32
    assert torch.allclose(result, torch.tensor([0.0, 0.5, 1.0]))


@pytest.mark.parametrize(
    ("image", "dtype"),
    [
        (np.linspace(-3, 7, 11), np.float64),
        (np.linspace(-3, 7, 11).astype(np.float32), np.float32),
        (torch.linspace(-3, 7, 11, dtype=torch.float16), torch.float16),
        (torch.linspace(-3, 7, 11, dtype=torch.float64), torch.float64),
    ],
)
def test_to_range_keeps_float_dtypes_even_with_numpy_range_values(image: Any, dtype: Any) -> None:
    original = image.copy() if isinstance(image, np.ndarray) else image.clone()
    from_range = (np.float64(-0.5), np.float64(3.0))  # numpy scalars must not promote float32 to float64
    result = _run(OpToRange(), image, from_range=from_range, to_range=(-3.5, 3.5))
    assert result.dtype == dtype
    values = np.asarray(original, dtype=np.float64)
    expected = (values + 0.5) * (7.0 / 3.5) - 3.5
    tolerance = 1e-2 if dtype == torch.float16 else 1e-5
    np.testing.assert_allclose(np.asarray(result, dtype=np.float64), expected, atol=tolerance)
    assert (np.asarray(image) == np.asarray(original)).all()


def test_to_range_reversed_range_flips_and_values_outside_map_outside() -> None:
    result = _run(OpToRange(), np.array([0.0, 1.0, 2.0]), from_range=(0, 1), to_range=(1, 0))
    np.testing.assert_array_equal(result, [1.0, 0.0, -1.0])


def test_fusemedml_basic_pipeline_clip_then_to_range() -> None:
    """FuseMedML's fuseimg/data/ops/tests/test_ops.py::test_basic_1."""
    pipeline = PipelineDefault(
        "test_pipeline",
        [
            (OpClip(), {"key": KEY, "clip": (-0.5, 3.0)}),
            (OpToRange(), {"key": KEY, "from_range": (-0.5, 3.0), "to_range": (-3.5, 3.5)}),
        ],
    )
    result = pipeline(_sample(np.array([5, 0.5, -5, 3])))[KEY]
    np.testing.assert_allclose(result, [3.5, -1.5, -3.5, 3.5])
    assert result[-1] == 3.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"from_range": (2, 2), "to_range": (0, 1)}, r"from_range must have two different ends, got \(2, 2\)"),
        ({"from_range": (0, 1, 2), "to_range": (0, 1)}, r"from_range must be a pair of numbers"),
        ({"from_range": (0, 1), "to_range": "ab"}, r"to_range must be a pair of numbers \(low, high\), got 'ab'"),
    ],
)
def test_to_range_rejects_bad_ranges(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=rf"OpToRange: key 'data.input.img' of sample 'case_7'.*{message}"):
        _run(OpToRange(), np.zeros(3), **kwargs)


def test_to_range_rejects_complex_images() -> None:
    with pytest.raises(TypeError, match="dtype complex128"):
        _run(OpToRange(), np.zeros(2, dtype=complex), from_range=(0, 1), to_range=(0, 2))


# ---------------------------------------------------------------------------------------------- op_*_img instances
def test_img_instances_apply_to_image_keys_only() -> None:
    sample = create_initial_sample("case_1")
    sample["data.cc.img"] = np.array([-5.0, 0.5, 5.0])
    sample["data.mlo.img"] = np.array([0.0, 10.0])
    sample["data.cc.seg"] = np.array([-5.0, 5.0])
    sample = op_clip_img(sample, clip=(0.0, 1.0))
    np.testing.assert_array_equal(sample["data.cc.img"], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(sample["data.mlo.img"], [0.0, 1.0])
    np.testing.assert_array_equal(sample["data.cc.seg"], [-5.0, 5.0])
    sample = op_to_range_img(sample, from_range=(0, 1), to_range=(0, 10))
    np.testing.assert_array_equal(sample["data.mlo.img"], [0.0, 10.0])
    sample["data.mlo.img"] = np.array([2.0, 4.0, 6.0])
    sample = op_normalize_against_self_img(sample)
    np.testing.assert_array_equal(sample["data.mlo.img"], np.array([0.0, 0.5, 1.0], dtype=np.float32))
    sample = op_to_int_image_space_img(sample)
    np.testing.assert_array_equal(sample["data.mlo.img"], np.array([0, 127, 255], dtype=np.uint8))
    assert sample["data.cc.seg"].dtype == np.float64


# ---------------------------------------------------------------------------------------------- cache identity
def _identity(op: Any, **kwargs: Any) -> str:
    return PipelineDefault("p", [(op, {"key": KEY, **kwargs})]).cache_identity()


def test_cache_identities_are_stable_and_change_with_arguments() -> None:
    assert _identity(OpClip(), clip=(0, 1)) == _identity(OpClip(), clip=(0, 1))
    assert _identity(OpClip(), clip=(0, 1)) != _identity(OpClip(), clip=(0, 2))
    ranges = {"from_range": (0, 255), "to_range": (0, 1)}
    assert _identity(OpToRange(), **ranges) == _identity(OpToRange(), **ranges)
    assert _identity(OpToRange(), **ranges) != _identity(OpToRange(), from_range=(0, 255), to_range=(-1, 1))
    identities = {_identity(op()) for op in (OpClip, OpNormalizeAgainstSelf, OpToIntImageSpace, OpToRange)}
    assert len(identities) == 4
    assert _identity(OpNormalizeAgainstSelf()) == _identity(OpNormalizeAgainstSelf())
    clip_all = PipelineDefault("p", [(op_clip_img, {"clip": (0, 1)})]).cache_identity()
    assert clip_all == PipelineDefault("p", [(op_clip_img, {"clip": (0, 1)})]).cache_identity()
    assert clip_all != PipelineDefault("p", [(op_to_range_img, {"clip": (0, 1)})]).cache_identity()


# ---------------------------------------------------------------------------------------------- device
@pytest.mark.cuda
def test_cuda_tensors_stay_on_the_device_with_the_cpu_results() -> None:
    image = torch.linspace(-600, 900, 24, dtype=torch.float32).reshape(4, 6)
    cases: list[tuple[Any, dict[str, Any]]] = [
        (OpClip(), {"clip": (-500, 500)}),
        (OpNormalizeAgainstSelf(), {}),
        (OpToIntImageSpace(), {}),
        (OpToRange(), {"from_range": (-500, 500), "to_range": (0, 1)}),
    ]
    for op, kwargs in cases:
        expected = _run(op, image, **kwargs)
        result = _run(op, image.cuda(), **kwargs)
        assert result.device.type == "cuda"
        assert result.dtype == expected.dtype
        torch.testing.assert_close(result.cpu(), expected, atol=1e-6, rtol=1e-6)
