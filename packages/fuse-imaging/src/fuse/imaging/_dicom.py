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

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_color_lut
from pydicom.pixels.utils import pixel_array

from fuse.imaging._format import ImageLoadError, affine_from_axes, cast_array, image_metadata, lps_to_ras

__all__ = ["read_dicom_file", "read_dicom_series"]

_GAP_TOLERANCE = 0.05  # a slice step may differ from the median step by this fraction before it is a gap
_DUPLICATE_MM = 1e-3  # slices closer than this along the normal share a position
_ORIENTATION_TOLERANCE = 1e-4  # absolute, on the direction cosines
_SPACING_TOLERANCE = 1e-4  # relative, on PixelSpacing
_NAMED = 3  # how many offending files an error names


@dataclass
class _Slice:
    """One file: its dataset (decoded later, for the chosen series only) and what the geometry needs from it."""

    path: Path
    dataset: Dataset
    shape: tuple[int, ...]  # (rows, columns) or (rows, columns, samples per pixel)
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns) in mm
    orientation: np.ndarray | None  # the row and column direction cosines (LPS), 6 values
    position: np.ndarray | None  # ImagePositionPatient (LPS), the centre of the first pixel
    instance_number: int | None
    slope: float
    intercept: float
    photometric: str  # PhotometricInterpretation, upper case ("" when absent)


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
    try:
        dataset = pydicom.dcmread(path, force=not _has_preamble(path))
    except MemoryError:
        raise
    except Exception as error:
        raise ImageLoadError(path, f"not a readable DICOM file ({type(error).__name__}: {error})") from error
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


def _has_preamble(path: Path) -> bool:
    """Whether ``path`` starts with the 128-byte preamble and ``DICM``; files without are read with ``force=True``."""
    return _dicom_start(path) == "preamble"


