"""Calibration plots: reliability diagrams of class probabilities and smoothed calibration curves of binary risks."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fuse.eval.plots._common import _new_figure, _save, _vector

__all__ = ["plot_reliability_diagram", "plot_risk_calibration"]


RELIABILITY_KEYS = (
    "conf_vec",
    "mid_confidence_points",
    "accuracy",
    "avg_accuracy",
    "avg_confidence",
    "num_samples_per_bin",
    "total_samples",
)


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
    from fuse.eval.metrics.classification._calibration import bin_index, equal_width_edges
    from fuse.eval.resampling._proportion import proportion_ci

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


def _averages_text(avg_accuracy: float, avg_confidence: float) -> str:
    return f"average accuracy {avg_accuracy:.3f}, average confidence {avg_confidence:.3f}"
