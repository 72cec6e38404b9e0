"""The image loader: NIfTI (nibabel's bundled examples and files written here), PNG/JPEG, MHA/NRRD, format inference
and the op. Expected values come from nibabel, Pillow, SimpleITK and numpy directly, never from the loader.
"""

from __future__ import annotations

import gzip
import pickle
import sys
import zlib
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path as nibabel_data
from PIL import Image
from pydicom.data import get_testdata_file

from fuse.core import NDict, create_initial_sample
from fuse.data import MissingSampleKeyError, PipelineDefault
from fuse.imaging import ImageLoadError, OpLoadImage, OpMedicalImageLoader, load_image
from fuse.imaging.io._format import cast_array, infer_format, normalize_format, sniff_format, spatial_to_front

sitk = pytest.importorskip("SimpleITK", reason="SimpleITK is not installed: pip install 'fuse-imaging[itk]'")

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def _oblique_affine() -> np.ndarray:
    angle = np.deg2rad(30.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.7, 0.9, 2.5])
    affine[:3, 3] = [-30.0, 12.5, 4.0]
    return affine


def _check_geometry_invariants(meta: dict[str, Any]) -> None:
    n = len(meta["spacing"])
    assert meta["direction"].shape == (3, n)
    np.testing.assert_allclose(np.linalg.norm(meta["direction"], axis=0), 1.0)
    np.testing.assert_allclose(meta["affine"][:3, :n], meta["direction"] * meta["spacing"], atol=1e-12)
    np.testing.assert_array_equal(meta["origin"], meta["affine"][:3, 3])
    assert meta["affine"].dtype == np.float64
    assert meta["affine"].shape == (4, 4)


# ---------------------------------------------------------------------------------------------- NIfTI
@pytest.mark.parametrize(
    ("name", "dtype"),
    [
        ("example4d.nii.gz", np.int16),  # unscaled int16, 4-D
        ("anatomical.nii", np.int16),  # big-endian int16 on disk
        ("example_nifti2.nii.gz", np.int16),  # NIfTI-2
        ("functional.nii", np.float32),  # int16 with scl_slope / scl_inter
        ("standard.nii.gz", np.uint8),
    ],
)
def test_nibabel_examples_match_nibabel(name: str, dtype: Any) -> None:
    path = Path(nibabel_data) / name
    reference = nib.load(path)
    image, meta = load_image(path)
    assert image.dtype == dtype
    assert image.dtype.isnative
    np.testing.assert_allclose(image, reference.get_fdata(), rtol=1e-6)
    np.testing.assert_array_equal(meta["affine"], reference.affine)
    assert len(meta["spacing"]) == 3
    assert meta["format"] == "nifti"
    assert meta["modality"] is None
    assert meta["series_uid"] is None
    _check_geometry_invariants(meta)


def test_4d_nifti_channels_first_moves_the_time_axis_in_front() -> None:
    image, _ = load_image(Path(nibabel_data) / "example4d.nii.gz", channels_first=True)
    reference = np.asarray(nib.load(Path(nibabel_data) / "example4d.nii.gz").dataobj)
    assert image.shape == (2, 128, 96, 24)
    np.testing.assert_array_equal(image[1], reference[..., 1])


