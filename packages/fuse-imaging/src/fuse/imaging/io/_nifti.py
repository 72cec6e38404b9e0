"""NIfTI-1 and NIfTI-2 (``.nii``, ``.nii.gz``) through nibabel, read fully into memory (no memory map)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.arrayproxy import ArrayProxy

from fuse.imaging.io._format import ImageLoadError, as_load_error, cast_array, image_metadata

__all__ = ["read_nifti"]


def read_nifti(path: str | Path, dtype: np.dtype[Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a NIfTI file: the array in nibabel's axis order (i, j, k[, t, ...]) and its metadata.

    dtype (``None``): float32 with the header's scale factors (``scl_slope``, ``scl_inter``) applied, except for
    integer data stored without scaling (slope 1 or unset, intercept 0 or unset), which keeps its integer dtype
    (label maps, but also e.g. unscaled int16 CT; pass ``dtype=np.float32`` for floats). A given ``dtype``
    overrides: floats are computed in it, integers are rounded from the scaled values (range checked, see
    :func:`~fuse.imaging.io._format.cast_array`). Big-endian data comes back in native byte order.

    ``affine`` is nibabel's ``img.affine`` (the sform when its code is set, else the qform, else the pixdims);
    spacing and direction cover the first three axes (two for a 2-D image), later axes (time, channels) are not
    spatial. Files without a ``.nii``/``.nii.gz`` suffix (format found by the magic bytes) are read too.

    >>> import pathlib, tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(folder.name) / "labels.nii.gz"
    >>> nib.save(nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.diag([2.0, 2.0, 3.0, 1.0])), path)
    >>> labels, meta = read_nifti(path)
    >>> labels.dtype, labels.shape, meta["spacing"]
    (dtype('int16'), (2, 3, 4), (2.0, 2.0, 3.0))
    >>> folder.cleanup()
    """
    path = Path(path)
    with as_load_error(path, "not a readable NIfTI file"):
        image = _open(path)
        if not isinstance(image, nib.Nifti1Image):  # Nifti2Image derives from it
            raise ImageLoadError(path, f"nibabel reads it as {type(image).__name__}, not as a NIfTI image")
        proxy = image.dataobj
        if not isinstance(proxy, ArrayProxy):  # nibabel reads files through an ArrayProxy
            raise ImageLoadError(path, f"nibabel gave its data as {type(proxy).__name__}, not as an ArrayProxy")
        scaled = proxy.slope != 1.0 or proxy.inter != 0.0  # nibabel's 1 and 0 when the header sets no scaling
        if proxy.dtype.kind in "biu" and not scaled and (dtype is None or dtype.kind in "biu"):
            array = np.asarray(proxy)  # identity scaling: nibabel returns the stored integers as they are
        elif dtype is None:
            array = image.get_fdata(dtype=np.float32)
        else:  # computed in a float dtype; for an integer one in float64, then rounded by cast_array
            array = image.get_fdata(dtype=dtype if dtype.kind == "f" else np.float64)
        affine = np.array(image.affine, dtype=np.float64)
    array = cast_array(array, dtype, path)
    return array, image_metadata(affine, min(array.ndim, 3), "nifti", path)


def _open(path: Path) -> Any:
    """An uncompressed ``.nii`` through ``nib.load``; a gzip-compressed file (or one without the ``.nii`` suffix)
    from its bytes: one ``gzip.decompress`` call is about a quarter faster than nibabel's streamed gzip reads (for
    the cost of holding the decompressed bytes while the array is filled)."""
    with open(path, "rb") as file:
        compressed = file.read(2) == b"\x1f\x8b"
    if not compressed and path.name.lower().endswith(".nii"):
        return nib.load(path, mmap=False)
    data = path.read_bytes()
    if compressed:
        data = gzip.decompress(data)
    klass = nib.Nifti2Image if data[4:8] in (b"n+2\x00", b"ni2\x00") else nib.Nifti1Image
    return klass.from_bytes(data)
