"""Decision curves: net benefit against the threshold probability."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fuse.eval.plots._common import _new_figure, _save, _vector

__all__ = ["plot_decision_curve"]


def plot_decision_curve(
    curve: Any,
    output_filename: str | os.PathLike[str],
    title: str = "Decision curve",
    class_name: str = "positive",
    band: tuple[Any, Any] | None = None,
) -> Path:
    """A decision curve: the net benefit of the model, of treating all and of treating none against the threshold
    probability (see :func:`fuse.eval.net_benefit`).

    The y axis runs from a little below 0 to a little above the highest net benefit (the prevalence at most): the
    treat-all line, which falls steeply at high thresholds, is cut there, as is customary.

    :param curve: a :func:`fuse.eval.net_benefit` DataFrame, or a mapping with the same keys (``threshold``,
        ``net_benefit``, ``treat_all``; ``treat_none`` is 0).
    :param output_filename: the image file to write; its suffix gives the format.
    :param title: the plot title.
    :param class_name: the positive class (whose predicted risk is thresholded), named in the axis label.
    :param band: optional ``(lower, upper)`` pointwise interval of the model's net benefit, shaded.
    :returns: the path written.

    >>> import tempfile
    >>> from pathlib import Path
    >>> from fuse.eval import net_benefit
    >>> curve = net_benefit([0.1, 0.3, 0.6, 0.8, 0.2], [0, 1, 0, 1, 0])
    >>> plot_decision_curve(curve, Path(tempfile.mkdtemp()) / "d.png").suffix
    '.png'
    """
    if isinstance(curve, pd.DataFrame):
        curve = {column: curve[column].to_numpy() for column in curve.columns}
    if not isinstance(curve, Mapping) or not {"threshold", "net_benefit", "treat_all"} <= set(curve):
        raise ValueError("curve must be a net_benefit() DataFrame or a mapping with 'threshold', 'net_benefit' and "
                         f"'treat_all', got {type(curve).__name__}")  # fmt: skip
    threshold = _vector(curve["threshold"], "curve['threshold']")
    model = _vector(curve["net_benefit"], "curve['net_benefit']", low=None, high=None)
    treat_all = _vector(curve["treat_all"], "curve['treat_all']", low=None, high=None)
    if not len(threshold) == len(model) == len(treat_all):
        raise ValueError(
            f"curve columns differ in length: {len(threshold)} thresholds, {len(model)} net benefits, "
            f"{len(treat_all)} treat-all values"
        )
    figure, axes = _new_figure((6.5, 4.8))
    top = max(float(model.max()), float(treat_all.max()), 0.01)
    if band is not None:
        if not isinstance(band, (tuple, list)) or len(band) != 2:
            raise ValueError(f"band must be (lower, upper) arrays, got {type(band).__name__}")
        lower = _vector(band[0], "band lower", low=None, high=None)
        upper = _vector(band[1], "band upper", low=None, high=None)
        if not len(lower) == len(upper) == len(threshold):
            raise ValueError(f"band arrays must have one value per threshold ({len(threshold)})")
        axes.fill_between(threshold, lower, upper, color="tab:blue", alpha=0.18, linewidth=0,
                          label="model, 95% pointwise bootstrap interval")  # fmt: skip
        top = max(top, float(upper.max()))
    axes.plot(threshold, model, color="tab:blue", linewidth=2, label="model")
    axes.plot(threshold, treat_all, color="tab:grey", linestyle="--", linewidth=1.5, label="treat all")
    axes.plot(threshold, np.zeros_like(threshold), color="black", linestyle=":", linewidth=1.5, label="treat none")
    axes.set(xlim=(float(threshold.min()), float(threshold.max())), ylim=(-0.25 * top, 1.1 * top), title=title)
    axes.set_xlabel(f"Threshold probability (treat when the predicted risk of {class_name} is at least this)")
    axes.set_ylabel("Net benefit (true positives per case)")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", framealpha=0.9)
    return _save(figure, output_filename)
