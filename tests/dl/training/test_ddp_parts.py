"""The DDP pieces of LightningModuleDefault checked in one process: the gathered predictions (ranks simulated),
where DistributedSampler pads (against the sampler itself), the warning for metrics that differ across ranks, the
sample-weighted epoch loss, and the warning for training batches without sample ids."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler

from fuse.core import NDict
from fuse.dl import epoch_end_compute_and_log_metrics, gather_predictions
from fuse.dl.training._ddp import first_padded_position, num_rows
from fuse.eval import MetricDefault
from fuse_dl_train_support import make_loader, make_model, make_module


def _as_ranks(monkeypatch: pytest.MonkeyPatch, parts: list[Any]) -> None:
    """Pretend to be rank 0 of ``len(parts)`` ranks whose all_gather_object returns ``parts``."""

    def all_gather_object(output: list[Any], local: Any) -> None:
        output[:] = [local, *parts[1:]]

    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda *args: len(parts))
    monkeypatch.setattr(torch.distributed, "all_gather_object", all_gather_object)


def test_gathered_predictions_are_the_dataset_in_order_each_sample_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # 7 samples over 2 ranks in batches of 2 (DistributedSampler: rank r gets r, r + 2, ...; rank 1 padded with 0)
    def batches(ids: list[int]) -> list[dict[str, Any]]:
        return [
            {"id": ids[i : i + 2], "p": np.array([[s, -s] for s in ids[i : i + 2]], dtype=float)}
            for i in range(0, len(ids), 2)
        ]

    rank0, rank1 = batches([0, 2, 4, 6]), batches([1, 3, 5, 0])
    _as_ranks(monkeypatch, [rank0, rank1])
    gathered = gather_predictions(rank0)
    assert [batch["id"] for batch in gathered] == [[0, 1, 2, 3], [4, 5, 6]]  # the repeat of 0 dropped
    assert np.concatenate([batch["p"] for batch in gathered])[:, 0].tolist() == list(range(7))
    assert [len(batch["p"]) for batch in gathered] == [4, 3]

    # Lightning's predict sampler does not pad: rank 0 may hold one batch more
    _as_ranks(monkeypatch, [batches([0, 2, 4]), batches([1, 3])])
    assert [batch["id"] for batch in gather_predictions(batches([0, 2, 4]))] == [[0, 1, 2, 3], [4]]
    with pytest.raises(ValueError, match="needs an 'id' per row"):
        gather_predictions([{"p": np.zeros(2)}])


def test_first_padded_position_matches_the_sampler() -> None:
    for size in range(1, 14):
        for replicas in range(1, 5):
            dataset: Any = range(size)
            samplers: list[DistributedSampler[Any]] = [
                DistributedSampler(dataset, num_replicas=replicas, rank=rank, shuffle=False) for rank in range(replicas)
            ]
            per_rank = [list(sampler) for sampler in samplers]
            # the global order the sampler deals round robin; a value seen before is padding
            seen: set[int] = set()
            expected: list[int | None] = [None] * replicas
            for position in range(len(per_rank[0])):
                for rank in range(replicas):
                    value = per_rank[rank][position]
                    if value in seen and expected[rank] is None:
                        expected[rank] = position
                    seen.add(value)
            for rank, sampler in enumerate(samplers):
                loader: DataLoader[Any] = DataLoader(dataset, batch_size=3, sampler=sampler)
                assert first_padded_position(loader) == expected[rank], (size, replicas, rank)
    plain: Any = range(5)
    assert first_padded_position(DataLoader(plain, batch_size=2)) is None  # not a distributed sampler


def test_metrics_that_differ_across_ranks_are_warned_about(monkeypatch: pytest.MonkeyPatch) -> None:
    class _Logger:
        def __init__(self) -> None:
            self.logged: dict[str, float] = {}

        def log(self, name: str, value: float, **kwargs: Any) -> None:
            self.logged[name] = value

    def metric() -> MetricDefault:
        found = MetricDefault(metric_func=lambda pred: float(np.mean(pred)), pred="pred")
        found.collect({"id": [0, 1], "pred": [0.25, 0.75]})
        return found

    _as_ranks(monkeypatch, [None, {"metrics.mean": 0.5}])
    logger = _Logger()
    epoch_end_compute_and_log_metrics(logger, "validation", {"mean": metric()})  # type: ignore[arg-type]
    assert logger.logged == {"validation.metrics.mean": 0.5}
    _as_ranks(monkeypatch, [None, {"metrics.mean": 0.9}])
    with pytest.warns(RuntimeWarning, match=r"differ across DDP ranks: \['metrics.mean'\].*rank 1: 0.9.*setup\(\)"):
        epoch_end_compute_and_log_metrics(logger, "validation", {"mean": metric()})  # type: ignore[arg-type]


def test_the_epoch_loss_is_the_per_sample_mean(tmp_path: Path) -> None:
    # 51 samples in batches of 16: the mean of the batch means (FuseMedML's) would weigh the last 3 samples 5x
    trainer = pl.Trainer(
        default_root_dir=str(tmp_path),
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    (logged,) = trainer.validate(make_module(None, seed=3), make_loader(range(300, 351)), verbose=False)
    model = make_model(3).eval()
    batch = next(iter(make_loader(range(300, 351), batch_size=51)))
    with torch.no_grad():
        expected = float(F.cross_entropy(model.model(batch["data.input.x"]).double(), batch["data.label"]))
    assert logged["validation.losses.ce"] == pytest.approx(expected, rel=1e-6)


def test_training_batches_without_ids_under_ddp_warn_once() -> None:
    module = make_module(None)
    module._distributed = True  # as setup() sets it under DDP
    batch = {"data.input.x": torch.zeros(4, 8), "data.label": torch.tensor([0, 1, 0, 1])}
    with pytest.warns(RuntimeWarning, match="training metrics cannot drop the samples the distributed sampler"):
        module.training_step(NDict(batch), 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module.training_step(NDict(batch), 1)
    assert not caught  # once per module
    assert num_rows(NDict(batch)) == 4


def test_the_batch_sampler_epoch_callback_leaves_fits_without_a_batch_sampler(tmp_path: Path) -> None:
    # each callback costs hook calls every step: kept only where a training loader's batch sampler has set_epoch
    from fuse.dl import BatchSamplerEpoch

    epochs: list[int] = []

    class _WithSetEpoch(torch.utils.data.BatchSampler):
        def set_epoch(self, epoch: int) -> None:
            epochs.append(epoch)

    def fitted(loader: DataLoader[Any]) -> list[str]:
        trainer = pl.Trainer(
            default_root_dir=str(tmp_path),
            accelerator="cpu",
            max_epochs=2,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(make_module(None, best_epoch_source=None), loader)
        callbacks: list[Any] = getattr(trainer, "callbacks", [])
        return [type(callback).__name__ for callback in callbacks if isinstance(callback, BatchSamplerEpoch)]

    assert fitted(make_loader(range(32))) == []
    plain = make_loader(range(32))
    batch_sampler = _WithSetEpoch(plain.sampler, batch_size=16, drop_last=False)
    loader: DataLoader[Any] = DataLoader(plain.dataset, batch_sampler=batch_sampler, collate_fn=plain.collate_fn)
    assert fitted(loader) == ["BatchSamplerEpoch"]
    assert epochs == [0, 1]
