"""MetaImage (``.mha``, ``.mhd``) and NRRD (``.nrrd``) through SimpleITK, the ``[itk]`` extra (imported lazily)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from fuse.imaging.io._format import ImageLoadError, affine_from_axes, cast_array, image_metadata, lps_to_ras

__all__ = ["read_itk"]


def read_itk(path: str | Path, format: str, dtype: np.dtype[Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a 2-D or 3-D MetaImage (``format="mha"``) or NRRD (``"nrrd"``) image with SimpleITK.

    The array is SimpleITK's ``GetArrayFromImage``: axes (z, y, x) — ITK's index order reversed — with the
    components of a vector image last. The affine maps that (z, y, x) order to RAS+ (ITK's physical space is LPS:
    x and y are negated). dtype (``None``): integer images keep their type, floating-point ones become float32.
    The metadata also has ``header``: the file's key/value pairs (``GetMetaData``, ITK's own ``ITK_*`` keys left
    out); ``modality`` comes from a MetaImage ``Modality`` (``MET_MOD_CT`` -> ``"CT"``).

    >>> import pathlib, tempfile
    >>> import SimpleITK as sitk
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(folder.name) / "scan.mha"
    >>> image = sitk.GetImageFromArray(np.zeros((2, 3, 4), dtype=np.int16))
    >>> image.SetSpacing((0.5, 0.5, 2.0))
    >>> sitk.WriteImage(image, path)
    >>> volume, meta = read_itk(path, "mha")
    >>> volume.shape, meta["spacing"]
    ((2, 3, 4), (2.0, 0.5, 0.5))
    >>> folder.cleanup()
    """
    path = Path(path)
    sitk = _simpleitk(path)
    try:
        image = sitk.ReadImage(str(path))
        array = sitk.GetArrayFromImage(image)
    except MemoryError:
        raise
    except Exception as error:
        problem = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise ImageLoadError(path, f"SimpleITK cannot read it as {format} ({problem})") from error
    ndim = image.GetDimension()
    if ndim not in (2, 3):
        raise ImageLoadError(path, f"it is a {ndim}-D image; only 2-D and 3-D {format} images are supported")
    spacing = np.array(image.GetSpacing(), dtype=np.float64)
    direction = np.array(image.GetDirection(), dtype=np.float64).reshape(ndim, ndim)
    origin = np.zeros(3)
    origin[:ndim] = image.GetOrigin()
    # ITK: LPS point = origin + direction @ (spacing * (i, j, k)); the array's axes are (k, j, i)
    axes = []
    for itk_axis in reversed(range(ndim)):
        vector = np.zeros(3)
        vector[:ndim] = direction[:, itk_axis] * spacing[itk_axis]
        axes.append(vector)
    affine = lps_to_ras(affine_from_axes(axes, origin))
    header = {key: image.GetMetaData(key) for key in image.GetMetaDataKeys() if not key.startswith("ITK_")}
    if dtype is None and array.dtype.kind == "f":
        dtype = np.dtype(np.float32)
    array = cast_array(array, dtype, path)
    return array, image_metadata(affine, ndim, format, path, modality=_modality(header), header=header)


def _simpleitk(path: Path) -> ModuleType:
    try:
        import SimpleITK
    except ImportError as error:
        raise ImportError(
            f'reading {path} needs SimpleITK, which is not installed: pip install "fuse-imaging[itk]"'
        ) from error
    return SimpleITK


def _modality(header: dict[str, str]) -> str | None:
    value = header.get("Modality", "").strip()
    value = value.removeprefix("MET_MOD_")
    return None if value in ("", "UNKNOWN", "OTHER") else value
