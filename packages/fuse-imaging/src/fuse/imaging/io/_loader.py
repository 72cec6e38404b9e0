"""The medical image loader: :func:`load_image` and the op :class:`OpLoadImage` (alias ``OpMedicalImageLoader``).

One entry point for NIfTI (``.nii``, ``.nii.gz``; nibabel), DICOM files and series directories (pydicom), PNG and
JPEG (Pillow) and, with the ``[itk]`` extra, MetaImage and NRRD (SimpleITK). Each returns the array and a metadata
dict with the geometry in one convention (see :mod:`fuse.imaging.io._format`): ``spacing``, ``origin``,
``direction`` and ``affine`` (array index over the spatial axes -> RAS+ mm), plus ``format``, ``path``,
``modality`` and ``series_uid``. Array order per format:

=================  ==========================================  ===========================================
format             array axes                                  dtype by default
=================  ==========================================  ===========================================
NIfTI              nibabel's (i, j, k[, t, ...])               float32, scaled; unscaled integers kept
DICOM file         (row, column[, sample])                     float32, ``pixel * slope + intercept``
DICOM series       (slice, row, column[, sample])              float32, rescaled per slice
PNG / JPEG         (H, W[, C])                                 as stored (uint8, uint16 PNG)
MHA / NRRD         SimpleITK's (z, y, x[, component])          integers kept, floats as float32
=================  ==========================================  ===========================================

DICOM values follow the ``MONOCHROME2`` convention (``MONOCHROME1`` inverted) and ``PALETTE COLOR`` comes back as
RGB; 16-bit RGB/RGBA PNGs are read with SimpleITK (the ``[itk]`` extra) so that they stay uint16.

``channels_first=True`` moves the trailing non-spatial axes (colour channels, vector components, NIfTI's time
axis) in front of the spatial ones, e.g. (C, H, W). Every failure to read a file raises
:class:`~fuse.imaging.ImageLoadError` naming the file (and, from the op, the sample id).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fuse.core import NDict
from fuse.data import OpReversibleBase, sample_value
from fuse.imaging.io._dicom import read_dicom_file, read_dicom_series
from fuse.imaging.io._format import (
    ImageLoadError,
    as_dtype,
    infer_format,
    normalize_format,
    spatial_to_front,
)
from fuse.imaging.io._itk import read_itk
from fuse.imaging.io._nifti import read_nifti
from fuse.imaging.io._raster import read_raster

__all__ = ["OpLoadImage", "OpMedicalImageLoader", "load_image"]


def load_image(
    path: str | os.PathLike[str],
    format: str = "infer",
    dtype: npt.DTypeLike | None = None,
    series_uid: str | None = None,
    channels_first: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Load a medical image file (or a DICOM series directory): ``(array, metadata)``.

    :param path: the file, or a directory holding a DICOM series.
    :param format: ``"infer"`` (from the full suffix, checked against the magic bytes; a directory is DICOM),
        or one of ``"nifti"``, ``"dicom"``, ``"png"``, ``"jpeg"``, ``"mha"``, ``"nrrd"`` (aliases ``"nii"``,
        ``"nib"``, ``"dcm"``, ``"jpg"``, ``"mhd"``) to force it.
    :param dtype: ``None`` for each format's default (see the module docstring), or a numpy dtype to convert to;
        conversion to an integer type rounds and raises when values do not fit.
    :param series_uid: the ``SeriesInstanceUID`` to load from a DICOM directory holding several series (or to
        check a DICOM file against); DICOM only.
    :param channels_first: put the non-spatial (channel) axes first, e.g. (C, H, W) instead of (H, W, C).

    >>> from pydicom.data import get_testdata_file
    >>> image, meta = load_image(get_testdata_file("CT_small.dcm"))
    >>> image.shape, image.dtype, meta["format"], meta["affine"].shape
    ((128, 128), dtype('float32'), 'dicom', (4, 4))
    """
    return _load(Path(path), format, dtype, series_uid, channels_first)


