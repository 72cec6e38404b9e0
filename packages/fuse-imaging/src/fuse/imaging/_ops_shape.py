"""Shape ops: move the channel axis, select a slice, resize-and-pad, crop to the largest non-dark region, flip the
bright side to the left, pad (FuseMedML's ``fuseimg/data/ops/shape_ops.py``, without scikit-image or torchvision).

Every op takes a numpy array or a torch tensor, returns the same kind (on the same device) and never modifies the
caller's array. Axis names: ``H``, ``W`` are the image rows and columns, ``C`` the channels.

>>> import numpy as np
>>> from fuse.core import create_initial_sample
>>> from fuse.data import PipelineDefault
>>> sample = create_initial_sample("case_1")
>>> sample["data.input.img"] = np.ones((4, 6, 3), dtype=np.float32)  # H, W, C
>>> pipeline = PipelineDefault("static", [
...     (OpHWCToCHW(), {"key": "data.input.img"}),
...     (OpResizeAndPad2D(number_of_channels=3), {"key": "data.input.img", "resize_to": (2, 3), "padding": (1, 1)}),
... ])
>>> pipeline(sample)["data.input.img"].shape
(3, 4, 5)
"""

from __future__ import annotations

import math
import numbers
import operator
import warnings
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from fuse.core import NDict
from fuse.data import OpBase
from fuse.imaging._typing import (
    DataTypeImaging,
    OpApplyTypesImaging,
    _dtype_kind,
    _image_value,
    _shape,
    _torch_of,
    _where,
)

__all__ = [
    "OpCHWToHWC",
    "OpFindBiggestNonEmptyBbox2D",
    "OpFlipBrightSideOnLeft2D",
    "OpHWCToCHW",
    "OpPad",
    "OpResizeAndPad2D",
    "OpSelectSlice",
    "op_select_slice_img_and_seg",
]

# np.pad modes that only copy existing values: they are done on tensors too (same result as np.pad)
_INDEX_PAD_MODES = ("edge", "reflect", "symmetric", "wrap")
_TENSOR_PAD_MODES = ("constant", *_INDEX_PAD_MODES)
# np.pad's other modes compute new values: numpy arrays only ("empty", with undefined values, is not offered)
_NUMPY_PAD_MODES = (*_TENSOR_PAD_MODES, "linear_ramp", "maximum", "mean", "median", "minimum")


def _integer(value: Any, where: str, argument: str, minimum: int) -> int:
    """``value`` as an ``int`` >= ``minimum`` (ints and numpy integers; bools and floats are refused)."""
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{where}: {argument} must be an integer >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{where}: {argument} must be an integer >= {minimum}, got {value!r}")
    return number


def _integer_pair(value: Any, where: str, argument: str, minimum: int) -> tuple[int, int]:
    message = f"{where}: {argument} must be a pair of integers >= {minimum}, got {value!r}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(message)
    try:
        return _integer(value[0], where, argument, minimum), _integer(value[1], where, argument, minimum)
    except ValueError:
        raise ValueError(message) from None


def _real(value: Any, where: str, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{where}: {argument} must be a number, got {value!r}")
    return float(value)


def _to_numpy(image: Any) -> np.ndarray[Any, Any]:
    """A numpy view or copy of an array or tensor, for reading statistics (never written to)."""
    if _torch_of(image) is None:
        return np.asarray(image)
    tensor = image.detach().cpu()
    try:
        return tensor.numpy()  # type: ignore[no-any-return]
    except TypeError:  # e.g. bfloat16: no numpy dtype
        return tensor.float().numpy()  # type: ignore[no-any-return]


def _copy(image: Any) -> Any:
    return image.clone() if _torch_of(image) is not None else image.copy()


# ---------------------------------------------------------------------------------------------- channel axis
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
        image = _image_value(sample_dict, key, self)
        shape = _shape(image)
        if len(shape) == 2:
            sample_dict[key] = image[None]
            return sample_dict
        if len(shape) != 3 or not (shape[2] < shape[0] and shape[2] < shape[1]):
            raise ValueError(
                f"{_where(self, key, sample_dict)} has shape {shape}; expected [H, W] or [H, W, C] with the channel "
                "axis last and smaller than H and W (is the image already channel-first?)"
            )
        sample_dict[key] = image.permute(2, 0, 1) if _torch_of(image) is not None else image.transpose(2, 0, 1)
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
        image = _image_value(sample_dict, key, self)
        shape = _shape(image)
        if len(shape) == 2:
            sample_dict[key] = image[..., None]
            return sample_dict
        if len(shape) != 3 or not (shape[0] < shape[1] and shape[0] < shape[2]):
            raise ValueError(
                f"{_where(self, key, sample_dict)} has shape {shape}; expected [H, W] or [C, H, W] with the channel "
                "axis first and smaller than H and W (is the image already channel-last?)"
            )
        sample_dict[key] = image.permute(1, 2, 0) if _torch_of(image) is not None else image.transpose(1, 2, 0)
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
        image = _image_value(sample_dict, key, self)
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
                f"{_where(self, key, sample_dict)} (shape {shape}): slice_idx must be an integer in "
                f"[{-depth}, {depth - 1}], got {slice_idx!r}"
            )
        sample_dict[key] = image[index]
        return sample_dict


