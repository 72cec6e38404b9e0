"""Random parameter samplers for augmentation, drawn from Python's global ``random`` (seeded by ``Seed``).

Each sampler has a stable ``repr`` of its parameters and compares by them, so a pipeline that holds
samplers gets a stable cache identity (never a memory address).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from fuse.core._ndict import NDict

__all__ = ["Choice", "Gaussian", "ParamSamplerBase", "RandBool", "RandInt", "Uniform", "draw_samples_recursively"]


class ParamSamplerBase(ABC):
    """Base class: a parameter that takes a new random value on every :meth:`sample`."""

    @abstractmethod
    def sample(self) -> Any:
        """Draw one value."""

    def _params(self) -> dict[str, Any]:
        return dict(vars(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))


class Uniform(ParamSamplerBase):
    """A float drawn uniformly from ``[min, max]``.

    >>> 1.0 <= Uniform(1.0, 2.0).sample() <= 2.0
    True
    """

    def __init__(self, min: float, max: float) -> None:
        if min > max:
            raise ValueError(f"Uniform needs min <= max, got min={min!r}, max={max!r}")
        self.min = min
        self.max = max

    def sample(self) -> float:
        return random.uniform(self.min, self.max)


class RandInt(ParamSamplerBase):
    """An int drawn uniformly from ``[min, max]``, both ends included.

    >>> RandInt(3, 3).sample()
    3
    """

    def __init__(self, min: int, max: int) -> None:
        if min > max:
            raise ValueError(f"RandInt needs min <= max, got min={min!r}, max={max!r}")
        self.min = min
        self.max = max

    def sample(self) -> int:
        return random.randint(self.min, self.max)


class RandBool(ParamSamplerBase):
    """``True`` with the given probability.

    >>> RandBool(1.0).sample()
    True
    """

    def __init__(self, probability: float) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"RandBool probability must be in [0, 1], got {probability!r}")
        self.probability = probability

    def sample(self) -> bool:
        return random.uniform(0, 1) <= self.probability


class Choice(ParamSamplerBase):
    """One element of ``seq`` (``k == 0``) or a list of ``k`` drawn with replacement, optionally weighted.

    >>> Choice(["a"]).sample(), Choice(["a"], k=2).sample()
    ('a', ['a', 'a'])
    """

    def __init__(self, seq: Sequence[Any], probabilities: Sequence[float] | None = None, k: int = 0) -> None:
        if len(seq) == 0:
            raise ValueError("Choice needs a non-empty sequence")
        if probabilities is not None and len(probabilities) != len(seq):
            raise ValueError(f"Choice got {len(probabilities)} probabilities for {len(seq)} elements")
        if k < 0:
            raise ValueError(f"Choice k must be >= 0, got {k}")
        self.seq = seq
        self.probabilities = probabilities
        self.k = k

    def sample(self) -> Any:
        if self.k == 0:
            return random.choices(self.seq, weights=self.probabilities)[0]
        return random.choices(self.seq, weights=self.probabilities, k=self.k)


class Gaussian(ParamSamplerBase):
    """An array of the given shape drawn from N(mean, std²) with numpy's global generator.

    >>> Gaussian((2, 3), mean=0.0, std=1.0).sample().shape
    (2, 3)
    """

    def __init__(self, shape: Sequence[int], mean: float, std: float) -> None:
        if std < 0:
            raise ValueError(f"Gaussian std must be >= 0, got {std!r}")
        self.shape = tuple(shape)
        self.mean = mean
        self.std = std

    def sample(self) -> np.ndarray:
        return self.std * np.random.randn(*self.shape) + self.mean


def draw_samples_recursively(data: Any) -> Any:
    """A copy of ``data`` (dicts, lists, tuples, nested) with every sampler replaced by a drawn value.

    >>> draw_samples_recursively({"angle": RandInt(5, 5), "flip": [True, RandBool(0.0)]})
    {'angle': 5, 'flip': [True, False]}
    """
    if isinstance(data, ParamSamplerBase):
        return data.sample()
    if isinstance(data, NDict):
        return NDict({key: draw_samples_recursively(value) for key, value in data.items()})
    if isinstance(data, dict):
        return {key: draw_samples_recursively(value) for key, value in data.items()}
    if isinstance(data, list):
        return [draw_samples_recursively(value) for value in data]
    if isinstance(data, tuple):
        return tuple(draw_samples_recursively(value) for value in data)
    return data
