"""BatchSamplerDefault under Lightning: a resumed fit continues the sampler's epochs (bit-identical weights),
Lightning's attempt to rebuild the batch sampler names the Trainer flag, and two DDP ranks built without a seed
split the data into disjoint shares that cover it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

from fuse.data import BatchSamplerDefault, CollateDefault
from fuse.dl import LightningModuleDefault
from fuse_dl_train_support import make_dataset, make_module
from fuse_test_support import run_support_script


def _loader(num_workers: int = 0) -> DataLoader[Any]:
    """40 samples in balanced batches of 8; with workers, they persist across epochs (an iterator reset draws the
    first batches again) when ``num_workers`` is 2."""
    dataset = make_dataset(range(40))
    sampler = BatchSamplerDefault(dataset, "data.label", batch_size=8, seed=5)
    return DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=CollateDefault(),
        num_workers=num_workers,
        persistent_workers=num_workers == 2,
    )


def _fit(
    root: Path, max_epochs: int, ckpt_path: str | None = None, num_workers: int = 0
) -> tuple[LightningModuleDefault, list[list[Any]]]:
    module = make_module(None, seed=1, best_epoch_source=None, validation_metrics=None)
    seen: list[list[Any]] = []

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
            seen.append(list(batch["data.sample_id"]))

    trainer = pl.Trainer(
        default_root_dir=str(root),
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        enable_checkpointing=False,
        callbacks=[Record()],
    )
    trainer.fit(module, train_dataloaders=_loader(num_workers), ckpt_path=ckpt_path)
    if ckpt_path is None:
        trainer.save_checkpoint(str(root / f"epochs_{max_epochs}.ckpt"))
    return module, seen


def _weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


@pytest.mark.parametrize("num_workers", [0, 1, 2])
def test_resume_continues_the_sampler_epochs(tmp_path: Path, num_workers: int) -> None:
    whole, whole_batches = _fit(tmp_path / "whole", 4, num_workers=num_workers)
    _, first_batches = _fit(tmp_path / "part", 2, num_workers=num_workers)
    checkpoint = str(tmp_path / "part" / "epochs_2.ckpt")
    resumed, resumed_batches = _fit(tmp_path / "resumed", 4, ckpt_path=checkpoint, num_workers=num_workers)
    assert first_batches + resumed_batches == whole_batches  # the same batches, in the same order
    expected, got = _weights(whole), _weights(resumed)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name


def _run_ddp(out_dir: Path, devices: int) -> None:
    run_support_script("fuse_sampler_ddp_support.py", str(out_dir), str(devices))


@pytest.mark.slow
def test_ddp_ranks_without_seed_split_the_data(tmp_path: Path) -> None:
    _run_ddp(tmp_path, 2)
    ranks = [json.loads((tmp_path / f"fit_rank{rank}.json").read_text()) for rank in (0, 1)]
    assert ranks[0]["seed"] == ranks[1]["seed"]  # rank 0's, broadcast
    everything = set(range(100))
    epochs: list[Sequence[set[int]]] = []
    for epoch in ("0", "1"):
        shares = [set(rank["seen"][epoch]) for rank in ranks]
        assert not shares[0] & shares[1], f"epoch {epoch}: the ranks drew the same samples"
        assert shares[0] | shares[1] == everything, f"epoch {epoch}: samples never drawn"
        lengths = [len(rank["seen"][epoch]) for rank in ranks]
        assert lengths[0] == lengths[1] == 10 * ranks[0]["num_batches"]
        epochs.append(shares)
    assert epochs[0] != epochs[1]  # every epoch reshards

    error = json.loads((tmp_path / "rebuild.json").read_text())["error"]
    assert error is not None
    assert error.startswith("TypeError: BatchSamplerDefault was rebuilt"), error
    assert "Trainer(..., use_distributed_sampler=False)" in error


def test_predict_rebuild_names_the_trainer_flag(tmp_path: Path) -> None:
    trainer = pl.Trainer(
        default_root_dir=str(tmp_path),
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    module = make_module(None, best_epoch_source=None, validation_metrics=None)
    with pytest.raises(TypeError, match=r"use_distributed_sampler=False.*predict with a plain DataLoader"):
        trainer.predict(module, dataloaders=_loader())
