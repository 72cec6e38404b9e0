"""``DatasetWrapSeqToDict``: a torch-style dataset of sequences (``dataset[i] == (image, label)``) as fuse samples."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Hashable, Sequence
from typing import Any

from fuse.core import NDict
from fuse.data._pipeline import PipelineDefault
from fuse.data.cache._cacher import SamplesCacher
from fuse.data.cache._identity import UnstableIdentityError, class_identity, value_identity
from fuse.data.dataset._dataset import DatasetDefault
from fuse.data.ops._base import OpBase

__all__ = ["DatasetWrapSeqToDict", "OpReadDataset"]


class OpReadDataset(OpBase):
    """Read item ``i`` of ``dataset`` (for sample id ``(name, i)``, or ``i``) into ``sample_keys``, one key per
    element of the item. A dataset object has no content identity, so caching its output needs
    ``dataset_identity``: a string naming the data and its version (e.g. ``"mnist-train-v1"``).

    >>> from fuse.core import create_initial_sample
    >>> op = OpReadDataset([(1, "a"), (2, "b")], ["data.x", "data.y"])
    >>> sample = op(create_initial_sample(("train", 1)))
    >>> sample["data.x"], sample["data.y"]
    (2, 'b')
    """

    def __init__(self, dataset: Any, sample_keys: Sequence[str] | str, dataset_identity: str | None = None) -> None:
        super().__init__()
        self._dataset = dataset
        self._sample_keys = [sample_keys] if isinstance(sample_keys, str) else list(sample_keys)
        self._dataset_identity = dataset_identity

    def cache_identity(self) -> str:
        """The class, the sample keys and ``dataset_identity`` (the dataset object itself cannot be hashed)."""
        if self._dataset_identity is None:
            raise UnstableIdentityError(
                f"OpReadDataset: a {type(self._dataset).__name__} has no content identity, so a cache of it could "
                "go stale unnoticed; pass dataset_identity='<name and version of the data>' (DatasetWrapSeqToDict "
                "takes it too)"
            )
        digest = hashlib.sha256(class_identity(type(self)).encode())
        digest.update(value_identity([self._sample_keys, self._dataset_identity], "OpReadDataset").encode())
        return digest.hexdigest()

    def __call__(self, sample_dict: NDict, **kwargs: Any) -> NDict:
        sample_id = sample_dict["data.sample_id"]
        index = sample_id[1] if isinstance(sample_id, tuple) else sample_id
        item = self._dataset[index]
        values = (item,) if len(self._sample_keys) == 1 else tuple(item)
        if len(values) != len(self._sample_keys):
            raise ValueError(
                f"OpReadDataset: item {index} of the dataset has {len(values)} elements but sample_keys names "
                f"{len(self._sample_keys)}: {self._sample_keys}"
            )
        for key, value in zip(self._sample_keys, values, strict=True):
            sample_dict[key] = value
        return sample_dict


class DatasetWrapSeqToDict(DatasetDefault):
    """Wrap a dataset whose items are sequences (``torchvision``-style ``(image, label)``) as a
    :class:`DatasetDefault`: sample ids are ``(name, i)``; item elements go to ``sample_keys``.

    With ``cache_dir`` the items are cached under ``<cache_dir>/wrap_<name>/`` — this needs ``dataset_identity``
    (see :class:`OpReadDataset`). Call :meth:`create` before reading.

    >>> ds = DatasetWrapSeqToDict("train", [(0.5, 1), (0.7, 0)], ["data.x", "data.label"])
    >>> ds.create()
    >>> ds[1]["data.label"], ds[1]["data.sample_id"]
    (0, ('train', 1))
    """

    def __init__(
        self,
        name: str,
        dataset: Any,
        sample_keys: Sequence[str] | str,
        cache_dir: str | os.PathLike[str] | None = None,
        sample_ids: Sequence[Hashable] | None = None,
        *,
        dataset_identity: str | None = None,
        restart_cache: bool = False,
        **dataset_default_kwargs: Any,
    ) -> None:
        if sample_ids is None:
            sample_ids = [(name, i) for i in range(len(dataset))]
        static = PipelineDefault(f"wrap_{name}", [(OpReadDataset(dataset, sample_keys, dataset_identity), {})])
        cacher = None
        if cache_dir is not None:
            cacher = SamplesCacher(f"wrap_{name}", static, cache_dir, restart_cache=restart_cache, verbose=0)
        super().__init__(sample_ids, static, cacher=cacher, **dataset_default_kwargs)