def test_nifti_written_here_keeps_labels_integer_and_applies_scaling(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    affine = _oblique_affine()
    stored = rng.integers(-300, 300, size=(6, 7, 5)).astype(np.int16)
    scaled = nib.Nifti1Image(stored, affine)
    scaled.header.set_slope_inter(0.5, 10.0)
    nib.save(scaled, tmp_path / "scaled.nii.gz")
    labels = rng.integers(0, 4, size=(6, 7, 5)).astype(np.int16)
    nib.save(nib.Nifti1Image(labels, affine), tmp_path / "labels.nii.gz")
    mask = rng.integers(0, 2, size=(6, 7, 5)).astype(np.uint8)
    nib.save(nib.Nifti1Image(mask, affine), tmp_path / "mask.nii")

    image, meta = load_image(tmp_path / "scaled.nii.gz")
    assert image.dtype == np.float32
    np.testing.assert_allclose(image, stored.astype(np.float64) * 0.5 + 10.0)
    np.testing.assert_allclose(meta["affine"], affine, atol=1e-6)
    assert meta["spacing"] == pytest.approx((0.7, 0.9, 2.5), abs=1e-6)
    _check_geometry_invariants(meta)
    label_image, _ = load_image(tmp_path / "labels.nii.gz")
    assert label_image.dtype == np.int16
    np.testing.assert_array_equal(label_image, labels)
    mask_image, _ = load_image(tmp_path / "mask.nii")
    assert mask_image.dtype == np.uint8
    np.testing.assert_array_equal(mask_image, mask)

    as_float, _ = load_image(tmp_path / "labels.nii.gz", dtype=np.float32)
    assert as_float.dtype == np.float32
    np.testing.assert_array_equal(as_float, labels)
    rounded, _ = load_image(tmp_path / "scaled.nii.gz", dtype="int32")
    assert rounded.dtype == np.int32
    np.testing.assert_array_equal(rounded, np.rint(stored * 0.5 + 10.0))
    with pytest.raises(ImageLoadError, match="outside uint8's range"):
        load_image(tmp_path / "scaled.nii.gz", dtype=np.uint8)


def test_nifti_affine_follows_nibabels_sform_qform_choice(tmp_path: Path) -> None:
    data = np.zeros((3, 4, 5), np.float32)
    image = nib.Nifti1Image(data, None)
    image.set_qform(np.diag([1.0, 2.0, 3.0, 1.0]), code=1)
    image.set_sform(_oblique_affine(), code=0)  # sform not valid: the qform is used
    nib.save(image, tmp_path / "qform.nii.gz")
    image.set_sform(_oblique_affine(), code=2)
    nib.save(image, tmp_path / "sform.nii.gz")
    for name in ("qform.nii.gz", "sform.nii.gz"):
        np.testing.assert_allclose(load_image(tmp_path / name)[1]["affine"], nib.load(tmp_path / name).affine)
    assert load_image(tmp_path / "qform.nii.gz")[1]["spacing"] == pytest.approx((1.0, 2.0, 3.0))


def test_2d_nifti_has_two_spatial_axes(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.ones((4, 6), np.float32), np.diag([0.5, 0.25, 1.0, 1.0])), tmp_path / "slice.nii")
    image, meta = load_image(tmp_path / "slice.nii")
    assert image.shape == (4, 6)
    assert meta["spacing"] == (0.5, 0.25)
    _check_geometry_invariants(meta)


def test_nifti_without_suffix_is_found_by_its_magic_bytes(tmp_path: Path) -> None:
    reference = nib.load(Path(nibabel_data) / "example_nifti2.nii.gz")
    (tmp_path / "nifti2_gz").write_bytes((Path(nibabel_data) / "example_nifti2.nii.gz").read_bytes())
    (tmp_path / "nifti1_plain").write_bytes((Path(nibabel_data) / "anatomical.nii").read_bytes())
    compressed = gzip.compress((Path(nibabel_data) / "anatomical.nii").read_bytes())
    (tmp_path / "gzipped_named.nii").write_bytes(compressed)  # gzip content behind a .nii name
    assert sniff_format(tmp_path / "nifti2_gz") == "nifti"
    image, meta = load_image(tmp_path / "nifti2_gz")
    np.testing.assert_array_equal(image, reference.get_fdata())
    np.testing.assert_array_equal(meta["affine"], reference.affine)
    anatomical = nib.load(Path(nibabel_data) / "anatomical.nii").get_fdata()
    for name in ("nifti1_plain", "gzipped_named.nii"):
        np.testing.assert_array_equal(load_image(tmp_path / name)[0], anatomical)


