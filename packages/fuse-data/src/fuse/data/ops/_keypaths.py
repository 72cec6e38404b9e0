"""Key-management ops: keep, delete, set, set-if-absent, copy, and set a random choice.

>>> from fuse.core import create_initial_sample
>>> sample = OpSet()(create_initial_sample("case_1"), key="data.site", value="A")
>>> OpCopy()(sample, key_source="data.site", key_dest="data.site_copy")["data.site_copy"]
'A'
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from fuse.core import NDict
from fuse.data._sample_keys import sample_value
from fuse.data.ops._base import OpBase
from fuse.data.ops._common import key_list

__all__ = ["OpCopy", "OpDeleteKeypaths", "OpKeepKeypaths", "OpSet", "OpSetIfNotExist", "OpSetRandomChoice"]

_COPY_MODES = ("reference", "shallow", "deep")


class OpKeepKeypaths(OpBase):
    """Keep only ``keep_keypaths`` (a prefix keeps its whole branch) in a new sample, e.g. to send less data from
    DataLoader workers. Keep ``"data.sample_id"`` explicitly if later steps need it.

    >>> from fuse.core import NDict
    >>> sample = NDict({"data": {"sample_id": "s1", "img": 1, "meta": {"age": 50, "sex": "F"}}})
    >>> OpKeepKeypaths()(sample, keep_keypaths=["data.sample_id", "data.meta"]).keypaths()
    ['data.sample_id', 'data.meta.age', 'data.meta.sex']
    """

    def __call__(self, sample_dict: NDict, keep_keypaths: Sequence[str]) -> NDict:
        """A new sample with only those keypaths."""
        kept = NDict()
        for key in key_list(keep_keypaths, self, "keep_keypaths"):
            kept[key] = sample_value(sample_dict, key, self)
        return kept


class OpDeleteKeypaths(OpBase):
    """Delete ``keypaths`` from the sample (a prefix deletes its whole branch).

    >>> from fuse.core import NDict
    >>> sample = NDict({"data": {"sample_id": "s1", "img": 1, "meta": {"age": 50}}})
    >>> OpDeleteKeypaths()(sample, keypaths=["data.img", "data.meta"]).keypaths()
    ['data.sample_id']
    """

    def __call__(self, sample_dict: NDict, keypaths: Sequence[str]) -> NDict:
        """Delete the keypaths; a missing one raises ``MissingSampleKeyError``."""
        for key in key_list(keypaths, self, "keypaths"):
            sample_value(sample_dict, key, self)
            del sample_dict[key]
        return sample_dict


class OpSet(OpBase):
    """Set (or override) ``sample[key] = value``.

    >>> from fuse.core import create_initial_sample
    >>> OpSet()(create_initial_sample("s1"), key="data.label", value=3)["data.label"]
    3
    """

    def __call__(self, sample_dict: NDict, key: str, value: Any) -> NDict:
        """Store the value."""
        sample_dict[key] = value
        return sample_dict


class OpSetIfNotExist(OpBase):
    """Set ``sample[key] = value`` only when the sample has no ``key`` yet.

    >>> from fuse.core import create_initial_sample
    >>> sample = OpSetIfNotExist()(create_initial_sample("s1"), key="data.label", value=0)
    >>> OpSetIfNotExist()(sample, key="data.label", value=1)["data.label"]
    0
    """

    def __call__(self, sample_dict: NDict, key: str, value: Any) -> NDict:
        """Store the value if the key is absent."""
        if key not in sample_dict:
            sample_dict[key] = value
        return sample_dict


class OpCopy(OpBase):
    """Copy ``sample[key_source]`` to ``key_dest``: by ``"reference"`` (the same object), ``"shallow"``
    (``copy.copy``) or ``"deep"`` (``copy.deepcopy``).

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("s1")
    >>> sample["data.img"] = np.zeros(2)
    >>> sample = OpCopy("deep")(sample, key_source="data.img", key_dest="data.img_orig")
    >>> sample["data.img"][0] = 1
    >>> sample["data.img_orig"]
    array([0., 0.])
    """

    def __init__(self, copy_mode: str = "reference") -> None:
        super().__init__()
        if copy_mode not in _COPY_MODES:
            raise ValueError(f"OpCopy: unknown copy_mode {copy_mode!r}; use one of {list(_COPY_MODES)}")
        self._copy_mode = copy_mode

    @property
    def copy_mode(self) -> str:
        """``"reference"``, ``"shallow"`` or ``"deep"``."""
        return self._copy_mode

    def __call__(self, sample_dict: NDict, key_source: str, key_dest: str) -> NDict:
        """Copy the value."""
        value = sample_value(sample_dict, key_source, self)
        if self._copy_mode == "shallow":
            value = copy.copy(value)
        elif self._copy_mode == "deep":
            value = copy.deepcopy(value)
        sample_dict[key_dest] = value
        return sample_dict


class OpSetRandomChoice(OpBase):
    """Set ``sample[key]`` to a value chosen at random from ``values``.

    With a ``seed``, the op draws from its own ``random.Random(seed)`` (the same sequence in every run, and in
    every DataLoader worker, which each get a copy of the op); with ``seed=None`` it draws from Python's global
    ``random``, which ``fuse.core.set_seed`` and ``seed_worker_init`` seed.

    >>> from fuse.core import create_initial_sample
    >>> op = OpSetRandomChoice(seed=0)
    >>> [op(create_initial_sample(i), key="data.site", values=["a", "b", "c"])["data.site"] for i in range(5)]
    ['b', 'b', 'a', 'b', 'c']
    """

    def __init__(self, seed: int | None = None) -> None:
        super().__init__()
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise TypeError(f"OpSetRandomChoice: seed must be an int or None, got {seed!r}")
        self._rng: random.Random | None = None if seed is None else random.Random(int(seed))

    def __call__(self, sample_dict: NDict, key: str, values: Sequence[Any]) -> NDict:
        """Store one of the values."""
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise TypeError(f"OpSetRandomChoice: values must be a list of candidates, got {values!r}")
        if len(values) == 0:
            raise ValueError("OpSetRandomChoice: values is empty; give at least one candidate")
        sample_dict[key] = (self._rng or random).choice(values)
        return sample_dict
