"""Control ops: OpLambda, OpFunc, OpApplyPatterns, OpApplyTypes, OpCond, OpCollectMarker."""

from __future__ import annotations

from enum import Enum
from typing import Any

import numpy as np
import pytest

from fuse.core import NDict, create_initial_sample
from fuse.data import (
    CollateDefault,
    MissingSampleKeyError,
    OpApplyPatterns,
    OpApplyTypes,
    OpBase,
    OpCollectMarker,
    OpCond,
    OpFunc,
    OpLambda,
    OpLookup,
    OpSet,
    PipelineDefault,
    TypeDetectorBase,
    TypeDetectorPatternsBased,
    find_collect_marker,
)


def _sample(sample_id: str = "case_7", **values: Any) -> NDict:
    sample = create_initial_sample(sample_id)
    for key, value in values.items():
        sample[key.replace("__", ".")] = value
    return sample


def _add(amount: int) -> OpLambda:
    return OpLambda(lambda x: x + amount, func_reverse=lambda x: x - amount)


class DataType(Enum):
    IMAGE = 0
    SEG = 1


DETECTOR = TypeDetectorPatternsBased({r".*img$": DataType.IMAGE, r".*seg$": DataType.SEG})


_MARK = OpLambda(lambda x: f"<{x}>")


class _AnyType(TypeDetectorBase):
    def get_type(self, sample_dict: NDict, key: str) -> Any:
        return "any"


ANY_TYPE = _AnyType()


class OpDrop(OpBase):
    def __call__(self, sample_dict: NDict, **kwargs: Any) -> None:
        return None


class OpSplitInTwo(OpBase):
    def __call__(self, sample_dict: NDict, **kwargs: Any) -> list[NDict]:
        return [sample_dict, sample_dict.copy()]


# ---------------------------------------------------------------------------------------------- OpLambda
def test_op_lambda_on_a_key_with_kwargs_and_bookkeeping() -> None:
    op = OpLambda(lambda x, factor: x * factor)
    sample = op(_sample(data__x=3), op_id="internal.p.0", key="data.x", factor=4)
    assert sample["data.x"] == 12
    assert sample["internal.p.0"] == "data.x"


def test_op_lambda_without_op_id_writes_no_bookkeeping() -> None:
    sample = OpLambda(lambda x: -x)(_sample(data__x=3), key="data.x")
    assert sample["data.x"] == -3
    assert [k for k in sample.keypaths() if not k.startswith("data.")] == []


def test_op_lambda_on_the_whole_sample() -> None:
    def add_field(sample: NDict, value: int) -> dict[str, Any]:
        return {**sample.to_dict(), "data.y": value}  # a plain dict comes back as an NDict

    sample = OpLambda(add_field)(_sample(data__x=1), op_id="internal.p.0", value=5)
    assert isinstance(sample, NDict)
    assert sample["data.y"] == 5
    assert sample["data.x"] == 1
    assert sample["internal.p.0"] is None
    assert OpLambda(lambda sample: None)(_sample(), op_id="i.p.0") is None  # drop
    with pytest.raises(TypeError, match="func must return the sample"):
        OpLambda(lambda sample: 3)(_sample(), op_id="i.p.0")


def test_op_lambda_missing_key_names_the_op_key_and_sample() -> None:
    with pytest.raises(MissingSampleKeyError, match=r"OpLambda: sample 'case_7' has no key 'data.nope'"):
        OpLambda(lambda x: x)(_sample(), op_id="i.p.0", key="data.nope")


def test_op_lambda_reverse_inside_pipeline_restores_followed_key() -> None:
    pipeline = PipelineDefault("p", [(_add(1), {"key": "data.x"}), (_add(10), {"key": "data.y"})])
    sample = pipeline(_sample(data__x=5, data__y=0))
    assert (sample["data.x"], sample["data.y"]) == (6, 10)
    assert sample["internal.p.0"] == "data.x"
    assert sample["internal.p.1"] == "data.y"
    sample["model.pred"] = 6
    reversed_sample = pipeline.reverse(sample, key_to_reverse="model.pred", key_to_follow="data.x")
    assert reversed_sample["model.pred"] == 5  # only op 0 (applied to data.x) was undone
    sample["data.x_copy"] = sample["data.x"]
    assert pipeline.reverse(sample, "data.x", "data.x")["data.x"] == 5  # reverse the followed key itself
    assert pipeline.reverse(sample, "data.y", "data.y")["data.y"] == 0


