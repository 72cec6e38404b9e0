"""Geometry ops that keep an image and its world coordinates consistent: :class:`OpResampleToSpacing` and
:class:`OpReorient` (new in fuse-imaging; FuseMedML had no such ops).

They read and update the image metadata that ``OpLoadImage`` writes under ``key_metadata``: ``spacing`` (mm per
spatial array axis), ``origin`` (RAS+ world mm of voxel 0's centre), ``direction`` (3x3: columns are the RAS+ unit
vectors of the array's spatial axes) and ``affine`` (4x4: array index -> RAS+ world mm). They need ``spacing`` and
``affine``; every other metadata key is left as it is.

The spatial axes are the array's axes, except a channel axis, which must be the first or the last one and is named
with ``channel_axis`` (``0`` or ``-1``). Segmentations under ``key_seg`` (a key or a list of keys) get the same
geometric change, with nearest interpolation; they have the image's spatial shape, without a channel axis or with
the image's. Tensors and arrays come back as their own kind, as new arrays.

>>> from fuse.core import create_initial_sample
>>> sample = create_initial_sample("case_1")
>>> sample["data.input.img"] = np.zeros((5, 5, 5), dtype=np.float32)
>>> sample["data.input.meta"] = {"spacing": (2.0, 2.0, 2.0), "affine": np.diag([2.0, 2.0, 2.0, 1.0])}
>>> sample = OpResampleToSpacing()(sample, key="data.input.img", key_metadata="data.input.meta", spacing=1.0)
>>> sample["data.input.img"].shape, sample["data.input.meta.spacing"]
((9, 9, 9), (1.0, 1.0, 1.0))
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from fuse.core import NDict, to_numpy
from fuse.data import OpBase, sample_value
from fuse.imaging.ops._common import Image, _as_kind_of, _check_image, _where

__all__ = ["OpReorient", "OpResampleToSpacing"]

_INTERPOLATION_ORDERS = {"linear": 1, "nearest": 0}
_AXIS_LETTERS = ("LR", "PA", "IS")


# --------------------------------------------------------------------------------------------------- helpers
def _geometry(op: object, sample_dict: Mapping[str, Any], key_metadata: str) -> tuple[tuple[float, ...], np.ndarray]:
    """The validated ``spacing`` and ``affine`` of the metadata under ``key_metadata``."""
    where = _where(op, sample_dict, key_metadata)
    spacing = sample_value(sample_dict, f"{key_metadata}.spacing", op)
    affine = sample_value(sample_dict, f"{key_metadata}.affine", op)
    if (
        isinstance(spacing, (str, bytes))
        or not isinstance(spacing, (Sequence, np.ndarray))
        or len(spacing) not in (2, 3)
        or not all(_positive(value) for value in spacing)
    ):
        raise ValueError(f"{where}: the metadata spacing must hold 2 or 3 numbers > 0, got {spacing!r}")
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise ValueError(f"{where}: the metadata affine must be a finite 4x4 matrix, got {affine!r}")
    return tuple(float(value) for value in spacing), matrix


def _positive(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value) and float(value) > 0


def _channel_axis(
    op: object, sample_dict: Mapping[str, Any], key: str, image: Image, spatial: int, channel_axis: int | None
) -> int | None:
    """The channel axis of ``image`` as a non-negative index, or ``None``; checks the image has ``spatial`` axes
    besides it."""
    if channel_axis is None:
        if image.ndim != spatial:
            raise ValueError(
                f"{_where(op, sample_dict, key)}: the image has shape {tuple(image.shape)} but its metadata describes "
                f"{spatial} spatial axes; pass channel_axis=0 (channels first) or channel_axis=-1 (channels last)"
            )
        return None
    if image.ndim != spatial + 1 or channel_axis not in (0, -1, spatial):
        raise ValueError(
            f"{_where(op, sample_dict, key)}: channel_axis={channel_axis!r} does not fit an image of shape "
            f"{tuple(image.shape)} with {spatial} spatial axes; use 0 or -1 for an image with one channel axis, or "
            "None for one without"
        )
    return 0 if channel_axis == 0 else spatial


def _spatial_shape(image: Image, channel: int | None) -> tuple[int, ...]:
    return tuple(int(size) for axis, size in enumerate(image.shape) if axis != channel)


def _segmentations(
    op: object,
    sample_dict: Mapping[str, Any],
    key_seg: str | Sequence[str] | None,
    image: Image,
    channel: int | None,
    spatial_shape: tuple[int, ...],
) -> list[tuple[str, Image, int | None]]:
    """``(key, segmentation, its channel axis)`` for every key of ``key_seg``, checked against the image."""
    keys = [] if key_seg is None else [key_seg] if isinstance(key_seg, str) else list(key_seg)
    segmentations = []
    for seg_key in keys:
        seg = sample_value(sample_dict, seg_key, op)
        _check_image(op, sample_dict, seg_key, seg, (len(spatial_shape), image.ndim), "the image's spatial axes")
        seg_channel = None if seg.ndim == len(spatial_shape) else channel
        if _spatial_shape(seg, seg_channel) != spatial_shape:
            raise ValueError(
                f"{_where(op, sample_dict, seg_key)}: the segmentation of shape {tuple(seg.shape)} does not match the "
                f"image's spatial shape {spatial_shape}"
            )
        segmentations.append((seg_key, seg, seg_channel))
    return segmentations


# --------------------------------------------------------------------------------------------------- resampling
class OpResampleToSpacing(OpBase):
    """Resample an image (2-D or 3-D, per its metadata ``spacing``) to a new ``spacing`` in mm (one number for
    every axis, or one per spatial axis), with ``scipy.ndimage.affine_transform``.

    - ``interpolation="linear"`` (order 1) for images, ``"nearest"`` (order 0) for label maps; segmentations under
      ``key_seg`` always use nearest.
    - The new grid starts at the centre of voxel 0, which keeps its world position (``origin``); along an axis of
      ``n`` voxels it has ``round((n - 1) * old_spacing / new_spacing) + 1`` voxels (rounded half up), so it spans
      the same voxel centres (up to half a new voxel, filled from the nearest edge voxel).
    - dtypes: nearest keeps the dtype (integer label maps stay integer); linear keeps float32 / float64 and gives
      float32 for other dtypes.
    - The metadata ``spacing`` becomes the new spacing and the ``affine``'s spatial columns are rescaled to it, so
      ``affine @ index`` still gives each voxel's world position; ``origin`` and ``direction`` do not change.

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["img"] = np.array([[0.0, 2.0, 4.0]])
    >>> sample["meta"] = {"spacing": (1.0, 2.0), "affine": np.diag([1.0, 2.0, 1.0, 1.0])}
    >>> sample = OpResampleToSpacing()(sample, key="img", key_metadata="meta", spacing=(1.0, 1.0))
    >>> sample["img"], float(sample["meta.affine"][1, 1])
    (array([[0., 1., 2., 3., 4.]]), 1.0)
    """

    def __call__(
        self,
        sample_dict: NDict,
        key: str,
        key_metadata: str,
        spacing: float | Sequence[float],
        interpolation: str = "linear",
        key_seg: str | Sequence[str] | None = None,
        channel_axis: int | None = None,
    ) -> NDict:
        """Resample ``sample[key]`` (and ``key_seg``) and update the metadata under ``key_metadata``."""
        image = sample_value(sample_dict, key, self)
        _check_image(self, sample_dict, key, image, (2, 3, 4), "2 or 3 spatial axes and an optional channel axis")
        if interpolation not in _INTERPOLATION_ORDERS:
            raise ValueError(
                f"OpResampleToSpacing: interpolation must be one of {list(_INTERPOLATION_ORDERS)} ('nearest' for "
                f"label maps), got {interpolation!r}"
            )
        old_spacing, affine = _geometry(self, sample_dict, key_metadata)
        spatial = len(old_spacing)
        target = (spacing,) * spatial if isinstance(spacing, numbers.Real) else spacing
        if (
            isinstance(target, (str, bytes))
            or not isinstance(target, (Sequence, np.ndarray))
            or len(target) != spatial
            or not all(_positive(value) for value in target)
        ):
            raise ValueError(
                f"OpResampleToSpacing: spacing must be a number > 0 or {spatial} numbers > 0 (one per spatial axis "
                f"of {key!r}), got {spacing!r}"
            )
        new_spacing = tuple(float(value) for value in target)
        channel = _channel_axis(self, sample_dict, key, image, spatial, channel_axis)
        spatial_shape = _spatial_shape(image, channel)
        segmentations = _segmentations(self, sample_dict, key_seg, image, channel, spatial_shape)

        ratios = [new / old for new, old in zip(new_spacing, old_spacing, strict=True)]
        new_shape = tuple(
            math.floor((size - 1) / ratio + 0.5 + 1e-6) + 1 for size, ratio in zip(spatial_shape, ratios, strict=True)
        )
        sample_dict[key] = _resample(image, ratios, new_shape, channel, _INTERPOLATION_ORDERS[interpolation])
        for seg_key, seg, seg_channel in segmentations:
            sample_dict[seg_key] = _resample(seg, ratios, new_shape, seg_channel, order=0)
        new_affine = affine.copy()
        new_affine[:3, :spatial] *= np.asarray(ratios)
        sample_dict[f"{key_metadata}.spacing"] = new_spacing
        sample_dict[f"{key_metadata}.affine"] = new_affine
        return sample_dict


def _resample(image: Image, ratios: list[float], new_shape: tuple[int, ...], channel: int | None, order: int) -> Image:
    """Sample ``image`` at old index ``new index * ratio`` per spatial axis (the channel axis is kept)."""
    from scipy import ndimage

    array = to_numpy(image)  # bfloat16 -> float32
    if order == 0:
        keep_dtype = True
    elif isinstance(image, torch.Tensor):
        keep_dtype = image.dtype in (torch.float32, torch.float64)
    else:
        keep_dtype = image.dtype in (np.float32, np.float64)
    out_dtype = array.dtype if keep_dtype else np.dtype(np.float32)
    if array.dtype == np.float16:  # not supported by scipy.ndimage: computed in float32
        array = array.astype(np.float32)
    matrix = list(ratios)
    shape = list(new_shape)
    if channel is not None:
        matrix.insert(channel, 1.0)
        shape.insert(channel, array.shape[channel])
    if all(ratio == 1.0 for ratio in matrix) and tuple(shape) == array.shape:
        return _as_kind_of(array.astype(out_dtype, copy=True), image, keep_dtype)
    resampled = ndimage.affine_transform(
        array, np.asarray(matrix), offset=0.0, output_shape=tuple(shape), order=order, mode="nearest",
        output=out_dtype if order else array.dtype,
    )  # fmt: skip
    return _as_kind_of(resampled.astype(out_dtype, copy=False), image, keep_dtype)


# --------------------------------------------------------------------------------------------------- reorientation
class OpReorient(OpBase):
    """Reorient a 3-D image so that its array axes follow ``orientation`` (nibabel axis codes; default ``"RAS"``:
    axis 0 runs to the Right, axis 1 Anterior, axis 2 Superior), by flipping and transposing axes: voxel values
    are not interpolated. For an oblique image each axis goes to the closest world direction
    (``nibabel.orientations.io_orientation``).

    The metadata ``affine`` becomes ``affine @ inv_ornt_aff(...)``, and ``spacing``, ``direction`` and ``origin``
    follow it, so every voxel keeps its world position.

    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["img"] = np.arange(8).reshape(2, 2, 2)
    >>> sample["meta"] = {"spacing": (1.0, 1.0, 3.0), "affine": np.diag([-1.0, -1.0, 3.0, 1.0])}  # LPS
    >>> sample = OpReorient()(sample, key="img", key_metadata="meta")
    >>> sample["img"][:, :, 0].tolist(), sample["meta.origin"]
    ([[6, 4], [2, 0]], (-1.0, -1.0, 0.0))
    """

    def __call__(
        self,
        sample_dict: NDict,
        key: str,
        key_metadata: str,
        orientation: str = "RAS",
        key_seg: str | Sequence[str] | None = None,
        channel_axis: int | None = None,
    ) -> NDict:
        """Reorient ``sample[key]`` (and ``key_seg``) and update the metadata under ``key_metadata``."""
        orientations = _nibabel_orientations()
        image = sample_value(sample_dict, key, self)
        _check_image(self, sample_dict, key, image, (3, 4), "3 spatial axes and an optional channel axis")
        if (
            not isinstance(orientation, str)
            or len(orientation) != 3
            or sorted(_axis_pair(letter) for letter in orientation) != [0, 1, 2]
        ):
            raise ValueError(
                "OpReorient: orientation must be 3 axis codes, one of L/R, one of P/A and one of I/S in any order "
                f"(e.g. 'RAS', 'LPS'), got {orientation!r}"
            )
        old_spacing, affine = _geometry(self, sample_dict, key_metadata)
        if len(old_spacing) != 3:
            raise ValueError(
                f"{_where(self, sample_dict, key)}: OpReorient needs a 3-D image, but its metadata spacing "
                f"{old_spacing} describes {len(old_spacing)} spatial axes"
            )
        channel = _channel_axis(self, sample_dict, key, image, 3, channel_axis)
        spatial_shape = _spatial_shape(image, channel)
        segmentations = _segmentations(self, sample_dict, key_seg, image, channel, spatial_shape)

        transform = orientations.ornt_transform(
            orientations.io_orientation(affine), orientations.axcodes2ornt(tuple(orientation))
        )
        new_affine = affine @ orientations.inv_ornt_aff(transform, spatial_shape)
        source_axes = np.argsort(transform[:, 0])  # new spatial axis j comes from old spatial axis source_axes[j]
        new_spacing = tuple(old_spacing[int(axis)] for axis in source_axes)
        sample_dict[key] = _reorient(image, transform, channel)
        for seg_key, seg, seg_channel in segmentations:
            sample_dict[seg_key] = _reorient(seg, transform, seg_channel)
        sample_dict[f"{key_metadata}.spacing"] = new_spacing
        sample_dict[f"{key_metadata}.direction"] = new_affine[:3, :3] / np.asarray(new_spacing)
        sample_dict[f"{key_metadata}.origin"] = tuple(float(value) for value in new_affine[:3, 3])
        sample_dict[f"{key_metadata}.affine"] = new_affine
        return sample_dict


def _nibabel_orientations() -> Any:
    """``nibabel.orientations`` (imported on first use; it has no type annotations)."""
    from nibabel import orientations

    return orientations


def _axis_pair(letter: str) -> int:
    """0, 1 or 2 for the world axis an axis code names (-1 for an unknown letter)."""
    for index, letters in enumerate(_AXIS_LETTERS):
        if letter in letters:
            return index
    return -1


def _reorient(image: Image, transform: np.ndarray, channel: int | None) -> Image:
    """``nibabel.orientations.apply_orientation`` on the spatial axes of ``image`` (a contiguous copy)."""
    spatial_axes = [axis for axis in range(image.ndim) if axis != channel]
    flip_axes = [spatial_axes[axis] for axis in range(3) if transform[axis, 1] == -1]
    order = list(range(image.ndim))
    for new_axis, old_axis in enumerate(np.argsort(transform[:, 0])):
        order[spatial_axes[new_axis]] = spatial_axes[int(old_axis)]
    if isinstance(image, torch.Tensor):
        flipped = torch.flip(image, flip_axes) if flip_axes else image
        return flipped.permute(order).contiguous()
    return np.ascontiguousarray(np.transpose(np.flip(image, tuple(flip_axes)), order))
