"""``PipelineDefault``: ops run in order on a sample, with drop and split semantics, reverse, and a cache identity."""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from fuse.core import NDict, create_initial_sample
from fuse.data.cache._identity import value_identity
from fuse.data.ops._base import OpReversibleBase, SampleResult, op_call, op_reverse

__all__ = [
    "BOOKKEEPING_PREFIX",
    "PipelineDefault",
    "PipelineDefaultRetryAnySample",
    "as_pipeline_sample",
    "is_bookkeeping_key",
]

# ops write what reverse needs (and debug info) under "<prefix>.<pipeline name>.<op id>"; collate skips it
BOOKKEEPING_PREFIX = "internal"
OpAndKwargs = tuple[Any, Mapping[str, Any]]


def is_bookkeeping_key(key: str) -> bool:
    """Whether ``key`` is the bookkeeping namespace or lies under it: ops that apply to every key skip it, and
    collate leaves it out of the batch. A sample key named exactly ``internal`` counts, since it would block
    every op's bookkeeping writes under ``internal.``.

    >>> [is_bookkeeping_key(key) for key in ("internal", "internal.static.0", "internals", "data.internal")]
    [True, True, False, False]
    """
    return key == BOOKKEEPING_PREFIX or key.startswith(BOOKKEEPING_PREFIX + ".")


_log = logging.getLogger("fuse.data")


def as_pipeline_sample(result: Any, who: str, *, may_split: bool = True) -> NDict:
    """An op's result that is one sample, as an ``NDict``; anything else raises a ``TypeError`` naming ``who``."""
    if isinstance(result, NDict):
        return result
    if isinstance(result, dict):
        return NDict(result)
    allowed = "the sample (a dict), None to drop it, or a list of samples to split it"
    raise TypeError(
        f"{who} returned {type(result).__name__}; an op returns "
        + (allowed if may_split else "the sample (a dict) or None to drop it")
    )


