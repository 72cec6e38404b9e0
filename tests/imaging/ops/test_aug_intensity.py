"""The augmentation ops of fuse-imaging (geometry and intensity), each checked against an independent computation
(numpy / torch rotations, flips and shifts, scipy interpolation, Pillow resizing, the color formulas written out),
plus reproducibility under OpSample and set_seed, no in-place modification, and stable cache identities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fuse.core import Uniform, set_seed
from fuse.imaging import (
    OpAugColor,
    OpAugGaussian,
)
from fuse_imaging_ops_support import rng as _rng
from fuse_imaging_ops_support import run_op as _run
from fuse_imaging_ops_support import run_sampled as _sampled


# ---------------------------------------------------------------------------------------------------- OpAugColor
def test_color_steps_follow_their_formulas_in_order() -> None:
    image = _rng(17).random((2, 5, 5)).astype(np.float32)
    x = image.astype(np.float64)
    np.testing.assert_allclose(_run(OpAugColor(), image, add=0.3), np.clip(x + 0.3, 0, 1), atol=1e-6)
    np.testing.assert_allclose(_run(OpAugColor(), image, mul=1.7), np.clip(x * 1.7, 0, 1), atol=1e-6)
    np.testing.assert_allclose(_run(OpAugColor(), image, gamma=0.5), np.sqrt(x), atol=1e-6)
    contrast = np.clip((x - x.mean()) * 1.5 + x.mean(), 0, 1)
    np.testing.assert_allclose(_run(OpAugColor(), image, contrast=1.5), contrast, atol=1e-6)
    step = np.clip(np.clip(np.clip(x - 0.1, 0, 1) * 1.2, 0, 1) ** 1.3, 0, 1)
    expected = np.clip((step - step.mean()) * 0.8 + step.mean(), 0, 1)
    result = _run(OpAugColor(), image, add=-0.1, mul=1.2, gamma=1.3, contrast=0.8)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_color_on_tensors_matches_numpy_and_keeps_dtype() -> None:
    image = _rng(18).random((3, 4))
    tensor_result = _run(OpAugColor(), torch.from_numpy(image), add=0.05, gamma=1.2, contrast=1.1)
    assert tensor_result.dtype == torch.float64
    np.testing.assert_allclose(tensor_result.numpy(), _run(OpAugColor(), image, add=0.05, gamma=1.2, contrast=1.1))


def test_color_channels_subset_uses_their_own_mean_and_leaves_the_input_alone() -> None:
    image = torch.rand(3, 4, 4)
    before = image.clone()
    result = _run(OpAugColor(), image, contrast=2.0, channels=[0, 2])
    selected = before[[0, 2]]
    expected = ((selected - selected.mean()) * 2.0 + selected.mean()).clamp(0, 1)
    torch.testing.assert_close(result[[0, 2]], expected)
    assert torch.equal(result[1], before[1])
    assert torch.equal(image, before)
    no_op = _run(OpAugColor(), image)
    assert torch.equal(no_op, image)
    assert no_op.data_ptr() != image.data_ptr()


def test_color_verifies_the_range_and_the_dtype() -> None:
    with pytest.raises(ValueError, match=r"'case_7'.*expects values in \[0, 1\], got \[0.0, 2.0\]"):
        _run(OpAugColor(), torch.tensor([0.0, 2.0]), add=0.1)
    unchecked = _run(OpAugColor(verify_arguments=False), torch.tensor([0.0, 2.0]), add=0.1)
    torch.testing.assert_close(unchecked, torch.tensor([0.1, 1.0]))
    with pytest.raises(TypeError, match=r"expects a floating image, got dtype torch\.int64"):
        _run(OpAugColor(), torch.tensor([0, 1]), add=0.1)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        _run(OpAugColor(), torch.tensor([0.5]), gamma=0.0)


# ---------------------------------------------------------------------------------------------------- OpAugGaussian
def test_gaussian_noise_has_the_requested_mean_and_std() -> None:
    image = torch.zeros(200, 200)
    noise = _run(OpAugGaussian(seed=0), image, mean=0.2, std=0.05)
    assert noise.dtype == torch.float32
    assert abs(float(noise.mean()) - 0.2) < 0.002
    assert abs(float(noise.std()) - 0.05) < 0.002


def test_gaussian_explicit_seed_is_reproducible_and_advances() -> None:
    image = np.zeros((4, 4))
    first_op, second_op = OpAugGaussian(seed=3), OpAugGaussian(seed=3)
    first = _run(first_op, image)
    np.testing.assert_array_equal(first, _run(second_op, image))
    assert not np.array_equal(first, _run(first_op, image))
    assert not np.array_equal(first, _run(OpAugGaussian(seed=4), image))
    # a tensor gets the same noise as an array
    np.testing.assert_allclose(_run(OpAugGaussian(seed=3), torch.zeros(4, 4, dtype=torch.float64)).numpy(), first)


def test_gaussian_follows_set_seed_without_an_explicit_seed() -> None:
    image = torch.zeros(3, 3)
    set_seed(1)
    first = _run(OpAugGaussian(), image)
    set_seed(1)
    assert torch.equal(first, _run(OpAugGaussian(), image))
    set_seed(2)
    assert not torch.equal(first, _run(OpAugGaussian(), image))


def test_gaussian_channels_dtypes_and_no_in_place_change() -> None:
    assert _run(OpAugGaussian(seed=0), np.zeros(4, dtype=np.float32)).dtype == np.float32
    image = torch.zeros(3, 8, 8, dtype=torch.float16)
    result = _run(OpAugGaussian(seed=0), image, std=0.1, channels=[1])
    assert result.dtype == torch.float16
    assert torch.equal(result[[0, 2]], image[[0, 2]])
    assert float(result[1].abs().max()) > 0
    assert float(image.abs().max()) == 0
    with pytest.raises(TypeError, match="expects a floating image"):
        _run(OpAugGaussian(), np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="std must be >= 0"):
        _run(OpAugGaussian(), np.zeros(3), std=-1.0)
    with pytest.raises(ValueError, match="seed must be an int >= 0 or None"):
        OpAugGaussian(seed=1.5)  # type: ignore[arg-type]


def test_color_ops_under_op_sample_are_reproducible_per_seed() -> None:
    image = torch.rand(2, 8, 8)
    kwargs = {"add": Uniform(-0.1, 0.1), "gamma": Uniform(0.8, 1.2)}
    first = _sampled(OpAugColor(), 0, image, **kwargs)
    assert torch.equal(first, _sampled(OpAugColor(), 0, image, **kwargs))
    assert not torch.equal(first, _sampled(OpAugColor(), 1, image, **kwargs))
    noisy = _sampled(OpAugGaussian(), 0, image, std=Uniform(0.01, 0.1))
    assert torch.equal(noisy, _sampled(OpAugGaussian(), 0, image, std=Uniform(0.01, 0.1)))
    assert not torch.equal(noisy, _sampled(OpAugGaussian(), 1, image, std=Uniform(0.01, 0.1)))
