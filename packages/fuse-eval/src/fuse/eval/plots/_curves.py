"""ROC and precision-recall curves, with bootstrap bands and operating points."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fuse.eval.plots._common import _label, _legend_below, _new_figure, _save, _vector

__all__ = ["plot_precision_recall_curves", "plot_roc_curves"]


def _curves(curves: Mapping[str, Mapping[str, Any]], x_key: str, y_key: str) -> dict[str, tuple[Any, Any, Any]]:
    """Validated ``{name: (x, y, auc or None)}``."""
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError(f"curves must be a non-empty mapping of class name -> {{{x_key!r}, {y_key!r}, 'auc'}}")
    checked = {}
    for name, curve in curves.items():
        if not isinstance(curve, Mapping) or x_key not in curve or y_key not in curve:
            keys = list(curve) if isinstance(curve, Mapping) else type(curve).__name__
            raise ValueError(f"curves[{name!r}] must be a mapping with keys {x_key!r} and {y_key!r}, got {keys}")
        x = _vector(curve[x_key], f"curves[{name!r}][{x_key!r}]")
        y = _vector(curve[y_key], f"curves[{name!r}][{y_key!r}]")
        if len(x) != len(y):
            raise ValueError(f"curves[{name!r}] has {len(x)} {x_key!r} values but {len(y)} {y_key!r} values")
        auc = curve.get("auc")
        if auc is not None and not isinstance(auc, (int, float, np.integer, np.floating)):
            raise ValueError(f"curves[{name!r}]['auc'] must be a number or None, got {auc!r}")
        checked[str(name)] = (x, y, None if auc is None else float(auc))
    return checked


def plot_roc_curves(
    curves: Mapping[str, Mapping[str, Any]],
    output_filename: str | os.PathLike[str],
    title: str = "ROC curve",
    ci_bands: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
    operating_points: Mapping[str, tuple[float, float, str]] | None = None,
) -> Path:
    """ROC curves, one per class, with the chance diagonal; the legend sits below the axes, off the curves.

    :param curves: ``{class name: {"fpr": array, "tpr": array, "auc": float}}`` (``"auc"`` is optional and shown
        in the legend), e.g. the result of a ROC-curve metric.
    :param output_filename: the image file to write; its suffix gives the format.
    :param title: the plot title.
    :param ci_bands: optional confidence bands ``{class name: (fpr_grid, tpr_lower, tpr_upper)}`` drawn shaded
        around the curves of the same names.
    :param operating_points: optional points marked on the curves ``{class name: (fpr, tpr, label)}``, e.g. the
        decision threshold in use (``label`` goes to the legend).
    :returns: the path written.

    >>> import tempfile
    >>> from pathlib import Path
    >>> band = ([0.0, 0.5, 1.0], [0.0, 0.6, 1.0], [0.2, 0.9, 1.0])
    >>> out = plot_roc_curves({"B": {"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1], "auc": 0.65}},
    ...                       Path(tempfile.mkdtemp()) / "roc.png", ci_bands={"B": band})
    >>> out.stat().st_size > 0
    True
    """
    checked = _curves(curves, "fpr", "tpr")
    bands = _bands(ci_bands, checked)
    points = _points(operating_points, checked)
    figure, axes = _new_figure((6.0, 6.5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    for name, (fpr, tpr, auc) in checked.items():
        (line,) = axes.plot(fpr, tpr, linewidth=2, label=_label(name, auc))
        if name in bands:
            grid, lower, upper = bands[name]
            axes.fill_between(grid, lower, upper, color=line.get_color(), alpha=0.2, linewidth=0)
        if name in points:
            x, y, text = points[name]
            axes.plot([x], [y], marker="o", markersize=9, markerfacecolor="white", markeredgewidth=2,
                      color=line.get_color(), linestyle="none", label=text)  # fmt: skip
    axes.set(xlim=(0, 1), ylim=(0, 1.01), title=title)
    axes.set_xlabel("False positive rate (1 - specificity)")
    axes.set_ylabel("True positive rate (sensitivity)")
    axes.set_aspect("equal")
    axes.grid(alpha=0.3)
    _legend_below(axes)
    return _save(figure, output_filename)


def _points(
    operating_points: Mapping[str, tuple[float, float, str]] | None, curves: Mapping[str, Any]
) -> dict[str, tuple[float, float, str]]:
    checked = {}
    for name, point in _per_curve_triples(operating_points, curves, "operating_points", "(fpr, tpr, label)"):
        x, y = _vector(point[:2], f"operating_points[{name!r}] (fpr, tpr)")
        checked[name] = (float(x), float(y), str(point[2]))
    return checked


def _bands(
    ci_bands: Mapping[str, tuple[Any, Any, Any]] | None, curves: Mapping[str, Any]
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    checked = {}
    for name, band in _per_curve_triples(ci_bands, curves, "ci_bands", "(fpr_grid, tpr_lower, tpr_upper)"):
        grid, lower, upper = (_vector(values, f"ci_bands[{name!r}][{i}]") for i, values in enumerate(band))
        if not len(grid) == len(lower) == len(upper):
            raise ValueError(
                f"ci_bands[{name!r}] arrays differ in length: {len(grid)} fpr, {len(lower)} lower, {len(upper)} upper"
            )
        if np.any(lower > upper):
            raise ValueError(f"ci_bands[{name!r}] has tpr_lower above tpr_upper")
        checked[name] = (grid, lower, upper)
    return checked


def _per_curve_triples(
    argument: Mapping[Any, Any] | None, curves: Mapping[str, Any], what: str, layout: str
) -> Iterator[tuple[str, Sequence[Any]]]:
    """``(class name, triple)`` of an optional per-curve argument ``{class name: triple}`` (``None``: nothing);
    raises naming ``what`` for a non-mapping, a class without a curve, or an entry that is not a triple ``layout``."""
    if argument is None:
        return
    if not isinstance(argument, Mapping):
        raise TypeError(f"{what} must be a mapping of class name -> {layout}, got {argument!r}")
    for name, triple in argument.items():
        if str(name) not in curves:
            raise ValueError(f"{what} has class {name!r}, which is not in curves: {list(curves)}")
        if not isinstance(triple, (tuple, list)) or len(triple) != 3:
            raise ValueError(f"{what}[{name!r}] must be {layout}, got {triple!r}")
        yield str(name), triple


def plot_precision_recall_curves(
    curves: Mapping[str, Mapping[str, Any]],
    output_filename: str | os.PathLike[str],
    title: str = "Precision-recall curve",
) -> Path:
    """Precision-recall curves, one per class, drawn as steps (precision holds between two thresholds, as
    scikit-learn draws it); the legend sits below the axes, off the curves.

    :param curves: ``{class name: {"precision": array, "recall": array, "auc": float}}`` (``"auc"`` optional; this
        package's AUC-PR is the trapezoidal area, within a few thousandths of the stepped area on most data), in
        scikit-learn's ``precision_recall_curve`` order (recall decreasing).
    :param output_filename: the image file to write; its suffix gives the format.
    :param title: the plot title.
    :returns: the path written.

    >>> import tempfile
    >>> from pathlib import Path
    >>> out = plot_precision_recall_curves(
    ...     {"positive": {"precision": [0.5, 0.7, 1.0], "recall": [1.0, 0.6, 0.0], "auc": 0.72}},
    ...     Path(tempfile.mkdtemp()) / "pr.svg")
    >>> out.read_text().lstrip().startswith("<?xml")
    True
    """
    checked = _curves(curves, "recall", "precision")
    figure, axes = _new_figure((6.0, 6.5))
    for name, (recall, precision, auc) in checked.items():
        axes.plot(recall, precision, linewidth=2, drawstyle="steps-post", label=_label(name, auc, "AUC-PR"))
    axes.set(xlim=(0, 1), ylim=(0, 1.01), title=title)
    axes.set_xlabel("Recall (sensitivity)")
    axes.set_ylabel("Precision (PPV)")
    axes.grid(alpha=0.3)
    _legend_below(axes)
    return _save(figure, output_filename)
