"""``DatasetDefault``: sample ids + a static pipeline (cached) + a dynamic pipeline (run on every read)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from fuse.core import (
    MpContext,
    NDict,
    create_initial_sample,
    get_from_global_storage,
    get_specific_sample_from_potentially_morphed,
    progress,
    renamed_keywords,
    run_multiprocessed,
)
from fuse.data._pipeline import PipelineDefault
from fuse.data._sample_keys import MissingSampleKeyError, sample_value
from fuse.data.cache._cacher import SampleNotCachedError, SamplesCacher
from fuse.data.cache._identity import UnstableIdentityError
from fuse.data.cache._ids import check_final_ids_unique, sample_id_key
from fuse.data.dataset._base import DatasetBase
from fuse.data.ops._control import find_collect_marker

__all__ = ["DatasetDefault"]

_DATASET_KEY = "fuse.data.DatasetDefault"
_MODES = ("explicit", "running_int", "external")


def _getitem_in_worker(item: Any) -> NDict:
    dataset, kwargs = get_from_global_storage(_DATASET_KEY)
    return dataset.getitem(item, **kwargs)  # type: ignore[no-any-return]


def _static_in_worker(item: Any) -> Any:
    dataset, key = get_from_global_storage(_DATASET_KEY)
    return dataset._static_value(item, key)


def _final_ids_in_worker(orig_id: Hashable) -> list[Hashable] | None:
    pipeline: PipelineDefault = get_from_global_storage(_DATASET_KEY)
    return _final_ids_of(pipeline(create_initial_sample(orig_id)))


def _final_ids_of(output: Any) -> list[Hashable] | None:
    if output is None:
        return None
    samples = [output] if isinstance(output, Mapping) else list(output)
    return [sample_value(s, "data.sample_id", "static pipeline output") for s in samples]


def _is_index(item: Any) -> bool:
    return isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_))


class DatasetDefault(DatasetBase):
    """A dataset of samples built by a static pipeline (run once per sample and cached by ``cacher``) followed by a
    dynamic pipeline (run on every read: augmentation, tensor conversion).

    ``sample_ids`` has three modes:

    - **explicit**: a sequence of ids;
    - **running_int**: an int ``N`` (ids ``0 .. N-1``);
    - **external**: ``None`` — the item passed to :meth:`getitem` is the id itself, and the dataset has no length.

    Call :meth:`create` before reading. ``dataset[i]`` with an integer is the ``i``-th sample (of the final ids,
    after any drop or split by the static pipeline); anything else is a sample id. :meth:`get_by_id` looks an id up
    explicitly, which also works for integer ids.

    :param allow_uncached_sample_morphing: without a cacher, allow a static pipeline that drops or splits samples
        (slow: ``create`` runs it once per id to learn the final ids, and every read runs it again).

    >>> from fuse.data import OpLambda
    >>> def load(sample):
    ...     sample["data.value"] = len(sample["data.sample_id"])
    ...     return sample
    >>> ds = DatasetDefault(["a", "bb"], PipelineDefault("static", [(OpLambda(load), {})]))
    >>> ds.create()
    >>> len(ds), ds[1]["data.value"], ds.get_by_id("a")["data.value"]
    (2, 2, 1)
    """

    def __init__(
        self,
        sample_ids: int | Sequence[Hashable] | None,
        static_pipeline: PipelineDefault | None = None,
        dynamic_pipeline: PipelineDefault | None = None,
        cacher: SamplesCacher | None = None,
        allow_uncached_sample_morphing: bool = False,
    ) -> None:
        if sample_ids is None:
            self._mode = "external"
            self._orig_ids: Sequence[Hashable] | None = None
        elif _is_index(sample_ids):
            if int(sample_ids) < 0:  # type: ignore[arg-type]
                raise ValueError(f"sample_ids as a count must be >= 0, got {sample_ids}")
            self._mode = "running_int"
            self._orig_ids = range(int(sample_ids))  # type: ignore[arg-type]
        elif isinstance(sample_ids, (str, bytes)) or not hasattr(sample_ids, "__len__"):
            raise TypeError(
                f"sample_ids must be a sequence of ids, an int (ids 0..N-1) or None (external ids), got "
                f"{type(sample_ids).__name__}"
            )
        else:
            self._mode = "explicit"
            ids = sample_ids.tolist() if isinstance(sample_ids, np.ndarray) else list(sample_ids)  # type: ignore[arg-type]
            self._orig_ids = ids
        if static_pipeline is None:
            static_pipeline = cacher.pipeline if cacher is not None else PipelineDefault("static", [])
        if dynamic_pipeline is None:
            dynamic_pipeline = PipelineDefault("dynamic", [])
        for name, pipeline in (("static_pipeline", static_pipeline), ("dynamic_pipeline", dynamic_pipeline)):
            if not isinstance(pipeline, PipelineDefault):
                raise TypeError(f"{name} must be a PipelineDefault or None, got {type(pipeline).__name__}")
        if static_pipeline.get_name() == dynamic_pipeline.get_name():
            raise ValueError(
                f"the static and dynamic pipelines must have different names (both are "
                f"{static_pipeline.get_name()!r}): the names prefix the bookkeeping keys their ops write"
            )
        if cacher is not None and not _same_pipeline(cacher.pipeline, static_pipeline):
            raise ValueError(
                f"the cacher caches pipeline {cacher.pipeline.get_name()!r}, which is not this dataset's static "
                f"pipeline {static_pipeline.get_name()!r}; build the SamplesCacher with the static pipeline"
            )
        if self._mode == "external" and allow_uncached_sample_morphing:
            raise ValueError(
                "allow_uncached_sample_morphing needs the list of sample ids (a split or dropped sample cannot be "
                "found from an external id); give sample_ids"
            )
        self._static_pipeline = static_pipeline
        self._dynamic_pipeline = dynamic_pipeline
        self._cacher = cacher
        self._allow_morphing = allow_uncached_sample_morphing
        self._final_ids: Sequence[Hashable] | None = None
        self._final_to_orig: dict[str, Hashable] | None = None
        self._known_keys: set[str] | None = None
        self._created = False

    # ------------------------------------------------------------------ creation
    def create(self, num_workers: int = 0, mp_context: MpContext | None = None) -> None:
        """Prepare the dataset: cache every sample (with a cacher; the cacher's ``workers`` apply), or, with
        ``allow_uncached_sample_morphing``, run the static pipeline once per id (in ``num_workers`` processes) to
        learn the final ids. Cheap when everything is cached already."""
        if self._mode == "external":
            self._created = True
            return
        assert self._orig_ids is not None
        if self._cacher is not None:
            mapping = self._cacher.cache_samples(list(self._orig_ids))
            self._final_ids = [final for finals in mapping.values() if finals for final in finals]
        elif self._allow_morphing:
            results = run_multiprocessed(
                _final_ids_in_worker,
                list(self._orig_ids),
                workers=num_workers,
                verbose=1,
                copy_to_global_storage={_DATASET_KEY: self._static_pipeline},
                mp_context=mp_context,
                desc="finding the final sample ids",
            )
            produced = dict(zip(self._orig_ids, results, strict=True))
            check_final_ids_unique(produced)
            self._final_ids = [final for finals in produced.values() for final in finals or []]
            self._final_to_orig = {
                sample_id_key(final): orig_id for orig_id, finals in produced.items() for final in finals or []
            }
        else:
            self._final_ids = self._orig_ids
        self._known_keys = None
        self._created = True

    def add_sample_ids_and_recreate(self, added_sample_ids: Sequence[Hashable], **create_kwargs: Any) -> None:
        """Append ids (explicit mode) and :meth:`create` again; already cached samples are not recomputed."""
        if self._mode != "explicit":
            raise TypeError(f"add_sample_ids_and_recreate needs explicit sample ids; this dataset is {self._mode}")
        assert self._orig_ids is not None
        existing = {sample_id_key(i) for i in self._orig_ids}
        repeated = [i for i in added_sample_ids if sample_id_key(i) in existing]
        if repeated:
            raise ValueError(f"these ids are already in the dataset: {repeated[:10]!r}")
        self._orig_ids = [*self._orig_ids, *added_sample_ids]
        self.create(**create_kwargs)

    # ------------------------------------------------------------------ ids
    def _require_created(self) -> None:
        if not self._created:
            raise RuntimeError("call dataset.create() before reading samples")

    def _require_ids(self, what: str) -> Sequence[Hashable]:
        self._require_created()
        if self._final_ids is None:
            raise TypeError(f"{what} needs the sample ids, but this dataset takes external ids (sample_ids=None)")
        return self._final_ids

    def __len__(self) -> int:
        return len(self._require_ids("len()"))

    def get_all_sample_ids(self) -> list[Hashable]:
        """The final sample ids (after any drop or split), as a new list."""
        return list(self._require_ids("get_all_sample_ids()"))

    @renamed_keywords(final_sample_ids="sample_ids")
    def set_final_sample_ids(self, sample_ids: Sequence[Hashable]) -> None:
        """Replace the final sample ids (FuseMedML API); prefer :meth:`subset`, which leaves this dataset alone.

        FuseMedML's keyword ``final_sample_ids=`` still works, with a ``DeprecationWarning``."""
        self._require_created()
        self._final_ids = list(sample_ids)
        self._known_keys = None

    def subset(self, indices: Sequence[int] | int) -> DatasetDefault:
        """A new dataset with the samples at ``indices`` (this dataset is not changed).

        >>> ds = DatasetDefault(["a", "b", "c"])
        >>> ds.create()
        >>> ds.subset([2]).get_all_sample_ids(), len(ds)
        (['c'], 3)
        """
        ids = self._require_ids("subset()")
        positions: list[Any] = [indices] if _is_index(indices) else list(indices)  # type: ignore[arg-type]
        chosen = []
        for position in positions:
            if not _is_index(position) or not -len(ids) <= int(position) < len(ids):
                raise IndexError(f"subset index {position!r} is out of range for {len(ids)} samples")
            chosen.append(ids[int(position)])
        new = DatasetDefault.__new__(DatasetDefault)
        new.__dict__.update(self.__dict__)
        new._final_ids = chosen
        new._known_keys = None
        if self._mode == "running_int":
            new._mode = "explicit"
        return new

    def _resolve(self, item: Any) -> Hashable:
        if self._mode == "external":
            return item  # type: ignore[no-any-return]
        ids = self._require_ids("reading by index")
        if _is_index(item):
            if not -len(ids) <= int(item) < len(ids):
                raise IndexError(f"sample index {item} is out of range for a dataset of {len(ids)} samples")
            return ids[int(item)]
        self._check_known(item)
        return item  # type: ignore[no-any-return]

    def _check_known(self, sample_id: Hashable) -> None:
        if self._final_ids is None:
            return
        if self._known_keys is None:
            self._known_keys = {sample_id_key(i) for i in self._final_ids}
        if sample_id_key(sample_id) not in self._known_keys:
            raise KeyError(
                f"sample id {sample_id!r} is not one of this dataset's {len(self._final_ids)} sample ids "
                f"(e.g. {list(self._final_ids[:3])!r})"
            )

    # ------------------------------------------------------------------ reading
    def __getitem__(self, item: Any) -> NDict:
        return self.getitem(item)

    def getitem(self, item: Any, collect_marker_name: str | None = None, keys: Sequence[str] | None = None) -> NDict:
        """The sample at index ``item`` (an int) or with sample id ``item`` (anything else; with external ids:
        always the id).

        :param collect_marker_name: stop the dynamic pipeline at this :class:`~fuse.data.OpCollectMarker` and read
            only its ``static_key_deps`` from the cache.
        :param keys: return only these keys (keypaths or prefixes).
        """
        self._require_created()
        return self._read(self._resolve(item), collect_marker_name, keys)

    def get_by_id(
        self, sample_id: Hashable, collect_marker_name: str | None = None, keys: Sequence[str] | None = None
    ) -> NDict:
        """The sample with id ``sample_id`` — also when ids are integers (``dataset[3]`` is the fourth sample)."""
        self._require_created()
        self._check_known(sample_id)
        return self._read(sample_id, collect_marker_name, keys)

    def _static_sample(self, sample_id: Hashable, static_keys: Sequence[str] | None) -> NDict:
        if self._cacher is not None:
            if self._mode != "external":
                return self._cacher.load_sample(sample_id, static_keys)
            try:
                return self._cacher.load_sample(sample_id, static_keys)
            except SampleNotCachedError:
                finals = self._cacher.cache_samples([sample_id])[sample_id]
                if finals is None or [sample_id_key(f) for f in finals] != [sample_id_key(sample_id)]:
                    raise ValueError(
                        f"with external sample ids, the static pipeline must keep sample {sample_id!r} as one sample "
                        f"with the same id; it produced {finals!r}"
                    ) from None
                return self._cacher.load_sample(sample_id, static_keys)
        if self._final_to_orig is not None:
            orig_id = self._final_to_orig[sample_id_key(sample_id)]
            output = self._static_pipeline(create_initial_sample(orig_id))
            return get_specific_sample_from_potentially_morphed(output, sample_id)  # type: ignore[return-value]
        output = self._static_pipeline(create_initial_sample(sample_id))
        if isinstance(output, Mapping):
            return output
        raise ValueError(
            f"the static pipeline {'dropped' if output is None else 'split'} sample {sample_id!r}; without a "
            "cacher this needs allow_uncached_sample_morphing=True (slow: for debugging), or give a SamplesCacher"
        )

    def _read(self, sample_id: Hashable, collect_marker_name: str | None, keys: Sequence[str] | None) -> NDict:
        until_op_id, static_keys = None, None
        if collect_marker_name is not None:
            until_op_id, marker = find_collect_marker(self._dynamic_pipeline, collect_marker_name)
            static_keys = ["data.sample_id", "data.initial_sample_id", *marker.static_key_deps]
        sample = self._static_sample(sample_id, static_keys)
        output = self._dynamic_pipeline(sample, until_op_id=until_op_id)
        if isinstance(output, Mapping):
            return output if keys is None else _select(output, keys, sample_id)
        raise ValueError(
            f"the dynamic pipeline {'dropped' if output is None else 'split'} sample {sample_id!r}; only the "
            "static pipeline may drop or split samples (their ids must be known when the dataset is created)"
        )

    def _static_value(self, item: Any, key: str) -> Any:
        sample_id = self._resolve(item)
        sample = self._static_sample(sample_id, [key])
        if key not in sample:
            raise MissingSampleKeyError(
                f"the static pipeline's output of sample {sample_id!r} has no key {key!r} (is it set by the dynamic "
                "pipeline? then read it with get_multi)"
            )
        return sample[key]

    def get_static_values(
        self,
        key: str,
        items: Sequence[Any] | None = None,
        workers: int = 0,
        verbose: int = 0,
        mp_context: MpContext | None = None,
    ) -> list[Any]:
        """The value of ``key`` in the static pipeline's output of each item (default: every sample, in order),
        without the dynamic pipeline and, with a cacher, reading only that key from the cache. Raises
        :class:`~fuse.data.MissingSampleKeyError` when the static output lacks ``key``.

        >>> ds = DatasetDefault(2)
        >>> ds.create()
        >>> ds.get_static_values("data.sample_id")
        [0, 1]
        """
        chosen = list(range(len(self))) if items is None else list(items)
        if workers <= 1:  # in this process: a missing key stays a MissingSampleKeyError
            return [
                self._static_value(item, key)
                for item in progress(chosen, total=len(chosen), desc=f"reading {key}", enabled=verbose > 0)
            ]
        return run_multiprocessed(  # type: ignore[return-value]
            _static_in_worker,
            chosen,
            workers=workers,
            verbose=verbose,
            copy_to_global_storage={_DATASET_KEY: (self, key)},
            mp_context=mp_context,
            desc=f"reading {key}",
        )

    def get_multi(
        self,
        items: Sequence[Any] | None = None,
        workers: int = 0,
        verbose: int = 1,
        mp_context: MpContext | None = None,
        desc: str = "dataset_default.get_multi",
        **getitem_kwargs: Any,
    ) -> list[NDict]:
        """Read many samples (default: all, in order), in ``workers`` processes; ``getitem_kwargs`` (``keys``,
        ``collect_marker_name``) go to :meth:`getitem`.

        >>> ds = DatasetDefault(["a", "b"])
        >>> ds.create()
        >>> [s["data.sample_id"] for s in ds.get_multi(keys=["data.sample_id"], verbose=0)]
        ['a', 'b']
        """
        self._require_created()
        if items is None:
            items = list(range(len(self)))
        return run_multiprocessed(  # type: ignore[return-value]
            _getitem_in_worker,
            list(items),
            workers=workers,
            verbose=verbose,
            copy_to_global_storage={_DATASET_KEY: (self, getitem_kwargs)},
            mp_context=mp_context,
            desc=desc,
        )

    # ------------------------------------------------------------------ description
    @property
    def static_pipeline(self) -> PipelineDefault:
        """The static pipeline (its outputs are cached)."""
        return self._static_pipeline

    @property
    def dynamic_pipeline(self) -> PipelineDefault:
        """The dynamic pipeline (run on every read)."""
        return self._dynamic_pipeline

    @property
    def cacher(self) -> SamplesCacher | None:
        """The cacher, if any."""
        return self._cacher

    @property
    def sample_ids_mode(self) -> str:
        """``"explicit"``, ``"running_int"`` or ``"external"``."""
        return self._mode

    def summary(self) -> str:
        """A short description: type, id mode, number of samples, pipelines and cache.

        >>> ds = DatasetDefault(3)
        >>> ds.create()
        >>> print(ds.summary())
        DatasetDefault: 3 samples (running_int ids 0..2)
          static pipeline 'static': 0 ops, dynamic pipeline 'dynamic': 0 ops
          cache: none
        """
        if not self._created:
            size = "not created yet (call create())"
        elif self._final_ids is None:
            size = "external sample ids (no length)"
        elif self._mode == "running_int":
            size = f"{len(self._final_ids)} samples (running_int ids 0..{len(self._final_ids) - 1})"
        else:
            assert self._orig_ids is not None
            dropped = "" if len(self._final_ids) == len(self._orig_ids) else f" from {len(self._orig_ids)} ids"
            size = f"{len(self._final_ids)} samples{dropped} (explicit ids)"
        cache = "none" if self._cacher is None else repr(self._cacher)
        return (
            f"{type(self).__name__}: {size}\n"
            f"  static pipeline {self._static_pipeline.get_name()!r}: {len(self._static_pipeline)} ops, "
            f"dynamic pipeline {self._dynamic_pipeline.get_name()!r}: {len(self._dynamic_pipeline)} ops\n"
            f"  cache: {cache}"
        )

    def __repr__(self) -> str:
        return self.summary().splitlines()[0]


def _select(sample: Mapping[str, Any], keys: Sequence[str], sample_id: Hashable) -> NDict:
    if isinstance(keys, str):
        keys = [keys]
    selected = NDict()
    for key in keys:
        try:
            value = sample[key]
        except KeyError:
            raise MissingSampleKeyError(
                f"sample {sample_id!r} has no key {key!r} after the pipelines; its keys: {list(sample)[:20]}"
            ) from None
        selected[key] = value.to_dict() if isinstance(value, NDict) else value
    return selected


def _same_pipeline(cached: PipelineDefault, static: PipelineDefault) -> bool:
    """Whether the cacher's pipeline is the dataset's static one: the same object, or one with the same identity.

    A pipeline without a stable identity (a ``SamplesCacher(cache_version=...)`` case) must be the same object.
    """
    if cached is static:
        return True
    try:
        return cached.cache_identity() == static.cache_identity()
    except UnstableIdentityError:
        return False
