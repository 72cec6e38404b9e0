"""BatchSamplerDefault under Lightning DDP on CPU (gloo), run by tests/dl/training/test_sampler_ddp.py::

    python fuse_sampler_ddp_support.py <out_dir> <devices>

Lightning starts the other ranks by re-running this script. Each rank builds the sampler without a seed and
without ``seed_everything`` (so every process draws its own), fits two epochs with
``use_distributed_sampler=False`` and writes the sample ids it trained on, per epoch, to
``<out_dir>/fit_rank<r>.json``. Then a trainer with Lightning's default ``use_distributed_sampler=True`` tries to
fit, and rank zero writes the error it raised to ``<out_dir>/rebuild.json``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from fuse.data import BatchSamplerDefault, CollateDefault
from fuse_dl_train_support import make_dataset, make_module

NUM_SAMPLES = 100


def _main(out_dir: Path, devices: int) -> None:
    import lightning.pytorch as pl

    torch.set_num_threads(1)
    arguments: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": devices,
        "strategy": "ddp" if devices > 1 else "auto",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
    }
    dataset = make_dataset(range(NUM_SAMPLES))
    sampler = BatchSamplerDefault(dataset, "data.label", batch_size=10)
    seen: dict[int, list[int]] = {}

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
            seen.setdefault(trainer.current_epoch, []).extend(int(i) for i in batch["data.sample_id"])

    module = make_module(None, seed=3, best_epoch_source=None, validation_metrics=None)
    trainer = pl.Trainer(max_epochs=2, use_distributed_sampler=False, callbacks=[Record()], **arguments)
    loader: DataLoader[Any] = DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=CollateDefault(),
    )
    trainer.fit(module, train_dataloaders=loader)
    record = {"seen": seen, "num_batches": len(sampler), "seed": sampler.seed}
    (out_dir / f"fit_rank{trainer.global_rank}.json").write_text(json.dumps(record))

    rebuilt = pl.Trainer(max_epochs=1, **arguments)
    loader = DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_sampler=BatchSamplerDefault(dataset, "data.label", batch_size=10, seed=0),
        collate_fn=CollateDefault(),
    )
    try:
        rebuilt.fit(make_module(None, best_epoch_source=None, validation_metrics=None), train_dataloaders=loader)
        error = None
    except TypeError as raised:
        error = f"{type(raised).__name__}: {raised}"
    if rebuilt.is_global_zero:
        (out_dir / "rebuild.json").write_text(json.dumps({"error": error}))


if __name__ == "__main__":
    _main(Path(sys.argv[1]), int(sys.argv[2]))
    os._exit(0)  # skip interpreter teardown of the process group's threads
