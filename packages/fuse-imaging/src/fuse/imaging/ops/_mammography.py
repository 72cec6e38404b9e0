"""Ops that find the breast in a 2-D mammogram from the image content: crop to the largest non-dark region
(:class:`OpFindBiggestNonEmptyBbox2D`) and flip the image so that the bright side is on the left
(:class:`OpFlipBrightSideOnLeft2D`). Both take a numpy array or a torch tensor and return a new one of the same
kind.

>>> import numpy as np
>>> from fuse.core import create_initial_sample
>>> sample = create_initial_sample("case_1")
>>> image = np.zeros((60, 60), dtype=np.uint8)
>>> image[10:30, 40:56] = 200  # the breast, on the right
>>> sample["data.input.img"] = image
>>> sample = OpFlipBrightSideOnLeft2D()(sample, key="data.input.img")
>>> OpFindBiggestNonEmptyBbox2D()(sample, key="data.input.img")["data.input.img"].shape
(20, 16)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from fuse.core import NDict, is_tensor, to_numpy
from fuse.data import OpBase
from fuse.imaging.ops._common import _copy, _image_value, _integer, _number, _shape, _where

__all__ = ["OpFindBiggestNonEmptyBbox2D", "OpFlipBrightSideOnLeft2D"]


# ---------------------------------------------------------------------------------------------- biggest bbox
class OpFindBiggestNonEmptyBbox2D(OpBase):
    """Crop a 2-D image to the bounding box of its largest non-dark region (e.g. the breast in a mammogram).

    The image is split into a ``blocks_num x blocks_num`` grid: block rows are ``H // blocks_num`` pixels high and
    the last row of blocks also takes the remaining ``H % blocks_num`` rows (the same for columns). A block is
    non-empty when its mean value is above ``dark_area_threshold``. The largest 8-connected group of non-empty
    blocks (``scipy.ndimage.label``; on a tie the group whose first block comes first in row-major order) gives
    the crop: the pixel extent of the blocks it spans. The result is a copy. Without any non-empty block the image
    is returned unchanged (a copy) with a warning naming the sample.

    Compatibility: crops can differ slightly from FuseMedML's (three off-by-one quirks fixed; docs/migration.md).

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
        self.dark_area_threshold = _number(self, "dark_area_threshold", dark_area_threshold, finite=False)
        self.blocks_num = _integer(self, "blocks_num", blocks_num, 1)

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
        values = to_numpy(img)
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
        image = _image_value(self, sample_dict, key)
        where = _where(self, sample_dict, key)
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
        self.max_pixel_value = _number(self, "max_pixel_value", max_pixel_value, finite=False)
        self.dark_region_ratio = _number(self, "dark_region_ratio", dark_region_ratio, finite=False)
        if self.dark_region_ratio <= 0:
            raise ValueError(f"OpFlipBrightSideOnLeft2D: dark_region_ratio must be > 0, got {dark_region_ratio!r}")

    def check_bright_side_is_left(self, image: Any) -> bool:
        """True when the left half of the 2-D ``image`` has fewer dark pixels than the right half."""
        columns = _shape(image)[1]
        dark = self.max_pixel_value / self.dark_region_ratio
        left_dark = int((image[:, : columns // 2] < dark).sum())
        right_dark = int((image[:, columns // 2 :] < dark).sum())
        return left_dark < right_dark

    def __call__(self, sample_dict: NDict, key: str) -> NDict:
        """Flip ``sample_dict[key]`` if needed and store the result under ``key``."""
        image = _image_value(self, sample_dict, key)
        shape = _shape(image)
        if len(shape) != 2:
            raise ValueError(f"{_where(self, sample_dict, key)} has shape {shape}; expected a 2-D [H, W] image")
        if self.check_bright_side_is_left(image):
            sample_dict[key] = _copy(image)
        else:
            sample_dict[key] = torch.flip(image, dims=(1,)) if is_tensor(image) else image[:, ::-1].copy()
        return sample_dict
