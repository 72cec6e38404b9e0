"""``fuse.eval.write_report``: its numbers against scikit-learn and statsmodels, its three files (a self-contained
HTML page, Markdown, JSON without NaN), the small-group flag, bad inputs, and the page as a real browser draws it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as sk
from statsmodels.stats.proportion import proportion_confint

from fuse.eval import (
    CI,
    EvaluatorDefault,
    MetricAUCROC,
    ReportSettings,
    write_report,
)

CHROMIUM_MISSING = (
    "chromium is not installed, so report.html is not rendered in a browser: .ci/run installs it "
    "(apt-get install -y chromium)"
)


def _binary(n: int = 160, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0.001, 0.999)
    sites = rng.choice(["north", "south"], n)
    sites[:6] = "tiny"  # a group too small to judge
    labels[:6] = 0  # ... and without a positive case: its AUC is undefined
    return scores, labels, sites


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


class _Page(HTMLParser):
    """Tables (their header cells), images and anything that could reach the network."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[str]] = []
        self.images: list[dict[str, str]] = []
        self.external: list[str] = []
        self.tags: set[str] = set()
        self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.add(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "th":
            self._in_th = True
            self.tables[-1].append("")
        elif tag == "img":
            self.images.append(values)
        for name in ("src", "href"):
            if name in values and not values[name].startswith(("data:", "#")):
                self.external.append(f"<{tag} {name}={values[name][:60]}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_th = False

    def handle_data(self, data: str) -> None:
        if self._in_th:
            self.tables[-1][-1] += data


def _page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


# --- numbers ----------------------------------------------------------------------------------------------------------


def test_binary_numbers_match_sklearn_and_statsmodels(tmp_path: Path) -> None:
    scores, labels, sites = _binary()
    settings = ReportSettings(threshold=0.45, threshold_rule="chosen on a validation split", bootstraps=300, seed=7)
    report = write_report(tmp_path, scores, labels, ["benign", "malignant"], groups=sites, group_name="site",
                          settings=settings)  # fmt: skip
    predicted = (scores > 0.45).astype(int)
    tn, fp, fn, tp = (int(v) for v in sk.confusion_matrix(labels, predicted).ravel())
    metrics = report["metrics"]
    for name, successes, n in (("sensitivity", tp, tp + fn), ("specificity", tn, tn + fp), ("ppv", tp, tp + fp),
                               ("npv", tn, tn + fn), ("accuracy", tp + tn, len(labels))):  # fmt: skip
        stat = metrics[name]
        assert (stat["successes"], stat["n"], stat["method"]) == (successes, n, "wilson"), name
        assert stat["value"] == pytest.approx(successes / n, abs=1e-12)
        assert (stat["low"], stat["high"]) == pytest.approx(
            proportion_confint(successes, n, method="wilson"), abs=1e-12
        )
    assert metrics["auc"]["value"] == pytest.approx(sk.roc_auc_score(labels, scores), abs=1e-12)
    assert metrics["balanced_accuracy"]["value"] == pytest.approx(sk.balanced_accuracy_score(labels, predicted))
    # the AUC interval is FuseMedML's CI over the same resamplings
    data = {"id": np.arange(len(labels)), "pred": scores, "target": labels}
    direct = EvaluatorDefault().eval(ids=None, data=_frame(data), metrics={
        "auc": CI(MetricAUCROC(pred="pred", target="target"), stratum="target", num_of_bootstraps=300, rnd_seed=7)})  # fmt: skip
    assert (metrics["auc"]["low"], metrics["auc"]["high"]) == pytest.approx(
        (direct["metrics.auc.conf_lower"], direct["metrics.auc.conf_upper"]), abs=1e-12
    )
    assert report["confusion_matrix"]["counts"] == [[tn, fp], [fn, tp]]
    setup = report["setup"]
    assert (setup["positives"], setup["negatives"], setup["threshold"]) == (
        int(labels.sum()),
        int((labels == 0).sum()),
        0.45,
    )
    assert setup["threshold_rule"] == "chosen on a validation split"

    rows = {row["value"]: row for row in report["groups"]["rows"]}
    assert [rows[v]["too_small"] for v in ("north", "south", "tiny")] == [False, False, True]
    assert rows["tiny"]["absent_classes"] == ["malignant"]
    north = sites == "north"
    assert rows["north"]["metrics"]["auc"]["value"] == pytest.approx(sk.roc_auc_score(labels[north], scores[north]))

    saved = json.loads((tmp_path / "results.json").read_text())  # strict JSON: NaN would not parse with allow_nan
    json.dumps(saved, allow_nan=False)
    saved_rows = {row["value"]: row for row in saved["groups"]["rows"]}
    assert saved_rows["tiny"]["metrics"]["auc"]["value"] is None  # undefined: null, not NaN and not 0
    assert saved_rows["tiny"]["metrics"]["sensitivity"]["value"] is None  # no positive case
    assert saved_rows["tiny"]["absent_classes"] == ["malignant"]


def _frame(columns: dict[str, Any]) -> Any:
    import pandas as pd

    return pd.DataFrame(columns)


def test_multiclass_numbers(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    labels = np.tile([0, 1, 2], 30)
    logits = rng.normal(size=(90, 3)) + 1.5 * np.eye(3)[labels]
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    report = write_report(tmp_path, scores, labels, ["cat", "dog", "bird"],
                          settings=ReportSettings(bootstraps=100, plots=False))  # fmt: skip
    predicted = scores.argmax(axis=1)
    assert report["metrics"]["accuracy"]["value"] == pytest.approx(sk.accuracy_score(labels, predicted))
    assert report["metrics"]["balanced_accuracy"]["value"] == pytest.approx(
        sk.balanced_accuracy_score(labels, predicted)
    )
    auc = [sk.roc_auc_score(labels == c, scores[:, c]) for c in range(3)]
    assert report["metrics"]["auc"]["value"] == pytest.approx(np.mean(auc))
    dog = report["per_class"]["dog"]
    assert (dog["sensitivity"]["successes"], dog["sensitivity"]["n"]) == (
        int(((predicted == 1) & (labels == 1)).sum()),
        30,
    )
    assert report["confusion_matrix"]["counts"] == sk.confusion_matrix(labels, predicted).tolist()
    assert "Per class" in (tmp_path / "results.md").read_text()


@pytest.mark.parametrize(
    ("scores", "labels", "names", "settings", "message"),
    [
        ([0.2, 1.3], [0, 1], None, ReportSettings(), "binary scores must be probabilities in [0, 1]"),
        ([0.2, np.nan], [0, 1], None, ReportSettings(), "scores hold NaN or infinite values, e.g. in rows [1]"),
        ([0.2, 0.7], [0, 2], None, ReportSettings(), "labels must be class indices 0..1; 1 are not, e.g. [2]"),
        ([0.2, 0.7], [0, 1, 1], None, ReportSettings(), "labels must be one class per case, shape (2,)"),
        ([0.2, 0.7], [0, 1], ["a"], ReportSettings(), "class_names must be 2 distinct names"),
        ([[0.2, 0.3, 0.5]] * 2, [0, 1], None, ReportSettings(), "the targets hold 2 classes ['0', '1'] but there"),
        ([[0.2, 0.3, 0.5]] * 3, [0, 1, 2], None, ReportSettings(threshold=0.3), "applies to binary scores"),
    ],
)
def test_bad_inputs_are_named(
    tmp_path: Path, scores: Any, labels: Any, names: Any, settings: ReportSettings, message: str
) -> None:
    with pytest.raises(ValueError, match=_escape(message)):
        write_report(tmp_path / "out", scores, labels, names, settings=settings)
    assert not (tmp_path / "out").exists()


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="proportion_ci must be one of"):
        ReportSettings(proportion_ci="bootstrap")
    with pytest.raises(ValueError, match="confidence is a percentage"):
        ReportSettings(confidence=0.95 * 100 + 5)
    with pytest.raises(ValueError, match="bootstraps must be a non-negative integer"):
        ReportSettings(bootstraps=-1)


# --- the files --------------------------------------------------------------------------------------------------------


def test_html_is_self_contained_with_tables_and_figures(tmp_path: Path) -> None:
    scores, labels, sites = _binary()
    write_report(tmp_path, scores, labels, ["benign", "malignant"], groups=sites, folds=np.arange(len(labels)) % 2,
                 group_name="site", settings=ReportSettings(bootstraps=50))  # fmt: skip
    page = _page(tmp_path / "report.html")
    assert page.external == []  # opens offline: nothing fetched
    assert not page.tags & {"script", "link", "iframe"}
    headers = {table[0]: table for table in page.tables}
    assert headers["Metric"] == ["Metric", "Estimate", "95% CI", "Counts", "Interval method"]
    assert headers["True \\ predicted"] == ["True \\ predicted", "benign", "malignant", "Total"]
    assert "site" in headers  # the per-group table
    assert "fold" in headers
    html = (tmp_path / "report.html").read_text()
    for text in ("Sensitivity (recall)", "Wilson score", "Prevalence", "too small to judge", "Expected calibration"):
        assert text in html
    markdown = (tmp_path / "results.md").read_text()
    assert "| Metric | Estimate | 95% CI | Counts | Interval method |" in markdown
    if _has_matplotlib():
        assert len(page.images) == 4
        assert all(image["src"].startswith("data:image/png;base64,iVBORw0KGgo") for image in page.images)
        assert {path.name for path in tmp_path.glob("*.png")} == {
            "roc.png",
            "precision_recall.png",
            "calibration.png",
            "decision_curve.png",
        }
        assert html.count("<figcaption>") == 4


def test_without_matplotlib_the_report_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    scores, labels, _ = _binary(n=40)
    report = write_report(tmp_path, scores, labels, settings=ReportSettings(bootstraps=0))
    assert "figures: not drawn, matplotlib is not installed (pip install 'fuse-eval[plot]')" in report["notes"]
    page = _page(tmp_path / "report.html")
    assert page.images == []
    assert "No figures in this report (not drawn, matplotlib is not installed" in (tmp_path / "report.html").read_text()
    assert not list(tmp_path.glob("*.png"))


# --- in a browser -----------------------------------------------------------------------------------------------------


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip(os.environ.get("FUSE_CHROMIUM_MISSING") or CHROMIUM_MISSING)
    return found


def test_report_renders_in_a_headless_browser(tmp_path: Path) -> None:
    chromium = _chromium()
    image_module = pytest.importorskip("matplotlib.image")
    scores, labels, sites = _binary()
    out = tmp_path / "report"
    write_report(out, scores, labels, ["benign", "malignant"], groups=sites, group_name="site",
                 settings=ReportSettings(bootstraps=50, title="Browser test"))  # fmt: skip
    screenshot = tmp_path / "page.png"
    completed = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={screenshot}", "--window-size=1200,3000", (out / "report.html").as_uri()],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert screenshot.is_file(), completed.stderr[-2000:]
    pixels = image_module.imread(screenshot)[..., :3]
    assert pixels.shape[:2] == (3000, 1200)
    assert pixels.std() > 0.05  # not a blank page
    top = pixels[:600]
    assert (top < 0.5).mean() > 0.005  # text in the first screenful (title, summary), not an empty top
    if _has_matplotlib():
        assert (pixels[1800:] < 0.9).mean() > 0.005  # the figures further down were drawn


# --- calibration statistics and the decision curve (binary reports) ---------------------------------------------------


def test_calibration_statistics_and_decision_curve_match_the_metrics_under_ci(tmp_path: Path) -> None:
    from fuse.eval import MetricCalibrationStats, MetricNetBenefit, calibration_stats, net_benefit

    scores, labels, _ = _binary()
    settings = ReportSettings(bootstraps=60, seed=11, plots=False, decision_thresholds=(0.1, 0.3))
    report = write_report(tmp_path, scores, labels, ["benign", "malignant"], settings=settings)
    data = _frame({"id": np.arange(len(labels)), "pred": scores, "target": labels})
    metrics = {
        "cal": CI(MetricCalibrationStats(pred="pred", target="target"), stratum="target", num_of_bootstraps=60,
                  rnd_seed=11),
        "nb": CI(MetricNetBenefit(pred="pred", target="target", thresholds=0.3), stratum="target",
                 num_of_bootstraps=60, rnd_seed=11),
    }  # fmt: skip
    with pytest.warns(UserWarning, match=r"\[treat_all\]: the 95% bootstrap interval has width zero"):
        direct = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics)  # stratified: the prevalence is fixed
    statistics = report["calibration_statistics"]
    assert list(statistics) == ["intercept", "slope", "ici", "e50", "e90", "emax"]
    for key, value in calibration_stats(scores, labels).items():
        assert statistics[key]["value"] == pytest.approx(value, abs=1e-12), key
        # the same resamplings as CI's (seed, strata): the same interval
        assert (statistics[key]["low"], statistics[key]["high"]) == pytest.approx(
            (direct[f"metrics.cal.{key}.conf_lower"], direct[f"metrics.cal.{key}.conf_upper"]), abs=1e-7
        ), key
    decision = report["decision_curve"]
    curve = net_benefit(scores, labels)
    assert decision["thresholds"] == curve["threshold"].tolist()
    np.testing.assert_allclose(decision["net_benefit"], curve["net_benefit"], atol=1e-12)
    np.testing.assert_allclose(decision["treat_all"], curve["treat_all"], atol=1e-12)
    assert all(low <= value <= high for low, value, high in zip(
        decision["net_benefit_low"], decision["net_benefit"], decision["net_benefit_high"], strict=True))  # fmt: skip
    row = decision["table"][1]
    assert row["threshold"] == 0.3
    assert row["net_benefit"]["value"] == pytest.approx(direct["metrics.nb.net_benefit.org"], abs=1e-12)
    assert (row["net_benefit"]["low"], row["net_benefit"]["high"]) == pytest.approx(
        (direct["metrics.nb.net_benefit.conf_lower"], direct["metrics.nb.net_benefit.conf_upper"]), abs=1e-12
    )
    markdown = (tmp_path / "results.md").read_text()
    assert "## Calibration statistics" in markdown
    assert "| ECE (10 equal-width bins) |" in markdown  # next to the ECE
    assert "| Calibration slope |" in markdown
    assert "## Net benefit (decision curve analysis)" in markdown
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["decision_curve"]["rule"] == "treat iff p >= threshold"


def test_decision_curve_range_and_its_figure(tmp_path: Path) -> None:
    scores, labels, _ = _binary(n=80)
    settings = ReportSettings(bootstraps=20, decision_curve_range=(0.05, 0.3), decision_thresholds=())
    report = write_report(tmp_path, scores, labels, settings=settings)
    assert report["decision_curve"]["thresholds"] == [i / 100 for i in range(5, 31)]
    assert report["decision_curve"]["table"] == []
    assert "## Net benefit (decision curve analysis)" not in (tmp_path / "results.md").read_text()
    if _has_matplotlib():
        figure = next(f for f in report["figures"] if f["file"] == "decision_curve.png")
        assert "treating none" in figure["caption"]
        assert "over thresholds 0.05 to 0.3" in figure["caption"]
        assert (tmp_path / "decision_curve.png").read_bytes().startswith(b"\x89PNG")


def test_lowess_resamplings_are_capped_and_the_report_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fuse.eval.report import _decisions

    scores, labels, _ = _binary(n=100)
    monkeypatch.setattr(_decisions, "SMOOTHED_WORK_LIMIT", 100 * 25)
    monkeypatch.setattr(_decisions, "SMOOTHED_MIN_RESAMPLINGS", 10)
    report = write_report(tmp_path, scores, labels, settings=ReportSettings(bootstraps=40, plots=False))
    statistics = report["calibration_statistics"]
    assert (statistics["ici"]["resamplings"], statistics["slope"]["resamplings"]) == (25, 40)
    assert any("from the first 25 of the 40 resamplings" in note for note in report["notes"])
    assert "| Integrated calibration index (ICI) |" in (tmp_path / "results.md").read_text()
    assert "bootstrap, 25 resamplings" in (tmp_path / "results.md").read_text()
    # the first 25 of the report's resamplings: CI with 25 bootstraps and the same seed draws them
    from fuse.eval import MetricCalibrationStats

    data = _frame({"id": np.arange(100), "pred": scores, "target": labels})
    smoothed = MetricCalibrationStats(pred="pred", target="target", stats=("ici",))
    direct = EvaluatorDefault().eval(ids=None, data=data, metrics={
        "ici": CI(smoothed, stratum="target", num_of_bootstraps=25, rnd_seed=1234)})  # fmt: skip
    assert (statistics["ici"]["low"], statistics["ici"]["high"]) == pytest.approx(
        (direct["metrics.ici.ici.conf_lower"], direct["metrics.ici.ici.conf_upper"]), abs=1e-12
    )


def test_multiclass_reports_say_the_calibration_statistics_are_binary_only(tmp_path: Path) -> None:
    labels = np.tile([0, 1, 2], 10)
    scores = np.full((30, 3), 0.2) + 0.4 * np.eye(3)[labels]
    report = write_report(tmp_path, scores, labels, settings=ReportSettings(bootstraps=0, plots=False))
    assert report["calibration_statistics"] is None
    assert report["decision_curve"] is None
    assert any("binary reports only" in note for note in report["notes"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"decision_curve_range": (0.5, 0.2)}, "decision_curve_range must be (low, high) with 0 < low < high < 1"),
        ({"decision_curve_range": (0.0, 0.5)}, "decision_curve_range must be"),
        ({"decision_thresholds": (0.1, 1.0)}, "decision_thresholds must be a tuple of probabilities in (0, 1)"),
    ],
)
def test_bad_decision_settings_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=_escape(message)):
        ReportSettings(**kwargs)


