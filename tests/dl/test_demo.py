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

from fuse.dl.demo import NO_MATPLOTLIB, main


def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["--epochs", "2", "--bootstraps", "100", "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    for step in ("1. data: 569 samples, 30 features, 212 malignant", "2. fuse-data", "3. fuse-dl", "5. fuse-eval"):
        assert step in printed
    assert "ROC AUC" in printed
    assert f"report: {out / 'report' / 'results.md'}" in printed

    results = json.loads((out / "report" / "results.json").read_text())["metrics"]
    auc = results["auc"]
    assert auc["org"] > 0.9  # the task is easy: ~0.99 after two epochs; chance is 0.5
    assert auc["conf_lower"] <= auc["org"] <= auc["conf_upper"]
    for name in ("sensitivity", "specificity"):
        value = results["at_threshold"][name]
        assert 0.5 < value["org"] <= 1.0
        assert value["conf_lower"] <= value["org"] <= value["conf_upper"]
    assert 0.0 <= results["calibration"]["ece"] < 0.5
    assert not any(name.startswith("_") for name in results)  # internal steps stay out of the report

    with (out / "predictions.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert {row["split"] for row in rows} == {"validation", "test"}
    assert len(rows) == len({row["id"] for row in rows}) == 226  # 113 + 113, no sample in both splits
    assert (out / "model" / "best_epoch.ckpt").is_file()

    cache = re.search(r"caching the static pipeline's output in (\S+) \(temporary\)", printed)
    assert cache is not None
    assert not Path(cache.group(1)).exists()
    assert not list(out.glob("cache-*"))

    plots = [out / "report" / "roc.png", out / "report" / "reliability.png"]
    if importlib.util.find_spec("matplotlib") is None:
        assert NO_MATPLOTLIB in printed
        assert 'pip install "fuse-eval[plot]"' in printed
        assert not any(plot.exists() for plot in plots)
    else:
        assert NO_MATPLOTLIB not in printed
        assert all(plot.stat().st_size > 0 for plot in plots)