def _dicom_start(path: Path) -> str:
    """``"preamble"`` (128 bytes then ``DICM``), ``"bare"`` (no preamble, but the first element is of the file meta
    group 0002 or of group 0008, as DICOM written without preamble starts), or ``"other"``."""
    with open(path, "rb") as file:
        head = file.read(132)
    if head[128:132] == b"DICM":
        return "preamble"
    if head[:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x08"):  # little-endian 0002 / 0008, big-endian 0008
        return "bare"
    return "other"


def _parse(path: Path, dataset: Dataset) -> _Slice:
    frames = int(_number(path, dataset, "NumberOfFrames", 1.0))
    if frames > 1:
        raise ImageLoadError(
            path,
            f"it is a multi-frame DICOM (NumberOfFrames={frames}), which this loader does not read; "
            "use pydicom directly (pydicom.dcmread(path).pixel_array)",
        )
    if "ModalityLUTSequence" in dataset:
        raise ImageLoadError(path, "it maps pixels through a Modality LUT Sequence, which this loader does not apply")
    rows, columns = dataset.get("Rows"), dataset.get("Columns")
    if not rows or not columns:
        raise ImageLoadError(path, f"its image size is missing (Rows={rows!r}, Columns={columns!r})")
    samples = int(dataset.get("SamplesPerPixel") or 1)
    photometric = str(dataset.get("PhotometricInterpretation") or "").strip().upper()
    if photometric == "PALETTE COLOR":
        samples = 3  # mapped to RGB
    spacing = _numbers(path, dataset, "PixelSpacing", 2)
    if spacing is None:
        spacing = _numbers(path, dataset, "ImagerPixelSpacing", 2)
    instance = _numbers(path, dataset, "InstanceNumber", 1)
    return _Slice(
        path=path,
        dataset=dataset,
        shape=(int(rows), int(columns)) if samples == 1 else (int(rows), int(columns), samples),
        pixel_spacing=None if spacing is None else (float(spacing[0]), float(spacing[1])),
        orientation=_numbers(path, dataset, "ImageOrientationPatient", 6),
        position=_numbers(path, dataset, "ImagePositionPatient", 3),
        instance_number=None if instance is None else int(instance[0]),
        slope=_number(path, dataset, "RescaleSlope", 1.0),
        intercept=_number(path, dataset, "RescaleIntercept", 0.0),
        photometric=photometric,
    )


def _decimal_strings(dataset: Dataset, keyword: str) -> list[str] | None:
    """The values of a decimal or integer string element (DS, IS) as text, ``None`` when absent or empty.

    Read from the raw element while pydicom has not converted it (its DS conversion, with validation, is the
    slowest part of reading a series' headers); the text is ASCII, backslash-separated, space-padded.
    """
    element = dataset.get_item(keyword)
    value = None if element is None else element.value
    if value is None:
        return None
    if isinstance(value, bytes):
        parts = value.decode("ascii", errors="replace").split("\\")
    elif isinstance(value, (list, tuple, MultiValue)):
        parts = [str(v) for v in value]
    else:
        parts = [str(value)]
    parts = [part.strip(" \x00") for part in parts]
    return None if parts == [""] else parts


def _numbers(path: Path, dataset: Dataset, keyword: str, count: int) -> np.ndarray | None:
    values = _decimal_strings(dataset, keyword)
    if values is None:
        return None
    try:
        numbers = np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        numbers = np.array([])
    if numbers.shape != (count,) or not np.isfinite(numbers).all():
        raise ImageLoadError(path, f"{keyword} should hold {count} numbers, it holds {values!r}")
    if keyword == "ImageOrientationPatient" and not (np.linalg.norm(numbers[:3]) and np.linalg.norm(numbers[3:])):
        raise ImageLoadError(path, f"ImageOrientationPatient has a zero direction cosine: {values!r}")
    return numbers


def _number(path: Path, dataset: Dataset, keyword: str, default: float) -> float:
    numbers = _numbers(path, dataset, keyword, 1)
    return default if numbers is None else float(numbers[0])


def _series_uid(dataset: Dataset) -> str | None:
    uid = dataset.get("SeriesInstanceUID")
    return None if uid in (None, "") else str(uid)


def _choose_series(directory: Path, groups: dict[str | None, list[_Slice]], series_uid: str | None) -> str | None:
    by_size = sorted(groups, key=lambda uid: (-len(groups[uid]), str(uid)))
    listing = ", ".join(f"{uid!r} ({len(groups[uid])} files)" for uid in by_size)
    if series_uid is not None:
        if series_uid not in groups:
            raise ImageLoadError(directory, f"it has no series with SeriesInstanceUID {series_uid!r}; it has {listing}")
        return series_uid
    chosen = by_size[0]
    if len(groups) > 1:
        others = ", ".join(f"{uid!r} ({len(groups[uid])} files)" for uid in by_size[1:])
        warnings.warn(
            f"{directory} holds {len(groups)} DICOM series; loading the largest, {chosen!r} ({len(groups[chosen])} "
            f"files); the others: {others}. Pass series_uid=... to choose one",
            UserWarning,
            stacklevel=2,
        )
    return chosen


# ---------------------------------------------------------------------------------------------- geometry
def _check_consistent(directory: Path, slices: list[_Slice]) -> None:
    """Every slice has the first one's shape, pixel spacing and orientation (within tolerances)."""
    reference = slices[0]
    comparisons: tuple[tuple[str, Callable[[_Slice], Any], Callable[[Any, Any], bool]], ...] = (
        ("shape (rows, columns[, samples per pixel])", lambda s: s.shape, lambda a, b: bool(a == b)),
        (
            "pixel spacing",
            lambda s: s.pixel_spacing,
            lambda a, b: bool(np.allclose(a, b, rtol=_SPACING_TOLERANCE, atol=0.0)),
        ),
        (
            "orientation",
            lambda s: s.orientation,
            lambda a, b: bool(np.allclose(a, b, rtol=0.0, atol=_ORIENTATION_TOLERANCE)),
        ),
    )
    for what, value_of, equal in comparisons:
        expected = value_of(reference)
        differing = [s for s in slices[1:] if not _agree(value_of(s), expected, equal)]
        if differing:
            named = ", ".join(f"{s.path.name} has {_show(value_of(s))}" for s in differing[:_NAMED])
            more = f" and {len(differing) - _NAMED} more" if len(differing) > _NAMED else ""
            raise ImageLoadError(
                directory,
                f"its slices disagree on the {what}: {reference.path.name} has {_show(expected)}, {named}{more}",
            )


def _agree(value: Any, expected: Any, equal: Callable[[Any, Any], bool]) -> bool:
    if value is None or expected is None:
        return value is None and expected is None
    return equal(value, expected)


def _sort(directory: Path, slices: list[_Slice]) -> tuple[list[_Slice], np.ndarray, np.ndarray]:
    """The slices in order, the step vector between consecutive slices and the position of the first one: in LPS,
    or, without orientation, in the plain (slice, row, column) frame."""
    first = slices[0]
    if first.orientation is None:
        normal = np.array([1.0, 0.0, 0.0])
    else:
        normal = _unit(np.cross(_unit(first.orientation[:3]), _unit(first.orientation[3:])))
    positions = [s.position for s in slices]
    if first.orientation is not None and all(position is not None for position in positions):
        points = np.array(positions, dtype=np.float64)
        along = points @ normal
        order = np.argsort(along, kind="stable")
        ordered = [slices[i] for i in order]
        points, along = points[order], along[order]
        if len(ordered) == 1:
            return ordered, normal * _slice_spacing(first)[0], points[0]
        _check_spacing(directory, ordered, along)
        step = (points[-1] - points[0]) / (len(ordered) - 1)
        _check_on_a_line(directory, ordered, points, step)
        return ordered, step, points[0]
    # no geometry on some files: InstanceNumber decides the order, the header the spacing
    missing = [s for s in slices if s.position is None or s.orientation is None]
    unnumbered = [s for s in slices if s.instance_number is None]
    if unnumbered:
        raise ImageLoadError(
            directory,
            f"cannot order its slices: {_names(missing)} lack ImagePositionPatient or ImageOrientationPatient and "
            f"{_names(unnumbered)} lack InstanceNumber",
        )
    ordered = sorted(slices, key=lambda s: s.instance_number or 0)
    repeated = [(a, b) for a, b in itertools.pairwise(ordered) if a.instance_number == b.instance_number]
    if repeated:
        pairs = "; ".join(f"{a.path.name} and {b.path.name}" for a, b in repeated[:_NAMED])
        raise ImageLoadError(directory, f"cannot order its slices: the same InstanceNumber in {pairs}")
    spacing, source = _slice_spacing(first)
    if len(slices) > 1:
        warnings.warn(
            f"{directory}: {len(missing)} of {len(slices)} files lack ImagePositionPatient or "
            f"ImageOrientationPatient ({_names(missing)}); slices ordered by InstanceNumber "
            f"({ordered[0].instance_number} to {ordered[-1].instance_number}), slice spacing {spacing:g} mm from "
            f"{source}",
            UserWarning,
            stacklevel=2,
        )
    start = ordered[0].position
    origin = start if first.orientation is not None and start is not None else np.zeros(3)
    return ordered, normal * spacing, origin


def _check_spacing(directory: Path, ordered: list[_Slice], along: np.ndarray) -> None:
    steps = np.diff(along)
    duplicates = np.flatnonzero(steps < _DUPLICATE_MM)
    if duplicates.size:
        pairs = "; ".join(
            f"{ordered[i].path.name} and {ordered[i + 1].path.name} at {along[i]:.3f} mm" for i in duplicates[:_NAMED]
        )
        raise ImageLoadError(
            directory,
            f"{duplicates.size} pair(s) of slices share a position along the slice normal ({pairs}): several images "
            "per position (multi-echo, dynamic, diffusion?) or a duplicated file; keep one volume per directory",
        )
    median = float(np.median(steps))
    gaps = np.flatnonzero(np.abs(steps - median) > _GAP_TOLERANCE * median)
    if gaps.size:
        named = "; ".join(
            f"{steps[i]:.3f} mm between {ordered[i].path.name} and {ordered[i + 1].path.name}" for i in gaps[:_NAMED]
        )
        more = f" and {gaps.size - _NAMED} more" if gaps.size > _NAMED else ""
        raise ImageLoadError(
            directory,
            f"its slices are not evenly spaced: the median step is {median:.3f} mm but it is {named}{more} "
            "(a missing slice?)",
        )


def _check_on_a_line(directory: Path, ordered: list[_Slice], positions: np.ndarray, step: np.ndarray) -> None:
    expected = positions[0] + np.arange(len(ordered))[:, None] * step
    off = np.linalg.norm(positions - expected, axis=1)
    bad = np.flatnonzero(off > _GAP_TOLERANCE * np.linalg.norm(step))
    if bad.size:
        named = ", ".join(f"{ordered[i].path.name} ({off[i]:.3f} mm)" for i in bad[:_NAMED])
        raise ImageLoadError(
            directory, f"its slice positions are not on one line: off the line from first to last slice are {named}"
        )


def _slice_spacing(slice_: _Slice) -> tuple[float, str]:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = _number(slice_.path, slice_.dataset, keyword, 0.0)
        if value > 0:
            return value, keyword
    return 1.0, "a default (no SpacingBetweenSlices or SliceThickness)"


# ---------------------------------------------------------------------------------------------- pixels
def _rescaled(ordered: list[_Slice], dtype: np.dtype[Any] | None) -> np.ndarray:
    """The slices' ``pixel_array * slope + intercept`` stacked, computed without float64 temporaries: in float32,
    or in float64 when a wider float or an integer dtype is asked for (converted by the caller)."""
    work = np.float32 if dtype is None or (dtype.kind == "f" and dtype.itemsize <= 4) else np.float64
    volume = np.empty((len(ordered), *ordered[0].shape), dtype=work)
    for index, slice_ in enumerate(ordered):
        try:
            pixels = pixel_array(slice_.dataset)
        except MemoryError:
            raise
        except Exception as error:
            raise ImageLoadError(
                slice_.path, f"cannot decode its pixel data ({type(error).__name__}: {error})"
            ) from error
        if slice_.photometric == "PALETTE COLOR":
            try:
                pixels = apply_color_lut(pixels, slice_.dataset)
            except MemoryError:
                raise
            except Exception as error:
                raise ImageLoadError(
                    slice_.path, f"cannot map its PALETTE COLOR pixels to RGB ({type(error).__name__}: {error})"
                ) from error
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


def _unit(vector: np.ndarray) -> np.ndarray:
    return np.asarray(vector, dtype=np.float64) / float(np.linalg.norm(vector))


def _names(slices: list[_Slice]) -> str:
    named = ", ".join(s.path.name for s in slices[:_NAMED])
    return named + (f" and {len(slices) - _NAMED} more" if len(slices) > _NAMED else "")


def _show(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return "[" + ", ".join(f"{v:g}" for v in value) + "]"
    return "none" if value is None else str(value)