def _load(
    path: Path, format: str, dtype: npt.DTypeLike | None, series_uid: str | None, channels_first: bool
) -> tuple[np.ndarray, dict[str, Any]]:
    name = normalize_format(format)
    target = as_dtype(dtype)
    if not path.exists():
        raise ImageLoadError(path, "no such file or directory")
    try:
        if name == "infer":
            name = infer_format(path)
        if series_uid is not None and name != "dicom":
            raise ValueError(f"series_uid applies to DICOM only; {path} is read as {name}")
        if path.is_dir():
            if name != "dicom":
                raise ImageLoadError(path, f"it is a directory: only format 'dicom' (a series) reads one, not {name!r}")
            array, metadata = read_dicom_series(path, target, series_uid)
        elif name == "dicom":
            array, metadata = read_dicom_file(path, target, series_uid)
        elif name == "nifti":
            array, metadata = read_nifti(path, target)
        elif name in ("png", "jpeg"):
            array, metadata = read_raster(path, name, target)
        else:
            array, metadata = read_itk(path, name, target)
    except OSError as error:  # e.g. permissions, a file vanished or a read failed
        raise ImageLoadError(path, f"cannot read it ({type(error).__name__}: {error})") from error
    return spatial_to_front(array, len(metadata["spacing"]), channels_first), metadata


class OpLoadImage(OpReversibleBase):
    """Load the image whose path is ``sample[key_in]`` into ``sample[key_out]`` (a numpy array), and its metadata
    into ``sample[key_metadata_out]`` when given (FuseMedML's ``OpLoadImage``; also ``OpMedicalImageLoader``).

    The path is ``dir_path / sample[key_in]`` (an absolute path in the sample is used as it is). Formats, array
    order, dtypes and the metadata are those of :func:`load_image`, whose arguments the call takes. Errors raise
    :class:`~fuse.imaging.ImageLoadError` naming the file and the sample id. Reversible: ``reverse`` leaves
    the sample unchanged.

    :param dir_path: the folder the sample paths are relative to (``None``: as they are).

    >>> import pathlib, tempfile
    >>> import nibabel as nib
    >>> from fuse.core import create_initial_sample
    >>> from fuse.data import PipelineDefault
    >>> folder = tempfile.TemporaryDirectory()
    >>> nib.save(nib.Nifti1Image(np.ones((4, 5, 6), np.float32), np.eye(4)), pathlib.Path(folder.name) / "c1.nii.gz")
    >>> pipeline = PipelineDefault("static", [
    ...     (OpLoadImage(folder.name), {"key_in": "data.path", "key_out": "data.input.img",
    ...                                 "key_metadata_out": "data.input.meta"}),
    ... ])
    >>> sample = create_initial_sample("c1")
    >>> sample["data.path"] = "c1.nii.gz"
    >>> sample = pipeline(sample)
    >>> sample["data.input.img"].shape, sample["data.input.meta.spacing"]
    ((4, 5, 6), (1.0, 1.0, 1.0))
    >>> folder.cleanup()
    """

    def __init__(self, dir_path: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self._dir_path = None if dir_path is None else Path(dir_path)

    def __call__(
        self,
        sample_dict: NDict,
        op_id: str | None = None,
        *,
        key_in: str,
        key_out: str,
        key_metadata_out: str | None = None,
        format: str = "infer",
        dtype: npt.DTypeLike | None = None,
        series_uid: str | None = None,
        channels_first: bool = False,
    ) -> NDict:
        """Load ``dir_path / sample[key_in]`` into ``sample[key_out]`` (and its metadata into
        ``sample[key_metadata_out]``); the other arguments are those of :func:`load_image`."""
        value = sample_value(sample_dict, key_in, self)
        sample_id = sample_dict.get("data.sample_id")
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(
                f"OpLoadImage: sample {sample_id!r} key {key_in!r} must hold a file path (str or Path), got "
                f"{type(value).__name__} {value!r}"
            )
        path = Path(value) if self._dir_path is None else self._dir_path / value
        try:
            image, metadata = _load(path, format, dtype, series_uid, channels_first)
        except ImageLoadError as error:  # the same error, now naming the sample
            raise ImageLoadError(error.path, error.problem, sample_id=sample_id) from error.__cause__
        sample_dict[key_out] = image
        if key_metadata_out is not None:
            sample_dict[key_metadata_out] = metadata
        return sample_dict


OpMedicalImageLoader = OpLoadImage
"""The name the FuseMedML paper uses for :class:`OpLoadImage` (the same class)."""
