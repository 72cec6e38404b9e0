"""Helpers every imaging op shares: read an image (a numpy array or a torch tensor) from a sample, check its
dimensions and dtype, check numeric arguments, and convert between the two kinds, with errors that name the op,
the key and the sample id.

>>> import numpy as np
>>> from fuse.core import create_initial_sample
>>> sample = create_initial_sample("case_1")
>>> sample["data.input.img"] = np.zeros((2, 3))
>>> _where("OpClip", sample, "data.input.img")
"OpClip: key 'data.input.img' of sample 'case_1'"
>>> _shape(_image_value("OpClip", sample, "data.input.img"))
(2, 3)
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from fuse.core import is_tensor
from fuse.data import OpBase, sample_value

Image = torch.Tensor | np.ndarray


# ---------------------------------------------------------------------------------------------- error messages
def _op_name(op: object) -> str:
    """The name an error message gives ``op``: an op's class name, or ``op`` itself when it is a string."""
    return op if isinstance(op, str) else type(op).__name__


def _sample_id(sample_dict: Mapping[str, Any]) -> Any:
    """The sample id, or ``None`` for a dict that is not a fuse sample."""
    return sample_dict.get("data.sample_id")


def _where(op: object, sample_dict: Mapping[str, Any], key: str) -> str:
    """``"OpName: key 'k' of sample 's'"``, the start of an error message about one value (``op``: an op or a name)."""
    return f"{_op_name(op)}: key {key!r} of sample {_sample_id(sample_dict)!r}"


# ---------------------------------------------------------------------------------------------- ops
class _OpVerifyingArguments(OpBase):
    """An op whose input checks can be turned off: ``verify_arguments=False`` (FuseMedML's flag) skips the checks
    that cost time on every sample (the image's type and shape, or its value range); its parameters are always
    checked."""

    def __init__(self, verify_arguments: bool = True) -> None:
        super().__init__()
        self._verify_arguments = verify_arguments


# ---------------------------------------------------------------------------------------------- images
def _require_image(op: object, sample_dict: Mapping[str, Any], key: str, value: Any) -> None:
    """Raise ``TypeError`` unless ``value`` (``sample_dict[key]``) is a numpy array or a torch tensor."""
    if not (isinstance(value, np.ndarray) or is_tensor(value)):
        raise TypeError(
            f"{_where(op, sample_dict, key)} holds a {type(value).__module__}.{type(value).__qualname__}; expected a "
            "numpy array or a torch tensor"
        )


def _image_value(op: object, sample_dict: Mapping[str, Any], key: str) -> Any:
    """``sample_dict[key]``, which must be a numpy array or a torch tensor (errors name the op, key and sample)."""
    value = sample_value(sample_dict, key, op)
    _require_image(op, sample_dict, key, value)
    return value


def _check_image(
    op: object, sample_dict: Mapping[str, Any], key: str, image: Any, ndims: Sequence[int], layout: str
) -> None:
    """Raise unless ``image`` is a tensor or an array of a real or bool dtype with one of the dimension counts
    ``ndims`` (``layout`` describes them in the message)."""
    _require_image(op, sample_dict, key, image)
    if image.ndim not in ndims:
        expected = " or ".join(str(ndim) for ndim in ndims) if len(ndims) <= 2 else f"{ndims[0]} to {ndims[-1]}"
        raise ValueError(
            f"{_where(op, sample_dict, key)} expects an image with {expected} dimensions ({layout}), got shape "
            f"{_shape(image)}"
        )
    if _dtype_kind(image) == "other":
        raise TypeError(
            f"{_where(op, sample_dict, key)} has dtype {image.dtype}, which is not supported; convert it to a float, "
            "integer or bool dtype"
        )