class PipelineDefault(OpReversibleBase):
    """A sequence of ``(op, kwargs)`` applied in order (FuseMedML's ``PipelineDefault``).

    An op may return ``None`` to drop the sample or a list to split it: the following ops run on every part, a
    dropped part is left out, and the call returns one sample, a list of samples, or ``None`` when nothing is left.
    Each op gets ``op_id = f"{op_id}.{sub_op_id}"`` (``op_id`` defaults to ``"internal.<name>"``).

    >>> from fuse.core import create_initial_sample
    >>> def add(sample, key, amount):
    ...     sample[key] = sample[key] + amount
    ...     return sample
    >>> pipeline = PipelineDefault("static", [(add, {"key": "x", "amount": 1}), (add, {"key": "x", "amount": 10})])
    >>> sample = create_initial_sample("s1")
    >>> sample["x"] = 0
    >>> pipeline(sample)["x"]
    11
    """

    def __init__(
        self,
        name: str,
        ops_and_kwargs: Sequence[OpAndKwargs],
        op_ids: Sequence[str] | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__()
        self._name = name
        self._ops_and_kwargs: list[tuple[Any, dict[str, Any]]] = []
        self._op_ids: list[str] = []
        self._verbose = verbose
        self.extend(ops_and_kwargs, op_ids)

    # ------------------------------------------------------------------ structure
    def extend(self, ops_and_kwargs: Sequence[OpAndKwargs], op_ids: Sequence[str] | None = None) -> None:
        """Append ops; ``op_ids`` default to their positions (``"0"``, ``"1"``, ...) and must stay unique."""
        ops_and_kwargs = list(ops_and_kwargs)
        if op_ids is None:
            op_ids = [str(index) for index in range(len(self._op_ids), len(self._op_ids) + len(ops_and_kwargs))]
        op_ids = [str(op_id) for op_id in op_ids]
        if len(op_ids) != len(ops_and_kwargs):
            raise ValueError(
                f"pipeline {self._name!r}: {len(op_ids)} op_ids for {len(ops_and_kwargs)} ops; give one id per op"
            )
        for position, entry in enumerate(ops_and_kwargs):
            if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], Mapping)):
                raise TypeError(
                    f"pipeline {self._name!r}: entry {position} must be a tuple (op, kwargs dict), got {entry!r}"
                )
            if isinstance(entry[0], type) or not callable(entry[0]):
                raise TypeError(f"pipeline {self._name!r}: entry {position} holds {entry[0]!r}, not an op instance")
        duplicated = sorted({op_id for op_id in [*self._op_ids, *op_ids] if [*self._op_ids, *op_ids].count(op_id) > 1})
        if duplicated:
            raise ValueError(f"pipeline {self._name!r}: op_ids must be unique, repeated: {duplicated}")
        self._ops_and_kwargs.extend((op, dict(kwargs)) for op, kwargs in ops_and_kwargs)
        self._op_ids.extend(op_ids)

    @property
    def ops(self) -> list[Any]:
        """The ops, in order."""
        return [op for op, _ in self._ops_and_kwargs]

    @property
    def ops_and_kwargs(self) -> list[tuple[Any, dict[str, Any]]]:
        """``(op, kwargs)`` pairs, in order (copies of the lists, not of the ops)."""
        return [(op, dict(kwargs)) for op, kwargs in self._ops_and_kwargs]

    @property
    def op_ids(self) -> list[str]:
        """The op ids, in order."""
        return list(self._op_ids)

    def get_name(self) -> str:
        return self._name

    def copy(self) -> PipelineDefault:
        """A new pipeline with the same ops (shared) and its own lists, so ``extend`` on it leaves this one alone."""
        return PipelineDefault(self._name, self.ops_and_kwargs, self.op_ids, self._verbose)

    def __len__(self) -> int:
        return len(self._ops_and_kwargs)

    def __repr__(self) -> str:
        ops = ", ".join(f"{op_id}: {op!r}" for op_id, (op, _) in zip(self._op_ids, self._ops_and_kwargs, strict=True))
        return f"PipelineDefault({self._name!r}, [{ops}])"

    def cache_identity(self) -> str:
        """A digest of every op id, op identity and per-op kwargs, in order: the key of this pipeline's cache."""
        digest = hashlib.sha256()
        for op_id, (op, kwargs) in zip(self._op_ids, self._ops_and_kwargs, strict=True):
            where = f"pipeline {self._name!r} op {op_id!r}"
            digest.update(f"{op_id}|{value_identity(op, where)}|".encode())
            digest.update(value_identity(kwargs, f"{where} kwargs").encode())
        return digest.hexdigest()

    # ------------------------------------------------------------------ running
    def __call__(
        self, sample_dict: NDict, op_id: str | None = None, until_op_id: str | None = None, **kwargs: Any
    ) -> SampleResult:
        """Run the ops (up to and including ``until_op_id``) on ``sample_dict``."""
        if kwargs:
            raise TypeError(f"pipeline {self._name!r} takes no per-call kwargs, got {sorted(kwargs)}")
        if until_op_id is not None and str(until_op_id) not in self._op_ids:
            raise ValueError(f"pipeline {self._name!r} has no op_id {until_op_id!r}; its op_ids: {self._op_ids}")
        op_id = op_id if op_id is not None else f"{BOOKKEEPING_PREFIX}.{self._name}"
        samples: list[NDict] = [sample_dict]
        for sub_op_id, (op, op_kwargs) in zip(self._op_ids, self._ops_and_kwargs, strict=True):
            start = time.perf_counter()
            following: list[NDict] = []
            for sample in samples:
                following.extend(self._as_samples(op_call(op, sample, f"{op_id}.{sub_op_id}", **op_kwargs), op))
            if self._verbose:
                _log.info(
                    "pipeline %s op %s (%s): %.3f ms", self._name, sub_op_id, type(op).__name__,
                    1000 * (time.perf_counter() - start),
                )  # fmt: skip
            samples = following
            if not samples:
                return None
            if until_op_id is not None and sub_op_id == str(until_op_id):
                break
        return samples[0] if len(samples) == 1 else samples

    def _as_samples(self, result: Any, op: Any) -> list[NDict]:
        if result is None:
            return []
        if isinstance(result, list):
            return [self._as_sample(item, op) for item in result]
        return [self._as_sample(result, op)]

    def _as_sample(self, result: Any, op: Any) -> NDict:
        if isinstance(result, dict):  # a sample: no error message to build (an op's repr can cost a DataFrame's repr)
            return as_pipeline_sample(result, "")
        return as_pipeline_sample(result, f"pipeline {self._name!r}: op {op!r}")

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None = None) -> NDict:
        """Undo the ops in reverse order on ``key_to_reverse``, following what was done to ``key_to_follow``."""
        op_id = op_id if op_id is not None else f"{BOOKKEEPING_PREFIX}.{self._name}"
        for sub_op_id, (op, _) in reversed(list(zip(self._op_ids, self._ops_and_kwargs, strict=True))):
            sample_dict = op_reverse(op, sample_dict, key_to_reverse, key_to_follow, f"{op_id}.{sub_op_id}")
        return sample_dict


class PipelineDefaultRetryAnySample(PipelineDefault):
    """A pipeline that, when processing a sample raises, retries with another sample id drawn from ``sample_ids``
    (up to ``max_retry_attempts`` attempts in all, logging each retry). The last error is raised when every
    attempt fails.
    """

    def __init__(
        self,
        name: str,
        ops_and_kwargs: Sequence[OpAndKwargs],
        sample_ids: Sequence[Hashable],
        op_ids: Sequence[str] | None = None,
        verbose: bool = False,
        max_retry_attempts: int = 5,
    ) -> None:
        if max_retry_attempts < 1:
            raise ValueError(f"max_retry_attempts must be >= 1, got {max_retry_attempts!r}")
        if not sample_ids:
            raise ValueError("PipelineDefaultRetryAnySample needs the sample_ids to draw replacements from")
        super().__init__(name, ops_and_kwargs, op_ids, verbose)
        self._sample_ids = list(sample_ids)
        self._max_retry_attempts = max_retry_attempts

    def __call__(
        self, sample_dict: NDict, op_id: str | None = None, until_op_id: str | None = None, **kwargs: Any
    ) -> SampleResult:
        for attempt in range(self._max_retry_attempts):
            try:
                return super().__call__(sample_dict, op_id=op_id, until_op_id=until_op_id, **kwargs)
            except Exception as error:
                if attempt == self._max_retry_attempts - 1:
                    raise
                replacement = random.choice(self._sample_ids)
                _log.warning(
                    "pipeline %s failed on sample %r (%s: %s); retry %d with sample %r",
                    self._name, sample_dict.get("data.sample_id"), type(error).__name__, error, attempt + 1,
                    replacement,
                )  # fmt: skip
                sample_dict = create_initial_sample(replacement)
        raise AssertionError("unreachable")  # pragma: no cover
