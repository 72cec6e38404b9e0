"""DICOM through pydicom: a single file (a 2-D image) or a series directory (a 3-D volume).

A series is rebuilt the way geometry-aware readers (GDCM, dcm2niix) do it rather than by file name or
``InstanceNumber``, which are unreliable: files are grouped by ``SeriesInstanceUID``, slices sorted by the projection
of ``ImagePositionPatient`` on the slice normal (the cross product of the two ``ImageOrientationPatient`` cosines),
and the slice step taken from the sorted positions. Slices must agree on rows, columns, pixel spacing and
orientation, and be evenly spaced: duplicate positions (e.g. a multi-echo or dynamic series) and gaps (a missing
slice) are errors naming the files, not a silently scrambled volume. ``RescaleSlope``/``RescaleIntercept`` are applied
per slice (they may differ between slices).

Array order: (slice, row, column) for a series, (row, column) for a single file; colour images add a trailing
samples axis. DICOM patient coordinates are LPS; the affine maps the array index to RAS+ (x and y negated).

Pixel values follow one convention whatever the file's ``PhotometricInterpretation`` (kept in the metadata under
``"photometric_interpretation"``): ``MONOCHROME1`` images (where the lowest value is white, common in radiography
and mammography) are inverted to the ``MONOCHROME2`` convention (higher is brighter) over the stored value range,
``stored_min + stored_max - value`` before rescaling; ``PALETTE COLOR`` images are mapped through their palette to
RGB (``pydicom``'s ``apply_color_lut``), a trailing axis of 3; YBR images are converted to RGB by pydicom.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels.processing import apply_color_lut
from pydicom.pixels.utils import pixel_array

from fuse.imaging.io._dicom_series import _NAMED, _check_consistent, _choose_series, _sort
from fuse.imaging.io._dicom_tags import _dicom_start, _has_preamble, _number, _parse, _series_uid, _Slice, _unit
from fuse.imaging.io._format import (
    ImageLoadError,
    affine_from_axes,
    as_load_error,
    cast_array,
    image_metadata,
    lps_to_ras,
)

__all__ = ["read_dicom_file", "read_dicom_series"]


def read_dicom_file(
    path: str | Path, dtype: np.dtype[Any] | None = None, series_uid: str | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Read one single-frame DICOM file: a (rows, columns) array (a trailing samples axis for colour images).

    dtype (``None``): float32 holding ``pixel_array * RescaleSlope + RescaleIntercept`` (1 and 0 when absent); a
    given dtype is computed in float64 (float32 for float types of 4 bytes or less) and converted (integers rounded,
    range checked). ``MONOCHROME1`` is inverted to the ``MONOCHROME2`` convention and ``PALETTE COLOR`` mapped to
    RGB (see the module docstring); the metadata's ``"photometric_interpretation"`` is the file's. A file without the
    128-byte preamble and ``DICM`` prefix is read with ``force=True``. The affine maps (row, column)
    through ``ImageOrientationPatient``, ``PixelSpacing`` and ``ImagePositionPatient`` to RAS+; without them (e.g.
    projection X-ray) it only scales by ``PixelSpacing`` (or ``ImagerPixelSpacing``, else 1 mm): row -> x,
    column -> y. ``series_uid``, when given, must be the file's ``SeriesInstanceUID``.

    >>> from pydicom.data import get_testdata_file
    >>> image, meta = read_dicom_file(get_testdata_file("CT_small.dcm"))
    >>> image.shape, image.dtype, meta["modality"], meta["spacing"]
    ((128, 128), dtype('float32'), 'CT', (0.661468, 0.661468))
    """
    path = Path(path)
    with as_load_error(path, "not a readable DICOM file"):
        dataset = pydicom.dcmread(path, force=not _has_preamble(path))
    if "PixelData" not in dataset:
        raise ImageLoadError(path, "it holds no pixel data (not an image, or not a DICOM file)")
    if series_uid is not None and _series_uid(dataset) != series_uid:
        raise ImageLoadError(
            path, f"series_uid={series_uid!r} was asked for, but the file is of series {_series_uid(dataset)!r}"
        )
    slice_ = _parse(path, dataset)
    array = cast_array(_rescaled([slice_], dtype)[0], dtype, path)
    row_spacing, column_spacing = slice_.pixel_spacing or (1.0, 1.0)
    if slice_.orientation is not None and slice_.position is not None:
        row_cosine, column_cosine = _unit(slice_.orientation[:3]), _unit(slice_.orientation[3:])
        axes = [column_cosine * row_spacing, row_cosine * column_spacing]  # a row index moves along a column
        affine = lps_to_ras(affine_from_axes(axes, slice_.position))
    else:
        axes = [np.array([row_spacing, 0.0, 0.0]), np.array([0.0, column_spacing, 0.0])]
        affine = affine_from_axes(axes, np.zeros(3))
    return array, _metadata(affine, 2, path, dataset)


