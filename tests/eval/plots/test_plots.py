"""Plots: valid image files written atomically, the drawn content, input errors, and the missing-matplotlib message."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fuse.eval import (
    plot_confusion_matrix,
    plot_precision_recall_curves,
    plot_reliability_diagram,
    plot_risk_calibration,
    plot_roc_curves,
)
from fuse.eval.plots import _calibration as plots_calibration
from fuse.eval.plots import _confusion as plots_confusion
from fuse.eval.plots import _curves as plots_curves
from fuse.eval.plots import _decision as plots_decision

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

ROC = {
    "benign": {"fpr": np.array([0.0, 0.2, 0.5, 1.0]), "tpr": np.array([0.0, 0.6, 0.9, 1.0]), "auc": 0.79},
    "malignant": {"fpr": [0.0, 0.4, 1.0], "tpr": [0.0, 0.7, 1.0], "auc": 0.65},
}
PR = {"positive": {"precision": [0.4, 0.6, 0.9, 1.0], "recall": [1.0, 0.8, 0.4, 0.0], "auc": 0.74}}
RELIABILITY = {
    "conf_vec": np.linspace(0, 1, 5),
    "mid_confidence_points": np.array([0.125, 0.375, 0.625, 0.875]),
    "accuracy": np.array([np.nan, 0.3, 0.7, 0.9]),
    "avg_accuracy": 0.72,
    "avg_confidence": 0.74,
    "num_samples_per_bin": np.array([0, 10, 20, 20]),
    "total_samples": 50,
}
COUNT = pd.DataFrame(
    {"neg": [40, 5], "pos": [10, 45], "total": [50, 50]},
    index=["neg", "pos"],
)


@pytest.fixture
def matplotlib() -> Any:
    return pytest.importorskip("matplotlib")


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What the plot functions draw, captured instead of rendered (rendering is tested on its own, and is slow)."""
    figures: list[Any] = []

    def keep(figure: Any, output_filename: Any) -> Path:
        figure.draw_without_rendering()  # lays the figure out: where the legends landed can be measured
        legends = [(ax, ax.get_legend()) for ax in figure.axes if ax.get_legend()]
        snapshot = {
            "legend_below_axes": [
                legend.get_window_extent().y1 <= ax.get_window_extent().y0 + 1e-6 for ax, legend in legends
            ],
            "drawstyles": [[line.get_drawstyle() for line in ax.lines] for ax in figure.axes],
            "xlabels": [ax.get_xlabel() for ax in figure.axes],
            "texts": [t.get_text() for ax in figure.axes for t in ax.texts],
            "legend": [t.get_text() for ax in figure.axes if ax.get_legend() for t in ax.get_legend().get_texts()],
            "titles": [ax.get_title() for ax in figure.axes],
            "patches": [len(ax.patches) for ax in figure.axes],
            "lines": [[np.asarray(line.get_xydata()) for line in ax.lines] for ax in figure.axes],
            "collections": [len(ax.collections) for ax in figure.axes],
            "images": [np.asarray(im.get_array()) for ax in figure.axes for im in ax.images],
        }
        figures.append(snapshot)
        return Path(output_filename)

    for module in (plots_calibration, plots_confusion, plots_curves, plots_decision):
        monkeypatch.setattr(module, "_save", keep)
    return figures


def _read_png(path: Path) -> np.ndarray:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image: np.ndarray = matplotlib.image.imread(path)
    return image


def _check_png(path: Path, min_side: int = 300) -> np.ndarray:
    image = _read_png(path)
    assert image.ndim == 3
    assert image.shape[2] in (3, 4)
    assert min_side <= min(image.shape[:2]) <= max(image.shape[:2]) <= 3000
    assert image[..., :3].std() > 0.05  # not a blank canvas
    return image


