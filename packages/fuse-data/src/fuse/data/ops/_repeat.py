"""``OpRepeat``: run one op several times on a sample, each time with its own extra keyword arguments.

The typical use is to apply the same op to a list of keys (an image and its segmentation, two views, ...). Step
``i`` runs with ``op_id = f"{op_id}_{i}"``, so a reversible inner op keeps one record per step, and
:meth:`OpRepeat.reverse` undoes the steps last to first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fuse.core import NDict
from fuse.data.ops._base import OpReversibleBase, SampleResult, op_call, op_reverse

__all__ = ["OpRepeat"]


class OpRepeat(OpReversibleBase):
    """Call ``op`` once per dict in ``kwargs_per_step_to_add``, with the pipeline's kwargs updated by that dict
    (the step's values win).

    Step ``i`` gets ``op_id = f"{op_id}_{i}"`` and the op's class name is written to
    ``sample[f"{op_id}_{i}_debug_info.op_name"]`` (FuseMedML's keys; inside a pipeline they live under the
    ``internal.`` bookkeeping prefix). Called without an ``op_id`` (outside a pipeline), the steps get
    ``op_id=None`` and no debug info is written. An inner op that drops the sample (returns ``None``) drops it
    for the whole repeat; splitting a sample (returning a list) inside a repeat is an error.

    >>> from fuse.core import create_initial_sample
    >>> def scale(sample, key, factor):
    ...     sample[key] = sample[key] * factor
    ...     return sample
    >>> repeat = OpRepeat(scale, [{"key": "data.image"}, {"key": "data.seg", "factor": 3}])
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.image"], sample["data.seg"] = 1, 1
    >>> sample = repeat(sample, op_id="internal.static.0", factor=2)
    >>> sample["data.image"], sample["data.seg"]
    (2, 3)
    >>> sample["internal.static.0_1_debug_info.op_name"]
    'function'
    """

    def __init__(self, op: Callable[..., Any], kwargs_per_step_to_add: Sequence[Mapping[str, Any]]) -> None:
        super().__init__()
        if isinstance(op, type) or not callable(op):
            name = op.__qualname__ if isinstance(op, type) else repr(op)
            raise TypeError(
                f"OpRepeat needs an op instance (or a function), got {name}; write e.g. OpRepeat(MyOp(), ...)"
            )
        if isinstance(kwargs_per_step_to_add, (str, bytes, Mapping)) or not isinstance(
            kwargs_per_step_to_add, Sequence
        ):
            raise TypeError(
                "OpRepeat kwargs_per_step_to_add must be a list of dicts, one per step, got "
                f"{kwargs_per_step_to_add!r}; e.g. [dict(key='data.image'), dict(key='data.seg')]"
            )
        for index, step in enumerate(kwargs_per_step_to_add):
            if not isinstance(step, Mapping):
                raise TypeError(
                    f"OpRepeat kwargs_per_step_to_add[{index}] must be a dict of keyword arguments, got {step!r}"
                )
        self._op = op
        self._kwargs_per_step_to_add = [dict(step) for step in kwargs_per_step_to_add]

    @property
    def op(self) -> Callable[..., Any]:
        """The repeated op."""
        return self._op

    @property
    def kwargs_per_step_to_add(self) -> list[dict[str, Any]]:
        """The extra keyword arguments of each step (a copy)."""
        return [dict(step) for step in self._kwargs_per_step_to_add]

    def __call__(self, sample_dict: NDict, op_id: str | None = None, **kwargs: Any) -> SampleResult:
        """Run the steps in order; returns the sample, or ``None`` if a step dropped it."""
        for index, step_kwargs_to_add in enumerate(self._kwargs_per_step_to_add):
            step_kwargs = {**kwargs, **step_kwargs_to_add}
            step_id = _step_id(op_id, index)
            if step_id is not None:
                sample_dict[f"{step_id}_debug_info.op_name"] = type(self._op).__name__
            result = op_call(self._op, sample_dict, step_id, **step_kwargs)
            if result is None:
                return None
            if isinstance(result, list):
                raise TypeError(
                    f"OpRepeat step {index} ({type(self._op).__name__}, op_id {step_id!r}) split the sample into "
                    f"{len(result)} samples; splitting inside OpRepeat is not supported: put the splitting op "
                    "directly in the pipeline"
                )
            if not isinstance(result, Mapping):
                raise TypeError(
                    f"OpRepeat step {index} ({type(self._op).__name__}) returned {type(result).__name__}; an op "
                    "returns the sample (a dict) or None to drop it"
                )
            sample_dict = result if isinstance(result, NDict) else NDict(result)
        return sample_dict

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None) -> NDict:
        """Reverse every step, last to first, each with its own step op id."""
        for index in reversed(range(len(self._kwargs_per_step_to_add))):
            sample_dict = op_reverse(self._op, sample_dict, key_to_reverse, key_to_follow, _step_id(op_id, index))
        return sample_dict


def _step_id(op_id: str | None, index: int) -> str | None:
    return None if op_id is None else f"{op_id}_{index}"