def read_dicom_series(
    directory: str | Path, dtype: np.dtype[Any] | None = None, series_uid: str | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Read the DICOM series in ``directory`` (its files, not sub-directories): a (slice, row, column) volume.

    Every file is read once, completely (one pass is faster than headers first and pixel data later), as
    :func:`read_dicom_file` reads it (a file without the 128-byte preamble is read with ``force=True``); files that
    are not DICOM, hidden files and DICOM files without pixel data (DICOMDIR, reports) are skipped, a corrupt DICOM
    file raises. With several series, ``series_uid`` picks one; without it the one with
    the most files is loaded and a warning names it and the others. Slices are sorted along the normal and must be
    evenly spaced (see the module docstring); when some files lack ``ImagePositionPatient`` or
    ``ImageOrientationPatient`` the slices are sorted by ``InstanceNumber`` instead, with a warning, and the slice
    spacing is ``SpacingBetweenSlices``, else ``SliceThickness``, else 1 mm (so is it for a one-slice series).

    dtype (``None``): float32 after the per-slice rescale, as for :func:`read_dicom_file`. The affine maps (slice,
    row, column) to RAS+: its slice column is the mean step between sorted slice positions (so a gantry tilt shows
    as a sheared affine), the row and column ones the orientation cosines times the pixel spacing, its origin the
    position of the first sorted slice. Without any orientation the affine only scales by the spacings.

    >>> import pathlib, shutil, tempfile
    >>> from pydicom.data import get_testdata_file
    >>> folder = tempfile.TemporaryDirectory()
    >>> _ = shutil.copy(get_testdata_file("CT_small.dcm"), folder.name)
    >>> volume, meta = read_dicom_series(folder.name)
    >>> volume.shape, meta["spacing"]
    ((1, 128, 128), (5.0, 0.661468, 0.661468))
    >>> folder.cleanup()
    """
    directory = Path(directory)
    groups, skipped = _read_headers(directory)
    if not groups:
        raise ImageLoadError(
            directory,
            f"no DICOM image in the directory ({skipped}); a series directory holds one .dcm file per slice",
        )
    chosen = _choose_series(directory, groups, series_uid)
    slices = groups[chosen]
    _check_consistent(directory, slices)
    ordered, step, origin = _sort(directory, slices)
    volume = cast_array(_rescaled(ordered, dtype), dtype, directory)
    first = ordered[0]
    row_spacing, column_spacing = first.pixel_spacing or (1.0, 1.0)
    if first.orientation is not None:
        row_cosine, column_cosine = _unit(first.orientation[:3]), _unit(first.orientation[3:])
        affine = lps_to_ras(affine_from_axes([step, column_cosine * row_spacing, row_cosine * column_spacing], origin))
    else:
        axes = [step, np.array([0.0, row_spacing, 0.0]), np.array([0.0, 0.0, column_spacing])]
        affine = affine_from_axes(axes, origin)
    return volume, _metadata(affine, 3, directory, first.dataset)


# ---------------------------------------------------------------------------------------------- headers
def _read_headers(directory: Path) -> tuple[dict[str | None, list[_Slice]], str]:
    """The image files of ``directory`` grouped by series UID, and a phrase counting the skipped files."""
    groups: dict[str | None, list[_Slice]] = {}
    not_dicom: list[Path] = []
    no_pixels = 0
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        start = _dicom_start(path)
        if start == "other":
            not_dicom.append(path)
            continue
        try:
            with warnings.catch_warnings():  # pydicom's notes on a file without preamble (guessed VR) are noise
                if start == "bare":
                    warnings.simplefilter("ignore")
                dataset = pydicom.dcmread(path, force=start == "bare")
        except InvalidDicomError:
            not_dicom.append(path)
            continue
        except MemoryError:
            raise
        except Exception as error:
            raise ImageLoadError(path, f"corrupt DICOM file ({type(error).__name__}: {error})") from error
        if "PixelData" not in dataset:
            no_pixels += 1
            continue
        groups.setdefault(_series_uid(dataset), []).append(_parse(path, dataset))
    named_dicom = [path for path in not_dicom if path.suffix.lower() in (".dcm", ".dicom")]
    if named_dicom:
        warnings.warn(
            f"{directory}: skipped {len(named_dicom)} file(s) named like DICOM that are not DICOM "
            f"({', '.join(path.name for path in named_dicom[:_NAMED])}{' ...' if len(named_dicom) > _NAMED else ''})",
            UserWarning,
            stacklevel=3,
        )
    skipped = f"skipped {len(not_dicom)} non-DICOM file(s) and {no_pixels} DICOM file(s) without pixel data"
    return groups, skipped


# ---------------------------------------------------------------------------------------------- pixels
def _rescaled(ordered: list[_Slice], dtype: np.dtype[Any] | None) -> np.ndarray:
    """The slices' ``pixel_array * slope + intercept`` stacked, computed without float64 temporaries: in float32,
    or in float64 when a wider float or an integer dtype is asked for (converted by the caller)."""
    work = np.float32 if dtype is None or (dtype.kind == "f" and dtype.itemsize <= 4) else np.float64
    volume = np.empty((len(ordered), *ordered[0].shape), dtype=work)
    for index, slice_ in enumerate(ordered):
        with as_load_error(slice_.path, "cannot decode its pixel data"):
            pixels = pixel_array(slice_.dataset)
        if slice_.photometric == "PALETTE COLOR":
            with as_load_error(slice_.path, "cannot map its PALETTE COLOR pixels to RGB"):
                pixels = apply_color_lut(pixels, slice_.dataset)
        if pixels.shape != slice_.shape:
            raise ImageLoadError(slice_.path, f"its pixel data has shape {pixels.shape}, not {slice_.shape}")
        volume[index] = pixels
        if slice_.photometric == "MONOCHROME1":  # lowest is white: invert over the stored range
            low, high = _stored_range(slice_)
            np.subtract(low + high, volume[index], out=volume[index])
        del slice_.dataset.PixelData  # free each file's raw bytes once decoded
        if slice_.slope != 1.0:
            volume[index] *= slice_.slope
        if slice_.intercept != 0.0:
            volume[index] += slice_.intercept
    return volume


def _stored_range(slice_: _Slice) -> tuple[int, int]:
    """The lowest and highest stored pixel values that ``BitsStored`` and ``PixelRepresentation`` allow."""
    bits = int(_number(slice_.path, slice_.dataset, "BitsStored", 0.0)) or int(
        _number(slice_.path, slice_.dataset, "BitsAllocated", 0.0)
    )
    if bits <= 0:
        raise ImageLoadError(slice_.path, "it is MONOCHROME1 but has no BitsStored, so it cannot be inverted")
    if int(_number(slice_.path, slice_.dataset, "PixelRepresentation", 0.0)) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _metadata(affine: np.ndarray, spatial_ndim: int, path: Path, dataset: Dataset) -> dict[str, Any]:
    modality = dataset.get("Modality")
    photometric = dataset.get("PhotometricInterpretation")
    return image_metadata(
        affine,
        spatial_ndim,
        "dicom",
        path,
        modality=str(modality) if modality else None,
        series_uid=_series_uid(dataset),
        photometric_interpretation=str(photometric).strip() if photometric else None,
    )
