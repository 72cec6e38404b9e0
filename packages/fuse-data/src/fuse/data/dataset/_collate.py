"""``CollateDefault``: the default ``collate_fn`` that turns a list of samples into a batch ``NDict``.

Tensors, numpy arrays and numbers are stacked with torch's ``default_collate``; strings, ``data.sample_id`` and
values of any other type stay plain lists. Per-key special handlers (e.g.
:meth:`CollateDefault.pad_all_tensors_to_same_size` for ragged tensors) and post-collate handlers over the whole
batch (e.g. :meth:`CollateDefault.crop_length_to_match_target_key`) customise the result.

Pipeline bookkeeping keys (under ``internal.``, written by reversible ops) are left out of the batch unless
``keep_bookkeeping=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fuse.core import INITIAL_SAMPLE_ID_KEY, SAMPLE_ID_KEY, CollateToBatchList, NDict
from fuse.data._pipeline import is_bookkeeping_key
from fuse.data._sample_keys import MissingSampleKeyError

if TYPE_CHECKING:
    import torch

__all__ = ["CollateDefault"]

_MAX_IDS_IN_ERROR = 10


def _default_collate(values: list[Any]) -> Any:
    from torch.utils.data._utils.collate import default_collate  # torch is imported on first use

    return default_collate(values)  # type: ignore[no-untyped-call]


def _default_collate_types() -> tuple[type, ...]:
    """The types whose values are batched with torch's default_collate (strings and bytes stay lists there)."""
    import torch

    return (torch.Tensor, np.ndarray, np.number, np.bool_, float, int, str, bytes)


def _as_ndict(sample: Mapping[str, Any]) -> NDict:
    return sample if isinstance(sample, NDict) else NDict(sample)


def _matches(key: str, prefixes: Iterable[str]) -> bool:
    """``key`` is one of ``prefixes`` or lies under one of them (``a.b`` matches ``a``)."""
    return any(key == prefix or key.startswith(prefix + ".") for prefix in prefixes)


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__}{tuple(shape)}"
    return type(value).__name__


