"""Torch-free collate helpers: a list of samples <-> a batch dict of per-key lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fuse.core._ndict import NDict
from fuse.core._sample import SAMPLE_ID_KEY

__all__ = ["CollateToBatchList", "uncollate"]


def _as_ndict(sample: Mapping[str, Any]) -> NDict:
    return sample if isinstance(sample, NDict) else NDict(sample)


class CollateToBatchList:
    """Collate samples into a batch ``NDict`` whose every value is the list of the samples' values.

    Keys appear in order of first appearance across the samples (deterministic).

    >>> batch = CollateToBatchList()([{"a": 1, "b": {"c": 2}}, {"a": 3, "b": {"c": 4}}])
    >>> batch["a"], batch["b.c"]
    ([1, 3], [2, 4])
    """

    def __init__(self, skip_keys: Iterable[str] | str = (), raise_error_key_missing: bool = True) -> None:
        """
        :param skip_keys: keypaths not to collect (a single keypath may be given as a string).
        :param raise_error_key_missing: when a sample lacks a key that another has, raise (default) or use ``None``.
        """
        self._skip_keys = set(self._keypaths_argument(skip_keys, "skip_keys"))
        self._raise_error_key_missing = raise_error_key_missing

    @staticmethod
    def _keypaths_argument(keys: Iterable[str] | str, argument: str) -> list[str]:
        """``keys`` as a list of keypaths: a string is one keypath (never its characters); anything else must be
        an iterable of strings, else a ``TypeError`` names ``argument``.

        >>> CollateToBatchList._keypaths_argument("data.drop", "skip_keys")
        ['data.drop']
        """
        if isinstance(keys, str):
            return [keys]
        try:
            keypaths = list(keys)
        except TypeError:
            raise TypeError(
                f"{argument} must be a keypath or a list of keypaths, got {type(keys).__name__} {keys!r}"
            ) from None
        wrong = [key for key in keypaths if not isinstance(key, str)]
        if wrong:
            raise TypeError(
                f"{argument} must hold keypath strings such as 'data.img', got {type(wrong[0]).__name__} "
                f"{wrong[0]!r}; pass the keys to leave out, e.g. {argument}=['data.img']"
            )
        return keypaths

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> NDict:
        ndicts = [_as_ndict(sample) for sample in samples]
        keys: dict[str, None] = {}
        for sample in ndicts:
            keys.update(dict.fromkeys(sample.keys()))
        batch = NDict()
        for key in keys:
            if key in self._skip_keys:
                continue
            values, _, _ = self._collect_values_to_list(ndicts, key)
            batch[key] = values
        return batch

    def _collect_values_to_list(self, samples: Sequence[NDict], key: str) -> tuple[list[Any], bool, bool]:
        """The values of ``key`` in every sample, and whether any was missing (twice, for FuseMedML's signature)."""
        values: list[Any] = []
        missing = False
        for index, sample in enumerate(samples):
            if key in sample:
                values.append(sample[key])
                continue
            missing = True
            if self._raise_error_key_missing:
                sample_id = sample.get(SAMPLE_ID_KEY, f"at position {index}")
                raise KeyError(
                    f"key {key!r} is missing in sample {sample_id!r} but present in others; "
                    "pass raise_error_key_missing=False to collect None instead"
                )
            values.append(None)
        return values, missing, missing


def _batch_size_of(value: Any) -> int | None:
    """Length along the first dimension of a list, tuple or array-like (numpy, torch, ...), else None."""
    if isinstance(value, (list, tuple)):
        return len(value)
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, (str, bytes)) and hasattr(value, "__getitem__"):
        return int(shape[0]) if len(shape) > 0 else None
    return None


def uncollate(batch: Mapping[str, Any]) -> list[NDict]:
    """Split a batch dict back into samples (the reverse of collation).

    The batch size comes from ``data.sample_id`` when present, else from the first list or array-like
    value. Values whose first dimension equals the batch size are split; all others (scalars, strings,
    per-batch values) are copied into every sample.

    >>> samples = uncollate({"data": {"sample_id": ["a", "b"]}, "pred": [0.1, 0.9], "epoch": 3})
    >>> [s["pred"] for s in samples], samples[1]["epoch"]
    ([0.1, 0.9], 3)
    """
    flat = _as_ndict(batch)
    if len(flat) == 0:
        return []
    batch_size = None
    if SAMPLE_ID_KEY in flat:
        batch_size = _batch_size_of(flat[SAMPLE_ID_KEY])
    if batch_size is None:
        for value in flat.values():
            batch_size = _batch_size_of(value)
            if batch_size is not None:
                break
    if batch_size is None:
        raise ValueError(
            f"cannot infer the batch size: no list or array value in the batch (keys: {flat.keypaths()[:10]})"
        )
    samples: list[dict[str, Any]] = [{} for _ in range(batch_size)]
    for key, value in flat.items():
        if _batch_size_of(value) == batch_size:
            for index, sample in enumerate(samples):
                sample[key] = value[index]
        else:
            for sample in samples:
                sample[key] = value
    return [NDict(sample, already_flat=True) for sample in samples]
