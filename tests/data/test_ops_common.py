"""Common ops: semantics, edge cases, reverse inside pipelines, errors and stable cache identities."""

from __future__ import annotations

import pickle
import random
from enum import Enum
from typing import Any

import numpy as np
import pytest
import torch

from fuse.core import NDict, create_initial_sample
from fuse.data import (
    MissingSampleKeyError,
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
    OpOverrideNaN,
    OpReplaceAnyElements,
    OpReplaceElements,
    OpReversibleBase,
    OpSet,
    OpSetIfNotExist,
    OpSetRandomChoice,
    OpToOneHot,
    OpZScoreNorm,
    PipelineDefault,
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


# ---------------------------------------------------------------------------------------------- key management
def test_op_keep_keypaths() -> None:
    sample = _sample(data__img=1, data__meta__age=5, data__meta__sex="F", internal__p__0="x")
    kept = OpKeepKeypaths()(sample, keep_keypaths=["data.sample_id", "data.meta"])
    assert isinstance(kept, NDict)
    assert kept.keypaths() == ["data.sample_id", "data.meta.age", "data.meta.sex"]
    assert sample["data.img"] == 1  # the input is not modified
    with pytest.raises(MissingSampleKeyError, match=r"OpKeepKeypaths: sample 'case_7' has no key 'data.nope'"):
        OpKeepKeypaths()(sample, keep_keypaths=["data.nope"])
    with pytest.raises(TypeError, match="must be a list of keys"):
        OpKeepKeypaths()(sample, keep_keypaths="data.img")


def test_op_delete_keypaths() -> None:
    sample = _sample(data__img=1, data__meta__age=5, data__meta__sex="F")
    sample = OpDeleteKeypaths()(sample, keypaths=["data.img", "data.meta"])
    assert sorted(sample.keypaths()) == ["data.initial_sample_id", "data.sample_id"]
    with pytest.raises(MissingSampleKeyError, match=r"OpDeleteKeypaths: sample 'case_7' has no key 'data.img'"):
        OpDeleteKeypaths()(sample, keypaths=["data.img"])
    with pytest.raises(TypeError, match="must be a list of keys"):
        OpDeleteKeypaths()(sample, keypaths="data.sample_id")


def test_op_set_and_set_if_not_exist() -> None:
    sample = OpSet()(_sample(a=1), key="a", value=2)
    assert sample["a"] == 2
    sample = OpSet()(sample, key="data.meta", value={"age": 3})  # a mapping is nested
    assert sample["data.meta.age"] == 3
    sample = OpSetIfNotExist()(sample, key="a", value=5)
    assert sample["a"] == 2
    sample = OpSetIfNotExist()(sample, key="data.meta", value=5)  # a prefix counts as existing
    assert sample["data.meta.age"] == 3
    assert OpSetIfNotExist()(sample, key="b", value=5)["b"] == 5


@pytest.mark.parametrize("mode", ["reference", "shallow", "deep"])
def test_op_copy_modes(mode: str) -> None:
    inner = [1]
    sample = OpCopy(mode)(_sample(src=[inner]), key_source="src", key_dest="dst")
    assert sample["dst"] == [[1]]
    assert (sample["dst"] is sample["src"]) == (mode == "reference")
    assert (sample["dst"][0] is inner) == (mode != "deep")
    assert OpCopy(mode).copy_mode == mode


def test_op_copy_errors_and_branches() -> None:
    with pytest.raises(ValueError, match=r"unknown copy_mode 'copy'; use one of \['reference', 'shallow', 'deep'\]"):
        OpCopy("copy")
    with pytest.raises(MissingSampleKeyError, match="OpCopy: sample 'case_7' has no key 'src'"):
        OpCopy()(_sample(), key_source="src", key_dest="dst")
    sample = OpCopy("deep")(_sample(data__meta__age=np.ones(1)), key_source="data.meta", key_dest="backup.meta")
    sample["data.meta.age"][0] = 5
    assert sample["backup.meta.age"][0] == 1


def test_op_set_random_choice_is_reproducible() -> None:
    def draws(op: OpSetRandomChoice) -> list[int]:
        return [op(_sample(), key="v", values=list(range(100)))["v"] for _ in range(20)]

    assert draws(OpSetRandomChoice(seed=3)) == draws(OpSetRandomChoice(seed=3))
    assert draws(OpSetRandomChoice(seed=3)) != draws(OpSetRandomChoice(seed=4))
    random.seed(11)  # what fuse.core.set_seed does to Python's generator (set_seed itself is slow: it seeds torch)
    first = draws(OpSetRandomChoice())
    random.seed(11)
    assert draws(OpSetRandomChoice()) == first  # seed=None: the global generator
    random.seed(12)
    assert draws(OpSetRandomChoice()) != first
    seeded = OpSetRandomChoice(seed=5)
    random.seed(0)
    values = draws(seeded)
    random.seed(1)
    assert draws(OpSetRandomChoice(seed=5)) == values  # its own generator ignores the global one


def test_op_set_random_choice_errors() -> None:
    with pytest.raises(ValueError, match="values is empty"):
        OpSetRandomChoice(seed=0)(_sample(), key="v", values=[])
    with pytest.raises(TypeError, match="list of candidates"):
        OpSetRandomChoice(seed=0)(_sample(), key="v", values="abc")
    with pytest.raises(TypeError, match="seed must be an int"):
        OpSetRandomChoice(seed=1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- value ops
def test_op_lookup() -> None:
    op = OpLookup({"male": 0, "female": 1, 3: "three"})
    assert op(_sample(g="female"), key_in="g", key_out="g_id")["g_id"] == 1
    assert op(_sample(g="male"), key_in="g")["g"] == 0  # in place by default
    assert op(_sample(g=np.int64(3)), key_in="g", key_out="o")["o"] == "three"
    with pytest.raises(ValueError, match=r"sample 'case_7' key 'g' holds 'other', which is not in the map; known"):
        op(_sample(g="other"), key_in="g", key_out="o")
    lenient = OpLookup({"male": 0}, not_exist_error=False)
    sample = lenient(_sample(g="other"), key_in="g", key_out="o")
    assert sample["g"] == "other"
    assert "o" not in sample
    with pytest.raises(TypeError, match="unhashable list"):
        op(_sample(g=["a"]), key_in="g", key_out="o")
    with pytest.raises(MissingSampleKeyError, match="OpLookup: sample 'case_7' has no key 'g'"):
        op(_sample(), key_in="g", key_out="o")
    with pytest.raises(TypeError, match="map must be a mapping"):
        OpLookup([("a", 1)])  # type: ignore[arg-type]


def test_op_to_one_hot() -> None:
    op = OpToOneHot(3)
    one_hot = op(_sample(y=1), key_in="y", key_out="oh")["oh"]
    np.testing.assert_array_equal(one_hot, [0.0, 1.0, 0.0])
    assert one_hot.dtype == np.float64
    np.testing.assert_array_equal(op(_sample(y=torch.tensor(2)), key_in="y", key_out="oh")["oh"], [0, 0, 1])
    np.testing.assert_array_equal(op(_sample(y=np.int32(0)), key_in="y", key_out="oh")["oh"], [1, 0, 0])
    with pytest.raises(ValueError, match=r"holds class 3, outside \[0, 3\)"):
        op(_sample(y=3), key_in="y", key_out="oh")
    with pytest.raises(ValueError, match=r"holds class -1, outside"):
        op(_sample(y=-1), key_in="y", key_out="oh")
    with pytest.raises(TypeError, match="must be an integer"):
        op(_sample(y=1.0), key_in="y", key_out="oh")
    for bad in (0, -2, 2.0, True):
        with pytest.raises(ValueError, match="num_classes must be a positive int"):
            OpToOneHot(bad)  # type: ignore[arg-type]


def test_op_concat() -> None:
    sample = _sample(age=50, sex=np.array([0.0, 1.0]), other=[2, 3])
    out = OpConcat()(sample, keys_in=["age", "sex", "other"], key_out="v")["v"]
    np.testing.assert_array_equal(out, [50, 0, 1, 2, 3])
    sample = _sample(a=np.zeros((2, 1)), b=np.ones((2, 2)))
    assert OpConcat()(sample, keys_in=["a", "b"], key_out="v", axis=1)["v"].shape == (2, 3)
    with pytest.raises(ValueError, match=r"cannot concatenate along axis 0 for sample 'case_7': shapes"):
        OpConcat()(sample, keys_in=["a", "b"], key_out="v")
    with pytest.raises(ValueError, match="keys_in is empty"):
        OpConcat()(sample, keys_in=[], key_out="v")
    with pytest.raises(TypeError, match="must be a list of keys"):
        OpConcat()(sample, keys_in="a", key_out="v")
    with pytest.raises(MissingSampleKeyError, match="OpConcat: sample 'case_7' has no key 'c'"):
        OpConcat()(sample, keys_in=["a", "c"], key_out="v")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(float("nan"), -1), (np.float32("nan"), -1), (3.0, 3.0), (None, None), ("nan", "nan"), (True, True)],
)
def test_op_override_nan(value: Any, expected: Any) -> None:
    assert OpOverrideNaN()(_sample(v=value), key="v", value_to_fill=-1)["v"] == expected


