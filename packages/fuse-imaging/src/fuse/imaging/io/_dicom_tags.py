"""One DICOM file's header: the :class:`_Slice` record of what the series geometry needs from a file, and the
tag parsing behind it (decimal strings read without pydicom's slow conversion, with errors naming the file and
the tag)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from fuse.imaging.io._format import ImageLoadError


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


def _unit(vector: np.ndarray) -> np.ndarray:
    return np.asarray(vector, dtype=np.float64) / float(np.linalg.norm(vector))
