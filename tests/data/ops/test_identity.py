"""Every op: a cache identity that follows its arguments, a readable repr, and pickling for workers."""

from __future__ import annotations

import pickle
from enum import Enum
from typing import Any

import numpy as np
import pytest

from fuse.core import NDict, create_initial_sample
from fuse.data import (
    OpApplyPatterns,
    OpApplyTypes,
    OpBase,
    OpCollectMarker,
    OpConcat,
    OpCond,
    OpCopy,
    OpDeleteKeypaths,
    OpFunc,
    OpKeepKeypaths,
    OpLambda,
    OpLookup,
    OpReplaceElements,
    OpReversibleBase,
    OpSet,
    OpSetIfNotExist,
    OpSetRandomChoice,
    OpToOneHot,
    OpZScoreNorm,
    PipelineDefault,
    TypeDetectorPatternsBased,
)


def _sample(sample_id: str = "case_7", **values: Any) -> NDict:
    sample = create_initial_sample(sample_id)
    for key, value in values.items():
        sample[key.replace("__", ".")] = value
    return sample


class DataType(Enum):
    IMAGE = 0
    SEG = 1


DETECTOR = TypeDetectorPatternsBased({r".*img$": DataType.IMAGE, r".*seg$": DataType.SEG})


# ---------------------------------------------------------------------------------------------- cache identity
def _identity(op: Any, kwargs: dict[str, Any] | None = None) -> str:
    return PipelineDefault("p", [(op, kwargs or {})]).cache_identity()


def _negate(x: Any) -> Any:
    return -x


def _invert(x: Any) -> Any:
    return ~x


IDENTITY_CASES: list[tuple[Any, Any, Any]] = [
    # (factory of the op, argument, changed argument)
    (OpLambda, _negate, _invert),
    (lambda f: OpLambda(_negate, func_reverse=f), _negate, _invert),
    (OpFunc, _negate, _invert),
    (OpApplyPatterns, {"a": (OpSet(), {}), "b": (OpSet(), {})}, {"b": (OpSet(), {}), "a": (OpSet(), {})}),
    (OpApplyPatterns, {"a": (OpSet(), {"v": 1})}, {"a": (OpSet(), {"v": 2})}),
    (lambda d: OpApplyTypes(d, DETECTOR), {DataType.IMAGE: (OpSet(), {})}, {DataType.SEG: (OpSet(), {})}),
    (
        lambda p: OpApplyTypes({DataType.IMAGE: (OpSet(), {})}, TypeDetectorPatternsBased(p)),
        {".*img$": DataType.IMAGE},
        {".*image$": DataType.IMAGE},
    ),
    (OpCond, OpSet(), OpSetIfNotExist()),
    (lambda n: OpCollectMarker(n, ["a"]), "sampler", "export"),
    (lambda d: OpCollectMarker("m", d), ["a"], ["a", "b"]),
    (OpLookup, {"a": 0}, {"a": 1}),
    (lambda e: OpLookup({"a": 0}, not_exist_error=e), True, False),
    (OpToOneHot, 2, 3),
    (OpCopy, "reference", "deep"),
    (lambda s: OpSetRandomChoice(seed=s), 0, 1),
]


@pytest.mark.parametrize(("factory", "argument", "changed"), IDENTITY_CASES)
def test_cache_identity_follows_constructor_arguments(factory: Any, argument: Any, changed: Any) -> None:
    assert _identity(factory(argument)) == _identity(factory(argument))
    assert _identity(factory(argument)) != _identity(factory(changed))


@pytest.mark.parametrize(
    ("op", "kwargs", "changed"),
    [
        (OpSet(), {"key": "a", "value": np.arange(3)}, {"key": "a", "value": np.arange(4)}),
        (OpKeepKeypaths(), {"keep_keypaths": ["a"]}, {"keep_keypaths": ["b"]}),
        (OpZScoreNorm(), {"key": "a", "mean": 0.0, "std": 1.0}, {"key": "a", "mean": 0.0, "std": 2.0}),
        (
            OpReplaceElements(),
            {"key_in": "a", "find_val": 0, "replace_with_val": 1},
            {"key_in": "a", "find_val": 0, "replace_with_val": 2},
        ),
        (OpConcat(), {"keys_in": ["a", "b"], "key_out": "c"}, {"keys_in": ["b", "a"], "key_out": "c"}),
    ],
)
def test_cache_identity_follows_per_op_kwargs(op: Any, kwargs: dict[str, Any], changed: dict[str, Any]) -> None:
    assert _identity(op, kwargs) == _identity(type(op)(), dict(kwargs))
    assert _identity(op, kwargs) != _identity(op, changed)


def test_cache_identity_of_different_op_classes_differs() -> None:
    assert _identity(OpSet(), {"key": "a", "value": 1}) != _identity(OpSetIfNotExist(), {"key": "a", "value": 1})
    assert _identity(OpKeepKeypaths(), {"keep_keypaths": ["a"]}) != _identity(OpDeleteKeypaths(), {"keypaths": ["a"]})


def test_ops_are_op_instances_with_readable_repr() -> None:
    assert isinstance(OpSet(), OpBase)
    assert isinstance(OpLambda(abs), OpReversibleBase)
    assert repr(OpLookup({"a": 1})) == "OpLookup(map={'a': 1}, not_exist_error=True)"
    assert repr(OpCopy()) == "OpCopy(copy_mode='reference')"


def test_ops_survive_pickling_for_dataloader_workers() -> None:
    ops = [
        OpApplyPatterns({r".*img$": (OpSet(), {"value": 1})}),
        OpApplyTypes({DataType.IMAGE: (OpToOneHot(2), {})}, DETECTOR),
        OpSetRandomChoice(seed=3),
        OpCollectMarker("sampler", ["data.label"]),
        OpLambda(_negate, func_reverse=_negate),
    ]
    for op in ops:
        restored = pickle.loads(pickle.dumps(op))
        assert restored.cache_identity() == op.cache_identity()
    restored_choice = pickle.loads(pickle.dumps(ops[2]))
    assert [restored_choice(_sample(), key="v", values=list(range(50)))["v"] for _ in range(5)] == [
        ops[2](_sample(), key="v", values=list(range(50)))["v"] for _ in range(5)
    ]