# --- valid files ------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("matplotlib")
def test_every_plot_writes_a_readable_png(tmp_path: Path) -> None:
    paths = [
        plot_roc_curves(ROC, tmp_path / "roc.png"),
        plot_precision_recall_curves(PR, tmp_path / "pr.png"),
        plot_reliability_diagram(RELIABILITY, tmp_path / "reliability.png"),
        plot_confusion_matrix(COUNT, tmp_path / "confusion.png"),
    ]
    assert paths == [
        tmp_path / "roc.png",
        tmp_path / "pr.png",
        tmp_path / "reliability.png",
        tmp_path / "confusion.png",
    ]
    shapes = [_check_png(path).shape for path in paths]
    assert shapes[2][0] > shapes[2][1]  # the reliability diagram stacks two panels
    assert sorted(os.listdir(tmp_path)) == ["confusion.png", "pr.png", "reliability.png", "roc.png"]  # no temporaries


@pytest.mark.usefixtures("matplotlib")
def test_format_follows_the_suffix_and_parents_are_created(tmp_path: Path) -> None:
    svg = plot_roc_curves(ROC, tmp_path / "a" / "b" / "roc.svg")
    assert "<svg" in svg.read_text()
    pdf = plot_confusion_matrix(COUNT, str(tmp_path / "confusion.PDF"))
    assert isinstance(pdf, Path)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    for name in ("roc", "roc.unknown"):
        with pytest.raises(ValueError, match=r"output_filename .*must end with an image suffix; supported: .*\.png"):
            plot_roc_curves(ROC, tmp_path / name)


@pytest.mark.usefixtures("matplotlib")
def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "roc.png"
    target.write_bytes(b"previous")
    plot_roc_curves(ROC, target)
    first = target.read_bytes()
    assert first[:8] == PNG_SIGNATURE
    plot_roc_curves(ROC, target)
    assert target.read_bytes() == first  # deterministic output, replaced in place
    assert os.listdir(tmp_path) == ["roc.png"]

    # a failure while saving leaves the previous file and no temporary behind
    from matplotlib.figure import Figure

    def broken(self: Any, file: Any, **kwargs: Any) -> None:
        file.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        plot_roc_curves(ROC, target)
    assert target.read_bytes() == first
    assert os.listdir(tmp_path) == ["roc.png"]


@pytest.mark.usefixtures("matplotlib")
def test_pyplot_figures_are_left_alone(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_roc_curves(ROC, tmp_path / "roc.png")
    plot_confusion_matrix(COUNT, tmp_path / "cm.png")
    assert plt.get_fignums() == before


# --- what is drawn ----------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("matplotlib")
def test_roc_curves_content(tmp_path: Path, drawn: list[Any]) -> None:
    band = (np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.7, 1.0]), np.array([0.2, 1.0, 1.0]))
    plot_roc_curves(ROC, tmp_path / "roc.png", title="Test ROC", ci_bands={"benign": band})
    (figure,) = drawn
    assert figure["titles"] == ["Test ROC"]
    assert figure["legend"] == ["chance", "benign (AUC = 0.790)", "malignant (AUC = 0.650)"]
    assert figure["legend_below_axes"] == [True]  # off the curves
    chance, benign, malignant = figure["lines"][0]
    assert chance.tolist() == [[0, 0], [1, 1]]
    np.testing.assert_array_equal(
        benign, np.column_stack([np.asarray(ROC["benign"][k], dtype=float) for k in ("fpr", "tpr")])
    )
    assert malignant.shape == (3, 2)
    assert figure["collections"] == [1]  # one shaded band
    # without "auc" the legend shows the name only
    plot_roc_curves({"x": {"fpr": [0, 1], "tpr": [0, 1]}}, tmp_path / "roc2.png")
    assert drawn[1]["legend"] == ["chance", "x"]


@pytest.mark.usefixtures("matplotlib")
def test_roc_operating_point_is_marked(tmp_path: Path, drawn: list[Any]) -> None:
    plot_roc_curves(ROC, tmp_path / "roc.png", operating_points={"benign": (0.2, 0.6, "threshold 0.4")})
    (figure,) = drawn
    assert figure["legend"] == ["chance", "benign (AUC = 0.790)", "threshold 0.4", "malignant (AUC = 0.650)"]
    assert figure["lines"][0][2].tolist() == [[0.2, 0.6]]  # a single marker at (fpr, tpr), after its curve
    with pytest.raises(ValueError, match=r"operating_points has class 'x', which is not in curves"):
        plot_roc_curves(ROC, tmp_path / "roc.png", operating_points={"x": (0.2, 0.6, "t")})
    with pytest.raises(ValueError, match=r"operating_points\['benign'\] \(fpr, tpr\) must be finite within"):
        plot_roc_curves(ROC, tmp_path / "roc.png", operating_points={"benign": (1.2, 0.6, "t")})