def test_truncated_nifti_raises_naming_the_file_and_the_sample(tmp_path: Path) -> None:
    data = (Path(nibabel_data) / "example4d.nii.gz").read_bytes()
    (tmp_path / "broken.nii.gz").write_bytes(data[: len(data) // 2])
    sample = create_initial_sample("case_42")
    sample["data.path"] = "broken.nii.gz"
    with pytest.raises(ImageLoadError, match=r"broken\.nii\.gz \(sample 'case_42'\): not a readable NIfTI") as info:
        OpLoadImage(tmp_path)(sample, key_in="data.path", key_out="data.img")
    assert info.value.sample_id == "case_42"
    assert info.value.path == tmp_path / "broken.nii.gz"
    assert isinstance(info.value.__cause__, Exception)  # nibabel's own error is kept as the cause
    assert pickle.loads(pickle.dumps(info.value)).args == info.value.args


# ---------------------------------------------------------------------------------------------- PNG / JPEG
def test_png_grey_rgb_and_16_bit_are_read_as_stored(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    deep = rng.integers(0, 65536, (5, 7), dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(deep).save(tmp_path / "deep.png")
    image, meta = load_image(tmp_path / "grey.png")
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, grey)
    assert meta["spacing"] == (1.0, 1.0)
    assert meta["format"] == "png"
    np.testing.assert_array_equal(meta["affine"], np.eye(4))
    _check_geometry_invariants(meta)
    np.testing.assert_array_equal(load_image(tmp_path / "rgb.png")[0], rgb)
    chw, _ = load_image(tmp_path / "rgb.png", channels_first=True)
    assert chw.shape == (3, 5, 7)
    assert chw.flags.c_contiguous
    np.testing.assert_array_equal(chw, rgb.transpose(2, 0, 1))
    assert load_image(tmp_path / "grey.png", channels_first=True)[0].shape == (5, 7)  # no channel axis to move
    deep_image, _ = load_image(tmp_path / "deep.png")
    assert deep_image.dtype == np.uint16
    np.testing.assert_array_equal(deep_image, deep)
    as_float, _ = load_image(tmp_path / "rgb.png", dtype=np.float32)
    assert as_float.dtype == np.float32
    np.testing.assert_array_equal(as_float, rgb)


def _png_16bit(path: Path, samples: np.ndarray, colour_type: int) -> Path:
    """A 16-bit PNG written by hand (zlib, no filter): an encoder independent of Pillow and libpng."""
    height, width = samples.shape[:2]
    rows = samples.astype(">u2").reshape(height, -1).tobytes()
    stride = rows and len(rows) // height
    raw = b"".join(b"\x00" + rows[r * stride : (r + 1) * stride] for r in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([16, colour_type, 0, 0, 0])
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize(("channels", "colour_type"), [(3, 2), (4, 6)])
def test_16_bit_colour_png_keeps_16_bits(tmp_path: Path, channels: int, colour_type: int) -> None:
    rng = np.random.default_rng(channels)
    samples = rng.integers(0, 65536, (5, 7, channels), dtype=np.uint16)
    samples[0, 0, 0] = 0x0102  # high and low bytes differ: keeping only the high byte would give 1
    path = _png_16bit(tmp_path / "deep_colour.png", samples, colour_type)
    image, meta = load_image(path)
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, samples)
    assert meta["format"] == "png"
    np.testing.assert_array_equal(meta["affine"], np.eye(4))
    chw, _ = load_image(path, channels_first=True)
    np.testing.assert_array_equal(chw, samples.transpose(2, 0, 1))
    if channels == 3:  # and as SimpleITK writes it
        sitk.WriteImage(sitk.GetImageFromArray(samples, isVector=True), str(tmp_path / "sitk.png"))
        np.testing.assert_array_equal(load_image(tmp_path / "sitk.png")[0], samples)


def test_16_bit_grey_alpha_png_is_refused_not_narrowed(tmp_path: Path) -> None:
    path = _png_16bit(tmp_path / "ga.png", np.full((2, 3, 2), 0x0102, dtype=np.uint16), 4)
    with pytest.raises(ImageLoadError, match=r"ga\.png.*16-bit grey with alpha PNG.*save it as 16-bit grey"):
        load_image(path)


def test_16_bit_colour_png_without_simpleitk_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _png_16bit(tmp_path / "deep.png", np.ones((2, 3, 3), dtype=np.uint16), 2)
    monkeypatch.setitem(sys.modules, "SimpleITK", None)
    with pytest.raises(ImportError, match=r'deep\.png is a 16-bit RGB PNG.*pip install "fuse-imaging\[itk\]"'):
        load_image(path)


def test_palette_and_one_bit_png_give_indices_and_zero_one(tmp_path: Path) -> None:
    indices = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    palette = Image.fromarray(indices, mode="P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    palette.save(tmp_path / "labels.png")
    np.testing.assert_array_equal(load_image(tmp_path / "labels.png")[0], indices)
    bits = np.array([[True, False], [False, True]])
    Image.fromarray(bits).save(tmp_path / "bits.png")
    one_bit, _ = load_image(tmp_path / "bits.png")
    assert one_bit.dtype == np.uint8
    np.testing.assert_array_equal(one_bit, bits.astype(np.uint8))


def test_cmyk_jpeg_is_converted_to_rgb_as_pillow_does(tmp_path: Path) -> None:
    rgb = np.random.default_rng(6).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "print.jpg")
    with Image.open(tmp_path / "print.jpg") as decoded:
        assert decoded.mode == "CMYK"
        expected = np.asarray(decoded.convert("RGB"))
    image, _ = load_image(tmp_path / "print.jpg")
    assert image.shape == (8, 9, 3)
    np.testing.assert_array_equal(image, expected)


def test_jpeg_matches_pillows_decoding(tmp_path: Path) -> None:
    rgb = np.random.default_rng(2).integers(0, 256, (16, 12, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", quality=90)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.jpeg")
    with Image.open(tmp_path / "photo.jpg") as decoded:
        expected = np.asarray(decoded)
    image, meta = load_image(tmp_path / "photo.jpg")
    np.testing.assert_array_equal(image, expected)
    assert meta["format"] == "jpeg"
    assert load_image(tmp_path / "grey.jpeg")[0].shape == (16, 12)
    (tmp_path / "photo_without_suffix").write_bytes((tmp_path / "photo.jpg").read_bytes())
    np.testing.assert_array_equal(load_image(tmp_path / "photo_without_suffix")[0], expected)
    with pytest.raises(ImageLoadError, match=r"photo\.jpg: not a readable PNG image"):
        load_image(tmp_path / "photo.jpg", format="png")


# ---------------------------------------------------------------------------------------------- MHA / NRRD
def _itk_volume() -> tuple[np.ndarray, Any]:
    array = np.random.default_rng(3).integers(-500, 500, size=(4, 5, 6)).astype(np.int16)  # (z, y, x)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.6, 0.8, 2.0))
    image.SetOrigin((10.0, -20.0, 35.5))
    angle = np.deg2rad(25.0)
    direction = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    image.SetDirection(tuple(direction.ravel()))
    image.SetMetaData("PatientID", "p-17")
    return array, image


@pytest.mark.parametrize("suffix", [".mha", ".nrrd"])
def test_itk_array_and_affine_match_simpleitk_physical_points(tmp_path: Path, suffix: str) -> None:
    array, image = _itk_volume()
    path = tmp_path / f"volume{suffix}"
    sitk.WriteImage(image, str(path))
    loaded, meta = load_image(path)
    assert loaded.dtype == np.int16
    np.testing.assert_array_equal(loaded, array)
    for z, y, x in [(0, 0, 0), (3, 4, 5), (1, 2, 3)]:
        lps = np.array(image.TransformIndexToPhysicalPoint((x, y, z)))
        np.testing.assert_allclose((meta["affine"] @ [z, y, x, 1])[:3], LPS_TO_RAS @ lps, atol=1e-6)
    assert meta["spacing"] == pytest.approx((2.0, 0.8, 0.6))
    assert meta["format"] == ("mha" if suffix == ".mha" else "nrrd")
    assert meta["header"]["PatientID"] == "p-17"
    _check_geometry_invariants(meta)


def test_itk_float_vector_and_2d_images(tmp_path: Path) -> None:
    values = np.random.default_rng(4).normal(size=(3, 4)).astype(np.float64)  # (y, x)
    header = (
        "ObjectType = Image\nNDims = 2\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
        "TransformMatrix = 0 1 -1 0\nOffset = 5 -7\nElementSpacing = 0.5 0.25\nDimSize = 4 3\n"
        "Modality = MET_MOD_CT\nElementType = MET_DOUBLE\nElementDataFile = LOCAL\n"
    )
    (tmp_path / "flat.mha").write_bytes(header.encode() + values.astype("<f8").tobytes())  # a hand-written MetaImage
    image, meta = load_image(tmp_path / "flat.mha")
    assert image.dtype == np.float32  # float64 on disk: float32 by default
    np.testing.assert_allclose(image, values, rtol=1e-6)
    assert meta["spacing"] == (0.25, 0.5)  # (y, x)
    assert meta["modality"] == "CT"
    reference = sitk.ReadImage(str(tmp_path / "flat.mha"))
    for y, x in [(0, 0), (2, 3), (1, 0)]:
        lps = np.array([*reference.TransformIndexToPhysicalPoint((x, y)), 0.0])
        np.testing.assert_allclose((meta["affine"] @ [y, x, 0, 1])[:3], LPS_TO_RAS @ lps, atol=1e-9)
    _check_geometry_invariants(meta)
    assert load_image(tmp_path / "flat.mha", dtype=np.float64)[0].dtype == np.float64
    rgb = np.random.default_rng(5).integers(0, 256, (2, 3, 4, 3), dtype=np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(tmp_path / "rgb.nrrd"))
    loaded, meta = load_image(tmp_path / "rgb.nrrd", channels_first=True)
    np.testing.assert_array_equal(loaded, np.moveaxis(rgb, -1, 0))
    assert len(meta["spacing"]) == 3


def test_itk_without_simpleitk_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, image = _itk_volume()
    sitk.WriteImage(image, str(tmp_path / "volume.mha"))
    monkeypatch.setitem(sys.modules, "SimpleITK", None)
    with pytest.raises(ImportError, match=r'volume\.mha needs SimpleITK.*pip install "fuse-imaging\[itk\]"'):
        load_image(tmp_path / "volume.mha")


def test_itk_4d_image_is_refused(tmp_path: Path) -> None:
    volumes = sitk.GetImageFromArray(np.zeros((2, 3, 4, 5), np.int16), isVector=False)  # (t, z, y, x)
    sitk.WriteImage(volumes, str(tmp_path / "time.mha"))
    with pytest.raises(ImageLoadError, match=r"time\.mha: it is a 4-D image; only 2-D and 3-D mha images"):
        load_image(tmp_path / "time.mha")


def test_corrupt_mha_raises_naming_it(tmp_path: Path) -> None:
    (tmp_path / "bad.mha").write_text("ObjectType = Image\nNDims = 3\nElementType = MET_SHORT\n")
    with pytest.raises(ImageLoadError, match=r"bad\.mha: SimpleITK cannot read it as mha"):
        load_image(tmp_path / "bad.mha")


# ---------------------------------------------------------------------------------------------- formats
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.nii.gz", "nifti"),
        ("A.NII.GZ", "nifti"),
        ("a.nii", "nifti"),
        ("a.dcm", "dicom"),
        ("a.png", "png"),
        ("a.jpg", "jpeg"),
        ("a.JPEG", "jpeg"),
        ("a.mha", "mha"),
        ("a.mhd", "mha"),
        ("a.nrrd", "nrrd"),
    ],
)
def test_format_from_the_full_suffix(tmp_path: Path, name: str, expected: str) -> None:
    (tmp_path / name).write_bytes(b"\x00" * 16)  # no magic: the suffix decides
    assert infer_format(tmp_path / name) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x00" * 128 + b"DICM" + b"\x00" * 10, "dicom"),
        (b"\x00" * 344 + b"n+1\x00", "nifti"),
        (b"\x00" * 344 + b"ni1\x00", "nifti"),
        (b"\x1c\x02\x00\x00n+2\x00" + b"\x00" * 600, "nifti"),
        (gzip.compress(b"\x00" * 344 + b"n+1\x00" + b"\x00" * 10), "nifti"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, "png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 8, "jpeg"),
        (b"NRRD0004\n", "nrrd"),
        (b"ObjectType = Image\n", "mha"),
        (b"plain text", None),
        (gzip.compress(b"plain text"), None),
    ],
)
def test_magic_bytes(tmp_path: Path, content: bytes, expected: str | None) -> None:
    (tmp_path / "file").write_bytes(content)
    assert sniff_format(tmp_path / "file") == expected


def test_suffix_contradicting_the_content_raises_naming_both(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "scan.png")
    (tmp_path / "scan.nii.gz").write_bytes((tmp_path / "scan.png").read_bytes())
    with pytest.raises(ImageLoadError, match=r"scan\.nii\.gz: its suffix says nifti but its content is png"):
        load_image(tmp_path / "scan.nii.gz")
    assert load_image(tmp_path / "scan.nii.gz", format="png")[0].shape == (2, 2)  # format= forces


def test_unknown_formats_and_bad_arguments_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageLoadError, match=r"notes\.txt: unknown image format"):
        load_image(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match=r"format must be one of 'infer', 'nifti'.*got 'tiff'"):
        load_image(tmp_path / "notes.txt", format="tiff")
    with pytest.raises(ValueError, match=r"dtype must be None or a numpy bool, integer or float dtype.*'U3'"):
        load_image(tmp_path / "notes.txt", dtype="U3")
    with pytest.raises(ImageLoadError, match=r"missing\.nii: no such file or directory"):
        load_image(tmp_path / "missing.nii")
    with pytest.raises(ImageLoadError, match="it is a directory: only format 'dicom'"):
        load_image(tmp_path, format="nifti")
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4)), tmp_path / "a.nii")
    with pytest.raises(ValueError, match="series_uid applies to DICOM only"):
        load_image(tmp_path / "a.nii", series_uid="1.2")


