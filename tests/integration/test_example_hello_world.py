"""examples/hello_world.py (the demo, `python -m fuse.dl.demo`) runs as a script with small settings and, with
matplotlib installed, draws the ROC, precision-recall, calibration and decision-curve figures into its report.

The script runs in this process (``runpy``, as ``__main__``): a fresh interpreter would spend most of the test's
time importing torch and Lightning again."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello_world.py"


def test_hello_world_writes_the_report_and_its_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib", reason="the figures need matplotlib: pip install 'fuse-eval[plot]'")
    out = tmp_path / "hello"
    monkeypatch.setattr(
        sys, "argv", [str(EXAMPLE), "--epochs", "2", "--bootstraps", "100", "--out", str(out), "--quiet"]
    )
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(EXAMPLE), run_name="__main__")
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out

    assert "ROC AUC" in printed
    assert "Epoch summary" not in printed  # --quiet: the summary only
    assert "figures: not drawn" not in printed
    report = out / "report"
    for image in ("roc.png", "precision_recall.png", "calibration.png", "decision_curve.png"):
        assert (report / image).read_bytes().startswith(b"\x89PNG"), image
        assert f"({image})" in (report / "results.md").read_text()
    assert (report / "report.html").read_text().count('src="data:image/png;base64,') == 4  # the figures, inline
    auc = json.loads((report / "results.json").read_text())["metrics"]["auc"]
    assert auc["low"] <= auc["value"] <= auc["high"]
    assert auc["value"] > 0.9