@pytest.mark.usefixtures("matplotlib")
def test_precision_recall_content(tmp_path: Path, drawn: list[Any]) -> None:
    plot_precision_recall_curves(PR, tmp_path / "pr.png")
    (figure,) = drawn
    assert figure["legend"] == ["positive (AUC-PR = 0.740)"]
    assert figure["legend_below_axes"] == [True]  # off the curve
    assert figure["drawstyles"] == [["steps-post"]]  # precision holds between thresholds: steps, not slopes
    (line,) = figure["lines"][0]
    np.testing.assert_array_equal(
        line, np.column_stack([np.asarray(PR["positive"][k], dtype=float) for k in ("recall", "precision")])
    )


@pytest.mark.usefixtures("matplotlib")
def test_risk_calibration_content(tmp_path: Path, drawn: list[Any]) -> None:
    pred = np.array([0.05, 0.08, 0.15, 0.55, 0.58, 0.95, 0.97, 1.0])
    target = np.array([0, 0, 1, 0, 1, 1, 1, 1])
    plot_risk_calibration(pred, target, tmp_path / "c.png", title="Before recalibration", class_name="malignant")
    (figure,) = drawn
    assert figure["titles"][0] == "Before recalibration"
    assert figure["xlabels"][1] == "Predicted risk of malignant"  # the 0-1 risk scale, not the top-label confidence
    points = figure["lines"][0][1]  # the diagonal, then the bins' points
    # bins [0, 0.1), [0.1, 0.2), [0.5, 0.6), [0.9, 1.0]: mean predicted risk, observed share of malignant
    np.testing.assert_allclose(points, [[0.065, 0.0], [0.15, 1.0], [0.565, 0.5], [0.973333, 1.0]], atol=1e-6)
    assert figure["legend"][-2:] == ["not malignant (3)", "malignant (5)"]  # the histogram of the predictions
    with pytest.raises(ValueError, match=r"target must hold 0 or 1 \(1 = positive\)"):
        plot_risk_calibration([0.2, 0.4], [0, 2], tmp_path / "c.png")
    with pytest.raises(ValueError, match="pred has 2 values but target has 3"):
        plot_risk_calibration([0.2, 0.4], [0, 1, 1], tmp_path / "c.png")


@pytest.mark.usefixtures("matplotlib")
def test_reliability_diagram_content(tmp_path: Path, drawn: list[Any]) -> None:
    plot_reliability_diagram(RELIABILITY, tmp_path / "reliability.png")
    (figure,) = drawn
    assert "average accuracy 0.720, average confidence 0.740" in figure["titles"][0]
    # 3 non-empty bins: an accuracy bar and a gap bar each; the histogram has all 4 bins
    assert figure["patches"] == [6, 4]
    # unequal (quantile) bins and FuseMedML's 0-accuracy empty bins are drawn too
    quantile = {**RELIABILITY, "conf_vec": [0.5, 0.6, 0.65, 0.9, 1.0], "accuracy": np.array([0.0, 0.3, 0.7, 0.9])}
    plot_reliability_diagram(quantile, tmp_path / "quantile.png")
    assert drawn[1]["patches"] == [6, 4]


@pytest.mark.usefixtures("matplotlib")
def test_reliability_metric_titles_its_image(tmp_path: Path, drawn: list[Any]) -> None:
    from fuse.eval import MetricReliabilityDiagram

    batch = {"id": [0, 1, 2], "pred": np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8]]), "target": [0, 0, 1]}
    for title in ("Reliability diagram, before temperature scaling", "Reliability diagram, after temperature scaling"):
        metric = MetricReliabilityDiagram(pred="pred", target="target", output_filename=tmp_path / "r.png", title=title)
        metric.collect(batch)
        metric.eval()
    assert [figure["titles"][0].splitlines()[0] for figure in drawn] == [
        "Reliability diagram, before temperature scaling",
        "Reliability diagram, after temperature scaling",
    ]  # two images of one report are told apart


