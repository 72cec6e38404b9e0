"""fuse-imaging: a medical image loader with correct geometry, imaging ops and public dataset wrappers.

:class:`OpLoadImage` reads NIfTI, DICOM files and series, PNG/JPEG and (with the ``itk`` extra) MHA/NRRD into an
array plus metadata (spacing, origin, direction and a 4x4 affine from array index to RAS+ millimetres); the ops
work on numpy arrays and torch tensors alike and keep that geometry up to date. Public datasets (MNIST, ISIC,
KiTS21, STOIC21, KNIGHT, CMMD, PICAI) are in :mod:`fuse.imaging.datasets`.

>>> import tempfile, numpy as np, nibabel as nib
>>> from pathlib import Path
>>> from fuse.core import create_initial_sample
>>> folder = Path(tempfile.mkdtemp())
>>> nib.save(nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), np.diag([2.0, 2.0, 3.0, 1.0])), folder / "ct.nii.gz")
>>> sample = create_initial_sample("case_1")
>>> sample["data.input.path"] = "ct.nii.gz"
>>> sample = OpLoadImage(folder)(sample, key_in="data.input.path", key_out="data.input.img", key_metadata_out="data.meta")
>>> sample["data.input.img"].shape, sample["data.meta.spacing"]
((4, 5, 6), (2.0, 2.0, 3.0))
"""

from fuse.core import publish_public_names
from fuse.imaging._version import __version__
from fuse.imaging.io._download import (
    ChecksumMismatchError,
    DownloadError,
    UnsafeArchiveError,
    download_file,
    extract_archive,
    mirror_url,
)
from fuse.imaging.io._format import ImageLoadError
from fuse.imaging.io._loader import OpLoadImage, OpMedicalImageLoader, load_image
from fuse.imaging.ops._aug_geometry import OpAugAffine2D, OpAugCropAndResize2D, OpRotation3D
from fuse.imaging.ops._aug_intensity import OpAugColor, OpAugGaussian
from fuse.imaging.ops._geometry import OpReorient, OpResampleToSpacing
from fuse.imaging.ops._intensity import OpClip, OpNormalizeAgainstSelf, OpToIntImageSpace, OpToRange
from fuse.imaging.ops._key_types import (
    PATTERNS_DICT_IMAGING,
    DataTypeImaging,
    OpApplyTypesImaging,
    type_detector_imaging,
)
from fuse.imaging.ops._layout import OpAugSqueeze3Dto2D, OpAugUnsqueeze3DFrom2D, OpCHWToHWC, OpHWCToCHW, OpSelectSlice
from fuse.imaging.ops._mammography import OpFindBiggestNonEmptyBbox2D, OpFlipBrightSideOnLeft2D
from fuse.imaging.ops._resize import OpCrop3D, OpPad, OpResizeAndPad2D, OpResizeTo
from fuse.imaging.ops._vis import OpVis2DImage, OpVisImageHist

__all__ = [
    "PATTERNS_DICT_IMAGING",
    "ChecksumMismatchError",
    "DataTypeImaging",
    "DownloadError",
    "ImageLoadError",
    "OpApplyTypesImaging",
    "OpAugAffine2D",
    "OpAugColor",
    "OpAugCropAndResize2D",
    "OpAugGaussian",
    "OpAugSqueeze3Dto2D",
    "OpAugUnsqueeze3DFrom2D",
    "OpCHWToHWC",
    "OpClip",
    "OpCrop3D",
    "OpFindBiggestNonEmptyBbox2D",
    "OpFlipBrightSideOnLeft2D",
    "OpHWCToCHW",
    "OpLoadImage",
    "OpMedicalImageLoader",
    "OpNormalizeAgainstSelf",
    "OpPad",
    "OpReorient",
    "OpResampleToSpacing",
    "OpResizeAndPad2D",
    "OpResizeTo",
    "OpRotation3D",
    "OpSelectSlice",
    "OpToIntImageSpace",
    "OpToRange",
    "OpVis2DImage",
    "OpVisImageHist",
    "UnsafeArchiveError",
    "__version__",
    "download_file",
    "extract_archive",
    "load_image",
    "mirror_url",
    "type_detector_imaging",
]

publish_public_names(globals(), __name__, __all__)
