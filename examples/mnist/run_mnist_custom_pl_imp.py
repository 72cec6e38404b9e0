"""MNIST end to end with a LightningModule of your own that uses fuse's building blocks (FuseMedML's
``run_mnist_custom_pl_imp.py``).

``LightningModuleDefault`` (see ``simple_mnist_starter.py``) is one way to train a fuse model. When you need your own
``lightning.LightningModule`` (a custom training loop, several optimizers, ...), the same pieces are public functions
of ``fuse.dl`` that you call from your hooks:

- ``step_losses``: compute the fuse losses on a batch dict, store each under ``losses.<name>``, return the total;
- ``step_metrics``: let every fuse-eval metric collect the batch;
- ``epoch_end_compute_and_log_losses`` / ``epoch_end_compute_and_log_metrics``: average the epoch's losses,
  evaluate the metrics on everything they collected, log both (``train.losses.total_loss``,
  ``validation.metrics.accuracy``, ...);
- ``step_extract_predictions`` and ``convert_predictions_to_dataframe``: what ``predict_step`` returns, and the
  table made of it;
- ``model_default_callbacks``: the best-epoch and last checkpoints and the epoch summary; ``BatchSamplerEpoch``:
  the trainer's epoch for the balanced batch sampler, so that a fit resumed from a checkpoint continues its epochs.

The script runs three steps, each a function you can call on its own: ``run_train`` (writes checkpoints),
``run_infer`` (reloads the best checkpoint, predicts the test split, writes a predictions file) and ``run_eval``
(fuse-eval on the predictions file).

Run (the IDX files of MNIST in DATA_DIR; see README.md)::

    python examples/mnist/run_mnist_custom_pl_imp.py --data-dir DATA_DIR --out OUT [--steps train infer eval] [--help]

Writes, under OUT: ``model/`` (``best_epoch.ckpt``, ``last.ckpt``, the epoch summary), ``logs/metrics.csv``,
``predictions.pkl.gz`` (one row per test image) and ``eval/``: the evaluator's results.md, .json, .txt (test
accuracy with a 95% Wilson CI, one-vs-rest AUC per digit) and the report, ``eval/report/`` (report.html, results.md,
results.json and the figures; see ``mnist_common.evaluate``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mnist_cli import add_common_arguments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument(
        "--steps",
        nargs="+",
        choices=["train", "infer", "eval"],
        default=["train", "infer", "eval"],
        help="which steps to run (default: all; infer and eval reuse what earlier runs wrote to --out)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below (seconds)
    parse_args(sys.argv[1:])

try:
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
    from mnist_common import (
        BEST_EPOCH_SOURCE,
        PREDICTION_KEYS,
        MNISTDataModule,
        evaluate,
        make_losses,
        make_metrics,
        make_optimizer,
        make_trainer,
        print_summary,
        save_predictions,
        wrap_model,
    )

    from fuse.core import NDict, set_seed
    from fuse.dl import (
        BatchSamplerEpoch,
        epoch_end_compute_and_log_losses,
        epoch_end_compute_and_log_metrics,
        model_default_callbacks,
        step_extract_predictions,
        step_losses,
        step_metrics,
    )
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"torch", "lightning", "fuse.core", "fuse.data", "fuse.eval", "fuse.dl", "fuse.imaging"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs fuse-dl and fuse-imaging ({missing}): pip install fuse-dl fuse-imaging, or in "
        "a clone: pip install -c testing/constraints.txt -e packages/fuse-core -e packages/fuse-data "
        "-e packages/fuse-eval -e packages/fuse-dl -e packages/fuse-imaging"
    ) from None


class LightningModuleMnist(pl.LightningModule):
    """A plain LightningModule training the fuse-wrapped LeNet with fuse losses and fuse-eval metrics."""

    def __init__(self, model_dir: str, lr: float, weight_decay: float) -> None:
        """
        :param model_dir: where the checkpoints and the epoch summary go.
        :param lr: Adam learning rate.
        :param weight_decay: Adam weight decay.
        """
        super().__init__()
        # lr and weight_decay are stored in every checkpoint, so load_from_checkpoint can rebuild the module
        self.save_hyperparameters(ignore=["model_dir"])
        self._model_dir = model_dir
        self._model = wrap_model()
        self._losses = make_losses()
        self._train_metrics = make_metrics()
        self._validation_metrics = make_metrics()
        self._prediction_keys: list[str] | None = None
        # the per-batch losses of the running epoch, averaged at its end
        self._train_step_losses: list[dict[str, Any]] = []
        self._validation_step_losses: list[dict[str, Any]] = []

    def setup(self, stage: str) -> None:
        # The balanced batch sampler draws a sample again when its label has run out of fresh samples within an
        # epoch; a fuse-eval metric must be told to count such a repeated sample id once (else it raises).
        for metric in self._train_metrics.values():
            metric.set_distributed_gather(None, drop_repeated_ids=True)

    def forward(self, batch_dict: NDict) -> NDict:
        """Run the model: it reads ``data.image`` and writes ``model.logits.classification`` and
        ``model.output.classification`` into the batch dict."""
        output: NDict = self._model(batch_dict)
        return output

    # ------------------------------------------------------------------------------------------ steps
    def training_step(self, batch_dict: NDict, batch_idx: int) -> torch.Tensor:
        batch_dict = self.forward(batch_dict)
        total_loss = step_losses(self._losses, batch_dict)  # also stores losses.cls_loss, losses.total_loss
        step_metrics(self._train_metrics, batch_dict)
        self._train_step_losses.append(batch_dict["losses"].to_dict())  # a copy: the batch itself is not kept
        assert total_loss is not None
        return total_loss

    def validation_step(self, batch_dict: NDict, batch_idx: int) -> None:
        batch_dict = self.forward(batch_dict)
        step_losses(self._losses, batch_dict)
        step_metrics(self._validation_metrics, batch_dict)
        self._validation_step_losses.append(batch_dict["losses"].to_dict())

    def predict_step(self, batch_dict: NDict, batch_idx: int) -> dict[str, Any]:
        if self._prediction_keys is None:
            raise RuntimeError("call set_predictions_keys([...]) before predicting")
        # {"id": the sample ids, key: numpy values} for each prediction key
        return step_extract_predictions(self._prediction_keys, self.forward(batch_dict))

    def set_predictions_keys(self, keys: list[str]) -> None:
        """The batch dict keys ``predict_step`` returns (besides the sample ids)."""
        self._prediction_keys = keys

    # ------------------------------------------------------------------------------------------ epoch ends
    def on_train_epoch_end(self) -> None:
        epoch_end_compute_and_log_losses(self, "train", self._train_step_losses)
        epoch_end_compute_and_log_metrics(self, "train", self._train_metrics)  # evaluates, logs and resets
        self._train_step_losses = []

    def on_validation_epoch_end(self) -> None:
        epoch_end_compute_and_log_losses(self, "validation", self._validation_step_losses)
        epoch_end_compute_and_log_metrics(self, "validation", self._validation_metrics)
        self._validation_step_losses = []

    # ------------------------------------------------------------------------------------------ set-up
    def configure_callbacks(self) -> list[Callback]:
        """best_epoch.ckpt (highest validation accuracy), last.ckpt, the epoch summary, with a logger the
        learning-rate monitor, and the batch sampler's epoch (a resumed fit draws the batches it would have)."""
        defaults = model_default_callbacks(self._model_dir, BEST_EPOCH_SOURCE, log_lr=bool(self.trainer.loggers))
        return [*defaults, BatchSamplerEpoch()]

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        return make_optimizer(self._model.parameters(), self.hparams["lr"], self.hparams["weight_decay"])


