"""``LightningModuleDefault``: a thin LightningModule running a fuse model, its losses and fuse-eval metrics."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from fuse.core import NDict
from fuse.dl._model_io import save_model as save_model_files
from fuse.dl.training._callbacks import model_default_callbacks
from fuse.dl.training._ddp import (
    all_gather_columns,
    check_equal_batch_counts,
    first_padded_position,
    first_rows,
    gather_predictions,
    has_ids,
    num_rows,
)
from fuse.dl.training._epoch_end import epoch_end_compute_and_log_losses, epoch_end_compute_and_log_metrics
from fuse.dl.training._output import quiet_lightning_notices
from fuse.dl.training._sampler_state import BatchSamplerEpoch, _with_batch_sampler_epochs
from fuse.dl.training._steps import compute_losses, step_extract_predictions, step_losses, step_metrics
from fuse.eval import MetricBase

__all__ = ["LightningModuleDefault"]

Losses = Mapping[str, Callable[[NDict], torch.Tensor]]
Metrics = Mapping[str, MetricBase]
_LOG_UNITS = (None, "optimizer_step", "epoch")

quiet_lightning_notices()  # at import: Lightning prints its tips when the Trainer is built, before any module hook


class LightningModuleDefault(pl.LightningModule):
    """Train, validate, test and predict a fuse model (an ``nn.Module`` reading and writing a batch dict) with
    fuse losses and fuse-eval metrics; distributed training is Lightning's (``Trainer(strategy="ddp", ...)``).

    - Each step: ``batch_dict["global_step"]``, ``model(batch_dict)``, losses (``losses.<name>``,
      ``losses.total_loss``), metrics collect the batch.
    - Each epoch end: losses averaged over the epoch's samples (each batch weighted by its number of samples, so the
      per-sample mean of a mean-reduced loss, across ranks too) and logged as ``<mode><sep>losses.<name>``;
      metrics evaluated and logged as ``<mode><sep>metrics.<name>[.<sub key>]``; ``mode`` is ``train``,
      ``validation``, ``test``, or ``validation.<name>`` with several validation dataloaders.
    - Under DDP every metric gathers every rank's samples once, at the epoch end (samples a distributed sampler
      repeats are counted once, by sample id), so the metrics are those of the whole validation set, equal on
      every rank. The validation and test losses leave out the rows ``DistributedSampler`` pads ranks with, so they
      equal one process's. Ranks must run as many training, validation and test batches (a mismatch raises at the
      epoch start, naming the counts), and evaluation batches need sample ids (``data.sample_id``) to drop the
      repeats. ``trainer.predict`` returns the whole set's predictions on every rank (see
      :func:`gather_predictions`). Training metrics count a sample repeated within an epoch (a balanced batch
      sampler) once.
    - Callbacks: yours plus :func:`model_default_callbacks` (best-epoch checkpoints per ``best_epoch_source``,
      ``last.ckpt``, an epoch summary file, the learning-rate monitor when a logger is set); no checkpoints
      under ``Trainer(enable_checkpointing=False)``.
    - Checkpoints hold tensors and plain values only: ``torch.load(path, weights_only=True)`` reads them.
      ``save_model=True`` writes the trained weights as a state dict (plus ``model_builder`` to rebuild the model)
      to ``model_dir`` when fitting ends; :func:`load_model` reads them back.

    :param model_dir: where checkpoints, the epoch summary and saved files go (``None``: Lightning's default dir).
    :param model: the network, ``model(batch_dict)`` writing its outputs into the batch dict.
    :param losses: ``{name: loss}``, each ``loss(batch_dict) -> scalar tensor``.
    :param validation_losses: ``[(dataloader name, losses)]`` per validation (and test) dataloader; default
        ``losses``.
    :param train_metrics: ``{name: metric}``.
    :param validation_metrics: ``{name: metric}``, or ``[(dataloader name, {name: metric})]`` for several
        validation dataloaders.
    :param test_metrics: as ``validation_metrics``; default: the validation metrics (the same instances).
    :param optimizers_and_lr_schs: what ``configure_optimizers`` returns, or a callable ``f(module)`` returning it.
    :param callbacks: more Lightning callbacks.
    :param best_epoch_source: ``ModelCheckpoint`` arguments (``{"monitor": ..., "mode": ...}``) or a list of them.
    :param save_hyperparameters_kwargs: passed to ``self.save_hyperparameters(**kwargs)`` (nothing saved by default).
    :param save_model: write the trained model to ``model_dir`` when fitting ends (rank zero).
    :param save_arguments: write a readable record of the losses, metrics, optimizer spec, callbacks and
        best_epoch_source to ``model_dir/arguments.txt`` (a record, not something to unpickle).
    :param tensorboard_sep: the separator after the mode in logged names (``"/"`` groups them in TensorBoard).
    :param log_unit: ``None``/``"optimizer_step"`` (Lightning's x-axis) or ``"epoch"`` (logs ``step`` =
        epoch, so that loggers plot per epoch).
    :param model_builder: with ``save_model``: the importable class or function that rebuilds the model.
    :param model_builder_kwargs: its keyword arguments (JSON-serialisable).
    :param print_epoch_summary: print the epoch summary table after each epoch (it is written to ``model_dir``
        either way).

    >>> import torch.nn.functional as F
    >>> class Linear(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.layer = torch.nn.Linear(2, 2)
    ...     def forward(self, batch_dict):
    ...         batch_dict["model.logits.cls"] = self.layer(batch_dict["data.x"])
    ...         return batch_dict
    >>> module = LightningModuleDefault(
    ...     model_dir=None,
    ...     model=Linear(),
    ...     losses={"ce": lambda b: F.cross_entropy(b["model.logits.cls"], b["data.label"])},
    ...     optimizers_and_lr_schs=lambda m: torch.optim.SGD(m.parameters(), lr=0.1),
    ... )
    >>> batch = NDict({"data.x": torch.ones(4, 2), "data.label": torch.tensor([0, 1, 0, 1])})
    >>> loss = module.training_step(batch, 0)
    >>> sorted(batch["losses"].keys())
    ['ce', 'total_loss']
    """

    def __init__(
        self,
        model_dir: str | Path | None,
        model: torch.nn.Module,
        losses: Losses | None = None,
        validation_losses: Sequence[tuple[str, Losses]] | None = None,
        train_metrics: Metrics | None = None,
        validation_metrics: Metrics | Sequence[tuple[str, Metrics]] | None = None,
        test_metrics: Metrics | Sequence[tuple[str, Metrics]] | None = None,
        optimizers_and_lr_schs: Any = None,
        callbacks: Sequence[Callback] | None = None,
        best_epoch_source: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        save_hyperparameters_kwargs: Mapping[str, Any] | None = None,
        save_model: bool = False,
        save_arguments: bool = False,
        tensorboard_sep: str = ".",
        log_unit: str | None = None,
        model_builder: Callable[..., torch.nn.Module] | None = None,
        model_builder_kwargs: Mapping[str, Any] | None = None,
        print_epoch_summary: bool = True,
    ) -> None:
        super().__init__()
        if log_unit not in _LOG_UNITS:
            raise ValueError(f"log_unit must be one of {list(_LOG_UNITS)}, got {log_unit!r}")
        if (save_model or save_arguments) and model_dir is None:
            raise ValueError("save_model and save_arguments write to model_dir: give a model_dir")
        # the hyperparameters hold what the arguments are now: a path as a str, which weights_only loading accepts
        model_dir = None if model_dir is None else os.fspath(model_dir)
        if save_hyperparameters_kwargs is not None:
            self.save_hyperparameters(**save_hyperparameters_kwargs)
        self._model_dir = None if model_dir is None else Path(model_dir)
        self._model = model
        self._losses: dict[str, Any] = dict(losses or {})  # not sub-modules: a checkpoint holds the model only
        self._validation_losses = [(name, dict(dl_losses)) for name, dl_losses in (validation_losses or [])]
        self._train_metrics: dict[str, MetricBase] = dict(train_metrics or {})
        self._validation_metrics = _per_dataloader(validation_metrics, "validation_metrics")
        self._test_metrics = (
            self._validation_metrics if test_metrics is None else _per_dataloader(test_metrics, "test_metrics")
        )
        self._optimizers_and_lr_schs = optimizers_and_lr_schs
        self._callbacks = list(callbacks or [])
        self._best_epoch_source = best_epoch_source
        self._print_epoch_summary = print_epoch_summary
        self._save_model = save_model
        self._model_builder = model_builder
        self._model_builder_kwargs = dict(model_builder_kwargs or {})
        self._sep = tensorboard_sep
        self._log_unit = log_unit
        self._prediction_keys: list[str] | None = None
        self._train_steps: list[tuple[dict[str, Any], int]] = []  # each step's detached losses and batch size
        self._eval_step_losses: dict[int, list[dict[str, Any]]] = {}
        self._eval_step_sizes: dict[int, list[int]] = {}
        self._distributed = False
        self._sampler_epoch: BatchSamplerEpoch | None = None
        self._returned_callbacks: list[Callback] = []  # what configure_callbacks returned last
        self._warned_no_ids = False
        self._rows_seen: dict[int, int] = {}  # per evaluation dataloader, rows of this epoch so far
        self._first_padded: dict[int, int | None] = {}  # per evaluation dataloader, where the sampler's padding starts
        if save_arguments:
            self._write_arguments()

    # ------------------------------------------------------------------ set-up
    @property
    def model(self) -> torch.nn.Module:
        """The wrapped network."""
        return self._model

    def setup(self, stage: str) -> None:
        """Under DDP, make every metric gather every rank's samples (and count repeated samples once). Training
        metrics always count a repeated sample once: a balanced batch sampler repeats samples within an epoch."""
        distributed = self._distributed = self.trainer.world_size > 1
        gather = all_gather_columns if distributed else None  # one process: no gathering (it costs a copy)
        for metric in self._all_metrics(train=True, evaluation=distributed):
            metric.set_distributed_gather(gather, drop_repeated_ids=True)

    def configure_callbacks(self) -> list[Callback]:
        """Your callbacks plus :func:`model_default_callbacks`; its checkpoints are left out when the trainer was
        built with ``enable_checkpointing=False`` (each one costs a hook call per step). Plus
        :class:`BatchSamplerEpoch`: a resumed fit continues a batch sampler's epochs (taken out again at the start of
        a fit whose training loaders have no batch sampler with ``set_epoch``: each callback costs hook calls per
        step).

        Lightning replaces a trainer's callbacks by those returned here of the same type, and says so. Taken out
        first, without a word: the callbacks returned by an earlier call (a predict after a fit would otherwise
        "override" them with their fresh copies), and Lightning's default checkpoint when fuse's checkpoints replace
        it. So the notice appears only when a callback passed to the ``Trainer`` is replaced.
        """
        quiet_lightning_notices()  # again here: an import inside warnings.catch_warnings() loses the filter
        trainer = self._trainer
        has_logger = bool(getattr(trainer, "loggers", None))
        defaults = model_default_callbacks(
            self._model_dir, self._best_epoch_source, log_lr=has_logger, print_epoch_summary=self._print_epoch_summary
        )
        if trainer is not None and not trainer.checkpoint_callbacks:
            defaults = [callback for callback in defaults if not isinstance(callback, ModelCheckpoint)]
        self._sampler_epoch = BatchSamplerEpoch()
        returned = [*self._callbacks, *defaults, self._sampler_epoch]
        trainer_callbacks: list[Callback] | None = getattr(trainer, "callbacks", None)  # set on it, not declared
        if trainer_callbacks is not None:
            _take_out_replaced(trainer_callbacks, previous=self._returned_callbacks, returned=returned)
        self._returned_callbacks = returned
        return returned

    def on_train_start(self) -> None:
        trainer = self.trainer
        callbacks: list[Callback] = getattr(trainer, "callbacks", [])  # set on the trainer, not declared by it
        added = self._sampler_epoch
        if (
            added is not None
            and added in callbacks
            and not getattr(trainer, "reload_dataloaders_every_n_epochs", 0)  # later loaders might need it
            and not any(True for _ in _with_batch_sampler_epochs(trainer.train_dataloader))
        ):
            callbacks.remove(added)  # after the callbacks' on_train_start: no hook loop is running

    def configure_optimizers(self) -> Any:
        if self._optimizers_and_lr_schs is None:
            raise ValueError(
                "LightningModuleDefault needs optimizers_and_lr_schs to train: an optimizer (or any return value "
                "of configure_optimizers), or a callable f(module) returning it"
            )
        if callable(self._optimizers_and_lr_schs):
            return self._optimizers_and_lr_schs(self)
        return self._optimizers_and_lr_schs

    def set_predictions_keys(self, keys: Sequence[str]) -> None:
        """The batch keys ``predict_step`` returns (besides ``id``)."""
        if isinstance(keys, str):
            raise TypeError(f"keys must be a list of keys, got the single string {keys!r}")
        self._prediction_keys = list(keys)

    # ------------------------------------------------------------------ steps
    def forward(self, batch_dict: NDict) -> NDict:
        model = self._modules["_model"]  # self._model, without a call of nn.Module.__getattr__ per step
        assert model is not None
        output = model(batch_dict)
        return output if type(output) is NDict or isinstance(output, NDict) else batch_dict

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor | None:
        # the per-step path of every fit: kept lean (benchmarks/train_step.py holds it to a plain LightningModule)
        batch_dict = self._run_model(batch)
        total, recorded = compute_losses(self._losses, batch_dict)
        if self._train_metrics:
            if self._distributed and not self._warned_no_ids and not has_ids(batch_dict):
                self._warn_no_ids()
            step_metrics(self._train_metrics, batch_dict)
        if recorded:
            self._train_steps.append((recorded, num_rows(batch_dict)))
        return total

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step(batch, dataloader_idx, self._validation_metrics)

    def test_step(self, batch: Mapping[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step(batch, dataloader_idx, self._test_metrics)

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        if self._prediction_keys is None:
            raise RuntimeError("call set_predictions_keys([...]) before predicting: which batch keys to return")
        return step_extract_predictions(self._prediction_keys, self._run_model(batch))

    def _run_model(self, batch: Mapping[str, Any]) -> NDict:
        # every step: type() before isinstance (NDict is an ABC, whose isinstance is a Python-level call)
        if type(batch) is not dict and (type(batch) is NDict or isinstance(batch, NDict)):
            batch_dict = batch
        else:
            batch_dict = NDict(batch)  # a copy: the caller's batch is left as it is
        trainer = self._trainer  # the trainer's step without LightningModule's two property hops (every step)
        batch_dict["global_step"] = trainer.global_step if trainer is not None else self.global_step
        # through self.forward: a subclass overrides it, and Lightning replaces it on the instance to compile it
        return self.forward(batch_dict)

    def _eval_step(
        self, batch: Mapping[str, Any], dataloader_idx: int, metrics: list[tuple[str | None, Metrics]]
    ) -> None:
        batch_dict = self._run_model(batch)
        kept = rows = num_rows(batch_dict)
        seen = self._rows_seen.get(dataloader_idx, 0)
        self._rows_seen[dataloader_idx] = seen + rows
        first_padded = self._first_padded.get(dataloader_idx)
        if first_padded is not None and seen + rows > first_padded:
            kept = max(first_padded - seen, 0)  # the rows DistributedSampler padded this rank with: not in the losses
        loss_batch = batch_dict if kept == rows else first_rows(batch_dict, rows, kept)
        if kept:
            step_losses(self._losses_for(dataloader_idx), loss_batch)
            if loss_batch is not batch_dict and "losses" in loss_batch:  # metrics may read them from the batch
                for name, value in loss_batch["losses"].items():
                    batch_dict["losses." + name] = value
        dataloader_metrics = metrics[dataloader_idx][1] if dataloader_idx < len(metrics) else {}
        if dataloader_metrics:
            if self._distributed and not has_ids(batch_dict):
                raise ValueError(
                    "under DDP every evaluation batch needs sample ids (one of 'data.sample_id', 'id', 'sample_id'): "
                    "the distributed sampler pads ranks with repeated samples, which the metrics drop by id; this "
                    f"batch (dataloader {dataloader_idx}) has the keys {sorted(batch_dict.keypaths())}. Keep "
                    "data.sample_id in the batch (CollateDefault does) or evaluate in one process"
                )
            step_metrics(dataloader_metrics, batch_dict)
        # an entry per dataloader even when every row was padding: every rank logs (a collective) as many losses
        step_losses_of = self._eval_step_losses.setdefault(dataloader_idx, [])
        step_sizes_of = self._eval_step_sizes.setdefault(dataloader_idx, [])
        if kept and "losses" in loss_batch:
            step_losses_of.append(loss_batch["losses"].to_dict())
            step_sizes_of.append(kept)

    def _losses_for(self, dataloader_idx: int) -> dict[str, Any]:
        if self._validation_losses:
            if dataloader_idx >= len(self._validation_losses):
                raise IndexError(
                    f"validation_losses has {len(self._validation_losses)} entries but dataloader {dataloader_idx} "
                    "is running: give one (name, losses) per dataloader"
                )
            return self._validation_losses[dataloader_idx][1]
        return self._losses

    # ------------------------------------------------------------------ epoch ends
    def on_train_epoch_start(self) -> None:
        if self._distributed:
            check_equal_batch_counts("training", [self.trainer.num_training_batches])
        self._train_steps = []

    def on_validation_epoch_start(self) -> None:
        self._eval_epoch_start("validation", self.trainer.num_val_batches, self.trainer.val_dataloaders)

    def on_test_epoch_start(self) -> None:
        self._eval_epoch_start("test", self.trainer.num_test_batches, self.trainer.test_dataloaders)

    def _eval_epoch_start(self, stage: str, batch_counts: Sequence[float] | float, loaders: Any) -> None:
        self._eval_step_losses, self._eval_step_sizes, self._rows_seen = {}, {}, {}
        self._first_padded = {}
        if not self._distributed:
            return
        check_equal_batch_counts(stage, list(batch_counts) if isinstance(batch_counts, Sequence) else [batch_counts])
        flat = list(loaders.values()) if isinstance(loaders, Mapping) else loaders
        flat = list(flat) if isinstance(flat, (list, tuple)) else [flat]
        self._first_padded = {index: first_padded_position(loader) for index, loader in enumerate(flat)}

    def on_train_epoch_end(self) -> None:
        losses = [recorded for recorded, _ in self._train_steps]
        sizes = [size for _, size in self._train_steps]
        epoch_end_compute_and_log_losses(self, "train", losses, sep=self._sep, batch_sizes=sizes)
        epoch_end_compute_and_log_metrics(self, "train", self._train_metrics, sep=self._sep)
        self._train_steps = []
        self._log_epoch_as_step()

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("validation", self._validation_metrics)

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test", self._test_metrics)

    def on_predict_epoch_end(self) -> None:
        """Under DDP, replace each rank's predictions by the whole set's (:func:`gather_predictions`), so that what
        ``trainer.predict`` returns on every rank is what one process returns."""
        loop = self.trainer.predict_loop
        if not self._distributed or not loop.return_predictions:
            return
        predictions = loop.predictions
        per_dataloader = predictions if loop.num_dataloaders > 1 else [predictions]
        for batches in per_dataloader:
            batches[:] = gather_predictions(batches)  # in place: the list trainer.predict returns

    def _eval_epoch_end(self, stage: str, metrics: list[tuple[str | None, Metrics]]) -> None:
        count = max(len(metrics), len(self._eval_step_losses), 1)
        for index in range(count):
            name = metrics[index][0] if index < len(metrics) else None
            if name is None and self._validation_losses and index < len(self._validation_losses):
                name = self._validation_losses[index][0]
            mode = stage if count == 1 or name is None else f"{stage}.{name}"
            epoch_end_compute_and_log_losses(
                self,
                mode,
                self._eval_step_losses.get(index, []),
                sep=self._sep,
                batch_sizes=self._eval_step_sizes.get(index, []),
            )
            if index < len(metrics):
                epoch_end_compute_and_log_metrics(self, mode, metrics[index][1], sep=self._sep)
        self._eval_step_losses, self._eval_step_sizes = {}, {}

    def _log_epoch_as_step(self) -> None:
        if self._log_unit == "epoch":
            self.log("step", float(self.current_epoch), on_epoch=True, sync_dist=False)

    def on_fit_end(self) -> None:
        if self._save_model and self.trainer.is_global_zero:
            assert self._model_dir is not None
            save_model_files(
                self._model_dir, self._model, builder=self._model_builder, builder_kwargs=self._model_builder_kwargs
            )

    # ------------------------------------------------------------------ helpers
    def _warn_no_ids(self) -> None:
        self._warned_no_ids = True
        warnings.warn(
            "under DDP the training batches have no sample ids (one of 'data.sample_id', 'id', 'sample_id'): the "
            "training metrics cannot drop the samples the distributed sampler repeats, so they count them twice. "
            "Keep data.sample_id in the batch (CollateDefault does)",
            RuntimeWarning,
            stacklevel=3,
        )

    def _all_metrics(self, *, train: bool, evaluation: bool) -> list[MetricBase]:
        unique: dict[int, MetricBase] = {}
        if evaluation:
            for group in (self._validation_metrics, self._test_metrics):
                for _, metrics in group:
                    unique.update({id(metric): metric for metric in metrics.values()})
        if train:
            unique.update({id(metric): metric for metric in self._train_metrics.values()})
        return list(unique.values())

    def _write_arguments(self) -> None:
        assert self._model_dir is not None
        self._model_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "losses": self._losses,
            "validation_losses": self._validation_losses,
            "train_metrics": self._train_metrics,
            "validation_metrics": self._validation_metrics,
            "test_metrics": self._test_metrics,
            "optimizers_and_lr_schs": self._optimizers_and_lr_schs,
            "callbacks": self._callbacks,
            "best_epoch_source": self._best_epoch_source,
        }
        lines = [f"{name}: {value!r}" for name, value in record.items()]
        (self._model_dir / "arguments.txt").write_text("\n".join(lines) + "\n")


def _take_out_replaced(trainer_callbacks: list[Callback], previous: list[Callback], returned: list[Callback]) -> None:
    """Remove (in place) from a trainer's callbacks those ``previous`` holds, and Lightning's default checkpoint
    when ``returned`` has a checkpoint of its own (Lightning would replace both, announcing it)."""
    previous_ids = {id(callback) for callback in previous}
    replaces_checkpoints = any(isinstance(callback, ModelCheckpoint) for callback in returned)
    trainer_callbacks[:] = [
        callback
        for callback in trainer_callbacks
        if id(callback) not in previous_ids and not (replaces_checkpoints and _is_default_checkpoint(callback))
    ]


def _is_default_checkpoint(callback: Callback) -> bool:
    """The ``ModelCheckpoint()`` that ``Trainer(enable_checkpointing=True)`` adds when given none (or one just like
    it): no directory, file name or monitor of its own, the last epoch kept."""
    if type(callback) is not ModelCheckpoint:
        return False
    assert isinstance(callback, ModelCheckpoint)
    default = ModelCheckpoint()
    return (
        callback.state_key == default.state_key
        and callback.dirpath is None
        and callback.filename is None
        and callback.save_top_k == default.save_top_k
        and callback.save_last == default.save_last
    )


def _per_dataloader(
    metrics: Metrics | Sequence[tuple[str, Metrics]] | None, argument: str
) -> list[tuple[str | None, Metrics]]:
    """``{name: metric}`` -> ``[(None, it)]``; ``[(dataloader name, {name: metric})]`` kept."""
    if metrics is None:
        return []
    if isinstance(metrics, Mapping):
        return [(None, dict(metrics))]
    groups = list(metrics)
    for group in groups:
        if not (isinstance(group, tuple) and len(group) == 2 and isinstance(group[1], Mapping)):
            raise TypeError(
                f"{argument} must be a dict of metrics or a list of (dataloader name, dict of metrics), got an item "
                f"{group!r}"
            )
    return [(name, dict(group_metrics)) for name, group_metrics in groups]
