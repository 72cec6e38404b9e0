"""Shape ops against independent computations (numpy transposes, scipy.ndimage.zoom, a brute-force flood fill,
np.pad): values, dtypes, numpy and torch, no in-place changes, errors naming the sample, cache identities."""

from __future__ import annotations

import functools
import warnings
from collections import deque
from typing import Any

import numpy as np
import pytest
import torch
from scipy import ndimage

from fuse.core import NDict, create_initial_sample
from fuse.data import MissingSampleKeyError, PipelineDefault
from fuse.imaging import (
    OpCHWToHWC,
    OpFindBiggestNonEmptyBbox2D,
    OpFlipBrightSideOnLeft2D,
    OpHWCToCHW,
    OpPad,
    OpResizeAndPad2D,
    OpSelectSlice,
)
from fuse.imaging._ops_shape import op_select_slice_img_and_seg

KEY = "data.input.img"


def _sample(image: Any, sample_id: str = "case_7") -> NDict:
    sample = create_initial_sample(sample_id)
    sample[KEY] = image
    return sample


def _run(op: Any, image: Any, **kwargs: Any) -> Any:
    return op(_sample(image), key=KEY, **kwargs)[KEY]


def _copy(image: Any) -> Any:
    return image.clone() if isinstance(image, torch.Tensor) else image.copy()


def _numpy(value: Any) -> np.ndarray[Any, Any]:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value)


def _equal(a: Any, b: Any) -> bool:
    """Same shape and values (an array, a tensor or nested lists)."""
    a, b = _numpy(a), _numpy(b)
    return a.shape == b.shape and bool((a == b).all())


def _smooth(height: int, width: int) -> np.ndarray[Any, Any]:
    rows, cols = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    return (0.5 + 0.25 * np.sin(2 * np.pi * rows) * np.cos(np.pi * cols) + 0.2 * rows * cols).astype(np.float32)


# ---------------------------------------------------------------------------------------------- channel axis
@pytest.mark.parametrize("to_tensor", [False, True])
def test_hwc_to_chw_and_back(to_tensor: bool) -> None:
    values = np.arange(5 * 7 * 3).reshape(5, 7, 3)
    image: Any = torch.from_numpy(values.copy()) if to_tensor else values.copy()
    chw = _run(OpHWCToCHW(), image)
    assert type(chw) is type(image)
    assert _equal(chw, np.transpose(values, (2, 0, 1)))
    assert _equal(chw[1], values[:, :, 1])
    hwc = _run(OpCHWToHWC(), chw)
    assert _equal(hwc, values)
    assert _equal(image, values)


@pytest.mark.parametrize("to_tensor", [False, True])
def test_2d_images_get_a_channel_axis(to_tensor: bool) -> None:
    values = np.arange(12).reshape(3, 4)
    image: Any = torch.from_numpy(values) if to_tensor else values
    assert _equal(_run(OpHWCToCHW(), image), values[None, :, :])
    assert _equal(_run(OpCHWToHWC(), image), values[:, :, None])


@pytest.mark.parametrize(
    ("op", "shape"),
    [(OpHWCToCHW(), (3, 32, 32)), (OpHWCToCHW(), (4, 4, 4)), (OpCHWToHWC(), (32, 32, 3)), (OpCHWToHWC(), (2, 3, 4, 5))],
)
def test_channel_axis_must_be_the_smallest(op: Any, shape: tuple[int, ...]) -> None:
    for image in (np.zeros(shape), torch.zeros(shape)):
        with pytest.raises(ValueError, match=rf"key 'data.input.img' of sample 'case_7' has shape \({shape[0]}, "):
            _run(op, image)


# ---------------------------------------------------------------------------------------------- select slice
@pytest.mark.parametrize("to_tensor", [False, True])
def test_select_slice(to_tensor: bool) -> None:
    values = np.arange(4 * 3 * 2).reshape(4, 3, 2)
    image: Any = torch.from_numpy(values) if to_tensor else values
    assert _equal(_run(OpSelectSlice(), image, slice_idx=2), values[2])
    assert _equal(_run(OpSelectSlice(), image, slice_idx=np.int64(-4)), values[0])
    flat = np.zeros((3, 3))
    assert _run(OpSelectSlice(), flat, slice_idx=10) is flat  # fewer than 3 dimensions: unchanged


