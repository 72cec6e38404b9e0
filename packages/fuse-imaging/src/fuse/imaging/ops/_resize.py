"""Resize, pad and crop: every op that changes the size of an image's grid without moving it in the world (for
that, see :mod:`fuse.imaging.ops._geometry`).

- :class:`OpResizeTo`: resize every axis to a shape, with ``skimage.transform.resize``'s semantics (scipy.ndimage).
- :class:`OpResizeAndPad2D`: downscale a 2-D image to fit a size, keeping its aspect ratio, and centre it on a
  canvas.
- :class:`OpPad`: pad the last two axes; :class:`OpCrop3D`: crop (and pad) a volume to a shape.

Every op takes a numpy array or a torch tensor, returns the same kind (on the same device) and never modifies the
caller's array.

>>> import numpy as np
>>> from fuse.core import create_initial_sample
>>> from fuse.data import PipelineDefault
>>> sample = create_initial_sample("case_1")
>>> sample["data.input.img"] = np.ones((3, 4, 6), dtype=np.float32)  # C, H, W
>>> pipeline = PipelineDefault("static", [
...     (OpResizeAndPad2D(number_of_channels=3), {"key": "data.input.img", "resize_to": (2, 3), "padding": (1, 1)}),
...     (OpPad(), {"key": "data.input.img", "padding": 1}),
... ])
>>> pipeline(sample)["data.input.img"].shape
(3, 6, 7)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from fuse.core import NDict, is_tensor, to_numpy
from fuse.data import OpBase, sample_value
from fuse.imaging.ops._common import (
    Image,
    _as_kind_of,
    _check_image,
    _dtype_kind,
    _image_value,
    _integer,
    _integers,
    _number,
    _op_name,
    _shape,
    _tensor_of,
    _where,
)

__all__ = ["OpCrop3D", "OpPad", "OpResizeAndPad2D", "OpResizeTo"]

# np.pad modes that only copy existing values: they are done on tensors too (same result as np.pad)
_INDEX_PAD_MODES = ("edge", "reflect", "symmetric", "wrap")
_TENSOR_PAD_MODES = ("constant", *_INDEX_PAD_MODES)
# np.pad's other modes compute new values: numpy arrays only ("empty", with undefined values, is not offered)
_NUMPY_PAD_MODES = (*_TENSOR_PAD_MODES, "linear_ramp", "maximum", "mean", "median", "minimum")
# skimage's resize modes (numpy.pad names) -> scipy.ndimage modes for a zoom with grid_mode=True
_RESIZE_MODES = {
    "constant": "grid-constant",
    "edge": "nearest",
    "symmetric": "reflect",
    "reflect": "mirror",
    "wrap": "grid-wrap",
}


# ---------------------------------------------------------------------------------------------- resize and pad
def _fit_size(height: int, width: int, resize_to: Sequence[int]) -> tuple[int, int]:
    """The size after FuseMedML's downscale-only resize: the largest scale <= 1 at which the image fits into
    ``resize_to``, keeping the aspect ratio (computed exactly, truncating the other side, at least 1 pixel)."""
    ratio = min(
        Fraction(resize_to[0], height) if height > resize_to[0] else Fraction(1),
        Fraction(resize_to[1], width) if width > resize_to[1] else Fraction(1),
    )
    return max(1, math.floor(height * ratio)), max(1, math.floor(width * ratio))


def _bilinear_resize(tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear anti-aliased resize of the last two axes of a floating tensor to ``size``, keeping its dtype
    (``torch.nn.functional.interpolate``, which matches Pillow's resize)."""
    dtype = tensor.dtype
    batch = tensor.reshape(1, -1, *tensor.shape[-2:])  # [1, C, H, W]
    if dtype not in (torch.float32, torch.float64):  # float16 / bfloat16: no anti-aliased kernel
        batch = batch.to(torch.float32)
    resized = torch.nn.functional.interpolate(batch, size=size, mode="bilinear", antialias=True, align_corners=False)
    return resized.reshape(*tensor.shape[:-2], *size).to(dtype)


