"""MNIST end to end with fuse's ready-made Lightning module, ``LightningModuleDefault`` (FuseMedML's
``simple_mnist_starter.py``, plus inference and evaluation).

What it shows:

1. a plain torch network (``lenet.py``) made a fuse model: it reads ``data.image`` from the batch dict and writes
   ``model.logits.classification`` and ``model.output.classification`` (softmax) into it;
2. ``LightningModuleDefault`` given that model, a ``LossDefault`` (cross-entropy) and fuse-eval metrics (accuracy,
   per-class ROC AUC) for training and validation: it runs the steps, logs ``train.losses.*``,
   ``validation.metrics.*``, ... and keeps the best epoch's checkpoint;
3. a ``LightningDataModule`` over fuse-imaging's ``MNIST`` dataset with a balanced batch sampler (fuse-data);
4. prediction on the test split (``set_predictions_keys`` + ``trainer.predict``) and a fuse-eval report.

``run_mnist_custom_pl_imp.py`` does the same with a LightningModule of your own.

Run (the IDX files of MNIST in DATA_DIR; see README.md)::

    python examples/mnist/simple_mnist_starter.py --data-dir DATA_DIR --out OUT [--epochs 3] [--help]

Writes, under OUT: ``model/`` (``best_epoch.ckpt``, ``last.ckpt``, the epoch summary, ``logs/`` with every logged
value as CSV), ``predictions.pkl.gz`` (one row per test image) and ``eval/``: the evaluator's results.md, .json,
.txt (test accuracy with a 95% Wilson CI, one-vs-rest AUC per digit) and the report, ``eval/report/`` (report.html,
results.md, results.json and the figures; see ``mnist_common.evaluate``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mnist_cli import add_common_arguments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below (seconds)
    parse_args(sys.argv[1:])

try:
    import lightning.pytorch as pl
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

    from fuse.core import set_seed
    from fuse.dl import LightningModuleDefault
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"torch", "lightning", "fuse.core", "fuse.data", "fuse.eval", "fuse.dl", "fuse.imaging"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs fuse-dl and fuse-imaging ({missing}): pip install fuse-dl fuse-imaging, or in "
        "a clone: pip install -c testing/constraints.txt -e packages/fuse-core -e packages/fuse-data "
        "-e packages/fuse-eval -e packages/fuse-dl -e packages/fuse-imaging"
    ) from None


class FuseLitLenet(LightningModuleDefault):
    """LeNet trained "fuse style": everything it needs is given to ``LightningModuleDefault``."""

    def __init__(self, model_dir: Path, lr: float, weight_decay: float) -> None:
        model = wrap_model()
        super().__init__(
            model_dir=model_dir,  # where best_epoch.ckpt, last.ckpt and the epoch summary go
            model=model,
            losses=make_losses(),
            train_metrics=make_metrics(),
            validation_metrics=make_metrics(),
            best_epoch_source=BEST_EPOCH_SOURCE,
            optimizers_and_lr_schs=make_optimizer(model.parameters(), lr, weight_decay),
        )


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
) -> tuple[pl.Trainer, FuseLitLenet, MNISTDataModule]:
    """Train; returns the trainer (which knows the best checkpoint), the module and the data module."""
    module = FuseLitLenet(model_dir=model_dir, lr=lr, weight_decay=weight_decay)
    data = MNISTDataModule(data_dir, batch_size=batch_size, num_workers=num_workers)
    trainer = make_trainer(accelerator, num_epochs, log_dir)
    trainer.fit(module, datamodule=data)
    return trainer, module, data


def run_infer(
    trainer: pl.Trainer, module: FuseLitLenet, data: MNISTDataModule, checkpoint: Path, predictions_file: Path
) -> Path:
    """Predict the test split with the weights of ``checkpoint`` and save the predictions table."""
    module.set_predictions_keys(PREDICTION_KEYS)  # the batch dict keys predict_step returns (besides the ids)
    predictions = trainer.predict(module, datamodule=data, ckpt_path=checkpoint)  # loads the weights first
    return save_predictions(predictions, predictions_file)


def main(argv: list[str] | None = None) -> int:
    """Train, predict the test split, evaluate, print a summary."""
    args = parse_args(argv)
    set_seed(args.seed, deterministic_mode=False)  # python, numpy and torch; the batch sampler draws from numpy

    trainer, module, data = run_train(
        args.data_dir,
        args.out / "model",
        args.out / "logs",
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        num_epochs=args.epochs,
        accelerator=args.accelerator,
        lr=args.lr,
        weight_decay=args.weight_decay,
    )
    checkpoint = args.out / "model" / "best_epoch.ckpt"  # the epoch with the best validation accuracy
    predictions_file = run_infer(trainer, module, data, checkpoint, args.out / "predictions.pkl.gz")
    results = evaluate(predictions_file, args.out / "eval", num_of_bootstraps=args.bootstraps)
    print_summary(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