# ---------------------------------------------------------------------------------------------- resize and pad
def _fit_size(height: int, width: int, resize_to: tuple[int, int]) -> tuple[int, int]:
    """The size after FuseMedML's downscale-only resize: the largest scale <= 1 at which the image fits into
    ``resize_to``, keeping the aspect ratio (computed exactly, truncating the other side, at least 1 pixel)."""
    ratio = min(
        Fraction(resize_to[0], height) if height > resize_to[0] else Fraction(1),
        Fraction(resize_to[1], width) if width > resize_to[1] else Fraction(1),
    )
    return max(1, math.floor(height * ratio)), max(1, math.floor(width * ratio))


class OpResizeAndPad2D(OpBase):
    """Downscale a 2-D image to fit into ``resize_to=(h, w)`` keeping its aspect ratio, then centre it on a canvas of
    ``(h + 2 * padding[0], w + 2 * padding[1])`` filled with ``pad_value``.

    - Input: ``[H, W]`` or channel-first ``[C, H, W]`` with ``C == number_of_channels`` (``[1, H, W]`` is also
      accepted when ``number_of_channels == 1``); the result keeps the input's layout. FuseMedML's multichannel
      images were channel-last; use :class:`OpHWCToCHW` first.
    - Resize: only when the image is larger than ``resize_to`` in some dimension (it is never enlarged); the scale is
      the largest at which it fits, the fitting side gets exactly its ``resize_to`` length and the other side is
      truncated. Bilinear with anti-aliasing (``torch.nn.functional.interpolate(mode="bilinear", antialias=True)``,
      in place of FuseMedML's scikit-image resize; values keep their range, with no rescaling to [0, 1]).
    - Padding: when ``padding=(py, px)`` is given the image is centred on the canvas (an odd margin puts the extra
      pixel below / right). ``padding=None`` returns the resized image without a canvas; ``resize_to=None`` with a
      padding raises ``ValueError`` (the canvas size needs ``resize_to``).
    - dtype: a float image keeps its dtype; an integer or bool image becomes float32 (also when nothing is resized).

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
        self.number_of_channels = _integer(number_of_channels, "OpResizeAndPad2D", "number_of_channels", 1)
        self.pad_value = _real(pad_value, "OpResizeAndPad2D", "pad_value")

    def __call__(
        self,
        sample_dict: NDict,
        key: str,
        resize_to: tuple[int, int] | None,
        padding: tuple[int, int] | None,
    ) -> NDict:
        """Resize and pad ``sample_dict[key]`` and store the result under ``key``."""
        image = _image_value(sample_dict, key, self)
        where = _where(self, key, sample_dict)
        shape = _shape(image)
        channels = self.number_of_channels
        if not ((len(shape) == 3 and shape[0] == channels) or (len(shape) == 2 and channels == 1)) or 0 in shape:
            expected = "[H, W] or [1, H, W]" if channels == 1 else f"[{channels}, H, W]"
            raise ValueError(
                f"{where} has shape {shape}; OpResizeAndPad2D(number_of_channels={channels}) expects {expected} "
                "(channel-first, non-empty)"
            )
        size = None if resize_to is None else _integer_pair(resize_to, where, "resize_to", 1)
        margins = None if padding is None else _integer_pair(padding, where, "padding", 0)
        if size is None and margins is not None:
            raise ValueError(
                f"{where}: padding={padding!r} needs resize_to (the canvas is resize_to + 2 * padding); "
                "use OpPad to pad without resizing"
            )
        kind = _dtype_kind(image)
        if kind not in ("float", "int", "bool"):
            raise TypeError(f"{where} has dtype {image.dtype}; supported: float, int or bool images")
        torch = _torch_of(image)
        if kind != "float":
            image = image.to(torch.float32) if torch is not None else image.astype(np.float32)
        if size is not None:
            image = self._resize(image, _fit_size(shape[-2], shape[-1], size))
        if size is not None and margins is not None:
            image = self._pad(image, (size[0] + 2 * margins[0], size[1] + 2 * margins[1]))
        sample_dict[key] = image
        return sample_dict

    @staticmethod
    def _resize(image: Any, size: tuple[int, int]) -> Any:
        """Bilinear anti-aliased resize of the last two axes of a float image to ``size`` (same kind and dtype)."""
        if _shape(image)[-2:] == size:
            return image
        import torch

        is_tensor = _torch_of(image) is not None
        if is_tensor:
            tensor = image
        else:  # torch needs native byte order and (without a warning) a writable array
            array = np.ascontiguousarray(image, dtype=image.dtype.newbyteorder("="))
            tensor = torch.from_numpy(array if array.flags.writeable else array.copy())
        dtype = tensor.dtype
        batch = tensor.reshape(1, -1, *tensor.shape[-2:])  # [1, C, H, W]
        if dtype not in (torch.float32, torch.float64):  # float16 / bfloat16: no anti-aliased kernel
            batch = batch.to(torch.float32)
        resized = torch.nn.functional.interpolate(
            batch, size=size, mode="bilinear", antialias=True, align_corners=False
        )
        resized = resized.reshape(*tensor.shape[:-2], *size).to(dtype)
        return resized if is_tensor else resized.numpy()

    def _pad(self, image: Any, canvas: tuple[int, int]) -> Any:
        """Centre ``image`` on a ``canvas``-sized image filled with ``pad_value`` (same kind, dtype and device)."""
        shape = _shape(image)
        height, width = shape[-2:]
        top, left = (canvas[0] - height) // 2, (canvas[1] - width) // 2
        torch = _torch_of(image)
        if torch is not None:
            outer = torch.full((*shape[:-2], *canvas), self.pad_value, dtype=image.dtype, device=image.device)
        else:
            outer = np.full((*shape[:-2], *canvas), self.pad_value, dtype=image.dtype)
        outer[..., top : top + height, left : left + width] = image
        return outer


# ---------------------------------------------------------------------------------------------- biggest bbox
class OpFindBiggestNonEmptyBbox2D(OpBase):
    """Crop a 2-D image to the bounding box of its largest non-dark region (e.g. the breast in a mammogram).

    The image is split into a ``blocks_num x blocks_num`` grid: block rows are ``H // blocks_num`` pixels high and
    the last row of blocks also takes the remaining ``H % blocks_num`` rows (the same for columns). A block is
    non-empty when its mean value is above ``dark_area_threshold``. The largest 8-connected group of non-empty
    blocks (``scipy.ndimage.label``; on a tie the group whose first block comes first in row-major order) gives
    the crop: the pixel extent of the blocks it spans. The result is a copy. Without any non-empty block the image
    is returned unchanged (a copy) with a warning naming the sample.

    Differences from FuseMedML (scikit-image): its crop also took one extra block below and to the right of the
    group, always dropped the image's last row and column, and ignored the ``H % blocks_num`` remainder rows.

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> image = np.zeros((60, 60), dtype=np.uint8)
    >>> image[10:30, 4:20] = 200  # bright region: blocks (5..14, 2..9) of 2 x 2 pixels
    >>> image[50:52, 50:52] = 200  # a lone bright block
    >>> sample["data.input.img"] = image
    >>> OpFindBiggestNonEmptyBbox2D()(sample, key="data.input.img")["data.input.img"].shape
    (20, 16)
    """

    def __init__(self, dark_area_threshold: float = 10, blocks_num: int = 30) -> None:
        super().__init__()
        self.dark_area_threshold = _real(dark_area_threshold, "OpFindBiggestNonEmptyBbox2D", "dark_area_threshold")
        self.blocks_num = _integer(blocks_num, "OpFindBiggestNonEmptyBbox2D", "blocks_num", 1)

    def find_biggest_non_empty_bbox(self, img: Any, where: str = "the image") -> tuple[int, int, int, int] | None:
        """``(min_row, min_col, end_row, end_col)`` (ends exclusive) of the crop, or ``None`` when no block is
        brighter than the threshold. ``img`` is a 2-D array or tensor with at least ``blocks_num`` rows and columns.
        """
        from scipy import ndimage

        shape = _shape(img)
        blocks = self.blocks_num
        if len(shape) != 2 or shape[0] < blocks or shape[1] < blocks:
            raise ValueError(
                f"{where} has shape {shape}; OpFindBiggestNonEmptyBbox2D(blocks_num={blocks}) needs a 2-D image with "
                f"at least {blocks} rows and columns"
            )
        values = _to_numpy(img)
        edges = [np.append(np.arange(blocks) * (size // blocks), size) for size in shape]  # block boundaries per axis
        sums = np.add.reduceat(np.add.reduceat(values, edges[1][:-1], axis=1, dtype=np.float64), edges[0][:-1], axis=0)
        means = sums / np.outer(np.diff(edges[0]), np.diff(edges[1]))
        labels, count = ndimage.label(means > self.dark_area_threshold, structure=np.ones((3, 3), dtype=bool))
        if count == 0:
            return None
        sizes = np.bincount(labels.ravel())
        numbers_seen, first_blocks = np.unique(labels.ravel(), return_index=True)
        first_block = dict(zip(numbers_seen.tolist(), first_blocks.tolist(), strict=True))
        # the largest group; on a tie, the one whose first block comes first in row-major order
        largest = max(range(1, count + 1), key=lambda label: (sizes[label], -first_block[label]))
        rows, cols = ndimage.find_objects(labels)[largest - 1]
        return (
            int(edges[0][rows.start]),
            int(edges[1][cols.start]),
            int(edges[0][rows.stop]),
            int(edges[1][cols.stop]),
        )

    def __call__(self, sample_dict: NDict, key: str) -> NDict:
        """Crop ``sample_dict[key]`` and store the result under ``key``."""
        image = _image_value(sample_dict, key, self)
        where = _where(self, key, sample_dict)
        bbox = self.find_biggest_non_empty_bbox(image, where)
        if bbox is None:
            warnings.warn(
                f"{where}: no block is brighter than dark_area_threshold={self.dark_area_threshold}; the image is "
                "left uncropped",
                UserWarning,
                stacklevel=2,
            )
            sample_dict[key] = _copy(image)
            return sample_dict
        min_row, min_col, end_row, end_col = bbox
        sample_dict[key] = _copy(image[min_row:end_row, min_col:end_col])
        return sample_dict


# ---------------------------------------------------------------------------------------------- bright side
class OpFlipBrightSideOnLeft2D(OpBase):
    """Flip a 2-D ``[H, W]`` image left-right unless its bright side is already on the left (mammography).

    The rule (FuseMedML's): a pixel is dark when its value is below ``max_pixel_value / dark_region_ratio``; the
    left half is columns ``[0, W // 2)`` and the right half the rest (one column more when ``W`` is odd). The
    bright side is on the left when the left half has strictly fewer dark pixels than the right half; otherwise
    (a tie included) the image is flipped. The result is always a new array or tensor.

    >>> import numpy as np
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.input.img"] = np.array([[0, 0, 90, 200], [0, 10, 150, 255]], dtype=np.uint8)
    >>> OpFlipBrightSideOnLeft2D()(sample, key="data.input.img")["data.input.img"]
    array([[200,  90,   0,   0],
           [255, 150,  10,   0]], dtype=uint8)
    """

    def __init__(self, max_pixel_value: float = 255.0, dark_region_ratio: float = 15.0) -> None:
        super().__init__()
        where = "OpFlipBrightSideOnLeft2D"
        self.max_pixel_value = _real(max_pixel_value, where, "max_pixel_value")
        self.dark_region_ratio = _real(dark_region_ratio, where, "dark_region_ratio")
        if self.dark_region_ratio <= 0:
            raise ValueError(f"{where}: dark_region_ratio must be > 0, got {dark_region_ratio!r}")

    def check_bright_side_is_left(self, image: Any) -> bool:
        """True when the left half of the 2-D ``image`` has fewer dark pixels than the right half."""
        columns = _shape(image)[1]
        dark = self.max_pixel_value / self.dark_region_ratio
        left_dark = int((image[:, : columns // 2] < dark).sum())
        right_dark = int((image[:, columns // 2 :] < dark).sum())
        return left_dark < right_dark

    def __call__(self, sample_dict: NDict, key: str) -> NDict:
        """Flip ``sample_dict[key]`` if needed and store the result under ``key``."""
        image = _image_value(sample_dict, key, self)
        shape = _shape(image)
        if len(shape) != 2:
            raise ValueError(f"{_where(self, key, sample_dict)} has shape {shape}; expected a 2-D [H, W] image")
        torch = _torch_of(image)
        if self.check_bright_side_is_left(image):
            sample_dict[key] = _copy(image)
        else:
            sample_dict[key] = torch.flip(image, dims=(1,)) if torch is not None else image[:, ::-1].copy()
        return sample_dict


# ---------------------------------------------------------------------------------------------- pad
def _sides(padding: Any, where: str) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` from torchvision's padding convention."""
    if isinstance(padding, Sequence) and not isinstance(padding, (str, bytes)):
        values = [_integer(value, where, "padding", 0) for value in padding]
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
    value = _integer(padding, where, "padding", 0)
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
    torch = _torch_of(image)
    info = torch.iinfo(image.dtype) if torch is not None else np.iinfo(image.dtype)
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
      top/bottom)`` or ``(left, top, right, bottom)``; values are integers >= 0. (FuseMedML passed it to ``np.pad``
      for arrays, which padded every axis, channels included.)
    - ``mode``: ``"constant"`` (with ``fill``), ``"edge"``, ``"reflect"``, ``"symmetric"`` or ``"wrap"``, as in
      ``np.pad``, for both kinds (tensors: ``torch.nn.functional.pad`` for ``"constant"``, indexing for the others,
      same values as ``np.pad``); numpy arrays also take ``"linear_ramp"``, ``"maximum"``, ``"mean"``,
      ``"median"`` and ``"minimum"``, and ``np.pad`` keyword arguments (e.g. ``reflect_type="odd"``).
    - ``fill`` is used by ``"constant"`` only and must be representable in the image's dtype (a whole number in
      range for an integer image). The result is new, with the input's dtype.

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
        image = _image_value(sample_dict, key, self)
        where = _where(self, key, sample_dict)
        shape = _shape(image)
        if len(shape) < 2:
            raise ValueError(f"{where} has shape {shape}; OpPad pads the last two axes, so it needs >= 2 dimensions")
        if _dtype_kind(image) not in ("float", "int", "bool"):
            raise TypeError(f"{where} has dtype {image.dtype}; supported: float, int or bool images")
        top, bottom, left, right = _sides(padding, where)
        torch = _torch_of(image)
        modes = _TENSOR_PAD_MODES if torch is not None else _NUMPY_PAD_MODES
        if mode not in modes:
            kind = "a torch tensor" if torch is not None else "a numpy array"
            raise ValueError(f"{where}: mode must be one of {list(modes)} for {kind}, got {mode!r}")
        value = _fill_value(fill, image, where) if mode == "constant" else None
        if torch is None:
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


# FuseMedML's instance that selects the same slice of every image and segmentation key
op_select_slice_img_and_seg = OpApplyTypesImaging(
    {DataTypeImaging.IMAGE: (OpSelectSlice(), {}), DataTypeImaging.SEG: (OpSelectSlice(), {})}
)
