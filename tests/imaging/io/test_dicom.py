"""DICOM: pydicom's bundled files and synthetic series written with pydicom, checked against the tags themselves.

The synthetic series are oblique CT stacks written in shuffled file order with shuffled InstanceNumbers and a
different RescaleSlope/Intercept per slice; the expected values and geometry are computed here from the tags (LPS,
flipped to RAS), not from the loader.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.processing import apply_color_lut, apply_presentation_lut
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from fuse.imaging import ImageLoadError, load_image
from fuse.imaging.io._dicom import read_dicom_file, read_dicom_series
from fuse.imaging.io._dicom_tags import _number, _numbers

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
ROWS, COLUMNS = 8, 10
PIXEL_SPACING = (0.8, 0.6)  # between rows, between columns
SLICE_STEP = 2.5


def _testdata(name: str) -> str:
    path = get_testdata_file(name)  # bundled with pydicom: no download
    assert path is not None, name
    return str(path)


def _rotation(seed: int = 3) -> np.ndarray:
    """An oblique orthonormal frame: columns are the row cosine, the column cosine and the normal."""
    angles = np.deg2rad([20.0, -35.0, 50.0]) if seed == 3 else np.deg2rad([5.0, 10.0, -15.0])
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _ds(values: Any) -> list[str]:
    return [f"{float(v):.6f}" for v in values]


def _write_slice(
    path: Path,
    pixels: np.ndarray,
    series_uid: str,
    position: np.ndarray | None,
    orientation: np.ndarray | None,
    instance: int | None,
    slope: float = 1.0,
    intercept: float = 0.0,
    **extra: Any,
) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "CT"
    if instance is not None:
        ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = _ds(position)
    if orientation is not None:
        ds.ImageOrientationPatient = _ds(orientation)
    ds.PixelSpacing = _ds(PIXEL_SPACING)
    ds.SliceThickness = f"{SLICE_STEP}"
    ds.RescaleSlope = f"{slope}"
    ds.RescaleIntercept = f"{intercept}"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.astype(np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def _write_series(
    folder: Path,
    n: int = 6,
    series_uid: str = "1.2.826.0.1.3680043.8.498.1",
    seed: int = 0,
    prefix: str = "im",
    geometry: bool = True,
) -> list[dict[str, Any]]:
    """Write an oblique series in shuffled file order with shuffled instance numbers; return the slices in their
    true order along the normal (what a correct reader must produce)."""
    rng = np.random.default_rng(seed)
    frame = _rotation()
    orientation = np.concatenate([frame[:, 0], frame[:, 1]])
    origin = np.array([-40.0, 25.5, 112.25])
    file_order = rng.permutation(n)
    instance_numbers = rng.permutation(n) + 1
    slices = []
    for k in range(n):
        pixels = rng.integers(-1000, 1500, size=(ROWS, COLUMNS))
        slope, intercept = [1.0, 0.5, 2.0, 1.5, 0.25, 3.0][k % 6], [-1024.0, 0.0, 10.5, -7.0, 100.0, -3.25][k % 6]
        path = folder / f"{prefix}{file_order[k]:03d}.dcm"
        position = origin + k * SLICE_STEP * frame[:, 2]
        _write_slice(
            path,
            pixels,
            series_uid,
            position if geometry else None,
            orientation if geometry else None,
            int(instance_numbers[k]),
            slope,
            intercept,
        )
        slices.append({"path": path, "pixels": pixels, "slope": slope, "intercept": intercept})
    return slices


def _tags(path: Path) -> Dataset:
    return pydicom.dcmread(path)


# ---------------------------------------------------------------------------------------------- bundled files
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_bundled_file_values_and_geometry_match_its_tags(name: str) -> None:
    path = _testdata(name)
    ds = pydicom.dcmread(path)
    image, meta = load_image(path)
    slope, intercept = float(ds.get("RescaleSlope", 1.0)), float(ds.get("RescaleIntercept", 0.0))
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image, ds.pixel_array.astype(np.float64) * slope + intercept)
    rows, columns = (float(v) for v in ds.PixelSpacing)
    assert meta["spacing"] == pytest.approx((rows, columns))
    row_cosine, column_cosine = np.array(ds.ImageOrientationPatient[:3]), np.array(ds.ImageOrientationPatient[3:])
    np.testing.assert_allclose(meta["origin"], LPS_TO_RAS @ np.array(ds.ImagePositionPatient, dtype=float))
    np.testing.assert_allclose(meta["direction"][:, 0], LPS_TO_RAS @ column_cosine, atol=1e-6)  # along a column
    np.testing.assert_allclose(meta["direction"][:, 1], LPS_TO_RAS @ row_cosine, atol=1e-6)
    r, c = 17, 5
    world = np.array(ds.ImagePositionPatient, dtype=float) + r * rows * column_cosine + c * columns * row_cosine
    np.testing.assert_allclose((meta["affine"] @ [r, c, 0, 1])[:3], LPS_TO_RAS @ world, atol=1e-6)
    assert meta["format"] == "dicom"
    assert meta["modality"] == ds.Modality
    assert meta["series_uid"] == ds.SeriesInstanceUID
    assert meta["path"] == path


def test_ct_small_converts_to_a_requested_dtype_and_refuses_one_too_narrow() -> None:
    path = _testdata("CT_small.dcm")
    ds = pydicom.dcmread(path)
    image, _ = load_image(path, dtype=np.int16)
    assert image.dtype == np.int16
    np.testing.assert_array_equal(image, ds.pixel_array.astype(np.int32) + int(ds.RescaleIntercept))
    double, _ = load_image(path, dtype="float64")
    assert double.dtype == np.float64
    with pytest.raises(ImageLoadError, match=r"outside uint8's range \[0, 255\]"):
        load_image(path, dtype=np.uint8)


def test_colour_file_keeps_its_samples_last_or_first() -> None:
    path = _testdata("SC_ybr_full_422_uncompressed.dcm")
    expected = pydicom.dcmread(path).pixel_array  # pydicom converts YBR to RGB
    image, meta = load_image(path)
    assert image.shape == (100, 100, 3)
    np.testing.assert_array_equal(image, expected)
    first, _ = load_image(path, channels_first=True)
    np.testing.assert_array_equal(first, np.moveaxis(expected, -1, 0))
    assert meta["spacing"] == (1.0, 1.0)  # no PixelSpacing: the pixel grid
    np.testing.assert_array_equal(meta["affine"], np.eye(4))


def test_a_file_without_the_preamble_is_read_by_force(tmp_path: Path) -> None:
    source = Path(_testdata("CT_small.dcm"))
    raw = tmp_path / "no_preamble.dcm"
    data = source.read_bytes()
    ds = pydicom.dcmread(source)
    ds.preamble = None
    ds.save_as(raw, enforce_file_format=False)  # writes no preamble, no DICM
    assert raw.read_bytes()[128:132] != b"DICM"
    assert data[128:132] == b"DICM"
    image, _ = load_image(raw)
    np.testing.assert_array_equal(image, load_image(source)[0])


def test_multi_frame_and_modality_lut_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match=r"multi-frame DICOM \(NumberOfFrames=2\)"):
        load_image(_testdata("SC_rgb_rle_2frame.dcm"))
    lut = Dataset()
    lut.LUTDescriptor = [256, 0, 16]
    lut.LUTData = np.arange(256, dtype=np.uint16).tobytes()
    path = tmp_path / "lut.dcm"
    _write_slice(path, np.zeros((ROWS, COLUMNS)), "1.2", None, None, 1, ModalityLUTSequence=[lut])
    with pytest.raises(ImageLoadError, match="Modality LUT Sequence"):
        load_image(path)


def test_single_file_series_uid_is_checked() -> None:
    path = _testdata("CT_small.dcm")
    uid = pydicom.dcmread(path).SeriesInstanceUID
    assert load_image(path, series_uid=uid)[1]["series_uid"] == uid
    with pytest.raises(ImageLoadError, match=r"series_uid='1\.2\.3' was asked for"):
        read_dicom_file(path, series_uid="1.2.3")


def test_random_bytes_with_a_dcm_suffix_raise_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.dcm"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(ImageLoadError, match=r"junk\.dcm"):
        load_image(path)


# ---------------------------------------------------------------------------------------------- series
def test_shuffled_oblique_series_is_sorted_rescaled_and_placed(tmp_path: Path) -> None:
    truth = _write_series(tmp_path)
    volume, meta = load_image(tmp_path)
    assert volume.shape == (6, ROWS, COLUMNS)
    assert volume.dtype == np.float32
    for k, s in enumerate(truth):
        np.testing.assert_array_equal(volume[k], s["pixels"] * s["slope"] + s["intercept"])
    assert meta["spacing"] == pytest.approx((SLICE_STEP, *PIXEL_SPACING), abs=1e-5)
    assert meta["format"] == "dicom"
    assert meta["series_uid"] == "1.2.826.0.1.3680043.8.498.1"
    assert meta["modality"] == "CT"
    assert meta["path"] == str(tmp_path)
    for k, s in enumerate(truth):  # every voxel lands where its own file's tags put it
        ds = _tags(s["path"])
        position = np.array(ds.ImagePositionPatient, dtype=float)
        row_cosine = np.array(ds.ImageOrientationPatient[:3], dtype=float)
        column_cosine = np.array(ds.ImageOrientationPatient[3:], dtype=float)
        for r, c in [(0, 0), (ROWS - 1, 0), (3, COLUMNS - 1)]:
            world = position + r * PIXEL_SPACING[0] * column_cosine + c * PIXEL_SPACING[1] * row_cosine
            np.testing.assert_allclose((meta["affine"] @ [k, r, c, 1])[:3], LPS_TO_RAS @ world, atol=1e-4)
    np.testing.assert_allclose(meta["affine"][:3, :3], meta["direction"] * meta["spacing"])
    assert np.linalg.det(meta["direction"]) == pytest.approx(-1.0, abs=1e-5)  # (normal, col, row) in RAS


def test_series_dtype_option_and_channels_first_leave_a_grey_volume_alone(tmp_path: Path) -> None:
    truth = _write_series(tmp_path)
    volume, _ = load_image(tmp_path, dtype=np.float64, channels_first=True)
    assert volume.dtype == np.float64
    assert volume.shape == (6, ROWS, COLUMNS)
    np.testing.assert_array_equal(volume[2], truth[2]["pixels"] * truth[2]["slope"] + truth[2]["intercept"])


def test_two_series_pick_by_uid_or_the_largest_with_a_warning(tmp_path: Path) -> None:
    _write_series(tmp_path, n=6, series_uid="1.2.3.600", prefix="a")
    small = _write_series(tmp_path, n=3, series_uid="1.2.3.300", seed=1, prefix="b")
    (tmp_path / "notes.txt").write_text("not a DICOM file")
    (tmp_path / ".hidden").write_bytes(b"x")
    volume, meta = load_image(tmp_path, series_uid="1.2.3.300")
    assert volume.shape == (3, ROWS, COLUMNS)
    assert meta["series_uid"] == "1.2.3.300"
    np.testing.assert_array_equal(volume[1], small[1]["pixels"] * small[1]["slope"] + small[1]["intercept"])
    with pytest.warns(
        UserWarning, match=r"loading the largest, '1\.2\.3\.600' \(6 files\).*'1\.2\.3\.300' \(3 files\)"
    ):
        volume, meta = load_image(tmp_path)
    assert volume.shape == (6, ROWS, COLUMNS)
    assert meta["series_uid"] == "1.2.3.600"
    with pytest.raises(ImageLoadError, match=r"no series with SeriesInstanceUID '9\.9'; it has '1\.2\.3\.600' \(6"):
        load_image(tmp_path, series_uid="9.9")


def test_duplicate_position_raises_naming_both_files(tmp_path: Path) -> None:
    truth = _write_series(tmp_path)
    shutil.copy(truth[2]["path"], tmp_path / "copy.dcm")  # same position, same uid
    with pytest.raises(ImageLoadError, match=r"share a position.*" + truth[2]["path"].name + ".*multi-echo") as info:
        load_image(tmp_path)
    assert "copy.dcm" in str(info.value)


def test_missing_slice_raises_naming_its_neighbours(tmp_path: Path) -> None:
    truth = _write_series(tmp_path)
    truth[3]["path"].unlink()
    with pytest.raises(ImageLoadError, match="not evenly spaced") as info:
        load_image(tmp_path)
    message = str(info.value)
    assert truth[2]["path"].name in message
    assert truth[4]["path"].name in message
    assert "5.000 mm" in message


def test_slices_off_the_line_raise(tmp_path: Path) -> None:
    truth = _write_series(tmp_path)
    ds = _tags(truth[2]["path"])
    frame = _rotation()
    ds.ImagePositionPatient = _ds(np.array(ds.ImagePositionPatient, dtype=float) + 4.0 * frame[:, 0])  # in-plane
    ds.save_as(truth[2]["path"], enforce_file_format=True)
    with pytest.raises(ImageLoadError, match="not on one line: .*" + truth[2]["path"].name):
        load_image(tmp_path)


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"Rows": ROWS + 1}, "shape"),
        ({"PixelSpacing": ["0.9", "0.6"]}, "pixel spacing"),
        ({"ImageOrientationPatient": ["1", "0", "0", "0", "1", "0"]}, "orientation"),
    ],
)
def test_slices_that_disagree_raise_naming_the_file(tmp_path: Path, change: dict[str, Any], what: str) -> None:
    truth = _write_series(tmp_path)
    ds = _tags(truth[4]["path"])
    for keyword, value in change.items():
        setattr(ds, keyword, value)
    if "Rows" in change:
        ds.PixelData = np.zeros((ROWS + 1, COLUMNS), np.int16).tobytes()
    ds.save_as(truth[4]["path"], enforce_file_format=True)
    with pytest.raises(ImageLoadError, match=f"disagree on the {what}.*{truth[4]['path'].name} has"):
        load_image(tmp_path)


def test_without_positions_the_instance_numbers_order_the_slices_with_a_warning(tmp_path: Path) -> None:
    truth = _write_series(tmp_path, geometry=False)
    numbers = [int(_tags(s["path"]).InstanceNumber) for s in truth]
    with pytest.warns(UserWarning, match=r"ordered by InstanceNumber \(1 to 6\), slice spacing 2\.5 mm from "):
        volume, meta = load_image(tmp_path)
    for position, k in enumerate(np.argsort(numbers)):
        np.testing.assert_array_equal(volume[position], truth[k]["pixels"] * truth[k]["slope"] + truth[k]["intercept"])
    np.testing.assert_allclose(meta["affine"], np.diag([SLICE_STEP, *PIXEL_SPACING, 1.0]))


def test_without_positions_or_instance_numbers_the_series_cannot_be_ordered(tmp_path: Path) -> None:
    pixels = np.zeros((ROWS, COLUMNS))
    _write_slice(tmp_path / "a.dcm", pixels, "1.2", None, None, None)
    _write_slice(tmp_path / "b.dcm", pixels, "1.2", None, None, None)
    with pytest.raises(ImageLoadError, match=r"cannot order its slices: a\.dcm, b\.dcm lack ImagePositionPatient"):
        load_image(tmp_path)
    _write_slice(tmp_path / "a.dcm", pixels, "1.2", None, None, 4)
    _write_slice(tmp_path / "b.dcm", pixels, "1.2", None, None, 4)
    with pytest.raises(ImageLoadError, match=r"the same InstanceNumber in a\.dcm and b\.dcm"):
        load_image(tmp_path)


def test_one_slice_series_is_a_volume_with_the_header_thickness(tmp_path: Path) -> None:
    shutil.copy(_testdata("CT_small.dcm"), tmp_path)
    volume, meta = read_dicom_series(tmp_path)
    ds = pydicom.dcmread(_testdata("CT_small.dcm"))
    assert volume.shape == (1, 128, 128)
    assert meta["spacing"][0] == float(ds.SliceThickness)
    normal = np.cross(np.array(ds.ImageOrientationPatient[:3], float), np.array(ds.ImageOrientationPatient[3:], float))
    np.testing.assert_allclose(meta["direction"][:, 0], LPS_TO_RAS @ normal)


def test_empty_and_corrupt_directories_raise_naming_the_problem(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(ImageLoadError, match=r"no DICOM image in the directory \(skipped 1 non-DICOM file"):
        load_image(tmp_path)
    truth = _write_series(tmp_path)
    data = truth[1]["path"].read_bytes()
    truth[1]["path"].write_bytes(data[: len(data) - 50])  # truncated pixel data
    with pytest.raises(ImageLoadError, match=truth[1]["path"].name) as info:
        load_image(tmp_path)
    assert pickle.loads(pickle.dumps(info.value)).args == info.value.args


def test_malformed_geometry_tags_raise_naming_the_tag(tmp_path: Path) -> None:
    pixels = np.zeros((ROWS, COLUMNS))
    _write_slice(tmp_path / "short.dcm", pixels, "1.2", np.array([1.0, 2.0]), np.eye(3)[:2].ravel(), 1)
    with pytest.raises(ImageLoadError, match=r"short\.dcm: ImagePositionPatient should hold 3 numbers"):
        load_image(tmp_path / "short.dcm")
    _write_slice(tmp_path / "flat.dcm", pixels, "1.2", np.zeros(3), np.array([1.0, 0, 0, 0, 0, 0]), 1)
    with pytest.raises(ImageLoadError, match=r"flat\.dcm: ImageOrientationPatient has a zero direction cosine"):
        load_image(tmp_path / "flat.dcm")


def test_decimal_strings_are_read_raw_from_files_and_converted_in_memory(tmp_path: Path) -> None:
    in_memory = Dataset()  # values set in Python are converted elements (DSfloat), not raw bytes
    in_memory.PixelSpacing = ["0.5", "0.75"]
    in_memory.RescaleIntercept = "-1024"
    assert _numbers(tmp_path, in_memory, "PixelSpacing", 2).tolist() == [0.5, 0.75]
    assert _number(tmp_path, in_memory, "RescaleIntercept", 0.0) == -1024.0
    assert _number(tmp_path, in_memory, "RescaleSlope", 1.0) == 1.0  # absent: the default
    path = tmp_path / "one.dcm"
    _write_slice(path, np.zeros((ROWS, COLUMNS)), "1.2", np.array([1.5, -2.25, 3.0]), np.eye(3)[:2].ravel(), 7)
    raw = pydicom.dcmread(path)
    assert isinstance(raw.get_item("ImagePositionPatient").value, bytes)  # not yet converted by pydicom
    assert _numbers(path, raw, "ImagePositionPatient", 3).tolist() == [1.5, -2.25, 3.0]
    assert _number(path, raw, "InstanceNumber", 0.0) == 7.0


# ---------------------------------------------------------------------------------------------- preamble, photometric
def test_series_keeps_the_slices_whose_files_lack_the_preamble(tmp_path: Path) -> None:
    truth = _write_series(tmp_path, n=6)
    for s in truth[1::3]:  # two of the six files rewritten without the 128-byte preamble and DICM prefix
        ds = pydicom.dcmread(s["path"])
        ds.preamble = None
        ds.save_as(s["path"], enforce_file_format=False)
        assert s["path"].read_bytes()[128:132] != b"DICM"
        load_image(s["path"])  # each loads alone
    (tmp_path / "notes.txt").write_text("not a DICOM file")  # still skipped
    volume, _ = load_image(tmp_path)
    assert volume.shape == (6, ROWS, COLUMNS)
    for k, s in enumerate(truth):
        np.testing.assert_array_equal(volume[k], s["pixels"] * s["slope"] + s["intercept"])


def test_bundled_no_meta_file_in_a_series_directory(tmp_path: Path) -> None:
    # pydicom's CT_small written the way some scanners export: no preamble, no DICM prefix
    ds = pydicom.dcmread(_testdata("CT_small.dcm"))
    ds.preamble = None
    ds.save_as(tmp_path / "slice", enforce_file_format=False)
    volume, meta = load_image(tmp_path)
    np.testing.assert_array_equal(volume[0], load_image(_testdata("CT_small.dcm"))[0])
    assert meta["photometric_interpretation"] == "MONOCHROME2"


@pytest.mark.parametrize(("bits", "signed"), [(12, False), (16, False), (12, True)])
def test_monochrome1_is_inverted_to_the_monochrome2_convention(tmp_path: Path, bits: int, signed: bool) -> None:
    rng = np.random.default_rng(bits)
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    stored = rng.integers(low, high + 1, size=(ROWS, COLUMNS))
    stored[0, 0], stored[0, 1] = low, high  # the full range is present, so pydicom's INVERSE (max - value) agrees
    path = tmp_path / "mono1.dcm"
    _write_slice(path, stored, "1.2.3", None, None, 1, slope=0.5, intercept=-10.0)
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, int(signed)
    dtype = np.int16 if signed else np.uint16
    ds.PixelData = stored.astype(dtype).tobytes()
    ds.save_as(path, enforce_file_format=True)

    image, meta = load_image(path)
    assert meta["photometric_interpretation"] == "MONOCHROME1"
    expected = ((low + high) - stored) * 0.5 - 10.0  # inverted over the stored range, then rescaled
    np.testing.assert_array_equal(image, expected)
    # pydicom's own inversion (Presentation LUT Shape INVERSE: max - value) gives the same ordering of grey levels
    inverse = Dataset()
    inverse.PresentationLUTShape = "INVERSE"
    pydicom_inverted = apply_presentation_lut(ds.pixel_array.astype(np.int64) - low, inverse)
    np.testing.assert_array_equal(image, (pydicom_inverted + low) * 0.5 - 10.0)
    assert image[0, 0] > image[0, 1]  # the lowest stored value (white in MONOCHROME1) is now the brightest


def test_palette_color_is_mapped_to_rgb_like_pydicom(tmp_path: Path) -> None:
    path = _testdata("examples_palette.dcm")
    ds = pydicom.dcmread(path)
    expected = apply_color_lut(ds.pixel_array, ds)  # pydicom's palette lookup
    image, meta = load_image(path)
    assert meta["photometric_interpretation"] == "PALETTE COLOR"
    assert image.shape == (*ds.pixel_array.shape, 3)
    np.testing.assert_array_equal(image, expected)
    shutil.copy(path, tmp_path / "p.dcm")  # and as a one-file series
    volume, _ = load_image(tmp_path)
    np.testing.assert_array_equal(volume[0], expected)


def test_files_named_dcm_that_are_not_dicom_are_skipped_with_a_warning(tmp_path: Path) -> None:
    _write_series(tmp_path, n=3)
    (tmp_path / "zz_broken.dcm").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))  # not DICOM, whatever its name
    (tmp_path / "notes.txt").write_text("a text file is skipped quietly")
    with pytest.warns(UserWarning, match=r"skipped 1 file\(s\) named like DICOM that are not DICOM \(zz_broken\.dcm\)"):
        volume, _ = load_image(tmp_path)
    assert volume.shape == (3, ROWS, COLUMNS)
