"""Imaging key types: what a sample key holds (image, segmentation, boxes, contours), told by its name.

A key ending in ``img`` holds an image, ``seg`` a segmentation map, ``bbox`` bounding boxes and ``ctr`` contours
(FuseMedML's ``fuseimg.utils.typing``); any other key is ``DataTypeBasic.UNKNOWN``. :class:`OpApplyTypesImaging`
applies ops by those types, e.g. the same op to every image of a multi-view sample.

>>> from fuse.core import create_initial_sample
>>> from fuse.data import OpLambda
>>> sample = create_initial_sample("case_1")
>>> sample.update({"data.cc.img": 1, "data.mlo.img": 2, "data.cc.seg": 3, "data.label": 4})
>>> op = OpApplyTypesImaging({DataTypeImaging.IMAGE: (OpLambda(lambda x: 10 * x), {})})
>>> sample = op(sample)
>>> sample["data.cc.img"], sample["data.mlo.img"], sample["data.cc.seg"], sample["data.label"]
(10, 20, 3, 4)

The module also holds the private helpers the imaging ops share to read an image (a numpy array or a torch
tensor) from a sample with errors that name the op, the key and the sample id. torch is never imported here: a
value can only be a tensor once torch has been imported by whoever made it.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType, ModuleType
from typing import Any

import numpy as np

from fuse.data import OpApplyTypes, TypeDetectorPatternsBased, sample_value

__all__ = ["PATTERNS_DICT_IMAGING", "DataTypeImaging", "OpApplyTypesImaging", "type_detector_imaging"]


class DataTypeImaging(Enum):
    """The kinds of imaging data a sample key can hold (values as in FuseMedML).

    >>> DataTypeImaging.IMAGE.value, DataTypeImaging.BBOX.value
    ('image', 'bboxes')
    """

    IMAGE = "image"  # an image
    SEG = "seg"  # a segmentation map
    BBOX = "bboxes"  # bounding boxes
    CTR = "contours"  # contours


# first match wins (``re.match``); keys matching none are DataTypeBasic.UNKNOWN. Read-only: the detector below
# copies it, so a change here could not reach it anyway.
PATTERNS_DICT_IMAGING: Mapping[str, DataTypeImaging] = MappingProxyType(
    {
        r".*img$": DataTypeImaging.IMAGE,
        r".*seg$": DataTypeImaging.SEG,
        r".*bbox$": DataTypeImaging.BBOX,
        r".*ctr$": DataTypeImaging.CTR,
    }
)

type_detector_imaging = TypeDetectorPatternsBased(PATTERNS_DICT_IMAGING)
"""Tells the :class:`DataTypeImaging` of a key from its name (``DataTypeBasic.UNKNOWN`` when none matches)."""


class OpApplyTypesImaging(OpApplyTypes):
    """:class:`fuse.data.OpApplyTypes` with the type detector fixed to :data:`type_detector_imaging`: apply an
    op to every key of a given :class:`DataTypeImaging`.

    FuseMedML's ``OpApplyTypesImaging`` was a ``functools.partial``; this is a class, so it can be subclassed and
    its cache identity includes the detector's patterns (a changed pattern never serves stale cached samples).
    The detector cannot be replaced; use :class:`fuse.data.OpApplyTypes` for another one.

    >>> from fuse.core import create_initial_sample
    >>> from fuse.data import OpLambda
    >>> sample = create_initial_sample("case_1")
    >>> sample.update({"data.input.img": 2, "data.gt.seg": 1})
    >>> op = OpApplyTypesImaging({
    ...     DataTypeImaging.IMAGE: (OpLambda(lambda x, factor: x * factor), {"factor": 3}),
    ...     DataTypeImaging.SEG: (OpLambda(lambda x: -x), {}),
    ... })
    >>> sample = op(sample)
    >>> sample["data.input.img"], sample["data.gt.seg"]
    (6, -1)
    """

    def __init__(self, type_to_op_dict: Mapping[Any, tuple[Any, Mapping[str, Any]]]) -> None:
        super().__init__(type_to_op_dict, type_detector_imaging)

    def cache_identity(self) -> str:
        """As :meth:`fuse.data.OpBase.cache_identity`, plus the identity of the imaging type detector."""
        identity = f"{super().cache_identity()}|{type_detector_imaging.cache_identity()}"
        return hashlib.sha256(identity.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------- private helpers
def _torch_of(value: Any) -> ModuleType | None:
    """The torch module when ``value`` is a tensor (torch is then already imported), else ``None``."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return torch
    return None


def _sample_id(sample_dict: Mapping[str, Any]) -> Any:
    return sample_dict.get("data.sample_id")


def _where(op: object, key: str, sample_dict: Mapping[str, Any]) -> str:
    """``"OpName: key 'k' of sample 's'"``, the start of an error message about one image (``op``: an op or a name)."""
    name = op if isinstance(op, str) else type(op).__name__
    return f"{name}: key {key!r} of sample {_sample_id(sample_dict)!r}"


def _image_value(sample_dict: Mapping[str, Any], key: str, op: object) -> Any:
    """``sample_dict[key]``, which must be a numpy array or a torch tensor (errors name the op, key and sample)."""
    value = sample_value(sample_dict, key, op)
    if isinstance(value, np.ndarray) or _torch_of(value) is not None:
        return value
    raise TypeError(
        f"{_where(op, key, sample_dict)} holds a {type(value).__module__}.{type(value).__qualname__}; expected a "
        "numpy array or a torch tensor"
    )


def _dtype_kind(image: Any) -> str:
    """``"float"``, ``"int"`` (signed or unsigned integers), ``"bool"`` or ``"other"`` (complex, object, ...)."""
    torch = _torch_of(image)
    if torch is not None:
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
