"""Debug ops: print what a sample holds at a point of a pipeline, for selected samples, and pass it on unchanged.

Output goes to **stdout** (``print``), as in FuseMedML, so it shows without any logging configuration, in
notebooks and in worker processes alike. Use one worker (``num_workers=0``) to keep the output of different
samples apart. The sample counter behind ``num_samples`` is per op instance and per process.

Note that a debug op is part of its pipeline's cache identity like any other op: adding one to a cached static
pipeline starts a new cache. Put it in the dynamic pipeline to look at cached samples.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Hashable, Sequence
from typing import Any

from fuse.core import NDict
from fuse.data.ops._base import OpBase

__all__ = ["OpDebugBase", "OpPrintKeys", "OpPrintKeysContent", "OpPrintShapes", "OpPrintTypes"]


class OpDebugBase(OpBase):
    """Base of debug ops: ``__call__`` runs :meth:`call_debug` for the selected samples and always returns the
    sample unchanged. Subclasses implement ``call_debug(sample_dict, **kwargs)``.

    :param name: a label printed in the header of each report (also handy for ops that write files).
    :param sample_ids: debug only samples with these ids (``None``: any sample).
    :param num_samples: debug at most this many (selected) samples per process; ``0``: no limit.

    >>> from fuse.core import create_initial_sample
    >>> class OpPrintId(OpDebugBase):
    ...     def call_debug(self, sample_dict):
    ...         print("debugging", sample_dict["data.sample_id"])
    >>> op = OpPrintId(num_samples=1)
    >>> _ = op(create_initial_sample("a")); _ = op(create_initial_sample("b"))
    debugging a
    """

    cache_identity_exclude = ("_num_samples_done",)  # a counter of samples seen: not what the op computes

    def __init__(
        self, name: str | None = None, sample_ids: Sequence[Hashable] | None = None, num_samples: int = 0
    ) -> None:
        super().__init__()
        if isinstance(sample_ids, (str, bytes)):
            raise TypeError(f"sample_ids must be a list of sample ids, got the single value {sample_ids!r}")
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 0:
            raise ValueError(f"num_samples must be an int >= 0 (0: no limit), got {num_samples!r}")
        self._name = name
        self._sample_ids: frozenset[Hashable] | None = None if sample_ids is None else frozenset(sample_ids)
        self._num_samples = num_samples
        self._num_samples_done = 0

    def reset(self, name: str | None = None) -> None:
        """Start counting samples again (for ``num_samples``); a given ``name`` replaces the current one."""
        self._num_samples_done = 0
        if name is not None:
            self._name = name

    def should_debug_sample(self, sample_dict: NDict) -> bool:
        """Whether this sample is selected; a selected sample counts towards ``num_samples``."""
        if self._num_samples and self._num_samples_done >= self._num_samples:
            return False
        if self._sample_ids is not None:
            sample_id = sample_dict.get("data.sample_id")
            try:
                if sample_id not in self._sample_ids:
                    return False
            except TypeError:  # an unhashable sample id cannot be one of the listed ids
                return False
        self._num_samples_done += 1
        return True

    def __call__(self, sample_dict: NDict, **kwargs: Any) -> NDict:
        """Run :meth:`call_debug` if the sample is selected; return the sample as it is."""
        if self.should_debug_sample(sample_dict):
            self.call_debug(sample_dict, **kwargs)
        return sample_dict

    @abstractmethod
    def call_debug(self, sample_dict: NDict, **kwargs: Any) -> None:
        """Report on the sample (do not change it)."""

    def _header(self, sample_dict: NDict, what: str) -> str:
        label = f"{self._name}: " if self._name else ""
        return f"{label}Sample {sample_dict.get('data.sample_id')!r} {what}:"


class OpPrintKeys(OpDebugBase):
    """Print the keypaths of the sample.

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("a")
    >>> sample["data.x"] = 1
    >>> _ = OpPrintKeys()(sample)
    Sample 'a' keys:
        data.initial_sample_id
        data.sample_id
        data.x
    """

    def call_debug(self, sample_dict: NDict, **kwargs: Any) -> None:
        """Print one keypath per line."""
        _reject_kwargs(self, kwargs)
        lines = [self._header(sample_dict, "keys")]
        lines.extend(f"    {key}" for key in _keypaths(sample_dict))
        print("\n".join(lines))


class OpPrintShapes(OpDebugBase):
    """Print the shape of every array / tensor and the length of every sequence in the sample (and of strings,
    with ``include_strings``, a constructor argument that a per-call ``include_strings`` overrides).

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("a")
    >>> sample["data.img"], sample["data.tokens"] = np.zeros((2, 3)), [1, 2, 3]
    >>> _ = OpPrintShapes()(sample)
    Sample 'a' shapes:
        data.img is numpy array with shape: (2, 3)
        data.tokens is list with length: 3
    """

    def __init__(
        self,
        name: str | None = None,
        sample_ids: Sequence[Hashable] | None = None,
        num_samples: int = 0,
        include_strings: bool = False,
    ) -> None:
        super().__init__(name, sample_ids, num_samples)
        self._include_strings = include_strings

    def call_debug(self, sample_dict: NDict, include_strings: bool | None = None, **kwargs: Any) -> None:
        """Print the shapes; ``include_strings`` (when given) overrides the constructor's."""
        _reject_kwargs(self, kwargs)
        strings = self._include_strings if include_strings is None else include_strings
        lines = [self._header(sample_dict, "shapes")]
        for key in _keypaths(sample_dict):
            value = sample_dict[key]
            if _is_array(value):
                lines.append(f"    {key} is {_array_kind(value)} with shape: {tuple(value.shape)}")
            elif isinstance(value, str):
                if strings:
                    lines.append(f"    {key} is string with length: {len(value)}")
            elif isinstance(value, Sequence):
                lines.append(f"    {key} is {type(value).__name__} with length: {len(value)}")
        print("\n".join(lines))