def test_op_override_nan_leaves_arrays_and_needs_the_key() -> None:
    array = np.array([np.nan, 1.0])
    assert OpOverrideNaN()(_sample(v=array), key="v", value_to_fill=0)["v"] is array
    with pytest.raises(MissingSampleKeyError, match="OpOverrideNaN: sample 'case_7' has no key 'v'"):
        OpOverrideNaN()(_sample(), key="v", value_to_fill=0)


def test_op_zscore_norm() -> None:
    assert OpZScoreNorm()(_sample(v=70.0), key="v", mean=50.0, std=10.0)["v"] == 2.0
    out = OpZScoreNorm()(_sample(v=np.array([1.0, 3.0])), key="v", mean=np.array([1.0, 1.0]), std=2.0)["v"]
    np.testing.assert_array_equal(out, [0.0, 1.0])
    tensor = OpZScoreNorm()(_sample(v=torch.tensor([4.0])), key="v", mean=2.0, std=2.0)["v"]
    assert torch.equal(tensor, torch.tensor([1.0]))
    with pytest.raises(ValueError, match="std is 0"):
        OpZScoreNorm()(_sample(v=1.0), key="v", mean=0.0, std=0)
    with pytest.raises(MissingSampleKeyError, match="OpZScoreNorm: sample 'case_7'"):
        OpZScoreNorm()(_sample(), key="v", mean=0.0, std=1.0)


