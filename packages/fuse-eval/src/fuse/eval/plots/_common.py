"""Shared by the plots: matplotlib figures created and saved atomically, and value checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from fuse.core import AtomicFileWriter

__all__ = []


INSTALL_HINT = "pip install 'fuse-eval[plot]'"


def _new_figure(figsize: tuple[float, float], nrows: int = 1, **subplots: Any) -> tuple[Any, Any]:
    """A pyplot-free ``Figure`` and its axes; ``ImportError`` with the install hint when matplotlib is missing."""
    try:
        # matplotlib first: a cached submodule must not hide a missing matplotlib. The ignores let mypy run where the
        # optional extra is not installed (matplotlib is typed where it is).
        import matplotlib  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
        from matplotlib.figure import Figure  # type: ignore[import-not-found, unused-ignore]
    except ImportError as error:
        raise ImportError(f"fuse.eval plots need matplotlib, which is not installed: {INSTALL_HINT}") from error
    figure = Figure(figsize=figsize, layout="constrained")
    axes = figure.subplots(nrows=nrows, **subplots)
    return figure, axes


def _output_path(output_filename: str | os.PathLike[str], figure: Any) -> tuple[Path, str]:
    path = Path(output_filename)
    image_format = path.suffix[1:].lower()
    supported = sorted(figure.canvas.get_supported_filetypes())
    if image_format not in supported:
        raise ValueError(
            f"output_filename {os.fspath(output_filename)!r} must end with an image suffix; supported: "
            f"{', '.join('.' + s for s in supported)}"
        )
    return path, image_format


def _save(figure: Any, output_filename: str | os.PathLike[str]) -> Path:
    """Write ``figure`` atomically in the format of the suffix; returns the path."""
    path, image_format = _output_path(output_filename, figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    with AtomicFileWriter(path, "wb") as file:
        figure.savefig(file, format=image_format, dpi=120)
    figure.clear()
    return path


def _vector(values: Any, what: str, low: float | None = 0.0, high: float | None = 1.0) -> np.ndarray:
    """A finite 1-d float array (within ``[low, high]`` when given)."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} must be numbers, got {values!r}") from error
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"{what} must be a non-empty 1-d sequence of numbers, got shape {array.shape}")
    bad = array[~np.isfinite(array)]
    if low is not None:
        bad = np.concatenate((bad, array[array < low]))
    if high is not None:
        bad = np.concatenate((bad, array[array > high]))
    if len(bad):
        bounds = f" within [{low}, {high}]" if low is not None and high is not None else ""
        raise ValueError(f"{what} must be finite{bounds}, got values such as {bad[:3].tolist()}")
    return array


def _label(name: str, auc: float | None, what: str = "AUC") -> str:
    return name if auc is None else f"{name} ({what} = {auc:.3f})"


def _legend_below(axes: Any) -> None:
    """The legend under the axes, where it cannot hide a curve."""
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False, ncols=1)
