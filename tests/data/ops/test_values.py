"""Value ops: lookup, one-hot, concat, NaN override, z-score, replace elements."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from fuse.core import NDict, create_initial_sample
from fuse.data import (
    MissingSampleKeyError,
    OpConcat,
    OpLookup,
    OpOverrideNaN,
    OpReplaceAnyElements,
    OpReplaceElements,
    OpToOneHot,
    OpZScoreNorm,
)


def _sample(sample_id: str = "case_7", **values: Any) -> NDict:
    sample = create_initial_sample(sample_id)
    for key, value in values.items():
        sample[key.replace("__", ".")] = value
    return sample


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
