"""OpVis2DImage and OpVisImageHist write readable PNG files (opened with Pillow) that show the image / histogram,
named after the sanitized sample id; sample selection, showing instead of saving, a clear error without
matplotlib, and stable cache identities."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from fuse.data import PipelineDefault
from fuse.imaging import OpVis2DImage, OpVisImageHist
from fuse_imaging_ops_support import KEY
from fuse_imaging_ops_support import sample_with as _sample

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed (pip install matplotlib)"
)


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as png:
        assert png.format == "PNG"
        return np.asarray(png.convert("RGB"))


def _count_color(pixels: np.ndarray, color: tuple[int, int, int], tolerance: int = 8) -> int:
    return int((np.abs(pixels.astype(int) - np.array(color)).max(axis=-1) <= tolerance).sum())


@needs_matplotlib
def test_vis_2d_image_saves_a_png_showing_the_image(tmp_path: Path) -> None:
    gradient = np.linspace(0.0, 1.0, 32 * 32).reshape(1, 32, 32)
    sample = _sample(gradient)
    result = OpVis2DImage(path=tmp_path)(sample, key=KEY)
    assert result is sample
    assert result[KEY] is gradient
    pixels = _png(tmp_path / "case_7.png")
    assert pixels.shape == (480, 640, 3)  # matplotlib's default figure at 100 dpi
    gray = pixels[(pixels[..., 0] == pixels[..., 1]) & (pixels[..., 1] == pixels[..., 2])]
    assert len(np.unique(gray[:, 0])) > 100  # the gray ramp is drawn


@needs_matplotlib
def test_vis_2d_image_rgb_channels_last_tensor_with_a_name_folder(tmp_path: Path) -> None:
    image = torch.zeros(16, 16, 3)
    image[4:12, 4:12, 0] = 1.0  # a red square on black
    op = OpVis2DImage(path=tmp_path, image_format="channels_last", name="debug")
    op(_sample(image, sample_id="site.A/case 2"), key=KEY)
    expected = tmp_path / "debug" / "site__A@case_2.png"
    assert op.output_file(_sample(image, sample_id="site.A/case 2")) == expected
    pixels = _png(expected)
    assert _count_color(pixels, (255, 0, 0)) > 5000
    assert _count_color(pixels, (0, 0, 0)) > 5000


@needs_matplotlib
def test_vis_2d_image_no_channels_clip_dtype_and_process_func(tmp_path: Path) -> None:
    seen: list[tuple[tuple[int, ...], np.dtype[Any]]] = []

    def process(image: np.ndarray) -> np.ndarray:
        seen.append((image.shape, image.dtype))
        return image

    image = np.arange(64.0).reshape(8, 8) * 10
    op = OpVis2DImage(path=tmp_path, image_format="no_channels", image_process_func=process)
    op(_sample(image), key=KEY, clip=(0, 255), dtype="int", cmap="viridis")
    assert seen == [((8, 8, 1), np.dtype(int))]
    pixels = _png(tmp_path / "case_7.png")
    assert _count_color(pixels, (253, 231, 37), tolerance=20) > 1000  # viridis' yellow for the clipped values


@needs_matplotlib
def test_vis_2d_image_selects_samples_and_checks_the_layout(tmp_path: Path) -> None:
    op = OpVis2DImage(path=tmp_path, num_samples=1)
    op(_sample(np.zeros((1, 4, 4)), "a"), key=KEY)
    op(_sample(np.zeros((1, 4, 4)), "b"), key=KEY)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.png"]
    with pytest.raises(
        ValueError, match=r"'c'.*image_format='channels_first' expects 3 dimensions, got shape \(4, 4\)"
    ):
        OpVis2DImage(path=tmp_path)(_sample(np.zeros((4, 4)), "c"), key=KEY)
    with pytest.raises(ValueError, match="draws images with 1, 3 or 4 channels"):
        OpVis2DImage(path=tmp_path)(_sample(np.zeros((2, 4, 4)), "d"), key=KEY)
    with pytest.raises(ValueError, match=r"image_format must be one of \['channels_first', 'channels_last', 'no_ch"):
        OpVis2DImage(image_format="CHW")


@needs_matplotlib
def test_vis_image_hist_saves_a_png_with_the_bars(tmp_path: Path) -> None:
    values = torch.from_numpy(np.random.default_rng(0).normal(size=(1, 64, 64)))
    op = OpVisImageHist(path=tmp_path, name="hist")
    op(_sample(values, sample_id=("fold", 3)), key=KEY, bins=20)
    pixels = _png(tmp_path / "hist" / "hist_('fold',_3).png")
    assert _count_color(pixels, (31, 119, 180)) > 10_000  # matplotlib's default bar colour C0


@needs_matplotlib
def test_vis_image_hist_gives_the_process_func_a_channels_last_image(tmp_path: Path) -> None:
    shapes: list[tuple[int, ...]] = []

    def process(image: np.ndarray) -> np.ndarray:
        shapes.append(image.shape)
        return image

    OpVisImageHist(path=tmp_path, image_process_func=process)(_sample(np.zeros((3, 5, 6))), key=KEY)
    assert shapes == [(5, 6, 3)]
    assert (tmp_path / "hist_case_7.png").is_file()


@needs_matplotlib
def test_show_displays_with_pyplot_instead_of_saving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown: list[Any] = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    OpVis2DImage(show=True, path=tmp_path)(_sample(np.zeros((1, 4, 4))), key=KEY)
    OpVisImageHist(show=True, path=tmp_path)(_sample(np.zeros((1, 4, 4))), key=KEY)
    assert len(shown) == 2
    assert list(tmp_path.iterdir()) == []
    assert plt.get_fignums() == []  # closed after showing


def test_missing_matplotlib_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg", "matplotlib.pyplot"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r"OpVis2DImage draws with matplotlib.*pip install matplotlib"):
        OpVis2DImage(path=tmp_path)(_sample(np.zeros((1, 4, 4))), key=KEY)
    with pytest.raises(ImportError, match=r"OpVisImageHist draws with matplotlib.*pip install matplotlib"):
        OpVisImageHist(show=True)(_sample(np.zeros((1, 4, 4))), key=KEY)


@pytest.mark.parametrize(
    ("op", "changed_op", "kwargs", "changed_kwargs"),
    [
        (OpVis2DImage(path="a"), OpVis2DImage(path="b"), {"key": KEY}, {"key": KEY, "clip": (0, 1)}),
        (OpVisImageHist(), OpVisImageHist(image_format="no_channels"), {"key": KEY}, {"key": KEY, "bins": 5}),
    ],
)
def test_cache_identity_is_stable_and_follows_arguments(
    op: Any, changed_op: Any, kwargs: dict[str, Any], changed_kwargs: dict[str, Any]
) -> None:
    def identity(op: Any, kwargs: dict[str, Any]) -> str:
        return PipelineDefault("p", [(op, kwargs)]).cache_identity()

    assert identity(op, kwargs) == identity(type(op)(**op.init_arguments()), dict(kwargs))
    assert identity(op, kwargs) != identity(changed_op, kwargs)
    assert identity(op, kwargs) != identity(op, changed_kwargs)
