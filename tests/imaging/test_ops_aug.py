"""The augmentation ops of fuse-imaging (geometry and intensity), each checked against an independent computation
(numpy / torch rotations, flips and shifts, scipy interpolation, Pillow resizing, the color formulas written out),
plus reproducibility under OpSample and set_seed, no in-place modification, and stable cache identities."""

from __future__ import annotations

import functools
import pickle
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from fuse.core import NDict, Uniform, create_initial_sample, set_seed
from fuse.data import MissingSampleKeyError, OpSample, PipelineDefault
from fuse.imaging import (
    OpAugAffine2D,
    OpAugColor,
    OpAugCropAndResize2D,
    OpAugGaussian,
    OpAugSqueeze3Dto2D,
    OpAugUnsqueeze3DFrom2D,
    OpCrop3D,
    OpResizeTo,
    OpRotation3D,
)

KEY = "data.input.img"


def _sample(image: Any, sample_id: str = "case_1") -> NDict:
    sample = create_initial_sample(sample_id)
    sample[KEY] = image
    return sample


def _run(op: Any, image: Any, **kwargs: Any) -> Any:
    return op(_sample(image), key=KEY, **kwargs)[KEY]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


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
    with pytest.raises(TypeError, match="does not support the complex dtype"):
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
    with pytest.raises(ValueError, match=r"'case_1'.*2 or 3 dimensions.*\(1, 2, 3, 4\)"):
        _run(OpAugAffine2D(), torch.zeros(1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"interpolation must be one of \['bilinear', 'nearest'\].*'bicubic'"):
        _run(OpAugAffine2D(), torch.zeros(3, 3), rotate=1.0, interpolation="bicubic")
    with pytest.raises(ValueError, match="flip must be a pair"):
        _run(OpAugAffine2D(), torch.zeros(3, 3), flip=(True,))
    with pytest.raises(ValueError, match="scale must be > 0"):
        _run(OpAugAffine2D(), torch.zeros(3, 3), scale=0.0)
    with pytest.raises(ValueError, match=r"channels must hold indices in \[0, 2\)"):
        _run(OpAugAffine2D(), torch.zeros(2, 3, 3), rotate=1.0, channels=[2])
    with pytest.raises(TypeError, match=r"expects a torch\.Tensor or numpy\.ndarray, got list"):
        _run(OpAugAffine2D(), [[0.0]])
    with pytest.raises(MissingSampleKeyError, match=r"OpAugAffine2D: sample 'case_1' has no key 'data\.missing'"):
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


# -------------------------------------------------------------------------------------------------- squeeze / unsqueeze
@pytest.mark.parametrize("axis", [1, 2, 3])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_squeeze_then_unsqueeze_round_trips(axis: int, kind: str) -> None:
    volume = _rng(9).random((2, 3, 4, 5))
    image = torch.from_numpy(volume) if kind == "torch" else volume
    squeezed = _run(OpAugSqueeze3Dto2D(), image, axis_squeeze=axis)
    assert squeezed.shape[0] == 2 * volume.shape[axis]
    restored = _run(OpAugUnsqueeze3DFrom2D(), squeezed, axis_squeeze=axis, channels=2)
    assert type(restored) is type(image)
    np.testing.assert_array_equal(np.asarray(restored), volume)


def test_squeeze_puts_each_slice_of_the_axis_in_its_own_channel() -> None:
    volume = _rng(10).random((2, 3, 4, 5))
    squeezed = _run(OpAugSqueeze3Dto2D(), volume, axis_squeeze=3)
    for channel in range(2):
        for index in range(5):
            np.testing.assert_array_equal(squeezed[channel * 5 + index], volume[channel, :, :, index])


def test_squeeze_and_unsqueeze_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="axis_squeeze must be 1, 2 or 3, got 0"):
        _run(OpAugSqueeze3Dto2D(), torch.zeros(1, 2, 2, 2), axis_squeeze=0)
    with pytest.raises(ValueError, match="4 dimensions"):
        _run(OpAugSqueeze3Dto2D(), torch.zeros(2, 2, 2), axis_squeeze=1)
    with pytest.raises(ValueError, match=r"first axis \(6\) is not a multiple of channels=4"):
        _run(OpAugUnsqueeze3DFrom2D(), torch.zeros(6, 2, 2), axis_squeeze=1, channels=4)