# ---------------------------------------------------------------------------------------------- replace ops
def test_op_replace_elements_numpy_in_place_and_copy() -> None:
    array = np.array([0, 1, 2, 3, 0])
    sample = OpReplaceElements()(_sample(t=array), key_in="t", find_val=0, replace_with_val=-100, key_out="o")
    np.testing.assert_array_equal(sample["o"], [-100, 1, 2, 3, -100])
    np.testing.assert_array_equal(array, [0, 1, 2, 3, 0])  # key_out: a copy
    sample = OpReplaceElements()(sample, key_in="t", find_val=0, replace_with_val=7)
    assert sample["t"] is array
    np.testing.assert_array_equal(array, [7, 1, 2, 3, 7])  # no key_out: in place


def test_op_replace_elements_tensor_in_place_and_copy() -> None:
    tensor = torch.tensor([[0, 1], [2, 0]])
    sample = OpReplaceElements()(_sample(t=tensor), key_in="t", find_val=0, replace_with_val=-100, key_out="o")
    assert torch.equal(sample["o"], torch.tensor([[-100, 1], [2, -100]]))
    assert torch.equal(tensor, torch.tensor([[0, 1], [2, 0]]))
    OpReplaceElements()(sample, key_in="t", find_val=2, replace_with_val=9)
    assert torch.equal(tensor, torch.tensor([[0, 1], [9, 0]]))


