"""A batch sampler that balances classes within every batch (FuseMedML's ``BatchSamplerDefault``, fixed).

The sampler reads the class of every sample once, at construction, then yields lists of dataset indices; pass it
to ``torch.utils.data.DataLoader(dataset, batch_sampler=...)``. It does not import torch (and is not a subclass
of torch's ``BatchSampler``): torch's ``DataLoader`` only needs an iterable of index lists with a length.

The classes are read from the cached static output when the dataset can (:meth:`get_static_values`); all
randomness comes from a private generator (``seed``, ``set_epoch``); exact-mode counts come from any weights by
the largest remainder method; the dataset is never mutated; in distributed training every rank yields the same
number of batches, and the ranks agree on the shuffle (without a seed, they take rank 0's).

Compatibility: FuseMedML's ``BatchSamplerDefault`` arguments; the differences are listed in docs/migration.md.
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from fuse.data._sample_keys import sample_value
from fuse.data.dataset._export import SupportsGetMulti
from fuse.data.dataset._sampler_checks import (
    check_num_batches,
    check_replicas,
    check_seed,
    class_scalar,
    int_or_none,
    largest_remainder,
    resolve_weights,
    sorted_classes,
)

__all__ = ["BatchSamplerDefault"]

_LOGGER = logging.getLogger("fuse.data")

_MODES = ("exact", "approx")
_CLASS_SOURCES = ("auto", "static", "dynamic")


def _torch_world() -> tuple[int, int] | None:
    """``(world size, rank)`` from ``torch.distributed`` when it is imported, available and initialized."""
    dist = sys.modules.get("torch.distributed")
    if dist is None:
        return None
    try:
        if dist.is_available() and dist.is_initialized():
            return int(dist.get_world_size()), int(dist.get_rank())
    except (AttributeError, RuntimeError):
        return None
    return None


class BatchSamplerDefault:
    """Yield batches of dataset indices in which the classes of ``balanced_class_name`` are balanced.

    The class of every sample is read once, at construction (see ``class_source``). Each class's indices are
    shuffled and reshuffled whenever they are used up, so every sample of a class is drawn once before any is
    drawn again; each batch is shuffled.

    :param dataset: anything with ``len(dataset)`` and ``dataset.get_multi(items, keys=[...], **kwargs)`` (a list
        of dict-like samples), optionally ``dataset.get_static_values(key)`` (:class:`DatasetDefault` has both).
        It is never modified.
    :param balanced_class_name: the key holding each sample's class; ``None`` samples uniformly (one class).
    :param num_balanced_classes: ignored (deprecated in FuseMedML; the classes are found in the data). A warning
        is emitted when it disagrees with the number of classes found.
    :param sampler: an iterable of dataset indices (e.g. a ``torch.utils.data.DistributedSampler``). At every
        iteration, ``list(sampler)`` gives the indices this process may use; batches are balanced within them.
    :param batch_size: the number of indices per batch. In ``"exact"`` mode with integer weights it may be left
        ``None``: the batch size is then the sum of the weights (FuseMedML's convention).
    :param mode: ``"exact"``: every batch holds a fixed number of samples of each class, computed from the weights
        by the largest remainder method (deterministic; ties go to the class that sorts first). Without weights,
        each class gets ``batch_size // k`` and the remaining ``batch_size % k`` slots go to the first classes in
        sorted order (so with ``batch_size < k`` the last classes are never sampled). ``"approx"``: each batch's
        class slots are drawn with the class probabilities (the normalised weights).
    :param balanced_class_weights: ``None`` (equal weights), a list (weight of classes ``0..k-1``) or a dict
        ``{class value: weight}``; weights are normalised by their sum in both modes (so exact-mode counts such as
        ``[1, 1, 2]`` with ``batch_size=4`` are used as they are). Classes found in the data but missing from the
        weights get weight 0 (never sampled; a warning names them).
    :param num_batches: the number of batches per iteration: an int, ``"over_sample"`` / ``None`` (enough batches
        to draw every sample of every sampled class at least once: the largest ``ceil(class size / per-batch
        count)``) or ``"down_sample"`` (the smallest). In ``"approx"`` mode the expected per-batch count
        ``batch_size * p`` is used.
    :param verbose: log (logger ``"fuse.data"``, level INFO) the class sizes, per-batch counts or probabilities
        and the number of batches.
    :param seed: seeds the sampler's private ``numpy.random.Generator``. ``None`` draws it from numpy's global
        generator at construction, so ``fuse.core.set_seed`` makes the sampler reproducible. The ranks of a
        distributed run must shuffle alike (their shares overlap and miss samples otherwise), so with ``None`` the
        first iteration under an initialized ``torch.distributed`` replaces every rank's seed by rank 0's (a
        broadcast: every process of the default group iterates the sampler, as in DDP training), and with
        ``num_replicas > 1`` but no ``torch.distributed`` it raises ``ValueError``: pass the same ``seed`` on
        every rank.
    :param class_source: where the classes are read from. ``"static"``: ``dataset.get_static_values(key)`` (the
        cached static-pipeline output, without running the dynamic pipeline). ``"dynamic"``:
        ``dataset.get_multi(None, keys=[key], **dataset_get_multi_kwargs)``. ``"auto"``: static when the dataset
        has ``get_static_values`` and the key is in the static output, dynamic otherwise.
    :param num_replicas: the number of distributed processes; give it with ``rank``. When both are ``None`` they
        are taken, at iteration time, from ``sampler.num_replicas`` / ``sampler.rank`` or from an initialized
        ``torch.distributed`` (never imported by this module). Without ``sampler``, every epoch all the indices
        are shuffled (identically on every rank), grouped by class, and rank ``r`` takes every
        ``num_replicas``-th one from position ``r``: the shares are disjoint, cover the dataset, and hold about
        ``1/num_replicas`` of every class.
    :param rank: this process's rank, ``0 <= rank < num_replicas``.
    :param dataset_get_multi_kwargs: passed to ``dataset.get_multi`` (e.g. ``workers``, ``collect_marker_name``).

    Every rank yields the same number of batches (distributed training hangs otherwise): with ``num_replicas``
    known, the automatic ``num_batches`` is computed from the dataset's class sizes divided by ``num_replicas``
    (rounded up), not from the rank's share. A sampled class that is absent from a rank's share is an error.

    The iteration of epoch ``e`` uses ``numpy.random.default_rng([seed, e])``, so iterating the same epoch twice
    yields the same batches. The epoch is read when an iteration draws its first batch. Until :meth:`set_epoch` is
    first called, every iteration moves to the next epoch (0, 1, 2, ...), so a training loop that never calls it
    still gets new batches every epoch, in step on every rank; after the first call, the epoch changes only
    through :meth:`set_epoch` (as with torch's ``DistributedSampler``). Lightning calls ``set_epoch`` on a
    loader's samplers, not on its batch sampler: ``fuse.dl.LightningModuleDefault`` adds the callback
    ``fuse.dl.BatchSamplerEpoch``, which calls ``set_epoch(trainer.current_epoch)`` at every training epoch start,
    so a fit resumed from a checkpoint continues with the epoch it stopped at instead of replaying epoch 0.

    With Lightning and several devices, pass ``Trainer(use_distributed_sampler=False)``: this sampler shards the
    data itself (it is not a torch ``BatchSampler``, so Lightning cannot inject a ``DistributedSampler``; when it
    tries, the ``TypeError`` names that flag).

    >>> class TinyDataset:
    ...     labels = ["cat", "cat", "cat", "cat", "dog", "dog"]
    ...     def __len__(self):
    ...         return len(self.labels)
    ...     def get_multi(self, items=None, keys=None, **kwargs):
    ...         return [{"data.label": label} for label in self.labels]
    >>> dataset = TinyDataset()
    >>> sampler = BatchSamplerDefault(dataset, "data.label", batch_size=2, seed=0)
    >>> len(sampler)  # 4 cats, one per batch
    4
    >>> batches = list(sampler)
    >>> [sorted(dataset.labels[i] for i in batch) for batch in batches]
    [['cat', 'dog'], ['cat', 'dog'], ['cat', 'dog'], ['cat', 'dog']]
    >>> sorted(i for batch in batches for i in batch if i < 4)  # every cat exactly once
    [0, 1, 2, 3]
    >>> sampler.set_epoch(1)
    >>> list(sampler) == list(sampler)  # the same epoch, the same batches
    True
    """

    drop_last: bool = False

    def __new__(cls, *args: Any, **kwargs: Any) -> BatchSamplerDefault:
        # Lightning rebuilds a batch sampler that is not a torch BatchSampler as
        # ``type(batch_sampler)(sampler, batch_size=..., drop_last=...)`` to inject a DistributedSampler (under DDP
        # unless use_distributed_sampler=False, and always in trainer.predict); that call cannot build this class.
        if "drop_last" in kwargs and len(args) < 2 and "balanced_class_name" not in kwargs:
            raise TypeError(
                f"{cls.__name__} was rebuilt as {cls.__name__}(<sampler>, batch_size=..., drop_last=...), which is "
                "how Lightning injects a DistributedSampler into a batch sampler; this sampler shards the data "
                "itself (see num_replicas/rank). Build the Trainer with use_distributed_sampler=False, i.e. "
                "lightning.pytorch.Trainer(..., use_distributed_sampler=False). trainer.predict always rebuilds "
                "batch samplers: predict with a plain DataLoader(dataset, batch_size=...), since a balanced sampler "
                "repeats and skips samples"
            )
        return super().__new__(cls)

    def __init__(
        self,
        dataset: SupportsGetMulti,
        balanced_class_name: str | None,
        num_balanced_classes: int | None = None,
        sampler: Iterable[int] | None = None,
        batch_size: int | None = None,
        mode: Literal["exact", "approx"] = "exact",
        balanced_class_weights: Sequence[float] | Mapping[Any, float] | None = None,
        num_batches: int | Literal["over_sample", "down_sample"] | None = None,
        verbose: bool = False,
        *,
        seed: int | None = None,
        class_source: Literal["auto", "static", "dynamic"] = "auto",
        num_replicas: int | None = None,
        rank: int | None = None,
        **dataset_get_multi_kwargs: Any,
    ) -> None:
        self._dataset = dataset
        self._balanced_class_name = balanced_class_name
        self.sampler = sampler
        self._verbose = verbose
        self._dataset_get_multi_kwargs = dict(dataset_get_multi_kwargs)

        if mode not in _MODES:
            raise ValueError(f"BatchSamplerDefault: mode must be one of {list(_MODES)}, got {mode!r}")
        self._mode: str = mode
        if class_source not in _CLASS_SOURCES:
            raise ValueError(
                f"BatchSamplerDefault: class_source must be one of {list(_CLASS_SOURCES)}, got {class_source!r}"
            )
        self._num_batches_arg = check_num_batches(num_batches)
        self._num_replicas, self._rank = check_replicas(num_replicas, rank)
        self._seed = check_seed(seed)
        # a seed drawn here differs between processes unless they share numpy's global state: under
        # torch.distributed, the first iteration replaces it by rank 0's (see _agreed_seed)
        self._seed_agreed = seed is not None
        self._epoch = 0
        self._auto_epoch = True

        num_samples = len(dataset)
        if num_samples == 0:
            raise ValueError("BatchSamplerDefault: the dataset is empty; there is nothing to sample")

        # classes of every sample, once
        if balanced_class_name is None:
            classes: list[Hashable] = [0] * num_samples
        else:
            classes = self._read_classes(class_source, num_samples)
        self._classes: list[Hashable] = sorted_classes(classes)
        position = {value: i for i, value in enumerate(self._classes)}
        self._sample_class = np.fromiter((position[value] for value in classes), dtype=np.int64, count=num_samples)
        self._class_sizes = np.bincount(self._sample_class, minlength=len(self._classes))

        if num_balanced_classes is not None and num_balanced_classes != len(self._classes):
            warnings.warn(
                f"BatchSamplerDefault: num_balanced_classes={num_balanced_classes!r} is ignored (deprecated); "
                f"found {len(self._classes)} classes in {balanced_class_name!r}: {self._classes!r}",
                stacklevel=2,
            )

        weights = resolve_weights(balanced_class_weights, self._classes, self._balanced_class_name, self._mode)
        self.batch_size: int = self._check_batch_size(batch_size, balanced_class_weights, weights)
        weight_sum = sum(weights, Fraction(0))
        self._probabilities = [weight / weight_sum for weight in weights]
        if self._mode == "exact":
            self._counts: list[int] | None = largest_remainder(self.batch_size, weights)
            starved = [c for c, w, n in zip(self._classes, weights, self._counts, strict=True) if w > 0 and n == 0]
            if starved:
                warnings.warn(
                    f"BatchSamplerDefault: classes {starved!r} have a positive weight but get 0 of the "
                    f"{self.batch_size} slots of a batch in mode 'exact', so they are never sampled; "
                    "increase batch_size or use mode='approx'",
                    stacklevel=2,
                )
            self._sampled = np.array([n > 0 for n in self._counts], dtype=bool)
        else:
            self._counts = None
            self._sampled = np.array([p > 0 for p in self._probabilities], dtype=bool)
        self._p_float = np.array([float(p) for p in self._probabilities])

        if verbose:
            sizes = dict(zip(self._classes, self._class_sizes.tolist(), strict=True))
            _LOGGER.info("BatchSamplerDefault: class sizes of %r: %s", balanced_class_name, sizes)
            if self._counts is not None:
                per_batch = dict(zip(self._classes, self._counts, strict=True))
                _LOGGER.info("BatchSamplerDefault: per-batch counts (batch_size=%d): %s", self.batch_size, per_batch)
            else:
                per_batch_p = dict(zip(self._classes, self._p_float.tolist(), strict=True))
                _LOGGER.info(
                    "BatchSamplerDefault: per-batch probabilities (batch_size=%d): %s", self.batch_size, per_batch_p
                )
            _LOGGER.info("BatchSamplerDefault: num_batches=%d", len(self))

    # ----------------------------------------------------------------------------------------------- validation
    def _check_batch_size(self, batch_size: object, raw_weights: object, weights: Sequence[Fraction]) -> int:
        if batch_size is None and self._mode == "exact" and raw_weights is not None:
            if all(w.denominator == 1 for w in weights):
                return int(sum(weights, Fraction(0)))  # FuseMedML: exact-mode integer counts give the batch size
            raise ValueError(
                "BatchSamplerDefault: batch_size is None; in mode 'exact' it may be left None only when "
                f"balanced_class_weights are integer counts (their sum is the batch size), got {raw_weights!r}"
            )
        as_int = int_or_none(batch_size)
        if as_int is None or as_int < 1:
            raise ValueError(
                f"BatchSamplerDefault: batch_size must be an int >= 1 (mode {self._mode!r}), got {batch_size!r}"
            )
        return as_int

    # ------------------------------------------------------------------------------------------- reading classes
    def _read_classes(self, class_source: str, num_samples: int) -> list[Hashable]:
        key = self._balanced_class_name
        assert key is not None
        values: Sequence[Any] | None = None
        get_static_values = getattr(self._dataset, "get_static_values", None)
        if class_source in ("auto", "static"):
            if get_static_values is None:
                if class_source == "static":
                    raise TypeError(
                        f"BatchSamplerDefault: class_source='static' needs a dataset with get_static_values(key), "
                        f"but {type(self._dataset).__name__} has none; use class_source='dynamic' or 'auto'"
                    )
            else:
                try:
                    values = list(get_static_values(key))
                except KeyError as error:
                    if class_source == "static":
                        raise
                    if self._verbose:
                        _LOGGER.info(
                            "BatchSamplerDefault: %r is not in the static output (%s); reading it with get_multi",
                            key,
                            error,
                        )
                if values is not None and len(values) != num_samples:
                    raise ValueError(
                        f"BatchSamplerDefault: get_static_values({key!r}) returned {len(values)} values for a "
                        f"dataset of {num_samples} samples"
                    )
        if values is None:
            kwargs: dict[str, Any] = {"keys": [key], **self._dataset_get_multi_kwargs}
            samples = self._dataset.get_multi(None, **kwargs)
            if len(samples) != num_samples:
                raise ValueError(
                    f"BatchSamplerDefault: dataset.get_multi returned {len(samples)} samples for a dataset of "
                    f"{num_samples} samples"
                )
            values = self._extract_balanced_classes(samples)
        return [self._sample_class_value(value, index) for index, value in enumerate(values)]

    def _sample_class_value(self, value: object, index: int) -> Hashable:
        return class_scalar(value, f"sample {index} (key {self._balanced_class_name!r})")

    def _extract_balanced_classes(self, collected_data: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The class of each sample read with ``get_multi`` (override for custom logic, as in FuseMedML)."""
        key = self._balanced_class_name
        assert key is not None
        return [sample_value(sample, key, "BatchSamplerDefault") for sample in collected_data]

    # ------------------------------------------------------------------------------------------------ distribution
    def _world(self) -> tuple[int, int] | None:
        """``(num_replicas, rank)`` when known: the arguments, the sampler's attributes, or torch.distributed."""
        if self._num_replicas is not None and self._rank is not None:
            return self._num_replicas, self._rank
        if self.sampler is not None:
            replicas, rank = getattr(self.sampler, "num_replicas", None), getattr(self.sampler, "rank", None)
            replicas, rank = int_or_none(replicas), int_or_none(rank)
            if replicas is not None and rank is not None:
                return replicas, rank
        return _torch_world()

    def _sampler_indices(self) -> np.ndarray[Any, np.dtype[np.int64]]:
        assert self.sampler is not None
        num_samples = len(self._sample_class)
        indices: list[int] = []
        for raw in self.sampler:
            index = int_or_none(raw)
            if index is None or not 0 <= index < num_samples:
                raise ValueError(
                    f"BatchSamplerDefault: the sampler yielded {raw!r}; expected dataset indices, ints in "
                    f"[0, {num_samples})"
                )
            indices.append(index)
        return np.fromiter(dict.fromkeys(indices), dtype=np.int64)

    def _share_class_sizes(
        self, world: tuple[int, int] | None, share: np.ndarray[Any, np.dtype[np.int64]] | None = None
    ) -> np.ndarray[Any, np.dtype[np.int64]]:
        """The class sizes that the number of batches is computed from (the same on every rank)."""
        if world is not None:
            return -(-self._class_sizes // world[0])  # ceil: every rank computes the same
        if self.sampler is not None:  # one process with its own subset of the indices
            share = self._sampler_indices() if share is None else share
            return np.bincount(self._sample_class[share], minlength=len(self._classes))
        return self._class_sizes

    def _compute_num_batches(self, sizes: np.ndarray[Any, np.dtype[np.int64]]) -> int:
        if not isinstance(self._num_batches_arg, str):
            return self._num_batches_arg
        per_class: list[int] = []
        for c in np.flatnonzero(self._sampled):
            per_batch = (
                Fraction(self._counts[c]) if self._counts is not None else self.batch_size * self._probabilities[c]
            )
            per_class.append(math.ceil(Fraction(int(sizes[c])) / per_batch))
        number = max(per_class) if self._num_batches_arg == "over_sample" else min(per_class)
        return max(number, 1)

    # ---------------------------------------------------------------------------------------------------- iterate
    @property
    def seed(self) -> int:
        """The seed of the private generator (drawn from numpy's global generator when ``seed=None``; under
        ``torch.distributed``, rank 0's from the first iteration on)."""
        return self._seed

    @property
    def epoch(self) -> int:
        """The epoch that the next iteration uses."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch`` for the next iterations (also forwarded to ``sampler.set_epoch`` when it has one).

        >>> class Tiny:
        ...     def __len__(self):
        ...         return 4
        ...     def get_multi(self, items=None, keys=None, **kwargs):
        ...         return [{"y": i % 2} for i in range(4)]
        >>> sampler = BatchSamplerDefault(Tiny(), "y", batch_size=2, seed=7)
        >>> sampler.set_epoch(3)
        >>> list(sampler) == list(sampler)
        True
        """
        as_int = int_or_none(epoch)
        if as_int is None or as_int < 0:
            raise ValueError(f"BatchSamplerDefault: epoch must be an int >= 0, got {epoch!r}")
        self._epoch = as_int
        self._auto_epoch = False
        forward = getattr(self.sampler, "set_epoch", None)
        if callable(forward):
            forward(as_int)

    def __len__(self) -> int:
        """The number of batches of one iteration."""
        return self._compute_num_batches(self._share_class_sizes(self._world()))

    def __iter__(self) -> Iterator[list[int]]:
        """The batches of the current epoch (lists of dataset indices).

        The epoch is read when the first batch is drawn, not when ``iter()`` is called: Lightning creates the
        loader's iterator before it calls ``set_epoch`` at the start of an epoch (and of a resumed fit).
        """
        epoch = self._epoch
        if self._auto_epoch:
            self._epoch += 1
        yield from self._batches(epoch)

    def _agreed_seed(self, world: tuple[int, int] | None) -> int:
        """The seed, the same on every rank: with ``seed=None`` under ``torch.distributed``, rank 0's."""
        if self._seed_agreed:
            return self._seed
        dist = sys.modules.get("torch.distributed")
        if _torch_world() is not None and dist is not None:
            if int(dist.get_world_size()) > 1:
                seeds = [self._seed]
                dist.broadcast_object_list(seeds, src=0)  # a collective: every rank iterates, so every rank calls
                self._seed = int(seeds[0])
            self._seed_agreed = True
        elif world is not None and world[0] > 1 and self.sampler is None:
            raise ValueError(
                f"BatchSamplerDefault: seed=None with num_replicas={world[0]} and torch.distributed not initialized: "
                "each process drew its own seed, so the ranks would shuffle differently and their shares would "
                "overlap and miss samples; pass the same seed=<int> on every rank, or iterate after "
                "torch.distributed.init_process_group (rank 0's seed is then broadcast)"
            )
        return self._seed

    def _batches(self, epoch: int) -> Iterator[list[int]]:
        world = self._world()
        seed = self._agreed_seed(world)
        rng = np.random.default_rng([seed, epoch])
        rank = world[1] if world is not None else 0
        if self.sampler is not None:
            share = self._sampler_indices()
        elif world is not None and world[0] > 1:
            permutation = rng.permutation(len(self._sample_class))
            grouped = permutation[np.argsort(self._sample_class[permutation], kind="stable")]
            share = grouped[world[1] :: world[0]]
        else:
            share = np.arange(len(self._sample_class))
        if world is not None and world[0] > 1:
            rng = np.random.default_rng([seed, epoch, rank])  # a stream of its own on every rank
        num_batches = self._compute_num_batches(self._share_class_sizes(world, share))

        share_classes = self._sample_class[share]
        pools: list[np.ndarray[Any, np.dtype[np.int64]]] = []
        for c, value in enumerate(self._classes):
            pool = share[share_classes == c]
            if self._sampled[c] and len(pool) == 0:
                raise ValueError(
                    f"BatchSamplerDefault: class {value!r} (of {self._balanced_class_name!r}) has a positive weight "
                    f"but no sample in the share of rank {rank} ({len(share)} indices); every sampled class needs "
                    "samples on every rank: use fewer processes, give it weight 0, or gather more samples of it"
                )
            rng.shuffle(pool)
            pools.append(pool)
        if self._verbose:
            sizes = {value: len(pool) for value, pool in zip(self._classes, pools, strict=True)}
            _LOGGER.info("BatchSamplerDefault: epoch %d, rank %d: class sizes %s", epoch, rank, sizes)
        pointers = [0] * len(pools)

        for _ in range(num_batches):
            counts = self._counts if self._counts is not None else rng.multinomial(self.batch_size, self._p_float)
            batch: list[int] = []
            for c, count in enumerate(counts):
                needed = int(count)
                while needed > 0:
                    pool = pools[c]
                    take = min(needed, len(pool) - pointers[c])
                    batch.extend(pool[pointers[c] : pointers[c] + take].tolist())
                    pointers[c] += take
                    needed -= take
                    if pointers[c] == len(pool):  # used up: reshuffle
                        rng.shuffle(pool)
                        pointers[c] = 0
            rng.shuffle(batch)
            yield batch

    def __repr__(self) -> str:
        return (
            f"BatchSamplerDefault(balanced_class_name={self._balanced_class_name!r}, batch_size={self.batch_size}, "
            f"mode={self._mode!r}, classes={self._classes!r}, seed={self._seed})"
        )
