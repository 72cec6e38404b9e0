"""Geometric augmentation ops (FuseMedML's ``fuseimg/data/ops/aug/geometry.py``): 2-D affine transforms, centre
crop-and-resize, squeezing a volume into channels for the 2-D ops and back, 3-D crop / pad, resize and 3-D rotation.

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
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fuse.core import NDict
from fuse.data import Cast, OpBase, sample_value

__all__ = [
    "OpAugAffine2D",
    "OpAugCropAndResize2D",
    "OpAugSqueeze3Dto2D",
    "OpAugUnsqueeze3DFrom2D",
    "OpCrop3D",
    "OpResizeTo",
    "OpRotation3D",
]

Image = torch.Tensor | np.ndarray

_INTERPOLATIONS_2D = ("bilinear", "nearest")
# skimage's resize modes (numpy.pad names) -> scipy.ndimage modes for a zoom with grid_mode=True
_RESIZE_MODES = {
    "constant": "grid-constant",
    "edge": "nearest",
    "symmetric": "reflect",
    "reflect": "mirror",
    "wrap": "grid-wrap",
}


# --------------------------------------------------------------------------------------------------- helpers
def _where(op: object, sample_dict: Mapping[str, Any], key: str) -> str:
    """``"OpName (sample 'id', key 'k')"``: the prefix of an error message about one image."""
    return f"{type(op).__name__} (sample {sample_dict.get('data.sample_id')!r}, key {key!r})"


def _check_image(
    op: object, sample_dict: Mapping[str, Any], key: str, image: Any, ndims: Sequence[int], layout: str
) -> None:
    """Raise unless ``image`` is a tensor or an array with one of the dimension counts ``ndims``."""
    if not isinstance(image, (torch.Tensor, np.ndarray)):
        raise TypeError(
            f"{_where(op, sample_dict, key)} expects a torch.Tensor or numpy.ndarray, got {type(image).__name__}"
        )
    if image.ndim not in ndims:
        expected = " or ".join(str(ndim) for ndim in ndims) if len(ndims) <= 2 else f"{ndims[0]} to {ndims[-1]}"
        raise ValueError(
            f"{_where(op, sample_dict, key)} expects an image with {expected} dimensions ({layout}), got shape "
            f"{tuple(image.shape)}"
        )
    if image.dtype.is_complex if isinstance(image, torch.Tensor) else image.dtype.kind == "c":
        raise TypeError(f"{_where(op, sample_dict, key)} does not support the complex dtype {image.dtype}")


def _copy(image: Image) -> Image:
    return image.clone() if isinstance(image, torch.Tensor) else image.copy()


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
        if not array.flags.writeable:  # torch.from_numpy warns about read-only arrays (e.g. memory-mapped ones)
            array = array.copy()
        return torch.from_numpy(np.ascontiguousarray(array))
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


def _number(op: object, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{type(op).__name__}: {name} must be a finite number, got {value!r}")
    return float(value)


def _pair(op: object, name: str, value: Any) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{type(op).__name__}: {name} must be a pair of numbers, got {value!r}")
    return _number(op, name, value[0]), _number(op, name, value[1])


def _interpolation(op: object, value: Any) -> str:
    """``"bilinear"`` or ``"nearest"``; a torchvision ``InterpolationMode`` with one of these values is accepted."""
    mode = getattr(value, "value", value)
    if mode not in _INTERPOLATIONS_2D:
        raise ValueError(
            f"{type(op).__name__}: interpolation must be one of {list(_INTERPOLATIONS_2D)} ('nearest' for label "
            f"maps), got {value!r}"
        )
    return str(mode)


def _channel_list(op: object, sample_dict: Mapping[str, Any], key: str, channels: Any, count: int) -> list[int] | None:
    """The validated channel indices (``None``: every channel)."""
    if channels is None:
        return None
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence):
        raise TypeError(f"{type(op).__name__}: channels must be a list of channel indices or None, got {channels!r}")
    for channel in channels:
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not -count <= channel < count:
            raise ValueError(
                f"{_where(op, sample_dict, key)}: channels must hold indices in [0, {count}) of the first axis, got "
                f"{list(channels)!r}"
            )
    return [int(channel) for channel in channels]


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
class OpAugAffine2D(OpBase):
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

    def __init__(self, verify_arguments: bool = True) -> None:
        super().__init__()
        self._verify_arguments = verify_arguments

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
        shift = _pair(self, "translate", translate)
        scale = _number(self, "scale", scale)
        if scale <= 0:
            raise ValueError(f"OpAugAffine2D: scale must be > 0, got {scale!r}")
        shear_xy = (
            (_number(self, "shear", shear), 0.0) if isinstance(shear, numbers.Real) else _pair(self, "shear", shear)
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


class OpAugCropAndResize2D(OpBase):
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

    def __init__(self, verify_arguments: bool = True) -> None:
        super().__init__()
        self._verify_arguments = verify_arguments

    def __call__(
        self, sample_dict: NDict, key: str, scale: Sequence[float], channels: Sequence[int] | None = None
    ) -> NDict:
        """Replace ``sample[key]`` by the cropped and resized image."""
        image = sample_value(sample_dict, key, self)
        if self._verify_arguments:
            _check_image(self, sample_dict, key, image, (2, 3), "[C, H, W] or [H, W]")
        scale_yx = _pair(self, "scale", scale)
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
        part = F.interpolate(part.unsqueeze(0), size=(height, width), mode="bilinear", antialias=True)[0]
        sample_dict[key] = _put_back(part, tensor, selected, image)
        return sample_dict


# --------------------------------------------------------------------------------------------------- 3-D <-> 2-D
def _check_axis_squeeze(op: object, axis_squeeze: Any) -> int:
    if isinstance(axis_squeeze, bool) or axis_squeeze not in (1, 2, 3):
        raise ValueError(f"{type(op).__name__}: axis_squeeze must be 1, 2 or 3, got {axis_squeeze!r}")
    return int(axis_squeeze)


def _permute(image: Image, order: tuple[int, ...]) -> Image:
    return image.permute(order) if isinstance(image, torch.Tensor) else np.transpose(image, order)


class OpAugSqueeze3Dto2D(OpBase):
    """Fold a spatial axis of a ``[C, D1, D2, D3]`` volume into the channel axis, so that the 2-D augmentations
    apply the same transform to every slice: ``axis_squeeze=1`` gives ``[C * D1, D2, D3]``, ``2`` gives
    ``[C * D2, D1, D3]`` and ``3`` gives ``[C * D3, D1, D2]``. :class:`OpAugUnsqueeze3DFrom2D` undoes it.

    The result may share memory with the input (like ``reshape``); the ops here never write into it.

    :param verify_arguments: check that the image is a tensor or array with 4 dimensions.

    >>> volume = torch.zeros(2, 5, 6, 7)
    >>> tuple(OpAugSqueeze3Dto2D()({"img": volume}, key="img", axis_squeeze=3)["img"].shape)
    (14, 5, 6)
    """

    def __init__(self, verify_arguments: bool = True) -> None:
        super().__init__()
        self._verify_arguments = verify_arguments

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


class OpAugUnsqueeze3DFrom2D(OpBase):
    """Undo :class:`OpAugSqueeze3Dto2D`: ``[C * Dk, ...]`` back to ``[C, D1, D2, D3]``, given the same
    ``axis_squeeze`` and the original number of ``channels`` ``C``.

    :param verify_arguments: check that the image is a tensor or array with 3 dimensions.

    >>> squeezed = torch.zeros(14, 5, 6)
    >>> tuple(OpAugUnsqueeze3DFrom2D()({"img": squeezed}, key="img", axis_squeeze=3, channels=2)["img"].shape)
    (2, 5, 6, 7)
    """

    def __init__(self, verify_arguments: bool = True) -> None:
        super().__init__()
        self._verify_arguments = verify_arguments

    def __call__(self, sample_dict: NDict, key: str, axis_squeeze: int, channels: int) -> NDict:
        """Replace ``sample[key]`` by the unsqueezed volume."""
        image = sample_value(sample_dict, key, self)
        if self._verify_arguments:
            _check_image(self, sample_dict, key, image, (3,), "[C * Dk, Di, Dj]")
        axis = _check_axis_squeeze(self, axis_squeeze)
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
            raise ValueError(f"OpAugUnsqueeze3DFrom2D: channels must be an int >= 1, got {channels!r}")
        if image.shape[0] % channels:
            raise ValueError(
                f"{_where(self, sample_dict, key)}: the first axis ({image.shape[0]}) is not a multiple of channels="
                f"{channels}; pass the channel count the volume had before OpAugSqueeze3Dto2D"
            )
        volume = image.reshape((int(channels), image.shape[0] // channels, *image.shape[1:]))
        if axis == 2:
            volume = _permute(volume, (0, 2, 1, 3))
        elif axis == 3:
            volume = _permute(volume, (0, 2, 3, 1))
        sample_dict[key] = volume
        return sample_dict


# --------------------------------------------------------------------------------------------------- 3-D ops
class OpCrop3D(OpBase):
    """Crop a ``[D, H, W]`` volume to ``output_shape``, padding with ``fill`` along axes that are too short.

    Along an axis longer than the output, the crop starts at ``round(move * (size - output_size))``: ``z_move``
    for ``D``, ``y_move`` for ``H``, ``x_move`` for ``W``, each in ``[0, 1]`` (0.5, the default, crops the centre;
    draw them with ``Uniform(0, 1)`` for a random crop). Along a shorter axis the volume is kept whole and padded
    after its end, as in FuseMedML. The result has the input's kind and dtype.

    >>> volume = np.arange(4).reshape(1, 1, 4)
    >>> OpCrop3D()({"img": volume}, key="img", output_shape=(2, 1, 2), x_move=1.0, fill=-1)["img"].tolist()
    [[[2, 3]], [[-1, -1]]]
    """

    def __call__(
        self,
        sample_dict: NDict,
        key: str,
        output_shape: Sequence[int],
        z_move: float = 0.5,
        x_move: float = 0.5,
        y_move: float = 0.5,
        fill: float = 0,
    ) -> NDict:
        """Replace ``sample[key]`` by the cropped / padded volume."""
        image = sample_value(sample_dict, key, self)
        _check_image(self, sample_dict, key, image, (3,), "[D, H, W]")
        shape = _shape(self, "output_shape", output_shape, 3)
        moves = [
            _number(self, name, value) for name, value in (("z_move", z_move), ("y_move", y_move), ("x_move", x_move))
        ]
        if not all(0.0 <= move <= 1.0 for move in moves):
            raise ValueError(
                f"OpCrop3D: z_move, y_move and x_move must be in [0, 1], got {z_move!r}, {y_move!r}, {x_move!r}"
            )
        region = []
        for size, out_size, move in zip(image.shape, shape, moves, strict=True):
            start = round(move * (size - out_size)) if size > out_size else 0
            region.append(slice(start, start + min(size, out_size)))
        cropped = image[tuple(region)]
        if isinstance(image, torch.Tensor):
            result: Image = torch.full(shape, fill, dtype=image.dtype, device=image.device)
        else:
            result = np.full(shape, fill, dtype=image.dtype)
        result[tuple(slice(0, size) for size in cropped.shape)] = cropped
        sample_dict[key] = result
        return sample_dict


def _shape(op: object, name: str, value: Any, length: int | None = None) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or (length and len(value) != length):
        size = f"{length} " if length else ""
        raise ValueError(f"{type(op).__name__}: {name} must be a sequence of {size}ints >= 1, got {value!r}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)) or item < 1:
            raise ValueError(f"{type(op).__name__}: {name} must hold ints >= 1, got {value!r}")
    return tuple(int(item) for item in value)


class OpResizeTo(OpBase):
    """Resize an image to ``output_shape`` with ``skimage.transform.resize``'s semantics, computed with
    ``scipy.ndimage`` (optional Gaussian anti-aliasing, then a spline ``zoom`` over pixel areas).

    :param channels_first: ``True`` for a ``[C, H, W, ...]`` image: it is resized as ``[H, W, ..., C]``, so
        ``output_shape`` is given in that channels-last order (``(300, 300, 3)`` for a ``[3, H, W]`` image) or
        without the channel count (``(300, 300)``), which keeps it. With ``False`` every axis is resized as given
        (a ``[D, H, W]`` volume to ``output_shape=(D', H', W')``).

    Per-call arguments (skimage's): ``order`` (spline order 0-5; default 1, or 0 for bool images), ``mode``
    (outside the image: ``"reflect"`` (default), ``"constant"`` (with ``cval``), ``"edge"``, ``"symmetric"``,
    ``"wrap"``), ``cval``, ``clip`` (clip the result to the input's range, default ``True``),
    ``anti_aliasing`` (Gaussian smoothing before downsampling; default: on when an axis shrinks, except for
    order 0 on integer or bool images) and ``anti_aliasing_sigma`` (default ``(factor - 1) / 2`` per axis).

    dtypes: ``order=0`` keeps the dtype (label maps stay labels). Otherwise float32 / float64 images keep their
    dtype and other images become float32. ``preserve_range=False`` (skimage's default) scales unsigned integer
    images to ``[0, 1]`` (divided by the dtype's maximum) as skimage does; signed integers are refused then (pass
    ``preserve_range=True``). Tensors and arrays come back as their own kind.

    >>> image = np.arange(4.0).reshape(2, 2)
    >>> OpResizeTo(channels_first=False)({"img": image}, output_shape=(4, 4), key="img", order=0)["img"]
    array([[0., 0., 1., 1.],
           [0., 0., 1., 1.],
           [2., 2., 3., 3.],
           [2., 2., 3., 3.]])
    """

    def __init__(self, channels_first: bool) -> None:
        super().__init__()
        self._channels_first = channels_first

    def __call__(
        self,
        sample_dict: NDict,
        output_shape: Sequence[int],
        key: str,
        order: int | None = None,
        mode: str = "reflect",
        cval: float = 0.0,
        clip: bool = True,
        preserve_range: bool = False,
        anti_aliasing: bool | None = None,
        anti_aliasing_sigma: float | Sequence[float] | None = None,
    ) -> NDict:
        """Replace ``sample[key]`` by the resized image."""
        image = sample_value(sample_dict, key, self)
        _check_image(self, sample_dict, key, image, (2, 3, 4, 5), "with the channel axis, if any")
        array = Cast.to_numpy(image) if isinstance(image, torch.Tensor) else image  # bfloat16 -> float32
        if self._channels_first:
            array = np.moveaxis(array, 0, -1)
        shape = _shape(self, "output_shape", output_shape)
        if len(shape) == array.ndim - 1:
            shape = (*shape, array.shape[-1])  # no channel count given: keep it
        if len(shape) != array.ndim:
            layout = "channels-last order (H, W, ..., C)" if self._channels_first else "the image's axis order"
            raise ValueError(
                f"{_where(self, sample_dict, key)}: output_shape {tuple(output_shape)} does not fit the image of shape "
                f"{tuple(image.shape)}; give {array.ndim} sizes in {layout}"
            )
        if order is None:
            order = 0 if array.dtype == np.bool_ else 1
        resized = _resize(
            self, array, shape, order, mode, cval, clip, preserve_range, anti_aliasing, anti_aliasing_sigma
        )
        if self._channels_first:
            resized = np.moveaxis(resized, -1, 0)
        resized = np.ascontiguousarray(resized)
        if isinstance(image, torch.Tensor):
            tensor = torch.from_numpy(resized).to(image.device)
            sample_dict[key] = tensor.to(image.dtype) if order == 0 else tensor  # order 0 keeps the dtype
        else:
            sample_dict[key] = resized
        return sample_dict


def _resize(
    op: object,
    array: np.ndarray,
    shape: tuple[int, ...],
    order: int,
    mode: str,
    cval: float,
    clip: bool,
    preserve_range: bool,
    anti_aliasing: bool | None,
    anti_aliasing_sigma: float | Sequence[float] | None,
) -> np.ndarray:
    """skimage.transform.resize, with scipy.ndimage (see :class:`OpResizeTo`)."""
    from scipy import ndimage

    name = type(op).__name__
    is_bool = array.dtype == np.bool_
    is_integer = array.dtype.kind in "iu"
    if isinstance(order, bool) or order not in range(6):
        raise ValueError(f"{name}: order must be an int in [0, 5], got {order!r}")
    if is_bool and order > 0:
        raise ValueError(f"{name}: a bool image can only be resized with order=0, got order={order}")
    if mode not in _RESIZE_MODES:
        raise ValueError(f"{name}: mode must be one of {list(_RESIZE_MODES)}, got {mode!r}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name}: cannot resize an image of dtype {array.dtype}")
    factors = np.divide(array.shape, shape)
    if anti_aliasing is None:
        anti_aliasing = not is_bool and not (is_integer and order == 0) and bool(np.any(factors > 1))
    if anti_aliasing and is_bool:
        raise ValueError(f"{name}: anti_aliasing is not supported for bool images; pass anti_aliasing=False")

    if order > 0:  # skimage converts to float first
        if is_integer and not preserve_range:
            if array.dtype.kind == "i":
                raise ValueError(
                    f"{name}: preserve_range=False would rescale this signed integer image ({array.dtype}) as skimage "
                    "does; pass preserve_range=True to keep its values, or convert it to float first"
                )
            array = array.astype(np.float32) / np.float32(np.iinfo(array.dtype).max)
        elif array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float32)
    source = array
    ndimage_mode = _RESIZE_MODES[mode]
    if anti_aliasing:
        if anti_aliasing_sigma is None:
            sigma = np.maximum(0.0, (factors - 1.0) / 2.0)
        else:
            sigma = np.atleast_1d(np.asarray(anti_aliasing_sigma, dtype=np.float64)) * np.ones_like(factors)
            if np.any(sigma < 0):
                raise ValueError(f"{name}: anti_aliasing_sigma must be >= 0, got {anti_aliasing_sigma!r}")
        array = ndimage.gaussian_filter(array, sigma, mode=ndimage_mode, cval=cval)
    zoom = [out_size / in_size for out_size, in_size in zip(shape, array.shape, strict=True)]
    resized: np.ndarray = ndimage.zoom(array, zoom, order=order, mode=ndimage_mode, cval=cval, grid_mode=True)
    if resized.shape != shape:  # zoom rounds size * factor; never off by more than rounding
        raise AssertionError(f"{name}: internal error, resized to {resized.shape} instead of {shape}")
    if clip and order > 0 and source.size:
        low, high = (np.nanmin(source), np.nanmax(source)) if np.isnan(source).any() else (source.min(), source.max())
        keep_cval = mode == "constant" and not low <= cval <= high
        cval_mask = resized == cval if keep_cval else None
        np.clip(resized, low, high, out=resized)
        if cval_mask is not None:
            resized[cval_mask] = cval
    return resized


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
