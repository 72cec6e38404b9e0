"""PNG and JPEG through Pillow: (H, W) or (H, W, C) arrays in the file's own pixel type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fuse.imaging._format import ImageLoadError, affine_from_axes, cast_array, image_metadata

__all__ = ["read_raster"]

_PILLOW_FORMATS = {"png": ["PNG"], "jpeg": ["JPEG", "MPO"]}  # MPO: a JPEG with extra pictures (cameras)


def read_raster(path: str | Path, format: str, dtype: np.dtype[Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a PNG (``format="png"``) or JPEG (``"jpeg"``) image: (H, W) for one channel, (H, W, C) for more.

    dtype (``None``): the pixel type as stored — uint8 for 8-bit images, uint16 for 16-bit PNGs; 1-bit images give
    0/1 uint8; palette images give their palette indices (label PNGs), CMYK JPEGs are converted to RGB. No EXIF
    rotation is applied: the array is the pixels in file order. The geometry is the pixel grid: spacing (1, 1),
    origin 0, the affine is the identity (row -> x, column -> y).

    >>> import pathlib, tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(folder.name) / "photo.png"
    >>> Image.fromarray(np.zeros((4, 6, 3), dtype=np.uint8)).save(path)
    >>> pixels, meta = read_raster(path, "png")
    >>> pixels.shape, pixels.dtype, meta["spacing"]
    ((4, 6, 3), dtype('uint8'), (1.0, 1.0))
    >>> folder.cleanup()
    """
    path = Path(path)
    if format not in _PILLOW_FORMATS:
        raise ValueError(f"read_raster reads format 'png' or 'jpeg', got {format!r}")
    try:
        with Image.open(path, formats=_PILLOW_FORMATS[format]) as image:
            image.load()
            if image.mode == "CMYK":
                array = np.array(image.convert("RGB"))
            elif image.mode == "1":
                array = np.array(image, dtype=np.uint8)
            else:
                array = np.array(image)
    except MemoryError:
        raise
    except Exception as error:
        raise ImageLoadError(
            path, f"not a readable {format.upper()} image ({type(error).__name__}: {error})"
        ) from error
    array = cast_array(array, dtype, path)
    affine = affine_from_axes([np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])], np.zeros(3))
    return array, image_metadata(affine, 2, format, path)