def _dtype_kind(image: Any) -> str:
    """``"float"``, ``"int"`` (signed or unsigned integers), ``"bool"`` or ``"other"`` (complex, object, ...)."""
    if is_tensor(image):
        if image.dtype == torch.bool:
            return "bool"
        if image.is_floating_point():
            return "float"
        if image.is_complex():
            return "other"
        return "int"
    if image.dtype == np.bool_:
        return "bool"
    if np.issubdtype(image.dtype, np.floating):
        return "float"
    if np.issubdtype(image.dtype, np.integer):
        return "int"
    return "other"


def _shape(image: Any) -> tuple[int, ...]:
    return tuple(int(size) for size in image.shape)


def _size(image: Any) -> int:
    """The number of values in an array or a tensor."""
    return int(image.numel()) if is_tensor(image) else int(image.size)


def _copy(image: Any) -> Any:
    return image.clone() if is_tensor(image) else image.copy()


def _tensor_of(array: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy`` of ``array`` in native byte order, contiguous and writable (copied when needed: torch
    refuses other byte orders and warns about read-only arrays, e.g. memory-mapped ones)."""
    array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def _as_kind_of(array: np.ndarray, like: Any, keep_dtype: bool) -> Image:
    """``array`` as the kind of ``like``: a contiguous array, or a tensor on ``like``'s device (with its dtype when
    ``keep_dtype``)."""
    array = np.ascontiguousarray(array)
    if not is_tensor(like):
        return array
    tensor = _tensor_of(array).to(like.device)
    return tensor.to(like.dtype) if keep_dtype else tensor


def _channel_list(op: object, sample_dict: Mapping[str, Any], key: str, channels: Any, count: int) -> list[int] | None:
    """The validated channel indices of the first axis (``None``: every channel)."""
    if channels is None:
        return None
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence):
        raise TypeError(f"{_op_name(op)}: channels must be a list of channel indices or None, got {channels!r}")
    for channel in channels:
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not -count <= channel < count:
            raise ValueError(
                f"{_where(op, sample_dict, key)}: channels must hold indices in [0, {count}) of the first axis, got "
                f"{list(channels)!r}"
            )
    return [int(channel) for channel in channels]


# ---------------------------------------------------------------------------------------------- arguments
def _number(op: object, name: str, value: Any, finite: bool = True) -> float:
    """``value`` as a ``float``: a real number, not NaN (nor infinite when ``finite``); bools are refused."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Real)
        or math.isnan(value)
        or (finite and math.isinf(value))
    ):
        kind = "a finite number" if finite else "a number"
        raise ValueError(f"{_op_name(op)}: {name} must be {kind}, got {value!r}")
    return float(value)


def _number_pair(op: object, name: str, value: Any, finite: bool = True, what: str = "") -> tuple[float, float]:
    """``(float, float)`` from a pair of numbers (see :func:`_number`); ``what`` names the pair in the message."""
    message = f"{_op_name(op)}: {name} must be a pair of {'finite ' if finite else ''}numbers{what}, got {value!r}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(message)
    try:
        return _number(op, name, value[0], finite), _number(op, name, value[1], finite)
    except ValueError:
        raise ValueError(message) from None


def _integer(op: object, name: str, value: Any, minimum: int) -> int:
    """``value`` as an ``int`` >= ``minimum`` (ints and numpy integers; bools and floats are refused)."""
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{_op_name(op)}: {name} must be an integer >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{_op_name(op)}: {name} must be an integer >= {minimum}, got {value!r}")
    return number


def _integers(op: object, name: str, value: Any, minimum: int, length: int | None = None) -> tuple[int, ...]:
    """A sequence of integers >= ``minimum`` (of ``length`` of them when given) as a tuple."""
    count = "a sequence of" if length is None else "a pair of" if length == 2 else str(length)
    message = f"{_op_name(op)}: {name} must be {count} integers >= {minimum}, got {value!r}"
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, Sequence)
        or (length is not None and len(value) != length)
    ):
        raise ValueError(message)
    try:
        return tuple(_integer(op, name, item, minimum) for item in value)
    except ValueError:
        raise ValueError(message) from None
