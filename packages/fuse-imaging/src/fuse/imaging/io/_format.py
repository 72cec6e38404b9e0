"""Image file formats: the loader's error, format names and their inference, dtype conversion and the metadata layout.

Format names (``format=`` of :func:`~fuse.imaging.io._loader.load_image`): ``"nifti"`` (aliases ``"nii"``,
``"nib"``), ``"dicom"`` (``"dcm"``), ``"png"``, ``"jpeg"`` (``"jpg"``), ``"mha"`` (``"mhd"``: MetaImage) and
``"nrrd"``. ``"infer"`` reads the format from the full suffix of the file name (case-insensitive: ``.nii.gz``,
``.nii``, ``.dcm``, ``.png``, ``.jpg``, ``.jpeg``, ``.mha``, ``.mhd``, ``.nrrd``; a directory is a DICOM series) and
checks it against the file's magic bytes; without a known suffix the magic bytes decide.

Geometry convention of the metadata every reader returns (:func:`image_metadata`): ``affine`` (4x4 float64) maps an
index over the array's *spatial* axes, in the returned array's axis order, to RAS+ world coordinates in mm;
``spacing`` (mm per spatial axis) and ``direction`` (3 x n: columns are the RAS+ unit vectors of the n spatial axes)
are its column norms and normalised columns, ``origin`` its translation (the world position of voxel index 0).
Channel (and other non-spatial, e.g. time) axes come after the spatial axes (before them with
``channels_first=True``) and are not covered.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "FORMATS",
    "ImageLoadError",
    "affine_from_axes",
    "as_dtype",
    "as_load_error",
    "cast_array",
    "image_metadata",
    "infer_format",
    "lps_to_ras",
    "normalize_format",
    "sniff_format",
    "spatial_to_front",
]

FORMATS = ("nifti", "dicom", "png", "jpeg", "mha", "nrrd")
_ALIASES = {"nii": "nifti", "nib": "nifti", "dcm": "dicom", "jpg": "jpeg", "mhd": "mha"}
# longest first, so that ".nii.gz" is not taken for an unknown ".gz"
_SUFFIXES = (
    (".nii.gz", "nifti"),
    (".nii", "nifti"),
    (".dcm", "dicom"),
    (".png", "png"),
    (".jpeg", "jpeg"),
    (".jpg", "jpeg"),
    (".mha", "mha"),
    (".mhd", "mha"),
    (".nrrd", "nrrd"),
)
_SNIFF_BYTES = 544  # a NIfTI-2 header is 540 bytes; the DICOM and NIfTI-1 magics end before


class ImageLoadError(ValueError):
    """An image file could not be loaded: missing, unreadable or corrupt, of an unknown format, or an inconsistent
    DICOM series. The message names the file and, when loaded by an op, the sample id.

    >>> raise ImageLoadError("scans/case_1.nii.gz", "no such file", sample_id="case_1")
    Traceback (most recent call last):
    ...
    fuse.imaging.ImageLoadError: cannot load scans/case_1.nii.gz (sample 'case_1'): no such file
    """

    def __init__(self, path: str | Path, problem: str, sample_id: Any = None) -> None:
        self.path = Path(path)
        self.problem = problem
        self.sample_id = sample_id
        where = str(path) if sample_id is None else f"{path} (sample {sample_id!r})"
        super().__init__(f"cannot load {where}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across DataLoader workers despite the extra arguments
        return type(self), (self.path, self.problem, self.sample_id)


@contextmanager
def as_load_error(path: str | Path, problem: str) -> Iterator[None]:
    """Turn a reader's failure inside the ``with`` block into an :class:`ImageLoadError` that names ``path``:
    ``"<problem> (<error type>: <error>)"``, chained to the error. A ``MemoryError`` (it says nothing about the file)
    and an ``ImageLoadError`` (it names the file already) pass unchanged.

    >>> with as_load_error("scan.png", "not a readable PNG image"):
    ...     raise OSError("truncated")
    Traceback (most recent call last):
    ...
    fuse.imaging.ImageLoadError: cannot load scan.png: not a readable PNG image (OSError: truncated)
    """
    try:
        yield
    except (ImageLoadError, MemoryError):
        raise
    except Exception as error:
        raise ImageLoadError(path, f"{problem} ({type(error).__name__}: {error})") from error


def normalize_format(format: str) -> str:
    """The canonical name of a ``format=`` value (``"infer"`` stays), or a ``ValueError`` listing the valid ones.

    >>> normalize_format("nib"), normalize_format("JPG"), normalize_format("infer")
    ('nifti', 'jpeg', 'infer')
    """
    name = format.lower() if isinstance(format, str) else format
    if name == "infer" or name in FORMATS:
        return str(name)
    if name in _ALIASES:
        return _ALIASES[name]
    allowed = ", ".join(repr(n) for n in ("infer", *FORMATS, *_ALIASES))
    raise ValueError(f"format must be one of {allowed}; got {format!r}")


def _suffix_format(path: Path) -> str | None:
    name = path.name.lower()
    return next((fmt for suffix, fmt in _SUFFIXES if name.endswith(suffix)), None)


def _is_nifti_header(head: bytes) -> bool:
    return head[344:348] in (b"n+1\x00", b"ni1\x00") or head[4:8] in (b"n+2\x00", b"ni2\x00")


def sniff_format(path: str | Path) -> str | None:
    """The format the first bytes of a file show (``None`` when they match no known magic).

    Recognised: DICOM (``DICM`` at offset 128), NIfTI-1 (``n+1``/``ni1`` at 344) and NIfTI-2 (``n+2``/``ni2`` at 4),
    also inside gzip, PNG, JPEG (``FFD8FF``), NRRD (``NRRD``) and MetaImage (a text header starting ``ObjectType``).

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "scan"
    ...     _ = path.write_bytes(b"\\x00" * 128 + b"DICM")
    ...     sniff_format(path)
    'dicom'
    """
    with open(path, "rb") as file:
        head = file.read(_SNIFF_BYTES)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"NRRD"):
        return "nrrd"
    if head.startswith(b"ObjectType"):
        return "mha"
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x1f\x8b"):
        try:
            with gzip.open(path, "rb") as file:
                head = file.read(_SNIFF_BYTES)
        except (OSError, EOFError, zlib.error):
            return None
    return "nifti" if _is_nifti_header(head) else None


def infer_format(path: str | Path) -> str:
    """The format of ``path``: a directory is a DICOM series; a file is known by its full suffix, checked against
    its magic bytes (a contradiction raises naming both), or, without a known suffix, by its magic bytes alone.
    A file with a known suffix whose bytes match no magic is taken by its suffix (e.g. a DICOM file without the
    128-byte preamble).

    >>> import pathlib, tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(folder.name) / "scan.nii.gz"
    >>> _ = path.write_bytes(b"\\x89PNG\\r\\n\\x1a\\n")
    >>> infer_format(folder.name)
    'dicom'
    >>> infer_format(path)
    Traceback (most recent call last):
    ...
    fuse.imaging.ImageLoadError: cannot load .../scan.nii.gz: its suffix says nifti but its content is png ...
    >>> folder.cleanup()
    """
    path = Path(path)
    if path.is_dir():
        return "dicom"
    by_suffix = _suffix_format(path)
    by_content = sniff_format(path)
    if by_suffix is not None and by_content is not None and by_suffix != by_content:
        raise ImageLoadError(
            path,
            f"its suffix says {by_suffix} but its content is {by_content} (magic bytes); rename the file or pass "
            f"format={by_content!r} to read it as {by_content}",
        )
    found = by_suffix or by_content
    if found is None:
        suffixes = ", ".join(suffix for suffix, _ in _SUFFIXES)
        raise ImageLoadError(
            path,
            f"unknown image format: the name has none of the suffixes {suffixes} and the content matches no known "
            "magic bytes (DICOM, NIfTI, PNG, JPEG, NRRD, MetaImage); pass format=... if it is one of them",
        )
    return found


def as_dtype(dtype: npt.DTypeLike | None) -> np.dtype[Any] | None:
    """``np.dtype(dtype)`` for a boolean, integer or float type (``None`` stays), else a ``ValueError``.

    >>> as_dtype("int16"), as_dtype(None)
    (dtype('int16'), None)
    """
    if dtype is None:
        return None
    try:
        result = np.dtype(dtype)
    except TypeError:
        result = None
    if result is None or result.kind not in "biuf":
        raise ValueError(
            f"dtype must be None or a numpy bool, integer or float dtype (e.g. np.float32, 'int16'); got {dtype!r}"
        )
    return result


def cast_array(array: np.ndarray, dtype: np.dtype[Any] | None, path: str | Path) -> np.ndarray:
    """``array`` as ``dtype`` (``None``: unchanged) in native byte order. Floats converted to integers are rounded
    to the nearest integer; values that do not fit the integer type (or NaN / infinity) raise
    :class:`ImageLoadError` rather than wrap around.

    >>> cast_array(np.array([0.4, 2.6]), np.dtype("int16"), "x.nii")
    array([0, 3], dtype=int16)
    >>> cast_array(np.array([-1, 300]), np.dtype("uint8"), "x.nii")
    Traceback (most recent call last):
    ...
    fuse.imaging.ImageLoadError: cannot load x.nii: its values span [-1, 300], outside uint8's range ...
    """
    target = dtype if dtype is not None else array.dtype
    if dtype is None and target.kind in "biufc":
        target = np.dtype(f"{target.kind}{target.itemsize}")  # native byte order
    if array.dtype == target:
        return array.view(target)  # spelled natively: dtype('int16'), not dtype('<i2')
    if target.kind in "iu" and array.dtype.kind in "iuf" and array.size:
        if array.dtype.kind == "f":
            if not np.isfinite(array).all():
                raise ImageLoadError(path, f"it holds NaN or infinite values, which {target} cannot represent")
            array = np.rint(array)
        info = np.iinfo(target)
        low, high = array.min(), array.max()
        if low < info.min or high > info.max:
            raise ImageLoadError(
                path,
                f"its values span [{low:g}, {high:g}], outside {target}'s range [{info.min}, {info.max}]; "
                "pass a wider dtype",
            )
    return array.astype(target)


def image_metadata(
    affine: np.ndarray,
    spatial_ndim: int,
    format: str,
    path: str | Path,
    modality: str | None = None,
    series_uid: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The metadata dict of an image whose first ``spatial_ndim`` array axes are mapped to RAS+ mm by ``affine``:
    ``spacing``, ``origin``, ``direction`` and ``affine`` derived from it (so that ``affine[:3, :n] ==
    direction * spacing`` always holds), plus ``format``, ``path``, ``modality``, ``series_uid`` and ``extra``.

    >>> meta = image_metadata(np.diag([2.0, 3.0, 1.0, 1.0]), 2, "png", "a.png")
    >>> meta["spacing"], meta["origin"], meta["direction"].shape
    ((2.0, 3.0), (0.0, 0.0, 0.0), (3, 2))
    """
    affine = np.array(affine, dtype=np.float64)
    columns = affine[:3, :spatial_ndim]
    norms = np.linalg.norm(columns, axis=0)
    # a degenerate (zero) axis keeps spacing 0 and gets the unit vector of its index, so direction stays finite
    unit = np.eye(3)[:, :spatial_ndim]
    direction = np.where(norms > 0, columns / np.where(norms > 0, norms, 1.0), unit)
    return {
        "spacing": tuple(float(value) for value in norms),
        "origin": tuple(float(value) for value in affine[:3, 3]),
        "direction": direction,
        "affine": affine,
        "format": format,
        "path": str(path),
        "modality": modality,
        "series_uid": series_uid,
        **extra,
    }


