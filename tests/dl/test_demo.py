"""`python -m fuse.dl.demo` runs end to end with small settings: it trains on the bundled breast-cancer table, writes
a report whose AUC is high and inside its confidence interval, prints the summary, and removes its sample cache.

Without matplotlib (the isolated fuse-dl venv) the demo still finishes and says the plots were skipped; with it (the
dev venv) it draws them."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from pathlib import Path

import pytest

from fuse.dl.demo import _seconds_since_process_start, main

NO_MATPLOTLIB = "figures: not drawn, matplotlib is not installed (pip install 'fuse-eval[plot]')"


def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["--epochs", "2", "--bootstraps", "100", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    for noise in ("it/s", "Predicting ", "Tip:", "will override", "LeafSpec"):  # captured, not a terminal: no bars
        assert noise not in captured.out + captured.err, noise

    for step in ("1. data: 569 samples, 30 features, 212 malignant", "2. fuse-data", "3. fuse-dl", "5. fuse-eval"):
        assert step in printed
    assert "ROC AUC" in printed
    assert f"report: {out / 'report' / 'report.html'}" in printed
    # says what is timed: the steps (the process's whole time only where it was started for the demo)
    assert re.search(r"done: steps 1-5 took \d+ s; everything is in ", printed), printed[-500:]

    report = json.loads((out / "report" / "results.json").read_text())
    results = report["metrics"]
    auc = results["auc"]
    assert auc["value"] > 0.9  # the task is easy: ~0.99 after two epochs; chance is 0.5
    assert auc["low"] <= auc["value"] <= auc["high"]
    assert auc["method"] == "bootstrap"
    test_cases = report["setup"]["cases"]
    assert test_cases == 113
    for name in ("sensitivity", "specificity", "ppv", "npv", "accuracy"):
        value = results[name]
        assert value["method"] == "wilson"  # analytic intervals from the counts
        assert value["low"] <= value["value"] <= value["high"]
        assert value["value"] == value["successes"] / value["n"]
    assert results["sensitivity"]["n"] == report["setup"]["positives"]
    assert results["accuracy"]["n"] == test_cases
    assert f"({results['sensitivity']['successes']}/{results['sensitivity']['n']})" in printed
    assert 0.0 <= report["calibration"]["ece"] < 0.5
    assert "validation split" in report["setup"]["threshold_rule"]  # the threshold is not chosen on the test split
    assert (out / "report" / "report.html").read_text().startswith("<!DOCTYPE html>")

    with (out / "predictions.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert {row["split"] for row in rows} == {"validation", "test"}
    assert len(rows) == len({row["id"] for row in rows}) == 226  # 113 + 113, no sample in both splits
    assert (out / "model" / "best_epoch.ckpt").is_file()

    cache = re.search(r"caching the static pipeline's output in (\S+) \(temporary\)", printed)
    assert cache is not None
    assert not Path(cache.group(1)).exists()
    assert not list(out.glob("cache-*"))

    plots = [out / "report" / name for name in ("roc.png", "precision_recall.png", "calibration.png")]
    if importlib.util.find_spec("matplotlib") is None:
        assert NO_MATPLOTLIB in printed
        assert not any(plot.exists() for plot in plots)
    else:
        assert NO_MATPLOTLIB not in printed
        assert all(plot.stat().st_size > 0 for plot in plots)


def test_the_whole_run_is_timed_from_the_process_start(capsys: pytest.CaptureFixture[str]) -> None:
    seconds = _seconds_since_process_start()
    if seconds is None:
        pytest.skip("the process start time is only read on Linux (/proc)")
    assert 0 < seconds < 24 * 3600  # this test process started earlier today, not at boot nor in the future
    later = _seconds_since_process_start()
    assert later is not None
    assert later >= seconds