def test_op_lambda_reverse_of_whole_sample_and_errors() -> None:
    op = OpLambda(lambda s: s | {"data.z": 1}, func_reverse=lambda s: s | {"data.z": 0})
    sample = op(_sample(), op_id="i.p.0")
    assert op.reverse(sample, "data.z", "anything", "i.p.0")["data.z"] == 0
    no_reverse = OpLambda(lambda x: x + 1)
    sample = no_reverse(_sample(data__x=1), op_id="i.p.0", key="data.x")
    assert no_reverse.reverse(sample, "data.x", "data.other", "i.p.0")["data.x"] == 2  # not followed: untouched
    with pytest.raises(ValueError, match="has no func_reverse"):
        no_reverse.reverse(sample, "data.x", "data.x", "i.p.0")
    with pytest.raises(MissingSampleKeyError, match=r"'i.p.9'"):
        no_reverse.reverse(sample, "data.x", "data.x", "i.p.9")
    with pytest.raises(ValueError, match="needs the op_id"):
        no_reverse.reverse(sample, "data.x", "data.x", None)
    with pytest.raises(TypeError, match="func must be callable"):
        OpLambda(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="func_reverse"):
        OpLambda(abs, func_reverse=3)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- OpFunc
def _split_name(full_name: str, sep: str = " ") -> tuple[str, str]:
    first, last = full_name.split(sep)
    return first, last


def test_op_func_outputs_inputs_and_kwargs() -> None:
    op = OpFunc(_split_name)
    sample = op(_sample(data__n="Ada_L"), inputs={"data.n": "full_name"}, outputs=["data.a", "data.b"], sep="_")
    assert (sample["data.a"], sample["data.b"]) == ("Ada", "L")
    sample = op(_sample(data__n="A B"), inputs={"data.n": "full_name"}, outputs="data.pair")
    assert sample["data.pair"] == ("A", "B")
    sample = OpFunc(lambda sample_dict: sample_dict["data.sample_id"].upper())(_sample(), inputs=None, outputs="id")
    assert sample["id"] == "CASE_7"
    assert op.reverse(sample, "id", "id", "i.p.0") is sample  # not reversible: unchanged


def test_op_func_errors() -> None:
    op = OpFunc(_split_name)
    with pytest.raises(ValueError, match="3 output keys"):
        op(_sample(data__n="A B"), inputs={"data.n": "full_name"}, outputs=["a", "b", "c"])
    with pytest.raises(ValueError, match="outputs is empty"):
        op(_sample(data__n="A B"), inputs={"data.n": "full_name"}, outputs=[])
    with pytest.raises(ValueError, match=r"\['full_name'\] come both from the sample"):
        op(_sample(data__n="A B"), inputs={"data.n": "full_name"}, outputs="o", full_name="x")
    with pytest.raises(MissingSampleKeyError, match=r"OpFunc: sample 'case_7' has no key 'data.n'"):
        op(_sample(), inputs={"data.n": "full_name"}, outputs="o")
    with pytest.raises(TypeError, match="inputs must map"):
        op(_sample(), inputs=["data.n"], outputs="o")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="func must be callable"):
        OpFunc("not callable")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- OpApplyPatterns
def test_op_apply_patterns_applies_first_match_and_merges_kwargs() -> None:
    scale = OpLambda(lambda x, factor: x * factor)
    op = OpApplyPatterns(
        {
            r".*\.cc\.img$": (scale, {"factor": 10}),
            r".*img$": (scale, {}),
            r".*seg$": (OpLambda(lambda x, factor: x + factor), {}),
        }
    )
    sample = op(_sample(data__cc__img=1, data__mlo__img=2, data__cc__seg=5, data__label=3), op_id="i.p.0", factor=2)
    assert sample["data.cc.img"] == 10  # the entry's kwargs win over the call's
    assert sample["data.mlo.img"] == 4
    assert sample["data.cc.seg"] == 7
    assert sample["data.label"] == 3
    assert sample["i.p.0_data.cc.img"] == "data.cc.img"  # inner op ids are f"{op_id}_{key}"


