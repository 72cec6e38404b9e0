"""Plots of evaluation results: ROC and precision-recall curves, reliability diagrams, confusion matrices.

Needs the optional ``plot`` extra (``pip install 'fuse-eval[plot]'``, i.e. matplotlib), imported only when a plot
is drawn. Figures are plain ``matplotlib.figure.Figure`` objects rendered by the Agg canvas: pyplot and its global
figure registry are never touched, so nothing has to be closed and no backend is selected. Every file is written
atomically (a temporary file in the same directory replaces the target), in the format given by its suffix
(``.png``, ``.pdf``, ``.svg``, ...); missing parent directories are created. Each function returns the path written.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fuse.core import AtomicFileWriter

__all__ = [
    "plot_confusion_matrix",
    "plot_decision_curve",
    "plot_precision_recall_curves",
    "plot_reliability_diagram",
    "plot_risk_calibration",
    "plot_roc_curves",
]

INSTALL_HINT = "pip install 'fuse-eval[plot]'"
RELIABILITY_KEYS = (
    "conf_vec",
    "mid_confidence_points",
    "accuracy",
    "avg_accuracy",
    "avg_confidence",
    "num_samples_per_bin",
    "total_samples",
)


# ---------------------------------------------------------------------------------------------------------------------
# matplotlib, figures and files


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


# ---------------------------------------------------------------------------------------------------------------------
# input checks


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


def _label(name: str, auc: float | None, what: str = "AUC") -> str:
    return name if auc is None else f"{name} ({what} = {auc:.3f})"


# ---------------------------------------------------------------------------------------------------------------------
# plots


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


def _legend_below(axes: Any) -> None:
    """The legend under the axes, where it cannot hide a curve."""
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False, ncols=1)


def _points(
    operating_points: Mapping[str, tuple[float, float, str]] | None, curves: Mapping[str, Any]
) -> dict[str, tuple[float, float, str]]:
    if operating_points is None:
        return {}
    if not isinstance(operating_points, Mapping):
        raise TypeError(
            f"operating_points must be a mapping of class name -> (fpr, tpr, label), got {operating_points!r}"
        )
    checked = {}
    for name, point in operating_points.items():
        if str(name) not in curves:
            raise ValueError(f"operating_points has class {name!r}, which is not in curves: {list(curves)}")
        if not isinstance(point, (tuple, list)) or len(point) != 3:
            raise ValueError(f"operating_points[{name!r}] must be (fpr, tpr, label), got {point!r}")
        x, y = _vector(point[:2], f"operating_points[{name!r}] (fpr, tpr)")
        checked[str(name)] = (float(x), float(y), str(point[2]))
    return checked


def _bands(
    ci_bands: Mapping[str, tuple[Any, Any, Any]] | None, curves: Mapping[str, Any]
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    if ci_bands is None:
        return {}
    if not isinstance(ci_bands, Mapping):
        raise TypeError(
            f"ci_bands must be a mapping of class name -> (fpr_grid, tpr_lower, tpr_upper), got {ci_bands!r}"
        )
    checked = {}
    for name, band in ci_bands.items():
        if str(name) not in curves:
            raise ValueError(f"ci_bands has class {name!r}, which is not in curves: {list(curves)}")
        if not isinstance(band, (tuple, list)) or len(band) != 3:
            raise ValueError(f"ci_bands[{name!r}] must be (fpr_grid, tpr_lower, tpr_upper), got {band!r}")
        grid, lower, upper = (_vector(values, f"ci_bands[{name!r}][{i}]") for i, values in enumerate(band))
        if not len(grid) == len(lower) == len(upper):
            raise ValueError(
                f"ci_bands[{name!r}] arrays differ in length: {len(grid)} fpr, {len(lower)} lower, {len(upper)} upper"
            )
        if np.any(lower > upper):
            raise ValueError(f"ci_bands[{name!r}] has tpr_lower above tpr_upper")
        checked[str(name)] = (grid, lower, upper)
    return checked


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


def plot_reliability_diagram(
    result: Mapping[str, Any],
    output_filename: str | os.PathLike[str],
    title: str = "Reliability diagram",
) -> Path:
    """A reliability diagram: accuracy per confidence bin against the diagonal, over a histogram of the samples.

    :param result: a reliability-diagram result with keys ``conf_vec`` (the ``k + 1`` bin edges),
        ``mid_confidence_points`` (``k`` bin centres), ``accuracy`` (``k`` values), ``avg_accuracy``,
        ``avg_confidence``, ``num_samples_per_bin`` (``k`` counts) and ``total_samples``. Empty bins are not drawn
        (whatever accuracy they hold); bins may have unequal widths (quantile bins).
    :param output_filename: the image file to write; its suffix gives the format.
    :param title: the plot title.
    :returns: the path written.

    >>> import tempfile
    >>> from pathlib import Path
    >>> result = {"conf_vec": [0.5, 0.75, 1.0], "mid_confidence_points": [0.625, 0.875], "accuracy": [0.5, 1.0],
    ...           "avg_accuracy": 0.75, "avg_confidence": 0.78, "num_samples_per_bin": [2, 2], "total_samples": 4}
    >>> plot_reliability_diagram(result, Path(tempfile.mkdtemp()) / "reliability.png").suffix
    '.png'
    """
    if not isinstance(result, Mapping):
        raise TypeError(f"result must be a reliability-diagram dict with keys {list(RELIABILITY_KEYS)}, got {result!r}")
    missing = [key for key in RELIABILITY_KEYS if key not in result]
    if missing:
        raise ValueError(f"result misses keys {missing}; a reliability-diagram result has {list(RELIABILITY_KEYS)}")
    edges = _vector(result["conf_vec"], "result['conf_vec']")
    bins = len(edges) - 1
    if bins < 1 or np.any(np.diff(edges) < 0):
        raise ValueError(f"result['conf_vec'] must hold at least 2 non-decreasing bin edges, got {edges.tolist()}")
    middle = _vector(result["mid_confidence_points"], "result['mid_confidence_points']")
    counts = _vector(result["num_samples_per_bin"], "result['num_samples_per_bin']", high=None)
    accuracy = np.asarray(result["accuracy"], dtype=float)
    for key, values in (("mid_confidence_points", middle), ("accuracy", accuracy), ("num_samples_per_bin", counts)):
        if values.shape != (bins,):
            raise ValueError(f"result[{key!r}] must hold {bins} values (one per bin of conf_vec), got {values.shape}")
    filled = counts > 0
    if filled.any():
        _vector(accuracy[filled], "result['accuracy'] of non-empty bins")
    total = float(result["total_samples"])
    avg_accuracy, avg_confidence = float(result["avg_accuracy"]), float(result["avg_confidence"])

    figure, (curve, histogram) = _new_figure((6.0, 7.0), nrows=2, sharex=True, height_ratios=(3, 1))
    widths = np.diff(edges)
    curve.bar(edges[:-1][filled], accuracy[filled], width=widths[filled], align="edge", color="tab:blue",
              edgecolor="black", alpha=0.8, label="accuracy")  # fmt: skip
    gap_bottom = np.minimum(accuracy[filled], middle[filled])
    curve.bar(edges[:-1][filled], np.abs(accuracy[filled] - middle[filled]), bottom=gap_bottom, width=widths[filled],
              align="edge", facecolor="none", edgecolor="tab:red", hatch="//", label="gap to bin centre")  # fmt: skip
    curve.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    averages = _averages_text(avg_accuracy, avg_confidence)
    curve.set(xlim=(0, 1), ylim=(0, 1), title=f"{title}\n{averages}")
    curve.set_ylabel("Accuracy")
    curve.grid(alpha=0.3)
    curve.legend(loc="upper left")
    fractions = counts / total if total > 0 else np.zeros_like(counts)
    histogram.bar(edges[:-1], fractions, width=widths, align="edge", color="tab:grey", edgecolor="black")
    if math.isfinite(avg_confidence):
        histogram.axvline(avg_confidence, color="tab:red", linestyle="--", label="average confidence")
        histogram.legend(loc="upper left")
    histogram.set_xlabel("Confidence (maximum predicted probability)")
    histogram.set_ylabel(f"Fraction of {int(total)} samples")
    histogram.grid(alpha=0.3)
    return _save(figure, output_filename)


def plot_risk_calibration(
    pred: Any,
    target: Any,
    output_filename: str | os.PathLike[str],
    title: str = "Calibration of the predicted risk",
    class_name: str = "positive",
    bins: int = 10,
) -> Path:
    """Binary calibration on the risk scale: the observed share of ``class_name`` per bin of predicted risk.

    Cases are put in ``bins`` equal-width bins of the predicted probability over [0, 1] (``[lo, hi)``, the last
    closed). The upper panel draws, per non-empty bin, the observed share of positives (with its 95% Wilson
    interval) at the bin's mean predicted risk, against the diagonal of perfect calibration; the lower panel is
    the histogram of the predicted risks, negatives and positives stacked.

    :param pred: the predicted probabilities of the positive class, in [0, 1].
    :param target: the true classes, 0 or 1 (1 = ``class_name``).
    :param output_filename: the image file to write; its suffix gives the format.
    :param title: the plot title (say which probabilities are drawn, e.g. before or after recalibration).
    :param class_name: the positive class, named in the axis labels.
    :param bins: the number of equal-width risk bins.
    :returns: the path written.

    >>> import tempfile
    >>> from pathlib import Path
    >>> plot_risk_calibration([0.1, 0.3, 0.8, 0.9, 0.6], [0, 0, 1, 1, 0], Path(tempfile.mkdtemp()) / "c.png").suffix
    '.png'
    """
    from fuse.eval._calibration import bin_index, equal_width_edges
    from fuse.eval._proportion import proportion_ci

    risk = _vector(pred, "pred")
    truth = _vector(target, "target", low=None, high=None)
    if len(risk) != len(truth):
        raise ValueError(f"pred has {len(risk)} values but target has {len(truth)}")
    if not np.isin(truth, (0, 1)).all():
        raise ValueError(
            f"target must hold 0 or 1 (1 = {class_name}), got values such as {sorted(set(truth.tolist()))[:5]}"
        )
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    edges = equal_width_edges(bins)
    which = bin_index(edges, risk)  # the reliability diagram's bins: a risk of exactly 0.3 opens the bin [0.3, 0.4)
    figure, (curve, histogram) = _new_figure((6.0, 7.5), nrows=2, sharex=True, height_ratios=(3, 1))
    curve.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    x, y, low, high = [], [], [], []
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        if count == 0:
            continue
        positives = int(truth[members].sum())
        lower, upper = proportion_ci(positives, count)
        x.append(float(risk[members].mean()))
        y.append(positives / count)
        low.append(y[-1] - lower)
        high.append(upper - y[-1])
    curve.errorbar(x, y, yerr=[low, high], marker="o", color="tab:blue", capsize=3, linewidth=1.5,
                   label=f"observed share of {class_name} (95% Wilson interval)")  # fmt: skip
    curve.set(xlim=(0, 1), ylim=(0, 1), title=title)
    curve.set_ylabel(f"Observed share of {class_name}")
    curve.set_aspect("auto")
    curve.grid(alpha=0.3)
    curve.legend(loc="best", framealpha=0.9)  # where it covers the fewest points
    negatives, positives_ = risk[truth == 0], risk[truth == 1]
    histogram.hist([negatives, positives_], bins=edges, stacked=True, color=["tab:grey", "tab:orange"],
                   edgecolor="black", label=[f"not {class_name} ({len(negatives)})", f"{class_name} ({len(positives_)})"])  # fmt: skip
    histogram.set_xlabel(f"Predicted risk of {class_name}")
    histogram.set_ylabel("Cases")
    histogram.grid(alpha=0.3)
    histogram.legend(loc="best", fontsize="small", framealpha=0.9)
    return _save(figure, output_filename)


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


def _averages_text(avg_accuracy: float, avg_confidence: float) -> str:
    return f"average accuracy {avg_accuracy:.3f}, average confidence {avg_confidence:.3f}"


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