class CollateDefault:
    """Collate a list of samples into a batch ``NDict``; use it as a torch ``DataLoader`` ``collate_fn``.

    For every key (keypath) of the samples, in a deterministic order (the first sample's key order, then new keys
    in order of appearance), the values of all samples are collected into a list and then:

    - a key with a special handler gets ``handler(values)``;
    - ``data.sample_id`` and ``data.initial_sample_id`` stay plain lists;
    - tensors, numpy arrays, numpy scalars and Python numbers are batched with torch ``default_collate``
      (strings and bytes stay lists);
    - values of any other type (``None``, lists, dicts, objects) stay lists.

    The lists come from :class:`fuse.core.CollateToBatchList`, which ``CollateDefault`` uses (it is not a
    subclass). Then the ``add_to_batch_dict`` items are added and every post-collate handler is called with the batch.

    :param skip_keys: keys not to collect (a key also skips every keypath under it).
    :param keep_keys: collect only these keys, in this order (a key also keeps every keypath under it);
        empty: collect every key.
    :param raise_error_key_missing: when some samples lack a key, raise a ``KeyError`` naming the key and the ids
        of those samples (default), or collect the key as a list with ``None`` for them (no batching, no handler).
    :param special_handlers_keys: ``{key: callable(list_of_values) -> batched_value}``.
    :param post_collate_special_handlers_keys: callables ``f(batch_dict) -> None`` that edit the batch in place.
    :param add_to_batch_dict: fixed items to add to every batch.
    :param keep_bookkeeping: also collect the pipeline bookkeeping keys (under ``internal.``); by default they
        are skipped (keys listed in ``keep_keys`` are always collected).

    >>> import torch
    >>> from fuse.core import create_initial_sample
    >>> samples = [create_initial_sample(f"s{i}") for i in range(2)]
    >>> for i, sample in enumerate(samples):
    ...     sample["data.img"] = torch.full((2,), float(i))
    ...     sample["data.label"] = i
    ...     sample["data.text"] = f"t{i}"
    >>> batch = CollateDefault()(samples)
    >>> batch["data.sample_id"], batch["data.img"].shape, batch["data.label"], batch["data.text"]
    (['s0', 's1'], torch.Size([2, 2]), tensor([0, 1]), ['t0', 't1'])
    """

    def __init__(
        self,
        skip_keys: Sequence[str] | str = (),
        keep_keys: Sequence[str] | str = (),
        raise_error_key_missing: bool = True,
        special_handlers_keys: Mapping[str, Callable[[list[Any]], Any]] | None = None,
        post_collate_special_handlers_keys: Sequence[Callable[[NDict], None]] | None = None,
        add_to_batch_dict: Mapping[str, Any] | None = None,
        keep_bookkeeping: bool = False,
    ) -> None:
        # every key to a list, None where a sample lacks it: which keys count, and a missing key, are decided here
        self._to_lists = CollateToBatchList(raise_error_key_missing=False)
        self._raise_error_key_missing = raise_error_key_missing
        self._skip_key_list = CollateToBatchList._keypaths_argument(skip_keys, "skip_keys")
        self._keep_keys = CollateToBatchList._keypaths_argument(keep_keys, "keep_keys")
        self._special_handlers_keys: dict[str, Callable[[list[Any]], Any]] = {
            SAMPLE_ID_KEY: CollateDefault.just_collect_to_list,
            INITIAL_SAMPLE_ID_KEY: CollateDefault.just_collect_to_list,
        }
        if special_handlers_keys is not None:
            self._special_handlers_keys.update(special_handlers_keys)
        self._post_collate_special_handlers_keys = list(post_collate_special_handlers_keys or [])
        self._add_to_batch_dict = dict(add_to_batch_dict) if add_to_batch_dict is not None else None
        self._keep_bookkeeping = keep_bookkeeping

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> NDict:
        """Collate ``samples`` (dicts or ``NDict``) into a batch ``NDict``."""
        ndicts = [_as_ndict(sample) for sample in samples]
        lists = self._to_lists(ndicts)
        batch = NDict()
        for key in self._keys_to_collect(ndicts):
            missing = self._check_missing(ndicts, key)
            values = lists[key] if key in lists else [None] * len(ndicts)
            batch[key] = self._batch_values(key, values, bool(missing))
        if self._add_to_batch_dict is not None:
            batch.update(self._add_to_batch_dict)
        for handler in self._post_collate_special_handlers_keys:
            handler(batch)
        return batch

    def _keys_to_collect(self, samples: Sequence[NDict]) -> list[str]:
        """The keypaths to collect, in a deterministic order."""
        all_keys: dict[str, None] = {}
        for sample in samples:
            all_keys.update(dict.fromkeys(sample.keys()))
        if self._keep_keys:
            keys: dict[str, None] = {}
            for keep in self._keep_keys:
                under = [key for key in all_keys if key.startswith(keep + ".")]
                # an exact key that no sample has is still collected, so that a missing key is reported
                keys.update(dict.fromkeys(under if under and keep not in all_keys else [keep]))
        else:
            keys = {key: None for key in all_keys if self._keep_bookkeeping or not is_bookkeeping_key(key)}
        return [key for key in keys if not _matches(key, self._skip_key_list)]

    def _check_missing(self, samples: Sequence[NDict], key: str) -> list[Any]:
        """The ids of the samples that lack ``key`` (raising, unless ``raise_error_key_missing=False``)."""
        missing_ids = [
            sample.get(SAMPLE_ID_KEY, f"<no sample id, position {index}>")
            for index, sample in enumerate(samples)
            if key not in sample
        ]
        if missing_ids and self._raise_error_key_missing:
            shown = ", ".join(repr(sample_id) for sample_id in missing_ids[:_MAX_IDS_IN_ERROR])
            more = f" and {len(missing_ids) - _MAX_IDS_IN_ERROR} more" if len(missing_ids) > _MAX_IDS_IN_ERROR else ""
            raise MissingSampleKeyError(
                f"CollateDefault: key {key!r} is missing in {len(missing_ids)} of {len(samples)} samples "
                f"(sample ids: {shown}{more}); pass raise_error_key_missing=False to collect None for them, "
                f"or skip_keys=[{key!r}] to leave the key out of the batch"
            )
        return missing_ids

    def _batch_values(self, key: str, values: list[Any], has_missing: bool) -> Any:
        """Batch the collected values of one key."""
        if has_missing:
            return values
        handler = self._special_handlers_keys.get(key)
        if handler is not None:
            try:
                return handler(values)
            except Exception as error:
                name = getattr(handler, "__qualname__", None) or type(handler).__name__
                raise ValueError(
                    f"CollateDefault: the special handler {name} failed on key {key!r}: {error}"
                ) from error
        if values and isinstance(values[0], _default_collate_types()):
            try:
                return _default_collate(values)
            except Exception as error:
                kinds = sorted({_describe(value) for value in values})
                raise ValueError(
                    f"CollateDefault: cannot batch key {key!r} with torch default_collate (values: {kinds}): "
                    f"{error}. For tensors of different shapes pass special_handlers_keys={{{key!r}: "
                    "CollateDefault.pad_all_tensors_to_same_size}; to keep the values as a list pass "
                    f"special_handlers_keys={{{key!r}: CollateDefault.just_collect_to_list}}"
                ) from error
        return values

    @staticmethod
    def just_collect_to_list(values: list[Any]) -> list[Any]:
        """Special handler that keeps the collected values as a plain list.

        >>> CollateDefault.just_collect_to_list([1, 2])
        [1, 2]
        """
        return values

    @staticmethod
    def pad_all_tensors_to_same_size(
        values: Sequence[torch.Tensor | np.ndarray[Any, Any]],
        pad_val: float = 0.0,
        min_size_per_dim: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Pad tensors (or numpy arrays) at the end of every dimension to the per-dimension maximum and stack them.

        :param values: tensors with the same number of dimensions.
        :param pad_val: the constant to pad with.
        :param min_size_per_dim: per dimension (batch dimension excluded), the least size of the result, or -1
            for no minimum; e.g. ``(1000, -1)`` makes the first dimension at least 1000 (fixed sizes help avoid
            memory fragmentation). Must have one entry per dimension.

        >>> import torch
        >>> batch = CollateDefault.pad_all_tensors_to_same_size([torch.ones(2), torch.ones(3)], pad_val=-1.0)
        >>> batch
        tensor([[ 1.,  1., -1.],
                [ 1.,  1.,  1.]])
        >>> CollateDefault.pad_all_tensors_to_same_size([torch.ones(2, 1)], min_size_per_dim=(4, -1)).shape
        torch.Size([1, 4, 1])
        """
        import torch
        import torch.nn.functional as F

        if len(values) == 0:
            raise ValueError("pad_all_tensors_to_same_size: got no values; pass a non-empty list of tensors")
        tensors: list[torch.Tensor] = []
        for value in values:
            tensor = torch.as_tensor(value) if isinstance(value, np.ndarray) else value
            if not isinstance(tensor, torch.Tensor):
                raise TypeError(
                    f"pad_all_tensors_to_same_size: expected torch tensors or numpy arrays, got {type(value).__name__}"
                )
            tensors.append(tensor)
        shapes = [tuple(tensor.shape) for tensor in tensors]
        num_dims = len(shapes[0])
        if any(len(shape) != num_dims for shape in shapes):
            raise ValueError(
                f"pad_all_tensors_to_same_size: all tensors must have the same number of dimensions, got shapes "
                f"{sorted(set(shapes))}"
            )
        target = [max(shape[dim] for shape in shapes) for dim in range(num_dims)]
        if min_size_per_dim is not None:
            minimum = list(min_size_per_dim)
            if len(minimum) != num_dims or any(not isinstance(m, int) or (m <= 0 and m != -1) for m in minimum):
                raise ValueError(
                    f"pad_all_tensors_to_same_size: min_size_per_dim={tuple(minimum)} must have {num_dims} entries "
                    "(one per tensor dimension, batch dimension excluded), each a positive int or -1 (no minimum)"
                )
            target = [size if least == -1 else max(size, least) for size, least in zip(target, minimum, strict=True)]
        padded = []
        for tensor in tensors:
            padding: list[int] = []
            for dim in reversed(range(num_dims)):  # F.pad takes the last dimension first
                padding += [0, target[dim] - tensor.shape[dim]]
            padded.append(F.pad(tensor, padding, mode="constant", value=pad_val) if any(padding) else tensor)
        return torch.stack(padded)

    @staticmethod
    def crop_padding(input_ids_list: Sequence[torch.Tensor], pad_token_id: int) -> torch.Tensor:
        """Stack padded 1-D sequences, cropped to the longest content: trailing ``pad_token_id`` entries beyond
        the last non-pad entry of every sequence are removed.

        >>> import torch
        >>> ids = [torch.tensor([101, 7, 0, 0, 0]), torch.tensor([101, 7, 0, 9, 0]), torch.tensor([101, 0, 0, 0, 0])]
        >>> CollateDefault.crop_padding(ids, pad_token_id=0)
        tensor([[101,   7,   0,   0],
                [101,   7,   0,   9],
                [101,   0,   0,   0]])
        """
        import torch

        if len(input_ids_list) == 0:
            raise ValueError("crop_padding: got no sequences; pass a non-empty list of 1-D tensors")
        lengths = {tuple(ids.shape) for ids in input_ids_list}
        if len(lengths) != 1 or len(next(iter(lengths))) != 1:
            raise ValueError(f"crop_padding: expected 1-D tensors of the same length, got shapes {sorted(lengths)}")
        content_length = 0
        for ids in input_ids_list:
            non_pad = torch.nonzero(ids != pad_token_id)
            if len(non_pad) > 0:
                content_length = max(content_length, int(non_pad[-1].item()) + 1)
        return torch.stack([ids[:content_length] for ids in input_ids_list])

    @staticmethod
    def crop_length_to_match_target_key(
        batch_dict: MutableMapping[str, Any], target_key: str, keys_to_match: Sequence[str]
    ) -> None:
        """Post-collate handler: crop dimension 1 (sequence length) of the ``keys_to_match`` tensors, in place,
        to the length of ``batch_dict[target_key]``. Bind the arguments with ``functools.partial``.

        >>> import torch
        >>> batch = NDict({"ids": torch.zeros(2, 3), "labels": torch.zeros(2, 5, 4)})
        >>> CollateDefault.crop_length_to_match_target_key(batch, "ids", ["labels"])
        >>> batch["labels"].shape
        torch.Size([2, 3, 4])
        """
        for key in [target_key, *keys_to_match]:
            if key not in batch_dict:
                raise KeyError(f"crop_length_to_match_target_key: the batch has no key {key!r}")
            if len(getattr(batch_dict[key], "shape", ())) < 2:
                raise ValueError(
                    f"crop_length_to_match_target_key: batch[{key!r}] must be batched with at least 2 dimensions "
                    f"(batch, length, ...), got {_describe(batch_dict[key])}"
                )
        target_length = batch_dict[target_key].shape[1]
        for key in keys_to_match:
            batch_dict[key] = batch_dict[key][:, :target_length]