def run_train(
    data_dir: Path,
    model_dir: Path,
    log_dir: Path | None = None,
    batch_size: int = 100,
    num_workers: int = 0,
    num_epochs: int = 3,
    accelerator: str = "auto",
    lr: float = 1e-3,
    weight_decay: float = 1e-3,
) -> Path:
    """Train; returns the best epoch's checkpoint."""
    module = LightningModuleMnist(model_dir=str(model_dir), lr=lr, weight_decay=weight_decay)
    data = MNISTDataModule(data_dir, batch_size=batch_size, num_workers=num_workers)
    make_trainer(accelerator, num_epochs, log_dir).fit(module, datamodule=data)
    return model_dir / "best_epoch.ckpt"


def run_infer(
    data_dir: Path,
    checkpoint: Path,
    predictions_file: Path,
    batch_size: int = 100,
    num_workers: int = 0,
    accelerator: str = "auto",
) -> Path:
    """Rebuild the module from ``checkpoint``, predict the test split and save the predictions table."""
    module = LightningModuleMnist.load_from_checkpoint(checkpoint, model_dir=str(checkpoint.parent), map_location="cpu")
    module.set_predictions_keys(PREDICTION_KEYS)
    data = MNISTDataModule(data_dir, batch_size=batch_size, num_workers=num_workers)
    predictions = make_trainer(accelerator).predict(module, datamodule=data)
    return save_predictions(predictions, predictions_file)


def run_eval(predictions_file: Path, eval_dir: Path, num_of_bootstraps: int = 1000) -> NDict:
    """Evaluate the predictions file with fuse-eval (accuracy with a CI, per-class AUC); writes the report."""
    return evaluate(predictions_file, eval_dir, num_of_bootstraps=num_of_bootstraps)


def main(argv: list[str] | None = None) -> int:
    """Run the requested steps (default: all three), print a summary."""
    args = parse_args(argv)
    set_seed(args.seed, deterministic_mode=False)  # python, numpy and torch; the batch sampler draws from numpy

    model_dir, predictions_file = args.out / "model", args.out / "predictions.pkl.gz"
    if "train" in args.steps:
        run_train(
            args.data_dir,
            model_dir,
            args.out / "logs",
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            num_epochs=args.epochs,
            accelerator=args.accelerator,
            lr=args.lr,
            weight_decay=args.weight_decay,
        )
    if "infer" in args.steps:
        run_infer(
            args.data_dir,
            model_dir / "best_epoch.ckpt",
            predictions_file,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            accelerator=args.accelerator,
        )
    if "eval" in args.steps:
        print_summary(run_eval(predictions_file, args.out / "eval", num_of_bootstraps=args.bootstraps), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