class OpResizeAndPad2D(OpBase):
    """Downscale a 2-D image to fit into ``resize_to=(h, w)`` keeping its aspect ratio, then centre it on a canvas of
    ``(h + 2 * padding[0], w + 2 * padding[1])`` filled with ``pad_value``.

    - Input: ``[H, W]`` or channel-first ``[C, H, W]`` with ``C == number_of_channels`` (``[1, H, W]`` is also
      accepted when ``number_of_channels == 1``); the result keeps the input's layout (a channel-last image:
      :class:`OpHWCToCHW` first).
    - Resize: only when the image is larger than ``resize_to`` in some dimension (it is never enlarged); the scale is
      the largest at which it fits, the fitting side gets exactly its ``resize_to`` length and the other side is
      truncated. Bilinear with anti-aliasing (``torch.nn.functional.interpolate(mode="bilinear", antialias=True)``);
      values keep their range, with no rescaling to [0, 1].
    - Padding: when ``padding=(py, px)`` is given the image is centred on the canvas (an odd margin puts the extra
      pixel below / right). ``padding=None`` returns the resized image without a canvas; ``resize_to=None`` with a
      padding raises ``ValueError`` (the canvas size needs ``resize_to``).
    - dtype: a float image keeps its dtype; an integer or bool image becomes float32 (also when nothing is resized).

    Compatibility: FuseMedML took channel-last images and resized with scikit-image (values rescaled to [0, 1]).

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.input.img"] = np.ones((400, 200), dtype=np.float32)
    >>> op = OpResizeAndPad2D()
    >>> image = op(sample, key="data.input.img", resize_to=(100, 100), padding=(5, 10))["data.input.img"]
    >>> image.shape  # (100 + 2 * 5, 100 + 2 * 10)
    (110, 120)
    >>> rows, columns = np.nonzero(image)  # the image, resized to (100, 50), is centred on the canvas
    >>> [int(rows.min()), int(rows.max()), int(columns.min()), int(columns.max())]
    [5, 104, 35, 84]
    """

    def __init__(self, number_of_channels: int = 1, pad_value: float = 0) -> None:
        super().__init__()
        self.number_of_channels = _integer(self, "number_of_channels", number_of_channels, 1)
        self.pad_value = _number(self, "pad_value", pad_value, finite=False)

    def __call__(
        self,
        sample_dict: NDict,
        key: str,
        resize_to: tuple[int, int] | None,
        padding: tuple[int, int] | None,
    ) -> NDict:
        """Resize and pad ``sample_dict[key]`` and store the result under ``key``."""
        image = _image_value(self, sample_dict, key)
        where = _where(self, sample_dict, key)
        shape = _shape(image)
        channels = self.number_of_channels
        if not ((len(shape) == 3 and shape[0] == channels) or (len(shape) == 2 and channels == 1)) or 0 in shape:
            expected = "[H, W] or [1, H, W]" if channels == 1 else f"[{channels}, H, W]"
            raise ValueError(
                f"{where} has shape {shape}; OpResizeAndPad2D(number_of_channels={channels}) expects {expected} "
                "(channel-first, non-empty)"
            )
        size = None if resize_to is None else _integers(where, "resize_to", resize_to, 1, length=2)
        margins = None if padding is None else _integers(where, "padding", padding, 0, length=2)
        if size is None and margins is not None:
            raise ValueError(
                f"{where}: padding={padding!r} needs resize_to (the canvas is resize_to + 2 * padding); "
                "use OpPad to pad without resizing"
            )
        kind = _dtype_kind(image)
        if kind not in ("float", "int", "bool"):
            raise TypeError(f"{where} has dtype {image.dtype}; supported: float, int or bool images")
        if kind != "float":
            image = image.to(torch.float32) if is_tensor(image) else image.astype(np.float32)
        fitted = None if size is None else _fit_size(shape[-2], shape[-1], size)
        if fitted is not None and fitted != shape[-2:]:
            resized = _bilinear_resize(image if is_tensor(image) else _tensor_of(image), fitted)
            image = resized if is_tensor(image) else resized.numpy()
        if size is not None and margins is not None:
            image = self._pad(image, (size[0] + 2 * margins[0], size[1] + 2 * margins[1]))
        sample_dict[key] = image
        return sample_dict

    def _pad(self, image: Any, canvas: tuple[int, int]) -> Any:
        """Centre ``image`` on a ``canvas``-sized image filled with ``pad_value`` (same kind, dtype and device)."""
        shape = _shape(image)
        height, width = shape[-2:]
        top, left = (canvas[0] - height) // 2, (canvas[1] - width) // 2
        outer: Image
        if is_tensor(image):
            outer = torch.full((*shape[:-2], *canvas), self.pad_value, dtype=image.dtype, device=image.device)
        else:
            outer = np.full((*shape[:-2], *canvas), self.pad_value, dtype=image.dtype)
        outer[..., top : top + height, left : left + width] = image
        return outer


