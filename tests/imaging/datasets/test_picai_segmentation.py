"""``OpLoadPICAISegmentation``: PI-CAI's csPCa lesion delineations, checked against the case ISUP grade."""

from __future__ import annotations

import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from fuse.core import NDict, create_initial_sample
from fuse.imaging.datasets import OpLoadPICAISegmentation

SHAPE = (3, 5, 4)  # z, y, x: the T2W image's SimpleITK array order


def _study(root: Path, sid: str, lesion: np.ndarray | None, shape: tuple[int, int, int] = SHAPE) -> None:
    """The study's T2W image, and its lesion delineation (``[z, y, x]``, written as NIfTI's x, y, z) if given."""
    sitk = pytest.importorskip("SimpleITK")
    patient = root / "images" / sid.split("_", maxsplit=1)[0]
    patient.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros(shape, np.int16)), str(patient / f"{sid}_t2w.mha"))
    if lesion is not None:
        (root / "lesions").mkdir(exist_ok=True)
        image = nib.Nifti1Image(np.transpose(lesion, (2, 1, 0)), np.eye(4))  # type: ignore[no-untyped-call]
        nib.save(image, root / "lesions" / f"{sid}.nii.gz")


def _load(root: Path, sid: str, isup: object, gt: str | None = "data.gt.subtype") -> NDict | None:
    sample = create_initial_sample(sid)
    sample["data.input.img_path"] = sid
    sample["data.gt.subtype"] = isup
    op = OpLoadPICAISegmentation(root / "images", root / "lesions")
    result: NDict | None = op(sample, key_in="data.input.img_path", key_out="data.gt.seg", gt=gt)
    return result


def _lesion(grade: int) -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    mask[1, 1:3, 2] = grade
    mask[2, 4, 0] = 2  # a second, lower-grade lesion
    return mask


def test_loads_masks_in_image_order_and_makes_empty_ones(tmp_path: Path) -> None:
    lesion = _lesion(4)
    _study(tmp_path, "10000_1000000", lesion)
    _study(tmp_path, "10001_1000001", None)  # no delineation, no csPCa: an empty mask
    _study(tmp_path, "10002_1000002", np.zeros(SHAPE, np.uint8))  # ISUP 1: not delineated, kept

    sample = _load(tmp_path, "10000_1000000", 4)
    assert sample is not None
    seg = sample["data.gt.seg"]
    assert seg.dtype == np.int32
    np.testing.assert_array_equal(seg, lesion)  # back in the T2W's (z, y, x) order

    for sid, isup in (("10001_1000001", 0), ("10002_1000002", 1), ("10001_1000001", 1.0)):
        sample = _load(tmp_path, sid, isup)
        assert sample is not None, (sid, isup)
        assert sample["data.gt.seg"].shape == SHAPE
        assert sample["data.gt.seg"].dtype == np.int32
        assert not sample["data.gt.seg"].any()


@pytest.mark.parametrize(
    ("isup", "lesion", "why"),
    [
        (3, None, r"lesion segmentation file .*10000_1000000\.nii\.gz' does not exist and its case ISUP is 3"),
        (5, _lesion(4), r"its case ISUP is 5 but its lesion segmentation .* holds grades \[2, 4\]"),
        (0, _lesion(4), r"its case ISUP is 0 but its lesion segmentation .* holds grades \[2, 4\]"),
        (1, _lesion(2), r"its case ISUP is 1 but"),
        (math.nan, _lesion(4), r"its case ISUP grade \('data\.gt\.subtype'\) is nan, not an integer in 0\.\.5"),
        (2.5, _lesion(4), r"its case ISUP grade .* is 2\.5, not an integer"),
        (None, _lesion(4), r"its case ISUP grade .* is None, not an integer"),
        (6, _lesion(4), r"its case ISUP grade .* is 6, not an integer in 0\.\.5"),
    ],
)
def test_drops_studies_whose_mask_contradicts_the_case(
    tmp_path: Path, isup: object, lesion: np.ndarray | None, why: str
) -> None:
    _study(tmp_path, "10000_1000000", lesion)
    with pytest.warns(UserWarning, match=r"PICAI: sample '10000_1000000' dropped: " + why):
        assert _load(tmp_path, "10000_1000000", isup) is None


def test_gt_none_skips_the_grade_checks(tmp_path: Path) -> None:
    _study(tmp_path, "10000_1000000", _lesion(4))
    _study(tmp_path, "10001_1000001", None)
    sample = _load(tmp_path, "10000_1000000", "anything", gt=None)
    assert sample is not None
    np.testing.assert_array_equal(sample["data.gt.seg"], _lesion(4))
    sample = _load(tmp_path, "10001_1000001", "anything", gt=None)
    assert sample is not None
    assert not sample["data.gt.seg"].any()


def test_missing_t2w_drops_and_bad_masks_raise(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    with pytest.warns(UserWarning, match=r"'10009_1000009' dropped: its T2W image .*10009_1000009_t2w\.mha"):
        assert _load(tmp_path, "10009_1000009", 0) is None

    _study(tmp_path, "10000_1000000", np.zeros((3, 5, 5), np.uint8))  # not resampled to the T2W grid
    with pytest.raises(
        ValueError, match=r"'10000_1000000'.*10000_1000000\.nii\.gz' has shape \(3, 5, 5\).*\(3, 5, 4\)"
    ):
        _load(tmp_path, "10000_1000000", 0)

    for values, shown in ((np.full(SHAPE, 0.5, np.float32), r"\[0\.5\]"), (np.full(SHAPE, 7, np.uint8), r"\[7\]")):
        _study(tmp_path, "10001_1000001", values)
        with pytest.raises(ValueError, match=r"'10001_1000001'.*holds values " + shown + r"; expected ISUP grades"):
            _load(tmp_path, "10001_1000001", 0)
