"""Shape ops against independent computations (numpy transposes, scipy.ndimage.zoom, a brute-force flood fill,
np.pad): values, dtypes, numpy and torch, no in-place changes, errors naming the sample, cache identities."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from scipy import ndimage

from fuse.imaging import (
    OpCrop3D,
    OpPad,
    OpResizeAndPad2D,
    OpResizeTo,
)
from fuse_imaging_ops_support import copy_of as _copy
from fuse_imaging_ops_support import equal as _equal
from fuse_imaging_ops_support import rng as _rng
from fuse_imaging_ops_support import run_op as _run
from fuse_imaging_ops_support import smooth as _smooth


# ---------------------------------------------------------------------------------------------- resize and pad
def test_resize_matches_scipy_zoom_on_a_smooth_image() -> None:
    image = _smooth(240, 360)
    result = _run(OpResizeAndPad2D(), image, resize_to=(100, 100), padding=None)
    assert result.shape == (66, 100)  # scale 100/360 (the width binds): 240 * 100 / 360 = 66.7 -> 66
    assert result.dtype == np.float32
    reference = ndimage.zoom(image.astype(np.float64), (66 / 240, 100 / 360), order=1, grid_mode=True, mode="nearest")
    assert reference.shape == result.shape
    assert np.abs(result - reference).max() < 0.005  # measured 0.002; a one-pixel shift gives 0.009
    np.testing.assert_array_equal(image, _smooth(240, 360))


def test_resize_anti_aliases() -> None:
    checkerboard = (np.indices((200, 200)).sum(axis=0) % 2).astype(np.float64)
    result = _run(OpResizeAndPad2D(), checkerboard, resize_to=(50, 50), padding=None)
    assert result.shape == (50, 50)
    assert result.dtype == np.float64
    assert np.abs(result - 0.5).max() < 0.05  # aliasing would leave values near 0 and 1


@pytest.mark.parametrize(
    ("shape", "resize_to", "expected"),
    [
        ((400, 200), (100, 100), (100, 50)),
        ((200, 400), (100, 100), (50, 100)),
        ((300, 7), (100, 1000), (100, 2)),  # 7 / 3 = 2.33 -> 2
        ((1000, 3), (10, 10), (10, 1)),  # 0.03 -> at least one pixel
        ((120, 80), (100, 100), (100, 66)),
        ((50, 40), (100, 100), (50, 40)),  # never enlarged
        ((100, 100), (100, 100), (100, 100)),
    ],
)
def test_resize_size_keeps_the_aspect_ratio_and_only_downscales(
    shape: tuple[int, int], resize_to: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert _run(OpResizeAndPad2D(), np.ones(shape), resize_to=resize_to, padding=None).shape == expected


@pytest.mark.parametrize("to_tensor", [False, True])
def test_pad_centres_the_image_on_the_canvas(to_tensor: bool) -> None:
    values = np.arange(1, 50 * 41 + 1, dtype=np.float32).reshape(50, 41)
    image: Any = torch.from_numpy(values.copy()) if to_tensor else values.copy()
    result = _run(OpResizeAndPad2D(pad_value=-1), image, resize_to=(60, 60), padding=(2, 3))
    expected = np.full((64, 66), -1, dtype=np.float32)
    expected[7:57, 12:53] = values  # offsets (64 - 50) // 2 and (66 - 41) // 2
    assert type(result) is type(image)
    assert _equal(result, expected)
    assert np.asarray(result).dtype == np.float32
    assert _equal(image, values)


def test_channel_first_images_resize_each_channel_like_a_2d_image() -> None:
    channels = np.stack([_smooth(90, 60), 1 - _smooth(90, 60), np.full((90, 60), 0.25, dtype=np.float32)])
    result = _run(OpResizeAndPad2D(number_of_channels=3, pad_value=9), channels, resize_to=(30, 30), padding=(1, 0))
    assert result.shape == (3, 32, 30)
    for index in range(3):
        single = _run(OpResizeAndPad2D(pad_value=9), channels[index], resize_to=(30, 30), padding=(1, 0))
        np.testing.assert_allclose(result[index], single, atol=1e-6)
    assert (result[:, :, :5] == 9).all()  # (30 - 20) // 2 = 5 columns of padding on the left
    np.testing.assert_allclose(result[2, 1:31, 5:25], 0.25, atol=1e-6)
    one_channel = _run(OpResizeAndPad2D(), channels[:1], resize_to=(30, 30), padding=(0, 0))
    assert one_channel.shape == (1, 30, 30)


@pytest.mark.parametrize(
    ("image", "dtype"),
    [
        (np.full((40, 40), 3, dtype=np.uint8), np.float32),
        (np.full((40, 40), True), np.float32),
        (np.full((40, 40), 3.0), np.float64),
        (torch.full((40, 40), 3, dtype=torch.int16), torch.float32),
        (torch.full((40, 40), 3.0, dtype=torch.float16), torch.float16),
        (torch.full((40, 40), 3.0, dtype=torch.bfloat16), torch.bfloat16),
    ],
)
def test_resize_and_pad_dtypes(image: Any, dtype: Any) -> None:
    original = _copy(image)
    for resize_to, padding in (((20, 20), (1, 1)), ((50, 50), None), (None, None)):
        result = _run(OpResizeAndPad2D(), image, resize_to=resize_to, padding=padding)
        assert type(result) is type(image)
        assert result.dtype == dtype
    assert _equal(image, original)


def test_resize_and_pad_non_contiguous_read_only_and_big_endian_arrays() -> None:
    image = _smooth(60, 90)
    expected = _run(OpResizeAndPad2D(), image.T.copy(), resize_to=(45, 45), padding=None)
    read_only = image.T.copy()
    read_only.flags.writeable = False
    big_endian = image.T.astype(">f4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for variant in (image.T, read_only, big_endian):  # a transposed view, a read-only array, '>f4'
            result = _run(OpResizeAndPad2D(), variant, resize_to=(45, 45), padding=None)
            assert result.dtype == np.float32
            np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize(
    ("channels", "shape", "kwargs", "message"),
    [
        (3, (40, 40), {"resize_to": (10, 10), "padding": None}, r"has shape \(40, 40\); .* expects \[3, H, W\]"),
        (1, (3, 40, 40), {"resize_to": (10, 10), "padding": None}, r"expects \[H, W\] or \[1, H, W\]"),
        (1, (0, 40), {"resize_to": (10, 10), "padding": None}, r"non-empty"),
        (1, (40, 40), {"resize_to": (0, 10), "padding": None}, r"resize_to must be a pair of integers >= 1"),
        (1, (40, 40), {"resize_to": (10, 10), "padding": (-1, 0)}, r"padding must be a pair of integers >= 0"),
        (1, (40, 40), {"resize_to": (10.5, 10), "padding": None}, r"resize_to must be a pair of integers >= 1"),
        (1, (40, 40), {"resize_to": None, "padding": (1, 1)}, r"padding=\(1, 1\) needs resize_to"),
    ],
)
def test_resize_and_pad_errors(channels: int, shape: tuple[int, ...], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=rf"OpResizeAndPad2D: key 'data.input.img' of sample 'case_7'.*{message}"):
        _run(OpResizeAndPad2D(number_of_channels=channels), np.zeros(shape), **kwargs)


def test_resize_and_pad_constructor_checks() -> None:
    with pytest.raises(ValueError, match="number_of_channels must be an integer >= 1, got 0"):
        OpResizeAndPad2D(number_of_channels=0)
    with pytest.raises(ValueError, match="pad_value must be a number, got 'black'"):
        OpResizeAndPad2D(pad_value="black")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- pad
def test_fusemedml_op_pad_example() -> None:
    """FuseMedML's fuseimg/data/ops/tests/test_ops.py::test_op_pad."""
    ones = [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
    for image in (torch.Tensor([[1]]), np.array([[1]])):
        assert _equal(_run(OpPad(), image, padding=1, fill=0, mode="constant"), np.array(ones))
    for image in (torch.Tensor([[42]]), np.array([[42]])):
        assert _equal(_run(OpPad(), image, padding=1, fill=42, mode="constant"), np.full((3, 3), 42))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
@pytest.mark.parametrize(
    ("padding", "width"),  # width: np.pad's pad_width for the last two axes
    [(2, ((2, 2), (2, 2))), ((1, 3), ((3, 3), (1, 1))), ((1, 2, 3, 4), ((2, 4), (1, 3))), ([0], ((0, 0), (0, 0)))],
)
@pytest.mark.parametrize("dtype", [np.int32, np.float32])
def test_pad_numpy_and_torch_match_np_pad(mode: str, padding: Any, width: Any, dtype: Any) -> None:
    values = np.arange(2 * 4 * 5).reshape(2, 4, 5).astype(dtype)
    fill = {"fill": 7} if mode == "constant" else {}
    expected_kwargs = {"constant_values": 7} if mode == "constant" else {}
    expected = np.pad(values, ((0, 0), *width), mode=mode, **expected_kwargs)  # type: ignore[call-overload]
    for image in (values.copy(), torch.from_numpy(values.copy())):
        result = _run(OpPad(), image, padding=padding, mode=mode, **fill)
        assert type(result) is type(image)
        assert _equal(result, expected)
        assert np.asarray(result).dtype == dtype
        assert _equal(image, values)


def test_pad_numpy_only_modes_and_np_pad_kwargs() -> None:
    values = np.arange(12, dtype=np.float64).reshape(3, 4)
    expected = np.pad(values, ((1, 1), (2, 2)), mode="reflect", reflect_type="odd")
    assert _equal(_run(OpPad(), values, padding=(2, 1), mode="reflect", reflect_type="odd"), expected)
    assert _equal(_run(OpPad(), values, padding=1, mode="mean"), np.pad(values, 1, mode="mean"))
    with pytest.raises(ValueError, match=r"mode must be one of \['constant', 'edge', 'reflect', 'symmetric', 'wrap'\]"):
        _run(OpPad(), torch.from_numpy(values), padding=1, mode="mean")
    with pytest.raises(ValueError, match=r"np.pad keyword arguments \['reflect_type'\] apply to numpy arrays only"):
        _run(OpPad(), torch.from_numpy(values), padding=1, mode="reflect", reflect_type="odd")
    with pytest.raises(ValueError, match="give the constant as fill"):
        _run(OpPad(), values, padding=1, constant_values=3)


def test_pad_fill_must_fit_the_dtype() -> None:
    for image in (np.zeros((2, 2), dtype=np.uint8), torch.zeros((2, 2), dtype=torch.uint8)):
        with pytest.raises(ValueError, match=r"so fill must be a whole number in \[0, 255\], got 300"):
            _run(OpPad(), image, padding=1, fill=300)
        with pytest.raises(ValueError, match=r"got 0.5"):
            _run(OpPad(), image, padding=1, fill=0.5)
        assert _equal(_run(OpPad(), image, padding=1, fill=255.0), np.pad(np.zeros((2, 2)), 1, constant_values=255))
    flags = torch.zeros((1, 1), dtype=torch.bool)
    assert _run(OpPad(), flags, padding=1, fill=True).sum() == 8
    with pytest.raises(ValueError, match="bool image, so fill must be 0, 1, False or True, got 2"):
        _run(OpPad(), flags, padding=1, fill=2)


@pytest.mark.parametrize(
    ("image", "kwargs", "message"),
    [
        (np.zeros(3), {"padding": 1}, r"has shape \(3,\); OpPad pads the last two axes"),
        (np.zeros((2, 2)), {"padding": -1}, r"padding must be an integer >= 0, got -1"),
        (
            np.zeros((2, 2)),
            {"padding": (1, 2, 3)},
            r"padding must be an integer or a sequence of 1, 2 .* got \(1, 2, 3\)",
        ),
        (np.zeros((2, 2)), {"padding": ((1, 1), (2, 2))}, r"padding must be an integer >= 0, got \(1, 1\)"),
        (np.zeros((2, 2)), {"padding": 1, "mode": "circular"}, r"mode must be one of .*got 'circular'"),
        (np.zeros((2, 2)), {"padding": 1, "fill": "x"}, r"fill must be a number, got 'x'"),
    ],
)
def test_pad_errors(image: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=rf"OpPad: key 'data.input.img' of sample 'case_7'.*{message}"):
        _run(OpPad(), image, **kwargs)


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
    with pytest.raises(ValueError, match=r"output_shape must be 3 integers >= 1, got \(1, 1\)"):
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
