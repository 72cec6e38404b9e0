"""Cast and the cast ops: conversions and dtypes, round trips, reverse restoring the original type inside a
pipeline, OpOneHotToNumber, errors, and cache identities."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from fuse.core import NDict, create_initial_sample
from fuse.data import (
    BOOKKEEPING_PREFIX,
    Cast,
    MissingSampleKeyError,
    OpBase,
    OpCast,
    OpOneHotToNumber,
    OpToFloat,
    OpToInt,
    OpToNumpy,
    OpToTensor,
    PipelineDefault,
)


def _sample(**values: Any) -> NDict:
    sample = create_initial_sample("case_1")
    for key, value in values.items():
        sample[f"data.{key}"] = value
    return sample


# ---------------------------------------------------------------------------------------------------- Cast
@pytest.mark.parametrize(
    ("value", "expected_dtype"),
    [
        (np.arange(3), torch.int64),
        (np.zeros(2, dtype=np.float32), torch.float32),
        (3, torch.int64),
        (2.5, torch.float32),
        ([1.0, 2.0], torch.float32),
        ((1, 2), torch.int64),
        (np.float64(1.5), torch.float64),
        (True, torch.bool),
    ],
)
def test_to_tensor_from_supported_types(value: Any, expected_dtype: torch.dtype) -> None:
    tensor = Cast.to_tensor(value)
    assert isinstance(tensor, torch.Tensor)
    assert tensor.dtype == expected_dtype
    np.testing.assert_array_equal(tensor.numpy(), np.asarray(value))


def test_to_tensor_dtypes_devices_and_special_inputs() -> None:
    tensor = torch.arange(3)
    assert Cast.to_tensor(tensor) is tensor
    for dtype in (torch.float16, "float16", np.float16, np.dtype("float16")):
        assert Cast.to_tensor(tensor, dtype=dtype).dtype == torch.float16
    assert Cast.to_tensor([1, 2], dtype="float64", device="cpu").dtype == torch.float64
    assert Cast.to_tensor(tensor, device=torch.device("cpu")).device.type == "cpu"
    flipped = np.arange(4)[::-1]  # negative strides: torch.tensor refuses them as they are
    assert Cast.to_tensor(flipped).tolist() == [3, 2, 1, 0]
    assert Cast.to_tensor(None, ignore_none=True) is None
    with pytest.raises(TypeError, match="cannot convert a NoneType; pass ignore_none=True"):
        Cast.to_tensor(None)
    with pytest.raises(TypeError, match="cannot convert a str"):
        Cast.to_tensor("1")
    with pytest.raises(ValueError, match="unknown tensor dtype 'floaty'"):
        Cast.to_tensor([1], dtype="floaty")


def test_to_numpy_from_supported_types_and_copies() -> None:
    array = np.arange(3)
    assert Cast.to_numpy(array) is array
    with_dtype = Cast.to_numpy(array, dtype="float32")
    assert with_dtype.dtype == np.float32
    assert with_dtype is not array
    tensor = torch.arange(3.0, requires_grad=True)
    converted = Cast.to_numpy(tensor)
    assert converted.dtype == np.float32
    converted[0] = 100.0
    assert tensor[0].item() == 0.0  # a copy, never a view on the tensor
    assert Cast.to_numpy(torch.tensor([1.5], dtype=torch.bfloat16)).dtype == np.float32
    assert Cast.to_numpy(torch.tensor([1, 2]), dtype=torch.float64).dtype == np.float64
    assert Cast.to_numpy(b"\x01\x02").tolist() == [1, 2]
    assert Cast.to_numpy([1, 2], dtype=np.uint8).dtype == np.uint8
    assert Cast.to_numpy((1.0,)).tolist() == [1.0]
    assert Cast.to_numpy(7).shape == ()
    with pytest.raises(TypeError, match="cannot convert a dict"):
        Cast.to_numpy({"a": 1})
    with pytest.raises(ValueError, match="numpy has no bfloat16"):
        Cast.to_numpy([1.0], dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="unknown numpy dtype"):
        Cast.to_numpy([1.0], dtype=object())


def test_to_int_to_float_to_list() -> None:
    assert Cast.to_int(3) == 3
    assert Cast.to_int(True) == 1
    assert type(Cast.to_int(True)) is int
    assert Cast.to_int(3.9) == 3
    assert Cast.to_int("4") == 4
    assert Cast.to_int(b"5") == 5
    assert Cast.to_int(np.int64(6)) == 6
    assert Cast.to_int(np.array([7])) == 7
    assert Cast.to_int(torch.tensor(8)) == 8
    assert Cast.to_float(1) == 1.0
    assert type(Cast.to_float(np.float64(2.5))) is float
    assert Cast.to_float(torch.tensor([0.5])) == 0.5
    assert Cast.to_float("1e-3") == 0.001
    assert Cast.to_list((1, 2)) == [1, 2]
    assert Cast.to_list(np.eye(2, dtype=int)) == [[1, 0], [0, 1]]
    assert Cast.to_list(torch.tensor([1, 2])) == [1, 2]
    values = [1]
    assert Cast.to_list(values) is values
    with pytest.raises(ValueError, match=r"needs a single value, got an array/tensor of shape \(2,\)"):
        Cast.to_int(np.arange(2))
    with pytest.raises(ValueError, match="needs a single value"):
        Cast.to_float(torch.zeros(3))
    with pytest.raises(ValueError, match="0-d array/tensor"):
        Cast.to_list(np.array(1))
    for func, value in [(Cast.to_int, None), (Cast.to_float, [1.0]), (Cast.to_list, 1)]:
        with pytest.raises(TypeError, match="cannot convert"):
            func(value)


def test_to_by_type_name_and_like() -> None:
    value = torch.tensor([1.0, 2.0])
    assert isinstance(Cast.to(value, "ndarray"), np.ndarray)
    assert Cast.to(value, "ndarray", dtype="int32").dtype == np.int32
    assert Cast.to(np.arange(2), "Tensor").dtype == torch.int64
    assert Cast.to(value, "list") == [1.0, 2.0]
    assert Cast.to(value, "tuple") == (1.0, 2.0)
    assert Cast.to(torch.tensor(3.0), "int") == 3
    assert Cast.to(torch.tensor(3), "float") == 3.0
    assert Cast.to(torch.tensor(True), "bool") is True
    scalar = Cast.to(torch.tensor([2.5]), "float32")
    assert type(scalar) is np.float32
    assert scalar == 2.5
    assert Cast.to(None, "NoneType") is None
    with pytest.raises(ValueError, match=r"cannot convert to 'dict'; type_name must be one of \['ndarray', 'Tensor'"):
        Cast.to(value, "dict")
    with pytest.raises(ValueError, match="needs a single value"):
        Cast.to(value, "int64")

    like_array = Cast.like([1, 2], np.zeros(1, dtype=np.float32))
    assert like_array.dtype == np.float32
    like_tensor = Cast.like(np.arange(2), torch.zeros(1, dtype=torch.float64))
    assert like_tensor.dtype == torch.float64
    assert Cast.like(np.array([1.0]), np.int64(0)) == 1
    assert type(Cast.like(np.array([1.0]), np.int64(0))) is np.int64
    assert Cast.like("1", True) is True
    assert Cast.like(np.float64(2.0), 1) == 2
    assert type(Cast.like(2, 1.0)) is float
    assert Cast.like(np.arange(2), [0]) == [0, 1]
    assert Cast.like(np.arange(2), (0,)) == (0, 1)
    with pytest.raises(TypeError, match="cannot convert to a str"):
        Cast.like(1, "a")


@pytest.mark.parametrize(
    "original",
    [np.arange(6, dtype=np.float32).reshape(2, 3), torch.arange(4, dtype=torch.int16), [[1, 2], [3, 4]], [0.5]],
)
def test_round_trips_tensor_numpy_list(original: Any) -> None:
    as_tensor = Cast.to_tensor(original)
    as_numpy = Cast.to_numpy(as_tensor)
    as_list = Cast.to_list(as_numpy)
    back = Cast.like(Cast.to_tensor(as_list), original)
    assert type(back) is type(original)
    np.testing.assert_array_equal(np.asarray(back), np.asarray(original))
    if hasattr(original, "dtype"):
        assert back.dtype == original.dtype


# ---------------------------------------------------------------------------------------------------- cast ops
def test_cast_ops_convert_one_or_several_keys_and_record_the_original_types() -> None:
    sample = _sample(a=np.arange(2), b=[1.0], c=2.5)
    sample = OpToTensor()(sample, key=["data.a", "data.b", "data.c"], op_id="p.0")
    assert all(isinstance(sample[f"data.{name}"], torch.Tensor) for name in "abc")
    assert (sample["p.0_data.a"], sample["p.0_data.b"], sample["p.0_data.c"]) == ("ndarray", "list", "float")

    sample = OpToNumpy(dtype="float32")(sample, "data.a", op_id="p.1")  # FuseMedML's positional order
    assert sample["data.a"].dtype == np.float32
    assert sample["p.1_data.a"] == "Tensor"
    sample = OpToNumpy(dtype="float32")(sample, key="data.b", dtype="int8")  # per-call kwargs override defaults
    assert sample["data.b"].dtype == np.int8
    sample = OpToInt()(sample, key="data.c")
    assert sample["data.c"] == 2
    sample = OpToFloat()(sample, key="data.c")
    assert type(sample["data.c"]) is float
    none_sample = OpToTensor(ignore_none=True)(_sample(n=None), key="data.n", op_id="p.2")
    assert none_sample["data.n"] is None
    assert OpToTensor().reverse(none_sample, "data.n", "data.n", "p.2")["data.n"] is None


def test_cast_op_errors() -> None:
    with pytest.raises(MissingSampleKeyError, match=r"OpToTensor: sample 'case_1' has no key 'data\.missing'"):
        OpToTensor()(_sample(), key="data.missing")
    with pytest.raises(ValueError, match="non-empty list of keys"):
        OpToTensor()(_sample(), key=[])
    with pytest.raises(TypeError, match="unexpected keyword argument 'scale'"):
        OpToInt()(_sample(a=1), key="data.a", scale=2)
    with pytest.raises(ValueError, match="needs the op_id"):
        OpToTensor().reverse(_sample(), "data.a", "data.a", None)


def test_reverse_in_a_pipeline_restores_the_original_types() -> None:
    pipeline = PipelineDefault(
        "static",
        [
            (OpToNumpy(), {"key": "data.x"}),  # list -> ndarray
            (OpToTensor(), {"key": "data.x", "dtype": "float32"}),  # ndarray -> tensor
            (OpToTensor(), {"key": "data.other"}),
        ],
    )
    sample = pipeline(_sample(x=[1, 2, 3], other=np.zeros(1)))
    assert sample["data.x"].dtype == torch.float32
    assert sample[f"{BOOKKEEPING_PREFIX}.static.1_data.x"] == "ndarray"
    sample["model.pred"] = sample["data.x"] * 2
    restored = pipeline.reverse(sample, key_to_reverse="model.pred", key_to_follow="data.x")
    assert restored["model.pred"] == [2.0, 4.0, 6.0]  # tensor -> ndarray -> list
    # op 2 did not convert data.x, op 0/1 did not convert data.missing: those reverses leave the sample alone
    sample["model.other"] = torch.ones(1)
    assert isinstance(pipeline.reverse(sample, "model.other", "data.missing")["model.other"], torch.Tensor)
    assert isinstance(pipeline.reverse(sample, "model.other", "data.other")["model.other"], np.ndarray)


def test_reverse_restores_numpy_scalars_from_dataframes() -> None:
    sample = OpToTensor()(_sample(v=np.float64(0.25)), key="data.v", op_id="p.0")
    assert sample["p.0_data.v"] == "float64"
    restored = OpToTensor().reverse(sample, "data.v", "data.v", "p.0")["data.v"]
    assert type(restored) is np.float64
    assert restored == 0.25


def test_a_custom_op_cast_subclass() -> None:
    class OpToList(OpCast):
        def _cast(self, value: Any) -> list[Any]:  # type: ignore[override]
            return Cast.to_list(value)

    sample = OpToList()(_sample(a=torch.tensor([1, 2])), key="data.a", op_id="p.0")
    assert sample["data.a"] == [1, 2]
    assert isinstance(OpToList().reverse(sample, "data.a", "data.a", "p.0")["data.a"], torch.Tensor)


# ---------------------------------------------------------------------------------------------------- OpOneHotToNumber
@pytest.mark.parametrize("one_hot", [[0, 1, 0], np.array([0.0, 1.0, 0.0]), torch.tensor([0, 1, 0])])
def test_one_hot_to_number(one_hot: Any) -> None:
    result = OpOneHotToNumber(3)(_sample(v=one_hot), key="data.v")["data.v"]
    assert isinstance(result, torch.Tensor)
    assert result.dtype == torch.int64
    assert result.item() == 1


def test_one_hot_to_number_verification() -> None:
    op = OpOneHotToNumber(num_classes=3)
    with pytest.raises(ValueError, match=r"num_classes=3 entries in 'data.v', got shape \(4,\)"):
        op(_sample(v=[0, 0, 0, 1]), key="data.v")
    with pytest.raises(ValueError, match="a single 1, the rest 0"):
        op(_sample(v=[0, 1, 1]), key="data.v")
    with pytest.raises(ValueError, match="a single 1, the rest 0"):
        op(_sample(v=[0.2, 0.7, 0.1]), key="data.v")
    unchecked = OpOneHotToNumber(num_classes=3, verify_arguments=False)
    assert unchecked(_sample(v=[0.2, 0.7, 0.1]), key="data.v")["data.v"].item() == 1
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="num_classes must be an int >= 1"):
            OpOneHotToNumber(bad)  # type: ignore[arg-type]
    assert OpOneHotToNumber.is_one_hot_vector(np.array([0, 0, 1]))
    assert not OpOneHotToNumber.is_one_hot_vector(np.array([]))


# ---------------------------------------------------------------------------------------------------- identity
def _pipeline(dtype: str = "float32", num_classes: int = 3, per_call_dtype: str = "int64") -> PipelineDefault:
    return PipelineDefault(
        "cast",
        [
            (OpToTensor(dtype=dtype), {"key": "data.a"}),
            (OpToNumpy(), {"key": ["data.b", "data.c"], "dtype": per_call_dtype}),
            (OpToInt(), {"key": "data.d"}),
            (OpToFloat(), {"key": "data.e"}),
            (OpOneHotToNumber(num_classes), {"key": "data.f"}),
        ],
    )


def test_cache_identity_is_stable_and_follows_the_arguments() -> None:
    reference = _pipeline().cache_identity()
    assert _pipeline().cache_identity() == reference
    assert _pipeline(dtype="float64").cache_identity() != reference
    assert _pipeline(num_classes=4).cache_identity() != reference
    assert _pipeline(per_call_dtype="int32").cache_identity() != reference
    assert OpToInt().cache_identity() != OpToFloat().cache_identity()
    assert isinstance(OpToInt(), OpBase)


def test_to_tensor_shares_a_writable_array_and_copies_a_read_only_one() -> None:
    writable = np.zeros(4, dtype=np.float32)
    shared = Cast.to_tensor(writable)
    writable[0] = 7
    assert shared[0].item() == 7  # no copy of large volumes, as torch's DataLoader conversion
    read_only = np.frombuffer(bytes(16), dtype=np.float32)
    copied = Cast.to_tensor(read_only)
    copied[0] = 1  # a copy: writing it is allowed and leaves the buffer alone
    assert read_only[0] == 0
    assert Cast.to_tensor(writable, dtype="float64").dtype == torch.float64
