"""OpRepeat and the augmentation ops: step ids and reverse order, random application, drawing kwargs once or per
step, sequence cropping and one-hot augmentation, reproducibility under set_seed, and cache identities."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from fuse.core import NDict, RandBool, RandInt, Uniform, create_initial_sample, set_seed
from fuse.data import (
    BOOKKEEPING_PREFIX,
    MissingSampleKeyError,
    OpAugOneHot,
    OpBase,
    OpRandApply,
    OpRandCropSeq,
    OpRepeat,
    OpRepeatAndSample,
    OpReversibleBase,
    OpSample,
    OpSampleAndRepeat,
    PipelineDefault,
)


class OpAffine(OpReversibleBase):
    """x * scale + shift on `key`; records (key, scale, shift) under op_id, so reverse is order sensitive."""

    def __call__(
        self, sample_dict: NDict, op_id: str | None = None, key: str = "x", scale: float = 1.0, shift: float = 0.0
    ) -> NDict:
        sample_dict[key] = sample_dict[key] * scale + shift
        if op_id is not None:
            sample_dict[op_id] = [key, scale, shift]
        return sample_dict

    def reverse(self, sample_dict: NDict, key_to_reverse: str, key_to_follow: str, op_id: str | None) -> NDict:
        key, scale, shift = sample_dict[op_id]
        if key == key_to_follow:
            sample_dict[key_to_reverse] = (sample_dict[key_to_reverse] - shift) / scale
        return sample_dict


class OpRecord(OpBase):
    """Stores the value it was called with under `key` (to observe what OpSample drew)."""

    def __call__(self, sample_dict: NDict, key: str, value: Any) -> NDict:
        sample_dict[key] = value
        return sample_dict


class OpDrop(OpBase):
    def __call__(self, sample_dict: NDict, key: str) -> None:
        return None


class OpSplitInTwo(OpBase):
    def __call__(self, sample_dict: NDict, key: str) -> list[NDict]:
        return [sample_dict, sample_dict.clone()]


def _sample(sample_id: str = "s", **values: Any) -> NDict:
    sample = create_initial_sample(sample_id)
    for key, value in values.items():
        sample[f"data.{key}"] = value
    return sample


# ---------------------------------------------------------------------------------------------------- OpRepeat
def test_repeat_merges_kwargs_step_wins_and_uses_step_op_ids() -> None:
    calls: list[tuple[str | None, dict[str, Any]]] = []

    class OpSpy(OpReversibleBase):
        def __call__(self, sample_dict: NDict, op_id: str | None = None, **kwargs: Any) -> NDict:
            calls.append((op_id, kwargs))
            return sample_dict

    repeat = OpRepeat(OpSpy(), [{"key": "a"}, {"key": "b", "margin": 100}])
    sample = repeat(_sample(), op_id="internal.p.3", margin=12)
    assert calls == [("internal.p.3_0", {"key": "a", "margin": 12}), ("internal.p.3_1", {"key": "b", "margin": 100})]
    assert sample["internal.p.3_0_debug_info.op_name"] == "OpSpy"
    assert sample["internal.p.3_1_debug_info.op_name"] == "OpSpy"
    assert repeat.kwargs_per_step_to_add == [{"key": "a"}, {"key": "b", "margin": 100}]


def test_repeat_without_op_id_passes_none_and_writes_no_debug_info() -> None:
    sample = OpRepeat(OpAffine(), [{"key": "data.a"}, {"key": "data.b"}])(_sample(a=1.0, b=2.0), scale=3.0)
    assert (sample["data.a"], sample["data.b"]) == (3.0, 6.0)
    assert not [key for key in sample.keypaths() if "debug_info" in key]


def test_repeat_reverse_walks_the_steps_backwards_inside_a_pipeline() -> None:
    steps = [{"scale": 2.0}, {"shift": 3.0}]  # x -> 2x -> 2x + 3: undoing in the wrong order gives another value
    pipeline = PipelineDefault("static", [(OpRepeat(OpAffine(), steps), {"key": "data.x"})])
    sample = pipeline(_sample(x=5.0))
    assert sample["data.x"] == 13.0
    assert sample[f"{BOOKKEEPING_PREFIX}.static.0_1_debug_info.op_name"] == "OpAffine"
    sample["model.pred"] = sample["data.x"]
    restored = pipeline.reverse(sample, key_to_reverse="model.pred", key_to_follow="data.x")
    assert restored["model.pred"] == 5.0  # (13 - 3) / 2; forward order would give 13 / 2 - 3 = 3.5
    untouched = pipeline.reverse(sample, key_to_reverse="model.pred", key_to_follow="data.other")
    assert untouched["model.pred"] == 5.0


def test_repeat_propagates_a_drop_and_refuses_a_split() -> None:
    assert OpRepeat(OpDrop(), [{"key": "a"}, {"key": "b"}])(_sample(), op_id="p.0") is None
    with pytest.raises(TypeError, match="splitting inside OpRepeat is not supported"):
        OpRepeat(OpSplitInTwo(), [{"key": "a"}])(_sample(), op_id="p.0")


def test_repeat_constructor_errors() -> None:
    with pytest.raises(TypeError, match="op instance"):
        OpRepeat(OpAffine, [{"key": "a"}])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of dicts"):
        OpRepeat(OpAffine(), {"key": "a"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"kwargs_per_step_to_add\[1\]"):
        OpRepeat(OpAffine(), [{"key": "a"}, "b"])  # type: ignore[list-item]


# ---------------------------------------------------------------------------------------------------- OpRandApply
@pytest.mark.parametrize(("probability", "expected"), [(0.0, False), (1.0, True), (0, False), (1, True)])
def test_rand_apply_probability_edges(probability: float, expected: bool) -> None:
    op = OpRandApply(OpAffine(), probability)
    for seed in range(50):
        set_seed(seed)
        sample = op(_sample(x=1.0), op_id="p.0", key="data.x", shift=1.0)
        assert sample["p.0"] is expected
        assert sample["data.x"] == (2.0 if expected else 1.0)
        assert ("p.0.apply" in sample) is expected  # the wrapped op runs with op_id f"{op_id}.apply"


def test_rand_apply_never_applies_with_probability_zero_even_on_a_zero_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RandBool, "sample", lambda self: True)  # RandBool(0) is True when random() returns 0.0
    assert OpRandApply(OpAffine(), 0.0)(_sample(x=1.0), op_id="p.0", key="data.x", shift=1.0)["data.x"] == 1.0


@pytest.mark.parametrize("probability", [-0.1, 1.5, True, "0.5", None])
def test_rand_apply_rejects_bad_probabilities(probability: Any) -> None:
    with pytest.raises(ValueError, match="probability must be a number in"):
        OpRandApply(OpAffine(), probability)


def test_rand_apply_draws_are_reproducible_under_set_seed() -> None:
    op = OpRandApply(OpAffine(), 0.5)

    def draws(seed: int) -> list[bool]:
        set_seed(seed)
        return [bool(op(_sample(x=0.0), op_id="p.0", key="data.x")["p.0"]) for _ in range(40)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)
    assert 5 < sum(draws(1)) < 35


def test_rand_apply_reverse_in_a_pipeline_only_where_applied() -> None:
    pipeline = PipelineDefault("aug", [(OpRandApply(OpAffine(), 0.5), {"key": "data.x", "scale": 2.0, "shift": 1.0})])
    set_seed(7)
    applied = []
    for index in range(30):
        sample = pipeline(_sample(f"s{index}", x=float(index)))
        was_applied = sample[f"{BOOKKEEPING_PREFIX}.aug.0"]
        applied.append(was_applied)
        assert sample["data.x"] == (2.0 * index + 1.0 if was_applied else float(index))
        sample["model.pred"] = sample["data.x"]
        restored = pipeline.reverse(sample, key_to_reverse="model.pred", key_to_follow="data.x")
        assert restored["model.pred"] == float(index)
    assert any(applied)
    assert not all(applied)


def test_rand_apply_reverse_needs_the_op_id() -> None:
    with pytest.raises(ValueError, match="needs the op_id"):
        OpRandApply(OpAffine(), 1.0).reverse(_sample(), "a", "a", None)
    with pytest.raises(MissingSampleKeyError, match=r"no key 'p\.0'"):
        OpRandApply(OpAffine(), 1.0).reverse(_sample(), "a", "a", "p.0")


# ---------------------------------------------------------------------------------------------------- OpSample
def test_sample_draws_nested_samplers_with_the_same_op_id_and_reverses() -> None:
    op = OpSample(OpAffine())
    set_seed(3)
    sample = op(_sample(x=1.0), op_id="p.0", key="data.x", scale=RandInt(2, 2), shift=Uniform(10.0, 20.0))
    key, scale, shift = sample["p.0"]  # recorded by OpAffine under OpSample's own op_id
    assert (key, scale) == ("data.x", 2)
    assert 10.0 <= shift <= 20.0
    assert sample["data.x"] == 2.0 + shift
    assert op.reverse(sample, "data.x", "data.x", "p.0")["data.x"] == 1.0

    nested = OpSample(OpRecord())(_sample(), key="data.v", value={"a": [RandInt(4, 4), (RandBool(1.0),)]})
    assert nested["data.v.a"] == [4, (True,)]


def test_sample_is_reproducible_under_set_seed() -> None:
    op = OpSample(OpRecord())

    def draw(seed: int) -> list[float]:
        set_seed(seed)
        return [op(_sample(), key="data.v", value=Uniform(0.0, 1.0))["data.v"] for _ in range(5)]

    assert draw(11) == draw(11)
    assert draw(11) != draw(12)


def test_sample_and_repeat_shares_one_draw_repeat_and_sample_draws_per_step() -> None:
    steps = [{"key": "data.image"}, {"key": "data.seg"}]
    set_seed(0)
    shared = OpSampleAndRepeat(OpRecord(), steps)(_sample(), op_id="p.0", value=Uniform(0.0, 1.0))
    assert shared["data.image"] == shared["data.seg"]
    set_seed(0)
    independent = OpRepeatAndSample(OpRecord(), steps)(_sample(), op_id="p.0", value=Uniform(0.0, 1.0))
    assert independent["data.image"] != independent["data.seg"]
    assert independent["data.image"] == shared["data.image"]  # the same first draw after the same seed
    assert independent["p.0_1_debug_info.op_name"] == "OpSample"


def test_sample_and_repeat_reverse_in_a_pipeline() -> None:
    op = OpSampleAndRepeat(OpAffine(), [{"key": "data.image"}, {"key": "data.seg"}])
    pipeline = PipelineDefault("aug", [(op, {"scale": Uniform(2.0, 3.0), "shift": Uniform(-1.0, 1.0)})])
    set_seed(5)
    sample = pipeline(_sample(image=1.0, seg=1.0))
    assert sample["data.image"] == sample["data.seg"] != 1.0
    sample["model.seg"] = sample["data.seg"]
    restored = pipeline.reverse(sample, key_to_reverse="model.seg", key_to_follow="data.seg")
    assert restored["model.seg"] == pytest.approx(1.0)


def test_meta_ops_reject_classes() -> None:
    with pytest.raises(TypeError, match="OpSample needs an op instance"):
        OpSample(OpAffine)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="OpRandApply needs an op instance"):
        OpRandApply(OpAffine, 0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="OpSampleAndRepeat needs an op instance"):
        OpSampleAndRepeat(OpAffine, [{}])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="OpRepeatAndSample needs an op instance"):
        OpRepeatAndSample(OpAffine, [{}])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------- OpRandCropSeq
def _crops(op: OpRandCropSeq, text: str, count: int = 50) -> list[str]:
    return [op(_sample(seq=text), "data.seq", "data.out")["data.out"] for _ in range(count)]


@pytest.mark.parametrize("mode", ["both", "left_only", "right_only"])
def test_rand_crop_seq_modes_and_bounds(mode: str) -> None:
    text = "ABCDEFGHIJKLMNOPQRST"
    crops = _crops(OpRandCropSeq(seed=1, crop_max_ratio=0.5, crop_mode=mode), text)
    for crop in crops:
        assert crop in text
        assert len(crop) >= len(text) // 2
        if mode == "left_only":
            assert text.endswith(crop)
        if mode == "right_only":
            assert text.startswith(crop)
    assert len(set(crops)) > 3
    if mode == "both":
        assert any(not text.startswith(crop) and not text.endswith(crop) for crop in crops)


@pytest.mark.parametrize("mode", ["both", "left_only", "right_only"])
def test_rand_crop_seq_ratio_zero_keeps_everything(mode: str) -> None:
    # FuseMedML's right_only sliced [:-0] here and returned an empty string
    assert set(_crops(OpRandCropSeq(seed=0, crop_max_ratio=0.0, crop_mode=mode), "ABCDEF", 10)) == {"ABCDEF"}


def test_rand_crop_seq_works_on_lists() -> None:
    assert OpRandCropSeq(0, 0.0)(_sample(seq=[1, 2, 3]), "data.seq", "data.out")["data.out"] == [1, 2, 3]


def test_rand_crop_seq_seeds() -> None:
    text = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert _crops(OpRandCropSeq(seed=4), text) == _crops(OpRandCropSeq(seed=4), text)
    assert _crops(OpRandCropSeq(seed=4), text) != _crops(OpRandCropSeq(seed=5), text)
    # seed=None: the global random, controlled by set_seed
    set_seed(9)
    first = _crops(OpRandCropSeq(seed=None), text)
    set_seed(9)
    assert _crops(OpRandCropSeq(seed=None), text) == first
    set_seed(10)
    assert _crops(OpRandCropSeq(seed=None), text) != first


def test_rand_crop_seq_errors() -> None:
    with pytest.raises(ValueError, match=r"crop_mode must be one of \['both', 'left_only', 'right_only'\], got 'up'"):
        OpRandCropSeq(seed=0, crop_mode="up")
    with pytest.raises(ValueError, match=r"crop_max_ratio must be in \[0, 1\], got 1.5"):
        OpRandCropSeq(seed=0, crop_max_ratio=1.5)
    with pytest.raises(TypeError, match="seed must be an int"):
        OpRandCropSeq(seed="0")  # type: ignore[arg-type]
    with pytest.raises(MissingSampleKeyError, match=r"OpRandCropSeq: sample 'case_9' has no key 'data\.seq'"):
        OpRandCropSeq(seed=0)(create_initial_sample("case_9"), "data.seq", "data.out")


# ---------------------------------------------------------------------------------------------------- OpAugOneHot
def test_aug_one_hot_default_mode_keeps_the_type() -> None:
    op = OpAugOneHot()
    assert op(_sample(v=[1, 0, 0]), key="data.v", idx=1)["data.v"] == [0, 1, 0]
    array = op(_sample(v=np.array([0, 0, 1], dtype=np.float32)), key="data.v", idx=0)["data.v"]
    assert array.dtype == np.float32
    np.testing.assert_array_equal(array, [1, 0, 0])
    tensor = op(_sample(v=torch.tensor([1, 0, 0])), key="data.v", idx=2)["data.v"]
    assert torch.equal(tensor, torch.tensor([0, 0, 1]))


def test_aug_one_hot_ranking_moves_one_step_clamped_and_respects_freeze() -> None:
    op = OpAugOneHot()
    set_seed(0)
    middle = {int(np.argmax(op(_sample(v=np.eye(5)[2]), key="data.v", mode="ranking")["data.v"])) for _ in range(40)}
    assert middle == {1, 3}
    first = {int(np.argmax(op(_sample(v=np.eye(5)[0]), key="data.v", mode="ranking")["data.v"])) for _ in range(40)}
    assert first == {0, 1}
    last = {int(np.argmax(op(_sample(v=np.eye(5)[4]), key="data.v", mode="ranking")["data.v"])) for _ in range(40)}
    assert last == {3, 4}
    frozen = op(_sample(v=np.eye(5)[2]), key="data.v", mode="ranking", freeze_indices=[2])["data.v"]
    np.testing.assert_array_equal(frozen, np.eye(5)[2])


def test_aug_one_hot_ranking_is_reproducible_under_set_seed() -> None:
    def run(seed: int) -> list[int]:
        set_seed(seed)
        return [
            int(np.argmax(OpAugOneHot()(_sample(v=np.eye(5)[2]), key="data.v", mode="ranking")["data.v"]))
            for _ in range(20)
        ]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_aug_one_hot_errors() -> None:
    op = OpAugOneHot()
    with pytest.raises(ValueError, match=r"mode must be one of \['default', 'ranking'\], got 'rank'"):
        op(_sample(v=[1, 0]), key="data.v", idx=0, mode="rank")
    with pytest.raises(ValueError, match="only used in mode='default'"):
        op(_sample(v=[1, 0]), key="data.v", idx=0, mode="ranking")
    with pytest.raises(ValueError, match="needs idx"):
        op(_sample(v=[1, 0]), key="data.v")
    with pytest.raises(ValueError, match=r"idx must be an int in \[0, 2\).*got 2"):
        op(_sample(v=[1, 0]), key="data.v", idx=2)
    with pytest.raises(ValueError, match=r"got -1"):
        op(_sample(v=[1, 0]), key="data.v", idx=-1)
    with pytest.raises(ValueError, match="1-D one-hot vector"):
        op(_sample(v=np.eye(2)), key="data.v", idx=0)


# ---------------------------------------------------------------------------------------------------- identity
def _pipeline(probability: float = 0.5, steps: Any = None, high: float = 1.0, seed: int = 0) -> PipelineDefault:
    steps = steps if steps is not None else [{"key": "data.image"}, {"key": "data.seg"}]
    return PipelineDefault(
        "aug",
        [
            (OpRandApply(OpAffine(), probability), {"key": "data.x", "shift": Uniform(0.0, high)}),
            (OpSampleAndRepeat(OpAffine(), steps), {"scale": Uniform(1.0, 1.0 + high)}),
            (OpRepeatAndSample(OpAffine(), steps), {"shift": RandInt(0, 3)}),
            (OpRepeat(OpAffine(), steps), {}),
            (OpRandCropSeq(seed, 0.3, "both"), {"string_key_in": "data.s", "string_key_out": "data.s"}),
            (OpAugOneHot(), {"key": "data.v", "mode": "ranking", "freeze_indices": [6]}),
        ],
    )


def test_cache_identity_is_stable_and_follows_the_arguments() -> None:
    reference = _pipeline().cache_identity()
    assert _pipeline().cache_identity() == reference  # param samplers in per-op kwargs have a stable identity
    assert _pipeline(probability=0.6).cache_identity() != reference
    assert _pipeline(steps=[{"key": "data.image"}]).cache_identity() != reference
    assert _pipeline(high=2.0).cache_identity() != reference
    assert _pipeline(seed=1).cache_identity() != reference
    assert OpRandApply(OpAffine(), 0.5).cache_identity() != OpRandApply(OpRecord(), 0.5).cache_identity()
    assert (
        OpSampleAndRepeat(OpAffine(), [{"key": "a"}]).cache_identity()
        != OpRepeatAndSample(OpAffine(), [{"key": "a"}]).cache_identity()
    )


def test_ops_survive_pickling_for_dataloader_workers() -> None:
    import pickle

    crop = OpRandCropSeq(seed=2)
    ops: list[Any] = [
        crop,
        OpRandCropSeq(seed=None),
        OpRandApply(OpAffine(), 0.3),
        OpSampleAndRepeat(OpAffine(), [{"key": "a"}]),
        OpRepeatAndSample(OpAugOneHot(), [{}]),
    ]
    for op in ops:
        copy = pickle.loads(pickle.dumps(op))
        assert type(copy) is type(op)
        assert copy.cache_identity() == op.cache_identity()
    copied_crop = pickle.loads(pickle.dumps(crop))
    assert _crops(copied_crop, "ABCDEFGHIJKLMNOP", 10) == _crops(crop, "ABCDEFGHIJKLMNOP", 10)