def test_op_replace_elements_str_list_tuple_nan_and_errors() -> None:
    op = OpReplaceElements()
    assert op(_sample(s="a-b-c"), key_in="s", find_val="-", replace_with_val="+")["s"] == "a+b+c"
    assert op(_sample(s=(0, 1, 0)), key_in="s", find_val=0, replace_with_val=5, key_out="o")["o"] == [5, 1, 5]
    assert op(_sample(s=[0, 1]), key_in="s", find_val=1, replace_with_val=None)["s"] == [0, None]
    out = op(_sample(s=np.array([np.nan, 1.0])), key_in="s", find_val=float("nan"), replace_with_val=0.0)["s"]
    np.testing.assert_array_equal(out, [0.0, 1.0])
    out = op(_sample(s=torch.tensor([float("nan"), 1.0])), key_in="s", find_val=np.nan, replace_with_val=0.0)["s"]
    assert torch.equal(out, torch.tensor([0.0, 1.0]))
    assert op(_sample(s=[float("nan"), 1.0]), key_in="s", find_val=float("nan"), replace_with_val=0)["s"] == [0, 1.0]
    with pytest.raises(TypeError, match="must be strings"):
        op(_sample(s="abc"), key_in="s", find_val=1, replace_with_val="x")
    with pytest.raises(TypeError, match="holds a int"):
        op(_sample(s=5), key_in="s", find_val=1, replace_with_val=2)
    with pytest.raises(MissingSampleKeyError, match="OpReplaceElements: sample 'case_7' has no key 's'"):
        op(_sample(), key_in="s", find_val=1, replace_with_val=2)


def test_op_replace_any_elements_arrays_and_tensors() -> None:
    op = OpReplaceAnyElements()
    array = np.array([[0, 1, 2], [3, 4, 0]])
    out = op(_sample(t=array), key_in="t", find_any_val=[0, 2, 4], replace_with_val=-100, key_out="o")["o"]
    np.testing.assert_array_equal(out, [[-100, 1, -100], [3, -100, -100]])
    np.testing.assert_array_equal(array, [[0, 1, 2], [3, 4, 0]])
    tensor = torch.tensor([[0, 1, 2], [3, 4, 0]])
    out = op(_sample(t=tensor), key_in="t", find_any_val=[0, 2, 4], replace_with_val=-100)["t"]
    assert out is tensor
    assert torch.equal(tensor, torch.tensor([[-100, 1, -100], [3, -100, -100]]))
    copied = op(_sample(t=tensor), key_in="t", find_any_val=[1], replace_with_val=0, key_out="o")
    assert torch.equal(copied["o"][0], torch.tensor([-100, 0, -100]))
    assert tensor[0, 1] == 1
    assert op(_sample(t=np.arange(3)), key_in="t", find_any_val=[], replace_with_val=9)["t"].tolist() == [0, 1, 2]


def test_op_replace_any_elements_str_list_and_errors() -> None:
    op = OpReplaceAnyElements()
    assert op(_sample(s="a-b_c"), key_in="s", find_any_val=["-", "_"], replace_with_val=" ")["s"] == "a b c"
    assert op(_sample(s="a-b_c"), key_in="s", find_any_val=["-", "_"], replace_with_val=None)["s"] == "abc"
    assert op(_sample(s=(1, 2, 3)), key_in="s", find_any_val=[1, 3], replace_with_val=0, key_out="o")["o"] == [0, 2, 0]
    assert op(_sample(s=[[1], [2]]), key_in="s", find_any_val=[[1]], replace_with_val=0)["s"] == [0, [2]]
    with pytest.raises(ValueError, match=r"single character, got \['ab'\]; use OpReplaceElements"):
        op(_sample(s="abc"), key_in="s", find_any_val=["ab"], replace_with_val="x")
    with pytest.raises(TypeError, match="replace_with_val must be a string"):
        op(_sample(s="abc"), key_in="s", find_any_val=["a"], replace_with_val=1)
    # a string of characters, as FuseMedML accepted it
    assert op(_sample(s="a-b_c"), key_in="s", find_any_val="-_", replace_with_val=" ")["s"] == "a b c"
    assert op(_sample(s=["a", "-", "b"]), key_in="s", find_any_val="-_", replace_with_val="")["s"] == ["a", "", "b"]
    with pytest.raises(TypeError, match=r"find_any_val is the string '02'.*holds an array; .*\[0, 2\]"):
        op(_sample(s=np.arange(3)), key_in="s", find_any_val="02", replace_with_val=9)
    with pytest.raises(TypeError, match=r"must be a list of values \(or a string of characters\), got 5"):
        op(_sample(s="a-b"), key_in="s", find_any_val=5, replace_with_val=" ")
    with pytest.raises(TypeError, match="supported: numpy array"):
        op(_sample(s=1.5), key_in="s", find_any_val=[1.5], replace_with_val=0)


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