# ---------------------------------------------------------------------------------------------------- OpCrop3D
def test_crop3d_crops_at_the_relative_offsets() -> None:
    volume = _rng(11).random((10, 12, 14))
    centre = _run(OpCrop3D(), volume, output_shape=(4, 6, 8))
    np.testing.assert_array_equal(centre, volume[3:7, 3:9, 3:11])
    corner = _run(OpCrop3D(), volume, output_shape=(4, 6, 8), z_move=0.0, y_move=1.0, x_move=0.25)
    np.testing.assert_array_equal(corner, volume[0:4, 6:12, 2:10])  # x start round(0.25 * 6) = 2


def test_crop3d_pads_short_axes_after_the_end_with_fill_keeping_kind_and_dtype() -> None:
    volume = torch.arange(2 * 3 * 4, dtype=torch.int16).reshape(2, 3, 4)
    result = _run(OpCrop3D(), volume, output_shape=(3, 2, 6), fill=-1)
    assert result.dtype == torch.int16
    assert result.shape == (3, 2, 6)
    expected = torch.full((3, 2, 6), -1, dtype=torch.int16)
    expected[:2, :, :4] = volume[:, 0:2, :]  # height 3 -> 2 cropped at round(0.5 * 1) = 0
    assert torch.equal(result, expected)


def test_crop3d_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        _run(OpCrop3D(), np.zeros((2, 2, 2)), output_shape=(1, 1, 1), z_move=1.5)
    with pytest.raises(ValueError, match="output_shape must be a sequence of 3 ints"):
        _run(OpCrop3D(), np.zeros((2, 2, 2)), output_shape=(1, 1))


# ---------------------------------------------------------------------------------------------------- OpResizeTo
def test_resize_linear_ramp_matches_the_ramp_at_the_new_pixel_centres() -> None:
    rows, cols = np.mgrid[0:8, 0:10].astype(np.float64)
    ramp = 2.0 * rows + 0.5 * cols
    resized = _run(OpResizeTo(channels_first=False), ramp, output_shape=(16, 25))
    # pixel-area convention: new pixel i has its centre at old coordinate (i + 0.5) * old / new - 0.5
    new_rows = (np.arange(16) + 0.5) * 8 / 16 - 0.5
    new_cols = (np.arange(25) + 0.5) * 10 / 25 - 0.5
    expected = 2.0 * new_rows[:, None] + 0.5 * new_cols[None, :]
    inside = np.ix_((new_rows >= 0) & (new_rows <= 7), (new_cols >= 0) & (new_cols <= 9))
    np.testing.assert_allclose(resized[inside], expected[inside], atol=1e-12)
    assert resized.dtype == np.float64


def test_resize_order_zero_upsamples_labels_by_repetition_keeping_dtype() -> None:
    labels = _rng(12).integers(0, 5, size=(4, 3)).astype(np.int16)
    resized = _run(OpResizeTo(channels_first=False), labels, output_shape=(8, 6), order=0)
    assert resized.dtype == np.int16
    np.testing.assert_array_equal(resized, np.repeat(np.repeat(labels, 2, axis=0), 2, axis=1))


def test_resize_channels_first_takes_output_shape_in_channels_last_order() -> None:
    rows, cols = np.mgrid[0:6, 0:6].astype(np.float32)
    image = np.stack([rows, 2 * rows + cols, -cols])  # [3, H, W], three linear ramps
    op = OpResizeTo(channels_first=True)
    resized = _run(op, image, output_shape=(12, 12, 3))
    assert resized.shape == (3, 12, 12)
    assert resized.dtype == np.float32
    np.testing.assert_array_equal(_run(op, image, output_shape=(12, 12)), resized)  # channel count kept
    centres = (np.arange(12) + 0.5) / 2 - 0.5
    inside = np.ix_((centres >= 0) & (centres <= 5), (centres >= 0) & (centres <= 5))
    new_rows, new_cols = centres[:, None] + 0 * centres, 0 * centres[:, None] + centres
    for channel, expected in enumerate([new_rows, 2 * new_rows + new_cols, -new_cols]):
        np.testing.assert_allclose(resized[channel][inside], expected[inside], atol=1e-5)


