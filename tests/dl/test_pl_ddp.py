"""DDP on CPU (gloo, two processes): the validation metrics of the whole set equal those of one process, every
rank logs the same metrics, and only rank zero writes the epoch summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parents[1] / "support"


def _run(out_dir: Path, devices: int) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    result = subprocess.run(
        [sys.executable, str(SUPPORT / "fuse_dl_train_support.py"), str(out_dir), str(devices)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]


@pytest.mark.slow
def test_two_processes_give_the_metrics_of_one(tmp_path: Path) -> None:
    _run(tmp_path, 1)
    _run(tmp_path, 2)
    single = json.loads((tmp_path / "validate_1.json").read_text())
    double = json.loads((tmp_path / "validate_2.json").read_text())
    metric_names = [name for name in single if ".metrics." in name]
    assert metric_names == ["validation.metrics.auc", "validation.metrics.confusion.sensitivity"]
    for name in metric_names:  # whole-set metrics: identical, the padded repeat counted once
        assert double[name] == pytest.approx(single[name], abs=1e-12), name
    # losses are per-rank means averaged across ranks: close, not identical
    assert double["validation.losses.total_loss"] == pytest.approx(single["validation.losses.total_loss"], rel=0.05)

    ranks = [json.loads((tmp_path / f"fit_2_rank{rank}.json").read_text()) for rank in (0, 1)]
    for name in ranks[0]:
        if ".metrics." in name:
            assert ranks[0][name] == ranks[1][name], name
    summaries = list((tmp_path / "model_2").glob("epoch_summary*.txt"))
    assert [path.name for path in summaries] == ["epoch_summary_validation.metrics.auc.txt"]
    assert summaries[0].read_text().count("Epoch summary") == 1  # rank zero only
    assert (tmp_path / "model_2" / "last.ckpt").is_file()
