"""A Lightning callback that gives the training loaders' batch samplers the trainer's epoch.

Lightning calls ``set_epoch`` on a loader's ``sampler`` (and on ``batch_sampler.sampler``), never on the batch
sampler itself, so a batch sampler with its own shuffling (``fuse.data.BatchSamplerDefault``) would count epochs on
its own, and a fit resumed from a checkpoint would start again at epoch 0. The trainer's epoch is saved in the
checkpoint, so taking it from the trainer makes a resumed fit continue where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.combined_loader import CombinedLoader

__all__ = ["BatchSamplerEpoch"]


def _with_batch_sampler_epochs(loaders: Any) -> Iterator[Any]:
    """The loaders (of a loader or a collection of loaders) whose batch sampler has a ``set_epoch`` method."""
    if loaders is None:
        return
    for loader in CombinedLoader(loaders).flattened:
        if callable(getattr(getattr(loader, "batch_sampler", None), "set_epoch", None)):
            yield loader


class BatchSamplerEpoch(Callback):
    """At the start of every training epoch, call ``set_epoch(trainer.current_epoch)`` on the batch sampler of
    each training loader that has one (``fuse.data.BatchSamplerDefault`` does).

    :class:`LightningModuleDefault` adds it to the trainer's callbacks; add it yourself to a trainer of another
    module. The batches of epoch ``e`` then depend only on the sampler's seed and ``e``, so resuming from a
    checkpoint of epoch ``e`` draws the batches the uninterrupted run drew.

    >>> import lightning.pytorch as pl
    >>> trainer = pl.Trainer(callbacks=[BatchSamplerEpoch()], logger=False, enable_checkpointing=False)
    >>> any(isinstance(callback, BatchSamplerEpoch) for callback in trainer.callbacks)
    True
    """

    def __init__(self) -> None:
        self._first_epoch_of_fit = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._first_epoch_of_fit = True

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loaders = list(_with_batch_sampler_epochs(trainer.train_dataloader))
        for loader in loaders:
            loader.batch_sampler.set_epoch(trainer.current_epoch)
        first, self._first_epoch_of_fit = self._first_epoch_of_fit, False
        if first and any(getattr(loader, "num_workers", 0) > 0 for loader in loaders):
            self._restart_iterator(trainer)

    @staticmethod
    def _restart_iterator(trainer: pl.Trainer) -> None:
        # Lightning creates the first epoch's iterator of a fit before any epoch hook, and loader workers draw
        # their first batches from the batch sampler at once, with the sampler's epoch of that moment (epoch 0
        # of a fresh sampler, even when resuming at epoch e): start the iterator again, as Lightning does at the
        # start of every later epoch.
        fetcher = getattr(trainer.fit_loop, "_data_fetcher", None)
        if fetcher is None:
            raise RuntimeError(
                "BatchSamplerEpoch: this Lightning version keeps no trainer.fit_loop._data_fetcher, so the loader "
                "workers' first batches of this fit keep the batch sampler's epoch from before set_epoch (a resumed "
                "fit would replay an earlier epoch); train with DataLoader(num_workers=0) or pin lightning to a "
                "version with it"
            )
        iter(fetcher)