def test_op_apply_patterns_reverse_inside_pipeline() -> None:
    op = OpApplyPatterns({r".*img$": (_add(1), {}), r".*seg$": (_add(100), {})})
    pipeline = PipelineDefault("p", [(op, {})])
    sample = pipeline(_sample(data__img=0, data__seg=0))
    assert (sample["data.img"], sample["data.seg"]) == (1, 100)
    sample["model.seg"] = 150
    assert pipeline.reverse(sample, "model.seg", "data.seg")["model.seg"] == 50
    assert pipeline.reverse(sample, "model.seg", "data.img")["model.seg"] == 49
    # no pattern for the followed key: the sample comes back unchanged (FuseMedML returned None)
    assert pipeline.reverse(sample, "model.seg", "data.label")["model.seg"] == 49


def test_op_apply_patterns_skips_bookkeeping_keys_and_new_keys() -> None:
    everything = OpApplyPatterns({r".*": (OpLambda(lambda x: f"<{x}>"), {})})
    pipeline = PipelineDefault("p", [(OpSet(), {"key": "data.a", "value": "a"}), (everything, {})])
    sample = pipeline(create_initial_sample("s"))
    assert sample["data.a"] == "<a>"
    assert sample["data.sample_id"] == "<s>"
    assert sample["internal.p.1_data.a"] == "data.a"  # bookkeeping written by the inner ops is not processed


@pytest.mark.parametrize("op", [OpApplyPatterns({r".*": (_MARK, {})}), OpApplyTypes({"any": (_MARK, {})}, ANY_TYPE)])
def test_ops_applied_per_key_and_collate_agree_on_what_bookkeeping_is(op: Any) -> None:
    """One meaning: the bare ``internal`` key and every key under it; not ``internals`` or ``data.internal``."""
    sample = _sample(internal="x", internals="y", data__internal="z")
    result = op(sample)
    assert (result["internal"], result["internals"], result["data.internal"]) == ("x", "<y>", "<z>")
    batch = CollateDefault()([_sample(internal="x", internals="y")])
    assert sorted(batch.keys()) == ["data.initial_sample_id", "data.sample_id", "internals"]


def test_op_apply_patterns_drop_split_and_bad_arguments() -> None:
    drop = OpApplyPatterns({r".*img$": (OpDrop(), {})})
    assert drop(_sample(data__img=1), op_id="i.p.0") is None
    split = OpApplyPatterns({r".*img$": (OpSplitInTwo(), {})})
    with pytest.raises(TypeError, match="splitting is not supported"):
        split(_sample(data__img=1), op_id="i.p.0")
    op = OpApplyPatterns({r".*img$": (_add(1), {})})
    with pytest.raises(ValueError, match="sets `key`"):
        op(_sample(data__img=1), op_id="i.p.0", key="data.img")
    with pytest.raises(TypeError, match=r"must map to a tuple \(op, kwargs dict\)"):
        OpApplyPatterns({r".*": _add(1)})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="not an op instance"):
        OpApplyPatterns({r".*": (OpLambda, {})})
    assert OpApplyPatterns()(_sample(data__img=1), op_id="i.p.0")["data.img"] == 1


# ---------------------------------------------------------------------------------------------- OpApplyTypes
def test_op_apply_types_with_reversible_ops_in_pipeline() -> None:
    op = OpApplyTypes({DataType.IMAGE: (_add(1), {}), DataType.SEG: (_add(100), {})}, DETECTOR)
    pipeline = PipelineDefault("p", [(op, {})])
    sample = pipeline(_sample(data__cc__img=0, data__cc__seg=0, data__label=0))
    assert (sample["data.cc.img"], sample["data.cc.seg"], sample["data.label"]) == (1, 100, 0)
    sample["model.seg"] = 100
    assert pipeline.reverse(sample, "model.seg", "data.cc.seg")["model.seg"] == 0
    assert pipeline.reverse(sample, "model.seg", "data.label")["model.seg"] == 0  # unknown type: unchanged