@pytest.mark.parametrize("slice_idx", [4, -5, 1.0, True, "1", None])
def test_select_slice_rejects_bad_indices(slice_idx: Any) -> None:
    with pytest.raises(
        ValueError, match=r"sample 'case_7' \(shape \(4, 3, 2\)\): slice_idx must be an integer in \[-4, 3\]"
    ):
        _run(OpSelectSlice(), np.zeros((4, 3, 2)), slice_idx=slice_idx)


def test_select_slice_img_and_seg_instance() -> None:
    sample = create_initial_sample("case_1")
    sample["data.input.img"] = np.arange(8).reshape(2, 2, 2)
    sample["data.gt.seg"] = np.arange(8).reshape(2, 2, 2) * 10
    sample["data.other"] = np.arange(8).reshape(2, 2, 2)
    sample = op_select_slice_img_and_seg(sample, slice_idx=1)
    assert _equal(sample["data.input.img"], [[4, 5], [6, 7]])
    assert _equal(sample["data.gt.seg"], [[40, 50], [60, 70]])
    assert sample["data.other"].shape == (2, 2, 2)


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


# ---------------------------------------------------------------------------------------------- biggest bbox
def _brute_force_crop(image: np.ndarray[Any, Any], threshold: float, blocks: int) -> tuple[int, int, int, int] | None:
    """The documented rule, with loops and a breadth-first flood fill (8-connectivity) instead of scipy."""
    height, width = image.shape
    row_edges = [i * (height // blocks) for i in range(blocks)] + [height]
    col_edges = [j * (width // blocks) for j in range(blocks)] + [width]
    bright = [
        [
            float(image[row_edges[i] : row_edges[i + 1], col_edges[j] : col_edges[j + 1]].astype(float).mean())
            > threshold
            for j in range(blocks)
        ]
        for i in range(blocks)
    ]
    seen: set[tuple[int, int]] = set()
    best: list[tuple[int, int]] = []
    for i in range(blocks):  # row-major: a strictly larger group is needed to replace an earlier one
        for j in range(blocks):
            if not bright[i][j] or (i, j) in seen:
                continue
            group, queue = [], deque([(i, j)])
            seen.add((i, j))
            while queue:
                r, c = queue.popleft()
                group.append((r, c))
                for dr in (-1, 0, 1):
                    for dc in (-1, 0, 1):
                        n = (r + dr, c + dc)
                        if 0 <= n[0] < blocks and 0 <= n[1] < blocks and bright[n[0]][n[1]] and n not in seen:
                            seen.add(n)
                            queue.append(n)
            if len(group) > len(best):
                best = group
    if not best:
        return None
    rows = [r for r, _ in best]
    cols = [c for _, c in best]
    return row_edges[min(rows)], col_edges[min(cols)], row_edges[max(rows) + 1], col_edges[max(cols) + 1]


@functools.cache
def _blobs(seed: int) -> tuple[np.ndarray[Any, Any], float, int]:
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(40, 130)), int(rng.integers(40, 130))
    image = ndimage.gaussian_filter(rng.uniform(0, 255, (height, width)), sigma=float(rng.uniform(1.5, 4)))
    image = np.clip((image - image.mean()) * 8 + 60, 0, 255).astype(np.uint8)
    return image, float(rng.uniform(30, 90)), int(rng.integers(5, 31))


@pytest.mark.parametrize("seed", range(25))
def test_biggest_bbox_matches_a_brute_force_flood_fill(seed: int) -> None:
    image, threshold, blocks = _blobs(seed)
    crop = _brute_force_crop(image, threshold, blocks)
    op = OpFindBiggestNonEmptyBbox2D(dark_area_threshold=threshold, blocks_num=blocks)
    if crop is None:
        with pytest.warns(UserWarning, match="left uncropped"):
            result = _run(op, image)
        assert _equal(result, image)
        return
    assert _equal(_run(op, image), image[crop[0] : crop[2], crop[1] : crop[3]])
    tensor_result = _run(op, torch.from_numpy(image))
    assert isinstance(tensor_result, torch.Tensor)
    assert _equal(tensor_result, image[crop[0] : crop[2], crop[1] : crop[3]])


def test_biggest_bbox_blobs_are_non_trivial() -> None:
    shapes = {_blobs(seed)[0].shape for seed in range(25)}
    crops = [_brute_force_crop(*_blobs(seed)) for seed in range(25)]
    partial = [crop for seed, crop in enumerate(crops) if crop not in (None, (0, 0, *_blobs(seed)[0].shape))]
    assert len(partial) >= 10  # the random cases really crop, over varied image sizes
    assert len(shapes) > 20


def test_biggest_bbox_ties_go_to_the_first_group_and_diagonals_connect() -> None:
    image = np.zeros((30, 30), dtype=np.uint8)
    image[20:22, 2:4] = image[22:24, 4:6] = 255  # 2 diagonal blocks (blocks_num=15: 2 x 2 pixel blocks): one group
    image[4:6, 20:22] = image[4:6, 22:24] = 255  # 2 blocks side by side, earlier in row-major order
    result = _run(OpFindBiggestNonEmptyBbox2D(blocks_num=15), image)
    assert _equal(result, image[4:6, 20:24])
    image[24:26, 6:8] = 255  # a third block touching the diagonal group at a corner
    assert _equal(_run(OpFindBiggestNonEmptyBbox2D(blocks_num=15), image), image[20:26, 2:8])


def test_biggest_bbox_keeps_the_last_rows_and_columns() -> None:
    image = np.zeros((65, 67), dtype=np.uint8)  # 30 blocks of 2 pixels; the last ones take 7 and 9 pixels
    image[60:, 61:] = 200
    result = _run(OpFindBiggestNonEmptyBbox2D(), image)
    assert _equal(result, image[58:, 58:])  # FuseMedML dropped row 64 and column 66 (and the remainder)


def test_biggest_bbox_without_bright_blocks_warns_and_copies() -> None:
    image = torch.zeros((40, 40))
    with pytest.warns(UserWarning, match=r"key 'data.input.img' of sample 'case_7': no block is brighter"):
        result = _run(OpFindBiggestNonEmptyBbox2D(), image)
    assert torch.equal(result, image)
    assert result.data_ptr() != image.data_ptr()


def test_biggest_bbox_returns_a_copy_and_checks_the_shape() -> None:
    image = np.full((60, 60), 100, dtype=np.uint8)
    result = _run(OpFindBiggestNonEmptyBbox2D(), image)
    assert _equal(result, image)
    assert not np.shares_memory(result, image)
    for shape in ((29, 60), (60, 60, 3)):
        with pytest.raises(ValueError, match=r"sample 'case_7' has shape .* needs a 2-D image with at least 30 rows"):
            _run(OpFindBiggestNonEmptyBbox2D(), np.zeros(shape))
    with pytest.raises(ValueError, match="blocks_num must be an integer >= 1, got 0"):
        OpFindBiggestNonEmptyBbox2D(blocks_num=0)


# ---------------------------------------------------------------------------------------------- bright side left
def _dark_counts(image: np.ndarray[Any, Any], threshold: float) -> tuple[int, int]:
    half = image.shape[1] // 2
    return int(np.count_nonzero(image[:, :half] < threshold)), int(np.count_nonzero(image[:, half:] < threshold))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("to_tensor", [False, True])
def test_flip_bright_side_on_left_follows_the_rule(seed: int, to_tensor: bool) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 40, size=(9, int(rng.integers(6, 12)))).astype(np.uint8)
    image: Any = torch.from_numpy(values.copy()) if to_tensor else values.copy()
    result = _run(OpFlipBrightSideOnLeft2D(), image)
    left, right = _dark_counts(values, 255 / 15)
    assert _equal(result, values if left < right else values[:, ::-1])
    assert _equal(image, values)
    assert type(result) is type(image)


def test_flip_bright_side_on_left_cases() -> None:
    op = OpFlipBrightSideOnLeft2D(max_pixel_value=1.0, dark_region_ratio=2.0)  # dark: below 0.5
    bright_left = np.array([[0.9, 0.6, 0.1], [0.8, 0.2, 0.1]])
    result = _run(op, bright_left)
    assert _equal(result, bright_left)
    assert not np.shares_memory(result, bright_left)
    assert _equal(_run(op, bright_left[:, ::-1]), bright_left)
    tie = np.array([[0.9, 0.1], [0.1, 0.9]])  # one dark pixel on each side: flipped
    assert _equal(_run(op, tie), tie[:, ::-1])
    # odd width: the middle column belongs to the right half
    odd = np.array([[0.9, 0.1, 0.9]])  # left [0.9]: 0 dark; right [0.1, 0.9]: 1 dark
    assert _equal(_run(op, odd), odd)


def test_flip_bright_side_on_left_errors() -> None:
    with pytest.raises(ValueError, match=r"sample 'case_7' has shape \(2, 3, 4\); expected a 2-D"):
        _run(OpFlipBrightSideOnLeft2D(), np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="dark_region_ratio must be > 0, got 0"):
        OpFlipBrightSideOnLeft2D(dark_region_ratio=0)


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


def test_missing_key_and_wrong_type_name_the_sample() -> None:
    for op in (OpHWCToCHW(), OpFindBiggestNonEmptyBbox2D(), OpFlipBrightSideOnLeft2D()):
        with pytest.raises(MissingSampleKeyError, match=rf"{type(op).__name__}: sample 'case_7' has no key 'data.x'"):
            op(_sample(np.zeros((2, 2))), key="data.x")
    with pytest.raises(TypeError, match=r"OpPad: key 'data.input.img' of sample 'case_7' holds a builtins.list"):
        _run(OpPad(), [[1, 2]], padding=1)


def test_no_warnings_on_ordinary_inputs() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run(OpResizeAndPad2D(), np.ones((64, 64), dtype=np.uint16), resize_to=(32, 32), padding=(2, 2))
        _run(OpFindBiggestNonEmptyBbox2D(), np.full((64, 64), 50, dtype=np.uint16))
        _run(OpPad(), torch.ones((3, 8, 8)), padding=2, mode="symmetric")


# ---------------------------------------------------------------------------------------------- cache identity
def _identity(op: Any, **kwargs: Any) -> str:
    return PipelineDefault("p", [(op, {"key": KEY, **kwargs})]).cache_identity()


def test_cache_identities_are_stable_and_change_with_arguments() -> None:
    pairs = [
        (lambda: OpResizeAndPad2D(number_of_channels=3, pad_value=0), lambda: OpResizeAndPad2D(3, pad_value=1)),
        (lambda: OpResizeAndPad2D(number_of_channels=1), lambda: OpResizeAndPad2D(number_of_channels=3)),
        (lambda: OpFindBiggestNonEmptyBbox2D(10, 30), lambda: OpFindBiggestNonEmptyBbox2D(10, 20)),
        (lambda: OpFindBiggestNonEmptyBbox2D(10, 30), lambda: OpFindBiggestNonEmptyBbox2D(11, 30)),
        (lambda: OpFlipBrightSideOnLeft2D(255.0, 15.0), lambda: OpFlipBrightSideOnLeft2D(4095.0, 15.0)),
        (lambda: OpFlipBrightSideOnLeft2D(255.0, 15.0), lambda: OpFlipBrightSideOnLeft2D(255.0, 10.0)),
    ]
    for make, make_other in pairs:
        assert _identity(make()) == _identity(make())
        assert _identity(make()) != _identity(make_other())
    for op in (OpHWCToCHW, OpCHWToHWC, OpSelectSlice, OpPad):
        assert _identity(op()) == _identity(op())
    assert _identity(OpPad(), padding=1) != _identity(OpPad(), padding=2)
    assert _identity(OpSelectSlice(), slice_idx=0) != _identity(OpSelectSlice(), slice_idx=1)
    assert len({_identity(op()) for op in (OpHWCToCHW, OpCHWToHWC, OpSelectSlice, OpPad)}) == 4


# ---------------------------------------------------------------------------------------------- device
@pytest.mark.cuda
def test_cuda_tensors_stay_on_the_device_with_the_cpu_results() -> None:
    image = torch.from_numpy(_blobs(3)[0])
    cases: list[tuple[Any, dict[str, Any]]] = [
        (OpHWCToCHW(), {}),
        (OpSelectSlice(), {"slice_idx": 0}),
        (OpFindBiggestNonEmptyBbox2D(dark_area_threshold=40, blocks_num=8), {}),
        (OpFlipBrightSideOnLeft2D(), {}),
        (OpPad(), {"padding": (1, 2), "fill": 5}),
        (OpPad(), {"padding": 3, "mode": "symmetric"}),
    ]
    for op, kwargs in cases:
        expected = _run(op, image, **kwargs)
        result = _run(op, image.cuda(), **kwargs)
        assert result.device.type == "cuda"
        assert torch.equal(result.cpu(), expected)
    resized = _run(OpResizeAndPad2D(), image.cuda(), resize_to=(30, 30), padding=(2, 2))
    assert resized.device.type == "cuda"
    expected = _run(OpResizeAndPad2D(), image, resize_to=(30, 30), padding=(2, 2))
    torch.testing.assert_close(resized.cpu(), expected, atol=1e-3, rtol=1e-5)