def spatial_to_front(array: np.ndarray, spatial_ndim: int, channels_first: bool) -> np.ndarray:
    """Move the non-spatial axes (after the first ``spatial_ndim``) to the front when ``channels_first``.

    >>> spatial_to_front(np.zeros((4, 5, 3)), 2, channels_first=True).shape
    (3, 4, 5)
    """
    if not channels_first or array.ndim <= spatial_ndim:
        return array
    extra = tuple(range(spatial_ndim, array.ndim))
    return np.ascontiguousarray(np.moveaxis(array, extra, tuple(range(len(extra)))))


def lps_to_ras(affine_lps: np.ndarray) -> np.ndarray:
    """An affine to LPS (DICOM, ITK) turned into one to RAS+ (x and y negated).

    >>> lps_to_ras(np.eye(4))[:3, :3].diagonal()
    array([-1., -1.,  1.])
    """
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(affine_lps, dtype=np.float64)


def affine_from_axes(axes: Sequence[np.ndarray], origin: np.ndarray) -> np.ndarray:
    """A 4x4 affine whose columns are the given world vectors of 2 or 3 array axes and whose translation is
    ``origin``. With 2 axes (a 2-D image) the third column is the unit normal of the image plane, their cross
    product, so the affine stays invertible and right-handed.

    >>> affine_from_axes([np.array([2.0, 0.0, 0.0]), np.array([0.0, 3.0, 0.0])], np.zeros(3)).diagonal()
    array([2., 3., 1., 1.])
    """
    if len(axes) not in (2, 3):
        raise ValueError(f"affine_from_axes needs 2 or 3 axis vectors, got {len(axes)}")
    affine = np.eye(4)
    for index, axis in enumerate(axes):
        affine[:3, index] = axis
    if len(axes) == 2:
        normal = np.cross(affine[:3, 0], affine[:3, 1])
        norm = np.linalg.norm(normal)
        affine[:3, 2] = normal / norm if norm > 0 else np.array([0.0, 0.0, 1.0])
    affine[:3, 3] = origin
    return affine