def test_resize_anti_aliasing_averages_a_checkerboard_instead_of_aliasing_it() -> None:
    checkerboard = (np.indices((30, 30)).sum(axis=0) % 2).astype(np.float64)
    # downsampling by 3 samples the centre pixel of each 3x3 block: 0 or 1 without smoothing
    smooth = _run(OpResizeTo(channels_first=False), checkerboard, output_shape=(10, 10))
    aliased = _run(OpResizeTo(channels_first=False), checkerboard, output_shape=(10, 10), anti_aliasing=False)
    assert np.abs(smooth - 0.5).max() < 0.05
    assert np.abs(aliased - 0.5).max() > 0.4


def test_resize_preserve_range_and_integer_images() -> None:
    image = np.full((4, 4), 255, dtype=np.uint8)
    op = OpResizeTo(channels_first=False)
    scaled = _run(op, image, output_shape=(2, 2))
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, 1.0)  # skimage's img_as_float convention
    np.testing.assert_allclose(_run(op, image, output_shape=(2, 2), preserve_range=True), 255.0)
    with pytest.raises(ValueError, match="signed integer image"):
        _run(op, image.astype(np.int16), output_shape=(2, 2))
    with pytest.raises(ValueError, match="mode must be one of"):
        _run(op, image, output_shape=(2, 2), mode="mirror")
    with pytest.raises(ValueError, match=r"output_shape \(2, 2, 2, 2\) does not fit"):
        _run(op, image, output_shape=(2, 2, 2, 2))


def test_resize_returns_a_tensor_for_a_tensor() -> None:
    labels = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.bfloat16)
    upsampled = _run(OpResizeTo(channels_first=False), labels, output_shape=(4, 4), order=0)
    assert upsampled.dtype == torch.bfloat16  # order 0 keeps the dtype
    assert _run(OpResizeTo(channels_first=False), labels, output_shape=(4, 4)).dtype == torch.float32
    assert torch.equal(upsampled, labels.repeat_interleave(2, 0).repeat_interleave(2, 1))
    image = torch.rand(3, 8, 8)
    resized = _run(OpResizeTo(channels_first=True), image, output_shape=(4, 4))
    assert isinstance(resized, torch.Tensor)
    assert resized.shape == (3, 4, 4)
    assert resized.dtype == torch.float32


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


# ---------------------------------------------------------------------------------------------------- OpAugColor
def test_color_steps_follow_their_formulas_in_order() -> None:
    image = _rng(17).random((2, 5, 5)).astype(np.float32)
    x = image.astype(np.float64)
    np.testing.assert_allclose(_run(OpAugColor(), image, add=0.3), np.clip(x + 0.3, 0, 1), atol=1e-6)
    np.testing.assert_allclose(_run(OpAugColor(), image, mul=1.7), np.clip(x * 1.7, 0, 1), atol=1e-6)
    np.testing.assert_allclose(_run(OpAugColor(), image, gamma=0.5), np.sqrt(x), atol=1e-6)
    contrast = np.clip((x - x.mean()) * 1.5 + x.mean(), 0, 1)
    np.testing.assert_allclose(_run(OpAugColor(), image, contrast=1.5), contrast, atol=1e-6)
    step = np.clip(np.clip(np.clip(x - 0.1, 0, 1) * 1.2, 0, 1) ** 1.3, 0, 1)
    expected = np.clip((step - step.mean()) * 0.8 + step.mean(), 0, 1)
    result = _run(OpAugColor(), image, add=-0.1, mul=1.2, gamma=1.3, contrast=0.8)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_color_on_tensors_matches_numpy_and_keeps_dtype() -> None:
    image = _rng(18).random((3, 4))
    tensor_result = _run(OpAugColor(), torch.from_numpy(image), add=0.05, gamma=1.2, contrast=1.1)
    assert tensor_result.dtype == torch.float64
    np.testing.assert_allclose(tensor_result.numpy(), _run(OpAugColor(), image, add=0.05, gamma=1.2, contrast=1.1))


def test_color_channels_subset_uses_their_own_mean_and_leaves_the_input_alone() -> None:
    image = torch.rand(3, 4, 4)
    before = image.clone()
    result = _run(OpAugColor(), image, contrast=2.0, channels=[0, 2])
    selected = before[[0, 2]]
    expected = ((selected - selected.mean()) * 2.0 + selected.mean()).clamp(0, 1)
    torch.testing.assert_close(result[[0, 2]], expected)
    assert torch.equal(result[1], before[1])
    assert torch.equal(image, before)
    no_op = _run(OpAugColor(), image)
    assert torch.equal(no_op, image)
    assert no_op.data_ptr() != image.data_ptr()