def test_op_apply_types_kwargs_and_errors() -> None:
    scale = OpLambda(lambda x, factor: x * factor)
    op = OpApplyTypes({DataType.IMAGE: (scale, {"factor": 3})}, DETECTOR)
    assert op(_sample(data__img=2), op_id="i.p.0", factor=100)["data.img"] == 6
    nested = OpApplyTypes({DataType.IMAGE: (op, {})}, DETECTOR)
    with pytest.raises(ValueError, match="not supported"):
        nested(_sample(data__img=2), op_id="i.p.0")
    with pytest.raises(TypeError, match="TypeDetectorBase"):
        OpApplyTypes({}, type_detector={})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must map to a tuple"):
        OpApplyTypes({DataType.IMAGE: scale}, DETECTOR)  # type: ignore[dict-item]
    drop = OpApplyTypes({DataType.IMAGE: (OpDrop(), {})}, DETECTOR)
    assert drop(_sample(data__img=1), op_id="i.p.0") is None


# ---------------------------------------------------------------------------------------------- OpCond
def test_op_cond_bool_and_key_conditions() -> None:
    op = OpCond(OpLambda(lambda x: -x))
    assert op(_sample(x=1), op_id="i.p.0", condition=True, key="x")["x"] == -1
    assert op(_sample(x=1), op_id="i.p.0", condition=False, key="x")["x"] == 1
    assert op(_sample(x=1, flag=np.bool_(True)), op_id="i.p.0", condition="flag", key="x")["x"] == -1
    with pytest.raises(MissingSampleKeyError, match="OpCond: sample 'case_7' has no key 'flag'"):
        op(_sample(x=1), op_id="i.p.0", condition="flag", key="x")
    with pytest.raises(TypeError, match="op instance"):
        OpCond(OpLambda)


def test_op_cond_reverses_only_when_applied() -> None:
    pipeline = PipelineDefault("p", [(OpCond(_add(1)), {"condition": "data.flag", "key": "data.x"})])
    applied = pipeline(_sample(data__x=0, data__flag=True, model__x=10))
    skipped = pipeline(_sample(data__x=0, data__flag=False, model__x=10))
    assert (applied["data.x"], skipped["data.x"]) == (1, 0)
    assert pipeline.reverse(applied, "model.x", "data.x")["model.x"] == 9
    assert pipeline.reverse(skipped, "model.x", "data.x")["model.x"] == 10
    plain = OpCond(OpSet())  # not reversible: no bookkeeping, reverse does nothing
    sample = plain(_sample(), op_id="i.p.0", condition=True, key="a", value=1)
    assert "i.p.0_applied" not in sample
    assert plain.reverse(sample, "a", "a", "i.p.0") is sample


# ---------------------------------------------------------------------------------------------- OpCollectMarker
def test_op_collect_marker_is_an_identity_op_with_accessors() -> None:
    marker = OpCollectMarker("sampler", static_key_deps=["data.label", "data.meta"])
    sample = _sample(data__label=1)
    assert marker(sample, op_id="i.p.0") is sample
    assert marker.reverse(sample, "a", "b", "i.p.0") is sample
    assert marker.marker_name == "sampler"
    assert marker.static_key_deps == ("data.label", "data.meta")
    assert marker.get_info() == {"name": "sampler", "static_keys_deps": ["data.label", "data.meta"]}
    with pytest.raises(TypeError, match=r"write \['data.label'\]"):
        OpCollectMarker("sampler", static_key_deps="data.label")
    with pytest.raises(ValueError, match="non-empty string"):
        OpCollectMarker("", static_key_deps=[])


def test_find_collect_marker_and_run_until_it() -> None:
    marker = OpCollectMarker("sampler", ["data.label"])
    pipeline = PipelineDefault(
        "dynamic",
        [
            (OpLookup({"a": 0, "b": 1}), {"key_in": "data.label", "key_out": "data.label_id"}),
            (marker, {}),
            (OpSet(), {"key": "data.heavy", "value": 1}),
            (OpCollectMarker("export", []), {}),
        ],
    )
    op_id, found = find_collect_marker(pipeline, "sampler")
    assert (op_id, found) == ("1", marker)
    sample = pipeline(_sample(data__label="b"), until_op_id=op_id)
    assert sample["data.label_id"] == 1
    assert "data.heavy" not in sample
    with pytest.raises(
        ValueError, match=r"no OpCollectMarker named 'stats'; its collect markers: \['sampler', 'export'\]"
    ):
        find_collect_marker(pipeline, "stats")
    pipeline.extend([(OpCollectMarker("sampler", []), {})])
    with pytest.raises(ValueError, match=r"2 OpCollectMarkers \(op ids \['1', '4'\]\)"):
        find_collect_marker(pipeline, "sampler")