class OpPrintTypes(OpDebugBase):
    """Print the type of every value in the sample (and the dtype of arrays and tensors).

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("a")
    >>> sample["data.img"] = np.zeros(2, dtype=np.float32)
    >>> _ = OpPrintTypes()(sample)
    Sample 'a' types:
        data.initial_sample_id - str
        data.sample_id - str
        data.img - ndarray with dtype: float32
    """

    def call_debug(self, sample_dict: NDict, **kwargs: Any) -> None:
        """Print one ``key - type`` line per value."""
        _reject_kwargs(self, kwargs)
        lines = [self._header(sample_dict, "types")]
        for key in _keypaths(sample_dict):
            value = sample_dict[key]
            dtype = f" with dtype: {value.dtype}" if _is_array(value) else ""
            lines.append(f"    {key} - {type(value).__name__}{dtype}")
        print("\n".join(lines))


class OpPrintKeysContent(OpDebugBase):
    """Print ``key = value`` for the given keys (all keys when ``None``); a prefix prints every key under it, and
    a key the sample lacks is reported. A per-call ``keys`` (FuseMedML's way) overrides the constructor's.

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("a")
    >>> sample["data.label"] = 3
    >>> _ = OpPrintKeysContent(keys=["data.label", "data.missing"])(sample)
    Sample 'a' content (<key> = <value>):
        data.label = 3
        WARNING: data.missing is not in the sample
    """

    def __init__(
        self,
        name: str | None = None,
        sample_ids: Sequence[Hashable] | None = None,
        num_samples: int = 0,
        keys: Sequence[str] | None = None,
    ) -> None:
        super().__init__(name, sample_ids, num_samples)
        self._keys = _check_keys(keys)

    def call_debug(self, sample_dict: NDict, keys: Sequence[str] | None = None, **kwargs: Any) -> None:
        """Print the content of ``keys`` (when given) or of the constructor's keys."""
        _reject_kwargs(self, kwargs)
        selected = _check_keys(keys) if keys is not None else self._keys
        all_keys = _keypaths(sample_dict)
        lines = [self._header(sample_dict, "content (<key> = <value>)")]
        for key in all_keys if selected is None else selected:
            under = [k for k in all_keys if k == key or k.startswith(f"{key}.")]
            if not under:
                lines.append(f"    WARNING: {key} is not in the sample")
            lines.extend(f"    {k} = {sample_dict[k]}" for k in under)
        print("\n".join(lines))


def _keypaths(sample_dict: Any) -> list[str]:
    keypaths = getattr(sample_dict, "keypaths", None)
    return list(keypaths()) if callable(keypaths) else [str(key) for key in sample_dict]


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, type)


def _array_kind(value: Any) -> str:
    module = type(value).__module__
    if module.startswith("torch"):
        return "tensor"
    if module.startswith("numpy"):
        return "numpy array"
    return type(value).__name__


def _check_keys(keys: Sequence[str] | None) -> tuple[str, ...] | None:
    if keys is None:
        return None
    if isinstance(keys, str):
        raise TypeError(f"keys must be a list of keys, got the single string {keys!r}: write [{keys!r}]")
    return tuple(keys)


def _reject_kwargs(op: OpDebugBase, kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise TypeError(f"{type(op).__name__} got unexpected per-call kwargs {sorted(kwargs)}")