def test_color_verifies_the_range_and_the_dtype() -> None:
    with pytest.raises(ValueError, match=r"'case_1'.*expects values in \[0, 1\], got \[0.0, 2.0\]"):
        _run(OpAugColor(), torch.tensor([0.0, 2.0]), add=0.1)
    unchecked = _run(OpAugColor(verify_arguments=False), torch.tensor([0.0, 2.0]), add=0.1)
    torch.testing.assert_close(unchecked, torch.tensor([0.1, 1.0]))
    with pytest.raises(TypeError, match=r"expects a floating image, got dtype torch\.int64"):
        _run(OpAugColor(), torch.tensor([0, 1]), add=0.1)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        _run(OpAugColor(), torch.tensor([0.5]), gamma=0.0)


# ---------------------------------------------------------------------------------------------------- OpAugGaussian
def test_gaussian_noise_has_the_requested_mean_and_std() -> None:
    image = torch.zeros(200, 200)
    noise = _run(OpAugGaussian(seed=0), image, mean=0.2, std=0.05)
    assert noise.dtype == torch.float32
    assert abs(float(noise.mean()) - 0.2) < 0.002
    assert abs(float(noise.std()) - 0.05) < 0.002


def test_gaussian_explicit_seed_is_reproducible_and_advances() -> None:
    image = np.zeros((4, 4))
    first_op, second_op = OpAugGaussian(seed=3), OpAugGaussian(seed=3)
    first = _run(first_op, image)
    np.testing.assert_array_equal(first, _run(second_op, image))
    assert not np.array_equal(first, _run(first_op, image))
    assert not np.array_equal(first, _run(OpAugGaussian(seed=4), image))
    # a tensor gets the same noise as an array
    np.testing.assert_allclose(_run(OpAugGaussian(seed=3), torch.zeros(4, 4, dtype=torch.float64)).numpy(), first)


def test_gaussian_follows_set_seed_without_an_explicit_seed() -> None:
    image = torch.zeros(3, 3)
    set_seed(1)
    first = _run(OpAugGaussian(), image)
    set_seed(1)
    assert torch.equal(first, _run(OpAugGaussian(), image))
    set_seed(2)
    assert not torch.equal(first, _run(OpAugGaussian(), image))


