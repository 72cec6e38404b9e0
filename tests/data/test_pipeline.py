"""PipelineDefault: order, drop and split, until_op_id, reverse in the documented argument order, errors."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from fuse.core import NDict, create_initial_sample
from fuse.data import (
    BOOKKEEPING_PREFIX,
    OpBase,
    OpReversibleBase,
    PipelineDefault,
    PipelineDefaultRetryAnySample,
    op_call,
    op_reverse,
)


class OpAddReversible(OpReversibleBase):
    """x + amount on `key`; remembers the key under op_id so that reverse subtracts on the followed key."""

    def __init__(self, amount: float) -> None:
        super().__init__()
        self._amount = amount

    def __call__(self, sample_dict: NDict, op_id: str | None = None, key: str = "x") -> NDict:
        sample_dict[key] = sample_dict[key] + self._amount
        sample_dict[op_id] = key
        return sample_dict

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None) -> NDict:
        if sample_dict[op_id] == key_to_follow:
            sample_dict[key_to_reverse] = sample_dict[key_to_reverse] - self._amount
        return sample_dict


class OpSplit(OpBase):
    def __call__(self, sample_dict: NDict, parts: int) -> list[NDict]:
        samples = []
        for index in range(parts):
            part = create_initial_sample(
                sample_dict["data.initial_sample_id"], f"{sample_dict['data.sample_id']}_{index}"
            )
            part["x"] = sample_dict["x"] + index
            samples.append(part)
        return samples


class OpDropOdd(OpBase):
    def __call__(self, sample_dict: NDict) -> NDict | None:
        return None if sample_dict["x"] % 2 else sample_dict


def _sample(value: int, sample_id: str = "s") -> NDict:
    sample = create_initial_sample(sample_id)
    sample["x"] = value
    return sample


def test_ops_run_in_order_and_reverse_undoes_them_with_the_documented_argument_order() -> None:
    pipeline = PipelineDefault("static", [(OpAddReversible(1), {"key": "x"}), (OpAddReversible(10), {"key": "x"})])
    sample = pipeline(_sample(5))
    assert sample["x"] == 16
    assert sample[f"{BOOKKEEPING_PREFIX}.static.0"] == "x"  # bookkeeping under the reserved prefix
    sample["y"] = sample["x"]
    reversed_sample = pipeline.reverse(sample, key_to_reverse="y", key_to_follow="x")
    assert reversed_sample["y"] == 5  # FuseMedML's pipeline left it at 16 (arguments passed shuffled)
    assert pipeline.reverse(sample, key_to_reverse="x", key_to_follow="other")["x"] == 16


def test_split_and_drop() -> None:
    pipeline = PipelineDefault("static", [(OpSplit(), {"parts": 3}), (OpDropOdd(), {})])
    result = pipeline(_sample(4, "case"))
    assert isinstance(result, list)
    assert [s["data.sample_id"] for s in result] == ["case_0", "case_2"]  # the odd part alone is dropped
    assert pipeline(_sample(3)) is not None
    assert PipelineDefault("p", [(OpDropOdd(), {})])(_sample(3)) is None
    single = PipelineDefault("p", [(OpSplit(), {"parts": 1})])(_sample(3))
    assert isinstance(single, NDict)


def test_until_op_id_extend_copy_and_identity() -> None:
    pipeline = PipelineDefault("p", [(OpAddReversible(1), {})], op_ids=["first"])
    extended = pipeline.copy()
    extended.extend([(OpAddReversible(2), {})], op_ids=["second"])
    assert len(pipeline) == 1
    assert len(extended) == 2
    assert extended.op_ids == ["first", "second"]
    assert extended(_sample(0), until_op_id="first")["x"] == 1
    assert extended(_sample(0))["x"] == 3
    assert extended.cache_identity() != pipeline.cache_identity()
    assert pipeline.copy().cache_identity() == pipeline.cache_identity()
    with pytest.raises(ValueError, match="no op_id 'third'"):
        extended(_sample(0), until_op_id="third")
    with pytest.raises(ValueError, match="op_ids must be unique"):
        extended.extend([(OpAddReversible(3), {})], op_ids=["first"])


def test_bad_pipelines_and_ops_raise_clearly() -> None:
    with pytest.raises(TypeError, match="not an op instance"):
        PipelineDefault("p", [(OpAddReversible, {})])
    with pytest.raises(TypeError, match=r"tuple \(op, kwargs dict\)"):
        PipelineDefault("p", [OpAddReversible(1)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="2 op_ids for 1 ops"):
        PipelineDefault("p", [(OpAddReversible(1), {})], op_ids=["a", "b"])
    with pytest.raises(TypeError, match="returned int"):
        PipelineDefault("p", [(lambda sample: 3, {})])(_sample(0))
    with pytest.raises(TypeError, match="not an instance"):
        op_call(OpAddReversible, _sample(0), "0")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes need Python 3.11")
def test_an_error_names_the_op_the_op_id_and_the_sample() -> None:
    pipeline = PipelineDefault("static", [(OpAddReversible(1), {"key": "missing.key"})])
    with pytest.raises(KeyError) as caught:
        pipeline(_sample(0, "patient_7"))
    assert "in op OpAddReversible(amount=1) (op_id 'internal.static.0') on sample 'patient_7'" in caught.value.__notes__


def test_op_reverse_of_a_plain_callable_leaves_the_sample() -> None:
    sample = _sample(1)
    assert op_reverse(lambda s: s, sample, "x", "x", "0") is sample


def test_retry_pipeline_replaces_a_failing_sample(caplog: pytest.LogCaptureFixture) -> None:
    def load(sample: NDict) -> NDict:
        if sample["data.sample_id"] == "broken":
            raise OSError("unreadable file")
        sample["x"] = 1
        return sample

    pipeline = PipelineDefaultRetryAnySample("p", [(load, {})], sample_ids=["good"], max_retry_attempts=2)
    with caplog.at_level(logging.WARNING, logger="fuse.data"):
        result: Any = pipeline(create_initial_sample("broken"))
    assert result["data.sample_id"] == "good"
    assert "retry 1 with sample 'good'" in caplog.text
    never = PipelineDefaultRetryAnySample("p", [(load, {})], sample_ids=["broken"], max_retry_attempts=2)
    with pytest.raises(OSError, match="unreadable"):
        never(create_initial_sample("broken"))


class _OpWithCostlyRepr(OpBase):
    """An op whose repr is expensive (like OpReadDataframe holding a DataFrame): counts how often it is built."""

    reprs = 0

    def __call__(self, sample_dict: NDict) -> Any:
        return sample_dict if sample_dict["data.sample_id"] != "bad" else 3

    def __repr__(self) -> str:
        type(self).reprs += 1
        return "OpWithCostlyRepr()"


def test_a_sample_passing_through_does_not_build_the_ops_error_text() -> None:
    pipeline = PipelineDefault("costly", [(_OpWithCostlyRepr(), {})])
    for sample_id in range(20):
        pipeline(create_initial_sample(sample_id))
    assert _OpWithCostlyRepr.reprs == 0
    with pytest.raises(TypeError, match=r"op OpWithCostlyRepr\(\) returned int"):
        pipeline(create_initial_sample("bad"))