@pytest.mark.usefixtures("matplotlib")
def test_confusion_matrix_content(tmp_path: Path, drawn: list[Any]) -> None:
    plot_confusion_matrix(COUNT, tmp_path / "counts.png")
    plot_confusion_matrix(COUNT, tmp_path / "normalized.png", normalize=True, title="Normalised")
    counts, normalized = drawn
    assert counts["texts"] == ["40", "10", "5", "45"]
    np.testing.assert_array_equal(counts["images"][0], [[40, 10], [5, 45]])
    assert normalized["texts"] == ["80.0%", "20.0%", "10.0%", "90.0%"]
    assert normalized["titles"][0] == "Normalised"
    # normalised by "total" (which counts predictions outside the columns, e.g. -1), else by the row sum
    with_unassigned = COUNT.assign(total=[100, 50])
    plot_confusion_matrix(with_unassigned, tmp_path / "total.png", normalize=True)
    assert drawn[2]["texts"] == ["40.0%", "10.0%", "10.0%", "90.0%"]
    plot_confusion_matrix(COUNT.drop(columns="total"), tmp_path / "rows.png", normalize=True)
    assert drawn[3]["texts"] == normalized["texts"]
    # a class absent from the targets: its row is a dash
    absent = pd.DataFrame({"a": [3, 0], "b": [1, 0], "total": [4, 0]}, index=["a", "b"])
    plot_confusion_matrix(absent, tmp_path / "absent.png", normalize=True)
    assert drawn[4]["texts"] == ["75.0%", "25.0%", "-", "-"]


