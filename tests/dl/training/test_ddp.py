"""DDP on CPU (gloo, two processes): the validation metrics and loss of the whole set equal those of one process,
every rank logs the same metrics, ``trainer.predict`` returns the whole set on every rank (so the README's AUC from
the predictions is that of one process), only rank zero writes the epoch summary, and misuses are named quickly:
ranks with unequal batch counts, evaluation batches without sample ids, a custom module that does not gather."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fuse_test_support import run_support_script


def _run(out_dir: Path, devices: int) -> None:
    run_support_script("fuse_dl_train_support.py", str(out_dir), str(devices))


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
    # the loss is the per-sample mean over the whole set, the padded repeat left out: as one process, as by hand
    for logged in (single, double):
        assert logged["validation.losses.total_loss"] == pytest.approx(single["direct_mean_ce"], rel=1e-6)
        assert logged["validation.losses.ce"] == logged["validation.losses.total_loss"]

    # predict -> EvaluatorDefault: every rank gets the whole set, in the dataset's order, each sample once
    alone = json.loads((tmp_path / "predict_1_rank0.json").read_text())
    assert alone["ids"] == list(range(300, 351))
    for rank in (0, 1):
        predicted = json.loads((tmp_path / f"predict_2_rank{rank}.json").read_text())
        assert predicted["ids"] == alone["ids"]
        assert predicted["auc"] == alone["auc"]
    assert alone["auc"] == pytest.approx(single["validation.metrics.auc"], abs=1e-7)  # Lightning logs float32

    ranks = [json.loads((tmp_path / f"fit_2_rank{rank}.json").read_text()) for rank in (0, 1)]
    for name in ranks[0]:
        if ".metrics." in name:
            assert ranks[0][name] == ranks[1][name], name
    summaries = list((tmp_path / "model_2").glob("epoch_summary*.txt"))
    assert [path.name for path in summaries] == ["epoch_summary_validation.metrics.auc.txt"]
    assert summaries[0].read_text().count("Epoch summary") == 1  # rank zero only
    assert (tmp_path / "model_2" / "last.ckpt").is_file()

    for rank in (0, 1):
        misuse = json.loads((tmp_path / f"misuse_rank{rank}.json").read_text())
        # unequal batch counts: an error naming them at the epoch start, not a hang until the process-group timeout
        assert "different numbers of validation batches (rank 0: 2, rank 1: 3)" in misuse["unequal"]
        assert misuse["unequal_seconds"] < 60
        assert "different numbers of training batches (rank 0: 2, rank 1: 3)" in misuse["unequal_training"]
        assert "needs sample ids" in misuse["no_ids"]
        assert len(misuse["custom"]) == 1
        assert "set_distributed_gather(all_gather_columns, drop_repeated_ids=True)" in misuse["custom"][0]