def test_clipped_risks_are_noted_and_warned(tmp_path: Path) -> None:
    scores, labels, _ = _binary(n=60)
    scores[:2] = [0.0, 1.0]
    with pytest.warns(UserWarning, match="2 of 60 predicted risks are within 1e-08 of 0 or 1"):
        report = write_report(tmp_path, scores, labels, settings=ReportSettings(bootstraps=10, plots=False))
    assert any(note.startswith("calibration intercept and slope: 2 of 60") for note in report["notes"])


@pytest.mark.filterwarnings("ignore::fuse.eval.UndefinedMetricWarning")  # the calibration slope of separated classes
def test_a_bootstrap_interval_of_width_zero_is_noted_and_warned(tmp_path: Path) -> None:
    labels = np.array([0] * 10 + [1] * 10)
    scores = np.r_[np.linspace(0.05, 0.3, 10), np.linspace(0.7, 0.95, 10)]  # perfectly separated: AUC 1 always
    settings = ReportSettings(bootstraps=50, plots=False)
    with pytest.warns(UserWarning, match="ROC AUC, AUC-PR, Balanced accuracy has width zero"):
        report = write_report(tmp_path, scores, labels, ["no", "yes"], settings=settings)
    assert report["metrics"]["auc"]["low"] == report["metrics"]["auc"]["high"] == 1.0
    assert any("has width zero" in note for note in report["notes"])
    assert report["metrics"]["sensitivity"]["low"] < 1.0  # the proportions' Wilson intervals are not degenerate


def test_a_front_end_that_prints_the_notes_gets_each_noted_warning_once(tmp_path: Path) -> None:
    labels = np.array([0] * 10 + [1] * 10)
    scores = np.r_[np.linspace(0.0, 0.3, 10), np.linspace(0.7, 1.0, 10)]  # separated, with risks of exactly 0 and 1
    settings = ReportSettings(bootstraps=50, plots=False, warn_noted=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = write_report(tmp_path, scores, labels, ["no", "yes"], settings=settings)
    notes = report["notes"]
    assert any("has width zero" in note for note in notes)
    assert any("clipped" in note for note in notes)
    repeated = [str(w.message) for w in caught if any(str(w.message) in note for note in notes)]
    assert not repeated  # every warning that a note states is left to the note
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_report(
            tmp_path / "default", scores, labels, ["no", "yes"], settings=ReportSettings(bootstraps=50, plots=False)
        )
    assert any("has width zero" in str(w.message) for w in caught)  # by default the notes are also warnings
