"""Shape ops against independent computations (numpy transposes, scipy.ndimage.zoom, a brute-force flood fill,
np.pad): values, dtypes, numpy and torch, no in-place changes, errors naming the sample, cache identities."""

from __future__ import annotations

import functools
from collections import deque
from typing import Any

import numpy as np
import pytest
import torch
from scipy import ndimage

from fuse.imaging import (
    OpFindBiggestNonEmptyBbox2D,
    OpFlipBrightSideOnLeft2D,
)
from fuse_imaging_ops_support import equal as _equal
from fuse_imaging_ops_support import run_op as _run


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
