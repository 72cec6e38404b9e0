"""Imaging key types: FuseMedML's enum values and patterns, OpApplyTypesImaging, stable cache identities."""

from __future__ import annotations

import pickle
import subprocess
import sys
from typing import Any

import pytest

from fuse.core import NDict, create_initial_sample
from fuse.data import (
    DataTypeBasic,
    OpApplyTypes,
    OpLambda,
    PipelineDefault,
    TypeDetectorPatternsBased,
)
from fuse.imaging import PATTERNS_DICT_IMAGING, DataTypeImaging, OpApplyTypesImaging, type_detector_imaging


def _sample(sample_id: str = "case_7", **values: Any) -> NDict:
    sample = create_initial_sample(sample_id)
    for key, value in values.items():
        sample[key.replace("__", ".")] = value
    return sample


def _times(factor: int) -> OpLambda:
    return OpLambda(lambda x: x * factor, func_reverse=lambda x: x // factor)


def test_enum_values_are_fusemedmls() -> None:
    assert {member.name: member.value for member in DataTypeImaging} == {
        "IMAGE": "image",
        "SEG": "seg",
        "BBOX": "bboxes",
        "CTR": "contours",
    }


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("data.input.img", DataTypeImaging.IMAGE),
        ("img", DataTypeImaging.IMAGE),
        ("data.cc.img", DataTypeImaging.IMAGE),
        ("data.gt.seg", DataTypeImaging.SEG),
        ("data.gt.bbox", DataTypeImaging.BBOX),
        ("data.gt.ctr", DataTypeImaging.CTR),
        ("data.input.img_path", DataTypeBasic.UNKNOWN),  # suffix match only
        ("data.input.imgs", DataTypeBasic.UNKNOWN),
        ("data.gt.seg.shape", DataTypeBasic.UNKNOWN),
        ("data.label", DataTypeBasic.UNKNOWN),
    ],
)
def test_type_detector_matches_key_suffixes(key: str, expected: Any) -> None:
    assert type_detector_imaging.get_type({}, key) is expected


def test_patterns_are_the_four_suffixes_and_read_only() -> None:
    assert dict(PATTERNS_DICT_IMAGING) == {
        r".*img$": DataTypeImaging.IMAGE,
        r".*seg$": DataTypeImaging.SEG,
        r".*bbox$": DataTypeImaging.BBOX,
        r".*ctr$": DataTypeImaging.CTR,
    }
    with pytest.raises(TypeError):
        PATTERNS_DICT_IMAGING[r".*mask$"] = DataTypeImaging.SEG  # type: ignore[index]
    assert isinstance(type_detector_imaging, TypeDetectorPatternsBased)


def test_op_apply_types_imaging_applies_by_type_with_kwargs() -> None:
    op = OpApplyTypesImaging(
        {
            DataTypeImaging.IMAGE: (OpLambda(lambda x, add: x + add), {"add": 100}),
            DataTypeImaging.SEG: (OpLambda(lambda x: -x), {}),
        }
    )
    assert isinstance(op, OpApplyTypes)
    sample = _sample(data__cc__img=1, data__mlo__img=2, data__cc__seg=3, data__cc__bbox=4, data__label=5)
    sample = op(sample, op_id="internal.p.0")
    assert (sample["data.cc.img"], sample["data.mlo.img"]) == (101, 102)
    assert sample["data.cc.seg"] == -3
    assert (sample["data.cc.bbox"], sample["data.label"]) == (4, 5)  # no op for BBOX, UNKNOWN untouched


def test_op_apply_types_imaging_reverse_in_a_pipeline() -> None:
    pipeline = PipelineDefault("p", [(OpApplyTypesImaging({DataTypeImaging.IMAGE: (_times(3), {})}), {})])
    sample = pipeline(_sample(data__input__img=7, data__gt__seg=2))
    assert (sample["data.input.img"], sample["data.gt.seg"]) == (21, 2)
    sample["model.pred"] = 30
    reversed_sample = pipeline.reverse(sample, key_to_reverse="model.pred", key_to_follow="data.input.img")
    assert reversed_sample["model.pred"] == 10
    assert pipeline.reverse(sample, key_to_reverse="data.gt.seg", key_to_follow="data.gt.seg")["data.gt.seg"] == 2


def test_op_apply_types_imaging_has_a_fixed_detector() -> None:
    with pytest.raises(TypeError):
        OpApplyTypesImaging({}, type_detector=type_detector_imaging)  # type: ignore[call-arg]
    assert repr(OpApplyTypesImaging({})) == "OpApplyTypesImaging(type_to_op_dict={})"


def _identity(op: Any, **kwargs: Any) -> str:
    return PipelineDefault("p", [(op, kwargs)]).cache_identity()


def test_op_apply_types_imaging_cache_identity_is_stable() -> None:
    def make(factor: int, data_type: DataTypeImaging = DataTypeImaging.IMAGE) -> OpApplyTypesImaging:
        return OpApplyTypesImaging({data_type: (_times(factor), {"unused": None})})

    assert _identity(make(2)) == _identity(make(2))
    assert _identity(make(2)) != _identity(make(3))  # an argument of the inner op
    assert _identity(make(2)) != _identity(make(2, DataTypeImaging.SEG))  # the type it applies to
    assert _identity(make(2)) != _identity(make(2), extra=1)  # the per-op kwargs
    plain = OpApplyTypes({DataTypeImaging.IMAGE: (_times(2), {"unused": None})}, type_detector_imaging)
    assert _identity(make(2)) != _identity(plain)


def test_cache_identity_is_the_same_in_another_process() -> None:
    code = (
        "from fuse.data import OpLambda, PipelineDefault\n"
        "from fuse.imaging import DataTypeImaging, OpApplyTypesImaging\n"
        "op = OpApplyTypesImaging({DataTypeImaging.SEG: (OpLambda(abs), {'n': 1})})\n"
        "print(PipelineDefault('p', [(op, {})]).cache_identity())"
    )
    op = OpApplyTypesImaging({DataTypeImaging.SEG: (OpLambda(abs), {"n": 1})})
    other = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    assert other == _identity(op)


def test_op_apply_types_imaging_pickles_for_worker_processes() -> None:
    op = OpApplyTypesImaging({DataTypeImaging.IMAGE: (OpLambda(abs), {})})
    restored = pickle.loads(pickle.dumps(op))
    assert restored.cache_identity() == op.cache_identity()
    assert restored(_sample(data__img=-3, data__seg=-3))["data.img"] == 3