# --- input errors -----------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("matplotlib")
@pytest.mark.parametrize(
    ("curves", "message"),
    [
        ({}, r"curves must be a non-empty mapping"),
        ({"a": {"fpr": [0, 1]}}, r"curves\['a'\] must be a mapping with keys 'fpr' and 'tpr', got \['fpr'\]"),
        ({"a": [0, 1]}, r"curves\['a'\] must be a mapping with keys 'fpr' and 'tpr', got list"),
        ({"a": {"fpr": [0, 0.5, 1], "tpr": [0, 1]}}, r"curves\['a'\] has 3 'fpr' values but 2 'tpr' values"),
        ({"a": {"fpr": [0, 1.5], "tpr": [0, 1]}}, r"curves\['a'\]\['fpr'\] must be finite within \[0.0, 1.0\].*1\.5"),
        ({"a": {"fpr": [0, np.nan], "tpr": [0, 1]}}, r"curves\['a'\]\['fpr'\] must be finite.*nan"),
        ({"a": {"fpr": [], "tpr": []}}, r"curves\['a'\]\['fpr'\] must be a non-empty 1-d sequence"),
        ({"a": {"fpr": ["x", "y"], "tpr": [0, 1]}}, r"curves\['a'\]\['fpr'\] must be numbers"),
        ({"a": {"fpr": [0, 1], "tpr": [0, 1], "auc": "high"}}, r"curves\['a'\]\['auc'\] must be a number or None"),
    ],
)
def test_roc_curves_bad_input(tmp_path: Path, curves: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plot_roc_curves(curves, tmp_path / "roc.png")
    assert not (tmp_path / "roc.png").exists()


@pytest.mark.usefixtures("matplotlib")
def test_roc_bands_and_pr_bad_input(tmp_path: Path) -> None:
    grid = np.array([0.0, 1.0])
    with pytest.raises(
        ValueError, match=r"ci_bands has class 'other', which is not in curves: \['benign', 'malignant'\]"
    ):
        plot_roc_curves(ROC, tmp_path / "roc.png", ci_bands={"other": (grid, grid, grid)})
    with pytest.raises(ValueError, match=r"ci_bands\['benign'\] has tpr_lower above tpr_upper"):
        plot_roc_curves(ROC, tmp_path / "roc.png", ci_bands={"benign": (grid, grid + 0.0, grid * 0.5)})
    with pytest.raises(ValueError, match=r"ci_bands\['benign'\] arrays differ in length: 2 fpr, 3 lower, 2 upper"):
        plot_roc_curves(ROC, tmp_path / "roc.png", ci_bands={"benign": (grid, np.zeros(3), grid)})
    with pytest.raises(ValueError, match=r"ci_bands\['benign'\] must be \(fpr_grid, tpr_lower, tpr_upper\)"):
        plot_roc_curves(ROC, tmp_path / "roc.png", ci_bands={"benign": (grid, grid)})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match=r"ci_bands must be a mapping"):
        plot_roc_curves(ROC, tmp_path / "roc.png", ci_bands=[(grid, grid, grid)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"curves\['positive'\] must be a mapping with keys 'recall' and 'precision'"):
        plot_precision_recall_curves({"positive": {"fpr": [0, 1], "tpr": [0, 1]}}, tmp_path / "pr.png")
    assert os.listdir(tmp_path) == []


@pytest.mark.usefixtures("matplotlib")
@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"accuracy": np.array([0.1, 0.2])}, ValueError, r"result\['accuracy'\] must hold 4 values \(one per bin"),
        ({"conf_vec": [0.0, 0.5, 0.4, 0.8, 1.0]}, ValueError, r"result\['conf_vec'\] must hold at least 2 non-decr"),
        ({"conf_vec": [0.5]}, ValueError, r"result\['conf_vec'\] must hold at least 2 non-decreasing bin edges"),
        ({"accuracy": np.array([np.nan, 0.3, 1.7, 0.9])}, ValueError, r"result\['accuracy'\] of non-empty bins"),
        ({"num_samples_per_bin": [0, -1, 2, 3]}, ValueError, r"result\['num_samples_per_bin'\] must be finite"),
    ],
)
def test_reliability_diagram_bad_input(tmp_path: Path, change: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        plot_reliability_diagram({**RELIABILITY, **change}, tmp_path / "reliability.png")
    assert not (tmp_path / "reliability.png").exists()


def test_reliability_diagram_needs_its_keys(tmp_path: Path) -> None:
    partial = {k: v for k, v in RELIABILITY.items() if k not in ("total_samples", "accuracy")}
    with pytest.raises(ValueError, match=r"result misses keys \['accuracy', 'total_samples'\]; a reliability-diagram"):
        plot_reliability_diagram(partial, tmp_path / "reliability.png")
    with pytest.raises(TypeError, match="result must be a reliability-diagram dict"):
        plot_reliability_diagram([1, 2], tmp_path / "reliability.png")  # type: ignore[arg-type]


@pytest.mark.usefixtures("matplotlib")
def test_confusion_matrix_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "cm.png"
    with pytest.raises(TypeError, match=r"count must be a pandas DataFrame .*got ndarray"):
        plot_confusion_matrix(np.eye(2), out)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"count must hold finite non-negative counts"):
        plot_confusion_matrix(pd.DataFrame({"a": [1, -2]}, index=["a", "b"]), out)
    with pytest.raises(ValueError, match=r"count must hold numbers"):
        plot_confusion_matrix(pd.DataFrame({"a": ["x", "y"]}, index=["a", "b"]), out)
    with pytest.raises(ValueError, match=r"count has no cells to draw"):
        plot_confusion_matrix(pd.DataFrame({"total": [1, 2]}), out)
    assert not out.exists()


# --- without matplotlib -----------------------------------------------------------------------------------------------


def test_missing_matplotlib_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # an import of matplotlib now fails, even if it is installed
    calls: list[Callable[[], Path]] = [
        lambda: plot_roc_curves(ROC, tmp_path / "roc.png"),
        lambda: plot_precision_recall_curves(PR, tmp_path / "pr.png"),
        lambda: plot_reliability_diagram(RELIABILITY, tmp_path / "rel.png"),
        lambda: plot_confusion_matrix(COUNT, tmp_path / "cm.png"),
        lambda: plot_risk_calibration([0.2, 0.8], [0, 1], tmp_path / "risk.png"),
    ]
    for call in calls:
        with pytest.raises(ImportError, match=r"need matplotlib.*pip install 'fuse-eval\[plot\]'"):
            call()
    assert os.listdir(tmp_path) == []
