"""PNG and JPEG through Pillow: (H, W) or (H, W, C) arrays in the file's own pixel type.

Pillow reads 16-bit colour PNGs (RGB, RGBA, grey with alpha) as 8 bits per sample, keeping only the high byte;
those files are read with SimpleITK (libpng, the ``[itk]`` extra) instead, so 16-bit samples stay 16-bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fuse.imaging.io._format import ImageLoadError, affine_from_axes, as_load_error, cast_array, image_metadata
from fuse.imaging.io._itk import _simpleitk

__all__ = ["read_raster"]

_PILLOW_FORMATS = {"png": ["PNG"], "jpeg": ["JPEG", "MPO"]}  # MPO: a JPEG with extra pictures (cameras)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOUR_TYPES_PILLOW_NARROWS = {2: "RGB", 4: "grey with alpha", 6: "RGBA"}  # at bit depth 16


def read_raster(path: str | Path, format: str, dtype: np.dtype[Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a PNG (``format="png"``) or JPEG (``"jpeg"``) image: (H, W) for one channel, (H, W, C) for more.

    dtype (``None``): the pixel type as stored — uint8 for 8-bit images, uint16 for 16-bit PNGs (16-bit colour PNGs
    are read with SimpleITK, the ``[itk]`` extra; without it they raise ``ImportError``); 1-bit images give
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
    colour_type = _png_16bit_colour_type(path) if format == "png" else None
    if colour_type is not None:
        array = _read_png_16bit_colour(path, colour_type)
    else:
        with as_load_error(path, f"not a readable {format.upper()} image"):
            array = _read_pillow(path, format)
    array = cast_array(array, dtype, path)
    affine = affine_from_axes([np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])], np.zeros(3))
    return array, image_metadata(affine, 2, format, path)


def _read_pillow(path: Path, format: str) -> np.ndarray:
    with Image.open(path, formats=_PILLOW_FORMATS[format]) as image:
        image.load()
        if image.mode == "CMYK":
            return np.array(image.convert("RGB"))
        if image.mode == "1":
            return np.array(image, dtype=np.uint8)
        return np.array(image)


def _png_16bit_colour_type(path: Path) -> int | None:
    """The PNG colour type when ``path`` is a PNG with 16-bit colour samples (which Pillow narrows), else ``None``."""
    try:
        with open(path, "rb") as file:
            head = file.read(26)
    except OSError:
        return None  # Pillow reports the problem
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    bit_depth, colour_type = head[24], head[25]
    return colour_type if bit_depth == 16 and colour_type in _PNG_COLOUR_TYPES_PILLOW_NARROWS else None


def _read_png_16bit_colour(path: Path, colour_type: int) -> np.ndarray:
    kind = _PNG_COLOUR_TYPES_PILLOW_NARROWS[colour_type]
    if colour_type == 4:  # neither Pillow (8 bits kept) nor SimpleITK (refuses it) reads it whole
        raise ImageLoadError(
            path,
            "it is a 16-bit grey with alpha PNG: Pillow would keep only the high byte of each sample and SimpleITK "
            "cannot read it; save it as 16-bit grey (without alpha) or as 16-bit RGBA",
        )
    try:
        sitk = _simpleitk(path)
    except ImportError as error:
        raise ImportError(
            f"{path} is a 16-bit {kind} PNG, which Pillow would cut to 8 bits per sample; reading it needs SimpleITK: "
            'pip install "fuse-imaging[itk]"'
        ) from error
    with as_load_error(path, f"not a readable 16-bit {kind} PNG"):
        array = np.asarray(sitk.GetArrayFromImage(sitk.ReadImage(str(path), imageIO="PNGImageIO")))
    if array.dtype != np.uint16 or array.ndim != 3:
        raise ImageLoadError(
            path, f"SimpleITK read this 16-bit {kind} PNG as {array.dtype} {array.shape}, not uint16 (H, W, C)"
        )
    return array
