"""Intensity augmentation ops (FuseMedML's ``fuseimg/data/ops/aug/color.py``): :class:`OpAugColor` (add, multiply,
gamma, contrast) and :class:`OpAugGaussian` (additive Gaussian noise).

Both take a ``torch.Tensor`` or a ``numpy.ndarray`` of a floating dtype and return a new one of the same kind and
dtype (the caller's array is never modified). ``channels`` selects indices of the first axis to augment; the other
channels are copied unchanged.

>>> from fuse.core import Uniform, create_initial_sample, set_seed
>>> from fuse.data import OpSample
>>> sample = create_initial_sample("case_1")
>>> sample["data.input.img"] = torch.full((1, 4, 4), 0.5)
>>> _ = set_seed(0)
>>> sample = OpSample(OpAugColor())(sample, key="data.input.img", add=Uniform(-0.1, 0.1), gamma=Uniform(0.9, 1.1))
>>> bool(((sample["data.input.img"] >= 0) & (sample["data.input.img"] <= 1)).all())
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from fuse.core import NDict
from fuse.data import OpBase
from fuse.imaging.ops._common import (
    Image,
    _channel_list,
    _copy,
    _dtype_kind,
    _image_value,
    _number,
    _OpVerifyingArguments,
    _size,
    _where,
)

__all__ = ["OpAugColor", "OpAugGaussian"]


def _floating_image(op: object, sample_dict: Mapping[str, Any], key: str) -> Image:
    """``sample[key]``, checked to be a tensor or an array of a floating dtype."""
    image: Image = _image_value(op, sample_dict, key)
    if _dtype_kind(image) != "float":
        raise TypeError(
            f"{_where(op, sample_dict, key)} expects a floating image, got dtype {image.dtype}; convert it first, "
            "e.g. OpToTensor(dtype='float32') or OpToRange"
        )
    return image


def _clip01(image: Image) -> Image:
    return image.clamp(0.0, 1.0) if isinstance(image, torch.Tensor) else np.clip(image, 0.0, 1.0)


def _replace_channels(image: Image, selected: list[int], part: Image) -> Image:
    """A copy of ``image`` whose ``selected`` channels (first axis) are ``part``."""
    if isinstance(image, torch.Tensor):
        result = image.clone()
        result[selected] = torch.as_tensor(part)
        return result
    array: np.ndarray = image.copy()
    array[selected] = np.asarray(part)
    return array


def _is_float64(image: Image) -> bool:
    return bool(image.dtype == torch.float64) if isinstance(image, torch.Tensor) else bool(image.dtype == np.float64)


class OpAugColor(_OpVerifyingArguments):
    """Intensity augmentation of a floating image with values in ``[0, 1]``, of any shape. Applied in this order,
    each result clipped to ``[0, 1]``: ``x + add``, ``x * mul``, ``x ** gamma``, and contrast
    ``(x - mean) * contrast + mean`` (the mean over the whole image, or over the selected ``channels``).
    ``None`` skips a step.

    :param verify_arguments: check that the values are in ``[0, 1]`` (a ``ValueError`` otherwise); it costs a
        min / max over the image.

    >>> image = torch.tensor([0.2, 0.4, 0.9])
    >>> OpAugColor()({"img": image}, key="img", add=0.2)["img"]
    tensor([0.4000, 0.6000, 1.0000])
    >>> OpAugColor()({"img": np.array([0.2, 0.6])}, key="img", contrast=2.0)["img"]
    array([0. , 0.8])
    """

    def __call__(
        self,
        sample_dict: NDict,
        key: str,
        add: float | None = None,
        mul: float | None = None,
        gamma: float | None = None,
        contrast: float | None = None,
        channels: Sequence[int] | None = None,
    ) -> NDict:
        """Replace ``sample[key]`` by the augmented image."""
        image = _floating_image(self, sample_dict, key)
        if self._verify_arguments and _size(image) > 0 and not (image.min() >= 0.0 and image.max() <= 1.0):
            raise ValueError(
                f"{_where(self, sample_dict, key)} expects values in [0, 1], got [{float(image.min())}, "
                f"{float(image.max())}]; rescale the image first (e.g. OpToRange) or pass OpAugColor(verify_arguments="
                "False)"
            )
        factors = {
            name: None if value is None else _number(self, name, value)
            for name, value in (("add", add), ("mul", mul), ("gamma", gamma), ("contrast", contrast))
        }
        if factors["gamma"] is not None and factors["gamma"] <= 0:
            raise ValueError(f"OpAugColor: gamma must be > 0, got {gamma!r}")
        selected = _channel_list(self, sample_dict, key, channels, image.shape[0] if image.ndim else 0)
        part = image if selected is None else image[selected]
        if factors["add"] is not None:
            part = self.aug_op_add_col(part, factors["add"])
        if factors["mul"] is not None:
            part = self.aug_op_mul_col(part, factors["mul"])
        if factors["gamma"] is not None:
            part = self.aug_op_gamma(part, 1.0, factors["gamma"])
        if factors["contrast"] is not None:
            part = self.aug_op_contrast(part, factors["contrast"])
        if selected is None:
            result = _copy(image) if part is image else part
        else:
            result = _replace_channels(image, selected, part)
        sample_dict[key] = result
        return sample_dict

    @staticmethod
    def aug_op_add_col(aug_input: Image, add: float) -> Image:
        """``clip(x + add, 0, 1)``."""
        return _clip01(aug_input + add)

    @staticmethod
    def aug_op_mul_col(aug_input: Image, mul: float) -> Image:
        """``clip(x * mul, 0, 1)``."""
        return _clip01(aug_input * mul)

    @staticmethod
    def aug_op_gamma(aug_input: Image, gain: float, gamma: float) -> Image:
        """``clip(gain * x ** gamma, 0, 1)``."""
        return _clip01((aug_input**gamma) * gain)

    @staticmethod
    def aug_op_contrast(aug_input: Image, factor: float) -> Image:
        """``clip((x - mean) * factor + mean, 0, 1)`` with the mean of the whole input (1.0 leaves it unchanged)."""
        mean = aug_input.mean()
        return _clip01((aug_input - mean) * factor + mean)


class OpAugGaussian(OpBase):
    """Add Gaussian noise ``N(mean, std**2)`` to a floating image of any shape (no clipping).

    The noise comes from a numpy ``Generator``. With ``seed=None`` (default) a fresh generator is seeded on every
    call from numpy's global generator, so the noise is reproducible under :func:`fuse.core.set_seed` and differs
    between DataLoader workers seeded with :func:`fuse.core.seed_worker_init`. With an int ``seed`` the op owns
    one generator seeded with it (every process that holds a copy of the op draws the same sequence).

    The noise is drawn in float64 for float64 images and in float32 otherwise, then added in the image's dtype;
    a tensor and an array get the same noise for the same seed.

    >>> from fuse.core import set_seed
    >>> _ = set_seed(7)
    >>> first = OpAugGaussian()({"img": torch.zeros(3)}, key="img", std=0.1)["img"]
    >>> _ = set_seed(7)
    >>> torch.equal(first, OpAugGaussian()({"img": torch.zeros(3)}, key="img", std=0.1)["img"])
    True
    """

    def __init__(self, seed: int | None = None) -> None:
        super().__init__()
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(
                f"OpAugGaussian: seed must be an int >= 0 or None (numpy's global generator), got {seed!r}"
            )
        self._generator: np.random.Generator | None = None if seed is None else np.random.default_rng(int(seed))

    def __call__(
        self,
        sample_dict: NDict,
        key: str,
        mean: float = 0.0,
        std: float = 0.03,
        channels: Sequence[int] | None = None,
    ) -> NDict:
        """Replace ``sample[key]`` by the noisy image."""
        image = _floating_image(self, sample_dict, key)
        mean = _number(self, "mean", mean)
        std = _number(self, "std", std)
        if std < 0:
            raise ValueError(f"OpAugGaussian: std must be >= 0, got {std!r}")
        selected = _channel_list(self, sample_dict, key, channels, image.shape[0] if image.ndim else 0)
        part = image if selected is None else image[selected]
        generator = self._generator
        if generator is None:
            generator = np.random.default_rng(np.random.randint(0, np.iinfo(np.int64).max, dtype=np.int64))
        dtype = np.float64 if _is_float64(part) else np.float32
        noise = generator.standard_normal(tuple(part.shape), dtype=dtype) * dtype(std) + dtype(mean)
        if isinstance(part, torch.Tensor):
            noisy: Image = part + torch.from_numpy(noise).to(device=part.device, dtype=part.dtype)
        else:
            noisy = part + noise.astype(part.dtype, copy=False)
        sample_dict[key] = noisy if selected is None else _replace_channels(image, selected, noisy)
        return sample_dict
