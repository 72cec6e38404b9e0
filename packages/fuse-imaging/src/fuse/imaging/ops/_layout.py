"""Layout ops: move the channel axis, select a slice, fold a volume's axis into the channels and back. They move or
select axes and never compute new values, so the result is a view of the input where numpy and torch allow it.

Every op takes a numpy array or a torch tensor and returns the same kind (on the same device). Axis names: ``H``,
``W`` are the image rows and columns, ``C`` the channels, ``D`` the slices of a volume.

>>> import numpy as np
>>> from fuse.core import create_initial_sample
>>> from fuse.data import PipelineDefault
>>> sample = create_initial_sample("case_1")
>>> sample["data.input.img"] = np.ones((4, 6, 3), dtype=np.float32)  # H, W, C
>>> pipeline = PipelineDefault("static", [(OpHWCToCHW(), {"key": "data.input.img"})])
>>> pipeline(sample)["data.input.img"].shape
(3, 4, 6)
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from fuse.core import NDict, is_tensor
from fuse.data import OpBase, sample_value
from fuse.imaging.ops._common import (
    _check_image,
    _image_value,
    _integer,
    _op_name,
    _OpVerifyingArguments,
    _shape,
    _where,
)
from fuse.imaging.ops._key_types import DataTypeImaging, OpApplyTypesImaging

__all__ = [
    "OpAugSqueeze3Dto2D",
    "OpAugUnsqueeze3DFrom2D",
    "OpCHWToHWC",
    "OpHWCToCHW",
    "OpSelectSlice",
    "op_select_slice_img_and_seg",
]


# ---------------------------------------------------------------------------------------------- channel axis
def _move_channel_axis(op: object, sample_dict: NDict, key: str, to_front: bool) -> Any:
    """``sample_dict[key]`` with its channel axis moved to the front (``[H, W, C]`` -> ``[C, H, W]``) or to the back,
    as a view; a 2-D image gets a channel axis of 1. The channel axis must be the smallest (FuseMedML's check,
    which catches an image that already has the wanted layout)."""
    image = _image_value(op, sample_dict, key)
    shape = _shape(image)
    if len(shape) == 2:
        return image[None] if to_front else image[..., None]
    channel, order, layout, other = (
        (2, (2, 0, 1), "[H, W, C]", "first") if to_front else (0, (1, 2, 0), "[C, H, W]", "last")
    )
    spatial = [size for axis, size in enumerate(shape) if axis != channel]
    if len(shape) != 3 or not all(shape[channel] < size for size in spatial):
        raise ValueError(
            f"{_where(op, sample_dict, key)} has shape {shape}; expected [H, W] or {layout} with the channel axis "
            f"{'last' if to_front else 'first'} and smaller than H and W (is the image already channel-{other}?)"
        )
    return image.permute(*order) if is_tensor(image) else image.transpose(*order)


class OpHWCToCHW(OpBase):
    """Move the channel axis first: ``[H, W, C]`` -> ``[C, H, W]``; a 2-D ``[H, W]`` image gets a channel axis,
    ``[1, H, W]``.

    As in FuseMedML, the channel axis must be the smallest (``C < H`` and ``C < W``), which catches an image that
    is already channel-first; otherwise, or for another number of dimensions, a ``ValueError`` names the key and
    the shape. Works on numpy arrays and torch tensors; the result is a view of the input (no copy).

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.input.img"] = np.zeros((32, 48, 3))
    >>> OpHWCToCHW()(sample, key="data.input.img")["data.input.img"].shape
    (3, 32, 48)
    """

    def __call__(self, sample_dict: NDict, key: str) -> NDict:
        """Rearrange ``sample_dict[key]`` and store the result under ``key``."""
        sample_dict[key] = _move_channel_axis(self, sample_dict, key, to_front=True)
        return sample_dict


class OpCHWToHWC(OpBase):
    """Move the channel axis last: ``[C, H, W]`` -> ``[H, W, C]``; a 2-D ``[H, W]`` image gets a channel axis,
    ``[H, W, 1]``.

    As in FuseMedML, the channel axis must be the smallest (``C < H`` and ``C < W``); otherwise, or for another
    number of dimensions, a ``ValueError`` names the key and the shape. Works on numpy arrays and torch tensors;
    the result is a view of the input (no copy).

    >>> import torch
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.input.img"] = torch.zeros(3, 32, 48)
    >>> OpCHWToHWC()(sample, key="data.input.img")["data.input.img"].shape
    torch.Size([32, 48, 3])
    """

    def __call__(self, sample_dict: NDict, key: str) -> NDict:
        """Rearrange ``sample_dict[key]`` and store the result under ``key``."""
        sample_dict[key] = _move_channel_axis(self, sample_dict, key, to_front=False)
        return sample_dict


# ---------------------------------------------------------------------------------------------- slice
class OpSelectSlice(OpBase):
    """Select one slice along the first axis of an image with 3 or more dimensions: ``image[slice_idx]``
    (a view). An image with fewer than 3 dimensions is left as it is (as in FuseMedML).

    ``slice_idx`` is an integer with ``-depth <= slice_idx < depth`` (negative counts from the end); anything
    else raises ``ValueError`` naming the key, the sample id and the allowed range.

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.input.img"] = np.arange(24).reshape(4, 3, 2)
    >>> OpSelectSlice()(sample, key="data.input.img", slice_idx=-1)["data.input.img"]
    array([[18, 19],
           [20, 21],
           [22, 23]])
    """

    def __call__(self, sample_dict: NDict, key: str, slice_idx: int) -> NDict:
        """Replace ``sample_dict[key]`` by its slice ``slice_idx`` along the first axis."""
        image = _image_value(self, sample_dict, key)
        shape = _shape(image)
        if len(shape) < 3:
            return sample_dict
        depth = shape[0]
        try:
            if isinstance(slice_idx, (bool, np.bool_)):
                raise TypeError
            index = operator.index(slice_idx)
        except TypeError:
            index = None
        if index is None or not -depth <= index < depth:
            raise ValueError(
                f"{_where(self, sample_dict, key)} (shape {shape}): slice_idx must be an integer in "
                f"[{-depth}, {depth - 1}], got {slice_idx!r}"
            )
        sample_dict[key] = image[index]
        return sample_dict


# --------------------------------------------------------------------------------------------------- 3-D <-> 2-D
def _check_axis_squeeze(op: object, axis_squeeze: Any) -> int:
    if isinstance(axis_squeeze, bool) or axis_squeeze not in (1, 2, 3):
        raise ValueError(f"{_op_name(op)}: axis_squeeze must be 1, 2 or 3, got {axis_squeeze!r}")
    return int(axis_squeeze)


def _permute(image: Any, order: tuple[int, ...]) -> Any:
    return image.permute(order) if is_tensor(image) else np.transpose(image, order)


class OpAugSqueeze3Dto2D(_OpVerifyingArguments):
    """Fold a spatial axis of a ``[C, D1, D2, D3]`` volume into the channel axis, so that the 2-D augmentations
    apply the same transform to every slice: ``axis_squeeze=1`` gives ``[C * D1, D2, D3]``, ``2`` gives
    ``[C * D2, D1, D3]`` and ``3`` gives ``[C * D3, D1, D2]``. :class:`OpAugUnsqueeze3DFrom2D` undoes it.

    The result may share memory with the input (like ``reshape``); the ops here never write into it.

    :param verify_arguments: check that the image is a tensor or array with 4 dimensions.

    >>> import torch
    >>> volume = torch.zeros(2, 5, 6, 7)
    >>> tuple(OpAugSqueeze3Dto2D()({"img": volume}, key="img", axis_squeeze=3)["img"].shape)
    (14, 5, 6)
    """

    def __call__(self, sample_dict: NDict, key: str, axis_squeeze: int) -> NDict:
        """Replace ``sample[key]`` by the squeezed image."""
        image = sample_value(sample_dict, key, self)
        if self._verify_arguments:
            _check_image(self, sample_dict, key, image, (4,), "[C, D1, D2, D3]")
        axis = _check_axis_squeeze(self, axis_squeeze)
        if axis == 2:
            image = _permute(image, (0, 2, 1, 3))
        elif axis == 3:
            image = _permute(image, (0, 3, 1, 2))
        sample_dict[key] = image.reshape((image.shape[0] * image.shape[1], *image.shape[2:]))
        return sample_dict


class OpAugUnsqueeze3DFrom2D(_OpVerifyingArguments):
    """Undo :class:`OpAugSqueeze3Dto2D`: ``[C * Dk, ...]`` back to ``[C, D1, D2, D3]``, given the same
    ``axis_squeeze`` and the original number of ``channels`` ``C``.

    :param verify_arguments: check that the image is a tensor or array with 3 dimensions.

    >>> import torch
    >>> squeezed = torch.zeros(14, 5, 6)
    >>> tuple(OpAugUnsqueeze3DFrom2D()({"img": squeezed}, key="img", axis_squeeze=3, channels=2)["img"].shape)
    (2, 5, 6, 7)
    """

    def __call__(self, sample_dict: NDict, key: str, axis_squeeze: int, channels: int) -> NDict:
        """Replace ``sample[key]`` by the unsqueezed volume."""
        image = sample_value(sample_dict, key, self)
        if self._verify_arguments:
            _check_image(self, sample_dict, key, image, (3,), "[C * Dk, Di, Dj]")
        axis = _check_axis_squeeze(self, axis_squeeze)
        channels = _integer(self, "channels", channels, 1)
        if image.shape[0] % channels:
            raise ValueError(
                f"{_where(self, sample_dict, key)}: the first axis ({image.shape[0]}) is not a multiple of channels="
                f"{channels}; pass the channel count the volume had before OpAugSqueeze3Dto2D"
            )
        volume = image.reshape((channels, image.shape[0] // channels, *image.shape[1:]))
        if axis == 2:
            volume = _permute(volume, (0, 2, 1, 3))
        elif axis == 3:
            volume = _permute(volume, (0, 2, 3, 1))
        sample_dict[key] = volume
        return sample_dict


# FuseMedML's instance that selects the same slice of every image and segmentation key
op_select_slice_img_and_seg = OpApplyTypesImaging(
    {DataTypeImaging.IMAGE: (OpSelectSlice(), {}), DataTypeImaging.SEG: (OpSelectSlice(), {})}
)