# ---------------------------------------------------------------------------------------------- pad
def _sides(padding: Any, where: str) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` from torchvision's padding convention."""
    if isinstance(padding, Sequence) and not isinstance(padding, (str, bytes)):
        values = [_integer(where, "padding", value, 0) for value in padding]
        if len(values) == 1:
            return values[0], values[0], values[0], values[0]
        if len(values) == 2:  # (left/right, top/bottom)
            return values[1], values[1], values[0], values[0]
        if len(values) == 4:  # (left, top, right, bottom)
            return values[1], values[3], values[0], values[2]
        raise ValueError(
            f"{where}: padding must be an integer or a sequence of 1, 2 (left/right, top/bottom) or 4 (left, top, "
            f"right, bottom) integers >= 0, got {padding!r}"
        )
    value = _integer(where, "padding", padding, 0)
    return value, value, value, value


def _fill_value(fill: Any, image: Any, where: str) -> Any:
    """``fill`` as a Python value of the image's dtype, or a ``ValueError`` when it cannot be represented."""
    kind = _dtype_kind(image)
    if isinstance(fill, bool) or not isinstance(fill, numbers.Real):
        if kind == "bool" and isinstance(fill, (bool, np.bool_)):
            return bool(fill)
        raise ValueError(f"{where}: fill must be a number, got {fill!r}")
    if kind == "float":
        return float(fill)
    if kind == "bool":
        if fill not in (0, 1):
            raise ValueError(f"{where} is a bool image, so fill must be 0, 1, False or True, got {fill!r}")
        return bool(fill)
    info = torch.iinfo(image.dtype) if is_tensor(image) else np.iinfo(image.dtype)
    number = float(fill)
    whole = int(fill) if isinstance(fill, numbers.Integral) else int(number) if number.is_integer() else None
    if whole is None or not int(info.min) <= whole <= int(info.max):
        raise ValueError(
            f"{where} has dtype {image.dtype}, so fill must be a whole number in [{info.min}, {info.max}], got {fill!r}"
        )
    return whole


class OpPad(OpBase):
    """Pad the two last axes (``H``, ``W``) of an image, a numpy array or a torch tensor, on every side.

    - ``padding`` follows torchvision's convention for both kinds: an integer (all sides), ``(left/right,
      top/bottom)`` or ``(left, top, right, bottom)``; values are integers >= 0.
    - ``mode``: ``"constant"`` (with ``fill``), ``"edge"``, ``"reflect"``, ``"symmetric"`` or ``"wrap"``, as in
      ``np.pad``, for both kinds (tensors: ``torch.nn.functional.pad`` for ``"constant"``, indexing for the others,
      same values as ``np.pad``); numpy arrays also take ``"linear_ramp"``, ``"maximum"``, ``"mean"``,
      ``"median"`` and ``"minimum"``, and ``np.pad`` keyword arguments (e.g. ``reflect_type="odd"``).
    - ``fill`` is used by ``"constant"`` only and must be representable in the image's dtype (a whole number in
      range for an integer image). The result is new, with the input's dtype.

    Compatibility: FuseMedML passed ``padding`` to ``np.pad`` for numpy arrays, which also padded the channels.

    >>> import numpy as np
    >>> import torch
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.input.img"] = torch.tensor([[1, 2], [3, 4]])
    >>> OpPad()(sample, key="data.input.img", padding=(1, 0), fill=9)["data.input.img"]
    tensor([[9, 1, 2, 9],
            [9, 3, 4, 9]])
    >>> sample["data.input.img"] = np.array([[1, 2], [3, 4]])
    >>> OpPad()(sample, key="data.input.img", padding=1, mode="edge")["data.input.img"]
    array([[1, 1, 2, 2],
           [1, 1, 2, 2],
           [3, 3, 4, 4],
           [3, 3, 4, 4]])
    """

    def __call__(
        self,
        sample_dict: NDict,
        key: str,
        padding: int | Sequence[int],
        fill: float = 0,
        mode: str = "constant",
        **kwargs: Any,
    ) -> NDict:
        """Pad ``sample_dict[key]`` and store the result under ``key``; ``kwargs`` go to ``np.pad`` (arrays only)."""
        image = _image_value(self, sample_dict, key)
        where = _where(self, sample_dict, key)
        shape = _shape(image)
        if len(shape) < 2:
            raise ValueError(f"{where} has shape {shape}; OpPad pads the last two axes, so it needs >= 2 dimensions")
        if _dtype_kind(image) not in ("float", "int", "bool"):
            raise TypeError(f"{where} has dtype {image.dtype}; supported: float, int or bool images")
        top, bottom, left, right = _sides(padding, where)
        tensor = is_tensor(image)
        modes = _TENSOR_PAD_MODES if tensor else _NUMPY_PAD_MODES
        if mode not in modes:
            kind = "a torch tensor" if tensor else "a numpy array"
            raise ValueError(f"{where}: mode must be one of {list(modes)} for {kind}, got {mode!r}")
        value = _fill_value(fill, image, where) if mode == "constant" else None
        if not tensor:
            pad_width = [(0, 0)] * (len(shape) - 2) + [(top, bottom), (left, right)]
            if "constant_values" in kwargs:
                raise ValueError(f"{where}: give the constant as fill=..., not constant_values")
            if mode == "constant":
                kwargs = {**kwargs, "constant_values": value}
            sample_dict[key] = np.pad(image, pad_width, mode=mode, **kwargs)  # type: ignore[call-overload]
            return sample_dict
        if kwargs:
            raise ValueError(f"{where}: np.pad keyword arguments {sorted(kwargs)} apply to numpy arrays only")
        if mode == "constant":
            result = torch.nn.functional.pad(image, (left, right, top, bottom), mode="constant", value=value)
        else:
            result = image
            for axis, before, after in ((-2, top, bottom), (-1, left, right)):
                size = result.shape[axis]
                index = np.pad(np.arange(size), (before, after), mode=mode)  # type: ignore[call-overload]
                result = result.index_select(axis % result.ndim, torch.as_tensor(index, device=result.device))
        sample_dict[key] = result
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
        shape = _integers(self, "output_shape", output_shape, 1, length=3)
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
        if is_tensor(image):
            result: Image = torch.full(shape, fill, dtype=image.dtype, device=image.device)
        else:
            result = np.full(shape, fill, dtype=image.dtype)
        result[tuple(slice(0, size) for size in cropped.shape)] = cropped
        sample_dict[key] = result
        return sample_dict


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
        array = to_numpy(image)  # bfloat16 -> float32
        if self._channels_first:
            array = np.moveaxis(array, 0, -1)
        shape = _integers(self, "output_shape", output_shape, 1)
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
        sample_dict[key] = _as_kind_of(resized, image, keep_dtype=order == 0)  # order 0 keeps the dtype
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

    name = _op_name(op)
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
