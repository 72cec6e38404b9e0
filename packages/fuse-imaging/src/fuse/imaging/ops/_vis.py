"""Visual debugging ops (FuseMedML's ``fuseimg/data/ops/ops_debug.py``): :class:`OpVis2DImage` draws an image and
:class:`OpVisImageHist` the histogram of its values, for selected samples, and pass the sample on unchanged.

They need matplotlib (``pip install matplotlib``), imported when a sample is first drawn. By default
(``show=False``) the figure is drawn with matplotlib's Agg renderer, without pyplot (so no GUI and no global
figure state), and saved as a PNG file under ``path`` (in the sub-folder ``name`` when the op has a name), named
after the sample id (``/``, spaces and other characters that are not allowed in file names replaced, ``.`` by
``__``). ``show=True`` displays it with ``matplotlib.pyplot.show()`` instead.

Being debug ops (:class:`fuse.data.OpDebugBase`), they accept ``name``, ``sample_ids`` and ``num_samples`` to
choose which samples to draw; put them in the dynamic pipeline (in a static one they change the cache identity).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fuse.core import NDict, get_valid_filename, is_tensor, to_numpy
from fuse.data import Cast, OpDebugBase, sample_value
from fuse.imaging.ops._common import _image_value, _op_name, _where

__all__ = ["OpVis2DImage", "OpVisImageHist"]

_IMAGE_FORMATS = ("channels_first", "channels_last", "no_channels")


def _matplotlib_figure(op: object, figure_kwargs: dict[str, Any] | None, show: bool) -> Any:
    """A new matplotlib ``Figure``: a pyplot one to show, else one drawn by the Agg renderer (no pyplot)."""
    try:
        if show:
            import matplotlib.pyplot as plt

            return plt.figure(**(figure_kwargs or {}))
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            f"{_op_name(op)} draws with matplotlib, which is not installed: pip install matplotlib"
        ) from error
    figure = Figure(**(figure_kwargs or {}))
    FigureCanvasAgg(figure)
    return figure


def _as_numpy(op: object, sample_dict: NDict, key: str) -> np.ndarray:
    """``sample[key]`` as a numpy array to draw (a tensor is copied: ``image_process_func`` may write into it)."""
    image = _image_value(op, sample_dict, key)
    return np.array(to_numpy(image)) if is_tensor(image) else image


def _check_image_format(op: object, image_format: str) -> None:
    if image_format not in _IMAGE_FORMATS:
        raise ValueError(f"{_op_name(op)}: image_format must be one of {list(_IMAGE_FORMATS)}, got {image_format!r}")


class _OpVisBase(OpDebugBase):
    """Shared constructor and output of the visualisation ops."""

    _file_prefix = ""

    def __init__(
        self,
        show: bool = False,
        path: str | Path = ".",
        image_format: str = "channels_first",
        image_process_func: Callable[[np.ndarray], np.ndarray] | None = None,
        name: str | None = None,
        sample_ids: Sequence[Hashable] | None = None,
        num_samples: int = 0,
    ) -> None:
        super().__init__(name=name, sample_ids=sample_ids, num_samples=num_samples)
        _check_image_format(self, image_format)
        self._show = show
        self._path = Path(path)
        self._image_format = image_format
        self._image_process_func = image_process_func

    def output_file(self, sample_dict: NDict) -> Path:
        """The PNG file this op writes for ``sample_dict`` (when ``show=False``)."""
        sample_id = sample_value(sample_dict, "data.sample_id", self)
        stem = get_valid_filename(str(sample_id)).replace(".", "__")
        folder = self._path if self._name is None else self._path / self._name
        return folder / f"{self._file_prefix}{stem}.png"

    def _finish(self, figure: Any, sample_dict: NDict) -> None:
        if self._show:
            import matplotlib.pyplot as plt

            plt.show()
            plt.close(figure)
            return
        filename = self.output_file(sample_dict)
        filename.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(filename)


class OpVis2DImage(_OpVisBase):
    """Draw a 2-D image (gray scale or RGB / RGBA) and save it as ``<path>/[<name>/]<sample id>.png``.

    :param show: display the figure (``matplotlib.pyplot.show()``) instead of saving it.
    :param path: the folder of the PNG files.
    :param image_format: ``"channels_first"`` (``[C, H, W]``), ``"channels_last"`` (``[H, W, C]``) or
        ``"no_channels"`` (``[H, W]``); ``C`` is 1 (drawn gray unless a ``cmap`` is given), 3 or 4.
    :param image_process_func: applied to the channels-last numpy image before drawing (e.g. to rescale it to a
        range matplotlib can show).
    :param name: a sub-folder of ``path`` for the files (and the label of the op).
    :param sample_ids: draw only these samples (``None``: any).
    :param num_samples: draw at most this many samples (per process); ``0``: no limit.

    Per-call arguments: ``key``; ``clip`` (``(low, high)`` for ``numpy.clip``); ``dtype`` (convert before drawing,
    e.g. ``"int"`` for values in ``[0, 255]``); ``figure_kwargs`` (for the matplotlib ``Figure``); others go to
    ``imshow``.

    >>> import tempfile
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case_1")
    >>> sample["data.input.img"] = np.linspace(0.0, 1.0, 64).reshape(1, 8, 8)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     op = OpVis2DImage(path=folder)
    ...     _ = op(sample, key="data.input.img")
    ...     print(op.output_file(sample).name, op.output_file(sample).is_file())
    case_1.png True
    """

    def call_debug(  # type: ignore[override]
        self,
        sample_dict: NDict,
        key: str,
        clip: tuple[float, float] | None = None,
        dtype: Any = None,
        figure_kwargs: dict[str, Any] | None = None,
        **imshow_kwargs: Any,
    ) -> None:
        """Draw ``sample[key]`` and save (or show) the figure."""
        image = _as_numpy(self, sample_dict, key)
        expected_ndim = 2 if self._image_format == "no_channels" else 3
        if image.ndim != expected_ndim:
            raise ValueError(
                f"{_where(self, sample_dict, key)}: image_format="
                f"{self._image_format!r} expects {expected_ndim} dimensions, got shape {image.shape}; choose the "
                f"image_format that fits (one of {list(_IMAGE_FORMATS)})"
            )
        if clip is not None:
            image = np.clip(image, *clip)
        if dtype is not None:
            image = Cast.to_numpy(image, dtype=dtype)
        if self._image_format == "channels_first":
            image = np.moveaxis(image, 0, -1)
        elif self._image_format == "no_channels":
            image = image[..., np.newaxis]
        if self._image_process_func is not None:
            image = self._image_process_func(image)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
            imshow_kwargs.setdefault("cmap", "gray")
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (3, 4))):
            raise ValueError(
                f"{_where(self, sample_dict, key)}: OpVis2DImage draws images with 1, 3 or 4 "
                f"channels, got an image of shape {image.shape} (channels last) to draw"
            )
        figure = _matplotlib_figure(self, figure_kwargs, self._show)
        figure.gca().imshow(image, **imshow_kwargs)
        self._finish(figure, sample_dict)


class OpVisImageHist(_OpVisBase):
    """Draw the histogram of an image's values and save it as ``<path>/[<name>/]hist_<sample id>.png``.

    Constructor arguments as :class:`OpVis2DImage` (``image_format`` only matters to ``image_process_func``, which
    gets the channels-last image). Per-call arguments: ``key``, ``bins`` (default 10), ``figure_kwargs``; others
    go to matplotlib's ``hist``.

    >>> import tempfile
    >>> from fuse.core import create_initial_sample
    >>> sample = create_initial_sample("case/1")
    >>> sample["data.input.img"] = np.random.default_rng(0).normal(size=(1, 16, 16))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     op = OpVisImageHist(path=folder, name="hist")
    ...     _ = op(sample, key="data.input.img", bins=20)
    ...     print(op.output_file(sample).relative_to(folder).as_posix(), op.output_file(sample).is_file())
    hist/hist_case@1.png True
    """

    _file_prefix = "hist_"

    def call_debug(  # type: ignore[override]
        self,
        sample_dict: NDict,
        key: str,
        bins: int = 10,
        figure_kwargs: dict[str, Any] | None = None,
        **hist_kwargs: Any,
    ) -> None:
        """Draw the histogram of ``sample[key]`` and save (or show) the figure."""
        image = _as_numpy(self, sample_dict, key)
        if self._image_format == "channels_first" and image.ndim > 1:
            image = np.moveaxis(image, 0, -1)
        if self._image_process_func is not None:
            image = self._image_process_func(image)
        figure = _matplotlib_figure(self, figure_kwargs, self._show)
        figure.gca().hist(np.asarray(image).ravel(), bins=bins, **hist_kwargs)
        self._finish(figure, sample_dict)