def test_format_names_and_aliases() -> None:
    assert [normalize_format(n) for n in ("nii", "nib", "NIFTI", "dcm", "jpg", "mhd", "infer")] == [
        "nifti",
        "nifti",
        "nifti",
        "dicom",
        "jpeg",
        "mha",
        "infer",
    ]


def test_cast_array_rounds_checks_ranges_and_fixes_byte_order() -> None:
    big_endian = np.arange(4, dtype=">i2")
    native = cast_array(big_endian, None, "x")
    assert native.dtype == np.dtype("int16")
    assert native.dtype.isnative
    np.testing.assert_array_equal(native, [0, 1, 2, 3])
    np.testing.assert_array_equal(cast_array(np.array([-0.6, 1.5, 2.5]), np.dtype("int8"), "x"), [-1, 2, 2])
    with pytest.raises(ImageLoadError, match="NaN or infinite"):
        cast_array(np.array([np.nan]), np.dtype("int16"), "x")
    with pytest.raises(ImageLoadError, match=r"\[-1, 5\], outside uint16's range"):
        cast_array(np.array([-1, 5]), np.dtype("uint16"), "x")
    assert spatial_to_front(np.zeros((2, 3)), 2, channels_first=True).shape == (2, 3)


# ---------------------------------------------------------------------------------------------- the op
def _nifti_folder(tmp_path: Path) -> np.ndarray:
    volume = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    nib.save(nib.Nifti1Image(volume, _oblique_affine()), tmp_path / "case_1.nii.gz")
    return volume


