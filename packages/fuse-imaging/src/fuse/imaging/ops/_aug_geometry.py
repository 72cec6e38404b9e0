"""Geometric augmentation ops (FuseMedML's ``fuseimg/data/ops/aug/geometry.py``): 2-D affine transforms, centre
crop-and-resize and 3-D rotation (folding a volume into channels for them is in :mod:`fuse.imaging.ops._layout`,
random crops and resizing in :mod:`fuse.imaging.ops._resize`).

Conventions shared by these ops:

- An image is a ``torch.Tensor`` or a ``numpy.ndarray``; an op returns the kind it got (a tensor stays on its
  device) and never writes into the caller's array.
- In-plane coordinates: ``x`` runs along the last axis (columns, to the right) and ``y`` along the one before
  (rows, downwards, as an image is displayed). Rotations and scaling are about the image centre
  ``((W - 1) / 2, (H - 1) / 2)``, and points that come from outside the input are 0 (torchvision's conventions,
  which FuseMedML used).
- dtypes: a floating image keeps its dtype. Integer and bool images are resampled in floating point (float32 up to
  16-bit integers, float64 above) and rounded back to their dtype; nearest interpolation reproduces the values
  exactly, so a label map keeps its label set.

Random parameters reach these ops as concrete per-call values, usually drawn by fuse-data's ``OpSample``:

>>> from fuse.core import RandBool, Uniform, create_initial_sample, set_seed
>>> from fuse.data import OpSample
>>> sample = create_initial_sample("case_1")
>>> sample["data.input.img"] = torch.rand(3, 32, 32)
>>> _ = set_seed(0)
>>> op = OpSample(OpAugAffine2D())
>>> sample = op(sample, key="data.input.img", rotate=Uniform(-10.0, 10.0), flip=(RandBool(0.5), False))
>>> tuple(sample["data.input.img"].shape)
(3, 32, 32)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fuse.core import NDict
from fuse.data import OpBase, sample_value
from fuse.imaging.ops._common import (
    Image,
    _channel_list,
    _check_image,
    _copy,
    _number,
    _number_pair,
    _op_name,
    _OpVerifyingArguments,
    _tensor_of,
    _where,
)
from fuse.imaging.ops._resize import _bilinear_resize

__all__ = ["OpAugAffine2D", "OpAugCropAndResize2D", "OpRotation3D"]

_INTERPOLATIONS_2D = ("bilinear", "nearest")


# --------------------------------------------------------------------------------------------------- helpers
def _is_exact_dtype(image: Image) -> bool:
    """Whether the image holds integers or bools (rounded back after floating point resampling)."""
    if isinstance(image, torch.Tensor):
        return not image.dtype.is_floating_point
    return bool(image.dtype.kind in "biu")


def _float_tensor(image: Image) -> torch.Tensor:
    """``image`` as a floating tensor on its device: float32 and float64 kept (no copy), float16 / bfloat16 and
    integers of at most 16 bits (and bools) as float32, wider integers as float64."""
    if isinstance(image, np.ndarray):
        if image.dtype.kind == "f" and image.dtype.itemsize in (4, 8):
            array = image
        elif image.dtype.kind == "f" or image.dtype.itemsize <= 2:
            array = image.astype(np.float32)
        else:
            array = image.astype(np.float64)
        return _tensor_of(array)
    if image.dtype in (torch.float32, torch.float64):
        return image
    if image.dtype.is_floating_point or image.element_size() <= 2:
        return image.to(torch.float32)
    return image.to(torch.float64)


def _restore(result: torch.Tensor, like: Image) -> Image:
    """``result`` (a floating tensor) as the kind and dtype of ``like``; integer and bool dtypes are rounded."""
    if _is_exact_dtype(like):
        result = torch.round(result)
    if isinstance(like, np.ndarray):
        return result.detach().cpu().numpy().astype(like.dtype, copy=False)
    return result.to(dtype=like.dtype)


def _put_back(part: torch.Tensor, tensor: torch.Tensor, selected: list[int] | None, image: Image) -> Image:
    """The transformed channels ``part`` written over the ``selected`` channels of ``tensor`` (all when None), as
    the kind, dtype and 2-D/3-D layout of the input ``image``."""
    if selected is None:
        result = part
    else:
        result = tensor.clone()
        result[selected] = part
    if image.ndim == 2:
        result = result.squeeze(0)
    return _restore(result, image)


def _interpolation(op: object, value: Any) -> str:
    """``"bilinear"`` or ``"nearest"``; a torchvision ``InterpolationMode`` with one of these values is accepted."""
    mode = getattr(value, "value", value)
    if mode not in _INTERPOLATIONS_2D:
        raise ValueError(
            f"{_op_name(op)}: interpolation must be one of {list(_INTERPOLATIONS_2D)} ('nearest' for label "
            f"maps), got {value!r}"
        )
    return str(mode)


def _forward_affine(
    rotate: float, translate: tuple[float, float], scale: float, shear: tuple[float, float]
) -> np.ndarray:
    """torchvision's affine map (``TF.affine``) as a 3x3 matrix on centred pixel coordinates ``(x, y, 1)``:
    rotate ``rotate`` degrees clockwise (as displayed), scale, shear ``shear = (x, y)`` degrees, then translate."""
    rot = math.radians(rotate)
    shear_x, shear_y = math.radians(shear[0]), math.radians(shear[1])
    a = math.cos(rot - shear_y) / math.cos(shear_y)
    b = -math.cos(rot - shear_y) * math.tan(shear_x) / math.cos(shear_y) - math.sin(rot)
    c = math.sin(rot - shear_y) / math.cos(shear_y)
    d = -math.sin(rot - shear_y) * math.tan(shear_x) / math.cos(shear_y) + math.cos(rot)
    return np.array(
        [[a * scale, b * scale, translate[0]], [c * scale, d * scale, translate[1]], [0.0, 0.0, 1.0]], dtype=np.float64
    )


def _warp_2d(image: torch.Tensor, forward: np.ndarray, mode: str) -> torch.Tensor:
    """Warp a floating ``[C, H, W]`` tensor by ``forward`` (3x3, centred pixel coordinates): one ``affine_grid`` /
    ``grid_sample`` over all channels, zeros outside."""
    _, height, width = image.shape
    inverse = np.linalg.inv(forward)
    # with align_corners=False, normalised coordinates are centred pixel coordinates divided by (W/2, H/2)
    to_pixels = np.diag([width / 2.0, height / 2.0, 1.0])
    theta = np.linalg.inv(to_pixels) @ inverse @ to_pixels
    theta_tensor = torch.tensor(theta[:2], dtype=image.dtype, device=image.device).unsqueeze(0)
    grid = F.affine_grid(theta_tensor, [1, *image.shape], align_corners=False)
    return F.grid_sample(image.unsqueeze(0), grid, mode=mode, padding_mode="zeros", align_corners=False)[0]


# --------------------------------------------------------------------------------------------------- 2-D ops
class OpAugAffine2D(_OpVerifyingArguments):
    """2-D affine augmentation of ``sample[key]``, a ``[C, H, W]`` or ``[H, W]`` image (FuseMedML's parameters,
    which are torchvision's ``affine``): all selected channels are warped by one ``grid_sample`` call.

    - ``rotate``: degrees, **clockwise** as displayed (row 0 at the top): ``rotate=90`` equals
      ``torch.rot90(image, k=-1, dims=(-2, -1))`` on a square image.
    - ``translate=(dx, dy)``: pixels, ``dx`` to the right (columns), ``dy`` down (rows); applied after rotation.
    - ``scale``: zoom factor (> 0) about the centre; ``shear``: degrees along x, or a pair ``(x, y)``.
    - ``flip=(vertical, horizontal)``: flip rows / columns after the affine warp.
    - ``channels``: indices of the first axis to augment (``None``: all); the other channels are copied unchanged.
    - ``interpolation``: ``"bilinear"`` (default) or ``"nearest"`` (use it for label maps).

    Pixels that come from outside the image are 0. A tensor or an array comes back as a new tensor or array of the
    same dtype (see the module docstring for integer images); identity parameters return an exact copy.

    :param verify_arguments: check that the image is a tensor or array with 2 or 3 dimensions (FuseMedML's
        check), for a clear error naming the sample; the parameters are always checked.

    >>> image = torch.arange(9.0).reshape(3, 3)
    >>> OpAugAffine2D()({"img": image}, key="img", rotate=90.0)["img"]
    tensor([[6., 3., 0.],
            [7., 4., 1.],
            [8., 5., 2.]])
    >>> OpAugAffine2D()({"img": image}, key="img", translate=(1, 0), interpolation="nearest")["img"]
    tensor([[0., 0., 1.],
            [0., 3., 4.],
            [0., 6., 7.]])
    """

    def __call__(
        self,
        sample_dict: NDict,
        key: str,
        rotate: float = 0.0,
        translate: Sequence[float] = (0.0, 0.0),
        scale: float = 1.0,
        flip: Sequence[bool] = (False, False),
        shear: float | Sequence[float] = 0.0,
        channels: Sequence[int] | None = None,
        interpolation: Any = "bilinear",
    ) -> NDict:
        """Replace ``sample[key]`` by the augmented image."""
        image = sample_value(sample_dict, key, self)
        if self._verify_arguments:
            _check_image(self, sample_dict, key, image, (2, 3), "[C, H, W] or [H, W]")
        mode = _interpolation(self, interpolation)
        rotate = _number(self, "rotate", rotate)
        shift = _number_pair(self, "translate", translate)
        scale = _number(self, "scale", scale)
        if scale <= 0:
            raise ValueError(f"OpAugAffine2D: scale must be > 0, got {scale!r}")
        shear_xy = (
            (_number(self, "shear", shear), 0.0)
            if isinstance(shear, numbers.Real)
            else _number_pair(self, "shear", shear)
        )
        if isinstance(flip, (str, bytes)) or not isinstance(flip, Sequence) or len(flip) != 2:
            raise ValueError(f"OpAugAffine2D: flip must be a pair (vertical, horizontal) of bools, got {flip!r}")
        flip_dims = [dim for dim, flag in zip((-2, -1), flip, strict=True) if flag]
        identity = rotate == 0.0 and shift == (0.0, 0.0) and scale == 1.0 and shear_xy == (0.0, 0.0)

        if identity and not flip_dims:
            sample_dict[key] = _copy(image)
            return sample_dict
        tensor = _float_tensor(image)
        if image.ndim == 2:
            tensor = tensor.unsqueeze(0)
        selected = _channel_list(self, sample_dict, key, channels, tensor.shape[0])
        if selected == []:
            sample_dict[key] = _copy(image)
            return sample_dict
        part = tensor if selected is None else tensor[selected]
        if not identity:
            part = _warp_2d(part, _forward_affine(rotate, shift, scale, shear_xy), mode)
        if flip_dims:
            part = torch.flip(part, flip_dims)
        sample_dict[key] = _put_back(part, tensor, selected, image)
        return sample_dict


class OpAugCropAndResize2D(_OpVerifyingArguments):
    """Zoom augmentation by centre crop and resize (FuseMedML's alternative to ``scale`` in
    :class:`OpAugAffine2D`) of a ``[C, H, W]`` or ``[H, W]`` image.

    ``scale=(sy, sx)``: the centre ``int(H * sy) x int(W * sx)`` region is cropped (an axis with a scale above 1 is
    first zero-padded to that size, the odd pixel going to the bottom / right) and resized back to ``H x W`` with
    antialiased bilinear interpolation (torch's ``interpolate``, which matches Pillow's resize). ``sy < 1`` zooms
    in, ``sy > 1`` zooms out. All selected channels are resized together; ``channels=None`` selects all.

    :param verify_arguments: check that the image is a tensor or array with 2 or 3 dimensions.

    >>> image = torch.ones(1, 4, 4)
    >>> OpAugCropAndResize2D()({"img": image}, key="img", scale=(2.0, 1.0))["img"][0, :, 0]
    tensor([0.1429, 0.8750, 0.8750, 0.1429])
    """

    def __call__(
        self, sample_dict: NDict, key: str, scale: Sequence[float], channels: Sequence[int] | None = None
    ) -> NDict:
        """Replace ``sample[key]`` by the cropped and resized image."""
        image = sample_value(sample_dict, key, self)
        if self._verify_arguments:
            _check_image(self, sample_dict, key, image, (2, 3), "[C, H, W] or [H, W]")
        scale_yx = _number_pair(self, "scale", scale)
        if scale_yx[0] <= 0 or scale_yx[1] <= 0:
            raise ValueError(f"OpAugCropAndResize2D: scale must hold two numbers > 0, got {scale!r}")
        if scale_yx == (1.0, 1.0):
            sample_dict[key] = _copy(image)
            return sample_dict
        tensor = _float_tensor(image)
        if image.ndim == 2:
            tensor = tensor.unsqueeze(0)
        height, width = tensor.shape[-2:]
        crop_shape = (int(height * scale_yx[0]), int(width * scale_yx[1]))
        if min(crop_shape) < 1:
            raise ValueError(
                f"{_where(self, sample_dict, key)}: scale {scale!r} crops the {height}x{width} image to nothing; "
                "use larger scales"
            )
        selected = _channel_list(self, sample_dict, key, channels, tensor.shape[0])
        if selected == []:
            sample_dict[key] = _copy(image)
            return sample_dict
        part = tensor if selected is None else tensor[selected]
        pad = [0, 0, 0, 0]  # F.pad order: left, right, top, bottom
        if crop_shape[0] > height:
            pad[2] = (crop_shape[0] - height) // 2
            pad[3] = crop_shape[0] - height - pad[2]
        if crop_shape[1] > width:
            pad[0] = (crop_shape[1] - width) // 2
            pad[1] = crop_shape[1] - width - pad[0]
        if any(pad):
            part = F.pad(part, pad)
        top = round((part.shape[-2] - crop_shape[0]) / 2.0)  # torchvision's center_crop offsets
        left = round((part.shape[-1] - crop_shape[1]) / 2.0)
        part = part[:, top : top + crop_shape[0], left : left + crop_shape[1]]
        part = _bilinear_resize(part, (height, width))
        sample_dict[key] = _put_back(part, tensor, selected, image)
        return sample_dict


class OpRotation3D(OpBase):
    """Rotate a ``[D, H, W]`` volume in its three planes, by angles in degrees, **counter-clockwise** as a plane is
    displayed with its first axis as rows (torchvision's ``rotate``, which FuseMedML used), about the volume centre:

    - ``z_rot``: in the ``(H, W)`` plane; ``z_rot=90`` equals ``np.rot90(volume, 1, axes=(1, 2))``;
    - ``x_rot``: in the ``(D, H)`` plane; ``x_rot=90`` equals ``np.rot90(volume, 1, axes=(0, 1))``;
    - ``y_rot``: in the ``(D, W)`` plane; ``y_rot=90`` equals ``np.rot90(volume, 1, axes=(0, 2))``

    (for cubic volumes; others keep their shape and lose the corners). They apply in the order z, x, y, each about
    the original axes. ``interpolation`` is ``"nearest"`` (FuseMedML's) or ``"bilinear"``; voxels from outside are 0.

    >>> volume = np.arange(8).reshape(2, 2, 2)
    >>> np.array_equal(OpRotation3D()({"img": volume}, key="img", z_rot=90.0)["img"], np.rot90(volume, 1, axes=(1, 2)))
    True
    """

    def __call__(
        self,
        sample_dict: NDict,
        key: str,
        z_rot: float = 0.0,
        y_rot: float = 0.0,
        x_rot: float = 0.0,
        interpolation: str = "nearest",
    ) -> NDict:
        """Replace ``sample[key]`` by the rotated volume."""
        image = sample_value(sample_dict, key, self)
        _check_image(self, sample_dict, key, image, (3,), "[D, H, W]")
        mode = _interpolation(self, interpolation)
        angles = [_number(self, name, value) for name, value in (("z_rot", z_rot), ("x_rot", x_rot), ("y_rot", y_rot))]
        if not any(angles):
            sample_dict[key] = _copy(image)
            return sample_dict
        volume = _float_tensor(image)
        # (permutation that brings the plane to the last two axes, its inverse)
        planes = (((0, 1, 2), (0, 1, 2)), ((2, 0, 1), (1, 2, 0)), ((1, 0, 2), (1, 0, 2)))
        for angle, (to_plane, back) in zip(angles, planes, strict=True):
            if angle:
                # counter-clockwise by `angle` is torchvision's affine (clockwise) by -angle
                rotated = _warp_2d(volume.permute(to_plane), _forward_affine(-angle, (0.0, 0.0), 1.0, (0.0, 0.0)), mode)
                volume = rotated.permute(back)
        sample_dict[key] = _restore(volume.contiguous(), image)
        return sample_dict
