"""The confusion matrix as an annotated heat map."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from fuse.eval.plots._common import _new_figure, _save

__all__ = ["plot_confusion_matrix"]


def plot_confusion_matrix(
    count: pd.DataFrame,
    output_filename: str | os.PathLike[str],
    title: str = "Confusion matrix",
    normalize: bool = False,
) -> Path:
    """A confusion matrix as an annotated heat map: rows are true classes, columns predicted classes.

    :param count: counts with one row per true class and one column per predicted class, plus an optional
        ``"total"`` column (as in a confusion-matrix metric's ``"count"``), which is not drawn.
    :param output_filename: the image file to write; its suffix gives the format.
    :param title: the plot title.
    :param normalize: show each row as fractions of its true class: divided by ``"total"`` when present (which
        also counts predictions outside the drawn columns), else by the row sum. Empty rows show a dash.
    :returns: the path written.

    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> count = pd.DataFrame({"neg": [8, 1], "pos": [2, 9], "total": [10, 10]}, index=["neg", "pos"])
    >>> plot_confusion_matrix(count, Path(tempfile.mkdtemp()) / "confusion.png", normalize=True).name
    'confusion.png'
    """
    if not isinstance(count, pd.DataFrame):
        raise TypeError(
            f"count must be a pandas DataFrame (rows = true, columns = predicted), got {type(count).__name__}"
        )
    cells = count.drop(columns="total") if "total" in count.columns else count
    if cells.empty:
        raise ValueError(f"count has no cells to draw (shape {cells.shape}, columns {list(count.columns)})")
    try:
        values = cells.to_numpy(dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"count must hold numbers, got columns of types {list(cells.dtypes.astype(str))}") from error
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"count must hold finite non-negative counts, got {values.tolist()}")
    if normalize:
        totals = count["total"].to_numpy(dtype=float) if "total" in count.columns else values.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            shown = values / totals[:, None]
        texts = [["-" if not np.isfinite(v) else f"{v:.1%}" for v in row] for row in shown]
    else:
        shown = values
        integral = np.all(values == np.round(values))
        texts = [[f"{v:.0f}" if integral else f"{v:.3g}" for v in row] for row in shown]

    rows, columns = shown.shape
    figure, axes = _new_figure((max(5.0, 1.6 + 0.9 * columns), max(4.0, 1.4 + 0.8 * rows)))
    image = axes.imshow(np.nan_to_num(shown), cmap="Blues", vmin=0, vmax=1 if normalize else None, aspect="auto")
    figure.colorbar(image, ax=axes, label="fraction of the true class" if normalize else "samples")
    top = float(np.nanmax(shown)) if np.isfinite(shown).any() else 0.0
    for i in range(rows):
        for j in range(columns):
            dark = np.isfinite(shown[i, j]) and top > 0 and shown[i, j] > 0.6 * top
            axes.text(j, i, texts[i][j], ha="center", va="center", color="white" if dark else "black")
    slanted = columns > 4
    axes.set_xticks(
        range(columns),
        [str(c) for c in cells.columns],
        rotation=45 if slanted else 0,
        ha="right" if slanted else "center",
    )
    axes.set_yticks(range(rows), [str(r) for r in cells.index])
    axes.set_xlabel("Predicted class")
    axes.set_ylabel("True class")
    axes.set_title(title)
    return _save(figure, output_filename)