def test_op_in_a_pipeline_writes_image_and_metadata(tmp_path: Path) -> None:
    volume = _nifti_folder(tmp_path)
    pipeline = PipelineDefault(
        "static",
        [
            (
                OpLoadImage(tmp_path),
                {"key_in": "data.input.img_path", "key_out": "data.input.img", "key_metadata_out": "data.input.meta"},
            )
        ],
    )
    sample = create_initial_sample("case_1")
    sample["data.input.img_path"] = "case_1.nii.gz"
    result = pipeline(sample)
    assert isinstance(result, NDict)
    np.testing.assert_array_equal(result["data.input.img"], volume)
    np.testing.assert_allclose(result["data.input.meta.affine"], _oblique_affine(), atol=1e-6)
    assert result["data.input.meta.path"] == str(tmp_path / "case_1.nii.gz")
    assert set(result["data.input.meta"].keys()) >= {"spacing", "origin", "direction", "affine", "format", "path"}
    reversed_sample = pipeline.reverse(result, key_to_reverse="data.input.img", key_to_follow="data.input.img")
    np.testing.assert_array_equal(reversed_sample["data.input.img"], volume)  # reverse is the identity


def test_op_paths_absolute_and_relative_and_without_dir(tmp_path: Path) -> None:
    volume = _nifti_folder(tmp_path)
    sample = create_initial_sample("s")
    sample["path"] = tmp_path / "case_1.nii.gz"  # absolute: dir_path does not apply
    out = OpLoadImage("/somewhere/else")(sample, key_in="path", key_out="img")
    np.testing.assert_array_equal(out["img"], volume)
    assert "meta" not in out
    out = OpLoadImage()(sample, op_id="0", key_in="path", key_out="img", dtype=np.float64)
    assert out["img"].dtype == np.float64
    sample["path"] = 17
    with pytest.raises(TypeError, match=r"sample 's' key 'path' must hold a file path \(str or Path\), got int"):
        OpLoadImage()(sample, key_in="path", key_out="img")
    with pytest.raises(MissingSampleKeyError, match="OpLoadImage: sample 's' has no key 'nowhere'"):
        OpLoadImage()(sample, key_in="nowhere", key_out="img")