def test_gaussian_channels_dtypes_and_no_in_place_change() -> None:
    assert _run(OpAugGaussian(seed=0), np.zeros(4, dtype=np.float32)).dtype == np.float32
    image = torch.zeros(3, 8, 8, dtype=torch.float16)
    result = _run(OpAugGaussian(seed=0), image, std=0.1, channels=[1])
    assert result.dtype == torch.float16
    assert torch.equal(result[[0, 2]], image[[0, 2]])
    assert float(result[1].abs().max()) > 0
    assert float(image.abs().max()) == 0
    with pytest.raises(TypeError, match="expects a floating image"):
        _run(OpAugGaussian(), np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="std must be >= 0"):
        _run(OpAugGaussian(), np.zeros(3), std=-1.0)
    with pytest.raises(ValueError, match="seed must be an int >= 0 or None"):
        OpAugGaussian(seed=1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------- OpSample
def _sampled(op: Any, seed: int, image: Any, **kwargs: Any) -> Any:
    set_seed(seed)
    return OpSample(op)(_sample(image), key=KEY, **kwargs)[KEY]


def test_geometry_ops_under_op_sample_are_reproducible_per_seed() -> None:
    image = torch.rand(2, 16, 16)
    kwargs = {"rotate": Uniform(-10.0, 10.0), "scale": Uniform(0.9, 1.1), "translate": (Uniform(-2, 2), 0.0)}
    first = _sampled(OpAugAffine2D(), 0, image, **kwargs)
    assert torch.equal(first, _sampled(OpAugAffine2D(), 0, image, **kwargs))
    assert not torch.equal(first, _sampled(OpAugAffine2D(), 1, image, **kwargs))


def test_color_ops_under_op_sample_are_reproducible_per_seed() -> None:
    image = torch.rand(2, 8, 8)
    kwargs = {"add": Uniform(-0.1, 0.1), "gamma": Uniform(0.8, 1.2)}
    first = _sampled(OpAugColor(), 0, image, **kwargs)
    assert torch.equal(first, _sampled(OpAugColor(), 0, image, **kwargs))
    assert not torch.equal(first, _sampled(OpAugColor(), 1, image, **kwargs))
    noisy = _sampled(OpAugGaussian(), 0, image, std=Uniform(0.01, 0.1))
    assert torch.equal(noisy, _sampled(OpAugGaussian(), 0, image, std=Uniform(0.01, 0.1)))
    assert not torch.equal(noisy, _sampled(OpAugGaussian(), 1, image, std=Uniform(0.01, 0.1)))


# ---------------------------------------------------------------------------------------------------- cache identity
def _identity(op: Any, kwargs: dict[str, Any]) -> str:
    return PipelineDefault("p", [(op, kwargs)]).cache_identity()


@pytest.mark.parametrize(
    ("make", "kwargs", "changed_op", "changed_kwargs"),
    [
        (OpAugAffine2D, {"key": KEY, "rotate": 5.0}, OpAugAffine2D(verify_arguments=False), {"rotate": 6.0}),
        (OpAugCropAndResize2D, {"key": KEY, "scale": (0.9, 0.9)}, None, {"scale": (0.8, 0.9)}),
        (OpAugSqueeze3Dto2D, {"key": KEY, "axis_squeeze": 1}, None, {"axis_squeeze": 2}),
        (OpAugUnsqueeze3DFrom2D, {"key": KEY, "axis_squeeze": 1, "channels": 1}, None, {"channels": 2}),
        (OpCrop3D, {"key": KEY, "output_shape": (2, 2, 2)}, None, {"fill": 1}),
        (lambda: OpResizeTo(True), {"key": KEY, "output_shape": (4, 4)}, OpResizeTo(False), {"order": 0}),
        (OpRotation3D, {"key": KEY, "z_rot": Uniform(-5, 5)}, None, {"z_rot": Uniform(-6, 5)}),
        (OpAugColor, {"key": KEY, "add": 0.1}, OpAugColor(verify_arguments=False), {"mul": 1.1}),
        (OpAugGaussian, {"key": KEY, "std": 0.1}, OpAugGaussian(seed=1), {"std": 0.2}),
    ],
)
def test_cache_identity_is_stable_and_follows_arguments(
    make: Any, kwargs: dict[str, Any], changed_op: Any, changed_kwargs: dict[str, Any]
) -> None:
    assert _identity(make(), kwargs) == _identity(make(), dict(kwargs))
    assert _identity(make(), kwargs) != _identity(make(), {**kwargs, **changed_kwargs})
    if changed_op is not None:
        assert _identity(make(), kwargs) != _identity(changed_op, kwargs)


def test_ops_survive_pickling_for_dataloader_workers() -> None:
    ops = [OpAugAffine2D(False), OpAugCropAndResize2D(), OpResizeTo(True), OpRotation3D(), OpAugGaussian(seed=5)]
    for op in ops:
        restored = pickle.loads(pickle.dumps(op))
        assert restored.cache_identity() == op.cache_identity()
    image = np.zeros(3)
    restored_noise = _run(pickle.loads(pickle.dumps(OpAugGaussian(seed=5))), image)
    np.testing.assert_array_equal(restored_noise, _run(OpAugGaussian(seed=5), image))


# ---------------------------------------------------------------------------------------------------------- device
@pytest.mark.cuda
def test_cuda_tensors_stay_on_the_device_with_the_cpu_results() -> None:
    image, volume = torch.rand(2, 12, 12), torch.rand(6, 10, 10)
    cases: list[tuple[Any, Any, dict[str, Any]]] = [
        (OpAugAffine2D, image, {"rotate": 20.0, "translate": (1, -2), "scale": 1.1, "flip": (True, False)}),
        (OpAugCropAndResize2D, image, {"scale": (0.7, 1.3)}),
        (functools.partial(OpResizeTo, channels_first=True), image, {"output_shape": (6, 6)}),
        (OpRotation3D, volume, {"z_rot": 15.0, "x_rot": 5.0, "interpolation": "bilinear"}),
        (OpAugColor, image, {"add": 0.1, "gamma": 1.2, "contrast": 0.9}),
        (functools.partial(OpAugGaussian, seed=0), image, {"std": 0.1}),
    ]
    for make_op, value, kwargs in cases:
        expected = _run(make_op(), value, **kwargs)
        result = _run(make_op(), value.cuda(), **kwargs)
        assert result.device.type == "cuda", make_op
        assert result.dtype == expected.dtype
        torch.testing.assert_close(result.cpu(), expected, atol=1e-4, rtol=1e-4)
