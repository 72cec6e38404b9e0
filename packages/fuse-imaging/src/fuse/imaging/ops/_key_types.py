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
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any

from fuse.data import OpApplyTypes, TypeDetectorPatternsBased

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

    Its cache identity includes the detector's patterns (a changed pattern never serves stale cached samples). The
    detector cannot be replaced; use :class:`fuse.data.OpApplyTypes` for another one.

    Compatibility: FuseMedML's ``OpApplyTypesImaging`` was a ``functools.partial``; this class can be subclassed.

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
