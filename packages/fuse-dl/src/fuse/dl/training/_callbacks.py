"""The callbacks every fuse training gets (:func:`model_default_callbacks`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint

from fuse.dl.training._epoch_summary import ModelEpochSummary, safe_file_name

__all__ = ["model_default_callbacks"]


def model_default_callbacks(
    model_dir: str | Path | None,
    best_epoch_source: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
    log_lr: bool = True,
    print_epoch_summary: bool = True,
) -> list[Callback]:
    """The callbacks every fuse training gets: for each ``best_epoch_source`` (``ModelCheckpoint`` keyword
    arguments, at least ``monitor``; ``mode`` defaults to Lightning's ``"min"``) a checkpoint of the best epoch
    (``best_epoch.ckpt``; ``best_epoch_<monitor>.ckpt`` when there are several sources) and a
    :class:`ModelEpochSummary` (its table printed too when ``print_epoch_summary``); always ``last.ckpt`` (its own
    ``ModelCheckpoint``: Lightning's ``save_last`` copies only epochs that another checkpoint saved, so it would not
    resume from the last epoch); and a ``LearningRateMonitor`` when ``log_lr``. With two checkpoint callbacks,
    Lightning warns that ``ckpt_path="best"`` means the first one's (the best epoch's): to avoid the warning, pass
    ``trainer.checkpoint_callback.best_model_path``.
    A custom module that trains with ``fuse.data.BatchSamplerDefault`` also returns :class:`BatchSamplerEpoch` from
    its ``configure_callbacks`` (``LightningModuleDefault`` adds it itself), so that a resumed fit continues the
    sampler's epochs.

    >>> callbacks = model_default_callbacks("/tmp/model", {"monitor": "validation.metrics.auc", "mode": "max"})
    >>> [type(c).__name__ for c in callbacks]
    ['ModelCheckpoint', 'ModelEpochSummary', 'ModelCheckpoint', 'LearningRateMonitor']
    """
    dirpath = None if model_dir is None else str(model_dir)
    if best_epoch_source is None:
        sources: list[Mapping[str, Any]] = []
    elif isinstance(best_epoch_source, Mapping):
        sources = [best_epoch_source]
    else:
        sources = list(best_epoch_source)
    callbacks: list[Callback] = []
    for source in sources:
        if not isinstance(source, Mapping) or "monitor" not in source:
            raise ValueError(
                "each best_epoch_source must be a dict of ModelCheckpoint arguments with at least 'monitor' (e.g. "
                f"{{'monitor': 'validation.metrics.auc', 'mode': 'max'}}), got {source!r}"
            )
        arguments = dict(source)
        arguments.setdefault("dirpath", dirpath)
        if len(sources) > 1:
            arguments.setdefault("filename", "best_epoch_" + safe_file_name(str(source["monitor"])))
        arguments.setdefault("filename", "best_epoch")
        arguments.setdefault("auto_insert_metric_name", False)
        arguments.setdefault("save_last", False)
        # a second fit into the same folder replaces best_epoch.ckpt: with Lightning's version counter it wrote
        # best_epoch-v1.ckpt, and code reading best_epoch.ckpt silently got the first fit's model
        arguments.setdefault("enable_version_counter", False)
        callbacks.append(ModelCheckpoint(**arguments))
        callbacks.append(
            ModelEpochSummary(
                dirpath=arguments["dirpath"],
                monitor=source["monitor"],
                mode=source.get("mode", "min"),
                print_table=print_epoch_summary,
            )
        )
    callbacks.append(ModelCheckpoint(dirpath=dirpath, save_last=True, save_top_k=0, enable_version_counter=False))
    if log_lr:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    return callbacks
