"""What the fuse-imaging op tests share (tests/imaging/ops/): a one-image sample, running an op on it, and array
comparisons that accept numpy arrays and torch tensors alike."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fuse.core import NDict, create_initial_sample, set_seed
from fuse.data import OpSample

KEY = "data.input.img"
SAMPLE_ID = "case_7"


def sample_with(image: Any, sample_id: str = SAMPLE_ID) -> NDict:
    """A sample holding ``image`` at :data:`KEY`."""
    sample = create_initial_sample(sample_id)
    sample[KEY] = image
    return sample


def run_op(op: Any, image: Any, **kwargs: Any) -> Any:
    """``op`` applied to a sample holding ``image``; the image it leaves at :data:`KEY`."""
    return op(sample_with(image), key=KEY, **kwargs)[KEY]


def run_sampled(op: Any, seed: int, image: Any, **kwargs: Any) -> Any:
    """As :func:`run_op`, the op's random arguments drawn by ``OpSample`` after seeding everything with ``seed``."""
    set_seed(seed)
    result = OpSample(op)(sample_with(image), key=KEY, **kwargs)
    assert isinstance(result, NDict), "a one-image op returns one sample"
    return result[KEY]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def copy_of(image: Any) -> Any:
    return image.clone() if isinstance(image, torch.Tensor) else image.copy()


def as_numpy(value: Any) -> np.ndarray[Any, Any]:
    """A float64 copy of a tensor, or the array of anything else."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value)


def equal(a: Any, b: Any) -> bool:
    """Same shape and values (an array, a tensor or nested lists)."""
    a, b = as_numpy(a), as_numpy(b)
    return a.shape == b.shape and bool((a == b).all())


def smooth(height: int, width: int) -> np.ndarray[Any, Any]:
    """A smooth float32 test image with no symmetry (resampling errors show up in it)."""
    rows, cols = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    return (0.5 + 0.25 * np.sin(2 * np.pi * rows) * np.cos(np.pi * cols) + 0.2 * rows * cols).astype(np.float32)