def test_op_names_the_sample_of_a_missing_file(tmp_path: Path) -> None:
    sample = create_initial_sample("case_9")
    sample["path"] = "case_9.nii.gz"
    with pytest.raises(ImageLoadError, match=r"case_9\.nii\.gz \(sample 'case_9'\): no such file or directory"):
        OpLoadImage(tmp_path)(sample, key_in="path", key_out="img")


def test_op_loads_a_dicom_file_with_its_metadata() -> None:
    path = get_testdata_file("CT_small.dcm")
    assert path is not None
    sample = create_initial_sample("ct")
    sample["path"] = path
    out = OpMedicalImageLoader()(sample, key_in="path", key_out="img", key_metadata_out="meta")
    assert out["meta.modality"] == "CT"
    assert out["img"].shape == (128, 128)


def test_alias_is_the_same_class() -> None:
    assert OpMedicalImageLoader is OpLoadImage


def test_cache_identity_is_stable_and_follows_the_arguments(tmp_path: Path) -> None:
    def identity(dir_path: Any, **kwargs: Any) -> str:
        step = {"key_in": "data.path", "key_out": "data.img", **kwargs}
        return PipelineDefault("p", [(OpLoadImage(dir_path), step)]).cache_identity()

    assert identity("/data/a") == identity("/data/a")
    assert identity("/data/a", dtype=np.float32) == identity("/data/a", dtype=np.float32)
    assert identity("/data/a") != identity("/data/b")
    assert identity("/data/a") != identity("/data/a", format="nifti")
    assert identity("/data/a", dtype=np.float32) != identity("/data/a", dtype=np.int16)
    assert identity("/data/a") != identity("/data/a", channels_first=True)
