"""The augmentation ops of fuse-imaging (geometry and intensity), each checked against an independent computation
(numpy / torch rotations, flips and shifts, scipy interpolation, Pillow resizing, the color formulas written out),
plus reproducibility under OpSample and set_seed, no in-place modification, and stable cache identities."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from fuse.core import Uniform
from fuse.data import MissingSampleKeyError
from fuse.imaging import (
    OpAugAffine2D,
    OpAugCropAndResize2D,
    OpRotation3D,
)
from fuse_imaging_ops_support import rng as _rng
from fuse_imaging_ops_support import run_op as _run
from fuse_imaging_ops_support import run_sampled as _sampled
from fuse_imaging_ops_support import sample_with as _sample


# ---------------------------------------------------------------------------------------------------- OpAugAffine2D
@pytest.mark.parametrize(("rotate", "k"), [(90.0, -1), (-90.0, 1), (180.0, 2), (270.0, 1)])
def test_affine_rotation_by_right_angles_equals_rot90_clockwise(rotate: float, k: int) -> None:
    image = torch.rand(3, 7, 7)
    rotated = _run(OpAugAffine2D(), image, rotate=rotate)
    torch.testing.assert_close(rotated, torch.rot90(image, k=k, dims=(-2, -1)), atol=1e-5, rtol=0)


def test_affine_rotation_of_a_numpy_image_returns_numpy_and_matches_np_rot90() -> None:
    image = _rng().random((6, 6))
    rotated = _run(OpAugAffine2D(), image, rotate=90.0, interpolation="nearest")
    assert isinstance(rotated, np.ndarray)
    assert rotated.dtype == np.float64
    np.testing.assert_array_equal(rotated, np.rot90(image, k=-1))


def test_affine_half_turn_of_a_non_square_image_flips_both_axes() -> None:
    image = torch.rand(2, 5, 8)
    torch.testing.assert_close(_run(OpAugAffine2D(), image, rotate=180.0), image.flip(-2, -1), atol=1e-5, rtol=0)


def test_affine_translation_shifts_right_and_down_filling_zeros() -> None:
    image = _rng(1).random((2, 6, 9)).astype(np.float32)
    shifted = _run(OpAugAffine2D(), image, translate=(3, 2))  # dx=3 columns right, dy=2 rows down
    expected = np.zeros_like(image)
    expected[:, 2:, 3:] = image[:, :-2, :-3]
    np.testing.assert_allclose(shifted, expected, atol=1e-5)


@pytest.mark.parametrize(("flip", "axes"), [((True, False), (-2,)), ((False, True), (-1,)), ((True, True), (-2, -1))])
def test_affine_flip_is_vertical_then_horizontal(flip: tuple[bool, bool], axes: tuple[int, ...]) -> None:
    image = _rng(2).random((3, 4, 5))
    np.testing.assert_array_equal(_run(OpAugAffine2D(), image, flip=flip), np.flip(image, axes))


def test_affine_matches_pillows_affine_transform_which_fusemedml_used() -> None:
    image = _rng(20).random((2, 40, 48)).astype(np.float32)
    rotate, scale, (dx, dy) = 17.0, 1.1, (5.0, -3.0)
    result = _run(OpAugAffine2D(), image, rotate=rotate, scale=scale, translate=(dx, dy))
    # forward map about the centre (W/2, H/2 in Pillow's pixel-edge coordinates): p -> scale * R p + t, with R a
    # clockwise rotation on screen (y down); Pillow wants the inverse, output -> input
    cos, sin = np.cos(np.radians(rotate)), np.sin(np.radians(rotate))
    inverse = np.linalg.inv(scale * np.array([[cos, -sin], [sin, cos]]))
    centre = np.array([48 / 2, 40 / 2])
    offset = centre - inverse @ (centre + np.array([dx, dy]))
    data = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    for channel in range(2):
        pil = Image.fromarray(image[channel]).transform((48, 40), Image.AFFINE, data, Image.BILINEAR)
        np.testing.assert_allclose(result[channel, 8:-8, 8:-8], np.asarray(pil)[8:-8, 8:-8], atol=1e-4)


def test_affine_scale_zooms_about_the_centre_like_scipy_map_coordinates() -> None:
    image = _rng(3).random((9, 11))
    zoomed = _run(OpAugAffine2D(), image, scale=2.0)
    rows, cols = np.mgrid[0:9, 0:11].astype(np.float64)
    centre_row, centre_col = 4.0, 5.0
    coordinates = [centre_row + (rows - centre_row) / 2, centre_col + (cols - centre_col) / 2]
    expected = ndimage.map_coordinates(image, coordinates, order=1)
    np.testing.assert_allclose(zoomed, expected, atol=1e-12)


def test_affine_shear_follows_torchvision_convention() -> None:
    # shear 45 degrees along x: a pixel at centred (x, y) moves to (x - y, y), so a vertical line through the
    # centre of a 5x5 image becomes the anti-diagonal
    image = np.zeros((5, 5), dtype=np.int64)
    image[:, 2] = 1
    sheared = _run(OpAugAffine2D(), image, shear=45.0, interpolation="nearest")
    np.testing.assert_array_equal(sheared, np.fliplr(np.eye(5, dtype=np.int64)))
    np.testing.assert_array_equal(_run(OpAugAffine2D(), image, shear=(45.0, 0.0), interpolation="nearest"), sheared)


def test_affine_identity_returns_an_exact_copy() -> None:
    image = torch.rand(2, 5, 5)
    before = image.clone()
    result = _run(OpAugAffine2D(), image)
    assert torch.equal(result, image)
    result += 1
    assert torch.equal(image, before)


def test_affine_never_modifies_the_callers_tensor() -> None:
    image = torch.rand(3, 6, 6)
    before = image.clone()
    _run(OpAugAffine2D(), image, rotate=33.0, translate=(1, -2), channels=[0, 2], flip=(True, False))
    assert torch.equal(image, before)


def test_affine_nearest_keeps_the_label_set_and_dtype() -> None:
    labels = torch.from_numpy(_rng(4).integers(0, 4, size=(1, 32, 32)))
    warped = _run(OpAugAffine2D(), labels, rotate=27.0, scale=1.1, shear=5.0, interpolation="nearest")
    assert warped.dtype == torch.int64
    assert set(warped.unique().tolist()) <= {0, 1, 2, 3}
    assert len(set(warped.unique().tolist())) == 4


def test_affine_bilinear_on_uint8_rounds_back_to_uint8() -> None:
    image = _rng(5).integers(0, 256, size=(2, 10, 10)).astype(np.uint8)
    warped = _run(OpAugAffine2D(), image, rotate=15.0)
    reference = np.round(_run(OpAugAffine2D(), image.astype(np.float64), rotate=15.0))
    assert warped.dtype == np.uint8
    np.testing.assert_array_equal(warped, reference.astype(np.uint8))


def test_affine_channels_subset_leaves_the_other_channels_unchanged() -> None:
    image = torch.rand(3, 6, 6)
    result = _run(OpAugAffine2D(), image, rotate=90.0, channels=[1])
    torch.testing.assert_close(result[1], torch.rot90(image[1], k=-1), atol=1e-5, rtol=0)
    assert torch.equal(result[0], image[0])
    assert torch.equal(result[2], image[2])


def test_affine_and_crop_resize_with_an_empty_channel_selection_copy_the_image() -> None:
    image = torch.rand(2, 4, 4)
    for result in (
        _run(OpAugAffine2D(), image, rotate=10.0, channels=[]),
        _run(OpAugCropAndResize2D(), image, scale=(0.5, 0.5), channels=[]),
    ):
        assert torch.equal(result, image)
        assert result.data_ptr() != image.data_ptr()


def test_affine_keeps_bfloat16_and_rejects_complex_images() -> None:
    image = torch.rand(1, 6, 6).to(torch.bfloat16)
    rotated = _run(OpAugAffine2D(), image, rotate=90.0, interpolation="nearest")
    assert rotated.dtype == torch.bfloat16
    assert torch.equal(rotated, torch.rot90(image, k=-1, dims=(-2, -1)))
    with pytest.raises(TypeError, match="has dtype complex64, which is not supported"):
        _run(OpAugAffine2D(), np.zeros((3, 3), dtype=np.complex64), rotate=1.0)


def test_affine_accepts_a_read_only_array_without_warning() -> None:
    image = np.arange(16.0, dtype=np.float32).reshape(4, 4)
    image.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rotated = _run(OpAugAffine2D(), image, rotate=90.0)
    np.testing.assert_allclose(rotated, np.rot90(image, k=-1), atol=1e-5)


def test_affine_two_dimensional_input_gives_two_dimensional_output() -> None:
    image = torch.rand(4, 4)
    assert _run(OpAugAffine2D(), image, rotate=90.0).shape == (4, 4)


def test_affine_accepts_an_interpolation_mode_enum_like_torchvisions() -> None:
    class Mode:
        value = "nearest"

    image = _rng(6).integers(0, 3, size=(8, 8))
    rotated = _run(OpAugAffine2D(), image, rotate=90.0, interpolation=Mode())
    np.testing.assert_array_equal(rotated, np.rot90(image, k=-1))


def test_affine_rejects_bad_arguments_naming_the_sample() -> None:
    with pytest.raises(ValueError, match=r"'case_7'.*2 or 3 dimensions.*\(1, 2, 3, 4\)"):
        _run(OpAugAffine2D(), torch.zeros(1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"interpolation must be one of \['bilinear', 'nearest'\].*'bicubic'"):
        _run(OpAugAffine2D(), torch.zeros(3, 3), rotate=1.0, interpolation="bicubic")
    with pytest.raises(ValueError, match="flip must be a pair"):
        _run(OpAugAffine2D(), torch.zeros(3, 3), flip=(True,))
    with pytest.raises(ValueError, match="scale must be > 0"):
        _run(OpAugAffine2D(), torch.zeros(3, 3), scale=0.0)
    with pytest.raises(ValueError, match=r"channels must hold indices in \[0, 2\)"):
        _run(OpAugAffine2D(), torch.zeros(2, 3, 3), rotate=1.0, channels=[2])
    with pytest.raises(
        TypeError,
        match=r"OpAugAffine2D: key .data\.input\.img. of sample .case_7. holds a builtins\.list; expected a numpy array",
    ):
        _run(OpAugAffine2D(), [[0.0]])
    with pytest.raises(MissingSampleKeyError, match=r"OpAugAffine2D: sample 'case_7' has no key 'data\.missing'"):
        OpAugAffine2D()(_sample(torch.zeros(2, 2)), key="data.missing")


# ------------------------------------------------------------------------------------------------- OpAugCropAndResize2D
def _pil_resize(channel: np.ndarray, height: int, width: int) -> np.ndarray:
    float_image = Image.fromarray(channel.astype(np.float32))  # mode "F"
    return np.asarray(float_image.resize((width, height), Image.BILINEAR))


def test_crop_and_resize_zoom_in_crops_the_centre_and_resizes_like_pillow() -> None:
    image = _rng(7).random((2, 8, 8)).astype(np.float32)
    result = _run(OpAugCropAndResize2D(), image, scale=(0.5, 0.5))
    for channel in range(2):
        np.testing.assert_allclose(result[channel], _pil_resize(image[channel, 2:6, 2:6], 8, 8), atol=1e-5)


def test_crop_and_resize_zoom_out_pads_then_resizes_like_pillow() -> None:
    image = torch.rand(1, 6, 5)
    result = _run(OpAugCropAndResize2D(), image, scale=(1.5, 2.0))
    # crop shape (9, 10): rows padded 1 above / 2 below, columns 2 left / 3 right
    padded = np.pad(image[0].numpy(), ((1, 2), (2, 3)))
    np.testing.assert_allclose(result[0].numpy(), _pil_resize(padded, 6, 5), atol=1e-5)


def test_crop_and_resize_mixed_scales_on_a_two_dimensional_image() -> None:
    image = _rng(8).random((10, 6))
    result = _run(OpAugCropAndResize2D(), image, scale=(0.5, 1.5))
    # rows: centre crop of 5 starting at round(5 / 2) = 2 (torchvision's rounding); columns: padded 1 / 2 to 9
    reference = np.pad(image, ((0, 0), (1, 2)))[2:7]
    assert result.shape == (10, 6)
    np.testing.assert_allclose(result, _pil_resize(reference, 10, 6), atol=1e-5)


def test_crop_and_resize_unit_scale_copies_and_channels_subset_keeps_others() -> None:
    image = torch.rand(3, 8, 8)
    same = _run(OpAugCropAndResize2D(), image, scale=(1.0, 1.0))
    assert torch.equal(same, image)
    assert same.data_ptr() != image.data_ptr()
    result = _run(OpAugCropAndResize2D(), image, scale=(0.5, 0.5), channels=[0, 2])
    assert torch.equal(result[1], image[1])
    assert not torch.equal(result[0], image[0])


def test_crop_and_resize_rejects_a_scale_that_leaves_nothing() -> None:
    with pytest.raises(ValueError, match="crops the 4x4 image to nothing"):
        _run(OpAugCropAndResize2D(), torch.zeros(4, 4), scale=(0.1, 1.0))
    with pytest.raises(ValueError, match="scale must hold two numbers > 0"):
        _run(OpAugCropAndResize2D(), torch.zeros(4, 4), scale=(-1.0, 1.0))


# ---------------------------------------------------------------------------------------------------- OpRotation3D
@pytest.mark.parametrize(("argument", "axes"), [("z_rot", (1, 2)), ("x_rot", (0, 1)), ("y_rot", (0, 2))])
def test_rotation3d_right_angles_equal_rot90_counter_clockwise(argument: str, axes: tuple[int, int]) -> None:
    volume = _rng(13).random((5, 5, 5))
    rotated = _run(OpRotation3D(), volume, **{argument: 90.0})
    np.testing.assert_array_equal(rotated, np.rot90(volume, 1, axes=axes))


def test_rotation3d_applies_z_then_x_then_y() -> None:
    volume = torch.from_numpy(_rng(14).random((4, 4, 4)))
    rotated = _run(OpRotation3D(), volume, z_rot=90.0, x_rot=-90.0, y_rot=180.0)
    expected = np.rot90(np.rot90(np.rot90(volume.numpy(), 1, (1, 2)), -1, (0, 1)), 2, (0, 2))
    assert isinstance(rotated, torch.Tensor)
    np.testing.assert_array_equal(rotated.numpy(), expected)


def test_rotation3d_bilinear_matches_scipy_rotate_inside_the_volume() -> None:
    volume = _rng(15).random((3, 15, 15)).astype(np.float32)
    rotated = _run(OpRotation3D(), volume, z_rot=30.0, interpolation="bilinear")
    expected = ndimage.rotate(volume, 30.0, axes=(1, 2), reshape=False, order=1)
    np.testing.assert_allclose(rotated[:, 4:11, 4:11], expected[:, 4:11, 4:11], atol=1e-5)


def test_rotation3d_nearest_keeps_labels_and_zero_angles_copy() -> None:
    labels = _rng(16).integers(0, 3, size=(6, 6, 6)).astype(np.uint8)
    rotated = _run(OpRotation3D(), labels, z_rot=20.0, y_rot=-10.0)
    assert rotated.dtype == np.uint8
    assert set(np.unique(rotated)) <= {0, 1, 2}
    copy = _run(OpRotation3D(), labels)
    assert np.array_equal(copy, labels)
    assert not np.shares_memory(copy, labels)
    with pytest.raises(ValueError, match=r"\[D, H, W\]"):
        _run(OpRotation3D(), labels[0], z_rot=1.0)


# ---------------------------------------------------------------------------------------------------- OpSample


def test_geometry_ops_under_op_sample_are_reproducible_per_seed() -> None:
    image = torch.rand(2, 16, 16)
    kwargs = {"rotate": Uniform(-10.0, 10.0), "scale": Uniform(0.9, 1.1), "translate": (Uniform(-2, 2), 0.0)}
    first = _sampled(OpAugAffine2D(), 0, image, **kwargs)
    assert torch.equal(first, _sampled(OpAugAffine2D(), 0, image, **kwargs))
    assert not torch.equal(first, _sampled(OpAugAffine2D(), 1, image, **kwargs))


def test_affine_and_rotation_accept_big_endian_arrays() -> None:
    """A big-endian float32 array (e.g. from a FITS or some NIfTI files) was handed to torch.from_numpy as it was,
    which refuses non-native byte order."""
    image = np.arange(16, dtype=">f4").reshape(4, 4)
    rotated = _run(OpAugAffine2D(), image, rotate=90.0, interpolation="nearest")
    np.testing.assert_array_equal(rotated, np.rot90(image.astype(np.float32), k=-1))
    volume = np.arange(8, dtype=">f8").reshape(2, 2, 2)
    np.testing.assert_array_equal(_run(OpRotation3D(), volume, z_rot=90.0), np.rot90(volume, 1, axes=(1, 2)))
