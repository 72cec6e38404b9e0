"""ISIC's training shift is FuseMedML's share of the image (50 of its fixed 300 pixels) at any ``resize_to``: 50
pixels of a 40-pixel image would push the lesion out of the picture."""

from __future__ import annotations

import pytest

from fuse.core import RandInt
from fuse.imaging import OpAugAffine2D
from fuse.imaging.datasets import ISIC


def _translate(resize_to: tuple[int, int]) -> tuple[RandInt, RandInt]:
    steps = [
        kwargs
        for op, kwargs in ISIC.dynamic_pipeline(train=True, resize_to=resize_to).ops_and_kwargs
        if isinstance(getattr(op, "op", None), OpAugAffine2D)
    ]
    assert len(steps) == 1
    columns, rows = steps[0]["translate"]  # (dx, dy): columns, then rows
    return columns, rows


@pytest.mark.parametrize(
    ("resize_to", "columns", "rows"), [((300, 300), 50, 50), ((60, 120), 20, 10), ((40, 40), 7, 7)]
)
def test_the_shift_scales_with_the_image(resize_to: tuple[int, int], columns: int, rows: int) -> None:
    dx, dy = _translate(resize_to)
    assert (dx.min, dx.max, dy.min, dy.max) == (-columns, columns, -rows, rows)
