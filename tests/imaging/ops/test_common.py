"""The helpers every imaging op shares (fuse/imaging/ops/_common.py): one error prefix naming the op, key and sample,
one image check, one number check, and the numpy <-> torch conversions (native byte order, device, dtype)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from fuse.core import NDict, create_initial_sample
from fuse.data import MissingSampleKeyError, OpLambda
from fuse.imaging import OpAugAffine2D, OpClip, OpResampleToSpacing, OpVis2DImage
from fuse.imaging.ops._common import (
    _as_kind_of,
    _check_image,
    _image_value,
    _integers,
    _number,
    _number_pair,
    _tensor_of,
    _where,
)
from fuse_imaging_ops_support import KEY


def _sample(image: Any = None, sample_id: str = "case_7") -> NDict:
    sample = create_initial_sample(sample_id)
    if image is not None:
        sample[KEY] = image
    return sample


def test_where_names_the_op_or_a_given_name_the_key_and_the_sample() -> None:
    assert _where(OpClip(), _sample(), KEY) == "OpClip: key 'data.input.img' of sample 'case_7'"
    assert _where("OpX.clip", {}, "k") == "OpX.clip: key 'k' of sample None"  # a plain dict: no sample id


def test_image_value_names_the_op_key_and_sample() -> None:
    image = np.zeros(2)
    assert _image_value("OpX", _sample(image), KEY) is image
    with pytest.raises(MissingSampleKeyError, match=r"sample 'case_7' has no key 'data.input.img'"):
        _image_value(OpLambda(abs), _sample(), KEY)
    with pytest.raises(TypeError, match=r"OpLambda: key 'data.input.img' of sample 'case_7' holds a builtins.list"):
        _image_value(OpLambda(abs), _sample([1, 2]), KEY)


@pytest.mark.parametrize(
    ("op", "kwargs"),
    [
        (OpClip(), {}),
        (OpAugAffine2D(), {"rotate": 1.0}),
        (OpResampleToSpacing(), {"key_metadata": "meta", "spacing": 1.0}),
        (OpVis2DImage(), {}),
    ],
)
def test_every_op_family_reports_a_non_image_the_same_way(op: Any, kwargs: dict[str, Any]) -> None:
    """Before the helpers were shared, each family worded this error differently (or, for OpVis2DImage, named
    neither the key nor the sample in the same form)."""
    with pytest.raises(TypeError, match=rf"{type(op).__name__}: key '{KEY}' of sample 'case_7' holds a builtins\.list"):
        op(_sample([[1.0, 2.0]]), key=KEY, **kwargs)


def test_check_image_refuses_wrong_dimensions_and_unsupported_dtypes() -> None:
    sample = _sample()
    _check_image("OpX", sample, KEY, torch.zeros(2, 3), (2, 3), "[C, H, W] or [H, W]")
    with pytest.raises(
        ValueError, match=r"OpX: key .* expects an image with 2 or 3 dimensions \(\[H, W\]\), got shape \(4,\)"
    ):
        _check_image("OpX", sample, KEY, np.zeros(4), (2, 3), "[H, W]")
    with pytest.raises(ValueError, match="expects an image with 2 to 5 dimensions"):
        _check_image("OpX", sample, KEY, np.zeros(4), (2, 3, 4, 5), "any")
    for image in (
        np.zeros((2, 2), dtype=complex),
        np.zeros((2, 2), dtype=object),
        torch.zeros(2, 2, dtype=torch.cfloat),
    ):
        with pytest.raises(TypeError, match=r"has dtype .*, which is not supported"):
            _check_image("OpX", sample, KEY, image, (2,), "[H, W]")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, np.bool_(True), "1", None])
def test_number_refuses_what_is_not_a_finite_number(value: Any) -> None:
    with pytest.raises(ValueError, match=r"OpX: rotate must be a finite number"):
        _number("OpX", "rotate", value)


def test_number_allows_infinity_only_when_asked_and_never_nan() -> None:
    assert _number("OpX", "clip", float("-inf"), finite=False) == float("-inf")
    assert _number("OpX", "x", np.float32(1.5)) == 1.5
    with pytest.raises(ValueError, match="clip must be a number, got nan"):
        _number("OpX", "clip", float("nan"), finite=False)


def test_number_pair_and_integers_name_the_argument() -> None:
    assert _number_pair("OpX", "translate", (1, 2.5)) == (1.0, 2.5)
    with pytest.raises(ValueError, match=r"OpX: translate must be a pair of finite numbers, got \(1, 2, 3\)"):
        _number_pair("OpX", "translate", (1, 2, 3))
    with pytest.raises(ValueError, match=r"clip must be a pair of numbers \(low, high\), got 'ab'"):
        _number_pair("OpX", "clip", "ab", finite=False, what=" (low, high)")
    assert _integers("OpX", "shape", [np.int64(2), 3], 1) == (2, 3)
    with pytest.raises(ValueError, match=r"OpX: shape must be 3 integers >= 1, got \(2, 3\)"):
        _integers("OpX", "shape", (2, 3), 1, length=3)
    with pytest.raises(ValueError, match=r"must be a pair of integers >= 0, got \(1\.5, 2\)"):
        _integers("OpX", "padding", (1.5, 2), 0, length=2)
    with pytest.raises(ValueError, match=r"must be a sequence of integers >= 1, got \(True, 2\)"):
        _integers("OpX", "shape", (True, 2), 1)


def test_tensor_of_accepts_big_endian_read_only_and_strided_arrays() -> None:
    array = np.arange(12, dtype=">f4").reshape(3, 4)[:, ::2]
    array.flags.writeable = False
    tensor = _tensor_of(array)
    assert tensor.dtype == torch.float32
    np.testing.assert_array_equal(tensor.numpy(), array)
    tensor[0, 0] = 99.0  # a copy: the caller's array is untouched
    assert array[0, 0] == 0


def test_as_kind_of_returns_the_kind_of_the_reference() -> None:
    result = np.array([[1.25, 2.5]])
    assert isinstance(_as_kind_of(result, np.zeros(1), keep_dtype=True), np.ndarray)
    tensor = _as_kind_of(result, torch.zeros(1, dtype=torch.float16), keep_dtype=True)
    assert tensor.dtype == torch.float16
    assert _as_kind_of(result, torch.zeros(1, dtype=torch.float16), keep_dtype=False).dtype == torch.float64
