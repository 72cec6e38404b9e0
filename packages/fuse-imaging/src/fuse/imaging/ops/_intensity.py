"""Intensity ops: clip, normalise an image by its own range, map it to 0-255 ``uint8``, map one range onto another
(FuseMedML's ``fuseimg/data/ops/color.py``).

Every op takes a numpy array or a torch tensor of any shape, returns the same kind (on the same device), and never
modifies the caller's array: the result is a new array. Each docstring states the dtype of the result. FuseMedML's
``op_*_img`` instances, which apply an op to every image key (a key ending in ``img``), are here too:

>>> import numpy as np
>>> from fuse.core import create_initial_sample
>>> from fuse.data import PipelineDefault
>>> sample = create_initial_sample("case_1")
>>> sample["data.cc.img"] = np.array([-1000.0, 0.0, 250.0, 3000.0])
>>> pipeline = PipelineDefault("static", [
...     (op_clip_img, {"clip": (-500.0, 500.0)}),
...     (op_to_range_img, {"from_range": (-500.0, 500.0), "to_range": (0.0, 1.0)}),
... ])
>>> pipeline(sample)["data.cc.img"]
array([0.  , 0.5 , 0.75, 1.  ])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from fuse.core import NDict, is_tensor
from fuse.data import OpBase
from fuse.imaging.ops._common import _dtype_kind, _image_value, _number_pair, _size, _where
from fuse.imaging.ops._key_types import DataTypeImaging, OpApplyTypesImaging

__all__ = [
    "OpClip",
    "OpNormalizeAgainstSelf",
    "OpToIntImageSpace",
    "OpToRange",
    "op_clip_img",
    "op_normalize_against_self_img",
    "op_to_int_image_space_img",
    "op_to_range_img",
]


def _range(where: str, name: str, value: Any) -> tuple[float, float]:
    """``(low, high)`` from a pair of numbers (infinite bounds allowed, NaN refused)."""
    return _number_pair(where, name, value, finite=False, what=" (low, high)")


def _require_kind(image: Any, kinds: Sequence[str], where: str) -> str:
    kind = _dtype_kind(image)
    if kind not in kinds:
        raise TypeError(f"{where} has dtype {image.dtype}; supported: {' or '.join(kinds)} images")
    return kind


def _require_not_empty(image: Any, where: str) -> None:
    if _size(image) == 0:
        raise ValueError(f"{where} is empty (shape {tuple(image.shape)}); the op needs at least one value")


def _float_copy(op: object, sample_dict: NDict, key: str, dtype: torch.dtype) -> tuple[Any, str]:
    """A copy of the non-empty float, int or bool image ``sample_dict[key]`` in the float ``dtype`` (float32 or
    float64; a tensor stays on its device), to compute on in place, and the prefix of an error message about it."""
    image = _image_value(op, sample_dict, key)
    where = _where(op, sample_dict, key)
    _require_kind(image, ("float", "int", "bool"), where)
    _require_not_empty(image, where)
    if is_tensor(image):
        return image.to(dtype, copy=True), where
    return image.astype(np.float32 if dtype == torch.float32 else np.float64), where


# ---------------------------------------------------------------------------------------------- clip
def _clip(image: Any, clip: Any, where: str) -> Any:
    low, high = _range(where, "clip", clip)
    if low > high:
        raise ValueError(f"{where}: clip must be (low, high) with low <= high, got {clip!r}")
    kind = _require_kind(image, ("float", "int"), where)
    if kind == "int":
        if not (low.is_integer() and high.is_integer()):
            raise ValueError(
                f"{where} is an integer image (dtype {image.dtype}), so clip must hold whole numbers, got {clip!r}; "
                "convert the image to float first to clip it at fractional values"
            )
        integer_info = torch.iinfo(image.dtype) if is_tensor(image) else np.iinfo(image.dtype)
        bounds: tuple[Any, Any] = (
            min(max(int(low), int(integer_info.min)), int(integer_info.max)),
            min(max(int(high), int(integer_info.min)), int(integer_info.max)),
        )
    else:
        info = torch.finfo(image.dtype) if is_tensor(image) else np.finfo(image.dtype)
        bounds = (min(max(low, float(info.min)), float(info.max)), min(max(high, float(info.min)), float(info.max)))
    if is_tensor(image):
        return torch.clamp(image, bounds[0], bounds[1])
    # Python scalars do not promote the array's dtype (NumPy 2); astype keeps it whatever the NumPy version
    return np.clip(image, bounds[0], bounds[1]).astype(image.dtype, copy=False)


class OpClip(OpBase):
    """Clip the values of an image to ``clip=(low, high)`` (default ``(0.0, 1.0)``).

    The result is a new array or tensor with the input's dtype (FuseMedML clamped tensors in place). An integer
    image needs whole-number bounds (``-500`` or ``-500.0``); bounds beyond the dtype's range are limited to that
    range (so ``-inf`` in a float16 image becomes -65504). NaN values stay NaN. Bool and complex images are refused.

    >>> import numpy as np
    >>> import torch
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.input.img"] = np.array([-2.0, 0.5, 7.0], dtype=np.float32)
    >>> OpClip()(sample, key="data.input.img")["data.input.img"]
    array([0. , 0.5, 1. ], dtype=float32)
    >>> OpClip.clip(torch.tensor([-700, 20, 900], dtype=torch.int16), clip=(-500, 500))
    tensor([-500,   20,  500], dtype=torch.int16)
    """

    def __call__(self, sample_dict: NDict, key: str, clip: tuple[float, float] = (0.0, 1.0)) -> NDict:
        """Clip ``sample_dict[key]`` to ``clip`` and store the result under ``key``."""
        image = _image_value(self, sample_dict, key)
        sample_dict[key] = _clip(image, clip, _where(self, sample_dict, key))
        return sample_dict

    @staticmethod
    def clip(img: Any, clip: tuple[float, float] = (0.0, 1.0)) -> Any:
        """Clip a numpy array or a torch tensor to ``clip=(low, high)`` (a new one, same dtype), as the op does."""
        if not isinstance(img, np.ndarray) and not is_tensor(img):
            raise TypeError(f"OpClip.clip expects a numpy array or a torch tensor, got {type(img).__name__}")
        return _clip(img, clip, "OpClip.clip: the image")


# ---------------------------------------------------------------------------------------------- self normalisation
class OpNormalizeAgainstSelf(OpBase):
    """Map an image linearly onto [0, 1] by its own minimum and maximum (not by dataset statistics):
    ``(x - min) / (max - min)``, computed in float32 and returned as float32.

    A constant image gives zeros (FuseMedML divided by zero: NaN and a warning). A NaN anywhere makes the whole
    result NaN. An empty image raises ``ValueError``.

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.input.img"] = np.array([[10, 20], [30, 50]], dtype=np.uint16)
    >>> OpNormalizeAgainstSelf()(sample, key="data.input.img")["data.input.img"]
    array([[0.  , 0.25],
           [0.5 , 1.  ]], dtype=float32)
    """

    def __call__(self, sample_dict: NDict, key: str) -> NDict:
        """Normalise ``sample_dict[key]`` and store the float32 result under ``key``."""
        result, _ = _float_copy(self, sample_dict, key, torch.float32)
        low = result.min()
        span = result.max() - low
        result -= low  # a fresh copy: the caller's image is untouched
        if span == 0:
            result[...] = 0  # a constant image
        else:
            result /= span
        sample_dict[key] = result
        return sample_dict


# ---------------------------------------------------------------------------------------------- to uint8
class OpToIntImageSpace(OpBase):
    """Map an image onto the 0-255 ``uint8`` grey scale by its own minimum and maximum:
    ``floor((x - min) / (max - min) * 255)`` computed in float64, so only the maximum maps to 255 (a truncating
    cast). Returns a ``uint8`` array, or a ``uint8`` tensor on the input's device.

    Any integer or float input works. A constant image gives zeros; NaN or infinite values raise ``ValueError``
    (``uint8`` cannot hold them).

    Compatibility: FuseMedML modified a float input in place and failed on integers.

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.input.img"] = np.array([-1.0, 0.0, 0.5, 1.0])
    >>> OpToIntImageSpace()(sample, key="data.input.img")["data.input.img"]
    array([  0, 127, 191, 255], dtype=uint8)
    """

    def __call__(self, sample_dict: NDict, key: str) -> NDict:
        """Convert ``sample_dict[key]`` and store the ``uint8`` result under ``key``."""
        values, where = _float_copy(self, sample_dict, key, torch.float64)
        low, high = float(values.min()), float(values.max())
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(
                f"{where} holds non-finite values (min {low}, max {high}); uint8 cannot represent NaN or infinity, "
                "replace them first (e.g. with OpReplaceElements)"
            )
        values -= low
        if high > low:
            values /= high - low
            values *= 255.0
        else:
            values[...] = 0  # a constant image
        sample_dict[key] = values.to(torch.uint8) if is_tensor(values) else values.astype(np.uint8)
        return sample_dict


# ---------------------------------------------------------------------------------------------- range mapping
class OpToRange(OpBase):
    """Map values linearly from ``from_range=(a, b)`` onto ``to_range=(c, d)``: ``(x - a) * (d - c) / (b - a) + c``.

    Values outside ``from_range`` map outside ``to_range`` (clip first with :class:`OpClip` to avoid it); a
    reversed range (``a > b`` or ``c > d``) flips the values. The result is a new array or tensor: a float input
    keeps its dtype, an integer or bool input gives float32 (FuseMedML worked in place and failed on integers).
    ``a == b`` raises ``ValueError``.

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.input.img"] = np.array([0, 64, 192], dtype=np.uint8)
    >>> op = OpToRange()
    >>> op(sample, key="data.input.img", from_range=(0, 256), to_range=(-1.0, 1.0))["data.input.img"]
    array([-1. , -0.5,  0.5], dtype=float32)
    """

    def __call__(
        self, sample_dict: NDict, key: str, from_range: tuple[float, float], to_range: tuple[float, float]
    ) -> NDict:
        """Map ``sample_dict[key]`` and store the result under ``key``."""
        image = _image_value(self, sample_dict, key)
        where = _where(self, sample_dict, key)
        from_start, from_end = _range(where, "from_range", from_range)
        to_start, to_end = _range(where, "to_range", to_range)
        if from_start == from_end:
            raise ValueError(f"{where}: from_range must have two different ends, got {from_range!r}")
        kind = _require_kind(image, ("float", "int", "bool"), where)
        if kind != "float":
            image = image.to(torch.float32) if is_tensor(image) else image.astype(np.float32)
        # Python floats: the image's float dtype is kept (numpy scalars could promote float32 to float64)
        result = image - from_start
        result *= (to_end - to_start) / (from_end - from_start)
        result += to_start
        sample_dict[key] = result
        return sample_dict


# FuseMedML's instances that apply the op to every image key (keys ending in "img")
op_clip_img = OpApplyTypesImaging({DataTypeImaging.IMAGE: (OpClip(), {})})
op_normalize_against_self_img = OpApplyTypesImaging({DataTypeImaging.IMAGE: (OpNormalizeAgainstSelf(), {})})
op_to_int_image_space_img = OpApplyTypesImaging({DataTypeImaging.IMAGE: (OpToIntImageSpace(), {})})
op_to_range_img = OpApplyTypesImaging({DataTypeImaging.IMAGE: (OpToRange(), {})})
